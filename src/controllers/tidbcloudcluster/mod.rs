//! The TidbCloudCluster reconciler: finalizer → credentials → catalogue check → observe → decide (pure) → act
//! → connection Secret → status (server-side apply, one field manager).

pub mod decide;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use secrecy::{ExposeSecret, SecretString};

use self::decide::{Decision, Flags, Step};
use super::backoff::PerObjectBackoff;
use super::core::{
    self, FIELD_MANAGER, ReconcileError, add_finalizer, apply_status, has_finalizer, jittered,
    publish, remove_finalizer,
};
use crate::api::common::DeletionPolicy;
use crate::api::tidbcloudcluster::{CreateIntent, TidbCloudCluster, TidbCloudClusterStatus};
use crate::cloud::CloudError;
use crate::conditions::{self, AVAILABLE, Desired, READY, RECONCILING, STALLED, Status};
use crate::config::RunConfig;
use crate::metrics::Metrics;
use crate::providers::tidbcloud::catalog::Catalog;
use crate::providers::tidbcloud::client::{ApiKey, TidbCloudClient};
use crate::providers::tidbcloud::models::Cluster;
use crate::providers::tidbcloud::pool::ClientPool;
use crate::providers::tidbcloud::translate;

pub const KIND: &str = "TidbCloudCluster";
const CRD_NAME: &str = "tidbcloudclusters.clouddb.dev";
const MANAGED_CONDITIONS: &[&str] = &[READY, AVAILABLE, RECONCILING, STALLED];
/// Cluster states in which the database serves connections.
const SERVING_STATES: &[&str] = &[
    "ACTIVE",
    "MODIFYING",
    "IMPORTING",
    "UPGRADING",
    "MAINTENANCE",
];

/// Everything a reconcile needs, shared by all objects of this controller.
pub struct Context {
    pub kube: Client,
    pub config: RunConfig,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub clients: ClientPool,
    pub catalog: Catalog,
    pub backoff: PerObjectBackoff,
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    api: Api<TidbCloudCluster>,
    secrets: Api<Secret>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let controller = Controller::new(api, watcher::Config::default().any_semantic());
    let store = controller.store();
    let (default_ns, default_name) = ctx.config.default_credentials_ref();
    controller
        // The same scope as `secrets` (all namespaces, or one watched namespace): a namespace-scoped install has
        // no right to list Secrets cluster-wide.
        .owns(
            secrets.clone(),
            watcher::Config::default().labels(CONNECTION_LABEL_SELECTOR),
        )
        .watches(
            secrets,
            watcher::Config::default(),
            move |secret: Secret| {
                let (ns, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
                let is_default = ns == default_ns && name == default_name;
                store
                    .state()
                    .into_iter()
                    .filter(|o| o.namespace().as_deref() == Some(ns.as_str()) || is_default)
                    .filter(|o| {
                        let s = &o.spec;
                        (o.namespace().as_deref() == Some(ns.as_str())
                            && (s
                                .credentials
                                .as_ref()
                                .is_some_and(|c| c.secret_ref.name == name)
                                || s.root_password
                                    .as_ref()
                                    .is_some_and(|p| p.secret_ref.name == name)))
                            || (is_default && s.credentials.is_none())
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
}

/// Label set on connection Secrets so the controller watches only those (not every Secret) for ownership.
pub const CONNECTION_LABEL: &str = "clouddb.dev/connection-for";
const CONNECTION_LABEL_SELECTOR: &str = "clouddb.dev/connection-for";

fn error_policy(obj: Arc<TidbCloudCluster>, err: &ReconcileError, ctx: Arc<Context>) -> Action {
    let key = object_key(&obj);
    ctx.metrics.record_reconcile_error(KIND, err.category());
    let delay = ctx.backoff.next(&key);
    tracing::warn!(object = %key, error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

fn object_key(obj: &TidbCloudCluster) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// Entry point for one object.
pub async fn reconcile(
    obj: Arc<TidbCloudCluster>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let ns = obj
        .namespace()
        .ok_or(ReconcileError::MissingField("metadata.namespace"))?;
    let api = Api::<TidbCloudCluster>::namespaced(ctx.kube.clone(), &ns);
    let mut run = Run {
        obj: &obj,
        api: &api,
        ctx: &ctx,
        ns: &ns,
        key: object_key(&obj),
        status: obj.status.clone().unwrap_or_default(),
        cluster: None,
    };
    let result = if obj.metadata.deletion_timestamp.is_some() {
        if has_finalizer(&*obj) {
            run.cleanup().await
        } else {
            Ok(Action::await_change())
        }
    } else if !has_finalizer(&*obj) {
        // The patch itself triggers the next reconcile.
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

/// How a reconcile ended, before it is written to status.
#[derive(Debug)]
enum Outcome {
    /// Converged on this generation.
    Converged {
        reason: &'static str,
        message: String,
    },
    /// Work in flight; poll again after `requeue`.
    Progressing {
        reason: &'static str,
        message: String,
        requeue: Duration,
    },
    /// Nothing will change until the spec or a referenced Secret changes (optionally re-checked slowly).
    Stalled {
        reason: &'static str,
        message: String,
        requeue: Option<Duration>,
    },
    /// A transient failure (429, 5xx, timeout): keep Ready as it was, say we are retrying.
    Transient {
        reason: &'static str,
        message: String,
        requeue: Duration,
    },
    /// Observe-only mode: report whether the cloud matches the spec.
    Observed { matches: bool, message: String },
}

struct Run<'a> {
    obj: &'a TidbCloudCluster,
    api: &'a Api<TidbCloudCluster>,
    ctx: &'a Context,
    ns: &'a str,
    key: String,
    status: TidbCloudClusterStatus,
    cluster: Option<Cluster>,
}

impl Run<'_> {
    // ---- apply ----------------------------------------------------------------------------------------

    async fn apply(&mut self) -> Result<Action, ReconcileError> {
        let outcome = match self.apply_inner().await {
            Ok(o) => o,
            Err(Failure::Cloud(e, what)) => self.cloud_outcome(e, &what).await,
            Err(f) => return Err(f.into()),
        };
        self.finish(outcome).await
    }

    async fn apply_inner(&mut self) -> Result<Outcome, Failure> {
        let observe_only = self.obj.observe_only();
        // 1. Credentials.
        let client = match self.client().await? {
            Ok(c) => c,
            Err(problem) => return Ok(problem),
        };
        // 2. The spec against the catalogue (no cloud writes for an impossible spec).
        let problems = self
            .ctx
            .catalog
            .check(&client, &self.obj.spec)
            .await
            .map_err(|e| Failure::cloud(e, "read the region catalogue"))?;
        if !problems.is_empty() {
            let message = format!("the spec cannot be satisfied: {}", problems.join("; "));
            if self.status.observed_generation != self.obj.metadata.generation
                || !conditions::is_true(&self.status.conditions, STALLED)
            {
                self.event(
                    EventType::Warning,
                    "InvalidSpec",
                    "Validate",
                    message.clone(),
                )
                .await;
            }
            return Ok(Outcome::Stalled {
                reason: "InvalidSpec",
                message,
                requeue: None,
            });
        }
        // 3. Desired password (before any create, so a generated one is stored first).
        let password = match self.desired_password().await? {
            Ok(p) => p,
            Err(outcome) => return Ok(outcome),
        };
        // 4. Observe.
        let display_name = self.obj.effective_display_name();
        if let Some(outcome) = self.observe(&client).await? {
            return Ok(outcome);
        }
        // 5. Decide.
        let flags = Flags {
            password_differs: password.differs,
            observe_only,
        };
        let observed = self.cluster.as_ref().map(translate::observed);
        let decision = decide::decide(&self.obj.spec, &display_name, observed.as_ref(), flags);
        tracing::debug!(object = %self.key, ?decision, "decided");
        // 6. Act.
        match decision {
            Decision::Create => self.create(&client, &display_name, password.value).await,
            Decision::Wait { state } => {
                self.write_connection_secret(password.value.as_ref())
                    .await?;
                Ok(Outcome::Progressing {
                    reason: wait_reason(&state),
                    message: format!("waiting for the cluster to leave state {state}"),
                    requeue: self.ctx.config.poll_transitional,
                })
            }
            Decision::Act { steps } => self.act(&client, steps, password.value).await,
            Decision::Differs { steps } => {
                let obs = observed.unwrap_or_default();
                let what: Vec<String> = steps.iter().map(|s| step_description(s, &obs)).collect();
                Ok(Outcome::Observed {
                    matches: false,
                    message: format!(
                        "observe-only: the cloud differs from the spec ({})",
                        what.join("; ")
                    ),
                })
            }
            Decision::Converged if observe_only => Ok(Outcome::Observed {
                matches: true,
                message: "observe-only: the cloud matches the spec".into(),
            }),
            Decision::Converged => {
                self.write_connection_secret(password.value.as_ref())
                    .await?;
                let paused = self.obj.spec.paused;
                Ok(Outcome::Converged {
                    reason: if paused { "Paused" } else { "Ready" },
                    message: if paused {
                        "the cluster is paused as requested".into()
                    } else {
                        format!(
                            "cluster {} is ACTIVE and matches the spec",
                            self.status.cluster_id.clone().unwrap_or_default()
                        )
                    },
                })
            }
        }
    }

    /// The API client for this object's credentials, or the outcome that explains why there is none.
    async fn client(&self) -> Result<Result<TidbCloudClient, Outcome>, Failure> {
        let (ns, name) = match &self.obj.spec.credentials {
            Some(c) => (self.ns.to_string(), c.secret_ref.name.clone()),
            None => self.ctx.config.default_credentials_ref(),
        };
        let public = core::secret_value(&self.ctx.kube, &ns, &name, "publicKey")
            .await
            .map_err(Failure::Kube)?;
        let private = core::secret_value(&self.ctx.kube, &ns, &name, "privateKey")
            .await
            .map_err(Failure::Kube)?;
        let (public, private) = match (public, private) {
            (Ok(p), Ok(k)) => (p, k),
            (Err(e), _) | (_, Err(e)) => {
                let message = format!(
                    "credentials unavailable: {e}; create it with keys publicKey and privateKey"
                );
                self.event(
                    EventType::Warning,
                    "CredentialsMissing",
                    "ReadCredentials",
                    message.clone(),
                )
                .await;
                return Ok(Err(Outcome::Stalled {
                    reason: "CredentialsMissing",
                    message,
                    requeue: Some(self.ctx.config.poll_credentials),
                }));
            }
        };
        let key = ApiKey {
            public_key: public.expose_secret().to_string(),
            private_key: private,
        };
        match self.ctx.clients.client_for(key) {
            Ok(c) => Ok(Ok(c)),
            Err(e) => {
                let message = format!("credentials Secret {ns}/{name} cannot be used: {e}");
                Ok(Err(Outcome::Stalled {
                    reason: "CredentialsRejected",
                    message,
                    requeue: Some(self.ctx.config.poll_credentials),
                }))
            }
        }
    }

    /// Reads the cloud cluster into `self.cluster` (by id, or by the recorded create intent).
    async fn observe(&mut self, client: &TidbCloudClient) -> Result<Option<Outcome>, Failure> {
        let adopted_id = self.obj.spec.cluster_id.clone().filter(|s| !s.is_empty());
        if let (Some(spec_id), Some(status_id)) = (&adopted_id, &self.status.cluster_id)
            && spec_id != status_id
        {
            let message = format!(
                "spec.clusterId {spec_id} differs from the cluster this resource already manages ({status_id}); \
                 remove spec.clusterId or recreate the resource to manage another cluster"
            );
            return Ok(Some(Outcome::Stalled {
                reason: "Conflict",
                message,
                requeue: None,
            }));
        }
        let id = self.status.cluster_id.clone().or(adopted_id.clone());
        if let Some(id) = id {
            match client.get_cluster(&id).await {
                Ok(c) => {
                    if c.region_id != self.obj.spec.region_id {
                        let message = format!(
                            "cluster {id} is in region {} but spec.regionId is {}; correct the spec",
                            c.region_id, self.obj.spec.region_id
                        );
                        return Ok(Some(Outcome::Stalled {
                            reason: "Conflict",
                            message,
                            requeue: None,
                        }));
                    }
                    if self.status.cluster_id.is_none() {
                        self.event(
                            EventType::Normal,
                            "Adopted",
                            "Adopt",
                            format!("adopted existing cluster {id} ({})", c.display_name),
                        )
                        .await;
                    }
                    self.record_cluster(&c);
                    self.cluster = Some(c);
                    return Ok(None);
                }
                Err(e) if e.is_not_found() => {
                    if adopted_id.as_deref() == Some(id.as_str()) {
                        let message = format!(
                            "cluster {id} named in spec.clusterId does not exist (or is not visible to these credentials); correct spec.clusterId"
                        );
                        self.event(
                            EventType::Warning,
                            "ClusterNotFound",
                            "Adopt",
                            message.clone(),
                        )
                        .await;
                        return Ok(Some(Outcome::Stalled {
                            reason: "ClusterNotFound",
                            message,
                            requeue: Some(self.ctx.config.poll_steady),
                        }));
                    }
                    self.event(
                        EventType::Warning,
                        "ClusterGone",
                        "Observe",
                        format!(
                            "cluster {id} no longer exists in TiDB Cloud; a new one will be created"
                        ),
                    )
                    .await;
                    self.status.cluster_id = None;
                    self.status.state = None;
                    self.status.endpoints.clear();
                    self.status.create_intent = None;
                    self.persist_status().await?;
                    return Ok(None);
                }
                Err(e) => return Err(Failure::cloud(e, "read the cluster")),
            }
        }
        // No id: was a create attempted whose answer we never saw?
        if let Some(intent) = self.status.create_intent.clone() {
            let found = self.find_created(client, &intent).await?;
            if let Some(c) = found {
                self.event(EventType::Normal, "Adopted", "Create", format!("found cluster {} created by an earlier attempt; adopting it instead of creating another", c.cluster_id)).await;
                self.record_cluster(&c);
                self.persist_status().await?;
                self.cluster = Some(c);
            }
        }
        Ok(None)
    }

    /// Looks for a cluster created by this key under `intent` (display name, project, since the intent).
    async fn find_created(
        &self,
        client: &TidbCloudClient,
        intent: &CreateIntent,
    ) -> Result<Option<Cluster>, Failure> {
        let clusters = client
            .list_all_clusters(intent.project_id.as_deref())
            .await
            .map_err(|e| Failure::cloud(e, "list clusters to find an earlier create"))?;
        let since = chrono::DateTime::parse_from_rfc3339(&intent.started_at)
            .ok()
            .map(|t| t - chrono::Duration::minutes(5));
        let mut candidates: Vec<Cluster> = clusters
            .into_iter()
            .filter(|c| c.display_name == intent.display_name)
            .filter(|c| translate::created_by_key(&c.created_by, client.key_id()))
            .filter(|c| c.state.as_str() != "DELETING")
            .filter(
                |c| match (since, chrono::DateTime::parse_from_rfc3339(&c.create_time)) {
                    (Some(since), Ok(created)) => created >= since,
                    _ => true,
                },
            )
            .collect();
        candidates.sort_by(|a, b| a.create_time.cmp(&b.create_time));
        if candidates.len() > 1 {
            tracing::warn!(object = %self.key, count = candidates.len(), "several clusters match the create intent; adopting the oldest");
        }
        Ok(candidates.into_iter().next())
    }

    fn record_cluster(&mut self, c: &Cluster) {
        self.status.cluster_id = Some(c.cluster_id.clone());
        self.status.state = Some(c.state.as_str().to_string());
        self.status.version = Some(c.version.clone()).filter(|v| !v.is_empty());
        self.status.display_name = Some(c.display_name.clone());
        self.status.endpoints = translate::endpoints(c);
        self.status.create_intent = None;
    }

    async fn create(
        &mut self,
        client: &TidbCloudClient,
        display_name: &str,
        password: Option<SecretString>,
    ) -> Result<Outcome, Failure> {
        // Record the intent first: after a crash or a lost answer, the next reconcile looks before creating.
        let started_at = self
            .status
            .create_intent
            .as_ref()
            .map(|i| i.started_at.clone())
            .unwrap_or_else(now_rfc3339);
        self.status.create_intent = Some(CreateIntent {
            display_name: display_name.to_string(),
            project_id: self.obj.spec.project_id.clone(),
            started_at,
        });
        let msg = "creating the cluster in TiDB Cloud";
        self.persist_status_with(&[
            Desired::new(READY, Status::False, "Creating", msg),
            Desired::new(RECONCILING, Status::True, "Creating", msg),
        ])
        .await?;
        self.write_connection_secret(password.as_ref()).await?;
        let req = translate::create_request(&self.obj.spec, display_name, password);
        let cluster = client
            .create_cluster(&req)
            .await
            .map_err(|e| Failure::cloud(e, "create the cluster"))?;
        self.record_cluster(&cluster);
        self.persist_status().await?;
        self.event(
            EventType::Normal,
            "Created",
            "Create",
            format!(
                "creating cluster {} ({display_name}) in {}",
                cluster.cluster_id, cluster.region_id
            ),
        )
        .await;
        self.cluster = Some(cluster);
        Ok(Outcome::Progressing {
            reason: "Creating",
            message: "the cluster is being created".into(),
            requeue: self.ctx.config.poll_transitional,
        })
    }

    async fn act(
        &mut self,
        client: &TidbCloudClient,
        steps: Vec<Step>,
        password: Option<SecretString>,
    ) -> Result<Outcome, Failure> {
        let Some(cluster) = self.cluster.clone() else {
            return Err(Failure::Internal("no observed cluster to act on"));
        };
        let id = cluster.cluster_id.clone();
        let observed = translate::observed(&cluster);
        let drift = self.status.observed_generation == self.obj.metadata.generation
            && conditions::is_true(&self.status.conditions, READY);
        let plan: Vec<&str> = steps.iter().map(Step::verb).collect();
        let step = &steps[0];
        let description = step_description(step, &observed);
        let (reason, updated) = match step {
            Step::Update(change) => {
                let req = translate::update_request(change);
                let c = client
                    .update_cluster(&id, &req)
                    .await
                    .map_err(|e| Failure::cloud(e, "update the cluster"))?;
                if drift {
                    self.event(EventType::Warning, "DriftCorrected", "Update", format!("the cluster was changed outside Kubernetes; restoring the spec: {description}")).await;
                } else {
                    self.event(EventType::Normal, "Updating", "Update", description.clone())
                        .await;
                }
                ("Updating", Some(c))
            }
            Step::Pause => {
                let c = client
                    .pause_cluster(&id)
                    .await
                    .map_err(|e| Failure::cloud(e, "pause the cluster"))?;
                self.event(
                    EventType::Normal,
                    "Pausing",
                    "Pause",
                    "pausing the cluster".into(),
                )
                .await;
                ("Pausing", Some(c))
            }
            Step::Resume => {
                let c = client
                    .resume_cluster(&id)
                    .await
                    .map_err(|e| Failure::cloud(e, "resume the cluster"))?;
                self.event(
                    EventType::Normal,
                    "Resuming",
                    "Resume",
                    "resuming the cluster".into(),
                )
                .await;
                ("Resuming", Some(c))
            }
            Step::ResetPassword => {
                let Some(pw) = password.as_ref() else {
                    return Err(Failure::Internal("no password to reset to"));
                };
                client
                    .reset_root_password(&id, pw)
                    .await
                    .map_err(|e| Failure::cloud(e, "reset the root password"))?;
                self.write_connection_secret(Some(pw)).await?;
                self.event(
                    EventType::Normal,
                    "PasswordReset",
                    "ResetPassword",
                    "root password reset to the value of the referenced Secret".into(),
                )
                .await;
                ("ResettingPassword", None)
            }
        };
        if let Some(c) = updated {
            self.record_cluster(&c);
            self.cluster = Some(c);
        }
        let message = if steps.len() > 1 {
            format!(
                "step 1 of {}: {description} (then {})",
                steps.len(),
                plan[1..].join(", ")
            )
        } else {
            description
        };
        Ok(Outcome::Progressing {
            reason,
            message,
            requeue: self.ctx.config.poll_transitional,
        })
    }

    // ---- passwords and the connection Secret ------------------------------------------------------------

    async fn connection_secret(&self) -> Result<Option<Secret>, Failure> {
        Api::<Secret>::namespaced(self.ctx.kube.clone(), self.ns)
            .get_opt(&self.obj.connection_secret_name())
            .await
            .map_err(Failure::Kube)
    }

    async fn desired_password(&self) -> Result<Result<DesiredPassword, Outcome>, Failure> {
        let current = self
            .connection_secret()
            .await?
            .as_ref()
            .and_then(|s| core::value_of(s, "password"));
        if let Some(r) = &self.obj.spec.root_password {
            let value = match core::secret_value(
                &self.ctx.kube,
                self.ns,
                &r.secret_ref.name,
                &r.secret_ref.key,
            )
            .await
            .map_err(Failure::Kube)?
            {
                Ok(v) => v,
                Err(e) => {
                    let message = format!("spec.rootPassword: {e}");
                    self.event(
                        EventType::Warning,
                        "PasswordSecretMissing",
                        "ReadPassword",
                        message.clone(),
                    )
                    .await;
                    return Ok(Err(Outcome::Stalled {
                        reason: "PasswordSecretMissing",
                        message,
                        requeue: None,
                    }));
                }
            };
            let len = value.expose_secret().chars().count();
            if !(8..=64).contains(&len) {
                let message = format!(
                    "spec.rootPassword: the value in Secret {} key {:?} must be 8 to 64 characters (it has {len})",
                    r.secret_ref.name, r.secret_ref.key
                );
                self.event(
                    EventType::Warning,
                    "InvalidSpec",
                    "ReadPassword",
                    message.clone(),
                )
                .await;
                return Ok(Err(Outcome::Stalled {
                    reason: "InvalidSpec",
                    message,
                    requeue: None,
                }));
            }
            let differs = current
                .as_ref()
                .is_none_or(|c| c.expose_secret() != value.expose_secret());
            return Ok(Ok(DesiredPassword {
                value: Some(value),
                differs: differs && self.has_cluster(),
            }));
        }
        if let Some(c) = current {
            return Ok(Ok(DesiredPassword {
                value: Some(c),
                differs: false,
            }));
        }
        if self.obj.spec.cluster_id.is_some() || self.obj.observe_only() {
            // An adopted cluster keeps its password unless spec.rootPassword says otherwise.
            return Ok(Ok(DesiredPassword {
                value: None,
                differs: false,
            }));
        }
        let generated = core::generate_password();
        Ok(Ok(DesiredPassword {
            value: Some(generated),
            differs: self.has_cluster(),
        }))
    }

    fn has_cluster(&self) -> bool {
        self.status.cluster_id.is_some() || self.obj.spec.cluster_id.is_some()
    }

    /// Writes the connection Secret (owned by the resource) when its content would change.
    async fn write_connection_secret(
        &self,
        password: Option<&SecretString>,
    ) -> Result<(), Failure> {
        if self.obj.observe_only() {
            return Ok(());
        }
        let name = self.obj.connection_secret_name();
        let existing = self.connection_secret().await?;
        let mut data: BTreeMap<String, ByteString> = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            data.insert(k.to_string(), ByteString(v.as_bytes().to_vec()));
        };
        put("username", "root");
        let pw = password.map(|p| p.expose_secret().to_string());
        if let Some(pw) = &pw {
            put("password", pw);
        }
        let endpoints = &self.status.endpoints;
        let port = self.obj.spec.port;
        for e in endpoints {
            let suffix = e.connection_type.to_ascii_lowercase().replace('_', "-");
            put(&format!("host-{suffix}"), &e.host);
            put(&format!("port-{suffix}"), &e.port.to_string());
            put(
                &format!("uri-{suffix}"),
                &mysql_uri(&e.host, e.port, pw.as_deref()),
            );
        }
        if let Some(e) = translate::primary_endpoint(endpoints) {
            put("host", &e.host);
            put("port", &e.port.to_string());
            put("uri", &mysql_uri(&e.host, e.port, pw.as_deref()));
        } else {
            put("port", &port.to_string());
        }
        if existing.as_ref().and_then(|s| s.data.as_ref()) == Some(&data)
            && existing.as_ref().is_some_and(|s| is_owned_by(s, self.obj))
        {
            return Ok(());
        }
        let owner = self.obj.controller_owner_ref(&()).ok_or(Failure::Internal(
            "object has no uid for an owner reference",
        ))?;
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.ns.to_string()),
                labels: Some([(CONNECTION_LABEL.to_string(), self.obj.name_any())].into()),
                owner_references: Some(vec![owner]),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(data),
            ..Default::default()
        };
        let mut value =
            serde_json::to_value(&secret).map_err(|e| Failure::Kube(kube::Error::SerdeError(e)))?;
        value["apiVersion"] = "v1".into();
        value["kind"] = "Secret".into();
        Api::<Secret>::namespaced(self.ctx.kube.clone(), self.ns)
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&value),
            )
            .await
            .map_err(Failure::Kube)?;
        Ok(())
    }

    // ---- deletion -----------------------------------------------------------------------------------------

    async fn cleanup(&mut self) -> Result<Action, ReconcileError> {
        match self.cleanup_inner().await {
            Ok(None) => {
                remove_finalizer(self.api, self.obj).await?;
                self.ctx.backoff.reset(&self.key);
                Ok(Action::await_change())
            }
            Ok(Some(outcome)) => self.finish(outcome).await,
            Err(Failure::Cloud(e, what)) => {
                let o = self.cloud_outcome(e, &what).await;
                self.finish(o).await
            }
            Err(f) => Err(f.into()),
        }
    }

    /// `Ok(None)` = done, the finalizer may go.
    async fn cleanup_inner(&mut self) -> Result<Option<Outcome>, Failure> {
        if self.obj.observe_only() {
            self.event(
                EventType::Normal,
                "Released",
                "Delete",
                "observe-only: the cloud cluster is left untouched".into(),
            )
            .await;
            return Ok(None);
        }
        let cascade = core::cascade_in_progress(&self.ctx.kube, self.ns, CRD_NAME)
            .await
            .map_err(Failure::Kube)?;
        let policy =
            core::effective_deletion_policy(self.obj.spec.deletion_policy.as_ref(), cascade);
        let id = self
            .status
            .cluster_id
            .clone()
            .or(self.obj.spec.cluster_id.clone());
        if policy == DeletionPolicy::Retain {
            self.retain_connection_secret(cascade).await?;
            let why = if self.obj.spec.deletion_policy.is_some() {
                "deletionPolicy is Retain"
            } else {
                "the deletion is a cascade (namespace or CRD being deleted) and deletionPolicy is unset"
            };
            self.event(
                EventType::Normal,
                "Retained",
                "Delete",
                format!(
                    "cluster {} left in TiDB Cloud: {why}",
                    id.clone().unwrap_or_else(|| "(none)".into())
                ),
            )
            .await;
            return Ok(None);
        }
        if id.is_none() && self.status.create_intent.is_none() {
            return Ok(None);
        }
        if self.obj.spec.deletion_protection {
            let message = "deletionProtection is true: the cloud cluster will not be deleted; set spec.deletionProtection to false (or deletionPolicy: Retain) to let the deletion finish".to_string();
            self.event(
                EventType::Warning,
                "DeletionProtected",
                "Delete",
                message.clone(),
            )
            .await;
            return Ok(Some(Outcome::Stalled {
                reason: "DeletionProtected",
                message,
                requeue: Some(self.ctx.config.poll_steady),
            }));
        }
        let client = match self.client().await? {
            Ok(c) => c,
            Err(outcome) => return Ok(Some(outcome)),
        };
        let cluster = match id {
            Some(id) => match client.get_cluster(&id).await {
                Ok(c) => Some(c),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(Failure::cloud(e, "read the cluster before deleting it")),
            },
            None => match self.status.create_intent.clone() {
                Some(intent) => self.find_created(&client, &intent).await?,
                None => None,
            },
        };
        let Some(cluster) = cluster else {
            self.event(
                EventType::Normal,
                "Deleted",
                "Delete",
                "the cloud cluster is gone".into(),
            )
            .await;
            return Ok(None);
        };
        self.record_cluster(&cluster);
        if cluster.state.as_str() != "DELETING" {
            let c = client.delete_cluster(&cluster.cluster_id).await;
            match c {
                Ok(c) => {
                    self.record_cluster(&c);
                    self.event(
                        EventType::Normal,
                        "Deleting",
                        "Delete",
                        format!("deleting cluster {}", c.cluster_id),
                    )
                    .await;
                }
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(Failure::cloud(e, "delete the cluster")),
            }
        }
        Ok(Some(Outcome::Progressing {
            reason: "Deleting",
            message: "waiting for TiDB Cloud to delete the cluster".into(),
            requeue: self.ctx.config.poll_transitional,
        }))
    }

    /// Keeps the connection Secret when the cloud cluster is retained: drops the owner reference so garbage
    /// collection leaves it; if the namespace itself is going away, copies it to the operator's namespace.
    async fn retain_connection_secret(&self, cascade: bool) -> Result<(), Failure> {
        let Some(secret) = self.connection_secret().await? else {
            return Ok(());
        };
        let secrets = Api::<Secret>::namespaced(self.ctx.kube.clone(), self.ns);
        let name = secret.name_any();
        let patch = serde_json::json!({"metadata": {"ownerReferences": null}});
        match secrets
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(e) => return Err(Failure::Kube(e)),
        }
        if cascade {
            let target_ns = self.ctx.config.operator_namespace.clone();
            let copy_name = retained_secret_name(self.ns, &name);
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
                            format!("{}/{}", self.ns, name),
                        )]
                        .into(),
                    ),
                    ..Default::default()
                },
                type_: secret.type_.clone(),
                data: secret.data.clone(),
                ..Default::default()
            };
            let mut value = serde_json::to_value(&copy)
                .map_err(|e| Failure::Kube(kube::Error::SerdeError(e)))?;
            value["apiVersion"] = "v1".into();
            value["kind"] = "Secret".into();
            Api::<Secret>::namespaced(self.ctx.kube.clone(), &target_ns)
                .patch(
                    &copy_name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&value),
                )
                .await
                .map_err(Failure::Kube)?;
            self.event(EventType::Normal, "ConnectionSecretRetained", "Delete", format!("namespace {} is being deleted: connection Secret copied to {target_ns}/{copy_name}", self.ns)).await;
        }
        Ok(())
    }

    // ---- status ---------------------------------------------------------------------------------------

    /// Maps a cloud error to an outcome (and an Event for the ones a user must act on).
    async fn cloud_outcome(&mut self, e: CloudError, what: &str) -> Outcome {
        let category = e.category();
        self.ctx.metrics.record_reconcile_error(KIND, category);
        match &e {
            CloudError::Unauthorized { .. } | CloudError::Forbidden { .. } => {
                let message = format!(
                    "TiDB Cloud rejected the credentials while trying to {what}: {e}; fix the credentials Secret"
                );
                self.event(
                    EventType::Warning,
                    "CredentialsRejected",
                    "Authenticate",
                    message.clone(),
                )
                .await;
                Outcome::Stalled {
                    reason: "CredentialsRejected",
                    message,
                    requeue: Some(self.ctx.config.poll_credentials),
                }
            }
            CloudError::RateLimited { retry_after, .. } => Outcome::Transient {
                reason: "Throttled",
                message: format!(
                    "rate limited by TiDB Cloud while trying to {what}; retrying in {}s",
                    retry_after.as_secs()
                ),
                requeue: *retry_after + Duration::from_millis(rand::random::<u64>() % 1000),
            },
            CloudError::InvalidArgument { .. } => {
                let message = format!("TiDB Cloud refused to {what}: {e}");
                self.event(
                    EventType::Warning,
                    "CloudRejected",
                    "Reconcile",
                    message.clone(),
                )
                .await;
                Outcome::Stalled {
                    reason: "InvalidSpec",
                    message,
                    requeue: Some(self.ctx.config.poll_steady),
                }
            }
            _ if e.is_transient() || e.is_not_found() || matches!(e, CloudError::Decode { .. }) => {
                let delay = if e.outcome_uncertain() {
                    Duration::from_secs(1)
                } else {
                    self.ctx.backoff.next(&self.key)
                };
                Outcome::Transient {
                    reason: "Retrying",
                    message: format!(
                        "could not {what}: {e}; retrying in {}s",
                        delay.as_secs().max(1)
                    ),
                    requeue: delay,
                }
            }
            _ => {
                let message = format!("could not {what}: {e}");
                self.event(EventType::Warning, category, "Reconcile", message.clone())
                    .await;
                Outcome::Stalled {
                    reason: "CloudError",
                    message,
                    requeue: Some(self.ctx.config.poll_steady),
                }
            }
        }
    }

    /// Writes status for `outcome` and returns the requeue action.
    async fn finish(&mut self, outcome: Outcome) -> Result<Action, ReconcileError> {
        let generation = self.obj.metadata.generation;
        let available = self.available();
        let previous_ready = conditions::find(&self.status.conditions, READY).cloned();
        let mut desired = Vec::new();
        let action = match outcome {
            Outcome::Converged { reason, message } => {
                self.ctx.backoff.reset(&self.key);
                self.status.observed_generation = generation;
                desired.push(Desired::new(READY, Status::True, reason, message));
                Action::requeue(jittered(self.ctx.config.poll_steady))
            }
            Outcome::Progressing {
                reason,
                message,
                requeue,
            } => {
                self.ctx.backoff.reset(&self.key);
                desired.push(Desired::new(READY, Status::False, reason, message.clone()));
                desired.push(Desired::new(RECONCILING, Status::True, reason, message));
                Action::requeue(requeue)
            }
            Outcome::Stalled {
                reason,
                message,
                requeue,
            } => {
                self.status.observed_generation = generation;
                desired.push(Desired::new(READY, Status::False, reason, message.clone()));
                desired.push(Desired::new(STALLED, Status::True, reason, message));
                requeue
                    .map(Action::requeue)
                    .unwrap_or_else(Action::await_change)
            }
            Outcome::Transient {
                reason,
                message,
                requeue,
            } => {
                match previous_ready {
                    Some(r) => desired.push(Desired {
                        type_: READY,
                        status: status_of(&r.status),
                        reason: r.reason,
                        message: r.message,
                    }),
                    None => {
                        desired.push(Desired::new(READY, Status::False, reason, message.clone()))
                    }
                }
                desired.push(Desired::new(RECONCILING, Status::True, reason, message));
                Action::requeue(requeue)
            }
            Outcome::Observed { matches, message } => {
                self.status.observed_generation = generation;
                // Observe-only never converges by writing: Ready reports what was observed (documented).
                let _ = matches;
                desired.push(Desired::new(READY, Status::True, "Observing", message));
                Action::requeue(jittered(self.ctx.config.poll_steady))
            }
        };
        if let Some(a) = available {
            desired.push(a);
        }
        self.persist_status_with(&desired).await?;
        Ok(action)
    }

    fn available(&self) -> Option<Desired> {
        let state = self.status.state.as_deref()?;
        let serving = SERVING_STATES.contains(&state);
        Some(Desired::new(
            AVAILABLE,
            serving.into(),
            if serving { "Available" } else { "NotAvailable" },
            format!("cluster state is {state}"),
        ))
    }

    /// Writes the status as it is now, keeping the existing conditions.
    async fn persist_status(&mut self) -> Result<(), Failure> {
        let status = self.status.clone();
        apply_status(self.api, self.obj, &status)
            .await
            .map_err(Failure::Kube)
    }

    /// Writes the status with `desired` conditions (managed types not listed are removed).
    async fn persist_status_with(&mut self, desired: &[Desired]) -> Result<(), Failure> {
        let now = k8s_openapi::jiff::Timestamp::now();
        let generation = self.obj.metadata.generation;
        self.status.conditions = conditions::merge(
            &self.status.conditions,
            desired,
            MANAGED_CONDITIONS,
            generation,
            now,
        );
        self.persist_status().await
    }

    async fn event(&self, type_: EventType, reason: &str, action: &str, note: String) {
        publish(&self.ctx.recorder, self.obj, type_, reason, action, note).await;
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

/// An error inside a reconcile step: cloud errors become conditions, Kubernetes errors go to the runtime.
#[derive(Debug)]
enum Failure {
    Kube(kube::Error),
    Cloud(CloudError, String),
    Internal(&'static str),
}

impl Failure {
    fn cloud(e: CloudError, what: &str) -> Failure {
        Failure::Cloud(e, what.to_string())
    }
}

struct DesiredPassword {
    value: Option<SecretString>,
    /// The cluster exists and its password must be reset to `value`.
    differs: bool,
}

fn status_of(s: &str) -> Status {
    match s {
        "True" => Status::True,
        "False" => Status::False,
        _ => Status::Unknown,
    }
}

fn wait_reason(state: &str) -> &'static str {
    match state {
        "CREATING" => "Creating",
        "MODIFYING" => "Updating",
        "PAUSING" => "Pausing",
        "RESUMING" => "Resuming",
        "DELETING" => "Deleting",
        "NotFound" => "NotFound",
        _ => "Progressing",
    }
}

fn step_description(step: &Step, observed: &decide::Observed) -> String {
    match step {
        Step::Update(change) => format!("update: {}", change.summary(observed)),
        other => other.verb().to_string(),
    }
}

fn is_owned_by(secret: &Secret, obj: &TidbCloudCluster) -> bool {
    let uid = obj.uid();
    secret
        .owner_references()
        .iter()
        .any(|o: &OwnerReference| Some(&o.uid) == uid.as_ref())
}

fn mysql_uri(host: &str, port: i32, password: Option<&str>) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    match password {
        Some(pw) => format!(
            "mysql://root:{}@{host}:{port}",
            utf8_percent_encode(pw, NON_ALPHANUMERIC)
        ),
        None => format!("mysql://root@{host}:{port}"),
    }
}

/// `retained-<ns>-<name>`, shortened with a hash when longer than a Secret name may be.
fn retained_secret_name(ns: &str, name: &str) -> String {
    let full = format!("retained-{ns}-{name}");
    if full.len() <= 253 {
        return full;
    }
    use sha2::Digest;
    let hash = sha2::Sha256::digest(full.as_bytes());
    let hex: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", &full[..240])
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
