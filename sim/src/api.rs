//! The request/response types the API modules see, and the module trait that routing is built on.
//!
//! The gateway (`gateway.rs`) owns transport concerns (auth, quota, faults, counters); a module owns one
//! API family's paths. Adding the serverless API or ClickHouse Cloud is adding a module, not forking this.
use crate::error::{ApiError, ErrorShape};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest request body accepted; larger bodies get a 400 like any other malformed input.
pub const MAX_BODY_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Patch,
    Put,
    Delete,
    Other,
}

impl Method {
    pub fn parse(m: &str) -> Method {
        match m {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PATCH" => Method::Patch,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Other => "OTHER",
        }
    }
    pub fn is_mutation(self) -> bool {
        matches!(
            self,
            Method::Post | Method::Patch | Method::Put | Method::Delete
        )
    }
}

/// An authenticated request as a module sees it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// Decoded path, e.g. `/v1beta1/clusters/123:pauseCluster`.
    pub path: String,
    /// Query pairs in order (repeated keys kept).
    pub query: Vec<(String, String)>,
    pub body: bytes::Bytes,
    /// The public key that signed the request.
    pub public_key: String,
}

impl ApiRequest {
    /// Path segments after the given prefix, split on `/`.
    pub fn segments(&self) -> Vec<&str> {
        self.path.trim_start_matches('/').split('/').collect()
    }

    /// The single value of a query parameter (last one wins, as grpc-gateway does for scalars).
    pub fn query_one(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of a repeated query parameter (`collectionFormat: multi`).
    pub fn query_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn query_i32(&self, name: &str) -> Result<Option<i32>, ApiError> {
        match self.query_one(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse::<i32>().map(Some).map_err(|_| {
                ApiError::invalid(format!(
                    "invalid value for query parameter {name}: {v:?} is not an int32"
                ))
            }),
        }
    }

    pub fn query_bool(&self, name: &str) -> Result<bool, ApiError> {
        match self.query_one(name) {
            None | Some("") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(v) => Err(ApiError::invalid(format!(
                "invalid value for query parameter {name}: {v:?} is not a bool"
            ))),
        }
    }

    /// Parse the JSON body into `T` (unknown fields and wrong types are rejected with a 400).
    /// An empty body parses as `{}`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body: &[u8] = if self.body.iter().all(|b| b.is_ascii_whitespace()) {
            b"{}"
        } else {
            &self.body
        };
        serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))
    }
}

/// What a module answers.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub body: serde_json::Value,
    /// True when the request changed state (commit-then-drop faults apply only to those).
    pub committed: bool,
}

impl ApiResponse {
    pub fn ok<T: Serialize>(value: &T) -> Result<ApiResponse, ApiError> {
        let body = serde_json::to_value(value)
            .map_err(|e| ApiError::internal(format!("encoding response: {e}")))?;
        Ok(ApiResponse {
            status: 200,
            body,
            committed: false,
        })
    }
    pub fn committed(mut self) -> Self {
        self.committed = true;
        self
    }
}

/// The outcome of routing: the route template (for counters and logs) and the result.
pub struct Routed {
    pub route: &'static str,
    pub result: Result<ApiResponse, ApiError>,
}

/// One API family served by the simulator.
pub trait ApiModule: Send + Sync {
    /// Name used in logs.
    fn name(&self) -> &'static str;
    /// Error body shape of this family.
    fn error_shape(&self) -> ErrorShape;
    /// Handles the request if one of this module's paths matches, else `None`.
    fn route(&self, req: &ApiRequest) -> Option<Routed>;
    /// Handles an unauthenticated admin request under `/_sim/` (path without that prefix), else `None`.
    fn admin(&self, _req: &ApiRequest) -> Option<Routed> {
        None
    }
    /// Forgets all state (the admin reset).
    fn reset(&self);
}

/// Splits a gRPC-gateway custom verb off a path segment: `"123:pauseCluster"` → `("123", Some("pauseCluster"))`.
pub fn split_verb(segment: &str) -> (&str, Option<&str>) {
    match segment.split_once(':') {
        Some((id, verb)) => (id, Some(verb)),
        None => (segment, None),
    }
}

/// Helper for modules: a route whose path matched but whose method did not.
pub fn method_not_allowed(route: &'static str, req: &ApiRequest) -> Routed {
    Routed {
        route,
        result: Err(ApiError::new(
            405,
            format!("method {} not allowed on {}", req.method.as_str(), req.path),
        )),
    }
}
