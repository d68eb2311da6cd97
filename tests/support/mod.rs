//! Shared setup for the integration tests that run against a real control plane (see `clouddb-testkit`).
//!
//! Each file under `tests/` is its own crate and uses a different part of this module.
#![allow(dead_code)]

use std::time::Duration;

pub use clouddb_testkit::*;

pub mod namespaces;
pub mod operator;
pub mod ship;

/// Upper bound for waits on things the API server or the controllers do promptly.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A test's view of the shared control plane: its own namespace and an admin client.
pub struct TestEnv {
    pub cp: &'static ControlPlane,
    pub ns: TestNamespace,
    pub admin: kube::Client,
}

/// The shared control plane (started with default options), a fresh namespace named after `prefix`, and an
/// admin client; `None` when the test is skipped for lack of binaries (see [`ControlPlane::shared_or_skip`]).
pub async fn setup(prefix: &str) -> Option<TestEnv> {
    setup_with(prefix, ControlPlaneOptions::default).await
}

/// [`setup`] with control-plane options; all tests of one test binary must pass the same options.
pub async fn setup_with(
    prefix: &str,
    options: impl FnOnce() -> ControlPlaneOptions,
) -> Option<TestEnv> {
    let cp = ControlPlane::shared_or_skip_with(options).await?;
    let ns = TestNamespace::create(cp, prefix)
        .await
        .expect("create test namespace");
    let admin = cp.admin_client().await.expect("admin client");
    Some(TestEnv { cp, ns, admin })
}

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde::Deserialize;
use serde_json::Value;

/// The policy and binding from `crds/deletion-protection.yaml`.
pub fn policy_objects() -> (ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding) {
    let mut policy = None;
    let mut binding = None;
    let yaml = clouddb_operator::api::deletion_protection_policy_yaml();
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let value = Value::deserialize(document).expect("policy YAML parses");
        match value.get("kind").and_then(Value::as_str) {
            Some("ValidatingAdmissionPolicy") => {
                policy = Some(serde_json::from_value(value).expect("a ValidatingAdmissionPolicy"));
            }
            Some("ValidatingAdmissionPolicyBinding") => {
                binding = Some(
                    serde_json::from_value(value).expect("a ValidatingAdmissionPolicyBinding"),
                );
            }
            None if value.is_null() => {}
            other => panic!("unexpected document of kind {other:?} in the policy YAML"),
        }
    }
    (
        policy.expect("the YAML has a ValidatingAdmissionPolicy"),
        binding.expect("the YAML has a ValidatingAdmissionPolicyBinding"),
    )
}

/// Installs the deletion-protection policy (server-side apply: idempotent, so every test may call it).
pub async fn install_policy(client: &kube::Client) {
    let (policy, binding) = policy_objects();
    let params = PatchParams::apply("clouddb-tests").force();
    Api::<ValidatingAdmissionPolicy>::all(client.clone())
        .patch(&policy.name_any(), &params, &Patch::Apply(&policy))
        .await
        .expect("apply ValidatingAdmissionPolicy");
    Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
        .patch(&binding.name_any(), &params, &Patch::Apply(&binding))
        .await
        .expect("apply ValidatingAdmissionPolicyBinding");
}
