//! Per-object exponential backoff with jitter for transient failures (5xx, timeouts, resets).
//! kube-runtime's controller has no per-object backoff, so the state lives in the controller context.
//! The delay schedule comes from the `backon` crate (exponential, full jitter); this module only keeps one
//! attempt counter per object.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

#[derive(Debug)]
pub struct PerObjectBackoff {
    builder: ExponentialBuilder,
    attempts: Mutex<HashMap<String, usize>>,
}

impl PerObjectBackoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let builder = ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        PerObjectBackoff {
            builder,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Delay before the next attempt for `key`; each call moves one step further.
    pub fn next(&self, key: &str) -> Duration {
        let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let n = attempts.entry(key.to_string()).or_insert(0);
        *n += 1;
        // The builder yields the n-th delay when iterated n times; n is bounded by max delay saturation.
        let steps = (*n).min(32);
        self.builder
            .build()
            .take(steps)
            .last()
            .unwrap_or(Duration::from_secs(1))
    }

    /// Forget the failures of `key` after a success.
    pub fn reset(&self, key: &str) {
        self.attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_is_capped_then_resets() {
        let b = PerObjectBackoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut max_seen = Duration::ZERO;
        for _ in 0..20 {
            let d = b.next("a");
            assert!(
                d <= Duration::from_secs(4),
                "jitter adds at most one delay: {d:?}"
            );
            max_seen = max_seen.max(d);
        }
        assert!(max_seen >= Duration::from_secs(2));
        b.reset("a");
        assert!(b.next("a") <= Duration::from_millis(200));
        // Other keys are independent.
        assert!(b.next("b") <= Duration::from_millis(200));
    }
}
