//! Observation of TiDB Cloud Serverless clusters: per API key, one paged `GET /clusters` (100 a page) answers
//! for every serverless cluster the key sees, so N TidbCloudServerlessClusters at rest cost ⌈N/100⌉ calls per
//! resync, not N GETs. Concurrent reconciles of one key wait for a single list.
//!
//! A list answers for a cluster only when it was taken after the last write to that cluster (a list taken while
//! a write was in flight must not answer for it; the one write-recording rule of `cloud::writes`); otherwise,
//! and for a cluster missing from the list (created since), the read goes by id. A reader says how old a list
//! it accepts: the steady interval for a resting cluster, the transitional one for a changing cluster (so every
//! changing cluster of a key shares one list per transitional interval).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client::TidbCloudClient;
use super::observe::ObservationMode;
use super::serverless_models::{ServerlessCluster, UID_LABEL};
use crate::cloud::CloudError;

struct List {
    taken: Instant,
    clusters: Arc<HashMap<String, ServerlessCluster>>,
}

/// The latest list of one API key; its lock makes concurrent readers wait for one list.
type Slot = Arc<tokio::sync::Mutex<Option<List>>>;

/// Shared by every TidbCloudServerlessCluster reconcile of the process.
pub struct ServerlessObserver {
    /// `Naive` (for benchmarks): one GET per read, no list.
    mode: ObservationMode,
    steady: Duration,
    transitional: Duration,
    lists: Mutex<HashMap<String, Slot>>,
    written: Mutex<HashMap<String, Instant>>,
}

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// A resting cluster: a list up to the steady interval old.
    Steady,
    /// A changing cluster: a list up to the transitional interval old.
    Transitional,
}

impl ServerlessObserver {
    pub fn new(
        mode: ObservationMode,
        steady: Duration,
        transitional: Duration,
    ) -> ServerlessObserver {
        ServerlessObserver {
            mode,
            steady,
            transitional,
            lists: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, client: &TidbCloudClient) -> Slot {
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        lists
            .entry(client.key_id().to_string())
            .or_default()
            .clone()
    }

    /// Every serverless cluster of the key, from a list younger than `max_age` (else listed now).
    async fn list(
        &self,
        client: &TidbCloudClient,
        max_age: Duration,
    ) -> Result<(Instant, Arc<HashMap<String, ServerlessCluster>>), CloudError> {
        let slot = self.slot(client);
        let mut guard = slot.lock().await;
        if let Some(list) = guard.as_ref()
            && list.taken.elapsed() < max_age
        {
            return Ok((list.taken, list.clusters.clone()));
        }
        let taken = Instant::now();
        let mut clusters = HashMap::new();
        client
            .for_each_serverless_page(None, |page| {
                clusters.extend(page.into_iter().map(|c| (c.cluster_id.clone(), c)));
            })
            .await?;
        let clusters = Arc::new(clusters);
        *guard = Some(List {
            taken,
            clusters: clusters.clone(),
        });
        Ok((taken, clusters))
    }

    /// The serverless cluster `id` (`None`: it does not exist).
    pub async fn cluster(
        &self,
        client: &TidbCloudClient,
        id: &str,
        freshness: Freshness,
    ) -> Result<Option<ServerlessCluster>, CloudError> {
        let max_age = match freshness {
            Freshness::Steady => self.steady,
            Freshness::Transitional => self.transitional,
        };
        if self.mode == ObservationMode::Batched {
            let (taken, clusters) = self.list(client, max_age).await?;
            if self.answers(id, taken)
                && let Some(c) = clusters.get(id)
            {
                return Ok(Some(c.clone()));
            }
        }
        match client.get_serverless_cluster(id).await {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// What a create by the object `uid` may have made: a fresh list filtered by the label carrying that uid.
    pub async fn made_by_uid(
        &self,
        client: &TidbCloudClient,
        uid: &str,
    ) -> Result<Vec<ServerlessCluster>, CloudError> {
        let filter = format!("labels.{UID_LABEL}={}", quoted(uid));
        client.list_all_serverless_clusters(Some(&filter)).await
    }

    /// Records a write to cluster `id` (before and after the call).
    pub fn wrote(&self, id: &str) {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let horizon = self.steady.max(self.transitional);
        w.retain(|_, at| at.elapsed() < horizon);
        w.insert(id.to_string(), Instant::now());
    }

    /// Whether a list taken at `taken` may answer for `id`: taken after its last write.
    fn answers(&self, id: &str, taken: Instant) -> bool {
        let w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        w.get(id).is_none_or(|at| *at < taken)
    }
}

impl crate::cloud::writes::RecordsWrites for ServerlessObserver {
    fn wrote(&self, id: &str) {
        ServerlessObserver::wrote(self, id);
    }
}

/// An AIP-160 string value: double-quoted, `"` and `\` escaped.
pub fn quoted(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_answers_only_for_clusters_not_written_since_it_was_taken() {
        let o = ServerlessObserver::new(
            ObservationMode::Batched,
            Duration::from_secs(60),
            Duration::from_secs(1),
        );
        let before = Instant::now();
        assert!(o.answers("a", before));
        o.wrote("a");
        assert!(!o.answers("a", before));
        assert!(o.answers("a", Instant::now()));
        assert!(o.answers("b", before));
    }

    #[test]
    fn filter_values_are_quoted() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
