//! Cloud providers: each brings its client, wire models and translation.

pub mod clickhouse;
pub mod tidbcloud;
