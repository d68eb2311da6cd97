//! TidbCloudCluster on the one driver (`driver.rs`): this module says how to connect, read, recognise what a
//! lost create made, converge (catalogue check → desired password → pure `decide` → one step → connection
//! Secret), create and delete a TiDB Cloud Dedicated cluster; the driver does the rest.

pub mod decide;

use kube::runtime::events::EventType;
use secrecy::{ExposeSecret, SecretString};

use self::decide::{Decision, Flags, Step};
use super::core::{self, Base, Failure, Outcome};
use super::decision::{Plan, Seen};
use super::driver::{self, CloudKind, Flow, Next, OnGone, Policy, Stop};
use super::ownership::CloudIdKind;
use super::password::{self, DesiredPassword};
use crate::api::common::CloudResourceGonePolicy;
use crate::api::tidbcloudcluster::{
    CreateIntent, PlanProgress, TidbCloudCluster, TidbCloudClusterStatus,
};
use crate::cloud::CloudError;
use crate::conditions::{AVAILABLE, Desired, READY, RECONCILING, STALLED};
use crate::config::RunConfig;
use crate::providers::tidbcloud::client::TidbCloudClient;
use crate::providers::tidbcloud::models::Cluster;
use crate::providers::tidbcloud::translate;
use crate::reasons;

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

/// The controller, on the scope's shared TidbCloudCluster watch (imports and integrations read it too).
pub fn run(
    ctx: std::sync::Arc<super::Context>,
    shared: &super::watch::Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> futures::future::BoxFuture<'static, ()> {
    let (events, store) = shared.clusters();
    driver::run::<TidbCloudCluster>(
        ctx,
        super::core::Primary::Shared(events, store),
        shared,
        shutdown,
    )
}

type Run<'a> = Base<'a, TidbCloudCluster>;

impl CloudKind for TidbCloudCluster {
    type State = TidbCloudClusterStatus;
    type Client = TidbCloudClient;
    type Remote = Cluster;
    type Intent = CreateIntent;
    /// The root password to create the cluster with.
    type CreateArgs = Option<SecretString>;

    const KIND: &'static str = KIND;
    const CRD_NAME: &'static str = CRD_NAME;
    const MANAGED: &'static [&'static str] = MANAGED_CONDITIONS;
    const NOUN: &'static str = "cluster";
    const CLOUD: &'static str = "TiDB Cloud";
    const ADOPT_FIELD: Option<&'static str> = Some("clusterId");
    const ID_KIND: CloudIdKind = CloudIdKind::TidbCluster;
    const NAMESPACE_CREDENTIALS: Option<&'static str> =
        Some(crate::api::common::TIDBCLOUD_NAMESPACE_CREDENTIALS);

    fn spec_id(&self) -> Option<&str> {
        self.spec.cluster_id.as_deref()
    }
    fn status_id(status: &Self::State) -> Option<&str> {
        status.cluster_id.as_deref()
    }
    fn intent(status: &Self::State) -> Option<&CreateIntent> {
        status.create_intent.as_ref()
    }
    fn set_intent(status: &mut Self::State, intent: CreateIntent) {
        status.create_intent = Some(intent);
    }
    fn remote_id(c: &Cluster) -> &str {
        &c.cluster_id
    }
    fn record(status: &mut Self::State, c: &Cluster) {
        status.cluster_id = Some(c.cluster_id.clone());
        status.state = Some(c.state.as_str().to_string());
        status.version = Some(c.version.clone()).filter(|v| !v.is_empty());
        status.display_name = Some(c.display_name.clone());
        status.endpoints = translate::endpoints(c);
        status.create_intent = None;
    }
    fn forget(status: &mut Self::State) {
        status.cluster_id = None;
        status.state = None;
        status.endpoints.clear();
        status.create_intent = None;
        status.plan = None;
    }
    fn policy(&self) -> Policy {
        Policy {
            deletion: self.spec.deletion_policy,
            protected: self.spec.deletion_protection,
            on_gone: on_gone(self.spec.on_cloud_resource_gone),
        }
    }
    fn drift_policy(&self) -> crate::api::common::DriftPolicy {
        self.spec.drift_policy.unwrap_or_default()
    }
    fn connection_secret_name(&self) -> Option<String> {
        Some(TidbCloudCluster::connection_secret_name(self))
    }
    fn default_credentials(config: &RunConfig) -> (String, String) {
        config.default_credentials_ref()
    }
    fn credentials_secret(&self) -> Option<&str> {
        self.spec
            .credentials
            .as_ref()
            .map(|c| c.secret_ref.name.as_str())
    }
    fn secrets_read(&self) -> Vec<String> {
        let s = &self.spec;
        s.credentials
            .iter()
            .map(|c| c.secret_ref.name.clone())
            .chain(s.root_password.iter().map(|p| p.secret_ref.name.clone()))
            .collect()
    }
    fn identity_conflict(&self, c: &Cluster) -> Option<String> {
        (c.region_id != self.spec.region_id).then(|| {
            format!(
                "cluster {} is in region {} but spec.regionId is {}; correct the spec",
                c.cluster_id, c.region_id, self.spec.region_id
            )
        })
    }
    fn made_by(&self, intent: &CreateIntent, c: &Cluster, key_id: &str) -> bool {
        c.display_name == intent.display_name
            && translate::created_by_key(&c.created_by, key_id)
            && c.state.as_str() != "DELETING"
            && core::created_since(
                &c.create_time,
                &intent.started_at,
                chrono::Duration::minutes(5),
            )
    }

    async fn connect(run: &Run<'_>) -> Flow<TidbCloudClient> {
        let credentials = run.obj.spec.credentials.as_ref();
        run.ctx
            .connect(&run.ctx.providers.tidbcloud, run.ns, credentials)
            .await?
            .map_err(Stop::Report)
    }
    fn key_id(client: &TidbCloudClient) -> String {
        client.key_id().to_string()
    }
    async fn read(
        run: &Run<'_>,
        client: &TidbCloudClient,
        id: &str,
    ) -> Result<Option<Cluster>, CloudError> {
        run.ctx
            .providers
            .tidbcloud
            .observer
            .cluster(client, run.obj.spec.project_id.as_deref(), id)
            .await
    }
    async fn candidates(
        run: &Run<'_>,
        client: &TidbCloudClient,
        intent: &CreateIntent,
    ) -> Result<Vec<Cluster>, CloudError> {
        run.ctx
            .providers
            .tidbcloud
            .observer
            .list_fresh(client, intent.project_id.as_deref())
            .await
    }
    async fn converge(
        run: &mut Run<'_>,
        client: &TidbCloudClient,
        cluster: Option<Cluster>,
    ) -> Flow<Next<Self>> {
        converge(run, client, cluster).await
    }
    async fn create(
        run: &mut Run<'_>,
        client: &TidbCloudClient,
        password: Option<SecretString>,
    ) -> Flow<Cluster> {
        // A generated password is stored before the create call: the only copy must never be lost.
        write_connection_secret(run, password.as_ref()).await?;
        let display_name = run.obj.effective_display_name();
        let req = translate::create_request(&run.obj.spec, &display_name, password);
        let cluster = run
            .ctx
            .providers
            .tidbcloud
            .session(client)
            .create_cluster(&req)
            .await
            .map_err(driver::cloud("create the cluster"))?;
        Ok(cluster)
    }
    fn deletion_writes(cluster: &Cluster) -> bool {
        cluster.state.as_str() != "DELETING"
    }
    async fn delete(
        run: &mut Run<'_>,
        client: &TidbCloudClient,
        cluster: Cluster,
    ) -> Flow<Option<Outcome>> {
        if cluster.state.as_str() != "DELETING" {
            let session = run.ctx.providers.tidbcloud.session(client);
            match session.delete_cluster(&cluster.cluster_id).await {
                Ok(c) => {
                    Self::record(&mut run.status, &c);
                    let text = format!("deleting cluster {}", c.cluster_id);
                    run.event(EventType::Normal, reasons::DELETING, "Delete", text)
                        .await;
                }
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(driver::cloud("delete the cluster")(e)),
            }
        }
        Ok(Some(run.progressing(
            reasons::DELETING,
            "waiting for TiDB Cloud to delete the cluster".into(),
        )))
    }
    fn forget_observed(ctx: &super::Context, id: &str) {
        ctx.providers.tidbcloud.observer.forget(id);
    }
    fn before_finish(run: &mut Run<'_>, outcome: &Outcome) -> Vec<Desired> {
        if matches!(outcome, Outcome::Converged { .. }) {
            run.status.plan = None;
        }
        available(&run.status).into_iter().collect()
    }
}

fn on_gone(p: Option<CloudResourceGonePolicy>) -> OnGone {
    match p.unwrap_or_default() {
        CloudResourceGonePolicy::Report => OnGone::Report,
        CloudResourceGonePolicy::Recreate => OnGone::Recreate,
    }
}

/// Catalogue check, desired password, pure decision, then one step.
async fn converge(
    run: &mut Run<'_>,
    client: &TidbCloudClient,
    cluster: Option<Cluster>,
) -> Flow<Next<TidbCloudCluster>> {
    // Observe-only, or writes held back by the driver (adoption review, drift report, plan).
    // A create is still decided under a plan (it shows it; the driver never makes it there).
    let observe_only = match cluster {
        Some(_) => run.writes_held(),
        None => run.obj.observe_only(),
    };
    // The spec against the catalogue (no cloud writes for an impossible spec).
    let problems = run
        .ctx
        .providers
        .tidbcloud
        .catalog
        .check(client, &run.obj.spec)
        .await
        .map_err(driver::cloud("read the region catalogue"))?;
    if !problems.is_empty() {
        let message = format!("the spec cannot be satisfied: {}", problems.join("; "));
        return driver::report(Outcome::Stalled {
            reason: reasons::INVALID_SPEC,
            message,
            requeue: None,
        });
    }
    let password = desired_password(run).await?;
    let display_name = run.obj.effective_display_name();
    let flags = Flags {
        password_differs: password.differs,
        observe_only,
    };
    let public_endpoint = public_endpoint(run, client, cluster.as_ref()).await?;
    let seen = cluster.map(|c| Seen {
        view: decide::Observed {
            public_endpoint,
            ..translate::observed(&c)
        },
        remote: c,
    });
    let decision = decide::decide(&run.obj.spec, &display_name, seen, flags);
    tracing::debug!(object = %run.key, ?decision, "decided");
    let outcome = match decision {
        Decision::Create => {
            let started_at = core::intent_started_at(
                run.status
                    .create_intent
                    .as_ref()
                    .map(|i| i.started_at.as_str()),
            );
            let intent = CreateIntent {
                display_name,
                project_id: run.obj.spec.project_id.clone(),
                started_at,
            };
            return Ok(Next::Create(intent, password.value));
        }
        Decision::Wait { state } => {
            write_connection_secret(run, password.value.as_ref()).await?;
            Outcome::Progressing {
                reason: wait_reason(&state),
                message: format!("waiting for the cluster to leave state {state}"),
                requeue: run.ctx.config.poll_transitional,
            }
        }
        Decision::Act { plan, on } => act(run, client, on, plan, password.value).await?,
        Decision::Differs { plan, on } => {
            let what: Vec<String> = plan.iter().map(|s| step_description(s, &on.view)).collect();
            run.observing(what)
        }
        Decision::Converged if run.obj.observe_only() => core::observing(&[]),
        Decision::Converged => {
            write_connection_secret(run, password.value.as_ref()).await?;
            let resting = run
                .obj
                .spec
                .paused
                .then_some((reasons::PAUSED, "the cluster is paused as requested"));
            let id = run.status.cluster_id.clone().unwrap_or_default();
            let ready = format!("cluster {id} is ACTIVE and matches the spec");
            core::converged(resting, ready)
        }
    };
    Ok(Next::Done(outcome))
}

/// The default group's public endpoint setting (one GET per reconcile: the cluster list does not carry it), read
/// only while spec.publicEndpoint is set and the cluster is ACTIVE or PAUSED; recorded in status.
async fn public_endpoint(
    run: &mut Run<'_>,
    client: &TidbCloudClient,
    cluster: Option<&Cluster>,
) -> Flow<Option<decide::PublicEndpointObserved>> {
    let Some(c) = cluster.filter(|_| run.obj.spec.public_endpoint.is_some()) else {
        run.status.public_endpoint = None;
        return Ok(None);
    };
    if !matches!(c.state.as_str(), decide::ACTIVE | decide::PAUSED) {
        return Ok(None);
    }
    let setting = client
        .get_public_endpoint_setting(&c.cluster_id)
        .await
        .map_err(driver::cloud("read the public endpoint setting"))?;
    let observed = translate::public_endpoint_observed(&setting);
    run.status.public_endpoint = Some(translate::public_endpoint_status(&observed));
    Ok(Some(observed))
}

/// Performs `plan.now` on the cluster (the rest follows in later reconciles).
async fn act(
    run: &mut Run<'_>,
    client: &TidbCloudClient,
    seen: Seen<decide::Observed, Cluster>,
    plan: Plan<Step>,
    password: Option<SecretString>,
) -> Flow<Outcome> {
    let Seen {
        view: observed,
        remote: cluster,
    } = seen;
    let id = cluster.cluster_id.clone();
    // Each write is recorded before the call (a snapshot listed while it is in flight must not answer for the
    // cluster) and after it; the cluster it returns is the freshest view of it.
    let session = run.ctx.providers.tidbcloud.session(client);
    // This generation converged before: whatever differs now was changed outside Kubernetes.
    let drift = run.status.observed_generation == run.obj.metadata.generation;
    let verbs: Vec<&str> = plan.iter().map(Step::verb).collect();
    let step = &plan.now;
    let description = step_description(step, &observed);
    let (reason, updated) = match step {
        Step::Update(change) => {
            let req = translate::update_request(change);
            let c = session
                .update_cluster(&id, &req)
                .await
                .map_err(driver::cloud("update the cluster"))?;
            if drift {
                let text = format!(
                    "the cluster was changed outside Kubernetes; restoring the spec: {description}"
                );
                run.event(EventType::Warning, reasons::DRIFT_CORRECTED, "Update", text)
                    .await;
            } else {
                run.event(
                    EventType::Normal,
                    reasons::UPDATING,
                    "Update",
                    description.clone(),
                )
                .await;
            }
            (reasons::UPDATING, Some(c))
        }
        Step::PublicEndpoint(change) => {
            let req = translate::public_endpoint_request(&change.wanted);
            let setting = session
                .update_public_endpoint_setting(&id, &req)
                .await
                .map_err(driver::cloud("update the public endpoint setting"))?;
            let observed = translate::public_endpoint_observed(&setting);
            run.status.public_endpoint = Some(translate::public_endpoint_status(&observed));
            if drift {
                let text = format!(
                    "the public endpoint was changed outside Kubernetes; restoring the spec: {description}"
                );
                run.event(EventType::Warning, reasons::DRIFT_CORRECTED, "Update", text)
                    .await;
            } else {
                run.event(
                    EventType::Normal,
                    reasons::UPDATING,
                    "Update",
                    description.clone(),
                )
                .await;
            }
            (reasons::UPDATING, None)
        }
        Step::Pause => {
            let c = session
                .pause_cluster(&id)
                .await
                .map_err(driver::cloud("pause the cluster"))?;
            run.event(
                EventType::Normal,
                reasons::PAUSING,
                "Pause",
                "pausing the cluster".into(),
            )
            .await;
            (reasons::PAUSING, Some(c))
        }
        Step::Resume => {
            let c = session
                .resume_cluster(&id)
                .await
                .map_err(driver::cloud("resume the cluster"))?;
            run.event(
                EventType::Normal,
                reasons::RESUMING,
                "Resume",
                "resuming the cluster".into(),
            )
            .await;
            (reasons::RESUMING, Some(c))
        }
        Step::ResetPassword => {
            let Some(pw) = password.as_ref() else {
                return Err(Stop::Fail(Failure::Internal("no password to reset to")));
            };
            session
                .reset_root_password(&id, pw)
                .await
                .map_err(driver::cloud("reset the root password"))?;
            write_connection_secret(run, Some(pw)).await?;
            run.event(
                EventType::Normal,
                reasons::PASSWORD_RESET,
                "ResetPassword",
                "root password reset to the value of the referenced Secret".into(),
            )
            .await;
            (reasons::RESETTING_PASSWORD, None)
        }
    };
    if let Some(c) = updated {
        <TidbCloudCluster as CloudKind>::record(&mut run.status, &c);
    }
    let generation = run.obj.metadata.generation.unwrap_or_default();
    let (progress, message) = progress(run.status.plan.as_ref(), generation, &verbs, description);
    run.status.plan = progress;
    Ok(Outcome::Progressing {
        reason,
        message,
        requeue: run.ctx.config.poll_transitional,
    })
}

// ---- passwords and the connection Secret ------------------------------------------------------------

fn secret<'a>(run: &Run<'a>) -> core::ConnectionSecret<'a, TidbCloudCluster> {
    run.connection(run.obj.connection_secret_name())
}

async fn desired_password(run: &Run<'_>) -> Flow<DesiredPassword> {
    let spec = &run.obj.spec;
    let source = password::Source {
        connection: run.obj.connection_secret_name(),
        reference: spec.root_password.as_ref().map(|r| &r.secret_ref),
        has_database: run.status.cluster_id.is_some() || spec.cluster_id.is_some(),
        // An adopted cluster keeps its password unless spec.rootPassword says otherwise.
        keeps_its_own: spec.cluster_id.is_some() || run.obj.observe_only(),
    };
    password::desired(run, source).await
}

/// Writes the connection Secret (owned by the resource) when its content would change.
async fn write_connection_secret(
    run: &Run<'_>,
    password: Option<&SecretString>,
) -> Result<(), Failure> {
    if run.obj.observe_only() {
        return Ok(());
    }
    let mut data = core::SecretData::default();
    data.put("username", "root");
    let pw = password.map(|p| p.expose_secret().to_string());
    if let Some(pw) = &pw {
        data.put("password", pw);
    }
    let endpoints = &run.status.endpoints;
    let port = run.obj.spec.port;
    for e in endpoints {
        let suffix = e.connection_type.to_ascii_lowercase().replace('_', "-");
        data.put(&format!("host-{suffix}"), &e.host);
        data.put(&format!("port-{suffix}"), &e.port.to_string());
        data.put(
            &format!("uri-{suffix}"),
            &password::mysql_uri("root", &e.host, e.port, pw.as_deref()),
        );
    }
    if let Some(e) = translate::primary_endpoint(endpoints) {
        data.put("host", &e.host);
        data.put("port", &e.port.to_string());
        data.put(
            "uri",
            &password::mysql_uri("root", &e.host, e.port, pw.as_deref()),
        );
    } else {
        data.put("port", &port.to_string());
    }
    secret(run).write(data.0).await
}

fn available(status: &TidbCloudClusterStatus) -> Option<Desired> {
    let state = status.state.as_deref()?;
    let serving = SERVING_STATES.contains(&state);
    Some(Desired::new(
        AVAILABLE,
        serving.into(),
        if serving {
            reasons::AVAILABLE
        } else {
            reasons::NOT_AVAILABLE
        },
        format!("cluster state is {state}"),
    ))
}

fn wait_reason(state: &str) -> &'static str {
    match state {
        "CREATING" => reasons::CREATING,
        "MODIFYING" => reasons::UPDATING,
        "PAUSING" => reasons::PAUSING,
        "RESUMING" => reasons::RESUMING,
        "DELETING" => reasons::DELETING,
        "NotFound" => reasons::NOT_FOUND,
        _ => reasons::PROGRESSING,
    }
}

fn step_description(step: &Step, observed: &decide::Observed) -> String {
    match step {
        Step::Update(change) => format!("update: {}", change.summary(observed)),
        Step::PublicEndpoint(change) => change.summary(),
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
}
