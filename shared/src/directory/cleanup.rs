//! Big groups never outlive a request: the membership clean-up of a deleted group that has
//! more members than one request removes comfortably runs asynchronously, in chunks, from
//! a clean-up job item (docs/DECISIONS.md, "Big groups"). So does a PUT (or PATCH
//! `replace` of `members`) whose membership change is that big: a job of kind
//! [`JobKind::Replace`] brings the member items to a target membership stored beside it.
//!
//! The request's transaction deletes the group (it disappears from every read at once:
//! reads of memberships keep only groups that exist) and writes the job. The job's stream
//! record wakes the `group-cleanup` function, which repeats [`plan_cleanup_chunk`] (a
//! page of member items removed in one transaction with the job's progress, under the
//! job's version) until no member is left, then [`plan_cleanup_finish`]. Pure: the write
//! service (`write::cleanup`) loads and applies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::context::{Ids, WriteContext};
use super::groups::display_name;
use super::model::{EventRecord, GroupRecord, OrgGroupRecord, Outcome};
use super::plan::{Condition, Plan, Record, Write, MAX_PART_ACTIONS};

/// What a job does to the group's member items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobKind {
    /// The group is deleted: every member item goes.
    #[default]
    Delete,
    /// The group's membership is replaced: the member items become the job's target
    /// (its [`JobPageRecord`]s), members not in it removed, target users not yet members
    /// added.
    Replace,
    /// A held group was synced (G3): its org group now takes the IdP's membership. The job
    /// derives each member's access change (E5) and removes the org group's admin
    /// membership items, which stopped counting at the sync.
    Sync,
}

impl JobKind {
    /// The job's item in the group's partition: a delete or replace job is the group's
    /// one membership job (`CLEANUP`, a delete replaces a pending replace); a sync job is
    /// independent of it (`SYNC`).
    pub fn slot(self) -> JobSlot {
        match self {
            JobKind::Delete | JobKind::Replace => JobSlot::Membership,
            JobKind::Sync => JobSlot::Sync,
        }
    }
}

/// Which job item of a group's partition (see [`JobKind::slot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobSlot {
    Membership,
    Sync,
}

/// Where a sync job is: first the IdP's members (the access they gain), then the org
/// group's admin members (their items removed, the access they lose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SyncPhase {
    #[default]
    Members,
    AdminMembers,
}

/// Bytes of user ids per target page item: DynamoDB's item limit is 400 KB (names and
/// values), so a page keeps 100 KB for its key, its JSON and any id's length. A request
/// body is at most 1 MiB (`MAX_PAYLOAD_BYTES`), so a PUT's target takes at most 4 pages.
pub const JOB_PAGE_BYTES: usize = 300_000;

/// Target pages one job may have: the request writes them in one transaction with the
/// group, and a transaction holds at most 4 MB. 10 pages (3 MB, about 75,000 ids) leave
/// room for the rest of it; a bigger target is refused.
pub const MAX_JOB_PAGES: usize = 10;

/// One page of a replace job's target membership, in the group's partition
/// (`CLEANUP#PAGE#0000`, ...): ids sorted, pages in id order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobPageRecord {
    pub directory_id: String,
    pub group_id: String,
    pub page: u32,
    pub user_ids: Vec<String>,
}

/// `target` (sorted, unique) cut into pages of at most [`JOB_PAGE_BYTES`] of ids.
pub fn target_pages(target: &[String]) -> Vec<Vec<String>> {
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut bytes = 0;
    for id in target {
        // The id, its quotes and its comma in the page's JSON.
        let size = id.len() + 3;
        match pages.last_mut() {
            Some(page) if bytes + size <= JOB_PAGE_BYTES => page.push(id.clone()),
            _ => {
                pages.push(vec![id.clone()]);
                bytes = 0;
            }
        }
        bytes += size;
    }
    pages
}

/// A group with more members than this is cleaned up asynchronously (DELETE); up to it,
/// the request removes every member item itself (at most 6 transactions, well under a
/// second). 500 keeps the synchronous path for every group a test or a small directory
/// has, and a 100,000-member delete at one transaction.
pub const ASYNC_CLEANUP_THRESHOLD: usize = 500;

/// Member items removed per chunk: one transaction holds them with the job's progress, the
/// log event and the change item, and leaves room for what the safeguard (E4) may add
/// when it holds an account (its account and hold entry). Past that, the plan is cut into
/// its idempotent parts (`Plan::transactions`).
pub const CLEANUP_CHUNK: usize = 60;

/// Where a job is: `queued` wakes a worker (the stream's filter keeps only these), a
/// worker marks it `running` with its first chunk and `queued` again when its time budget
/// runs out, so its own stream record re-triggers the next worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CleanupState {
    Queued,
    Running,
}

impl CleanupState {
    pub fn as_str(self) -> &'static str {
        match self {
            CleanupState::Queued => "queued",
            CleanupState::Running => "running",
        }
    }
}

/// A deleted group's membership clean-up: what the group was (so each chunk's access
/// events are derived against the group as it granted roles), who deleted it, and how far
/// the clean-up has gone. Lives in the group's partition, beside its member items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupJobRecord {
    pub org_id: String,
    pub directory_id: String,
    pub group_id: String,
    /// The group's document (its name for the log) and its attachment as it was deleted.
    pub group_doc: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_org_group_id: Option<String>,
    #[serde(default)]
    pub group_held: bool,
    /// The org group it was linked to, as it was before the delete handed it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_group: Option<OrgGroupRecord>,
    /// The request that deleted the group: the clean-up's log events carry it.
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub idp: String,
    pub created: String,
    pub state: CleanupState,
    /// Member items removed so far, and accounts that lost product access through them.
    #[serde(default)]
    pub removed: u64,
    #[serde(default)]
    pub accounts_lost: u64,
    #[serde(default)]
    pub chunks: u64,
    pub version: u64,
    /// What the job does; a job written before replace jobs existed is a delete.
    #[serde(default)]
    pub kind: JobKind,
    /// Replace: the target's size and pages (`JobPageRecord`s 0..target_pages).
    #[serde(default)]
    pub target_members: u64,
    #[serde(default)]
    pub target_pages: u32,
    /// Replace: bumped when a later request replaces the target (a worker holding the
    /// target of an older generation reads it again and starts over from the first id).
    #[serde(default)]
    pub generation: u64,
    /// Replace: every user id up to this one is settled (member iff in the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Replace: member items added so far. Sync: members whose access was applied.
    #[serde(default)]
    pub added: u64,
    /// Sync: where the job is, and the accounts that gained access so far.
    #[serde(default)]
    pub phase: SyncPhase,
    #[serde(default)]
    pub accounts_gained: u64,
}

impl CleanupJobRecord {
    /// The job a delete writes, from the group and its linked org group as loaded.
    pub fn for_deleted_group(
        ctx: &WriteContext,
        group: &GroupRecord,
        org_group: Option<&OrgGroupRecord>,
    ) -> Self {
        CleanupJobRecord {
            org_id: ctx.org_id.clone(),
            directory_id: group.directory_id.clone(),
            group_id: group.id.clone(),
            group_doc: group.doc.clone(),
            group_org_group_id: group.org_group_id.clone(),
            group_held: group.held,
            org_group: org_group.cloned(),
            operation: ctx.operation.clone(),
            request_id: ctx.request_id.clone(),
            idp: ctx.idp.clone(),
            created: ctx.now.clone(),
            state: CleanupState::Queued,
            removed: 0,
            accounts_lost: 0,
            chunks: 0,
            version: 1,
            kind: JobKind::Delete,
            target_members: 0,
            target_pages: 0,
            generation: 0,
            cursor: None,
            added: 0,
            phase: SyncPhase::Members,
            accounts_gained: 0,
        }
    }

    /// The job a sync of a big held group writes: `group` and `org_group` as they were
    /// before the sync (held; managed by admin), what each chunk's access events compare
    /// against.
    pub fn for_synced_group(
        ctx: &WriteContext,
        group: &GroupRecord,
        org_group: &OrgGroupRecord,
    ) -> Self {
        let mut job = CleanupJobRecord::for_deleted_group(ctx, group, Some(org_group));
        job.kind = JobKind::Sync;
        job
    }

    /// The job a big membership change writes: `group` is the group as the request writes
    /// it, `target` its new membership in `pages`. A job still pending (`superseded`) is
    /// replaced in place: its version goes on (a worker on it loses its race and reloads),
    /// its generation too (the worker reads the new target and starts over).
    pub fn for_replaced_membership(
        ctx: &WriteContext,
        group: &GroupRecord,
        target_members: usize,
        pages: usize,
        superseded: Option<&CleanupJobRecord>,
    ) -> Self {
        let mut job = CleanupJobRecord::for_deleted_group(ctx, group, None);
        job.kind = JobKind::Replace;
        job.target_members = target_members as u64;
        job.target_pages = u32::try_from(pages).unwrap_or(u32::MAX);
        if let Some(old) = superseded {
            job.version = old.version + 1;
            job.generation = old.generation + 1;
        }
        job
    }

    /// The writes of this job's target: its pages, and the deletes of an older target's
    /// pages past them.
    pub fn page_writes(&self, pages: Vec<Vec<String>>, old_pages: u32) -> Vec<Write> {
        let count = pages.len() as u32;
        let mut writes: Vec<Write> = pages
            .into_iter()
            .enumerate()
            .map(|(i, user_ids)| {
                Write::Put(
                    Record::JobPage(self.page(i as u32, user_ids)),
                    Condition::Always,
                )
            })
            .collect();
        writes.extend(
            (count..old_pages).map(|i| {
                Write::Delete(Record::JobPage(self.page(i, Vec::new())), Condition::Always)
            }),
        );
        writes
    }

    fn page(&self, page: u32, user_ids: Vec<String>) -> JobPageRecord {
        JobPageRecord {
            directory_id: self.directory_id.clone(),
            group_id: self.group_id.clone(),
            page,
            user_ids,
        }
    }

    /// The group as it was: what the access events compare against.
    pub fn group(&self) -> GroupRecord {
        GroupRecord {
            directory_id: self.directory_id.clone(),
            id: self.group_id.clone(),
            doc: self.group_doc.clone(),
            version: 0,
            created: self.created.clone(),
            last_modified: self.created.clone(),
            org_group_id: self.group_org_group_id.clone(),
            held: self.group_held,
            members_pending: false,
        }
    }

    pub fn name(&self) -> &str {
        display_name(&self.group_doc)
    }

    /// The context of one step of the clean-up, at `now`: the deleting request's org,
    /// directory, IdP and request id, so its log lines read as that request's.
    pub fn context(&self, now: String) -> WriteContext {
        WriteContext {
            org_id: self.org_id.clone(),
            verified_domains: Vec::new(),
            default_groups: Vec::new(),
            assignable_roles: Vec::new(),
            directory_id: self.directory_id.clone(),
            idp: self.idp.clone(),
            request_id: self.request_id.clone(),
            now,
            operation: match self.kind {
                JobKind::Delete => format!("clean-up of group {}", self.group_id),
                JobKind::Replace => format!("membership change of group {}", self.group_id),
                JobKind::Sync => format!("sync of group {}", self.group_id),
            },
            quirks: Vec::new(),
            ids: Ids::random(),
        }
    }

    fn next(&self, state: CleanupState) -> CleanupJobRecord {
        CleanupJobRecord {
            state,
            version: self.version + 1,
            ..self.clone()
        }
    }

    fn event(&self, ctx: &WriteContext, message: String) -> EventRecord {
        let outcome = match self.kind {
            JobKind::Delete => Outcome::Deleted,
            JobKind::Replace => Outcome::Updated,
            JobKind::Sync => Outcome::TookOver,
        };
        EventRecord {
            scim_id: Some(self.group_id.clone()),
            ..ctx.event(outcome, message)
        }
    }
}

/// One chunk: `members` (at most [`CLEANUP_CHUNK`], read from the group's partition)
/// removed, the job's progress advanced under its version, and a log event. The group and
/// org group as they were are the plan's `before`: the access events (E5) and the safeguard
/// (E4) see each member lose what the group gave. Empty for no members.
pub fn plan_cleanup_chunk(ctx: &WriteContext, job: &CleanupJobRecord, members: &[String]) -> Plan {
    let mut plan = Plan::default();
    if members.is_empty() {
        return plan;
    }
    for user_id in members {
        plan.delete(
            Record::Member {
                directory_id: job.directory_id.clone(),
                group_id: job.group_id.clone(),
                user_id: user_id.clone(),
            },
            Condition::Always,
        );
    }
    let mut next = job.next(CleanupState::Running);
    next.removed += members.len() as u64;
    let message = format!(
        "Clean-up of deleted group '{}': removed {} memberships ({} so far).",
        job.name(),
        members.len(),
        next.removed
    );
    commit_chunk(&mut plan, ctx, job, next, message);
    plan.prior(Record::Group(job.group()));
    if let Some(og) = &job.org_group {
        plan.prior(Record::OrgGroup(og.clone()));
    }
    plan
}

/// A chunk's progress (`next`, one chunk more) put under the job's version, so a replayed
/// chunk loses its race, and its log line.
fn commit_chunk(
    plan: &mut Plan,
    ctx: &WriteContext,
    job: &CleanupJobRecord,
    mut next: CleanupJobRecord,
    message: String,
) {
    next.chunks += 1;
    plan.put(Record::CleanupJob(next), Condition::Version(job.version));
    plan.event(job.event(ctx, message));
}

/// Adds to the chunk's job progress the accounts it takes product access from and gives
/// access to (known once the access world is read).
pub fn count_access(plan: &mut Plan, accounts_lost: u64, accounts_gained: u64) {
    for w in plan.writes.iter_mut() {
        if let Write::Put(Record::CleanupJob(job), _) = w {
            job.accounts_lost += accounts_lost;
            job.accounts_gained += accounts_gained;
        }
    }
}

/// No member left to remove (delete) or nothing left to settle (replace): the job goes,
/// with a replace job's target pages, and the log says what the job did. A replaced
/// group's pending mark goes with them: its member items are now what it shows.
pub fn plan_cleanup_finish(ctx: &WriteContext, job: &CleanupJobRecord) -> Plan {
    let mut plan = Plan::default();
    plan.delete(
        Record::CleanupJob(job.clone()),
        Condition::Version(job.version),
    );
    let message = match job.kind {
        JobKind::Delete => format!(
            "Clean-up of group '{}' ({}) finished: {} memberships removed, {} accounts lost access.",
            job.name(),
            job.group_id,
            job.removed,
            job.accounts_lost
        ),
        JobKind::Sync => format!(
            "Sync of group '{}' ({}) finished: access applied for {} members, {} admin memberships removed, {} accounts gained access, {} lost access.",
            job.name(),
            job.group_id,
            job.added,
            job.removed,
            job.accounts_gained,
            job.accounts_lost
        ),
        JobKind::Replace => {
            plan.writes
                .extend(job.page_writes(Vec::new(), job.target_pages));
            plan.writes.push(Write::SettleGroup {
                directory_id: job.directory_id.clone(),
                group_id: job.group_id.clone(),
                last_modified: ctx.now.clone(),
            });
            format!(
                "Membership change of group '{}' ({}) finished: {} members added, {} removed, {} accounts lost access.",
                job.name(),
                job.group_id,
                job.added,
                job.removed,
                job.accounts_lost
            )
        }
    };
    plan.event(job.event(ctx, message));
    plan
}

/// One chunk of a sync job: the access of `members` (IdP members, at most a chunk) or the
/// removal of `admin_members` (the org group's admin membership items), then the job's
/// progress under its version and a log event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStep {
    pub members: Vec<String>,
    pub admin_members: Vec<String>,
    /// Where the next chunk starts: the phase and the last id this one covered.
    pub phase: SyncPhase,
    pub cursor: Option<String>,
}

/// A sync job's chunk. The org group as the sync made it (`org_group_now`, read afresh)
/// is put again at its own version: nothing changes in the table (an admin's change since
/// makes the chunk lose its race and reload), but the chunk's access events are derived
/// from the org group as it was before the sync (the plan's `before`: managed by admin,
/// its admin members counting, the IdP's not) to the org group as it is.
pub fn plan_sync_chunk(
    ctx: &WriteContext,
    job: &CleanupJobRecord,
    org_group_now: &OrgGroupRecord,
    step: &SyncStep,
) -> Plan {
    let mut plan = Plan::default();
    plan.put(
        Record::OrgGroup(org_group_now.clone()),
        Condition::Version(org_group_now.version),
    );
    for account_id in &step.admin_members {
        plan.delete(
            Record::OrgMember {
                org_id: org_group_now.org_id.clone(),
                org_group_id: org_group_now.id.clone(),
                account_id: account_id.clone(),
            },
            Condition::Always,
        );
    }
    let mut next = job.next(CleanupState::Running);
    next.added += step.members.len() as u64;
    next.removed += step.admin_members.len() as u64;
    next.phase = step.phase;
    next.cursor = step.cursor.clone();
    let message = format!(
        "Sync of group '{}': access applied for {} members and {} admin memberships removed ({} and {} so far).",
        job.name(),
        step.members.len(),
        step.admin_members.len(),
        next.added,
        next.removed
    );
    commit_chunk(&mut plan, ctx, job, next, message);
    if let Some(og) = &job.org_group {
        plan.prior(Record::OrgGroup(og.clone()));
    }
    plan
}

/// One step of a replace job: the member items to add and remove among the ids after its
/// cursor, at most [`CLEANUP_CHUNK`] of them, and how far that settles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaceStep {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// Every id up to this one is settled once the step applies.
    pub cursor: Option<String>,
    /// Nothing is left to settle after the step: the job finishes.
    pub done: bool,
}

impl ReplaceStep {
    pub fn len(&self) -> usize {
        self.add.len() + self.remove.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `next`, the step after this one, taken into this one.
    pub fn extend(&mut self, next: ReplaceStep) {
        self.add.extend(next.add);
        self.remove.extend(next.remove);
        self.cursor = next.cursor;
        self.done = next.done;
    }
}

/// The next step of a replace job, of at most `room` writes. `target` is its target
/// membership, sorted; `members` the group's member ids after `cursor`, in id order (one
/// page), `more` whether the group has members after them. Both are walked together up to
/// the page's last id (or to the end when the page is the last): a member not in the target
/// is removed, a target id not a member is added. Pure: the same inputs give the same step, so a replay settles the
/// same ids.
pub fn next_replace_step(
    target: &[String],
    cursor: Option<&str>,
    members: &[String],
    more: bool,
    room: usize,
) -> ReplaceStep {
    let upper: Option<&str> = if more {
        members.last().map(String::as_str)
    } else {
        None
    };
    let start = cursor.map_or(0, |c| target.partition_point(|t| t.as_str() <= c));
    let mut targets = target[start..]
        .iter()
        .take_while(|t| upper.is_none_or(|u| t.as_str() <= u))
        .peekable();
    let mut members = members.iter().peekable();
    let mut step = ReplaceStep {
        cursor: cursor.map(str::to_string),
        ..ReplaceStep::default()
    };
    loop {
        if step.len() >= room {
            return step;
        }
        let settled = match (targets.peek(), members.peek()) {
            (None, None) => break,
            (Some(t), Some(m)) if t == m => {
                members.next();
                targets.next()
            }
            (Some(t), Some(m)) if t > m => {
                step.remove.push((*m).clone());
                members.next()
            }
            (Some(t), _) => {
                step.add.push((*t).clone());
                targets.next()
            }
            (None, Some(m)) => {
                step.remove.push((*m).clone());
                members.next()
            }
        };
        step.cursor = settled.cloned();
    }
    match upper {
        Some(u) => step.cursor = Some(u.to_string()),
        None => step.done = true,
    }
    step
}

/// One step of a replace job applied: `add` (the step's additions that are still users of
/// the directory) and the step's removals, the job's progress and cursor advanced under
/// its version, and a log event. The group is read by the access world as it is now (it
/// exists, unlike a deleted group's).
pub fn plan_replace_chunk(
    ctx: &WriteContext,
    job: &CleanupJobRecord,
    step: &ReplaceStep,
    add: &[String],
) -> Plan {
    let mut plan = Plan::default();
    let member = |user_id: &String| Record::Member {
        directory_id: job.directory_id.clone(),
        group_id: job.group_id.clone(),
        user_id: user_id.clone(),
    };
    for user_id in add {
        plan.put(member(user_id), Condition::Always);
    }
    for user_id in &step.remove {
        plan.delete(member(user_id), Condition::Always);
    }
    let mut next = job.next(CleanupState::Running);
    next.added += add.len() as u64;
    next.removed += step.remove.len() as u64;
    next.cursor = step.cursor.clone();
    let message = format!(
        "Membership change of group '{}': added {} and removed {} members ({} added, {} removed so far).",
        job.name(),
        add.len(),
        step.remove.len(),
        next.added,
        next.removed
    );
    commit_chunk(&mut plan, ctx, job, next, message);
    plan
}

/// The worker's time budget ran out: the job goes back to `queued`, whose stream record
/// wakes the next worker where this one stopped. `cursor` is how far a replace job's
/// worker read without anything to write (what it settled is not read again).
pub fn plan_cleanup_requeue(job: &CleanupJobRecord, cursor: Option<String>) -> Plan {
    let mut plan = Plan::default();
    let mut next = job.next(CleanupState::Queued);
    if job.kind != JobKind::Delete {
        next.cursor = cursor;
    }
    plan.put(Record::CleanupJob(next), Condition::Version(job.version));
    plan
}

/// Whether a chunk's plan fits one transaction with its change item (so the job's progress
/// commits with the removals it counts).
pub fn chunk_fits_one_transaction(plan: &Plan) -> bool {
    plan.writes.len() + plan.after.len() <= MAX_PART_ACTIONS
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::directory::context::Ids;

    fn ctx() -> WriteContext {
        WriteContext {
            org_id: "o".into(),
            verified_domains: Vec::new(),
            default_groups: Vec::new(),
            assignable_roles: Vec::new(),
            directory_id: "d".into(),
            idp: "okta".into(),
            request_id: Some("r".into()),
            now: "2026-11-30T00:00:00.000Z".into(),
            operation: "DELETE /Groups/g".into(),
            quirks: Vec::new(),
            ids: Ids::seeded(7),
        }
    }

    fn group() -> GroupRecord {
        GroupRecord {
            directory_id: "d".into(),
            id: "g".into(),
            doc: json!({"displayName": "Engineering"}),
            version: 3,
            created: "t".into(),
            last_modified: "t".into(),
            org_group_id: Some("og".into()),
            held: false,
            members_pending: false,
        }
    }

    fn job() -> CleanupJobRecord {
        CleanupJobRecord::for_deleted_group(&ctx(), &group(), None)
    }

    fn job_put(plan: &Plan) -> (CleanupJobRecord, Condition) {
        plan.writes
            .iter()
            .find_map(|w| match w {
                Write::Put(Record::CleanupJob(j), c) => Some((j.clone(), c.clone())),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn a_chunk_removes_its_members_and_advances_the_job_under_its_version() {
        let members: Vec<String> = (0..CLEANUP_CHUNK).map(|i| format!("u{i}")).collect();
        let plan = plan_cleanup_chunk(&ctx(), &job(), &members);
        let removed: Vec<&str> = plan
            .writes
            .iter()
            .filter_map(|w| match w {
                Write::Delete(Record::Member { user_id, .. }, Condition::Always) => {
                    Some(user_id.as_str())
                }
                _ => None,
            })
            .collect();
        assert_eq!(removed.len(), CLEANUP_CHUNK);
        let (next, cond) = job_put(&plan);
        assert_eq!(
            cond,
            Condition::Version(1),
            "a replayed chunk loses the race"
        );
        assert_eq!((next.version, next.removed, next.chunks), (2, 60, 1));
        assert_eq!(next.state, CleanupState::Running);
        assert_eq!(plan.events().count(), 1);
        assert!(plan.before.contains(&Record::Group(job().group())));
        assert!(chunk_fits_one_transaction(&plan));
    }

    #[test]
    fn a_chunk_keeps_the_org_group_as_it_was_for_the_access_events() {
        let og = OrgGroupRecord {
            org_id: "o".into(),
            id: "og".into(),
            name: "Engineering".into(),
            managed_by: crate::directory::model::ManagedBy::Directory {
                directory_id: "d".into(),
            },
            scim_group: None,
            roles: vec!["p/admin".into()],
            version: 1,
            created: "t".into(),
            last_modified: "t".into(),
        };
        let j = CleanupJobRecord::for_deleted_group(&ctx(), &group(), Some(&og));
        let plan = plan_cleanup_chunk(&ctx(), &j, &["u1".to_string()]);
        assert!(plan.before.contains(&Record::OrgGroup(og)));
    }

    #[test]
    fn no_members_is_no_chunk() {
        assert!(plan_cleanup_chunk(&ctx(), &job(), &[]).is_empty());
    }

    #[test]
    fn accounts_lost_add_up_on_the_job() {
        let mut plan = plan_cleanup_chunk(&ctx(), &job(), &["u1".to_string()]);
        count_access(&mut plan, 1, 0);
        let (next, _) = job_put(&plan);
        assert_eq!((next.removed, next.accounts_lost), (1, 1));
    }

    #[test]
    fn the_finish_deletes_the_job_and_says_what_was_done() {
        let mut j = job();
        j.removed = 1500;
        j.accounts_lost = 12;
        j.version = 26;
        let plan = plan_cleanup_finish(&ctx(), &j);
        assert!(matches!(
            &plan.writes[0],
            Write::Delete(Record::CleanupJob(_), Condition::Version(26))
        ));
        let e = plan.events().next().unwrap();
        assert_eq!(
            e.message,
            "Clean-up of group 'Engineering' (g) finished: 1500 memberships removed, 12 accounts lost access."
        );
        assert_eq!(e.request_id.as_deref(), Some("r"));
    }

    #[test]
    fn a_requeue_only_wakes_the_next_worker() {
        let plan = plan_cleanup_requeue(&job(), None);
        let (next, cond) = job_put(&plan);
        assert_eq!(cond, Condition::Version(1));
        assert_eq!((next.state, next.version), (CleanupState::Queued, 2));
        assert_eq!(plan.events().count(), 0);
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn replace_job() -> CleanupJobRecord {
        CleanupJobRecord::for_replaced_membership(&ctx(), &group(), 3, 1, None)
    }

    #[test]
    fn a_replace_step_removes_members_not_in_the_target_and_adds_the_missing_ones() {
        let step = next_replace_step(
            &ids(&["a", "c", "e"]),
            None,
            &ids(&["b", "c", "d"]),
            false,
            CLEANUP_CHUNK,
        );
        assert_eq!(step.add, ids(&["a", "e"]));
        assert_eq!(step.remove, ids(&["b", "d"]));
        assert!(step.done);
    }

    #[test]
    fn a_replace_step_settles_only_up_to_the_last_member_read_when_more_follow() {
        // Members after "c" are not read yet: "d" may be one, so it is not added yet.
        let step = next_replace_step(&ids(&["a", "d"]), None, &ids(&["b", "c"]), true, 60);
        assert_eq!((step.add, step.remove), (ids(&["a"]), ids(&["b", "c"])));
        assert_eq!((step.cursor.as_deref(), step.done), (Some("c"), false));
        // The next step starts past the cursor.
        let next = next_replace_step(&ids(&["a", "d"]), Some("c"), &[], false, 60);
        assert_eq!(
            (next.add, next.remove, next.done),
            (ids(&["d"]), vec![], true)
        );
    }

    #[test]
    fn a_replace_step_stops_at_its_room_and_its_cursor_is_the_last_id_it_settled() {
        let target: Vec<String> = (0..100).map(|i| format!("u{i:03}")).collect();
        let step = next_replace_step(&target, None, &[], false, CLEANUP_CHUNK);
        assert_eq!(step.add.len(), CLEANUP_CHUNK);
        assert_eq!(step.cursor.as_deref(), Some("u059"));
        assert!(!step.done);
        let rest = next_replace_step(&target, step.cursor.as_deref(), &[], false, CLEANUP_CHUNK);
        assert_eq!(rest.add.len(), 40);
        assert_eq!(rest.add[0], "u060");
        assert!(rest.done);
    }

    #[test]
    fn a_replace_step_over_an_unchanged_membership_writes_nothing() {
        let same = ids(&["a", "b"]);
        let step = next_replace_step(&same, None, &same, false, CLEANUP_CHUNK);
        assert!(step.is_empty() && step.done);
    }

    #[test]
    fn target_pages_stay_under_the_item_limit_and_keep_every_id_in_order() {
        let target: Vec<String> = (0..20_000)
            .map(|i| format!("{i:08}-0000-0000-0000-000000000000"))
            .collect();
        let pages = target_pages(&target);
        assert_eq!(pages.len(), 3);
        for p in &pages {
            let bytes = serde_json::to_string(p).unwrap().len();
            assert!(bytes <= JOB_PAGE_BYTES + 2, "{bytes}");
        }
        assert_eq!(pages.concat(), target);
        assert!(target_pages(&[]).is_empty());
    }

    #[test]
    fn a_replace_chunk_writes_its_members_and_cursor_under_the_job_version() {
        let step = ReplaceStep {
            add: ids(&["a", "gone"]),
            remove: ids(&["b"]),
            cursor: Some("c".into()),
            done: false,
        };
        // "gone" was deleted since the request: not added back.
        let plan = plan_replace_chunk(&ctx(), &replace_job(), &step, &ids(&["a"]));
        let puts = plan
            .writes
            .iter()
            .filter(|w| matches!(w, Write::Put(Record::Member { .. }, _)))
            .count();
        let dels = plan
            .writes
            .iter()
            .filter(|w| matches!(w, Write::Delete(Record::Member { .. }, _)))
            .count();
        assert_eq!((puts, dels), (1, 1));
        let (next, cond) = job_put(&plan);
        assert_eq!(cond, Condition::Version(1));
        assert_eq!(
            (next.added, next.removed, next.cursor.as_deref()),
            (1, 1, Some("c"))
        );
        let e = plan.events().next().unwrap();
        assert_eq!(e.outcome, Outcome::Updated);
    }

    #[test]
    fn a_replace_finish_deletes_the_job_and_its_pages_and_settles_the_group() {
        let mut j = CleanupJobRecord::for_replaced_membership(&ctx(), &group(), 9_000, 2, None);
        j.added = 9_000;
        j.removed = 1_500;
        j.version = 7;
        let plan = plan_cleanup_finish(&ctx(), &j);
        assert!(matches!(
            &plan.writes[0],
            Write::Delete(Record::CleanupJob(_), Condition::Version(7))
        ));
        let pages: Vec<u32> = plan
            .writes
            .iter()
            .filter_map(|w| match w {
                Write::Delete(Record::JobPage(p), _) => Some(p.page),
                _ => None,
            })
            .collect();
        assert_eq!(pages, vec![0, 1]);
        assert!(plan
            .writes
            .iter()
            .any(|w| matches!(w, Write::SettleGroup { group_id, .. } if group_id == "g")));
        assert_eq!(
            plan.events().next().unwrap().message,
            "Membership change of group 'Engineering' (g) finished: 9000 members added, 1500 removed, 0 accounts lost access."
        );
    }

    #[test]
    fn a_requeue_keeps_a_replace_jobs_cursor() {
        let plan = plan_cleanup_requeue(&replace_job(), Some("k".into()));
        let (next, _) = job_put(&plan);
        assert_eq!(next.cursor.as_deref(), Some("k"));
        let plan = plan_cleanup_requeue(&job(), Some("k".into()));
        assert_eq!(job_put(&plan).0.cursor, None, "a delete job has no cursor");
    }

    #[test]
    fn a_superseding_job_moves_its_version_and_generation_and_drops_surplus_pages() {
        let mut old = replace_job();
        old.version = 5;
        old.target_pages = 3;
        let new = CleanupJobRecord::for_replaced_membership(&ctx(), &group(), 10, 1, Some(&old));
        assert_eq!(
            (new.version, new.generation, new.cursor.clone()),
            (6, 1, None)
        );
        let writes = new.page_writes(vec![ids(&["a"])], old.target_pages);
        let kinds: Vec<(bool, u32)> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Put(Record::JobPage(p), _) => Some((true, p.page)),
                Write::Delete(Record::JobPage(p), _) => Some((false, p.page)),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, vec![(true, 0), (false, 1), (false, 2)]);
    }

    fn admin_og() -> OrgGroupRecord {
        OrgGroupRecord {
            org_id: "o".into(),
            id: "og".into(),
            name: "Engineering".into(),
            managed_by: crate::directory::model::ManagedBy::Admin,
            scim_group: None,
            roles: vec!["p/user".into()],
            version: 4,
            created: "t".into(),
            last_modified: "t".into(),
        }
    }

    #[test]
    fn a_sync_chunk_puts_the_org_group_at_its_version_and_compares_against_it_as_it_was() {
        let before = admin_og();
        let job = CleanupJobRecord::for_synced_group(&ctx(), &group(), &before);
        assert_eq!(job.kind.slot(), JobSlot::Sync);
        let mut now = before.clone();
        now.managed_by = crate::directory::model::ManagedBy::Directory {
            directory_id: "d".into(),
        };
        now.version = 5;
        let step = SyncStep {
            members: Vec::new(),
            admin_members: ids(&["a1", "a2"]),
            phase: SyncPhase::AdminMembers,
            cursor: Some("a2".into()),
        };
        let plan = plan_sync_chunk(&ctx(), &job, &now, &step);
        assert!(plan.writes.contains(&Write::Put(
            Record::OrgGroup(now.clone()),
            Condition::Version(5)
        )));
        assert_eq!(plan.before, vec![Record::OrgGroup(before)]);
        let removed = plan
            .writes
            .iter()
            .filter(|w| {
                matches!(
                    w,
                    Write::Delete(Record::OrgMember { .. }, Condition::Always)
                )
            })
            .count();
        assert_eq!(removed, 2);
        let (next, cond) = job_put(&plan);
        assert_eq!(cond, Condition::Version(1));
        assert_eq!(
            (next.phase, next.cursor.as_deref(), next.removed),
            (SyncPhase::AdminMembers, Some("a2"), 2)
        );
        assert_eq!(plan.events().next().unwrap().outcome, Outcome::TookOver);
        assert!(chunk_fits_one_transaction(&plan));
    }

    #[test]
    fn a_sync_finish_says_what_the_job_did() {
        let mut job = CleanupJobRecord::for_synced_group(&ctx(), &group(), &admin_og());
        (
            job.added,
            job.removed,
            job.accounts_gained,
            job.accounts_lost,
        ) = (1502, 2, 1, 1);
        let plan = plan_cleanup_finish(&ctx(), &job);
        assert_eq!(
            plan.events().next().unwrap().message,
            "Sync of group 'Engineering' (g) finished: access applied for 1502 members, 2 admin memberships removed, 1 accounts gained access, 1 lost access."
        );
        assert!(!plan
            .writes
            .iter()
            .any(|w| matches!(w, Write::SettleGroup { .. })));
    }
}
