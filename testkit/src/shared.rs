//! One control plane per test binary, and the rule for skipping when there are no binaries.

use std::io::Write as _;
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::control_plane::{Binaries, ControlPlane, ControlPlaneOptions};
use crate::error::Error;

static SHARED: OnceCell<Result<ControlPlane, Arc<Error>>> = OnceCell::const_new();

/// Whether we run in CI: env `CI` set, non-empty and not `false` (or `0`).
pub fn in_ci() -> bool {
    ci_value_means_ci(std::env::var("CI").ok().as_deref())
}

fn ci_value_means_ci(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        !v.is_empty() && !v.eq_ignore_ascii_case("false") && v != "0"
    })
}

/// Writes a line straight to the process's stderr. libtest captures `eprintln!` of passing tests; these lines
/// (skips, control-plane start) must be seen without `--nocapture`.
pub(crate) fn note(line: std::fmt::Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_fmt(line);
    let _ = stderr.write_all(b"\n");
}

/// The control-plane binaries, with the project's skipping rule when they are missing:
///
/// - `CI` set (see [`in_ci`]): panics, naming `tools/control-plane/build.sh`;
/// - otherwise: prints `SKIPPED (no control-plane binaries; run tools/control-plane/build.sh): <test name>` to
///   stderr (not captured by libtest) and returns `None`; the test should return early.
///
/// Use it in tests that start their own [`ControlPlane`]; [`ControlPlane::shared_or_skip`] applies it already.
pub fn binaries_or_skip() -> Option<Binaries> {
    match Binaries::locate(None) {
        Ok(binaries) => Some(binaries),
        Err(e @ (Error::BinariesMissing { .. } | Error::NoBinDir)) => {
            if in_ci() {
                panic!("CI is set, so control-plane tests may not be skipped: {e}");
            }
            note(format_args!(
                "SKIPPED (no control-plane binaries; run tools/control-plane/build.sh): {}",
                current_test_name()
            ));
            None
        }
        Err(e) => panic!("cannot look for the control-plane binaries: {e}"),
    }
}

impl ControlPlane {
    /// The control plane shared by all tests of this test binary, started on first use with default options
    /// (binaries from `K8S_BIN_DIR` or the build cache). Its processes die with the test process; its state
    /// directory is removed by the next start (see [`ControlPlane::start`]).
    ///
    /// A failed start is remembered, so every later test fails fast with the same error instead of retrying.
    /// Build a [`kube::Client`] per test (with [`ControlPlane::admin_client`]), not once per binary: a client
    /// is tied to the tokio runtime it was made in, and each `#[tokio::test]` has its own.
    pub async fn shared() -> Result<&'static ControlPlane, Arc<Error>> {
        Self::shared_with(ControlPlaneOptions::default).await
    }

    /// [`ControlPlane::shared`] with options, e.g. CRDs to install before kube-controller-manager starts. The
    /// first call in the test binary starts the control plane, so every test of a binary should pass the same
    /// options (keep them in one function in the binary's support module).
    pub async fn shared_with(
        options: impl FnOnce() -> ControlPlaneOptions,
    ) -> Result<&'static ControlPlane, Arc<Error>> {
        let result = SHARED
            .get_or_init(|| async {
                match ControlPlane::start(options()).await {
                    Ok(cp) => {
                        note(format_args!(
                            "clouddb-testkit: control plane ready ({}); state and logs in {}",
                            cp.timings(),
                            cp.dir().display()
                        ));
                        Ok(cp)
                    }
                    Err(e) => Err(Arc::new(e)),
                }
            })
            .await;
        result.as_ref().map_err(Arc::clone)
    }

    /// [`ControlPlane::shared`], with the project's skipping rule (see [`binaries_or_skip`]): `None` means the
    /// binaries are missing outside CI, a SKIPPED line was printed, and the test should return early. Panics if
    /// the binaries are present but the control plane does not start (never a silent skip).
    ///
    /// ```no_run
    /// # async fn t() {
    /// let Some(cp) = clouddb_testkit::ControlPlane::shared_or_skip().await else { return };
    /// # let _ = cp;
    /// # }
    /// ```
    pub async fn shared_or_skip() -> Option<&'static ControlPlane> {
        Self::shared_or_skip_with(ControlPlaneOptions::default).await
    }

    /// [`ControlPlane::shared_or_skip`] with options (see [`ControlPlane::shared_with`]).
    pub async fn shared_or_skip_with(
        options: impl FnOnce() -> ControlPlaneOptions,
    ) -> Option<&'static ControlPlane> {
        binaries_or_skip()?;
        match Self::shared_with(options).await {
            Ok(cp) => Some(cp),
            Err(e) => panic!("the shared control plane did not start: {e}"),
        }
    }
}

/// libtest runs each test on a thread named after it (and `#[tokio::test]` bodies run on that thread).
fn current_test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "<this test>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::ci_value_means_ci;

    #[test]
    fn ci_detection() {
        assert!(!ci_value_means_ci(None));
        assert!(!ci_value_means_ci(Some("")));
        assert!(!ci_value_means_ci(Some("false")));
        assert!(!ci_value_means_ci(Some("FALSE")));
        assert!(!ci_value_means_ci(Some("0")));
        assert!(ci_value_means_ci(Some("true")));
        assert!(ci_value_means_ci(Some("1")));
    }
}
