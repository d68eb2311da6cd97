//! Integrations (§6): Datadog, New Relic, Prometheus — list, create, delete; no update.
use super::{Dedicated, check_id, created_by, new_id, timestamp};
use crate::api::{ApiRequest, ApiResponse};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorStatus {
    pub state: String,
    pub status_reason: String,
    pub site: String,
    pub site_url: String,
    pub dashboard_url: String,
    pub masked_api_key: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusStatus {
    pub key: String,
    pub query_endpoint: String,
}

/// `IntegrationStatusResp`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datadog: Option<VendorStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newrelic: Option<VendorStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusStatus>,
    pub create_time: String,
    pub update_time: String,
    pub creator: String,
}

#[derive(Debug, Clone)]
pub struct IntegrationRecord {
    pub cluster_id: String,
    pub integration: Integration,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VendorInput {
    api_key: Option<String>,
    site: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrometheusInput {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateIntegration {
    #[serde(rename = "type")]
    kind: Option<String>,
    datadog: Option<VendorInput>,
    newrelic: Option<VendorInput>,
    prometheus: Option<PrometheusInput>,
}

#[derive(Serialize)]
struct ListIntegrations<'a> {
    items: Vec<&'a Integration>,
    total: i32,
}

const DATADOG_SITES: &[(&str, &str)] = &[
    ("US1", "https://app.datadoghq.com"),
    ("US3", "https://us3.datadoghq.com"),
    ("US5", "https://us5.datadoghq.com"),
    ("EU1", "https://app.datadoghq.eu"),
    ("US1_FED", "https://app.ddog-gov.com"),
    ("AP1", "https://ap1.datadoghq.com"),
    ("AP2", "https://ap2.datadoghq.com"),
];
const NEWRELIC_SITES: &[(&str, &str)] = &[
    ("US_OTLP", "https://otlp.nr-data.net"),
    ("EU_OTLP", "https://otlp.eu01.nr-data.net"),
];

/// `abcd************wxyz`: what the service shows of a stored key.
fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

impl Dedicated {
    fn vendor(
        &self,
        vendor: &str,
        input: Option<&VendorInput>,
        sites: &[(&str, &str)],
        cid: &str,
        rejected: bool,
    ) -> Result<VendorStatus, ApiError> {
        let field = vendor.to_ascii_lowercase();
        let input = input.ok_or_else(|| {
            ApiError::invalid(format!("{field} is required when type is {vendor}"))
        })?;
        let key = input
            .api_key
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::invalid(format!("{field}.apiKey is required")))?;
        let site = input.site.clone().unwrap_or_default();
        let url = sites
            .iter()
            .find(|(s, _)| *s == site)
            .map(|(_, u)| *u)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "{field}.site {site:?} must be one of {}",
                    sites.iter().map(|(s, _)| *s).collect::<Vec<_>>().join(", ")
                ))
            })?;
        let (state, reason) = if rejected {
            (
                "ERROR",
                format!(
                    "{vendor} rejected the API key (403 Forbidden): check that the key is valid for site {site}"
                ),
            )
        } else {
            ("ACTIVE", String::new())
        };
        Ok(VendorStatus {
            state: state.into(),
            status_reason: reason,
            site,
            site_url: url.to_string(),
            dashboard_url: format!("{url}/dash/integration/tidb-cloud?cluster_id={cid}"),
            masked_api_key: mask_key(&key),
        })
    }

    pub(super) fn list_integrations(&self, cid: &str) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let s = self.state();
        s.cluster(cid)?;
        let items: Vec<&Integration> = s
            .integrations
            .iter()
            .filter(|i| i.cluster_id == cid)
            .map(|i| &i.integration)
            .collect();
        ApiResponse::ok(&ListIntegrations {
            total: items.len() as i32,
            items,
        })
    }

    pub(super) fn create_integration(
        &self,
        cid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let body: CreateIntegration = req.json()?;
        let kind = body.kind.clone().unwrap_or_default();
        let mut s = self.state();
        s.cluster(cid)?;
        let rejected = |k: &Option<VendorInput>| {
            k.as_ref()
                .and_then(|v| v.api_key.as_ref())
                .is_some_and(|key| s.rejected_integration_keys.contains(key))
        };
        let id = new_id();
        let now = timestamp();
        let mut integ = Integration {
            id: id.clone(),
            kind: kind.clone(),
            datadog: None,
            newrelic: None,
            prometheus: None,
            create_time: now.clone(),
            update_time: now,
            creator: created_by(&req.public_key),
        };
        match kind.as_str() {
            "DATADOG" => {
                integ.datadog = Some(self.vendor(
                    "DATADOG",
                    body.datadog.as_ref(),
                    DATADOG_SITES,
                    cid,
                    rejected(&body.datadog),
                )?)
            }
            "NEWRELIC" => {
                integ.newrelic = Some(self.vendor(
                    "NEWRELIC",
                    body.newrelic.as_ref(),
                    NEWRELIC_SITES,
                    cid,
                    rejected(&body.newrelic),
                )?)
            }
            "PROMETHEUS" => {
                if body.prometheus.is_none() {
                    return Err(ApiError::invalid(
                        "prometheus is required when type is PROMETHEUS",
                    ));
                }
                integ.prometheus = Some(PrometheusStatus {
                    key: format!("prometheus-{cid}"),
                    query_endpoint: format!(
                        "https://metrics.tidbcloud.com/public_api/v1/projects/clusters/{cid}/metrics"
                    ),
                })
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "type {other:?} must be one of DATADOG, NEWRELIC, PROMETHEUS"
                )));
            }
        }
        if s.integrations
            .iter()
            .any(|i| i.cluster_id == cid && i.integration.kind == kind)
        {
            return Err(ApiError::invalid(format!(
                "cluster {cid} already has a {kind} integration: delete it first"
            )));
        }
        let out = ApiResponse::ok(&integ)?.committed();
        s.integrations.push(IntegrationRecord {
            cluster_id: cid.to_string(),
            integration: integ,
        });
        Ok(out)
    }

    pub(super) fn delete_integration(&self, cid: &str, iid: &str) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        check_id("id", iid)?;
        let mut s = self.state();
        s.cluster(cid)?;
        let before = s.integrations.len();
        s.integrations
            .retain(|i| !(i.cluster_id == cid && i.integration.id == iid));
        if s.integrations.len() == before {
            return Err(ApiError::not_found(format!(
                "integration {iid} not found in cluster {cid}"
            )));
        }
        Ok(ApiResponse::ok(&serde_json::json!({}))?.committed())
    }
}
