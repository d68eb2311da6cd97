//! One reconciler per kind, on a shared driver (`core`): finalizer, credentials, outcomes → conditions,
//! Events, status server-side apply, per-object backoff.

pub mod backoff;
pub mod clickhouseservice;
pub mod clusterref;
pub mod core;
pub mod decision;
pub mod driver;
pub mod ownership;
pub mod tidbcloudcluster;
pub mod tidbcloudimport;
pub mod tidbcloudintegration;
pub mod watch;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Client;
use kube::runtime::events::Recorder;

use crate::api::clickhouseservice::ClickHouseServiceStatus;
use crate::api::common::CredentialsSpec;
use crate::api::tidbcloudcluster::TidbCloudClusterStatus;
use crate::api::tidbcloudimport::TidbCloudImportStatus;
use crate::api::tidbcloudintegration::TidbCloudIntegrationStatus;
use crate::config::RunConfig;
use crate::metrics::Metrics;
use crate::providers::clickhouse::{self, ClickHouseClient, ClickHouseKey};
use crate::providers::tidbcloud::catalog::Catalog;
use crate::providers::tidbcloud::client::{ApiKey, TidbCloudClient};
use crate::providers::tidbcloud::observe::Observer;
use crate::providers::tidbcloud::pool::ClientPool;
use crate::reasons;

/// Everything reconciles need, shared by every controller of the process: one Kubernetes client, one Event
/// recorder, one metrics registry, one backoff table, and per provider one client pool (so one budget per API
/// key across all kinds) and one catalogue.
pub struct Context {
    pub kube: Client,
    pub config: RunConfig,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub backoff: backoff::PerObjectBackoff,
    /// Who claims which cloud id and uses which Secret: every controller's cache, indexed (ownership.rs).
    pub claims: ownership::ClaimIndex,
    pub tidb_clients: ClientPool,
    pub tidb_catalog: Catalog,
    pub tidb_observer: Observer,
    /// ClickHouse Cloud clients (one budget of 10 requests per 10 s per key).
    pub clickhouse_clients: clickhouse::ClientPool,
    pub clickhouse_observer: clickhouse::observe::Observer,
}

impl Context {
    /// Everything the controllers share, from the run configuration: the provider client pools with one
    /// budget registry per provider (TiDB Cloud: requests per minute; ClickHouse Cloud: per 10 s), observers,
    /// the catalogue, the Event recorder, the backoff table and the (empty) ownership index.
    pub fn new(
        kube: Client,
        config: RunConfig,
        metrics: Metrics,
        extra_ca_pem: Option<Vec<u8>>,
    ) -> Result<Context, crate::cloud::CloudError> {
        use std::time::Duration;

        use crate::cloud::http::{HttpConfig, build_http_client};
        use crate::cloud::{BudgetConfig, BudgetRegistry};
        use crate::providers::tidbcloud::client::ClientConfig;
        use crate::providers::tidbcloud::observe::ObserverConfig;

        let http_config = HttpConfig {
            timeout: config.request_timeout,
            extra_ca_pem,
            ..HttpConfig::default()
        };
        let client_config = ClientConfig {
            base_url: config.tidbcloud_api_url.clone(),
            iam_base_url: config.tidbcloud_iam_url.clone(),
            http: http_config.clone(),
            ..ClientConfig::default()
        };
        let clickhouse_config = clickhouse::ClientConfig {
            base_url: config.clickhouse_api_url.clone(),
            http: http_config,
        };
        let clickhouse_budgets = BudgetRegistry::new(
            BudgetConfig {
                headroom: config.rate_limit_headroom,
                ..BudgetConfig::per_window(
                    config.clickhouse_rate_limit_per_10s,
                    Duration::from_secs(10),
                )
            },
            metrics.clone(),
        );
        let budgets = BudgetRegistry::new(
            BudgetConfig {
                requests_per_minute: f64::from(config.rate_limit_per_minute),
                headroom: config.rate_limit_headroom,
                ..BudgetConfig::default()
            },
            metrics.clone(),
        );
        let reporter = kube::runtime::events::Reporter {
            controller: "clouddb-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Ok(Context {
            recorder: Recorder::new(kube.clone(), reporter),
            kube,
            metrics,
            tidb_clients: ClientPool::new(
                client_config.clone(),
                client_config.build_http_client()?,
                budgets,
            ),
            tidb_catalog: Catalog::new(config.catalog_ttl),
            tidb_observer: Observer::new(ObserverConfig {
                mode: config.observation,
                transitional: config.poll_transitional,
                steady: config.poll_steady,
                first_snapshot_wait: config.request_timeout.saturating_mul(2),
            }),
            clickhouse_clients: clickhouse::ClientPool::new(
                clickhouse_config.clone(),
                build_http_client(&clickhouse_config.http)?,
                clickhouse_budgets,
            ),
            clickhouse_observer: clickhouse::observe::Observer::new(config.poll_transitional / 2),
            backoff: backoff::PerObjectBackoff::new(Duration::from_secs(1), config.max_backoff),
            claims: ownership::ClaimIndex::default(),
            config,
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
        let protect = credentials.is_some();
        let creds =
            match core::read_credentials(&self.kube, &ns, &name, self.timing(), protect).await? {
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
                reason: reasons::CREDENTIALS_REJECTED,
                message: format!("credentials Secret {} cannot be used: {e}", creds.source),
                requeue: Some(self.config.poll_credentials),
            }))
    }
}

impl Context {
    /// The ClickHouse Cloud client for `credentials` (a Secret in `namespace` with `keyId`, `keySecret` and
    /// `organizationId`; absent: the operator's default ClickHouse credentials Secret), or the outcome that
    /// explains why there is none.
    pub async fn clickhouse_client(
        &self,
        namespace: &str,
        credentials: Option<&CredentialsSpec>,
    ) -> Result<Result<ClickHouseClient, core::Outcome>, kube::Error> {
        use crate::api::common::{KEY_ID, KEY_SECRET, ORGANIZATION_ID};
        use secrecy::ExposeSecret;
        let (ns, name) = match credentials {
            Some(c) => (namespace.to_string(), c.secret_ref.name.clone()),
            None => self.config.default_clickhouse_credentials_ref(),
        };
        let keys = [KEY_ID, KEY_SECRET, ORGANIZATION_ID];
        let mut values = match core::read_secret_keys(
            &self.kube,
            &ns,
            &name,
            &keys,
            self.timing(),
            credentials.is_some(),
        )
        .await?
        {
            Ok(v) => v.into_iter(),
            Err(outcome) => return Ok(Err(outcome)),
        };
        let mut next = || values.next().unwrap_or_else(|| String::new().into());
        let (id, secret, org) = (next(), next(), next());
        let key = ClickHouseKey {
            key_id: id.expose_secret().to_string(),
            key_secret: secret,
            organization_id: org.expose_secret().to_string(),
        };
        Ok(self
            .clickhouse_clients
            .client_for(key)
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
    ClickHouseServiceStatus,
    TidbCloudClusterStatus,
    TidbCloudImportStatus,
    TidbCloudIntegrationStatus
);
