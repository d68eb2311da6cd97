//! The error taxonomy every cloud provider maps into.
//!
//! Controllers act on the *kind* of failure, not on its text: [`CloudError::category`] is a stable name for
//! Event reasons and metric labels, [`CloudError::is_transient`] and [`CloudError::retry_after`] drive the
//! requeue policy, and [`CloudError::outcome_uncertain`] tells a reconciler that a create may have happened
//! although no answer arrived (look the resource up before creating again).
//!
//! Messages carry what the server said (it tells the user what to change) but never secrets: the client
//! builds them from response bodies only, scrubs the secrets of the request from them, and request bodies
//! and `Authorization` headers never reach an error.
use std::time::Duration;

/// A failed cloud API call.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// 401: the API key pair is unknown or wrong (or the digest exchange failed).
    #[error("the API key was rejected (401 Unauthorized): {message}")]
    Unauthorized { message: String },
    /// 403: the key is valid but its role does not allow the operation.
    #[error("the API key is not allowed to do this (403 Forbidden): {message}")]
    Forbidden { message: String },
    /// 404: the resource (or path) does not exist.
    #[error("not found (404): {message}")]
    NotFound { message: String },
    /// 400: the request was refused; `message` is the server's explanation of what to change.
    #[error("invalid request (400): {message}")]
    InvalidArgument { message: String },
    /// 409 / 412 (or a google.rpc FAILED_PRECONDITION / ABORTED code): the resource is not in a state that
    /// allows the operation right now; re-observe and retry later.
    #[error("the operation conflicts with the current state ({status}): {message}")]
    FailedPrecondition { status: u16, message: String },
    /// 429: the per-key request budget is spent; retry after `retry_after`.
    #[error("rate limited (429), retry after {}s: {message}", retry_after.as_secs_f64())]
    RateLimited {
        retry_after: Duration,
        message: String,
    },
    /// 5xx: the service failed; usually transient.
    #[error("server error ({status}): {message}")]
    Server { status: u16, message: String },
    /// Any other HTTP status the API does not document.
    #[error("unexpected HTTP status {status}: {message}")]
    UnexpectedStatus { status: u16, message: String },
    /// No (complete) answer: connection refused or reset, timeout, TLS failure. `uncertain` is true when the
    /// request may have reached the server and been applied (a mutation whose request was possibly sent).
    #[error("{message}{}", if *uncertain { " (the request may have been applied)" } else { "" })]
    Transport {
        uncertain: bool,
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The answer could not be understood.
    #[error("cannot decode the response: {message}")]
    Decode { message: String },
    /// The client is misconfigured (plain http to a remote host, unreadable CA file, bad URL...).
    #[error("configuration error: {message}")]
    Config { message: String },
}

impl CloudError {
    /// A stable name for Event reasons and metric labels.
    pub fn category(&self) -> &'static str {
        match self {
            CloudError::Unauthorized { .. } => "CredentialsRejected",
            CloudError::Forbidden { .. } => "Forbidden",
            CloudError::NotFound { .. } => "NotFound",
            CloudError::InvalidArgument { .. } => "InvalidArgument",
            CloudError::FailedPrecondition { .. } => "FailedPrecondition",
            CloudError::RateLimited { .. } => "Throttled",
            CloudError::Server { .. } => "ServerError",
            CloudError::UnexpectedStatus { .. } => "UnexpectedStatus",
            CloudError::Transport { .. } => "Transport",
            CloudError::Decode { .. } => "Decode",
            CloudError::Config { .. } => "Config",
        }
    }

    /// True when retrying the same request later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            CloudError::RateLimited { .. }
            | CloudError::Server { .. }
            | CloudError::Transport { .. }
            | CloudError::FailedPrecondition { .. } => true,
            // 408 Request Timeout and 425 Too Early invite a retry.
            CloudError::UnexpectedStatus { status, .. } => matches!(status, 408 | 425),
            CloudError::Unauthorized { .. }
            | CloudError::Forbidden { .. }
            | CloudError::NotFound { .. }
            | CloudError::InvalidArgument { .. }
            | CloudError::Decode { .. }
            | CloudError::Config { .. } => false,
        }
    }

    /// The server's hint for when to retry (rate limiting only).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CloudError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// True when the request may have been applied although it failed (a mutation whose answer was lost).
    pub fn outcome_uncertain(&self) -> bool {
        matches!(
            self,
            CloudError::Transport {
                uncertain: true,
                ..
            }
        )
    }

    /// The HTTP status the server answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            CloudError::Unauthorized { .. } => Some(401),
            CloudError::Forbidden { .. } => Some(403),
            CloudError::NotFound { .. } => Some(404),
            CloudError::InvalidArgument { .. } => Some(400),
            CloudError::RateLimited { .. } => Some(429),
            CloudError::FailedPrecondition { status, .. }
            | CloudError::Server { status, .. }
            | CloudError::UnexpectedStatus { status, .. } => Some(*status),
            CloudError::Transport { .. }
            | CloudError::Decode { .. }
            | CloudError::Config { .. } => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, CloudError::NotFound { .. })
    }

    pub(crate) fn config(message: impl Into<String>) -> CloudError {
        CloudError::Config {
            message: message.into(),
        }
    }

    pub(crate) fn decode(message: impl Into<String>) -> CloudError {
        CloudError::Decode {
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Priv4te-K3y";

    fn all_variants() -> Vec<CloudError> {
        let m = || "the server said no".to_string();
        vec![
            CloudError::Unauthorized { message: m() },
            CloudError::Forbidden { message: m() },
            CloudError::NotFound { message: m() },
            CloudError::InvalidArgument { message: m() },
            CloudError::FailedPrecondition {
                status: 409,
                message: m(),
            },
            CloudError::RateLimited {
                retry_after: Duration::from_secs(3),
                message: m(),
            },
            CloudError::Server {
                status: 503,
                message: m(),
            },
            CloudError::UnexpectedStatus {
                status: 418,
                message: m(),
            },
            CloudError::Transport {
                uncertain: true,
                message: "POST /clusters: connection reset".into(),
                source: Some(Box::new(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "reset by peer",
                ))),
            },
            CloudError::Decode { message: m() },
            CloudError::Config { message: m() },
        ]
    }

    #[test]
    fn display_and_debug_never_contain_secrets() {
        for e in all_variants() {
            let text = format!("{e} {e:?} {}", e.category());
            assert!(!text.contains(SECRET), "{text}");
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn categories_are_stable_and_distinct() {
        let cats: Vec<&str> = all_variants().iter().map(CloudError::category).collect();
        assert_eq!(
            cats,
            [
                "CredentialsRejected",
                "Forbidden",
                "NotFound",
                "InvalidArgument",
                "FailedPrecondition",
                "Throttled",
                "ServerError",
                "UnexpectedStatus",
                "Transport",
                "Decode",
                "Config"
            ]
        );
    }

    #[test]
    fn transience_retry_hint_and_uncertainty() {
        let v = all_variants();
        let transient: Vec<&str> = v
            .iter()
            .filter(|e| e.is_transient())
            .map(CloudError::category)
            .collect();
        assert_eq!(
            transient,
            [
                "FailedPrecondition",
                "Throttled",
                "ServerError",
                "Transport"
            ]
        );
        assert_eq!(v[5].retry_after(), Some(Duration::from_secs(3)));
        assert!(v.iter().filter(|e| e.retry_after().is_some()).count() == 1);
        assert!(v[8].outcome_uncertain());
        assert!(
            !CloudError::Transport {
                uncertain: false,
                message: "x".into(),
                source: None
            }
            .outcome_uncertain()
        );
        assert!(v[8].to_string().contains("may have been applied"));
        assert_eq!(v[2].status(), Some(404));
        assert!(v[2].is_not_found());
    }
}
