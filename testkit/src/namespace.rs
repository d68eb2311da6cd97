//! A namespace per test.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};

use crate::control_plane::{ControlPlane, client_from_kubeconfig};
use crate::error::{Error, Result};

/// Label put on every test namespace.
pub const TEST_NAMESPACE_LABEL: &str = "clouddb.io/testkit";

/// A namespace with a random name, created for one test and deleted when dropped (also when the test panics).
///
/// Deletion only starts it: the namespace controller of kube-controller-manager removes the contents and then
/// the namespace, in the background.
#[derive(Debug)]
pub struct TestNamespace {
    name: String,
    admin_kubeconfig: PathBuf,
    deleted: bool,
}

impl TestNamespace {
    /// Creates `<prefix>-<6 random characters>` (the prefix is lower-cased and cut to fit a DNS label).
    pub async fn create(cp: &ControlPlane, prefix: &str) -> Result<TestNamespace> {
        let client = cp.admin_client().await?;
        let name = format!("{}-{}", sanitize(prefix), random_suffix());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(TEST_NAMESPACE_LABEL.to_string(), "true".to_string())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client)
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|e| Error::kube(format!("create namespace {name}"), e))?;
        Ok(TestNamespace {
            name,
            admin_kubeconfig: cp.admin_kubeconfig().to_path_buf(),
            deleted: false,
        })
    }

    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts deleting the namespace now, reporting errors (dropping does the same, ignoring them).
    pub async fn delete(mut self) -> Result<()> {
        self.deleted = true;
        let client = client_from_kubeconfig(&self.admin_kubeconfig).await?;
        delete_namespace(client, &self.name).await
    }
}

async fn delete_namespace(client: Client, name: &str) -> Result<()> {
    match Api::<Namespace>::all(client)
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(e) => Err(Error::kube(format!("delete namespace {name}"), e)),
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        // Drop cannot await, and the test's runtime is about to go away; delete from a short-lived thread with
        // its own runtime (also works while unwinding from a panic).
        let name = std::mem::take(&mut self.name);
        let kubeconfig = self.admin_kubeconfig.clone();
        let deleter = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => return Err(format!("cannot build a runtime: {e}")),
            };
            runtime.block_on(async {
                let delete = async {
                    let client = client_from_kubeconfig(&kubeconfig).await?;
                    delete_namespace(client, &name).await
                };
                match tokio::time::timeout(std::time::Duration::from_secs(10), delete).await {
                    Ok(result) => result.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("deleting namespace {name} took over 10s")),
                }
            })
        });
        match deleter.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("clouddb-testkit: could not delete test namespace: {e}"),
            Err(_) => eprintln!("clouddb-testkit: the namespace-deleting thread panicked"),
        }
    }
}

fn sanitize(prefix: &str) -> String {
    let cleaned: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches('-');
    let mut out: String = trimmed.chars().take(50).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "test".to_string()
    } else {
        out
    }
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..6)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_prefix_to_a_dns_label() {
        assert_eq!(sanitize("My_Test::Case"), "my-test--case");
        assert_eq!(sanitize("--"), "test");
        assert!(sanitize(&"x".repeat(80)).len() <= 50);
        let name = format!("{}-{}", sanitize("Smoke"), random_suffix());
        assert_eq!(name.len(), "smoke-".len() + 6);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
