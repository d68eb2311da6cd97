//! `TidbCloudIntegration`: a metrics integration (Datadog, New Relic or Prometheus) of a TiDB Cloud Dedicated
//! cluster (Dedicated API v1beta1 integrations: list, create, delete — no update).
//!
//! Field semantics and condition reasons are documented for users in `docs/tidbcloudintegration.md`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CLUSTER_ID_PATTERN, ClusterRef, CredentialsSpec, DeletionPolicy, SecretKeyRef,
};

/// Desired metrics integration of a cluster.
// Each `printcolumn(...)` repeats `type_`/`priority`, which clippy takes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "clouddb.dev",
    version = "v1alpha1",
    kind = "TidbCloudIntegration",
    namespaced,
    status = "TidbCloudIntegrationStatus",
    shortname = "tcint",
    category = "clouddb",
    category = "tidbcloud",
    derive = "PartialEq",
    doc = "A metrics integration (Datadog, New Relic or Prometheus) of a TiDB Cloud Dedicated cluster, managed by clouddb-operator.",
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".spec.clusterRef.name",
        description = "The TidbCloudCluster the integration belongs to"
    ),
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".spec.type",
        description = "DATADOG, NEWRELIC or PROMETHEUS"
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "State of the integration in TiDB Cloud"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Cluster ID",
        type_ = "string",
        json_path = ".status.clusterId",
        priority = 1,
        description = "ID of the TiDB Cloud cluster"
    ),
    printcolumn(
        name = "Integration ID",
        type_ = "string",
        json_path = ".status.integrationId",
        priority = 1,
        description = "ID of the integration in TiDB Cloud"
    )
)]
#[x_kube(
    validation = Rule::new("has(self.clusterRef) != has(self.clusterId)")
        .message("set exactly one of spec.clusterRef and spec.clusterId"),
    validation = Rule::new(
        "has(self.clusterRef) == has(oldSelf.clusterRef) && (!has(self.clusterRef) || self.clusterRef == oldSelf.clusterRef) && (!has(self.clusterId) || self.clusterId == oldSelf.clusterId)"
    )
    .message("spec.clusterRef and spec.clusterId are immutable: create another TidbCloudIntegration for another cluster"),
    validation = Rule::new("self.type == 'DATADOG' ? has(self.datadog) : !has(self.datadog)")
        .message("spec.datadog is required when type is DATADOG, and only then"),
    validation = Rule::new("self.type == 'NEWRELIC' ? has(self.newrelic) : !has(self.newrelic)")
        .message("spec.newrelic is required when type is NEWRELIC, and only then"),
    validation = Rule::new("self.type == 'PROMETHEUS' || !has(self.prometheus)")
        .message("spec.prometheus is allowed only when type is PROMETHEUS")
)]
#[serde(rename_all = "camelCase")]
pub struct TidbCloudIntegrationSpec {
    /// The TidbCloudCluster (in this namespace) to integrate. The integration is created once that cluster is
    /// Ready. Exactly one of clusterRef and clusterId; immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<ClusterRef>,

    /// ID of a TiDB Cloud cluster that no TidbCloudCluster here manages (decimal digits). Exactly one of
    /// clusterRef and clusterId; immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = CLUSTER_ID_PATTERN))]
    pub cluster_id: Option<String>,

    /// Integration type: `DATADOG`, `NEWRELIC` or `PROMETHEUS`. Changing it deletes the integration and creates
    /// one of the new type.
    #[serde(rename = "type")]
    pub integration_type: IntegrationType,

    /// Datadog settings (type DATADOG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datadog: Option<DatadogSpec>,

    /// New Relic settings (type NEWRELIC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newrelic: Option<NewRelicSpec>,

    /// Prometheus settings (type PROMETHEUS; there are none: `{}` or absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSpec>,

    /// API credentials for TiDB Cloud. Absent: the credentials of the referenced TidbCloudCluster (its
    /// spec.credentials), else the operator's default credentials Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsSpec>,

    /// What happens to the integration in TiDB Cloud when this resource is deleted: `Delete` removes it,
    /// `Retain` keeps it. Unset: deleting this resource directly removes the integration, but a cascade
    /// (namespace deletion, CRD deletion, operator uninstall) keeps it. An explicit value always wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

// Integration type.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum IntegrationType {
    /// Datadog.
    #[serde(rename = "DATADOG")]
    Datadog,
    /// New Relic.
    #[serde(rename = "NEWRELIC")]
    NewRelic,
    /// Prometheus (TiDB Cloud exposes a scrape endpoint).
    #[serde(rename = "PROMETHEUS")]
    Prometheus,
}

impl IntegrationType {
    /// The wire name (`DATADOG`, `NEWRELIC`, `PROMETHEUS`).
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationType::Datadog => "DATADOG",
            IntegrationType::NewRelic => "NEWRELIC",
            IntegrationType::Prometheus => "PROMETHEUS",
        }
    }
}

/// Datadog settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DatadogSpec {
    /// Datadog site: `US1`, `US3`, `US5`, `EU1`, `US1_FED`, `AP1` or `AP2`. Changing it re-creates the
    /// integration.
    pub site: DatadogSite,
    /// Secret key, in this namespace, holding the Datadog API key. When its value changes, the integration is
    /// re-created with the new key.
    pub api_key_secret_ref: SecretKeyRef,
}

// Datadog site.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DatadogSite {
    /// app.datadoghq.com
    #[serde(rename = "US1")]
    Us1,
    /// us3.datadoghq.com
    #[serde(rename = "US3")]
    Us3,
    /// us5.datadoghq.com
    #[serde(rename = "US5")]
    Us5,
    /// app.datadoghq.eu
    #[serde(rename = "EU1")]
    Eu1,
    /// app.ddog-gov.com
    #[serde(rename = "US1_FED")]
    Us1Fed,
    /// ap1.datadoghq.com
    #[serde(rename = "AP1")]
    Ap1,
    /// ap2.datadoghq.com
    #[serde(rename = "AP2")]
    Ap2,
}

/// New Relic settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NewRelicSpec {
    /// New Relic OTLP endpoint region: `US_OTLP` or `EU_OTLP`. Changing it re-creates the integration.
    pub site: NewRelicSite,
    /// Secret key, in this namespace, holding the New Relic license (ingest) key. When its value changes, the
    /// integration is re-created with the new key.
    pub api_key_secret_ref: SecretKeyRef,
}

// New Relic OTLP endpoint region.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum NewRelicSite {
    /// otlp.nr-data.net
    #[serde(rename = "US_OTLP")]
    UsOtlp,
    /// otlp.eu01.nr-data.net
    #[serde(rename = "EU_OTLP")]
    EuOtlp,
}

/// Prometheus settings (none today).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct PrometheusSpec {}

/// Observed state of the integration.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TidbCloudIntegrationStatus {
    /// metadata.generation of the spec the operator last processed completely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Conditions `Ready`, `Reconciling` and `Stalled` (kstatus conventions), one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// ID of the TiDB Cloud cluster the integration belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,

    /// ID of the integration in TiDB Cloud, persisted as soon as it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<String>,

    /// Type of the integration that exists in TiDB Cloud.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub integration_type: Option<String>,

    /// Site of the Datadog or New Relic integration that exists in TiDB Cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,

    /// `ACTIVE` or `ERROR` as TiDB Cloud reports it for Datadog and New Relic (`NONE` before the first
    /// export); `ACTIVE` for a Prometheus integration that exists (the service reports no state for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,

    /// Why the state is ERROR, as TiDB Cloud reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,

    /// The API key as TiDB Cloud shows it (masked, for example `abcd************wxyz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_api_key: Option<String>,

    /// Dashboard of the cluster at the vendor (Datadog, New Relic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,

    /// Prometheus scrape endpoint of the cluster's metrics (type PROMETHEUS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_endpoint: Option<String>,

    /// `sha256:<hex>` of the API key value the integration was created with, salted with this resource's UID:
    /// detects a changed key in the Secret without storing the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_fingerprint: Option<String>,

    /// Create call in flight: recorded before the operator asks TiDB Cloud to create the integration, so that
    /// after a crash or an uncertain outcome it adopts the integration instead of failing on a duplicate.
    /// Cleared once integrationId is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<IntegrationCreateIntent>,
}

/// An integration create call about to be made, recorded for crash-safe adoption.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationCreateIntent {
    /// Cluster the integration is created in.
    pub cluster_id: String,
    /// Type of the integration being created.
    #[serde(rename = "type")]
    pub integration_type: String,
    /// Fingerprint of the API key it is created with (see apiKeyFingerprint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_fingerprint: Option<String>,
    /// Time (RFC 3339) the intent was recorded, before the first create call.
    pub started_at: String,
}

impl TidbCloudIntegration {
    /// Site and API key reference of a Datadog or New Relic integration (`None` for Prometheus).
    pub fn vendor(&self) -> Option<(&'static str, &SecretKeyRef)> {
        match self.spec.integration_type {
            IntegrationType::Datadog => self
                .spec
                .datadog
                .as_ref()
                .map(|d| (d.site.as_str(), &d.api_key_secret_ref)),
            IntegrationType::NewRelic => self
                .spec
                .newrelic
                .as_ref()
                .map(|n| (n.site.as_str(), &n.api_key_secret_ref)),
            IntegrationType::Prometheus => None,
        }
    }

    /// Names of the Secrets in this namespace the spec refers to.
    pub fn secret_names(&self) -> Vec<&str> {
        let s = &self.spec;
        [
            s.credentials.as_ref().map(|c| c.secret_ref.name.as_str()),
            s.datadog
                .as_ref()
                .map(|d| d.api_key_secret_ref.name.as_str()),
            s.newrelic
                .as_ref()
                .map(|n| n.api_key_secret_ref.name.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

impl DatadogSite {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DatadogSite::Us1 => "US1",
            DatadogSite::Us3 => "US3",
            DatadogSite::Us5 => "US5",
            DatadogSite::Eu1 => "EU1",
            DatadogSite::Us1Fed => "US1_FED",
            DatadogSite::Ap1 => "AP1",
            DatadogSite::Ap2 => "AP2",
        }
    }
}

impl NewRelicSite {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            NewRelicSite::UsOtlp => "US_OTLP",
            NewRelicSite::EuOtlp => "EU_OTLP",
        }
    }
}
