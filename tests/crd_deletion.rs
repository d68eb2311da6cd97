//! Deleting the operator's CustomResourceDefinitions: the real operator binary against the real kube-apiserver
//! and the TiDB Cloud simulator. A binary of its own, since it deletes CRDs of its control plane; its tests
//! take turns (a lock) and each starts by installing every CRD again.

mod support;

use std::time::Duration;

use clouddb_operator::api::{self, TidbCloudCluster};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::Api;
use serde_json::json;
use support::operator::*;
use support::{ControlPlane, TIMEOUT, apply_crd_yaml, await_deleted, eventually};

/// One test at a time may delete and reinstall CRDs of the shared control plane.
static CRDS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const TCC_CRD: &str = "tidbcloudclusters.clouddb.dev";

/// Installs (again) every CRD of the operator and waits until each is Established.
async fn install_all_crds(client: &kube::Client) {
    for crd in api::crds() {
        apply_crd_yaml(client, &api::crd_yaml(&crd), TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("install {:?}: {e}", crd.metadata.name));
    }
}

/// The control plane with every CRD installed (a test before may have deleted one), or `None` to skip.
async fn control_plane_with_all_crds() -> Option<&'static ControlPlane> {
    let cp = ControlPlane::shared_or_skip_with(control_plane_options).await?;
    install_all_crds(&cp.admin_client().await.expect("admin client")).await;
    Some(cp)
}

#[tokio::test]
async fn deleting_the_crd_never_deletes_cloud_clusters() {
    let _turn = CRDS.lock().await;
    let Some(cp) = control_plane_with_all_crds().await else {
        return;
    };
    let Some(env) = OperatorEnv::start("crd-delete").await else {
        return;
    };
    let mut spec = basic_spec();
    spec["deletionPolicy"] = json!("Delete");
    let names = ["first", "second"];
    for name in names {
        env.apply(name, spec.clone()).await;
    }
    let mut objects = Vec::new();
    for name in names {
        let o = env.wait_ready(name).await;
        let id = o
            .status
            .as_ref()
            .and_then(|s| s.cluster_id.clone())
            .expect("cluster id");
        let uid = o.uid().expect("uid");
        let secret = env
            .secret(&format!("{name}-connection"))
            .await
            .expect("connection Secret");
        assert!(
            secret.owner_references().iter().any(|r| r.uid == uid),
            "precondition: the connection Secret is owned by {name}"
        );
        objects.push((name, id, uid));
    }

    let crds: Api<CustomResourceDefinition> = Api::all(env.env.admin.clone());
    crds.delete(TCC_CRD, &Default::default())
        .await
        .expect("delete the CustomResourceDefinition");
    if let Err(e) = await_deleted(crds.clone(), TCC_CRD, Duration::from_secs(90)).await {
        panic!(
            "{e}\n--- operator log (tail) ---\n{}",
            tail(&env.logs(), 60)
        );
    }
    // The kind is gone, and with it every object of it.
    let tcc_gone = env
        .api::<TidbCloudCluster>()
        .list(&Default::default())
        .await
        .expect_err("no TidbCloudCluster API any more");
    assert!(
        matches!(&tcc_gone, kube::Error::Api(s) if s.code == 404),
        "{tcc_gone}"
    );

    let cloud = env.cloud();
    let mut problems = Vec::new();
    for (name, id, uid) in &objects {
        match cloud.get_cluster(id).await {
            Ok(c) if c.state.as_str() == "DELETING" => {
                problems.push(format!("{name}: cloud cluster {id} is DELETING"));
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                problems.push(format!("{name}: cloud cluster {id} was deleted"));
            }
            Err(e) => panic!("get cluster {id}: {e}"),
        }
        let secrets: Api<Secret> = env.api();
        match secrets
            .get_opt(&format!("{name}-connection"))
            .await
            .expect("get Secret")
        {
            None => problems.push(format!("{name}: the connection Secret is gone")),
            Some(s) if s.owner_references().iter().any(|r| &r.uid == uid) => problems.push(format!(
                "{name}: the connection Secret is still owned by the deleted object (garbage collection will take \
                 it)"
            )),
            Some(_) => {}
        }
    }
    let deletes = env.requests("DELETE", |r| r.starts_with("/v1beta1/clusters"));
    if deletes > 0 {
        problems.push(format!(
            "the cloud saw {deletes} DELETE request(s) on clusters: {:?}",
            env.writes_seen()
        ));
    }
    assert!(
        problems.is_empty(),
        "deleting CRD {TCC_CRD} (objects with deletionPolicy: Delete):\n  {}\nEvent reasons: {:?} / {:?}",
        problems.join("\n  "),
        env.event_reasons("first").await,
        env.event_reasons("second").await,
    );

    // Leave the control plane as found.
    install_all_crds(&cp.admin_client().await.expect("admin client")).await;
}

/// The HTTP status of the operator's /readyz (`Err` when it does not answer).
async fn readyz(http: &reqwest::Client, base: &str) -> Result<u16, String> {
    http.get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// Waits until /readyz answers a status for which `want` holds.
async fn wait_readyz(
    env: &OperatorEnv,
    http: &reqwest::Client,
    base: &str,
    what: &str,
    want: impl Fn(u16) -> bool,
) {
    let want = &want;
    let res = eventually(what, Duration::from_secs(60), async || {
        match readyz(http, base).await? {
            s if want(s) => Ok(()),
            s => Err(format!("/readyz answers {s}")),
        }
    })
    .await;
    if let Err(e) = res {
        panic!(
            "{e}\n--- operator log (tail) ---\n{}",
            tail(&env.logs(), 40)
        );
    }
}

#[tokio::test]
async fn readyz_is_not_ready_while_a_crd_is_missing() {
    const CRD: &str = "tidbcloudintegrations.clouddb.dev";
    let _turn = CRDS.lock().await;
    let Some(cp) = control_plane_with_all_crds().await else {
        return;
    };
    let Some(env) = OperatorEnv::start("crd-readyz").await else {
        return;
    };
    let admin = cp.admin_client().await.expect("admin client");
    let base = env.metrics_url().await;
    let http = reqwest::Client::new();
    wait_readyz(
        &env,
        &http,
        &base,
        "/readyz 200 with every CRD installed",
        |s| s == 200,
    )
    .await;

    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    crds.delete(CRD, &Default::default())
        .await
        .expect("delete the CustomResourceDefinition");
    await_deleted(crds, CRD, TIMEOUT)
        .await
        .expect("CRD deleted");
    wait_readyz(
        &env,
        &http,
        &base,
        &format!("/readyz not 200 while {CRD} is missing"),
        |s| s != 200,
    )
    .await;

    // Reinstalled from its YAML in crds/, as `kubectl apply -f crds/` would.
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/tidbcloudintegration.yaml"
    ))
    .expect("crds/tidbcloudintegration.yaml");
    apply_crd_yaml(&admin, &yaml, TIMEOUT)
        .await
        .expect("reinstall the CRD");
    wait_readyz(
        &env,
        &http,
        &base,
        &format!("/readyz 200 again once {CRD} is back"),
        |s| s == 200,
    )
    .await;
}

/// An object the operator cannot parse (here: written while a looser CRD was installed) is reported with an
/// `InvalidObject` Warning Event and never stops the (shared) watch of its kind: another object of the same kind
/// still goes Ready.
#[tokio::test]
async fn an_unreadable_object_is_reported_and_never_stops_its_kind() {
    use kube::api::{ApiResource, DynamicObject, PostParams};

    let _turn = CRDS.lock().await;
    let Some(cp) = control_plane_with_all_crds().await else {
        return;
    };
    let admin = cp.admin_client().await.expect("admin client");
    // A looser schema, as an older operator version might have installed: `spec` takes anything.
    let crd = api::crds()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(TCC_CRD))
        .expect("the TidbCloudCluster CRD");
    let mut loose = serde_json::to_value(&crd).expect("CRD as JSON");
    let schema = &mut loose["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    schema["properties"]["spec"] =
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    if let Some(o) = schema.as_object_mut() {
        o.remove("x-kubernetes-validations");
    }
    let yaml = serde_yaml::to_string(&loose).expect("CRD as YAML");
    apply_crd_yaml(&admin, &yaml, TIMEOUT)
        .await
        .expect("install the looser CRD");

    let Some(env) = OperatorEnv::start("crd-invalid").await else {
        return;
    };
    let ar = ApiResource::erase::<TidbCloudCluster>(&());
    let raw: Api<DynamicObject> = Api::namespaced_with(env.env.admin.clone(), env.ns(), &ar);
    let mut broken = basic_spec();
    broken["tidb"]["nodeCount"] = json!("three");
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudCluster",
        "metadata": {"name": "broken"}, "spec": broken,
    }))
    .expect("a dynamic object");
    raw.create(&PostParams::default(), &obj)
        .await
        .expect("the looser CRD accepts the object");
    env.apply("healthy", basic_spec()).await;
    env.wait_ready("healthy").await;
    eventually("an InvalidObject Event", TIMEOUT, async || {
        let reasons = env.event_reasons("broken").await;
        if reasons.iter().any(|r| r == "InvalidObject") {
            Ok(())
        } else {
            Err(format!("Events of the unreadable object: {reasons:?}"))
        }
    })
    .await
    .expect("an InvalidObject Warning Event for the unreadable object");
    assert!(
        env.logs().contains("cannot be read by the operator"),
        "the operator logs what is wrong with the object"
    );
    // Leave nothing behind for the other tests of this control plane (a CRD deletion waits for every object).
    env.delete("healthy").await;
    env.wait_gone("healthy").await;
    raw.delete("broken", &Default::default())
        .await
        .expect("delete the unreadable object");
    await_deleted(raw, "broken", TIMEOUT)
        .await
        .expect("the unreadable object (no finalizer) goes at once");
    install_all_crds(&admin).await;
}
