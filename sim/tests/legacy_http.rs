//! The legacy v1beta API (`/api/v1beta/…`) over HTTPS with a digest client: the projects list, Dedicated
//! cluster backups (create, states, list paging, get, delete) and restores (a new v1beta1 cluster, tasks).
mod common;

use clouddb_sim::{Delays, QuotaConfig, SimConfig, Simulator};
use common::{Client, Resp, cluster_body, observe_until, wait_for};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const DEFAULT_PROJECT: &str = "1372813089454525346";
const STAGING_PROJECT: &str = "1372813089454525999";

fn delays() -> Delays {
    Delays {
        cluster_create: Duration::from_millis(200),
        // Long enough for a poll every 25 ms to see each state even on a loaded machine.
        backup_start: Duration::from_millis(600),
        backup_run: Duration::from_millis(600),
        restore: Duration::from_millis(1000),
        ..Delays::fast()
    }
}

async fn sim() -> Simulator {
    sim_with(delays()).await
}

async fn sim_with(delays: Delays) -> Simulator {
    common::start(SimConfig {
        delays,
        // Polling every 25 ms would exhaust the real 100/minute quota.
        quota: QuotaConfig {
            limit: 100_000,
            window: Duration::from_secs(60),
        },
        ..SimConfig::default()
    })
    .await
}

fn status(r: &Resp, want: u16) {
    assert_eq!(r.status.as_u16(), want, "{}", r.body);
}

/// A legacy error: `{code, message, details: []}` with the HTTP status as `code`.
fn legacy_err(r: &Resp, want: u16, fragment: &str) {
    status(r, want);
    assert_eq!(r.body["code"], want, "{}", r.body);
    assert!(r.body["details"].is_array(), "{}", r.body);
    let m = r.message();
    assert!(m.contains(fragment), "{m:?} should contain {fragment:?}");
}

/// An ACTIVE v1beta1 cluster in the default project.
async fn active_cluster(c: &Client, name: &str) -> String {
    let r = c.post("/v1beta1/clusters", cluster_body(name)).await;
    status(&r, 200);
    let id = r.body["clusterId"].as_str().expect("clusterId").to_string();
    wait_for(c, &format!("/v1beta1/clusters/{id}"), WAIT, |r| {
        r.body["state"] == "ACTIVE"
    })
    .await;
    id
}

fn backups_uri(project: &str, cluster: &str) -> String {
    format!("/api/v1beta/projects/{project}/clusters/{cluster}/backups")
}

/// A successful backup of `cluster`.
async fn finished_backup(c: &Client, cluster: &str, name: &str) -> String {
    let r = c
        .post(
            &backups_uri(DEFAULT_PROJECT, cluster),
            json!({"name": name, "description": "before upgrade"}),
        )
        .await;
    status(&r, 200);
    let id = r.body["id"].as_str().expect("backup id").to_string();
    let uri = format!("{}/{id}", backups_uri(DEFAULT_PROJECT, cluster));
    wait_for(c, &uri, WAIT, |r| r.body["status"] == "SUCCESS").await;
    id
}

fn restore_body(backup: &str, name: &str) -> Value {
    json!({
        "backup_id": backup,
        "name": name,
        "config": {
            "root_password": "restored-pass-1",
            "port": 4000,
            "components": {
                "tidb": {"node_size": "8C16G", "node_quantity": 2},
                "tikv": {"node_size": "8C32G", "storage_size_gib": 500, "node_quantity": 3}
            },
            "ip_access_list": [{"cidr": "10.0.0.0/8", "description": "office"}]
        }
    })
}

#[tokio::test]
async fn projects_list_pages_and_counts_each_projects_clusters() {
    let sim = sim().await;
    let c = Client::new(&sim);
    let r = c.get("/api/v1beta/projects").await;
    status(&r, 200);
    assert_eq!(r.body["total"], 2, "{}", r.body);
    let items = r.body["items"].as_array().expect("items");
    assert_eq!(items[0]["id"], DEFAULT_PROJECT);
    assert_eq!(items[0]["cluster_count"], 0);
    assert_eq!(items[1]["id"], STAGING_PROJECT);
    assert!(
        items[0]["create_timestamp"]
            .as_str()
            .is_some_and(|t| t.parse::<i64>().is_ok()),
        "{}",
        r.body
    );
    assert_eq!(items[0]["org_id"], "1372813089209061633");

    active_cluster(&c, "counted").await;
    let r = c.get("/api/v1beta/projects?page=1&page_size=1").await;
    status(&r, 200);
    assert_eq!(r.body["total"], 2);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["items"][0]["cluster_count"], 1);
    let r = c.get("/api/v1beta/projects?page=2&page_size=1").await;
    assert_eq!(r.body["items"][0]["id"], STAGING_PROJECT);
    assert_eq!(r.body["items"][0]["cluster_count"], 0);
    let r = c.get("/api/v1beta/projects?page=3&page_size=1").await;
    status(&r, 200);
    assert_eq!(r.body["items"], json!([]));
    assert_eq!(r.body["total"], 2);

    legacy_err(&c.get("/api/v1beta/projects?page=0").await, 400, "page");
    legacy_err(
        &c.get("/api/v1beta/projects?page_size=x").await,
        400,
        "page_size",
    );
    // Not simulated: project creation.
    status(
        &c.post("/api/v1beta/projects", json!({"name": "p"})).await,
        405,
    );
}

#[tokio::test]
async fn a_manual_backup_goes_pending_running_success_and_can_be_listed_read_and_deleted() {
    let sim = sim().await;
    let c = Client::new(&sim);
    let cluster = active_cluster(&c, "backed-up").await;
    let list = backups_uri(DEFAULT_PROJECT, &cluster);

    let r = c
        .post(&list, json!({"name": "backup-1", "description": "first"}))
        .await;
    status(&r, 200);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert!(id.parse::<u64>().is_ok(), "{id}");
    assert_eq!(r.body.as_object().map(|o| o.len()), Some(1), "{}", r.body);

    let uri = format!("{list}/{id}");
    let seen = observe_until(&c, &uri, WAIT, |r| r.body["status"] == "SUCCESS").await;
    let statuses: Vec<&str> = seen
        .iter()
        .map(|r| r.body["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses.first(), Some(&"PENDING"), "{statuses:?}");
    assert!(statuses.contains(&"RUNNING"), "{statuses:?}");
    let b = &seen.last().expect("last").body;
    assert_eq!(b["id"], id.as_str());
    assert_eq!(b["name"], "backup-1");
    assert_eq!(b["description"], "first");
    assert_eq!(b["type"], "MANUAL");
    assert!(
        b["size"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|n| n > 0),
        "{b}"
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(b["create_timestamp"].as_str().unwrap_or_default())
            .is_ok(),
        "{b}"
    );
    // While pending, the size is 0.
    assert_eq!(seen[0].body["size"], "0");

    // Three more; newest first, paged.
    for n in 2..=4 {
        status(
            &c.post(&list, json!({"name": format!("backup-{n}")})).await,
            200,
        );
    }
    let r = c.get(&list).await;
    status(&r, 200);
    assert_eq!(r.body["total"], 4);
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, ["backup-4", "backup-3", "backup-2", "backup-1"]);
    let r = c.get(&format!("{list}?page=2&page_size=3")).await;
    assert_eq!(r.body["total"], 4);
    assert_eq!(r.body["items"][0]["name"], "backup-1");
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));

    // A finished backup can be deleted, once.
    let r = c.delete(&uri).await;
    status(&r, 200);
    assert_eq!(r.body, json!({}));
    legacy_err(&c.get(&uri).await, 404, "not found");
    legacy_err(&c.delete(&uri).await, 404, "not found");
    assert_eq!(c.get(&list).await.body["total"], 3);
}

#[tokio::test]
async fn backups_are_validated_as_the_legacy_spec_says() {
    let sim = sim().await;
    let c = Client::new(&sim);
    let cluster = active_cluster(&c, "validated").await;
    let list = backups_uri(DEFAULT_PROJECT, &cluster);

    legacy_err(&c.post(&list, json!({})).await, 400, "name is required");
    legacy_err(
        &c.post(&list, json!({"name": "b", "colour": "red"})).await,
        400,
        "unknown field `colour`",
    );
    legacy_err(
        &c.post(&list, json!({"name": 5})).await,
        400,
        "invalid request body",
    );
    legacy_err(
        &c.post(&list, json!({"name": "b", "description": "x".repeat(257)}))
            .await,
        400,
        "at most 256",
    );
    // Ids are uint64 decimal strings.
    legacy_err(
        &c.get(&backups_uri(DEFAULT_PROJECT, "abc")).await,
        400,
        "cluster_id",
    );
    legacy_err(&c.get(&format!("{list}/x1")).await, 400, "backup_id");
    // Paging parameters are int32 here (int64 for projects).
    legacy_err(
        &c.get(&format!("{list}?page=3000000000")).await,
        400,
        "is not an int32",
    );
    status(&c.get("/api/v1beta/projects?page=3000000000").await, 200);
    // Unknown project, cluster in another project, unknown cluster, unknown backup.
    legacy_err(
        &c.get(&backups_uri("42", &cluster)).await,
        404,
        "project 42",
    );
    legacy_err(
        &c.get(&backups_uri(STAGING_PROJECT, &cluster)).await,
        404,
        "not found in project",
    );
    legacy_err(
        &c.get(&backups_uri(DEFAULT_PROJECT, "12345")).await,
        404,
        "cluster 12345",
    );
    legacy_err(&c.get(&format!("{list}/12345")).await, 404, "backup 12345");
    status(&c.send(reqwest::Method::PUT, &list, None).await, 405);

    // Only an ACTIVE cluster is backed up (a pausing or paused one is not).
    let paused = active_cluster(&c, "paused").await;
    status(
        &c.post(
            &format!("/v1beta1/clusters/{paused}:pauseCluster"),
            json!({}),
        )
        .await,
        200,
    );
    legacy_err(
        &c.post(
            &backups_uri(DEFAULT_PROJECT, &paused),
            json!({"name": "early"}),
        )
        .await,
        400,
        "a backup can be taken only of an available (ACTIVE) cluster",
    );

    // The failure marker makes a backup end FAILED.
    let r = c.post(&list, json!({"name": "nightly-sim-fail"})).await;
    status(&r, 200);
    let uri = format!("{list}/{}", r.body["id"].as_str().expect("id"));
    let seen = observe_until(&c, &uri, WAIT, |r| {
        r.body["status"] == "FAILED" || r.body["status"] == "SUCCESS"
    })
    .await;
    assert_eq!(seen.last().expect("last").body["status"], "FAILED");

    // Unauthenticated: the digest challenge and the gateway's error.
    let anon = common::http_client(&sim)
        .get(format!("{}{list}", sim.base_url()))
        .send()
        .await
        .expect("send");
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    assert!(anon.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn a_restore_creates_a_new_v1beta1_cluster_restoring_then_active_and_the_task_succeeds() {
    let sim = sim().await;
    let c = Client::new(&sim);
    let source = active_cluster(&c, "source").await;
    let backup = finished_backup(&c, &source, "b1").await;
    let restores = format!("/api/v1beta/projects/{DEFAULT_PROJECT}/restores");

    let r = c.post(&restores, restore_body(&backup, "restored-1")).await;
    status(&r, 200);
    let task = r.body["id"].as_str().expect("id").to_string();
    let new_cluster = r.body["cluster_id"]
        .as_str()
        .expect("cluster_id")
        .to_string();
    assert_ne!(new_cluster, source);

    // The new cluster is a v1beta1 cluster at once: RESTORING, then ACTIVE.
    let cluster_uri = format!("/v1beta1/clusters/{new_cluster}");
    let seen = observe_until(&c, &cluster_uri, WAIT, |r| r.body["state"] == "ACTIVE").await;
    assert_eq!(seen[0].body["state"], "RESTORING", "{}", seen[0].body);
    let cl = &seen.last().expect("last").body;
    assert_eq!(cl["displayName"], "restored-1");
    assert_eq!(cl["regionId"], "aws-us-west-2");
    assert_eq!(cl["labels"]["tidb.cloud/project"], DEFAULT_PROJECT);
    assert_eq!(cl["tikvNodeSetting"]["storageSizeGi"], 500);
    assert_eq!(cl["tidbNodeSetting"]["tidbNodeGroups"][0]["nodeCount"], 2);
    assert_eq!(cl["annotations"]["tidb.cloud/has-set-password"], "true");
    let r = sim_verify_password(&c, &new_cluster, "restored-pass-1").await;
    assert_eq!(r, json!({"match": true}));
    let list = c.get("/v1beta1/clusters").await;
    assert!(
        list.body["clusters"]
            .as_array()
            .expect("clusters")
            .iter()
            .any(|x| x["clusterId"] == new_cluster.as_str()),
        "{}",
        list.body
    );

    // The task.
    let task_uri = format!("{restores}/{task}");
    let t = wait_for(&c, &task_uri, WAIT, |r| r.body["status"] == "SUCCESS").await;
    assert_eq!(t.body["id"], task.as_str());
    assert_eq!(t.body["backup_id"], backup.as_str());
    assert_eq!(
        t.body["cluster_id"],
        source.as_str(),
        "the backup's cluster"
    );
    assert_eq!(t.body["cluster"]["id"], new_cluster.as_str());
    assert_eq!(t.body["cluster"]["name"], "restored-1");
    assert_eq!(t.body["cluster"]["status"], "AVAILABLE");
    assert_eq!(t.body["error_message"], "");

    // A second restore; tasks are listed newest first, paged.
    let r = c.post(&restores, restore_body(&backup, "restored-2")).await;
    status(&r, 200);
    let r = c.get(&restores).await;
    status(&r, 200);
    assert_eq!(r.body["total"], 2);
    assert_eq!(r.body["items"][0]["cluster"]["name"], "restored-2");
    let r = c.get(&format!("{restores}?page=2&page_size=1")).await;
    assert_eq!(r.body["items"][0]["id"], task.as_str());
    // Another project sees none of them.
    let r = c
        .get(&format!("/api/v1beta/projects/{STAGING_PROJECT}/restores"))
        .await;
    assert_eq!(r.body, json!({"items": [], "total": 0}));

    // Deleting the restored cluster shows CLEARED.
    status(&c.delete(&cluster_uri).await, 200);
    wait_for(&c, &cluster_uri, WAIT, |r| {
        r.status == StatusCode::NOT_FOUND
    })
    .await;
    let t = c.get(&task_uri).await;
    assert_eq!(t.body["cluster"]["status"], "CLEARED");
    // The backup outlives its cluster: deleting the source keeps it restorable.
    status(&c.delete(&format!("/v1beta1/clusters/{source}")).await, 200);
    wait_for(&c, &format!("/v1beta1/clusters/{source}"), WAIT, |r| {
        r.status == StatusCode::NOT_FOUND
    })
    .await;
    let r = c.post(&restores, restore_body(&backup, "restored-3")).await;
    status(&r, 200);
}

async fn sim_verify_password(c: &Client, cluster: &str, password: &str) -> Value {
    c.admin(
        reqwest::Method::POST,
        &format!("dedicated/clusters/{cluster}:verifyRootPassword"),
        Some(json!({"rootPassword": password})),
    )
    .await
    .body
}

#[tokio::test]
async fn restores_are_validated_against_the_backup_and_the_catalogue() {
    let sim = sim().await;
    let c = Client::new(&sim);
    let source = active_cluster(&c, "source-v").await;
    let backup = finished_backup(&c, &source, "b1").await;
    let restores = format!("/api/v1beta/projects/{DEFAULT_PROJECT}/restores");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = restore_body(&backup, "restored-v");
        f(&mut b);
        b
    };
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            with(&|b| b["name"] = json!("ab")),
            400,
            "name \"ab\" is invalid",
        ),
        (with(&|b| b["name"] = json!("source-v")), 400, "is taken"),
        (
            with(&|b| {
                b.as_object_mut().expect("o").remove("backup_id");
            }),
            400,
            "backup_id is required",
        ),
        (
            with(&|b| b["backup_id"] = json!("99")),
            404,
            "backup 99 not found",
        ),
        (with(&|b| b["backup_id"] = json!("b-1")), 400, "backup_id"),
        (
            with(&|b| {
                b["config"]
                    .as_object_mut()
                    .expect("o")
                    .remove("root_password");
            }),
            400,
            "config.root_password is required",
        ),
        (
            with(&|b| b["config"]["root_password"] = json!("short")),
            400,
            "8 to 64",
        ),
        (with(&|b| b["config"]["port"] = json!(10080)), 400, "10080"),
        (
            with(&|b| b["config"]["port"] = json!(80)),
            400,
            "between 1024",
        ),
        (
            with(&|b| {
                b["config"].as_object_mut().expect("o").remove("components");
            }),
            400,
            "config.components is required",
        ),
        (
            with(&|b| b["config"]["components"]["tikv"]["node_size"] = json!("4C16G")),
            400,
            "smaller than the backup's cluster node size 8C32G",
        ),
        (
            with(&|b| b["config"]["components"]["tidb"]["node_size"] = json!("3C7G")),
            400,
            "not available for TIDB",
        ),
        (
            with(&|b| b["config"]["components"]["tikv"]["node_quantity"] = json!(4)),
            400,
            "multiple of 3",
        ),
        (
            with(&|b| b["config"]["components"]["tikv"]["storage_size_gib"] = json!(1)),
            400,
            "out of range",
        ),
        (
            with(&|b| b["config"]["ip_access_list"][0]["cidr"] = json!("10.0.0.0/99")),
            400,
            "not an IPv4 address or CIDR",
        ),
        (
            with(&|b| b["cluster_spec"] = json!({})),
            400,
            "unknown field",
        ),
    ];
    for (body, code, fragment) in cases {
        let r = c.post(&restores, body.clone()).await;
        legacy_err(&r, code, fragment);
    }
    // Nothing was created by the refused requests.
    assert_eq!(c.get(&restores).await.body["total"], 0);
    assert_eq!(c.get("/v1beta1/clusters").await.body["totalSize"], 1);

    // A backup of another project's path is not found there.
    legacy_err(
        &c.post(
            &format!("/api/v1beta/projects/{STAGING_PROJECT}/restores"),
            restore_body(&backup, "restored-s"),
        )
        .await,
        404,
        "not found in project",
    );
    legacy_err(
        &c.get(&format!("{restores}/77")).await,
        404,
        "restore task 77",
    );
    legacy_err(&c.get(&format!("{restores}/x")).await, 400, "restore_id");
    // A larger node size and TiFlash are fine.
    let r = c
        .post(
            &restores,
            with(&|b| {
                b["config"]["components"]["tikv"]["node_size"] = json!("16C64G");
                b["config"]["components"]["tiflash"] =
                    json!({"node_size": "8C64G", "storage_size_gib": 500, "node_quantity": 1});
            }),
        )
        .await;
    status(&r, 200);
    let id = r.body["cluster_id"].as_str().expect("id");
    let cl = c.get(&format!("/v1beta1/clusters/{id}")).await;
    assert_eq!(cl.body["tikvNodeSetting"]["nodeSpecKey"], "16C64G");
    assert_eq!(cl.body["tiflashNodeSetting"]["nodeCount"], 1);
}

#[tokio::test]
async fn a_backup_in_progress_can_be_neither_deleted_nor_restored() {
    // Backups stay RUNNING for a minute.
    let sim = sim_with(Delays {
        cluster_create: Duration::ZERO,
        backup_start: Duration::ZERO,
        backup_run: Duration::from_secs(60),
        ..Delays::fast()
    })
    .await;
    let c = Client::new(&sim);
    let cluster = active_cluster(&c, "busy").await;
    let list = backups_uri(DEFAULT_PROJECT, &cluster);
    let r = c.post(&list, json!({"name": "slow"})).await;
    status(&r, 200);
    let id = r.body["id"].as_str().expect("id").to_string();
    let uri = format!("{list}/{id}");
    wait_for(&c, &uri, WAIT, |r| r.body["status"] == "RUNNING").await;
    legacy_err(
        &c.delete(&uri).await,
        400,
        "is RUNNING: it can be deleted once it has finished",
    );
    legacy_err(
        &c.post(
            &format!("/api/v1beta/projects/{DEFAULT_PROJECT}/restores"),
            restore_body(&id, "restored-early"),
        )
        .await,
        400,
        "only a successful backup can be restored",
    );
    assert_eq!(c.get(&uri).await.body["status"], "RUNNING");
}

#[tokio::test]
async fn a_restore_in_progress_shows_running_and_a_creating_cluster() {
    // Restores take a minute; everything else is instant.
    let sim = sim_with(Delays {
        restore: Duration::from_secs(60),
        ..Delays::instant()
    })
    .await;
    let c = Client::new(&sim);
    let source = active_cluster(&c, "source-slow").await;
    let backup = finished_backup(&c, &source, "b1").await;
    let restores = format!("/api/v1beta/projects/{DEFAULT_PROJECT}/restores");
    let r = c.post(&restores, restore_body(&backup, "restoring")).await;
    status(&r, 200);
    let t = c
        .get(&format!(
            "{restores}/{}",
            r.body["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(t.body["status"], "RUNNING", "{}", t.body);
    assert_eq!(t.body["cluster"]["status"], "CREATING", "{}", t.body);
    let cl = c
        .get(&format!(
            "/v1beta1/clusters/{}",
            r.body["cluster_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(cl.body["state"], "RESTORING", "{}", cl.body);
    // The restored cluster cannot be backed up before it is ACTIVE.
    legacy_err(
        &c.post(
            &backups_uri(DEFAULT_PROJECT, r.body["cluster_id"].as_str().expect("id")),
            json!({"name": "too-early"}),
        )
        .await,
        400,
        "is RESTORING",
    );
    // The new cluster deleted while the restore runs: the task fails.
    let new_cluster = r.body["cluster_id"].as_str().expect("id").to_string();
    let task_uri = format!("{restores}/{}", r.body["id"].as_str().expect("id"));
    status(
        &c.delete(&format!("/v1beta1/clusters/{new_cluster}")).await,
        200,
    );
    wait_for(&c, &format!("/v1beta1/clusters/{new_cluster}"), WAIT, |r| {
        r.status == StatusCode::NOT_FOUND
    })
    .await;
    let t = c.get(&task_uri).await;
    assert_eq!(t.body["status"], "FAILED", "{}", t.body);
    assert_eq!(t.body["cluster"]["status"], "CLEARED", "{}", t.body);
    assert!(
        t.body["error_message"]
            .as_str()
            .is_some_and(|m| m.contains("deleted before the restore finished")),
        "{}",
        t.body
    );
    // The admin reset forgets backups and restore tasks with the clusters.
    status(&c.admin(reqwest::Method::POST, "reset", None).await, 200);
    assert_eq!(c.get(&restores).await.body["total"], 0);
    legacy_err(
        &c.get(&backups_uri(DEFAULT_PROJECT, &source)).await,
        404,
        "not found",
    );
    legacy_err(
        &c.post(&restores, restore_body(&backup, "after-reset"))
            .await,
        404,
        "backup",
    );
}
