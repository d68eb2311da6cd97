//! The Dedicated v1beta1 API (`https://dedicated.tidbapi.com/v1beta1`): clusters, TiDB node groups,
//! regions and node specs, imports, integrations.
mod clusters;
mod endpoint_settings;
mod imports;
mod integrations;
pub mod model;
pub mod network;
mod node_groups;
mod project_counts;
mod regions;
mod restore;
pub mod sql_users;

use crate::api::{
    ApiModule, ApiRequest, ApiResponse, Method, Routed, method_not_allowed, split_verb,
};
use crate::catalog::Catalog;
use crate::config::{Delays, SimConfig};
use crate::error::{ApiError, ErrorShape};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

pub use clusters::ClusterRecord;
pub use imports::ImportRecord;
pub use integrations::IntegrationRecord;

/// Everything the dedicated API keeps.
#[derive(Debug, Default)]
pub struct State {
    /// Clusters in creation order.
    pub clusters: Vec<ClusterRecord>,
    pub imports: Vec<ImportRecord>,
    pub integrations: Vec<IntegrationRecord>,
    pub rejected_integration_keys: HashSet<String>,
    pub private_endpoints: Vec<network::PecRecord>,
    pub network_containers: Vec<network::NetworkContainer>,
    pub vpc_peerings: Vec<network::VpcPeeringRecord>,
    pub sql_users: Vec<sql_users::SqlUserRecord>,
}

impl State {
    /// Applies every transition whose time has come.
    pub fn tick(&mut self, now: Instant) {
        for c in self.clusters.iter_mut() {
            c.advance(now);
            c.advance_groups(now);
        }
        let gone: HashSet<String> = self
            .clusters
            .iter()
            .filter(|c| c.gone)
            .map(|c| c.cluster.cluster_id.clone())
            .collect();
        if !gone.is_empty() {
            self.clusters.retain(|c| !c.gone);
            self.imports
                .retain(|i| !gone.contains(&i.import.cluster_id));
            self.integrations.retain(|i| !gone.contains(&i.cluster_id));
        }
        for i in self.imports.iter_mut() {
            i.advance(now);
        }
        self.tick_network(now);
        self.tick_sql_users();
    }

    pub fn cluster(&self, id: &str) -> Result<&ClusterRecord, ApiError> {
        self.clusters
            .iter()
            .find(|c| c.cluster.cluster_id == id)
            .ok_or_else(|| not_found_cluster(id))
    }

    pub fn cluster_mut(&mut self, id: &str) -> Result<&mut ClusterRecord, ApiError> {
        self.clusters
            .iter_mut()
            .find(|c| c.cluster.cluster_id == id)
            .ok_or_else(|| not_found_cluster(id))
    }
}

fn not_found_cluster(id: &str) -> ApiError {
    ApiError::not_found(format!("cluster {id} not found"))
}

/// Ids are decimal strings of at most 20 digits (u64).
pub fn check_id(kind: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty()
        || id.len() > 20
        || !id.bytes().all(|b| b.is_ascii_digit())
        || id.parse::<u64>().is_err()
    {
        return Err(ApiError::invalid(format!(
            "invalid {kind} {id:?}: it must be a decimal number of at most 20 digits"
        )));
    }
    Ok(())
}

/// A new random id of 19–20 digits, as the service issues them.
pub fn new_id() -> String {
    use rand::Rng;
    rand::rng()
        .random_range(1_000_000_000_000_000_000u64..=u64::MAX)
        .to_string()
}

/// RFC 3339 UTC with milliseconds, e.g. `2025-04-17T09:31:12.647Z`.
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `createdBy` of resources made with an API key.
pub fn created_by(public_key: &str) -> String {
    let head: String = public_key.chars().take(8).collect();
    format!("apikey-{}", head.to_ascii_uppercase())
}

pub struct Dedicated {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) delays: Delays,
    pub(crate) node_quota: BTreeMap<String, i32>,
    pub(crate) import_fail_marker: String,
    initial_rejected: HashSet<String>,
    state: Mutex<State>,
}

impl Dedicated {
    pub fn new(catalog: Arc<Catalog>, config: &SimConfig) -> Dedicated {
        let mut node_quota = catalog.node_quota.clone();
        for (k, v) in &config.node_quota {
            node_quota.insert(k.to_ascii_uppercase(), *v);
        }
        let initial_rejected: HashSet<String> =
            config.rejected_integration_keys.iter().cloned().collect();
        Dedicated {
            catalog,
            delays: config.delays.clone(),
            node_quota,
            import_fail_marker: config.import_fail_marker.clone(),
            state: Mutex::new(State {
                rejected_integration_keys: initial_rejected.clone(),
                ..State::default()
            }),
            initial_rejected,
        }
    }

    /// The state with all due transitions applied.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.tick(Instant::now());
        s
    }

    fn dispatch(&self, req: &ApiRequest) -> Option<Routed> {
        let segs = req.segments();
        if segs.first() != Some(&"v1beta1") {
            return None;
        }
        if let Some(r) = self.network_route(req) {
            return Some(r);
        }
        let m = req.method;
        let routed = |route: &'static str, result: Result<ApiResponse, ApiError>| {
            Some(Routed { route, result })
        };
        match &segs[1..] {
            ["clusters"] => match m {
                Method::Get => routed("/v1beta1/clusters", self.list_clusters(req)),
                Method::Post => routed("/v1beta1/clusters", self.create_cluster(req)),
                _ => Some(method_not_allowed("/v1beta1/clusters", req)),
            },
            ["clusters:showNodeQuota"] => match m {
                Method::Get => routed("/v1beta1/clusters:showNodeQuota", self.show_node_quota()),
                _ => Some(method_not_allowed("/v1beta1/clusters:showNodeQuota", req)),
            },
            ["clusters", seg] => {
                let (id, verb) = split_verb(seg);
                match (verb, m) {
                    (None, Method::Get) => {
                        routed("/v1beta1/clusters/{clusterId}", self.get_cluster(id))
                    }
                    (None, Method::Patch) => routed(
                        "/v1beta1/clusters/{clusterId}",
                        self.update_cluster(id, req),
                    ),
                    (None, Method::Delete) => routed(
                        "/v1beta1/clusters/{clusterId}",
                        self.delete_cluster(id, req),
                    ),
                    (None, _) => Some(method_not_allowed("/v1beta1/clusters/{clusterId}", req)),
                    (Some("pauseCluster"), Method::Post) => routed(
                        "/v1beta1/clusters/{clusterId}:pauseCluster",
                        self.pause_cluster(id, req),
                    ),
                    (Some("resumeCluster"), Method::Post) => routed(
                        "/v1beta1/clusters/{clusterId}:resumeCluster",
                        self.resume_cluster(id, req),
                    ),
                    (Some("resetRootPassword"), Method::Post) => routed(
                        "/v1beta1/clusters/{clusterId}:resetRootPassword",
                        self.reset_root_password(id, req),
                    ),
                    _ => None,
                }
            }
            ["clusters", id, "tidbNodeGroups"] => match m {
                Method::Get => routed(
                    "/v1beta1/clusters/{clusterId}/tidbNodeGroups",
                    self.list_node_groups(id, req),
                ),
                Method::Post => routed(
                    "/v1beta1/clusters/{clusterId}/tidbNodeGroups",
                    self.create_node_group(id, req),
                ),
                _ => Some(method_not_allowed(
                    "/v1beta1/clusters/{clusterId}/tidbNodeGroups",
                    req,
                )),
            },
            ["clusters", id, "tidbNodeGroups", gid] => match m {
                Method::Get => routed(
                    "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}",
                    self.get_node_group(id, gid),
                ),
                Method::Patch => routed(
                    "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}",
                    self.update_node_group(id, gid, req),
                ),
                Method::Delete => routed(
                    "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}",
                    self.delete_node_group(id, gid, req),
                ),
                _ => Some(method_not_allowed(
                    "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}",
                    req,
                )),
            },
            [
                "clusters",
                id,
                "tidbNodeGroups",
                gid,
                "publicEndpointSetting",
            ] => match m {
                Method::Get => routed(
                    "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/publicEndpointSetting",
                    self.get_public_endpoint_setting(id, gid),
                ),
                Method::Patch => routed(
                    "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/publicEndpointSetting",
                    self.update_public_endpoint_setting(id, gid, req),
                ),
                _ => Some(method_not_allowed(
                    "/v1beta1/clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/publicEndpointSetting",
                    req,
                )),
            },
            ["clusters", id, "imports"] => match m {
                Method::Get => routed(
                    "/v1beta1/clusters/{clusterId}/imports",
                    self.list_imports(id, req),
                ),
                Method::Post => routed(
                    "/v1beta1/clusters/{clusterId}/imports",
                    self.create_import(id, req),
                ),
                _ => Some(method_not_allowed(
                    "/v1beta1/clusters/{clusterId}/imports",
                    req,
                )),
            },
            ["clusters", id, "imports", seg] => {
                let (iid, verb) = split_verb(seg);
                match (verb, m) {
                    (None, Method::Get) => routed(
                        "/v1beta1/clusters/{clusterId}/imports/{importId}",
                        self.get_import(id, iid),
                    ),
                    (None, _) => Some(method_not_allowed(
                        "/v1beta1/clusters/{clusterId}/imports/{importId}",
                        req,
                    )),
                    (Some("cancel"), Method::Post) => routed(
                        "/v1beta1/clusters/{clusterId}/imports/{importId}:cancel",
                        self.cancel_import(id, iid, req),
                    ),
                    _ => None,
                }
            }
            ["clusters", id, "integrations"] => match m {
                Method::Get => routed(
                    "/v1beta1/clusters/{clusterId}/integrations",
                    self.list_integrations(id),
                ),
                Method::Post => routed(
                    "/v1beta1/clusters/{clusterId}/integrations",
                    self.create_integration(id, req),
                ),
                _ => Some(method_not_allowed(
                    "/v1beta1/clusters/{clusterId}/integrations",
                    req,
                )),
            },
            ["clusters", id, "integrations", iid] => match m {
                Method::Delete => routed(
                    "/v1beta1/clusters/{clusterId}/integrations/{id}",
                    self.delete_integration(id, iid),
                ),
                _ => Some(method_not_allowed(
                    "/v1beta1/clusters/{clusterId}/integrations/{id}",
                    req,
                )),
            },
            ["regions"] => match m {
                Method::Get => routed("/v1beta1/regions", self.list_regions(req)),
                _ => Some(method_not_allowed("/v1beta1/regions", req)),
            },
            ["regions:showCloudProviders"] => match m {
                Method::Get => routed(
                    "/v1beta1/regions:showCloudProviders",
                    self.show_cloud_providers(),
                ),
                _ => Some(method_not_allowed(
                    "/v1beta1/regions:showCloudProviders",
                    req,
                )),
            },
            ["regions", rid] => match m {
                Method::Get => routed("/v1beta1/regions/{regionId}", self.get_region(rid)),
                _ => Some(method_not_allowed("/v1beta1/regions/{regionId}", req)),
            },
            ["regions", rid, "nodeSpecs"] => match m {
                Method::Get => routed(
                    "/v1beta1/regions/{regionId}/nodeSpecs",
                    self.list_node_specs(rid, req),
                ),
                _ => Some(method_not_allowed(
                    "/v1beta1/regions/{regionId}/nodeSpecs",
                    req,
                )),
            },
            ["regions", rid, "componentTypes", ct, "nodeSpecs", key] => match m {
                Method::Get => routed(
                    "/v1beta1/regions/{regionId}/componentTypes/{componentType}/nodeSpecs/{nodeSpecKey}",
                    self.get_node_spec(rid, ct, key),
                ),
                _ => Some(method_not_allowed(
                    "/v1beta1/regions/{regionId}/componentTypes/{componentType}/nodeSpecs/{nodeSpecKey}",
                    req,
                )),
            },
            _ => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PasswordCheck {
    root_password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RejectKey {
    api_key: String,
}

impl ApiModule for Dedicated {
    fn name(&self) -> &'static str {
        "dedicated"
    }
    fn error_shape(&self) -> ErrorShape {
        ErrorShape::RpcStatus
    }
    fn route(&self, req: &ApiRequest) -> Option<Routed> {
        self.dispatch(req)
    }

    /// `POST /_sim/dedicated/clusters/{id}:verifyRootPassword {"rootPassword"}` → `{"match": bool}` (what
    /// a MySQL login would prove, without the simulator ever revealing a password);
    /// `POST /_sim/dedicated/integrations:rejectApiKey {"apiKey"}` makes integrations with that key fail.
    fn admin(&self, req: &ApiRequest) -> Option<Routed> {
        if let Some(r) = self.network_admin(req) {
            return Some(r);
        }
        let segs = req.segments();
        match (req.method, &segs[..]) {
            (Method::Post, ["dedicated", "clusters", seg])
                if seg.ends_with(":verifyRootPassword") =>
            {
                let id = seg.trim_end_matches(":verifyRootPassword");
                let result = req.json::<PasswordCheck>().and_then(|b| {
                    let s = self.state();
                    let c = s.cluster(id)?;
                    ApiResponse::ok(
                        &serde_json::json!({"match": c.root_password == b.root_password}),
                    )
                });
                Some(Routed {
                    route: "/_sim/dedicated/clusters/{clusterId}:verifyRootPassword",
                    result,
                })
            }
            (Method::Post, ["dedicated", "integrations:rejectApiKey"]) => {
                let result = req.json::<RejectKey>().and_then(|b| {
                    self.state().rejected_integration_keys.insert(b.api_key);
                    ApiResponse::ok(&serde_json::json!({}))
                });
                Some(Routed {
                    route: "/_sim/dedicated/integrations:rejectApiKey",
                    result,
                })
            }
            _ => None,
        }
    }

    fn reset(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *s = State {
            rejected_integration_keys: self.initial_rejected.clone(),
            ..State::default()
        };
    }
}
