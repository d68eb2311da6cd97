//! The TidbCloudCluster reconciler: finalizer → credentials → catalogue check → observe → decide (pure) → act
//! → connection Secret → status (server-side apply, one field manager).

pub mod decide;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use secrecy::{ExposeSecret, SecretString};

use self::decide::{Decision, Flags, Step};
use super::core::{self, Failure, Outcome, ReconcileError};
use crate::api::tidbcloudcluster::{CreateIntent, PlanProgress, TidbCloudCluster};
use crate::cloud::CloudError;
use crate::conditions::{AVAILABLE, Desired, READY, RECONCILING, STALLED};
use crate::providers::tidbcloud::client::TidbCloudClient;
use crate::providers::tidbcloud::models::Cluster;
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

/// Label on connection Secrets naming the resource they belong to.
pub use super::core::CONNECTION_LABEL;

crate::base_reconciler!(
    TidbCloudCluster,
    Run { cluster: None },
    default_credentials_ref,
    secrets_of
);

/// The Secrets a TidbCloudCluster reads besides its default credentials.
fn secrets_of(o: &TidbCloudCluster) -> Vec<String> {
    let s = &o.spec;
    s.credentials
        .iter()
        .map(|c| c.secret_ref.name.clone())
        .chain(s.root_password.iter().map(|p| p.secret_ref.name.clone()))
        .collect()
}

struct Run<'a> {
    base: core::Base<'a, TidbCloudCluster>,
    cluster: Option<Cluster>,
}

impl Run<'_> {
    // ---- apply ----------------------------------------------------------------------------------------

    /// Whether the cloud id is known (else the status is re-read before anything could create).
    fn cloud_id_known(&self) -> bool {
        self.status.cluster_id.is_some()
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
            .tidb_catalog
            .check(&client, &self.obj.spec)
            .await
            .map_err(|e| Failure::cloud(e, "read the region catalogue"))?;
        if !problems.is_empty() {
            let message = format!("the spec cannot be satisfied: {}", problems.join("; "));
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
                Ok(core::observing(&what))
            }
            Decision::Converged if observe_only => Ok(core::observing(&[])),
            Decision::Converged => {
                self.write_connection_secret(password.value.as_ref())
                    .await?;
                let paused = self.obj.spec.paused;
                let resting = paused.then_some(("Paused", "the cluster is paused as requested"));
                let id = self.status.cluster_id.clone().unwrap_or_default();
                let ready = format!("cluster {id} is ACTIVE and matches the spec");
                Ok(core::converged(resting, ready))
            }
        }
    }

    /// The API client for this object's credentials, or the outcome that explains why there is none.
    async fn client(&self) -> Result<Result<TidbCloudClient, Outcome>, Failure> {
        self.ctx
            .tidb_client(self.ns, self.obj.spec.credentials.as_ref())
            .await
            .map_err(Failure::Kube)
    }

    /// Reads the cloud cluster into `self.cluster` (by id, or by the recorded create intent).
    async fn observe(&mut self, client: &TidbCloudClient) -> Result<Option<Outcome>, Failure> {
        let adopted_id = self.obj.spec.cluster_id.clone().filter(|s| !s.is_empty());
        if let Some(conflict) = core::Base::<TidbCloudCluster>::adoption_conflict(
            adopted_id.as_ref(),
            self.status.cluster_id.as_ref(),
            "clusterId",
            "cluster",
        ) {
            return Ok(Some(conflict));
        }
        let id = self.status.cluster_id.clone().or(adopted_id.clone());
        if let Some(id) = id {
            match self.read_cluster(client, &id).await {
                Ok(Some(c)) => {
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
                    let first = self.status.cluster_id.is_none();
                    self.adopted(first, "cluster", &id, &c.display_name).await;
                    self.record_cluster(&c);
                    self.cluster = Some(c);
                    return Ok(None);
                }
                Ok(None) => {
                    if adopted_id.as_deref() == Some(id.as_str()) {
                        let message = format!(
                            "cluster {id} named in spec.clusterId does not exist (or is not visible to these credentials); correct spec.clusterId"
                        );
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
        let clusters = self
            .ctx
            .tidb_observer
            .list_fresh(client, intent.project_id.as_deref())
            .await
            .map_err(|e| Failure::cloud(e, "list clusters to find an earlier create"))?;
        let mut candidates: Vec<Cluster> = clusters
            .into_iter()
            .filter(|c| c.display_name == intent.display_name)
            .filter(|c| translate::created_by_key(&c.created_by, client.key_id()))
            .filter(|c| c.state.as_str() != "DELETING")
            .filter(|c| {
                core::created_since(
                    &c.create_time,
                    &intent.started_at,
                    chrono::Duration::minutes(5),
                )
            })
            .collect();
        candidates.sort_by(|a, b| a.create_time.cmp(&b.create_time));
        if candidates.len() > 1 {
            tracing::warn!(object = %self.key, count = candidates.len(), "several clusters match the create intent; adopting the oldest");
        }
        Ok(candidates.into_iter().next())
    }

    /// Reads a cluster through the shared observer (snapshot or GET); `None` = it does not exist.
    async fn read_cluster(
        &self,
        client: &TidbCloudClient,
        id: &str,
    ) -> Result<Option<Cluster>, CloudError> {
        self.ctx
            .tidb_observer
            .cluster(client, self.obj.spec.project_id.as_deref(), id)
            .await
    }

    /// After a write's answer: the write is done, and the cluster it returned is the freshest view of it.
    fn wrote_and_saw(&self, id: &str, c: &Cluster) {
        self.ctx.tidb_observer.wrote(id);
        self.ctx.tidb_observer.saw(c);
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
        let previous = self.status.create_intent.as_ref();
        let started_at = core::intent_started_at(previous.map(|i| i.started_at.as_str()));
        self.status.create_intent = Some(CreateIntent {
            display_name: display_name.to_string(),
            project_id: self.obj.spec.project_id.clone(),
            started_at,
        });
        self.persist_creating("creating the cluster in TiDB Cloud")
            .await?;
        self.write_connection_secret(password.as_ref()).await?;
        let req = translate::create_request(&self.obj.spec, display_name, password);
        let cluster = client
            .create_cluster(&req)
            .await
            .map_err(|e| Failure::cloud(e, "create the cluster"))?;
        self.ctx.tidb_observer.wrote(&cluster.cluster_id);
        self.ctx.tidb_observer.saw(&cluster);
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
        // Recorded before the call: a snapshot listed while the write is in flight must not answer for it.
        self.ctx.tidb_observer.wrote(&id);
        let observed = translate::observed(&cluster);
        // This generation converged before: whatever differs now was changed outside Kubernetes.
        let drift = self.status.observed_generation == self.obj.metadata.generation;
        let plan: Vec<&str> = steps.iter().map(Step::verb).collect();
        let step = &steps[0];
        let description = step_description(step, &observed);
        let (reason, updated) = match step {
            Step::Update(change) => {
                let req = translate::update_request(change);
                let c = client
                    .update_cluster(&id, &req)
                    .await
                    .inspect_err(|_| self.ctx.tidb_observer.wrote(&id))
                    .inspect(|c| self.wrote_and_saw(&id, c))
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
                    .inspect_err(|_| self.ctx.tidb_observer.wrote(&id))
                    .inspect(|c| self.wrote_and_saw(&id, c))
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
                    .inspect_err(|_| self.ctx.tidb_observer.wrote(&id))
                    .inspect(|c| self.wrote_and_saw(&id, c))
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
                    .inspect_err(|_| self.ctx.tidb_observer.wrote(&id))
                    .inspect(|_| self.ctx.tidb_observer.wrote(&id))
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
        let generation = self.obj.metadata.generation.unwrap_or_default();
        let (progress, message) =
            progress(self.status.plan.as_ref(), generation, &plan, description);
        self.status.plan = progress;
        Ok(Outcome::Progressing {
            reason,
            message,
            requeue: self.ctx.config.poll_transitional,
        })
    }

    // ---- passwords and the connection Secret ------------------------------------------------------------

    fn secret(&self) -> core::ConnectionSecret<'_, TidbCloudCluster> {
        self.connection(self.obj.connection_secret_name())
    }

    async fn connection_secret(&self) -> Result<Option<Secret>, Failure> {
        self.secret().get().await
    }

    async fn desired_password(&self) -> Result<Result<DesiredPassword, Outcome>, Failure> {
        let current = self
            .connection_secret()
            .await?
            .as_ref()
            .and_then(|s| core::value_of(s, "password"));
        if let Some(r) = &self.obj.spec.root_password {
            let value = match self
                .password_from(&r.secret_ref, "spec.rootPassword")
                .await?
            {
                Ok(v) => v,
                Err(stalled) => return Ok(Err(stalled)),
            };
            let len = value.expose_secret().chars().count();
            if !(8..=64).contains(&len) {
                let message = format!(
                    "spec.rootPassword: the value in Secret {} key {:?} must be 8 to 64 characters (it has {len})",
                    r.secret_ref.name, r.secret_ref.key
                );
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
        let mut data = core::SecretData::default();
        data.put("username", "root");
        let pw = password.map(|p| p.expose_secret().to_string());
        if let Some(pw) = &pw {
            data.put("password", pw);
        }
        let endpoints = &self.status.endpoints;
        let port = self.obj.spec.port;
        for e in endpoints {
            let suffix = e.connection_type.to_ascii_lowercase().replace('_', "-");
            data.put(&format!("host-{suffix}"), &e.host);
            data.put(&format!("port-{suffix}"), &e.port.to_string());
            data.put(
                &format!("uri-{suffix}"),
                &mysql_uri(&e.host, e.port, pw.as_deref()),
            );
        }
        if let Some(e) = translate::primary_endpoint(endpoints) {
            data.put("host", &e.host);
            data.put("port", &e.port.to_string());
            data.put("uri", &mysql_uri(&e.host, e.port, pw.as_deref()));
        } else {
            data.put("port", &port.to_string());
        }
        self.secret().write(data.0).await
    }

    // ---- deletion -----------------------------------------------------------------------------------------

    /// `Ok(None)` = done, the finalizer may go.
    async fn cleanup_inner(&mut self) -> Result<Option<Outcome>, Failure> {
        let id = self
            .status
            .cluster_id
            .clone()
            .or(self.obj.spec.cluster_id.clone());
        let spec = &self.obj.spec;
        let deletion = core::Deletion {
            observe_only: self.obj.observe_only(),
            policy: spec.deletion_policy.as_ref(),
            protected: spec.deletion_protection,
            id: id.as_deref(),
            create_pending: self.status.create_intent.is_some(),
            connection: self.obj.connection_secret_name(),
            noun: "cluster",
            cloud: "TiDB Cloud",
        };
        if let Some(done) = self.base.deletion_preamble(deletion).await? {
            return Ok(done);
        }
        let client = match self.client().await? {
            Ok(c) => c,
            Err(outcome) => return Ok(Some(outcome)),
        };
        let cluster = match id {
            Some(id) => self
                .read_cluster(&client, &id)
                .await
                .map_err(|e| Failure::cloud(e, "read the cluster before deleting it"))?,
            None => match self.status.create_intent.clone() {
                Some(intent) => self.find_created(&client, &intent).await?,
                None => None,
            },
        };
        let Some(cluster) = cluster else {
            if let Some(id) = &self.status.cluster_id {
                self.ctx.tidb_observer.forget(id);
            }
            return self.gone("cluster").await;
        };
        self.record_cluster(&cluster);
        if cluster.state.as_str() != "DELETING" {
            self.ctx.tidb_observer.wrote(&cluster.cluster_id);
            let c = client.delete_cluster(&cluster.cluster_id).await;
            self.ctx.tidb_observer.wrote(&cluster.cluster_id);
            match c {
                Ok(c) => {
                    self.ctx.tidb_observer.saw(&c);
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

    // ---- status ---------------------------------------------------------------------------------------

    /// Writes status for `outcome` (plus `Available`), publishes a Warning Event for a new stall, and returns
    /// the requeue action.
    async fn finish(&mut self, outcome: Outcome) -> Result<Action, ReconcileError> {
        if matches!(outcome, Outcome::Converged { .. }) {
            self.status.plan = None;
        }
        let extra = self.available().into_iter().collect();
        self.base.finish(outcome, extra).await
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
}

struct DesiredPassword {
    value: Option<SecretString>,
    /// The cluster exists and its password must be reset to `value`.
    differs: bool,
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

/// "step k of n" for a plan whose remaining steps are `plan` (`plan[0]` is being done now). `n` is fixed when
/// the plan for this generation is first made and kept in status.
fn progress(
    previous: Option<&PlanProgress>,
    generation: i64,
    plan: &[&str],
    description: String,
) -> (Option<PlanProgress>, String) {
    let remaining = plan.len() as i32;
    let total = match previous {
        Some(p) if p.generation == generation && p.total_steps >= remaining => p.total_steps,
        _ => remaining,
    };
    if total <= 1 {
        return (None, description);
    }
    let then = if plan.len() > 1 {
        format!(" (then {})", plan[1..].join(", "))
    } else {
        String::new()
    };
    let message = format!(
        "step {} of {total}: {description}{then}",
        total - remaining + 1
    );
    (
        Some(PlanProgress {
            generation,
            total_steps: total,
        }),
        message,
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_steps_across_reconciles_of_one_generation() {
        let (p, m) = progress(None, 7, &["resume", "update", "pause"], "resume".into());
        assert_eq!(m, "step 1 of 3: resume (then update, pause)");
        let (p, m) = progress(p.as_ref(), 7, &["update", "pause"], "update: TiDB".into());
        assert_eq!(m, "step 2 of 3: update: TiDB (then pause)");
        let (p, m) = progress(p.as_ref(), 7, &["pause"], "pause".into());
        assert_eq!(m, "step 3 of 3: pause");
        // A new generation starts a new plan; a single step needs no counter.
        let (p, m) = progress(p.as_ref(), 8, &["pause"], "pause".into());
        assert_eq!((p, m.as_str()), (None, "pause"));
    }

    #[test]
    fn uris_escape_passwords_and_retained_names_fit() {
        assert_eq!(
            mysql_uri("h", 4000, Some("a@b/c")),
            "mysql://root:a%40b%2Fc@h:4000"
        );
        assert_eq!(mysql_uri("h", 4000, None), "mysql://root@h:4000");
    }
}
