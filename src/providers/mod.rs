//! Cloud providers: each brings its client, wire models, translation and observation, and one `Provider` built
//! from the run configuration that holds its client pool (one budget per API key), its observer and, where it
//! has one, its catalogue. Adding a provider: its files under `src/providers/<p>/` and one field of
//! [`Providers`].

pub mod clickhouse;
pub mod tidbcloud;

use secrecy::SecretString;

use crate::cloud::CloudError;
use crate::cloud::http::HttpConfig;
use crate::config::RunConfig;
use crate::metrics::Metrics;

/// Every provider of the process, one field each, shared by every controller.
pub struct Providers {
    pub tidbcloud: tidbcloud::Provider,
    pub clickhouse: clickhouse::Provider,
}

impl Providers {
    /// Each provider's credentials: the name of its namespace default Secret and the keys it holds.
    pub const CREDENTIALS: &'static [(&'static str, &'static [&'static str])] = &[
        (
            <tidbcloud::Provider as Credentials>::NAMESPACE_SECRET,
            <tidbcloud::Provider as Credentials>::SECRET_KEYS,
        ),
        (
            <clickhouse::Provider as Credentials>::NAMESPACE_SECRET,
            <clickhouse::Provider as Credentials>::SECRET_KEYS,
        ),
    ];

    /// Each provider from the run configuration, its clients on `http` (timeouts, extra CA).
    pub fn new(
        config: &RunConfig,
        metrics: &Metrics,
        http: &HttpConfig,
    ) -> Result<Providers, CloudError> {
        Ok(Providers {
            tidbcloud: tidbcloud::Provider::new(config, metrics, http)?,
            clickhouse: clickhouse::Provider::new(config, metrics, http)?,
        })
    }
}

/// How a provider's clients come from a credentials Secret. The controllers read the Secret (one GET, with its
/// in-use protection) and explain a missing Secret or key, or [`UnusableCredentials`], in the object's
/// conditions; the provider only declares the keys and builds a client from their values.
pub trait Credentials {
    type Client;

    /// The keys of a credentials Secret, in the order [`Credentials::client_for_secret`] takes their values.
    const SECRET_KEYS: &'static [&'static str];

    /// `(namespace, name)` of the operator's default credentials Secret, for objects that name none.
    fn default_secret(&self) -> (String, String);

    /// The Secret an object's namespace may hold for objects that name none: used before
    /// [`Credentials::default_secret`] (precedence object > namespace > operator).
    const NAMESPACE_SECRET: &'static str;

    /// The pooled client (one per API key, so one budget per key) for the values of
    /// [`Credentials::SECRET_KEYS`], in that order.
    fn client_for_secret(
        &self,
        values: Vec<SecretString>,
    ) -> Result<Self::Client, UnusableCredentials>;
}

/// Values of a credentials Secret that give no client (e.g. a key that cannot be sent in a header).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct UnusableCredentials(#[from] pub CloudError);

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn providers() -> (RunConfig, Providers) {
        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            run: RunConfig,
        }
        let config = <Args as clap::Parser>::parse_from(["test"]).run;
        let providers = Providers::new(&config, &Metrics::new(), &HttpConfig::default());
        (config, providers.expect("providers"))
    }

    fn values(v: &[&str]) -> Vec<SecretString> {
        v.iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect()
    }

    #[test]
    fn each_provider_declares_its_secret_keys_and_pools_the_clients_it_builds_from_them() {
        let (config, p) = providers();
        assert_eq!(
            tidbcloud::Provider::SECRET_KEYS,
            ["publicKey", "privateKey"]
        );
        assert_eq!(
            clickhouse::Provider::SECRET_KEYS,
            ["keyId", "keySecret", "organizationId"]
        );
        assert_eq!(
            p.tidbcloud.default_secret(),
            config.default_credentials_ref()
        );
        assert_eq!(
            p.clickhouse.default_secret(),
            config.default_clickhouse_credentials_ref()
        );

        let tidb = p.tidbcloud.client_for_secret(values(&["PUB", "priv"]));
        let tidb = tidb.expect("a TiDB Cloud client");
        assert_eq!(tidb.key_id(), "PUB");
        let again = p.tidbcloud.client_for_secret(values(&["PUB", "priv"]));
        assert!(Arc::ptr_eq(
            tidb.budget(),
            again.expect("a client").budget()
        ));

        let ch = p
            .clickhouse
            .client_for_secret(values(&["kid", "ksecret", "org"]));
        let ch = ch.expect("a ClickHouse Cloud client");
        assert_eq!((ch.key_id(), ch.organization_id()), ("kid", "org"));
        let again = p
            .clickhouse
            .client_for_secret(values(&["kid", "ksecret", "org"]));
        assert!(Arc::ptr_eq(ch.budget(), again.expect("a client").budget()));
    }

    #[test]
    fn values_that_give_no_client_are_unusable_credentials() {
        let (_, p) = providers();
        let e = p
            .tidbcloud
            .client_for_secret(values(&["PUB", ""]))
            .unwrap_err();
        assert_eq!(e.0.category(), "Config");
        assert_eq!(e.to_string(), e.0.to_string());
        let e = p
            .clickhouse
            .client_for_secret(values(&["kid"]))
            .unwrap_err();
        assert_eq!(e.0.category(), "Config");
    }
}
