//! The TiDB Cloud simulator as a child process: its admin API (request counters) and its request log (one
//! JSON line per request, with the time it was handled). Every figure about cloud calls comes from here.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use clouddb_testkit::ChildProcess;
use serde::Deserialize;

use crate::error::BenchError;
use crate::stats::Scale;

/// The API key pair the simulator accepts and the operator's credentials Secret holds.
pub const PUBLIC_KEY: &str = "benchkey";
pub const PRIVATE_KEY: &str = "bench-private-key-0123456789abcdef";

/// The `i`-th API key pair of a run over several keys (the first is [`PUBLIC_KEY`] / [`PRIVATE_KEY`]).
pub fn key_pair(i: usize) -> (String, String) {
    if i == 0 {
        (PUBLIC_KEY.to_string(), PRIVATE_KEY.to_string())
    } else {
        (format!("{PUBLIC_KEY}{i}"), format!("{PRIVATE_KEY}-{i}"))
    }
}

/// The route template of cluster creation in the simulator's counters and log.
pub const CREATE_ROUTE: &str = "/v1beta1/clusters";

/// How the simulator is started.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub scale: Scale,
    /// Cluster `CREATING` → `ACTIVE`.
    pub delay_create: Duration,
    /// Node quota per component, high enough for every cluster of the run.
    pub node_quota: u64,
    /// API keys the simulator accepts ([`key_pair`] 0 … keys − 1), each with its own quota.
    pub keys: usize,
}

/// A running `clouddb-sim` process.
pub struct Sim {
    process: ChildProcess,
    base_url: String,
    ca_path: PathBuf,
    log_path: PathBuf,
    http: reqwest::Client,
}

/// One row of `GET /_sim/counters`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CounterRow {
    pub key: String,
    pub method: String,
    pub route: String,
    pub status: u16,
    pub count: u64,
}

#[derive(Debug, Deserialize)]
struct CountersBody {
    counters: Vec<CounterRow>,
}

/// Totals over the counter rows (the simulator serves only the operator under test).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Every HTTP exchange: digest challenges and 429s included, as the operator's own budget counts them.
    pub calls: u64,
    /// Answers 429 (quota exhausted, or an injected throttle).
    pub throttled: u64,
    /// Successful cluster creations.
    pub creates: u64,
}

impl Totals {
    pub fn of(rows: &[CounterRow]) -> Totals {
        rows.iter().fold(Totals::default(), |mut t, r| {
            t.calls += r.count;
            if r.status == 429 {
                t.throttled += r.count;
            }
            if r.method == "POST" && r.route == CREATE_ROUTE && r.status == 200 {
                t.creates += r.count;
            }
            t
        })
    }

    /// Requests between two readings.
    pub fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            calls: self.calls.saturating_sub(earlier.calls),
            throttled: self.throttled.saturating_sub(earlier.throttled),
            creates: self.creates.saturating_sub(earlier.creates),
        }
    }
}

/// One request line of the simulator's JSON log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRequest {
    pub at: SystemTime,
    pub method: String,
    pub route: String,
    pub status: u16,
}

impl LoggedRequest {
    pub fn is_create(&self) -> bool {
        self.method == "POST" && self.route == CREATE_ROUTE && self.status == 200
    }
}

#[derive(Deserialize)]
struct LogLine {
    timestamp: Option<String>,
    fields: Option<LogFields>,
}

#[derive(Deserialize)]
struct LogFields {
    message: Option<String>,
    method: Option<String>,
    route: Option<String>,
    status: Option<u16>,
}

/// Parses one line of `clouddb-sim --log-format json`; `None` for anything but a handled request.
pub fn parse_log_line(line: &str) -> Option<LoggedRequest> {
    let parsed: LogLine = serde_json::from_str(line).ok()?;
    let fields = parsed.fields?;
    if fields.message.as_deref() != Some("request") {
        return None;
    }
    let at = humantime::parse_rfc3339_weak(parsed.timestamp?.as_str()).ok()?;
    Some(LoggedRequest {
        at,
        method: fields.method?,
        route: fields.route?,
        status: fields.status?,
    })
}

/// Reads the request log as it grows.
pub struct LogTail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl LogTail {
    pub fn new(path: &Path) -> LogTail {
        LogTail {
            path: path.to_path_buf(),
            offset: 0,
            partial: String::new(),
        }
    }

    /// The requests logged since the last call.
    pub fn read_new(&mut self) -> Result<Vec<LoggedRequest>, BenchError> {
        let mut file = std::fs::File::open(&self.path)
            .map_err(|e| BenchError::io("opening", &self.path, e))?;
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| BenchError::io("seeking in", &self.path, e))?;
        let mut bytes = Vec::new();
        let read = file
            .read_to_end(&mut bytes)
            .map_err(|e| BenchError::io("reading", &self.path, e))?;
        self.offset += read as u64;
        self.partial.push_str(&String::from_utf8_lossy(&bytes));
        let Some(last_newline) = self.partial.rfind('\n') else {
            return Ok(Vec::new());
        };
        let complete: String = self.partial.drain(..=last_newline).collect();
        Ok(complete.lines().filter_map(parse_log_line).collect())
    }
}

impl Sim {
    /// Starts `binary` on a free loopback port with the benchmark's key, quota and delays; waits until its
    /// admin API answers.
    pub async fn start(binary: &Path, dir: &Path, options: &SimOptions) -> Result<Sim, BenchError> {
        std::fs::create_dir_all(dir).map_err(|e| BenchError::io("creating", dir, e))?;
        let stdout_path = dir.join("stdout.log");
        let log_path = dir.join("requests.jsonl");
        let create =
            |p: &Path| std::fs::File::create(p).map_err(|e| BenchError::io("creating", p, e));
        let stdout = create(&stdout_path)?;
        let stderr = create(&log_path)?;
        let quota = options.node_quota.to_string();
        let mut cmd = Command::new(binary);
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--state-dir")
            .arg(dir)
            .args((0..options.keys.max(1)).flat_map(|i| {
                let (public, private) = key_pair(i);
                ["--api-key".to_string(), format!("{public}:{private}")]
            }))
            .arg("--quota-per-minute")
            .arg(options.scale.per_window.to_string())
            .arg("--quota-window")
            .arg(humantime::format_duration(options.scale.window).to_string())
            .arg("--delay-create")
            .arg(humantime::format_duration(options.delay_create).to_string())
            .args(["--node-quota", &format!("TIDB={quota}")])
            .args(["--node-quota", &format!("TIKV={quota}")])
            .args(["--node-quota", &format!("TIFLASH={quota}")])
            .args(["--log-format", "json"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let mut process = ChildProcess::spawn(cmd).map_err(|source| BenchError::Spawn {
            what: "clouddb-sim",
            binary: binary.to_path_buf(),
            source,
        })?;

        // Its first stdout line names the address it listens on.
        let deadline = Instant::now() + Duration::from_secs(30);
        let base_url = loop {
            let out = std::fs::read_to_string(&stdout_path).unwrap_or_default();
            if let Some(url) = out
                .lines()
                .find_map(|l| l.strip_prefix("clouddb-sim listening on "))
            {
                break url.trim().to_string();
            }
            if !process.running() {
                return Err(BenchError::Exited {
                    what: "clouddb-sim",
                    log: log_path,
                });
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout {
                    what: "clouddb-sim to listen".into(),
                    timeout: Duration::from_secs(30),
                    detail: format!("; see {}", log_path.display()),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let ca_path = dir.join("ca.pem");
        let ca = std::fs::read(&ca_path).map_err(|e| BenchError::io("reading", &ca_path, e))?;
        let http = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&ca)
                    .map_err(|e| BenchError::sim_admin("reading its CA", e))?,
            )
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| BenchError::sim_admin("building a client", e))?;
        let sim = Sim {
            process,
            base_url,
            ca_path,
            log_path,
            http,
        };
        sim.counters().await?;
        Ok(sim)
    }

    /// `https://127.0.0.1:PORT/v1beta1`: both API base URLs of the operator.
    pub fn api_url(&self) -> String {
        format!("{}/v1beta1", self.base_url)
    }

    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// `GET /_sim/counters`.
    pub async fn counters(&self) -> Result<Vec<CounterRow>, BenchError> {
        let url = format!("{}/_sim/counters", self.base_url);
        let body: CountersBody = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| BenchError::sim_admin("GET /_sim/counters", e))?
            .json()
            .await
            .map_err(|e| BenchError::sim_admin("decoding /_sim/counters", e))?;
        Ok(body.counters)
    }

    pub async fn totals(&self) -> Result<Totals, BenchError> {
        Ok(Totals::of(&self.counters().await?))
    }

    /// Every request logged so far.
    pub fn requests(&self) -> Result<Vec<LoggedRequest>, BenchError> {
        LogTail::new(&self.log_path).read_new()
    }

    pub fn stop(mut self) {
        self.process.stop(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_lines_only() {
        let line = r#"{"timestamp":"2026-12-02T00:40:00.123456Z","level":"INFO","fields":{"message":"request","method":"POST","route":"/v1beta1/clusters","status":200,"key":"benc…"},"target":"clouddb_sim::gateway"}"#;
        let r = parse_log_line(line).expect("a request line");
        assert!(r.is_create());
        let since_epoch = r.at.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(since_epoch.subsec_micros(), 123_456);
        let throttled = r#"{"timestamp":"2026-12-02T00:40:00Z","level":"INFO","fields":{"message":"429 quota exhausted","method":"GET","path":"/v1beta1/clusters"}}"#;
        assert_eq!(parse_log_line(throttled), None);
        assert_eq!(parse_log_line("not json"), None);
    }

    #[test]
    fn totals_count_every_exchange() {
        let row = |key: &str, method: &str, route: &str, status: u16, count: u64| CounterRow {
            key: key.into(),
            method: method.into(),
            route: route.into(),
            status,
            count,
        };
        let rows = vec![
            row(PUBLIC_KEY, "POST", CREATE_ROUTE, 200, 10),
            row(PUBLIC_KEY, "GET", "/v1beta1/clusters/{clusterId}", 200, 5),
            row(PUBLIC_KEY, "GET", "(rate limited)", 429, 2),
            row(PUBLIC_KEY, "GET", "(unauthenticated)", 401, 1),
            row("", "GET", "(unauthenticated)", 401, 7),
        ];
        let t = Totals::of(&rows);
        assert_eq!(
            t,
            Totals {
                calls: 25,
                throttled: 2,
                creates: 10
            }
        );
        assert_eq!(t.since(&Totals::default()), t);
    }
}
