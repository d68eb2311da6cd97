//! Wire models of the TiDB Cloud Dedicated v1beta1 and IAM v1beta1 APIs (reference §3–§7).
//!
//! Responses decode leniently: unknown fields are ignored, missing ones take their default, JSON `null`s are
//! removed by the client before decoding, enums keep values they do not know (`Other`), and the int64
//! fields the service sends as strings are read from either form.
//!
//! Requests send only the fields that are set. Secrets in requests (root password, integration API keys,
//! object storage credentials) are [`SecretString`]s: their `Debug` is `[REDACTED]` and they are exposed
//! only by the serializer.
use crate::cloud::{ExposeSecret, SecretString};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Label carrying the project of a cluster (the only label accepted on create).
pub const LABEL_PROJECT: &str = "tidb.cloud/project";
/// Label the service adds with the organization id.
pub const LABEL_ORGANIZATION: &str = "tidb.cloud/organization";

// ---- helpers --------------------------------------------------------------------------------------------

/// Generates a string enum that keeps unknown values: the API adds enum values over time, and an operator
/// must not fail to read a cluster because of one.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this client does not know (or empty when the server sent none).
            Other(String),
        }

        impl $name {
            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Other(s) => s,
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::Other(String::new())
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($wire => Self::$variant,)*
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = Option::<String>::deserialize(d)?.unwrap_or_default();
                Ok(Self::from(s.as_str()))
            }
        }
    };
}

/// Reads a JSON string or number as a string (int64/uint64 fields are strings on the wire, but not always).
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Null => Ok(String::new()),
        _ => Err(D::Error::custom("expected a string or a number")),
    }
}

/// Reads a JSON number or numeric string as i64.
fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| D::Error::custom("expected an integer")),
        serde_json::Value::String(s) if s.is_empty() => Ok(0),
        serde_json::Value::String(s) => s
            .parse()
            .map_err(|_| D::Error::custom("expected an integer in a string")),
        serde_json::Value::Null => Ok(0),
        _ => Err(D::Error::custom("expected a number or a numeric string")),
    }
}

fn expose<S: Serializer>(v: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.expose_secret())
}

fn expose_opt<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) => s.serialize_str(x.expose_secret()),
        None => s.serialize_none(),
    }
}

// ---- enums ----------------------------------------------------------------------------------------------

string_enum! {
    /// `commonv1beta1ClusterState` (§3.4).
    ClusterState {
        Creating => "CREATING",
        Deleting => "DELETING",
        Active => "ACTIVE",
        Restoring => "RESTORING",
        Maintenance => "MAINTENANCE",
        Deleted => "DELETED",
        Inactive => "INACTIVE",
        Upgrading => "UPGRADING",
        Importing => "IMPORTING",
        Modifying => "MODIFYING",
        Pausing => "PAUSING",
        Paused => "PAUSED",
        Resuming => "RESUMING",
    }
}

impl ClusterState {
    /// A state the cluster rests in (what the official Terraform provider waits for).
    pub fn is_stable(&self) -> bool {
        matches!(self, Self::Active | Self::Paused | Self::Maintenance)
    }

    /// A state on the way to another one (poll faster; do not mutate).
    pub fn is_transitional(&self) -> bool {
        matches!(
            self,
            Self::Creating
                | Self::Modifying
                | Self::Resuming
                | Self::Importing
                | Self::Pausing
                | Self::Upgrading
                | Self::Deleting
                | Self::Restoring
        )
    }
}

string_enum! {
    /// Storage type of TiKV/TiFlash nodes.
    StorageType {
        Basic => "Basic",
        Standard => "Standard",
        Performance => "Performance",
        Plus => "Plus",
    }
}

string_enum! {
    /// Kind of a TiDB node group endpoint.
    ConnectionType {
        Public => "PUBLIC",
        VpcPeering => "VPC_PEERING",
        PrivateEndpoint => "PRIVATE_ENDPOINT",
    }
}

string_enum! {
    /// Component of a cluster, for node specs.
    ComponentType {
        Tidb => "TIDB",
        Tikv => "TIKV",
        Tiflash => "TIFLASH",
        Pd => "PD",
        Tiproxy => "TIPROXY",
    }
}

string_enum! {
    /// Import state (§5.1).
    ImportState {
        Unspecified => "UNSPECIFIED",
        Preparing => "PREPARING",
        Importing => "IMPORTING",
        Completed => "COMPLETED",
        Failed => "FAILED",
        Canceling => "CANCELING",
        Canceled => "CANCELED",
    }
}

impl ImportState {
    /// The import is over (it will not change any more).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Canceled)
    }
}

string_enum! {
    ImportFileType {
        Csv => "CSV",
        Sql => "SQL",
        AuroraSnapshot => "AURORA_SNAPSHOT",
        Parquet => "PARQUET",
    }
}

string_enum! {
    DuplicationHandling {
        Replace => "REPLACE",
        Ignore => "IGNORE",
        Error => "ERROR",
    }
}

string_enum! {
    ImportSourceType {
        S3 => "S3",
        Gcs => "GCS",
        AzureBlob => "AZURE_BLOB",
    }
}

string_enum! {
    S3AuthType {
        RoleArn => "ROLE_ARN",
        AccessKey => "ACCESS_KEY",
    }
}

string_enum! {
    GcsAuthType {
        ServiceAccountKey => "SERVICE_ACCOUNT_KEY",
    }
}

string_enum! {
    AzureBlobAuthType {
        SasToken => "SAS_TOKEN",
    }
}

string_enum! {
    IntegrationType {
        Datadog => "DATADOG",
        NewRelic => "NEWRELIC",
        Prometheus => "PROMETHEUS",
    }
}

string_enum! {
    IntegrationState {
        None => "NONE",
        Active => "ACTIVE",
        Error => "ERROR",
    }
}

// ---- clusters: responses --------------------------------------------------------------------------------

/// A Dedicated cluster as the service returns it (§3.2). `rootPassword` is never read back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Cluster {
    /// `clusters/{clusterId}`.
    pub name: String,
    /// Decimal digits, up to 20 (may exceed i64): keep it a string.
    pub cluster_id: String,
    pub display_name: String,
    pub region_id: String,
    pub labels: BTreeMap<String, String>,
    pub tidb_node_setting: TidbNodeSetting,
    pub tikv_node_setting: StorageNodeSetting,
    /// `None`: no TiFlash.
    pub tiflash_node_setting: Option<StorageNodeSetting>,
    pub port: i32,
    pub state: ClusterState,
    pub version: String,
    pub created_by: String,
    /// RFC 3339.
    pub create_time: String,
    pub update_time: String,
    pub pause_plan: Option<PausePlan>,
    pub region_display_name: String,
    pub cloud_provider: String,
    pub annotations: BTreeMap<String, String>,
}

impl Cluster {
    /// The project id from the `tidb.cloud/project` label.
    pub fn project_id(&self) -> Option<&str> {
        self.labels.get(LABEL_PROJECT).map(String::as_str)
    }

    /// The default TiDB node group (the one created with the cluster).
    pub fn default_node_group(&self) -> Option<&TidbNodeGroup> {
        let groups = &self.tidb_node_setting.tidb_node_groups;
        groups
            .iter()
            .find(|g| g.is_default_group)
            .or_else(|| groups.first())
    }

    /// TiDB nodes over all node groups.
    pub fn tidb_node_count(&self) -> i32 {
        self.tidb_node_setting
            .tidb_node_groups
            .iter()
            .map(|g| g.node_count)
            .sum()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TidbNodeSetting {
    pub node_spec_key: String,
    pub node_spec_display_name: String,
    pub node_spec_version: String,
    pub tidb_node_groups: Vec<TidbNodeGroup>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TidbNodeGroup {
    /// `tidbNodeGroups/{id}`.
    pub name: String,
    pub tidb_node_group_id: String,
    pub cluster_id: String,
    pub display_name: String,
    pub node_count: i32,
    pub endpoints: Vec<Endpoint>,
    pub node_spec_key: String,
    pub node_spec_version: String,
    pub node_spec_display_name: String,
    pub is_default_group: bool,
    /// `ACTIVE`, `MODIFYING` or `PAUSED`.
    pub state: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Endpoint {
    /// Empty until the endpoint exists (private endpoints).
    pub host: String,
    pub port: i32,
    pub connection_type: ConnectionType,
}

/// TiKV / TiFlash settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StorageNodeSetting {
    pub node_count: i32,
    pub node_spec_key: String,
    pub node_spec_version: String,
    /// Per node.
    pub storage_size_gi: i32,
    pub storage_type: StorageType,
    pub raft_store_iops: Option<i32>,
    pub node_spec_display_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PausePlan {
    /// `NORMAL` or `DEPRECATE`.
    pub pause_type: String,
    pub scheduled_resume_time: Option<String>,
}

/// One page of `GET /clusters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterPage {
    pub clusters: Vec<Cluster>,
    #[serde(deserialize_with = "number_or_string")]
    pub total_size: i64,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// `{cluster}`: the answer of pause and resume.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ClusterEnvelope {
    pub cluster: Cluster,
}

// ---- clusters: requests ---------------------------------------------------------------------------------

/// `POST /clusters` body. Set the project with [`CreateClusterRequest::with_project`].
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateClusterRequest {
    pub display_name: String,
    pub region_id: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub tidb_node_setting: TidbNodeSettingRequest,
    pub tikv_node_setting: StorageNodeSettingRequest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiflash_node_setting: Option<StorageNodeSettingRequest>,
    /// Default 4000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// 8–64 characters.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose_opt")]
    pub root_password: Option<SecretString>,
}

impl CreateClusterRequest {
    /// Puts the cluster into `project_id` (absent: the organization's default project).
    pub fn with_project(mut self, project_id: &str) -> Self {
        self.labels
            .insert(LABEL_PROJECT.to_string(), project_id.to_string());
        self
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TidbNodeSettingRequest {
    pub node_spec_key: String,
    /// Exactly one group on create.
    pub tidb_node_groups: Vec<TidbNodeGroupRequest>,
}

impl TidbNodeSettingRequest {
    /// One default group of `node_count` nodes of `node_spec_key`.
    pub fn new(node_spec_key: impl Into<String>, node_count: i32) -> Self {
        TidbNodeSettingRequest {
            node_spec_key: node_spec_key.into(),
            tidb_node_groups: vec![TidbNodeGroupRequest {
                node_count,
                display_name: None,
            }],
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TidbNodeGroupRequest {
    pub node_count: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageNodeSettingRequest {
    pub node_spec_key: String,
    pub node_count: i32,
    pub storage_size_gi: i32,
    /// Server default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<StorageType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_store_iops: Option<i32>,
}

/// `PATCH /clusters/{clusterId}` body: only what is set is sent; absent fields stay unchanged (§3.3).
/// Region, port, project and password cannot be changed here.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateClusterRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tidb_node_setting: Option<TidbNodeSettingUpdate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tikv_node_setting: Option<StorageNodeSettingUpdate>,
    /// [`StorageNodeSettingUpdate::remove`] removes TiFlash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiflash_node_setting: Option<StorageNodeSettingUpdate>,
}

impl UpdateClusterRequest {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        *self == UpdateClusterRequest::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TidbNodeSettingUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_spec_key: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tidb_node_groups: Vec<TidbNodeGroupUpdate>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TidbNodeGroupUpdate {
    /// `None`: the default group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tidb_node_group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_count: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageNodeSettingUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_spec_key: Option<String>,
    /// For TiFlash, `Some(0)` removes the component; for TiKV 0 is ignored by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_size_gi: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<StorageType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raft_store_iops: Option<i32>,
}

impl StorageNodeSettingUpdate {
    /// The TiFlash setting that removes TiFlash (`nodeCount: 0`).
    pub fn remove() -> Self {
        StorageNodeSettingUpdate {
            node_count: Some(0),
            ..Default::default()
        }
    }
}

/// `POST /clusters/{clusterId}:resetRootPassword` body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResetRootPasswordRequest<'a> {
    #[serde(serialize_with = "expose")]
    pub root_password: &'a SecretString,
}

// ---- regions and node specs -----------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Region {
    /// `regions/aws-us-west-2`.
    pub name: String,
    pub region_id: String,
    pub cloud_provider: String,
    pub display_name: String,
    pub service_plans: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct RegionPage {
    pub regions: Vec<Region>,
    pub next_page_token: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeSpec {
    pub name: String,
    pub region_id: String,
    pub component_type: ComponentType,
    pub node_spec_key: String,
    pub display_name: String,
    pub v_cpu: i32,
    pub memory_size_gi: i32,
    pub default_storage_size_gi: i32,
    pub max_storage_size_gi: i32,
    pub min_storage_size_gi: i32,
    pub default_node_count: i32,
    pub storage_types: Vec<StorageType>,
    pub max_raft_store_iops: Option<i32>,
    pub min_raft_store_iops: Option<i32>,
    pub default_raft_store_iops: Option<i32>,
    pub version: String,
    pub default: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct NodeSpecPage {
    pub node_specs: Vec<NodeSpec>,
    pub next_page_token: String,
}

// ---- imports (§5.1) -------------------------------------------------------------------------------------

/// An import as the service returns it. Source credentials are input-only and never come back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Import {
    /// `clusters/{clusterId}/imports/{importId}`.
    pub name: String,
    pub import_id: String,
    pub cluster_id: String,
    /// Bytes (int64 sent as a string).
    #[serde(deserialize_with = "string_or_number")]
    pub total_size: String,
    pub create_time: String,
    pub complete_time: Option<String>,
    pub state: ImportState,
    /// 0–100.
    pub complete_percent: i32,
    /// Error text when the import failed.
    pub message: String,
    pub creator: String,
    pub creation_details: ImportCreationDetails,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ImportPage {
    pub imports: Vec<Import>,
    pub next_page_token: String,
}

/// `POST /clusters/{clusterId}/imports` body.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateImportRequest {
    pub creation_details: ImportCreationDetails,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImportCreationDetails {
    pub import_options: ImportOptions,
    pub source: ImportSource,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub target_table_infos: Vec<TargetTableInfo>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImportOptions {
    pub file_type: ImportFileType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csv_format: Option<CsvFormat>,
    /// SQL files only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplication_handling: Option<DuplicationHandling>,
}

/// CSV options; absent values take the server defaults (`,`, `"`, header, `\N`...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CsvFormat {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_null: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub null_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backslash_escape: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trim_last_separator: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImportSource {
    #[serde(rename = "type")]
    pub source_type: ImportSourceType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GcsSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_blob: Option<AzureBlobSource>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct S3Source {
    /// `s3://bucket/path/`.
    pub uri: String,
    pub auth_type: S3AuthType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<S3AccessKey>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct S3AccessKey {
    pub id: String,
    /// Input only.
    #[serde(
        skip_deserializing,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_opt"
    )]
    pub secret: Option<SecretString>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GcsSource {
    /// `gs://bucket/path/`.
    pub uri: String,
    pub auth_type: GcsAuthType,
    /// Input only.
    #[serde(
        skip_deserializing,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_opt"
    )]
    pub service_account_key: Option<SecretString>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AzureBlobSource {
    /// `azure://account.blob.core.windows.net/container/path/` or `https://…`.
    pub uri: String,
    pub auth_type: AzureBlobAuthType,
    /// Input only.
    #[serde(
        skip_deserializing,
        skip_serializing_if = "Option::is_none",
        serialize_with = "expose_opt"
    )]
    pub sas_token: Option<SecretString>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TargetTableInfo {
    pub target_table: TargetTable,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_file: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TargetTable {
    pub schema: String,
    pub table: String,
}

// ---- integrations (§6) ----------------------------------------------------------------------------------

/// `IntegrationStatusResp`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Integration {
    /// uint64 as a string.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(rename = "type")]
    pub integration_type: IntegrationType,
    pub datadog: Option<VendorIntegrationStatus>,
    pub newrelic: Option<VendorIntegrationStatus>,
    pub prometheus: Option<PrometheusIntegrationStatus>,
    pub create_time: String,
    pub update_time: String,
    pub creator: String,
}

impl Integration {
    /// The vendor status (Datadog or New Relic), if this is one of those.
    pub fn vendor_status(&self) -> Option<&VendorIntegrationStatus> {
        self.datadog.as_ref().or(self.newrelic.as_ref())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VendorIntegrationStatus {
    pub state: IntegrationState,
    /// Why the state is ERROR.
    pub status_reason: String,
    pub site: String,
    pub site_url: String,
    pub dashboard_url: String,
    pub masked_api_key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PrometheusIntegrationStatus {
    pub key: String,
    pub query_endpoint: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct IntegrationList {
    pub items: Vec<Integration>,
}

/// `POST /clusters/{clusterId}/integrations` body; build it with the constructors.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateIntegrationRequest {
    #[serde(rename = "type")]
    pub integration_type: IntegrationType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datadog: Option<VendorIntegrationConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newrelic: Option<VendorIntegrationConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusIntegrationConfig>,
}

impl CreateIntegrationRequest {
    /// Datadog; `site` is one of US1, US3, US5, EU1, US1_FED, AP1, AP2.
    pub fn datadog(api_key: SecretString, site: impl Into<String>) -> Self {
        CreateIntegrationRequest {
            integration_type: IntegrationType::Datadog,
            datadog: Some(VendorIntegrationConfig {
                api_key,
                site: site.into(),
            }),
            ..Default::default()
        }
    }

    /// New Relic; `site` is US_OTLP or EU_OTLP.
    pub fn newrelic(api_key: SecretString, site: impl Into<String>) -> Self {
        CreateIntegrationRequest {
            integration_type: IntegrationType::NewRelic,
            newrelic: Some(VendorIntegrationConfig {
                api_key,
                site: site.into(),
            }),
            ..Default::default()
        }
    }

    pub fn prometheus() -> Self {
        CreateIntegrationRequest {
            integration_type: IntegrationType::Prometheus,
            prometheus: Some(PrometheusIntegrationConfig {}),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorIntegrationConfig {
    /// Write-only.
    #[serde(serialize_with = "expose")]
    pub api_key: SecretString,
    pub site: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PrometheusIntegrationConfig {}

// ---- public endpoint setting ----------------------------------------------------------------------------

/// `v1beta1PublicEndpointSetting` of a TiDB node group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PublicEndpointSetting {
    /// `tidbNodeGroups/{id}/publicEndpointSetting` (read-only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tidb_node_group_id: String,
    pub enabled: Option<bool>,
    /// Empty: every address is allowed.
    pub ip_access_list: Vec<IpAccessListEntry>,
}

/// `v1beta1PublicEndpointSettingIpAccessList`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IpAccessListEntry {
    pub cidr_notation: String,
    pub description: String,
}

// ---- IAM ------------------------------------------------------------------------------------------------

/// `api.SqlUser` (IAM v1beta1): a SQL user of a cluster. The password is write-only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SqlUser {
    pub user_name: String,
    pub auth_method: String,
    pub builtin_role: String,
    pub custom_roles: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SqlUserPage {
    pub sql_users: Vec<SqlUser>,
    pub next_page_token: String,
}

/// `api.CreateSqlUserReq`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSqlUserRequest {
    pub user_name: String,
    /// Write-only; 8–64 characters.
    #[serde(serialize_with = "expose")]
    pub password: SecretString,
    pub auth_method: String,
    pub builtin_role: String,
    pub custom_roles: Vec<String>,
}

/// `api.UpdateSqlUserReq`: what is set changes.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSqlUserRequest {
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose_opt")]
    pub password: Option<SecretString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builtin_role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_roles: Option<Vec<String>>,
}

/// `api.Project` (IAM; snake_case on the wire).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Project {
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    #[serde(deserialize_with = "string_or_number")]
    pub org_id: String,
    pub name: String,
    #[serde(deserialize_with = "number_or_string")]
    pub cluster_count: i64,
    #[serde(deserialize_with = "number_or_string")]
    pub user_count: i64,
    /// Unix seconds.
    #[serde(deserialize_with = "string_or_number")]
    pub create_timestamp: String,
    pub aws_cmek_enabled: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ProjectPage {
    pub projects: Vec<Project>,
    pub next_page_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_reference_cluster_and_tolerates_unknowns() {
        let v = json!({"name":"clusters/10526169210080596964","clusterId":"10526169210080596964","displayName":"test-tf",
         "regionId":"aws-us-west-2","labels":{"tidb.cloud/organization":"60000","tidb.cloud/project":"3100000"},
         "tidbNodeSetting":{"nodeSpecKey":"8C16G","nodeSpecDisplayName":"8 vCPU, 16 GiB","tidbNodeGroups":[
           {"name":"tidbNodeGroups/1932002964533000000","tidbNodeGroupId":"1932002964533000000","clusterId":"10526169210080596964",
            "displayName":"DefaultGroup","nodeCount":2,"nodeSpecKey":"8C16G","nodeSpecDisplayName":"8 vCPU, 16 GiB",
            "isDefaultGroup":true,"state":"ACTIVE","endpoints":[
              {"host":"tidb.abc123.clusters.tidb-cloud.com","port":4000,"connectionType":"PUBLIC"},
              {"host":"","port":4000,"connectionType":"SOMETHING_NEW"}]}]},
         "tikvNodeSetting":{"nodeCount":3,"nodeSpecKey":"8C32G","storageSizeGi":200,"storageType":"Standard","nodeSpecDisplayName":"8 vCPU, 32 GiB"},
         "port":4000,"rootPassword":"","state":"HIBERNATING","version":"v7.5.6","createdBy":"apikey-K1R3JIC0",
         "createTime":"2025-06-06T09:12:55.396Z","updateTime":"2025-06-06T14:15:29.609Z",
         "regionDisplayName":"Oregon (us-west-2)","cloudProvider":"aws","brandNewField":{"x":1},
         "annotations":{"tidb.cloud/has-set-password":"false"}});
        let c: Cluster = serde_json::from_value(v).unwrap();
        assert_eq!(c.cluster_id, "10526169210080596964");
        assert_eq!(c.project_id(), Some("3100000"));
        assert_eq!(c.state, ClusterState::Other("HIBERNATING".into()));
        assert_eq!(c.tidb_node_count(), 2);
        let g = c.default_node_group().unwrap();
        assert_eq!(g.endpoints[0].connection_type, ConnectionType::Public);
        assert_eq!(g.endpoints[1].connection_type.as_str(), "SOMETHING_NEW");
        assert_eq!(c.tikv_node_setting.storage_type, StorageType::Standard);
        assert!(c.tiflash_node_setting.is_none());
        // A nearly empty object decodes too.
        let c: Cluster = serde_json::from_value(json!({"clusterId": "1"})).unwrap();
        assert_eq!(c.state, ClusterState::default());
        assert!(!c.state.is_stable() && !c.state.is_transitional());
    }

    #[test]
    fn requests_send_only_what_is_set_and_debug_hides_secrets() {
        let req = CreateClusterRequest {
            display_name: "my-db".into(),
            region_id: "aws-us-west-2".into(),
            tidb_node_setting: TidbNodeSettingRequest::new("8C16G", 2),
            tikv_node_setting: StorageNodeSettingRequest {
                node_spec_key: "8C32G".into(),
                node_count: 3,
                storage_size_gi: 500,
                storage_type: Some(StorageType::Standard),
                raft_store_iops: None,
            },
            root_password: Some(SecretString::from("hunter2-hunter2")),
            ..Default::default()
        }
        .with_project("123");
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["rootPassword"], "hunter2-hunter2");
        assert_eq!(v["labels"][LABEL_PROJECT], "123");
        assert_eq!(
            v["tidbNodeSetting"]["tidbNodeGroups"][0],
            json!({"nodeCount": 2})
        );
        assert!(v.get("port").is_none() && v.get("tiflashNodeSetting").is_none());
        assert!(v["tikvNodeSetting"].get("raftStoreIops").is_none());
        assert!(!format!("{req:?}").contains("hunter2"));

        let upd = UpdateClusterRequest {
            tiflash_node_setting: Some(StorageNodeSettingUpdate::remove()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&upd).unwrap(),
            json!({"tiflashNodeSetting": {"nodeCount": 0}})
        );
        assert!(UpdateClusterRequest::default().is_empty() && !upd.is_empty());

        let integ = CreateIntegrationRequest::datadog(SecretString::from("dd-api-key-123"), "US1");
        assert!(!format!("{integ:?}").contains("dd-api-key-123"));
        assert_eq!(
            serde_json::to_value(&integ).unwrap(),
            json!({"type": "DATADOG", "datadog": {"apiKey": "dd-api-key-123", "site": "US1"}})
        );
        assert_eq!(
            serde_json::to_value(CreateIntegrationRequest::prometheus()).unwrap(),
            json!({"type": "PROMETHEUS", "prometheus": {}})
        );
    }

    #[test]
    fn import_secrets_are_sent_but_never_read_back() {
        let req = CreateImportRequest {
            creation_details: ImportCreationDetails {
                import_options: ImportOptions {
                    file_type: ImportFileType::Csv,
                    ..Default::default()
                },
                source: ImportSource {
                    source_type: ImportSourceType::S3,
                    s3: Some(S3Source {
                        uri: "s3://b/p/".into(),
                        auth_type: S3AuthType::AccessKey,
                        role_arn: None,
                        access_key: Some(S3AccessKey {
                            id: "AKIA".into(),
                            secret: Some(SecretString::from("aws-secret-xyz")),
                        }),
                    }),
                    ..Default::default()
                },
                target_table_infos: vec![],
            },
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(
            v,
            json!({"creationDetails": {"importOptions": {"fileType": "CSV"}, "source": {"type": "S3",
                "s3": {"uri": "s3://b/p/", "authType": "ACCESS_KEY", "accessKey": {"id": "AKIA", "secret": "aws-secret-xyz"}}}}})
        );
        assert!(!format!("{req:?}").contains("aws-secret-xyz"));
        // Decoding ignores a secret even if a server echoed one.
        let imp: Import = serde_json::from_value(
            json!({"importId": "7", "totalSize": 1024, "state": "IMPORTING",
            "creationDetails": v["creationDetails"].clone()}),
        )
        .unwrap();
        assert_eq!(imp.total_size, "1024");
        assert_eq!(imp.state, ImportState::Importing);
        let key = imp.creation_details.source.s3.unwrap().access_key.unwrap();
        assert_eq!(key.id, "AKIA");
        assert!(key.secret.is_none());
    }

    #[test]
    fn iam_projects_are_snake_case_with_lenient_numbers() {
        let p: Project = serde_json::from_value(json!({"id": "1372813089454525346", "org_id": 42, "name": "default",
            "cluster_count": "3", "user_count": 1, "create_timestamp": "1700000000", "aws_cmek_enabled": false}))
        .unwrap();
        assert_eq!(p.org_id, "42");
        assert_eq!(p.cluster_count, 3);
    }
}
