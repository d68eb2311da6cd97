//! Injected faults: failing, throttled, slow and reset requests, and commit-then-drop mutations.
use crate::api::Method;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultKind {
    /// Answer with `status` (500 or 503 usually) without touching state.
    Fail,
    /// Answer 429 with the gateway's rate-limit body, as if the quota were spent.
    Throttle,
    /// Close the connection without an answer, before the request is processed.
    Reset,
    /// Add `latencyMs` before the request is processed.
    Latency,
    /// Apply a mutation, then close the connection without an answer (after `holdMs`): the client cannot
    /// tell whether its create or patch happened.
    DropAfterCommit,
}

/// One fault rule. A rule applies to requests that match its method and path prefix; it fires for the
/// next `count` matching requests, or for a `fraction` of them, or (neither set) for every one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    pub kind: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ms: Option<u64>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultError {
    #[error("fault rule: fraction must be between 0 and 1, got {0}")]
    Fraction(f64),
    #[error("fault rule: status must be 400-599, got {0}")]
    Status(u16),
    #[error("fault rule: latency needs latencyMs")]
    Latency,
    #[error(
        "fault spec {0:?}: expected KIND[:ARG][@METHOD][~PATH_PREFIX], e.g. fail:503, reset, throttle, latency:250, drop-after-commit@POST~/v1beta1/clusters, with optional xN (count) or %F (fraction)"
    )]
    Spec(String),
}

impl FaultRule {
    pub fn new(kind: FaultKind) -> FaultRule {
        FaultRule {
            kind,
            status: None,
            count: None,
            fraction: None,
            method: None,
            path_prefix: None,
            latency_ms: None,
            hold_ms: None,
        }
    }

    pub fn validate(&self) -> Result<(), FaultError> {
        if let Some(f) = self.fraction
            && !(0.0..=1.0).contains(&f)
        {
            return Err(FaultError::Fraction(f));
        }
        if let Some(s) = self.status
            && !(400..=599).contains(&s)
        {
            return Err(FaultError::Status(s));
        }
        if self.kind == FaultKind::Latency && self.latency_ms.is_none() {
            return Err(FaultError::Latency);
        }
        Ok(())
    }

    /// Parses the command-line form: `KIND[:ARG][xCOUNT|%FRACTION][@METHOD][~PATH_PREFIX]`, where ARG is the
    /// status for `fail`, milliseconds for `latency` and the hold for `drop-after-commit`.
    pub fn parse_spec(spec: &str) -> Result<FaultRule, FaultError> {
        let bad = || FaultError::Spec(spec.to_string());
        let (rest, path) = match spec.split_once('~') {
            Some((a, p)) => (a, Some(p.to_string())),
            None => (spec, None),
        };
        let (rest, method) = match rest.split_once('@') {
            Some((a, m)) => (a, Some(m.to_ascii_uppercase())),
            None => (rest, None),
        };
        let (rest, count, fraction) = if let Some((a, n)) = rest.split_once('x') {
            (a, Some(n.parse::<u64>().map_err(|_| bad())?), None)
        } else if let Some((a, f)) = rest.split_once('%') {
            (a, None, Some(f.parse::<f64>().map_err(|_| bad())?))
        } else {
            (rest, None, None)
        };
        let (kind, arg) = match rest.split_once(':') {
            Some((k, a)) => (k, Some(a.parse::<u64>().map_err(|_| bad())?)),
            None => (rest, None),
        };
        let kind = match kind {
            "fail" => FaultKind::Fail,
            "throttle" => FaultKind::Throttle,
            "reset" => FaultKind::Reset,
            "latency" => FaultKind::Latency,
            "drop-after-commit" => FaultKind::DropAfterCommit,
            _ => return Err(bad()),
        };
        let mut r = FaultRule::new(kind);
        r.count = count;
        r.fraction = fraction;
        r.method = method;
        r.path_prefix = path;
        match kind {
            FaultKind::Fail => r.status = Some(arg.unwrap_or(500) as u16),
            FaultKind::Latency => r.latency_ms = Some(arg.ok_or_else(bad)?),
            FaultKind::DropAfterCommit => r.hold_ms = arg,
            _ => {}
        }
        r.validate()?;
        Ok(r)
    }

    fn matches(&self, method: Method, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method.as_str())
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
    }
}

/// What the gateway must do to one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FaultPlan {
    pub latency: Duration,
    pub reset: bool,
    pub fail_status: Option<u16>,
    pub throttle: bool,
    /// Some(hold) when the response to a committed mutation must be dropped.
    pub drop_after_commit: Option<Duration>,
}

/// The active rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    pub fn add(&mut self, rule: FaultRule) -> Result<(), FaultError> {
        rule.validate()?;
        self.rules.push(rule);
        Ok(())
    }
    pub fn clear(&mut self) {
        self.rules.clear();
    }
    pub fn list(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    /// Decides the faults for one request, consuming counted rules. `roll` gives a number in [0,1) per
    /// fractional rule.
    pub fn plan(&mut self, method: Method, path: &str, mut roll: impl FnMut() -> f64) -> FaultPlan {
        let mut plan = FaultPlan::default();
        for rule in self.rules.iter_mut() {
            if !rule.matches(method, path) {
                continue;
            }
            if rule.kind == FaultKind::DropAfterCommit && !method.is_mutation() {
                continue;
            }
            let fires = match (rule.count, rule.fraction) {
                (Some(0), _) => false,
                (Some(n), _) => {
                    rule.count = Some(n - 1);
                    true
                }
                (None, Some(f)) => roll() < f,
                (None, None) => true,
            };
            if !fires {
                continue;
            }
            match rule.kind {
                FaultKind::Latency => {
                    plan.latency += Duration::from_millis(rule.latency_ms.unwrap_or(0))
                }
                FaultKind::Reset => plan.reset = true,
                FaultKind::Fail => {
                    plan.fail_status = plan.fail_status.or(Some(rule.status.unwrap_or(500)))
                }
                FaultKind::Throttle => plan.throttle = true,
                FaultKind::DropAfterCommit => {
                    plan.drop_after_commit = Some(Duration::from_millis(rule.hold_ms.unwrap_or(0)))
                }
            }
        }
        self.rules.retain(|r| r.count != Some(0));
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_fire_n_times_then_disappear() {
        let mut f = Faults::default();
        f.add(FaultRule::parse_spec("fail:503x2@GET").unwrap())
            .unwrap();
        assert_eq!(
            f.plan(Method::Post, "/x", || 0.0).fail_status,
            None,
            "method filter"
        );
        assert_eq!(f.plan(Method::Get, "/x", || 0.0).fail_status, Some(503));
        assert_eq!(f.plan(Method::Get, "/x", || 0.0).fail_status, Some(503));
        assert_eq!(f.plan(Method::Get, "/x", || 0.0).fail_status, None);
        assert!(f.list().is_empty());
    }

    #[test]
    fn fractions_path_prefixes_and_drop_after_commit_only_for_mutations() {
        let mut f = Faults::default();
        f.add(FaultRule::parse_spec("reset%0.5~/v1beta1/clusters").unwrap())
            .unwrap();
        f.add(FaultRule::parse_spec("drop-after-commit:100x1").unwrap())
            .unwrap();
        assert!(f.plan(Method::Get, "/v1beta1/clusters", || 0.2).reset);
        assert!(!f.plan(Method::Get, "/v1beta1/clusters", || 0.7).reset);
        assert!(!f.plan(Method::Get, "/v1beta1/regions", || 0.2).reset);
        assert_eq!(
            f.plan(Method::Get, "/v1beta1/regions", || 0.9)
                .drop_after_commit,
            None
        );
        assert_eq!(
            f.plan(Method::Post, "/v1beta1/regions", || 0.9)
                .drop_after_commit,
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn bad_specs_are_rejected_with_the_expected_form() {
        assert!(matches!(
            FaultRule::parse_spec("explode"),
            Err(FaultError::Spec(_))
        ));
        assert!(matches!(
            FaultRule::parse_spec("fail:200"),
            Err(FaultError::Status(200))
        ));
        assert!(matches!(
            FaultRule::parse_spec("reset%2"),
            Err(FaultError::Fraction(_))
        ));
        assert!(matches!(
            FaultRule::parse_spec("latency"),
            Err(FaultError::Spec(_))
        ));
    }
}
