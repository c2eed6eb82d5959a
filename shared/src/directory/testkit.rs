//! Fixtures shared by the unit tests of the decisions (`users`, `groups`, `accounts`,
//! `access`): a fixed org, directory, time and id seed, records, and plan inspectors.
#![allow(dead_code)]

use std::collections::HashSet;

use serde_json::{json, Value};

use super::context::{Ids, WriteContext};
use super::model::*;
use super::plan::{Condition, Plan, Record, Write};
use crate::scim::schema::USER_SCHEMA;
use crate::store::keys;

pub(crate) const ORG: &str = "org1";
pub(crate) const DIR: &str = "dir1";
pub(crate) const OTHER_DIR: &str = "dir2";
pub(crate) const NOW: &str = "2026-03-04T05:06:07.890Z";
pub(crate) const EARLIER: &str = "2026-01-01T00:00:00.000Z";

pub(crate) fn ctx() -> WriteContext {
    WriteContext {
        org_id: ORG.into(),
        verified_domains: vec!["example.com".into()],
        default_groups: Vec::new(),
        assignable_roles: Vec::new(),
        directory_id: DIR.into(),
        idp: "okta".into(),
        request_id: Some("req-1".into()),
        now: NOW.into(),
        operation: "POST /Users".into(),
        quirks: vec!["okta-string-boolean".into()],
        ids: Ids::seeded(7),
    }
}

/// A canonical SCIM user document with one primary work email.
pub(crate) fn user_doc(user_name: &str, email: Option<&str>) -> Value {
    let mut doc = json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "active": true,
    });
    if let Some(e) = email {
        doc["emails"] = json!([{"value": e, "primary": true, "type": "work"}]);
    }
    doc
}

pub(crate) fn set(mut doc: Value, key: &str, value: Value) -> Value {
    doc[key] = value;
    doc
}

pub(crate) fn user(id: &str, doc: Value, account_id: Option<&str>) -> UserRecord {
    UserRecord {
        directory_id: DIR.into(),
        id: id.into(),
        doc,
        version: 3,
        created: EARLIER.into(),
        last_modified: EARLIER.into(),
        account_id: account_id.map(str::to_string),
    }
}

pub(crate) fn owner_profile() -> Profile {
    Profile {
        display_name: Some("Chosen By Owner".into()),
        given_name: Some("Owner".into()),
        family_name: Some("Chosen".into()),
        title: Some("Owner's title".into()),
        department: None,
    }
}

/// Org `o` with site `acme` (id `s1`) and its product Jira, whose roles are `roles`.
pub(crate) fn org_with_jira(roles: &[&str]) -> OrgRecord {
    OrgRecord {
        id: "o".into(),
        name: "O".into(),
        verified_domains: vec![],
        created: String::new(),
        version: 1,
        sites: vec![Site {
            id: "s1".into(),
            name: "acme".into(),
        }],
        products: vec![Product {
            id: "jira".into(),
            name: "Jira".into(),
            site_id: "s1".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            default_groups: vec![],
        }],
    }
}

/// An unlinked account managed by admin.
pub(crate) fn account(id: &str, email: &str, origin: Origin) -> AccountRecord {
    AccountRecord {
        org_id: ORG.into(),
        id: id.into(),
        email: email.into(),
        origin,
        managed_by: ManagedBy::Admin,
        status: AccountStatus::Active,
        profile: owner_profile(),
        link: None,
        hold: None,
        assigned_roles: Vec::new(),
        version: 5,
        created: EARLIER.into(),
        last_modified: EARLIER.into(),
    }
}

/// `account` linked to SCIM user `user_id` of `directory_id`, managed by that directory
/// when its email is managed (as L2 leaves it).
pub(crate) fn linked(mut a: AccountRecord, directory_id: &str, user_id: &str) -> AccountRecord {
    a.link = Some(LinkRef {
        directory_id: directory_id.into(),
        user_id: user_id.into(),
    });
    if account_kind(&["example.com".to_string()], &a.email) == AccountKind::Managed {
        a.managed_by = ManagedBy::Directory {
            directory_id: directory_id.into(),
        };
    }
    a
}

pub(crate) fn by_dir() -> ManagedBy {
    ManagedBy::Directory {
        directory_id: DIR.into(),
    }
}

// ---- the item key of every write: the store's own derivation ----

pub(crate) fn record_key(r: &Record) -> (String, String) {
    crate::store::record_key(r)
}

pub(crate) fn write_key(w: &Write) -> (String, String) {
    match w {
        Write::Put(r, _) | Write::Delete(r, _) => record_key(r),
        Write::TouchGroup {
            directory_id,
            group_id,
            ..
        }
        | Write::SettleGroup {
            directory_id,
            group_id,
            ..
        } => keys::group(directory_id, group_id),
    }
}

/// A plan is one DynamoDB transaction, which refuses two operations on one item.
pub(crate) fn assert_one_write_per_item(plan: &Plan) {
    let mut seen = HashSet::new();
    for w in &plan.writes {
        let k = write_key(w);
        assert!(
            seen.insert(k.clone()),
            "two writes to item {k:?} in one plan: {:#?}",
            plan.writes
        );
    }
}

// ---- reading plans ----

pub(crate) fn puts(plan: &Plan) -> Vec<(&Record, &Condition)> {
    plan.writes
        .iter()
        .filter_map(|w| match w {
            Write::Put(r, c) => Some((r, c)),
            _ => None,
        })
        .collect()
}

pub(crate) fn deletes(plan: &Plan) -> Vec<(&Record, &Condition)> {
    plan.writes
        .iter()
        .filter_map(|w| match w {
            Write::Delete(r, c) => Some((r, c)),
            _ => None,
        })
        .collect()
}

pub(crate) fn account_puts(plan: &Plan) -> Vec<(&AccountRecord, &Condition)> {
    puts(plan)
        .into_iter()
        .filter_map(|(r, c)| match r {
            Record::Account(a) => Some((a, c)),
            _ => None,
        })
        .collect()
}

/// The one account put for `id`.
pub(crate) fn account_put<'a>(plan: &'a Plan, id: &str) -> (&'a AccountRecord, &'a Condition) {
    let found: Vec<_> = account_puts(plan)
        .into_iter()
        .filter(|(a, _)| a.id == id)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one put of account {id}: {:#?}",
        plan.writes
    );
    found[0]
}

pub(crate) fn guard_puts(plan: &Plan) -> Vec<(&Guard, &str, &Condition)> {
    puts(plan)
        .into_iter()
        .filter_map(|(r, c)| match r {
            Record::Guard(g, owner) => Some((g, owner.as_str(), c)),
            _ => None,
        })
        .collect()
}

pub(crate) fn guard_deletes(plan: &Plan) -> Vec<(&Guard, &Condition)> {
    deletes(plan)
        .into_iter()
        .filter_map(|(r, c)| match r {
            Record::Guard(g, _) => Some((g, c)),
            _ => None,
        })
        .collect()
}

pub(crate) fn org_member_puts(plan: &Plan) -> Vec<(String, String)> {
    puts(plan)
        .into_iter()
        .filter_map(|(r, _)| match r {
            Record::OrgMember {
                org_group_id,
                account_id,
                ..
            } => Some((org_group_id.clone(), account_id.clone())),
            _ => None,
        })
        .collect()
}

/// The plan's only event.
pub(crate) fn only_event(plan: &Plan) -> &EventRecord {
    let events: Vec<_> = plan.events().collect();
    assert_eq!(events.len(), 1, "one event: {:#?}", plan.writes);
    events[0]
}

pub(crate) fn email_guard(email: &str) -> Guard {
    Guard::AccountEmail {
        org_id: ORG.into(),
        email: email.into(),
    }
}
