//! The Kubernetes side: the credentials Secret, applying TidbCloudClusters, and watching them become Ready.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use clouddb_operator::api::tidbcloudcluster::TidbCloudCluster;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::error::BenchError;
use crate::operator::CREDENTIALS;
use crate::sim::key_pair;

const FIELD_MANAGER: &str = "clouddb-bench";

/// The spec every benchmark cluster gets: the smallest valid Dedicated cluster in the simulator's catalogue.
pub fn spec() -> Value {
    json!({
        "regionId": "aws-us-west-2",
        "tidb": {"nodeSpecKey": "8C16G", "nodeCount": 2},
        "tikv": {"nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 500},
    })
}

/// Node quota the simulator needs for `n` clusters of [`spec`] (3 TiKV nodes each), with room to spare.
pub fn node_quota(n: usize) -> u64 {
    (n as u64 + 1000) * 4
}

/// Name of the `i`-th cluster of a phase (`bench-00042`; also its TiDB Cloud display name).
pub fn name(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:05}")
}

/// `Ready=True` for the current generation.
pub fn is_ready(o: &TidbCloudCluster) -> bool {
    let Some(status) = &o.status else {
        return false;
    };
    status.observed_generation == o.metadata.generation
        && status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The credentials Secret of API key `i`: the operator's default one for key 0, `…-<i>` for the others.
pub fn credentials_secret(i: usize) -> String {
    if i == 0 {
        CREDENTIALS.to_string()
    } else {
        format!("{CREDENTIALS}-{i}")
    }
}

/// The credentials Secrets of `keys` simulator keys (key 0 in the default credentials Secret the operator
/// reads).
pub async fn put_credentials(
    client: &kube::Client,
    ns: &str,
    keys: usize,
) -> Result<(), BenchError> {
    for i in 0..keys.max(1) {
        let (public, private) = key_pair(i);
        let name = credentials_secret(i);
        let body = json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "stringData": {"publicKey": public, "privateKey": private},
        });
        Api::<Secret>::namespaced(client.clone(), ns)
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
            .map_err(|e| BenchError::kube("applying a credentials Secret", e))?;
    }
    Ok(())
}

/// Server-side applies one TidbCloudCluster, as `kubectl apply --server-side` would.
/// `key`: the API key it uses (0: the operator's default credentials; others: `spec.credentials`).
pub async fn apply(api: &Api<TidbCloudCluster>, name: &str, key: usize) -> Result<(), BenchError> {
    let mut spec = spec();
    if key > 0 {
        spec["credentials"] = json!({"secretRef": {"name": credentials_secret(key)}});
    }
    let body = json!({
        "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudCluster",
        "metadata": {"name": name}, "spec": spec,
    });
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(|e| BenchError::kube(format!("applying TidbCloudCluster {name}"), e))?;
    Ok(())
}

/// Applies `names` with `concurrency` requests in flight.
pub async fn apply_all(
    api: &Api<TidbCloudCluster>,
    names: &[String],
    keys: usize,
    concurrency: usize,
) -> Result<(), BenchError> {
    // Spread round robin over the keys.
    let keys = keys.max(1);
    futures::stream::iter(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| apply(api, n, i % keys)),
    )
    .buffer_unordered(concurrency.max(1))
    .try_collect::<Vec<()>>()
    .await
    .map(|_| ())
}

/// Counts the Ready objects of a namespace as the watch reports them; the count is published on a channel
/// (with the instant it changed) so that waits see each change as it happens.
pub struct ReadyWatch {
    rx: watch::Receiver<(usize, Instant)>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadyWatch {
    pub fn start(api: Api<TidbCloudCluster>) -> ReadyWatch {
        let (tx, rx) = watch::channel((0, Instant::now()));
        let task = tokio::spawn(async move {
            let mut ready: HashSet<String> = HashSet::new();
            let mut init: HashSet<String> = HashSet::new();
            let stream = watcher(api, watcher::Config::default());
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                let before = ready.len();
                match event {
                    Ok(watcher::Event::Apply(o)) => track(&mut ready, &o),
                    Ok(watcher::Event::Delete(o)) => {
                        ready.remove(&o.metadata.name.unwrap_or_default());
                    }
                    Ok(watcher::Event::Init) => init.clear(),
                    Ok(watcher::Event::InitApply(o)) => track(&mut init, &o),
                    Ok(watcher::Event::InitDone) => ready = std::mem::take(&mut init),
                    // The watcher retries by itself; a later event brings the count up to date.
                    Err(_) => {}
                }
                if ready.len() != before {
                    let _ = tx.send((ready.len(), Instant::now()));
                }
            }
        });
        ReadyWatch { rx, task }
    }

    /// Waits until at least `n` objects are Ready; returns when that was seen, or `Err(count)` after
    /// `timeout`.
    pub async fn wait_for(&mut self, n: usize, timeout: Duration) -> Result<Instant, usize> {
        let reached = tokio::time::timeout(timeout, self.rx.wait_for(|(count, _)| *count >= n))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|seen| seen.1);
        reached.ok_or_else(|| self.rx.borrow().0)
    }
}

impl Drop for ReadyWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn track(set: &mut HashSet<String>, o: &TidbCloudCluster) {
    let name = o.metadata.name.clone().unwrap_or_default();
    if is_ready(o) {
        set.insert(name);
    } else {
        set.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_the_current_generation() {
        let mut o: TidbCloudCluster = serde_json::from_value(json!({
            "apiVersion": "clouddb.dev/v1alpha1", "kind": "TidbCloudCluster",
            "metadata": {"name": "bench-00001", "generation": 2},
            "spec": spec(),
            "status": {"observedGeneration": 1, "conditions": [{
                "type": "Ready", "status": "True", "reason": "Available", "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z"
            }]}
        }))
        .expect("a valid object");
        assert!(!is_ready(&o));
        if let Some(s) = o.status.as_mut() {
            s.observed_generation = Some(2);
        }
        assert!(is_ready(&o));
        assert_eq!(name("bench", 42), "bench-00042");
    }
}
