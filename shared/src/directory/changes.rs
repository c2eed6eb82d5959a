//! E5: the machine-readable events of a write, derived from its plan.
//!
//! Nothing here decides anything: a plan already says what will be written, and
//! `Plan::before` what it replaces. Each transaction the plan is applied in (one, or the
//! ordered parts of `Plan::transactions`) gets the events of its own writes, in one change
//! item beside its log event, so whatever commits is reported and nothing else is:
//!
//! - SCIM resources (RFC 9967): `prov:create` with the resource, `prov:put`/`prov:patch`
//!   with the attributes that changed and their previous values, `prov:delete`, and
//!   `prov:activate`/`prov:deactivate` when a user's `active` flips;
//! - accounts: created, linked, taken over, moved, unlinked, suspended, restored, handed
//!   back, updated (from the account before and after);
//! - org groups' admin memberships, and held conflicts;
//! - product access: every account whose effective roles (G7) differ before and after the
//!   transaction, with the roles granted or revoked and their cause. The roles come from an
//!   [`AccessWorld`]: the affected accounts' memberships, groups and org groups, read by the
//!   write service before the apply (`access_needs` says what to read).
//!
//! A no-op plan (L4) is empty and has no events. Refusals have none (nothing changed).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::access::{effective_access, effective_groups, effective_roles, RoleSource};
use super::model::{
    AccountRecord, AccountStatus, ChangeRecord, ChangeSubject, EventRecord, GroupRecord, ManagedBy,
    OrgGroupRecord, OrgRecord, Origin, UserRecord,
};
use super::plan::{Condition, Record, Write};
use crate::scim::resource::{external_id, primary_email};

/// What the access events of a plan are computed over: the affected accounts as stored,
/// their admin memberships, the SCIM group memberships of the users they are (or become)
/// linked to, and the groups and org groups those name.
#[derive(Debug, Clone, Default)]
pub struct AccessWorld {
    pub accounts: BTreeMap<String, AccountRecord>,
    /// Account id -> org groups it is an admin member of.
    pub admin_memberships: BTreeMap<String, BTreeSet<String>>,
    /// (directory, user) -> SCIM groups it is a member of.
    pub user_groups: BTreeMap<(String, String), BTreeSet<String>>,
    pub groups: BTreeMap<(String, String), GroupRecord>,
    pub org_groups: BTreeMap<String, OrgGroupRecord>,
    /// The org (sites and product names for the access events).
    pub org: Option<OrgRecord>,
}

/// What the write service must read for a plan's access events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessNeeds {
    /// SCIM users whose account is not known from the plan: (directory, user).
    pub users: BTreeSet<(String, String)>,
    /// Groups not in the plan: (directory, group).
    pub groups: BTreeSet<(String, String)>,
    /// Groups whose every member's access may change (deleted, held or unheld, attached
    /// to another org group): their members are read.
    pub group_members: BTreeSet<(String, String)>,
    /// Org groups whose every member's access may change (roles or management changed).
    pub org_group_members: BTreeSet<String>,
    /// Accounts the plan touches and did not create (read with their memberships).
    pub accounts: BTreeSet<String>,
    /// Accounts the plan creates: nothing stored to read, but they belong to the world.
    pub created_accounts: BTreeSet<String>,
    /// An account's status or link changes: its roles may change whatever its groups are.
    pub account_status_or_link: bool,
    /// Deleted groups whose members are removed by an asynchronous clean-up: their members
    /// are not read now; each clean-up chunk derives the access its members lose.
    pub cleaned_up_later: BTreeSet<(String, String)>,
}

impl AccessNeeds {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.groups.is_empty()
            && self.group_members.is_empty()
            && self.org_group_members.is_empty()
            && self.accounts.is_empty()
            && self.created_accounts.is_empty()
    }
}

fn all_writes(plan_writes: &[Write], after: &[Write]) -> impl Iterator<Item = Write> {
    plan_writes
        .iter()
        .chain(after.iter())
        .cloned()
        .collect::<Vec<_>>()
        .into_iter()
}

/// What a plan's access events need read (pure): see [`AccessNeeds`].
pub fn access_needs(writes: &[Write], after: &[Write], before: &[Record]) -> AccessNeeds {
    let mut needs = AccessNeeds::default();
    let mut planned_users: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
    for r in before {
        if let Record::User(u) = r {
            planned_users.insert((u.directory_id.clone(), u.id.clone()), u.account_id.clone());
        }
    }
    for w in all_writes(writes, after) {
        if let Write::Put(Record::User(u), _) = &w {
            planned_users
                .entry((u.directory_id.clone(), u.id.clone()))
                .or_insert(u.account_id.clone());
        }
    }
    for w in all_writes(writes, after) {
        match &w {
            Write::Put(Record::Account(a), cond) => {
                let old = before.iter().find_map(|r| match r {
                    Record::Account(o) if o.id == a.id => Some(o),
                    _ => None,
                });
                if *cond == Condition::Absent {
                    needs.created_accounts.insert(a.id.clone());
                } else if access_may_change(old, a, writes) {
                    needs.accounts.insert(a.id.clone());
                    needs.account_status_or_link = true;
                }
            }
            Write::Put(Record::OrgMember { account_id, .. }, _)
            | Write::Delete(Record::OrgMember { account_id, .. }, _) => {
                note_account(&mut needs, account_id, writes);
            }
            Write::Put(
                Record::Member {
                    directory_id,
                    group_id,
                    user_id,
                },
                _,
            )
            | Write::Delete(
                Record::Member {
                    directory_id,
                    group_id,
                    user_id,
                },
                _,
            ) => {
                let key = (directory_id.clone(), group_id.clone());
                let loaded = before.iter().any(
                    |r| matches!(r, Record::Group(g) if g.directory_id == key.0 && g.id == key.1),
                );
                if !loaded && !plan_has_group(writes, &key) {
                    needs.groups.insert(key);
                }
                let user = (directory_id.clone(), user_id.clone());
                match planned_users.get(&user) {
                    Some(Some(a)) => note_account(&mut needs, a, writes),
                    Some(None) => {}
                    None => {
                        needs.users.insert(user);
                    }
                }
            }
            Write::Put(Record::Group(g), Condition::Version(_)) => {
                let old = before.iter().find_map(|r| match r {
                    Record::Group(o) if o.id == g.id && o.directory_id == g.directory_id => Some(o),
                    _ => None,
                });
                let key = (g.directory_id.clone(), g.id.clone());
                if old.is_some_and(|o| o.held != g.held || o.org_group_id != g.org_group_id)
                    && !synced_later(writes, |j| {
                        (&j.directory_id, &j.group_id) == (&key.0, &key.1)
                    })
                {
                    needs
                        .group_members
                        .insert((g.directory_id.clone(), g.id.clone()));
                }
            }
            Write::Delete(Record::Group(g), _) => {
                let key = (g.directory_id.clone(), g.id.clone());
                if cleans_up_later(writes, &key) {
                    needs.cleaned_up_later.insert(key);
                } else {
                    needs.group_members.insert(key);
                }
            }
            Write::Put(Record::OrgGroup(og), Condition::Version(_)) => {
                let old = before.iter().find_map(|r| match r {
                    Record::OrgGroup(o) if o.id == og.id => Some(o),
                    _ => None,
                });
                if old.is_some_and(|o| o.roles != og.roles || o.managed_by != og.managed_by)
                    && !synced_later(writes, |j| {
                        j.org_group.as_ref().is_some_and(|o| o.id == og.id)
                    })
                {
                    needs.org_group_members.insert(og.id.clone());
                }
            }
            _ => {}
        }
    }
    needs
}

/// Whether an account's new version may change its access by itself: a new status, or a
/// link to a user that may be in groups. A profile or email change grants and revokes
/// nothing, and neither does a first link to a SCIM user this plan creates (in no group).
fn access_may_change(old: Option<&AccountRecord>, new: &AccountRecord, writes: &[Write]) -> bool {
    let Some(old) = old else {
        return true;
    };
    // G8: the roles its IdP assigns directly are part of its access.
    if old.status != new.status || old.assigned_roles != new.assigned_roles {
        return true;
    }
    if old.link == new.link {
        return false;
    }
    let fresh_user = new.link.as_ref().is_some_and(|l| {
        writes.iter().any(|w| {
            matches!(w, Write::Put(Record::User(u), Condition::Absent) if u.id == l.user_id && u.directory_id == l.directory_id)
        })
    });
    !(old.link.is_none() && fresh_user)
}

fn note_account(needs: &mut AccessNeeds, account_id: &str, writes: &[Write]) {
    let created = writes.iter().any(
        |w| matches!(w, Write::Put(Record::Account(a), Condition::Absent) if a.id == account_id),
    );
    if created {
        needs.created_accounts.insert(account_id.to_string());
    } else {
        needs.accounts.insert(account_id.to_string());
    }
}

/// Whether the plan leaves the group's member items to a clean-up job (a big group's delete).
fn cleans_up_later(writes: &[Write], key: &(String, String)) -> bool {
    writes.iter().any(|w| {
        matches!(w, Write::Put(Record::CleanupJob(j), _) if j.directory_id == key.0 && j.group_id == key.1)
    })
}

/// Whether the plan leaves the access of a synced group's members to a sync job (a big
/// held group's sync, or one of the job's chunks): their access changes are derived chunk
/// by chunk (`directory::cleanup::plan_sync_chunk`), not by reading every member now.
fn synced_later(
    writes: &[Write],
    names: impl Fn(&super::cleanup::CleanupJobRecord) -> bool,
) -> bool {
    writes.iter().any(|w| {
        matches!(w, Write::Put(Record::CleanupJob(j), _) if j.kind == super::cleanup::JobKind::Sync && names(j))
    })
}

fn plan_has_group(writes: &[Write], key: &(String, String)) -> bool {
    writes.iter().any(|w| {
        matches!(w, Write::Put(Record::Group(g), Condition::Absent) if g.directory_id == key.0 && g.id == key.1)
    })
}

impl AccessWorld {
    /// The effective roles (G7) of an account in this world.
    pub fn roles(&self, account_id: &str) -> BTreeSet<String> {
        let Some(account) = self.accounts.get(account_id) else {
            return BTreeSet::new();
        };
        self.roles_for(account)
    }

    /// The effective roles `account` (as given, not as stored) would have in this world.
    pub fn roles_for(&self, account: &AccountRecord) -> BTreeSet<String> {
        effective_roles(account, &self.effective(account))
    }

    fn effective(&self, account: &AccountRecord) -> Vec<OrgGroupRecord> {
        let admin: Vec<OrgGroupRecord> = self
            .admin_memberships
            .get(&account.id)
            .into_iter()
            .flatten()
            .filter_map(|og| self.org_groups.get(og).cloned())
            .collect();
        let mut synced = Vec::new();
        if let Some(link) = &account.link {
            let key = (link.directory_id.clone(), link.user_id.clone());
            for gid in self.user_groups.get(&key).into_iter().flatten() {
                let Some(g) = self.groups.get(&(link.directory_id.clone(), gid.clone())) else {
                    continue;
                };
                if let (false, Some(og)) = (g.held, &g.org_group_id) {
                    if let Some(og) = self.org_groups.get(og) {
                        synced.push(og.clone());
                    }
                }
            }
        }
        effective_groups(admin, synced)
    }

    /// Where an account's `role` comes from (its cause): groups, a direct assignment.
    fn sources(&self, account_id: &str, role: &str) -> Vec<RoleSource> {
        let Some(account) = self.accounts.get(account_id) else {
            return Vec::new();
        };
        effective_access(account, &self.effective(account))
            .remove(role)
            .unwrap_or_default()
    }

    /// The world after one transaction's writes.
    pub fn apply(&mut self, writes: &[Write]) {
        for w in writes {
            match w {
                Write::Put(Record::Account(a), _) => {
                    self.accounts.insert(a.id.clone(), a.clone());
                }
                Write::Put(
                    Record::OrgMember {
                        org_group_id,
                        account_id,
                        ..
                    },
                    _,
                ) => {
                    self.admin_memberships
                        .entry(account_id.clone())
                        .or_default()
                        .insert(org_group_id.clone());
                }
                Write::Delete(
                    Record::OrgMember {
                        org_group_id,
                        account_id,
                        ..
                    },
                    _,
                ) => {
                    if let Some(s) = self.admin_memberships.get_mut(account_id) {
                        s.remove(org_group_id);
                    }
                }
                Write::Put(
                    Record::Member {
                        directory_id,
                        group_id,
                        user_id,
                    },
                    _,
                ) => {
                    self.user_groups
                        .entry((directory_id.clone(), user_id.clone()))
                        .or_default()
                        .insert(group_id.clone());
                }
                Write::Delete(
                    Record::Member {
                        directory_id,
                        group_id,
                        user_id,
                    },
                    _,
                ) => {
                    if let Some(s) = self
                        .user_groups
                        .get_mut(&(directory_id.clone(), user_id.clone()))
                    {
                        s.remove(group_id);
                    }
                }
                Write::Put(Record::Group(g), _) => {
                    self.groups
                        .insert((g.directory_id.clone(), g.id.clone()), g.clone());
                }
                Write::Delete(Record::Group(g), _) => {
                    self.groups.remove(&(g.directory_id.clone(), g.id.clone()));
                }
                Write::Put(Record::OrgGroup(og), _) => {
                    self.org_groups.insert(og.id.clone(), og.clone());
                }
                Write::Delete(Record::OrgGroup(og), _) => {
                    self.org_groups.remove(&og.id);
                }
                Write::Delete(Record::User(u), _) => {
                    self.user_groups
                        .remove(&(u.directory_id.clone(), u.id.clone()));
                }
                _ => {}
            }
        }
    }
}

/// Where a transaction's events come from: its log event (org, directory, time, request,
/// operation) and fresh ids.
pub struct EventSource<'a> {
    pub log: &'a EventRecord,
    /// A new unique id for each event (the SET's `jti`).
    pub next_id: &'a mut dyn FnMut() -> String,
}

/// The change events of one transaction, in order, given the records it replaces
/// (`before`) and the access world as it stands before it (advanced past it on return).
pub fn transaction_changes(
    writes: &[Write],
    before: &[Record],
    world: &mut AccessWorld,
    source: EventSource<'_>,
) -> Vec<ChangeRecord> {
    let log = source.log;
    let mut out: Vec<(String, ChangeSubject, Value)> = Vec::new();
    scim_changes(writes, before, &log.operation, &mut out);
    account_changes(writes, before, &mut out);
    membership_and_conflict_changes(writes, &mut out);
    safeguard_changes(writes, before, &mut out);
    access_changes(writes, world, log, &mut out);
    let txn = log.id.clone();
    out.into_iter()
        .enumerate()
        .map(|(seq, (event, subject, data))| ChangeRecord {
            org_id: log.org_id.clone(),
            directory_id: log.directory_id.clone(),
            time: log.time.clone(),
            txn: txn.clone(),
            seq: seq as u32,
            id: (source.next_id)(),
            request_id: log.request_id.clone(),
            event,
            subject,
            data,
        })
        .collect()
}

fn user_subject(u: &UserRecord) -> ChangeSubject {
    ChangeSubject {
        resource_type: "User".into(),
        id: u.id.clone(),
        directory_id: Some(u.directory_id.clone()),
        external_id: external_id(&u.doc).map(str::to_string),
        email: primary_email(&u.doc),
        version: Some(u.version),
    }
}

fn group_subject(g: &GroupRecord) -> ChangeSubject {
    ChangeSubject {
        resource_type: "Group".into(),
        id: g.id.clone(),
        directory_id: Some(g.directory_id.clone()),
        external_id: external_id(&g.doc).map(str::to_string),
        email: None,
        version: Some(g.version),
    }
}

fn account_subject(a: &AccountRecord) -> ChangeSubject {
    ChangeSubject {
        resource_type: "Account".into(),
        id: a.id.clone(),
        directory_id: None,
        external_id: None,
        email: Some(a.email.clone()),
        version: Some(a.version),
    }
}

/// The SCIM document as RFC 7643 shows it: the stored document with its id.
fn resource(id: &str, doc: &Value) -> Value {
    let mut d = doc.clone();
    if let Some(m) = d.as_object_mut() {
        m.insert("id".into(), json!(id));
    }
    d
}

/// The top-level attributes whose value differs, and their previous values (`null` when
/// the attribute was absent).
fn attribute_diff(old: &Value, new: &Value) -> (Vec<String>, Map<String, Value>) {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let names: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    let mut changed = Vec::new();
    let mut previous = Map::new();
    for name in names {
        if name == "schemas" || name == "meta" {
            continue;
        }
        if o.get(name) != n.get(name) {
            changed.push(name.clone());
            previous.insert(name.clone(), o.get(name).cloned().unwrap_or(Value::Null));
        }
    }
    (changed, previous)
}

fn update_verb(operation: &str) -> &'static str {
    if operation.starts_with("PUT") {
        "prov:put"
    } else {
        "prov:patch"
    }
}

fn is_active(doc: &Value) -> bool {
    doc.get("active").and_then(Value::as_bool).unwrap_or(true)
}

fn prior_user<'a>(before: &'a [Record], u: &UserRecord) -> Option<&'a UserRecord> {
    before.iter().find_map(|r| match r {
        Record::User(o) if o.id == u.id && o.directory_id == u.directory_id => Some(o),
        _ => None,
    })
}

fn scim_changes(
    writes: &[Write],
    before: &[Record],
    operation: &str,
    out: &mut Vec<(String, ChangeSubject, Value)>,
) {
    // Members added and removed per group in this transaction.
    let mut members: BTreeMap<(String, String), (Vec<String>, Vec<String>)> = BTreeMap::new();
    for w in writes {
        match w {
            Write::Put(
                Record::Member {
                    directory_id,
                    group_id,
                    user_id,
                },
                _,
            ) => members
                .entry((directory_id.clone(), group_id.clone()))
                .or_default()
                .0
                .push(user_id.clone()),
            Write::Delete(
                Record::Member {
                    directory_id,
                    group_id,
                    user_id,
                },
                _,
            ) => members
                .entry((directory_id.clone(), group_id.clone()))
                .or_default()
                .1
                .push(user_id.clone()),
            _ => {}
        }
    }
    let mut reported_groups: BTreeSet<(String, String)> = BTreeSet::new();
    for w in writes {
        match w {
            Write::Put(Record::User(u), _) => match prior_user(before, u) {
                None => out.push((
                    "prov:create".into(),
                    user_subject(u),
                    json!({ "data": resource(&u.id, &u.doc) }),
                )),
                Some(old) if old.doc != u.doc => {
                    let (attributes, previous) = attribute_diff(&old.doc, &u.doc);
                    out.push((
                        update_verb(operation).into(),
                        user_subject(u),
                        json!({
                            "data": resource(&u.id, &u.doc),
                            "attributes": attributes,
                            "previous": previous,
                        }),
                    ));
                    match (is_active(&old.doc), is_active(&u.doc)) {
                        (true, false) => {
                            out.push(("prov:deactivate".into(), user_subject(u), json!({})))
                        }
                        (false, true) => {
                            out.push(("prov:activate".into(), user_subject(u), json!({})))
                        }
                        _ => {}
                    }
                }
                Some(_) => {}
            },
            Write::Delete(Record::User(u), _) => {
                out.push(("prov:delete".into(), user_subject(u), json!({})))
            }
            Write::Put(Record::Group(g), cond) => {
                let key = (g.directory_id.clone(), g.id.clone());
                let (added, removed) = members.get(&key).cloned().unwrap_or_default();
                reported_groups.insert(key);
                let old = before.iter().find_map(|r| match r {
                    Record::Group(o) if o.id == g.id && o.directory_id == g.directory_id => Some(o),
                    _ => None,
                });
                match (cond, old) {
                    (Condition::Absent, _) | (_, None) => {
                        let mut data = resource(&g.id, &g.doc);
                        if let Some(m) = data.as_object_mut() {
                            m.insert(
                                "members".into(),
                                added.iter().map(|u| json!({ "value": u })).collect(),
                            );
                        }
                        out.push((
                            "prov:create".into(),
                            group_subject(g),
                            json!({ "data": data }),
                        ))
                    }
                    (_, Some(old)) => {
                        let (mut attributes, previous) = attribute_diff(&old.doc, &g.doc);
                        if !added.is_empty() || !removed.is_empty() {
                            attributes.push("members".into());
                        }
                        if !attributes.is_empty() {
                            out.push((
                                update_verb(operation).into(),
                                group_subject(g),
                                json!({
                                    "data": resource(&g.id, &g.doc),
                                    "attributes": attributes,
                                    "previous": previous,
                                    "membersAdded": added,
                                    "membersRemoved": removed,
                                }),
                            ));
                        }
                    }
                }
            }
            Write::Delete(Record::Group(g), _) => {
                reported_groups.insert((g.directory_id.clone(), g.id.clone()));
                out.push(("prov:delete".into(), group_subject(g), json!({})))
            }
            _ => {}
        }
    }
    // Membership-only changes: the group's document did not change.
    for ((directory_id, group_id), (added, removed)) in members {
        if reported_groups.contains(&(directory_id.clone(), group_id.clone())) {
            continue;
        }
        let version = writes.iter().any(|w| {
            matches!(w, Write::TouchGroup { group_id: g, directory_id: d, .. } if *g == group_id && *d == directory_id)
        });
        out.push((
            update_verb(operation).into(),
            ChangeSubject {
                resource_type: "Group".into(),
                id: group_id,
                directory_id: Some(directory_id),
                external_id: None,
                email: None,
                version: None,
            },
            json!({
                "attributes": ["members"],
                "membersAdded": added,
                "membersRemoved": removed,
                "versionChanged": version,
            }),
        ));
    }
}

fn managed_by_directory(a: &AccountRecord) -> bool {
    matches!(a.managed_by, ManagedBy::Directory { .. })
}

fn account_changes(
    writes: &[Write],
    before: &[Record],
    out: &mut Vec<(String, ChangeSubject, Value)>,
) {
    for w in writes {
        let Write::Put(Record::Account(a), _) = w else {
            continue;
        };
        let old = before.iter().find_map(|r| match r {
            Record::Account(o) if o.id == a.id => Some(o),
            _ => None,
        });
        let link = |a: &AccountRecord| {
            a.link
                .as_ref()
                .map(|l| json!({ "directoryId": l.directory_id, "userId": l.user_id }))
                .unwrap_or(Value::Null)
        };
        let Some(old) = old else {
            out.push((
                "account:created".into(),
                account_subject(a),
                json!({ "email": a.email, "origin": a.origin, "managedBy": a.managed_by, "status": a.status, "link": link(a) }),
            ));
            if a.link.is_some() {
                out.push((
                    "account:linked".into(),
                    account_subject(a),
                    json!({ "link": link(a) }),
                ));
            }
            continue;
        };
        match (&old.link, &a.link) {
            (None, Some(_)) => {
                let took_over = !managed_by_directory(old)
                    && managed_by_directory(a)
                    && matches!(old.origin, Origin::Invited | Origin::Jit);
                let event = if took_over {
                    "account:taken-over"
                } else {
                    "account:linked"
                };
                out.push((
                    event.into(),
                    account_subject(a),
                    json!({ "link": link(a), "origin": old.origin }),
                ));
            }
            (Some(x), Some(y)) if x != y => out.push((
                "account:moved".into(),
                account_subject(a),
                json!({ "from": link(old), "to": link(a) }),
            )),
            (Some(_), None) => out.push((
                "account:unlinked".into(),
                account_subject(a),
                json!({ "previous": link(old) }),
            )),
            _ => {}
        }
        if managed_by_directory(old) && !managed_by_directory(a) {
            out.push((
                "account:handed-back".into(),
                account_subject(a),
                json!({ "previous": old.managed_by }),
            ));
        }
        match (&old.hold, &a.hold) {
            (None, Some(h)) => out.push((
                "account:held".into(),
                account_subject(a),
                json!({ "hold": h }),
            )),
            (Some(h), None) => out.push((
                "account:hold-ended".into(),
                account_subject(a),
                json!({ "previous": h, "status": a.status }),
            )),
            _ => {}
        }
        match (old.status, a.status) {
            (AccountStatus::Active, AccountStatus::Suspended) => {
                out.push(("account:suspended".into(), account_subject(a), json!({})))
            }
            (AccountStatus::Suspended, AccountStatus::Active) => {
                out.push(("account:restored".into(), account_subject(a), json!({})))
            }
            _ => {}
        }
        let mut previous = Map::new();
        if old.email != a.email {
            previous.insert("email".into(), json!(old.email));
        }
        if old.profile != a.profile {
            let (_, p) = attribute_diff(
                &serde_json::to_value(&old.profile).unwrap_or(Value::Null),
                &serde_json::to_value(&a.profile).unwrap_or(Value::Null),
            );
            previous.extend(p);
        }
        if !previous.is_empty() {
            let attributes: Vec<String> = previous.keys().cloned().collect();
            out.push((
                "account:updated".into(),
                account_subject(a),
                json!({ "attributes": attributes, "previous": previous, "profile": a.profile, "email": a.email }),
            ));
        }
    }
}

fn membership_and_conflict_changes(
    writes: &[Write],
    out: &mut Vec<(String, ChangeSubject, Value)>,
) {
    let mut org_members: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for w in writes {
        match w {
            Write::Put(
                Record::OrgMember {
                    org_group_id,
                    account_id,
                    ..
                },
                _,
            ) => org_members
                .entry(org_group_id.clone())
                .or_default()
                .0
                .push(account_id.clone()),
            Write::Delete(
                Record::OrgMember {
                    org_group_id,
                    account_id,
                    ..
                },
                _,
            ) => org_members
                .entry(org_group_id.clone())
                .or_default()
                .1
                .push(account_id.clone()),
            _ => {}
        }
    }
    for (og, (added, removed)) in org_members {
        out.push((
            "org-group:members-changed".into(),
            ChangeSubject {
                resource_type: "OrgGroup".into(),
                id: og,
                directory_id: None,
                external_id: None,
                email: None,
                version: None,
            },
            json!({ "accountsAdded": added, "accountsRemoved": removed }),
        ));
    }
    let synced_org_groups: BTreeSet<&str> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Put(Record::Group(g), Condition::Version(_)) if !g.held => {
                g.org_group_id.as_deref()
            }
            _ => None,
        })
        .collect();
    for w in writes {
        let (event, c) = match w {
            Write::Put(Record::Conflict(c), _) if c.rejected => ("conflict:rejected", c),
            Write::Put(Record::Conflict(c), _) => ("conflict:held", c),
            Write::Delete(Record::Conflict(c), _)
                if synced_org_groups.contains(c.org_group_id.as_str()) =>
            {
                ("conflict:synced", c)
            }
            Write::Delete(Record::Conflict(c), _) => ("conflict:resolved", c),
            _ => continue,
        };
        out.push((
            event.into(),
            ChangeSubject {
                resource_type: "Conflict".into(),
                id: c.group_id.clone(),
                directory_id: Some(c.directory_id.clone()),
                external_id: None,
                email: None,
                version: None,
            },
            json!({ "groupName": c.name, "orgGroupId": c.org_group_id, "groupId": c.group_id }),
        ));
    }
}

/// E4: a directory's safeguard tripped in this transaction: tripped now, not before.
fn safeguard_changes(
    writes: &[Write],
    before: &[Record],
    out: &mut Vec<(String, ChangeSubject, Value)>,
) {
    for w in writes {
        let Write::Put(Record::Safeguard(sg), _) = w else {
            continue;
        };
        let was_tripped = before.iter().any(|r| {
            matches!(r, Record::Safeguard(old) if old.directory_id == sg.directory_id && old.tripped.is_some())
        });
        let Some(trip) = sg.tripped.as_ref().filter(|_| !was_tripped) else {
            continue;
        };
        out.push((
            "safeguard:tripped".into(),
            ChangeSubject {
                resource_type: "Directory".into(),
                id: sg.directory_id.clone(),
                directory_id: Some(sg.directory_id.clone()),
                external_id: None,
                email: None,
                version: Some(sg.version),
            },
            json!({
                "threshold": trip.threshold,
                "baselineUsers": trip.baseline_users,
                "windowStart": trip.window_start,
                "windowMinutes": sg.window_minutes,
                "sharePercent": sg.share_percent,
                "minCount": sg.min_count,
            }),
        ));
    }
}

/// Product access granted or revoked by one transaction: every account of the world whose
/// effective roles differ before and after it.
fn access_changes(
    writes: &[Write],
    world: &mut AccessWorld,
    log: &EventRecord,
    out: &mut Vec<(String, ChangeSubject, Value)>,
) {
    let ids: Vec<String> = world.accounts.keys().cloned().collect();
    let new_ids: Vec<String> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Put(Record::Account(a), _) if !world.accounts.contains_key(&a.id) => {
                Some(a.id.clone())
            }
            _ => None,
        })
        .collect();
    let old_world = world.clone();
    world.apply(writes);
    for id in ids.iter().chain(new_ids.iter()) {
        let before = old_world.roles(id);
        let after = world.roles(id);
        let Some(account) = world
            .accounts
            .get(id)
            .or_else(|| old_world.accounts.get(id))
        else {
            continue;
        };
        let granted: Vec<&String> = after.difference(&before).collect();
        let revoked: Vec<&String> = before.difference(&after).collect();
        let suspended = account.status == AccountStatus::Suspended;
        // G8: the roles whose direct assignment this transaction changed.
        let assigned_before = old_world.accounts.get(id).map(|a| &a.assigned_roles);
        let assigned_after = world.accounts.get(id).map(|a| &a.assigned_roles);
        let assignment_changed = |role: &String| {
            assigned_before.is_some_and(|a| a.contains(role))
                != assigned_after.is_some_and(|a| a.contains(role))
        };
        for (event, roles, w) in [
            ("access:granted", granted, &*world),
            ("access:revoked", revoked, &old_world),
        ] {
            if roles.is_empty() {
                continue;
            }
            let grants: Vec<Value> = roles
                .iter()
                .map(|r| access_grant(w.org.as_ref(), r, &w.sources(id, r)))
                .collect();
            let direct = roles.iter().any(|r| assignment_changed(r));
            let reason = match (event, suspended, direct) {
                ("access:revoked", true, _) => "the account is suspended",
                ("access:granted", _, true) => "the IdP assigned it directly",
                (_, _, true) => "the IdP removed its direct assignment",
                _ => "its groups changed",
            };
            // The SCIM user whose assignment changed: the account's link on the side of
            // the change that had it (an unlink removes it).
            let assignment = direct
                .then(|| {
                    w.accounts
                        .get(id)
                        .and_then(|a| a.link.as_ref())
                        .or(account.link.as_ref())
                        .map(|l| json!({ "directoryId": l.directory_id, "userId": l.user_id }))
                })
                .flatten();
            out.push((
                event.into(),
                account_subject(account),
                json!({
                    "account": account.id,
                    "email": account.email,
                    "access": grants,
                    "cause": {
                        "reason": reason,
                        "directoryId": log.directory_id,
                        "requestId": log.request_id,
                        "operation": log.operation,
                        "assignment": assignment,
                    },
                }),
            ));
        }
    }
}

/// One role as a product sees it: `product/role`, the product's name and site.
/// `groups`, `assignedBy` and `heldBy` (a safeguard's hold, E4) say where it comes from
/// (G7, G8).
fn access_grant(org: Option<&OrgRecord>, role: &str, sources: &[RoleSource]) -> Value {
    let mut groups = Vec::new();
    let mut assigned_by = Value::Null;
    let mut held_by = Value::Null;
    for source in sources {
        match source {
            RoleSource::Group {
                org_group_id,
                org_group_name,
                managed_by,
            } => groups.push(
                json!({ "orgGroupId": org_group_id, "orgGroupName": org_group_name, "managedBy": managed_by }),
            ),
            RoleSource::Assigned {
                directory_id,
                user_id,
            } => assigned_by = json!({ "directoryId": directory_id, "userId": user_id }),
            RoleSource::Held { directory_id } => {
                held_by = json!({ "directoryId": directory_id });
            }
        }
    }
    let (product, role_name) = role.split_once('/').unwrap_or((role, ""));
    let p = org.and_then(|o| o.products.iter().find(|p| p.id == product));
    let site = p.and_then(|p| {
        org.and_then(|o| o.sites.iter().find(|s| s.id == p.site_id))
            .map(|s| json!({ "id": s.id, "name": s.name }))
    });
    json!({
        "role": role,
        "product": product,
        "productName": p.map(|p| p.name.clone()),
        "roleName": role_name,
        "site": site,
        "groups": groups,
        "assignedBy": assigned_by,
        "heldBy": held_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::{GroupRef, OrgGroupRecord, Outcome};
    use crate::directory::plan::Plan;
    use crate::directory::testkit::*;
    use crate::directory::users::{plan_user_create, plan_user_replace, UserWriteState};

    fn events_of(plan: &Plan, world: &mut AccessWorld) -> Vec<ChangeRecord> {
        let mut out = Vec::new();
        let mut n = 0;
        for part in plan.transactions() {
            let Some(log) = part.iter().find_map(|w| match w {
                Write::Put(Record::Event(e), _) => Some(e.clone()),
                _ => None,
            }) else {
                continue;
            };
            let mut next_id = || {
                n += 1;
                format!("jti-{n}")
            };
            out.extend(transaction_changes(
                &part,
                &plan.before,
                world,
                EventSource {
                    log: &log,
                    next_id: &mut next_id,
                },
            ));
        }
        out
    }

    fn names(events: &[ChangeRecord]) -> Vec<&str> {
        events.iter().map(|e| e.event.as_str()).collect()
    }

    fn org_group(id: &str, roles: &[&str], managed_by: ManagedBy) -> OrgGroupRecord {
        OrgGroupRecord {
            org_id: ORG.into(),
            id: id.into(),
            name: format!("group {id}"),
            managed_by,
            scim_group: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            version: 1,
            created: EARLIER.into(),
            last_modified: EARLIER.into(),
        }
    }

    fn scim_group(id: &str, org_group: &str) -> GroupRecord {
        GroupRecord {
            directory_id: DIR.into(),
            id: id.into(),
            doc: serde_json::json!({"displayName": id}),
            version: 2,
            created: EARLIER.into(),
            last_modified: EARLIER.into(),
            org_group_id: Some(org_group.into()),
            held: false,
            members_pending: false,
        }
    }

    #[test]
    fn e5_a_create_that_takes_over_an_invite_is_a_prov_create_and_a_take_over() {
        let invited = account("acc-1", "ada@example.com", Origin::Invited);
        let state = UserWriteState {
            existing: None,
            user_name_owner: None,
            external_id_owner: None,
            linked_account: None,
            email_account: Some(invited),
            email_holder: None,
        };
        let d = plan_user_create(
            &ctx(),
            &state,
            "u1",
            user_doc("ada", Some("ada@example.com")),
        )
        .expect("plan");
        let needs = access_needs(&d.plan.writes, &d.plan.after, &d.plan.before);
        // A first link to a SCIM user this plan creates (in no group yet) changes no access:
        // nothing to read.
        assert!(needs.is_empty(), "{needs:?}");
        let mut world = AccessWorld::default();
        world.accounts.insert(
            "acc-1".into(),
            account("acc-1", "ada@example.com", Origin::Invited),
        );
        let events = events_of(&d.plan, &mut world);
        // L2: the take-over also replaces the owner's profile with the IdP's.
        assert_eq!(
            names(&events),
            ["prov:create", "account:taken-over", "account:updated"]
        );
        assert_eq!(events[2].data["previous"]["title"], "Owner's title");
        let e = &events[0];
        assert_eq!(e.data["data"]["id"], "u1");
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
        assert_eq!(e.time, NOW);
        assert_eq!((e.seq, events[1].seq), (0, 1));
        assert_eq!(e.txn, events[1].txn);
    }

    #[test]
    fn e5_an_update_names_what_changed_and_its_previous_values_and_a_no_op_has_none() {
        let old = user("u1", user_doc("ada", Some("ada@example.com")), Some("a1"));
        let mut acc = linked(account("a1", "ada@example.com", Origin::Scim), DIR, "u1");
        acc.profile = crate::directory::users::profile_from_doc(&old.doc);
        let state = UserWriteState {
            existing: Some(old.clone()),
            user_name_owner: None,
            external_id_owner: None,
            linked_account: Some(acc.clone()),
            email_account: Some(acc),
            email_holder: None,
        };
        let mut c = ctx();
        c.operation = "PUT /Users/u1".into();
        let new = set(old.doc.clone(), "title", serde_json::json!("Engineer"));
        let new = set(new, "active", serde_json::json!(false));
        let d = plan_user_replace(&c, &state, new).expect("plan");
        let events = events_of(&d.plan, &mut AccessWorld::default());
        assert_eq!(names(&events)[..2], ["prov:put", "prov:deactivate"]);
        assert!(
            names(&events).contains(&"account:suspended"),
            "{:?}",
            names(&events)
        );
        assert_eq!(
            events[0].data["attributes"],
            serde_json::json!(["active", "title"])
        );
        assert_eq!(events[0].data["previous"]["title"], Value::Null);
        assert_eq!(events[0].data["previous"]["active"], true);
        // L4: the same document again is no plan, hence no event.
        let d = plan_user_replace(&c, &state, old.doc.clone()).expect("plan");
        assert!(events_of(&d.plan, &mut AccessWorld::default()).is_empty());
    }

    /// G7 with the cause: joining a group that grants a role grants it; leaving one of two
    /// groups that grant it revokes nothing; leaving the last revokes it; a suspension
    /// revokes everything.
    #[test]
    fn e5_access_is_granted_and_revoked_only_when_the_effective_roles_change() {
        let acc = linked(account("a1", "ada@example.com", Origin::Scim), DIR, "u1");
        let mut world = AccessWorld::default();
        world.accounts.insert("a1".into(), acc.clone());
        world
            .org_groups
            .insert("og1".into(), org_group("og1", &["jira/user"], by_dir()));
        world
            .org_groups
            .insert("og2".into(), org_group("og2", &["jira/user"], by_dir()));
        world
            .groups
            .insert((DIR.into(), "g1".into()), scim_group("g1", "og1"));
        world
            .groups
            .insert((DIR.into(), "g2".into()), scim_group("g2", "og2"));
        let member = |g: &str| Record::Member {
            directory_id: DIR.into(),
            group_id: g.into(),
            user_id: "u1".into(),
        };
        let mut plan = Plan::default();
        plan.event(ctx().event(Outcome::Updated, "joined".into()));
        plan.put(member("g1"), Condition::Always);
        let e = events_of(&plan, &mut world);
        assert_eq!(names(&e), ["prov:patch", "access:granted"]);
        assert_eq!(e[1].data["access"][0]["role"], "jira/user");
        assert_eq!(e[1].data["access"][0]["groups"][0]["orgGroupId"], "og1");

        let mut plan = Plan::default();
        plan.event(ctx().event(Outcome::Updated, "joined too".into()));
        plan.put(member("g2"), Condition::Always);
        assert_eq!(names(&events_of(&plan, &mut world)), ["prov:patch"]);

        let mut plan = Plan::default();
        plan.event(ctx().event(Outcome::Updated, "left one".into()));
        plan.delete(member("g1"), Condition::Always);
        assert_eq!(names(&events_of(&plan, &mut world)), ["prov:patch"]);

        let mut suspended = acc.clone();
        suspended.status = AccountStatus::Suspended;
        suspended.version = acc.version + 1;
        let mut plan = Plan::default();
        plan.event(ctx().event(Outcome::Updated, "suspended".into()));
        plan.put(Record::Account(suspended), Condition::Version(acc.version));
        plan.prior(Record::Account(acc));
        let e = events_of(&plan, &mut world);
        assert_eq!(names(&e), ["account:suspended", "access:revoked"]);
        assert_eq!(e[1].data["cause"]["reason"], "the account is suspended");
        assert_eq!(e[1].data["access"][0]["groups"][0]["orgGroupId"], "og2");
    }

    #[test]
    fn e5_a_held_group_grants_nothing_and_its_sync_grants_with_a_conflict_synced() {
        use crate::directory::cleanup::{plan_sync_chunk, CleanupJobRecord, SyncStep};
        let acc = linked(account("a1", "ada@example.com", Origin::Scim), DIR, "u1");
        let mut world = AccessWorld::default();
        world.accounts.insert("a1".into(), acc);
        let admin_og = org_group("og1", &["jira/admin"], ManagedBy::Admin);
        world.org_groups.insert("og1".into(), admin_og.clone());
        let mut held = scim_group("g1", "og1");
        held.held = true;
        world.groups.insert((DIR.into(), "g1".into()), held.clone());
        world
            .user_groups
            .insert((DIR.into(), "u1".into()), ["g1".to_string()].into());
        assert!(world.roles("a1").is_empty());
        // The sync: the org group is handed to the directory, the group is no longer held.
        let mut next_og = admin_og.clone();
        next_og.managed_by = by_dir();
        next_og.scim_group = Some(GroupRef {
            directory_id: DIR.into(),
            group_id: "g1".into(),
        });
        let mut unheld = held.clone();
        unheld.held = false;
        let mut plan = Plan::default();
        plan.event(ctx().event(Outcome::Updated, "synced".into()));
        plan.put(Record::OrgGroup(next_og), Condition::Version(1));
        plan.prior(Record::OrgGroup(admin_og));
        plan.put(Record::Group(unheld), Condition::Version(2));
        plan.prior(Record::Group(held.clone()));
        plan.delete(
            Record::Conflict(crate::directory::model::ConflictRecord {
                org_id: ORG.into(),
                directory_id: DIR.into(),
                group_id: "g1".into(),
                org_group_id: "og1".into(),
                name: "g1".into(),
                rejected: false,
                since: EARLIER.into(),
            }),
            Condition::Always,
        );
        let needs = access_needs(&plan.writes, &plan.after, &plan.before);
        assert!(needs
            .group_members
            .contains(&(DIR.to_string(), "g1".to_string())));
        assert!(needs.org_group_members.contains("og1"));
        // The world as stored once the sync commits: what a big sync's job chunk reads.
        let mut synced_world = world.clone();
        synced_world.groups.insert(
            (DIR.into(), "g1".into()),
            GroupRecord {
                held: false,
                ..held.clone()
            },
        );
        let e = events_of(&plan, &mut world);
        assert!(names(&e).contains(&"conflict:synced"), "{:?}", names(&e));
        let granted = e
            .iter()
            .find(|c| c.event == "access:granted")
            .expect("granted");
        assert_eq!(granted.data["access"][0]["role"], "jira/admin");

        // A big group's sync: with its sync job, the request reads no member...
        let og_before = match &plan.before[0] {
            Record::OrgGroup(og) => og.clone(),
            other => panic!("{other:?}"),
        };
        let job = CleanupJobRecord::for_synced_group(&ctx(), &held, &og_before);
        plan.put(Record::CleanupJob(job.clone()), Condition::Absent);
        let needs = access_needs(&plan.writes, &plan.after, &plan.before);
        assert!(needs.group_members.is_empty() && needs.org_group_members.is_empty());
        // ...and the job's chunk of members derives their grant, from the org group as it
        // was (admin) to as it is (the directory's), without reading every member either.
        let og_now = match &plan.writes[1] {
            Write::Put(Record::OrgGroup(og), _) => og.clone(),
            other => panic!("{other:?}"),
        };
        let step = SyncStep {
            members: vec!["u1".into()],
            ..SyncStep::default()
        };
        let mut chunk = plan_sync_chunk(&ctx(), &job, &og_now, &step);
        chunk.observed = vec!["a1".into()];
        let needs = access_needs(&chunk.writes, &chunk.after, &chunk.before);
        assert!(needs.group_members.is_empty() && needs.org_group_members.is_empty());
        synced_world.org_groups.insert("og1".into(), og_before);
        let e = events_of(&chunk, &mut synced_world);
        assert_eq!(names(&e), ["access:granted"]);
        assert_eq!(e[0].subject.id, "a1");
    }

    #[test]
    fn e5_a_plan_that_touches_no_account_needs_no_reads() {
        let old = user("u1", user_doc("ada", Some("ada@example.com")), Some("a1"));
        let mut acc = linked(account("a1", "ada@example.com", Origin::Scim), DIR, "u1");
        acc.profile = crate::directory::users::profile_from_doc(&old.doc);
        let state = UserWriteState {
            existing: Some(old.clone()),
            user_name_owner: None,
            external_id_owner: None,
            linked_account: Some(acc.clone()),
            email_account: Some(acc),
            email_holder: None,
        };
        // An attribute no account keeps: the account is not written.
        let new = set(old.doc.clone(), "nickName", serde_json::json!("Ada"));
        let d = plan_user_replace(&ctx(), &state, new).expect("plan");
        assert!(access_needs(&d.plan.writes, &d.plan.after, &d.plan.before).is_empty());
    }
}
