//! The asynchronous membership clean-up of a deleted big group (`directory::cleanup`): the
//! `group-cleanup` function runs [`Writer::clean_up_group`] for each job its stream
//! records name.
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
    count_accounts_lost, plan_cleanup_chunk, plan_cleanup_finish, plan_cleanup_requeue,
    CLEANUP_CHUNK,
};
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

/// What one worker's run did: how it ended, and the memberships it removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupRun {
    pub end: CleanupEnd,
    pub removed: u64,
    pub chunks: u64,
}

/// The accounts of `world` that lose some role once `writes` apply.
fn accounts_losing_access(world: &AccessWorld, writes: &[Write]) -> u64 {
    let mut after = world.clone();
    after.apply(writes);
    world
        .accounts
        .keys()
        .filter(|a| {
            let before: BTreeSet<String> = world.roles(a);
            !before.is_subset(&after.roles(a))
        })
        .count() as u64
}

impl Writer<'_> {
    /// Removes the member items of the deleted group `group_id` chunk by chunk, until none
    /// is left (the job is then deleted and its end logged) or, after one chunk at least,
    /// `deadline` passes (the job is queued again). A job that no longer exists was
    /// finished by an earlier run: nothing to do.
    pub async fn clean_up_group(
        &self,
        directory_id: &str,
        group_id: &str,
        deadline: Instant,
    ) -> Result<CleanupRun, StoreError> {
        let mut run = CleanupRun {
            end: CleanupEnd::Finished,
            removed: 0,
            chunks: 0,
        };
        let mut lost_races = 0u32;
        loop {
            let Some(job) = self.store.get_cleanup_job(directory_id, group_id).await? else {
                return Ok(run);
            };
            let (members, _) = self
                .store
                .group_members_up_to(directory_id, group_id, CLEANUP_CHUNK)
                .await?;
            let ctx = job.context(crate::clock::now());
            // Every run removes at least one chunk before it looks at the time, so a worker
            // always makes progress, however short its budget.
            let (plan, removing) = if members.is_empty() {
                (plan_cleanup_finish(&ctx, &job), None)
            } else if run.chunks > 0 && Instant::now() >= deadline {
                (plan_cleanup_requeue(&job), None)
            } else {
                (
                    plan_cleanup_chunk(&ctx, &job, &members),
                    Some(members.len()),
                )
            };
            let requeue = plan.events().next().is_none();
            match Box::pin(self.apply_cleanup_step(plan)).await {
                Ok(()) => {
                    lost_races = 0;
                    if requeue {
                        run.end = CleanupEnd::Requeued;
                        return Ok(run);
                    }
                    if let Some(n) = removing {
                        run.removed += n as u64;
                        run.chunks += 1;
                    }
                }
                // Another worker advanced the job (a replayed record): read it again.
                Err(ApplyError::Stale) => {
                    lost_races += 1;
                    if lost_races >= MAX_WRITE_ATTEMPTS {
                        return Err(StoreError::Unavailable(
                            "the clean-up job kept changing under this worker".into(),
                        ));
                    }
                    tokio::time::sleep(backoff(lost_races)).await;
                }
                Err(ApplyError::Store(e)) => return Err(e),
            }
        }
    }

    /// One step: the safeguard and the access world (as for any write), the accounts that
    /// lose access counted on the job, then the transaction(s) with their change items.
    async fn apply_cleanup_step(&self, mut plan: Plan) -> Result<(), ApplyError> {
        let world = Box::pin(self.guard(&mut plan)).await?;
        let all: Vec<Write> = plan.writes.iter().chain(&plan.after).cloned().collect();
        count_accounts_lost(&mut plan, accounts_losing_access(&world, &all));
        let parts = transactions_with_changes(&plan, world);
        self.store.apply_transactions(&parts).await
    }
}
