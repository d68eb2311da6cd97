//! Translation between `ClickHouseService` and the ClickHouse Cloud wire models. Pure functions.

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::models::{
    BackupConfiguration, Diff, EndpointSwitch, IpAccessEntry as WireIp, PasswordPatchRequest,
    PrivateEndpointConfig as WirePec, ReplicaScalingPatchRequest, Service, ServicePatchRequest,
    ServicePostRequest, ServiceQueryApiEndpoint, ServiceQueryEndpointRequest, Tag,
};
use crate::api::clickhouseservice::{
    BackupConfigurationSpec, BackupConfigurationStatus, ClickHouseServiceSpec, EffectiveScaling,
    IpAccessEntry, PrivateEndpointConfig, QueryApiEndpointStatus, QueryApiEndpointsSpec,
    ServiceEndpoint, UID_TAG,
};
use crate::model::clickhouseservice::{
    BackupSettings, EndpointIdsChange, Observed, QueryEndpoint, ScalingChange, ServiceChange,
};

/// The user name of a service's password.
pub const USERNAME: &str = "default";

/// The create request: everything the spec sets, plus the UID tag that lets a lost create be found again.
pub fn create_request(spec: &ClickHouseServiceSpec, name: &str, uid: &str) -> ServicePostRequest {
    let mut tags: Vec<Tag> = spec.tags.iter().flatten().map(|(k, v)| tag(k, v)).collect();
    tags.push(tag(UID_TAG, uid));
    ServicePostRequest {
        name: name.to_string(),
        provider: spec.provider.as_str().to_string(),
        region: spec.region.clone(),
        ip_access_list: spec.ip_access_list.iter().flatten().map(wire_ip).collect(),
        min_replica_memory_gb: spec.min_replica_memory_gb,
        max_replica_memory_gb: spec.max_replica_memory_gb,
        num_replicas: spec.num_replicas,
        idle_scaling: spec.idle_scaling,
        idle_timeout_minutes: spec.idle_timeout_minutes,
        release_channel: spec.release_channel.map(|r| r.as_str().to_string()),
        endpoints: if spec.mysql_endpoint {
            vec![mysql(true)]
        } else {
            Vec::new()
        },
        tags,
    }
}

fn tag(k: &str, v: &str) -> Tag {
    Tag {
        key: k.to_string(),
        value: Some(v.to_string()),
    }
}

fn mysql(enabled: bool) -> EndpointSwitch {
    EndpointSwitch {
        protocol: "mysql".into(),
        enabled,
    }
}

fn wire_ip(e: &IpAccessEntry) -> WireIp {
    WireIp {
        source: e.source.clone(),
        description: e.description.clone(),
    }
}

/// The `PATCH /services/{id}` body of a change.
pub fn patch_request(c: &ServiceChange) -> ServicePatchRequest {
    let ips = Diff {
        add: c.ip_add.iter().map(wire_ip).collect(),
        remove: c.ip_remove.iter().map(wire_ip).collect(),
    };
    let tags = Diff {
        add: c.tags_add.iter().map(|(k, v)| tag(k, v)).collect(),
        remove: c.tags_remove.iter().map(|(k, v)| tag(k, v)).collect(),
    };
    ServicePatchRequest {
        name: c.name.clone(),
        ip_access_list: (!ips.is_empty()).then_some(ips),
        release_channel: c.release_channel.clone(),
        endpoints: c.mysql_endpoint.map(mysql).into_iter().collect(),
        tags: (!tags.is_empty()).then_some(tags),
        private_endpoint_ids: None,
    }
}

/// The `PATCH /services/{id}/replicaScaling` body of a change.
pub fn scaling_request(c: &ScalingChange) -> ReplicaScalingPatchRequest {
    ReplicaScalingPatchRequest {
        min_replica_memory_gb: c.min_replica_memory_gb,
        max_replica_memory_gb: c.max_replica_memory_gb,
        num_replicas: c.num_replicas,
        idle_scaling: c.idle_scaling,
        idle_timeout_minutes: c.idle_timeout_minutes,
    }
}

/// The password as the API takes it: base64(sha256(pw)) and, for the MySQL interface, hex(sha1(sha1(pw))).
pub fn password_hashes(password: &SecretString) -> PasswordPatchRequest {
    let pw = password.expose_secret().as_bytes();
    let sha256 = Sha256::digest(pw);
    let double_sha1 = Sha1::digest(Sha1::digest(pw));
    PasswordPatchRequest {
        new_password_hash: Some(base64::engine::general_purpose::STANDARD.encode(sha256)),
        new_double_sha1_hash: Some(double_sha1.iter().map(|b| format!("{b:02x}")).collect()),
    }
}

/// What decisions need from a service.
pub fn observed(s: &Service) -> Observed {
    let cur = s.current_scaling.clone().unwrap_or_default();
    let mut ips: Vec<IpAccessEntry> = s
        .ip_access_list
        .iter()
        .map(|e| IpAccessEntry {
            source: e.source.clone(),
            description: e.description.clone(),
        })
        .collect();
    ips.sort();
    Observed {
        state: s.state.clone(),
        name: s.name.clone(),
        ip_access_list: ips,
        min_replica_memory_gb: s
            .min_replica_memory_gb
            .or(cur.effective_min_replica_memory_gb),
        max_replica_memory_gb: s
            .max_replica_memory_gb
            .or(cur.effective_max_replica_memory_gb),
        num_replicas: s.num_replicas,
        idle_scaling: s.idle_scaling.or(cur.effective_idle_scaling),
        idle_timeout_minutes: s
            .idle_timeout_minutes
            .or(cur.effective_idle_timeout_minutes),
        release_channel: s.release_channel.clone(),
        mysql_endpoint: s.endpoints.iter().any(|e| e.protocol == "mysql"),
        tags: s
            .tags
            .iter()
            .filter(|t| t.key != UID_TAG)
            .map(|t| (t.key.clone(), t.value.clone().unwrap_or_default()))
            .collect(),
        private_endpoint_ids: {
            let mut ids = s.private_endpoint_ids.clone();
            ids.sort();
            ids.dedup();
            ids
        },
        backup: None,
        query_endpoint: None,
    }
}

/// The `PATCH /services/{id}` body attaching and detaching private endpoints.
pub fn endpoint_ids_request(c: &EndpointIdsChange) -> ServicePatchRequest {
    ServicePatchRequest {
        private_endpoint_ids: Some(Diff {
            add: c.add.clone(),
            remove: c.remove.clone(),
        }),
        ..Default::default()
    }
}

/// The private endpoint configuration, for status.
pub fn private_endpoint_config(c: &WirePec) -> PrivateEndpointConfig {
    PrivateEndpointConfig {
        endpoint_service_id: c.endpoint_service_id.clone(),
        private_dns_hostname: c.private_dns_hostname.clone(),
    }
}

/// What the spec asks of the backup settings.
pub fn desired_backup(b: &BackupConfigurationSpec) -> BackupSettings {
    BackupSettings {
        period_hours: b.backup_period_in_hours,
        retention_hours: b.backup_retention_period_in_hours,
        start_time: b.backup_start_time.clone(),
    }
}

/// The backup settings read from the cloud.
pub fn backup_settings(b: &BackupConfiguration) -> BackupSettings {
    BackupSettings {
        period_hours: b.backup_period_in_hours,
        retention_hours: b.backup_retention_period_in_hours,
        start_time: b.backup_start_time.clone().filter(|t| !t.is_empty()),
    }
}

/// The `PATCH /services/{id}/backupConfiguration` body of a change (only the fields to change).
pub fn backup_request(c: &BackupSettings) -> BackupConfiguration {
    BackupConfiguration {
        backup_period_in_hours: c.period_hours,
        backup_retention_period_in_hours: c.retention_hours,
        backup_start_time: c.start_time.clone(),
    }
}

/// The backup settings, for status.
pub fn backup_status(b: &BackupSettings) -> BackupConfigurationStatus {
    BackupConfigurationStatus {
        backup_period_in_hours: b.period_hours,
        backup_retention_period_in_hours: b.retention_hours,
        backup_start_time: b.start_time.clone(),
    }
}

/// What the spec asks of the query endpoint (sorted; key ids lower-case, as the API stores them).
pub fn desired_query_endpoint(q: &QueryApiEndpointsSpec) -> QueryEndpoint {
    let mut roles: Vec<String> = q.roles.iter().map(|r| r.as_str().to_string()).collect();
    roles.sort();
    roles.dedup();
    let mut keys: Vec<String> = q
        .open_api_keys
        .iter()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    keys.sort();
    keys.dedup();
    QueryEndpoint {
        roles,
        open_api_keys: keys,
        allowed_origins: q.allowed_origins.clone(),
    }
}

/// The query endpoint read from the cloud.
pub fn query_endpoint(e: &ServiceQueryApiEndpoint) -> QueryEndpoint {
    let mut roles = e.roles.clone();
    roles.sort();
    let mut keys: Vec<String> = e
        .open_api_keys
        .iter()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    keys.sort();
    QueryEndpoint {
        roles,
        open_api_keys: keys,
        allowed_origins: e.allowed_origins.clone().unwrap_or_default(),
    }
}

/// The `POST /services/{id}/serviceQueryEndpoint` body.
pub fn query_endpoint_request(q: &QueryEndpoint) -> ServiceQueryEndpointRequest {
    ServiceQueryEndpointRequest {
        roles: q.roles.clone(),
        open_api_keys: q.open_api_keys.clone(),
        allowed_origins: q.allowed_origins.clone(),
    }
}

/// The query endpoint, for status.
pub fn query_endpoint_status(e: &ServiceQueryApiEndpoint) -> QueryApiEndpointStatus {
    let q = query_endpoint(e);
    QueryApiEndpointStatus {
        id: e.id.clone(),
        roles: q.roles,
        open_api_keys: q.open_api_keys,
        allowed_origins: q.allowed_origins,
    }
}

/// Whether `s` carries the UID tag of the resource with `uid`.
pub fn tagged_with_uid(s: &Service, uid: &str) -> bool {
    s.tags
        .iter()
        .any(|t| t.key == UID_TAG && t.value.as_deref() == Some(uid))
}

/// Endpoints for status, in a stable order (https, nativesecure, mysql).
pub fn endpoints(s: &Service) -> Vec<ServiceEndpoint> {
    let rank = |p: &str| match p {
        "https" => 0,
        "nativesecure" => 1,
        "mysql" => 2,
        _ => 3,
    };
    let mut out: Vec<ServiceEndpoint> = s
        .endpoints
        .iter()
        .map(|e| ServiceEndpoint {
            protocol: e.protocol.clone(),
            host: e.host.clone(),
            port: i32::try_from(e.port).unwrap_or_default(),
        })
        .collect();
    out.sort_by_key(|e| rank(&e.protocol));
    out
}

/// The scaling in effect, for status.
pub fn effective_scaling(s: &Service) -> EffectiveScaling {
    let o = observed(s);
    EffectiveScaling {
        min_replica_memory_gb: o.min_replica_memory_gb,
        max_replica_memory_gb: o.max_replica_memory_gb,
        num_replicas: o.num_replicas,
        idle_scaling: o.idle_scaling,
        idle_timeout_minutes: o.idle_timeout_minutes,
    }
}

/// A connection URI for an endpoint (`https://default:pw@host:8443`, `clickhouse://…?secure=true`,
/// `mysql://…`), the password percent-encoded.
pub fn uri(e: &ServiceEndpoint, password: Option<&str>) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let scheme = match e.protocol.as_str() {
        "nativesecure" => "clickhouse",
        "mysql" => "mysql",
        _ => "https",
    };
    let user = match password {
        Some(pw) => format!("{USERNAME}:{}", utf8_percent_encode(pw, NON_ALPHANUMERIC)),
        None => USERNAME.to_string(),
    };
    let suffix = if e.protocol == "nativesecure" {
        "?secure=true"
    } else {
        ""
    };
    format!("{scheme}://{user}@{}:{}{suffix}", e.host, e.port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::clickhouse::models::ServiceEndpoint as WireEndpoint;

    fn spec() -> ClickHouseServiceSpec {
        serde_json::from_value(serde_json::json!({
            "provider": "gcp", "region": "us-central1", "minReplicaMemoryGb": 16, "maxReplicaMemoryGb": 32,
            "idleScaling": true, "idleTimeoutMinutes": 15, "ipAccessList": [{"source": "10.0.0.0/8"}],
            "tags": {"team": "data"}, "mysqlEndpoint": true, "releaseChannel": "fast"
        }))
        .unwrap()
    }

    #[test]
    fn create_requests_carry_the_spec_and_the_uid_tag_and_leave_unset_fields_out() {
        let r = create_request(&spec(), "analytics", "uid-1");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["name"], "analytics");
        assert_eq!(v["provider"], "gcp");
        assert_eq!(
            v["endpoints"],
            serde_json::json!([{"protocol": "mysql", "enabled": true}])
        );
        assert_eq!(
            v["tags"],
            serde_json::json!([{"key": "team", "value": "data"}, {"key": UID_TAG, "value": "uid-1"}])
        );
        assert!(v.get("numReplicas").is_none(), "{v}");
        let minimal: ClickHouseServiceSpec =
            serde_json::from_value(serde_json::json!({"provider": "aws", "region": "us-east-1"}))
                .unwrap();
        let v = serde_json::to_value(create_request(&minimal, "n", "u")).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "provider", "region", "tags"]);
    }

    #[test]
    fn patches_send_only_what_changes() {
        let c = ServiceChange {
            ip_remove: vec![IpAccessEntry {
                source: "0.0.0.0/0".into(),
                description: String::new(),
            }],
            ..Default::default()
        };
        let v = serde_json::to_value(patch_request(&c)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"ipAccessList": {"add": [], "remove": [{"source": "0.0.0.0/0", "description": ""}]}})
        );
        let v = serde_json::to_value(scaling_request(&ScalingChange {
            num_replicas: Some(2),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(v, serde_json::json!({"numReplicas": 2}));
    }

    #[test]
    fn sub_resource_bodies_have_the_api_shapes() {
        // §3.5: privateEndpointIds travels as an add/remove diff in the service PATCH, alone.
        let v = serde_json::to_value(endpoint_ids_request(&EndpointIdsChange {
            add: vec!["vpce-1".into()],
            remove: vec!["vpce-0".into()],
        }))
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"privateEndpointIds": {"add": ["vpce-1"], "remove": ["vpce-0"]}})
        );
        // §4.1: only the fields that change (an absent field stays; null would reset it).
        let v = serde_json::to_value(backup_request(&BackupSettings {
            retention_hours: Some(168),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(v, serde_json::json!({"backupRetentionPeriodInHours": 168}));
        // §3.8: allowedOrigins is one string; key ids compare case-insensitively, roles as a set.
        let spec: QueryApiEndpointsSpec = serde_json::from_value(serde_json::json!({
            "roles": ["sql_console_admin", "sql_console_read_only"],
            "openApiKeys": ["6A4AD4A4-0CB8-4A6B-9C2F-2B1F3F0E9F10"], "allowedOrigins": "https://a.example"
        }))
        .unwrap();
        let want = desired_query_endpoint(&spec);
        let v = serde_json::to_value(query_endpoint_request(&want)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "roles": ["sql_console_admin", "sql_console_read_only"],
                "openApiKeys": ["6a4ad4a4-0cb8-4a6b-9c2f-2b1f3f0e9f10"],
                "allowedOrigins": "https://a.example"
            })
        );
        let read = ServiceQueryApiEndpoint {
            id: "e".into(),
            roles: vec!["sql_console_read_only".into(), "sql_console_admin".into()],
            open_api_keys: vec!["6a4ad4a4-0cb8-4a6b-9c2f-2b1f3f0e9f10".into()],
            allowed_origins: Some("https://a.example".into()),
        };
        assert_eq!(query_endpoint(&read), want);
        assert_eq!(query_endpoint_status(&read).id, "e");
    }

    #[test]
    fn password_hashes_match_the_documented_formats() {
        let h = password_hashes(&SecretString::from("password".to_string()));
        // sha256("password") base64, and MySQL's double SHA-1 of "password".
        assert_eq!(
            h.new_password_hash.as_deref(),
            Some("XohImNooBHFR0OVvjcYpJ3NgPQ1qq73WKhHvch0VQtg=")
        );
        assert_eq!(
            h.new_double_sha1_hash.as_deref(),
            Some("2470c0c06dee42fd1618bb99005adca2ec9d1e19")
        );
    }

    #[test]
    fn observation_prefers_service_fields_and_hides_the_uid_tag() {
        let s = Service {
            state: "running".into(),
            name: "n".into(),
            endpoints: vec![
                WireEndpoint {
                    protocol: "mysql".into(),
                    host: "h".into(),
                    port: 3306,
                    username: None,
                },
                WireEndpoint {
                    protocol: "https".into(),
                    host: "h".into(),
                    port: 8443,
                    username: None,
                },
            ],
            tags: vec![tag(UID_TAG, "u"), tag("team", "data")],
            current_scaling: Some(crate::providers::clickhouse::models::CurrentScaling {
                effective_idle_scaling: Some(true),
                effective_min_replica_memory_gb: Some(8),
                ..Default::default()
            }),
            min_replica_memory_gb: Some(16),
            ..Default::default()
        };
        let o = observed(&s);
        assert!(o.mysql_endpoint);
        assert_eq!(o.min_replica_memory_gb, Some(16));
        assert_eq!(o.idle_scaling, Some(true));
        assert_eq!(o.tags.len(), 1);
        assert!(tagged_with_uid(&s, "u") && !tagged_with_uid(&s, "v"));
        let e = endpoints(&s);
        assert_eq!(e[0].protocol, "https");
        assert_eq!(uri(&e[0], Some("p@ss")), "https://default:p%40ss@h:8443");
        assert_eq!(uri(&e[1], None), "mysql://default@h:3306");
    }
}
