//! End-to-end environment for operator tests: the shared real control plane, a fresh namespace, an in-process
//! TiDB Cloud simulator (HTTPS, digest auth) and the real `clouddb-operator` binary as a child process watching
//! only this namespace. Its logs go to a file the test can read (and check for secrets).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use clouddb_operator::api::tidbcloudcluster::TidbCloudCluster;
use clouddb_operator::cloud::BudgetRegistry;
use clouddb_operator::providers::tidbcloud::models::Cluster;
use clouddb_operator::providers::tidbcloud::{ApiKey, ClientConfig, TidbCloudClient};
use clouddb_sim::{SimConfig, Simulator};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{ChildProcess, TIMEOUT, TestEnv, TestNamespace, eventually, setup_with};

/// Namespace-independent options of the shared control plane: our CRDs installed before the controller
/// manager starts (so garbage collection knows the kinds at once). Each goes through its YAML document, as
/// `kubectl apply -f crds/` would install it.
pub fn control_plane_options() -> super::ControlPlaneOptions {
    clouddb_operator::api::crds().iter().fold(
        super::ControlPlaneOptions::default(),
        |options, crd| {
            options
                .with_crd_yaml(&clouddb_operator::api::crd_yaml(crd))
                .expect("CRD YAML parses")
        },
    )
}

pub const CREDENTIALS: &str = "tidbcloud-credentials";
/// The default ClickHouse Cloud credentials Secret of the test namespace (the simulator's ClickHouse key).
pub const CLICKHOUSE_CREDENTIALS: &str = "clickhouse-credentials";

pub struct OperatorEnv {
    pub env: TestEnv,
    /// Where the operator copies connection Secrets of clusters retained by a namespace deletion.
    pub operator_ns: TestNamespace,
    pub sim: Simulator,
    pub tcc: Api<TidbCloudCluster>,
    pub secrets: Api<Secret>,
    operator: Option<ChildProcess>,
    log_path: PathBuf,
    args: Vec<String>,
}

impl OperatorEnv {
    /// Simulator with fast delays, credentials Secret, operator running.
    pub async fn start(prefix: &str) -> Option<OperatorEnv> {
        Self::start_with(prefix, SimConfig::default(), &[]).await
    }

    /// Like [`OperatorEnv::start`] with a simulator configuration and extra operator flags.
    pub async fn start_with(
        prefix: &str,
        sim_config: SimConfig,
        args: &[&str],
    ) -> Option<OperatorEnv> {
        let env = setup_with(prefix, control_plane_options).await?;
        let operator_ns = TestNamespace::create(env.cp, &format!("{prefix}-op"))
            .await
            .expect("operator namespace");
        super::install_policy(&env.admin).await;
        let sim = Simulator::start(sim_config).await.expect("start simulator");
        let ns = env.ns.name().to_string();
        let tcc = Api::namespaced(env.admin.clone(), &ns);
        let secrets = Api::namespaced(env.admin.clone(), &ns);
        let log_path = std::env::temp_dir().join(format!("clouddb-operator-test-{ns}.log"));
        let mut me = OperatorEnv {
            env,
            operator_ns,
            sim,
            tcc,
            secrets,
            operator: None,
            log_path,
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        let key = me.sim.key().clone();
        me.put_secret(
            CREDENTIALS,
            &[
                ("publicKey", &key.public_key),
                ("privateKey", &key.private_key),
            ],
        )
        .await;
        let ch_key = me.sim.clickhouse_key().clone();
        let org = me.sim.clickhouse_organization_id().to_string();
        me.put_secret(
            CLICKHOUSE_CREDENTIALS,
            &[
                ("keyId", &ch_key.public_key),
                ("keySecret", &ch_key.private_key),
                ("organizationId", &org),
            ],
        )
        .await;
        me.start_operator();
        Some(me)
    }

    pub fn ns(&self) -> &str {
        self.env.ns.name()
    }

    /// Starts (or restarts) the operator process; its output is appended to the log file.
    pub fn start_operator(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("operator log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clouddb-operator"));
        let ca = self
            .sim
            .ca_path()
            .expect("simulator serves https")
            .display()
            .to_string();
        let default_credentials = format!("{}/{CREDENTIALS}", self.env.ns.name());
        let default_credentials = match self.args.iter().any(|a| a == "--default-credentials") {
            true => Vec::new(),
            false => vec!["--default-credentials", default_credentials.as_str()],
        };
        cmd.arg("run")
            .args(["--watch-namespaces", self.env.ns.name()])
            .args(default_credentials)
            .args(["--operator-namespace", self.operator_ns.name()])
            .args([
                "--tidbcloud-api-url",
                &format!("{}/v1beta1", self.sim.base_url()),
            ])
            .args([
                "--tidbcloud-iam-url",
                &format!("{}/v1beta1", self.sim.base_url()),
            ])
            .args([
                "--tidbcloud-serverless-url",
                &format!("{}/v1beta1", self.sim.serverless_base_url()),
            ])
            .args([
                "--default-clickhouse-credentials",
                &format!("{}/{CLICKHOUSE_CREDENTIALS}", self.env.ns.name()),
            ])
            .args([
                "--clickhouse-api-url",
                &format!("{}/v1", self.sim.clickhouse_base_url()),
            ])
            .args(["--extra-ca-file", &ca])
            .args(["--metrics-addr", "127.0.0.1:0"])
            .args(self.defaults_not_overridden())
            .args(&self.args)
            .env("KUBECONFIG", self.env.cp.admin_kubeconfig())
            .env("RUST_LOG", "info,clouddb_operator=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        self.operator = Some(ChildProcess::spawn(cmd).expect("spawn clouddb-operator"));
    }

    /// Fast polling for tests, unless the test passed its own value for a flag.
    fn defaults_not_overridden(&self) -> Vec<&'static str> {
        const DEFAULTS: &[(&str, &str)] = &[
            ("--poll-transitional", "500ms"),
            ("--poll-steady", "30s"),
            ("--poll-credentials", "5s"),
            ("--max-backoff", "5s"),
        ];
        DEFAULTS
            .iter()
            .filter(|(flag, _)| !self.args.iter().any(|a| a == flag))
            .flat_map(|(flag, value)| [*flag, *value])
            .collect()
    }

    /// Restarts the operator with `args` instead of the extra flags it was started with.
    pub fn restart_with(&mut self, args: &[&str]) {
        self.kill_operator();
        self.args = args.iter().map(|s| s.to_string()).collect();
        self.start_operator();
    }

    /// SIGKILL the operator (a crash).
    pub fn kill_operator(&mut self) {
        if let Some(mut p) = self.operator.take() {
            p.kill();
        }
    }

    /// Base URL of the running operator's /metrics, /healthz, /readyz (from its startup log line).
    pub async fn metrics_url(&self) -> String {
        let res = eventually(
            "the operator to log its metrics address",
            TIMEOUT,
            async || {
                let logs = self.logs();
                let line = logs
                    .lines()
                    .rev()
                    .find(|l| l.contains("serving /metrics"))
                    .ok_or("no line yet")?;
                let addr = line
                    .split("addr=")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .ok_or("no addr")?;
                Ok::<_, &str>(format!("http://{addr}"))
            },
        )
        .await;
        res.expect("metrics address")
    }

    /// Everything the operator logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Creates or replaces an Opaque Secret in the test namespace.
    pub async fn put_secret(&self, name: &str, data: &[(&str, &str)]) {
        let string_data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        let body = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": string_data});
        self.secrets
            .patch(
                name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&body),
            )
            .await
            .expect("apply Secret");
    }

    /// Server-side applies a TidbCloudCluster from its `spec` (as the test's field manager).
    pub async fn apply(&self, name: &str, spec: Value) -> TidbCloudCluster {
        self.apply_with_meta(name, json!({}), spec).await
    }

    pub async fn apply_with_meta(&self, name: &str, meta: Value, spec: Value) -> TidbCloudCluster {
        let mut metadata = json!({"name": name});
        if let (Some(m), Some(extra)) = (metadata.as_object_mut(), meta.as_object()) {
            m.extend(extra.clone());
        }
        let body = json!({"apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudCluster", "metadata": metadata, "spec": spec});
        self.tcc
            .patch(
                name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&body),
            )
            .await
            .expect("apply TidbCloudCluster")
    }

    /// Merge-patches the spec.
    pub async fn patch_spec(&self, name: &str, spec: Value) -> TidbCloudCluster {
        self.tcc
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": spec})),
            )
            .await
            .expect("patch spec")
    }

    /// Waits until `pred` holds for the object, returning it.
    pub async fn wait(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&TidbCloudCluster) -> bool,
    ) -> TidbCloudCluster {
        let api = &self.tcc;
        let pred = &pred;
        let res = eventually(what, timeout, async || match api.get_opt(name).await {
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
            Err(e) => panic!(
                "{e}\n--- operator log (tail) ---\n{}",
                tail(&self.logs(), 60)
            ),
        }
    }

    /// Waits for `Ready=True` on the current generation.
    pub async fn wait_ready(&self, name: &str) -> TidbCloudCluster {
        self.wait(
            name,
            &format!("{name} Ready on its current generation"),
            TIMEOUT * 2,
            |o| {
                condition(o, "Ready").is_some_and(|c| c.status == "True")
                    && o.status.as_ref().and_then(|s| s.observed_generation)
                        == o.metadata.generation
            },
        )
        .await
    }

    /// Waits for a condition with the given status and reason.
    pub async fn wait_condition(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> TidbCloudCluster {
        self.wait(
            name,
            &format!("{name} {type_}={status} ({reason})"),
            TIMEOUT * 2,
            |o| condition(o, type_).is_some_and(|c| c.status == status && c.reason == reason),
        )
        .await
    }

    /// A cloud client with the simulator's key (for assertions about the cloud side).
    pub fn cloud(&self) -> TidbCloudClient {
        let key = self.sim.key();
        let config = ClientConfig::default()
            .with_endpoint(&self.sim.base_url())
            .with_ca_file(self.sim.ca_path().expect("https"))
            .expect("CA file");
        TidbCloudClient::new(
            &config,
            ApiKey::new(key.public_key.clone(), key.private_key.clone()),
            &BudgetRegistry::default(),
        )
        .expect("cloud client")
    }

    /// All clusters in the simulator's default project with this display name.
    pub async fn clusters_named(&self, display_name: &str) -> Vec<Cluster> {
        // Retried: a test may have injected throttling or server errors.
        let cloud = self.cloud();
        let all = eventually("listing clusters", TIMEOUT, async || {
            cloud
                .list_all_clusters(None)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .expect("list clusters");
        all.into_iter()
            .filter(|c| c.display_name == display_name)
            .collect()
    }

    /// Admin API of the simulator (`/_sim/<path>`).
    pub async fn sim_admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        admin_call(
            self.sim.ca_path(),
            method,
            format!("{}/_sim/{path}", self.sim.base_url()),
            body,
        )
        .await
    }

    /// Admin API of the simulator's ClickHouse listener (`/_sim/<path>`).
    pub async fn clickhouse_admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        admin_call(
            self.sim.ca_path(),
            method,
            format!("{}/_sim/{path}", self.sim.clickhouse_base_url()),
            body,
        )
        .await
    }

    /// Admin API of the simulator's Serverless listener (`/_sim/<path>`).
    pub async fn serverless_admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        admin_call(
            self.sim.ca_path(),
            method,
            format!("{}/_sim/{path}", self.sim.serverless_base_url()),
            body,
        )
        .await
    }

    /// Writes (POST/PATCH/DELETE on cluster paths) the simulator answered with 400: the operator wrote when it
    /// should not have (e.g. while the cluster was busy).
    pub fn rejected_writes(&self) -> Vec<String> {
        self.sim
            .counters()
            .into_iter()
            .filter(|r| {
                r.key.method != "GET" && r.key.status == 400 && r.key.route.contains("clusters")
            })
            .map(|r| {
                format!(
                    "{} {} → {} ×{}",
                    r.key.method, r.key.route, r.key.status, r.count
                )
            })
            .collect()
    }

    /// Asserts the operator log holds none of `secrets`.
    pub fn assert_logs_free_of(&self, secrets: &[&str]) {
        let logs = self.logs();
        assert!(
            !logs.is_empty(),
            "operator log is empty: the check would prove nothing"
        );
        for s in secrets {
            assert!(!logs.contains(s), "operator log contains a secret value");
        }
    }

    /// Deletes a TidbCloudCluster (foreground not needed: our finalizer holds it).
    pub async fn delete(&self, name: &str) {
        self.tcc
            .delete(name, &Default::default())
            .await
            .expect("delete TidbCloudCluster");
    }

    /// Waits until the object is gone.
    pub async fn wait_gone(&self, name: &str) {
        let api = &self.tcc;
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
            panic!(
                "{e}\n--- operator log (tail) ---\n{}",
                tail(&self.logs(), 60)
            );
        }
    }

    /// Event reasons recorded for an object.
    pub async fn event_reasons(&self, name: &str) -> Vec<String> {
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.env.admin.clone(), self.ns());
        let list = events.list(&Default::default()).await.expect("list events");
        list.items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .filter_map(|e| e.reason)
            .collect()
    }

    /// Event notes for an object (to check that no secret leaks into Events).
    pub async fn event_notes(&self, name: &str) -> Vec<String> {
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.env.admin.clone(), self.ns());
        let list = events.list(&Default::default()).await.expect("list events");
        list.items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .filter_map(|e| e.note)
            .collect()
    }

    pub async fn secret(&self, name: &str) -> Option<Secret> {
        self.secrets.get_opt(name).await.expect("get Secret")
    }
}

/// Any namespaced kind the tests create (TidbCloudCluster, TidbCloudImport, TidbCloudIntegration...).
pub trait TestKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + std::fmt::Debug
    + DeserializeOwned
    + Serialize
{
}

impl<K> TestKind for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + DeserializeOwned
        + Serialize
{
}

/// Generic helpers for any kind in the test namespace.
impl OperatorEnv {
    /// The API of kind `K` in the test namespace.
    pub fn api<K: TestKind>(&self) -> Api<K> {
        Api::namespaced(self.env.admin.clone(), self.ns())
    }

    /// Server-side applies an object of kind `K` from its `spec` (as the test's field manager).
    pub async fn apply_kind<K: TestKind>(&self, name: &str, spec: Value) -> K {
        let body = json!({
            "apiVersion": K::api_version(&()), "kind": K::kind(&()),
            "metadata": {"name": name}, "spec": spec,
        });
        self.api::<K>()
            .patch(
                name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&body),
            )
            .await
            .unwrap_or_else(|e| panic!("apply {} {name}: {e}", K::kind(&())))
    }

    /// Merge-patches an object of kind `K` (spec, metadata...).
    pub async fn merge_kind<K: TestKind>(&self, name: &str, patch: Value) -> K {
        self.api::<K>()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch {} {name}: {e}", K::kind(&())))
    }

    /// Waits until `pred` holds for an object of kind `K`, returning it; on timeout, panics with the last
    /// status seen and the tail of the operator log.
    pub async fn wait_for<K: TestKind>(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&K) -> bool,
    ) -> K {
        let api = self.api::<K>();
        let pred = &pred;
        let res = eventually(what, timeout, async || match api.get_opt(name).await {
            Ok(Some(o)) if pred(&o) => Ok(o),
            Ok(Some(o)) => Err(format!(
                "last seen status: {}",
                serde_json::to_value(&o)
                    .map(|v| v["status"].to_string())
                    .unwrap_or_default()
            )),
            Ok(None) => Err("object not found".to_string()),
            Err(e) => Err(e.to_string()),
        })
        .await;
        match res {
            Ok(o) => o,
            Err(e) => panic!(
                "{e}\n--- operator log (tail) ---\n{}",
                tail(&self.logs(), 60)
            ),
        }
    }

    /// Waits for a condition of an object of kind `K` with the given status and reason.
    pub async fn wait_condition_of<K: TestKind>(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> K {
        self.wait_for::<K>(
            name,
            &format!("{} {name} {type_}={status} ({reason})", K::kind(&())),
            TIMEOUT * 2,
            |o| condition_of(o, type_).is_some_and(|c| c.status == status && c.reason == reason),
        )
        .await
    }

    /// Deletes an object of kind `K` (our finalizer holds it until the operator is done).
    pub async fn delete_kind<K: TestKind>(&self, name: &str) {
        self.api::<K>()
            .delete(name, &Default::default())
            .await
            .unwrap_or_else(|e| panic!("delete {} {name}: {e}", K::kind(&())));
    }

    /// Waits until an object of kind `K` is gone.
    pub async fn wait_gone_of<K: TestKind>(&self, name: &str) {
        let api = self.api::<K>();
        let res = eventually(
            format!("{} {name} to be deleted", K::kind(&())),
            TIMEOUT * 2,
            async || match api.get_opt(name).await {
                Ok(None) => Ok(()),
                Ok(Some(o)) => Err(format!(
                    "still there, status: {}",
                    serde_json::to_value(&o)
                        .map(|v| v["status"].to_string())
                        .unwrap_or_default()
                )),
                Err(e) => Err(e.to_string()),
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

    /// Adds a simulator fault rule (`/_sim/faults`), e.g. `{"kind": "dropAfterCommit", "method": "POST",
    /// "pathPrefix": "/v1beta1/clusters/1/imports", "count": 1}`.
    pub async fn add_fault(&self, rule: Value) {
        self.sim_admin(reqwest::Method::POST, "faults", Some(rule))
            .await;
    }
}

/// One call to a simulator admin API (`url`), trusting the simulator's CA.
async fn admin_call(
    ca_path: Option<&std::path::Path>,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Value {
    let ca = std::fs::read(ca_path.expect("https")).expect("CA");
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA pem"))
        .build()
        .expect("http client");
    let mut rb = http.request(method, &url);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.expect("admin call");
    assert!(resp.status().is_success(), "admin {url}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

/// The conditions of any object with a `status.conditions` list.
pub fn conditions_of<K: Serialize>(o: &K) -> Vec<Condition> {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| serde_json::from_value(v["status"]["conditions"].clone()).ok())
        .unwrap_or_default()
}

/// One condition of any object, by type.
pub fn condition_of<K: Serialize>(o: &K, type_: &str) -> Option<Condition> {
    conditions_of(o).into_iter().find(|c| c.type_ == type_)
}

impl Drop for OperatorEnv {
    fn drop(&mut self) {
        self.kill_operator();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log_path);
        } else {
            eprintln!("operator log kept at {}", self.log_path.display());
        }
    }
}

pub fn condition<'a>(
    o: &'a TidbCloudCluster,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    o.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// A minimal valid spec for the simulator's catalogue.
pub fn basic_spec() -> Value {
    json!({
        "regionId": "aws-us-west-2",
        "tidb": {"nodeSpecKey": "8C16G", "nodeCount": 2},
        "tikv": {"nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 500},
    })
}
