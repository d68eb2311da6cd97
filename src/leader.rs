//! Leader election on a `coordination.k8s.io/v1` Lease: with several replicas, only the Lease holder runs the
//! controllers.
//!
//! The semantics are client-go's `leaderelection` with a `LeaseLock` (what controller-runtime operators use), so
//! the three durations mean what Kubernetes users expect:
//!
//! - **lease duration** (15 s): a candidate takes over a Lease whose record has not changed for this long,
//!   measured on the candidate's own clock from when *it* saw the record change (never by comparing the holder's
//!   `renewTime` with the local clock, so clock skew between nodes does not matter);
//! - **renew deadline** (10 s): the leader gives up when it could not renew for this long; it is shorter than the
//!   lease duration, so the old leader has stopped before anyone may take over;
//! - **retry period** (2 s): how often candidates try to acquire and the leader renews (with up to 20 % jitter).
//!
//! Every write is an update with the `resourceVersion` just read (optimistic concurrency): two candidates can
//! never both win the same round. The leader that loses the Lease (renew deadline passed, or another holder
//! seen) makes the process exit non-zero at once (the simplest safe behaviour: Kubernetes restarts the pod,
//! which then stands by); on a clean shutdown it releases the Lease so a standby takes over without waiting.
//!
//! Why not a crate: `kube-leader-election` is built on kube 4; `kube-lease-manager` (kube 5) keeps reporting
//! leadership while its renewals fail (it backs off for up to 30 s and has no renew deadline, so a leader cut off
//! from the API server would overlap with its successor) and judges expiry from the holder's `renewTime` against
//! the local clock. The loop below is small and gives the guarantees above.
//!
//! RBAC: `leases` `get`, `update` (the one Lease, by name) and `create` in the election namespace.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use rand::Rng;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::http::Readiness;

/// Leader-election flags of `clouddb-operator run`.
#[derive(clap::Args, Clone, Debug)]
pub struct LeaderElectionConfig {
    /// Run the controllers only while holding a `coordination.k8s.io` Lease (for more than one replica). Off by
    /// default for local runs; the Helm chart turns it on.
    #[arg(
        long = "leader-election",
        env = "CLOUDDB_LEADER_ELECTION",
        default_value_t = false
    )]
    pub enabled: bool,

    /// Namespace of the Lease; default: the operator's namespace (`--operator-namespace`).
    #[arg(
        long = "leader-election-namespace",
        env = "CLOUDDB_LEADER_ELECTION_NAMESPACE"
    )]
    pub namespace: Option<String>,

    /// Name of the Lease.
    #[arg(
        long = "leader-election-lease-name",
        env = "CLOUDDB_LEADER_ELECTION_LEASE_NAME",
        default_value = "clouddb-operator"
    )]
    pub lease_name: String,

    /// How long a Lease is valid after its last renewal (whole seconds, at least 2s).
    #[arg(long = "leader-election-lease-duration", env = "CLOUDDB_LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,

    /// The leader stops when it could not renew for this long (less than the lease duration).
    #[arg(long = "leader-election-renew-deadline", env = "CLOUDDB_LEADER_ELECTION_RENEW_DEADLINE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub renew_deadline: Duration,

    /// Interval between attempts to acquire or renew (less than the renew deadline).
    #[arg(long = "leader-election-retry-period", env = "CLOUDDB_LEADER_ELECTION_RETRY_PERIOD", default_value = "2s", value_parser = humantime::parse_duration)]
    pub retry_period: Duration,
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        LeaderElectionConfig {
            enabled: false,
            namespace: None,
            lease_name: "clouddb-operator".into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl LeaderElectionConfig {
    /// Checks the relation between the durations (as client-go does).
    pub fn validate(&self) -> Result<(), LeaderError> {
        let secs = self.lease_duration.as_secs();
        if secs < 2 || self.lease_duration.subsec_nanos() != 0 || secs > i32::MAX as u64 {
            return Err(LeaderError::Config(format!(
                "the lease duration must be whole seconds, at least 2s (got {:?})",
                self.lease_duration
            )));
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(LeaderError::Config(format!(
                "the renew deadline ({:?}) must be shorter than the lease duration ({:?})",
                self.renew_deadline, self.lease_duration
            )));
        }
        // client-go: renewDeadline > retryPeriod * 1.2 (the jitter factor).
        if self.retry_period.is_zero() || self.renew_deadline <= self.retry_period.mul_f64(1.2) {
            return Err(LeaderError::Config(format!(
                "the retry period ({:?}) must be positive and the renew deadline ({:?}) longer than 1.2 × the \
                 retry period",
                self.retry_period, self.renew_deadline
            )));
        }
        Ok(())
    }
}

#[derive(thiserror::Error, Debug)]
pub enum LeaderError {
    #[error("leader election: {0}")]
    Config(String),
    #[error("leader election: lost the Lease {lease}: {reason}")]
    Lost { lease: String, reason: String },
}

/// What a finished election round says.
#[derive(Debug, PartialEq, Eq)]
enum Round {
    /// We hold the Lease now.
    Held,
    /// Someone else holds a valid Lease.
    HeldBy(String),
    /// The round did not complete (API error, conflict with another writer).
    Failed(String),
}

/// The last Lease record seen and when (on our clock) it was first seen in that state.
struct Observed {
    record: LeaseSpec,
    at: Instant,
}

/// One candidate for one Lease.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    namespace: String,
    identity: String,
    config: LeaderElectionConfig,
    observed: Option<Observed>,
}

impl Elector {
    pub fn new(
        client: Client,
        namespace: &str,
        identity: String,
        config: LeaderElectionConfig,
    ) -> Elector {
        Elector {
            api: Api::namespaced(client, namespace),
            name: config.lease_name.clone(),
            namespace: namespace.to_string(),
            identity,
            config,
            observed: None,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn lease_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// One client-go `tryAcquireOrRenew`: read the Lease, and write ourselves as holder if it is ours, free or
    /// expired.
    async fn try_acquire_or_renew(&mut self) -> Round {
        let now = MicroTime(Timestamp::now());
        let duration_secs = i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let existing = match self.api.get_opt(&self.name).await {
            Ok(l) => l,
            Err(e) => return Round::Failed(format!("cannot read the Lease: {e}")),
        };
        let Some(mut lease) = existing else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(created.spec.unwrap_or_default());
                    Round::Held
                }
                Err(e) => Round::Failed(format!("cannot create the Lease: {e}")),
            };
        };

        let record = lease.spec.clone().unwrap_or_default();
        self.observe(record.clone());
        let holder = record.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.identity;
        if !holder.is_empty() && !ours {
            let valid_for = Duration::from_secs(
                u64::try_from(record.lease_duration_seconds.unwrap_or(0)).unwrap_or(0),
            );
            let seen_at = self.observed.as_ref().map_or_else(Instant::now, |o| o.at);
            if seen_at + valid_for > Instant::now() {
                return Round::HeldBy(holder);
            }
        }
        let transitions = record.lease_transitions.unwrap_or(0);
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(duration_secs),
            acquire_time: if ours {
                record.acquire_time.clone()
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if ours {
                transitions
            } else {
                transitions.saturating_add(1)
            }),
            ..record
        });
        // `replace` sends the resourceVersion we read: a concurrent writer makes this fail with 409.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => {
                self.observe(updated.spec.unwrap_or_default());
                Round::Held
            }
            Err(e) => Round::Failed(format!("cannot update the Lease: {e}")),
        }
    }

    fn observe(&mut self, record: LeaseSpec) {
        if self.observed.as_ref().is_none_or(|o| o.record != record) {
            self.observed = Some(Observed {
                record,
                at: Instant::now(),
            });
        }
    }

    fn jittered_retry(&self) -> Duration {
        let factor = 1.0 + rand::rng().random_range(0.0..0.2);
        self.config.retry_period.mul_f64(factor)
    }

    /// Tries every retry period until we hold the Lease.
    pub async fn acquire(&mut self) {
        // Each new situation is logged once, not every retry period.
        let mut last = None;
        loop {
            let round = self.try_acquire_or_renew().await;
            let repeated = last.as_ref() == Some(&round);
            match &round {
                Round::Held => {
                    tracing::info!(lease = %self.lease_ref(), identity = %self.identity, "acquired the Lease: this instance leads");
                    return;
                }
                Round::HeldBy(holder) if !repeated => {
                    tracing::info!(lease = %self.lease_ref(), %holder, "standing by: another instance leads");
                }
                Round::Failed(reason) if !repeated => {
                    tracing::warn!(lease = %self.lease_ref(), %reason, "election round failed; retrying");
                }
                _ => {}
            }
            last = Some(round);
            tokio::time::sleep(self.jittered_retry()).await;
        }
    }

    /// Renews every retry period; returns why leadership ended: the renew deadline passed without a successful
    /// renewal, or another holder was seen.
    pub async fn renew_until_lost(&mut self) -> String {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.jittered_retry()).await;
            let deadline = last_renewed + self.config.renew_deadline;
            let started = Instant::now();
            let round = tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await;
            match round {
                Ok(Round::Held) => last_renewed = started,
                Ok(Round::HeldBy(holder)) => {
                    return format!("the Lease is held by {holder}");
                }
                Ok(Round::Failed(reason)) => {
                    tracing::warn!(lease = %self.lease_ref(), %reason, "could not renew the Lease");
                }
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                return format!(
                    "could not renew it within the renew deadline ({:?})",
                    self.config.renew_deadline
                );
            }
        }
    }

    /// Gives the Lease up if we hold it (holder cleared, duration 1 s), so a standby takes over at once.
    pub async fn release(&mut self) {
        let lease = match self.api.get_opt(&self.name).await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(lease = %self.lease_ref(), error = %e, "cannot release the Lease");
                return;
            }
        };
        let mut lease = lease;
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.acquire_time = Some(now.clone());
        spec.renew_time = Some(now);
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.lease_ref(), "released the Lease"),
            Err(e) => {
                tracing::warn!(lease = %self.lease_ref(), error = %e, "cannot release the Lease")
            }
        }
    }
}

/// A unique identity for this process: the pod name (env `POD_NAME`, else the host name) and a random suffix, as
/// client-go's `hostname_uuid`.
pub fn identity() -> String {
    let base = std::env::var("POD_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "clouddb-operator".into());
    format!("{base}_{:08x}", rand::random::<u32>())
}

/// Held leadership (or none needed, when election is disabled): [`Leadership::lost`] resolves when it ends;
/// [`Leadership::release`] gives it up on shutdown.
pub struct Leadership {
    lost: Option<watch::Receiver<Option<String>>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    lease: String,
}

impl Leadership {
    /// Leadership that is never lost (election disabled).
    pub fn unconditional() -> Leadership {
        Leadership {
            lost: None,
            stop: None,
            task: None,
            lease: String::new(),
        }
    }

    /// Resolves when the Lease is lost (never when election is disabled).
    pub async fn lost(&mut self) -> LeaderError {
        let Some(rx) = self.lost.as_mut() else {
            return std::future::pending().await;
        };
        let reason = match rx.wait_for(Option::is_some).await {
            Ok(r) => r.clone().unwrap_or_default(),
            Err(_) => "the renewal task ended".to_string(),
        };
        LeaderError::Lost {
            lease: self.lease.clone(),
            reason,
        }
    }

    /// Stops renewing and releases the Lease (clean shutdown).
    pub async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// With election disabled: leadership at once. Otherwise stands by (marked ready: a standby serves `/metrics`,
/// and a rolling update must progress while the old pod still leads) until this process holds the Lease, then
/// keeps renewing it in the background. `None` when `shutdown` resolved first.
pub async fn lead(
    client: Client,
    config: &LeaderElectionConfig,
    operator_namespace: &str,
    readiness: &Readiness,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Option<Leadership>, LeaderError> {
    if !config.enabled {
        return Ok(Some(Leadership::unconditional()));
    }
    config.validate()?;
    let namespace = config
        .namespace
        .clone()
        .unwrap_or_else(|| operator_namespace.to_string());
    let mut elector = Elector::new(client, &namespace, identity(), config.clone());
    tracing::info!(lease = %elector.lease_ref(), identity = %elector.identity(), "waiting to lead");
    readiness.set_ready();
    tokio::select! {
        () = elector.acquire() => {},
        () = shutdown => return Ok(None),
    }
    let (lost_tx, lost_rx) = watch::channel(None);
    let (stop_tx, mut stop_rx) = oneshot::channel();
    let lease = elector.lease_ref();
    let task = tokio::spawn(async move {
        tokio::select! {
            reason = elector.renew_until_lost() => {
                tracing::error!(lease = %elector.lease_ref(), %reason, "lost the Lease: stopping");
                let _ = lost_tx.send(Some(reason));
            }
            _ = &mut stop_rx => elector.release().await,
        }
    });
    Ok(Some(Leadership {
        lost: Some(lost_rx),
        stop: Some(stop_tx),
        task: Some(task),
        lease,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_client_go() {
        let c = LeaderElectionConfig::default();
        c.validate().expect("defaults are valid");
        assert_eq!(c.lease_duration, Duration::from_secs(15));
        assert_eq!(c.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.retry_period, Duration::from_secs(2));
        assert_eq!(c.lease_name, "clouddb-operator");
    }

    #[test]
    fn invalid_durations_are_refused() {
        let base = LeaderElectionConfig::default();
        for (lease, renew, retry) in [
            (10, 10, 2),     // renew deadline not shorter than the lease
            (15, 2, 2),      // renew deadline not longer than 1.2 × retry
            (1, 1, 1),       // lease shorter than 2s
            (15_500, 10, 2), // not whole seconds (milliseconds below)
        ] {
            let c = LeaderElectionConfig {
                lease_duration: if lease > 1000 {
                    Duration::from_millis(lease)
                } else {
                    Duration::from_secs(lease)
                },
                renew_deadline: Duration::from_secs(renew),
                retry_period: Duration::from_secs(retry),
                ..base.clone()
            };
            assert!(c.validate().is_err(), "{c:?} should be refused");
        }
    }

    #[test]
    fn identities_are_unique() {
        assert_ne!(identity(), identity());
    }
}
