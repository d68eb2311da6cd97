//! TidbCloudImport on the one driver (`driver.rs`): this module says how to connect (the target cluster and its
//! credentials), read an import (a GET per running import), recognise what a lost create made (the pure
//! [`decide::made_by`]), converge (target cluster Ready/ACTIVE → source Secrets → create once, or follow the
//! import), create and cancel a TiDB Cloud import; the driver does the rest (finalizer, status refresh,
//! observe by id / by intent, persist-intent-then-create, the deletion preamble, finishing).
//!
//! One-shot: an import runs once. `COMPLETED`, `FAILED` and `CANCELED` are final: the cloud is not asked again
//! and no credentials are needed to report or delete a finished import. A spec change after the start is
//! reported, never re-run. Imports have no deletionPolicy: a direct delete cancels a running import (and waits
//! for `CANCELED`); a namespace cascade or a CRD deletion leaves it running.

pub mod decide;

use kube::api::Api;
use kube::runtime::events::EventType;
use secrecy::ExposeSecret;

use self::decide::{Cleanup, ObservedImport, Phase, Step};
use super::clusterref::{self, Target};
use super::core::{self, Base, Failure, Outcome, SecretRefError};
use super::driver::{self, CloudKind, Flow, Next, Policy, Stop};
use super::ownership::CloudIdKind;
use crate::api::tidbcloudimport::{
    ACCESS_KEY_ID, ImportCreateIntent, SECRET_ACCESS_KEY, TidbCloudImport, TidbCloudImportStatus,
};
use crate::cloud::CloudError;
use crate::conditions::{READY, RECONCILING, STALLED};
use crate::config::RunConfig;
use crate::providers::tidbcloud::client::TidbCloudClient;
use crate::providers::tidbcloud::models::Import;
use crate::providers::tidbcloud::translate_import::{self, SourceSecrets};
use crate::reasons;

pub const KIND: &str = "TidbCloudImport";
const CRD_NAME: &str = "tidbcloudimports.clouddb.dev";
const MANAGED_CONDITIONS: &[&str] = &[READY, RECONCILING, STALLED];

/// The controller of the scope of `api`, woken by the TidbCloudClusters its objects reference (the scope's
/// `shared` watch).
pub fn run(
    ctx: std::sync::Arc<super::Context>,
    api: Api<TidbCloudImport>,
    shared: &super::watch::Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> futures::future::BoxFuture<'static, ()> {
    driver::run_on_clusters::<TidbCloudImport>(ctx, api, shared, shutdown)
}

/// Imports wake on their cluster's events ([`driver::wakes_on`]): while waiting for it, and once started only
/// when it goes away or stands for another cloud cluster; a finished import follows nothing.
impl driver::OnCluster for TidbCloudImport {
    fn cluster_ref(&self) -> Option<&crate::api::common::ClusterRef> {
        self.spec.cluster_ref.as_ref()
    }
    fn recorded_cluster(&self) -> Option<&str> {
        self.status.as_ref().and_then(|s| s.cluster_id.as_deref())
    }
    fn follows_cluster(&self) -> bool {
        !self.finished()
    }
}

type Run<'a> = Base<'a, TidbCloudImport>;

/// How this reconcile talks to TiDB Cloud.
pub enum Client {
    /// The import is over: nothing is asked of TiDB Cloud (no credentials, no target needed).
    Finished,
    /// A client for spec.credentials, else the referenced cluster's, else the default; and where the reference
    /// points (a cluster id managed in another namespace is refused: `ClusterManagedElsewhere`).
    Live {
        api: TidbCloudClient,
        target: Target,
    },
}

/// An import as this reconcile sees it.
#[derive(Clone, Debug)]
pub enum Seen {
    /// As TiDB Cloud reports it now.
    Live(Box<Import>),
    /// Over, as recorded in status (a finished import changes no more).
    Finished {
        id: String,
        observed: ObservedImport,
    },
    /// Recorded in status but gone from TiDB Cloud, with its whole cluster (`cluster_gone`) or alone.
    Gone {
        id: String,
        cluster_id: String,
        cluster_gone: bool,
    },
}

/// The import recorded in status, when it is over.
fn finished(status: &TidbCloudImportStatus) -> Option<Seen> {
    let id = status.import_id.clone()?;
    let observed = ObservedImport::from_status(status);
    decide::is_terminal(&observed.state).then_some(Seen::Finished { id, observed })
}

fn live(client: &Client) -> Flow<(&TidbCloudClient, &Target)> {
    match client {
        Client::Live { api, target } => Ok((api, target)),
        Client::Finished => Err(Stop::Fail(Failure::Internal(
            "no TiDB Cloud client for a finished import",
        ))),
    }
}

impl CloudKind for TidbCloudImport {
    type State = TidbCloudImportStatus;
    type Client = Client;
    type Remote = Seen;
    type Intent = ImportCreateIntent;
    /// The object storage secrets, read just before the create call (never stored).
    type CreateArgs = SourceSecrets;

    const KIND: &'static str = KIND;
    const CRD_NAME: &'static str = CRD_NAME;
    const MANAGED: &'static [&'static str] = MANAGED_CONDITIONS;
    const NOUN: &'static str = "import";
    const CLOUD: &'static str = "TiDB Cloud";
    const ADOPT_FIELD: Option<&'static str> = None;
    const ID_KIND: CloudIdKind = CloudIdKind::TidbImport;
    const NAMESPACE_CREDENTIALS: Option<&'static str> =
        Some(crate::api::common::TIDBCLOUD_NAMESPACE_CREDENTIALS);

    /// An import is never adopted by id: one resource is the one import it creates.
    fn spec_id(&self) -> Option<&str> {
        None
    }
    fn status_id(status: &Self::State) -> Option<&str> {
        status.import_id.as_deref()
    }
    fn intent(status: &Self::State) -> Option<&ImportCreateIntent> {
        status.create_intent.as_ref()
    }
    /// The cluster is recorded with the intent (a running import can be canceled whatever the reference does).
    fn set_intent(status: &mut Self::State, intent: ImportCreateIntent) {
        status.cluster_id = Some(intent.cluster_id.clone());
        status.create_intent = Some(intent);
    }
    fn remote_id(seen: &Seen) -> &str {
        match seen {
            Seen::Live(i) => &i.import_id,
            Seen::Finished { id, .. } | Seen::Gone { id, .. } => id,
        }
    }
    fn record(status: &mut Self::State, seen: &Seen) {
        if let Seen::Live(i) = seen {
            translate_import::record(status, i);
        }
    }
    fn forget(status: &mut Self::State) {
        *status = TidbCloudImportStatus {
            conditions: std::mem::take(&mut status.conditions),
            observed_generation: status.observed_generation,
            ..Default::default()
        };
    }
    /// No deletionPolicy, no protection: the driver's default (cancel on a direct delete only); a vanished
    /// import is reported, never made again.
    fn policy(&self) -> Policy {
        Policy::default()
    }
    /// Imports have no observe-only mode (the annotation is ignored, as it always was).
    fn observe_only(&self) -> bool {
        false
    }
    /// None: an import/integration has no connection Secret.
    fn connection_secret_name(&self) -> Option<String> {
        None
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
    /// Its credentials and its source Secrets.
    fn secrets_read(&self) -> Vec<String> {
        self.secret_names()
            .into_iter()
            .map(str::to_string)
            .collect()
    }
    fn made_by(&self, intent: &ImportCreateIntent, seen: &Seen, key_id: &str) -> bool {
        matches!(seen, Seen::Live(i) if decide::made_by(intent, i, key_id))
    }

    async fn connect(run: &Run<'_>) -> Flow<Client> {
        if finished(&run.status).is_some() {
            return Ok(Client::Finished);
        }
        let spec = &run.obj.spec;
        let (r, id) = (spec.cluster_ref.as_ref(), spec.cluster_id.as_deref());
        let target = clusterref::target(run.ctx, r, id, run.ns).await?;
        let (own, inherited) = (spec.credentials.as_ref(), target.credentials());
        let api = run
            .ctx
            .connect_on_cluster(&run.ctx.providers.tidbcloud, run.ns, own, inherited)
            .await?
            .map_err(Stop::Report)?;
        Ok(Client::Live { api, target })
    }
    fn key_id(client: &Client) -> String {
        match client {
            Client::Live { api, .. } => api.key_id().to_string(),
            Client::Finished => String::new(),
        }
    }
    /// A finished import from status; else a GET of the import (and of its cluster when the import is gone).
    async fn read(run: &Run<'_>, client: &Client, id: &str) -> Result<Option<Seen>, CloudError> {
        let Client::Live { api, target } = client else {
            return Ok(finished(&run.status));
        };
        let cluster_id = run
            .status
            .cluster_id
            .clone()
            .or_else(|| target.cluster_id().map(str::to_string))
            .unwrap_or_default();
        match api.get_import(&cluster_id, id).await {
            Ok(i) => Ok(Some(Seen::Live(Box::new(i)))),
            Err(e) if e.is_not_found() => {
                let cluster_gone = match api.get_cluster(&cluster_id).await {
                    Ok(_) => false,
                    Err(e) if e.is_not_found() => true,
                    Err(e) => return Err(e),
                };
                Ok(Some(Seen::Gone {
                    id: id.to_string(),
                    cluster_id,
                    cluster_gone,
                }))
            }
            Err(e) => Err(e),
        }
    }
    /// The imports of the cluster the intent names (none when the cluster is gone, and with it the import).
    async fn candidates(
        _run: &Run<'_>,
        client: &Client,
        intent: &ImportCreateIntent,
    ) -> Result<Vec<Seen>, CloudError> {
        let Client::Live { api, .. } = client else {
            return Ok(Vec::new());
        };
        match api.list_imports(&intent.cluster_id).await {
            Ok(imports) => Ok(imports
                .into_iter()
                .map(|i| Seen::Live(Box::new(i)))
                .collect()),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
    async fn converge(run: &mut Run<'_>, client: &Client, seen: Option<Seen>) -> Flow<Next<Self>> {
        match seen {
            Some(seen) => Ok(Next::Done(follow(run, seen).await)),
            None => start(run, client).await,
        }
    }
    async fn create(run: &mut Run<'_>, client: &Client, secrets: SourceSecrets) -> Flow<Seen> {
        let (api, _) = live(client)?;
        let cluster_id = run
            .status
            .create_intent
            .as_ref()
            .map(|i| i.cluster_id.clone())
            .ok_or(Stop::Fail(Failure::Internal(
                "no create intent to create under",
            )))?;
        let req = translate_import::create_request(&run.obj.spec, secrets);
        let import = api
            .create_import(&cluster_id, &req)
            .await
            .map_err(driver::cloud("create the import"))?;
        Ok(Seen::Live(Box::new(import)))
    }
    fn deletion_writes(seen: &Seen) -> bool {
        match seen {
            Seen::Live(import) => {
                decide::cleanup_step(&translate_import::observed(import)) == Cleanup::Cancel
            }
            Seen::Finished { .. } | Seen::Gone { .. } => false,
        }
    }
    /// Cancels a running import and waits for `CANCELED`; a finished or vanished import is done.
    async fn delete(run: &mut Run<'_>, client: &Client, seen: Seen) -> Flow<Option<Outcome>> {
        let Seen::Live(import) = seen else {
            return Ok(None);
        };
        let (api, _) = live(client)?;
        let id = import.import_id.clone();
        let observed = translate_import::observed(&import);
        match decide::cleanup_step(&observed) {
            Cleanup::Done => {
                if observed.state == "CANCELED" && recorded_state(run) != Some("CANCELED") {
                    let text = format!("import {id} is CANCELED");
                    run.event(EventType::Normal, reasons::CANCELED, "Delete", text)
                        .await;
                }
                Ok(None)
            }
            Cleanup::Cancel => {
                let cluster_id = import.cluster_id.clone();
                match api.cancel_import(&cluster_id, &id).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => return Ok(None),
                    Err(e) => return Err(driver::cloud("cancel the import")(e)),
                }
                run.status.state = Some("CANCELING".into());
                let text = format!(
                    "the resource is being deleted: canceling import {id} ({} at {}%)",
                    observed.state, observed.complete_percent
                );
                run.event(EventType::Normal, reasons::CANCELING, "Delete", text)
                    .await;
                let message = format!("canceling import {id} before the resource goes away");
                Ok(Some(run.progressing(reasons::CANCELING, message)))
            }
            Cleanup::WaitCanceled => {
                let message = format!("waiting for import {id} to be CANCELED");
                Ok(Some(run.progressing(reasons::CANCELING, message)))
            }
        }
    }
}

/// The import state the object carried when this reconcile started (before the driver recorded what it saw).
fn recorded_state<'a>(run: &Run<'a>) -> Option<&'a str> {
    run.obj.status.as_ref().and_then(|s| s.state.as_deref())
}

/// Where an existing import stands (a `Completed` Event when it has just completed).
async fn follow(run: &mut Run<'_>, seen: Seen) -> Outcome {
    let spec = &run.obj.spec;
    let (id, observed, ran_uri, ran_cluster) = match &seen {
        Seen::Gone {
            id,
            cluster_id,
            cluster_gone,
        } => {
            let (reason, message) = decide::gone(id, cluster_id, *cluster_gone);
            return Outcome::Stalled {
                reason,
                message,
                requeue: None,
            };
        }
        Seen::Finished { id, observed } => {
            (id, observed.clone(), None, run.status.cluster_id.as_deref())
        }
        Seen::Live(i) => (
            &i.import_id,
            translate_import::observed(i),
            translate_import::source_uri(i),
            Some(i.cluster_id.as_str()),
        ),
    };
    let note = decide::changed_since_start(spec, ran_uri, ran_cluster);
    let phase = decide::phase(id, &observed);
    if let (Phase::Completed { message }, Seen::Live(_)) = (&phase, &seen)
        && recorded_state(run) != Some("COMPLETED")
    {
        run.event(
            EventType::Normal,
            reasons::COMPLETED,
            "Import",
            message.clone(),
        )
        .await;
    }
    let with_note = |message: String| match &note {
        Some(n) => format!("{message}; {n}"),
        None => message,
    };
    match phase {
        Phase::Running { reason, message } => run.progressing(reason, with_note(message)),
        Phase::Completed { message } => Outcome::Converged {
            reason: reasons::COMPLETED,
            message: with_note(message),
        },
        Phase::Failed { message } => Outcome::Stalled {
            reason: reasons::IMPORT_FAILED,
            message: with_note(message),
            requeue: None,
        },
        Phase::Canceled { message } => Outcome::Stalled {
            reason: reasons::CANCELED,
            message: with_note(message),
            requeue: None,
        },
    }
}

/// No import yet: wait for the target cluster, then read the source Secrets and ask the driver to create.
async fn start(run: &mut Run<'_>, client: &Client) -> Flow<Next<TidbCloudImport>> {
    let (api, target) = live(client)?;
    let step = decide::decide(target);
    tracing::debug!(object = %run.key, ?step, "decided");
    let (cluster_id, check_cloud) = match step {
        Step::Wait { message } => {
            return Ok(Next::Done(
                run.progressing(reasons::WAITING_FOR_CLUSTER, message),
            ));
        }
        Step::Blocked { reason, message } => {
            return driver::report(Outcome::Stalled {
                reason,
                message,
                requeue: Some(run.ctx.config.poll_steady),
            });
        }
        Step::Create {
            cluster_id,
            check_cloud,
        } => (cluster_id, check_cloud),
    };
    if check_cloud {
        cloud_cluster_active(run, api, &cluster_id).await?;
    }
    // Nothing is recorded or sent while a source Secret is missing.
    let secrets = source_secrets(run).await?;
    let started_at = core::intent_started_at(
        run.status
            .create_intent
            .as_ref()
            .map(|i| i.started_at.as_str()),
    );
    let intent = ImportCreateIntent {
        cluster_id,
        source_uri: run.obj.spec.source.uri.clone(),
        started_at,
    };
    Ok(Next::Create(intent, secrets))
}

/// For spec.clusterId: the cloud cluster must exist and be ACTIVE before an import is created.
async fn cloud_cluster_active(run: &Run<'_>, api: &TidbCloudClient, cluster_id: &str) -> Flow<()> {
    // Through the shared observer: the clusters' list snapshot answers, not a GET per poll.
    let found = run
        .ctx
        .providers
        .tidbcloud
        .observer
        .cluster(api, None, cluster_id)
        .await
        .map_err(driver::cloud("read the cluster"))?;
    match found {
        Some(c) if c.state.as_str() == "ACTIVE" => Ok(()),
        Some(c) => {
            let message = format!(
                "waiting for cluster {cluster_id} to be ACTIVE (it is {}); the import starts then",
                c.state
            );
            driver::report(run.progressing(reasons::WAITING_FOR_CLUSTER, message))
        }
        None => driver::report(Outcome::Stalled {
            reason: reasons::CLUSTER_NOT_FOUND,
            message: format!(
                "cluster {cluster_id} (spec.clusterId) does not exist in TiDB Cloud or is not visible to these \
                 credentials"
            ),
            requeue: Some(run.ctx.config.poll_steady),
        }),
    }
}

/// Reads the object storage secrets the spec references; a missing one is a `SourceCredentialsMissing` stall
/// (retried when the Secret appears).
async fn source_secrets(run: &Run<'_>) -> Flow<SourceSecrets> {
    let src = &run.obj.spec.source;
    let (kube, ns) = (&run.ctx.kube, run.ns);
    let missing = |e: SecretRefError| {
        Stop::Report(Outcome::Stalled {
            reason: reasons::SOURCE_CREDENTIALS_MISSING,
            message: format!("source credentials unavailable: {e}"),
            requeue: Some(run.ctx.config.poll_credentials),
        })
    };
    let mut out = SourceSecrets::default();
    if let Some(k) = src.s3.as_ref().and_then(|s| s.access_key.as_ref()) {
        let name = &k.secret_ref.name;
        let id = core::secret_value(kube, ns, name, ACCESS_KEY_ID)
            .await?
            .map_err(missing)?;
        let secret = core::secret_value(kube, ns, name, SECRET_ACCESS_KEY)
            .await?
            .map_err(missing)?;
        out.access_key = Some((id.expose_secret().to_string(), secret));
    }
    if let Some(g) = &src.gcs {
        let r = &g.service_account_key.secret_ref;
        let value = core::secret_value(kube, ns, &r.name, &r.key).await?;
        out.service_account_key = Some(value.map_err(missing)?);
    }
    if let Some(a) = &src.azure_blob {
        let r = &a.sas_token.secret_ref;
        let value = core::secret_value(kube, ns, &r.name, &r.key).await?;
        out.sas_token = Some(value.map_err(missing)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tidbcloudcluster::TidbCloudCluster;
    use kube::ResourceExt;
    use kube::runtime::watcher;

    #[test]
    fn the_crd_name_matches_the_generated_crd() {
        use kube::CustomResourceExt;
        assert_eq!(
            TidbCloudImport::crd().metadata.name.as_deref(),
            Some(CRD_NAME)
        );
    }

    fn import(name: &str, cluster: &str, state: Option<&str>) -> TidbCloudImport {
        let mut i: TidbCloudImport = serde_json::from_value(serde_json::json!({
            "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudImport",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"clusterRef": {"name": cluster}, "fileType": "CSV",
                     "source": {"type": "S3", "uri": "s3://b/o/", "s3": {"roleArn": "arn:aws:iam::1:role/r"}}},
        }))
        .expect("import");
        i.status = state.map(|s| TidbCloudImportStatus {
            cluster_id: Some("7".into()),
            import_id: Some(format!("{name}-id")),
            state: Some(s.into()),
            ..Default::default()
        });
        i
    }

    #[test]
    fn a_cluster_wakes_its_waiting_imports_and_started_ones_only_when_it_goes() {
        use kube::runtime::reflector;
        let (store, mut writer) = reflector::store();
        for i in [
            import("waiting", "orders", None),
            import("running", "orders", Some("IMPORTING")),
            import("done", "orders", Some("COMPLETED")),
            import("other", "billing", None),
        ] {
            writer.apply_watcher_event(&watcher::Event::Apply(i));
        }
        let mut cluster: TidbCloudCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudCluster",
            "metadata": {"name": "orders", "namespace": "ns"},
            "spec": {"regionId": "r", "tidb": {"nodeSpecKey": "2C4G", "nodeCount": 1},
                     "tikv": {"nodeSpecKey": "2C4G", "nodeCount": 3, "storageSizeGi": 200}},
            "status": {"clusterId": "7"},
        }))
        .expect("cluster");
        let names = |c: &TidbCloudCluster| {
            let mut n: Vec<String> = store
                .state()
                .into_iter()
                .filter(|o| driver::wakes_on(&**o, c))
                .map(|o| o.name_any())
                .collect();
            n.sort();
            n
        };
        assert_eq!(names(&cluster), ["waiting"]);
        cluster.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        assert_eq!(names(&cluster), ["running", "waiting"]);
    }

    #[test]
    fn only_a_finished_import_is_reported_from_status() {
        let mut status = TidbCloudImportStatus {
            import_id: Some("9".into()),
            state: Some("IMPORTING".into()),
            ..Default::default()
        };
        assert!(finished(&status).is_none());
        status.state = Some("COMPLETED".into());
        assert!(matches!(finished(&status), Some(Seen::Finished { id, .. }) if id == "9"));
        status.import_id = None;
        assert!(finished(&status).is_none());
    }
}
