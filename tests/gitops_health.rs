//! GitOps health of our real objects: what Flux (kstatus, `sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute`)
//! and Argo CD (our Lua health script `charts/clouddb-operator/files/argocd-health.lua`, run through gopher-lua
//! as Argo CD runs it) make of the objects the real operator writes, at each stage of their life.
//!
//! Both are computed by the Go helper `tools/gitops-health` (env `GITOPS_HEALTH`, else the newest binary
//! `tools/gitops-health/build.sh` left in its cache). Without it these tests print SKIPPED, except under CI.
//! The objects are read from the real kube-apiserver, serialized with serde_json and piped to the helper.

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clouddb_operator::api::{TidbCloudImport, TidbCloudIntegration};
use clouddb_sim::{Delays, SimConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::operator::*;
use support::{TIMEOUT, in_ci};

/// One output line of `gitops-health`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    kind: String,
    name: String,
    kstatus: String,
    kstatus_message: String,
    argo: String,
    argo_message: String,
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The helper binary: env `GITOPS_HEALTH`, else the newest `<cache>/clouddb-operator/gitops-health/*/gitops-health`
/// (as `tools/gitops-health/build.sh` builds it). Missing: SKIPPED (printed to stderr), or a panic under CI.
fn gitops_health_or_skip() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GITOPS_HEALTH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "GITOPS_HEALTH={} is not a file", p.display());
        return Some(p);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    let newest = cache
        .and_then(|c| std::fs::read_dir(c.join("clouddb-operator/gitops-health")).ok())
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let bin = e.ok()?.path().join("gitops-health");
            let modified = bin.metadata().ok()?.modified().ok()?;
            Some((modified, bin))
        })
        .max()
        .map(|(_, bin)| bin);
    if newest.is_none() {
        assert!(
            !in_ci(),
            "CI is set, so the GitOps health tests may not be skipped: build the helper with \
             tools/gitops-health/build.sh (and export GITOPS_HEALTH)"
        );
        let _ = writeln!(
            std::io::stderr().lock(),
            "SKIPPED (no gitops-health helper; run `GITOPS_HEALTH=$(tools/gitops-health/build.sh)`): {}",
            std::thread::current().name().unwrap_or("gitops_health")
        );
    }
    newest
}

/// kstatus and Argo CD health of one object, as the helper computes them.
fn health(helper: &Path, object: &impl Serialize) -> Health {
    let input = serde_json::to_vec(object).expect("serialize the object");
    let script = repo_root().join("charts/clouddb-operator/files/argocd-health.lua");
    let mut child = Command::new(helper)
        .arg("-lua")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", helper.display()));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write the object to gitops-health");
    let out = child.wait_with_output().expect("gitops-health output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gitops-health failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one object in, one line out: {stdout}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("bad output line {}: {e}", lines[0]))
}

/// Asserts the kstatus and Argo CD statuses (the messages go into the failure text).
#[track_caller]
fn assert_health(h: &Health, kstatus: &str, argo: &str, when: &str) {
    assert_eq!(
        (h.kstatus.as_str(), h.argo.as_str()),
        (kstatus, argo),
        "{when}: {} {}: kstatus {:?} ({}), Argo CD {:?} ({})",
        h.kind,
        h.name,
        h.kstatus,
        h.kstatus_message,
        h.argo,
        h.argo_message
    );
}

fn generations(o: &impl Serialize) -> (Option<i64>, Option<i64>) {
    let v = serde_json::to_value(o).expect("serialize");
    (
        v["metadata"]["generation"].as_i64(),
        v["status"]["observedGeneration"].as_i64(),
    )
}

#[tokio::test]
async fn cluster_health_through_create_spec_change_and_deletion() {
    let Some(helper) = gitops_health_or_skip() else {
        return;
    };
    let Some(mut env) = OperatorEnv::start("gitops-tcc").await else {
        return;
    };

    // Created and converged: Current / Healthy.
    env.apply("orders", basic_spec()).await;
    let ready = env.wait_ready("orders").await;
    let h = health(&helper, &ready);
    assert_eq!(
        (h.kind.as_str(), h.name.as_str()),
        ("TidbCloudCluster", "orders")
    );
    assert_health(&h, "Current", "Healthy", "after create");

    // A spec change the operator has not seen yet (it is down): generation > observedGeneration.
    env.kill_operator();
    let mut spec = basic_spec();
    spec["tidb"]["nodeCount"] = json!(3);
    env.patch_spec("orders", spec).await;
    let changed = env.tcc.get("orders").await.expect("get orders");
    let (generation, observed) = generations(&changed);
    assert!(
        generation > observed && observed.is_some(),
        "generation {generation:?}, observedGeneration {observed:?}"
    );
    let h = health(&helper, &changed);
    assert_health(&h, "InProgress", "Progressing", "right after a spec change");
    assert!(h.kstatus_message.contains("generation"), "{h:?}");

    // A new object the operator has not seen at all (no status): Argo CD waits for it; kstatus alone calls an
    // object without status.observedGeneration or conditions Current (why docs/gitops.md adds healthCheckExprs).
    env.apply("fresh", basic_spec()).await;
    let fresh = env.tcc.get("fresh").await.expect("get fresh");
    assert!(fresh.status.is_none(), "{:?}", fresh.status);
    let h = health(&helper, &fresh);
    assert_health(&h, "Current", "Progressing", "before the operator saw it");

    // The operator converges on the change: Current / Healthy again.
    env.start_operator();
    let converged = env.wait_ready("orders").await;
    assert_health(
        &health(&helper, &converged),
        "Current",
        "Healthy",
        "after the change converged",
    );

    // Deleted while the finalizer holds it (operator down): Terminating / Progressing "Terminating".
    env.kill_operator();
    env.delete("orders").await;
    let deleting = env.tcc.get("orders").await.expect("get orders");
    assert!(deleting.metadata.deletion_timestamp.is_some());
    let h = health(&helper, &deleting);
    assert_health(&h, "Terminating", "Progressing", "while deleting");
    assert_eq!(h.argo_message, "Terminating");

    // The operator finishes the deletion.
    env.start_operator();
    env.wait_gone("orders").await;
}

#[tokio::test]
async fn invalid_cluster_spec_is_failed_and_degraded() {
    let Some(helper) = gitops_health_or_skip() else {
        return;
    };
    let Some(env) = OperatorEnv::start("gitops-invalid").await else {
        return;
    };
    let mut spec = basic_spec();
    spec["tidb"]["nodeSpecKey"] = json!("99C999G");
    env.apply("broken", spec).await;
    let stalled = env
        .wait_condition("broken", "Stalled", "True", "InvalidSpec")
        .await;
    let h = health(&helper, &stalled);
    assert_health(&h, "Failed", "Degraded", "with an unknown nodeSpecKey");
    let message = condition(&stalled, "Stalled")
        .expect("Stalled")
        .message
        .clone();
    assert_eq!(h.kstatus_message, message);
    assert!(h.argo_message.contains(&message), "{h:?}");

    // Fixed: Current / Healthy.
    env.patch_spec("broken", json!({"tidb": {"nodeSpecKey": "8C16G"}}))
        .await;
    let fixed = env.wait_ready("broken").await;
    assert_health(&health(&helper, &fixed), "Current", "Healthy", "once fixed");
}

#[tokio::test]
async fn integration_health_missing_cluster_then_active() {
    let Some(helper) = gitops_health_or_skip() else {
        return;
    };
    let Some(env) = OperatorEnv::start("gitops-int").await else {
        return;
    };
    env.apply_kind::<TidbCloudIntegration>(
        "prom",
        json!({"clusterRef": {"name": "orders"}, "type": "PROMETHEUS"}),
    )
    .await;
    let missing = env
        .wait_condition_of::<TidbCloudIntegration>("prom", "Stalled", "True", "ClusterNotFound")
        .await;
    assert_health(
        &health(&helper, &missing),
        "Failed",
        "Degraded",
        "without its cluster",
    );

    env.apply("orders", basic_spec()).await;
    env.wait_ready("orders").await;
    let active = env
        .wait_condition_of::<TidbCloudIntegration>("prom", "Ready", "True", "Active")
        .await;
    let (generation, observed) = generations(&active);
    assert_eq!(generation, observed);
    assert_health(
        &health(&helper, &active),
        "Current",
        "Healthy",
        "once active",
    );
}

/// An S3 import of `uri` into the cluster `orders` (access key in Secret `aws`).
fn s3_import(uri: &str) -> serde_json::Value {
    json!({
        "clusterRef": {"name": "orders"},
        "fileType": "CSV",
        "source": {"type": "S3", "uri": uri, "s3": {"accessKey": {"secretRef": {"name": "aws"}}}},
    })
}

#[tokio::test]
async fn import_health_while_running_completed_and_failed() {
    let Some(helper) = gitops_health_or_skip() else {
        return;
    };
    // Imports run for 6 s, so the test sees one part-way.
    let sim = SimConfig {
        delays: Delays {
            import_run: Duration::from_secs(6),
            ..Delays::fast()
        },
        ..SimConfig::default()
    };
    let Some(env) = OperatorEnv::start_with("gitops-imp", sim, &[]).await else {
        return;
    };
    env.apply("orders", basic_spec()).await;
    env.wait_ready("orders").await;
    env.put_secret(
        "aws",
        &[
            ("accessKeyId", "AKIAGITOPSTEST0001"),
            ("secretAccessKey", "gitops-health-secret-access-key"),
        ],
    )
    .await;
    env.apply_kind::<TidbCloudImport>("q1", s3_import("s3://exports/orders/q1/"))
        .await;
    let running = env
        .wait_for::<TidbCloudImport>("q1", "import IMPORTING", TIMEOUT, |i| {
            i.status.as_ref().and_then(|s| s.state.as_deref()) == Some("IMPORTING")
        })
        .await;
    assert_health(
        &health(&helper, &running),
        "InProgress",
        "Progressing",
        "while importing",
    );
    let done = env
        .wait_condition_of::<TidbCloudImport>("q1", "Ready", "True", "Completed")
        .await;
    assert_health(&health(&helper, &done), "Current", "Healthy", "completed");

    // The simulator fails imports whose URI contains "sim-fail".
    env.apply_kind::<TidbCloudImport>("broken", s3_import("s3://exports/sim-fail/"))
        .await;
    let failed = env
        .wait_condition_of::<TidbCloudImport>("broken", "Stalled", "True", "ImportFailed")
        .await;
    assert_health(&health(&helper, &failed), "Failed", "Degraded", "failed");
}

const KINDS: [&str; 3] = [
    "TidbCloudCluster",
    "TidbCloudImport",
    "TidbCloudIntegration",
];

/// The fenced ```yaml blocks of a Markdown file, parsed.
fn yaml_blocks(markdown: &str) -> Vec<serde_json::Value> {
    markdown
        .split("```yaml\n")
        .skip(1)
        .map(|rest| {
            let block = rest.split("```").next().expect("closed block");
            serde_yaml::from_str(block)
                .unwrap_or_else(|e| panic!("YAML block parses: {e}\n{block}"))
        })
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// docs/gitops.md carries the shipped Lua script byte for byte under the argocd-cm key of each kind, and the
/// same Flux healthCheckExprs as examples/gitops/flux-kustomization.yaml, for each kind.
#[test]
fn docs_and_examples_carry_the_shipped_health_rules() {
    let lua = read("charts/clouddb-operator/files/argocd-health.lua");
    let blocks = yaml_blocks(&read("docs/gitops.md"));
    let cm = blocks
        .iter()
        .find(|b| b["kind"] == "ConfigMap")
        .expect("an argocd-cm block in docs/gitops.md");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    for kind in KINDS {
        let key = format!("resource.customizations.health.clouddb.dev_{kind}");
        assert_eq!(
            cm["data"][&key].as_str(),
            Some(lua.as_str()),
            "docs/gitops.md: {key} is not charts/clouddb-operator/files/argocd-health.lua"
        );
    }
    let doc_exprs = blocks
        .iter()
        .find_map(|b| b.get("healthCheckExprs"))
        .expect("a healthCheckExprs block in docs/gitops.md");
    let example: Vec<serde_json::Value> =
        serde_yaml::Deserializer::from_str(&read("examples/gitops/flux-kustomization.yaml"))
            .map(|d| serde::Deserialize::deserialize(d).expect("example YAML parses"))
            .collect();
    let kustomization = example
        .iter()
        .find(|d| d["kind"] == "Kustomization")
        .expect("a Flux Kustomization in the example");
    assert_eq!(&kustomization["spec"]["healthCheckExprs"], doc_exprs);
    let kinds: Vec<&str> = doc_exprs
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, KINDS);
    let application = read("examples/gitops/argocd-application.yaml");
    assert!(application.contains("resource.customizations.health.clouddb.dev_TidbCloudCluster"));
}
