//! clouddb-operator library: module wiring only.
