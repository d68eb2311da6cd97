//! One reconciler per kind, on a shared driver.
