//! The pure arithmetic of the benchmark: time scaling, the bounds of issue 7, percentiles.

use std::time::Duration;

/// The simulator's quota: `per_window` requests per API key in each `window` (the real service: 100 per
/// 60 s). The benchmark shrinks the window to keep runs short and scales every operator interval by the same
/// factor, so that ratios against the bounds stay what they would be with the real quota.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub per_window: u32,
    pub window: Duration,
}

/// The real quota minute.
const REAL_WINDOW: Duration = Duration::from_secs(60);

impl Scale {
    /// How much shorter than a real minute the quota window is (0.1 for a 6 s window).
    pub fn factor(&self) -> f64 {
        self.window.as_secs_f64() / REAL_WINDOW.as_secs_f64()
    }

    /// A real-world interval of the operator (poll, backoff), shrunk like the quota minute.
    pub fn scaled(&self, real: Duration) -> Duration {
        let nanos = real.as_nanos() * self.window.as_nanos() / REAL_WINDOW.as_nanos();
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The operator's `--rate-limit-per-minute` that matches the simulator's quota (per real minute).
    pub fn operator_rate_per_minute(&self) -> u32 {
        let rpm = f64::from(self.per_window) / self.factor();
        // Saturating float-to-int conversion; at least 1.
        (rpm.round() as u32).max(1)
    }

    /// The quota bound for `n` creates: `n` calls cannot take less than `n / quota` windows.
    pub fn converge_bound(&self, n: usize) -> Duration {
        self.window
            .mul_f64(n as f64 / f64::from(self.per_window.max(1)))
    }

    /// `elapsed` in quota windows ("quota minutes").
    pub fn windows(&self, elapsed: Duration) -> f64 {
        elapsed.as_secs_f64() / self.window.as_secs_f64()
    }
}

/// Issue 7's bound on steady-state calls per resync (and per quota minute): one list page per 100 clusters plus
/// two. Over `keys` API keys each key lists what it can see: in the simulator every key belongs to the one
/// organization and its default project, so each key's list covers all N clusters (one refresher per key and
/// project, each on its own budget).
pub fn steady_call_bound(n: usize, keys: usize) -> usize {
    n.div_ceil(100) * keys.max(1) + 2
}

/// Clusters per key when `n` are spread over `keys` API keys (the most any key has).
pub fn per_key(n: usize, keys: usize) -> usize {
    n.div_ceil(keys.max(1))
}

/// The `p`-th percentile (0 ≤ p ≤ 100) of `samples` by the nearest-rank method; `None` when empty.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let p = p.clamp(0.0, 100.0);
    // Nearest rank: the smallest value with at least p % of the samples at or below it.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted.get(index).copied()
}

/// `value / bound`, or `None` when the bound is zero.
pub fn ratio(value: Duration, bound: Duration) -> Option<f64> {
    (!bound.is_zero()).then(|| value.as_secs_f64() / bound.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).rev().map(ms).collect();
        assert_eq!(percentile(&samples, 50.0), Some(ms(50)));
        assert_eq!(percentile(&samples, 99.0), Some(ms(99)));
        assert_eq!(percentile(&samples, 100.0), Some(ms(100)));
        assert_eq!(percentile(&samples, 0.0), Some(ms(1)));
        // Few samples: p99 is the largest.
        assert_eq!(percentile(&[ms(3), ms(1), ms(2)], 99.0), Some(ms(3)));
        assert_eq!(percentile(&[ms(7)], 50.0), Some(ms(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn bounds_of_issue_7() {
        assert_eq!(steady_call_bound(1, 1), 3);
        assert_eq!(steady_call_bound(100, 1), 3);
        assert_eq!(steady_call_bound(101, 1), 4);
        assert_eq!(steady_call_bound(1000, 1), 12);
        assert_eq!(steady_call_bound(10_000, 1), 102);
        // 1000 over 4 keys, each key seeing the whole project: 10 pages per key.
        assert_eq!(steady_call_bound(1000, 4), 42);
        assert_eq!(per_key(1000, 4), 250);
        assert_eq!(per_key(1001, 4), 251);

        let real = Scale {
            per_window: 100,
            window: Duration::from_secs(60),
        };
        assert_eq!(real.converge_bound(1000), Duration::from_secs(600));
        assert_eq!(real.operator_rate_per_minute(), 100);

        let scaled = Scale {
            per_window: 100,
            window: Duration::from_secs(6),
        };
        assert_eq!(scaled.converge_bound(100), Duration::from_secs(6));
        assert_eq!(scaled.converge_bound(1000), Duration::from_secs(60));
        assert_eq!(scaled.operator_rate_per_minute(), 1000);
        assert_eq!(
            scaled.scaled(Duration::from_secs(600)),
            Duration::from_secs(60)
        );
        assert!((scaled.windows(Duration::from_secs(15)) - 2.5).abs() < 1e-9);
        assert_eq!(
            ratio(Duration::from_secs(9), Duration::from_secs(6)),
            Some(1.5)
        );
        assert_eq!(ratio(Duration::from_secs(9), Duration::ZERO), None);
    }
}
