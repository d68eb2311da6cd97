//! Per-key request quotas, counted in fixed windows like the gateway's per-minute counter.
use crate::config::QuotaConfig;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The rate-limit state reported in the `X-Ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaState {
    pub limit: u32,
    pub remaining: u32,
    /// Whole seconds until the window resets (at least 1 while the window is open).
    pub reset_secs: u64,
    pub allowed: bool,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    used: u32,
}

#[derive(Debug)]
pub struct Quotas {
    config: QuotaConfig,
    windows: HashMap<String, Window>,
}

impl Quotas {
    pub fn new(config: QuotaConfig) -> Quotas {
        Quotas {
            config,
            windows: HashMap::new(),
        }
    }

    /// Requests allowed per window.
    pub fn limit(&self) -> u32 {
        self.config.limit
    }

    pub fn reset(&mut self) {
        self.windows.clear();
    }

    fn window(&mut self, key: &str, now: Instant) -> &mut Window {
        let len = self.config.window;
        let w = self.windows.entry(key.to_string()).or_insert(Window {
            start: now,
            used: 0,
        });
        if now.duration_since(w.start) >= len {
            // Windows stay aligned to the first request of the key, as fixed counters are.
            let elapsed = now.duration_since(w.start).as_nanos() / len.as_nanos().max(1);
            w.start += len * (elapsed as u32);
            w.used = 0;
        }
        w
    }

    fn state(&self, w_start: Instant, used: u32, now: Instant, allowed: bool) -> QuotaState {
        let left = (w_start + self.config.window).saturating_duration_since(now);
        QuotaState {
            limit: self.config.limit,
            remaining: self.config.limit.saturating_sub(used),
            reset_secs: ceil_secs(left).max(1),
            allowed,
        }
    }

    /// Counts one request of `key` and says whether it is within the quota.
    pub fn take(&mut self, key: &str, now: Instant) -> QuotaState {
        let limit = self.config.limit;
        let w = self.window(key, now);
        let allowed = w.used < limit;
        if allowed {
            w.used += 1;
        }
        let (start, used) = (w.start, w.used);
        self.state(start, used, now, allowed)
    }

    /// Spends the rest of the window (a forced 429 looks exactly like an exhausted quota).
    pub fn exhaust(&mut self, key: &str, now: Instant) -> QuotaState {
        let limit = self.config.limit;
        let w = self.window(key, now);
        w.used = limit;
        let start = w.start;
        self.state(start, limit, now, false)
    }

    /// The current state without counting a request.
    pub fn peek(&mut self, key: &str, now: Instant) -> QuotaState {
        let w = self.window(key, now);
        let (start, used) = (w.start, w.used);
        self.state(start, used, now, true)
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_runs_out_and_resets_after_the_window() {
        let mut q = Quotas::new(QuotaConfig {
            limit: 3,
            window: Duration::from_secs(60),
        });
        let t0 = Instant::now();
        for i in 0..3 {
            let s = q.take("k", t0);
            assert!(s.allowed);
            assert_eq!(s.remaining, 2 - i);
        }
        let s = q.take("k", t0 + Duration::from_secs(10));
        assert!(!s.allowed);
        assert_eq!(s.remaining, 0);
        assert_eq!(s.reset_secs, 50);
        assert!(q.take("other", t0).allowed, "keys have separate quotas");
        let s = q.take("k", t0 + Duration::from_secs(61));
        assert!(s.allowed);
        assert_eq!(s.remaining, 2);
        assert_eq!(s.reset_secs, 59);
    }
}
