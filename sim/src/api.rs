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
    /// An empty body parses as `{}`. Objects must be JSON objects: serde's derived `Deserialize` would also
    /// accept an array of field values (`["name", "aws-us-west-2", …]`), which protojson refuses.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body: &[u8] = if self.body.iter().all(|b| b.is_ascii_whitespace()) {
            b"{}"
        } else {
            &self.body
        };
        let invalid =
            |e: serde_json::Error| ApiError::invalid(format!("invalid request body: {e}"));
        let value: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
        match T::deserialize(strict::Strict(value)) {
            Ok(t) => Ok(t),
            Err(e) if strict::is_not_an_object(&e) => Err(invalid(e)),
            // Any other failure is a plain parse's too, and that one says where it is.
            Err(e) => Err(invalid(
                serde_json::from_slice::<T>(body).err().unwrap_or(e),
            )),
        }
    }
}

/// A deserializer over a parsed JSON value that behaves like `serde_json::Value`'s, except that a struct
/// must be given as a JSON object, at every depth.
mod strict {
    use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};
    use serde_json::{Error, Map, Value};

    pub struct Strict(pub Value);

    const OBJECT: &str = "a JSON object";

    /// Whether `e` is the refusal of a non-object where a struct was expected.
    pub fn is_not_an_object(e: &Error) -> bool {
        e.to_string().contains(&format!("expected {OBJECT}"))
    }

    fn kind(v: &Value) -> de::Unexpected<'_> {
        match v {
            Value::Null => de::Unexpected::Unit,
            Value::Bool(b) => de::Unexpected::Bool(*b),
            Value::Number(_) => de::Unexpected::Other("number"),
            Value::String(s) => de::Unexpected::Str(s),
            Value::Array(_) => de::Unexpected::Seq,
            Value::Object(_) => de::Unexpected::Map,
        }
    }

    impl<'de> Deserializer<'de> for Strict {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.0 {
                Value::Array(items) => visitor.visit_seq(Seq(items.into_iter())),
                Value::Object(map) => visitor.visit_map(Entries {
                    iter: map.into_iter(),
                    value: None,
                }),
                other => other.deserialize_any(visitor),
            }
        }

        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.0 {
                Value::Null => visitor.visit_none(),
                other => visitor.visit_some(Strict(other)),
            }
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            match &self.0 {
                Value::Object(_) => self.deserialize_any(visitor),
                other => Err(de::Error::invalid_type(kind(other), &OBJECT)),
            }
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            visitor: V,
        ) -> Result<V::Value, Error> {
            visitor.visit_newtype_struct(self)
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            self.0.deserialize_enum(name, variants, visitor)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
            unit_struct seq tuple tuple_struct map identifier ignored_any
        }
    }

    struct Seq(std::vec::IntoIter<Value>);

    impl<'de> de::SeqAccess<'de> for Seq {
        type Error = Error;
        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, Error> {
            self.0
                .next()
                .map(|v| seed.deserialize(Strict(v)))
                .transpose()
        }
    }

    struct Entries {
        iter: <Map<String, Value> as IntoIterator>::IntoIter,
        value: Option<Value>,
    }

    impl<'de> de::MapAccess<'de> for Entries {
        type Error = Error;
        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, Error> {
            match self.iter.next() {
                Some((k, v)) => {
                    self.value = Some(v);
                    seed.deserialize(k.into_deserializer()).map(Some)
                }
                None => Ok(None),
            }
        }
        fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
            let v = self
                .value
                .take()
                .ok_or_else(|| de::Error::custom("value requested before its key"))?;
            seed.deserialize(Strict(v))
        }
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

/// A random (version 4) UUID in its lower-case hyphenated form.
pub fn new_uuid() -> String {
    use rand::Rng;
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Whether `s` is a UUID in the hyphenated 8-4-4-4-12 hexadecimal form (any version, either case).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Outer {
        name: Option<String>,
        inner: Option<Inner>,
        items: Option<Vec<Inner>>,
        labels: Option<BTreeMap<String, String>>,
        count: Option<i32>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: i32,
    }

    fn parse(body: &str) -> Result<Outer, ApiError> {
        ApiRequest {
            method: Method::Post,
            path: "/x".into(),
            query: Vec::new(),
            body: bytes::Bytes::from(body.to_string()),
            public_key: String::new(),
        }
        .json()
    }

    #[test]
    fn objects_parse_and_errors_keep_their_position() {
        let o = parse(r#"{"name": "a", "inner": {"n": 1}, "items": [{"n": 2}], "labels": {"k": "v"}, "count": null}"#)
            .unwrap();
        assert_eq!(o.items, Some(vec![Inner { n: 2 }]));
        assert_eq!(parse("  ").unwrap().name, None, "empty body is {{}}");
        let e = parse(r#"{"name": 1}"#).unwrap_err();
        assert!(e.message.contains("expected a string at line 1"), "{e}");
        let e = parse(r#"{"inner": {"n": 1, "x": 2}}"#).unwrap_err();
        assert!(e.message.contains("unknown field `x`"), "{e}");
    }

    #[test]
    fn positional_arrays_are_not_objects_at_any_depth() {
        for body in [
            r#"["a"]"#,
            r#"[]"#,
            r#"{"inner": [1]}"#,
            r#"{"items": [[2]]}"#,
        ] {
            let e = parse(body).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(
                e.message
                    .contains("invalid type: sequence, expected a JSON object"),
                "{body}: {e}"
            );
        }
    }
}
