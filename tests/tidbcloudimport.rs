//! TidbCloudImport end to end: the real operator binary against the real kube-apiserver and the simulator.
//! Each test has its own namespace, simulator and operator process; waits are on conditions, with timeouts.

mod support;

use std::time::Duration;

use clouddb_operator::api::{TidbCloudCluster, TidbCloudImport};
use clouddb_sim::{Delays, SimConfig};
use serde_json::{Value, json};
use support::TIMEOUT;
use support::operator::*;

const ACCESS_KEY_ID: &str = "AKIAIMPORTTEST0001";
const SECRET_ACCESS_KEY: &str = "imp0rt-Secr3t-Acc3ss-K3y-do-not-log";

/// A simulator whose imports run for `run` (prepare 0.5 s), so a test can watch them.
fn sim_with_import_run(run: Duration) -> SimConfig {
    SimConfig {
        delays: Delays {
            import_run: run,
            ..Delays::fast()
        },
        ..SimConfig::default()
    }
}

/// The cluster `orders` Ready; returns its cloud id.
async fn ready_cluster(env: &OperatorEnv) -> String {
    env.apply("orders", basic_spec()).await;
    let c = env.wait_ready("orders").await;
    c.status
        .and_then(|s| s.cluster_id)
        .expect("cluster id in status")
}

/// An import of `uri` into the cluster `orders`, reading S3 with the access key in Secret `aws`.
fn s3_import(uri: &str) -> Value {
    json!({
        "clusterRef": {"name": "orders"},
        "fileType": "CSV",
        "csvFormat": {"header": true},
        "source": {"type": "S3", "uri": uri, "s3": {"accessKey": {"secretRef": {"name": "aws"}}}},
    })
}

async fn put_aws_secret(env: &OperatorEnv) {
    env.put_secret(
        "aws",
        &[
            ("accessKeyId", ACCESS_KEY_ID),
            ("secretAccessKey", SECRET_ACCESS_KEY),
        ],
    )
    .await;
}

fn status(i: &TidbCloudImport) -> clouddb_operator::api::TidbCloudImportStatus {
    i.status.clone().unwrap_or_default()
}

#[tokio::test]
async fn import_reports_progress_and_completes() {
    let Some(env) = OperatorEnv::start_with(
        "tci-happy",
        sim_with_import_run(Duration::from_secs(6)),
        &[],
    )
    .await
    else {
        return;
    };
    let cluster_id = ready_cluster(&env).await;
    put_aws_secret(&env).await;
    env.apply_kind::<TidbCloudImport>("orders-q1", s3_import("s3://exports/orders/q1/"))
        .await;

    // Progress is visible while it runs.
    let running = env
        .wait_for::<TidbCloudImport>("orders-q1", "import IMPORTING part-way", TIMEOUT, |i| {
            let s = status(i);
            s.state.as_deref() == Some("IMPORTING")
                && s.complete_percent.is_some_and(|p| p > 0 && p < 100)
        })
        .await;
    let ready = condition_of(&running, "Ready").expect("Ready condition");
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "Importing");
    assert!(ready.message.contains('%'), "{}", ready.message);
    assert_eq!(
        condition_of(&running, "Reconciling").map(|c| c.reason),
        Some("Importing".to_string())
    );

    let done = env
        .wait_condition_of::<TidbCloudImport>("orders-q1", "Ready", "True", "Completed")
        .await;
    let s = status(&done);
    assert_eq!(s.state.as_deref(), Some("COMPLETED"));
    assert_eq!(s.complete_percent, Some(100));
    assert_eq!(s.cluster_id.as_deref(), Some(cluster_id.as_str()));
    assert!(s.total_size.is_some() && s.start_time.is_some() && s.completion_time.is_some());
    assert_eq!(s.create_intent, None);
    assert_eq!(s.observed_generation, done.metadata.generation);
    assert!(condition_of(&done, "Reconciling").is_none());
    assert!(condition_of(&done, "Stalled").is_none());

    let imports = env
        .cloud()
        .list_imports(&cluster_id)
        .await
        .expect("list imports");
    assert_eq!(imports.len(), 1, "exactly one import");
    assert_eq!(Some(&imports[0].import_id), s.import_id.as_ref());
    let reasons = env.event_reasons("orders-q1").await;
    for r in ["Created", "Completed"] {
        assert!(reasons.iter().any(|x| x == r), "{r} in {reasons:?}");
    }
    // The access key went to the cloud only: not into logs, Events or the resource.
    env.assert_logs_free_of(&[SECRET_ACCESS_KEY, &env.sim.key().private_key]);
    let notes = env.event_notes("orders-q1").await.join("\n");
    assert!(!notes.contains(SECRET_ACCESS_KEY));
    let stored = serde_json::to_string(&done).expect("json");
    assert!(!stored.contains(SECRET_ACCESS_KEY) && !stored.contains(ACCESS_KEY_ID));
}

#[tokio::test]
async fn failed_import_is_stalled_with_the_service_message() {
    let Some(env) = OperatorEnv::start("tci-fail").await else {
        return;
    };
    ready_cluster(&env).await;
    put_aws_secret(&env).await;
    // The simulator fails imports whose URI contains "sim-fail", at 40 %.
    env.apply_kind::<TidbCloudImport>("broken", s3_import("s3://exports/sim-fail/"))
        .await;
    let failed = env
        .wait_condition_of::<TidbCloudImport>("broken", "Stalled", "True", "ImportFailed")
        .await;
    let s = status(&failed);
    assert_eq!(s.state.as_deref(), Some("FAILED"));
    let service_message = s.message.clone().expect("the service's message in status");
    assert!(service_message.contains("access"), "{service_message}");
    let ready = condition_of(&failed, "Ready").expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "ImportFailed")
    );
    assert!(
        ready.message.contains(&service_message),
        "{}",
        ready.message
    );
    assert_eq!(s.observed_generation, failed.metadata.generation);
    let reasons = env.event_reasons("broken").await;
    assert!(reasons.iter().any(|r| r == "ImportFailed"), "{reasons:?}");
    // A failed import is over: deleting the resource needs no cloud call and does not hang.
    env.delete_kind::<TidbCloudImport>("broken").await;
    env.wait_gone_of::<TidbCloudImport>("broken").await;
}

#[tokio::test]
async fn deleting_a_running_import_cancels_it_and_waits_for_canceled() {
    let Some(env) = OperatorEnv::start_with(
        "tci-cancel",
        sim_with_import_run(Duration::from_secs(120)),
        &[],
    )
    .await
    else {
        return;
    };
    let cluster_id = ready_cluster(&env).await;
    put_aws_secret(&env).await;
    env.apply_kind::<TidbCloudImport>("long", s3_import("s3://exports/big/"))
        .await;
    let running = env
        .wait_for::<TidbCloudImport>("long", "import IMPORTING", TIMEOUT, |i| {
            status(i).state.as_deref() == Some("IMPORTING")
        })
        .await;
    let import_id = status(&running).import_id.expect("import id");

    env.delete_kind::<TidbCloudImport>("long").await;
    env.wait_gone_of::<TidbCloudImport>("long").await;
    // The finalizer went only once the cloud said CANCELED.
    let import = env
        .cloud()
        .get_import(&cluster_id, &import_id)
        .await
        .expect("get import");
    assert_eq!(import.state.as_str(), "CANCELED");
    let reasons = env.event_reasons("long").await;
    for r in ["Canceling", "Canceled"] {
        assert!(reasons.iter().any(|x| x == r), "{r} in {reasons:?}");
    }
    assert!(
        env.rejected_writes().is_empty(),
        "{:?}",
        env.rejected_writes()
    );
}

#[tokio::test]
async fn import_waits_for_its_cluster_to_become_ready() {
    let Some(env) = OperatorEnv::start("tci-wait").await else {
        return;
    };
    // A paused cluster is Ready (as asked) but cannot take an import.
    let mut spec = basic_spec();
    spec["paused"] = json!(true);
    env.apply("orders", spec).await;
    let paused = env
        .wait_condition("orders", "Ready", "True", "Paused")
        .await;
    let cluster_id = paused
        .status
        .and_then(|s| s.cluster_id)
        .expect("cluster id");
    put_aws_secret(&env).await;
    env.apply_kind::<TidbCloudImport>("later", s3_import("s3://exports/later/"))
        .await;
    let waiting = env
        .wait_condition_of::<TidbCloudImport>("later", "Reconciling", "True", "WaitingForCluster")
        .await;
    let ready = condition_of(&waiting, "Ready").expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "WaitingForCluster")
    );
    assert!(ready.message.contains("PAUSED"), "{}", ready.message);
    assert!(status(&waiting).import_id.is_none());
    assert!(
        env.cloud()
            .list_imports(&cluster_id)
            .await
            .expect("list")
            .is_empty(),
        "nothing is created while waiting"
    );

    // Resuming the cluster lets the import run (the cluster watch wakes it up).
    env.patch_spec("orders", json!({"paused": false})).await;
    env.wait_condition_of::<TidbCloudImport>("later", "Ready", "True", "Completed")
        .await;
    assert_eq!(
        env.cloud()
            .list_imports(&cluster_id)
            .await
            .expect("list")
            .len(),
        1
    );
}

#[tokio::test]
async fn missing_source_secret_stalls_until_it_appears() {
    let Some(env) = OperatorEnv::start("tci-secret").await else {
        return;
    };
    let cluster_id = ready_cluster(&env).await;
    env.apply_kind::<TidbCloudImport>("nosecret", s3_import("s3://exports/orders/"))
        .await;
    let stalled = env
        .wait_condition_of::<TidbCloudImport>(
            "nosecret",
            "Stalled",
            "True",
            "SourceCredentialsMissing",
        )
        .await;
    let message = condition_of(&stalled, "Stalled").expect("Stalled").message;
    assert!(message.contains("aws"), "names the Secret: {message}");
    assert!(
        env.cloud()
            .list_imports(&cluster_id)
            .await
            .expect("list")
            .is_empty()
    );
    let reasons = env.event_reasons("nosecret").await;
    assert!(
        reasons.iter().any(|r| r == "SourceCredentialsMissing"),
        "{reasons:?}"
    );

    // The Secret appearing is enough (the Secret watch wakes the import up).
    put_aws_secret(&env).await;
    let done = env
        .wait_condition_of::<TidbCloudImport>("nosecret", "Ready", "True", "Completed")
        .await;
    assert!(condition_of(&done, "Stalled").is_none());
    env.assert_logs_free_of(&[SECRET_ACCESS_KEY]);
}

#[tokio::test]
async fn bad_references_give_clear_conditions_and_never_block_deletion() {
    let Some(env) = OperatorEnv::start("tci-badref").await else {
        return;
    };
    put_aws_secret(&env).await;
    env.apply_kind::<TidbCloudImport>("missing", s3_import("s3://exports/a/"))
        .await;
    let mut foreign = s3_import("s3://exports/b/");
    foreign["clusterRef"] = json!({"name": "orders", "namespace": "someone-else"});
    env.apply_kind::<TidbCloudImport>("foreign", foreign).await;
    let mut by_id = s3_import("s3://exports/c/");
    by_id.as_object_mut().expect("object").remove("clusterRef");
    by_id["clusterId"] = json!("1234567890123");
    env.apply_kind::<TidbCloudImport>("byid", by_id).await;

    let missing = env
        .wait_condition_of::<TidbCloudImport>("missing", "Stalled", "True", "ClusterNotFound")
        .await;
    assert!(
        condition_of(&missing, "Ready")
            .is_some_and(|c| c.status == "False" && c.message.contains("orders")),
        "{:?}",
        missing.status
    );
    env.wait_condition_of::<TidbCloudImport>("foreign", "Stalled", "True", "InvalidClusterRef")
        .await;
    env.wait_condition_of::<TidbCloudImport>("byid", "Stalled", "True", "ClusterNotFound")
        .await;

    for name in ["missing", "foreign", "byid"] {
        env.delete_kind::<TidbCloudImport>(name).await;
    }
    for name in ["missing", "foreign", "byid"] {
        env.wait_gone_of::<TidbCloudImport>(name).await;
    }
    // No cluster resource was ever involved.
    assert!(
        env.api::<TidbCloudCluster>()
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_gives_exactly_one_import() {
    let Some(env) = OperatorEnv::start("tci-drop").await else {
        return;
    };
    let cluster_id = ready_cluster(&env).await;
    put_aws_secret(&env).await;
    // The simulator creates the import, then drops the connection before answering.
    env.add_fault(json!({
        "kind": "dropAfterCommit",
        "method": "POST",
        "pathPrefix": format!("/v1beta1/clusters/{cluster_id}/imports"),
        "count": 1,
    }))
    .await;
    env.apply_kind::<TidbCloudImport>("once", s3_import("s3://exports/once/"))
        .await;
    let done = env
        .wait_condition_of::<TidbCloudImport>("once", "Ready", "True", "Completed")
        .await;
    let imports = env
        .cloud()
        .list_imports(&cluster_id)
        .await
        .expect("list imports");
    assert_eq!(imports.len(), 1, "exactly one import: {imports:?}");
    assert_eq!(
        Some(&imports[0].import_id),
        status(&done).import_id.as_ref()
    );
    let reasons = env.event_reasons("once").await;
    assert!(reasons.iter().any(|r| r == "Adopted"), "{reasons:?}");
    // The fault fired (a counted rule is dropped once used up).
    let faults = env.sim_admin(reqwest::Method::GET, "faults", None).await;
    assert!(
        faults["faults"].as_array().is_some_and(|f| f.is_empty()),
        "{faults}"
    );
}
