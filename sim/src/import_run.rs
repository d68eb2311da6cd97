//! The import state machine shared by the Dedicated and Serverless v1beta1 imports (their wire shapes
//! differ, their lifecycle does not): `PREPARING` → `IMPORTING` (percent rising) → `COMPLETED`, or `FAILED`
//! at 40 % with a message, or — after a cancel — `CANCELING` → `CANCELED`.
use std::time::{Duration, Instant};

/// The message of an import that fails (its source URI contains the fail marker).
pub const FAILURE_MESSAGE: &str = "Failed to read source data: access to the object storage location was denied \
     (403 Forbidden); check the source URI and the credentials or role that grant access to it";

/// Where an import is at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Preparing,
    /// With the percentage done (0–99).
    Importing(u8),
    Completed,
    /// Failed at this percentage.
    Failed(u8),
    Canceling,
    Canceled,
}

impl Phase {
    /// The state name both APIs use.
    pub fn state(self) -> &'static str {
        match self {
            Phase::Preparing => "PREPARING",
            Phase::Importing(_) => "IMPORTING",
            Phase::Completed => "COMPLETED",
            Phase::Failed(_) => "FAILED",
            Phase::Canceling => "CANCELING",
            Phase::Canceled => "CANCELED",
        }
    }

    /// `completePercent`.
    pub fn percent(self) -> u8 {
        match self {
            Phase::Importing(p) | Phase::Failed(p) => p,
            Phase::Completed => 100,
            _ => 0,
        }
    }

    /// Whether the import has ended (nothing changes any more).
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Completed | Phase::Failed(_) | Phase::Canceled)
    }
}

/// The clock of one import: when it started, how long each step takes, whether it fails, whether (and
/// when) a cancel was asked for.
#[derive(Debug, Clone)]
pub struct ImportRun {
    created: Instant,
    prepare: Duration,
    run: Duration,
    cancel: Duration,
    fail: bool,
    /// When a cancel was asked for.
    cancel_requested: Option<Instant>,
}

/// Why a cancel was refused: the import had already ended in this phase.
#[derive(Debug, Clone, Copy)]
pub struct AlreadyFinal(pub Phase);

impl ImportRun {
    pub fn new(
        now: Instant,
        prepare: Duration,
        run: Duration,
        cancel: Duration,
        fail: bool,
    ) -> Self {
        ImportRun {
            created: now,
            prepare,
            run,
            cancel,
            fail,
            cancel_requested: None,
        }
    }

    /// The phase at `now`.
    pub fn phase(&self, now: Instant) -> Phase {
        match self.cancel_requested {
            Some(at) if now >= at + self.cancel => Phase::Canceled,
            Some(_) => Phase::Canceling,
            None => self.running_phase(now),
        }
    }

    fn running_phase(&self, now: Instant) -> Phase {
        let elapsed = now.duration_since(self.created);
        if elapsed < self.prepare {
            return Phase::Preparing;
        }
        let frac = if self.run.is_zero() {
            1.0
        } else {
            ((elapsed - self.prepare).as_secs_f64() / self.run.as_secs_f64()).min(1.0)
        };
        if self.fail && frac >= 0.4 {
            Phase::Failed(40)
        } else if frac >= 1.0 {
            Phase::Completed
        } else {
            Phase::Importing((frac * 100.0) as u8)
        }
    }

    /// Asks for a cancel at `now`: a running import goes `CANCELING`; asking again changes nothing; an
    /// ended import refuses.
    pub fn cancel(&mut self, now: Instant) -> Result<(), AlreadyFinal> {
        match self.phase(now) {
            Phase::Canceling => Ok(()),
            p if p.is_final() => Err(AlreadyFinal(p)),
            _ => {
                self.cancel_requested = Some(now);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_prepares_runs_and_completes_or_fails_or_is_canceled() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let run = ImportRun::new(t0, s(1), s(10), s(2), false);
        assert_eq!(run.phase(t0), Phase::Preparing);
        assert_eq!(run.phase(t0 + s(6)), Phase::Importing(50));
        assert_eq!(run.phase(t0 + s(11)), Phase::Completed);
        let failing = ImportRun::new(t0, s(1), s(10), s(2), true);
        assert_eq!(failing.phase(t0 + s(3)), Phase::Importing(20));
        assert_eq!(failing.phase(t0 + s(6)), Phase::Failed(40));
        let mut c = ImportRun::new(t0, s(1), s(10), s(2), false);
        c.cancel(t0 + s(2)).unwrap();
        c.cancel(t0 + s(3)).unwrap();
        assert_eq!(c.phase(t0 + s(3)), Phase::Canceling);
        assert_eq!(c.phase(t0 + s(4)), Phase::Canceled);
        assert!(c.cancel(t0 + s(5)).is_err());
        let mut done = ImportRun::new(t0, s(0), s(0), s(2), false);
        assert!(matches!(
            done.cancel(t0),
            Err(AlreadyFinal(Phase::Completed))
        ));
    }
}
