//! Server side of HTTP Basic authentication as ClickHouse Cloud does it: the username is the key ID, the
//! password the key secret (`curl --user $KEY_ID:$KEY_SECRET`). Decoding uses the `base64` crate.
use crate::config::ApiKey;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::HashMap;

#[derive(Debug, PartialEq, Eq)]
pub enum BasicOutcome {
    /// Authenticated as this key ID.
    Ok(String),
    /// Refused. `known_key` names the key when the header named a known key ID with a wrong secret (the
    /// attempt still counts against that key's quota).
    Denied {
        known_key: Option<String>,
        reason: &'static str,
    },
}

#[derive(Debug)]
pub struct BasicAuth {
    keys: HashMap<String, String>,
}

impl BasicAuth {
    pub fn new(keys: &[ApiKey]) -> BasicAuth {
        BasicAuth {
            keys: keys
                .iter()
                .map(|k| (k.public_key.clone(), k.private_key.clone()))
                .collect(),
        }
    }

    pub fn verify(&self, authorization: Option<&str>) -> BasicOutcome {
        let denied = |known_key: Option<String>, reason| BasicOutcome::Denied { known_key, reason };
        let Some(header) = authorization else {
            return denied(None, "Authentication required");
        };
        let Some((scheme, token)) = header.trim().split_once(' ') else {
            return denied(None, "Invalid authorization header");
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return denied(None, "Invalid authorization header");
        }
        let Some(pair) = STANDARD
            .decode(token.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        else {
            return denied(None, "Invalid authorization header");
        };
        let Some((id, secret)) = pair.split_once(':') else {
            return denied(None, "Invalid authorization header");
        };
        match self.keys.get(id) {
            Some(s) if s == secret => BasicOutcome::Ok(id.to_string()),
            // The real API does not say whether the ID or the secret was wrong.
            Some(_) => denied(Some(id.to_string()), "Key is not found"),
            None => denied(None, "Key is not found"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn accepts_the_pair_and_refuses_anything_else() {
        let auth = BasicAuth::new(&[ApiKey {
            public_key: "KEYID".into(),
            private_key: "secret:with:colons".into(),
        }]);
        assert_eq!(
            auth.verify(Some(&header("KEYID", "secret:with:colons"))),
            BasicOutcome::Ok("KEYID".into())
        );
        assert!(matches!(
            auth.verify(Some(&header("KEYID", "wrong"))),
            BasicOutcome::Denied { known_key: Some(k), .. } if k == "KEYID"
        ));
        for bad in [
            None,
            Some("Basic !!!"),
            Some("Bearer abc"),
            Some("Basic"),
            Some(header("OTHER", "secret:with:colons").as_str()),
        ] {
            assert!(
                matches!(
                    auth.verify(bad),
                    BasicOutcome::Denied {
                        known_key: None,
                        ..
                    }
                ),
                "{bad:?}"
            );
        }
    }
}
