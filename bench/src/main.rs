//! `clouddb-bench`: the benchmark of issue 7. Runs the release operator against the TiDB Cloud simulator and
//! a real control plane with N TidbCloudClusters, in both observation modes, and writes BENCHMARKS.md.
//! Run it through `scripts/bench.sh`, which builds the binaries it needs.

mod cluster;
mod error;
mod operator;
mod procfs;
mod report;
mod run;
mod sim;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Parser;
use clouddb_testkit::{ControlPlane, ControlPlaneOptions};

use crate::error::BenchError;
use crate::operator::Mode;
use crate::run::{Kind, RunResult, RunSpec, Settings, say};
use crate::stats::Scale;

/// Benchmark clouddb-operator against the TiDB Cloud simulator and a real kube-apiserver (issue 7): cloud calls
/// at steady state and per resync, 429s, time to converge against the quota bound, apply-to-create latency,
/// peak RSS and CPU — batched and naive observation side by side. Results go to stdout and BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(name = "clouddb-bench")]
struct Cli {
    /// Numbers of TidbCloudClusters, comma-separated (e.g. 100,1000); each gets a full run per mode.
    #[arg(long, value_delimiter = ',')]
    n: Vec<usize>,
    /// N = 100 and 1000 in full, then N = 10000 for memory only.
    #[arg(long)]
    all: bool,
    /// Only memory and CPU for the given N (the quota is lifted; see --memory-quota).
    #[arg(long)]
    memory_only: bool,
    /// API keys the N objects are spread over (round robin; each key has its own quota in the simulator and
    /// its own budget in the operator). The quota bound is then per key: ⌈N / keys⌉ / quota windows.
    #[arg(long, default_value_t = 1)]
    keys: usize,
    /// Observation modes to compare. Default: batched,naive (memory-only runs: batched).
    #[arg(long, value_enum, value_delimiter = ',')]
    modes: Vec<Mode>,
    /// Simulator quota per API key and window (the real service: 100).
    #[arg(long, default_value_t = 100)]
    quota: u32,
    /// Length of the quota window, a scaled "quota minute"; the operator's intervals are scaled alike.
    #[arg(long, default_value = "6s", value_parser = humantime::parse_duration)]
    quota_window: Duration,
    /// Simulated cluster create delay (CREATING → ACTIVE).
    #[arg(long, default_value = "1500ms", value_parser = humantime::parse_duration)]
    delay_create: Duration,
    /// How long to wait for N clusters to be Ready (default: 6 × the quota bound + 2 min).
    #[arg(long, value_parser = humantime::parse_duration)]
    converge_timeout: Option<Duration>,
    /// How long a memory-only run waits for its clusters to be Ready.
    #[arg(long, default_value = "20m", value_parser = humantime::parse_duration)]
    memory_timeout: Duration,
    /// Quota per window in memory-only runs.
    #[arg(long, default_value_t = 100_000)]
    memory_quota: u32,
    /// Resync periods (`--poll-steady`) over which steady-state calls are counted.
    #[arg(long, default_value_t = 2.0)]
    steady_resyncs: f64,
    /// Clusters applied one at a time to measure apply → create latency.
    #[arg(long, default_value_t = 30)]
    latency_samples: usize,
    /// Pause between latency samples.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    latency_gap: Duration,
    /// Server-side applies in flight while creating the N objects.
    #[arg(long, default_value_t = 16)]
    apply_concurrency: usize,
    /// The operator binary (a release build).
    #[arg(long, env = "CLOUDDB_BENCH_OPERATOR_BIN")]
    operator_bin: PathBuf,
    /// The simulator binary (a release build).
    #[arg(long, env = "CLOUDDB_BENCH_SIM_BIN")]
    sim_bin: PathBuf,
    /// The report to update (each N's section is replaced, others kept).
    #[arg(long, default_value = "BENCHMARKS.md")]
    output: PathBuf,
    /// Logs of every run (operator, simulator request log); emptied first.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// The command line recorded in the report (scripts/bench.sh passes its own).
    #[arg(long, hide = true)]
    command_line: Option<String>,
}

impl Cli {
    fn plan(&self) -> Result<Vec<RunSpec>, BenchError> {
        let (full, memory): (Vec<usize>, Vec<usize>) = if self.all {
            (vec![100, 1000], vec![10_000])
        } else if self.memory_only {
            (Vec::new(), self.n.clone())
        } else {
            (self.n.clone(), Vec::new())
        };
        if full.is_empty() && memory.is_empty() {
            return Err(BenchError::Usage(
                "nothing to run: give --n N (e.g. --n 100), or --all".into(),
            ));
        }
        if self.keys == 0 {
            return Err(BenchError::Usage("--keys must be at least 1".into()));
        }
        if full.iter().chain(&memory).any(|&n| n == 0) {
            return Err(BenchError::Usage("--n must be at least 1".into()));
        }
        if self.quota == 0 || self.quota_window.is_zero() {
            return Err(BenchError::Usage(
                "--quota and --quota-window must be positive".into(),
            ));
        }
        let modes = |default: &[Mode]| -> Vec<Mode> {
            if self.modes.is_empty() {
                default.to_vec()
            } else {
                self.modes.clone()
            }
        };
        let mut plan = Vec::new();
        for n in full {
            for mode in modes(&[Mode::Batched, Mode::Naive]) {
                plan.push(RunSpec {
                    n,
                    keys: self.keys,
                    mode,
                    kind: Kind::Full,
                });
            }
        }
        for n in memory {
            for mode in modes(&[Mode::Batched]) {
                plan.push(RunSpec {
                    n,
                    keys: self.keys,
                    mode,
                    kind: Kind::MemoryOnly,
                });
            }
        }
        Ok(plan)
    }

    fn settings(&self) -> Result<Settings, BenchError> {
        for (what, binary) in [
            ("clouddb-operator", &self.operator_bin),
            ("clouddb-sim", &self.sim_bin),
        ] {
            if !binary.is_file() {
                return Err(BenchError::MissingBinary {
                    what,
                    binary: binary.clone(),
                });
            }
        }
        Ok(Settings {
            scale: Scale {
                per_window: self.quota,
                window: self.quota_window,
            },
            delay_create: self.delay_create,
            converge_timeout: self.converge_timeout,
            memory_timeout: self.memory_timeout,
            memory_quota: self.memory_quota.max(1),
            steady_resyncs: self.steady_resyncs,
            latency_samples: self.latency_samples,
            latency_gap: self.latency_gap,
            apply_concurrency: self.apply_concurrency,
            operator_bin: self.operator_bin.clone(),
            sim_bin: self.sim_bin.clone(),
            work_dir: self
                .work_dir
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join("clouddb-bench")),
        })
    }
}

async fn bench(cli: Cli) -> Result<(), BenchError> {
    let plan = cli.plan()?;
    let settings = cli.settings()?;
    let work = &settings.work_dir;
    if work.exists() {
        std::fs::remove_dir_all(work).map_err(|e| BenchError::io("emptying", work, e))?;
    }
    std::fs::create_dir_all(work).map_err(|e| BenchError::io("creating", work, e))?;

    say("starting the control plane (etcd, kube-apiserver, kube-controller-manager) with the CRDs");
    let cp = ControlPlane::start(ControlPlaneOptions {
        crds: clouddb_operator::api::crds(),
        ..ControlPlaneOptions::default()
    })
    .await?;
    let client = cp.admin_client().await?;

    let ctx = report::Context {
        date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        machine: procfs::Machine::detect(),
        command: cli
            .command_line
            .clone()
            .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" ")),
        delay_create: settings.delay_create,
        steady_resyncs: settings.steady_resyncs,
    };
    let mut results: Vec<RunResult> = Vec::new();
    let mut failed = Vec::new();
    for (i, spec) in plan.iter().enumerate() {
        say(format_args!(
            "run {}/{}: N = {}, {} observation{}",
            i + 1,
            plan.len(),
            spec.n,
            spec.mode.as_str(),
            if spec.kind == Kind::MemoryOnly {
                ", memory only"
            } else {
                ""
            }
        ));
        match run::run(&cp, &client, &settings, *spec).await {
            Ok(r) => {
                results.push(r);
                // Written after every run, so that an interrupted benchmark keeps what it measured.
                write_report(&cli.output, &ctx, &results)?;
            }
            Err(e) => {
                say(format_args!("run failed: {e}"));
                failed.push(format!("N = {} {}: {e}", spec.n, spec.mode.as_str()));
            }
        }
    }
    drop(client);
    cp.stop();

    for (_, body) in report::sections(&ctx, &results) {
        println!("{body}");
    }
    say(format_args!(
        "wrote {} (logs of every run: {})",
        cli.output.display(),
        work.display()
    ));
    if !failed.is_empty() {
        return Err(BenchError::RunsFailed(failed.join("; ")));
    }
    Ok(())
}

/// Merges the sections of `results` into the report file.
fn write_report(
    output: &std::path::Path,
    ctx: &report::Context,
    results: &[RunResult],
) -> Result<(), BenchError> {
    let existing = match std::fs::read_to_string(output) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(BenchError::io("reading", output, e)),
    };
    let doc = report::merge(existing.as_deref(), &report::sections(ctx, results));
    std::fs::write(output, doc).map_err(|e| BenchError::io("writing", output, e))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("clouddb-bench: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(bench(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clouddb-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
