//! ClickHouse Cloud (API v1) provider: a thin HTTP client with Basic authentication on the shared plumbing,
//! the wire models, the translation from `ClickHouseService`, and list-based observation.

pub mod client;
pub mod models;
pub mod observe;
pub mod translate;

pub use client::{
    ClickHouseClient, ClickHouseKey, ClientConfig, ClientPool, DEFAULT_BASE_URL, PROVIDER,
};
