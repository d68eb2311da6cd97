//! clouddb-operator: `run` the controllers, print the `crd`s, or `--version`.

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use kube::runtime::wait::{await_condition, conditions};

use clouddb_operator::cloud::http::read_ca_file;
use clouddb_operator::config::RunConfig;
use clouddb_operator::controllers::Context;
use clouddb_operator::controllers::watch::Shared;
use clouddb_operator::controllers::{
    clickhouseservice, tidbcloudbranch, tidbcloudcluster, tidbcloudimport, tidbcloudintegration,
    tidbcloudserverlesscluster, tidbcloudsqluser,
};
use clouddb_operator::http::{self, Readiness};
use clouddb_operator::leader;
use clouddb_operator::metrics::Metrics;
use clouddb_operator::{api, telemetry};

#[derive(Parser, Debug)]
#[command(
    name = "clouddb-operator",
    version,
    about = "Kubernetes operator for managed-database clouds (TiDB Cloud, ClickHouse Cloud)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controllers (uses the in-cluster config or $KUBECONFIG).
    Run(Box<RunConfig>),
    /// Print the CustomResourceDefinitions and the deletion-protection policy as YAML.
    Crd,
    /// Show what the operator would do with manifests, writing nothing (exit 0 none, 2 changes, 1 errors)
    ///
    /// Also `kubectl clouddb plan` when the binary is installed as `kubectl-clouddb`. See docs/plan.md.
    Plan(Box<clouddb_operator::plan::PlanArgs>),
}

#[derive(thiserror::Error, Debug)]
enum MainError {
    #[error("cannot connect to Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("cloud client configuration: {0}")]
    Cloud(#[from] clouddb_operator::cloud::CloudError),
    #[error("metrics server: {0}")]
    Io(#[from] std::io::Error),
    #[error("CRD {0} is not installed or not established (install crds/ first): {1}")]
    Crd(String, String),
    #[error(transparent)]
    Leader(#[from] leader::LeaderError),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", api::crds_yaml());
            println!("---");
            print!("{}", api::deletion_protection_policy_yaml());
            std::process::ExitCode::SUCCESS
        }
        Command::Plan(args) => plan(*args),
        Command::Run(cfg) => {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            let _telemetry =
                match telemetry::init(&cfg.log_format, cfg.otlp_endpoint.as_deref(), rt.handle()) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("{e}");
                        return std::process::ExitCode::FAILURE;
                    }
                };
            match rt.block_on(run(*cfg)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "operator stopped");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

/// `clouddb-operator plan`: the report on standard output, diagnostics on standard error.
fn plan(args: clouddb_operator::plan::PlanArgs) -> std::process::ExitCode {
    use clouddb_operator::plan::{self, Output};
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let output = args.output;
    match rt.block_on(plan::plan(args)) {
        Ok(report) => {
            match output {
                Output::Text => print!("{}", report.text()),
                Output::Json => match serde_json::to_string_pretty(&report) {
                    Ok(json) => println!("{json}"),
                    Err(e) => {
                        eprintln!("cannot print the plan: {e}");
                        return std::process::ExitCode::from(1);
                    }
                },
            }
            std::process::ExitCode::from(report.exit_code())
        }
        Err(e) => {
            eprintln!("plan: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(cfg: RunConfig) -> Result<(), MainError> {
    tracing::info!(version = env!("CARGO_PKG_VERSION"), namespaces = ?cfg.namespaces(), api = %cfg.tidbcloud_api_url, "starting clouddb-operator");
    let kube = kube::Client::try_default().await?;
    let metrics = Metrics::new();
    let readiness = Readiness::default();
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let shutdown = move || {
        let mut rx = shutdown_rx.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    };
    let http_task = tokio::spawn(http::serve(
        cfg.metrics_addr,
        metrics.clone(),
        readiness.clone(),
        shutdown(),
    ));

    // ---- leader election (src/leader.rs): only the Lease holder goes on to run the controllers ----------------
    let Some(mut leadership) = leader::lead(
        kube.clone(),
        &cfg.leader_election,
        &cfg.operator_namespace,
        &readiness,
        shutdown_signal(),
    )
    .await?
    else {
        tracing::info!("shutting down (was standing by)");
        let _ = shutdown_tx.send(true);
        return Ok(());
    };
    // ---- end leader election ------------------------------------------------------------------------------------

    // Wait until our CRDs are established, so the watches do not fail in a loop on a fresh install.
    let crds: Api<CustomResourceDefinition> = Api::all(kube.clone());
    for crd in api::crds() {
        let crd_name = crd.metadata.name.unwrap_or_default();
        tokio::time::timeout(
            Duration::from_secs(60),
            await_condition(crds.clone(), &crd_name, conditions::is_crd_established()),
        )
        .await
        .map_err(|_| MainError::Crd(crd_name.clone(), "timed out after 60s".into()))?
        .map_err(|e| MainError::Crd(crd_name.clone(), e.to_string()))?;
    }

    let extra_ca_pem = match &cfg.extra_ca_file {
        Some(ca) => Some(read_ca_file(ca)?),
        None => None,
    };
    let ctx = Arc::new(Context::new(
        kube.clone(),
        cfg.clone(),
        metrics.clone(),
        extra_ca_pem,
    )?);

    // One task per kind and watched namespace (all namespaces: one per kind), all on the same shutdown.
    let namespaces = cfg.namespaces();
    let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().map(|ns| Some(ns.as_str())).collect()
    };
    let mut controllers = Vec::new();
    for scope in scopes {
        // One watch per kind and scope, shared by the controllers that need it: subscribe them all, then start it.
        let shared = Shared::new(kube.clone(), scope);
        let runs = [
            tidbcloudcluster::run(ctx.clone(), &shared, shutdown()),
            clickhouseservice::run(ctx.clone(), scoped(&kube, scope), &shared, shutdown()),
            tidbcloudimport::run(ctx.clone(), scoped(&kube, scope), &shared, shutdown()),
            tidbcloudintegration::run(ctx.clone(), scoped(&kube, scope), &shared, shutdown()),
            tidbcloudserverlesscluster::run(ctx.clone(), scoped(&kube, scope), &shared, shutdown()),
            tidbcloudsqluser::run(ctx.clone(), scoped(&kube, scope), &shared, shutdown()),
            tidbcloudbranch::run(ctx.clone(), scoped(&kube, scope), &shared, shutdown()),
        ];
        controllers.push(tokio::spawn(shared.run(shutdown())));
        controllers.extend(runs.into_iter().map(tokio::spawn));
    }

    // /readyz stays true only while every CRD is installed, established and not being deleted.
    for crd in api::crds() {
        let name = crd.metadata.name.unwrap_or_default();
        tokio::spawn(http::watch_crd(
            kube.clone(),
            name,
            readiness.clone(),
            shutdown(),
        ));
    }
    readiness.set_ready();
    tracing::info!("controllers running");

    // Leader election: a lost Lease stops the process at once (non-zero exit), without waiting for the controllers.
    tokio::select! {
        () = shutdown_signal() => {},
        lost = leadership.lost() => return Err(lost.into()),
    }
    tracing::info!("shutting down");
    let _ = shutdown_tx.send(true);
    // Running reconciles finish; then the Lease is handed over at once. If they do not finish in time, the
    // process exits without releasing: the Lease then expires by itself, so no successor overlaps a write.
    let stopped =
        tokio::time::timeout(SHUTDOWN_GRACE, futures::future::join_all(controllers)).await;
    match stopped {
        Ok(_) => {
            tracing::info!("controllers stopped");
            leadership.release().await;
        }
        Err(_) => tracing::warn!(
            grace = ?SHUTDOWN_GRACE,
            "controllers did not stop in time; leaving the Lease to expire"
        ),
    }
    match http_task.await {
        Ok(r) => r?,
        Err(e) => tracing::warn!(error = %e, "metrics server task failed"),
    }
    Ok(())
}

/// How long running reconciles get to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// An API for `K` in `namespace`, or in all namespaces.
fn scoped<K>(kube: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(kube.clone(), ns),
        None => Api::all(kube.clone()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
