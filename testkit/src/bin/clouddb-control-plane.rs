//! `clouddb-control-plane up`: a local Kubernetes control plane for a person at a terminal and for demos.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use clouddb_testkit::{ControlPlane, ControlPlaneOptions, OPERATOR_USERNAME};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser, Debug)]
#[command(
    name = "clouddb-control-plane",
    version,
    about = "Run a local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) on loopback",
    long_about = "Run a local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) on loopback \
                  ports, for developing and demonstrating clouddb-operator without a cluster.\n\n\
                  The binaries come from tools/control-plane/build.sh (or --bin-dir / K8S_BIN_DIR). \
                  kube-controller-manager runs only the garbage collector and the namespace controller: there \
                  are no nodes, so Pods never run."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the control plane, print how to reach it, and run until Ctrl-C or SIGTERM; then stop it cleanly.
    Up(UpArgs),
}

#[derive(Args, Debug)]
struct UpArgs {
    /// State directory for kubeconfigs, certificates, etcd data and logs. Default: a new directory under
    /// $TMPDIR/clouddb-control-plane, removed on exit. A directory given here is kept on exit and reused
    /// (emptied) by the next `up` with the same --dir; it must be empty or one this command made.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Keep the state directory (with the logs) on exit.
    #[arg(long)]
    keep: bool,

    /// Directory holding etcd, kube-apiserver, kube-controller-manager and kubectl.
    /// Default: $HOME/.cache/clouddb-operator/k8s/current, as made by tools/control-plane/build.sh.
    #[arg(long, env = "K8S_BIN_DIR", value_name = "DIR")]
    bin_dir: Option<PathBuf>,

    /// How long to wait for the control plane to become ready, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 90)]
    timeout: u64,

    /// CustomResourceDefinition YAML file to install before kube-controller-manager starts, so that its garbage
    /// collector handles the kind at once (repeatable; CRDs applied later are picked up within about 30 s).
    #[arg(long = "crd", value_name = "FILE")]
    crds: Vec<PathBuf>,

    /// Do not start kube-controller-manager (then nothing garbage-collects owned objects and deleted namespaces
    /// stay Terminating).
    #[arg(long)]
    no_controller_manager: bool,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    ControlPlane(#[from] clouddb_testkit::Error),
    #[error("cannot read CRD file {path}: {source}")]
    ReadCrd {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    ParseCrd {
        path: PathBuf,
        #[source]
        source: clouddb_testkit::Error,
    },
    #[error("cannot listen for {signal}: {source}")]
    Signal {
        signal: &'static str,
        #[source]
        source: std::io::Error,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("clouddb-control-plane: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn up(args: UpArgs) -> Result<ExitCode, CliError> {
    let keep_dir = args.keep || args.dir.is_some();
    let mut options = ControlPlaneOptions {
        bin_dir: args.bin_dir,
        dir: args.dir,
        keep_dir,
        start_timeout: Duration::from_secs(args.timeout),
        controller_manager: !args.no_controller_manager,
        ..ControlPlaneOptions::default()
    };
    for path in &args.crds {
        let yaml = std::fs::read_to_string(path).map_err(|source| CliError::ReadCrd {
            path: path.clone(),
            source,
        })?;
        options = options
            .with_crd_yaml(&yaml)
            .map_err(|source| CliError::ParseCrd {
                path: path.clone(),
                source,
            })?;
    }
    let listen = |kind: SignalKind, name: &'static str| {
        signal(kind).map_err(|source| CliError::Signal {
            signal: name,
            source,
        })
    };
    let mut sigterm = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut sighup = listen(SignalKind::hangup(), "SIGHUP")?;
    let mut sigint = listen(SignalKind::interrupt(), "SIGINT (Ctrl-C)")?;

    eprintln!(
        "clouddb-control-plane: starting etcd, kube-apiserver and kube-controller-manager ..."
    );
    let cp = tokio::select! {
        cp = ControlPlane::start(options) => cp?,
        // Dropping the start future stops whatever it had started.
        _ = sigint.recv() => { eprintln!("clouddb-control-plane: interrupted during start"); return Ok(ExitCode::from(130)); }
        _ = sigterm.recv() => { eprintln!("clouddb-control-plane: terminated during start"); return Ok(ExitCode::from(143)); }
    };

    let dir = cp.dir().display().to_string();
    let admin = cp.admin_kubeconfig().display().to_string();
    println!("control plane ready: {}", cp.timings());
    println!("  API server:          {}", cp.api_url());
    println!("  admin kubeconfig:    {admin}");
    println!(
        "  operator kubeconfig: {} (user {OPERATOR_USERNAME})",
        cp.operator_kubeconfig().display()
    );
    match cp.kubectl() {
        Some(kubectl) => println!("  kubectl:             {}", kubectl.display()),
        None => println!(
            "  kubectl:             (none in {})",
            cp.binaries().dir.display()
        ),
    }
    println!(
        "  state directory:     {dir}{}",
        if keep_dir {
            " (kept on exit)"
        } else {
            " (removed on exit)"
        }
    );
    println!("  logs:                {dir}/{{etcd,kube-apiserver,kube-controller-manager}}.log");
    println!();
    println!("export KUBECONFIG={admin}");
    if let Some(kubectl) = cp.kubectl() {
        println!("alias kubectl={}", kubectl.display());
    }
    println!();
    println!("Press Ctrl-C to stop.");

    let mut liveness = tokio::time::interval(Duration::from_secs(1));
    let (reason, code) = loop {
        tokio::select! {
            _ = sigint.recv() => break ("Ctrl-C", ExitCode::SUCCESS),
            _ = sigterm.recv() => break ("SIGTERM", ExitCode::SUCCESS),
            _ = sighup.recv() => break ("SIGHUP", ExitCode::SUCCESS),
            _ = liveness.tick() => {
                if let Err(e) = cp.check_running() {
                    eprintln!("clouddb-control-plane: {e}");
                    break ("a component exited", ExitCode::FAILURE);
                }
            }
        }
    };
    eprintln!(
        "clouddb-control-plane: {reason}: stopping kube-controller-manager, kube-apiserver, etcd ..."
    );
    let stopped = tokio::task::spawn_blocking(move || cp.stop()).await;
    if stopped.is_err() {
        eprintln!(
            "clouddb-control-plane: stopping panicked; the components die with this process anyway"
        );
        return Ok(ExitCode::FAILURE);
    }
    eprintln!(
        "clouddb-control-plane: stopped{}",
        if keep_dir {
            format!("; state kept in {dir}")
        } else {
            String::new()
        }
    );
    Ok(code)
}
