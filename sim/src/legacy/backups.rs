//! Manual backups of Dedicated clusters: `…/projects/{project_id}/clusters/{cluster_id}/backups[/{backup_id}]`.
//!
//! A backup is `PENDING`, then `RUNNING` after `Delays::backup_start`, then `SUCCESS` after
//! `Delays::backup_run` (`FAILED` when its name contains the failure marker). Only an `ACTIVE` cluster can be
//! backed up. A backup outlives its cluster (a restore can still use it), but is listed and read only
//! through its cluster's path, which answers 404 once the cluster is gone.
use super::{LABEL_PROJECT, Legacy, PageParams, listing};
use crate::api::{ApiRequest, ApiResponse};
use crate::dedicated::{check_id, new_id};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// `CreateBackupReq`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBackup {
    name: Option<String>,
    description: Option<String>,
}

/// Longest description accepted ("Allows up to 256 characters").
const MAX_DESCRIPTION: usize = 256;

#[derive(Debug, Clone)]
pub struct BackupRecord {
    pub id: String,
    pub project_id: String,
    pub cluster_id: String,
    /// What a restore needs of the source cluster: its region and node specs.
    pub region_id: String,
    pub tidb_node_spec_key: String,
    pub tikv_node_spec_key: String,
    pub name: String,
    pub description: String,
    pub kind: &'static str,
    pub create_timestamp: String,
    /// Bytes once the backup succeeded (0 before).
    pub size: u64,
    final_size: u64,
    pub status: &'static str,
    fails: bool,
    /// The next transition: at this instant the backup becomes the given status.
    pending: Option<(Instant, &'static str)>,
    run: Duration,
}

impl BackupRecord {
    pub fn advance(&mut self, now: Instant) {
        while let Some((at, to)) = self.pending
            && at <= now
        {
            self.status = to;
            self.pending = match to {
                "RUNNING" => Some((at + self.run, if self.fails { "FAILED" } else { "SUCCESS" })),
                _ => None,
            };
            if to == "SUCCESS" {
                self.size = self.final_size;
            }
        }
    }

    fn view(&self) -> BackupView<'_> {
        BackupView {
            id: &self.id,
            name: &self.name,
            description: &self.description,
            kind: self.kind,
            create_timestamp: &self.create_timestamp,
            size: self.size.to_string(),
            status: self.status,
        }
    }
}

/// `ListBackupItem` / `GetBackupOfClusterResp`.
#[derive(Serialize)]
struct BackupView<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    create_timestamp: &'a str,
    size: String,
    status: &'static str,
}

/// RFC 3339 UTC without fractions, as the legacy examples show (`2020-01-01T00:00:00Z`).
pub(super) fn legacy_timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Legacy {
    /// Checks that the path's project exists and holds the path's cluster (404 otherwise).
    pub(super) fn cluster_in_project(
        &self,
        project_id: &str,
        cluster_id: &str,
    ) -> Result<(), ApiError> {
        self.project(project_id)?;
        check_id("cluster_id", cluster_id)?;
        let d = self.dedicated.state();
        let found = d.cluster(cluster_id).is_ok_and(|c| {
            c.cluster.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project_id)
        });
        if !found {
            return Err(ApiError::not_found(format!(
                "cluster {cluster_id} not found in project {project_id}"
            )));
        }
        Ok(())
    }

    pub(super) fn list_backups(
        &self,
        project_id: &str,
        cluster_id: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let page = PageParams::parse(req, true)?;
        self.cluster_in_project(project_id, cluster_id)?;
        let s = self.state();
        // Newest first.
        let items: Vec<BackupView> = s
            .backups
            .iter()
            .rev()
            .filter(|b| b.cluster_id == cluster_id)
            .map(BackupRecord::view)
            .collect();
        listing(&page, items)
    }

    pub(super) fn create_backup(
        &self,
        project_id: &str,
        cluster_id: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let body: CreateBackup = req.json()?;
        let name = body.name.unwrap_or_default();
        if name.trim().is_empty() {
            return Err(ApiError::invalid("name is required"));
        }
        let description = body.description.unwrap_or_default();
        if description.chars().count() > MAX_DESCRIPTION {
            return Err(ApiError::invalid(format!(
                "description is too long: at most {MAX_DESCRIPTION} characters are allowed"
            )));
        }
        self.project(project_id)?;
        check_id("cluster_id", cluster_id)?;
        let d = self.dedicated.state();
        let c = d
            .cluster(cluster_id)
            .ok()
            .filter(|c| c.cluster.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project_id))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "cluster {cluster_id} not found in project {project_id}"
                ))
            })?;
        if c.cluster.state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "cluster {cluster_id} is {}: a backup can be taken only of an available (ACTIVE) cluster",
                c.cluster.state
            )));
        }
        let tikv = &c.cluster.tikv_node_setting;
        // About a tenth of the provisioned TiKV storage, in bytes.
        let final_size =
            (tikv.node_count.max(0) as u64) * (tikv.storage_size_gi.max(0) as u64) * (1u64 << 30)
                / 10;
        let now = Instant::now();
        let record = BackupRecord {
            id: new_id(),
            project_id: project_id.to_string(),
            cluster_id: cluster_id.to_string(),
            region_id: c.cluster.region_id.clone(),
            tidb_node_spec_key: c.cluster.tidb_node_setting.node_spec_key.clone(),
            tikv_node_spec_key: tikv.node_spec_key.clone(),
            name: name.clone(),
            description,
            kind: "MANUAL",
            create_timestamp: legacy_timestamp(),
            size: 0,
            final_size,
            status: "PENDING",
            fails: !self.fail_marker.is_empty() && name.contains(&self.fail_marker),
            pending: Some((now + self.delays.backup_start, "RUNNING")),
            run: self.delays.backup_run,
        };
        let id = record.id.clone();
        let mut s = self.state();
        drop(d);
        s.backups.push(record);
        Ok(ApiResponse::ok(&serde_json::json!({ "id": id }))?.committed())
    }

    pub(super) fn get_backup(
        &self,
        project_id: &str,
        cluster_id: &str,
        backup_id: &str,
    ) -> Result<ApiResponse, ApiError> {
        self.cluster_in_project(project_id, cluster_id)?;
        check_id("backup_id", backup_id)?;
        let s = self.state();
        let b = s
            .backups
            .iter()
            .find(|b| b.id == backup_id && b.cluster_id == cluster_id)
            .ok_or_else(|| not_found_backup(backup_id, cluster_id))?;
        ApiResponse::ok(&b.view())
    }

    pub(super) fn delete_backup(
        &self,
        project_id: &str,
        cluster_id: &str,
        backup_id: &str,
    ) -> Result<ApiResponse, ApiError> {
        self.cluster_in_project(project_id, cluster_id)?;
        check_id("backup_id", backup_id)?;
        let mut s = self.state();
        let i = s
            .backups
            .iter()
            .position(|b| b.id == backup_id && b.cluster_id == cluster_id)
            .ok_or_else(|| not_found_backup(backup_id, cluster_id))?;
        let status = s.backups[i].status;
        if matches!(status, "PENDING" | "RUNNING") {
            return Err(ApiError::invalid(format!(
                "backup {backup_id} is {status}: it can be deleted once it has finished"
            )));
        }
        s.backups.remove(i);
        Ok(ApiResponse::ok(&serde_json::json!({}))?.committed())
    }
}

fn not_found_backup(backup_id: &str, cluster_id: &str) -> ApiError {
    ApiError::not_found(format!(
        "backup {backup_id} not found for cluster {cluster_id}"
    ))
}
