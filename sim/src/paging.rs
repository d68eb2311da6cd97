//! Page tokens and list slicing as v1beta1 lists do it: `pageSize` (default per list, max 100, larger
//! values coerced), an opaque `pageToken` bound to the other parameters, `skip`, `totalSize`,
//! `nextPageToken` (empty when done).
use crate::api::ApiRequest;
use crate::error::ApiError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub const MAX_PAGE_SIZE: i32 = 100;

pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
    pub next_token: String,
}

/// A fingerprint of the query parameters other than the paging ones, so a token is refused when they
/// change between pages.
fn fingerprint(req: &ApiRequest) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut pairs: Vec<&(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "pageToken" | "pageSize" | "skip"))
        .collect();
    pairs.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    req.path.hash(&mut h);
    pairs.hash(&mut h);
    h.finish()
}

fn encode(offset: usize, fp: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}:{fp:x}"))
}

fn decode(token: &str, fp: u64) -> Result<usize, ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "invalid pageToken {token:?}: it must come from the previous page of the same list with the same filters"
        ))
    };
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (off, f) = raw.split_once(':').ok_or_else(bad)?;
    if u64::from_str_radix(f, 16).map_err(|_| bad())? != fp {
        return Err(bad());
    }
    off.parse().map_err(|_| bad())
}

/// Slices `items` (already filtered and ordered) for this request.
pub fn paginate<T>(
    req: &ApiRequest,
    items: Vec<T>,
    default_size: i32,
) -> Result<Page<T>, ApiError> {
    let size = match req.query_i32("pageSize")? {
        None | Some(0) => default_size,
        Some(n) if n < 0 => {
            return Err(ApiError::invalid(format!(
                "pageSize must not be negative, got {n}"
            )));
        }
        Some(n) => n.min(MAX_PAGE_SIZE),
    } as usize;
    let fp = fingerprint(req);
    let mut offset = match req.query_one("pageToken") {
        None | Some("") => 0,
        Some(t) => decode(t, fp)?,
    };
    match req.query_i32("skip")? {
        Some(n) if n < 0 => {
            return Err(ApiError::invalid(format!(
                "skip must not be negative, got {n}"
            )));
        }
        Some(n) => offset += n as usize,
        None => {}
    }
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(size).collect();
    let end = offset + page.len();
    let next_token = if end < total {
        encode(end, fp)
    } else {
        String::new()
    };
    Ok(Page {
        items: page,
        total,
        next_token,
    })
}
