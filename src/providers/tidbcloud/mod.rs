//! TiDB Cloud (Dedicated v1beta1) provider: the HTTP client with digest authentication, and the wire
//! models. The translation between our custom resources and these models lives with the controllers.

mod auth;
pub mod client;
pub mod models;

pub use client::{
    ApiKey, ClientConfig, DEFAULT_BASE_URL, DEFAULT_IAM_BASE_URL, PROVIDER, TidbCloudClient,
};

pub mod catalog;
pub mod observe;
pub mod pool;
pub mod translate;
pub mod translate_import;
pub mod translate_integration;
