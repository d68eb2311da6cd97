//! Shared setup for the integration tests that run against a real control plane (see `clouddb-testkit`).
//!
//! Each file under `tests/` is its own crate and uses a different part of this module.
#![allow(dead_code)]

use std::time::Duration;

pub use clouddb_testkit::*;

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
