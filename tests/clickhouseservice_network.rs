//! ClickHouseService `privateEndpointIds`, `backupConfiguration` and `queryApiEndpoints` end to end: the real
//! operator binary against the real kube-apiserver and the simulator's ClickHouse Cloud listener. For each field:
//! applied → Ready and visible in the cloud; changed → exactly the diff applied; changed in the cloud → drift
//! corrected (or, under `driftPolicy: Report`, reported and not written); invalid → refused at admission or
//! `Stalled` with no write.

mod support;

use clouddb_operator::api::clickhouseservice::ClickHouseService;
use clouddb_operator::cloud::{BudgetRegistry, SecretString};
use clouddb_operator::providers::clickhouse::models::{
    BackupConfiguration, Diff, ServicePatchRequest, ServiceQueryEndpointRequest,
};
use clouddb_operator::providers::clickhouse::{ClickHouseClient, ClickHouseKey, ClientConfig};
use clouddb_sim::SimConfig;
use kube::api::{Patch, PatchParams};
use reqwest::Method;
use serde_json::{Value, json};
use support::TIMEOUT;
use support::operator::*;

const QUERY_ROUTE: &str = "serviceQueryEndpoint";
const BACKUP_ROUTE: &str = "backupConfiguration";

fn spec() -> Value {
    json!({"provider": "aws", "region": "us-east-1"})
}

async fn start(prefix: &str) -> Option<OperatorEnv> {
    OperatorEnv::start_with(prefix, SimConfig::default(), &["--poll-steady", "2s"]).await
}

async fn ready(env: &OperatorEnv, name: &str) -> ClickHouseService {
    env.wait_for::<ClickHouseService>(
        name,
        &format!("ClickHouseService {name} Ready on its current generation"),
        TIMEOUT * 3,
        |o| {
            condition_of(o, "Ready").is_some_and(|c| c.status == "True" && c.reason == "Ready")
                && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
        },
    )
    .await
}

fn service_id(o: &ClickHouseService) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.service_id.clone())
        .expect("status.serviceId")
}

async fn service(env: &OperatorEnv, id: &str) -> Value {
    let v = env
        .clickhouse_admin(Method::GET, "clickhouse/services", None)
        .await;
    v["services"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("service {id} exists in the simulator"))
}

fn endpoint_ids(svc: &Value) -> Vec<String> {
    let mut ids: Vec<String> = svc["privateEndpointIds"]
        .as_array()
        .expect("privateEndpointIds")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

/// A client with the simulator's ClickHouse key.
fn cloud(env: &OperatorEnv) -> ClickHouseClient {
    let key = env.sim.clickhouse_key();
    let mut config = ClientConfig {
        base_url: format!("{}/v1", env.sim.clickhouse_base_url()),
        ..ClientConfig::default()
    };
    config.http.extra_ca_pem = Some(std::fs::read(env.sim.ca_path().expect("https")).expect("CA"));
    ClickHouseClient::new(
        &config,
        ClickHouseKey {
            key_id: key.public_key.clone(),
            key_secret: SecretString::from(key.private_key.clone()),
            organization_id: env.sim.clickhouse_organization_id().to_string(),
        },
        &BudgetRegistry::default(),
    )
    .expect("cloud client")
}

/// Successful (2xx) requests the simulator counted with `method` on a route containing `route`.
fn count(env: &OperatorEnv, method: &str, route: &str) -> u64 {
    env.sim
        .clickhouse_counters()
        .into_iter()
        .filter(|r| r.key.method == method && r.key.route.contains(route) && r.key.status < 300)
        .map(|r| r.count)
        .sum()
}

/// Every write (non-GET request) the simulator answered, whatever its status.
fn writes(env: &OperatorEnv) -> u64 {
    env.sim
        .clickhouse_counters()
        .into_iter()
        .filter(|r| r.key.method != "GET" && r.key.route.starts_with("/v1"))
        .map(|r| r.count)
        .sum()
}

/// Server-side apply that may be refused at admission: the error message.
async fn try_apply(env: &OperatorEnv, name: &str, spec: Value) -> Result<(), String> {
    let body = json!({
        "apiVersion": "clouddb.dev/v1alpha1", "kind": "ClickHouseService",
        "metadata": {"name": name}, "spec": spec,
    });
    env.api::<ClickHouseService>()
        .patch(
            name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(&body),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The backup settings, retried while the key shared with the operator is throttled.
async fn backup_of(c: &ClickHouseClient, id: &str) -> BackupConfiguration {
    wait_until("the backup configuration", async || {
        c.get_backup_configuration(id)
            .await
            .map_err(|e| e.to_string())
    })
    .await
}

/// The query endpoint, retried while the key shared with the operator is throttled.
async fn query_of(
    c: &ClickHouseClient,
    id: &str,
) -> Option<clouddb_operator::providers::clickhouse::models::ServiceQueryApiEndpoint> {
    wait_until("the query endpoint", async || {
        c.get_query_endpoint(id).await.map_err(|e| e.to_string())
    })
    .await
}

async fn wait_until<T>(what: &str, f: impl AsyncFn() -> Result<T, String>) -> T {
    match support::eventually(what, TIMEOUT * 2, f).await {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn private_endpoint_ids_attach_as_a_diff_show_the_endpoint_service_and_drift_is_corrected() {
    let Some(env) = start("chs-pe").await else {
        return;
    };
    let mut s = spec();
    s["privateEndpointIds"] = json!(["vpce-0aaa", "vpce-0bbb"]);
    env.apply_kind::<ClickHouseService>("private", s.clone())
        .await;
    let o = ready(&env, "private").await;
    let id = service_id(&o);
    assert_eq!(
        endpoint_ids(&service(&env, &id).await),
        ["vpce-0aaa", "vpce-0bbb"]
    );
    let status = o.status.expect("status");
    let pec = status
        .private_endpoint_config
        .expect("status.privateEndpointConfig");
    assert!(
        pec.endpoint_service_id
            .starts_with("com.amazonaws.vpce.us-east-1."),
        "{pec:?}"
    );
    assert!(pec.private_dns_hostname.contains("vpce.aws"), "{pec:?}");
    assert_eq!(status.private_endpoint_ids.len(), 2);
    // Read once, then kept in status.
    assert_eq!(count(&env, "GET", "privateEndpointConfig"), 1);

    // One endpoint replaced: one PATCH with the diff.
    s["privateEndpointIds"] = json!(["vpce-0bbb", "vpce-0ccc"]);
    env.apply_kind::<ClickHouseService>("private", s.clone())
        .await;
    ready(&env, "private").await;
    assert_eq!(
        endpoint_ids(&service(&env, &id).await),
        ["vpce-0bbb", "vpce-0ccc"]
    );
    let route_patches = |env: &OperatorEnv| {
        env.sim
            .clickhouse_counters()
            .into_iter()
            .filter(|r| r.key.method == "PATCH" && r.key.route.ends_with("/services/{serviceId}"))
            .map(|r| r.count)
            .sum::<u64>()
    };
    assert_eq!(route_patches(&env), 2, "one PATCH per change of the list");

    // Attached outside Kubernetes: detached again.
    let c = cloud(&env);
    let rogue = ServicePatchRequest {
        private_endpoint_ids: Some(Diff {
            add: vec!["vpce-0rogue".into()],
            remove: vec![],
        }),
        ..Default::default()
    };
    wait_until("an attach outside Kubernetes", async || {
        c.update_service(&id, &rogue)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    wait_until("the rogue endpoint to be detached", async || {
        let ids = endpoint_ids(&service(&env, &id).await);
        match ids == ["vpce-0bbb", "vpce-0ccc"] {
            true => Ok(()),
            false => Err(format!("{ids:?}")),
        }
    })
    .await;
    let reasons = env.event_reasons("private").await;
    assert!(reasons.iter().any(|r| r == "DriftCorrected"), "{reasons:?}");
    assert_eq!(
        count(&env, "GET", "privateEndpointConfig"),
        1,
        "not read again"
    );

    // Invalid ids are refused at admission.
    s["privateEndpointIds"] = json!(["vpce 0bad"]);
    let e = try_apply(&env, "private", s).await.unwrap_err();
    assert!(e.contains("privateEndpointIds"), "{e}");
}

#[tokio::test]
async fn backup_configuration_is_applied_as_a_diff_and_drift_is_corrected() {
    let Some(env) = start("chs-backup").await else {
        return;
    };
    let mut s = spec();
    s["backupConfiguration"] =
        json!({"backupPeriodInHours": 12, "backupRetentionPeriodInHours": 48});
    env.apply_kind::<ClickHouseService>("backed", s.clone())
        .await;
    let o = ready(&env, "backed").await;
    let id = service_id(&o);
    let c = cloud(&env);
    let b = backup_of(&c, &id).await;
    assert_eq!(
        (b.backup_period_in_hours, b.backup_retention_period_in_hours),
        (Some(12), Some(48))
    );
    let st = o
        .status
        .and_then(|s| s.backup_configuration)
        .expect("status.backupConfiguration");
    assert_eq!(st.backup_retention_period_in_hours, Some(48));
    assert_eq!(count(&env, "PATCH", BACKUP_ROUTE), 1, "one PATCH");

    // Only the retention changes.
    s["backupConfiguration"]["backupRetentionPeriodInHours"] = json!(72);
    env.apply_kind::<ClickHouseService>("backed", s.clone())
        .await;
    ready(&env, "backed").await;
    let b = backup_of(&c, &id).await;
    assert_eq!(
        (b.backup_period_in_hours, b.backup_retention_period_in_hours),
        (Some(12), Some(72))
    );
    assert_eq!(count(&env, "PATCH", BACKUP_ROUTE), 2);

    // Changed outside Kubernetes: restored.
    let drift = BackupConfiguration {
        backup_period_in_hours: Some(6),
        ..Default::default()
    };
    wait_until("a change outside Kubernetes", async || {
        c.update_backup_configuration(&id, &drift)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    wait_until("the backup period to be restored", async || {
        let b = c
            .get_backup_configuration(&id)
            .await
            .map_err(|e| e.to_string())?;
        match b.backup_period_in_hours {
            Some(12) => Ok(()),
            p => Err(format!("{p:?}")),
        }
    })
    .await;
    let reasons = env.event_reasons("backed").await;
    assert!(reasons.iter().any(|r| r == "DriftCorrected"), "{reasons:?}");

    // Invalid combinations and ranges are refused at admission, before any call.
    let before = writes(&env);
    for (bad, field) in [
        (
            json!({"backupPeriodInHours": 12, "backupStartTime": "03:00"}),
            "backupStartTime",
        ),
        (
            json!({"backupRetentionPeriodInHours": 30}),
            "multiple of 24",
        ),
        (json!({"backupRetentionPeriodInHours": 2000}), "1080"),
        (json!({"backupPeriodInHours": 7}), "backupPeriodInHours"),
        (json!({"backupStartTime": "3:00"}), "backupStartTime"),
    ] {
        let mut s = s.clone();
        s["backupConfiguration"] = bad.clone();
        let e = try_apply(&env, "backed", s)
            .await
            .expect_err(&format!("{bad} is refused"));
        assert!(e.contains(field), "{bad}: {e}");
    }
    assert_eq!(writes(&env), before);

    // A start time makes backups daily.
    s["backupConfiguration"] = json!({"backupStartTime": "03:00"});
    env.apply_kind::<ClickHouseService>("backed", s).await;
    ready(&env, "backed").await;
    let b = backup_of(&c, &id).await;
    assert_eq!(
        (b.backup_period_in_hours, b.backup_start_time.as_deref()),
        (Some(24), Some("03:00"))
    );
}

#[tokio::test]
async fn backup_drift_is_reported_and_not_written_under_drift_policy_report() {
    let Some(env) = start("chs-backup-report").await else {
        return;
    };
    let mut s = spec();
    s["driftPolicy"] = json!("Report");
    s["backupConfiguration"] = json!({"backupRetentionPeriodInHours": 96});
    env.apply_kind::<ClickHouseService>("reported", s).await;
    let id = service_id(&ready(&env, "reported").await);
    let c = cloud(&env);
    let drift = BackupConfiguration {
        backup_retention_period_in_hours: Some(24),
        ..Default::default()
    };
    wait_until("a change outside Kubernetes", async || {
        c.update_backup_configuration(&id, &drift)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    let patches = count(&env, "PATCH", BACKUP_ROUTE);
    let o = env
        .wait_condition_of::<ClickHouseService>("reported", "Drifted", "True", "Drifted")
        .await;
    let message = condition_of(&o, "Drifted").expect("Drifted").message;
    assert!(message.contains("retention 96 h"), "{message}");
    assert_eq!(
        count(&env, "PATCH", BACKUP_ROUTE),
        patches,
        "nothing written"
    );
    let b = backup_of(&c, &id).await;
    assert_eq!(
        b.backup_retention_period_in_hours,
        Some(24),
        "the drift stays"
    );
}

#[tokio::test]
async fn query_api_endpoint_is_created_replaced_in_place_corrected_and_deleted() {
    let Some(env) = start("chs-query").await else {
        return;
    };
    let c = cloud(&env);
    let keys = wait_until("the API keys", async || {
        c.list_api_key_ids().await.map_err(|e| e.to_string())
    })
    .await;
    let key = keys.first().expect("the simulator has a key").clone();
    let mut s = spec();
    s["queryApiEndpoints"] = json!({
        "roles": ["sql_console_read_only"], "openApiKeys": [key], "allowedOrigins": "https://app.example.com"
    });
    env.apply_kind::<ClickHouseService>("queries", s.clone())
        .await;
    let o = ready(&env, "queries").await;
    let id = service_id(&o);
    let e = query_of(&c, &id).await.expect("an endpoint");
    assert_eq!(e.roles, ["sql_console_read_only"]);
    assert_eq!(e.open_api_keys, [key.to_ascii_lowercase()]);
    assert_eq!(
        e.allowed_origins.as_deref(),
        Some("https://app.example.com")
    );
    let st = o
        .status
        .and_then(|s| s.query_api_endpoint)
        .expect("status.queryApiEndpoint");
    assert_eq!(st.id, e.id);
    assert_eq!(count(&env, "POST", QUERY_ROUTE), 1);

    // Changed: replaced in place (same id), one upsert.
    s["queryApiEndpoints"]["roles"] = json!(["sql_console_admin"]);
    env.apply_kind::<ClickHouseService>("queries", s.clone())
        .await;
    ready(&env, "queries").await;
    let e2 = query_of(&c, &id).await.expect("endpoint");
    assert_eq!(e2.roles, ["sql_console_admin"]);
    assert_eq!(e2.id, e.id, "replaced in place");
    assert_eq!(count(&env, "POST", QUERY_ROUTE), 2);
    assert_eq!(count(&env, "DELETE", QUERY_ROUTE), 0);

    // Changed outside Kubernetes: restored.
    let drift = ServiceQueryEndpointRequest {
        roles: vec!["sql_console_read_only".into()],
        open_api_keys: vec![],
        allowed_origins: "*".into(),
    };
    wait_until("a change outside Kubernetes", async || {
        c.upsert_query_endpoint(&id, &drift)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    wait_until("the query endpoint to be restored", async || {
        let e = c
            .get_query_endpoint(&id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no endpoint")?;
        match e.roles == ["sql_console_admin"]
            && e.allowed_origins.as_deref() == Some("https://app.example.com")
        {
            true => Ok(()),
            false => Err(format!("{e:?}")),
        }
    })
    .await;
    let reasons = env.event_reasons("queries").await;
    assert!(reasons.iter().any(|r| r == "DriftCorrected"), "{reasons:?}");

    // Invalid roles are refused at admission.
    let mut bad = s.clone();
    bad["queryApiEndpoints"]["roles"] = json!(["root"]);
    let err = try_apply(&env, "queries", bad).await.unwrap_err();
    assert!(err.contains("roles"), "{err}");

    // Removed from the spec: deleted.
    s.as_object_mut().expect("spec").remove("queryApiEndpoints");
    env.apply_kind::<ClickHouseService>("queries", s).await;
    wait_until("the query endpoint to be deleted", async || {
        match c.get_query_endpoint(&id).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(e) => Err(format!("{e:?}")),
        }
    })
    .await;
    let o = ready(&env, "queries").await;
    assert!(o.status.and_then(|s| s.query_api_endpoint).is_none());
    assert_eq!(count(&env, "DELETE", QUERY_ROUTE), 1);
}

#[tokio::test]
async fn an_unknown_api_key_stalls_without_writing() {
    let Some(env) = start("chs-query-bad").await else {
        return;
    };
    env.apply_kind::<ClickHouseService>("queries", spec()).await;
    ready(&env, "queries").await;
    let before = writes(&env);
    let mut s = spec();
    s["queryApiEndpoints"] = json!({
        "roles": ["sql_console_read_only"], "openApiKeys": ["00000000-0000-4000-8000-000000000000"]
    });
    env.apply_kind::<ClickHouseService>("queries", s).await;
    let o = env
        .wait_condition_of::<ClickHouseService>("queries", "Stalled", "True", "InvalidSpec")
        .await;
    let message = condition_of(&o, "Stalled").expect("Stalled").message;
    assert!(
        message.contains("00000000-0000-4000-8000-000000000000"),
        "{message}"
    );
    assert_eq!(writes(&env), before, "no cloud write");
}

#[tokio::test]
async fn the_plan_lists_the_three_fields_as_changes_and_writes_nothing() {
    let Some(env) = start("chs-plan").await else {
        return;
    };
    env.apply_kind::<ClickHouseService>("planned", spec()).await;
    ready(&env, "planned").await;
    let c = cloud(&env);
    let keys = wait_until("the API keys", async || {
        c.list_api_key_ids().await.map_err(|e| e.to_string())
    })
    .await;
    let mut s = spec();
    s["privateEndpointIds"] = json!(["vpce-0aaa"]);
    s["backupConfiguration"] = json!({"backupRetentionPeriodInHours": 168});
    s["queryApiEndpoints"] = json!({"roles": ["sql_console_admin"], "openApiKeys": [keys[0]]});
    let manifest = json!({
        "apiVersion": "clouddb.dev/v1alpha1", "kind": "ClickHouseService",
        "metadata": {"name": "planned", "namespace": env.ns()}, "spec": s,
    });
    let dir = std::env::temp_dir().join(format!("clouddb-plan-{}", env.ns()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("planned.yaml");
    std::fs::write(&file, serde_yaml::to_string(&manifest).expect("yaml")).expect("write");
    let before = writes(&env);
    let ca = env.sim.ca_path().expect("https").display().to_string();
    let out = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_clouddb-operator"))
            .args([
                "plan".to_string(),
                "-f".to_string(),
                file.display().to_string(),
                format!("--clickhouse-api-url={}/v1", env.sim.clickhouse_base_url()),
                format!("--tidbcloud-api-url={}/v1beta1", env.sim.base_url()),
                format!("--tidbcloud-iam-url={}/v1beta1", env.sim.base_url()),
                format!(
                    "--tidbcloud-serverless-url={}/v1beta1",
                    env.sim.serverless_base_url()
                ),
                format!("--default-credentials={}/{CREDENTIALS}", env.ns()),
                format!(
                    "--default-clickhouse-credentials={}/{CLICKHOUSE_CREDENTIALS}",
                    env.ns()
                ),
                format!("--extra-ca-file={ca}"),
            ])
            .env("KUBECONFIG", env.env.cp.admin_kubeconfig())
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .expect("the plan finishes in time")
    .expect("run the plan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    for want in [
        "private endpoints +[vpce-0aaa]",
        "backup configuration: retention 168 h",
        "create query endpoint",
    ] {
        assert!(stdout.contains(want), "{want:?} in:\n{stdout}");
    }
    assert_eq!(writes(&env), before, "a plan writes nothing");
}
