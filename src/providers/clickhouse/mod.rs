//! ClickHouse Cloud (API v1) provider: a thin HTTP client with Basic authentication on the shared plumbing,
//! the wire models, the translation from `ClickHouseService`, list-based observation, and the [`Provider`] that
//! holds the process's pool and observer.

pub mod client;
pub mod models;
pub mod observe;
pub mod provider;
pub mod translate;

pub use client::{
    ClickHouseClient, ClickHouseKey, ClientConfig, ClientPool, DEFAULT_BASE_URL, PROVIDER,
};
pub use provider::{Provider, Session};
