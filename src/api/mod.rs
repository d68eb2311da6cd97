//! Custom resource types (no I/O).
