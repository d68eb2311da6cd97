//! Starting and stopping etcd + kube-apiserver + kube-controller-manager on loopback.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::spawn::{own_start_time, process_alive, spawn_child, stop_child};

/// Namespace of the operator's ServiceAccount; the operator identity is that ServiceAccount.
pub const OPERATOR_NAMESPACE: &str = "clouddb-system";
/// Name of the operator's ServiceAccount.
pub const OPERATOR_SERVICE_ACCOUNT: &str = "clouddb-operator";
/// User name the API server gives the operator identity (what RBAC subjects of kind ServiceAccount match).
pub const OPERATOR_USERNAME: &str = "system:serviceaccount:clouddb-system:clouddb-operator";
/// User name of the admin identity (group `system:masters`).
pub const ADMIN_USERNAME: &str = "clouddb-admin";

/// File in every state directory naming the process that owns it (`<pid> <start time>`).
pub const MARKER_FILE: &str = ".clouddb-control-plane";

const ETCD: &str = "etcd";
const APISERVER: &str = "kube-apiserver";
const CONTROLLER_MANAGER: &str = "kube-controller-manager";
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
const STOP_GRACE: Duration = Duration::from_secs(5);
const START_ATTEMPTS: u32 = 3;

/// How to start a [`ControlPlane`].
#[derive(Debug, Clone)]
pub struct ControlPlaneOptions {
    /// Directory holding `etcd`, `kube-apiserver`, `kube-controller-manager` (and optionally `kubectl`).
    /// `None`: env `K8S_BIN_DIR`, else `$XDG_CACHE_HOME` or `$HOME/.cache` + `/clouddb-operator/k8s/current`.
    pub bin_dir: Option<PathBuf>,
    /// State directory (certificates, kubeconfigs, etcd data, logs). `None`: a new directory under
    /// `$TMPDIR/clouddb-control-plane/`. An existing directory must be empty or one this crate created.
    pub dir: Option<PathBuf>,
    /// Keep the state directory when the control plane stops (it is always kept when start fails, for its logs).
    pub keep_dir: bool,
    /// Upper bound for the whole start, from spawning etcd to a healthy kube-controller-manager.
    pub start_timeout: Duration,
    /// Start kube-controller-manager with the garbage collector and the namespace controller.
    pub controller_manager: bool,
    /// CustomResourceDefinitions to install (and wait for) before kube-controller-manager starts. The garbage
    /// collector then watches their kinds from its start; kinds added later it discovers only on its 30 s
    /// discovery resync, so deleting the owner of a custom resource's dependents takes up to about a minute to
    /// cascade for a CRD installed after start.
    pub crds: Vec<CustomResourceDefinition>,
}

impl ControlPlaneOptions {
    /// Adds a CustomResourceDefinition given as YAML to [`ControlPlaneOptions::crds`].
    pub fn with_crd_yaml(mut self, yaml: &str) -> Result<Self> {
        self.crds
            .push(serde_saphyr::from_str(yaml).map_err(|e| Error::CrdYaml(e.to_string()))?);
        Ok(self)
    }
}

impl Default for ControlPlaneOptions {
    fn default() -> Self {
        ControlPlaneOptions {
            bin_dir: None,
            dir: None,
            keep_dir: false,
            start_timeout: Duration::from_secs(90),
            controller_manager: true,
            crds: Vec::new(),
        }
    }
}

/// Paths of the control-plane binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub dir: PathBuf,
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    /// `kubectl` of the same Kubernetes version, when present (not needed by the control plane itself).
    pub kubectl: Option<PathBuf>,
}

impl Binaries {
    /// The directory used when none is given: env `K8S_BIN_DIR`, else the `current` link that
    /// `tools/control-plane/build.sh` maintains.
    pub fn default_dir() -> Result<PathBuf> {
        if let Some(dir) = std::env::var_os("K8S_BIN_DIR").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            Some(cache) => PathBuf::from(cache),
            None => PathBuf::from(
                std::env::var_os("HOME")
                    .filter(|d| !d.is_empty())
                    .ok_or(Error::NoBinDir)?,
            )
            .join(".cache"),
        };
        Ok(cache.join("clouddb-operator/k8s/current"))
    }

    /// Finds the binaries in `dir` (or [`Binaries::default_dir`]); [`Error::BinariesMissing`] lists what is not
    /// there.
    pub fn locate(dir: Option<&Path>) -> Result<Binaries> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => Self::default_dir()?,
        };
        let exe = |name: &str| {
            let path = dir.join(name);
            is_executable(&path).then_some(path)
        };
        let (etcd, apiserver, kcm) = (exe(ETCD), exe(APISERVER), exe(CONTROLLER_MANAGER));
        match (etcd, apiserver, kcm) {
            (Some(etcd), Some(kube_apiserver), Some(kube_controller_manager)) => Ok(Binaries {
                kubectl: exe("kubectl"),
                dir,
                etcd,
                kube_apiserver,
                kube_controller_manager,
            }),
            (etcd, apiserver, kcm) => {
                let missing = [
                    (ETCD, etcd),
                    (APISERVER, apiserver),
                    (CONTROLLER_MANAGER, kcm),
                ]
                .into_iter()
                .filter(|(_, found)| found.is_none())
                .map(|(name, _)| name)
                .collect::<Vec<_>>()
                .join(", ");
                Err(Error::BinariesMissing { dir, missing })
            }
        }
    }
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How long each stage of [`ControlPlane::start`] took, measured from the start call.
#[derive(Debug, Clone, Copy)]
pub struct StartupTimings {
    /// Until etcd answered `/health` with `true`.
    pub etcd_healthy: Duration,
    /// Until kube-apiserver answered `/readyz` with `ok` (the figure to quote as "start to ready").
    pub apiserver_ready: Duration,
    /// Until kube-controller-manager answered `/healthz` with `ok`, when it was started.
    pub controller_manager_healthy: Option<Duration>,
    /// Number of start attempts (more than one when a picked port was taken before a component bound it).
    pub attempts: u32,
}

impl std::fmt::Display for StartupTimings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "etcd healthy at {:.2}s, kube-apiserver /readyz ok at {:.2}s",
            self.etcd_healthy.as_secs_f64(),
            self.apiserver_ready.as_secs_f64()
        )?;
        if let Some(kcm) = self.controller_manager_healthy {
            write!(
                f,
                ", kube-controller-manager /healthz ok at {:.2}s",
                kcm.as_secs_f64()
            )?;
        }
        if self.attempts > 1 {
            write!(f, " ({} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

struct Component {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// The running processes, stopped in reverse start order when dropped (also on a failed or cancelled start).
#[derive(Default)]
struct Components(Vec<Component>);

impl Components {
    fn stop_all(&mut self) {
        while let Some(mut c) = self.0.pop() {
            stop_child(&mut c.child, STOP_GRACE);
        }
    }

    /// The first component that is no longer running, as an error carrying its log tail.
    fn check_running(&mut self) -> Result<()> {
        for c in &mut self.0 {
            if let Ok(Some(status)) = c.child.try_wait() {
                return Err(Error::ExitedEarly {
                    component: c.name,
                    status: status.to_string(),
                    tail: log_tail(&c.log, 40),
                    log: c.log.clone(),
                });
            }
        }
        Ok(())
    }
}

impl Drop for Components {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// A running control plane: etcd, kube-apiserver and (optionally) kube-controller-manager, each a child process
/// that dies with this process. Dropping it stops and reaps all of them and removes the state directory unless
/// [`ControlPlaneOptions::keep_dir`] was set.
pub struct ControlPlane {
    dir: PathBuf,
    keep_dir: bool,
    binaries: Binaries,
    api_url: String,
    admin_kubeconfig: PathBuf,
    operator_kubeconfig: PathBuf,
    timings: StartupTimings,
    components: Mutex<Components>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("dir", &self.dir)
            .field("api_url", &self.api_url)
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

struct Ports {
    etcd_client: u16,
    etcd_peer: u16,
    apiserver: u16,
    controller_manager: u16,
}

impl Ports {
    /// Asks the kernel for four distinct free loopback ports (all bound at once, then released).
    fn pick() -> Result<Ports> {
        let listeners = (0..4)
            .map(|_| TcpListener::bind(("127.0.0.1", 0)))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(Error::NoFreePort)?;
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(Error::NoFreePort)?;
        Ok(Ports {
            etcd_client: ports[0],
            etcd_peer: ports[1],
            apiserver: ports[2],
            controller_manager: ports[3],
        })
    }
}

impl ControlPlane {
    /// Starts etcd, then kube-apiserver (waiting for `/readyz`), then kube-controller-manager (waiting for
    /// `/healthz`), on free loopback ports, and writes `admin.kubeconfig` and `operator.kubeconfig`.
    ///
    /// Every wait is bounded by [`ControlPlaneOptions::start_timeout`]; a component that exits early fails the
    /// start at once with the end of its log. If a picked port was taken in the meantime, the start is retried
    /// with new ports.
    pub async fn start(options: ControlPlaneOptions) -> Result<ControlPlane> {
        let started = Instant::now();
        let binaries = Binaries::locate(options.bin_dir.as_deref())?;
        let dir = prepare_dir(options.dir.as_deref())?;
        let mut attempt = 1;
        loop {
            match Self::start_once(&options, &binaries, &dir, started, attempt).await {
                Err(Error::ExitedEarly { ref tail, .. })
                    if attempt < START_ATTEMPTS && tail.contains("address already in use") =>
                {
                    attempt += 1;
                    reset_dir(&dir)?;
                }
                result => return result,
            }
        }
    }

    async fn start_once(
        options: &ControlPlaneOptions,
        binaries: &Binaries,
        dir: &Path,
        started: Instant,
        attempts: u32,
    ) -> Result<ControlPlane> {
        let deadline = started + options.start_timeout;
        let ports = Ports::pick()?;
        let pki = dir.join("pki");
        create_dir(&pki)?;
        let sa_key = pki.join("sa.key");
        let sa_pub = pki.join("sa.pub");
        write_service_account_key(&sa_key, &sa_pub)?;

        let admin_token = random_token();
        let operator_token = random_token();
        let tokens = dir.join("tokens.csv");
        write_file(
            &tokens,
            format!(
                "{admin_token},{ADMIN_USERNAME},clouddb-admin-uid,\"system:masters\"\n\
                 {operator_token},{OPERATOR_USERNAME},clouddb-operator-uid,\
                 \"system:serviceaccounts,system:serviceaccounts:{OPERATOR_NAMESPACE},system:authenticated\"\n"
            ),
        )?;

        let api_url = format!("https://127.0.0.1:{}", ports.apiserver);
        let ca = pki.join("apiserver.crt");
        let admin_kubeconfig = dir.join("admin.kubeconfig");
        let operator_kubeconfig = dir.join("operator.kubeconfig");
        write_kubeconfig(
            &admin_kubeconfig,
            &api_url,
            &ca,
            ADMIN_USERNAME,
            &admin_token,
        )?;
        write_kubeconfig(
            &operator_kubeconfig,
            &api_url,
            &ca,
            OPERATOR_USERNAME,
            &operator_token,
        )?;

        let mut components = Components::default();

        // etcd
        let etcd_url = format!("http://127.0.0.1:{}", ports.etcd_client);
        let peer_url = format!("http://127.0.0.1:{}", ports.etcd_peer);
        let mut etcd = Command::new(&binaries.etcd);
        etcd.arg("--name=clouddb")
            .arg(flag("data-dir", dir.join("etcd")))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=clouddb={peer_url}"))
            .arg("--unsafe-no-fsync")
            .arg("--log-level=warn");
        launch(&mut components, ETCD, &binaries.etcd, etcd, dir)?;
        let etcd_log = dir.join(format!("{ETCD}.log"));
        wait_ready(
            &mut components,
            ETCD,
            &etcd_log,
            deadline,
            options.start_timeout,
            async || etcd_health(ports.etcd_client).await,
        )
        .await?;
        let etcd_healthy = started.elapsed();

        // kube-apiserver
        let mut apiserver = Command::new(&binaries.kube_apiserver);
        apiserver
            .arg(format!("--etcd-servers={etcd_url}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={}", ports.apiserver))
            .arg("--advertise-address=127.0.0.1")
            .arg("--endpoint-reconciler-type=none")
            .arg(flag("cert-dir", &pki))
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg(flag("service-account-key-file", &sa_pub))
            .arg(flag("service-account-signing-key-file", &sa_key))
            .arg(flag("token-auth-file", &tokens))
            .arg("--authorization-mode=RBAC")
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg("--allow-privileged=true")
            .arg("--profiling=false");
        launch(
            &mut components,
            APISERVER,
            &binaries.kube_apiserver,
            apiserver,
            dir,
        )?;
        let apiserver_log = dir.join(format!("{APISERVER}.log"));
        let mut admin: Option<Client> = None;
        wait_ready(
            &mut components,
            APISERVER,
            &apiserver_log,
            deadline,
            options.start_timeout,
            async || apiserver_readyz(&mut admin, &admin_kubeconfig, &ca).await,
        )
        .await?;
        let apiserver_ready = started.elapsed();

        if let Some(admin) = admin.as_ref() {
            for crd in &options.crds {
                let remaining = deadline.saturating_duration_since(Instant::now());
                crate::wait::apply_crd(admin, crd, remaining).await?;
            }
        }

        // kube-controller-manager
        let mut controller_manager_healthy = None;
        if options.controller_manager {
            let mut kcm = Command::new(&binaries.kube_controller_manager);
            kcm.arg(flag("kubeconfig", &admin_kubeconfig))
                .arg(flag("authentication-kubeconfig", &admin_kubeconfig))
                .arg(flag("authorization-kubeconfig", &admin_kubeconfig))
                // No client-CA/request-header configuration to look up (and no ConfigMap to find it in).
                .arg("--authentication-skip-lookup=true")
                .arg("--leader-elect=false")
                .arg("--controllers=garbage-collector-controller,namespace-controller")
                .arg("--bind-address=127.0.0.1")
                .arg(format!("--secure-port={}", ports.controller_manager))
                .arg(flag("cert-dir", dir.join("kcm-pki")))
                .arg("--profiling=false");
            launch(
                &mut components,
                CONTROLLER_MANAGER,
                &binaries.kube_controller_manager,
                kcm,
                dir,
            )?;
            let kcm_log = dir.join(format!("{CONTROLLER_MANAGER}.log"));
            let kcm_url = format!("https://127.0.0.1:{}", ports.controller_manager);
            let mut probe: Option<Client> = None;
            wait_ready(
                &mut components,
                CONTROLLER_MANAGER,
                &kcm_log,
                deadline,
                options.start_timeout,
                async || controller_manager_healthz(&mut probe, &kcm_url).await,
            )
            .await?;
            controller_manager_healthy = Some(started.elapsed());
        }

        Ok(ControlPlane {
            dir: dir.to_path_buf(),
            keep_dir: options.keep_dir,
            binaries: binaries.clone(),
            api_url,
            admin_kubeconfig,
            operator_kubeconfig,
            timings: StartupTimings {
                etcd_healthy,
                apiserver_ready,
                controller_manager_healthy,
                attempts,
            },
            components: Mutex::new(components),
        })
    }

    /// The state directory: kubeconfigs, `pki/`, `etcd/` and the component logs (`etcd.log`,
    /// `kube-apiserver.log`, `kube-controller-manager.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `https://127.0.0.1:<port>` of kube-apiserver.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// kubeconfig of the admin identity (group `system:masters`).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// kubeconfig of the operator identity ([`OPERATOR_USERNAME`], subject to RBAC).
    pub fn operator_kubeconfig(&self) -> &Path {
        &self.operator_kubeconfig
    }

    /// The binaries this control plane runs.
    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// `kubectl` of the same version, when the binary directory has one.
    pub fn kubectl(&self) -> Option<&Path> {
        self.binaries.kubectl.as_deref()
    }

    /// Log file of a component (`"etcd"`, `"kube-apiserver"`, `"kube-controller-manager"`).
    pub fn log_path(&self, component: &str) -> PathBuf {
        self.dir.join(format!("{component}.log"))
    }

    /// How long the start took, stage by stage.
    pub fn timings(&self) -> StartupTimings {
        self.timings
    }

    /// A client with the admin identity.
    pub async fn admin_client(&self) -> Result<Client> {
        client_from_kubeconfig(&self.admin_kubeconfig).await
    }

    /// A client with the operator identity, subject to RBAC.
    pub async fn operator_client(&self) -> Result<Client> {
        client_from_kubeconfig(&self.operator_kubeconfig).await
    }

    /// `Ok` while every component is running; otherwise which one exited, with the end of its log.
    pub fn check_running(&self) -> Result<()> {
        match self.components.lock() {
            Ok(mut components) => components.check_running(),
            Err(poisoned) => poisoned.into_inner().check_running(),
        }
    }

    /// Stops all components (kube-controller-manager, kube-apiserver, etcd: SIGTERM, then SIGKILL after 5 s)
    /// and removes the state directory unless it is to be kept. Same as dropping it.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        match self.components.get_mut() {
            Ok(components) => components.stop_all(),
            Err(poisoned) => poisoned.into_inner().stop_all(),
        }
        if !self.keep_dir {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Builds a client from a kubeconfig file (its current context).
pub async fn client_from_kubeconfig(path: &Path) -> Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|source| Error::Kubeconfig {
        path: path.to_path_buf(),
        source,
    })?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|source| Error::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })?;
    Client::try_from(config).map_err(|source| Error::Client {
        path: path.to_path_buf(),
        source,
    })
}

fn flag(name: &str, path: impl AsRef<Path>) -> String {
    format!("--{name}={}", path.as_ref().display())
}

/// Spawns a component with stdout and stderr appended to `<dir>/<name>.log`.
fn launch(
    components: &mut Components,
    name: &'static str,
    binary: &Path,
    mut command: Command,
    dir: &Path,
) -> Result<()> {
    let log = dir.join(format!("{name}.log"));
    let file = File::options()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| Error::io("cannot create log file", &log, e))?;
    let stderr = file
        .try_clone()
        .map_err(|e| Error::io("cannot open log file", &log, e))?;
    command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(stderr)
        .current_dir(dir);
    let child = spawn_child(command).map_err(|source| Error::Spawn {
        component: name,
        binary: binary.to_path_buf(),
        source,
    })?;
    components.0.push(Component { name, child, log });
    Ok(())
}

/// Polls `probe` until it succeeds, a component exits, or the deadline passes.
async fn wait_ready(
    components: &mut Components,
    component: &'static str,
    log: &Path,
    deadline: Instant,
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> std::result::Result<(), String>,
) -> Result<()> {
    let mut last_error = String::from("not probed yet");
    loop {
        components.check_running()?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::StartTimeout {
                component,
                timeout,
                last_error,
                log: log.to_path_buf(),
            });
        }
        let probe_timeout = PROBE_TIMEOUT.min(remaining);
        match tokio::time::timeout(probe_timeout, probe()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => last_error = e,
            Err(_) => last_error = format!("no answer within {probe_timeout:?}"),
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())))
            .await;
    }
}

/// etcd's `/health` over plain HTTP/1.0 on loopback (no HTTP client needed for one request).
async fn etcd_health(port: u16) -> std::result::Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .map_err(|e| format!("read: {e}"))?;
    if response.contains("\"health\":\"true\"") {
        Ok(())
    } else {
        Err(format!(
            "/health answered: {}",
            response.lines().last().unwrap_or_default()
        ))
    }
}

/// kube-apiserver's `/readyz`, through a kube client built from the admin kubeconfig once the serving certificate
/// (leaf + CA, written by kube-apiserver itself into `--cert-dir`) exists.
async fn apiserver_readyz(
    client: &mut Option<Client>,
    kubeconfig: &Path,
    ca: &Path,
) -> std::result::Result<(), String> {
    let client = match client {
        Some(client) => client,
        None => {
            if !ca.exists() {
                return Err(format!("{} not written yet", ca.display()));
            }
            client.insert(
                client_from_kubeconfig(kubeconfig)
                    .await
                    .map_err(|e| e.to_string())?,
            )
        }
    };
    get_ok(client, "/readyz").await
}

/// kube-controller-manager's `/healthz`. Its serving certificate is self-signed with no CA we could trust, and
/// this probe only checks liveness, so certificate verification is off for it (and only for it).
async fn controller_manager_healthz(
    client: &mut Option<Client>,
    url: &str,
) -> std::result::Result<(), String> {
    let client = match client {
        Some(client) => client,
        None => {
            let uri = url
                .parse::<http::Uri>()
                .map_err(|e| format!("bad URL {url}: {e}"))?;
            let mut config = kube::Config::new(uri);
            config.accept_invalid_certs = true;
            client.insert(Client::try_from(config).map_err(|e| e.to_string())?)
        }
    };
    get_ok(client, "/healthz").await
}

async fn get_ok(client: &Client, path: &str) -> std::result::Result<(), String> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| format!("building request: {e}"))?;
    match client.request_text(request).await {
        Ok(body) if body.trim() == "ok" => Ok(()),
        Ok(body) => Err(format!("{path} answered {body:?}")),
        Err(e) => Err(format!("{path}: {e}")),
    }
}

/// Creates the state directory (with its marker file) and returns its absolute path.
///
/// Without `requested`, first removes directories under the default base whose owner process is gone.
fn prepare_dir(requested: Option<&Path>) -> Result<PathBuf> {
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir().join("clouddb-control-plane");
    remove_stale_dirs(&base);
    let dir = match requested {
        Some(dir) => {
            check_reusable(dir)?;
            dir.to_path_buf()
        }
        None => {
            create_dir(&base)?;
            let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
            base.join(format!("cp-{}-{seq}", std::process::id()))
        }
    };
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| Error::io("cannot clear state directory", &dir, e))?;
    }
    create_dir(&dir)?;
    // The directory holds bearer tokens and keys: keep other local users out.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io("cannot restrict permissions of", &dir, e))?;
    write_marker(&dir)?;
    fs::canonicalize(&dir).map_err(|e| Error::io("cannot resolve state directory", &dir, e))
}

/// Empties the directory for another start attempt, keeping it owned.
fn reset_dir(dir: &Path) -> Result<()> {
    fs::remove_dir_all(dir).map_err(|e| Error::io("cannot clear state directory", dir, e))?;
    create_dir(dir)?;
    write_marker(dir)
}

fn write_marker(dir: &Path) -> Result<()> {
    let start = own_start_time().map(|s| s.to_string()).unwrap_or_default();
    write_file(
        &dir.join(MARKER_FILE),
        format!("{} {start}\n", std::process::id()),
    )
}

/// `(pid, start time)` from a marker file.
fn read_marker(dir: &Path) -> Option<(u32, Option<u64>)> {
    let text = fs::read_to_string(dir.join(MARKER_FILE)).ok()?;
    let mut fields = text.split_whitespace();
    let pid = fields.next()?.parse().ok()?;
    Some((pid, fields.next().and_then(|s| s.parse().ok())))
}

/// A requested directory may be used if it does not exist, is empty, or is ours and its owner is gone.
fn check_reusable(dir: &Path) -> Result<()> {
    let mut entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("cannot read state directory", dir, e)),
    };
    if entries.next().is_none() {
        return Ok(());
    }
    match read_marker(dir) {
        None => Err(Error::DirNotOurs {
            dir: dir.to_path_buf(),
            marker: MARKER_FILE,
        }),
        Some((pid, start)) if pid != std::process::id() && process_alive(pid, start) => {
            Err(Error::DirInUse {
                dir: dir.to_path_buf(),
                pid,
            })
        }
        Some(_) => Ok(()),
    }
}

/// Removes state directories left behind by processes that are gone (killed tests, shared control planes, which
/// live in statics and are never dropped). A directory without a marker is removed once it is an hour old.
fn remove_stale_dirs(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let stale = match read_marker(&path) {
            Some((pid, start)) => !process_alive(pid, start),
            None => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > Duration::from_secs(3600)),
        };
        if stale {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

fn create_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|e| Error::io("cannot create directory", path, e))
}

fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    let mut file = File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
    file.write_all(contents.as_ref())
        .map_err(|e| Error::io("cannot write", path, e))
}

/// An ECDSA P-256 key pair: PKCS#8 private key for `--service-account-signing-key-file`, PKIX public key for
/// `--service-account-key-file`.
fn write_service_account_key(private: &Path, public: &Path) -> Result<()> {
    let key = rcgen::KeyPair::generate().map_err(|e| Error::KeyGeneration(e.to_string()))?;
    write_file(private, key.serialize_pem())?;
    write_file(public, key.public_key_pem())
}

fn random_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Writes a kubeconfig (as JSON, which every kubeconfig reader accepts as YAML) with a bearer token.
fn write_kubeconfig(path: &Path, server: &str, ca: &Path, user: &str, token: &str) -> Result<()> {
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "clouddb-test", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "clouddb-test", "user": user}}],
        "current-context": user,
    });
    let mut text = serde_json::to_string_pretty(&kubeconfig)
        .map_err(|e| Error::io("cannot serialize", path, std::io::Error::other(e)))?;
    text.push('\n');
    write_file(path, text)
}

/// The last `lines` lines of a log file, for error messages.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(bytes) = fs::read(path) else {
        return format!("(cannot read {})", path.display());
    };
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for line in &all[all.len().saturating_sub(lines)..] {
        let _ = writeln!(out, "  {line}");
    }
    out
}
