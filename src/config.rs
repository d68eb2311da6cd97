//! Operator settings (clap + env).
