//! See before it writes, end to end (issue 18): the real operator binary against the real kube-apiserver and
//! the simulator. Adoption of a differing cluster writes nothing until approved; `driftPolicy: Report` writes
//! nothing; a paused object makes no call at all over two steady intervals; namespace default credentials take
//! precedence over the operator's and rotate without a restart.

mod support;

use clouddb_sim::{ApiKey, SimConfig};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::operator::*;

/// Calls the simulator counted for API key `key` that `pred` selects (method, route).
fn calls(env: &OperatorEnv, key: &str, pred: impl Fn(&str, &str) -> bool) -> u64 {
    env.sim
        .counters()
        .into_iter()
        .filter(|r| r.key.key == key && pred(r.key.method, &r.key.route))
        .map(|r| r.count)
        .sum()
}

fn writes(env: &OperatorEnv) -> u64 {
    let key = env.sim.key().public_key.clone();
    calls(env, &key, |m, _| m != "GET")
}

fn reads(env: &OperatorEnv, key: &str) -> u64 {
    calls(env, key, |m, _| m == "GET")
}

/// Waits until the operator has read the cloud `n` more times with `key` (its own clock: at rest, one full
/// list per steady interval).
async fn wait_reads(env: &OperatorEnv, key: &str, n: u64) {
    let start = reads(env, key);
    support::eventually(
        format!("{n} more reads with key {key}"),
        support::TIMEOUT,
        async || {
            let now = reads(env, key);
            if now >= start + n {
                Ok(())
            } else {
                Err(format!("{} reads", now - start))
            }
        },
    )
    .await
    .expect("the operator keeps reading");
}

async fn annotate(env: &OperatorEnv, name: &str, key: &str, value: Option<&str>) {
    env.tcc
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .expect("annotate");
}

fn status_cluster_id(o: &clouddb_operator::api::tidbcloudcluster::TidbCloudCluster) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.cluster_id.clone())
        .expect("status.clusterId")
}

#[tokio::test]
async fn adopting_a_differing_cluster_writes_nothing_until_approved() {
    let Some(env) =
        OperatorEnv::start_with("ctl-adopt", SimConfig::default(), &["--poll-steady", "2s"]).await
    else {
        return;
    };
    let cloud = env.cloud();
    let req = clouddb_operator::providers::tidbcloud::translate::create_request(
        &serde_json::from_value(basic_spec()).expect("spec"),
        "legacy-db",
        Some(secrecy::SecretString::from("legacy-Password-1")),
    );
    let created = cloud.create_cluster(&req).await.expect("create outside");
    support::eventually("the cluster to be ACTIVE", support::TIMEOUT, async || {
        let c = cloud
            .get_cluster(&created.cluster_id)
            .await
            .map_err(|e| e.to_string())?;
        (c.state.as_str() == "ACTIVE")
            .then_some(())
            .ok_or(c.state.as_str().to_string())
    })
    .await
    .expect("active");
    let before = writes(&env);
    let mut spec = basic_spec();
    spec["clusterId"] = json!(created.cluster_id);
    spec["displayName"] = json!("legacy-db");
    spec["tidb"]["nodeCount"] = json!(3);
    env.apply("legacy", spec).await;
    let o = env
        .wait_condition("legacy", "Stalled", "True", "AdoptionPending")
        .await;
    let message = condition(&o, "Stalled").expect("Stalled").message.clone();
    assert!(
        message.contains("TiDB") && message.contains("clouddb.dev/approve-adoption=1"),
        "the diff and how to approve it: {message}"
    );
    assert!(
        env.event_reasons("legacy")
            .await
            .iter()
            .any(|r| r == "AdoptionPending"),
        "a Warning Event"
    );
    let key = env.sim.key().public_key.clone();
    wait_reads(&env, &key, 2).await;
    assert_eq!(writes(&env), before, "no write before the approval");
    assert_eq!(
        cloud
            .get_cluster(&created.cluster_id)
            .await
            .expect("get")
            .tidb_node_count(),
        2
    );

    annotate(&env, "legacy", "clouddb.dev/approve-adoption", Some("1")).await;
    let o = env.wait_ready("legacy").await;
    assert_eq!(status_cluster_id(&o), created.cluster_id);
    assert_eq!(
        o.status.as_ref().and_then(|s| s.converged_generation),
        Some(1)
    );
    assert_eq!(
        cloud
            .get_cluster(&created.cluster_id)
            .await
            .expect("get")
            .tidb_node_count(),
        3,
        "the approved diff applied"
    );
    assert!(
        env.event_reasons("legacy")
            .await
            .iter()
            .any(|r| r == "AdoptionApproved")
    );
}

#[tokio::test]
async fn report_drift_policy_reports_and_writes_nothing() {
    let Some(env) =
        OperatorEnv::start_with("ctl-drift", SimConfig::default(), &["--poll-steady", "2s"]).await
    else {
        return;
    };
    let mut spec = basic_spec();
    spec["driftPolicy"] = json!("Report");
    env.apply("orders", spec).await;
    let id = status_cluster_id(&env.wait_ready("orders").await);
    let cloud = env.cloud();
    let change = clouddb_operator::controllers::tidbcloudcluster::decide::Change {
        tidb: Some(("8C16G".into(), 4)),
        ..Default::default()
    };
    cloud
        .update_cluster(
            &id,
            &clouddb_operator::providers::tidbcloud::translate::update_request(&change),
        )
        .await
        .expect("scale outside Kubernetes");
    let before = writes(&env);
    let o = env
        .wait_condition("orders", "Drifted", "True", "Drifted")
        .await;
    let message = condition(&o, "Drifted").expect("Drifted").message.clone();
    assert!(message.contains("TiDB"), "the field diff: {message}");
    assert_eq!(
        condition(&o, "Ready").map(|c| (c.status.as_str(), c.reason.as_str())),
        Some(("True", "Drifted"))
    );
    let key = env.sim.key().public_key.clone();
    wait_reads(&env, &key, 2).await;
    assert_eq!(writes(&env), before, "Report never writes");
    assert!(
        env.event_reasons("orders")
            .await
            .iter()
            .any(|r| r == "Drifted")
    );
    let c = cloud.get_cluster(&id).await.expect("get");
    assert_eq!(c.tidb_node_count(), 4, "the drift stays");

    // A change of the spec is applied in full; the drift report goes.
    let mut spec = basic_spec();
    spec["driftPolicy"] = json!("Report");
    spec["displayName"] = json!("orders-renamed");
    env.apply("orders", spec).await;
    support::eventually("the new spec applied", support::TIMEOUT * 2, async || {
        let c = cloud.get_cluster(&id).await.map_err(|e| e.to_string())?;
        let o = env.tcc.get("orders").await.map_err(|e| e.to_string())?;
        let drifted = condition(&o, "Drifted").is_some();
        if c.display_name == "orders-renamed" && c.tidb_node_count() == 2 && !drifted {
            Ok(())
        } else {
            Err(format!(
                "{} {} drifted={drifted}",
                c.display_name,
                c.tidb_node_count()
            ))
        }
    })
    .await
    .expect("applied");
}

#[tokio::test]
async fn a_paused_cluster_makes_no_call_over_two_steady_intervals() {
    let witness_key = ApiKey {
        public_key: "WITNESSKEY01".into(),
        private_key: "witness-private-key-0123456789".into(),
    };
    let mut sim = SimConfig::default();
    let Some(env) = ({
        sim.keys = vec![ApiKey {
            public_key: "PAUSEDKEY001".into(),
            private_key: "paused-private-key-0123456789".into(),
        }];
        sim.keys.push(witness_key.clone());
        OperatorEnv::start_with("ctl-pause", sim, &["--poll-steady", "2s"]).await
    }) else {
        return;
    };
    env.put_secret(
        "witness-key",
        &[
            ("publicKey", &witness_key.public_key),
            ("privateKey", &witness_key.private_key),
        ],
    )
    .await;
    let mut witness = basic_spec();
    witness["credentials"] = json!({"secretRef": {"name": "witness-key"}});
    env.apply("witness", witness).await;
    env.apply("quiet", basic_spec()).await;
    env.wait_ready("witness").await;
    env.wait_ready("quiet").await;

    annotate(&env, "quiet", "clouddb.dev/reconcile", Some("paused")).await;
    let o = env
        .wait_condition("quiet", "Suspended", "True", "ReconcilePaused")
        .await;
    assert_eq!(
        condition(&o, "Ready").map(|c| c.status.as_str()),
        Some("True"),
        "Ready stays as it was"
    );
    let key = env.sim.key().public_key.clone();
    // A read already in flight when the pause arrived may still land; from the next witness read on, none.
    wait_reads(&env, &witness_key.public_key, 1).await;
    let before = calls(&env, &key, |_, _| true);
    wait_reads(&env, &witness_key.public_key, 2).await;
    assert_eq!(
        calls(&env, &key, |_, _| true),
        before,
        "a paused object makes no call (the witness, on another key, read twice meanwhile)"
    );

    annotate(&env, "quiet", "clouddb.dev/reconcile", None).await;
    env.wait("quiet", "Suspended gone", support::TIMEOUT, |o| {
        condition(o, "Suspended").is_none()
            && condition(o, "Ready").is_some_and(|c| c.status == "True")
    })
    .await;
    assert!(
        calls(&env, &key, |_, _| true) > before,
        "resumed: the cloud is read again"
    );
}

fn key(name: &str) -> ApiKey {
    ApiKey {
        public_key: format!("{name}KEY0001").to_uppercase(),
        private_key: format!("{name}-private-key-0123456789"),
    }
}

fn creates_by(env: &OperatorEnv, key: &ApiKey) -> u64 {
    calls(env, &key.public_key, |m, r| {
        m == "POST" && r.ends_with("/clusters")
    })
}

#[tokio::test]
async fn namespace_credentials_come_before_the_operators_and_rotate() {
    // keys[0] is the simulator's first key: the test namespace's `tidbcloud-credentials` (the namespace
    // default); the operator's default is another key in another namespace.
    let (ns_key, op_key, rotated, named) = (key("ns"), key("op"), key("rotated"), key("named"));
    let sim = SimConfig {
        keys: vec![
            ns_key.clone(),
            op_key.clone(),
            rotated.clone(),
            named.clone(),
        ],
        ..SimConfig::default()
    };
    let Some(mut env) = OperatorEnv::start_with("ctl-nscreds", sim, &["--poll-steady", "2s"]).await
    else {
        return;
    };
    let op_ns = env.operator_ns.name().to_string();
    let op_secrets: Api<Secret> = Api::namespaced(env.env.admin.clone(), &op_ns);
    let body = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "operator-default"},
        "stringData": {"publicKey": op_key.public_key, "privateKey": op_key.private_key}});
    op_secrets
        .patch(
            "operator-default",
            &PatchParams::apply("test").force(),
            &Patch::Apply(&body),
        )
        .await
        .expect("operator default Secret");
    let default_ref = format!("{op_ns}/operator-default");
    env.restart_with(&["--poll-steady", "2s", "--default-credentials", &default_ref]);

    // No credentials named: the namespace's Secret wins over the operator's.
    env.apply("tenant", basic_spec()).await;
    env.wait_ready("tenant").await;
    assert_eq!(
        creates_by(&env, &ns_key),
        1,
        "created with the namespace key"
    );
    assert_eq!(creates_by(&env, &op_key), 0, "never with the operator key");
    let secret = env.secret(CREDENTIALS).await.expect("namespace Secret");
    assert!(
        secret
            .metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == "clouddb.dev/in-use"),
        "the namespace Secret is protected while used"
    );

    // A Secret the object names wins over the namespace's.
    env.put_secret(
        "team-key",
        &[
            ("publicKey", &named.public_key),
            ("privateKey", &named.private_key),
        ],
    )
    .await;
    let mut spec = basic_spec();
    spec["credentials"] = json!({"secretRef": {"name": "team-key"}});
    env.apply("explicit", spec).await;
    env.wait_ready("explicit").await;
    assert_eq!(creates_by(&env, &named), 1, "created with the named key");

    // Rotating the namespace Secret takes effect without a restart.
    let before = reads(&env, &rotated.public_key);
    env.put_secret(
        CREDENTIALS,
        &[
            ("publicKey", &rotated.public_key),
            ("privateKey", &rotated.private_key),
        ],
    )
    .await;
    support::eventually("the rotated key to be used", support::TIMEOUT, async || {
        let now = reads(&env, &rotated.public_key);
        (now > before).then_some(()).ok_or(format!("{now} reads"))
    })
    .await
    .expect("rotation without restart");
    assert_eq!(creates_by(&env, &op_key), 0);
    env.assert_logs_free_of(&[
        &ns_key.private_key,
        &op_key.private_key,
        &rotated.private_key,
        &named.private_key,
    ]);

    // Deleting the last object that uses it releases the namespace Secret's protection.
    env.patch_spec("tenant", json!({"deletionPolicy": "Delete"}))
        .await;
    env.delete("tenant").await;
    env.wait_gone("tenant").await;
    let secret = env.secret(CREDENTIALS).await.expect("namespace Secret");
    assert!(
        !secret
            .metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == "clouddb.dev/in-use"),
        "released"
    );
}
