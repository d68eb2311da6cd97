//! clouddb-operator library: module wiring only.

pub mod api;
pub mod cloud;
pub mod conditions;
pub mod config;
pub mod controllers;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod providers;
pub mod reasons;
pub mod telemetry;
