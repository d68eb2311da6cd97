//! IAM v1beta1 (`https://iam.tidbapi.com`): projects, API keys and the SQL users of a cluster (kept with
//! the Dedicated state, `dedicated/sql_users.rs`). Its paths do not collide with the
//! dedicated ones, so it shares their listener. Its error body is the swaggo `api.OpenApiError` shape.
use crate::api::{ApiModule, ApiRequest, ApiResponse, Method, Routed, method_not_allowed};
use crate::catalog::Catalog;
use crate::config::ApiKey;
use crate::dedicated::Dedicated;
use crate::error::{ApiError, ErrorShape};
use crate::paging::paginate;
use serde::Serialize;
use std::sync::Arc;

pub struct Iam {
    catalog: Arc<Catalog>,
    keys: Vec<ApiKey>,
    created: i64,
    clusters: Option<Arc<dyn ProjectClusters>>,
    /// Where SQL users live (with the clusters they belong to); without it `/sqlUsers` is not routed.
    dedicated: Option<Arc<Dedicated>>,
}

/// Where IAM learns how many clusters a project has (the Dedicated module).
pub trait ProjectClusters: Send + Sync {
    /// The live clusters of `project_id`.
    fn cluster_count(&self, project_id: &str) -> i64;
}

/// `api.Project` (snake_case inside, as the real one).
#[derive(Serialize)]
struct Project<'a> {
    id: &'a str,
    org_id: &'a str,
    name: &'a str,
    cluster_count: i64,
    user_count: i64,
    create_timestamp: String,
    aws_cmek_enabled: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiKeyView {
    name: String,
    access_key: String,
    secret_key: String,
    display_name: String,
    role: String,
}

impl Iam {
    pub fn new(catalog: Arc<Catalog>, keys: Vec<ApiKey>) -> Iam {
        Iam {
            catalog,
            keys,
            created: chrono::Utc::now().timestamp(),
            clusters: None,
            dedicated: None,
        }
    }

    /// Serves `/v1beta1/clusters/{clusterId}/sqlUsers` for the clusters of `dedicated`.
    pub fn with_sql_users(mut self, dedicated: Arc<Dedicated>) -> Iam {
        self.dedicated = Some(dedicated);
        self
    }

    fn sql_users(&self, d: &Dedicated, req: &ApiRequest) -> Option<Routed> {
        const LIST: &str = "/v1beta1/clusters/{clusterId}/sqlUsers";
        const ONE: &str = "/v1beta1/clusters/{clusterId}/sqlUsers/{userName}";
        let segs = req.segments();
        let routed = |route: &'static str, result| Some(Routed { route, result });
        match (&segs[..], req.method) {
            (["v1beta1", "clusters", cid, "sqlUsers"], Method::Get) => {
                routed(LIST, d.list_sql_users(cid, req))
            }
            (["v1beta1", "clusters", cid, "sqlUsers"], Method::Post) => {
                routed(LIST, d.create_sql_user(cid, req))
            }
            (["v1beta1", "clusters", _, "sqlUsers"], _) => Some(method_not_allowed(LIST, req)),
            (["v1beta1", "clusters", cid, "sqlUsers", name], Method::Get) => {
                routed(ONE, d.get_sql_user(cid, name))
            }
            (["v1beta1", "clusters", cid, "sqlUsers", name], Method::Patch) => {
                routed(ONE, d.update_sql_user(cid, name, req))
            }
            (["v1beta1", "clusters", cid, "sqlUsers", name], Method::Delete) => {
                routed(ONE, d.delete_sql_user(cid, name))
            }
            (["v1beta1", "clusters", _, "sqlUsers", _], _) => Some(method_not_allowed(ONE, req)),
            _ => None,
        }
    }

    /// Counts each project's clusters (`cluster_count`) with `clusters`; without it the count is 0.
    pub fn with_clusters(mut self, clusters: Arc<dyn ProjectClusters>) -> Iam {
        self.clusters = Some(clusters);
        self
    }

    fn projects(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let org = &self.catalog.organization.id;
        let items: Vec<Project> = self
            .catalog
            .projects
            .iter()
            .map(|p| Project {
                id: &p.id,
                org_id: org,
                name: &p.name,
                cluster_count: self.clusters.as_ref().map_or(0, |c| c.cluster_count(&p.id)),
                user_count: 1,
                create_timestamp: self.created.to_string(),
                aws_cmek_enabled: false,
            })
            .collect();
        let page = paginate(req, items, 100)?;
        ApiResponse::ok(
            &serde_json::json!({"projects": page.items, "nextPageToken": page.next_token}),
        )
    }

    fn api_keys(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let org = &self.catalog.organization.id;
        let items: Vec<ApiKeyView> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| ApiKeyView {
                name: format!("orgs/{org}/apiKeys/{}", i + 1),
                access_key: k.public_key.clone(),
                secret_key: "********".into(),
                display_name: format!("sim-key-{}", i + 1),
                role: "org:owner".into(),
            })
            .collect();
        let page = paginate(req, items, 10)?;
        ApiResponse::ok(
            &serde_json::json!({"apiKeys": page.items, "nextPageToken": page.next_token}),
        )
    }
}

impl ApiModule for Iam {
    fn name(&self) -> &'static str {
        "iam"
    }
    fn error_shape(&self) -> ErrorShape {
        ErrorShape::OpenApiError
    }
    fn route(&self, req: &ApiRequest) -> Option<Routed> {
        if let Some(d) = &self.dedicated
            && let Some(r) = self.sql_users(d, req)
        {
            return Some(r);
        }
        let segs = req.segments();
        match &segs[..] {
            ["v1beta1", "projects"] => Some(match req.method {
                Method::Get => Routed {
                    route: "/v1beta1/projects",
                    result: self.projects(req),
                },
                _ => method_not_allowed("/v1beta1/projects", req),
            }),
            ["v1beta1", "apikeys"] => Some(match req.method {
                Method::Get => Routed {
                    route: "/v1beta1/apikeys",
                    result: self.api_keys(req),
                },
                _ => method_not_allowed("/v1beta1/apikeys", req),
            }),
            _ => None,
        }
    }
    /// `POST /_sim/iam/clusters/{clusterId}/sqlUsers/{userName}:verifyPassword {"password"}` →
    /// `{"match": bool}` (what a MySQL login would prove; the password is never revealed).
    fn admin(&self, req: &ApiRequest) -> Option<Routed> {
        let d = self.dedicated.as_ref()?;
        let segs = req.segments();
        match (req.method, &segs[..]) {
            (Method::Post, ["iam", "clusters", cid, "sqlUsers", seg]) => {
                let name = seg.strip_suffix(":verifyPassword")?;
                Some(Routed {
                    route: "/_sim/iam/clusters/{clusterId}/sqlUsers/{userName}:verifyPassword",
                    result: d.verify_sql_user_password(cid, name, req),
                })
            }
            _ => None,
        }
    }
    fn reset(&self) {}
}
