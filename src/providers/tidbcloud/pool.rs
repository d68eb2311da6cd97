//! The TiDB Cloud client pool: the shared [`crate::cloud::pool::ClientPool`] of [`TidbCloudClient`]s (one per
//! API key, so the digest nonce, the connection pool and the key's budget are shared).

use super::client::{ApiKey, ClientConfig, TidbCloudClient};
use crate::cloud::CloudError;
use crate::cloud::pool::{Parts, PoolKey, PooledClient};

pub type ClientPool = crate::cloud::pool::ClientPool<TidbCloudClient>;

impl PoolKey for ApiKey {
    fn id(&self) -> &str {
        &self.public_key
    }

    fn fingerprint(&self) -> [u8; 32] {
        crate::cloud::pool::fingerprint(&self.private_key, &[])
    }
}

impl PooledClient for TidbCloudClient {
    type Config = ClientConfig;
    type Key = ApiKey;

    fn build(p: Parts<'_, Self>) -> Result<Self, CloudError> {
        TidbCloudClient::with_http_client(p.http, p.config, p.key, p.budgets)
    }
}
