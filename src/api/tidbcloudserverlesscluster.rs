//! `TidbCloudServerlessCluster`: a TiDB Cloud Serverless cluster — Starter or Essential — (Serverless API
//! v1beta1, host `serverless.tidbapi.com`).
//!
//! Field semantics, defaults and condition reasons are documented for users in
//! `docs/tidbcloudserverlesscluster.md`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema, ResourceExt};
use serde::{Deserialize, Serialize};

use super::common::{
    CloudResourceGonePolicy, ConnectionSecretSpec, CredentialsSpec, DeletionPolicy,
};
use super::tidbcloudcluster::{DISPLAY_NAME_PATTERN, RootPasswordSpec};

/// An IPv4 address.
pub const IPV4_PATTERN: &str = "^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$";

/// Desired state of a TiDB Cloud Serverless (Starter or Essential) cluster.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "clouddb.dev",
    version = "v1alpha1",
    kind = "TidbCloudServerlessCluster",
    namespaced,
    status = "TidbCloudServerlessClusterStatus",
    shortname = "tcsc",
    category = "clouddb",
    category = "tidbcloud",
    derive = "PartialEq",
    doc = "A TiDB Cloud Serverless (Starter or Essential) cluster managed by clouddb-operator.",
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
        name = "Plan",
        type_ = "string",
        json_path = ".status.plan",
        description = "Starter or Essential"
    ),
    printcolumn(
        name = "Region",
        type_ = "string",
        json_path = ".spec.region",
        description = "Cloud region"
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
    validation = Rule::new("!(has(self.spendingLimit) && has(self.autoScaling))").message(
        "set spec.spendingLimit (a Starter cluster) or spec.autoScaling (an Essential cluster), not both"
    ),
    validation = Rule::new("has(self.autoScaling) == has(oldSelf.autoScaling)").message(
        "the plan is immutable: spec.autoScaling (Essential) cannot be added to or removed from a cluster"
    ),
    validation = Rule::new("has(self.projectId) == has(oldSelf.projectId)")
        .message("spec.projectId is immutable: it cannot be added or removed after creation"),
    validation = Rule::new(
        "!has(oldSelf.clusterId) || (has(self.clusterId) && self.clusterId == oldSelf.clusterId)"
    )
    .message("spec.clusterId is immutable once set")
)]
#[serde(rename_all = "camelCase")]
pub struct TidbCloudServerlessClusterSpec {
    /// Display name of the cluster in TiDB Cloud: 4–64 letters, digits and hyphens, starting and ending with a
    /// letter or digit. Default: metadata.name. Can be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DISPLAY_NAME_PATTERN))]
    pub display_name: Option<String>,

    /// Region, `<cloud provider>-<region code>`, for example `aws-us-east-1` (a region of the Serverless
    /// `GET /regions` offering the plan). Required; immutable.
    #[schemars(
        regex(pattern = "^(aws|gcp|azure|alicloud)-[a-z0-9-]+$"),
        length(max = 64)
    )]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.region is immutable"))]
    pub region: String,

    /// TiDB Cloud project to create the cluster in (label `tidb.cloud/project`). Default: the organization's
    /// default project. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.projectId is immutable"))]
    pub project_id: Option<String>,

    /// Labels of the cluster in TiDB Cloud (at most 32; keys 1–63 letters, digits, `-`, `_`, `.`, `/`; values at most
    /// 63 characters). The `tidb.cloud/` labels are the cloud's and `clouddb.dev/uid` is the operator's: neither
    /// may be set here. Absent: labels are not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend(
        "maxProperties" = 32,
        "additionalProperties" = {"type": "string", "maxLength": 63}
    ))]
    #[x_kube(
        validation = Rule::new(
            "self.all(k, k.matches('^[A-Za-z0-9]([-A-Za-z0-9_./]{0,61}[A-Za-z0-9])?$') && !k.startsWith('tidb.cloud/') && k != 'clouddb.dev/uid')"
        )
        .message(
            "spec.labels: keys must be 1-63 letters, digits, '-', '_', '.', '/' (starting and ending with a letter or digit), not tidb.cloud/* nor clouddb.dev/uid; values at most 63 characters"
        )
    )]
    pub labels: Option<BTreeMap<String, String>>,

    /// Starter plan: the monthly spending limit. Absent on a Starter cluster: the cloud's default (free
    /// usage only). Exclusive with `autoScaling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spending_limit: Option<SpendingLimitSpec>,

    /// Essential plan: the request capacity units (RCU) the cluster scales between. Its presence makes the
    /// cluster Essential (immutable: the plan cannot change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(
        validation = Rule::new("self.minRcu <= self.maxRcu")
            .message("spec.autoScaling.minRcu must not exceed spec.autoScaling.maxRcu")
    )]
    pub auto_scaling: Option<AutoScalingSpec>,

    /// The public endpoint: enabled or not, and its IP access list. Absent: left as the cloud has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_endpoint: Option<PublicEndpointSpec>,

    /// Secret key holding the root password (8–64 characters). Absent: the operator generates one, sets it
    /// through the password endpoint and stores it in the connection Secret. A changed value is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password: Option<RootPasswordSpec>,

    /// API credentials for TiDB Cloud (the same key works for Dedicated and Serverless). Absent: the
    /// operator's default credentials Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsSpec>,

    /// Secret the operator writes connection details to (`host`, `port`, `username`, `password`, `uri`).
    /// Absent: a Secret named `<metadata.name>-connection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<ConnectionSecretSpec>,

    /// What happens to the cloud cluster when this resource is deleted: `Delete` deletes it, `Retain` keeps it.
    /// Unset: a direct delete deletes it, a cascade (namespace or CRD deletion) retains it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Refuse deletion of this resource (at admission) and never delete the cloud cluster while true.
    #[serde(default)]
    pub deletion_protection: bool,

    /// What to do when the cluster disappears outside Kubernetes: `Report` (default) or `Recreate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_cloud_resource_gone: Option<CloudResourceGonePolicy>,

    /// What to do when the cloud resource differs from a spec it had matched (changed outside Kubernetes):
    /// `Correct` (default: restore the spec, Warning Event `DriftCorrected`) or `Report` (condition
    /// `Drifted=True` with the field diff, a Warning Event, no write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_policy: Option<super::common::DriftPolicy>,

    /// ID of an existing Serverless cluster to adopt instead of creating one (decimal digits). Immutable once
    /// set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^[0-9]{1,20}$"))]
    pub cluster_id: Option<String>,
}

/// The Starter plan's monthly spending limit.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SpendingLimitSpec {
    /// Maximum monthly spend in US cents (`0`: the free usage only).
    #[schemars(range(min = 0))]
    pub monthly: i32,
}

/// The Essential plan's capacity range.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AutoScalingSpec {
    /// Minimum request capacity units, 1–100000.
    #[schemars(range(min = 1, max = 100000))]
    pub min_rcu: i64,
    /// Maximum request capacity units, 1–100000, at least `minRcu`.
    #[schemars(range(min = 1, max = 100000))]
    pub max_rcu: i64,
}

/// The public endpoint's settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PublicEndpointSpec {
    /// Turn the public endpoint off. Default: false (on).
    #[serde(default)]
    pub disabled: bool,
    /// The IP access list: IPv4 ranges allowed to connect. Absent: left as the cloud has it; empty: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub ip_access_list: Option<Vec<IpRange>>,
}

/// An IPv4 range of the IP access list.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct IpRange {
    /// First address of the range, for example `203.0.113.0`.
    #[schemars(regex(pattern = IPV4_PATTERN))]
    pub start_ip_address: String,
    /// Last address of the range (not before the first), for example `203.0.113.255`.
    #[schemars(regex(pattern = IPV4_PATTERN))]
    pub end_ip_address: String,
    /// Name of the entry.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub display_name: String,
}

/// Observed state of a TiDB Cloud Serverless cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TidbCloudServerlessClusterStatus {
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

    /// State as TiDB Cloud reports it: `CREATING`, `ACTIVE`, `RESTORING`, `DELETING`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,

    /// `Starter` or `Essential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,

    /// TiDB version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,

    /// Display name in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,

    /// Prefix of the cluster's SQL user names (the root user is `<userPrefix>.root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_prefix: Option<String>,

    /// Public SQL endpoint host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,

    /// Public SQL endpoint port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,

    /// Create call in flight: recorded before the operator asks TiDB Cloud to create the cluster (which then
    /// carries the label `clouddb.dev/uid=<metadata.uid>`), so that after a crash or a lost answer it adopts
    /// that cluster instead of creating a second one. Cleared once clusterId is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<ServerlessCreateIntent>,
}

/// A create call about to be made, recorded for crash-safe adoption.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServerlessCreateIntent {
    /// Display name the cluster is created with.
    pub display_name: String,
    /// Time (RFC 3339) the intent was recorded, before the create call.
    pub started_at: String,
}

impl TidbCloudServerlessCluster {
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
