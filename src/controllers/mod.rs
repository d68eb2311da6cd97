//! One reconciler per kind, on a shared driver (`core`): finalizer, credentials, outcomes → conditions,
//! Events, status server-side apply, per-object backoff.

pub mod backoff;
pub mod core;
pub mod tidbcloudcluster;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Client;
use kube::runtime::events::Recorder;

use crate::api::tidbcloudcluster::TidbCloudClusterStatus;
use crate::config::RunConfig;
use crate::metrics::Metrics;
use crate::providers::tidbcloud::catalog::Catalog;
use crate::providers::tidbcloud::observe::Observer;
use crate::providers::tidbcloud::pool::ClientPool;

/// Everything reconciles need, shared by every controller of the process: one Kubernetes client, one Event
/// recorder, one metrics registry, one backoff table, and per provider one client pool (so one budget per API
/// key across all kinds) and one catalogue.
pub struct Context {
    pub kube: Client,
    pub config: RunConfig,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub backoff: backoff::PerObjectBackoff,
    pub tidb_clients: ClientPool,
    pub tidb_catalog: Catalog,
    pub tidb_observer: Observer,
}

impl Context {
    /// Poll intervals from the configuration.
    pub fn timing(&self) -> core::Timing {
        core::Timing {
            transitional: self.config.poll_transitional,
            steady: self.config.poll_steady,
            credentials: self.config.poll_credentials,
        }
    }
}

impl core::ConditionedStatus for TidbCloudClusterStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn set_conditions(&mut self, conditions: Vec<Condition>) {
        self.conditions = conditions;
    }
    fn set_observed_generation(&mut self, generation: Option<i64>) {
        self.observed_generation = generation;
    }
}
