//! The SCIM protocol: schemas, resources, filters, PATCH, errors. No AWS, no I/O.

pub mod bulk;
pub mod error;
pub mod filter;
pub mod limits;
pub mod list;
pub mod lookup;
pub mod members;
pub mod patch;
pub mod resource;
pub mod schema;
