//! Conformance of the ClickHouse Cloud module's responses to the upstream OpenAPI 3.1 spec
//! (`clickhousectl_clickhouse_cloud_openapi.json` from ClickHouse/clickhousectl), read at test time from
//! `../shared/reference/specs/clickhouse/` (relative to the repository root) or `$CLOUDDB_SPECS_DIR`.
//!
//! The test drives every implemented operation through every state a service passes, and validates each
//! body against the schema the spec declares for that (method, path, status) — with the shared validator of
//! `common/spec.rs`, which also reports properties the spec does not define and, for OpenAPI 3.1, value
//! constraints (memory multiples of 4 within 8–356, tag patterns, UUID formats). The spec declares only 400
//! and 500 error bodies; the 401, 404, 409 and 429 the real API also answers are validated against the
//! operation's 400 schema (the error body is the same `{status, error, requestId}`).
//!
//! It also checks that every operation the simulator serves is in `derived_endpoint_index.tsv`.
//!
//! Without the spec files the test prints `conformance: SKIPPED — …` and passes, except under CI.
mod common;

use clouddb_sim::{ApiKey, ClickHouseConfig, ClickHouseDelays, QuotaConfig, SimConfig};
use common::spec::{Checker, Spec};
use common::{ChClient, Resp, service_body};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const SPEC_FILE: &str = "clickhousectl_clickhouse_cloud_openapi.json";
const INDEX_FILE: &str = "derived_endpoint_index.tsv";
const WAIT: Duration = Duration::from_secs(15);

const ORGS: &str = "/v1/organizations";
const ORG: &str = "/v1/organizations/{organizationId}";
const SERVICES: &str = "/v1/organizations/{organizationId}/services";
const SERVICE: &str = "/v1/organizations/{organizationId}/services/{serviceId}";
const STATE: &str = "/v1/organizations/{organizationId}/services/{serviceId}/state";
const SCALING: &str = "/v1/organizations/{organizationId}/services/{serviceId}/replicaScaling";
const PASSWORD: &str = "/v1/organizations/{organizationId}/services/{serviceId}/password";

/// Every operation the module serves, with the statuses validated.
const EXPECTED_COVERAGE: &[&str] = &[
    "GET /v1/organizations 200",
    "GET /v1/organizations 401",
    "GET /v1/organizations 429",
    "GET /v1/organizations/{organizationId} 200",
    "GET /v1/organizations/{organizationId} 400",
    "GET /v1/organizations/{organizationId}/services 200",
    "GET /v1/organizations/{organizationId}/services 400",
    "GET /v1/organizations/{organizationId}/services 404",
    "GET /v1/organizations/{organizationId}/services 500",
    "POST /v1/organizations/{organizationId}/services 200",
    "POST /v1/organizations/{organizationId}/services 400",
    "GET /v1/organizations/{organizationId}/services/{serviceId} 200",
    "GET /v1/organizations/{organizationId}/services/{serviceId} 400",
    "GET /v1/organizations/{organizationId}/services/{serviceId} 404",
    "PATCH /v1/organizations/{organizationId}/services/{serviceId} 200",
    "PATCH /v1/organizations/{organizationId}/services/{serviceId} 400",
    "DELETE /v1/organizations/{organizationId}/services/{serviceId} 200",
    "DELETE /v1/organizations/{organizationId}/services/{serviceId} 409",
    "PATCH /v1/organizations/{organizationId}/services/{serviceId}/state 200",
    "PATCH /v1/organizations/{organizationId}/services/{serviceId}/state 400",
    "PATCH /v1/organizations/{organizationId}/services/{serviceId}/replicaScaling 200",
    "PATCH /v1/organizations/{organizationId}/services/{serviceId}/replicaScaling 400",
    "PATCH /v1/organizations/{organizationId}/services/{serviceId}/password 200",
    "PATCH /v1/organizations/{organizationId}/services/{serviceId}/password 400",
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

/// The spec and the endpoint index, or `None` when missing outside CI.
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
    /// A response the spec declares for this status.
    fn ok(&mut self, method: &str, template: &str, uri: &str, resp: &Resp, status: u16) {
        self.inner
            .spec(self.spec, method, template, uri, resp, status);
    }

    /// An error status the spec does not declare: validated against the operation's 400 body, and checked
    /// to be the documented `{status, error: "CODE[: detail]"}` shape.
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
        if resp.body["status"] != status
            || !(error == code || error.starts_with(&format!("{code}: ")))
        {
            self.inner.note(format!(
                "{method} {uri} ({status}): error body {} is not {{status: {status}, error: \"{code}[: …]\"}}",
                resp.body
            ));
        }
    }
}

#[tokio::test]
async fn clickhouse_responses_conform_to_the_upstream_spec() {
    let Some((spec, index)) = load() else { return };
    // Every implemented operation is a real one.
    for entry in EXPECTED_COVERAGE {
        let mut parts = entry.split(' ');
        let (method, template) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        assert!(
            index
                .lines()
                .any(|l| l.split('\t').take(2).eq([method, template])),
            "{method} {template} is not in {INDEX_FILE}"
        );
    }

    let delays = ClickHouseDelays {
        provision: Duration::from_millis(200),
        stop: Duration::from_millis(200),
        start: Duration::from_millis(200),
        awake: Duration::from_millis(200),
        terminate: Duration::from_millis(200),
        idle_after: None,
        delete_conflict_after_stop: Duration::ZERO,
    };
    let sim = common::start(SimConfig {
        clickhouse: ClickHouseConfig {
            quota: QuotaConfig {
                limit: 100_000,
                window: Duration::from_secs(60),
            },
            delays,
            ..ClickHouseConfig::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = ChClient::new(&sim);
    let org = c.org.clone();
    let mut ck = Ck {
        spec: &spec,
        inner: Checker::default(),
    };
    let svc_uri = |id: &str| format!("/v1/organizations/{org}/services/{id}");

    // ---- organizations ----
    ck.ok("GET", ORGS, ORGS, &c.get(ORGS).await, 200);
    let uri = format!("/v1/organizations/{org}");
    ck.ok("GET", ORG, &uri, &c.get(&uri).await, 200);
    let uri = format!("/v1/organizations/{}", clouddb_sim::api::new_uuid());
    ck.ok("GET", ORG, &uri, &c.get(&uri).await, 400);

    // ---- create: every optional field the simulator keeps, and a minimal body ----
    let services = format!("/v1/organizations/{org}/services");
    let mut full = service_body("conformance full");
    full["numReplicas"] = json!(2);
    full["idleScaling"] = json!(true);
    full["idleTimeoutMinutes"] = json!(10);
    full["releaseChannel"] = json!("fast");
    full["endpoints"] = json!([{"protocol": "mysql", "enabled": true}]);
    full["enableCoreDumps"] = json!(false);
    full["privateEndpointIds"] = json!(["vpce-0123"]);
    full["encryptionKey"] = json!("arn:aws:kms:us-east-2:123456789012:key/abc");
    full["encryptionAssumedRoleIdentifier"] = json!("arn:aws:iam::123456789012:role/ch");
    full["profile"] = json!("v1-default");
    full["complianceType"] = json!("hipaa");
    full["tags"] = json!([{"key": "env", "value": "prod"}, {"key": "bare"}]);
    let r = c.post(&services, full).await;
    ck.ok("POST", SERVICES, &services, &r, 200);
    let id = r.body["result"]["service"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = c
        .post(
            &services,
            json!({"name": "minimal", "provider": "gcp", "region": "europe-west4"}),
        )
        .await;
    ck.ok("POST", SERVICES, &services, &r, 200);
    let minimal = r.body["result"]["service"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let mut secondary = service_body("secondary");
    secondary["dataWarehouseId"] = r.body["result"]["service"]["dataWarehouseId"].clone();
    secondary["isReadonly"] = json!(true);
    secondary["numReplicas"] = json!(1);
    ck.ok(
        "POST",
        SERVICES,
        &services,
        &c.post(&services, secondary).await,
        200,
    );
    let r = c.post(&services, json!({"name": "x", "provider": "aws", "region": "us-east-2", "minReplicaMemoryGb": 10})).await;
    ck.ok("POST", SERVICES, &services, &r, 400);

    // ---- every state, through GET and the list ----
    let uri = svc_uri(&id);
    ck.ok("GET", SERVICE, &uri, &c.get(&uri).await, 200); // provisioning
    let r = c.wait_state(&id, "running", WAIT).await;
    ck.ok("GET", SERVICE, &uri, &r, 200);
    ck.ok("GET", SERVICES, &services, &c.get(&services).await, 200);
    let filtered = format!("{services}?filter=tag:env=prod&filter=tag:bare");
    let r = c.get(&filtered).await;
    assert_eq!(
        r.body["result"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.body
    );
    ck.ok("GET", SERVICES, &filtered, &r, 200);
    let bad_filter = format!("{services}?filter=name:x");
    ck.ok("GET", SERVICES, &bad_filter, &c.get(&bad_filter).await, 400);

    // ---- patch, scaling, password ----
    let r = c
        .patch(
            &uri,
            json!({"name": "renamed", "ipAccessList": {"remove": [{"source": "10.0.0.0/8"}], "add": [{"source": "::1/128", "description": "v6"}]},
                   "tags": {"add": [{"key": "team", "value": "data"}]}, "releaseChannel": "slow",
                   "privateEndpointIds": {"add": ["vpce-4567"], "remove": ["vpce-0123"]}, "enableCoreDumps": true}),
        )
        .await;
    ck.ok("PATCH", SERVICE, &uri, &r, 200);
    ck.ok(
        "PATCH",
        SERVICE,
        &uri,
        &c.patch(&uri, json!({"name": ""})).await,
        400,
    );
    let scaling = format!("{uri}/replicaScaling");
    let r = c
        .patch(&scaling, json!({"minReplicaMemoryGb": 24, "maxReplicaMemoryGb": 356, "numReplicas": 4, "idleScaling": true, "idleTimeoutMinutes": 5}))
        .await;
    ck.ok("PATCH", SCALING, &scaling, &r, 200);
    ck.ok(
        "PATCH",
        SCALING,
        &scaling,
        &c.patch(&scaling, json!({"maxReplicaMemoryGb": 7})).await,
        400,
    );
    let password = format!("{uri}/password");
    ck.ok(
        "PATCH",
        PASSWORD,
        &password,
        &c.patch(&password, json!({})).await,
        200,
    );
    let hash = clouddb_sim::clickhouse::password_hash("conformance-1");
    ck.ok(
        "PATCH",
        PASSWORD,
        &password,
        &c.patch(&password, json!({"newPasswordHash": hash})).await,
        200,
    );
    ck.ok(
        "PATCH",
        PASSWORD,
        &password,
        &c.patch(&password, json!({"newPasswordHash": "short"}))
            .await,
        400,
    );

    // ---- state transitions: stopping, stopped, starting, idle, awaking, terminating ----
    let state = format!("{uri}/state");
    ck.undeclared_error("DELETE", SERVICE, &uri, &c.delete(&uri).await, 409);
    ck.ok(
        "PATCH",
        STATE,
        &state,
        &c.patch(&state, json!({"command": "stop"})).await,
        200,
    );
    ck.ok("GET", SERVICE, &uri, &c.get(&uri).await, 200);
    ck.ok(
        "GET",
        SERVICE,
        &uri,
        &c.wait_state(&id, "stopped", WAIT).await,
        200,
    );
    ck.ok(
        "PATCH",
        STATE,
        &state,
        &c.patch(&state, json!({"command": "start"})).await,
        200,
    );
    ck.ok(
        "GET",
        SERVICE,
        &uri,
        &c.wait_state(&id, "running", WAIT).await,
        200,
    );
    let r = c
        .admin(
            Method::PATCH,
            &format!("clickhouse/services/{id}"),
            Some(json!({"state": "idle"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    ck.ok("GET", SERVICE, &uri, &c.get(&uri).await, 200);
    ck.ok(
        "PATCH",
        STATE,
        &state,
        &c.patch(&state, json!({"command": "awake"})).await,
        200,
    );
    ck.ok(
        "PATCH",
        STATE,
        &state,
        &c.patch(&state, json!({"command": "pause"})).await,
        400,
    );
    c.wait_state(&id, "running", WAIT).await;
    c.patch(&state, json!({"command": "stop"})).await;
    c.wait_state(&id, "stopped", WAIT).await;
    ck.ok("DELETE", SERVICE, &uri, &c.delete(&uri).await, 200);
    ck.ok("GET", SERVICE, &uri, &c.get(&uri).await, 200); // terminating
    let r = c.wait_for(&uri, WAIT, |r| r.status.as_u16() == 404).await;
    ck.undeclared_error("GET", SERVICE, &uri, &r, 404);
    let unknown = svc_uri(&clouddb_sim::api::new_uuid());
    ck.ok("GET", SERVICE, &unknown, &c.get(&unknown).await, 400);
    let malformed = svc_uri("not-a-uuid");
    ck.ok("GET", SERVICE, &malformed, &c.get(&malformed).await, 400);
    let m = svc_uri(&minimal);
    c.patch(&format!("{m}/state"), json!({"command": "stop"}))
        .await;
    c.wait_state(&minimal, "stopped", WAIT).await;
    ck.ok("DELETE", SERVICE, &m, &c.delete(&m).await, 200);

    // ---- the gateway's own answers ----
    let wrong_org = format!(
        "/v1/organizations/{}/services",
        clouddb_sim::api::new_uuid()
    );
    ck.undeclared_error("GET", SERVICES, &wrong_org, &c.get(&wrong_org).await, 404);
    let stranger = ChClient::with_key(&sim, ApiKey::random_clickhouse());
    ck.undeclared_error("GET", ORGS, ORGS, &stranger.get(ORGS).await, 401);
    let r = c
        .admin(
            Method::POST,
            "faults",
            Some(json!({"kind": "fail", "status": 500, "count": 1, "method": "GET"})),
        )
        .await;
    assert_eq!(r.status, 200);
    ck.ok("GET", SERVICES, &services, &c.get(&services).await, 500);
    let r = c
        .admin(
            Method::POST,
            "faults",
            Some(json!({"kind": "throttle", "count": 1})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = c.get(ORGS).await;
    assert!(r.header("x-ratelimit-reset").is_some());
    ck.undeclared_error("GET", ORGS, ORGS, &r, 429);

    ck.inner.verdict(EXPECTED_COVERAGE);
}

// ---- the validator itself can fail on this spec ------------------------------------------------------------

#[test]
fn the_validator_catches_planted_divergences_in_a_service() {
    let Some((spec, _)) = load() else { return };
    let schema = spec
        .response_schema("GET", SERVICE, 200)
        .expect("instanceGet schema");
    let good = json!({"status": 200, "requestId": "0b8f5b7e-5f3a-4f7e-9a55-0e8a9d0c1a2b", "result": {
        "id": "6a4f7c1e-2b3d-4e5f-8a9b-0c1d2e3f4a5b", "name": "svc", "provider": "aws", "region": "us-east-2",
        "state": "running", "endpoints": [{"protocol": "https", "host": "abc.us-east-2.aws.clickhouse.cloud", "port": 8443, "username": null}],
        "minReplicaMemoryGb": 16, "maxReplicaMemoryGb": 64, "numReplicas": 3, "autoscalingMode": "vertical",
        "idleScaling": true, "idleTimeoutMinutes": 15, "tags": [{"key": "env", "value": "prod"}],
        "createdAt": "2026-01-01T00:00:00Z", "currentScaling": {"effectiveAutoscalingMode": "vertical"}}});
    assert_eq!(spec.validate(schema, &good), Vec::<String>::new());

    let mut bad = good.clone();
    let r = &mut bad["result"];
    r["minReplicaMemoryGb"] = json!(10); // not a multiple of 4
    r["maxReplicaMemoryGb"] = json!(400); // above 356
    r["state"] = json!("sleeping"); // not in the enum
    r["tags"][0]["key"] = json!("has space"); // pattern
    r["endpoints"][0]["port"] = json!("8443"); // type
    r["id"] = json!("not-a-uuid"); // format
    r["colour"] = json!("red"); // undefined property
    r.as_object_mut().expect("object").remove("currentScaling"); // required
    let problems = spec.validate(schema, &bad);
    for want in [
        "$.result.minReplicaMemoryGb: 10 is not a multiple of 4",
        "$.result.maxReplicaMemoryGb: 400 is above the maximum 356",
        "$.result.state: \"sleeping\" is not one of the enum values",
        "$.result.tags[0].key: \"has space\" does not match",
        "$.result.endpoints[0].port: expected number, got string",
        "$.result.id: \"not-a-uuid\" is not a UUID",
        "$.result.colour: property not defined by the spec",
        "$.result: missing required property `currentScaling`",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "{want:?} not in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 8, "{problems:#?}");
    // A null where the 3.1 type array does not allow it.
    let mut null_name = good;
    null_name["result"]["name"] = Value::Null;
    let problems = spec.validate(schema, &null_name);
    assert!(
        problems[0].starts_with("$.result.name: null is not allowed"),
        "{problems:#?}"
    );
}
