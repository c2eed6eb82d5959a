//! scimlink: a SCIM 2.0 provisioning service that links what identity providers push to an
//! organization's existing accounts by email.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod aws;
pub mod clock;
pub mod directory;
pub mod events;
pub mod http;
pub mod scim;
pub mod store;
pub mod write;
