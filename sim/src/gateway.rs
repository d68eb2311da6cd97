//! The gateway in front of the API modules, like the real clouds' gateways: authentication (HTTP digest for
//! TiDB Cloud, Basic for ClickHouse Cloud), the per-key quota and its headers, injected faults, counters,
//! the admin API under `/_sim/`, and routing. One gateway serves one listener; its [`Front`] decides the
//! cloud-specific parts (authentication scheme, error shape, rate-limit headers), everything else is shared.
use crate::api::{ApiModule, ApiRequest, ApiResponse, MAX_BODY_BYTES, Method, Routed};
use crate::basic::{BasicAuth, BasicOutcome};
use crate::config::{ApiKey, ClickHouseConfig, QuotaConfig, SimConfig, mask};
use crate::digest::{AuthOutcome, DigestAuth};
use crate::error::{ApiError, ErrorShape};
use crate::faults::{FaultRule, Faults};
use crate::quota::{QuotaState, Quotas};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which cloud's front door a gateway plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// TiDB Cloud's Kong gateway: HTTP digest, `{code, message, details}` errors, `X-Ratelimit-*-Minute`
    /// headers on every authenticated answer, `x-debug-trace-id`.
    TidbCloud,
    /// ClickHouse Cloud: HTTP Basic (key ID and secret), `{status, error, requestId}` errors,
    /// `X-RateLimit-Reset` (seconds to wait) on a 429.
    ClickHouse,
}

impl Front {
    pub fn error_shape(self) -> ErrorShape {
        match self {
            Front::TidbCloud => ErrorShape::RpcStatus,
            Front::ClickHouse => ErrorShape::ClickHouse,
        }
    }
}

enum Auth {
    Digest(DigestAuth),
    Basic(BasicAuth),
}

/// What the transport must do with a request.
#[derive(Debug)]
pub enum Outcome {
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Close the connection without answering, after `hold`.
    Drop { hold: Duration },
}

/// A request as it arrived.
pub struct RawRequest<'a> {
    pub method: &'a str,
    /// The raw request target (`/v1beta1/clusters?pageSize=5`), as the digest `uri` signs it.
    pub target: &'a str,
    pub authorization: Option<&'a str>,
    /// The body, or `None` when it was larger than [`MAX_BODY_BYTES`].
    pub body: Option<bytes::Bytes>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterKey {
    /// The public key (an identifier, not a secret); empty when the request was not authenticated.
    pub key: String,
    pub method: &'static str,
    pub route: String,
    /// HTTP status, or 0 for a connection dropped without an answer.
    pub status: u16,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterRow {
    #[serde(flatten)]
    pub key: CounterKey,
    pub count: u64,
}

/// The authentication and per-key quotas of a front door. Listeners of one cloud share it (the TiDB
/// Cloud Dedicated and Serverless hosts sit behind one gateway: the same keys, nonces and per-key budget).
pub struct FrontDoor {
    auth: Mutex<Auth>,
    quotas: Mutex<Quotas>,
}

impl FrontDoor {
    fn new(auth: Auth, quota: &QuotaConfig) -> Arc<FrontDoor> {
        Arc::new(FrontDoor {
            auth: Mutex::new(auth),
            quotas: Mutex::new(Quotas::new(quota.clone())),
        })
    }

    /// The TiDB Cloud front door: HTTP digest with the `SimConfig` keys and quota.
    pub fn tidb_cloud(config: &SimConfig) -> Arc<FrontDoor> {
        Self::new(
            Auth::Digest(DigestAuth::new(&config.keys, config.nonce_ttl)),
            &config.quota,
        )
    }

    fn auth(&self) -> std::sync::MutexGuard<'_, Auth> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn quotas(&self) -> std::sync::MutexGuard<'_, Quotas> {
        self.quotas.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Mutable {
    faults: Faults,
    counters: BTreeMap<CounterKey, u64>,
    /// The distinct paths counted under `(no route) <path>` (at most [`MAX_UNROUTED_PATHS`]).
    unrouted: std::collections::BTreeSet<String>,
}

/// Distinct unrouted paths the counters name; further ones are counted together under
/// `(no route) (other paths)`, so a client cannot grow the counters without bound.
pub const MAX_UNROUTED_PATHS: usize = 100;
/// Longest path kept in a counter key or a log line (longer ones are cut, with `…`).
pub const MAX_LOGGED_PATH: usize = 200;

/// The counter route of requests no module answers: `(no route) <path>`.
pub const NO_ROUTE: &str = "(no route)";

/// What the one log line of a request says besides method, path and status.
#[derive(Default)]
struct Note {
    route: String,
    key: String,
}

/// The raw path of a request target (no query), cut to [`MAX_LOGGED_PATH`] characters.
fn loggable_path(target: &str) -> String {
    let path = target.split('?').next().unwrap_or(target);
    if path.chars().count() <= MAX_LOGGED_PATH {
        path.to_string()
    } else {
        let mut cut: String = path.chars().take(MAX_LOGGED_PATH).collect();
        cut.push('…');
        cut
    }
}

pub struct Gateway {
    front: Front,
    door: Arc<FrontDoor>,
    modules: Vec<Arc<dyn ApiModule>>,
    quota_limit: u32,
    initial_faults: Vec<FaultRule>,
    inner: Mutex<Mutable>,
}

fn json_bytes(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec())
}

fn trace_id() -> String {
    use rand::Rng;
    let b: [u8; 16] = rand::rng().random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Splits a request target into a decoded path and decoded query pairs.
fn parse_target(target: &str) -> Result<(String, Vec<(String, String)>), ApiError> {
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_encoding::percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| ApiError::invalid("the request path is not valid UTF-8"))?
        .into_owned();
    let query = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    Ok((path, query))
}

impl Gateway {
    /// The TiDB Cloud gateway (digest authentication, the `SimConfig` keys, quota and faults) with a front
    /// door of its own.
    pub fn new(config: &SimConfig, modules: Vec<Arc<dyn ApiModule>>) -> Gateway {
        Self::tidb_cloud(FrontDoor::tidb_cloud(config), &config.faults, modules)
    }

    /// A TiDB Cloud gateway behind `door` (shared with the other TiDB Cloud listener), with its own faults
    /// and counters.
    pub fn tidb_cloud(
        door: Arc<FrontDoor>,
        faults: &[FaultRule],
        modules: Vec<Arc<dyn ApiModule>>,
    ) -> Gateway {
        Self::build(Front::TidbCloud, door, faults, modules)
    }

    /// The ClickHouse Cloud gateway (Basic authentication with `keys`, its own quota and faults).
    pub fn clickhouse(
        config: &ClickHouseConfig,
        keys: &[ApiKey],
        modules: Vec<Arc<dyn ApiModule>>,
    ) -> Gateway {
        Self::build(
            Front::ClickHouse,
            FrontDoor::new(Auth::Basic(BasicAuth::new(keys)), &config.quota),
            &config.faults,
            modules,
        )
    }

    fn build(
        front: Front,
        door: Arc<FrontDoor>,
        initial_faults: &[FaultRule],
        modules: Vec<Arc<dyn ApiModule>>,
    ) -> Gateway {
        let mut faults = Faults::default();
        for f in initial_faults {
            // Rules were validated when the configuration was built; an invalid one is skipped.
            let _ = faults.add(f.clone());
        }
        let quota_limit = door.quotas().limit();
        Gateway {
            front,
            door,
            modules,
            quota_limit,
            initial_faults: initial_faults.to_vec(),
            inner: Mutex::new(Mutable {
                faults,
                counters: BTreeMap::new(),
                unrouted: Default::default(),
            }),
        }
    }

    pub fn front(&self) -> Front {
        self.front
    }

    /// Rate-limit headers of an answer; `limited` when it is a 429.
    fn rate_headers(&self, q: &QuotaState, limited: bool) -> Vec<(&'static str, String)> {
        match self.front {
            Front::TidbCloud => vec![
                ("x-ratelimit-limit-minute", q.limit.to_string()),
                ("x-ratelimit-remaining-minute", q.remaining.to_string()),
                ("x-ratelimit-reset", q.reset_secs.to_string()),
            ],
            // Only `X-RateLimit-Reset` is known (Terraform reads it on a 429 as seconds to wait).
            Front::ClickHouse if limited => vec![("x-ratelimit-reset", q.reset_secs.to_string())],
            Front::ClickHouse => vec![],
        }
    }

    fn rate_limited(&self) -> ApiError {
        match self.front {
            Front::TidbCloud => ApiError::rate_limited(self.quota_limit),
            // `{"status": 429, "error": "TOO_MANY_REQUESTS"}`
            Front::ClickHouse => ApiError::new(429, ""),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mutable> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, key: &str, method: Method, route: &str, status: u16) {
        let k = CounterKey {
            key: key.to_string(),
            method: method.as_str(),
            route: route.to_string(),
            status,
        };
        *self.lock().counters.entry(k).or_insert(0) += 1;
    }

    pub fn counters(&self) -> Vec<CounterRow> {
        self.lock()
            .counters
            .iter()
            .map(|(k, v)| CounterRow {
                key: k.clone(),
                count: *v,
            })
            .collect()
    }

    fn respond(
        &self,
        status: u16,
        mut headers: Vec<(&'static str, String)>,
        body: &serde_json::Value,
    ) -> Outcome {
        headers.push(("content-type", "application/json".into()));
        if self.front == Front::TidbCloud {
            headers.push(("x-debug-trace-id", trace_id()));
        }
        Outcome::Respond {
            status,
            headers,
            body: json_bytes(body),
        }
    }

    fn error(
        &self,
        err: &ApiError,
        shape: ErrorShape,
        headers: Vec<(&'static str, String)>,
    ) -> Outcome {
        self.respond(err.status, headers, &err.body(shape))
    }

    /// The counter route of an unrouted request for `target`: `(no route) <path>` for the first
    /// [`MAX_UNROUTED_PATHS`] distinct paths, `(no route) (other paths)` after that.
    fn unrouted_route(&self, target: &str) -> String {
        let path = loggable_path(target);
        let mut m = self.lock();
        if m.unrouted.contains(&path) || m.unrouted.len() < MAX_UNROUTED_PATHS {
            m.unrouted.insert(path.clone());
            format!("{NO_ROUTE} {path}")
        } else {
            format!("{NO_ROUTE} (other paths)")
        }
    }

    /// Answers one request and logs it: every request gets exactly one `request` line with its method, raw
    /// path (no query), status (0: closed without an answer), route and masked key.
    pub async fn handle(&self, raw: RawRequest<'_>) -> Outcome {
        let (method, target) = (raw.method, raw.target);
        let mut note = Note::default();
        let outcome = self.process(raw, &mut note).await;
        let status = match &outcome {
            Outcome::Respond { status, .. } => *status,
            Outcome::Drop { .. } => 0,
        };
        let key = if note.key.is_empty() {
            String::new()
        } else {
            mask(&note.key)
        };
        tracing::info!(
            method,
            path = %loggable_path(target),
            status,
            route = %note.route,
            key = %key,
            "request"
        );
        outcome
    }

    async fn process(&self, raw: RawRequest<'_>, note: &mut Note) -> Outcome {
        let method = Method::parse(raw.method);
        let (path, query) = match parse_target(raw.target) {
            Ok(x) => x,
            Err(e) => {
                note.route = "(bad path)".into();
                return self.error(&e, self.front.error_shape(), vec![]);
            }
        };
        if let Some(admin_path) = path.strip_prefix("/_sim/") {
            note.route = "(admin)".into();
            return self.admin(method, admin_path, query, raw.body);
        }

        // 1. Authentication.
        let now = Instant::now();
        let auth = match &mut *self.door.auth() {
            Auth::Digest(d) => match d.verify(raw.authorization, raw.method, raw.target, now) {
                AuthOutcome::Ok(k) => Ok(k),
                AuthOutcome::Challenge {
                    stale,
                    known_key,
                    reason,
                } => Err((known_key, reason, Some(stale))),
            },
            Auth::Basic(b) => match b.verify(raw.authorization) {
                BasicOutcome::Ok(k) => Ok(k),
                BasicOutcome::Denied { known_key, reason } => Err((known_key, reason, None)),
            },
        };
        let public_key = match auth {
            Ok(k) => k,
            Err((known_key, reason, stale)) => {
                let mut headers = Vec::new();
                if let Some(k) = &known_key {
                    // An identified key's failed round trip still counts against its quota.
                    let q = self.door.quotas().take(k, now);
                    headers.extend(self.rate_headers(&q, false));
                }
                if let Some(stale) = stale
                    && let Auth::Digest(d) = &mut *self.door.auth()
                {
                    headers.push(("www-authenticate", d.challenge(stale, now)));
                }
                tracing::debug!(method = raw.method, path = %path, reason, "unauthenticated");
                note.route = "(unauthenticated)".into();
                note.key = known_key.clone().unwrap_or_default();
                self.count(
                    known_key.as_deref().unwrap_or(""),
                    method,
                    "(unauthenticated)",
                    401,
                );
                let message = if self.front == Front::ClickHouse || reason == "public_key not found"
                {
                    reason.to_string()
                } else {
                    format!("unauthorized: {reason}")
                };
                return self.error(
                    &ApiError::unauthenticated(message),
                    self.front.error_shape(),
                    headers,
                );
            }
        };

        // 2. Quota.
        note.key = public_key.clone();
        let q = self.door.quotas().take(&public_key, now);
        let headers = self.rate_headers(&q, !q.allowed);
        let front_shape = self.front.error_shape();
        if !q.allowed {
            note.route = "(rate limited)".into();
            self.count(&public_key, method, "(rate limited)", 429);
            tracing::debug!(method = raw.method, path = %path, key = %mask(&public_key), "429 quota exhausted");
            return self.error(&self.rate_limited(), front_shape, headers);
        }

        // 3. Faults.
        let plan = self.lock().faults.plan(method, &path, rand::random::<f64>);
        let key = mask(&public_key);
        if !plan.latency.is_zero() {
            let latency_ms = plan.latency.as_millis() as u64;
            tracing::info!(method = raw.method, path = %path, key = %key, latency_ms, "fault: latency");
            tokio::time::sleep(plan.latency).await;
        }
        if plan.reset {
            tracing::info!(method = raw.method, path = %path, key = %key, "fault: connection reset");
            note.route = "(fault: reset)".into();
            self.count(&public_key, method, "(fault: reset)", 0);
            return Outcome::Drop {
                hold: Duration::ZERO,
            };
        }
        if plan.throttle {
            tracing::info!(method = raw.method, path = %path, key = %key, "fault: throttle (429)");
            let q = self.door.quotas().exhaust(&public_key, Instant::now());
            note.route = "(fault: throttle)".into();
            self.count(&public_key, method, "(fault: throttle)", 429);
            return self.error(
                &self.rate_limited(),
                front_shape,
                self.rate_headers(&q, true),
            );
        }
        if let Some(status) = plan.fail_status {
            tracing::info!(method = raw.method, path = %path, key = %key, status, "fault: fail");
            note.route = "(fault: fail)".into();
            self.count(&public_key, method, "(fault: fail)", status);
            let err = ApiError::new(
                status,
                format!("injected fault: {}", crate::error::reason_phrase(status)),
            );
            return self.error(&err, front_shape, headers);
        }

        // 4. Routing.
        let Some(body) = raw.body else {
            note.route = "(body too large)".into();
            self.count(&public_key, method, "(body too large)", 400);
            let err = ApiError::invalid(format!(
                "request body too large: at most {MAX_BODY_BYTES} bytes are accepted"
            ));
            return self.error(&err, front_shape, headers);
        };
        let req = ApiRequest {
            method,
            path: path.clone(),
            query,
            body,
            public_key: public_key.clone(),
        };
        let mut shape = front_shape;
        let routed = self.dispatch(&req).map(|(m, r)| {
            shape = m.error_shape();
            r
        });
        let Some(Routed { route, result }) = routed else {
            let counted = self.unrouted_route(raw.target);
            self.count(&public_key, method, &counted, 404);
            note.route = counted;
            return self.error(
                &ApiError::not_found(format!("no API path {path}")),
                shape,
                headers,
            );
        };
        note.route = route.to_string();
        match result {
            Ok(ApiResponse {
                committed: true, ..
            }) if plan.drop_after_commit.is_some() => {
                self.count(&public_key, method, route, 0);
                tracing::info!(
                    method = raw.method,
                    route,
                    "fault: response dropped after commit"
                );
                Outcome::Drop {
                    hold: plan.drop_after_commit.unwrap_or_default(),
                }
            }
            Ok(r) => {
                self.count(&public_key, method, route, r.status);
                self.respond(r.status, headers, &r.body)
            }
            Err(e) => {
                self.count(&public_key, method, route, e.status);
                self.error(&e, shape, headers)
            }
        }
    }

    /// The first module that routes `req` (in the configured order), with its answer: the routing step of
    /// every API request.
    fn dispatch(&self, req: &ApiRequest) -> Option<(&Arc<dyn ApiModule>, Routed)> {
        self.modules
            .iter()
            .find_map(|m| m.route(req).map(|r| (m, r)))
    }

    /// Routes one API request as [`Gateway::handle`] would, without authentication, quota, faults or
    /// counters (the handler runs): the module name, the route template and whether the method is served
    /// on it (`false`: the 405 of a path served for other methods). `None`: no route (404).
    pub fn probe(&self, method: Method, path: &str) -> Option<Probed> {
        let req = probe_request(method, path);
        self.dispatch(&req).map(|(m, r)| Probed {
            module: m.name(),
            route: r.route.to_string(),
            method_allowed: !is_method_not_allowed(&r),
        })
    }

    /// Routes one admin request (`path` under `/_sim/`, e.g. `health`) as the admin API would; the built-in
    /// routes answer module `gateway` and route `/_sim/<path>`. The handler runs.
    pub fn probe_admin(&self, method: Method, path: &str) -> Option<Probed> {
        let req = probe_request(method, path);
        if self.builtin_admin(&req).is_some() {
            return Some(Probed {
                module: "gateway",
                route: format!("/_sim/{path}"),
                method_allowed: true,
            });
        }
        self.modules.iter().find_map(|m| {
            m.admin(&req).map(|r| Probed {
                module: m.name(),
                route: r.route.to_string(),
                method_allowed: !is_method_not_allowed(&r),
            })
        })
    }

    /// The admin API (no authentication, not counted against quotas).
    fn admin(
        &self,
        method: Method,
        path: &str,
        query: Vec<(String, String)>,
        body: Option<bytes::Bytes>,
    ) -> Outcome {
        let err = |e: ApiError| self.error(&e, self.front.error_shape(), vec![]);
        let Some(body) = body else {
            return err(ApiError::invalid("request body too large"));
        };
        let req = ApiRequest {
            method,
            path: path.to_string(),
            query,
            body,
            public_key: String::new(),
        };
        if let Some(outcome) = self.builtin_admin(&req) {
            return outcome;
        }
        for module in &self.modules {
            if let Some(Routed { result, .. }) = module.admin(&req) {
                return match result {
                    Ok(r) => self.respond(200, vec![], &r.body),
                    Err(e) => err(e),
                };
            }
        }
        err(ApiError::not_found(format!("no admin path /_sim/{path}")))
    }

    /// The admin routes of the gateway itself (health, counters, reset, faults); `None` for the others.
    fn builtin_admin(&self, req: &ApiRequest) -> Option<Outcome> {
        let ok = |v: serde_json::Value| Some(self.respond(200, vec![], &v));
        let err = |e: ApiError| Some(self.error(&e, self.front.error_shape(), vec![]));
        match (req.method, req.path.as_str()) {
            (Method::Get, "health") => ok(serde_json::json!({"status": "ok"})),
            (Method::Get, "counters") => {
                let rows = self.counters();
                let total: u64 = rows.iter().map(|r| r.count).sum();
                ok(serde_json::json!({"total": total, "counters": rows}))
            }
            (Method::Post, "reset") => {
                let mut m = self.lock();
                m.counters.clear();
                m.unrouted.clear();
                self.door.quotas().reset();
                m.faults.clear();
                for f in &self.initial_faults {
                    let _ = m.faults.add(f.clone());
                }
                drop(m);
                for module in &self.modules {
                    module.reset();
                }
                ok(serde_json::json!({}))
            }
            (Method::Get, "faults") => ok(serde_json::json!({"faults": self.lock().faults.list()})),
            (Method::Delete, "faults") => {
                self.lock().faults.clear();
                ok(serde_json::json!({}))
            }
            (Method::Post, "faults") => match req.json::<FaultRule>() {
                Ok(rule) => match self.lock().faults.add(rule) {
                    Ok(()) => ok(serde_json::json!({})),
                    Err(e) => err(ApiError::invalid(e.to_string())),
                },
                Err(e) => err(e),
            },
            _ => None,
        }
    }
}

/// What [`Gateway::probe`] and [`Gateway::probe_admin`] find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    /// [`ApiModule::name`] of the module that routes the request, or `gateway` for built-in admin routes.
    pub module: &'static str,
    /// The route template the request is counted under.
    pub route: String,
    /// `false` when the path is routed but the method is not served there (the 405 of `method_not_allowed`).
    pub method_allowed: bool,
}

fn probe_request(method: Method, path: &str) -> ApiRequest {
    ApiRequest {
        method,
        path: path.to_string(),
        query: Vec::new(),
        body: bytes::Bytes::new(),
        public_key: "route-probe".into(),
    }
}

/// Whether `r` is the answer of [`crate::api::method_not_allowed`].
fn is_method_not_allowed(r: &Routed) -> bool {
    matches!(&r.result, Err(e) if e.status == 405)
}
