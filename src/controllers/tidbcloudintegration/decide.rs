//! The pure part of the TidbCloudIntegration reconciler: what the spec asks for against what TiDB Cloud reports
//! ([`decide`]), and which integration a create whose answer was lost made ([`made_by`]). No I/O.
//!
//! The API has no update: a change of type or site, or of the API key's value in the referenced Secret, is
//! applied by deleting the integration and creating it again. A key change is detected by comparing a SHA-256
//! fingerprint of the key, salted with the object's UID, with the one recorded in status.

use crate::api::tidbcloudintegration::{IntegrationCreateIntent, TidbCloudIntegrationStatus};
use crate::controllers::core;
use crate::providers::tidbcloud::models::Integration;
use crate::providers::tidbcloud::translate;

/// Clock skew allowed between the operator and the cloud when matching an integration to a create intent.
const ADOPTION_SLACK: chrono::Duration = chrono::Duration::seconds(120);

pub use crate::model::tidbcloudintegration::ObservedIntegration;

/// What the spec asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted<'a> {
    pub integration_type: &'static str,
    /// Vendor types only.
    pub site: Option<&'static str>,
    /// Fingerprint of the API key now in the Secret (vendor types only).
    pub key_fingerprint: Option<&'a str>,
}

/// The next thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No integration yet: create it.
    Create,
    /// The integration differs in something the API cannot update: delete it and create it again.
    Recreate { why: String },
    /// The integration matches the spec and works (or has not reported yet).
    Active,
    /// The integration matches the spec but TiDB Cloud reports ERROR, with the service's reason.
    Error { reason: String },
}

/// Decides, given the recorded fingerprint of the key the integration was created with.
pub fn decide(
    wanted: &Wanted,
    observed: Option<&ObservedIntegration>,
    recorded_fingerprint: Option<&str>,
) -> Decision {
    let Some(o) = observed else {
        return Decision::Create;
    };
    if o.integration_type != wanted.integration_type {
        return Decision::Recreate {
            why: format!(
                "type changed from {} to {}",
                o.integration_type, wanted.integration_type
            ),
        };
    }
    if let Some(site) = wanted.site
        && o.site.as_deref() != Some(site)
    {
        return Decision::Recreate {
            why: format!(
                "site changed from {} to {site}",
                o.site.as_deref().unwrap_or("(none)")
            ),
        };
    }
    if let Some(fp) = wanted.key_fingerprint
        && recorded_fingerprint != Some(fp)
    {
        return Decision::Recreate {
            why: match recorded_fingerprint {
                Some(_) => "the API key in the referenced Secret changed".into(),
                None => "the API key it was created with is unknown".into(),
            },
        };
    }
    if o.state == "ERROR" {
        return Decision::Error {
            reason: o
                .status_reason
                .clone()
                .unwrap_or_else(|| "TiDB Cloud gave no reason".into()),
        };
    }
    Decision::Active
}

/// Whether `integration`, found in cluster `cluster_id`, may be what a create under `intent` made with the API
/// key `key_id`: in the intent's cluster, of its type, created since the intent (minus clock skew), and by this
/// API key when the service says who created it. (TiDB Cloud allows one integration per type and cluster, so at
/// most one matches.)
pub fn made_by(
    intent: &IntegrationCreateIntent,
    cluster_id: &str,
    integration: &Integration,
    key_id: &str,
) -> bool {
    let creator = integration.creator.to_ascii_lowercase();
    cluster_id == intent.cluster_id
        && integration.integration_type.as_str() == intent.integration_type
        && core::created_since(&integration.create_time, &intent.started_at, ADOPTION_SLACK)
        && (!creator.starts_with("apikey-")
            || translate::created_by_key(&integration.creator, key_id))
}

/// The `Ready` message of a working integration (`NONE`: created, nothing reported yet), from its status.
pub fn active_message(s: &TidbCloudIntegrationStatus) -> String {
    let id = s.integration_id.as_deref().unwrap_or_default();
    let kind = s.integration_type.as_deref().unwrap_or_default();
    match s.state.as_deref() {
        Some("NONE") => format!("{kind} integration {id} exists; TiDB Cloud reports no state yet"),
        state => format!("{kind} integration {id} is {}", state.unwrap_or("ACTIVE")),
    }
}

/// The message of an `IntegrationError` stall: TiDB Cloud's `reason` for the ERROR state.
pub fn error_message(s: &TidbCloudIntegrationStatus, reason: &str) -> String {
    format!(
        "TiDB Cloud reports the {} integration {} in state ERROR: {reason}",
        s.integration_type.as_deref().unwrap_or_default(),
        s.integration_id.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(kind: &str, site: Option<&str>, state: &str) -> ObservedIntegration {
        ObservedIntegration {
            id: "12".into(),
            integration_type: kind.into(),
            site: site.map(String::from),
            state: state.into(),
            status_reason: (state == "ERROR").then(|| "key rejected".to_string()),
            create_time: String::new(),
            creator: String::new(),
        }
    }

    fn datadog<'a>(site: &'static str, fp: &'a str) -> Wanted<'a> {
        Wanted {
            integration_type: "DATADOG",
            site: Some(site),
            key_fingerprint: Some(fp),
        }
    }

    #[test]
    fn nothing_there_is_created() {
        assert_eq!(decide(&datadog("US1", "fp1"), None, None), Decision::Create);
    }

    #[test]
    fn matching_integrations_are_active_and_errors_carry_the_reason() {
        let w = datadog("US1", "fp1");
        assert_eq!(
            decide(
                &w,
                Some(&observed("DATADOG", Some("US1"), "ACTIVE")),
                Some("fp1")
            ),
            Decision::Active
        );
        assert_eq!(
            decide(
                &w,
                Some(&observed("DATADOG", Some("US1"), "NONE")),
                Some("fp1")
            ),
            Decision::Active
        );
        assert_eq!(
            decide(
                &w,
                Some(&observed("DATADOG", Some("US1"), "ERROR")),
                Some("fp1")
            ),
            Decision::Error {
                reason: "key rejected".into()
            }
        );
        let prometheus = Wanted {
            integration_type: "PROMETHEUS",
            site: None,
            key_fingerprint: None,
        };
        assert_eq!(
            decide(
                &prometheus,
                Some(&observed("PROMETHEUS", None, "ACTIVE")),
                None
            ),
            Decision::Active
        );
    }

    #[test]
    fn type_site_and_key_changes_recreate() {
        let active = observed("DATADOG", Some("US1"), "ACTIVE");
        let why = |d: Decision| match d {
            Decision::Recreate { why } => why,
            other => panic!("{other:?}"),
        };
        let newrelic = Wanted {
            integration_type: "NEWRELIC",
            site: Some("US_OTLP"),
            key_fingerprint: Some("fp1"),
        };
        assert_eq!(
            why(decide(&newrelic, Some(&active), Some("fp1"))),
            "type changed from DATADOG to NEWRELIC"
        );
        assert_eq!(
            why(decide(&datadog("EU1", "fp1"), Some(&active), Some("fp1"))),
            "site changed from US1 to EU1"
        );
        assert_eq!(
            why(decide(&datadog("US1", "fp2"), Some(&active), Some("fp1"))),
            "the API key in the referenced Secret changed"
        );
        assert_eq!(
            why(decide(&datadog("US1", "fp1"), Some(&active), None)),
            "the API key it was created with is unknown"
        );
        // A rotated key wins over an ERROR state: the new key may fix it.
        let failing = observed("DATADOG", Some("US1"), "ERROR");
        assert!(matches!(
            decide(&datadog("US1", "fp2"), Some(&failing), Some("fp1")),
            Decision::Recreate { .. }
        ));
    }

    fn integration(id: &str, kind: &str, created: &str, creator: &str) -> Integration {
        serde_json::from_value(serde_json::json!({
            "id": id, "type": kind, "createTime": created, "creator": creator,
        }))
        .expect("integration")
    }

    #[test]
    fn adoption_matches_cluster_type_time_and_creator() {
        let intent = IntegrationCreateIntent {
            cluster_id: "7".into(),
            integration_type: "DATADOG".into(),
            api_key_fingerprint: Some("fp".into()),
            started_at: "2025-01-01T12:00:00.000Z".into(),
        };
        let key = "abcdefghijkl";
        let made = |cluster: &str, i: &Integration| made_by(&intent, cluster, i, key);
        let ours = integration("4", "DATADOG", "2025-01-01T12:00:03Z", "apikey-ABCDEFGH");
        assert!(made("7", &ours));
        assert!(!made("8", &ours), "another cluster");
        let older = integration("1", "DATADOG", "2025-01-01T10:00:00Z", "apikey-ABCDEFGH");
        assert!(!made("7", &older), "created before the intent");
        let skewed = integration("5", "DATADOG", "2025-01-01T11:59:00Z", "apikey-ABCDEFGH");
        assert!(made("7", &skewed), "within the clock skew allowed");
        let other_type = integration("2", "NEWRELIC", "2025-01-01T12:00:01Z", "apikey-ABCDEFGH");
        assert!(!made("7", &other_type));
        let other_key = integration("3", "DATADOG", "2025-01-01T12:00:02Z", "apikey-OTHERKEY");
        assert!(!made("7", &other_key));
        // The service does not always say which API key created it: then time and type decide.
        let by_user = integration(
            "6",
            "DATADOG",
            "2025-01-01T12:00:04Z",
            "someone@example.com",
        );
        assert!(made("7", &by_user));
    }
}
