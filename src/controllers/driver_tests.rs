//! The fast tier of the driver's tests: the generic driver with a fake provider (an in-memory cloud) and an
//! in-process fake of the few Kubernetes API calls a reconcile makes — no etcd, no simulator, milliseconds.
//! Every Kubernetes write and cloud call lands in one ordered log, so a test can pin *order* (the create
//! intent is in status before the create call) as well as absence (no create, no delete).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use kube::runtime::reflector;
use kube::runtime::watcher;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::common::DeletionPolicy;
use crate::cloud::CloudError;
use crate::config::RunConfig;
use crate::controllers::core::{Base, ConditionedStatus, Outcome};
use crate::controllers::driver::{self, CloudKind, Flow, Next, OnGone, Policy};
use crate::controllers::ownership::{Claims, CloudIdKind};
use crate::controllers::{Context, ownership};
use crate::reasons;

// ---- the fake kind ---------------------------------------------------------------------------------------

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[kube(
    group = "test.clouddb.dev",
    version = "v1",
    kind = "Fake",
    namespaced,
    status = "FakeStatus"
)]
#[serde(rename_all = "camelCase")]
pub struct FakeSpec {
    pub name: String,
    #[serde(default)]
    pub adopt_id: Option<String>,
    #[serde(default)]
    pub deletion_policy: Option<DeletionPolicy>,
    #[serde(default)]
    pub protected: bool,
    #[serde(default)]
    pub recreate_when_gone: bool,
    /// `driftPolicy: Report`.
    #[serde(default)]
    pub drift_report: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FakeStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub intent: Option<FakeIntent>,
    #[serde(default)]
    pub converged_generation: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct FakeIntent {
    pub name: String,
}

impl ConditionedStatus for FakeStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn set_conditions(&mut self, conditions: Vec<Condition>) {
        self.conditions = conditions;
    }
    fn set_observed_generation(&mut self, generation: Option<i64>) {
        self.observed_generation = generation;
    }
    const TRACKS_CONVERGENCE: bool = true;
    fn converged_generation(&self) -> Option<i64> {
        self.converged_generation
    }
    fn set_converged_generation(&mut self, generation: Option<i64>) {
        self.converged_generation = generation;
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Remote {
    id: String,
    name: String,
}

/// The in-memory cloud, writing to the shared log.
#[derive(Clone)]
pub struct FakeCloud {
    resources: Arc<Mutex<Vec<Remote>>>,
    log: Log,
    /// The next create commits but its answer is lost.
    lose_next_answer: Arc<Mutex<bool>>,
}

impl FakeCloud {
    fn ids(&self) -> Vec<String> {
        lock(&self.resources).iter().map(|r| r.id.clone()).collect()
    }
}

fn cloud_of(ctx: &Context) -> FakeCloud {
    CLOUDS
        .lock()
        .ok()
        .and_then(|m| m.get(&ctx.config.operator_namespace).cloned())
        .expect("a fake cloud registered for this test")
}

/// Fake clouds by test (the context's operator namespace names the test).
static CLOUDS: std::sync::LazyLock<Mutex<BTreeMap<String, FakeCloud>>> =
    std::sync::LazyLock::new(|| Mutex::new(BTreeMap::new()));

impl CloudKind for Fake {
    type State = FakeStatus;
    type Client = FakeCloud;
    type Remote = Remote;
    type Intent = FakeIntent;
    type CreateArgs = ();
    const KIND: &'static str = "Fake";
    const CRD_NAME: &'static str = "fakes.test.clouddb.dev";
    const MANAGED: &'static [&'static str] = &["Ready", "Reconciling", "Stalled"];
    const NOUN: &'static str = "thing";
    const CLOUD: &'static str = "Fake Cloud";
    const ADOPT_FIELD: Option<&'static str> = Some("adoptId");
    const ID_KIND: CloudIdKind = CloudIdKind::TidbCluster;

    fn spec_id(&self) -> Option<&str> {
        self.spec.adopt_id.as_deref()
    }
    fn status_id(s: &FakeStatus) -> Option<&str> {
        s.id.as_deref()
    }
    fn intent(s: &FakeStatus) -> Option<&FakeIntent> {
        s.intent.as_ref()
    }
    fn set_intent(s: &mut FakeStatus, i: FakeIntent) {
        s.intent = Some(i);
    }
    fn remote_id(r: &Remote) -> &str {
        &r.id
    }
    fn record(s: &mut FakeStatus, r: &Remote) {
        s.id = Some(r.id.clone());
        s.intent = None;
    }
    fn forget(s: &mut FakeStatus) {
        s.id = None;
        s.intent = None;
    }
    fn policy(&self) -> Policy {
        Policy {
            deletion: self.spec.deletion_policy,
            protected: self.spec.protected,
            on_gone: if self.spec.recreate_when_gone {
                OnGone::Recreate
            } else {
                OnGone::Report
            },
        }
    }
    fn drift_policy(&self) -> crate::api::common::DriftPolicy {
        match self.spec.drift_report {
            true => crate::api::common::DriftPolicy::Report,
            false => crate::api::common::DriftPolicy::Correct,
        }
    }
    fn connection_secret_name(&self) -> Option<String> {
        Some("fake-connection".into())
    }
    fn default_credentials(_: &RunConfig) -> (String, String) {
        ("ops".into(), "creds".into())
    }
    fn credentials_secret(&self) -> Option<&str> {
        None
    }
    fn secrets_read(&self) -> Vec<String> {
        Vec::new()
    }
    fn made_by(&self, intent: &FakeIntent, r: &Remote, _key: &str) -> bool {
        r.name == intent.name
    }
    async fn connect(run: &Base<'_, Self>) -> Flow<FakeCloud> {
        Ok(cloud_of(run.ctx))
    }
    fn key_id(_: &FakeCloud) -> String {
        "key".into()
    }
    async fn read(
        _: &Base<'_, Self>,
        c: &FakeCloud,
        id: &str,
    ) -> Result<Option<Remote>, CloudError> {
        c.log.push(format!("cloud read {id}"));
        Ok(lock(&c.resources).iter().find(|r| r.id == id).cloned())
    }
    async fn candidates(
        _: &Base<'_, Self>,
        c: &FakeCloud,
        _: &FakeIntent,
    ) -> Result<Vec<Remote>, CloudError> {
        c.log.push("cloud list".into());
        Ok(lock(&c.resources).clone())
    }
    async fn converge(
        run: &mut Base<'_, Self>,
        c: &FakeCloud,
        observed: Option<Remote>,
    ) -> Flow<Next<Self>> {
        Ok(match observed {
            None => Next::Create(
                FakeIntent {
                    name: run.obj.spec.name.clone(),
                },
                (),
            ),
            Some(r) if r.name != run.obj.spec.name => {
                let change = format!("name {} -> {}", r.name, run.obj.spec.name);
                if run.writes_held() {
                    Next::Done(run.observing(vec![change]))
                } else {
                    c.log.push(format!("cloud update {}", r.id));
                    for x in lock(&c.resources).iter_mut().filter(|x| x.id == r.id) {
                        x.name = run.obj.spec.name.clone();
                    }
                    Next::Done(Outcome::Converged {
                        reason: reasons::READY,
                        message: format!("{} updated: {change}", r.id),
                    })
                }
            }
            Some(r) => Next::Done(Outcome::Converged {
                reason: reasons::READY,
                message: format!("{} is there", r.id),
            }),
        })
    }
    async fn create(run: &mut Base<'_, Self>, c: &FakeCloud, (): ()) -> Flow<Remote> {
        let n = lock(&c.resources).len() + 100;
        let r = Remote {
            id: n.to_string(),
            name: run.obj.spec.name.clone(),
        };
        c.log.push(format!("cloud create {}", r.id));
        lock(&c.resources).push(r.clone());
        if std::mem::take(&mut *lock(&c.lose_next_answer)) {
            return Err(driver::cloud("create")(CloudError::Transport {
                uncertain: true,
                message: "connection reset after the request was sent".into(),
                source: None,
            }));
        }
        Ok(r)
    }
    async fn delete(_: &mut Base<'_, Self>, c: &FakeCloud, r: Remote) -> Flow<Option<Outcome>> {
        c.log.push(format!("cloud delete {}", r.id));
        lock(&c.resources).retain(|x| x.id != r.id);
        Ok(None)
    }
}

// ---- the fake Kubernetes API -------------------------------------------------------------------------------

/// One ordered record of every write, both sides.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: String) {
        lock(&self.0).push(line);
    }
    fn lines(&self) -> Vec<String> {
        lock(&self.0).clone()
    }
    fn position(&self, prefix: &str) -> Option<usize> {
        self.lines().iter().position(|l| l.starts_with(prefix))
    }
    fn has(&self, prefix: &str) -> bool {
        self.position(prefix).is_some()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[derive(Clone)]
struct Cluster {
    object: Arc<Mutex<Value>>,
    crd_deleting: bool,
    namespace_deleting: bool,
    log: Log,
}

const OBJ: &str = "/apis/test.clouddb.dev/v1/namespaces/ns/fakes/obj";

fn status_response(code: u16, body: Value) -> http::Response<Full<Bytes>> {
    let mut resp = http::Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::OK);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn not_found() -> http::Response<Full<Bytes>> {
    status_response(
        404,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "not found",
               "reason": "NotFound", "code": 404}),
    )
}

impl Cluster {
    async fn handle(&self, req: http::Request<kube::client::Body>) -> http::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let (method, path) = (parts.method.as_str(), parts.uri.path());
        match (method, path) {
            ("GET", p) if p == OBJ || p == format!("{OBJ}/status") => {
                status_response(200, lock(&self.object).clone())
            }
            ("PATCH", p) if p == format!("{OBJ}/status") => {
                let mut obj = lock(&self.object);
                obj["status"] = body["status"].clone();
                let intent = body["status"]["intent"]["name"].as_str().unwrap_or("-");
                let id = body["status"]["id"].as_str().unwrap_or("-");
                self.log.push(format!("k8s status id={id} intent={intent}"));
                status_response(200, obj.clone())
            }
            ("PATCH", p) if p == OBJ => {
                let mut obj = lock(&self.object);
                let patch: json_patch::Patch = match serde_json::from_value(body) {
                    Ok(p) => p,
                    Err(_) => return status_response(422, json!({"kind": "Status", "code": 422})),
                };
                if json_patch::patch(&mut obj, &patch).is_err() {
                    return status_response(422, json!({"kind": "Status", "code": 422}));
                }
                self.log
                    .push(format!("k8s finalizers {}", obj["metadata"]["finalizers"]));
                status_response(200, obj.clone())
            }
            ("POST", p) if p.ends_with("/events") => {
                self.log.push(format!(
                    "event {} {}",
                    body["reason"].as_str().unwrap_or(""),
                    body["note"].as_str().unwrap_or("")
                ));
                status_response(201, body)
            }
            (
                "GET",
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/fakes.test.clouddb.dev",
            ) => {
                let mut crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": "fakes.test.clouddb.dev"},
                    "spec": {"group": "test.clouddb.dev", "scope": "Namespaced",
                             "names": {"plural": "fakes", "kind": "Fake"}, "versions": []}});
                if self.crd_deleting {
                    crd["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                }
                status_response(200, crd)
            }
            ("GET", "/api/v1/namespaces/ns") => {
                let mut ns =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}});
                if self.namespace_deleting {
                    ns["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                }
                status_response(200, ns)
            }
            ("GET", p) if p.starts_with("/api/v1/namespaces/ns/secrets/") => not_found(),
            _ => {
                self.log.push(format!("unexpected {method} {path}"));
                not_found()
            }
        }
    }
}

// ---- harness ----------------------------------------------------------------------------------------------

struct Harness {
    cluster: Cluster,
    cloud: FakeCloud,
    ctx: Arc<Context>,
}

fn object(spec: Value, status: Option<Value>, deleting: bool) -> Value {
    let mut o = json!({
        "apiVersion": "test.clouddb.dev/v1", "kind": "Fake",
        "metadata": {"name": "obj", "namespace": "ns", "uid": "uid-obj", "generation": 1,
                     "resourceVersion": "1", "finalizers": [crate::api::common::FINALIZER]},
        "spec": spec,
    });
    if let Some(s) = status {
        o["status"] = s;
    }
    if deleting {
        o["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    o
}

impl Harness {
    fn new(test: &str, obj: Value, cloud: Vec<Remote>) -> Harness {
        Harness::build(test, obj, cloud, (false, false))
    }

    /// `(crd_deleting, namespace_deleting)`: what the fake API says of the CRD and the namespace.
    fn build(test: &str, obj: Value, cloud: Vec<Remote>, cascade: (bool, bool)) -> Harness {
        let log = Log::default();
        let cluster = Cluster {
            object: Arc::new(Mutex::new(obj)),
            crd_deleting: cascade.0,
            namespace_deleting: cascade.1,
            log: log.clone(),
        };
        let handler = cluster.clone();
        let service = tower::service_fn(move |req| {
            let handler = handler.clone();
            async move { Ok::<_, std::convert::Infallible>(handler.handle(req).await) }
        });
        let kube = kube::Client::new(service, "ns");
        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            run: RunConfig,
        }
        let mut config = <Args as clap::Parser>::parse_from(["test"]).run;
        config.operator_namespace = test.to_string();
        let ctx = Arc::new(
            Context::new(kube, config, crate::metrics::Metrics::new(), None).expect("a context"),
        );
        let cloud = FakeCloud {
            resources: Arc::new(Mutex::new(cloud)),
            log,
            lose_next_answer: Arc::default(),
        };
        lock(&CLOUDS).insert(test.to_string(), cloud.clone());
        Harness {
            cluster,
            cloud,
            ctx,
        }
    }

    /// Another object, in another namespace, that manages cloud id `id`.
    fn claimed_elsewhere(&self, id: &str) {
        let other: Fake = serde_json::from_value(json!({
            "apiVersion": "test.clouddb.dev/v1", "kind": "Fake",
            "metadata": {"name": "other", "namespace": "elsewhere", "uid": "uid-other"},
            "spec": {"name": "x"}, "status": {"id": id},
        }))
        .expect("valid object");
        let (reader, mut writer) = reflector::store();
        writer.apply_watcher_event(&watcher::Event::Apply(other));
        self.ctx.claims.register("Fake", reader, |o: &Fake| Claims {
            ids: o
                .status
                .as_ref()
                .and_then(|s| s.id.clone())
                .map(|id| (CloudIdKind::TidbCluster, id))
                .into_iter()
                .collect(),
            secrets: Vec::new(),
        });
    }

    async fn reconcile(&self) -> Fake {
        let obj: Fake = serde_json::from_value(lock(&self.cluster.object).clone())
            .expect("the fake object deserializes");
        driver::reconcile(
            Arc::new(kube::core::DeserializeGuard(Ok(obj))),
            self.ctx.clone(),
        )
        .await
        .expect("the reconcile ends without a runtime error");
        serde_json::from_value(lock(&self.cluster.object).clone()).expect("the fake object")
    }

    fn log(&self) -> &Log {
        &self.cluster.log
    }
}

fn condition(o: &Fake, type_: &str) -> Option<(String, String, String)> {
    o.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

impl Harness {
    /// Sets annotation `key` (`None`: removes it) and the generation, as a user's edit would.
    fn edit(&self, key: &str, value: Option<&str>, generation: i64) {
        let mut obj = lock(&self.cluster.object);
        let annotations = obj["metadata"]
            .as_object_mut()
            .expect("metadata")
            .entry("annotations")
            .or_insert(json!({}));
        match value {
            Some(v) => annotations[key] = json!(v),
            None => {
                annotations.as_object_mut().expect("map").remove(key);
            }
        }
        obj["metadata"]["generation"] = json!(generation);
    }

    fn events(&self, reason: &str) -> usize {
        let prefix = format!("event {reason} ");
        self.log()
            .lines()
            .iter()
            .filter(|l| l.starts_with(&prefix))
            .count()
    }
}

fn stalled(o: &Fake) -> Option<(String, String)> {
    o.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled" && c.status == "True")
        .map(|c| (c.reason.clone(), c.message.clone()))
}

fn remote(id: &str, name: &str) -> Remote {
    Remote {
        id: id.into(),
        name: name.into(),
    }
}

// ---- the tests --------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_create_intent_is_in_status_before_the_create_call() {
    let h = Harness::new(
        "t-create",
        object(json!({"name": "db"}), None, false),
        vec![],
    );
    let o = h.reconcile().await;
    let log = h.log();
    let intent = log
        .position("k8s status id=- intent=db")
        .expect("intent persisted");
    let create = log.position("cloud create").expect("created");
    assert!(intent < create, "{:?}", log.lines());
    assert_eq!(o.status.and_then(|s| s.id), Some("100".into()));
    assert!(log.has("event Created"), "{:?}", log.lines());
    assert!(!log.has("unexpected"), "{:?}", log.lines());
}

#[tokio::test]
async fn a_lost_answer_is_found_by_intent_and_never_created_twice() {
    let h = Harness::new("t-lost", object(json!({"name": "db"}), None, false), vec![]);
    *lock(&h.cloud.lose_next_answer) = true;
    let o = h.reconcile().await;
    assert_eq!(
        o.status.as_ref().and_then(|s| s.id.clone()),
        None,
        "the answer was lost"
    );
    assert_eq!(
        o.status.as_ref().and_then(|s| s.intent.clone()),
        Some(FakeIntent { name: "db".into() })
    );
    let o = h.reconcile().await;
    assert_eq!(o.status.and_then(|s| s.id), Some("100".into()));
    assert_eq!(
        h.cloud.ids(),
        vec!["100".to_string()],
        "{:?}",
        h.log().lines()
    );
    assert!(h.log().has("event Adopted"));
}

#[tokio::test]
async fn recovery_skips_ids_other_objects_claim() {
    let status = json!({"intent": {"name": "db"}});
    let h = Harness::new(
        "t-claimed",
        object(json!({"name": "db"}), Some(status), false),
        vec![remote("7", "db"), remote("8", "db")],
    );
    h.claimed_elsewhere("7");
    let o = h.reconcile().await;
    assert_eq!(o.status.and_then(|s| s.id), Some("8".into()));
    assert!(!h.log().has("cloud create"), "{:?}", h.log().lines());
}

#[tokio::test]
async fn several_unclaimed_matches_stall_and_list_them() {
    let status = json!({"intent": {"name": "db"}});
    let h = Harness::new(
        "t-ambiguous",
        object(json!({"name": "db"}), Some(status), false),
        vec![remote("7", "db"), remote("8", "db"), remote("9", "other")],
    );
    let o = h.reconcile().await;
    let (reason, message) = stalled(&o).expect("stalled");
    assert_eq!(reason, reasons::AMBIGUOUS_CREATE);
    assert!(
        message.contains("7, 8") && message.contains("spec.adoptId"),
        "{message}"
    );
    assert!(!h.log().has("cloud create"));
    assert!(
        h.log().has("event AmbiguousCreate"),
        "a Warning Event: {:?}",
        h.log().lines()
    );
}

#[tokio::test]
async fn adopting_an_id_another_object_manages_is_refused_before_any_cloud_call() {
    let h = Harness::new(
        "t-adopt-claimed",
        object(json!({"name": "db", "adoptId": "7"}), None, false),
        vec![remote("7", "db")],
    );
    h.claimed_elsewhere("7");
    let o = h.reconcile().await;
    let (reason, message) = stalled(&o).expect("stalled");
    assert_eq!(reason, reasons::CLUSTER_MANAGED_ELSEWHERE);
    assert!(message.contains("Fake elsewhere/other"), "{message}");
    assert!(!h.log().has("cloud"), "{:?}", h.log().lines());
}

#[tokio::test]
async fn a_resource_gone_outside_is_reported_unless_recreate_is_asked() {
    let status = json!({"id": "7"});
    let h = Harness::new(
        "t-gone",
        object(json!({"name": "db"}), Some(status.clone()), false),
        vec![],
    );
    let o = h.reconcile().await;
    assert_eq!(
        stalled(&o).map(|s| s.0),
        Some(reasons::CLOUD_RESOURCE_GONE.into())
    );
    assert!(!h.log().has("cloud create"));

    let h = Harness::new(
        "t-gone-recreate",
        object(
            json!({"name": "db", "recreateWhenGone": true}),
            Some(status),
            false,
        ),
        vec![],
    );
    let o = h.reconcile().await;
    assert!(h.log().has("cloud create"), "{:?}", h.log().lines());
    assert_eq!(o.status.and_then(|s| s.id), Some("100".into()));
}

#[tokio::test]
async fn deletion_follows_policy_cascade_and_protection() {
    struct Case {
        name: &'static str,
        policy: Option<&'static str>,
        protected: bool,
        crd_deleting: bool,
        namespace_deleting: bool,
        deletes: bool,
        finalized: bool,
    }
    let cases = [
        Case {
            name: "direct-unset",
            policy: None,
            protected: false,
            crd_deleting: false,
            namespace_deleting: false,
            deletes: true,
            finalized: true,
        },
        Case {
            name: "direct-retain",
            policy: Some("Retain"),
            protected: false,
            crd_deleting: false,
            namespace_deleting: false,
            deletes: false,
            finalized: true,
        },
        Case {
            name: "ns-unset",
            policy: None,
            protected: false,
            crd_deleting: false,
            namespace_deleting: true,
            deletes: false,
            finalized: true,
        },
        Case {
            name: "ns-delete",
            policy: Some("Delete"),
            protected: false,
            crd_deleting: false,
            namespace_deleting: true,
            deletes: true,
            finalized: true,
        },
        Case {
            name: "crd-delete",
            policy: Some("Delete"),
            protected: false,
            crd_deleting: true,
            namespace_deleting: false,
            deletes: false,
            finalized: true,
        },
        Case {
            name: "protected",
            policy: Some("Delete"),
            protected: true,
            crd_deleting: false,
            namespace_deleting: false,
            deletes: false,
            finalized: false,
        },
    ];
    for c in cases {
        let mut spec = json!({"name": "db", "protected": c.protected});
        if let Some(p) = c.policy {
            spec["deletionPolicy"] = json!(p);
        }
        let test = format!("t-delete-{}", c.name);
        let h = Harness::build(
            &test,
            object(spec, Some(json!({"id": "7"})), true),
            vec![remote("7", "db")],
            (c.crd_deleting, c.namespace_deleting),
        );
        let o = h.reconcile().await;
        assert_eq!(
            h.log().has("cloud delete"),
            c.deletes,
            "{}: {:?}",
            c.name,
            h.log().lines()
        );
        let finalized = !o
            .metadata
            .finalizers
            .clone()
            .unwrap_or_default()
            .iter()
            .any(|f| f == crate::api::common::FINALIZER);
        assert_eq!(finalized, c.finalized, "{}: {:?}", c.name, h.log().lines());
        if c.crd_deleting {
            assert!(
                h.log()
                    .lines()
                    .iter()
                    .any(|l| l.starts_with("event Retained")
                        && l.contains("CustomResourceDefinition")),
                "{}: {:?}",
                c.name,
                h.log().lines()
            );
        }
        if c.protected {
            assert_eq!(
                stalled(&o).map(|s| s.0),
                Some(reasons::DELETION_PROTECTED.into())
            );
        }
    }
}

#[test]
fn the_fake_kind_claims_what_the_real_ones_do() {
    let o: Fake = serde_json::from_value(object(
        json!({"name": "db", "adoptId": "5"}),
        Some(json!({"id": "5"})),
        false,
    ))
    .expect("valid");
    let c = o.claims();
    assert_eq!(c.ids, vec![(CloudIdKind::TidbCluster, "5".to_string()); 2]);
    let _ = ownership::Found::<u8>::Nothing;
}

// ---- see before it writes: pause, adoption review, drift policy ---------------------------------------------

#[tokio::test]
async fn a_paused_object_makes_no_cloud_call_and_says_so_until_resumed() {
    let status = json!({"id": "7", "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
        "message": "7 is there", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    let h = Harness::new(
        "t-paused",
        object(json!({"name": "db"}), Some(status), false),
        vec![remote("7", "other")],
    );
    h.edit("clouddb.dev/reconcile", Some("paused"), 1);
    let o = h.reconcile().await;
    assert!(!h.log().has("cloud"), "{:?}", h.log().lines());
    let (status, reason, message) = condition(&o, "Suspended").expect("Suspended");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", reasons::RECONCILE_PAUSED)
    );
    assert!(message.contains("clouddb.dev/reconcile"), "{message}");
    assert_eq!(
        condition(&o, "Ready").map(|c| c.0),
        Some("True".into()),
        "Ready stays as it was"
    );
    // Resumed: the cloud is read (and the drift corrected) again, and Suspended goes.
    h.edit("clouddb.dev/reconcile", None, 1);
    let o = h.reconcile().await;
    assert!(h.log().has("cloud read 7"), "{:?}", h.log().lines());
    assert!(condition(&o, "Suspended").is_none(), "{o:?}");
}

#[tokio::test]
async fn a_paused_deletion_waits_without_a_cloud_call() {
    let h = Harness::new(
        "t-paused-delete",
        object(
            json!({"name": "db", "deletionPolicy": "Delete"}),
            Some(json!({"id": "7"})),
            true,
        ),
        vec![remote("7", "db")],
    );
    h.edit("clouddb.dev/reconcile", Some("paused"), 1);
    let o = h.reconcile().await;
    assert!(!h.log().has("cloud"), "{:?}", h.log().lines());
    assert_eq!(h.cloud.ids(), vec!["7".to_string()]);
    assert!(condition(&o, "Suspended").is_some(), "{o:?}");
    assert!(
        o.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty()),
        "the finalizer stays"
    );
}

#[tokio::test]
async fn adopting_a_differing_resource_shows_the_diff_and_writes_only_once_approved() {
    let h = Harness::new(
        "t-adopt-review",
        object(json!({"name": "db", "adoptId": "7"}), None, false),
        vec![remote("7", "old")],
    );
    let o = h.reconcile().await;
    let (reason, message) = stalled(&o).expect("stalled");
    assert_eq!(reason, reasons::ADOPTION_PENDING);
    assert!(
        message.contains("name old -> db") && message.contains("clouddb.dev/approve-adoption=1"),
        "{message}"
    );
    assert!(!h.log().has("cloud update"), "{:?}", h.log().lines());
    assert_eq!(h.events(reasons::ADOPTION_PENDING), 1);
    let o = h.reconcile().await;
    assert!(
        !h.log().has("cloud update"),
        "still waiting: {:?}",
        h.log().lines()
    );
    assert_eq!(h.events(reasons::ADOPTION_PENDING), 1, "one Event per diff");
    assert_eq!(o.status.as_ref().and_then(|s| s.converged_generation), None);

    // An approval of another generation approves nothing.
    h.edit("clouddb.dev/approve-adoption", Some("2"), 1);
    h.reconcile().await;
    assert!(!h.log().has("cloud update"), "{:?}", h.log().lines());

    h.edit("clouddb.dev/approve-adoption", Some("1"), 1);
    let o = h.reconcile().await;
    assert!(h.log().has("cloud update 7"), "{:?}", h.log().lines());
    assert_eq!(h.events(reasons::ADOPTION_APPROVED), 1);
    assert_eq!(
        o.status.as_ref().and_then(|s| s.converged_generation),
        Some(1)
    );
    assert!(stalled(&o).is_none());
}

#[tokio::test]
async fn adopting_a_matching_resource_needs_no_approval() {
    let h = Harness::new(
        "t-adopt-match",
        object(json!({"name": "db", "adoptId": "7"}), None, false),
        vec![remote("7", "db")],
    );
    let o = h.reconcile().await;
    assert_eq!(condition(&o, "Ready").map(|c| c.0), Some("True".into()));
    assert_eq!(
        o.status.as_ref().and_then(|s| s.converged_generation),
        Some(1)
    );
}

#[tokio::test]
async fn drift_is_reported_under_report_and_corrected_otherwise() {
    let converged = json!({"id": "7", "convergedGeneration": 1});
    let h = Harness::new(
        "t-drift-report",
        object(
            json!({"name": "db", "driftReport": true}),
            Some(converged.clone()),
            false,
        ),
        vec![remote("7", "changed")],
    );
    let o = h.reconcile().await;
    assert!(!h.log().has("cloud update"), "{:?}", h.log().lines());
    let (status, reason, message) = condition(&o, "Drifted").expect("Drifted");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", reasons::DRIFTED)
    );
    assert!(message.contains("name changed -> db"), "{message}");
    assert_eq!(
        condition(&o, "Ready").map(|c| (c.0, c.1)),
        Some(("True".into(), reasons::DRIFTED.into()))
    );
    h.reconcile().await;
    assert_eq!(
        h.events(reasons::DRIFTED),
        1,
        "one Warning per distinct diff"
    );
    assert!(!h.log().has("cloud update"));

    // A new generation of the spec is applied in full; the drift report goes.
    h.edit("unrelated", Some("x"), 2);
    let o = h.reconcile().await;
    assert!(h.log().has("cloud update 7"), "{:?}", h.log().lines());
    assert!(condition(&o, "Drifted").is_none(), "{o:?}");
    assert_eq!(
        o.status.as_ref().and_then(|s| s.converged_generation),
        Some(2)
    );

    let h = Harness::new(
        "t-drift-correct",
        object(json!({"name": "db"}), Some(converged), false),
        vec![remote("7", "changed")],
    );
    h.reconcile().await;
    assert!(h.log().has("cloud update 7"), "{:?}", h.log().lines());
}

// ---- plan preview ------------------------------------------------------------------------------------------

/// A harness whose context is a plan context (`clouddb-operator plan`).
fn planning(test: &str, obj: Value, cloud: Vec<Remote>) -> Harness {
    let mut h = Harness::new(test, obj, cloud);
    Arc::get_mut(&mut h.ctx).expect("the only reference").plan =
        Some(crate::controllers::PlanMode::default());
    h
}

impl Harness {
    async fn preview(&self, destroy: bool) -> driver::Preview {
        let obj: Fake = serde_json::from_value(lock(&self.cluster.object).clone())
            .expect("the fake object deserializes");
        driver::preview(&self.ctx, &obj, destroy).await
    }

    /// Every write the log saw: Kubernetes (status, finalizers), Events, cloud mutations.
    fn writes(&self) -> Vec<String> {
        self.log()
            .lines()
            .into_iter()
            .filter(|l| !l.starts_with("cloud read") && !l.starts_with("cloud list"))
            .collect()
    }
}

#[tokio::test]
async fn a_plan_previews_with_the_reconcile_rules_and_writes_nothing() {
    use driver::Preview;
    let at = |id: &str| Some(json!({"id": id, "convergedGeneration": 1}));

    let h = planning(
        "t-plan-create",
        object(json!({"name": "db"}), None, false),
        vec![],
    );
    assert!(matches!(h.preview(false).await, Preview::Create { .. }));

    let h = planning(
        "t-plan-change",
        object(json!({"name": "db"}), at("7"), false),
        vec![remote("7", "old")],
    );
    assert_eq!(
        h.preview(false).await,
        Preview::Change {
            id: "7".into(),
            changes: vec!["name old -> db".into()],
            held: None
        }
    );

    let h = planning(
        "t-plan-drift",
        object(json!({"name": "db", "driftReport": true}), at("7"), false),
        vec![remote("7", "old")],
    );
    let Preview::Change {
        held: Some(why), ..
    } = h.preview(false).await
    else {
        panic!("a held change");
    };
    assert!(why.contains("driftPolicy: Report"), "{why}");

    let h = planning(
        "t-plan-adopt",
        object(json!({"name": "db", "adoptId": "7"}), None, false),
        vec![remote("7", "old")],
    );
    let Preview::Change {
        held: Some(why), ..
    } = h.preview(false).await
    else {
        panic!("a held change");
    };
    assert!(why.contains("approve-adoption"), "{why}");

    let h = planning(
        "t-plan-same",
        object(json!({"name": "db"}), at("7"), false),
        vec![remote("7", "db")],
    );
    assert!(matches!(h.preview(false).await, Preview::Nothing { .. }));
    assert_eq!(
        h.preview(true).await,
        Preview::Delete {
            id: "7".into(),
            what: "delete thing 7 from Fake Cloud".into()
        }
    );
    let h = planning(
        "t-plan-retain",
        object(
            json!({"name": "db", "deletionPolicy": "Retain"}),
            at("7"),
            false,
        ),
        vec![remote("7", "db")],
    );
    assert!(matches!(h.preview(true).await, Preview::Keep { .. }));
    let h = planning(
        "t-plan-protected",
        object(json!({"name": "db", "protected": true}), at("7"), false),
        vec![remote("7", "db")],
    );
    assert!(matches!(h.preview(true).await, Preview::Blocked { .. }));

    let h = planning(
        "t-plan-gone",
        object(json!({"name": "db"}), at("7"), false),
        vec![],
    );
    let Preview::Blocked { reason, .. } = h.preview(false).await else {
        panic!("gone is blocked");
    };
    assert_eq!(reason, reasons::CLOUD_RESOURCE_GONE);
    assert!(h.writes().is_empty(), "{:?}", h.writes());

    let h = planning(
        "t-plan-paused",
        object(json!({"name": "db"}), at("7"), false),
        vec![remote("7", "old")],
    );
    h.edit("clouddb.dev/reconcile", Some("paused"), 1);
    assert!(matches!(h.preview(false).await, Preview::Paused { .. }));
    assert!(
        matches!(h.preview(true).await, Preview::Paused { .. }),
        "a deletion waits"
    );
    assert!(
        h.log().lines().is_empty(),
        "no call at all: {:?}",
        h.log().lines()
    );
    // The deletion rules come first, as in a real deletion: a retained resource is kept, paused or not.
    let h = planning(
        "t-plan-paused-retain",
        object(
            json!({"name": "db", "deletionPolicy": "Retain"}),
            at("7"),
            false,
        ),
        vec![remote("7", "db")],
    );
    h.edit("clouddb.dev/reconcile", Some("paused"), 1);
    assert!(matches!(h.preview(true).await, Preview::Keep { .. }));

    // A lost create is found by its intent and adopted — in a plan, without recording it.
    let h = planning(
        "t-plan-lost",
        object(
            json!({"name": "db"}),
            Some(json!({"intent": {"name": "db"}})),
            false,
        ),
        vec![remote("9", "db")],
    );
    assert!(matches!(h.preview(false).await, Preview::Nothing { id: Some(id), .. } if id == "9"));
    assert!(h.writes().is_empty(), "{:?}", h.writes());
}
