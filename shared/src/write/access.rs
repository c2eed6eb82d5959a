//! Admin writes about product access: org settings (domains, sites, products, default
//! groups), org groups and their roles and members, and held conflicts (G2-G4, G7).

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::{found, Caller, Decision, Writer, Written};
use crate::directory::access::{
    breakdown, plan_add_members, plan_create_org_group, plan_org_update, plan_reject,
    plan_set_roles, plan_sync, plan_sync_later, Breakdown,
};
use crate::directory::cleanup::{JobSlot, ASYNC_CLEANUP_THRESHOLD};
use crate::directory::model::{ConflictRecord, GroupRecord, OrgGroupRecord, OrgRecord};
use crate::directory::plan::Refusal;
use crate::scim::error::ScimError;
use crate::store::Store;

/// Everything a held group's review and sync need.
#[derive(Debug, Clone)]
pub struct Review {
    pub breakdown: Breakdown,
    pub group: GroupRecord,
    /// The org group's admin members now.
    pub current: BTreeSet<String>,
    /// The sync leaves its per-member work to a sync job (a big group): the breakdown's
    /// per-account lists were not read (except on a dry run, which reads them to say what
    /// will change).
    pub later: bool,
}

pub(crate) async fn load_org_group(
    store: &Store,
    org_id: &str,
    id: &str,
) -> Result<OrgGroupRecord, ScimError> {
    found(store.get_org_group(org_id, id).await?, "org group", id)
}

pub(crate) async fn load_conflict(
    store: &Store,
    org_id: &str,
    dir: &str,
    gid: &str,
) -> Result<ConflictRecord, ScimError> {
    store.get_conflict(org_id, dir, gid).await?.ok_or_else(|| {
        ScimError::not_found(format!(
            "group {gid} of directory {dir} is not held in conflict"
        ))
    })
}

/// A held conflict's org group and SCIM group.
async fn load_held(
    store: &Store,
    org: &OrgRecord,
    conflict: &ConflictRecord,
) -> Result<(OrgGroupRecord, GroupRecord), ScimError> {
    let og = load_org_group(store, &org.id, &conflict.org_group_id).await?;
    let group = store
        .get_group(&conflict.directory_id, &conflict.group_id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("group {} not found", conflict.group_id)))?;
    Ok((og, group))
}

/// The review of a held group (G2): the org group, the SCIM group, the accounts its IdP
/// members are linked to, and the org group's admin members now.
pub(crate) async fn load_review(
    store: &Store,
    org: &OrgRecord,
    conflict: ConflictRecord,
) -> Result<Review, ScimError> {
    let (og, group) = load_held(store, org, &conflict).await?;
    let idp = store
        .member_accounts(&conflict.directory_id, &conflict.group_id)
        .await?;
    let current: BTreeSet<String> = store
        .org_group_members(&org.id, &og.id)
        .await?
        .into_iter()
        .collect();
    let b = breakdown(
        org,
        conflict,
        og,
        &idp.accounts,
        &current,
        idp.unlinked_users,
    );
    Ok(Review {
        breakdown: b,
        group,
        current,
        later: false,
    })
}

/// Whether a held group's sync is past the threshold: more IdP members, or more admin
/// members of its org group, than one request handles (one query of each, at most
/// `ASYNC_CLEANUP_THRESHOLD + 1` ids).
async fn sync_is_big(store: &Store, org_id: &str, c: &ConflictRecord) -> Result<bool, ScimError> {
    let (_, more_members) = store
        .group_members_up_to(&c.directory_id, &c.group_id, ASYNC_CLEANUP_THRESHOLD)
        .await?;
    if more_members {
        return Ok(true);
    }
    let (_, more_admins) = store
        .org_group_members_after(org_id, &c.org_group_id, None, ASYNC_CLEANUP_THRESHOLD)
        .await?;
    Ok(more_admins)
}

/// A big held group's review without its members: the org group, the group, and a
/// breakdown with no per-account list.
async fn load_review_later(
    store: &Store,
    org: &OrgRecord,
    conflict: ConflictRecord,
) -> Result<Review, ScimError> {
    let (og, group) = load_held(store, org, &conflict).await?;
    let none = BTreeSet::new();
    Ok(Review {
        breakdown: breakdown(org, conflict, og, &none, &none, Vec::new()),
        group,
        current: none,
        later: true,
    })
}

impl Writer<'_> {
    /// A change of the org's settings. `edit` derives the next org record and the log
    /// sentence from the stored one; it runs again on the reloaded org after a lost race.
    /// `org` is the record the caller already loaded, used for the first attempt.
    pub async fn update_org<F>(
        &self,
        caller: &Caller,
        org: &OrgRecord,
        operation: &str,
        edit: F,
    ) -> Result<Written<OrgRecord>, ScimError>
    where
        F: Fn(&OrgRecord) -> Result<Option<(OrgRecord, String)>, ScimError>,
    {
        let loaded = Mutex::new(Some(org.clone()));
        self.run(|| async {
            let first = loaded.lock().ok().and_then(|mut o| o.take());
            let org = match first {
                Some(o) => o,
                None => self.store.get_org(&caller.org_id).await?.ok_or_else(|| {
                    ScimError::not_found(format!("organization {} not found", caller.org_id))
                })?,
            };
            let Some((next, message)) = edit(&org)? else {
                // Already as asked: nothing to write (L4).
                return Ok(Decision::Apply(Default::default(), org));
            };
            crate::scim::limits::check_org(&next)?;
            let ctx = caller.context(operation.to_string(), Vec::new(), Some(&org));
            let plan = plan_org_update(&ctx, &org, next.clone(), message);
            let mut next = next;
            next.version = org.version + 1;
            Ok(Decision::Apply(plan, next))
        })
        .await
    }

    /// POST /org-groups: an admin-managed group; 409 if the org has one of that name.
    pub async fn create_org_group(
        &self,
        caller: &Caller,
        org: &OrgRecord,
        name: &str,
        roles: Vec<String>,
    ) -> Result<Written<OrgGroupRecord>, ScimError> {
        self.run(|| async {
            // Loaded in each attempt: after a lost race on the name's guard, the next
            // attempt finds the group that won and refuses with 409.
            let taken = self
                .store
                .org_groups_by_names(&caller.org_id, &[name.to_string()])
                .await?;
            if taken.iter().any(|(_, g)| g.is_some()) {
                return Ok(Decision::Refuse(Refusal::from(ScimError::uniqueness(
                    format!("the organization already has a group named '{name}'"),
                ))));
            }
            let ctx = caller.context("POST /org-groups".into(), Vec::new(), Some(org));
            let (plan, g) = plan_create_org_group(&ctx, name, roles.clone());
            Ok(Decision::Apply(plan, g))
        })
        .await
    }

    /// PUT /org-groups/{id}/roles.
    pub async fn set_roles(
        &self,
        caller: &Caller,
        id: &str,
        roles: Vec<String>,
    ) -> Result<Written<OrgGroupRecord>, ScimError> {
        self.run(|| async {
            let g = load_org_group(self.store, &caller.org_id, id).await?;
            let ctx = caller.context(format!("PUT /org-groups/{id}/roles"), Vec::new(), None);
            let (plan, next) = plan_set_roles(&ctx, &g, roles.clone());
            Ok(Decision::Apply(plan, next))
        })
        .await
    }

    /// POST /org-groups/{id}/members: admin membership of an admin-managed group.
    pub async fn add_org_group_members(
        &self,
        caller: &Caller,
        id: &str,
        account_ids: &[String],
    ) -> Result<Written<()>, ScimError> {
        let found = self.store.get_accounts(&caller.org_id, account_ids).await?;
        let missing: Vec<&str> = account_ids
            .iter()
            .filter(|i| !found.iter().any(|a| &a.id == *i))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(ScimError::invalid_value(format!(
                "unknown accounts: {}",
                missing.join(", ")
            )));
        }
        self.run(|| async {
            let g = load_org_group(self.store, &caller.org_id, id).await?;
            let ctx = caller.context(format!("POST /org-groups/{id}/members"), Vec::new(), None);
            let plan = plan_add_members(&ctx, &g, account_ids).map_err(Refusal::from);
            Ok(Decision::from(plan.map(|p| (p, ()))))
        })
        .await
    }

    /// POST /conflicts/{dir}/{gid}/sync (G3, G4): the org group takes the IdP's membership
    /// and is handed to the directory; its admin membership items are cleaned up after.
    /// `conflict` is the hold the caller already loaded, used for the first attempt; after a
    /// lost race it is loaded again (and may be gone: 404).
    pub async fn sync_conflict(
        &self,
        caller: &Caller,
        org: &OrgRecord,
        conflict: ConflictRecord,
    ) -> Result<Written<Review>, ScimError> {
        let (dir, gid) = (conflict.directory_id.clone(), conflict.group_id.clone());
        let loaded = Mutex::new(Some(conflict));
        self.run(|| async {
            let first = loaded.lock().ok().and_then(|mut c| c.take());
            let conflict = match first {
                Some(c) => c,
                None => load_conflict(self.store, &org.id, &dir, &gid).await?,
            };
            let operation = format!("POST /conflicts/{dir}/{gid}/sync");
            let ctx = caller
                .in_directory(&dir)
                .context(operation, Vec::new(), Some(org));
            let big = sync_is_big(self.store, &org.id, &conflict).await?;
            // A dry run reads every member to say exactly what will change, as the review.
            if big && !self.dry_run {
                // One sync job per group at a time: a group held again and synced while
                // its previous sync's job still runs waits for it.
                if self.store.get_job(&dir, &gid, JobSlot::Sync).await?.is_some() {
                    return Ok(Decision::Refuse(Refusal::from(ScimError::new(
                        409,
                        None,
                        format!("the previous sync of group {gid} is still being applied; retry once it has finished (its end is in the log)"),
                    ))));
                }
                let r = load_review_later(self.store, org, conflict).await?;
                let plan = plan_sync_later(&ctx, org, &r.breakdown, &r.group).map_err(Refusal::from);
                return Ok(Decision::from(plan.map(|p| (p, r))));
            }
            let mut r = load_review(self.store, org, conflict).await?;
            r.later = big;
            let plan =
                plan_sync(&ctx, org, &r.breakdown, &r.group, &r.current).map_err(Refusal::from);
            Ok(Decision::from(plan.map(|p| (p, r))))
        })
        .await
    }

    /// POST /conflicts/{dir}/{gid}/reject (G3): the group stays held.
    pub async fn reject_conflict(
        &self,
        caller: &Caller,
        dir: &str,
        gid: &str,
    ) -> Result<Written<ConflictRecord>, ScimError> {
        self.run(|| async {
            let conflict = load_conflict(self.store, &caller.org_id, dir, gid).await?;
            let operation = format!("POST /conflicts/{dir}/{gid}/reject");
            let ctx = caller
                .in_directory(dir)
                .context(operation, Vec::new(), None);
            Ok(Decision::Apply(plan_reject(&ctx, &conflict), conflict))
        })
        .await
    }
}
