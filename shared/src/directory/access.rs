//! Product access (G7) and group conflicts (G2-G4): an account's access is the union of
//! the roles of its org groups while it is active; a held group's review says who would be
//! added and removed, and what access each would gain or lose, if the IdP's membership
//! replaced the org group's.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::cleanup::{CleanupJobRecord, ASYNC_CLEANUP_THRESHOLD};
use super::context::WriteContext;
use super::model::{
    AccountRecord, AccountStatus, ConflictRecord, GroupRecord, GroupRef, ManagedBy, OrgGroupRecord,
    OrgRecord, Outcome, Site,
};
use super::plan::{Condition, Plan, Record, Write};
use crate::scim::error::ScimError;

/// The org groups that really grant an account access: admin-managed groups it is an
/// (admin) member of, and directory-managed groups its linked SCIM user is a member of.
/// Admin membership items of a group a directory took over no longer count.
pub fn effective_groups(
    admin_memberships: Vec<OrgGroupRecord>,
    synced: Vec<OrgGroupRecord>,
) -> Vec<OrgGroupRecord> {
    let mut out: Vec<OrgGroupRecord> = admin_memberships
        .into_iter()
        .filter(|g| g.managed_by == ManagedBy::Admin)
        .collect();
    for g in synced
        .into_iter()
        .filter(|g| matches!(g.managed_by, ManagedBy::Directory { .. }))
    {
        if !out.iter().any(|o| o.id == g.id) {
            out.push(g);
        }
    }
    out.sort_by_key(|g| g.name.to_lowercase());
    out
}

/// Where one of an account's roles comes from: every view of access names it (G8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum RoleSource {
    /// An org group the account is in (G7).
    #[serde(rename_all = "camelCase")]
    Group {
        org_group_id: String,
        org_group_name: String,
        managed_by: ManagedBy,
    },
    /// The IdP assigned it directly to the account's linked SCIM user (G8).
    #[serde(rename_all = "camelCase")]
    Assigned {
        directory_id: String,
        user_id: String,
    },
    /// The IdP took it away while the directory's safeguard was tripped: the account keeps
    /// it until an admin decides the hold (E4).
    #[serde(rename_all = "camelCase")]
    Held { directory_id: String },
}

impl RoleSource {
    /// The source in words, for log sentences and the admin view.
    pub fn describe(&self) -> String {
        match self {
            RoleSource::Group { org_group_name, .. } => format!("group '{org_group_name}'"),
            RoleSource::Assigned {
                directory_id,
                user_id,
            } => format!("assigned by directory {directory_id} (SCIM user {user_id})"),
            RoleSource::Held { directory_id } => {
                format!("kept by the safeguard's hold of directory {directory_id}")
            }
        }
    }
}

/// G7, G8, E4: every role an account has, with its sources: the roles of its effective
/// groups, the roles its IdP assigns directly to its linked SCIM user, and the roles a
/// safeguard hold keeps for it; nothing while the
/// account is suspended. Every view of access (events, the admin access view, conflict
/// reviews) computes access here and nowhere else.
pub fn effective_access(
    account: &AccountRecord,
    groups: &[OrgGroupRecord],
) -> BTreeMap<String, Vec<RoleSource>> {
    let mut access: BTreeMap<String, Vec<RoleSource>> = BTreeMap::new();
    if account.status == AccountStatus::Suspended {
        return access;
    }
    for g in groups {
        for role in &g.roles {
            access
                .entry(role.clone())
                .or_default()
                .push(RoleSource::Group {
                    org_group_id: g.id.clone(),
                    org_group_name: g.name.clone(),
                    managed_by: g.managed_by.clone(),
                });
        }
    }
    // Assignments belong to the link: an unlinked account has none (unlink empties them).
    if let Some(link) = &account.link {
        for role in &account.assigned_roles {
            access
                .entry(role.clone())
                .or_default()
                .push(RoleSource::Assigned {
                    directory_id: link.directory_id.clone(),
                    user_id: link.user_id.clone(),
                });
        }
    }
    if let Some(hold) = &account.hold {
        for role in &hold.kept_roles {
            access
                .entry(role.clone())
                .or_default()
                .push(RoleSource::Held {
                    directory_id: hold.directory_id.clone(),
                });
        }
    }
    access
}

/// The roles of [`effective_access`], without their sources.
pub fn effective_roles(account: &AccountRecord, groups: &[OrgGroupRecord]) -> BTreeSet<String> {
    effective_access(account, groups).into_keys().collect()
}

/// What joining or leaving one group does to an account's access.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessDelta {
    /// The group's roles the account would gain (joining) or lose (leaving).
    pub changed: Vec<String>,
    /// The group's roles the account has anyway from its other sources (its other groups,
    /// a direct assignment): kept whatever happens to the group, with those sources.
    pub kept: BTreeMap<String, Vec<RoleSource>>,
}

/// The access an account would gain (joining) or lose (leaving) through `group`, given its
/// other groups; a suspended account gains and loses nothing.
pub fn access_delta(
    account: &AccountRecord,
    other_groups: &[OrgGroupRecord],
    group: &OrgGroupRecord,
) -> AccessDelta {
    let mut delta = AccessDelta::default();
    if account.status == AccountStatus::Suspended {
        return delta;
    }
    let mut others = effective_access(account, other_groups);
    for role in &group.roles {
        match others.remove(role) {
            Some(sources) => {
                delta.kept.insert(role.clone(), sources);
            }
            None if !delta.changed.contains(role) => delta.changed.push(role.clone()),
            None => {}
        }
    }
    delta
}

/// The review of one held group (G2).
#[derive(Debug, Clone)]
pub struct Breakdown {
    pub conflict: ConflictRecord,
    pub org_group: OrgGroupRecord,
    pub sites: Vec<Site>,
    /// Products for which the org group is a default-access group (G4): it cannot be synced.
    pub default_for: Vec<String>,
    /// Accounts the sync would add (in the IdP's group, not in the org group), sorted.
    pub to_add: Vec<String>,
    /// Accounts the sync would remove (in the org group, not in the IdP's group), sorted.
    pub to_remove: Vec<String>,
    /// Accounts in both.
    pub unchanged: usize,
    /// IdP members whose SCIM user is linked to no account: they gain nothing until linked.
    pub unlinked_members: Vec<String>,
}

pub fn breakdown(
    org: &OrgRecord,
    conflict: ConflictRecord,
    org_group: OrgGroupRecord,
    idp_accounts: &BTreeSet<String>,
    current: &BTreeSet<String>,
    unlinked_members: Vec<String>,
) -> Breakdown {
    Breakdown {
        sites: org.sites_of(&org_group.roles),
        default_for: org
            .default_access_products(&org_group.id)
            .iter()
            .map(|p| p.id.clone())
            .collect(),
        to_add: idp_accounts.difference(current).cloned().collect(),
        to_remove: current.difference(idp_accounts).cloned().collect(),
        unchanged: idp_accounts.intersection(current).count(),
        unlinked_members,
        conflict,
        org_group,
    }
}

/// G4: the refusal for a default-access group, naming the product and the call that
/// removes the default status.
pub fn default_access_refusal(org: &OrgRecord, b: &Breakdown) -> Option<ScimError> {
    let product = b.default_for.first()?;
    let name = org
        .products
        .iter()
        .find(|p| &p.id == product)
        .map(|p| p.name.clone())
        .unwrap_or_default();
    Some(ScimError::new(
        409,
        None,
        format!(
            "group '{}' is a default-access group of product {product} ({name}) and cannot be synced from the IdP; remove its default status first: DELETE /admin/v1/orgs/{}/products/{product}/default-groups/{}",
            b.org_group.name, org.id, b.org_group.id
        ),
    ))
}

/// G3: sync a held group. The org group takes the IdP's membership and is handed to the
/// directory; the admin membership items it had (`current`) are removed in the plan's
/// `after` part: they stop counting the moment the group is directory-managed, so a crash
/// between the two leaves no half-synced group.
pub fn plan_sync(
    ctx: &WriteContext,
    org: &OrgRecord,
    b: &Breakdown,
    group: &GroupRecord,
    current: &BTreeSet<String>,
) -> Result<Plan, ScimError> {
    let mut plan = plan_sync_flip(
        ctx,
        org,
        b,
        group,
        format!(
            "{} accounts added, {} removed, {} unchanged",
            b.to_add.len(),
            b.to_remove.len(),
            b.unchanged
        ),
    )?;
    plan.after = current
        .iter()
        .map(|a| {
            Write::Delete(
                Record::OrgMember {
                    org_id: org.id.clone(),
                    org_group_id: b.org_group.id.clone(),
                    account_id: a.clone(),
                },
                Condition::Always,
            )
        })
        .collect();
    Ok(plan)
}

/// G3 for a held group with more IdP or admin members than one request handles
/// (`cleanup::ASYNC_CLEANUP_THRESHOLD`): the same hand-over in one transaction (access flips
/// for everyone when it commits), with a sync job instead of the per-member work: the job
/// derives each IdP member's access events and removes the admin membership items (with
/// theirs), chunk by chunk. `b` is the breakdown without its per-account lists (nobody's
/// account was read).
pub fn plan_sync_later(
    ctx: &WriteContext,
    org: &OrgRecord,
    b: &Breakdown,
    group: &GroupRecord,
) -> Result<Plan, ScimError> {
    let mut plan = plan_sync_flip(
        ctx,
        org,
        b,
        group,
        format!(
            "its members' access (more than {ASYNC_CLEANUP_THRESHOLD} memberships) is applied by an asynchronous job, which logs its progress and its end"
        ),
    )?;
    plan.put(
        Record::CleanupJob(CleanupJobRecord::for_synced_group(ctx, group, &b.org_group)),
        Condition::Absent,
    );
    Ok(plan)
}

/// The hand-over of a sync: the org group to the directory, the group released, its
/// conflict gone, and the log event (`changed` says what happens to the members).
fn plan_sync_flip(
    ctx: &WriteContext,
    org: &OrgRecord,
    b: &Breakdown,
    group: &GroupRecord,
    changed: String,
) -> Result<Plan, ScimError> {
    if let Some(e) = default_access_refusal(org, b) {
        return Err(e);
    }
    if !group.held || group.org_group_id.as_deref() != Some(b.org_group.id.as_str()) {
        return Err(ScimError::new(
            409,
            None,
            format!("group '{}' is not held in conflict", b.conflict.name),
        ));
    }
    let mut plan = Plan::default();
    let og = &b.org_group;
    let mut next_og = og.clone();
    next_og.managed_by = ManagedBy::Directory {
        directory_id: group.directory_id.clone(),
    };
    next_og.scim_group = Some(GroupRef {
        directory_id: group.directory_id.clone(),
        group_id: group.id.clone(),
    });
    next_og.version = og.version + 1;
    next_og.last_modified = ctx.now.clone();
    plan.put(Record::OrgGroup(next_og), Condition::Version(og.version));
    plan.prior(Record::OrgGroup(og.clone()));
    let mut next_group = group.clone();
    next_group.held = false;
    next_group.version = group.version + 1;
    next_group.last_modified = ctx.now.clone();
    plan.put(Record::Group(next_group), Condition::Version(group.version));
    plan.prior(Record::Group(group.clone()));
    plan.delete(Record::Conflict(b.conflict.clone()), Condition::Always);
    let roles = if og.roles.is_empty() {
        "no product roles".to_string()
    } else {
        og.roles.join(", ")
    };
    plan.event(super::model::EventRecord {
        scim_id: Some(group.id.clone()),
        ..ctx.event(
            Outcome::TookOver,
            format!(
                "An admin synced group '{}': the org group now takes the IdP's membership and is managed by directory {}. {changed}; it grants {roles}.",
                og.name,
                group.directory_id,
            ),
        )
    });
    Ok(plan)
}

/// An admin adds accounts to an admin-managed org group (a directory-managed one takes its
/// members from the IdP: 409).
pub fn plan_add_members(
    ctx: &WriteContext,
    group: &OrgGroupRecord,
    account_ids: &[String],
) -> Result<Plan, ScimError> {
    if group.managed_by != ManagedBy::Admin {
        return Err(ScimError::new(
            409,
            None,
            format!(
                "group '{}' is managed by a directory: its members come from the IdP",
                group.name
            ),
        ));
    }
    let mut plan = Plan::default();
    for a in account_ids {
        plan.put(
            Record::OrgMember {
                org_id: group.org_id.clone(),
                org_group_id: group.id.clone(),
                account_id: a.clone(),
            },
            Condition::Always,
        );
    }
    plan.event(ctx.event(
        Outcome::Updated,
        format!(
            "An admin added {} accounts to group '{}', granting {}.",
            account_ids.len(),
            group.name,
            roles_text(&group.roles)
        ),
    ));
    Ok(plan)
}

/// An admin creates an org group (managed by `admin`) granting `roles`; its name is unique
/// in the org, case-insensitively (the guard's condition).
pub fn plan_create_org_group(
    ctx: &WriteContext,
    name: &str,
    roles: Vec<String>,
) -> (Plan, OrgGroupRecord) {
    let g = OrgGroupRecord {
        org_id: ctx.org_id.clone(),
        id: ctx.ids.next_id(),
        name: name.to_string(),
        managed_by: ManagedBy::Admin,
        scim_group: None,
        roles,
        version: 1,
        created: ctx.now.clone(),
        last_modified: ctx.now.clone(),
    };
    let mut plan = Plan::default();
    plan.put(
        Record::Guard(
            super::model::Guard::OrgGroupName {
                org_id: ctx.org_id.clone(),
                lower: name.to_lowercase(),
            },
            g.id.clone(),
        ),
        Condition::Absent,
    );
    plan.put(Record::OrgGroup(g.clone()), Condition::Absent);
    plan.event(ctx.event(
        Outcome::Created,
        format!(
            "An admin created org group '{name}' granting {}.",
            g.roles.join(", ")
        ),
    ));
    (plan, g)
}

/// An admin changes the roles an org group grants: its members' access changes with it.
pub fn plan_set_roles(
    ctx: &WriteContext,
    group: &OrgGroupRecord,
    roles: Vec<String>,
) -> (Plan, OrgGroupRecord) {
    let mut next = group.clone();
    next.roles = roles;
    next.version = group.version + 1;
    next.last_modified = ctx.now.clone();
    let mut plan = Plan::default();
    plan.put(
        Record::OrgGroup(next.clone()),
        Condition::Version(group.version),
    );
    plan.prior(Record::OrgGroup(group.clone()));
    plan.event(ctx.event(
        Outcome::Updated,
        format!(
            "Group '{}' now grants {} (was {}): its members' access changes with it.",
            group.name,
            roles_text(&next.roles),
            roles_text(&group.roles)
        ),
    ));
    (plan, next)
}

/// An org's settings (verified domains, sites, products, default groups) change: a new
/// version of the org record, conditional on the one loaded, with its event.
pub fn plan_org_update(
    ctx: &WriteContext,
    org: &OrgRecord,
    mut next: OrgRecord,
    message: String,
) -> Plan {
    next.version = org.version + 1;
    let mut plan = Plan::default();
    plan.put(Record::Org(next), Condition::Version(org.version));
    plan.event(ctx.event(Outcome::Updated, message));
    plan
}

fn roles_text(r: &[String]) -> String {
    if r.is_empty() {
        "no roles".into()
    } else {
        r.join(", ")
    }
}

/// G3: reject a held group's sync: it stays held (the IdP can rename its group).
pub fn plan_reject(ctx: &WriteContext, conflict: &ConflictRecord) -> Plan {
    let mut plan = Plan::default();
    let mut next = conflict.clone();
    next.rejected = true;
    plan.put(Record::Conflict(next), Condition::Always);
    plan.event(super::model::EventRecord {
        scim_id: Some(conflict.group_id.clone()),
        ..ctx.event(
            Outcome::Conflict,
            format!(
                "An admin rejected syncing group '{}': it stays held and the org group keeps its members. Renaming the group in the IdP gives it an org group of its own.",
                conflict.name
            ),
        )
    });
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str, roles: &[&str], managed_by: ManagedBy) -> OrgGroupRecord {
        OrgGroupRecord {
            org_id: "o".into(),
            id: id.into(),
            name: id.into(),
            managed_by,
            scim_group: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            version: 1,
            created: String::new(),
            last_modified: String::new(),
        }
    }

    #[test]
    fn g7_access_is_the_union_of_roles_while_active() {
        let admin = group("a", &["jira/user"], ManagedBy::Admin);
        let synced = group(
            "s",
            &["confluence/admin", "jira/user"],
            ManagedBy::Directory {
                directory_id: "d".into(),
            },
        );
        let taken = group(
            "t",
            &["bitbucket/user"],
            ManagedBy::Directory {
                directory_id: "d".into(),
            },
        );
        // `taken` appears as an admin membership left behind after a sync: it does not count.
        let groups = effective_groups(vec![admin, taken], vec![synced]);
        assert_eq!(groups.len(), 2);
        let mut acc = account(&[]);
        let roles = effective_roles(&acc, &groups);
        assert_eq!(
            roles.into_iter().collect::<Vec<_>>(),
            vec!["confluence/admin", "jira/user"]
        );
        // E4: a hold keeps the roles the IdP's held changes took away.
        acc.hold = Some(crate::directory::model::AccountHold {
            directory_id: "d".into(),
            kept_roles: ["bitbucket/user".to_string()].into(),
            ..Default::default()
        });
        assert_eq!(
            effective_access(&acc, &groups)["bitbucket/user"],
            vec![RoleSource::Held {
                directory_id: "d".into()
            }]
        );
        acc.hold = None;
        acc.status = AccountStatus::Suspended;
        assert!(effective_roles(&acc, &groups).is_empty());
    }

    fn account(assigned: &[&str]) -> AccountRecord {
        let mut a = crate::directory::testkit::linked(
            crate::directory::testkit::account(
                "a1",
                "ada@example.com",
                crate::directory::model::Origin::Scim,
            ),
            "d",
            "u1",
        );
        a.assigned_roles = assigned.iter().map(|r| r.to_string()).collect();
        a
    }

    /// G8: roles the IdP assigns directly count with group roles while the account is
    /// active, and each role names every source.
    #[test]
    fn g8_assigned_roles_count_with_group_roles_and_name_their_sources() {
        let g = group("a", &["jira/user"], ManagedBy::Admin);
        let mut acc = account(&["jira/user", "confluence/admin"]);
        let access = effective_access(&acc, std::slice::from_ref(&g));
        assert_eq!(
            access.keys().collect::<Vec<_>>(),
            vec!["confluence/admin", "jira/user"]
        );
        let assigned = RoleSource::Assigned {
            directory_id: "d".into(),
            user_id: "u1".into(),
        };
        assert_eq!(access["confluence/admin"], vec![assigned.clone()]);
        assert_eq!(access["jira/user"].len(), 2);
        assert_eq!(access["jira/user"][1], assigned);
        assert_eq!(
            assigned.describe(),
            "assigned by directory d (SCIM user u1)"
        );
        // Assignments belong to the link.
        acc.link = None;
        assert_eq!(
            effective_roles(&acc, &[g]).into_iter().collect::<Vec<_>>(),
            vec!["jira/user"]
        );
    }

    #[test]
    fn g2_breakdown_and_g4_default_refusal() {
        let og = group("og", &["jira/user"], ManagedBy::Admin);
        let mut org = crate::directory::testkit::org_with_jira(&["user"]);
        let conflict = ConflictRecord {
            org_id: "o".into(),
            directory_id: "d".into(),
            group_id: "g".into(),
            org_group_id: "og".into(),
            name: "og".into(),
            rejected: false,
            since: String::new(),
        };
        let idp: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let cur: BTreeSet<String> = ["c", "d"].iter().map(|s| s.to_string()).collect();
        let b = breakdown(&org, conflict.clone(), og.clone(), &idp, &cur, vec![]);
        assert_eq!(b.to_add, vec!["a", "b"]);
        assert_eq!(b.to_remove, vec!["d"]);
        assert_eq!(b.unchanged, 1);
        assert_eq!(b.sites[0].name, "acme");
        assert!(default_access_refusal(&org, &b).is_none());
        org.products[0].default_groups.push("og".into());
        let b = breakdown(&org, conflict, og, &idp, &cur, vec![]);
        let e = default_access_refusal(&org, &b).unwrap();
        assert!(
            e.detail.contains("product jira (Jira)")
                && e.detail
                    .contains("DELETE /admin/v1/orgs/o/products/jira/default-groups/og")
        );
    }

    #[test]
    fn g7_access_delta_counts_only_roles_not_granted_elsewhere() {
        let og = group("og", &["jira/user", "confluence/user"], ManagedBy::Admin);
        let other = group("other", &["jira/user"], ManagedBy::Admin);
        let mut acc = account(&[]);
        let delta = access_delta(&acc, std::slice::from_ref(&other), &og);
        assert_eq!(delta.changed, vec!["confluence/user"]);
        assert_eq!(delta.kept.keys().collect::<Vec<_>>(), vec!["jira/user"]);
        acc.status = AccountStatus::Suspended;
        assert_eq!(access_delta(&acc, &[other], &og), AccessDelta::default());
    }

    /// G8 in a conflict review (G2): a role the account also has by direct assignment is
    /// kept, not lost, when the group goes.
    #[test]
    fn g8_a_directly_assigned_role_is_kept_when_the_group_goes() {
        let og = group("og", &["jira/admin", "confluence/user"], ManagedBy::Admin);
        let acc = account(&["jira/admin"]);
        let delta = access_delta(&acc, &[], &og);
        assert_eq!(delta.changed, vec!["confluence/user"]);
        assert_eq!(
            delta.kept["jira/admin"],
            vec![RoleSource::Assigned {
                directory_id: "d".into(),
                user_id: "u1".into(),
            }]
        );
    }
}
