//! The ClickHouse Cloud API client (services only): one per API key, cheap to clone.
//!
//! # Why a thin client and not the official `clickhouse-cloud-api` crate
//!
//! The Apache-2.0 crate `clickhouse-cloud-api` (0.3/0.4, generated from the OpenAPI spec) covers every
//! operation with typed models and accepts a custom `reqwest::Client`. It does not fit this operator:
//!
//! - **429 handling.** Its errors are `Error::Api { status, message }`: the response headers are gone by the
//!   time the caller sees the error, so `X-RateLimit-Reset` cannot reach the budget or the requeue. We would
//!   have to add a reqwest middleware layer just to recover one header.
//! - **The shared per-key budget.** Every request must take a permit from the key's [`Budget`] *in priority
//!   order* (writes before drift checks) and be counted in `clouddb_cloud_requests_total`. Wrapping each of
//!   the crate's calls from outside can do the permit, but not the per-route metrics or the 429 header.
//! - **Dependencies.** It is built on reqwest 0.13; this workspace uses reqwest 0.12 (kube's TLS stack), so it
//!   would bring a second HTTP/TLS stack into the binary.
//! - **Secrets.** Its key secret and the create response's password are plain `String`s; ours stay
//!   `SecretString` from the Secret to the `Authorization` header and the connection Secret.
//! - **Error taxonomy.** 400 "Invalid … id" on a GET of an unknown id must read as not-found, 424 as a state
//!   conflict; that mapping needs the method and the status, which is what a thin client has at hand.
//!
//! The operator needs fourteen service routes and the API keys list. The thin client is those routes on the shared HTTP plumbing
//! ([`crate::cloud::http`]: budgeted exchange, metrics, scrubbing, status classification) plus HTTP Basic
//! authentication and the `{status, result, requestId}` / `{status, error, requestId}` envelopes. The crate
//! remains a useful cross-check of the wire models.
use std::sync::Arc;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use super::models::*;
use crate::cloud::http::{
    self, Call, HttpConfig, Transport, check_id, header_seconds, server_message,
};
use crate::cloud::pool::{Parts, PoolKey, PooledClient};
use crate::cloud::{Budget, BudgetRegistry, CloudError, Priority};

pub const DEFAULT_BASE_URL: &str = "https://api.clickhouse.cloud/v1";
/// The `provider` label of metrics.
pub const PROVIDER: &str = "clickhouse";

/// An API key of a ClickHouse Cloud organization. The key id is an identifier (it appears in metrics and
/// logs); the key secret is never printed.
#[derive(Clone)]
pub struct ClickHouseKey {
    pub key_id: String,
    pub key_secret: SecretString,
    pub organization_id: String,
}

impl std::fmt::Debug for ClickHouseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseKey")
            .field("key_id", &self.key_id)
            .field("key_secret", &"***")
            .field("organization_id", &self.organization_id)
            .finish()
    }
}

/// Where and how to reach the API.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// API base including `/v1`, default [`DEFAULT_BASE_URL`].
    pub base_url: String,
    pub http: HttpConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            http: HttpConfig::default(),
        }
    }
}

struct Inner {
    transport: Transport,
    base: Url,
    key: ClickHouseKey,
}

/// A ClickHouse Cloud API client bound to one API key and its organization.
#[derive(Clone)]
pub struct ClickHouseClient {
    inner: Arc<Inner>,
    observe_priority: Priority,
}

impl std::fmt::Debug for ClickHouseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseClient")
            .field("base", &self.inner.base.as_str())
            .field("key_id", &self.inner.key.key_id)
            .finish_non_exhaustive()
    }
}

impl ClickHouseClient {
    pub fn new(
        config: &ClientConfig,
        key: ClickHouseKey,
        budgets: &BudgetRegistry,
    ) -> Result<ClickHouseClient, CloudError> {
        let http = http::build_http_client(&config.http)?;
        <Self as PooledClient>::build(Parts {
            http,
            config,
            key,
            budgets,
        })
    }

    /// The same client, with reads taking `priority` from the budget (writes are always
    /// [`Priority::Write`]).
    pub fn with_observe_priority(&self, priority: Priority) -> ClickHouseClient {
        ClickHouseClient {
            inner: self.inner.clone(),
            observe_priority: priority,
        }
    }

    pub fn key_id(&self) -> &str {
        &self.inner.key.key_id
    }

    pub fn organization_id(&self) -> &str {
        &self.inner.key.organization_id
    }

    pub fn budget(&self) -> &Arc<Budget> {
        &self.inner.transport.budget
    }

    // ---- services -----------------------------------------------------------------------------------------

    /// Every service of the organization (one request: the list is not paged), optionally only those with
    /// tag `key=value`.
    pub async fn list_services(
        &self,
        tag: Option<(&str, &str)>,
    ) -> Result<Vec<Service>, CloudError> {
        let org = self.organization_id().to_string();
        let mut call = Call::new(
            Method::GET,
            "GET /organizations/{organizationId}/services",
            &["organizations", &org, "services"],
        );
        if let Some((k, v)) = tag {
            call = call.query("filter", format!("tag:{k}={v}"));
        }
        let services: Option<Vec<Service>> = self.execute(call).await?;
        Ok(services.unwrap_or_default())
    }

    /// One service; an unknown id (404, or 400 "invalid … id") is [`CloudError::NotFound`].
    pub async fn get_service(&self, id: &str) -> Result<Service, CloudError> {
        check_id("service id", id)?;
        let org = self.organization_id().to_string();
        self.execute_some(Call::new(
            Method::GET,
            "GET /organizations/{organizationId}/services/{serviceId}",
            &["organizations", &org, "services", id],
        ))
        .await
    }

    /// Creates a service; the answer holds the service (provisioning) and its generated password, which the
    /// API never returns again.
    pub async fn create_service(
        &self,
        req: &ServicePostRequest,
    ) -> Result<ServicePostResponse, CloudError> {
        let org = self.organization_id().to_string();
        let call = Call::new(
            Method::POST,
            "POST /organizations/{organizationId}/services",
            &["organizations", &org, "services"],
        )
        .json(req)?;
        self.execute_some(call).await
    }

    /// Name, IP access list (add/remove), release channel, MySQL endpoint, tags.
    pub async fn update_service(
        &self,
        id: &str,
        req: &ServicePatchRequest,
    ) -> Result<Service, CloudError> {
        check_id("service id", id)?;
        let org = self.organization_id().to_string();
        let call = Call::new(
            Method::PATCH,
            "PATCH /organizations/{organizationId}/services/{serviceId}",
            &["organizations", &org, "services", id],
        )
        .json(req)?;
        self.execute_some(call).await
    }

    /// Memory range, replicas and idling.
    pub async fn update_replica_scaling(
        &self,
        id: &str,
        req: &ReplicaScalingPatchRequest,
    ) -> Result<Service, CloudError> {
        check_id("service id", id)?;
        let org = self.organization_id().to_string();
        let call = Call::new(
            Method::PATCH,
            "PATCH /organizations/{organizationId}/services/{serviceId}/replicaScaling",
            &["organizations", &org, "services", id, "replicaScaling"],
        )
        .json(req)?;
        self.execute_some(call).await
    }

    /// `start`, `stop` or `awake`.
    pub async fn set_state(&self, id: &str, command: Command) -> Result<Service, CloudError> {
        check_id("service id", id)?;
        let org = self.organization_id().to_string();
        let call = Call::new(
            Method::PATCH,
            "PATCH /organizations/{organizationId}/services/{serviceId}/state",
            &["organizations", &org, "services", id, "state"],
        )
        .json(&StateCommand { command })?;
        self.execute_some(call).await
    }

    /// Sets the `default` user's password to `password` (sent only as hashes).
    pub async fn set_password(&self, id: &str, password: &SecretString) -> Result<(), CloudError> {
        check_id("service id", id)?;
        let org = self.organization_id().to_string();
        let call = Call::new(
            Method::PATCH,
            "PATCH /organizations/{organizationId}/services/{serviceId}/password",
            &["organizations", &org, "services", id, "password"],
        )
        .json(&super::translate::password_hashes(password))?;
        let _: Option<PasswordPatchResponse> = self.execute(call).await?;
        Ok(())
    }

    /// Deletes a stopped service (409 while it runs); deletion completes asynchronously (then 404).
    pub async fn delete_service(&self, id: &str) -> Result<(), CloudError> {
        check_id("service id", id)?;
        let org = self.organization_id().to_string();
        let _: Option<serde_json::Value> = self
            .execute(Call::new(
                Method::DELETE,
                "DELETE /organizations/{organizationId}/services/{serviceId}",
                &["organizations", &org, "services", id],
            ))
            .await?;
        Ok(())
    }

    // ---- service sub-resources (§3.7, §3.8, §4.1) ----------------------------------------------------------

    /// The endpoint service private endpoints connect to, and the service's private DNS name.
    pub async fn get_private_endpoint_config(
        &self,
        id: &str,
    ) -> Result<PrivateEndpointConfig, CloudError> {
        check_id("service id", id)?;
        let org = self.organization_id().to_string();
        self.execute_some(Call::new(
            Method::GET,
            "GET /organizations/{organizationId}/services/{serviceId}/privateEndpointConfig",
            &[
                "organizations",
                &org,
                "services",
                id,
                "privateEndpointConfig",
            ],
        ))
        .await
    }

    /// The backup settings (primary services only).
    pub async fn get_backup_configuration(
        &self,
        id: &str,
    ) -> Result<BackupConfiguration, CloudError> {
        check_id("service id", id)?;
        let org = self.organization_id().to_string();
        self.execute_some(Call::new(
            Method::GET,
            "GET /organizations/{organizationId}/services/{serviceId}/backupConfiguration",
            &["organizations", &org, "services", id, "backupConfiguration"],
        ))
        .await
    }

    /// Changes the backup settings `req` sets (absent fields stay).
    pub async fn update_backup_configuration(
        &self,
        id: &str,
        req: &BackupConfiguration,
    ) -> Result<BackupConfiguration, CloudError> {
        check_id("service id", id)?;
        let org = self.organization_id().to_string();
        let call = Call::new(
            Method::PATCH,
            "PATCH /organizations/{organizationId}/services/{serviceId}/backupConfiguration",
            &["organizations", &org, "services", id, "backupConfiguration"],
        )
        .json(req)?;
        self.execute_some(call).await
    }

    /// The service's query API endpoint; `None` when it has none (404).
    pub async fn get_query_endpoint(
        &self,
        id: &str,
    ) -> Result<Option<ServiceQueryApiEndpoint>, CloudError> {
        check_id("service id", id)?;
        let org = self.organization_id().to_string();
        let got = self
            .execute_some(Call::new(
                Method::GET,
                "GET /organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint",
                &[
                    "organizations",
                    &org,
                    "services",
                    id,
                    "serviceQueryEndpoint",
                ],
            ))
            .await;
        match got {
            Ok(e) => Ok(Some(e)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the query API endpoint, or replaces its settings (an upsert: the endpoint keeps its id).
    pub async fn upsert_query_endpoint(
        &self,
        id: &str,
        req: &ServiceQueryEndpointRequest,
    ) -> Result<ServiceQueryApiEndpoint, CloudError> {
        check_id("service id", id)?;
        let org = self.organization_id().to_string();
        let call = Call::new(
            Method::POST,
            "POST /organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint",
            &[
                "organizations",
                &org,
                "services",
                id,
                "serviceQueryEndpoint",
            ],
        )
        .json(req)?;
        self.execute_some(call).await
    }

    /// Deletes the query API endpoint; one already gone (404) is fine.
    pub async fn delete_query_endpoint(&self, id: &str) -> Result<(), CloudError> {
        check_id("service id", id)?;
        let org = self.organization_id().to_string();
        let done: Result<Option<serde_json::Value>, CloudError> = self
            .execute(Call::new(
                Method::DELETE,
                "DELETE /organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint",
                &[
                    "organizations",
                    &org,
                    "services",
                    id,
                    "serviceQueryEndpoint",
                ],
            ))
            .await;
        match done {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The ids (UUIDs) of the organization's API keys (`GET /keys`: never a key id or secret, §4.2).
    pub async fn list_api_key_ids(&self) -> Result<Vec<String>, CloudError> {
        let org = self.organization_id().to_string();
        let keys: Option<Vec<ApiKey>> = self
            .execute(Call::new(
                Method::GET,
                "GET /organizations/{organizationId}/keys",
                &["organizations", &org, "keys"],
            ))
            .await?;
        Ok(keys.unwrap_or_default().into_iter().map(|k| k.id).collect())
    }

    // ---- transport ----------------------------------------------------------------------------------------

    /// [`Self::execute`] for answers that must carry a `result`.
    async fn execute_some<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, CloudError> {
        let route = call.route;
        self.execute::<T>(call)
            .await?
            .ok_or_else(|| CloudError::decode(format!("{route}: the answer has no result")))
    }

    /// Sends `call` with HTTP Basic authentication and unwraps the envelope's `result`.
    async fn execute<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<Option<T>, CloudError> {
        let inner = &*self.inner;
        let url = call.url(&inner.base)?;
        let answer = inner
            .transport
            .send(&call, &url, self.observe_priority, |rb| {
                rb.basic_auth(
                    &inner.key.key_id,
                    Some(inner.key.key_secret.expose_secret()),
                )
            })
            .await?;
        if answer.status.is_success() {
            let envelope: Envelope<T> = http::decode(call.route, &answer.body)?;
            return Ok(envelope.result);
        }
        let mut secrets = call.secrets.clone();
        secrets.push(inner.key.key_secret.expose_secret());
        Err(error_for(
            &call.method,
            answer.status,
            &answer.headers,
            &answer.body,
            &secrets,
            &inner.transport.budget,
        ))
    }
}

/// Maps an error answer (`{status, error, requestId}`) to the taxonomy:
/// - 400 whose message says an id is invalid, on a GET: the resource does not exist (the API answers so for
///   some well-formed unknown ids) → [`CloudError::NotFound`];
/// - 424 FAILED_DEPENDENCY (the service is idle or stopped) and 409 → [`CloudError::FailedPrecondition`];
/// - 429 → [`CloudError::RateLimited`] after `X-RateLimit-Reset` seconds, and the key's budget is blocked
///   until then;
/// - the rest as [`http::classify`] reads it.
pub fn error_for(
    method: &Method,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[&str],
    budget: &Budget,
) -> CloudError {
    let (message, _) = server_message(body, secrets);
    let s = status.as_u16();
    if s == 400 && *method == Method::GET && names_invalid_id(&message) {
        return CloudError::NotFound { message };
    }
    if s == 424 {
        return CloudError::FailedPrecondition { status: s, message };
    }
    let retry_after = header_seconds(headers, "x-ratelimit-reset")
        .or_else(|| header_seconds(headers, "retry-after"));
    http::classify(status, message, retry_after, budget)
}

/// "BAD_REQUEST: Invalid service id …", "Invalid Postgres service id …".
fn names_invalid_id(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("invalid") && m.contains(" id")
}

impl PoolKey for ClickHouseKey {
    fn id(&self) -> &str {
        &self.key_id
    }

    /// The secret and the organization: another organization for the same key id is another client.
    fn fingerprint(&self) -> [u8; 32] {
        crate::cloud::pool::fingerprint(&self.key_secret, &[&self.organization_id])
    }
}

/// Pooled: one client per key and organization, on one shared HTTP client.
impl PooledClient for ClickHouseClient {
    type Key = ClickHouseKey;
    type Config = ClientConfig;

    /// Checks the base URL and the key (a key id with ':' cannot travel in Basic authentication).
    fn build(parts: Parts<'_, Self>) -> Result<ClickHouseClient, CloudError> {
        let Parts {
            http,
            config,
            key,
            budgets,
        } = parts;
        let base = http::parse_base("ClickHouse API URL", &config.base_url)?;
        if key.key_id.is_empty() || key.key_secret.expose_secret().is_empty() {
            return Err(CloudError::config(
                "the API key is incomplete: both the key id and the key secret are required",
            ));
        }
        if key.key_id.contains(':') {
            return Err(CloudError::config(
                "the key id contains ':', which HTTP Basic authentication cannot carry",
            ));
        }
        check_id("organization id", &key.organization_id)
            .map_err(|e| CloudError::config(e.to_string()))?;
        Ok(ClickHouseClient {
            inner: Arc::new(Inner {
                transport: Transport::new(
                    PROVIDER,
                    http,
                    budgets,
                    &key.key_id,
                    config.http.timeout,
                ),
                base,
                key,
            }),
            observe_priority: Priority::Transitional,
        })
    }
}

/// One client per ClickHouse Cloud API key (and organization).
pub type ClientPool = crate::cloud::pool::ClientPool<ClickHouseClient>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget() -> Arc<Budget> {
        BudgetRegistry::default().budget_for("KEY")
    }

    fn err(method: Method, status: u16, headers: &[(&str, &str)], body: &str) -> CloudError {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        error_for(
            &method,
            StatusCode::from_u16(status).unwrap(),
            &h,
            body.as_bytes(),
            &["SECRETVALUE"],
            &budget(),
        )
    }

    #[test]
    fn an_invalid_id_on_get_is_not_found_but_not_on_writes() {
        let body = r#"{"status":400,"error":"BAD_REQUEST: Invalid service id <string:0000>","requestId":"r"}"#;
        assert_eq!(err(Method::GET, 400, &[], body).category(), "NotFound");
        assert_eq!(
            err(Method::PATCH, 400, &[], body).category(),
            "InvalidArgument"
        );
        let e = err(
            Method::POST,
            400,
            &[],
            r#"{"status":400,"error":"BAD_REQUEST: Invalid minimum memory size: 12"}"#,
        );
        assert_eq!(e.category(), "InvalidArgument");
        assert!(
            e.to_string().contains("Invalid minimum memory size: 12"),
            "{e}"
        );
    }

    #[test]
    fn envelope_errors_map_to_the_taxonomy() {
        let cases = [
            (
                401,
                r#"{"error":"UNAUTHORIZED: Key is not found","status":401}"#,
                "CredentialsRejected",
            ),
            (403, r#"{"status":403,"error":"FORBIDDEN"}"#, "Forbidden"),
            (
                404,
                r#"{"status":404,"error":"NOT_FOUND: abc"}"#,
                "NotFound",
            ),
            (
                409,
                r#"{"status":409,"error":"CONFLICT: Only instance in one of the following states ... Current state: 'running'"}"#,
                "FailedPrecondition",
            ),
            (
                424,
                r#"{"status":424,"error":"FAILED_DEPENDENCY: Current state: idle"}"#,
                "FailedPrecondition",
            ),
            (500, r#"{"status":500,"error":"INTERNAL"}"#, "ServerError"),
        ];
        for (status, body, category) in cases {
            assert_eq!(
                err(Method::DELETE, status, &[], body).category(),
                category,
                "{status}"
            );
        }
        assert!(err(Method::DELETE, 409, &[], cases[3].1).is_transient());
    }

    #[test]
    fn a_429_honours_x_ratelimit_reset_and_blocks_the_key() {
        let b = budget();
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", "7".parse().unwrap());
        let e = error_for(
            &Method::GET,
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            br#"{"error": "TOO_MANY_REQUESTS"}"#,
            &[],
            &b,
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(b.blocked_for().is_some_and(|d| d > Duration::from_secs(6)));
        // Without a header: a conservative default.
        let e = err(Method::GET, 429, &[], "");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn secrets_are_scrubbed_from_messages() {
        let e = err(
            Method::POST,
            400,
            &[],
            r#"{"status":400,"error":"BAD_REQUEST: bad key SECRETVALUE"}"#,
        );
        assert!(!e.to_string().contains("SECRETVALUE"), "{e}");
    }

    #[test]
    fn keys_must_be_complete_and_debug_is_masked() {
        let budgets = BudgetRegistry::default();
        let key = |id: &str, secret: &str, org: &str| ClickHouseKey {
            key_id: id.into(),
            key_secret: SecretString::from(secret.to_string()),
            organization_id: org.into(),
        };
        let cfg = ClientConfig::default();
        assert!(ClickHouseClient::new(&cfg, key("id", "s3cret-value", "org-1"), &budgets).is_ok());
        for (id, secret, org) in [
            ("", "s", "o"),
            ("id", "", "o"),
            ("id", "s", "../x"),
            ("a:b", "s", "o"),
        ] {
            let e = ClickHouseClient::new(&cfg, key(id, secret, org), &budgets).unwrap_err();
            assert_eq!(e.category(), "Config", "{id} {org}");
        }
        let d = format!("{:?}", key("KEYID", "s3cret-value", "org"));
        assert!(d.contains("KEYID") && !d.contains("s3cret-value"), "{d}");
    }

    #[test]
    fn envelopes_unwrap_and_tolerate_nulls() {
        let e: Envelope<Vec<Service>> = http::decode(
            "GET /services",
            br#"{"status":200,"requestId":"r","result":[{"id":"a","name":"n","state":"running",
                "endpoints":[{"protocol":"https","host":"h","port":8443,"username":null}],
                "numReplicas":null,"tags":[{"key":"k","value":"v"}]}]}"#,
        )
        .unwrap();
        let s = &e.result.unwrap()[0];
        assert_eq!((s.id.as_str(), s.state.as_str()), ("a", "running"));
        assert_eq!(s.endpoints[0].port, 8443);
        assert_eq!(s.num_replicas, None);
        let e: Envelope<serde_json::Value> =
            http::decode("DELETE /x", br#"{"status":200,"requestId":"r"}"#).unwrap();
        assert!(e.result.is_none());
    }
}
