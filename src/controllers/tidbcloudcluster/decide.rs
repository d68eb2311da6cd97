//! The pure heart of the TidbCloudCluster reconciler: given the desired spec and what the cloud reports, what is
//! the next single action? No I/O; unit-tested without any mock.
//!
//! Sequencing (the real API takes one mutation at a time, and only on an ACTIVE cluster):
//! 1. never write while the cluster is in a transitional state — wait instead;
//! 2. on an ACTIVE cluster: topology/display-name update first, then the public endpoint setting, then
//!    root-password reset, then pause;
//! 3. on a PAUSED cluster: if anything but the pause needs changing, resume first (the API refuses changes on a
//!    paused cluster), apply the changes, then pause again; if only `paused: false` is asked, resume.

use std::borrow::Borrow;

use crate::api::tidbcloudcluster::{StorageNodesSpec, TidbCloudClusterSpec};

/// Cluster states in which the cluster accepts writes or is at rest.
pub const ACTIVE: &str = "ACTIVE";
pub const PAUSED: &str = "PAUSED";

pub use crate::model::tidbcloudcluster::{
    Change, Observed, PublicEndpointChange, PublicEndpointObserved, StorageObserved,
};

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Update(Change),
    /// Make the default group's public endpoint setting equal to the spec (one PATCH).
    PublicEndpoint(PublicEndpointChange),
    ResetPassword,
    Pause,
    Resume,
}

impl Step {
    pub fn verb(&self) -> &'static str {
        match self {
            Step::Update(_) => "update",
            Step::PublicEndpoint(_) => "update public endpoint",
            Step::ResetPassword => "reset root password",
            Step::Pause => "pause",
            Step::Resume => "resume",
        }
    }
}

/// The next thing to do (the shared vocabulary, with this kind's steps).
pub type Decision<O> = crate::controllers::decision::Decision<Step, O>;
pub use crate::controllers::decision::Flags;

/// Decides the next action. `display_name` is the effective display name (spec or metadata.name);
/// `observed` is what the cloud reports (anything that reads as an [`Observed`]: `Act` hands it back).
pub fn decide<O: Borrow<Observed>>(
    spec: &TidbCloudClusterSpec,
    display_name: &str,
    observed: Option<O>,
    flags: Flags,
) -> Decision<O> {
    let Some(on) = observed else {
        return Decision::absent(flags);
    };
    let obs: &Observed = on.borrow();
    let state = obs.state.as_str();
    if state != ACTIVE && state != PAUSED {
        return Decision::Wait {
            state: obs.state.clone(),
        };
    }
    let change = diff(spec, display_name, obs);
    let public = public_endpoint_diff(spec, obs);
    let mut steps = Vec::new();
    let needs_active = !change.is_empty() || public.is_some() || flags.password_differs;
    if state == PAUSED && (needs_active || !spec.paused) {
        steps.push(Step::Resume);
    }
    if !change.is_empty() {
        steps.push(Step::Update(change));
    }
    if let Some(p) = public {
        steps.push(Step::PublicEndpoint(p));
    }
    if flags.password_differs {
        steps.push(Step::ResetPassword);
    }
    if spec.paused && (state == ACTIVE || needs_active) {
        steps.push(Step::Pause);
    }
    Decision::from_steps(steps, flags, on)
}

/// What differs between spec and cloud, as one PATCH. Fields the spec leaves unset (storage type, raft IOPS)
/// are not compared: the cloud's defaults stand.
pub fn diff(spec: &TidbCloudClusterSpec, display_name: &str, obs: &Observed) -> Change {
    let mut c = Change::default();
    if obs.display_name != display_name {
        c.display_name = Some(display_name.to_string());
    }
    if obs.tidb_node_spec_key != spec.tidb.node_spec_key
        || obs.tidb_node_count != spec.tidb.node_count
    {
        c.tidb = Some((spec.tidb.node_spec_key.clone(), spec.tidb.node_count));
    }
    if storage_differs(&spec.tikv, Some(&obs.tikv)) {
        c.tikv = Some(spec.tikv.clone());
    }
    match (&spec.tiflash, &obs.tiflash) {
        (Some(want), have) if storage_differs(want, have.as_ref()) => {
            c.tiflash = Some(want.clone())
        }
        (None, Some(have)) if have.node_count > 0 => c.tiflash_remove = true,
        _ => {}
    }
    c
}

/// The change of the public endpoint setting the spec asks for; `None` when the spec leaves it alone, when it
/// was not read, or when it already matches (an IP access list is compared as a set).
pub fn public_endpoint_diff(
    spec: &TidbCloudClusterSpec,
    obs: &Observed,
) -> Option<PublicEndpointChange> {
    let wanted = spec.public_endpoint.as_ref()?;
    PublicEndpointChange::between(wanted, obs.public_endpoint.as_ref()?)
}

fn storage_differs(want: &StorageNodesSpec, have: Option<&StorageObserved>) -> bool {
    let Some(have) = have else { return true };
    have.node_spec_key != want.node_spec_key
        || have.node_count != want.node_count
        || have.storage_size_gi != want.storage_size_gi
        || want
            .storage_type
            .as_ref()
            .is_some_and(|t| have.storage_type.as_ref() != Some(t))
        || want
            .raft_store_iops
            .is_some_and(|i| have.raft_store_iops != Some(i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tidbcloudcluster::TidbSpec;
    use crate::controllers::decision::Plan;

    fn spec() -> TidbCloudClusterSpec {
        serde_json::from_value(serde_json::json!({
            "regionId": "aws-us-west-2",
            "tidb": {"nodeSpecKey": "8C16G", "nodeCount": 2},
            "tikv": {"nodeSpecKey": "8C32G", "nodeCount": 3, "storageSizeGi": 500},
        }))
        .expect("valid spec")
    }

    fn observed(state: &str) -> Observed {
        Observed {
            state: state.into(),
            display_name: "db".into(),
            tidb_node_spec_key: "8C16G".into(),
            tidb_node_count: 2,
            tikv: StorageObserved {
                node_spec_key: "8C32G".into(),
                node_count: 3,
                storage_size_gi: 500,
                storage_type: Some("Standard".into()),
                raft_store_iops: None,
            },
            tiflash: None,
            public_endpoint: None,
        }
    }

    #[test]
    fn nothing_in_cloud_means_create_unless_observing() {
        assert_eq!(
            decide(&spec(), "db", None::<&Observed>, Flags::default()),
            Decision::Create
        );
        let f = Flags {
            observe_only: true,
            ..Flags::default()
        };
        assert!(matches!(
            decide(&spec(), "db", None::<&Observed>, f),
            Decision::Wait { .. }
        ));
    }

    #[test]
    fn converged_when_equal_and_unset_fields_ignored() {
        assert_eq!(
            decide(&spec(), "db", Some(&observed(ACTIVE)), Flags::default()),
            Decision::Converged
        );
    }

    #[test]
    fn transitional_states_wait_even_with_changes() {
        let mut s = spec();
        s.tidb = TidbSpec {
            node_spec_key: "8C16G".into(),
            node_count: 4,
        };
        for st in [
            "CREATING",
            "MODIFYING",
            "PAUSING",
            "RESUMING",
            "DELETING",
            "IMPORTING",
            "MAINTENANCE",
        ] {
            assert_eq!(
                decide(&s, "db", Some(&observed(st)), Flags::default()),
                Decision::Wait { state: st.into() }
            );
        }
    }

    #[test]
    fn scale_then_reset_password_then_pause_on_active() {
        let mut s = spec();
        s.tikv.node_count = 6;
        s.paused = true;
        let active = observed(ACTIVE);
        let d = decide(
            &s,
            "renamed",
            Some(&active),
            Flags {
                password_differs: true,
                observe_only: false,
            },
        );
        let Decision::Act { plan, .. } = d else {
            panic!("expected Act, got {d:?}")
        };
        let steps: Vec<Step> = plan.iter().cloned().collect();
        assert_eq!(steps.len(), 3);
        let Step::Update(c) = &steps[0] else {
            panic!("update first")
        };
        assert_eq!(c.display_name.as_deref(), Some("renamed"));
        assert_eq!(c.tikv.as_ref().map(|t| t.node_count), Some(6));
        assert!(c.tidb.is_none() && c.tiflash.is_none() && !c.tiflash_remove);
        assert_eq!(steps[1], Step::ResetPassword);
        assert_eq!(steps[2], Step::Pause);
    }

    #[test]
    fn paused_cluster_with_changes_resumes_changes_and_pauses_again() {
        let mut s = spec();
        s.paused = true;
        s.tidb.node_count = 3;
        let Decision::Act { plan: steps, .. } =
            decide(&s, "db", Some(&observed(PAUSED)), Flags::default())
        else {
            panic!("expected Act")
        };
        assert_eq!(
            steps.iter().map(Step::verb).collect::<Vec<_>>(),
            vec!["resume", "update", "pause"]
        );
    }

    #[test]
    fn pause_and_resume_alone() {
        let mut s = spec();
        s.paused = true;
        assert_eq!(
            decide(&s, "db", Some(&observed(ACTIVE)), Flags::default()),
            Decision::Act {
                plan: Plan::new(vec![Step::Pause]).expect("one step"),
                on: &observed(ACTIVE)
            }
        );
        assert_eq!(
            decide(&s, "db", Some(&observed(PAUSED)), Flags::default()),
            Decision::Converged
        );
        assert_eq!(
            decide(&spec(), "db", Some(&observed(PAUSED)), Flags::default()),
            Decision::Act {
                plan: Plan::new(vec![Step::Resume]).expect("one step"),
                on: &observed(PAUSED)
            }
        );
    }

    #[test]
    fn tiflash_added_changed_and_removed() {
        let mut s = spec();
        let tiflash = StorageNodesSpec {
            node_spec_key: "8C64G".into(),
            node_count: 1,
            storage_size_gi: 200,
            storage_type: None,
            raft_store_iops: None,
        };
        s.tiflash = Some(tiflash.clone());
        let c = diff(&s, "db", &observed(ACTIVE));
        assert_eq!(c.tiflash, Some(tiflash));
        let mut o = observed(ACTIVE);
        o.tiflash = Some(StorageObserved {
            node_spec_key: "8C64G".into(),
            node_count: 1,
            storage_size_gi: 200,
            storage_type: Some("Standard".into()),
            raft_store_iops: None,
        });
        assert!(diff(&s, "db", &o).is_empty());
        let c = diff(&spec(), "db", &o);
        assert!(c.tiflash_remove && c.tiflash.is_none());
        assert!(c.summary(&o).contains("remove TiFlash"));
    }

    #[test]
    fn explicit_storage_type_and_iops_are_compared() {
        let mut s = spec();
        s.tikv.storage_type = Some("Performance".into());
        s.tikv.raft_store_iops = Some(4000);
        let c = diff(&s, "db", &observed(ACTIVE));
        assert_eq!(
            c.tikv
                .as_ref()
                .and_then(|t| t.storage_type.clone())
                .as_deref(),
            Some("Performance")
        );
    }

    #[test]
    fn observe_only_reports_differences_without_acting() {
        let mut s = spec();
        s.tidb.node_count = 5;
        let f = Flags {
            observe_only: true,
            ..Flags::default()
        };
        assert!(matches!(
            decide(&s, "db", Some(&observed(ACTIVE)), f),
            Decision::Differs { .. }
        ));
    }

    fn entry(cidr: &str, description: &str) -> crate::api::tidbcloudcluster::IpAccessEntry {
        crate::api::tidbcloudcluster::IpAccessEntry {
            cidr: cidr.into(),
            description: description.into(),
        }
    }

    fn with_public(
        enabled: bool,
        list: Vec<crate::api::tidbcloudcluster::IpAccessEntry>,
    ) -> TidbCloudClusterSpec {
        let mut s = spec();
        s.public_endpoint = Some(crate::api::tidbcloudcluster::PublicEndpointSpec {
            enabled,
            ip_access_list: list,
        });
        s
    }

    #[test]
    fn public_endpoint_is_a_set_diff_and_unread_or_unset_is_left_alone() {
        let s = with_public(
            true,
            vec![entry("203.0.113.0/24", "office"), entry("10.0.0.1/32", "")],
        );
        // Not read (spec set but nothing observed): nothing to compare, nothing to do.
        assert_eq!(
            decide(&s, "db", Some(&observed(ACTIVE)), Flags::default()),
            Decision::Converged
        );
        let mut o = observed(ACTIVE);
        o.public_endpoint = Some(PublicEndpointObserved {
            enabled: true,
            ip_access_list: vec![entry("10.0.0.1/32", ""), entry("203.0.113.0/24", "office")],
        });
        // Same entries in another order: converged.
        assert_eq!(
            decide(&s, "db", Some(&o), Flags::default()),
            Decision::Converged
        );
        // Spec unset: whatever the cloud has stands.
        assert_eq!(
            decide(&spec(), "db", Some(&o), Flags::default()),
            Decision::Converged
        );
        // One added, one removed, one re-described.
        let s2 = with_public(
            true,
            vec![
                entry("203.0.113.0/24", "office v2"),
                entry("198.51.100.7/32", "ci"),
            ],
        );
        let c = public_endpoint_diff(&s2, &o).expect("differs");
        assert_eq!(c.added, vec!["203.0.113.0/24", "198.51.100.7/32"]);
        assert_eq!(c.removed, vec!["10.0.0.1/32"]);
        assert_eq!(c.enabled, None);
        assert_eq!(
            c.summary(),
            "public endpoint: allow 203.0.113.0/24, 198.51.100.7/32; remove 10.0.0.1/32"
        );
        // Disabling alone.
        let c = public_endpoint_diff(
            &with_public(false, o.public_endpoint.clone().unwrap().ip_access_list),
            &o,
        )
        .expect("differs");
        assert_eq!(
            (c.enabled, c.added.len(), c.removed.len()),
            (Some(false), 0, 0)
        );
    }

    #[test]
    fn public_endpoint_comes_after_topology_and_on_a_paused_cluster_between_resume_and_pause() {
        let mut s = with_public(true, vec![entry("203.0.113.0/24", "")]);
        s.tidb.node_count = 3;
        let mut o = observed(ACTIVE);
        o.public_endpoint = Some(PublicEndpointObserved::default());
        let Decision::Act { plan, .. } = decide(&s, "db", Some(&o), Flags::default()) else {
            panic!("expected Act")
        };
        assert_eq!(
            plan.iter().map(Step::verb).collect::<Vec<_>>(),
            vec!["update", "update public endpoint"]
        );
        let mut s = with_public(true, vec![entry("203.0.113.0/24", "")]);
        s.paused = true;
        let mut o = observed(PAUSED);
        o.public_endpoint = Some(PublicEndpointObserved::default());
        let Decision::Act { plan, .. } = decide(&s, "db", Some(&o), Flags::default()) else {
            panic!("expected Act")
        };
        assert_eq!(
            plan.iter().map(Step::verb).collect::<Vec<_>>(),
            vec!["resume", "update public endpoint", "pause"]
        );
    }
}
