//! Spawning child processes that can never outlive this process.
//!
//! Every child gets `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills it when its parent goes away, even when the
//! test process is killed with SIGKILL or aborts on a panic. The parent the kernel means is the *thread* that
//! forked the child: the signal fires when that thread exits, not when the process exits. Tests run on threads
//! that come and go (libtest gives every test its own thread, and every `#[tokio::test]` has its own runtime),
//! so all children are forked from one dedicated spawner thread that lives as long as the process.
//!
//! Children are also put in their own process group, so a Ctrl-C at a terminal reaches only our binary, which
//! then stops the components in order instead of having all of them die at once.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

struct SpawnRequest {
    command: Command,
    reply: mpsc::SyncSender<io::Result<Child>>,
}

/// The sender is kept in a static and never dropped, so the spawner thread never leaves its receive loop.
static SPAWNER: OnceLock<Result<Sender<SpawnRequest>, String>> = OnceLock::new();

fn spawner() -> io::Result<&'static Sender<SpawnRequest>> {
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("clouddb-testkit-spawner".into())
            .spawn(move || {
                for SpawnRequest { mut command, reply } in rx {
                    // The requester may have given up waiting; then the child is dropped here and, having no
                    // owner, is killed by nobody but the process exit. That cannot happen in practice because
                    // `spawn_child` waits without a timeout.
                    let _ = reply.send(command.spawn());
                }
            })
            .map(|_| tx)
            .map_err(|e| e.to_string())
    });
    spawner
        .as_ref()
        .map_err(|e| io::Error::other(format!("cannot start the process-spawner thread: {e}")))
}

/// Spawns `command` from the long-lived spawner thread, with `PR_SET_PDEATHSIG = SIGKILL` and in a new process
/// group.
pub(crate) fn spawn_child(mut command: Command) -> io::Result<Child> {
    set_death_signal(&mut command);
    command.process_group(0);
    let (reply_tx, reply_rx) = mpsc::sync_channel(1);
    spawner()?
        .send(SpawnRequest {
            command,
            reply: reply_tx,
        })
        .map_err(|_| io::Error::other("the process-spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the process-spawner thread did not answer"))?
}

#[allow(unsafe_code)]
fn set_death_signal(command: &mut Command) {
    let parent = Pid::from_raw(std::process::id() as i32);
    // SAFETY: the closure runs in the forked child between fork and exec, where only async-signal-safe work is
    // allowed. It makes two raw system calls through rustix (prctl(2) and getppid(2)), which neither allocate
    // nor take locks, and builds an `io::Error` from an errno value, which does not allocate either.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // The parent may have died between fork and prctl; then the signal will never come, so give up.
            if rustix::process::getppid() != parent {
                return Err(io::Error::from_raw_os_error(
                    rustix::io::Errno::SRCH.raw_os_error(),
                ));
            }
            Ok(())
        });
    }
}

/// Sends `signal` to the child if it is still running. Errors (the child already reaped) are ignored.
fn signal_child(child: &Child, signal: Signal) {
    let pid = Pid::from_child(child);
    let _ = rustix::process::kill_process(pid, signal);
}

/// Stops a child: SIGTERM, up to `grace` for it to exit, then SIGKILL. Always reaps it.
pub(crate) fn stop_child(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    signal_child(child, Signal::TERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => thread::sleep(Duration::from_millis(20)),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether a process with this pid exists and, when `start_time` is given, is the same process (not a reused
/// pid): compares the start time in `/proc/<pid>/stat` (field 22, clock ticks since boot).
pub(crate) fn process_alive(pid: u32, start_time: Option<u64>) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    match (start_time, parse_start_time(&stat)) {
        (Some(expected), Some(actual)) => expected == actual,
        _ => true,
    }
}

/// Start time of the current process, for [`process_alive`].
pub(crate) fn own_start_time() -> Option<u64> {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_start_time(&s))
}

fn parse_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts with field 3 (state); start time is field 22, i.e. index 19 here.
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_start_time_with_spaces_in_command_name() {
        let stat =
            "1234 (a b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_start_time(stat), Some(98765));
    }

    #[test]
    fn own_process_is_alive_and_start_time_matches() {
        let start = own_start_time().expect("start time of self");
        assert!(process_alive(std::process::id(), Some(start)));
        assert!(!process_alive(std::process::id(), Some(start + 1)));
    }

    #[test]
    fn spawned_child_runs_and_is_stopped() {
        let mut sleep = Command::new("sleep");
        sleep.arg("30");
        let mut child = spawn_child(sleep).expect("spawn sleep");
        assert!(child.try_wait().expect("try_wait").is_none());
        stop_child(&mut child, Duration::from_secs(5));
        assert!(child.try_wait().expect("try_wait").is_some());
    }
}
