//! Custom resource types (no I/O).
//!
//! [`crds`] is the single source of the CustomResourceDefinitions: `crds/*.yaml` and `clouddb-operator crd`
//! are generated from it (a test fails when `crds/` is stale).

pub mod clickhouseservice;
pub mod common;
pub mod tidbcloudbranch;
pub mod tidbcloudcluster;
pub mod tidbcloudimport;
pub mod tidbcloudintegration;
pub mod tidbcloudserverlesscluster;
pub mod tidbcloudsqluser;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

pub use clickhouseservice::{ClickHouseService, ClickHouseServiceSpec, ClickHouseServiceStatus};
pub use common::{
    ClusterRef, CredentialsSpec, DeletionPolicy, FINALIZER, GROUP, OBSERVE, PRIVATE_KEY,
    PUBLIC_KEY, RECONCILE_ANNOTATION, SecretKeyRef, SecretNameRef,
};
pub use tidbcloudbranch::{TidbCloudBranch, TidbCloudBranchSpec, TidbCloudBranchStatus};
pub use tidbcloudcluster::{
    ConnectionSecretSpec, CreateIntent, Endpoint, RootPasswordSpec, StorageNodesSpec,
    TidbCloudCluster, TidbCloudClusterSpec, TidbCloudClusterStatus, TidbSpec,
};
pub use tidbcloudimport::{TidbCloudImport, TidbCloudImportSpec, TidbCloudImportStatus};
pub use tidbcloudintegration::{
    TidbCloudIntegration, TidbCloudIntegrationSpec, TidbCloudIntegrationStatus,
};
pub use tidbcloudserverlesscluster::{
    TidbCloudServerlessCluster, TidbCloudServerlessClusterSpec, TidbCloudServerlessClusterStatus,
};
pub use tidbcloudsqluser::{TidbCloudSqlUser, TidbCloudSqlUserSpec, TidbCloudSqlUserStatus};

/// The ValidatingAdmissionPolicy and its binding (`crds/deletion-protection.yaml`) that refuse to delete any
/// clouddb.dev resource whose `spec.deletionProtection` is true.
const DELETION_PROTECTION_POLICY_YAML: &str = include_str!("../../crds/deletion-protection.yaml");

/// Name of the ValidatingAdmissionPolicy (and of its binding) in [`deletion_protection_policy_yaml`].
pub const DELETION_PROTECTION_POLICY: &str = "clouddb-deletion-protection";

/// Every CustomResourceDefinition of the operator, in a stable order (by name).
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        finish(ClickHouseService::crd()),
        finish(TidbCloudBranch::crd()),
        finish(TidbCloudCluster::crd()),
        finish(TidbCloudImport::crd()),
        finish(TidbCloudIntegration::crd()),
        finish(TidbCloudServerlessCluster::crd()),
        finish(TidbCloudSqlUser::crd()),
    ];
    crds.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    crds
}

/// [`crds`] as multi-document YAML (each document starts with `---`), as stored in `crds/`.
pub fn crds_yaml() -> String {
    crds().iter().map(crd_yaml).collect()
}

/// One CustomResourceDefinition as a YAML document starting with `---`.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> String {
    let yaml = serde_yaml::to_string(crd).expect("a CustomResourceDefinition serializes to YAML");
    format!("---\n{yaml}")
}

/// The ValidatingAdmissionPolicy + ValidatingAdmissionPolicyBinding (admissionregistration.k8s.io/v1) that
/// refuse DELETE of any clouddb.dev resource with `spec.deletionProtection: true`, as multi-document YAML.
pub fn deletion_protection_policy_yaml() -> &'static str {
    DELETION_PROTECTION_POLICY_YAML
}

/// Post-processing of a generated CustomResourceDefinition:
///
/// - drops `nullable: true` from the schema (schemars emits it for `Option<enum>`): an explicit `null` is then
///   pruned by the API server like an absent field (and defaulted, where a default exists), so `has()` in CEL
///   rules and the immutability rules see the same thing for `field: null` and a missing field;
/// - joins the hard-wrapped lines of doc comments in descriptions (paragraphs stay), so that `kubectl explain`
///   wraps them to the terminal.
fn finish(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            let mut value = serde_json::to_value(&*schema).expect("schema serializes");
            tidy_schema(&mut value);
            *schema = serde_json::from_value(value).expect("schema deserializes");
        }
    }
    crd
}

fn tidy_schema(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("nullable") == Some(&Value::Bool(true)) {
                map.remove("nullable");
            }
            if let Some(Value::String(description)) = map.get_mut("description") {
                *description = unwrap_lines(description);
            }
            map.values_mut().for_each(tidy_schema);
        }
        Value::Array(items) => items.iter_mut().for_each(tidy_schema),
        _ => {}
    }
}

/// Joins single line breaks with a space; blank lines (paragraph breaks) stay.
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}
