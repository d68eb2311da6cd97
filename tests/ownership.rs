//! Which object owns which cloud cluster: the real operator binary against the real kube-apiserver and the
//! TiDB Cloud simulator. A cloud cluster is managed by at most one object; recovery after a lost create never
//! takes a cluster another object claims or guesses between several; a cluster deleted outside Kubernetes is
//! reported, not silently recreated; a namespace holding its own credentials can be deleted.
//!
//! Each test has its own namespace(s), simulator and operator process; waits are on conditions, with timeouts.

mod support;

use std::time::Duration;

use clouddb_operator::api::{TidbCloudCluster, TidbCloudImport, TidbCloudIntegration};
use clouddb_sim::SimConfig;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use serde_json::{Value, json};
use support::operator::*;
use support::{TIMEOUT, eventually};

/// The route of cluster creates in the simulator's counters.
const CREATE_ROUTE: &str = "/v1beta1/clusters";

/// The next cluster create is committed in the cloud, then its answer is lost (the connection is closed).
fn lose_next_create_answer() -> Value {
    json!({"kind": "dropAfterCommit", "count": 1, "method": "POST", "pathPrefix": CREATE_ROUTE})
}

fn cluster_id(o: &TidbCloudCluster) -> Option<String> {
    o.status.as_ref().and_then(|s| s.cluster_id.clone())
}

fn has(o: &impl serde::Serialize, type_: &str, status: &str, reason: Option<&str>) -> bool {
    condition_of(o, type_)
        .is_some_and(|c| c.status == status && reason.is_none_or(|r| c.reason == r))
}

/// Ready=True on the object's current generation.
fn ready_now(o: &TidbCloudCluster) -> bool {
    has(o, "Ready", "True", None)
        && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
}

/// Settled one way or the other: Stalled (any reason) or Ready.
fn settled(o: &impl serde::Serialize) -> bool {
    has(o, "Stalled", "True", None) || has(o, "Ready", "True", None)
}

/// `type=status (reason): message` of a condition, for failure messages.
fn describe(o: &impl serde::Serialize, type_: &str) -> String {
    condition_of(o, type_).map_or_else(
        || format!("no {type_} condition"),
        |c| format!("{type_}={} ({}): {}", c.status, c.reason, c.message),
    )
}

/// Refused because another object manages the cluster.
fn elsewhere(o: &impl serde::Serialize) -> bool {
    has(o, "Stalled", "True", Some("ClusterManagedElsewhere"))
}

/// The Stalled condition when stalled, else the Ready condition (for failure messages).
fn verdict(o: &impl serde::Serialize) -> String {
    if has(o, "Stalled", "True", None) {
        describe(o, "Stalled")
    } else {
        describe(o, "Ready")
    }
}

/// The simulator's fault rules still armed (a counted rule disappears once used up).
async fn armed_faults(env: &OperatorEnv) -> Value {
    env.sim_admin(reqwest::Method::GET, "faults", None).await["faults"].clone()
}

#[tokio::test]
async fn recovery_never_adopts_a_cluster_claimed_by_another_object() {
    const SHARED: &str = "shared-name";
    let Some((env, n2)) =
        OperatorEnv::start_with_second_namespace("own-claimed", SimConfig::default(), &[]).await
    else {
        return;
    };
    let mut spec = basic_spec();
    spec["displayName"] = json!(SHARED);
    env.apply("a", spec.clone()).await;
    let a_id = cluster_id(&env.wait_ready("a").await).expect("A has a cluster id");

    // B, same display name and key in another namespace: its create is committed but the answer is lost.
    env.add_fault(lose_next_create_answer()).await;
    env.apply_in::<TidbCloudCluster>(n2.name(), "b", spec).await;
    let b = env
        .wait_for_in::<TidbCloudCluster>(
            n2.name(),
            "b",
            "B Ready on its current generation",
            TIMEOUT * 2,
            ready_now,
        )
        .await;
    assert_eq!(
        armed_faults(&env).await,
        json!([]),
        "the create answer was really lost"
    );
    let b_id = cluster_id(&b).expect("B has a cluster id");
    let named = env.clusters_named(SHARED).await;
    let ids: Vec<&str> = named.iter().map(|c| c.cluster_id.as_str()).collect();
    assert_ne!(
        b_id,
        a_id,
        "B (namespace {}) adopted cluster {a_id}, which A (namespace {}) manages, after its create answer was \
         lost; clusters named {SHARED}: {ids:?}",
        n2.name(),
        env.ns()
    );
    assert_eq!(
        named.len(),
        2,
        "exactly two clusters named {SHARED}: {ids:?}"
    );
    assert!(
        ids.contains(&b_id.as_str()),
        "B manages the cluster its create made: {b_id} in {ids:?}"
    );
    let a = env.tcc.get("a").await.expect("get A");
    assert_eq!(
        cluster_id(&a).as_deref(),
        Some(a_id.as_str()),
        "A keeps its cluster"
    );
    assert!(ready_now(&a), "A stays Ready: {}", describe(&a, "Ready"));
}

#[tokio::test]
async fn ambiguous_recovery_stalls_and_lists_candidates() {
    const NAME: &str = "twin-name";
    let Some(env) = OperatorEnv::start("own-ambiguous").await else {
        return;
    };
    // A cluster no object manages, made with the same key and display name.
    let req = clouddb_operator::providers::tidbcloud::translate::create_request(
        &serde_json::from_value(basic_spec()).expect("spec"),
        NAME,
        Some(secrecy::SecretString::from("outside-Password-1")),
    );
    let outside = env
        .cloud()
        .create_cluster(&req)
        .await
        .expect("create outside Kubernetes")
        .cluster_id;

    env.add_fault(lose_next_create_answer()).await;
    let mut spec = basic_spec();
    spec["displayName"] = json!(NAME);
    env.apply("twin", spec).await;
    let o = env
        .wait(
            "twin",
            "twin Stalled (AmbiguousCreate) or Ready",
            TIMEOUT * 2,
            |o| has(o, "Stalled", "True", Some("AmbiguousCreate")) || ready_now(o),
        )
        .await;
    let named = env.clusters_named(NAME).await;
    let ids: Vec<&str> = named.iter().map(|c| c.cluster_id.as_str()).collect();
    assert_eq!(
        named.len(),
        2,
        "the outside cluster and the object's own: {ids:?}"
    );
    let own = ids
        .iter()
        .find(|id| **id != outside)
        .expect("the object's own cluster")
        .to_string();
    assert!(
        has(&o, "Stalled", "True", Some("AmbiguousCreate")),
        "two clusters ({outside} made outside, {own} by the lost create) match the lost create, but the \
         object did not stall: status.clusterId {:?}, {}",
        cluster_id(&o),
        describe(&o, "Ready")
    );
    let message = condition_of(&o, "Stalled").expect("Stalled").message;
    for needle in [outside.as_str(), own.as_str(), "spec.clusterId"] {
        assert!(
            message.contains(needle),
            "the Stalled message names {needle}: {message}"
        );
    }
    assert_eq!(
        env.requests("POST", |r| r == CREATE_ROUTE),
        2,
        "no create after the lost one: {:?}",
        env.writes_seen()
    );
    assert_eq!(env.clusters_named(NAME).await.len(), 2, "no third cluster");

    // The user names the right one.
    env.patch_spec("twin", json!({"clusterId": own})).await;
    let o = env.wait_ready("twin").await;
    assert_eq!(cluster_id(&o).as_deref(), Some(own.as_str()));
    assert!(
        condition_of(&o, "Stalled").is_none(),
        "{}",
        describe(&o, "Stalled")
    );
    assert_eq!(
        env.clusters_named(NAME).await.len(),
        2,
        "still no third cluster"
    );
    assert!(
        env.rejected_writes().is_empty(),
        "{:?}",
        env.rejected_writes()
    );
}

#[tokio::test]
async fn cluster_id_claimed_in_another_namespace_is_refused() {
    const SECRET_ACCESS_KEY: &str = "own-Secr3t-Acc3ss-K3y";
    let Some((env, n2)) =
        OperatorEnv::start_with_second_namespace("own-elsewhere", SimConfig::default(), &[]).await
    else {
        return;
    };
    env.apply("orders", basic_spec()).await;
    let id = cluster_id(&env.wait_ready("orders").await).expect("A has a cluster id");
    let n2 = n2.name();

    // (a) an import, (b) an integration and (c) a cluster object in the other namespace, all naming A's
    // cluster by id. (c) asks for 4 TiDB nodes where A has 2: any write it made would show.
    env.put_secret_in(
        n2,
        "aws",
        &[
            ("accessKeyId", "AKIAOWNERSHIPTEST01"),
            ("secretAccessKey", SECRET_ACCESS_KEY),
        ],
    )
    .await;
    env.apply_in::<TidbCloudImport>(
        n2,
        "imp",
        json!({
            "clusterId": id, "fileType": "CSV", "csvFormat": {"header": true},
            "source": {"type": "S3", "uri": "s3://exports/elsewhere/",
                       "s3": {"accessKey": {"secretRef": {"name": "aws"}}}},
        }),
    )
    .await;
    env.apply_in::<TidbCloudIntegration>(
        n2,
        "prom",
        json!({"clusterId": id, "type": "PROMETHEUS", "prometheus": {}}),
    )
    .await;
    let mut spec = basic_spec();
    spec["clusterId"] = json!(id);
    spec["displayName"] = json!("orders");
    spec["tidb"]["nodeCount"] = json!(4);
    env.apply_in::<TidbCloudCluster>(n2, "c", spec).await;

    let what = |name: &str| format!("{n2}/{name} Stalled or Ready");
    let imp = env
        .wait_for_in::<TidbCloudImport>(n2, "imp", &what("imp"), TIMEOUT * 2, settled)
        .await;
    let prom = env
        .wait_for_in::<TidbCloudIntegration>(n2, "prom", &what("prom"), TIMEOUT * 2, settled)
        .await;
    let c = env
        .wait_for_in::<TidbCloudCluster>(n2, "c", &what("c"), TIMEOUT * 2, settled)
        .await;

    // All three verdicts first, then what the cloud saw, so one run reports every part.
    let mut problems = Vec::new();
    for (part, refused, verdict) in [
        ("(a) TidbCloudImport", elsewhere(&imp), verdict(&imp)),
        ("(b) TidbCloudIntegration", elsewhere(&prom), verdict(&prom)),
        ("(c) TidbCloudCluster", elsewhere(&c), verdict(&c)),
    ] {
        if !refused {
            problems.push(format!("{part} not refused: {verdict}"));
        }
    }
    let cloud = env.cloud();
    let imports = cloud.list_imports(&id).await.expect("list imports");
    if !imports.is_empty() {
        problems.push(format!(
            "(a) {} import(s) created on {id}: {:?}",
            imports.len(),
            imports.iter().map(|i| &i.import_id).collect::<Vec<_>>()
        ));
    }
    let integrations = cloud
        .list_integrations(&id)
        .await
        .expect("list integrations");
    if !integrations.is_empty() {
        problems.push(format!(
            "(b) {} integration(s) created on {id}",
            integrations.len()
        ));
    }
    let cluster = cloud.get_cluster(&id).await.expect("A's cluster");
    if cluster.tidb_node_count() != 2 {
        problems.push(format!(
            "(c) A's cluster was changed: {} TiDB nodes, state {}",
            cluster.tidb_node_count(),
            cluster.state
        ));
    }
    // The only write the cloud saw is A's create.
    let writes: Vec<String> = env
        .writes_seen()
        .into_iter()
        .filter(|w| *w != format!("POST {CREATE_ROUTE} → 200 ×1"))
        .collect();
    if !writes.is_empty() {
        problems.push(format!("cloud writes besides A's create: {writes:?}"));
    }
    let a = env.tcc.get("orders").await.expect("get A");
    if cluster_id(&a).as_deref() != Some(id.as_str()) {
        problems.push(format!(
            "A's status.clusterId changed: {:?}",
            cluster_id(&a)
        ));
    }
    assert!(
        problems.is_empty(),
        "cluster {id} is managed by {}/orders, yet:\n  {}\n--- operator log (tail) ---\n{}",
        env.ns(),
        problems.join("\n  "),
        tail(&env.logs(), 40)
    );
    env.assert_logs_free_of(&[SECRET_ACCESS_KEY]);
}

#[tokio::test]
async fn wrong_cluster_id_on_a_managed_object_is_refused_at_admission() {
    const OTHER: &str = "1234567890123456789";
    let Some(env) = OperatorEnv::start("own-admission").await else {
        return;
    };
    env.apply("orders", basic_spec()).await;
    let before = env.wait_ready("orders").await;
    let id = cluster_id(&before).expect("cluster id");
    assert_ne!(id, OTHER);

    match env
        .try_merge::<TidbCloudCluster>("orders", json!({"spec": {"clusterId": OTHER}}), false)
        .await
    {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 422, "refused as invalid: {e:?}");
            assert!(
                e.message.contains("spec.clusterId"),
                "the message names spec.clusterId: {}",
                e.message
            );
        }
        Err(e) => panic!("refused for another reason than validation: {e}"),
        Ok(o) => panic!(
            "the API server accepted spec.clusterId {OTHER} on an object managing cluster {id} (now generation \
             {:?}, spec.clusterId {:?})",
            o.metadata.generation, o.spec.cluster_id
        ),
    }
    let after = env.tcc.get("orders").await.expect("get");
    assert_eq!(after.metadata.generation, before.metadata.generation);
    assert_eq!(after.spec.cluster_id, None);
    assert!(ready_now(&after), "{}", describe(&after, "Ready"));
    assert_eq!(cluster_id(&after).as_deref(), Some(id.as_str()));

    // Naming the cluster it already manages is fine.
    env.try_merge::<TidbCloudCluster>("orders", json!({"spec": {"clusterId": id}}), false)
        .await
        .expect("spec.clusterId = status.clusterId is accepted");
    let o = env.wait_ready("orders").await;
    assert_eq!(cluster_id(&o).as_deref(), Some(id.as_str()));
    assert_eq!(o.spec.cluster_id.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn namespace_deletion_with_credentials_in_it_finishes() {
    let Some((env, n2)) =
        OperatorEnv::start_with_second_namespace("own-nsdel", SimConfig::default(), &[]).await
    else {
        return;
    };
    let ns = n2.name().to_string();
    env.put_credentials_in(&ns, "team-key").await;
    let mut spec = basic_spec();
    spec["credentials"] = json!({"secretRef": {"name": "team-key"}});
    spec["deletionPolicy"] = json!("Delete");
    env.apply_in::<TidbCloudCluster>(&ns, "ledger", spec).await;
    let o = env
        .wait_for_in::<TidbCloudCluster>(&ns, "ledger", "ledger Ready", TIMEOUT * 2, ready_now)
        .await;
    let id = cluster_id(&o).expect("cluster id");

    let namespaces: Api<Namespace> = Api::all(env.env.admin.clone());
    namespaces
        .delete(&ns, &Default::default())
        .await
        .expect("delete namespace");
    let cloud = env.cloud();
    let api = env.api_in::<TidbCloudCluster>(&ns);
    let done = eventually(
        "the cloud cluster deleted and the namespace gone",
        Duration::from_secs(90),
        async || {
            let cluster = match cloud.get_cluster(&id).await {
                Err(e) if e.is_not_found() => "gone".to_string(),
                Err(e) => format!("unknown ({e})"),
                Ok(c) => format!("still there ({})", c.state),
            };
            let namespace = match namespaces.get_opt(&ns).await {
                Ok(None) => "gone".to_string(),
                Ok(Some(n)) => format!(
                    "still there ({:?})",
                    n.status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .filter(|c| c.status == "True")
                        .map(|c| format!("{}: {}", c.type_, c.message.clone().unwrap_or_default()))
                        .collect::<Vec<_>>()
                ),
                Err(e) => format!("unknown ({e})"),
            };
            if cluster == "gone" && namespace == "gone" {
                return Ok(());
            }
            let object = match api.get_opt("ledger").await {
                Ok(Some(o)) => format!("{}; {}", describe(&o, "Ready"), describe(&o, "Stalled")),
                Ok(None) => "gone".to_string(),
                Err(e) => format!("unknown ({e})"),
            };
            Err(format!(
                "cloud cluster {id}: {cluster}; namespace: {namespace}; object: {object}"
            ))
        },
    )
    .await;
    if let Err(e) = done {
        panic!(
            "{e}\n--- operator log (tail) ---\n{}",
            tail(&env.logs(), 40)
        );
    }
}

#[tokio::test]
async fn cloud_cluster_deleted_outside_is_reported_not_recreated() {
    const NAME: &str = "vanishing";
    // Steady polls every 2 s, so the operator looks again soon after the cluster disappears.
    let Some(env) =
        OperatorEnv::start_with("own-gone", SimConfig::default(), &["--poll-steady", "2s"]).await
    else {
        return;
    };
    let mut spec = basic_spec();
    spec["deletionPolicy"] = json!("Delete");
    env.apply(NAME, spec).await;
    let id = cluster_id(&env.wait_ready(NAME).await).expect("cluster id");

    let cloud = env.cloud();
    cloud
        .delete_cluster(&id)
        .await
        .expect("delete outside Kubernetes");
    env.wait_cloud_cluster_gone(&id, TIMEOUT).await;

    // Either the operator reports the loss, or it makes a new cluster (what it must not do).
    enum Seen {
        Reported(Box<TidbCloudCluster>),
        Recreated(String),
    }
    let seen = eventually(
        "CloudResourceGone reported, or a new cluster",
        TIMEOUT * 2,
        async || {
            let o = env.tcc.get(NAME).await.map_err(|e| e.to_string())?;
            if has(&o, "Stalled", "True", Some("CloudResourceGone")) {
                return Ok(Seen::Reported(Box::new(o)));
            }
            let others: Vec<String> = cloud
                .list_all_clusters(None)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|c| c.display_name == NAME && c.cluster_id != id)
                .map(|c| c.cluster_id)
                .collect();
            match others.into_iter().next() {
                Some(new) => Ok(Seen::Recreated(new)),
                None => Err(format!(
                    "{}; {}",
                    describe(&o, "Ready"),
                    describe(&o, "Stalled")
                )),
            }
        },
    )
    .await;
    let o = match seen {
        Ok(Seen::Reported(o)) => *o,
        Ok(Seen::Recreated(new)) => panic!(
            "cluster {id} was deleted outside Kubernetes and the operator silently created {new} instead of \
             reporting CloudResourceGone (Event reasons: {:?})",
            env.event_reasons(NAME).await
        ),
        Err(e) => panic!(
            "{e}\n--- operator log (tail) ---\n{}",
            tail(&env.logs(), 40)
        ),
    };
    assert!(
        has(&o, "Ready", "False", None),
        "not Ready: {}",
        describe(&o, "Ready")
    );
    env.wait_event_in(env.ns(), NAME, "Warning", "CloudResourceGone")
        .await;
    // After both signals: nothing was recreated.
    assert!(
        env.clusters_named(NAME).await.is_empty(),
        "no new cluster named {NAME}"
    );
    assert_eq!(
        env.requests("POST", |r| r == CREATE_ROUTE),
        1,
        "only the first create: {:?}",
        env.writes_seen()
    );

    // Asking for a new one.
    env.try_merge::<TidbCloudCluster>(
        NAME,
        json!({"spec": {"onCloudResourceGone": "Recreate"}}),
        true,
    )
    .await
    .expect("spec.onCloudResourceGone: Recreate is a known field");
    let o = env
        .wait(NAME, "Ready on a new cluster", TIMEOUT * 2, |o| {
            ready_now(o) && cluster_id(o).is_some_and(|new| new != id)
        })
        .await;
    let new = cluster_id(&o).expect("new id");
    let named = env.clusters_named(NAME).await;
    assert_eq!(named.len(), 1, "exactly one new cluster");
    assert_eq!(named[0].cluster_id, new);
    assert!(
        condition_of(&o, "Stalled").is_none(),
        "{}",
        describe(&o, "Stalled")
    );

    env.delete(NAME).await;
    env.wait_gone(NAME).await;
    env.wait_cloud_cluster_gone(&new, TIMEOUT).await;
}
