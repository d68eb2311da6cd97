//! HTTP plumbing shared by every provider client: base-URL checks, the TLS-configured `reqwest::Client`, one
//! budgeted exchange (permit → send → metrics → debug log), server-message scrubbing, status → [`CloudError`]
//! classification and lenient JSON decoding. A provider client adds its authentication, its routes and the
//! quirks of its error bodies; everything here is provider-neutral.
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

use super::{Budget, CloudError, Priority};
use crate::metrics::Metrics;

/// Set once by a read-only process (`clouddb-operator plan`): every cloud call that is not a `GET` is refused
/// before it leaves the process. A safety net under the driver's own rule (a plan holds every write back).
static READ_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes this process read-only towards every cloud (see [`READ_ONLY`]); there is no way back.
pub fn forbid_writes() {
    READ_ONLY.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Longest server message kept in an error.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// Transport settings of a provider client.
#[derive(Clone)]
pub struct HttpConfig {
    /// Extra trusted CA certificates (PEM, one or more), e.g. a simulator's CA; added to the public roots.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Whole-exchange timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            extra_ca_pem: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            user_agent: format!("clouddb-operator/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
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
            .finish()
    }
}

/// Reads a PEM CA bundle for [`HttpConfig::extra_ca_pem`].
pub fn read_ca_file(path: &Path) -> Result<Vec<u8>, CloudError> {
    std::fs::read(path)
        .map_err(|e| CloudError::config(format!("reading CA file {}: {e}", path.display())))
}

/// Builds an HTTP client (rustls, timeouts, user agent, no redirects, extra CAs).
pub fn build_http_client(config: &HttpConfig) -> Result<reqwest::Client, CloudError> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout)
        .user_agent(config.user_agent.clone())
        // A redirect would re-send an authenticated request elsewhere; the APIs never redirect.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = &config.extra_ca_pem {
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

/// Parses and checks a base URL: https, or plain http to a loopback host only.
pub fn parse_base(what: &str, raw_input: &str) -> Result<Url, CloudError> {
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
pub fn check_id(kind: &str, id: &str) -> Result<(), CloudError> {
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

/// `base` with `segments` appended (each percent-encoded as one segment) and `query` pairs.
pub fn join_url(
    base: &Url,
    segments: &[String],
    query: &[(&str, String)],
) -> Result<Url, CloudError> {
    let mut url = base.clone();
    {
        let mut segs = url
            .path_segments_mut()
            .map_err(|_| CloudError::config("the base URL cannot carry a path"))?;
        segs.pop_if_empty();
        segs.extend(segments.iter());
    }
    if !query.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
    }
    Ok(url)
}

/// Removes `null` members recursively so that `#[serde(default)]` fills them in.
pub fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.retain(|_, x| !x.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A header's trimmed text value.
pub fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A header holding a (possibly fractional) number of seconds.
pub fn header_seconds(headers: &HeaderMap, name: &str) -> Option<Duration> {
    header_str(headers, name)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

/// The server's explanation from an error body: `message`, else `error`, else the raw text; secrets of the
/// request and the key are scrubbed, and the length is capped. Also returns a numeric `code` member, if any.
pub fn server_message(body: &[u8], secrets: &[&str]) -> (String, Option<i64>) {
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

/// The taxonomy's default reading of an error status (providers handle their special cases first). A 429
/// blocks the key's budget for `retry_after` (at least 1 s; 60 s when the server gave no hint).
pub fn classify(
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
    budget: &Budget,
) -> CloudError {
    let s = status.as_u16();
    match s {
        400 => CloudError::InvalidArgument { message },
        401 => CloudError::Unauthorized { message },
        403 => CloudError::Forbidden { message },
        404 => CloudError::NotFound { message },
        409 | 412 => CloudError::FailedPrecondition { status: s, message },
        429 => {
            let retry_after = retry_after
                .unwrap_or(Duration::from_secs(60))
                .max(Duration::from_secs(1));
            budget.throttled(retry_after);
            CloudError::RateLimited {
                retry_after,
                message,
            }
        }
        500..=599 => CloudError::Server { status: s, message },
        _ => CloudError::UnexpectedStatus { status: s, message },
    }
}

/// Describes a transport failure from its source chain (reqwest's own text names only the URL).
pub fn describe_transport(e: &reqwest::Error, timeout: Duration) -> String {
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

/// Decodes a JSON body (an empty body reads as `{}`), dropping `null` members first.
pub fn decode<T: DeserializeOwned>(route: &str, body: &[u8]) -> Result<T, CloudError> {
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

/// One API call: what to send and how to name it.
pub struct Call<'a> {
    pub method: Method,
    /// Templated route, the `route` metric label: `GET /clusters/{clusterId}`.
    pub route: &'static str,
    /// Path segments below the base URL (each percent-encoded as one segment).
    pub path: Vec<String>,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
    /// Secret values in the body, scrubbed from any server message.
    pub secrets: Vec<&'a str>,
    /// Send to the provider's second API base (TiDB Cloud: the IAM API).
    pub alternate_base: bool,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, route: &'static str, path: &[&str]) -> Call<'a> {
        Call {
            method,
            route,
            path: path.iter().map(|s| s.to_string()).collect(),
            query: Vec::new(),
            body: None,
            secrets: Vec::new(),
            alternate_base: false,
        }
    }

    pub fn query(mut self, name: &'static str, value: impl ToString) -> Self {
        self.query.push((name, value.to_string()));
        self
    }

    pub fn json<B: serde::Serialize + ?Sized>(mut self, body: &B) -> Result<Self, CloudError> {
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

    pub fn secret(mut self, s: &'a str) -> Self {
        self.secrets.push(s);
        self
    }

    /// The URL of this call below `base`.
    pub fn url(&self, base: &Url) -> Result<Url, CloudError> {
        let query: Vec<(&str, String)> = self.query.iter().map(|(k, v)| (*k, v.clone())).collect();
        join_url(base, &self.path, &query)
    }
}

/// The sending half of a provider client bound to one key: the HTTP client, the key's budget and the
/// metrics. Cheap to share behind the client's `Arc`.
pub struct Transport {
    /// The `provider` metrics label.
    pub provider: &'static str,
    pub http: reqwest::Client,
    pub budget: std::sync::Arc<Budget>,
    pub metrics: Metrics,
    pub key_id: String,
    pub timeout: Duration,
}

/// A complete answer (any status).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Transport {
    /// A transport for `key_id`, its budget and metrics taken from `budgets`.
    pub fn new(
        provider: &'static str,
        http: reqwest::Client,
        budgets: &super::BudgetRegistry,
        key_id: &str,
        timeout: Duration,
    ) -> Transport {
        Transport {
            provider,
            http,
            budget: budgets.budget_for(key_id),
            metrics: budgets.metrics().clone(),
            key_id: key_id.to_string(),
            timeout,
        }
    }

    /// One exchange of `call` to `url`: takes a permit from the key's budget (reads at `observe_priority`,
    /// writes at [`Priority::Write`]), lets `authorize` add credentials (after the permit, so a nonce count
    /// follows the order requests leave in), sends, counts the request in `clouddb_cloud_requests_total` and
    /// logs method, route, status and duration at debug level — never bodies or credentials. No answer →
    /// [`CloudError::Transport`], `uncertain` for a mutation that may have reached the server.
    pub async fn send(
        &self,
        call: &Call<'_>,
        url: &Url,
        observe_priority: Priority,
        authorize: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Answer, CloudError> {
        if call.method != Method::GET && READ_ONLY.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(CloudError::Config {
                message: format!("{} refused: this process is read-only (plan)", call.route),
            });
        }
        let priority = if call.method == Method::GET {
            observe_priority
        } else {
            Priority::Write
        };
        let span = tracing::info_span!(
            "cloud request",
            otel.kind = "client",
            provider = self.provider,
            method = %call.method,
            route = call.route,
            key_id = %self.key_id,
            status = tracing::field::Empty,
            budget_wait_ms = tracing::field::Empty,
        );
        self.exchange(call, url, priority, authorize)
            .instrument(span)
            .await
    }

    async fn exchange(
        &self,
        call: &Call<'_>,
        url: &Url,
        priority: Priority,
        authorize: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Answer, CloudError> {
        let waited = Instant::now();
        self.budget.acquire(priority).await;
        tracing::Span::current().record("budget_wait_ms", waited.elapsed().as_millis() as u64);
        let mut rb = self
            .http
            .request(call.method.clone(), url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = &call.body {
            rb = rb
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.clone());
        }
        let rb = authorize(rb);
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
        let status = result.as_ref().ok().map(|(s, _, _)| s.as_u16());
        self.metrics
            .record_cloud_request(self.provider, &self.key_id, call.route, status, elapsed);
        match result {
            Ok((status, headers, body)) => {
                tracing::Span::current().record("status", status.as_u16());
                tracing::debug!(
                    provider = self.provider,
                    method = %call.method,
                    route = call.route,
                    status = status.as_u16(),
                    key_id = %self.key_id,
                    elapsed_ms = elapsed.as_millis() as u64,
                    cloud_trace_id = header_str(&headers, "x-debug-trace-id").unwrap_or_default(),
                    request_id = header_str(&headers, "x-request-id").unwrap_or_default(),
                    "cloud request"
                );
                Ok(Answer {
                    status,
                    headers,
                    body,
                })
            }
            Err(e) => {
                // The request may have been applied unless the connection was never made.
                let uncertain = call.method != Method::GET && !e.is_connect();
                let message = format!("{}: {}", call.route, describe_transport(&e, self.timeout));
                tracing::debug!(
                    provider = self.provider,
                    method = %call.method,
                    route = call.route,
                    key_id = %self.key_id,
                    elapsed_ms = elapsed.as_millis() as u64,
                    uncertain,
                    error = %message,
                    "cloud request failed without an answer"
                );
                Err(CloudError::Transport {
                    uncertain,
                    message,
                    source: Some(Box::new(e.without_url())),
                })
            }
        }
    }
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
    fn seconds_headers_accept_fractions() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", "2.5".parse().unwrap());
        h.insert("bad", "soon".parse().unwrap());
        assert_eq!(
            header_seconds(&h, "x-ratelimit-reset"),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(header_seconds(&h, "bad"), None);
        assert_eq!(header_seconds(&h, "missing"), None);
    }

    #[test]
    fn empty_bodies_decode_as_objects_and_garbage_is_a_decode_error() {
        let _: serde_json::Value = decode("POST /x", b"").unwrap();
        let e = decode::<serde_json::Value>("GET /x", b"<html>").unwrap_err();
        assert_eq!(e.category(), "Decode");
    }

    #[test]
    fn a_bad_ca_is_a_config_error() {
        let cfg = HttpConfig {
            extra_ca_pem: Some(b"not a pem".to_vec()),
            ..Default::default()
        };
        assert_eq!(build_http_client(&cfg).unwrap_err().category(), "Config");
        assert_eq!(
            read_ca_file(Path::new("/nonexistent/ca.pem"))
                .unwrap_err()
                .category(),
            "Config"
        );
    }
}
