//! Server side of HTTP Digest authentication as the TiDB Cloud gateway does it: realm `tidb.cloud`,
//! MD5, `qop="auth"`. Nonces stay valid for a while and may be reused with any `nc` not used before (the
//! official Go clients cache the challenge and sign later requests pre-emptively; a client signing several
//! requests in parallel from one cached challenge sends their counts out of order); an exact replay (same
//! nonce and `nc`), an `nc` too far behind the highest one seen, or an expired or unknown nonce gets a fresh
//! challenge with `stale=true`.
//!
//! Parsing and the response computation come from the `digest_auth` crate; this module only keeps nonces.
use crate::config::ApiKey;
use digest_auth::{AuthContext, AuthorizationHeader, HttpMethod};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const REALM: &str = "tidb.cloud";
/// Nonces kept at most; the oldest are dropped first.
const MAX_NONCES: usize = 10_000;
/// How far below the highest `nc` seen (per nonce and key) a count is still accepted when unused: counts
/// older than that are refused as stale, so the used counts of one nonce take a fixed 128 bytes.
pub const NC_WINDOW: u32 = 1024;

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
    /// The counts used so far, per username.
    used: HashMap<String, UsedCounts>,
}

/// The `nc` values used with one nonce by one key: the highest, and a bitmap of the [`NC_WINDOW`] counts
/// at and below it (bit `i` = count `highest - i`). Counts further back are treated as used.
#[derive(Debug, Clone, Default)]
struct UsedCounts {
    highest: u32,
    bits: [u64; (NC_WINDOW / 64) as usize],
}

/// Why a count is refused.
#[derive(Debug, PartialEq, Eq)]
enum CountRefused {
    Reused,
    TooOld,
}

impl UsedCounts {
    fn bit(&self, back: u32) -> bool {
        self.bits[(back / 64) as usize] & (1u64 << (back % 64)) != 0
    }

    fn set(&mut self, back: u32) {
        self.bits[(back / 64) as usize] |= 1u64 << (back % 64);
    }

    /// Shifts the window so that `highest` grows by `by`.
    fn advance(&mut self, by: u32) {
        if by >= NC_WINDOW {
            self.bits = Default::default();
            return;
        }
        let (words, rest) = ((by / 64) as usize, by % 64);
        let n = self.bits.len();
        let old = self.bits;
        for i in 0..n {
            // New bit j = old bit j - by (the count `highest_new - j` was `highest_old - (j - by)`).
            let lo = i.checked_sub(words).map_or(0, |k| old[k]);
            let below = i.checked_sub(words + 1).map_or(0, |k| old[k]);
            self.bits[i] = if rest == 0 {
                lo
            } else {
                (lo << rest) | (below >> (64 - rest))
            };
        }
    }

    /// Marks `nc` used, or says why it cannot be.
    fn take(&mut self, nc: u32) -> Result<(), CountRefused> {
        if nc == 0 {
            return Err(CountRefused::Reused);
        }
        if nc > self.highest {
            self.advance(nc - self.highest);
            self.highest = nc;
            self.set(0);
            return Ok(());
        }
        let back = self.highest - nc;
        if back >= NC_WINDOW {
            return Err(CountRefused::TooOld);
        }
        if self.bit(back) {
            return Err(CountRefused::Reused);
        }
        self.set(back);
        Ok(())
    }
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
                used: HashMap::new(),
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
            let used = info.used.entry(auth.username.clone()).or_default();
            if let Err(why) = used.take(auth.nc) {
                return AuthOutcome::Challenge {
                    stale: true,
                    known_key: known,
                    reason: match why {
                        CountRefused::Reused => "nonce count reused",
                        CountRefused::TooOld => "nonce count too old",
                    },
                };
            }
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
    fn unused_counts_are_accepted_in_any_order_and_replays_are_refused() {
        let key = ApiKey {
            public_key: "PUB".into(),
            private_key: "priv".into(),
        };
        let mut d = DigestAuth::new(&[key], Duration::from_secs(60));
        let now = Instant::now();
        let ch = d.challenge(false, now);
        // Counts 1..=40 arrive shuffled, as parallel requests signed from one cached challenge do.
        let mut order: Vec<u32> = (1..=40).collect();
        order.reverse();
        order.swap(3, 17);
        order.swap(0, 39);
        for nc in &order {
            let h = sign(&ch, "PUB", "priv", "GET", "/a", *nc);
            assert_eq!(
                d.verify(Some(&h), "GET", "/a", now),
                AuthOutcome::Ok("PUB".into()),
                "nc {nc}"
            );
        }
        for nc in [1, 17, 40] {
            let h = sign(&ch, "PUB", "priv", "GET", "/a", nc);
            assert_eq!(
                d.verify(Some(&h), "GET", "/a", now),
                AuthOutcome::Challenge {
                    stale: true,
                    known_key: Some("PUB".into()),
                    reason: "nonce count reused"
                },
                "replayed nc {nc}"
            );
        }
        // Far ahead, then a count more than the window behind it: refused; one inside it: accepted once.
        let far = 40 + NC_WINDOW + 10;
        let h = sign(&ch, "PUB", "priv", "GET", "/a", far);
        assert_eq!(
            d.verify(Some(&h), "GET", "/a", now),
            AuthOutcome::Ok("PUB".into())
        );
        let old = sign(&ch, "PUB", "priv", "GET", "/a", 41);
        assert!(matches!(
            d.verify(Some(&old), "GET", "/a", now),
            AuthOutcome::Challenge {
                stale: true,
                reason: "nonce count too old",
                ..
            }
        ));
        let inside = sign(&ch, "PUB", "priv", "GET", "/a", far - NC_WINDOW + 1);
        assert_eq!(
            d.verify(Some(&inside), "GET", "/a", now),
            AuthOutcome::Ok("PUB".into())
        );
        assert!(matches!(
            d.verify(Some(&inside), "GET", "/a", now),
            AuthOutcome::Challenge { stale: true, .. }
        ));
    }

    /// The sliding bitmap agrees with a plain set of used counts on a pseudo-random sequence that moves
    /// forward in jumps of every size (within a word, across words, past the whole window).
    #[test]
    fn the_count_window_matches_a_reference_set() {
        let mut used = UsedCounts::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut highest = 0u32;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let nc = match x % 10 {
                0 => highest + 1 + (x >> 8) as u32 % 2000,
                1..=3 => highest + 1 + (x >> 8) as u32 % 70,
                _ => highest.saturating_sub((x >> 8) as u32 % 1100).max(1),
            };
            let want = if nc + NC_WINDOW <= highest {
                Err(CountRefused::TooOld)
            } else if seen.contains(&nc) {
                Err(CountRefused::Reused)
            } else {
                Ok(())
            };
            assert_eq!(used.take(nc), want, "nc {nc}, highest {highest}");
            if want.is_ok() {
                seen.insert(nc);
                highest = highest.max(nc);
            }
        }
        assert_eq!(used.take(0), Err(CountRefused::Reused));
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
