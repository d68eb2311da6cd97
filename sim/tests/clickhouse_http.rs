//! The ClickHouse Cloud module over HTTP: Basic authentication, the envelope, the service state machine,
//! validation as the real API, the per-key limit with `X-RateLimit-Reset`, faults, counters and the admin API.
mod common;

use clouddb_sim::{ApiKey, ClickHouseConfig, ClickHouseDelays, QuotaConfig, SimConfig, Simulator};
use common::{ChClient, Resp, ch_config, service_body};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// Short but observable transitions.
fn short() -> ClickHouseDelays {
    ClickHouseDelays {
        provision: Duration::from_millis(300),
        stop: Duration::from_millis(200),
        start: Duration::from_millis(200),
        awake: Duration::from_millis(200),
        terminate: Duration::from_millis(200),
        idle_after: None,
        delete_conflict_after_stop: Duration::ZERO,
    }
}

async fn start_with(ch: ClickHouseConfig) -> Simulator {
    common::start(SimConfig {
        clickhouse: ch,
        ..SimConfig::default()
    })
    .await
}

async fn start() -> (Simulator, ChClient) {
    let sim = start_with(ch_config(short())).await;
    let c = ChClient::new(&sim);
    (sim, c)
}

fn is_uuid(s: &str) -> bool {
    clouddb_sim::api::is_uuid(s)
}

/// A 200 in the envelope; answers `result`.
#[track_caller]
fn ok(r: &Resp) -> &Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], 200, "{}", r.body);
    assert!(
        r.body["requestId"].as_str().is_some_and(is_uuid),
        "requestId: {}",
        r.body
    );
    &r.body["result"]
}

/// An error in the `{status, error, requestId}` shape whose `error` starts with `prefix`.
#[track_caller]
fn err(r: &Resp, status: u16, prefix: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["status"], status, "{}", r.body);
    let e = r.body["error"].as_str().unwrap_or_default();
    assert!(
        e.starts_with(prefix),
        "error {e:?} should start with {prefix:?}"
    );
    if status != 429 {
        assert!(
            r.body["requestId"].as_str().is_some_and(is_uuid),
            "{}",
            r.body
        );
    }
}

async fn create(c: &ChClient, body: Value) -> (String, String, Value) {
    let r = c.post("/services", body).await;
    let res = ok(&r).clone();
    let id = res["service"]["id"].as_str().expect("id").to_string();
    let pw = res["password"].as_str().expect("password").to_string();
    (id, pw, res["service"].clone())
}

async fn running(c: &ChClient, name: &str) -> String {
    let (id, _, _) = create(c, service_body(name)).await;
    c.wait_state(&id, "running", WAIT).await;
    id
}

fn states(seen: &[Resp]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in seen {
        let s = r.body["result"]["state"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("HTTP {}", r.status.as_u16()));
        if out.last() != Some(&s) {
            out.push(s);
        }
    }
    out
}

async fn verify_password(c: &ChClient, id: &str, password: &str) -> bool {
    let r = c
        .admin(
            Method::POST,
            &format!("clickhouse/services/{id}:verifyPassword"),
            Some(json!({"password": password})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["match"].as_bool().expect("match")
}

async fn admin_services(c: &ChClient) -> Vec<Value> {
    let r = c.admin(Method::GET, "clickhouse/services", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["services"].as_array().expect("services").clone()
}

// ---- handle, auth, envelope, organizations ---------------------------------------------------------------

#[tokio::test]
async fn the_handle_exposes_the_clickhouse_listener_key_and_organization() {
    let sim = common::start(SimConfig::default()).await;
    assert!(sim.clickhouse_base_url().starts_with("https://127.0.0.1:"));
    assert_ne!(sim.clickhouse_addr(), sim.addr(), "its own listener");
    assert!(is_uuid(sim.clickhouse_organization_id()));
    let k = sim.clickhouse_key();
    assert_eq!(k.public_key.len(), 20);
    assert!(k.private_key.starts_with("4b1d"));
    assert_ne!(sim.clickhouse_keys()[0].public_key, sim.key().public_key);
    // Default: the real limit of 10 requests per 10 s.
    let c = ChClient::new(&sim);
    for _ in 0..10 {
        ok(&c.get("/v1/organizations").await);
    }
    let r = c.get("/v1/organizations").await;
    err(&r, 429, "TOO_MANY_REQUESTS");
    // The TiDB listener knows nothing of these paths, and the ClickHouse one nothing of TiDB's.
    let tidb = common::Client::new(&sim);
    assert_eq!(tidb.get("/v1/organizations").await.status, 404);
    let r = c.get("/v1beta1/clusters").await;
    assert_eq!(r.status.as_u16(), 429, "still limited: {}", r.body);
}

#[tokio::test]
async fn basic_auth_is_required_and_checked() {
    let (sim, c) = start().await;
    let url = format!("{}/v1/organizations", c.base);
    let r = common::read(c.http.get(&url).send().await.expect("send"))
        .await
        .expect("read");
    err(&r, 401, "UNAUTHORIZED");
    let wrong_secret = ChClient::with_key(
        &sim,
        ApiKey {
            public_key: c.key.public_key.clone(),
            private_key: "4b1dwrong".into(),
        },
    );
    err(
        &wrong_secret.get("/v1/organizations").await,
        401,
        "UNAUTHORIZED: Key is not found",
    );
    let stranger = ChClient::with_key(&sim, ApiKey::random_clickhouse());
    err(
        &stranger.get("/v1/organizations").await,
        401,
        "UNAUTHORIZED: Key is not found",
    );
    // A TiDB key is not a ClickHouse key.
    let tidb_key = ChClient::with_key(&sim, sim.key().clone());
    err(
        &tidb_key.get("/v1/organizations").await,
        401,
        "UNAUTHORIZED",
    );
    let r = common::read(
        c.http
            .get(&url)
            .header("authorization", "Basic !!!not-base64")
            .send()
            .await
            .expect("send"),
    )
    .await
    .expect("read");
    err(&r, 401, "UNAUTHORIZED");
    ok(&c.get("/v1/organizations").await);
}

#[tokio::test]
async fn organizations_and_the_envelope() {
    let (_sim, c) = start().await;
    let r = c.get("/v1/organizations").await;
    let orgs = ok(&r).as_array().expect("array").clone();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["id"], c.org.as_str());
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json")
    );

    let r = c.get(&format!("/v1/organizations/{}", c.org)).await;
    assert_eq!(ok(&r)["id"], c.org.as_str());
    let other = clouddb_sim::api::new_uuid();
    err(
        &c.get(&format!("/v1/organizations/{other}")).await,
        400,
        "BAD_REQUEST: Invalid organization id",
    );
    // Services under a wrong organization: the bare code.
    let r = c.get(&format!("/v1/organizations/{other}/services")).await;
    err(&r, 404, "NOT_FOUND");
    assert_eq!(r.body["error"], "NOT_FOUND");
    err(
        &c.get("/v1/organizations/not-a-uuid/services").await,
        400,
        "BAD_REQUEST: Invalid organization id",
    );
    err(&c.get("/v1/nowhere").await, 404, "NOT_FOUND");
    err(&c.get("/services/x/backups").await, 404, "NOT_FOUND");
    err(
        &c.send(Method::PUT, "/services", Some(&json!({}))).await,
        405,
        "METHOD_NOT_ALLOWED",
    );
    // An empty list is still a list.
    assert_eq!(ok(&c.get("/services").await), &json!([]));
}

// ---- the service state machine ---------------------------------------------------------------------------

#[tokio::test]
async fn create_provisions_then_runs_and_answers_the_password_once() {
    let (_sim, c) = start().await;
    let (id, password, service) = create(&c, service_body("orders")).await;
    assert!(is_uuid(&id));
    assert_eq!(service["state"], "provisioning");
    assert!(password.len() >= 12, "{password}");
    assert!(verify_password(&c, &id, &password).await);
    assert!(!verify_password(&c, &id, "something-else").await);
    let endpoints = service["endpoints"].as_array().expect("endpoints");
    let by_protocol = |p: &str| endpoints.iter().find(|e| e["protocol"] == p).cloned();
    let native = by_protocol("nativesecure").expect("nativesecure");
    assert_eq!(native["port"], 9440);
    assert_eq!(by_protocol("https").expect("https")["port"], 8443);
    assert!(by_protocol("mysql").is_none(), "mysql only when enabled");
    let host = native["host"].as_str().expect("host");
    assert!(host.ends_with(".us-east-2.aws.clickhouse.cloud"), "{host}");
    assert_eq!(host.split('.').next().map(str::len), Some(10), "{host}");
    assert_eq!(service["minReplicaMemoryGb"], 16);
    assert_eq!(service["maxReplicaMemoryGb"], 64);
    assert_eq!(service["numReplicas"], 3);
    assert_eq!(service["idleScaling"], true);
    assert_eq!(service["idleTimeoutMinutes"], 15);
    assert_eq!(service["releaseChannel"], "default");
    assert_eq!(service["tags"][0]["key"], "clouddb.dev_uid");
    assert_eq!(
        service["ipAccessList"],
        json!([{"source": "10.0.0.0/8", "description": "office"}])
    );

    let seen = c
        .observe_until(&format!("/services/{id}"), WAIT, |r| {
            r.body["result"]["state"] == "running"
        })
        .await;
    assert_eq!(
        states(&seen).last().map(String::as_str),
        Some("running"),
        "{:?}",
        states(&seen)
    );
    assert!(
        states(&seen)
            .iter()
            .all(|s| s == "provisioning" || s == "running"),
        "{:?}",
        states(&seen)
    );
    // The password is not part of the service afterwards.
    let r = c.get(&format!("/services/{id}")).await;
    assert!(!r.body.to_string().contains(&password));
    let list = c.get("/services").await;
    assert_eq!(ok(&list).as_array().map(Vec::len), Some(1));
    assert!(!list.body.to_string().contains(&password));
}

#[tokio::test]
async fn stop_start_and_delete_follow_the_real_rules() {
    let (_sim, c) = start().await;
    let id = running(&c, "lifecycle").await;
    let uri = format!("/services/{id}");

    // Deleting a running service is a conflict, with the API's own text.
    err(
        &c.delete(&uri).await,
        409,
        "CONFLICT: Only instance in one of the following states: 'provisioning','starting','awaking','idle','stopped','degraded','failed' can be terminated. Current state: 'running'",
    );

    let r = c
        .patch(&format!("{uri}/state"), json!({"command": "stop"}))
        .await;
    assert_eq!(ok(&r)["state"], "stopping");
    err(&c.delete(&uri).await, 409, "CONFLICT");
    let seen = c
        .observe_until(&uri, WAIT, |r| r.body["result"]["state"] == "stopped")
        .await;
    assert!(
        states(&seen)
            .iter()
            .all(|s| s == "stopping" || s == "stopped"),
        "{:?}",
        states(&seen)
    );
    // stop again: no change; awake never starts a stopped service.
    let r = c
        .patch(&format!("{uri}/state"), json!({"command": "stop"}))
        .await;
    assert_eq!(ok(&r)["state"], "stopped");
    let r = c
        .patch(&format!("{uri}/state"), json!({"command": "awake"}))
        .await;
    assert_eq!(ok(&r)["state"], "stopped");

    let r = c
        .patch(&format!("{uri}/state"), json!({"command": "start"}))
        .await;
    assert_eq!(ok(&r)["state"], "starting");
    c.wait_state(&id, "running", WAIT).await;

    err(
        &c.patch(&format!("{uri}/state"), json!({"command": "reboot"}))
            .await,
        400,
        "BAD_REQUEST: request body.command",
    );
    err(
        &c.patch(&format!("{uri}/state"), json!({})).await,
        400,
        "BAD_REQUEST",
    );

    c.patch(&format!("{uri}/state"), json!({"command": "stop"}))
        .await;
    c.wait_state(&id, "stopped", WAIT).await;
    let r = c.delete(&uri).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], 200);
    assert!(
        r.body.get("result").is_none(),
        "DELETE has no result: {}",
        r.body
    );
    // While terminating: visible, not writable, deletable again.
    let r = c.get(&uri).await;
    if ok(&r)["state"] == "terminating" {
        err(
            &c.patch(&uri, json!({"name": "renamed"})).await,
            409,
            "CONFLICT",
        );
    }
    let r = c
        .wait_for(&uri, WAIT, |r| r.status == StatusCode::NOT_FOUND)
        .await;
    err(&r, 404, &format!("NOT_FOUND: {id}"));
    assert_eq!(ok(&c.get("/services").await), &json!([]));
    err(&c.delete(&uri).await, 404, "NOT_FOUND");
    err(
        &c.patch(&format!("{uri}/state"), json!({"command": "start"}))
            .await,
        404,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn a_provisioning_service_can_be_deleted_and_cannot_be_stopped() {
    let sim = start_with(ch_config(ClickHouseDelays {
        provision: Duration::from_secs(600),
        ..short()
    }))
    .await;
    let c = ChClient::new(&sim);
    let (id, _, _) = create(&c, service_body("slow")).await;
    let uri = format!("/services/{id}");
    err(
        &c.patch(&format!("{uri}/state"), json!({"command": "stop"}))
            .await,
        409,
        "CONFLICT",
    );
    let r = c.delete(&uri).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    c.wait_for(&uri, WAIT, |r| r.status == StatusCode::NOT_FOUND)
        .await;
}

#[tokio::test]
async fn delete_can_still_conflict_right_after_stopped_when_configured() {
    let sim = start_with(ch_config(ClickHouseDelays {
        delete_conflict_after_stop: Duration::from_millis(400),
        ..short()
    }))
    .await;
    let c = ChClient::new(&sim);
    let id = running(&c, "sticky").await;
    let uri = format!("/services/{id}");
    c.patch(&format!("{uri}/state"), json!({"command": "stop"}))
        .await;
    c.wait_state(&id, "stopped", WAIT).await;
    // What a client must do: retry on 409 until accepted.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut conflicts = 0;
    loop {
        let r = c.delete(&uri).await;
        if r.status == StatusCode::OK {
            break;
        }
        err(&r, 409, "CONFLICT: Service ");
        let msg = r.body["error"].as_str().unwrap_or_default();
        assert!(msg.ends_with("Current state: 'stopped'"), "{msg}");
        // `stopped` is deletable: the message must not say that only other states are.
        assert!(!msg.contains("Only instance in one of"), "{msg}");
        conflicts += 1;
        assert!(
            tokio::time::Instant::now() < deadline,
            "DELETE never accepted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        conflicts >= 1,
        "the first DELETE right after stopped conflicts"
    );
    c.wait_for(&uri, WAIT, |r| r.status == StatusCode::NOT_FOUND)
        .await;
}

#[tokio::test]
async fn idle_services_wake_up_and_idle_after_the_configured_time() {
    let sim = start_with(ch_config(ClickHouseDelays {
        idle_after: Some(Duration::from_millis(300)),
        ..short()
    }))
    .await;
    let c = ChClient::new(&sim);
    let (id, _, _) = create(&c, service_body("sleepy")).await;
    let uri = format!("/services/{id}");
    let seen = c
        .observe_until(&uri, WAIT, |r| r.body["result"]["state"] == "idle")
        .await;
    assert_eq!(
        states(&seen),
        vec!["provisioning", "running", "idle"],
        "went idle by itself after running"
    );
    // idle is deletable; awake brings it back through awaking.
    let r = c
        .patch(&format!("{uri}/state"), json!({"command": "awake"}))
        .await;
    assert_eq!(ok(&r)["state"], "awaking");
    c.wait_state(&id, "running", WAIT).await;

    // Without idle scaling it stays running.
    let r = c
        .patch(
            &format!("{uri}/replicaScaling"),
            json!({"idleScaling": false}),
        )
        .await;
    assert_eq!(ok(&r)["idleScaling"], false);
    // The admin API makes it idle; turning idle scaling off wakes it.
    let r = c
        .admin(
            Method::PATCH,
            &format!("clickhouse/services/{id}"),
            Some(json!({"state": "idle"})),
        )
        .await;
    assert_eq!(r.body["state"], "idle", "{}", r.body);
    let r = c
        .patch(&format!("{uri}/state"), json!({"command": "start"}))
        .await;
    assert_eq!(ok(&r)["state"], "awaking", "start on idle wakes it");
    c.wait_state(&id, "running", WAIT).await;
}

// ---- validation ------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_validates_like_the_real_api_and_rejected_requests_change_nothing() {
    let (_sim, c) = start().await;
    let with = |patch: Value| {
        let mut b = service_body("valid");
        for (k, v) in patch.as_object().expect("object") {
            if v.is_null() {
                b.as_object_mut().expect("object").remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"name": null}),
            "BAD_REQUEST: request body.name: The field is required",
        ),
        (json!({"name": ""}), "BAD_REQUEST: request body.name"),
        (
            json!({"name": "x".repeat(51)}),
            "BAD_REQUEST: request body.name",
        ),
        (
            json!({"name": "semi;colon"}),
            "BAD_REQUEST: request body.name",
        ),
        (
            json!({"provider": "oracle"}),
            "BAD_REQUEST: request body.provider",
        ),
        (json!({"region": null}), "BAD_REQUEST: request body.region"),
        (
            json!({"region": "us-east1"}),
            "BAD_REQUEST: request body.region",
        ),
        (
            json!({"minReplicaMemoryGb": 10}),
            "BAD_REQUEST: request body.minReplicaMemoryGb: The value must be a multiple of 4 <number:10>",
        ),
        (
            json!({"minReplicaMemoryGb": 4}),
            "BAD_REQUEST: request body.minReplicaMemoryGb: The value must be greater than or equal to 8",
        ),
        (
            json!({"maxReplicaMemoryGb": 360}),
            "BAD_REQUEST: request body.maxReplicaMemoryGb: The value must be less than or equal to 356",
        ),
        (
            json!({"minReplicaMemoryGb": 64, "maxReplicaMemoryGb": 32}),
            "BAD_REQUEST: Invalid memory range",
        ),
        (
            json!({"minTotalMemoryGb": 48}),
            "BAD_REQUEST: minTotalMemoryGb/maxTotalMemoryGb cannot be combined",
        ),
        (
            json!({"minReplicaMemoryGb": null, "maxReplicaMemoryGb": null, "minTotalMemoryGb": 32}),
            "BAD_REQUEST: request body.minTotalMemoryGb: The value must be a multiple of 12 <number:32>",
        ),
        (
            json!({"idleTimeoutMinutes": 4}),
            "BAD_REQUEST: request body.idleTimeoutMinutes: The value must be greater than or equal to 5",
        ),
        (
            json!({"idleScaling": false, "idleTimeoutMinutes": 10}),
            "BAD_REQUEST: idleTimeoutMinutes can only be set when idleScaling is enabled",
        ),
        (
            json!({"numReplicas": 1}),
            "BAD_REQUEST: request body.numReplicas",
        ),
        (
            json!({"numReplicas": 21}),
            "BAD_REQUEST: request body.numReplicas",
        ),
        (
            json!({"autoscalingMode": "horizontal"}),
            "BAD_REQUEST: Horizontal",
        ),
        (
            json!({"minReplicas": 2}),
            "BAD_REQUEST: minReplicas and maxReplicas",
        ),
        (json!({"tier": "production"}), "BAD_REQUEST: tier"),
        (
            json!({"ipAccessList": [{"source": "example.com"}]}),
            "BAD_REQUEST: request body.ipAccessList[0].source",
        ),
        (
            json!({"tags": [{"key": "has space", "value": "v"}]}),
            "BAD_REQUEST: request body.tags[0].key",
        ),
        (
            json!({"tags": (0..51).map(|i| json!({"key": format!("k{i}")})).collect::<Vec<_>>()}),
            "BAD_REQUEST: request body.tags",
        ),
        (
            json!({"endpoints": [{"protocol": "https", "enabled": true}]}),
            "BAD_REQUEST",
        ),
        (
            json!({"releaseChannel": "beta"}),
            "BAD_REQUEST: request body.releaseChannel",
        ),
        (
            json!({"unknownField": 1}),
            "BAD_REQUEST: invalid request body",
        ),
        (
            json!({"minReplicaMemoryGb": "16"}),
            "BAD_REQUEST: invalid request body",
        ),
        (json!({"isReadonly": true}), "BAD_REQUEST: isReadonly"),
        (
            json!({"dataWarehouseId": clouddb_sim::api::new_uuid()}),
            "BAD_REQUEST: Data warehouse",
        ),
    ];
    for (patch, want) in cases {
        let r = c.post("/services", with(patch.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{patch}: {}", r.body);
        err(&r, 400, want);
    }
    let r = c.send(Method::POST, "/services", None).await;
    err(&r, 400, "BAD_REQUEST");
    assert!(admin_services(&c).await.is_empty(), "nothing was created");

    // The boundaries themselves are accepted; deprecated totals become per-replica sizes.
    let (_, _, s) = create(
        &c,
        with(json!({"minReplicaMemoryGb": 8, "maxReplicaMemoryGb": 356, "idleTimeoutMinutes": 5, "numReplicas": 20})),
    )
    .await;
    assert_eq!(
        (
            &s["minReplicaMemoryGb"],
            &s["maxReplicaMemoryGb"],
            &s["numReplicas"]
        ),
        (&json!(8), &json!(356), &json!(20))
    );
    let (_, _, s) = create(
        &c,
        with(json!({"minReplicaMemoryGb": null, "maxReplicaMemoryGb": null, "minTotalMemoryGb": 24, "maxTotalMemoryGb": 48})),
    )
    .await;
    assert_eq!(
        (&s["minReplicaMemoryGb"], &s["maxReplicaMemoryGb"]),
        (&json!(8), &json!(16))
    );
    // Equal min/max replicas are a vertical fixed count.
    let (_, _, s) = create(&c, with(json!({"minReplicas": 4, "maxReplicas": 4}))).await;
    assert_eq!(s["numReplicas"], 4);
}

#[tokio::test]
async fn ids_are_checked_and_unknown_ones_answer_invalid_id() {
    let (_sim, c) = start().await;
    err(
        &c.get("/services/not-a-uuid").await,
        400,
        "BAD_REQUEST: Invalid service id string:\"not-a-uuid\"",
    );
    let unknown = clouddb_sim::api::new_uuid();
    for r in [
        c.get(&format!("/services/{unknown}")).await,
        c.patch(&format!("/services/{unknown}"), json!({"name": "x"}))
            .await,
        c.delete(&format!("/services/{unknown}")).await,
        c.patch(&format!("/services/{unknown}/password"), json!({}))
            .await,
    ] {
        err(
            &r,
            400,
            &format!("BAD_REQUEST: Invalid service id string:\"{unknown}\""),
        );
    }
}

#[tokio::test]
async fn replica_scaling_validates_and_applies() {
    let (_sim, c) = start().await;
    let id = running(&c, "scaling").await;
    let uri = format!("/services/{id}/replicaScaling");
    for (body, want) in [
        (
            json!({"minReplicaMemoryGb": 30}),
            "BAD_REQUEST: request body.minReplicaMemoryGb: The value must be a multiple of 4",
        ),
        (
            json!({"maxReplicaMemoryGb": 400}),
            "BAD_REQUEST: request body.maxReplicaMemoryGb",
        ),
        (
            json!({"minReplicaMemoryGb": 128, "maxReplicaMemoryGb": 64}),
            "BAD_REQUEST: Invalid memory range",
        ),
        (
            json!({"idleTimeoutMinutes": 1}),
            "BAD_REQUEST: request body.idleTimeoutMinutes",
        ),
        (
            json!({"idleScaling": false, "idleTimeoutMinutes": 30}),
            "BAD_REQUEST: idleTimeoutMinutes",
        ),
        (
            json!({"numReplicas": 0}),
            "BAD_REQUEST: request body.numReplicas",
        ),
        (
            json!({"numReplicas": 3, "minReplicas": 3, "maxReplicas": 3}),
            "BAD_REQUEST: numReplicas cannot",
        ),
        (
            json!({"numReplicas": "3"}),
            "BAD_REQUEST: invalid request body",
        ),
    ] {
        err(&c.patch(&uri, body.clone()).await, 400, want);
    }
    let before = ok(&c.get(&format!("/services/{id}")).await).clone();
    assert_eq!(
        before["minReplicaMemoryGb"], 16,
        "rejected requests changed nothing"
    );

    let r = c
        .patch(
            &uri,
            json!({"minReplicaMemoryGb": 24, "maxReplicaMemoryGb": 96, "numReplicas": 2, "idleTimeoutMinutes": 30}),
        )
        .await;
    let s = ok(&r);
    assert_eq!(s["minReplicaMemoryGb"], 24);
    assert_eq!(s["maxReplicaMemoryGb"], 96);
    assert_eq!(s["numReplicas"], 2);
    assert_eq!(s["idleTimeoutMinutes"], 30);
    assert_eq!(s["state"], "running", "scaling is online");
    assert_eq!(s["currentScaling"]["effectiveMaxReplicaMemoryGb"], 96);
    assert_eq!(s["currentScaling"]["effectiveMinReplicas"], 2);
    assert_eq!(s["minTotalMemoryGb"], 72);
    // Only one bound given: the other follows when needed.
    let s = ok(&c.patch(&uri, json!({"minReplicaMemoryGb": 128})).await).clone();
    assert_eq!(
        (&s["minReplicaMemoryGb"], &s["maxReplicaMemoryGb"]),
        (&json!(128), &json!(128))
    );
}

// ---- patch, tags, list filters, password ------------------------------------------------------------------

#[tokio::test]
async fn patch_applies_remove_before_add_and_switches_the_mysql_endpoint() {
    let (_sim, c) = start().await;
    let id = running(&c, "patching").await;
    let uri = format!("/services/{id}");
    let r = c
        .patch(
            &uri,
            json!({
                "name": "patched name",
                "ipAccessList": {
                    "remove": [{"source": "10.0.0.0/8"}],
                    "add": [{"source": "10.0.0.0/8", "description": "again"}, {"source": "192.168.1.7"}]
                },
                "tags": {"remove": [{"key": "clouddb.dev_uid"}], "add": [{"key": "env", "value": "prod"}, {"key": "team"}]},
                "releaseChannel": "fast",
                "endpoints": [{"protocol": "mysql", "enabled": true}]
            }),
        )
        .await;
    let s = ok(&r).clone();
    assert_eq!(s["name"], "patched name");
    assert_eq!(
        s["ipAccessList"],
        json!([{"source": "10.0.0.0/8", "description": "again"}, {"source": "192.168.1.7", "description": ""}])
    );
    assert_eq!(
        s["tags"],
        json!([{"key": "env", "value": "prod"}, {"key": "team"}])
    );
    assert_eq!(s["releaseChannel"], "fast");
    let mysql = s["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .find(|e| e["protocol"] == "mysql")
        .cloned()
        .expect("mysql endpoint");
    assert_eq!(mysql["port"], 3306);
    assert_eq!(s["state"], "running");

    // Validation is atomic: one bad entry, nothing changes.
    err(
        &c.patch(
            &uri,
            json!({"name": "other", "ipAccessList": {"add": [{"source": "300.1.1.1"}]}}),
        )
        .await,
        400,
        "BAD_REQUEST: request body.ipAccessList[0].source",
    );
    err(
        &c.patch(&uri, json!({"state": "running"})).await,
        400,
        "BAD_REQUEST",
    );
    err(
        &c.patch(&uri, json!({"region": "us-west-2"})).await,
        400,
        "BAD_REQUEST",
    );
    let s = ok(&c.get(&uri).await).clone();
    assert_eq!(s["name"], "patched name");

    let r = c
        .patch(&uri, json!({"endpoints": [{"protocol": "mysql", "enabled": false}], "ipAccessList": {"remove": [{"source": "10.0.0.0/8"}, {"source": "192.168.1.7"}]}}))
        .await;
    let s = ok(&r);
    assert!(
        !s["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .any(|e| e["protocol"] == "mysql")
    );
    assert_eq!(s["ipAccessList"], json!([]));
}

#[tokio::test]
async fn lists_filter_by_tags() {
    let (_sim, c) = start().await;
    let mut ids = Vec::new();
    for (name, tags) in [
        (
            "a",
            json!([{"key": "env", "value": "prod"}, {"key": "uid", "value": "u-1"}]),
        ),
        (
            "b",
            json!([{"key": "env", "value": "dev"}, {"key": "uid", "value": "u-2"}]),
        ),
        ("c", json!([])),
    ] {
        let mut body = service_body(name);
        body["tags"] = tags;
        ids.push(create(&c, body).await.0);
    }
    let names = |r: &Resp| -> Vec<String> {
        ok(r)
            .as_array()
            .expect("array")
            .iter()
            .map(|s| s["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(names(&c.get("/services").await), ["a", "b", "c"]);
    assert_eq!(names(&c.get("/services?filter=tag:env=prod").await), ["a"]);
    assert_eq!(names(&c.get("/services?filter=tag:env").await), ["a", "b"]);
    assert_eq!(
        names(&c.get("/services?filter=tag:env&filter=tag:uid=u-2").await),
        ["b"]
    );
    assert!(names(&c.get("/services?filter=tag:uid=u-3").await).is_empty());
    err(
        &c.get("/services?filter=name:a").await,
        400,
        "BAD_REQUEST: Invalid filter",
    );
}

#[tokio::test]
async fn the_password_endpoint_generates_or_takes_a_hash() {
    let (_sim, c) = start().await;
    let id = running(&c, "secrets").await;
    let uri = format!("/services/{id}/password");
    let r = c.patch(&uri, json!({})).await;
    let generated = ok(&r)["password"].as_str().expect("password").to_string();
    assert!(verify_password(&c, &id, &generated).await);

    let hash = clouddb_sim::clickhouse::password_hash("chosen-Passw0rd");
    let r = c
        .patch(
            &uri,
            json!({"newPasswordHash": hash, "newDoubleSha1Hash": "a".repeat(40)}),
        )
        .await;
    assert_eq!(ok(&r), &json!({}), "no password when a hash was sent");
    assert!(verify_password(&c, &id, "chosen-Passw0rd").await);
    assert!(!verify_password(&c, &id, &generated).await);

    err(
        &c.patch(&uri, json!({"newPasswordHash": "not base64 of a digest"}))
            .await,
        400,
        "BAD_REQUEST: request body.newPasswordHash",
    );
    err(
        &c.patch(&uri, json!({"password": "plain"})).await,
        400,
        "BAD_REQUEST: invalid request body",
    );
    assert!(
        verify_password(&c, &id, "chosen-Passw0rd").await,
        "unchanged"
    );
}

// ---- the rate limit --------------------------------------------------------------------------------------

#[tokio::test]
async fn ten_requests_per_window_per_key_then_429_with_x_ratelimit_reset() {
    let keys = vec![ApiKey::random_clickhouse(), ApiKey::random_clickhouse()];
    let sim = start_with(ClickHouseConfig {
        keys: keys.clone(),
        quota: QuotaConfig {
            limit: 10,
            window: Duration::from_secs(2),
        },
        delays: short(),
        ..ClickHouseConfig::default()
    })
    .await;
    let a = ChClient::with_key(&sim, keys[0].clone());
    let b = ChClient::with_key(&sim, keys[1].clone());
    // A wrong secret for a's key counts against a's budget.
    let wrong = ChClient::with_key(
        &sim,
        ApiKey {
            public_key: keys[0].public_key.clone(),
            private_key: "4b1dnope".into(),
        },
    );
    err(&wrong.get("/services").await, 401, "UNAUTHORIZED");
    for _ in 0..9 {
        let r = a.get("/services").await;
        ok(&r);
        assert!(r.header("x-ratelimit-reset").is_none(), "only on a 429");
    }
    let r = a.get("/services").await;
    err(&r, 429, "TOO_MANY_REQUESTS");
    assert_eq!(r.body, json!({"status": 429, "error": "TOO_MANY_REQUESTS"}));
    let reset: f64 = r
        .header("x-ratelimit-reset")
        .expect("X-RateLimit-Reset")
        .parse()
        .expect("seconds");
    assert!((0.0..=2.0).contains(&reset) && reset > 0.0, "{reset}");
    // The other key has its own budget.
    ok(&b.get("/services").await);
    // After the window, a's requests go through again.
    a.wait_for("/services", WAIT, |r| r.status == StatusCode::OK)
        .await;
    let limited = sim
        .clickhouse_counters()
        .iter()
        .filter(|r| r.key.route == "(rate limited)" && r.key.key == keys[0].public_key)
        .map(|r| r.count)
        .sum::<u64>();
    assert!(limited >= 1, "{:?}", sim.clickhouse_counters());
}

// ---- faults, counters, admin -----------------------------------------------------------------------------

async fn add_fault(c: &ChClient, rule: Value) {
    let r = c.admin(Method::POST, "faults", Some(rule)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn faults_fire_in_the_clickhouse_shape() {
    let (_sim, c) = start().await;
    add_fault(
        &c,
        json!({"kind": "fail", "status": 503, "count": 1, "method": "GET", "pathPrefix": "/v1/organizations"}),
    )
    .await;
    err(
        &c.get("/services").await,
        503,
        "SERVICE_UNAVAILABLE: injected fault",
    );
    ok(&c.get("/services").await);

    // A 429 storm: every request throttled until the rule is removed.
    add_fault(
        &c,
        json!({"kind": "throttle", "pathPrefix": "/v1/organizations"}),
    )
    .await;
    for _ in 0..3 {
        let r = c.get("/services").await;
        err(&r, 429, "TOO_MANY_REQUESTS");
        assert!(r.header("x-ratelimit-reset").is_some());
    }
    let r = c.admin(Method::DELETE, "faults", None).await;
    assert_eq!(r.status, StatusCode::OK);
    // A throttle spends the window, as a real exhausted quota; the admin reset starts it over.
    c.admin(Method::POST, "reset", None).await;
    ok(&c.get("/services").await);

    add_fault(&c, json!({"kind": "reset", "count": 1, "method": "GET"})).await;
    assert!(c.try_send(Method::GET, "/services", None).await.is_err());

    let r = c
        .admin(Method::POST, "faults", Some(json!({"kind": "explode"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn commit_then_drop_creates_exactly_one_service() {
    let (sim, c) = start().await;
    add_fault(
        &c,
        json!({"kind": "dropAfterCommit", "count": 1, "method": "POST", "pathPrefix": "/v1/organizations"}),
    )
    .await;
    let lost = c
        .try_send(Method::POST, "/services", Some(&service_body("lost")))
        .await;
    assert!(
        lost.is_err(),
        "the answer is dropped: {:?}",
        lost.map(|r| r.body)
    );
    let services = admin_services(&c).await;
    assert_eq!(services.len(), 1, "the create happened");
    // What an operator does next: find it by name and tag, set a new password.
    let r = c
        .get("/services?filter=tag:clouddb.dev_uid=0d9f3c0e-1111-2222-3333-444455556666")
        .await;
    let found = ok(&r).as_array().expect("array").clone();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["name"], "lost");
    let id = found[0]["id"].as_str().expect("id");
    let r = c
        .patch(&format!("/services/{id}/password"), json!({}))
        .await;
    let pw = ok(&r)["password"].as_str().expect("password").to_string();
    assert!(verify_password(&c, id, &pw).await);

    let rows = sim.clickhouse_counters();
    let count = |route: &str, method: &str, status: u16| {
        rows.iter()
            .filter(|r| r.key.route == route && r.key.method == method && r.key.status == status)
            .map(|r| r.count)
            .sum::<u64>()
    };
    let services = "/v1/organizations/{organizationId}/services";
    assert_eq!(
        count(services, "POST", 0),
        1,
        "dropped create counted with status 0"
    );
    assert_eq!(count(services, "GET", 200), 1);
    assert_eq!(
        count(
            "/v1/organizations/{organizationId}/services/{serviceId}/password",
            "PATCH",
            200
        ),
        1
    );
    assert!(rows.iter().all(|r| r.key.key == c.key.public_key));
    // The same rows over HTTP.
    let r = c.admin(Method::GET, "counters", None).await;
    assert_eq!(r.body["total"], rows.iter().map(|r| r.count).sum::<u64>());
    assert!(sim.counters().is_empty(), "the TiDB listener saw nothing");
}

#[tokio::test]
async fn the_admin_api_changes_services_behind_the_clients_back() {
    let (_sim, c) = start().await;
    let id = running(&c, "target").await;
    let uri = format!("/services/{id}");
    let admin = format!("clickhouse/services/{id}");
    let r = c
        .admin(
            Method::PATCH,
            &admin,
            Some(json!({
                "name": "drifted",
                "minReplicaMemoryGb": 32, "maxReplicaMemoryGb": 32, "numReplicas": 5,
                "ipAccessList": [{"source": "0.0.0.0/0", "description": "anywhere"}],
                "tags": [],
                "releaseChannel": "slow",
                "mysqlEndpoint": true,
                "idleScaling": false
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let s = ok(&c.get(&uri).await).clone();
    assert_eq!(s["name"], "drifted");
    assert_eq!(s["numReplicas"], 5);
    assert_eq!(s["ipAccessList"][0]["source"], "0.0.0.0/0");
    assert_eq!(s["tags"], json!([]));
    assert!(
        s["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .any(|e| e["protocol"] == "mysql")
    );
    let r = c
        .admin(Method::PATCH, &admin, Some(json!({"state": "sleeping"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = c
        .admin(Method::PATCH, &admin, Some(json!({"color": "red"})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = c.admin(Method::DELETE, &admin, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    err(&c.get(&uri).await, 404, "NOT_FOUND");
    let r = c.admin(Method::DELETE, &admin, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The admin reset forgets services and counters.
    running(&c, "again").await;
    let r = c.admin(Method::POST, "reset", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(admin_services(&c).await.is_empty());
    let r = c.admin(Method::GET, "counters", None).await;
    assert_eq!(r.body["total"], 0);
    let r = c.admin(Method::GET, "health", None).await;
    assert_eq!(r.body, json!({"status": "ok"}));
}

// ---- the binary ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_binary_serves_clickhouse_on_its_own_flagged_listener() {
    use tokio::io::AsyncBufReadExt;
    let dir = std::env::temp_dir().join(format!("clouddb-sim-ch-bin-{}", std::process::id()));
    let org = clouddb_sim::api::new_uuid();
    let secret = "4b1dSecretFromTheFlag0123456789";
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clouddb-sim"))
        .args(["--listen", "127.0.0.1:0", "--profile", "instant"])
        .args(["--clickhouse-listen", "127.0.0.1:0"])
        .args(["--clickhouse-api-key", &format!("BINKEYID:{secret}")])
        .args(["--clickhouse-organization-id", &org])
        .args(["--clickhouse-quota", "2", "--clickhouse-quota-window", "1h"])
        .arg("--state-dir")
        .arg(&dir)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn clouddb-sim");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut base, mut ca) = (None::<String>, None::<std::path::PathBuf>);
    let mut banner = String::new();
    while base.is_none() || ca.is_none() {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("banner in time")
            .expect("stdout")
            .unwrap_or_else(|| panic!("exited early: {banner}"));
        if let Some(rest) = line.strip_prefix("ClickHouse Cloud API listening on ") {
            base = rest.split("/v1 ").next().map(str::to_string);
            assert!(rest.contains(&org), "{line}");
        }
        if let Some(rest) = line.strip_prefix("CA certificate: ") {
            ca = rest.split("  (").next().map(|p| p.trim().into());
        }
        banner.push_str(&line);
        banner.push('\n');
    }
    assert!(!banner.contains(secret), "{banner}");
    let base = base.expect("url");
    let http = common::http_client_for(ca.as_deref());
    let get = || {
        http.get(format!("{base}/v1/organizations"))
            .basic_auth("BINKEYID", Some(secret))
            .send()
    };
    let r = common::read(get().await.expect("send"))
        .await
        .expect("read");
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["result"][0]["id"], org.as_str());
    common::read(get().await.expect("send"))
        .await
        .expect("read");
    let r = common::read(get().await.expect("send"))
        .await
        .expect("read");
    assert_eq!(r.status.as_u16(), 429, "--clickhouse-quota applies");
    let reset: u64 = r
        .header("x-ratelimit-reset")
        .expect("header")
        .parse()
        .expect("seconds");
    assert!(reset > 3000, "a one-hour window: {reset}");
    child.kill().await.expect("kill");
    let _ = std::fs::remove_dir_all(&dir);
}
