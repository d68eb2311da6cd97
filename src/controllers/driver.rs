//! The one reconcile driver every cloud kind runs on.
//!
//! A kind is a [`CloudKind`] implementation: how to connect (credentials), read one resource, list the
//! candidates of an uncertain create, a **pure** matcher for them, converge (its pure `decide` plus acting on
//! one step), create and delete. The driver owns everything else, once: the finalizer entry, the status
//! refresh before anything could create, the generic observe (conflict → claimed elsewhere → by id → gone →
//! by create intent), persist-intent-then-create, the deletion preamble (observe-only, CRD deletion,
//! namespace cascade, deletion policy, protection), finishing (conditions, Events, status, requeue),
//! credentials-Secret protection and metrics.
//!
//! Ideas taken from crossplane-runtime's managed reconciler (`ExternalClient{Observe, Create, Update,
//! Delete}`, the critical annotation persisted before create) and controller-rs's `finalizer()` (apply /
//! cleanup behind one entry).
//!
//! Control flow: every step returns [`Flow<T>`]; `?` stops the reconcile with an outcome to report
//! ([`Stop::Report`]) or a failure (cloud errors become conditions, Kubernetes errors go to the runtime).

use std::fmt::Debug;
use std::future::Future;

use futures::FutureExt;
use futures::future::BoxFuture;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::core::object::HasStatus;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{Lookup, ObjectRef, ReflectHandle, Store};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::Context;
use super::clusterref;
use super::core::{self, Base, ConditionedStatus, Failure, Hold, Outcome, Primary, ReconcileError};
use super::ownership::{self, Claims, CloudIdKind, Found};
use super::watch::{Guarded, Shared};
use crate::api::common::{ClusterRef, DeletionPolicy, DriftPolicy};
use crate::api::tidbcloudcluster::TidbCloudCluster;
use crate::cloud::CloudError;
use crate::conditions::{self, Desired, Status};
use crate::config::RunConfig;

/// Why a reconcile stops early.
#[derive(Debug)]
pub enum Stop {
    /// Report this outcome (a stall, a wait) and end the reconcile.
    Report(Outcome),
    /// A failure: cloud errors become outcomes, Kubernetes errors go to the runtime.
    Fail(Failure),
}

/// The result of a reconcile step.
pub type Flow<T> = Result<T, Stop>;

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Fail(f)
    }
}

impl From<kube::Error> for Stop {
    fn from(e: kube::Error) -> Self {
        Stop::Fail(Failure::Kube(e))
    }
}

/// `map_err` helper: a cloud error while trying to do `what`.
pub fn cloud(what: &'static str) -> impl FnOnce(CloudError) -> Stop {
    move |e| Stop::Fail(Failure::cloud(e, what))
}

/// Ends the reconcile with `outcome`.
pub fn report<T>(outcome: Outcome) -> Flow<T> {
    Err(Stop::Report(outcome))
}

/// What happens when the managed cloud resource disappears outside Kubernetes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnGone {
    /// Report it (`Stalled`, reason `CloudResourceGone`, Warning Event); never re-create it empty.
    #[default]
    Report,
    /// Create a new, empty one.
    Recreate,
}

/// The deletion settings of an object.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// `spec.deletionPolicy` (unset: delete on a direct delete, retain on a namespace cascade).
    pub deletion: Option<DeletionPolicy>,
    /// `spec.deletionProtection`.
    pub protected: bool,
    /// What to do when the cloud resource is gone.
    pub on_gone: OnGone,
}

/// What converging decided, beyond an outcome.
pub enum Next<K: CloudKind> {
    /// Done for this reconcile (converged, acted, waiting): report this.
    Done(Outcome),
    /// Nothing exists yet: create it. The driver records `intent` in status first, then calls
    /// [`CloudKind::create`] with `args`.
    Create(K::Intent, K::CreateArgs),
}

/// One kind of cloud resource, reconciled by the driver. `Self` is the Kubernetes resource.
pub trait CloudKind:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Lookup<DynamicType = ()>
    + HasStatus<Status = Self::State>
    + Send
    + Sync
    + 'static
{
    type State: ConditionedStatus + Serialize + Clone + Default + Debug + Send + Sync;
    /// The provider client this kind talks through.
    type Client: Send + Sync;
    /// The cloud resource as observed.
    type Remote: Clone + Debug + Send + Sync;
    /// What is recorded in status before a create (to find its result after a crash or a lost answer).
    type Intent: Clone + Debug + Send + Sync;
    /// What a create needs beyond the intent (e.g. a generated password).
    type CreateArgs: Send;

    const KIND: &'static str;
    const CRD_NAME: &'static str;
    /// Condition types this kind owns.
    const MANAGED: &'static [&'static str];
    /// "cluster", "service": the cloud resource, in messages.
    const NOUN: &'static str;
    /// "TiDB Cloud", "ClickHouse Cloud".
    const CLOUD: &'static str;
    /// The spec field that adopts an existing resource by id (`"clusterId"`); `None`: never adopted by id.
    const ADOPT_FIELD: Option<&'static str>;
    /// What kind of cloud id the object claims.
    const ID_KIND: CloudIdKind;
    /// The credentials Secret of the object's namespace used when it names none (before the operator's).
    const NAMESPACE_CREDENTIALS: Option<&'static str> = None;

    // ---- identity and settings (pure) ----------------------------------------------------------------

    /// The id of an existing resource to adopt (`spec.<ADOPT_FIELD>`).
    fn spec_id(&self) -> Option<&str>;
    /// The id this object manages, as recorded in status.
    fn status_id(status: &Self::State) -> Option<&str>;
    /// The create intent recorded in status.
    fn intent(status: &Self::State) -> Option<&Self::Intent>;
    fn set_intent(status: &mut Self::State, intent: Self::Intent);
    fn remote_id(remote: &Self::Remote) -> &str;
    /// Records an observation in status (id, state, endpoints; clears the create intent).
    fn record(status: &mut Self::State, remote: &Self::Remote);
    /// Forgets the cloud resource (gone): id, state, endpoints, intent.
    fn forget(status: &mut Self::State);
    fn policy(&self) -> Policy;
    /// `spec.driftPolicy` (kinds without one always correct drift).
    fn drift_policy(&self) -> DriftPolicy {
        DriftPolicy::Correct
    }
    fn observe_only(&self) -> bool {
        crate::api::common::observe_only(self)
    }
    /// The connection Secret this object writes (`None`: it has none, e.g. imports and integrations).
    fn connection_secret_name(&self) -> Option<String>;
    /// `namespace/name` of the operator-wide default credentials Secret of this kind.
    fn default_credentials(config: &RunConfig) -> (String, String);
    /// The credentials Secret this object names (in its namespace); `None`: the operator default.
    fn credentials_secret(&self) -> Option<&str>;
    /// Secrets in the object's namespace it reads (credentials, passwords).
    fn secrets_read(&self) -> Vec<String>;
    /// Why `remote` cannot be this object's resource although its id matches (e.g. another region).
    fn identity_conflict(&self, _remote: &Self::Remote) -> Option<String> {
        None
    }
    /// Whether `remote` may be what a create under `intent` made, with the API key `key_id` (pure).
    fn made_by(&self, intent: &Self::Intent, remote: &Self::Remote, key_id: &str) -> bool;

    /// Everything this object claims, for the ownership index. An observe-only object only reads: it claims
    /// no id (and may observe one another object manages).
    fn claims(&self) -> Claims {
        if self.observe_only() {
            return Claims {
                ids: Vec::new(),
                secrets: secrets_watched(self),
            };
        }
        let status_id = self
            .status()
            .and_then(|s| Self::status_id(s))
            .map(str::to_string);
        Claims {
            ids: status_id
                .into_iter()
                .chain(self.spec_id().map(str::to_string))
                .map(|id| (Self::ID_KIND, id))
                .collect(),
            secrets: secrets_watched(self),
        }
    }

    // ---- I/O -------------------------------------------------------------------------------------------

    /// The client for this object's credentials (a missing or rejected key is reported as an outcome).
    fn connect(run: &Base<'_, Self>) -> impl Future<Output = Flow<Self::Client>> + Send;
    /// The API key id of `client` (to match what it created).
    fn key_id(client: &Self::Client) -> String;
    /// Reads the resource `id`; `None` = it does not exist.
    fn read(
        run: &Base<'_, Self>,
        client: &Self::Client,
        id: &str,
    ) -> impl Future<Output = Result<Option<Self::Remote>, CloudError>> + Send;
    /// What an uncertain create under `intent` may have made (fresh, not a cached answer).
    fn candidates(
        run: &Base<'_, Self>,
        client: &Self::Client,
        intent: &Self::Intent,
    ) -> impl Future<Output = Result<Vec<Self::Remote>, CloudError>> + Send;
    /// Decide (pure) and act on one step; or ask the driver to create.
    fn converge(
        run: &mut Base<'_, Self>,
        client: &Self::Client,
        observed: Option<Self::Remote>,
    ) -> impl Future<Output = Flow<Next<Self>>> + Send;
    /// Creates the resource (the intent is already persisted) and returns it.
    fn create(
        run: &mut Base<'_, Self>,
        client: &Self::Client,
        args: Self::CreateArgs,
    ) -> impl Future<Output = Flow<Self::Remote>> + Send;
    /// Deletes `remote` (or waits for it to go): `None` when it is gone.
    fn delete(
        run: &mut Base<'_, Self>,
        client: &Self::Client,
        remote: Self::Remote,
    ) -> impl Future<Output = Flow<Option<Outcome>>> + Send;
    /// Whether deleting `remote` changes it in the cloud (false: its deletion is already under way, or it is
    /// over, e.g. a finished import): what `plan --destroy` shows.
    fn deletion_writes(_remote: &Self::Remote) -> bool {
        true
    }
    /// The resource `id` is gone: drop it from caches.
    fn forget_observed(_ctx: &Context, _id: &str) {}
    /// Kind-specific conditions (e.g. `Available`) and status touches before status is written.
    fn before_finish(_run: &mut Base<'_, Self>, _outcome: &Outcome) -> Vec<Desired> {
        Vec::new()
    }
}

/// The Secrets of its namespace an object reads, or may read: the ones it names, and the namespace's default
/// credentials when it names none (so creating or rotating that Secret reconciles it, and its in-use protection
/// is released only when no object may need it).
pub fn secrets_watched<K: CloudKind>(obj: &K) -> Vec<String> {
    let mut names = obj.secrets_read();
    if obj.credentials_secret().is_none()
        && let Some(name) = K::NAMESPACE_CREDENTIALS
    {
        names.push(name.to_string());
    }
    names
}

// ---- running a kind -------------------------------------------------------------------------------------

/// The controller of kind `K` on `primary` (its own watch, or the scope's shared one) and the scope's shared
/// Secret watch; runs until `shutdown` resolves. Its cache joins the ownership index. Subscribes to the shared
/// watches now (before they start), runs when awaited.
pub fn run<K: CloudKind>(
    ctx: Arc<Context>,
    primary: Primary<K>,
    shared: &Shared,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> BoxFuture<'static, ()> {
    run_with(
        ctx,
        primary,
        shared.secrets(),
        |controller, _| controller,
        shutdown,
    )
    .boxed()
}

/// [`run`] for a kind whose objects work on a TidbCloudCluster they reference: a change of that cluster (from
/// the scope's shared TidbCloudCluster watch) reconciles them too; [`wakes_on`] decides which.
pub fn run_on_clusters<K: OnCluster>(
    ctx: Arc<Context>,
    api: Api<K>,
    shared: &Shared,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> BoxFuture<'static, ()> {
    let (clusters, _) = shared.clusters();
    let watches = move |controller: Controller<Guarded<K>>, store: &Store<Guarded<K>>| {
        let store = store.clone();
        controller.watches_shared_stream(
            clusters,
            move |cluster: Arc<Guarded<TidbCloudCluster>>| {
                let Ok(cluster) = &cluster.0 else {
                    return Vec::new();
                };
                store
                    .state()
                    .into_iter()
                    .filter(|o| o.0.as_ref().is_ok_and(|o| wakes_on(o, cluster)))
                    .map(|o| ObjectRef::from_obj(&*o))
                    .collect::<Vec<_>>()
            },
        )
    };
    run_with(
        ctx,
        Primary::Own(Box::new(api)),
        shared.secrets(),
        watches,
        shutdown,
    )
    .boxed()
}

async fn run_with<K: CloudKind>(
    ctx: Arc<Context>,
    primary: Primary<K>,
    secrets: ReflectHandle<PartialObjectMeta<Secret>>,
    watches: impl FnOnce(Controller<Guarded<K>>, &Store<Guarded<K>>) -> Controller<Guarded<K>>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let refs = core::SecretRefs {
        uses_default_credentials: |o: &K| o.credentials_secret().is_none(),
        default_credentials: K::default_credentials(&ctx.config),
        referenced: secrets_watched::<K>,
    };
    let policy = |obj: Arc<Guarded<K>>, err: &ReconcileError, ctx: Arc<Context>| {
        core::error_policy(K::KIND, &*obj, err, &ctx)
    };
    core::run_controller(
        ctx,
        (K::KIND, |o: &K| o.claims()),
        (primary, secrets, refs),
        watches,
        (reconcile::<K>, policy),
        shutdown,
    )
    .await;
}

// ---- kinds that work on a TidbCloudCluster --------------------------------------------------------------

/// A kind whose objects work on a TidbCloudCluster (`spec.clusterRef`, or `spec.clusterId`): imports,
/// integrations. Run with [`run_on_clusters`].
pub trait OnCluster: CloudKind {
    /// `spec.clusterRef`.
    fn cluster_ref(&self) -> Option<&ClusterRef>;
    /// The cloud cluster id its work was recorded on (status).
    fn recorded_cluster(&self) -> Option<&str>;
    /// Whether it still follows its cluster at all (e.g. not a finished import).
    fn follows_cluster(&self) -> bool {
        true
    }
}

/// Whether an event of `cluster` concerns `obj` (pure): it references that cluster and still follows it, and
/// either its cloud work has not started (it waits for the cluster to be Ready), or the cluster is being
/// deleted or now stands for another cloud cluster ([`clusterref::event_matters`]). Keeps the frequent status
/// updates of a cluster from waking every referrer.
pub fn wakes_on<K: OnCluster>(obj: &K, cluster: &TidbCloudCluster) -> bool {
    let ns = obj.namespace().unwrap_or_default();
    let started = obj.status().and_then(|s| K::status_id(s)).is_some();
    clusterref::refers_to(obj.cluster_ref(), &ns, cluster)
        && obj.follows_cluster()
        && clusterref::event_matters(cluster, obj.recorded_cluster(), started)
}

/// Entry point for one object: finalizer, then apply or cleanup; counted.
pub async fn reconcile<K: CloudKind>(
    guarded: Arc<Guarded<K>>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let obj = match &guarded.0 {
        Ok(obj) => obj,
        Err(invalid) => return Ok(core::report_invalid(&ctx, K::KIND, invalid).await),
    };
    let ns = obj
        .namespace()
        .ok_or(ReconcileError::MissingField("metadata.namespace"))?;
    let span = core::reconcile_span(K::KIND, &ns, &obj.name_any());
    let api = Api::<K>::namespaced(ctx.kube.clone(), &ns);
    let result = async {
        let entry = core::entry(obj, &api).await;
        let mut run = Base::new(obj, &api, &ctx, &ns, (K::KIND, K::CRD_NAME, K::MANAGED));
        run.observe_only = obj.observe_only();
        match entry {
            Err(e) => Err(e),
            Ok(core::Entry::Done(action)) => Ok(action),
            Ok(core::Entry::Cleanup) => cleanup(&mut run).await,
            Ok(core::Entry::Apply) => apply(&mut run).await,
        }
    }
    .instrument(span)
    .await;
    core::counted(&ctx, K::KIND, result)
}

async fn apply<K: CloudKind>(run: &mut Base<'_, K>) -> Result<Action, ReconcileError> {
    let known = K::status_id(&run.status).is_some();
    run.refresh_status(known).await?;
    if crate::api::common::paused(run.obj) {
        return finish(run, suspend(run, "reconcile paused")).await;
    }
    let outcome = match apply_flow(run).await {
        Ok(o) | Err(Stop::Report(o)) => o,
        Err(Stop::Fail(f)) => run.outcome_of(Err(f))?,
    };
    finish(run, outcome).await
}

/// The object is paused (annotation `clouddb.dev/reconcile: paused`): its cluster is no longer followed (no
/// poll on its behalf) and nothing is called until the annotation goes.
fn suspend<K: CloudKind>(run: &Base<'_, K>, what: &str) -> Outcome {
    if let Some(id) = K::status_id(&run.status) {
        K::forget_observed(run.ctx, id);
    }
    Outcome::Suspended {
        message: format!(
            "{what}: annotation {}: {} stops every {} call for this resource; remove it to resume",
            crate::api::common::RECONCILE_ANNOTATION,
            crate::api::common::PAUSED,
            K::CLOUD
        ),
    }
}

/// Whether the driver holds back cloud writes for `obj` with `status` (pure): an object adopting an existing
/// resource by id shows the differences before it changes anything, until `clouddb.dev/approve-adoption`
/// names its generation; under `driftPolicy: Report`, what differs from a generation the resource already
/// matched (changed outside Kubernetes) is reported, never written. Only kinds whose status records
/// `convergedGeneration` are held.
pub fn held_back<K: CloudKind>(obj: &K, status: &K::State) -> Hold {
    // Observe-only objects never write: nothing to hold back (their differences are reported as such).
    if !<K::State as ConditionedStatus>::TRACKS_CONVERGENCE || obj.observe_only() {
        return Hold::Nothing;
    }
    let generation = obj.meta().generation;
    let converged = status.converged_generation();
    let adopting = obj.spec_id().is_some_and(|s| !s.is_empty());
    if adopting && converged.is_none() && !crate::api::common::adoption_approved(obj) {
        return Hold::Adoption;
    }
    if obj.drift_policy() == DriftPolicy::Report && converged.is_some() && converged == generation {
        return Hold::Drift;
    }
    Hold::Nothing
}

async fn apply_flow<K: CloudKind>(run: &mut Base<'_, K>) -> Flow<Outcome> {
    let client = K::connect(run).await?;
    let observed = observe(run, &client).await?;
    if observed.is_some() && run.hold == Hold::Nothing {
        run.hold = held_back(run.obj, &run.status);
    }
    let reviewing = run.hold;
    match K::converge(run, &client, observed).await? {
        Next::Done(outcome) => Ok(review(run, reviewing, outcome).await),
        Next::Create(intent, args) => {
            // The ownership protocol: the intent is in status before the create call, so a crash or a lost
            // answer leads the next reconcile to look (and find only what this object made).
            K::set_intent(&mut run.status, intent);
            let creating = format!("creating the {} in {}", K::NOUN, K::CLOUD);
            run.persist_creating(&creating).await?;
            let remote = K::create(run, &client, args).await?;
            K::record(&mut run.status, &remote);
            run.persist_status().await?;
            let id = K::remote_id(&remote).to_string();
            run.event(
                EventType::Normal,
                crate::reasons::CREATED,
                "Create",
                format!("creating {} {id} in {}", K::NOUN, K::CLOUD),
            )
            .await;
            Ok(run.progressing(
                crate::reasons::CREATING,
                format!("the {} is being created", K::NOUN),
            ))
        }
    }
}

/// What the driver reports when writes were held back and converging found differences: the adoption diff
/// waiting for approval (Stalled `AdoptionPending`, a Warning Event), or the drift (`Ready` with reason
/// `Drifted`; the `Drifted` condition is added in [`finish`], its Warning Event published once per diff).
/// An approved adoption that now writes says so once.
async fn review<K: CloudKind>(run: &mut Base<'_, K>, hold: Hold, outcome: Outcome) -> Outcome {
    let changes = run.held_changes.join("; ");
    let generation = run.obj.meta().generation.unwrap_or_default();
    let id = K::status_id(&run.status).unwrap_or_default().to_string();
    match hold {
        Hold::Adoption if !changes.is_empty() => Outcome::Stalled {
            reason: crate::reasons::ADOPTION_PENDING,
            message: format!(
                "adopting {} {id} would change it: {changes}. Nothing was written. Approve with \
                 `kubectl annotate {} {} {}={generation}` or change the spec to match",
                K::NOUN,
                K::KIND.to_lowercase(),
                run.obj.name_any(),
                crate::api::common::APPROVE_ADOPTION_ANNOTATION,
            ),
            requeue: Some(run.ctx.config.poll_steady),
        },
        Hold::Drift if !changes.is_empty() => Outcome::Converged {
            reason: crate::reasons::DRIFTED,
            message: format!(
                "{} {id} was changed outside Kubernetes and differs from the spec: {changes} \
                 (driftPolicy: Report: not corrected)",
                K::NOUN
            ),
        },
        _ => {
            let was_pending = conditions::find(run.status.conditions(), conditions::STALLED)
                .is_some_and(|c| {
                    c.status == "True" && c.reason == crate::reasons::ADOPTION_PENDING
                });
            if hold == Hold::Nothing && was_pending {
                run.event(
                    EventType::Normal,
                    crate::reasons::ADOPTION_APPROVED,
                    "Adopt",
                    format!(
                        "adoption of {} {id} approved for generation {generation}: applying the spec",
                        K::NOUN
                    ),
                )
                .await;
            }
            outcome
        }
    }
}

/// Finds the cloud resource of this object: by the id it manages or adopts, else by its create intent.
async fn observe<K: CloudKind>(
    run: &mut Base<'_, K>,
    client: &K::Client,
) -> Flow<Option<K::Remote>> {
    let spec_id = run
        .obj
        .spec_id()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let status_id = K::status_id(&run.status).map(str::to_string);
    let field = K::ADOPT_FIELD.unwrap_or("id");
    if let (Some(spec_id), Some(status_id)) = (&spec_id, &status_id)
        && spec_id != status_id
    {
        return report(Outcome::Stalled {
            reason: crate::reasons::CONFLICT,
            message: format!(
                "spec.{field} {spec_id} differs from the {} this resource already manages ({status_id}); \
                 remove the change to spec.{field}",
                K::NOUN
            ),
            requeue: None,
        });
    }
    let uid = run.obj.uid().unwrap_or_default();
    if let Some(id) = status_id.clone().or(spec_id.clone()) {
        let adopting = status_id.is_none();
        if adopting && !run.obj.observe_only() {
            let others = run.ctx.claims.claimants(K::ID_KIND, &id, &uid);
            if !others.is_empty() {
                return report(Outcome::Stalled {
                    reason: crate::reasons::CLUSTER_MANAGED_ELSEWHERE,
                    message: ownership::managed_elsewhere_message(K::NOUN, &id, &others),
                    requeue: Some(run.ctx.config.poll_steady),
                });
            }
        }
        let found = K::read(run, client, &id)
            .await
            .map_err(cloud("read the cloud resource"))?;
        let Some(remote) = found else {
            if adopting {
                return report(Outcome::Stalled {
                    reason: crate::reasons::CLOUD_RESOURCE_NOT_FOUND,
                    message: format!(
                        "{} {id} named in spec.{field} does not exist (or is not visible to these credentials); \
                         correct spec.{field}",
                        K::NOUN
                    ),
                    requeue: Some(run.ctx.config.poll_steady),
                });
            }
            return gone(run, &id).await;
        };
        if let Some(why) = run.obj.identity_conflict(&remote) {
            return report(Outcome::Stalled {
                reason: crate::reasons::CONFLICT,
                message: why,
                requeue: None,
            });
        }
        if adopting {
            run.event(
                EventType::Normal,
                crate::reasons::ADOPTED,
                "Adopt",
                format!("adopted existing {} {id}", K::NOUN),
            )
            .await;
        }
        K::record(&mut run.status, &remote);
        return Ok(Some(remote));
    }
    let Some(intent) = K::intent(&run.status).cloned() else {
        return Ok(None);
    };
    // A create was attempted whose answer this object never saw: find what it made, and only that.
    let key_id = K::key_id(client);
    let candidates: Vec<K::Remote> = K::candidates(run, client, &intent)
        .await
        .map_err(cloud("list cloud resources to find an earlier create"))?
        .into_iter()
        .filter(|r| run.obj.made_by(&intent, r, &key_id))
        .collect();
    let claimed = run.ctx.claims.claimed_ids(K::ID_KIND, &uid);
    match ownership::pick(candidates, K::remote_id, &claimed) {
        Found::Nothing => Ok(None),
        Found::One(remote) => {
            let id = K::remote_id(&remote).to_string();
            run.event(
                EventType::Normal,
                crate::reasons::ADOPTED,
                "Create",
                format!(
                    "found {} {id} created by an earlier attempt; adopting it instead of creating another",
                    K::NOUN
                ),
            )
            .await;
            K::record(&mut run.status, &remote);
            run.persist_status().await?;
            Ok(Some(remote))
        }
        Found::Ambiguous(ids) => report(Outcome::Stalled {
            reason: crate::reasons::AMBIGUOUS_CREATE,
            message: ownership::ambiguous_message(K::NOUN, K::CLOUD, K::ADOPT_FIELD, &ids),
            requeue: None,
        }),
    }
}

/// The managed resource `id` no longer exists and this object did not delete it.
async fn gone<K: CloudKind>(run: &mut Base<'_, K>, id: &str) -> Flow<Option<K::Remote>> {
    K::forget_observed(run.ctx, id);
    let policy = run.obj.policy();
    if policy.on_gone == OnGone::Recreate && !run.obj.observe_only() {
        run.event(
            EventType::Warning,
            crate::reasons::CLOUD_RESOURCE_GONE,
            "Observe",
            format!(
                "{} {id} no longer exists in {}; creating a new, empty one (onCloudResourceGone: Recreate)",
                K::NOUN,
                K::CLOUD
            ),
        )
        .await;
        K::forget(&mut run.status);
        run.persist_status().await?;
        return Ok(None);
    }
    report(Outcome::Stalled {
        reason: crate::reasons::CLOUD_RESOURCE_GONE,
        message: format!(
            "{} {id} no longer exists in {} and was not deleted by this resource; its data is not re-created. \
             {}set spec.onCloudResourceGone: Recreate to create a new, empty one, or delete this resource",
            K::NOUN,
            K::CLOUD,
            K::ADOPT_FIELD
                .map(|f| format!("Restore it and set spec.{f} to its id, "))
                .unwrap_or_default()
        ),
        requeue: Some(run.ctx.config.poll_steady),
    })
}

async fn finish<K: CloudKind>(
    run: &mut Base<'_, K>,
    outcome: Outcome,
) -> Result<Action, ReconcileError> {
    let mut extra = K::before_finish(run, &outcome);
    if let Outcome::Converged { reason, .. } = &outcome
        && *reason != crate::reasons::OBSERVING
        && !run.obj.observe_only()
    {
        run.status
            .set_converged_generation(run.obj.meta().generation);
    }
    if let Outcome::Converged { reason, message } = &outcome
        && *reason == crate::reasons::DRIFTED
    {
        let reported = conditions::find(run.status.conditions(), conditions::DRIFTED)
            .is_some_and(|c| c.status == "True" && c.message == *message);
        if !reported {
            run.event(
                EventType::Warning,
                crate::reasons::DRIFTED,
                "Observe",
                message.clone(),
            )
            .await;
        }
        extra.push(Desired::new(
            conditions::DRIFTED,
            Status::True,
            crate::reasons::DRIFTED,
            message.clone(),
        ));
    } else if matches!(
        outcome,
        Outcome::Transient { .. } | Outcome::Suspended { .. }
    ) && let Some(c) = conditions::find(run.status.conditions(), conditions::DRIFTED)
    {
        // Nothing new was learned: the drift report stands.
        extra.push(Desired::new(
            conditions::DRIFTED,
            Status::True,
            crate::reasons::DRIFTED,
            c.message.clone(),
        ));
    }
    run.finish(outcome, extra).await
}

// ---- deletion ---------------------------------------------------------------------------------------

async fn cleanup<K: CloudKind>(run: &mut Base<'_, K>) -> Result<Action, ReconcileError> {
    match cleanup_flow(run).await {
        Ok(None) => finalize(run).await,
        Ok(Some(o)) | Err(Stop::Report(o)) => finish(run, o).await,
        Err(Stop::Fail(f)) => {
            let outcome = run.outcome_of(Err(f))?;
            finish(run, outcome).await
        }
    }
}

async fn cleanup_flow<K: CloudKind>(run: &mut Base<'_, K>) -> Flow<Option<Outcome>> {
    let id = K::status_id(&run.status)
        .or(run.obj.spec_id())
        .map(str::to_string);
    let policy = run.obj.policy();
    let deletion = core::Deletion {
        observe_only: run.obj.observe_only(),
        policy: policy.deletion.as_ref(),
        protected: policy.protected,
        id: id.as_deref(),
        create_pending: K::intent(&run.status).is_some(),
        connection: run.obj.connection_secret_name(),
        noun: K::NOUN,
        cloud: K::CLOUD,
    };
    if let Some(done) = run.deletion_preamble(deletion).await? {
        return Ok(done);
    }
    if crate::api::common::paused(run.obj) {
        return report(suspend(run, "the deletion waits"));
    }
    let client = K::connect(run).await?;
    let remote = match &id {
        Some(id) => K::read(run, &client, id)
            .await
            .map_err(cloud("read the cloud resource before deleting it"))?,
        None => match K::intent(&run.status).cloned() {
            Some(intent) => {
                let key_id = K::key_id(&client);
                let candidates: Vec<K::Remote> = K::candidates(run, &client, &intent)
                    .await
                    .map_err(cloud("list cloud resources to find an earlier create"))?
                    .into_iter()
                    .filter(|r| run.obj.made_by(&intent, r, &key_id))
                    .collect();
                let uid = run.obj.uid().unwrap_or_default();
                let claimed = run.ctx.claims.claimed_ids(K::ID_KIND, &uid);
                match ownership::pick(candidates, K::remote_id, &claimed) {
                    Found::Nothing => None,
                    Found::One(r) => Some(r),
                    Found::Ambiguous(ids) => {
                        return report(Outcome::Stalled {
                            reason: crate::reasons::AMBIGUOUS_CREATE,
                            message: ownership::ambiguous_message(
                                K::NOUN,
                                K::CLOUD,
                                K::ADOPT_FIELD,
                                &ids,
                            ),
                            requeue: None,
                        });
                    }
                }
            }
            None => None,
        },
    };
    let Some(remote) = remote else {
        if let Some(id) = &id {
            K::forget_observed(run.ctx, id);
        }
        return Ok(run.gone(K::NOUN).await?);
    };
    K::record(&mut run.status, &remote);
    K::delete(run, &client, remote).await
}

/// The end of a deletion: connection Secret released, the credentials Secret released when no other
/// object uses it, our finalizer removed.
async fn finalize<K: CloudKind>(run: &mut Base<'_, K>) -> Result<Action, ReconcileError> {
    let local = run.obj.credentials_secret().or(K::NAMESPACE_CREDENTIALS);
    if let Some(secret) = local {
        let uid = run.obj.uid().unwrap_or_default();
        let operator = K::default_credentials(&run.ctx.config);
        let is_operator_default = operator.0 == run.ns && operator.1 == secret;
        if !is_operator_default && !run.ctx.claims.secret_in_use(run.ns, secret, &uid) {
            core::release_credentials(run.ctx, run.ns, secret).await?;
        }
    }
    let name = run.obj.connection_secret_name();
    run.finalize(name).await
}

// ---- plan preview ---------------------------------------------------------------------------------------

/// What reconciling an object would do, as `clouddb-operator plan` prints it: found by the same observe,
/// `decide` and deletion rules the controllers run, with every write held back ([`Hold::Plan`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Preview {
    /// A new cloud resource would be created.
    Create { what: String },
    /// The cloud resource `id` would be changed (`held`: why the operator would not write it yet, e.g. an
    /// adoption waiting for approval, `driftPolicy: Report`, observe-only).
    Change {
        id: String,
        changes: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        held: Option<String>,
    },
    /// Nothing to write: the cloud matches, or work in flight is followed.
    Nothing {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        message: String,
    },
    /// Deleting the object would delete (or cancel) the cloud resource `id`.
    Delete { id: String, what: String },
    /// Deleting the object would leave the cloud resource in place.
    Keep {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        message: String,
    },
    /// The object is paused: the operator makes no call for it.
    Paused { message: String },
    /// The operator would stop and report this (invalid spec, conflict, missing credentials, ...).
    Blocked { reason: String, message: String },
    /// Reading failed.
    Error { message: String },
}

impl Preview {
    /// Whether applying the object makes the operator write to the cloud.
    pub fn writes(&self) -> bool {
        match self {
            Preview::Create { .. } | Preview::Delete { .. } => true,
            Preview::Change { held, .. } => held.is_none(),
            _ => false,
        }
    }

    /// Whether the preview could not be made or the operator would stop on the object.
    pub fn failed(&self) -> bool {
        matches!(self, Preview::Blocked { .. } | Preview::Error { .. })
    }
}

/// What reconciling `obj` would do now (or, with `destroy` or a deletion under way, what deleting it would
/// do). Reads the cloud through the budget like a reconcile; writes nothing when `ctx` is a plan context
/// ([`Context::plan`]).
pub async fn preview<K: CloudKind>(ctx: &Context, obj: &K, destroy: bool) -> Preview {
    let ns = obj.namespace().unwrap_or_default();
    let api = Api::<K>::namespaced(ctx.kube.clone(), &ns);
    // A deletion under way (its cascade matters), or `--destroy`: the object as it is once deleted (kinds look
    // at deletionTimestamp, e.g. to follow the cluster they recorded rather than their reference).
    let under_way = obj.meta().deletion_timestamp.is_some();
    let deleted;
    let obj = if destroy && !under_way {
        let mut o = obj.clone();
        o.meta_mut().deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
        deleted = o;
        &deleted
    } else {
        obj
    };
    let mut run = Base::new(obj, &api, ctx, &ns, (K::KIND, K::CRD_NAME, K::MANAGED));
    run.hold = Hold::Plan;
    run.observe_only = obj.observe_only();
    let flow = if obj.meta().deletion_timestamp.is_some() {
        preview_delete(&mut run, under_way).await
    } else if crate::api::common::paused(obj) {
        Ok(paused_preview::<K>())
    } else {
        preview_apply(&mut run).await
    };
    match flow {
        Ok(p) => p,
        Err(Stop::Report(outcome)) => from_outcome(outcome, K::status_id(&run.status)),
        Err(Stop::Fail(Failure::Cloud(e, what))) => Preview::Error {
            message: format!("cannot {what}: {e}"),
        },
        Err(Stop::Fail(f)) => Preview::Error {
            message: ReconcileError::from(f).to_string(),
        },
    }
}

/// A paused object: the operator makes no call for it.
fn paused_preview<K: CloudKind>() -> Preview {
    Preview::Paused {
        message: format!(
            "annotation {}: {}: no {} call is made for this resource",
            crate::api::common::RECONCILE_ANNOTATION,
            crate::api::common::PAUSED,
            K::CLOUD
        ),
    }
}

async fn preview_apply<K: CloudKind>(run: &mut Base<'_, K>) -> Flow<Preview> {
    let client = K::connect(run).await?;
    let observed = observe(run, &client).await?;
    let held = match observed {
        Some(_) => held_back(run.obj, &run.status),
        None => Hold::Nothing,
    };
    match K::converge(run, &client, observed).await? {
        Next::Create(..) => Ok(Preview::Create {
            what: format!("create the {} in {}", K::NOUN, K::CLOUD),
        }),
        Next::Done(outcome) if run.held_changes.is_empty() => {
            Ok(from_outcome(outcome, K::status_id(&run.status)))
        }
        Next::Done(_) => Ok(Preview::Change {
            id: K::status_id(&run.status).unwrap_or_default().to_string(),
            changes: std::mem::take(&mut run.held_changes),
            held: if run.obj.observe_only() {
                Some("observe-only: reported, never written".into())
            } else {
                match held {
                    Hold::Adoption => Some(format!(
                        "adoption: written only after approval ({})",
                        crate::api::common::APPROVE_ADOPTION_ANNOTATION
                    )),
                    Hold::Drift => Some("driftPolicy: Report: reported, not corrected".into()),
                    Hold::Nothing | Hold::Plan => None,
                }
            },
        }),
    }
}

/// `under_way`: the object is really being deleted (not `--destroy`), so a namespace or CRD cascade counts.
async fn preview_delete<K: CloudKind>(run: &mut Base<'_, K>, under_way: bool) -> Flow<Preview> {
    let id = K::status_id(&run.status)
        .or(run.obj.spec_id())
        .map(str::to_string);
    let policy = run.obj.policy();
    let deletion = core::Deletion {
        observe_only: run.obj.observe_only(),
        policy: policy.deletion.as_ref(),
        protected: policy.protected,
        id: id.as_deref(),
        create_pending: K::intent(&run.status).is_some(),
        connection: None,
        noun: K::NOUN,
        cloud: K::CLOUD,
    };
    let keep = |message: String| Preview::Keep {
        id: id.clone(),
        message,
    };
    let cascade = match under_way {
        true => core::cascade_in_progress(&run.ctx.kube, run.ns, K::CRD_NAME).await?,
        false => core::Cascade::None,
    };
    match core::deletion_step(&deletion, cascade, K::CRD_NAME) {
        core::DeletionStep::Release => Ok(keep(format!(
            "observe-only: the {} in {} is left untouched",
            K::NOUN,
            K::CLOUD
        ))),
        core::DeletionStep::Retain(why) => Ok(keep(why)),
        core::DeletionStep::NothingCreated => Ok(Preview::Nothing {
            id: None,
            message: format!("no {} was created: nothing to delete", K::NOUN),
        }),
        core::DeletionStep::Protected(message) => Ok(Preview::Blocked {
            reason: crate::reasons::DELETION_PROTECTED.into(),
            message,
        }),
        // As in a real deletion: the preamble's decisions first, then a paused object waits.
        core::DeletionStep::Delete if crate::api::common::paused(run.obj) => {
            Ok(paused_preview::<K>())
        }
        core::DeletionStep::Delete => {
            let client = K::connect(run).await?;
            let found = match &id {
                Some(id) => K::read(run, &client, id)
                    .await
                    .map_err(cloud("read the cloud resource before deleting it"))?,
                // An interrupted create: what it made, found as the real deletion finds it.
                None => match K::intent(&run.status).cloned() {
                    Some(intent) => {
                        let key_id = K::key_id(&client);
                        K::candidates(run, &client, &intent)
                            .await
                            .map_err(cloud("list cloud resources to find an earlier create"))?
                            .into_iter()
                            .find(|r| run.obj.made_by(&intent, r, &key_id))
                    }
                    None => None,
                },
            };
            Ok(match found {
                Some(remote) if K::deletion_writes(&remote) => {
                    let shown = K::remote_id(&remote).to_string();
                    Preview::Delete {
                        what: format!("delete {} {shown} from {}", K::NOUN, K::CLOUD),
                        id: shown,
                    }
                }
                Some(remote) => Preview::Nothing {
                    id: Some(K::remote_id(&remote).to_string()),
                    message: format!(
                        "the {}'s deletion is already under way, or it is over: nothing to delete",
                        K::NOUN
                    ),
                },
                None => Preview::Nothing {
                    id,
                    message: format!("the {} is already gone", K::NOUN),
                },
            })
        }
    }
}

/// The preview of a reconcile that ends with `outcome` (no held-back change).
fn from_outcome(outcome: Outcome, id: Option<&str>) -> Preview {
    let id = id.map(str::to_string);
    match outcome {
        Outcome::Converged { message, .. } => Preview::Nothing { id, message },
        Outcome::Progressing { message, .. } => Preview::Nothing {
            id,
            message: format!("in progress, followed: {message}"),
        },
        Outcome::Stalled {
            reason, message, ..
        } => Preview::Blocked {
            reason: reason.into(),
            message,
        },
        Outcome::Transient { message, .. } => Preview::Error { message },
        Outcome::Suspended { message } => Preview::Paused { message },
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
