//! Everything that can stop the benchmark, each message saying what was being done.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("starting {what} ({binary}): {source}")]
    Spawn {
        what: &'static str,
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{what} binary {} not found: build it first (scripts/bench.sh does: cargo build --release -p clouddb-operator -p clouddb-sim)",
        .binary.display()
    )]
    MissingBinary { what: &'static str, binary: PathBuf },

    #[error("control plane: {0}")]
    ControlPlane(#[from] clouddb_testkit::Error),

    #[error("Kubernetes API, {what}: {source}")]
    Kube {
        what: String,
        #[source]
        source: kube::Error,
    },

    #[error("simulator admin API, {what}: {source}")]
    SimAdmin {
        what: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("{what} did not happen within {timeout:?}{detail}")]
    Timeout {
        what: String,
        timeout: std::time::Duration,
        detail: String,
    },

    #[error("{what} exited early; its log: {}", .log.display())]
    Exited { what: &'static str, log: PathBuf },

    #[error("reading /proc: {0}")]
    Proc(String),

    #[error("some runs failed (the others are in the report): {0}")]
    RunsFailed(String),

    #[error("invalid option: {0}")]
    Usage(String),
}

impl BenchError {
    pub fn kube(what: impl Into<String>, source: kube::Error) -> BenchError {
        BenchError::Kube {
            what: what.into(),
            source,
        }
    }

    pub fn sim_admin(what: impl Into<String>, source: reqwest::Error) -> BenchError {
        BenchError::SimAdmin {
            what: what.into(),
            source,
        }
    }

    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> BenchError {
        BenchError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
