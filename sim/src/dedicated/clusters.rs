//! Clusters: validation, the state machine and the cluster and node-group endpoints.
use super::model::*;
use super::{Dedicated, check_id, created_by, new_id, timestamp};
use crate::api::{ApiRequest, ApiResponse};
use crate::catalog::{Catalog, NodeSpec};
use crate::error::ApiError;
use crate::paging::paginate;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

pub const LABEL_PROJECT: &str = "tidb.cloud/project";
pub const LABEL_ORG: &str = "tidb.cloud/organization";
const ANN_HAS_PASSWORD: &str = "tidb.cloud/has-set-password";
const ANN_FEATURES: &str = "tidb.cloud/available-features";

static DISPLAY_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[A-Za-z0-9][-A-Za-z0-9]{2,62}[A-Za-z0-9]$")
        .expect("display name pattern compiles")
});

const STATES: &[&str] = &[
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

/// A transition in progress: at `at` the cluster becomes `to` (or disappears when `to` is `None`).
#[derive(Debug, Clone)]
pub struct Pending {
    pub at: Instant,
    pub to: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct ClusterRecord {
    pub cluster: Cluster,
    /// The secret root password (never part of a response).
    pub root_password: String,
    pub pending: Option<Pending>,
    pub gone: bool,
    /// Node group transitions and public endpoint settings (`node_groups.rs`).
    pub groups: super::node_groups::NodeGroupState,
}

impl ClusterRecord {
    pub fn advance(&mut self, now: Instant) {
        let Some(p) = &self.pending else { return };
        if now < p.at {
            return;
        }
        match p.to {
            None => self.gone = true,
            Some(state) => {
                self.cluster.state = state.to_string();
                self.cluster.update_time = timestamp();
                if state == "ACTIVE" {
                    self.cluster.pause_plan = None;
                }
            }
        }
        self.pending = None;
    }

    fn transition(&mut self, now_state: &str, then: Option<&'static str>, after: Duration) {
        self.cluster.state = now_state.to_string();
        self.cluster.update_time = timestamp();
        self.pending = Some(Pending {
            at: Instant::now() + after,
            to: then,
        });
    }

    fn project(&self) -> &str {
        self.cluster
            .labels
            .get(LABEL_PROJECT)
            .map(String::as_str)
            .unwrap_or_default()
    }

    fn nodes(&self, component: &str) -> i32 {
        match component {
            "TIDB" => self
                .cluster
                .tidb_node_setting
                .tidb_node_groups
                .iter()
                .map(|g| g.node_count)
                .sum(),
            "TIKV" => self.cluster.tikv_node_setting.node_count,
            "TIFLASH" => self
                .cluster
                .tiflash_node_setting
                .as_ref()
                .map_or(0, |s| s.node_count),
            _ => 0,
        }
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

fn spec<'a>(
    catalog: &'a Catalog,
    region: &str,
    component: &str,
    key: &str,
    field: &str,
) -> Result<&'a NodeSpec, ApiError> {
    catalog.node_spec(region, component, key).ok_or_else(|| {
        ApiError::invalid(format!(
            "{field}.nodeSpecKey {key:?} is not available for {component} in region {region} \
             (see GET /v1beta1/regions/{region}/nodeSpecs?componentType={component})"
        ))
    })
}

fn check_storage(spec: &NodeSpec, field: &str, size: i32) -> Result<(), ApiError> {
    if size < spec.min_storage_size_gi || size > spec.max_storage_size_gi {
        return Err(ApiError::invalid(format!(
            "{field}.storageSizeGi {size} is out of range for node spec {}: it must be between {} and {}",
            spec.node_spec_key, spec.min_storage_size_gi, spec.max_storage_size_gi
        )));
    }
    Ok(())
}

fn check_storage_type(spec: &NodeSpec, field: &str, t: &str) -> Result<(), ApiError> {
    if !["Basic", "Standard", "Performance", "Plus"].contains(&t) {
        return Err(ApiError::invalid(format!(
            "{field}.storageType {t:?} is invalid: it must be one of Basic, Standard, Performance, Plus"
        )));
    }
    if !spec.storage_types.is_empty() && !spec.storage_types.iter().any(|s| s == t) {
        return Err(ApiError::invalid(format!(
            "{field}.storageType {t:?} is not supported by node spec {} in {}: supported are {}",
            spec.node_spec_key,
            spec.region_id,
            spec.storage_types.join(", ")
        )));
    }
    Ok(())
}

fn check_iops(spec: &NodeSpec, field: &str, iops: Option<i32>) -> Result<(), ApiError> {
    if let Some(v) = iops {
        match (spec.min_raft_store_iops, spec.max_raft_store_iops) {
            (Some(lo), Some(hi)) if v >= lo && v <= hi => {}
            (Some(lo), Some(hi)) => {
                return Err(ApiError::invalid(format!(
                    "{field}.raftStoreIops {v} must be between {lo} and {hi}"
                )));
            }
            _ => {
                return Err(ApiError::invalid(format!(
                    "{field}.raftStoreIops is not supported by node spec {} in {}",
                    spec.node_spec_key, spec.region_id
                )));
            }
        }
    }
    Ok(())
}

fn check_tikv_count(field: &str, n: i32) -> Result<(), ApiError> {
    if n < 3 || n % 3 != 0 {
        return Err(ApiError::invalid(format!(
            "{field}.nodeCount {n} is invalid: TiKV needs at least 3 nodes, in steps of 3"
        )));
    }
    Ok(())
}

/// Builds a storage node setting (TiKV or TiFlash) from a create input.
fn storage_setting(
    catalog: &Catalog,
    region: &str,
    component: &str,
    field: &str,
    input: &StorageNodeSettingInput,
) -> Result<StorageNodeSetting, ApiError> {
    let key = input
        .node_spec_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("{field}.nodeSpecKey is required")))?;
    let spec = spec(catalog, region, component, key, field)?;
    let count = input
        .node_count
        .ok_or_else(|| ApiError::invalid(format!("{field}.nodeCount is required")))?;
    if component == "TIKV" {
        check_tikv_count(field, count)?;
    } else if count < 1 {
        return Err(ApiError::invalid(format!(
            "{field}.nodeCount must be at least 1, got {count}"
        )));
    }
    let size = match input.storage_size_gi {
        None | Some(0) => {
            return Err(ApiError::invalid(format!(
                "{field}.storageSizeGi is required"
            )));
        }
        Some(s) => s,
    };
    check_storage(spec, field, size)?;
    let storage_type = match input.storage_type.as_deref() {
        None | Some("") => spec
            .storage_types
            .first()
            .cloned()
            .unwrap_or_else(|| "Standard".into()),
        Some(t) => {
            check_storage_type(spec, field, t)?;
            t.to_string()
        }
    };
    check_iops(spec, field, input.raft_store_iops)?;
    Ok(StorageNodeSetting {
        node_count: count,
        node_spec_key: spec.node_spec_key.clone(),
        node_spec_version: spec.version.clone(),
        storage_size_gi: size,
        storage_type,
        raft_store_iops: input.raft_store_iops,
        node_spec_display_name: spec.display_name.clone(),
    })
}

fn endpoints(cluster_id: &str, port: i32) -> Vec<Endpoint> {
    let tag = &cluster_id[cluster_id.len().saturating_sub(8)..];
    vec![
        Endpoint {
            host: format!("tidb.{tag}.clusters.tidb-cloud.com"),
            port,
            connection_type: "PUBLIC".into(),
        },
        Endpoint {
            host: format!("private-tidb.{tag}.clusters.tidb-cloud.com"),
            port,
            connection_type: "VPC_PEERING".into(),
        },
        // The private endpoint has no host until a private link service exists (as observed).
        Endpoint {
            host: String::new(),
            port,
            connection_type: "PRIVATE_ENDPOINT".into(),
        },
    ]
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListClusters<'a> {
    clusters: Vec<&'a Cluster>,
    total_size: i32,
    next_page_token: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListNodeGroups<'a> {
    tidb_node_groups: Vec<&'a TidbNodeGroup>,
    total_size: i32,
    next_page_token: String,
}

#[derive(Serialize)]
struct Wrapped<'a> {
    cluster: &'a Cluster,
}

impl Dedicated {
    pub(super) fn check_quota(
        &self,
        records: &[ClusterRecord],
        skip_id: Option<&str>,
        new: &Cluster,
    ) -> Result<(), ApiError> {
        let draft = ClusterRecord {
            cluster: new.clone(),
            root_password: String::new(),
            pending: None,
            gone: false,
            groups: Default::default(),
        };
        for (component, quota) in &self.node_quota {
            let used: i32 = records
                .iter()
                .filter(|r| {
                    Some(r.cluster.cluster_id.as_str()) != skip_id && r.cluster.state != "DELETING"
                })
                .map(|r| r.nodes(component))
                .sum();
            let want = draft.nodes(component);
            if want > 0 && used + want > *quota {
                return Err(ApiError::invalid(format!(
                    "node quota exceeded for {component}: {used} nodes in use + {want} requested > quota {quota} \
                     (see GET /v1beta1/clusters:showNodeQuota; ask support to raise it)"
                )));
            }
        }
        Ok(())
    }

    pub(super) fn list_clusters(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let project = req
            .query_one("projectId")
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let project = project.unwrap_or_else(|| self.catalog.default_project().id.clone());
        let ids = req.query_all("clusterIds");
        let regions = req.query_all("regionIds");
        let states = req.query_all("clusterStates");
        for s in &states {
            if !STATES.contains(s) {
                return Err(ApiError::invalid(format!(
                    "clusterStates {s:?} is not a cluster state ({})",
                    STATES.join(", ")
                )));
            }
        }
        let s = self.state();
        let items: Vec<&Cluster> = s
            .clusters
            .iter()
            .filter(|r| r.project() == project)
            .filter(|r| ids.is_empty() || ids.contains(&r.cluster.cluster_id.as_str()))
            .filter(|r| regions.is_empty() || regions.contains(&r.cluster.region_id.as_str()))
            .filter(|r| states.is_empty() || states.contains(&r.cluster.state.as_str()))
            .map(|r| &r.cluster)
            .collect();
        let page = paginate(req, items, 10)?;
        ApiResponse::ok(&ListClusters {
            clusters: page.items,
            total_size: page.total as i32,
            next_page_token: page.next_token,
        })
    }

    pub(super) fn get_cluster(&self, id: &str) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", id)?;
        let s = self.state();
        ApiResponse::ok(&s.cluster(id)?.cluster)
    }

    pub(super) fn create_cluster(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let body: CreateCluster = req.json()?;
        let validate_only = req.query_bool("validateOnly")?;
        let display_name = body.display_name.clone().unwrap_or_default();
        if display_name.is_empty() {
            return Err(ApiError::invalid("displayName is required"));
        }
        validate_display_name(&display_name)?;
        let region_id = body
            .region_id
            .clone()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ApiError::invalid("regionId is required"))?;
        let region = self.catalog.region(&region_id).ok_or_else(|| {
            ApiError::invalid(format!(
                "regionId {region_id:?} is not a region (see GET /v1beta1/regions)"
            ))
        })?;
        let mut labels = BTreeMap::new();
        for (k, v) in body.labels.clone().unwrap_or_default() {
            if k != LABEL_PROJECT {
                return Err(ApiError::invalid(format!(
                    "label {k:?} is not allowed: only {LABEL_PROJECT} can be set on create"
                )));
            }
            labels.insert(k, v);
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
        let port = match body.port {
            None | Some(0) => 4000,
            Some(p) if (1024..=65535).contains(&p) => p,
            Some(p) => {
                return Err(ApiError::invalid(format!(
                    "port {p} is invalid: it must be between 1024 and 65535"
                )));
            }
        };
        let password = body.root_password.clone().unwrap_or_default();
        if !password.is_empty() && !(8..=64).contains(&password.chars().count()) {
            return Err(ApiError::invalid(
                "rootPassword must be 8 to 64 characters long",
            ));
        }
        let tidb = body
            .tidb_node_setting
            .clone()
            .ok_or_else(|| ApiError::invalid("tidbNodeSetting is required"))?;
        let tidb_key = tidb
            .node_spec_key
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::invalid("tidbNodeSetting.nodeSpecKey is required"))?;
        let tidb_spec = spec(
            &self.catalog,
            &region_id,
            "TIDB",
            &tidb_key,
            "tidbNodeSetting",
        )?;
        let groups = tidb.tidb_node_groups.clone().unwrap_or_default();
        if groups.len() != 1 {
            return Err(ApiError::invalid(format!(
                "tidbNodeSetting.tidbNodeGroups must have exactly one element on create, got {}",
                groups.len()
            )));
        }
        let tiproxy_setting =
            super::node_groups::tiproxy_from_value(&groups[0].tiproxy_setting)?.flatten();
        let node_count = groups[0].node_count.unwrap_or(0);
        if node_count < 1 {
            return Err(ApiError::invalid(
                "tidbNodeSetting.tidbNodeGroups[0].nodeCount must be at least 1",
            ));
        }
        let tikv_in = body
            .tikv_node_setting
            .clone()
            .ok_or_else(|| ApiError::invalid("tikvNodeSetting is required"))?;
        let tikv = storage_setting(
            &self.catalog,
            &region_id,
            "TIKV",
            "tikvNodeSetting",
            &tikv_in,
        )?;
        let tiflash = match &body.tiflash_node_setting {
            None => None,
            Some(t) => Some(storage_setting(
                &self.catalog,
                &region_id,
                "TIFLASH",
                "tiflashNodeSetting",
                t,
            )?),
        };
        let cluster_id = new_id();
        let group_id = new_id();
        let now = timestamp();
        let cluster = Cluster {
            name: format!("clusters/{cluster_id}"),
            cluster_id: cluster_id.clone(),
            display_name,
            region_id: region_id.clone(),
            labels,
            tidb_node_setting: TidbNodeSetting {
                node_spec_key: tidb_spec.node_spec_key.clone(),
                node_spec_display_name: tidb_spec.display_name.clone(),
                node_spec_version: tidb_spec.version.clone(),
                tidb_node_groups: vec![TidbNodeGroup {
                    name: format!("tidbNodeGroups/{group_id}"),
                    tidb_node_group_id: group_id,
                    cluster_id: cluster_id.clone(),
                    display_name: "DefaultGroup".into(),
                    node_count,
                    endpoints: endpoints(&cluster_id, port),
                    node_spec_key: tidb_spec.node_spec_key.clone(),
                    node_spec_version: tidb_spec.version.clone(),
                    node_spec_display_name: tidb_spec.display_name.clone(),
                    is_default_group: true,
                    state: "ACTIVE".into(),
                    tiproxy_setting,
                }],
            },
            tikv_node_setting: tikv,
            tiflash_node_setting: tiflash,
            port,
            root_password: String::new(),
            state: "CREATING".into(),
            version: self.catalog.tidb_version.clone(),
            created_by: created_by(&req.public_key),
            create_time: now.clone(),
            update_time: now,
            pause_plan: None,
            region_display_name: region.display_name.clone(),
            cloud_provider: region.cloud_provider.clone(),
            annotations: BTreeMap::from([
                (
                    ANN_FEATURES.to_string(),
                    "DISABLE_PUBLIC_LB,PRIVATELINK,DELEGATE_USER".to_string(),
                ),
                (
                    ANN_HAS_PASSWORD.to_string(),
                    (!password.is_empty()).to_string(),
                ),
            ]),
        };
        let mut s = self.state();
        self.check_quota(&s.clusters, None, &cluster)?;
        if validate_only {
            return ApiResponse::ok(&cluster);
        }
        let mut record = ClusterRecord {
            cluster,
            root_password: password,
            pending: None,
            gone: false,
            groups: Default::default(),
        };
        record.transition("CREATING", Some("ACTIVE"), self.delays.cluster_create);
        let out = ApiResponse::ok(&record.cluster)?.committed();
        s.clusters.push(record);
        Ok(out)
    }

    pub(super) fn update_cluster(
        &self,
        id: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", id)?;
        let body: UpdateCluster = req.json()?;
        let validate_only = req.query_bool("validateOnly")?;
        let mut s = self.state();
        let current = s.cluster(id)?.clone();
        let c = &current.cluster;
        if let Some(b) = body.cluster_id.as_deref().filter(|b| !b.is_empty())
            && b != id
        {
            return Err(ApiError::invalid(format!(
                "clusterId {b:?} in the body does not match the path ({id})"
            )));
        }
        if let Some(r) = &body.region_id
            && r != &c.region_id
        {
            return Err(ApiError::invalid(format!(
                "regionId is immutable: the cluster is in {}, cannot change it to {r}",
                c.region_id
            )));
        }
        if let Some(p) = body.port
            && p != c.port
        {
            return Err(ApiError::invalid(format!(
                "port is immutable: the cluster uses {}, cannot change it to {p}",
                c.port
            )));
        }
        if body.root_password.is_some() {
            return Err(ApiError::invalid(
                "rootPassword cannot be updated here: use POST /v1beta1/clusters/{clusterId}:resetRootPassword",
            ));
        }
        if let Some(labels) = &body.labels {
            let changed = labels.iter().any(|(k, v)| c.labels.get(k) != Some(v));
            if changed {
                return Err(ApiError::invalid(
                    "labels cannot be updated: the project of a cluster is fixed at create",
                ));
            }
        }
        if c.state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "cluster {id} is {}: it can be modified only when ACTIVE",
                c.state
            )));
        }
        let mut next = c.clone();
        if let Some(n) = body.display_name.as_deref().filter(|n| !n.is_empty()) {
            validate_display_name(n)?;
            next.display_name = n.to_string();
        }
        let region = c.region_id.clone();
        if let Some(t) = &body.tidb_node_setting {
            if let Some(key) = t.node_spec_key.as_deref().filter(|k| !k.is_empty()) {
                let sp = spec(&self.catalog, &region, "TIDB", key, "tidbNodeSetting")?;
                next.tidb_node_setting.node_spec_key = sp.node_spec_key.clone();
                next.tidb_node_setting.node_spec_display_name = sp.display_name.clone();
                for g in next.tidb_node_setting.tidb_node_groups.iter_mut() {
                    g.node_spec_key = sp.node_spec_key.clone();
                    g.node_spec_display_name = sp.display_name.clone();
                }
            }
            for (i, g) in t
                .tidb_node_groups
                .clone()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let gid = g.tidb_node_group_id.clone().unwrap_or_default();
                let target = next
                    .tidb_node_setting
                    .tidb_node_groups
                    .iter_mut()
                    .find(|x| if gid.is_empty() { x.is_default_group } else { x.tidb_node_group_id == gid })
                    .ok_or_else(|| {
                        ApiError::invalid(format!("tidbNodeSetting.tidbNodeGroups[{i}].tidbNodeGroupId {gid:?} is not a node group of cluster {id}"))
                    })?;
                match g.node_count {
                    None | Some(0) => {}
                    Some(n) if n < 1 => {
                        return Err(ApiError::invalid(format!(
                            "tidbNodeSetting.tidbNodeGroups[{i}].nodeCount must be at least 1, got {n}"
                        )));
                    }
                    Some(n) => target.node_count = n,
                }
                if let Some(t) = super::node_groups::tiproxy_from_value(&g.tiproxy_setting)? {
                    target.tiproxy_setting = t;
                }
            }
        }
        if let Some(t) = &body.tikv_node_setting {
            apply_storage_update(
                &self.catalog,
                &region,
                "TIKV",
                "tikvNodeSetting",
                t,
                &mut next.tikv_node_setting,
            )?;
        }
        if let Some(t) = &body.tiflash_node_setting {
            match (&mut next.tiflash_node_setting, t.node_count) {
                (_, Some(0)) => next.tiflash_node_setting = None,
                (Some(existing), _) => apply_storage_update(
                    &self.catalog,
                    &region,
                    "TIFLASH",
                    "tiflashNodeSetting",
                    t,
                    existing,
                )?,
                (None, _) => {
                    next.tiflash_node_setting = Some(storage_setting(
                        &self.catalog,
                        &region,
                        "TIFLASH",
                        "tiflashNodeSetting",
                        t,
                    )?)
                }
            }
        }
        let topology_changed = serde_json::to_value((
            &next.tidb_node_setting,
            &next.tikv_node_setting,
            &next.tiflash_node_setting,
        ))
        .ok()
            != serde_json::to_value((
                &c.tidb_node_setting,
                &c.tikv_node_setting,
                &c.tiflash_node_setting,
            ))
            .ok();
        if topology_changed {
            self.check_quota(&s.clusters, Some(id), &next)?;
        }
        if validate_only {
            return ApiResponse::ok(&next);
        }
        let name_changed = next.display_name != c.display_name;
        let record = s.cluster_mut(id)?;
        record.cluster = next;
        if topology_changed {
            record.transition("MODIFYING", Some("ACTIVE"), self.delays.cluster_modify);
        } else if name_changed {
            record.cluster.update_time = timestamp();
        }
        let out = ApiResponse::ok(&record.cluster)?;
        Ok(if topology_changed || name_changed {
            out.committed()
        } else {
            out
        })
    }

    pub(super) fn delete_cluster(
        &self,
        id: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", id)?;
        let validate_only = req.query_bool("validateOnly")?;
        let delay = self.delays.cluster_delete;
        let mut s = self.state();
        let record = s.cluster_mut(id)?;
        if validate_only {
            return ApiResponse::ok(&record.cluster);
        }
        if record.cluster.state != "DELETING" {
            record.transition("DELETING", None, delay);
        }
        Ok(ApiResponse::ok(&record.cluster)?.committed())
    }

    pub(super) fn pause_cluster(
        &self,
        id: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", id)?;
        let _: Empty = req.json()?;
        let delay = self.delays.cluster_pause;
        let mut s = self.state();
        let busy_import = s.imports.iter().any(|i| {
            i.import.cluster_id == id
                && matches!(i.import.state.as_str(), "PREPARING" | "IMPORTING")
        });
        let record = s.cluster_mut(id)?;
        if record.cluster.state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "cluster {id} is {}: only an ACTIVE cluster can be paused",
                record.cluster.state
            )));
        }
        if busy_import {
            return Err(ApiError::invalid(format!(
                "cluster {id} has an import in progress: it cannot be paused until the import ends"
            )));
        }
        record.cluster.pause_plan = Some(PausePlan {
            pause_type: "NORMAL".into(),
        });
        record.transition("PAUSING", Some("PAUSED"), delay);
        Ok(ApiResponse::ok(&Wrapped {
            cluster: &record.cluster,
        })?
        .committed())
    }

    pub(super) fn resume_cluster(
        &self,
        id: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", id)?;
        let _: Empty = req.json()?;
        let delay = self.delays.cluster_resume;
        let mut s = self.state();
        let record = s.cluster_mut(id)?;
        if record.cluster.state != "PAUSED" {
            return Err(ApiError::invalid(format!(
                "cluster {id} is {}: only a PAUSED cluster can be resumed",
                record.cluster.state
            )));
        }
        record.transition("RESUMING", Some("ACTIVE"), delay);
        Ok(ApiResponse::ok(&Wrapped {
            cluster: &record.cluster,
        })?
        .committed())
    }

    pub(super) fn reset_root_password(
        &self,
        id: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", id)?;
        let body: ResetRootPassword = req.json()?;
        let password = body.root_password.unwrap_or_default();
        if !(8..=64).contains(&password.chars().count()) {
            return Err(ApiError::invalid(
                "rootPassword must be 8 to 64 characters long",
            ));
        }
        let mut s = self.state();
        let record = s.cluster_mut(id)?;
        if record.cluster.state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "cluster {id} is {}: the root password can be reset only when the cluster is ACTIVE",
                record.cluster.state
            )));
        }
        record.root_password = password;
        record
            .cluster
            .annotations
            .insert(ANN_HAS_PASSWORD.into(), "true".into());
        record.cluster.update_time = timestamp();
        Ok(ApiResponse::ok(&serde_json::json!({}))?.committed())
    }

    pub(super) fn show_node_quota(&self) -> Result<ApiResponse, ApiError> {
        let quotas: Vec<_> = self
            .node_quota
            .iter()
            .map(|(k, v)| serde_json::json!({"componentType": k, "quota": v}))
            .collect();
        ApiResponse::ok(&serde_json::json!({ "componentQuotas": quotas }))
    }

    pub(super) fn list_node_groups(
        &self,
        id: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", id)?;
        let s = self.state();
        let c = s.cluster(id)?;
        let items: Vec<&TidbNodeGroup> = c
            .cluster
            .tidb_node_setting
            .tidb_node_groups
            .iter()
            .collect();
        let page = paginate(req, items, 10)?;
        ApiResponse::ok(&ListNodeGroups {
            tidb_node_groups: page.items,
            total_size: page.total as i32,
            next_page_token: page.next_token,
        })
    }

    pub(super) fn get_node_group(&self, id: &str, gid: &str) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", id)?;
        let s = self.state();
        let c = s.cluster(id)?;
        let g = c
            .cluster
            .tidb_node_setting
            .tidb_node_groups
            .iter()
            .find(|g| g.tidb_node_group_id == gid)
            .ok_or_else(|| {
                ApiError::not_found(format!("TiDB node group {gid} not found in cluster {id}"))
            })?;
        ApiResponse::ok(g)
    }
}

fn apply_storage_update(
    catalog: &Catalog,
    region: &str,
    component: &str,
    field: &str,
    input: &StorageNodeSettingInput,
    target: &mut StorageNodeSetting,
) -> Result<(), ApiError> {
    let key = input
        .node_spec_key
        .clone()
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| target.node_spec_key.clone());
    let sp = spec(catalog, region, component, &key, field)?;
    target.node_spec_key = sp.node_spec_key.clone();
    target.node_spec_display_name = sp.display_name.clone();
    match input.node_count {
        None | Some(0) => {}
        Some(n) if component == "TIKV" => {
            check_tikv_count(field, n)?;
            target.node_count = n;
        }
        Some(n) if n < 1 => {
            return Err(ApiError::invalid(format!(
                "{field}.nodeCount must be at least 1, got {n}"
            )));
        }
        Some(n) => target.node_count = n,
    }
    if let Some(size) = input.storage_size_gi.filter(|s| *s != 0) {
        target.storage_size_gi = size;
    }
    check_storage(sp, field, target.storage_size_gi)?;
    if let Some(t) = input.storage_type.as_deref().filter(|t| !t.is_empty()) {
        check_storage_type(sp, field, t)?;
        target.storage_type = t.to_string();
    }
    if input.raft_store_iops.is_some() {
        check_iops(sp, field, input.raft_store_iops)?;
        target.raft_store_iops = input.raft_store_iops;
    }
    Ok(())
}
