//! TidbCloudIntegration end to end: the real operator binary against the real kube-apiserver and the
//! simulator. Each test has its own namespace, simulator and operator process; waits are on conditions, with
//! timeouts.

mod support;

use clouddb_operator::api::{
    TidbCloudClusterSpec, TidbCloudIntegration, TidbCloudIntegrationStatus,
};
use clouddb_operator::providers::tidbcloud::models::Integration;
use clouddb_operator::providers::tidbcloud::translate;
use clouddb_sim::SimConfig;
use serde_json::{Value, json};
use support::operator::*;
use support::{TIMEOUT, eventually};

const DATADOG_KEY: &str = "dd-api-key-0123456789abcdef";
const DATADOG_KEY_2: &str = "dd-api-key-rotated-fedcba9876";
const NEWRELIC_KEY: &str = "nr-license-key-0123456789abcdef";
const REJECTED_KEY: &str = "dd-api-key-the-vendor-rejects";

/// The cluster `orders` Ready; returns its cloud id.
async fn ready_cluster(env: &OperatorEnv) -> String {
    env.apply("orders", basic_spec()).await;
    let c = env.wait_ready("orders").await;
    c.status
        .and_then(|s| s.cluster_id)
        .expect("cluster id in status")
}

fn datadog(site: &str) -> Value {
    json!({
        "clusterRef": {"name": "orders"},
        "type": "DATADOG",
        "datadog": {"site": site, "apiKeySecretRef": {"name": "keys", "key": "datadog"}},
    })
}

fn status(i: &TidbCloudIntegration) -> TidbCloudIntegrationStatus {
    i.status.clone().unwrap_or_default()
}

async fn cloud_integrations(env: &OperatorEnv, cluster_id: &str) -> Vec<Integration> {
    env.cloud()
        .list_integrations(cluster_id)
        .await
        .expect("list integrations")
}

async fn wait_active(env: &OperatorEnv, name: &str) -> TidbCloudIntegration {
    env.wait_condition_of::<TidbCloudIntegration>(name, "Ready", "True", "Active")
        .await
}

#[tokio::test]
async fn each_type_becomes_active_with_its_details() {
    let Some(env) = OperatorEnv::start("tcint-types").await else {
        return;
    };
    let cluster_id = ready_cluster(&env).await;
    env.put_secret(
        "keys",
        &[("datadog", DATADOG_KEY), ("newrelic", NEWRELIC_KEY)],
    )
    .await;
    env.apply_kind::<TidbCloudIntegration>("dd", datadog("EU1"))
        .await;
    env.apply_kind::<TidbCloudIntegration>(
        "nr",
        json!({
            "clusterRef": {"name": "orders"},
            "type": "NEWRELIC",
            "newrelic": {"site": "US_OTLP", "apiKeySecretRef": {"name": "keys", "key": "newrelic"}},
        }),
    )
    .await;
    env.apply_kind::<TidbCloudIntegration>(
        "prom",
        json!({"clusterRef": {"name": "orders"}, "type": "PROMETHEUS", "prometheus": {}}),
    )
    .await;

    let dd = status(&wait_active(&env, "dd").await);
    assert_eq!(dd.integration_type.as_deref(), Some("DATADOG"));
    assert_eq!(dd.site.as_deref(), Some("EU1"));
    assert_eq!(dd.state.as_deref(), Some("ACTIVE"));
    assert_eq!(dd.cluster_id.as_deref(), Some(cluster_id.as_str()));
    let masked = dd.masked_api_key.clone().expect("masked key");
    assert!(
        masked.contains('*') && !masked.contains(DATADOG_KEY),
        "{masked}"
    );
    assert!(
        dd.dashboard_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    );
    assert!(
        dd.api_key_fingerprint
            .as_deref()
            .is_some_and(|f| f.starts_with("sha256:"))
    );
    assert_eq!(dd.create_intent, None);

    let nr = status(&wait_active(&env, "nr").await);
    assert_eq!(nr.integration_type.as_deref(), Some("NEWRELIC"));
    assert_eq!(nr.site.as_deref(), Some("US_OTLP"));
    assert!(nr.masked_api_key.is_some());

    let prom = status(&wait_active(&env, "prom").await);
    assert_eq!(prom.integration_type.as_deref(), Some("PROMETHEUS"));
    assert_eq!(prom.state.as_deref(), Some("ACTIVE"));
    assert!(
        prom.scrape_endpoint
            .as_deref()
            .is_some_and(|u| u.contains(&cluster_id))
    );
    assert_eq!(prom.masked_api_key, None);
    assert_eq!(prom.api_key_fingerprint, None);

    let mut kinds: Vec<String> = cloud_integrations(&env, &cluster_id)
        .await
        .iter()
        .map(|i| i.integration_type.as_str().to_string())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["DATADOG", "NEWRELIC", "PROMETHEUS"]);
    for name in ["dd", "nr", "prom"] {
        let reasons = env.event_reasons(name).await;
        assert!(
            reasons.iter().any(|r| r == "Created"),
            "{name}: {reasons:?}"
        );
        let notes = env.event_notes(name).await.join("\n");
        assert!(!notes.contains(DATADOG_KEY) && !notes.contains(NEWRELIC_KEY));
    }
    env.assert_logs_free_of(&[DATADOG_KEY, NEWRELIC_KEY, &env.sim.key().private_key]);
}

#[tokio::test]
async fn key_rotation_and_site_change_recreate_the_integration() {
    let Some(env) = OperatorEnv::start("tcint-rotate").await else {
        return;
    };
    let cluster_id = ready_cluster(&env).await;
    env.put_secret("keys", &[("datadog", DATADOG_KEY)]).await;
    env.apply_kind::<TidbCloudIntegration>("dd", datadog("US1"))
        .await;
    let first = status(&wait_active(&env, "dd").await);
    let first_id = first.integration_id.clone().expect("id");

    // A new key value in the Secret: the Secret watch notices, the integration is re-created with it.
    env.put_secret("keys", &[("datadog", DATADOG_KEY_2)]).await;
    let rotated = env
        .wait_for::<TidbCloudIntegration>(
            "dd",
            "integration re-created with the new key",
            TIMEOUT * 2,
            |i| {
                let s = status(i);
                s.integration_id.as_ref().is_some_and(|id| *id != first_id)
                    && condition_of(i, "Ready").is_some_and(|c| c.status == "True")
            },
        )
        .await;
    let second = status(&rotated);
    assert_ne!(second.api_key_fingerprint, first.api_key_fingerprint);
    assert_ne!(second.masked_api_key, first.masked_api_key);
    let cloud = cloud_integrations(&env, &cluster_id).await;
    assert_eq!(cloud.len(), 1, "the old integration is gone: {cloud:?}");
    assert_eq!(Some(&cloud[0].id), second.integration_id.as_ref());
    let reasons = env.event_reasons("dd").await;
    assert!(reasons.iter().any(|r| r == "Recreating"), "{reasons:?}");
    let notes = env.event_notes("dd").await.join("\n");
    assert!(notes.contains("API key"), "{notes}");

    // A site change re-creates it too.
    let second_id = second.integration_id.clone().expect("id");
    env.merge_kind::<TidbCloudIntegration>("dd", json!({"spec": {"datadog": {"site": "AP1"}}}))
        .await;
    let moved = env
        .wait_for::<TidbCloudIntegration>(
            "dd",
            "integration re-created on site AP1",
            TIMEOUT * 2,
            |i| {
                let s = status(i);
                s.site.as_deref() == Some("AP1")
                    && s.integration_id.as_ref().is_some_and(|id| *id != second_id)
                    && condition_of(i, "Ready").is_some_and(|c| c.status == "True")
                    && s.observed_generation == i.metadata.generation
            },
        )
        .await;
    assert_eq!(cloud_integrations(&env, &cluster_id).await.len(), 1);
    assert!(status(&moved).dashboard_url.is_some());
    env.assert_logs_free_of(&[DATADOG_KEY, DATADOG_KEY_2]);
}

#[tokio::test]
async fn error_state_surfaces_the_service_reason() {
    let sim = SimConfig {
        rejected_integration_keys: vec![REJECTED_KEY.to_string()],
        ..SimConfig::default()
    };
    let Some(env) = OperatorEnv::start_with("tcint-error", sim, &[]).await else {
        return;
    };
    ready_cluster(&env).await;
    env.put_secret("keys", &[("datadog", REJECTED_KEY)]).await;
    env.apply_kind::<TidbCloudIntegration>("dd", datadog("US1"))
        .await;
    let failing = env
        .wait_condition_of::<TidbCloudIntegration>("dd", "Stalled", "True", "IntegrationError")
        .await;
    let s = status(&failing);
    assert_eq!(s.state.as_deref(), Some("ERROR"));
    let reason = s.status_reason.clone().expect("statusReason");
    assert!(reason.contains("rejected the API key"), "{reason}");
    let ready = condition_of(&failing, "Ready").expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "IntegrationError")
    );
    assert!(ready.message.contains(&reason), "{}", ready.message);
    let reasons = env.event_reasons("dd").await;
    assert!(
        reasons.iter().any(|r| r == "IntegrationError"),
        "{reasons:?}"
    );

    // A working key fixes it (re-created).
    env.put_secret("keys", &[("datadog", DATADOG_KEY)]).await;
    let fixed = wait_active(&env, "dd").await;
    assert_eq!(status(&fixed).status_reason, None);
    assert!(condition_of(&fixed, "Stalled").is_none());
    env.assert_logs_free_of(&[REJECTED_KEY, DATADOG_KEY]);
}

#[tokio::test]
async fn deletion_removes_the_integration_unless_retained() {
    let Some(env) = OperatorEnv::start("tcint-delete").await else {
        return;
    };
    let cluster_id = ready_cluster(&env).await;
    env.put_secret("keys", &[("datadog", DATADOG_KEY)]).await;
    let mut kept = datadog("US1");
    kept["deletionPolicy"] = json!("Retain");
    env.apply_kind::<TidbCloudIntegration>("kept", kept).await;
    env.apply_kind::<TidbCloudIntegration>(
        "removed",
        json!({"clusterRef": {"name": "orders"}, "type": "PROMETHEUS"}),
    )
    .await;
    let kept_id = status(&wait_active(&env, "kept").await)
        .integration_id
        .expect("id");
    wait_active(&env, "removed").await;
    assert_eq!(cloud_integrations(&env, &cluster_id).await.len(), 2);

    for name in ["kept", "removed"] {
        env.delete_kind::<TidbCloudIntegration>(name).await;
    }
    for name in ["kept", "removed"] {
        env.wait_gone_of::<TidbCloudIntegration>(name).await;
    }
    let left = cloud_integrations(&env, &cluster_id).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].id, kept_id, "the retained one stays");
    assert!(
        env.event_reasons("kept")
            .await
            .iter()
            .any(|r| r == "Retained")
    );
    assert!(
        env.event_reasons("removed")
            .await
            .iter()
            .any(|r| r == "Deleted")
    );
}

#[tokio::test]
async fn cluster_gone_underneath_is_reported_and_deletion_still_finishes() {
    let Some(env) = OperatorEnv::start("tcint-gone").await else {
        return;
    };
    // 1. The referenced TidbCloudCluster (and its cloud cluster) is deleted under the integration.
    ready_cluster(&env).await;
    env.apply_kind::<TidbCloudIntegration>(
        "prom",
        json!({"clusterRef": {"name": "orders"}, "type": "PROMETHEUS"}),
    )
    .await;
    wait_active(&env, "prom").await;
    env.delete("orders").await;
    env.wait_gone("orders").await;
    env.wait_condition_of::<TidbCloudIntegration>("prom", "Stalled", "True", "ClusterNotFound")
        .await;
    // A cluster already gone counts as done.
    env.delete_kind::<TidbCloudIntegration>("prom").await;
    env.wait_gone_of::<TidbCloudIntegration>("prom").await;

    // 2. A cloud cluster (spec.clusterId) deleted outside Kubernetes.
    let spec: TidbCloudClusterSpec = serde_json::from_value(basic_spec()).expect("a cluster spec");
    let cloud = env.cloud();
    let direct = cloud
        .create_cluster(&translate::create_request(&spec, "direct-db", None))
        .await
        .expect("create cluster");
    let id = direct.cluster_id.clone();
    eventually(
        "the direct cluster to be ACTIVE",
        TIMEOUT,
        async || match cloud.get_cluster(&id).await {
            Ok(c) if c.state.as_str() == "ACTIVE" => Ok(()),
            Ok(c) => Err(c.state.to_string()),
            Err(e) => Err(e.to_string()),
        },
    )
    .await
    .expect("ACTIVE");
    env.apply_kind::<TidbCloudIntegration>("byid", json!({"clusterId": id, "type": "PROMETHEUS"}))
        .await;
    wait_active(&env, "byid").await;
    cloud.delete_cluster(&id).await.expect("delete cluster");
    eventually(
        "the direct cluster to be gone",
        TIMEOUT,
        async || match cloud.get_cluster(&id).await {
            Err(e) if e.is_not_found() => Ok(()),
            Ok(c) => Err(c.state.to_string()),
            Err(e) => Err(e.to_string()),
        },
    )
    .await
    .expect("gone");
    // Nudge a reconcile instead of waiting for the steady poll.
    env.merge_kind::<TidbCloudIntegration>(
        "byid",
        json!({"metadata": {"annotations": {"test/nudge": "1"}}}),
    )
    .await;
    env.wait_condition_of::<TidbCloudIntegration>("byid", "Stalled", "True", "ClusterGone")
        .await;
    env.delete_kind::<TidbCloudIntegration>("byid").await;
    env.wait_gone_of::<TidbCloudIntegration>("byid").await;
}
