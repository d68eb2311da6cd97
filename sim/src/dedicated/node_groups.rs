//! TiDB node groups beyond the default one: create, update (node count, display name, TiProxy), delete, and
//! their state machine (`dedicatedv1beta1TidbNodeGroupState` is only `ACTIVE | MODIFYING | PAUSED`, so a
//! group being created, resized or deleted is `MODIFYING`; a deleted group then disappears).
//!
//! While any group of a cluster is `MODIFYING`, the cluster is `MODIFYING` too (its TiDB topology is
//! changing, as with a cluster PATCH); it returns to `ACTIVE` when the last group settles. Group operations
//! are accepted while the cluster is `ACTIVE` or `MODIFYING` only because of other groups, so that several
//! groups can be created at once (Terraform creates resources in parallel); a cluster PATCH, pause or
//! password reset still needs an `ACTIVE` cluster.
use super::clusters::{ClusterRecord, Pending};
use super::endpoint_settings::PublicEndpointSetting;
use super::model::{Endpoint, TiProxySetting, TidbNodeGroup};
use super::{Dedicated, check_id, new_id, timestamp};
use crate::api::{ApiRequest, ApiResponse};
use crate::error::ApiError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Instant;

/// The pattern of display names (the cluster rule of the public Dedicated spec: 4–64 letters, digits and
/// hyphens, starting and ending with a letter or digit; applied to groups too).
static GROUP_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[A-Za-z0-9][-A-Za-z0-9]{2,62}[A-Za-z0-9]$")
        .expect("group name pattern compiles")
});

/// TiProxy node specs (the spec's example `2C4G`; Terraform's SMALL = 2 vCPU 4 GiB, LARGE = 8 vCPU 16 GiB).
const TIPROXY_SPECS: &[(&str, &str)] = &[("2C4G", "2 vCPU, 4 GiB"), ("8C16G", "8 vCPU, 16 GiB")];

/// Per-cluster state of the node groups that the wire objects do not carry.
#[derive(Debug, Clone, Default)]
pub struct NodeGroupState {
    /// Groups in a transition, by id: to `ACTIVE`, or gone (`to: None`).
    pub pending: BTreeMap<String, Pending>,
    /// Public endpoint settings by group id (a group without an entry has its initial setting).
    pub public: BTreeMap<String, PublicEndpointSetting>,
}

impl ClusterRecord {
    /// Applies the due group transitions, then derives the cluster's state from its groups: `MODIFYING`
    /// (without a cluster transition of its own) ends when no group changes any more; while the cluster is
    /// `PAUSED` its non-default groups show `PAUSED` (the default one stays `ACTIVE`, as observed).
    pub fn advance_groups(&mut self, now: Instant) {
        let due: Vec<(String, Option<&'static str>)> = self
            .groups
            .pending
            .iter()
            .filter(|(_, p)| now >= p.at)
            .map(|(id, p)| (id.clone(), p.to))
            .collect();
        for (gid, to) in due {
            self.groups.pending.remove(&gid);
            let groups = &mut self.cluster.tidb_node_setting.tidb_node_groups;
            match to {
                None => {
                    groups.retain(|g| g.tidb_node_group_id != gid);
                    self.groups.public.remove(&gid);
                }
                Some(state) => {
                    if let Some(g) = groups.iter_mut().find(|g| g.tidb_node_group_id == gid) {
                        g.state = state.to_string();
                    }
                }
            }
            self.cluster.update_time = timestamp();
        }
        if self.groups.pending.is_empty()
            && self.pending.is_none()
            && self.cluster.state == "MODIFYING"
        {
            self.cluster.state = "ACTIVE".into();
            self.cluster.update_time = timestamp();
        }
        let paused = self.cluster.state == "PAUSED";
        for g in self.cluster.tidb_node_setting.tidb_node_groups.iter_mut() {
            if g.is_default_group {
                continue;
            }
            match (paused, g.state.as_str()) {
                (true, "ACTIVE") => g.state = "PAUSED".into(),
                (false, "PAUSED") => g.state = "ACTIVE".into(),
                _ => {}
            }
        }
    }

    pub(super) fn group(&self, gid: &str) -> Result<&TidbNodeGroup, ApiError> {
        self.cluster
            .tidb_node_setting
            .tidb_node_groups
            .iter()
            .find(|g| g.tidb_node_group_id == gid)
            .ok_or_else(|| not_found_group(&self.cluster.cluster_id, gid))
    }

    fn group_mut(&mut self, gid: &str) -> Result<&mut TidbNodeGroup, ApiError> {
        let cid = self.cluster.cluster_id.clone();
        self.cluster
            .tidb_node_setting
            .tidb_node_groups
            .iter_mut()
            .find(|g| g.tidb_node_group_id == gid)
            .ok_or_else(|| not_found_group(&cid, gid))
    }

    /// The id of the default group (`-` in a path).
    pub(super) fn default_group_id(&self) -> Option<&str> {
        self.cluster
            .tidb_node_setting
            .tidb_node_groups
            .iter()
            .find(|g| g.is_default_group)
            .map(|g| g.tidb_node_group_id.as_str())
    }

    /// Node groups may change while the cluster is `ACTIVE`, or `MODIFYING` only because other groups are.
    fn check_groups_writable(&self) -> Result<(), ApiError> {
        let c = &self.cluster;
        let by_groups = c.state == "MODIFYING" && self.pending.is_none();
        if c.state == "ACTIVE" || by_groups {
            return Ok(());
        }
        Err(ApiError::invalid(format!(
            "cluster {} is {}: its TiDB node groups can be changed only when it is ACTIVE",
            c.cluster_id, c.state
        )))
    }

    /// Starts a group transition (the group is `MODIFYING` at once) and makes the cluster `MODIFYING`.
    fn start_group_transition(
        &mut self,
        gid: &str,
        to: Option<&'static str>,
        after: std::time::Duration,
    ) {
        if let Ok(g) = self.group_mut(gid) {
            g.state = "MODIFYING".into();
        }
        self.groups.pending.insert(
            gid.to_string(),
            Pending {
                at: Instant::now() + after,
                to,
            },
        );
        if self.cluster.state == "ACTIVE" {
            self.cluster.state = "MODIFYING".into();
        }
        self.cluster.update_time = timestamp();
    }

    fn check_unique_name(&self, name: &str, except: Option<&str>) -> Result<(), ApiError> {
        let taken = self
            .cluster
            .tidb_node_setting
            .tidb_node_groups
            .iter()
            .any(|g| g.display_name == name && Some(g.tidb_node_group_id.as_str()) != except);
        if taken {
            return Err(ApiError::invalid(format!(
                "displayName {name:?} is already used by another TiDB node group of cluster {}",
                self.cluster.cluster_id
            )));
        }
        Ok(())
    }
}

pub(super) fn not_found_group(cid: &str, gid: &str) -> ApiError {
    ApiError::not_found(format!("TiDB node group {gid} not found in cluster {cid}"))
}

fn validate_group_name(name: &str) -> Result<(), ApiError> {
    if !GROUP_NAME.is_match(name) {
        return Err(ApiError::invalid(format!(
            "displayName {name:?} is invalid: a TiDB node group name must be 4-64 characters of letters, \
             digits and hyphens, starting and ending with a letter or digit"
        )));
    }
    Ok(())
}

/// `tiproxySetting` as accepted (read-only fields are accepted and ignored).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)] // read-only fields are parsed only to be accepted
pub struct TiProxyInput {
    pub node_spec_key: Option<String>,
    pub node_count: Option<i32>,
    pub node_spec_version: Option<serde_json::Value>,
    pub node_spec_display_name: Option<serde_json::Value>,
}

/// The TiProxy setting a group gets from `input`: `None` when disabled (`nodeCount` absent, null or 0).
fn tiproxy(input: &TiProxyInput) -> Result<Option<TiProxySetting>, ApiError> {
    let key = input.node_spec_key.as_deref().unwrap_or_default();
    if key.is_empty() {
        return Err(ApiError::invalid("tiproxySetting.nodeSpecKey is required"));
    }
    let Some((key, display)) = TIPROXY_SPECS.iter().find(|(k, _)| *k == key) else {
        return Err(ApiError::invalid(format!(
            "tiproxySetting.nodeSpecKey {key:?} is not a TiProxy node spec (available: {})",
            TIPROXY_SPECS
                .iter()
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    match input.node_count {
        None | Some(0) => Ok(None),
        Some(n) if n < 0 => Err(ApiError::invalid(format!(
            "tiproxySetting.nodeCount must not be negative, got {n}"
        ))),
        Some(n) => Ok(Some(TiProxySetting {
            node_spec_key: key.to_string(),
            node_spec_version: "v1".into(),
            node_count: n,
            node_spec_display_name: display.to_string(),
        })),
    }
}

/// A `tiproxySetting` given as a JSON value (the cluster create and PATCH bodies): `None` when absent or
/// null (no change), else the setting it asks for (`Some(None)`: TiProxy off).
pub(super) fn tiproxy_from_value(
    v: &Option<serde_json::Value>,
) -> Result<Option<Option<TiProxySetting>>, ApiError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) if v.is_object() => {
            let input: TiProxyInput = serde_json::from_value(v.clone())
                .map_err(|e| ApiError::invalid(format!("invalid tiproxySetting: {e}")))?;
            tiproxy(&input).map(Some)
        }
        Some(_) => Err(ApiError::invalid(
            "invalid tiproxySetting: expected a JSON object",
        )),
    }
}

/// The endpoints of a group: the default group keeps the cluster's hosts; another group gets hosts of its
/// own. `PUBLIC` has no host and port 0 while the public endpoint is disabled (as observed on real
/// non-default groups); `PRIVATE_ENDPOINT` has no host until a private link exists.
pub(super) fn group_endpoints(
    cluster_id: &str,
    group_id: &str,
    is_default: bool,
    port: i32,
    public_enabled: bool,
) -> Vec<Endpoint> {
    let tag = &cluster_id[cluster_id.len().saturating_sub(8)..];
    let prefix = if is_default {
        "tidb".to_string()
    } else {
        format!("tidb-{}", &group_id[group_id.len().saturating_sub(6)..])
    };
    let (public_host, public_port) = if public_enabled {
        (format!("{prefix}.{tag}.clusters.tidb-cloud.com"), port)
    } else {
        (String::new(), 0)
    };
    vec![
        Endpoint {
            host: public_host,
            port: public_port,
            connection_type: "PUBLIC".into(),
        },
        Endpoint {
            host: format!("private-{prefix}.{tag}.clusters.tidb-cloud.com"),
            port,
            connection_type: "VPC_PEERING".into(),
        },
        Endpoint {
            host: String::new(),
            port,
            connection_type: "PRIVATE_ENDPOINT".into(),
        },
    ]
}

/// Create body: a TidbNodeGroup (`nodeCount` required). Read-only fields are accepted and ignored.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)] // read-only fields are parsed only to be accepted
struct CreateNodeGroup {
    node_count: Option<i32>,
    display_name: Option<String>,
    cluster_id: Option<String>,
    node_spec_key: Option<String>,
    tiproxy_setting: Option<TiProxyInput>,
    // read-only, ignored
    name: Option<serde_json::Value>,
    tidb_node_group_id: Option<serde_json::Value>,
    endpoints: Option<serde_json::Value>,
    node_spec_version: Option<serde_json::Value>,
    node_spec_display_name: Option<serde_json::Value>,
    is_default_group: Option<serde_json::Value>,
    state: Option<serde_json::Value>,
    node_changing_progress: Option<serde_json::Value>,
    tiproxy_node_changing_progress: Option<serde_json::Value>,
}

/// PATCH body (`TidbNodeGroupServiceUpdateTidbNodeGroupBody`): only these three fields.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateNodeGroup {
    display_name: Option<String>,
    node_count: Option<i32>,
    tiproxy_setting: Option<TiProxyInput>,
}

impl Dedicated {
    pub(super) fn create_node_group(
        &self,
        cid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let body: CreateNodeGroup = req.json()?;
        let validate_only = req.query_bool("validateOnly")?;
        if let Some(b) = body.cluster_id.as_deref().filter(|b| !b.is_empty())
            && b != cid
        {
            return Err(ApiError::invalid(format!(
                "clusterId {b:?} in the body does not match the path ({cid})"
            )));
        }
        let node_count = match body.node_count {
            None => return Err(ApiError::invalid("nodeCount is required")),
            Some(n) if n < 1 => {
                return Err(ApiError::invalid(format!(
                    "nodeCount must be at least 1, got {n}"
                )));
            }
            Some(n) => n,
        };
        let tiproxy_setting = match &body.tiproxy_setting {
            None => None,
            Some(t) => tiproxy(t)?,
        };
        let mut s = self.state();
        let record = s.cluster(cid)?;
        record.check_groups_writable()?;
        let spec_key = record.cluster.tidb_node_setting.node_spec_key.clone();
        if let Some(k) = body.node_spec_key.as_deref().filter(|k| !k.is_empty())
            && k != spec_key
        {
            return Err(ApiError::invalid(format!(
                "nodeSpecKey {k:?} differs from the cluster's TiDB node spec {spec_key:?}: every TiDB node \
                 group of a cluster uses the cluster's TiDB node spec (change it with PATCH /v1beta1/clusters/{{clusterId}})"
            )));
        }
        let display_name = match body.display_name.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => {
                validate_group_name(n)?;
                n.to_string()
            }
            None => (1..)
                .map(|i| format!("TiDBGroup{i}"))
                .find(|n| record.check_unique_name(n, None).is_ok())
                .unwrap_or_default(),
        };
        record.check_unique_name(&display_name, None)?;
        let gid = new_id();
        let default = record
            .cluster
            .tidb_node_setting
            .tidb_node_groups
            .iter()
            .find(|g| g.is_default_group)
            .cloned();
        let c = &record.cluster;
        let group = TidbNodeGroup {
            name: format!("tidbNodeGroups/{gid}"),
            tidb_node_group_id: gid.clone(),
            cluster_id: cid.to_string(),
            display_name,
            node_count,
            endpoints: group_endpoints(cid, &gid, false, c.port, false),
            node_spec_key: spec_key,
            node_spec_version: default
                .as_ref()
                .map(|g| g.node_spec_version.clone())
                .unwrap_or_else(|| c.tidb_node_setting.node_spec_version.clone()),
            node_spec_display_name: c.tidb_node_setting.node_spec_display_name.clone(),
            is_default_group: false,
            state: "MODIFYING".into(),
            tiproxy_setting,
        };
        let mut next = c.clone();
        next.tidb_node_setting.tidb_node_groups.push(group.clone());
        self.check_quota(&s.clusters, Some(cid), &next)?;
        if validate_only {
            return ApiResponse::ok(&group);
        }
        let record = s.cluster_mut(cid)?;
        record
            .cluster
            .tidb_node_setting
            .tidb_node_groups
            .push(group);
        record
            .groups
            .public
            .insert(gid.clone(), PublicEndpointSetting::initial(&gid, false));
        record.start_group_transition(&gid, Some("ACTIVE"), self.delays.node_group_create);
        Ok(ApiResponse::ok(record.group(&gid)?)?.committed())
    }

    pub(super) fn update_node_group(
        &self,
        cid: &str,
        gid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let body: UpdateNodeGroup = req.json()?;
        let validate_only = req.query_bool("validateOnly")?;
        let mut s = self.state();
        let record = s.cluster(cid)?;
        let current = record.group(gid)?.clone();
        record.check_groups_writable()?;
        if current.state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "TiDB node group {gid} is {}: it can be modified only when ACTIVE",
                current.state
            )));
        }
        let mut next = current.clone();
        if let Some(n) = body.display_name.as_deref().filter(|n| !n.is_empty()) {
            validate_group_name(n)?;
            record.check_unique_name(n, Some(gid))?;
            next.display_name = n.to_string();
        }
        match body.node_count {
            None => {}
            Some(n) if n < 1 => {
                return Err(ApiError::invalid(format!(
                    "nodeCount must be at least 1, got {n}"
                )));
            }
            Some(n) => next.node_count = n,
        }
        if let Some(t) = &body.tiproxy_setting {
            next.tiproxy_setting = tiproxy(t)?;
        }
        let topology_changed = next.node_count != current.node_count
            || next.tiproxy_setting != current.tiproxy_setting;
        if topology_changed {
            let mut cluster = record.cluster.clone();
            if let Some(g) = cluster
                .tidb_node_setting
                .tidb_node_groups
                .iter_mut()
                .find(|g| g.tidb_node_group_id == gid)
            {
                *g = next.clone();
            }
            self.check_quota(&s.clusters, Some(cid), &cluster)?;
        }
        if validate_only {
            if topology_changed {
                next.state = "MODIFYING".into();
            }
            return ApiResponse::ok(&next);
        }
        let record = s.cluster_mut(cid)?;
        let name_changed = next.display_name != current.display_name;
        *record.group_mut(gid)? = next;
        if topology_changed {
            record.start_group_transition(gid, Some("ACTIVE"), self.delays.node_group_modify);
        } else if name_changed {
            record.cluster.update_time = timestamp();
        }
        let out = ApiResponse::ok(record.group(gid)?)?;
        Ok(if topology_changed || name_changed {
            out.committed()
        } else {
            out
        })
    }

    pub(super) fn delete_node_group(
        &self,
        cid: &str,
        gid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let validate_only = req.query_bool("validateOnly")?;
        let mut s = self.state();
        let record = s.cluster_mut(cid)?;
        let group = record.group(gid)?.clone();
        if group.is_default_group {
            return Err(ApiError::invalid(format!(
                "TiDB node group {gid} is the default group of cluster {cid}: the default group cannot be deleted"
            )));
        }
        // A group already being deleted answers the same again.
        if record
            .groups
            .pending
            .get(gid)
            .is_some_and(|p| p.to.is_none())
        {
            return ApiResponse::ok(&serde_json::json!({}));
        }
        record.check_groups_writable()?;
        if group.state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "TiDB node group {gid} is {}: it can be deleted only when ACTIVE",
                group.state
            )));
        }
        if validate_only {
            return ApiResponse::ok(&serde_json::json!({}));
        }
        record.start_group_transition(gid, None, self.delays.node_group_delete);
        Ok(ApiResponse::ok(&serde_json::json!({}))?.committed())
    }
}
