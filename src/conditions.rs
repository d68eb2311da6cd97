//! Condition helpers for status (kstatus-compatible Ready/Reconciling/Stalled).
