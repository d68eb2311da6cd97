//! TidbCloudIntegration on the one driver (`driver.rs`): this module says how to connect (the referenced
//! cluster, the credentials, and that cluster's integrations, listed once per reconcile), read an integration by
//! id and list what a lost create may have made (both from that list), converge (wait for the cluster → the
//! vendor API key → pure `decide` → report, or delete and create again), create and delete a metrics
//! integration; the driver does the rest.
//!
//! The API has no update: a change of type, site or API key value is applied by deleting the integration here
//! and asking the driver to create it again (intent first). An integration deleted outside Kubernetes is created
//! again ([`OnGone::Recreate`]: it holds no data). A cloud cluster that no longer exists is `ClusterGone`; a
//! deletion then has nothing left to delete.

pub mod decide;

use kube::ResourceExt;
use kube::runtime::events::EventType;
use secrecy::SecretString;

use self::decide::{Decision, Wanted};
use super::clusterref::{self, Target};
use super::core::{self, Base, Failure, Outcome};
use super::driver::{self, CloudKind, Flow, Next, OnCluster, OnGone, Policy, Stop};
use super::ownership::CloudIdKind;
use crate::api::common::ClusterRef;
use crate::api::tidbcloudintegration::{
    IntegrationCreateIntent, TidbCloudIntegration, TidbCloudIntegrationStatus,
};
use crate::cloud::CloudError;
use crate::conditions::{READY, RECONCILING, STALLED};
use crate::config::RunConfig;
use crate::providers::tidbcloud::client::TidbCloudClient;
use crate::providers::tidbcloud::models::Integration;
use crate::providers::tidbcloud::translate_integration::{self, api_key_fingerprint};
use crate::reasons;

pub const KIND: &str = "TidbCloudIntegration";
const CRD_NAME: &str = "tidbcloudintegrations.clouddb.dev";
const MANAGED_CONDITIONS: &[&str] = &[READY, RECONCILING, STALLED];

/// The controller of the scope of `api`, woken by the TidbCloudClusters its objects reference (the scope's
/// `shared` watch).
pub fn run(
    ctx: std::sync::Arc<super::Context>,
    api: kube::api::Api<TidbCloudIntegration>,
    shared: &super::watch::Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> futures::future::BoxFuture<'static, ()> {
    driver::run_on_clusters::<TidbCloudIntegration>(ctx, api, shared, shutdown)
}

type Run<'a> = Base<'a, TidbCloudIntegration>;

/// What one reconcile works with: the client, where the reference points, and the cluster's integrations as
/// listed once at the start of this reconcile (read by id, found by create intent, and the one-per-type
/// conflict all come from it).
pub struct Connected {
    client: TidbCloudClient,
    target: Target,
    /// The cloud cluster worked on; `None` while nothing exists and the referenced cluster is not Ready.
    cluster_id: Option<String>,
    integrations: Vec<Integration>,
}

/// An integration and the cloud cluster it belongs to.
#[derive(Clone, Debug)]
pub struct InCluster {
    cluster_id: String,
    integration: Integration,
}

/// The API key of a vendor integration: site, value and fingerprint.
pub struct VendorKey {
    site: &'static str,
    value: SecretString,
    fingerprint: String,
}

impl CloudKind for TidbCloudIntegration {
    type State = TidbCloudIntegrationStatus;
    type Client = Connected;
    type Remote = InCluster;
    type Intent = IntegrationCreateIntent;
    /// The vendor API key to create it with (`None` for Prometheus).
    type CreateArgs = Option<VendorKey>;

    const KIND: &'static str = KIND;
    const CRD_NAME: &'static str = CRD_NAME;
    const MANAGED: &'static [&'static str] = MANAGED_CONDITIONS;
    const NOUN: &'static str = "integration";
    const CLOUD: &'static str = "TiDB Cloud";
    /// There is no such spec field: an integration is never adopted by id (only in messages of an
    /// `AmbiguousCreate`, which TiDB Cloud's one integration per type and cluster rules out).
    const ADOPT_FIELD: Option<&'static str> = None;
    const ID_KIND: CloudIdKind = CloudIdKind::TidbIntegration;
    const NAMESPACE_CREDENTIALS: Option<&'static str> =
        Some(crate::api::common::TIDBCLOUD_NAMESPACE_CREDENTIALS);

    fn spec_id(&self) -> Option<&str> {
        None
    }
    fn status_id(status: &Self::State) -> Option<&str> {
        status.integration_id.as_deref()
    }
    fn intent(status: &Self::State) -> Option<&IntegrationCreateIntent> {
        status.create_intent.as_ref()
    }
    fn set_intent(status: &mut Self::State, intent: IntegrationCreateIntent) {
        status.create_intent = Some(intent);
    }
    fn remote_id(i: &InCluster) -> &str {
        &i.integration.id
    }
    /// Also the fingerprint of the key it was created with, when a create intent led to it.
    fn record(status: &mut Self::State, i: &InCluster) {
        if let Some(intent) = status.create_intent.take() {
            status.api_key_fingerprint = intent.api_key_fingerprint;
        }
        translate_integration::record(status, &i.cluster_id, &i.integration);
    }
    /// Keeps `clusterId`: a new integration in another cluster is reported as `ClusterReplaced`.
    fn forget(status: &mut Self::State) {
        translate_integration::forget(status);
        status.create_intent = None;
    }
    fn policy(&self) -> Policy {
        Policy {
            deletion: self.spec.deletion_policy,
            protected: false,
            on_gone: OnGone::Recreate,
        }
    }
    /// Integrations have no observe-only mode.
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
    /// Its credentials and its vendor API key.
    fn secrets_read(&self) -> Vec<String> {
        self.secret_names()
            .into_iter()
            .map(str::to_string)
            .collect()
    }
    fn made_by(&self, intent: &IntegrationCreateIntent, i: &InCluster, key_id: &str) -> bool {
        decide::made_by(intent, &i.cluster_id, &i.integration, key_id)
    }

    async fn connect(run: &Run<'_>) -> Flow<Connected> {
        connect(run).await
    }
    fn key_id(c: &Connected) -> String {
        c.client.key_id().to_string()
    }
    async fn read(run: &Run<'_>, c: &Connected, id: &str) -> Result<Option<InCluster>, CloudError> {
        let Some(cluster_id) = &c.cluster_id else {
            return Ok(None);
        };
        // Recorded in another cloud cluster than the reference names now (replaced): not in this one.
        if run
            .status
            .cluster_id
            .as_ref()
            .is_some_and(|old| old != cluster_id)
        {
            return Ok(None);
        }
        Ok(c.listed().find(|i| i.integration.id == id))
    }
    async fn candidates(
        _: &Run<'_>,
        c: &Connected,
        _: &IntegrationCreateIntent,
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
    async fn create(run: &mut Run<'_>, c: &Connected, key: Option<VendorKey>) -> Flow<InCluster> {
        let cluster_id = run
            .status
            .create_intent
            .as_ref()
            .map(|i| i.cluster_id.clone())
            .ok_or(Stop::Fail(Failure::Internal("no create intent to create")))?;
        let kind = run.obj.spec.integration_type;
        let req = translate_integration::create_request(kind, key.map(|k| (k.site, k.value)))
            .ok_or(Stop::Fail(Failure::Internal(
                "vendor settings missing for the integration type",
            )))?;
        let integration = c
            .client
            .create_integration(&cluster_id, &req)
            .await
            .map_err(driver::cloud("create the integration"))?;
        Ok(InCluster {
            cluster_id,
            integration,
        })
    }
    /// One `DELETE`: the deletion is done when it returns (or the integration or its cluster is gone).
    async fn delete(run: &mut Run<'_>, c: &Connected, i: InCluster) -> Flow<Option<Outcome>> {
        let (id, cluster_id) = (&i.integration.id, &i.cluster_id);
        let text = match remove(c, &i).await {
            Ok(true) => format!("integration {id} removed from cluster {cluster_id}"),
            Ok(false) => format!("integration {id} (or cluster {cluster_id}) is already gone"),
            Err(e) => return Err(driver::cloud("delete the integration")(e)),
        };
        run.event(EventType::Normal, reasons::DELETED, "Delete", text)
            .await;
        Ok(None)
    }
}

impl OnCluster for TidbCloudIntegration {
    fn cluster_ref(&self) -> Option<&ClusterRef> {
        self.spec.cluster_ref.as_ref()
    }
    fn recorded_cluster(&self) -> Option<&str> {
        self.status.as_ref().and_then(|s| s.cluster_id.as_deref())
    }
}

impl Connected {
    /// The integrations listed, with their cluster.
    fn listed(&self) -> impl Iterator<Item = InCluster> + '_ {
        self.cluster_id.iter().flat_map(|cluster_id| {
            self.integrations.iter().map(|i| InCluster {
                cluster_id: cluster_id.clone(),
                integration: i.clone(),
            })
        })
    }
}

/// The referenced cluster (a broken reference stalls), the credentials (spec.credentials, else the cluster's,
/// else the default), and the cluster's integrations. A deletion works on the cluster the integration was
/// recorded in, whatever the reference says now, and a cluster gone means nothing is left to delete.
async fn connect(run: &Run<'_>) -> Flow<Connected> {
    let spec = &run.obj.spec;
    let (r, id) = (spec.cluster_ref.as_ref(), spec.cluster_id.as_deref());
    let target = clusterref::target(run.ctx, r, id, run.ns).await?;
    let deleting = run.obj.metadata.deletion_timestamp.is_some();
    let status = &run.status;
    let exists = status.integration_id.is_some() || status.create_intent.is_some();
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
        // Nothing to observe yet; converge waits for the cluster. One that exists is still observed while
        // its cluster changes (scaling...).
        Target::NotReady { .. } if !exists => None,
        t => t.cluster_id().map(str::to_string),
    };
    let (own, inherited) = (spec.credentials.as_ref(), target.credentials());
    let client = run
        .ctx
        .connect_on_cluster(&run.ctx.providers.tidbcloud, run.ns, own, inherited)
        .await?
        .map_err(Stop::Report)?;
    let integrations = match &cluster_id {
        None => Vec::new(),
        Some(id) => match client.list_integrations(id).await {
            Ok(list) => list,
            Err(e) if e.is_not_found() && deleting => Vec::new(),
            Err(e) if e.is_not_found() => {
                return driver::report(Outcome::Stalled {
                    reason: reasons::CLUSTER_GONE,
                    message: format!(
                        "cluster {id} does not exist in TiDB Cloud (any more), or is not visible to these credentials"
                    ),
                    requeue: Some(run.ctx.config.poll_steady),
                });
            }
            Err(e) => return Err(driver::cloud("list the cluster's integrations")(e)),
        },
    };
    Ok(Connected {
        client,
        target,
        cluster_id,
        integrations,
    })
}

/// Waits for the cluster, reads the vendor API key, decides (pure), and reports, or deletes what differs and
/// asks the driver to create.
async fn converge(
    run: &mut Run<'_>,
    c: &Connected,
    observed: Option<InCluster>,
) -> Flow<Next<TidbCloudIntegration>> {
    let Some(cluster_id) = c.cluster_id.clone() else {
        return Ok(Next::Done(waiting(run, &c.target)));
    };
    if let Some(old) = run.status.cluster_id.clone()
        && old != cluster_id
    {
        let text = format!(
            "the referenced cluster is now cloud cluster {cluster_id} (was {old}); creating the integration there"
        );
        run.event(
            EventType::Warning,
            reasons::CLUSTER_REPLACED,
            "Observe",
            text,
        )
        .await;
        run.status.cluster_id = Some(cluster_id.clone());
    }
    let key = api_key(run).await?;
    let kind = run.obj.spec.integration_type.as_str();
    if observed.is_none()
        && let Some(other) = c
            .integrations
            .iter()
            .find(|i| i.integration_type.as_str() == kind)
    {
        return driver::report(Outcome::Stalled {
            reason: reasons::CONFLICT,
            message: format!(
                "cluster {cluster_id} already has a {kind} integration ({}) that this resource did not create; \
                 delete it in TiDB Cloud, or delete the TidbCloudIntegration that manages it",
                other.id
            ),
            requeue: Some(run.ctx.config.poll_steady),
        });
    }
    let wanted = Wanted {
        integration_type: kind,
        site: key.as_ref().map(|k| k.site),
        key_fingerprint: key.as_ref().map(|k| k.fingerprint.as_str()),
    };
    let seen = observed
        .as_ref()
        .map(|i| translate_integration::observed(&i.integration));
    let recorded = run.status.api_key_fingerprint.as_deref();
    let decision = decide::decide(&wanted, seen.as_ref(), recorded);
    tracing::debug!(object = %run.key, ?decision, "decided");
    let why = match decision {
        Decision::Active => {
            let message = decide::active_message(&run.status);
            return Ok(Next::Done(Outcome::Converged {
                reason: reasons::ACTIVE,
                message,
            }));
        }
        Decision::Error { reason } => {
            return Ok(Next::Done(Outcome::Stalled {
                reason: reasons::INTEGRATION_ERROR,
                message: decide::error_message(&run.status, &reason),
                requeue: Some(run.ctx.config.poll_steady),
            }));
        }
        Decision::Create => None,
        Decision::Recreate { why } => Some(why),
    };
    // Nothing is created in a cluster that is not Ready.
    if let Target::NotReady { .. } = c.target {
        return Ok(Next::Done(waiting(run, &c.target)));
    }
    if let (Some(why), Some(old)) = (why, observed) {
        if run.writes_held() {
            let change = format!(
                "re-create the {kind} integration {} ({why})",
                old.integration.id
            );
            return Ok(Next::Done(run.observing(vec![change])));
        }
        let text = format!(
            "re-creating the {kind} integration {} ({why}): the API cannot update an integration",
            old.integration.id
        );
        run.event(EventType::Normal, reasons::RECREATING, "Recreate", text)
            .await;
        remove(c, &old)
            .await
            .map_err(driver::cloud("delete the integration to re-create it"))?;
        <TidbCloudIntegration as CloudKind>::forget(&mut run.status);
    }
    let previous = run.status.create_intent.as_ref();
    let intent = IntegrationCreateIntent {
        cluster_id,
        integration_type: kind.to_string(),
        api_key_fingerprint: key.as_ref().map(|k| k.fingerprint.clone()),
        started_at: core::intent_started_at(previous.map(|i| i.started_at.as_str())),
    };
    Ok(Next::Create(intent, key))
}

/// Deletes the integration: `false` when it (or its cluster) was already gone.
async fn remove(c: &Connected, i: &InCluster) -> Result<bool, CloudError> {
    match c
        .client
        .delete_integration(&i.cluster_id, &i.integration.id)
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// `WaitingForCluster`: the referenced cluster is not Ready (or has no cloud cluster yet).
fn waiting(run: &Run<'_>, target: &Target) -> Outcome {
    let why = match target {
        Target::NotReady { why, .. } => why.as_str(),
        _ => "waiting for the referenced cluster",
    };
    Outcome::Progressing {
        reason: reasons::WAITING_FOR_CLUSTER,
        message: format!("{why}; the integration is created once it is Ready"),
        requeue: run.ctx.config.poll_transitional,
    }
}

/// The vendor API key from its Secret with its fingerprint (`None` for Prometheus); a missing one is an
/// `ApiKeyMissing` stall (retried when the Secret appears).
async fn api_key(run: &Run<'_>) -> Flow<Option<VendorKey>> {
    let Some((site, r)) = run.obj.vendor() else {
        return Ok(None);
    };
    let uid = run.obj.uid().ok_or(Stop::Fail(Failure::Internal(
        "object has no uid to salt the key fingerprint",
    )))?;
    match core::secret_value(&run.ctx.kube, run.ns, &r.name, &r.key).await? {
        Ok(value) => Ok(Some(VendorKey {
            site,
            fingerprint: api_key_fingerprint(&uid, &value),
            value,
        })),
        Err(e) => driver::report(Outcome::Stalled {
            reason: reasons::API_KEY_MISSING,
            message: format!(
                "the {} API key is unavailable: {e}",
                run.obj.spec.integration_type.as_str()
            ),
            requeue: Some(run.ctx.config.poll_credentials),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tidbcloudcluster::TidbCloudCluster;
    use crate::api::tidbcloudcluster::TidbCloudClusterStatus;

    fn integration(status: Option<TidbCloudIntegrationStatus>) -> TidbCloudIntegration {
        let mut i: TidbCloudIntegration = serde_json::from_value(serde_json::json!({
            "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudIntegration",
            "metadata": {"name": "prom", "namespace": "ns"},
            "spec": {"clusterRef": {"name": "orders"}, "type": "PROMETHEUS"},
        }))
        .expect("integration");
        i.status = status;
        i
    }

    fn cluster(name: &str, id: &str) -> TidbCloudCluster {
        let mut c: TidbCloudCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudCluster",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"regionId": "aws-us-west-2", "tidb": {"nodeSpecKey": "8C16G", "nodeCount": 1},
                     "tikv": {"nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 500}},
        }))
        .expect("cluster");
        c.status = Some(TidbCloudClusterStatus {
            cluster_id: Some(id.to_string()),
            ..Default::default()
        });
        c
    }

    #[test]
    fn cluster_events_wake_waiting_integrations_and_started_ones_only_on_replacement() {
        let waiting = integration(None);
        assert!(driver::wakes_on(&waiting, &cluster("orders", "7")));
        assert!(!driver::wakes_on(&waiting, &cluster("billing", "7")));
        let started = integration(Some(TidbCloudIntegrationStatus {
            cluster_id: Some("7".into()),
            integration_id: Some("12".into()),
            ..Default::default()
        }));
        assert!(!driver::wakes_on(&started, &cluster("orders", "7")));
        assert!(driver::wakes_on(&started, &cluster("orders", "8")));
    }

    #[test]
    fn record_takes_the_key_fingerprint_of_the_create_that_made_it() {
        let listed: Integration = serde_json::from_value(serde_json::json!({
            "id": "12", "type": "PROMETHEUS", "createTime": "2025-01-01T00:00:00Z",
        }))
        .expect("integration");
        let found = InCluster {
            cluster_id: "7".into(),
            integration: listed,
        };
        let mut s = TidbCloudIntegrationStatus {
            create_intent: Some(IntegrationCreateIntent {
                cluster_id: "7".into(),
                integration_type: "PROMETHEUS".into(),
                api_key_fingerprint: Some("sha256:ab".into()),
                started_at: "2025-01-01T00:00:00Z".into(),
            }),
            ..Default::default()
        };
        <TidbCloudIntegration as CloudKind>::record(&mut s, &found);
        assert_eq!(s.integration_id.as_deref(), Some("12"));
        assert_eq!(s.api_key_fingerprint.as_deref(), Some("sha256:ab"));
        assert_eq!(s.create_intent, None);
        // Observed again by id: the fingerprint stays.
        <TidbCloudIntegration as CloudKind>::record(&mut s, &found);
        assert_eq!(s.api_key_fingerprint.as_deref(), Some("sha256:ab"));
        // Gone: everything but the cluster is forgotten.
        <TidbCloudIntegration as CloudKind>::forget(&mut s);
        assert_eq!((s.integration_id, s.api_key_fingerprint), (None, None));
        assert_eq!(s.cluster_id.as_deref(), Some("7"));
    }
}
