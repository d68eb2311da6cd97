//! The TiDB Cloud provider of the process: the client pool (one budget per API key, requests per minute), the
//! region and node-spec catalogue and the cluster observer, built from the run configuration; how a
//! credentials Secret becomes a client; and [`Session`], the client whose cluster writes keep the observer's
//! bookkeeping.

use secrecy::{ExposeSecret, SecretString};

use super::catalog::Catalog;
use super::client::{ApiKey, ClientConfig, TidbCloudClient};
use super::models::{Cluster, CreateClusterRequest, PublicEndpointSetting, UpdateClusterRequest};
use super::observe::{Observer, ObserverConfig};
use super::pool::ClientPool;
use super::serverless_models::{
    CreateServerlessCluster, PatchServerlessClusterRequest, ServerlessCluster,
};
use super::serverless_observe::ServerlessObserver;
use crate::api::common::{PRIVATE_KEY, PUBLIC_KEY};
use crate::cloud::http::HttpConfig;
use crate::cloud::{BudgetConfig, BudgetRegistry, CloudError};
use crate::config::RunConfig;
use crate::metrics::Metrics;
use crate::providers::{Credentials, UnusableCredentials};

/// Shared by every TiDB Cloud kind (clusters, imports, integrations).
pub struct Provider {
    /// One client per API key, so one budget per key across all kinds.
    pub clients: ClientPool,
    /// The cached region and node-spec catalogue.
    pub catalog: Catalog,
    /// All observation of clusters (batched list snapshots, fresh answers of writes).
    pub observer: Observer,
    /// All observation of Serverless clusters (one list per key), on the same clients and budgets.
    pub serverless: ServerlessObserver,
    /// The branches of each Serverless cluster: one list per cluster and key, shared by its TidbCloudBranches.
    pub branches: super::serverless_branch::BranchObserver,
    default_credentials: (String, String),
}

impl Provider {
    /// From the run configuration: API URLs, rate limit, catalogue TTL, observation mode and intervals.
    pub fn new(
        config: &RunConfig,
        metrics: &Metrics,
        http: &HttpConfig,
    ) -> Result<Provider, CloudError> {
        let client_config = ClientConfig {
            base_url: config.tidbcloud_api_url.clone(),
            iam_base_url: config.tidbcloud_iam_url.clone(),
            serverless_base_url: config.tidbcloud_serverless_url.clone(),
            http: http.clone(),
            ..ClientConfig::default()
        };
        let budgets = BudgetRegistry::new(
            BudgetConfig {
                requests_per_minute: f64::from(config.rate_limit_per_minute),
                headroom: config.rate_limit_headroom,
                ..BudgetConfig::default()
            },
            metrics.clone(),
        );
        Ok(Provider {
            clients: ClientPool::new(
                client_config.clone(),
                client_config.build_http_client()?,
                budgets,
            ),
            catalog: Catalog::new(config.catalog_ttl),
            observer: Observer::new(ObserverConfig {
                mode: config.observation,
                transitional: config.poll_transitional,
                steady: config.poll_steady,
                first_snapshot_wait: config.request_timeout.saturating_mul(2),
            }),
            serverless: ServerlessObserver::new(
                config.observation,
                config.poll_steady,
                config.poll_transitional,
            ),
            branches: Default::default(),
            default_credentials: config.default_credentials_ref(),
        })
    }

    /// `client` with this provider's observer bookkeeping around its cluster writes.
    pub fn session<'a>(&'a self, client: &'a TidbCloudClient) -> Session<'a> {
        Session {
            client,
            observer: &self.observer,
        }
    }
}

impl Provider {
    /// `client` with the Serverless observer's bookkeeping around its serverless cluster writes.
    pub fn serverless_session<'a>(&'a self, client: &'a TidbCloudClient) -> ServerlessSession<'a> {
        ServerlessSession {
            client,
            observer: &self.serverless,
        }
    }
}

impl Credentials for Provider {
    type Client = TidbCloudClient;

    const SECRET_KEYS: &'static [&'static str] = &[PUBLIC_KEY, PRIVATE_KEY];

    const NAMESPACE_SECRET: &'static str = crate::api::common::TIDBCLOUD_NAMESPACE_CREDENTIALS;

    fn default_secret(&self) -> (String, String) {
        self.default_credentials.clone()
    }

    fn client_for_secret(
        &self,
        values: Vec<SecretString>,
    ) -> Result<TidbCloudClient, UnusableCredentials> {
        let mut values = values.into_iter();
        let mut next = || values.next().unwrap_or_else(|| String::new().into());
        let (public_key, private_key) = (next(), next());
        let key = ApiKey {
            public_key: public_key.expose_secret().to_string(),
            private_key,
        };
        Ok(self.clients.client_for(key)?)
    }
}

/// A client whose cluster writes keep the observer's bookkeeping: each write is recorded
/// ([`Observer::wrote`]) before it is sent, so a snapshot listed while it is in flight does not answer for the
/// cluster, and again when its answer or error arrives; a cluster it returns is kept as the freshest
/// observation ([`Observer::saw`]). Reads go through the observer or [`Session::client`] directly.
#[derive(Clone, Copy)]
pub struct Session<'a> {
    pub client: &'a TidbCloudClient,
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

    /// `write`, then the returned cluster as the freshest observation.
    async fn write_cluster(
        &self,
        id: &str,
        call: impl Future<Output = Result<Cluster, CloudError>>,
    ) -> Result<Cluster, CloudError> {
        let c = self.write(id, call).await?;
        self.observer.saw(&c);
        Ok(c)
    }

    /// Creates a cluster; its id is known (and recorded) once the answer arrives.
    pub async fn create_cluster(&self, req: &CreateClusterRequest) -> Result<Cluster, CloudError> {
        let c = self.client.create_cluster(req).await?;
        self.observer.wrote(&c.cluster_id);
        self.observer.saw(&c);
        Ok(c)
    }

    pub async fn update_cluster(
        &self,
        id: &str,
        req: &UpdateClusterRequest,
    ) -> Result<Cluster, CloudError> {
        self.write_cluster(id, self.client.update_cluster(id, req))
            .await
    }

    pub async fn pause_cluster(&self, id: &str) -> Result<Cluster, CloudError> {
        self.write_cluster(id, self.client.pause_cluster(id)).await
    }

    pub async fn resume_cluster(&self, id: &str) -> Result<Cluster, CloudError> {
        self.write_cluster(id, self.client.resume_cluster(id)).await
    }

    pub async fn delete_cluster(&self, id: &str) -> Result<Cluster, CloudError> {
        self.write_cluster(id, self.client.delete_cluster(id)).await
    }

    pub async fn reset_root_password(
        &self,
        id: &str,
        password: &SecretString,
    ) -> Result<(), CloudError> {
        self.write(id, self.client.reset_root_password(id, password))
            .await
    }

    /// Writes the default group's public endpoint setting (recorded as a write to the cluster: its `PUBLIC`
    /// endpoint follows `enabled`, so the next observation of the cluster is fresh).
    pub async fn update_public_endpoint_setting(
        &self,
        id: &str,
        req: &PublicEndpointSetting,
    ) -> Result<PublicEndpointSetting, CloudError> {
        self.write(id, self.client.update_public_endpoint_setting(id, req))
            .await
    }
}

/// A client whose Serverless cluster writes are recorded in the [`ServerlessObserver`] (before the call and
/// when its answer arrives), so a list taken meanwhile never answers for the cluster.
#[derive(Clone, Copy)]
pub struct ServerlessSession<'a> {
    pub client: &'a TidbCloudClient,
    pub observer: &'a ServerlessObserver,
}

impl ServerlessSession<'_> {
    /// Creates a cluster; its id is known (and recorded) once the answer arrives.
    pub async fn create(
        &self,
        req: &CreateServerlessCluster,
    ) -> Result<ServerlessCluster, CloudError> {
        let c = self.client.create_serverless_cluster(req).await?;
        self.observer.wrote(&c.cluster_id);
        Ok(c)
    }

    pub async fn update(
        &self,
        id: &str,
        req: &PatchServerlessClusterRequest,
    ) -> Result<ServerlessCluster, CloudError> {
        crate::cloud::writes::recorded(
            self.observer,
            id,
            self.client.update_serverless_cluster(id, req),
        )
        .await
    }

    pub async fn delete(&self, id: &str) -> Result<ServerlessCluster, CloudError> {
        crate::cloud::writes::recorded(self.observer, id, self.client.delete_serverless_cluster(id))
            .await
    }

    pub async fn set_password(&self, id: &str, password: &SecretString) -> Result<(), CloudError> {
        crate::cloud::writes::recorded(
            self.observer,
            id,
            self.client.set_serverless_password(id, password),
        )
        .await
    }
}
