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
use crate::cloud::{
    Budget, BudgetRegistry, CloudError, ExposeSecret, Priority, SecretString, ServerQuota,
};
use crate::metrics::Metrics;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://dedicated.tidbapi.com/v1beta1";
pub const DEFAULT_IAM_BASE_URL: &str = "https://iam.tidbapi.com/v1beta1";
/// The `provider` label of metrics.
pub const PROVIDER: &str = "tidbcloud";

/// Longest server message kept in an error.
const MAX_MESSAGE_CHARS: usize = 1000;
/// Digest challenges answered at most per call.
const MAX_CHALLENGES: u32 = 3;
/// Pages read at most by the `list_all_*` helpers before giving up (a guard against a looping server).
const MAX_PAGES: usize = 10_000;

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
#[derive(Clone)]
pub struct ClientConfig {
    /// Dedicated API base, default [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// IAM API base, default [`DEFAULT_IAM_BASE_URL`].
    pub iam_base_url: String,
    /// Extra trusted CA certificates (PEM, one or more), e.g. a simulator's CA; added to the public roots.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Whole-exchange timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub user_agent: String,
    /// `pageSize` used by the `list_all_*` helpers (the API caps it at 100).
    pub page_size: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            iam_base_url: DEFAULT_IAM_BASE_URL.to_string(),
            extra_ca_pem: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            user_agent: format!("clouddb-operator/{}", env!("CARGO_PKG_VERSION")),
            page_size: 100,
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("iam_base_url", &self.iam_base_url)
            .field(
                "extra_ca_pem",
                &self
                    .extra_ca_pem
                    .as_ref()
                    .map(|p| format!("<{} bytes>", p.len())),
            )
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("user_agent", &self.user_agent)
            .field("page_size", &self.page_size)
            .finish()
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

    /// Trusts the CA certificates of a PEM file as well.
    pub fn with_ca_file(mut self, path: &Path) -> Result<Self, CloudError> {
        let pem = std::fs::read(path)
            .map_err(|e| CloudError::config(format!("reading CA file {}: {e}", path.display())))?;
        self.extra_ca_pem = Some(pem);
        Ok(self)
    }

    /// Builds an HTTP client for this configuration (share it between [`TidbCloudClient`]s with
    /// [`TidbCloudClient::with_http_client`] to share connections).
    pub fn build_http_client(&self) -> Result<reqwest::Client, CloudError> {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.clone())
            // A redirect would re-send a signed request elsewhere; the API never redirects.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &self.extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| CloudError::config(format!("the extra CA is not valid PEM: {e}")))?;
            if certs.is_empty() {
                return Err(CloudError::config(
                    "the extra CA contains no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)",
                ));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        b.build()
            .map_err(|e| CloudError::config(format!("building the HTTP client: {e}")))
    }
}

/// Parses and checks a base URL: https, or plain http to a loopback host only.
fn parse_base(what: &str, raw_input: &str) -> Result<Url, CloudError> {
    // Messages show the URL without any `user:password@` part.
    let shown = without_userinfo(raw_input);
    let raw = shown.as_str();
    let url = Url::parse(raw_input)
        .map_err(|e| CloudError::config(format!("{what} {raw:?} is not a valid URL: {e}")))?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(CloudError::config(format!(
            "{what} {raw:?} must be an absolute http(s) URL with a host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(CloudError::config(format!(
            "{what} {raw:?} must not carry a query, a fragment or credentials"
        )));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(CloudError::config(format!(
            "{what} {raw:?} uses plain http to a non-loopback host: API keys and passwords would travel \
             unprotected; use https (plain http is accepted only for localhost, e.g. a local simulator)"
        ))),
        other => Err(CloudError::config(format!(
            "{what} {raw:?} has scheme {other:?}: only https is supported"
        ))),
    }
}

fn without_userinfo(raw: &str) -> String {
    let (scheme, rest) = raw.split_once("://").unwrap_or(("", raw));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if !scheme.is_empty() => format!("{scheme}://***@{}", &rest[at + 1..]),
        _ => raw.to_string(),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.');
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Ids go into URL paths: accept only what real ids look like, so that no input can change the path.
fn check_id(kind: &str, id: &str) -> Result<(), CloudError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(CloudError::InvalidArgument {
            message: format!(
                "invalid {kind} {id:?}: expected letters, digits, '-', '_' or '.' (at most 128)"
            ),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Dedicated,
    Iam,
}

/// One API call: what to send and how to name it.
struct Call<'a> {
    method: Method,
    /// Templated route, the `route` metric label: `GET /clusters/{clusterId}`.
    route: &'static str,
    api: Api,
    path: Vec<String>,
    query: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    /// Secret values in the body, scrubbed from any server message.
    secrets: Vec<&'a str>,
}

impl<'a> Call<'a> {
    fn new(method: Method, route: &'static str, path: &[&str]) -> Call<'a> {
        Call {
            method,
            route,
            api: Api::Dedicated,
            path: path.iter().map(|s| s.to_string()).collect(),
            query: Vec::new(),
            body: None,
            secrets: Vec::new(),
        }
    }

    fn iam(mut self) -> Self {
        self.api = Api::Iam;
        self
    }

    fn query(mut self, name: &'static str, value: impl ToString) -> Self {
        self.query.push((name, value.to_string()));
        self
    }

    fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Result<Self, CloudError> {
        // Serializing our own request types cannot fail; the message must not echo the body anyway.
        let bytes = serde_json::to_vec(body).map_err(|_| {
            CloudError::config(format!(
                "{}: the request body cannot be encoded",
                self.route
            ))
        })?;
        self.body = Some(bytes);
        Ok(self)
    }

    fn secret(mut self, s: &'a str) -> Self {
        self.secrets.push(s);
        self
    }
}

/// Removes `null` members recursively so that `#[serde(default)]` fills them in.
fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.retain(|_, x| !x.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn server_quota(headers: &HeaderMap) -> ServerQuota {
    let num = |name: &str| header_str(headers, name).and_then(|v| v.parse::<u64>().ok());
    ServerQuota {
        limit: num("x-ratelimit-limit-minute").and_then(|v| u32::try_from(v).ok()),
        remaining: num("x-ratelimit-remaining-minute").and_then(|v| u32::try_from(v).ok()),
        reset: num("x-ratelimit-reset").map(Duration::from_secs),
    }
}

/// The server's explanation from an error body: `message` (google.rpc.Status), `error` (IAM), or the raw
/// text; secrets of the request and the private key are scrubbed, and the length is capped.
fn server_message(body: &[u8], secrets: &[&str]) -> (String, Option<i64>) {
    let (mut message, code) = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => {
            let code = v.get("code").and_then(serde_json::Value::as_i64);
            let text = match (v.get("message"), v.get("error")) {
                (Some(serde_json::Value::String(m)), _) if !m.is_empty() => m.clone(),
                (_, Some(serde_json::Value::String(e))) if !e.is_empty() => e.clone(),
                (_, Some(e)) if !e.is_null() => e.to_string(),
                _ => String::new(),
            };
            (text, code)
        }
        Err(_) => (String::from_utf8_lossy(body).trim().to_string(), None),
    };
    for s in secrets {
        if s.len() >= 3 {
            message = message.replace(s, "[REDACTED]");
        }
    }
    if message.is_empty() {
        message = "(no message)".to_string();
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        message = message.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
    }
    (message, code)
}

/// Describes a transport failure from its source chain (reqwest's own text names only the URL).
fn describe_transport(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {}s", timeout.as_secs_f64());
    }
    let mut parts: Vec<String> = Vec::new();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !parts.iter().any(|p| p == &t) {
            parts.push(t);
        }
        src = s.source();
    }
    if parts.is_empty() {
        parts.push(
            if e.is_connect() {
                "connection failed"
            } else if e.is_body() {
                "reading the response failed"
            } else {
                "request failed"
            }
            .to_string(),
        );
    }
    parts.join(": ")
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    iam_base: Url,
    key: ApiKey,
    budget: Arc<Budget>,
    metrics: Metrics,
    digest: DigestCache,
    page_size: u32,
    timeout: Duration,
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
                http,
                base,
                iam_base,
                budget: budgets.budget_for(&key.public_key),
                metrics: budgets.metrics().clone(),
                key,
                digest: DigestCache::default(),
                page_size: config.page_size.clamp(1, 100),
                timeout: config.timeout,
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
        &self.inner.budget
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
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .list_clusters(project_id, Some(self.inner.page_size), token.as_deref())
                .await?;
            out.extend(page.clusters);
            match next_token(token.as_deref(), page.next_page_token, "GET /clusters")? {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
        Err(too_many_pages("GET /clusters"))
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

    // ---- IAM ------------------------------------------------------------------------------------------

    /// Every project of the organization (IAM API, all pages).
    pub async fn list_projects(&self) -> Result<Vec<Project>, CloudError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = Call::new(Method::GET, "GET /projects", &["projects"])
                .iam()
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

    fn url(&self, call: &Call<'_>) -> Result<Url, CloudError> {
        let mut url = match call.api {
            Api::Dedicated => self.inner.base.clone(),
            Api::Iam => self.inner.iam_base.clone(),
        };
        {
            let mut segs = url
                .path_segments_mut()
                .map_err(|_| CloudError::config("the base URL cannot carry a path"))?;
            segs.pop_if_empty();
            segs.extend(call.path.iter());
        }
        if !call.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(call.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// Sends `call` (answering the digest challenge, and a few stale-nonce re-challenges), and decodes a 2xx
    /// answer into `T`.
    async fn execute<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, CloudError> {
        let inner = &*self.inner;
        let url = self.url(&call)?;
        // The digest `uri` is the request target exactly as sent.
        let target = url[url::Position::BeforePath..url::Position::AfterQuery].to_string();
        let authority = url[url::Position::BeforeHost..url::Position::AfterPort].to_string();
        let priority = if call.method == Method::GET {
            self.observe_priority
        } else {
            Priority::Write
        };
        let mut secrets = call.secrets.clone();
        secrets.push(inner.key.private_key.expose_secret());
        let mut challenges_answered = 0;
        loop {
            inner.budget.acquire(priority).await;
            let authorization = inner.digest.authorize(
                &authority,
                call.method.as_str(),
                &target,
                &inner.key.public_key,
                inner.key.private_key.expose_secret(),
            );
            let signed = authorization.is_some();
            let mut rb = inner
                .http
                .request(call.method.clone(), url.clone())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(a) = authorization {
                rb = rb.header(reqwest::header::AUTHORIZATION, a);
            }
            if let Some(b) = &call.body {
                rb = rb
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.clone());
            }
            let start = Instant::now();
            let result = async {
                let resp = rb.send().await?;
                let status = resp.status();
                let headers = resp.headers().clone();
                let body = resp.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body))
            }
            .await;
            let elapsed = start.elapsed();
            let (status, headers, body) = match result {
                Ok(r) => r,
                Err(e) => {
                    inner.metrics.record_cloud_request(
                        PROVIDER,
                        &inner.key.public_key,
                        call.route,
                        None,
                        elapsed,
                    );
                    // The request may have been applied unless the connection was never made.
                    let uncertain = call.method != Method::GET && !e.is_connect();
                    let message =
                        format!("{}: {}", call.route, describe_transport(&e, inner.timeout));
                    tracing::debug!(
                        method = %call.method,
                        route = call.route,
                        key_id = %inner.key.public_key,
                        elapsed_ms = elapsed.as_millis() as u64,
                        uncertain,
                        error = %message,
                        "tidbcloud request failed without an answer"
                    );
                    return Err(CloudError::Transport {
                        uncertain,
                        message,
                        source: Some(Box::new(e.without_url())),
                    });
                }
            };
            inner.metrics.record_cloud_request(
                PROVIDER,
                &inner.key.public_key,
                call.route,
                Some(status.as_u16()),
                elapsed,
            );
            inner.budget.observe(server_quota(&headers));
            tracing::debug!(
                method = %call.method,
                route = call.route,
                status = status.as_u16(),
                key_id = %inner.key.public_key,
                elapsed_ms = elapsed.as_millis() as u64,
                trace_id = header_str(&headers, "x-debug-trace-id").unwrap_or_default(),
                "tidbcloud request"
            );

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
        match s {
            // google.rpc codes 9 FAILED_PRECONDITION and 10 ABORTED: the state, not the request, is wrong.
            400 if matches!(code, Some(9 | 10)) => {
                CloudError::FailedPrecondition { status: s, message }
            }
            400 => CloudError::InvalidArgument { message },
            401 => CloudError::Unauthorized { message },
            403 => CloudError::Forbidden { message },
            404 => CloudError::NotFound { message },
            409 | 412 => CloudError::FailedPrecondition { status: s, message },
            429 => {
                let retry_after = server_quota(headers)
                    .reset
                    .or_else(|| {
                        header_str(headers, "retry-after")
                            .and_then(|v| v.parse::<u64>().ok())
                            .map(Duration::from_secs)
                    })
                    .unwrap_or(Duration::from_secs(60))
                    .max(Duration::from_secs(1));
                self.inner.budget.throttled(retry_after);
                CloudError::RateLimited {
                    retry_after,
                    message,
                }
            }
            500..=599 => CloudError::Server { status: s, message },
            _ => CloudError::UnexpectedStatus { status: s, message },
        }
    }
}

fn decode<T: DeserializeOwned>(route: &str, body: &[u8]) -> Result<T, CloudError> {
    let mut value: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| CloudError::decode(format!("{route}: the answer is not JSON: {e}")))?
    };
    strip_nulls(&mut value);
    serde_json::from_value(value)
        .map_err(|e| CloudError::decode(format!("{route}: unexpected answer: {e}")))
}

/// The token of the next page, `None` when done; a token that repeats means the server is looping.
fn next_token(
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

fn too_many_pages(route: &str) -> CloudError {
    CloudError::decode(format!("{route}: more than {MAX_PAGES} pages"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "https://dedicated.tidbapi.com/v1beta1",
            "http://127.0.0.1:8080/v1beta1",
            "http://localhost:1/v1beta1",
            "http://[::1]:8080/v1beta1",
        ] {
            assert!(parse_base("base_url", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://dedicated.tidbapi.com/v1beta1",
            "http://10.0.0.1/v1beta1",
            "ftp://127.0.0.1/",
            "not a url",
            "https://user:pw@host/v1beta1",
        ] {
            let e = parse_base("base_url", bad).unwrap_err();
            assert_eq!(e.category(), "Config", "{bad}");
            assert!(!e.to_string().contains("pw@"), "{e}");
            assert!(!format!("{e:?}").contains("user:pw"), "{e:?}");
        }
        let e = parse_base("base_url", "http://api.example.com/v1beta1").unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
    }

    #[test]
    fn ids_cannot_change_the_path() {
        assert!(check_id("cluster id", "10526169210080596964").is_ok());
        assert!(check_id("region id", "aws-us-west-2").is_ok());
        for bad in ["", "..", "1/2", "1?x=1", "1:pauseCluster", "a b", "%2e"] {
            assert_eq!(
                check_id("cluster id", bad).unwrap_err().category(),
                "InvalidArgument",
                "{bad}"
            );
        }
    }

    #[test]
    fn server_messages_are_scrubbed_and_capped() {
        let body = br#"{"code": 400, "message": "rootPassword 'hunter2-pass' is too weak", "details": []}"#;
        let (m, code) = server_message(body, &["hunter2-pass", "PRIVATEKEY"]);
        assert_eq!(m, "rootPassword '[REDACTED]' is too weak");
        assert_eq!(code, Some(400));
        let (m, _) = server_message(
            br#"{"code": "400", "error": "bad project", "msgPrefix": "Bad Request", "status": 400}"#,
            &[],
        );
        assert_eq!(m, "bad project");
        let (m, _) = server_message(&[b'x'; 5000], &[]);
        assert!(m.chars().count() <= MAX_MESSAGE_CHARS + 1);
        assert_eq!(server_message(b"", &[]).0, "(no message)");
    }

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
        let e = decode::<Cluster>("GET /clusters/{clusterId}", b"<html>").unwrap_err();
        assert_eq!(e.category(), "Decode");
        let _: serde_json::Value = decode("POST /x", b"").unwrap();
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
        let cfg = ClientConfig {
            extra_ca_pem: Some(b"not a pem".to_vec()),
            ..Default::default()
        };
        let e = TidbCloudClient::new(&cfg, ApiKey::new("PUB", "priv"), &budgets).unwrap_err();
        assert_eq!(e.category(), "Config");
        let e = ClientConfig::default()
            .with_ca_file(Path::new("/nonexistent/ca.pem"))
            .unwrap_err();
        assert_eq!(e.category(), "Config");
    }
}
