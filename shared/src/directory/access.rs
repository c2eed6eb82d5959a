//! Product access (G7) and group conflicts (G2-G4): an account's access is the union of
//! the roles of its org groups while it is active; a held group's review says who would be
//! added and removed, and what access each would gain or lose, if the IdP's membership
//! replaced the org group's.

use std::collections::BTreeSet;

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

/// G7: the union of the roles of the account's groups and of the roles a safeguard hold
/// keeps for it (E4), nothing while the account is suspended.
pub fn effective_roles(account: &AccountRecord, groups: &[OrgGroupRecord]) -> BTreeSet<String> {
    if account.status == AccountStatus::Suspended {
        return BTreeSet::new();
    }
    let kept = account.hold.iter().flat_map(|h| h.kept_roles.iter());
    groups
        .iter()
        .flat_map(|g| g.roles.iter())
        .chain(kept)
        .cloned()
        .collect()
}

/// The access an account would gain (joining) or lose (leaving) through `group`, given
/// the roles its other groups grant.
pub fn access_change(
    status: AccountStatus,
    other_roles: &BTreeSet<String>,
    group: &OrgGroupRecord,
) -> Vec<String> {
    if status == AccountStatus::Suspended {
        return Vec::new();
    }
    group
        .roles
        .iter()
        .filter(|r| !other_roles.contains(*r))
        .cloned()
        .collect()
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
                "An admin synced group '{}': the org group now takes the IdP's membership and is managed by directory {}. {} accounts added, {} removed, {} unchanged; it grants {roles}.",
                og.name,
                group.directory_id,
                b.to_add.len(),
                b.to_remove.len(),
                b.unchanged
            ),
        )
    });
    plan.after = current
        .iter()
        .map(|a| {
            Write::Delete(
                Record::OrgMember {
                    org_id: org.id.clone(),
                    org_group_id: og.id.clone(),
                    account_id: a.clone(),
                },
                Condition::Always,
            )
        })
        .collect();
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
    use crate::directory::model::{Origin, Product};

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
        let mut acc = crate::directory::testkit::account("a", "a@x", Origin::Scim);
        let roles = effective_roles(&acc, &groups);
        assert_eq!(
            roles.into_iter().collect::<Vec<_>>(),
            vec!["confluence/admin", "jira/user"]
        );
        // E4: a hold keeps the roles the IdP's held changes took away.
        acc.hold = Some(crate::directory::model::AccountHold {
            kept_roles: ["bitbucket/user".to_string()].into(),
            ..Default::default()
        });
        assert!(effective_roles(&acc, &groups).contains("bitbucket/user"));
        acc.status = AccountStatus::Suspended;
        assert!(effective_roles(&acc, &groups).is_empty());
    }

    #[test]
    fn g2_breakdown_and_g4_default_refusal() {
        let og = group("og", &["jira/user"], ManagedBy::Admin);
        let mut org = OrgRecord {
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
                roles: vec!["user".into()],
                default_groups: vec![],
            }],
        };
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
    fn g7_access_change_counts_only_roles_not_granted_elsewhere() {
        let og = group("og", &["jira/user", "confluence/user"], ManagedBy::Admin);
        let other: BTreeSet<String> = ["jira/user".to_string()].into();
        assert_eq!(
            access_change(AccountStatus::Active, &other, &og),
            vec!["confluence/user"]
        );
        assert!(access_change(AccountStatus::Suspended, &other, &og).is_empty());
    }
}
