//! GitOps health of our real objects: what kstatus (`sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute`, Flux's
//! default), Flux with our `healthCheckExprs` (the CEL expressions of `examples/gitops/flux-kustomization.yaml`,
//! evaluated with cel-go as kustomize-controller evaluates them) and Argo CD (our Lua health script
//! `charts/clouddb-operator/files/argocd-health.lua`, run through gopher-lua as Argo CD runs it) make of the
//! objects the real operator writes, for every kind, at each stage of their life.
//!
//! All three are computed by the Go helper `tools/gitops-health` (env `GITOPS_HEALTH`, else the newest binary
//! `tools/gitops-health/build.sh` left in its cache). Without it these tests print SKIPPED, except under CI.
//! The objects are read from the real kube-apiserver as JSON (untyped, as Flux and Argo CD read them) and piped
//! to the helper.

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clouddb_operator::api::clickhouseservice::ClickHouseService;
use clouddb_operator::api::{
    TidbCloudCluster, TidbCloudImport, TidbCloudIntegration, TidbCloudSqlUser,
};
use clouddb_sim::{Delays, SimConfig};
use kube::api::{Api, ApiResource, DynamicObject};
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
    flux: String,
    flux_message: String,
    flux_source: String,
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

const FLUX_EXAMPLE: &str = "examples/gitops/flux-kustomization.yaml";

/// kstatus, Flux (the healthCheckExprs of examples/gitops/flux-kustomization.yaml) and Argo CD health of one
/// object, as the helper computes them.
fn health(helper: &Path, object: &impl Serialize) -> Health {
    health_with(helper, object, &repo_root().join(FLUX_EXAMPLE))
}

/// [`health`] with the Flux healthCheckExprs of the Kustomization(s) in `flux`.
fn health_with(helper: &Path, object: &impl Serialize, flux: &Path) -> Health {
    let input = serde_json::to_vec(object).expect("serialize the object");
    let script = repo_root().join("charts/clouddb-operator/files/argocd-health.lua");
    let mut child = Command::new(helper)
        .arg("-lua")
        .arg(&script)
        .arg("-flux")
        .arg(flux)
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

/// Asserts the kstatus, Argo CD and Flux healthCheckExprs statuses (the messages go into the failure text).
/// The Flux status must come from our healthCheckExprs (an entry for the object's kind), not from Flux's
/// kstatus fallback.
#[track_caller]
fn assert_health(h: &Health, kstatus: &str, argo: &str, flux: &str, when: &str) {
    assert_eq!(
        (
            h.kstatus.as_str(),
            h.argo.as_str(),
            h.flux.as_str(),
            h.flux_source.as_str()
        ),
        (kstatus, argo, flux, "healthCheckExprs"),
        "{when}: {} {}: kstatus {:?} ({}), Argo CD {:?} ({}), Flux {:?} from {} ({})",
        h.kind,
        h.name,
        h.kstatus,
        h.kstatus_message,
        h.argo,
        h.argo_message,
        h.flux,
        h.flux_source,
        h.flux_message
    );
}

/// The object `name` of kind `K` as the kube-apiserver serves it (untyped JSON: absent fields stay absent).
async fn raw<K: TestKind>(env: &OperatorEnv, name: &str) -> serde_json::Value {
    let api: Api<DynamicObject> = Api::namespaced_with(
        env.env.admin.clone(),
        env.ns(),
        &ApiResource::erase::<K>(&()),
    );
    let o = api
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("get {} {name}: {e}", K::kind(&())));
    serde_json::to_value(o).expect("serialize")
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

    // Created and converged: Current / Healthy / Current.
    env.apply("orders", basic_spec()).await;
    env.wait_ready("orders").await;
    let h = health(&helper, &raw::<TidbCloudCluster>(&env, "orders").await);
    assert_eq!(
        (h.kind.as_str(), h.name.as_str()),
        ("TidbCloudCluster", "orders")
    );
    assert_health(&h, "Current", "Healthy", "Current", "after create");

    // A spec change the operator has not seen yet (it is down): generation > observedGeneration.
    env.kill_operator();
    let mut spec = basic_spec();
    spec["tidb"]["nodeCount"] = json!(3);
    env.patch_spec("orders", spec).await;
    let changed = raw::<TidbCloudCluster>(&env, "orders").await;
    let (generation, observed) = generations(&changed);
    assert!(
        generation > observed && observed.is_some(),
        "generation {generation:?}, observedGeneration {observed:?}"
    );
    let h = health(&helper, &changed);
    assert_health(
        &h,
        "InProgress",
        "Progressing",
        "InProgress",
        "right after a spec change",
    );
    assert!(h.kstatus_message.contains("generation"), "{h:?}");

    // A new object the operator has not seen at all (no status): Argo CD waits for it; kstatus alone calls an
    // object without status.observedGeneration or conditions Current (why docs/gitops.md adds healthCheckExprs);
    // with the healthCheckExprs, Flux cannot evaluate them without a `status` (the top-level variable does not
    // exist): Unknown, which keeps the health check waiting as InProgress would.
    env.apply("fresh", basic_spec()).await;
    let fresh = raw::<TidbCloudCluster>(&env, "fresh").await;
    assert!(fresh.get("status").is_none(), "{fresh}");
    let h = health(&helper, &fresh);
    assert_health(
        &h,
        "Current",
        "Progressing",
        "Unknown",
        "before the operator saw it",
    );
    assert!(h.flux_message.contains("no such attribute"), "{h:?}");

    // The operator converges on the change: Current / Healthy / Current again.
    env.start_operator();
    env.wait_ready("orders").await;
    assert_health(
        &health(&helper, &raw::<TidbCloudCluster>(&env, "orders").await),
        "Current",
        "Healthy",
        "Current",
        "after the change converged",
    );

    // Deleted while the finalizer holds it (operator down): Terminating / Progressing "Terminating"; Flux's
    // healthCheckExprs do not look at deletionTimestamp, but the deletion bumped metadata.generation.
    env.kill_operator();
    env.delete("orders").await;
    let deleting = raw::<TidbCloudCluster>(&env, "orders").await;
    assert!(deleting["metadata"]["deletionTimestamp"].is_string());
    let h = health(&helper, &deleting);
    assert_health(
        &h,
        "Terminating",
        "Progressing",
        "InProgress",
        "while deleting",
    );
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
    let h = health(&helper, &raw::<TidbCloudCluster>(&env, "broken").await);
    assert_health(
        &h,
        "Failed",
        "Degraded",
        "Failed",
        "with an unknown nodeSpecKey",
    );
    let message = condition(&stalled, "Stalled")
        .expect("Stalled")
        .message
        .clone();
    assert_eq!(h.kstatus_message, message);
    assert!(h.argo_message.contains(&message), "{h:?}");

    // Fixed: Current / Healthy / Current.
    env.patch_spec("broken", json!({"tidb": {"nodeSpecKey": "8C16G"}}))
        .await;
    env.wait_ready("broken").await;
    assert_health(
        &health(&helper, &raw::<TidbCloudCluster>(&env, "broken").await),
        "Current",
        "Healthy",
        "Current",
        "once fixed",
    );
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
    env.wait_condition_of::<TidbCloudIntegration>("prom", "Stalled", "True", "ClusterNotFound")
        .await;
    assert_health(
        &health(&helper, &raw::<TidbCloudIntegration>(&env, "prom").await),
        "Failed",
        "Degraded",
        "Failed",
        "without its cluster",
    );

    env.apply("orders", basic_spec()).await;
    env.wait_ready("orders").await;
    env.wait_condition_of::<TidbCloudIntegration>("prom", "Ready", "True", "Active")
        .await;
    let active = raw::<TidbCloudIntegration>(&env, "prom").await;
    let (generation, observed) = generations(&active);
    assert_eq!(generation, observed);
    assert_health(
        &health(&helper, &active),
        "Current",
        "Healthy",
        "Current",
        "once active",
    );
}

#[tokio::test]
async fn sql_user_health_missing_cluster_then_ready() {
    let Some(helper) = gitops_health_or_skip() else {
        return;
    };
    let Some(env) = OperatorEnv::start("gitops-usr").await else {
        return;
    };
    env.apply_kind::<TidbCloudSqlUser>(
        "app",
        json!({"clusterRef": {"name": "orders"}, "userName": "app", "builtinRole": "role_readwrite"}),
    )
    .await;
    env.wait_condition_of::<TidbCloudSqlUser>("app", "Stalled", "True", "ClusterNotFound")
        .await;
    assert_health(
        &health(&helper, &raw::<TidbCloudSqlUser>(&env, "app").await),
        "Failed",
        "Degraded",
        "Failed",
        "without its cluster",
    );

    env.apply("orders", basic_spec()).await;
    env.wait_ready("orders").await;
    env.wait_condition_of::<TidbCloudSqlUser>("app", "Ready", "True", "Ready")
        .await;
    let ready = raw::<TidbCloudSqlUser>(&env, "app").await;
    let (generation, observed) = generations(&ready);
    assert_eq!(generation, observed);
    assert_health(
        &health(&helper, &ready),
        "Current",
        "Healthy",
        "Current",
        "once ready",
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
    env.wait_for::<TidbCloudImport>("q1", "import IMPORTING", TIMEOUT, |i| {
        i.status.as_ref().and_then(|s| s.state.as_deref()) == Some("IMPORTING")
    })
    .await;
    let running = raw::<TidbCloudImport>(&env, "q1").await;
    assert_eq!(running["status"]["state"], "IMPORTING", "{running}");
    assert_health(
        &health(&helper, &running),
        "InProgress",
        "Progressing",
        "InProgress",
        "while importing",
    );
    env.wait_condition_of::<TidbCloudImport>("q1", "Ready", "True", "Completed")
        .await;
    assert_health(
        &health(&helper, &raw::<TidbCloudImport>(&env, "q1").await),
        "Current",
        "Healthy",
        "Current",
        "completed",
    );

    // The simulator fails imports whose URI contains "sim-fail".
    env.apply_kind::<TidbCloudImport>("broken", s3_import("s3://exports/sim-fail/"))
        .await;
    env.wait_condition_of::<TidbCloudImport>("broken", "Stalled", "True", "ImportFailed")
        .await;
    assert_health(
        &health(&helper, &raw::<TidbCloudImport>(&env, "broken").await),
        "Failed",
        "Degraded",
        "Failed",
        "failed",
    );
}

fn clickhouse_spec() -> serde_json::Value {
    json!({"provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "10.0.0.0/8", "description": "ci"}]})
}

/// Waits until the ClickHouseService `name` is Ready=True on its current generation.
async fn clickhouse_ready(env: &OperatorEnv, name: &str) {
    env.wait_for::<ClickHouseService>(
        name,
        &format!("ClickHouseService {name} Ready on its current generation"),
        TIMEOUT * 3,
        |o| {
            condition_of(o, "Ready").is_some_and(|c| c.status == "True")
                && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
        },
    )
    .await;
}

#[tokio::test]
async fn clickhouse_service_health_throttled_ready_invalid_changed_and_deleted() {
    let Some(helper) = gitops_health_or_skip() else {
        return;
    };
    let Some(mut env) = OperatorEnv::start("gitops-chs").await else {
        return;
    };

    // Every ClickHouse Cloud call answers 429 until the fault is lifted: Reconciling=True (Throttled).
    env.clickhouse_admin(
        reqwest::Method::POST,
        "faults",
        Some(json!({"kind": "throttle"})),
    )
    .await;
    env.apply_kind::<ClickHouseService>("analytics", clickhouse_spec())
        .await;
    env.wait_condition_of::<ClickHouseService>("analytics", "Reconciling", "True", "Throttled")
        .await;
    assert_health(
        &health(&helper, &raw::<ClickHouseService>(&env, "analytics").await),
        "InProgress",
        "Progressing",
        "InProgress",
        "throttled",
    );

    // The API answers again: the service is created and Ready.
    env.clickhouse_admin(reqwest::Method::DELETE, "faults", None)
        .await;
    clickhouse_ready(&env, "analytics").await;
    let ready = raw::<ClickHouseService>(&env, "analytics").await;
    let h = health(&helper, &ready);
    assert_eq!(
        (h.kind.as_str(), h.name.as_str()),
        ("ClickHouseService", "analytics")
    );
    assert_health(&h, "Current", "Healthy", "Current", "once ready");

    // The test can fail: expressions that do not say what ours say give another verdict on the same object.
    flux_verdicts_follow_the_expressions(&helper, &ready);

    // A password shorter than the minimum: Stalled (InvalidSpec).
    env.put_secret("short", &[("password", "short")]).await;
    env.apply_kind::<ClickHouseService>(
        "weak",
        json!({"provider": "aws", "region": "us-east-1",
               "password": {"secretRef": {"name": "short", "key": "password"}}}),
    )
    .await;
    env.wait_condition_of::<ClickHouseService>("weak", "Stalled", "True", "InvalidSpec")
        .await;
    assert_health(
        &health(&helper, &raw::<ClickHouseService>(&env, "weak").await),
        "Failed",
        "Degraded",
        "Failed",
        "with a too short password",
    );

    // A spec change the operator has not seen (it is down).
    env.kill_operator();
    let mut spec = clickhouse_spec();
    spec["numReplicas"] = json!(2);
    env.apply_kind::<ClickHouseService>("analytics", spec).await;
    let changed = raw::<ClickHouseService>(&env, "analytics").await;
    let (generation, observed) = generations(&changed);
    assert!(
        generation > observed && observed.is_some(),
        "generation {generation:?}, observedGeneration {observed:?}"
    );
    assert_health(
        &health(&helper, &changed),
        "InProgress",
        "Progressing",
        "InProgress",
        "right after a spec change",
    );

    // Deleted while the finalizer holds it (operator down).
    env.delete_kind::<ClickHouseService>("analytics").await;
    let deleting = raw::<ClickHouseService>(&env, "analytics").await;
    assert!(deleting["metadata"]["deletionTimestamp"].is_string());
    let h = health(&helper, &deleting);
    assert_health(
        &h,
        "Terminating",
        "Progressing",
        "InProgress",
        "while deleting",
    );
    env.start_operator();
    env.wait_gone_of::<ClickHouseService>("analytics").await;
}

/// The Flux verdict on `ready` (a Ready object) is the shipped expressions' and not a constant: a `current`
/// asking for Ready=False leaves it InProgress, a `failed` that always holds makes it Failed, an expression that
/// does not parse is an error, and a Kustomization without an entry for its kind falls back to kstatus.
fn flux_verdicts_follow_the_expressions(helper: &Path, ready: &serde_json::Value) {
    let example = read(FLUX_EXAMPLE);
    let dir = tempdir();
    let variant = |name: &str, yaml: String| {
        let path = dir.join(name);
        std::fs::write(&path, yaml).expect("write a Kustomization variant");
        health_with(helper, ready, &path)
    };
    let ready_term = "e.type == 'Ready' && e.status == 'True'";
    assert!(
        example.contains(ready_term),
        "the example's current expression changed"
    );
    let h = variant(
        "inverted.yaml",
        example.replace(ready_term, "e.type == 'Ready' && e.status == 'False'"),
    );
    assert_eq!(
        (h.flux.as_str(), h.flux_message.as_str()),
        ("InProgress", "no expression is true"),
        "{h:?}"
    );
    let h = variant(
        "always-failed.yaml",
        example.replace("failed: &failed \"", "failed: &failed \"true || "),
    );
    assert_eq!(h.flux, "Failed", "{h:?}");
    let h = variant(
        "unparsable.yaml",
        example.replace(ready_term, "e.type == 'Ready' && (e.status == 'True'"),
    );
    assert_eq!(h.flux, "Error", "{h:?}");
    assert!(h.flux_message.contains("parse"), "{h:?}");
    let kind = ready["kind"].as_str().expect("kind");
    let h = variant(
        "other-kind.yaml",
        example.replace(&format!("kind: {kind}\n"), "kind: SomethingElse\n"),
    );
    assert_eq!(
        (h.flux.as_str(), h.flux_source.as_str()),
        ("Current", "kstatus"),
        "{h:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh temporary directory.
fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gitops-health-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Every kind the operator serves (its CRDs, sorted by CRD name): the one list the health rules must cover.
fn kinds() -> Vec<String> {
    clouddb_operator::api::crds()
        .iter()
        .map(|crd| crd.spec.names.kind.clone())
        .collect()
}

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

/// docs/gitops.md carries the shipped Lua script byte for byte under the argocd-cm key of each kind the operator
/// serves, and the same Flux healthCheckExprs as examples/gitops/flux-kustomization.yaml, one entry for each of
/// those kinds, all with the same three expressions (so the live tests above, which evaluate the example's,
/// hold for the docs' too).
#[test]
fn docs_and_examples_carry_the_shipped_health_rules() {
    let lua = read("charts/clouddb-operator/files/argocd-health.lua");
    let blocks = yaml_blocks(&read("docs/gitops.md"));
    let cm = blocks
        .iter()
        .find(|b| b["kind"] == "ConfigMap")
        .expect("an argocd-cm block in docs/gitops.md");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    let kinds = kinds();
    assert!(kinds.iter().any(|k| k == "ClickHouseService"), "{kinds:?}");
    for kind in &kinds {
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
    let kinds_with_exprs: Vec<String> = doc_exprs
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind").to_string())
        .collect();
    assert_eq!(kinds_with_exprs, kinds);
    let entries = doc_exprs.as_array().expect("a list");
    for e in entries {
        assert_eq!(e["apiVersion"], "clouddb.dev/v1alpha1", "{e}");
        for field in ["current", "inProgress", "failed"] {
            assert_eq!(e[field], entries[0][field], "{field} of {}", e["kind"]);
            assert!(e[field].is_string(), "{field} of {}", e["kind"]);
        }
    }
    let application = read("examples/gitops/argocd-application.yaml");
    for kind in &kinds {
        assert!(
            application.contains(&format!(
                "resource.customizations.health.clouddb.dev_{kind}"
            )),
            "examples/gitops/argocd-application.yaml names the argocd-cm key of {kind}"
        );
    }
}

// ---- TidbCloudServerlessCluster ---------------------------------------------------------------------------

#[tokio::test]
async fn serverless_cluster_health_ready_invalid_and_deleting() {
    use clouddb_operator::api::TidbCloudServerlessCluster as Tcsc;
    let Some(helper) = gitops_health_or_skip() else {
        return;
    };
    let Some(mut env) = OperatorEnv::start("gitops-tcsc").await else {
        return;
    };
    env.apply_kind::<Tcsc>("preview", json!({"region": "aws-us-east-1"}))
        .await;
    env.wait_for::<Tcsc>(
        "preview",
        "TidbCloudServerlessCluster preview Ready on its current generation",
        TIMEOUT * 3,
        |o| {
            condition_of(o, "Ready").is_some_and(|c| c.status == "True")
                && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
        },
    )
    .await;
    let h = health(&helper, &raw::<Tcsc>(&env, "preview").await);
    assert_eq!(
        (h.kind.as_str(), h.name.as_str()),
        ("TidbCloudServerlessCluster", "preview")
    );
    assert_health(&h, "Current", "Healthy", "Current", "once ready");

    // A reversed IP range passes the schema but not the operator: Stalled (InvalidSpec).
    env.apply_kind::<Tcsc>(
        "reversed",
        json!({"region": "aws-us-east-1", "publicEndpoint": {"ipAccessList": [
            {"startIpAddress": "10.0.0.9", "endIpAddress": "10.0.0.1"}]}}),
    )
    .await;
    env.wait_condition_of::<Tcsc>("reversed", "Stalled", "True", "InvalidSpec")
        .await;
    assert_health(
        &health(&helper, &raw::<Tcsc>(&env, "reversed").await),
        "Failed",
        "Degraded",
        "Failed",
        "with a reversed IP range",
    );

    // Deleted while the finalizer holds it (operator down).
    env.kill_operator();
    env.delete_kind::<Tcsc>("preview").await;
    let deleting = raw::<Tcsc>(&env, "preview").await;
    assert!(deleting["metadata"]["deletionTimestamp"].is_string());
    assert_health(
        &health(&helper, &deleting),
        "Terminating",
        "Progressing",
        "InProgress",
        "while deleting",
    );
    env.start_operator();
    env.wait_gone_of::<Tcsc>("preview").await;
}
