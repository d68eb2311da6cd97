//! The ClickHouse Cloud provider of the process: the client pool (one budget of N requests per 10 s per API
//! key) and the service observer, built from the run configuration; how a credentials Secret becomes a
//! client; and [`Session`], the client whose service writes keep the observer's bookkeeping.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::client::{ClickHouseClient, ClickHouseKey, ClientConfig, ClientPool};
use super::models::{
    Command, ReplicaScalingPatchRequest, Service, ServicePatchRequest, ServicePostRequest,
    ServicePostResponse,
};
use super::observe::Observer;
use crate::api::common::{KEY_ID, KEY_SECRET, ORGANIZATION_ID};
use crate::cloud::http::{HttpConfig, build_http_client};
use crate::cloud::{BudgetConfig, BudgetRegistry, CloudError};
use crate::config::RunConfig;
use crate::metrics::Metrics;
use crate::providers::{Credentials, UnusableCredentials};

/// Shared by every ClickHouseService reconcile.
pub struct Provider {
    /// One client per API key, so one budget per key.
    pub clients: ClientPool,
    /// The shared per-organization services lists and the record of recent writes.
    pub observer: Observer,
    default_credentials: (String, String),
}

impl Provider {
    /// From the run configuration: API URL, quota per 10 s, headroom, transitional interval.
    pub fn new(
        config: &RunConfig,
        metrics: &Metrics,
        http: &HttpConfig,
    ) -> Result<Provider, CloudError> {
        let client_config = ClientConfig {
            base_url: config.clickhouse_api_url.clone(),
            http: http.clone(),
        };
        let budgets = BudgetRegistry::new(
            BudgetConfig {
                headroom: config.rate_limit_headroom,
                ..BudgetConfig::per_window(
                    config.clickhouse_rate_limit_per_10s,
                    Duration::from_secs(10),
                )
            },
            metrics.clone(),
        );
        Ok(Provider {
            clients: ClientPool::new(
                client_config.clone(),
                build_http_client(&client_config.http)?,
                budgets,
            ),
            observer: Observer::new(config.poll_transitional / 2),
            default_credentials: config.default_clickhouse_credentials_ref(),
        })
    }

    /// `client` with this provider's observer bookkeeping around its service writes.
    pub fn session<'a>(&'a self, client: &'a ClickHouseClient) -> Session<'a> {
        Session {
            client,
            observer: &self.observer,
        }
    }
}

impl Credentials for Provider {
    type Client = ClickHouseClient;

    const SECRET_KEYS: &'static [&'static str] = &[KEY_ID, KEY_SECRET, ORGANIZATION_ID];

    const NAMESPACE_SECRET: &'static str = crate::api::common::CLICKHOUSE_NAMESPACE_CREDENTIALS;

    fn default_secret(&self) -> (String, String) {
        self.default_credentials.clone()
    }

    fn client_for_secret(
        &self,
        values: Vec<SecretString>,
    ) -> Result<ClickHouseClient, UnusableCredentials> {
        let mut values = values.into_iter();
        let mut next = || values.next().unwrap_or_else(|| String::new().into());
        let (id, secret, org) = (next(), next(), next());
        let key = ClickHouseKey {
            key_id: id.expose_secret().to_string(),
            key_secret: secret,
            organization_id: org.expose_secret().to_string(),
        };
        Ok(self.clients.client_for(key)?)
    }
}

/// A client whose service writes keep the observer's bookkeeping: each write to a service is recorded
/// ([`Observer::wrote`]) before it is sent and again when its answer or error arrives, so the service's next
/// reads go by id rather than to a list that may predate the write. Reads, and calls that are not recorded as
/// writes, go through the observer or [`Session::client`] directly.
#[derive(Clone, Copy)]
pub struct Session<'a> {
    pub client: &'a ClickHouseClient,
    pub observer: &'a Observer,
}

impl Session<'_> {
    /// `call` (a write to `id`, not started yet) between two records of the write.
    async fn write<T>(
        &self,
        id: &str,
        call: impl Future<Output = Result<T, CloudError>>,
    ) -> Result<T, CloudError> {
        crate::cloud::writes::recorded(self.observer, id, call).await
    }

    /// Creates a service; its id is known (and recorded) once the answer arrives.
    pub async fn create_service(
        &self,
        req: &ServicePostRequest,
    ) -> Result<ServicePostResponse, CloudError> {
        let created = self.client.create_service(req).await?;
        self.observer.wrote(&created.service.id);
        Ok(created)
    }

    pub async fn update_service(
        &self,
        id: &str,
        req: &ServicePatchRequest,
    ) -> Result<Service, CloudError> {
        self.write(id, self.client.update_service(id, req)).await
    }

    pub async fn update_replica_scaling(
        &self,
        id: &str,
        req: &ReplicaScalingPatchRequest,
    ) -> Result<Service, CloudError> {
        self.write(id, self.client.update_replica_scaling(id, req))
            .await
    }

    pub async fn set_state(&self, id: &str, command: Command) -> Result<Service, CloudError> {
        self.write(id, self.client.set_state(id, command)).await
    }

    pub async fn set_password(&self, id: &str, password: &SecretString) -> Result<(), CloudError> {
        self.write(id, self.client.set_password(id, password)).await
    }

    pub async fn delete_service(&self, id: &str) -> Result<(), CloudError> {
        self.write(id, self.client.delete_service(id)).await
    }
}
