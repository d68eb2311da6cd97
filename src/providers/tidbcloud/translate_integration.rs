//! Translation between the `TidbCloudIntegration` spec/status and the Dedicated v1beta1 integration wire
//! models. Pure.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::models::{CreateIntegrationRequest, Integration, IntegrationState};
use crate::api::tidbcloudintegration::{IntegrationType, TidbCloudIntegrationStatus};
use crate::model::tidbcloudintegration::ObservedIntegration;

/// State reported for a Prometheus integration that exists (the service reports none for it).
pub const PROMETHEUS_STATE: &str = "ACTIVE";

/// `POST /clusters/{clusterId}/integrations` body. `vendor` is the site and API key of a Datadog or New Relic
/// integration (ignored for Prometheus); `None` when a vendor type lacks them.
pub fn create_request(
    integration_type: IntegrationType,
    vendor: Option<(&str, SecretString)>,
) -> Option<CreateIntegrationRequest> {
    match (integration_type, vendor) {
        (IntegrationType::Datadog, Some((site, key))) => {
            Some(CreateIntegrationRequest::datadog(key, site.to_string()))
        }
        (IntegrationType::NewRelic, Some((site, key))) => {
            Some(CreateIntegrationRequest::newrelic(key, site.to_string()))
        }
        (IntegrationType::Prometheus, _) => Some(CreateIntegrationRequest::prometheus()),
        (IntegrationType::Datadog | IntegrationType::NewRelic, None) => None,
    }
}

/// `sha256:<hex>` of the API key salted with the object's UID: equal keys of different objects give different
/// fingerprints, and the status never holds anything a key could be recovered from by lookup tables.
pub fn api_key_fingerprint(uid: &str, key: &SecretString) -> String {
    let mut h = Sha256::new();
    h.update(uid.as_bytes());
    h.update([0u8]);
    h.update(key.expose_secret().as_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// What the decisions need from an integration.
pub fn observed(i: &Integration) -> ObservedIntegration {
    let vendor = i.vendor_status();
    ObservedIntegration {
        id: i.id.clone(),
        integration_type: i.integration_type.as_str().to_string(),
        site: vendor.map(|v| v.site.clone()).filter(|s| !s.is_empty()),
        state: state_of(i),
        status_reason: vendor
            .map(|v| v.status_reason.clone())
            .filter(|s| !s.is_empty()),
        create_time: i.create_time.clone(),
        creator: i.creator.clone(),
    }
}

fn state_of(i: &Integration) -> String {
    match i.vendor_status() {
        Some(v) => match &v.state {
            IntegrationState::Other(s) if s.is_empty() => IntegrationState::None.to_string(),
            s => s.to_string(),
        },
        None => PROMETHEUS_STATE.to_string(),
    }
}

/// Copies what TiDB Cloud reports about the integration into status (the fingerprint is the caller's).
pub fn record(status: &mut TidbCloudIntegrationStatus, cluster_id: &str, i: &Integration) {
    let non_empty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    let vendor = i.vendor_status();
    status.cluster_id = Some(cluster_id.to_string());
    status.integration_id = Some(i.id.clone());
    status.integration_type = non_empty(i.integration_type.as_str());
    status.site = vendor.and_then(|v| non_empty(&v.site));
    status.state = Some(state_of(i));
    status.status_reason = vendor.and_then(|v| non_empty(&v.status_reason));
    status.masked_api_key = vendor.and_then(|v| non_empty(&v.masked_api_key));
    status.dashboard_url = vendor.and_then(|v| non_empty(&v.dashboard_url));
    status.scrape_endpoint = i
        .prometheus
        .as_ref()
        .and_then(|p| non_empty(&p.query_endpoint));
    status.create_intent = None;
}

/// Forgets the integration (after it was deleted or found gone).
pub fn forget(status: &mut TidbCloudIntegrationStatus) {
    status.integration_id = None;
    status.integration_type = None;
    status.site = None;
    status.state = None;
    status.status_reason = None;
    status.masked_api_key = None;
    status.dashboard_url = None;
    status.scrape_endpoint = None;
    status.api_key_fingerprint = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_requests_carry_site_and_key_and_hide_it_in_debug() {
        let req = create_request(
            IntegrationType::Datadog,
            Some(("EU1", SecretString::from("dd-key-123456789"))),
        )
        .expect("request");
        let json = serde_json::to_value(&req).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type": "DATADOG", "datadog": {"apiKey": "dd-key-123456789", "site": "EU1"}})
        );
        assert!(!format!("{req:?}").contains("dd-key-123456789"));
        let json = serde_json::to_value(create_request(
            IntegrationType::NewRelic,
            Some(("US_OTLP", SecretString::from("nr"))),
        ))
        .expect("json");
        assert!(create_request(IntegrationType::NewRelic, None).is_none());
        assert_eq!(json["newrelic"]["site"], "US_OTLP");
        let json =
            serde_json::to_value(create_request(IntegrationType::Prometheus, None)).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type": "PROMETHEUS", "prometheus": {}})
        );
    }

    #[test]
    fn fingerprints_are_salted_and_stable() {
        let k = SecretString::from("key-1");
        let a = api_key_fingerprint("uid-a", &k);
        assert_eq!(
            a,
            api_key_fingerprint("uid-a", &SecretString::from("key-1"))
        );
        assert_ne!(a, api_key_fingerprint("uid-b", &k));
        assert_ne!(
            a,
            api_key_fingerprint("uid-a", &SecretString::from("key-2"))
        );
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
        assert!(!a.contains("key-1"));
    }

    #[test]
    fn observed_and_recorded_state() {
        let i: Integration = serde_json::from_value(serde_json::json!({
            "id": 12, "type": "DATADOG", "createTime": "2025-01-01T00:00:00Z", "creator": "apikey-ABCDEFGH",
            "datadog": {"state": "ERROR", "statusReason": "key rejected", "site": "US1", "siteUrl": "https://app.datadoghq.com",
                        "dashboardUrl": "https://app.datadoghq.com/dash", "maskedApiKey": "abcd****wxyz"},
        }))
        .expect("integration");
        let o = observed(&i);
        assert_eq!(o.id, "12");
        assert_eq!(o.state, "ERROR");
        assert_eq!(o.site.as_deref(), Some("US1"));
        assert_eq!(o.status_reason.as_deref(), Some("key rejected"));
        let mut s = TidbCloudIntegrationStatus::default();
        record(&mut s, "7", &i);
        assert_eq!(s.masked_api_key.as_deref(), Some("abcd****wxyz"));
        assert_eq!(s.state.as_deref(), Some("ERROR"));
        assert_eq!(s.scrape_endpoint, None);
        let p: Integration = serde_json::from_value(serde_json::json!({
            "id": "13", "type": "PROMETHEUS", "prometheus": {"key": "k", "queryEndpoint": "https://metrics.example/x"},
        }))
        .expect("integration");
        record(&mut s, "7", &p);
        assert_eq!(s.state.as_deref(), Some(PROMETHEUS_STATE));
        assert_eq!(
            s.scrape_endpoint.as_deref(),
            Some("https://metrics.example/x")
        );
        assert_eq!(s.masked_api_key, None);
        forget(&mut s);
        assert_eq!(s.integration_id, None);
        assert_eq!(s.cluster_id.as_deref(), Some("7"));
    }
}
