//! Restores: `POST /api/v1beta/projects/{project_id}/restores` restores a finished backup into a **new**
//! Dedicated cluster (same region as the backup's cluster, in the path's project), then list/get the tasks.
//!
//! The new cluster is created as `POST /v1beta1/clusters` would create it (node quota included) and is
//! `RESTORING` for `Delays::restore`, then `ACTIVE`; the task is `RUNNING` until then, `SUCCESS` after, and
//! `FAILED` when read before that time with the new cluster already gone (the status is derived when read, so
//! a task read only later shows `SUCCESS` with the cluster `CLEARED`).
use super::backups::legacy_timestamp;
use super::{LABEL_PROJECT, Legacy, PageParams, listing};
use crate::api::{ApiRequest, ApiResponse};
use crate::dedicated::{State as DedicatedState, check_id, new_id};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::LazyLock;
use std::time::Instant;

static CLUSTER_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[A-Za-z0-9][-A-Za-z0-9]{2,62}[A-Za-z0-9]$")
        .expect("cluster name pattern compiles")
});

/// `CreateRestoreReq`. The spec also lists `cluster_spec` as required, a property it never defines; it is
/// neither required nor accepted here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRestore {
    backup_id: Option<String>,
    name: Option<String>,
    config: Option<RestoreConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreConfig {
    root_password: Option<String>,
    port: Option<i32>,
    components: Option<Components>,
    ip_access_list: Option<Vec<IpAccessEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Components {
    tidb: Option<TidbComponent>,
    tikv: Option<StorageComponent>,
    tiflash: Option<StorageComponent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TidbComponent {
    node_size: Option<String>,
    node_quantity: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StorageComponent {
    node_size: Option<String>,
    storage_size_gib: Option<i32>,
    node_quantity: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IpAccessEntry {
    cidr: Option<String>,
    #[allow(dead_code)]
    description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RestoreRecord {
    pub id: String,
    pub project_id: String,
    pub create_timestamp: String,
    pub backup_id: String,
    /// The backup's cluster.
    pub source_cluster_id: String,
    /// The new cluster.
    pub cluster_id: String,
    pub cluster_name: String,
    pub done_at: Instant,
}

/// `GetRestoreResp` / list item.
#[derive(Serialize)]
struct RestoreView<'a> {
    id: &'a str,
    create_timestamp: &'a str,
    backup_id: &'a str,
    /// "The cluster ID of the backup."
    cluster_id: &'a str,
    status: &'static str,
    cluster: RestoredCluster<'a>,
    error_message: String,
}

#[derive(Serialize)]
struct RestoredCluster<'a> {
    id: &'a str,
    name: &'a str,
    status: &'static str,
}

/// The legacy `cluster_status` of a v1beta1 cluster state (`CLEARED` once the cluster is gone).
fn legacy_cluster_status(state: Option<&str>) -> &'static str {
    match state {
        None => "CLEARED",
        Some("ACTIVE") => "AVAILABLE",
        Some("CREATING" | "RESTORING") => "CREATING",
        Some("MODIFYING" | "UPGRADING") => "MODIFYING",
        Some("PAUSED") => "PAUSED",
        Some("PAUSING") => "PAUSING",
        Some("RESUMING") => "RESUMING",
        Some("IMPORTING") => "IMPORTING",
        Some("MAINTENANCE") => "MAINTAINING",
        Some(_) => "UNAVAILABLE",
    }
}

impl RestoreRecord {
    fn view<'a>(&'a self, d: &DedicatedState, now: Instant) -> RestoreView<'a> {
        let state = d
            .cluster(&self.cluster_id)
            .ok()
            .map(|c| c.cluster.state.as_str());
        let (status, error_message) = match state {
            _ if now >= self.done_at => ("SUCCESS", String::new()),
            None => (
                "FAILED",
                format!(
                    "the restored cluster {} was deleted before the restore finished",
                    self.cluster_id
                ),
            ),
            Some(_) => ("RUNNING", String::new()),
        };
        RestoreView {
            id: &self.id,
            create_timestamp: &self.create_timestamp,
            backup_id: &self.backup_id,
            cluster_id: &self.source_cluster_id,
            status,
            cluster: RestoredCluster {
                id: &self.cluster_id,
                name: &self.cluster_name,
                status: legacy_cluster_status(state),
            },
            error_message,
        }
    }
}

/// An IPv4 address or IPv4 CIDR (`a.b.c.d` or `a.b.c.d/n`, n ≤ 32).
fn is_ipv4_cidr(s: &str) -> bool {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    addr.parse::<std::net::Ipv4Addr>().is_ok()
        && bits.is_none_or(|b| b.parse::<u8>().is_ok_and(|n| n <= 32))
}

/// What the restore body asks for, checked and turned into a v1beta1 create body.
struct Plan {
    backup_id: String,
    name: String,
    body: serde_json::Value,
}

impl Legacy {
    /// Validates the body against the catalogue in the backup's region and builds the v1beta1 create body.
    fn plan(&self, project_id: &str, b: CreateRestore) -> Result<Plan, ApiError> {
        let backup_id = b
            .backup_id
            .filter(|x| !x.is_empty())
            .ok_or_else(|| ApiError::invalid("backup_id is required"))?;
        check_id("backup_id", &backup_id)?;
        let name = b
            .name
            .filter(|x| !x.is_empty())
            .ok_or_else(|| ApiError::invalid("name is required"))?;
        if !CLUSTER_NAME.is_match(&name) {
            return Err(ApiError::invalid(format!(
                "name {name:?} is invalid: it must be 4-64 characters of letters, digits and hyphens, \
                 starting and ending with a letter or digit"
            )));
        }
        let config = b
            .config
            .ok_or_else(|| ApiError::invalid("config is required"))?;
        let password = config.root_password.unwrap_or_default();
        if password.is_empty() {
            return Err(ApiError::invalid("config.root_password is required"));
        }
        if !(8..=64).contains(&password.chars().count()) {
            return Err(ApiError::invalid(
                "config.root_password must be 8 to 64 characters long",
            ));
        }
        let port = match config.port {
            None | Some(0) => 4000,
            Some(10080) => {
                return Err(ApiError::invalid(
                    "config.port 10080 is reserved: choose another port in 1024-65535",
                ));
            }
            Some(p) if (1024..=65535).contains(&p) => p,
            Some(p) => {
                return Err(ApiError::invalid(format!(
                    "config.port {p} is invalid: it must be between 1024 and 65535"
                )));
            }
        };
        for (i, e) in config.ip_access_list.iter().flatten().enumerate() {
            match e.cidr.as_deref() {
                None | Some("") => {
                    return Err(ApiError::invalid(format!(
                        "config.ip_access_list[{i}].cidr is required"
                    )));
                }
                Some(c) if !is_ipv4_cidr(c) => {
                    return Err(ApiError::invalid(format!(
                        "config.ip_access_list[{i}].cidr {c:?} is not an IPv4 address or CIDR"
                    )));
                }
                Some(_) => {}
            }
        }
        let components = config.components.ok_or_else(|| {
            ApiError::invalid("config.components is required for a Dedicated cluster")
        })?;
        let tidb = components
            .tidb
            .ok_or_else(|| ApiError::invalid("config.components.tidb is required"))?;
        let tikv = components
            .tikv
            .ok_or_else(|| ApiError::invalid("config.components.tikv is required"))?;

        // The backup, and what it knows of its cluster.
        let backup = {
            let s = self.state();
            s.backups
                .iter()
                .find(|x| x.id == backup_id && x.project_id == project_id)
                .cloned()
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "backup {backup_id} not found in project {project_id}"
                    ))
                })?
        };
        if backup.status != "SUCCESS" {
            return Err(ApiError::invalid(format!(
                "backup {backup_id} is {}: only a successful backup can be restored",
                backup.status
            )));
        }
        let region = backup.region_id.as_str();
        let node = |component: &str, field: &str, size: Option<String>, source: Option<&str>| {
            let size = size
                .filter(|x| !x.is_empty())
                .ok_or_else(|| ApiError::invalid(format!("{field}.node_size is required")))?;
            let spec = self
                .catalog
                .node_spec(region, component, &size)
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "{field}.node_size {size:?} is not available for {component} in {region}, \
                         the region of the backup's cluster"
                    ))
                })?;
            if let Some(src) = source.and_then(|k| self.catalog.node_spec(region, component, k))
                && spec.v_cpu < src.v_cpu
            {
                return Err(ApiError::invalid(format!(
                    "{field}.node_size {size} is smaller than the backup's cluster node size {}: a backup can be \
                     restored only to the same or a larger node size",
                    src.node_spec_key
                )));
            }
            Ok(spec)
        };
        let storage = |spec: &crate::catalog::NodeSpec, field: &str, gib: Option<i32>| {
            let gib = gib.ok_or_else(|| {
                ApiError::invalid(format!("{field}.storage_size_gib is required"))
            })?;
            if gib < spec.min_storage_size_gi || gib > spec.max_storage_size_gi {
                return Err(ApiError::invalid(format!(
                    "{field}.storage_size_gib {gib} is out of range for node size {}: it must be between {} and {}",
                    spec.node_spec_key, spec.min_storage_size_gi, spec.max_storage_size_gi
                )));
            }
            Ok(gib)
        };
        let quantity = |field: &str, n: Option<i32>| {
            n.filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::invalid(format!("{field}.node_quantity must be at least 1"))
            })
        };

        let tidb_spec = node(
            "TIDB",
            "config.components.tidb",
            tidb.node_size,
            Some(&backup.tidb_node_spec_key),
        )?;
        let tidb_n = quantity("config.components.tidb", tidb.node_quantity)?;
        let tikv_spec = node(
            "TIKV",
            "config.components.tikv",
            tikv.node_size,
            Some(&backup.tikv_node_spec_key),
        )?;
        let tikv_gib = storage(tikv_spec, "config.components.tikv", tikv.storage_size_gib)?;
        let tikv_n = quantity("config.components.tikv", tikv.node_quantity)?;
        if tikv_n < 3 || tikv_n % 3 != 0 {
            return Err(ApiError::invalid(format!(
                "config.components.tikv.node_quantity {tikv_n} is invalid: it must be a multiple of 3"
            )));
        }
        let mut body = json!({
            "displayName": name,
            "regionId": region,
            "labels": {LABEL_PROJECT: project_id},
            "tidbNodeSetting": {
                "nodeSpecKey": tidb_spec.node_spec_key,
                "tidbNodeGroups": [{"nodeCount": tidb_n}],
            },
            "tikvNodeSetting": {
                "nodeSpecKey": tikv_spec.node_spec_key,
                "nodeCount": tikv_n,
                "storageSizeGi": tikv_gib,
            },
            "port": port,
            "rootPassword": password,
        });
        if let Some(tf) = components.tiflash {
            let field = "config.components.tiflash";
            let spec = node("TIFLASH", field, tf.node_size, None)?;
            let gib = storage(spec, field, tf.storage_size_gib)?;
            let n = quantity(field, tf.node_quantity)?;
            body["tiflashNodeSetting"] = json!({
                "nodeSpecKey": spec.node_spec_key,
                "nodeCount": n,
                "storageSizeGi": gib,
            });
        }
        Ok(Plan {
            backup_id,
            name,
            body,
        })
    }

    pub(super) fn create_restore(
        &self,
        project_id: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let b: CreateRestore = req.json()?;
        self.project(project_id)?;
        let plan = self.plan(project_id, b)?;
        {
            let d = self.dedicated.state();
            let taken = d.clusters.iter().any(|c| {
                c.cluster.display_name == plan.name
                    && c.cluster.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project_id)
            });
            if taken {
                return Err(ApiError::invalid(format!(
                    "name {:?} is taken: a cluster with that name exists in project {project_id}",
                    plan.name
                )));
            }
        }
        let source_cluster_id = {
            let s = self.state();
            s.backups
                .iter()
                .find(|x| x.id == plan.backup_id)
                .map(|x| x.cluster_id.clone())
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "backup {} not found in project {project_id}",
                        plan.backup_id
                    ))
                })?
        };
        // Node quota and the remaining checks are the v1beta1 create's.
        let cluster_id = self.dedicated.create_restored_cluster(
            &plan.body,
            &req.public_key,
            self.delays.restore,
        )?;
        let record = RestoreRecord {
            id: new_id(),
            project_id: project_id.to_string(),
            create_timestamp: legacy_timestamp(),
            backup_id: plan.backup_id,
            source_cluster_id,
            cluster_id: cluster_id.clone(),
            cluster_name: plan.name,
            done_at: Instant::now() + self.delays.restore,
        };
        let id = record.id.clone();
        self.state().restores.push(record);
        Ok(ApiResponse::ok(&json!({"id": id, "cluster_id": cluster_id}))?.committed())
    }

    pub(super) fn list_restores(
        &self,
        project_id: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let page = PageParams::parse(req, true)?;
        self.project(project_id)?;
        let d = self.dedicated.state();
        let s = self.state();
        let now = Instant::now();
        // Newest first.
        let items: Vec<RestoreView> = s
            .restores
            .iter()
            .rev()
            .filter(|r| r.project_id == project_id)
            .map(|r| r.view(&d, now))
            .collect();
        listing(&page, items)
    }

    pub(super) fn get_restore(
        &self,
        project_id: &str,
        restore_id: &str,
    ) -> Result<ApiResponse, ApiError> {
        self.project(project_id)?;
        check_id("restore_id", restore_id)?;
        let d = self.dedicated.state();
        let s = self.state();
        let r = s
            .restores
            .iter()
            .find(|r| r.id == restore_id && r.project_id == project_id)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "restore task {restore_id} not found in project {project_id}"
                ))
            })?;
        ApiResponse::ok(&r.view(&d, Instant::now()))
    }
}
