//! TidbCloudCluster end to end: the real operator binary against the real kube-apiserver and the simulator.
//! Each test has its own namespace, simulator and operator process.

mod support;

use support::operator::*;

#[tokio::test]
async fn create_reaches_ready_with_endpoints_and_connection_secret() {
    let Some(env) = OperatorEnv::start("tcc-create").await else {
        return;
    };
    env.apply("orders", basic_spec()).await;
    let o = env.wait_ready("orders").await;
    let status = o.status.expect("status");
    let id = status.cluster_id.expect("clusterId in status");
    assert_eq!(status.state.as_deref(), Some("ACTIVE"));
    assert!(!status.endpoints.is_empty(), "endpoints reported");
    assert_eq!(env.clusters_named("orders").await.len(), 1);
    let secret = env
        .secret("orders-connection")
        .await
        .expect("connection Secret");
    let data = secret.data.expect("data");
    for k in ["host", "port", "username", "password", "uri"] {
        assert!(data.contains_key(k), "connection Secret has {k}");
    }
    let password = String::from_utf8(data["password"].0.clone()).expect("utf8");
    assert!(password.len() >= 16, "generated password is strong");
    // The cloud cluster really has that password.
    let verified = env
        .sim_admin(
            reqwest::Method::POST,
            &format!("dedicated/clusters/{id}:verifyRootPassword"),
            Some(serde_json::json!({"rootPassword": password})),
        )
        .await;
    assert_eq!(verified["match"], true, "{verified}");
    assert!(
        env.rejected_writes().is_empty(),
        "{:?}",
        env.rejected_writes()
    );
    env.assert_logs_free_of(&[&password, &env.sim.key().private_key]);
}
