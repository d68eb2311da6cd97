//! Start/stop behaviour of the control plane: clean stop of the library type and of the `clouddb-control-plane`
//! binary, no orphans when the binary is SIGKILLed, and removal of state left by dead processes.
//!
//! One test function on purpose: the steps depend on each other and run one control plane at a time.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use clouddb_testkit::{ControlPlane, ControlPlaneOptions, binaries_or_skip, eventually};
use rustix::process::{Pid, Signal};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const TIMEOUT: Duration = Duration::from_secs(60);
const COMPONENTS: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller"]; // comm is cut to 15 bytes

/// `(pid, comm)` of the live (not zombie) children of `parent`.
fn live_children(parent: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().unwrap_or_default();
        let ppid: u32 = rest.next().and_then(|p| p.parse().ok()).unwrap_or_default();
        if ppid == parent && state != "Z" {
            out.push((pid, comm));
        }
    }
    out
}

fn component_children(parent: u32) -> Vec<String> {
    let mut names: Vec<String> = live_children(parent)
        .into_iter()
        .map(|(_, comm)| comm)
        .filter(|comm| COMPONENTS.contains(&comm.as_str()))
        .collect();
    names.sort();
    names
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in URL")
}

async fn await_port_closed(port: u16) {
    eventually(
        format!("port {port} to close"),
        TIMEOUT,
        async || match TcpStream::connect(("127.0.0.1", port)) {
            Ok(_) => Err("still accepting connections"),
            Err(_) => Ok(()),
        },
    )
    .await
    .expect("port closed");
}

/// What `clouddb-control-plane up` printed before "Press Ctrl-C".
struct Up {
    child: Child,
    api_url: String,
    dir: PathBuf,
    kubeconfig: PathBuf,
}

async fn start_binary(args: &[&str]) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clouddb-control-plane"))
        .arg("up")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn clouddb-control-plane");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut api_url, mut dir, mut kubeconfig) = (None, None, None);
    tokio::time::timeout(TIMEOUT, async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            let field = |prefix: &str| {
                line.trim()
                    .strip_prefix(prefix)
                    .map(|v| v.trim().to_string())
            };
            if let Some(v) = field("API server:") {
                api_url = Some(v);
            } else if let Some(v) = field("state directory:") {
                dir = Some(PathBuf::from(v.split(" (").next().unwrap_or_default()));
            } else if let Some(v) = line.strip_prefix("export KUBECONFIG=") {
                kubeconfig = Some(PathBuf::from(v));
            } else if line.starts_with("Press Ctrl-C") {
                return;
            }
        }
        panic!("clouddb-control-plane exited before it was ready");
    })
    .await
    .expect("clouddb-control-plane ready within timeout");
    // Keep draining stdout so the binary never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Up {
        child,
        api_url: api_url.expect("API server line"),
        dir: dir.expect("state directory line"),
        kubeconfig: kubeconfig.expect("export KUBECONFIG line"),
    }
}

fn signal(child: &Child, signal: Signal) {
    let pid = child.id().expect("child still running");
    rustix::process::kill_process(Pid::from_raw(pid as i32).expect("pid"), signal)
        .expect("send signal");
}

fn assert_logs(dir: &Path) {
    for log in [
        "etcd.log",
        "kube-apiserver.log",
        "kube-controller-manager.log",
    ] {
        let path = dir.join(log);
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{} should exist and not be empty", path.display());
    }
}

#[tokio::test]
async fn lifecycle() {
    if binaries_or_skip().is_none() {
        return;
    }

    // 1. The binary is SIGKILLed: its children die with it (PR_SET_PDEATHSIG), its state directory stays.
    let up = start_binary(&[]).await;
    let binary_pid = up.child.id().expect("pid");
    assert_eq!(
        component_children(binary_pid),
        ["etcd", "kube-apiserver", "kube-controller"]
    );
    assert!(up.kubeconfig.starts_with(&up.dir));
    assert_logs(&up.dir);
    let mut child = up.child;
    signal(&child, Signal::KILL);
    child.wait().await.expect("reap binary");
    await_port_closed(port_of(&up.api_url)).await;
    assert!(
        up.dir.exists(),
        "a killed binary cannot clean up its directory"
    );

    // 2. The library type: starting removes the dead process's directory; dropping stops, reaps and cleans up.
    let cp = ControlPlane::start(ControlPlaneOptions::default())
        .await
        .expect("start control plane");
    assert!(
        !up.dir.exists(),
        "stale directory of a dead process is removed on start"
    );
    let own = std::process::id();
    assert_eq!(
        component_children(own),
        ["etcd", "kube-apiserver", "kube-controller"]
    );
    assert_logs(cp.dir());
    let version = cp
        .admin_client()
        .await
        .expect("admin client")
        .apiserver_version()
        .await
        .expect("server version");
    assert_eq!(version.git_version, "v1.36.3");
    eprintln!("library start: {}", cp.timings());
    let (dir, port) = (cp.dir().to_path_buf(), port_of(cp.api_url()));
    drop(cp);
    assert!(
        component_children(own).is_empty(),
        "all components stopped and reaped"
    );
    assert!(!dir.exists(), "state directory removed");
    await_port_closed(port).await;

    // 3. The binary with --dir, stopped by SIGTERM: clean exit, components gone, directory kept with its logs.
    let kept = std::env::temp_dir().join(format!("clouddb-testkit-lifecycle-{own}"));
    let kept_arg = kept.to_string_lossy().into_owned();
    let up = start_binary(&["--dir", &kept_arg]).await;
    assert_eq!(up.dir, std::fs::canonicalize(&kept).expect("canonical dir"));
    let mut child = up.child;
    signal(&child, Signal::TERM);
    let status = tokio::time::timeout(TIMEOUT, child.wait())
        .await
        .expect("binary exits within timeout after SIGTERM")
        .expect("wait for binary");
    assert!(status.success(), "clean exit after SIGTERM, got {status}");
    await_port_closed(port_of(&up.api_url)).await;
    assert_logs(&kept);
    std::fs::remove_dir_all(&kept).expect("remove kept directory");
}
