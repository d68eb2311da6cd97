//! The `filter` of `GET /clusters`: the subset of Google AIP-160 the spec documents — `key=value` terms
//! joined by `AND`, values bare (`state=ACTIVE`, `projectId=123,456`) or double-quoted
//! (`displayName="my-cluster"`, `\"` and `\\` escapes). Keys: `region.provider`, `region.name`, `state`,
//! `projectId` and `clusterId` (comma-separated alternatives), `displayName`, `labels.<key>`. Any other key,
//! operator (`!=`, `<`, `:`, …), `OR`, `NOT` or parenthesis is a 400 that says what is supported.
use crate::error::ApiError;

/// One `key=value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub key: Key,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    RegionProvider,
    RegionName,
    State,
    ProjectId,
    ClusterId,
    DisplayName,
    Label(String),
}

const KEYS: &str =
    "region.provider, region.name, state, projectId, clusterId, displayName, labels.<key>";

fn invalid(filter: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!(
        "invalid filter {filter:?}: {why}; the filter supports key=value terms joined by AND, with keys {KEYS}"
    ))
}

fn key_of(filter: &str, name: &str) -> Result<Key, ApiError> {
    Ok(match name {
        "region.provider" => Key::RegionProvider,
        "region.name" => Key::RegionName,
        "state" => Key::State,
        "projectId" => Key::ProjectId,
        "clusterId" => Key::ClusterId,
        "displayName" => Key::DisplayName,
        other => match other.strip_prefix("labels.") {
            Some(label) if !label.is_empty() => Key::Label(label.to_string()),
            _ => return Err(invalid(filter, format!("unknown key {other:?}"))),
        },
    })
}

/// Parses a filter; an empty or blank one has no terms.
pub fn parse(filter: &str) -> Result<Vec<Term>, ApiError> {
    let chars: Vec<char> = filter.chars().collect();
    let mut i = 0;
    let mut terms = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if i == chars.len() {
        return Ok(terms);
    }
    loop {
        // key
        let start = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || "._-/".contains(chars[i])) {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        if name.is_empty() {
            let at: String = chars[i..].iter().collect();
            return Err(invalid(filter, format!("expected a key at {at:?}")));
        }
        if matches!(name.as_str(), "OR" | "NOT") {
            return Err(invalid(filter, format!("{name} is not supported")));
        }
        let key = key_of(filter, &name)?;
        skip_ws(&mut i);
        // operator
        match chars.get(i) {
            Some('=') if chars.get(i + 1) != Some(&'=') => i += 1,
            Some(c) => {
                let op: String = chars[i..]
                    .iter()
                    .take_while(|c| "=!<>:~".contains(**c))
                    .take(2)
                    .collect();
                let op = if op.is_empty() { c.to_string() } else { op };
                return Err(invalid(
                    filter,
                    format!("operator {op:?} after {name} is not supported (only =)"),
                ));
            }
            None => return Err(invalid(filter, format!("{name} has no value"))),
        }
        skip_ws(&mut i);
        // value
        let value = if chars.get(i) == Some(&'"') {
            i += 1;
            let mut v = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(invalid(filter, "unterminated quoted value")),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some('\\') => match chars.get(i + 1) {
                        Some(c @ ('"' | '\\')) => {
                            v.push(*c);
                            i += 2;
                        }
                        _ => return Err(invalid(filter, "bad escape in a quoted value")),
                    },
                    Some(c) => {
                        v.push(*c);
                        i += 1;
                    }
                }
            }
            v
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && !"()\"".contains(chars[i]) {
                i += 1;
            }
            chars[start..i].iter().collect()
        };
        if value.is_empty() {
            return Err(invalid(filter, format!("{name} has no value")));
        }
        terms.push(Term { key, value });
        skip_ws(&mut i);
        if i == chars.len() {
            return Ok(terms);
        }
        let word: String = chars[i..]
            .iter()
            .take_while(|c| !c.is_whitespace())
            .collect();
        if word != "AND" {
            return Err(invalid(
                filter,
                format!("expected AND between terms, found {word:?}"),
            ));
        }
        i += 3;
        if !chars.get(i).is_some_and(|c| c.is_whitespace()) {
            return Err(invalid(filter, "expected a term after AND"));
        }
        skip_ws(&mut i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(key: Key, value: &str) -> Term {
        Term {
            key,
            value: value.into(),
        }
    }

    #[test]
    fn documented_examples_parse() {
        assert_eq!(
            parse(r#"region.provider="aws" AND state="ACTIVE""#).unwrap(),
            vec![t(Key::RegionProvider, "aws"), t(Key::State, "ACTIVE")]
        );
        assert_eq!(
            parse(r#"projectId=12345 AND displayName="my-cluster""#).unwrap(),
            vec![
                t(Key::ProjectId, "12345"),
                t(Key::DisplayName, "my-cluster")
            ]
        );
        assert_eq!(
            parse("labels.environment=production").unwrap(),
            vec![t(Key::Label("environment".into()), "production")]
        );
        assert_eq!(
            parse(r#" clusterId = 1,2 AND labels.a/b="x \"y\"" "#).unwrap(),
            vec![
                t(Key::ClusterId, "1,2"),
                t(Key::Label("a/b".into()), "x \"y\"")
            ]
        );
        assert_eq!(parse("  ").unwrap(), vec![]);
    }

    #[test]
    fn unsupported_syntax_is_refused_with_a_reason() {
        for (f, why) in [
            ("state!=ACTIVE", "operator \"!=\""),
            ("state:ACTIVE", "operator \":\""),
            ("state=ACTIVE OR state=CREATING", "expected AND"),
            ("state=ACTIVE and displayName=x", "expected AND"),
            ("NOT state=ACTIVE", "NOT is not supported"),
            ("size=3", "unknown key \"size\""),
            ("labels.=x", "unknown key"),
            ("state=", "has no value"),
            (r#"displayName="abc"#, "unterminated"),
            ("state=ACTIVE AND", "expected a term after AND"),
            ("(state=ACTIVE)", "expected a key"),
        ] {
            let e = parse(f).unwrap_err();
            assert_eq!(e.status, 400, "{f}");
            assert!(e.message.contains(why), "{f}: {}", e.message);
        }
    }
}
