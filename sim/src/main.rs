//! `clouddb-sim`: run the TiDB Cloud API simulator as a server.
use clap::{Parser, ValueEnum};
use clouddb_sim::{
    ApiKey, ClickHouseConfig, ClickHouseDelays, Delays, FaultRule, QuotaConfig, ServerlessConfig,
    ServerlessDelays, SimConfig, Simulator,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Profile {
    /// Transitions take about a second (tests).
    Fast,
    /// Transitions take as long as on the real service: a create ~20 min (demos).
    Realistic,
    /// Transitions complete on the next read.
    Instant,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// A local simulator of the TiDB Cloud management API: Dedicated v1beta1 (clusters, node groups, regions,
/// node specs, imports, integrations), IAM v1beta1 (projects, API keys) and legacy v1beta (projects, backups,
/// restores, under /api/v1beta on the same listener), with HTTP digest authentication,
/// per-key quotas and rate-limit headers, a realistic state machine, fault injection and an admin API under
/// /_sim/ (health, counters, reset, faults); on a second listener Serverless v1beta1 (Starter/Essential
/// clusters, branches, backups, restore, imports) with the same keys and per-key quota — and, on a third listener, of the ClickHouse Cloud v1 API
/// (organizations, services and the calls around a service read, API keys, roles) with Basic authentication, 10 requests per 10 s per key and the same admin API.
#[derive(Debug, Parser)]
#[command(name = "clouddb-sim", version)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "CLOUDDB_SIM_LISTEN", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Serve plain HTTP instead of HTTPS (debugging only; the official clients insist on https).
    #[arg(long)]
    plain_http: bool,
    /// Directory for ca.pem (the CA to trust, e.g. curl --cacert or SSL_CERT_FILE) and, when a key is
    /// generated, api-keys (PUBLIC:PRIVATE, mode 0600). Default: a fresh temporary directory.
    #[arg(long, env = "CLOUDDB_SIM_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// An API key pair PUBLIC:PRIVATE (repeatable). Each key has its own quota.
    #[arg(long = "api-key", value_name = "PUBLIC:PRIVATE")]
    api_keys: Vec<String>,
    /// API key pairs from the environment, PUBLIC:PRIVATE separated by commas.
    #[arg(
        long,
        env = "CLOUDDB_SIM_API_KEYS",
        hide_env_values = true,
        value_name = "LIST"
    )]
    api_keys_env: Option<String>,
    /// A file of API key pairs, one PUBLIC:PRIVATE per line (# comments allowed).
    #[arg(long, env = "CLOUDDB_SIM_API_KEYS_FILE")]
    api_keys_file: Option<PathBuf>,
    /// Requests allowed per key in each quota window (the real service allows 100 per minute).
    #[arg(long, default_value_t = 100)]
    quota_per_minute: u32,
    /// Length of the quota window (e.g. 60s; shorter windows scale benchmarks down).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    quota_window: Duration,
    /// Preset transition delays; the --delay-* flags override single ones.
    #[arg(long, value_enum, default_value = "fast")]
    profile: Profile,
    /// Cluster CREATING → ACTIVE.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_create: Option<Duration>,
    /// Cluster MODIFYING → ACTIVE.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_modify: Option<Duration>,
    /// Cluster PAUSING → PAUSED.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_pause: Option<Duration>,
    /// Cluster RESUMING → ACTIVE.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_resume: Option<Duration>,
    /// Cluster DELETING → gone (404).
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_delete: Option<Duration>,
    /// Import PREPARING → IMPORTING.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_import_prepare: Option<Duration>,
    /// Import IMPORTING 0 % → COMPLETED.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_import_run: Option<Duration>,
    /// Import CANCELING → CANCELED.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_import_cancel: Option<Duration>,
    /// New TiDB node group MODIFYING → ACTIVE.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_node_group_create: Option<Duration>,
    /// Resized TiDB node group MODIFYING → ACTIVE.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_node_group_modify: Option<Duration>,
    /// Deleted TiDB node group MODIFYING → gone (404).
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_node_group_delete: Option<Duration>,
    /// Private endpoint connection PENDING → ACTIVE.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_private_endpoint_accept: Option<Duration>,
    /// Private endpoint connection DELETING → gone (404).
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_private_endpoint_delete: Option<Duration>,
    /// Legacy v1beta backup PENDING → RUNNING.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_backup_start: Option<Duration>,
    /// Legacy v1beta backup RUNNING → SUCCESS.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_backup_run: Option<Duration>,
    /// Legacy v1beta restore: new cluster RESTORING → ACTIVE.
    #[arg(long, value_parser = humantime::parse_duration)]
    delay_restore: Option<Duration>,
    /// Catalogue of regions, node specs, projects and node quotas (JSON; default: the built-in
    /// sim/data/catalog.json).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Node quota override COMPONENT=N (TIDB, TIKV, TIFLASH), repeatable.
    #[arg(long = "node-quota", value_name = "COMPONENT=N")]
    node_quota: Vec<String>,
    /// How long a digest nonce stays valid (a later use gets a fresh challenge with stale=true).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    nonce_ttl: Duration,
    /// An integration API key value that the simulated Datadog/New Relic reject (the integration goes to
    /// ERROR with a statusReason), repeatable. Also settable at run time through the admin API.
    #[arg(
        long = "reject-integration-api-key",
        value_name = "KEY",
        hide_env_values = true
    )]
    rejected_integration_keys: Vec<String>,
    /// An import whose source URI contains this text fails at 40 % with a message.
    #[arg(long, default_value = "sim-fail")]
    import_fail_marker: String,
    /// A fault rule active from the start, repeatable: KIND[:ARG][xCOUNT|%FRACTION][@METHOD][~PATH_PREFIX]
    /// with KIND fail (ARG = status, default 500), throttle (429), reset (close the connection),
    /// latency (ARG = ms), drop-after-commit (apply a mutation, then close the connection; ARG = hold ms).
    /// Examples: fail:503%0.1, reset x3@GET, latency:200, drop-after-commit x1@POST~/v1beta1/clusters
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<String>,
    /// Address of the TiDB Cloud Serverless listener (serverless.tidbapi.com: its /v1beta1/clusters paths
    /// collide with Dedicated's). Same TLS CA, API keys and per-key quota as the Dedicated listener. The
    /// default port 0 picks a free port (printed at start).
    #[arg(
        long,
        env = "CLOUDDB_SIM_SERVERLESS_LISTEN",
        default_value = "127.0.0.1:0"
    )]
    serverless_listen: SocketAddr,
    /// Serverless cluster CREATING → ACTIVE.
    #[arg(long, value_parser = humantime::parse_duration)]
    serverless_delay_create: Option<Duration>,
    /// Serverless cluster DELETING → gone (404).
    #[arg(long, value_parser = humantime::parse_duration)]
    serverless_delay_delete: Option<Duration>,
    /// Serverless cluster created by clusters:restore RESTORING → ACTIVE.
    #[arg(long, value_parser = humantime::parse_duration)]
    serverless_delay_restore: Option<Duration>,
    /// Serverless branch CREATING → ACTIVE.
    #[arg(long, value_parser = humantime::parse_duration)]
    serverless_delay_branch_create: Option<Duration>,
    /// Serverless branch :reset RESTORING → ACTIVE.
    #[arg(long, value_parser = humantime::parse_duration)]
    serverless_delay_branch_reset: Option<Duration>,
    /// Serverless branch DELETED → gone (404).
    #[arg(long, value_parser = humantime::parse_duration)]
    serverless_delay_branch_delete: Option<Duration>,
    /// A fault rule on the Serverless listener, repeatable (same syntax as --fault), e.g.
    /// drop-after-commit x1@POST~/v1beta1/clusters
    #[arg(long = "serverless-fault", value_name = "SPEC")]
    serverless_faults: Vec<String>,
    /// Address of the ClickHouse Cloud listener. The default port 0 picks a free port (printed at start);
    /// 127.0.0.1:2023 is where ClickHouse's own tools once expected a local API.
    #[arg(
        long,
        env = "CLOUDDB_SIM_CLICKHOUSE_LISTEN",
        default_value = "127.0.0.1:0"
    )]
    clickhouse_listen: SocketAddr,
    /// A ClickHouse Cloud API key KEY_ID:KEY_SECRET (repeatable). Without any, one is generated and written
    /// to <state dir>/clickhouse-api-keys.
    #[arg(long = "clickhouse-api-key", value_name = "KEY_ID:KEY_SECRET")]
    clickhouse_api_keys: Vec<String>,
    /// ClickHouse Cloud API keys from the environment, KEY_ID:KEY_SECRET separated by commas.
    #[arg(
        long,
        env = "CLOUDDB_SIM_CLICKHOUSE_API_KEYS",
        hide_env_values = true,
        value_name = "LIST"
    )]
    clickhouse_api_keys_env: Option<String>,
    /// The ClickHouse Cloud organization id (a UUID; default: a random one, printed at start).
    #[arg(long, env = "CLOUDDB_SIM_CLICKHOUSE_ORGANIZATION_ID")]
    clickhouse_organization_id: Option<String>,
    /// ClickHouse requests allowed per key in each window (the real API: 10 per 10 s).
    #[arg(long, default_value_t = 10)]
    clickhouse_quota: u32,
    /// Length of the ClickHouse quota window.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    clickhouse_quota_window: Duration,
    /// ClickHouse service provisioning → running.
    #[arg(long, value_parser = humantime::parse_duration)]
    clickhouse_delay_provision: Option<Duration>,
    /// ClickHouse service stopping → stopped.
    #[arg(long, value_parser = humantime::parse_duration)]
    clickhouse_delay_stop: Option<Duration>,
    /// ClickHouse service starting → running.
    #[arg(long, value_parser = humantime::parse_duration)]
    clickhouse_delay_start: Option<Duration>,
    /// ClickHouse service awaking → running.
    #[arg(long, value_parser = humantime::parse_duration)]
    clickhouse_delay_awake: Option<Duration>,
    /// ClickHouse service terminating → gone (404).
    #[arg(long, value_parser = humantime::parse_duration)]
    clickhouse_delay_terminate: Option<Duration>,
    /// A running ClickHouse service with idleScaling goes idle after this long (default: never by itself).
    #[arg(long, value_parser = humantime::parse_duration)]
    clickhouse_idle_after: Option<Duration>,
    /// For this long after a ClickHouse service reaches stopped, DELETE still answers 409 (as the real API
    /// sometimes does).
    #[arg(long, value_parser = humantime::parse_duration)]
    clickhouse_delete_conflict_after_stop: Option<Duration>,
    /// A fault rule on the ClickHouse listener, repeatable (same syntax as --fault), e.g.
    /// drop-after-commit x1@POST~/v1/organizations
    #[arg(long = "clickhouse-fault", value_name = "SPEC")]
    clickhouse_faults: Vec<String>,
    /// Log format (the level comes from RUST_LOG, default info).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Keys(#[from] clouddb_sim::config::KeyParseError),
    #[error(transparent)]
    Fault(#[from] clouddb_sim::faults::FaultError),
    #[error("--clickhouse-organization-id {0:?}: expected a UUID")]
    Organization(String),
    #[error("--node-quota {0:?}: expected COMPONENT=N, e.g. TIKV=3000")]
    NodeQuota(String),
    #[error(transparent)]
    Sim(#[from] clouddb_sim::SimError),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("waiting for a shutdown signal: {0}")]
    Signal(std::io::Error),
}

fn config(cli: &Cli) -> Result<SimConfig, CliError> {
    let mut keys = Vec::new();
    for k in &cli.api_keys {
        keys.extend(ApiKey::parse_list(k)?);
    }
    if let Some(list) = &cli.api_keys_env {
        keys.extend(ApiKey::parse_list(list)?);
    }
    if let Some(f) = &cli.api_keys_file {
        keys.extend(ApiKey::read_file(f)?);
    }
    let mut delays = match cli.profile {
        Profile::Fast => Delays::fast(),
        Profile::Realistic => Delays::realistic(),
        Profile::Instant => Delays::instant(),
    };
    let set = |slot: &mut Duration, v: Option<Duration>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    set(&mut delays.cluster_create, cli.delay_create);
    set(&mut delays.cluster_modify, cli.delay_modify);
    set(&mut delays.cluster_pause, cli.delay_pause);
    set(&mut delays.cluster_resume, cli.delay_resume);
    set(&mut delays.cluster_delete, cli.delay_delete);
    set(&mut delays.import_prepare, cli.delay_import_prepare);
    set(&mut delays.import_run, cli.delay_import_run);
    set(&mut delays.import_cancel, cli.delay_import_cancel);
    set(&mut delays.node_group_create, cli.delay_node_group_create);
    set(&mut delays.node_group_modify, cli.delay_node_group_modify);
    set(&mut delays.node_group_delete, cli.delay_node_group_delete);
    set(
        &mut delays.private_endpoint_accept,
        cli.delay_private_endpoint_accept,
    );
    set(
        &mut delays.private_endpoint_delete,
        cli.delay_private_endpoint_delete,
    );
    set(&mut delays.backup_start, cli.delay_backup_start);
    set(&mut delays.backup_run, cli.delay_backup_run);
    set(&mut delays.restore, cli.delay_restore);
    let node_quota = cli
        .node_quota
        .iter()
        .map(|q| match q.split_once('=') {
            Some((c, n)) => n
                .trim()
                .parse::<i32>()
                .map(|n| (c.trim().to_ascii_uppercase(), n))
                .map_err(|_| CliError::NodeQuota(q.clone())),
            None => Err(CliError::NodeQuota(q.clone())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let faults = cli
        .faults
        .iter()
        .map(|f| FaultRule::parse_spec(f))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SimConfig {
        listen: cli.listen,
        tls: !cli.plain_http,
        state_dir: cli.state_dir.clone(),
        keys,
        quota: QuotaConfig {
            limit: cli.quota_per_minute,
            window: cli.quota_window,
        },
        delays,
        catalog: cli.catalog.clone(),
        node_quota,
        nonce_ttl: cli.nonce_ttl,
        rejected_integration_keys: cli.rejected_integration_keys.clone(),
        import_fail_marker: cli.import_fail_marker.clone(),
        faults,
        clickhouse: clickhouse_config(cli)?,
        serverless: serverless_config(cli)?,
    })
}

fn serverless_config(cli: &Cli) -> Result<ServerlessConfig, CliError> {
    let mut delays = match cli.profile {
        Profile::Fast => ServerlessDelays::fast(),
        Profile::Realistic => ServerlessDelays::realistic(),
        Profile::Instant => ServerlessDelays::instant(),
    };
    for (slot, v) in [
        (&mut delays.cluster_create, cli.serverless_delay_create),
        (&mut delays.cluster_delete, cli.serverless_delay_delete),
        (&mut delays.restore, cli.serverless_delay_restore),
        (
            &mut delays.branch_create,
            cli.serverless_delay_branch_create,
        ),
        (&mut delays.branch_reset, cli.serverless_delay_branch_reset),
        (
            &mut delays.branch_delete,
            cli.serverless_delay_branch_delete,
        ),
    ] {
        if let Some(v) = v {
            *slot = v;
        }
    }
    Ok(ServerlessConfig {
        listen: cli.serverless_listen,
        delays,
        faults: cli
            .serverless_faults
            .iter()
            .map(|f| FaultRule::parse_spec(f))
            .collect::<Result<Vec<_>, _>>()?,
    })
}

fn clickhouse_config(cli: &Cli) -> Result<ClickHouseConfig, CliError> {
    let mut keys = Vec::new();
    for k in &cli.clickhouse_api_keys {
        keys.extend(ApiKey::parse_list(k)?);
    }
    if let Some(list) = &cli.clickhouse_api_keys_env {
        keys.extend(ApiKey::parse_list(list)?);
    }
    let mut delays = match cli.profile {
        Profile::Fast => ClickHouseDelays::fast(),
        Profile::Realistic => ClickHouseDelays::realistic(),
        Profile::Instant => ClickHouseDelays::instant(),
    };
    let set = |slot: &mut Duration, v: Option<Duration>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    set(&mut delays.provision, cli.clickhouse_delay_provision);
    set(&mut delays.stop, cli.clickhouse_delay_stop);
    set(&mut delays.start, cli.clickhouse_delay_start);
    set(&mut delays.awake, cli.clickhouse_delay_awake);
    set(&mut delays.terminate, cli.clickhouse_delay_terminate);
    delays.idle_after = cli.clickhouse_idle_after;
    set(
        &mut delays.delete_conflict_after_stop,
        cli.clickhouse_delete_conflict_after_stop,
    );
    let mut config = ClickHouseConfig {
        listen: cli.clickhouse_listen,
        keys,
        quota: QuotaConfig {
            limit: cli.clickhouse_quota,
            window: cli.clickhouse_quota_window,
        },
        delays,
        faults: cli
            .clickhouse_faults
            .iter()
            .map(|f| FaultRule::parse_spec(f))
            .collect::<Result<Vec<_>, _>>()?,
        ..ClickHouseConfig::default()
    };
    if let Some(org) = &cli.clickhouse_organization_id {
        if !clouddb_sim::api::is_uuid(org) {
            return Err(CliError::Organization(org.clone()));
        }
        config.organization_id = org.to_ascii_lowercase();
    }
    Ok(config)
}

fn write_private(path: &std::path::Path, text: &str) -> Result<(), CliError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| CliError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let mut cfg = config(&cli)?;
    let generated = cfg.keys.is_empty();
    if generated {
        cfg.keys.push(ApiKey::random());
    }
    let ch_generated = cfg.clickhouse.keys.is_empty();
    if ch_generated {
        cfg.clickhouse.keys.push(ApiKey::random_clickhouse());
    }
    let state_dir = cfg.state_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("clouddb-sim-{}", std::process::id()))
    });
    cfg.state_dir = Some(state_dir.clone());
    let sim = Simulator::start(cfg).await?;
    println!("clouddb-sim listening on {}", sim.base_url());
    if let Some(ca) = sim.ca_path() {
        println!(
            "CA certificate: {}  (curl --cacert, or SSL_CERT_FILE for Go clients)",
            ca.display()
        );
    }
    if generated {
        let path = state_dir.join("api-keys");
        let k = sim.key();
        write_private(&path, &format!("{}:{}\n", k.public_key, k.private_key))?;
        println!(
            "generated API key {} (PUBLIC:PRIVATE in {}, mode 0600)",
            k.public_key,
            path.display()
        );
    } else {
        let ids: Vec<&str> = sim.keys().iter().map(|k| k.public_key.as_str()).collect();
        println!("API keys: {}", ids.join(", "));
    }
    println!(
        "legacy v1beta API (backups, restores, projects; TIDBCLOUD_HOST): {}/api/v1beta",
        sim.base_url()
    );
    println!(
        "admin API: {}/_sim/health, /_sim/counters, /_sim/faults, /_sim/reset",
        sim.base_url()
    );
    println!(
        "Serverless API listening on {}/v1beta1 (same API keys and quota; TIDBCLOUD_SERVERLESS_ENDPOINT)",
        sim.serverless_base_url()
    );
    println!(
        "Serverless admin API: {}/_sim/health, /_sim/counters, /_sim/faults, /_sim/reset, /_sim/serverless/...",
        sim.serverless_base_url()
    );
    println!(
        "ClickHouse Cloud API listening on {}/v1 (organization {})",
        sim.clickhouse_base_url(),
        sim.clickhouse_organization_id()
    );
    if ch_generated {
        let path = state_dir.join("clickhouse-api-keys");
        let k = sim.clickhouse_key();
        write_private(&path, &format!("{}:{}\n", k.public_key, k.private_key))?;
        println!(
            "generated ClickHouse API key {} (KEY_ID:KEY_SECRET in {}, mode 0600)",
            k.public_key,
            path.display()
        );
    } else {
        let ids: Vec<&str> = sim
            .clickhouse_keys()
            .iter()
            .map(|k| k.public_key.as_str())
            .collect();
        println!("ClickHouse API keys: {}", ids.join(", "));
    }
    println!(
        "ClickHouse admin API: {}/_sim/health, /_sim/counters, /_sim/faults, /_sim/reset, /_sim/clickhouse/services",
        sim.clickhouse_base_url()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(CliError::Signal)?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(CliError::Signal)?,
        _ = term.recv() => {}
    }
    sim.stop();
    println!("clouddb-sim stopped");
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // Colours only on a terminal: logs piped to a file or a CI log stay plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("clouddb-sim: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clouddb-sim: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
