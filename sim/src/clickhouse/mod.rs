//! The ClickHouse Cloud v1 API (`https://api.clickhouse.cloud/v1`): organizations and services, served on
//! their own listener behind the shared gateway (Basic authentication, 10 requests per 10 s per key).
//!
//! Every success is HTTP 200 with the envelope `{status, requestId, result}` (DELETE: no `result`); errors
//! are `{status, error: "CODE: detail", requestId}`. Transitions happen lazily, on the next request after
//! their time has come, as in the TiDB module.
pub mod extras;
pub mod model;

use crate::api::{
    ApiModule, ApiRequest, ApiResponse, Method, Routed, is_uuid, method_not_allowed, new_uuid,
};
use crate::config::{ClickHouseConfig, ClickHouseDelays};
use crate::error::{ApiError, ErrorShape};
use model::*;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The ClickHouse version new services report.
pub const CLICKHOUSE_VERSION: &str = "25.8";

/// `base64(sha256(password))`, the `newPasswordHash` of the password endpoint.
pub fn password_hash(password: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(password.as_bytes()))
}

fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A generated service password: 16 characters with letters, digits and a symbol, as the console shows them.
fn generate_password() -> String {
    let letters = random_string(
        14,
        b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789",
    );
    format!("{letters}{}~", random_string(1, b"23456789"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    State(&'static str),
    Gone,
}

/// One service as the simulator keeps it.
#[derive(Debug, Clone)]
pub struct ServiceRecord {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub region: String,
    pub state: String,
    created_at: String,
    host_prefix: String,
    pub min_replica_memory_gb: u32,
    pub max_replica_memory_gb: u32,
    pub num_replicas: u32,
    pub idle_scaling: bool,
    pub idle_timeout_minutes: u32,
    pub ip_access_list: Vec<IpAccessEntry>,
    pub tags: Vec<Tag>,
    pub release_channel: String,
    pub mysql_endpoint: bool,
    pub enable_core_dumps: bool,
    pub private_endpoint_ids: Vec<String>,
    data_warehouse_id: String,
    is_primary: bool,
    is_readonly: bool,
    encryption_key: Option<String>,
    encryption_assumed_role_identifier: Option<String>,
    has_tde: bool,
    tde_key_id: Option<String>,
    profile: Option<String>,
    compliance_type: Option<String>,
    password_hash: String,
    pending: Option<(Instant, Next)>,
    running_since: Option<Instant>,
    stopped_since: Option<Instant>,
}

impl ServiceRecord {
    fn set_state(&mut self, state: &'static str, now: Instant) {
        self.state = state.to_string();
        self.pending = None;
        self.running_since = (state == "running").then_some(now);
        self.stopped_since = (state == "stopped").then_some(now);
    }

    /// Enters `transitional` and schedules `next` after `delay`.
    fn transition(
        &mut self,
        transitional: &'static str,
        next: Next,
        delay: Duration,
        now: Instant,
    ) {
        self.state = transitional.to_string();
        self.running_since = None;
        self.stopped_since = None;
        self.pending = Some((now + delay, next));
    }

    /// Applies a due transition; answers true when the service is gone.
    fn advance(&mut self, now: Instant, delays: &ClickHouseDelays) -> bool {
        if let Some((due, next)) = self.pending
            && due <= now
        {
            match next {
                Next::Gone => return true,
                Next::State(s) => {
                    self.set_state(s, due);
                }
            }
        }
        if self.state == "running"
            && self.idle_scaling
            && let (Some(after), Some(since)) = (delays.idle_after, self.running_since)
            && now.duration_since(since) >= after
        {
            self.set_state("idle", now);
        }
        false
    }

    fn endpoints(&self) -> Vec<Value> {
        let host = format!(
            "{}.{}.{}.clickhouse.cloud",
            self.host_prefix, self.region, self.provider
        );
        let mut e = vec![
            json!({"protocol": "nativesecure", "host": host, "port": 9440}),
            json!({"protocol": "https", "host": host, "port": 8443}),
        ];
        if self.mysql_endpoint {
            e.push(json!({"protocol": "mysql", "host": host, "port": 3306, "username": format!("mysql4{}", self.host_prefix)}));
        }
        e
    }

    /// The `Service` object.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "provider": self.provider,
            "region": self.region,
            "state": self.state,
            "clickhouseVersion": CLICKHOUSE_VERSION,
            "endpoints": self.endpoints(),
            "minTotalMemoryGb": self.min_replica_memory_gb * 3,
            "maxTotalMemoryGb": self.max_replica_memory_gb * 3,
            "minReplicaMemoryGb": self.min_replica_memory_gb,
            "maxReplicaMemoryGb": self.max_replica_memory_gb,
            "numReplicas": self.num_replicas,
            "autoscalingMode": "vertical",
            "idleScaling": self.idle_scaling,
            "idleTimeoutMinutes": self.idle_timeout_minutes,
            "ipAccessList": self.ip_access_list,
            "createdAt": self.created_at,
            "privateEndpointIds": self.private_endpoint_ids,
            "availablePrivateEndpointIds": [],
            "dataWarehouseId": self.data_warehouse_id,
            "isPrimary": self.is_primary,
            "isReadonly": self.is_readonly,
            "releaseChannel": self.release_channel,
            "hasTransparentDataEncryption": self.has_tde,
            "tags": self.tags,
            "enableCoreDumps": self.enable_core_dumps,
            "currentScaling": {
                "effectiveAutoscalingMode": "vertical",
                "effectiveMinReplicaMemoryGb": self.min_replica_memory_gb,
                "effectiveMaxReplicaMemoryGb": self.max_replica_memory_gb,
                "effectiveMinReplicas": self.num_replicas,
                "effectiveMaxReplicas": self.num_replicas,
                "effectiveIdleScaling": self.idle_scaling,
                "effectiveIdleTimeoutMinutes": self.idle_timeout_minutes,
            },
        });
        let obj = v.as_object_mut().expect("object");
        for (k, val) in [
            ("encryptionKey", &self.encryption_key),
            (
                "encryptionAssumedRoleIdentifier",
                &self.encryption_assumed_role_identifier,
            ),
            ("transparentDataEncryptionKeyId", &self.tde_key_id),
            ("profile", &self.profile),
            ("complianceType", &self.compliance_type),
            ("iamRole", &extras::iam_role(self)),
        ] {
            if let Some(val) = val {
                obj.insert(k.into(), json!(val));
            }
        }
        v
    }
}

#[derive(Debug, Default)]
pub struct State {
    /// Services in creation order.
    pub services: Vec<ServiceRecord>,
    /// Ids of deleted services: a later request for them answers 404 `NOT_FOUND: <id>`.
    pub deleted: HashSet<String>,
}

impl State {
    fn tick(&mut self, now: Instant, delays: &ClickHouseDelays) {
        let mut gone = Vec::new();
        for s in self.services.iter_mut() {
            if s.advance(now, delays) {
                gone.push(s.id.clone());
            }
        }
        if !gone.is_empty() {
            self.services.retain(|s| !gone.contains(&s.id));
            self.deleted.extend(gone);
        }
    }

    fn service_mut(&mut self, id: &str) -> Result<&mut ServiceRecord, ApiError> {
        if let Some(i) = self.services.iter().position(|s| s.id == id) {
            return Ok(&mut self.services[i]);
        }
        if self.deleted.contains(id) {
            return Err(ApiError::not_found(id));
        }
        // A well-formed id that never existed gets the same 400 as a malformed one (clickhousectl#666).
        Err(invalid_id("service", id))
    }
}

fn invalid_id(kind: &str, id: &str) -> ApiError {
    ApiError::invalid(format!("Invalid {kind} id string:{id:?}"))
}

fn envelope(result: Value) -> Result<ApiResponse, ApiError> {
    ApiResponse::ok(&json!({"status": 200, "requestId": new_uuid(), "result": result}))
}

pub struct ClickHouse {
    organization_id: String,
    organization_name: String,
    organization_created: String,
    delays: ClickHouseDelays,
    state: Mutex<State>,
    extras: extras::Extras,
}

const R_ORGS: &str = "/v1/organizations";
const R_ORG: &str = "/v1/organizations/{organizationId}";
const R_SERVICES: &str = "/v1/organizations/{organizationId}/services";
const R_SERVICE: &str = "/v1/organizations/{organizationId}/services/{serviceId}";
const R_STATE: &str = "/v1/organizations/{organizationId}/services/{serviceId}/state";
const R_SCALING: &str = "/v1/organizations/{organizationId}/services/{serviceId}/replicaScaling";
const R_PASSWORD: &str = "/v1/organizations/{organizationId}/services/{serviceId}/password";

impl ClickHouse {
    pub fn new(config: &ClickHouseConfig) -> ClickHouse {
        ClickHouse {
            organization_id: config.organization_id.clone(),
            organization_name: config.organization_name.clone(),
            organization_created: timestamp(),
            delays: config.delays.clone(),
            state: Mutex::new(State::default()),
            extras: extras::Extras::new(config),
        }
    }

    /// The state with all due transitions applied.
    fn state(&self) -> MutexGuard<'_, State> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.tick(Instant::now(), &self.delays);
        s
    }

    fn organization(&self) -> Value {
        json!({
            "id": self.organization_id,
            "createdAt": self.organization_created,
            "name": self.organization_name,
            "privateEndpoints": [],
            "byocConfig": [],
            "enableCoreDumps": false,
        })
    }

    fn check_org(&self, org: &str) -> Result<(), ApiError> {
        if !is_uuid(org) {
            return Err(invalid_id("organization", org));
        }
        if !org.eq_ignore_ascii_case(&self.organization_id) {
            // A wrong organization id gives the bare code.
            return Err(ApiError::not_found(""));
        }
        Ok(())
    }

    fn dispatch(&self, req: &ApiRequest) -> Option<Routed> {
        let segs = req.segments();
        if segs.len() < 2 || segs[0] != "v1" || segs[1] != "organizations" {
            return None;
        }
        self.extras.touch(&req.public_key);
        let m = req.method;
        let routed = |route: &'static str, result: Result<ApiResponse, ApiError>| {
            Some(Routed { route, result })
        };
        let with_org =
            |route: &'static str, org: &str, f: &dyn Fn() -> Result<ApiResponse, ApiError>| {
                routed(route, self.check_org(org).and_then(|()| f()))
            };
        match &segs[2..] {
            [] => match m {
                Method::Get => routed(R_ORGS, envelope(json!([self.organization()]))),
                _ => Some(method_not_allowed(R_ORGS, req)),
            },
            [org] => match m {
                Method::Get => routed(
                    R_ORG,
                    if !is_uuid(org) || !org.eq_ignore_ascii_case(&self.organization_id) {
                        Err(invalid_id("organization", org))
                    } else {
                        envelope(self.organization())
                    },
                ),
                _ => Some(method_not_allowed(R_ORG, req)),
            },
            [org, "services"] => match m {
                Method::Get => with_org(R_SERVICES, org, &|| self.list(req)),
                Method::Post => with_org(R_SERVICES, org, &|| self.create(req)),
                _ => Some(method_not_allowed(R_SERVICES, req)),
            },
            [org, "services", id] => match m {
                Method::Get => with_org(R_SERVICE, org, &|| self.get(id)),
                Method::Patch => with_org(R_SERVICE, org, &|| self.patch(id, req)),
                Method::Delete => with_org(R_SERVICE, org, &|| self.delete(id)),
                _ => Some(method_not_allowed(R_SERVICE, req)),
            },
            [org, "services", id, "state"] => match m {
                Method::Patch => with_org(R_STATE, org, &|| self.change_state(id, req)),
                _ => Some(method_not_allowed(R_STATE, req)),
            },
            [org, "services", id, "replicaScaling"] => match m {
                Method::Patch => with_org(R_SCALING, org, &|| self.scale(id, req)),
                _ => Some(method_not_allowed(R_SCALING, req)),
            },
            [org, "services", id, "password"] => match m {
                Method::Patch => with_org(R_PASSWORD, org, &|| self.password(id, req)),
                _ => Some(method_not_allowed(R_PASSWORD, req)),
            },
            rest => self.route_extras(req, rest),
        }
    }

    // ---- handlers ---------------------------------------------------------------------------------------

    /// `filter=tag:Key=Value` / `filter=tag:Key`, repeatable; all must match.
    fn list(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let mut filters = Vec::new();
        for f in req.query_all("filter") {
            let Some(t) = f.strip_prefix("tag:").filter(|t| !t.is_empty()) else {
                return Err(ApiError::invalid(format!(
                    "Invalid filter {f:?}: only tag filters are supported (tag:Key=Value or tag:Key)"
                )));
            };
            filters.push(match t.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (t.to_string(), None),
            });
        }
        let s = self.state();
        let items: Vec<Value> = s
            .services
            .iter()
            .filter(|svc| {
                filters.iter().all(|(k, v)| {
                    svc.tags
                        .iter()
                        .any(|t| &t.key == k && (v.is_none() || t.value.as_deref() == v.as_deref()))
                })
            })
            .map(ServiceRecord::to_json)
            .collect();
        envelope(Value::Array(items))
    }

    fn get(&self, id: &str) -> Result<ApiResponse, ApiError> {
        let mut s = self.state();
        envelope(s.service_mut(id)?.to_json())
    }

    fn create(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let b: CreateService = req.json()?;
        let required = |field: &str, v: &Option<String>| -> Result<String, ApiError> {
            v.clone().ok_or_else(|| {
                ApiError::invalid(format!("request body.{field}: The field is required"))
            })
        };
        let name = required("name", &b.name)?;
        model::name(&name)?;
        let provider = required("provider", &b.provider)?;
        one_of("provider", &provider, PROVIDERS)?;
        let region = required("region", &b.region)?;
        one_of("region", &region, regions_of(&provider))?;
        if b.tier.is_some() {
            return Err(ApiError::invalid(
                "tier is not supported for organizations on the BASIC, SCALE or ENTERPRISE tiers; use minReplicaMemoryGb, maxReplicaMemoryGb and numReplicas",
            ));
        }
        if let Some(id) = &b.backup_id {
            return Err(ApiError::invalid(format!("Backup {id} not found")));
        }
        if let Some(id) = &b.byoc_id {
            return Err(ApiError::invalid(format!(
                "BYOC infrastructure {id} not found"
            )));
        }
        if let Some(m) = &b.profile {
            one_of("profile", m, PROFILES)?;
        }
        if let Some(c) = &b.compliance_type {
            one_of("complianceType", c, COMPLIANCE_TYPES)?;
        }
        let release_channel = b
            .release_channel
            .clone()
            .unwrap_or_else(|| "default".into());
        one_of("releaseChannel", &release_channel, RELEASE_CHANNELS)?;

        // Scaling.
        let mut scaling = Scaling {
            min: 8,
            max: 120,
            replicas: 3,
            idle_scaling: true,
            idle_timeout: 15,
        };
        if (b.min_total_memory_gb.is_some() || b.max_total_memory_gb.is_some())
            && (b.min_replica_memory_gb.is_some() || b.max_replica_memory_gb.is_some())
        {
            return Err(ApiError::invalid(
                "minTotalMemoryGb/maxTotalMemoryGb cannot be combined with minReplicaMemoryGb/maxReplicaMemoryGb",
            ));
        }
        let min_total = b
            .min_total_memory_gb
            .map(|v| total_memory("minTotalMemoryGb", v))
            .transpose()?;
        let max_total = b
            .max_total_memory_gb
            .map(|v| total_memory("maxTotalMemoryGb", v))
            .transpose()?;
        let input = ReplicaScaling {
            min_replica_memory_gb: b.min_replica_memory_gb.or(min_total.map(f64::from)),
            max_replica_memory_gb: b.max_replica_memory_gb.or(max_total.map(f64::from)),
            autoscaling_mode: b.autoscaling_mode.clone(),
            num_replicas: b.num_replicas,
            min_replicas: b.min_replicas,
            max_replicas: b.max_replicas,
            idle_scaling: b.idle_scaling,
            idle_timeout_minutes: b.idle_timeout_minutes,
        };

        let mut s = self.state();
        let (warehouse, primary) = match &b.data_warehouse_id {
            Some(w) => {
                if !s.services.iter().any(|x| &x.data_warehouse_id == w) {
                    return Err(ApiError::invalid(format!("Data warehouse {w} not found")));
                }
                (w.clone(), false)
            }
            None => {
                if b.is_readonly == Some(true) {
                    return Err(ApiError::invalid(
                        "isReadonly is allowed only together with dataWarehouseId",
                    ));
                }
                (new_uuid(), true)
            }
        };
        scaling.apply(&input, if primary { 2 } else { 1 })?;
        let ip_access_list =
            apply_ip_list(&[], &b.ip_access_list.clone().unwrap_or_default(), &[])?;
        let tags = apply_tags(&[], &b.tags.clone().unwrap_or_default(), &[])?;
        let mysql = mysql_switch(b.endpoints.as_deref().unwrap_or_default())?.unwrap_or(false);
        let password = generate_password();
        let now = Instant::now();
        let mut rec = ServiceRecord {
            id: new_uuid(),
            name,
            provider,
            region,
            state: String::new(),
            created_at: timestamp(),
            host_prefix: random_string(10, b"abcdefghijklmnopqrstuvwxyz0123456789"),
            min_replica_memory_gb: scaling.min,
            max_replica_memory_gb: scaling.max,
            num_replicas: scaling.replicas,
            idle_scaling: scaling.idle_scaling,
            idle_timeout_minutes: scaling.idle_timeout,
            ip_access_list,
            tags,
            release_channel,
            mysql_endpoint: mysql,
            enable_core_dumps: b.enable_core_dumps.unwrap_or(false),
            private_endpoint_ids: b.private_endpoint_ids.clone().unwrap_or_default(),
            data_warehouse_id: warehouse,
            is_primary: primary,
            is_readonly: b.is_readonly.unwrap_or(false),
            encryption_key: b.encryption_key.clone(),
            encryption_assumed_role_identifier: b.encryption_assumed_role_identifier.clone(),
            has_tde: b.has_transparent_data_encryption.unwrap_or(false),
            tde_key_id: None,
            profile: b.profile.clone(),
            compliance_type: b.compliance_type.clone(),
            password_hash: password_hash(&password),
            pending: None,
            running_since: None,
            stopped_since: None,
        };
        rec.transition(
            "provisioning",
            Next::State("running"),
            self.delays.provision,
            now,
        );
        let service = rec.to_json();
        s.services.push(rec);
        Ok(envelope(json!({"service": service, "password": password}))?.committed())
    }

    /// Finds a service that can still be changed (not being deleted).
    fn writable<'s>(s: &'s mut State, id: &str) -> Result<&'s mut ServiceRecord, ApiError> {
        let svc = s.service_mut(id)?;
        if svc.state == "terminating" {
            return Err(ApiError::new(
                409,
                format!("Service {id} is being deleted. Current state: 'terminating'"),
            ));
        }
        Ok(svc)
    }

    fn patch(&self, id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let b: PatchService = req.json()?;
        if let Some(n) = &b.name {
            model::name(n)?;
        }
        if let Some(c) = &b.release_channel {
            one_of("releaseChannel", c, RELEASE_CHANNELS)?;
        }
        let mysql = mysql_switch(b.endpoints.as_deref().unwrap_or_default())?;
        let mut s = self.state();
        let svc = Self::writable(&mut s, id)?;
        // Validate everything before changing anything.
        let ip = match &b.ip_access_list {
            Some(p) => Some(apply_ip_list(&svc.ip_access_list, &p.add, &p.remove)?),
            None => None,
        };
        let tags = match &b.tags {
            Some(p) => Some(apply_tags(&svc.tags, &p.add, &p.remove)?),
            None => None,
        };
        if b.transparent_data_encryption_key_id.is_some() && !svc.has_tde {
            return Err(ApiError::invalid(
                "transparentDataEncryptionKeyId can only be rotated on a service with transparent data encryption",
            ));
        }
        if let Some(n) = b.name {
            svc.name = n;
        }
        if let Some(ip) = ip {
            svc.ip_access_list = ip;
        }
        if let Some(t) = tags {
            svc.tags = t;
        }
        if let Some(p) = b.private_endpoint_ids {
            svc.private_endpoint_ids.retain(|x| !p.remove.contains(x));
            for x in p.add {
                if !svc.private_endpoint_ids.contains(&x) {
                    svc.private_endpoint_ids.push(x);
                }
            }
        }
        if let Some(c) = b.release_channel {
            svc.release_channel = c;
        }
        if let Some(m) = mysql {
            svc.mysql_endpoint = m;
        }
        if let Some(k) = b.transparent_data_encryption_key_id {
            svc.tde_key_id = Some(k);
        }
        if let Some(d) = b.enable_core_dumps {
            svc.enable_core_dumps = d;
        }
        Ok(envelope(svc.to_json())?.committed())
    }

    fn delete(&self, id: &str) -> Result<ApiResponse, ApiError> {
        let mut s = self.state();
        let svc = s.service_mut(id)?;
        if svc.state == "terminating" {
            // Already being deleted: accepted again.
            return ApiResponse::ok(&json!({"status": 200, "requestId": new_uuid()}));
        }
        let just_stopped = svc
            .stopped_since
            .is_some_and(|t| t.elapsed() < self.delays.delete_conflict_after_stop);
        if !DELETABLE.contains(&svc.state.as_str()) {
            let allowed: Vec<String> = DELETABLE.iter().map(|x| format!("'{x}'")).collect();
            return Err(ApiError::new(
                409,
                format!(
                    "Only instance in one of the following states: {} can be terminated. Current state: '{}'",
                    allowed.join(","),
                    svc.state
                ),
            ));
        }
        if just_stopped {
            // `stopped` is a deletable state: the message must not claim otherwise (issue #509's window).
            return Err(ApiError::new(
                409,
                format!(
                    "Service {id} was stopped moments ago and is still releasing its resources; retry the termination shortly. Current state: '{}'",
                    svc.state
                ),
            ));
        }
        svc.transition(
            "terminating",
            Next::Gone,
            self.delays.terminate,
            Instant::now(),
        );
        Ok(ApiResponse::ok(&json!({"status": 200, "requestId": new_uuid()}))?.committed())
    }

    fn change_state(&self, id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let b: StateCommand = req.json()?;
        let command = b
            .command
            .ok_or_else(|| ApiError::invalid("request body.command: The field is required"))?;
        one_of("command", &command, &["start", "stop", "awake"])?;
        let mut s = self.state();
        let svc = Self::writable(&mut s, id)?;
        let now = Instant::now();
        let d = &self.delays;
        let conflict = |svc: &ServiceRecord| {
            Err(ApiError::new(
                409,
                format!(
                    "Cannot {command} the service in its current state. Current state: '{}'",
                    svc.state
                ),
            ))
        };
        let current = svc.state.clone();
        let changed = match (command.as_str(), current.as_str()) {
            ("stop", "running" | "idle" | "awaking" | "degraded" | "partially_running") => {
                svc.transition("stopping", Next::State("stopped"), d.stop, now);
                true
            }
            ("stop", "stopping" | "stopped") => false,
            ("stop", _) => return conflict(svc),
            ("start", "stopped") => {
                svc.transition("starting", Next::State("running"), d.start, now);
                true
            }
            ("start", "idle") => {
                svc.transition("awaking", Next::State("running"), d.awake, now);
                true
            }
            ("start", "running" | "starting" | "awaking" | "provisioning") => false,
            ("start", _) => return conflict(svc),
            ("awake", "idle") => {
                svc.transition("awaking", Next::State("running"), d.awake, now);
                true
            }
            // `awake` never starts a stopped service; elsewhere it changes nothing.
            ("awake", _) => false,
            _ => false,
        };
        let r = envelope(svc.to_json())?;
        Ok(if changed { r.committed() } else { r })
    }

    fn scale(&self, id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let b: ReplicaScaling = req.json()?;
        let mut s = self.state();
        let svc = Self::writable(&mut s, id)?;
        let mut scaling = Scaling {
            min: svc.min_replica_memory_gb,
            max: svc.max_replica_memory_gb,
            replicas: svc.num_replicas,
            idle_scaling: svc.idle_scaling,
            idle_timeout: svc.idle_timeout_minutes,
        };
        scaling.apply(&b, if svc.is_primary { 2 } else { 1 })?;
        svc.min_replica_memory_gb = scaling.min;
        svc.max_replica_memory_gb = scaling.max;
        svc.num_replicas = scaling.replicas;
        svc.idle_scaling = scaling.idle_scaling;
        svc.idle_timeout_minutes = scaling.idle_timeout;
        if !svc.idle_scaling && svc.state == "idle" {
            svc.transition(
                "awaking",
                Next::State("running"),
                self.delays.awake,
                Instant::now(),
            );
        }
        Ok(envelope(svc.to_json())?.committed())
    }

    fn password(&self, id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let b: PasswordChange = req.json()?;
        let mut s = self.state();
        let svc = Self::writable(&mut s, id)?;
        match b.new_password_hash {
            Some(h) => {
                use base64::Engine;
                let ok = base64::engine::general_purpose::STANDARD
                    .decode(&h)
                    .is_ok_and(|d| d.len() == 32);
                if !ok {
                    return Err(ApiError::invalid(
                        "request body.newPasswordHash: The value must be a base64-encoded SHA-256 digest",
                    ));
                }
                if let Some(d) = &b.new_double_sha1_hash
                    && !(d.len() == 40 && d.bytes().all(|c| c.is_ascii_hexdigit()))
                {
                    return Err(ApiError::invalid(
                        "request body.newDoubleSha1Hash: The value must be a hex-encoded SHA-1 digest",
                    ));
                }
                svc.password_hash = h;
                Ok(envelope(json!({}))?.committed())
            }
            None => {
                let password = generate_password();
                svc.password_hash = password_hash(&password);
                Ok(envelope(json!({"password": password}))?.committed())
            }
        }
    }
}

/// The scaling settings of a service while a request changes them.
struct Scaling {
    min: u32,
    max: u32,
    replicas: u32,
    idle_scaling: bool,
    idle_timeout: u32,
}

impl Scaling {
    /// Applies and validates a scaling request; `min_replicas` is 2 for the first service of a warehouse.
    fn apply(&mut self, b: &ReplicaScaling, min_replicas: i64) -> Result<(), ApiError> {
        if let Some(m) = &b.autoscaling_mode {
            one_of("autoscalingMode", m, &["vertical", "horizontal"])?;
        }
        let band = match (b.min_replicas, b.max_replicas) {
            (None, None) => None,
            (Some(lo), Some(hi)) => Some((lo, hi)),
            _ => {
                return Err(ApiError::invalid(
                    "minReplicas and maxReplicas must be provided together",
                ));
            }
        };
        if band.is_some() && b.num_replicas.is_some() {
            return Err(ApiError::invalid(
                "numReplicas cannot be combined with minReplicas/maxReplicas",
            ));
        }
        let horizontal = b.autoscaling_mode.as_deref() == Some("horizontal")
            || band.is_some_and(|(lo, hi)| lo != hi);
        if horizontal {
            return Err(ApiError::invalid(
                "Horizontal autoscaling is not enabled for this organization",
            ));
        }
        if let Some((lo, _)) = band {
            self.replicas = replicas("minReplicas", lo, min_replicas)?;
        }
        if let Some(n) = b.num_replicas {
            self.replicas = replicas("numReplicas", n, min_replicas)?;
        }
        let min = b
            .min_replica_memory_gb
            .map(|v| replica_memory("minReplicaMemoryGb", v))
            .transpose()?;
        let max = b
            .max_replica_memory_gb
            .map(|v| replica_memory("maxReplicaMemoryGb", v))
            .transpose()?;
        match (min, max) {
            (Some(lo), Some(hi)) if lo > hi => {
                return Err(ApiError::invalid(format!(
                    "Invalid memory range: minReplicaMemoryGb ({lo}) must be less than or equal to maxReplicaMemoryGb ({hi})"
                )));
            }
            (Some(lo), Some(hi)) => (self.min, self.max) = (lo, hi),
            (Some(lo), None) => (self.min, self.max) = (lo, self.max.max(lo)),
            (None, Some(hi)) => (self.min, self.max) = (self.min.min(hi), hi),
            (None, None) => {}
        }
        if let Some(i) = b.idle_scaling {
            self.idle_scaling = i;
        }
        if let Some(t) = b.idle_timeout_minutes {
            let t = idle_timeout(t)?;
            if !self.idle_scaling {
                return Err(ApiError::invalid(
                    "idleTimeoutMinutes can only be set when idleScaling is enabled",
                ));
            }
            self.idle_timeout = t;
        }
        Ok(())
    }
}

/// `remove` (matched by source) runs before `add` (an added source replaces an entry with the same source).
fn apply_ip_list(
    current: &[IpAccessEntry],
    add: &[IpAccessEntry],
    remove: &[IpAccessEntry],
) -> Result<Vec<IpAccessEntry>, ApiError> {
    for (i, e) in remove.iter().enumerate() {
        ip_source(&format!("ipAccessList.remove[{i}].source"), &e.source)?;
    }
    for (i, e) in add.iter().enumerate() {
        ip_source(&format!("ipAccessList[{i}].source"), &e.source)?;
    }
    let mut out: Vec<IpAccessEntry> = current
        .iter()
        .filter(|e| !remove.iter().any(|r| r.source == e.source))
        .cloned()
        .collect();
    for e in add {
        match out.iter_mut().find(|x| x.source == e.source) {
            Some(x) => *x = e.clone(),
            None => out.push(e.clone()),
        }
    }
    Ok(out)
}

/// `remove` (matched by key) runs before `add` (an added key replaces the tag with the same key).
fn apply_tags(current: &[Tag], add: &[Tag], remove: &[Tag]) -> Result<Vec<Tag>, ApiError> {
    if add.len() > MAX_TAGS || remove.len() > MAX_TAGS {
        return Err(ApiError::invalid(format!(
            "request body.tags: at most {MAX_TAGS} tags are allowed"
        )));
    }
    for (i, t) in add.iter().enumerate() {
        tag(&format!("tags[{i}]"), t)?;
    }
    let mut out: Vec<Tag> = current
        .iter()
        .filter(|t| !remove.iter().any(|r| r.key == t.key))
        .cloned()
        .collect();
    for t in add {
        match out.iter_mut().find(|x| x.key == t.key) {
            Some(x) => *x = t.clone(),
            None => out.push(t.clone()),
        }
    }
    if out.len() > MAX_TAGS {
        return Err(ApiError::invalid(format!(
            "request body.tags: a service has at most {MAX_TAGS} tags"
        )));
    }
    Ok(out)
}

// ---- admin ------------------------------------------------------------------------------------------------

/// `PATCH /_sim/clickhouse/services/{id}`: changes made "in the cloud", behind the API client's back.
/// Lists replace the whole list; `state` jumps there at once (cancelling a pending transition).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AdminPatch {
    state: Option<String>,
    name: Option<String>,
    min_replica_memory_gb: Option<u32>,
    max_replica_memory_gb: Option<u32>,
    num_replicas: Option<u32>,
    idle_scaling: Option<bool>,
    idle_timeout_minutes: Option<u32>,
    ip_access_list: Option<Vec<IpAccessEntry>>,
    tags: Option<Vec<Tag>>,
    release_channel: Option<String>,
    mysql_endpoint: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordCheck {
    password: String,
}

impl ClickHouse {
    fn admin_patch(&self, id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let b: AdminPatch = req.json()?;
        let mut s = self.state();
        let svc = s.service_mut(id)?;
        if let Some(st) = &b.state {
            let Some(st) = STATES.iter().copied().find(|x| *x == st.as_str()) else {
                return Err(ApiError::invalid(format!(
                    "state must be one of {}",
                    STATES.join(", ")
                )));
            };
            svc.set_state(st, Instant::now());
        }
        if let Some(v) = b.name {
            svc.name = v;
        }
        if let Some(v) = b.min_replica_memory_gb {
            svc.min_replica_memory_gb = v;
        }
        if let Some(v) = b.max_replica_memory_gb {
            svc.max_replica_memory_gb = v;
        }
        if let Some(v) = b.num_replicas {
            svc.num_replicas = v;
        }
        if let Some(v) = b.idle_scaling {
            svc.idle_scaling = v;
        }
        if let Some(v) = b.idle_timeout_minutes {
            svc.idle_timeout_minutes = v;
        }
        if let Some(v) = b.ip_access_list {
            svc.ip_access_list = v;
        }
        if let Some(v) = b.tags {
            svc.tags = v;
        }
        if let Some(v) = b.release_channel {
            svc.release_channel = v;
        }
        if let Some(v) = b.mysql_endpoint {
            svc.mysql_endpoint = v;
        }
        ApiResponse::ok(&svc.to_json())
    }
}

impl ApiModule for ClickHouse {
    fn name(&self) -> &'static str {
        "clickhouse"
    }
    fn error_shape(&self) -> ErrorShape {
        ErrorShape::ClickHouse
    }
    fn route(&self, req: &ApiRequest) -> Option<Routed> {
        self.dispatch(req)
    }

    /// Under `/_sim/clickhouse/`: `GET services` (every service, as the API shows it), `PATCH services/{id}`
    /// (change it behind the client's back), `DELETE services/{id}` (it vanishes now: 404 afterwards),
    /// `POST services/{id}:verifyPassword {"password"}` → `{"match": bool}`.
    fn admin(&self, req: &ApiRequest) -> Option<Routed> {
        let segs = req.segments();
        let routed = |route: &'static str, result| Some(Routed { route, result });
        match (req.method, &segs[..]) {
            (Method::Get, ["clickhouse", "services"]) => {
                let s = self.state();
                let list: Vec<Value> = s.services.iter().map(ServiceRecord::to_json).collect();
                routed(
                    "/_sim/clickhouse/services",
                    ApiResponse::ok(&json!({"services": list})),
                )
            }
            (Method::Post, ["clickhouse", "services", seg]) if seg.ends_with(":verifyPassword") => {
                let id = seg.trim_end_matches(":verifyPassword");
                let result = req.json::<PasswordCheck>().and_then(|b| {
                    let mut s = self.state();
                    let svc = s.service_mut(id)?;
                    ApiResponse::ok(
                        &json!({"match": svc.password_hash == password_hash(&b.password)}),
                    )
                });
                routed(
                    "/_sim/clickhouse/services/{serviceId}:verifyPassword",
                    result,
                )
            }
            (Method::Patch, ["clickhouse", "services", id]) => routed(
                "/_sim/clickhouse/services/{serviceId}",
                self.admin_patch(id, req),
            ),
            (Method::Delete, ["clickhouse", "services", id]) => {
                let mut s = self.state();
                let result = s.service_mut(id).map(|_| ()).and_then(|()| {
                    s.services.retain(|x| x.id != *id);
                    s.deleted.insert(id.to_string());
                    ApiResponse::ok(&json!({}))
                });
                routed("/_sim/clickhouse/services/{serviceId}", result)
            }
            _ => None,
        }
    }

    fn reset(&self) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = State::default();
        self.extras.reset();
    }
}
