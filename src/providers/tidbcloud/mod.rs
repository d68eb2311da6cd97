//! TiDB Cloud (Dedicated v1beta1) provider: the HTTP client with digest authentication, the wire models, the
//! translation between our custom resources and these models, observation, the catalogue, and the
//! [`Provider`] that holds the process's pool, observer and catalogue.

mod auth;
pub mod client;
pub mod models;

pub use client::{
    ApiKey, ClientConfig, DEFAULT_BASE_URL, DEFAULT_IAM_BASE_URL, DEFAULT_SERVERLESS_BASE_URL,
    PROVIDER, TidbCloudClient,
};

pub mod catalog;
pub mod observe;
pub mod pool;
pub mod provider;
pub mod serverless;
pub mod serverless_branch;
pub mod serverless_models;
pub mod serverless_observe;
pub mod translate;
pub mod translate_import;
pub mod translate_integration;
pub mod translate_serverless;

pub use provider::{Provider, ServerlessSession, Session};
