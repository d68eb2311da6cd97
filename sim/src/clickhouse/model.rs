//! Request bodies of the ClickHouse Cloud v1 service API (unknown fields are a 400) and the rules the real
//! API applies to their values (`clickhouse-api.md` §3.3–§3.5).
use crate::error::ApiError;
use serde::{Deserialize, Serialize};

pub const PROVIDERS: &[&str] = &["aws", "gcp", "azure"];
pub const AWS_REGIONS: &[&str] = &[
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "il-central-1",
    "us-east-1",
    "us-east-2",
    "us-west-2",
];
pub const GCP_REGIONS: &[&str] = &[
    "us-east1",
    "us-central1",
    "europe-west2",
    "europe-west4",
    "asia-southeast1",
    "asia-northeast1",
];
pub const AZURE_REGIONS: &[&str] = &[
    "eastus",
    "eastus2",
    "westus3",
    "germanywestcentral",
    "centralus",
];
pub const STATES: &[&str] = &[
    "starting",
    "stopping",
    "terminating",
    "softdeleting",
    "awaking",
    "partially_running",
    "provisioning",
    "running",
    "stopped",
    "terminated",
    "softdeleted",
    "degraded",
    "failed",
    "idle",
];
/// States from which DELETE is accepted (the API's own 409 text lists them).
pub const DELETABLE: &[&str] = &[
    "provisioning",
    "starting",
    "awaking",
    "idle",
    "stopped",
    "degraded",
    "failed",
];
pub const RELEASE_CHANNELS: &[&str] = &["slow", "default", "fast"];
pub const PROFILES: &[&str] = &[
    "v1-default",
    "v1-highmem-xs",
    "v1-highmem-s",
    "v1-highmem-m",
    "v1-highmem-l",
    "v1-highmem-xl",
];
pub const COMPLIANCE_TYPES: &[&str] = &["hipaa", "pci"];

pub const MIN_REPLICA_MEMORY_GB: u32 = 8;
pub const MAX_REPLICA_MEMORY_GB: u32 = 356;
pub const MIN_IDLE_TIMEOUT_MINUTES: u32 = 5;
pub const MAX_TAGS: usize = 50;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IpAccessEntry {
    pub source: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    pub protocol: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddRemove<T> {
    #[serde(default = "Vec::new")]
    pub add: Vec<T>,
    #[serde(default = "Vec::new")]
    pub remove: Vec<T>,
}

/// `ServicePostRequest`. Only `name`, `provider` and `region` are required.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateService {
    pub name: Option<String>,
    pub provider: Option<String>,
    pub region: Option<String>,
    pub tier: Option<String>,
    pub ip_access_list: Option<Vec<IpAccessEntry>>,
    pub min_total_memory_gb: Option<f64>,
    pub max_total_memory_gb: Option<f64>,
    pub autoscaling_mode: Option<String>,
    pub min_replica_memory_gb: Option<f64>,
    pub max_replica_memory_gb: Option<f64>,
    pub num_replicas: Option<i64>,
    pub min_replicas: Option<i64>,
    pub max_replicas: Option<i64>,
    pub idle_scaling: Option<bool>,
    pub idle_timeout_minutes: Option<f64>,
    pub is_readonly: Option<bool>,
    pub data_warehouse_id: Option<String>,
    pub backup_id: Option<String>,
    pub encryption_key: Option<String>,
    pub encryption_assumed_role_identifier: Option<String>,
    pub private_endpoint_ids: Option<Vec<String>>,
    pub private_preview_terms_checked: Option<bool>,
    pub release_channel: Option<String>,
    pub byoc_id: Option<String>,
    pub has_transparent_data_encryption: Option<bool>,
    pub endpoints: Option<Vec<EndpointChange>>,
    pub profile: Option<String>,
    pub compliance_type: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub enable_core_dumps: Option<bool>,
}

/// `ServicePatchRequest`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchService {
    pub name: Option<String>,
    pub ip_access_list: Option<AddRemove<IpAccessEntry>>,
    pub private_endpoint_ids: Option<AddRemove<String>>,
    pub release_channel: Option<String>,
    pub endpoints: Option<Vec<EndpointChange>>,
    pub transparent_data_encryption_key_id: Option<String>,
    pub tags: Option<AddRemove<Tag>>,
    pub enable_core_dumps: Option<bool>,
}

/// `ServiceStatePatchRequest`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StateCommand {
    pub command: Option<String>,
}

/// `ServiceReplicaScalingPatchRequest`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicaScaling {
    pub min_replica_memory_gb: Option<f64>,
    pub max_replica_memory_gb: Option<f64>,
    pub autoscaling_mode: Option<String>,
    pub num_replicas: Option<i64>,
    pub min_replicas: Option<i64>,
    pub max_replicas: Option<i64>,
    pub idle_scaling: Option<bool>,
    pub idle_timeout_minutes: Option<f64>,
}

/// `ServicePasswordPatchRequest`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordChange {
    pub new_password_hash: Option<String>,
    pub new_double_sha1_hash: Option<String>,
}

// ---- validation -----------------------------------------------------------------------------------------

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The real API's validator messages look like
/// `request body.minTotalMemoryGb: The value must be a multiple of 12 <number:32>`.
fn body_error(field: &str, rule: String, v: f64) -> ApiError {
    ApiError::invalid(format!(
        "request body.{field}: The value must be {rule} <number:{}>",
        number(v)
    ))
}

/// A per-replica memory size: a multiple of 4 within 8–356.
pub fn replica_memory(field: &str, v: f64) -> Result<u32, ApiError> {
    if v.fract() != 0.0 || (v as i64) % 4 != 0 {
        return Err(body_error(field, "a multiple of 4".into(), v));
    }
    if v < f64::from(MIN_REPLICA_MEMORY_GB) {
        return Err(body_error(
            field,
            format!("greater than or equal to {MIN_REPLICA_MEMORY_GB}"),
            v,
        ));
    }
    if v > f64::from(MAX_REPLICA_MEMORY_GB) {
        return Err(body_error(
            field,
            format!("less than or equal to {MAX_REPLICA_MEMORY_GB}"),
            v,
        ));
    }
    Ok(v as u32)
}

/// A deprecated total memory (three replicas): a multiple of 12 within 24–1068; answers the per-replica size.
pub fn total_memory(field: &str, v: f64) -> Result<u32, ApiError> {
    if v.fract() != 0.0 || (v as i64) % 12 != 0 {
        return Err(body_error(field, "a multiple of 12".into(), v));
    }
    if v < 24.0 {
        return Err(body_error(field, "greater than or equal to 24".into(), v));
    }
    if v > 1068.0 {
        return Err(body_error(field, "less than or equal to 1068".into(), v));
    }
    Ok(v as u32 / 3)
}

pub fn idle_timeout(v: f64) -> Result<u32, ApiError> {
    if v.fract() != 0.0 {
        return Err(body_error("idleTimeoutMinutes", "an integer".into(), v));
    }
    if v < f64::from(MIN_IDLE_TIMEOUT_MINUTES) {
        return Err(body_error(
            "idleTimeoutMinutes",
            format!("greater than or equal to {MIN_IDLE_TIMEOUT_MINUTES}"),
            v,
        ));
    }
    if v > 1e6 {
        return Err(body_error(
            "idleTimeoutMinutes",
            "less than or equal to 1000000".into(),
            v,
        ));
    }
    Ok(v as u32)
}

pub fn replicas(field: &str, v: i64, min: i64) -> Result<u32, ApiError> {
    if v < min {
        return Err(body_error(
            field,
            format!("greater than or equal to {min}"),
            v as f64,
        ));
    }
    if v > 20 {
        return Err(body_error(
            field,
            "less than or equal to 20".into(),
            v as f64,
        ));
    }
    Ok(v as u32)
}

/// "Alphanumerical string with whitespaces up to 50 characters" (hyphens, underscores and dots accepted).
pub fn name(v: &str) -> Result<(), ApiError> {
    let len = v.chars().count();
    if len == 0 || len > 50 {
        return Err(ApiError::invalid(format!(
            "request body.name: The length must be between 1 and 50 characters <string:{v}>"
        )));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
        || v.trim().is_empty()
    {
        return Err(ApiError::invalid(format!(
            "request body.name: The value must be alphanumerical with whitespaces <string:{v}>"
        )));
    }
    Ok(())
}

pub fn one_of(field: &str, v: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "request body.{field}: The value must be one of {} <string:{v}>",
            allowed.join(", ")
        )))
    }
}

pub fn regions_of(provider: &str) -> &'static [&'static str] {
    match provider {
        "aws" => AWS_REGIONS,
        "gcp" => GCP_REGIONS,
        "azure" => AZURE_REGIONS,
        _ => &[],
    }
}

/// An IP address or CIDR block (IPv4 or IPv6).
pub fn ip_source(field: &str, v: &str) -> Result<(), ApiError> {
    let (addr, prefix) = match v.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (v, None),
    };
    let ok = match addr.parse::<std::net::IpAddr>() {
        Ok(ip) => match prefix {
            None => true,
            Some(p) => p
                .parse::<u8>()
                .is_ok_and(|p| p <= if ip.is_ipv4() { 32 } else { 128 }),
        },
        Err(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "request body.{field}: The value must be an IP address or a CIDR block <string:{v}>"
        )))
    }
}

fn tag_text(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub fn tag(field: &str, t: &Tag) -> Result<(), ApiError> {
    if t.key.is_empty() || t.key.len() > 128 || !tag_text(&t.key) {
        return Err(ApiError::invalid(format!(
            "request body.{field}.key: The value must be 1-128 characters of letters, digits, '.', '_' and '-' <string:{}>",
            t.key
        )));
    }
    if let Some(v) = &t.value
        && (v.is_empty() || v.len() > 256 || !tag_text(v))
    {
        return Err(ApiError::invalid(format!(
            "request body.{field}.value: The value must be 1-256 characters of letters, digits, '.', '_' and '-' <string:{v}>"
        )));
    }
    Ok(())
}

/// The MySQL endpoint switch: only `mysql` can be changed.
pub fn mysql_switch(changes: &[EndpointChange]) -> Result<Option<bool>, ApiError> {
    let mut out = None;
    for (i, c) in changes.iter().enumerate() {
        one_of(&format!("endpoints[{i}].protocol"), &c.protocol, &["mysql"])?;
        out = Some(c.enabled);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_rules_match_the_real_api() {
        assert_eq!(replica_memory("m", 8.0).unwrap(), 8);
        assert_eq!(replica_memory("m", 356.0).unwrap(), 356);
        let e = replica_memory("minReplicaMemoryGb", 10.0).unwrap_err();
        assert_eq!(
            e.message,
            "request body.minReplicaMemoryGb: The value must be a multiple of 4 <number:10>"
        );
        assert!(replica_memory("m", 4.0).is_err());
        assert!(replica_memory("m", 360.0).is_err());
        assert!(replica_memory("m", 8.5).is_err());
        assert_eq!(total_memory("t", 48.0).unwrap(), 16);
        assert!(total_memory("t", 32.0).is_err());
        assert!(idle_timeout(4.0).is_err());
        assert_eq!(idle_timeout(5.0).unwrap(), 5);
    }

    #[test]
    fn sources_tags_and_names() {
        for ok in ["10.0.0.1", "10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32"] {
            ip_source("s", ok).unwrap();
        }
        for bad in ["10.0.0.0/33", "example.com", "", "10.0.0.1/x"] {
            assert!(ip_source("s", bad).is_err(), "{bad}");
        }
        tag(
            "tags[0]",
            &Tag {
                key: "clouddb.dev/uid".replace('/', "_"),
                value: Some("0f6c-11".into()),
            },
        )
        .unwrap();
        assert!(
            tag(
                "t",
                &Tag {
                    key: "a b".into(),
                    value: None
                }
            )
            .is_err()
        );
        name("My service-1").unwrap();
        assert!(name("").is_err());
        assert!(name(&"x".repeat(51)).is_err());
        assert!(name("semi;colon").is_err());
    }
}
