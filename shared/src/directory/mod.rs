//! The domain: accounts, links, groups, events. Pure decisions: (loaded state, command) -> Plan.

pub mod access;
pub mod accounts;
pub mod groups;
pub mod model;
pub mod plan;
pub mod users;
