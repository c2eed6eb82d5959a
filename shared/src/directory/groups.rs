//! Decisions for SCIM group writes (G1, G2, G5, G6): create, change (document and members),
//! delete. Members are one item each, so a change costs what it changes, not the group's size.

use serde_json::Value;

use super::cleanup::{target_pages, CleanupJobRecord, ASYNC_CLEANUP_THRESHOLD, MAX_JOB_PAGES};
use super::context::WriteContext;
use super::model::{
    ConflictRecord, GroupRecord, GroupRef, Guard, ManagedBy, OrgGroupRecord, Outcome,
};
use super::plan::Refusal;
use super::plan::{Condition, Plan, Record, Write};
use crate::scim::error::ScimError;

pub fn display_name(doc: &Value) -> &str {
    doc.get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// What a group write loaded about names.
#[derive(Debug, Clone, Default)]
pub struct GroupNameState {
    /// The SCIM group of this directory holding the (new) display name, if any.
    pub name_owner: Option<String>,
    /// The org group of the (new) name, if any.
    pub org_group: Option<OrgGroupRecord>,
}

#[derive(Debug, Clone)]
pub struct GroupDecision {
    pub plan: Plan,
    pub group: GroupRecord,
    pub outcome: Outcome,
}

fn group_event(
    ctx: &WriteContext,
    group: &GroupRecord,
    outcome: Outcome,
    message: String,
) -> super::model::EventRecord {
    super::model::EventRecord {
        scim_id: Some(group.id.clone()),
        external_id: group
            .doc
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..ctx.event(outcome, message)
    }
}

fn member_put(group: &GroupRecord, user_id: &str) -> Write {
    Write::Put(
        Record::Member {
            directory_id: group.directory_id.clone(),
            group_id: group.id.clone(),
            user_id: user_id.to_string(),
        },
        Condition::Always,
    )
}

fn member_delete(group: &GroupRecord, user_id: &str) -> Write {
    Write::Delete(
        Record::Member {
            directory_id: group.directory_id.clone(),
            group_id: group.id.clone(),
            user_id: user_id.to_string(),
        },
        Condition::Always,
    )
}

/// G1/G2/G5: how a SCIM group named `name` attaches to the org's groups. Adds the org-group
/// writes to `plan` and returns (org group id, held, outcome, sentence).
fn attach_org_group(
    ctx: &WriteContext,
    plan: &mut Plan,
    group_id: &str,
    name: &str,
    existing: Option<&OrgGroupRecord>,
) -> Result<(String, bool, Outcome, String), ScimError> {
    let link = GroupRef {
        directory_id: ctx.directory_id.clone(),
        group_id: group_id.to_string(),
    };
    match existing {
        None => {
            let og = OrgGroupRecord {
                org_id: ctx.org_id.clone(),
                id: ctx.ids.next_id(),
                name: name.to_string(),
                managed_by: ManagedBy::Directory {
                    directory_id: ctx.directory_id.clone(),
                },
                scim_group: Some(link),
                roles: Vec::new(),
                version: 1,
                created: ctx.now.clone(),
                last_modified: ctx.now.clone(),
            };
            let id = og.id.clone();
            plan.put(
                Record::Guard(
                    Guard::OrgGroupName {
                        org_id: ctx.org_id.clone(),
                        lower: name.to_lowercase(),
                    },
                    id.clone(),
                ),
                Condition::Absent,
            );
            plan.put(Record::OrgGroup(og), Condition::Absent);
            let msg = format!("Created org group '{name}' ({id}), managed by this directory (G1).");
            Ok((id, false, Outcome::Created, msg))
        }
        Some(og) => match &og.managed_by {
            ManagedBy::Admin => Ok((
                og.id.clone(),
                true,
                Outcome::Conflict,
                format!(
                    "Held: org group '{}' ({}) is managed by an admin; the IdP's membership is recorded and not applied until an admin syncs it (G2).",
                    og.name, og.id
                ),
            )),
            ManagedBy::Directory { directory_id } if *directory_id == ctx.directory_id => {
                if let Some(other) = og.scim_group.as_ref().filter(|g| g.group_id != group_id) {
                    return Err(ScimError::uniqueness(format!(
                        "group '{name}' is already linked to SCIM group {} of this directory",
                        other.group_id
                    )));
                }
                let mut next = og.clone();
                next.scim_group = Some(link);
                next.version = og.version + 1;
                next.last_modified = ctx.now.clone();
                plan.put(Record::OrgGroup(next), Condition::Version(og.version));
                plan.prior(Record::OrgGroup(og.clone()));
                Ok((
                    og.id.clone(),
                    false,
                    Outcome::Linked,
                    format!("Linked to org group '{}' ({}), which this directory manages.", og.name, og.id),
                ))
            }
            ManagedBy::Directory { directory_id } => Err(ScimError::uniqueness(format!(
                "group '{name}' is managed by another directory ({directory_id}); a directory cannot take it (G5)"
            ))),
        },
    }
}

fn conflict_record(ctx: &WriteContext, group_id: &str, org_group_id: &str, name: &str) -> Record {
    Record::Conflict(ConflictRecord {
        org_id: ctx.org_id.clone(),
        directory_id: ctx.directory_id.clone(),
        group_id: group_id.to_string(),
        org_group_id: org_group_id.to_string(),
        name: name.to_string(),
        rejected: false,
        since: ctx.now.clone(),
    })
}

fn refuse(ctx: &WriteContext, group: &GroupRecord, error: ScimError) -> Refusal {
    let mut plan = Plan::default();
    plan.event(group_event(
        ctx,
        group,
        Outcome::Refused,
        format!("Refused: {}.", error.detail),
    ));
    Refusal {
        error,
        plan: Box::new(plan),
    }
}

/// POST /Groups. `members` are SCIM user ids already checked to exist in this directory (G6).
pub fn plan_group_create(
    ctx: &WriteContext,
    state: &GroupNameState,
    group_id: &str,
    doc: Value,
    members: &[String],
) -> Result<GroupDecision, Refusal> {
    let name = display_name(&doc).to_string();
    let mut group = GroupRecord {
        directory_id: ctx.directory_id.clone(),
        id: group_id.to_string(),
        doc,
        version: 1,
        created: ctx.now.clone(),
        last_modified: ctx.now.clone(),
        org_group_id: None,
        held: false,
        members_pending: false,
    };
    if let Some(owner) = &state.name_owner {
        let e = ScimError::uniqueness(format!(
            "a group named '{name}' already exists in this directory ({owner})"
        ));
        return Err(refuse(ctx, &group, e));
    }
    let mut plan = Plan::default();
    let (og, held, outcome, msg) =
        attach_org_group(ctx, &mut plan, group_id, &name, state.org_group.as_ref())
            .map_err(|e| refuse(ctx, &group, e))?;
    if held {
        plan.put(
            conflict_record(ctx, group_id, &og, &name),
            Condition::Always,
        );
    }
    group.org_group_id = Some(og);
    group.held = held;
    plan.put(
        Record::Guard(
            Guard::GroupName {
                directory_id: ctx.directory_id.clone(),
                lower: name.to_lowercase(),
            },
            group_id.to_string(),
        ),
        Condition::Absent,
    );
    plan.put(Record::Group(group.clone()), Condition::Absent);
    plan.event(group_event(
        ctx,
        &group,
        outcome,
        format!(
            "Created SCIM group '{name}' with {} members. {msg}",
            members.len()
        ),
    ));
    plan.writes
        .extend(members.iter().map(|m| member_put(&group, m)));
    Ok(GroupDecision {
        plan,
        group,
        outcome,
    })
}

/// The net membership change of a request, against the stored members it touches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberChange {
    /// Users to add that are not members yet.
    pub added: Vec<String>,
    /// Users to remove that are members now.
    pub removed: Vec<String>,
}

impl MemberChange {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// PATCH or PUT of an existing group: a new document (when it changed) and a membership
/// change. An empty change of an unchanged document is a no-op the caller never plans (L4).
pub fn plan_group_change(
    ctx: &WriteContext,
    group: &GroupRecord,
    new_doc: Option<Value>,
    rename: &GroupNameState,
    linked_org_group: Option<&OrgGroupRecord>,
    change: &MemberChange,
) -> Result<GroupDecision, Refusal> {
    let mut plan = Plan::default();
    let mut next = group.clone();
    next.version = group.version + 1;
    next.last_modified = ctx.now.clone();
    let mut sentences = Vec::new();
    let mut outcome = Outcome::Updated;

    if let Some(doc) = new_doc.filter(|d| *d != group.doc) {
        let old_name = display_name(&group.doc).to_string();
        let new_name = display_name(&doc).to_string();
        next.doc = doc;
        if old_name.to_lowercase() != new_name.to_lowercase() {
            if let Some(owner) = rename.name_owner.as_ref().filter(|o| **o != group.id) {
                let e = ScimError::uniqueness(format!(
                    "a group named '{new_name}' already exists in this directory ({owner})"
                ));
                return Err(refuse(ctx, group, e));
            }
            rename_guards(ctx, &mut plan, group, &old_name, &new_name);
            match (group.held, linked_org_group) {
                // A linked org group follows the IdP's name; its name guard moves with it.
                (false, Some(og))
                    if rename
                        .org_group
                        .as_ref()
                        .map(|o| o.id != og.id)
                        .unwrap_or(false) =>
                {
                    let e = ScimError::uniqueness(format!(
                        "the organization already has a group named '{new_name}'"
                    ));
                    return Err(refuse(ctx, group, e));
                }
                (false, Some(og)) => {
                    rename_org_group(ctx, &mut plan, og, &new_name);
                    sentences.push(format!("Renamed org group '{old_name}' to '{new_name}'."));
                }
                // A held (or unattached) group re-runs G1/G2 on its new name: renaming is how
                // an IdP resolves a conflict itself (G3).
                _ => {
                    let (og, held, o, msg) = attach_org_group(
                        ctx,
                        &mut plan,
                        &group.id,
                        &new_name,
                        rename.org_group.as_ref(),
                    )
                    .map_err(|e| refuse(ctx, group, e))?;
                    // One conflict item per SCIM group: replaced when still held, else removed.
                    if held {
                        plan.put(
                            conflict_record(ctx, &group.id, &og, &new_name),
                            Condition::Always,
                        );
                    } else if let (true, Some(old_og)) = (group.held, &group.org_group_id) {
                        plan.delete(
                            conflict_record(ctx, &group.id, old_og, &old_name),
                            Condition::Always,
                        );
                    }
                    next.org_group_id = Some(og);
                    next.held = held;
                    outcome = o;
                    sentences.push(format!("Renamed from '{old_name}' to '{new_name}'. {msg}"));
                }
            }
        } else if old_name != new_name && !group.held {
            // Only the case changed: the linked org group follows, its name guard stays.
            if let Some(og) = linked_org_group {
                rename_org_group(ctx, &mut plan, og, &new_name);
            }
            sentences.push(format!("Renamed '{old_name}' to '{new_name}'."));
        } else {
            sentences.push("Updated the group's attributes.".to_string());
        }
        plan.put(
            Record::Group(next.clone()),
            Condition::Version(group.version),
        );
        plan.prior(Record::Group(group.clone()));
    } else if !change.is_empty() {
        plan.writes.push(Write::TouchGroup {
            directory_id: group.directory_id.clone(),
            group_id: group.id.clone(),
            last_modified: ctx.now.clone(),
        });
        plan.prior(Record::Group(group.clone()));
    }
    if !change.added.is_empty() || !change.removed.is_empty() {
        let applied = if group.held {
            " (recorded; held, not applied)"
        } else {
            ""
        };
        sentences.push(format!(
            "Added {} and removed {} members{applied}.",
            change.added.len(),
            change.removed.len()
        ));
    }
    plan.event(group_event(ctx, &next, outcome, sentences.join(" ")));
    plan.writes
        .extend(change.added.iter().map(|m| member_put(group, m)));
    plan.writes
        .extend(change.removed.iter().map(|m| member_delete(group, m)));
    Ok(GroupDecision {
        plan,
        group: next,
        outcome,
    })
}

/// What a membership change too big for one request replaces the group's membership with:
/// the target, and what the request knew of the change (`known`: the net change when the
/// request read the whole current membership; `None` when the group has more members than
/// it reads).
#[derive(Debug, Clone)]
pub struct MembershipLater<'a> {
    /// The new membership, sorted and unique (user ids checked to exist, G6).
    pub target: &'a [String],
    pub known: Option<&'a MemberChange>,
    /// The replace job still pending on the group, if any: the new job replaces it.
    pub pending: Option<&'a CleanupJobRecord>,
}

/// PUT (or PATCH `replace` of `members`) whose membership change is past
/// `ASYNC_CLEANUP_THRESHOLD`: the document changes as in [`plan_group_change`] (its name
/// guard, G1-G3), the group is written with its pending mark, and the membership change is
/// left to a replace job written in the same transaction with its target pages
/// (`directory::cleanup`). The group shows the target at once; its member items (what a
/// user's `groups` and access derive from) converge as the job's chunks apply.
pub fn plan_group_change_later(
    ctx: &WriteContext,
    group: &GroupRecord,
    new_doc: Option<Value>,
    rename: &GroupNameState,
    linked_org_group: Option<&OrgGroupRecord>,
    later: &MembershipLater<'_>,
) -> Result<GroupDecision, Refusal> {
    let pages = target_pages(later.target);
    if pages.len() > MAX_JOB_PAGES {
        let e = ScimError::invalid_value(format!(
            "a group's membership is limited to {} pages of ids ({} members asked)",
            MAX_JOB_PAGES,
            later.target.len()
        ));
        return Err(refuse(ctx, group, e));
    }
    let mut d = plan_group_change(
        ctx,
        group,
        new_doc,
        rename,
        linked_org_group,
        &MemberChange::default(),
    )?;
    d.group.members_pending = true;
    let put = d.plan.writes.iter_mut().find_map(|w| match w {
        Write::Put(Record::Group(g), _) => Some(g),
        _ => None,
    });
    match put {
        Some(g) => g.members_pending = true,
        // Only the membership changes: the group is still written, at its version, for its
        // pending mark (a direct member write racing with it then loses, see `TouchGroup`).
        None => {
            d.plan.put(
                Record::Group(d.group.clone()),
                Condition::Version(group.version),
            );
            d.plan.prior(Record::Group(group.clone()));
        }
    }
    let change = match later.known {
        Some(c) => format!("{} removals / {} additions", c.removed.len(), c.added.len()),
        None => format!(
            "more than {ASYNC_CLEANUP_THRESHOLD} members to {} members",
            later.target.len()
        ),
    };
    let held = if group.held {
        " (recorded; held, not applied)"
    } else {
        ""
    };
    let sentence = format!(
        "Its membership change of {change}{held} is applied by an asynchronous job, which logs its progress and its end; the group shows its new membership now."
    );
    for w in d.plan.writes.iter_mut() {
        if let Write::Put(Record::Event(e), _) = w {
            e.message = [e.message.as_str(), sentence.as_str()]
                .iter()
                .filter(|m| !m.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    let job = CleanupJobRecord::for_replaced_membership(
        ctx,
        &d.group,
        later.target.len(),
        pages.len(),
        later.pending,
    );
    let old_pages = later.pending.map_or(0, |j| j.target_pages);
    d.plan.writes.extend(job.page_writes(pages, old_pages));
    let cond = later
        .pending
        .map_or(Condition::Absent, |j| Condition::Version(j.version));
    d.plan.put(Record::CleanupJob(job), cond);
    Ok(d)
}

fn rename_guards(ctx: &WriteContext, plan: &mut Plan, group: &GroupRecord, old: &str, new: &str) {
    plan.put(
        Record::Guard(
            Guard::GroupName {
                directory_id: ctx.directory_id.clone(),
                lower: new.to_lowercase(),
            },
            group.id.clone(),
        ),
        Condition::Absent,
    );
    plan.delete(
        Record::Guard(
            Guard::GroupName {
                directory_id: ctx.directory_id.clone(),
                lower: old.to_lowercase(),
            },
            group.id.clone(),
        ),
        Condition::OwnedBy(group.id.clone()),
    );
}

fn rename_org_group(ctx: &WriteContext, plan: &mut Plan, og: &OrgGroupRecord, new_name: &str) {
    if og.name.to_lowercase() != new_name.to_lowercase() {
        plan.put(
            Record::Guard(
                Guard::OrgGroupName {
                    org_id: og.org_id.clone(),
                    lower: new_name.to_lowercase(),
                },
                og.id.clone(),
            ),
            Condition::Absent,
        );
        plan.delete(
            Record::Guard(
                Guard::OrgGroupName {
                    org_id: og.org_id.clone(),
                    lower: og.name.to_lowercase(),
                },
                og.id.clone(),
            ),
            Condition::OwnedBy(og.id.clone()),
        );
    }
    let mut next = og.clone();
    next.name = new_name.to_string();
    next.version = og.version + 1;
    next.last_modified = ctx.now.clone();
    plan.put(Record::OrgGroup(next), Condition::Version(og.version));
    plan.prior(Record::OrgGroup(og.clone()));
}

/// DELETE /Groups/{id}: the SCIM group, its guard and every member item go; a linked org
/// group stays (it grants product roles) but is handed back to `admin`, now empty: the
/// admin membership items it still has (`stale_admin_members`, which did not count while the
/// directory managed it) are removed with it, so they never start counting.
pub fn plan_group_delete(
    ctx: &WriteContext,
    group: &GroupRecord,
    linked_org_group: Option<&OrgGroupRecord>,
    members: &[String],
    stale_admin_members: &[String],
) -> GroupDecision {
    let message = format!(
        "Deleted SCIM group '{}' and its {} memberships.",
        display_name(&group.doc),
        members.len()
    );
    let mut d = plan_group_removal(ctx, group, linked_org_group, stale_admin_members, message);
    d.plan
        .writes
        .extend(members.iter().map(|m| member_delete(group, m)));
    d
}

/// DELETE of a group with more members than one request removes comfortably
/// (`cleanup::ASYNC_CLEANUP_THRESHOLD`): the group, its guard and its attachment go in one
/// transaction as for any delete, so it disappears from every read at once, and its member
/// items are left to the clean-up job written in the same transaction.
///
/// A replace job still pending on the group (`pending`) becomes the delete's clean-up job
/// (under its version: a worker on it loses its race and reloads), its target pages go.
pub fn plan_group_delete_later(
    ctx: &WriteContext,
    group: &GroupRecord,
    linked_org_group: Option<&OrgGroupRecord>,
    stale_admin_members: &[String],
    pending: Option<&CleanupJobRecord>,
) -> GroupDecision {
    let message = format!(
        "Deleted SCIM group '{}'; its memberships (more than {ASYNC_CLEANUP_THRESHOLD}) are removed by an asynchronous clean-up, which logs its progress and its end.",
        display_name(&group.doc)
    );
    let mut d = plan_group_removal(ctx, group, linked_org_group, stale_admin_members, message);
    let mut job = CleanupJobRecord::for_deleted_group(ctx, group, linked_org_group);
    let cond = match pending {
        Some(old) => {
            d.plan
                .writes
                .extend(old.page_writes(Vec::new(), old.target_pages));
            job.version = old.version + 1;
            Condition::Version(old.version)
        }
        None => Condition::Absent,
    };
    d.plan.put(Record::CleanupJob(job), cond);
    d
}

/// A group's delete without its member items: its guard, its item, its conflict hold or
/// the hand-back of its org group to admin, and the log event.
fn plan_group_removal(
    ctx: &WriteContext,
    group: &GroupRecord,
    linked_org_group: Option<&OrgGroupRecord>,
    stale_admin_members: &[String],
    mut message: String,
) -> GroupDecision {
    let mut plan = Plan::default();
    let name = display_name(&group.doc).to_string();
    if let Some(og) = linked_org_group.filter(|og| {
        !group.held
            && og
                .scim_group
                .as_ref()
                .map(|g| g.group_id == group.id)
                .unwrap_or(false)
    }) {
        let mut next = og.clone();
        next.managed_by = ManagedBy::Admin;
        next.scim_group = None;
        next.version = og.version + 1;
        next.last_modified = ctx.now.clone();
        plan.put(Record::OrgGroup(next), Condition::Version(og.version));
        plan.prior(Record::OrgGroup(og.clone()));
        for account_id in stale_admin_members {
            plan.delete(
                Record::OrgMember {
                    org_id: og.org_id.clone(),
                    org_group_id: og.id.clone(),
                    account_id: account_id.clone(),
                },
                Condition::Always,
            );
        }
        message.push_str(&format!(
            " Org group '{}' is kept, empty, and handed back to admin.",
            og.name
        ));
    } else if group.held {
        message.push_str(" Its conflict hold is released.");
        if let Some(og) = &group.org_group_id {
            plan.delete(
                conflict_record(ctx, &group.id, og, &name),
                Condition::Always,
            );
        }
    }
    plan.delete(
        Record::Guard(
            Guard::GroupName {
                directory_id: ctx.directory_id.clone(),
                lower: name.to_lowercase(),
            },
            group.id.clone(),
        ),
        Condition::OwnedBy(group.id.clone()),
    );
    plan.delete(
        Record::Group(group.clone()),
        Condition::Version(group.version),
    );
    plan.prior(Record::Group(group.clone()));
    plan.event(group_event(ctx, group, Outcome::Deleted, message));
    GroupDecision {
        plan,
        group: group.clone(),
        outcome: Outcome::Deleted,
    }
}

#[cfg(test)]
mod tests {
    //! The group decisions (G1-G3, G5, G6, E1).

    use serde_json::json;

    use super::*;
    use crate::directory::testkit::{
        assert_one_write_per_item, ctx, deletes, guard_deletes, guard_puts, only_event, puts,
        record_key, write_key, DIR, EARLIER, NOW, ORG, OTHER_DIR,
    };
    use crate::scim::error::ScimType;
    use crate::scim::schema::GROUP_SCHEMA;

    fn gctx() -> WriteContext {
        WriteContext {
            verified_domains: Vec::new(),
            default_groups: Vec::new(),
            assignable_roles: Vec::new(),
            operation: "POST /Groups".into(),
            ..ctx()
        }
    }

    fn group_doc(name: &str) -> Value {
        json!({"schemas": [GROUP_SCHEMA], "displayName": name, "externalId": "ext-g1"})
    }

    fn group(name: &str, org_group_id: Option<&str>, held: bool) -> GroupRecord {
        GroupRecord {
            directory_id: DIR.into(),
            id: "g1".into(),
            doc: group_doc(name),
            version: 7,
            created: EARLIER.into(),
            last_modified: EARLIER.into(),
            org_group_id: org_group_id.map(str::to_string),
            held,
            members_pending: false,
        }
    }

    fn by(directory_id: &str) -> ManagedBy {
        ManagedBy::Directory {
            directory_id: directory_id.into(),
        }
    }

    fn org_group(
        id: &str,
        name: &str,
        managed_by: ManagedBy,
        scim_group: Option<&str>,
    ) -> OrgGroupRecord {
        let directory_id = match &managed_by {
            ManagedBy::Directory { directory_id } => directory_id.clone(),
            ManagedBy::Admin => DIR.into(),
        };
        OrgGroupRecord {
            org_id: ORG.into(),
            id: id.into(),
            name: name.into(),
            managed_by,
            scim_group: scim_group.map(|g| GroupRef {
                directory_id,
                group_id: g.into(),
            }),
            roles: vec!["jira/user".into()],
            version: 2,
            created: EARLIER.into(),
            last_modified: EARLIER.into(),
        }
    }

    /// The org group "Engineering", managed by this directory and linked to g1.
    fn linked_og() -> OrgGroupRecord {
        org_group("og-1", "Engineering", by(DIR), Some("g1"))
    }

    fn names(owner: Option<&str>, og: Option<OrgGroupRecord>) -> GroupNameState {
        GroupNameState {
            name_owner: owner.map(str::to_string),
            org_group: og,
        }
    }

    fn members(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn org_group_puts(plan: &Plan) -> Vec<(&OrgGroupRecord, &Condition)> {
        puts(plan)
            .into_iter()
            .filter_map(|(r, c)| match r {
                Record::OrgGroup(g) => Some((g, c)),
                _ => None,
            })
            .collect()
    }

    fn conflict_writes(plan: &Plan) -> Vec<&Write> {
        plan.writes
            .iter()
            .filter(|w| {
                matches!(
                    w,
                    Write::Put(Record::Conflict(_), _) | Write::Delete(Record::Conflict(_), _)
                )
            })
            .collect()
    }

    fn member_ids(writes: Vec<(&Record, &Condition)>) -> Vec<String> {
        writes
            .into_iter()
            .filter_map(|(r, _)| match r {
                Record::Member {
                    group_id, user_id, ..
                } if group_id == "g1" => Some(user_id.clone()),
                _ => None,
            })
            .collect()
    }

    fn group_put(plan: &Plan) -> Option<(&GroupRecord, &Condition)> {
        let found: Vec<_> = puts(plan)
            .into_iter()
            .filter_map(|(r, c)| match r {
                Record::Group(g) => Some((g, c)),
                _ => None,
            })
            .collect();
        assert!(found.len() <= 1, "{:#?}", plan.writes);
        found.into_iter().next()
    }

    fn group_name_guard(lower: &str) -> Guard {
        Guard::GroupName {
            directory_id: DIR.into(),
            lower: lower.into(),
        }
    }

    fn org_group_name_guard(lower: &str) -> Guard {
        Guard::OrgGroupName {
            org_id: ORG.into(),
            lower: lower.into(),
        }
    }

    fn create(state: &GroupNameState, name: &str) -> Result<GroupDecision, Refusal> {
        let r = plan_group_create(
            &gctx(),
            state,
            "g1",
            group_doc(name),
            &members(&["u1", "u2"]),
        );
        match &r {
            Ok(d) => assert_one_write_per_item(&d.plan),
            Err(e) => assert_one_write_per_item(&e.plan),
        }
        r
    }

    /// A refusal writes its event and nothing else (E1, S7).
    fn assert_refused_409(r: Result<GroupDecision, Refusal>) -> Refusal {
        let r = r.expect_err("a refusal");
        assert_eq!(r.error.status, 409);
        assert_eq!(r.error.scim_type, Some(ScimType::Uniqueness));
        assert_eq!(r.plan.writes.len(), 1, "{:#?}", r.plan.writes);
        let e = only_event(&r.plan);
        assert_eq!(e.outcome, Outcome::Refused);
        assert_eq!(e.scim_id.as_deref(), Some("g1"));
        r
    }

    // ---- create ----

    #[test]
    fn g1_new_name_creates_an_org_group_managed_by_the_directory() {
        let d = create(&GroupNameState::default(), "Engineering").unwrap();
        let ogs = org_group_puts(&d.plan);
        assert_eq!(ogs.len(), 1);
        let (og, cond) = ogs[0];
        assert_eq!(*cond, Condition::Absent);
        assert_eq!(og.name, "Engineering");
        assert_eq!(og.org_id, ORG);
        assert_eq!(og.managed_by, by(DIR));
        assert_eq!(
            og.scim_group,
            Some(GroupRef {
                directory_id: DIR.into(),
                group_id: "g1".into()
            })
        );
        let guards = guard_puts(&d.plan);
        assert!(guards.contains(&(
            &org_group_name_guard("engineering"),
            og.id.as_str(),
            &Condition::Absent
        )));
        assert!(guards.contains(&(&group_name_guard("engineering"), "g1", &Condition::Absent)));
        let (g, cond) = group_put(&d.plan).unwrap();
        assert_eq!(*cond, Condition::Absent);
        assert_eq!(g.org_group_id.as_deref(), Some(og.id.as_str()));
        assert!(!g.held);
        assert_eq!(d.group, *g);
        assert!(conflict_writes(&d.plan).is_empty());
        assert_eq!(d.outcome, Outcome::Created);
        assert_eq!(only_event(&d.plan).outcome, Outcome::Created);
        assert_eq!(member_ids(puts(&d.plan)), vec!["u1", "u2"]);
    }

    #[test]
    fn g1_org_group_the_directory_manages_without_a_scim_group_is_linked() {
        let og = org_group("og-1", "Engineering", by(DIR), None);
        let d = create(&names(None, Some(og)), "ENGINEERING").unwrap();
        let ogs = org_group_puts(&d.plan);
        assert_eq!(ogs.len(), 1);
        let (next, cond) = ogs[0];
        assert_eq!(*cond, Condition::Version(2));
        assert_eq!(next.id, "og-1");
        assert_eq!(
            next.scim_group.as_ref().map(|g| g.group_id.as_str()),
            Some("g1")
        );
        assert!(guard_puts(&d.plan)
            .iter()
            .all(|(g, _, _)| !matches!(g, Guard::OrgGroupName { .. })));
        assert_eq!(d.group.org_group_id.as_deref(), Some("og-1"));
        assert_eq!(d.outcome, Outcome::Linked);
    }

    #[test]
    fn g2_admin_group_of_the_same_name_holds_the_scim_group_in_conflict() {
        let og = org_group("og-admin", "Engineering", ManagedBy::Admin, None);
        let d = create(&names(None, Some(og)), "engineering").unwrap();
        assert!(d.group.held);
        assert_eq!(d.group.org_group_id.as_deref(), Some("og-admin"));
        assert!(
            org_group_puts(&d.plan).is_empty(),
            "the admin's group is untouched"
        );
        assert!(guard_puts(&d.plan)
            .iter()
            .all(|(g, _, _)| !matches!(g, Guard::OrgGroupName { .. })));
        let conflicts = conflict_writes(&d.plan);
        assert_eq!(conflicts.len(), 1);
        let Write::Put(Record::Conflict(c), _) = conflicts[0] else {
            panic!("a conflict put: {conflicts:?}")
        };
        assert_eq!(
            *c,
            ConflictRecord {
                org_id: ORG.into(),
                directory_id: DIR.into(),
                group_id: "g1".into(),
                org_group_id: "og-admin".into(),
                name: "engineering".into(),
                rejected: false,
                since: NOW.into(),
            }
        );
        assert_eq!(d.outcome, Outcome::Conflict);
        let e = only_event(&d.plan);
        assert_eq!(e.outcome, Outcome::Conflict);
        assert!(e.message.contains("Held"), "{}", e.message);
        // The IdP's push succeeds: the SCIM group and its members are recorded.
        assert!(group_put(&d.plan).is_some());
        assert_eq!(member_ids(puts(&d.plan)), vec!["u1", "u2"]);
    }

    #[test]
    fn g5_group_managed_by_another_directory_cannot_be_taken() {
        let og = org_group("og-1", "Engineering", by(OTHER_DIR), Some("g-9"));
        let r = assert_refused_409(create(&names(None, Some(og)), "Engineering"));
        assert!(r.error.detail.contains(OTHER_DIR), "{}", r.error.detail);
    }

    #[test]
    fn g5_org_group_linked_to_another_scim_group_of_the_directory_is_refused() {
        let og = org_group("og-1", "Engineering", by(DIR), Some("g-9"));
        let r = assert_refused_409(create(&names(None, Some(og)), "Engineering"));
        assert!(r.error.detail.contains("g-9"), "{}", r.error.detail);
    }

    #[test]
    fn g1_display_name_used_by_another_group_of_the_directory_is_refused() {
        let r = assert_refused_409(create(&names(Some("g-9"), None), "Engineering"));
        assert!(r.error.detail.contains("Engineering") && r.error.detail.contains("g-9"));
    }

    // ---- change ----

    #[test]
    fn g6_membership_only_change_touches_the_group_instead_of_putting_it() {
        let g = group("Engineering", Some("og-1"), false);
        let change = MemberChange {
            added: members(&["u3"]),
            removed: members(&["u1"]),
        };
        for new_doc in [None, Some(g.doc.clone())] {
            let d = plan_group_change(
                &gctx(),
                &g,
                new_doc,
                &GroupNameState::default(),
                None,
                &change,
            )
            .unwrap();
            assert_one_write_per_item(&d.plan);
            assert!(group_put(&d.plan).is_none(), "{:#?}", d.plan.writes);
            assert!(d.plan.writes.contains(&Write::TouchGroup {
                directory_id: DIR.into(),
                group_id: "g1".into(),
                last_modified: NOW.into(),
            }));
            assert_eq!(member_ids(puts(&d.plan)), vec!["u3"]);
            assert_eq!(member_ids(deletes(&d.plan)), vec!["u1"]);
            assert!(guard_puts(&d.plan).is_empty() && guard_deletes(&d.plan).is_empty());
            assert_eq!(only_event(&d.plan).outcome, Outcome::Updated);
        }
    }

    #[test]
    fn g1_document_change_puts_the_group_at_its_version() {
        let g = group("Engineering", Some("og-1"), false);
        let new_doc =
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Engineering", "externalId": "ext-2"});
        for change in [
            MemberChange::default(),
            MemberChange {
                added: members(&["u3"]),
                removed: Vec::new(),
            },
        ] {
            let d = plan_group_change(
                &gctx(),
                &g,
                Some(new_doc.clone()),
                &GroupNameState::default(),
                None,
                &change,
            )
            .unwrap();
            assert_one_write_per_item(&d.plan);
            let (next, cond) = group_put(&d.plan).unwrap();
            assert_eq!(*cond, Condition::Version(7));
            assert_eq!(next.version, 8);
            assert_eq!(next.doc, new_doc);
            assert_eq!(next.last_modified, NOW);
            assert!(d
                .plan
                .writes
                .iter()
                .all(|w| !matches!(w, Write::TouchGroup { .. })));
            assert!(guard_puts(&d.plan).is_empty() && org_group_puts(&d.plan).is_empty());
            assert_eq!(member_ids(puts(&d.plan)), change.added);
        }
    }

    #[test]
    fn g1_rename_of_a_linked_group_renames_the_org_group_and_moves_its_name_guard() {
        let g = group("Engineering", Some("og-1"), false);
        let d = plan_group_change(
            &gctx(),
            &g,
            Some(group_doc("Platform")),
            &GroupNameState::default(),
            Some(&linked_og()),
            &MemberChange::default(),
        )
        .unwrap();
        assert_one_write_per_item(&d.plan);
        let guards = guard_puts(&d.plan);
        assert!(guards.contains(&(&group_name_guard("platform"), "g1", &Condition::Absent)));
        assert!(guards.contains(&(
            &org_group_name_guard("platform"),
            "og-1",
            &Condition::Absent
        )));
        let dels = guard_deletes(&d.plan);
        assert!(dels.contains(&(
            &group_name_guard("engineering"),
            &Condition::OwnedBy("g1".into())
        )));
        assert!(dels.contains(&(
            &org_group_name_guard("engineering"),
            &Condition::OwnedBy("og-1".into())
        )));
        let ogs = org_group_puts(&d.plan);
        assert_eq!(ogs.len(), 1);
        assert_eq!(ogs[0].0.name, "Platform");
        assert_eq!(ogs[0].0.managed_by, by(DIR));
        assert_eq!(*ogs[0].1, Condition::Version(2));
        let (next, cond) = group_put(&d.plan).unwrap();
        assert_eq!(*cond, Condition::Version(7));
        assert_eq!(next.org_group_id.as_deref(), Some("og-1"));
        assert!(!next.held);
        assert!(conflict_writes(&d.plan).is_empty());
        assert_eq!(only_event(&d.plan).outcome, Outcome::Updated);
    }

    #[test]
    fn g1_case_only_rename_of_a_linked_group_renames_the_org_group() {
        let g = group("engineering", Some("og-1"), false);
        let og = org_group("og-1", "engineering", by(DIR), Some("g1"));
        let d = plan_group_change(
            &gctx(),
            &g,
            Some(group_doc("Engineering")),
            &GroupNameState::default(),
            Some(&og),
            &MemberChange::default(),
        )
        .unwrap();
        assert_one_write_per_item(&d.plan);
        let ogs = org_group_puts(&d.plan);
        assert_eq!(ogs.len(), 1, "{:#?}", d.plan.writes);
        assert_eq!(ogs[0].0.name, "Engineering");
    }

    #[test]
    fn g1_rename_of_a_linked_group_to_another_org_groups_name_is_refused() {
        let g = group("Engineering", Some("og-1"), false);
        for other in [
            org_group("og-2", "Platform", ManagedBy::Admin, None),
            org_group("og-2", "Platform", by(DIR), Some("g-9")),
        ] {
            let r = plan_group_change(
                &gctx(),
                &g,
                Some(group_doc("Platform")),
                &names(None, Some(other)),
                Some(&linked_og()),
                &MemberChange::default(),
            );
            let r = assert_refused_409(r);
            assert!(r.error.detail.contains("Platform"));
        }
    }

    #[test]
    fn g1_rename_to_a_name_another_scim_group_of_the_directory_has_is_refused() {
        let g = group("Engineering", Some("og-1"), false);
        let r = plan_group_change(
            &gctx(),
            &g,
            Some(group_doc("Platform")),
            &names(Some("g-9"), None),
            Some(&linked_og()),
            &MemberChange {
                added: members(&["u3"]),
                removed: Vec::new(),
            },
        );
        assert_refused_409(r);
        // Its own guard (a stale read of itself) is no conflict.
        let d = plan_group_change(
            &gctx(),
            &g,
            Some(group_doc("Platform")),
            &names(Some("g1"), None),
            Some(&linked_og()),
            &MemberChange::default(),
        );
        assert!(d.is_ok());
    }

    #[test]
    fn g3_held_group_renamed_to_a_free_name_gets_an_org_group_and_releases_its_hold() {
        let g = group("Engineering", Some("og-admin"), true);
        let admin = org_group("og-admin", "Engineering", ManagedBy::Admin, None);
        let d = plan_group_change(
            &gctx(),
            &g,
            Some(group_doc("Platform")),
            &GroupNameState::default(),
            Some(&admin),
            &MemberChange::default(),
        )
        .unwrap();
        assert_one_write_per_item(&d.plan);
        let conflicts = conflict_writes(&d.plan);
        assert_eq!(conflicts.len(), 1);
        let Write::Delete(Record::Conflict(c), _) = conflicts[0] else {
            panic!("the hold is released: {conflicts:?}")
        };
        assert_eq!(
            record_key(&Record::Conflict(c.clone())),
            crate::store::keys::conflict(ORG, DIR, "g1")
        );
        let ogs = org_group_puts(&d.plan);
        assert_eq!(
            ogs.len(),
            1,
            "only the new org group; the admin's is untouched"
        );
        let (og, cond) = ogs[0];
        assert_eq!(*cond, Condition::Absent);
        assert_ne!(og.id, "og-admin");
        assert_eq!(og.name, "Platform");
        assert_eq!(og.managed_by, by(DIR));
        assert!(guard_puts(&d.plan).contains(&(
            &org_group_name_guard("platform"),
            og.id.as_str(),
            &Condition::Absent
        )));
        assert!(guard_deletes(&d.plan)
            .iter()
            .all(|(g, _)| !matches!(g, Guard::OrgGroupName { .. })));
        let (next, _) = group_put(&d.plan).unwrap();
        assert!(!next.held);
        assert_eq!(next.org_group_id.as_deref(), Some(og.id.as_str()));
        assert_eq!(d.outcome, Outcome::Created);
    }

    #[test]
    fn g2_held_group_renamed_to_another_admin_groups_name_stays_held_with_one_conflict_write() {
        let g = group("Engineering", Some("og-admin"), true);
        let admin = org_group("og-admin", "Engineering", ManagedBy::Admin, None);
        let other = org_group("og-admin-2", "Platform", ManagedBy::Admin, None);
        let d = plan_group_change(
            &gctx(),
            &g,
            Some(group_doc("Platform")),
            &names(None, Some(other)),
            Some(&admin),
            &MemberChange::default(),
        )
        .unwrap();
        assert_one_write_per_item(&d.plan);
        let conflicts = conflict_writes(&d.plan);
        assert_eq!(conflicts.len(), 1, "{conflicts:#?}");
        let Write::Put(Record::Conflict(c), _) = conflicts[0] else {
            panic!("one conflict put: {conflicts:?}")
        };
        assert_eq!(c.org_group_id, "og-admin-2");
        assert_eq!(c.name, "Platform");
        assert!(org_group_puts(&d.plan).is_empty());
        let (next, _) = group_put(&d.plan).unwrap();
        assert!(next.held);
        assert_eq!(next.org_group_id.as_deref(), Some("og-admin-2"));
        assert_eq!(d.outcome, Outcome::Conflict);
    }

    #[test]
    fn g3_held_group_renamed_to_a_group_the_directory_manages_links_it() {
        let g = group("Engineering", Some("og-admin"), true);
        let mine = org_group("og-1", "Platform", by(DIR), None);
        let d = plan_group_change(
            &gctx(),
            &g,
            Some(group_doc("Platform")),
            &names(None, Some(mine)),
            None,
            &MemberChange::default(),
        )
        .unwrap();
        assert_one_write_per_item(&d.plan);
        assert!(matches!(
            conflict_writes(&d.plan)[..],
            [Write::Delete(Record::Conflict(_), _)]
        ));
        assert_eq!(d.group.org_group_id.as_deref(), Some("og-1"));
        assert!(!d.group.held);
        assert_eq!(d.outcome, Outcome::Linked);
    }

    #[test]
    fn g2_membership_of_a_held_group_is_recorded_not_applied() {
        let g = group("Engineering", Some("og-admin"), true);
        let d = plan_group_change(
            &gctx(),
            &g,
            None,
            &GroupNameState::default(),
            None,
            &MemberChange {
                added: members(&["u3", "u4"]),
                removed: Vec::new(),
            },
        )
        .unwrap();
        assert_one_write_per_item(&d.plan);
        assert_eq!(member_ids(puts(&d.plan)), vec!["u3", "u4"]);
        assert!(org_group_puts(&d.plan).is_empty() && conflict_writes(&d.plan).is_empty());
        assert!(d.group.held);
        let e = only_event(&d.plan);
        assert!(e.message.contains("held, not applied"), "{}", e.message);
    }

    // ---- big membership changes (issue 12) ----

    fn later_of<'a>(
        target: &'a [String],
        known: Option<&'a MemberChange>,
        pending: Option<&'a CleanupJobRecord>,
    ) -> MembershipLater<'a> {
        MembershipLater {
            target,
            known,
            pending,
        }
    }

    fn dropped_pages(plan: &Plan) -> usize {
        plan.writes
            .iter()
            .filter(|w| matches!(w, Write::Delete(Record::JobPage(_), _)))
            .count()
    }

    fn job_write(plan: &Plan) -> (&CleanupJobRecord, &Condition) {
        plan.writes
            .iter()
            .find_map(|w| match w {
                Write::Put(Record::CleanupJob(j), c) => Some((j, c)),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn g6_big_membership_change_writes_the_group_pending_and_a_replace_job_with_its_pages() {
        let g = group("Engineering", Some("og-1"), false);
        let target: Vec<String> = (0..600).map(|i| format!("u{i:04}")).collect();
        let known = MemberChange {
            added: target.clone(),
            removed: members(&["x"]),
        };
        let d = plan_group_change_later(
            &gctx(),
            &g,
            None,
            &GroupNameState::default(),
            None,
            &later_of(&target, Some(&known), None),
        )
        .unwrap();
        assert_one_write_per_item(&d.plan);
        // No member item in the request: the job writes them.
        assert!(member_ids(puts(&d.plan)).is_empty());
        assert!(member_ids(deletes(&d.plan)).is_empty());
        let (put, cond) = group_put(&d.plan).expect("the group, for its pending mark");
        assert!(put.members_pending && d.group.members_pending);
        assert_eq!(*cond, Condition::Version(g.version));
        let (job, cond) = job_write(&d.plan);
        assert_eq!(*cond, Condition::Absent);
        assert_eq!(
            (job.kind, job.target_members, job.target_pages),
            (crate::directory::cleanup::JobKind::Replace, 600, 1)
        );
        let e = only_event(&d.plan);
        assert!(
            e.message.contains(
                "membership change of 1 removals / 600 additions is applied by an asynchronous job"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn g1_big_membership_change_with_a_rename_keeps_the_name_guard_logic() {
        let g = group("Engineering", Some("og-1"), false);
        let target = members(&["u1"]);
        let taken = GroupNameState {
            name_owner: Some("other".into()),
            org_group: None,
        };
        let r = plan_group_change_later(
            &gctx(),
            &g,
            Some(group_doc("Sales")),
            &taken,
            Some(&linked_og()),
            &later_of(&target, None, None),
        );
        assert_refused_409(r);
        let d = plan_group_change_later(
            &gctx(),
            &g,
            Some(group_doc("Sales")),
            &GroupNameState::default(),
            Some(&linked_og()),
            &later_of(&target, None, None),
        )
        .unwrap();
        let sales = group_name_guard("sales");
        assert!(guard_puts(&d.plan).iter().any(|(g, _, _)| **g == sales));
        assert!(group_put(&d.plan).unwrap().0.members_pending);
        assert!(only_event(&d.plan)
            .message
            .contains("more than 500 members to 1 members"));
    }

    #[test]
    fn g6_a_change_while_a_job_is_pending_replaces_it_under_its_version() {
        let mut g = group("Engineering", None, false);
        g.members_pending = true;
        let mut old = CleanupJobRecord::for_replaced_membership(&gctx(), &g, 20_000, 3, None);
        old.version = 4;
        let target = members(&["u1", "u2"]);
        let d = plan_group_change_later(
            &gctx(),
            &g,
            None,
            &GroupNameState::default(),
            None,
            &later_of(&target, None, Some(&old)),
        )
        .unwrap();
        assert_one_write_per_item(&d.plan);
        let (job, cond) = job_write(&d.plan);
        assert_eq!(*cond, Condition::Version(4));
        assert_eq!((job.version, job.generation, job.target_pages), (5, 1, 1));
        assert_eq!(dropped_pages(&d.plan), 2, "the old target's surplus pages");
    }

    #[test]
    fn g6_a_delete_while_a_replace_job_is_pending_turns_it_into_the_clean_up() {
        let mut g = group("Engineering", None, false);
        g.members_pending = true;
        let mut old = CleanupJobRecord::for_replaced_membership(&gctx(), &g, 9_000, 2, None);
        old.version = 3;
        let d = plan_group_delete_later(&gctx(), &g, None, &[], Some(&old));
        assert_one_write_per_item(&d.plan);
        let (job, cond) = job_write(&d.plan);
        assert_eq!(*cond, Condition::Version(3));
        assert_eq!(
            (job.kind, job.version),
            (crate::directory::cleanup::JobKind::Delete, 4)
        );
        assert_eq!(dropped_pages(&d.plan), 2);
    }

    // ---- delete ----

    #[test]
    fn g1_delete_hands_the_linked_org_group_back_to_admin_and_removes_every_member() {
        let g = group("Engineering", Some("og-1"), false);
        let stale = vec!["acc-9".to_string()];
        let d = plan_group_delete(
            &gctx(),
            &g,
            Some(&linked_og()),
            &members(&["u1", "u2"]),
            &stale,
        );
        assert_one_write_per_item(&d.plan);
        assert_eq!(member_ids(deletes(&d.plan)), vec!["u1", "u2"]);
        assert!(
            deletes(&d.plan).iter().any(|(r, _)| matches!(r,
                Record::OrgMember { account_id, org_group_id, .. } if account_id == "acc-9" && org_group_id == "og-1")),
            "the hand-back removes the admin membership that did not count while the directory managed the group"
        );
        assert!(guard_deletes(&d.plan).contains(&(
            &group_name_guard("engineering"),
            &Condition::OwnedBy("g1".into())
        )));
        assert!(
            guard_deletes(&d.plan)
                .iter()
                .all(|(g, _)| !matches!(g, Guard::OrgGroupName { .. })),
            "the org group stays, with its name"
        );
        assert!(deletes(&d.plan).contains(&(&Record::Group(g.clone()), &Condition::Version(7))));
        let ogs = org_group_puts(&d.plan);
        assert_eq!(ogs.len(), 1);
        let (og, cond) = ogs[0];
        assert_eq!(*cond, Condition::Version(2));
        assert_eq!(og.managed_by, ManagedBy::Admin);
        assert_eq!(og.scim_group, None);
        assert_eq!(og.roles, linked_og().roles);
        assert!(conflict_writes(&d.plan).is_empty());
        assert_eq!(d.outcome, Outcome::Deleted);
        assert_eq!(only_event(&d.plan).outcome, Outcome::Deleted);
    }

    #[test]
    fn g2_delete_of_a_held_group_releases_its_conflict() {
        let g = group("Engineering", Some("og-admin"), true);
        let admin = org_group("og-admin", "Engineering", ManagedBy::Admin, None);
        let d = plan_group_delete(&gctx(), &g, Some(&admin), &members(&["u1"]), &[]);
        assert_one_write_per_item(&d.plan);
        assert!(matches!(
            conflict_writes(&d.plan)[..],
            [Write::Delete(Record::Conflict(_), Condition::Always)]
        ));
        assert!(org_group_puts(&d.plan).is_empty());
        assert_eq!(member_ids(deletes(&d.plan)), vec!["u1"]);
    }

    #[test]
    fn g5_delete_leaves_an_org_group_linked_to_another_scim_group_alone() {
        let g = group("Engineering", Some("og-1"), false);
        let og = org_group("og-1", "Engineering", by(DIR), Some("g-9"));
        let d = plan_group_delete(&gctx(), &g, Some(&og), &[], &[]);
        assert_one_write_per_item(&d.plan);
        assert!(org_group_puts(&d.plan).is_empty());
    }

    // ---- E1 ----

    #[test]
    fn e1_group_events_carry_the_scim_id_and_external_id() {
        let d = create(&GroupNameState::default(), "Engineering").unwrap();
        let e = only_event(&d.plan);
        assert_eq!(e.scim_id.as_deref(), Some("g1"));
        assert_eq!(e.external_id.as_deref(), Some("ext-g1"));
        assert_eq!(e.directory_id.as_deref(), Some(DIR));
        assert_eq!(e.request_id.as_deref(), Some("req-1"));
        assert_eq!(e.operation, "POST /Groups");
        assert!(e.message.contains("2 members"), "{}", e.message);
    }

    fn org_group_variants(name: &str) -> Vec<Option<OrgGroupRecord>> {
        vec![
            None,
            Some(org_group("og-n", name, ManagedBy::Admin, None)),
            Some(org_group("og-n", name, by(DIR), None)),
            Some(org_group("og-n", name, by(DIR), Some("g1"))),
            Some(org_group("og-n", name, by(DIR), Some("g-9"))),
            Some(org_group("og-n", name, by(OTHER_DIR), Some("g-9"))),
            // The group's own org groups, found again under the new name.
            Some(org_group("og-1", name, by(DIR), Some("g1"))),
            Some(org_group("og-admin", name, ManagedBy::Admin, None)),
        ]
    }

    #[test]
    fn e1_no_group_plan_writes_one_item_twice() {
        let ctx = gctx();
        let changes = [
            MemberChange::default(),
            MemberChange {
                added: members(&["u3", "u4"]),
                removed: members(&["u1"]),
            },
        ];
        let stored = [
            group("Engineering", Some("og-1"), false),
            group("Engineering", Some("og-admin"), true),
            group("Engineering", None, false),
        ];
        let linked_variants = [
            None,
            Some(linked_og()),
            Some(org_group("og-admin", "Engineering", ManagedBy::Admin, None)),
            Some(org_group(
                "og-1",
                "Eng (renamed by admin)",
                by(DIR),
                Some("g1"),
            )),
        ];
        let mut plans = 0;
        for name in ["Engineering", "engineering", "Platform"] {
            for og in org_group_variants(name) {
                for owner in [None, Some("g1"), Some("g-9")] {
                    let state = names(owner, og.clone());
                    let r = plan_group_create(
                        &ctx,
                        &state,
                        "g1",
                        group_doc(name),
                        &members(&["u1", "u2"]),
                    );
                    match r {
                        Ok(d) => assert_one_write_per_item(&d.plan),
                        Err(e) => assert_eq!(e.plan.writes.len(), 1),
                    }
                    plans += 1;
                    for g in &stored {
                        for linked in &linked_variants {
                            for new_doc in [
                                None,
                                Some(g.doc.clone()),
                                Some(group_doc(name)),
                                Some(json!({"displayName": name, "externalId": "ext-2"})),
                            ] {
                                for change in &changes {
                                    match plan_group_change(
                                        &ctx,
                                        g,
                                        new_doc.clone(),
                                        &state,
                                        linked.as_ref(),
                                        change,
                                    ) {
                                        Ok(d) => {
                                            assert_one_write_per_item(&d.plan);
                                            assert_eq!(d.plan.events().count(), 1);
                                        }
                                        Err(e) => assert_eq!(e.plan.writes.len(), 1),
                                    }
                                    plans += 1;
                                }
                            }
                            let d = plan_group_delete(
                                &ctx,
                                g,
                                linked.as_ref(),
                                &members(&["u1", "u2"]),
                                &[],
                            );
                            assert_one_write_per_item(&d.plan);
                            plans += 1;
                        }
                    }
                }
            }
        }
        assert!(plans > 1_000, "{plans}");
        // The key helper tells a group's touch and put apart from nothing: same item.
        let g = group("Engineering", None, false);
        assert_eq!(
            write_key(&Write::TouchGroup {
                directory_id: DIR.into(),
                group_id: "g1".into(),
                last_modified: NOW.into()
            }),
            record_key(&Record::Group(g))
        );
    }
}
