//! Condition helpers for status: kstatus-compatible `Ready` / `Reconciling` / `Stalled` (plus any kind-specific
//! type such as `Available`). Pure functions; time is passed in so tests are deterministic.
//!
//! Rules (see `docs/tidbcloudcluster.md`):
//! - `lastTransitionTime` changes only when a condition's status flips;
//! - `Reconciling` and `Stalled` are present only while True (kstatus treats an absent condition as False, and
//!   Argo CD / Flux read abnormal-true conditions);
//! - every condition carries the generation it was computed for.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub const READY: &str = "Ready";
pub const AVAILABLE: &str = "Available";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
/// `True` while annotation `clouddb.dev/reconcile: paused` stops every cloud call for the object.
pub const SUSPENDED: &str = "Suspended";
/// `True` while the cloud differs from a converged spec under `driftPolicy: Report` (the field diff in its
/// message).
pub const DRIFTED: &str = "Drifted";
/// Condition types the driver owns for every kind, beside the kind's own.
pub const DRIVER_MANAGED: &[&str] = &[SUSPENDED, DRIFTED];

/// Condition status values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }
}

impl From<bool> for Status {
    fn from(b: bool) -> Self {
        if b { Status::True } else { Status::False }
    }
}

/// What a reconcile concluded about one condition type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub type_: &'static str,
    pub status: Status,
    pub reason: String,
    pub message: String,
}

impl Desired {
    pub fn new(
        type_: &'static str,
        status: Status,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Desired {
            type_,
            status,
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// Merges `desired` into `existing`: keeps `lastTransitionTime` of conditions whose status did not change, drops
/// conditions of the managed types that are not desired (e.g. `Stalled` once it no longer applies), keeps
/// conditions of other types untouched. The result is sorted by type for a stable status.
pub fn merge(
    existing: &[Condition],
    desired: &[Desired],
    managed: &[&str],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = existing
        .iter()
        .filter(|c| {
            !managed.contains(&c.type_.as_str()) && !desired.iter().any(|d| d.type_ == c.type_)
        })
        .cloned()
        .collect();
    for d in desired {
        let previous = existing.iter().find(|c| c.type_ == d.type_);
        let last_transition_time = match previous {
            Some(p) if p.status == d.status.as_str() => p.last_transition_time.clone(),
            _ => Time(now),
        };
        out.push(Condition {
            type_: d.type_.to_string(),
            status: d.status.as_str().to_string(),
            reason: d.reason.clone(),
            message: truncate(&d.message, 32 * 1024),
            observed_generation: generation,
            last_transition_time,
        });
    }
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True when the condition exists with status True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reasons;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).expect("valid timestamp")
    }

    const MANAGED: &[&str] = &[READY, RECONCILING, STALLED, AVAILABLE];

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let first = merge(
            &[],
            &[Desired::new(
                READY,
                Status::False,
                reasons::CREATING,
                "creating",
            )],
            MANAGED,
            Some(1),
            ts(100),
        );
        let second = merge(
            &first,
            &[Desired::new(
                READY,
                Status::False,
                reasons::UPDATING,
                "other",
            )],
            MANAGED,
            Some(2),
            ts(200),
        );
        assert_eq!(second[0].last_transition_time, Time(ts(100)));
        assert_eq!(second[0].reason, reasons::UPDATING);
        assert_eq!(second[0].observed_generation, Some(2));
        let third = merge(
            &second,
            &[Desired::new(READY, Status::True, reasons::READY, "ok")],
            MANAGED,
            Some(2),
            ts(300),
        );
        assert_eq!(third[0].last_transition_time, Time(ts(300)));
    }

    #[test]
    fn managed_conditions_not_desired_are_removed_and_foreign_kept() {
        let existing = merge(
            &[],
            &[
                Desired::new(STALLED, Status::True, reasons::INVALID_SPEC, "bad"),
                Desired::new("Custom", Status::True, reasons::PROGRESSING, "y"),
            ],
            &[STALLED],
            Some(1),
            ts(1),
        );
        let next = merge(
            &existing,
            &[Desired::new(READY, Status::True, reasons::READY, "ok")],
            MANAGED,
            Some(1),
            ts(2),
        );
        let types: Vec<&str> = next.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec!["Custom", "Ready"]);
        assert!(is_true(&next, READY));
        assert!(!is_true(&next, STALLED));
    }

    #[test]
    fn long_messages_are_truncated_on_char_boundary() {
        let msg = "é".repeat(20_000);
        let c = merge(
            &[],
            &[Desired::new(
                READY,
                Status::False,
                reasons::PROGRESSING,
                msg,
            )],
            MANAGED,
            None,
            ts(1),
        );
        assert!(c[0].message.len() <= 32 * 1024 + 3);
    }
}
