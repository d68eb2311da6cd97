//! The TiDB Cloud client pool: the shared [`crate::cloud::pool::ClientPool`] of [`TidbCloudClient`]s (one per
//! API key, so the digest nonce, the connection pool and the key's budget are shared).

use super::client::{ApiKey, ClientConfig, TidbCloudClient};
use crate::cloud::pool::PooledClient;
use crate::cloud::{BudgetRegistry, CloudError};

pub type ClientPool = crate::cloud::pool::ClientPool<TidbCloudClient>;

impl PooledClient for TidbCloudClient {
    type Config = ClientConfig;
    type Key = ApiKey;

    fn key_id(key: &ApiKey) -> &str {
        &key.public_key
    }

    fn fingerprint(key: &ApiKey) -> [u8; 32] {
        crate::cloud::pool::fingerprint(&key.private_key, &[])
    }

    fn build_http(config: &ClientConfig) -> Result<reqwest::Client, CloudError> {
        config.build_http_client()
    }

    fn build(
        http: reqwest::Client,
        config: &ClientConfig,
        key: ApiKey,
        budgets: &BudgetRegistry,
    ) -> Result<Self, CloudError> {
        TidbCloudClient::with_http_client(http, config, key, budgets)
    }
}
