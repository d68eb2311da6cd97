//! TidbCloudServerlessCluster on the one driver (`driver.rs`): how to connect (the TiDB Cloud key, shared with
//! Dedicated: one budget per key), read (the Serverless observer: one list per key), recognise what a lost
//! create made (the label `clouddb.dev/uid=<metadata.uid>`), converge (spec checks → desired password → pure
//! `decide` → one PATCH or the password → connection Secret), create and delete a Serverless cluster.
//!
//! Crash-safe create: the driver writes the intent (display name, time) to status before `POST /clusters`;
//! the cluster carries the uid label, and a generated root password is in the connection Secret before the
//! call. After a lost answer or a crash, a fresh list filtered by the uid label finds the cluster, which is
//! adopted instead of creating a second one.

pub mod decide;

use kube::ResourceExt;
use kube::runtime::events::EventType;
use secrecy::{ExposeSecret, SecretString};

use self::decide::{Decision, Flags, Step};
use super::core::{self, Base, Failure, Outcome};
use super::decision::{Plan, Seen};
use super::driver::{self, CloudKind, Flow, Next, OnGone, Policy, Stop};
use super::ownership::CloudIdKind;
use super::password::{self, DesiredPassword};
use crate::api::common::CloudResourceGonePolicy;
use crate::api::tidbcloudserverlesscluster::{
    ServerlessCreateIntent, TidbCloudServerlessCluster, TidbCloudServerlessClusterStatus,
};
use crate::cloud::CloudError;
use crate::conditions::{AVAILABLE, Desired, READY, RECONCILING, STALLED};
use crate::config::RunConfig;
use crate::providers::tidbcloud::client::TidbCloudClient;
use crate::providers::tidbcloud::serverless_models::{
    DELETED, DELETING, ServerlessCluster, UID_LABEL,
};
use crate::providers::tidbcloud::serverless_observe::Freshness;
use crate::providers::tidbcloud::{translate, translate_serverless};
use crate::reasons;

pub const KIND: &str = "TidbCloudServerlessCluster";
const CRD_NAME: &str = "tidbcloudserverlessclusters.clouddb.dev";
const MANAGED_CONDITIONS: &[&str] = &[READY, AVAILABLE, RECONCILING, STALLED];

/// The controller of the scope of `api`, with the scope's `shared` watches.
pub fn run(
    ctx: std::sync::Arc<super::Context>,
    api: kube::api::Api<TidbCloudServerlessCluster>,
    shared: &super::watch::Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> futures::future::BoxFuture<'static, ()> {
    driver::run::<TidbCloudServerlessCluster>(
        ctx,
        super::core::Primary::Own(Box::new(api)),
        shared,
        shutdown,
    )
}

type Run<'a> = Base<'a, TidbCloudServerlessCluster>;

impl CloudKind for TidbCloudServerlessCluster {
    type State = TidbCloudServerlessClusterStatus;
    type Client = TidbCloudClient;
    type Remote = ServerlessCluster;
    type Intent = ServerlessCreateIntent;
    /// The root password to create the cluster with.
    type CreateArgs = Option<SecretString>;

    const KIND: &'static str = KIND;
    const CRD_NAME: &'static str = CRD_NAME;
    const MANAGED: &'static [&'static str] = MANAGED_CONDITIONS;
    const NOUN: &'static str = "serverless cluster";
    const CLOUD: &'static str = "TiDB Cloud";
    const ADOPT_FIELD: Option<&'static str> = Some("clusterId");
    const ID_KIND: CloudIdKind = CloudIdKind::TidbServerlessCluster;
    const NAMESPACE_CREDENTIALS: Option<&'static str> =
        Some(crate::api::common::TIDBCLOUD_NAMESPACE_CREDENTIALS);

    fn spec_id(&self) -> Option<&str> {
        self.spec.cluster_id.as_deref()
    }
    fn status_id(status: &Self::State) -> Option<&str> {
        status.cluster_id.as_deref()
    }
    fn intent(status: &Self::State) -> Option<&ServerlessCreateIntent> {
        status.create_intent.as_ref()
    }
    fn set_intent(status: &mut Self::State, intent: ServerlessCreateIntent) {
        status.create_intent = Some(intent);
    }
    fn remote_id(c: &ServerlessCluster) -> &str {
        &c.cluster_id
    }
    fn record(status: &mut Self::State, c: &ServerlessCluster) {
        status.cluster_id = Some(c.cluster_id.clone());
        status.state = Some(c.state.clone());
        status.plan = Some(c.service_plan.clone()).filter(|p| !p.is_empty());
        status.version = Some(c.version.clone()).filter(|v| !v.is_empty());
        status.display_name = Some(c.display_name.clone());
        status.user_prefix = Some(c.user_prefix.clone()).filter(|p| !p.is_empty());
        if let Some(p) = c.public() {
            status.host = Some(p.host.clone()).filter(|h| !h.is_empty());
            status.port = Some(p.port).filter(|p| *p > 0);
        }
        status.create_intent = None;
    }
    fn forget(status: &mut Self::State) {
        *status = TidbCloudServerlessClusterStatus {
            conditions: std::mem::take(&mut status.conditions),
            observed_generation: status.observed_generation,
            ..Default::default()
        };
    }
    fn policy(&self) -> Policy {
        Policy {
            deletion: self.spec.deletion_policy,
            protected: self.spec.deletion_protection,
            on_gone: match self.spec.on_cloud_resource_gone.unwrap_or_default() {
                CloudResourceGonePolicy::Report => OnGone::Report,
                CloudResourceGonePolicy::Recreate => OnGone::Recreate,
            },
        }
    }
    fn drift_policy(&self) -> crate::api::common::DriftPolicy {
        self.spec.drift_policy.unwrap_or_default()
    }
    fn connection_secret_name(&self) -> Option<String> {
        Some(TidbCloudServerlessCluster::connection_secret_name(self))
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
    fn identity_conflict(&self, c: &ServerlessCluster) -> Option<String> {
        if c.region_id() != self.spec.region {
            return Some(format!(
                "serverless cluster {} is in region {} but spec.region is {}; correct the spec",
                c.cluster_id,
                c.region_id(),
                self.spec.region
            ));
        }
        let essential = c.cluster_plan.eq_ignore_ascii_case("ESSENTIAL");
        (essential != self.spec.auto_scaling.is_some()).then(|| {
            format!(
                "serverless cluster {} is a {} cluster but the spec asks for {} (spec.autoScaling makes a cluster \
                 Essential, spec.spendingLimit or neither Starter); correct the spec",
                c.cluster_id,
                if essential { "Essential" } else { "Starter" },
                if essential { "Starter" } else { "Essential" }
            )
        })
    }
    /// Labelled with our uid, with the intended name, not being deleted, created by this key.
    fn made_by(
        &self,
        intent: &ServerlessCreateIntent,
        c: &ServerlessCluster,
        key_id: &str,
    ) -> bool {
        let uid = self.uid().unwrap_or_default();
        !uid.is_empty()
            && c.labels.get(UID_LABEL) == Some(&uid)
            && c.display_name == intent.display_name
            && !matches!(c.state.as_str(), DELETING | DELETED)
            && translate::created_by_key(&c.created_by, key_id)
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
    ) -> Result<Option<ServerlessCluster>, CloudError> {
        let resting = run.status.state.as_deref() == Some(decide::ACTIVE)
            && run.obj.metadata.deletion_timestamp.is_none();
        let freshness = if resting {
            Freshness::Steady
        } else {
            Freshness::Transitional
        };
        run.ctx
            .providers
            .tidbcloud
            .serverless
            .cluster(client, id, freshness)
            .await
    }
    async fn candidates(
        run: &Run<'_>,
        client: &TidbCloudClient,
        _intent: &ServerlessCreateIntent,
    ) -> Result<Vec<ServerlessCluster>, CloudError> {
        let uid = run.obj.uid().unwrap_or_default();
        run.ctx
            .providers
            .tidbcloud
            .serverless
            .made_by_uid(client, &uid)
            .await
    }
    async fn converge(
        run: &mut Run<'_>,
        client: &TidbCloudClient,
        cluster: Option<ServerlessCluster>,
    ) -> Flow<Next<Self>> {
        converge(run, client, cluster).await
    }
    async fn create(
        run: &mut Run<'_>,
        client: &TidbCloudClient,
        password: Option<SecretString>,
    ) -> Flow<ServerlessCluster> {
        let uid = run.obj.uid().ok_or(Stop::Fail(Failure::Internal(
            "object has no uid to label the cluster with",
        )))?;
        // A generated password is stored before the create call: the only copy must never be lost.
        write_connection_secret(run, password.as_ref()).await?;
        let display_name = run.obj.effective_display_name();
        let req =
            translate_serverless::create_request(&run.obj.spec, &display_name, &uid, password);
        run.ctx
            .providers
            .tidbcloud
            .serverless_session(client)
            .create(&req)
            .await
            .map_err(driver::cloud("create the serverless cluster"))
    }
    async fn delete(
        run: &mut Run<'_>,
        client: &TidbCloudClient,
        cluster: ServerlessCluster,
    ) -> Flow<Option<Outcome>> {
        if !matches!(cluster.state.as_str(), DELETING | DELETED) {
            let session = run.ctx.providers.tidbcloud.serverless_session(client);
            match session.delete(&cluster.cluster_id).await {
                Ok(c) => {
                    Self::record(&mut run.status, &c);
                    let text = format!("deleting serverless cluster {}", c.cluster_id);
                    run.event(EventType::Normal, reasons::DELETING, "Delete", text)
                        .await;
                }
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(driver::cloud("delete the serverless cluster")(e)),
            }
        }
        Ok(Some(run.progressing(
            reasons::DELETING,
            "waiting for TiDB Cloud to delete the serverless cluster".into(),
        )))
    }
    fn before_finish(run: &mut Run<'_>, _outcome: &Outcome) -> Vec<Desired> {
        available(&run.status).into_iter().collect()
    }
}

/// Spec checks, desired password, pure decision, then one step.
async fn converge(
    run: &mut Run<'_>,
    client: &TidbCloudClient,
    cluster: Option<ServerlessCluster>,
) -> Flow<Next<TidbCloudServerlessCluster>> {
    let problems = decide::problems(&run.obj.spec);
    if !problems.is_empty() {
        return driver::report(Outcome::Stalled {
            reason: reasons::INVALID_SPEC,
            message: format!("the spec cannot be satisfied: {}", problems.join("; ")),
            requeue: None,
        });
    }
    // Observe-only, or writes held back by the driver (adoption review, drift report, plan).
    // A create is still decided under a plan (it shows it; the driver never makes it there).
    let observe_only = match cluster {
        Some(_) => run.writes_held(),
        None => run.obj.observe_only(),
    };
    let password = desired_password(run).await?;
    let display_name = run.obj.effective_display_name();
    let flags = Flags {
        password_differs: password.differs && cluster.is_some(),
        observe_only,
    };
    let seen = cluster.map(|c| Seen {
        view: translate_serverless::observed(&c),
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
            let intent = ServerlessCreateIntent {
                display_name,
                started_at,
            };
            return Ok(Next::Create(intent, password.value));
        }
        Decision::Wait { state } => {
            if !flags.password_differs {
                write_connection_secret(run, password.value.as_ref()).await?;
            }
            run.progressing(
                wait_reason(&state),
                format!("waiting for the serverless cluster to leave state {state}"),
            )
        }
        Decision::Act { plan, on } => act(run, client, on.remote, plan, password.value).await?,
        Decision::Differs { plan, .. } => run.observing(plan.iter().map(Step::describe).collect()),
        Decision::Converged if run.obj.observe_only() => core::observing(&[]),
        Decision::Converged => {
            write_connection_secret(run, password.value.as_ref()).await?;
            let id = run.status.cluster_id.clone().unwrap_or_default();
            core::converged(
                None,
                format!("serverless cluster {id} is ACTIVE and matches the spec"),
            )
        }
    };
    Ok(Next::Done(outcome))
}

/// Does `plan.now` to `cluster` (the rest follows in later reconciles).
async fn act(
    run: &mut Run<'_>,
    client: &TidbCloudClient,
    cluster: ServerlessCluster,
    plan: Plan<Step>,
    password: Option<SecretString>,
) -> Flow<Outcome> {
    let id = cluster.cluster_id.clone();
    let session = run.ctx.providers.tidbcloud.serverless_session(client);
    // This generation converged before: whatever differs now was changed outside Kubernetes.
    let drift = run.status.observed_generation == run.obj.metadata.generation;
    let step = &plan.now;
    let description = step.describe();
    let then: Vec<&str> = plan.then.iter().map(Step::verb).collect();
    match step {
        Step::Update(change) => {
            let uid = cluster.labels.get(UID_LABEL).map(String::as_str);
            let req = translate_serverless::patch_request(change, uid);
            let updated = session
                .update(&id, &req)
                .await
                .map_err(|e| Stop::Fail(Failure::cloud(e, &description)))?;
            <TidbCloudServerlessCluster as CloudKind>::record(&mut run.status, &updated);
            if drift {
                let text = format!(
                    "the serverless cluster was changed outside Kubernetes; restoring the spec: {description}"
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
        }
        Step::SetPassword => {
            let Some(pw) = password.as_ref() else {
                return Err(Stop::Fail(Failure::Internal("no password to set")));
            };
            session
                .set_password(&id, pw)
                .await
                .map_err(driver::cloud("set the root password"))?;
            write_connection_secret(run, Some(pw)).await?;
            run.event(
                EventType::Normal,
                reasons::PASSWORD_SET,
                "SetPassword",
                "the root password was set; the connection Secret holds it".into(),
            )
            .await;
        }
    }
    let reason = match step {
        Step::Update(_) => reasons::UPDATING,
        Step::SetPassword => reasons::SETTING_PASSWORD,
    };
    let message = if then.is_empty() {
        description
    } else {
        format!("{description} (then {})", then.join(", "))
    };
    Ok(run.progressing(reason, message))
}

// ---- passwords and the connection Secret ------------------------------------------------------------

fn secret<'a>(run: &Run<'a>) -> core::ConnectionSecret<'a, TidbCloudServerlessCluster> {
    run.connection(run.obj.connection_secret_name())
}

async fn desired_password(run: &Run<'_>) -> Flow<DesiredPassword> {
    let spec = &run.obj.spec;
    let source = password::Source {
        connection: run.obj.connection_secret_name(),
        reference: spec.root_password.as_ref().map(|r| &r.secret_ref),
        has_database: run.status.cluster_id.is_some() || spec.cluster_id.is_some(),
        keeps_its_own: spec.cluster_id.is_some() || run.obj.observe_only(),
    };
    password::desired(run, source).await
}

/// Writes the connection Secret (owned by the resource) when its content would change: `host`, `port`,
/// `username` (`<userPrefix>.root`), `password`, `uri`.
async fn write_connection_secret(
    run: &Run<'_>,
    password: Option<&SecretString>,
) -> Result<(), Failure> {
    if run.obj.observe_only() {
        return Ok(());
    }
    let status = &run.status;
    let mut data = core::SecretData::default();
    let user = status
        .user_prefix
        .as_ref()
        .map(|p| format!("{p}.root"))
        .unwrap_or_else(|| "root".into());
    data.put("username", &user);
    let pw = password.map(|p| p.expose_secret().to_string());
    if let Some(pw) = &pw {
        data.put("password", pw);
    }
    let port = status.port.unwrap_or(4000);
    data.put("port", &port.to_string());
    if let Some(host) = &status.host {
        data.put("host", host);
        data.put(
            "uri",
            &password::mysql_uri(&user, host, port, pw.as_deref()),
        );
    }
    secret(run).write(data.0).await
}

/// `Available`: the cluster serves connections (`ACTIVE`).
fn available(status: &TidbCloudServerlessClusterStatus) -> Option<Desired> {
    let state = status.state.as_deref()?;
    let serving = state == decide::ACTIVE;
    Some(Desired::new(
        AVAILABLE,
        serving.into(),
        if serving {
            reasons::AVAILABLE
        } else {
            reasons::NOT_AVAILABLE
        },
        format!("serverless cluster state is {state}"),
    ))
}

fn wait_reason(state: &str) -> &'static str {
    match state {
        "CREATING" | "RESTORING" => reasons::CREATING,
        DELETING | DELETED => reasons::DELETING,
        "NotFound" => reasons::NOT_FOUND,
        _ => reasons::PROGRESSING,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crd_name_matches_the_generated_crd_and_waits_name_the_transition() {
        use kube::CustomResourceExt;
        assert_eq!(
            TidbCloudServerlessCluster::crd().metadata.name.as_deref(),
            Some(CRD_NAME)
        );
        assert_eq!(wait_reason("CREATING"), reasons::CREATING);
        assert_eq!(wait_reason("DELETING"), reasons::DELETING);
    }
}
