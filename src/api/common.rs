//! Types shared by every clouddb.dev kind: Secret references, credentials, deletion policy, and the
//! annotation and finalizer names.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Annotation that switches a resource to observe-only mode when its value is [`OBSERVE`]: the operator reads
/// the cloud resource and reports it in status, but never writes to the cloud.
pub const RECONCILE_ANNOTATION: &str = "clouddb.dev/reconcile";

/// Value of [`RECONCILE_ANNOTATION`] that selects observe-only mode.
pub const OBSERVE: &str = "observe";

/// Value of [`RECONCILE_ANNOTATION`] that pauses the object: no cloud call at all (no read, no poll, no write)
/// until the annotation is removed; status shows `Suspended=True`.
pub const PAUSED: &str = "paused";

/// Annotation that approves the adoption of an existing cloud resource whose state differs from the spec:
/// its value must be the object's `metadata.generation` the diff was shown for (a later spec change needs a
/// new approval).
pub const APPROVE_ADOPTION_ANNOTATION: &str = "clouddb.dev/approve-adoption";

/// The TiDB Cloud credentials Secret an object uses when it names none, if its namespace has one (before the
/// operator-wide default): precedence object > namespace > operator.
pub const TIDBCLOUD_NAMESPACE_CREDENTIALS: &str = "tidbcloud-credentials";

/// The ClickHouse Cloud credentials Secret an object uses when it names none, if its namespace has one.
pub const CLICKHOUSE_NAMESPACE_CREDENTIALS: &str = "clickhouse-credentials";

/// Finalizer the operator puts on every resource that may own a cloud resource.
pub const FINALIZER: &str = "clouddb.dev/finalizer";

/// Finalizer the operator puts on a credentials Secret in an object's namespace while objects use it, so a
/// namespace deletion cannot remove the key before those objects have deleted their cloud resources.
pub const IN_USE_FINALIZER: &str = "clouddb.dev/in-use";

/// API group of every clouddb.dev kind.
pub const GROUP: &str = "clouddb.dev";

/// Key in a credentials Secret holding the API public key.
pub const PUBLIC_KEY: &str = "publicKey";

/// Key in a credentials Secret holding the API private key.
pub const PRIVATE_KEY: &str = "privateKey";

/// Key in a ClickHouse Cloud credentials Secret holding the API key id.
pub const KEY_ID: &str = "keyId";

/// Key in a ClickHouse Cloud credentials Secret holding the API key secret.
pub const KEY_SECRET: &str = "keySecret";

/// Key in a ClickHouse Cloud credentials Secret holding the organization id.
pub const ORGANIZATION_ID: &str = "organizationId";

/// A key of a Secret in the namespace of the referring resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the namespace of this resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A Secret in the namespace of the referring resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretNameRef {
    /// Name of the Secret, in the namespace of this resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

// What happens to the cloud resource when this Kubernetes resource is deleted (see the `deletionPolicy` fields).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the cloud resource, and wait until it is gone before the Kubernetes resource goes away.
    Delete,
    /// Keep the cloud resource; only the Kubernetes resource goes away.
    Retain,
}

/// What the operator does when the cloud resource differs from a spec it had converged on (someone changed it
/// outside Kubernetes).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum DriftPolicy {
    /// Restore the spec (a Warning Event `DriftCorrected` says what was changed back).
    #[default]
    Correct,
    /// Change nothing: condition `Drifted=True` with the field diff and a Warning Event `Drifted`. A later
    /// change of the spec is applied in full (the drifted fields included).
    Report,
}

/// What the operator does when the cloud resource it manages disappears outside Kubernetes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum CloudResourceGonePolicy {
    /// Report it: `Stalled` with reason `CloudResourceGone` and a Warning Event; nothing is re-created (the
    /// data is gone: restoring it is a decision for a person).
    #[default]
    Report,
    /// Create a new, empty cloud resource in its place.
    Recreate,
}

/// API credentials for the cloud provider.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSpec {
    /// Secret, in the namespace of this resource, with the API key: for TiDB Cloud in the keys `publicKey` and
    /// `privateKey`; for ClickHouse Cloud in the keys `keyId`, `keySecret` and `organizationId`.
    pub secret_ref: SecretNameRef,
}

/// The Secret the operator writes connection details to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSecretSpec {
    /// Name of the Secret, in the namespace of this resource. Default: `<metadata.name>-connection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,
}

/// Suffix of the default connection Secret name (`<metadata.name>-connection`).
pub const CONNECTION_SECRET_SUFFIX: &str = "-connection";

/// Name of a resource's connection Secret: `spec.connectionSecret.name`, else `<metadata.name>-connection`.
pub fn connection_secret_name<K: kube::ResourceExt>(
    obj: &K,
    spec: Option<&ConnectionSecretSpec>,
) -> String {
    spec.and_then(|c| c.name.clone())
        .unwrap_or_else(|| format!("{}{CONNECTION_SECRET_SUFFIX}", obj.name_any()))
}

/// Whether annotation `clouddb.dev/reconcile: paused` stops every cloud call for the object.
pub fn paused<K: kube::ResourceExt>(obj: &K) -> bool {
    obj.annotations()
        .get(RECONCILE_ANNOTATION)
        .is_some_and(|v| v == PAUSED)
}

/// Whether annotation `clouddb.dev/approve-adoption` approves the adoption diff shown for `generation`.
pub fn adoption_approved<K: kube::ResourceExt>(obj: &K) -> bool {
    let generation = obj.meta().generation.map(|g| g.to_string());
    obj.annotations()
        .get(APPROVE_ADOPTION_ANNOTATION)
        .is_some_and(|v| Some(v.trim()) == generation.as_deref())
}

/// Whether annotation `clouddb.dev/reconcile: observe` selects observe-only mode (never write to the cloud).
pub fn observe_only<K: kube::ResourceExt>(obj: &K) -> bool {
    obj.annotations()
        .get(RECONCILE_ANNOTATION)
        .is_some_and(|v| v == OBSERVE)
}

/// A TidbCloudCluster in the namespace of the referring resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRef {
    /// Name of the TidbCloudCluster.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the TidbCloudCluster. Only the namespace of this resource is allowed (references across
    /// namespaces are refused with a condition); absent: this resource's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// Pattern of a TiDB Cloud cluster ID (decimal digits).
pub const CLUSTER_ID_PATTERN: &str = "^[0-9]{1,20}$";
