//! Conformance of the ClickHouse Cloud calls around a service read (`privateEndpointConfig`,
//! `backupConfiguration`, `serviceQueryEndpoint`, the organization's `privateEndpointConfig`, `keys`, `roles`,
//! and a service's `iamRole`) to the upstream OpenAPI 3.1 spec, with the shared validator of
//! `common/spec.rs`. Errors the spec does not declare (404, 405, 409) are validated against the
//! operation's 400 body, as in `clickhouse_conformance.rs`.
//!
//! Without the spec files the test prints `conformance: SKIPPED — …` and passes, except under CI.
mod common;

use clouddb_sim::{ClickHouseDelays, SimConfig};
use common::spec::{Checker, Spec};
use common::{ChClient, Resp, ch_config, service_body};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const SPEC_FILE: &str = "clickhousectl_clickhouse_cloud_openapi.json";
const INDEX_FILE: &str = "derived_endpoint_index.tsv";
const WAIT: Duration = Duration::from_secs(15);

const SERVICE: &str = "/v1/organizations/{organizationId}/services/{serviceId}";
const SVC_PEC: &str =
    "/v1/organizations/{organizationId}/services/{serviceId}/privateEndpointConfig";
const BACKUP_CONFIG: &str =
    "/v1/organizations/{organizationId}/services/{serviceId}/backupConfiguration";
const QUERY_ENDPOINT: &str =
    "/v1/organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint";
const ORG_PEC: &str = "/v1/organizations/{organizationId}/privateEndpointConfig";
const KEYS: &str = "/v1/organizations/{organizationId}/keys";
const ROLES: &str = "/v1/organizations/{organizationId}/roles";

const EXPECTED_COVERAGE: &[&str] = &[
    "GET /v1/organizations/{organizationId}/services/{serviceId} 200",
    "GET /v1/organizations/{organizationId}/services/{serviceId}/privateEndpointConfig 200",
    "GET /v1/organizations/{organizationId}/services/{serviceId}/privateEndpointConfig 400",
    "GET /v1/organizations/{organizationId}/services/{serviceId}/backupConfiguration 200",
    "GET /v1/organizations/{organizationId}/services/{serviceId}/backupConfiguration 400",
    "PATCH /v1/organizations/{organizationId}/services/{serviceId}/backupConfiguration 200",
    "PATCH /v1/organizations/{organizationId}/services/{serviceId}/backupConfiguration 400",
    "GET /v1/organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint 200",
    "GET /v1/organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint 404",
    "POST /v1/organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint 200",
    "POST /v1/organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint 400",
    "DELETE /v1/organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint 200",
    "DELETE /v1/organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint 404",
    "GET /v1/organizations/{organizationId}/privateEndpointConfig 200",
    "GET /v1/organizations/{organizationId}/privateEndpointConfig 400",
    "GET /v1/organizations/{organizationId}/keys 200",
    "GET /v1/organizations/{organizationId}/keys 405",
    "GET /v1/organizations/{organizationId}/roles 200",
];

fn specs_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CLOUDDB_SPECS_DIR").filter(|d| !d.is_empty()) {
        let d = PathBuf::from(d);
        let nested = d.join("clickhouse");
        return if nested.join(SPEC_FILE).is_file() {
            nested
        } else {
            d
        };
    }
    common::spec::specs_root().join("clickhouse")
}

fn load() -> Option<(Spec, String)> {
    let dir = specs_dir();
    let dir = dir.canonicalize().unwrap_or(dir);
    let missing: Vec<String> = [SPEC_FILE, INDEX_FILE]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        common::spec::skip_or_fail(&missing);
        return None;
    }
    let index = std::fs::read_to_string(dir.join(INDEX_FILE)).expect("endpoint index");
    Some((Spec::load("clickhouse", &dir.join(SPEC_FILE)), index))
}

struct Ck<'a> {
    spec: &'a Spec,
    inner: Checker,
}

impl Ck<'_> {
    fn ok(&mut self, method: &str, template: &str, uri: &str, resp: &Resp, status: u16) {
        self.inner
            .spec(self.spec, method, template, uri, resp, status);
    }

    /// An error status the spec does not declare: the operation's 400 body, `{status, error: "CODE…"}`.
    /// (A 405 is recorded under `GET`, the operation whose error body it is checked against.)
    fn undeclared_error(
        &mut self,
        method: &str,
        template: &str,
        uri: &str,
        resp: &Resp,
        status: u16,
    ) {
        self.inner.common(method, template, uri, resp, status);
        let schema = self
            .spec
            .response_schema(method, template, 400)
            .unwrap_or_else(|e| panic!("{e}"));
        for p in self.spec.validate(schema, &resp.body) {
            self.inner.note(format!(
                "{method} {uri} ({status}) vs the spec's error body: {p}"
            ));
        }
        let code = clouddb_sim::error::clickhouse_code(status);
        let error = resp.body["error"].as_str().unwrap_or_default();
        if resp.body["status"] != status || !error.starts_with(code) {
            self.inner.note(format!(
                "{method} {uri} ({status}): error body {} is not {{status: {status}, error: \"{code}[: …]\"}}",
                resp.body
            ));
        }
    }
}

#[tokio::test]
async fn clickhouse_service_read_calls_conform_to_the_upstream_spec() {
    let Some((spec, index)) = load() else { return };
    for entry in EXPECTED_COVERAGE {
        let mut parts = entry.split(' ');
        let (method, template) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        // The 405 is not an operation of its own.
        let method = if entry.ends_with(" 405") {
            "GET"
        } else {
            method
        };
        assert!(
            index
                .lines()
                .any(|l| l.split('\t').take(2).eq([method, template])),
            "{method} {template} is not in {INDEX_FILE}"
        );
    }
    let sim = common::start(SimConfig {
        clickhouse: ch_config(ClickHouseDelays::instant()),
        ..SimConfig::default()
    })
    .await;
    let c = ChClient::new(&sim);
    let org = c.org.clone();
    let mut ck = Ck {
        spec: &spec,
        inner: Checker::default(),
    };

    let r = c.post("/services", service_body("extras")).await;
    let id = r.body["result"]["service"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    c.wait_state(&id, "running", WAIT).await;
    let svc = format!("/v1/organizations/{org}/services/{id}");
    // The service with its iamRole.
    let r = c.get(&svc).await;
    assert!(r.body["result"]["iamRole"].is_string(), "{}", r.body);
    ck.ok("GET", SERVICE, &svc, &r, 200);
    // Every provider's private endpoint config.
    let mut ids = vec![id.clone()];
    for (provider, region) in [("gcp", "us-east1"), ("azure", "westus3")] {
        let mut b = service_body(&format!("extras {provider}"));
        b["provider"] = json!(provider);
        b["region"] = json!(region);
        let r = c.post("/services", b).await;
        ids.push(
            r.body["result"]["service"]["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    for sid in &ids {
        let uri = format!("/v1/organizations/{org}/services/{sid}/privateEndpointConfig");
        ck.ok("GET", SVC_PEC, &uri, &c.get(&uri).await, 200);
    }
    let uri = format!(
        "/v1/organizations/{org}/services/{}/privateEndpointConfig",
        clouddb_sim::api::new_uuid()
    );
    ck.ok("GET", SVC_PEC, &uri, &c.get(&uri).await, 400);

    // Backup configuration.
    let uri = format!("{svc}/backupConfiguration");
    ck.ok("GET", BACKUP_CONFIG, &uri, &c.get(&uri).await, 200);
    for body in [
        json!({"backupPeriodInHours": 12, "backupRetentionPeriodInHours": 48}),
        json!({"backupStartTime": "02:00"}),
        json!({"backupStartTime": null, "backupPeriodInHours": null}),
    ] {
        ck.ok(
            "PATCH",
            BACKUP_CONFIG,
            &uri,
            &c.patch(&uri, body).await,
            200,
        );
    }
    c.patch(&uri, json!({"backupStartTime": "02:00"})).await;
    ck.ok("GET", BACKUP_CONFIG, &uri, &c.get(&uri).await, 200);
    ck.ok(
        "PATCH",
        BACKUP_CONFIG,
        &uri,
        &c.patch(&uri, json!({"backupRetentionPeriodInHours": 30}))
            .await,
        400,
    );
    let bad = format!("/v1/organizations/{org}/services/not-a-uuid/backupConfiguration");
    ck.ok("GET", BACKUP_CONFIG, &bad, &c.get(&bad).await, 400);

    // Query endpoint.
    let uri = format!("{svc}/serviceQueryEndpoint");
    ck.undeclared_error("GET", QUERY_ENDPOINT, &uri, &c.get(&uri).await, 404);
    ck.undeclared_error("DELETE", QUERY_ENDPOINT, &uri, &c.delete(&uri).await, 404);
    let key = c.get("/keys").await.body["result"][0]["id"].clone();
    let r = c
        .post(
            &uri,
            json!({"roles": ["sql_console_read_only", "sql_console_admin"], "openApiKeys": [key], "allowedOrigins": "a.example,b.example"}),
        )
        .await;
    ck.ok("POST", QUERY_ENDPOINT, &uri, &r, 200);
    ck.ok("GET", QUERY_ENDPOINT, &uri, &c.get(&uri).await, 200);
    ck.ok(
        "POST",
        QUERY_ENDPOINT,
        &uri,
        &c.post(&uri, json!({"roles": ["owner"]})).await,
        400,
    );
    ck.ok("DELETE", QUERY_ENDPOINT, &uri, &c.delete(&uri).await, 200);

    // Organization private endpoint config, keys, roles.
    for (provider, region) in [
        ("aws", "us-west-2"),
        ("gcp", "europe-west4"),
        ("azure", "eastus"),
    ] {
        let uri = format!(
            "/v1/organizations/{org}/privateEndpointConfig?cloud_provider={provider}&region_id={region}"
        );
        ck.ok("GET", ORG_PEC, &uri, &c.get(&uri).await, 200);
    }
    let uri = format!("/v1/organizations/{org}/privateEndpointConfig");
    ck.ok("GET", ORG_PEC, &uri, &c.get(&uri).await, 400);
    let uri = format!("/v1/organizations/{org}/keys");
    ck.ok("GET", KEYS, &uri, &c.get(&uri).await, 200);
    ck.undeclared_error(
        "GET",
        KEYS,
        &uri,
        &c.send(reqwest::Method::PUT, &uri, Some(&json!({}))).await,
        405,
    );
    let uri = format!("/v1/organizations/{org}/roles");
    ck.ok("GET", ROLES, &uri, &c.get(&uri).await, 200);

    ck.inner.verdict(EXPECTED_COVERAGE);
}

// ---- the validator can fail on these schemas -----------------------------------------------------------------

#[test]
fn the_validator_catches_planted_divergences_in_keys_backup_configuration_and_query_endpoints() {
    let Some((spec, _)) = load() else { return };
    let env = |result: Value| json!({"status": 200, "requestId": "0b8f5b7e-5f3a-4f7e-9a55-0e8a9d0c1a2b", "result": result});
    let keys = spec.response_schema("GET", KEYS, 200).expect("keys schema");
    let good = env(
        json!([{"id": "6a4f7c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b", "name": "k", "state": "enabled",
        "roles": ["admin"], "keySuffix": "ab12", "createdAt": "2026-01-01T00:00:00Z", "ipAccessList": [],
        "assignedRoles": [{"roleId": "6a4f7c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b", "roleName": "Admin", "roleType": "system"}]}]),
    );
    assert_eq!(spec.validate(keys, &good), Vec::<String>::new());
    let mut bad = good;
    bad["result"][0]["keySecret"] = json!("4b1d…"); // a secret has no place here
    bad["result"][0]["state"] = json!("active"); // enum
    bad["result"][0]["assignedRoles"][0]["roleType"] = json!("builtin"); // enum
    let problems = spec.validate(keys, &bad);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("$.result[0].keySecret: property not defined"))
    );

    let backup = spec
        .response_schema("GET", BACKUP_CONFIG, 200)
        .expect("backup configuration schema");
    let good = env(json!({"backupPeriodInHours": 24, "backupRetentionPeriodInHours": 24}));
    assert_eq!(spec.validate(backup, &good), Vec::<String>::new());
    let bad = env(json!({"backupPeriodInHours": "24", "backupRetentionHours": 24}));
    let problems = spec.validate(backup, &bad);
    assert_eq!(problems.len(), 2, "{problems:#?}");

    let endpoint = spec
        .response_schema("GET", QUERY_ENDPOINT, 200)
        .expect("query endpoint schema");
    let bad = env(json!({"id": "x", "roles": ["admin"], "openApiKeys": "k", "allowedOrigins": ""}));
    let problems = spec.validate(endpoint, &bad);
    assert_eq!(problems.len(), 2, "{problems:#?}");

    let pec = spec
        .response_schema("GET", SVC_PEC, 200)
        .expect("private endpoint config schema");
    let bad = env(json!({"endpointServiceId": "s", "privateDnsHostName": "h"}));
    assert_eq!(spec.validate(pec, &bad).len(), 1);
}
