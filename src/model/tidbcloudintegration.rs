//! What the TidbCloudIntegration decide step reads: an integration reduced to what decisions need.

/// What the cloud says about an integration, reduced to what decisions need.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ObservedIntegration {
    pub id: String,
    /// `DATADOG`, `NEWRELIC`, `PROMETHEUS`.
    pub integration_type: String,
    /// Vendor types only.
    pub site: Option<String>,
    /// `ACTIVE`, `ERROR`, `NONE` (vendor types); `ACTIVE` for Prometheus.
    pub state: String,
    pub status_reason: Option<String>,
    pub create_time: String,
    pub creator: String,
}
