//! One benchmark run: a fresh simulator, namespace and operator; N TidbCloudClusters applied; convergence,
//! steady state, apply-to-create latency and the operator's resources measured.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use clouddb_operator::api::tidbcloudcluster::TidbCloudCluster;
use clouddb_testkit::{ControlPlane, TestNamespace};
use kube::api::Api;

use crate::cluster::{self, ReadyWatch};
use crate::error::BenchError;
use crate::operator::{Mode, Operator, OperatorOptions};
use crate::procfs::Usage;
use crate::sim::{LogTail, Sim, SimOptions};
use crate::stats::Scale;

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Convergence, steady state, latency, resources.
    Full,
    /// Convergence with the quota lifted, then peak RSS and CPU.
    MemoryOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSpec {
    pub n: usize,
    /// API keys the N objects are spread over (round robin), each with its own quota.
    pub keys: usize,
    pub mode: Mode,
    pub kind: Kind,
}

impl RunSpec {
    /// Objects on the busiest key (the quota bound is per key).
    pub fn per_key(&self) -> usize {
        crate::stats::per_key(self.n, self.keys)
    }
}

/// Settings shared by every run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub scale: Scale,
    pub delay_create: Duration,
    /// `None`: 6 × the quota bound + 2 min.
    pub converge_timeout: Option<Duration>,
    pub memory_timeout: Duration,
    /// Quota per window of memory-only runs (high: they measure memory, not the quota).
    pub memory_quota: u32,
    pub steady_resyncs: f64,
    pub latency_samples: usize,
    pub latency_gap: Duration,
    pub apply_concurrency: usize,
    pub operator_bin: PathBuf,
    pub sim_bin: PathBuf,
    pub work_dir: PathBuf,
}

impl Settings {
    pub fn converge_timeout(&self, spec: &RunSpec) -> Duration {
        match spec.kind {
            Kind::MemoryOnly => self.memory_timeout,
            Kind::Full => self.converge_timeout.unwrap_or_else(|| {
                self.scale.converge_bound(spec.per_key()) * 6 + Duration::from_secs(120)
            }),
        }
    }
}

/// Creating N clusters.
#[derive(Debug, Clone, PartialEq)]
pub struct Converge {
    /// From the first apply until all N were Ready; `None` when they were not within `timeout`.
    pub elapsed: Option<Duration>,
    pub timeout: Duration,
    /// Ready when it ended (N when converged).
    pub ready: usize,
    /// How long applying the N objects took.
    pub applied_in: Duration,
    /// When the simulator handled the last successful create, from the first apply.
    pub last_create: Option<Duration>,
    pub creates: u64,
    /// Cloud calls from the operator's start until convergence (or the timeout).
    pub calls: u64,
}

/// Calls while nothing changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Steady {
    pub calls: u64,
    pub window: Duration,
    pub per_quota_window: f64,
    pub per_resync: f64,
}

/// Apply → first create call, with the budget free.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    pub samples: Vec<Duration>,
    /// Applies whose create did not show up within [`LATENCY_TIMEOUT`].
    pub missed: usize,
}

pub const LATENCY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub spec: RunSpec,
    pub scale: Scale,
    pub converge: Converge,
    pub steady: Option<Steady>,
    pub latency: Option<Latency>,
    pub throttled: u64,
    pub total_calls: u64,
    pub usage: Usage,
    pub wall: Duration,
}

/// Progress on stderr.
pub fn say(msg: impl std::fmt::Display) {
    let now = humantime::format_rfc3339_seconds(SystemTime::now());
    eprintln!("[clouddb-bench {now}] {msg}");
}

pub async fn run(
    cp: &ControlPlane,
    client: &kube::Client,
    settings: &Settings,
    spec: RunSpec,
) -> Result<RunResult, BenchError> {
    let started = Instant::now();
    let label = format!(
        "{}{}-{}{}",
        match spec.kind {
            Kind::Full => "",
            Kind::MemoryOnly => "mem-",
        },
        spec.mode.as_str(),
        spec.n,
        if spec.keys > 1 {
            format!("-keys{}", spec.keys)
        } else {
            String::new()
        }
    );
    let dir = settings.work_dir.join(&label);
    std::fs::create_dir_all(&dir).map_err(|e| BenchError::io("creating", &dir, e))?;
    let scale = match spec.kind {
        Kind::Full => settings.scale,
        Kind::MemoryOnly => Scale {
            per_window: settings.memory_quota,
            ..settings.scale
        },
    };
    // Operator intervals follow the window; the rate limit follows the (possibly lifted) quota.
    let transitional = scale.scaled(Duration::from_secs(20));
    let resync = scale.scaled(Duration::from_secs(600));

    let ns = TestNamespace::create(cp, &format!("bench-{label}")).await?;
    cluster::put_credentials(client, ns.name(), spec.keys).await?;
    let sim = Sim::start(
        &settings.sim_bin,
        &dir.join("sim"),
        &SimOptions {
            scale,
            delay_create: settings.delay_create,
            node_quota: cluster::node_quota(spec.n + settings.latency_samples),
            keys: spec.keys,
        },
    )
    .await?;
    let api_url = sim.api_url();
    let mut operator = Operator::start(OperatorOptions {
        binary: &settings.operator_bin,
        kubeconfig: cp.admin_kubeconfig(),
        namespace: ns.name(),
        api_url: &api_url,
        ca_path: sim.ca_path(),
        mode: spec.mode,
        scale,
        log_path: dir.join("operator.log"),
    })
    .await?;
    say(format_args!(
        "{label}: operator ready in namespace {}; applying {} TidbCloudClusters",
        ns.name(),
        spec.n
    ));

    let api: Api<TidbCloudCluster> = Api::namespaced(client.clone(), ns.name());
    let mut ready = ReadyWatch::start(api.clone());
    let names: Vec<String> = (0..spec.n).map(|i| cluster::name("bench", i)).collect();
    let timeout = settings.converge_timeout(&spec);
    let t0 = Instant::now();
    let t0_wall = SystemTime::now();
    cluster::apply_all(&api, &names, spec.keys, settings.apply_concurrency).await?;
    let applied_in = t0.elapsed();
    say(format_args!(
        "{label}: applied in {:.1} s; waiting up to {} for all Ready (quota bound {:.1} s)",
        applied_in.as_secs_f64(),
        humantime::format_duration(timeout),
        scale.converge_bound(spec.per_key()).as_secs_f64()
    ));
    let converged = ready
        .wait_for(spec.n, timeout.saturating_sub(t0.elapsed()))
        .await;
    let (elapsed, ready_count) = match converged {
        Ok(at) => (Some(at.saturating_duration_since(t0)), spec.n),
        Err(count) => (None, count),
    };
    let at_converge = sim.totals().await?;
    let last_create = sim
        .requests()?
        .iter()
        .filter(|r| r.is_create())
        .map(|r| r.at)
        .max()
        .and_then(|at| at.duration_since(t0_wall).ok());
    let converge = Converge {
        elapsed,
        timeout,
        ready: ready_count,
        applied_in,
        last_create,
        creates: at_converge.creates,
        calls: at_converge.calls,
    };
    match converge.elapsed {
        Some(e) => say(format_args!(
            "{label}: all {} Ready after {:.1} s, {} cloud calls",
            spec.n,
            e.as_secs_f64(),
            converge.calls
        )),
        None => say(format_args!(
            "{label}: NOT converged within {}: {}/{} Ready, {} cloud calls",
            humantime::format_duration(timeout),
            ready_count,
            spec.n,
            converge.calls
        )),
    }

    let (steady, latency) = match (spec.kind, converge.elapsed) {
        (Kind::Full, Some(_)) => {
            let steady =
                measure_steady(&sim, scale, transitional, resync, settings, &label).await?;
            let latency = measure_latency(&sim, &api, settings, &label).await?;
            (Some(steady), Some(latency))
        }
        (Kind::MemoryOnly, _) => {
            // Let the last status writes and list refreshes happen before reading the peak.
            tokio::time::sleep(transitional * 3).await;
            (None, None)
        }
        (Kind::Full, None) => (None, None),
    };

    let usage = operator.usage()?;
    let end = sim.totals().await?;
    drop(ready);
    operator.stop();
    sim.stop();
    // Starts deleting the namespace; with the operator gone its objects keep their finalizers, which is fine:
    // the control plane is thrown away at the end.
    drop(ns);
    let result = RunResult {
        spec,
        scale,
        converge,
        steady,
        latency,
        throttled: end.throttled,
        total_calls: end.calls,
        usage,
        wall: started.elapsed(),
    };
    say(format_args!(
        "{label}: done in {:.0} s; peak RSS {:.1} MiB, CPU {:.1} s, {} calls, {} × 429",
        result.wall.as_secs_f64(),
        result.usage.peak_rss as f64 / 1024.0 / 1024.0,
        result.usage.cpu.as_secs_f64(),
        result.total_calls,
        result.throttled
    ));
    Ok(result)
}

/// Counts calls over `steady_resyncs` resync periods once nothing changes any more.
async fn measure_steady(
    sim: &Sim,
    scale: Scale,
    transitional: Duration,
    resync: Duration,
    settings: &Settings,
    label: &str,
) -> Result<Steady, BenchError> {
    // The batched refresher keeps the transitional pace for 10 transitional intervals after the last write.
    let settle = transitional * 12;
    let window = resync.mul_f64(settings.steady_resyncs.max(0.1));
    say(format_args!(
        "{label}: settling {:.0} s, then counting calls for {:.0} s ({} resyncs of {:.0} s)",
        settle.as_secs_f64(),
        window.as_secs_f64(),
        settings.steady_resyncs,
        resync.as_secs_f64()
    ));
    tokio::time::sleep(settle).await;
    let before = sim.totals().await?;
    let start = Instant::now();
    tokio::time::sleep(window).await;
    let after = sim.totals().await?;
    let measured = start.elapsed();
    let calls = after.since(&before).calls;
    Ok(Steady {
        calls,
        window: measured,
        per_quota_window: calls as f64 / scale.windows(measured),
        per_resync: calls as f64 * resync.as_secs_f64() / measured.as_secs_f64(),
    })
}

/// Applies new clusters one at a time, with the budget free, and finds each one's create in the simulator's
/// request log: latency = the simulator's timestamp of the create − the instant before the apply was sent.
async fn measure_latency(
    sim: &Sim,
    api: &Api<TidbCloudCluster>,
    settings: &Settings,
    label: &str,
) -> Result<Latency, BenchError> {
    say(format_args!(
        "{label}: measuring apply → create latency over {} clusters",
        settings.latency_samples
    ));
    let mut tail = LogTail::new(sim.log_path());
    tail.read_new()?;
    let mut latency = Latency {
        samples: Vec::with_capacity(settings.latency_samples),
        missed: 0,
    };
    for i in 0..settings.latency_samples {
        let name = cluster::name("latency", i);
        let applied_at = SystemTime::now();
        cluster::apply(api, &name, 0).await?;
        let deadline = Instant::now() + LATENCY_TIMEOUT;
        loop {
            if let Some(create) = tail.read_new()?.into_iter().find(|r| r.is_create()) {
                latency
                    .samples
                    .push(create.at.duration_since(applied_at).unwrap_or_default());
                break;
            }
            if Instant::now() > deadline {
                latency.missed += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(settings.latency_gap).await;
    }
    Ok(latency)
}
