//! clouddb-sim: a faithful local simulator of the TiDB Cloud and ClickHouse Cloud management APIs.
//!
//! Tests start it in-process with [`Simulator::start`]: it listens on three ephemeral loopback ports (HTTPS
//! with a CA generated at start, or plain HTTP) — TiDB Cloud Dedicated (with IAM and legacy v1beta), TiDB
//! Cloud Serverless, ClickHouse Cloud — and hands back the base URLs, the CA certificate path and the API
//! keys. It stops when the returned [`Simulator`] is dropped.
//!
//! ```no_run
//! # async fn f() -> Result<(), clouddb_sim::SimError> {
//! let sim = clouddb_sim::Simulator::start(clouddb_sim::SimConfig::default()).await?;
//! println!("{} {:?}", sim.base_url(), sim.ca_path());
//! # Ok(()) }
//! ```
pub mod api;
pub mod basic;
pub mod catalog;
pub mod clickhouse;
pub mod config;
pub mod dedicated;
pub mod digest;
pub mod error;
pub mod faults;
pub mod gateway;
pub mod iam;
pub mod import_run;
pub mod legacy;
pub mod paging;
pub mod quota;
pub mod routes;
pub mod server;
pub mod serverless;
pub mod tls;

pub use config::{
    ApiKey, ClickHouseConfig, ClickHouseDelays, Delays, QuotaConfig, ServerlessConfig,
    ServerlessDelays, SimConfig,
};
pub use faults::{FaultKind, FaultRule};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("binding {addr}: {source} (is the port in use? use port 0 for a free one)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("creating the state directory {path}: {source}")]
    StateDir {
        path: String,
        source: std::io::Error,
    },
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    addr: SocketAddr,
    tls: bool,
    ca_path: Option<PathBuf>,
    keys: Vec<ApiKey>,
    gateway: Arc<gateway::Gateway>,
    ch_addr: SocketAddr,
    ch_keys: Vec<ApiKey>,
    ch_organization_id: String,
    ch_gateway: Arc<gateway::Gateway>,
    sls_addr: SocketAddr,
    sls_gateway: Arc<gateway::Gateway>,
    shutdown: watch::Sender<bool>,
    _tempdir: Option<TempDir>,
}

/// The gateways of the three listeners, each with its API modules in routing order.
pub(crate) struct Gateways {
    /// Dedicated v1beta1, IAM v1beta1, legacy v1beta.
    pub tidb: Arc<gateway::Gateway>,
    /// Serverless v1beta1, behind the same front door (keys, nonces, per-key quota) as `tidb`.
    pub serverless: Arc<gateway::Gateway>,
    pub clickhouse: Arc<gateway::Gateway>,
}

fn gateways(config: &SimConfig) -> Result<Gateways, SimError> {
    let catalog = Arc::new(match &config.catalog {
        Some(p) => catalog::Catalog::load(p)?,
        None => catalog::Catalog::builtin()?,
    });
    let dedicated = Arc::new(dedicated::Dedicated::new(catalog.clone(), config));
    let modules: Vec<Arc<dyn api::ApiModule>> = vec![
        dedicated.clone(),
        Arc::new(
            iam::Iam::new(catalog.clone(), config.keys.clone())
                .with_clusters(dedicated.clone())
                .with_sql_users(dedicated.clone()),
        ),
        Arc::new(legacy::Legacy::new(catalog.clone(), dedicated, config)),
    ];
    let door = gateway::FrontDoor::tidb_cloud(config);
    let tidb = Arc::new(gateway::Gateway::tidb_cloud(
        door.clone(),
        &config.faults,
        modules,
    ));
    let serverless = Arc::new(gateway::Gateway::tidb_cloud(
        door,
        &config.serverless.faults,
        vec![Arc::new(serverless::Serverless::new(catalog, config))],
    ));
    let ch = &config.clickhouse;
    let clickhouse = Arc::new(gateway::Gateway::clickhouse(
        ch,
        &ch.keys,
        vec![Arc::new(clickhouse::ClickHouse::new(ch))],
    ));
    Ok(Gateways {
        tidb,
        serverless,
        clickhouse,
    })
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Simulator {
    /// Starts the simulator: TiDB Cloud Dedicated on `config.listen`, TiDB Cloud Serverless on
    /// `config.serverless.listen`, ClickHouse Cloud on `config.clickhouse.listen` (port 0: a free port). With no keys configured, one random key pair is generated for each
    /// ([`Simulator::keys`], [`Simulator::clickhouse_keys`]).
    pub async fn start(mut config: SimConfig) -> Result<Simulator, SimError> {
        if config.keys.is_empty() {
            config.keys.push(ApiKey::random());
        }
        if config.clickhouse.keys.is_empty() {
            config.clickhouse.keys.push(ApiKey::random_clickhouse());
        }
        let Gateways {
            tidb: gateway,
            serverless: sls_gateway,
            clickhouse: ch_gateway,
        } = gateways(&config)?;
        let ch = &config.clickhouse;
        let (listener, addr) = bind(config.listen).await?;
        let (sls_listener, sls_addr) = bind(config.serverless.listen).await?;
        let (ch_listener, ch_addr) = bind(ch.listen).await?;

        let (dir, tempdir) = match &config.state_dir {
            Some(d) => (d.clone(), None),
            None => {
                let d = std::env::temp_dir().join(format!(
                    "clouddb-sim-{}-{}",
                    std::process::id(),
                    addr.port()
                ));
                (d.clone(), Some(TempDir(d)))
            }
        };
        std::fs::create_dir_all(&dir).map_err(|source| SimError::StateDir {
            path: dir.display().to_string(),
            source,
        })?;

        let (acceptor, ca_path) = if config.tls {
            let certs = tls::generate(&[])?;
            let ca_path = dir.join("ca.pem");
            tls::write_ca(&ca_path, &certs.ca_pem)?;
            (
                Some(tokio_rustls::TlsAcceptor::from(certs.server_config)),
                Some(ca_path),
            )
        } else {
            (None, None)
        };
        let (tx, rx) = watch::channel(false);
        tokio::spawn(server::serve(
            listener,
            acceptor.clone(),
            gateway.clone(),
            rx.clone(),
        ));
        tokio::spawn(server::serve(
            sls_listener,
            acceptor.clone(),
            sls_gateway.clone(),
            rx.clone(),
        ));
        tokio::spawn(server::serve(ch_listener, acceptor, ch_gateway.clone(), rx));
        tracing::info!(%addr, %sls_addr, %ch_addr, tls = config.tls, keys = config.keys.len(), "clouddb-sim listening");
        Ok(Simulator {
            addr,
            tls: config.tls,
            ca_path,
            keys: config.keys,
            gateway,
            ch_addr,
            ch_keys: config.clickhouse.keys,
            ch_organization_id: config.clickhouse.organization_id,
            ch_gateway,
            sls_addr,
            sls_gateway,
            shutdown: tx,
            _tempdir: tempdir,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT` (or `http://` without TLS): the Dedicated host; API paths start with `/v1beta1`.
    /// The legacy v1beta API (`/api/v1beta/...`: projects, backups, restores) is served here too, so this is
    /// also the legacy host (Terraform's `TIDBCLOUD_HOST`).
    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// The CA certificate (PEM) that signs the serving certificate; `None` without TLS.
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    /// The configured API key pairs.
    pub fn keys(&self) -> &[ApiKey] {
        &self.keys
    }

    /// The first key pair.
    pub fn key(&self) -> &ApiKey {
        &self.keys[0]
    }

    /// Request counters by key, method, route and status (the same rows as `GET /_sim/counters`).
    pub fn counters(&self) -> Vec<gateway::CounterRow> {
        self.gateway.counters()
    }

    /// The address of the ClickHouse Cloud listener.
    pub fn clickhouse_addr(&self) -> SocketAddr {
        self.ch_addr
    }

    /// `https://127.0.0.1:PORT` (or `http://` without TLS): the ClickHouse Cloud host, trusted through the
    /// same [`Simulator::ca_path`]; API paths start with `/v1` (Terraform's `api_url` is this plus `/v1`).
    pub fn clickhouse_base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.ch_addr
        )
    }

    /// The ClickHouse Cloud API keys: `public_key` is the key ID, `private_key` the key secret.
    pub fn clickhouse_keys(&self) -> &[ApiKey] {
        &self.ch_keys
    }

    /// The first ClickHouse Cloud key.
    pub fn clickhouse_key(&self) -> &ApiKey {
        &self.ch_keys[0]
    }

    /// The ClickHouse Cloud organization the keys belong to (a UUID).
    pub fn clickhouse_organization_id(&self) -> &str {
        &self.ch_organization_id
    }

    /// Request counters of the ClickHouse listener (the rows of its `GET /_sim/counters`).
    pub fn clickhouse_counters(&self) -> Vec<gateway::CounterRow> {
        self.ch_gateway.counters()
    }

    /// The address of the TiDB Cloud Serverless listener.
    pub fn serverless_addr(&self) -> SocketAddr {
        self.sls_addr
    }

    /// `https://127.0.0.1:PORT` (or `http://` without TLS): the Serverless host (`serverless.tidbapi.com`,
    /// Terraform's `TIDBCLOUD_SERVERLESS_ENDPOINT`), trusted through the same [`Simulator::ca_path`] and
    /// signed with the same [`Simulator::keys`]; API paths start with `/v1beta1`.
    pub fn serverless_base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.sls_addr
        )
    }

    /// Request counters of the Serverless listener (the rows of its `GET /_sim/counters`).
    pub fn serverless_counters(&self) -> Vec<gateway::CounterRow> {
        self.sls_gateway.counters()
    }

    /// Stops the server (also done on drop).
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }
}

async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), SimError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr, source })?;
    Ok((listener, local))
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop();
    }
}
