//! All observation of TiDB Cloud clusters goes through here.
//!
//! **Batched** (default): per API key and project, one refresher task walks `GET /clusters` in pages of 100
//! and keeps a shared snapshot; reconcilers read the snapshot. The answer of a write (create, update, pause,
//! resume, delete all return the cluster) or of a GET is kept as a *fresh observation* of that one cluster
//! until a list that started later replaces it. A reconcile issues a `GET /clusters/{id}` only when neither
//! can answer: the cluster was written to after both were taken (so they may predate the write), or the
//! snapshot lacks the cluster (deleted in the cloud, or created by a write whose answer was lost).
//! The refresher runs at the transitional interval while any cluster it serves is changing or was written
//! recently, and at the steady (jittered) interval otherwise. Until a feed's first list completes, readers
//! wait for it instead of each sending a GET, so an operator restart costs ⌈N/100⌉ calls, not N.
//!
//! **Naive**: one GET per object per read (what Terraform and Crossplane providers do); kept for the benchmark
//! that measures the difference.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::client::TidbCloudClient;
use super::models::Cluster;
use crate::cloud::{CloudError, Priority};

/// How observation is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ObservationMode {
    /// Shared list snapshots per API key and project; GET only when needed.
    Batched,
    /// One GET per object per reconcile.
    Naive,
}

/// Refresh intervals of the batched mode.
#[derive(Clone, Copy, Debug)]
pub struct ObserverConfig {
    pub mode: ObservationMode,
    /// While anything is changing.
    pub transitional: Duration,
    /// At rest (drift detection); jittered ±10%.
    pub steady: Duration,
    /// How long a reader waits for a feed's first snapshot before falling back to a GET.
    pub first_snapshot_wait: Duration,
}

/// One feed: the clusters of one project seen through one API key.
struct Feed {
    /// Clusters by id from the last complete list.
    snapshot: HashMap<String, Cluster>,
    /// When the last complete list *started* (entries describe the cloud no earlier than this).
    listed_at: Option<Instant>,
    /// Ids readers asked about, with when they last asked (to decide the refresh pace).
    interested: HashMap<String, Instant>,
    /// When each cluster was first seen in a transitional state (cleared when it rests).
    changing_since: HashMap<String, Instant>,
    /// Signals each completed list (value = number of lists so far).
    done: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    feeds: HashMap<(String, String), Feed>,
    /// Last write per cluster id.
    writes: HashMap<String, Instant>,
    /// Clusters seen in the answer of a write or a GET, with when the cloud was at least that new; kept
    /// until a later list (or [`OBSERVATION_TTL`] transitional intervals) supersedes them.
    seen: HashMap<String, (Instant, Cluster)>,
}

/// How many transitional intervals a single cluster's fresh observation answers for when no list replaces it
/// (lists failing): after that, a reconcile GETs again.
const OBSERVATION_TTL: u32 = 4;

enum Lookup {
    Hit(Box<Cluster>),
    Get,
    Wait(watch::Receiver<u64>),
}

/// The observation module shared by every TiDB Cloud controller.
#[derive(Clone)]
pub struct Observer {
    config: ObserverConfig,
    state: Arc<Mutex<State>>,
}

impl Observer {
    pub fn new(config: ObserverConfig) -> Observer {
        Observer {
            config,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a write (create, update, pause, resume, delete) to `cluster_id`: snapshots listed before now
    /// no longer answer for it, and its feed refreshes at the transitional pace for a while. Call it before
    /// the write is sent *and* after its answer arrives, so that no list that overlapped the write counts as
    /// fresh.
    pub fn wrote(&self, cluster_id: &str) {
        self.lock()
            .writes
            .insert(cluster_id.to_string(), Instant::now());
    }

    /// Records the cluster returned by a write (after [`Observer::wrote`]) as a fresh observation: it
    /// describes the cloud after the write, so the reconciles that follow need no GET until the next list.
    pub fn saw(&self, cluster: &Cluster) {
        self.saw_at(Instant::now(), cluster);
    }

    fn saw_at(&self, at: Instant, cluster: &Cluster) {
        if self.config.mode == ObservationMode::Naive {
            return;
        }
        self.lock()
            .seen
            .insert(cluster.cluster_id.clone(), (at, cluster.clone()));
    }

    /// Stops following `cluster_id` (its resource is gone).
    pub fn forget(&self, cluster_id: &str) {
        let mut state = self.lock();
        state.writes.remove(cluster_id);
        state.seen.remove(cluster_id);
        for feed in state.feeds.values_mut() {
            feed.interested.remove(cluster_id);
        }
    }

    /// The cluster as last seen, `None` when it does not exist. `project` is the cluster's project (`None` =
    /// the key's default project).
    pub async fn cluster(
        &self,
        client: &TidbCloudClient,
        project: Option<&str>,
        id: &str,
    ) -> Result<Option<Cluster>, CloudError> {
        if self.config.mode == ObservationMode::Naive {
            return get(client, id).await;
        }
        let key = (
            client.key_id().to_string(),
            project.unwrap_or_default().to_string(),
        );
        let mut done = match self.lookup(client, &key, id) {
            Lookup::Hit(c) => return Ok(Some(*c)),
            Lookup::Get => return self.get_and_keep(client, id).await,
            Lookup::Wait(rx) => rx,
        };
        // No snapshot yet: wait for the first list rather than sending a GET per object.
        let listed =
            tokio::time::timeout(self.config.first_snapshot_wait, done.wait_for(|n| *n > 0))
                .await
                .is_ok_and(|r| r.is_ok());
        if listed && let Lookup::Hit(c) = self.lookup(client, &key, id) {
            return Ok(Some(*c));
        }
        self.get_and_keep(client, id).await
    }

    /// GETs one cluster and keeps the answer as a fresh observation (dated when the GET was sent).
    async fn get_and_keep(
        &self,
        client: &TidbCloudClient,
        id: &str,
    ) -> Result<Option<Cluster>, CloudError> {
        let sent = Instant::now();
        let found = get(client, id).await?;
        match &found {
            Some(c) => self.saw_at(sent, c),
            None => {
                self.lock().seen.remove(id);
            }
        }
        Ok(found)
    }

    /// What the snapshot can say about `id` right now (starting the feed if there is none).
    fn lookup(&self, client: &TidbCloudClient, key: &(String, String), id: &str) -> Lookup {
        let mut state = self.lock();
        let written = state.writes.get(id).copied();
        let ttl = self.config.transitional.saturating_mul(OBSERVATION_TTL);
        let seen = state
            .seen
            .get(id)
            .filter(|(at, _)| written.is_none_or(|w| *at >= w) && at.elapsed() < ttl)
            .map(|(at, c)| (*at, c.clone()));
        if !state.feeds.contains_key(key) {
            let (tx, _) = watch::channel(0);
            let feed = Feed {
                snapshot: HashMap::new(),
                listed_at: None,
                interested: HashMap::new(),
                changing_since: HashMap::new(),
                done: tx,
            };
            state.feeds.insert(key.clone(), feed);
            self.spawn_feed(client.clone(), key.clone());
        }
        let Some(feed) = state.feeds.get_mut(key) else {
            return Lookup::Get;
        };
        feed.interested.insert(id.to_string(), Instant::now());
        let listed_at = feed.listed_at;
        // A fresh observation answers unless a list that started after it has completed.
        if let Some((at, c)) = seen
            && listed_at.is_none_or(|l| l <= at)
        {
            return Lookup::Hit(Box::new(c));
        }
        match listed_at {
            None => Lookup::Wait(feed.done.subscribe()),
            Some(listed_at) => match feed.snapshot.get(id) {
                Some(c) if written.is_none_or(|w| listed_at > w) => {
                    Lookup::Hit(Box::new(c.clone()))
                }
                // Written since the list started, or not in it: ask for this one.
                _ => Lookup::Get,
            },
        }
    }

    /// Every cluster of a project whose list the feed holds (for lookups by name after an uncertain create);
    /// always lists afresh, since a lost create is by definition newer than any snapshot.
    pub async fn list_fresh(
        &self,
        client: &TidbCloudClient,
        project: Option<&str>,
    ) -> Result<Vec<Cluster>, CloudError> {
        client
            .with_observe_priority(Priority::Write)
            .list_all_clusters(project)
            .await
    }

    fn spawn_feed(&self, client: TidbCloudClient, key: (String, String)) {
        let me = self.clone();
        tokio::spawn(async move { me.run_feed(client, key).await });
    }

    /// The refresher loop of one feed (one per API key and project, for the life of the process).
    async fn run_feed(self, client: TidbCloudClient, key: (String, String)) {
        let project = Some(key.1.as_str())
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let mut failures: u32 = 0;
        loop {
            let busy = self.busy_pace(&key).is_some();
            let priority = if busy {
                Priority::Transitional
            } else {
                Priority::Steady
            };
            let started = Instant::now();
            match client
                .with_observe_priority(priority)
                .list_all_clusters(project.as_deref())
                .await
            {
                Ok(clusters) => {
                    failures = 0;
                    let mut state = self.lock();
                    if let Some(feed) = state.feeds.get_mut(&key) {
                        feed.snapshot = clusters
                            .into_iter()
                            .map(|c| (c.cluster_id.clone(), c))
                            .collect();
                        let snapshot = &feed.snapshot;
                        feed.changing_since.retain(|id, _| {
                            snapshot.get(id).is_some_and(|c| c.state.is_transitional())
                        });
                        for (id, c) in snapshot {
                            if c.state.is_transitional() {
                                feed.changing_since.entry(id.clone()).or_insert(started);
                            }
                        }
                        feed.listed_at = Some(started);
                        feed.done.send_modify(|n| *n += 1);
                        // This list supersedes older single-cluster observations of its clusters
                        // (including those it no longer holds: they were deleted).
                        let State { feeds, seen, .. } = &mut *state;
                        if let Some(feed) = feeds.get(&key) {
                            seen.retain(|id, (at, _)| {
                                *at >= started
                                    || !(feed.snapshot.contains_key(id)
                                        || feed.interested.contains_key(id))
                            });
                        }
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::debug!(key_id = %key.0, project = %key.1, error = %e, "cluster list refresh failed");
                }
            }
            let delay = match (failures, client.budget().blocked_for()) {
                (_, Some(blocked)) => blocked,
                (0, None) => self
                    .busy_pace(&key)
                    .unwrap_or_else(|| jittered(self.config.steady)),
                // Back off on repeated failures (readers fall back to GETs meanwhile).
                (n, None) => self
                    .config
                    .transitional
                    .saturating_mul(2u32.saturating_pow(n.min(6)))
                    .min(self.config.steady),
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// The refresh interval while a cluster the feed serves is changing (in a transitional state, or written
    /// within the last few transitional intervals); `None` when all rest. The pace adapts to how long the
    /// change has been going on: every `transitional` at first, then a fifth of the elapsed time, capped at
    /// [`MAX_PROGRESS_POLL`] — a 20-minute create costs about 20 lists instead of 60.
    fn busy_pace(&self, key: &(String, String)) -> Option<Duration> {
        let mut state = self.lock();
        let forget_after = self.config.steady.saturating_mul(3);
        let State { feeds, writes, .. } = &mut *state;
        let feed = feeds.get_mut(key)?;
        // Objects nobody asked about for a long time (their resource is gone) do not keep the pace up.
        feed.interested
            .retain(|_, asked| asked.elapsed() < forget_after);
        let recent = self.config.transitional.saturating_mul(10);
        feed.interested
            .keys()
            .filter_map(|id| {
                let written = writes.get(id).filter(|w| w.elapsed() < recent).copied();
                let changing = feed.changing_since.get(id).copied();
                let missing = feed.listed_at.is_some() && !feed.snapshot.contains_key(id);
                let since = match (written, changing) {
                    (Some(w), Some(c)) => Some(w.max(c)),
                    (w, c) => w.or(c),
                };
                match (since, missing) {
                    (Some(since), _) => Some(pace(since.elapsed(), self.config.transitional)),
                    (None, true) => Some(self.config.transitional),
                    (None, false) => None,
                }
            })
            .min()
    }
}

/// Longest interval between progress polls of a changing cluster.
pub const MAX_PROGRESS_POLL: Duration = Duration::from_secs(120);

/// Poll interval for a change that has been going on for `elapsed`.
fn pace(elapsed: Duration, transitional: Duration) -> Duration {
    (elapsed / 5).clamp(transitional, MAX_PROGRESS_POLL.max(transitional))
}

async fn get(client: &TidbCloudClient, id: &str) -> Result<Option<Cluster>, CloudError> {
    match client.get_cluster(id).await {
        Ok(c) => Ok(Some(c)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn jittered(d: Duration) -> Duration {
    d.mul_f64(0.9 + rand::random::<f64>() * 0.2)
}

impl crate::cloud::writes::RecordsWrites for Observer {
    fn wrote(&self, id: &str) {
        Observer::wrote(self, id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_twenty_minute_create_costs_at_most_25_polls() {
        let transitional = Duration::from_secs(20);
        let mut t = Duration::ZERO;
        let mut polls = 0;
        while t < Duration::from_secs(20 * 60) {
            t += pace(t, transitional);
            polls += 1;
        }
        assert!(polls <= 25, "{polls} polls");
        // Short operations are still followed closely.
        assert_eq!(pace(Duration::from_secs(5), transitional), transitional);
        assert_eq!(
            pace(Duration::from_secs(3600), transitional),
            MAX_PROGRESS_POLL
        );
    }
}
