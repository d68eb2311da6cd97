//! The batched observer against the simulator: pages beyond the first are read, a change made in the cloud is
//! seen within one refresh, a cluster deleted in the cloud is noticed, and reads are served from the snapshot
//! (no GET per object) except right after a write whose answer was not kept.

use std::time::Duration;

use clouddb_operator::cloud::BudgetRegistry;
use clouddb_operator::providers::tidbcloud::models::{Cluster, UpdateClusterRequest};
use clouddb_operator::providers::tidbcloud::observe::{ObservationMode, Observer, ObserverConfig};
use clouddb_operator::providers::tidbcloud::{
    ApiKey, ClientConfig, Session, TidbCloudClient, translate,
};
use clouddb_sim::{QuotaConfig, SimConfig, Simulator};
use clouddb_testkit::eventually;

const TIMEOUT: Duration = Duration::from_secs(30);

async fn sim() -> Simulator {
    Simulator::start(SimConfig {
        quota: QuotaConfig {
            limit: 100_000,
            window: Duration::from_secs(60),
        },
        node_quota: vec![
            ("TIDB".into(), 10_000),
            ("TIKV".into(), 10_000),
            ("TIFLASH".into(), 10_000),
        ],
        ..SimConfig::default()
    })
    .await
    .expect("simulator")
}

fn client(sim: &Simulator) -> TidbCloudClient {
    let config = ClientConfig::default()
        .with_endpoint(&sim.base_url())
        .with_ca_file(sim.ca_path().expect("https"))
        .expect("CA");
    let budgets = BudgetRegistry::new(
        clouddb_operator::cloud::BudgetConfig {
            requests_per_minute: 100_000.0,
            ..Default::default()
        },
        Default::default(),
    );
    let k = sim.key();
    TidbCloudClient::new(
        &config,
        ApiKey::new(k.public_key.clone(), k.private_key.clone()),
        &budgets,
    )
    .expect("client")
}

fn observer(mode: ObservationMode) -> Observer {
    Observer::new(ObserverConfig {
        mode,
        transitional: Duration::from_millis(200),
        steady: Duration::from_millis(300),
        first_snapshot_wait: Duration::from_secs(10),
    })
}

async fn create(client: &TidbCloudClient, name: &str) -> Cluster {
    let spec = serde_json::from_value(serde_json::json!({
        "regionId": "aws-us-west-2",
        "tidb": {"nodeSpecKey": "8C16G", "nodeCount": 1},
        "tikv": {"nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 500},
    }))
    .expect("spec");
    client
        .create_cluster(&translate::create_request(&spec, name, None))
        .await
        .expect("create")
}

fn count(sim: &Simulator, method: &str, route: &str) -> u64 {
    sim.counters()
        .into_iter()
        .filter(|r| r.key.method == method && r.key.route == route && r.key.status == 200)
        .map(|r| r.count)
        .sum()
}

fn gets_by_id(sim: &Simulator) -> u64 {
    count(sim, "GET", "/v1beta1/clusters/{clusterId}")
}

#[tokio::test]
async fn snapshot_covers_every_page_and_serves_reads_without_gets() {
    let sim = sim().await;
    let client = client(&sim);
    let mut ids = Vec::new();
    for i in 0..150 {
        ids.push(create(&client, &format!("db-{i:03}")).await.cluster_id);
    }
    let obs = observer(ObservationMode::Batched);
    let gets_before = gets_by_id(&sim);
    for id in &ids {
        let c = obs
            .cluster(&client, None, id)
            .await
            .expect("observe")
            .expect("exists");
        assert_eq!(&c.cluster_id, id);
    }
    assert_eq!(
        gets_by_id(&sim),
        gets_before,
        "150 reads, no GET per object: all served from the snapshot"
    );
    // 150 clusters at 100 per page: each refresh is 2 list calls, the second page is read.
    let lists = count(&sim, "GET", "/v1beta1/clusters");
    assert!(
        lists >= 2,
        "at least one full two-page refresh: {lists} list calls"
    );
}

#[tokio::test]
async fn cloud_changes_and_deletions_are_seen_and_writes_force_a_get() {
    let sim = sim().await;
    let client = client(&sim);
    let a = create(&client, "changed").await.cluster_id;
    let b = create(&client, "deleted").await.cluster_id;
    let obs = observer(ObservationMode::Batched);
    assert!(
        obs.cluster(&client, None, &a)
            .await
            .expect("observe")
            .is_some()
    );

    // Renamed in the console (no `wrote`): the next refresh shows it.
    let rename = UpdateClusterRequest {
        display_name: Some("renamed-in-console".into()),
        ..Default::default()
    };
    eventually("the cluster to be ACTIVE", TIMEOUT, async || {
        match client.get_cluster(&a).await {
            Ok(c) if c.state.as_str() == "ACTIVE" => Ok(()),
            Ok(c) => Err(c.state.to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .expect("active");
    client.update_cluster(&a, &rename).await.expect("rename");
    eventually(
        "the rename to show in the snapshot",
        TIMEOUT,
        async || match obs.cluster(&client, None, &a).await {
            Ok(Some(c)) if c.display_name == "renamed-in-console" => Ok(()),
            Ok(c) => Err(format!("{:?}", c.map(|c| c.display_name))),
            Err(e) => Err(e.to_string()),
        },
    )
    .await
    .expect("change seen");

    // Deleted in the console: noticed (None), through the snapshot plus one confirming GET.
    client.delete_cluster(&b).await.expect("delete");
    eventually("the deletion to be noticed", TIMEOUT, async || {
        match obs.cluster(&client, None, &b).await {
            Ok(None) => Ok(()),
            Ok(Some(c)) => Err(c.state.to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .expect("deletion seen");

    // Right after our own write, the snapshot does not answer: one GET does.
    let before = gets_by_id(&sim);
    obs.wrote(&a);
    assert!(
        obs.cluster(&client, None, &a)
            .await
            .expect("observe")
            .is_some()
    );
    assert_eq!(
        gets_by_id(&sim),
        before + 1,
        "a read right after a write is a GET"
    );
    // That GET's answer is fresh: the reads that follow it (the next reconciles) need none.
    for _ in 0..3 {
        assert!(
            obs.cluster(&client, None, &a)
                .await
                .expect("observe")
                .is_some()
        );
    }
    assert_eq!(
        gets_by_id(&sim),
        before + 1,
        "reads after the GET are answered by it or by a later list"
    );

    // A write whose answer is kept (`saw`) needs no GET at all, and the answer is what reads return.
    let rename = UpdateClusterRequest {
        display_name: Some("renamed-by-operator".into()),
        ..Default::default()
    };
    obs.wrote(&a);
    let updated = client.update_cluster(&a, &rename).await.expect("rename");
    obs.wrote(&a);
    obs.saw(&updated);
    let before = gets_by_id(&sim);
    let c = obs
        .cluster(&client, None, &a)
        .await
        .expect("observe")
        .expect("exists");
    assert_eq!(c.display_name, "renamed-by-operator");
    assert_eq!(
        gets_by_id(&sim),
        before,
        "the write's answer serves the read"
    );
}

#[tokio::test]
async fn naive_mode_gets_every_object() {
    let sim = sim().await;
    let client = client(&sim);
    let id = create(&client, "naive").await.cluster_id;
    let obs = observer(ObservationMode::Naive);
    let before = gets_by_id(&sim);
    for _ in 0..5 {
        assert!(
            obs.cluster(&client, None, &id)
                .await
                .expect("observe")
                .is_some()
        );
    }
    assert_eq!(gets_by_id(&sim), before + 5);
}

/// Issue 17: while a few clusters change, the refresher reads only those (one `clusterIds` call per round),
/// not every page, and readers see each step without a GET.
#[tokio::test]
async fn only_the_changing_clusters_are_reread_while_they_change() {
    let sim = sim().await;
    let client = client(&sim);
    let mut ids = Vec::new();
    for i in 0..250 {
        ids.push(create(&client, &format!("db-{i:03}")).await.cluster_id);
    }
    let transitional = Duration::from_millis(200);
    let obs = Observer::new(ObserverConfig {
        mode: ObservationMode::Batched,
        transitional,
        // No steady full list during the test: only the first one.
        steady: Duration::from_secs(600),
        first_snapshot_wait: Duration::from_secs(10),
    });
    eventually(
        "all 250 clusters ACTIVE, seen through the observer",
        TIMEOUT,
        async || {
            let mut creating = 0;
            for id in &ids {
                match obs.cluster(&client, None, id).await {
                    Ok(Some(c)) if c.state.as_str() == "ACTIVE" => {}
                    Ok(_) => creating += 1,
                    Err(e) => return Err(e.to_string()),
                }
            }
            if creating == 0 {
                Ok(())
            } else {
                Err(format!("{creating} not ACTIVE"))
            }
        },
    )
    .await
    .expect("all active");

    let lists_before = count(&sim, "GET", "/v1beta1/clusters");
    let gets_before = gets_by_id(&sim);
    let start = std::time::Instant::now();
    let session = Session {
        client: &client,
        observer: &obs,
    };
    for id in &ids[..2] {
        let c = session.pause_cluster(id).await.expect("pause");
        assert_eq!(c.state.as_str(), "PAUSING");
    }
    eventually("both paused clusters seen PAUSED", TIMEOUT, async || {
        let mut states = Vec::new();
        for id in &ids[..2] {
            match obs.cluster(&client, None, id).await {
                Ok(Some(c)) => states.push(c.state.to_string()),
                other => return Err(format!("{other:?}")),
            }
        }
        if states.iter().all(|s| s == "PAUSED") {
            Ok(())
        } else {
            Err(states.join(","))
        }
    })
    .await
    .expect("paused");
    let elapsed = start.elapsed();
    let lists = count(&sim, "GET", "/v1beta1/clusters") - lists_before;
    // At most one round per transitional interval, one call each (both ids fit a page); every full
    // refresh would cost 3 (250 clusters).
    let rounds = (elapsed.as_millis() / transitional.as_millis()) as u64 + 2;
    assert!(
        lists >= 1 && lists <= rounds,
        "{lists} list calls in {elapsed:?} ({rounds} rounds at most)"
    );
    assert_eq!(gets_by_id(&sim), gets_before, "no GET per object");
    // The others were never re-read: they still answer from the first list.
    for id in &ids[2..5] {
        let c = obs
            .cluster(&client, None, id)
            .await
            .expect("observe")
            .expect("exists");
        assert_eq!(c.state.as_str(), "ACTIVE");
    }
}
