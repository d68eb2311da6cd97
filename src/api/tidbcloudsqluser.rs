//! `TidbCloudSqlUser`: a SQL user of a TiDB Cloud Dedicated cluster (IAM v1beta1
//! `/clusters/{clusterId}/sqlUsers`: list, create, get, patch of password and roles, delete).
//!
//! Field semantics and condition reasons are documented for users in `docs/tidbcloudsqluser.md`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CLUSTER_ID_PATTERN, ClusterRef, ConnectionSecretSpec, CredentialsSpec, DeletionPolicy,
    SecretKeyRef,
};

/// A MySQL account or role name as TiDB Cloud accepts it: 1–32 letters, digits, `_`, `-` and `.`.
pub const SQL_NAME_PATTERN: &str = r"^[A-Za-z0-9_.\-]{1,32}$";

/// Describes the items of a list of role names (for `kubectl explain` and the schema checks).
fn describe_roles(schema: &mut schemars::Schema) {
    if let Some(items) = schema.get_mut("items").and_then(|i| i.as_object_mut()) {
        items.insert(
            "description".into(),
            "A role name: 1-32 letters, digits, '_', '-' and '.'.".into(),
        );
    }
}

/// Desired SQL user of a cluster.
// Each `printcolumn(...)` repeats `type_`/`priority`, which clippy takes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "clouddb.dev",
    version = "v1alpha1",
    kind = "TidbCloudSqlUser",
    namespaced,
    status = "TidbCloudSqlUserStatus",
    shortname = "tcsqluser",
    category = "clouddb",
    category = "tidbcloud",
    derive = "PartialEq",
    doc = "A SQL user of a TiDB Cloud Dedicated cluster, managed by clouddb-operator.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the user has converged on the latest spec"
    ),
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".spec.clusterRef.name",
        description = "The TidbCloudCluster the user belongs to"
    ),
    printcolumn(
        name = "User",
        type_ = "string",
        json_path = ".spec.userName",
        description = "SQL user name"
    ),
    printcolumn(
        name = "Role",
        type_ = "string",
        json_path = ".spec.builtinRole",
        description = "Builtin role"
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
    )
)]
#[x_kube(
    validation = Rule::new("has(self.clusterRef) != has(self.clusterId)")
        .message("set exactly one of spec.clusterRef and spec.clusterId"),
    validation = Rule::new(
        "has(self.clusterRef) == has(oldSelf.clusterRef) && (!has(self.clusterRef) || self.clusterRef == oldSelf.clusterRef) && (!has(self.clusterId) || self.clusterId == oldSelf.clusterId)"
    )
    .message("spec.clusterRef and spec.clusterId are immutable: create another TidbCloudSqlUser for another cluster"),
    validation = Rule::new("!self.customRoles.exists(r, r in ['role_admin', 'role_readonly', 'role_readwrite'])")
        .message("spec.customRoles must not list a builtin role: set it as spec.builtinRole")
)]
#[serde(rename_all = "camelCase")]
pub struct TidbCloudSqlUserSpec {
    /// The TidbCloudCluster (in this namespace) the user belongs to. The user is created once that cluster is
    /// Ready. Exactly one of clusterRef and clusterId; immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<ClusterRef>,

    /// ID of a TiDB Cloud cluster that no TidbCloudCluster here manages (decimal digits). Exactly one of
    /// clusterRef and clusterId; immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = CLUSTER_ID_PATTERN))]
    pub cluster_id: Option<String>,

    /// SQL user name: 1–32 letters, digits, `_`, `-` and `.`; not `root` or `mysql.*`. Its identity in the cluster; immutable. A user of
    /// that name that this resource did not create is never adopted.
    #[schemars(regex(pattern = SQL_NAME_PATTERN), length(min = 1, max = 32))]
    #[x_kube(
        validation = Rule::new("self == oldSelf").message("spec.userName is immutable"),
        validation = Rule::new("!(self in ['root', 'mysql.sys', 'mysql.session', 'mysql.infoschema'])")
            .message("spec.userName names an account every cluster has and the API cannot manage (root, mysql.*): choose another name")
    )]
    pub user_name: String,

    /// Authentication method. Default: `mysql_native_password` (the only one the API offers); immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.authMethod is immutable"))]
    pub auth_method: AuthMethod,

    /// Builtin role: `role_admin`, `role_readwrite` or `role_readonly`. Can be changed.
    pub builtin_role: BuiltinRole,

    /// Custom roles granted besides the builtin role (each 1–32 letters, digits, `_`, `-`, `.`; at most 32,
    /// each once: a list set). Compared as a set; can be changed.
    #[serde(default)]
    #[schemars(
        length(max = 32),
        inner(regex(pattern = SQL_NAME_PATTERN), length(min = 1, max = 32)),
        transform = describe_roles
    )]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub custom_roles: Vec<String>,

    /// Where the password comes from. Absent: the operator generates a strong password and stores it in the
    /// connection Secret only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordSpec>,

    /// Bump (to any other value) to rotate a generated password: the operator generates a new one, writes it
    /// to the connection Secret and sets it in TiDB Cloud. Ignored with spec.password (change the referenced
    /// value instead). Default: 0.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub password_rotation: i64,

    /// API credentials for TiDB Cloud. Absent: the credentials of the referenced TidbCloudCluster (its
    /// spec.credentials), else the operator's default credentials Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsSpec>,

    /// Secret the operator writes this user's connection details to (username, password, host, port, uri).
    /// Absent: a Secret named `<metadata.name>-connection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<ConnectionSecretSpec>,

    /// What happens to the SQL user when this resource is deleted: `Delete` drops it, `Retain` keeps it. Unset:
    /// deleting this resource directly drops the user, but a cascade (namespace deletion, CRD deletion,
    /// operator uninstall) keeps it. An explicit value always wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

// Authentication method.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum AuthMethod {
    /// MySQL native password.
    #[default]
    #[serde(rename = "mysql_native_password")]
    MysqlNativePassword,
}

impl AuthMethod {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::MysqlNativePassword => "mysql_native_password",
        }
    }
}

// Builtin role.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum BuiltinRole {
    /// Every privilege of the cluster.
    #[serde(rename = "role_admin")]
    Admin,
    /// Read and write every database.
    #[serde(rename = "role_readwrite")]
    ReadWrite,
    /// Read every database.
    #[serde(rename = "role_readonly")]
    ReadOnly,
}

impl BuiltinRole {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            BuiltinRole::Admin => "role_admin",
            BuiltinRole::ReadWrite => "role_readwrite",
            BuiltinRole::ReadOnly => "role_readonly",
        }
    }
}

/// Where the password comes from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PasswordSpec {
    /// Secret key, in the namespace of this resource, holding the password (8–64 characters). When the value
    /// changes, the operator sets the new password.
    pub secret_ref: SecretKeyRef,
}

/// Observed state of the SQL user.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TidbCloudSqlUserStatus {
    /// metadata.generation of the spec the operator last processed completely.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Conditions `Ready`, `Reconciling` and `Stalled` (kstatus conventions), one per type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// ID of the TiDB Cloud cluster the user belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,

    /// `<clusterId>/<userName>`: the SQL user this resource manages, persisted as soon as it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,

    /// User name as TiDB Cloud reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,

    /// Builtin role as TiDB Cloud reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin_role: Option<String>,

    /// Custom roles as TiDB Cloud reports them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = describe_roles)]
    pub custom_roles: Vec<String>,

    /// `sha256:<hex>` of the password last set in TiDB Cloud, salted with this resource's UID: detects a new
    /// password (rotation, a changed Secret) without storing it. TiDB Cloud never returns a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_fingerprint: Option<String>,

    /// spec.passwordRotation of the generated password in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_rotation: Option<i64>,

    /// Create call in flight: recorded before the operator asks TiDB Cloud to create the user, so that after a
    /// crash or an uncertain outcome it finds the user it made instead of failing on a duplicate. Cleared once
    /// the user is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_intent: Option<SqlUserCreateIntent>,
}

/// A SQL user create call about to be made, recorded for crash-safe adoption.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SqlUserCreateIntent {
    /// Cluster the user is created in.
    pub cluster_id: String,
    /// Name the user is created with.
    pub user_name: String,
    /// Fingerprint of the password it is created with.
    pub password_fingerprint: String,
    /// Time (RFC 3339) the intent was recorded, before the first create call.
    pub started_at: String,
}

impl TidbCloudSqlUser {
    /// Name of the connection Secret: spec.connectionSecret.name, else `<metadata.name>-connection`.
    pub fn connection_secret_name(&self) -> String {
        super::common::connection_secret_name(self, self.spec.connection_secret.as_ref())
    }

    /// The custom roles of the spec, sorted (compared as a set).
    pub fn custom_role_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.spec.custom_roles.clone();
        v.sort();
        v
    }

    /// Names of the Secrets in this namespace the spec refers to.
    pub fn secret_names(&self) -> Vec<String> {
        let s = &self.spec;
        s.credentials
            .iter()
            .map(|c| c.secret_ref.name.clone())
            .chain(s.password.iter().map(|p| p.secret_ref.name.clone()))
            .collect()
    }

    /// `metadata.name`, for messages.
    pub fn display(&self) -> String {
        self.name_any()
    }
}
