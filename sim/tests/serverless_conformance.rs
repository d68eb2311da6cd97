//! Conformance of the Serverless v1beta1 module's responses to the upstream specs
//! `serverless-{cluster,branch,br,import}-v1beta1.swagger.json`, read at test time from
//! `../shared/reference/specs/tidbcloud/` (relative to the repository root) or `$CLOUDDB_SPECS_DIR`.
//!
//! The test drives every operation the module serves through the states a resource passes, and validates
//! each body — successes and errors (`googlerpcStatus` / `Status` / `rpcStatus`, through the operations'
//! declared or `default` responses) — against the schema the spec declares for that (method, path, status),
//! with the shared validator of `common/spec.rs` (which also reports properties the spec does not define).
//!
//! Without the spec files the test prints `conformance: SKIPPED — …` and passes, except under CI.
mod common;

use clouddb_sim::{Delays, QuotaConfig, ServerlessConfig, ServerlessDelays, SimConfig};
use common::spec::{Checker, Spec};
use common::{Client, Resp, serverless_body, wait_for};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const FILES: [&str; 4] = [
    "serverless-cluster-v1beta1.swagger.json",
    "serverless-branch-v1beta1.swagger.json",
    "serverless-br-v1beta1.swagger.json",
    "serverless-import-v1beta1.swagger.json",
];
const WAIT: Duration = Duration::from_secs(10);

const CLUSTERS: &str = "/v1beta1/clusters";
const CLUSTER: &str = "/v1beta1/clusters/{clusterId}";
const PATCH: &str = "/v1beta1/clusters/{cluster.clusterId}";
const PASSWORD: &str = "/v1beta1/clusters/{clusterId}/password";
const BATCH_GET: &str = "/v1beta1/clusters:batchGet";
const BATCH_CREATE: &str = "/v1beta1/clusters:batchCreate";
const REGIONS: &str = "/v1beta1/regions";
const PROVIDERS: &str = "/v1beta1/regions:listCloudProviders";
const BRANCHES: &str = "/v1beta1/clusters/{clusterId}/branches";
const BRANCH: &str = "/v1beta1/clusters/{clusterId}/branches/{branchId}";
const RESET: &str = "/v1beta1/clusters/{clusterId}/branches/{branchId}:reset";
const SQL_USER: &str = "/v1beta1/clusters/{clusterId}/branches/{branchId}/sqlUsers/{username}";
const BACKUPS: &str = "/v1beta1/backups";
const BACKUP: &str = "/v1beta1/backups/{backupId}";
const RESTORE: &str = "/v1beta1/clusters:restore";
const IMPORTS: &str = "/v1beta1/clusters/{clusterId}/imports";
const IMPORT: &str = "/v1beta1/clusters/{clusterId}/imports/{id}";
const CANCEL: &str = "/v1beta1/clusters/{clusterId}/imports/{id}:cancel";
const START_UPLOAD: &str = "/v1beta1/clusters/{clusterId}/imports:startUpload";
const COMPLETE_UPLOAD: &str = "/v1beta1/clusters/{clusterId}/imports:completeUpload";
const CANCEL_UPLOAD: &str = "/v1beta1/clusters/{clusterId}/imports:cancelUpload";

/// Every operation the module serves, with the statuses validated.
const EXPECTED_COVERAGE: &[&str] = &[
    "GET /v1beta1/clusters 200",
    "GET /v1beta1/clusters 400",
    "GET /v1beta1/clusters 401",
    "GET /v1beta1/clusters 429",
    "POST /v1beta1/clusters 200",
    "POST /v1beta1/clusters 400",
    "GET /v1beta1/clusters/{clusterId} 200",
    "GET /v1beta1/clusters/{clusterId} 400",
    "GET /v1beta1/clusters/{clusterId} 404",
    "PATCH /v1beta1/clusters/{cluster.clusterId} 200",
    "PATCH /v1beta1/clusters/{cluster.clusterId} 400",
    "DELETE /v1beta1/clusters/{clusterId} 200",
    "PUT /v1beta1/clusters/{clusterId}/password 200",
    "PUT /v1beta1/clusters/{clusterId}/password 400",
    "GET /v1beta1/clusters:batchGet 200",
    "GET /v1beta1/clusters:batchGet 404",
    "POST /v1beta1/clusters:batchCreate 200",
    "GET /v1beta1/regions 200",
    "GET /v1beta1/regions:listCloudProviders 200",
    "GET /v1beta1/clusters/{clusterId}/branches 200",
    "POST /v1beta1/clusters/{clusterId}/branches 200",
    "POST /v1beta1/clusters/{clusterId}/branches 400",
    "GET /v1beta1/clusters/{clusterId}/branches/{branchId} 200",
    "GET /v1beta1/clusters/{clusterId}/branches/{branchId} 404",
    "DELETE /v1beta1/clusters/{clusterId}/branches/{branchId} 200",
    "POST /v1beta1/clusters/{clusterId}/branches/{branchId}:reset 200",
    "PATCH /v1beta1/clusters/{clusterId}/branches/{branchId}/sqlUsers/{username} 200",
    "GET /v1beta1/backups 200",
    "GET /v1beta1/backups 400",
    "GET /v1beta1/backups/{backupId} 200",
    "DELETE /v1beta1/backups/{backupId} 200",
    "POST /v1beta1/clusters:restore 200",
    "POST /v1beta1/clusters:restore 400",
    "GET /v1beta1/clusters/{clusterId}/imports 200",
    "POST /v1beta1/clusters/{clusterId}/imports 200",
    "POST /v1beta1/clusters/{clusterId}/imports 400",
    "GET /v1beta1/clusters/{clusterId}/imports/{id} 200",
    "GET /v1beta1/clusters/{clusterId}/imports/{id} 404",
    "POST /v1beta1/clusters/{clusterId}/imports/{id}:cancel 200",
    "POST /v1beta1/clusters/{clusterId}/imports:startUpload 200",
    "POST /v1beta1/clusters/{clusterId}/imports:completeUpload 200",
    "POST /v1beta1/clusters/{clusterId}/imports:cancelUpload 200",
];

fn specs_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CLOUDDB_SPECS_DIR").filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        let nested = d.join("tidbcloud");
        return if nested.join(FILES[0]).is_file() {
            nested
        } else {
            d
        };
    }
    common::spec::specs_root().join("tidbcloud")
}

/// The four specs (cluster, branch, br, import), or `None` when one is missing outside CI.
fn load() -> Option<Vec<Spec>> {
    let dir = specs_dir();
    let dir = dir.canonicalize().unwrap_or(dir);
    let missing: Vec<String> = FILES
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        common::spec::skip_or_fail(&missing);
        return None;
    }
    let labels = [
        "serverless-cluster",
        "serverless-branch",
        "serverless-br",
        "serverless-import",
    ];
    Some(
        FILES
            .iter()
            .zip(labels)
            .map(|(f, l)| Spec::load(l, &dir.join(f)))
            .collect(),
    )
}

struct Ck<'a> {
    specs: &'a [Spec],
    inner: Checker,
}

impl Ck<'_> {
    /// Validates `resp` against the spec that defines `template` (the first one whose paths hold it).
    fn check(&mut self, method: &Method, template: &str, uri: &str, resp: &Resp, status: u16) {
        let spec = self
            .specs
            .iter()
            .find(|s| s.response_schema(method.as_str(), template, status).is_ok())
            .unwrap_or_else(|| panic!("no serverless spec defines {method} {template}"));
        self.inner
            .spec(spec, method.as_str(), template, uri, resp, status);
    }
}

fn str_at<'v>(v: &'v Value, ptr: &str) -> &'v str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {ptr} in {v}"))
}

#[tokio::test]
async fn serverless_responses_conform_to_the_upstream_specs() {
    let Some(specs) = load() else { return };
    let sim = common::start(SimConfig {
        quota: QuotaConfig {
            limit: 100_000,
            window: Duration::from_secs(60),
        },
        delays: Delays {
            import_prepare: Duration::from_millis(200),
            import_run: Duration::from_millis(600),
            import_cancel: Duration::from_millis(200),
            ..Delays::instant()
        },
        serverless: ServerlessConfig {
            delays: ServerlessDelays {
                cluster_create: Duration::from_millis(300),
                branch_create: Duration::from_millis(300),
                branch_reset: Duration::from_millis(300),
                restore: Duration::from_millis(300),
                ..ServerlessDelays::instant()
            },
            ..ServerlessConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = Client::serverless(&sim);
    let mut ck = Ck {
        specs: &specs,
        inner: Checker::default(),
    };
    let g = Method::GET;
    let post = Method::POST;

    // Clusters: create (CREATING), get through ACTIVE, an Essential one too.
    let r = c.post(CLUSTERS, serverless_body("conform-1")).await;
    ck.check(&post, CLUSTERS, CLUSTERS, &r, 200);
    let id = str_at(&r.body, "/clusterId").to_string();
    let uri = format!("{CLUSTERS}/{id}");
    let r = c.get(&uri).await;
    ck.check(&g, CLUSTER, &uri, &r, 200);
    let r = wait_for(&c, &uri, WAIT, |r| r.body["state"] == "ACTIVE").await;
    ck.check(&g, CLUSTER, &uri, &r, 200);
    let r = c.get(&format!("{uri}?view=BASIC")).await;
    ck.check(&g, CLUSTER, &uri, &r, 200);
    let essential = json!({"displayName": "conform-e", "region": {"name": "regions/aws-us-west-2"}, "autoScaling": {"minRcu": 2000, "maxRcu": 4000}, "highAvailabilityType": "REGIONAL", "auditLogConfig": {"enabled": true}});
    let r = c.post(CLUSTERS, essential).await;
    ck.check(&post, CLUSTERS, CLUSTERS, &r, 200);
    let eid = str_at(&r.body, "/clusterId").to_string();
    let r = c.post(CLUSTERS, json!({"displayName": "x"})).await;
    ck.check(&post, CLUSTERS, CLUSTERS, &r, 400);
    let r = c.get(&format!("{CLUSTERS}/987654321")).await;
    ck.check(&g, CLUSTER, "/v1beta1/clusters/987654321", &r, 404);
    let r = c.get(&format!("{CLUSTERS}/abc")).await;
    ck.check(&g, CLUSTER, "/v1beta1/clusters/abc", &r, 400);

    // Lists and batches.
    let r = c.get(&format!("{CLUSTERS}?pageSize=1")).await;
    ck.check(&g, CLUSTERS, CLUSTERS, &r, 200);
    let r = c.get(&format!("{CLUSTERS}?filter=size%3D1")).await;
    ck.check(&g, CLUSTERS, CLUSTERS, &r, 400);
    let r = c
        .get(&format!("{BATCH_GET}?clusterIds={id}&clusterIds={eid}"))
        .await;
    ck.check(&g, BATCH_GET, BATCH_GET, &r, 200);
    let r = c.get(&format!("{BATCH_GET}?clusterIds=987654321")).await;
    ck.check(&g, BATCH_GET, BATCH_GET, &r, 404);
    let r = c
        .post(
            BATCH_CREATE,
            json!({"requests": [{"cluster": serverless_body("conform-b")}]}),
        )
        .await;
    ck.check(&post, BATCH_CREATE, BATCH_CREATE, &r, 200);
    let r = c.get(REGIONS).await;
    ck.check(&g, REGIONS, REGIONS, &r, 200);
    let r = c.get(PROVIDERS).await;
    ck.check(&g, PROVIDERS, PROVIDERS, &r, 200);

    // Patch and password.
    let r = c
        .patch(&uri, json!({"cluster": {"displayName": "conform-one", "endpoints": {"public": {"authorizedNetworks": [{"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.2", "displayName": "a"}]}}}, "updateMask": "displayName,endpoints.public.authorizedNetworks"}))
        .await;
    ck.check(&Method::PATCH, PATCH, &uri, &r, 200);
    let r = c
        .patch(&uri, json!({"cluster": {}, "updateMask": "region"}))
        .await;
    ck.check(&Method::PATCH, PATCH, &uri, &r, 400);
    let pw = format!("{uri}/password");
    let r = c.put(&pw, json!({"password": "a-new-password"})).await;
    ck.check(&Method::PUT, PASSWORD, &pw, &r, 200);
    let r = c.put(&pw, json!({"password": "x"})).await;
    ck.check(&Method::PUT, PASSWORD, &pw, &r, 400);

    // Branches.
    let branches = format!("{uri}/branches");
    let r = c.post(&branches, json!({"displayName": "pr-1"})).await;
    ck.check(&post, BRANCHES, &branches, &r, 200);
    let bid = str_at(&r.body, "/branchId").to_string();
    let buri = format!("{branches}/{bid}");
    let r = c.post(&branches, json!({})).await;
    ck.check(&post, BRANCHES, &branches, &r, 400);
    let r = wait_for(&c, &buri, WAIT, |r| r.body["state"] == "ACTIVE").await;
    ck.check(&g, BRANCH, &buri, &r, 200);
    let r = c.get(&format!("{buri}?view=BASIC")).await;
    ck.check(&g, BRANCH, &buri, &r, 200);
    let r = c.get(&format!("{branches}/bran-none")).await;
    ck.check(&g, BRANCH, &format!("{branches}/bran-none"), &r, 404);
    let r = c.get(&branches).await;
    ck.check(&g, BRANCHES, &branches, &r, 200);
    let user = format!("{}.root", str_at(&r.body, "/branches/0/userPrefix"));
    let su = format!("{buri}/sqlUsers/{user}");
    let r = c.patch(&su, json!({"password": "branch-pass-1"})).await;
    ck.check(&Method::PATCH, SQL_USER, &su, &r, 200);
    let r = c.post(&format!("{buri}:reset"), json!({})).await;
    ck.check(&post, RESET, &format!("{buri}:reset"), &r, 200);
    let r = wait_for(&c, &buri, WAIT, |r| r.body["state"] == "ACTIVE").await;
    ck.check(&g, BRANCH, &buri, &r, 200);
    let r = c.delete(&buri).await;
    ck.check(&Method::DELETE, BRANCH, &buri, &r, 200);

    // Backups and restore.
    let r = c.get(&format!("{BACKUPS}?clusterId={id}")).await;
    ck.check(&g, BACKUPS, BACKUPS, &r, 200);
    let backup = str_at(&r.body, "/backups/0/backupId").to_string();
    let r = c.get(BACKUPS).await;
    ck.check(&g, BACKUPS, BACKUPS, &r, 400);
    let b = format!("{BACKUPS}/{backup}");
    let r = c.get(&b).await;
    ck.check(&g, BACKUP, &b, &r, 200);
    let r = c
        .post(RESTORE, json!({"snapshot": {"backupId": backup}}))
        .await;
    ck.check(&post, RESTORE, RESTORE, &r, 200);
    let restored = format!("{CLUSTERS}/{}", str_at(&r.body, "/clusterId"));
    let r = c.get(&restored).await;
    ck.check(&g, CLUSTER, &restored, &r, 200);
    let r = c.post(RESTORE, json!({})).await;
    ck.check(&post, RESTORE, RESTORE, &r, 400);
    let r = c.delete(&b).await;
    ck.check(&Method::DELETE, BACKUP, &b, &r, 200);

    // Imports.
    let imports = format!("{uri}/imports");
    let body = json!({"importOptions": {"fileType": "CSV", "csvFormat": {"separator": ",", "null": "\\N", "header": true}}, "source": {"type": "S3", "s3": {"uri": "s3://b/p/", "authType": "ACCESS_KEY", "accessKey": {"id": "i", "secret": "s"}}}});
    let r = c.post(&imports, body.clone()).await;
    ck.check(&post, IMPORTS, &imports, &r, 200);
    let iuri = format!("{imports}/{}", str_at(&r.body, "/importId"));
    let r = c.post(&imports, json!({"source": {"type": "S3"}})).await;
    ck.check(&post, IMPORTS, &imports, &r, 400);
    for r in common::observe_until(&c, &iuri, WAIT, |r| r.body["state"] == "COMPLETED").await {
        ck.check(&g, IMPORT, &iuri, &r, 200);
    }
    let r = c.get(&format!("{imports}/987")).await;
    ck.check(&g, IMPORT, &format!("{imports}/987"), &r, 404);
    let r = c.post(&imports, body).await;
    let curi = format!("{imports}/{}:cancel", str_at(&r.body, "/importId"));
    let r = c.post(&curi, json!({})).await;
    ck.check(&post, CANCEL, &curi, &r, 200);
    let start =
        format!("{imports}:startUpload?fileName=a.csv&partNumber=1&targetDatabase=d&targetTable=t");
    let r = c.post(&start, json!({})).await;
    ck.check(&post, START_UPLOAD, &start, &r, 200);
    let upload = str_at(&r.body, "/uploadId").to_string();
    let done = format!("{imports}:completeUpload?uploadId={upload}");
    let r = c.post(&done, json!([{"partNumber": 1, "etag": "e"}])).await;
    ck.check(&post, COMPLETE_UPLOAD, &done, &r, 200);
    let r = c
        .post(&imports, json!({"importOptions": {"fileType": "CSV"}, "source": {"type": "LOCAL", "local": {"uploadId": upload, "targetDatabase": "d", "targetTable": "t"}}}))
        .await;
    ck.check(&post, IMPORTS, &imports, &r, 200);
    let r = c.post(&start, json!({})).await;
    let cancel = format!(
        "{imports}:cancelUpload?uploadId={}",
        str_at(&r.body, "/uploadId")
    );
    let r = c.post(&cancel, json!({})).await;
    ck.check(&post, CANCEL_UPLOAD, &cancel, &r, 200);
    let r = c.get(&imports).await;
    ck.check(&g, IMPORTS, &imports, &r, 200);

    // Delete, then the gateway's 401 and 429.
    let r = c.delete(&uri).await;
    ck.check(&Method::DELETE, CLUSTER, &uri, &r, 200);
    let anonymous = common::http_client(&sim)
        .get(format!("{}{CLUSTERS}", sim.serverless_base_url()))
        .send()
        .await
        .expect("request");
    let r = common::read(anonymous).await.expect("body");
    ck.check(&g, CLUSTERS, CLUSTERS, &r, 401);
    c.admin(
        Method::POST,
        "faults",
        Some(json!({"kind": "throttle", "count": 1})),
    )
    .await;
    let r = c.get(CLUSTERS).await;
    ck.check(&g, CLUSTERS, CLUSTERS, &r, 429);

    ck.inner.verdict(EXPECTED_COVERAGE);
}

/// The validator is not vacuous here: planted mistakes in a real answer are reported.
#[tokio::test]
async fn planted_mistakes_in_serverless_answers_are_reported() {
    let Some(specs) = load() else { return };
    let sim = common::start(SimConfig {
        serverless: ServerlessConfig {
            delays: ServerlessDelays::instant(),
            ..ServerlessConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = Client::serverless(&sim);
    let r = c.post(CLUSTERS, serverless_body("planted")).await;
    let cluster = &specs[0];
    let schema = cluster.response_schema("GET", CLUSTER, 200).unwrap();
    assert!(cluster.validate(schema, &r.body).is_empty());
    let mut bad = r.body.clone();
    bad["autoScaling"] = json!({"minRcu": "2000", "maxRcu": 1});
    bad["spendingLimit"]["monthly"] = json!("5");
    bad["userPrefx"] = json!("x");
    let problems = cluster.validate(schema, &bad).join("\n");
    for want in [
        "$.autoScaling.minRcu",
        "$.spendingLimit.monthly",
        "$.userPrefx",
    ] {
        assert!(
            problems.contains(want),
            "{want} not reported in:\n{problems}"
        );
    }
}
