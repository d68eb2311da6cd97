//! TidbCloudCluster end to end: the real operator binary against the real kube-apiserver and the simulator.
//! Each test has its own namespace, simulator and operator process.

mod support;

use support::operator::*;

#[tokio::test]
async fn create_reaches_ready_with_endpoints_and_connection_secret() {
    let Some(env) = OperatorEnv::start("tcc-create").await else {
        return;
    };
    env.apply("orders", basic_spec()).await;
    let o = env.wait_ready("orders").await;
    let status = o.status.expect("status");
    let id = status.cluster_id.expect("clusterId in status");
    assert_eq!(status.state.as_deref(), Some("ACTIVE"));
    assert!(!status.endpoints.is_empty(), "endpoints reported");
    assert_eq!(env.clusters_named("orders").await.len(), 1);
    let secret = env
        .secret("orders-connection")
        .await
        .expect("connection Secret");
    let data = secret.data.expect("data");
    for k in ["host", "port", "username", "password", "uri"] {
        assert!(data.contains_key(k), "connection Secret has {k}");
    }
    let password = String::from_utf8(data["password"].0.clone()).expect("utf8");
    assert!(password.len() >= 16, "generated password is strong");
    // The cloud cluster really has that password.
    let verified = env
        .sim_admin(
            reqwest::Method::POST,
            &format!("dedicated/clusters/{id}:verifyRootPassword"),
            Some(serde_json::json!({"rootPassword": password})),
        )
        .await;
    assert_eq!(verified["match"], true, "{verified}");
    assert!(
        env.rejected_writes().is_empty(),
        "{:?}",
        env.rejected_writes()
    );
    env.assert_logs_free_of(&[&password, &env.sim.key().private_key]);
}

use std::time::Duration;

use clouddb_sim::{QuotaConfig, SimConfig};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use serde_json::json;

fn status_cluster_id(o: &clouddb_operator::api::tidbcloudcluster::TidbCloudCluster) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.cluster_id.clone())
        .expect("status.clusterId")
}

#[tokio::test]
async fn scaling_tiflash_display_name_pause_and_resume_converge_without_rejected_writes() {
    let Some(env) = OperatorEnv::start("tcc-update").await else {
        return;
    };
    env.apply("inventory", basic_spec()).await;
    let id = status_cluster_id(&env.wait_ready("inventory").await);
    let cloud = env.cloud();

    // Scale TiDB and TiKV, rename, add TiFlash: one apply, several differences.
    let mut spec = basic_spec();
    spec["displayName"] = json!("inventory-prod");
    spec["tidb"]["nodeCount"] = json!(3);
    spec["tikv"]["nodeCount"] = json!(6);
    spec["tiflash"] = json!({"nodeSpecKey": "8C64G", "nodeCount": 1, "storageSizeGi": 500});
    env.apply("inventory", spec.clone()).await;
    env.wait_ready("inventory").await;
    let c = cloud.get_cluster(&id).await.expect("get");
    assert_eq!(c.display_name, "inventory-prod");
    assert_eq!(c.tidb_node_count(), 3);
    assert_eq!(c.tikv_node_setting.node_count, 6);
    assert_eq!(
        c.tiflash_node_setting.as_ref().map(|t| t.node_count),
        Some(1)
    );

    // Remove TiFlash and pause in the same apply: the update goes first, then the pause.
    spec.as_object_mut().expect("object").remove("tiflash");
    spec["paused"] = json!(true);
    env.apply("inventory", spec.clone()).await;
    let o = env.wait_ready("inventory").await;
    assert_eq!(
        condition(&o, "Ready").map(|c| c.reason.as_str()),
        Some("Paused")
    );
    assert_eq!(
        condition(&o, "Available").map(|c| c.status.as_str()),
        Some("False")
    );
    let c = cloud.get_cluster(&id).await.expect("get");
    assert_eq!(c.state.as_str(), "PAUSED");
    assert!(
        c.tiflash_node_setting
            .as_ref()
            .is_none_or(|t| t.node_count == 0),
        "TiFlash removed"
    );

    // A change while paused: resume, apply, pause again.
    spec["tidb"]["nodeCount"] = json!(2);
    env.apply("inventory", spec.clone()).await;
    env.wait_ready("inventory").await;
    let c = cloud.get_cluster(&id).await.expect("get");
    assert_eq!((c.state.as_str(), c.tidb_node_count()), ("PAUSED", 2));

    // Resume.
    spec["paused"] = json!(false);
    env.apply("inventory", spec).await;
    let o = env.wait_ready("inventory").await;
    assert_eq!(
        condition(&o, "Available").map(|c| c.status.as_str()),
        Some("True")
    );
    assert_eq!(
        cloud.get_cluster(&id).await.expect("get").state.as_str(),
        "ACTIVE"
    );

    let reasons = env.event_reasons("inventory").await;
    for r in ["Created", "Updating", "Pausing", "Resuming"] {
        assert!(reasons.iter().any(|x| x == r), "Event {r} in {reasons:?}");
    }
    assert!(
        env.rejected_writes().is_empty(),
        "writes rejected by the cloud: {:?}",
        env.rejected_writes()
    );
    assert_eq!(env.clusters_named("inventory-prod").await.len(), 1);
}

#[tokio::test]
async fn root_password_follows_the_referenced_secret() {
    let Some(env) = OperatorEnv::start("tcc-password").await else {
        return;
    };
    env.put_secret("root-pw", &[("password", "first-Secret-123")])
        .await;
    let mut spec = basic_spec();
    spec["rootPassword"] = json!({"secretRef": {"name": "root-pw", "key": "password"}});
    env.apply("billing", spec).await;
    let id = status_cluster_id(&env.wait_ready("billing").await);
    let verify = |pw: &'static str| {
        let env = &env;
        let id = id.clone();
        async move {
            env.sim_admin(
                reqwest::Method::POST,
                &format!("dedicated/clusters/{id}:verifyRootPassword"),
                Some(json!({"rootPassword": pw})),
            )
            .await["match"]
                == true
        }
    };
    assert!(verify("first-Secret-123").await);

    env.put_secret("root-pw", &[("password", "second-Secret-456")])
        .await;
    let secret_has = |want: &'static str| {
        let env = &env;
        async move {
            env.secret("billing-connection")
                .await
                .and_then(|s| s.data)
                .and_then(|d| d.get("password").map(|p| p.0.clone()))
                == Some(want.as_bytes().to_vec())
        }
    };
    support::eventually(
        "the connection Secret to carry the new password",
        support::TIMEOUT,
        async || {
            if secret_has("second-Secret-456").await {
                Ok(())
            } else {
                Err("old password")
            }
        },
    )
    .await
    .expect("password rotated");
    assert!(
        verify("second-Secret-456").await,
        "the cloud cluster has the new password"
    );
    assert!(
        env.event_reasons("billing")
            .await
            .iter()
            .any(|r| r == "PasswordReset")
    );
    env.assert_logs_free_of(&[
        "first-Secret-123",
        "second-Secret-456",
        &env.sim.key().private_key,
    ]);
    for note in env.event_notes("billing").await {
        assert!(
            !note.contains("Secret-123") && !note.contains("Secret-456"),
            "Event leaks a password: {note}"
        );
    }
    assert!(
        env.rejected_writes().is_empty(),
        "{:?}",
        env.rejected_writes()
    );
}

#[tokio::test]
async fn invalid_node_spec_stalls_with_an_event_then_recovers_when_fixed() {
    let Some(env) = OperatorEnv::start("tcc-invalid").await else {
        return;
    };
    let mut spec = basic_spec();
    spec["tidb"]["nodeSpecKey"] = json!("99C999G");
    env.apply("broken", spec.clone()).await;
    let o = env
        .wait_condition("broken", "Stalled", "True", "InvalidSpec")
        .await;
    let msg = condition(&o, "Stalled")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        msg.contains("99C999G") && msg.contains("8C16G"),
        "message names the allowed values: {msg}"
    );
    assert_eq!(
        o.status.as_ref().and_then(|s| s.observed_generation),
        o.metadata.generation
    );
    assert!(
        env.event_reasons("broken")
            .await
            .iter()
            .any(|r| r == "InvalidSpec")
    );
    assert!(
        env.clusters_named("broken").await.is_empty(),
        "nothing created for an impossible spec"
    );
    let creates = env
        .sim
        .counters()
        .into_iter()
        .filter(|r| r.key.method == "POST")
        .count();
    assert_eq!(creates, 0, "no write spent on an impossible spec");

    spec["tidb"]["nodeSpecKey"] = json!("8C16G");
    env.apply("broken", spec).await;
    let o = env.wait_ready("broken").await;
    assert!(condition(&o, "Stalled").is_none(), "Stalled cleared");
}

#[tokio::test]
async fn adopts_an_existing_cluster_by_id_without_creating_another() {
    let Some(env) = OperatorEnv::start("tcc-adopt").await else {
        return;
    };
    let cloud = env.cloud();
    let req = clouddb_operator::providers::tidbcloud::translate::create_request(
        &serde_json::from_value(basic_spec()).expect("spec"),
        "legacy-db",
        Some(secrecy::SecretString::from("legacy-Password-1")),
    );
    let created = cloud
        .create_cluster(&req)
        .await
        .expect("create outside Kubernetes");
    let mut spec = basic_spec();
    spec["clusterId"] = json!(created.cluster_id);
    spec["displayName"] = json!("legacy-db");
    env.apply("legacy", spec).await;
    let o = env.wait_ready("legacy").await;
    assert_eq!(status_cluster_id(&o), created.cluster_id);
    assert_eq!(env.clusters_named("legacy-db").await.len(), 1);
    assert!(
        env.event_reasons("legacy")
            .await
            .iter()
            .any(|r| r == "Adopted")
    );
    // The password of an adopted cluster is left alone without spec.rootPassword.
    let verified = env
        .sim_admin(
            reqwest::Method::POST,
            &format!(
                "dedicated/clusters/{}:verifyRootPassword",
                created.cluster_id
            ),
            Some(json!({"rootPassword": "legacy-Password-1"})),
        )
        .await;
    assert_eq!(verified["match"], true);
}

#[tokio::test]
async fn drift_made_in_the_cloud_is_corrected_with_an_event() {
    let sim = SimConfig::default();
    let Some(env) = OperatorEnv::start_with("tcc-drift", sim, &["--poll-steady", "2s"]).await
    else {
        return;
    };
    env.apply("orders", basic_spec()).await;
    let id = status_cluster_id(&env.wait_ready("orders").await);
    let cloud = env.cloud();
    // Someone scales TiDB in the console.
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
    support::eventually(
        "the drift to be corrected",
        support::TIMEOUT * 2,
        async || {
            let c = cloud.get_cluster(&id).await.map_err(|e| e.to_string())?;
            if c.tidb_node_count() == 2 && c.state.as_str() == "ACTIVE" {
                Ok(())
            } else {
                Err(format!("{} nodes, {}", c.tidb_node_count(), c.state))
            }
        },
    )
    .await
    .expect("drift corrected");
    assert!(
        env.event_reasons("orders")
            .await
            .iter()
            .any(|r| r == "DriftCorrected")
    );
}

/// The public endpoint setting of `id` in the simulator: (enabled, sorted (cidr, description)).
async fn public_endpoint_in_cloud(
    cloud: &clouddb_operator::providers::tidbcloud::client::TidbCloudClient,
    id: &str,
) -> (bool, Vec<(String, String)>) {
    let s = cloud
        .get_public_endpoint_setting(id)
        .await
        .expect("get publicEndpointSetting");
    let mut list: Vec<(String, String)> = s
        .ip_access_list
        .into_iter()
        .map(|e| (e.cidr_notation, e.description))
        .collect();
    list.sort();
    (s.enabled.unwrap_or(true), list)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(c, d)| (c.to_string(), d.to_string()))
        .collect();
    v.sort();
    v
}

fn public_endpoint_patches(env: &OperatorEnv) -> u64 {
    env.sim
        .counters()
        .into_iter()
        .filter(|r| r.key.method == "PATCH" && r.key.route.contains("publicEndpointSetting"))
        .map(|r| r.count)
        .sum()
}

#[tokio::test]
async fn public_endpoint_ip_access_list_is_applied_as_a_diff_and_drift_is_corrected() {
    let sim = SimConfig::default();
    let Some(env) = OperatorEnv::start_with("tcc-pubep", sim, &["--poll-steady", "2s"]).await
    else {
        return;
    };
    let mut spec = basic_spec();
    spec["publicEndpoint"] = json!({"ipAccessList": [
        {"cidr": "203.0.113.0/24", "description": "office"},
        {"cidr": "198.51.100.7/32"},
    ]});
    env.apply("edge", spec.clone()).await;
    let o = env.wait_ready("edge").await;
    let id = status_cluster_id(&o);
    let cloud = env.cloud();
    let want = pairs(&[("203.0.113.0/24", "office"), ("198.51.100.7/32", "")]);
    assert_eq!(public_endpoint_in_cloud(&cloud, &id).await, (true, want));
    let pe = o
        .status
        .as_ref()
        .and_then(|s| s.public_endpoint.clone())
        .expect("status.publicEndpoint");
    assert!(pe.enabled && pe.ip_access_list.len() == 2, "{pe:?}");
    let patches = public_endpoint_patches(&env);
    assert_eq!(patches, 1, "one PATCH applies the whole list");

    // Change: one removed, one added, one re-described.
    spec["publicEndpoint"] = json!({"ipAccessList": [
        {"cidr": "203.0.113.0/24", "description": "office (new)"},
        {"cidr": "192.0.2.0/28", "description": "vpn"},
    ]});
    env.apply("edge", spec.clone()).await;
    let want = pairs(&[("203.0.113.0/24", "office (new)"), ("192.0.2.0/28", "vpn")]);
    let o = env
        .wait(
            "edge",
            "the new IP access list in status",
            support::TIMEOUT * 2,
            |o| {
                condition(o, "Ready").is_some_and(|c| c.status == "True")
                    && o.status.as_ref().and_then(|s| s.observed_generation)
                        == o.metadata.generation
                    && o.status
                        .as_ref()
                        .and_then(|s| s.public_endpoint.as_ref())
                        .is_some_and(|p| p.ip_access_list.iter().any(|e| e.cidr == "192.0.2.0/28"))
            },
        )
        .await;
    assert_eq!(
        public_endpoint_in_cloud(&cloud, &id).await,
        (true, want.clone())
    );
    assert!(o.status.is_some());
    // Events of one reason are one series (its first note stays): the first diff is named there.
    let notes = env.event_notes("edge").await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("public endpoint: allow 203.0.113.0/24, 198.51.100.7/32")),
        "the Event names the diff: {notes:?}"
    );

    // Drift: someone opens the endpoint to the world in the console.
    cloud
        .update_public_endpoint_setting(
            &id,
            &clouddb_operator::providers::tidbcloud::models::PublicEndpointSetting {
                enabled: Some(true),
                ip_access_list: vec![],
                ..Default::default()
            },
        )
        .await
        .expect("change outside Kubernetes");
    support::eventually(
        "the IP access list drift to be corrected",
        support::TIMEOUT * 2,
        async || {
            let got = public_endpoint_in_cloud(&cloud, &id).await;
            if got == (true, want.clone()) {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        },
    )
    .await
    .expect("drift corrected");
    assert!(
        env.event_reasons("edge")
            .await
            .iter()
            .any(|r| r == "DriftCorrected")
    );

    // Disable the public endpoint: the cluster loses its PUBLIC host.
    spec["publicEndpoint"]["enabled"] = json!(false);
    env.apply("edge", spec.clone()).await;
    support::eventually(
        "the public endpoint disabled",
        support::TIMEOUT * 2,
        async || {
            let got = public_endpoint_in_cloud(&cloud, &id).await;
            if !got.0 {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        },
    )
    .await
    .expect("disabled");
    env.wait_ready("edge").await;
    assert!(
        env.rejected_writes().is_empty(),
        "{:?}",
        env.rejected_writes()
    );
}

#[tokio::test]
async fn invalid_ip_access_lists_are_refused_at_admission_without_cloud_writes() {
    let Some(env) = OperatorEnv::start("tcc-pubep-invalid").await else {
        return;
    };
    let api: Api<clouddb_operator::api::tidbcloudcluster::TidbCloudCluster> = env.api();
    for (list, expect) in [
        (json!([{"cidr": "10.0.0.0/33"}]), "should match"),
        (json!([{"cidr": "10.0.0.1"}]), "should match"),
        (
            json!([{"cidr": "10.0.0.0/8"}, {"cidr": "10.0.0.0/8", "description": "again"}]),
            "more than once",
        ),
    ] {
        let mut spec = basic_spec();
        spec["publicEndpoint"] = json!({"ipAccessList": list});
        let body = json!({"apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudCluster",
            "metadata": {"name": "bad"}, "spec": spec});
        let err = api
            .patch(
                "bad",
                &kube::api::PatchParams::apply("test").force(),
                &kube::api::Patch::Apply(&body),
            )
            .await
            .expect_err("refused at admission");
        assert!(err.to_string().contains(expect), "{list}: {err}");
    }
    assert!(
        env.sim.counters().iter().all(|r| r.key.method == "GET"),
        "no cloud writes: {:?}",
        env.sim.counters()
    );
}

#[tokio::test]
async fn deletion_policies_delete_retain_and_cascade() {
    let Some(env) = OperatorEnv::start("tcc-delete").await else {
        return;
    };
    let cloud = env.cloud();
    let mut spec = basic_spec();
    spec["deletionPolicy"] = json!("Retain");
    env.apply("kept", spec).await;
    env.apply("dropped", basic_spec()).await;
    let kept = status_cluster_id(&env.wait_ready("kept").await);
    let dropped = status_cluster_id(&env.wait_ready("dropped").await);

    env.delete("kept").await;
    env.wait_gone("kept").await;
    assert_eq!(
        cloud
            .get_cluster(&kept)
            .await
            .expect("retained")
            .state
            .as_str(),
        "ACTIVE"
    );
    let secret = env
        .secret("kept-connection")
        .await
        .expect("connection Secret kept");
    assert!(
        secret
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty(),
        "owner reference removed"
    );

    env.delete("dropped").await;
    env.wait_gone("dropped").await;
    let err = cloud
        .get_cluster(&dropped)
        .await
        .expect_err("deleted in the cloud");
    assert!(err.is_not_found(), "{err}");
    assert!(
        env.rejected_writes().is_empty(),
        "{:?}",
        env.rejected_writes()
    );
}

#[tokio::test]
async fn namespace_deletion_retains_the_cluster_and_its_connection_secret() {
    let Some(env) = OperatorEnv::start("tcc-cascade").await else {
        return;
    };
    env.apply("ledger", basic_spec()).await;
    let o = env.wait_ready("ledger").await;
    let id = status_cluster_id(&o);
    let password = env
        .secret("ledger-connection")
        .await
        .and_then(|s| s.data)
        .expect("data")["password"]
        .0
        .clone();
    let namespaces: Api<Namespace> = Api::all(env.env.admin.clone());
    namespaces
        .delete(env.ns(), &Default::default())
        .await
        .expect("delete namespace");
    support::await_deleted(namespaces.clone(), env.ns(), support::TIMEOUT * 3)
        .await
        .expect("namespace gone");
    assert_eq!(
        env.cloud()
            .get_cluster(&id)
            .await
            .expect("cluster retained")
            .state
            .as_str(),
        "ACTIVE"
    );
    let copies: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(env.env.admin.clone(), env.operator_ns.name());
    let copy = copies
        .get(&format!("retained-{}-ledger-connection", env.ns()))
        .await
        .expect("connection Secret copied to the operator namespace");
    assert_eq!(
        copy.data.expect("data")["password"].0,
        password,
        "the generated password is not lost"
    );
}

#[tokio::test]
async fn deletion_protection_is_enforced_by_policy_and_by_the_operator() {
    let Some(mut env) = OperatorEnv::start("tcc-protect").await else {
        return;
    };
    let mut spec = basic_spec();
    spec["deletionProtection"] = json!(true);
    env.apply("vault", spec).await;
    let id = status_cluster_id(&env.wait_ready("vault").await);
    // The admission policy refuses the delete (it may need a moment to become active after install).
    let refused = support::eventually(
        "the policy to refuse deleting a protected object",
        support::TIMEOUT,
        async || match env.tcc.delete("vault", &Default::default()).await {
            Err(kube::Error::Api(e)) if e.message.contains("deletionProtection") => Ok(e.message),
            Err(e) => Err(e.to_string()),
            Ok(_) => Err("deleted".to_string()),
        },
    )
    .await;
    let message = match refused {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    assert!(message.contains("deletionProtection"), "{message}");

    // Without the policy in the way (protection switched on after the deletion started), the operator
    // itself refuses to delete the cloud cluster and says so.
    env.kill_operator();
    env.patch_spec("vault", json!({"deletionProtection": false}))
        .await;
    env.delete("vault").await;
    env.patch_spec("vault", json!({"deletionProtection": true}))
        .await;
    env.start_operator();
    env.wait_condition("vault", "Stalled", "True", "DeletionProtected")
        .await;
    assert_eq!(
        env.cloud()
            .get_cluster(&id)
            .await
            .expect("still there")
            .state
            .as_str(),
        "ACTIVE"
    );
    env.patch_spec("vault", json!({"deletionProtection": false}))
        .await;
    env.wait_gone("vault").await;
    assert!(
        env.cloud()
            .get_cluster(&id)
            .await
            .expect_err("deleted")
            .is_not_found()
    );
}

#[tokio::test]
async fn missing_then_wrong_then_right_credentials() {
    // A long credentials poll: recovery must come from the Secret watch, not the timer.
    let Some(env) = OperatorEnv::start_with(
        "tcc-creds",
        SimConfig::default(),
        &["--poll-credentials", "10m"],
    )
    .await
    else {
        return;
    };
    let mut spec = basic_spec();
    spec["credentials"] = json!({"secretRef": {"name": "team-key"}});
    env.apply("payments", spec).await;
    let o = env
        .wait_condition("payments", "Stalled", "True", "CredentialsMissing")
        .await;
    assert!(
        condition(&o, "Ready")
            .is_some_and(|c| c.status == "False" && c.reason == "CredentialsMissing")
    );

    let key = env.sim.key().clone();
    env.put_secret(
        "team-key",
        &[
            ("publicKey", &key.public_key),
            ("privateKey", "definitely-wrong-key"),
        ],
    )
    .await;
    let o = env
        .wait_condition("payments", "Stalled", "True", "CredentialsRejected")
        .await;
    let msg = condition(&o, "Ready")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        !msg.contains("definitely-wrong-key"),
        "the key value never appears in status"
    );

    env.put_secret(
        "team-key",
        &[
            ("publicKey", &key.public_key),
            ("privateKey", &key.private_key),
        ],
    )
    .await;
    env.wait_ready("payments").await;
    env.assert_logs_free_of(&["definitely-wrong-key", &key.private_key]);
    for note in env.event_notes("payments").await {
        assert!(
            !note.contains("definitely-wrong-key") && !note.contains(&key.private_key),
            "Event leaks a key"
        );
    }
}

#[tokio::test]
async fn throttling_storm_and_server_errors_converge() {
    let sim = SimConfig {
        quota: QuotaConfig {
            limit: 100,
            window: Duration::from_secs(2),
        },
        faults: vec![
            // The first reads and the first writes are certain to fail (all matching rules fire on a
            // request and a throttle wins, so the certain 503s go to other requests than the certain
            // 429s), then a fraction of all requests.
            serde_json::from_value(json!({"kind": "throttle", "count": 2, "method": "GET"}))
                .expect("fault"),
            serde_json::from_value(
                json!({"kind": "fail", "status": 503, "count": 2, "method": "POST"}),
            )
            .expect("fault"),
            serde_json::from_value(json!({"kind": "throttle", "fraction": 0.3})).expect("fault"),
            serde_json::from_value(json!({"kind": "fail", "status": 503, "fraction": 0.2}))
                .expect("fault"),
        ],
        ..SimConfig::default()
    };
    let Some(env) = OperatorEnv::start_with("tcc-storm", sim, &[]).await else {
        return;
    };
    env.apply("flaky", basic_spec()).await;
    let o = env.wait_ready("flaky").await;
    let mut spec = basic_spec();
    spec["tikv"]["nodeCount"] = json!(6);
    env.apply("flaky", spec).await;
    env.wait_ready("flaky").await;
    let counters = env.sim.counters();
    let count = |status: u16| {
        counters
            .iter()
            .filter(|r| r.key.status == status)
            .map(|r| r.count)
            .sum::<u64>()
    };
    assert!(
        count(429) > 0 && count(503) > 0,
        "the storm happened: 429×{} 503×{}",
        count(429),
        count(503)
    );
    assert_eq!(
        env.clusters_named("flaky").await.len(),
        1,
        "exactly one cluster despite errors"
    );
    assert!(o.status.is_some());
    assert!(
        env.rejected_writes().is_empty(),
        "{:?}",
        env.rejected_writes()
    );
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_creates_exactly_one_cluster() {
    let sim = SimConfig {
        faults: vec![
            serde_json::from_value(json!({"kind": "dropAfterCommit", "count": 1, "method": "POST", "pathPrefix": "/v1beta1/clusters"}))
                .expect("fault"),
        ],
        ..SimConfig::default()
    };
    let Some(env) = OperatorEnv::start_with("tcc-drop", sim, &[]).await else {
        return;
    };
    env.apply("dropped-answer", basic_spec()).await;
    let o = env.wait_ready("dropped-answer").await;
    let clusters = env.clusters_named("dropped-answer").await;
    assert_eq!(clusters.len(), 1, "exactly one cluster");
    assert_eq!(status_cluster_id(&o), clusters[0].cluster_id);
    assert!(
        env.event_reasons("dropped-answer")
            .await
            .iter()
            .any(|r| r == "Adopted"),
        "the lost create was adopted"
    );
}

#[tokio::test]
async fn operator_killed_mid_create_creates_exactly_one_cluster() {
    // The create is applied, then the answer is held back for 30 s: the operator is killed while it waits.
    let sim = SimConfig {
        faults: vec![
            serde_json::from_value(json!({"kind": "dropAfterCommit", "count": 1, "method": "POST", "pathPrefix": "/v1beta1/clusters", "holdMs": 30000}))
                .expect("fault"),
        ],
        ..SimConfig::default()
    };
    let Some(mut env) = OperatorEnv::start_with("tcc-crash", sim, &[]).await else {
        return;
    };
    env.apply("crashy", basic_spec()).await;
    support::eventually(
        "the create to reach the cloud",
        support::TIMEOUT,
        async || {
            if env.clusters_named("crashy").await.len() == 1 {
                Ok(())
            } else {
                Err("not yet")
            }
        },
    )
    .await
    .expect("create applied");
    env.kill_operator();
    env.start_operator();
    let o = env.wait_ready("crashy").await;
    let clusters = env.clusters_named("crashy").await;
    assert_eq!(
        clusters.len(),
        1,
        "exactly one cluster after a crash mid-create"
    );
    assert_eq!(status_cluster_id(&o), clusters[0].cluster_id);
}

#[tokio::test]
async fn observe_only_reports_without_writing() {
    let Some(env) = OperatorEnv::start("tcc-observe").await else {
        return;
    };
    env.apply("source", basic_spec()).await;
    let id = status_cluster_id(&env.wait_ready("source").await);
    let writes_before = env
        .sim
        .counters()
        .into_iter()
        .filter(|r| r.key.method != "GET")
        .map(|r| r.count)
        .sum::<u64>();
    let mut spec = basic_spec();
    spec["clusterId"] = json!(id);
    spec["displayName"] = json!("source");
    spec["tidb"]["nodeCount"] = json!(5);
    env.apply_with_meta(
        "watcher",
        json!({"annotations": {"clouddb.dev/reconcile": "observe"}}),
        spec,
    )
    .await;
    let o = env
        .wait_condition("watcher", "Ready", "True", "Observing")
        .await;
    assert!(
        condition(&o, "Ready").is_some_and(|c| c.message.contains("differs")),
        "differences reported"
    );
    env.delete("watcher").await;
    env.wait_gone("watcher").await;
    let writes_after = env
        .sim
        .counters()
        .into_iter()
        .filter(|r| r.key.method != "GET")
        .map(|r| r.count)
        .sum::<u64>();
    assert_eq!(
        writes_before, writes_after,
        "observe-only never writes to the cloud"
    );
    assert_eq!(
        env.cloud()
            .get_cluster(&id)
            .await
            .expect("untouched")
            .tidb_node_count(),
        2
    );
}

#[tokio::test]
async fn metrics_health_and_readiness_endpoints() {
    let Some(env) = OperatorEnv::start("tcc-metrics").await else {
        return;
    };
    env.apply("observed", basic_spec()).await;
    env.wait_ready("observed").await;
    let base = env.metrics_url().await;
    let http = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let r = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("probe");
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(
        text.contains(r#"clouddb_reconciles_total{kind="TidbCloudCluster",result="ok"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="POST /clusters""#),
        "cloud requests by route: {text}"
    );
    assert!(text.contains(r#"status="200""#));
    assert!(
        !text.contains(&env.sim.key().private_key),
        "metrics never carry the private key"
    );
}

#[test]
fn crd_subcommand_prints_the_committed_crds_and_version_works() {
    let bin = env!("CARGO_BIN_EXE_clouddb-operator");
    let out = std::process::Command::new(bin)
        .arg("crd")
        .output()
        .expect("run crd");
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).expect("utf8");
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/tidbcloudcluster.yaml"
    ))
    .expect("crds/tidbcloudcluster.yaml");
    assert!(
        printed.contains(committed.trim()),
        "`crd` prints the committed CRD"
    );
    assert!(printed.contains("ValidatingAdmissionPolicy"));
    let v = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .expect("run --version");
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("clouddb-operator {}", env!("CARGO_PKG_VERSION"))
    );
}
