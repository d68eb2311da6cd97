//! Proves the control-plane harness: CRDs with CEL validation and a status subresource, server-side apply,
//! watches, finalizers, garbage collection by kube-controller-manager, and RBAC for the operator identity.
//!
//! Needs the binaries from `tools/control-plane/build.sh`; without them each test prints SKIPPED and passes,
//! except under CI, where it fails.

mod support;

use std::time::Instant;

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch,
    PatchParams, PostParams,
};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::*;

const GROUP: &str = "smoke.clouddb.io";
const CEL_MESSAGE: &str = "spec.replicas must not exceed spec.maxReplicas";
const FINALIZER: &str = "smoke.clouddb.io/cleanup";

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.clouddb.io
spec:
  group: smoke.clouddb.io
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    listKind: WidgetList
  versions:
    - name: v1
      served: true
      storage: true
      subresources:
        status: {}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [replicas, maxReplicas]
              properties:
                replicas:
                  type: integer
                  minimum: 0
                maxReplicas:
                  type: integer
                  minimum: 1
              x-kubernetes-validations:
                - rule: "self.replicas <= self.maxReplicas"
                  message: "spec.replicas must not exceed spec.maxReplicas"
            status:
              type: object
              properties:
                phase:
                  type: string
                observedGeneration:
                  type: integer
                  format: int64
"#;

/// The control plane of this test binary: the Widget CRD is installed before kube-controller-manager starts,
/// so the garbage collector watches Widgets from the beginning.
fn options() -> ControlPlaneOptions {
    ControlPlaneOptions::default()
        .with_crd_yaml(WIDGET_CRD)
        .expect("Widget CRD YAML parses")
}

fn widget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, "v1", "Widget"), "widgets")
}

/// Applies the Widget CRD again (idempotent; it proves the apply-and-wait helper) and returns the Widget API of
/// `ns`.
async fn widgets(client: &Client, ns: &str) -> Api<DynamicObject> {
    apply_crd_yaml(client, WIDGET_CRD, TIMEOUT)
        .await
        .expect("Widget CRD established");
    Api::namespaced_with(client.clone(), ns, &widget_resource())
}

fn widget(name: &str, replicas: i64, max_replicas: i64) -> DynamicObject {
    DynamicObject::new(name, &widget_resource()).data(json!({
        "spec": { "replicas": replicas, "maxReplicas": max_replicas }
    }))
}

fn phase(obj: &DynamicObject) -> Option<&str> {
    obj.data.pointer("/status/phase").and_then(|p| p.as_str())
}

#[tokio::test]
async fn status_apply_arrives_through_watch_and_finalizer_holds_deletion() {
    let Some(env) = setup_with("smoke-watch", options).await else {
        return;
    };
    let api = widgets(&env.admin, env.ns.name()).await;

    let created = api
        .create(&PostParams::default(), &widget("w1", 1, 3))
        .await
        .expect("create widget");
    assert_eq!(created.metadata.generation, Some(1));

    // Watch before changing anything, so the status change must come through the stream.
    let stream = watcher(
        api.clone(),
        watcher::Config::default().fields("metadata.name=w1"),
    )
    .applied_objects();
    let mut stream = std::pin::pin!(stream);
    let first = tokio::time::timeout(TIMEOUT, stream.try_next())
        .await
        .expect("initial watch event within timeout")
        .expect("watch stream")
        .expect("watch stream ended");
    assert_eq!(phase(&first), None, "a new widget has no status");

    // Server-side apply to the status subresource.
    let status = json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": "Widget",
        "status": { "phase": "Ready", "observedGeneration": 1 }
    });
    let patched = api
        .patch_status(
            "w1",
            &PatchParams::apply("smoke-test").force(),
            &Patch::Apply(&status),
        )
        .await
        .expect("apply status");
    assert_eq!(phase(&patched), Some("Ready"));
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "status writes do not bump the generation"
    );
    assert!(
        patched
            .managed_fields()
            .iter()
            .any(|f| f.manager.as_deref() == Some("smoke-test")
                && f.subresource.as_deref() == Some("status")),
        "the status field manager is recorded on the status subresource"
    );

    let seen = tokio::time::timeout(TIMEOUT, async {
        while let Some(obj) = stream.try_next().await.expect("watch stream") {
            if phase(&obj) == Some("Ready") {
                return obj;
            }
        }
        panic!("watch stream ended before the status change arrived");
    })
    .await
    .expect("status change seen through the watch within timeout");
    assert_eq!(
        seen.data.pointer("/status/observedGeneration"),
        Some(&json!(1))
    );

    // A finalizer holds the deletion until it is removed.
    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": [FINALIZER] } })),
    )
    .await
    .expect("add finalizer");
    api.delete("w1", &DeleteParams::default())
        .await
        .expect("delete widget");
    let terminating = await_object(
        api.clone(),
        "w1",
        "widget w1 to get a deletionTimestamp",
        TIMEOUT,
        |obj: Option<&DynamicObject>| obj.is_some_and(|o| o.metadata.deletion_timestamp.is_some()),
    )
    .await
    .expect("widget is terminating");
    assert_eq!(terminating.finalizers(), [FINALIZER.to_string()]);
    assert!(
        api.get_opt("w1").await.expect("get widget").is_some(),
        "finalizer keeps the widget"
    );

    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
    )
    .await
    .expect("remove finalizer");
    await_deleted(api.clone(), "w1", TIMEOUT)
        .await
        .expect("widget gone after finalizer removal");
}

#[tokio::test]
async fn cel_rule_rejects_invalid_object() {
    let Some(env) = setup_with("smoke-cel", options).await else {
        return;
    };
    let api = widgets(&env.admin, env.ns.name()).await;

    let err = api
        .create(&PostParams::default(), &widget("too-many", 5, 2))
        .await
        .expect_err("the CEL rule must reject replicas > maxReplicas");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 422, "unexpected status: {status:?}");
            assert!(status.is_invalid(), "unexpected status: {status:?}");
            assert!(
                status.message.contains(CEL_MESSAGE),
                "message was: {}",
                status.message
            );
        }
        other => panic!("expected an API error, got {other}"),
    }

    // The same object within the rule is accepted, so it was the rule that rejected it.
    api.create(&PostParams::default(), &widget("fine", 2, 2))
        .await
        .expect("a valid widget is accepted");
}

#[tokio::test]
async fn garbage_collector_deletes_owned_secret() {
    let Some(env) = setup_with("smoke-gc", options).await else {
        return;
    };
    let api = widgets(&env.admin, env.ns.name()).await;
    let owner = api
        .create(&PostParams::default(), &widget("owner", 1, 1))
        .await
        .expect("create owner widget");

    let secrets: Api<Secret> = Api::namespaced(env.admin.clone(), env.ns.name());
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("owned".into()),
            owner_references: Some(vec![OwnerReference {
                api_version: format!("{GROUP}/v1"),
                kind: "Widget".into(),
                name: owner.name_any(),
                uid: owner.uid().expect("owner uid"),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        string_data: Some([("password".to_string(), "hunter2".to_string())].into()),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create owned secret");

    assert!(
        secrets
            .get_opt("owned")
            .await
            .expect("get secret")
            .is_some()
    );

    let deleted_at = Instant::now();
    api.delete("owner", &DeleteParams::background())
        .await
        .expect("delete owner");
    // Quick because the CRD was installed before kube-controller-manager started (see `options`); for a CRD
    // installed later the garbage collector needs its 30 s discovery resync first.
    await_deleted(secrets, "owned", TIMEOUT)
        .await
        .expect("the garbage collector deletes the owned secret");
    eprintln!(
        "garbage collector removed the owned secret {:.1}s after its owner",
        deleted_at.elapsed().as_secs_f64()
    );
}

#[tokio::test]
async fn operator_identity_needs_rbac_to_list_secrets() {
    let Some(env) = setup_with("smoke-rbac", options).await else {
        return;
    };
    let ns = env.ns.name();
    let operator = env.cp.operator_client().await.expect("operator client");
    let operator_secrets: Api<Secret> = Api::namespaced(operator.clone(), ns);

    match operator_secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) if status.is_forbidden() => {
            assert!(
                status.message.contains(OPERATOR_USERNAME),
                "message was: {}",
                status.message
            );
        }
        other => panic!("expected Forbidden before any grant, got {other:?}"),
    }

    let role = Role {
        metadata: ObjectMeta {
            name: Some("secret-reader".into()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            verbs: vec!["get".into(), "list".into(), "watch".into()],
            ..PolicyRule::default()
        }]),
    };
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("operator-reads-secrets".into()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: "secret-reader".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: OPERATOR_SERVICE_ACCOUNT.into(),
            namespace: Some(OPERATOR_NAMESPACE.into()),
            ..Subject::default()
        }]),
    };
    Api::<Role>::namespaced(env.admin.clone(), ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("create role");
    Api::<RoleBinding>::namespaced(env.admin.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await
        .expect("create role binding");

    // The authorizer reads RBAC objects from an informer cache, so the grant takes effect shortly after.
    let list = eventually(
        "the operator to be allowed to list secrets",
        TIMEOUT,
        async || operator_secrets.list(&ListParams::default()).await,
    )
    .await
    .expect("operator can list secrets after the grant");
    assert!(
        list.items
            .iter()
            .all(|s| s.namespace().as_deref() == Some(ns))
    );

    // The grant is namespaced: cluster-wide listing stays forbidden.
    match Api::<Secret>::all(operator)
        .list(&ListParams::default())
        .await
    {
        Err(kube::Error::Api(status)) if status.is_forbidden() => {}
        other => panic!("expected Forbidden for a cluster-wide list, got {other:?}"),
    }
}

#[tokio::test]
async fn reports_startup_time() {
    let Some(cp) = ControlPlane::shared_or_skip_with(options).await else {
        return;
    };
    let timings = cp.timings();
    assert!(timings.etcd_healthy <= timings.apiserver_ready);
    assert!(
        timings.controller_manager_healthy.is_some(),
        "the shared control plane runs kube-controller-manager"
    );
    cp.check_running().expect("all components running");
    // Printed with --nocapture; the shared start also prints it to stderr once per test binary.
    println!("control plane start: {timings}");
}
