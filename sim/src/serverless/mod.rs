//! The TiDB Cloud Serverless (Starter / Essential) v1beta1 API (`https://serverless.tidbapi.com/v1beta1`):
//! clusters, regions, branches, backups and restore, imports. Served on its own listener (its
//! `/v1beta1/clusters…` paths collide with Dedicated's) behind the same TiDB Cloud front door: digest
//! authentication with the same keys, one per-key quota shared with the Dedicated listener.
//!
//! Transitions happen lazily, on the next request after their time has come, as in the other modules.
mod backups;
mod branches;
mod clusters;
pub mod filter;
mod imports;
pub mod model;

use crate::api::{
    ApiModule, ApiRequest, ApiResponse, Method, Routed, method_not_allowed, split_verb,
};
use crate::catalog::Catalog;
use crate::config::{Delays, ServerlessDelays, SimConfig};
use crate::error::{ApiError, ErrorShape};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

pub use backups::BackupRecord;
pub use branches::BranchRecord;
pub use clusters::ClusterRecord;
pub use imports::{ImportRecord, Upload};

/// A transition in progress: at `at` the resource becomes `to` (or disappears when `to` is `None`).
#[derive(Debug, Clone)]
pub struct Pending {
    pub at: Instant,
    pub to: Option<&'static str>,
}

/// Everything the Serverless API keeps.
#[derive(Debug, Default)]
pub struct State {
    /// Clusters in creation order.
    pub clusters: Vec<ClusterRecord>,
    pub branches: Vec<BranchRecord>,
    /// Backups, newest first.
    pub backups: Vec<BackupRecord>,
    pub imports: Vec<ImportRecord>,
    pub uploads: Vec<Upload>,
}

impl State {
    /// Applies every transition whose time has come.
    pub fn tick(&mut self, now: Instant) {
        let mut first_active = Vec::new();
        for c in self.clusters.iter_mut() {
            if c.advance(now) {
                first_active.push(c.cluster.cluster_id.clone());
            }
        }
        // The first automated backup, taken when a cluster first becomes ACTIVE (the real service takes one
        // a day).
        for id in first_active {
            self.backups.insert(0, BackupRecord::new(&id));
        }
        let gone: HashSet<String> = self
            .clusters
            .iter()
            .filter(|c| c.gone)
            .map(|c| c.cluster.cluster_id.clone())
            .collect();
        if !gone.is_empty() {
            self.clusters.retain(|c| !c.gone);
            self.branches
                .retain(|b| !gone.contains(&b.branch.cluster_id));
            self.backups
                .retain(|b| !gone.contains(&b.backup.cluster_id));
            self.imports
                .retain(|i| !gone.contains(&i.import.cluster_id));
            self.uploads.retain(|u| !gone.contains(&u.cluster_id));
        }
        for b in self.branches.iter_mut() {
            b.advance(now);
        }
        self.branches.retain(|b| !b.gone);
        for i in self.imports.iter_mut() {
            i.advance(now);
        }
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

/// A cluster in `ACTIVE` state, or a 400 saying what `what` needs.
fn require_active(c: &ClusterRecord, what: &str) -> Result<(), ApiError> {
    if c.cluster.state != "ACTIVE" {
        return Err(ApiError::invalid(format!(
            "cluster {} is {}: {what} only when it is ACTIVE",
            c.cluster.cluster_id, c.cluster.state
        )));
    }
    Ok(())
}

/// A random string of `len` characters from `alphabet`.
fn random_string(len: usize, alphabet: &[u8]) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

/// A user prefix as the service issues them: 15 letters and digits (`3pZWUd7nLWzuQbL`); SQL users of the
/// cluster are `<prefix>.<name>` (`<prefix>.root`).
fn new_user_prefix() -> String {
    random_string(
        15,
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    )
}

/// A password of 8–64 characters, or a 400 naming `field`.
fn check_password(field: &str, p: &str) -> Result<(), ApiError> {
    if !(8..=64).contains(&p.chars().count()) {
        return Err(ApiError::invalid(format!(
            "{field} must be 8 to 64 characters long"
        )));
    }
    Ok(())
}

/// The `view` query parameter: `BASIC` or `FULL` (default).
fn basic_view(req: &ApiRequest) -> Result<bool, ApiError> {
    match req.query_one("view") {
        None | Some("") | Some("FULL") => Ok(false),
        Some("BASIC") => Ok(true),
        Some(v) => Err(ApiError::invalid(format!(
            "invalid value for query parameter view: {v:?} (BASIC or FULL)"
        ))),
    }
}

pub struct Serverless {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) delays: ServerlessDelays,
    /// The import delays (shared with Dedicated imports).
    pub(crate) import_delays: Delays,
    pub(crate) import_fail_marker: String,
    state: Mutex<State>,
}

impl Serverless {
    pub fn new(catalog: Arc<Catalog>, config: &SimConfig) -> Serverless {
        Serverless {
            catalog,
            delays: config.serverless.delays.clone(),
            import_delays: config.delays.clone(),
            import_fail_marker: config.import_fail_marker.clone(),
            state: Mutex::new(State::default()),
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
        let m = req.method;
        let routed = |route: &'static str, result: Result<ApiResponse, ApiError>| {
            Some(Routed { route, result })
        };
        let not_allowed = |route: &'static str| Some(method_not_allowed(route, req));
        match &segs[1..] {
            ["clusters"] => match m {
                Method::Get => routed("/v1beta1/clusters", self.list_clusters(req)),
                Method::Post => routed("/v1beta1/clusters", self.create_cluster(req)),
                _ => not_allowed("/v1beta1/clusters"),
            },
            ["clusters:batchGet"] => match m {
                Method::Get => routed("/v1beta1/clusters:batchGet", self.batch_get(req)),
                _ => not_allowed("/v1beta1/clusters:batchGet"),
            },
            ["clusters:batchCreate"] => match m {
                Method::Post => routed("/v1beta1/clusters:batchCreate", self.batch_create(req)),
                _ => not_allowed("/v1beta1/clusters:batchCreate"),
            },
            ["clusters:restore"] => match m {
                Method::Post => routed("/v1beta1/clusters:restore", self.restore(req)),
                _ => not_allowed("/v1beta1/clusters:restore"),
            },
            ["clusters", seg] => match (split_verb(seg), m) {
                ((id, None), Method::Get) => {
                    routed("/v1beta1/clusters/{clusterId}", self.get_cluster(id, req))
                }
                ((id, None), Method::Patch) => {
                    routed("/v1beta1/clusters/{clusterId}", self.patch_cluster(id, req))
                }
                ((id, None), Method::Delete) => {
                    routed("/v1beta1/clusters/{clusterId}", self.delete_cluster(id))
                }
                ((_, None), _) => not_allowed("/v1beta1/clusters/{clusterId}"),
                _ => None,
            },
            ["clusters", id, "password"] => match m {
                Method::Put => routed(
                    "/v1beta1/clusters/{clusterId}/password",
                    self.change_password(id, req),
                ),
                _ => not_allowed("/v1beta1/clusters/{clusterId}/password"),
            },
            ["clusters", id, "branches"] => match m {
                Method::Get => routed(
                    "/v1beta1/clusters/{clusterId}/branches",
                    self.list_branches(id, req),
                ),
                Method::Post => routed(
                    "/v1beta1/clusters/{clusterId}/branches",
                    self.create_branch(id, req),
                ),
                _ => not_allowed("/v1beta1/clusters/{clusterId}/branches"),
            },
            ["clusters", id, "branches", seg] => match (split_verb(seg), m) {
                ((bid, None), Method::Get) => routed(
                    "/v1beta1/clusters/{clusterId}/branches/{branchId}",
                    self.get_branch(id, bid, req),
                ),
                ((bid, None), Method::Delete) => routed(
                    "/v1beta1/clusters/{clusterId}/branches/{branchId}",
                    self.delete_branch(id, bid),
                ),
                ((_, None), _) => not_allowed("/v1beta1/clusters/{clusterId}/branches/{branchId}"),
                ((bid, Some("reset")), Method::Post) => routed(
                    "/v1beta1/clusters/{clusterId}/branches/{branchId}:reset",
                    self.reset_branch(id, bid, req),
                ),
                ((_, Some("reset")), _) => {
                    not_allowed("/v1beta1/clusters/{clusterId}/branches/{branchId}:reset")
                }
                _ => None,
            },
            ["clusters", id, "branches", bid, "sqlUsers", user] => match m {
                Method::Patch => routed(
                    "/v1beta1/clusters/{clusterId}/branches/{branchId}/sqlUsers/{username}",
                    self.update_branch_sql_user(id, bid, user, req),
                ),
                _ => not_allowed(
                    "/v1beta1/clusters/{clusterId}/branches/{branchId}/sqlUsers/{username}",
                ),
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
                _ => not_allowed("/v1beta1/clusters/{clusterId}/imports"),
            },
            ["clusters", id, "imports:startUpload"] => match m {
                Method::Post => routed(
                    "/v1beta1/clusters/{clusterId}/imports:startUpload",
                    self.start_upload(id, req),
                ),
                _ => not_allowed("/v1beta1/clusters/{clusterId}/imports:startUpload"),
            },
            ["clusters", id, "imports:completeUpload"] => match m {
                Method::Post => routed(
                    "/v1beta1/clusters/{clusterId}/imports:completeUpload",
                    self.complete_upload(id, req),
                ),
                _ => not_allowed("/v1beta1/clusters/{clusterId}/imports:completeUpload"),
            },
            ["clusters", id, "imports:cancelUpload"] => match m {
                Method::Post => routed(
                    "/v1beta1/clusters/{clusterId}/imports:cancelUpload",
                    self.cancel_upload(id, req),
                ),
                _ => not_allowed("/v1beta1/clusters/{clusterId}/imports:cancelUpload"),
            },
            ["clusters", id, "imports", seg] => match (split_verb(seg), m) {
                ((iid, None), Method::Get) => routed(
                    "/v1beta1/clusters/{clusterId}/imports/{id}",
                    self.get_import(id, iid),
                ),
                ((_, None), _) => not_allowed("/v1beta1/clusters/{clusterId}/imports/{id}"),
                ((iid, Some("cancel")), Method::Post) => routed(
                    "/v1beta1/clusters/{clusterId}/imports/{id}:cancel",
                    self.cancel_import(id, iid, req),
                ),
                ((_, Some("cancel")), _) => {
                    not_allowed("/v1beta1/clusters/{clusterId}/imports/{id}:cancel")
                }
                _ => None,
            },
            ["backups"] => match m {
                Method::Get => routed("/v1beta1/backups", self.list_backups(req)),
                _ => not_allowed("/v1beta1/backups"),
            },
            ["backups", bid] => match m {
                Method::Get => routed("/v1beta1/backups/{backupId}", self.get_backup(bid)),
                Method::Delete => routed("/v1beta1/backups/{backupId}", self.delete_backup(bid)),
                _ => not_allowed("/v1beta1/backups/{backupId}"),
            },
            ["regions"] => match m {
                Method::Get => routed("/v1beta1/regions", self.list_regions(req)),
                _ => not_allowed("/v1beta1/regions"),
            },
            ["regions:listCloudProviders"] => match m {
                Method::Get => routed(
                    "/v1beta1/regions:listCloudProviders",
                    self.list_cloud_providers(),
                ),
                _ => not_allowed("/v1beta1/regions:listCloudProviders"),
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

impl ApiModule for Serverless {
    fn name(&self) -> &'static str {
        "serverless"
    }
    fn error_shape(&self) -> ErrorShape {
        ErrorShape::RpcStatus
    }
    fn route(&self, req: &ApiRequest) -> Option<Routed> {
        self.dispatch(req)
    }

    /// `POST /_sim/serverless/clusters/{id}:verifyRootPassword` and
    /// `POST /_sim/serverless/clusters/{id}/branches/{branchId}:verifyRootPassword` `{"rootPassword"}` →
    /// `{"match": bool}` (what a MySQL login as `<userPrefix>.root` would prove);
    /// `POST /_sim/serverless/clusters/{id}:takeBackup` → the new backup.
    fn admin(&self, req: &ApiRequest) -> Option<Routed> {
        let segs = req.segments();
        let verify = |pick: &dyn Fn(&State) -> Result<String, ApiError>| {
            req.json::<PasswordCheck>().and_then(|b| {
                let s = self.state();
                let secret = pick(&s)?;
                ApiResponse::ok(&serde_json::json!({"match": secret == b.root_password}))
            })
        };
        match (req.method, &segs[..]) {
            (Method::Post, ["serverless", "clusters", seg]) => match split_verb(seg) {
                (id, Some("verifyRootPassword")) => Some(Routed {
                    route: "/_sim/serverless/clusters/{clusterId}:verifyRootPassword",
                    result: verify(&|s| Ok(s.cluster(id)?.root_password.clone())),
                }),
                (id, Some("takeBackup")) => Some(Routed {
                    route: "/_sim/serverless/clusters/{clusterId}:takeBackup",
                    result: self.take_backup(id),
                }),
                _ => None,
            },
            (Method::Post, ["serverless", "clusters", id, "branches", seg]) => {
                match split_verb(seg) {
                    (bid, Some("verifyRootPassword")) => Some(Routed {
                        route: "/_sim/serverless/clusters/{clusterId}/branches/{branchId}:verifyRootPassword",
                        result: verify(&|s| Ok(branches::find(s, id, bid)?.root_password.clone())),
                    }),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn reset(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *s = State::default();
    }
}
