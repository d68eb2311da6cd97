//! The CustomResourceDefinitions and the deletion-protection policy.
//!
//! - `crds/` matches the Rust types (`UPDATE_CRDS=1 cargo test --test crds` rewrites it);
//! - against a real kube-apiserver (skipped with a message when the control-plane binaries are missing, see
//!   `tools/control-plane/build.sh`): defaults, immutability and validation rules, the list-map conditions,
//!   descriptions for `kubectl explain`, and the deletion-protection ValidatingAdmissionPolicy.

mod support;

use std::path::{Path, PathBuf};

use clouddb_operator::api::{
    self, DELETION_PROTECTION_POLICY, TidbCloudCluster, TidbCloudClusterSpec,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::Deserialize;
use serde_json::{Value, json};
use support::*;

const FIELD_MANAGER: &str = "clouddb-crds-test";
const PROTECTION_MESSAGE: &str = "set spec.deletionProtection to false first";

fn crds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crds")
}

/// The file in `crds/` that holds one generated CustomResourceDefinition: `<singular>.yaml`.
fn crd_file(crd: &CustomResourceDefinition) -> PathBuf {
    let singular = crd
        .spec
        .names
        .singular
        .clone()
        .expect("generated CRDs name their singular");
    crds_dir().join(format!("{singular}.yaml"))
}

/// Golden test: `crds/<singular>.yaml` is `crd_yaml()` of each generated CRD (and reads back as that CRD), and
/// the files together are `crds_yaml()`. With `UPDATE_CRDS=1` it rewrites stale files instead.
#[test]
fn crds_dir_is_up_to_date() {
    let update = std::env::var_os("UPDATE_CRDS").is_some_and(|v| !v.is_empty() && v != "0");
    let mut stale = Vec::new();
    for crd in api::crds() {
        let path = crd_file(&crd);
        let expected = api::crd_yaml(&crd);
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        if actual == expected {
            continue;
        }
        if update {
            std::fs::write(&path, &expected)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            eprintln!("rewrote {}", path.display());
        } else {
            stale.push(format!(
                "{} (first difference at line {})",
                path.display(),
                first_difference(&actual, &expected)
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated CRDs: {}\nThe Rust types in src/api changed: run `UPDATE_CRDS=1 cargo test --test crds` \
         and commit the result.",
        stale.join(", ")
    );

    let mut all = String::new();
    for crd in api::crds() {
        let path = crd_file(&crd);
        let file = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let parsed: CustomResourceDefinition = serde_yaml::from_str(&file).expect("valid CRD YAML");
        assert!(
            parsed == crd,
            "{} does not read back as the CRD",
            path.display()
        );
        all.push_str(&file);
    }
    assert!(
        all == api::crds_yaml(),
        "the files in crds/ differ from crds_yaml() (first difference at line {})",
        first_difference(&all, &api::crds_yaml())
    );
    assert_eq!(
        api::crds()
            .iter()
            .map(|c| c.spec.names.kind.as_str())
            .collect::<Vec<_>>(),
        [
            "ClickHouseService",
            "TidbCloudBranch",
            "TidbCloudCluster",
            "TidbCloudImport",
            "TidbCloudIntegration",
            "TidbCloudServerlessCluster",
            "TidbCloudSqlUser"
        ]
    );
}

/// 1-based number of the first line where `a` and `b` differ.
fn first_difference(a: &str, b: &str) -> usize {
    let mut a_lines = a.lines();
    let mut b_lines = b.lines();
    let mut n = 1;
    loop {
        match (a_lines.next(), b_lines.next()) {
            (Some(x), Some(y)) if x == y => n += 1,
            (None, None) => return n,
            _ => return n,
        }
    }
}

#[test]
fn no_stray_files_in_crds_dir() {
    let mut expected: Vec<String> = api::crds()
        .iter()
        .map(|crd| {
            crd_file(crd)
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    expected.push("deletion-protection.yaml".into());
    expected.sort();
    let mut actual: Vec<String> = std::fs::read_dir(crds_dir())
        .expect("crds/ exists")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    actual.sort();
    assert_eq!(
        actual, expected,
        "crds/ holds exactly the generated CRDs and the policy"
    );
}

#[test]
fn schema_describes_every_property_and_stays_structural() {
    for crd in api::crds() {
        for version in &crd.spec.versions {
            let schema = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("every version has a schema");
            let schema = serde_json::to_value(schema).expect("schema to JSON");
            let mut missing = Vec::new();
            check_schema(&schema, "", &mut missing);
            assert!(
                missing.is_empty(),
                "{}/{}: {}",
                crd.spec.names.kind,
                version.name,
                missing.join("; ")
            );
        }
    }
}

/// Every property below `spec` and `status` has a description, a type, and no `anyOf`/`oneOf`/`allOf`/`not`
/// or `nullable` (the generator's usual ways to break a structural schema or null handling).
fn check_schema(schema: &Value, path: &str, problems: &mut Vec<String>) {
    if !path.is_empty() {
        let description = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("");
        if description.trim().is_empty() {
            problems.push(format!("{path}: no description"));
        }
    }
    if schema.get("type").is_none() && schema.get("x-kubernetes-int-or-string").is_none() {
        problems.push(format!("{}: no type", display_path(path)));
    }
    for keyword in ["anyOf", "oneOf", "allOf", "not", "nullable", "$ref"] {
        if schema.get(keyword).is_some() {
            problems.push(format!("{}: has {keyword}", display_path(path)));
        }
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            check_schema(property, &format!("{path}.{name}"), problems);
        }
    }
    if let Some(items) = schema.get("items") {
        check_schema(items, &format!("{path}[]"), problems);
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

#[test]
fn policy_yaml_is_a_policy_and_its_binding() {
    let (policy, binding) = policy_objects();
    assert_eq!(policy.name_any(), DELETION_PROTECTION_POLICY);
    assert_eq!(binding.name_any(), DELETION_PROTECTION_POLICY);
    assert_eq!(binding.spec.policy_name, DELETION_PROTECTION_POLICY);
    assert_eq!(binding.spec.validation_actions, ["Deny"]);
    let rules = policy
        .spec
        .as_ref()
        .and_then(|s| s.match_constraints.as_ref())
        .and_then(|m| m.resource_rules.as_ref())
        .expect("resource rules");
    assert!(rules.iter().all(|r| {
        r.api_groups.as_deref() == Some(&[api::GROUP.to_string()][..])
            && r.operations.as_deref() == Some(&["DELETE".to_string()][..])
    }));
}

#[test]
fn helpers_apply_operator_defaults() {
    let mut tcc = TidbCloudCluster::new("orders-db", spec_value(json!({})));
    assert_eq!(tcc.effective_display_name(), "orders-db");
    assert_eq!(tcc.connection_secret_name(), "orders-db-connection");
    assert!(!tcc.observe_only());

    tcc.spec.display_name = Some("orders-prod".into());
    tcc.spec.connection_secret = Some(api::ConnectionSecretSpec {
        name: Some("orders-conn".into()),
    });
    tcc.annotations_mut()
        .insert(api::RECONCILE_ANNOTATION.into(), api::OBSERVE.into());
    assert_eq!(tcc.effective_display_name(), "orders-prod");
    assert_eq!(tcc.connection_secret_name(), "orders-conn");
    assert!(tcc.observe_only());

    tcc.annotations_mut()
        .insert(api::RECONCILE_ANNOTATION.into(), "full".into());
    assert!(!tcc.observe_only());
    tcc.spec.connection_secret = Some(api::ConnectionSecretSpec::default());
    assert_eq!(tcc.connection_secret_name(), "orders-db-connection");
}

#[test]
fn spec_defaults_when_deserialized() {
    let spec = spec_value(json!({}));
    assert_eq!(spec.port, 4000);
    assert!(!spec.paused);
    assert!(!spec.deletion_protection);
    assert_eq!(spec.deletion_policy, None);
    // Serialization leaves out what is absent (no nulls in apply patches).
    let value = serde_json::to_value(&spec).expect("spec to JSON");
    assert!(value.get("projectId").is_none());
    assert!(value.get("tiflash").is_none());
    assert_eq!(
        serde_json::to_value(api::DeletionPolicy::Retain).expect("to JSON"),
        json!("Retain")
    );
    // An empty status serializes to an empty object, so partial status patches carry only what is set.
    assert_eq!(
        serde_json::to_value(api::TidbCloudClusterStatus::default()).expect("to JSON"),
        json!({})
    );
}

#[test]
fn example_manifest_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tidbcloudcluster.yaml");
    let text = std::fs::read_to_string(&path).expect("examples/tidbcloudcluster.yaml exists");
    let tcc: TidbCloudCluster =
        serde_yaml::from_str(&text).expect("example parses as a TidbCloudCluster");
    assert_eq!(tcc.spec.tidb.node_count, 2);
    assert_eq!(tcc.spec.tikv.node_count, 3);

    // Only values the simulator's catalogue offers.
    let catalog: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("sim/data/catalog.json"),
        )
        .expect("sim/data/catalog.json"),
    )
    .expect("catalogue JSON");
    let region = catalog["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .find(|r| r["regionId"] == tcc.spec.region_id.as_str())
        .expect("the example's region is in the catalogue");
    let family = region["nodeSpecFamily"].as_str().expect("node spec family");
    let node_spec = |component: &str, key: &str| {
        catalog["nodeSpecFamilies"][family]
            .as_array()
            .expect("node specs")
            .iter()
            .find(|s| s["componentType"] == component && s["nodeSpecKey"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{component} node spec {key} is offered in {family}"))
    };
    node_spec("TIDB", &tcc.spec.tidb.node_spec_key);
    let tikv = node_spec("TIKV", &tcc.spec.tikv.node_spec_key);
    let size = i64::from(tcc.spec.tikv.storage_size_gi);
    assert!(tikv["minStorageSizeGi"].as_i64().expect("min") <= size);
    assert!(size <= tikv["maxStorageSizeGi"].as_i64().expect("max"));
    if let Some(storage_type) = &tcc.spec.tikv.storage_type {
        assert!(
            tikv["storageTypes"]
                .as_array()
                .expect("storage types")
                .iter()
                .any(|t| t == storage_type.as_str()),
            "storage type {storage_type} offered"
        );
    }
}

// ---- against a real kube-apiserver ----

fn options() -> ControlPlaneOptions {
    // ControlPlaneOptions installs CRDs only; the admission policy is applied by the test that needs it.
    ControlPlaneOptions {
        crds: api::crds(),
        ..ControlPlaneOptions::default()
    }
}

fn resource() -> ApiResource {
    ApiResource::erase::<TidbCloudCluster>(&())
}

/// A valid spec (values from the simulator's catalogue), with `extra` merged over it (`null` removes a field).
fn spec_json(extra: Value) -> Value {
    let mut spec = json!({
        "regionId": "aws-us-west-2",
        "tidb": { "nodeSpecKey": "8C16G", "nodeCount": 2 },
        "tikv": { "nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 500 },
    });
    merge(&mut spec, extra);
    spec
}

fn spec_value(extra: Value) -> TidbCloudClusterSpec {
    TidbCloudClusterSpec::deserialize(spec_json(extra)).expect("valid spec")
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (k, v) in patch {
                if v.is_null() {
                    base.remove(&k);
                } else {
                    merge(base.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (base, patch) => *base = patch,
    }
}

fn object(name: &str, spec_extra: Value) -> DynamicObject {
    DynamicObject::new(name, &resource()).data(json!({ "spec": spec_json(spec_extra) }))
}

struct Apis {
    dynamic: Api<DynamicObject>,
    typed: Api<TidbCloudCluster>,
}

fn apis(client: &Client, ns: &str) -> Apis {
    Apis {
        dynamic: Api::namespaced_with(client.clone(), ns, &resource()),
        typed: Api::namespaced(client.clone(), ns),
    }
}

/// Asserts that the API server refused the request as invalid (422) with `needle` in the message.
#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, kube::Error>, needle: &str) {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "expected 422 Invalid, got {status:?}");
            assert!(
                status.message.contains(needle),
                "expected {needle:?} in the message: {}",
                status.message
            );
        }
        other => panic!("expected the API server to refuse with {needle:?}, got {other:?}"),
    }
}

async fn merge_patch(
    api: &Api<TidbCloudCluster>,
    name: &str,
    spec: Value,
) -> kube::Result<TidbCloudCluster> {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "spec": spec })),
    )
    .await
}

#[tokio::test]
async fn valid_object_is_accepted_and_defaulted() {
    let Some(env) = setup_with("crds-valid", options).await else {
        return;
    };
    let apis = apis(&env.admin, env.ns.name());

    apis.dynamic
        .create(&PostParams::default(), &object("orders", json!({})))
        .await
        .expect("a minimal valid object is accepted");
    let tcc = apis.typed.get("orders").await.expect("get");
    assert_eq!(tcc.spec.port, 4000, "port defaults to 4000");
    assert!(!tcc.spec.paused);
    assert!(!tcc.spec.deletion_protection);
    assert_eq!(tcc.spec.deletion_policy, None);
    assert_eq!(
        tcc.spec.display_name, None,
        "the display name default is the operator's, not the schema's"
    );
    assert_eq!(tcc.effective_display_name(), "orders");

    // Every optional field, through the typed API.
    let mut full = TidbCloudCluster::new(
        "full",
        spec_value(json!({
            "displayName": "Orders-Prod-1",
            "projectId": "1372813089454525346",
            "port": 4100,
            "tikv": { "nodeCount": 6, "storageType": "Standard", "raftStoreIops": 3000 },
            "tiflash": { "nodeSpecKey": "8C64G", "nodeCount": 1, "storageSizeGi": 500 },
            "paused": true,
            "rootPassword": { "secretRef": { "name": "root", "key": "password" } },
            "credentials": { "secretRef": { "name": "tidbcloud-api-key" } },
            "connectionSecret": { "name": "orders-conn" },
            "deletionPolicy": "Retain",
            "clusterId": "10526169210080596964",
        })),
    );
    full.metadata.annotations =
        Some([(api::RECONCILE_ANNOTATION.into(), api::OBSERVE.into())].into());
    let created = apis
        .typed
        .create(&PostParams::default(), &full)
        .await
        .expect("a full valid object is accepted");
    assert_eq!(
        created.spec, full.spec,
        "the API server keeps every field as sent"
    );
    assert!(created.observe_only());

    // A null optional field is pruned like an absent one.
    apis.dynamic
        .create(
            &PostParams::default(),
            &object("nulls", json!({})).data(json!({ "spec": {
                "regionId": "aws-us-west-2",
                "tidb": { "nodeSpecKey": "8C16G", "nodeCount": 1 },
                "tikv": { "nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 500 },
                "deletionPolicy": null,
                "paused": null,
            }})),
        )
        .await
        .expect("nulls are pruned, not refused");
    let nulls = apis.dynamic.get("nulls").await.expect("get");
    assert_eq!(nulls.data.pointer("/spec/deletionPolicy"), None);
    assert_eq!(nulls.data.pointer("/spec/paused"), Some(&json!(false)));
}

#[tokio::test]
async fn invalid_specs_are_refused() {
    let Some(env) = setup_with("crds-invalid", options).await else {
        return;
    };
    let apis = apis(&env.admin, env.ns.name());
    let create = async |name: &str, extra: Value| {
        apis.dynamic
            .create(&PostParams::default(), &object(name, extra))
            .await
    };

    assert_invalid(
        create("tikv4", json!({ "tikv": { "nodeCount": 4 } })).await,
        "spec.tikv.nodeCount must be a multiple of 3",
    );
    assert_invalid(
        create("tikv0", json!({ "tikv": { "nodeCount": 0 } })).await,
        "spec.tikv.nodeCount",
    );
    assert_invalid(
        create("tidb0", json!({ "tidb": { "nodeCount": 0 } })).await,
        "spec.tidb.nodeCount",
    );
    for bad in ["abc", "-abcd", "abcd-", "has_underscore", &"a".repeat(65)] {
        assert_invalid(
            create("badname", json!({ "displayName": bad })).await,
            "spec.displayName",
        );
    }
    assert_invalid(create("port", json!({ "port": 80 })).await, "spec.port");
    assert_invalid(create("port", json!({ "port": 70000 })).await, "spec.port");
    assert_invalid(
        create("clusterid", json!({ "clusterId": "abc" })).await,
        "spec.clusterId",
    );
    assert_invalid(
        create("region", json!({ "regionId": "mars-north-1" })).await,
        "spec.regionId",
    );
    assert_invalid(
        create("policy", json!({ "deletionPolicy": "Orphan" })).await,
        "spec.deletionPolicy",
    );
    assert_invalid(
        create("noregion", json!({ "regionId": null })).await,
        "spec.regionId",
    );
    // metadata.name is the default display name: a name that cannot be one needs spec.displayName.
    assert_invalid(
        create("db.with.dots", json!({})).await,
        "set spec.displayName",
    );
    create("db.with.dots", json!({ "displayName": "db-with-dots" }))
        .await
        .expect("a dotted name with an explicit displayName is accepted");
    // TiFlash has no multiple-of-3 rule.
    create(
        "tiflash1",
        json!({ "tiflash": { "nodeSpecKey": "8C64G", "nodeCount": 1, "storageSizeGi": 500 } }),
    )
    .await
    .expect("one TiFlash node is accepted");
}

#[tokio::test]
async fn immutable_fields_cannot_change() {
    let Some(env) = setup_with("crds-immutable", options).await else {
        return;
    };
    let apis = apis(&env.admin, env.ns.name());
    apis.dynamic
        .create(
            &PostParams::default(),
            &object(
                "pinned",
                json!({ "projectId": "1372813089454525346", "clusterId": "1234567890" }),
            ),
        )
        .await
        .expect("create");
    apis.dynamic
        .create(&PostParams::default(), &object("loose", json!({})))
        .await
        .expect("create");
    let typed = &apis.typed;

    assert_invalid(
        merge_patch(typed, "pinned", json!({ "regionId": "aws-us-east-1" })).await,
        "spec.regionId is immutable",
    );
    assert_invalid(
        merge_patch(typed, "pinned", json!({ "port": 4001 })).await,
        "spec.port is immutable",
    );
    assert_invalid(
        merge_patch(
            typed,
            "pinned",
            json!({ "projectId": "1372813089454525999" }),
        )
        .await,
        "spec.projectId is immutable",
    );
    assert_invalid(
        merge_patch(typed, "pinned", json!({ "projectId": null })).await,
        "spec.projectId is immutable: it cannot be added or removed",
    );
    assert_invalid(
        merge_patch(
            typed,
            "loose",
            json!({ "projectId": "1372813089454525346" }),
        )
        .await,
        "spec.projectId is immutable: it cannot be added or removed",
    );
    assert_invalid(
        merge_patch(typed, "pinned", json!({ "clusterId": "1234567891" })).await,
        "spec.clusterId is immutable once set",
    );
    assert_invalid(
        merge_patch(typed, "pinned", json!({ "clusterId": null })).await,
        "spec.clusterId is immutable once set",
    );
    // The port default counts as set: an explicit different port later is a change.
    assert_invalid(
        merge_patch(typed, "loose", json!({ "port": 4001 })).await,
        "spec.port is immutable",
    );

    // Mutable fields change freely, and clusterId may be added once (adoption).
    let changed = merge_patch(
        typed,
        "pinned",
        json!({
            "displayName": "renamed-cluster",
            "tidb": { "nodeCount": 3, "nodeSpecKey": "8C32G" },
            "tikv": { "nodeCount": 6, "storageSizeGi": 1000 },
            "tiflash": { "nodeSpecKey": "8C64G", "nodeCount": 2, "storageSizeGi": 500 },
            "paused": true,
            "deletionPolicy": "Delete",
            "port": 4000,
            "regionId": "aws-us-west-2",
        }),
    )
    .await
    .expect("mutable fields change; unchanged immutable fields may be restated");
    assert_eq!(changed.spec.tikv.node_count, 6);
    let adopted = merge_patch(typed, "loose", json!({ "clusterId": "42" }))
        .await
        .expect("clusterId can be added later");
    assert_eq!(adopted.spec.cluster_id.as_deref(), Some("42"));
    let unchanged = merge_patch(typed, "pinned", json!({ "tiflash": null }))
        .await
        .expect("removing tiflash is allowed");
    assert_eq!(unchanged.spec.tiflash, None);

    // A server-side apply of the whole object with a changed immutable field is refused as well (kubectl apply).
    let mut applied = typed.get("pinned").await.expect("get");
    applied.metadata.managed_fields = None;
    applied.metadata.resource_version = None;
    applied.spec.region_id = "aws-us-east-1".into();
    assert_invalid(
        typed
            .patch(
                "pinned",
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&applied),
            )
            .await,
        "spec.regionId is immutable",
    );
}

#[tokio::test]
async fn status_conditions_are_a_map_keyed_by_type() {
    let Some(env) = setup_with("crds-status", options).await else {
        return;
    };
    let apis = apis(&env.admin, env.ns.name());
    apis.dynamic
        .create(&PostParams::default(), &object("status", json!({})))
        .await
        .expect("create");

    let condition = |type_: &str, status: &str| {
        json!({
            "type": type_, "status": status, "reason": "Testing", "message": "",
            "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 1,
        })
    };
    let apply_status = async |manager: &str, status: Value| {
        apis.typed
            .patch_status(
                "status",
                &PatchParams::apply(manager).force(),
                &Patch::Apply(json!({
                    "apiVersion": TidbCloudCluster::api_version(&()),
                    "kind": TidbCloudCluster::kind(&()),
                    "status": status,
                })),
            )
            .await
            .expect("apply status")
    };
    apply_status(
        "manager-a",
        json!({
            "observedGeneration": 1,
            "conditions": [condition("Ready", "False")],
            "clusterId": "10526169210080596964",
            "state": "CREATING",
            "createIntent": { "displayName": "status", "startedAt": "2025-01-01T00:00:00Z" },
        }),
    )
    .await;
    // A second manager owns another condition type; the list merges by type instead of being replaced.
    let both = apply_status(
        "manager-b",
        json!({ "conditions": [condition("Available", "True")] }),
    )
    .await;
    let status = both.status.expect("status");
    let mut types: Vec<&str> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
    types.sort();
    assert_eq!(types, ["Available", "Ready"]);
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.state.as_deref(), Some("CREATING"));

    // Manager a drops createIntent and flips Ready: only its own fields change.
    let later = apply_status(
        "manager-a",
        json!({
            "observedGeneration": 1,
            "conditions": [condition("Ready", "True")],
            "clusterId": "10526169210080596964",
            "state": "ACTIVE",
            "version": "v8.1.2",
            "endpoints": [{ "connectionType": "PUBLIC", "host": "tidb.example", "port": 4000 }],
        }),
    )
    .await;
    let status = later.status.expect("status");
    assert_eq!(status.create_intent, None);
    assert_eq!(status.conditions.len(), 2);
    assert_eq!(status.endpoints.len(), 1);
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
    // Duplicate types are refused.
    let duplicate = apis
        .typed
        .patch_status(
            "status",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "conditions": [condition("Ready", "True"), condition("Ready", "False")] } })),
        )
        .await;
    assert_invalid(duplicate, "Duplicate value");
}

#[tokio::test]
async fn installed_schema_describes_every_field() {
    let Some(env) = setup_with("crds-explain", options).await else {
        return;
    };
    let crds: Api<CustomResourceDefinition> = Api::all(env.admin.clone());
    for expected in api::crds() {
        let name = expected.name_any();
        let installed = crds.get(&name).await.expect("CRD installed");
        let version = &installed.spec.versions[0];
        let schema = serde_json::to_value(
            version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .expect("schema"),
        )
        .expect("to JSON");
        let mut problems = Vec::new();
        check_schema(&schema, "", &mut problems);
        assert!(problems.is_empty(), "{name}: {}", problems.join("; "));
        let spec_properties = schema
            .pointer("/properties/spec/properties")
            .and_then(Value::as_object)
            .expect("spec properties");
        let (short_name, min_fields, columns): (&str, usize, &[&str]) =
            match installed.spec.names.kind.as_str() {
                "ClickHouseService" => {
                    ("chs", 18, &["Ready", "State", "Provider", "Region", "Age"])
                }
                "TidbCloudCluster" => ("tcc", 14, &["Ready", "State", "Region", "Version", "Age"]),
                "TidbCloudImport" => (
                    "tcimport",
                    8,
                    &[
                        "Cluster",
                        "State",
                        "Progress",
                        "Age",
                        "Cluster ID",
                        "Import ID",
                    ],
                ),
                "TidbCloudIntegration" => (
                    "tcint",
                    8,
                    &[
                        "Cluster",
                        "Type",
                        "State",
                        "Age",
                        "Cluster ID",
                        "Integration ID",
                    ],
                ),
                "TidbCloudServerlessCluster" => {
                    ("tcsc", 14, &["Ready", "State", "Plan", "Region", "Age"])
                }
                "TidbCloudBranch" => (
                    "tcbranch",
                    10,
                    &["Cluster", "State", "Ready", "Age", "Branch ID"],
                ),
                "TidbCloudSqlUser" => (
                    "tcsqluser",
                    10,
                    &["Ready", "Cluster", "User", "Role", "Age", "Cluster ID"],
                ),
                other => panic!("unexpected kind {other}"),
            };
        assert!(
            spec_properties.len() >= min_fields,
            "{name}: spec has all its fields"
        );
        assert_eq!(
            installed.spec.names.short_names.as_deref(),
            Some(&[short_name.to_string()][..])
        );
        let provider_category = if installed.spec.names.kind == "ClickHouseService" {
            "clickhouse"
        } else {
            "tidbcloud"
        };
        assert_eq!(
            installed.spec.names.categories.as_deref(),
            Some(&["clouddb".to_string(), provider_category.to_string()][..])
        );
        let installed_columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(installed_columns, columns, "{name}");
    }

    // With kubectl next to the control plane, ask it like a user would.
    let Some(kubectl) = env.cp.kubectl() else {
        eprintln!(
            "kubectl not found next to the control-plane binaries: skipping the `kubectl explain` part"
        );
        return;
    };
    for (field, needle) in [
        ("tcimport.spec.source.s3.accessKey", "secretAccessKey"),
        ("tcint.spec.datadog.apiKeySecretRef", "re-created"),
        ("tcc.spec.tikv", "multiple of 3"),
        ("tcc.spec.regionId", "immutable"),
        ("tidbcloudclusters.spec.deletionPolicy", "cascade"),
        ("tcc.status.conditions", "Reconciling"),
    ] {
        let explained = eventually(format!("kubectl explain {field}"), TIMEOUT, async || {
            let out = tokio::process::Command::new(kubectl)
                .arg("--kubeconfig")
                .arg(env.cp.admin_kubeconfig())
                .args(["explain", field])
                .output()
                .await
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(String::from_utf8_lossy(&out.stdout).into_owned())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        })
        .await
        .expect("kubectl explain works");
        assert!(
            explained.contains(needle),
            "kubectl explain {field}: expected {needle:?} in\n{explained}"
        );
    }
}

#[tokio::test]
async fn deletion_protection_policy_refuses_protected_deletes() {
    let Some(env) = setup_with("crds-protect", options).await else {
        return;
    };
    install_policy(&env.admin).await;
    let apis = apis(&env.admin, env.ns.name());
    let protected = || object("protected", json!({ "deletionProtection": true }));

    // The policy takes effect shortly after it is created (the admission plugin reads it from an informer), so
    // retry until a DELETE is refused, recreating the object whenever a DELETE got through before that.
    let refused = eventually(
        "the deletion-protection policy to refuse deleting a protected object",
        TIMEOUT,
        async || {
            if apis
                .dynamic
                .get_opt("protected")
                .await
                .map_err(|e| e.to_string())?
                .is_none()
            {
                apis.dynamic
                    .create(&PostParams::default(), &protected())
                    .await
                    .map_err(|e| e.to_string())?;
            }
            match apis
                .dynamic
                .delete("protected", &DeleteParams::default())
                .await
            {
                Err(kube::Error::Api(status)) if status.is_forbidden() => Ok(status),
                Err(e) => Err(e.to_string()),
                Ok(_) => Err("the DELETE went through: the policy is not active yet".to_string()),
            }
        },
    )
    .await
    .expect("protected deletion refused");
    eprintln!("refused: {}", refused.message);
    assert!(
        refused.message.contains(PROTECTION_MESSAGE),
        "message was: {}",
        refused.message
    );
    assert!(
        refused.message.contains("TidbCloudCluster protected"),
        "message was: {}",
        refused.message
    );

    // Still there, and refused again (also as part of a delete-collection).
    assert!(
        apis.dynamic
            .get_opt("protected")
            .await
            .expect("get")
            .is_some()
    );
    match apis
        .dynamic
        .delete_collection(&DeleteParams::default(), &Default::default())
        .await
    {
        Err(kube::Error::Api(status)) => assert!(
            status.message.contains(PROTECTION_MESSAGE),
            "message was: {}",
            status.message
        ),
        other => panic!("expected the delete-collection to be refused, got {other:?}"),
    }
    assert!(
        apis.dynamic
            .get_opt("protected")
            .await
            .expect("get")
            .is_some()
    );

    // An unprotected object is deleted.
    apis.dynamic
        .create(&PostParams::default(), &object("unprotected", json!({})))
        .await
        .expect("create");
    apis.dynamic
        .delete("unprotected", &DeleteParams::default())
        .await
        .expect("an unprotected object can be deleted");
    await_deleted(apis.dynamic.clone(), "unprotected", TIMEOUT)
        .await
        .expect("unprotected object gone");

    // Turning protection off allows the deletion.
    merge_patch(
        &apis.typed,
        "protected",
        json!({ "deletionProtection": false }),
    )
    .await
    .expect("turn protection off");
    apis.dynamic
        .delete("protected", &DeleteParams::default())
        .await
        .expect("deletion allowed once protection is off");
    await_deleted(apis.dynamic.clone(), "protected", TIMEOUT)
        .await
        .expect("protected object gone after turning protection off");
}

// ---- TidbCloudImport and TidbCloudIntegration ----

use clouddb_operator::api::{TidbCloudImport, TidbCloudIntegration};

#[test]
fn import_and_integration_examples_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let text = std::fs::read_to_string(dir.join("tidbcloudimport.yaml"))
        .expect("examples/tidbcloudimport.yaml exists");
    let imports: Vec<TidbCloudImport> = serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| {
            let v = Value::deserialize(d).expect("YAML");
            (v["kind"] == "TidbCloudImport")
                .then(|| serde_json::from_value(v).expect("a TidbCloudImport"))
        })
        .collect();
    assert!(!imports.is_empty(), "the example has a TidbCloudImport");
    for i in &imports {
        assert!(i.spec.cluster_ref.is_some() != i.spec.cluster_id.is_some());
    }
    let text = std::fs::read_to_string(dir.join("tidbcloudintegration.yaml"))
        .expect("examples/tidbcloudintegration.yaml exists");
    let kinds: Vec<String> = serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| {
            let v = Value::deserialize(d).expect("YAML");
            (v["kind"] == "TidbCloudIntegration").then(|| {
                let i: TidbCloudIntegration = serde_json::from_value(v).expect("an integration");
                i.spec.integration_type.as_str().to_string()
            })
        })
        .collect();
    assert_eq!(kinds, ["DATADOG", "NEWRELIC", "PROMETHEUS"]);
}

fn import_object(name: &str, spec_extra: Value) -> DynamicObject {
    let mut spec = json!({
        "clusterRef": { "name": "orders" },
        "fileType": "CSV",
        "source": { "type": "S3", "uri": "s3://bucket/orders/", "s3": { "roleArn": "arn:aws:iam::123456789012:role/import" } },
    });
    merge(&mut spec, spec_extra);
    DynamicObject::new(name, &ApiResource::erase::<TidbCloudImport>(&()))
        .data(json!({ "spec": spec }))
}

fn integration_object(name: &str, spec_extra: Value) -> DynamicObject {
    let mut spec = json!({
        "clusterRef": { "name": "orders" },
        "type": "DATADOG",
        "datadog": { "site": "US1", "apiKeySecretRef": { "name": "dd", "key": "apiKey" } },
    });
    merge(&mut spec, spec_extra);
    DynamicObject::new(name, &ApiResource::erase::<TidbCloudIntegration>(&()))
        .data(json!({ "spec": spec }))
}

#[tokio::test]
async fn import_spec_is_validated_and_immutable() {
    let Some(env) = setup_with("crds-import", options).await else {
        return;
    };
    let ns = env.ns.name();
    let api: Api<DynamicObject> = Api::namespaced_with(
        env.admin.clone(),
        ns,
        &ApiResource::erase::<TidbCloudImport>(&()),
    );
    let create = async |name: &str, extra: Value| {
        api.create(&PostParams::default(), &import_object(name, extra))
            .await
    };
    create("ok", json!({})).await.expect("a valid import");
    create(
        "full",
        json!({
            "clusterRef": null, "clusterId": "1234567890",
            "csvFormat": { "separator": ";", "delimiter": "'", "header": false, "notNull": true, "nullValue": "NULL",
                           "backslashEscape": false, "trimLastSeparator": true },
            "duplicationHandling": "REPLACE",
            "targetTableInfos": [{ "targetTable": { "schema": "shop", "table": "orders" }, "customFile": "s3://bucket/orders/*.csv" }],
            "source": { "s3": { "roleArn": null, "accessKey": { "secretRef": { "name": "aws" } } } },
            "credentials": { "secretRef": { "name": "team-key" } },
        }),
    )
    .await
    .expect("every field");
    create(
        "gcs",
        json!({ "fileType": "PARQUET", "source": { "type": "GCS", "uri": "gs://b/p/", "s3": null,
                "gcs": { "serviceAccountKey": { "secretRef": { "name": "g", "key": "key.json" } } } } }),
    )
    .await
    .expect("GCS");
    create(
        "azure",
        json!({ "fileType": "SQL", "source": { "type": "AZURE_BLOB", "uri": "azure://a.blob.core.windows.net/c/p/", "s3": null,
                "azureBlob": { "sasToken": { "secretRef": { "name": "a", "key": "token" } } } } }),
    )
    .await
    .expect("Azure");

    assert_invalid(
        create("both", json!({ "clusterId": "42" })).await,
        "set exactly one of spec.clusterRef and spec.clusterId",
    );
    assert_invalid(
        create("neither", json!({ "clusterRef": null })).await,
        "set exactly one of spec.clusterRef and spec.clusterId",
    );
    assert_invalid(
        create("badtype", json!({ "fileType": "JSON" })).await,
        "spec.fileType",
    );
    assert_invalid(
        create(
            "csvonly",
            json!({ "fileType": "SQL", "csvFormat": { "header": true } }),
        )
        .await,
        "spec.csvFormat applies only to fileType CSV",
    );
    assert_invalid(
        create(
            "s3uri",
            json!({ "source": { "uri": "gs://bucket/orders/" } }),
        )
        .await,
        "source type S3 needs source.s3 and a uri starting with s3://",
    );
    assert_invalid(
        create(
            "s3both",
            json!({ "source": { "s3": { "accessKey": { "secretRef": { "name": "aws" } } } } }),
        )
        .await,
        "set exactly one of source.s3.roleArn and source.s3.accessKey",
    );
    assert_invalid(
        create(
            "mixed",
            json!({ "source": { "gcs": { "serviceAccountKey": { "secretRef": { "name": "g", "key": "k" } } } } }),
        )
        .await,
        "set only the one of source.s3, source.gcs and source.azureBlob",
    );
    assert_invalid(
        create(
            "gcsnoauth",
            json!({ "source": { "type": "GCS", "uri": "gs://b/p/", "s3": null } }),
        )
        .await,
        "source type GCS needs source.gcs",
    );
    assert_invalid(
        create("badid", json!({ "clusterRef": null, "clusterId": "abc" })).await,
        "spec.clusterId",
    );

    // The spec is immutable: any change is refused; metadata still changes.
    let typed: Api<TidbCloudImport> = Api::namespaced(env.admin.clone(), ns);
    let patch = async |spec: Value| {
        typed
            .patch(
                "ok",
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
    };
    assert_invalid(
        patch(json!({ "source": { "uri": "s3://bucket/other/" } })).await,
        "spec is immutable",
    );
    assert_invalid(
        patch(json!({ "duplicationHandling": "IGNORE" })).await,
        "spec is immutable",
    );
    typed
        .patch(
            "ok",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "team": "data" } } })),
        )
        .await
        .expect("labels change");
}

#[tokio::test]
async fn integration_spec_is_validated() {
    let Some(env) = setup_with("crds-integration", options).await else {
        return;
    };
    let ns = env.ns.name();
    let api: Api<DynamicObject> = Api::namespaced_with(
        env.admin.clone(),
        ns,
        &ApiResource::erase::<TidbCloudIntegration>(&()),
    );
    let create = async |name: &str, extra: Value| {
        api.create(&PostParams::default(), &integration_object(name, extra))
            .await
    };
    create("dd", json!({})).await.expect("Datadog");
    create(
        "nr",
        json!({ "type": "NEWRELIC", "datadog": null, "deletionPolicy": "Retain",
                "newrelic": { "site": "EU_OTLP", "apiKeySecretRef": { "name": "nr", "key": "licenseKey" } } }),
    )
    .await
    .expect("New Relic");
    create(
        "prom",
        json!({ "type": "PROMETHEUS", "datadog": null, "prometheus": {}, "clusterRef": null, "clusterId": "42" }),
    )
    .await
    .expect("Prometheus");
    create("prom2", json!({ "type": "PROMETHEUS", "datadog": null }))
        .await
        .expect("Prometheus without its empty block");

    assert_invalid(
        create("nodd", json!({ "datadog": null })).await,
        "spec.datadog is required when type is DATADOG",
    );
    assert_invalid(
        create("ddnr", json!({ "type": "NEWRELIC" })).await,
        "spec.datadog is required when type is DATADOG, and only then",
    );
    assert_invalid(
        create("badsite", json!({ "datadog": { "site": "MARS1" } })).await,
        "spec.datadog.site",
    );
    assert_invalid(
        create("promdd", json!({ "prometheus": {} })).await,
        "spec.prometheus is allowed only when type is PROMETHEUS",
    );
    assert_invalid(
        create("both", json!({ "clusterId": "42" })).await,
        "set exactly one of spec.clusterRef and spec.clusterId",
    );
    assert_invalid(
        create("badtype", json!({ "type": "SPLUNK", "datadog": null })).await,
        "spec.type",
    );

    // Site, type and key may change (the operator re-creates); the cluster may not.
    let typed: Api<TidbCloudIntegration> = Api::namespaced(env.admin.clone(), ns);
    let patch = async |name: &str, spec: Value| {
        typed
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
    };
    patch(
        "dd",
        json!({ "datadog": { "site": "EU1", "apiKeySecretRef": { "name": "dd2", "key": "k" } } }),
    )
    .await
    .expect("site and key reference change");
    assert_invalid(
        patch("dd", json!({ "clusterRef": { "name": "billing" } })).await,
        "spec.clusterRef and spec.clusterId are immutable",
    );
    assert_invalid(
        patch("prom", json!({ "clusterId": "43" })).await,
        "spec.clusterRef and spec.clusterId are immutable",
    );
    patch(
        "nr",
        json!({ "type": "DATADOG", "newrelic": null,
                "datadog": { "site": "US5", "apiKeySecretRef": { "name": "dd", "key": "apiKey" } } }),
    )
    .await
    .expect("type change");
}

// ---- ClickHouseService ----------------------------------------------------------------------------------

use clouddb_operator::api::ClickHouseService;

#[test]
fn clickhouse_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/clickhouseservice.yaml");
    let text = std::fs::read_to_string(path).expect("examples/clickhouseservice.yaml exists");
    let chs: ClickHouseService = serde_yaml::from_str(&text).expect("the example parses");
    assert_eq!(chs.spec.region, "us-east-1");
    assert_eq!(chs.connection_secret_name(), "analytics-connection");
    assert_eq!(chs.effective_name(), "analytics");
}

#[tokio::test]
async fn clickhouse_spec_is_validated_and_provider_region_are_immutable() {
    let Some(env) = setup_with("crds-chs", options).await else {
        return;
    };
    let api: Api<ClickHouseService> = Api::namespaced(env.admin.clone(), env.ns.name());
    let resource = ApiResource::erase::<ClickHouseService>(&());
    let dynamic: Api<DynamicObject> =
        Api::namespaced_with(env.admin.clone(), env.ns.name(), &resource);
    let create = async |name: &str, extra: Value| {
        let mut spec = json!({"provider": "aws", "region": "us-east-1"});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let obj = DynamicObject::new(name, &resource).data(json!({ "spec": spec }));
        dynamic.create(&PostParams::default(), &obj).await
    };
    assert_invalid(
        create("mem6", json!({"minReplicaMemoryGb": 4})).await,
        "spec.minReplicaMemoryGb",
    );
    assert_invalid(
        create("mem10", json!({"maxReplicaMemoryGb": 10})).await,
        "spec.maxReplicaMemoryGb must be a multiple of 4",
    );
    assert_invalid(
        create("mem400", json!({"maxReplicaMemoryGb": 400})).await,
        "spec.maxReplicaMemoryGb",
    );
    assert_invalid(
        create(
            "minmax",
            json!({"minReplicaMemoryGb": 32, "maxReplicaMemoryGb": 16}),
        )
        .await,
        "must not exceed",
    );
    assert_invalid(
        create("idle", json!({"idleTimeoutMinutes": 4})).await,
        "spec.idleTimeoutMinutes",
    );
    assert_invalid(
        create(
            "idleoff",
            json!({"idleScaling": false, "idleTimeoutMinutes": 10}),
        )
        .await,
        "needs idle scaling",
    );
    assert_invalid(
        create("provider", json!({"provider": "ibm"})).await,
        "spec.provider",
    );
    assert_invalid(
        create("uidtag", json!({"tags": {"clouddb.dev-uid": "x"}})).await,
        "reserved",
    );
    assert_invalid(
        create("sid", json!({"serviceId": "not-a-uuid"})).await,
        "spec.serviceId",
    );
    assert_invalid(create(&"n".repeat(51), json!({})).await, "set spec.name");
    create(
        "ok",
        json!({"minReplicaMemoryGb": 16, "maxReplicaMemoryGb": 32, "idleTimeoutMinutes": 5,
               "ipAccessList": [{"source": "10.0.0.0/8"}], "tags": {"team": "data"}}),
    )
    .await
    .expect("a valid spec is accepted");
    for (patch, needle) in [
        (json!({"region": "us-east-2"}), "spec.region is immutable"),
        (json!({"provider": "gcp"}), "spec.provider is immutable"),
    ] {
        assert_invalid(
            api.patch(
                "ok",
                &PatchParams::default(),
                &Patch::Merge(&json!({ "spec": patch })),
            )
            .await,
            needle,
        );
    }
    let sid = "6b2d2c4e-7b0a-4a55-9a57-6f4a3e1f2b9c";
    api.patch(
        "ok",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"serviceId": sid, "stopped": true}})),
    )
    .await
    .expect("serviceId may be added once, stopped changes freely");
    assert_invalid(
        api.patch(
            "ok",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"serviceId": null}})),
        )
        .await,
        "spec.serviceId is immutable once set",
    );
}

// ---- TidbCloudServerlessCluster ---------------------------------------------------------------------------

use clouddb_operator::api::TidbCloudServerlessCluster;

#[test]
fn serverless_example_is_valid() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tidbcloudserverlesscluster.yaml");
    let text =
        std::fs::read_to_string(path).expect("examples/tidbcloudserverlesscluster.yaml exists");
    let c: TidbCloudServerlessCluster = serde_yaml::from_str(&text).expect("the example parses");
    assert_eq!(c.spec.region, "aws-us-east-1");
    assert_eq!(c.connection_secret_name(), "preview-db-connection");
}

#[tokio::test]
async fn serverless_spec_is_validated_and_plan_region_are_immutable() {
    let Some(env) = setup_with("crds-tcsc", options).await else {
        return;
    };
    let api: Api<TidbCloudServerlessCluster> = Api::namespaced(env.admin.clone(), env.ns.name());
    let resource = ApiResource::erase::<TidbCloudServerlessCluster>(&());
    let dynamic: Api<DynamicObject> =
        Api::namespaced_with(env.admin.clone(), env.ns.name(), &resource);
    let create = async |name: &str, extra: Value| {
        let mut spec = json!({"region": "aws-us-east-1"});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let obj = DynamicObject::new(name, &resource).data(json!({ "spec": spec }));
        dynamic.create(&PostParams::default(), &obj).await
    };
    assert_invalid(
        create(
            "both",
            json!({"spendingLimit": {"monthly": 0}, "autoScaling": {"minRcu": 1, "maxRcu": 2}}),
        )
        .await,
        "not both",
    );
    assert_invalid(
        create("minmax", json!({"autoScaling": {"minRcu": 5, "maxRcu": 2}})).await,
        "minRcu must not exceed",
    );
    assert_invalid(
        create("neg", json!({"spendingLimit": {"monthly": -1}})).await,
        "spec.spendingLimit.monthly",
    );
    assert_invalid(
        create(
            "badip",
            json!({"publicEndpoint": {"ipAccessList": [{"startIpAddress": "10.0.0.300", "endIpAddress": "10.0.0.1"}]}}),
        )
        .await,
        "startIpAddress",
    );
    assert_invalid(
        create("syslabel", json!({"labels": {"tidb.cloud/project": "1"}})).await,
        "spec.labels",
    );
    assert_invalid(
        create("badregion", json!({"region": "mars-1"})).await,
        "spec.region",
    );
    assert_invalid(create("ab", json!({})).await, "set spec.displayName");

    create(
        "starter",
        json!({"spendingLimit": {"monthly": 100}, "labels": {"env": "preview"},
               "publicEndpoint": {"ipAccessList": [{"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.9"}]}}),
    )
    .await
    .expect("a Starter cluster");
    create(
        "essential",
        json!({"autoScaling": {"minRcu": 2000, "maxRcu": 4000}}),
    )
    .await
    .expect("an Essential cluster");
    let patch = async |name: &str, spec: Value| {
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await
    };
    patch("starter", json!({"spendingLimit": {"monthly": 500}}))
        .await
        .expect("the spending limit changes");
    assert_invalid(
        patch("starter", json!({"region": "aws-us-west-2"})).await,
        "spec.region is immutable",
    );
    assert_invalid(
        patch(
            "starter",
            json!({"spendingLimit": null, "autoScaling": {"minRcu": 1, "maxRcu": 2}}),
        )
        .await,
        "the plan is immutable",
    );
    assert_invalid(
        patch("essential", json!({"autoScaling": null})).await,
        "the plan is immutable",
    );
}
