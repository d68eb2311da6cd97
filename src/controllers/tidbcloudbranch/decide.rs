//! What to do with a branch (pure): the spec's problems, the one next step, and whether a listed branch is the
//! one a lost create of this object made.

use chrono::{DateTime, Utc};

use crate::api::tidbcloudbranch::TidbCloudBranchSpec;
use crate::providers::tidbcloud::serverless_branch::{ACTIVE, Branch, DELETED};
use crate::providers::tidbcloud::serverless_models::UID_LABEL;
use crate::providers::tidbcloud::translate::created_by_key;

/// The one next step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing exists: create the branch.
    Create,
    /// The branch is changing (`CREATING`, `RESTORING`, ...): follow it.
    Wait { state: String },
    /// spec.resetRequest exceeds the last one acted on: `:reset` once, then record `request`.
    Reset { request: i64 },
    /// The root password differs from the wanted one: set it.
    SetPassword,
    /// The branch is `ACTIVE` and nothing is due.
    Converged,
}

/// What is known besides the observed branch.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts {
    /// spec.resetRequest.
    pub reset_request: i64,
    /// status.lastResetRequest.
    pub last_reset_request: Option<i64>,
    /// The wanted root password is not the one the branch has (known from the connection Secret).
    pub password_differs: bool,
}

/// The next step for the branch `observed` (`None`: nothing exists).
pub fn decide(observed: Option<&Branch>, facts: Facts) -> Decision {
    let Some(b) = observed else {
        return Decision::Create;
    };
    if b.state != ACTIVE {
        return Decision::Wait {
            state: b.state.clone(),
        };
    }
    // A branch never seen reset takes the spec's value as acted on (it was made with the parent's data).
    let last = facts.last_reset_request.unwrap_or(facts.reset_request);
    if facts.reset_request > last {
        return Decision::Reset {
            request: facts.reset_request,
        };
    }
    if facts.password_differs {
        return Decision::SetPassword;
    }
    Decision::Converged
}

/// What in `spec` cannot be satisfied, checked before any call: a parentTimestamp that is no time or lies in
/// the future (`now`).
pub fn problems(spec: &TidbCloudBranchSpec, now: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = spec.parent_timestamp.as_deref() {
        match DateTime::parse_from_rfc3339(t) {
            Err(e) => out.push(format!(
                "spec.parentTimestamp {t:?} is not an RFC 3339 time ({e}); for example 2025-01-02T03:04:05Z"
            )),
            Ok(at) if at.with_timezone(&Utc) > now => out.push(format!(
                "spec.parentTimestamp {t} is in the future: a branch can only be made from the parent's past"
            )),
            Ok(_) => {}
        }
    }
    out
}

/// Whether `b` may be what a create by the object `uid` under the intent (`cluster_id`, `display_name`) made
/// with the key `key_id`: it carries the uid annotation, has the intended name and cluster, is not deleted, and
/// was created by that key.
pub fn made_by(uid: &str, cluster_id: &str, display_name: &str, b: &Branch, key_id: &str) -> bool {
    !uid.is_empty()
        && b.annotations.get(UID_LABEL).map(String::as_str) == Some(uid)
        && b.cluster_id == cluster_id
        && b.display_name == display_name
        && b.state != DELETED
        && created_by_key(&b.created_by, key_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branch(state: &str) -> Branch {
        Branch {
            branch_id: "bran-1".into(),
            display_name: "pr-1".into(),
            cluster_id: "10".into(),
            state: state.into(),
            created_by: "apikey-ABCDEFGH".into(),
            annotations: [(UID_LABEL.to_string(), "uid-1".to_string())].into(),
            ..Default::default()
        }
    }

    fn facts(reset: i64, last: Option<i64>) -> Facts {
        Facts {
            reset_request: reset,
            last_reset_request: last,
            password_differs: false,
        }
    }

    #[test]
    fn nothing_observed_is_a_create() {
        assert_eq!(decide(None, facts(3, None)), Decision::Create);
    }

    #[test]
    fn a_changing_branch_is_followed_whatever_is_due() {
        for state in ["CREATING", "RESTORING", "MAINTENANCE"] {
            let f = Facts {
                password_differs: true,
                ..facts(2, Some(1))
            };
            assert_eq!(
                decide(Some(&branch(state)), f),
                Decision::Wait {
                    state: state.into()
                }
            );
        }
    }

    #[test]
    fn a_reset_is_due_only_when_the_request_exceeds_the_last_one() {
        let b = branch(ACTIVE);
        assert_eq!(
            decide(Some(&b), facts(2, Some(1))),
            Decision::Reset { request: 2 }
        );
        assert_eq!(decide(Some(&b), facts(1, Some(1))), Decision::Converged);
        // Never recorded: the value at hand counts as acted on (a new or adopted branch is not reset).
        assert_eq!(decide(Some(&b), facts(5, None)), Decision::Converged);
        assert_eq!(decide(Some(&b), facts(0, Some(4))), Decision::Converged);
    }

    #[test]
    fn a_reset_comes_before_a_password_and_a_password_before_converged() {
        let b = branch(ACTIVE);
        let f = Facts {
            password_differs: true,
            ..facts(2, Some(1))
        };
        assert_eq!(decide(Some(&b), f), Decision::Reset { request: 2 });
        let f = Facts {
            password_differs: true,
            ..facts(1, Some(1))
        };
        assert_eq!(decide(Some(&b), f), Decision::SetPassword);
    }

    #[test]
    fn parent_timestamps_must_be_rfc3339_and_in_the_past() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("now")
            .with_timezone(&Utc);
        let spec = |t: Option<&str>| -> TidbCloudBranchSpec {
            serde_json::from_value(serde_json::json!({
                "clusterId": "10", "parentTimestamp": t,
            }))
            .expect("spec")
        };
        assert!(problems(&spec(None), now).is_empty());
        assert!(problems(&spec(Some("2025-12-31T23:00:00+01:00")), now).is_empty());
        let future = problems(&spec(Some("2026-01-02T00:00:00Z")), now);
        assert!(future[0].contains("in the future"), "{future:?}");
        let bad = problems(&spec(Some("2025-13-01T00:00:00Z")), now);
        assert!(bad[0].contains("not an RFC 3339 time"), "{bad:?}");
    }

    #[test]
    fn only_what_this_object_made_with_this_key_matches() {
        let b = branch(ACTIVE);
        assert!(made_by("uid-1", "10", "pr-1", &b, "abcdefghij"));
        assert!(
            !made_by("uid-2", "10", "pr-1", &b, "abcdefghij"),
            "other uid"
        );
        assert!(!made_by("", "10", "pr-1", &b, "abcdefghij"), "no uid");
        assert!(
            !made_by("uid-1", "11", "pr-1", &b, "abcdefghij"),
            "other cluster"
        );
        assert!(
            !made_by("uid-1", "10", "pr-2", &b, "abcdefghij"),
            "other name"
        );
        assert!(!made_by("uid-1", "10", "pr-1", &b, "zzzzzzzz"), "other key");
        assert!(!made_by(
            "uid-1",
            "10",
            "pr-1",
            &branch(DELETED),
            "abcdefghij"
        ));
    }
}
