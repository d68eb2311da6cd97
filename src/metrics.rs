//! Prometheus metrics (prometheus-client), shared by the controllers, the cloud clients and the budgets.
//!
//! [`Metrics`] is cheap to clone (an `Arc` inside) and owns the registry; `/metrics` serves
//! [`Metrics::encode`]. Label values are identifiers only: kinds, categories, templated routes, HTTP
//! statuses and *public* API key ids — never private keys, object names from user input or bodies.
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    kind: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: String,
    category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    provider: String,
    key_id: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    provider: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    key_id: String,
}

fn request_duration_histogram() -> Histogram {
    // 5 ms .. ~40 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

struct Inner {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    cloud_requests: Family<RequestLabels, Counter>,
    cloud_request_duration: Family<DurationLabels, Histogram, fn() -> Histogram>,
    rate_limit_waits: Family<KeyLabels, Counter>,
    rate_limit_wait_seconds: Family<KeyLabels, Counter<f64, AtomicU64>>,
    budget_remaining: Family<KeyLabels, Gauge>,
}

/// The operator's metrics. `Metrics::default()` gives a fresh, independent registry (what tests want).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("clouddb");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciliations by kind and result",
            reconciles.clone(),
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciliations by kind and error category",
            reconcile_errors.clone(),
        );
        let cloud_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "cloud_requests",
            "Cloud API HTTP exchanges by provider, public key id, templated route and status \
             (status \"transport\" when no answer arrived)",
            cloud_requests.clone(),
        );
        let cloud_request_duration: Family<DurationLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(request_duration_histogram);
        registry.register(
            "cloud_request_duration_seconds",
            "Cloud API HTTP exchange duration by provider and templated route",
            cloud_request_duration.clone(),
        );
        let rate_limit_waits = Family::<KeyLabels, Counter>::default();
        registry.register(
            "rate_limit_waits",
            "Requests that waited for the per-key API budget",
            rate_limit_waits.clone(),
        );
        let rate_limit_wait_seconds = Family::<KeyLabels, Counter<f64, AtomicU64>>::default();
        registry.register(
            "rate_limit_wait_seconds",
            "Time spent waiting for the per-key API budget",
            rate_limit_wait_seconds.clone(),
        );
        let budget_remaining = Family::<KeyLabels, Gauge>::default();
        registry.register(
            "budget_remaining",
            "Requests left in the current rate-limit window, as last reported by the server",
            budget_remaining.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                reconciles,
                reconcile_errors,
                cloud_requests,
                cloud_request_duration,
                rate_limit_waits,
                rate_limit_wait_seconds,
                budget_remaining,
            }),
        }
    }

    /// One reconciliation of `kind` ended with `result` (e.g. "ok", "requeue", "error").
    pub fn record_reconcile(&self, kind: &str, result: &str) {
        self.inner
            .reconciles
            .get_or_create(&ReconcileLabels {
                kind: kind.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    /// A reconciliation of `kind` failed with an error of `category` (e.g. [`crate::cloud::CloudError::category`]).
    pub fn record_reconcile_error(&self, kind: &str, category: &str) {
        self.inner
            .reconcile_errors
            .get_or_create(&ErrorLabels {
                kind: kind.to_string(),
                category: category.to_string(),
            })
            .inc();
    }

    /// One HTTP exchange with a cloud API. `route` is the templated route (`GET /clusters/{clusterId}`),
    /// `status` the HTTP status or `None` when no answer arrived.
    pub fn record_cloud_request(
        &self,
        provider: &str,
        key_id: &str,
        route: &str,
        status: Option<u16>,
        elapsed: Duration,
    ) {
        self.inner
            .cloud_requests
            .get_or_create(&RequestLabels {
                provider: provider.to_string(),
                key_id: key_id.to_string(),
                route: route.to_string(),
                status: status.map_or_else(|| "transport".to_string(), |s| s.to_string()),
            })
            .inc();
        self.inner
            .cloud_request_duration
            .get_or_create(&DurationLabels {
                provider: provider.to_string(),
                route: route.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A request waited `waited` for the budget of `key_id`.
    pub fn record_rate_limit_wait(&self, key_id: &str, waited: Duration) {
        let labels = KeyLabels {
            key_id: key_id.to_string(),
        };
        self.inner.rate_limit_waits.get_or_create(&labels).inc();
        self.inner
            .rate_limit_wait_seconds
            .get_or_create(&labels)
            .inc_by(waited.as_secs_f64());
    }

    /// The server reported `remaining` requests left in the window of `key_id`.
    pub fn set_budget_remaining(&self, key_id: &str, remaining: i64) {
        self.inner
            .budget_remaining
            .get_or_create(&KeyLabels {
                key_id: key_id.to_string(),
            })
            .set(remaining);
    }

    /// The registry in the Prometheus/OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an encoding error would only come from a broken label encoder.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_appear_in_the_text_format() {
        let m = Metrics::default();
        m.record_reconcile("TidbCloudCluster", "ok");
        m.record_reconcile_error("TidbCloudCluster", "Throttled");
        m.record_cloud_request(
            "tidbcloud",
            "PUBKEY",
            "GET /clusters/{clusterId}",
            Some(200),
            Duration::from_millis(12),
        );
        m.record_cloud_request(
            "tidbcloud",
            "PUBKEY",
            "POST /clusters",
            None,
            Duration::from_millis(12),
        );
        m.record_rate_limit_wait("PUBKEY", Duration::from_millis(1500));
        m.set_budget_remaining("PUBKEY", 42);
        let text = m.encode();
        for needle in [
            r#"clouddb_reconciles_total{kind="TidbCloudCluster",result="ok"} 1"#,
            r#"clouddb_reconcile_errors_total{kind="TidbCloudCluster",category="Throttled"} 1"#,
            r#"clouddb_cloud_requests_total{provider="tidbcloud",key_id="PUBKEY",route="GET /clusters/{clusterId}",status="200"} 1"#,
            r#"status="transport""#,
            r#"clouddb_rate_limit_waits_total{key_id="PUBKEY"} 1"#,
            r#"clouddb_rate_limit_wait_seconds_total{key_id="PUBKEY"} 1.5"#,
            r#"clouddb_budget_remaining{key_id="PUBKEY"} 42"#,
            "clouddb_cloud_request_duration_seconds_bucket",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        // Separate instances do not share state.
        assert!(!Metrics::default().encode().contains("PUBKEY"));
    }
}
