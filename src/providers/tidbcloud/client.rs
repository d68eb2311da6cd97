//! The TiDB Cloud HTTP client: one per API key, cheap to clone.
//!
//! Every exchange (digest challenge round trips included) first takes a permit from the key's
//! [`Budget`], then feeds the rate-limit headers back into it, counts itself in
//! `clouddb_cloud_requests_total{provider,key_id,route,status}` and logs method, templated route, status,
//! duration and `x-debug-trace-id` at debug level — never bodies, secrets or the `Authorization` header.
//! Failures map to [`CloudError`]; a 429 is returned at once (the controller requeues at the server's hint)
//! rather than retried here.
use super::auth::{Challenge, DigestCache};
use super::models::*;
use crate::cloud::http::{
    self, Call, HttpConfig, Transport, check_id, decode, header_str, parse_base, server_message,
};
use crate::cloud::{
    Budget, BudgetRegistry, CloudError, ExposeSecret, Priority, SecretString, ServerQuota,
};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://dedicated.tidbapi.com/v1beta1";
pub const DEFAULT_IAM_BASE_URL: &str = "https://iam.tidbapi.com/v1beta1";
/// The Serverless (Starter / Essential) v1beta1 API: same keys, digest authentication and per-key quota.
pub const DEFAULT_SERVERLESS_BASE_URL: &str = "https://serverless.tidbapi.com/v1beta1";
/// The `provider` label of metrics.
pub const PROVIDER: &str = "tidbcloud";

/// Digest challenges answered at most per call.
const MAX_CHALLENGES: u32 = 3;
/// Pages read at most by the `list_all_*` helpers before giving up (a guard against a looping server).
pub(super) const MAX_PAGES: usize = 10_000;

/// An API key pair. The public key is an identifier (it appears in metrics and logs); the private key is a
/// secret and is never printed.
#[derive(Clone)]
pub struct ApiKey {
    pub public_key: String,
    pub private_key: SecretString,
}

impl ApiKey {
    pub fn new(public_key: impl Into<String>, private_key: impl Into<String>) -> ApiKey {
        ApiKey {
            public_key: public_key.into(),
            private_key: SecretString::from(private_key.into()),
        }
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("public_key", &self.public_key)
            .field("private_key", &"***")
            .finish()
    }
}

/// Where and how to reach the API.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Dedicated API base, default [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// IAM API base, default [`DEFAULT_IAM_BASE_URL`].
    pub iam_base_url: String,
    /// Serverless API base, default [`DEFAULT_SERVERLESS_BASE_URL`] (its calls are in `serverless.rs`).
    pub serverless_base_url: String,
    /// TLS, timeouts, user agent.
    pub http: HttpConfig,
    /// `pageSize` used by the `list_all_*` helpers (the API caps it at 100).
    pub page_size: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            iam_base_url: DEFAULT_IAM_BASE_URL.to_string(),
            serverless_base_url: DEFAULT_SERVERLESS_BASE_URL.to_string(),
            http: HttpConfig::default(),
            page_size: 100,
        }
    }
}

impl ClientConfig {
    /// Both APIs on one origin (`https://host:port`), under `/v1beta1` — how a simulator serves them.
    pub fn with_endpoint(mut self, origin: &str) -> Self {
        let origin = origin.trim_end_matches('/');
        self.base_url = format!("{origin}/v1beta1");
        self.iam_base_url = format!("{origin}/v1beta1");
        self
    }

    /// The Serverless API on its own origin (`https://host:port`), under `/v1beta1` — how a simulator serves it
    /// (its paths collide with the Dedicated ones, so it listens apart).
    pub fn with_serverless_endpoint(mut self, origin: &str) -> Self {
        let origin = origin.trim_end_matches('/');
        self.serverless_base_url = format!("{origin}/v1beta1");
        self
    }

    /// Trusts the CA certificates of a PEM file as well.
    pub fn with_ca_file(mut self, path: &Path) -> Result<Self, CloudError> {
        self.http.extra_ca_pem = Some(http::read_ca_file(path)?);
        Ok(self)
    }

    /// Builds an HTTP client for this configuration (share it between [`TidbCloudClient`]s with
    /// [`TidbCloudClient::with_http_client`] to share connections).
    pub fn build_http_client(&self) -> Result<reqwest::Client, CloudError> {
        http::build_http_client(&self.http)
    }
}

/// A call to the IAM API (the second base URL).
fn iam(mut call: Call<'_>) -> Call<'_> {
    call.alternate_base = true;
    call
}

fn server_quota(headers: &HeaderMap) -> ServerQuota {
    let num = |name: &str| header_str(headers, name).and_then(|v| v.parse::<u64>().ok());
    ServerQuota {
        limit: num("x-ratelimit-limit-minute").and_then(|v| u32::try_from(v).ok()),
        remaining: num("x-ratelimit-remaining-minute").and_then(|v| u32::try_from(v).ok()),
        reset: num("x-ratelimit-reset").map(Duration::from_secs),
    }
}

struct Inner {
    transport: Transport,
    base: Url,
    iam_base: Url,
    serverless_base: Url,
    key: ApiKey,
    digest: DigestCache,
    page_size: u32,
}

/// A TiDB Cloud API client bound to one API key. Clones share the connection pool, the digest challenge
/// and the key's budget.
#[derive(Clone)]
pub struct TidbCloudClient {
    inner: Arc<Inner>,
    observe_priority: Priority,
}

impl std::fmt::Debug for TidbCloudClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TidbCloudClient")
            .field("base", &self.inner.base.as_str())
            .field("key_id", &self.inner.key.public_key)
            .finish_non_exhaustive()
    }
}

impl TidbCloudClient {
    /// A client for `key`, taking its budget (and metrics) from `budgets`.
    pub fn new(
        config: &ClientConfig,
        key: ApiKey,
        budgets: &BudgetRegistry,
    ) -> Result<TidbCloudClient, CloudError> {
        let http = config.build_http_client()?;
        Self::with_http_client(http, config, key, budgets)
    }

    /// Like [`TidbCloudClient::new`] with an existing HTTP client (from
    /// [`ClientConfig::build_http_client`]); the TLS settings of `config` are then not applied again.
    pub fn with_http_client(
        http: reqwest::Client,
        config: &ClientConfig,
        key: ApiKey,
        budgets: &BudgetRegistry,
    ) -> Result<TidbCloudClient, CloudError> {
        let base = parse_base("base_url", &config.base_url)?;
        let iam_base = parse_base("iam_base_url", &config.iam_base_url)?;
        let serverless_base = parse_base("serverless_base_url", &config.serverless_base_url)?;
        if key.public_key.is_empty() || key.private_key.expose_secret().is_empty() {
            return Err(CloudError::config(
                "the API key pair is incomplete: both the public and the private key are required",
            ));
        }
        if HeaderValue::from_str(&key.public_key).is_err() || key.public_key.contains('"') {
            return Err(CloudError::config(
                "the public key contains characters that cannot appear in an HTTP header",
            ));
        }
        Ok(TidbCloudClient {
            inner: Arc::new(Inner {
                transport: Transport::new(
                    PROVIDER,
                    http,
                    budgets,
                    &key.public_key,
                    config.http.timeout,
                ),
                base,
                iam_base,
                serverless_base,
                key,
                digest: DigestCache::default(),
                page_size: config.page_size.clamp(1, 100),
            }),
            observe_priority: Priority::Transitional,
        })
    }

    /// The same client, with reads (`GET`) taking `priority` from the budget (writes are always
    /// [`Priority::Write`]).
    pub fn with_observe_priority(&self, priority: Priority) -> TidbCloudClient {
        TidbCloudClient {
            inner: self.inner.clone(),
            observe_priority: priority,
        }
    }

    /// The public key (metrics label `key_id`).
    pub fn key_id(&self) -> &str {
        &self.inner.key.public_key
    }

    /// The budget of this client's key.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.inner.transport.budget
    }

    // ---- clusters -------------------------------------------------------------------------------------

    /// One page of clusters of `project_id` (the default project when `None`).
    pub async fn list_clusters(
        &self,
        project_id: Option<&str>,
        page_size: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<ClusterPage, CloudError> {
        let mut call = Call::new(Method::GET, "GET /clusters", &["clusters"]);
        if let Some(p) = project_id.filter(|p| !p.is_empty()) {
            call = call.query("projectId", p);
        }
        if let Some(n) = page_size {
            call = call.query("pageSize", n);
        }
        if let Some(t) = page_token.filter(|t| !t.is_empty()) {
            call = call.query("pageToken", t);
        }
        self.execute(call).await
    }

    /// Every cluster of `project_id` (the default project when `None`), following `nextPageToken`.
    pub async fn list_all_clusters(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<Cluster>, CloudError> {
        let mut out = Vec::new();
        self.for_each_cluster_page(project_id, |page| out.extend(page))
            .await?;
        Ok(out)
    }

    /// Every cluster of `project_id`, handed to `each` one page at a time as the pages arrive (so that a
    /// caller keeping them elsewhere never holds the whole list twice).
    pub async fn for_each_cluster_page(
        &self,
        project_id: Option<&str>,
        mut each: impl FnMut(Vec<Cluster>),
    ) -> Result<(), CloudError> {
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .list_clusters(project_id, Some(self.inner.page_size), token.as_deref())
                .await?;
            each(page.clusters);
            match next_token(token.as_deref(), page.next_page_token, "GET /clusters")? {
                Some(t) => token = Some(t),
                None => return Ok(()),
            }
        }
        Err(too_many_pages("GET /clusters"))
    }

    /// The clusters of `project_id` among `cluster_ids` (`GET /clusters?clusterIds=…&clusterIds=…`, one
    /// repeated query parameter per id): at most [`ClientConfig::page_size`] ids, so that one call (one page)
    /// answers for all of them. An id missing from the answer is not a cluster of that project (deleted).
    pub async fn list_clusters_by_ids(
        &self,
        project_id: Option<&str>,
        cluster_ids: &[String],
    ) -> Result<Vec<Cluster>, CloudError> {
        let page = self.inner.page_size as usize;
        if cluster_ids.len() > page {
            return Err(CloudError::config(format!(
                "{} cluster ids in one list call: at most {page} (the page size) fit",
                cluster_ids.len()
            )));
        }
        let mut out = Vec::with_capacity(cluster_ids.len());
        if cluster_ids.is_empty() {
            return Ok(out);
        }
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = Call::new(Method::GET, "GET /clusters", &["clusters"]);
            if let Some(p) = project_id.filter(|p| !p.is_empty()) {
                call = call.query("projectId", p);
            }
            for id in cluster_ids {
                check_id("cluster id", id)?;
                call = call.query("clusterIds", id);
            }
            call = call.query("pageSize", self.inner.page_size);
            if let Some(t) = token.as_deref() {
                call = call.query("pageToken", t);
            }
            let page: ClusterPage = self.execute(call).await?;
            out.extend(page.clusters);
            match next_token(token.as_deref(), page.next_page_token, "GET /clusters")? {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
        Err(too_many_pages("GET /clusters"))
    }

    /// The page size of the `list_*` helpers (at most 100, the API's limit).
    pub fn page_size(&self) -> usize {
        self.inner.page_size as usize
    }

    pub async fn get_cluster(&self, cluster_id: &str) -> Result<Cluster, CloudError> {
        check_id("cluster id", cluster_id)?;
        self.execute(Call::new(
            Method::GET,
            "GET /clusters/{clusterId}",
            &["clusters", cluster_id],
        ))
        .await
    }

    /// Creates a cluster; the answer is the cluster in `CREATING`.
    pub async fn create_cluster(&self, req: &CreateClusterRequest) -> Result<Cluster, CloudError> {
        self.create_cluster_inner(req, false).await
    }

    /// Asks the server to validate a create (`validateOnly=true`): nothing is created.
    pub async fn validate_create_cluster(
        &self,
        req: &CreateClusterRequest,
    ) -> Result<Cluster, CloudError> {
        self.create_cluster_inner(req, true).await
    }

    async fn create_cluster_inner(
        &self,
        req: &CreateClusterRequest,
        validate_only: bool,
    ) -> Result<Cluster, CloudError> {
        let mut call = Call::new(Method::POST, "POST /clusters", &["clusters"]).json(req)?;
        if let Some(p) = &req.root_password {
            call = call.secret(p.expose_secret());
        }
        if validate_only {
            call = call.query("validateOnly", "true");
        }
        self.execute(call).await
    }

    /// Changes what `req` sets; the answer is the cluster (in `MODIFYING` when the topology changes).
    pub async fn update_cluster(
        &self,
        cluster_id: &str,
        req: &UpdateClusterRequest,
    ) -> Result<Cluster, CloudError> {
        self.update_cluster_inner(cluster_id, req, false).await
    }

    /// Asks the server to validate an update (`validateOnly=true`): nothing changes.
    pub async fn validate_update_cluster(
        &self,
        cluster_id: &str,
        req: &UpdateClusterRequest,
    ) -> Result<Cluster, CloudError> {
        self.update_cluster_inner(cluster_id, req, true).await
    }

    async fn update_cluster_inner(
        &self,
        cluster_id: &str,
        req: &UpdateClusterRequest,
        validate_only: bool,
    ) -> Result<Cluster, CloudError> {
        check_id("cluster id", cluster_id)?;
        let mut call = Call::new(
            Method::PATCH,
            "PATCH /clusters/{clusterId}",
            &["clusters", cluster_id],
        )
        .json(req)?;
        if validate_only {
            call = call.query("validateOnly", "true");
        }
        self.execute(call).await
    }

    /// Deletes a cluster; the answer is the cluster in `DELETING`. A cluster already gone gives
    /// [`CloudError::NotFound`] (treat it as done).
    pub async fn delete_cluster(&self, cluster_id: &str) -> Result<Cluster, CloudError> {
        check_id("cluster id", cluster_id)?;
        self.execute(Call::new(
            Method::DELETE,
            "DELETE /clusters/{clusterId}",
            &["clusters", cluster_id],
        ))
        .await
    }

    /// Pauses an `ACTIVE` cluster; the answer is the cluster in `PAUSING`.
    pub async fn pause_cluster(&self, cluster_id: &str) -> Result<Cluster, CloudError> {
        check_id("cluster id", cluster_id)?;
        let call = Call::new(
            Method::POST,
            "POST /clusters/{clusterId}:pauseCluster",
            &["clusters", &format!("{cluster_id}:pauseCluster")],
        )
        .json(&serde_json::json!({}))?;
        let envelope: ClusterEnvelope = self.execute(call).await?;
        Ok(envelope.cluster)
    }

    /// Resumes a `PAUSED` cluster; the answer is the cluster in `RESUMING`.
    pub async fn resume_cluster(&self, cluster_id: &str) -> Result<Cluster, CloudError> {
        check_id("cluster id", cluster_id)?;
        let call = Call::new(
            Method::POST,
            "POST /clusters/{clusterId}:resumeCluster",
            &["clusters", &format!("{cluster_id}:resumeCluster")],
        )
        .json(&serde_json::json!({}))?;
        let envelope: ClusterEnvelope = self.execute(call).await?;
        Ok(envelope.cluster)
    }

    /// Sets the root password (8–64 characters) of an `ACTIVE` cluster.
    pub async fn reset_root_password(
        &self,
        cluster_id: &str,
        password: &SecretString,
    ) -> Result<(), CloudError> {
        check_id("cluster id", cluster_id)?;
        let call = Call::new(
            Method::POST,
            "POST /clusters/{clusterId}:resetRootPassword",
            &["clusters", &format!("{cluster_id}:resetRootPassword")],
        )
        .json(&ResetRootPasswordRequest {
            root_password: password,
        })?
        .secret(password.expose_secret());
        let _: serde_json::Value = self.execute(call).await?;
        Ok(())
    }

    // ---- regions and node specs -----------------------------------------------------------------------

    /// Every region (all pages).
    pub async fn list_regions(&self) -> Result<Vec<Region>, CloudError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = Call::new(Method::GET, "GET /regions", &["regions"])
                .query("pageSize", self.inner.page_size);
            if let Some(t) = &token {
                call = call.query("pageToken", t);
            }
            let page: RegionPage = self.execute(call).await?;
            out.extend(page.regions);
            match next_token(token.as_deref(), page.next_page_token, "GET /regions")? {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
        Err(too_many_pages("GET /regions"))
    }

    /// Every node spec of `region_id` (all pages), optionally of one component (`TIDB`, `TIKV`,
    /// `TIFLASH`...).
    pub async fn list_node_specs(
        &self,
        region_id: &str,
        component_type: Option<&ComponentType>,
    ) -> Result<Vec<NodeSpec>, CloudError> {
        check_id("region id", region_id)?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = Call::new(
                Method::GET,
                "GET /regions/{regionId}/nodeSpecs",
                &["regions", region_id, "nodeSpecs"],
            );
            if let Some(c) = component_type {
                call = call.query("componentType", c.as_str());
            }
            call = call.query("pageSize", self.inner.page_size);
            if let Some(t) = &token {
                call = call.query("pageToken", t);
            }
            let page: NodeSpecPage = self.execute(call).await?;
            out.extend(page.node_specs);
            match next_token(
                token.as_deref(),
                page.next_page_token,
                "GET /regions/{regionId}/nodeSpecs",
            )? {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
        Err(too_many_pages("GET /regions/{regionId}/nodeSpecs"))
    }

    // ---- imports --------------------------------------------------------------------------------------

    /// Every import of a cluster (all pages).
    pub async fn list_imports(&self, cluster_id: &str) -> Result<Vec<Import>, CloudError> {
        check_id("cluster id", cluster_id)?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = Call::new(
                Method::GET,
                "GET /clusters/{clusterId}/imports",
                &["clusters", cluster_id, "imports"],
            )
            .query("pageSize", self.inner.page_size);
            if let Some(t) = &token {
                call = call.query("pageToken", t);
            }
            let page: ImportPage = self.execute(call).await?;
            out.extend(page.imports);
            match next_token(
                token.as_deref(),
                page.next_page_token,
                "GET /clusters/{clusterId}/imports",
            )? {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
        Err(too_many_pages("GET /clusters/{clusterId}/imports"))
    }

    /// Starts an import; the answer is the import in `PREPARING`.
    pub async fn create_import(
        &self,
        cluster_id: &str,
        req: &CreateImportRequest,
    ) -> Result<Import, CloudError> {
        check_id("cluster id", cluster_id)?;
        let mut call = Call::new(
            Method::POST,
            "POST /clusters/{clusterId}/imports",
            &["clusters", cluster_id, "imports"],
        )
        .json(req)?;
        let src = &req.creation_details.source;
        let secrets = [
            src.s3
                .as_ref()
                .and_then(|s| s.access_key.as_ref())
                .and_then(|k| k.secret.as_ref()),
            src.gcs
                .as_ref()
                .and_then(|g| g.service_account_key.as_ref()),
            src.azure_blob.as_ref().and_then(|a| a.sas_token.as_ref()),
        ];
        for s in secrets.into_iter().flatten() {
            call = call.secret(s.expose_secret());
        }
        self.execute(call).await
    }

    pub async fn get_import(
        &self,
        cluster_id: &str,
        import_id: &str,
    ) -> Result<Import, CloudError> {
        check_id("cluster id", cluster_id)?;
        check_id("import id", import_id)?;
        self.execute(Call::new(
            Method::GET,
            "GET /clusters/{clusterId}/imports/{importId}",
            &["clusters", cluster_id, "imports", import_id],
        ))
        .await
    }

    /// Cancels a running import (it goes `CANCELING` → `CANCELED`).
    pub async fn cancel_import(&self, cluster_id: &str, import_id: &str) -> Result<(), CloudError> {
        check_id("cluster id", cluster_id)?;
        check_id("import id", import_id)?;
        let call = Call::new(
            Method::POST,
            "POST /clusters/{clusterId}/imports/{importId}:cancel",
            &[
                "clusters",
                cluster_id,
                "imports",
                &format!("{import_id}:cancel"),
            ],
        )
        .json(&serde_json::json!({}))?;
        let _: serde_json::Value = self.execute(call).await?;
        Ok(())
    }

    // ---- integrations ---------------------------------------------------------------------------------

    pub async fn list_integrations(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<Integration>, CloudError> {
        check_id("cluster id", cluster_id)?;
        let list: IntegrationList = self
            .execute(Call::new(
                Method::GET,
                "GET /clusters/{clusterId}/integrations",
                &["clusters", cluster_id, "integrations"],
            ))
            .await?;
        Ok(list.items)
    }

    pub async fn create_integration(
        &self,
        cluster_id: &str,
        req: &CreateIntegrationRequest,
    ) -> Result<Integration, CloudError> {
        check_id("cluster id", cluster_id)?;
        let mut call = Call::new(
            Method::POST,
            "POST /clusters/{clusterId}/integrations",
            &["clusters", cluster_id, "integrations"],
        )
        .json(req)?;
        for v in [&req.datadog, &req.newrelic].into_iter().flatten() {
            call = call.secret(v.api_key.expose_secret());
        }
        self.execute(call).await
    }

    /// Deletes an integration; one already gone gives [`CloudError::NotFound`].
    pub async fn delete_integration(
        &self,
        cluster_id: &str,
        integration_id: &str,
    ) -> Result<(), CloudError> {
        check_id("cluster id", cluster_id)?;
        check_id("integration id", integration_id)?;
        let _: serde_json::Value = self
            .execute(Call::new(
                Method::DELETE,
                "DELETE /clusters/{clusterId}/integrations/{id}",
                &["clusters", cluster_id, "integrations", integration_id],
            ))
            .await?;
        Ok(())
    }

    // ---- public endpoint setting ----------------------------------------------------------------------

    /// The public endpoint setting of the cluster's default TiDB node group (`-`).
    pub async fn get_public_endpoint_setting(
        &self,
        cluster_id: &str,
    ) -> Result<PublicEndpointSetting, CloudError> {
        check_id("cluster id", cluster_id)?;
        self.execute(Call::new(
            Method::GET,
            "GET /clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/publicEndpointSetting",
            &[
                "clusters",
                cluster_id,
                "tidbNodeGroups",
                "-",
                "publicEndpointSetting",
            ],
        ))
        .await
    }

    /// Writes the public endpoint setting of the default TiDB node group (a given list replaces the old one).
    pub async fn update_public_endpoint_setting(
        &self,
        cluster_id: &str,
        req: &PublicEndpointSetting,
    ) -> Result<PublicEndpointSetting, CloudError> {
        check_id("cluster id", cluster_id)?;
        let call = Call::new(
            Method::PATCH,
            "PATCH /clusters/{clusterId}/tidbNodeGroups/{tidbNodeGroupId}/publicEndpointSetting",
            &[
                "clusters",
                cluster_id,
                "tidbNodeGroups",
                "-",
                "publicEndpointSetting",
            ],
        )
        .json(req)?;
        self.execute(call).await
    }

    // ---- SQL users (IAM) ------------------------------------------------------------------------------

    /// Every SQL user of a cluster (IAM API, all pages).
    pub async fn list_sql_users(&self, cluster_id: &str) -> Result<Vec<SqlUser>, CloudError> {
        check_id("cluster id", cluster_id)?;
        const ROUTE: &str = "GET /clusters/{clusterId}/sqlUsers";
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = iam(Call::new(
                Method::GET,
                ROUTE,
                &["clusters", cluster_id, "sqlUsers"],
            ))
            .query("pageSize", 100);
            if let Some(t) = &token {
                call = call.query("pageToken", t);
            }
            let page: SqlUserPage = self.execute(call).await?;
            out.extend(page.sql_users);
            match next_token(token.as_deref(), page.next_page_token, ROUTE)? {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
        Err(too_many_pages(ROUTE))
    }

    pub async fn create_sql_user(
        &self,
        cluster_id: &str,
        req: &CreateSqlUserRequest,
    ) -> Result<SqlUser, CloudError> {
        check_id("cluster id", cluster_id)?;
        let call = iam(Call::new(
            Method::POST,
            "POST /clusters/{clusterId}/sqlUsers",
            &["clusters", cluster_id, "sqlUsers"],
        ))
        .json(req)?
        .secret(req.password.expose_secret());
        self.execute(call).await
    }

    pub async fn update_sql_user(
        &self,
        cluster_id: &str,
        user_name: &str,
        req: &UpdateSqlUserRequest,
    ) -> Result<SqlUser, CloudError> {
        check_id("cluster id", cluster_id)?;
        check_id("user name", user_name)?;
        let mut call = iam(Call::new(
            Method::PATCH,
            "PATCH /clusters/{clusterId}/sqlUsers/{userName}",
            &["clusters", cluster_id, "sqlUsers", user_name],
        ))
        .json(req)?;
        if let Some(p) = &req.password {
            call = call.secret(p.expose_secret());
        }
        self.execute(call).await
    }

    /// Deletes a SQL user; one already gone gives [`CloudError::NotFound`].
    pub async fn delete_sql_user(
        &self,
        cluster_id: &str,
        user_name: &str,
    ) -> Result<(), CloudError> {
        check_id("cluster id", cluster_id)?;
        check_id("user name", user_name)?;
        let _: serde_json::Value = self
            .execute(iam(Call::new(
                Method::DELETE,
                "DELETE /clusters/{clusterId}/sqlUsers/{userName}",
                &["clusters", cluster_id, "sqlUsers", user_name],
            )))
            .await?;
        Ok(())
    }

    // ---- IAM ------------------------------------------------------------------------------------------

    /// Every project of the organization (IAM API, all pages).
    pub async fn list_projects(&self) -> Result<Vec<Project>, CloudError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = iam(Call::new(Method::GET, "GET /projects", &["projects"]))
                .query("pageSize", self.inner.page_size);
            if let Some(t) = &token {
                call = call.query("pageToken", t);
            }
            let page: ProjectPage = self.execute(call).await?;
            out.extend(page.projects);
            match next_token(token.as_deref(), page.next_page_token, "GET /projects")? {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
        Err(too_many_pages("GET /projects"))
    }

    // ---- transport ------------------------------------------------------------------------------------

    /// Sends `call` (answering the digest challenge, and a few stale-nonce re-challenges), and decodes a 2xx
    /// answer into `T`.
    async fn execute<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, CloudError> {
        let inner = &*self.inner;
        let base = if call.alternate_base {
            &inner.iam_base
        } else {
            &inner.base
        };
        self.execute_at(base, call).await
    }

    /// `call` to the Serverless API (same key, digest cache per host, budget and connection pool).
    pub(super) async fn execute_serverless<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<T, CloudError> {
        self.execute_at(&self.inner.serverless_base, call).await
    }

    /// `pageSize` of list calls.
    pub(super) fn page_size_u32(&self) -> u32 {
        self.inner.page_size
    }

    async fn execute_at<T: DeserializeOwned>(
        &self,
        base: &Url,
        call: Call<'_>,
    ) -> Result<T, CloudError> {
        let inner = &*self.inner;
        let url = call.url(base)?;
        // The digest `uri` is the request target exactly as sent.
        let target = url[url::Position::BeforePath..url::Position::AfterQuery].to_string();
        let authority = url[url::Position::BeforeHost..url::Position::AfterPort].to_string();
        let mut secrets = call.secrets.clone();
        secrets.push(inner.key.private_key.expose_secret());
        let mut challenges_answered = 0;
        loop {
            let mut signed = false;
            let answer = inner
                .transport
                .send(&call, &url, self.observe_priority, |rb| {
                    let authorization = inner.digest.authorize(
                        &authority,
                        call.method.as_str(),
                        &target,
                        &inner.key.public_key,
                        inner.key.private_key.expose_secret(),
                    );
                    signed = authorization.is_some();
                    match authorization {
                        Some(a) => rb.header(reqwest::header::AUTHORIZATION, a),
                        None => rb,
                    }
                })
                .await?;
            let (status, headers, body) = (answer.status, answer.headers, answer.body);
            inner.transport.budget.observe(server_quota(&headers));

            if status == StatusCode::UNAUTHORIZED {
                let challenge = Challenge::from_headers(&headers);
                // Answer a first challenge, or a stale nonce (the signature was right; concurrent requests
                // can reach the server out of `nc` order); a plain rejection of signed credentials is final.
                let retry = challenges_answered < MAX_CHALLENGES
                    && challenge.as_ref().is_some_and(|c| !signed || c.stale());
                if let Some(c) = challenge {
                    inner.digest.store(&authority, c);
                }
                if retry {
                    challenges_answered += 1;
                    continue;
                }
                let (message, _) = server_message(&body, &secrets);
                return Err(CloudError::Unauthorized { message });
            }
            if status.is_success() {
                return decode(call.route, &body);
            }
            return Err(self.error_for(status, &headers, &body, &secrets));
        }
    }

    fn error_for(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        secrets: &[&str],
    ) -> CloudError {
        let (message, code) = server_message(body, secrets);
        let s = status.as_u16();
        // google.rpc codes 9 FAILED_PRECONDITION and 10 ABORTED: the state, not the request, is wrong.
        if s == 400 && matches!(code, Some(9 | 10)) {
            return CloudError::FailedPrecondition { status: s, message };
        }
        let retry_after = server_quota(headers).reset.or_else(|| {
            header_str(headers, "retry-after")
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs)
        });
        http::classify(status, message, retry_after, &self.inner.transport.budget)
    }
}

/// The token of the next page, `None` when done; a token that repeats means the server is looping.
pub(super) fn next_token(
    previous: Option<&str>,
    next: String,
    route: &str,
) -> Result<Option<String>, CloudError> {
    if next.is_empty() {
        Ok(None)
    } else if previous == Some(next.as_str()) {
        Err(CloudError::decode(format!(
            "{route}: the server returned the same nextPageToken twice"
        )))
    } else {
        Ok(Some(next))
    }
}

pub(super) fn too_many_pages(route: &str) -> CloudError {
    CloudError::decode(format!("{route}: more than {MAX_PAGES} pages"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_are_dropped_before_decoding() {
        let c: Cluster = decode(
            "GET /clusters/{clusterId}",
            br#"{"clusterId": "1", "displayName": null, "labels": null, "tiflashNodeSetting": null,
                "tidbNodeSetting": {"tidbNodeGroups": [{"endpoints": null, "nodeCount": 1}]}}"#,
        )
        .unwrap();
        assert_eq!(c.cluster_id, "1");
        assert_eq!(c.tidb_node_count(), 1);
    }

    #[test]
    fn paging_stops_on_empty_and_detects_loops() {
        assert_eq!(next_token(None, String::new(), "r").unwrap(), None);
        assert_eq!(
            next_token(None, "a".into(), "r").unwrap(),
            Some("a".to_string())
        );
        assert!(next_token(Some("a"), "a".into(), "r").is_err());
    }

    #[test]
    fn api_key_debug_is_masked() {
        let k = ApiKey::new("PUB12345", "very-private-key");
        let d = format!("{k:?}");
        assert!(
            d.contains("PUB12345") && !d.contains("very-private-key"),
            "{d}"
        );
    }

    #[test]
    fn incomplete_keys_and_bad_ca_are_config_errors() {
        let budgets = BudgetRegistry::default();
        let e = TidbCloudClient::new(&ClientConfig::default(), ApiKey::new("PUB", ""), &budgets)
            .unwrap_err();
        assert_eq!(e.category(), "Config");
        let mut cfg = ClientConfig::default();
        cfg.http.extra_ca_pem = Some(b"not a pem".to_vec());
        let e = TidbCloudClient::new(&cfg, ApiKey::new("PUB", "priv"), &budgets).unwrap_err();
        assert_eq!(e.category(), "Config");
        let e = ClientConfig::default()
            .with_ca_file(Path::new("/nonexistent/ca.pem"))
            .unwrap_err();
        assert_eq!(e.category(), "Config");
    }
}
