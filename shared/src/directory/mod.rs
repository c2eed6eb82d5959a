//! The domain: accounts, links, groups, events. Pure decisions: (loaded state, command) -> Plan.

pub mod access;
pub mod accounts;
pub mod changes;
pub mod cleanup;
pub mod context;
pub mod groups;
pub mod model;
pub mod orgs;
pub mod plan;
pub mod safeguard;
pub mod subscriptions;
#[cfg(test)]
pub(crate) mod testkit;
pub mod users;
