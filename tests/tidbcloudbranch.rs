//! TidbCloudBranch end to end: the real operator binary against the real kube-apiserver and the simulator's
//! Serverless listener. Each test has its own namespace, simulator and operator process; every wait is on a
//! condition with a timeout.

mod support;

use clouddb_operator::api::{TidbCloudBranch, TidbCloudServerlessCluster};
use clouddb_operator::cloud::BudgetRegistry;
use clouddb_operator::providers::tidbcloud::serverless_branch::Branch;
use clouddb_operator::providers::tidbcloud::{
    ApiKey, ClientConfig, TidbCloudClient, translate_serverless,
};
use clouddb_sim::SimConfig;
use reqwest::Method;
use serde_json::{Value, json};
use support::TIMEOUT;
use support::operator::*;

type Tcb = TidbCloudBranch;

async fn ready(env: &OperatorEnv, name: &str) -> Tcb {
    env.wait_for::<Tcb>(
        name,
        &format!("TidbCloudBranch {name} Ready on its current generation"),
        TIMEOUT * 3,
        |o| {
            condition_of(o, "Ready").is_some_and(|c| c.status == "True")
                && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
        },
    )
    .await
}

fn branch_id(o: &Tcb) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.branch_id.clone())
        .expect("status.branchId")
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

/// A Serverless cluster made outside Kubernetes, once ACTIVE.
async fn active_cluster(env: &OperatorEnv, name: &str) -> String {
    let spec: clouddb_operator::api::TidbCloudServerlessClusterSpec =
        serde_json::from_value(json!({"region": "aws-us-east-1"})).expect("spec");
    let req = translate_serverless::create_request(&spec, name, "made-in-test", None);
    let c = cloud(env)
        .create_serverless_cluster(&req)
        .await
        .expect("create a cluster");
    let id = c.cluster_id.clone();
    support::eventually("the cluster to be ACTIVE", TIMEOUT, async || {
        match cloud(env).get_serverless_cluster(&id).await {
            Ok(c) if c.state == "ACTIVE" => Ok(()),
            Ok(c) => Err(c.state),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .expect("ACTIVE");
    id
}

async fn branches(env: &OperatorEnv, cluster_id: &str) -> Vec<Branch> {
    cloud(env)
        .list_branches(cluster_id)
        .await
        .expect("list branches")
}

fn serverless_requests(env: &OperatorEnv, method: &str, route: &str) -> u64 {
    env.sim
        .serverless_counters()
        .into_iter()
        .filter(|r| r.key.method == method && r.key.route == route)
        .map(|r| r.count)
        .sum()
}

const BRANCHES: &str = "/v1beta1/clusters/{clusterId}/branches";
const BRANCH: &str = "/v1beta1/clusters/{clusterId}/branches/{branchId}";
const RESET: &str = "/v1beta1/clusters/{clusterId}/branches/{branchId}:reset";

async fn secret_value(env: &OperatorEnv, name: &str, key: &str) -> String {
    let secret = env.secret(name).await.expect("connection Secret");
    let data = secret.data.expect("data");
    let v = data.get(key).unwrap_or_else(|| panic!("{name} has {key}"));
    String::from_utf8(v.0.clone()).expect("utf8")
}

async fn root_password_matches(env: &OperatorEnv, cid: &str, bid: &str, password: &str) -> bool {
    let v = env
        .serverless_admin(
            Method::POST,
            &format!("serverless/clusters/{cid}/branches/{bid}:verifyRootPassword"),
            Some(json!({"rootPassword": password})),
        )
        .await;
    v["match"] == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_on_a_referenced_cluster_then_reset_once_on_request_and_no_get_at_rest() {
    let Some(env) =
        OperatorEnv::start_with("tcb-create", SimConfig::default(), &["--poll-steady", "1s"]).await
    else {
        return;
    };
    env.apply_kind::<TidbCloudServerlessCluster>("parent", json!({"region": "aws-us-east-1"}))
        .await;
    env.apply_kind::<Tcb>("preview-1", json!({"clusterRef": {"name": "parent"}}))
        .await;
    let o = ready(&env, "preview-1").await;
    let status = o.status.clone().expect("status");
    let (cid, bid) = (status.cluster_id.clone().expect("clusterId"), branch_id(&o));
    assert_eq!(status.state.as_deref(), Some("ACTIVE"));
    assert_eq!(status.last_reset_request, Some(0));
    let prefix = status.user_prefix.clone().expect("userPrefix");
    let listed = branches(&env, &cid).await;
    assert_eq!(listed.len(), 1, "one branch");
    assert_eq!(listed[0].display_name, "preview-1");

    // The connection Secret works: the generated password is the branch root user's.
    let password = secret_value(&env, "preview-1-connection", "password").await;
    assert_eq!(
        secret_value(&env, "preview-1-connection", "username").await,
        format!("{prefix}.root")
    );
    assert_eq!(
        Some(secret_value(&env, "preview-1-connection", "host").await),
        status.host
    );
    assert!(
        secret_value(&env, "preview-1-connection", "uri")
            .await
            .starts_with("mysql://")
    );
    assert!(root_password_matches(&env, &cid, &bid, &password).await);

    // At rest: resyncs list the cluster's branches, never GET the branch.
    let lists = || serverless_requests(&env, "GET", BRANCHES);
    let before = lists();
    support::eventually("three more lists of the branches", TIMEOUT, async || {
        if lists() >= before + 3 {
            Ok(())
        } else {
            Err(format!("{} lists", lists()))
        }
    })
    .await
    .expect("resyncs");
    assert_eq!(
        serverless_requests(&env, "GET", BRANCH),
        0,
        "no GET per branch"
    );

    // Reset on request: exactly one :reset, RESTORING, then Ready again with the request recorded.
    let old_timestamp = status.parent_timestamp.clone();
    env.merge_kind::<Tcb>("preview-1", json!({"spec": {"resetRequest": 1}}))
        .await;
    env.wait_for::<Tcb>("preview-1", "lastResetRequest 1", TIMEOUT, |o| {
        o.status.as_ref().and_then(|s| s.last_reset_request) == Some(1)
    })
    .await;
    let o = env
        .wait_for::<Tcb>("preview-1", "Ready after the reset", TIMEOUT * 3, |o| {
            condition_of(o, "Ready").is_some_and(|c| c.status == "True")
                && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
                && o.status.as_ref().and_then(|s| s.state.as_deref()) == Some("ACTIVE")
        })
        .await;
    assert!(
        env.event_reasons("preview-1")
            .await
            .iter()
            .any(|r| r == "Resetting"),
        "a Resetting event"
    );
    assert_ne!(
        o.status.as_ref().and_then(|s| s.parent_timestamp.clone()),
        old_timestamp,
        "the reset moved the branch's point in time"
    );
    // A few more resyncs: still exactly one reset.
    let before = lists();
    support::eventually("two more lists", TIMEOUT, async || {
        if lists() >= before + 2 {
            Ok(())
        } else {
            Err(format!("{} lists", lists()))
        }
    })
    .await
    .expect("resyncs");
    assert_eq!(
        serverless_requests(&env, "POST", RESET),
        1,
        "exactly one :reset"
    );
    assert_eq!(serverless_requests(&env, "POST", BRANCHES), 1, "one create");
    assert!(
        root_password_matches(&env, &cid, &bid, &password).await,
        "the reset keeps the root password"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_is_lost_is_adopted_once() {
    let Some(env) = OperatorEnv::start("tcb-drop").await else {
        return;
    };
    let cid = active_cluster(&env, "drop-parent").await;
    env.serverless_admin(
        Method::POST,
        "faults",
        Some(
            json!({"kind": "dropAfterCommit", "count": 1, "method": "POST",
                    "pathPrefix": format!("/v1beta1/clusters/{cid}/branches")}),
        ),
    )
    .await;
    env.apply_kind::<Tcb>("lost-answer", json!({"clusterId": cid}))
        .await;
    let o = ready(&env, "lost-answer").await;
    let listed = branches(&env, &cid).await;
    assert_eq!(listed.len(), 1, "exactly one branch: {listed:?}");
    assert_eq!(branch_id(&o), listed[0].branch_id);
    assert_eq!(
        serverless_requests(&env, "POST", BRANCHES),
        1,
        "one create call"
    );
    assert!(
        env.event_reasons("lost-answer")
            .await
            .iter()
            .any(|r| r == "Adopted"),
        "the lost create was adopted"
    );
    let password = secret_value(&env, "lost-answer-connection", "password").await;
    assert!(root_password_matches(&env, &cid, &branch_id(&o), &password).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_password_change_child_branch_and_deletion_policies() {
    let Some(env) = OperatorEnv::start("tcb-delete").await else {
        return;
    };
    let cid = active_cluster(&env, "delete-parent").await;
    env.put_secret("branch-password", &[("password", "a-Branch-pw-1")])
        .await;
    env.apply_kind::<Tcb>(
        "kept",
        json!({"clusterId": cid, "deletionPolicy": "Retain",
               "rootPassword": {"secretRef": {"name": "branch-password", "key": "password"}}}),
    )
    .await;
    env.apply_kind::<Tcb>("dropped", json!({"clusterId": cid}))
        .await;
    env.apply_kind::<Tcb>("cascaded", json!({"clusterId": cid}))
        .await;
    let kept = branch_id(&ready(&env, "kept").await);
    let dropped = branch_id(&ready(&env, "dropped").await);
    let cascaded = branch_id(&ready(&env, "cascaded").await);
    assert!(root_password_matches(&env, &cid, &kept, "a-Branch-pw-1").await);
    // A new value in the referenced Secret is set on the branch's root user.
    env.put_secret("branch-password", &[("password", "a-Branch-pw-2")])
        .await;
    env.wait_event_in(env.ns(), "kept", "Normal", "PasswordSet")
        .await;
    assert!(root_password_matches(&env, &cid, &kept, "a-Branch-pw-2").await);
    assert_eq!(
        secret_value(&env, "kept-connection", "password").await,
        "a-Branch-pw-2"
    );
    // A branch of a branch: parentBranchId.
    env.apply_kind::<Tcb>("child", json!({"clusterId": cid, "parentBranchId": kept}))
        .await;
    let child = ready(&env, "child").await;
    assert_eq!(
        child.status.as_ref().and_then(|s| s.parent_id.as_deref()),
        Some(kept.as_str()),
        "the child's parent is the branch"
    );

    env.delete_kind::<Tcb>("kept").await;
    env.wait_gone_of::<Tcb>("kept").await;
    env.delete_kind::<Tcb>("dropped").await;
    env.wait_gone_of::<Tcb>("dropped").await;
    let live: Vec<Branch> = branches(&env, &cid)
        .await
        .into_iter()
        .filter(|b| b.state != "DELETED")
        .collect();
    let live_ids: Vec<&str> = live.iter().map(|b| b.branch_id.as_str()).collect();
    assert!(
        live_ids.contains(&kept.as_str()),
        "Retain keeps the branch: {live_ids:?}"
    );
    assert!(
        !live_ids.contains(&dropped.as_str()),
        "Delete deletes it: {live_ids:?}"
    );
    assert_eq!(serverless_requests(&env, "DELETE", BRANCH), 1, "one delete");

    // A namespace deletion with the policy unset is a cascade: the branch is kept.
    let namespaces: kube::api::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::api::Api::all(env.env.admin.clone());
    namespaces
        .delete(env.ns(), &Default::default())
        .await
        .expect("delete namespace");
    support::await_deleted(namespaces.clone(), env.ns(), TIMEOUT * 3)
        .await
        .expect("namespace gone");
    assert!(
        branches(&env, &cid)
            .await
            .iter()
            .any(|b| b.branch_id == cascaded && b.state == "ACTIVE"),
        "a namespace deletion retains the branch"
    );
    assert!(
        branches(&env, &cid)
            .await
            .iter()
            .any(|b| b.branch_id == branch_id(&child) && b.state == "ACTIVE"),
        "and the child branch"
    );
    assert_eq!(
        serverless_requests(&env, "DELETE", BRANCH),
        1,
        "still one delete"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_killed_mid_create_creates_exactly_one_branch() {
    let Some(mut env) = OperatorEnv::start("tcb-crash").await else {
        return;
    };
    let cid = active_cluster(&env, "crash-parent").await;
    // The create is applied, then its answer is held back for 30 s: the operator is killed while it waits.
    env.serverless_admin(
        Method::POST,
        "faults",
        Some(
            json!({"kind": "dropAfterCommit", "count": 1, "method": "POST",
                    "pathPrefix": format!("/v1beta1/clusters/{cid}/branches"), "holdMs": 30000}),
        ),
    )
    .await;
    env.apply_kind::<Tcb>("crashy", json!({"clusterId": cid}))
        .await;
    support::eventually("the create to reach the cloud", TIMEOUT, async || {
        if branches(&env, &cid).await.len() == 1 {
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
    let listed = branches(&env, &cid).await;
    assert_eq!(
        listed.len(),
        1,
        "exactly one branch after a crash mid-create"
    );
    assert_eq!(branch_id(&o), listed[0].branch_id);
    let password = secret_value(&env, "crashy-connection", "password").await;
    assert!(
        root_password_matches(&env, &cid, &branch_id(&o), &password).await,
        "the password stored before the create is the branch's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_is_refused_at_admission_or_stalls_without_cloud_writes() {
    let Some(env) = OperatorEnv::start("tcb-invalid").await else {
        return;
    };
    let api = env.api::<Tcb>();
    let object = |name: &str, spec: Value| -> Tcb {
        serde_json::from_value(json!({
            "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudBranch",
            "metadata": {"name": name}, "spec": spec,
        }))
        .expect("object")
    };
    // Not a point in time: refused at admission.
    let err = api
        .create(
            &Default::default(),
            &object(
                "bad-time",
                json!({"clusterId": "1", "parentTimestamp": "yesterday"}),
            ),
        )
        .await
        .expect_err("refused at admission");
    assert!(err.to_string().contains("parentTimestamp"), "{err}");
    // Both a reference and an id: refused.
    let err = api
        .create(
            &Default::default(),
            &object(
                "both",
                json!({"clusterId": "1", "clusterRef": {"name": "x"}}),
            ),
        )
        .await
        .expect_err("refused at admission");
    assert!(err.to_string().contains("exactly one"), "{err}");

    // A point in time in the future passes the schema, not the operator: Stalled, nothing written.
    let cid = active_cluster(&env, "invalid-parent").await;
    let writes_before = support::namespaces::writes_in(env.sim.serverless_counters());
    env.apply_kind::<Tcb>(
        "future",
        json!({"clusterId": cid, "parentTimestamp": "2999-01-01T00:00:00Z"}),
    )
    .await;
    let o = env
        .wait_condition_of::<Tcb>("future", "Stalled", "True", "InvalidSpec")
        .await;
    let message = condition_of(&o, "Stalled").expect("Stalled").message;
    assert!(message.contains("in the future"), "{message}");
    assert_eq!(
        support::namespaces::writes_in(env.sim.serverless_counters()),
        writes_before,
        "no cloud writes"
    );
    assert_eq!(serverless_requests(&env, "POST", BRANCHES), 0);

    // Immutable fields: the point in time and the cluster cannot change.
    let err = api
        .patch(
            "future",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"parentTimestamp": "2020-01-01T00:00:00Z"}})),
        )
        .await
        .expect_err("immutable");
    assert!(err.to_string().contains("immutable"), "{err}");
    let err = api
        .patch(
            "future",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"clusterId": "42"}})),
        )
        .await
        .expect_err("immutable");
    assert!(err.to_string().contains("immutable"), "{err}");

    // A reset request can only grow.
    env.apply_kind::<Tcb>("counter", json!({"clusterId": cid, "resetRequest": 2}))
        .await;
    let err = api
        .patch(
            "counter",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"resetRequest": 1}})),
        )
        .await
        .expect_err("can only grow");
    assert!(err.to_string().contains("can only grow"), "{err}");
    let o = ready(&env, "counter").await;
    assert_eq!(
        o.status.and_then(|s| s.last_reset_request),
        Some(2),
        "a new branch is not reset"
    );
    assert_eq!(serverless_requests(&env, "POST", RESET), 0);
}

/// Runs `clouddb-operator plan -o json -f <manifest>` against the simulator (the flags the operator has).
async fn plan_json(env: &OperatorEnv, manifest: &Value) -> (i32, Value) {
    let dir = std::env::temp_dir().join(format!("tcb-plan-{}", env.ns()));
    std::fs::create_dir_all(&dir).expect("manifest dir");
    let path = dir.join("branch.yaml");
    std::fs::write(&path, serde_yaml::to_string(manifest).expect("yaml")).expect("write manifest");
    let ca = env.sim.ca_path().expect("https").display().to_string();
    let args = vec![
        "plan".to_string(),
        "-o".into(),
        "json".into(),
        "-f".into(),
        path.display().to_string(),
        format!("--tidbcloud-api-url={}/v1beta1", env.sim.base_url()),
        format!("--tidbcloud-iam-url={}/v1beta1", env.sim.base_url()),
        format!(
            "--tidbcloud-serverless-url={}/v1beta1",
            env.sim.serverless_base_url()
        ),
        format!("--default-credentials={}/{CREDENTIALS}", env.ns()),
        format!("--extra-ca-file={ca}"),
    ];
    let out = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_clouddb-operator"))
            .args(&args)
            .env("KUBECONFIG", env.env.cp.admin_kubeconfig())
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .expect("the plan finishes in time")
    .expect("run the plan");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "JSON plan ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_previews_a_reset_without_making_it_and_pause_holds_it_back() {
    let Some(env) = OperatorEnv::start("tcb-plan").await else {
        return;
    };
    let cid = active_cluster(&env, "plan-parent").await;
    env.apply_kind::<Tcb>("held", json!({"clusterId": cid}))
        .await;
    ready(&env, "held").await;

    // The plan of a raised reset request: a change naming the reset, nothing written.
    let writes = || support::namespaces::writes_in(env.sim.serverless_counters());
    let before = writes();
    let manifest = json!({
        "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudBranch",
        "metadata": {"name": "held", "namespace": env.ns()},
        "spec": {"clusterId": cid, "resetRequest": 1},
    });
    let (code, report) = plan_json(&env, &manifest).await;
    let entry = report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .find(|o| o["name"] == "held")
        .unwrap_or_else(|| panic!("held in {report}"))
        .clone();
    assert_eq!(entry["action"], "change", "{report}");
    assert!(
        entry["changes"][0]
            .as_str()
            .unwrap_or_default()
            .contains("reset"),
        "{entry}"
    );
    assert_eq!(code, 2, "{report}");
    assert_eq!(writes(), before, "the plan wrote nothing");
    assert_eq!(serverless_requests(&env, "POST", RESET), 0);

    // Paused: the raised request waits; no call is made.
    env.merge_kind::<Tcb>(
        "held",
        json!({"metadata": {"annotations": {"clouddb.dev/reconcile": "paused"}},
               "spec": {"resetRequest": 1}}),
    )
    .await;
    let o = env
        .wait_for::<Tcb>("held", "Suspended on the new generation", TIMEOUT, |o| {
            condition_of(o, "Suspended").is_some_and(|c| {
                c.status == "True"
                    && c.reason == "ReconcilePaused"
                    && c.observed_generation == o.metadata.generation
            })
        })
        .await;
    assert_eq!(o.status.and_then(|s| s.last_reset_request), Some(0));
    assert_eq!(
        serverless_requests(&env, "POST", RESET),
        0,
        "paused: no reset"
    );

    // Resumed: the reset is made, once.
    env.merge_kind::<Tcb>(
        "held",
        json!({"metadata": {"annotations": {"clouddb.dev/reconcile": null}}}),
    )
    .await;
    env.wait_for::<Tcb>("held", "lastResetRequest 1", TIMEOUT, |o| {
        o.status.as_ref().and_then(|s| s.last_reset_request) == Some(1)
    })
    .await;
    ready(&env, "held").await;
    assert_eq!(serverless_requests(&env, "POST", RESET), 1, "one reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_rest_the_branches_of_a_cluster_share_one_list() {
    let Some(env) =
        OperatorEnv::start_with("tcb-rest", SimConfig::default(), &["--poll-steady", "1s"]).await
    else {
        return;
    };
    let cid = active_cluster(&env, "rest-parent").await;
    let names = ["rest-a", "rest-b", "rest-c", "rest-d"];
    for name in names {
        env.apply_kind::<Tcb>(name, json!({"clusterId": cid})).await;
    }
    for name in names {
        ready(&env, name).await;
    }
    let lists = || serverless_requests(&env, "GET", BRANCHES);
    // A measurement window: four branches resyncing every second would make about 4 lists a second each on
    // their own; sharing one list per cluster, about 1.
    let (start, at_start) = (std::time::Instant::now(), lists());
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let (secs, made) = (start.elapsed().as_secs_f64(), lists() - at_start);
    assert!(
        made >= 3,
        "the branches are still read at rest: {made} lists in {secs:.1}s"
    );
    assert!(
        (made as f64) <= 2.0 * secs + 1.0,
        "one list per cluster, not one per branch: {made} lists in {secs:.1}s"
    );
    assert_eq!(
        serverless_requests(&env, "GET", BRANCH),
        0,
        "no GET per branch"
    );
}
