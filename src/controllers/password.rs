//! The root password of a database kind with a connection Secret (TidbCloudCluster, TidbCloudServerlessCluster),
//! decided one way: the referenced Secret's value when the spec names one (8–64 characters), else the one the
//! connection Secret already holds, else — for a database this resource creates — a generated one. And the MySQL
//! URI the connection Secrets carry.

use secrecy::{ExposeSecret, SecretString};

use super::core::{self, Base, Outcome};
use super::driver::{self, CloudKind, Flow, Stop};
use crate::api::common::SecretKeyRef;
use crate::reasons;

/// The password the database should have.
pub struct DesiredPassword {
    pub value: Option<SecretString>,
    /// The database exists and its password must be set to `value`.
    pub differs: bool,
}

/// Where the password of one object comes from.
pub struct Source<'s> {
    /// The object's connection Secret.
    pub connection: String,
    /// `spec.rootPassword.secretRef`.
    pub reference: Option<&'s SecretKeyRef>,
    /// The object manages (or adopts) a database already.
    pub has_database: bool,
    /// Adopted by id or observe-only: without a reference, the database keeps the password it has.
    pub keeps_its_own: bool,
}

/// The desired root password of `run`'s object (a reference that is missing or not 8–64 characters stalls).
pub async fn desired<K: CloudKind>(run: &Base<'_, K>, source: Source<'_>) -> Flow<DesiredPassword> {
    let current = run
        .connection(source.connection)
        .get()
        .await?
        .as_ref()
        .and_then(|s| core::value_of(s, "password"));
    if let Some(r) = source.reference {
        let value = run
            .password_from(r, "spec.rootPassword")
            .await?
            .map_err(Stop::Report)?;
        let len = value.expose_secret().chars().count();
        if !(8..=64).contains(&len) {
            let message = format!(
                "spec.rootPassword: the value in Secret {} key {:?} must be 8 to 64 characters (it has {len})",
                r.name, r.key
            );
            return driver::report(Outcome::Stalled {
                reason: reasons::INVALID_SPEC,
                message,
                requeue: None,
            });
        }
        let differs = current
            .as_ref()
            .is_none_or(|c| c.expose_secret() != value.expose_secret());
        return Ok(DesiredPassword {
            value: Some(value),
            differs: differs && source.has_database,
        });
    }
    if let Some(c) = current {
        return Ok(DesiredPassword {
            value: Some(c),
            differs: false,
        });
    }
    if source.keeps_its_own {
        return Ok(DesiredPassword {
            value: None,
            differs: false,
        });
    }
    Ok(DesiredPassword {
        value: Some(core::generate_password()),
        differs: source.has_database,
    })
}

/// `mysql://user:password@host:port`, user and password percent-encoded.
pub fn mysql_uri(user: &str, host: &str, port: i32, password: Option<&str>) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let user = utf8_percent_encode(user, NON_ALPHANUMERIC);
    match password {
        Some(pw) => format!(
            "mysql://{user}:{}@{host}:{port}",
            utf8_percent_encode(pw, NON_ALPHANUMERIC)
        ),
        None => format!("mysql://{user}@{host}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_escape_the_user_and_the_password() {
        assert_eq!(
            mysql_uri("root", "h", 4000, Some("a@b/c")),
            "mysql://root:a%40b%2Fc@h:4000"
        );
        assert_eq!(
            mysql_uri("abc.root", "h", 4000, Some("a@b")),
            "mysql://abc%2Eroot:a%40b@h:4000"
        );
        assert_eq!(mysql_uri("root", "h", 4000, None), "mysql://root@h:4000");
    }
}
