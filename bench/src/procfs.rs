//! What the OS says about a process and the machine: `/proc/<pid>/status`, `/proc/<pid>/stat`,
//! `/proc/meminfo`, `/proc/cpuinfo`.

use std::path::Path;
use std::time::Duration;

use crate::error::BenchError;

/// Memory and CPU of one process, as the kernel accounts them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// `VmHWM`: peak resident set size, bytes.
    pub peak_rss: u64,
    /// `VmRSS`: resident set size now, bytes.
    pub rss: u64,
    /// `utime + stime`: CPU time in user and kernel mode.
    pub cpu: Duration,
}

/// A `kB` field (`VmHWM:     12345 kB`) of `/proc/<pid>/status`, in bytes.
pub fn status_field_bytes(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let value: u64 = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") => value.checked_mul(1024),
            None => Some(value),
            Some(_) => None,
        }
    })
}

/// `utime + stime` in clock ticks from `/proc/<pid>/stat` (fields 14 and 15; the command name in
/// parentheses may itself hold spaces and parentheses, so fields are counted after the last `)`).
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: utime is field 14, i.e. index 11 here.
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    utime.checked_add(stime)
}

fn read(path: &Path) -> Result<String, BenchError> {
    std::fs::read_to_string(path).map_err(|source| BenchError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the usage of a running process.
pub fn usage(pid: u32) -> Result<Usage, BenchError> {
    let dir = Path::new("/proc").join(pid.to_string());
    let status = read(&dir.join("status"))?;
    let stat = read(&dir.join("stat"))?;
    let unreadable = |what: &str| BenchError::Proc(format!("no {what} for process {pid}"));
    let peak_rss = status_field_bytes(&status, "VmHWM").ok_or_else(|| unreadable("VmHWM"))?;
    let rss = status_field_bytes(&status, "VmRSS").ok_or_else(|| unreadable("VmRSS"))?;
    let ticks = stat_cpu_ticks(&stat).ok_or_else(|| unreadable("utime/stime"))?;
    let hz = rustix::param::clock_ticks_per_second().max(1);
    Ok(Usage {
        peak_rss,
        rss,
        cpu: Duration::from_secs_f64(ticks as f64 / hz as f64),
    })
}

/// The machine, for the report: CPUs, memory, CPU model, kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub cpus: usize,
    pub memory_bytes: Option<u64>,
    pub cpu_model: Option<String>,
    pub kernel: Option<String>,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        Machine {
            cpus,
            memory_bytes: status_field_bytes(&meminfo, "MemTotal"),
            cpu_model: cpu_model(&cpuinfo),
            kernel,
        }
    }
}

/// The first `model name` of `/proc/cpuinfo`.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_stat_and_cpuinfo() {
        let status = "Name:\tclouddb-operato\nVmPeak:\t  200000 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   30720 kB\n";
        assert_eq!(status_field_bytes(status, "VmHWM"), Some(40960 * 1024));
        assert_eq!(status_field_bytes(status, "VmRSS"), Some(30720 * 1024));
        assert_eq!(status_field_bytes(status, "VmSwap"), None);
        // A name with spaces and parentheses does not shift the fields.
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 1000 0 0";
        assert_eq!(stat_cpu_ticks(stat), Some(325));
        assert_eq!(stat_cpu_ticks("garbage"), None);
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(
            cpu_model(cpuinfo).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
    }

    #[test]
    fn reads_this_process() {
        let u = usage(std::process::id()).expect("own /proc entry");
        assert!(u.peak_rss >= u.rss && u.rss > 0, "{u:?}");
    }
}
