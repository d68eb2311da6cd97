//! One reconciler per kind, on a shared driver.

pub mod backoff;
pub mod core;
pub mod tidbcloudcluster;
