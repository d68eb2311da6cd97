//! Leader election end to end: two real operator processes against one control plane and one simulator.
//!
//! - exactly one holds the Lease and runs controllers; one cloud cluster is created, by one create call;
//! - the leader is killed (SIGKILL, no release): the standby takes over within the lease duration plus a margin
//!   and carries on reconciling (a spec change is applied);
//! - a clean stop releases the Lease; a leader that sees its Lease taken stops at once with an error.
//!
//! Short durations keep the test quick (lease 6s, renew deadline 4s, retry 1s); the production defaults are
//! client-go's 15s/10s/2s.

mod support;

use std::time::{Duration, Instant};

use clouddb_sim::SimConfig;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::operator::*;
use support::ship::*;
use support::*;

const LEASE: &str = "clouddb-operator";
const LEASE_DURATION: Duration = Duration::from_secs(6);
const RETRY: Duration = Duration::from_secs(1);
const ELECTION: &[&str] = &[
    "--leader-election",
    "--leader-election-lease-duration=6s",
    "--leader-election-renew-deadline=4s",
    "--leader-election-retry-period=1s",
];
const B_POD: &str = "clouddb-operator-b";

async fn wait_holder(
    env: &OperatorEnv,
    what: &str,
    pred: impl Fn(Option<&str>) -> bool,
) -> Option<String> {
    let admin = &env.env.admin;
    let ns = env.operator_ns.name();
    let pred = &pred;
    eventually(what, TIMEOUT, async || {
        let holder = lease_holder(admin, ns, LEASE).await;
        if pred(holder.as_deref()) {
            Ok(holder)
        } else {
            Err(format!("holder: {holder:?}"))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n--- operator A log ---\n{}", tail(&env.logs(), 40)))
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Multi-threaded: stopping an operator blocks this thread while the in-process simulator must keep answering.
async fn one_leader_reconciles_and_a_standby_takes_over_when_it_dies() {
    // Operator A is the environment's own process: let it lead first, then start B (pod `B_POD`) as a standby.
    let Some(mut env) =
        OperatorEnv::start_with("le-failover", SimConfig::default(), ELECTION).await
    else {
        return;
    };
    let a_identity = wait_holder(&env, "operator A to lead", |h| h.is_some())
        .await
        .expect("holder");
    let b_prefix = format!("{B_POD}_");
    assert!(!a_identity.starts_with(&b_prefix));
    let mut b = OperatorProcess::spawn(
        "le-failover-b",
        env.env.cp.admin_kubeconfig(),
        &env_operator_args(&env, ELECTION),
        &[("POD_NAME", B_POD)],
    );
    b.wait_log("standing by", TIMEOUT).await;
    wait_log(&env, "controllers running").await;

    // One cluster, one create call, though two operators watch the same namespace.
    env.apply("orders", basic_spec()).await;
    let o = env.wait_ready("orders").await;
    let id = o.status.and_then(|s| s.cluster_id).expect("clusterId");
    tokio::time::sleep(RETRY * 3).await;
    assert_eq!(env.clusters_named("orders").await.len(), 1, "one cluster");
    assert_eq!(cluster_creates(&env.sim), 1, "one create call");
    assert!(
        !b.logs().contains("controllers running"),
        "the standby must not run controllers:\n{}",
        tail(&b.logs(), 20)
    );
    assert!(!b.logs().contains("acquired the Lease"));
    assert_eq!(count(&env.logs(), "acquired the Lease"), 1);
    assert_eq!(
        lease_holder(&env.env.admin, env.operator_ns.name(), LEASE)
            .await
            .as_deref(),
        Some(a_identity.as_str()),
        "leadership is stable"
    );

    // Kill the leader without a chance to release: B takes over within the lease duration (+ margin).
    let killed = Instant::now();
    env.kill_operator();
    let b_identity = wait_holder(&env, "the standby to take the Lease", |h| {
        h.is_some_and(|h| h != a_identity)
    })
    .await
    .expect("new holder");
    let took = killed.elapsed();
    note(&format!(
        "leader_election: failover {took:?} after SIGKILL (lease duration {LEASE_DURATION:?})"
    ));
    assert!(b_identity.starts_with(&b_prefix), "{b_identity}");
    assert!(
        took <= LEASE_DURATION + RETRY * 2 + Duration::from_secs(4),
        "failover took {took:?} (lease duration {LEASE_DURATION:?})"
    );
    b.wait_log("controllers running", TIMEOUT).await;

    // The new leader reconciles: a scale-out of TiDB is applied to the same cloud cluster.
    env.patch_spec("orders", json!({"tidb": {"nodeCount": 3}}))
        .await;
    let o = wait_tcc_ready(&env.tcc, "orders", || b.logs()).await;
    assert_eq!(
        o.status.and_then(|s| s.cluster_id).as_deref(),
        Some(id.as_str())
    );
    let cluster = env.clusters_named("orders").await;
    assert_eq!(cluster.len(), 1, "still one cluster");
    assert_eq!(cluster[0].tidb_node_count(), 3, "scale-out applied");
    assert_eq!(cluster_creates(&env.sim), 1, "no second create");
    assert!(
        env.rejected_writes().is_empty(),
        "{:?}",
        env.rejected_writes()
    );

    // A clean stop (SIGTERM) releases the Lease at once, for the next pod of a rolling update.
    b.stop(Duration::from_secs(10));
    assert!(
        b.logs().contains("released the Lease"),
        "{}",
        tail(&b.logs(), 20)
    );
    assert_eq!(
        lease_holder(&env.env.admin, env.operator_ns.name(), LEASE).await,
        None,
        "released on SIGTERM"
    );
}

async fn wait_log(env: &OperatorEnv, needle: &str) {
    let res = eventually(
        format!("operator A to log {needle:?}"),
        TIMEOUT,
        async || {
            if env.logs().contains(needle) {
                Ok(())
            } else {
                Err("not yet")
            }
        },
    )
    .await;
    if let Err(e) = res {
        panic!("{e}\n--- operator A log ---\n{}", tail(&env.logs(), 40));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_sees_its_lease_taken_stops() {
    let Some(env) = OperatorEnv::start_with("le-stolen", SimConfig::default(), ELECTION).await
    else {
        return;
    };
    let holder = wait_holder(&env, "the operator to lead", |h| h.is_some())
        .await
        .expect("holder");
    // Someone else writes itself into the Lease (as a partitioned-then-returning peer might).
    let leases: Api<Lease> = Api::namespaced(env.env.admin.clone(), env.operator_ns.name());
    let now = MicroTime(Timestamp::now());
    leases
        .patch(
            LEASE,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {
                "holderIdentity": "intruder",
                "renewTime": now,
                "acquireTime": now,
                "leaseDurationSeconds": 60,
            }})),
        )
        .await
        .expect("take the Lease");
    let stolen = Instant::now();
    let res = eventually("the operator to stop", TIMEOUT, async || {
        let logs = env.logs();
        if logs.contains("lost the Lease") && logs.contains("operator stopped") {
            Ok(())
        } else {
            Err("still running")
        }
    })
    .await;
    if let Err(e) = res {
        panic!("{e}\n--- operator log ---\n{}", tail(&env.logs(), 40));
    }
    assert!(
        stolen.elapsed() < RETRY * 3 + Duration::from_secs(2),
        "stopped after {:?}",
        stolen.elapsed()
    );
    assert!(env.logs().contains("the Lease is held by intruder"));
    assert_eq!(
        lease_holder(&env.env.admin, env.operator_ns.name(), LEASE)
            .await
            .as_deref(),
        Some("intruder"),
        "the stopped leader did not write the Lease again (it was {holder})"
    );
}
