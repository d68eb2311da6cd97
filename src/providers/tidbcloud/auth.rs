//! HTTP Digest authentication, client side, as the official Go clients do it (`icholy/digest`, reference
//! §2.2–2.3): the last challenge of each host is cached and later requests are signed pre-emptively with an
//! increasing `nc`; a 401 without a cached challenge, or with `stale=true`, is answered once with the new
//! challenge. Parsing and hashing come from the `digest_auth` crate; only the per-host cache is ours
//! (reqwest has no digest middleware that reuses nonces).
use digest_auth::{AuthContext, HttpMethod, Qop, WwwAuthenticateHeader};
use std::collections::HashMap;
use std::sync::Mutex;

/// A parsed `WWW-Authenticate: Digest …` challenge.
pub(crate) struct Challenge {
    header: WwwAuthenticateHeader,
}

impl Challenge {
    /// The first usable Digest challenge among the `WWW-Authenticate` header values.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<Challenge> {
        headers
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter(|v| {
                v.trim_start()
                    .get(..6)
                    .is_some_and(|s| s.eq_ignore_ascii_case("digest"))
            })
            .find_map(|v| {
                // digest_auth strips only a literal "Digest" prefix.
                let rest = v.trim_start().get(6..).unwrap_or_default();
                WwwAuthenticateHeader::parse(rest).ok()
            })
            .map(|mut header| {
                // Prefer qop=auth like icholy/digest: auth-int would hash bodies we do not pass.
                if header.qop.as_ref().is_some_and(|q| q.contains(&Qop::AUTH)) {
                    header.qop = Some(vec![Qop::AUTH]);
                }
                Challenge { header }
            })
    }

    /// The server says the nonce expired (the credentials themselves were fine).
    pub fn stale(&self) -> bool {
        self.header.stale
    }
}

/// The cached challenges of one client (one API key), by host authority.
#[derive(Default)]
pub(crate) struct DigestCache {
    challenges: Mutex<HashMap<String, WwwAuthenticateHeader>>,
}

impl DigestCache {
    /// Remembers the challenge of `authority`, replacing an older one (its `nc` starts again at 1).
    pub fn store(&self, authority: &str, challenge: Challenge) {
        self.lock().insert(authority.to_string(), challenge.header);
    }

    /// The `Authorization` value for a request to `authority`, signed with the cached challenge, or `None`
    /// when there is none yet. `uri` is the request target as sent (path and query).
    pub fn authorize(
        &self,
        authority: &str,
        method: &str,
        uri: &str,
        username: &str,
        password: &str,
    ) -> Option<String> {
        let mut cache = self.lock();
        let challenge = cache.get_mut(authority)?;
        let ctx = AuthContext::new_with_method(
            username,
            password,
            uri,
            Option::<&[u8]>::None,
            HttpMethod::from(method.to_string()),
        );
        match challenge.respond(&ctx) {
            Ok(h) => Some(h.to_header_string()),
            Err(_) => {
                // An unusable challenge: forget it so that the next 401 brings a fresh one.
                cache.remove(authority);
                None
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, WwwAuthenticateHeader>> {
        self.challenges.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(WWW_AUTHENTICATE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn signs_with_increasing_nc_and_prefers_qop_auth() {
        let h = headers(&[
            r#"Basic realm="x""#,
            r#"Digest realm="tidb.cloud", domain="", nonce="abc123", algorithm=MD5, qop="auth,auth-int", stale=false"#,
        ]);
        let ch = Challenge::from_headers(&h).unwrap();
        assert!(!ch.stale());
        let cache = DigestCache::default();
        assert!(
            cache
                .authorize("h:1", "GET", "/v1beta1/clusters", "PUB", "priv")
                .is_none()
        );
        cache.store("h:1", ch);
        let a1 = cache
            .authorize("h:1", "GET", "/v1beta1/clusters", "PUB", "priv")
            .unwrap();
        let a2 = cache
            .authorize("h:1", "POST", "/v1beta1/clusters", "PUB", "priv")
            .unwrap();
        assert!(
            a1.contains("nc=00000001") && a2.contains("nc=00000002"),
            "{a1} {a2}"
        );
        assert!(a1.contains("qop=auth") && !a1.contains("auth-int"), "{a1}");
        assert!(!a1.contains("priv"));
        assert!(
            cache
                .authorize("other:1", "GET", "/", "PUB", "priv")
                .is_none()
        );
    }

    #[test]
    fn recognises_stale_and_ignores_other_schemes() {
        let h = headers(&[r#"digest realm="r", nonce="n", qop="auth", stale=true"#]);
        assert!(Challenge::from_headers(&h).unwrap().stale());
        assert!(Challenge::from_headers(&headers(&[r#"Basic realm="x""#])).is_none());
        assert!(Challenge::from_headers(&HeaderMap::new()).is_none());
    }
}
