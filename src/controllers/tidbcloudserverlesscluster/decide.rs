//! The pure heart of the TidbCloudServerlessCluster reconciler: given the spec and what the cloud reports,
//! what is the next single action? No I/O.
//!
//! Never write while the cluster is not `ACTIVE` (`CREATING`, `RESTORING`, `DELETING`...): wait. On an `ACTIVE`
//! cluster, one PATCH per field group (display name, labels, spending limit or auto scaling, public endpoint),
//! then the root password. Only what the spec sets is compared: absent `labels`, `spendingLimit`,
//! `autoScaling`, `publicEndpoint` or `publicEndpoint.ipAccessList` are left as the cloud has them.

use std::borrow::Borrow;
use std::net::Ipv4Addr;

use crate::api::tidbcloudserverlesscluster::TidbCloudServerlessClusterSpec;

pub use crate::controllers::decision::Flags;
pub use crate::model::tidbcloudserverlesscluster::{Change, Observed};

/// The next thing to do (the shared vocabulary, with this kind's steps).
pub type Decision<O> = crate::controllers::decision::Decision<Step, O>;

pub const ACTIVE: &str = "ACTIVE";

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Update(Change),
    SetPassword,
}

impl Step {
    pub fn verb(&self) -> &'static str {
        match self {
            Step::Update(_) => "update",
            Step::SetPassword => "set password",
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Step::Update(c) => format!("update: {}", c.summary()),
            Step::SetPassword => "set the root password".to_string(),
        }
    }
}

/// What is wrong with `spec` beyond what the schema checks (nothing is sent to the cloud for such a spec).
pub fn problems(spec: &TidbCloudServerlessClusterSpec) -> Vec<String> {
    let mut out = Vec::new();
    let list = spec
        .public_endpoint
        .as_ref()
        .and_then(|p| p.ip_access_list.as_ref());
    for (i, r) in list.into_iter().flatten().enumerate() {
        let start = r.start_ip_address.parse::<Ipv4Addr>();
        let end = r.end_ip_address.parse::<Ipv4Addr>();
        match (start, end) {
            (Ok(s), Ok(e)) if s > e => out.push(format!(
                "spec.publicEndpoint.ipAccessList[{i}]: startIpAddress {s} is after endIpAddress {e}"
            )),
            (Ok(_), Ok(_)) => {}
            _ => out.push(format!(
                "spec.publicEndpoint.ipAccessList[{i}]: not an IPv4 range"
            )),
        }
        let same = |o: &&crate::api::tidbcloudserverlesscluster::IpRange| {
            o.start_ip_address == r.start_ip_address && o.end_ip_address == r.end_ip_address
        };
        if list.into_iter().flatten().take(i).any(|o| same(&o)) {
            out.push(format!(
                "spec.publicEndpoint.ipAccessList[{i}]: the range {}-{} is listed twice",
                r.start_ip_address, r.end_ip_address
            ));
        }
    }
    out
}

/// The next action for `spec` (display name in effect `display_name`) given `observed` (`None`: no cluster).
pub fn decide<O: Borrow<Observed>>(
    spec: &TidbCloudServerlessClusterSpec,
    display_name: &str,
    observed: Option<O>,
    flags: Flags,
) -> Decision<O> {
    let Some(on) = observed else {
        return Decision::absent(flags);
    };
    let obs: &Observed = on.borrow();
    if obs.state != ACTIVE {
        return Decision::Wait {
            state: obs.state.clone(),
        };
    }
    let mut steps: Vec<Step> = changes(spec, display_name, obs)
        .into_iter()
        .map(Step::Update)
        .collect();
    if flags.password_differs {
        steps.push(Step::SetPassword);
    }
    Decision::from_steps(steps, flags, on)
}

/// Every field group that differs, in the order they are sent.
pub fn changes(
    spec: &TidbCloudServerlessClusterSpec,
    display_name: &str,
    obs: &Observed,
) -> Vec<Change> {
    let mut out = Vec::new();
    if obs.display_name != display_name {
        out.push(Change::DisplayName(display_name.to_string()));
    }
    if let Some(labels) = &spec.labels
        && &obs.labels != labels
    {
        out.push(Change::Labels(labels.clone()));
    }
    if let Some(limit) = spec.spending_limit
        && obs.spending_limit != Some(limit.monthly)
    {
        out.push(Change::SpendingLimit(limit.monthly));
    }
    if let Some(a) = spec.auto_scaling
        && obs.auto_scaling != Some((a.min_rcu, a.max_rcu))
    {
        out.push(Change::AutoScaling {
            min_rcu: a.min_rcu,
            max_rcu: a.max_rcu,
        });
    }
    if let (Some(want), Some((disabled, list))) = (&spec.public_endpoint, &obs.public) {
        let want_list = want.ip_access_list.as_ref().map(|l| {
            let mut l = l.clone();
            l.sort();
            l
        });
        let list_differs = want_list.as_ref().is_some_and(|w| w != list);
        if want.disabled != *disabled || list_differs {
            out.push(Change::PublicEndpoint {
                disabled: want.disabled,
                ip_access_list: want_list,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tidbcloudserverlesscluster::IpRange;

    fn spec(v: serde_json::Value) -> TidbCloudServerlessClusterSpec {
        let mut base = serde_json::json!({"region": "aws-us-east-1"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn active() -> Observed {
        Observed {
            state: ACTIVE.into(),
            display_name: "db-1".into(),
            spending_limit: Some(0),
            public: Some((false, vec![])),
            ..Observed::default()
        }
    }

    fn range(a: &str, b: &str) -> IpRange {
        IpRange {
            start_ip_address: a.into(),
            end_ip_address: b.into(),
            display_name: String::new(),
        }
    }

    fn steps<O: std::fmt::Debug>(d: Decision<O>) -> Vec<Step> {
        match d {
            Decision::Act { plan, .. } => plan.iter().cloned().collect(),
            other => panic!("expected Act, got {other:?}"),
        }
    }

    #[test]
    fn absent_creates_and_transitional_states_wait() {
        let s = spec(serde_json::json!({}));
        assert_eq!(
            decide(&s, "db-1", None::<&Observed>, Flags::default()),
            Decision::Create
        );
        for state in ["CREATING", "RESTORING", "DELETING"] {
            let o = Observed {
                state: state.into(),
                ..active()
            };
            assert_eq!(
                decide(&s, "db-1", Some(&o), Flags::default()),
                Decision::Wait {
                    state: state.into()
                }
            );
        }
        assert_eq!(
            decide(&s, "db-1", Some(&active()), Flags::default()),
            Decision::Converged
        );
    }

    #[test]
    fn each_field_group_is_one_patch_then_the_password() {
        let s = spec(serde_json::json!({
            "labels": {"env": "prod"},
            "spendingLimit": {"monthly": 1000},
            "publicEndpoint": {"ipAccessList": [{"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.2"}]},
        }));
        let f = Flags {
            password_differs: true,
            ..Flags::default()
        };
        let masks: Vec<String> = steps(decide(&s, "db-2", Some(&active()), f))
            .iter()
            .map(|s| match s {
                Step::Update(c) => c.mask().to_string(),
                Step::SetPassword => "password".into(),
            })
            .collect();
        assert_eq!(
            masks,
            [
                "displayName",
                "labels",
                "spendingLimit",
                "endpoints.public",
                "password"
            ]
        );
    }

    #[test]
    fn unset_fields_and_list_order_are_not_drift() {
        let s = spec(serde_json::json!({
            "publicEndpoint": {"ipAccessList": [
                {"startIpAddress": "10.0.0.5", "endIpAddress": "10.0.0.5"},
                {"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.2"}
            ]},
        }));
        let mut o = active();
        o.labels.insert("team".into(), "x".into());
        o.public = Some((
            false,
            vec![range("10.0.0.1", "10.0.0.2"), range("10.0.0.5", "10.0.0.5")],
        ));
        assert_eq!(
            decide(&s, "db-1", Some(&o), Flags::default()),
            Decision::Converged
        );
        // Only `disabled` managed: the list is left alone.
        let s = spec(serde_json::json!({"publicEndpoint": {"disabled": true}}));
        assert_eq!(
            steps(decide(&s, "db-1", Some(&o), Flags::default())),
            vec![Step::Update(Change::PublicEndpoint {
                disabled: true,
                ip_access_list: None
            })]
        );
    }

    #[test]
    fn essential_capacity_is_compared_as_a_range() {
        let s = spec(serde_json::json!({"autoScaling": {"minRcu": 2000, "maxRcu": 4000}}));
        let o = Observed {
            spending_limit: None,
            auto_scaling: Some((2000, 3000)),
            ..active()
        };
        assert_eq!(
            steps(decide(&s, "db-1", Some(&o), Flags::default())),
            vec![Step::Update(Change::AutoScaling {
                min_rcu: 2000,
                max_rcu: 4000
            })]
        );
    }

    #[test]
    fn observe_only_reports_differences_and_never_creates() {
        let observing = Flags {
            observe_only: true,
            ..Flags::default()
        };
        let s = spec(serde_json::json!({}));
        assert!(matches!(
            decide(&s, "other", Some(&active()), observing),
            Decision::Differs { .. }
        ));
        assert!(matches!(
            decide(&s, "db-1", None::<&Observed>, observing),
            Decision::Wait { .. }
        ));
    }

    #[test]
    fn reversed_and_repeated_ranges_are_problems() {
        let s = spec(serde_json::json!({"publicEndpoint": {"ipAccessList": [
            {"startIpAddress": "10.0.0.9", "endIpAddress": "10.0.0.1"},
            {"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.2"},
            {"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.2"}
        ]}}));
        let p = problems(&s);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("after endIpAddress"), "{p:?}");
        assert!(p[1].contains("listed twice"), "{p:?}");
        assert!(problems(&spec(serde_json::json!({}))).is_empty());
    }
}
