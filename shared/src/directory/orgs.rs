//! The operator's and admins' set-up decisions: organizations, directories, credentials.
//! New records are put only if absent; a credential is stored as its hash alone.

use super::model::{DirectoryRecord, OrgRecord, TokenRecord};
use super::plan::{Condition, Plan, Record};

/// A new organization (by the operator).
pub fn plan_create_org(org: &OrgRecord) -> Plan {
    let mut plan = Plan::default();
    plan.put(Record::Org(org.clone()), Condition::Absent);
    plan
}

/// A new directory: one IdP connection of an org.
pub fn plan_create_directory(dir: &DirectoryRecord) -> Plan {
    let mut plan = Plan::default();
    plan.put(Record::Directory(dir.clone()), Condition::Absent);
    plan
}

/// A new directory token or org admin key (its hash; the secret is shown once).
pub fn plan_create_credential(token: &TokenRecord) -> Plan {
    let mut plan = Plan::default();
    plan.put(Record::Token(token.clone()), Condition::Absent);
    plan
}

/// Revoking one credential leaves the others working: rotation is create, switch, revoke.
pub fn plan_revoke_credential(token: &TokenRecord) -> Plan {
    let mut plan = Plan::default();
    plan.delete(Record::Token(token.clone()), Condition::Always);
    plan
}
