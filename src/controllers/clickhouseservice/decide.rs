//! The pure heart of the ClickHouseService reconciler: given the desired spec and what the cloud reports,
//! what is the next single action? No I/O; unit-tested without any mock.
//!
//! Sequencing:
//! 1. never write while the service is in a transitional state (`provisioning`, `starting`, `stopping`,
//!    `awaking`, `terminating`...) — wait instead;
//! 2. on a started service (`running`, or `idle`, which is started but sleeping): service settings (name, IP
//!    access list as add/remove diffs, release channel, MySQL endpoint, tags) first, then scaling, then the
//!    password, then `stop` when `stopped: true`;
//! 3. on a `stopped` service: if anything but the stop needs changing, `start` first, apply, stop again; if
//!    only `stopped: false` is asked, start.
//!
//! Only what the spec sets is compared (the server fills in defaults, e.g. `idleScaling: true`): absent
//! scaling fields, an absent `ipAccessList`, absent `tags` and an absent `releaseChannel` are left as they are.

use std::borrow::Borrow;

use crate::api::clickhouseservice::{ClickHouseServiceSpec, UID_TAG};

/// The next thing to do (the shared vocabulary, with this kind's steps).
pub type Decision<O> = crate::controllers::decision::Decision<Step, O>;
pub use crate::controllers::decision::Flags;

pub const RUNNING: &str = "running";
pub const IDLE: &str = "idle";
pub const STOPPED: &str = "stopped";

/// States in which a service is started (accepts changes; `idle` wakes on demand).
pub fn is_started(state: &str) -> bool {
    matches!(state, RUNNING | IDLE)
}

pub use crate::model::clickhouseservice::{Observed, ScalingChange, ServiceChange};

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Update(ServiceChange),
    Scale(ScalingChange),
    SetPassword,
    Stop,
    Start,
}

impl Step {
    pub fn verb(&self) -> &'static str {
        match self {
            Step::Update(_) => "update",
            Step::Scale(_) => "scale",
            Step::SetPassword => "set password",
            Step::Stop => "stop",
            Step::Start => "start",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Step::Update(c) => format!("update: {}", c.summary()),
            Step::Scale(c) => format!("scale: {}", c.summary()),
            other => other.verb().to_string(),
        }
    }
}

/// The next action for `spec` (whose name in effect is `name`) given `observed` (`None`: no service).
pub fn decide<O: Borrow<Observed>>(
    spec: &ClickHouseServiceSpec,
    name: &str,
    observed: Option<O>,
    flags: Flags,
) -> Decision<O> {
    let Some(on) = observed else {
        return Decision::absent(flags);
    };
    let obs: &Observed = on.borrow();
    let started = is_started(&obs.state);
    if !started && obs.state != STOPPED {
        return Decision::Wait {
            state: obs.state.clone(),
        };
    }
    let mut changes = Vec::new();
    let update = service_change(spec, name, obs);
    if !update.is_empty() {
        changes.push(Step::Update(update));
    }
    let scaling = scaling_change(spec, obs);
    if !scaling.is_empty() {
        changes.push(Step::Scale(scaling));
    }
    if flags.password_differs {
        changes.push(Step::SetPassword);
    }
    let mut steps = Vec::new();
    if started {
        steps.extend(changes);
        if spec.stopped {
            steps.push(Step::Stop);
        }
    } else if !changes.is_empty() {
        steps.push(Step::Start);
        steps.extend(changes);
        if spec.stopped {
            steps.push(Step::Stop);
        }
    } else if !spec.stopped {
        steps.push(Step::Start);
    }
    Decision::from_steps(steps, flags, on)
}

/// The service-settings diff: name, IP access list (add/remove; a changed description is a remove and an
/// add), release channel, MySQL endpoint, tags.
pub fn service_change(spec: &ClickHouseServiceSpec, name: &str, obs: &Observed) -> ServiceChange {
    let mut c = ServiceChange::default();
    if obs.name != name {
        c.name = Some(name.to_string());
    }
    if let Some(desired) = &spec.ip_access_list {
        c.ip_add = desired
            .iter()
            .filter(|d| !obs.ip_access_list.contains(d))
            .cloned()
            .collect();
        c.ip_remove = obs
            .ip_access_list
            .iter()
            .filter(|o| !desired.contains(o))
            .cloned()
            .collect();
        c.ip_add.sort();
        c.ip_remove.sort();
    }
    if let Some(rc) = spec.release_channel
        && obs.release_channel.as_deref() != Some(rc.as_str())
    {
        c.release_channel = Some(rc.as_str().to_string());
    }
    if obs.mysql_endpoint != spec.mysql_endpoint {
        c.mysql_endpoint = Some(spec.mysql_endpoint);
    }
    if let Some(tags) = &spec.tags {
        for (k, v) in tags {
            if obs.tags.get(k) != Some(v) {
                c.tags_add.push((k.clone(), v.clone()));
            }
        }
        for (k, v) in &obs.tags {
            if k != UID_TAG && tags.get(k) != Some(v) {
                c.tags_remove.push((k.clone(), v.clone()));
            }
        }
    }
    c
}

/// The scaling diff over the fields the spec sets.
pub fn scaling_change(spec: &ClickHouseServiceSpec, obs: &Observed) -> ScalingChange {
    fn differs<T: PartialEq + Copy>(want: Option<T>, have: Option<T>) -> Option<T> {
        want.filter(|w| have != Some(*w))
    }
    let mut c = ScalingChange {
        min_replica_memory_gb: differs(spec.min_replica_memory_gb, obs.min_replica_memory_gb),
        max_replica_memory_gb: differs(spec.max_replica_memory_gb, obs.max_replica_memory_gb),
        num_replicas: differs(spec.num_replicas, obs.num_replicas),
        idle_scaling: differs(spec.idle_scaling, obs.idle_scaling),
        idle_timeout_minutes: differs(spec.idle_timeout_minutes, obs.idle_timeout_minutes),
    };
    // The memory range travels as a pair: a half-changed range is sent whole, so the server never sees a
    // transient min > max.
    if c.min_replica_memory_gb.is_some() || c.max_replica_memory_gb.is_some() {
        c.min_replica_memory_gb = spec.min_replica_memory_gb.or(obs.min_replica_memory_gb);
        c.max_replica_memory_gb = spec.max_replica_memory_gb.or(obs.max_replica_memory_gb);
    }
    c
}

/// One step of deleting a service in `state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletionStep {
    /// Started: stop it first (a running service cannot be deleted).
    Stop,
    /// Stopped (or failed): delete it.
    Delete,
    /// Stopping, starting, provisioning, awaking, terminating...: wait.
    Wait,
}

/// The next step of deleting a service in `state`. Pure.
pub fn deletion_step(state: &str) -> DeletionStep {
    match state {
        "running" | "idle" | "partially_running" | "degraded" => DeletionStep::Stop,
        "stopped" | "failed" => DeletionStep::Delete,
        _ => DeletionStep::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::clickhouseservice::{CloudProvider, IpAccessEntry, ReleaseChannel};

    fn spec() -> ClickHouseServiceSpec {
        serde_json::from_value(serde_json::json!({"provider": "aws", "region": "us-east-1"}))
            .unwrap()
    }

    fn running() -> Observed {
        Observed {
            state: RUNNING.into(),
            name: "svc".into(),
            ..Observed::default()
        }
    }

    fn ip(source: &str, description: &str) -> IpAccessEntry {
        IpAccessEntry {
            source: source.into(),
            description: description.into(),
        }
    }

    fn act<O: std::fmt::Debug>(d: Decision<O>) -> Vec<Step> {
        match d {
            Decision::Act { plan, .. } => plan.iter().cloned().collect(),
            other => panic!("expected Act, got {other:?}"),
        }
    }

    #[test]
    fn no_service_creates_except_when_observing() {
        let observing = Flags {
            observe_only: true,
            ..Flags::default()
        };
        for (flags, creates) in [(Flags::default(), true), (observing, false)] {
            let d = decide(&spec(), "svc", None::<&Observed>, flags);
            assert_eq!(d == Decision::Create, creates, "{d:?}");
        }
    }

    #[test]
    fn transitional_states_wait() {
        for state in [
            "provisioning",
            "starting",
            "stopping",
            "awaking",
            "terminating",
            "degraded",
        ] {
            let obs = Observed {
                state: state.into(),
                ..running()
            };
            assert_eq!(
                decide(&spec(), "svc", Some(&obs), Flags::default()),
                Decision::Wait {
                    state: state.into()
                },
                "{state}"
            );
        }
    }

    #[test]
    fn a_matching_running_or_idle_service_is_converged() {
        assert_eq!(
            decide(&spec(), "svc", Some(&running()), Flags::default()),
            Decision::Converged
        );
        let idle = Observed {
            state: IDLE.into(),
            ..running()
        };
        assert_eq!(
            decide(&spec(), "svc", Some(&idle), Flags::default()),
            Decision::Converged
        );
    }

    #[test]
    fn ip_access_list_changes_are_add_remove_diffs() {
        let mut s = spec();
        s.ip_access_list = Some(vec![ip("10.0.0.0/8", "office"), ip("203.0.113.7", "ci")]);
        let obs = Observed {
            ip_access_list: vec![ip("10.0.0.0/8", "office"), ip("0.0.0.0/0", "anywhere")],
            ..running()
        };
        let steps = act(decide(&s, "svc", Some(&obs), Flags::default()));
        let Step::Update(c) = &steps[0] else {
            panic!("{steps:?}")
        };
        assert_eq!(c.ip_add, vec![ip("203.0.113.7", "ci")]);
        assert_eq!(c.ip_remove, vec![ip("0.0.0.0/0", "anywhere")]);
        assert_eq!(c.summary(), "IP access list +[203.0.113.7] -[0.0.0.0/0]");
        // An absent list is left alone.
        s.ip_access_list = None;
        assert_eq!(
            decide(&s, "svc", Some(&obs), Flags::default()),
            Decision::Converged
        );
    }

    #[test]
    fn scaling_compares_only_what_the_spec_sets_and_sends_the_memory_range_whole() {
        let mut s = spec();
        s.max_replica_memory_gb = Some(64);
        let obs = Observed {
            min_replica_memory_gb: Some(16),
            max_replica_memory_gb: Some(32),
            idle_scaling: Some(true),
            num_replicas: Some(3),
            ..running()
        };
        let steps = act(decide(&s, "svc", Some(&obs), Flags::default()));
        assert_eq!(
            steps,
            vec![Step::Scale(ScalingChange {
                min_replica_memory_gb: Some(16),
                max_replica_memory_gb: Some(64),
                ..Default::default()
            })]
        );
        s.num_replicas = Some(3);
        s.idle_scaling = Some(true);
        s.max_replica_memory_gb = Some(32);
        assert_eq!(
            decide(&s, "svc", Some(&obs), Flags::default()),
            Decision::Converged
        );
    }

    #[test]
    fn order_is_update_scale_password_stop() {
        let mut s = spec();
        s.release_channel = Some(ReleaseChannel::Fast);
        s.num_replicas = Some(2);
        s.stopped = true;
        let f = Flags {
            password_differs: true,
            ..Flags::default()
        };
        let verbs: Vec<&str> = act(decide(&s, "new-name", Some(&running()), f))
            .iter()
            .map(Step::verb)
            .collect();
        assert_eq!(verbs, ["update", "scale", "set password", "stop"]);
    }

    #[test]
    fn a_stopped_service_starts_to_change_and_stops_again() {
        let stopped = Observed {
            state: STOPPED.into(),
            ..running()
        };
        let mut s = spec();
        s.stopped = true;
        assert_eq!(
            decide(&s, "svc", Some(&stopped), Flags::default()),
            Decision::Converged
        );
        s.num_replicas = Some(2);
        let verbs: Vec<&str> = act(decide(&s, "svc", Some(&stopped), Flags::default()))
            .iter()
            .map(Step::verb)
            .collect();
        assert_eq!(verbs, ["start", "scale", "stop"]);
        s.num_replicas = None;
        s.stopped = false;
        assert_eq!(
            act(decide(&s, "svc", Some(&stopped), Flags::default())),
            vec![Step::Start]
        );
    }

    #[test]
    fn tags_are_managed_except_the_uid_tag_and_mysql_follows_the_switch() {
        let mut s = spec();
        s.tags = Some([("team".to_string(), "data".to_string())].into());
        s.mysql_endpoint = true;
        let obs = Observed {
            tags: [
                ("team".to_string(), "web".to_string()),
                ("old".to_string(), "x".to_string()),
                (UID_TAG.to_string(), "uid".to_string()),
            ]
            .into(),
            ..running()
        };
        let c = service_change(&s, "svc", &obs);
        assert_eq!(c.tags_add, vec![("team".into(), "data".into())]);
        assert_eq!(
            c.tags_remove,
            vec![("old".into(), "x".into()), ("team".into(), "web".into())]
        );
        assert_eq!(c.mysql_endpoint, Some(true));
        assert_eq!(s.provider, CloudProvider::Aws);
    }

    #[test]
    fn observe_only_reports_differences_without_acting() {
        let f = Flags {
            observe_only: true,
            ..Flags::default()
        };
        match decide(&spec(), "other", Some(&running()), f) {
            Decision::Differs { plan, .. } => {
                assert_eq!(plan.now.describe(), "update: name → \"other\"")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deletion_stops_then_deletes_and_waits_between() {
        use super::{DeletionStep, deletion_step};
        for s in ["running", "idle", "partially_running", "degraded"] {
            assert_eq!(deletion_step(s), DeletionStep::Stop, "{s}");
        }
        for s in ["stopped", "failed"] {
            assert_eq!(deletion_step(s), DeletionStep::Delete, "{s}");
        }
        for s in [
            "stopping",
            "starting",
            "provisioning",
            "awaking",
            "terminating",
        ] {
            assert_eq!(deletion_step(s), DeletionStep::Wait, "{s}");
        }
    }
}
