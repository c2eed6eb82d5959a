//! Local development helpers shared by `scimlink-local`, the tests and the benchmark.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod receiver;
pub mod runtime_api;
mod serve;
