//! One API client per credential, shared by every object that uses it (so connection pools, any
//! authentication state and the key's budget are shared), rebuilt when the secret part of a key changes.
//! Provider-neutral: a provider's client implements [`PooledClient`].

use std::collections::HashMap;
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{BudgetRegistry, CloudError};

/// A credential a pooled client is bound to.
pub trait PoolKey {
    /// The public identifier (pool key, budget key, metrics label).
    fn id(&self) -> &str;
    /// A hash of everything else (the secret part above all): a change of it rebuilds the client.
    fn fingerprint(&self) -> [u8; 32];
}

/// A provider client that can live in a [`ClientPool`].
pub trait PooledClient: Clone {
    /// Where and how to reach the API.
    type Config;
    /// The credential a client is bound to.
    type Key: PoolKey;

    /// A client for `parts.key` on the shared HTTP client, its budget taken from `parts.budgets`.
    fn build(parts: Parts<'_, Self>) -> Result<Self, CloudError>;
}

/// What a pooled client is built from.
pub struct Parts<'p, C: PooledClient> {
    pub http: reqwest::Client,
    pub config: &'p C::Config,
    pub key: C::Key,
    pub budgets: &'p BudgetRegistry,
}

/// SHA-256 over `secret` and `others` (each followed by a NUL), for [`PooledClient::fingerprint`].
pub fn fingerprint(secret: &SecretString, others: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(secret.expose_secret().as_bytes());
    for o in others {
        h.update([0u8]);
        h.update(o.as_bytes());
    }
    h.finalize().into()
}

pub struct ClientPool<C: PooledClient> {
    config: C::Config,
    http: reqwest::Client,
    budgets: BudgetRegistry,
    /// key id → (hash of the secret, client).
    clients: Mutex<HashMap<String, ([u8; 32], C)>>,
}

impl<C: PooledClient> ClientPool<C> {
    /// A pool whose clients share `http` (built from the provider's transport settings).
    pub fn new(config: C::Config, http: reqwest::Client, budgets: BudgetRegistry) -> Self {
        ClientPool {
            config,
            http,
            budgets,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `key` (the same one for every object using the same key pair).
    pub fn client_for(&self, key: C::Key) -> Result<C, CloudError> {
        let fingerprint = key.fingerprint();
        let id = key.id().to_string();
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((fp, c)) = clients.get(&id)
            && *fp == fingerprint
        {
            return Ok(c.clone());
        }
        let client = C::build(Parts {
            http: self.http.clone(),
            config: &self.config,
            key,
            budgets: &self.budgets,
        })?;
        clients.insert(id, (fingerprint, client.clone()));
        Ok(client)
    }

    /// The budgets of this pool's keys.
    pub fn budgets(&self) -> &BudgetRegistry {
        &self.budgets
    }
}
