use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while starting, using or stopping the control plane.
///
/// Each message says what was being done and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "control-plane binaries missing in {dir}: {missing}; build them with `tools/control-plane/build.sh` \
         (or point K8S_BIN_DIR at a directory holding etcd, kube-apiserver and kube-controller-manager)"
    )]
    BinariesMissing { dir: PathBuf, missing: String },

    #[error(
        "cannot locate the control-plane binaries: K8S_BIN_DIR is unset and so is HOME; set K8S_BIN_DIR to the \
         directory `tools/control-plane/build.sh` printed"
    )]
    NoBinDir,

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot pick a free loopback port: {0}")]
    NoFreePort(#[source] std::io::Error),

    #[error("cannot start {component} ({binary}): {source}")]
    Spawn {
        component: &'static str,
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{component} exited during startup ({status}); last lines of {log}:\n{tail}")]
    ExitedEarly {
        component: &'static str,
        status: String,
        log: PathBuf,
        tail: String,
    },

    #[error(
        "{component} was not ready after {timeout:?} (last check: {last_error}); see {log} \
         (set a longer timeout with ControlPlaneOptions::start_timeout or --timeout)"
    )]
    StartTimeout {
        component: &'static str,
        timeout: Duration,
        last_error: String,
        log: PathBuf,
    },

    #[error(
        "state directory {dir} is in use by running process {pid}; stop it or choose another directory"
    )]
    DirInUse { dir: PathBuf, pid: u32 },

    #[error(
        "refusing to use {dir}: it is not empty and was not created by clouddb-control-plane (no {marker} file); \
         choose an empty or new directory"
    )]
    DirNotOurs { dir: PathBuf, marker: &'static str },

    #[error("cannot generate the service-account signing key: {0}")]
    KeyGeneration(String),

    #[error("cannot load kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },

    #[error("cannot build a Kubernetes client from {path}: {source}")]
    Client {
        path: PathBuf,
        #[source]
        source: kube::Error,
    },

    #[error("Kubernetes API call failed: {what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },

    #[error("timed out after {timeout:?} waiting for {what}{}", last_error_suffix(.last_error))]
    Timeout {
        what: String,
        timeout: Duration,
        last_error: Option<String>,
    },

    #[error("watch failed while waiting for {what}: {source}")]
    Watch {
        what: String,
        #[source]
        source: kube::runtime::wait::Error,
    },

    #[error("{what} was deleted while waiting for it")]
    Deleted { what: String },

    #[error("invalid CustomResourceDefinition YAML: {0}")]
    CrdYaml(String),
}

fn last_error_suffix(last_error: &Option<String>) -> String {
    match last_error {
        Some(e) => format!(" (last error: {e})"),
        None => String::new(),
    }
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn kube(what: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
