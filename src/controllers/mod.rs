//! One reconciler per kind, on a shared driver (`core`): finalizer, credentials, outcomes → conditions,
//! Events, status server-side apply, per-object backoff.

pub mod backoff;
pub mod clickhouseservice;
pub mod clusterref;
pub mod core;
pub mod decision;
pub mod driver;
pub mod ownership;
pub mod password;
pub mod tidbcloudbranch;
pub mod tidbcloudcluster;
pub mod tidbcloudimport;
pub mod tidbcloudintegration;
pub mod tidbcloudserverlesscluster;
pub mod tidbcloudsqluser;
pub mod watch;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Client;
use kube::runtime::events::Recorder;

use crate::api::clickhouseservice::ClickHouseServiceStatus;
use crate::api::common::CredentialsSpec;
use crate::api::tidbcloudbranch::TidbCloudBranchStatus;
use crate::api::tidbcloudcluster::TidbCloudClusterStatus;
use crate::api::tidbcloudimport::TidbCloudImportStatus;
use crate::api::tidbcloudintegration::TidbCloudIntegrationStatus;
use crate::api::tidbcloudserverlesscluster::TidbCloudServerlessClusterStatus;
use crate::api::tidbcloudsqluser::TidbCloudSqlUserStatus;
use crate::config::RunConfig;
use crate::metrics::Metrics;
use crate::providers::{Credentials, Providers};
use crate::reasons;

/// Everything reconciles need, shared by every controller of the process: one Kubernetes client, one Event
/// recorder, one metrics registry, one backoff table, the ownership index, and the providers (per provider one
/// client pool, so one budget per API key across all kinds, one observer and, for TiDB Cloud, one catalogue).
pub struct Context {
    pub kube: Client,
    pub config: RunConfig,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub backoff: backoff::PerObjectBackoff,
    /// Who claims which cloud id and uses which Secret: every controller's cache, indexed (ownership.rs).
    pub claims: ownership::ClaimIndex,
    /// Every cloud provider, each built from the run configuration by itself.
    pub providers: Providers,
    /// Set by `clouddb-operator plan`: nothing is written anywhere (see [`PlanMode`]).
    pub plan: Option<PlanMode>,
}

/// A read-only context (`clouddb-operator plan`): no status, Event, Secret, finalizer or cloud write; the
/// credentials given on the command line replace the Secrets of the provider they belong to.
#[derive(Default)]
pub struct PlanMode {
    /// Credentials values (in [`Credentials::SECRET_KEYS`] order), by the provider's
    /// [`Credentials::NAMESPACE_SECRET`] name.
    pub credentials: std::collections::BTreeMap<&'static str, Vec<secrecy::SecretString>>,
}

impl Context {
    /// Everything the controllers share, from the run configuration: the providers (each with its client pool
    /// and budget registry, observer and catalogue), the Event recorder, the backoff table and the (empty)
    /// ownership index.
    pub fn new(
        kube: Client,
        config: RunConfig,
        metrics: Metrics,
        extra_ca_pem: Option<Vec<u8>>,
    ) -> Result<Context, crate::cloud::CloudError> {
        use std::time::Duration;

        use crate::cloud::http::HttpConfig;

        let http_config = HttpConfig {
            timeout: config.request_timeout,
            extra_ca_pem,
            ..HttpConfig::default()
        };
        let reporter = kube::runtime::events::Reporter {
            controller: "clouddb-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Ok(Context {
            recorder: Recorder::new(kube.clone(), reporter),
            kube,
            providers: Providers::new(&config, &metrics, &http_config)?,
            metrics,
            backoff: backoff::PerObjectBackoff::new(Duration::from_secs(1), config.max_backoff),
            claims: ownership::ClaimIndex::default(),
            config,
            plan: None,
        })
    }

    /// Poll intervals from the configuration.
    pub fn timing(&self) -> core::Timing {
        core::Timing {
            transitional: self.config.poll_transitional,
            steady: self.config.poll_steady,
            credentials: self.config.poll_credentials,
        }
    }

    /// The `provider` client for `credentials` (a Secret in `namespace` with the keys the provider declares;
    /// absent: the namespace's [`Credentials::NAMESPACE_SECRET`] if it exists, else the provider's default
    /// credentials Secret), or the outcome that explains why there is none (`CredentialsMissing`,
    /// `CredentialsRejected`). A Secret in the object's namespace (named, or the namespace default) gets the
    /// in-use protection.
    pub async fn connect<P: Credentials>(
        &self,
        provider: &P,
        namespace: &str,
        credentials: Option<&CredentialsSpec>,
    ) -> Result<Result<P::Client, core::Outcome>, kube::Error> {
        self.connect_with(provider, namespace, credentials, true)
            .await
    }

    /// [`Context::connect`] for a kind working on a cluster: its own `spec.credentials` (`own`), else the
    /// cluster's (`inherited`), else the defaults. An inherited Secret is read, not protected: the cluster
    /// protects and releases it; a referrer that took the in-use finalizer could leave it behind.
    pub async fn connect_on_cluster<P: Credentials>(
        &self,
        provider: &P,
        namespace: &str,
        own: Option<&CredentialsSpec>,
        inherited: Option<&CredentialsSpec>,
    ) -> Result<Result<P::Client, core::Outcome>, kube::Error> {
        match own {
            Some(own) => {
                self.connect_with(provider, namespace, Some(own), true)
                    .await
            }
            None => {
                self.connect_with(provider, namespace, inherited, false)
                    .await
            }
        }
    }

    async fn connect_with<P: Credentials>(
        &self,
        provider: &P,
        namespace: &str,
        credentials: Option<&CredentialsSpec>,
        protect_named: bool,
    ) -> Result<Result<P::Client, core::Outcome>, kube::Error> {
        if let Some(values) = self
            .plan
            .as_ref()
            .and_then(|p| p.credentials.get(P::NAMESPACE_SECRET))
        {
            return Ok(provider.client_for_secret(values.clone()).map_err(|e| {
                core::Outcome::Stalled {
                    reason: reasons::CREDENTIALS_REJECTED,
                    message: format!(
                        "the credentials given on the command line cannot be used: {e}"
                    ),
                    requeue: None,
                }
            }));
        }
        let (ns, name, protect) = match credentials {
            Some(c) => (
                namespace.to_string(),
                c.secret_ref.name.clone(),
                protect_named,
            ),
            None => {
                let operator = provider.default_secret();
                let local = (namespace.to_string(), P::NAMESPACE_SECRET.to_string());
                let secrets = kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(
                    self.kube.clone(),
                    namespace,
                );
                if local != operator && secrets.get_metadata_opt(&local.1).await?.is_some() {
                    (local.0, local.1, true)
                } else {
                    (operator.0, operator.1, false)
                }
            }
        };
        let values = match core::read_secret_keys(
            &self.kube,
            &ns,
            &name,
            P::SECRET_KEYS,
            self.timing(),
            protect && self.plan.is_none(),
        )
        .await?
        {
            Ok(v) => v,
            Err(outcome) => return Ok(Err(outcome)),
        };
        Ok(provider
            .client_for_secret(values)
            .map_err(|e| core::Outcome::Stalled {
                reason: reasons::CREDENTIALS_REJECTED,
                message: format!("credentials Secret {ns}/{name} cannot be used: {e}"),
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
    TidbCloudImportStatus,
    TidbCloudIntegrationStatus,
    TidbCloudSqlUserStatus,
    TidbCloudBranchStatus
);

/// [`conditioned_status!`] for statuses that also record `convergedGeneration` (kinds adopted by id, with a
/// drift policy).
macro_rules! converging_status {
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
            const TRACKS_CONVERGENCE: bool = true;
            fn converged_generation(&self) -> Option<i64> {
                self.converged_generation
            }
            fn set_converged_generation(&mut self, generation: Option<i64>) {
                self.converged_generation = generation;
            }
        }
    )*};
}

converging_status!(
    ClickHouseServiceStatus,
    TidbCloudClusterStatus,
    TidbCloudServerlessClusterStatus
);
