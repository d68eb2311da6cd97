//! TiDB Cloud (Dedicated v1beta1) provider.
