//! `TidbCloudImport`: a one-shot data load from object storage into a TiDB Cloud Dedicated cluster
//! (Dedicated API v1beta1 imports), like a Kubernetes Job.
//!
//! Field semantics and condition reasons are documented for users in `docs/tidbcloudimport.md`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{CLUSTER_ID_PATTERN, ClusterRef, CredentialsSpec, SecretKeyRef, SecretNameRef};

/// Key of the S3 access key Secret holding the access key ID.
pub const ACCESS_KEY_ID: &str = "accessKeyId";

/// Key of the S3 access key Secret holding the secret access key.
pub const SECRET_ACCESS_KEY: &str = "secretAccessKey";

/// Desired data load. The whole spec is immutable once created: a TidbCloudImport is one import.
// Each `printcolumn(...)` repeats `type_`/`priority`, which clippy takes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "clouddb.dev",
    version = "v1alpha1",
    kind = "TidbCloudImport",
    namespaced,
    status = "TidbCloudImportStatus",
    shortname = "tcimport",
    category = "clouddb",
    category = "tidbcloud",
    derive = "PartialEq",
    doc = "A one-shot data load from object storage into a TiDB Cloud Dedicated cluster, managed by clouddb-operator.",
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".spec.clusterRef.name",
        description = "The TidbCloudCluster the data is loaded into"
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "State of the import in TiDB Cloud"
    ),
    printcolumn(
        name = "Progress",
        type_ = "integer",
        json_path = ".status.completePercent",
        description = "Percent of the data imported"
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
        name = "Import ID",
        type_ = "string",
        json_path = ".status.importId",
        priority = 1,
        description = "ID of the import in TiDB Cloud"
    )
)]
#[x_kube(
    validation = Rule::new("self == oldSelf")
        .message("spec is immutable: a TidbCloudImport is one import; delete it and create a new one"),
    validation = Rule::new("has(self.clusterRef) != has(self.clusterId)")
        .message("set exactly one of spec.clusterRef and spec.clusterId"),
    validation = Rule::new("!has(self.csvFormat) || self.fileType == 'CSV'")
        .message("spec.csvFormat applies only to fileType CSV")
)]
#[serde(rename_all = "camelCase")]
pub struct TidbCloudImportSpec {
    /// The TidbCloudCluster (in this namespace) to load the data into. The import starts once that cluster is
    /// Ready and its cloud cluster ACTIVE. Exactly one of clusterRef and clusterId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<ClusterRef>,

    /// ID of a TiDB Cloud cluster that no TidbCloudCluster here manages (decimal digits). Exactly one of
    /// clusterRef and clusterId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = CLUSTER_ID_PATTERN))]
    pub cluster_id: Option<String>,

    /// Format of the source files: `CSV`, `SQL`, `PARQUET` or `AURORA_SNAPSHOT`.
    pub file_type: ImportFileType,

    /// CSV options (fileType CSV only). Absent fields take the service's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv_format: Option<CsvFormatSpec>,

    /// What happens to rows whose primary or unique key already exists in the target table: `REPLACE`,
    /// `IGNORE` or `ERROR`. Absent: the service's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplication_handling: Option<DuplicationHandling>,

    /// Source files mapped to target tables (at most 256). Absent: the service derives the target tables from
    /// the file names (`<database>.<table>.<ext>`, Dumpling style).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub target_table_infos: Vec<TargetTableInfoSpec>,

    /// Where the files are, and how TiDB Cloud is allowed to read them.
    pub source: ImportSourceSpec,

    /// API credentials for TiDB Cloud. Absent: the credentials of the referenced TidbCloudCluster (its
    /// spec.credentials), else the operator's default credentials Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsSpec>,
}

// Format of the source files.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImportFileType {
    /// Comma-separated (or other separator) values; see csvFormat.
    Csv,
    /// SQL statements (for example a Dumpling export).
    Sql,
    /// Apache Parquet.
    Parquet,
    /// An Amazon Aurora snapshot export in S3.
    AuroraSnapshot,
}

// What happens to rows whose key already exists.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DuplicationHandling {
    /// Replace the existing row.
    Replace,
    /// Keep the existing row.
    Ignore,
    /// Fail the import.
    Error,
}

/// CSV options; absent fields take the service's defaults (shown).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CsvFormatSpec {
    /// Field separator. Service default: `,`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16))]
    pub separator: Option<String>,
    /// Quote character around fields. Service default: `"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub delimiter: Option<String>,
    /// Whether the first line holds column names. Service default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<bool>,
    /// Whether fields may not be NULL (then nullValue is not interpreted). Service default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_null: Option<bool>,
    /// The text that stands for NULL. Service default: `\N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub null_value: Option<String>,
    /// Whether a backslash escapes the next character. Service default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backslash_escape: Option<bool>,
    /// Whether a separator at the end of each line is removed. Service default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trim_last_separator: Option<bool>,
}

/// One source file (or pattern) and the table it goes into.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TargetTableInfoSpec {
    /// The table the data goes into.
    pub target_table: TargetTableSpec,
    /// The file (or wildcard pattern) for this table, for example `s3://bucket/path/orders.*.csv`. Absent:
    /// files named after the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub custom_file: Option<String>,
}

/// A table in the cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TargetTableSpec {
    /// Database (schema) name.
    #[schemars(length(min = 1, max = 64))]
    pub schema: String,
    /// Table name.
    #[schemars(length(min = 1, max = 64))]
    pub table: String,
}

/// Where the source files are and how TiDB Cloud reads them. Secrets are read from Secrets in this namespace
/// when the import is created; they are never copied into this resource or its status.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    validation = Rule::new("self.type != 'S3' || (has(self.s3) && self.uri.startsWith('s3://'))")
        .message("source type S3 needs source.s3 and a uri starting with s3://"),
    validation = Rule::new("self.type != 'GCS' || (has(self.gcs) && self.uri.startsWith('gs://'))")
        .message("source type GCS needs source.gcs and a uri starting with gs://"),
    validation = Rule::new(
        "self.type != 'AZURE_BLOB' || (has(self.azureBlob) && (self.uri.startsWith('azure://') || self.uri.startsWith('https://')))"
    )
    .message("source type AZURE_BLOB needs source.azureBlob and a uri starting with azure:// or https://"),
    validation = Rule::new("(has(self.s3) ? 1 : 0) + (has(self.gcs) ? 1 : 0) + (has(self.azureBlob) ? 1 : 0) <= 1")
        .message("set only the one of source.s3, source.gcs and source.azureBlob that matches source.type")
)]
#[serde(rename_all = "camelCase")]
pub struct ImportSourceSpec {
    /// Object storage service: `S3`, `GCS` or `AZURE_BLOB`.
    #[serde(rename = "type")]
    pub source_type: ImportSourceType,
    /// Folder or file URI: `s3://bucket/path/` (S3), `gs://bucket/path/` (GCS), or
    /// `azure://account.blob.core.windows.net/container/path/` or `https://...` (Azure Blob Storage).
    #[schemars(length(min = 6, max = 2048))]
    pub uri: String,
    /// Access to S3: an IAM role or an access key (type S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3SourceSpec>,
    /// Access to Google Cloud Storage: a service account key (type GCS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GcsSourceSpec>,
    /// Access to Azure Blob Storage: a SAS token (type AZURE_BLOB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_blob: Option<AzureBlobSourceSpec>,
}

// Object storage service of the source.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ImportSourceType {
    /// Amazon S3.
    S3,
    /// Google Cloud Storage.
    #[serde(rename = "GCS")]
    Gcs,
    /// Azure Blob Storage.
    #[serde(rename = "AZURE_BLOB")]
    AzureBlob,
}

/// Access to S3: exactly one of roleArn and accessKey.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    validation = Rule::new("has(self.roleArn) != has(self.accessKey)")
        .message("set exactly one of source.s3.roleArn and source.s3.accessKey")
)]
#[serde(rename_all = "camelCase")]
pub struct S3SourceSpec {
    /// ARN of an IAM role TiDB Cloud assumes to read the bucket, for example
    /// `arn:aws:iam::123456789012:role/tidb-import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 20, max = 2048), regex(pattern = "^arn:"))]
    pub role_arn: Option<String>,
    /// An AWS access key, from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key: Option<S3AccessKeySpec>,
}

/// An AWS access key read from a Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct S3AccessKeySpec {
    /// Secret, in this namespace, with the keys `accessKeyId` and `secretAccessKey`.
    pub secret_ref: SecretNameRef,
}

/// Access to Google Cloud Storage.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GcsSourceSpec {
    /// Secret key, in this namespace, holding the service account key (the JSON key file, as is or base64).
    pub service_account_key: SecretSource,
}

/// Access to Azure Blob Storage.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AzureBlobSourceSpec {
    /// Secret key, in this namespace, holding a SAS token that allows reading and listing the container.
    pub sas_token: SecretSource,
}

/// A value read from a Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretSource {
    /// The Secret (in this namespace) and key holding the value.
    pub secret_ref: SecretKeyRef,
}

/// Observed state of the import.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TidbCloudImportStatus {
    /// metadata.generation of the spec the operator last processed completely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Conditions `Ready`, `Reconciling` and `Stalled` (kstatus conventions), one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// ID of the TiDB Cloud cluster the import runs in, recorded before the import is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,

    /// ID of the import in TiDB Cloud, persisted as soon as it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_id: Option<String>,

    /// State of the import as TiDB Cloud reports it: `PREPARING`, `IMPORTING`, `COMPLETED`, `FAILED`,
    /// `CANCELING` or `CANCELED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,

    /// Percent of the data imported, 0–100 (post-processing after 100 is not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_percent: Option<i32>,

    /// Size of the source data in bytes, as TiDB Cloud reports it (a decimal string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_size: Option<String>,

    /// The service's message, for example why the import failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// Time (RFC 3339) the import was created in TiDB Cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,

    /// Time (RFC 3339) the import finished (completed, failed or canceled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,

    /// Create call in flight: recorded before the operator asks TiDB Cloud to create the import, so that after
    /// a crash or an uncertain outcome it adopts the import instead of creating a second one. Cleared once
    /// importId is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<ImportCreateIntent>,
}

/// An import create call about to be made, recorded for crash-safe adoption.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImportCreateIntent {
    /// Cluster the import is created in.
    pub cluster_id: String,
    /// Source URI of the import.
    pub source_uri: String,
    /// Time (RFC 3339) the intent was recorded, before the first create call.
    pub started_at: String,
}

impl TidbCloudImport {
    /// Whether the import is over in TiDB Cloud (completed, failed or canceled): it will not change any more.
    pub fn finished(&self) -> bool {
        self.status
            .as_ref()
            .and_then(|s| s.state.as_deref())
            .is_some_and(|s| matches!(s, "COMPLETED" | "FAILED" | "CANCELED"))
    }

    /// Names of the Secrets in this namespace the spec refers to (credentials and source credentials).
    pub fn secret_names(&self) -> Vec<&str> {
        let s = &self.spec;
        let src = &s.source;
        [
            s.credentials.as_ref().map(|c| c.secret_ref.name.as_str()),
            src.s3
                .as_ref()
                .and_then(|s3| s3.access_key.as_ref())
                .map(|k| k.secret_ref.name.as_str()),
            src.gcs
                .as_ref()
                .map(|g| g.service_account_key.secret_ref.name.as_str()),
            src.azure_blob
                .as_ref()
                .map(|a| a.sas_token.secret_ref.name.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
