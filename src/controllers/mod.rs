//! One reconciler per kind, on a shared driver (`core`): finalizer, credentials, outcomes → conditions,
//! Events, status server-side apply, per-object backoff.

pub mod backoff;
pub mod clusterref;
pub mod core;
pub mod tidbcloudcluster;
pub mod tidbcloudimport;
pub mod tidbcloudintegration;
pub mod watch;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Client;
use kube::runtime::events::Recorder;

use crate::api::common::CredentialsSpec;
use crate::api::tidbcloudcluster::TidbCloudClusterStatus;
use crate::api::tidbcloudimport::TidbCloudImportStatus;
use crate::api::tidbcloudintegration::TidbCloudIntegrationStatus;
use crate::config::RunConfig;
use crate::metrics::Metrics;
use crate::providers::tidbcloud::catalog::Catalog;
use crate::providers::tidbcloud::client::{ApiKey, TidbCloudClient};
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

    /// The TiDB Cloud client for `credentials` (a Secret in `namespace`; absent: the operator's default
    /// credentials Secret), or the outcome that explains why there is none (`CredentialsMissing`,
    /// `CredentialsRejected`).
    pub async fn tidb_client(
        &self,
        namespace: &str,
        credentials: Option<&CredentialsSpec>,
    ) -> Result<Result<TidbCloudClient, core::Outcome>, kube::Error> {
        let (ns, name) = match credentials {
            Some(c) => (namespace.to_string(), c.secret_ref.name.clone()),
            None => self.config.default_credentials_ref(),
        };
        let creds = match core::read_credentials(&self.kube, &ns, &name, self.timing()).await? {
            Ok(c) => c,
            Err(outcome) => return Ok(Err(outcome)),
        };
        let key = ApiKey {
            public_key: creds.public_key,
            private_key: creds.private_key,
        };
        Ok(self
            .tidb_clients
            .client_for(key)
            .map_err(|e| core::Outcome::Stalled {
                reason: "CredentialsRejected",
                message: format!("credentials Secret {} cannot be used: {e}", creds.source),
                requeue: Some(self.config.poll_credentials),
            }))
    }
}

macro_rules! conditioned_status {
    ($($status:ty),*) => {$(
        impl core::ConditionedStatus for $status {
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
    )*};
}

conditioned_status!(
    TidbCloudClusterStatus,
    TidbCloudImportStatus,
    TidbCloudIntegrationStatus
);
