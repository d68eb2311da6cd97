//! Backups (`serverless-br-v1beta1`) and `clusters:restore`.
//!
//! A cluster's first automated backup is taken when it first becomes `ACTIVE` (the real service takes one a
//! day); `POST /_sim/serverless/clusters/{id}:takeBackup` takes more. A restore — from a snapshot
//! (`backupId`) or a point in time of a cluster (`clusterId`, `backupTime`) — creates a **new** cluster with
//! the source's settings, `RESTORING` → `ACTIVE`, and answers its id (inferred: the request names no target
//! and the answer is a cluster id).
use super::model::*;
use super::{Serverless, require_active};
use crate::api::{ApiRequest, ApiResponse};
use crate::dedicated::{check_id, new_id, timestamp};
use crate::error::ApiError;
use crate::paging::paginate;
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct BackupRecord {
    pub backup: Backup,
}

impl BackupRecord {
    pub fn new(cluster_id: &str) -> BackupRecord {
        let id = new_id();
        BackupRecord {
            backup: Backup {
                name: format!("backups/{id}"),
                backup_id: id,
                cluster_id: cluster_id.to_string(),
                create_time: timestamp(),
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListBackups {
    backups: Vec<Backup>,
    next_page_token: String,
    total_size: i64,
}

fn not_found(bid: &str) -> ApiError {
    ApiError::not_found(format!("backup {bid} not found"))
}

impl Serverless {
    pub(super) fn list_backups(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let cid = req
            .query_one("clusterId")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::invalid("clusterId is required"))?;
        check_id("clusterId", cid)?;
        let s = self.state();
        s.cluster(cid)?;
        let items: Vec<&BackupRecord> = s
            .backups
            .iter()
            .filter(|b| b.backup.cluster_id == cid)
            .collect();
        let page = paginate(req, items, 10)?;
        ApiResponse::ok(&ListBackups {
            backups: page.items.into_iter().map(|b| b.backup.clone()).collect(),
            next_page_token: page.next_token,
            total_size: page.total as i64,
        })
    }

    pub(super) fn get_backup(&self, bid: &str) -> Result<ApiResponse, ApiError> {
        check_id("backupId", bid)?;
        let s = self.state();
        let b = s
            .backups
            .iter()
            .find(|b| b.backup.backup_id == bid)
            .ok_or_else(|| not_found(bid))?;
        ApiResponse::ok(&b.backup)
    }

    pub(super) fn delete_backup(&self, bid: &str) -> Result<ApiResponse, ApiError> {
        check_id("backupId", bid)?;
        let mut s = self.state();
        let i = s
            .backups
            .iter()
            .position(|b| b.backup.backup_id == bid)
            .ok_or_else(|| not_found(bid))?;
        let b = s.backups.remove(i);
        Ok(ApiResponse::ok(&b.backup)?.committed())
    }

    /// The admin API's `:takeBackup`.
    pub(super) fn take_backup(&self, cid: &str) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let mut s = self.state();
        require_active(s.cluster(cid)?, "a backup can be taken")?;
        let b = BackupRecord::new(cid);
        let out = ApiResponse::ok(&b.backup)?;
        s.backups.insert(0, b);
        Ok(out)
    }

    pub(super) fn restore(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let body: RestoreRequest = req.json()?;
        let mut s = self.state();
        let source = match (body.snapshot, body.point_in_time) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(ApiError::invalid(
                    "exactly one of snapshot {backupId} and pointInTime {clusterId, backupTime} is required",
                ));
            }
            (Some(snap), None) => {
                let bid = snap
                    .backup_id
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| ApiError::invalid("snapshot.backupId is required"))?;
                check_id("snapshot.backupId", &bid)?;
                let cid = s
                    .backups
                    .iter()
                    .find(|b| b.backup.backup_id == bid)
                    .ok_or_else(|| not_found(&bid))?
                    .backup
                    .cluster_id
                    .clone();
                s.cluster(&cid)?.clone()
            }
            (None, Some(pit)) => {
                let cid = pit
                    .cluster_id
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| ApiError::invalid("pointInTime.clusterId is required"))?;
                check_id("pointInTime.clusterId", &cid)?;
                let t = pit
                    .backup_time
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| ApiError::invalid("pointInTime.backupTime is required"))?;
                let t = chrono::DateTime::parse_from_rfc3339(&t)
                    .map_err(|_| {
                        ApiError::invalid(format!(
                            "pointInTime.backupTime {t:?} is not an RFC 3339 time"
                        ))
                    })?
                    .with_timezone(&chrono::Utc);
                let c = s.cluster(&cid)?.clone();
                if t > chrono::Utc::now() || t < c.created_at {
                    return Err(ApiError::invalid(format!(
                        "pointInTime.backupTime is outside cluster {cid}'s history: it must be between {} and now",
                        c.cluster.create_time
                    )));
                }
                c
            }
        };
        require_active(&source, "it can be restored from")?;
        let id = self.restored_copy(&mut s, &source, &req.public_key);
        Ok(ApiResponse::ok(&serde_json::json!({ "clusterId": id }))?.committed())
    }
}
