//! SCIM group writes: create, replace (PUT and PATCH), delete (G1, G2, G5, G6). Members are
//! items of their own: a membership PATCH reads and writes only the members it names.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{check_if_match, found, Caller, Decision, Writer, Written};
use crate::directory::cleanup::{CleanupJobRecord, ASYNC_CLEANUP_THRESHOLD};
use crate::directory::groups::{
    display_name, plan_group_change, plan_group_change_later, plan_group_create, plan_group_delete,
    plan_group_delete_later, GroupDecision, GroupNameState, MemberChange, MembershipLater,
};
use crate::directory::model::{GroupRecord, ManagedBy, Outcome};
use crate::directory::plan::{Plan, Refusal};
use crate::scim::error::ScimError;
use crate::scim::members::{
    added_ids, named_ids, needs_all_members, replaces_all, resolve_members, take_members, MemberOp,
    SplitPatch,
};
use crate::scim::patch::apply_patch;
use crate::scim::schema::GROUP_RESOURCE;
use crate::store::Store;

/// What a group write ended with. `members` is the membership change it made (or would
/// make); `outcome` is `None` for a no-op (L4), which wrote nothing.
#[derive(Debug, Clone)]
pub struct GroupOutcome {
    pub group: GroupRecord,
    pub outcome: Option<Outcome>,
    pub members: MemberChange,
}

/// How an existing group changes: a whole new document and membership (PUT), or PATCH
/// operations split into membership operations and the rest.
#[derive(Debug, Clone)]
pub enum GroupChange {
    Replace {
        doc: Value,
        members: Vec<String>,
        quirks: Vec<String>,
    },
    Patch {
        split: SplitPatch,
        quirks: Vec<String>,
    },
}

impl GroupChange {
    fn method(&self) -> &'static str {
        match self {
            GroupChange::Replace { .. } => "PUT",
            GroupChange::Patch { .. } => "PATCH",
        }
    }

    /// The next document (`None`: unchanged by this request) and the membership operations.
    fn against(&self, stored: &Value) -> Result<(Option<Value>, Vec<MemberOp>), ScimError> {
        match self {
            GroupChange::Replace { doc, members, .. } => Ok((
                Some(doc.clone()),
                vec![MemberOp::RemoveAll, MemberOp::Add(members.clone())],
            )),
            GroupChange::Patch { split, .. } => {
                let doc = if split.document.is_empty() {
                    None
                } else {
                    let n = apply_patch(&GROUP_RESOURCE, stored, &split.document)?;
                    Some(take_members(n.doc).0)
                };
                Ok((doc, split.members.clone()))
            }
        }
    }

    fn quirks(&self) -> &[String] {
        match self {
            GroupChange::Replace { quirks, .. } | GroupChange::Patch { quirks, .. } => quirks,
        }
    }
}

/// G6: every id added must be a user of this directory; otherwise the whole request fails.
fn refuse_unknown_members(
    wanted: &BTreeSet<String>,
    existing: &BTreeSet<String>,
) -> Result<(), ScimError> {
    let unknown: Vec<&str> = wanted.difference(existing).map(String::as_str).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(ScimError::invalid_value(format!(
        "members must be users of this directory; unknown ids: {}",
        unknown.join(", ")
    )))
}

fn decided(d: Result<GroupDecision, Refusal>, members: MemberChange) -> Decision<GroupOutcome> {
    match d {
        Ok(d) => Decision::Apply(
            d.plan,
            GroupOutcome {
                group: d.group,
                outcome: Some(d.outcome),
                members,
            },
        ),
        Err(r) => Decision::Refuse(r),
    }
}

pub(crate) async fn load_group(
    store: &Store,
    directory_id: &str,
    id: &str,
) -> Result<GroupRecord, ScimError> {
    found(store.get_group(directory_id, id).await?, "group", id)
}

/// What a group change reads of the membership it changes.
struct Membership {
    /// Of the ids the request adds, the users of the directory (G6).
    existing_users: BTreeSet<String>,
    /// The membership the change applies to: the named members, every member, or a pending
    /// replace job's target.
    current: BTreeSet<String>,
    /// Whether `current` is the whole membership (false: a group past the threshold whose
    /// members were not all read, for a change that replaces them all).
    complete: bool,
    /// The replace job pending on the group.
    pending: Option<CleanupJobRecord>,
}

impl Writer<'_> {
    /// The membership `ops` apply to. A group with a pending replace job: its target (the
    /// membership it shows). A change that needs every member: one query of up to
    /// `ASYNC_CLEANUP_THRESHOLD` members says whether they are few enough to read; past
    /// that, a change that replaces them all (`RemoveAll`) needs none of them (its result
    /// does not depend on them), and only a filtered removal reads them all.
    async fn load_membership(
        &self,
        dir: &str,
        group: &GroupRecord,
        ops: &[MemberOp],
        adds: &BTreeSet<String>,
    ) -> Result<Membership, ScimError> {
        let id = group.id.as_str();
        let pending = match group.members_pending && !ops.is_empty() {
            true => self.store.get_cleanup_job(dir, id).await?,
            false => None,
        };
        let no_members = BTreeSet::new();
        let check_users = || {
            self.store
                .users_and_memberships(dir, None, &no_members, adds)
        };
        // The added users' check and the membership read are independent: side by side,
        // one round trip.
        if pending.is_some() {
            let ((users, _), target) =
                futures::try_join!(check_users(), self.store.job_target(dir, id))?;
            return Ok(Membership {
                existing_users: users,
                current: target.into_iter().collect(),
                complete: true,
                pending,
            });
        }
        if !needs_all_members(ops) {
            let (users, current) = self
                .store
                .users_and_memberships(dir, Some(id), &named_ids(ops), adds)
                .await?;
            return Ok(Membership {
                existing_users: users,
                current,
                complete: true,
                pending: None,
            });
        }
        let ((users, _), (members, more)) = futures::try_join!(
            check_users(),
            self.store
                .group_members_up_to(dir, id, ASYNC_CLEANUP_THRESHOLD)
        )?;
        let (current, complete) = match (more, replaces_all(ops)) {
            (false, _) => (members, true),
            (true, true) => (Vec::new(), false),
            (true, false) => (self.store.group_members(dir, id).await?, true),
        };
        Ok(Membership {
            existing_users: users,
            current: current.into_iter().collect(),
            complete,
            pending: None,
        })
    }

    /// POST /Groups: G1 links it to a new org group, G2 holds a name conflict, G5 refuses a
    /// group of another directory. `group_id` is drawn once by the caller.
    pub async fn create_group(
        &self,
        caller: &Caller,
        group_id: &str,
        doc: Value,
        members: Vec<String>,
        quirks: Vec<String>,
    ) -> Result<Written<GroupOutcome>, ScimError> {
        let dir = &caller.directory_id;
        let wanted: BTreeSet<String> = members.iter().cloned().collect();
        let (existing, _) = self
            .store
            .users_and_memberships(dir, None, &BTreeSet::new(), &wanted)
            .await?;
        refuse_unknown_members(&wanted, &existing)?;
        let lower = display_name(&doc).to_lowercase();
        let added = MemberChange {
            added: members.clone(),
            removed: Vec::new(),
        };
        self.run(|| async {
            let names = self
                .store
                .load_group_names(&caller.org_id, dir, &lower)
                .await?;
            let ctx = caller.context("POST /Groups".into(), quirks.clone(), None);
            let d = plan_group_create(&ctx, &names, group_id, doc.clone(), &members);
            Ok(decided(d, added.clone()))
        })
        .await
    }

    /// PUT and PATCH: the change against the stored group, reading only the members it names
    /// (all of them only for a replace); nothing is written on a no-op (L4).
    pub async fn change_group(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
        change: &GroupChange,
    ) -> Result<Written<GroupOutcome>, ScimError> {
        let dir = &caller.directory_id;
        self.run(|| async {
            let group = load_group(self.store, dir, id).await?;
            check_if_match(if_match, group.version)?;
            let (doc, ops) = change.against(&group.doc)?;
            let adds = added_ids(&ops);
            let membership = self.load_membership(dir, &group, &ops, &adds).await?;
            refuse_unknown_members(&adds, &membership.existing_users)?;
            let (added, removed) = resolve_members(&ops, &membership.current);
            let members = MemberChange { added, removed };
            // Past the threshold (the group's members, or what the request would write), or
            // while a replace job is pending (its target is the membership a change applies
            // to), the membership change is left to a replace job.
            let later = membership.pending.is_some()
                || !membership.complete
                || members.added.len() + members.removed.len() > ASYNC_CLEANUP_THRESHOLD;
            let target: Vec<String> = if later {
                let mut set = membership.current.clone();
                for id in &members.removed {
                    set.remove(id);
                }
                set.extend(members.added.iter().cloned());
                set.into_iter().collect()
            } else {
                Vec::new()
            };
            let doc_changed = doc.as_ref().is_some_and(|d| *d != group.doc);
            // A replace of a big group whose members were not read is never a no-op.
            if !doc_changed && members.is_empty() && membership.complete {
                tracing::info!(request_id = %caller.request_id, directory = %dir, scim_id = %id, outcome = "no-op", "unchanged group; nothing written (L4)");
                return Ok(Decision::Apply(
                    Plan::default(),
                    GroupOutcome {
                        group,
                        outcome: None,
                        members,
                    },
                ));
            }
            let old_name = display_name(&group.doc);
            let new_name = doc.as_ref().map(display_name);
            let names = match new_name.filter(|n| n.to_lowercase() != old_name.to_lowercase()) {
                Some(n) => {
                    self.store
                        .load_group_names(&caller.org_id, dir, &n.to_lowercase())
                        .await?
                }
                None => GroupNameState::default(),
            };
            // The linked org group follows any change of name, of case too.
            let linked = match (&group.org_group_id, new_name.is_some_and(|n| n != old_name)) {
                (Some(og), true) => self.store.get_org_group(&caller.org_id, og).await?,
                _ => None,
            };
            let operation = format!("{} /Groups/{id}", change.method());
            let ctx = caller.context(operation, change.quirks().to_vec(), None);
            if later {
                let known = membership.complete.then_some(&members);
                let later = MembershipLater {
                    target: &target,
                    known,
                    pending: membership.pending.as_ref(),
                };
                let d = plan_group_change_later(&ctx, &group, doc, &names, linked.as_ref(), &later);
                tracing::info!(request_id = %caller.request_id, directory = %dir, scim_id = %id, target = target.len(), added = members.added.len(), removed = members.removed.len(), "membership change left to an asynchronous job");
                return Ok(decided(d, members));
            }
            let d = plan_group_change(&ctx, &group, doc, &names, linked.as_ref(), &members);
            Ok(decided(d, members))
        })
        .await
    }

    /// DELETE /Groups/{id}: the group, its guard and its member items in one plan; a linked
    /// org group is handed back to admin, its stale admin membership items removed first.
    /// A group of more than `ASYNC_CLEANUP_THRESHOLD` members leaves its member items to a
    /// clean-up job (`directory::cleanup`), so the request answers at once.
    pub async fn delete_group(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<Written<GroupOutcome>, ScimError> {
        let dir = &caller.directory_id;
        self.run(|| async {
            let group = load_group(self.store, dir, id).await?;
            check_if_match(if_match, group.version)?;
            // One query says whether the members fit this request; past the threshold they
            // are left to the asynchronous clean-up, whatever their number.
            let (members, more) = self
                .store
                .group_members_up_to(dir, id, ASYNC_CLEANUP_THRESHOLD)
                .await?;
            let linked = match &group.org_group_id {
                Some(og) => self.store.get_org_group(&caller.org_id, og).await?,
                None => None,
            };
            // Admin membership items (default-group joins) did not count while the directory
            // managed the group; the hand-back removes them so they never start counting.
            let stale_admin_members = match &linked {
                Some(og) if og.managed_by != ManagedBy::Admin => {
                    self.store.org_group_members(&caller.org_id, &og.id).await?
                }
                _ => Vec::new(),
            };
            // A pending replace job becomes the delete's clean-up job, whatever the number of
            // member items (the job item is the one of the group's partition).
            let pending = match group.members_pending {
                true => self.store.get_cleanup_job(dir, id).await?,
                false => None,
            };
            let ctx = caller.context(format!("DELETE /Groups/{id}"), Vec::new(), None);
            if more || pending.is_some() {
                let d = plan_group_delete_later(
                    &ctx,
                    &group,
                    linked.as_ref(),
                    &stale_admin_members,
                    pending.as_ref(),
                );
                return Ok(decided(Ok(d), MemberChange::default()));
            }
            let removed = MemberChange {
                added: Vec::new(),
                removed: members.clone(),
            };
            let d = plan_group_delete(
                &ctx,
                &group,
                linked.as_ref(),
                &members,
                &stale_admin_members,
            );
            Ok(decided(Ok(d), removed))
        })
        .await
    }
}
