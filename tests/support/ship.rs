//! Shipping tests (chart, leader election): the helm binary, `helm template` output, operator processes started
//! with any kubeconfig and arguments (e.g. the ones the chart's Deployment would run), and waits on plain
//! `Api<TidbCloudCluster>` objects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clouddb_operator::api::tidbcloudcluster::TidbCloudCluster;
use clouddb_sim::Simulator;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use serde::Deserialize;
use serde_json::Value;

use super::operator::{OperatorEnv, condition, tail};
use super::{ChildProcess, TIMEOUT, eventually, in_ci};

/// `charts/clouddb-operator` of this repository.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/clouddb-operator")
}

/// The helm binary: env `HELM`, else `$XDG_CACHE_HOME|$HOME/.cache/clouddb-operator/helm/current/helm` (written
/// by `tools/helm/build.sh`). Missing: a panic under CI, else a SKIPPED line on stderr and `None`.
pub fn helm_or_skip() -> Option<Helm> {
    let from_env = std::env::var_os("HELM").filter(|v| !v.is_empty());
    let path = match from_env {
        Some(p) => PathBuf::from(p),
        None => {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"));
            cache.join("clouddb-operator/helm/current/helm")
        }
    };
    if path.is_file() {
        return Some(Helm::new(path));
    }
    if in_ci() {
        panic!(
            "CI is set, so helm tests may not be skipped: no helm at {} (build it with tools/helm/build.sh, or set \
             HELM)",
            path.display()
        );
    }
    note(&format!(
        "SKIPPED (no helm; run tools/helm/build.sh): {}",
        std::thread::current().name().unwrap_or("<this test>")
    ));
    None
}

/// A line straight to stderr (libtest does not capture it).
pub fn note(line: &str) {
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// The helm CLI with its own (temporary) config, cache and data directories, so tests never read or write the
/// user's repositories or plugins.
pub struct Helm {
    bin: PathBuf,
    home: PathBuf,
}

/// What a helm run printed.
#[derive(Debug)]
pub struct HelmOutput {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Helm {
    fn new(bin: PathBuf) -> Helm {
        let home = std::env::temp_dir().join(format!("clouddb-helm-home-{}", std::process::id()));
        Helm { bin, home }
    }

    /// Runs `helm <args>`, bounded by two minutes.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> HelmOutput {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("HELM_CONFIG_HOME", self.home.join("config"))
            .env("HELM_CACHE_HOME", self.home.join("cache"))
            .env("HELM_DATA_HOME", self.home.join("data"))
            .stdin(Stdio::null());
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run helm");
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            if child.try_wait().expect("wait for helm").is_some() {
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("helm output");
        HelmOutput {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Like [`Helm::run`], panicking with helm's output unless it succeeded.
    pub fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(&self, args: &[S]) -> HelmOutput {
        let out = self.run(args);
        assert!(
            out.ok,
            "helm {args:?} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        out
    }

    /// `helm template` of the chart as release `release` in `namespace` with extra `args` (e.g. `--set`), parsed
    /// into one JSON value per object.
    pub fn template(&self, release: &str, namespace: &str, args: &[&str]) -> Vec<Value> {
        let chart = chart_dir();
        let mut all: Vec<&str> = vec![
            "template",
            release,
            chart.to_str().expect("UTF-8 path"),
            "--namespace",
            namespace,
        ];
        all.extend_from_slice(args);
        parse_manifests(&self.ok(&all).stdout)
    }
}

impl Drop for Helm {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// Multi-document YAML into JSON values, empty documents dropped.
pub fn parse_manifests(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("helm output is YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// The objects of a kind.
pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// The single object of a kind and name.
pub fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<_> = objects
        .iter()
        .filter(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind} {name}");
    found[0]
}

/// One RBAC permission: (apiGroup, resource, verb, resourceName or "").
pub type Permission = (String, String, String, String);

/// The rules of a Role or ClusterRole flattened into single permissions.
pub fn permissions(role: &Value) -> std::collections::BTreeSet<Permission> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = std::collections::BTreeSet::new();
    for rule in role["rules"].as_array().into_iter().flatten() {
        let names = strings(&rule["resourceNames"]);
        let names = if names.is_empty() {
            vec![String::new()]
        } else {
            names
        };
        for g in strings(&rule["apiGroups"]) {
            for r in strings(&rule["resources"]) {
                for v in strings(&rule["verbs"]) {
                    for n in &names {
                        out.insert((g.clone(), r.clone(), v.clone(), n.clone()));
                    }
                }
            }
        }
    }
    out
}

/// Builds a permission set from `(group, resource, verbs, resourceNames)` rows.
pub fn perms(rows: &[(&str, &str, &[&str], &[&str])]) -> std::collections::BTreeSet<Permission> {
    let mut out = std::collections::BTreeSet::new();
    for (g, r, verbs, names) in rows {
        for v in *verbs {
            if names.is_empty() {
                out.insert((g.to_string(), r.to_string(), v.to_string(), String::new()));
            }
            for n in *names {
                out.insert((g.to_string(), r.to_string(), v.to_string(), n.to_string()));
            }
        }
    }
    out
}

/// The command line the chart's Deployment `namespace/name` runs (the image's entrypoint is
/// `clouddb-operator run`), with `$(VAR)` expanded from the container's env as the kubelet does (`fieldRef`s to
/// the pod's name and namespace resolved for a pod named `pod_name`), and the container env as a map.
pub async fn deployment_command(
    admin: &kube::Client,
    namespace: &str,
    name: &str,
    pod_name: &str,
) -> (Vec<String>, BTreeMap<String, String>) {
    let deploy = Api::<Deployment>::namespaced(admin.clone(), namespace)
        .get(name)
        .await
        .expect("the chart's Deployment");
    let pod = deploy
        .spec
        .and_then(|s| s.template.spec)
        .expect("pod template");
    let container = pod.containers.first().expect("a container").clone();
    let mut env = BTreeMap::new();
    for e in container.env.unwrap_or_default() {
        let value = match (e.value, e.value_from) {
            (Some(v), _) => v,
            (None, Some(from)) => match from.field_ref.map(|f| f.field_path).as_deref() {
                Some("metadata.name") => pod_name.to_string(),
                Some("metadata.namespace") => namespace.to_string(),
                other => panic!("unexpected fieldRef {other:?} in the chart's Deployment"),
            },
            (None, None) => String::new(),
        };
        env.insert(e.name, value);
    }
    let mut args = vec!["run".to_string()];
    for a in container.args.unwrap_or_default() {
        let mut a = a;
        for (k, v) in &env {
            a = a.replace(&format!("$({k})"), v);
        }
        args.push(a);
    }
    (args, env)
}

/// Replaces the value of `--flag=...` (the chart's form) in `args`; panics if the flag is absent.
pub fn set_flag(args: &mut [String], flag: &str, value: &str) {
    let prefix = format!("{flag}=");
    let Some(i) = args.iter().position(|a| a.starts_with(&prefix)) else {
        panic!("{flag} not in {args:?}");
    };
    args[i] = format!("{prefix}{value}");
}

/// A `clouddb-operator` process with its log file.
pub struct OperatorProcess {
    child: Option<ChildProcess>,
    log_path: PathBuf,
}

impl OperatorProcess {
    /// Spawns `clouddb-operator <args>` with `KUBECONFIG=kubeconfig` and `envs`; output goes to a log file named
    /// after `label`.
    pub fn spawn(label: &str, kubeconfig: &Path, args: &[String], envs: &[(&str, &str)]) -> Self {
        let log_path = std::env::temp_dir().join(format!(
            "clouddb-operator-test-{label}-{}.log",
            std::process::id()
        ));
        let log = std::fs::File::create(&log_path).expect("operator log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clouddb-operator"));
        cmd.args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,clouddb_operator=debug")
            .env_remove("POD_NAME")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = ChildProcess::spawn(cmd).expect("spawn clouddb-operator");
        OperatorProcess {
            child: Some(child),
            log_path,
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGKILL (a crash).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if let Some(mut c) = self.child.take() {
            c.stop(grace);
        }
    }

    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(ChildProcess::running)
    }

    /// Waits until the log contains `needle`.
    pub async fn wait_log(&self, needle: &str, timeout: Duration) {
        let res = eventually(
            format!("operator log to contain {needle:?}"),
            timeout,
            async || {
                if self.logs().contains(needle) {
                    Ok(())
                } else {
                    Err("not yet".to_string())
                }
            },
        )
        .await;
        if let Err(e) = res {
            panic!(
                "{e}\n--- operator log (tail) ---\n{}",
                tail(&self.logs(), 60)
            );
        }
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log_path);
        } else {
            eprintln!("operator log kept at {}", self.log_path.display());
        }
    }
}

/// The flags pointing an operator at the simulator (API URLs and its CA), in the chart's `--flag=value` form.
pub fn simulator_flags(sim: &Simulator) -> Vec<(String, String)> {
    let url = format!("{}/v1beta1", sim.base_url());
    vec![
        ("--tidbcloud-api-url".into(), url.clone()),
        ("--tidbcloud-iam-url".into(), url),
        (
            "--tidbcloud-serverless-url".into(),
            format!("{}/v1beta1", sim.serverless_base_url()),
        ),
        (
            "--extra-ca-file".into(),
            sim.ca_path()
                .expect("simulator serves https")
                .display()
                .to_string(),
        ),
    ]
}

/// The arguments [`OperatorEnv`] gives its own operator, plus `extra`: a second process for the same
/// environment.
pub fn env_operator_args(env: &OperatorEnv, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "run".into(),
        format!("--watch-namespaces={}", env.ns()),
        format!(
            "--default-credentials={}/{}",
            env.ns(),
            super::operator::CREDENTIALS
        ),
        format!("--operator-namespace={}", env.operator_ns.name()),
        "--metrics-addr=127.0.0.1:0".into(),
        "--poll-transitional=500ms".into(),
        "--poll-steady=30s".into(),
        "--poll-credentials=5s".into(),
        "--max-backoff=5s".into(),
    ];
    for (flag, value) in simulator_flags(&env.sim) {
        args.push(format!("{flag}={value}"));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The holder of Lease `namespace/name`, if any.
pub async fn lease_holder(client: &kube::Client, namespace: &str, name: &str) -> Option<String> {
    Api::<Lease>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .expect("read Lease")
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// Waits until `pred` holds for TidbCloudCluster `name`; on timeout panics with `logs()`' tail.
pub async fn wait_tcc(
    api: &Api<TidbCloudCluster>,
    name: &str,
    what: &str,
    logs: impl Fn() -> String,
    pred: impl Fn(&TidbCloudCluster) -> bool,
) -> TidbCloudCluster {
    let pred = &pred;
    let res = eventually(what, TIMEOUT * 2, async || match api.get_opt(name).await {
        Ok(Some(o)) if pred(&o) => Ok(o),
        Ok(Some(o)) => Err(format!(
            "last seen status: {}",
            serde_json::to_string(&o.status).unwrap_or_default()
        )),
        Ok(None) => Err("object not found".to_string()),
        Err(e) => Err(e.to_string()),
    })
    .await;
    match res {
        Ok(o) => o,
        Err(e) => panic!("{e}\n--- operator log (tail) ---\n{}", tail(&logs(), 60)),
    }
}

/// Waits for `Ready=True` on the current generation.
pub async fn wait_tcc_ready(
    api: &Api<TidbCloudCluster>,
    name: &str,
    logs: impl Fn() -> String,
) -> TidbCloudCluster {
    wait_tcc(api, name, &format!("{name} Ready"), logs, |o| {
        condition(o, "Ready").is_some_and(|c| c.status == "True")
            && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
    })
    .await
}

/// Waits until TidbCloudCluster `name` is gone.
pub async fn wait_tcc_gone(api: &Api<TidbCloudCluster>, name: &str, logs: impl Fn() -> String) {
    let res = eventually(
        format!("{name} to be deleted"),
        TIMEOUT * 2,
        async || match api.get_opt(name).await {
            Ok(None) => Ok(()),
            Ok(Some(o)) => Err(format!(
                "still there, status: {}",
                serde_json::to_string(&o.status).unwrap_or_default()
            )),
            Err(e) => Err(e.to_string()),
        },
    )
    .await;
    if let Err(e) = res {
        panic!("{e}\n--- operator log (tail) ---\n{}", tail(&logs(), 60));
    }
}

/// How many times the simulator answered a cluster create (`POST /v1beta1/clusters`) with success.
pub fn cluster_creates(sim: &Simulator) -> u64 {
    sim.counters()
        .into_iter()
        .filter(|r| {
            r.key.method == "POST"
                && r.key.route == "/v1beta1/clusters"
                && (200..300).contains(&r.key.status)
        })
        .map(|r| r.count)
        .sum()
}

/// Lines of an operator log that show a request refused by Kubernetes RBAC.
pub fn forbidden_lines(logs: &str) -> Vec<String> {
    logs.lines()
        .filter(|l| {
            l.contains("is forbidden")
                || l.contains("reason: \"Forbidden\"")
                || l.contains("code: 403")
        })
        .map(str::to_string)
        .collect()
}
