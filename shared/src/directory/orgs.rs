//! The operator's and admins' set-up decisions: organizations, directories, credentials.
//! A new record is put only if absent; a credential is stored as its hash alone.

use super::model::TokenRecord;
use super::plan::{Condition, Plan, Record};

/// A new organization, directory, or credential (its hash; the secret is shown once).
pub fn plan_create(record: Record) -> Plan {
    let mut plan = Plan::default();
    plan.put(record, Condition::Absent);
    plan
}

/// Revoking one credential leaves the others working: rotation is create, switch, revoke.
pub fn plan_revoke_credential(token: &TokenRecord) -> Plan {
    let mut plan = Plan::default();
    plan.delete(Record::Token(token.clone()), Condition::Always);
    plan
}
