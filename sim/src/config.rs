//! Simulator settings, shared by the library (tests) and the binary (flags, environment, files).
use crate::faults::FaultRule;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One API key pair. The private key is a secret: it is never logged or printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub public_key: String,
    pub private_key: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("public_key", &mask(&self.public_key))
            .field("private_key", &"***")
            .finish()
    }
}

/// Shows only the first 4 characters of an identifier, for logs.
pub fn mask(s: &str) -> String {
    let head: String = s.chars().take(4).collect();
    format!("{head}…")
}

#[derive(Debug, thiserror::Error)]
pub enum KeyParseError {
    #[error(
        "API key entry #{index} must look like PUBLIC:PRIVATE (public key 1-64 chars without ':', private key non-empty)"
    )]
    Malformed { index: usize },
    #[error("reading API keys file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

impl ApiKey {
    /// A random key pair, shaped like real ones (8-char public key, 32-char private key).
    pub fn random() -> ApiKey {
        use rand::Rng;
        use rand::distr::Alphanumeric;
        let mut rng = rand::rng();
        let public_key: String = (&mut rng)
            .sample_iter(&Alphanumeric)
            .take(8)
            .map(|c| (c as char).to_ascii_uppercase())
            .collect();
        let private_key: String = (&mut rng)
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        ApiKey {
            public_key,
            private_key,
        }
    }

    /// Parses `PUB:PRIV[,PUB:PRIV...]` or one pair per line (`#` comments allowed).
    pub fn parse_list(text: &str) -> Result<Vec<ApiKey>, KeyParseError> {
        text.split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.starts_with('#'))
            .enumerate()
            .map(|(i, entry)| match entry.split_once(':') {
                Some((p, s)) if !p.is_empty() && p.len() <= 64 && !s.is_empty() => Ok(ApiKey {
                    public_key: p.to_string(),
                    private_key: s.to_string(),
                }),
                _ => Err(KeyParseError::Malformed { index: i + 1 }),
            })
            .collect()
    }

    pub fn read_file(path: &std::path::Path) -> Result<Vec<ApiKey>, KeyParseError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyParseError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse_list(&text)
    }
}

/// How long each transition takes.
#[derive(Debug, Clone)]
pub struct Delays {
    pub cluster_create: Duration,
    pub cluster_modify: Duration,
    pub cluster_pause: Duration,
    pub cluster_resume: Duration,
    pub cluster_delete: Duration,
    pub import_prepare: Duration,
    pub import_run: Duration,
    pub import_cancel: Duration,
    /// A new TiDB node group: `MODIFYING` → `ACTIVE`.
    pub node_group_create: Duration,
    /// A TiDB node group resized: `MODIFYING` → `ACTIVE`.
    pub node_group_modify: Duration,
    /// A TiDB node group being deleted: `MODIFYING` → gone (404).
    pub node_group_delete: Duration,
    /// Private endpoint connection `PENDING` → `ACTIVE` (TiDB Cloud accepting the endpoint).
    pub private_endpoint_accept: Duration,
    /// Private endpoint connection `DELETING` → gone (404).
    pub private_endpoint_delete: Duration,
    /// Legacy v1beta backup PENDING → RUNNING.
    pub backup_start: Duration,
    /// Legacy v1beta backup RUNNING → SUCCESS (or FAILED).
    pub backup_run: Duration,
    /// Legacy v1beta restore: the new cluster RESTORING → ACTIVE, the task RUNNING → SUCCESS.
    pub restore: Duration,
}

impl Delays {
    /// Short delays for tests: every transition is visible but over in about a second.
    pub fn fast() -> Delays {
        Delays {
            cluster_create: Duration::from_millis(1500),
            cluster_modify: Duration::from_millis(800),
            cluster_pause: Duration::from_millis(800),
            cluster_resume: Duration::from_millis(800),
            cluster_delete: Duration::from_millis(800),
            import_prepare: Duration::from_millis(500),
            import_run: Duration::from_millis(1500),
            import_cancel: Duration::from_millis(500),
            node_group_create: Duration::from_millis(1500),
            node_group_modify: Duration::from_millis(800),
            node_group_delete: Duration::from_millis(800),
            private_endpoint_accept: Duration::from_millis(800),
            private_endpoint_delete: Duration::from_millis(500),
            backup_start: Duration::from_millis(300),
            backup_run: Duration::from_millis(1200),
            restore: Duration::from_millis(1500),
        }
    }
    /// Roughly what the real service takes, for demos.
    pub fn realistic() -> Delays {
        Delays {
            cluster_create: Duration::from_secs(20 * 60),
            cluster_modify: Duration::from_secs(8 * 60),
            cluster_pause: Duration::from_secs(3 * 60),
            cluster_resume: Duration::from_secs(5 * 60),
            cluster_delete: Duration::from_secs(2 * 60),
            import_prepare: Duration::from_secs(60),
            import_run: Duration::from_secs(10 * 60),
            import_cancel: Duration::from_secs(30),
            node_group_create: Duration::from_secs(10 * 60),
            node_group_modify: Duration::from_secs(8 * 60),
            node_group_delete: Duration::from_secs(5 * 60),
            private_endpoint_accept: Duration::from_secs(2 * 60),
            private_endpoint_delete: Duration::from_secs(60),
            backup_start: Duration::from_secs(30),
            backup_run: Duration::from_secs(10 * 60),
            restore: Duration::from_secs(20 * 60),
        }
    }
    /// Every delay set to zero: transitions complete on the next read.
    pub fn instant() -> Delays {
        let z = Duration::ZERO;
        Delays {
            cluster_create: z,
            cluster_modify: z,
            cluster_pause: z,
            cluster_resume: z,
            cluster_delete: z,
            import_prepare: z,
            import_run: z,
            import_cancel: z,
            node_group_create: z,
            node_group_modify: z,
            node_group_delete: z,
            private_endpoint_accept: z,
            private_endpoint_delete: z,
            backup_start: z,
            backup_run: z,
            restore: z,
        }
    }
}

/// How long each ClickHouse Cloud service transition takes.
#[derive(Debug, Clone)]
pub struct ClickHouseDelays {
    /// `provisioning` → `running` after a create.
    pub provision: Duration,
    /// `stopping` → `stopped`.
    pub stop: Duration,
    /// `starting` → `running`.
    pub start: Duration,
    /// `awaking` → `running`.
    pub awake: Duration,
    /// `terminating` → gone (404).
    pub terminate: Duration,
    /// A `running` service with `idleScaling` on goes `idle` after this long without an API request that
    /// touches it (the real service idles after `idleTimeoutMinutes` without queries). `None`: never by
    /// itself (the admin API can still make it idle).
    pub idle_after: Option<Duration>,
    /// For this long after a service reaches `stopped`, DELETE still answers 409, as the real API sometimes
    /// does right after it reports `stopped` (terraform-provider-clickhouse#509). Zero: never.
    pub delete_conflict_after_stop: Duration,
}

impl ClickHouseDelays {
    /// Every transition visible but over in about a second (tests).
    pub fn fast() -> ClickHouseDelays {
        ClickHouseDelays {
            provision: Duration::from_millis(1500),
            stop: Duration::from_millis(800),
            start: Duration::from_millis(800),
            awake: Duration::from_millis(500),
            terminate: Duration::from_millis(800),
            idle_after: None,
            delete_conflict_after_stop: Duration::ZERO,
        }
    }
    /// Roughly what the real service takes (demos).
    pub fn realistic() -> ClickHouseDelays {
        ClickHouseDelays {
            provision: Duration::from_secs(5 * 60),
            stop: Duration::from_secs(60),
            start: Duration::from_secs(2 * 60),
            awake: Duration::from_secs(30),
            terminate: Duration::from_secs(60),
            idle_after: None,
            delete_conflict_after_stop: Duration::ZERO,
        }
    }
    /// Transitions complete on the next read.
    pub fn instant() -> ClickHouseDelays {
        let z = Duration::ZERO;
        ClickHouseDelays {
            provision: z,
            stop: z,
            start: z,
            awake: z,
            terminate: z,
            idle_after: None,
            delete_conflict_after_stop: z,
        }
    }
}

/// The ClickHouse Cloud module, served on its own listener.
#[derive(Debug, Clone)]
pub struct ClickHouseConfig {
    /// Address of the ClickHouse listener; port 0 picks a free one. TLS follows [`SimConfig::tls`] (same CA).
    pub listen: SocketAddr,
    /// API keys (`public_key` = key ID, `private_key` = key secret); one random key when empty.
    pub keys: Vec<ApiKey>,
    /// The one organization the keys belong to (a UUID).
    pub organization_id: String,
    pub organization_name: String,
    /// Per-key limit: the real API allows 10 requests per 10 s.
    pub quota: QuotaConfig,
    pub delays: ClickHouseDelays,
    /// Faults active from the start on the ClickHouse listener.
    pub faults: Vec<FaultRule>,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            keys: Vec::new(),
            organization_id: crate::api::new_uuid(),
            organization_name: "clouddb-sim".into(),
            quota: QuotaConfig::clickhouse(),
            delays: ClickHouseDelays::fast(),
            faults: Vec::new(),
        }
    }
}

/// How long each TiDB Cloud Serverless transition takes. Serverless imports use the import delays of
/// [`Delays`] (the same state machine as Dedicated imports).
#[derive(Debug, Clone)]
pub struct ServerlessDelays {
    /// A new cluster `CREATING` → `ACTIVE`.
    pub cluster_create: Duration,
    /// A deleted cluster `DELETING` → gone (404).
    pub cluster_delete: Duration,
    /// A cluster created by `clusters:restore` `RESTORING` → `ACTIVE`.
    pub restore: Duration,
    /// A new branch `CREATING` → `ACTIVE`.
    pub branch_create: Duration,
    /// A reset branch `RESTORING` → `ACTIVE`.
    pub branch_reset: Duration,
    /// A deleted branch is answered `DELETED` for this long, then gone (404).
    pub branch_delete: Duration,
}

impl ServerlessDelays {
    /// Every transition visible but over in about a second (tests).
    pub fn fast() -> ServerlessDelays {
        ServerlessDelays {
            cluster_create: Duration::from_millis(1000),
            cluster_delete: Duration::from_millis(500),
            restore: Duration::from_millis(1000),
            branch_create: Duration::from_millis(1000),
            branch_reset: Duration::from_millis(800),
            branch_delete: Duration::from_millis(500),
        }
    }
    /// Roughly what the real service takes (demos): a Starter cluster is up in well under a minute.
    pub fn realistic() -> ServerlessDelays {
        ServerlessDelays {
            cluster_create: Duration::from_secs(30),
            cluster_delete: Duration::from_secs(10),
            restore: Duration::from_secs(3 * 60),
            branch_create: Duration::from_secs(60),
            branch_reset: Duration::from_secs(60),
            branch_delete: Duration::from_secs(10),
        }
    }
    /// Transitions complete on the next read.
    pub fn instant() -> ServerlessDelays {
        let z = Duration::ZERO;
        ServerlessDelays {
            cluster_create: z,
            cluster_delete: z,
            restore: z,
            branch_create: z,
            branch_reset: z,
            branch_delete: z,
        }
    }
}

/// The TiDB Cloud Serverless (Starter / Essential) v1beta1 module, served on its own listener because its
/// paths (`/v1beta1/clusters…`) collide with Dedicated's. It shares the TiDB Cloud keys, digest nonces and
/// per-key quota ([`SimConfig::keys`], [`SimConfig::quota`]) with the Dedicated listener: one budget per key
/// across both hosts, as the real service counts 100 requests per minute per key.
#[derive(Debug, Clone)]
pub struct ServerlessConfig {
    /// Address of the Serverless listener; port 0 picks a free one. TLS follows [`SimConfig::tls`] (same CA).
    pub listen: SocketAddr,
    pub delays: ServerlessDelays,
    /// Faults active from the start on the Serverless listener.
    pub faults: Vec<FaultRule>,
}

impl Default for ServerlessConfig {
    fn default() -> Self {
        ServerlessConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            delays: ServerlessDelays::fast(),
            faults: Vec::new(),
        }
    }
}

impl ApiKey {
    /// A random ClickHouse Cloud key pair, shaped like real ones (20-character key ID, 42-character secret
    /// starting `4b1d`).
    pub fn random_clickhouse() -> ApiKey {
        use rand::Rng;
        use rand::distr::Alphanumeric;
        let mut rng = rand::rng();
        let public_key: String = (&mut rng)
            .sample_iter(&Alphanumeric)
            .take(20)
            .map(char::from)
            .collect();
        let tail: String = (&mut rng)
            .sample_iter(&Alphanumeric)
            .take(38)
            .map(char::from)
            .collect();
        ApiKey {
            public_key,
            private_key: format!("4b1d{tail}"),
        }
    }
}

/// Per-key request quota: `limit` requests per fixed `window` (the gateway's minute counter).
#[derive(Debug, Clone)]
pub struct QuotaConfig {
    pub limit: u32,
    pub window: Duration,
}

impl QuotaConfig {
    /// ClickHouse Cloud's limit: 10 requests per 10 s per key.
    pub fn clickhouse() -> QuotaConfig {
        QuotaConfig {
            limit: 10,
            window: Duration::from_secs(10),
        }
    }
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            limit: 100,
            window: Duration::from_secs(60),
        }
    }
}

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address of the dedicated+IAM listener; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Serve HTTPS with a CA generated at start (true) or plain HTTP (debugging).
    pub tls: bool,
    /// Where the CA certificate and other files are written; a temporary directory when `None`.
    pub state_dir: Option<PathBuf>,
    pub keys: Vec<ApiKey>,
    pub quota: QuotaConfig,
    pub delays: Delays,
    /// Catalogue file; the built-in one when `None`.
    pub catalog: Option<PathBuf>,
    /// Node quota overrides per component (TIDB/TIKV/TIFLASH).
    pub node_quota: Vec<(String, i32)>,
    /// How long a digest nonce stays valid.
    pub nonce_ttl: Duration,
    /// Integration API key values the simulated Datadog/New Relic reject.
    pub rejected_integration_keys: Vec<String>,
    /// An import whose source URI contains this marker fails while importing.
    pub import_fail_marker: String,
    /// Faults active from the start (on the TiDB listener).
    pub faults: Vec<FaultRule>,
    /// The ClickHouse Cloud module and its listener.
    pub clickhouse: ClickHouseConfig,
    /// The TiDB Cloud Serverless module and its listener.
    pub serverless: ServerlessConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: true,
            state_dir: None,
            keys: Vec::new(),
            quota: QuotaConfig::default(),
            delays: Delays::fast(),
            catalog: None,
            node_quota: Vec::new(),
            nonce_ttl: Duration::from_secs(300),
            rejected_integration_keys: Vec::new(),
            import_fail_marker: "sim-fail".into(),
            faults: Vec::new(),
            clickhouse: ClickHouseConfig::default(),
            serverless: ServerlessConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_lists_and_rejects_malformed_entries() {
        let keys = ApiKey::parse_list("AAA:secret1, BBB:secret2\n# comment\nCCC:s3").unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[1].public_key, "BBB");
        assert!(matches!(
            ApiKey::parse_list("nocolon"),
            Err(KeyParseError::Malformed { index: 1 })
        ));
        assert!(matches!(
            ApiKey::parse_list("A:x,:y"),
            Err(KeyParseError::Malformed { index: 2 })
        ));
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let k = ApiKey {
            public_key: "PUBLICKEY".into(),
            private_key: "topsecretvalue".into(),
        };
        let s = format!("{k:?}");
        assert!(
            !s.contains("topsecretvalue") && !s.contains("PUBLICKEY"),
            "{s}"
        );
    }
}
