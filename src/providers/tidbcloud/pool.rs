//! One [`TidbCloudClient`] per credential, shared by every object that uses it (so the digest nonce, the
//! connection pool and the key's budget are shared), rebuilt when a Secret's private key changes.

use std::collections::HashMap;
use std::sync::Mutex;

use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::client::{ApiKey, ClientConfig, TidbCloudClient};
use crate::cloud::{BudgetRegistry, CloudError};

pub struct ClientPool {
    config: ClientConfig,
    http: reqwest::Client,
    budgets: BudgetRegistry,
    /// public key → (hash of the private key, client).
    clients: Mutex<HashMap<String, ([u8; 32], TidbCloudClient)>>,
}

impl ClientPool {
    pub fn new(config: ClientConfig, budgets: BudgetRegistry) -> Result<ClientPool, CloudError> {
        let http = config.build_http_client()?;
        Ok(ClientPool {
            config,
            http,
            budgets,
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// The client for `key` (the same one for every object using the same key pair).
    pub fn client_for(&self, key: ApiKey) -> Result<TidbCloudClient, CloudError> {
        let fingerprint: [u8; 32] =
            Sha256::digest(key.private_key.expose_secret().as_bytes()).into();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((fp, c)) = clients.get(&key.public_key)
            && *fp == fingerprint
        {
            return Ok(c.clone());
        }
        let public = key.public_key.clone();
        let client =
            TidbCloudClient::with_http_client(self.http.clone(), &self.config, key, &self.budgets)?;
        clients.insert(public, (fingerprint, client.clone()));
        Ok(client)
    }
}
