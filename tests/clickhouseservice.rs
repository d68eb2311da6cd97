//! ClickHouseService end to end: the real operator binary against the real kube-apiserver and the simulator's
//! ClickHouse Cloud listener (Basic auth, envelope, 10 requests per 10 s per key). Each test has its own
//! namespace, simulator and operator process.

mod support;

use std::time::Instant;

use clouddb_operator::api::clickhouseservice::ClickHouseService;
use clouddb_operator::cloud::{BudgetRegistry, SecretString};
use clouddb_operator::providers::clickhouse::models::ServicePostRequest;
use clouddb_operator::providers::clickhouse::{ClickHouseClient, ClickHouseKey, ClientConfig};
use reqwest::Method;
use serde_json::{Value, json};
use support::TIMEOUT;
use support::operator::*;

fn spec() -> Value {
    json!({"provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "10.0.0.0/8", "description": "office"}]})
}

async fn ready(env: &OperatorEnv, name: &str) -> ClickHouseService {
    env.wait_for::<ClickHouseService>(
        name,
        &format!("ClickHouseService {name} Ready on its current generation"),
        TIMEOUT * 3,
        |o| {
            condition_of(o, "Ready").is_some_and(|c| c.status == "True")
                && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
        },
    )
    .await
}

fn service_id(o: &ClickHouseService) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.service_id.clone())
        .expect("status.serviceId")
}

/// The services of the simulator's organization, as its admin API shows them.
async fn services(env: &OperatorEnv) -> Vec<Value> {
    let v = env
        .clickhouse_admin(Method::GET, "clickhouse/services", None)
        .await;
    v["services"].as_array().cloned().unwrap_or_default()
}

async fn service(env: &OperatorEnv, id: &str) -> Value {
    services(env)
        .await
        .into_iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("service {id} exists in the simulator"))
}

async fn password_matches(env: &OperatorEnv, id: &str, password: &str) -> bool {
    let v = env
        .clickhouse_admin(
            Method::POST,
            &format!("clickhouse/services/{id}:verifyPassword"),
            Some(json!({"password": password})),
        )
        .await;
    v["match"] == true
}

async fn connection_password(env: &OperatorEnv, name: &str) -> String {
    let secret = env
        .secret(&format!("{name}-connection"))
        .await
        .expect("connection Secret");
    let data = secret.data.expect("data");
    String::from_utf8(data["password"].0.clone()).expect("utf8")
}

/// A client with the simulator's ClickHouse key (for the cloud side of assertions and set-ups).
fn cloud(env: &OperatorEnv) -> ClickHouseClient {
    let key = env.sim.clickhouse_key();
    let mut config = ClientConfig {
        base_url: format!("{}/v1", env.sim.clickhouse_base_url()),
        ..ClientConfig::default()
    };
    config.http.extra_ca_pem = Some(std::fs::read(env.sim.ca_path().expect("https")).expect("CA"));
    ClickHouseClient::new(
        &config,
        ClickHouseKey {
            key_id: key.public_key.clone(),
            key_secret: SecretString::from(key.private_key.clone()),
            organization_id: env.sim.clickhouse_organization_id().to_string(),
        },
        &BudgetRegistry::default(),
    )
    .expect("cloud client")
}

#[tokio::test]
async fn create_reaches_ready_with_endpoints_and_connection_secret() {
    let Some(env) = OperatorEnv::start("chs-create").await else {
        return;
    };
    env.apply_kind::<ClickHouseService>("analytics", spec())
        .await;
    let o = ready(&env, "analytics").await;
    let status = o.status.clone().expect("status");
    let id = service_id(&o);
    assert!(
        matches!(status.state.as_deref(), Some("running" | "idle")),
        "{status:?}"
    );
    assert!(
        status
            .endpoints
            .iter()
            .any(|e| e.protocol == "https" && e.port == 8443),
        "{:?}",
        status.endpoints
    );
    assert!(status.clickhouse_version.is_some());
    let secret = env
        .secret("analytics-connection")
        .await
        .expect("connection Secret");
    let data = secret.data.expect("data");
    for k in [
        "host",
        "port",
        "username",
        "password",
        "uri",
        "host-https",
        "port-nativesecure",
    ] {
        assert!(data.contains_key(k), "connection Secret has {k}");
    }
    let password = connection_password(&env, "analytics").await;
    assert!(
        password_matches(&env, &id, &password).await,
        "the connection Secret holds the password generated at create"
    );
    let svc = service(&env, &id).await;
    assert_eq!(svc["ipAccessList"][0]["source"], "10.0.0.0/8");
    assert_eq!(services(&env).await.len(), 1);
    let key_secret = env.sim.clickhouse_key().private_key.clone();
    env.assert_logs_free_of(&[&password, &key_secret]);
    for note in env.event_notes("analytics").await {
        assert!(!note.contains(&password), "an Event holds the password");
    }
}

#[tokio::test]
async fn scale_ip_list_stop_and_start_converge() {
    let Some(env) = OperatorEnv::start("chs-update").await else {
        return;
    };
    env.apply_kind::<ClickHouseService>("events", spec()).await;
    let id = service_id(&ready(&env, "events").await);

    // Scale through replicaScaling, and change the IP list (one add, one remove) in the same apply.
    let mut s = spec();
    s["minReplicaMemoryGb"] = json!(16);
    s["maxReplicaMemoryGb"] = json!(32);
    s["numReplicas"] = json!(2);
    s["ipAccessList"] = json!([{"source": "203.0.113.7", "description": "ci"}]);
    env.apply_kind::<ClickHouseService>("events", s.clone())
        .await;
    let o = ready(&env, "events").await;
    let svc = service(&env, &id).await;
    assert_eq!(svc["minReplicaMemoryGb"], 16);
    assert_eq!(svc["maxReplicaMemoryGb"], 32);
    assert_eq!(svc["numReplicas"], 2);
    let sources: Vec<&str> = svc["ipAccessList"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["source"].as_str())
        .collect();
    assert_eq!(sources, ["203.0.113.7"]);
    let scaling = o.status.and_then(|s| s.scaling).expect("status.scaling");
    assert_eq!(scaling.max_replica_memory_gb, Some(32));

    // Stop, then start again, through the state endpoint.
    s["stopped"] = json!(true);
    env.apply_kind::<ClickHouseService>("events", s.clone())
        .await;
    env.wait_condition_of::<ClickHouseService>("events", "Ready", "True", "Stopped")
        .await;
    assert_eq!(service(&env, &id).await["state"], "stopped");
    env.wait_condition_of::<ClickHouseService>("events", "Available", "False", "NotAvailable")
        .await;
    s["stopped"] = json!(false);
    env.apply_kind::<ClickHouseService>("events", s).await;
    ready(&env, "events").await;
    assert_eq!(service(&env, &id).await["state"], "running");
    assert_eq!(services(&env).await.len(), 1);
}

#[tokio::test]
async fn password_rotates_from_the_referenced_secret() {
    let Some(env) = OperatorEnv::start("chs-password").await else {
        return;
    };
    let first = "Initial-Passw0rd-1";
    env.put_secret("ch-password", &[("password", first)]).await;
    let mut s = spec();
    s["password"] = json!({"secretRef": {"name": "ch-password", "key": "password"}});
    env.apply_kind::<ClickHouseService>("reports", s).await;
    let id = service_id(&ready(&env, "reports").await);
    let got = connection_password_eventually(&env, "reports", first).await;
    assert!(
        password_matches(&env, &id, &got).await,
        "the service has the spec password"
    );

    let second = "Rotated-Passw0rd-2";
    env.put_secret("ch-password", &[("password", second)]).await;
    let got = connection_password_eventually(&env, "reports", second).await;
    assert!(
        password_matches(&env, &id, &got).await,
        "the service has the rotated password"
    );
    assert!(!password_matches(&env, &id, first).await);
    env.assert_logs_free_of(&[first, second]);
}

/// Waits until the connection Secret holds `want`, returning it.
async fn connection_password_eventually(env: &OperatorEnv, name: &str, want: &str) -> String {
    let res = support::eventually(
        format!("{name}-connection to hold the expected password"),
        TIMEOUT * 2,
        async || {
            let secret = env.secret(&format!("{name}-connection")).await;
            let pw = secret
                .and_then(|s| s.data)
                .and_then(|d| d.get("password").map(|p| p.0.clone()))
                .map(|b| String::from_utf8_lossy(&b).to_string());
            match pw {
                Some(p) if p == want => Ok(p),
                _ => Err("not yet".to_string()),
            }
        },
    )
    .await;
    match res {
        Ok(p) => p,
        Err(e) => panic!(
            "{e}\n--- operator log (tail) ---\n{}",
            tail(&env.logs(), 60)
        ),
    }
}

#[tokio::test]
async fn an_existing_service_is_adopted_by_id() {
    let Some(env) = OperatorEnv::start("chs-adopt").await else {
        return;
    };
    let created = cloud(&env)
        .create_service(&ServicePostRequest {
            name: "legacy".into(),
            provider: "aws".into(),
            region: "us-east-1".into(),
            ..Default::default()
        })
        .await
        .expect("create a service outside Kubernetes");
    let id = created.service.id.clone();
    let mut s =
        json!({"provider": "aws", "region": "us-east-1", "name": "legacy", "serviceId": id});
    env.apply_kind::<ClickHouseService>("legacy", s.clone())
        .await;
    let o = ready(&env, "legacy").await;
    assert_eq!(service_id(&o), id);
    assert_eq!(services(&env).await.len(), 1, "nothing created");
    assert!(
        env.event_reasons("legacy")
            .await
            .iter()
            .any(|r| r == "Adopted")
    );
    // The adopted service now follows the spec.
    s["releaseChannel"] = json!("fast");
    env.apply_kind::<ClickHouseService>("legacy", s).await;
    ready(&env, "legacy").await;
    assert_eq!(service(&env, &id).await["releaseChannel"], "fast");
}

#[tokio::test]
async fn deleting_a_running_service_stops_it_first_then_deletes_it() {
    let Some(env) = OperatorEnv::start("chs-delete").await else {
        return;
    };
    env.apply_kind::<ClickHouseService>("scratch", spec()).await;
    let id = service_id(&ready(&env, "scratch").await);
    assert_eq!(service(&env, &id).await["state"], "running");
    env.delete_kind::<ClickHouseService>("scratch").await;
    env.wait_gone_of::<ClickHouseService>("scratch").await;
    assert!(services(&env).await.is_empty(), "the service is gone");
    let reasons = env.event_reasons("scratch").await;
    for r in ["Stopping", "Deleting", "Deleted"] {
        assert!(reasons.iter().any(|x| x == r), "{r} in {reasons:?}");
    }
    // DELETE was never refused for a running service: the operator stopped it first.
    let refused: Vec<_> = env
        .sim
        .clickhouse_counters()
        .into_iter()
        .filter(|r| r.key.method == "DELETE" && r.key.status == 409)
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
}

#[tokio::test]
async fn a_429_storm_converges_without_hammering_the_api() {
    let Some(env) = OperatorEnv::start("chs-throttle").await else {
        return;
    };
    env.clickhouse_admin(Method::POST, "faults", Some(json!({"kind": "throttle"})))
        .await;
    let storm = Instant::now();
    env.apply_kind::<ClickHouseService>("busy", spec()).await;
    env.wait_condition_of::<ClickHouseService>("busy", "Reconciling", "True", "Throttled")
        .await;
    env.clickhouse_admin(Method::DELETE, "faults", None).await;
    let storm_secs = storm.elapsed().as_secs();
    ready(&env, "busy").await;
    assert_eq!(services(&env).await.len(), 1);
    // Every 429 blocked the key until X-RateLimit-Reset: no retry loop against a throttled API.
    let throttled: u64 = env
        .sim
        .clickhouse_counters()
        .into_iter()
        .filter(|r| r.key.status == 429)
        .map(|r| r.count)
        .sum();
    assert!(
        throttled <= storm_secs / 10 + 3,
        "{throttled} throttled requests in a storm of {storm_secs}s"
    );
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_yields_one_service_with_a_known_password() {
    let Some(env) = OperatorEnv::start("chs-drop").await else {
        return;
    };
    env.clickhouse_admin(
        Method::POST,
        "faults",
        Some(json!({"kind": "dropAfterCommit", "count": 1, "method": "POST", "pathPrefix": "/v1/organizations"})),
    )
    .await;
    env.apply_kind::<ClickHouseService>("orders", spec()).await;
    let o = ready(&env, "orders").await;
    let id = service_id(&o);
    let all = services(&env).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["id"], id.as_str());
    // The generated password was lost with the answer: the operator set a new one it knows.
    let password = connection_password(&env, "orders").await;
    assert!(password_matches(&env, &id, &password).await);
    let reasons = env.event_reasons("orders").await;
    assert!(reasons.iter().any(|r| r == "Adopted"), "{reasons:?}");
    assert!(reasons.iter().any(|r| r == "PasswordSet"), "{reasons:?}");
    let key_secret = env.sim.clickhouse_key().private_key.clone();
    env.assert_logs_free_of(&[&password, &key_secret]);
}
