//! The operator's and admins' set-up decisions: organizations, directories, credentials.
//! A new record is put only if absent; a credential is stored as its hash alone, and its
//! log event names it by id, never by secret (X3).

use super::context::WriteContext;
use super::model::{Outcome, TokenRecord, TokenScope};
use super::plan::{Condition, Plan, Record};

/// A new organization, directory, or credential, with its log event.
pub fn plan_create(ctx: &WriteContext, record: Record) -> Plan {
    let message = match &record {
        Record::Org(o) => format!("The operator created organization '{}' ({}).", o.name, o.id),
        Record::Directory(d) => format!(
            "An admin created directory '{}' ({}) for {}.",
            d.name, d.id, d.idp
        ),
        Record::Token(t) => format!("An admin created {}.", credential_name(t)),
        other => format!("An admin created {other:?}."),
    };
    let mut plan = Plan::default();
    plan.put(record, Condition::Absent);
    plan.event(ctx.event(Outcome::Created, message));
    plan
}

/// Revoking one credential leaves the others working: rotation is create, switch, revoke.
pub fn plan_revoke_credential(ctx: &WriteContext, token: &TokenRecord) -> Plan {
    let mut plan = Plan::default();
    plan.delete(Record::Token(token.clone()), Condition::Always);
    plan.event(ctx.event(
        Outcome::Deleted,
        format!("An admin revoked {}.", credential_name(token)),
    ));
    plan
}

fn credential_name(t: &TokenRecord) -> String {
    match &t.scope {
        TokenScope::Directory { directory_id, .. } => {
            format!("SCIM token {} of directory {directory_id}", t.id)
        }
        TokenScope::OrgAdmin => format!("admin key {}", t.id),
        TokenScope::Receiver { subscription_id } => {
            format!("receiver token {} of subscription {subscription_id}", t.id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::testkit::ctx;

    fn token() -> TokenRecord {
        TokenRecord {
            id: "tok1".into(),
            hash: "ab".repeat(32),
            scope: TokenScope::OrgAdmin,
            org_id: "org1".into(),
            created: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    /// E1, X3: a credential's creation and revocation are logged by id, never by hash.
    #[test]
    fn e1_x3_credentials_are_logged_by_id_and_put_only_if_absent() {
        let plan = plan_create(&ctx(), Record::Token(token()));
        assert_eq!(plan.writes.len(), 2);
        assert!(matches!(
            &plan.writes[0],
            crate::directory::plan::Write::Put(Record::Token(_), Condition::Absent)
        ));
        let e = plan.events().next().expect("an event");
        assert!(e.message.contains("admin key tok1"), "{}", e.message);
        assert!(!e.message.contains(&"ab".repeat(32)));
        let plan = plan_revoke_credential(&ctx(), &token());
        let e = plan.events().next().expect("an event");
        assert_eq!(e.outcome, Outcome::Deleted);
    }
}
