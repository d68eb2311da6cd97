//! Error responses in the shapes the real service uses.
//!
//! Dedicated v1beta1 (grpc-gateway): `{"code": <int>, "message": "...", "details": []}` with the HTTP status;
//! the gateway (Kong) answers authentication and rate-limit failures with 8-digit codes (49900001, 49900007).
//! IAM v1beta1 (swaggo): `{"code": "...", "error": ..., "msgPrefix": "...", "status": <int>}`.
//! ClickHouse Cloud v1: `{"status": <int>, "error": "<CODE>: <detail>", "requestId": "<uuid>"}`.
use serde_json::json;

/// Gateway code for an unknown public key or a bad digest.
pub const CODE_UNAUTHENTICATED: i64 = 49900001;
/// Gateway code for an exceeded rate limit.
pub const CODE_RATE_LIMITED: i64 = 49900007;

/// Which API family answered: decides the error body shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{code, message, details}` (dedicated/serverless v1beta1 and the gateway).
    RpcStatus,
    /// `{code, error, msgPrefix, status}` (IAM/billing).
    OpenApiError,
    /// `{status, error: "CODE: detail", requestId}` (ClickHouse Cloud). The bare code when the message is
    /// empty (`"NOT_FOUND"`, `"TOO_MANY_REQUESTS"`); no `requestId` on a 429, as the real gateway answers it.
    ClickHouse,
}

/// An error answered to the client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: i64,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: status as i64,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError {
            status: 401,
            code: CODE_UNAUTHENTICATED,
            message: message.into(),
        }
    }
    pub fn rate_limited(limit: u32) -> Self {
        ApiError {
            status: 429,
            code: CODE_RATE_LIMITED,
            message: format!(
                "The request exceeded the limit of {limit} times per apikey per minute. \
                 For more help, please contact TiDB Cloud Support."
            ),
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// The JSON body for this error in the given shape.
    pub fn body(&self, shape: ErrorShape) -> serde_json::Value {
        match shape {
            ErrorShape::RpcStatus => {
                json!({"code": self.code, "message": self.message, "details": []})
            }
            ErrorShape::OpenApiError => json!({
                "code": self.code.to_string(),
                "error": self.message,
                "msgPrefix": reason_phrase(self.status),
                "status": self.status,
            }),
            ErrorShape::ClickHouse => {
                let code = clickhouse_code(self.status);
                let error = if self.message.is_empty() {
                    code.to_string()
                } else {
                    format!("{code}: {}", self.message)
                };
                if self.status == 429 {
                    json!({"status": self.status, "error": error})
                } else {
                    json!({"status": self.status, "error": error, "requestId": crate::api::new_uuid()})
                }
            }
        }
    }
}

/// The upper-case code ClickHouse Cloud puts before the detail of an error (`BAD_REQUEST: ...`).
pub fn clickhouse_code(status: u16) -> &'static str {
    match status {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        409 => "CONFLICT",
        413 => "PAYLOAD_TOO_LARGE",
        424 => "FAILED_DEPENDENCY",
        429 => "TOO_MANY_REQUESTS",
        500 => "INTERNAL_SERVER_ERROR",
        502 => "BAD_GATEWAY",
        503 => "SERVICE_UNAVAILABLE",
        504 => "GATEWAY_TIMEOUT",
        s if s >= 500 => "INTERNAL_SERVER_ERROR",
        _ => "BAD_REQUEST",
    }
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}
