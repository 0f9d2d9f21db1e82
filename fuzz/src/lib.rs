//! Shared code of the opkit fuzz targets.
//!
//! `props` (pure property checks) and `fixture` (a provider over the in-memory store) are also
//! compiled into `tests/fuzz_regressions.rs` with `#[path]`, so the regression tests run the
//! very checks the fuzzers run, on stable, without building this crate.

pub mod fixture;
pub mod props;
