//! HTTP-level tests of the simulator, driven through a real digest client over TLS (`common::Client`, which
//! behaves like the official Go clients: cached challenge, increasing `nc`, one retry on a 401).
//!
//! Each test starts its own simulator (tests run in parallel). Waiting is always on a condition with a
//! timeout (`wait_for`, `observe_until`), never a bare sleep; delays are instant or a few hundred
//! milliseconds, so the whole file runs in a few seconds.
mod common;

use clouddb_sim::{ApiKey, Delays, FaultRule, QuotaConfig, SimConfig, Simulator};
use common::{Client, Resp, cluster_body, observe_until, wait_for};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);
const CLUSTERS: &str = "/v1beta1/clusters";
const STAGING_PROJECT: &str = "1372813089454525999";

// ---- helpers --------------------------------------------------------------------------------------------

fn big_quota() -> QuotaConfig {
    QuotaConfig {
        limit: 10_000,
        window: Duration::from_secs(60),
    }
}

/// Transitions complete on the next read; the quota never gets in the way.
fn instant() -> SimConfig {
    SimConfig {
        delays: Delays::instant(),
        quota: big_quota(),
        ..SimConfig::default()
    }
}

fn with_delays(delays: Delays) -> SimConfig {
    SimConfig {
        delays,
        ..instant()
    }
}

fn key(public: &str, private: &str) -> ApiKey {
    ApiKey {
        public_key: public.into(),
        private_key: private.into(),
    }
}

async fn sim_with(config: SimConfig) -> (Simulator, Client) {
    let sim = common::start(config).await;
    let client = Client::new(&sim);
    (sim, client)
}

/// Asserts the dedicated/gateway error shape: exactly `{code, message, details: []}`, with this status and
/// code, and a message containing `message`.
#[track_caller]
fn assert_error(r: &Resp, status: u16, code: i64, message: &str) {
    assert_eq!(r.status.as_u16(), status, "status; body {}", r.body);
    let keys: BTreeSet<&str> = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not an object: {}", r.body))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["code", "message", "details"]),
        "{}",
        r.body
    );
    assert_eq!(r.body["code"], json!(code), "code; body {}", r.body);
    assert_eq!(r.body["details"], json!([]), "{}", r.body);
    assert!(
        r.message().contains(message),
        "message {:?} does not contain {message:?}",
        r.message()
    );
}

#[track_caller]
fn assert_invalid(r: &Resp, message: &str) {
    assert_error(r, 400, 400, message);
}

#[track_caller]
fn assert_ok(r: &Resp) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// `(limit, remaining, reset)` from the `X-Ratelimit-*` headers.
#[track_caller]
fn rate(r: &Resp) -> (u64, u64, u64) {
    let h = |name: &str| -> u64 {
        r.header(name)
            .unwrap_or_else(|| panic!("no {name} on {} {}", r.status, r.body))
            .parse()
            .expect("numeric rate-limit header")
    };
    (
        h("x-ratelimit-limit-minute"),
        h("x-ratelimit-remaining-minute"),
        h("x-ratelimit-reset"),
    )
}

/// A JSON body with the value at `ptr` (`/a/b`) set (or added to its parent object).
fn with(mut body: Value, ptr: &str, value: Value) -> Value {
    let (parent, field) = ptr.rsplit_once('/').expect("pointer");
    body.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent:?}"))
        .insert(field.to_string(), value);
    body
}

fn cluster_uri(id: &str) -> String {
    format!("{CLUSTERS}/{id}")
}

fn verb(id: &str, verb: &str) -> String {
    format!("{CLUSTERS}/{id}:{verb}")
}

fn state_is(state: &'static str) -> impl Fn(&Resp) -> bool {
    move |r| r.status == StatusCode::OK && r.body["state"] == state
}

fn str_of<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {ptr} in {v}"))
}

/// Creates a cluster and returns its id; the create answer itself must already say CREATING.
async fn create(c: &Client, body: Value) -> String {
    let r = c.post(CLUSTERS, body).await;
    assert_ok(&r);
    assert_eq!(r.body["state"], "CREATING", "{}", r.body);
    str_of(&r.body, "/clusterId").to_string()
}

async fn create_active(c: &Client, name: &str) -> String {
    let id = create(c, cluster_body(name)).await;
    wait_for(c, &cluster_uri(&id), WAIT, state_is("ACTIVE")).await;
    id
}

/// `GET /v1beta1/clusters?{query}`.
async fn get_list(c: &Client, query: &str) -> Resp {
    c.get(&format!("{CLUSTERS}?{query}")).await
}

/// A successful `GET /v1beta1/clusters?{query}`.
async fn list(c: &Client, query: &str) -> Resp {
    let r = get_list(c, query).await;
    assert_ok(&r);
    r
}

fn cluster_ids(r: &Resp) -> Vec<String> {
    r.body["clusters"]
        .as_array()
        .unwrap_or_else(|| panic!("no clusters in {}", r.body))
        .iter()
        .map(|c| str_of(c, "/clusterId").to_string())
        .collect()
}

fn next_token(r: &Resp) -> String {
    str_of(&r.body, "/nextPageToken").to_string()
}

async fn add_fault(c: &Client, rule: Value) {
    let r = c.admin(Method::POST, "faults", Some(rule)).await;
    assert_ok(&r);
}

async fn active_faults(c: &Client) -> Vec<Value> {
    let r = c.admin(Method::GET, "faults", None).await;
    assert_ok(&r);
    r.body["faults"].as_array().expect("faults").clone()
}

/// A counter row's identity: `(key, method, route, status)`.
type Row = (String, String, String, u64);
type Counters = std::collections::BTreeMap<Row, u64>;

fn row(key: &str, method: &str, route: &str, status: u64) -> Row {
    (key.into(), method.into(), route.into(), status)
}

/// `GET /_sim/counters` as a map, checking that `total` is the sum of the rows.
async fn counters(c: &Client) -> Counters {
    let r = c.admin(Method::GET, "counters", None).await;
    assert_ok(&r);
    let rows: Counters = r.body["counters"]
        .as_array()
        .expect("counters")
        .iter()
        .map(|x| {
            let status = x["status"].as_u64().expect("status");
            let id = row(
                str_of(x, "/key"),
                str_of(x, "/method"),
                str_of(x, "/route"),
                status,
            );
            (id, x["count"].as_u64().expect("count"))
        })
        .collect();
    let sum: u64 = rows.values().sum();
    assert_eq!(r.body["total"], json!(sum), "total is the sum of the rows");
    rows
}

fn count_of(rows: &Counters, key: &str, method: &str, route: &str, status: u64) -> u64 {
    rows.get(&row(key, method, route, status))
        .copied()
        .unwrap_or(0)
}

fn count_status(rows: &Counters, status: u64) -> u64 {
    rows.iter()
        .filter(|((_, _, _, s), _)| *s == status)
        .map(|(_, n)| n)
        .sum()
}

/// Sends `GET uri` with the given `Authorization` value (or none), outside the digest client.
async fn raw_get(sim: &Simulator, uri: &str, authorization: Option<&str>) -> Resp {
    let mut rb = common::http_client(sim).get(format!("{}{uri}", sim.base_url()));
    if let Some(h) = authorization {
        rb = rb.header("authorization", h);
    }
    common::read(rb.send().await.expect("send"))
        .await
        .expect("body")
}

// ---- authentication ---------------------------------------------------------------------------------------

#[tokio::test]
async fn missing_or_non_digest_authorization_gets_a_digest_challenge() {
    let sim = common::start(instant()).await;
    let r = raw_get(&sim, CLUSTERS, None).await;
    assert_error(
        &r,
        401,
        49900001,
        "unauthorized: missing Authorization header",
    );
    let www = r.header("www-authenticate").expect("WWW-Authenticate");
    assert!(www.starts_with("Digest "), "{www}");
    for part in [
        "realm=\"tidb.cloud\"",
        "qop=\"auth\"",
        "algorithm=MD5",
        "stale=false",
    ] {
        assert!(www.contains(part), "{part} missing from {www}");
    }
    let parsed = digest_auth::WwwAuthenticateHeader::parse(&www).expect("parsable challenge");
    assert!(
        parsed.nonce.len() >= 16 && parsed.nonce.bytes().all(|b| b.is_ascii_hexdigit()),
        "nonce {:?}",
        parsed.nonce
    );
    assert!(
        r.header("x-ratelimit-limit-minute").is_none(),
        "no key is known, so no quota applies"
    );

    let basic = common::http_client(&sim)
        .get(format!("{}{CLUSTERS}", sim.base_url()))
        .basic_auth(&sim.key().public_key, Some(&sim.key().private_key))
        .send()
        .await
        .expect("send");
    let r = common::read(basic).await.expect("body");
    assert_error(
        &r,
        401,
        49900001,
        "unauthorized: only Digest authentication is accepted",
    );
    assert!(r.header("www-authenticate").is_some());
}

#[tokio::test]
async fn wrong_private_key_unknown_public_key_and_wrong_uri_get_401() {
    let sim = common::start(instant()).await;
    let public = sim.key().public_key.clone();

    let wrong = Client::with_key(&sim, key(&public, "not-the-private-key"));
    let r = wrong.get(CLUSTERS).await;
    assert_error(
        &r,
        401,
        49900001,
        "unauthorized: digest response does not match",
    );
    assert_eq!(wrong.exchanges(), 2, "a challenge, then one signed retry");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|w| w.contains("stale=false")),
        "a bad signature is not stale"
    );
    let (limit, _, _) = rate(&r);
    assert_eq!(limit, 10_000, "a known key's failed attempt counts");

    let unknown = Client::with_key(&sim, key("NOSUCHKEY", "whatever-private-key"));
    let r = unknown.get(CLUSTERS).await;
    assert_error(&r, 401, 49900001, "public_key not found");
    assert_eq!(r.message(), "public_key not found");
    assert!(r.header("x-ratelimit-limit-minute").is_none());

    // A correct signature for another URI is refused too.
    let good = Client::new(&sim);
    assert_ok(&good.get(CLUSTERS).await);
    let signed_elsewhere = good
        .authorization(&Method::GET, "/v1beta1/regions")
        .expect("cached challenge");
    let r = raw_get(&sim, CLUSTERS, Some(&signed_elsewhere)).await;
    assert_error(
        &r,
        401,
        49900001,
        "unauthorized: digest realm or uri mismatch",
    );

    let rows = counters(&good).await;
    // Anonymous challenges: the first request of each client, and both of the unknown key's.
    assert_eq!(count_of(&rows, "", "GET", "(unauthenticated)", 401), 4);
    // The wrong private key's retry and the wrong-URI request name a known key.
    assert_eq!(count_of(&rows, &public, "GET", "(unauthenticated)", 401), 2);
    assert_eq!(count_of(&rows, &public, "GET", CLUSTERS, 200), 1);
}

#[tokio::test]
async fn a_cached_nonce_is_reused_with_increasing_nc_without_extra_challenges() {
    let (_sim, c) = sim_with(instant()).await;
    let id = create(&c, cluster_body("nonce-reuse")).await;
    for _ in 0..4 {
        assert_ok(&c.get(CLUSTERS).await);
        assert_ok(&c.get(&cluster_uri(&id)).await);
    }
    assert_ok(
        &c.patch(&cluster_uri(&id), json!({"displayName": "nonce-reused"}))
            .await,
    );
    assert_eq!(c.exchanges(), 11, "10 requests + 1 challenge round trip");
    assert_eq!(c.challenges.lock().unwrap().len(), 1, "one challenge only");
    let rows = counters(&c).await;
    assert_eq!(count_status(&rows, 401), 1, "{rows:?}");
    assert_eq!(count_status(&rows, 200), 10, "{rows:?}");
}

#[tokio::test]
async fn a_replayed_nc_is_stale_and_the_client_recovers() {
    let sim = common::start(instant()).await;
    let a = Client::new(&sim);
    assert_ok(&a.get(CLUSTERS).await);

    // The same Authorization header twice: the second use is a replay.
    let header = a.authorization(&Method::GET, CLUSTERS).expect("challenge");
    assert_ok(&raw_get(&sim, CLUSTERS, Some(&header)).await);
    let r = raw_get(&sim, CLUSTERS, Some(&header)).await;
    assert_error(&r, 401, 49900001, "unauthorized: nonce count reused");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|w| w.contains("stale=true")),
        "{:?}",
        r.header("www-authenticate")
    );

    // A client whose cached nc lags behind (two processes sharing a cached challenge): its request is
    // refused as stale, and it retries once with the fresh challenge.
    let b = a.fork();
    assert_ok(&a.get(CLUSTERS).await);
    assert_ok(&a.get(CLUSTERS).await);
    assert_ok(&b.get(CLUSTERS).await);
    assert_eq!(b.exchanges(), 2, "stale answer, then the retry");
    assert!(b.last_challenge().is_some_and(|w| w.contains("stale=true")));
    assert_ok(&b.get(CLUSTERS).await);
    assert_eq!(b.exchanges(), 3, "the fresh nonce is reused");
}

#[tokio::test]
async fn an_expired_nonce_is_stale_and_the_client_recovers() {
    let ttl = Duration::from_millis(300);
    let (_sim, c) = sim_with(SimConfig {
        nonce_ttl: ttl,
        ..instant()
    })
    .await;
    assert_ok(&c.get(CLUSTERS).await);
    let issued = Instant::now();
    assert!(
        c.last_challenge()
            .is_some_and(|w| w.contains("stale=false"))
    );
    // Keep using the cached nonce until the simulator declares it expired; every call must succeed.
    loop {
        let before = c.exchanges();
        assert_ok(&c.get(CLUSTERS).await);
        if c.exchanges() - before == 2 {
            break;
        }
        assert!(issued.elapsed() < WAIT, "the nonce never expired");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        issued.elapsed() >= ttl,
        "expired after {:?}, before its TTL",
        issued.elapsed()
    );
    assert!(c.last_challenge().is_some_and(|w| w.contains("stale=true")));
    let rows = counters(&c).await;
    let public = c.key.public_key.clone();
    assert_eq!(count_of(&rows, &public, "GET", "(unauthenticated)", 401), 1);
}

// ---- pagination and filters -------------------------------------------------------------------------------

#[tokio::test]
async fn cluster_lists_page_and_filter() {
    let (_sim, c) = sim_with(instant()).await;
    let mut west = Vec::new();
    for i in 0..20 {
        west.push(create(&c, cluster_body(&format!("page-west-{i:02}"))).await);
    }
    let mut east = Vec::new();
    for i in 0..5 {
        let body = with(
            cluster_body(&format!("page-east-{i:02}")),
            "/regionId",
            json!("aws-us-east-1"),
        );
        east.push(create(&c, body).await);
    }
    let all: Vec<String> = west.iter().chain(&east).cloned().collect();
    for id in &west[..3] {
        assert_ok(&c.post(&verb(id, "pauseCluster"), json!({})).await);
        wait_for(&c, &cluster_uri(id), WAIT, state_is("PAUSED")).await;
    }

    // Three pages of 10, 10 and 5, in creation order.
    let mut seen = Vec::new();
    let mut token = String::new();
    for expected in [10, 10, 5] {
        let r = list(&c, &format!("pageSize=10&pageToken={token}")).await;
        assert_eq!(r.body["totalSize"], 25);
        let page = cluster_ids(&r);
        assert_eq!(page.len(), expected);
        seen.extend(page);
        token = next_token(&r);
        assert_eq!(token.is_empty(), seen.len() == 25, "a token until the end");
    }
    assert_eq!(seen, all);

    // skip, default and coerced page sizes.
    let r = list(&c, "skip=20").await;
    assert_eq!(cluster_ids(&r), all[20..]);
    assert_eq!(next_token(&r), "");
    let r = list(&c, "skip=5&pageSize=10").await;
    assert_eq!(cluster_ids(&r), all[5..15]);
    let r = list(&c, &format!("pageSize=10&pageToken={}", next_token(&r))).await;
    assert_eq!(cluster_ids(&r), all[15..25]);
    let r = list(&c, "skip=30").await;
    assert_eq!((cluster_ids(&r).len(), next_token(&r)), (0, String::new()));
    assert_eq!(r.body["totalSize"], 25);
    assert_eq!(cluster_ids(&list(&c, "").await), all[..10], "default 10");
    assert_eq!(cluster_ids(&list(&c, "pageSize=0").await).len(), 10);
    let r = list(&c, "pageSize=1000").await;
    assert_eq!(cluster_ids(&r), all, "coerced to 100");
    assert_eq!(next_token(&r), "");

    // Bad paging parameters.
    assert_invalid(
        &get_list(&c, "pageToken=garbage").await,
        "invalid pageToken",
    );
    let first = list(&c, "pageSize=10").await;
    assert_invalid(
        &get_list(
            &c,
            &format!(
                "pageSize=10&regionIds=aws-us-east-1&pageToken={}",
                next_token(&first)
            ),
        )
        .await,
        "same filters",
    );
    assert_invalid(
        &get_list(&c, "pageSize=-1").await,
        "pageSize must not be negative, got -1",
    );
    assert_invalid(
        &get_list(&c, "skip=-2").await,
        "skip must not be negative, got -2",
    );
    assert_invalid(
        &get_list(&c, "pageSize=ten").await,
        "invalid value for query parameter pageSize",
    );

    // Filters (repeated keys), alone and combined.
    let ids_for = |q: &'static str| {
        let c = &c;
        async move { cluster_ids(&list(c, &format!("pageSize=100&{q}")).await) }
    };
    assert_eq!(ids_for("clusterStates=PAUSED").await, west[..3]);
    assert_eq!(ids_for("clusterStates=ACTIVE").await, all[3..]);
    assert_eq!(
        ids_for("clusterStates=ACTIVE&clusterStates=PAUSED").await,
        all
    );
    assert_eq!(ids_for("regionIds=aws-us-east-1").await, east);
    assert_eq!(
        ids_for("regionIds=aws-us-east-1&regionIds=aws-us-west-2").await,
        all
    );
    let r = list(
        &c,
        &format!("clusterIds={}&clusterIds={}", east[1], west[4]),
    )
    .await;
    assert_eq!(cluster_ids(&r), [west[4].clone(), east[1].clone()]);
    let q = "regionIds=aws-us-west-2&clusterStates=ACTIVE";
    let r = list(&c, q).await;
    assert_eq!(r.body["totalSize"], 17);
    assert_eq!(cluster_ids(&r), west[3..13]);
    let r = list(&c, &format!("{q}&pageToken={}", next_token(&r))).await;
    assert_eq!(cluster_ids(&r), west[13..]);
    let r = list(&c, &format!("projectId={STAGING_PROJECT}")).await;
    assert_eq!(r.body["totalSize"], 0, "another project's list");
    assert_invalid(
        &get_list(&c, "clusterStates=SLEEPING").await,
        "clusterStates \"SLEEPING\" is not a cluster state",
    );
}

// ---- quota ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_quota_runs_out_per_key_with_headers_and_recovers_after_the_window() {
    const LIMIT: u64 = 5;
    let window = Duration::from_secs(2);
    let sim = common::start(SimConfig {
        keys: vec![ApiKey::random(), ApiKey::random()],
        quota: QuotaConfig {
            limit: LIMIT as u32,
            window,
        },
        ..instant()
    })
    .await;
    let a = Client::with_key(&sim, sim.keys()[0].clone());
    let b = Client::with_key(&sim, sim.keys()[1].clone());

    // Every answer to an identified key carries the headers, errors included; remaining counts down.
    let uris = [
        CLUSTERS,
        "/v1beta1/clusters/123",
        "/v1beta1/regions",
        "/v1beta1/projects",
        "/v1beta1/nowhere",
    ];
    for (i, uri) in uris.iter().enumerate() {
        let r = a.get(uri).await;
        assert!(
            r.status != StatusCode::TOO_MANY_REQUESTS,
            "{uri}: {}",
            r.body
        );
        let (limit, remaining, reset) = rate(&r);
        assert_eq!((limit, remaining), (LIMIT, LIMIT - 1 - i as u64), "{uri}");
        assert!((1..=window.as_secs()).contains(&reset), "reset {reset}");
    }
    let r = a.get(CLUSTERS).await;
    assert_error(
        &r,
        429,
        49900007,
        "The request exceeded the limit of 5 times per apikey per minute",
    );
    let (limit, remaining, reset) = rate(&r);
    assert_eq!((limit, remaining), (LIMIT, 0));
    assert!((1..=window.as_secs()).contains(&reset), "reset {reset}");

    // The other key has its own quota.
    let r = b.get(CLUSTERS).await;
    assert_ok(&r);
    assert_eq!(rate(&r).1, LIMIT - 1);

    // The first key recovers once its window has passed.
    let r = wait_for(&a, CLUSTERS, WAIT, |r| {
        r.status != StatusCode::TOO_MANY_REQUESTS
    })
    .await;
    assert_ok(&r);
    assert_eq!(rate(&r).1, LIMIT - 1, "a fresh window");
    let rows = counters(&a).await;
    assert!(count_of(&rows, &a.key.public_key, "GET", "(rate limited)", 429) >= 1);
    assert_eq!(
        count_status(&rows, 429),
        count_of(&rows, &a.key.public_key, "GET", "(rate limited)", 429)
    );
}

// ---- state transitions ------------------------------------------------------------------------------------

#[tokio::test]
async fn a_cluster_goes_through_every_state_transition() {
    let step = Duration::from_millis(300);
    let (_sim, c) = sim_with(with_delays(Delays {
        cluster_create: step,
        cluster_modify: step,
        cluster_pause: step,
        cluster_resume: step,
        cluster_delete: step,
        ..Delays::instant()
    }))
    .await;
    let id = create(&c, cluster_body("life-cycle")).await;
    let uri = cluster_uri(&id);
    wait_for(&c, &uri, WAIT, state_is("ACTIVE")).await;

    // A rename changes no topology: the cluster stays ACTIVE.
    let r = c.patch(&uri, json!({"displayName": "life-cycle-2"})).await;
    assert_ok(&r);
    assert_eq!(
        (&r.body["state"], &r.body["displayName"]),
        (&json!("ACTIVE"), &json!("life-cycle-2"))
    );

    let r = c
        .patch(
            &uri,
            json!({"tidbNodeSetting": {"tidbNodeGroups": [{"nodeCount": 3}]}}),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["state"], "MODIFYING");
    assert_eq!(
        r.body["tidbNodeSetting"]["tidbNodeGroups"][0]["nodeCount"],
        3
    );
    let r = wait_for(&c, &uri, WAIT, state_is("ACTIVE")).await;
    assert_eq!(
        r.body["tidbNodeSetting"]["tidbNodeGroups"][0]["nodeCount"],
        3
    );

    let r = c.post(&verb(&id, "pauseCluster"), json!({})).await;
    assert_ok(&r);
    assert_eq!(
        r.body.as_object().map(|o| o.len()),
        Some(1),
        "only {{cluster}}"
    );
    assert_eq!(r.body["cluster"]["state"], "PAUSING");
    assert_eq!(r.body["cluster"]["pausePlan"]["pauseType"], "NORMAL");
    let r = wait_for(&c, &uri, WAIT, state_is("PAUSED")).await;
    assert_eq!(r.body["pausePlan"]["pauseType"], "NORMAL");

    let r = c.post(&verb(&id, "resumeCluster"), json!({})).await;
    assert_ok(&r);
    assert_eq!(r.body["cluster"]["state"], "RESUMING");
    let r = wait_for(&c, &uri, WAIT, state_is("ACTIVE")).await;
    assert!(r.body.get("pausePlan").is_none(), "{}", r.body);

    let r = c
        .post(
            &verb(&id, "resetRootPassword"),
            json!({"rootPassword": "a-new-password-2"}),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body, json!({}));
    let verify = format!("dedicated/clusters/{id}:verifyRootPassword");
    for (password, matches) in [("a-new-password-2", true), ("initial-password-1", false)] {
        let r = c
            .admin(
                Method::POST,
                &verify,
                Some(json!({"rootPassword": password})),
            )
            .await;
        assert_eq!(r.body, json!({"match": matches}), "{password}");
    }
    let r = c.get(&uri).await;
    assert_eq!(r.body["annotations"]["tidb.cloud/has-set-password"], "true");
    assert_eq!(r.body["rootPassword"], "", "never returned");

    let r = c.delete(&uri).await;
    assert_ok(&r);
    assert_eq!(r.body["state"], "DELETING");
    assert_eq!(r.body["clusterId"], json!(id), "the full cluster");
    assert_eq!(r.body["displayName"], "life-cycle-2");
    assert!(r.body["tidbNodeSetting"].is_object() && r.body["tikvNodeSetting"].is_object());
    let r = wait_for(&c, &uri, WAIT, |r| r.status == StatusCode::NOT_FOUND).await;
    assert_error(&r, 404, 404, &format!("cluster {id} not found"));
    assert_eq!(list(&c, "").await.body["totalSize"], 0);
}

#[tokio::test]
async fn invalid_transitions_are_refused_with_400() {
    let pause = |id: &str| verb(id, "pauseCluster");
    let resume = |id: &str| verb(id, "resumeCluster");
    let reset = |id: &str| verb(id, "resetRootPassword");
    let grow = json!({"tidbNodeSetting": {"tidbNodeGroups": [{"nodeCount": 4}]}});
    let password = json!({"rootPassword": "another-password"});

    // Stable states: transitions complete on the next read.
    let (_sim, c) = sim_with(instant()).await;
    let id = create_active(&c, "stable-states").await;
    assert_invalid(
        &c.post(&resume(&id), json!({})).await,
        &format!("cluster {id} is ACTIVE: only a PAUSED cluster can be resumed"),
    );
    assert_ok(&c.post(&pause(&id), json!({})).await);
    let paused = wait_for(&c, &cluster_uri(&id), WAIT, state_is("PAUSED")).await;
    assert_invalid(
        &c.post(&pause(&id), json!({})).await,
        &format!("cluster {id} is PAUSED: only an ACTIVE cluster can be paused"),
    );
    assert_invalid(
        &c.patch(&cluster_uri(&id), grow.clone()).await,
        &format!("cluster {id} is PAUSED: it can be modified only when ACTIVE"),
    );
    assert_invalid(
        &c.post(&reset(&id), password.clone()).await,
        &format!(
            "cluster {id} is PAUSED: the root password can be reset only when the cluster is ACTIVE"
        ),
    );
    assert_eq!(
        c.get(&cluster_uri(&id)).await.body,
        paused.body,
        "refused calls change nothing"
    );

    // Transitional states: delays far longer than the test.
    let (_slow_sim, s) = sim_with(with_delays(Delays::realistic())).await;
    let id = create(&s, cluster_body("slow-states")).await;
    for (r, message) in [
        (
            s.post(&pause(&id), json!({})).await,
            "only an ACTIVE cluster can be paused",
        ),
        (
            s.post(&resume(&id), json!({})).await,
            "only a PAUSED cluster can be resumed",
        ),
        (
            s.patch(&cluster_uri(&id), grow.clone()).await,
            "it can be modified only when ACTIVE",
        ),
        (
            s.post(&reset(&id), password.clone()).await,
            "the root password can be reset only when the cluster is ACTIVE",
        ),
    ] {
        assert_invalid(&r, &format!("cluster {id} is CREATING: {message}"));
    }
    let r = s.delete(&cluster_uri(&id)).await;
    assert_eq!(r.body["state"], "DELETING");
    assert_invalid(
        &s.patch(&cluster_uri(&id), grow).await,
        &format!("cluster {id} is DELETING: it can be modified only when ACTIVE"),
    );
    assert_invalid(
        &s.post(&pause(&id), json!({})).await,
        &format!("cluster {id} is DELETING: only an ACTIVE cluster can be paused"),
    );
    let again = s.delete(&cluster_uri(&id)).await;
    assert_ok(&again);
    assert_eq!(
        again.body["state"], "DELETING",
        "deleting twice is harmless"
    );
}

// ---- faults -----------------------------------------------------------------------------------------------

#[tokio::test]
async fn fail_faults_answer_their_status_n_times_or_for_a_fraction() {
    let (_sim, c) = sim_with(instant()).await;
    assert_ok(&c.get(CLUSTERS).await);

    add_fault(&c, json!({"kind": "fail", "status": 503, "count": 2})).await;
    for _ in 0..2 {
        let r = c.get(CLUSTERS).await;
        assert_error(&r, 503, 503, "injected fault: Service Unavailable");
        rate(&r);
    }
    assert!(active_faults(&c).await.is_empty(), "a spent rule goes away");
    assert_ok(&c.get(CLUSTERS).await);

    // Without a status: 500; and a failed mutation changes nothing.
    add_fault(&c, json!({"kind": "fail", "count": 1, "method": "POST"})).await;
    let r = c.post(CLUSTERS, cluster_body("never-made")).await;
    assert_error(&r, 500, 500, "injected fault: Internal Server Error");
    assert_eq!(list(&c, "").await.body["totalSize"], 0);

    add_fault(&c, json!({"kind": "fail", "status": 500, "fraction": 0.5})).await;
    let mut failed = 0;
    const N: usize = 40;
    for _ in 0..N {
        let r = c.get(CLUSTERS).await;
        match r.status.as_u16() {
            500 => failed += 1,
            200 => {}
            s => panic!("unexpected {s}: {}", r.body),
        }
    }
    // P(all or none of 40 at 0.5) ≈ 2e-12.
    assert!(0 < failed && failed < N, "{failed} of {N} failed");
    let r = c.admin(Method::DELETE, "faults", None).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({})));
    for _ in 0..5 {
        assert_ok(&c.get(CLUSTERS).await);
    }
}

#[tokio::test]
async fn a_throttle_fault_answers_429_as_if_the_quota_were_spent() {
    let sim = common::start(SimConfig {
        keys: vec![ApiKey::random(), ApiKey::random()],
        ..instant()
    })
    .await;
    let a = Client::with_key(&sim, sim.keys()[0].clone());
    let b = Client::with_key(&sim, sim.keys()[1].clone());
    assert_ok(&a.get(CLUSTERS).await);
    assert_ok(&b.get(CLUSTERS).await);
    add_fault(&a, json!({"kind": "throttle", "count": 1})).await;
    let r = a.get(CLUSTERS).await;
    assert_error(&r, 429, 49900007, "exceeded the limit of 10000 times");
    assert_eq!(rate(&r).1, 0);
    assert!(active_faults(&a).await.is_empty());
    // The forced 429 spent the key's window, exactly as a real exhaustion would; the other key is fine.
    assert_error(&a.get(CLUSTERS).await, 429, 49900007, "exceeded the limit");
    assert_ok(&b.get(CLUSTERS).await);
    let rows = counters(&a).await;
    assert_eq!(
        count_of(&rows, &a.key.public_key, "GET", "(fault: throttle)", 429),
        1
    );
}

#[tokio::test]
async fn a_reset_fault_closes_the_connection() {
    let (_sim, c) = sim_with(instant()).await;
    assert_ok(&c.get(CLUSTERS).await);
    add_fault(&c, json!({"kind": "reset", "count": 1})).await;
    let err = match c.try_send(Method::GET, CLUSTERS, None).await {
        Err(e) => e,
        Ok(r) => panic!("expected a connection error, got {} {}", r.status, r.body),
    };
    assert!(!err.is_timeout(), "{err}");
    assert_ok(&c.get(CLUSTERS).await);
    let rows = counters(&c).await;
    assert_eq!(
        count_of(&rows, &c.key.public_key, "GET", "(fault: reset)", 0),
        1
    );
}

#[tokio::test]
async fn a_latency_fault_delays_matching_requests_by_at_least_its_latency() {
    let (_sim, c) = sim_with(instant()).await;
    assert_ok(&c.get(CLUSTERS).await);
    let latency = Duration::from_millis(400);
    add_fault(
        &c,
        json!({"kind": "latency", "latencyMs": 400, "pathPrefix": "/v1beta1/regions"}),
    )
    .await;
    for uri in ["/v1beta1/regions", "/v1beta1/regions/aws-us-west-2"] {
        let t = Instant::now();
        assert_ok(&c.get(uri).await);
        assert!(t.elapsed() >= latency, "{uri} took {:?}", t.elapsed());
    }
    let r = c
        .admin(Method::POST, "faults", Some(json!({"kind": "latency"})))
        .await;
    assert_invalid(&r, "latency needs latencyMs");
}

#[tokio::test]
async fn drop_after_commit_loses_the_answer_but_the_cluster_exists() {
    let (_sim, c) = sim_with(instant()).await;
    assert_ok(&c.get(CLUSTERS).await);
    let hold = Duration::from_millis(300);
    add_fault(
        &c,
        json!({"kind": "dropAfterCommit", "method": "POST", "pathPrefix": CLUSTERS, "holdMs": 300}),
    )
    .await;
    // Reads and refused mutations are answered normally: nothing was committed.
    assert_ok(&c.get(CLUSTERS).await);
    assert_invalid(
        &c.post(CLUSTERS, cluster_body("x")).await,
        "displayName \"x\" is invalid",
    );

    let t = Instant::now();
    let result = c
        .try_send(
            Method::POST,
            CLUSTERS,
            Some(&cluster_body("committed-then-dropped")),
        )
        .await;
    assert!(
        result.is_err(),
        "expected no answer, got {:?}",
        result.map(|r| r.body)
    );
    assert!(t.elapsed() >= hold, "dropped after {:?}", t.elapsed());
    let r = list(&c, "").await;
    assert_eq!(r.body["totalSize"], 1, "{}", r.body);
    assert_eq!(
        r.body["clusters"][0]["displayName"],
        "committed-then-dropped"
    );
    let rows = counters(&c).await;
    assert_eq!(count_of(&rows, &c.key.public_key, "POST", CLUSTERS, 0), 1);

    assert_ok(&c.admin(Method::DELETE, "faults", None).await);
    create(&c, cluster_body("answered-normally")).await;
}

#[tokio::test]
async fn faults_are_scoped_by_method_and_path_prefix_and_validated() {
    let (_sim, c) = sim_with(instant()).await;
    assert_ok(&c.get(CLUSTERS).await);
    let rule =
        json!({"kind": "fail", "status": 503, "method": "GET", "pathPrefix": "/v1beta1/regions"});
    add_fault(&c, rule.clone()).await;
    assert_eq!(active_faults(&c).await, vec![rule]);
    for uri in [
        "/v1beta1/regions",
        "/v1beta1/regions/aws-us-west-2/nodeSpecs",
    ] {
        assert_error(&c.get(uri).await, 503, 503, "injected fault");
    }
    assert_ok(&c.get(CLUSTERS).await);
    assert_ok(&c.get("/v1beta1/projects").await);
    let r = c.post("/v1beta1/regions", json!({})).await;
    assert_error(&r, 405, 405, "method POST not allowed on /v1beta1/regions");

    let r = c.admin(Method::DELETE, "faults", None).await;
    assert_ok(&r);
    assert!(active_faults(&c).await.is_empty());
    assert_ok(&c.get("/v1beta1/regions").await);

    for (rule, message) in [
        (
            json!({"kind": "fail", "status": 200}),
            "status must be 400-599",
        ),
        (
            json!({"kind": "reset", "fraction": 1.5}),
            "fraction must be between 0 and 1",
        ),
        (json!({"kind": "explode"}), "unknown variant `explode`"),
        (
            json!({"kind": "reset", "often": true}),
            "unknown field `often`",
        ),
    ] {
        let r = c.admin(Method::POST, "faults", Some(rule.clone())).await;
        assert_invalid(&r, message);
    }
    assert!(active_faults(&c).await.is_empty());
}

// ---- validation -------------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_creates_are_refused_with_their_messages_and_create_nothing() {
    let (_sim, c) = sim_with(SimConfig {
        node_quota: vec![("TIKV".into(), 3)],
        ..instant()
    })
    .await;
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/displayName", json!(""), "displayName is required"),
        ("/displayName", json!("ab"), "displayName \"ab\" is invalid: it must be 4-64 characters of letters, digits and hyphens"),
        ("/displayName", json!("-leading-hyphen"), "is invalid"),
        ("/displayName", json!("under_score"), "is invalid"),
        ("/regionId", json!("aws-mars-1"), "regionId \"aws-mars-1\" is not a region (see GET /v1beta1/regions)"),
        ("/tidbNodeSetting/nodeSpecKey", json!("99C999G"), "tidbNodeSetting.nodeSpecKey \"99C999G\" is not available for TIDB in region aws-us-west-2"),
        ("/tikvNodeSetting/nodeSpecKey", json!("8C16G"), "tikvNodeSetting.nodeSpecKey \"8C16G\" is not available for TIKV"),
        ("/tikvNodeSetting/storageSizeGi", json!(100), "tikvNodeSetting.storageSizeGi 100 is out of range for node spec 8C32G: it must be between 200 and 4096"),
        ("/tikvNodeSetting/storageSizeGi", json!(5000), "tikvNodeSetting.storageSizeGi 5000 is out of range"),
        ("/tikvNodeSetting/storageType", json!("Fast"), "tikvNodeSetting.storageType \"Fast\" is invalid"),
        ("/tikvNodeSetting/nodeCount", json!(4), "tikvNodeSetting.nodeCount 4 is invalid: TiKV needs at least 3 nodes, in steps of 3"),
        ("/tikvNodeSetting/nodeCount", json!(2), "tikvNodeSetting.nodeCount 2 is invalid"),
        ("/rootPassword", json!("short"), "rootPassword must be 8 to 64 characters long"),
        ("/rootPassword", json!("p".repeat(65)), "rootPassword must be 8 to 64 characters long"),
        ("/labels", json!({"team": "a"}), "label \"team\" is not allowed: only tidb.cloud/project can be set on create"),
        ("/labels", json!({"tidb.cloud/project": "42"}), "project \"42\" does not exist"),
        ("/port", json!(80), "port 80 is invalid: it must be between 1024 and 65535"),
        ("/tidbNodeSetting/tidbNodeGroups", json!([]), "tidbNodeSetting.tidbNodeGroups must have exactly one element on create, got 0"),
    ];
    for (ptr, value, message) in cases {
        let body = with(cluster_body("valid-name"), ptr, value.clone());
        for uri in [CLUSTERS, &format!("{CLUSTERS}?validateOnly=true")] {
            let r = c.post(uri, body.clone()).await;
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{ptr} = {value} on {uri}"
            );
            assert_invalid(&r, message);
        }
    }
    assert_eq!(list(&c, "").await.body["totalSize"], 0);

    // validateOnly answers the would-be cluster and creates nothing.
    let r = c
        .post(
            &format!("{CLUSTERS}?validateOnly=true"),
            cluster_body("only-validated"),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["displayName"], "only-validated");
    let would_be = str_of(&r.body, "/clusterId").to_string();
    assert_eq!(list(&c, "").await.body["totalSize"], 0);
    assert_eq!(c.get(&cluster_uri(&would_be)).await.status, 404);

    // The node quota (TiKV 3 here) counts real clusters only.
    create(&c, cluster_body("uses-the-quota")).await;
    assert_invalid(
        &c.post(CLUSTERS, cluster_body("over-quota")).await,
        "node quota exceeded for TIKV: 3 nodes in use + 3 requested > quota 3",
    );
    assert_eq!(list(&c, "").await.body["totalSize"], 1);
}

#[tokio::test]
async fn immutable_and_invalid_patches_are_refused_and_change_nothing() {
    let (_sim, c) = sim_with(instant()).await;
    let id = create_active(&c, "immutable").await;
    let uri = cluster_uri(&id);
    let before = c.get(&uri).await.body;
    #[rustfmt::skip]
    let cases = [
        (json!({"regionId": "aws-us-east-1"}), "regionId is immutable: the cluster is in aws-us-west-2, cannot change it to aws-us-east-1".to_string()),
        (json!({"port": 4001}), "port is immutable: the cluster uses 4000, cannot change it to 4001".into()),
        (json!({"rootPassword": "another-password"}), "rootPassword cannot be updated here: use POST /v1beta1/clusters/{clusterId}:resetRootPassword".into()),
        (json!({"labels": {"tidb.cloud/project": STAGING_PROJECT}}), "labels cannot be updated: the project of a cluster is fixed at create".into()),
        (json!({"clusterId": "123"}), format!("clusterId \"123\" in the body does not match the path ({id})")),
        (json!({"tikvNodeSetting": {"nodeCount": 4}}), "tikvNodeSetting.nodeCount 4 is invalid".into()),
        (json!({"tikvNodeSetting": {"storageSizeGi": 10}}), "tikvNodeSetting.storageSizeGi 10 is out of range".into()),
        (json!({"displayName": "x"}), "displayName \"x\" is invalid".into()),
    ];
    for (body, message) in cases {
        assert_invalid(&c.patch(&uri, body).await, &message);
    }
    // validateOnly answers the would-be cluster without applying it.
    let r = c
        .patch(
            &format!("{uri}?validateOnly=true"),
            json!({"tikvNodeSetting": {"nodeCount": 6}}),
        )
        .await;
    assert_ok(&r);
    assert_eq!(r.body["tikvNodeSetting"]["nodeCount"], 6);
    assert_eq!(c.get(&uri).await.body, before, "nothing changed");
}

#[tokio::test]
async fn malformed_bodies_and_parameters_get_400_and_the_server_stays_healthy() {
    let (_sim, c) = sim_with(instant()).await;
    let id = create_active(&c, "malformed").await;
    let uri = cluster_uri(&id);
    let before = c.get(&uri).await.body;
    let imports = format!("{uri}/imports");
    let integrations = format!("{uri}/integrations");
    let json_with =
        |ptr: &str, v: Value| with(cluster_body("typed"), ptr, v).to_string().into_bytes();
    let pause = verb(&id, "pauseCluster");
    let reset = verb(&id, "resetRootPassword");
    #[rustfmt::skip]
    let cases: Vec<(Method, &str, Vec<u8>, &str)> = vec![
        (Method::POST, CLUSTERS, b"{\"displayName\": ".to_vec(), "invalid request body: EOF while parsing"),
        (Method::POST, CLUSTERS, b"not json".to_vec(), "invalid request body: expected ident"),
        (Method::POST, CLUSTERS, vec![0xff, 0xfe, 0x7b], "invalid request body"),
        (Method::POST, CLUSTERS, b"[\"positional\", \"aws-us-west-2\"]".to_vec(), "invalid type: sequence, expected a JSON object"),
        (Method::POST, CLUSTERS, json_with("/tikvNodeSetting", json!([3, "8C32G", 500])), "invalid type: sequence, expected a JSON object"),
        (Method::POST, CLUSTERS, json_with("/displayName", json!(42)), "invalid type: integer `42`, expected a string"),
        (Method::POST, CLUSTERS, json_with("/port", json!("4000")), "invalid type: string \"4000\", expected i32"),
        (Method::POST, CLUSTERS, json_with("/tikvNodeSetting/nodeCount", json!(3.5)), "invalid type: floating point `3.5`"),
        (Method::POST, CLUSTERS, json_with("/surprise", json!(1)), "unknown field `surprise`"),
        (Method::POST, CLUSTERS, json_with("/tikvNodeSetting/bogus", json!(1)), "unknown field `bogus`"),
        (Method::PATCH, &uri, br#"{"displayName": ["a"]}"#.to_vec(), "invalid type: sequence, expected a string"),
        (Method::PATCH, &uri, br#"{"bogus": true}"#.to_vec(), "unknown field `bogus`"),
        (Method::POST, &pause, br#"{"reason": "night"}"#.to_vec(), "unknown field `reason`"),
        (Method::POST, &pause, b"[]".to_vec(), "invalid type: sequence, expected a JSON object"),
        (Method::POST, &reset, br#"{"rootPassword": 12345678}"#.to_vec(), "invalid type: integer"),
        (Method::POST, &imports, b"{".to_vec(), "invalid request body: EOF while parsing"),
        (Method::POST, &integrations, br#"{"type": "DATADOG", "datadog": {"apiKey": 7}}"#.to_vec(), "invalid type: integer `7`"),
    ];
    for (method, target, body, message) in cases {
        let r = c.send_raw(method.clone(), target, &body).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{method} {target} {}",
            String::from_utf8_lossy(&body)
        );
        assert_invalid(&r, message);
        rate(&r);
    }

    // Bodies: at most 1 MiB is read; exactly 1 MiB is still parsed.
    const MIB: usize = 1 << 20;
    let mut at_limit = b"{}".to_vec();
    at_limit.resize(MIB, b' ');
    assert_invalid(
        &c.send_raw(Method::POST, CLUSTERS, &at_limit).await,
        "displayName is required",
    );
    let oversized = format!("{{\"displayName\": \"{}\"}}", "a".repeat(MIB));
    assert_invalid(
        &c.send_raw(Method::POST, CLUSTERS, oversized.as_bytes())
            .await,
        "request body too large: at most 1048576 bytes are accepted",
    );

    // Query parameters, ids, paths and methods.
    #[rustfmt::skip]
    let cases = [
        (Method::GET, format!("{CLUSTERS}?pageSize=abc"), 400, "invalid value for query parameter pageSize: \"abc\" is not an int32"),
        (Method::POST, format!("{CLUSTERS}?validateOnly=maybe"), 400, "invalid value for query parameter validateOnly: \"maybe\" is not a bool"),
        (Method::GET, format!("{CLUSTERS}/not-a-number"), 400, "invalid clusterId \"not-a-number\": it must be a decimal number of at most 20 digits"),
        (Method::GET, format!("{CLUSTERS}/123456789012345678901"), 400, "invalid clusterId"),
        (Method::GET, format!("{CLUSTERS}/123"), 404, "cluster 123 not found"),
        (Method::GET, "/v1beta1/nothing".into(), 404, "no API path /v1beta1/nothing"),
        (Method::PUT, CLUSTERS.into(), 405, "method PUT not allowed on /v1beta1/clusters"),
    ];
    for (method, target, status, message) in cases {
        let r = c.send(method, &target, Some(&json!({}))).await;
        assert_error(&r, status, status as i64, message);
    }

    let health = c.admin(Method::GET, "health", None).await;
    assert_eq!(health.body, json!({"status": "ok"}));
    assert_eq!(c.get(&uri).await.body, before, "nothing changed");
    assert_eq!(list(&c, "").await.body["totalSize"], 1);
}

// ---- imports ----------------------------------------------------------------------------------------------

fn import_delays() -> SimConfig {
    with_delays(Delays {
        import_prepare: Duration::from_millis(300),
        import_run: Duration::from_secs(2),
        import_cancel: Duration::from_secs(1),
        ..Delays::instant()
    })
}

fn import_body(source: Value) -> Value {
    json!({"creationDetails": {
        "importOptions": {"fileType": "CSV", "csvFormat": {"separator": ",", "header": true}},
        "source": source,
    }})
}

fn s3_access_key(uri: &str, secret: &str) -> Value {
    json!({"type": "S3", "s3": {"uri": uri, "authType": "ACCESS_KEY",
        "accessKey": {"id": "AKIASIMULATOR", "secret": secret}}})
}

#[track_caller]
fn assert_not_echoed(r: &Resp, secret: &str) {
    assert!(
        !r.body.to_string().contains(secret),
        "a secret is echoed back: {}",
        r.body
    );
}

/// Creates an import, checks the create answer, and returns the import's URI.
async fn start_import(c: &Client, cluster: &str, source: Value, secret: &str) -> String {
    let r = c
        .post(
            &format!("{}/imports", cluster_uri(cluster)),
            import_body(source),
        )
        .await;
    assert_ok(&r);
    assert_eq!(
        (&r.body["state"], &r.body["completePercent"]),
        (&json!("PREPARING"), &json!(0))
    );
    assert_not_echoed(&r, secret);
    format!(
        "{}/imports/{}",
        cluster_uri(cluster),
        str_of(&r.body, "/importId")
    )
}

fn import_finished(r: &Resp) -> bool {
    r.status == StatusCode::OK
        && !matches!(
            r.body["state"].as_str(),
            Some("PREPARING" | "IMPORTING" | "CANCELING")
        )
}

#[tokio::test]
async fn an_import_prepares_then_imports_with_rising_progress_and_completes() {
    let (_sim, c) = sim_with(import_delays()).await;
    let cid = create_active(&c, "import-target").await;
    let secret = "s3-secret-value-for-the-complete-path";
    let uri = start_import(&c, &cid, s3_access_key("s3://bucket/data/", secret), secret).await;
    let seen = observe_until(&c, &uri, WAIT, import_finished).await;
    let last = seen.last().expect("observed");
    assert_eq!(last.body["state"], "COMPLETED", "{}", last.body);
    assert_eq!(last.body["completePercent"], 100);
    assert_eq!(last.body["message"], "");
    assert!(last.body["completeTime"].is_string());
    assert_eq!(
        last.body["creationDetails"]["source"]["s3"]["accessKey"],
        json!({"id": "AKIASIMULATOR"}),
        "the secret is input-only"
    );

    let rank = |s: &str| {
        ["PREPARING", "IMPORTING", "COMPLETED"]
            .iter()
            .position(|x| *x == s)
    };
    let path: Vec<(usize, i64)> = seen
        .iter()
        .map(|r| {
            assert_not_echoed(r, secret);
            let state = str_of(&r.body, "/state");
            (
                rank(state).unwrap_or_else(|| panic!("unexpected state {state}")),
                r.body["completePercent"].as_i64().expect("percent"),
            )
        })
        .collect();
    assert!(
        path.windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1),
        "state and progress never go back: {path:?}"
    );
    let importing: BTreeSet<i64> = path
        .iter()
        .filter(|(s, p)| *s == 1 && (1..100).contains(p))
        .map(|(_, p)| *p)
        .collect();
    assert!(
        importing.len() >= 2,
        "progress seen while importing: {path:?}"
    );

    let r = c.get(&format!("{}/imports", cluster_uri(&cid))).await;
    assert_eq!(
        (&r.body["totalSize"], &r.body["nextPageToken"]),
        (&json!(1), &json!(""))
    );
    assert_not_echoed(&r, secret);
}

#[tokio::test]
async fn an_import_from_a_failing_source_ends_failed_with_a_message() {
    let (_sim, c) = sim_with(SimConfig {
        import_fail_marker: "broken-bucket".into(),
        ..import_delays()
    })
    .await;
    let cid = create_active(&c, "import-fails").await;
    let source = json!({"type": "S3", "s3": {"uri": "s3://broken-bucket/data/", "authType": "ROLE_ARN",
        "roleArn": "arn:aws:iam::123456789012:role/import"}});
    let uri = start_import(&c, &cid, source, "no-secret-here").await;
    let r = wait_for(&c, &uri, WAIT, import_finished).await;
    assert_eq!(r.body["state"], "FAILED", "{}", r.body);
    assert_eq!(r.body["completePercent"], 40);
    assert!(
        str_of(&r.body, "/message").contains("403 Forbidden"),
        "{}",
        r.body
    );
    assert!(r.body["completeTime"].is_string());
}

#[tokio::test]
async fn a_canceled_import_goes_canceling_then_canceled_and_keeps_secrets() {
    let (_sim, c) = sim_with(import_delays()).await;
    let cid = create_active(&c, "import-cancel").await;
    let gcs_key = "gcs-service-account-key-secret";
    let uri = start_import(
        &c,
        &cid,
        json!({"type": "GCS", "gcs": {"uri": "gs://bucket/data/", "authType": "SERVICE_ACCOUNT_KEY",
            "serviceAccountKey": gcs_key}}),
        gcs_key,
    )
    .await;
    let cancel = format!("{uri}:cancel");
    assert_invalid(
        &c.post(&verb(&cid, "pauseCluster"), json!({})).await,
        &format!("cluster {cid} has an import in progress"),
    );
    assert_invalid(
        &c.send(Method::POST, &cancel, None).await,
        "request body is required: send {}",
    );
    let r = c.post(&cancel, json!({})).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({})));
    assert_eq!(c.get(&uri).await.body["state"], "CANCELING");
    assert_ok(&c.post(&cancel, json!({})).await);
    let r = wait_for(&c, &uri, WAIT, import_finished).await;
    assert_eq!(r.body["state"], "CANCELED", "{}", r.body);
    assert!(r.body["completeTime"].is_string());
    assert_not_echoed(&r, gcs_key);
    let iid = uri.rsplit('/').next().expect("id");
    assert_invalid(
        &c.post(&cancel, json!({})).await,
        &format!("import {iid} is CANCELED: only a running import can be canceled"),
    );

    // Azure SAS tokens are input-only too; validateOnly imports are not kept.
    let sas = "sv=2024-01-01&sig=azure-sas-token-secret";
    let mut body = import_body(json!({"type": "AZURE_BLOB", "azureBlob": {
        "uri": "azure://acct.blob.core.windows.net/c/p/", "authType": "SAS_TOKEN", "sasToken": sas}}));
    body["creationDetails"]["importOptions"]["validateOnly"] = json!(true);
    let r = c
        .post(&format!("{}/imports", cluster_uri(&cid)), body)
        .await;
    assert_ok(&r);
    assert_not_echoed(&r, sas);
    let r = c.get(&format!("{}/imports", cluster_uri(&cid))).await;
    assert_eq!(r.body["totalSize"], 1);
}

// ---- integrations -----------------------------------------------------------------------------------------

/// `abcd****wxyz`.
fn masked(key: &str) -> String {
    format!(
        "{}{}{}",
        &key[..4],
        "*".repeat(key.len() - 8),
        &key[key.len() - 4..]
    )
}

#[tokio::test]
async fn integrations_activate_or_fail_on_rejected_keys_mask_keys_and_delete() {
    let rejected = "dd-rejected-api-key-000000000000";
    let (_sim, c) = sim_with(SimConfig {
        rejected_integration_keys: vec![rejected.into()],
        ..instant()
    })
    .await;
    let cid = create_active(&c, "integrations").await;
    let base = format!("{}/integrations", cluster_uri(&cid));
    let create_vendor = |kind: &'static str, api_key: &str, site: &str| {
        let field = kind.to_ascii_lowercase();
        let body = json!({"type": kind, field.clone(): {"apiKey": api_key, "site": site}});
        let (c, base, api_key) = (&c, base.clone(), api_key.to_string());
        async move {
            let r = c.post(&base, body).await;
            assert_ok(&r);
            assert_not_echoed(&r, &api_key);
            assert_eq!(r.body[&field]["maskedApiKey"], json!(masked(&api_key)));
            r
        }
    };

    let dd_key = "ddkey-0123456789abcdef0123456789ab";
    let nr_key = "nrkey-fedcba9876543210fedcba98";
    let dd = create_vendor("DATADOG", dd_key, "US1").await;
    assert_eq!(dd.body["datadog"]["state"], "ACTIVE");
    assert_eq!(dd.body["datadog"]["statusReason"], "");
    assert_eq!(dd.body["datadog"]["siteUrl"], "https://app.datadoghq.com");
    let nr = create_vendor("NEWRELIC", nr_key, "EU_OTLP").await;
    assert_eq!(nr.body["newrelic"]["state"], "ACTIVE");
    let prom = c
        .post(&base, json!({"type": "PROMETHEUS", "prometheus": {}}))
        .await;
    assert_ok(&prom);
    assert!(str_of(&prom.body, "/prometheus/queryEndpoint").contains(&cid));

    let r = c.get(&base).await;
    assert_eq!(r.body["total"], 3);
    assert_not_echoed(&r, dd_key);
    assert_not_echoed(&r, nr_key);
    assert_invalid(
        &c.post(
            &base,
            json!({"type": "DATADOG", "datadog": {"apiKey": dd_key, "site": "US1"}}),
        )
        .await,
        &format!("cluster {cid} already has a DATADOG integration: delete it first"),
    );

    let dd_uri = format!("{base}/{}", str_of(&dd.body, "/id"));
    let r = c.delete(&dd_uri).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({})));
    assert_error(
        &c.delete(&dd_uri).await,
        404,
        404,
        &format!(
            "integration {} not found in cluster {cid}",
            str_of(&dd.body, "/id")
        ),
    );

    // A key the vendor rejects (configured at start, or at run time through the admin API) → ERROR.
    let r = create_vendor("DATADOG", rejected, "US5").await;
    assert_eq!(r.body["datadog"]["state"], "ERROR");
    assert!(
        str_of(&r.body, "/datadog/statusReason")
            .contains("DATADOG rejected the API key (403 Forbidden)"),
        "{}",
        r.body
    );
    let late = "nr-rejected-at-run-time-0000";
    let r = c
        .admin(
            Method::POST,
            "dedicated/integrations:rejectApiKey",
            Some(json!({"apiKey": late})),
        )
        .await;
    assert_eq!(r.body, json!({}));
    assert_ok(
        &c.delete(&format!("{base}/{}", str_of(&nr.body, "/id")))
            .await,
    );
    let r = create_vendor("NEWRELIC", late, "US_OTLP").await;
    assert_eq!(r.body["newrelic"]["state"], "ERROR");
    assert!(str_of(&r.body, "/newrelic/statusReason").contains("NEWRELIC rejected the API key"));

    for (body, message) in [
        (
            json!({"type": "SPLUNK"}),
            "type \"SPLUNK\" must be one of DATADOG, NEWRELIC, PROMETHEUS",
        ),
        (
            json!({"type": "DATADOG", "datadog": {"apiKey": "k-123456789", "site": "MARS"}}),
            "datadog.site \"MARS\" must be one of US1",
        ),
        (
            json!({"type": "DATADOG", "datadog": {"site": "US1"}}),
            "datadog.apiKey is required",
        ),
        (
            json!({"type": "NEWRELIC"}),
            "newrelic is required when type is NEWRELIC",
        ),
    ] {
        assert_invalid(&c.post(&base, body).await, message);
    }
    assert_eq!(c.get(&base).await.body["total"], 3);
}

// ---- IAM --------------------------------------------------------------------------------------------------

#[tokio::test]
async fn iam_lists_projects_and_api_keys_without_secrets() {
    let keys = vec![ApiKey::random(), ApiKey::random(), ApiKey::random()];
    let (sim, c) = sim_with(SimConfig {
        keys: keys.clone(),
        ..instant()
    })
    .await;
    let r = c.get("/v1beta1/projects").await;
    assert_ok(&r);
    let projects = r.body["projects"].as_array().expect("projects");
    let names: Vec<&str> = projects.iter().map(|p| str_of(p, "/name")).collect();
    assert_eq!(names, ["default", "staging"]);
    for field in [
        "id",
        "org_id",
        "cluster_count",
        "user_count",
        "create_timestamp",
        "aws_cmek_enabled",
    ] {
        assert!(
            projects[0].get(field).is_some(),
            "{field} in {}",
            projects[0]
        );
    }
    assert_eq!(r.body["nextPageToken"], "");
    let r = c.get("/v1beta1/projects?pageSize=1").await;
    assert_eq!(r.body["projects"][0]["name"], "default");
    let r = c
        .get(&format!(
            "/v1beta1/projects?pageSize=1&pageToken={}",
            next_token(&r)
        ))
        .await;
    assert_eq!(r.body["projects"][0]["id"], STAGING_PROJECT);
    assert_eq!(r.body["nextPageToken"], "");

    let r = c.get("/v1beta1/apikeys").await;
    assert_ok(&r);
    let listed: Vec<&str> = r.body["apiKeys"]
        .as_array()
        .expect("apiKeys")
        .iter()
        .map(|k| {
            assert_eq!(k["secretKey"], "********");
            str_of(k, "/accessKey")
        })
        .collect();
    let expected: Vec<&str> = sim.keys().iter().map(|k| k.public_key.as_str()).collect();
    assert_eq!(listed, expected);
    for k in &keys {
        assert_not_echoed(&r, &k.private_key);
    }

    // IAM errors have the swaggo shape.
    let r = c.get("/v1beta1/projects?pageSize=-1").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["code"], "400");
    assert_eq!(r.body["status"], 400);
    assert_eq!(r.body["msgPrefix"], "Bad Request");
    assert!(str_of(&r.body, "/error").contains("pageSize must not be negative"));
    let r = c.post("/v1beta1/apikeys", json!({})).await;
    assert_eq!((r.status.as_u16(), &r.body["status"]), (405, &json!(405)));
}

// ---- admin API ------------------------------------------------------------------------------------------

#[tokio::test]
async fn admin_counters_count_by_key_method_route_status_and_reset_clears_everything() {
    let initial = FaultRule::parse_spec("fail:503@GET~/v1beta1/regions").expect("rule");
    let sim = common::start(SimConfig {
        keys: vec![ApiKey::random(), ApiKey::random()],
        quota: QuotaConfig {
            limit: 8,
            window: Duration::from_secs(60),
        },
        faults: vec![initial],
        ..instant()
    })
    .await;
    let a = Client::with_key(&sim, sim.keys()[0].clone());
    let b = Client::with_key(&sim, sim.keys()[1].clone());
    for _ in 0..3 {
        assert_ok(&a.get(CLUSTERS).await);
    }
    create(&a, cluster_body("counted")).await;
    assert_invalid(&a.post(CLUSTERS, cluster_body("x")).await, "is invalid");
    assert_eq!(a.get("/v1beta1/clusters/123").await.status, 404);
    assert_eq!(a.get("/v1beta1/regions").await.status, 503);
    for _ in 0..2 {
        assert_ok(&b.get("/v1beta1/projects").await);
    }

    let (ka, kb) = (a.key.public_key.as_str(), b.key.public_key.as_str());
    let expected = Counters::from([
        (row("", "GET", "(unauthenticated)", 401), 2),
        (row(ka, "GET", CLUSTERS, 200), 3),
        (row(ka, "POST", CLUSTERS, 200), 1),
        (row(ka, "POST", CLUSTERS, 400), 1),
        (row(ka, "GET", "/v1beta1/clusters/{clusterId}", 404), 1),
        (row(ka, "GET", "(fault: fail)", 503), 1),
        (row(kb, "GET", "/v1beta1/projects", 200), 2),
    ]);
    assert_eq!(counters(&a).await, expected);
    assert_eq!(counters(&a).await, expected, "admin calls are not counted");
    let from_library: Counters = sim
        .counters()
        .iter()
        .map(|r| {
            let k = &r.key;
            (row(&k.key, k.method, &k.route, k.status.into()), r.count)
        })
        .collect();
    assert_eq!(from_library, expected, "Simulator::counters");

    // The 8th request spends a's quota.
    assert_ok(&a.get(CLUSTERS).await);
    assert_error(&a.get(CLUSTERS).await, 429, 49900007, "limit of 8");
    add_fault(&a, json!({"kind": "reset", "pathPrefix": "/nowhere"})).await;
    assert_eq!(active_faults(&a).await.len(), 2);

    let r = a.admin(Method::POST, "reset", None).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({})));
    assert!(counters(&a).await.is_empty());
    assert!(sim.counters().is_empty());
    assert_eq!(
        active_faults(&a).await,
        vec![
            json!({"kind": "fail", "status": 503, "method": "GET", "pathPrefix": "/v1beta1/regions"})
        ],
        "back to the faults configured at start"
    );
    let r = list(&a, "").await;
    assert_eq!(r.body["totalSize"], 0, "state is gone");
    assert_eq!(rate(&r).1, 7, "quotas start over");
}

// ---- the binary: logs and flags -------------------------------------------------------------------------

/// A `clouddb-sim` process started by a test; killed on drop if still running.
struct SimProcess {
    child: tokio::process::Child,
    base: String,
    ca: PathBuf,
    stdout: tokio::task::JoinHandle<String>,
    stderr: tokio::task::JoinHandle<String>,
}

fn binary() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_clouddb-sim"));
    cmd.kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

async fn read_all(mut r: impl tokio::io::AsyncRead + Unpin) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf).await;
    String::from_utf8_lossy(&buf).into_owned()
}

impl SimProcess {
    /// Starts the binary and reads its banner for the URL and the CA path.
    async fn spawn(mut cmd: tokio::process::Command) -> SimProcess {
        use tokio::io::AsyncBufReadExt;
        let mut child = cmd.spawn().expect("spawn clouddb-sim");
        let stderr = tokio::spawn(read_all(child.stderr.take().expect("stderr")));
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut head = String::new();
        let (mut base, mut ca) = (None, None);
        let deadline = tokio::time::Instant::now() + WAIT;
        while base.is_none() || ca.is_none() {
            let line = tokio::time::timeout_at(deadline, lines.next_line())
                .await
                .expect("clouddb-sim did not print its banner in time")
                .expect("reading stdout")
                .unwrap_or_else(|| panic!("clouddb-sim exited early; stdout: {head}"));
            if let Some(url) = line.strip_prefix("clouddb-sim listening on ") {
                base = Some(url.trim().to_string());
            }
            if let Some(rest) = line.strip_prefix("CA certificate: ") {
                ca = rest.split("  (").next().map(|p| PathBuf::from(p.trim()));
            }
            head.push_str(&line);
            head.push('\n');
        }
        let stdout = tokio::spawn(async move {
            let rest = read_all(lines.into_inner()).await;
            head + &rest
        });
        SimProcess {
            child,
            base: base.expect("url"),
            ca: ca.expect("CA path"),
            stdout,
            stderr,
        }
    }

    fn client(&self, key: ApiKey) -> Client {
        Client::connect(self.base.clone(), Some(&self.ca), key)
    }

    /// Stops the process with SIGTERM and returns its exit status and output (stdout + stderr).
    async fn stop(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().expect("running").to_string();
        let term = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(term.success());
        let status = match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(s) => s.expect("wait"),
            Err(_) => {
                self.child.kill().await.expect("kill");
                panic!("clouddb-sim ignored SIGTERM");
            }
        };
        let out = self.stdout.await.expect("stdout") + &self.stderr.await.expect("stderr");
        (status, out)
    }
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("clouddb-sim-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn the_binary_never_logs_secrets() {
    let dir = TempDir::new("logs");
    let flag_key = key("FLAGKEY1", "private-from-flag-9f3c1a7d2b");
    let env_key = key("ENVKEY01", "private-from-env-4e8d0c6b1a");
    let file_key = key("FILEKEY1", "private-from-file-7a2e5f9c3d");
    let keys_file = dir.path().join("keys");
    std::fs::write(
        &keys_file,
        format!(
            "# test keys\n{}:{}\n",
            file_key.public_key, file_key.private_key
        ),
    )
    .expect("keys file");
    let rejected = "dd-rejected-from-flag-5b7c9e1f";
    let mut cmd = binary();
    cmd.args(["--listen", "127.0.0.1:0", "--profile", "instant"])
        .arg("--state-dir")
        .arg(dir.path())
        .arg("--api-keys-file")
        .arg(&keys_file)
        .args([
            "--api-key",
            &format!("{}:{}", flag_key.public_key, flag_key.private_key),
            "--reject-integration-api-key",
            rejected,
            "--fault",
            "fail:503x1@GET~/v1beta1/regions:showCloudProviders",
            "--fault",
            "latency:1@GET~/v1beta1/regions",
        ])
        .env(
            "CLOUDDB_SIM_API_KEYS",
            format!("{}:{}", env_key.public_key, env_key.private_key),
        )
        .env("RUST_LOG", "trace");
    let sim = SimProcess::spawn(cmd).await;

    let passwords = [
        "root-password-at-create-1",
        "root-password-after-reset-2",
        "root-password-in-bad-body-3",
    ];
    let s3_secret = "s3-secret-access-key-8c1d";
    let gcs_key = "gcs-service-account-key-2f6a";
    let sas = "sv=2024&sig=azure-sas-token-0e4b";
    let dd_key = "dd-api-key-accepted-3a9f0b2c";
    let nr_key = "nr-api-key-accepted-6d1e8f4a";

    let c = sim.client(flag_key.clone());
    let other = sim.client(env_key.clone());
    let third = sim.client(file_key.clone());
    assert_ok(&other.get("/v1beta1/projects").await);
    assert_ok(&third.get("/v1beta1/apikeys").await);
    assert_eq!(
        c.get("/v1beta1/regions:showCloudProviders").await.status,
        503,
        "--fault applies"
    );
    assert_ok(&c.get("/v1beta1/regions:showCloudProviders").await);
    let wrong = sim.client(key(&flag_key.public_key, "wrong-private-key-1c5e"));
    assert_eq!(wrong.get(CLUSTERS).await.status, 401);

    let id = create(
        &c,
        with(
            cluster_body("log-check"),
            "/rootPassword",
            json!(passwords[0]),
        ),
    )
    .await;
    wait_for(&c, &cluster_uri(&id), WAIT, state_is("ACTIVE")).await;
    assert_ok(
        &c.post(
            &verb(&id, "resetRootPassword"),
            json!({"rootPassword": passwords[1]}),
        )
        .await,
    );
    let bad = with(
        cluster_body("log-check-2"),
        "/rootPassword",
        json!(passwords[2]),
    );
    assert_invalid(
        &c.post(CLUSTERS, with(bad, "/extra", json!(1))).await,
        "unknown field `extra`",
    );
    let imports = format!("{}/imports", cluster_uri(&id));
    for source in [
        s3_access_key("s3://bucket/data/", s3_secret),
        json!({"type": "GCS", "gcs": {"uri": "gs://b/p/", "authType": "SERVICE_ACCOUNT_KEY", "serviceAccountKey": gcs_key}}),
        json!({"type": "AZURE_BLOB", "azureBlob": {"uri": "https://a.blob.core.windows.net/c/", "authType": "SAS_TOKEN", "sasToken": sas}}),
    ] {
        assert_ok(&c.post(&imports, import_body(source)).await);
    }
    let integrations = format!("{}/integrations", cluster_uri(&id));
    for (kind, field, api_key, site) in [
        ("DATADOG", "datadog", dd_key, "US1"),
        ("NEWRELIC", "newrelic", nr_key, "US_OTLP"),
    ] {
        assert_ok(
            &c.post(
                &integrations,
                json!({"type": kind, field: {"apiKey": api_key, "site": site}}),
            )
            .await,
        );
    }
    assert_ok(
        &c.delete(&format!(
            "{integrations}/{}",
            str_of(&c.get(&integrations).await.body, "/items/0/id")
        ))
        .await,
    );
    let r = c
        .post(
            &integrations,
            json!({"type": "DATADOG", "datadog": {"apiKey": rejected, "site": "US1"}}),
        )
        .await;
    assert_eq!(
        r.body["datadog"]["state"], "ERROR",
        "--reject-integration-api-key applies"
    );

    let (status, logs) = sim.stop().await;
    assert!(status.success(), "{status}: {logs}");
    // The capture works: the requests above were logged.
    for expected in [
        "clouddb-sim listening on https://127.0.0.1:",
        "/v1beta1/clusters/{clusterId}:resetRootPassword",
        "/v1beta1/clusters/{clusterId}/imports",
        "/v1beta1/clusters/{clusterId}/integrations",
        "fault: fail",
        "fault: latency",
        "reason=\"digest response does not match\"",
        "clouddb-sim stopped",
    ] {
        assert!(
            logs.contains(expected),
            "{expected:?} not in the output:\n{logs}"
        );
    }
    assert!(
        !logs.contains('\x1b'),
        "colour codes in piped logs:\n{logs}"
    );
    let basic = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", flag_key.public_key, flag_key.private_key))
    };
    let secrets = [
        flag_key.private_key.as_str(),
        env_key.private_key.as_str(),
        file_key.private_key.as_str(),
        "wrong-private-key-1c5e",
        &basic,
        passwords[0],
        passwords[1],
        passwords[2],
        s3_secret,
        gcs_key,
        sas,
        dd_key,
        nr_key,
        rejected,
    ];
    for secret in secrets {
        assert!(
            !logs.contains(secret),
            "secret {secret:?} in the output:\n{logs}"
        );
    }
}

#[tokio::test]
async fn help_mentions_every_flag_and_hides_secret_environment_values() {
    let out = binary()
        .arg("--help")
        .env("CLOUDDB_SIM_API_KEYS", "HELPKEY1:help-private-key-0a9b8c")
        .output()
        .await
        .expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--plain-http",
        "--state-dir",
        "--api-key ",
        "--api-keys-env",
        "--api-keys-file",
        "--quota-per-minute",
        "--quota-window",
        "--profile",
        "--delay-create",
        "--delay-modify",
        "--delay-pause",
        "--delay-resume",
        "--delay-delete",
        "--delay-import-prepare",
        "--delay-import-run",
        "--delay-import-cancel",
        "--delay-node-group-create",
        "--delay-node-group-modify",
        "--delay-node-group-delete",
        "--delay-private-endpoint-accept",
        "--delay-private-endpoint-delete",
        "--delay-backup-start",
        "--delay-backup-run",
        "--delay-restore",
        "--catalog",
        "--node-quota",
        "--nonce-ttl",
        "--reject-integration-api-key",
        "--import-fail-marker",
        "--fault",
        "--log-format",
        "--clickhouse-listen",
        "--clickhouse-api-key ",
        "--clickhouse-api-keys-env",
        "--clickhouse-organization-id",
        "--clickhouse-quota ",
        "--clickhouse-quota-window",
        "--clickhouse-delay-provision",
        "--clickhouse-delay-stop",
        "--clickhouse-delay-start",
        "--clickhouse-delay-awake",
        "--clickhouse-delay-terminate",
        "--clickhouse-idle-after",
        "--clickhouse-delete-conflict-after-stop",
        "--clickhouse-fault",
        "--help",
        "--version",
        "CLOUDDB_SIM_LISTEN",
        "CLOUDDB_SIM_STATE_DIR",
        "CLOUDDB_SIM_API_KEYS",
        "CLOUDDB_SIM_API_KEYS_FILE",
        "CLOUDDB_SIM_CLICKHOUSE_LISTEN",
        "CLOUDDB_SIM_CLICKHOUSE_API_KEYS",
        "CLOUDDB_SIM_CLICKHOUSE_ORGANIZATION_ID",
    ] {
        assert!(help.contains(flag), "{flag} not in --help:\n{help}");
    }
    assert!(!help.contains("help-private-key-0a9b8c"), "{help}");
}

#[tokio::test]
async fn bad_flags_fail_fast_with_a_message_and_without_echoing_keys() {
    for (args, message) in [
        (vec!["--fault", "explode"], "expected KIND[:ARG]"),
        (
            vec!["--api-key", "secretwithoutcolon"],
            "must look like PUBLIC:PRIVATE",
        ),
        (vec!["--node-quota", "TIKV"], "expected COMPONENT=N"),
        (vec!["--quota-window", "soon"], "invalid value 'soon'"),
    ] {
        let out = tokio::time::timeout(
            WAIT,
            binary()
                .args(["--listen", "127.0.0.1:0"])
                .args(&args)
                .output(),
        )
        .await
        .unwrap_or_else(|_| panic!("{args:?}: still running"))
        .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("secretwithoutcolon"), "{stderr}");
    }
}
