//! The one integration-test binary: drives the real handlers against DynamoDB Local.
//! `make test` starts DynamoDB Local and sets `SCIMLINK_TEST_DYNAMODB_ENDPOINT`.
//! Each test gets its own organization and directory, so tests run in parallel on one table.

#![recursion_limit = "256"]

mod access;
mod big_groups;
mod bulk;
mod changes;
mod common;
mod contract;
mod discovery;
mod events;
mod faults;
mod groups;
mod hostile;
mod invariants;
mod linking;
mod push;
mod races;
mod refused;
mod roles;
mod safeguard;
mod session;
mod subscriptions;
mod tables;
mod users;
