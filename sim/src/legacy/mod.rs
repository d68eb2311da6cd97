//! The legacy TiDB Cloud API v1beta (`https://api.tidbcloud.com/api/v1beta`, `legacy-v1beta.json`) for
//! Dedicated clusters: projects, cluster backups and restores — what Terraform's `tidbcloud_projects`,
//! `tidbcloud_backup(s)` and `tidbcloud_restore(s)` call. The real host differs from the Dedicated one, but
//! every path starts with `/api/v1beta`, which collides with no v1beta1 path, so the module shares the
//! Dedicated listener (digest authentication, quota, faults): a client's base URL (`TIDBCLOUD_HOST`) is the
//! simulator's base URL.
//!
//! Wire style as the legacy spec: snake_case JSON, `page`/`page_size` paging with `{items, total}`, ids as
//! uint64 decimal strings, errors `{code, message, details}`. Clusters are the Dedicated store's: a backup
//! is taken of a v1beta1 cluster, and a restore creates a new v1beta1 cluster (listed by `GET
//! /v1beta1/clusters` at once, `RESTORING` until the restore is over).
mod backups;
mod restores;

use crate::api::{ApiModule, ApiRequest, ApiResponse, Method, Routed, method_not_allowed};
use crate::catalog::Catalog;
use crate::config::{Delays, SimConfig};
use crate::dedicated::{ClusterRecord, Dedicated, check_id};
use crate::error::{ApiError, ErrorShape};
use serde::Serialize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

pub use backups::BackupRecord;
pub use restores::RestoreRecord;

const LABEL_PROJECT: &str = "tidb.cloud/project";

/// Largest `page_size` honoured; larger values are coerced to it (as v1beta1 lists do).
pub const MAX_PAGE_SIZE: i64 = 100;

/// Backups and restore tasks (clusters live in the Dedicated store).
#[derive(Debug, Default)]
pub struct State {
    pub backups: Vec<BackupRecord>,
    pub restores: Vec<RestoreRecord>,
}

impl State {
    fn tick(&mut self, now: Instant) {
        for b in self.backups.iter_mut() {
            b.advance(now);
        }
    }
}

pub struct Legacy {
    catalog: Arc<Catalog>,
    dedicated: Arc<Dedicated>,
    delays: Delays,
    /// A backup whose name contains this marker ends FAILED (the import failure marker).
    fail_marker: String,
    /// Unix seconds of the simulator's start: the projects' `create_timestamp`.
    created: i64,
    state: Mutex<State>,
}

/// One page of a legacy list: `page` (from 1, default 1) and `page_size` (default 10).
pub(crate) struct PageParams {
    page: i64,
    size: i64,
}

impl PageParams {
    /// `int32`: the parameters are `format: int32` (backups, restores) rather than `int64` (projects).
    pub(crate) fn parse(req: &ApiRequest, int32: bool) -> Result<PageParams, ApiError> {
        let int = |name: &str, default: i64| -> Result<i64, ApiError> {
            let format = if int32 { "an int32" } else { "an int64" };
            match req.query_one(name) {
                None | Some("") => Ok(default),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| !int32 || i32::try_from(*n).is_ok())
                    .ok_or_else(|| {
                        ApiError::invalid(format!(
                            "invalid value for query parameter {name}: {v:?} is not {format}"
                        ))
                    }),
            }
        };
        let page = int("page", 1)?;
        if page < 1 {
            return Err(ApiError::invalid(format!(
                "page must be at least 1, got {page}"
            )));
        }
        let size = int("page_size", 10)?;
        if size < 1 {
            return Err(ApiError::invalid(format!(
                "page_size must be at least 1, got {size}"
            )));
        }
        Ok(PageParams {
            page,
            size: size.min(MAX_PAGE_SIZE),
        })
    }

    /// The items of this page (empty past the end).
    pub(crate) fn slice<T>(&self, items: Vec<T>) -> Vec<T> {
        let start = (self.page - 1).saturating_mul(self.size);
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        items
            .into_iter()
            .skip(start)
            .take(self.size as usize)
            .collect()
    }
}

/// `{items, total}`.
#[derive(Serialize)]
struct Listing<T: Serialize> {
    items: Vec<T>,
    total: i64,
}

fn listing<T: Serialize>(page: &PageParams, all: Vec<T>) -> Result<ApiResponse, ApiError> {
    let total = all.len() as i64;
    ApiResponse::ok(&Listing {
        items: page.slice(all),
        total,
    })
}

/// `ListProjectItem`.
#[derive(Serialize)]
struct ProjectItem<'a> {
    id: &'a str,
    org_id: &'a str,
    name: &'a str,
    cluster_count: i64,
    user_count: i64,
    create_timestamp: String,
    aws_cmek_enabled: bool,
}

fn project_of(c: &ClusterRecord) -> &str {
    c.cluster
        .labels
        .get(LABEL_PROJECT)
        .map(String::as_str)
        .unwrap_or_default()
}

const R_PROJECTS: &str = "/api/v1beta/projects";
const R_BACKUPS: &str = "/api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups";
const R_BACKUP: &str =
    "/api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups/{backup_id}";
const R_RESTORES: &str = "/api/v1beta/projects/{project_id}/restores";
const R_RESTORE: &str = "/api/v1beta/projects/{project_id}/restores/{restore_id}";

impl Legacy {
    pub fn new(catalog: Arc<Catalog>, dedicated: Arc<Dedicated>, config: &SimConfig) -> Legacy {
        Legacy {
            catalog,
            dedicated,
            delays: config.delays.clone(),
            fail_marker: config.import_fail_marker.clone(),
            created: chrono::Utc::now().timestamp(),
            state: Mutex::new(State::default()),
        }
    }

    /// The legacy state with due transitions applied. Lock order: the Dedicated state (if needed) first,
    /// then this one; the Dedicated module never takes this lock.
    fn state(&self) -> MutexGuard<'_, State> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.tick(Instant::now());
        s
    }

    /// The project of a path, or 404.
    fn project(&self, project_id: &str) -> Result<(), ApiError> {
        check_id("project_id", project_id)?;
        if self.catalog.project(project_id).is_none() {
            return Err(ApiError::not_found(format!(
                "project {project_id} not found"
            )));
        }
        Ok(())
    }

    fn list_projects(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let page = PageParams::parse(req, false)?;
        let d = self.dedicated.state();
        let org = &self.catalog.organization.id;
        let items: Vec<ProjectItem> = self
            .catalog
            .projects
            .iter()
            .map(|p| ProjectItem {
                id: &p.id,
                org_id: org,
                name: &p.name,
                cluster_count: d.clusters.iter().filter(|c| project_of(c) == p.id).count() as i64,
                user_count: 1,
                create_timestamp: self.created.to_string(),
                aws_cmek_enabled: false,
            })
            .collect();
        listing(&page, items)
    }

    fn dispatch(&self, req: &ApiRequest) -> Option<Routed> {
        let segs = req.segments();
        let rest = match &segs[..] {
            ["api", "v1beta", rest @ ..] => rest,
            _ => return None,
        };
        let m = req.method;
        let routed = |route: &'static str, result: Result<ApiResponse, ApiError>| {
            Some(Routed { route, result })
        };
        match rest {
            ["projects"] => match m {
                Method::Get => routed(R_PROJECTS, self.list_projects(req)),
                _ => Some(method_not_allowed(R_PROJECTS, req)),
            },
            ["projects", pid, "clusters", cid, "backups"] => match m {
                Method::Get => routed(R_BACKUPS, self.list_backups(pid, cid, req)),
                Method::Post => routed(R_BACKUPS, self.create_backup(pid, cid, req)),
                _ => Some(method_not_allowed(R_BACKUPS, req)),
            },
            ["projects", pid, "clusters", cid, "backups", bid] => match m {
                Method::Get => routed(R_BACKUP, self.get_backup(pid, cid, bid)),
                Method::Delete => routed(R_BACKUP, self.delete_backup(pid, cid, bid)),
                _ => Some(method_not_allowed(R_BACKUP, req)),
            },
            ["projects", pid, "restores"] => match m {
                Method::Get => routed(R_RESTORES, self.list_restores(pid, req)),
                Method::Post => routed(R_RESTORES, self.create_restore(pid, req)),
                _ => Some(method_not_allowed(R_RESTORES, req)),
            },
            ["projects", pid, "restores", rid] => match m {
                Method::Get => routed(R_RESTORE, self.get_restore(pid, rid)),
                _ => Some(method_not_allowed(R_RESTORE, req)),
            },
            _ => None,
        }
    }
}

impl ApiModule for Legacy {
    fn name(&self) -> &'static str {
        "legacy-v1beta"
    }
    /// `{code, message, details}` (the legacy spec's error body; `details` is empty).
    fn error_shape(&self) -> ErrorShape {
        ErrorShape::RpcStatus
    }
    fn route(&self, req: &ApiRequest) -> Option<Routed> {
        self.dispatch(req)
    }
    fn reset(&self) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = State::default();
    }
}
