//! Markdown tables for BENCHMARKS.md, and merging them into the file: each N has its own section between
//! markers, so a run with `--n 100` replaces the N = 100 table and leaves the others alone.

use std::fmt::Write as _;
use std::time::Duration;

use crate::operator::Mode;
use crate::procfs::Machine;
use crate::run::{Kind, RunResult};
use crate::stats::{Scale, percentile, ratio, steady_call_bound};

/// Operator CPU seconds per 1 000 objects.
fn cpu_per_1000(r: &RunResult) -> String {
    format!(
        "{:.1} s",
        r.usage.cpu.as_secs_f64() * 1000.0 / r.spec.n.max(1) as f64
    )
}

/// Target of issue 7 for the time to converge, as a multiple of the quota bound.
pub const CONVERGE_TARGET: f64 = 1.05;
/// Target of issue 7 for the p99 latency from apply to the first cloud call.
pub const LATENCY_TARGET: Duration = Duration::from_millis(500);

/// Peak RSS target of issue 7 for `n` resources, MiB.
pub fn rss_target_mib(n: usize) -> Option<f64> {
    match n {
        0..=1000 => Some(50.0),
        1001..=10_000 => Some(150.0),
        _ => None,
    }
}

/// What every section states besides the figures.
#[derive(Debug, Clone)]
pub struct Context {
    pub date: String,
    pub machine: Machine,
    pub command: String,
    pub delay_create: Duration,
    pub steady_resyncs: f64,
}

fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

/// `850 ms`, `12.3 s`, `4.5 min`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{} ms", d.as_millis())
    } else if s < 120.0 {
        format!("{s:.1} s")
    } else {
        format!("{:.1} min", s / 60.0)
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}

fn machine_line(m: &Machine) -> String {
    let mut s = format!("{} CPUs", m.cpus);
    if let Some(model) = &m.cpu_model {
        let _ = write!(s, " ({model})");
    }
    if let Some(mem) = m.memory_bytes {
        let _ = write!(s, ", {:.1} GiB RAM", mem as f64 / 1024.0 / 1024.0 / 1024.0);
    }
    if let Some(k) = &m.kernel {
        let _ = write!(s, ", Linux {k}");
    }
    s
}

fn scale_line(scale: &Scale, ctx: &Context) -> String {
    format!(
        "quota {} requests per {} window per API key (the real 100 per minute, time scaled ×{}), create delay {}; \
         operator intervals scaled alike: `--poll-transitional {}`, `--poll-steady {}`, `--rate-limit-per-minute {}` \
         (default headroom 0.9)",
        scale.per_window,
        human(scale.window),
        scale.factor(),
        human(ctx.delay_create),
        humantime::format_duration(scale.scaled(Duration::from_secs(20))),
        humantime::format_duration(scale.scaled(Duration::from_secs(600))),
        scale.operator_rate_per_minute()
    )
}

/// One table row: label, target, one cell per result.
fn row(out: &mut String, label: &str, target: &str, cells: &[String]) {
    let _ = writeln!(out, "| {label} | {target} | {} |", cells.join(" | "));
}

fn converge_cell(r: &RunResult) -> String {
    let bound = r.scale.converge_bound(r.spec.per_key());
    match r.converge.elapsed {
        Some(e) => {
            let x = ratio(e, bound).unwrap_or(f64::INFINITY);
            format!("{} = {x:.2}× {}", human(e), mark(x <= CONVERGE_TARGET))
        }
        None => format!(
            "not converged in {} ({}/{} Ready) ✗",
            human(r.converge.timeout),
            r.converge.ready,
            r.spec.n
        ),
    }
}

fn last_create_cell(r: &RunResult) -> String {
    let bound = r.scale.converge_bound(r.spec.per_key());
    match r.converge.last_create {
        Some(d) => format!(
            "{} = {:.2}× ({} creates)",
            human(d),
            ratio(d, bound).unwrap_or(f64::INFINITY),
            r.converge.creates
        ),
        None => "no create".into(),
    }
}

fn steady_cells(r: &RunResult) -> (String, String) {
    let bound = steady_call_bound(r.spec.n, r.spec.keys) as f64;
    match &r.steady {
        Some(s) => (
            format!("{:.1} {}", s.per_resync, mark(s.per_resync <= bound)),
            format!(
                "{:.2} {}",
                s.per_quota_window,
                mark(s.per_quota_window <= bound)
            ),
        ),
        None => {
            let why = "— (not converged)".to_string();
            (why.clone(), why)
        }
    }
}

fn latency_cell(r: &RunResult) -> String {
    let Some(l) = &r.latency else {
        return "— (not converged)".into();
    };
    match (percentile(&l.samples, 50.0), percentile(&l.samples, 99.0)) {
        (Some(p50), Some(p99)) => {
            let ok = l.missed == 0 && p99 < LATENCY_TARGET;
            let missed = if l.missed > 0 {
                format!(
                    ", {} without a create in {}",
                    l.missed,
                    human(crate::run::LATENCY_TIMEOUT)
                )
            } else {
                String::new()
            };
            format!(
                "{} / {} (n={}{missed}) {}",
                human(p50),
                human(p99),
                l.samples.len(),
                mark(ok)
            )
        }
        _ => format!("no create seen ({} applies) ✗", l.missed),
    }
}

fn rss_cell(r: &RunResult) -> String {
    let m = mib(r.usage.peak_rss);
    match rss_target_mib(r.spec.n) {
        Some(t) => format!("{m:.1} MiB {}", mark(m <= t)),
        None => format!("{m:.1} MiB"),
    }
}

fn header(out: &mut String, results: &[&RunResult]) {
    let modes: Vec<&str> = results.iter().map(|r| r.spec.mode.as_str()).collect();
    let _ = writeln!(out, "| | target | {} |", modes.join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(results.len()));
}

/// The N section of a full run: every figure, one column per observation mode.
pub fn full_section(ctx: &Context, results: &[&RunResult]) -> String {
    let Some(first) = results.first() else {
        return String::new();
    };
    let n = first.spec.n;
    let keys = first.spec.keys;
    let scale = first.scale;
    let bound = scale.converge_bound(first.spec.per_key());
    let call_bound = steady_call_bound(n, keys);
    let mut out = String::new();
    if keys > 1 {
        let _ = writeln!(
            out,
            "### N = {n} over {keys} API keys\n\n{} objects per key, round robin; each key has its own quota \
             in the simulator and its own budget in the operator, so the quota bound is per key: ⌈N / keys⌉ / \
             quota windows. The simulator puts every key in one organization and project, so each key's \
             refresher lists all N.\n",
            first.spec.per_key()
        );
    } else {
        let _ = writeln!(out, "### N = {n}\n");
    }
    let _ = writeln!(
        out,
        "Measured {} on {} with `{}`; {}. Steady state counted over {} resync periods.\n",
        ctx.date,
        machine_line(&ctx.machine),
        ctx.command,
        scale_line(&scale, ctx),
        ctx.steady_resyncs
    );
    header(&mut out, results);
    let cells = |f: &dyn Fn(&RunResult) -> String| -> Vec<String> {
        results.iter().map(|r| f(r)).collect()
    };
    row(
        &mut out,
        &format!("Time until all {n} are Ready, × quota bound"),
        &format!(
            "≤ {CONVERGE_TARGET}× the bound {} ({} / quota windows)",
            human(bound),
            if keys > 1 { "⌈N / keys⌉" } else { "N" }
        ),
        &cells(&converge_cell),
    );
    row(
        &mut out,
        "Last create call handled (from the first apply)",
        "— (the quota part of the above)",
        &cells(&last_create_cell),
    );
    row(
        &mut out,
        "Cloud API calls until all Ready",
        "—",
        &cells(&|r| r.converge.calls.to_string()),
    );
    let steady: Vec<(String, String)> = results.iter().map(|r| steady_cells(r)).collect();
    row(
        &mut out,
        "Calls per resync at steady state",
        &if keys > 1 {
            format!("≤ keys × ⌈N/100⌉+2 = {call_bound} (every key lists the whole project)")
        } else {
            format!("≤ ⌈N/100⌉+2 = {call_bound}")
        },
        &steady.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
    );
    row(
        &mut out,
        "Calls per quota minute at steady state",
        &format!("≤ {call_bound}"),
        &steady.iter().map(|s| s.1.clone()).collect::<Vec<_>>(),
    );
    row(
        &mut out,
        "429 responses (whole run)",
        "0",
        &cells(&|r| format!("{} {}", r.throttled, mark(r.throttled == 0))),
    );
    row(
        &mut out,
        "Apply → first create call, p50 / p99 (budget free)",
        &format!("p99 < {}", human(LATENCY_TARGET)),
        &cells(&latency_cell),
    );
    row(
        &mut out,
        "Operator peak RSS (VmHWM)",
        &rss_target_mib(n).map_or("—".into(), |t| format!("≤ {t} MiB")),
        &cells(&rss_cell),
    );
    row(
        &mut out,
        "Operator CPU, user + system (whole run)",
        "—",
        &cells(&|r| format!("{:.1} s", r.usage.cpu.as_secs_f64())),
    );
    row(
        &mut out,
        "Operator CPU per 1 000 objects",
        "—",
        &cells(&cpu_per_1000),
    );
    row(
        &mut out,
        "Cloud API calls (whole run)",
        "—",
        &cells(&|r| r.total_calls.to_string()),
    );
    row(
        &mut out,
        "Applying the N objects took",
        "—",
        &cells(&|r| human(r.converge.applied_in)),
    );
    row(&mut out, "Run wall time", "—", &cells(&|r| human(r.wall)));
    out
}

/// The section of a memory-only run.
pub fn memory_section(ctx: &Context, results: &[&RunResult]) -> String {
    let Some(first) = results.first() else {
        return String::new();
    };
    let n = first.spec.n;
    let scale = first.scale;
    let mut out = String::new();
    let _ = writeln!(out, "### N = {n}, memory only\n");
    let _ = writeln!(
        out,
        "Measured {} on {} with `{}`; {}. The quota is lifted for this run ({} per window): it measures the \
         operator's memory with {n} resources, not the rate limit. When not all are Ready by the timeout, the \
         figures are those at that moment (the peak still grows as more clusters become Ready).\n",
        ctx.date,
        machine_line(&ctx.machine),
        ctx.command,
        scale_line(&scale, ctx),
        scale.per_window
    );
    header(&mut out, results);
    let cells = |f: &dyn Fn(&RunResult) -> String| -> Vec<String> {
        results.iter().map(|r| f(r)).collect()
    };
    row(
        &mut out,
        "Operator peak RSS (VmHWM)",
        &rss_target_mib(n).map_or("—".into(), |t| format!("≤ {t} MiB")),
        &cells(&rss_cell),
    );
    row(
        &mut out,
        "Operator RSS at the end",
        "—",
        &cells(&|r| format!("{:.1} MiB", mib(r.usage.rss))),
    );
    row(
        &mut out,
        "Operator CPU, user + system (whole run)",
        "—",
        &cells(&|r| format!("{:.1} s", r.usage.cpu.as_secs_f64())),
    );
    row(
        &mut out,
        "Operator CPU per 1 000 objects",
        "—",
        &cells(&cpu_per_1000),
    );
    row(
        &mut out,
        &format!("Time until all {n} are Ready"),
        "—",
        &cells(&|r| match r.converge.elapsed {
            Some(e) => human(e),
            None => format!(
                "not converged in {} ({}/{} Ready)",
                human(r.converge.timeout),
                r.converge.ready,
                n
            ),
        }),
    );
    row(
        &mut out,
        "Cloud API calls (whole run)",
        "—",
        &cells(&|r| r.total_calls.to_string()),
    );
    row(
        &mut out,
        "Applying the N objects took",
        "—",
        &cells(&|r| human(r.converge.applied_in)),
    );
    row(&mut out, "Run wall time", "—", &cells(&|r| human(r.wall)));
    out
}

/// The sections of a set of results, keyed by marker, in N order (full runs, then memory-only runs).
pub fn sections(ctx: &Context, results: &[RunResult]) -> Vec<(String, String)> {
    let mut groups: Vec<(Kind, usize, usize)> = Vec::new();
    for r in results {
        let g = (r.spec.kind, r.spec.n, r.spec.keys);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    groups.sort_by_key(|(kind, n, keys)| (*kind == Kind::MemoryOnly, *n, *keys));
    groups
        .into_iter()
        .map(|(kind, n, keys)| {
            let mut of: Vec<&RunResult> = results
                .iter()
                .filter(|r| r.spec.kind == kind && r.spec.n == n && r.spec.keys == keys)
                .collect();
            of.sort_by_key(|r| r.spec.mode != Mode::Batched);
            match kind {
                Kind::Full if keys > 1 => (format!("n={n}:keys={keys}"), full_section(ctx, &of)),
                Kind::Full => (format!("n={n}"), full_section(ctx, &of)),
                Kind::MemoryOnly => (format!("memory:n={n}"), memory_section(ctx, &of)),
            }
        })
        .collect()
}

/// The file around the sections, written when BENCHMARKS.md does not exist yet.
pub const SKELETON: &str = "# Benchmarks\n\
\n\
How `clouddb-operator` behaves with many `TidbCloudCluster`s on one TiDB Cloud API key (issue 7): the real \
operator binary (release build) against the TiDB Cloud simulator (`clouddb-sim`) and a real kube-apiserver, \
with N clusters, in both observation modes side by side — `batched` (the default: per API key, a paged list \
at rest and reads by id of only the clusters that are changing) and `naive` (one GET per cluster per poll, what Terraform and Crossplane providers do).\n\
\n\
Reproduce with one command (it builds what it needs; the first run builds the control plane, 6–13 min):\n\
\n\
```sh\n\
scripts/bench.sh --n 100          # one N, both modes (about 7 min once built)\n\
scripts/bench.sh --all            # N = 100 and 1000, then N = 10000 for memory only (about 45 min)\n\
scripts/bench.sh --n 10000 --memory-only\n\
scripts/bench.sh --n 1000 --keys 4 --modes batched   # N spread over 4 API keys (one quota and budget each)\n\
```\n\
\n\
`scripts/bench.sh --help` lists every option. Each run replaces the section of its N below and keeps the others.\n\
\n\
## How to read this\n\
\n\
Every cloud figure comes from the simulator — its request counters (`/_sim/counters`) and its request log \
(one JSON line per request, with the time it was handled) — and every resource figure from the OS \
(`/proc/<pid>/status` `VmHWM`, `/proc/<pid>/stat` `utime + stime` of the operator process); nothing is taken \
from the operator's own logs or metrics. To keep runs short, time is scaled: the simulator's quota window is \
shorter than a minute (a \"quota minute\") and the operator's intervals are shrunk by the same factor, so \
ratios against the bounds are what they would be against the real 100 requests per minute. The **quota \
bound** is the least time N creates can take (N / quota windows); the ratio shows how close the operator \
gets (the default headroom of 0.9 alone makes 1.11× the floor; creating also needs a few reads, the \
simulated create delay and Kubernetes round trips). **Calls per resync** are the calls at rest during one \
`--poll-steady` period, against ⌈N/100⌉ + 2 (one list page per 100 clusters, plus two). **Latency** is from \
just before a server-side apply is sent to the moment the simulator handles that cluster's create, one \
cluster at a time after the steady-state window, when the budget is free. ✓ / ✗ compare with the targets of \
issue 7. The machine is shared and small, so times are noisy (several seconds at N = 100); calls and 429s \
are exact.\n\
\n\
## Results\n";

fn markers(key: &str) -> (String, String) {
    (
        format!("<!-- bench:{key} -->"),
        format!("<!-- /bench:{key} -->"),
    )
}

/// `existing` (or [`SKELETON`]) with each section replaced in place, or appended when new.
pub fn merge(existing: Option<&str>, sections: &[(String, String)]) -> String {
    let mut doc = existing.unwrap_or(SKELETON).to_string();
    for (key, body) in sections {
        let (open, close) = markers(key);
        let block = format!("{open}\n{}\n{close}", body.trim_end());
        let span = doc.find(&open).and_then(|start| {
            doc[start..]
                .find(&close)
                .map(|end| (start, start + end + close.len()))
        });
        match span {
            Some((start, end)) => doc.replace_range(start..end, &block),
            None => {
                if !doc.ends_with('\n') {
                    doc.push('\n');
                }
                doc.push('\n');
                doc.push_str(&block);
                doc.push('\n');
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::Usage;
    use crate::run::{Converge, Latency, RunSpec, Steady};

    fn result(mode: Mode, converged: bool) -> RunResult {
        let scale = Scale {
            per_window: 100,
            window: Duration::from_secs(6),
        };
        RunResult {
            spec: RunSpec {
                n: 100,
                keys: 1,
                mode,
                kind: Kind::Full,
            },
            scale,
            converge: Converge {
                elapsed: converged.then(|| Duration::from_secs(6)),
                timeout: Duration::from_secs(156),
                ready: if converged { 100 } else { 40 },
                applied_in: Duration::from_millis(900),
                last_create: Some(Duration::from_secs(5)),
                creates: 100,
                calls: 230,
            },
            steady: converged.then(|| Steady {
                calls: 2,
                window: Duration::from_secs(120),
                per_quota_window: 0.1,
                per_resync: 1.0,
            }),
            latency: converged.then(|| Latency {
                samples: vec![Duration::from_millis(40), Duration::from_millis(60)],
                missed: 0,
            }),
            throttled: 0,
            total_calls: 260,
            usage: Usage {
                peak_rss: 30 * 1024 * 1024,
                rss: 25 * 1024 * 1024,
                cpu: Duration::from_millis(4500),
            },
            wall: Duration::from_secs(200),
        }
    }

    fn ctx() -> Context {
        Context {
            date: "2026-12-02T01:00:00Z".into(),
            machine: Machine {
                cpus: 2,
                memory_bytes: Some(8 << 30),
                cpu_model: Some("Test CPU".into()),
                kernel: None,
            },
            command: "scripts/bench.sh --n 100".into(),
            delay_create: Duration::from_millis(1500),
            steady_resyncs: 2.0,
        }
    }

    #[test]
    fn a_run_over_several_keys_has_its_own_section_and_a_per_key_bound() {
        let mut r = result(Mode::Batched, true);
        r.spec.n = 400;
        r.spec.keys = 4;
        let sections = sections(&ctx(), &[r, result(Mode::Batched, true)]);
        let keys: Vec<&str> = sections.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["n=100", "n=400:keys=4"]);
        let table = &sections[1].1;
        assert!(table.contains("### N = 400 over 4 API keys"), "{table}");
        // 100 per key: the bound of 100 creates, 6 s.
        assert!(
            table.contains("the bound 6.0 s (⌈N / keys⌉ / quota windows)"),
            "{table}"
        );
        assert!(table.contains("keys × ⌈N/100⌉+2 = 18"), "{table}");
        assert!(
            table.contains("| Operator CPU per 1 000 objects | — |"),
            "{table}"
        );
    }

    #[test]
    fn renders_both_modes_side_by_side_with_marks() {
        let results = [result(Mode::Naive, false), result(Mode::Batched, true)];
        let sections = sections(&ctx(), &results);
        assert_eq!(sections.len(), 1);
        let (key, table) = &sections[0];
        assert_eq!(key, "n=100");
        assert!(table.contains("| | target | batched | naive |"), "{table}");
        assert!(table.contains("6.0 s = 1.00× ✓"), "{table}");
        assert!(
            table.contains("not converged in 2.6 min (40/100 Ready) ✗"),
            "{table}"
        );
        assert!(
            table.contains("≤ ⌈N/100⌉+2 = 3 | 1.0 ✓ | — (not converged) |"),
            "{table}"
        );
        assert!(table.contains("40 ms / 60 ms (n=2) ✓"), "{table}");
        assert!(table.contains("30.0 MiB ✓"), "{table}");
        assert!(table.contains("2 CPUs (Test CPU), 8.0 GiB RAM"), "{table}");
        // Every row has one cell per mode.
        for line in table.lines().filter(|l| l.starts_with("| ")) {
            assert_eq!(line.matches(" | ").count(), 3, "{line}");
        }
    }

    #[test]
    fn merge_replaces_its_own_section_only() {
        let first = merge(
            None,
            &[
                ("n=100".into(), "old hundred".into()),
                ("n=1000".into(), "old thousand".into()),
            ],
        );
        assert!(first.starts_with("# Benchmarks"));
        let second = merge(Some(&first), &[("n=100".into(), "new 100\n".into())]);
        assert!(second.contains("<!-- bench:n=100 -->\nnew 100\n<!-- /bench:n=100 -->"));
        assert!(!second.contains("old hundred"));
        assert!(second.contains("old thousand"));
        assert!(
            second.find("new 100") < second.find("old thousand"),
            "order kept"
        );
        // Idempotent.
        assert_eq!(
            merge(Some(&second), &[("n=100".into(), "new 100".into())]),
            second
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(850)), "850 ms");
        assert_eq!(human(Duration::from_secs_f64(12.34)), "12.3 s");
        assert_eq!(human(Duration::from_secs(270)), "4.5 min");
        assert_eq!(rss_target_mib(1000), Some(50.0));
        assert_eq!(rss_target_mib(10_000), Some(150.0));
    }
}
