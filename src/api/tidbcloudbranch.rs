//! `TidbCloudBranch`: a branch of a TiDB Cloud Serverless cluster (Serverless v1beta1
//! `/clusters/{clusterId}/branches`: list, create, delete, `:reset`, the root user's password).
//!
//! Field semantics, reset, deletion and condition reasons are documented for users in `docs/tidbcloudbranch.md`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema, ResourceExt};
use serde::{Deserialize, Serialize};

use super::common::{
    CLUSTER_ID_PATTERN, ClusterRef, ConnectionSecretSpec, CredentialsSpec, DeletionPolicy,
};
use super::tidbcloudcluster::RootPasswordSpec;

/// A branch display name as TiDB Cloud accepts it: 1–64 letters, digits, `-` and `_`, starting with a letter or
/// digit.
pub const BRANCH_NAME_PATTERN: &str = "^[A-Za-z0-9][-_A-Za-z0-9]{0,63}$";

/// An RFC 3339 point in time (`2025-01-02T03:04:05Z`, optional fraction, `Z` or an offset).
pub const RFC3339_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$";

/// A branch id (`bran-` and letters and digits).
pub const BRANCH_ID_PATTERN: &str = "^[A-Za-z0-9-]{1,64}$";

/// Desired branch of a TiDB Cloud Serverless cluster.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "clouddb.dev",
    version = "v1alpha1",
    kind = "TidbCloudBranch",
    namespaced,
    status = "TidbCloudBranchStatus",
    shortname = "tcbranch",
    category = "clouddb",
    category = "tidbcloud",
    derive = "PartialEq",
    doc = "A branch of a TiDB Cloud Serverless cluster, managed by clouddb-operator.",
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".spec.clusterRef.name",
        description = "The TidbCloudServerlessCluster the branch belongs to"
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "State of the branch in TiDB Cloud"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the branch has converged on the latest spec"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Branch ID",
        type_ = "string",
        json_path = ".status.branchId",
        priority = 1,
        description = "ID of the branch in TiDB Cloud"
    ),
    validation = Rule::new(format!(
        "has(self.spec.displayName) || self.metadata.name.matches('{BRANCH_NAME_PATTERN}')"
    ))
    .message(
        "metadata.name is not a valid TiDB Cloud branch name (1-64 letters, digits, '-' and '_'): set spec.displayName"
    )
)]
#[x_kube(
    validation = Rule::new("has(self.clusterRef) != has(self.clusterId)")
        .message("set exactly one of spec.clusterRef and spec.clusterId"),
    validation = Rule::new(
        "has(self.clusterRef) == has(oldSelf.clusterRef) && (!has(self.clusterRef) || self.clusterRef == oldSelf.clusterRef) && (!has(self.clusterId) || self.clusterId == oldSelf.clusterId)"
    )
    .message("spec.clusterRef and spec.clusterId are immutable: create another TidbCloudBranch for another cluster"),
    validation = Rule::new("has(self.displayName) == has(oldSelf.displayName)")
        .message("spec.displayName is immutable: it cannot be added or removed after creation"),
    validation = Rule::new("has(self.parentBranchId) == has(oldSelf.parentBranchId)")
        .message("spec.parentBranchId is immutable: it cannot be added or removed after creation"),
    validation = Rule::new("has(self.parentTimestamp) == has(oldSelf.parentTimestamp)")
        .message("spec.parentTimestamp is immutable: it cannot be added or removed after creation")
)]
#[serde(rename_all = "camelCase")]
pub struct TidbCloudBranchSpec {
    /// The TidbCloudServerlessCluster (in this namespace) to branch. The branch is created once that cluster
    /// is Ready. Exactly one of clusterRef and clusterId; immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<ClusterRef>,

    /// ID of a TiDB Cloud Serverless cluster to branch (decimal digits), when no TidbCloudServerlessCluster
    /// here manages it. Exactly one of clusterRef and clusterId; immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = CLUSTER_ID_PATTERN))]
    pub cluster_id: Option<String>,

    /// Display name of the branch in TiDB Cloud: 1–64 letters, digits, `-` and `_`. Default: metadata.name.
    /// Immutable (branches cannot be renamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = BRANCH_NAME_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.displayName is immutable"))]
    pub display_name: Option<String>,

    /// ID of the branch (of the same cluster) to branch from. Absent: the cluster itself. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = BRANCH_ID_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.parentBranchId is immutable"))]
    pub parent_branch_id: Option<String>,

    /// The parent's point in time to branch from (RFC 3339, for example `2025-01-02T03:04:05Z`): between the
    /// parent's creation and now. Absent: now. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = RFC3339_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.parentTimestamp is immutable"))]
    pub parent_timestamp: Option<String>,

    /// Secret key holding the branch's root password (8–64 characters). Absent: the operator generates one and
    /// stores it in the connection Secret only. A changed value is set on the branch's root user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password: Option<RootPasswordSpec>,

    /// Raise (to any higher value) to reset the branch to its parent's latest data: when it exceeds
    /// status.lastResetRequest the operator calls `:reset` once and records the value. Can only grow. Default: 0.
    #[serde(default)]
    #[schemars(range(min = 0))]
    #[x_kube(
        validation = Rule::new("self >= oldSelf")
            .message("spec.resetRequest can only grow: raise it to request a reset")
    )]
    pub reset_request: i64,

    /// API credentials for TiDB Cloud. Absent: the credentials of the referenced TidbCloudServerlessCluster
    /// (its spec.credentials), else the namespace's `tidbcloud-credentials` Secret, else the operator's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsSpec>,

    /// Secret the operator writes the branch's connection details to (`host`, `port`, `username`, `password`,
    /// `uri`). Absent: a Secret named `<metadata.name>-connection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<ConnectionSecretSpec>,

    /// What happens to the branch when this resource is deleted: `Delete` deletes it, `Retain` keeps it. Unset:
    /// a direct delete deletes it, a cascade (namespace or CRD deletion) retains it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

/// Observed state of a branch.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TidbCloudBranchStatus {
    /// metadata.generation of the spec the operator last processed completely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Conditions `Ready`, `Reconciling` and `Stalled` (kstatus conventions), one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// ID of the branch, persisted as soon as it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_id: Option<String>,

    /// ID of the Serverless cluster the branch belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,

    /// State as TiDB Cloud reports it: `CREATING`, `ACTIVE`, `RESTORING`, `DELETED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,

    /// ID of the parent (the cluster or a branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,

    /// The parent's point in time the branch's data is from (moves to the reset time after a reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_timestamp: Option<String>,

    /// Prefix of the branch's SQL user names (its root user is `<userPrefix>.root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_prefix: Option<String>,

    /// Public SQL endpoint host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,

    /// Public SQL endpoint port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,

    /// spec.resetRequest last acted on (the value at creation, or of the last `:reset` call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reset_request: Option<i64>,

    /// Create call in flight: recorded before the operator asks TiDB Cloud to create the branch (which carries
    /// the annotation `clouddb.dev/uid=<metadata.uid>`), so that after a crash or a lost answer it adopts that
    /// branch instead of creating a second one. Cleared once branchId is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<BranchCreateIntent>,
}

/// A create call about to be made, recorded for crash-safe adoption.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BranchCreateIntent {
    /// Cluster the branch is created in.
    pub cluster_id: String,
    /// Display name the branch is created with.
    pub display_name: String,
    /// spec.resetRequest at the create (a new branch has its parent's data: no reset is due).
    pub reset_request: i64,
    /// Time (RFC 3339) the intent was recorded, before the create call.
    pub started_at: String,
}

impl TidbCloudBranch {
    /// The display name in effect: spec.displayName, else metadata.name.
    pub fn effective_display_name(&self) -> String {
        self.spec
            .display_name
            .clone()
            .unwrap_or_else(|| self.name_any())
    }

    /// Name of the connection Secret: spec.connectionSecret.name, else `<metadata.name>-connection`.
    pub fn connection_secret_name(&self) -> String {
        super::common::connection_secret_name(self, self.spec.connection_secret.as_ref())
    }
}
