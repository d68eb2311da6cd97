//! The pure heart of the ClickHouseService reconciler: given the desired spec and what the cloud reports,
//! what is the next single action? No I/O; unit-tested without any mock.
//!
//! Sequencing:
//! 1. never write while the service is in a transitional state (`provisioning`, `starting`, `stopping`,
//!    `awaking`, `terminating`...) — wait instead;
//! 2. on a started service (`running`, or `idle`, which is started but sleeping): service settings (name, IP
//!    access list as add/remove diffs, release channel, MySQL endpoint, tags) first, then the private
//!    endpoints (add/remove, the same PATCH route), then scaling, then the backup settings, then the query API
//!    endpoint (create, replace or delete), then the password, then `stop` when `stopped: true`;
//! 3. on a `stopped` service: if anything but the stop needs changing, `start` first, apply, stop again; if
//!    only `stopped: false` is asked, start.
//!
//! Only what the spec sets is compared (the server fills in defaults, e.g. `idleScaling: true`): absent
//! scaling fields, an absent `ipAccessList`, absent `tags`, an absent `releaseChannel`, absent
//! `privateEndpointIds` and absent backup fields are left as they are. The query API endpoint is deleted only
//! when it was read although the spec does not set it (the caller reads it then only while status records
//! one the operator applied).

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

pub use crate::model::clickhouseservice::{
    BackupSettings, EndpointIdsChange, Observed, QueryEndpoint, ScalingChange, ServiceChange,
};

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Update(ServiceChange),
    /// Attach and detach private endpoints (`PATCH /services/{id}` `privateEndpointIds: {add, remove}`).
    PrivateEndpoints(EndpointIdsChange),
    Scale(ScalingChange),
    /// Change the backup settings that differ (`PATCH …/backupConfiguration`).
    Backup(BackupSettings),
    /// Create the query API endpoint (`POST …/serviceQueryEndpoint`).
    CreateQueryEndpoint(QueryEndpoint),
    /// Replace its settings in place (the same POST: an upsert that keeps the endpoint's id).
    ReplaceQueryEndpoint(QueryEndpoint),
    /// Delete it (`DELETE …/serviceQueryEndpoint`): the spec no longer sets it.
    DeleteQueryEndpoint,
    SetPassword,
    Stop,
    Start,
}

impl Step {
    pub fn verb(&self) -> &'static str {
        match self {
            Step::Update(_) => "update",
            Step::PrivateEndpoints(_) => "update private endpoints",
            Step::Scale(_) => "scale",
            Step::Backup(_) => "update backup configuration",
            Step::CreateQueryEndpoint(_) => "create query endpoint",
            Step::ReplaceQueryEndpoint(_) => "replace query endpoint",
            Step::DeleteQueryEndpoint => "delete query endpoint",
            Step::SetPassword => "set password",
            Step::Stop => "stop",
            Step::Start => "start",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Step::Update(c) => format!("update: {}", c.summary()),
            Step::PrivateEndpoints(c) => format!("update: {}", c.summary()),
            Step::Scale(c) => format!("scale: {}", c.summary()),
            Step::Backup(c) => format!("backup configuration: {}", c.summary()),
            Step::CreateQueryEndpoint(q) => format!("create query endpoint: {}", q.summary()),
            Step::ReplaceQueryEndpoint(q) => format!("replace query endpoint: {}", q.summary()),
            other => other.verb().to_string(),
        }
    }

    /// Whether the step changes a setting (as opposed to the password or the service's state).
    pub fn is_setting(&self) -> bool {
        !matches!(self, Step::SetPassword | Step::Stop | Step::Start)
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
    let endpoints = endpoint_ids_change(spec, obs);
    if !endpoints.is_empty() {
        changes.push(Step::PrivateEndpoints(endpoints));
    }
    let scaling = scaling_change(spec, obs);
    if !scaling.is_empty() {
        changes.push(Step::Scale(scaling));
    }
    let backup = backup_change(spec, obs);
    if !backup.is_empty() {
        changes.push(Step::Backup(backup));
    }
    if let Some(step) = query_endpoint_step(spec, obs) {
        changes.push(step);
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

/// The private endpoints to attach and detach (sorted): none when the spec does not set the list.
pub fn endpoint_ids_change(spec: &ClickHouseServiceSpec, obs: &Observed) -> EndpointIdsChange {
    let Some(desired) = &spec.private_endpoint_ids else {
        return EndpointIdsChange::default();
    };
    let mut c = EndpointIdsChange {
        add: desired
            .iter()
            .filter(|d| !obs.private_endpoint_ids.contains(d))
            .cloned()
            .collect(),
        remove: obs
            .private_endpoint_ids
            .iter()
            .filter(|o| !desired.contains(o))
            .cloned()
            .collect(),
    };
    c.add.sort();
    c.add.dedup();
    c.remove.sort();
    c
}

/// The backup fields the spec sets that differ from what was read (nothing when they were not read).
pub fn backup_change(spec: &ClickHouseServiceSpec, obs: &Observed) -> BackupSettings {
    let (Some(want), Some(have)) = (&spec.backup_configuration, &obs.backup) else {
        return BackupSettings::default();
    };
    fn differs<T: PartialEq + Clone>(want: &Option<T>, have: &Option<T>) -> Option<T> {
        want.clone().filter(|w| have.as_ref() != Some(w))
    }
    BackupSettings {
        period_hours: differs(&want.backup_period_in_hours, &have.period_hours),
        retention_hours: differs(
            &want.backup_retention_period_in_hours,
            &have.retention_hours,
        ),
        start_time: differs(&want.backup_start_time, &have.start_time),
    }
}

/// Create, replace or delete the query API endpoint, when it was read and differs from the spec.
pub fn query_endpoint_step(spec: &ClickHouseServiceSpec, obs: &Observed) -> Option<Step> {
    let have = obs.query_endpoint.as_ref()?;
    match (&spec.query_api_endpoints, have) {
        (Some(want), None) => Some(Step::CreateQueryEndpoint(
            crate::providers::clickhouse::translate::desired_query_endpoint(want),
        )),
        (Some(want), Some(have)) => {
            let want = crate::providers::clickhouse::translate::desired_query_endpoint(want);
            (&want != have).then_some(Step::ReplaceQueryEndpoint(want))
        }
        (None, Some(_)) => Some(Step::DeleteQueryEndpoint),
        (None, None) => None,
    }
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
    use crate::api::clickhouseservice::{
        BackupConfigurationSpec, CloudProvider, IpAccessEntry, ReleaseChannel,
    };

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
    fn private_endpoint_ids_are_an_add_remove_diff_and_absent_is_left_alone() {
        let obs = Observed {
            private_endpoint_ids: vec!["vpce-a".into(), "vpce-old".into()],
            ..running()
        };
        assert_eq!(
            decide(&spec(), "svc", Some(&obs), Flags::default()),
            Decision::Converged
        );
        let mut s = spec();
        s.private_endpoint_ids = Some(vec!["vpce-b".into(), "vpce-a".into()]);
        let steps = act(decide(&s, "svc", Some(&obs), Flags::default()));
        assert_eq!(
            steps,
            vec![Step::PrivateEndpoints(EndpointIdsChange {
                add: vec!["vpce-b".into()],
                remove: vec!["vpce-old".into()],
            })]
        );
        assert_eq!(
            steps[0].describe(),
            "update: private endpoints +[vpce-b] -[vpce-old]"
        );
        // An empty list detaches everything.
        s.private_endpoint_ids = Some(vec![]);
        let steps = act(decide(&s, "svc", Some(&obs), Flags::default()));
        let Step::PrivateEndpoints(c) = &steps[0] else {
            panic!("{steps:?}")
        };
        assert_eq!((c.add.len(), c.remove.len()), (0, 2));
    }

    fn backup(period: i64, retention: i64, start: Option<&str>) -> BackupSettings {
        BackupSettings {
            period_hours: Some(period),
            retention_hours: Some(retention),
            start_time: start.map(str::to_string),
        }
    }

    #[test]
    fn backup_sends_only_the_set_fields_that_differ_and_nothing_unread() {
        let mut s = spec();
        s.backup_configuration = Some(
            serde_json::from_value(serde_json::json!({
                "backupRetentionPeriodInHours": 168, "backupStartTime": "03:00"
            }))
            .unwrap(),
        );
        // Not read: nothing to decide on.
        assert_eq!(
            decide(&s, "svc", Some(&running()), Flags::default()),
            Decision::Converged
        );
        let obs = Observed {
            backup: Some(backup(24, 24, None)),
            ..running()
        };
        let steps = act(decide(&s, "svc", Some(&obs), Flags::default()));
        assert_eq!(
            steps,
            vec![Step::Backup(BackupSettings {
                period_hours: None,
                retention_hours: Some(168),
                start_time: Some("03:00".into()),
            })]
        );
        assert_eq!(
            steps[0].describe(),
            "backup configuration: retention 168 h, start 03:00 UTC"
        );
        let obs = Observed {
            backup: Some(backup(24, 168, Some("03:00"))),
            ..running()
        };
        assert_eq!(
            decide(&s, "svc", Some(&obs), Flags::default()),
            Decision::Converged
        );
    }

    fn endpoint(roles: &[&str], keys: &[&str], origins: &str) -> QueryEndpoint {
        QueryEndpoint {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            open_api_keys: keys.iter().map(|k| k.to_string()).collect(),
            allowed_origins: origins.into(),
        }
    }

    const KEY: &str = "6a4ad4a4-0cb8-4a6b-9c2f-2b1f3f0e9f10";

    #[test]
    fn query_endpoint_is_created_replaced_in_place_or_deleted() {
        let mut s = spec();
        s.query_api_endpoints = Some(
            serde_json::from_value(serde_json::json!({
                "roles": ["sql_console_read_only"], "openApiKeys": [KEY.to_uppercase()]
            }))
            .unwrap(),
        );
        let want = endpoint(&["sql_console_read_only"], &[KEY], "");
        let none = Observed {
            query_endpoint: Some(None),
            ..running()
        };
        assert_eq!(
            act(decide(&s, "svc", Some(&none), Flags::default())),
            vec![Step::CreateQueryEndpoint(want.clone())]
        );
        let same = Observed {
            query_endpoint: Some(Some(want.clone())),
            ..running()
        };
        assert_eq!(
            decide(&s, "svc", Some(&same), Flags::default()),
            Decision::Converged
        );
        let other = Observed {
            query_endpoint: Some(Some(endpoint(&["sql_console_admin"], &[KEY], ""))),
            ..running()
        };
        assert_eq!(
            act(decide(&s, "svc", Some(&other), Flags::default())),
            vec![Step::ReplaceQueryEndpoint(want)]
        );
        // Removed from the spec while one was read (status recorded it): delete; not read: nothing.
        s.query_api_endpoints = None;
        assert_eq!(
            act(decide(&s, "svc", Some(&other), Flags::default())),
            vec![Step::DeleteQueryEndpoint]
        );
        assert_eq!(
            decide(&s, "svc", Some(&running()), Flags::default()),
            Decision::Converged
        );
        assert_eq!(
            decide(&s, "svc", Some(&none), Flags::default()),
            Decision::Converged
        );
    }

    #[test]
    fn new_steps_follow_the_order_and_are_held_back_when_observing() {
        let mut s = spec();
        s.num_replicas = Some(2);
        s.private_endpoint_ids = Some(vec!["vpce-a".into()]);
        s.backup_configuration = Some(BackupConfigurationSpec {
            backup_period_in_hours: Some(12),
            ..Default::default()
        });
        s.query_api_endpoints = Some(
            serde_json::from_value(serde_json::json!({"roles": ["sql_console_admin"]})).unwrap(),
        );
        let obs = Observed {
            backup: Some(backup(24, 24, None)),
            query_endpoint: Some(None),
            ..running()
        };
        let verbs: Vec<&str> = act(decide(&s, "new", Some(&obs), Flags::default()))
            .iter()
            .map(Step::verb)
            .collect();
        assert_eq!(
            verbs,
            [
                "update",
                "update private endpoints",
                "scale",
                "update backup configuration",
                "create query endpoint"
            ]
        );
        // A stopped service is started for them, then stopped again.
        let stopped = Observed {
            state: STOPPED.into(),
            ..obs.clone()
        };
        s.stopped = true;
        let verbs: Vec<&str> = act(decide(&s, "svc", Some(&stopped), Flags::default()))
            .iter()
            .map(Step::verb)
            .collect();
        assert_eq!(verbs.first(), Some(&"start"));
        assert_eq!(verbs.last(), Some(&"stop"));
        let f = Flags {
            observe_only: true,
            ..Flags::default()
        };
        match decide(&s, "svc", Some(&obs), f) {
            Decision::Differs { plan, .. } => {
                assert_eq!(plan.now.describe(), "update: private endpoints +[vpce-a]")
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
