//! README command one: `scripts/demo.sh` brings everything up and shows a TidbCloudCluster and a
//! ClickHouseService reach Ready; `scripts/demo.sh stop` stops every process it started. Runs the script itself
//! (in its own state directory, on free ports, with the binaries this `cargo test` built), so a demo that no
//! longer works fails the test command.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use clouddb_testkit::binaries_or_skip;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.chars().next()))
        .flatten()
        .is_some_and(|state| state != 'Z' && state != 'X')
}

fn demo(dir: &Path, bins: &Path, arg: Option<&str>, ports: (u16, u16, u16)) -> (bool, String) {
    let mut cmd = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo.sh"));
    cmd.args(arg)
        .env("CLOUDDB_DEMO_DIR", dir)
        .env("CLOUDDB_DEMO_BIN_DIR", bins)
        .env("CLOUDDB_DEMO_SIM_PORT", ports.0.to_string())
        .env("CLOUDDB_DEMO_CLICKHOUSE_PORT", ports.1.to_string())
        .env("CLOUDDB_DEMO_METRICS_PORT", ports.2.to_string());
    let out = cmd.output().expect("run scripts/demo.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn demo_brings_both_kinds_to_ready_and_stop_leaves_nothing_running() {
    if binaries_or_skip().is_none() {
        return;
    }
    // The binaries `cargo test` built for this workspace, next to this package's own.
    let bins: PathBuf = Path::new(env!("CARGO_BIN_EXE_clouddb-operator"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    for b in ["clouddb-sim", "clouddb-control-plane"] {
        assert!(
            bins.join(b).exists(),
            "{b} is not in {} (run `cargo test --workspace`)",
            bins.display()
        );
    }
    let dir = std::env::temp_dir().join(format!("clouddb-demo-test-{}", std::process::id()));
    let ports = (free_port(), free_port(), free_port());
    let (ok, out) = demo(&dir, &bins, None, ports);
    let pids: Vec<String> = ["operator", "sim", "control-plane"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(dir.join(format!("{p}.pid"))).ok())
        .map(|s| s.trim().to_string())
        .collect();
    let (stopped, stop_out) = demo(&dir, &bins, Some("stop"), ports);
    assert!(ok, "scripts/demo.sh failed:\n{out}");
    assert!(
        out.contains("tidbcloudcluster.clouddb.dev/orders-db condition met"),
        "{out}"
    );
    assert!(
        out.contains("clickhouseservice.clouddb.dev/analytics condition met"),
        "{out}"
    );
    assert!(out.contains("Ready after"), "{out}");
    assert_eq!(pids.len(), 3, "three processes started:\n{out}");
    assert!(stopped, "scripts/demo.sh stop failed:\n{stop_out}");
    for pid in &pids {
        assert!(!alive(pid), "pid {pid} still runs after `demo.sh stop`");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
