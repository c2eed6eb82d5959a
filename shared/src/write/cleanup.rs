//! The asynchronous membership jobs of big groups (`directory::cleanup`): the clean-up of a
//! deleted group and the replace of a group's membership. The `group-cleanup` function
//! runs [`Writer::clean_up_group`] for each job its stream records name.
//!
//! Each chunk goes through the write service's own steps: the pure plan, the safeguard
//! (E4: the directory's safeguard counts and may hold what the chunk deprovisions, as it
//! would for the IdP's own removals), the access events (E5) derived over the same reads,
//! one transaction. The job's version is the chunk's condition, so a replayed stream record
//! or a second worker on the same job loses the race and reloads: nothing is done twice.
//! What is left is always what the member items say, so a stopped worker's successor
//! resumes exactly where it stopped.

use std::collections::BTreeSet;
use std::time::Instant;

use super::changes::transactions_with_changes;
use super::{backoff, Writer, MAX_WRITE_ATTEMPTS};
use crate::directory::changes::AccessWorld;
use crate::directory::cleanup::{
    count_access, next_replace_step, plan_cleanup_chunk, plan_cleanup_finish, plan_cleanup_requeue,
    plan_replace_chunk, plan_sync_chunk, CleanupJobRecord, JobKind, JobSlot, ReplaceStep,
    SyncPhase, SyncStep, CLEANUP_CHUNK,
};

/// Member pages a replace step reads at most before it writes: a long run of members
/// already as the target wants them is read on without writing, its cursor kept in memory
/// (and written with the next chunk or the requeue).
const SETTLE_PAGES: usize = 20;
use crate::directory::context::WriteContext;
use crate::directory::plan::{Plan, Write};
use crate::store::{ApplyError, StoreError};

/// How one worker's run on one job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupEnd {
    /// Every member item is gone and the job with it (or it already was: a replay).
    Finished,
    /// The time budget ran out: the job is queued again and its stream record wakes the
    /// next worker.
    Requeued,
}

/// What one worker's run did: how it ended, and the memberships it removed and added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupRun {
    pub end: CleanupEnd,
    pub removed: u64,
    /// Member items a replace job added.
    pub added: u64,
    pub chunks: u64,
}

/// The accounts of `world` that lose some role, and those that gain some, once `writes`
/// apply.
fn access_moves(world: &AccessWorld, writes: &[Write]) -> (u64, u64) {
    let mut after = world.clone();
    after.apply(writes);
    let (mut lost, mut gained) = (0, 0);
    for a in world.accounts.keys() {
        let (before, now): (BTreeSet<String>, BTreeSet<String>) = (world.roles(a), after.roles(a));
        lost += u64::from(!before.is_subset(&now));
        gained += u64::from(!now.is_subset(&before));
    }
    (lost, gained)
}

/// What a worker does next on a job.
enum Step {
    /// A chunk of member writes: `(added, removed)` once it commits.
    Chunk(Plan, u64, u64),
    Finish(Plan),
    Requeue(Plan),
    /// A replace job's ids up to the cursor need nothing: read on, nothing written.
    Settled(Option<String>),
}

impl Writer<'_> {
    /// Runs the job of group `group_id` chunk by chunk: a delete job removes its member
    /// items until none is left, a replace job settles them against its target, id range by
    /// id range. At the end the job is deleted and its end logged; after one chunk at least,
    /// once `deadline` passes, the job is queued again. A job that no longer exists was
    /// finished by an earlier run: nothing to do.
    ///
    /// A sync job (`slot` `Sync`) derives its IdP members' access events, then removes the
    /// org group's admin membership items, chunk by chunk (`directory::cleanup::plan_sync_chunk`).
    pub async fn run_group_job(
        &self,
        directory_id: &str,
        group_id: &str,
        slot: JobSlot,
        deadline: Instant,
    ) -> Result<CleanupRun, StoreError> {
        let mut run = CleanupRun {
            end: CleanupEnd::Finished,
            removed: 0,
            added: 0,
            chunks: 0,
        };
        let mut lost_races = 0u32;
        // A replace job's target, read once per generation.
        let mut target: Option<(u64, Vec<String>)> = None;
        // How far this run read a replace job without writing (at the job's version).
        let mut settled: Option<(u64, Option<String>)> = None;
        loop {
            let Some(job) = self.store.get_job(directory_id, group_id, slot).await? else {
                return Ok(run);
            };
            let ctx = job.context(crate::clock::now());
            // Every run makes progress (a chunk, or ids settled) before it looks at the
            // time, however short its budget.
            let out_of_time = (run.chunks > 0 || settled.is_some()) && Instant::now() >= deadline;
            let step = match job.kind {
                JobKind::Delete => {
                    let (members, _) = self
                        .store
                        .group_members_up_to(directory_id, group_id, CLEANUP_CHUNK)
                        .await?;
                    if members.is_empty() {
                        Step::Finish(plan_cleanup_finish(&ctx, &job))
                    } else if out_of_time {
                        Step::Requeue(plan_cleanup_requeue(&job, None))
                    } else {
                        let n = members.len() as u64;
                        Step::Chunk(plan_cleanup_chunk(&ctx, &job, &members), 0, n)
                    }
                }
                JobKind::Sync => Box::pin(self.sync_step(&ctx, &job, out_of_time)).await?,
                JobKind::Replace => {
                    if target.as_ref().is_none_or(|(g, _)| *g != job.generation) {
                        let ids = self.store.job_target(directory_id, group_id).await?;
                        target = Some((job.generation, ids));
                    }
                    let ids = target.as_ref().map_or(&[][..], |(_, t)| t.as_slice());
                    let cursor = match &settled {
                        Some((v, c)) if *v == job.version => c.clone(),
                        _ => job.cursor.clone(),
                    };
                    if out_of_time {
                        Step::Requeue(plan_cleanup_requeue(&job, cursor))
                    } else {
                        Box::pin(self.replace_step(&ctx, &job, ids, cursor)).await?
                    }
                }
            };
            let (plan, counts) = match step {
                Step::Settled(cursor) => {
                    settled = Some((job.version, cursor));
                    continue;
                }
                Step::Chunk(plan, added, removed) => (plan, Some((added, removed))),
                Step::Finish(plan) => (plan, None),
                Step::Requeue(plan) => match Box::pin(self.apply_cleanup_step(plan)).await {
                    Ok(()) => {
                        run.end = CleanupEnd::Requeued;
                        return Ok(run);
                    }
                    Err(e) => {
                        self.lost_race(e, &mut lost_races).await?;
                        continue;
                    }
                },
            };
            match Box::pin(self.apply_cleanup_step(plan)).await {
                Ok(()) => {
                    lost_races = 0;
                    settled = None;
                    if let Some((added, removed)) = counts {
                        run.added += added;
                        run.removed += removed;
                        run.chunks += 1;
                    }
                }
                Err(e) => self.lost_race(e, &mut lost_races).await?,
            }
        }
    }

    /// Another worker advanced the job (a replayed record) or a request replaced it: read
    /// it again, after a backoff, unless that keeps happening.
    async fn lost_race(&self, e: ApplyError, lost_races: &mut u32) -> Result<(), StoreError> {
        match e {
            ApplyError::Stale => {
                *lost_races += 1;
                if *lost_races >= MAX_WRITE_ATTEMPTS {
                    return Err(StoreError::Unavailable(
                        "the clean-up job kept changing under this worker".into(),
                    ));
                }
                tokio::time::sleep(backoff(*lost_races)).await;
                Ok(())
            }
            ApplyError::Store(e) => Err(e),
        }
    }

    /// A sync job's next step: a page of the IdP's members (their accounts observed, for
    /// their access events), then pages of the org group's admin members (removed). An org
    /// group that no longer takes this group's membership (the group was deleted since, or
    /// the org group removed) ends the job: what is left is no longer this sync's.
    async fn sync_step(
        &self,
        ctx: &WriteContext,
        job: &CleanupJobRecord,
        out_of_time: bool,
    ) -> Result<Step, StoreError> {
        let before = job.org_group.as_ref();
        let now = match before {
            Some(og) => self.store.get_org_group(&job.org_id, &og.id).await?,
            None => None,
        };
        let Some(now) = now.filter(|og| {
            og.scim_group
                .as_ref()
                .is_some_and(|g| g.directory_id == job.directory_id && g.group_id == job.group_id)
        }) else {
            return Ok(Step::Finish(plan_cleanup_finish(ctx, job)));
        };
        if out_of_time {
            return Ok(Step::Requeue(plan_cleanup_requeue(job, job.cursor.clone())));
        }
        let cursor = job.cursor.as_deref();
        match job.phase {
            SyncPhase::Members => {
                let (members, more) = self
                    .store
                    .group_members_after(&job.directory_id, &job.group_id, cursor, CLEANUP_CHUNK)
                    .await?;
                let accounts: Vec<String> = self
                    .store
                    .get_users(&job.directory_id, &members)
                    .await?
                    .into_iter()
                    .filter_map(|u| u.account_id)
                    .collect();
                let step = SyncStep {
                    cursor: members.last().cloned().filter(|_| more),
                    phase: match more {
                        true => SyncPhase::Members,
                        false => SyncPhase::AdminMembers,
                    },
                    members,
                    admin_members: Vec::new(),
                };
                let mut plan = plan_sync_chunk(ctx, job, &now, &step);
                plan.observed = accounts;
                Ok(Step::Chunk(plan, step.members.len() as u64, 0))
            }
            SyncPhase::AdminMembers => {
                let (admins, _) = self
                    .store
                    .org_group_members_after(&job.org_id, &now.id, cursor, CLEANUP_CHUNK)
                    .await?;
                if admins.is_empty() {
                    return Ok(Step::Finish(plan_cleanup_finish(ctx, job)));
                }
                let step = SyncStep {
                    cursor: admins.last().cloned(),
                    phase: SyncPhase::AdminMembers,
                    members: Vec::new(),
                    admin_members: admins,
                };
                let plan = plan_sync_chunk(ctx, job, &now, &step);
                Ok(Step::Chunk(plan, 0, step.admin_members.len() as u64))
            }
        }
    }

    /// A replace job's next step from `cursor`: one page of member items past it against
    /// the target. The additions are checked to still be users of the directory (a user
    /// deleted since the request is not added back).
    async fn replace_step(
        &self,
        ctx: &WriteContext,
        job: &CleanupJobRecord,
        target: &[String],
        cursor: Option<String>,
    ) -> Result<Step, StoreError> {
        // Pages are read until the step has a chunk's writes, or up to a bound of pages
        // that need nothing (a run of unchanged members), whose cursor is then kept.
        let mut step = ReplaceStep {
            cursor,
            ..ReplaceStep::default()
        };
        for _ in 0..SETTLE_PAGES {
            let (members, more) = self
                .store
                .group_members_after(
                    &job.directory_id,
                    &job.group_id,
                    step.cursor.as_deref(),
                    CLEANUP_CHUNK,
                )
                .await?;
            let room = CLEANUP_CHUNK - step.len();
            step.extend(next_replace_step(
                target,
                step.cursor.as_deref(),
                &members,
                more,
                room,
            ));
            if step.done || step.len() >= CLEANUP_CHUNK {
                break;
            }
        }
        if step.is_empty() {
            return Ok(match step.done {
                true => Step::Finish(plan_cleanup_finish(ctx, job)),
                false => Step::Settled(step.cursor),
            });
        }
        let wanted: BTreeSet<String> = step.add.iter().cloned().collect();
        let (users, _) = self
            .store
            .users_and_memberships(&job.directory_id, None, &BTreeSet::new(), &wanted)
            .await?;
        let add: Vec<String> = step
            .add
            .iter()
            .filter(|u| users.contains(*u))
            .cloned()
            .collect();
        let counts = (add.len() as u64, step.remove.len() as u64);
        Ok(Step::Chunk(
            plan_replace_chunk(ctx, job, &step, &add),
            counts.0,
            counts.1,
        ))
    }

    /// One step: the safeguard and the access world (as for any write), the accounts that
    /// lose access counted on the job, then the transaction(s) with their change items.
    async fn apply_cleanup_step(&self, mut plan: Plan) -> Result<(), ApplyError> {
        let world = Box::pin(self.guard(&mut plan)).await?;
        let all: Vec<Write> = plan.writes.iter().chain(&plan.after).cloned().collect();
        let (lost, gained) = access_moves(&world, &all);
        count_access(&mut plan, lost, gained);
        let parts = transactions_with_changes(&plan, world);
        self.store.apply_transactions(&parts).await
    }
}
