//! `ClickHouseService`: a ClickHouse Cloud service (API v1).
//!
//! Field semantics, defaults and condition reasons are documented for users in `docs/clickhouseservice.md`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ConnectionSecretSpec, CredentialsSpec, DeletionPolicy, SecretKeyRef};

/// Tag the operator puts on every service it creates: its value is the resource's UID, so that a service
/// whose create answer was lost can be found again (tag keys allow letters, digits, `.`, `_` and `-`).
pub const UID_TAG: &str = "clouddb.dev-uid";

/// Pattern of a ClickHouse Cloud service id (a UUID).
pub const SERVICE_ID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// Sets the description of a list schema's items (for `kubectl explain` and the schema checks).
fn describe_items(schema: &mut schemars::Schema, text: &str) {
    if let Some(items) = schema.get_mut("items").and_then(|i| i.as_object_mut()) {
        items.insert("description".into(), text.into());
    }
}

fn describe_endpoint_ids(schema: &mut schemars::Schema) {
    describe_items(
        schema,
        "A private endpoint id, for example an AWS VPC endpoint id `vpce-…`.",
    );
}

fn describe_key_ids(schema: &mut schemars::Schema) {
    describe_items(schema, "The id (a UUID) of an API key of the organization.");
}

fn describe_roles(schema: &mut schemars::Schema) {
    describe_items(
        schema,
        "A role: `sql_console_read_only` or `sql_console_admin`.",
    );
}

/// Cloud provider of a service.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CloudProvider {
    Aws,
    Gcp,
    Azure,
}

impl CloudProvider {
    pub fn as_str(&self) -> &'static str {
        match self {
            CloudProvider::Aws => "aws",
            CloudProvider::Gcp => "gcp",
            CloudProvider::Azure => "azure",
        }
    }
}

/// Release channel of a service's ClickHouse upgrades.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseChannel {
    Slow,
    Default,
    Fast,
}

impl ReleaseChannel {
    pub fn as_str(&self) -> &'static str {
        match self {
            ReleaseChannel::Slow => "slow",
            ReleaseChannel::Default => "default",
            ReleaseChannel::Fast => "fast",
        }
    }
}

/// Desired state of a ClickHouse Cloud service.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "clouddb.dev",
    version = "v1alpha1",
    kind = "ClickHouseService",
    namespaced,
    status = "ClickHouseServiceStatus",
    shortname = "chs",
    category = "clouddb",
    category = "clickhouse",
    derive = "PartialEq",
    doc = "A ClickHouse Cloud service managed by clouddb-operator.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the service has converged on the latest spec"
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "State of the cloud service"
    ),
    printcolumn(
        name = "Provider",
        type_ = "string",
        json_path = ".spec.provider",
        description = "Cloud provider"
    ),
    printcolumn(
        name = "Region",
        type_ = "string",
        json_path = ".spec.region",
        description = "Cloud region"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(
        "!has(self.spec.serviceId) || !has(self.status) || !has(self.status.serviceId) || self.spec.serviceId == self.status.serviceId"
    )
    .message(
        "spec.serviceId must be the id of the service this resource already manages (status.serviceId): a resource \
         cannot be moved to another service; create a new resource to adopt it"
    ),
    validation = Rule::new("has(self.spec.name) || size(self.metadata.name) <= 50").message(
        "metadata.name is longer than a ClickHouse Cloud service name may be (50 characters): set spec.name"
    )
)]
#[x_kube(
    validation = Rule::new(
        "!has(self.minReplicaMemoryGb) || !has(self.maxReplicaMemoryGb) || self.minReplicaMemoryGb <= self.maxReplicaMemoryGb"
    )
    .message("spec.minReplicaMemoryGb must not exceed spec.maxReplicaMemoryGb"),
    validation = Rule::new("!has(self.idleTimeoutMinutes) || !has(self.idleScaling) || self.idleScaling")
        .message("spec.idleTimeoutMinutes needs idle scaling: remove it or set spec.idleScaling to true"),
    validation = Rule::new(
        "!has(oldSelf.serviceId) || (has(self.serviceId) && self.serviceId == oldSelf.serviceId)"
    )
    .message("spec.serviceId is immutable once set")
)]
#[serde(rename_all = "camelCase")]
pub struct ClickHouseServiceSpec {
    /// Name of the service in ClickHouse Cloud (1–50 characters). Default: metadata.name (the name in effect
    /// is in status.name). Can be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 50))]
    pub name: Option<String>,

    /// Cloud provider: `aws`, `gcp` or `azure`. Required; immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.provider is immutable"))]
    pub provider: CloudProvider,

    /// Region of the provider, for example `us-east-1` (aws), `us-central1` (gcp), `eastus2` (azure).
    /// Required; immutable.
    #[schemars(regex(pattern = "^[a-z0-9-]+$"), length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.region is immutable"))]
    pub region: String,

    /// ID (a UUID) of an existing ClickHouse Cloud service to adopt instead of creating one. Can be set on
    /// creation or added later; immutable once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SERVICE_ID_PATTERN))]
    pub service_id: Option<String>,

    /// Smallest memory per replica in GiB when autoscaling: 8–356, a multiple of 4. Absent: the cloud's
    /// default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 8, max = 356))]
    #[x_kube(validation = Rule::new("self % 4 == 0").message("spec.minReplicaMemoryGb must be a multiple of 4"))]
    pub min_replica_memory_gb: Option<i64>,

    /// Largest memory per replica in GiB when autoscaling: 8–356, a multiple of 4 (at most 120 for unpaid
    /// organizations). Absent: the cloud's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 8, max = 356))]
    #[x_kube(validation = Rule::new("self % 4 == 0").message("spec.maxReplicaMemoryGb must be a multiple of 4"))]
    pub max_replica_memory_gb: Option<i64>,

    /// Number of replicas, 1–20. Absent: the cloud's default (1 on BASIC, 3 on SCALE and ENTERPRISE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20))]
    pub num_replicas: Option<i64>,

    /// Let the service go idle when unused. Absent: the cloud's default (true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_scaling: Option<bool>,

    /// Minutes without queries before an idle-scaling service goes idle, at least 5. Absent: the cloud's
    /// default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5))]
    pub idle_timeout_minutes: Option<i64>,

    /// Addresses allowed to connect (`0.0.0.0/0` allows all; an empty list allows none). Changes are sent as
    /// additions and removals. Absent: the service's list is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["source".into()]))]
    pub ip_access_list: Option<Vec<IpAccessEntry>>,

    /// Release channel for upgrades: `slow`, `default` or `fast`. Absent: the cloud's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_channel: Option<ReleaseChannel>,

    /// Tags of the service (key → value): the operator adds and updates these and removes any other tag
    /// (except its own `clouddb.dev-uid`). Keys are 1–128 and values at most 256 of letters, digits, `.`, `_`
    /// and `-` (at most 49 tags). Absent: the service's tags are left as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "maxProperties" = 49,
        "additionalProperties" = {"type": "string", "maxLength": 256, "pattern": "^[a-zA-Z0-9._-]*$"}
    ))]
    #[x_kube(
        validation = Rule::new("!('clouddb.dev-uid' in self)")
            .message("the tag key clouddb.dev-uid is reserved for the operator")
    )]
    pub tags: Option<BTreeMap<String, String>>,

    /// IDs of the private endpoints (AWS PrivateLink VPC endpoint ids, GCP Private Service Connect or Azure
    /// Private Link endpoint ids) allowed to reach the service. Changes are sent as additions and removals
    /// through the service PATCH; an empty list detaches every endpoint. Absent: the service's attached
    /// endpoints are left as they are. While set, status.privateEndpointConfig shows the endpoint service to
    /// create the endpoints against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 100),
        inner(length(min = 1, max = 256), regex(pattern = "^[a-zA-Z0-9._:/-]+$")),
        transform = describe_endpoint_ids
    )]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub private_endpoint_ids: Option<Vec<String>>,

    /// Backup settings of the service (primary services only). Only the fields set here are managed; absent
    /// fields keep the cloud's value. Absent: the backup settings are left as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_configuration: Option<BackupConfigurationSpec>,

    /// The service's query API endpoint (`queries.clickhouse.cloud`): which roles it runs as, which API keys may
    /// call it, from which origins. Created when set, replaced (an upsert, in place) when changed, deleted when
    /// removed after the operator had applied it. Absent (and never set): left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_api_endpoints: Option<QueryApiEndpointsSpec>,

    /// Enable the MySQL-protocol endpoint (port 3306). Default: false.
    #[serde(default)]
    pub mysql_endpoint: bool,

    /// Stop the service (true) or keep it started (false). A stopped service serves no queries and costs no
    /// compute. Default: false.
    #[serde(default)]
    pub stopped: bool,

    /// What happens to the cloud service when this resource is deleted: `Delete` stops and deletes it,
    /// `Retain` keeps it. Unset: deleting this resource directly deletes the service, but a cascade
    /// (namespace deletion, CRD deletion, operator uninstall) retains it. An explicit value always wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Refuse deletion of this resource (at admission, by the clouddb-deletion-protection
    /// ValidatingAdmissionPolicy) and never delete the cloud service while true. Default: false.
    #[serde(default)]
    pub deletion_protection: bool,

    /// What to do when the service disappears outside Kubernetes: `Report` (default: `Stalled` with reason
    /// `CloudResourceGone` and a Warning Event; its data is not silently replaced by an empty service) or
    /// `Recreate` (create a new, empty one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_cloud_resource_gone: Option<super::common::CloudResourceGonePolicy>,

    /// What to do when the cloud resource differs from a spec it had matched (changed outside Kubernetes):
    /// `Correct` (default: restore the spec, Warning Event `DriftCorrected`) or `Report` (condition
    /// `Drifted=True` with the field diff, a Warning Event, no write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_policy: Option<super::common::DriftPolicy>,

    /// Secret key holding the password of the `default` user. Absent: the password ClickHouse Cloud generates
    /// at create is kept (in the connection Secret). When the referenced value changes, the operator sets the
    /// service's password to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordSpec>,

    /// API credentials for ClickHouse Cloud: a Secret with the keys `keyId`, `keySecret` and
    /// `organizationId`. Absent: the operator's default ClickHouse credentials Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsSpec>,

    /// Secret the operator writes connection details to (host, port, username, password and a URI per
    /// protocol). Absent: a Secret named `<metadata.name>-connection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<ConnectionSecretSpec>,
}

/// An entry of the IP access list.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct IpAccessEntry {
    /// IP address or CIDR block, for example `203.0.113.7` or `10.0.0.0/8`.
    #[schemars(length(min = 1, max = 64), regex(pattern = "^[0-9a-fA-F:./]+$"))]
    pub source: String,
    /// Free-form description.
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub description: String,
}

/// Backup period in hours the API accepts (the values Terraform allows; the API documents no list).
pub const BACKUP_PERIODS: &[i64] = &[6, 8, 12, 16, 20, 24, 36, 48];

/// `BackupConfiguration` of a service (`PATCH /services/{id}/backupConfiguration`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(
        "!has(self.backupStartTime) || !has(self.backupPeriodInHours) || self.backupPeriodInHours == 24"
    )
    .message(
        "spec.backupConfiguration.backupStartTime makes backups daily: backupPeriodInHours must be 24 or absent"
    ),
    validation = Rule::new("has(self.backupPeriodInHours) || has(self.backupRetentionPeriodInHours) || has(self.backupStartTime)")
        .message("spec.backupConfiguration must set at least one field")
)]
pub struct BackupConfigurationSpec {
    /// Hours between backups: 6, 8, 12, 16, 20, 24, 36 or 48 (cloud default 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self in [6, 8, 12, 16, 20, 24, 36, 48]")
        .message("spec.backupConfiguration.backupPeriodInHours must be one of 6, 8, 12, 16, 20, 24, 36, 48"))]
    pub backup_period_in_hours: Option<i64>,
    /// Hours a backup is kept: a whole number of days, 24–1080 (a multiple of 24; cloud default 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 24, max = 1080))]
    #[x_kube(validation = Rule::new("self % 24 == 0")
        .message("spec.backupConfiguration.backupRetentionPeriodInHours must be a whole number of days (a multiple of 24)"))]
    pub backup_retention_period_in_hours: Option<i64>,
    /// Time of day (UTC, `HH:MM`) daily backups start. Setting it makes the period 24 hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub backup_start_time: Option<String>,
}

/// Role a query API endpoint runs queries as.
#[derive(
    JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum QueryEndpointRole {
    #[serde(rename = "sql_console_read_only")]
    ReadOnly,
    #[serde(rename = "sql_console_admin")]
    Admin,
}

impl QueryEndpointRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            QueryEndpointRole::ReadOnly => "sql_console_read_only",
            QueryEndpointRole::Admin => "sql_console_admin",
        }
    }
}

/// The query API endpoint of a service (`POST /services/{id}/serviceQueryEndpoint`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QueryApiEndpointsSpec {
    /// Roles the endpoint's queries run as: `sql_console_read_only` and/or `sql_console_admin`.
    #[schemars(length(min = 1, max = 2))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub roles: Vec<QueryEndpointRole>,
    /// IDs (UUIDs, as `GET /organizations/{id}/keys` lists them; not the key id used to log in, and never a
    /// secret) of the organization's API keys allowed to call the endpoint.
    #[serde(default)]
    #[schemars(
        length(max = 100),
        inner(regex(pattern = SERVICE_ID_PATTERN)),
        transform = describe_key_ids
    )]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub open_api_keys: Vec<String>,
    /// Origins allowed to call the endpoint from a browser (CORS), comma-separated as the API takes them, for
    /// example `https://app.example.com,https://admin.example.com`. Default: none.
    #[serde(default)]
    #[schemars(length(max = 4096))]
    pub allowed_origins: String,
}

/// The private link endpoint service of a service (`GET /services/{id}/privateEndpointConfig`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointConfig {
    /// The endpoint service to create private endpoints against (AWS VPC endpoint service name, GCP service
    /// attachment, Azure private link service).
    #[serde(default)]
    pub endpoint_service_id: String,
    /// The private DNS host name of the service through its private endpoints.
    #[serde(default)]
    pub private_dns_hostname: String,
}

/// The backup settings in effect.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct BackupConfigurationStatus {
    /// Hours between backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_period_in_hours: Option<i64>,
    /// Hours a backup is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_retention_period_in_hours: Option<i64>,
    /// Time of day (UTC) daily backups start, when fixed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_start_time: Option<String>,
}

/// The query API endpoint in effect.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct QueryApiEndpointStatus {
    /// ID of the endpoint.
    #[serde(default)]
    pub id: String,
    /// Roles its queries run as.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = describe_roles)]
    pub roles: Vec<String>,
    /// IDs of the API keys allowed to call it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = describe_key_ids)]
    pub open_api_keys: Vec<String>,
    /// Allowed origins (comma-separated).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub allowed_origins: String,
}

/// Where the password of the `default` user comes from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PasswordSpec {
    /// Secret key, in the namespace of this resource, holding the password (at least 12 characters).
    pub secret_ref: SecretKeyRef,
}

/// Observed state of a ClickHouse Cloud service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClickHouseServiceStatus {
    /// metadata.generation of the spec the service last matched (Ready). Unset on an adopted service until its
    /// differences are approved (`clouddb.dev/approve-adoption`); what differs while it equals
    /// metadata.generation was changed outside Kubernetes (drift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converged_generation: Option<i64>,

    /// Conditions `Ready`, `Available`, `Reconciling` and `Stalled` (kstatus conventions), one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// ID of the cloud service, persisted as soon as it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,

    /// State of the service as ClickHouse Cloud reports it, for example `provisioning`, `running`, `idle`,
    /// `stopping`, `stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,

    /// ClickHouse version of the service, for example `24.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clickhouse_version: Option<String>,

    /// Name in effect (spec.name, else metadata.name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// Endpoints of the service (`https`, `nativesecure`, and `mysql` when enabled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<ServiceEndpoint>,

    /// The scaling in effect, as the cloud reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<EffectiveScaling>,

    /// Private endpoints attached to the service (its `privateEndpointIds`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = describe_endpoint_ids)]
    pub private_endpoint_ids: Vec<String>,

    /// The endpoint service to create private endpoints against, read once while spec.privateEndpointIds is
    /// set (it does not change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_endpoint_config: Option<PrivateEndpointConfig>,

    /// The backup settings in effect, read while spec.backupConfiguration is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_configuration: Option<BackupConfigurationStatus>,

    /// The query API endpoint, read while spec.queryApiEndpoints is set (and until the endpoint the operator
    /// applied is deleted after the field is removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_api_endpoint: Option<QueryApiEndpointStatus>,

    /// metadata.generation of the spec the operator last processed completely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Create call in flight: recorded before the operator asks ClickHouse Cloud to create the service, so
    /// that after a crash or a lost answer it finds the service (by name and the `clouddb.dev-uid` tag)
    /// instead of creating a second one. Cleared once serviceId is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<ServiceCreateIntent>,
}

/// An endpoint of a service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEndpoint {
    /// `https`, `nativesecure` or `mysql`.
    pub protocol: String,
    /// Host name.
    pub host: String,
    /// Port.
    pub port: i32,
}

/// Scaling in effect.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveScaling {
    /// Smallest memory per replica in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replica_memory_gb: Option<i64>,
    /// Largest memory per replica in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replica_memory_gb: Option<i64>,
    /// Number of replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_replicas: Option<i64>,
    /// Whether the service idles when unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_scaling: Option<bool>,
    /// Minutes without queries before the service idles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_minutes: Option<i64>,
}

/// A create call about to be made, recorded for crash-safe adoption.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceCreateIntent {
    /// Name the service is created with.
    pub name: String,
    /// Time (RFC 3339) the intent was recorded, before the create call.
    pub started_at: String,
}

impl ClickHouseService {
    /// The name in effect: spec.name, else metadata.name.
    pub fn effective_name(&self) -> String {
        self.spec.name.clone().unwrap_or_else(|| self.name_any())
    }

    /// Name of the connection Secret: spec.connectionSecret.name, else `<metadata.name>-connection`.
    pub fn connection_secret_name(&self) -> String {
        super::common::connection_secret_name(self, self.spec.connection_secret.as_ref())
    }

    /// Whether annotation `clouddb.dev/reconcile: observe` selects observe-only mode.
    pub fn observe_only(&self) -> bool {
        super::common::observe_only(self)
    }
}
