//! What a pure decide reads and decides: provider-neutral views of cloud resources.
//!
//! A provider's translation builds these from its wire models (`providers::*::translate`) and turns the changes
//! back into requests; each kind's `decide` (`controllers::*::decide`, which re-exports them) compares them with
//! the spec. They depend only on `crate::api`, so both sides import them without a cycle: dependencies point
//! down, controllers → providers → model → api, never the reverse.

pub mod clickhouseservice;
pub mod tidbcloudcluster;
pub mod tidbcloudimport;
pub mod tidbcloudintegration;
pub mod tidbcloudserverlesscluster;
