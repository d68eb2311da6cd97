//! Operator settings (clap + env). Every flag has an environment variable so a Deployment can set it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `clouddb-operator run` settings.
#[derive(clap::Args, Clone, Debug)]
pub struct RunConfig {
    /// Default credentials Secret, `namespace/name` (keys `publicKey`, `privateKey`), used by resources without
    /// `spec.credentials`. A bare `name` means the operator's own namespace (`--operator-namespace`).
    #[arg(
        long,
        env = "CLOUDDB_DEFAULT_CREDENTIALS",
        default_value = "tidbcloud-credentials"
    )]
    pub default_credentials: String,

    /// Default ClickHouse Cloud credentials Secret, `namespace/name` (keys `keyId`, `keySecret`,
    /// `organizationId`), used by ClickHouseServices without `spec.credentials`. A bare `name` means the
    /// operator's own namespace.
    #[arg(
        long,
        env = "CLOUDDB_DEFAULT_CLICKHOUSE_CREDENTIALS",
        default_value = "clickhouse-credentials"
    )]
    pub default_clickhouse_credentials: String,

    /// ClickHouse Cloud API base URL (including `/v1`).
    #[arg(
        long,
        env = "CLOUDDB_CLICKHOUSE_API_URL",
        default_value = "https://api.clickhouse.cloud/v1"
    )]
    pub clickhouse_api_url: String,

    /// ClickHouse Cloud's request quota per API key and 10 seconds (10 unless support raised it). One budget
    /// per key is shared by every ClickHouseService.
    #[arg(
        long,
        env = "CLOUDDB_CLICKHOUSE_RATE_LIMIT_PER_10S",
        default_value_t = 10
    )]
    pub clickhouse_rate_limit_per_10s: u32,

    /// The namespace the operator runs in (for the default credentials Secret).
    #[arg(
        long,
        env = "CLOUDDB_OPERATOR_NAMESPACE",
        default_value = "clouddb-system"
    )]
    pub operator_namespace: String,

    /// Namespaces to watch, comma-separated; empty means all namespaces.
    #[arg(
        long,
        env = "CLOUDDB_WATCH_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub watch_namespaces: Vec<String>,

    /// TiDB Cloud Dedicated API base URL.
    #[arg(
        long,
        env = "CLOUDDB_TIDBCLOUD_API_URL",
        default_value = "https://dedicated.tidbapi.com/v1beta1"
    )]
    pub tidbcloud_api_url: String,

    /// TiDB Cloud IAM API base URL.
    #[arg(
        long,
        env = "CLOUDDB_TIDBCLOUD_IAM_URL",
        default_value = "https://iam.tidbapi.com/v1beta1"
    )]
    pub tidbcloud_iam_url: String,

    /// TiDB Cloud Serverless (Starter / Essential) API base URL: TidbCloudServerlessClusters. Same API keys and
    /// per-key budget as the Dedicated API.
    #[arg(
        long,
        env = "CLOUDDB_TIDBCLOUD_SERVERLESS_URL",
        default_value = "https://serverless.tidbapi.com/v1beta1"
    )]
    pub tidbcloud_serverless_url: String,

    /// Extra CA bundle (PEM) trusted for cloud API calls, in addition to the system roots.
    #[arg(long, env = "CLOUDDB_EXTRA_CA_FILE")]
    pub extra_ca_file: Option<PathBuf>,

    /// The provider's request quota per API key and minute (TiDB Cloud: 100 unless support raised it). One
    /// budget per key is shared by every controller.
    #[arg(long, env = "CLOUDDB_RATE_LIMIT_PER_MINUTE", default_value_t = 100)]
    pub rate_limit_per_minute: u32,

    /// Fraction of the quota the operator uses (0 < f ≤ 1); the rest is left for other users of the key.
    #[arg(long, env = "CLOUDDB_RATE_LIMIT_HEADROOM", default_value_t = 0.9)]
    pub rate_limit_headroom: f64,

    /// Poll interval while a cloud object is changing (creating, scaling, pausing...).
    #[arg(long, env = "CLOUDDB_POLL_TRANSITIONAL", default_value = "20s", value_parser = humantime::parse_duration)]
    pub poll_transitional: Duration,

    /// Poll interval for drift detection once converged.
    #[arg(long, env = "CLOUDDB_POLL_STEADY", default_value = "10m", value_parser = humantime::parse_duration)]
    pub poll_steady: Duration,

    /// How clusters are observed: `batched` (one paged list per API key and project refreshes every
    /// object; GET only right after a write or for an unknown id) or `naive` (one GET per object per poll,
    /// for comparison in benchmarks).
    #[arg(
        long,
        env = "CLOUDDB_OBSERVATION",
        value_enum,
        default_value = "batched"
    )]
    pub observation: crate::providers::tidbcloud::observe::ObservationMode,

    /// Retry interval after the cloud rejected the credentials (a change to the Secret retries at once).
    #[arg(long, env = "CLOUDDB_POLL_CREDENTIALS", default_value = "5m", value_parser = humantime::parse_duration)]
    pub poll_credentials: Duration,

    /// Maximum per-object backoff after transient errors (5xx, timeouts); starts at 1s and doubles, with jitter.
    #[arg(long, env = "CLOUDDB_MAX_BACKOFF", default_value = "5m", value_parser = humantime::parse_duration)]
    pub max_backoff: Duration,

    /// How long a cached region / node-spec catalogue is trusted.
    #[arg(long, env = "CLOUDDB_CATALOG_TTL", default_value = "6h", value_parser = humantime::parse_duration)]
    pub catalog_ttl: Duration,

    /// Timeout of one cloud API request.
    #[arg(long, env = "CLOUDDB_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Concurrent reconciles per controller.
    #[arg(long, env = "CLOUDDB_CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,

    /// Address of the /metrics, /healthz and /readyz endpoints.
    #[arg(long, env = "CLOUDDB_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Log format: `text` or `json`.
    #[arg(long, env = "CLOUDDB_LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// OTLP/HTTP endpoint to export traces to, e.g. `http://otel-collector:4318` (spans go to
    /// `<endpoint>/v1/traces`): one span per reconcile with child spans per cloud call and Kubernetes write.
    /// Unset: no trace export.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Leader election (`--leader-election*`, see `crate::leader`).
    #[command(flatten)]
    pub leader_election: crate::leader::LeaderElectionConfig,
}

impl RunConfig {
    /// `(namespace, name)` of the default credentials Secret.
    pub fn default_credentials_ref(&self) -> (String, String) {
        split_ref(&self.default_credentials, &self.operator_namespace)
    }

    /// `(namespace, name)` of the default ClickHouse credentials Secret.
    pub fn default_clickhouse_credentials_ref(&self) -> (String, String) {
        split_ref(
            &self.default_clickhouse_credentials,
            &self.operator_namespace,
        )
    }

    /// Watched namespaces with empty entries removed; empty = all.
    pub fn namespaces(&self) -> Vec<String> {
        self.watch_namespaces
            .iter()
            .filter(|n| !n.trim().is_empty())
            .map(|n| n.trim().to_string())
            .collect()
    }
}

/// `namespace/name`, or a bare `name` in `default_ns`.
fn split_ref(value: &str, default_ns: &str) -> (String, String) {
    match value.split_once('/') {
        Some((ns, name)) => (ns.to_string(), name.to_string()),
        None => (default_ns.to_string(), value.to_string()),
    }
}
