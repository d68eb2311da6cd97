//! Clusters (Starter / Essential), regions and cloud providers.
//!
//! The plan follows the spec's fields: a cluster created with `autoScaling` is `ESSENTIAL` (service plan
//! `Essential`, capacity in RCUs), any other is `STARTER` (service plan `Starter`, a monthly
//! `spendingLimit` in USD cents, 0 = free). Changes are in place: a PATCH leaves the cluster `ACTIVE`
//! (`MODIFYING` is "only for Dedicated" in the state enum).
use super::filter::{self, Key};
use super::model::*;
use super::{Pending, Serverless, basic_view, check_password, new_user_prefix, require_active};
use crate::api::{ApiRequest, ApiResponse};
use crate::catalog::Region;
use crate::dedicated::{check_id, created_by, new_id, timestamp};
use crate::error::ApiError;
use crate::paging::paginate;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

pub const LABEL_PROJECT: &str = "tidb.cloud/project";
pub const LABEL_ORG: &str = "tidb.cloud/organization";
const ANN_HAS_PASSWORD: &str = "tidb.cloud/has-set-password";

pub const STATES: &[&str] = &[
    "CREATING",
    "DELETING",
    "ACTIVE",
    "RESTORING",
    "MAINTENANCE",
    "DELETED",
    "INACTIVE",
    "UPGRADING",
    "IMPORTING",
    "MODIFYING",
    "PAUSING",
    "PAUSED",
    "RESUMING",
];

/// Most RCUs an Essential cluster may scale to in the simulator.
pub const MAX_RCU: i64 = 100_000;

static DISPLAY_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[A-Za-z0-9][-A-Za-z0-9]{2,62}[A-Za-z0-9]$")
        .expect("display name pattern compiles")
});
static LABEL_KEY: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[A-Za-z0-9]([-A-Za-z0-9_./]{0,61}[A-Za-z0-9])?$")
        .expect("label key pattern compiles")
});
static START_TIME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^([01][0-9]|2[0-3]):[0-5][0-9]$").expect("HH:mm pattern compiles")
});

#[derive(Debug, Clone)]
pub struct ClusterRecord {
    pub cluster: Cluster,
    /// The secret root password (never part of a response).
    pub root_password: String,
    pub pending: Option<Pending>,
    pub gone: bool,
    /// When it was created (the earliest point in time a branch or restore may name).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Whether it has been ACTIVE (its first automated backup is taken then).
    pub was_active: bool,
}

impl ClusterRecord {
    /// Applies a due transition; true when the cluster has just become ACTIVE for the first time.
    pub fn advance(&mut self, now: Instant) -> bool {
        let Some(p) = &self.pending else { return false };
        if now < p.at {
            return false;
        }
        match p.to {
            None => self.gone = true,
            Some(state) => {
                self.cluster.state = state.to_string();
                self.cluster.update_time = timestamp();
            }
        }
        self.pending = None;
        let first = self.cluster.state == "ACTIVE" && !self.was_active;
        self.was_active |= first;
        first
    }

    pub fn transition(&mut self, now_state: &str, then: Option<&'static str>, after: Duration) {
        self.cluster.state = now_state.to_string();
        self.cluster.update_time = timestamp();
        self.pending = Some(Pending {
            at: Instant::now() + after,
            to: then,
        });
    }

    pub fn project(&self) -> &str {
        self.cluster
            .labels
            .get(LABEL_PROJECT)
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn is_essential(&self) -> bool {
        self.cluster.cluster_plan == "ESSENTIAL"
    }
}

fn validate_display_name(name: &str) -> Result<(), ApiError> {
    if !DISPLAY_NAME.is_match(name) {
        return Err(ApiError::invalid(format!(
            "displayName {name:?} is invalid: it must be 4-64 characters of letters, digits and hyphens, \
             starting and ending with a letter or digit"
        )));
    }
    Ok(())
}

/// The public hostname of a region's gateway (`gateway01.us-east-1.prod.aws.tidbcloud.com`).
pub fn public_host(region: &Region) -> String {
    let code = region
        .region_id
        .split_once('-')
        .map_or(region.region_id.as_str(), |(_, c)| c);
    format!(
        "gateway01.{code}.prod.{}.tidbcloud.com",
        region.cloud_provider
    )
}

/// The private (PrivateLink) endpoint of a region's gateway.
pub fn private_link(region: &Region) -> (String, PrivateLink) {
    use std::hash::{Hash, Hasher};
    let code = region
        .region_id
        .split_once('-')
        .map_or(region.region_id.as_str(), |(_, c)| c);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    region.region_id.hash(&mut h);
    let svc = format!("{:017x}", h.finish());
    let host = format!(
        "gateway01-privatelink.{code}.prod.{}.tidbcloud.com",
        region.cloud_provider
    );
    let link = PrivateLink {
        service_name: match region.cloud_provider.as_str() {
            "aws" => format!("com.amazonaws.vpce.{code}.vpce-svc-{svc}"),
            _ => format!("com.aliyuncs.privatelink.{code}.epsrv-{svc}"),
        },
        availability_zone: ["a", "b", "c"]
            .iter()
            .map(|z| format!("{code}{z}"))
            .collect(),
    };
    (host, link)
}

fn endpoints(region: &Region, public: PublicEndpointInput) -> Result<Endpoints, ApiError> {
    let (private_host, link) = private_link(region);
    Ok(Endpoints {
        public: PublicEndpoint {
            host: public_host(region),
            port: 4000,
            disabled: public.disabled.unwrap_or(false),
            authorized_networks: authorized_networks(
                "endpoints.public.authorizedNetworks",
                public.authorized_networks.unwrap_or_default(),
            )?,
        },
        private: PrivateEndpoint {
            host: private_host,
            port: 4000,
            aws: (region.cloud_provider == "aws").then(|| link.clone()),
            gcp: None,
            alicloud: (region.cloud_provider == "alicloud").then_some(link),
        },
    })
}

fn ipv4(field: &str, v: Option<&str>) -> Result<std::net::Ipv4Addr, ApiError> {
    let v = v.unwrap_or_default();
    v.parse()
        .map_err(|_| ApiError::invalid(format!("{field} {v:?} is not an IPv4 address")))
}

/// Validates an authorized network list: IPv4 start ≤ end, a display name, no duplicates.
fn authorized_networks(
    field: &str,
    list: Vec<AuthorizedNetworkInput>,
) -> Result<Vec<AuthorizedNetwork>, ApiError> {
    let mut out: Vec<AuthorizedNetwork> = Vec::new();
    for (i, n) in list.into_iter().enumerate() {
        let at = format!("{field}[{i}]");
        let start = ipv4(
            &format!("{at}.startIpAddress"),
            n.start_ip_address.as_deref(),
        )?;
        let end = ipv4(&format!("{at}.endIpAddress"), n.end_ip_address.as_deref())?;
        if start > end {
            return Err(ApiError::invalid(format!(
                "{at}: startIpAddress {start} is after endIpAddress {end}"
            )));
        }
        let name = n.display_name.unwrap_or_default();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(ApiError::invalid(format!(
                "{at}.displayName is required (1-64 characters)"
            )));
        }
        let item = AuthorizedNetwork {
            start_ip_address: start.to_string(),
            end_ip_address: end.to_string(),
            display_name: name,
        };
        if out.iter().any(|o| {
            o.start_ip_address == item.start_ip_address && o.end_ip_address == item.end_ip_address
        }) {
            return Err(ApiError::invalid(format!(
                "{at}: the range {start}-{end} is listed twice"
            )));
        }
        out.push(item);
    }
    Ok(out)
}

fn spending_limit(field: &str, s: &SpendingLimitInput) -> Result<SpendingLimit, ApiError> {
    let monthly = s
        .monthly
        .ok_or_else(|| ApiError::invalid(format!("{field}.monthly is required")))?;
    if monthly < 0 {
        return Err(ApiError::invalid(format!(
            "{field}.monthly must not be negative (USD cents), got {monthly}"
        )));
    }
    Ok(SpendingLimit { monthly })
}

fn auto_scaling(field: &str, a: &AutoScalingInput) -> Result<AutoScaling, ApiError> {
    let (Some(min), Some(max)) = (a.min_rcu, a.max_rcu) else {
        return Err(ApiError::invalid(format!(
            "{field}.minRcu and {field}.maxRcu are required"
        )));
    };
    if min < 1 || max < min || max > MAX_RCU {
        return Err(ApiError::invalid(format!(
            "{field}: minRcu {min} and maxRcu {max} must satisfy 1 <= minRcu <= maxRcu <= {MAX_RCU}"
        )));
    }
    Ok(AutoScaling {
        min_rcu: min,
        max_rcu: max,
    })
}

fn backup_policy(
    field: &str,
    p: &BackupPolicyInput,
    current: &BackupPolicy,
) -> Result<BackupPolicy, ApiError> {
    let start_time = p.start_time.clone().unwrap_or(current.start_time.clone());
    if !START_TIME.is_match(&start_time) {
        return Err(ApiError::invalid(format!(
            "{field}.startTime {start_time:?} must be a UTC time of day HH:mm"
        )));
    }
    let retention_days = p.retention_days.unwrap_or(current.retention_days);
    if !(1..=30).contains(&retention_days) {
        return Err(ApiError::invalid(format!(
            "{field}.retentionDays must be between 1 and 30, got {retention_days}"
        )));
    }
    Ok(BackupPolicy {
        start_time,
        retention_days,
    })
}

fn validate_labels(labels: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in labels {
        if !LABEL_KEY.is_match(k) {
            return Err(ApiError::invalid(format!(
                "label key {k:?} is invalid: 1-63 letters, digits, '-', '_', '.', '/', starting and ending \
                 with a letter or digit"
            )));
        }
        if v.chars().count() > 63 {
            return Err(ApiError::invalid(format!(
                "label {k:?}: the value is longer than 63 characters"
            )));
        }
    }
    Ok(())
}

fn check_high_availability(v: Option<&str>, essential: bool) -> Result<String, ApiError> {
    match v {
        None | Some("") | Some("ZONAL") => Ok("ZONAL".into()),
        Some("REGIONAL") if essential => Ok("REGIONAL".into()),
        Some("REGIONAL") => Err(ApiError::invalid(
            "highAvailabilityType REGIONAL needs an Essential cluster (give autoScaling); Starter clusters are ZONAL",
        )),
        Some(other) => Err(ApiError::invalid(format!(
            "highAvailabilityType {other:?} must be ZONAL or REGIONAL"
        ))),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListClusters {
    clusters: Vec<Cluster>,
    next_page_token: String,
    total_size: i64,
}

/// The paths of a PATCH `updateMask` the simulator applies.
const MASK_PATHS: &[&str] = &[
    "displayName",
    "labels",
    "spendingLimit",
    "spendingLimit.monthly",
    "autoScaling",
    "autoScaling.minRcu",
    "autoScaling.maxRcu",
    "automatedBackupPolicy",
    "automatedBackupPolicy.startTime",
    "automatedBackupPolicy.retentionDays",
    "endpoints.public",
    "endpoints.public.disabled",
    "endpoints.public.authorizedNetworks",
    "auditLogConfig",
    "auditLogConfig.enabled",
    "auditLogConfig.unredacted",
];

impl Serverless {
    /// Validates a create body into a new cluster record (`CREATING`), without storing it.
    fn build_cluster(
        &self,
        body: ClusterInput,
        public_key: &str,
    ) -> Result<ClusterRecord, ApiError> {
        let display_name = body
            .display_name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::invalid("displayName is required"))?;
        validate_display_name(&display_name)?;
        let region_name = body
            .region
            .as_ref()
            .and_then(|r| r.name.clone())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                ApiError::invalid("region.name is required (e.g. regions/aws-us-east-1)")
            })?;
        let region = region_name
            .strip_prefix("regions/")
            .and_then(|id| self.catalog.serverless_region(id))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "region.name {region_name:?} is not a Serverless region (see GET /v1beta1/regions)"
                ))
            })?
            .clone();
        let essential = body.auto_scaling.is_some();
        let plan = if essential { "Essential" } else { "Starter" };
        if !region.service_plans.iter().any(|p| p == plan) {
            return Err(ApiError::invalid(format!(
                "region {} does not offer the {plan} plan (it offers {})",
                region.region_id,
                region.service_plans.join(", ")
            )));
        }
        let (spending, scaling) = match (&body.spending_limit, &body.auto_scaling) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "spendingLimit (Starter) and autoScaling (Essential) cannot both be given",
                ));
            }
            (Some(s), None) => (Some(spending_limit("spendingLimit", s)?), None),
            (None, Some(a)) => (None, Some(auto_scaling("autoScaling", a)?)),
            (None, None) => (Some(SpendingLimit { monthly: 0 }), None),
        };
        let ha = check_high_availability(body.high_availability_type.as_deref(), essential)?;
        let password = body.root_password.clone().unwrap_or_default();
        if !password.is_empty() {
            check_password("rootPassword", &password)?;
        }
        let mut labels = body.labels.clone().unwrap_or_default();
        validate_labels(&labels)?;
        if let Some(org) = labels.get(LABEL_ORG)
            && org != &self.catalog.organization.id
        {
            return Err(ApiError::invalid(format!(
                "label {LABEL_ORG} {org:?} is not this organization ({})",
                self.catalog.organization.id
            )));
        }
        let project = match labels.get(LABEL_PROJECT).filter(|p| !p.is_empty()) {
            None => self.catalog.default_project().id.clone(),
            Some(p) => self
                .catalog
                .project(p)
                .ok_or_else(|| {
                    ApiError::invalid(format!("project {p:?} does not exist in this organization"))
                })?
                .id
                .clone(),
        };
        labels.insert(LABEL_PROJECT.into(), project);
        labels.insert(LABEL_ORG.into(), self.catalog.organization.id.clone());
        let default_policy = BackupPolicy {
            start_time: "07:00".into(),
            retention_days: if essential { 14 } else { 7 },
        };
        let policy = match &body.automated_backup_policy {
            Some(p) => backup_policy("automatedBackupPolicy", p, &default_policy)?,
            None => default_policy,
        };
        let public = body
            .endpoints
            .clone()
            .and_then(|e| e.public)
            .unwrap_or_default();
        let id = new_id();
        let now = timestamp();
        let cluster = Cluster {
            name: format!("clusters/{id}"),
            cluster_id: id,
            display_name,
            endpoints: Some(endpoints(&region, public)?),
            region,
            spending_limit: spending,
            automated_backup_policy: Some(policy),
            encryption_config: Some(EncryptionConfig {
                enhanced_encryption_enabled: body
                    .encryption_config
                    .as_ref()
                    .and_then(|e| e.enhanced_encryption_enabled)
                    .unwrap_or(false),
            }),
            high_availability_type: Some(ha),
            version: self.catalog.tidb_version.clone(),
            created_by: created_by(public_key),
            user_prefix: new_user_prefix(),
            state: "CREATING".into(),
            labels,
            annotations: BTreeMap::from([(
                ANN_HAS_PASSWORD.to_string(),
                (!password.is_empty()).to_string(),
            )]),
            create_time: now.clone(),
            update_time: now,
            audit_log_config: body.audit_log_config.clone(),
            cluster_plan: if essential { "ESSENTIAL" } else { "STARTER" }.into(),
            auto_scaling: scaling,
            service_plan: plan.into(),
        };
        Ok(ClusterRecord {
            cluster,
            root_password: password,
            pending: None,
            gone: false,
            created_at: chrono::Utc::now(),
            was_active: false,
        })
    }

    /// Stores a built cluster, `CREATING` → `ACTIVE`, and answers it.
    fn store_new(&self, s: &mut super::State, mut record: ClusterRecord) -> Cluster {
        record.transition("CREATING", Some("ACTIVE"), self.delays.cluster_create);
        let out = record.cluster.clone();
        s.clusters.push(record);
        out
    }

    /// A new cluster that copies `source`'s settings, `RESTORING` → `ACTIVE` (`clusters:restore`).
    pub(super) fn restored_copy(
        &self,
        s: &mut super::State,
        source: &ClusterRecord,
        public_key: &str,
    ) -> String {
        let id = new_id();
        let now = timestamp();
        let n = s.clusters.len() + 1;
        let base: String = source.cluster.display_name.chars().take(50).collect();
        let mut cluster = source.cluster.clone();
        cluster.name = format!("clusters/{id}");
        cluster.cluster_id = id.clone();
        cluster.display_name = format!("{}-restore-{n}", base.trim_end_matches('-'));
        cluster.created_by = created_by(public_key);
        cluster.user_prefix = new_user_prefix();
        cluster.create_time = now.clone();
        cluster.update_time = now;
        let mut record = ClusterRecord {
            cluster,
            root_password: source.root_password.clone(),
            pending: None,
            gone: false,
            created_at: chrono::Utc::now(),
            was_active: false,
        };
        record.transition("RESTORING", Some("ACTIVE"), self.delays.restore);
        s.clusters.push(record);
        id
    }

    pub(super) fn create_cluster(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let body: ClusterInput = req.json()?;
        let record = self.build_cluster(body, &req.public_key)?;
        let mut s = self.state();
        let out = self.store_new(&mut s, record);
        Ok(ApiResponse::ok(&out)?.committed())
    }

    pub(super) fn batch_create(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let body: BatchCreate = req.json()?;
        let requests = body
            .requests
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ApiError::invalid("requests is required (1 to 1000 clusters)"))?;
        if requests.len() > 1000 {
            return Err(ApiError::invalid(format!(
                "at most 1000 clusters can be created in a batch, got {}",
                requests.len()
            )));
        }
        // All or nothing: every request is validated before any cluster is created.
        let records = requests
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let c = r.cluster.ok_or_else(|| {
                    ApiError::invalid(format!("requests[{i}].cluster is required"))
                })?;
                self.build_cluster(c, &req.public_key)
                    .map_err(|e| ApiError::invalid(format!("requests[{i}].cluster: {}", e.message)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut s = self.state();
        let clusters: Vec<Cluster> = records
            .into_iter()
            .map(|r| self.store_new(&mut s, r))
            .collect();
        Ok(ApiResponse::ok(&serde_json::json!({ "clusters": clusters }))?.committed())
    }

    pub(super) fn list_clusters(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let terms = filter::parse(req.query_one("filter").unwrap_or_default())?;
        for t in &terms {
            if t.key == Key::State && !STATES.contains(&t.value.as_str()) {
                return Err(ApiError::invalid(format!(
                    "invalid filter: state {:?} is not a cluster state ({})",
                    t.value,
                    STATES.join(", ")
                )));
            }
        }
        let order = req.query_one("orderBy").unwrap_or_default().trim();
        let (field, desc) = match order.split_whitespace().collect::<Vec<_>>()[..] {
            [] => ("createTime", false),
            [f] => (f, false),
            [f, d] if d.eq_ignore_ascii_case("desc") => (f, true),
            [f, a] if a.eq_ignore_ascii_case("asc") => (f, false),
            _ => return Err(bad_order(order)),
        };
        if !["createTime", "displayName", "clusterId"].contains(&field) {
            return Err(bad_order(order));
        }
        let s = self.state();
        let mut items: Vec<&ClusterRecord> = s
            .clusters
            .iter()
            .filter(|r| terms.iter().all(|t| matches(r, t)))
            .collect();
        // Creation order is the stored order; sort stably on the other keys.
        match field {
            "displayName" => {
                items.sort_by(|a, b| a.cluster.display_name.cmp(&b.cluster.display_name))
            }
            "clusterId" => items.sort_by(|a, b| a.cluster.cluster_id.cmp(&b.cluster.cluster_id)),
            _ => {}
        }
        if desc {
            items.reverse();
        }
        let page = paginate(req, items, 10)?;
        ApiResponse::ok(&ListClusters {
            clusters: page.items.into_iter().map(|r| r.cluster.clone()).collect(),
            next_page_token: page.next_token,
            total_size: page.total as i64,
        })
    }

    pub(super) fn batch_get(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let basic = basic_view(req)?;
        let ids = req.query_all("clusterIds");
        if ids.is_empty() {
            return Err(ApiError::invalid(
                "clusterIds is required (repeat it: ?clusterIds=1&clusterIds=2)",
            ));
        }
        if ids.len() > 1000 {
            return Err(ApiError::invalid(format!(
                "at most 1000 clusters can be read in a batch, got {}",
                ids.len()
            )));
        }
        for id in &ids {
            check_id("clusterIds", id)?;
        }
        let s = self.state();
        let missing: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| s.cluster(id).is_err())
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::not_found(format!(
                "clusters not found: {}",
                missing.join(", ")
            )));
        }
        let clusters: Vec<Cluster> = ids
            .iter()
            .filter_map(|id| s.cluster(id).ok())
            .map(|r| {
                if basic {
                    r.cluster.basic()
                } else {
                    r.cluster.clone()
                }
            })
            .collect();
        ApiResponse::ok(&serde_json::json!({ "clusters": clusters }))
    }

    pub(super) fn get_cluster(&self, id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", id)?;
        let basic = basic_view(req)?;
        let s = self.state();
        let c = &s.cluster(id)?.cluster;
        ApiResponse::ok(&if basic { c.basic() } else { c.clone() })
    }

    pub(super) fn delete_cluster(&self, id: &str) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", id)?;
        let delay = self.delays.cluster_delete;
        let mut s = self.state();
        let record = s.cluster_mut(id)?;
        if record.cluster.state != "DELETING" {
            record.transition("DELETING", None, delay);
        }
        Ok(ApiResponse::ok(&record.cluster)?.committed())
    }

    pub(super) fn change_password(
        &self,
        id: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", id)?;
        let body: ChangePassword = req.json()?;
        let password = body
            .password
            .ok_or_else(|| ApiError::invalid("password is required"))?;
        check_password("password", &password)?;
        let mut s = self.state();
        let record = s.cluster_mut(id)?;
        require_active(record, "the root password can be changed")?;
        record.root_password = password;
        record
            .cluster
            .annotations
            .insert(ANN_HAS_PASSWORD.into(), "true".into());
        record.cluster.update_time = timestamp();
        Ok(ApiResponse::ok(&serde_json::json!({}))?.committed())
    }

    pub(super) fn patch_cluster(
        &self,
        id: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", id)?;
        let body: PatchCluster = req.json()?;
        let mask = body.update_mask.unwrap_or_default();
        let paths: Vec<&str> = mask
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if paths.is_empty() {
            return Err(ApiError::invalid(
                "updateMask is required: the fields to change, e.g. \"displayName\" or \"spendingLimit.monthly\"",
            ));
        }
        for p in &paths {
            if !MASK_PATHS.contains(p) {
                return Err(ApiError::invalid(format!(
                    "updateMask path {p:?} cannot be updated; updatable: {}",
                    MASK_PATHS.join(", ")
                )));
            }
        }
        let input = body.cluster.unwrap_or_default();
        if let Some(b) = input.cluster_id.as_deref().filter(|b| !b.is_empty())
            && b != id
        {
            return Err(ApiError::invalid(format!(
                "cluster.clusterId {b:?} in the body does not match the path ({id})"
            )));
        }
        let mut s = self.state();
        let current = s.cluster(id)?;
        require_active(current, "it can be updated")?;
        let essential = current.is_essential();
        let mut next = current.cluster.clone();
        let has = |prefix: &str| {
            paths
                .iter()
                .any(|p| *p == prefix || p.starts_with(&format!("{prefix}.")))
        };
        if has("displayName") {
            let n = input.display_name.as_deref().ok_or_else(|| {
                ApiError::invalid("cluster.displayName is required by the updateMask")
            })?;
            validate_display_name(n)?;
            next.display_name = n.to_string();
        }
        if has("labels") {
            let mut labels = input.labels.clone().unwrap_or_default();
            validate_labels(&labels)?;
            for system in [LABEL_PROJECT, LABEL_ORG] {
                match labels.get(system) {
                    Some(v) if Some(v) != next.labels.get(system) => {
                        return Err(ApiError::invalid(format!(
                            "label {system} cannot be changed (it is {:?})",
                            next.labels.get(system).cloned().unwrap_or_default()
                        )));
                    }
                    _ => {
                        if let Some(v) = next.labels.get(system) {
                            labels.insert(system.into(), v.clone());
                        }
                    }
                }
            }
            next.labels = labels;
        }
        if has("spendingLimit") {
            if essential {
                return Err(ApiError::invalid(
                    "spendingLimit applies to Starter clusters; this cluster is Essential (use autoScaling)",
                ));
            }
            let sl = input.spending_limit.as_ref().ok_or_else(|| {
                ApiError::invalid("cluster.spendingLimit is required by the updateMask")
            })?;
            next.spending_limit = Some(spending_limit("cluster.spendingLimit", sl)?);
        }
        if has("autoScaling") {
            if !essential {
                return Err(ApiError::invalid(
                    "autoScaling applies to Essential clusters; this cluster is Starter (use spendingLimit)",
                ));
            }
            let current = next.auto_scaling.clone().unwrap_or(AutoScaling {
                min_rcu: 1,
                max_rcu: 1,
            });
            let a = input.auto_scaling.clone().ok_or_else(|| {
                ApiError::invalid("cluster.autoScaling is required by the updateMask")
            })?;
            let merged = AutoScalingInput {
                min_rcu: a.min_rcu.or(Some(current.min_rcu)),
                max_rcu: a.max_rcu.or(Some(current.max_rcu)),
            };
            next.auto_scaling = Some(auto_scaling("cluster.autoScaling", &merged)?);
        }
        if has("automatedBackupPolicy") {
            let p = input.automated_backup_policy.clone().ok_or_else(|| {
                ApiError::invalid("cluster.automatedBackupPolicy is required by the updateMask")
            })?;
            let current = next
                .automated_backup_policy
                .clone()
                .unwrap_or(BackupPolicy {
                    start_time: "07:00".into(),
                    retention_days: 7,
                });
            next.automated_backup_policy = Some(backup_policy(
                "cluster.automatedBackupPolicy",
                &p,
                &current,
            )?);
        }
        if has("endpoints") {
            let public = input
                .endpoints
                .clone()
                .and_then(|e| e.public)
                .ok_or_else(|| {
                    ApiError::invalid("cluster.endpoints.public is required by the updateMask")
                })?;
            let whole = paths.contains(&"endpoints.public");
            if let Some(e) = next.endpoints.as_mut() {
                if whole || paths.contains(&"endpoints.public.disabled") {
                    e.public.disabled = public.disabled.unwrap_or(false);
                }
                if whole || paths.contains(&"endpoints.public.authorizedNetworks") {
                    e.public.authorized_networks = authorized_networks(
                        "cluster.endpoints.public.authorizedNetworks",
                        public.authorized_networks.unwrap_or_default(),
                    )?;
                }
            }
        }
        if has("auditLogConfig") {
            let a = input.audit_log_config.clone().ok_or_else(|| {
                ApiError::invalid("cluster.auditLogConfig is required by the updateMask")
            })?;
            let mut cfg = next.audit_log_config.clone().unwrap_or_default();
            if paths.contains(&"auditLogConfig") || paths.contains(&"auditLogConfig.enabled") {
                cfg.enabled = a.enabled;
            }
            if paths.contains(&"auditLogConfig") || paths.contains(&"auditLogConfig.unredacted") {
                cfg.unredacted = a.unredacted;
            }
            next.audit_log_config = Some(cfg);
        }
        let changed =
            serde_json::to_value(&next).ok() != serde_json::to_value(&current.cluster).ok();
        let record = s.cluster_mut(id)?;
        if changed {
            next.update_time = timestamp();
            record.cluster = next;
        }
        let out = ApiResponse::ok(&record.cluster)?;
        Ok(if changed { out.committed() } else { out })
    }

    pub(super) fn list_regions(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let cloud = req.query_one("cloudProvider").filter(|c| !c.is_empty());
        let plan = req.query_one("servicePlan").filter(|p| !p.is_empty());
        if let Some(p) = plan
            && !["Starter", "Essential", "Premium", "BYOC"].contains(&p)
        {
            return Err(ApiError::invalid(format!(
                "invalid value for query parameter servicePlan: {p:?} (Starter, Essential, Premium or BYOC)"
            )));
        }
        let regions: Vec<&Region> = self
            .catalog
            .serverless_regions
            .iter()
            .filter(|r| cloud.is_none_or(|c| r.cloud_provider == c))
            .filter(|r| plan.is_none_or(|p| r.service_plans.iter().any(|x| x == p)))
            .collect();
        ApiResponse::ok(&serde_json::json!({ "regions": regions }))
    }

    pub(super) fn list_cloud_providers(&self) -> Result<ApiResponse, ApiError> {
        let mut clouds: Vec<&str> = Vec::new();
        for r in &self.catalog.serverless_regions {
            if !clouds.contains(&r.cloud_provider.as_str()) {
                clouds.push(&r.cloud_provider);
            }
        }
        ApiResponse::ok(&serde_json::json!({ "cloudProviders": clouds }))
    }
}

fn bad_order(order: &str) -> ApiError {
    ApiError::invalid(format!(
        "invalid orderBy {order:?}: one of createTime, displayName, clusterId, optionally followed by desc"
    ))
}

/// Whether a cluster satisfies one filter term.
fn matches(r: &ClusterRecord, t: &filter::Term) -> bool {
    let c = &r.cluster;
    let any_of = |v: &str| t.value.split(',').map(str::trim).any(|x| x == v);
    match &t.key {
        Key::RegionProvider => c.region.cloud_provider == t.value,
        Key::RegionName => c.region.name == t.value,
        Key::State => c.state == t.value,
        Key::ProjectId => any_of(r.project()),
        Key::ClusterId => any_of(&c.cluster_id),
        Key::DisplayName => c.display_name == t.value,
        Key::Label(k) => c.labels.get(k) == Some(&t.value),
    }
}
