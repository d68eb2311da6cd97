//! The ClickHouse Cloud v1 calls clients make around every service read, beyond service CRUD
//! (`clickhouse-api.md` §3.2, §3.7, §3.8, §4.1, §4.2): a service's `privateEndpointConfig`,
//! `backupConfiguration` (GET/PATCH) and `serviceQueryEndpoint` (GET/POST/DELETE), the organization's
//! deprecated `privateEndpointConfig`, the API keys list (`GET /keys`, never a secret) and the roles list
//! (`GET /roles`). Also the AWS `iamRole` of a service.
use super::model::{PROVIDERS, one_of, regions_of};
use super::{ClickHouse, ServiceRecord, envelope, timestamp};
use crate::api::{ApiRequest, ApiResponse, Method, Routed, is_uuid, method_not_allowed, new_uuid};
use crate::config::ClickHouseConfig;
use crate::error::ApiError;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

const R_SVC_PEC: &str =
    "/v1/organizations/{organizationId}/services/{serviceId}/privateEndpointConfig";
const R_BACKUP_CONFIG: &str =
    "/v1/organizations/{organizationId}/services/{serviceId}/backupConfiguration";
const R_QUERY_ENDPOINT: &str =
    "/v1/organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint";
const R_ORG_PEC: &str = "/v1/organizations/{organizationId}/privateEndpointConfig";
const R_KEYS: &str = "/v1/organizations/{organizationId}/keys";
const R_ROLES: &str = "/v1/organizations/{organizationId}/roles";

/// The AWS account the simulated services' IAM roles live in.
const SIM_AWS_ACCOUNT: &str = "426924874929";

/// Backup period and retention defaults (hours), what a service has until PATCHed and after a `null`.
pub const DEFAULT_BACKUP_PERIOD_HOURS: u32 = 24;
pub const DEFAULT_BACKUP_RETENTION_HOURS: u32 = 24;
/// Backup periods accepted (hours): the values Terraform allows (the API's own list is not documented).
pub const BACKUP_PERIODS: &[u32] = &[6, 8, 12, 16, 20, 24, 36, 48];
/// Retention: a whole number of days from 1 to 45, in hours.
pub const MIN_RETENTION_HOURS: u32 = 24;
pub const MAX_RETENTION_HOURS: u32 = 1080;

pub const QUERY_ENDPOINT_ROLES: &[&str] = &["sql_console_read_only", "sql_console_admin"];

/// `BackupConfiguration` of one service.
#[derive(Debug, Clone, PartialEq)]
struct BackupConfig {
    period: u32,
    retention: u32,
    /// `HH:MM` UTC; `None` when backups run every `period` hours.
    start_time: Option<String>,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            period: DEFAULT_BACKUP_PERIOD_HOURS,
            retention: DEFAULT_BACKUP_RETENTION_HOURS,
            start_time: None,
        }
    }
}

impl BackupConfig {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "backupPeriodInHours": self.period,
            "backupRetentionPeriodInHours": self.retention,
        });
        if let Some(t) = &self.start_time {
            v["backupStartTime"] = json!(t);
        }
        v
    }
}

/// `ServiceQueryAPIEndpoint`.
#[derive(Debug, Clone)]
struct QueryEndpoint {
    id: String,
    roles: Vec<String>,
    open_api_keys: Vec<String>,
    allowed_origins: String,
}

impl QueryEndpoint {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "openApiKeys": self.open_api_keys,
            "roles": self.roles,
            "allowedOrigins": self.allowed_origins,
        })
    }
}

/// One API key as `GET /keys` shows it: never the key ID or secret, only the last 4 characters of the ID.
#[derive(Debug, Clone)]
struct KeyInfo {
    /// The key ID used in Basic authentication (never answered).
    key_id: String,
    /// The key's UUID (`ApiKey.id`, used in `serviceQueryEndpoint.openApiKeys`).
    uuid: String,
    name: String,
    created_at: String,
}

#[derive(Debug, Default)]
struct Mutable {
    backup: HashMap<String, BackupConfig>,
    query_endpoints: HashMap<String, QueryEndpoint>,
    /// Key ID → last use, with one-minute precision.
    used_at: HashMap<String, String>,
}

/// What the extra endpoints keep, beside the services.
#[derive(Debug)]
pub struct Extras {
    keys: Vec<KeyInfo>,
    admin_role_id: String,
    developer_role_id: String,
    member_role_id: String,
    roles_created: String,
    state: Mutex<Mutable>,
}

impl Extras {
    pub fn new(config: &ClickHouseConfig) -> Extras {
        let created = timestamp();
        Extras {
            keys: config
                .keys
                .iter()
                .enumerate()
                .map(|(i, k)| KeyInfo {
                    key_id: k.public_key.clone(),
                    uuid: new_uuid(),
                    name: format!("sim-key-{}", i + 1),
                    created_at: created.clone(),
                })
                .collect(),
            admin_role_id: new_uuid(),
            developer_role_id: new_uuid(),
            member_role_id: new_uuid(),
            roles_created: created,
            state: Mutex::new(Mutable::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets backup configurations, query endpoints and key use (the admin reset); keys and roles stay.
    pub fn reset(&self) {
        *self.lock() = Mutable::default();
    }

    /// Records that `key_id` made a request now (`usedAt`, one-minute precision).
    pub fn touch(&self, key_id: &str) {
        if key_id.is_empty() {
            return;
        }
        let now = chrono::Utc::now();
        let minute = now.timestamp() - now.timestamp().rem_euclid(60);
        let at = chrono::DateTime::from_timestamp(minute, 0)
            .unwrap_or(now)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.lock().used_at.insert(key_id.to_string(), at);
    }

    fn key_json(&self, k: &KeyInfo, used_at: Option<&String>) -> Value {
        let suffix: String = {
            let chars: Vec<char> = k.key_id.chars().collect();
            chars[chars.len().saturating_sub(4)..].iter().collect()
        };
        let mut v = json!({
            "id": k.uuid,
            "name": k.name,
            "state": "enabled",
            "roles": ["admin"],
            "assignedRoles": [{"roleId": self.admin_role_id, "roleName": "Admin", "roleType": "system"}],
            "keySuffix": suffix,
            "createdAt": k.created_at,
            "ipAccessList": [],
        });
        if let Some(at) = used_at {
            v["usedAt"] = json!(at);
        }
        v
    }
}

/// The IAM role a service uses for S3 access (AWS services only), as the console shows it.
pub fn iam_role(svc: &ServiceRecord) -> Option<String> {
    (svc.provider == "aws").then(|| {
        format!(
            "arn:aws:iam::{SIM_AWS_ACCOUNT}:role/CH-S3-{}-{}-Role",
            svc.host_prefix, svc.region
        )
    })
}

/// A short stable hex tag of a text (FNV-1a), for identifiers that must not change between calls.
fn tag(text: &str, len: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")[..len.min(16)].to_string()
}

/// The region's private link endpoint service (one per cloud region, shared by the region's services).
fn endpoint_service_id(provider: &str, region: &str) -> String {
    let t = tag(&format!("{provider}/{region}"), 16);
    match provider {
        "aws" => format!("com.amazonaws.vpce.{region}.vpce-svc-0{}", &t[..16]),
        "gcp" => format!(
            "projects/dataplane-production/regions/{region}/serviceAttachments/production-service-attachment-{}",
            &t[..8]
        ),
        _ => format!(
            "production-{region}-0-0.{}.{region}.azure.privatelinkservice",
            &t[..8]
        ),
    }
}

fn private_dns_hostname(svc: &ServiceRecord) -> String {
    match svc.provider.as_str() {
        "aws" => format!(
            "{}.{}.vpce.aws.clickhouse.cloud",
            svc.host_prefix, svc.region
        ),
        "gcp" => format!("{}.{}.p.gcp.clickhouse.cloud", svc.host_prefix, svc.region),
        _ => format!(
            "{}.{}.privatelink.azure.clickhouse.cloud",
            svc.host_prefix, svc.region
        ),
    }
}

fn deleted_ok() -> Result<ApiResponse, ApiError> {
    ApiResponse::ok(&json!({"status": 200, "requestId": new_uuid()}))
}

/// A PATCH field: absent (`None`), `null` (`Some(None)`, reset to the default) or a value.
fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<Option<&'a Value>> {
    body.get(name).map(|v| (!v.is_null()).then_some(v))
}

/// A whole number of hours from a JSON number.
fn hours(name: &str, v: &Value) -> Result<u32, ApiError> {
    v.as_f64()
        .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
        .map(|f| f as u32)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "request body.{name}: The value must be a whole number of hours <{v}>"
            ))
        })
}

/// `HH:MM` (or `H:MM`) within a day.
fn start_time(v: &Value) -> Result<String, ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "request body.backupStartTime: The value must be a time of day in HH:MM format (UTC) <{v}>"
        ))
    };
    let s = v.as_str().ok_or_else(bad)?;
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let ok = (1..=2).contains(&h.len())
        && m.len() == 2
        && h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())
        && h.parse::<u32>().is_ok_and(|h| h < 24)
        && m.parse::<u32>().is_ok_and(|m| m < 60);
    if !ok {
        return Err(bad());
    }
    Ok(format!("{:0>2}:{m}", h))
}

impl ClickHouse {
    /// Routes the extra paths (`segs` are the path segments after `/v1/organizations`).
    pub(super) fn route_extras(&self, req: &ApiRequest, segs: &[&str]) -> Option<Routed> {
        let m = req.method;
        let with_org =
            |route: &'static str, org: &str, f: &dyn Fn() -> Result<ApiResponse, ApiError>| {
                Some(Routed {
                    route,
                    result: self.check_org(org).and_then(|()| f()),
                })
            };
        match segs {
            [org, "privateEndpointConfig"] => match m {
                Method::Get => with_org(R_ORG_PEC, org, &|| self.org_private_endpoint_config(req)),
                _ => Some(method_not_allowed(R_ORG_PEC, req)),
            },
            [org, "keys"] => match m {
                Method::Get => with_org(R_KEYS, org, &|| self.list_keys()),
                _ => Some(method_not_allowed(R_KEYS, req)),
            },
            [org, "roles"] => match m {
                Method::Get => with_org(R_ROLES, org, &|| self.list_roles()),
                _ => Some(method_not_allowed(R_ROLES, req)),
            },
            [org, "services", id, "privateEndpointConfig"] => match m {
                Method::Get => {
                    with_org(R_SVC_PEC, org, &|| self.service_private_endpoint_config(id))
                }
                _ => Some(method_not_allowed(R_SVC_PEC, req)),
            },
            [org, "services", id, "backupConfiguration"] => match m {
                Method::Get => with_org(R_BACKUP_CONFIG, org, &|| self.get_backup_config(id)),
                Method::Patch => {
                    with_org(R_BACKUP_CONFIG, org, &|| self.patch_backup_config(id, req))
                }
                _ => Some(method_not_allowed(R_BACKUP_CONFIG, req)),
            },
            [org, "services", id, "serviceQueryEndpoint"] => match m {
                Method::Get => with_org(R_QUERY_ENDPOINT, org, &|| self.get_query_endpoint(id)),
                Method::Post => with_org(R_QUERY_ENDPOINT, org, &|| {
                    self.upsert_query_endpoint(id, req)
                }),
                Method::Delete => {
                    with_org(R_QUERY_ENDPOINT, org, &|| self.delete_query_endpoint(id))
                }
                _ => Some(method_not_allowed(R_QUERY_ENDPOINT, req)),
            },
            _ => None,
        }
    }

    // ---- private endpoints ----

    fn service_private_endpoint_config(&self, id: &str) -> Result<ApiResponse, ApiError> {
        let mut s = self.state();
        let svc = s.service_mut(id)?;
        envelope(json!({
            "endpointServiceId": endpoint_service_id(&svc.provider, &svc.region),
            "privateDnsHostname": private_dns_hostname(svc),
        }))
    }

    /// Deprecated: `?cloud_provider=&region_id=` (both required) → `{endpointServiceId}`.
    fn org_private_endpoint_config(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let required = |name: &str| {
            req.query_one(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    ApiError::invalid(format!("request query.{name}: The field is required"))
                })
        };
        let provider = required("cloud_provider")?;
        if !PROVIDERS.contains(&provider) {
            return Err(ApiError::invalid(format!(
                "request query.cloud_provider: The value must be one of {} <string:{provider}>",
                PROVIDERS.join(", ")
            )));
        }
        let region = required("region_id")?;
        if !regions_of(provider).contains(&region) {
            return Err(ApiError::invalid(format!(
                "request query.region_id: The value must be one of {} <string:{region}>",
                regions_of(provider).join(", ")
            )));
        }
        envelope(json!({"endpointServiceId": endpoint_service_id(provider, region)}))
    }

    // ---- backup configuration ----

    fn primary<'s>(s: &'s mut super::State, id: &str) -> Result<&'s mut ServiceRecord, ApiError> {
        let svc = s.service_mut(id)?;
        if !svc.is_primary {
            return Err(ApiError::invalid(format!(
                "Backup configuration is available only for the primary service of a warehouse; service {id} is a secondary service of warehouse {}",
                svc.data_warehouse_id
            )));
        }
        Ok(svc)
    }

    fn get_backup_config(&self, id: &str) -> Result<ApiResponse, ApiError> {
        let mut s = self.state();
        Self::primary(&mut s, id)?;
        let e = self.extras.lock();
        envelope(e.backup.get(id).cloned().unwrap_or_default().to_json())
    }

    /// Fields absent stay, `null` resets to the default; setting `backupStartTime` makes the period 24 h.
    fn patch_backup_config(&self, id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let body: Map<String, Value> = req.json()?;
        const FIELDS: &[&str] = &[
            "backupPeriodInHours",
            "backupRetentionPeriodInHours",
            "backupStartTime",
        ];
        if let Some(k) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ApiError::invalid(format!(
                "request body.{k}: The field is not allowed"
            )));
        }
        let mut s = self.state();
        let svc = Self::primary(&mut s, id)?;
        if svc.state == "terminating" {
            return Err(ApiError::new(
                409,
                format!("Service {id} is being deleted. Current state: 'terminating'"),
            ));
        }
        let mut e = self.extras.lock();
        let mut c = e.backup.get(id).cloned().unwrap_or_default();
        let period = match field(&body, "backupPeriodInHours") {
            None => None,
            Some(None) => Some(DEFAULT_BACKUP_PERIOD_HOURS),
            Some(Some(v)) => {
                let p = hours("backupPeriodInHours", v)?;
                if !BACKUP_PERIODS.contains(&p) {
                    let allowed: Vec<String> = BACKUP_PERIODS.iter().map(u32::to_string).collect();
                    return Err(ApiError::invalid(format!(
                        "request body.backupPeriodInHours: The value must be one of {} <number:{p}>",
                        allowed.join(", ")
                    )));
                }
                Some(p)
            }
        };
        match field(&body, "backupRetentionPeriodInHours") {
            None => {}
            Some(None) => c.retention = DEFAULT_BACKUP_RETENTION_HOURS,
            Some(Some(v)) => {
                let r = hours("backupRetentionPeriodInHours", v)?;
                if !(MIN_RETENTION_HOURS..=MAX_RETENTION_HOURS).contains(&r) || r % 24 != 0 {
                    return Err(ApiError::invalid(format!(
                        "request body.backupRetentionPeriodInHours: The value must be a whole number of days between {MIN_RETENTION_HOURS} and {MAX_RETENTION_HOURS} hours (a multiple of 24) <number:{r}>"
                    )));
                }
                c.retention = r;
            }
        }
        let start = match field(&body, "backupStartTime") {
            None => None,
            Some(None) => Some(None),
            Some(Some(v)) => Some(Some(start_time(v)?)),
        };
        if let (Some(Some(_)), Some(p)) = (&start, period)
            && p != 24
        {
            return Err(ApiError::invalid(format!(
                "backupStartTime cannot be combined with backupPeriodInHours {p}: with a start time, backups run every 24 hours"
            )));
        }
        if let Some(p) = period {
            c.period = p;
            if p != 24 {
                // A period other than a day no longer has a fixed start time.
                c.start_time = None;
            }
        }
        if let Some(st) = start {
            if st.is_some() {
                c.period = 24;
            }
            c.start_time = st;
        }
        let out = c.to_json();
        e.backup.insert(id.to_string(), c);
        Ok(envelope(out)?.committed())
    }

    // ---- query endpoints ----

    fn query_endpoint_missing(id: &str) -> ApiError {
        ApiError::not_found(format!("Service query endpoint not found for service {id}"))
    }

    fn get_query_endpoint(&self, id: &str) -> Result<ApiResponse, ApiError> {
        let mut s = self.state();
        s.service_mut(id)?;
        let e = self.extras.lock();
        let q = e
            .query_endpoints
            .get(id)
            .ok_or_else(|| Self::query_endpoint_missing(id))?;
        envelope(q.to_json())
    }

    /// An upsert: a second POST keeps the endpoint's `id` and replaces its settings.
    fn upsert_query_endpoint(&self, id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Upsert {
            roles: Option<Vec<String>>,
            open_api_keys: Option<Vec<String>>,
            allowed_origins: Option<String>,
        }
        let b: Upsert = req.json()?;
        let roles = b.roles.unwrap_or_default();
        for (i, r) in roles.iter().enumerate() {
            one_of(&format!("roles[{i}]"), r, QUERY_ENDPOINT_ROLES)?;
        }
        let keys = b.open_api_keys.unwrap_or_default();
        for (i, k) in keys.iter().enumerate() {
            if !is_uuid(k) {
                return Err(ApiError::invalid(format!(
                    "request body.openApiKeys[{i}]: The value must be an API key id (a UUID) <string:{k}>"
                )));
            }
            if !self
                .extras
                .keys
                .iter()
                .any(|x| x.uuid.eq_ignore_ascii_case(k))
            {
                return Err(ApiError::invalid(format!(
                    "request body.openApiKeys[{i}]: API key {k} not found in the organization"
                )));
            }
        }
        let origins = b.allowed_origins.unwrap_or_default();
        let mut s = self.state();
        Self::writable(&mut s, id)?;
        let mut e = self.extras.lock();
        let endpoint_id = e
            .query_endpoints
            .get(id)
            .map(|q| q.id.clone())
            .unwrap_or_else(new_uuid);
        let q = QueryEndpoint {
            id: endpoint_id,
            roles,
            open_api_keys: keys.iter().map(|k| k.to_ascii_lowercase()).collect(),
            allowed_origins: origins,
        };
        let out = q.to_json();
        e.query_endpoints.insert(id.to_string(), q);
        Ok(envelope(out)?.committed())
    }

    fn delete_query_endpoint(&self, id: &str) -> Result<ApiResponse, ApiError> {
        let mut s = self.state();
        Self::writable(&mut s, id)?;
        let mut e = self.extras.lock();
        e.query_endpoints
            .remove(id)
            .ok_or_else(|| Self::query_endpoint_missing(id))?;
        Ok(deleted_ok()?.committed())
    }

    // ---- keys and roles ----

    fn list_keys(&self) -> Result<ApiResponse, ApiError> {
        let e = self.extras.lock();
        let keys: Vec<Value> = self
            .extras
            .keys
            .iter()
            .map(|k| self.extras.key_json(k, e.used_at.get(&k.key_id)))
            .collect();
        envelope(Value::Array(keys))
    }

    fn list_roles(&self) -> Result<ApiResponse, ApiError> {
        let x = &self.extras;
        let org = format!("organization/{}", self.organization_id);
        let actors: Vec<String> = x
            .keys
            .iter()
            .map(|k| format!("apiKey/{}", k.uuid))
            .collect();
        let role = |id: &str, name: &str, actors: &[String], permissions: &[&str]| {
            json!({
                "id": id,
                "tenantId": org,
                "ownerId": org,
                "name": name,
                "type": "system",
                "actors": actors,
                "policies": [{
                    "id": tag(&format!("{id}/policy"), 16),
                    "roleId": id,
                    "tenantId": org,
                    "allowDeny": "ALLOW",
                    "permissions": permissions,
                    "resources": ["instance/*"],
                }],
                "createdAt": x.roles_created,
                "updatedAt": x.roles_created,
            })
        };
        envelope(json!([
            role(
                &x.admin_role_id,
                "Admin",
                &actors,
                &[
                    "control-plane:organization:manage",
                    "control-plane:service:manage"
                ]
            ),
            role(
                &x.developer_role_id,
                "Developer",
                &[],
                &[
                    "control-plane:organization:view",
                    "control-plane:service:view"
                ]
            ),
            role(
                &x.member_role_id,
                "Member",
                &[],
                &["control-plane:organization:view"]
            ),
        ]))
    }
}
