//! A real Kubernetes control plane for clouddb-operator's tests and demos.
//!
//! [`ControlPlane::start`] runs etcd, kube-apiserver and kube-controller-manager (garbage collector and namespace
//! controller only) as child processes on free loopback ports, from binaries built by
//! `tools/control-plane/build.sh` (found through env `K8S_BIN_DIR`, else
//! `$HOME/.cache/clouddb-operator/k8s/current`). It writes two kubeconfigs into its state directory:
//!
//! - `admin.kubeconfig`: token user [`ADMIN_USERNAME`] in group `system:masters`;
//! - `operator.kubeconfig`: token user [`OPERATOR_USERNAME`], i.e. the operator's ServiceAccount
//!   (`clouddb-system/clouddb-operator`), with the ServiceAccount groups, under RBAC like the real operator.
//!
//! The children are spawned with `PR_SET_PDEATHSIG=SIGKILL` from a thread that lives as long as the process, so
//! they die with the test process however it ends; state directories of dead processes are removed on the next
//! start.
//!
//! In tests, use [`ControlPlane::shared_or_skip`] (one control plane per test binary), a [`TestNamespace`] per
//! test, and the timeout-bounded helpers in [`wait`].

mod control_plane;
mod error;
mod namespace;
mod process;
mod shared;
mod spawn;
pub mod wait;

pub use control_plane::{
    ADMIN_USERNAME, Binaries, ControlPlane, ControlPlaneOptions, MARKER_FILE, OPERATOR_NAMESPACE,
    OPERATOR_SERVICE_ACCOUNT, OPERATOR_USERNAME, StartupTimings, client_from_kubeconfig,
};
pub use error::{Error, Result};
pub use namespace::{TEST_NAMESPACE_LABEL, TestNamespace};
pub use process::ChildProcess;
pub use shared::{binaries_or_skip, in_ci};
pub use wait::{
    apply_crd, apply_crd_yaml, await_condition, await_crd_established, await_deleted, await_object,
    eventually,
};
