//! The reconcile core shared by every kind and provider: finalizer handling, Secret references, status
//! server-side apply, Events, cascade detection for the default deletion policy, and the reconcile error type.
//! Provider-specific work (cloud calls, translation) lives in the per-kind controllers and `providers/`.

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::core::object::HasStatus;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};
use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::api::common::{DeletionPolicy, FINALIZER, IN_USE_FINALIZER};
use crate::cloud::CloudError;

/// The one field manager of the operator (status, connection Secrets).
pub const FIELD_MANAGER: &str = "clouddb-operator";

/// Errors a reconcile returns to the controller runtime (then retried with per-object backoff). Expected
/// outcomes — invalid spec, missing credentials, cloud errors — are handled inside the reconcile and turned
/// into conditions and Events; what reaches this type is what could not even be reported.
#[derive(thiserror::Error, Debug)]
pub enum ReconcileError {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("cloud API request failed: {0}")]
    Cloud(#[from] CloudError),
    #[error("object has no {0}")]
    MissingField(&'static str),
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl ReconcileError {
    /// Stable name for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            ReconcileError::Kube(_) => "KubernetesApi",
            ReconcileError::Cloud(e) => e.category(),
            ReconcileError::MissingField(_) => "InvalidObject",
            ReconcileError::Internal(_) => "Internal",
        }
    }
}

/// A problem with a referenced Secret, phrased for the user.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum SecretRefError {
    #[error("Secret {namespace}/{name} not found")]
    NotFound { namespace: String, name: String },
    #[error("Secret {namespace}/{name} has no key {key:?}")]
    KeyMissing {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("Secret {namespace}/{name} key {key:?} is empty or not UTF-8")]
    BadValue {
        namespace: String,
        name: String,
        key: String,
    },
}

/// Reads `key` of Secret `namespace/name`. `Ok(Err(..))` is a user-facing problem; `Err` a Kubernetes failure.
pub async fn secret_value(
    client: &Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<Result<SecretString, SecretRefError>, kube::Error> {
    let secret = match Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await?
    {
        Some(s) => s,
        None => {
            return Ok(Err(SecretRefError::NotFound {
                namespace: namespace.into(),
                name: name.into(),
            }));
        }
    };
    Ok(value_of(&secret, key).ok_or_else(|| {
        let has_key = secret.data.as_ref().is_some_and(|d| d.contains_key(key));
        if has_key {
            SecretRefError::BadValue {
                namespace: namespace.into(),
                name: name.into(),
                key: key.into(),
            }
        } else {
            SecretRefError::KeyMissing {
                namespace: namespace.into(),
                name: name.into(),
                key: key.into(),
            }
        }
    }))
}

/// The UTF-8 value of `key` in a Secret's data, if present and non-empty.
pub fn value_of(secret: &Secret, key: &str) -> Option<SecretString> {
    let bytes = secret.data.as_ref()?.get(key)?;
    let s = std::str::from_utf8(&bytes.0)
        .ok()?
        .trim_end_matches(['\n', '\r']);
    (!s.is_empty()).then(|| SecretString::from(s.to_string()))
}

/// Server-side applies `status` to the status subresource with the operator's field manager.
pub async fn apply_status<K>(
    api: &Api<K>,
    obj: &K,
    status: &impl Serialize,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .instrument(write_span("apply", &format!("{}/status", K::kind(&()))))
    .await
    .map(|_| ())
}

/// Adds our finalizer (JSON patch guarded by a `test` of the current list, as kube-runtime does). When the
/// `test` fails because the list changed since our (cached) read — typically a second reconcile racing the watch
/// event of the first one's patch — it re-reads the object and tries once more if the finalizer is still missing.
pub async fn add_finalizer<K>(api: &Api<K>, obj: &K) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    add_finalizer_named(api, obj, FINALIZER).await
}

/// [`add_finalizer`] for finalizer `name`.
pub async fn add_finalizer_named<K>(api: &Api<K>, obj: &K, name: &str) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    match json_patch(api, obj, add_finalizer_patch(obj, name)).await {
        Err(kube::Error::Api(e)) if e.code == 422 => {
            let fresh = api.get(&obj.name_any()).await?;
            if fresh.finalizers().iter().any(|f| f == name) {
                Ok(())
            } else {
                json_patch(api, &fresh, add_finalizer_patch(&fresh, name)).await
            }
        }
        other => other,
    }
}

fn add_finalizer_patch<K: Resource>(obj: &K, name: &str) -> serde_json::Value {
    match obj.meta().finalizers.as_ref() {
        None => serde_json::json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [name]},
        ]),
        Some(list) => serde_json::json!([
            {"op": "test", "path": "/metadata/finalizers", "value": list},
            {"op": "add", "path": "/metadata/finalizers/-", "value": name},
        ]),
    }
}

/// Removes our finalizer.
pub async fn remove_finalizer<K>(api: &Api<K>, obj: &K) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    remove_finalizer_named(api, obj, FINALIZER).await
}

/// [`remove_finalizer`] for finalizer `name`.
pub async fn remove_finalizer_named<K>(api: &Api<K>, obj: &K, name: &str) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let Some(idx) = obj.finalizers().iter().position(|f| f == name) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{idx}");
    let patch = serde_json::json!([
        {"op": "test", "path": path, "value": name},
        {"op": "remove", "path": path},
    ]);
    match json_patch(api, obj, patch).await {
        // Already gone (deleted after the last finalizer went): nothing to do.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        other => other,
    }
}

async fn json_patch<K>(api: &Api<K>, obj: &K, patch: serde_json::Value) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Json::<()>(patch),
    )
    .instrument(write_span("patch", &K::kind(&())))
    .await
    .map(|_| ())
}

pub fn has_finalizer<K: Resource>(obj: &K) -> bool {
    obj.finalizers().iter().any(|f| f == FINALIZER)
}

/// Why an object is being deleted, when it is not deleted by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cascade {
    /// Deleted directly (`kubectl delete <kind> <name>`).
    None,
    /// Its namespace is being deleted: an unset `deletionPolicy` then means Retain; an explicit `Delete` deletes.
    Namespace,
    /// Its CustomResourceDefinition is being deleted (or the chart uninstalled with it): the cloud resource is
    /// always retained, whatever the policy — removing a CRD must never delete databases.
    Crd,
}

/// Whether the object is being deleted as part of a cascade: its CRD `crd_name` is being deleted (or gone),
/// or its namespace is terminating.
pub async fn cascade_in_progress(
    client: &Client,
    namespace: &str,
    crd_name: &str,
) -> Result<Cascade, kube::Error> {
    let crd = Api::<CustomResourceDefinition>::all(client.clone())
        .get_opt(crd_name)
        .await?;
    if crd.is_none_or(|c| c.metadata.deletion_timestamp.is_some()) {
        return Ok(Cascade::Crd);
    }
    let ns = Api::<Namespace>::all(client.clone())
        .get_opt(namespace)
        .await?;
    if ns.is_none_or(|n| n.metadata.deletion_timestamp.is_some()) {
        return Ok(Cascade::Namespace);
    }
    Ok(Cascade::None)
}

/// The policy that applies to this deletion: a CRD deletion always retains; otherwise explicit wins; unset
/// deletes on a direct delete and retains on a namespace cascade.
pub fn effective_deletion_policy(
    explicit: Option<&DeletionPolicy>,
    cascade: Cascade,
) -> DeletionPolicy {
    match (explicit, cascade) {
        (_, Cascade::Crd) => DeletionPolicy::Retain,
        (Some(p), _) => *p,
        (None, Cascade::Namespace) => DeletionPolicy::Retain,
        (None, Cascade::None) => DeletionPolicy::Delete,
    }
}

/// Why a deletion retains the cloud resource, for the `Retained` Event.
pub fn retain_reason(
    explicit: Option<&DeletionPolicy>,
    cascade: Cascade,
    crd_name: &str,
) -> String {
    match (cascade, explicit) {
        (Cascade::Crd, _) => format!(
            "the CustomResourceDefinition {crd_name} is being deleted, and deleting a CRD never deletes cloud \
             resources whatever the deletionPolicy (the connection Secret is kept)"
        ),
        (_, Some(_)) => "deletionPolicy is Retain".to_string(),
        (_, None) => {
            "the namespace is being deleted and deletionPolicy is unset (set it to Delete to delete on namespace \
             deletion)"
                .to_string()
        }
    }
}

/// Publishes an Event about `obj`; failures are logged, never fatal. `note` must not contain secrets (callers
/// only pass messages built from spec fields, cloud state and typed errors, which carry none).
pub async fn publish<K>(
    recorder: &Recorder,
    obj: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) where
    K: Resource<DynamicType = ()>,
{
    let ev = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "could not publish Event");
    }
}

/// Adds ±10% jitter to a steady-state interval so many objects do not poll in lockstep.
pub fn jittered(d: Duration) -> Duration {
    let factor = 0.9 + rand::random::<f64>() * 0.2;
    d.mul_f64(factor)
}

/// Generates a strong root password: 24 characters from letters, digits and a few symbols that are safe in
/// MySQL URIs after percent-encoding and in shells.
pub fn generate_password() -> SecretString {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.~";
    let mut rng = rand::rng();
    let mut pw: String = (0..24)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    // Guarantee one of each class, whatever the draw.
    pw.replace_range(
        0..3,
        &format!(
            "{}{}{}",
            pick(&mut rng, b"ABCDEFGHJKLMNPQRSTUVWXYZ"),
            pick(&mut rng, b"abcdefghijkmnopqrstuvwxyz"),
            pick(&mut rng, b"23456789")
        ),
    );
    SecretString::from(pw)
}

fn pick(rng: &mut impl rand::Rng, set: &[u8]) -> char {
    set[rng.random_range(0..set.len())] as char
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn unset_policy_retains_only_on_cascade_and_crd_deletion_always_retains() {
        use DeletionPolicy::{Delete, Retain};
        let cases = [
            (None, Cascade::None, Delete),
            (None, Cascade::Namespace, Retain),
            (Some(Delete), Cascade::Namespace, Delete),
            (Some(Retain), Cascade::None, Retain),
            (Some(Delete), Cascade::Crd, Retain),
            (None, Cascade::Crd, Retain),
        ];
        for (explicit, cascade, want) in cases {
            assert_eq!(
                effective_deletion_policy(explicit.as_ref(), cascade),
                want,
                "{explicit:?} {cascade:?}"
            );
        }
    }

    #[test]
    fn generated_passwords_are_long_varied_and_valid_for_the_api() {
        let a = generate_password();
        let b = generate_password();
        assert_ne!(a.expose_secret(), b.expose_secret());
        let s = a.expose_secret();
        assert_eq!(s.len(), 24);
        assert!(s.chars().any(|c| c.is_ascii_uppercase()) && s.chars().any(|c| c.is_ascii_digit()));
        assert!(!format!("{a:?}").contains(s));
    }

    #[test]
    fn secret_values_trim_trailing_newline() {
        let s = Secret {
            data: Some(
                [(
                    "k".to_string(),
                    k8s_openapi::ByteString(b"value\n".to_vec()),
                )]
                .into(),
            ),
            ..Secret::default()
        };
        assert_eq!(
            value_of(&s, "k")
                .map(|v| v.expose_secret().to_string())
                .as_deref(),
            Some("value")
        );
        assert!(value_of(&s, "missing").is_none());
    }
}

// ---- the shared reconcile driver: outcomes → conditions, Events, status, requeue -----------------------------

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::controller::Action;

use crate::conditions::{self, Desired, READY, RECONCILING, STALLED, Status};

/// Poll intervals every controller uses (from the run configuration).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub transitional: Duration,
    pub steady: Duration,
    pub credentials: Duration,
}

/// How a reconcile ended, before it is written to status.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Converged on this generation (`Ready=True`).
    Converged {
        reason: &'static str,
        message: String,
    },
    /// Work in flight (`Ready=False`, `Reconciling=True`); poll again after `requeue`.
    Progressing {
        reason: &'static str,
        message: String,
        requeue: Duration,
    },
    /// Nothing will change until the spec or a referenced Secret changes (`Stalled=True`); optionally re-checked.
    /// A Warning Event with `reason` is published when the stall is new.
    Stalled {
        reason: &'static str,
        message: String,
        requeue: Option<Duration>,
    },
    /// A transient failure (429, 5xx, timeout): `Ready` stays as it was, `Reconciling=True`.
    Transient {
        reason: &'static str,
        message: String,
        requeue: Duration,
    },
    /// Reconcile paused by annotation (`clouddb.dev/reconcile: paused`): no cloud call, no poll; `Ready` stays
    /// as it was, `Suspended=True`; the next reconcile comes with a change of the object.
    Suspended { message: String },
}

/// Status types that carry kstatus conditions and `observedGeneration`.
pub trait ConditionedStatus {
    fn conditions(&self) -> &[Condition];
    fn set_conditions(&mut self, conditions: Vec<Condition>);
    fn set_observed_generation(&mut self, generation: Option<i64>);
    /// Whether the status records `convergedGeneration` (the last generation whose spec the cloud matched):
    /// only such kinds get the adoption review and `driftPolicy: Report` (both need to know it).
    const TRACKS_CONVERGENCE: bool = false;
    /// The last generation this object converged on (`status.convergedGeneration`).
    fn converged_generation(&self) -> Option<i64> {
        None
    }
    fn set_converged_generation(&mut self, _generation: Option<i64>) {}
}

/// Keeps `Ready` as the status has it (a transient failure or a pause says nothing about readiness).
fn ready_as_is(status: &impl ConditionedStatus, reason: &str, message: &str) -> Desired {
    match conditions::find(status.conditions(), READY) {
        Some(r) => Desired {
            type_: READY,
            status: match r.status.as_str() {
                "True" => Status::True,
                "False" => Status::False,
                _ => Status::Unknown,
            },
            reason: r.reason.clone(),
            message: r.message.clone(),
        },
        None => Desired::new(READY, Status::False, reason, message),
    }
}

/// The conditions of `outcome` (plus kind-specific `extra`, e.g. `Available`), merged into `status`; sets
/// `observedGeneration` when the generation is fully processed (converged or stalled). Returns the requeue.
pub fn apply_outcome<S: ConditionedStatus>(
    status: &mut S,
    outcome: &Outcome,
    extra: Vec<Desired>,
    managed: &[&str],
    generation: Option<i64>,
    now: k8s_openapi::jiff::Timestamp,
) -> Action {
    let mut desired = Vec::new();
    let action = match outcome {
        Outcome::Converged { reason, message } => {
            status.set_observed_generation(generation);
            desired.push(Desired::new(READY, Status::True, reason, message.clone()));
            None
        }
        Outcome::Progressing {
            reason,
            message,
            requeue,
        } => {
            desired.push(Desired::new(READY, Status::False, reason, message.clone()));
            desired.push(Desired::new(
                RECONCILING,
                Status::True,
                reason,
                message.clone(),
            ));
            Some(Action::requeue(*requeue))
        }
        Outcome::Stalled {
            reason,
            message,
            requeue,
        } => {
            status.set_observed_generation(generation);
            desired.push(Desired::new(READY, Status::False, reason, message.clone()));
            desired.push(Desired::new(STALLED, Status::True, reason, message.clone()));
            Some(
                requeue
                    .map(Action::requeue)
                    .unwrap_or_else(Action::await_change),
            )
        }
        Outcome::Transient {
            reason,
            message,
            requeue,
        } => {
            desired.push(ready_as_is(status, reason, message));
            desired.push(Desired::new(
                RECONCILING,
                Status::True,
                reason,
                message.clone(),
            ));
            Some(Action::requeue(*requeue))
        }
        Outcome::Suspended { message } => {
            let reason = crate::reasons::RECONCILE_PAUSED;
            desired.push(ready_as_is(status, reason, message));
            desired.push(Desired::new(
                conditions::SUSPENDED,
                Status::True,
                reason,
                message.clone(),
            ));
            None
        }
    };
    desired.extend(extra);
    let merged = conditions::merge(status.conditions(), &desired, managed, generation, now);
    status.set_conditions(merged);
    action.unwrap_or_else(Action::await_change)
}

/// Whether `outcome` is a stall not already reported by `previous` conditions (so its Event is new).
pub fn is_new_stall(previous: &[Condition], outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Stalled {
            reason, message, ..
        } => !conditions::find(previous, STALLED)
            .is_some_and(|c| c.status == "True" && c.reason == *reason && c.message == *message),
        _ => false,
    }
}

/// Maps a cloud error to an outcome: 401/403 → `CredentialsRejected` (stalled, slow retry; a change to the
/// credentials Secret retries at once); 429 → `Throttled` at the server's hint; 400 → the service's message
/// (stalled, re-checked slowly since it may reflect cloud state); transient → `Retrying` with per-object backoff
/// (1 s after an uncertain mutation, so the next attempt looks before it creates again).
pub fn cloud_outcome(
    e: &CloudError,
    what: &str,
    timing: Timing,
    backoff: impl FnOnce() -> Duration,
) -> Outcome {
    match e {
        CloudError::Unauthorized { .. } | CloudError::Forbidden { .. } => Outcome::Stalled {
            reason: crate::reasons::CREDENTIALS_REJECTED,
            message: format!(
                "the cloud rejected the credentials while trying to {what}: {e}; fix the credentials Secret"
            ),
            requeue: Some(timing.credentials),
        },
        CloudError::RateLimited { retry_after, .. } => Outcome::Transient {
            reason: crate::reasons::THROTTLED,
            message: format!(
                "rate limited while trying to {what}; retrying in {}s",
                retry_after.as_secs().max(1)
            ),
            requeue: *retry_after + Duration::from_millis(rand::random::<u64>() % 1000),
        },
        CloudError::InvalidArgument { .. } => Outcome::Stalled {
            reason: crate::reasons::CLOUD_REJECTED,
            message: format!("the cloud refused to {what}: {e}"),
            requeue: Some(timing.steady),
        },
        _ if e.is_transient() || e.is_not_found() || matches!(e, CloudError::Decode { .. }) => {
            let delay = if e.outcome_uncertain() {
                Duration::from_secs(1)
            } else {
                backoff()
            };
            Outcome::Transient {
                reason: crate::reasons::RETRYING,
                message: format!(
                    "could not {what}: {e}; retrying in {}s",
                    delay.as_secs().max(1)
                ),
                requeue: delay,
            }
        }
        _ => Outcome::Stalled {
            reason: crate::reasons::CLOUD_ERROR,
            message: format!("could not {what}: {e}"),
            requeue: Some(timing.steady),
        },
    }
}

/// Reads `keys` of the credentials Secret `namespace/name`, in order (one GET); a missing Secret or key is a
/// `CredentialsMissing` stall naming the keys expected. With `protect` (a Secret in the object's own
/// namespace), the Secret gets the [`IN_USE_FINALIZER`] so that a namespace deletion cannot take it before the
/// objects that need it to delete their cloud resources are done; [`release_credentials`] removes it.
pub async fn read_secret_keys(
    client: &Client,
    namespace: &str,
    name: &str,
    keys: &[&str],
    timing: Timing,
    protect: bool,
) -> Result<Result<Vec<SecretString>, Outcome>, kube::Error> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    let missing = |e: SecretRefError| Outcome::Stalled {
        reason: crate::reasons::CREDENTIALS_MISSING,
        message: format!(
            "credentials unavailable: {e}; create it with keys {}",
            keys.join(", ")
        ),
        requeue: Some(timing.credentials),
    };
    let Some(secret) = api.get_opt(name).await? else {
        return Ok(Err(missing(SecretRefError::NotFound {
            namespace: namespace.into(),
            name: name.into(),
        })));
    };
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        match value_of(&secret, key) {
            Some(v) => values.push(v),
            None => {
                let (namespace, name, key) = (namespace.into(), name.into(), key.to_string());
                let has_key = secret.data.as_ref().is_some_and(|d| d.contains_key(&key));
                return Ok(Err(missing(if has_key {
                    SecretRefError::BadValue {
                        namespace,
                        name,
                        key,
                    }
                } else {
                    SecretRefError::KeyMissing {
                        namespace,
                        name,
                        key,
                    }
                })));
            }
        }
    }
    if protect
        && secret.metadata.deletion_timestamp.is_none()
        && !secret.finalizers().iter().any(|f| f == IN_USE_FINALIZER)
    {
        add_finalizer_named(&api, &secret, IN_USE_FINALIZER).await?;
    }
    Ok(Ok(values))
}

/// Removes the [`IN_USE_FINALIZER`] from credentials Secret `namespace/name` (no object uses it any more).
pub async fn release_credentials(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<(), kube::Error> {
    let api = Api::<Secret>::namespaced(ctx.kube.clone(), namespace);
    match api.get_opt(name).await? {
        Some(secret) => remove_finalizer_named(&api, &secret, IN_USE_FINALIZER).await,
        None => Ok(()),
    }
}

// ---- the shared reconcile driver: failures, error policy, finishing a reconcile ------------------------------

use super::Context;

/// An error inside a reconcile step: cloud errors become conditions (with what was being done, for the
/// message), Kubernetes errors go to the runtime.
#[derive(Debug)]
pub enum Failure {
    Kube(kube::Error),
    Cloud(CloudError, String),
    Internal(&'static str),
}

impl Failure {
    pub fn cloud(e: CloudError, what: &str) -> Failure {
        Failure::Cloud(e, what.to_string())
    }
}

impl From<kube::Error> for Failure {
    fn from(e: kube::Error) -> Self {
        Failure::Kube(e)
    }
}

impl From<Failure> for ReconcileError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Kube(e) => ReconcileError::Kube(e),
            Failure::Cloud(e, _) => ReconcileError::Cloud(e),
            Failure::Internal(what) => ReconcileError::Internal(what),
        }
    }
}

/// `namespace/name`: the key of an object for backoff, logs and metrics.
pub fn object_key<K: Resource>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// The controllers' error policy: count the error, and retry with per-object exponential backoff.
pub fn error_policy<K: Resource>(
    kind: &str,
    obj: &K,
    err: &ReconcileError,
    ctx: &Context,
) -> Action {
    let key = object_key(obj);
    ctx.metrics.record_reconcile_error(kind, err.category());
    let delay = ctx.backoff.next(&key);
    tracing::warn!(kind, object = %key, error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// [`cloud_outcome`] for object `key` of `kind`, counting the error in the metrics.
pub fn cloud_failure(ctx: &Context, kind: &str, key: &str, e: &CloudError, what: &str) -> Outcome {
    ctx.metrics.record_reconcile_error(kind, e.category());
    cloud_outcome(e, what, ctx.timing(), || ctx.backoff.next(key))
}

/// Merges `desired` conditions into `status` now (managed types not listed are removed), e.g. to record
/// "Creating" together with a create intent before the create call.
pub fn merge_conditions<S: ConditionedStatus>(
    status: &mut S,
    desired: &[Desired],
    managed: &[&str],
    generation: Option<i64>,
) {
    let merged = conditions::merge(
        status.conditions(),
        desired,
        managed,
        generation,
        k8s_openapi::jiff::Timestamp::now(),
    );
    status.set_conditions(merged);
}

/// Ends a reconcile: resets the object's backoff after progress, publishes a Warning Event for a new stall,
/// merges the conditions of `outcome` (plus kind-specific `extra`) into `status` and server-side applies it.
/// Returns the requeue of the outcome.
pub async fn finish<K, S>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    status: &mut S,
    outcome: &Outcome,
    extra: Vec<Desired>,
    managed: &[&str],
) -> Result<Action, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: ConditionedStatus + Serialize,
{
    if !matches!(outcome, Outcome::Transient { .. } | Outcome::Stalled { .. }) {
        ctx.backoff.reset(&object_key(obj));
    }
    if is_new_stall(status.conditions(), outcome)
        && let Outcome::Stalled {
            reason, message, ..
        } = outcome
    {
        publish(
            &ctx.recorder,
            obj,
            EventType::Warning,
            reason,
            "Reconcile",
            message.clone(),
        )
        .await;
    }
    let action = apply_outcome(
        status,
        outcome,
        extra,
        managed,
        obj.meta().generation,
        k8s_openapi::jiff::Timestamp::now(),
    );
    apply_status(api, obj, status).await?;
    Ok(action)
}

/// The current time as RFC 3339 with milliseconds (UTC), as recorded in status.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Whether a cloud resource created at `create_time` may come from a create call recorded at `started_at`
/// (both RFC 3339): created no earlier than `slack` before the intent (clock skew between the operator and
/// the cloud). Unparseable times count as a match (the other criteria still apply).
pub fn created_since(create_time: &str, started_at: &str, slack: chrono::Duration) -> bool {
    match (
        chrono::DateTime::parse_from_rfc3339(started_at),
        chrono::DateTime::parse_from_rfc3339(create_time),
    ) {
        (Ok(since), Ok(created)) => created >= since - slack,
        _ => true,
    }
}

#[cfg(test)]
mod driver_tests {
    use super::*;

    #[test]
    fn created_since_allows_clock_skew_and_unknown_times() {
        let slack = chrono::Duration::seconds(60);
        let at = "2025-01-01T12:00:00.000Z";
        assert!(created_since("2025-01-01T12:00:01Z", at, slack));
        assert!(created_since("2025-01-01T11:59:30Z", at, slack));
        assert!(!created_since("2025-01-01T11:58:00Z", at, slack));
        assert!(created_since("", at, slack));
    }

    #[test]
    fn failures_map_to_reconcile_errors_by_kind() {
        let e: ReconcileError = Failure::Internal("x").into();
        assert_eq!(e.category(), "Internal");
        let e: ReconcileError = Failure::cloud(
            CloudError::NotFound {
                message: "gone".into(),
            },
            "read",
        )
        .into();
        assert_eq!(e.category(), "NotFound");
    }
}

/// The object's status as the API server has it now. The controller's watch cache may lag behind the status
/// this operator wrote a moment ago; before a create, a reconcile must see the cloud id or create intent the
/// previous reconcile recorded, or it would create a second cloud object.
pub async fn fresh_status<K, S>(api: &Api<K>, obj: &K) -> Result<Option<S>, kube::Error>
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug
        + kube::runtime::reflector::Lookup,
    K: HasStatus<Status = S>,
    S: Clone,
{
    Ok(api.get_status(&obj.name_any()).await?.status().cloned())
}

// ---- connection Secrets: written, retained and released the same way for every kind -------------------------

use std::collections::BTreeMap;

use k8s_openapi::ByteString;

/// Label on connection Secrets naming the resource they belong to.
pub const CONNECTION_LABEL: &str = "clouddb.dev/connection-for";

/// Logs `note` and publishes it as an Event about `obj` (`key` = `namespace/name` for the log).
pub async fn note<K>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) where
    K: Resource<DynamicType = ()>,
{
    if ctx.plan.is_some() {
        return;
    }
    let key = object_key(obj);
    match type_ {
        EventType::Warning => tracing::warn!(object = %key, reason, "{note}"),
        EventType::Normal => tracing::info!(object = %key, reason, "{note}"),
    }
    publish(&ctx.recorder, obj, type_, reason, action, note).await;
}

/// The connection Secret of one resource: owned by it (garbage-collected with it), labelled
/// [`CONNECTION_LABEL`], and held by our finalizer until the resource's deletion has decided about it (a
/// terminating namespace must not take the only copy of a generated password before a retained cloud
/// resource's Secret is saved).
pub struct ConnectionSecret<'a, K> {
    pub ctx: &'a Context,
    pub obj: &'a K,
    pub ns: &'a str,
    pub name: String,
    /// The resource's CRD (for cascade detection).
    pub crd_name: &'static str,
}

impl<K> ConnectionSecret<'_, K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    fn api(&self) -> Api<Secret> {
        Api::namespaced(self.ctx.kube.clone(), self.ns)
    }

    pub async fn get(&self) -> Result<Option<Secret>, Failure> {
        self.api().get_opt(&self.name).await.map_err(Failure::Kube)
    }

    /// Writes `data` (server-side apply) unless the Secret already holds exactly that. A Secret someone is
    /// deleting is let go (the watch brings the resource back to write a fresh one), unless the namespace is
    /// going away: then the resource's own cleanup decides (retain copies it).
    pub async fn write(&self, data: BTreeMap<String, ByteString>) -> Result<(), Failure> {
        if self.ctx.plan.is_some() {
            return Ok(());
        }
        let existing = self.get().await?;
        if let Some(s) = existing
            .as_ref()
            .filter(|s| s.metadata.deletion_timestamp.is_some())
        {
            if cascade_in_progress(&self.ctx.kube, self.ns, self.crd_name)
                .await
                .map_err(Failure::Kube)?
                == Cascade::None
            {
                self.release(s).await?;
            }
            return Ok(());
        }
        let uid = self.obj.meta().uid.clone();
        if existing.as_ref().and_then(|s| s.data.as_ref()) == Some(&data)
            && existing.as_ref().is_some_and(|s| {
                has_finalizer(s)
                    && s.owner_references()
                        .iter()
                        .any(|o| Some(&o.uid) == uid.as_ref())
            })
        {
            return Ok(());
        }
        let owner = self.obj.controller_owner_ref(&()).ok_or(Failure::Internal(
            "object has no uid for an owner reference",
        ))?;
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.ns.to_string()),
                labels: Some([(CONNECTION_LABEL.to_string(), self.obj.name_any())].into()),
                owner_references: Some(vec![owner]),
                finalizers: Some(vec![FINALIZER.to_string()]),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(data),
            ..Default::default()
        };
        self.apply(self.ns, &self.name, &secret).await
    }

    async fn apply(&self, ns: &str, name: &str, secret: &Secret) -> Result<(), Failure> {
        let mut value =
            serde_json::to_value(secret).map_err(|e| Failure::Kube(kube::Error::SerdeError(e)))?;
        value["apiVersion"] = "v1".into();
        value["kind"] = "Secret".into();
        Api::<Secret>::namespaced(self.ctx.kube.clone(), ns)
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&value),
            )
            .instrument(write_span("apply", "Secret"))
            .await
            .map_err(Failure::Kube)?;
        Ok(())
    }

    /// Keeps the Secret when the cloud resource is retained: drops the owner reference so garbage collection
    /// leaves it; if the namespace itself is going away, copies it to the operator's namespace.
    pub async fn retain(&self, cascade: bool) -> Result<(), Failure> {
        let Some(secret) = self.get().await? else {
            return Ok(());
        };
        let patch = serde_json::json!({"metadata": {"ownerReferences": null}});
        match self
            .api()
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(e) => return Err(Failure::Kube(e)),
        }
        if !cascade {
            return Ok(());
        }
        let target_ns = self.ctx.config.operator_namespace.clone();
        let copy_name = retained_secret_name(self.ns, &self.name);
        let copy = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(copy_name.clone()),
                namespace: Some(target_ns.clone()),
                labels: Some(
                    [(
                        "clouddb.dev/retained-from-namespace".to_string(),
                        self.ns.to_string(),
                    )]
                    .into(),
                ),
                annotations: Some(
                    [(
                        "clouddb.dev/retained-from".to_string(),
                        format!("{}/{}", self.ns, self.name),
                    )]
                    .into(),
                ),
                ..Default::default()
            },
            type_: secret.type_.clone(),
            data: secret.data.clone(),
            ..Default::default()
        };
        self.apply(&target_ns, &copy_name, &copy).await?;
        note(
            self.ctx,
            self.obj,
            EventType::Normal,
            crate::reasons::CONNECTION_SECRET_RETAINED,
            "Delete",
            format!(
                "namespace {} is being deleted: connection Secret copied to {target_ns}/{copy_name}",
                self.ns
            ),
        )
        .await;
        Ok(())
    }

    /// Removes our finalizer from `secret` (so garbage collection or a namespace deletion may take it).
    pub async fn release(&self, secret: &Secret) -> Result<(), Failure> {
        remove_finalizer(&self.api(), secret)
            .await
            .map_err(Failure::Kube)
    }

    /// Releases the Secret, if there is one (the last step of a resource's deletion).
    pub async fn release_current(&self) -> Result<(), Failure> {
        match self.get().await? {
            Some(secret) => self.release(&secret).await,
            None => Ok(()),
        }
    }
}

/// `retained-<ns>-<name>`, shortened with a hash when longer than a Secret name may be.
pub fn retained_secret_name(ns: &str, name: &str) -> String {
    let full = format!("retained-{ns}-{name}");
    if full.len() <= 253 {
        return full;
    }
    use sha2::Digest;
    let hash = sha2::Sha256::digest(full.as_bytes());
    let hex: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", &full[..240])
}

/// A Secret `data` map under construction.
#[derive(Default)]
pub struct SecretData(pub BTreeMap<String, ByteString>);

impl SecretData {
    pub fn put(&mut self, key: &str, value: &str) {
        self.0
            .insert(key.to_string(), ByteString(value.as_bytes().to_vec()));
    }
}

#[cfg(test)]
mod connection_tests {
    #[test]
    fn retained_names_fit() {
        assert!(super::retained_secret_name(&"n".repeat(63), &"s".repeat(253)).len() <= 253);
        assert_eq!(super::retained_secret_name("a", "b"), "retained-a-b");
    }
}

// ---- running a controller: the primary watch plus the Secrets a resource depends on ------------------------

use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::Controller;
use kube::runtime::reflector::ReflectHandle;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use super::watch::Guarded;

/// Which Secrets a kind depends on, for the watches that bring a resource back when one changes.
pub struct SecretRefs<K> {
    /// Whether the resource uses the operator's default credentials Secret `default_credentials`.
    pub uses_default_credentials: fn(&K) -> bool,
    /// `namespace/name` of the default credentials Secret of this kind.
    pub default_credentials: (String, String),
    /// Names of Secrets in the resource's namespace it reads (credentials, passwords).
    pub referenced: fn(&K) -> Vec<String>,
}

/// Where a controller's objects come from.
pub enum Primary<K: Resource<DynamicType = ()> + Clone + 'static> {
    /// Its own watch of this scope.
    Own(Box<Api<K>>),
    /// A watch shared with other controllers ([`super::watch::Shared`]): its events and its cache.
    Shared(ReflectHandle<Guarded<K>>, Store<Guarded<K>>),
}

/// Runs a controller of `K` until `shutdown` resolves: the primary objects (each behind a [`Guarded`], so one
/// that cannot be parsed never stops the others), the default credentials Secret (by name; it may live outside
/// the watched namespaces), the scope's shared Secret watch mapped to the resources that reference a Secret,
/// and connection Secrets mapped back to their owner (re-created if someone deletes them); plus the kind's own
/// `watches` (e.g. of the TidbCloudClusters its objects reference), given the controller and its cache.
pub async fn run_controller<K, Rec, Fut, Pol>(
    ctx: Arc<Context>,
    (kind, claims): (&'static str, fn(&K) -> super::ownership::Claims),
    (primary, secrets, refs): (
        Primary<K>,
        ReflectHandle<PartialObjectMeta<Secret>>,
        SecretRefs<K>,
    ),
    watches: impl FnOnce(Controller<Guarded<K>>, &Store<Guarded<K>>) -> Controller<Guarded<K>>,
    (reconcile, error_policy): (Rec, Pol),
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
    Rec: FnMut(Arc<Guarded<K>>, Arc<Context>) -> Fut,
    Fut: futures::TryFuture<Ok = Action, Error = ReconcileError> + Send + 'static,
    Pol: Fn(Arc<Guarded<K>>, &ReconcileError, Arc<Context>) -> Action,
{
    let (controller, store) = match primary {
        Primary::Own(api) => {
            let api = *api;
            let (objects, store) =
                super::watch::primary(super::watch::same_scope::<K, Guarded<K>>(&api));
            (Controller::for_stream(objects, store.clone()), store)
        }
        Primary::Shared(events, store) => {
            (Controller::for_shared_stream(events, store.clone()), store)
        }
    };
    ctx.claims
        .register(kind, store.clone(), move |o: &Guarded<K>| {
            o.0.as_ref().map(claims).unwrap_or_default()
        });
    let controller = watches(controller, &store);
    let release_ctx = ctx.clone();
    let (default_ns, default_name) = refs.default_credentials.clone();
    let default_store = store.clone();
    let uses_default = refs.uses_default_credentials;
    let referenced = refs.referenced;
    let default_secret = Api::<Secret>::namespaced(ctx.kube.clone(), &default_ns);
    let by_name = watcher::Config::default().fields(&format!("metadata.name={default_name}"));
    let concurrency = ctx.config.concurrency;
    controller
        .watches(
            super::watch::secret_metadata(default_secret),
            by_name,
            move |_secret: PartialObjectMeta<Secret>| {
                default_store
                    .state()
                    .into_iter()
                    .filter(|o| o.0.as_ref().is_ok_and(uses_default))
                    .map(|o| ObjectRef::from_obj(&*o))
                    .collect::<Vec<_>>()
            },
        )
        .watches_shared_stream(secrets, move |secret: Arc<PartialObjectMeta<Secret>>| {
            let (ns, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
            release_unused_credentials(&release_ctx, &secret);
            // Our connection Secrets are never credentials or passwords: they map back to their owner of this
            // kind only (no scan of the store: thousands of them arrive at every start).
            if let Some(owner) = secret.labels().get(CONNECTION_LABEL) {
                let owned = secret
                    .owner_references()
                    .iter()
                    .any(|o| o.kind == K::kind(&()) && &o.name == owner);
                return if owned {
                    vec![ObjectRef::new(owner).within(&ns)]
                } else {
                    Vec::new()
                };
            }
            store
                .state()
                .into_iter()
                .filter(|o| o.namespace().as_deref() == Some(ns.as_str()))
                .filter(|o| o.0.as_ref().is_ok_and(|o| referenced(o).contains(&name)))
                .map(|o| ObjectRef::from_obj(&*o))
                .collect::<Vec<_>>()
        })
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile loop event");
            }
        })
        .await;
    tracing::info!(kind, "controller stopped");
}

/// An object of `kind` the operator cannot parse (e.g. written under an older CRD): reported with a Warning
/// Event and a log line naming the problem, never reconciled, and never a reason to stop the kind's watch.
pub async fn report_invalid(
    ctx: &Context,
    kind: &str,
    invalid: &kube::core::error_boundary::InvalidObject,
) -> Action {
    let meta = &invalid.metadata;
    let key = format!(
        "{}/{}",
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default()
    );
    let note = format!(
        "this {kind} cannot be read by the operator ({}); correct it to match the CRD of this version",
        invalid.error
    );
    tracing::warn!(kind, object = %key, "{note}");
    ctx.metrics
        .record_reconcile_error(kind, crate::reasons::INVALID_OBJECT);
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(format!("{}/v1alpha1", crate::api::common::GROUP)),
        kind: Some(kind.to_string()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    };
    let ev = Event {
        type_: EventType::Warning,
        reason: crate::reasons::INVALID_OBJECT.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &reference).await {
        tracing::warn!(error = %e, "could not publish Event");
    }
    Action::await_change()
}

/// A credentials Secret someone deletes while it carries our [`IN_USE_FINALIZER`] is let go once no object
/// uses it any more (objects that still use it release it when their own deletion is done).
fn release_unused_credentials(ctx: &Arc<Context>, secret: &PartialObjectMeta<Secret>) {
    if secret.metadata.deletion_timestamp.is_none()
        || !secret.finalizers().iter().any(|f| f == IN_USE_FINALIZER)
    {
        return;
    }
    let (ns, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
    if ctx.claims.secret_in_use(&ns, &name, "") {
        return;
    }
    let ctx = ctx.clone();
    tokio::spawn(async move {
        if let Err(e) = release_credentials(&ctx, &ns, &name).await {
            tracing::warn!(secret = %format!("{ns}/{name}"), error = %e, "could not release a credentials Secret");
        }
    });
}

// ---- the per-reconcile state every kind shares -----------------------------------------------------------

/// What a deletion needs to know about the resource (see [`Base::deletion_preamble`]).
pub struct Deletion<'d> {
    pub observe_only: bool,
    /// `spec.deletionPolicy`.
    pub policy: Option<&'d DeletionPolicy>,
    /// `spec.deletionProtection`.
    pub protected: bool,
    /// The cloud id, if known.
    pub id: Option<&'d str>,
    /// A create intent is recorded (a cloud resource may exist without a known id).
    pub create_pending: bool,
    /// Name of the connection Secret, if the kind writes one.
    pub connection: Option<String>,
    /// "cluster", "service": what is deleted, for messages.
    pub noun: &'d str,
    /// "TiDB Cloud", "ClickHouse Cloud".
    pub cloud: &'d str,
}

/// How a reconcile starts: after the finalizer checks, either apply or clean up; otherwise done already.
pub enum Entry {
    Apply,
    Cleanup,
    Done(Action),
}

/// The first step of every reconcile: a deleted object is cleaned up (if it still has our finalizer); a live
/// one without our finalizer gets it (the patch itself triggers the next reconcile); else apply.
pub async fn entry<K>(obj: &K, api: &Api<K>) -> Result<Entry, ReconcileError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    Ok(
        match (obj.meta().deletion_timestamp.is_some(), has_finalizer(obj)) {
            (true, true) => Entry::Cleanup,
            (true, false) => Entry::Done(Action::await_change()),
            (false, false) => {
                add_finalizer(api, obj).await?;
                Entry::Done(Action::await_change())
            }
            (false, true) => Entry::Apply,
        },
    )
}

/// The span of one reconcile of `kind` `namespace/name`; its `trace_id` (the OpenTelemetry trace, when traces
/// are exported) appears in every log line of the reconcile.
pub fn reconcile_span(kind: &str, namespace: &str, name: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "reconcile",
        kind,
        object = %format!("{namespace}/{name}"),
        trace_id = tracing::field::Empty
    );
    if let Some(id) = crate::telemetry::current_trace_id(&span) {
        span.record("trace_id", tracing::field::display(id));
    }
    span
}

/// The span of one Kubernetes write (`verb` on `resource`, e.g. `patch` `TidbCloudCluster/status`).
pub fn write_span(verb: &'static str, resource: &str) -> tracing::Span {
    tracing::info_span!("kubernetes write", verb, resource = %resource)
}

/// Counts a finished reconcile of `kind` (`ok` / `error`) and passes the result on.
pub fn counted<T, E>(ctx: &Context, kind: &str, result: Result<T, E>) -> Result<T, E> {
    ctx.metrics
        .record_reconcile(kind, if result.is_ok() { "ok" } else { "error" });
    result
}

/// What one reconcile of a `K` works with: the object, its API, the shared context, and the status being
/// built (written with server-side apply by [`Base::finish`] or [`Base::persist_status`]). A kind's own run
/// state wraps it (and derefs to it).
pub struct Base<'a, K: HasStatus> {
    pub obj: &'a K,
    pub api: &'a Api<K>,
    pub ctx: &'a Context,
    pub ns: &'a str,
    /// `namespace/name`.
    pub key: String,
    pub status: K::Status,
    kind: &'static str,
    crd_name: &'static str,
    /// The condition types written by this reconcile: the kind's own plus the driver's.
    managed: Vec<&'static str>,
    /// Why cloud writes are held back in this reconcile (set by the driver before converging).
    pub hold: Hold,
    /// What converging found different but did not change (writes held back), in words.
    pub held_changes: Vec<String>,
    /// Whether the object is observe-only, as its kind decides (`CloudKind::observe_only`; the driver sets it,
    /// kinds without an observe-only mode are never).
    pub observe_only: bool,
}

/// Why a reconcile reads the cloud but writes nothing to it (the kind's `decide` reports the differences
/// instead of acting: [`Base::writes_held`], [`Base::observing`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Hold {
    /// Writes as usual.
    #[default]
    Nothing,
    /// Adopting an existing resource by id: its differences wait for `clouddb.dev/approve-adoption`.
    Adoption,
    /// Converged before, `driftPolicy: Report`: what differs now was changed outside Kubernetes; report it.
    Drift,
    /// A plan preview (`clouddb-operator plan`): nothing is written anywhere.
    Plan,
}

impl<'a, K, S> Base<'a, K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug
        + kube::runtime::reflector::Lookup
        + HasStatus<Status = S>,
    S: ConditionedStatus + Serialize + Clone + Default,
{
    /// `managed`: the condition types this kind owns (others are removed when status is written).
    pub fn new(
        obj: &'a K,
        api: &'a Api<K>,
        ctx: &'a Context,
        ns: &'a str,
        (kind, crd_name, managed): (&'static str, &'static str, &'static [&'static str]),
    ) -> Self {
        Base {
            obj,
            api,
            ctx,
            ns,
            key: object_key(obj),
            status: obj.status().cloned().unwrap_or_default(),
            kind,
            crd_name,
            managed: [managed, conditions::DRIVER_MANAGED].concat(),
            hold: Hold::Nothing,
            held_changes: Vec::new(),
            observe_only: crate::api::common::observe_only(obj),
        }
    }

    /// Whether this reconcile must not write to the cloud: observe-only, or writes held back ([`Hold`]).
    pub fn writes_held(&self) -> bool {
        self.hold != Hold::Nothing || self.observe_only
    }

    /// The outcome of a reconcile that found `differences` and changed nothing (writes held): recorded for
    /// the driver (adoption review, drift report, plan) and reported as observe-only.
    pub fn observing(&mut self, differences: Vec<String>) -> Outcome {
        let outcome = observing(&differences);
        self.held_changes = differences;
        outcome
    }

    /// Before anything that could lead to a create: unless the cloud id is `known`, take the status from the
    /// API server (the watch cache may lag behind the id or create intent the previous reconcile wrote;
    /// missing it would create a second cloud resource).
    pub async fn refresh_status(&mut self, known: bool) -> Result<(), kube::Error> {
        if !known && let Some(status) = fresh_status(self.api, self.obj).await? {
            self.status = status;
        }
        Ok(())
    }

    /// Writes the status as it is now, keeping the existing conditions.
    pub async fn persist_status(&mut self) -> Result<(), Failure> {
        if self.ctx.plan.is_some() {
            return Ok(());
        }
        apply_status(self.api, self.obj, &self.status)
            .await
            .map_err(Failure::Kube)
    }

    /// Writes the status with `desired` conditions (managed types not listed are removed).
    pub async fn persist_status_with(&mut self, desired: &[Desired]) -> Result<(), Failure> {
        merge_conditions(
            &mut self.status,
            desired,
            &self.managed,
            self.obj.meta().generation,
        );
        self.persist_status().await
    }

    /// Records "Creating" (Ready=False, Reconciling=True) with `message`, together with whatever create intent
    /// the caller put into the status, before the create call.
    pub async fn persist_creating(&mut self, message: &str) -> Result<(), Failure> {
        self.persist_status_with(&[
            Desired::new(READY, Status::False, crate::reasons::CREATING, message),
            Desired::new(
                conditions::RECONCILING,
                Status::True,
                crate::reasons::CREATING,
                message,
            ),
        ])
        .await
    }

    pub async fn event(&self, type_: EventType, reason: &str, action: &str, text: String) {
        note(self.ctx, self.obj, type_, reason, action, text).await;
    }

    /// Maps a cloud error to an outcome (shared policy in [`cloud_outcome`]), counting it.
    pub fn cloud_outcome(&self, e: CloudError, what: &str) -> Outcome {
        cloud_failure(self.ctx, self.kind, &self.key, &e, what)
    }

    /// The outcome of a step that failed: cloud errors become outcomes, the rest goes to the runtime.
    pub fn outcome_of(&self, r: Result<Outcome, Failure>) -> Result<Outcome, ReconcileError> {
        match r {
            Ok(o) => Ok(o),
            Err(Failure::Cloud(e, what)) => Ok(self.cloud_outcome(e, &what)),
            Err(f) => Err(f.into()),
        }
    }

    /// The result of a deletion step: `None` when the deletion is done (then [`Base::finalize`]), else the
    /// outcome to report (cloud errors included).
    pub fn deletion_outcome(
        &self,
        r: Result<Option<Outcome>, Failure>,
    ) -> Result<Option<Outcome>, ReconcileError> {
        match r {
            Err(Failure::Cloud(e, what)) => Ok(Some(self.cloud_outcome(e, &what))),
            Err(f) => Err(f.into()),
            Ok(o) => Ok(o),
        }
    }

    /// Writes status for `outcome` (plus kind-specific `extra` conditions), publishes a Warning Event for a
    /// new stall, and returns the requeue (a converged object is polled at the jittered steady interval).
    pub async fn finish(
        &mut self,
        outcome: Outcome,
        extra: Vec<Desired>,
    ) -> Result<Action, ReconcileError> {
        let action = finish(
            self.ctx,
            self.api,
            self.obj,
            &mut self.status,
            &outcome,
            extra,
            &self.managed,
        )
        .await?;
        Ok(match outcome {
            Outcome::Converged { .. } => Action::requeue(jittered(self.ctx.config.poll_steady)),
            _ => action,
        })
    }

    /// The object's connection Secret, named `name`.
    pub fn connection(&self, name: String) -> ConnectionSecret<'a, K> {
        ConnectionSecret {
            ctx: self.ctx,
            obj: self.obj,
            ns: self.ns,
            name,
            crd_name: self.crd_name,
        }
    }

    /// The end of a deletion: the connection Secret released, our finalizer removed, the backoff forgotten.
    pub async fn finalize(&mut self, connection: Option<String>) -> Result<Action, ReconcileError> {
        if let Some(connection) = connection {
            self.connection(connection).release_current().await?;
        }
        remove_finalizer(self.api, self.obj).await?;
        self.ctx.backoff.reset(&self.key);
        Ok(Action::await_change())
    }

    /// The decisions every deletion starts with, before any cloud call. `Some(None)`: done, the finalizer may
    /// go (observe-only; `Retain` — the connection Secret kept; nothing was ever created); `Some(Some(o))`:
    /// stop with `o` (deletion protection); `None`: go on and delete the cloud resource.
    pub async fn deletion_preamble(
        &mut self,
        d: Deletion<'_>,
    ) -> Result<Option<Option<Outcome>>, Failure> {
        let cascade = if d.observe_only {
            Cascade::None
        } else {
            cascade_in_progress(&self.ctx.kube, self.ns, self.crd_name)
                .await
                .map_err(Failure::Kube)?
        };
        let (noun, cloud) = (d.noun, d.cloud);
        match deletion_step(&d, cascade, self.crd_name) {
            DeletionStep::Release => {
                self.event(
                    EventType::Normal,
                    crate::reasons::RELEASED,
                    "Delete",
                    format!("observe-only: the {noun} in {cloud} is left untouched"),
                )
                .await;
                Ok(Some(None))
            }
            DeletionStep::Retain(why) => {
                if let Some(connection) = d.connection {
                    self.connection(connection)
                        .retain(cascade == Cascade::Namespace)
                        .await?;
                }
                self.event(
                    EventType::Normal,
                    crate::reasons::RETAINED,
                    "Delete",
                    format!("{noun} {} left in {cloud}: {why}", d.id.unwrap_or("(none)")),
                )
                .await;
                Ok(Some(None))
            }
            DeletionStep::NothingCreated => Ok(Some(None)),
            DeletionStep::Protected(message) => Ok(Some(Some(Outcome::Stalled {
                reason: crate::reasons::DELETION_PROTECTED,
                message,
                requeue: Some(self.ctx.config.poll_steady),
            }))),
            DeletionStep::Delete => Ok(None),
        }
    }
}

/// What deleting an object does before any cloud call (pure; [`Base::deletion_preamble`] acts on it, the plan
/// preview prints it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeletionStep {
    /// Observe-only: the cloud resource is left untouched.
    Release,
    /// The cloud resource is kept (the connection Secret too), for this reason.
    Retain(String),
    /// No cloud resource was ever created: the finalizer may go.
    NothingCreated,
    /// `deletionProtection` stops the deletion (the message says how to let it finish).
    Protected(String),
    /// Go on and delete the cloud resource.
    Delete,
}

/// The [`DeletionStep`] for `d` during a deletion of kind `cascade`.
pub fn deletion_step(d: &Deletion<'_>, cascade: Cascade, crd_name: &str) -> DeletionStep {
    if d.observe_only {
        return DeletionStep::Release;
    }
    if effective_deletion_policy(d.policy, cascade) == DeletionPolicy::Retain {
        return DeletionStep::Retain(retain_reason(d.policy, cascade, crd_name));
    }
    if d.id.is_none() && !d.create_pending {
        return DeletionStep::NothingCreated;
    }
    if d.protected {
        let (noun, cloud) = (d.noun, d.cloud);
        return DeletionStep::Protected(format!(
            "deletionProtection is true: the {noun} in {cloud} will not be deleted; set spec.deletionProtection \
             to false (or deletionPolicy: Retain) to let the deletion finish"
        ));
    }
    DeletionStep::Delete
}

// ---- small outcomes and reads every kind uses ------------------------------------------------------------

/// The outcome of an observe-only reconcile: `differences` (descriptions of what would change) are
/// reported, none means the cloud matches.
pub fn observing(differences: &[String]) -> Outcome {
    Outcome::Converged {
        reason: crate::reasons::OBSERVING,
        message: if differences.is_empty() {
            "observe-only: the cloud matches the spec".into()
        } else {
            format!(
                "observe-only: the cloud differs from the spec ({})",
                differences.join("; ")
            )
        },
    }
}

/// A converged outcome: `resting` (reason, message) when the spec asks for the resource at rest (paused,
/// stopped), else `Ready` with `ready`.
pub fn converged(resting: Option<(&'static str, &str)>, ready: String) -> Outcome {
    match resting {
        Some((reason, message)) => Outcome::Converged {
            reason,
            message: message.to_string(),
        },
        None => Outcome::Converged {
            reason: crate::reasons::READY,
            message: ready,
        },
    }
}

/// When a create intent was first recorded: kept across retries, else now.
pub fn intent_started_at(previous: Option<&str>) -> String {
    previous.map_or_else(now_rfc3339, str::to_string)
}

impl<'a, K, S> Base<'a, K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug
        + kube::runtime::reflector::Lookup
        + HasStatus<Status = S>,
    S: ConditionedStatus + Serialize + Clone + Default,
{
    /// The `Adopted` Event for the `noun` with `id` (named `name`) this resource now manages, when it was not
    /// managing one yet (`first`).
    pub async fn adopted(&self, first: bool, noun: &str, id: &str, name: &str) {
        if first {
            let text = format!("adopted existing {noun} {id} ({name})");
            self.event(EventType::Normal, crate::reasons::ADOPTED, "Adopt", text)
                .await;
        }
    }

    /// The `Deleted` Event: the cloud `noun` is gone, the deletion is done.
    pub async fn gone(&self, noun: &str) -> Result<Option<Outcome>, Failure> {
        let text = format!("the cloud {noun} is gone");
        self.event(EventType::Normal, crate::reasons::DELETED, "Delete", text)
            .await;
        Ok(None)
    }

    /// Work in flight: look again at the transitional poll interval.
    pub fn progressing(&self, reason: &'static str, message: String) -> Outcome {
        Outcome::Progressing {
            reason,
            message,
            requeue: self.ctx.config.poll_transitional,
        }
    }

    /// The value of a password Secret reference (`field` names it in messages); a missing Secret or key is a
    /// `PasswordSecretMissing` stall.
    pub async fn password_from(
        &self,
        r: &crate::api::common::SecretKeyRef,
        field: &str,
    ) -> Result<Result<SecretString, Outcome>, Failure> {
        let value = secret_value(&self.ctx.kube, self.ns, &r.name, &r.key)
            .await
            .map_err(Failure::Kube)?;
        Ok(value.map_err(|e| Outcome::Stalled {
            reason: crate::reasons::PASSWORD_SECRET_MISSING,
            message: format!("{field}: {e}"),
            requeue: None,
        }))
    }
}
