//! `TidbCloudCluster`: a TiDB Cloud Dedicated cluster (Dedicated API v1beta1).
//!
//! Field semantics, defaults and condition reasons are documented for users in `docs/tidbcloudcluster.md`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema, ResourceExt};
use serde::{Deserialize, Serialize};

pub use super::common::ConnectionSecretSpec;
use super::common::{CredentialsSpec, DeletionPolicy, SecretKeyRef};

/// Default SQL port of a cluster.
pub const DEFAULT_PORT: i32 = 4000;

pub use super::common::CONNECTION_SECRET_SUFFIX;

/// Pattern of a TiDB Cloud display name (4–64 characters; letters, digits and hyphens; no hyphen at either end).
pub const DISPLAY_NAME_PATTERN: &str = "^[A-Za-z0-9][-A-Za-z0-9]{2,62}[A-Za-z0-9]$";

fn default_port() -> i32 {
    DEFAULT_PORT
}

/// Desired state of a TiDB Cloud Dedicated cluster.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "clouddb.dev",
    version = "v1alpha1",
    kind = "TidbCloudCluster",
    namespaced,
    status = "TidbCloudClusterStatus",
    shortname = "tcc",
    category = "clouddb",
    category = "tidbcloud",
    derive = "PartialEq",
    doc = "A TiDB Cloud Dedicated cluster managed by clouddb-operator.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the cluster has converged on the latest spec"
    ),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.state",
        description = "State of the cloud cluster"
    ),
    printcolumn(
        name = "Region",
        type_ = "string",
        json_path = ".spec.regionId",
        description = "Cloud region"
    ),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.version",
        description = "TiDB version"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new(
        "!has(self.spec.clusterId) || !has(self.status) || !has(self.status.clusterId) || self.spec.clusterId == self.status.clusterId"
    )
    .message(
        "spec.clusterId must be the id of the cluster this resource already manages (status.clusterId): a resource \
         cannot be moved to another cluster; create a new resource to adopt it"
    ),
    validation = Rule::new(format!(
        "has(self.spec.displayName) || self.metadata.name.matches('{DISPLAY_NAME_PATTERN}')"
    ))
    .message(
        "metadata.name is not a valid TiDB Cloud display name (4-64 letters, digits and hyphens, no hyphen at \
         either end): set spec.displayName"
    )
)]
#[x_kube(
    validation = Rule::new("has(self.projectId) == has(oldSelf.projectId)")
        .message("spec.projectId is immutable: it cannot be added or removed after creation"),
    validation = Rule::new(
        "!has(oldSelf.clusterId) || (has(self.clusterId) && self.clusterId == oldSelf.clusterId)"
    )
    .message("spec.clusterId is immutable once set")
)]
#[serde(rename_all = "camelCase")]
pub struct TidbCloudClusterSpec {
    /// Display name of the cluster in TiDB Cloud: 4–64 letters, digits and hyphens, starting and ending with a
    /// letter or digit. Default: metadata.name (applied by the operator; the name in effect is in
    /// status.displayName). Can be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DISPLAY_NAME_PATTERN))]
    pub display_name: Option<String>,

    /// Region to run the cluster in, `<cloud provider>-<region code>`, for example `aws-us-west-2`. Required;
    /// immutable.
    #[schemars(
        regex(pattern = "^(aws|gcp|azure|alicloud)-[a-z0-9-]+$"),
        length(max = 64)
    )]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.regionId is immutable"))]
    pub region_id: String,

    /// TiDB Cloud project to create the cluster in (sent as label `tidb.cloud/project`). Default: the
    /// organization's default project. Immutable: it cannot be changed, added or removed after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.projectId is immutable"))]
    pub project_id: Option<String>,

    /// SQL port of every endpoint of the cluster, 1024–65535. Default: 4000. Immutable.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1024, max = 65535))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.port is immutable"))]
    pub port: i32,

    /// TiDB (SQL) nodes of the cluster's default TiDB node group.
    pub tidb: TidbSpec,

    /// TiKV (row storage) nodes. The node count must be a multiple of 3 (at least 3).
    #[x_kube(
        validation = Rule::new("self.nodeCount >= 3 && self.nodeCount % 3 == 0")
            .message("spec.tikv.nodeCount must be a multiple of 3 (3, 6, 9, ...)")
    )]
    pub tikv: StorageNodesSpec,

    /// TiFlash (columnar storage) nodes. Absent: no TiFlash; removing this field removes TiFlash from the
    /// cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiflash: Option<StorageNodesSpec>,

    /// Pause the cluster (true) or keep it running (false). A paused cluster serves no connections. Default:
    /// false.
    #[serde(default)]
    pub paused: bool,

    /// The public endpoint of the cluster's default TiDB node group: whether it is enabled and which client
    /// addresses may connect. Absent: the operator leaves the cloud's setting as it is (and does not read it).
    /// Applied when the cluster is ACTIVE, after any topology change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_endpoint: Option<PublicEndpointSpec>,

    /// Secret key holding the root password. Absent: the operator generates a strong password and stores it in
    /// the connection Secret. When the referenced value changes, the operator resets the root password to it
    /// (8–64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password: Option<RootPasswordSpec>,

    /// API credentials for TiDB Cloud. Absent: the operator's default credentials Secret (configured when the
    /// operator starts) is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsSpec>,

    /// Secret the operator writes connection details to (host, port, username, password and a MySQL URI per
    /// endpoint type). Absent: a Secret named `<metadata.name>-connection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<ConnectionSecretSpec>,

    /// What happens to the cloud cluster when this resource is deleted: `Delete` deletes it, `Retain` keeps it.
    /// Unset: deleting this resource directly deletes the cloud cluster, but a cascade (namespace deletion, CRD
    /// deletion, operator uninstall) retains it. An explicit value always wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Refuse deletion of this resource (at admission, by the clouddb-deletion-protection
    /// ValidatingAdmissionPolicy) and never delete the cloud cluster while true. Default: false.
    #[serde(default)]
    pub deletion_protection: bool,

    /// What to do when the cluster disappears outside Kubernetes: `Report` (default: `Stalled` with reason
    /// `CloudResourceGone` and a Warning Event; its data is not silently replaced by an empty cluster) or
    /// `Recreate` (create a new, empty one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_cloud_resource_gone: Option<super::common::CloudResourceGonePolicy>,

    /// What to do when the cloud resource differs from a spec it had matched (changed outside Kubernetes):
    /// `Correct` (default: restore the spec, Warning Event `DriftCorrected`) or `Report` (condition
    /// `Drifted=True` with the field diff, a Warning Event, no write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_policy: Option<super::common::DriftPolicy>,

    /// ID of an existing TiDB Cloud cluster to adopt instead of creating one (decimal digits). Can be set on
    /// creation or added later; immutable once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^[0-9]{1,20}$"))]
    pub cluster_id: Option<String>,
}

/// TiDB node settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TidbSpec {
    /// Node size, for example `8C16G`; must be a TiDB node spec offered in the region.
    #[schemars(length(min = 1, max = 64))]
    pub node_spec_key: String,
    /// Number of TiDB nodes, at least 1.
    #[schemars(range(min = 1))]
    pub node_count: i32,
}

/// Settings of a storage component (TiKV or TiFlash).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StorageNodesSpec {
    /// Node size, for example `8C32G`; must be a node spec of this component offered in the region.
    #[schemars(length(min = 1, max = 64))]
    pub node_spec_key: String,
    /// Number of nodes, at least 1 (TiKV: a multiple of 3).
    #[schemars(range(min = 1))]
    pub node_count: i32,
    /// Storage per node in GiB; the allowed range depends on the node spec.
    #[schemars(range(min = 1))]
    pub storage_size_gi: i32,
    /// Storage type: `Basic`, `Standard`, `Performance` or `Plus` (offered types depend on the node spec).
    /// Absent: the cloud's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub storage_type: Option<String>,
    /// IOPS of the Raft log disk (storage types with a separate Raft disk). Absent: the cloud's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub raft_store_iops: Option<i32>,
}

/// IPv4 CIDR block such as `203.0.113.0/24` (the only form the TiDB Cloud API accepts).
pub const CIDR_PATTERN: &str = r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/(3[0-2]|[12]?[0-9])$";

/// The public endpoint of the default TiDB node group.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PublicEndpointSpec {
    /// Whether the public endpoint exists. Default: true.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// Client addresses allowed to connect through the public endpoint (at most 100, each CIDR once). Empty:
    /// every address is allowed (TiDB Cloud's meaning of an empty list). Applied as a diff: entries added,
    /// removed or re-described are reported, and the list in TiDB Cloud is made equal to this one (order does
    /// not matter).
    #[serde(default)]
    #[schemars(length(max = 100))]
    #[x_kube(
        validation = Rule::new("self.all(x, self.exists_one(y, y.cidr == x.cidr))")
            .message("spec.publicEndpoint.ipAccessList lists a CIDR block more than once")
    )]
    pub ip_access_list: Vec<IpAccessEntry>,
}

fn enabled_default() -> bool {
    true
}

/// One entry of an IP access list.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct IpAccessEntry {
    /// IPv4 CIDR block, for example `203.0.113.0/24` (`/32` for one address).
    #[schemars(regex(pattern = CIDR_PATTERN), length(max = 18))]
    pub cidr: String,
    /// What the entry is for. Default: empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 256))]
    pub description: String,
}

/// The public endpoint setting as TiDB Cloud reports it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PublicEndpointStatus {
    /// Whether the public endpoint is enabled.
    pub enabled: bool,
    /// The IP access list in effect (empty: every address is allowed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_access_list: Vec<IpAccessEntry>,
}

/// Where the root password comes from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RootPasswordSpec {
    /// Secret key, in the namespace of this resource, holding the root password (8–64 characters).
    pub secret_ref: SecretKeyRef,
}

/// Observed state of a TiDB Cloud Dedicated cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TidbCloudClusterStatus {
    /// metadata.generation of the spec the operator last processed completely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// metadata.generation of the spec the cluster last matched (Ready). Unset on an adopted cluster until its
    /// differences are approved (`clouddb.dev/approve-adoption`); what differs while it equals
    /// metadata.generation was changed outside Kubernetes (drift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converged_generation: Option<i64>,

    /// Conditions `Ready`, `Available`, `Reconciling` and `Stalled` (kstatus conventions), one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// ID of the cloud cluster, persisted as soon as it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,

    /// State of the cloud cluster as reported by TiDB Cloud, for example `CREATING`, `ACTIVE`, `MODIFYING`,
    /// `PAUSED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,

    /// TiDB version running in the cluster, for example `v8.1.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,

    /// Display name in effect (spec.displayName, else metadata.name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,

    /// SQL endpoints of the cluster's default TiDB node group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,

    /// The public endpoint setting last read from TiDB Cloud (only while spec.publicEndpoint is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_endpoint: Option<PublicEndpointStatus>,

    /// Create call in flight: recorded before the operator asks TiDB Cloud to create the cluster, so that after a
    /// crash or an uncertain outcome it adopts the cluster instead of creating a second one. Cleared once
    /// clusterId is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<CreateIntent>,

    /// Progress of a multi-step change (for example resume, scale, pause again): the generation it applies to
    /// and how many steps it took in all, so conditions can say "step k of n".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanProgress>,
}

/// How far a multi-step change has come.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlanProgress {
    /// The metadata.generation the plan was made for.
    pub generation: i64,
    /// Number of steps the plan had when it was made.
    pub total_steps: i32,
}

/// A SQL endpoint.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// How the endpoint is reached: `PUBLIC`, `VPC_PEERING` or `PRIVATE_ENDPOINT`.
    pub connection_type: String,
    /// Host name (empty until the endpoint is ready).
    pub host: String,
    /// SQL port.
    pub port: i32,
}

/// A create call about to be made, recorded for crash-safe adoption.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CreateIntent {
    /// Display name the cluster is created with.
    pub display_name: String,
    /// Project the cluster is created in; absent: the default project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Time (RFC 3339) the intent was recorded, before the create call.
    pub started_at: String,
}

impl TidbCloudCluster {
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

    /// Whether annotation `clouddb.dev/reconcile: observe` selects observe-only mode (never write to the cloud).
    pub fn observe_only(&self) -> bool {
        super::common::observe_only(self)
    }
}
