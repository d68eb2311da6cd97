//! Branches of a cluster: a copy of the parent's data (the cluster or another branch) at its current state or
//! at a point in time (`parentTimestamp`), with its own user prefix and root password.
//!
//! `CREATING` → `ACTIVE`; `:reset` → `RESTORING` → `ACTIVE` (the parent's latest data, `parentTimestamp`
//! moves to the reset time); DELETE answers the branch `DELETED`, shown so for a moment, then 404. The
//! branch state enum has no `DELETING`.
use super::clusters::{private_link, public_host};
use super::model::*;
use super::{
    Pending, Serverless, State, basic_view, check_password, new_user_prefix, random_string,
    require_active,
};
use crate::api::{ApiRequest, ApiResponse};
use crate::dedicated::{check_id, created_by, timestamp};
use crate::error::ApiError;
use crate::paging::paginate;
use serde::Serialize;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// Live branches a cluster may have (TiDB Cloud's default limit).
pub const MAX_BRANCHES: usize = 5;

static BRANCH_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^[A-Za-z0-9][-A-Za-z0-9_]{0,62}[A-Za-z0-9_]?$")
        .expect("branch name pattern compiles")
});

#[derive(Debug, Clone)]
pub struct BranchRecord {
    pub branch: Branch,
    /// The secret password of `<userPrefix>.root` (never part of a response).
    pub root_password: String,
    pub pending: Option<Pending>,
    pub gone: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl BranchRecord {
    pub fn advance(&mut self, now: Instant) {
        let Some(p) = &self.pending else { return };
        if now < p.at {
            return;
        }
        match p.to {
            None => self.gone = true,
            Some(state) => {
                self.branch.state = state.to_string();
                self.branch.update_time = timestamp();
            }
        }
        self.pending = None;
    }

    fn transition(&mut self, now_state: &str, then: Option<&'static str>, after: Duration) {
        self.branch.state = now_state.to_string();
        self.branch.update_time = timestamp();
        self.pending = Some(Pending {
            at: Instant::now() + after,
            to: then,
        });
    }
}

/// A branch id as the service issues them: `bran-` and 26 lower-case letters and digits.
fn new_branch_id() -> String {
    format!(
        "bran-{}",
        random_string(26, b"abcdefghijklmnopqrstuvwxyz0123456789")
    )
}

/// The branch `bid` of cluster `cid` (404 when either is unknown).
pub(super) fn find<'a>(s: &'a State, cid: &str, bid: &str) -> Result<&'a BranchRecord, ApiError> {
    s.cluster(cid)?;
    s.branches
        .iter()
        .find(|b| b.branch.cluster_id == cid && b.branch.branch_id == bid)
        .ok_or_else(|| not_found(cid, bid))
}

fn find_mut<'a>(s: &'a mut State, cid: &str, bid: &str) -> Result<&'a mut BranchRecord, ApiError> {
    s.cluster(cid)?;
    s.branches
        .iter_mut()
        .find(|b| b.branch.cluster_id == cid && b.branch.branch_id == bid)
        .ok_or_else(|| not_found(cid, bid))
}

fn not_found(cid: &str, bid: &str) -> ApiError {
    ApiError::not_found(format!("branch {bid} not found in cluster {cid}"))
}

/// The parent of a new branch: `(id, display name, created at, state)`.
fn parent_of(
    s: &State,
    cid: &str,
    parent_id: &str,
) -> Result<(String, String, chrono::DateTime<chrono::Utc>, String), ApiError> {
    if parent_id == cid {
        let c = s.cluster(cid)?;
        return Ok((
            cid.to_string(),
            c.cluster.display_name.clone(),
            c.created_at,
            c.cluster.state.clone(),
        ));
    }
    let b = s
        .branches
        .iter()
        .find(|b| b.branch.cluster_id == cid && b.branch.branch_id == parent_id)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "parentId {parent_id:?} is neither cluster {cid} nor one of its branches"
            ))
        })?;
    Ok((
        parent_id.to_string(),
        b.branch.display_name.clone(),
        b.created_at,
        b.branch.state.clone(),
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListBranches {
    branches: Vec<Branch>,
    next_page_token: String,
    total_size: i64,
}

impl Branch {
    /// The `BASIC` view: without endpoints (inferred, as for clusters).
    fn basic(&self) -> Branch {
        Branch {
            endpoints: None,
            ..self.clone()
        }
    }
}

impl Serverless {
    pub(super) fn create_branch(
        &self,
        cid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let body: BranchInput = req.json()?;
        let name = body
            .display_name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::invalid("displayName is required"))?;
        if !BRANCH_NAME.is_match(&name) {
            return Err(ApiError::invalid(format!(
                "displayName {name:?} is invalid: 1-64 letters, digits, '-' and '_', starting with a letter or digit"
            )));
        }
        let password = body.root_password.clone().unwrap_or_default();
        if !password.is_empty() {
            check_password("rootPassword", &password)?;
        }
        let at = match body.parent_timestamp.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(
                chrono::DateTime::parse_from_rfc3339(t)
                    .map_err(|_| {
                        ApiError::invalid(format!(
                            "parentTimestamp {t:?} is not an RFC 3339 time (2025-01-02T03:04:05Z)"
                        ))
                    })?
                    .with_timezone(&chrono::Utc),
            ),
        };
        let mut s = self.state();
        let cluster = s.cluster(cid)?;
        require_active(cluster, "branches can be created")?;
        let cluster = cluster.clone();
        let live = s
            .branches
            .iter()
            .filter(|b| b.branch.cluster_id == cid && b.branch.state != "DELETED")
            .count();
        if live >= MAX_BRANCHES {
            return Err(ApiError::invalid(format!(
                "cluster {cid} already has {live} branches: at most {MAX_BRANCHES} per cluster"
            )));
        }
        let parent_id = body
            .parent_id
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| cid.to_string());
        let (parent_id, parent_name, parent_created, parent_state) =
            parent_of(&s, cid, &parent_id)?;
        if parent_state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "parent {parent_id} is {parent_state}: a branch can be created only from an ACTIVE parent"
            )));
        }
        let now = chrono::Utc::now();
        if let Some(t) = at
            && (t > now || t < parent_created)
        {
            return Err(ApiError::invalid(format!(
                "parentTimestamp {} is outside the parent's history: it must be between {} and now",
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                parent_created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            )));
        }
        let parent_timestamp = at
            .unwrap_or(now)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let region = &cluster.cluster.region;
        let (private_host, link) = private_link(region);
        let public = cluster
            .cluster
            .endpoints
            .as_ref()
            .map(|e| e.public.clone())
            .unwrap_or(PublicEndpoint {
                host: public_host(region),
                port: 4000,
                disabled: false,
                authorized_networks: Vec::new(),
            });
        let id = new_branch_id();
        let ts = timestamp();
        let branch = Branch {
            name: format!("clusters/{cid}/branches/{id}"),
            branch_id: id,
            display_name: name,
            cluster_id: cid.to_string(),
            parent_id,
            created_by: created_by(&req.public_key),
            state: "CREATING".into(),
            endpoints: Some(BranchEndpoints {
                public,
                private: BranchPrivateEndpoint {
                    host: private_host,
                    port: 4000,
                    aws: (region.cloud_provider == "aws").then_some(link),
                    gcp: None,
                },
            }),
            user_prefix: new_user_prefix(),
            create_time: ts.clone(),
            update_time: ts,
            annotations: body.annotations.clone().unwrap_or_default(),
            parent_display_name: parent_name,
            parent_timestamp,
        };
        let mut record = BranchRecord {
            branch,
            root_password: password,
            pending: None,
            gone: false,
            created_at: now,
        };
        record.transition("CREATING", Some("ACTIVE"), self.delays.branch_create);
        let out = ApiResponse::ok(&record.branch)?.committed();
        s.branches.push(record);
        Ok(out)
    }

    pub(super) fn list_branches(
        &self,
        cid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let s = self.state();
        s.cluster(cid)?;
        let items: Vec<&BranchRecord> = s
            .branches
            .iter()
            .filter(|b| b.branch.cluster_id == cid)
            .collect();
        let page = paginate(req, items, 10)?;
        ApiResponse::ok(&ListBranches {
            branches: page.items.into_iter().map(|b| b.branch.clone()).collect(),
            next_page_token: page.next_token,
            total_size: page.total as i64,
        })
    }

    pub(super) fn get_branch(
        &self,
        cid: &str,
        bid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let basic = basic_view(req)?;
        let s = self.state();
        let b = &find(&s, cid, bid)?.branch;
        ApiResponse::ok(&if basic { b.basic() } else { b.clone() })
    }

    pub(super) fn delete_branch(&self, cid: &str, bid: &str) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let delay = self.delays.branch_delete;
        let mut s = self.state();
        let children: Vec<String> = s
            .branches
            .iter()
            .filter(|b| b.branch.parent_id == bid && b.branch.state != "DELETED")
            .map(|b| b.branch.branch_id.clone())
            .collect();
        let b = find_mut(&mut s, cid, bid)?;
        if b.branch.state != "DELETED" {
            if !children.is_empty() {
                return Err(ApiError::invalid(format!(
                    "branch {bid} has branches of its own ({}): delete them first",
                    children.join(", ")
                )));
            }
            b.transition("DELETED", None, delay);
        }
        Ok(ApiResponse::ok(&b.branch)?.committed())
    }

    pub(super) fn reset_branch(
        &self,
        cid: &str,
        bid: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let _: crate::dedicated::model::Empty = req.json()?;
        let delay = self.delays.branch_reset;
        let mut s = self.state();
        let parent_id = find(&s, cid, bid)?.branch.parent_id.clone();
        let (_, parent_name, _, parent_state) = parent_of(&s, cid, &parent_id).map_err(|_| {
            ApiError::invalid(format!(
                "branch {bid} cannot be reset: its parent {parent_id} no longer exists"
            ))
        })?;
        if parent_state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "branch {bid} cannot be reset while its parent {parent_id} is {parent_state}"
            )));
        }
        let b = find_mut(&mut s, cid, bid)?;
        if b.branch.state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "branch {bid} is {}: only an ACTIVE branch can be reset",
                b.branch.state
            )));
        }
        b.branch.parent_display_name = parent_name;
        b.branch.parent_timestamp = timestamp();
        b.transition("RESTORING", Some("ACTIVE"), delay);
        Ok(ApiResponse::ok(&b.branch)?.committed())
    }

    /// `PATCH …/branches/{branchId}/sqlUsers/{username}` `{password}`: the branch's root user
    /// (`<userPrefix>.root`) is the one SQL user the simulator knows on a branch.
    pub(super) fn update_branch_sql_user(
        &self,
        cid: &str,
        bid: &str,
        user: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let body: SqlUserPassword = req.json()?;
        let password = body
            .password
            .ok_or_else(|| ApiError::invalid("password is required"))?;
        check_password("password", &password)?;
        let mut s = self.state();
        let b = find_mut(&mut s, cid, bid)?;
        let root = format!("{}.root", b.branch.user_prefix);
        if user != root {
            return Err(ApiError::not_found(format!(
                "SQL user {user} not found in branch {bid} (its root user is {root})"
            )));
        }
        if b.branch.state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "branch {bid} is {}: SQL users can be changed only when it is ACTIVE",
                b.branch.state
            )));
        }
        b.root_password = password;
        b.branch.update_time = timestamp();
        Ok(ApiResponse::ok(&serde_json::json!({ "username": user }))?.committed())
    }
}
