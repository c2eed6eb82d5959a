//! Decisions for SCIM group writes (G1, G2, G5, G6): create, change (document and members),
//! delete. Members are one item each, so a change costs what it changes, not the group's size.

use serde_json::Value;

use super::model::{
    ConflictRecord, GroupRecord, GroupRef, Guard, ManagedBy, OrgGroupRecord, Outcome,
};
use super::plan::{Condition, Plan, Record, Write};
use super::users::{Refusal, WriteContext};
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
                id: uuid::Uuid::new_v4().to_string(),
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
    Refusal { error, plan }
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
        } else {
            sentences.push("Updated the group's attributes.".to_string());
        }
        plan.put(
            Record::Group(next.clone()),
            Condition::Version(group.version),
        );
    } else if !change.is_empty() {
        plan.writes.push(Write::TouchGroup {
            directory_id: group.directory_id.clone(),
            group_id: group.id.clone(),
            last_modified: ctx.now.clone(),
        });
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
}

/// DELETE /Groups/{id}: the SCIM group, its guard and every member item go; a linked org
/// group stays (it grants product roles) but is handed back to `admin`, now empty.
pub fn plan_group_delete(
    ctx: &WriteContext,
    group: &GroupRecord,
    linked_org_group: Option<&OrgGroupRecord>,
    members: &[String],
) -> GroupDecision {
    let mut plan = Plan::default();
    let name = display_name(&group.doc).to_string();
    let mut message = format!(
        "Deleted SCIM group '{name}' and its {} memberships.",
        members.len()
    );
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
    plan.event(group_event(ctx, group, Outcome::Deleted, message));
    plan.writes
        .extend(members.iter().map(|m| member_delete(group, m)));
    GroupDecision {
        plan,
        group: group.clone(),
        outcome: Outcome::Deleted,
    }
}
