//! SQL users of a cluster, served by the IAM v1beta1 API (`/v1beta1/clusters/{clusterId}/sqlUsers`,
//! `tidbcloud-api.md` §7.6, `iam-v1beta1.swagger.json` `api.SqlUser`, `api.CreateSqlUserReq`,
//! `api.UpdateSqlUserReq`). They live with the Dedicated state so that they go with their cluster; the
//! [`crate::iam::Iam`] module routes to them (IAM error shape).
//!
//! The password is write-only: it is kept for the admin `verifyPassword` check, never answered, never
//! logged, and hidden from `Debug`.
use super::{Dedicated, State, check_id};
use crate::api::{ApiRequest, ApiResponse};
use crate::error::ApiError;
use crate::paging::paginate;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// The one authentication method the spec lists.
pub const AUTH_METHOD: &str = "mysql_native_password";
/// The builtin roles of `api.CreateSqlUserReq.builtinRole`.
pub const BUILTIN_ROLES: &[&str] = &["role_admin", "role_readonly", "role_readwrite"];

/// MySQL account and role names as the simulator accepts them: 1–32 characters of letters, digits, `_`,
/// `-` and `.` (MySQL's limit is 32 characters; quoting rules make anything else a client hazard).
static NAME: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^[A-Za-z0-9_.\-]{1,32}$").expect("name pattern compiles"));

/// Accounts every cluster has and that the API cannot create, change or delete.
const RESERVED: &[&str] = &["root", "mysql.sys", "mysql.session", "mysql.infoschema"];

/// `api.SqlUser`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SqlUser {
    pub user_name: String,
    pub auth_method: String,
    pub builtin_role: String,
    pub custom_roles: Vec<String>,
}

#[derive(Clone)]
pub struct SqlUserRecord {
    pub cluster_id: String,
    pub user: SqlUser,
    password: String,
}

impl std::fmt::Debug for SqlUserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlUserRecord")
            .field("cluster_id", &self.cluster_id)
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// `api.CreateSqlUserReq`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateSqlUser {
    user_name: Option<String>,
    password: Option<String>,
    auth_method: Option<String>,
    builtin_role: Option<String>,
    custom_roles: Option<Vec<String>>,
    /// Serverless only (user prefix); accepted and ignored for Dedicated clusters.
    auto_prefix: Option<bool>,
}

/// `api.UpdateSqlUserReq`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateSqlUser {
    password: Option<String>,
    builtin_role: Option<String>,
    custom_roles: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordCheck {
    password: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListSqlUsers<'a> {
    sql_users: Vec<&'a SqlUser>,
    next_page_token: String,
}

fn check_password(p: &str) -> Result<(), ApiError> {
    if !(8..=64).contains(&p.chars().count()) {
        return Err(ApiError::invalid(
            "password must be 8 to 64 characters long",
        ));
    }
    Ok(())
}

fn check_builtin_role(r: &str) -> Result<(), ApiError> {
    if !BUILTIN_ROLES.contains(&r) {
        return Err(ApiError::invalid(format!(
            "builtinRole {r:?} must be one of {}",
            BUILTIN_ROLES.join(", ")
        )));
    }
    Ok(())
}

fn check_custom_roles(roles: &[String]) -> Result<(), ApiError> {
    for (i, r) in roles.iter().enumerate() {
        if !NAME.is_match(r) {
            return Err(ApiError::invalid(format!(
                "customRoles[{i}] {r:?} is not a valid role name: 1-32 letters, digits, '_', '-' or '.'"
            )));
        }
        if BUILTIN_ROLES.contains(&r.as_str()) {
            return Err(ApiError::invalid(format!(
                "customRoles[{i}] {r:?} is a builtin role: set it as builtinRole"
            )));
        }
        if roles[..i].contains(r) {
            return Err(ApiError::invalid(format!(
                "customRoles[{i}] {r:?} is listed twice"
            )));
        }
    }
    Ok(())
}

fn not_found(cid: &str, name: &str) -> ApiError {
    ApiError::not_found(format!("sql user {name} not found in cluster {cid}"))
}

impl State {
    /// Drops the users of clusters that are gone.
    pub(super) fn tick_sql_users(&mut self) {
        let clusters = &self.clusters;
        self.sql_users.retain(|u| {
            clusters
                .iter()
                .any(|c| c.cluster.cluster_id == u.cluster_id)
        });
    }
}

impl Dedicated {
    /// Mutations run SQL on the cluster: it must be ACTIVE.
    fn sql_cluster_active(s: &State, cid: &str) -> Result<(), ApiError> {
        let c = s.cluster(cid)?;
        if c.cluster.state != "ACTIVE" {
            return Err(ApiError::invalid(format!(
                "cluster {cid} is {}: SQL users can be changed only when the cluster is ACTIVE",
                c.cluster.state
            )));
        }
        Ok(())
    }

    pub fn list_sql_users(&self, cid: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let s = self.state();
        s.cluster(cid)?;
        let items: Vec<&SqlUser> = s
            .sql_users
            .iter()
            .filter(|u| u.cluster_id == cid)
            .map(|u| &u.user)
            .collect();
        let page = paginate(req, items, 100)?;
        ApiResponse::ok(&ListSqlUsers {
            sql_users: page.items,
            next_page_token: page.next_token,
        })
    }

    pub fn create_sql_user(&self, cid: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let body: CreateSqlUser = req.json()?;
        let _ = body.auto_prefix;
        let name = body
            .user_name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::invalid("userName is required"))?;
        if !NAME.is_match(&name) {
            return Err(ApiError::invalid(format!(
                "userName {name:?} is not valid: 1-32 letters, digits, '_', '-' or '.'"
            )));
        }
        let password = body
            .password
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| ApiError::invalid("password is required"))?;
        check_password(&password)?;
        let auth_method = match body.auth_method.as_deref() {
            None | Some("") => AUTH_METHOD.to_string(),
            Some(m) if m == AUTH_METHOD => m.to_string(),
            Some(m) => {
                return Err(ApiError::invalid(format!(
                    "authMethod {m:?} is not supported: available values [{AUTH_METHOD}]"
                )));
            }
        };
        let builtin_role = body
            .builtin_role
            .clone()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ApiError::invalid("builtinRole is required"))?;
        check_builtin_role(&builtin_role)?;
        let custom_roles = body.custom_roles.clone().unwrap_or_default();
        check_custom_roles(&custom_roles)?;
        let mut s = self.state();
        Self::sql_cluster_active(&s, cid)?;
        if RESERVED.contains(&name.as_str())
            || s.sql_users
                .iter()
                .any(|u| u.cluster_id == cid && u.user.user_name == name)
        {
            return Err(ApiError::invalid(format!(
                "sql user {name} already exists in cluster {cid}"
            )));
        }
        let user = SqlUser {
            user_name: name,
            auth_method,
            builtin_role,
            custom_roles,
        };
        let out = ApiResponse::ok(&user)?.committed();
        s.sql_users.push(SqlUserRecord {
            cluster_id: cid.to_string(),
            user,
            password,
        });
        Ok(out)
    }

    pub fn get_sql_user(&self, cid: &str, name: &str) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let s = self.state();
        s.cluster(cid)?;
        let u = s
            .sql_users
            .iter()
            .find(|u| u.cluster_id == cid && u.user.user_name == name)
            .ok_or_else(|| not_found(cid, name))?;
        ApiResponse::ok(&u.user)
    }

    pub fn update_sql_user(
        &self,
        cid: &str,
        name: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let body: UpdateSqlUser = req.json()?;
        let password = body.password.filter(|p| !p.is_empty());
        if let Some(p) = &password {
            check_password(p)?;
        }
        let role = body.builtin_role.filter(|r| !r.is_empty());
        if let Some(r) = &role {
            check_builtin_role(r)?;
        }
        if let Some(roles) = &body.custom_roles {
            check_custom_roles(roles)?;
        }
        let mut s = self.state();
        Self::sql_cluster_active(&s, cid)?;
        let u = s
            .sql_users
            .iter_mut()
            .find(|u| u.cluster_id == cid && u.user.user_name == name)
            .ok_or_else(|| not_found(cid, name))?;
        let changed = password.is_some() || role.is_some() || body.custom_roles.is_some();
        if let Some(p) = password {
            u.password = p;
        }
        if let Some(r) = role {
            u.user.builtin_role = r;
        }
        if let Some(roles) = body.custom_roles {
            u.user.custom_roles = roles;
        }
        let out = ApiResponse::ok(&u.user)?;
        Ok(if changed { out.committed() } else { out })
    }

    pub fn delete_sql_user(&self, cid: &str, name: &str) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let mut s = self.state();
        Self::sql_cluster_active(&s, cid)?;
        let before = s.sql_users.len();
        s.sql_users
            .retain(|u| !(u.cluster_id == cid && u.user.user_name == name));
        if s.sql_users.len() == before {
            return Err(not_found(cid, name));
        }
        // `api.BasicResp`.
        Ok(ApiResponse::ok(&serde_json::json!({"code": 200, "message": "OK"}))?.committed())
    }

    /// Admin: whether `{"password"}` is the user's password (what a MySQL login would prove).
    pub fn verify_sql_user_password(
        &self,
        cid: &str,
        name: &str,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        check_id("clusterId", cid)?;
        let body: PasswordCheck = req.json()?;
        let s = self.state();
        s.cluster(cid)?;
        let u = s
            .sql_users
            .iter()
            .find(|u| u.cluster_id == cid && u.user.user_name == name)
            .ok_or_else(|| not_found(cid, name))?;
        ApiResponse::ok(&serde_json::json!({"match": u.password == body.password}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_roles_are_checked() {
        assert!(NAME.is_match("app_user-1.x"));
        for bad in ["", "a b", "x'y", "é", &"a".repeat(33)] {
            assert!(!NAME.is_match(bad), "{bad:?}");
        }
        assert!(check_builtin_role("role_readwrite").is_ok());
        assert!(check_builtin_role("role_owner").is_err());
        assert!(check_custom_roles(&["r1".into(), "r2".into()]).is_ok());
        assert!(check_custom_roles(&["r1".into(), "r1".into()]).is_err());
        assert!(check_custom_roles(&["role_admin".into()]).is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let r = SqlUserRecord {
            cluster_id: "1".into(),
            user: SqlUser {
                user_name: "u".into(),
                auth_method: AUTH_METHOD.into(),
                builtin_role: "role_admin".into(),
                custom_roles: vec![],
            },
            password: "secret-password".into(),
        };
        assert!(!format!("{r:?}").contains("secret-password"));
    }
}
