//! TidbCloudSqlUser end to end: the real operator binary against the real kube-apiserver and the simulator.
//! Each test has its own namespace, simulator and operator process; waits are on conditions or on the cloud
//! state, with timeouts.

mod support;

use clouddb_operator::api::{TidbCloudSqlUser, TidbCloudSqlUserStatus};
use clouddb_operator::providers::tidbcloud::models::{SqlUser, UpdateSqlUserRequest};
use clouddb_sim::SimConfig;
use serde_json::{Value, json};
use support::operator::*;
use support::{TIMEOUT, eventually};

/// The cluster `orders` Ready; returns its cloud id.
async fn ready_cluster(env: &OperatorEnv) -> String {
    env.apply("orders", basic_spec()).await;
    let c = env.wait_ready("orders").await;
    c.status
        .and_then(|s| s.cluster_id)
        .expect("cluster id in status")
}

fn status(u: &TidbCloudSqlUser) -> TidbCloudSqlUserStatus {
    u.status.clone().unwrap_or_default()
}

async fn cloud_users(env: &OperatorEnv, cluster_id: &str) -> Vec<SqlUser> {
    env.cloud()
        .list_sql_users(cluster_id)
        .await
        .expect("list SQL users")
}

async fn cloud_user(env: &OperatorEnv, cluster_id: &str, name: &str) -> Option<SqlUser> {
    cloud_users(env, cluster_id)
        .await
        .into_iter()
        .find(|u| u.user_name == name)
}

/// Whether `password` is the password of `name` in the simulator (what a MySQL login would prove).
async fn verifies(env: &OperatorEnv, cluster_id: &str, name: &str, password: &str) -> bool {
    let v = env
        .sim_admin(
            reqwest::Method::POST,
            &format!("iam/clusters/{cluster_id}/sqlUsers/{name}:verifyPassword"),
            Some(json!({"password": password})),
        )
        .await;
    v["match"] == true
}

/// The connection Secret's `key`.
async fn secret_value(env: &OperatorEnv, secret: &str, key: &str) -> Option<String> {
    let s = env.secret(secret).await?;
    let data = s.data?;
    data.get(key)
        .map(|b| String::from_utf8(b.0.clone()).expect("utf8"))
}

async fn wait_ready(env: &OperatorEnv, name: &str) -> TidbCloudSqlUser {
    env.wait_for::<TidbCloudSqlUser>(
        name,
        &format!("{name} Ready on its current generation"),
        TIMEOUT * 2,
        |o| {
            condition_of(o, "Ready").is_some_and(|c| c.status == "True")
                && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
        },
    )
    .await
}

/// Cloud writes (POST/PATCH/DELETE) to SQL users the simulator counted, by method.
fn sql_user_writes(env: &OperatorEnv, method: &str) -> u64 {
    env.sim
        .counters()
        .into_iter()
        .filter(|r| r.key.method == method && r.key.route.contains("sqlUsers"))
        .map(|r| r.count)
        .sum()
}

fn app(roles: Value) -> Value {
    json!({
        "clusterRef": {"name": "orders"},
        "userName": "app",
        "builtinRole": "role_readonly",
        "customRoles": roles,
    })
}

#[tokio::test]
async fn generated_password_roles_drift_rotation_and_delete() {
    let Some(env) = OperatorEnv::start_with(
        "tcsqluser-life",
        SimConfig::default(),
        &["--poll-steady", "2s"],
    )
    .await
    else {
        return;
    };
    let cid = ready_cluster(&env).await;
    env.apply_kind::<TidbCloudSqlUser>("app", app(json!(["analyst"])))
        .await;
    let u = wait_ready(&env, "app").await;
    let s = status(&u);
    assert_eq!(s.id.as_deref(), Some(format!("{cid}/app").as_str()));
    assert_eq!(s.builtin_role.as_deref(), Some("role_readonly"));
    // The connection Secret works for the user.
    assert_eq!(
        secret_value(&env, "app-connection", "username")
            .await
            .as_deref(),
        Some("app")
    );
    let host = secret_value(&env, "app-connection", "host").await;
    assert!(host.is_some_and(|h| !h.is_empty()), "host in the Secret");
    let password = secret_value(&env, "app-connection", "password")
        .await
        .expect("password");
    assert!(password.len() >= 16, "a strong generated password");
    assert!(verifies(&env, &cid, "app", &password).await);
    let cloud = cloud_user(&env, &cid, "app")
        .await
        .expect("user in the cloud");
    assert_eq!(
        (cloud.builtin_role.as_str(), cloud.custom_roles.clone()),
        ("role_readonly", vec!["analyst".to_string()])
    );

    // Change the roles.
    env.merge_kind::<TidbCloudSqlUser>(
        "app",
        json!({"spec": {"builtinRole": "role_readwrite", "customRoles": ["etl", "analyst"]}}),
    )
    .await;
    wait_ready(&env, "app").await;
    let cloud = cloud_user(&env, &cid, "app").await.expect("user");
    let mut roles = cloud.custom_roles.clone();
    roles.sort();
    assert_eq!(
        (cloud.builtin_role.as_str(), roles),
        (
            "role_readwrite",
            vec!["analyst".to_string(), "etl".to_string()]
        )
    );

    // Drift: someone makes the user an admin with no custom roles, directly in TiDB Cloud.
    env.cloud()
        .update_sql_user(
            &cid,
            "app",
            &UpdateSqlUserRequest {
                builtin_role: Some("role_admin".into()),
                custom_roles: Some(vec![]),
                ..Default::default()
            },
        )
        .await
        .expect("change outside Kubernetes");
    eventually(
        "the SQL user drift to be corrected",
        TIMEOUT * 2,
        async || {
            let u = cloud_user(&env, &cid, "app").await.ok_or("gone")?;
            if u.builtin_role == "role_readwrite" && u.custom_roles.len() == 2 {
                Ok(())
            } else {
                Err(format!("{u:?}"))
            }
        },
    )
    .await
    .expect("drift corrected");
    assert!(
        env.event_reasons("app")
            .await
            .iter()
            .any(|r| r == "DriftCorrected")
    );
    // The password was not touched by role changes.
    assert!(verifies(&env, &cid, "app", &password).await);

    // Rotate the generated password.
    env.merge_kind::<TidbCloudSqlUser>("app", json!({"spec": {"passwordRotation": 1}}))
        .await;
    let rotated = eventually(
        "the password to be rotated",
        TIMEOUT * 2,
        async || match secret_value(&env, "app-connection", "password").await {
            Some(p) if p != password && verifies(&env, &cid, "app", &p).await => Ok(p),
            other => Err(format!(
                "Secret password changed: {}",
                other.is_some_and(|p| p != password)
            )),
        },
    )
    .await
    .expect("rotated");
    let u = wait_ready(&env, "app").await;
    assert_eq!(status(&u).password_rotation, Some(1));
    assert!(!verifies(&env, &cid, "app", &password).await);

    // No secret in logs, Events or status.
    env.assert_logs_free_of(&[&password, &rotated, &env.sim.key().private_key]);
    let status_json = serde_json::to_string(&u.status).expect("status");
    let notes = env.event_notes("app").await.join("\n");
    for p in [&password, &rotated] {
        assert!(!status_json.contains(p.as_str()) && !notes.contains(p.as_str()));
    }

    // Delete (no policy: a direct delete drops the user).
    env.delete_kind::<TidbCloudSqlUser>("app").await;
    env.wait_gone_of::<TidbCloudSqlUser>("app").await;
    assert!(
        cloud_user(&env, &cid, "app").await.is_none(),
        "user dropped"
    );
    assert!(
        env.rejected_writes().is_empty(),
        "{:?}",
        env.rejected_writes()
    );
}

#[tokio::test]
async fn password_from_a_secret_follows_it_and_retain_keeps_the_user() {
    let Some(env) = OperatorEnv::start("tcsqluser-secret").await else {
        return;
    };
    let cid = ready_cluster(&env).await;
    env.put_secret("app-pw", &[("password", "First-password-1")])
        .await;
    env.apply_kind::<TidbCloudSqlUser>(
        "reporting",
        json!({
            "clusterRef": {"name": "orders"},
            "userName": "reporting",
            "builtinRole": "role_readonly",
            "password": {"secretRef": {"name": "app-pw", "key": "password"}},
            "deletionPolicy": "Retain",
        }),
    )
    .await;
    wait_ready(&env, "reporting").await;
    assert!(verifies(&env, &cid, "reporting", "First-password-1").await);
    assert_eq!(
        secret_value(&env, "reporting-connection", "password")
            .await
            .as_deref(),
        Some("First-password-1")
    );

    // A new value in the Secret is set in TiDB Cloud.
    env.put_secret("app-pw", &[("password", "Second-password-2")])
        .await;
    eventually("the new password to be set", TIMEOUT * 2, async || {
        if verifies(&env, &cid, "reporting", "Second-password-2").await {
            Ok(())
        } else {
            Err("old password still set".to_string())
        }
    })
    .await
    .expect("password follows the Secret");
    assert!(
        env.event_reasons("reporting")
            .await
            .iter()
            .any(|r| r == "PasswordSet")
    );

    // Retain: the resource goes, the user stays.
    env.delete_kind::<TidbCloudSqlUser>("reporting").await;
    env.wait_gone_of::<TidbCloudSqlUser>("reporting").await;
    assert!(cloud_user(&env, &cid, "reporting").await.is_some());
    assert_eq!(sql_user_writes(&env, "DELETE"), 0);
    env.assert_logs_free_of(&["First-password-1", "Second-password-2"]);
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_creates_exactly_one_user() {
    let Some(env) = OperatorEnv::start("tcsqluser-drop").await else {
        return;
    };
    let cid = ready_cluster(&env).await;
    env.add_fault(json!({
        "kind": "dropAfterCommit", "count": 1, "method": "POST",
        "pathPrefix": format!("/v1beta1/clusters/{cid}/sqlUsers"),
    }))
    .await;
    env.apply_kind::<TidbCloudSqlUser>("app", app(json!([])))
        .await;
    let u = wait_ready(&env, "app").await;
    let named: Vec<SqlUser> = cloud_users(&env, &cid)
        .await
        .into_iter()
        .filter(|u| u.user_name == "app")
        .collect();
    assert_eq!(named.len(), 1, "exactly one user");
    assert_eq!(status(&u).id, Some(format!("{cid}/app")));
    assert_eq!(
        sql_user_writes(&env, "POST"),
        1,
        "created once, never again"
    );
    assert!(
        env.event_reasons("app")
            .await
            .iter()
            .any(|r| r == "Adopted"),
        "the lost create was adopted"
    );
    // The password of the lost create is the one in the Secret.
    let password = secret_value(&env, "app-connection", "password")
        .await
        .expect("password");
    assert!(verifies(&env, &cid, "app", &password).await);
}

#[tokio::test]
async fn invalid_input_is_refused_at_admission_or_stalls_without_cloud_writes() {
    let Some(env) = OperatorEnv::start("tcsqluser-invalid").await else {
        return;
    };
    let api = env.api::<TidbCloudSqlUser>();
    for (spec, expect) in [
        (
            json!({"clusterRef": {"name": "orders"}, "userName": "root", "builtinRole": "role_admin"}),
            "root",
        ),
        (
            json!({"clusterRef": {"name": "orders"}, "userName": "a b", "builtinRole": "role_admin"}),
            "should match",
        ),
        (
            json!({"clusterRef": {"name": "orders"}, "userName": "x", "builtinRole": "role_owner"}),
            "Unsupported value",
        ),
        (
            json!({"clusterRef": {"name": "orders"}, "userName": "x", "builtinRole": "role_admin",
                   "customRoles": ["role_readonly"]}),
            "builtin role",
        ),
        (
            json!({"clusterRef": {"name": "orders"}, "clusterId": "1", "userName": "x", "builtinRole": "role_admin"}),
            "exactly one",
        ),
    ] {
        let body = json!({"apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudSqlUser",
            "metadata": {"name": "bad"}, "spec": spec});
        let err = api
            .patch(
                "bad",
                &kube::api::PatchParams::apply("test").force(),
                &kube::api::Patch::Apply(&body),
            )
            .await
            .expect_err("refused at admission");
        assert!(err.to_string().contains(expect), "{spec}: {err}");
    }
    // userName is immutable.
    let cid = ready_cluster(&env).await;
    env.put_secret("short", &[("password", "short")]).await;
    env.apply_kind::<TidbCloudSqlUser>(
        "weak",
        json!({"clusterRef": {"name": "orders"}, "userName": "weak", "builtinRole": "role_readonly",
               "password": {"secretRef": {"name": "short", "key": "password"}}}),
    )
    .await;
    let stalled = env
        .wait_condition_of::<TidbCloudSqlUser>("weak", "Stalled", "True", "InvalidSpec")
        .await;
    let message = condition_of(&stalled, "Stalled").expect("Stalled").message;
    assert!(message.contains("8 to 64 characters"), "{message}");
    let err = api
        .patch(
            "weak",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&json!({"spec": {"userName": "strong"}})),
        )
        .await
        .expect_err("userName is immutable");
    assert!(err.to_string().contains("immutable"), "{err}");

    // A user of that name exists already and this resource did not create it: never adopted.
    env.cloud()
        .create_sql_user(
            &cid,
            &clouddb_operator::providers::tidbcloud::models::CreateSqlUserRequest {
                user_name: "legacy".into(),
                password: "Legacy-password-1".to_string().into(),
                auth_method: "mysql_native_password".into(),
                builtin_role: "role_admin".into(),
                custom_roles: vec![],
            },
        )
        .await
        .expect("a user made outside Kubernetes");
    env.apply_kind::<TidbCloudSqlUser>(
        "legacy",
        json!({"clusterRef": {"name": "orders"}, "userName": "legacy", "builtinRole": "role_readonly"}),
    )
    .await;
    env.wait_condition_of::<TidbCloudSqlUser>("legacy", "Stalled", "True", "Conflict")
        .await;
    assert_eq!(
        sql_user_writes(&env, "POST"),
        1,
        "only the test's own create: the operator wrote nothing"
    );
    assert_eq!(sql_user_writes(&env, "PATCH"), 0);
    let legacy = cloud_user(&env, &cid, "legacy").await.expect("legacy");
    assert_eq!(legacy.builtin_role, "role_admin", "untouched");
    assert!(verifies(&env, &cid, "legacy", "Legacy-password-1").await);
}

#[tokio::test]
async fn the_example_is_accepted_and_waits_for_its_cluster() {
    let Some(env) = OperatorEnv::start("tcsqluser-example").await else {
        return;
    };
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tidbcloudsqluser.yaml");
    let text = std::fs::read_to_string(path).expect("examples/tidbcloudsqluser.yaml");
    let mut names = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(doc).expect("YAML");
        let name = v["metadata"]["name"].as_str().expect("name").to_string();
        match v["kind"].as_str() {
            Some("Secret") => {
                let data: Vec<(String, String)> = v["stringData"]
                    .as_object()
                    .expect("stringData")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_string()))
                    .collect();
                let pairs: Vec<(&str, &str)> =
                    data.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                env.put_secret(&name, &pairs).await;
            }
            Some("TidbCloudSqlUser") => {
                env.apply_kind::<TidbCloudSqlUser>(&name, v["spec"].clone())
                    .await;
                names.push(name);
            }
            other => panic!("unexpected kind {other:?} in the example"),
        }
    }
    assert_eq!(names, ["orders-app", "reporting"]);
    for name in &names {
        env.wait_condition_of::<TidbCloudSqlUser>(name, "Stalled", "True", "ClusterNotFound")
            .await;
    }
}

#[tokio::test]
async fn namespace_deletion_retains_the_user_and_its_password() {
    let Some(env) = OperatorEnv::start("tcsqluser-cascade").await else {
        return;
    };
    let cid = ready_cluster(&env).await;
    env.apply_kind::<TidbCloudSqlUser>("app", app(json!([])))
        .await;
    wait_ready(&env, "app").await;
    let password = secret_value(&env, "app-connection", "password")
        .await
        .expect("password");
    let namespaces: kube::api::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::api::Api::all(env.env.admin.clone());
    namespaces
        .delete(env.ns(), &Default::default())
        .await
        .expect("delete namespace");
    support::await_deleted(namespaces.clone(), env.ns(), TIMEOUT * 3)
        .await
        .expect("namespace gone");
    assert!(
        cloud_user(&env, &cid, "app").await.is_some(),
        "the SQL user is retained on a namespace cascade"
    );
    assert_eq!(sql_user_writes(&env, "DELETE"), 0);
    let copies: kube::api::Api<k8s_openapi::api::core::v1::Secret> =
        kube::api::Api::namespaced(env.env.admin.clone(), env.operator_ns.name());
    let copy = copies
        .get(&format!("retained-{}-app-connection", env.ns()))
        .await
        .expect("connection Secret copied to the operator namespace");
    assert_eq!(
        copy.data.expect("data")["password"].0,
        password.into_bytes(),
        "the generated password is not lost"
    );
    assert!(
        verifies(
            &env,
            &cid,
            "app",
            &String::from_utf8(copy_password(&copies, &env).await).expect("utf8")
        )
        .await
    );
}

async fn copy_password(
    copies: &kube::api::Api<k8s_openapi::api::core::v1::Secret>,
    env: &OperatorEnv,
) -> Vec<u8> {
    copies
        .get(&format!("retained-{}-app-connection", env.ns()))
        .await
        .expect("copy")
        .data
        .expect("data")["password"]
        .0
        .clone()
}
