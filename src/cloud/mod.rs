//! Shared cloud plumbing: error taxonomy, API budget (rate limiting), secrets.
//!
//! Provider clients (`crate::providers::*`) build on these; controllers see only [`CloudError`] and the
//! budget, whatever the provider.

pub mod budget;
pub mod error;
pub mod http;
pub mod pool;
pub mod writes;

pub use budget::{Budget, BudgetConfig, BudgetRegistry, Priority, ServerQuota};
pub use error::CloudError;
/// Secrets (API private keys, root passwords, source credentials) travel as `secrecy::SecretString`: its
/// `Debug` prints `[REDACTED]`, it has no `Display`, and it is zeroed on drop. Read it with
/// [`ExposeSecret::expose_secret`] only where it is sent.
pub use secrecy::{ExposeSecret, SecretString};
