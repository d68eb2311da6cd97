//! Wire models of Serverless v1beta1 (`serverless-{cluster,branch,br,import}-v1beta1.swagger.json`): what
//! the service answers (camelCase; proto int64 counts such as `totalSize` and RCUs as JSON numbers, the
//! import `totalSize` as a decimal string, as the specs type them) and what it accepts (unknown fields are
//! a 400; read-only fields a client echoes back are accepted and ignored).
use crate::catalog::Region;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

// ---- clusters ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub name: String,
    pub cluster_id: String,
    pub display_name: String,
    pub region: Region,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spending_limit: Option<SpendingLimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automated_backup_policy: Option<BackupPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_config: Option<EncryptionConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high_availability_type: Option<String>,
    pub version: String,
    pub created_by: String,
    pub user_prefix: String,
    pub state: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub create_time: String,
    pub update_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_log_config: Option<AuditLogConfig>,
    pub cluster_plan: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_scaling: Option<AutoScaling>,
    pub service_plan: String,
}

impl Cluster {
    /// The `BASIC` view: identity, placement, plan and state, without the settings and endpoints
    /// (inferred: the spec says only "basic cluster information").
    pub fn basic(&self) -> Cluster {
        Cluster {
            spending_limit: None,
            automated_backup_policy: None,
            endpoints: None,
            encryption_config: None,
            high_availability_type: None,
            audit_log_config: None,
            auto_scaling: None,
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpendingLimit {
    pub monthly: i32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AutoScaling {
    pub min_rcu: i64,
    pub max_rcu: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicy {
    pub start_time: String,
    pub retention_days: i32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionConfig {
    pub enhanced_encryption_enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditLogConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unredacted: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    pub public: PublicEndpoint,
    pub private: PrivateEndpoint,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicEndpoint {
    pub host: String,
    pub port: i32,
    pub disabled: bool,
    pub authorized_networks: Vec<AuthorizedNetwork>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizedNetwork {
    pub start_ip_address: String,
    pub end_ip_address: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpoint {
    pub host: String,
    pub port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<PrivateLink>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gcp: Option<PrivateGcp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alicloud: Option<PrivateLink>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateLink {
    pub service_name: String,
    pub availability_zone: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateGcp {
    pub service_attachment_name: String,
}

/// A proto int64 as protojson accepts it: a JSON number or a decimal string.
fn de_int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(i64),
        Str(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::Num(n)) => Ok(Some(n)),
        Some(N::Str(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an int64"))),
    }
}

/// A Cluster as a create body, or the `cluster` of a PATCH body.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterInput {
    pub display_name: Option<String>,
    pub region: Option<RegionInput>,
    pub spending_limit: Option<SpendingLimitInput>,
    pub automated_backup_policy: Option<BackupPolicyInput>,
    pub endpoints: Option<EndpointsInput>,
    pub root_password: Option<String>,
    pub encryption_config: Option<EncryptionConfigInput>,
    pub high_availability_type: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub audit_log_config: Option<AuditLogConfig>,
    pub auto_scaling: Option<AutoScalingInput>,
    /// Only in a PATCH body (`v1beta1PartialUpdateClusterRequestPartialUpdateCluster`): must match the path.
    pub cluster_id: Option<String>,
    // read-only, ignored
    pub name: Option<Value>,
    pub version: Option<Value>,
    pub created_by: Option<Value>,
    pub user_prefix: Option<Value>,
    pub state: Option<Value>,
    pub annotations: Option<Value>,
    pub create_time: Option<Value>,
    pub update_time: Option<Value>,
    pub cluster_plan: Option<Value>,
    pub service_plan: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegionInput {
    pub name: Option<String>,
    // read-only, ignored
    pub region_id: Option<Value>,
    pub cloud_provider: Option<Value>,
    pub display_name: Option<Value>,
    pub provider: Option<Value>,
    pub service_plans: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpendingLimitInput {
    pub monthly: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoScalingInput {
    #[serde(default, deserialize_with = "de_int64")]
    pub min_rcu: Option<i64>,
    #[serde(default, deserialize_with = "de_int64")]
    pub max_rcu: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupPolicyInput {
    pub start_time: Option<String>,
    pub retention_days: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptionConfigInput {
    pub enhanced_encryption_enabled: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointsInput {
    pub public: Option<PublicEndpointInput>,
    /// Read-only, ignored.
    pub private: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublicEndpointInput {
    pub disabled: Option<bool>,
    pub authorized_networks: Option<Vec<AuthorizedNetworkInput>>,
    // read-only, ignored
    pub host: Option<Value>,
    pub port: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizedNetworkInput {
    pub start_ip_address: Option<String>,
    pub end_ip_address: Option<String>,
    pub display_name: Option<String>,
}

/// `PATCH /clusters/{cluster.clusterId}`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchCluster {
    pub cluster: Option<ClusterInput>,
    pub update_mask: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePassword {
    pub password: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchCreate {
    pub requests: Option<Vec<CreateRequest>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRequest {
    pub cluster: Option<ClusterInput>,
}

// ---- branches ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Branch {
    pub name: String,
    pub branch_id: String,
    pub display_name: String,
    pub cluster_id: String,
    pub parent_id: String,
    pub created_by: String,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<BranchEndpoints>,
    pub user_prefix: String,
    pub create_time: String,
    pub update_time: String,
    pub annotations: BTreeMap<String, String>,
    pub parent_display_name: String,
    pub parent_timestamp: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BranchEndpoints {
    pub public: PublicEndpoint,
    pub private: BranchPrivateEndpoint,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BranchPrivateEndpoint {
    pub host: String,
    pub port: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws: Option<PrivateLink>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gcp: Option<PrivateGcp>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BranchInput {
    pub display_name: Option<String>,
    pub parent_id: Option<String>,
    pub parent_timestamp: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub root_password: Option<String>,
    // read-only, ignored
    pub name: Option<Value>,
    pub branch_id: Option<Value>,
    pub cluster_id: Option<Value>,
    pub created_by: Option<Value>,
    pub state: Option<Value>,
    pub endpoints: Option<Value>,
    pub user_prefix: Option<Value>,
    pub create_time: Option<Value>,
    pub update_time: Option<Value>,
    pub parent_display_name: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlUserPassword {
    pub password: Option<String>,
}

// ---- backups and restore ----------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    pub name: String,
    pub backup_id: String,
    pub cluster_id: String,
    pub create_time: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestoreRequest {
    pub snapshot: Option<RestoreSnapshot>,
    pub point_in_time: Option<RestorePointInTime>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestoreSnapshot {
    pub backup_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestorePointInTime {
    pub cluster_id: Option<String>,
    pub backup_time: Option<String>,
}

// ---- imports ----------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Import {
    /// Deprecated upstream; the same value as `importId`.
    pub id: String,
    pub name: String,
    pub cluster_id: String,
    pub total_size: String,
    pub create_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<String>,
    pub state: String,
    pub complete_percent: i64,
    pub message: String,
    pub created_by: String,
    pub creation_details: CreationDetails,
    pub import_id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationDetails {
    pub import_options: ImportOptions,
    pub source: ImportSource,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportOptions {
    pub file_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv_format: Option<CsvFormat>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CsvFormat {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_null: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backslash_escape: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trim_last_separator: Option<bool>,
}

/// A source: secrets are input-only (`skip_serializing`), never answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportSource {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<KeyedSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_blob: Option<AzureSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_compatible: Option<S3CompatibleSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oss: Option<S3CompatibleSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalSource {
    pub upload_id: Option<String>,
    pub target_database: Option<String>,
    pub target_table: Option<String>,
    /// Read-only: the uploaded file's name (ignored on input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Source {
    pub uri: Option<String>,
    pub auth_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<AccessKey>,
}

/// An access key: the spec makes `secret` required in answers too (and the generated Go client refuses an
/// answer without a required property), so it is answered masked — never the value given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessKey {
    pub id: Option<String>,
    #[serde(default, serialize_with = "masked")]
    pub secret: Option<String>,
}

/// The answer for a secret.
pub const MASKED_SECRET: &str = "********";

fn masked<S: serde::Serializer>(_: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(MASKED_SECRET)
}

/// GCS: `{uri, authType: SERVICE_ACCOUNT_KEY, serviceAccountKey}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyedSource {
    pub uri: Option<String>,
    pub auth_type: Option<String>,
    #[serde(default, skip_serializing)]
    pub service_account_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AzureSource {
    pub uri: Option<String>,
    pub auth_type: Option<String>,
    #[serde(default, skip_serializing)]
    pub sas_token: Option<String>,
}

/// S3-compatible storage and Alibaba Cloud OSS: `{uri, authType: ACCESS_KEY, accessKey, endpoint?}`
/// (`endpoint` only on S3-compatible sources).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3CompatibleSource {
    pub uri: Option<String>,
    pub auth_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<AccessKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateImport {
    pub import_options: Option<ImportOptions>,
    pub source: Option<ImportSource>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompletePart {
    pub part_number: Option<i32>,
    pub etag: Option<String>,
}
