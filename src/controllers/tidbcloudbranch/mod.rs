//! TidbCloudBranch on the one driver (`driver.rs`): this module says how to connect (the referenced
//! TidbCloudServerlessCluster or the cluster id, the credentials, and that cluster's branches from one list per
//! cluster shared by its branches (`BranchObserver`) — no GET per branch), read a branch and list what a lost create may have made (both from that
//! list), converge (spec checks → the wanted root password → pure `decide` → one `:reset` or one password
//! PATCH → the connection Secret), create and delete a branch; the driver does the rest.
//!
//! Crash-safe create: the driver writes the intent (cluster, display name, time) to status before
//! `POST /clusters/{clusterId}/branches`; the branch carries the annotation `clouddb.dev/uid=<metadata.uid>`,
//! and a generated root password is in the connection Secret before the call. After a lost answer or a crash,
//! the cluster's fresh branch list filtered by that annotation (and name, and key) finds the branch, which is
//! adopted instead of creating a second one.
//!
//! Reset: `spec.resetRequest` is a counter; when it exceeds `status.lastResetRequest` the value is recorded in
//! status **before** the one `:reset` call (at most once: a crash after the record never resets twice), and put
//! back if TiDB Cloud definitely refused the call.

pub mod decide;

use std::collections::BTreeMap;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::events::EventType;
use secrecy::{ExposeSecret, SecretString};

use self::decide::{Decision, Facts};
use super::core::{self, Base, Failure, Outcome};
use super::driver::{self, CloudKind, Flow, Next, OnGone, Policy, Stop};
use super::ownership::CloudIdKind;
use super::password;
use crate::api::common::CredentialsSpec;
use crate::api::tidbcloudbranch::{BranchCreateIntent, TidbCloudBranch, TidbCloudBranchStatus};
use crate::api::tidbcloudserverlesscluster::TidbCloudServerlessCluster;
use crate::cloud::CloudError;
use crate::cloud::writes::recorded;
use crate::conditions::{READY, RECONCILING, STALLED};
use crate::config::RunConfig;
use crate::providers::tidbcloud::client::TidbCloudClient;
use crate::providers::tidbcloud::serverless_branch::{
    ACTIVE, Branch, BranchObserver, CREATING, CreateBranch, DELETED, RESTORING,
};
use crate::providers::tidbcloud::serverless_models::UID_LABEL;
use crate::reasons;

pub const KIND: &str = "TidbCloudBranch";
const CRD_NAME: &str = "tidbcloudbranches.clouddb.dev";
const MANAGED_CONDITIONS: &[&str] = &[READY, RECONCILING, STALLED];

/// The controller of the scope of `api`, with the scope's `shared` watches. A branch waiting for its cluster
/// polls (the transitional interval) until the cluster is Ready.
pub fn run(
    ctx: std::sync::Arc<super::Context>,
    api: Api<TidbCloudBranch>,
    shared: &super::watch::Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> futures::future::BoxFuture<'static, ()> {
    driver::run::<TidbCloudBranch>(ctx, core::Primary::Own(Box::new(api)), shared, shutdown)
}

type Run<'a> = Base<'a, TidbCloudBranch>;

/// What one reconcile works with: the client, the cluster worked on and its branches (the shared list, fresh
/// enough for this branch; see [`max_age`]).
pub struct Connected {
    client: TidbCloudClient,
    /// The cloud cluster; `None` while nothing exists and the referenced cluster is not Ready (`waiting` says
    /// why).
    cluster_id: Option<String>,
    waiting: String,
    branches: std::sync::Arc<Vec<Branch>>,
}

impl CloudKind for TidbCloudBranch {
    type State = TidbCloudBranchStatus;
    type Client = Connected;
    type Remote = Branch;
    type Intent = BranchCreateIntent;
    /// The root password to create the branch with.
    type CreateArgs = Option<SecretString>;

    const KIND: &'static str = KIND;
    const CRD_NAME: &'static str = CRD_NAME;
    const MANAGED: &'static [&'static str] = MANAGED_CONDITIONS;
    const NOUN: &'static str = "branch";
    const CLOUD: &'static str = "TiDB Cloud";
    /// A branch is never adopted by id.
    const ADOPT_FIELD: Option<&'static str> = None;
    const ID_KIND: CloudIdKind = CloudIdKind::TidbBranch;
    const NAMESPACE_CREDENTIALS: Option<&'static str> =
        Some(crate::api::common::TIDBCLOUD_NAMESPACE_CREDENTIALS);

    fn spec_id(&self) -> Option<&str> {
        None
    }
    fn status_id(status: &Self::State) -> Option<&str> {
        status.branch_id.as_deref()
    }
    fn intent(status: &Self::State) -> Option<&BranchCreateIntent> {
        status.create_intent.as_ref()
    }
    fn set_intent(status: &mut Self::State, intent: BranchCreateIntent) {
        status.create_intent = Some(intent);
    }
    fn remote_id(b: &Branch) -> &str {
        &b.branch_id
    }
    /// Also the reset request the branch was created under, when a create intent led to it.
    fn record(status: &mut Self::State, b: &Branch) {
        if let Some(intent) = status.create_intent.take() {
            status.last_reset_request = Some(intent.reset_request);
        }
        status.branch_id = Some(b.branch_id.clone());
        status.cluster_id = Some(b.cluster_id.clone()).filter(|c| !c.is_empty());
        status.state = Some(b.state.clone());
        status.parent_id = Some(b.parent_id.clone()).filter(|p| !p.is_empty());
        status.parent_timestamp = b.parent_timestamp.clone().filter(|t| !t.is_empty());
        status.user_prefix = Some(b.user_prefix.clone()).filter(|p| !p.is_empty());
        if let Some(p) = b.public() {
            status.host = Some(p.host.clone()).filter(|h| !h.is_empty());
            status.port = Some(p.port).filter(|p| *p > 0);
        }
    }
    /// Keeps `clusterId`.
    fn forget(status: &mut Self::State) {
        *status = TidbCloudBranchStatus {
            conditions: std::mem::take(&mut status.conditions),
            observed_generation: status.observed_generation,
            cluster_id: status.cluster_id.take(),
            ..Default::default()
        };
    }
    fn policy(&self) -> Policy {
        Policy {
            deletion: self.spec.deletion_policy,
            protected: false,
            on_gone: OnGone::Report,
        }
    }
    /// Branches have no observe-only mode.
    fn observe_only(&self) -> bool {
        false
    }
    fn connection_secret_name(&self) -> Option<String> {
        Some(TidbCloudBranch::connection_secret_name(self))
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
    fn made_by(&self, intent: &BranchCreateIntent, b: &Branch, key_id: &str) -> bool {
        let uid = self.uid().unwrap_or_default();
        decide::made_by(&uid, &intent.cluster_id, &intent.display_name, b, key_id)
    }

    async fn connect(run: &Run<'_>) -> Flow<Connected> {
        connect(run).await
    }
    fn key_id(c: &Connected) -> String {
        c.client.key_id().to_string()
    }
    /// From this reconcile's list; a `DELETED` branch is gone.
    async fn read(_: &Run<'_>, c: &Connected, id: &str) -> Result<Option<Branch>, CloudError> {
        Ok(c.branches
            .iter()
            .find(|b| b.branch_id == id && b.state != DELETED)
            .cloned())
    }
    /// This reconcile's list (taken fresh in `connect`).
    async fn candidates(
        _: &Run<'_>,
        c: &Connected,
        _: &BranchCreateIntent,
    ) -> Result<Vec<Branch>, CloudError> {
        Ok(c.branches.to_vec())
    }
    async fn converge(
        run: &mut Run<'_>,
        c: &Connected,
        observed: Option<Branch>,
    ) -> Flow<Next<Self>> {
        converge(run, c, observed).await
    }
    async fn create(
        run: &mut Run<'_>,
        c: &Connected,
        password: Option<SecretString>,
    ) -> Flow<Branch> {
        let cluster_id = run
            .status
            .create_intent
            .as_ref()
            .map(|i| i.cluster_id.clone())
            .ok_or(Stop::Fail(Failure::Internal("no create intent to create")))?;
        let uid = run.obj.uid().ok_or(Stop::Fail(Failure::Internal(
            "object has no uid to annotate the branch with",
        )))?;
        // A generated password is stored before the create call: the only copy must never be lost.
        write_connection_secret(run, password.as_ref()).await?;
        let spec = &run.obj.spec;
        let req = CreateBranch {
            display_name: run.obj.effective_display_name(),
            parent_id: spec.parent_branch_id.clone(),
            parent_timestamp: spec.parent_timestamp.clone(),
            root_password: password,
            annotations: BTreeMap::from([(UID_LABEL.to_string(), uid)]),
        };
        let call = c.client.create_branch(&cluster_id, &req);
        match recorded(observer(run), &cluster_id, call).await {
            Ok(b) => Ok(b),
            Err(e) => {
                // A definite refusal made nothing: forget the intent (nothing to look for).
                if !e.outcome_uncertain() {
                    run.status.create_intent = None;
                    run.persist_status().await?;
                }
                Err(driver::cloud("create the branch")(e))
            }
        }
    }
    /// One `DELETE`: the branch answers `DELETED` and no longer counts; the deletion is done.
    async fn delete(run: &mut Run<'_>, c: &Connected, b: Branch) -> Flow<Option<Outcome>> {
        let (cid, bid) = (&b.cluster_id, &b.branch_id);
        let text = match recorded(observer(run), cid, c.client.delete_branch(cid, bid)).await {
            Ok(_) => format!("branch {bid} deleted from cluster {cid}"),
            Err(e) if e.is_not_found() => {
                format!("branch {bid} (or cluster {cid}) is already gone")
            }
            Err(e) => return Err(driver::cloud("delete the branch")(e)),
        };
        run.event(EventType::Normal, reasons::DELETED, "Delete", text)
            .await;
        Ok(None)
    }
}

/// The cluster (the one recorded, else the one referenced or named), the credentials (spec.credentials, else
/// the referenced cluster's, else the namespace's or the operator's default), and the cluster's branches (one
/// list). A deletion works on the recorded cluster, and a cluster gone means nothing is left to delete.
async fn connect(run: &Run<'_>) -> Flow<Connected> {
    let spec = &run.obj.spec;
    let deleting = run.obj.metadata.deletion_timestamp.is_some();
    let status = &run.status;
    let recorded = status
        .cluster_id
        .clone()
        .or(status.create_intent.as_ref().map(|i| i.cluster_id.clone()));
    let mut waiting = String::new();
    let mut credentials: Option<CredentialsSpec> = None;
    let cluster_id = match (&spec.cluster_ref, &spec.cluster_id) {
        (_, Some(id)) => Some(id.clone()),
        (None, None) => recorded.clone(),
        (Some(r), None) => {
            if r.namespace.as_deref().is_some_and(|ns| ns != run.ns) && !deleting {
                return driver::report(Outcome::Stalled {
                    reason: reasons::INVALID_CLUSTER_REF,
                    message: format!(
                        "spec.clusterRef names namespace {:?}: only this resource's namespace is allowed",
                        r.namespace.as_deref().unwrap_or_default()
                    ),
                    requeue: None,
                });
            }
            let api: Api<TidbCloudServerlessCluster> =
                Api::namespaced(run.ctx.kube.clone(), run.ns);
            let found = api.get_opt(&r.name).await?;
            credentials = found.as_ref().and_then(|c| c.spec.credentials.clone());
            match found {
                _ if recorded.is_some() => recorded.clone(),
                _ if deleting => None,
                None => {
                    return driver::report(Outcome::Stalled {
                        reason: reasons::CLUSTER_NOT_FOUND,
                        message: format!(
                            "TidbCloudServerlessCluster {} does not exist in namespace {}",
                            r.name, run.ns
                        ),
                        requeue: Some(run.ctx.config.poll_steady),
                    });
                }
                Some(c) if c.metadata.deletion_timestamp.is_some() => {
                    return driver::report(Outcome::Stalled {
                        reason: reasons::CLUSTER_DELETING,
                        message: format!(
                            "TidbCloudServerlessCluster {} is being deleted: no branch is made of it",
                            r.name
                        ),
                        requeue: Some(run.ctx.config.poll_steady),
                    });
                }
                Some(c) => {
                    let s = c.status.unwrap_or_default();
                    match (s.cluster_id, s.state.as_deref()) {
                        (Some(id), Some(ACTIVE)) => Some(id),
                        (_, state) => {
                            waiting = format!(
                                "waiting for TidbCloudServerlessCluster {} to be ACTIVE (it is {})",
                                r.name,
                                state.unwrap_or("not created yet")
                            );
                            None
                        }
                    }
                }
            }
        }
    };
    let (own, inherited) = (spec.credentials.as_ref(), credentials.as_ref());
    let client = run
        .ctx
        .connect_on_cluster(&run.ctx.providers.tidbcloud, run.ns, own, inherited)
        .await?
        .map_err(Stop::Report)?;
    let Some(cid) = cluster_id.clone() else {
        return Ok(Connected {
            client,
            cluster_id,
            waiting,
            branches: Default::default(),
        });
    };
    let branches = match observer(run).branches(&client, &cid, max_age(run)).await {
        Ok(list) => list,
        Err(e) if e.is_not_found() && deleting => Default::default(),
        Err(e) if e.is_not_found() => {
            return driver::report(Outcome::Stalled {
                reason: reasons::CLUSTER_GONE,
                message: format!(
                    "Serverless cluster {cid} does not exist in TiDB Cloud (any more), or is not visible to these \
                     credentials"
                ),
                requeue: Some(run.ctx.config.poll_steady),
            });
        }
        Err(e) => return Err(driver::cloud("list the cluster's branches")(e)),
    };
    Ok(Connected {
        client,
        cluster_id,
        waiting,
        branches,
    })
}

fn observer<'a>(run: &Run<'a>) -> &'a BranchObserver {
    &run.ctx.providers.tidbcloud.branches
}

/// How old a list of the cluster's branches may answer: none while a create may have happened (its candidates
/// must be fresh), nothing exists yet or a deletion runs; the steady interval for an `ACTIVE` branch with no
/// reset due; else the transitional one.
fn max_age(run: &Run<'_>) -> Duration {
    let s = &run.status;
    let spec = &run.obj.spec;
    if s.create_intent.is_some()
        || s.branch_id.is_none()
        || run.obj.metadata.deletion_timestamp.is_some()
    {
        return Duration::ZERO;
    }
    let reset_due = s.last_reset_request.is_some_and(|l| spec.reset_request > l);
    if s.state.as_deref() == Some(ACTIVE) && !reset_due {
        run.ctx.config.poll_steady
    } else {
        run.ctx.config.poll_transitional
    }
}

/// Spec checks, the wanted password, the pure decision, then one step.
async fn converge(
    run: &mut Run<'_>,
    c: &Connected,
    observed: Option<Branch>,
) -> Flow<Next<TidbCloudBranch>> {
    let Some(cluster_id) = c.cluster_id.clone() else {
        return Ok(Next::Done(Outcome::Progressing {
            reason: reasons::WAITING_FOR_CLUSTER,
            message: format!("{}; the branch is created once it is", c.waiting),
            requeue: run.ctx.config.poll_transitional,
        }));
    };
    if observed.is_none() {
        let problems = decide::problems(&run.obj.spec, chrono::Utc::now());
        if !problems.is_empty() {
            return driver::report(Outcome::Stalled {
                reason: reasons::INVALID_SPEC,
                message: format!("the spec cannot be satisfied: {}", problems.join("; ")),
                requeue: None,
            });
        }
    }
    let spec = &run.obj.spec;
    let source = password::Source {
        connection: run.obj.connection_secret_name(),
        reference: spec.root_password.as_ref().map(|r| &r.secret_ref),
        has_database: observed.is_some(),
        keeps_its_own: false,
    };
    let password = password::desired(run, source).await?;
    if observed.is_some() && run.status.last_reset_request.is_none() {
        run.status.last_reset_request = Some(spec.reset_request);
    }
    let facts = Facts {
        reset_request: spec.reset_request,
        last_reset_request: run.status.last_reset_request,
        password_differs: password.differs,
    };
    let decision = decide::decide(observed.as_ref(), facts);
    tracing::debug!(object = %run.key, ?decision, "decided");
    let outcome = match (decision, observed) {
        (Decision::Create, _) | (_, None) => {
            let intent = BranchCreateIntent {
                cluster_id,
                display_name: run.obj.effective_display_name(),
                reset_request: spec.reset_request,
                started_at: core::intent_started_at(
                    run.status
                        .create_intent
                        .as_ref()
                        .map(|i| i.started_at.as_str()),
                ),
            };
            return Ok(Next::Create(intent, password.value));
        }
        (Decision::Wait { state }, Some(_)) => {
            if !password.differs {
                write_connection_secret(run, password.value.as_ref()).await?;
            }
            let (reason, what) = match state.as_str() {
                CREATING => (reasons::CREATING, "being created"),
                RESTORING => (reasons::RESETTING, "being reset to its parent's data"),
                _ => (reasons::PROGRESSING, "changing"),
            };
            run.progressing(reason, format!("the branch is {what} (state {state})"))
        }
        (Decision::Reset { request }, Some(b)) => reset(run, c, b, request).await?,
        (Decision::SetPassword, Some(b)) => {
            let Some(pw) = password.value.as_ref() else {
                return Err(Stop::Fail(Failure::Internal("no password to set")));
            };
            let user = root_user(&run.status);
            if run.writes_held() {
                return Ok(Next::Done(
                    run.observing(vec![format!("set the password of {user}")]),
                ));
            }
            let call = c
                .client
                .set_branch_password(&b.cluster_id, &b.branch_id, &user, pw);
            recorded(observer(run), &b.cluster_id, call)
                .await
                .map_err(driver::cloud("set the branch's root password"))?;
            write_connection_secret(run, Some(pw)).await?;
            run.event(
                EventType::Normal,
                reasons::PASSWORD_SET,
                "SetPassword",
                format!("the password of {user} was set; the connection Secret holds it"),
            )
            .await;
            ready(run)
        }
        (Decision::Converged, Some(_)) => {
            write_connection_secret(run, password.value.as_ref()).await?;
            ready(run)
        }
    };
    Ok(Next::Done(outcome))
}

fn ready(run: &Run<'_>) -> Outcome {
    let s = &run.status;
    Outcome::Converged {
        reason: reasons::READY,
        message: format!(
            "branch {} of cluster {} is ACTIVE",
            s.branch_id.as_deref().unwrap_or_default(),
            s.cluster_id.as_deref().unwrap_or_default()
        ),
    }
}

/// One `:reset`, recorded in status before the call (at most once), put back when TiDB Cloud refused it.
async fn reset(run: &mut Run<'_>, c: &Connected, b: Branch, request: i64) -> Flow<Outcome> {
    let last = run.status.last_reset_request;
    let what = format!(
        "reset branch {} to its parent's latest data (spec.resetRequest {request} > status.lastResetRequest {})",
        b.branch_id,
        last.unwrap_or_default()
    );
    if run.writes_held() {
        return Ok(run.observing(vec![what]));
    }
    run.status.last_reset_request = Some(request);
    run.persist_status().await?;
    let call = c.client.reset_branch(&b.cluster_id, &b.branch_id);
    match recorded(observer(run), &b.cluster_id, call).await {
        Ok(after) => <TidbCloudBranch as CloudKind>::record(&mut run.status, &after),
        Err(e) => {
            if !e.outcome_uncertain() {
                run.status.last_reset_request = last;
                run.persist_status().await?;
            }
            return Err(driver::cloud("reset the branch")(e));
        }
    }
    run.event(EventType::Normal, reasons::RESETTING, "Reset", what)
        .await;
    Ok(run.progressing(
        reasons::RESETTING,
        format!("the branch is being reset to its parent's data (request {request})"),
    ))
}

// ---- the connection Secret ------------------------------------------------------------------------------

/// `<userPrefix>.root`, the branch's root user (`root` before the prefix is known).
fn root_user(status: &TidbCloudBranchStatus) -> String {
    status
        .user_prefix
        .as_ref()
        .map(|p| format!("{p}.root"))
        .unwrap_or_else(|| "root".into())
}

/// Writes the connection Secret (owned by the resource) when its content would change: `host`, `port`,
/// `username` (`<userPrefix>.root`), `password`, `uri`.
async fn write_connection_secret(
    run: &Run<'_>,
    password: Option<&SecretString>,
) -> Result<(), Failure> {
    let status = &run.status;
    let mut data = core::SecretData::default();
    let user = root_user(status);
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
    run.connection(run.obj.connection_secret_name())
        .write(data.0)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crd_name_matches_and_record_takes_the_intent_reset_request() {
        use kube::CustomResourceExt;
        assert_eq!(
            TidbCloudBranch::crd().metadata.name.as_deref(),
            Some(CRD_NAME)
        );
        let b: Branch = serde_json::from_value(serde_json::json!({
            "branchId": "bran-1", "clusterId": "10", "state": "CREATING", "userPrefix": "abc",
            "parentId": "10", "parentTimestamp": "2025-01-01T00:00:00Z",
            "endpoints": {"public": {"host": "h", "port": 4000}}
        }))
        .expect("branch");
        let mut s = TidbCloudBranchStatus {
            create_intent: Some(BranchCreateIntent {
                cluster_id: "10".into(),
                display_name: "pr-1".into(),
                reset_request: 3,
                started_at: "2025-01-01T00:00:00Z".into(),
            }),
            ..Default::default()
        };
        <TidbCloudBranch as CloudKind>::record(&mut s, &b);
        assert_eq!(s.branch_id.as_deref(), Some("bran-1"));
        assert_eq!(s.last_reset_request, Some(3));
        assert_eq!(s.create_intent, None);
        assert_eq!(root_user(&s), "abc.root");
        assert_eq!((s.host.as_deref(), s.port), (Some("h"), Some(4000)));
        <TidbCloudBranch as CloudKind>::forget(&mut s);
        assert_eq!((s.branch_id, s.cluster_id.as_deref()), (None, Some("10")));
    }
}
