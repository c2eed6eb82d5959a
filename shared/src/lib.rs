//! scimlink: a SCIM 2.0 provisioning service that links what identity providers push to an
//! organization's existing accounts by email.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

/// mimalloc rather than glibc's allocator, for every binary that links this crate: a
/// request allocates and frees thousands of small blocks (the SDK's request pipeline,
/// JSON), and glibc's free and consolidation showed as a visible share of each function's
/// CPU per request (BENCHMARKS.md, issue 12).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod aws;
pub mod clock;
pub mod directory;
pub mod events;
pub mod http;
pub mod scim;
pub mod store;
pub mod write;
