//! The gateway in front of the API modules, like the real Kong gateway: digest authentication, the
//! per-key quota and its headers, injected faults, counters, the admin API under `/_sim/`, and routing.
use crate::api::{ApiModule, ApiRequest, ApiResponse, MAX_BODY_BYTES, Method, Routed};
use crate::config::{SimConfig, mask};
use crate::digest::{AuthOutcome, DigestAuth};
use crate::error::{ApiError, ErrorShape};
use crate::faults::{FaultRule, Faults};
use crate::quota::{QuotaState, Quotas};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

struct Mutable {
    digest: DigestAuth,
    quotas: Quotas,
    faults: Faults,
    counters: BTreeMap<CounterKey, u64>,
}

pub struct Gateway {
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

fn rate_headers(q: &QuotaState) -> Vec<(&'static str, String)> {
    vec![
        ("x-ratelimit-limit-minute", q.limit.to_string()),
        ("x-ratelimit-remaining-minute", q.remaining.to_string()),
        ("x-ratelimit-reset", q.reset_secs.to_string()),
    ]
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
    pub fn new(config: &SimConfig, modules: Vec<Arc<dyn ApiModule>>) -> Gateway {
        let mut faults = Faults::default();
        for f in &config.faults {
            // Rules were validated when the configuration was built; an invalid one is skipped.
            let _ = faults.add(f.clone());
        }
        Gateway {
            modules,
            quota_limit: config.quota.limit,
            initial_faults: config.faults.clone(),
            inner: Mutex::new(Mutable {
                digest: DigestAuth::new(&config.keys, config.nonce_ttl),
                quotas: Quotas::new(config.quota.clone()),
                faults,
                counters: BTreeMap::new(),
            }),
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
        status: u16,
        mut headers: Vec<(&'static str, String)>,
        body: &serde_json::Value,
    ) -> Outcome {
        headers.push(("content-type", "application/json".into()));
        headers.push(("x-debug-trace-id", trace_id()));
        Outcome::Respond {
            status,
            headers,
            body: json_bytes(body),
        }
    }

    fn error(err: &ApiError, shape: ErrorShape, headers: Vec<(&'static str, String)>) -> Outcome {
        Self::respond(err.status, headers, &err.body(shape))
    }

    pub async fn handle(&self, raw: RawRequest<'_>) -> Outcome {
        let method = Method::parse(raw.method);
        let (path, query) = match parse_target(raw.target) {
            Ok(x) => x,
            Err(e) => return Self::error(&e, ErrorShape::RpcStatus, vec![]),
        };
        if let Some(admin_path) = path.strip_prefix("/_sim/") {
            return self.admin(method, admin_path, query, raw.body);
        }

        // 1. Authentication.
        let now = Instant::now();
        let auth = self
            .lock()
            .digest
            .verify(raw.authorization, raw.method, raw.target, now);
        let public_key = match auth {
            AuthOutcome::Ok(k) => k,
            AuthOutcome::Challenge {
                stale,
                known_key,
                reason,
            } => {
                let mut headers = Vec::new();
                if let Some(k) = &known_key {
                    // An identified key's failed round trip still counts against its quota.
                    let q = self.lock().quotas.take(k, now);
                    headers.extend(rate_headers(&q));
                }
                let challenge = self.lock().digest.challenge(stale, now);
                headers.push(("www-authenticate", challenge));
                tracing::debug!(method = raw.method, path = %path, reason, "challenge");
                self.count(
                    known_key.as_deref().unwrap_or(""),
                    method,
                    "(unauthenticated)",
                    401,
                );
                let message = if reason == "public_key not found" {
                    reason.to_string()
                } else {
                    format!("unauthorized: {reason}")
                };
                return Self::error(
                    &ApiError::unauthenticated(message),
                    ErrorShape::RpcStatus,
                    headers,
                );
            }
        };

        // 2. Quota.
        let q = self.lock().quotas.take(&public_key, now);
        let headers = rate_headers(&q);
        if !q.allowed {
            self.count(&public_key, method, "(rate limited)", 429);
            tracing::info!(method = raw.method, path = %path, key = %mask(&public_key), "429 quota exhausted");
            return Self::error(
                &ApiError::rate_limited(self.quota_limit),
                ErrorShape::RpcStatus,
                headers,
            );
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
            self.count(&public_key, method, "(fault: reset)", 0);
            return Outcome::Drop {
                hold: Duration::ZERO,
            };
        }
        if plan.throttle {
            tracing::info!(method = raw.method, path = %path, key = %key, "fault: throttle (429)");
            let q = self.lock().quotas.exhaust(&public_key, Instant::now());
            self.count(&public_key, method, "(fault: throttle)", 429);
            return Self::error(
                &ApiError::rate_limited(self.quota_limit),
                ErrorShape::RpcStatus,
                rate_headers(&q),
            );
        }
        if let Some(status) = plan.fail_status {
            tracing::info!(method = raw.method, path = %path, key = %key, status, "fault: fail");
            self.count(&public_key, method, "(fault: fail)", status);
            let err = ApiError::new(
                status,
                format!("injected fault: {}", crate::error::reason_phrase(status)),
            );
            return Self::error(&err, ErrorShape::RpcStatus, headers);
        }

        // 4. Routing.
        let Some(body) = raw.body else {
            self.count(&public_key, method, "(body too large)", 400);
            let err = ApiError::invalid(format!(
                "request body too large: at most {MAX_BODY_BYTES} bytes are accepted"
            ));
            return Self::error(&err, ErrorShape::RpcStatus, headers);
        };
        let req = ApiRequest {
            method,
            path: path.clone(),
            query,
            body,
            public_key: public_key.clone(),
        };
        let mut shape = ErrorShape::RpcStatus;
        let mut routed: Option<Routed> = None;
        for m in &self.modules {
            if let Some(r) = m.route(&req) {
                shape = m.error_shape();
                routed = Some(r);
                break;
            }
        }
        let Some(Routed { route, result }) = routed else {
            self.count(&public_key, method, "(no route)", 404);
            return Self::error(
                &ApiError::not_found(format!("no API path {path}")),
                shape,
                headers,
            );
        };
        let status = match &result {
            Ok(r) => r.status,
            Err(e) => e.status,
        };
        tracing::info!(method = raw.method, route, status, key = %mask(&public_key), "request");
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
                Self::respond(r.status, headers, &r.body)
            }
            Err(e) => {
                self.count(&public_key, method, route, e.status);
                Self::error(&e, shape, headers)
            }
        }
    }

    /// The admin API (no authentication, not counted against quotas).
    fn admin(
        &self,
        method: Method,
        path: &str,
        query: Vec<(String, String)>,
        body: Option<bytes::Bytes>,
    ) -> Outcome {
        let ok = |v: serde_json::Value| Self::respond(200, vec![], &v);
        let err = |e: ApiError| Self::error(&e, ErrorShape::RpcStatus, vec![]);
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
        match (method, path) {
            (Method::Get, "health") => ok(serde_json::json!({"status": "ok"})),
            (Method::Get, "counters") => {
                let rows = self.counters();
                let total: u64 = rows.iter().map(|r| r.count).sum();
                ok(serde_json::json!({"total": total, "counters": rows}))
            }
            (Method::Post, "reset") => {
                let mut m = self.lock();
                m.counters.clear();
                m.quotas.reset();
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
            _ => {
                for module in &self.modules {
                    if let Some(Routed { result, .. }) = module.admin(&req) {
                        return match result {
                            Ok(r) => ok(r.body),
                            Err(e) => err(e),
                        };
                    }
                }
                err(ApiError::not_found(format!("no admin path /_sim/{path}")))
            }
        }
    }
}
