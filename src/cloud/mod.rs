//! Shared cloud plumbing: error taxonomy, API budget (rate limiting), retry policy.
