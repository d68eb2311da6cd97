//! The TiDB Cloud client against the in-process simulator (HTTPS with the simulator's CA): CRUD and state
//! transitions, pagination, digest nonce reuse, error mapping, rate limiting and the shared budget, injected
//! faults, and what metrics and errors may (not) show.
//!
//! Waits are conditions polled under a deadline, never fixed sleeps.
use clouddb_operator::cloud::{BudgetConfig, BudgetRegistry, CloudError, Priority, SecretString};
use clouddb_operator::metrics::Metrics;
use clouddb_operator::providers::tidbcloud::models::*;
use clouddb_operator::providers::tidbcloud::{ApiKey, ClientConfig, TidbCloudClient};
use clouddb_sim::{Delays, QuotaConfig, SimConfig, Simulator};
use serde_json::{Value, json};
use std::future::Future;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(20);
const ROOT_PASSWORD: &str = "Initial-Root-Pw-1";

fn short_delays() -> Delays {
    let d = Duration::from_millis(300);
    Delays {
        cluster_create: d,
        cluster_modify: d,
        cluster_pause: d,
        cluster_resume: d,
        cluster_delete: d,
        import_prepare: d,
        import_run: Duration::from_millis(600),
        import_cancel: d,
        ..Delays::fast()
    }
}

/// A simulator whose quota does not get in the way of polling.
async fn sim_with(delays: Delays) -> Simulator {
    Simulator::start(SimConfig {
        delays,
        quota: QuotaConfig {
            limit: 100_000,
            window: Duration::from_secs(60),
        },
        ..SimConfig::default()
    })
    .await
    .expect("start simulator")
}

fn config(sim: &Simulator) -> ClientConfig {
    ClientConfig::default()
        .with_endpoint(&sim.base_url())
        .with_ca_file(sim.ca_path().expect("simulator CA"))
        .expect("read CA")
}

fn key(sim: &Simulator) -> ApiKey {
    let k = sim.key();
    ApiKey::new(k.public_key.clone(), k.private_key.clone())
}

/// A budget generous enough for polling tests.
fn roomy_budgets(metrics: &Metrics) -> BudgetRegistry {
    BudgetRegistry::new(
        BudgetConfig {
            requests_per_minute: 60_000.0,
            headroom: 1.0,
            burst: 100,
            max_jitter: Duration::from_millis(50),
        },
        metrics.clone(),
    )
}

fn client(sim: &Simulator, metrics: &Metrics) -> TidbCloudClient {
    TidbCloudClient::new(&config(sim), key(sim), &roomy_budgets(metrics)).expect("client")
}

fn create_request(name: &str) -> CreateClusterRequest {
    CreateClusterRequest {
        display_name: name.to_string(),
        region_id: "aws-us-west-2".into(),
        tidb_node_setting: TidbNodeSettingRequest::new("8C16G", 2),
        tikv_node_setting: StorageNodeSettingRequest {
            node_spec_key: "8C32G".into(),
            node_count: 3,
            storage_size_gi: 500,
            storage_type: Some(StorageType::Standard),
            raft_store_iops: None,
        },
        port: Some(4000),
        root_password: Some(SecretString::from(ROOT_PASSWORD)),
        ..Default::default()
    }
}

/// Polls `f` until it yields `Some`, failing after `TIMEOUT`.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {TIMEOUT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_state(c: &TidbCloudClient, id: &str, state: ClusterState) -> Cluster {
    eventually(&format!("cluster {id} to be {state}"), || async {
        let cl = c.get_cluster(id).await.expect("get cluster");
        (cl.state == state).then_some(cl)
    })
    .await
}

/// The simulator's admin API (no authentication).
async fn admin(sim: &Simulator, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let pem = std::fs::read(sim.ca_path().expect("CA")).expect("read CA");
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA pem"))
        .build()
        .expect("admin client");
    let mut rb = http.request(method, format!("{}/_sim/{path}", sim.base_url()));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.expect("admin call");
    assert!(
        resp.status().is_success(),
        "admin {path}: {}",
        resp.status()
    );
    resp.json().await.expect("admin json")
}

async fn add_fault(sim: &Simulator, rule: Value) {
    admin(sim, reqwest::Method::POST, "faults", Some(rule)).await;
}

/// Sum of the simulator's counters matching `pred`.
fn counted(sim: &Simulator, pred: impl Fn(&clouddb_sim::gateway::CounterRow) -> bool) -> u64 {
    sim.counters()
        .iter()
        .filter(|r| pred(r))
        .map(|r| r.count)
        .sum()
}

fn assert_no_secret(sim: &Simulator, text: &str) {
    assert!(
        !text.contains(&sim.key().private_key),
        "private key leaked: {text}"
    );
    assert!(
        !text.contains(ROOT_PASSWORD),
        "root password leaked: {text}"
    );
}

#[tokio::test]
async fn cluster_crud_round_trip_with_state_transitions() {
    let sim = sim_with(short_delays()).await;
    let metrics = Metrics::default();
    let c = client(&sim, &metrics);

    let created = c
        .create_cluster(&create_request("crud-one"))
        .await
        .expect("create");
    assert_eq!(created.state, ClusterState::Creating);
    assert_eq!(created.display_name, "crud-one");
    assert!(created.project_id().is_some(), "{:?}", created.labels);
    let id = created.cluster_id.clone();
    assert!(!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));

    let active = wait_state(&c, &id, ClusterState::Active).await;
    assert_eq!(active.tikv_node_setting.node_count, 3);
    assert_eq!(active.tidb_node_count(), 2);
    let group = active.default_node_group().expect("default group");
    assert!(
        group
            .endpoints
            .iter()
            .any(|e| e.connection_type == ConnectionType::Public && !e.host.is_empty())
    );

    // Scale TiKV and add TiFlash: MODIFYING, then ACTIVE.
    let upd = UpdateClusterRequest {
        tikv_node_setting: Some(StorageNodeSettingUpdate {
            node_count: Some(6),
            ..Default::default()
        }),
        tiflash_node_setting: Some(StorageNodeSettingUpdate {
            node_spec_key: Some("8C64G".into()),
            node_count: Some(1),
            storage_size_gi: Some(500),
            ..Default::default()
        }),
        ..Default::default()
    };
    let modifying = c.update_cluster(&id, &upd).await.expect("update");
    assert_eq!(modifying.state, ClusterState::Modifying);
    let scaled = wait_state(&c, &id, ClusterState::Active).await;
    assert_eq!(scaled.tikv_node_setting.node_count, 6);
    assert_eq!(
        scaled.tiflash_node_setting.as_ref().map(|t| t.node_count),
        Some(1)
    );

    // Remove TiFlash with nodeCount 0; rename.
    let upd = UpdateClusterRequest {
        display_name: Some("crud-renamed".into()),
        tiflash_node_setting: Some(StorageNodeSettingUpdate::remove()),
        ..Default::default()
    };
    c.update_cluster(&id, &upd).await.expect("remove tiflash");
    let after = wait_state(&c, &id, ClusterState::Active).await;
    assert!(after.tiflash_node_setting.is_none());
    assert_eq!(after.display_name, "crud-renamed");

    // Root password.
    let new_pw = SecretString::from("Another-Root-Pw-2");
    c.reset_root_password(&id, &new_pw)
        .await
        .expect("reset password");
    let verified = admin(
        &sim,
        reqwest::Method::POST,
        &format!("dedicated/clusters/{id}:verifyRootPassword"),
        Some(json!({"rootPassword": "Another-Root-Pw-2"})),
    )
    .await;
    assert_eq!(verified["match"], true);

    // Pause and resume.
    let pausing = c.pause_cluster(&id).await.expect("pause");
    assert_eq!(pausing.state, ClusterState::Pausing);
    let paused = wait_state(&c, &id, ClusterState::Paused).await;
    assert!(paused.pause_plan.is_some());
    // Pausing again is refused with the server's explanation.
    let e = c.pause_cluster(&id).await.unwrap_err();
    assert_eq!(e.category(), "InvalidArgument", "{e}");
    assert!(e.to_string().contains("PAUSED"), "{e}");
    let resuming = c.resume_cluster(&id).await.expect("resume");
    assert_eq!(resuming.state, ClusterState::Resuming);
    wait_state(&c, &id, ClusterState::Active).await;

    // Delete: DELETING, then gone (404 → NotFound, which a finalizer treats as done).
    let deleting = c.delete_cluster(&id).await.expect("delete");
    assert_eq!(deleting.state, ClusterState::Deleting);
    let gone = eventually("the cluster to disappear", || async {
        match c.get_cluster(&id).await {
            Err(e) if e.is_not_found() => Some(e),
            Ok(_) => None,
            Err(e) => panic!("unexpected error {e}"),
        }
    })
    .await;
    assert_eq!(gone.category(), "NotFound");
    assert!(!gone.is_transient());
    assert!(c.delete_cluster(&id).await.unwrap_err().is_not_found());

    // Every route shows up in the metrics, labelled with the public key only.
    let text = metrics.encode();
    for route in [
        "POST /clusters",
        "GET /clusters/{clusterId}",
        "PATCH /clusters/{clusterId}",
        "POST /clusters/{clusterId}:pauseCluster",
        "POST /clusters/{clusterId}:resumeCluster",
        "POST /clusters/{clusterId}:resetRootPassword",
        "DELETE /clusters/{clusterId}",
    ] {
        assert!(
            text.contains(&format!("route=\"{route}\"")),
            "{route} missing in\n{text}"
        );
    }
    assert!(text.contains(&format!("key_id=\"{}\"", sim.key().public_key)));
    assert!(text.contains("status=\"404\""));
    assert_no_secret(&sim, &text);
    assert!(!text.contains("Another-Root-Pw-2"));
}

#[tokio::test]
async fn catalogue_projects_imports_and_integrations() {
    let sim = sim_with(short_delays()).await;
    let metrics = Metrics::default();
    let c = client(&sim, &metrics);

    let regions = c.list_regions().await.expect("regions");
    assert!(regions.iter().any(|r| r.region_id == "aws-us-west-2"));
    let specs = c
        .list_node_specs("aws-us-west-2", Some(&ComponentType::Tikv))
        .await
        .expect("node specs");
    assert!(!specs.is_empty());
    assert!(
        specs
            .iter()
            .all(|s| s.component_type == ComponentType::Tikv)
    );
    assert!(specs.iter().any(|s| s.node_spec_key == "8C32G"));
    let all_specs = c
        .list_node_specs("aws-us-west-2", None)
        .await
        .expect("all specs");
    assert!(all_specs.len() > specs.len());
    let e = c.list_node_specs("aws-nowhere-1", None).await.unwrap_err();
    assert_eq!(e.category(), "NotFound", "{e}");

    let projects = c.list_projects().await.expect("projects");
    assert!(projects.len() >= 2, "{projects:?}");
    let staging = projects
        .iter()
        .find(|p| p.name == "staging")
        .expect("staging project");

    let cluster = c
        .create_cluster(&create_request("imports-1").with_project(&staging.id))
        .await
        .expect("create");
    assert_eq!(cluster.project_id(), Some(staging.id.as_str()));
    let id = cluster.cluster_id;
    wait_state(&c, &id, ClusterState::Active).await;
    let in_project = c.list_all_clusters(Some(&staging.id)).await.expect("list");
    assert_eq!(in_project.len(), 1);
    assert!(c.list_all_clusters(None).await.expect("list").is_empty());

    // Imports: one that completes, one that is cancelled.
    let import_req = |uri: &str| CreateImportRequest {
        creation_details: ImportCreationDetails {
            import_options: ImportOptions {
                file_type: ImportFileType::Csv,
                csv_format: Some(CsvFormat {
                    header: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            },
            source: ImportSource {
                source_type: ImportSourceType::S3,
                s3: Some(S3Source {
                    uri: uri.to_string(),
                    auth_type: S3AuthType::AccessKey,
                    role_arn: None,
                    access_key: Some(S3AccessKey {
                        id: "AKIAEXAMPLE".into(),
                        secret: Some(SecretString::from("s3-secret-value-123")),
                    }),
                }),
                ..Default::default()
            },
            target_table_infos: vec![],
        },
    };
    let imp = c
        .create_import(&id, &import_req("s3://bucket/data/"))
        .await
        .expect("create import");
    assert_eq!(imp.state, ImportState::Preparing);
    let done = eventually("the import to complete", || async {
        let i = c.get_import(&id, &imp.import_id).await.expect("get import");
        i.state.is_terminal().then_some(i)
    })
    .await;
    assert_eq!(done.state, ImportState::Completed);
    assert_eq!(done.complete_percent, 100);
    let key = done
        .creation_details
        .source
        .s3
        .and_then(|s| s.access_key)
        .expect("access key");
    assert_eq!(key.id, "AKIAEXAMPLE");
    assert!(key.secret.is_none(), "secrets are input-only");

    let second = c
        .create_import(&id, &import_req("s3://bucket/other/"))
        .await
        .expect("create import");
    c.cancel_import(&id, &second.import_id)
        .await
        .expect("cancel");
    let canceled = eventually("the import to be canceled", || async {
        let i = c
            .get_import(&id, &second.import_id)
            .await
            .expect("get import");
        (i.state == ImportState::Canceled).then_some(i)
    })
    .await;
    assert!(canceled.complete_time.is_some());
    assert_eq!(c.list_imports(&id).await.expect("list imports").len(), 2);

    // Integrations.
    let dd = c
        .create_integration(
            &id,
            &CreateIntegrationRequest::datadog(
                SecretString::from("dd-key-0123456789abcdef"),
                "US1",
            ),
        )
        .await
        .expect("datadog");
    assert_eq!(dd.integration_type, IntegrationType::Datadog);
    let status = dd.vendor_status().expect("datadog status");
    assert_eq!(status.state, IntegrationState::Active);
    assert!(!status.masked_api_key.contains("0123456789"));
    let prom = c
        .create_integration(&id, &CreateIntegrationRequest::prometheus())
        .await
        .expect("prometheus");
    assert!(prom.prometheus.is_some());
    let dup = c
        .create_integration(&id, &CreateIntegrationRequest::prometheus())
        .await
        .unwrap_err();
    assert_eq!(dup.category(), "InvalidArgument", "{dup}");
    assert_eq!(c.list_integrations(&id).await.expect("list").len(), 2);
    c.delete_integration(&id, &dd.id).await.expect("delete");
    assert!(
        c.delete_integration(&id, &dd.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(c.list_integrations(&id).await.expect("list").len(), 1);
    assert!(metrics.encode().contains("route=\"GET /projects\""));
}

#[tokio::test]
async fn list_all_clusters_follows_page_tokens() {
    let sim = sim_with(Delays::instant()).await;
    let metrics = Metrics::default();
    let cfg = ClientConfig {
        page_size: 2,
        ..config(&sim)
    };
    let c = TidbCloudClient::new(&cfg, key(&sim), &roomy_budgets(&metrics)).expect("client");
    for i in 0..5 {
        c.create_cluster(&create_request(&format!("page-{i}")))
            .await
            .expect("create");
    }
    let first = c.list_clusters(None, Some(2), None).await.expect("page 1");
    assert_eq!(first.clusters.len(), 2);
    assert_eq!(first.total_size, 5);
    assert!(!first.next_page_token.is_empty());

    let before = counted(&sim, |r| {
        r.key.route == "/v1beta1/clusters" && r.key.method == "GET"
    });
    let all = c.list_all_clusters(None).await.expect("list all");
    let mut names: Vec<_> = all.iter().map(|c| c.display_name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["page-0", "page-1", "page-2", "page-3", "page-4"]);
    let pages = counted(&sim, |r| {
        r.key.route == "/v1beta1/clusters" && r.key.method == "GET"
    }) - before;
    assert_eq!(pages, 3, "5 clusters in pages of 2");
}

#[tokio::test]
async fn digest_challenge_is_cached_and_reused() {
    let sim = sim_with(Delays::instant()).await;
    let metrics = Metrics::default();
    let c = client(&sim, &metrics);
    for _ in 0..5 {
        c.list_clusters(None, None, None).await.expect("list");
    }
    c.create_cluster(&create_request("digest-1"))
        .await
        .expect("create");
    // Concurrent requests share the cached nonce with distinct nc values.
    let results = futures::future::join_all((0..16).map(|_| c.list_regions())).await;
    for r in results {
        r.expect("regions");
    }
    let challenges = counted(&sim, |r| r.key.status == 401);
    // One challenge for the first request; concurrent requests may arrive out of nc order and earn a
    // stale re-challenge each, but sequential traffic must not.
    assert!(
        (1..=17).contains(&challenges),
        "challenges: {challenges}, counters: {:?}",
        sim.counters()
    );
    let ok = counted(&sim, |r| r.key.status == 200);
    assert_eq!(ok, 22, "{:?}", sim.counters());

    let sequential = sim_with(Delays::instant()).await;
    let c = client(&sequential, &metrics);
    for _ in 0..6 {
        c.list_clusters(None, None, None).await.expect("list");
    }
    assert_eq!(counted(&sequential, |r| r.key.status == 401), 1);
    assert_eq!(counted(&sequential, |r| r.key.status == 200), 6);
}

#[tokio::test]
async fn wrong_keys_are_credentials_rejected() {
    let sim = sim_with(Delays::instant()).await;
    let metrics = Metrics::default();
    let budgets = roomy_budgets(&metrics);
    let cfg = config(&sim);

    let unknown = ApiKey::new("NOSUCHKEY", "whatever-private-key");
    let c = TidbCloudClient::new(&cfg, unknown, &budgets).expect("client");
    let e = c.list_clusters(None, None, None).await.unwrap_err();
    assert_eq!(e.category(), "CredentialsRejected", "{e}");
    assert!(!e.is_transient());
    assert!(!format!("{e} {e:?}").contains("whatever-private-key"));

    let wrong_secret = ApiKey::new(sim.key().public_key.clone(), "wrong-private-key-value");
    let c = TidbCloudClient::new(&cfg, wrong_secret, &budgets).expect("client");
    let e = c.get_cluster("123").await.unwrap_err();
    assert!(matches!(e, CloudError::Unauthorized { .. }), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("wrong-private-key-value"));
    // A rejected key is challenged at most twice per call, not retried in a loop.
    let unauth = counted(&sim, |r| r.key.status == 401);
    assert!(unauth <= 4, "{:?}", sim.counters());
}

#[tokio::test]
async fn rate_limit_429_is_returned_and_blocks_the_key() {
    // 3 requests per 2 s window.
    let sim = Simulator::start(SimConfig {
        delays: Delays::instant(),
        quota: QuotaConfig {
            limit: 3,
            window: Duration::from_secs(2),
        },
        ..SimConfig::default()
    })
    .await
    .expect("start simulator");
    let metrics_a = Metrics::default();
    let a = client(&sim, &metrics_a);
    for _ in 0..3 {
        a.list_clusters(None, None, None)
            .await
            .expect("within quota");
    }
    // The server said 0 remaining: this process's budget for the key is now blocked.
    assert!(a.budget().blocked_for().is_some());
    assert!(metrics_a.encode().contains(&format!(
        "clouddb_budget_remaining{{key_id=\"{}\"}} 0",
        sim.key().public_key
    )));

    // Another process using the same key does not know: it gets the 429.
    let metrics_b = Metrics::default();
    let b = client(&sim, &metrics_b);
    let e = b.list_clusters(None, None, None).await.unwrap_err();
    assert_eq!(e.category(), "Throttled", "{e}");
    assert!(e.is_transient());
    let retry_after = e.retry_after().expect("retry hint");
    assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(2));
    assert!(b.budget().blocked_for().is_some());
    assert!(
        tokio::time::timeout(
            Duration::from_millis(200),
            b.budget().acquire(Priority::Write)
        )
        .await
        .is_err(),
        "the budget must hold requests until the window resets"
    );
    assert_eq!(counted(&sim, |r| r.key.status == 429), 1);

    // After the reset the blocked client goes on by itself, having waited.
    tokio::time::timeout(TIMEOUT, a.list_clusters(None, None, None))
        .await
        .expect("client A resumes after the window")
        .expect("list after reset");
    let text = metrics_a.encode();
    assert!(
        text.contains(&format!(
            "clouddb_rate_limit_waits_total{{key_id=\"{}\"}}",
            sim.key().public_key
        )),
        "{text}"
    );
    // Client A never saw a 429.
    assert!(!text.contains("status=\"429\""), "{text}");
}

#[tokio::test]
async fn injected_server_errors_and_resets_map_to_transient_errors() {
    let sim = sim_with(Delays::instant()).await;
    let metrics = Metrics::default();
    let c = client(&sim, &metrics);
    let id = c
        .create_cluster(&create_request("faults-1"))
        .await
        .expect("create")
        .cluster_id;

    add_fault(
        &sim,
        json!({"kind": "fail", "status": 503, "count": 1, "method": "GET", "pathPrefix": "/v1beta1/clusters"}),
    )
    .await;
    let e = c.get_cluster(&id).await.unwrap_err();
    assert!(matches!(e, CloudError::Server { status: 503, .. }), "{e:?}");
    assert_eq!(e.category(), "ServerError");
    assert!(e.is_transient() && !e.outcome_uncertain());
    c.get_cluster(&id).await.expect("the fault fired once");

    add_fault(
        &sim,
        json!({"kind": "reset", "count": 1, "method": "GET", "pathPrefix": "/v1beta1/clusters"}),
    )
    .await;
    let e = c.get_cluster(&id).await.unwrap_err();
    assert_eq!(e.category(), "Transport", "{e:?}");
    assert!(e.is_transient());
    assert!(!e.outcome_uncertain(), "a failed GET changes nothing");
    assert!(metrics.encode().contains("status=\"transport\""));
}

#[tokio::test]
async fn lost_answer_to_a_create_is_uncertain_and_the_cluster_exists() {
    let sim = sim_with(Delays::instant()).await;
    let metrics = Metrics::default();
    let c = client(&sim, &metrics);
    // Get the digest challenge out of the way so the fault hits the signed create.
    c.list_clusters(None, None, None).await.expect("list");
    add_fault(
        &sim,
        json!({"kind": "dropAfterCommit", "count": 1, "method": "POST", "pathPrefix": "/v1beta1/clusters"}),
    )
    .await;
    let e = c
        .create_cluster(&create_request("uncertain-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            CloudError::Transport {
                uncertain: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.outcome_uncertain() && e.is_transient());
    assert_no_secret(&sim, &format!("{e} {e:?}"));
    // The create did happen: a reconciler looks it up before creating again.
    let all = c.list_all_clusters(None).await.expect("list");
    assert_eq!(
        all.iter()
            .filter(|cl| cl.display_name == "uncertain-1")
            .count(),
        1
    );
}

#[tokio::test]
async fn validation_errors_carry_the_server_message() {
    let sim = sim_with(Delays::instant()).await;
    let metrics = Metrics::default();
    let c = client(&sim, &metrics);

    let mut bad = create_request("valid-name");
    bad.tikv_node_setting.node_count = 4;
    let e = c.create_cluster(&bad).await.unwrap_err();
    let CloudError::InvalidArgument { message } = &e else {
        panic!("expected InvalidArgument, got {e:?}");
    };
    assert!(message.contains("tikvNodeSetting.nodeCount"), "{message}");
    assert!(message.contains("steps of 3"), "{message}");
    assert_eq!(e.category(), "InvalidArgument");
    assert!(!e.is_transient());
    assert_no_secret(&sim, &format!("{e} {e:?}"));

    // validateOnly checks without creating.
    let ok = c
        .validate_create_cluster(&create_request("dry-run-1"))
        .await
        .expect("valid");
    assert_eq!(ok.display_name, "dry-run-1");
    assert!(c.list_all_clusters(None).await.expect("list").is_empty());

    // Client-side checks: ids that would change the path never leave the process.
    let before = sim.counters().iter().map(|r| r.count).sum::<u64>();
    let e = c.get_cluster("../regions").await.unwrap_err();
    assert_eq!(e.category(), "InvalidArgument");
    assert_eq!(sim.counters().iter().map(|r| r.count).sum::<u64>(), before);
    let e = c.get_cluster("99999").await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
}

#[tokio::test]
async fn plain_http_is_refused_except_to_loopback() {
    let budgets = BudgetRegistry::default();
    let cfg = ClientConfig {
        base_url: "http://dedicated.tidbapi.com/v1beta1".into(),
        ..ClientConfig::default()
    };
    let e = TidbCloudClient::new(&cfg, ApiKey::new("PUB", "priv-key"), &budgets).unwrap_err();
    assert_eq!(e.category(), "Config");
    assert!(e.to_string().contains("https"), "{e}");
    let cfg = ClientConfig {
        iam_base_url: "http://iam.example.com/v1beta1".into(),
        ..ClientConfig::default()
    };
    assert_eq!(
        TidbCloudClient::new(&cfg, ApiKey::new("PUB", "priv-key"), &budgets)
            .unwrap_err()
            .category(),
        "Config"
    );

    // A plain-http simulator on 127.0.0.1 is fine.
    let sim = Simulator::start(SimConfig {
        tls: false,
        delays: Delays::instant(),
        ..SimConfig::default()
    })
    .await
    .expect("start simulator");
    let cfg = ClientConfig::default().with_endpoint(&sim.base_url());
    let c = TidbCloudClient::new(&cfg, key(&sim), &budgets).expect("client");
    c.list_clusters(None, None, None)
        .await
        .expect("list over http");

    // And an HTTPS simulator is not trusted without its CA.
    let tls_sim = sim_with(Delays::instant()).await;
    let cfg = ClientConfig::default().with_endpoint(&tls_sim.base_url());
    let c = TidbCloudClient::new(&cfg, key(&tls_sim), &budgets).expect("client");
    let e = c.list_clusters(None, None, None).await.unwrap_err();
    assert_eq!(e.category(), "Transport", "{e:?}");
    assert!(!e.outcome_uncertain());
}
