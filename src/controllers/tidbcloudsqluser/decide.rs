//! The pure part of the TidbCloudSqlUser reconciler: what the spec asks for against what TiDB Cloud reports
//! ([`decide`]), and which user a create whose answer was lost made ([`made_by`]). No I/O.
//!
//! TiDB Cloud never returns a password: a password to set (rotation, a changed Secret) is detected by
//! comparing a SHA-256 fingerprint of the wanted password, salted with the object's UID, with the one recorded
//! in status when the password was last set.

use crate::providers::tidbcloud::models::SqlUser;

/// What the spec asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted<'a> {
    pub user_name: &'a str,
    pub builtin_role: &'static str,
    /// Sorted.
    pub custom_roles: &'a [String],
    /// Fingerprint of the password wanted now.
    pub password_fingerprint: &'a str,
}

/// One PATCH of the user: what is set changes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Change {
    pub builtin_role: Option<String>,
    pub custom_roles: Option<Vec<String>>,
    pub password: bool,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self == &Change::default()
    }

    /// Human summary for Events and conditions (never the password itself).
    pub fn summary(&self, observed: &SqlUser) -> String {
        let mut parts = Vec::new();
        if let Some(r) = &self.builtin_role {
            parts.push(format!("builtin role {}→{r}", observed.builtin_role));
        }
        if let Some(r) = &self.custom_roles {
            let show = |v: &[String]| {
                if v.is_empty() {
                    "(none)".to_string()
                } else {
                    v.join(", ")
                }
            };
            parts.push(format!(
                "custom roles {}→{}",
                show(&observed.custom_roles),
                show(r)
            ));
        }
        if self.password {
            parts.push("new password".to_string());
        }
        parts.join("; ")
    }

    /// Whether the roles (not only the password) change.
    pub fn roles(&self) -> bool {
        self.builtin_role.is_some() || self.custom_roles.is_some()
    }
}

/// The next thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No user yet: create it.
    Create,
    /// The user differs: one PATCH.
    Update(Change),
    /// The user matches the spec.
    Converged,
}

/// Decides, given the fingerprint of the password last set (status).
pub fn decide(
    wanted: &Wanted,
    observed: Option<&SqlUser>,
    recorded_fingerprint: Option<&str>,
) -> Decision {
    let Some(o) = observed else {
        return Decision::Create;
    };
    let mut c = Change::default();
    if o.builtin_role != wanted.builtin_role {
        c.builtin_role = Some(wanted.builtin_role.to_string());
    }
    let mut have = o.custom_roles.clone();
    have.sort();
    have.dedup();
    if have != wanted.custom_roles {
        c.custom_roles = Some(wanted.custom_roles.to_vec());
    }
    c.password = recorded_fingerprint != Some(wanted.password_fingerprint);
    if c.is_empty() {
        Decision::Converged
    } else {
        Decision::Update(c)
    }
}

/// Whether `user`, found in cluster `cluster_id`, may be what a create under the intent `(intent_cluster,
/// intent_user)` made: the same cluster and user name (the name is the user's identity in its cluster; TiDB
/// Cloud reports no creation time or creator for SQL users). A user of that name that existed before the
/// intent was recorded is ruled out before the create (`Conflict`), so a match after a lost answer is ours.
pub fn made_by(intent_cluster: &str, intent_user: &str, cluster_id: &str, user: &SqlUser) -> bool {
    cluster_id == intent_cluster && user.user_name == intent_user
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: &str, custom: &[&str]) -> SqlUser {
        SqlUser {
            user_name: "app".into(),
            auth_method: "mysql_native_password".into(),
            builtin_role: role.into(),
            custom_roles: custom.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn wanted<'a>(custom: &'a [String], fp: &'a str) -> Wanted<'a> {
        Wanted {
            user_name: "app",
            builtin_role: "role_readwrite",
            custom_roles: custom,
            password_fingerprint: fp,
        }
    }

    #[test]
    fn nothing_there_is_created_and_a_match_converges() {
        let roles = vec!["analyst".to_string(), "etl".to_string()];
        assert_eq!(decide(&wanted(&roles, "fp"), None, None), Decision::Create);
        // Custom roles are a set: order does not matter.
        let u = user("role_readwrite", &["etl", "analyst"]);
        assert_eq!(
            decide(&wanted(&roles, "fp"), Some(&u), Some("fp")),
            Decision::Converged
        );
    }

    #[test]
    fn roles_and_password_differences_are_one_patch() {
        let roles = vec!["analyst".to_string()];
        let u = user("role_readonly", &["etl"]);
        let Decision::Update(c) = decide(&wanted(&roles, "fp2"), Some(&u), Some("fp1")) else {
            panic!("update")
        };
        assert_eq!(c.builtin_role.as_deref(), Some("role_readwrite"));
        assert_eq!(c.custom_roles, Some(roles.clone()));
        assert!(c.password && c.roles());
        assert_eq!(
            c.summary(&u),
            "builtin role role_readonly→role_readwrite; custom roles etl→analyst; new password"
        );
        // Only the password (a rotation, or the fingerprint was never recorded).
        let u = user("role_readwrite", &["analyst"]);
        let Decision::Update(c) = decide(&wanted(&roles, "fp"), Some(&u), None) else {
            panic!("update")
        };
        assert!(c.password && !c.roles());
        assert!(!c.summary(&u).contains("fp"));
    }

    #[test]
    fn adoption_matches_cluster_and_name_only() {
        let u = user("role_admin", &[]);
        assert!(made_by("7", "app", "7", &u));
        assert!(!made_by("7", "app", "8", &u), "another cluster");
        assert!(!made_by("7", "other", "7", &u), "another name");
    }
}
