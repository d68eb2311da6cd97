//! The per-API-key request budget shared by every controller and client of the process.
//!
//! TiDB Cloud allows 100 requests per minute per API key (reference §8.2) and tells how many are left in
//! `X-Ratelimit-Remaining-Minute` / `X-Ratelimit-Reset`; ClickHouse Cloud allows 10 requests per 10 s per key
//! and sends `X-RateLimit-Reset` (seconds) with a 429 ([`BudgetConfig::per_window`]). Each provider has its
//! own [`BudgetRegistry`]. A [`Budget`] combines two brakes:
//!
//! 1. a local GCRA limiter (the `governor` crate) at `requests_per_minute × headroom` with a small burst, so
//!    that the process alone never exceeds the limit — in any 60 s window at most
//!    `burst + requests_per_minute × headroom` requests leave (5 + 90 = 95 by default);
//! 2. the server's word: when it reports 0 remaining, or answers 429, the key is blocked until the window
//!    resets (plus a little jitter so that waiting workers do not all fire at the same instant). This covers
//!    other users of the same key (a second operator, a person with the CLI).
//!
//! Every exchange with the server takes one permit, including digest challenge round trips.
use crate::metrics::Metrics;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How urgent a request is. When requests queue for the budget, writes go first, then observation of
/// changing objects, then steady-state drift checks; a request that has waited longer than
/// [`MAX_STARVATION`] goes next whatever its priority, so low priorities are delayed, never starved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// A mutation the user asked for (create, update, pause, delete...).
    Write,
    /// Polling a resource that is changing (CREATING, MODIFYING...).
    Transitional,
    /// Periodic drift detection of a resource at rest.
    Steady,
}

/// Budget settings, applied to every key.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetConfig {
    /// The server's limit per key (100 unless support raised it).
    pub requests_per_minute: f64,
    /// Fraction of the limit this process uses (0 < headroom ≤ 1); the rest is left for other users of the
    /// key and for digest challenges.
    pub headroom: f64,
    /// Requests that may leave back to back after a quiet period.
    pub burst: u32,
    /// Upper bound of the random delay added to server-imposed waits.
    pub max_jitter: Duration,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            requests_per_minute: 100.0,
            headroom: 0.9,
            burst: 5,
            max_jitter: Duration::from_millis(500),
        }
    }
}

impl BudgetConfig {
    /// A budget for a server limit of `requests` per `window` (ClickHouse Cloud: 10 per 10 s), with 90%
    /// headroom and a burst of one, so that no `window` ever sees more than `requests` from this process:
    /// with a burst of 1 and a spacing of `window / (requests × 0.9)`, at most `1 + requests × 0.9` leave in
    /// any window.
    pub fn per_window(requests: u32, window: Duration) -> BudgetConfig {
        let secs = window.as_secs_f64().max(0.001);
        BudgetConfig {
            requests_per_minute: f64::from(requests.max(1)) * 60.0 / secs,
            headroom: 0.9,
            burst: 1,
            ..BudgetConfig::default()
        }
    }

    /// Requests per minute the local limiter lets through (at least 0.1).
    pub fn effective_rpm(&self) -> f64 {
        let headroom = if self.headroom.is_finite() && self.headroom > 0.0 {
            self.headroom.min(1.0)
        } else {
            1.0
        };
        let rpm = if self.requests_per_minute.is_finite() {
            self.requests_per_minute
        } else {
            100.0
        };
        (rpm * headroom).clamp(0.1, 1_000_000.0)
    }

    fn quota(&self) -> Quota {
        let period = Duration::from_secs_f64(60.0 / self.effective_rpm());
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        // `with_period` is None only for a zero period, which the clamp above rules out.
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// What the server said about the rate limit in one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerQuota {
    /// `X-Ratelimit-Limit-Minute`.
    pub limit: Option<u32>,
    /// `X-Ratelimit-Remaining-Minute`.
    pub remaining: Option<u32>,
    /// `X-Ratelimit-Reset`: time until the window resets.
    pub reset: Option<Duration>,
}

/// Longest a queued request waits behind higher priorities before it is served anyway.
pub const MAX_STARVATION: Duration = Duration::from_secs(30);

/// Orders waiting requests by priority: one waiter at a time goes to the limiter (the "holder"); when it
/// leaves, the most urgent waiter (or one starved past [`MAX_STARVATION`]) takes its place. Hand-written
/// because governor's waiters are unordered and no maintained crate offers a priority-fair async gate.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    held: bool,
    /// Waiters per priority (index = `Priority as usize`), oldest first.
    queues: [std::collections::VecDeque<Waiter>; 3],
}

struct Waiter {
    since: Instant,
    wake: tokio::sync::oneshot::Sender<()>,
}

/// Holding the gate; dropping it (also on cancellation) hands the gate to the next waiter.
struct GateGuard<'a>(&'a Gate);

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl Gate {
    async fn enter(&self, priority: Priority) -> GateGuard<'_> {
        let rx = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if !st.held {
                st.held = true;
                return GateGuard(self);
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            st.queues[priority as usize].push_back(Waiter {
                since: Instant::now(),
                wake: tx,
            });
            rx
        };
        // The releaser hands the gate over (held stays true) by completing the channel.
        let _ = rx.await;
        GateGuard(self)
    }

    fn release(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let starved = (0..3).rev().find(|&i| {
                st.queues[i]
                    .front()
                    .is_some_and(|w| w.since.elapsed() >= MAX_STARVATION)
            });
            let pick = starved.or_else(|| (0..3).find(|&i| !st.queues[i].is_empty()));
            let Some(i) = pick else {
                st.held = false;
                return;
            };
            let Some(w) = st.queues[i].pop_front() else {
                continue;
            };
            // A waiter whose future was dropped cannot take the gate: try the next one.
            if w.wake.send(()).is_ok() {
                return;
            }
        }
    }
}

/// The budget of one API key.
pub struct Budget {
    key_id: String,
    gate: Gate,
    limiter: DefaultDirectRateLimiter,
    blocked_until: Mutex<Option<Instant>>,
    max_jitter: Duration,
    metrics: Metrics,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("key_id", &self.key_id)
            .field("blocked_for", &self.blocked_for())
            .finish_non_exhaustive()
    }
}

impl Budget {
    fn new(key_id: &str, config: &BudgetConfig, metrics: Metrics) -> Budget {
        Budget {
            key_id: key_id.to_string(),
            gate: Gate::default(),
            limiter: RateLimiter::direct(config.quota()),
            blocked_until: Mutex::new(None),
            max_jitter: config.max_jitter,
            metrics,
        }
    }

    /// The public key id this budget belongs to.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Waits until one request may be sent, and returns how long it waited. Waits are counted in
    /// `clouddb_rate_limit_waits_total` / `clouddb_rate_limit_wait_seconds_total`.
    pub async fn acquire(&self, priority: Priority) -> Duration {
        let start = Instant::now();
        // One waiter at a time meets the limiter, in priority order.
        let _turn = self.gate.enter(priority).await;
        self.wait_unblocked().await;
        self.limiter.until_ready().await;
        // The server may have blocked the key while this request waited for the local limiter.
        self.wait_unblocked().await;
        let waited = start.elapsed();
        if waited >= Duration::from_millis(1) {
            self.metrics.record_rate_limit_wait(&self.key_id, waited);
            tracing::debug!(key_id = %self.key_id, waited_ms = waited.as_millis() as u64, "waited for API budget");
        }
        waited
    }

    async fn wait_unblocked(&self) {
        while let Some(d) = self.blocked_for() {
            tokio::time::sleep(d).await;
        }
    }

    /// How long the key stays blocked by the server's word, if it is. A reconciler may requeue for this
    /// long instead of holding a worker in [`Budget::acquire`].
    pub fn blocked_for(&self) -> Option<Duration> {
        let guard = self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    /// Blocks the key for `d` plus jitter (never shortens an existing block).
    pub fn block_for(&self, d: Duration) {
        let jitter = if self.max_jitter.is_zero() {
            Duration::ZERO
        } else {
            use rand::Rng;
            let max = u64::try_from(self.max_jitter.as_millis()).unwrap_or(u64::MAX);
            Duration::from_millis(rand::rng().random_range(0..=max))
        };
        let until = Instant::now() + d + jitter;
        let mut guard = self.blocked_until.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none_or(|cur| cur < until) {
            *guard = Some(until);
        }
        tracing::debug!(key_id = %self.key_id, block_ms = (d + jitter).as_millis() as u64, "API key blocked until the rate-limit window resets");
    }

    /// Takes in the rate-limit headers of a response: records the remaining count and blocks the key when
    /// the window is spent.
    pub fn observe(&self, quota: ServerQuota) {
        if let Some(remaining) = quota.remaining {
            self.metrics
                .set_budget_remaining(&self.key_id, i64::from(remaining));
            if remaining == 0 {
                self.block_for(quota.reset.unwrap_or(Duration::from_secs(60)));
            }
        }
    }

    /// The server answered 429: block the key for `retry_after`.
    pub fn throttled(&self, retry_after: Duration) {
        self.metrics.set_budget_remaining(&self.key_id, 0);
        self.block_for(retry_after);
    }
}

struct RegistryInner {
    config: BudgetConfig,
    metrics: Metrics,
    budgets: Mutex<HashMap<String, Arc<Budget>>>,
}

/// All budgets of the process, one per public key id. Clone it freely: clones share the budgets.
#[derive(Clone)]
pub struct BudgetRegistry {
    inner: Arc<RegistryInner>,
}

impl std::fmt::Debug for BudgetRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetRegistry")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Default for BudgetRegistry {
    fn default() -> Self {
        Self::new(BudgetConfig::default(), Metrics::default())
    }
}

impl BudgetRegistry {
    pub fn new(config: BudgetConfig, metrics: Metrics) -> BudgetRegistry {
        BudgetRegistry {
            inner: Arc::new(RegistryInner {
                config,
                metrics,
                budgets: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The budget of `key_id` (the public key), created on first use.
    pub fn budget_for(&self, key_id: &str) -> Arc<Budget> {
        let mut budgets = self.inner.budgets.lock().unwrap_or_else(|p| p.into_inner());
        budgets
            .entry(key_id.to_string())
            .or_insert_with(|| {
                Arc::new(Budget::new(
                    key_id,
                    &self.inner.config,
                    self.inner.metrics.clone(),
                ))
            })
            .clone()
    }

    pub fn config(&self) -> &BudgetConfig {
        &self.inner.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_overtake_queued_drift_checks() {
        let registry = BudgetRegistry::new(fast(600.0, 1), Metrics::default());
        let budget = registry.budget_for("k");
        budget.acquire(Priority::Steady).await; // spends the burst: the next permits come every 100 ms
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..3 {
            let (b, o) = (budget.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                b.acquire(Priority::Steady).await;
                o.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("steady{i}"));
            }));
            tokio::task::yield_now().await;
        }
        // Let all three queue up behind the limiter.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (b, o) = (budget.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            b.acquire(Priority::Write).await;
            o.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push("write".to_string());
        }));
        for t in tasks {
            t.await.expect("task");
        }
        let order = order.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let pos = order
            .iter()
            .position(|x| x == "write")
            .expect("write served");
        // At most the one drift check already at the limiter goes before the write.
        assert!(pos <= 1, "write served at position {pos}: {order:?}");
    }

    #[tokio::test]
    async fn one_keys_queue_never_delays_another_key() {
        // Key A: blocked by the server for a minute, with waiters queued at its gate and limiter.
        let registry = BudgetRegistry::new(fast(600.0, 2), Metrics::default());
        let a = registry.budget_for("A");
        a.acquire(Priority::Write).await;
        a.throttled(Duration::from_secs(60));
        let mut waiting = Vec::new();
        for _ in 0..8 {
            let a = a.clone();
            waiting.push(tokio::spawn(
                async move { a.acquire(Priority::Write).await },
            ));
        }
        tokio::task::yield_now().await;
        // Key B has a budget of its own: its first permits go at once, whatever A's queue.
        let b = registry.budget_for("B");
        for priority in [Priority::Steady, Priority::Write] {
            let waited = tokio::time::timeout(Duration::from_secs(5), b.acquire(priority))
                .await
                .expect("B is not queued behind A");
            assert!(waited < Duration::from_secs(1), "{waited:?}");
        }
        assert!(waiting.iter().all(|t| !t.is_finished()), "A still blocked");
        for t in waiting {
            t.abort();
        }
    }

    #[tokio::test]
    async fn a_dropped_waiter_does_not_block_the_gate() {
        let registry = BudgetRegistry::new(fast(600.0, 1), Metrics::default());
        let budget = registry.budget_for("k");
        budget.acquire(Priority::Write).await;
        let b = budget.clone();
        let waiting = tokio::spawn(async move { b.acquire(Priority::Steady).await });
        tokio::task::yield_now().await;
        waiting.abort();
        let _ = waiting.await;
        // Still usable afterwards.
        tokio::time::timeout(Duration::from_secs(2), budget.acquire(Priority::Write))
            .await
            .expect("gate free");
    }

    fn fast(rpm: f64, burst: u32) -> BudgetConfig {
        BudgetConfig {
            requests_per_minute: rpm,
            headroom: 1.0,
            burst,
            max_jitter: Duration::ZERO,
        }
    }

    #[test]
    fn effective_rate_applies_headroom_and_rejects_nonsense() {
        assert!((BudgetConfig::default().effective_rpm() - 90.0).abs() < 1e-9);
        let mut c = BudgetConfig {
            headroom: -1.0,
            ..Default::default()
        };
        assert!((c.effective_rpm() - 100.0).abs() < 1e-9);
        c.requests_per_minute = 0.0;
        assert!((c.effective_rpm() - 0.1).abs() < 1e-9);
        c.requests_per_minute = f64::NAN;
        assert!(c.effective_rpm() > 0.0);
    }

    #[test]
    fn a_ten_per_ten_seconds_window_never_admits_more_than_ten() {
        let c = BudgetConfig::per_window(10, Duration::from_secs(10));
        assert_eq!(c.burst, 1);
        // burst + 10 s × rate
        let most = f64::from(c.burst) + c.effective_rpm() / 6.0;
        assert!(most <= 10.0 + 1e-9, "{most}");
    }

    #[test]
    fn the_same_key_shares_one_budget() {
        let r = BudgetRegistry::default();
        let a = r.budget_for("KEY1");
        let b = r.clone().budget_for("KEY1");
        let c = r.budget_for("KEY2");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.key_id(), "KEY2");
    }

    #[tokio::test]
    async fn the_local_limiter_spaces_requests_after_the_burst() {
        // 1200/min = one every 50 ms, burst 2.
        let r = BudgetRegistry::new(fast(1200.0, 2), Metrics::default());
        let b = r.budget_for("K");
        let start = Instant::now();
        for _ in 0..4 {
            b.acquire(Priority::Steady).await;
        }
        // Two free, then two spaced by 50 ms each.
        assert!(
            start.elapsed() >= Duration::from_millis(90),
            "{:?}",
            start.elapsed()
        );
        assert!(
            r.metrics()
                .encode()
                .contains(r#"clouddb_rate_limit_waits_total{key_id="K"}"#)
        );
    }

    #[tokio::test]
    async fn a_spent_window_blocks_the_key_until_reset() {
        let r = BudgetRegistry::new(fast(6000.0, 10), Metrics::default());
        let b = r.budget_for("K");
        b.observe(ServerQuota {
            limit: Some(100),
            remaining: Some(3),
            reset: Some(Duration::from_secs(30)),
        });
        assert_eq!(b.blocked_for(), None);
        b.observe(ServerQuota {
            limit: Some(100),
            remaining: Some(0),
            reset: Some(Duration::from_millis(200)),
        });
        assert!(b.blocked_for().is_some());
        let waited = b.acquire(Priority::Write).await;
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert_eq!(b.blocked_for(), None);
        // A 429 blocks as well, and a shorter block never shortens a longer one.
        b.throttled(Duration::from_secs(60));
        b.block_for(Duration::from_millis(1));
        assert!(b.blocked_for().is_some_and(|d| d > Duration::from_secs(50)));
        assert!(
            r.metrics()
                .encode()
                .contains(r#"clouddb_budget_remaining{key_id="K"} 0"#)
        );
    }
}
