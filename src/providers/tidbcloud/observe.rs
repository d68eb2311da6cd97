//! All observation of TiDB Cloud clusters goes through here.
//!
//! **Batched** (default): per API key and project, one refresher task keeps the latest observation of every
//! cluster. It reads in two ways:
//!
//! - the **full list** (`GET /clusters`, every page of 100) at start and at the steady (jittered) interval:
//!   it finds what changed outside the operator (drift, clusters deleted or created elsewhere);
//! - while clusters it serves are **changing** (in a transitional state, or written recently, or written
//!   since their last observation), **rounds** at the transitional interval that read only those clusters,
//!   by id (`GET /clusters?clusterIds=…`, up to a page of ids per call). [`plan_refresh`], a pure function,
//!   decides the calls of a round: by id when that costs fewer calls than the full list, else the full list.
//!   Each changing cluster is due again a [`pace`] after its last observation (every transitional interval at
//!   first, then a fifth of the time its change has taken so far, at most [`MAX_PROGRESS_POLL`]); the other
//!   changing clusters ride along in the room left in a round's last by-id call.
//!
//! Reconcilers read the latest observation. The answer of a write (create, update, pause, resume, delete all
//! return the cluster) or of a GET is kept as the observation of that cluster until a later read replaces it,
//! and a read only replaces an older observation. A reconcile issues a `GET /clusters/{id}` only when no
//! observation can answer: the cluster was written to after it was taken and the write's answer was not kept,
//! the refresher fell behind by more than [`OBSERVATION_TTL`] rounds (reads failing), or the cluster is
//! unknown (never listed, e.g. created elsewhere since the last full list). The lifetime of a kept answer is
//! paced with the rounds that replace it: it answers until the cluster is due plus [`OBSERVATION_TTL`] rounds.
//! Until a feed's first list completes, readers wait for it instead of each sending a GET, so an operator
//! restart costs ⌈N/100⌉ calls, not N.
//!
//! **Naive**: one GET per object per read (what Terraform and Crossplane providers do); kept for the benchmark
//! that measures the difference.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::client::TidbCloudClient;
use super::models::Cluster;
use crate::cloud::{CloudError, Priority};

/// How observation is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ObservationMode {
    /// Shared observations per API key and project (full lists at rest, reads by id of what changes); GET
    /// only when needed.
    Batched,
    /// One GET per object per reconcile.
    Naive,
}

/// Refresh intervals of the batched mode.
#[derive(Clone, Copy, Debug)]
pub struct ObserverConfig {
    pub mode: ObservationMode,
    /// Rounds while anything is changing.
    pub transitional: Duration,
    /// Full lists (drift detection); jittered ±10%.
    pub steady: Duration,
    /// How long a reader waits for a feed's first snapshot before falling back to a GET.
    pub first_snapshot_wait: Duration,
}

// ---- the call plan (pure) ----------------------------------------------------------------------------------

/// One read of a refresh round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// Every page of `GET /clusters`: ⌈known / page⌉ calls.
    FullList,
    /// One `GET /clusters?clusterIds=…` for these ids (at most a page of them): one call.
    ByIds(Vec<String>),
}

/// The calls of one refresh round. `due`: the changing clusters that must be read now; `spare`: other
/// changing clusters (most urgent first) that ride along in the room the last by-id call leaves; `known`: how
/// many clusters the project holds (the last full list plus those created since); `page`: ids per call.
///
/// Reading the due clusters by id costs ⌈due / page⌉ calls, the full list ⌈known / page⌉; the full list is
/// taken when it costs no more (it also sees changes made outside the operator). The state filter
/// (`clusterStates=CREATING&…`) is never cheaper for these reads: every due cluster that is transitional is
/// itself counted in what that filter returns, a cluster that just rested (the news a round is for) drops out
/// of it and would need a by-id read anyway, and a cluster written at rest (a rename) is not in it at all.
pub fn plan_refresh(due: &[String], spare: &[String], known: usize, page: usize) -> Vec<Call> {
    let page = page.max(1);
    if due.is_empty() {
        return Vec::new();
    }
    let by_id = due.len().div_ceil(page);
    let full = known.max(1).div_ceil(page);
    if by_id >= full {
        return vec![Call::FullList];
    }
    let mut seen: HashSet<&str> = HashSet::with_capacity(due.len());
    let mut ids: Vec<String> = Vec::with_capacity(by_id * page);
    for id in due {
        if seen.insert(id.as_str()) {
            ids.push(id.clone());
        }
    }
    let room = ids.len().div_ceil(page) * page - ids.len();
    ids.extend(
        spare
            .iter()
            .filter(|id| seen.insert(id.as_str()))
            .take(room)
            .cloned(),
    );
    ids.chunks(page).map(|c| Call::ByIds(c.to_vec())).collect()
}

/// The cost of `plan` in API calls, for a project of `known` clusters.
pub fn plan_cost(plan: &[Call], known: usize, page: usize) -> usize {
    plan.iter()
        .map(|c| match c {
            Call::FullList => known.max(1).div_ceil(page.max(1)),
            Call::ByIds(_) => 1,
        })
        .sum()
}

/// What the refresher knows about one cluster a reader follows.
#[derive(Clone, Copy, Debug, Default)]
struct Followed {
    /// When its latest observation was taken (`None`: never observed).
    observed_at: Option<Instant>,
    /// Whether that observation shows a transitional state.
    transitional: bool,
    /// Its last write.
    written: Option<Instant>,
    /// Since when it has been seen transitional (cleared when it rests).
    changing_since: Option<Instant>,
}

/// How long after a write a cluster is followed even if its observations show it at rest (a confirming
/// read or two: the cloud may show the effect of a write a little later than its answer).
const RECENT_WRITE_ROUNDS: u32 = 3;

impl Followed {
    /// When the cluster is due for a read at `now`, `None` when it rests (the full list is enough).
    fn due(&self, now: Instant, transitional: Duration) -> Option<Instant> {
        let Some(at) = self.observed_at else {
            return Some(now);
        };
        let written = self.written;
        if written.is_some_and(|w| at < w) {
            // Written since it was observed (the write's answer was lost): read it now.
            return Some(at);
        }
        let recent = written.filter(|w| {
            now.saturating_duration_since(*w) < transitional.saturating_mul(RECENT_WRITE_ROUNDS)
        });
        let changing = self.changing_since.filter(|_| self.transitional);
        let since = match (recent, changing) {
            (Some(w), Some(c)) => w.max(c),
            (w, c) => w.or(c)?,
        };
        Some(at + pace(now.saturating_duration_since(since), transitional))
    }
}

/// How many rounds a kept observation of a changing cluster outlives its due time (reads failing): after
/// that, a reconcile GETs it.
pub const OBSERVATION_TTL: u32 = 4;

/// What the latest read said about one cluster.
#[derive(Clone, Debug)]
enum Seen {
    Is(Box<Cluster>),
    /// A read by id (or a GET) that started later than every write did not find it: deleted.
    Gone,
    /// A full list did not return it. Not taken as deleted (a paged list can miss a cluster that moves
    /// between pages while it is read): the next round, or the next reader, reads it by id.
    Unlisted,
}

/// The latest observation of one cluster.
struct Observation {
    /// When the read that returned it started (the cloud was at least this new).
    at: Instant,
    seen: Seen,
    /// Since when it has been seen in a transitional state (`None` at rest).
    changing_since: Option<Instant>,
}

impl Observation {
    fn followed(&self, written: Option<Instant>) -> Followed {
        Followed {
            observed_at: Some(self.at).filter(|_| !matches!(self.seen, Seen::Unlisted)),
            transitional: matches!(&self.seen, Seen::Is(c) if c.state.is_transitional()),
            written,
            changing_since: self.changing_since,
        }
    }
}

/// One feed: the clusters of one project seen through one API key.
struct Feed {
    /// Ids in the last full list.
    members: HashSet<String>,
    /// When the last full list *started*.
    listed_at: Option<Instant>,
    /// Ids readers asked about, with when they last asked (the clusters rounds follow).
    interested: HashMap<String, Instant>,
    /// Signals each completed full list (value = number of lists so far).
    done: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    feeds: HashMap<(String, String), Feed>,
    /// Last write per cluster id.
    writes: HashMap<String, Instant>,
    /// The latest observation per cluster id (every feed's clusters: ids are unique across projects).
    observed: HashMap<String, Observation>,
}

impl State {
    /// Keeps what a read started at `at` said about `id`, unless a newer observation is kept already.
    fn observe(&mut self, id: &str, at: Instant, seen: Seen) {
        let previous = self.observed.get(id);
        if previous.is_some_and(|o| o.at > at) {
            return;
        }
        let changing_since = match &seen {
            Seen::Is(c) if c.state.is_transitional() => {
                Some(previous.and_then(|o| o.changing_since).unwrap_or(at))
            }
            _ => None,
        };
        self.observed.insert(
            id.to_string(),
            Observation {
                at,
                seen,
                changing_since,
            },
        );
    }

    /// Takes in a full list of `key`'s project that started at `started`.
    #[cfg(test)]
    fn apply_full_list(
        &mut self,
        key: &(String, String),
        started: Instant,
        clusters: Vec<Cluster>,
    ) {
        let mut returned = HashSet::new();
        self.apply_list_page(&mut returned, started, clusters);
        self.finish_full_list(key, started, returned);
    }

    /// Takes in one page of a full list that started at `started`, adding its ids to `returned`.
    fn apply_list_page(
        &mut self,
        returned: &mut HashSet<String>,
        started: Instant,
        clusters: Vec<Cluster>,
    ) {
        for c in clusters {
            let id = c.cluster_id.clone();
            self.observe(&id, started, Seen::Is(Box::new(c)));
            returned.insert(id);
        }
    }

    /// Completes a full list of `key`'s project that started at `started` and returned `returned`: the
    /// clusters it did not return are unlisted (followed ones) or forgotten (the others).
    fn finish_full_list(
        &mut self,
        key: &(String, String),
        started: Instant,
        returned: HashSet<String>,
    ) {
        let Some(feed) = self.feeds.get_mut(key) else {
            return;
        };
        let old = std::mem::replace(&mut feed.members, returned);
        let missing: Vec<(String, bool)> = old
            .into_iter()
            .filter(|id| !feed.members.contains(id) && !feed.interested.contains_key(id))
            .map(|id| (id, false))
            .chain(
                feed.interested
                    .keys()
                    .filter(|id| !feed.members.contains(*id))
                    .map(|id| (id.clone(), true)),
            )
            .collect();
        feed.listed_at = Some(started);
        feed.done.send_modify(|n| *n += 1);
        for (id, interested) in missing {
            if interested {
                self.observe(&id, started, Seen::Unlisted);
            } else if self.observed.get(&id).is_some_and(|o| o.at <= started) {
                // Nobody follows it: forget it rather than keep a tombstone.
                self.observed.remove(&id);
            }
        }
    }

    /// Takes in a read by id, started at `started`, of `ids`.
    fn apply_by_ids(&mut self, started: Instant, ids: &[String], clusters: Vec<Cluster>) {
        let returned: HashSet<String> = clusters.iter().map(|c| c.cluster_id.clone()).collect();
        for c in clusters {
            let id = c.cluster_id.clone();
            self.observe(&id, started, Seen::Is(Box::new(c)));
        }
        for id in ids.iter().filter(|id| !returned.contains(*id)) {
            self.observe(id, started, Seen::Gone);
        }
    }

    /// The clusters `key`'s readers follow that are changing at `now`, split into those due for a read and
    /// the others (soonest due first), and when the next is due.
    fn changing(&self, key: &(String, String), now: Instant, transitional: Duration) -> Changing {
        let mut out = Changing::default();
        let Some(feed) = self.feeds.get(key) else {
            return out;
        };
        let mut spare: Vec<(Instant, &String)> = Vec::new();
        let soon = now + transitional / 2;
        for id in feed.interested.keys() {
            let written = self.writes.get(id).copied();
            let followed = match self.observed.get(id) {
                Some(o) => o.followed(written),
                None => Followed {
                    written,
                    ..Followed::default()
                },
            };
            let Some(due) = followed.due(now, transitional) else {
                continue;
            };
            out.next_due = Some(out.next_due.map_or(due, |d: Instant| d.min(due)));
            if due <= soon {
                out.due.push(id.clone());
            } else {
                spare.push((due, id));
            }
        }
        spare.sort();
        out.spare = spare.into_iter().map(|(_, id)| id.clone()).collect();
        // Clusters the project holds: the last full list plus those created (or first asked about) since.
        out.known = feed.members.len()
            + feed
                .interested
                .keys()
                .filter(|id| !feed.members.contains(*id))
                .count();
        out
    }
}

impl State {
    /// The calls of `key`'s next round at `now` (a full list when `full_due`), and whether anything the
    /// feed serves is changing.
    fn plan(
        &self,
        key: &(String, String),
        now: Instant,
        transitional: Duration,
        full_due: bool,
        page: usize,
    ) -> (Vec<Call>, bool) {
        let changing = self.changing(key, now, transitional);
        let busy = changing.next_due.is_some();
        let plan = if full_due {
            vec![Call::FullList]
        } else {
            plan_refresh(&changing.due, &changing.spare, changing.known, page)
        };
        (plan, busy)
    }
}

/// The changing clusters of a feed at one moment.
#[derive(Default, Debug)]
struct Changing {
    due: Vec<String>,
    spare: Vec<String>,
    known: usize,
    next_due: Option<Instant>,
}

enum Lookup {
    Hit(Option<Box<Cluster>>),
    Get,
    Wait(watch::Receiver<u64>),
}

/// Counts of what the observer holds (for the benchmark's memory note and for debugging).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObserverStats {
    pub feeds: usize,
    /// Clusters with a kept observation (a full `Cluster` each, or a tombstone).
    pub observed: usize,
    /// Clusters readers follow.
    pub interested: usize,
    /// Writes remembered.
    pub writes: usize,
}

/// The observation module shared by every TiDB Cloud controller.
#[derive(Clone)]
pub struct Observer {
    config: ObserverConfig,
    state: Arc<Mutex<State>>,
    /// Wakes resting refreshers when something is written (so its progress is followed at once).
    woken: Arc<tokio::sync::Notify>,
}

impl Observer {
    pub fn new(config: ObserverConfig) -> Observer {
        Observer {
            config,
            state: Arc::new(Mutex::new(State::default())),
            woken: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the observer holds right now.
    pub fn stats(&self) -> ObserverStats {
        let state = self.lock();
        ObserverStats {
            feeds: state.feeds.len(),
            observed: state.observed.len(),
            interested: state.feeds.values().map(|f| f.interested.len()).sum(),
            writes: state.writes.len(),
        }
    }

    /// Records a write (create, update, pause, resume, delete) to `cluster_id`: observations taken before now
    /// no longer answer for it, and its feed follows it for a while. Call it before the write is sent *and*
    /// after its answer arrives, so that no read that overlapped the write counts as fresh.
    pub fn wrote(&self, cluster_id: &str) {
        self.lock()
            .writes
            .insert(cluster_id.to_string(), Instant::now());
        self.woken.notify_waiters();
    }

    /// Records the cluster returned by a write (after [`Observer::wrote`]) as its observation: it describes
    /// the cloud after the write, so the reconciles that follow need no GET.
    pub fn saw(&self, cluster: &Cluster) {
        self.saw_at(Instant::now(), cluster);
    }

    fn saw_at(&self, at: Instant, cluster: &Cluster) {
        if self.config.mode == ObservationMode::Naive {
            return;
        }
        self.lock()
            .observe(&cluster.cluster_id, at, Seen::Is(Box::new(cluster.clone())));
    }

    /// Stops following `cluster_id` (its resource is gone).
    pub fn forget(&self, cluster_id: &str) {
        let mut state = self.lock();
        state.writes.remove(cluster_id);
        state.observed.remove(cluster_id);
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
            Lookup::Hit(c) => return Ok(c.map(|c| *c)),
            Lookup::Get => return self.get_and_keep(client, id).await,
            Lookup::Wait(rx) => rx,
        };
        // No snapshot yet: wait for the first list rather than sending a GET per object.
        let listed =
            tokio::time::timeout(self.config.first_snapshot_wait, done.wait_for(|n| *n > 0))
                .await
                .is_ok_and(|r| r.is_ok());
        if listed && let Lookup::Hit(c) = self.lookup(client, &key, id) {
            return Ok(c.map(|c| *c));
        }
        self.get_and_keep(client, id).await
    }

    /// GETs one cluster and keeps the answer as its observation (dated when the GET was sent).
    async fn get_and_keep(
        &self,
        client: &TidbCloudClient,
        id: &str,
    ) -> Result<Option<Cluster>, CloudError> {
        let sent = Instant::now();
        let found = get(client, id).await?;
        match &found {
            Some(c) => self.saw_at(sent, c),
            None => self.lock().observe(id, sent, Seen::Gone),
        }
        Ok(found)
    }

    /// What the observations can say about `id` right now (starting the feed if there is none).
    fn lookup(&self, client: &TidbCloudClient, key: &(String, String), id: &str) -> Lookup {
        let now = Instant::now();
        let mut state = self.lock();
        if !state.feeds.contains_key(key) {
            let (tx, _) = watch::channel(0);
            let feed = Feed {
                members: HashSet::new(),
                listed_at: None,
                interested: HashMap::new(),
                done: tx,
            };
            state.feeds.insert(key.clone(), feed);
            self.spawn_feed(client.clone(), key.clone());
        }
        let written = state.writes.get(id).copied();
        let State {
            feeds, observed, ..
        } = &mut *state;
        let Some(feed) = feeds.get_mut(key) else {
            return Lookup::Get;
        };
        let transitional = self.config.transitional;
        let newly = feed.interested.insert(id.to_string(), now).is_none();
        let followed = match observed.get(id) {
            Some(o) => o.followed(written),
            None => Followed {
                written,
                ..Followed::default()
            },
        };
        if newly && feed.listed_at.is_some() && followed.due(now, transitional).is_some() {
            // Newly followed and changing: the refresher reads it in its next round.
            self.woken.notify_waiters();
        }
        match observed.get(id) {
            Some(o) if written.is_none_or(|w| o.at >= w) => {
                // A kept observation lives until its cluster is due plus a few rounds (reads failing).
                let fresh = followed
                    .due(now, transitional)
                    .is_none_or(|due| now < due + transitional.saturating_mul(OBSERVATION_TTL));
                match &o.seen {
                    Seen::Is(c) if fresh => Lookup::Hit(Some(c.clone())),
                    Seen::Gone if fresh => Lookup::Hit(None),
                    _ => Lookup::Get,
                }
            }
            // Written since it was observed and the write's answer was not kept: ask for this one.
            Some(_) => Lookup::Get,
            None if feed.listed_at.is_none() => Lookup::Wait(feed.done.subscribe()),
            // Not in the last full list: created since, or in another project.
            None => Lookup::Get,
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

    /// The calls of the next round of `key`'s feed, and whether anything it serves is changing.
    fn next_round(
        &self,
        key: &(String, String),
        now: Instant,
        full_due: bool,
        page: usize,
    ) -> Option<(Vec<Call>, bool)> {
        let mut state = self.lock();
        let forget_after = self.config.steady.saturating_mul(3);
        if let Some(feed) = state.feeds.get_mut(key) {
            // Objects nobody asked about for a long time (their resource is gone) are not followed.
            feed.interested
                .retain(|_, asked| now.saturating_duration_since(*asked) < forget_after);
            if feed.interested.is_empty() && feed.listed_at.is_some() {
                // Nobody follows a cluster of this feed any more (all gone, deleted or paused): it stops,
                // costing nothing; the next reader starts it again.
                state.feeds.remove(key);
                return None;
            }
        }
        Some(state.plan(key, now, self.config.transitional, full_due, page))
    }

    /// When the next round of `key`'s feed is due (never sooner than a transitional interval after
    /// `last_round`), or the next full list at `next_full`, whichever comes first.
    fn next_wake(
        &self,
        key: &(String, String),
        last_round: Instant,
        next_full: Instant,
    ) -> Instant {
        let now = Instant::now();
        let next_due = self
            .lock()
            .changing(key, now, self.config.transitional)
            .next_due;
        match next_due {
            Some(due) => due
                .max(last_round + self.config.transitional)
                .min(next_full),
            None => next_full,
        }
    }

    /// The refresher loop of one feed (one per API key and project, while anyone follows one of its clusters).
    async fn run_feed(self, client: TidbCloudClient, key: (String, String)) {
        let project = Some(key.1.as_str())
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let page = client.page_size();
        let transitional = self.config.transitional;
        let mut failures: u32 = 0;
        // The first round is a full list.
        let mut next_full = Instant::now();
        loop {
            let round = Instant::now();
            let full_due = round >= next_full;
            let Some((plan, busy)) = self.next_round(&key, round, full_due, page) else {
                tracing::debug!(key_id = %key.0, project = %key.1, "cluster feed idle: nobody follows its clusters");
                return;
            };
            let priority = if busy {
                Priority::Transitional
            } else {
                Priority::Steady
            };
            let reader = client.with_observe_priority(priority);
            let mut failed = false;
            for call in plan {
                let started = Instant::now();
                match call {
                    Call::FullList => {
                        // Each page is kept as it arrives: the whole list is never held twice.
                        let mut returned = HashSet::new();
                        let listed = reader
                            .for_each_cluster_page(project.as_deref(), |page| {
                                self.lock().apply_list_page(&mut returned, started, page);
                            })
                            .await;
                        if let Err(e) = listed {
                            failed = true;
                            tracing::debug!(key_id = %key.0, project = %key.1, error = %e, "cluster list refresh failed");
                            if matches!(
                                e,
                                CloudError::Unauthorized { .. } | CloudError::Forbidden { .. }
                            ) && let Some(feed) = self.lock().feeds.get(&key)
                            {
                                // This key will not list: readers waiting for a first list ask (and learn why) now.
                                feed.done.send_modify(|n| *n += 1);
                            }
                        } else {
                            self.lock().finish_full_list(&key, started, returned);
                            next_full = started + jittered(self.config.steady);
                        }
                    }
                    Call::ByIds(ids) => {
                        match reader.list_clusters_by_ids(project.as_deref(), &ids).await {
                            Ok(clusters) => self.lock().apply_by_ids(started, &ids, clusters),
                            Err(e) => {
                                failed = true;
                                tracing::debug!(key_id = %key.0, project = %key.1, error = %e, "cluster refresh by id failed");
                            }
                        }
                    }
                }
                if failed {
                    break;
                }
            }
            failures = if failed {
                failures.saturating_add(1)
            } else {
                0
            };
            let wake = match (failures, client.budget().blocked_for()) {
                (_, Some(blocked)) => Instant::now() + blocked,
                (0, None) => self.next_wake(&key, round, next_full),
                // Back off on repeated failures (readers fall back to GETs meanwhile).
                (n, None) => {
                    let backoff = transitional
                        .saturating_mul(2u32.saturating_pow(n.min(6)))
                        .min(self.config.steady);
                    if next_full <= round {
                        next_full = round + backoff;
                    }
                    Instant::now() + backoff
                }
            };
            self.sleep_until(round, wake).await;
        }
    }

    /// Sleeps until `wake`, or sooner when a write (or a newly followed changing cluster) asks for a round:
    /// half a transitional interval after it (a written cluster is due a transitional interval after its
    /// write's answer), and never sooner than a transitional interval after `last_round`.
    async fn sleep_until(&self, last_round: Instant, mut wake: Instant) {
        let earliest = last_round + self.config.transitional;
        loop {
            let woken = self.woken.notified();
            tokio::select! {
                () = tokio::time::sleep_until(wake.into()) => return,
                () = woken => {
                    let asked = Instant::now() + self.config.transitional / 2;
                    wake = wake.min(asked.max(earliest));
                }
            }
        }
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
    use crate::providers::tidbcloud::models::ClusterState;

    const T: Duration = Duration::from_secs(2);
    const PAGE: usize = 100;

    fn ids(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("{}", 1_000_000 + i)).collect()
    }

    fn cluster(id: &str, state: ClusterState) -> Cluster {
        Cluster {
            cluster_id: id.to_string(),
            state,
            ..Cluster::default()
        }
    }

    fn by_ids_sizes(plan: &[Call]) -> Vec<usize> {
        plan.iter()
            .map(|c| match c {
                Call::ByIds(ids) => ids.len(),
                Call::FullList => 0,
            })
            .collect()
    }

    #[test]
    fn nothing_changing_costs_nothing() {
        assert_eq!(plan_refresh(&[], &ids(0..50), 1000, PAGE), vec![]);
    }

    #[test]
    fn one_changing_cluster_out_of_a_thousand_is_one_call_by_id() {
        let due = ids(0..1);
        let plan = plan_refresh(&due, &[], 1000, PAGE);
        assert_eq!(plan, vec![Call::ByIds(due)]);
        assert_eq!(plan_cost(&plan, 1000, PAGE), 1);
    }

    #[test]
    fn a_page_plus_one_is_two_calls_by_id_the_second_filled_with_spare_ones() {
        let due = ids(0..PAGE + 1);
        let spare = ids(500..700);
        let plan = plan_refresh(&due, &spare, 10_000, PAGE);
        assert_eq!(by_ids_sizes(&plan), vec![PAGE, PAGE]);
        assert_eq!(plan_cost(&plan, 10_000, PAGE), 2);
        // Every due id is read; spare ones only fill the room left.
        let read: Vec<&String> = plan
            .iter()
            .flat_map(|c| match c {
                Call::ByIds(ids) => ids.iter(),
                Call::FullList => [].iter(),
            })
            .collect();
        assert!(due.iter().all(|id| read.contains(&id)));
        assert_eq!(read[PAGE + 1], &spare[0], "the soonest due spare one first");
    }

    #[test]
    fn spare_ones_never_repeat_a_due_one_nor_add_a_call() {
        let due = ids(0..3);
        let spare = ids(0..150);
        let plan = plan_refresh(&due, &spare, 1000, PAGE);
        assert_eq!(by_ids_sizes(&plan), vec![PAGE]);
        let Call::ByIds(read) = &plan[0] else {
            panic!("{plan:?}")
        };
        let unique: HashSet<&String> = read.iter().collect();
        assert_eq!(unique.len(), PAGE);
    }

    #[test]
    fn the_full_list_is_taken_when_it_costs_no_more() {
        // K close to N: 901 by id = 10 calls = the full list of 1000.
        let plan = plan_refresh(&ids(0..901), &[], 1000, PAGE);
        assert_eq!(plan, vec![Call::FullList]);
        assert_eq!(plan_cost(&plan, 1000, PAGE), 10);
        // One call fewer by id: by id.
        let plan = plan_refresh(&ids(0..900), &[], 1000, PAGE);
        assert_eq!(by_ids_sizes(&plan), vec![PAGE; 9]);
        // A small project: one page either way, and the list also sees outside changes.
        assert_eq!(
            plan_refresh(&ids(0..1), &[], 40, PAGE),
            vec![Call::FullList]
        );
        // Everything changing.
        assert_eq!(
            plan_refresh(&ids(0..10_000), &[], 10_000, PAGE),
            vec![Call::FullList]
        );
    }

    #[test]
    fn a_regression_to_listing_everything_while_anything_changes_is_caught() {
        // Issue 17: 1000 clusters, 30 changing: one call, not ten pages.
        for k in [1, 30, 99, 100] {
            let plan = plan_refresh(&ids(0..k), &[], 1000, PAGE);
            assert_eq!(plan_cost(&plan, 1000, PAGE), 1, "K = {k}: {plan:?}");
        }
        for (k, n, calls) in [(101, 1000, 2), (250, 10_000, 3), (5000, 10_000, 50)] {
            let plan = plan_refresh(&ids(0..k), &[], n, PAGE);
            assert_eq!(plan_cost(&plan, n, PAGE), calls, "K = {k} of {n}");
        }
    }

    #[test]
    fn a_cluster_is_due_at_its_pace_and_rests_when_stable() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(1);
        let at_rest = Followed {
            observed_at: Some(t0),
            ..Followed::default()
        };
        assert_eq!(at_rest.due(now, T), None);
        let creating = Followed {
            observed_at: Some(t0),
            transitional: true,
            changing_since: Some(t0),
            ..Followed::default()
        };
        assert_eq!(creating.due(now, T), Some(t0 + T));
        // Ten minutes into a change: every two minutes.
        let long = Followed {
            observed_at: Some(now),
            transitional: true,
            changing_since: Some(t0),
            ..Followed::default()
        };
        let later = t0 + Duration::from_secs(600);
        assert_eq!(long.due(later, T), Some(now + MAX_PROGRESS_POLL));
        // Written after its observation: due at once; written just before it: followed for a few rounds.
        let written_since = Followed {
            observed_at: Some(t0),
            written: Some(now),
            ..Followed::default()
        };
        assert_eq!(written_since.due(now, T), Some(t0));
        let just_written = Followed {
            observed_at: Some(now),
            written: Some(t0),
            ..Followed::default()
        };
        assert_eq!(just_written.due(now, T), Some(now + T));
        assert_eq!(just_written.due(t0 + T * 4, T), None);
        // Never observed: due now.
        assert_eq!(Followed::default().due(now, T), Some(now));
    }

    fn key() -> (String, String) {
        ("KEY".into(), String::new())
    }

    /// A feed of `n` resting clusters, all followed, listed at `t0`.
    fn resting(n: usize, t0: Instant) -> State {
        let mut state = State::default();
        let (tx, _) = watch::channel(0);
        state.feeds.insert(
            key(),
            Feed {
                members: HashSet::new(),
                listed_at: None,
                interested: ids(0..n).into_iter().map(|id| (id, t0)).collect(),
                done: tx,
            },
        );
        let clusters = ids(0..n)
            .iter()
            .map(|id| cluster(id, ClusterState::Active))
            .collect();
        state.apply_full_list(&key(), t0, clusters);
        state
    }

    #[test]
    fn k_changing_out_of_n_are_read_by_id_and_nothing_else() {
        let t0 = Instant::now();
        for (n, k, calls) in [(1000, 0, 0), (1000, 1, 1), (1000, 30, 1), (1000, 101, 2)] {
            let mut state = resting(n, t0);
            let t1 = t0 + T;
            for id in ids(0..k) {
                state.writes.insert(id.clone(), t1);
                state.observe(
                    &id,
                    t1,
                    Seen::Is(Box::new(cluster(&id, ClusterState::Creating))),
                );
            }
            // One transitional interval later all k are due.
            let (plan, busy) = state.plan(&key(), t1 + T, T, false, PAGE);
            assert_eq!(busy, k > 0, "{n}/{k}");
            assert_eq!(plan_cost(&plan, n, PAGE), calls, "{n}/{k}: {plan:?}");
            assert!(plan.iter().all(|c| matches!(c, Call::ByIds(_))), "{plan:?}");
            // Not yet due half an interval after the write: no call.
            let (plan, _) = state.plan(&key(), t1 + T / 4, T, false, PAGE);
            assert!(plan.is_empty(), "{plan:?}");
        }
        // K close to N: the full list.
        let mut state = resting(1000, t0);
        let t1 = t0 + T;
        for id in ids(0..950) {
            state.observe(
                &id,
                t1,
                Seen::Is(Box::new(cluster(&id, ClusterState::Modifying))),
            );
        }
        let (plan, _) = state.plan(&key(), t1 + T, T, false, PAGE);
        assert_eq!(plan, vec![Call::FullList]);
        // And the steady full list whatever changes.
        let (plan, busy) = resting(1000, t0).plan(&key(), t0 + T, T, true, PAGE);
        assert_eq!((plan, busy), (vec![Call::FullList], false));
    }

    #[test]
    fn a_read_never_replaces_a_newer_observation() {
        let t0 = Instant::now();
        let mut state = resting(3, t0);
        let id = &ids(0..1)[0];
        // A write's answer at t2; a list that started at t1 < t2 completes after it.
        let (t1, t2) = (t0 + T, t0 + T * 2);
        state.observe(
            id,
            t2,
            Seen::Is(Box::new(cluster(id, ClusterState::Modifying))),
        );
        state.apply_full_list(&key(), t1, vec![cluster(id, ClusterState::Active)]);
        let o = &state.observed[id];
        assert_eq!(o.at, t2);
        assert!(matches!(&o.seen, Seen::Is(c) if c.state == ClusterState::Modifying));
        assert_eq!(o.changing_since, Some(t2));
    }

    #[test]
    fn absence_from_a_full_list_is_confirmed_by_id_before_it_counts() {
        let t0 = Instant::now();
        let mut state = resting(3, t0);
        let all = ids(0..3);
        let t1 = t0 + T;
        // The list misses one followed cluster: unlisted, due at once, read by id.
        state.apply_full_list(
            &key(),
            t1,
            vec![
                cluster(&all[0], ClusterState::Active),
                cluster(&all[1], ClusterState::Active),
            ],
        );
        assert!(matches!(state.observed[&all[2]].seen, Seen::Unlisted));
        let changing = state.changing(&key(), t1, T);
        assert_eq!(changing.due, vec![all[2].clone()]);
        // The read by id does not find it either: gone, and it rests.
        state.apply_by_ids(t1 + T, &all[2..], vec![]);
        assert!(matches!(state.observed[&all[2]].seen, Seen::Gone));
        assert!(state.changing(&key(), t1 + T, T).due.is_empty());
        // A cluster nobody follows is dropped, not kept as a tombstone.
        if let Some(feed) = state.feeds.get_mut(&key()) {
            feed.interested.remove(&all[1]);
        }
        state.apply_full_list(
            &key(),
            t1 + T * 2,
            vec![cluster(&all[0], ClusterState::Active)],
        );
        assert!(!state.observed.contains_key(&all[1]));
    }

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
