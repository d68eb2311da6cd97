//! A child process for tests (the operator under test, a simulator binary): dies with the test process
//! (`PR_SET_PDEATHSIG`), is stopped (SIGTERM, then SIGKILL) when dropped, and can be killed hard on purpose.

use std::io;
use std::process::{Child, Command};
use std::time::Duration;

use crate::spawn::{spawn_child, stop_child};

/// A running child process owned by a test.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
}

impl ChildProcess {
    /// Spawns `command` in its own process group, bound to the life of this process.
    pub fn spawn(command: Command) -> io::Result<ChildProcess> {
        spawn_child(command).map(|child| ChildProcess { child })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL now (a crash), and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        stop_child(&mut self.child, grace);
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(5));
    }
}
