//! Server side of HTTP Digest authentication as the TiDB Cloud gateway does it: realm `tidb.cloud`,
//! MD5, `qop="auth"`. Nonces stay valid for a while and may be reused with an increasing `nc` (the official
//! Go clients cache the challenge and sign later requests pre-emptively); an expired or unknown nonce
//! gets a fresh challenge with `stale=true`.
//!
//! Parsing and the response computation come from the `digest_auth` crate; this module only keeps nonces.
use crate::config::ApiKey;
use digest_auth::{AuthContext, AuthorizationHeader, HttpMethod};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const REALM: &str = "tidb.cloud";
/// Nonces kept at most; the oldest are dropped first.
const MAX_NONCES: usize = 10_000;

#[derive(Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Authenticated as this public key.
    Ok(String),
    /// No or unusable credentials: challenge. `known_key` names the key when the header named a known one
    /// (so the request can be counted against its quota).
    Challenge {
        stale: bool,
        known_key: Option<String>,
        reason: &'static str,
    },
}

#[derive(Debug)]
struct NonceInfo {
    issued: Instant,
    /// Highest `nc` seen per username.
    last_nc: HashMap<String, u32>,
}

#[derive(Debug)]
pub struct DigestAuth {
    keys: HashMap<String, String>,
    nonces: HashMap<String, NonceInfo>,
    ttl: Duration,
}

impl DigestAuth {
    pub fn new(keys: &[ApiKey], ttl: Duration) -> DigestAuth {
        DigestAuth {
            keys: keys
                .iter()
                .map(|k| (k.public_key.clone(), k.private_key.clone()))
                .collect(),
            nonces: HashMap::new(),
            ttl,
        }
    }

    pub fn has_key(&self, public_key: &str) -> bool {
        self.keys.contains_key(public_key)
    }

    /// Issues a new nonce and returns the `WWW-Authenticate` header value.
    pub fn challenge(&mut self, stale: bool, now: Instant) -> String {
        use rand::Rng;
        if self.nonces.len() >= MAX_NONCES {
            let ttl = self.ttl;
            self.nonces
                .retain(|_, n| now.duration_since(n.issued) < ttl);
            if self.nonces.len() >= MAX_NONCES
                && let Some(oldest) = self
                    .nonces
                    .iter()
                    .min_by_key(|(_, n)| n.issued)
                    .map(|(k, _)| k.clone())
            {
                self.nonces.remove(&oldest);
            }
        }
        let bytes: [u8; 16] = rand::rng().random();
        let nonce: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.nonces.insert(
            nonce.clone(),
            NonceInfo {
                issued: now,
                last_nc: HashMap::new(),
            },
        );
        format!(
            "Digest realm=\"{REALM}\", domain=\"\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\", stale={}",
            if stale { "true" } else { "false" }
        )
    }

    /// Checks an `Authorization` header for `method` and the raw request target `uri`.
    pub fn verify(
        &mut self,
        header: Option<&str>,
        method: &str,
        uri: &str,
        now: Instant,
    ) -> AuthOutcome {
        let Some(header) = header else {
            return AuthOutcome::Challenge {
                stale: false,
                known_key: None,
                reason: "missing Authorization header",
            };
        };
        if !header.trim_start().starts_with("Digest") {
            return AuthOutcome::Challenge {
                stale: false,
                known_key: None,
                reason: "only Digest authentication is accepted",
            };
        }
        let Ok(auth) = AuthorizationHeader::parse(header) else {
            return AuthOutcome::Challenge {
                stale: false,
                known_key: None,
                reason: "malformed Digest header",
            };
        };
        let Some(password) = self.keys.get(&auth.username).cloned() else {
            return AuthOutcome::Challenge {
                stale: false,
                known_key: None,
                reason: "public_key not found",
            };
        };
        let known = Some(auth.username.clone());
        if auth.realm != REALM || auth.uri != uri {
            return AuthOutcome::Challenge {
                stale: false,
                known_key: known,
                reason: "digest realm or uri mismatch",
            };
        }
        if auth.algorithm.algo != digest_auth::AlgorithmType::MD5 || auth.algorithm.sess {
            return AuthOutcome::Challenge {
                stale: false,
                known_key: known,
                reason: "unsupported digest algorithm",
            };
        }
        // Verify the response before looking at the nonce, so a stale nonce only ever answers a correct
        // signature (clients retry once on stale=true).
        let mut expected = auth.clone();
        let ctx = AuthContext::new_with_method(
            auth.username.as_str(),
            password.as_str(),
            auth.uri.as_str(),
            Option::<&[u8]>::None,
            HttpMethod::from(method.to_string()),
        );
        expected.digest(&ctx);
        if expected.response != auth.response {
            return AuthOutcome::Challenge {
                stale: false,
                known_key: known,
                reason: "digest response does not match",
            };
        }
        let ttl = self.ttl;
        let Some(info) = self.nonces.get_mut(&auth.nonce) else {
            return AuthOutcome::Challenge {
                stale: true,
                known_key: known,
                reason: "unknown nonce",
            };
        };
        if now.duration_since(info.issued) >= ttl {
            self.nonces.remove(&auth.nonce);
            return AuthOutcome::Challenge {
                stale: true,
                known_key: known,
                reason: "nonce expired",
            };
        }
        if auth.qop.is_some() {
            let last = info.last_nc.entry(auth.username.clone()).or_insert(0);
            if auth.nc <= *last {
                return AuthOutcome::Challenge {
                    stale: true,
                    known_key: known,
                    reason: "nonce count reused",
                };
            }
            *last = auth.nc;
        }
        AuthOutcome::Ok(auth.username)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use digest_auth::WwwAuthenticateHeader;

    fn sign(challenge: &str, user: &str, pass: &str, method: &str, uri: &str, nc: u32) -> String {
        let mut www = WwwAuthenticateHeader::parse(challenge).unwrap();
        www.nc = nc - 1;
        let ctx = AuthContext::new_with_method(
            user,
            pass,
            uri,
            Option::<&[u8]>::None,
            HttpMethod::from(method.to_string()),
        );
        www.respond(&ctx).unwrap().to_header_string()
    }

    #[test]
    fn accepts_signed_requests_and_nonce_reuse_with_increasing_nc() {
        let key = ApiKey {
            public_key: "PUB".into(),
            private_key: "priv".into(),
        };
        let mut d = DigestAuth::new(&[key], Duration::from_secs(60));
        let now = Instant::now();
        let ch = d.challenge(false, now);
        assert!(
            ch.contains("realm=\"tidb.cloud\"")
                && ch.contains("qop=\"auth\"")
                && ch.contains("algorithm=MD5")
        );
        let h1 = sign(&ch, "PUB", "priv", "GET", "/v1beta1/clusters?pageSize=1", 1);
        assert_eq!(
            d.verify(Some(&h1), "GET", "/v1beta1/clusters?pageSize=1", now),
            AuthOutcome::Ok("PUB".into())
        );
        // Replaying nc=1 is refused as stale; nc=2 with the same nonce is accepted.
        assert!(matches!(
            d.verify(Some(&h1), "GET", "/v1beta1/clusters?pageSize=1", now),
            AuthOutcome::Challenge { stale: true, .. }
        ));
        let h2 = sign(&ch, "PUB", "priv", "POST", "/v1beta1/clusters", 2);
        assert_eq!(
            d.verify(Some(&h2), "POST", "/v1beta1/clusters", now),
            AuthOutcome::Ok("PUB".into())
        );
    }

    #[test]
    fn rejects_wrong_password_unknown_key_expired_nonce_and_uri_mismatch() {
        let key = ApiKey {
            public_key: "PUB".into(),
            private_key: "priv".into(),
        };
        let mut d = DigestAuth::new(&[key], Duration::from_secs(60));
        let now = Instant::now();
        let ch = d.challenge(false, now);
        let bad = sign(&ch, "PUB", "wrong", "GET", "/a", 1);
        assert!(matches!(
            d.verify(Some(&bad), "GET", "/a", now),
            AuthOutcome::Challenge {
                stale: false,
                known_key: Some(_),
                ..
            }
        ));
        let unknown = sign(&ch, "NOPE", "priv", "GET", "/a", 1);
        assert!(matches!(
            d.verify(Some(&unknown), "GET", "/a", now),
            AuthOutcome::Challenge {
                known_key: None,
                ..
            }
        ));
        let other_uri = sign(&ch, "PUB", "priv", "GET", "/a", 1);
        assert!(matches!(
            d.verify(Some(&other_uri), "GET", "/b", now),
            AuthOutcome::Challenge { .. }
        ));
        let later = now + Duration::from_secs(61);
        let ok = sign(&ch, "PUB", "priv", "GET", "/a", 5);
        assert!(matches!(
            d.verify(Some(&ok), "GET", "/a", later),
            AuthOutcome::Challenge { stale: true, .. }
        ));
        assert!(matches!(
            d.verify(None, "GET", "/a", now),
            AuthOutcome::Challenge { stale: false, .. }
        ));
        assert!(matches!(
            d.verify(Some("Basic abc"), "GET", "/a", now),
            AuthOutcome::Challenge { .. }
        ));
    }
}
