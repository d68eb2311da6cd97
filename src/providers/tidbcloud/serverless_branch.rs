//! TiDB Cloud Serverless branches (v1beta1 `/clusters/{clusterId}/branches`, host `serverless.tidbapi.com`):
//! the wire model and the calls — list (paged), create, delete, `:reset` and the branch root user's password.
//! Methods of [`TidbCloudClient`], so a key's one budget covers them with its clusters.
//!
//! [`BranchObserver`]: the branches of a cluster are read with one list per cluster and key, shared by every
//! TidbCloudBranch of that cluster (a list younger than the reader's interval answers; concurrent readers wait
//! for one list). A list answers only when taken after the last write to that cluster's branches (the one
//! write-recording rule of `cloud::writes`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::client::{MAX_PAGES, TidbCloudClient, next_token, too_many_pages};
use super::serverless_models::PublicEndpoint;
use crate::cloud::http::{Call, check_id};
use crate::cloud::{CloudError, ExposeSecret, SecretString};

/// Branch states (`MAINTENANCE` is documented by one spec version and treated as a wait).
pub const CREATING: &str = "CREATING";
pub const ACTIVE: &str = "ACTIVE";
pub const RESTORING: &str = "RESTORING";
pub const DELETED: &str = "DELETED";

/// A branch as TiDB Cloud answers it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Branch {
    pub branch_id: String,
    pub display_name: String,
    pub cluster_id: String,
    pub parent_id: String,
    pub created_by: String,
    pub state: String,
    pub endpoints: Option<BranchEndpoints>,
    pub user_prefix: String,
    pub create_time: String,
    pub annotations: BTreeMap<String, String>,
    pub parent_display_name: String,
    /// Nullable in the spec.
    pub parent_timestamp: Option<String>,
}

impl Branch {
    /// The public endpoint, if the answer has one (the `BASIC` view has none).
    pub fn public(&self) -> Option<&PublicEndpoint> {
        self.endpoints.as_ref().and_then(|e| e.public.as_ref())
    }
}

/// `endpoints` of a branch (the private one is not used).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BranchEndpoints {
    pub public: Option<PublicEndpoint>,
}

/// One page of branches.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BranchPage {
    pub branches: Vec<Branch>,
    pub next_page_token: String,
}

/// `POST /clusters/{clusterId}/branches`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBranch {
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose_opt")]
    pub root_password: Option<SecretString>,
    pub annotations: BTreeMap<String, String>,
}

fn expose_opt<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(p) => s.serialize_str(p.expose_secret()),
        None => s.serialize_none(),
    }
}

#[derive(Serialize)]
struct Password<'a> {
    password: &'a str,
}

impl TidbCloudClient {
    /// Every branch of cluster `cluster_id` (live ones and those just `DELETED`), paged.
    pub async fn list_branches(&self, cluster_id: &str) -> Result<Vec<Branch>, CloudError> {
        check_id("cluster id", cluster_id)?;
        let route = "GET serverless /clusters/{clusterId}/branches";
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = Call::new(Method::GET, route, &["clusters", cluster_id, "branches"])
                .query("pageSize", self.page_size_u32());
            if let Some(t) = token.as_deref().filter(|t| !t.is_empty()) {
                call = call.query("pageToken", t);
            }
            let page: BranchPage = self.execute_serverless(call).await?;
            out.extend(page.branches);
            match next_token(token.as_deref(), page.next_page_token, route)? {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
        Err(too_many_pages(route))
    }

    pub async fn create_branch(
        &self,
        cluster_id: &str,
        req: &CreateBranch,
    ) -> Result<Branch, CloudError> {
        check_id("cluster id", cluster_id)?;
        let mut call = Call::new(
            Method::POST,
            "POST serverless /clusters/{clusterId}/branches",
            &["clusters", cluster_id, "branches"],
        )
        .json(req)?;
        if let Some(p) = &req.root_password {
            call = call.secret(p.expose_secret());
        }
        self.execute_serverless(call).await
    }

    pub async fn delete_branch(
        &self,
        cluster_id: &str,
        branch_id: &str,
    ) -> Result<Branch, CloudError> {
        check_id("cluster id", cluster_id)?;
        check_id("branch id", branch_id)?;
        self.execute_serverless(Call::new(
            Method::DELETE,
            "DELETE serverless /clusters/{clusterId}/branches/{branchId}",
            &["clusters", cluster_id, "branches", branch_id],
        ))
        .await
    }

    /// `POST …/branches/{branchId}:reset`: the branch takes its parent's latest data (`RESTORING` → `ACTIVE`).
    pub async fn reset_branch(
        &self,
        cluster_id: &str,
        branch_id: &str,
    ) -> Result<Branch, CloudError> {
        check_id("cluster id", cluster_id)?;
        check_id("branch id", branch_id)?;
        let segment = format!("{branch_id}:reset");
        let call = Call::new(
            Method::POST,
            "POST serverless /clusters/{clusterId}/branches/{branchId}:reset",
            &["clusters", cluster_id, "branches", &segment],
        )
        .json(&serde_json::json!({}))?;
        self.execute_serverless(call).await
    }

    /// `PATCH …/branches/{branchId}/sqlUsers/{username}` `{password}`: the password of the branch's root user.
    pub async fn set_branch_password(
        &self,
        cluster_id: &str,
        branch_id: &str,
        user: &str,
        password: &SecretString,
    ) -> Result<(), CloudError> {
        check_id("cluster id", cluster_id)?;
        check_id("branch id", branch_id)?;
        let call = Call::new(
            Method::PATCH,
            "PATCH serverless /clusters/{clusterId}/branches/{branchId}/sqlUsers/{username}",
            &[
                "clusters", cluster_id, "branches", branch_id, "sqlUsers", user,
            ],
        )
        .json(&Password {
            password: password.expose_secret(),
        })?
        .secret(password.expose_secret());
        let _: serde_json::Value = self.execute_serverless(call).await?;
        Ok(())
    }
}

/// The latest branch list of one (key, cluster); its lock makes concurrent readers wait for one list.
type Slot = Arc<tokio::sync::Mutex<Option<(Instant, Arc<Vec<Branch>>)>>>;

/// Shared by every TidbCloudBranch reconcile of the process.
#[derive(Default)]
pub struct BranchObserver {
    lists: Mutex<HashMap<(String, String), Slot>>,
    written: Mutex<HashMap<String, Instant>>,
}

impl BranchObserver {
    fn slot(&self, client: &TidbCloudClient, cluster_id: &str) -> Slot {
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        lists
            .entry((client.key_id().to_string(), cluster_id.to_string()))
            .or_default()
            .clone()
    }

    /// The branches of `cluster_id`, from a list younger than `max_age` taken after the last write to them (else
    /// listed now; `Duration::ZERO`: always listed now).
    pub async fn branches(
        &self,
        client: &TidbCloudClient,
        cluster_id: &str,
        max_age: Duration,
    ) -> Result<Arc<Vec<Branch>>, CloudError> {
        let slot = self.slot(client, cluster_id);
        let mut guard = slot.lock().await;
        if let Some((taken, list)) = guard.as_ref()
            && taken.elapsed() < max_age
            && self.answers(cluster_id, *taken)
        {
            return Ok(list.clone());
        }
        let taken = Instant::now();
        let list = Arc::new(client.list_branches(cluster_id).await?);
        *guard = Some((taken, list.clone()));
        Ok(list)
    }

    /// Records a write to the branches of `cluster_id` (before and after the call).
    pub fn wrote(&self, cluster_id: &str) {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        w.insert(cluster_id.to_string(), Instant::now());
    }

    /// Whether a list taken at `taken` may answer for the branches of `cluster_id`: taken after their last write.
    fn answers(&self, cluster_id: &str, taken: Instant) -> bool {
        let w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        w.get(cluster_id).is_none_or(|at| *at < taken)
    }
}

impl crate::cloud::writes::RecordsWrites for BranchObserver {
    fn wrote(&self, id: &str) {
        BranchObserver::wrote(self, id);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_list_answers_only_when_taken_after_the_last_write() {
        let o = BranchObserver::default();
        let before = Instant::now();
        assert!(o.answers("10", before));
        o.wrote("10");
        assert!(!o.answers("10", before));
        assert!(o.answers("10", Instant::now()));
        assert!(o.answers("11", before), "another cluster");
    }

    use super::*;

    #[test]
    fn a_create_body_carries_the_password_and_omits_what_is_unset() {
        let req = CreateBranch {
            display_name: "pr-1".into(),
            root_password: Some(SecretString::from("a-password-1".to_string())),
            annotations: [("clouddb.dev/uid".to_string(), "u".to_string())].into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&req).expect("json");
        assert_eq!(v["rootPassword"], "a-password-1");
        assert_eq!(v["annotations"]["clouddb.dev/uid"], "u");
        assert!(v.get("parentId").is_none() && v.get("parentTimestamp").is_none());
        let b: Branch = serde_json::from_value(serde_json::json!({
            "branchId": "bran-1", "state": "ACTIVE", "parentTimestamp": null,
            "endpoints": {"public": {"host": "h", "port": 4000}}
        }))
        .expect("branch");
        assert_eq!(b.public().map(|p| p.port), Some(4000));
        assert_eq!(b.parent_timestamp, None);
    }
}
