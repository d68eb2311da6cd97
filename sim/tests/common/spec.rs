//! The response validator shared by the conformance tests: upstream API documents (Swagger 2.0 for TiDB
//! Cloud, OpenAPI 3.1 for ClickHouse Cloud) read at test time, never copied into the repository.
//!
//! # Why a small validator rather than the `jsonschema` crate
//! The TiDB specs are Swagger 2.0, not JSON Schema: `x-nullable` replaces `"type": [.., "null"]`, proto int64
//! values are `type: string, format: int64`, `$ref` siblings are ignored, and several constraints describe
//! *input* validation only — the real service returns `"rootPassword": ""`. One ~250-line validator covers
//! exactly the subset both documents need: `$ref` (any JSON pointer: `#/definitions/…`,
//! `#/components/schemas/…`), `allOf`/`oneOf`/`anyOf`, JSON types (also OpenAPI 3.1 type arrays such as
//! `["string", "null"]`), `required`, `enum`, `x-nullable`/`nullable`, `items`, `additionalProperties` (maps),
//! formats (`int32`/`uint32` ranges, `int64`/`uint64` decimal strings, RFC 3339 `date-time`) — and, stricter
//! than the specs, it reports properties the spec does not define, which catches misspelt field names that
//! "required" alone would miss.
//!
//! Value constraints (`minimum`, `maximum`, `multipleOf`, `minLength`, `maxLength`, `pattern`, `minItems`,
//! `maxItems`, `format: uuid`) are checked for OpenAPI 3.1 documents only: in the ClickHouse spec they describe
//! what the service returns too (per-replica memory is a multiple of 4 within 8–356), while in the TiDB
//! Swagger documents they are input rules the real service's answers break.
#![allow(dead_code)]

use super::Resp;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;

/// `$CLOUDDB_SPECS_DIR`'s parent layout: `<repo>/../shared/reference/specs`, the directory holding
/// `tidbcloud/` and `clickhouse/`.
pub fn specs_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/specs")
}

/// Whether the tests run under CI (`CI` set, non-empty and not `false`): missing specs then fail the test.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("false"))
}

/// Says on stderr that the conformance test is skipped because `missing` are absent, or panics under CI.
pub fn skip_or_fail(missing: &[String]) {
    let msg = format!(
        "conformance: SKIPPED — spec not found at {}",
        missing.join(", ")
    );
    if in_ci() {
        panic!(
            "{msg} (CI is set, so this test must run: provide the specs or point CLOUDDB_SPECS_DIR at them)"
        );
    }
    eprintln!("{msg}");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Swagger2,
    OpenApi31,
}

pub struct Spec {
    pub label: &'static str,
    pub doc: Value,
    pub dialect: Dialect,
}

impl Spec {
    pub fn load(label: &'static str, path: &Path) -> Spec {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Self::from_value(
            label,
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display())),
        )
    }

    pub fn from_value(label: &'static str, doc: Value) -> Spec {
        let dialect = if doc["swagger"] == "2.0" {
            Dialect::Swagger2
        } else if doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
        {
            Dialect::OpenApi31
        } else {
            panic!("{label}: expected a Swagger 2.0 or OpenAPI 3.1 document");
        };
        Spec {
            label,
            doc,
            dialect,
        }
    }

    /// The response schema of `method template` for `status` (falling back to `default`).
    /// `template` is the full path (`/v1beta1/clusters/{clusterId}`); a Swagger `basePath` is stripped.
    pub fn response_schema(
        &self,
        method: &str,
        template: &str,
        status: u16,
    ) -> Result<&Value, String> {
        let base = self.doc["basePath"]
            .as_str()
            .unwrap_or("")
            .trim_end_matches('/');
        let rel = if base.is_empty() {
            Some(template)
        } else {
            template.strip_prefix(base)
        };
        let op = rel
            .and_then(|rel| self.doc["paths"].get(rel))
            .and_then(|p| p.get(method.to_ascii_lowercase()))
            .ok_or_else(|| {
                format!(
                    "{}: no operation {method} {template} in the spec",
                    self.label
                )
            })?;
        let responses = &op["responses"];
        let response = responses
            .get(status.to_string())
            .or_else(|| responses.get("default"))
            .ok_or_else(|| {
                format!(
                    "{}: {method} {template} declares no {status} or default response",
                    self.label
                )
            })?;
        let schema = match self.dialect {
            Dialect::Swagger2 => response.get("schema"),
            Dialect::OpenApi31 => response.pointer("/content/application~1json/schema"),
        };
        schema.ok_or_else(|| format!("{}: {method} {template} {status} has no schema", self.label))
    }

    /// A named schema (`definitions` in Swagger 2.0, `components.schemas` in OpenAPI 3).
    pub fn definition(&self, name: &str) -> Option<&Value> {
        match self.dialect {
            Dialect::Swagger2 => self.doc["definitions"].get(name),
            Dialect::OpenApi31 => self.doc["components"]["schemas"].get(name),
        }
    }

    /// Problems of `value` against the named definition.
    pub fn validate_definition(&self, name: &str, value: &Value) -> Vec<String> {
        let prefix = match self.dialect {
            Dialect::Swagger2 => "#/definitions/",
            Dialect::OpenApi31 => "#/components/schemas/",
        };
        self.validate(&json!({ "$ref": format!("{prefix}{name}") }), value)
    }

    /// Problems of `value` against `schema`, each prefixed with a JSON path (`$.a.b[0]`).
    pub fn validate(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut out = Vec::new();
        self.check(schema, value, "$", "response", &mut out, 0);
        out
    }

    fn check(
        &self,
        schema: &Value,
        v: &Value,
        path: &str,
        def: &str,
        out: &mut Vec<String>,
        depth: usize,
    ) {
        if depth > 64 {
            out.push(format!("{path}: schema nesting too deep (a $ref cycle?)"));
            return;
        }
        // The siblings of a `$ref` are ignored (Swagger 2.0; in the OpenAPI 3.1 document they are only
        // descriptions).
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or(r);
            match r
                .strip_prefix('#')
                .and_then(|pointer| self.doc.pointer(pointer))
            {
                Some(target) => self.check(target, v, path, name, out, depth + 1),
                None => out.push(format!("{path}: unresolvable $ref {r}")),
            }
            return;
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if v.is_null() {
            let nullable = schema.get("x-nullable").and_then(Value::as_bool) == Some(true)
                || schema.get("nullable").and_then(Value::as_bool) == Some(true)
                || types.contains(&"null");
            if !nullable {
                out.push(format!(
                    "{path}: null is not allowed ({def} does not mark it x-nullable)"
                ));
            }
            return;
        }
        for sub in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.check(sub, v, path, def, out, depth + 1);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alts) = schema.get(key).and_then(Value::as_array) {
                let results: Vec<Vec<String>> = alts
                    .iter()
                    .map(|alt| {
                        let mut o = Vec::new();
                        self.check(alt, v, path, def, &mut o, depth + 1);
                        o
                    })
                    .collect();
                let matching = results.iter().filter(|r| r.is_empty()).count();
                if matching == 0 || (key == "oneOf" && matching > 1) {
                    let closest = results.iter().min_by_key(|r| r.len()).cloned();
                    out.push(format!(
                        "{path}: matches {matching} of the {key} alternatives ({def}){}",
                        closest
                            .map(|c| format!("; closest: {}", c.join("; ")))
                            .unwrap_or_default()
                    ));
                }
            }
        }
        let concrete: Vec<&str> = types.iter().copied().filter(|t| *t != "null").collect();
        if !concrete.is_empty() {
            let format = schema.get("format").and_then(Value::as_str);
            let errors: Vec<String> = concrete
                .iter()
                .filter_map(|t| check_type(t, format, v).err())
                .collect();
            if errors.len() == concrete.len() {
                out.push(format!("{path}: {} ({def})", errors.join(" / ")));
                return;
            }
        }
        let ty = concrete.first().copied();
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(v)
        {
            out.push(format!(
                "{path}: {v} is not one of the enum values {} ({def})",
                Value::Array(allowed.clone())
            ));
        }
        if self.dialect == Dialect::OpenApi31 {
            for p in constraints(schema, v) {
                out.push(format!("{path}: {p} ({def})"));
            }
        }
        if let Some(items) = schema.get("items")
            && let Some(arr) = v.as_array()
        {
            for (i, item) in arr.iter().enumerate() {
                self.check(items, item, &format!("{path}[{i}]"), def, out, depth + 1);
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(obj) = v.as_object()
            && (ty == Some("object") || props.is_some())
        {
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !obj.contains_key(req) {
                    out.push(format!("{path}: missing required property `{req}` ({def})"));
                }
            }
            for (k, child) in obj {
                let child_path = format!("{path}.{k}");
                match (
                    props.and_then(|p| p.get(k)),
                    schema.get("additionalProperties"),
                ) {
                    (Some(s), _) => self.check(s, child, &child_path, def, out, depth + 1),
                    (None, Some(Value::Bool(true))) => {}
                    (None, Some(extra)) if extra.is_object() => {
                        self.check(extra, child, &child_path, def, out, depth + 1)
                    }
                    (None, _) => out.push(format!(
                        "{child_path}: property not defined by the spec ({def})"
                    )),
                }
            }
        }
    }
}

/// The value constraints of a JSON Schema (OpenAPI 3.1) that `v` breaks.
fn constraints(schema: &Value, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let num = |k: &str| schema.get(k).and_then(Value::as_f64);
    if let Some(n) = v.as_f64() {
        if let Some(min) = num("minimum")
            && n < min
        {
            out.push(format!("{v} is below the minimum {min}"));
        }
        if let Some(max) = num("maximum")
            && n > max
        {
            out.push(format!("{v} is above the maximum {max}"));
        }
        if let Some(min) = num("exclusiveMinimum")
            && n <= min
        {
            out.push(format!("{v} is not above the exclusive minimum {min}"));
        }
        if let Some(m) = num("multipleOf")
            && m > 0.0
            && (n / m).fract() != 0.0
        {
            out.push(format!("{v} is not a multiple of {m}"));
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as f64;
        if let Some(min) = num("minLength")
            && len < min
        {
            out.push(format!("{v} is shorter than {min} characters"));
        }
        if let Some(max) = num("maxLength")
            && len > max
        {
            out.push(format!("{v} is longer than {max} characters"));
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
            match regex::Regex::new(p) {
                Ok(re) if !re.is_match(s) => out.push(format!("{v} does not match {p}")),
                Ok(_) => {}
                Err(e) => out.push(format!("unusable pattern {p}: {e}")),
            }
        }
        if schema.get("format").and_then(Value::as_str) == Some("uuid") && !is_uuid(s) {
            out.push(format!("{v} is not a UUID"));
        }
    }
    if let Some(a) = v.as_array() {
        if let Some(max) = num("maxItems")
            && a.len() as f64 > max
        {
            out.push(format!("{} items, more than maxItems {max}", a.len()));
        }
        if let Some(min) = num("minItems")
            && (a.len() as f64) < min
        {
            out.push(format!("{} items, fewer than minItems {min}", a.len()));
        }
    }
    out
}

pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Type + format of one value. `type: string, format: int64` is how protoc-gen-openapiv2 writes proto int64
/// fields, which grpc-gateway encodes as decimal strings; `type: integer` is always a JSON number.
pub fn check_type(ty: &str, format: Option<&str>, v: &Value) -> Result<(), String> {
    let got = kind(v);
    let ok = match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => got == "integer",
        "number" => v.is_number(),
        other => return Err(format!("unsupported schema type {other:?}")),
    };
    if !ok {
        return Err(format!(
            "expected {ty}{}, got {got} {v}",
            format.map(|f| format!(" ({f})")).unwrap_or_default()
        ));
    }
    match (ty, format, v) {
        ("integer", Some("int32"), _) => v
            .as_i64()
            .filter(|n| i32::try_from(*n).is_ok())
            .map(drop)
            .ok_or_else(|| format!("{v} is out of the int32 range")),
        ("integer", Some("uint32"), _) => v
            .as_u64()
            .filter(|n| u32::try_from(*n).is_ok())
            .map(drop)
            .ok_or_else(|| format!("{v} is out of the uint32 range")),
        ("string", Some("int64"), Value::String(s)) => s
            .parse::<i64>()
            .map(drop)
            .map_err(|_| format!("{v} is not an int64 decimal string")),
        ("string", Some("uint64"), Value::String(s)) => s
            .parse::<u64>()
            .map(drop)
            .map_err(|_| format!("{v} is not a uint64 decimal string")),
        ("string", Some("date-time"), Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(drop)
            .map_err(|e| format!("{v} is not an RFC 3339 date-time: {e}")),
        _ => Ok(()),
    }
}

/// Whether `uri` (query ignored) is an instance of the path `template` (`{param}` = one segment, without `:`).
pub fn is_instance_of(template: &str, uri: &str) -> bool {
    let path = uri.split('?').next().unwrap_or(uri);
    let mut re = String::from("^");
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        re.push_str(&regex::escape(&rest[..open]));
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .expect("unbalanced template");
        re.push_str("[^/:]+");
        rest = &rest[close + 1..];
    }
    re.push_str(&regex::escape(rest));
    re.push('$');
    regex::Regex::new(&re)
        .expect("template regex")
        .is_match(path)
}

/// Collects problems instead of stopping at the first, so one run lists every divergence.
#[derive(Default)]
pub struct Checker {
    pub problems: Vec<String>,
    /// `METHOD template status` of every validated response.
    pub covered: BTreeSet<String>,
    pub validated: usize,
}

impl Checker {
    /// Records one response: it must be an instance of `template`, have `status` and be JSON.
    pub fn common(&mut self, method: &str, template: &str, uri: &str, resp: &Resp, status: u16) {
        // Guards against validating a response against the wrong operation.
        assert!(
            is_instance_of(template, uri),
            "{uri} is not an instance of {template}"
        );
        assert_eq!(
            resp.status.as_u16(),
            status,
            "{method} {uri}: unexpected status; body {}",
            resp.body
        );
        let ct = resp.header("content-type").unwrap_or_default();
        if !ct.starts_with("application/json") {
            self.problems.push(format!(
                "{method} {uri} ({status}): content-type {ct:?}, expected application/json"
            ));
        }
        self.covered.insert(format!("{method} {template} {status}"));
        self.validated += 1;
    }

    /// A response of an operation `spec` defines: validated against the spec's schema for that status.
    pub fn spec(
        &mut self,
        spec: &Spec,
        method: &str,
        template: &str,
        uri: &str,
        resp: &Resp,
        status: u16,
    ) {
        self.common(method, template, uri, resp, status);
        let schema = spec
            .response_schema(method, template, status)
            .unwrap_or_else(|e| panic!("{e}"));
        for p in spec.validate(schema, &resp.body) {
            self.problems.push(format!(
                "{method} {uri} ({status}) vs {} spec: {p}",
                spec.label
            ));
        }
    }

    pub fn note(&mut self, problem: String) {
        self.problems.push(problem);
    }

    /// Fails listing every `expected` pair not covered, then every problem.
    pub fn verdict(&self, expected: &[&str]) {
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|k| !self.covered.contains(*k))
            .collect();
        assert!(missing.is_empty(), "operations not exercised: {missing:#?}");
        eprintln!(
            "conformance: {} responses validated, {} (operation, status) pairs, {} problem(s)",
            self.validated,
            self.covered.len(),
            self.problems.len()
        );
        assert!(
            self.problems.is_empty(),
            "SIMULATOR CONFORMANCE BUG(S) — responses diverge from the upstream spec / reference:\n  {}",
            self.problems.join("\n  ")
        );
    }
}
