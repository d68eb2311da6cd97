//! HTTP tests, through the real digest client (`common::Client`), of the surfaces a real client touches
//! beyond clusters: digest signing under concurrency, TiDB node groups, public endpoint settings, IAM
//! project cluster counts, the request log and the counters of unrouted requests.
//!
//! Waiting is always on a condition with a timeout (`wait_for`, `observe_until`), never a bare sleep.
mod common;

use clouddb_sim::{ApiKey, Delays, QuotaConfig, SimConfig};
use common::{Client, Resp, cluster_body, observe_until, wait_for};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
const CLUSTERS: &str = "/v1beta1/clusters";
const STAGING_PROJECT: &str = "1372813089454525999";

fn config(delays: Delays) -> SimConfig {
    SimConfig {
        delays,
        quota: QuotaConfig {
            limit: 100_000,
            window: Duration::from_secs(60),
        },
        ..SimConfig::default()
    }
}

/// Node group transitions long enough for the checks made right after a mutation to see the transitional
/// state even on a loaded machine; everything else instant.
fn group_delays() -> Delays {
    let step = Duration::from_millis(1500);
    Delays {
        node_group_create: step,
        node_group_modify: step,
        node_group_delete: step,
        ..Delays::instant()
    }
}

#[track_caller]
fn assert_ok(r: &Resp) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// A 400 in the dedicated shape whose message contains `message`.
#[track_caller]
fn assert_invalid(r: &Resp, message: &str) {
    assert_eq!(r.status.as_u16(), 400, "{}", r.body);
    assert_eq!(r.body["code"], json!(400), "{}", r.body);
    assert_eq!(r.body["details"], json!([]), "{}", r.body);
    assert!(
        r.message().contains(message),
        "message {:?} does not contain {message:?}",
        r.message()
    );
}

fn str_of<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {ptr} in {v}"))
}

fn state_is(state: &'static str) -> impl Fn(&Resp) -> bool {
    move |r| r.status == StatusCode::OK && r.body["state"] == state
}

async fn create_active(c: &Client, name: &str) -> String {
    let r = c.post(CLUSTERS, cluster_body(name)).await;
    assert_ok(&r);
    let id = str_of(&r.body, "/clusterId").to_string();
    wait_for(c, &format!("{CLUSTERS}/{id}"), WAIT, state_is("ACTIVE")).await;
    id
}

/// The `PUBLIC` endpoint of a group object.
fn public_endpoint(group: &Value) -> Value {
    group["endpoints"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["connectionType"] == "PUBLIC"))
        .cloned()
        .unwrap_or_else(|| panic!("no PUBLIC endpoint in {group}"))
}

/// The counters as `(route, status) → count` for one method.
async fn counters(c: &Client) -> Vec<(String, String, u64, u64)> {
    let r = c.admin(Method::GET, "counters", None).await;
    assert_ok(&r);
    r.body["counters"]
        .as_array()
        .expect("counters")
        .iter()
        .map(|x| {
            (
                str_of(x, "/method").to_string(),
                str_of(x, "/route").to_string(),
                x["status"].as_u64().expect("status"),
                x["count"].as_u64().expect("count"),
            )
        })
        .collect()
}

// ---- digest authentication under concurrency ----------------------------------------------------------------

/// Sends `GET uri` with `authorization`, outside the digest client (no retry).
async fn raw_get(http: &reqwest::Client, base: &str, uri: &str, authorization: &str) -> Resp {
    let r = http
        .get(format!("{base}{uri}"))
        .header("authorization", authorization)
        .send()
        .await
        .expect("send");
    common::read(r).await.expect("body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_requests_signed_from_one_challenge_all_succeed_and_a_replay_is_refused() {
    const N: usize = 24;
    let sim = common::start(config(Delays::instant())).await;
    let c = Arc::new(Client::new(&sim));
    assert_ok(&c.get(CLUSTERS).await); // the one challenge round trip
    let challenges_before = c.challenges.lock().unwrap().len();

    // 1. N headers signed in order (nc 2..=N+1) from the cached challenge, sent at once in reverse order:
    //    the server sees the counts out of order.
    let uri = format!("{CLUSTERS}?pageSize=5");
    let headers: Vec<String> = (0..N)
        .map(|_| {
            c.authorization(&Method::GET, &uri)
                .expect("cached challenge")
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for h in headers.iter().rev() {
        let (http, base, uri, h) = (c.http.clone(), c.base.clone(), uri.clone(), h.clone());
        tasks.spawn(async move { raw_get(&http, &base, &uri, &h).await });
    }
    let mut failures = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let r = r.expect("task");
        if r.status != StatusCode::OK {
            failures.push(format!("{} {}", r.status, r.body));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {N} failed: {failures:#?}",
        failures.len()
    );

    // 2. N requests through the digest client itself from N tasks at once (each signs when it runs).
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let c = c.clone();
        tasks.spawn(async move {
            let uri = format!("{CLUSTERS}?pageSize={}", i + 1);
            c.try_send(Method::GET, &uri, None).await
        });
    }
    let mut statuses = Vec::new();
    while let Some(r) = tasks.join_next().await {
        statuses.push(r.expect("task").expect("request").status);
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(
        c.challenges.lock().unwrap().len(),
        challenges_before,
        "no request was challenged again"
    );
    let unauthenticated: u64 = counters(&c)
        .await
        .iter()
        .filter(|(_, route, _, _)| route == "(unauthenticated)")
        .map(|(_, _, _, n)| n)
        .sum();
    assert_eq!(unauthenticated, 1, "only the first round trip was a 401");

    // 3. Replaying any of the used headers is refused, with a fresh stale challenge.
    for h in [&headers[0], &headers[N / 2], &headers[N - 1]] {
        let r = raw_get(&c.http, &c.base, &uri, h).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(r.body["code"], json!(49900001), "{}", r.body);
        assert!(r.message().contains("nonce count reused"), "{}", r.body);
        assert!(
            r.header("www-authenticate")
                .is_some_and(|w| w.contains("stale=true")),
            "{:?}",
            r.header("www-authenticate")
        );
    }
}

// ---- TiDB node groups --------------------------------------------------------------------------------------

#[tokio::test]
async fn a_node_group_is_created_resized_renamed_and_deleted_through_its_states() {
    let sim = common::start(config(group_delays())).await;
    let c = Client::new(&sim);
    let id = create_active(&c, "groups-life").await;
    let cluster = format!("{CLUSTERS}/{id}");
    let groups = format!("{cluster}/tidbNodeGroups");

    // Create: MODIFYING in the answer itself, the cluster MODIFYING too, then both ACTIVE.
    let r = c
        .post(&groups, json!({"displayName": "analytics", "nodeCount": 2}))
        .await;
    assert_ok(&r);
    let g = r.body.clone();
    let gid = str_of(&g, "/tidbNodeGroupId").to_string();
    assert_eq!(g["state"], "MODIFYING", "{g}");
    assert_eq!(g["isDefaultGroup"], false, "{g}");
    assert_eq!(g["nodeCount"], 2, "{g}");
    assert_eq!(g["clusterId"], json!(id), "{g}");
    assert_eq!(g["name"], json!(format!("tidbNodeGroups/{gid}")), "{g}");
    assert_eq!(g["nodeSpecKey"], "8C16G", "the cluster's TiDB spec: {g}");
    assert_eq!(
        public_endpoint(&g),
        json!({"host": "", "port": 0, "connectionType": "PUBLIC"}),
        "a new group's public endpoint is disabled"
    );
    let group = format!("{groups}/{gid}");
    assert_eq!(c.get(&cluster).await.body["state"], "MODIFYING");
    let seen = observe_until(&c, &group, WAIT, state_is("ACTIVE")).await;
    assert!(
        seen.iter()
            .all(|r| r.body["state"] == "MODIFYING" || r.body["state"] == "ACTIVE"),
        "only spec states"
    );
    let r = wait_for(&c, &cluster, WAIT, state_is("ACTIVE")).await;
    let embedded = r.body["tidbNodeSetting"]["tidbNodeGroups"]
        .as_array()
        .expect("groups");
    assert_eq!(embedded.len(), 2, "{}", r.body);
    let list = c.get(&groups).await;
    assert_eq!(list.body["totalSize"], 2, "{}", list.body);

    // Resize: MODIFYING, then ACTIVE with the new count.
    let r = c.patch(&group, json!({"nodeCount": 3})).await;
    assert_ok(&r);
    assert_eq!(r.body["state"], "MODIFYING", "{}", r.body);
    assert_eq!(r.body["nodeCount"], 3);
    assert_invalid(
        &c.patch(&group, json!({"nodeCount": 4})).await,
        "can be modified only when ACTIVE",
    );
    let r = wait_for(&c, &group, WAIT, state_is("ACTIVE")).await;
    assert_eq!(r.body["nodeCount"], 3);
    wait_for(&c, &cluster, WAIT, state_is("ACTIVE")).await;

    // Rename only: stays ACTIVE, and so does the cluster.
    let r = c.patch(&group, json!({"displayName": "analytics-2"})).await;
    assert_ok(&r);
    assert_eq!(r.body["state"], "ACTIVE");
    assert_eq!(r.body["displayName"], "analytics-2");
    assert_eq!(c.get(&cluster).await.body["state"], "ACTIVE");

    // The default group cannot be deleted; this one can: {} , MODIFYING, then 404.
    let default_gid = str_of(&list.body, "/tidbNodeGroups/0/tidbNodeGroupId").to_string();
    assert_eq!(list.body["tidbNodeGroups"][0]["isDefaultGroup"], true);
    assert_invalid(
        &c.delete(&format!("{groups}/{default_gid}")).await,
        "the default group cannot be deleted",
    );
    let r = c.delete(&group).await;
    assert_ok(&r);
    assert_eq!(r.body, json!({}));
    assert_eq!(c.get(&group).await.body["state"], "MODIFYING");
    assert_eq!(c.get(&cluster).await.body["state"], "MODIFYING");
    assert_ok(&c.delete(&group).await); // again while it is being deleted
    let r = wait_for(&c, &group, WAIT, |r| r.status == StatusCode::NOT_FOUND).await;
    assert_eq!(r.body["code"], 404, "{}", r.body);
    let r = wait_for(&c, &cluster, WAIT, state_is("ACTIVE")).await;
    assert_eq!(
        r.body["tidbNodeSetting"]["tidbNodeGroups"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(c.delete(&group).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn node_groups_validate_their_input_and_change_nothing_when_refused() {
    let sim = common::start(SimConfig {
        node_quota: vec![("TIDB".into(), 6)],
        ..config(Delays::instant())
    })
    .await;
    let c = Client::new(&sim);
    let id = create_active(&c, "groups-invalid").await; // 2 TiDB nodes
    let groups = format!("{CLUSTERS}/{id}/tidbNodeGroups");

    assert_invalid(&c.post(&groups, json!({})).await, "nodeCount is required");
    assert_invalid(
        &c.post(&groups, json!({"nodeCount": 0})).await,
        "nodeCount must be at least 1",
    );
    assert_invalid(
        &c.post(&groups, json!({"nodeCount": 1, "displayName": "no"}))
            .await,
        "displayName \"no\" is invalid",
    );
    assert_invalid(
        &c.post(
            &groups,
            json!({"nodeCount": 1, "displayName": "DefaultGroup"}),
        )
        .await,
        "already used",
    );
    assert_invalid(
        &c.post(&groups, json!({"nodeCount": 1, "nodeSpecKey": "16C64G"}))
            .await,
        "differs from the cluster's TiDB node spec",
    );
    assert_invalid(
        &c.post(&groups, json!({"nodeCount": 1, "size": "L"})).await,
        "unknown field `size`",
    );
    assert_invalid(
        &c.post(
            &groups,
            json!({"nodeCount": 1, "tiproxySetting": {"nodeSpecKey": "64C1T", "nodeCount": 2}}),
        )
        .await,
        "not a TiProxy node spec",
    );
    assert_invalid(
        &c.post(&groups, json!({"nodeCount": 5})).await,
        "node quota exceeded for TIDB",
    );
    assert_invalid(
        &c.post(&groups, json!({"nodeCount": 1, "clusterId": "123"}))
            .await,
        "does not match the path",
    );
    assert_invalid(&c.post(&groups, json!([1])).await, "expected a JSON object");
    let r = c
        .post(
            &format!("{groups}?validateOnly=true"),
            json!({"nodeCount": 1, "displayName": "dry-run"}),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["displayName"], "dry-run");
    let list = c.get(&groups).await;
    assert_eq!(
        list.body["totalSize"], 1,
        "nothing was created: {}",
        list.body
    );

    // A group with TiProxy; then patches that are refused.
    let r = c
        .post(
            &groups,
            json!({"nodeCount": 1, "displayName": "proxied", "tiproxySetting": {"nodeSpecKey": "2C4G", "nodeCount": 2}}),
        )
        .await;
    assert_ok(&r);
    assert_eq!(
        r.body["tiproxySetting"],
        json!({"nodeSpecKey": "2C4G", "nodeSpecVersion": "v1", "nodeCount": 2, "nodeSpecDisplayName": "2 vCPU, 4 GiB"})
    );
    let gid = str_of(&r.body, "/tidbNodeGroupId").to_string();
    let group = format!("{groups}/{gid}");
    wait_for(&c, &group, WAIT, state_is("ACTIVE")).await;
    assert_invalid(
        &c.patch(&group, json!({"nodeCount": 0})).await,
        "nodeCount must be at least 1",
    );
    assert_invalid(
        &c.patch(&group, json!({"nodeCount": 5})).await,
        "node quota exceeded",
    );
    assert_invalid(
        &c.patch(&group, json!({"isDefaultGroup": true})).await,
        "unknown field `isDefaultGroup`",
    );
    assert_invalid(
        &c.patch(&group, json!({"displayName": "DefaultGroup"}))
            .await,
        "already used",
    );
    let r = c
        .patch(
            &format!("{group}?validateOnly=true"),
            json!({"nodeCount": 2}),
        )
        .await;
    assert_eq!(r.body["state"], "MODIFYING", "{}", r.body);
    let r = c.get(&group).await;
    assert_eq!(
        (r.body["nodeCount"].clone(), r.body["state"].clone()),
        (json!(1), json!("ACTIVE"))
    );
    // TiProxy off: the setting disappears.
    let r = c
        .patch(
            &group,
            json!({"tiproxySetting": {"nodeSpecKey": "2C4G", "nodeCount": 0}}),
        )
        .await;
    assert_ok(&r);
    assert!(r.body.get("tiproxySetting").is_none(), "{}", r.body);

    // Unknown groups and clusters.
    let r = c
        .patch(
            &format!("{groups}/1234567890123456789"),
            json!({"nodeCount": 2}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = c
        .post(
            &format!("{CLUSTERS}/1234567890123456789/tidbNodeGroups"),
            json!({"nodeCount": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = c
        .post(
            &format!("{CLUSTERS}/abc/tidbNodeGroups"),
            json!({"nodeCount": 1}),
        )
        .await;
    assert_invalid(&r, "invalid clusterId");
    let r = c.send(Method::PUT, &groups, Some(&json!({}))).await;
    assert_eq!(r.status.as_u16(), 405, "{}", r.body);
}

#[tokio::test]
async fn groups_follow_the_cluster_pause_and_writes_need_a_settled_cluster() {
    let sim = common::start(config(group_delays())).await;
    let c = Client::new(&sim);
    let id = create_active(&c, "groups-pause").await;
    let cluster = format!("{CLUSTERS}/{id}");
    let groups = format!("{cluster}/tidbNodeGroups");

    // Two groups created at once (as Terraform does with two resources): both accepted.
    let a = c
        .post(&groups, json!({"nodeCount": 1, "displayName": "one-1"}))
        .await;
    let b = c
        .post(&groups, json!({"nodeCount": 1, "displayName": "two-2"}))
        .await;
    assert_ok(&a);
    assert_ok(&b);
    // A cluster PATCH or a pause waits for them.
    assert_invalid(
        &c.patch(&cluster, json!({"tikvNodeSetting": {"nodeCount": 6}}))
            .await,
        "can be modified only when ACTIVE",
    );
    assert_invalid(
        &c.post(&format!("{cluster}:pauseCluster"), json!({})).await,
        "only an ACTIVE cluster can be paused",
    );
    wait_for(&c, &cluster, WAIT, state_is("ACTIVE")).await;
    let ga = format!("{groups}/{}", str_of(&a.body, "/tidbNodeGroupId"));
    assert_eq!(c.get(&ga).await.body["state"], "ACTIVE");

    // Paused cluster: non-default groups PAUSED, the default one ACTIVE; no group writes.
    assert_ok(&c.post(&format!("{cluster}:pauseCluster"), json!({})).await);
    let r = wait_for(&c, &cluster, WAIT, state_is("PAUSED")).await;
    let states: Vec<(bool, String)> = r.body["tidbNodeSetting"]["tidbNodeGroups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| (g["isDefaultGroup"] == true, str_of(g, "/state").to_string()))
        .collect();
    assert_eq!(
        states,
        vec![
            (true, "ACTIVE".into()),
            (false, "PAUSED".into()),
            (false, "PAUSED".into())
        ]
    );
    assert_invalid(
        &c.post(&groups, json!({"nodeCount": 1})).await,
        "can be changed only when it is ACTIVE",
    );
    assert_invalid(
        &c.delete(&ga).await,
        "can be changed only when it is ACTIVE",
    );
    assert_ok(&c.post(&format!("{cluster}:resumeCluster"), json!({})).await);
    wait_for(&c, &cluster, WAIT, state_is("ACTIVE")).await;
    assert_eq!(c.get(&ga).await.body["state"], "ACTIVE");

    // Deleting the cluster takes its groups with it.
    assert_ok(&c.delete(&cluster).await);
    wait_for(&c, &ga, WAIT, |r| r.status == StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn tiproxy_is_set_on_cluster_create_and_changed_by_the_cluster_patch() {
    let sim = common::start(config(Delays {
        cluster_modify: Duration::from_millis(300),
        ..Delays::instant()
    }))
    .await;
    let c = Client::new(&sim);
    let mut body = cluster_body("tiproxy");
    body["tidbNodeSetting"]["tidbNodeGroups"][0]["tiproxySetting"] =
        json!({"nodeSpecKey": "8C16G", "nodeCount": 2});
    let r = c.post(CLUSTERS, body).await;
    assert_ok(&r);
    let id = str_of(&r.body, "/clusterId").to_string();
    let cluster = format!("{CLUSTERS}/{id}");
    let r = wait_for(&c, &cluster, WAIT, state_is("ACTIVE")).await;
    assert_eq!(
        r.body["tidbNodeSetting"]["tidbNodeGroups"][0]["tiproxySetting"],
        json!({"nodeSpecKey": "8C16G", "nodeSpecVersion": "v1", "nodeCount": 2, "nodeSpecDisplayName": "8 vCPU, 16 GiB"})
    );
    // The same setting again changes nothing; nodeCount 0 turns TiProxy off (a topology change).
    let same = json!({"tidbNodeSetting": {"tidbNodeGroups": [{"tiproxySetting": {"nodeSpecKey": "8C16G", "nodeCount": 2}}]}});
    assert_eq!(c.patch(&cluster, same).await.body["state"], "ACTIVE");
    let off = json!({"tidbNodeSetting": {"tidbNodeGroups": [{"tiproxySetting": {"nodeSpecKey": "8C16G", "nodeCount": 0}}]}});
    let r = c.patch(&cluster, off).await;
    assert_ok(&r);
    assert_eq!(r.body["state"], "MODIFYING");
    assert!(
        r.body["tidbNodeSetting"]["tidbNodeGroups"][0]
            .get("tiproxySetting")
            .is_none(),
        "{}",
        r.body
    );
    wait_for(&c, &cluster, WAIT, state_is("ACTIVE")).await;
    let bad = json!({"tidbNodeSetting": {"tidbNodeGroups": [{"tiproxySetting": {"nodeSpecKey": "1C1G", "nodeCount": 1}}]}});
    assert_invalid(&c.patch(&cluster, bad).await, "not a TiProxy node spec");
    let bad = json!({"tidbNodeSetting": {"tidbNodeGroups": [{"tiproxySetting": [1]}]}});
    assert_invalid(&c.patch(&cluster, bad).await, "expected a JSON object");
}

// ---- public endpoint settings -------------------------------------------------------------------------------

#[tokio::test]
async fn public_endpoint_settings_start_as_documented_and_patch_partially() {
    let sim = common::start(config(Delays::instant())).await;
    let c = Client::new(&sim);
    let id = create_active(&c, "public-endpoint").await;
    let cluster = format!("{CLUSTERS}/{id}");
    let r = c.get(&format!("{cluster}/tidbNodeGroups")).await;
    let dgid = str_of(&r.body, "/tidbNodeGroups/0/tidbNodeGroupId").to_string();
    let setting = format!("{cluster}/tidbNodeGroups/{dgid}/publicEndpointSetting");

    // Initial: the default group's public endpoint is enabled, the list empty (all IPs allowed).
    let r = c.get(&setting).await;
    assert_ok(&r);
    assert_eq!(
        r.body,
        json!({"name": format!("tidbNodeGroups/{dgid}/publicEndpointSetting"), "tidbNodeGroupId": dgid,
               "enabled": true, "ipAccessList": []})
    );
    assert_eq!(
        c.get(&format!("{cluster}/tidbNodeGroups/-/publicEndpointSetting"))
            .await
            .body,
        r.body
    );

    // The list replaces the old one; `description` is always answered.
    let list = json!([{"cidrNotation": "203.0.113.0/24", "description": "office"}, {"cidrNotation": "198.51.100.7/32"}]);
    let r = c.patch(&setting, json!({"ipAccessList": list})).await;
    assert_ok(&r);
    assert_eq!(r.body["enabled"], true, "enabled unchanged");
    assert_eq!(
        r.body["ipAccessList"],
        json!([{"cidrNotation": "203.0.113.0/24", "description": "office"}, {"cidrNotation": "198.51.100.7/32", "description": ""}])
    );
    // `enabled` only: the list stays; the PUBLIC endpoint goes away.
    let r = c
        .patch(
            &format!("{cluster}/tidbNodeGroups/-/publicEndpointSetting"),
            json!({"enabled": false}),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["enabled"], false);
    assert_eq!(r.body["ipAccessList"].as_array().map(Vec::len), Some(2));
    let g = c.get(&cluster).await.body["tidbNodeSetting"]["tidbNodeGroups"][0].clone();
    assert_eq!(
        public_endpoint(&g),
        json!({"host": "", "port": 0, "connectionType": "PUBLIC"})
    );
    // Null and {} change nothing; [] empties the list; enabling brings the host back.
    for body in [json!({}), json!({"enabled": null})] {
        let r = c.patch(&setting, body).await;
        assert_eq!(
            (
                r.body["enabled"].clone(),
                r.body["ipAccessList"].as_array().map(Vec::len)
            ),
            (json!(false), Some(2))
        );
    }
    let r = c
        .patch(&setting, json!({"enabled": true, "ipAccessList": []}))
        .await;
    assert_eq!(
        (r.body["enabled"].clone(), r.body["ipAccessList"].clone()),
        (json!(true), json!([]))
    );
    let g = c.get(&cluster).await.body["tidbNodeSetting"]["tidbNodeGroups"][0].clone();
    let p = public_endpoint(&g);
    assert_eq!(p["port"], 4000, "{g}");
    assert!(
        p["host"].as_str().is_some_and(|h| h.starts_with("tidb.")),
        "{g}"
    );

    // Validation, and nothing changes when refused.
    for (body, message) in [
        (
            json!({"ipAccessList": [{"description": "no cidr"}]}),
            "cidrNotation is required",
        ),
        (
            json!({"ipAccessList": [{"cidrNotation": "10.0.0.0/33"}]}),
            "is not an IPv4 CIDR block",
        ),
        (
            json!({"ipAccessList": [{"cidrNotation": "10.0.0.1"}]}),
            "is not an IPv4 CIDR block",
        ),
        (
            json!({"ipAccessList": [{"cidrNotation": "10.0.0.0/8"}, {"cidrNotation": "10.0.0.0/8"}]}),
            "listed twice",
        ),
        (
            json!({"ipAccessList": [{"cidr": "10.0.0.0/8"}]}),
            "unknown field `cidr`",
        ),
        (json!({"ipAccessList": [null]}), "must be an object"),
        (json!({"enabled": "yes"}), "invalid type"),
        (json!({"tidbNodeGroupId": "42"}), "does not match the path"),
    ] {
        assert_invalid(&c.patch(&setting, body.clone()).await, message);
    }
    let r = c
        .patch(
            &format!("{setting}?validateOnly=true"),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(r.body["enabled"], false);
    assert_eq!(
        c.get(&setting).await.body["enabled"],
        true,
        "validateOnly changed nothing"
    );

    // A new group: disabled; enabling gives its PUBLIC endpoint a host of its own.
    let r = c
        .post(
            &format!("{cluster}/tidbNodeGroups"),
            json!({"nodeCount": 1, "displayName": "reporting"}),
        )
        .await;
    let gid = str_of(&r.body, "/tidbNodeGroupId").to_string();
    let gsetting = format!("{cluster}/tidbNodeGroups/{gid}/publicEndpointSetting");
    assert_eq!(c.get(&gsetting).await.body["enabled"], false);
    let r = c.patch(&gsetting, json!({"enabled": true})).await;
    assert_ok(&r);
    let g = c.get(&format!("{cluster}/tidbNodeGroups/{gid}")).await.body;
    let p = public_endpoint(&g);
    assert!(
        p["host"]
            .as_str()
            .is_some_and(|h| h.starts_with("tidb-") && h.ends_with(".clusters.tidb-cloud.com")),
        "{g}"
    );
    assert_eq!(p["port"], 4000);
    let r = c
        .get(&format!(
            "{cluster}/tidbNodeGroups/1234567890123456789/publicEndpointSetting"
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

// ---- IAM ----------------------------------------------------------------------------------------------------

/// `cluster_count` of each project, by id.
async fn project_counts(c: &Client) -> std::collections::BTreeMap<String, i64> {
    let r = c.get("/v1beta1/projects").await;
    assert_ok(&r);
    r.body["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .map(|p| {
            (
                str_of(p, "/id").to_string(),
                p["cluster_count"].as_i64().expect("cluster_count"),
            )
        })
        .collect()
}

#[tokio::test]
async fn projects_count_their_live_clusters() {
    let sim = common::start(config(Delays {
        cluster_delete: Duration::from_millis(300),
        ..Delays::instant()
    }))
    .await;
    let c = Client::new(&sim);
    let counts = project_counts(&c).await;
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(counts.values().all(|n| *n == 0), "{counts:?}");

    let a = create_active(&c, "count-a").await;
    create_active(&c, "count-b").await;
    let mut staging = cluster_body("count-c");
    staging["labels"] = json!({"tidb.cloud/project": STAGING_PROJECT});
    assert_ok(&c.post(CLUSTERS, staging).await);
    let counts = project_counts(&c).await;
    assert_eq!(counts[STAGING_PROJECT], 1, "{counts:?}");
    let default = counts
        .keys()
        .find(|k| *k != STAGING_PROJECT)
        .expect("default")
        .clone();
    assert_eq!(counts[&default], 2, "{counts:?}");
    for (project, n) in &counts {
        let r = c.get(&format!("{CLUSTERS}?projectId={project}")).await;
        assert_eq!(
            r.body["totalSize"],
            json!(n),
            "the same clusters as the list"
        );
    }

    // A deleted cluster counts until it is gone.
    assert_ok(&c.delete(&format!("{CLUSTERS}/{a}")).await);
    assert_eq!(project_counts(&c).await[&default], 2);
    wait_for(&c, &format!("{CLUSTERS}/{a}"), WAIT, |r| {
        r.status == StatusCode::NOT_FOUND
    })
    .await;
    assert_eq!(project_counts(&c).await[&default], 1);
}

// ---- counters and logs of every request ---------------------------------------------------------------------

#[tokio::test]
async fn unrouted_requests_are_counted_by_path_with_a_bound() {
    let sim = common::start(config(Delays::instant())).await;
    let c = Client::new(&sim);
    for _ in 0..2 {
        assert_eq!(
            c.get("/v1beta1/nowhere?x=1").await.status,
            StatusCode::NOT_FOUND
        );
    }
    let long = format!("/v1beta1/{}", "a".repeat(500));
    assert_eq!(c.get(&long).await.status, StatusCode::NOT_FOUND);
    let rows = counters(&c).await;
    let count = |route: &str| {
        rows.iter()
            .filter(|(m, r, s, _)| m == "GET" && r == route && *s == 404)
            .map(|(_, _, _, n)| *n)
            .sum::<u64>()
    };
    assert_eq!(count("(no route) /v1beta1/nowhere"), 2, "{rows:?}");
    let cut = rows
        .iter()
        .find(|(_, r, _, _)| r.starts_with("(no route) /v1beta1/aaa"))
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert!(
        cut.1.chars().count() < 220 && cut.1.ends_with('…'),
        "{cut:?}"
    );

    // Past the cap, further distinct paths share one row.
    let cap = clouddb_sim::gateway::MAX_UNROUTED_PATHS;
    for i in 0..cap + 5 {
        assert_eq!(
            c.get(&format!("/v1beta1/probe-{i}")).await.status,
            StatusCode::NOT_FOUND
        );
    }
    let rows = counters(&c).await;
    let named = rows
        .iter()
        .filter(|(_, r, _, _)| r.starts_with("(no route) /"))
        .count();
    assert_eq!(named, cap, "{rows:?}");
    let other: u64 = rows
        .iter()
        .filter(|(_, r, _, _)| r == "(no route) (other paths)")
        .map(|(_, _, _, n)| *n)
        .sum();
    // Two slots went to the paths above, so the last 7 probes are past the cap.
    assert_eq!(other, 7, "{rows:?}");
    // A path already named keeps its row.
    assert_eq!(
        c.get("/v1beta1/nowhere").await.status,
        StatusCode::NOT_FOUND
    );
    let rows = counters(&c).await;
    assert!(
        rows.iter()
            .any(|(_, r, _, n)| r == "(no route) /v1beta1/nowhere" && *n == 3),
        "{rows:?}"
    );
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn the_binary_logs_one_line_per_request_with_method_path_and_status() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let dir = TempDir(
        std::env::temp_dir().join(format!("clouddb-sim-reqlog-{}-{nanos}", std::process::id())),
    );
    let key = ApiKey {
        public_key: "LOGKEY01".into(),
        private_key: "log-private-key-7f3a9c".into(),
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clouddb-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--profile",
            "instant",
        ])
        .arg("--state-dir")
        .arg(&dir.0)
        .args([
            "--api-key",
            &format!("{}:{}", key.public_key, key.private_key),
        ])
        .env("RUST_LOG", "info")
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn clouddb-sim");
    let mut stderr = child.stderr.take().expect("stderr");
    let stderr = tokio::spawn(async move {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s).await;
        s
    });
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut base, mut ca) = (None, None);
    let deadline = tokio::time::Instant::now() + WAIT;
    while base.is_none() || ca.is_none() {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .expect("banner in time")
            .expect("stdout")
            .expect("clouddb-sim exited early");
        if let Some(u) = line.strip_prefix("clouddb-sim listening on ") {
            base = Some(u.trim().to_string());
        }
        if let Some(rest) = line.strip_prefix("CA certificate: ") {
            ca = rest.split("  (").next().map(|p| PathBuf::from(p.trim()));
        }
    }
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let ca = ca.expect("ca");
    let c = Client::connect(base.expect("base"), Some(&ca), key);

    // 1 challenge (401) + 1 answer; an unrouted GET; a 405; an admin call; a path that is not UTF-8.
    assert_ok(&c.get(CLUSTERS).await);
    assert_eq!(
        c.get("/v1beta1/nowhere?secret=no").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.send(Method::PUT, CLUSTERS, Some(&json!({})))
            .await
            .status
            .as_u16(),
        405
    );
    assert_ok(&c.admin(Method::GET, "health", None).await);
    assert_eq!(c.get("/v1beta1/%FF").await.status, StatusCode::BAD_REQUEST);

    let pid = child.id().expect("running").to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits on SIGTERM")
        .expect("wait");
    let _ = drain.await;
    let log = stderr.await.expect("stderr");
    let requests: Vec<(String, String, u64)> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "request")
        .map(|v| {
            let f = &v["fields"];
            (
                f["method"].as_str().unwrap_or_default().to_string(),
                f["path"].as_str().unwrap_or_default().to_string(),
                f["status"].as_u64().unwrap_or(999),
            )
        })
        .collect();
    let want: Vec<(String, String, u64)> = [
        ("GET", CLUSTERS, 401),
        ("GET", CLUSTERS, 200),
        ("GET", "/v1beta1/nowhere", 404),
        ("PUT", CLUSTERS, 405),
        ("GET", "/_sim/health", 200),
        ("GET", "/v1beta1/%FF", 400),
    ]
    .iter()
    .map(|(m, p, s)| (m.to_string(), p.to_string(), *s))
    .collect();
    assert_eq!(requests, want, "log:\n{log}");
    assert!(
        !log.contains("secret=no"),
        "the query is not logged:\n{log}"
    );
}

#[tokio::test]
async fn help_mentions_the_node_group_delay_flags() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_clouddb-sim"))
        .arg("--help")
        .output()
        .await
        .expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--delay-node-group-create",
        "--delay-node-group-modify",
        "--delay-node-group-delete",
    ] {
        assert!(help.contains(flag), "{flag} not in --help:\n{help}");
    }
}
