//! TidbCloudSqlUser on the one driver (`driver.rs`): this module says how to connect (the referenced cluster,
//! the credentials, and that cluster's SQL users, listed once per reconcile), read a user and list what a lost
//! create may have made (both from that list), converge (wait for the cluster → the wanted password → pure
//! `decide` → one PATCH → the connection Secret), create and delete a SQL user; the driver does the rest.
//!
//! A user's identity is its name in its cluster (`status.id` = `<clusterId>/<userName>`, claimed in the
//! ownership index). A user of that name that this resource did not create is never adopted: it is a
//! `Conflict` before any write. TiDB Cloud never returns a password, so the password last set is remembered as
//! a salted fingerprint (`status.passwordFingerprint`); a generated password lives only in the connection
//! Secret, written before the call that sets it.

pub mod decide;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::events::EventType;
use secrecy::{ExposeSecret, SecretString};

use self::decide::{Decision, Wanted};
use super::clusterref::{self, Target};
use super::core::{self, Base, Failure, Outcome};
use super::driver::{self, CloudKind, Flow, Next, OnCluster, OnGone, Policy, Stop};
use super::ownership::CloudIdKind;
use crate::api::common::ClusterRef;
use crate::api::tidbcloudcluster::{Endpoint, TidbCloudCluster};
use crate::api::tidbcloudsqluser::{SqlUserCreateIntent, TidbCloudSqlUser, TidbCloudSqlUserStatus};
use crate::cloud::CloudError;
use crate::conditions::{READY, RECONCILING, STALLED};
use crate::config::RunConfig;
use crate::providers::tidbcloud::client::TidbCloudClient;
use crate::providers::tidbcloud::models::{CreateSqlUserRequest, SqlUser, UpdateSqlUserRequest};
use crate::providers::tidbcloud::translate;
use crate::providers::tidbcloud::translate_integration::api_key_fingerprint as fingerprint;
use crate::reasons;

pub const KIND: &str = "TidbCloudSqlUser";
const CRD_NAME: &str = "tidbcloudsqlusers.clouddb.dev";
const MANAGED_CONDITIONS: &[&str] = &[READY, RECONCILING, STALLED];
/// The cluster state in which TiDB Cloud accepts SQL user changes.
const ACTIVE: &str = "ACTIVE";

/// The controller of the scope of `api`, woken by the TidbCloudClusters its objects reference (the scope's
/// `shared` watch).
pub fn run(
    ctx: std::sync::Arc<super::Context>,
    api: kube::api::Api<TidbCloudSqlUser>,
    shared: &super::watch::Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> futures::future::BoxFuture<'static, ()> {
    driver::run_on_clusters::<TidbCloudSqlUser>(ctx, api, shared, shutdown)
}

type Run<'a> = Base<'a, TidbCloudSqlUser>;

/// What one reconcile works with: the client, where the reference points, the cluster's SQL users as listed
/// once at the start of this reconcile, and the cluster's endpoints and state.
pub struct Connected {
    client: TidbCloudClient,
    target: Target,
    /// The cloud cluster worked on; `None` while nothing exists and the referenced cluster is not Ready.
    cluster_id: Option<String>,
    users: Vec<SqlUser>,
    /// SQL endpoints of the cluster (for the connection Secret).
    endpoints: Vec<Endpoint>,
    /// Whether the cluster accepts SQL user changes now (ACTIVE).
    writable: bool,
}

/// A SQL user and the cloud cluster it belongs to.
#[derive(Clone, Debug)]
pub struct InCluster {
    cluster_id: String,
    /// `<clusterId>/<userName>`.
    id: String,
    user: SqlUser,
}

impl InCluster {
    fn new(cluster_id: &str, user: SqlUser) -> InCluster {
        InCluster {
            cluster_id: cluster_id.to_string(),
            id: user_id(cluster_id, &user.user_name),
            user,
        }
    }
}

/// The identity of a SQL user: `<clusterId>/<userName>`.
pub fn user_id(cluster_id: &str, user_name: &str) -> String {
    format!("{cluster_id}/{user_name}")
}

impl CloudKind for TidbCloudSqlUser {
    type State = TidbCloudSqlUserStatus;
    type Client = Connected;
    type Remote = InCluster;
    type Intent = SqlUserCreateIntent;
    /// The password to create the user with.
    type CreateArgs = SecretString;

    const KIND: &'static str = KIND;
    const CRD_NAME: &'static str = CRD_NAME;
    const MANAGED: &'static [&'static str] = MANAGED_CONDITIONS;
    const NOUN: &'static str = "SQL user";
    const CLOUD: &'static str = "TiDB Cloud";
    /// A SQL user is never adopted by id.
    const ADOPT_FIELD: Option<&'static str> = None;
    const ID_KIND: CloudIdKind = CloudIdKind::TidbSqlUser;
    const NAMESPACE_CREDENTIALS: Option<&'static str> =
        Some(crate::api::common::TIDBCLOUD_NAMESPACE_CREDENTIALS);

    fn spec_id(&self) -> Option<&str> {
        None
    }
    fn status_id(status: &Self::State) -> Option<&str> {
        status.id.as_deref()
    }
    fn intent(status: &Self::State) -> Option<&SqlUserCreateIntent> {
        status.create_intent.as_ref()
    }
    fn set_intent(status: &mut Self::State, intent: SqlUserCreateIntent) {
        status.create_intent = Some(intent);
    }
    fn remote_id(u: &InCluster) -> &str {
        &u.id
    }
    /// Also the fingerprint of the password it was created with, when a create intent led to it.
    fn record(status: &mut Self::State, u: &InCluster) {
        if let Some(intent) = status.create_intent.take() {
            status.password_fingerprint = Some(intent.password_fingerprint);
        }
        status.cluster_id = Some(u.cluster_id.clone());
        status.id = Some(u.id.clone());
        status.user_name = Some(u.user.user_name.clone());
        status.builtin_role = Some(u.user.builtin_role.clone());
        let mut roles = u.user.custom_roles.clone();
        roles.sort();
        status.custom_roles = roles;
    }
    /// Keeps `clusterId`.
    fn forget(status: &mut Self::State) {
        status.id = None;
        status.user_name = None;
        status.builtin_role = None;
        status.custom_roles.clear();
        status.password_fingerprint = None;
        status.create_intent = None;
    }
    fn policy(&self) -> Policy {
        Policy {
            deletion: self.spec.deletion_policy,
            protected: false,
            on_gone: OnGone::Recreate,
        }
    }
    /// SQL users have no observe-only mode.
    fn observe_only(&self) -> bool {
        false
    }
    fn connection_secret_name(&self) -> Option<String> {
        Some(TidbCloudSqlUser::connection_secret_name(self))
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
    /// Its credentials and its password Secret.
    fn secrets_read(&self) -> Vec<String> {
        self.secret_names()
    }
    fn made_by(&self, intent: &SqlUserCreateIntent, u: &InCluster, _key_id: &str) -> bool {
        decide::made_by(
            &intent.cluster_id,
            &intent.user_name,
            &u.cluster_id,
            &u.user,
        )
    }

    async fn connect(run: &Run<'_>) -> Flow<Connected> {
        connect(run).await
    }
    fn key_id(c: &Connected) -> String {
        c.client.key_id().to_string()
    }
    async fn read(_: &Run<'_>, c: &Connected, id: &str) -> Result<Option<InCluster>, CloudError> {
        Ok(c.listed().find(|u| u.id == id))
    }
    async fn candidates(
        _: &Run<'_>,
        c: &Connected,
        _: &SqlUserCreateIntent,
    ) -> Result<Vec<InCluster>, CloudError> {
        Ok(c.listed().collect())
    }
    async fn converge(
        run: &mut Run<'_>,
        c: &Connected,
        observed: Option<InCluster>,
    ) -> Flow<Next<Self>> {
        converge(run, c, observed).await
    }
    async fn create(run: &mut Run<'_>, c: &Connected, password: SecretString) -> Flow<InCluster> {
        let cluster_id = run
            .status
            .create_intent
            .as_ref()
            .map(|i| i.cluster_id.clone())
            .ok_or(Stop::Fail(Failure::Internal("no create intent to create")))?;
        let spec = &run.obj.spec;
        let req = CreateSqlUserRequest {
            user_name: spec.user_name.clone(),
            password,
            auth_method: spec.auth_method.as_str().to_string(),
            builtin_role: spec.builtin_role.as_str().to_string(),
            custom_roles: run.obj.custom_role_names(),
        };
        match c.client.create_sql_user(&cluster_id, &req).await {
            Ok(user) => Ok(InCluster::new(&cluster_id, user)),
            Err(e) => {
                // A definite refusal made nothing: forget the intent, so that a user of that name made by
                // someone else since is never taken for ours.
                if !e.outcome_uncertain() {
                    run.status.create_intent = None;
                    run.persist_status().await?;
                }
                Err(driver::cloud("create the SQL user")(e))
            }
        }
    }
    /// One `DELETE` on an ACTIVE cluster: the deletion is done when it returns (or the user or its cluster is
    /// gone).
    async fn delete(run: &mut Run<'_>, c: &Connected, u: InCluster) -> Flow<Option<Outcome>> {
        if !c.writable {
            return Ok(Some(waiting(run, &c.target)));
        }
        let (name, cluster_id) = (&u.user.user_name, &u.cluster_id);
        let text = match c.client.delete_sql_user(cluster_id, name).await {
            Ok(()) => format!("SQL user {name} dropped from cluster {cluster_id}"),
            Err(e) if e.is_not_found() => {
                format!("SQL user {name} (or cluster {cluster_id}) is already gone")
            }
            Err(e) => return Err(driver::cloud("delete the SQL user")(e)),
        };
        run.event(EventType::Normal, reasons::DELETED, "Delete", text)
            .await;
        Ok(None)
    }
}

impl OnCluster for TidbCloudSqlUser {
    fn cluster_ref(&self) -> Option<&ClusterRef> {
        self.spec.cluster_ref.as_ref()
    }
    fn recorded_cluster(&self) -> Option<&str> {
        self.status.as_ref().and_then(|s| s.cluster_id.as_deref())
    }
}

impl Connected {
    /// The users listed, with their cluster.
    fn listed(&self) -> impl Iterator<Item = InCluster> + '_ {
        self.cluster_id
            .iter()
            .flat_map(|cid| self.users.iter().map(|u| InCluster::new(cid, u.clone())))
    }
}

/// The referenced cluster (a broken reference stalls), the credentials (spec.credentials, else the cluster's,
/// else the default), the cluster's endpoints and state, and its SQL users (one list). A deletion works on the
/// cluster the user was recorded in, whatever the reference says now, and a cluster gone means nothing is left
/// to delete.
async fn connect(run: &Run<'_>) -> Flow<Connected> {
    let spec = &run.obj.spec;
    let (r, id) = (spec.cluster_ref.as_ref(), spec.cluster_id.as_deref());
    let target = clusterref::target(run.ctx, r, id, run.ns).await?;
    let deleting = run.obj.metadata.deletion_timestamp.is_some();
    let status = &run.status;
    let exists = status.id.is_some() || status.create_intent.is_some();
    let cluster_id = match &target {
        _ if deleting => status
            .cluster_id
            .clone()
            .or(status.create_intent.as_ref().map(|i| i.cluster_id.clone())),
        Target::Broken { reason, message } => {
            return driver::report(Outcome::Stalled {
                reason,
                message: message.clone(),
                requeue: Some(run.ctx.config.poll_steady),
            });
        }
        Target::NotReady { .. } if !exists => None,
        t => t.cluster_id().map(str::to_string),
    };
    let (own, inherited) = (spec.credentials.as_ref(), target.credentials());
    let client = run
        .ctx
        .connect_on_cluster(&run.ctx.providers.tidbcloud, run.ns, own, inherited)
        .await?
        .map_err(Stop::Report)?;
    let Some(cid) = cluster_id.clone() else {
        return Ok(Connected {
            client,
            target,
            cluster_id,
            users: Vec::new(),
            endpoints: Vec::new(),
            writable: false,
        });
    };
    let (endpoints, writable) = cluster_view(run, &client, &target, &cid).await?;
    let users = match client.list_sql_users(&cid).await {
        Ok(list) => list,
        Err(e) if e.is_not_found() && deleting => Vec::new(),
        Err(e) if e.is_not_found() => {
            return driver::report(Outcome::Stalled {
                reason: reasons::CLUSTER_GONE,
                message: format!(
                    "cluster {cid} does not exist in TiDB Cloud (any more), or is not visible to these credentials"
                ),
                requeue: Some(run.ctx.config.poll_steady),
            });
        }
        Err(e) => return Err(driver::cloud("list the cluster's SQL users")(e)),
    };
    Ok(Connected {
        client,
        target,
        cluster_id,
        users,
        endpoints,
        writable,
    })
}

/// The endpoints of cluster `cid` and whether it is ACTIVE: from the referenced TidbCloudCluster's status
/// (no cloud call), or, for a cluster given by id, from the shared cluster observation (batched lists).
async fn cluster_view(
    run: &Run<'_>,
    client: &TidbCloudClient,
    target: &Target,
    cid: &str,
) -> Flow<(Vec<Endpoint>, bool)> {
    if let Some(r) = run.obj.spec.cluster_ref.as_ref() {
        let api: Api<TidbCloudCluster> = Api::namespaced(run.ctx.kube.clone(), run.ns);
        let found = api.get_opt(&r.name).await?;
        let endpoints = found
            .as_ref()
            .and_then(|c| c.status.as_ref())
            .filter(|s| s.cluster_id.as_deref() == Some(cid))
            .map(|s| s.endpoints.clone())
            .unwrap_or_default();
        let writable = matches!(target, Target::Ready { .. })
            || found
                .as_ref()
                .and_then(|c| c.status.as_ref())
                .is_some_and(|s| {
                    s.cluster_id.as_deref() == Some(cid) && s.state.as_deref() == Some(ACTIVE)
                });
        return Ok((endpoints, writable));
    }
    let observed = run
        .ctx
        .providers
        .tidbcloud
        .observer
        .cluster(client, None, cid)
        .await
        .map_err(driver::cloud("read the cluster"))?;
    Ok(match observed {
        Some(c) => (translate::endpoints(&c), c.state.as_str() == ACTIVE),
        None => (Vec::new(), false),
    })
}

/// Waits for the cluster, works out the wanted password, decides (pure), and creates, updates or reports.
async fn converge(
    run: &mut Run<'_>,
    c: &Connected,
    observed: Option<InCluster>,
) -> Flow<Next<TidbCloudSqlUser>> {
    let Some(cluster_id) = c.cluster_id.clone() else {
        return Ok(Next::Done(waiting(run, &c.target)));
    };
    if let Some(old) = run.status.cluster_id.clone()
        && old != cluster_id
    {
        let text = format!(
            "the referenced cluster is now cloud cluster {cluster_id} (was {old}); creating the SQL user there"
        );
        run.event(
            EventType::Warning,
            reasons::CLUSTER_REPLACED,
            "Observe",
            text,
        )
        .await;
        <TidbCloudSqlUser as CloudKind>::forget(&mut run.status);
        run.status.cluster_id = Some(cluster_id.clone());
    }
    let name = run.obj.spec.user_name.clone();
    if observed.is_none()
        && let Some(other) = c.users.iter().find(|u| u.user_name == name)
    {
        return driver::report(Outcome::Stalled {
            reason: reasons::CONFLICT,
            message: format!(
                "cluster {cluster_id} already has a SQL user {:?} that this resource did not create (or that \
                 another resource manages); it is never adopted: choose another spec.userName, or drop the user \
                 in TiDB Cloud",
                other.user_name
            ),
            requeue: Some(run.ctx.config.poll_steady),
        });
    }
    let password = wanted_password(run, observed.is_some()).await?;
    let uid = run.obj.uid().ok_or(Stop::Fail(Failure::Internal(
        "object has no uid to salt the password fingerprint",
    )))?;
    let fp = fingerprint(&uid, &password.value);
    let roles = run.obj.custom_role_names();
    let wanted = Wanted {
        user_name: &name,
        builtin_role: run.obj.spec.builtin_role.as_str(),
        custom_roles: &roles,
        password_fingerprint: &fp,
    };
    let recorded = run.status.password_fingerprint.clone();
    let decision = decide::decide(
        &wanted,
        observed.as_ref().map(|u| &u.user),
        recorded.as_deref(),
    );
    tracing::debug!(object = %run.key, ?decision, "decided");
    match decision {
        Decision::Converged => {
            write_connection_secret(run, c, &name, &password.value).await?;
            Ok(Next::Done(Outcome::Converged {
                reason: reasons::READY,
                message: format!(
                    "SQL user {name} exists in cluster {cluster_id} with role {}",
                    run.obj.spec.builtin_role.as_str()
                ),
            }))
        }
        _ if !c.writable => Ok(Next::Done(waiting(run, &c.target))),
        Decision::Create => {
            // The only copy of a generated password is in the Secret before the create call.
            write_connection_secret(run, c, &name, &password.value).await?;
            if password.generated {
                run.status.password_rotation = Some(run.obj.spec.password_rotation);
            }
            let previous = run.status.create_intent.as_ref();
            let intent = SqlUserCreateIntent {
                cluster_id,
                user_name: name,
                password_fingerprint: fp,
                started_at: core::intent_started_at(previous.map(|i| i.started_at.as_str())),
            };
            Ok(Next::Create(intent, password.value))
        }
        Decision::Update(change) => {
            let Some(seen) = observed else {
                return Err(Stop::Fail(Failure::Internal("an update without a user")));
            };
            if run.writes_held() {
                // A plan: what the update would change, nothing written.
                return Ok(Next::Done(run.observing(vec![change.summary(&seen.user)])));
            }
            // The Secret first: a new generated password must never exist only in the cloud.
            write_connection_secret(run, c, &name, &password.value).await?;
            let req = UpdateSqlUserRequest {
                password: change.password.then(|| password.value.clone()),
                builtin_role: change.builtin_role.clone(),
                custom_roles: change.custom_roles.clone(),
            };
            let summary = change.summary(&seen.user);
            let user = c
                .client
                .update_sql_user(&cluster_id, &name, &req)
                .await
                .map_err(driver::cloud("update the SQL user"))?;
            <TidbCloudSqlUser as CloudKind>::record(
                &mut run.status,
                &InCluster::new(&cluster_id, user),
            );
            if change.password {
                run.status.password_fingerprint = Some(fp);
                if password.generated {
                    run.status.password_rotation = Some(run.obj.spec.password_rotation);
                }
                run.event(
                    EventType::Normal,
                    reasons::PASSWORD_SET,
                    "SetPassword",
                    format!("password of SQL user {name} set"),
                )
                .await;
            }
            if change.roles() {
                // This generation converged before: the roles were changed outside Kubernetes.
                let drift = run.status.observed_generation == run.obj.metadata.generation;
                let (type_, reason, text) = if drift {
                    (
                        EventType::Warning,
                        reasons::DRIFT_CORRECTED,
                        format!(
                            "the SQL user was changed outside Kubernetes; restoring the spec: {summary}"
                        ),
                    )
                } else {
                    (EventType::Normal, reasons::UPDATING, summary.clone())
                };
                run.event(type_, reason, "Update", text).await;
            }
            Ok(Next::Done(Outcome::Converged {
                reason: reasons::READY,
                message: format!("SQL user {name} updated in cluster {cluster_id}: {summary}"),
            }))
        }
    }
}

/// The password wanted now.
struct WantedPassword {
    value: SecretString,
    /// Generated by the operator (not from spec.password).
    generated: bool,
}

/// spec.password's value (8–64 characters, else `InvalidSpec`); else the generated one in the connection
/// Secret, or a new one when there is none or a rotation is asked (spec.passwordRotation changed).
async fn wanted_password(run: &Run<'_>, exists: bool) -> Flow<WantedPassword> {
    if let Some(p) = &run.obj.spec.password {
        let value = run
            .password_from(&p.secret_ref, "spec.password")
            .await?
            .map_err(Stop::Report)?;
        let len = value.expose_secret().chars().count();
        if !(8..=64).contains(&len) {
            return driver::report(Outcome::Stalled {
                reason: reasons::INVALID_SPEC,
                message: format!(
                    "spec.password: the value in Secret {} key {:?} must be 8 to 64 characters (it has {len})",
                    p.secret_ref.name, p.secret_ref.key
                ),
                requeue: None,
            });
        }
        return Ok(WantedPassword {
            value,
            generated: false,
        });
    }
    let rotate = exists
        && run
            .status
            .password_rotation
            .is_some_and(|r| r != run.obj.spec.password_rotation);
    let current = secret(run)
        .get()
        .await?
        .as_ref()
        .and_then(|s| core::value_of(s, "password"));
    let value = match current {
        Some(v) if !rotate => v,
        _ => core::generate_password(),
    };
    Ok(WantedPassword {
        value,
        generated: true,
    })
}

fn secret<'a>(run: &Run<'a>) -> core::ConnectionSecret<'a, TidbCloudSqlUser> {
    run.connection(run.obj.connection_secret_name())
}

/// Writes the connection Secret (owned by the resource) when its content would change: the user, its password
/// and the cluster's endpoints.
async fn write_connection_secret(
    run: &Run<'_>,
    c: &Connected,
    user: &str,
    password: &SecretString,
) -> Result<(), Failure> {
    let mut data = core::SecretData::default();
    let pw = password.expose_secret();
    data.put("username", user);
    data.put("password", pw);
    for e in &c.endpoints {
        let suffix = e.connection_type.to_ascii_lowercase().replace('_', "-");
        data.put(&format!("host-{suffix}"), &e.host);
        data.put(&format!("port-{suffix}"), &e.port.to_string());
        data.put(
            &format!("uri-{suffix}"),
            &mysql_uri(user, pw, &e.host, e.port),
        );
    }
    if let Some(e) = translate::primary_endpoint(&c.endpoints) {
        data.put("host", &e.host);
        data.put("port", &e.port.to_string());
        data.put("uri", &mysql_uri(user, pw, &e.host, e.port));
    }
    secret(run).write(data.0).await
}

fn mysql_uri(user: &str, password: &str, host: &str, port: i32) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    format!(
        "mysql://{}:{}@{host}:{port}",
        utf8_percent_encode(user, NON_ALPHANUMERIC),
        utf8_percent_encode(password, NON_ALPHANUMERIC)
    )
}

/// `WaitingForCluster`: the referenced cluster is not Ready (or not ACTIVE).
fn waiting(run: &Run<'_>, target: &Target) -> Outcome {
    let why = match target {
        Target::NotReady { why, .. } => why.as_str(),
        _ => "waiting for the cluster to be ACTIVE",
    };
    Outcome::Progressing {
        reason: reasons::WAITING_FOR_CLUSTER,
        message: format!("{why}; SQL users are changed once it is Ready"),
        requeue: run.ctx.config.poll_transitional,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(status: Option<TidbCloudSqlUserStatus>) -> TidbCloudSqlUser {
        let mut u: TidbCloudSqlUser = serde_json::from_value(serde_json::json!({
            "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudSqlUser",
            "metadata": {"name": "app", "namespace": "ns"},
            "spec": {"clusterRef": {"name": "orders"}, "userName": "app", "builtinRole": "role_readwrite"},
        }))
        .expect("sql user");
        u.status = status;
        u
    }

    #[test]
    fn the_identity_is_cluster_and_name_and_record_takes_the_intent_fingerprint() {
        let listed = SqlUser {
            user_name: "app".into(),
            auth_method: "mysql_native_password".into(),
            builtin_role: "role_readwrite".into(),
            custom_roles: vec!["b".into(), "a".into()],
        };
        let found = InCluster::new("7", listed);
        assert_eq!(found.id, "7/app");
        let mut s = TidbCloudSqlUserStatus {
            create_intent: Some(SqlUserCreateIntent {
                cluster_id: "7".into(),
                user_name: "app".into(),
                password_fingerprint: "sha256:ab".into(),
                started_at: "2025-01-01T00:00:00Z".into(),
            }),
            ..Default::default()
        };
        <TidbCloudSqlUser as CloudKind>::record(&mut s, &found);
        assert_eq!(s.id.as_deref(), Some("7/app"));
        assert_eq!(s.password_fingerprint.as_deref(), Some("sha256:ab"));
        assert_eq!(s.custom_roles, vec!["a", "b"]);
        assert_eq!(s.create_intent, None);
        let claims = user(Some(s.clone())).claims();
        assert_eq!(
            claims.ids,
            vec![(CloudIdKind::TidbSqlUser, "7/app".to_string())]
        );
        <TidbCloudSqlUser as CloudKind>::forget(&mut s);
        assert_eq!((s.id, s.password_fingerprint), (None, None));
        assert_eq!(s.cluster_id.as_deref(), Some("7"));
    }

    #[test]
    fn uris_escape_user_and_password() {
        assert_eq!(
            mysql_uri("app.user", "a@b/c", "h", 4000),
            "mysql://app%2Euser:a%40b%2Fc@h:4000"
        );
    }
}
