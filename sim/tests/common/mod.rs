//! A digest client for the simulator's HTTP tests, behaving like the official Go clients (icholy/digest):
//! it caches the last challenge, signs later requests pre-emptively with an increasing `nc`, and on a 401
//! reads the new challenge and retries once.
#![allow(dead_code)]

pub mod spec;

use clouddb_sim::{ApiKey, SimConfig, Simulator};
use digest_auth::{AuthContext, HttpMethod, WwwAuthenticateHeader};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub fn message(&self) -> String {
        self.body["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub key: ApiKey,
    challenge: Mutex<Option<WwwAuthenticateHeader>>,
    /// Number of HTTP exchanges made (including challenge round trips).
    pub exchanges: Mutex<u32>,
    /// Every `WWW-Authenticate` value received, oldest first.
    pub challenges: Mutex<Vec<String>>,
}

pub fn http_client(sim: &Simulator) -> reqwest::Client {
    http_client_for(sim.ca_path())
}

/// An HTTP client trusting only `ca` (when given).
pub fn http_client_for(ca: Option<&Path>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .use_rustls_tls();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).expect("read CA");
        b = b
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA pem"))
            .tls_built_in_root_certs(false);
    }
    b.build().expect("client")
}

impl Client {
    pub fn new(sim: &Simulator) -> Client {
        Self::with_key(sim, sim.key().clone())
    }

    pub fn with_key(sim: &Simulator, key: ApiKey) -> Client {
        Self::connect(sim.base_url(), sim.ca_path(), key)
    }

    /// A client of the Serverless listener, with the simulator's first (TiDB Cloud) key.
    pub fn serverless(sim: &Simulator) -> Client {
        Self::connect(sim.serverless_base_url(), sim.ca_path(), sim.key().clone())
    }

    /// A client of a simulator running elsewhere (e.g. the `clouddb-sim` binary).
    pub fn connect(base: String, ca: Option<&Path>, key: ApiKey) -> Client {
        Client {
            http: http_client_for(ca),
            base,
            key,
            challenge: Mutex::new(None),
            exchanges: Mutex::new(0),
            challenges: Mutex::new(Vec::new()),
        }
    }

    /// A second client with the same key that starts from this one's cached challenge (nonce and `nc`), as
    /// two processes sharing a cached challenge would.
    pub fn fork(&self) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            key: self.key.clone(),
            challenge: Mutex::new(self.challenge.lock().unwrap().clone()),
            exchanges: Mutex::new(0),
            challenges: Mutex::new(Vec::new()),
        }
    }

    /// [`Client::fork`] pointed at another listener (`base`) behind the same gateway.
    pub fn fork_at(&self, base: String) -> Client {
        Client {
            base,
            ..self.fork()
        }
    }

    pub fn exchanges(&self) -> u32 {
        *self.exchanges.lock().unwrap()
    }

    /// The last `WWW-Authenticate` value received.
    pub fn last_challenge(&self) -> Option<String> {
        self.challenges.lock().unwrap().last().cloned()
    }

    /// The `Authorization` value the next request to `uri` would carry (consumes one `nc`); `None` before
    /// the first challenge.
    pub fn authorization(&self, method: &Method, uri: &str) -> Option<String> {
        self.sign(method, uri)
    }

    fn sign(&self, method: &Method, uri: &str) -> Option<String> {
        let mut guard = self.challenge.lock().unwrap();
        let www = guard.as_mut()?;
        let ctx = AuthContext::new_with_method(
            self.key.public_key.as_str(),
            self.key.private_key.as_str(),
            uri,
            Option::<&[u8]>::None,
            HttpMethod::from(method.as_str().to_string()),
        );
        www.respond(&ctx).ok().map(|h| h.to_header_string())
    }

    async fn send_once(
        &self,
        method: &Method,
        uri: &str,
        body: Option<&[u8]>,
    ) -> reqwest::Result<Resp> {
        let mut rb = self
            .http
            .request(method.clone(), format!("{}{}", self.base, uri));
        if let Some(h) = self.sign(method, uri) {
            rb = rb.header("authorization", h);
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_vec());
        }
        *self.exchanges.lock().unwrap() += 1;
        let resp = read(rb.send().await?).await?;
        if let Some(www) = resp.header("www-authenticate") {
            self.challenges.lock().unwrap().push(www);
        }
        Ok(resp)
    }

    /// Sends a request, answering one digest challenge.
    pub async fn try_send(
        &self,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<Resp> {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
        self.try_send_raw(method, uri, bytes.as_deref()).await
    }

    /// Like [`Client::try_send`] with a body sent as is (malformed JSON, oversized bodies).
    pub async fn try_send_raw(
        &self,
        method: Method,
        uri: &str,
        body: Option<&[u8]>,
    ) -> reqwest::Result<Resp> {
        let first = self.send_once(&method, uri, body).await?;
        if first.status != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let Some(www) = first.header("www-authenticate") else {
            return Ok(first);
        };
        *self.challenge.lock().unwrap() =
            Some(WwwAuthenticateHeader::parse(&www).expect("parse challenge"));
        self.send_once(&method, uri, body).await
    }

    pub async fn send_raw(&self, method: Method, uri: &str, body: &[u8]) -> Resp {
        self.try_send_raw(method, uri, Some(body))
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    pub async fn send(&self, method: Method, uri: &str, body: Option<&Value>) -> Resp {
        self.try_send(method, uri, body)
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    pub async fn get(&self, uri: &str) -> Resp {
        self.send(Method::GET, uri, None).await
    }
    pub async fn post(&self, uri: &str, body: Value) -> Resp {
        self.send(Method::POST, uri, Some(&body)).await
    }
    pub async fn patch(&self, uri: &str, body: Value) -> Resp {
        self.send(Method::PATCH, uri, Some(&body)).await
    }
    pub async fn delete(&self, uri: &str) -> Resp {
        self.send(Method::DELETE, uri, None).await
    }
    pub async fn put(&self, uri: &str, body: Value) -> Resp {
        self.send(Method::PUT, uri, Some(&body)).await
    }

    /// Admin API call (no authentication).
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut rb = self
            .http
            .request(method, format!("{}/_sim/{}", self.base, path));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        read(rb.send().await.expect("admin call"))
            .await
            .expect("admin body")
    }
}

/// Reads a response; a body that is not JSON becomes `null`.
pub async fn read(r: reqwest::Response) -> reqwest::Result<Resp> {
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.bytes().await?;
    Ok(Resp {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    })
}

pub async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config).await.expect("start simulator")
}

/// A valid create body.
pub fn cluster_body(name: &str) -> Value {
    serde_json::json!({
        "displayName": name,
        "regionId": "aws-us-west-2",
        "tidbNodeSetting": {"nodeSpecKey": "8C16G", "tidbNodeGroups": [{"nodeCount": 2}]},
        "tikvNodeSetting": {"nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 500, "storageType": "Standard"},
        "port": 4000,
        "rootPassword": "initial-password-1"
    })
}

/// Polls GET until `pred` holds on the body (or panics after `timeout`).
pub async fn wait_for(
    client: &Client,
    uri: &str,
    timeout: Duration,
    pred: impl Fn(&Resp) -> bool,
) -> Resp {
    let mut seen = observe_until(client, uri, timeout, pred).await;
    seen.pop().expect("at least one observation")
}

/// Polls GET until `pred` holds (or panics after `timeout`) and returns every response seen, the last one
/// satisfying `pred`: for asserting on the path a resource took, not only where it ended.
pub async fn observe_until(
    client: &Client,
    uri: &str,
    timeout: Duration,
    pred: impl Fn(&Resp) -> bool,
) -> Vec<Resp> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let r = client.get(uri).await;
        let done = pred(&r);
        if !done && tokio::time::Instant::now() > deadline {
            panic!(
                "timed out after {timeout:?} waiting on {uri}; last: {} {}",
                r.status, r.body
            );
        }
        seen.push(r);
        if done {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A valid Serverless (Starter) cluster create body.
pub fn serverless_body(name: &str) -> Value {
    serde_json::json!({
        "displayName": name,
        "region": {"name": "regions/aws-us-east-1"},
        "spendingLimit": {"monthly": 1000},
        "labels": {"env": "test"},
        "rootPassword": "initial-password-1"
    })
}

// ---- ClickHouse Cloud ---------------------------------------------------------------------------------------

/// A ClickHouse Cloud client: HTTP Basic with the key ID and secret, paths relative to
/// `/v1/organizations/{organizationId}` or absolute when they start with `/v1`.
pub struct ChClient {
    pub http: reqwest::Client,
    pub base: String,
    pub key: ApiKey,
    pub org: String,
}

impl ChClient {
    pub fn new(sim: &Simulator) -> ChClient {
        Self::with_key(sim, sim.clickhouse_key().clone())
    }

    pub fn with_key(sim: &Simulator, key: ApiKey) -> ChClient {
        ChClient {
            http: http_client(sim),
            base: sim.clickhouse_base_url(),
            key,
            org: sim.clickhouse_organization_id().to_string(),
        }
    }

    /// The full path of `uri`: as is when it starts with `/v1`, else under the organization.
    pub fn path(&self, uri: &str) -> String {
        if uri.starts_with("/v1") {
            uri.to_string()
        } else {
            format!("/v1/organizations/{}{uri}", self.org)
        }
    }

    pub async fn try_send(
        &self,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<Resp> {
        let mut rb = self
            .http
            .request(method, format!("{}{}", self.base, self.path(uri)))
            .basic_auth(&self.key.public_key, Some(&self.key.private_key));
        if let Some(b) = body {
            rb = rb.json(b);
        }
        read(rb.send().await?).await
    }

    pub async fn send(&self, method: Method, uri: &str, body: Option<&Value>) -> Resp {
        self.try_send(method, uri, body)
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e}"))
    }

    pub async fn get(&self, uri: &str) -> Resp {
        self.send(Method::GET, uri, None).await
    }
    pub async fn post(&self, uri: &str, body: Value) -> Resp {
        self.send(Method::POST, uri, Some(&body)).await
    }
    pub async fn patch(&self, uri: &str, body: Value) -> Resp {
        self.send(Method::PATCH, uri, Some(&body)).await
    }
    pub async fn delete(&self, uri: &str) -> Resp {
        self.send(Method::DELETE, uri, None).await
    }

    /// Admin API call on the ClickHouse listener (no authentication).
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut rb = self
            .http
            .request(method, format!("{}/_sim/{}", self.base, path));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        read(rb.send().await.expect("admin call"))
            .await
            .expect("admin body")
    }

    /// Polls GET until `pred` holds (or panics after `timeout`); answers every response seen.
    pub async fn observe_until(
        &self,
        uri: &str,
        timeout: Duration,
        pred: impl Fn(&Resp) -> bool,
    ) -> Vec<Resp> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let r = self.get(uri).await;
            let done = pred(&r);
            if !done && tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting on {uri}; last: {} {}",
                    r.status, r.body
                );
            }
            seen.push(r);
            if done {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn wait_for(
        &self,
        uri: &str,
        timeout: Duration,
        pred: impl Fn(&Resp) -> bool,
    ) -> Resp {
        self.observe_until(uri, timeout, pred)
            .await
            .pop()
            .expect("at least one observation")
    }

    /// Polls until the service's state is `state`.
    pub async fn wait_state(&self, id: &str, state: &str, timeout: Duration) -> Resp {
        self.wait_for(&format!("/services/{id}"), timeout, |r| {
            r.body["result"]["state"] == state
        })
        .await
    }
}

/// A valid ClickHouse service create body.
pub fn service_body(name: &str) -> Value {
    serde_json::json!({
        "name": name,
        "provider": "aws",
        "region": "us-east-2",
        "ipAccessList": [{"source": "10.0.0.0/8", "description": "office"}],
        "minReplicaMemoryGb": 16,
        "maxReplicaMemoryGb": 64,
        "tags": [{"key": "clouddb.dev_uid", "value": "0d9f3c0e-1111-2222-3333-444455556666"}]
    })
}

/// A ClickHouse configuration for tests: a generous quota (tests of the limit set their own) and `delays`.
pub fn ch_config(delays: clouddb_sim::ClickHouseDelays) -> clouddb_sim::ClickHouseConfig {
    clouddb_sim::ClickHouseConfig {
        quota: clouddb_sim::QuotaConfig {
            limit: 100_000,
            window: Duration::from_secs(60),
        },
        delays,
        ..Default::default()
    }
}
