//! The TidbCloudIntegration reconciler: finalizer → target cluster (wait until it is Ready) → credentials →
//! API key (fingerprinted, never stored) → observe (by id, or by the recorded create intent) → decide (pure) →
//! create / re-create / report → status.
//!
//! The API has no update: a change of type or site, or of the API key's value in the referenced Secret, is
//! applied by deleting the integration and creating it again (with an Event). A key change is detected by
//! comparing a SHA-256 fingerprint of the key, salted with the object's UID, with the one recorded in status.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use secrecy::SecretString;

use super::Context;
use super::clusterref::{self, Target};
use super::core::{
    self, Failure, Outcome, ReconcileError, add_finalizer, apply_status, has_finalizer, jittered,
    now_rfc3339, object_key, publish, remove_finalizer,
};
use super::ownership;
use super::tidbcloudcluster::CONNECTION_LABEL;
use super::watch;
use crate::api::common::DeletionPolicy;
use crate::api::tidbcloudcluster::TidbCloudCluster;
use crate::api::tidbcloudintegration::{
    IntegrationCreateIntent, TidbCloudIntegration, TidbCloudIntegrationStatus,
};
use crate::conditions::{Desired, READY, RECONCILING, STALLED, Status};
use crate::providers::tidbcloud::client::TidbCloudClient;
use crate::providers::tidbcloud::models::Integration;
use crate::providers::tidbcloud::translate;
use crate::providers::tidbcloud::translate_integration::{self, api_key_fingerprint};
use kube::core::PartialObjectMeta;

pub const KIND: &str = "TidbCloudIntegration";
const CRD_NAME: &str = "tidbcloudintegrations.clouddb.dev";
const MANAGED_CONDITIONS: &[&str] = &[READY, RECONCILING, STALLED];
/// Clock skew allowed between the operator and the cloud when matching an integration to a create intent.
const ADOPTION_SLACK: chrono::Duration = chrono::Duration::seconds(120);

// ---- the pure part ------------------------------------------------------------------------------------------

/// What the cloud says about an integration, reduced to what decisions need.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ObservedIntegration {
    pub id: String,
    /// `DATADOG`, `NEWRELIC`, `PROMETHEUS`.
    pub integration_type: String,
    /// Vendor types only.
    pub site: Option<String>,
    /// `ACTIVE`, `ERROR`, `NONE` (vendor types); `ACTIVE` for Prometheus.
    pub state: String,
    pub status_reason: Option<String>,
    pub create_time: String,
    pub creator: String,
}

/// What the spec asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted<'a> {
    pub integration_type: &'static str,
    /// Vendor types only.
    pub site: Option<&'static str>,
    /// Fingerprint of the API key now in the Secret (vendor types only).
    pub key_fingerprint: Option<&'a str>,
}

/// The next thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No integration yet: create it.
    Create,
    /// The integration differs in something the API cannot update: delete it and create it again.
    Recreate { why: String },
    /// The integration matches the spec and works (or has not reported yet).
    Active,
    /// The integration matches the spec but TiDB Cloud reports ERROR, with the service's reason.
    Error { reason: String },
}

/// Decides, given the recorded fingerprint of the key the integration was created with.
pub fn decide(
    wanted: &Wanted,
    observed: Option<&ObservedIntegration>,
    recorded_fingerprint: Option<&str>,
) -> Decision {
    let Some(o) = observed else {
        return Decision::Create;
    };
    if o.integration_type != wanted.integration_type {
        return Decision::Recreate {
            why: format!(
                "type changed from {} to {}",
                o.integration_type, wanted.integration_type
            ),
        };
    }
    if let Some(site) = wanted.site
        && o.site.as_deref() != Some(site)
    {
        return Decision::Recreate {
            why: format!(
                "site changed from {} to {site}",
                o.site.as_deref().unwrap_or("(none)")
            ),
        };
    }
    if let Some(fp) = wanted.key_fingerprint
        && recorded_fingerprint != Some(fp)
    {
        return Decision::Recreate {
            why: match recorded_fingerprint {
                Some(_) => "the API key in the referenced Secret changed".into(),
                None => "the API key it was created with is unknown".into(),
            },
        };
    }
    if o.state == "ERROR" {
        return Decision::Error {
            reason: o
                .status_reason
                .clone()
                .unwrap_or_else(|| "TiDB Cloud gave no reason".into()),
        };
    }
    Decision::Active
}

/// The integration an uncertain create under `intent` made, if any: same type, created since the intent
/// (minus clock skew), by this API key when the service says who created it. The oldest match wins.
pub fn pick_created<'a>(
    integrations: &'a [Integration],
    intent: &IntegrationCreateIntent,
    key_id: &str,
) -> Option<&'a Integration> {
    let mut candidates: Vec<&Integration> = integrations
        .iter()
        .filter(|i| i.integration_type.as_str() == intent.integration_type)
        .filter(|i| core::created_since(&i.create_time, &intent.started_at, ADOPTION_SLACK))
        .filter(|i| {
            !i.creator.to_ascii_lowercase().starts_with("apikey-")
                || translate::created_by_key(&i.creator, key_id)
        })
        .collect();
    candidates.sort_by(|a, b| a.create_time.cmp(&b.create_time));
    candidates.into_iter().next()
}

// ---- the controller -----------------------------------------------------------------------------------------

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    api: Api<TidbCloudIntegration>,
    clusters: Api<TidbCloudCluster>,
    secrets: Api<Secret>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (objects, store) = watch::primary(api);
    ctx.claims.register(KIND, store.clone(), claims);
    let controller = Controller::for_stream(objects, store.clone());
    let by_cluster = store.clone();
    let by_secret = store;
    let (default_ns, default_name) = ctx.config.default_credentials_ref();
    controller
        .watches(
            clusters,
            watcher::Config::default(),
            move |cluster: TidbCloudCluster| {
                let ns = cluster.namespace().unwrap_or_default();
                by_cluster
                    .state()
                    .into_iter()
                    .filter(|o| {
                        o.namespace().as_deref() == Some(ns.as_str())
                            && clusterref::refers_to(o.spec.cluster_ref.as_ref(), &ns, &cluster)
                    })
                    .filter(|o| {
                        let s = o.status.clone().unwrap_or_default();
                        clusterref::event_matters(
                            &cluster,
                            s.cluster_id.as_deref(),
                            s.integration_id.is_some(),
                        )
                    })
                    .map(|o| ObjectRef::from_obj(&*o))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            watch::secret_metadata(secrets),
            watcher::Config::default(),
            move |secret: PartialObjectMeta<Secret>| {
                // Connection Secrets the cluster controller writes are never credentials.
                if secret.labels().contains_key(CONNECTION_LABEL) {
                    return Vec::new();
                }
                let (ns, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
                let is_default = ns == default_ns && name == default_name;
                by_secret
                    .state()
                    .into_iter()
                    .filter(|o| {
                        // Without spec.credentials an integration may inherit its cluster's: any Secret of
                        // the namespace may matter.
                        let same_ns = o.namespace().as_deref() == Some(ns.as_str());
                        let inherits = o.spec.credentials.is_none();
                        (same_ns && (inherits || o.secret_names().contains(&name.as_str())))
                            || (is_default && inherits)
                    })
                    .map(|o| ObjectRef::from_obj(&*o))
                    .collect::<Vec<_>>()
            },
        )
        .with_config(
            kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency),
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile loop event");
            }
        })
        .await;
    tracing::info!(kind = KIND, "controller stopped");
}

/// What an object claims: the cloud id it follows and the Secrets it reads (ownership index).
fn claims(o: &TidbCloudIntegration) -> ownership::Claims {
    ownership::Claims {
        ids: o
            .status
            .as_ref()
            .and_then(|s| s.integration_id.clone())
            .map(|id| (ownership::CloudIdKind::TidbIntegration, id))
            .into_iter()
            .collect(),
        secrets: o.secret_names().into_iter().map(str::to_string).collect(),
    }
}

fn error_policy(obj: Arc<TidbCloudIntegration>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    core::error_policy(KIND, &*obj, err, &ctx)
}

/// Entry point for one object.
pub async fn reconcile(
    obj: Arc<TidbCloudIntegration>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let ns = obj
        .namespace()
        .ok_or(ReconcileError::MissingField("metadata.namespace"))?;
    let api = Api::<TidbCloudIntegration>::namespaced(ctx.kube.clone(), &ns);
    let mut run = Run {
        obj: &obj,
        api: &api,
        ctx: &ctx,
        ns: &ns,
        key: object_key(&*obj),
        status: obj.status.clone().unwrap_or_default(),
    };
    let result = if obj.metadata.deletion_timestamp.is_some() {
        if has_finalizer(&*obj) {
            run.cleanup().await
        } else {
            Ok(Action::await_change())
        }
    } else if !has_finalizer(&*obj) {
        add_finalizer(&api, &*obj)
            .await
            .map(|()| Action::await_change())
            .map_err(ReconcileError::from)
    } else {
        run.apply().await
    };
    let label = match &result {
        Ok(_) => "ok",
        Err(_) => "error",
    };
    ctx.metrics.record_reconcile(KIND, label);
    result
}

struct Run<'a> {
    obj: &'a TidbCloudIntegration,
    api: &'a Api<TidbCloudIntegration>,
    ctx: &'a Context,
    ns: &'a str,
    key: String,
    status: TidbCloudIntegrationStatus,
}

/// The API key of a vendor integration: site, value and fingerprint.
struct VendorKey {
    site: &'static str,
    value: SecretString,
    fingerprint: String,
}

impl Run<'_> {
    // ---- apply ----------------------------------------------------------------------------------------

    async fn apply(&mut self) -> Result<Action, ReconcileError> {
        // Never miss the id or create intent the previous reconcile wrote (the watch cache may lag).
        if self.status.integration_id.is_none()
            && let Some(status) = core::fresh_status(self.api, self.obj).await?
        {
            self.status = status;
        }
        let outcome = match self.apply_inner().await {
            Ok(o) => o,
            Err(Failure::Cloud(e, what)) => {
                core::cloud_failure(self.ctx, KIND, &self.key, &e, &what)
            }
            Err(f) => return Err(f.into()),
        };
        self.finish(outcome).await
    }

    async fn apply_inner(&mut self) -> Result<Outcome, Failure> {
        let kind = self.obj.spec.integration_type.as_str();
        // 1. The target cluster.
        let target = self.target().await?;
        let exists = self.status.integration_id.is_some() || self.status.create_intent.is_some();
        let cluster_id = match &target {
            Target::Broken { reason, message } => {
                return Ok(Outcome::Stalled {
                    reason,
                    message: message.clone(),
                    requeue: Some(self.ctx.config.poll_steady),
                });
            }
            Target::Id(id) | Target::Ready { cluster_id: id, .. } => id.clone(),
            // An integration that exists is still observed while its cluster changes (scaling...).
            Target::NotReady {
                cluster_id: Some(id),
                ..
            } if exists => id.clone(),
            Target::NotReady { why, .. } => {
                return Ok(Outcome::Progressing {
                    reason: "WaitingForCluster",
                    message: format!("{why}; the integration is created once it is Ready"),
                    requeue: self.ctx.config.poll_transitional,
                });
            }
        };
        if let Some(old) = self.status.cluster_id.clone()
            && old != cluster_id
        {
            self.event(
                EventType::Warning,
                "ClusterReplaced",
                "Observe",
                format!(
                    "the referenced cluster is now cloud cluster {cluster_id} (was {old}); creating the integration there"
                ),
            )
            .await;
            translate_integration::forget(&mut self.status);
            self.status.create_intent = None;
            self.status.cluster_id = Some(cluster_id.clone());
            self.persist_status().await?;
            if let Target::NotReady { why, .. } = &target {
                return Ok(Outcome::Progressing {
                    reason: "WaitingForCluster",
                    message: format!("{why}; the integration is created once it is Ready"),
                    requeue: self.ctx.config.poll_transitional,
                });
            }
        }
        // 2. Credentials and the API key.
        let client = match self.client(&target).await? {
            Ok(c) => c,
            Err(outcome) => return Ok(outcome),
        };
        let key = match self.api_key().await? {
            Ok(k) => k,
            Err(outcome) => return Ok(outcome),
        };
        // 3. Observe.
        let list = match client.list_integrations(&cluster_id).await {
            Ok(l) => l,
            Err(e) if e.is_not_found() => {
                return Ok(Outcome::Stalled {
                    reason: "ClusterGone",
                    message: format!(
                        "cluster {cluster_id} does not exist in TiDB Cloud (any more), or is not visible to these credentials"
                    ),
                    requeue: Some(self.ctx.config.poll_steady),
                });
            }
            Err(e) => return Err(Failure::cloud(e, "list the cluster's integrations")),
        };
        let current = self.current(&client, &list).await?;
        if current.is_none()
            && let Some(other) = list.iter().find(|i| i.integration_type.as_str() == kind)
        {
            return Ok(Outcome::Stalled {
                reason: "Conflict",
                message: format!(
                    "cluster {cluster_id} already has a {kind} integration ({}) that this resource did not create; \
                     delete it in TiDB Cloud, or delete the TidbCloudIntegration that manages it",
                    other.id
                ),
                requeue: Some(self.ctx.config.poll_steady),
            });
        }
        // 4. Decide and act.
        let observed = current.as_ref().map(translate_integration::observed);
        let wanted = Wanted {
            integration_type: kind,
            site: key.as_ref().map(|k| k.site),
            key_fingerprint: key.as_ref().map(|k| k.fingerprint.as_str()),
        };
        let decision = decide(
            &wanted,
            observed.as_ref(),
            self.status.api_key_fingerprint.as_deref(),
        );
        tracing::debug!(object = %self.key, ?decision, "decided");
        match decision {
            Decision::Create => self.create(&client, &cluster_id, key).await,
            Decision::Recreate { why } => {
                let Some(old) = observed else {
                    return Err(Failure::Internal("re-create without an integration"));
                };
                self.event(
                    EventType::Normal,
                    "Recreating",
                    "Recreate",
                    format!(
                        "re-creating the {} integration {} ({why}): the API cannot update an integration",
                        old.integration_type, old.id
                    ),
                )
                .await;
                match client.delete_integration(&cluster_id, &old.id).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => {
                        return Err(Failure::cloud(e, "delete the integration to re-create it"));
                    }
                }
                translate_integration::forget(&mut self.status);
                self.persist_status().await?;
                self.create(&client, &cluster_id, key).await
            }
            Decision::Active => Ok(self.active_outcome()),
            Decision::Error { reason } => Ok(self.error_outcome(&reason)),
        }
    }

    /// The integration this resource manages, from the list: by id, else what an uncertain create made.
    async fn current(
        &mut self,
        client: &TidbCloudClient,
        list: &[Integration],
    ) -> Result<Option<Integration>, Failure> {
        if let Some(id) = self.status.integration_id.clone() {
            if let Some(i) = list.iter().find(|i| i.id == id) {
                let cluster_id = self.status.cluster_id.clone().unwrap_or_default();
                translate_integration::record(&mut self.status, &cluster_id, i);
                return Ok(Some(i.clone()));
            }
            self.event(
                EventType::Warning,
                "IntegrationGone",
                "Observe",
                format!("integration {id} was deleted outside Kubernetes; creating it again"),
            )
            .await;
            translate_integration::forget(&mut self.status);
            self.persist_status().await?;
            return Ok(None);
        }
        let Some(intent) = self.status.create_intent.clone() else {
            return Ok(None);
        };
        let Some(i) = pick_created(list, &intent, client.key_id()).cloned() else {
            return Ok(None);
        };
        self.event(
            EventType::Normal,
            "Adopted",
            "Create",
            format!(
                "found integration {} created by an earlier attempt; adopting it instead of creating another",
                i.id
            ),
        )
        .await;
        translate_integration::record(&mut self.status, &intent.cluster_id, &i);
        self.status.api_key_fingerprint = intent.api_key_fingerprint.clone();
        self.persist_status().await?;
        Ok(Some(i))
    }

    async fn create(
        &mut self,
        client: &TidbCloudClient,
        cluster_id: &str,
        key: Option<VendorKey>,
    ) -> Result<Outcome, Failure> {
        let kind = self.obj.spec.integration_type;
        let fingerprint = key.as_ref().map(|k| k.fingerprint.clone());
        // Record the intent first: after a crash or a lost answer, the next reconcile adopts what was made.
        let started_at = self
            .status
            .create_intent
            .as_ref()
            .map(|i| i.started_at.clone())
            .unwrap_or_else(now_rfc3339);
        self.status.cluster_id = Some(cluster_id.to_string());
        self.status.create_intent = Some(IntegrationCreateIntent {
            cluster_id: cluster_id.to_string(),
            integration_type: kind.as_str().to_string(),
            api_key_fingerprint: fingerprint.clone(),
            started_at,
        });
        let msg = format!(
            "creating the {} integration in cluster {cluster_id}",
            kind.as_str()
        );
        core::merge_conditions(
            &mut self.status,
            &[
                Desired::new(READY, Status::False, "Creating", msg.clone()),
                Desired::new(RECONCILING, Status::True, "Creating", msg),
            ],
            MANAGED_CONDITIONS,
            self.obj.metadata.generation,
        );
        self.persist_status().await?;
        let req = translate_integration::create_request(kind, key.map(|k| (k.site, k.value)))
            .ok_or(Failure::Internal(
                "vendor settings missing for the integration type",
            ))?;
        let created = client
            .create_integration(cluster_id, &req)
            .await
            .map_err(|e| Failure::cloud(e, "create the integration"))?;
        translate_integration::record(&mut self.status, cluster_id, &created);
        self.status.api_key_fingerprint = fingerprint;
        self.persist_status().await?;
        self.event(
            EventType::Normal,
            "Created",
            "Create",
            format!(
                "created {} integration {} in cluster {cluster_id}",
                kind.as_str(),
                created.id
            ),
        )
        .await;
        let observed = translate_integration::observed(&created);
        Ok(match observed.state.as_str() {
            "ERROR" => self.error_outcome(
                observed
                    .status_reason
                    .as_deref()
                    .unwrap_or("TiDB Cloud gave no reason"),
            ),
            _ => self.active_outcome(),
        })
    }

    fn active_outcome(&self) -> Outcome {
        let s = &self.status;
        let id = s.integration_id.clone().unwrap_or_default();
        let kind = s.integration_type.clone().unwrap_or_default();
        let message = match s.state.as_deref() {
            Some("NONE") => {
                format!("{kind} integration {id} exists; TiDB Cloud reports no state yet")
            }
            state => format!("{kind} integration {id} is {}", state.unwrap_or("ACTIVE")),
        };
        Outcome::Converged {
            reason: "Active",
            message,
        }
    }

    fn error_outcome(&self, reason: &str) -> Outcome {
        let s = &self.status;
        Outcome::Stalled {
            reason: "IntegrationError",
            message: format!(
                "TiDB Cloud reports the {} integration {} in state ERROR: {reason}",
                s.integration_type.clone().unwrap_or_default(),
                s.integration_id.clone().unwrap_or_default()
            ),
            requeue: Some(self.ctx.config.poll_steady),
        }
    }

    /// Where spec.clusterRef / spec.clusterId points (a cluster managed in another namespace is refused).
    async fn target(&self) -> Result<Target, Failure> {
        let spec = &self.obj.spec;
        let (r, id) = (spec.cluster_ref.as_ref(), spec.cluster_id.as_deref());
        Ok(clusterref::target(self.ctx, r, id, self.ns).await?)
    }

    /// The client for spec.credentials, else the referenced cluster's, else the default.
    async fn client(&self, target: &Target) -> Result<Result<TidbCloudClient, Outcome>, Failure> {
        let credentials = self.obj.spec.credentials.as_ref().or(target.credentials());
        Ok(self.ctx.tidb_client(self.ns, credentials).await?)
    }

    /// The vendor API key from its Secret with its fingerprint (`None` for Prometheus); a missing one is an
    /// `ApiKeyMissing` stall (retried when the Secret appears).
    async fn api_key(&self) -> Result<Result<Option<VendorKey>, Outcome>, Failure> {
        let Some((site, r)) = self.obj.vendor() else {
            return Ok(Ok(None));
        };
        let uid = self.obj.uid().ok_or(Failure::Internal(
            "object has no uid to salt the key fingerprint",
        ))?;
        match core::secret_value(&self.ctx.kube, self.ns, &r.name, &r.key).await? {
            Ok(value) => Ok(Ok(Some(VendorKey {
                site,
                fingerprint: api_key_fingerprint(&uid, &value),
                value,
            }))),
            Err(e) => Ok(Err(Outcome::Stalled {
                reason: "ApiKeyMissing",
                message: format!(
                    "the {} API key is unavailable: {e}",
                    self.obj.spec.integration_type.as_str()
                ),
                requeue: Some(self.ctx.config.poll_credentials),
            })),
        }
    }

    // ---- deletion -----------------------------------------------------------------------------------------

    async fn cleanup(&mut self) -> Result<Action, ReconcileError> {
        match self.cleanup_inner().await {
            Ok(None) => {
                if let Some(c) = &self.obj.spec.credentials {
                    let (name, uid) = (&c.secret_ref.name, self.obj.uid().unwrap_or_default());
                    if !self.ctx.claims.secret_in_use(self.ns, name, &uid) {
                        core::release_credentials(self.ctx, self.ns, name).await?;
                    }
                }
                remove_finalizer(self.api, self.obj).await?;
                self.ctx.backoff.reset(&self.key);
                Ok(Action::await_change())
            }
            Ok(Some(outcome)) => self.finish(outcome).await,
            Err(Failure::Cloud(e, what)) => {
                let o = core::cloud_failure(self.ctx, KIND, &self.key, &e, &what);
                self.finish(o).await
            }
            Err(f) => Err(f.into()),
        }
    }

    /// `Ok(None)` = done, the finalizer may go.
    async fn cleanup_inner(&mut self) -> Result<Option<Outcome>, Failure> {
        let intent = self.status.create_intent.clone();
        let Some(cluster_id) = self
            .status
            .cluster_id
            .clone()
            .or(intent.as_ref().map(|i| i.cluster_id.clone()))
        else {
            return Ok(None);
        };
        if self.status.integration_id.is_none() && intent.is_none() {
            return Ok(None);
        }
        let cascade = core::cascade_in_progress(&self.ctx.kube, self.ns, CRD_NAME).await?;
        let policy =
            core::effective_deletion_policy(self.obj.spec.deletion_policy.as_ref(), cascade);
        if policy == DeletionPolicy::Retain {
            let why =
                core::retain_reason(self.obj.spec.deletion_policy.as_ref(), cascade, CRD_NAME);
            self.event(
                EventType::Normal,
                "Retained",
                "Delete",
                format!(
                    "integration {} left in cluster {cluster_id}: {why}",
                    self.status
                        .integration_id
                        .clone()
                        .unwrap_or_else(|| "(unknown)".into())
                ),
            )
            .await;
            return Ok(None);
        }
        let target = self.target().await?;
        let client = match self.client(&target).await? {
            Ok(c) => c,
            Err(outcome) => return Ok(Some(outcome)),
        };
        let id = match (self.status.integration_id.clone(), intent) {
            (Some(id), _) => id,
            (None, Some(intent)) => match client.list_integrations(&cluster_id).await {
                Ok(list) => match pick_created(&list, &intent, client.key_id()) {
                    Some(i) => i.id.clone(),
                    None => return Ok(None),
                },
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => {
                    return Err(Failure::cloud(
                        e,
                        "list integrations to find an earlier create",
                    ));
                }
            },
            (None, None) => return Ok(None),
        };
        let note = match client.delete_integration(&cluster_id, &id).await {
            Ok(()) => format!("integration {id} removed from cluster {cluster_id}"),
            Err(e) if e.is_not_found() => {
                format!("integration {id} (or cluster {cluster_id}) is already gone")
            }
            Err(e) => return Err(Failure::cloud(e, "delete the integration")),
        };
        self.event(EventType::Normal, "Deleted", "Delete", note)
            .await;
        Ok(None)
    }

    // ---- status ---------------------------------------------------------------------------------------

    async fn finish(&mut self, outcome: Outcome) -> Result<Action, ReconcileError> {
        let action = core::finish(
            self.ctx,
            self.api,
            self.obj,
            &mut self.status,
            &outcome,
            Vec::new(),
            MANAGED_CONDITIONS,
        )
        .await?;
        // A working integration is re-read slowly: TiDB Cloud may report ERROR later.
        Ok(match outcome {
            Outcome::Converged { .. } => Action::requeue(jittered(self.ctx.config.poll_steady)),
            _ => action,
        })
    }

    async fn persist_status(&mut self) -> Result<(), Failure> {
        Ok(apply_status(self.api, self.obj, &self.status).await?)
    }

    async fn event(&self, type_: EventType, reason: &str, action: &str, note: String) {
        publish(&self.ctx.recorder, self.obj, type_, reason, action, note).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(kind: &str, site: Option<&str>, state: &str) -> ObservedIntegration {
        ObservedIntegration {
            id: "12".into(),
            integration_type: kind.into(),
            site: site.map(String::from),
            state: state.into(),
            status_reason: (state == "ERROR").then(|| "key rejected".to_string()),
            create_time: String::new(),
            creator: String::new(),
        }
    }

    fn datadog<'a>(site: &'static str, fp: &'a str) -> Wanted<'a> {
        Wanted {
            integration_type: "DATADOG",
            site: Some(site),
            key_fingerprint: Some(fp),
        }
    }

    #[test]
    fn nothing_there_is_created() {
        assert_eq!(decide(&datadog("US1", "fp1"), None, None), Decision::Create);
    }

    #[test]
    fn matching_integrations_are_active_and_errors_carry_the_reason() {
        let w = datadog("US1", "fp1");
        assert_eq!(
            decide(
                &w,
                Some(&observed("DATADOG", Some("US1"), "ACTIVE")),
                Some("fp1")
            ),
            Decision::Active
        );
        assert_eq!(
            decide(
                &w,
                Some(&observed("DATADOG", Some("US1"), "NONE")),
                Some("fp1")
            ),
            Decision::Active
        );
        assert_eq!(
            decide(
                &w,
                Some(&observed("DATADOG", Some("US1"), "ERROR")),
                Some("fp1")
            ),
            Decision::Error {
                reason: "key rejected".into()
            }
        );
        let prometheus = Wanted {
            integration_type: "PROMETHEUS",
            site: None,
            key_fingerprint: None,
        };
        assert_eq!(
            decide(
                &prometheus,
                Some(&observed("PROMETHEUS", None, "ACTIVE")),
                None
            ),
            Decision::Active
        );
    }

    #[test]
    fn type_site_and_key_changes_recreate() {
        let active = observed("DATADOG", Some("US1"), "ACTIVE");
        let why = |d: Decision| match d {
            Decision::Recreate { why } => why,
            other => panic!("{other:?}"),
        };
        let newrelic = Wanted {
            integration_type: "NEWRELIC",
            site: Some("US_OTLP"),
            key_fingerprint: Some("fp1"),
        };
        assert_eq!(
            why(decide(&newrelic, Some(&active), Some("fp1"))),
            "type changed from DATADOG to NEWRELIC"
        );
        assert_eq!(
            why(decide(&datadog("EU1", "fp1"), Some(&active), Some("fp1"))),
            "site changed from US1 to EU1"
        );
        assert_eq!(
            why(decide(&datadog("US1", "fp2"), Some(&active), Some("fp1"))),
            "the API key in the referenced Secret changed"
        );
        assert_eq!(
            why(decide(&datadog("US1", "fp1"), Some(&active), None)),
            "the API key it was created with is unknown"
        );
        // A rotated key wins over an ERROR state: the new key may fix it.
        let failing = observed("DATADOG", Some("US1"), "ERROR");
        assert!(matches!(
            decide(&datadog("US1", "fp2"), Some(&failing), Some("fp1")),
            Decision::Recreate { .. }
        ));
    }

    fn integration(id: &str, kind: &str, created: &str, creator: &str) -> Integration {
        serde_json::from_value(serde_json::json!({
            "id": id, "type": kind, "createTime": created, "creator": creator,
        }))
        .expect("integration")
    }

    #[test]
    fn adoption_matches_type_time_and_creator() {
        let intent = IntegrationCreateIntent {
            cluster_id: "7".into(),
            integration_type: "DATADOG".into(),
            api_key_fingerprint: Some("fp".into()),
            started_at: "2025-01-01T12:00:00.000Z".into(),
        };
        let key = "abcdefghijkl";
        let list = vec![
            integration("1", "DATADOG", "2025-01-01T10:00:00Z", "apikey-ABCDEFGH"),
            integration("2", "NEWRELIC", "2025-01-01T12:00:01Z", "apikey-ABCDEFGH"),
            integration("3", "DATADOG", "2025-01-01T12:00:02Z", "apikey-OTHERKEY"),
            integration("4", "DATADOG", "2025-01-01T12:00:03Z", "apikey-ABCDEFGH"),
        ];
        assert_eq!(
            pick_created(&list, &intent, key).map(|i| i.id.as_str()),
            Some("4")
        );
        assert!(pick_created(&list[..3], &intent, key).is_none());
    }
}
