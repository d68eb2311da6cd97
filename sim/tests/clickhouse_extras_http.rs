//! The ClickHouse Cloud calls around a service read, over HTTPS with Basic authentication: a service's
//! `privateEndpointConfig`, `backupConfiguration` and `serviceQueryEndpoint`, the organization's
//! `privateEndpointConfig`, the API keys and roles lists, and the AWS `iamRole` of a service.
mod common;

use clouddb_sim::{ApiKey, ClickHouseConfig, ClickHouseDelays, SimConfig, Simulator};
use common::{ChClient, Resp, ch_config, service_body};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

async fn start_with(ch: ClickHouseConfig) -> Simulator {
    common::start(SimConfig {
        clickhouse: ch,
        ..SimConfig::default()
    })
    .await
}

async fn start() -> (Simulator, ChClient) {
    let sim = start_with(ch_config(ClickHouseDelays::instant())).await;
    let c = ChClient::new(&sim);
    (sim, c)
}

#[track_caller]
fn ok(r: &Resp) -> &Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], 200, "{}", r.body);
    assert!(
        r.body["requestId"]
            .as_str()
            .is_some_and(clouddb_sim::api::is_uuid),
        "{}",
        r.body
    );
    &r.body["result"]
}

#[track_caller]
fn err(r: &Resp, status: u16, prefix: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["status"], status, "{}", r.body);
    let e = r.body["error"].as_str().unwrap_or_default();
    assert!(e.starts_with(prefix), "{e:?} should start with {prefix:?}");
}

async fn create(c: &ChClient, body: Value) -> Value {
    let r = c.post("/services", body).await;
    ok(&r)["service"].clone()
}

async fn running(c: &ChClient, body: Value) -> String {
    let svc = create(c, body).await;
    let id = svc["id"].as_str().expect("id").to_string();
    c.wait_state(&id, "running", WAIT).await;
    id
}

#[tokio::test]
async fn private_endpoint_config_of_a_service_and_of_its_region() {
    let (_sim, c) = start().await;
    let aws = running(&c, service_body("pec aws")).await;
    let r = c
        .get(&format!("/services/{aws}/privateEndpointConfig"))
        .await;
    let pec = ok(&r).clone();
    let service_id = pec["endpointServiceId"]
        .as_str()
        .expect("endpointServiceId");
    assert!(
        regex::Regex::new(r"^com\.amazonaws\.vpce\.us-east-2\.vpce-svc-[0-9a-f]{17}$")
            .expect("re")
            .is_match(service_id),
        "{pec}"
    );
    assert!(
        pec["privateDnsHostname"]
            .as_str()
            .is_some_and(|h| h.ends_with(".us-east-2.vpce.aws.clickhouse.cloud")),
        "{pec}"
    );
    // Stable, and one endpoint service per region.
    let again = c
        .get(&format!("/services/{aws}/privateEndpointConfig"))
        .await;
    assert_eq!(ok(&again), &pec);
    let other = running(&c, service_body("pec aws 2")).await;
    let r = c
        .get(&format!("/services/{other}/privateEndpointConfig"))
        .await;
    assert_eq!(ok(&r)["endpointServiceId"], service_id);
    assert_ne!(ok(&r)["privateDnsHostname"], pec["privateDnsHostname"]);

    let mut gcp_body = service_body("pec gcp");
    gcp_body["provider"] = json!("gcp");
    gcp_body["region"] = json!("us-central1");
    let gcp = running(&c, gcp_body).await;
    let r = c
        .get(&format!("/services/{gcp}/privateEndpointConfig"))
        .await;
    let g = ok(&r);
    assert!(
        g["endpointServiceId"]
            .as_str()
            .is_some_and(|s| s.starts_with("projects/") && s.contains("/regions/us-central1/")),
        "{g}"
    );

    // The organization's (deprecated) per-region call answers the same endpoint service.
    let r = c
        .get("/privateEndpointConfig?cloud_provider=aws&region_id=us-east-2")
        .await;
    assert_eq!(ok(&r), &json!({"endpointServiceId": service_id}));
    err(
        &c.get("/privateEndpointConfig?cloud_provider=aws").await,
        400,
        "BAD_REQUEST: request query.region_id: The field is required",
    );
    err(
        &c.get("/privateEndpointConfig?cloud_provider=ibm&region_id=x")
            .await,
        400,
        "BAD_REQUEST: request query.cloud_provider",
    );
    err(
        &c.get("/privateEndpointConfig?cloud_provider=aws&region_id=us-central1")
            .await,
        400,
        "BAD_REQUEST: request query.region_id",
    );
    // Unknown service, wrong organization.
    let unknown = clouddb_sim::api::new_uuid();
    err(
        &c.get(&format!("/services/{unknown}/privateEndpointConfig"))
            .await,
        400,
        "BAD_REQUEST: Invalid service id",
    );
    let other_org = clouddb_sim::api::new_uuid();
    err(
        &c.get(&format!(
            "/v1/organizations/{other_org}/services/{aws}/privateEndpointConfig"
        ))
        .await,
        404,
        "NOT_FOUND",
    );
    err(
        &c.post(&format!("/services/{aws}/privateEndpointConfig"), json!({}))
            .await,
        405,
        "METHOD_NOT_ALLOWED",
    );
}

#[tokio::test]
async fn backup_configuration_defaults_changes_resets_and_validation() {
    let (_sim, c) = start().await;
    let id = running(&c, service_body("backups")).await;
    let uri = format!("/services/{id}/backupConfiguration");
    let r = c.get(&uri).await;
    assert_eq!(
        ok(&r),
        &json!({"backupPeriodInHours": 24, "backupRetentionPeriodInHours": 24})
    );

    let r = c.patch(&uri, json!({"backupPeriodInHours": 12})).await;
    assert_eq!(
        ok(&r),
        &json!({"backupPeriodInHours": 12, "backupRetentionPeriodInHours": 24})
    );
    // A start time makes the period a day.
    let r = c
        .patch(
            &uri,
            json!({"backupStartTime": "3:00", "backupRetentionPeriodInHours": 72}),
        )
        .await;
    assert_eq!(
        ok(&r),
        &json!({"backupPeriodInHours": 24, "backupRetentionPeriodInHours": 72, "backupStartTime": "03:00"})
    );
    assert_eq!(ok(&c.get(&uri).await)["backupStartTime"], "03:00");
    // Refused changes change nothing.
    for (body, fragment) in [
        (
            json!({"backupRetentionPeriodInHours": 25}),
            "request body.backupRetentionPeriodInHours",
        ),
        (
            json!({"backupRetentionPeriodInHours": 1104}),
            "request body.backupRetentionPeriodInHours",
        ),
        (
            json!({"backupRetentionPeriodInHours": 24.5}),
            "request body.backupRetentionPeriodInHours: The value must be a whole number",
        ),
        (
            json!({"backupPeriodInHours": 7}),
            "request body.backupPeriodInHours: The value must be one of 6, 8, 12",
        ),
        (
            json!({"backupStartTime": "25:00"}),
            "request body.backupStartTime",
        ),
        (
            json!({"backupStartTime": 3}),
            "request body.backupStartTime",
        ),
        (
            json!({"backupStartTime": "04:00", "backupPeriodInHours": 12}),
            "backupStartTime cannot be combined",
        ),
        (json!({"backupWindow": 1}), "request body.backupWindow"),
    ] {
        err(
            &c.patch(&uri, body.clone()).await,
            400,
            &format!("BAD_REQUEST: {fragment}"),
        );
    }
    assert_eq!(
        ok(&c.get(&uri).await),
        &json!({"backupPeriodInHours": 24, "backupRetentionPeriodInHours": 72, "backupStartTime": "03:00"})
    );
    // `null` resets a field to its default.
    let r = c
        .patch(
            &uri,
            json!({"backupStartTime": null, "backupRetentionPeriodInHours": null}),
        )
        .await;
    assert_eq!(
        ok(&r),
        &json!({"backupPeriodInHours": 24, "backupRetentionPeriodInHours": 24})
    );
    // A period change drops the start time.
    c.patch(&uri, json!({"backupStartTime": "05:00"})).await;
    let r = c.patch(&uri, json!({"backupPeriodInHours": 6})).await;
    assert_eq!(
        ok(&r),
        &json!({"backupPeriodInHours": 6, "backupRetentionPeriodInHours": 24})
    );

    // Only the primary service of a warehouse has a backup configuration.
    let primary = create(&c, service_body("primary")).await;
    let mut secondary = service_body("secondary");
    secondary["dataWarehouseId"] = primary["dataWarehouseId"].clone();
    let secondary = create(&c, secondary).await;
    let sid = secondary["id"].as_str().expect("id");
    err(
        &c.get(&format!("/services/{sid}/backupConfiguration")).await,
        400,
        "BAD_REQUEST: Backup configuration is available only for the primary service",
    );
    // Per service.
    let pid = primary["id"].as_str().expect("id");
    assert_eq!(
        ok(&c.get(&format!("/services/{pid}/backupConfiguration")).await)["backupPeriodInHours"],
        24
    );
}

/// The UUID of the first API key (what `openApiKeys` takes).
async fn key_uuid(c: &ChClient) -> String {
    let r = c.get("/keys").await;
    ok(&r)[0]["id"].as_str().expect("key id").to_string()
}

#[tokio::test]
async fn service_query_endpoint_is_404_until_upserted_keeps_its_id_and_deletes() {
    let (_sim, c) = start().await;
    let id = running(&c, service_body("query api")).await;
    let uri = format!("/services/{id}/serviceQueryEndpoint");
    err(&c.get(&uri).await, 404, "NOT_FOUND");
    err(&c.delete(&uri).await, 404, "NOT_FOUND");

    let key = key_uuid(&c).await;
    let r = c
        .post(
            &uri,
            json!({"roles": ["sql_console_read_only"], "openApiKeys": [key], "allowedOrigins": "example.com"}),
        )
        .await;
    let created = ok(&r).clone();
    let endpoint_id = created["id"].as_str().expect("id").to_string();
    assert_eq!(
        created,
        json!({"id": endpoint_id, "roles": ["sql_console_read_only"], "openApiKeys": [key], "allowedOrigins": "example.com"})
    );
    assert_eq!(ok(&c.get(&uri).await), &created);
    // An upsert: same id, new settings.
    let r = c
        .post(
            &uri,
            json!({"roles": ["sql_console_admin"], "openApiKeys": [key], "allowedOrigins": ""}),
        )
        .await;
    assert_eq!(ok(&r)["id"], endpoint_id.as_str());
    assert_eq!(ok(&r)["roles"], json!(["sql_console_admin"]));

    for (body, fragment) in [
        (json!({"roles": ["root"]}), "request body.roles[0]"),
        (
            json!({"openApiKeys": ["not-a-uuid"]}),
            "request body.openApiKeys[0]: The value must be an API key id",
        ),
        (
            json!({"openApiKeys": [clouddb_sim::api::new_uuid()]}),
            "request body.openApiKeys[0]: API key",
        ),
        (
            json!({"roles": "sql_console_admin"}),
            "invalid request body",
        ),
        (json!({"origin": "x"}), "invalid request body"),
    ] {
        err(
            &c.post(&uri, body).await,
            400,
            &format!("BAD_REQUEST: {fragment}"),
        );
    }
    assert_eq!(
        ok(&c.get(&uri).await)["roles"],
        json!(["sql_console_admin"])
    );

    let r = c.delete(&uri).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], 200);
    assert!(r.body.get("result").is_none(), "{}", r.body);
    err(&c.get(&uri).await, 404, "NOT_FOUND");
    // A new endpoint gets a new id.
    let r = c.post(&uri, json!({"roles": ["sql_console_admin"]})).await;
    assert_ne!(ok(&r)["id"], endpoint_id.as_str());
}

#[tokio::test]
async fn the_keys_list_shows_every_key_but_never_a_secret_or_a_key_id() {
    let keys = vec![
        ApiKey {
            public_key: "AbCdEfGhIjKlMnOpQr12".into(),
            private_key: "4b1dSECRETSECRETSECRETSECRETSECRETSECRET1".into(),
        },
        ApiKey {
            public_key: "ZyXwVuTsRqPoNmLkJi34".into(),
            private_key: "4b1dOTHERSECRETOTHERSECRETOTHERSECRET22".into(),
        },
    ];
    let sim = start_with(ClickHouseConfig {
        keys: keys.clone(),
        ..ch_config(ClickHouseDelays::instant())
    })
    .await;
    let c = ChClient::with_key(&sim, keys[0].clone());
    let r = c.get("/keys").await;
    let list = ok(&r).as_array().expect("array").clone();
    assert_eq!(list.len(), 2);
    let text = r.body.to_string();
    for k in &keys {
        assert!(!text.contains(&k.public_key), "key id leaked: {text}");
        assert!(!text.contains(&k.private_key), "secret leaked: {text}");
    }
    assert_eq!(list[0]["keySuffix"], "Qr12");
    assert_eq!(list[1]["keySuffix"], "Ji34");
    for k in &list {
        assert!(
            k["id"].as_str().is_some_and(clouddb_sim::api::is_uuid),
            "{k}"
        );
        assert_eq!(k["state"], "enabled");
        assert_eq!(k["roles"], json!(["admin"]));
        assert_eq!(k["assignedRoles"][0]["roleName"], "Admin");
        assert_eq!(k["assignedRoles"][0]["roleType"], "system");
    }
    // The calling key has been used (one-minute precision); the other never.
    let used = list[0]["usedAt"].as_str().expect("usedAt");
    assert!(used.ends_with(":00Z"), "{used}");
    assert!(list[1].get("usedAt").is_none(), "{}", list[1]);
    // Stable ids.
    let again = c.get("/keys").await;
    assert_eq!(ok(&again)[0]["id"], list[0]["id"]);
    err(&c.post("/keys", json!({})).await, 405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn the_roles_list_has_the_system_roles_with_the_keys_as_admins() {
    let (_sim, c) = start().await;
    let key = key_uuid(&c).await;
    let r = c.get("/roles").await;
    let roles = ok(&r).as_array().expect("array").clone();
    let names: Vec<&str> = roles.iter().filter_map(|x| x["name"].as_str()).collect();
    assert_eq!(names, ["Admin", "Developer", "Member"]);
    let admin = &roles[0];
    assert_eq!(admin["type"], "system");
    assert_eq!(admin["actors"], json!([format!("apiKey/{key}")]));
    assert_eq!(
        admin["tenantId"],
        format!("organization/{}", c.org).as_str()
    );
    assert_eq!(admin["policies"][0]["allowDeny"], "ALLOW");
    // The key's assigned role is this one.
    let keys = c.get("/keys").await;
    assert_eq!(ok(&keys)[0]["assignedRoles"][0]["roleId"], admin["id"]);
}

#[tokio::test]
async fn aws_services_carry_their_iam_role_and_others_none() {
    let (_sim, c) = start().await;
    let svc = create(&c, service_body("iam")).await;
    let role = svc["iamRole"].as_str().expect("iamRole on an AWS service");
    assert!(
        regex::Regex::new(r"^arn:aws:iam::\d{12}:role/CH-S3-[a-z0-9-]+-Role$")
            .expect("re")
            .is_match(role),
        "{role}"
    );
    let id = svc["id"].as_str().expect("id");
    let r = c.get(&format!("/services/{id}")).await;
    assert_eq!(ok(&r)["iamRole"], role);
    let mut azure = service_body("no iam");
    azure["provider"] = json!("azure");
    azure["region"] = json!("eastus2");
    let svc = create(&c, azure).await;
    assert!(svc.get("iamRole").is_none(), "{svc}");
}
