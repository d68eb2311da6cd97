//! The operator under test: the release `clouddb-operator` binary as a child process, watching one
//! namespace, pointed at the simulator, with every interval scaled like the quota window.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clouddb_testkit::ChildProcess;

use crate::error::BenchError;
use crate::procfs::{self, Usage};
use crate::stats::Scale;

/// Name of the credentials Secret the operator reads (in the benchmark's namespace).
pub const CREDENTIALS: &str = "tidbcloud-credentials";

/// How observation is done (`clouddb-operator run --observation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Batched,
    Naive,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Batched => "batched",
            Mode::Naive => "naive",
        }
    }
}

/// What the operator is started with.
pub struct OperatorOptions<'a> {
    pub binary: &'a Path,
    pub kubeconfig: &'a Path,
    pub namespace: &'a str,
    pub api_url: &'a str,
    pub ca_path: &'a Path,
    pub mode: Mode,
    pub scale: Scale,
    pub log_path: PathBuf,
}

/// The operator's real-world defaults, shrunk by the scale (flag, real value).
const SCALED_INTERVALS: &[(&str, Duration)] = &[
    ("--poll-transitional", Duration::from_secs(20)),
    ("--poll-steady", Duration::from_secs(600)),
    ("--poll-credentials", Duration::from_secs(300)),
    ("--max-backoff", Duration::from_secs(300)),
];

/// The operator's flags for a run (besides the binary and `run`).
pub fn operator_args(o: &OperatorOptions<'_>, metrics_addr: &str) -> Vec<String> {
    let credentials = format!("{}/{CREDENTIALS}", o.namespace);
    let mut args: Vec<String> = vec![
        "--watch-namespaces".into(),
        o.namespace.into(),
        "--operator-namespace".into(),
        o.namespace.into(),
        "--default-credentials".into(),
        credentials,
        "--tidbcloud-api-url".into(),
        o.api_url.into(),
        "--tidbcloud-iam-url".into(),
        o.api_url.into(),
        "--extra-ca-file".into(),
        o.ca_path.display().to_string(),
        "--metrics-addr".into(),
        metrics_addr.into(),
        "--observation".into(),
        o.mode.as_str().into(),
        "--rate-limit-per-minute".into(),
        o.scale.operator_rate_per_minute().to_string(),
    ];
    for (flag, real) in SCALED_INTERVALS {
        args.push((*flag).into());
        args.push(format!("{}ms", o.scale.scaled(*real).as_millis().max(1)));
    }
    args
}

/// The running operator.
pub struct Operator {
    process: ChildProcess,
    log_path: PathBuf,
}

fn free_port() -> Result<u16, BenchError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| BenchError::io("binding", "127.0.0.1:0", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| BenchError::io("binding", "127.0.0.1:0", e))
}

impl Operator {
    /// Starts the operator and waits until `/readyz` answers 200 (CRD found, controllers started).
    pub async fn start(o: OperatorOptions<'_>) -> Result<Operator, BenchError> {
        if !o.binary.is_file() {
            return Err(BenchError::MissingBinary {
                what: "clouddb-operator",
                binary: o.binary.to_path_buf(),
            });
        }
        let metrics_addr = format!("127.0.0.1:{}", free_port()?);
        let log = std::fs::File::create(&o.log_path)
            .map_err(|e| BenchError::io("creating", &o.log_path, e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| BenchError::io("opening", &o.log_path, e))?;
        let mut cmd = Command::new(o.binary);
        cmd.arg("run")
            .args(operator_args(&o, &metrics_addr))
            .env("KUBECONFIG", o.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let mut process = ChildProcess::spawn(cmd).map_err(|source| BenchError::Spawn {
            what: "clouddb-operator",
            binary: o.binary.to_path_buf(),
            source,
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| BenchError::sim_admin("building an HTTP client", e))?;
        let url = format!("http://{metrics_addr}/readyz");
        let timeout = Duration::from_secs(90);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                break;
            }
            if !process.running() {
                return Err(BenchError::Exited {
                    what: "clouddb-operator",
                    log: o.log_path,
                });
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout {
                    what: "the operator to be ready".into(),
                    timeout,
                    detail: format!("; see {}", o.log_path.display()),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Operator {
            process,
            log_path: o.log_path,
        })
    }

    /// Peak RSS and CPU so far, from /proc.
    pub fn usage(&mut self) -> Result<Usage, BenchError> {
        if !self.process.running() {
            return Err(BenchError::Exited {
                what: "clouddb-operator",
                log: self.log_path.clone(),
            });
        }
        procfs::usage(self.process.id())
    }

    pub fn stop(mut self) {
        self.process.stop(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_rate_follow_the_scale() {
        let o = OperatorOptions {
            binary: Path::new("/bin/false"),
            kubeconfig: Path::new("/k"),
            namespace: "bench",
            api_url: "https://127.0.0.1:1/v1beta1",
            ca_path: Path::new("/ca.pem"),
            mode: Mode::Naive,
            scale: Scale {
                per_window: 100,
                window: Duration::from_secs(6),
            },
            log_path: PathBuf::from("/log"),
        };
        let args = operator_args(&o, "127.0.0.1:9").join(" ");
        for expected in [
            "--observation naive",
            "--rate-limit-per-minute 1000",
            "--poll-transitional 2000ms",
            "--poll-steady 60000ms",
            "--default-credentials bench/tidbcloud-credentials",
        ] {
            assert!(args.contains(expected), "{expected} missing in {args}");
        }
    }
}
