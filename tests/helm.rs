//! The Helm chart `charts/clouddb-operator`:
//!
//! - golden: the chart's CRDs and deletion-protection policy are copies of the generated ones (no helm needed);
//! - `helm lint` and `helm template` for the main value combinations (default, a list of watched namespaces, a
//!   ServiceMonitor): security settings, probes, exact RBAC without wildcards, values-schema rejections;
//! - `helm install` into the real control plane, then the operator binary run with the command line of the
//!   installed Deployment as the chart's ServiceAccount (the control plane has no kubelet): the full
//!   TidbCloudCluster lifecycle works with exactly the chart's RBAC, and a namespace-scoped install cannot read
//!   Secrets elsewhere.
//!
//! helm comes from `tools/helm/build.sh` (or env `HELM`); without it the helm tests print SKIPPED, except under CI.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use clouddb_operator::api::{self, TidbCloudCluster, TidbCloudServerlessCluster};
use clouddb_sim::{SimConfig, Simulator};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use support::operator::{basic_spec, tail};
use support::ship::*;
use support::*;

const RELEASE: &str = "clouddb-operator";
const RELEASE_NS: &str = OPERATOR_NAMESPACE; // clouddb-system: the testkit's operator identity lives there

// ---- golden ---------------------------------------------------------------------------------------------------

/// `charts/clouddb-operator/crds/` holds exactly the generated CRDs (as in `crds/`), and
/// `files/deletion-protection.yaml` is `crds/deletion-protection.yaml`. `UPDATE_CRDS=1` rewrites stale copies.
#[test]
fn chart_crds_are_the_generated_ones() {
    let update = std::env::var_os("UPDATE_CRDS").is_some_and(|v| !v.is_empty() && v != "0");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chart_crds = chart_dir().join("crds");
    let mut expected_files = BTreeSet::new();
    let mut stale = Vec::new();
    let mut check = |path: &Path, expected: &str| {
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        if actual != expected {
            if update {
                std::fs::write(path, expected)
                    .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
                eprintln!("rewrote {}", path.display());
            } else {
                stale.push(path.display().to_string());
            }
        }
    };
    for crd in api::crds() {
        let singular = crd.spec.names.singular.clone().expect("singular name");
        let file = format!("{singular}.yaml");
        let generated = api::crd_yaml(&crd);
        // The chart copy equals both the generated YAML and the repository's crds/ file.
        let repo_copy = std::fs::read_to_string(root.join("crds").join(&file)).unwrap_or_default();
        assert_eq!(
            repo_copy, generated,
            "crds/{file} is stale: run `UPDATE_CRDS=1 cargo test --test crds`"
        );
        check(&chart_crds.join(&file), &generated);
        expected_files.insert(file);
    }
    check(
        &chart_dir().join("files/deletion-protection.yaml"),
        api::deletion_protection_policy_yaml(),
    );
    assert!(
        stale.is_empty(),
        "stale chart copies: {}\nRun `UPDATE_CRDS=1 cargo test --test helm` and commit the result.",
        stale.join(", ")
    );
    let present: BTreeSet<String> = std::fs::read_dir(&chart_crds)
        .expect("chart crds/ directory")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        present, expected_files,
        "charts/clouddb-operator/crds/ must hold exactly the generated CRDs"
    );
}

// ---- lint and template ------------------------------------------------------------------------------------------

const WATCHED: &[&str] = &["team-a", "team-b"];

fn watch_list_values() -> String {
    format!(
        "watchNamespaces={}",
        serde_json::to_string(WATCHED).expect("json")
    )
}

#[test]
fn helm_lint_passes_for_the_main_value_combinations() {
    let Some(helm) = helm_or_skip() else { return };
    let chart = chart_dir();
    let chart = chart.to_str().expect("UTF-8 path");
    let watch = watch_list_values();
    for extra in [
        vec![],
        vec!["--set-json", watch.as_str()],
        vec!["--set", "metrics.serviceMonitor.enabled=true"],
        vec!["--set", "replicas=2"],
        vec!["--set", "grafana.dashboard.enabled=true"],
    ] {
        let mut args = vec!["lint", "--strict", chart];
        args.extend(extra.iter().copied());
        let out = helm.ok(&args);
        assert!(out.stdout.contains("0 chart(s) failed"), "{}", out.stdout);
    }
}

/// The workload permissions (all namespaces with a ClusterRole, else each watched namespace).
fn workload_permissions() -> BTreeSet<Permission> {
    perms(&[
        (
            "clouddb.dev",
            "tidbcloudclusters",
            &["get", "list", "watch", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "tidbcloudimports",
            &["get", "list", "watch", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "tidbcloudintegrations",
            &["get", "list", "watch", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "tidbcloudsqlusers",
            &["get", "list", "watch", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "clickhouseservices",
            &["get", "list", "watch", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "clickhouseservices/status",
            &["get", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "tidbcloudclusters/status",
            &["get", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "tidbcloudimports/status",
            &["get", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "tidbcloudintegrations/status",
            &["get", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "tidbcloudserverlessclusters",
            &["get", "list", "watch", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "tidbcloudserverlessclusters/status",
            &["get", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "tidbcloudsqlusers/status",
            &["get", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "tidbcloudbranches",
            &["get", "list", "watch", "patch"],
            &[],
        ),
        (
            "clouddb.dev",
            "tidbcloudbranches/status",
            &["get", "patch"],
            &[],
        ),
        (
            "",
            "secrets",
            &["get", "list", "watch", "create", "patch"],
            &[],
        ),
        ("events.k8s.io", "events", &["create", "patch"], &[]),
    ])
}

fn crd_permissions() -> BTreeSet<Permission> {
    perms(&[(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        &["get", "list", "watch"],
        &[
            "clickhouseservices.clouddb.dev",
            "tidbcloudbranches.clouddb.dev",
            "tidbcloudclusters.clouddb.dev",
            "tidbcloudimports.clouddb.dev",
            "tidbcloudintegrations.clouddb.dev",
            "tidbcloudserverlessclusters.clouddb.dev",
            "tidbcloudsqlusers.clouddb.dev",
        ],
    )])
}

fn lease_permissions(name: &str) -> BTreeSet<Permission> {
    let mut p = perms(&[("coordination.k8s.io", "leases", &["create"], &[])]);
    p.extend(perms(&[(
        "coordination.k8s.io",
        "leases",
        &["get", "update"],
        &[name],
    )]));
    p
}

/// Checks shared by every rendering: no RBAC wildcard, namespaced objects in the right namespace, the pod's
/// security settings, probes and resources.
fn check_common(objects: &[Value], namespace: &str) {
    for role in of_kind(objects, "Role")
        .into_iter()
        .chain(of_kind(objects, "ClusterRole"))
    {
        for (g, r, v, n) in permissions(role) {
            assert!(
                ![&g, &r, &v, &n].iter().any(|s| s.contains('*')),
                "wildcard in {}: {g} {r} {v} {n}",
                role["metadata"]["name"]
            );
        }
    }
    for kind in ["ServiceAccount", "Deployment", "Service"] {
        for o in of_kind(objects, kind) {
            assert_eq!(o["metadata"]["namespace"], namespace, "{kind} namespace");
        }
    }
    let deployments = of_kind(objects, "Deployment");
    assert_eq!(deployments.len(), 1);
    let pod = &deployments[0]["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "clouddb-operator");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert!(sc["capabilities"]["add"].is_null());
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    for k in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(c["resources"][k][r].is_string(), "resources.{k}.{r}");
        }
    }
    assert_eq!(c["ports"][0]["name"], "metrics");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "metrics");
    let env: Vec<(String, String)> = c["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["valueFrom"]["fieldRef"]["fieldPath"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ))
        })
        .collect();
    assert!(env.contains(&("POD_NAME".into(), "metadata.name".into())));
    assert!(env.contains(&("POD_NAMESPACE".into(), "metadata.namespace".into())));
    let args = container_args(objects);
    for a in [
        "--operator-namespace=$(POD_NAMESPACE)",
        "--metrics-addr=0.0.0.0:8080",
        "--leader-election",
        "--leader-election-lease-name=clouddb-operator",
        "--leader-election-lease-duration=15s",
        "--leader-election-renew-deadline=10s",
        "--leader-election-retry-period=2s",
    ] {
        assert!(args.iter().any(|x| x == a), "{a} in {args:?}");
    }
    // The default credentials are a Secret reference, never a key in values.
    assert!(
        args.iter()
            .any(|x| x == "--default-credentials=tidbcloud-credentials")
    );
    // The policy is the generated one.
    let (policy, binding) = policy_objects();
    for (kind, want) in [
        (
            "ValidatingAdmissionPolicy",
            serde_json::to_value(&policy).expect("json"),
        ),
        (
            "ValidatingAdmissionPolicyBinding",
            serde_json::to_value(&binding).expect("json"),
        ),
    ] {
        let got = object(objects, kind, "clouddb-deletion-protection");
        assert_eq!(got["spec"], want["spec"], "{kind} spec");
    }
}

fn container_args(objects: &[Value]) -> Vec<String> {
    of_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect()
}

#[test]
fn template_with_default_values_is_cluster_wide_and_least_privilege() {
    let Some(helm) = helm_or_skip() else { return };
    let objects = helm.template(RELEASE, RELEASE_NS, &[]);
    check_common(&objects, RELEASE_NS);
    let kinds: BTreeSet<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Deployment",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ])
    );
    // Cluster-wide: exactly the workload permissions, the CRD by name and Namespaces get.
    let mut want = workload_permissions();
    want.extend(crd_permissions());
    want.extend(perms(&[("", "namespaces", &["get"], &[])]));
    assert_eq!(permissions(object(&objects, "ClusterRole", RELEASE)), want);
    // The release namespace: the Lease only.
    let role = object(&objects, "Role", "clouddb-operator-operator");
    assert_eq!(role["metadata"]["namespace"], RELEASE_NS);
    assert_eq!(permissions(role), lease_permissions(RELEASE));
    // Bindings name the chart's ServiceAccount.
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        for b in of_kind(&objects, kind) {
            assert_eq!(
                b["subjects"],
                json!([{"kind": "ServiceAccount", "name": "clouddb-operator", "namespace": RELEASE_NS}])
            );
        }
    }
    assert!(
        !container_args(&objects)
            .iter()
            .any(|a| a.starts_with("--watch-namespaces"))
    );
    let service = object(&objects, "Service", "clouddb-operator-metrics");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    assert_default_image_is_the_published_one(&objects);
}

/// The image a release publishes (docs/release.md): `scripts/image.sh` tags it
/// `$IMAGE_REPOSITORY/clouddb-operator:<workspace version>` with `IMAGE_REPOSITORY` defaulting to
/// `ghcr.io/clouddb-operator`, and the chart's appVersion is that version: the default Deployment runs exactly it.
fn assert_default_image_is_the_published_one(objects: &[Value]) {
    const PUBLISHED: &str = "ghcr.io/clouddb-operator/clouddb-operator";
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("scripts/image.sh")).expect("scripts/image.sh");
    assert!(
        script.contains("REGISTRY=${IMAGE_REPOSITORY:-ghcr.io/clouddb-operator}")
            && script.contains("--tag \"$REGISTRY/clouddb-operator:$VERSION\""),
        "scripts/image.sh no longer publishes {PUBLISHED}:<version>: update the chart's image.repository and this test"
    );
    let chart = std::fs::read_to_string(chart_dir().join("Chart.yaml")).expect("Chart.yaml");
    let chart: serde_yaml::Value = serde_yaml::from_str(&chart).expect("Chart.yaml is YAML");
    let app_version = chart["appVersion"].as_str().expect("Chart.yaml appVersion");
    assert_eq!(
        app_version,
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml appVersion is the workspace version, the tag scripts/image.sh gives the image"
    );
    let deployment = &of_kind(objects, "Deployment")[0];
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{PUBLISHED}:{app_version}"),
        "the default image is the one a release publishes"
    );
}

#[test]
fn template_with_watched_namespaces_grants_nothing_elsewhere() {
    let Some(helm) = helm_or_skip() else { return };
    let watch = watch_list_values();
    let objects = helm.template(RELEASE, RELEASE_NS, &["--set-json", &watch]);
    check_common(&objects, RELEASE_NS);
    // Cluster-wide: only the CRD by name and the watched Namespaces (get) — no Secrets, no resources.
    let mut want = crd_permissions();
    want.extend(perms(&[("", "namespaces", &["get"], WATCHED)]));
    assert_eq!(permissions(object(&objects, "ClusterRole", RELEASE)), want);
    // A Role and RoleBinding in each watched namespace.
    let roles: Vec<&Value> = of_kind(&objects, "Role")
        .into_iter()
        .filter(|r| r["metadata"]["name"] == RELEASE)
        .collect();
    let namespaces: BTreeSet<&str> = roles
        .iter()
        .filter_map(|r| r["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(namespaces, WATCHED.iter().copied().collect());
    for r in roles {
        assert_eq!(permissions(r), workload_permissions());
    }
    let bound: BTreeSet<&str> = of_kind(&objects, "RoleBinding")
        .into_iter()
        .filter(|b| b["metadata"]["name"] == RELEASE)
        .filter_map(|b| b["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(bound, WATCHED.iter().copied().collect());
    // The release namespace: the Lease, the default credentials Secret by name, and retained connection copies.
    let role = object(&objects, "Role", "clouddb-operator-operator");
    assert_eq!(role["metadata"]["namespace"], RELEASE_NS);
    let mut want = lease_permissions(RELEASE);
    want.extend(perms(&[
        (
            "",
            "secrets",
            &["get", "list", "watch"],
            &["tidbcloud-credentials", "clickhouse-credentials"],
        ),
        ("", "secrets", &["create", "patch"], &[]),
    ]));
    assert_eq!(permissions(role), want);
    assert!(
        container_args(&objects)
            .iter()
            .any(|a| a == "--watch-namespaces=team-a,team-b")
    );
}

#[test]
fn template_with_service_monitor_selects_the_metrics_service() {
    let Some(helm) = helm_or_skip() else { return };
    let objects = helm.template(
        RELEASE,
        RELEASE_NS,
        &[
            "--set",
            "metrics.serviceMonitor.enabled=true",
            "--set",
            "metrics.serviceMonitor.labels.release=prometheus",
        ],
    );
    check_common(&objects, RELEASE_NS);
    let sm = object(&objects, "ServiceMonitor", RELEASE);
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(
        sm["spec"]["namespaceSelector"]["matchNames"],
        json!([RELEASE_NS])
    );
    let service = object(&objects, "Service", "clouddb-operator-metrics");
    let labels = service["metadata"]["labels"].as_object().expect("labels");
    for (k, v) in sm["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(
            labels.get(k),
            Some(v),
            "the ServiceMonitor selects label {k}"
        );
    }
    // Without the flag there is none.
    let objects = helm.template(RELEASE, RELEASE_NS, &[]);
    assert!(of_kind(&objects, "ServiceMonitor").is_empty());
}

/// The metric names the operator exports, read from `src/metrics.rs` (so a renamed metric fails the dashboard
/// test): the registry prefix + each registered name, with the suffixes the OpenMetrics text format gives its
/// type (counter: `_total`; histogram: `_bucket`, `_sum`, `_count`; gauge: none). Returns (family, sample names).
fn exported_metrics() -> Vec<(String, Vec<String>)> {
    let src = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/metrics.rs"))
        .expect("src/metrics.rs");
    let prefix = src
        .split("Registry::with_prefix(\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("Registry::with_prefix(\"...\") in src/metrics.rs");
    let mut metrics = Vec::new();
    for call in src.split("registry.register(").skip(1) {
        // registry.register("name", "help" (one literal, may hold \" and \ line continuations), family.clone())
        let call = call.trim_start();
        let name = call
            .strip_prefix('"')
            .and_then(|rest| rest.split('"').next())
            .expect("a metric name literal");
        let after_name = &call[name.len() + 2..];
        let help_start = after_name.find('"').expect("help literal") + 1;
        let mut chars = after_name[help_start..].char_indices();
        let mut help_end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => {
                    help_end = Some(help_start + i + 1);
                    break;
                }
                _ => {}
            }
        }
        let rest = &after_name[help_end.expect("closed help literal")..];
        let var = rest
            .trim_start_matches([',', ' ', '\n'])
            .split(".clone()")
            .next()
            .expect("family variable")
            .trim();
        let decl = src
            .split(&format!("let {var}"))
            .nth(1)
            .and_then(|d| d.split(';').next())
            .unwrap_or_else(|| panic!("declaration of {var} in src/metrics.rs"));
        let family = format!("{prefix}_{name}");
        let samples = if decl.contains("Histogram") {
            ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{family}{s}"))
                .collect()
        } else if decl.contains("Counter") {
            vec![format!("{family}_total")]
        } else if decl.contains("Gauge") {
            vec![family.clone()]
        } else {
            panic!("unknown metric type of {family}: {decl}")
        };
        metrics.push((family, samples));
    }
    assert!(metrics.len() >= 7, "{metrics:?}");
    metrics
}

/// The metric names (`clouddb_...` identifiers) a PromQL expression mentions.
fn metric_names(expr: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find(prefix) {
        let before_ok = rest[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if before_ok {
            names.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

/// Every PromQL expression of a Grafana dashboard: panel targets (rows' nested panels too) and query variables.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn panels(list: &Value, out: &mut Vec<String>) {
        for p in list.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push(t["expr"].as_str().expect("target expr").to_string());
            }
            panels(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    panels(&dashboard["panels"], &mut out);
    for v in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if v["type"] == "query" {
            let q = &v["query"];
            out.push(
                q["query"]
                    .as_str()
                    .or(q.as_str())
                    .expect("query")
                    .to_string(),
            );
        }
    }
    out
}

#[test]
fn template_grafana_dashboard_only_when_enabled_and_queries_exported_metrics() {
    let Some(helm) = helm_or_skip() else { return };
    const NAME: &str = "clouddb-operator-dashboard";
    let dashboards = |objects: &[Value]| -> Vec<Value> {
        of_kind(objects, "ConfigMap")
            .into_iter()
            .filter(|c| c["metadata"]["name"] == NAME)
            .cloned()
            .collect()
    };
    // Off by default.
    let objects = helm.template(RELEASE, RELEASE_NS, &[]);
    assert!(
        dashboards(&objects).is_empty(),
        "a dashboard ConfigMap by default"
    );

    // On: one ConfigMap with the sidecar's label, in the release namespace.
    let objects = helm.template(
        RELEASE,
        RELEASE_NS,
        &["--set", "grafana.dashboard.enabled=true"],
    );
    check_common(&objects, RELEASE_NS);
    let cms = dashboards(&objects);
    assert_eq!(cms.len(), 1);
    let cm = &cms[0];
    assert_eq!(cm["metadata"]["namespace"], RELEASE_NS);
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "clouddb-operator"
    );
    let data = cm["data"].as_object().expect("data");
    assert_eq!(data.len(), 1, "one dashboard file");
    let (file, json) = data.iter().next().expect("the dashboard");
    assert!(file.ends_with(".json"), "{file}");
    let dashboard: Value = serde_json::from_str(json.as_str().expect("text"))
        .unwrap_or_else(|e| panic!("the dashboard JSON parses: {e}"));
    assert_eq!(dashboard["uid"], "clouddb-operator");
    assert!(dashboard["title"].is_string());
    // The ConfigMap carries files/grafana-dashboard.json as it is.
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(chart_dir().join("files/grafana-dashboard.json")).expect("file"),
    )
    .expect("files/grafana-dashboard.json parses");
    assert_eq!(dashboard, shipped);

    // Every metric the dashboard queries is one the operator exports, and every exported family is shown.
    let exported = exported_metrics();
    let known: BTreeSet<&str> = exported
        .iter()
        .flat_map(|(_, samples)| samples.iter().map(String::as_str))
        .collect();
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() >= 10, "{queries:?}");
    let mut used = BTreeSet::new();
    for q in &queries {
        let names = metric_names(q, "clouddb_");
        assert!(!names.is_empty(), "a query without a clouddb metric: {q}");
        for n in names {
            assert!(
                known.contains(n.as_str()),
                "the dashboard queries {n}, which src/metrics.rs does not export ({known:?}): {q}"
            );
            used.insert(n);
        }
    }
    for (family, samples) in &exported {
        assert!(
            samples.iter().any(|s| used.contains(s)),
            "no dashboard panel shows {family}"
        );
    }
    // Every panel queries the data source picked in the dashboard.
    assert!(
        dashboard["templating"]["list"]
            .as_array()
            .expect("variables")
            .iter()
            .any(|v| v["type"] == "datasource" && v["query"] == "prometheus")
    );

    // The labels, namespace and annotations are configurable.
    let objects = helm.template(
        RELEASE,
        RELEASE_NS,
        &[
            "--set",
            "grafana.dashboard.enabled=true",
            "--set",
            "grafana.dashboard.namespace=monitoring",
            "--set",
            "grafana.dashboard.labels.grafana_dashboard=null",
            "--set",
            "grafana.dashboard.labels.team=databases",
            "--set",
            "grafana.dashboard.annotations.grafana_folder=Databases",
        ],
    );
    let cm = &dashboards(&objects)[0];
    assert_eq!(cm["metadata"]["namespace"], "monitoring");
    assert_eq!(cm["metadata"]["labels"]["team"], "databases");
    assert!(
        cm["metadata"]["labels"].get("grafana_dashboard").is_none(),
        "{cm}"
    );
    assert_eq!(cm["metadata"]["annotations"]["grafana_folder"], "Databases");
}

#[test]
fn exported_metrics_are_read_from_the_source() {
    let families: Vec<String> = exported_metrics().into_iter().map(|(f, _)| f).collect();
    for f in [
        "clouddb_reconciles",
        "clouddb_reconcile_errors",
        "clouddb_cloud_requests",
        "clouddb_cloud_request_duration_seconds",
        "clouddb_rate_limit_waits",
        "clouddb_rate_limit_wait_seconds",
        "clouddb_budget_remaining",
    ] {
        assert!(families.iter().any(|x| x == f), "{f} in {families:?}");
    }
    assert_eq!(
        metric_names(
            "histogram_quantile(0.9, rate(clouddb_a_bucket{x=\"y\"}[5m])) / notclouddb_b + clouddb_c",
            "clouddb_"
        ),
        ["clouddb_a_bucket", "clouddb_c"]
    );
}

#[test]
fn template_options_extra_ca_and_deletion_protection() {
    let Some(helm) = helm_or_skip() else { return };
    let objects = helm.template(
        RELEASE,
        RELEASE_NS,
        &[
            "--set",
            "extraCA.configMap=corp-ca",
            "--set",
            "deletionProtection.enabled=false",
            "--set",
            "leaderElection.enabled=false",
        ],
    );
    let pod = &of_kind(&objects, "Deployment")[0]["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["configMap"]["name"], "corp-ca");
    assert_eq!(
        pod["containers"][0]["volumeMounts"][0]["mountPath"],
        "/etc/clouddb-operator/ca"
    );
    let args = container_args(&objects);
    assert!(
        args.iter()
            .any(|a| a == "--extra-ca-file=/etc/clouddb-operator/ca/ca.crt")
    );
    assert!(!args.iter().any(|a| a.starts_with("--leader-election")));
    assert!(of_kind(&objects, "ValidatingAdmissionPolicy").is_empty());
    // Without leader election (and cluster-wide) the release namespace needs no Role at all.
    assert!(of_kind(&objects, "Role").is_empty());
}

#[test]
fn values_schema_and_checks_refuse_bad_values() {
    let Some(helm) = helm_or_skip() else { return };
    let chart = chart_dir();
    let chart = chart.to_str().expect("UTF-8 path");
    for (set, why) in [
        ("replicas=two", "got string, want integer"),
        ("defaultCredentials.existingSecret=", "existingSecret"),
        ("unknownKey=1", "unknownKey"),
        ("logFormat=xml", "logFormat"),
        ("poll.steady=ten minutes", "steady"),
        ("leaderElection.leaseDuration=1500ms", "leaseDuration"),
        ("watchNamespaces[0]=Not_A_Namespace", "watchNamespaces"),
        ("grafana.dashboard.enabled=yes", "enabled"),
        ("grafana.dashboard.namespace=Not_A_Namespace", "namespace"),
    ] {
        let out = helm.run(&["template", RELEASE, chart, "--set", set]);
        assert!(!out.ok, "helm template --set {set} should fail");
        assert!(
            out.stderr.contains(why),
            "--set {set}: expected {why:?} in: {}",
            out.stderr
        );
    }
    let out = helm.run(&[
        "template",
        RELEASE,
        chart,
        "--set",
        "replicas=2",
        "--set",
        "leaderElection.enabled=false",
    ]);
    assert!(!out.ok && out.stderr.contains("needs leaderElection.enabled=true"));
}

// ---- install into the real control plane ---------------------------------------------------------------------

/// `helm install` with the admin kubeconfig; the simulator's endpoints, fast polls, and `extra` values.
fn install(helm: &Helm, cp: &ControlPlane, sim: &Simulator, extra: &[&str]) {
    let chart = chart_dir();
    let kubeconfig = cp
        .admin_kubeconfig()
        .to_str()
        .expect("UTF-8 path")
        .to_string();
    let api = format!("tidbcloud.apiUrl={}/v1beta1", sim.base_url());
    let iam = format!("tidbcloud.iamUrl={}/v1beta1", sim.base_url());
    let serverless = format!(
        "tidbcloud.serverlessUrl={}/v1beta1",
        sim.serverless_base_url()
    );
    let mut args: Vec<&str> = vec![
        "install",
        RELEASE,
        chart.to_str().expect("UTF-8 path"),
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        RELEASE_NS,
        "--create-namespace",
        "--set",
        &api,
        "--set",
        &iam,
        "--set",
        &serverless,
        "--set",
        "extraCA.configMap=clouddb-simulator-ca",
        "--set",
        "poll.transitional=500ms",
        "--set",
        "poll.credentials=5s",
        "--set",
        "maxBackoff=5s",
        "--set",
        "logFormat=text",
        "--set",
        "logLevel=info\\,clouddb_operator=debug",
    ];
    args.extend_from_slice(extra);
    let out = helm.ok(&args);
    assert!(out.stdout.contains("STATUS: deployed"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("kubectl -n clouddb-system create secret generic tidbcloud-credentials"),
        "NOTES tell how to create the credentials Secret:\n{}",
        out.stdout
    );
}

fn uninstall(helm: &Helm, cp: &ControlPlane) {
    let kubeconfig = cp
        .admin_kubeconfig()
        .to_str()
        .expect("UTF-8 path")
        .to_string();
    helm.ok(&[
        "uninstall",
        RELEASE,
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        RELEASE_NS,
    ]);
}

/// The operator as the chart's Deployment would run it, as the chart's ServiceAccount (the testkit's operator
/// identity), pointed at the simulator.
async fn start_chart_operator(env: &TestEnv, sim: &Simulator, label: &str) -> OperatorProcess {
    let (mut args, pod_env) =
        deployment_command(&env.admin, RELEASE_NS, RELEASE, "clouddb-operator-0").await;
    for (flag, value) in simulator_flags(sim) {
        set_flag(&mut args, &flag, &value);
    }
    // Several tests of other binaries may run operators on this machine: any free port.
    set_flag(&mut args, "--metrics-addr", "127.0.0.1:0");
    let envs: Vec<(&str, &str)> = pod_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    OperatorProcess::spawn(label, env.cp.operator_kubeconfig(), &args, &envs)
}

/// create → Ready (with the connection Secret) → delete → gone, in `namespace`.
async fn lifecycle(env: &TestEnv, sim: &Simulator, op: &OperatorProcess, namespace: &str) {
    let api: Api<TidbCloudCluster> = Api::namespaced(env.admin.clone(), namespace);
    let name = "helm-orders";
    let body = json!({"apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudCluster",
        "metadata": {"name": name}, "spec": basic_spec()});
    api.patch(
        name,
        &PatchParams::apply("test").force(),
        &Patch::Apply(&body),
    )
    .await
    .expect("apply TidbCloudCluster");
    let creates_before = cluster_creates(sim);
    let o = wait_tcc_ready(&api, name, || op.logs()).await;
    assert!(o.status.and_then(|s| s.cluster_id).is_some());
    let secret = Api::<Secret>::namespaced(env.admin.clone(), namespace)
        .get_opt(&format!("{name}-connection"))
        .await
        .expect("get Secret");
    assert!(secret.is_some(), "connection Secret created");
    assert_eq!(
        cluster_creates(sim),
        creates_before + 1,
        "one cluster created"
    );
    api.delete(name, &Default::default())
        .await
        .expect("delete TidbCloudCluster");
    wait_tcc_gone(&api, name, || op.logs()).await;
    serverless_lifecycle(env, op, namespace).await;
}

/// A TidbCloudServerlessCluster, create → Ready (with its connection Secret) → delete → gone, as the chart's
/// identity.
async fn serverless_lifecycle(env: &TestEnv, op: &OperatorProcess, namespace: &str) {
    let api: Api<TidbCloudServerlessCluster> = Api::namespaced(env.admin.clone(), namespace);
    let name = "helm-preview";
    let body = json!({"apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudServerlessCluster",
        "metadata": {"name": name}, "spec": {"region": "aws-us-east-1"}});
    api.patch(
        name,
        &PatchParams::apply("test").force(),
        &Patch::Apply(&body),
    )
    .await
    .expect("apply TidbCloudServerlessCluster");
    let ready = eventually(format!("{name} Ready"), TIMEOUT * 3, async || {
        let o = api.get(name).await.map_err(|e| e.to_string())?;
        let conditions = o.status.as_ref().map(|s| s.conditions.clone());
        let ready = conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            Ok(o)
        } else {
            Err(format!("status: {:?}", o.status))
        }
    })
    .await;
    if let Err(e) = ready {
        panic!("{e}\n--- operator log (tail) ---\n{}", tail(&op.logs(), 60));
    }
    let secret = Api::<Secret>::namespaced(env.admin.clone(), namespace)
        .get_opt(&format!("{name}-connection"))
        .await
        .expect("get Secret");
    assert!(secret.is_some(), "serverless connection Secret created");
    api.delete(name, &Default::default())
        .await
        .expect("delete TidbCloudServerlessCluster");
    let gone = eventually(
        format!("{name} to be deleted"),
        TIMEOUT * 2,
        async || match api.get_opt(name).await {
            Ok(None) => Ok(()),
            Ok(Some(o)) => Err(format!("still there: {:?}", o.status)),
            Err(e) => Err(e.to_string()),
        },
    )
    .await;
    if let Err(e) = gone {
        panic!("{e}\n--- operator log (tail) ---\n{}", tail(&op.logs(), 60));
    }
}

async fn put_credentials(env: &TestEnv, sim: &Simulator) {
    let key = sim.key();
    let body = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tidbcloud-credentials"},
        "stringData": {"publicKey": key.public_key, "privateKey": key.private_key}});
    Api::<Secret>::namespaced(env.admin.clone(), RELEASE_NS)
        .patch(
            "tidbcloud-credentials",
            &PatchParams::apply("test").force(),
            &Patch::Apply(&body),
        )
        .await
        .expect("credentials Secret");
}

fn assert_no_forbidden(op: &OperatorProcess, what: &str) {
    let lines = forbidden_lines(&op.logs());
    assert!(
        lines.is_empty(),
        "{what}: the operator was refused by RBAC:\n{}",
        lines.join("\n")
    );
}

/// Both installs in one test: they share the one operator identity of the control plane (and the cluster-scoped
/// ClusterRole, policy and CRD names), so they must not overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_then_the_operator_works_with_exactly_the_charts_rbac() {
    let Some(helm) = helm_or_skip() else { return };
    // Default control-plane options: no CRD installed beforehand, helm installs the chart's crds/.
    let Some(env) = setup("helm-watched").await else {
        return;
    };
    let elsewhere = TestNamespace::create(env.cp, "helm-elsewhere")
        .await
        .expect("namespace");
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");

    // 1. Namespace-scoped install: watches only env.ns.
    let watch = format!("watchNamespaces=[\"{}\"]", env.ns.name());
    install(&helm, env.cp, &sim, &["--set-json", &watch]);
    await_crd_established(&env.admin, "tidbcloudclusters.clouddb.dev", TIMEOUT)
        .await
        .expect("the chart's CRD is established");
    put_credentials(&env, &sim).await;
    let mut op = start_chart_operator(&env, &sim, "helm-watched").await;
    op.wait_log("controllers running", TIMEOUT).await;
    lifecycle(&env, &sim, &op, env.ns.name()).await;
    assert_no_forbidden(&op, "namespace-scoped install");

    // The same identity cannot read Secrets (or the resources) outside its namespaces.
    let operator = env.cp.operator_client().await.expect("operator client");
    let denied = |r: Result<_, kube::Error>, what: &str| match r {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    };
    let probe = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "probe"},
        "stringData": {"k": "v"}});
    Api::<Secret>::namespaced(env.admin.clone(), elsewhere.name())
        .patch("probe", &PatchParams::apply("test"), &Patch::Apply(&probe))
        .await
        .expect("a Secret elsewhere");
    denied(
        Api::<Secret>::namespaced(operator.clone(), elsewhere.name())
            .get("probe")
            .await
            .map(|_| ()),
        "get a Secret in another namespace",
    );
    denied(
        Api::<Secret>::namespaced(operator.clone(), elsewhere.name())
            .list(&Default::default())
            .await
            .map(|_| ()),
        "list Secrets in another namespace",
    );
    denied(
        Api::<Secret>::all(operator.clone())
            .list(&Default::default())
            .await
            .map(|_| ()),
        "list Secrets cluster-wide",
    );
    denied(
        Api::<TidbCloudCluster>::namespaced(operator.clone(), elsewhere.name())
            .list(&Default::default())
            .await
            .map(|_| ()),
        "list TidbCloudClusters in another namespace",
    );
    // ...while the default credentials Secret of its own namespace is readable (by name only).
    Api::<Secret>::namespaced(operator.clone(), RELEASE_NS)
        .get("tidbcloud-credentials")
        .await
        .expect("the operator reads its default credentials Secret");
    denied(
        Api::<Secret>::namespaced(operator.clone(), RELEASE_NS)
            .list(&Default::default())
            .await
            .map(|_| ()),
        "list Secrets of the release namespace",
    );
    // A clean stop releases the Lease, so the next operator leads at once.
    op.stop(Duration::from_secs(10));
    assert_eq!(lease_holder(&env.admin, RELEASE_NS, RELEASE).await, None);
    uninstall(&helm, env.cp);

    // 2. Cluster-wide install (default values): the lifecycle in another namespace.
    install(&helm, env.cp, &sim, &[]);
    let mut op = start_chart_operator(&env, &sim, "helm-cluster").await;
    op.wait_log("controllers running", TIMEOUT).await;
    lifecycle(&env, &sim, &op, elsewhere.name()).await;
    assert_no_forbidden(&op, "cluster-wide install");
    op.stop(Duration::from_secs(10));
    uninstall(&helm, env.cp);
}
