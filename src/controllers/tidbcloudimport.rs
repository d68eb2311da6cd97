//! The TidbCloudImport reconciler: finalizer → target cluster (wait until it is Ready) → credentials → adopt
//! an uncertain earlier create → decide (pure) → create once / follow progress → status. Deleting the resource
//! while the import runs cancels it and waits for `CANCELED`.
//!
//! Crash safety: the create intent (cluster, source URI, time) is written to status before the create call;
//! with an intent and no import id, the next reconcile lists the cluster's imports and adopts the one created
//! since the intent from that URI instead of creating another. One resource never makes two imports.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use secrecy::ExposeSecret;

use super::Context;
use super::clusterref::{self, Target};
use super::core::{
    self, Failure, Outcome, ReconcileError, SecretRefError, add_finalizer, apply_status,
    has_finalizer, now_rfc3339, object_key, publish, remove_finalizer,
};
use super::ownership;
use super::tidbcloudcluster::CONNECTION_LABEL;
use super::watch;
use crate::api::tidbcloudcluster::TidbCloudCluster;
use crate::api::tidbcloudimport::{
    ACCESS_KEY_ID, ImportCreateIntent, SECRET_ACCESS_KEY, TidbCloudImport, TidbCloudImportStatus,
};
use crate::conditions::{Desired, READY, RECONCILING, STALLED, Status};
use crate::providers::tidbcloud::client::TidbCloudClient;
use crate::providers::tidbcloud::models::Import;
use crate::providers::tidbcloud::translate;
use crate::providers::tidbcloud::translate_import::{self, SourceSecrets};
use kube::core::PartialObjectMeta;

pub const KIND: &str = "TidbCloudImport";
const CRD_NAME: &str = "tidbcloudimports.clouddb.dev";
const MANAGED_CONDITIONS: &[&str] = &[READY, RECONCILING, STALLED];
/// Clock skew allowed between the operator and the cloud when matching an import to a create intent.
const ADOPTION_SLACK: chrono::Duration = chrono::Duration::seconds(120);

// ---- the pure part ------------------------------------------------------------------------------------------

/// What the cloud says about an import, reduced to what decisions need.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ObservedImport {
    pub state: String,
    pub complete_percent: i32,
    /// Bytes, as the service sends it (a decimal string).
    pub total_size: String,
    pub message: String,
}

impl ObservedImport {
    /// The import as last recorded in status.
    pub fn from_status(status: &TidbCloudImportStatus) -> ObservedImport {
        ObservedImport {
            state: status.state.clone().unwrap_or_default(),
            complete_percent: status.complete_percent.unwrap_or(0),
            total_size: status.total_size.clone().unwrap_or_default(),
            message: status.message.clone().unwrap_or_default(),
        }
    }
}

/// Import states after which nothing changes any more.
pub fn is_terminal(state: &str) -> bool {
    matches!(state, "COMPLETED" | "FAILED" | "CANCELED")
}

/// The next step of an import that is not being deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The import exists: follow its state.
    Follow,
    /// A create call may have happened (intent recorded, no id): look for its import before anything else.
    Adopt,
    /// Create the import in this cluster; `check_cloud` when no TidbCloudCluster vouches for the cluster being
    /// ACTIVE (spec.clusterId), so the cloud is asked first.
    Create {
        cluster_id: String,
        check_cloud: bool,
    },
    /// The target cluster is not usable yet.
    Wait { message: String },
    /// The target cluster cannot be used: a `Stalled` reason and message.
    Blocked {
        reason: &'static str,
        message: String,
    },
}

/// Decides the next step from what status records and where the reference points.
pub fn decide(import_id: Option<&str>, intent_pending: bool, target: &Target) -> Step {
    if import_id.is_some() {
        return Step::Follow;
    }
    if intent_pending {
        return Step::Adopt;
    }
    match target {
        Target::Id(id) => Step::Create {
            cluster_id: id.clone(),
            check_cloud: true,
        },
        Target::Ready { cluster_id, .. } => Step::Create {
            cluster_id: cluster_id.clone(),
            check_cloud: false,
        },
        Target::NotReady { why, .. } => Step::Wait {
            message: format!("{why}; the import starts once it is Ready"),
        },
        Target::Broken { reason, message } => Step::Blocked {
            reason,
            message: message.clone(),
        },
    }
}

/// Where an existing import stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Still running (or being canceled outside Kubernetes).
    Running {
        reason: &'static str,
        message: String,
    },
    Completed {
        message: String,
    },
    /// Failed; `message` is the service's explanation.
    Failed {
        message: String,
    },
    /// Canceled outside Kubernetes (a cancel on deletion never gets here).
    Canceled {
        message: String,
    },
}

/// The phase of import `id` as observed.
pub fn phase(id: &str, o: &ObservedImport) -> Phase {
    let size = human_bytes(&o.total_size);
    match o.state.as_str() {
        "PREPARING" => Phase::Running {
            reason: "Preparing",
            message: format!("import {id} is PREPARING ({size} to import)"),
        },
        "IMPORTING" => Phase::Running {
            reason: "Importing",
            message: format!(
                "import {id} is IMPORTING: {}% of {size}",
                o.complete_percent
            ),
        },
        "CANCELING" => Phase::Running {
            reason: "Canceling",
            message: format!("import {id} is being canceled"),
        },
        "COMPLETED" => Phase::Completed {
            message: format!("import {id} COMPLETED: {size} imported"),
        },
        "FAILED" => Phase::Failed {
            message: if o.message.is_empty() {
                format!(
                    "import {id} FAILED at {}% (TiDB Cloud gave no reason)",
                    o.complete_percent
                )
            } else {
                format!(
                    "import {id} FAILED at {}%: {}",
                    o.complete_percent, o.message
                )
            },
        },
        "CANCELED" => Phase::Canceled {
            message: format!(
                "import {id} was canceled outside Kubernetes at {}%",
                o.complete_percent
            ),
        },
        other => Phase::Running {
            reason: "Progressing",
            message: format!("import {id} is in state {other:?}"),
        },
    }
}

/// What deleting the resource still needs of the import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// The import is over: the finalizer may go.
    Done,
    /// Running: cancel it.
    Cancel,
    /// Being canceled: wait for `CANCELED`.
    WaitCanceled,
}

pub fn cleanup_step(o: &ObservedImport) -> Cleanup {
    match o.state.as_str() {
        s if is_terminal(s) => Cleanup::Done,
        "CANCELING" => Cleanup::WaitCanceled,
        _ => Cleanup::Cancel,
    }
}

/// The import an uncertain create under `intent` made, if any: same source URI, created since the intent
/// (minus clock skew), by this API key when the service says who created it, not claimed by another resource.
/// The oldest match wins.
pub fn pick_created<'a>(
    imports: &'a [Import],
    intent: &ImportCreateIntent,
    key_id: &str,
    claimed: &BTreeSet<String>,
) -> Option<&'a Import> {
    let mut candidates: Vec<&Import> = imports
        .iter()
        .filter(|i| translate_import::source_uri(i) == Some(intent.source_uri.as_str()))
        .filter(|i| core::created_since(&i.create_time, &intent.started_at, ADOPTION_SLACK))
        .filter(|i| {
            !i.creator.to_ascii_lowercase().starts_with("apikey-")
                || translate::created_by_key(&i.creator, key_id)
        })
        .filter(|i| !claimed.contains(&i.import_id))
        .collect();
    candidates.sort_by(|a, b| a.create_time.cmp(&b.create_time));
    candidates.into_iter().next()
}

/// `1.5 GiB` for a byte count sent as a decimal string; the string itself when it is not a number.
fn human_bytes(bytes: &str) -> String {
    let Ok(n) = bytes.parse::<u64>() else {
        return if bytes.is_empty() {
            "an unknown size".into()
        } else {
            format!("{bytes} bytes")
        };
    };
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

// ---- the controller -----------------------------------------------------------------------------------------

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    api: Api<TidbCloudImport>,
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
                        !o.finished()
                            && clusterref::event_matters(
                                &cluster,
                                s.cluster_id.as_deref(),
                                s.import_id.is_some(),
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
                    .filter(|o| !o.finished())
                    .filter(|o| {
                        // Without spec.credentials an import may inherit its cluster's: any Secret of the
                        // namespace may matter.
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
fn claims(o: &TidbCloudImport) -> ownership::Claims {
    ownership::Claims {
        ids: o
            .status
            .as_ref()
            .and_then(|s| s.import_id.clone())
            .map(|id| (ownership::CloudIdKind::TidbImport, id))
            .into_iter()
            .collect(),
        secrets: o.secret_names().into_iter().map(str::to_string).collect(),
    }
}

fn error_policy(obj: Arc<TidbCloudImport>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    core::error_policy(KIND, &*obj, err, &ctx)
}

/// Entry point for one object.
pub async fn reconcile(
    obj: Arc<TidbCloudImport>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let ns = obj
        .namespace()
        .ok_or(ReconcileError::MissingField("metadata.namespace"))?;
    let api = Api::<TidbCloudImport>::namespaced(ctx.kube.clone(), &ns);
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
    obj: &'a TidbCloudImport,
    api: &'a Api<TidbCloudImport>,
    ctx: &'a Context,
    ns: &'a str,
    key: String,
    status: TidbCloudImportStatus,
}

impl Run<'_> {
    // ---- apply ----------------------------------------------------------------------------------------

    async fn apply(&mut self) -> Result<Action, ReconcileError> {
        // Never miss the id or create intent the previous reconcile wrote (the watch cache may lag).
        if self.status.import_id.is_none()
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
        // An import that is over changes no more: report it from status without asking the cloud.
        if let (Some(id), Some(state)) = (&self.status.import_id, &self.status.state)
            && is_terminal(state)
        {
            let p = phase(id, &ObservedImport::from_status(&self.status));
            return Ok(self.phase_outcome(p));
        }
        let target = self.target().await?;
        let mut step = decide(
            self.status.import_id.as_deref(),
            self.status.create_intent.is_some(),
            &target,
        );
        tracing::debug!(object = %self.key, ?step, "decided");
        if let Some(outcome) = self.blocked(&step) {
            return Ok(outcome);
        }
        let client = match self.client(&target).await? {
            Ok(c) => c,
            Err(outcome) => return Ok(outcome),
        };
        if step == Step::Adopt {
            if let Some(intent) = self.status.create_intent.clone()
                && let Some(i) = self.find_created(&client, &intent).await?
            {
                self.event(
                    EventType::Normal,
                    "Adopted",
                    "Create",
                    format!(
                        "found import {} created by an earlier attempt; following it instead of creating another",
                        i.import_id
                    ),
                )
                .await;
                translate_import::record(&mut self.status, &i);
                self.persist_status().await?;
            }
            step = decide(self.status.import_id.as_deref(), false, &target);
            if let Some(outcome) = self.blocked(&step) {
                return Ok(outcome);
            }
        }
        match step {
            Step::Follow => self.follow(&client).await,
            Step::Create {
                cluster_id,
                check_cloud,
            } => {
                if check_cloud
                    && let Some(outcome) = self.check_cloud_cluster(&client, &cluster_id).await?
                {
                    return Ok(outcome);
                }
                self.create(&client, &cluster_id).await
            }
            Step::Adopt | Step::Wait { .. } | Step::Blocked { .. } => {
                Err(Failure::Internal("import step decided twice"))
            }
        }
    }

    /// The outcome of a step that cannot go on (the target cluster is not usable); `None` otherwise.
    fn blocked(&self, step: &Step) -> Option<Outcome> {
        match step {
            Step::Wait { message } => Some(Outcome::Progressing {
                reason: "WaitingForCluster",
                message: message.clone(),
                requeue: self.ctx.config.poll_transitional,
            }),
            Step::Blocked { reason, message } => Some(Outcome::Stalled {
                reason,
                message: message.clone(),
                requeue: Some(self.ctx.config.poll_steady),
            }),
            _ => None,
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

    /// For spec.clusterId: the cloud cluster must exist and be ACTIVE before an import is created.
    async fn check_cloud_cluster(
        &self,
        client: &TidbCloudClient,
        cluster_id: &str,
    ) -> Result<Option<Outcome>, Failure> {
        // Through the shared observer: the clusters' list snapshot answers, not a GET per poll.
        match self
            .ctx
            .tidb_observer
            .cluster(client, None, cluster_id)
            .await
        {
            Ok(Some(c)) if c.state.as_str() == "ACTIVE" => Ok(None),
            Ok(Some(c)) => Ok(Some(Outcome::Progressing {
                reason: "WaitingForCluster",
                message: format!(
                    "waiting for cluster {cluster_id} to be ACTIVE (it is {}); the import starts then",
                    c.state
                ),
                requeue: self.ctx.config.poll_transitional,
            })),
            Ok(None) => Ok(Some(Outcome::Stalled {
                reason: "ClusterNotFound",
                message: format!(
                    "cluster {cluster_id} (spec.clusterId) does not exist in TiDB Cloud or is not visible to these credentials"
                ),
                requeue: Some(self.ctx.config.poll_steady),
            })),
            Err(e) => Err(Failure::cloud(e, "read the cluster")),
        }
    }

    /// Looks for the import an uncertain create under `intent` made.
    async fn find_created(
        &self,
        client: &TidbCloudClient,
        intent: &ImportCreateIntent,
    ) -> Result<Option<Import>, Failure> {
        let imports = match client.list_imports(&intent.cluster_id).await {
            Ok(v) => v,
            // The cluster is gone, and with it anything the create made.
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(Failure::cloud(e, "list imports to find an earlier create")),
        };
        let claimed = self.claimed_import_ids().await?;
        Ok(pick_created(&imports, intent, client.key_id(), &claimed).cloned())
    }

    /// Import ids other objects already follow (the ownership index).
    async fn claimed_import_ids(&self) -> Result<BTreeSet<String>, Failure> {
        let me = self.obj.uid().unwrap_or_default();
        Ok(self
            .ctx
            .claims
            .claimed_ids(ownership::CloudIdKind::TidbImport, &me))
    }

    /// Reads the object storage secrets the spec references; a missing one is a `SourceCredentialsMissing`
    /// stall (retried when the Secret appears).
    async fn source_secrets(&self) -> Result<Result<SourceSecrets, Outcome>, Failure> {
        let src = &self.obj.spec.source;
        let mut out = SourceSecrets::default();
        let missing = |e: SecretRefError| Outcome::Stalled {
            reason: "SourceCredentialsMissing",
            message: format!("source credentials unavailable: {e}"),
            requeue: Some(self.ctx.config.poll_credentials),
        };
        let kube = &self.ctx.kube;
        if let Some(k) = src.s3.as_ref().and_then(|s| s.access_key.as_ref()) {
            let name = &k.secret_ref.name;
            let id = match core::secret_value(kube, self.ns, name, ACCESS_KEY_ID).await? {
                Ok(v) => v,
                Err(e) => return Ok(Err(missing(e))),
            };
            let secret = match core::secret_value(kube, self.ns, name, SECRET_ACCESS_KEY).await? {
                Ok(v) => v,
                Err(e) => return Ok(Err(missing(e))),
            };
            out.access_key = Some((id.expose_secret().to_string(), secret));
        }
        if let Some(g) = &src.gcs {
            let r = &g.service_account_key.secret_ref;
            match core::secret_value(kube, self.ns, &r.name, &r.key).await? {
                Ok(v) => out.service_account_key = Some(v),
                Err(e) => return Ok(Err(missing(e))),
            }
        }
        if let Some(a) = &src.azure_blob {
            let r = &a.sas_token.secret_ref;
            match core::secret_value(kube, self.ns, &r.name, &r.key).await? {
                Ok(v) => out.sas_token = Some(v),
                Err(e) => return Ok(Err(missing(e))),
            }
        }
        Ok(Ok(out))
    }

    async fn create(
        &mut self,
        client: &TidbCloudClient,
        cluster_id: &str,
    ) -> Result<Outcome, Failure> {
        // Nothing is recorded or sent while a source Secret is missing.
        let secrets = match self.source_secrets().await? {
            Ok(s) => s,
            Err(outcome) => return Ok(outcome),
        };
        // Record the intent first: after a crash or a lost answer, the next reconcile looks before creating.
        let started_at = self
            .status
            .create_intent
            .as_ref()
            .map(|i| i.started_at.clone())
            .unwrap_or_else(now_rfc3339);
        let uri = self.obj.spec.source.uri.clone();
        self.status.cluster_id = Some(cluster_id.to_string());
        self.status.create_intent = Some(ImportCreateIntent {
            cluster_id: cluster_id.to_string(),
            source_uri: uri.clone(),
            started_at,
        });
        let msg = format!("creating the import in cluster {cluster_id}");
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
        let req = translate_import::create_request(&self.obj.spec, secrets);
        let import = client
            .create_import(cluster_id, &req)
            .await
            .map_err(|e| Failure::cloud(e, "create the import"))?;
        translate_import::record(&mut self.status, &import);
        self.persist_status().await?;
        self.event(
            EventType::Normal,
            "Created",
            "Create",
            format!(
                "import {} created in cluster {cluster_id} from {uri}",
                import.import_id
            ),
        )
        .await;
        let p = phase(&import.import_id, &translate_import::observed(&import));
        Ok(self.phase_outcome(p))
    }

    /// Reads the import and reports its state and progress.
    async fn follow(&mut self, client: &TidbCloudClient) -> Result<Outcome, Failure> {
        let (Some(cluster_id), Some(import_id)) = (
            self.status.cluster_id.clone(),
            self.status.import_id.clone(),
        ) else {
            return Err(Failure::Internal("no import to follow"));
        };
        match client.get_import(&cluster_id, &import_id).await {
            Ok(i) => {
                let before = self.status.state.clone();
                translate_import::record(&mut self.status, &i);
                let p = phase(&import_id, &translate_import::observed(&i));
                if let Phase::Completed { message } = &p
                    && before.as_deref() != Some("COMPLETED")
                {
                    self.event(EventType::Normal, "Completed", "Import", message.clone())
                        .await;
                }
                Ok(self.phase_outcome(p))
            }
            Err(e) if e.is_not_found() => match client.get_cluster(&cluster_id).await {
                Err(e) if e.is_not_found() => Ok(Outcome::Stalled {
                    reason: "ClusterGone",
                    message: format!(
                        "cluster {cluster_id} no longer exists in TiDB Cloud: import {import_id} cannot finish"
                    ),
                    requeue: None,
                }),
                Ok(_) => Ok(Outcome::Stalled {
                    reason: "ImportNotFound",
                    message: format!(
                        "import {import_id} no longer exists in cluster {cluster_id}; delete this resource and create a new one to import again"
                    ),
                    requeue: None,
                }),
                Err(e) => Err(Failure::cloud(e, "read the cluster")),
            },
            Err(e) => Err(Failure::cloud(e, "read the import")),
        }
    }

    fn phase_outcome(&self, p: Phase) -> Outcome {
        match p {
            Phase::Running { reason, message } => Outcome::Progressing {
                reason,
                message,
                requeue: self.ctx.config.poll_transitional,
            },
            Phase::Completed { message } => Outcome::Converged {
                reason: "Completed",
                message,
            },
            Phase::Failed { message } => Outcome::Stalled {
                reason: "ImportFailed",
                message,
                requeue: None,
            },
            Phase::Canceled { message } => Outcome::Stalled {
                reason: "Canceled",
                message,
                requeue: None,
            },
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
        if self.status.import_id.is_none() && self.status.create_intent.is_none() {
            return Ok(None);
        }
        if self.status.state.as_deref().is_some_and(is_terminal) {
            return Ok(None);
        }
        if core::cascade_in_progress(&self.ctx.kube, self.ns, CRD_NAME).await? == core::Cascade::Crd
        {
            self.event(
                EventType::Normal,
                "Released",
                "Delete",
                format!(
                    "the CustomResourceDefinition {CRD_NAME} is being deleted: the import is left running in \
                     TiDB Cloud (deleting a CRD never cancels or deletes cloud work)"
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
        if self.status.import_id.is_none() {
            let Some(intent) = self.status.create_intent.clone() else {
                return Ok(None);
            };
            match self.find_created(&client, &intent).await? {
                Some(i) => {
                    translate_import::record(&mut self.status, &i);
                    self.persist_status().await?;
                }
                None => return Ok(None),
            }
        }
        let (Some(cluster_id), Some(import_id)) = (
            self.status.cluster_id.clone(),
            self.status.import_id.clone(),
        ) else {
            return Ok(None);
        };
        let import = match client.get_import(&cluster_id, &import_id).await {
            Ok(i) => i,
            // The import (or its whole cluster) is gone: nothing left to cancel.
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(Failure::cloud(e, "read the import before canceling it")),
        };
        let before = self.status.state.clone();
        translate_import::record(&mut self.status, &import);
        let observed = translate_import::observed(&import);
        match cleanup_step(&observed) {
            Cleanup::Done => {
                if observed.state == "CANCELED" && before.as_deref() != Some("CANCELED") {
                    self.event(
                        EventType::Normal,
                        "Canceled",
                        "Delete",
                        format!("import {import_id} is CANCELED"),
                    )
                    .await;
                }
                Ok(None)
            }
            Cleanup::Cancel => {
                match client.cancel_import(&cluster_id, &import_id).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => return Ok(None),
                    Err(e) => return Err(Failure::cloud(e, "cancel the import")),
                }
                self.status.state = Some("CANCELING".into());
                self.event(
                    EventType::Normal,
                    "Canceling",
                    "Delete",
                    format!(
                        "the resource is being deleted: canceling import {import_id} ({} at {}%)",
                        observed.state, observed.complete_percent
                    ),
                )
                .await;
                Ok(Some(Outcome::Progressing {
                    reason: "Canceling",
                    message: format!("canceling import {import_id} before the resource goes away"),
                    requeue: self.ctx.config.poll_transitional,
                }))
            }
            Cleanup::WaitCanceled => Ok(Some(Outcome::Progressing {
                reason: "Canceling",
                message: format!("waiting for import {import_id} to be CANCELED"),
                requeue: self.ctx.config.poll_transitional,
            })),
        }
    }

    // ---- status ---------------------------------------------------------------------------------------

    async fn finish(&mut self, outcome: Outcome) -> Result<Action, ReconcileError> {
        Ok(core::finish(
            self.ctx,
            self.api,
            self.obj,
            &mut self.status,
            &outcome,
            Vec::new(),
            MANAGED_CONDITIONS,
        )
        .await?)
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
    use crate::api::common::CredentialsSpec;

    fn observed(state: &str, pct: i32, message: &str) -> ObservedImport {
        ObservedImport {
            state: state.into(),
            complete_percent: pct,
            total_size: "1610612736".into(),
            message: message.into(),
        }
    }

    #[test]
    fn an_existing_import_is_followed_whatever_the_cluster() {
        let broken = Target::Broken {
            reason: "ClusterNotFound",
            message: "gone".into(),
        };
        assert_eq!(decide(Some("9"), false, &broken), Step::Follow);
        assert_eq!(decide(Some("9"), true, &broken), Step::Follow);
    }

    #[test]
    fn an_intent_is_resolved_before_anything_is_created() {
        let ready = Target::Ready {
            cluster_id: "7".into(),
            credentials: None,
        };
        assert_eq!(decide(None, true, &ready), Step::Adopt);
        assert_eq!(
            decide(None, false, &ready),
            Step::Create {
                cluster_id: "7".into(),
                check_cloud: false
            }
        );
        assert_eq!(
            decide(None, false, &Target::Id("8".into())),
            Step::Create {
                cluster_id: "8".into(),
                check_cloud: true
            }
        );
    }

    #[test]
    fn not_ready_clusters_are_waited_for_and_broken_references_stall() {
        let waiting = Target::NotReady {
            cluster_id: Some("7".into()),
            credentials: Some(CredentialsSpec {
                secret_ref: crate::api::SecretNameRef { name: "k".into() },
            }),
            why: "waiting for TidbCloudCluster orders: it is not Ready yet".into(),
        };
        match decide(None, false, &waiting) {
            Step::Wait { message } => assert!(message.contains("starts once it is Ready")),
            other => panic!("{other:?}"),
        }
        let broken = Target::Broken {
            reason: "InvalidClusterRef",
            message: "other namespace".into(),
        };
        assert_eq!(
            decide(None, false, &broken),
            Step::Blocked {
                reason: "InvalidClusterRef",
                message: "other namespace".into()
            }
        );
    }

    #[test]
    fn phases_follow_the_service_state() {
        assert_eq!(
            phase("9", &observed("IMPORTING", 40, "")),
            Phase::Running {
                reason: "Importing",
                message: "import 9 is IMPORTING: 40% of 1.5 GiB".into()
            }
        );
        assert!(matches!(
            phase("9", &observed("PREPARING", 0, "")),
            Phase::Running {
                reason: "Preparing",
                ..
            }
        ));
        assert!(matches!(
            phase("9", &observed("COMPLETED", 100, "")),
            Phase::Completed { .. }
        ));
        match phase("9", &observed("FAILED", 40, "access denied")) {
            Phase::Failed { message } => {
                assert_eq!(message, "import 9 FAILED at 40%: access denied")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            phase("9", &observed("CANCELED", 10, "")),
            Phase::Canceled { .. }
        ));
        assert!(matches!(
            phase("9", &observed("SOMETHING_NEW", 0, "")),
            Phase::Running {
                reason: "Progressing",
                ..
            }
        ));
    }

    #[test]
    fn deletion_cancels_running_imports_and_waits_for_canceled() {
        assert_eq!(cleanup_step(&observed("IMPORTING", 5, "")), Cleanup::Cancel);
        assert_eq!(cleanup_step(&observed("PREPARING", 0, "")), Cleanup::Cancel);
        assert_eq!(
            cleanup_step(&observed("CANCELING", 5, "")),
            Cleanup::WaitCanceled
        );
        for s in ["CANCELED", "COMPLETED", "FAILED"] {
            assert_eq!(cleanup_step(&observed(s, 5, "")), Cleanup::Done);
        }
    }

    fn import(id: &str, uri: &str, created: &str, creator: &str) -> Import {
        serde_json::from_value(serde_json::json!({
            "importId": id, "clusterId": "7", "createTime": created, "creator": creator, "state": "PREPARING",
            "creationDetails": {"importOptions": {"fileType": "CSV"}, "source": {"type": "S3", "s3": {"uri": uri, "authType": "ROLE_ARN"}}},
        }))
        .expect("import")
    }

    #[test]
    fn adoption_matches_uri_time_creator_and_skips_claimed_imports() {
        let intent = ImportCreateIntent {
            cluster_id: "7".into(),
            source_uri: "s3://b/orders/".into(),
            started_at: "2025-01-01T12:00:00.000Z".into(),
        };
        let key = "abcdefghijkl";
        let imports = vec![
            import(
                "1",
                "s3://b/orders/",
                "2025-01-01T11:00:00Z",
                "apikey-ABCDEFGH",
            ), // long before
            import(
                "2",
                "s3://b/other/",
                "2025-01-01T12:00:01Z",
                "apikey-ABCDEFGH",
            ), // other URI
            import(
                "3",
                "s3://b/orders/",
                "2025-01-01T12:00:02Z",
                "apikey-ZZZZZZZZ",
            ), // other key
            import(
                "4",
                "s3://b/orders/",
                "2025-01-01T12:00:03Z",
                "apikey-ABCDEFGH",
            ),
            import(
                "5",
                "s3://b/orders/",
                "2025-01-01T12:00:04Z",
                "someone@example.com",
            ),
        ];
        let none = BTreeSet::new();
        assert_eq!(
            pick_created(&imports, &intent, key, &none).map(|i| i.import_id.as_str()),
            Some("4")
        );
        let claimed: BTreeSet<String> = ["4".to_string()].into();
        assert_eq!(
            pick_created(&imports, &intent, key, &claimed).map(|i| i.import_id.as_str()),
            Some("5")
        );
        assert!(pick_created(&imports[..3], &intent, key, &none).is_none());
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes("512"), "512 B");
        assert_eq!(human_bytes("1048576"), "1.0 MiB");
        assert_eq!(human_bytes(""), "an unknown size");
        assert_eq!(human_bytes("lots"), "lots bytes");
    }
}
