//! TidbCloudServerlessCluster end to end: the real operator binary against the real kube-apiserver and the
//! simulator's Serverless listener (same keys and per-key quota as Dedicated). Each test has its own namespace,
//! simulator and operator process; every wait is on a condition with a timeout.

mod support;

use clouddb_operator::api::TidbCloudServerlessCluster;
use clouddb_operator::cloud::BudgetRegistry;
use clouddb_operator::providers::tidbcloud::serverless_models::{
    PatchServerlessCluster, PatchServerlessClusterRequest, ServerlessCluster, SpendingLimit,
};
use clouddb_operator::providers::tidbcloud::{
    ApiKey, ClientConfig, TidbCloudClient, translate_serverless,
};
use clouddb_sim::SimConfig;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use reqwest::Method;
use serde_json::{Value, json};
use support::TIMEOUT;
use support::operator::*;

type Tcsc = TidbCloudServerlessCluster;

fn spec() -> Value {
    json!({
        "region": "aws-us-east-1",
        "labels": {"env": "preview"},
        "spendingLimit": {"monthly": 100},
        "publicEndpoint": {"ipAccessList": [
            {"startIpAddress": "203.0.113.0", "endIpAddress": "203.0.113.255", "displayName": "office"}
        ]},
    })
}

async fn ready(env: &OperatorEnv, name: &str) -> Tcsc {
    env.wait_for::<Tcsc>(
        name,
        &format!("TidbCloudServerlessCluster {name} Ready on its current generation"),
        TIMEOUT * 3,
        |o| {
            condition_of(o, "Ready").is_some_and(|c| c.status == "True")
                && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
        },
    )
    .await
}

fn cluster_id(o: &Tcsc) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.cluster_id.clone())
        .expect("status.clusterId")
}

/// A client with the simulator's key, on its Serverless listener.
fn cloud(env: &OperatorEnv) -> TidbCloudClient {
    let key = env.sim.key();
    let config = ClientConfig::default()
        .with_endpoint(&env.sim.base_url())
        .with_serverless_endpoint(&env.sim.serverless_base_url())
        .with_ca_file(env.sim.ca_path().expect("https"))
        .expect("CA");
    TidbCloudClient::new(
        &config,
        ApiKey::new(key.public_key.clone(), key.private_key.clone()),
        &BudgetRegistry::default(),
    )
    .expect("cloud client")
}

async fn get(env: &OperatorEnv, id: &str) -> ServerlessCluster {
    cloud(env)
        .get_serverless_cluster(id)
        .await
        .expect("cluster in the cloud")
}

async fn named(env: &OperatorEnv, display_name: &str) -> Vec<ServerlessCluster> {
    let filter = format!("displayName=\"{display_name}\"");
    cloud(env)
        .list_all_serverless_clusters(Some(&filter))
        .await
        .expect("list")
}

/// Requests to the Serverless listener other than GET.
fn serverless_writes(env: &OperatorEnv) -> Vec<String> {
    support::namespaces::writes_in(env.sim.serverless_counters())
}

fn serverless_requests(env: &OperatorEnv, method: &str, route: &str) -> u64 {
    env.sim
        .serverless_counters()
        .into_iter()
        .filter(|r| r.key.method == method && r.key.route == route)
        .map(|r| r.count)
        .sum()
}

async fn secret_value(env: &OperatorEnv, name: &str, key: &str) -> String {
    let secret = env.secret(name).await.expect("connection Secret");
    let data = secret.data.expect("data");
    let v = data.get(key).unwrap_or_else(|| panic!("{name} has {key}"));
    String::from_utf8(v.0.clone()).expect("utf8")
}

async fn root_password_matches(env: &OperatorEnv, id: &str, password: &str) -> bool {
    let v = env
        .serverless_admin(
            Method::POST,
            &format!("serverless/clusters/{id}:verifyRootPassword"),
            Some(json!({"rootPassword": password})),
        )
        .await;
    v["match"] == true
}

#[tokio::test]
async fn create_reaches_ready_with_a_working_connection_secret_and_no_secret_leaks() {
    let Some(env) = OperatorEnv::start("tcsc-create").await else {
        return;
    };
    env.apply_kind::<Tcsc>("preview-1", spec()).await;
    let o = ready(&env, "preview-1").await;
    let status = o.status.clone().expect("status");
    let id = cluster_id(&o);
    assert_eq!(status.state.as_deref(), Some("ACTIVE"));
    assert_eq!(status.plan.as_deref(), Some("Starter"));
    assert!(
        condition_of(&o, "Available").is_some_and(|c| c.status == "True"),
        "{status:?}"
    );

    let c = get(&env, &id).await;
    assert_eq!(c.display_name, "preview-1");
    assert_eq!(
        c.labels.get("clouddb.dev/uid").map(String::as_str),
        o.metadata.uid.as_deref(),
        "the cluster carries the uid label of the object that made it"
    );
    assert_eq!(c.labels.get("env").map(String::as_str), Some("preview"));
    assert_eq!(c.spending_limit.map(|s| s.monthly), Some(100));

    let secret = "preview-1-connection";
    let host = secret_value(&env, secret, "host").await;
    let port = secret_value(&env, secret, "port").await;
    let user = secret_value(&env, secret, "username").await;
    let password = secret_value(&env, secret, "password").await;
    let uri = secret_value(&env, secret, "uri").await;
    let public = c.public().expect("public endpoint");
    assert_eq!(
        (host.as_str(), port.as_str()),
        (public.host.as_str(), "4000")
    );
    assert_eq!(user, format!("{}.root", c.user_prefix));
    assert!(uri.starts_with("mysql://") && uri.contains(&host), "{uri}");
    assert!(
        root_password_matches(&env, &id, &password).await,
        "the connection Secret holds the cluster's root password"
    );

    // Secrets never in logs, Events or status.
    env.assert_logs_free_of(&[&password]);
    for note in env.event_notes("preview-1").await {
        assert!(!note.contains(&password), "{note}");
    }
    let status_json = serde_json::to_string(&o.status).expect("status JSON");
    assert!(!status_json.contains(&password));
    assert_eq!(
        serverless_requests(&env, "POST", "/v1beta1/clusters"),
        1,
        "one create"
    );
}

#[tokio::test]
async fn spending_limit_ip_list_and_root_password_changes_are_applied() {
    let Some(env) = OperatorEnv::start("tcsc-update").await else {
        return;
    };
    env.apply_kind::<Tcsc>("limits", spec()).await;
    let id = cluster_id(&ready(&env, "limits").await);

    env.put_secret("limits-root", &[("password", "A-new-root-pw-42")])
        .await;
    let mut changed = spec();
    changed["spendingLimit"] = json!({"monthly": 2500});
    changed["publicEndpoint"] = json!({"ipAccessList": [
        {"startIpAddress": "198.51.100.1", "endIpAddress": "198.51.100.9", "displayName": "ci"},
        {"startIpAddress": "203.0.113.0", "endIpAddress": "203.0.113.255", "displayName": "office"}
    ]});
    changed["labels"] = json!({"env": "staging"});
    changed["rootPassword"] = json!({"secretRef": {"name": "limits-root", "key": "password"}});
    env.apply_kind::<Tcsc>("limits", changed).await;
    ready(&env, "limits").await;

    let c = get(&env, &id).await;
    assert_eq!(c.spending_limit.map(|s| s.monthly), Some(2500));
    let mut ranges: Vec<String> = c
        .public()
        .expect("public endpoint")
        .authorized_networks
        .iter()
        .map(|n| format!("{}-{}", n.start_ip_address, n.end_ip_address))
        .collect();
    ranges.sort();
    assert_eq!(
        ranges,
        ["198.51.100.1-198.51.100.9", "203.0.113.0-203.0.113.255"]
    );
    assert_eq!(c.labels.get("env").map(String::as_str), Some("staging"));
    assert!(
        c.labels.contains_key("clouddb.dev/uid"),
        "the uid label survives a label change"
    );
    assert!(root_password_matches(&env, &id, "A-new-root-pw-42").await);
    assert_eq!(
        secret_value(&env, "limits-connection", "password").await,
        "A-new-root-pw-42"
    );
    env.assert_logs_free_of(&["A-new-root-pw-42"]);
    // No write was refused (the one 401 is the digest challenge of the first request).
    let rejected: Vec<String> = serverless_writes(&env)
        .into_iter()
        .filter(|w| w.contains("→ 4") && !w.contains("→ 401"))
        .collect();
    assert!(rejected.is_empty(), "{rejected:?}");
}

#[tokio::test]
async fn an_essential_cluster_scales_its_capacity() {
    let Some(env) = OperatorEnv::start("tcsc-essential").await else {
        return;
    };
    let essential =
        json!({"region": "aws-us-east-1", "autoScaling": {"minRcu": 2000, "maxRcu": 4000}});
    env.apply_kind::<Tcsc>("essential", essential).await;
    let o = ready(&env, "essential").await;
    assert_eq!(
        o.status.as_ref().and_then(|s| s.plan.as_deref()),
        Some("Essential")
    );
    let id = cluster_id(&o);
    env.merge_kind::<Tcsc>(
        "essential",
        json!({"spec": {"autoScaling": {"minRcu": 2000, "maxRcu": 8000}}}),
    )
    .await;
    ready(&env, "essential").await;
    let a = get(&env, &id).await.auto_scaling.expect("autoScaling");
    assert_eq!((a.min_rcu, a.max_rcu), (2000, 8000));
}

#[tokio::test]
async fn drift_made_in_the_cloud_is_corrected_with_an_event() {
    let Some(env) =
        OperatorEnv::start_with("tcsc-drift", SimConfig::default(), &["--poll-steady", "2s"]).await
    else {
        return;
    };
    env.apply_kind::<Tcsc>("drifty", spec()).await;
    let id = cluster_id(&ready(&env, "drifty").await);
    cloud(&env)
        .update_serverless_cluster(
            &id,
            &PatchServerlessClusterRequest {
                cluster: PatchServerlessCluster {
                    spending_limit: Some(SpendingLimit { monthly: 9999 }),
                    ..PatchServerlessCluster::default()
                },
                update_mask: "spendingLimit".into(),
            },
        )
        .await
        .expect("change made outside Kubernetes");
    let cloud = cloud(&env);
    support::eventually("the drift to be corrected", TIMEOUT * 2, async || {
        let c = cloud
            .get_serverless_cluster(&id)
            .await
            .map_err(|e| e.to_string())?;
        match c.spending_limit.map(|s| s.monthly) {
            Some(100) => Ok(()),
            other => Err(format!("spending limit {other:?}")),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", tail(&env.logs(), 60)));
    env.wait_event_in(env.ns(), "drifty", "Warning", "DriftCorrected")
        .await;
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_adopted_once() {
    let mut sim = SimConfig::default();
    sim.serverless.faults = vec![
        serde_json::from_value(json!({"kind": "dropAfterCommit", "count": 1, "method": "POST", "pathPrefix": "/v1beta1/clusters"}))
            .expect("fault"),
    ];
    let Some(env) = OperatorEnv::start_with("tcsc-drop", sim, &[]).await else {
        return;
    };
    env.apply_kind::<Tcsc>("lost-answer", spec()).await;
    let o = ready(&env, "lost-answer").await;
    let clusters = named(&env, "lost-answer").await;
    assert_eq!(clusters.len(), 1, "exactly one cluster");
    assert_eq!(cluster_id(&o), clusters[0].cluster_id);
    assert!(
        env.event_reasons("lost-answer")
            .await
            .iter()
            .any(|r| r == "Adopted"),
        "the lost create was adopted"
    );
    // The password stored before the create is the cluster's.
    let password = secret_value(&env, "lost-answer-connection", "password").await;
    assert!(root_password_matches(&env, &cluster_id(&o), &password).await);
}

#[tokio::test]
async fn adopts_an_existing_cluster_by_id_without_creating_another() {
    let Some(env) = OperatorEnv::start("tcsc-adopt").await else {
        return;
    };
    let spec: clouddb_operator::api::TidbCloudServerlessClusterSpec =
        serde_json::from_value(json!({"region": "aws-us-east-1"})).expect("spec");
    let req = translate_serverless::create_request(&spec, "made-elsewhere", "someone-else", None);
    let made = cloud(&env)
        .create_serverless_cluster(&req)
        .await
        .expect("create outside Kubernetes");
    let creates = serverless_requests(&env, "POST", "/v1beta1/clusters");
    env.apply_kind::<Tcsc>(
        "adopted",
        json!({"region": "aws-us-east-1", "displayName": "made-elsewhere", "clusterId": made.cluster_id,
               "deletionPolicy": "Retain"}),
    )
    .await;
    let o = ready(&env, "adopted").await;
    assert_eq!(cluster_id(&o), made.cluster_id);
    assert_eq!(
        serverless_requests(&env, "POST", "/v1beta1/clusters"),
        creates,
        "nothing created"
    );
    assert!(
        env.event_reasons("adopted")
            .await
            .iter()
            .any(|r| r == "Adopted")
    );
}

#[tokio::test]
async fn deletion_policies_delete_retain_and_a_namespace_cascade_retains() {
    let Some(env) = OperatorEnv::start("tcsc-delete").await else {
        return;
    };
    let mut kept = spec();
    kept["deletionPolicy"] = json!("Retain");
    env.apply_kind::<Tcsc>("kept", kept).await;
    env.apply_kind::<Tcsc>("dropped", spec()).await;
    env.apply_kind::<Tcsc>("cascaded", spec()).await;
    let kept = cluster_id(&ready(&env, "kept").await);
    let dropped = cluster_id(&ready(&env, "dropped").await);
    let cascaded = cluster_id(&ready(&env, "cascaded").await);

    env.delete_kind::<Tcsc>("kept").await;
    env.wait_gone_of::<Tcsc>("kept").await;
    assert_eq!(get(&env, &kept).await.state, "ACTIVE", "Retain keeps it");

    env.delete_kind::<Tcsc>("dropped").await;
    env.wait_gone_of::<Tcsc>("dropped").await;
    let err = cloud(&env)
        .get_serverless_cluster(&dropped)
        .await
        .expect_err("deleted in the cloud");
    assert!(err.is_not_found(), "{err}");

    let namespaces: Api<Namespace> = Api::all(env.env.admin.clone());
    namespaces
        .delete(env.ns(), &Default::default())
        .await
        .expect("delete namespace");
    support::await_deleted(namespaces.clone(), env.ns(), TIMEOUT * 3)
        .await
        .expect("namespace gone");
    assert_eq!(
        get(&env, &cascaded).await.state,
        "ACTIVE",
        "a namespace deletion retains the cluster"
    );
    assert_eq!(
        serverless_requests(&env, "DELETE", "/v1beta1/clusters/{clusterId}"),
        1,
        "only the Delete-policy cluster was deleted"
    );
}

#[tokio::test]
async fn invalid_input_is_refused_at_admission_or_stalls_without_cloud_writes() {
    let Some(env) = OperatorEnv::start("tcsc-invalid").await else {
        return;
    };
    // Refused at admission: both plans at once.
    let api = env.api::<Tcsc>();
    let both = serde_json::from_value::<Tcsc>(json!({
        "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudServerlessCluster",
        "metadata": {"name": "both-plans"},
        "spec": {"region": "aws-us-east-1", "spendingLimit": {"monthly": 1},
                 "autoScaling": {"minRcu": 1, "maxRcu": 2}},
    }))
    .expect("object");
    let err = api
        .create(&Default::default(), &both)
        .await
        .expect_err("refused at admission");
    assert!(err.to_string().contains("not both"), "{err}");

    // Passes the schema, but the range is reversed: Stalled, nothing sent to the cloud.
    let mut reversed = spec();
    reversed["publicEndpoint"] = json!({"ipAccessList": [
        {"startIpAddress": "10.0.0.9", "endIpAddress": "10.0.0.1"}
    ]});
    env.apply_kind::<Tcsc>("reversed", reversed).await;
    let o = env
        .wait_condition_of::<Tcsc>("reversed", "Stalled", "True", "InvalidSpec")
        .await;
    let message = condition_of(&o, "Stalled").expect("Stalled").message;
    assert!(message.contains("after endIpAddress"), "{message}");
    assert!(
        serverless_writes(&env).is_empty(),
        "no cloud writes: {:?}",
        serverless_writes(&env)
    );

    // Fixed: it goes on.
    env.apply_kind::<Tcsc>("reversed", spec()).await;
    ready(&env, "reversed").await;
}

#[tokio::test]
async fn at_rest_one_list_per_resync_refreshes_every_cluster_without_a_get_each() {
    let Some(env) =
        OperatorEnv::start_with("tcsc-rest", SimConfig::default(), &["--poll-steady", "1s"]).await
    else {
        return;
    };
    for name in ["rest-a", "rest-b", "rest-c"] {
        env.apply_kind::<Tcsc>(name, json!({"region": "aws-us-east-1"}))
            .await;
    }
    for name in ["rest-a", "rest-b", "rest-c"] {
        ready(&env, name).await;
    }
    let lists = || serverless_requests(&env, "GET", "/v1beta1/clusters");
    let gets = || serverless_requests(&env, "GET", "/v1beta1/clusters/{clusterId}");
    let wait_lists = async |at_least: u64| {
        support::eventually(
            format!("{at_least} lists of the clusters"),
            TIMEOUT,
            async || {
                if lists() >= at_least {
                    Ok(())
                } else {
                    Err(format!("{} lists", lists()))
                }
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", tail(&env.logs(), 40)));
    };
    // A list taken after every create: from now on the lists answer.
    wait_lists(lists() + 1).await;
    let (gets_before, lists_before) = (gets(), lists());
    wait_lists(lists_before + 3).await;
    assert_eq!(
        gets(),
        gets_before,
        "three resyncs of three clusters at rest: lists only, no GET per cluster"
    );
    assert!(
        serverless_writes(&env)
            .iter()
            .all(|w| !w.starts_with("PATCH") && !w.starts_with("PUT")),
        "nothing written at rest: {:?}",
        serverless_writes(&env)
    );
}

#[tokio::test]
async fn operator_killed_mid_create_creates_exactly_one_cluster() {
    // The create is applied, then its answer is held back for 30 s: the operator is killed while it waits.
    let mut sim = SimConfig::default();
    sim.serverless.faults = vec![
        serde_json::from_value(
            json!({"kind": "dropAfterCommit", "count": 1, "method": "POST",
            "pathPrefix": "/v1beta1/clusters", "holdMs": 30000}),
        )
        .expect("fault"),
    ];
    let Some(mut env) = OperatorEnv::start_with("tcsc-crash", sim, &[]).await else {
        return;
    };
    env.apply_kind::<Tcsc>("crashy", spec()).await;
    support::eventually("the create to reach the cloud", TIMEOUT, async || {
        if named(&env, "crashy").await.len() == 1 {
            Ok(())
        } else {
            Err("not yet")
        }
    })
    .await
    .expect("create applied");
    env.kill_operator();
    env.start_operator();
    let o = ready(&env, "crashy").await;
    let clusters = named(&env, "crashy").await;
    assert_eq!(
        clusters.len(),
        1,
        "exactly one cluster after a crash mid-create"
    );
    assert_eq!(cluster_id(&o), clusters[0].cluster_id);
    let password = secret_value(&env, "crashy-connection", "password").await;
    assert!(
        root_password_matches(&env, &cluster_id(&o), &password).await,
        "the password stored before the create is the cluster's"
    );
}

#[tokio::test]
async fn observe_only_reports_without_writing() {
    let Some(env) = OperatorEnv::start("tcsc-observe").await else {
        return;
    };
    env.apply_kind::<Tcsc>("source", spec()).await;
    let id = cluster_id(&ready(&env, "source").await);
    let writes_before = serverless_writes(&env);
    let body = json!({
        "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudServerlessCluster",
        "metadata": {"name": "watcher", "annotations": {"clouddb.dev/reconcile": "observe"}},
        "spec": {"region": "aws-us-east-1", "clusterId": id, "spendingLimit": {"monthly": 7}},
    });
    env.api::<Tcsc>()
        .patch(
            "watcher",
            &kube::api::PatchParams::apply("test").force(),
            &kube::api::Patch::Apply(&body),
        )
        .await
        .expect("apply the observer");
    let o = env
        .wait_condition_of::<Tcsc>("watcher", "Ready", "True", "Observing")
        .await;
    let message = condition_of(&o, "Ready").expect("Ready").message;
    assert!(message.contains("spending limit"), "{message}");
    env.delete_kind::<Tcsc>("watcher").await;
    env.wait_gone_of::<Tcsc>("watcher").await;
    assert_eq!(
        serverless_writes(&env),
        writes_before,
        "observe-only never writes"
    );
    assert_eq!(get(&env, &id).await.state, "ACTIVE");
}

/// Issue 18 on the serverless kind: adopting a differing cluster writes nothing until approved,
/// `driftPolicy: Report` reports a change made outside Kubernetes without writing, and the pause annotation
/// suspends the resource.
#[tokio::test]
async fn adoption_review_drift_report_and_pause() {
    let Some(env) = OperatorEnv::start_with(
        "tcsc-control",
        SimConfig::default(),
        &["--poll-steady", "2s"],
    )
    .await
    else {
        return;
    };
    let spec: clouddb_operator::api::TidbCloudServerlessClusterSpec =
        serde_json::from_value(json!({"region": "aws-us-east-1"})).expect("spec");
    let req = translate_serverless::create_request(&spec, "legacy-db", "someone-else", None);
    let made = cloud(&env)
        .create_serverless_cluster(&req)
        .await
        .expect("create outside Kubernetes");
    let id = made.cluster_id.clone();
    let before = serverless_writes(&env);
    env.apply_kind::<Tcsc>(
        "legacy",
        json!({"region": "aws-us-east-1", "displayName": "legacy-db", "clusterId": id,
               "spendingLimit": {"monthly": 7}, "driftPolicy": "Report", "deletionPolicy": "Retain"}),
    )
    .await;
    let o = env
        .wait_condition_of::<Tcsc>("legacy", "Stalled", "True", "AdoptionPending")
        .await;
    let message = condition_of(&o, "Stalled").expect("Stalled").message;
    assert!(
        message.contains("spending limit") && message.contains("clouddb.dev/approve-adoption=1"),
        "the diff and how to approve it: {message}"
    );
    assert_eq!(
        serverless_writes(&env),
        before,
        "no write before the approval"
    );

    let annotate = async |key: &str, value: Option<&str>| {
        env.api::<Tcsc>()
            .patch(
                "legacy",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&json!({"metadata": {"annotations": {key: value}}})),
            )
            .await
            .expect("annotate");
    };
    annotate("clouddb.dev/approve-adoption", Some("1")).await;
    let o = env
        .wait_condition_of::<Tcsc>("legacy", "Ready", "True", "Ready")
        .await;
    assert_eq!(
        o.status.as_ref().and_then(|s| s.converged_generation),
        o.metadata.generation
    );
    assert_eq!(
        get(&env, &id).await.spending_limit.map(|s| s.monthly),
        Some(7)
    );
    env.wait_event_in(env.ns(), "legacy", "Normal", "AdoptionApproved")
        .await;

    // driftPolicy: Report: a change made in the cloud is reported, never written back.
    cloud(&env)
        .update_serverless_cluster(
            &id,
            &PatchServerlessClusterRequest {
                cluster: PatchServerlessCluster {
                    spending_limit: Some(SpendingLimit { monthly: 9999 }),
                    ..PatchServerlessCluster::default()
                },
                update_mask: "spendingLimit".into(),
            },
        )
        .await
        .expect("change made outside Kubernetes");
    let reported = serverless_writes(&env);
    env.wait_condition_of::<Tcsc>("legacy", "Drifted", "True", "Drifted")
        .await;
    env.wait_event_in(env.ns(), "legacy", "Warning", "Drifted")
        .await;
    assert_eq!(serverless_writes(&env), reported, "Report never writes");
    assert_eq!(
        get(&env, &id).await.spending_limit.map(|s| s.monthly),
        Some(9999)
    );

    // Pause: Suspended, Ready as it was.
    annotate("clouddb.dev/reconcile", Some("paused")).await;
    let o = env
        .wait_condition_of::<Tcsc>("legacy", "Suspended", "True", "ReconcilePaused")
        .await;
    assert_eq!(
        condition_of(&o, "Ready").map(|c| c.status),
        Some("True".to_string())
    );
    assert_eq!(
        serverless_writes(&env),
        reported,
        "a paused resource never writes"
    );
}
