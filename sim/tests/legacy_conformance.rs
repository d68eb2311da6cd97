//! Conformance of the legacy v1beta routes (projects list, backups, restores) to the upstream legacy spec
//! `legacy-v1beta.json` (Swagger 2.0, c4pt0r/go-tidbcloud-sdk-v1's copy of the official spec), read at test
//! time from `../shared/reference/specs/tidbcloud/` or `$CLOUDDB_SPECS_DIR`, with the shared validator of
//! `common/spec.rs` (which also reports properties the spec does not define).
//!
//! Without the spec file the test prints `conformance: SKIPPED — …` and passes, except under CI.
mod common;

use clouddb_sim::{Delays, QuotaConfig, SimConfig};
use common::spec::{Checker, Spec};
use common::{Client, cluster_body, observe_until, wait_for};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const SPEC_FILE: &str = "legacy-v1beta.json";
const WAIT: Duration = Duration::from_secs(15);
const PROJECT: &str = "1372813089454525346";

const PROJECTS: &str = "/api/v1beta/projects";
const BACKUPS: &str = "/api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups";
const BACKUP: &str = "/api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups/{backup_id}";
const RESTORES: &str = "/api/v1beta/projects/{project_id}/restores";
const RESTORE: &str = "/api/v1beta/projects/{project_id}/restores/{restore_id}";

const EXPECTED_COVERAGE: &[&str] = &[
    "GET /api/v1beta/projects 200",
    "GET /api/v1beta/projects 400",
    "GET /api/v1beta/projects 401",
    "GET /api/v1beta/projects 429",
    "GET /api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups 200",
    "GET /api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups 400",
    "GET /api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups 404",
    "POST /api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups 200",
    "POST /api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups 400",
    "POST /api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups 404",
    "GET /api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups/{backup_id} 200",
    "GET /api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups/{backup_id} 400",
    "GET /api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups/{backup_id} 404",
    "DELETE /api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups/{backup_id} 200",
    "DELETE /api/v1beta/projects/{project_id}/clusters/{cluster_id}/backups/{backup_id} 404",
    "GET /api/v1beta/projects/{project_id}/restores 200",
    "GET /api/v1beta/projects/{project_id}/restores 400",
    "GET /api/v1beta/projects/{project_id}/restores 404",
    "POST /api/v1beta/projects/{project_id}/restores 200",
    "POST /api/v1beta/projects/{project_id}/restores 400",
    "POST /api/v1beta/projects/{project_id}/restores 404",
    "GET /api/v1beta/projects/{project_id}/restores/{restore_id} 200",
    "GET /api/v1beta/projects/{project_id}/restores/{restore_id} 404",
];

/// `$CLOUDDB_SPECS_DIR` (the `specs/` directory or its `tidbcloud/` subdirectory), else the shared one.
fn specs_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CLOUDDB_SPECS_DIR").filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        let nested = d.join("tidbcloud");
        return if nested.join(SPEC_FILE).is_file() {
            nested
        } else {
            d
        };
    }
    common::spec::specs_root().join("tidbcloud")
}

fn load() -> Option<Spec> {
    let dir = specs_dir();
    let dir = dir.canonicalize().unwrap_or(dir);
    let path = dir.join(SPEC_FILE);
    if !path.is_file() {
        common::spec::skip_or_fail(&[path.display().to_string()]);
        return None;
    }
    Some(Spec::load("legacy-v1beta", &path))
}

fn restore_body(backup: &str, name: &str) -> Value {
    json!({
        "backup_id": backup,
        "name": name,
        "config": {
            "root_password": "restored-pass-1",
            "components": {
                "tidb": {"node_size": "8C16G", "node_quantity": 1},
                "tikv": {"node_size": "8C32G", "storage_size_gib": 500, "node_quantity": 3}
            }
        }
    })
}

#[tokio::test]
async fn legacy_responses_conform_to_the_upstream_spec() {
    let Some(spec) = load() else { return };
    let sim = common::start(SimConfig {
        delays: Delays {
            cluster_create: Duration::from_millis(100),
            backup_start: Duration::from_millis(300),
            backup_run: Duration::from_millis(300),
            restore: Duration::from_millis(300),
            ..Delays::fast()
        },
        quota: QuotaConfig {
            limit: 100_000,
            window: Duration::from_secs(60),
        },
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let mut ck = Checker::default();
    macro_rules! check {
        ($method:expr, $template:expr, $uri:expr, $resp:expr, $status:expr) => {
            ck.spec(&spec, $method, $template, $uri, $resp, $status)
        };
    }

    // ---- projects ----
    let r = c.get(PROJECTS).await;
    check!("GET", PROJECTS, PROJECTS, &r, 200);
    let uri = format!("{PROJECTS}?page=1&page_size=1");
    check!("GET", PROJECTS, &uri, &c.get(&uri).await, 200);
    let uri = format!("{PROJECTS}?page=-1");
    check!("GET", PROJECTS, &uri, &c.get(&uri).await, 400);

    // ---- a cluster and its backups ----
    let r = c
        .post("/v1beta1/clusters", cluster_body("conformance"))
        .await;
    let cluster = r.body["clusterId"].as_str().expect("clusterId").to_string();
    wait_for(&c, &format!("/v1beta1/clusters/{cluster}"), WAIT, |r| {
        r.body["state"] == "ACTIVE"
    })
    .await;
    // The projects list with a cluster counted.
    check!("GET", PROJECTS, PROJECTS, &c.get(PROJECTS).await, 200);

    let list = format!("/api/v1beta/projects/{PROJECT}/clusters/{cluster}/backups");
    let r = c
        .post(&list, json!({"name": "backup-1", "description": "nightly"}))
        .await;
    check!("POST", BACKUPS, &list, &r, 200);
    let backup = r.body["id"].as_str().expect("id").to_string();
    let uri = format!("{list}/{backup}");
    // Every state the backup passes.
    for r in observe_until(&c, &uri, WAIT, |r| r.body["status"] == "SUCCESS").await {
        check!("GET", BACKUP, &uri, &r, 200);
    }
    let failing = c.post(&list, json!({"name": "sim-fail-backup"})).await;
    check!("POST", BACKUPS, &list, &failing, 200);
    let failing_uri = format!("{list}/{}", failing.body["id"].as_str().expect("id"));
    for r in observe_until(&c, &failing_uri, WAIT, |r| r.body["status"] == "FAILED").await {
        check!("GET", BACKUP, &failing_uri, &r, 200);
    }
    check!("GET", BACKUPS, &list, &c.get(&list).await, 200);
    let paged = format!("{list}?page=2&page_size=1");
    check!("GET", BACKUPS, &paged, &c.get(&paged).await, 200);
    let bad_page = format!("{list}?page_size=0");
    check!("GET", BACKUPS, &bad_page, &c.get(&bad_page).await, 400);
    let unknown_cluster = format!("/api/v1beta/projects/{PROJECT}/clusters/42/backups");
    check!(
        "GET",
        BACKUPS,
        &unknown_cluster,
        &c.get(&unknown_cluster).await,
        404
    );
    check!(
        "POST",
        BACKUPS,
        &list,
        &c.post(&list, json!({"description": "x"})).await,
        400
    );
    check!(
        "POST",
        BACKUPS,
        &unknown_cluster,
        &c.post(&unknown_cluster, json!({"name": "x"})).await,
        404
    );
    let bad_id = format!("{list}/not-a-number");
    check!("GET", BACKUP, &bad_id, &c.get(&bad_id).await, 400);
    let missing = format!("{list}/42");
    check!("GET", BACKUP, &missing, &c.get(&missing).await, 404);

    // ---- restores ----
    let restores = format!("/api/v1beta/projects/{PROJECT}/restores");
    let r = c.post(&restores, restore_body(&backup, "restored")).await;
    check!("POST", RESTORES, &restores, &r, 200);
    let task = format!("{restores}/{}", r.body["id"].as_str().expect("id"));
    let new_cluster = r.body["cluster_id"]
        .as_str()
        .expect("cluster_id")
        .to_string();
    for r in observe_until(&c, &task, WAIT, |r| r.body["status"] == "SUCCESS").await {
        check!("GET", RESTORE, &task, &r, 200);
    }
    check!("GET", RESTORES, &restores, &c.get(&restores).await, 200);
    let bad_page = format!("{restores}?page=zero");
    check!("GET", RESTORES, &bad_page, &c.get(&bad_page).await, 400);
    let other = "/api/v1beta/projects/42/restores";
    check!("GET", RESTORES, other, &c.get(other).await, 404);
    check!(
        "POST",
        RESTORES,
        &restores,
        &c.post(&restores, restore_body(&backup, "x")).await,
        400
    );
    check!(
        "POST",
        RESTORES,
        &restores,
        &c.post(&restores, restore_body("42", "restored-2")).await,
        404
    );
    let missing = format!("{restores}/42");
    check!("GET", RESTORE, &missing, &c.get(&missing).await, 404);
    // The restored cluster deleted: `CLEARED`.
    c.delete(&format!("/v1beta1/clusters/{new_cluster}")).await;
    wait_for(&c, &format!("/v1beta1/clusters/{new_cluster}"), WAIT, |r| {
        r.status == StatusCode::NOT_FOUND
    })
    .await;
    let r = c.get(&task).await;
    assert_eq!(r.body["cluster"]["status"], "CLEARED");
    check!("GET", RESTORE, &task, &r, 200);

    // ---- delete a backup ----
    check!("DELETE", BACKUP, &uri, &c.delete(&uri).await, 200);
    check!("DELETE", BACKUP, &uri, &c.delete(&uri).await, 404);

    // ---- gateway answers on a legacy path ----
    let anon = common::read(
        common::http_client(&sim)
            .get(format!("{}{PROJECTS}", sim.base_url()))
            .send()
            .await
            .expect("send"),
    )
    .await
    .expect("body");
    check!("GET", PROJECTS, PROJECTS, &anon, 401);
    let r = c
        .admin(
            Method::POST,
            "faults",
            Some(json!({"kind": "throttle", "count": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    check!("GET", PROJECTS, PROJECTS, &c.get(PROJECTS).await, 429);

    ck.verdict(EXPECTED_COVERAGE);
}

// ---- the validator can fail on this spec ------------------------------------------------------------------

#[test]
fn the_validator_catches_planted_divergences_in_legacy_bodies() {
    let Some(spec) = load() else { return };
    let backup = spec
        .response_schema("GET", BACKUP, 200)
        .expect("GetBackupOfCluster schema");
    let good = json!({"id": "1", "name": "b", "description": "", "type": "MANUAL",
        "create_timestamp": "2026-01-01T00:00:00Z", "size": "1024", "status": "SUCCESS"});
    assert_eq!(spec.validate(backup, &good), Vec::<String>::new());
    let mut bad = good.clone();
    bad["type"] = json!("DAILY"); // not in the enum
    bad["size"] = json!(1024); // a uint64 string in the spec
    bad["create_timestamp"] = json!("yesterday"); // date-time
    bad["colour"] = json!("red"); // undefined
    let problems = spec.validate(backup, &bad);
    for want in [
        "$.type: \"DAILY\" is not one of the enum values",
        "$.size: expected string (uint64), got integer",
        "$.create_timestamp: \"yesterday\" is not an RFC 3339 date-time",
        "$.colour: property not defined by the spec",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "{want:?} not in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 4, "{problems:#?}");

    let projects = spec
        .response_schema("GET", PROJECTS, 200)
        .expect("ListProjects schema");
    let good = json!({"items": [{"id": "1", "org_id": "2", "name": "default", "cluster_count": 1,
        "user_count": 1, "create_timestamp": "1656991448", "aws_cmek_enabled": false}], "total": 1});
    assert_eq!(spec.validate(projects, &good), Vec::<String>::new());
    let mut bad = good;
    bad.as_object_mut().expect("object").remove("total"); // required
    bad["items"][0]["cluster_count"] = json!("1"); // int64 number
    bad["items"][0]["clusterCount"] = json!(1); // camelCase, undefined
    let problems = spec.validate(projects, &bad);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("missing required property `total`"))
    );

    let restore = spec
        .response_schema("GET", RESTORE, 200)
        .expect("GetRestore schema");
    let bad = json!({"id": "1", "backup_id": "2", "cluster_id": "3", "status": "DONE",
        "create_timestamp": "2026-01-01T00:00:00Z", "cluster": {"id": "4", "name": "n", "status": "AVAILABLE", "port": 4000},
        "error_message": ""});
    let problems = spec.validate(restore, &bad);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems.iter().any(|p| p.starts_with("$.status: \"DONE\"")));
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("$.cluster.port: property not defined"))
    );
}
