//! The `group-cleanup` function: invoked by the table's stream with the jobs of big groups
//! (a delete's clean-up, a membership replace, a held group's sync) written `queued` (its own event source mapping, `CLEANUP_FILTER_PATTERN`), it runs each
//! job it is told of until the job finishes or the time budget runs out
//! (`write::cleanup`). A job that fails is reported in `batchItemFailures`: the mapping
//! retries from it, and since progress is committed chunk by chunk, nothing is lost.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::stream::{classify, BatchResponse, Invocation, ItemFailure, StreamError, StreamEvent};
use crate::directory::cleanup::JobSlot;
use crate::store::Store;
use crate::write::cleanup::CleanupEnd;
use crate::write::Writer;

/// How long one invocation cleans up before it queues the job again: the function's
/// timeout (300 s in `infra/template.yaml`) less a margin for the chunk in flight.
pub const DEFAULT_CLEANUP_BUDGET: Duration = Duration::from_secs(240);

pub struct CleanupService {
    store: Store,
    budget: Duration,
}

impl CleanupService {
    pub fn new(store: Store, budget: Duration) -> Self {
        CleanupService { store, budget }
    }

    /// The table from `SCIMLINK_TABLE`; the budget from `SCIMLINK_CLEANUP_BUDGET_SECONDS`.
    pub async fn from_env() -> Self {
        let sdk = crate::aws::sdk_loader().load().await;
        let table = std::env::var("SCIMLINK_TABLE").unwrap_or_else(|_| "scimlink".into());
        let budget = std::env::var("SCIMLINK_CLEANUP_BUDGET_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_CLEANUP_BUDGET);
        CleanupService::new(Store::new(&sdk, table), budget)
    }

    /// One invocation (a stream batch), answered with the records to retry.
    pub async fn handle(&self, event: Value) -> Result<Value, StreamError> {
        match classify(event)? {
            Invocation::Stream(batch) => {
                let response = self.handle_stream(&batch).await;
                Ok(serde_json::to_value(response).unwrap_or(Value::Null))
            }
            Invocation::Scheduled => Err(StreamError::UnknownInvocation),
        }
    }

    /// Runs every job the batch names, once each, in the order of their last record: a
    /// job's older records (a worker's earlier requeue) add nothing, the job item is read
    /// afresh. A job that fails is retried from its first record in the batch.
    pub async fn handle_stream(&self, batch: &StreamEvent) -> BatchResponse {
        let deadline = Instant::now() + self.budget;
        let mut jobs: Vec<((String, String, JobSlot), String)> = Vec::new();
        let mut failures = Vec::new();
        for r in batch.records.iter().filter(|r| r.is_cleanup_wake()) {
            match r.cleanup_job() {
                Ok(job) if !jobs.iter().any(|(j, _)| *j == job) => {
                    jobs.push((job, r.id().to_string()));
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "unreadable clean-up job record; skipped"),
            }
        }
        for ((directory_id, group_id, slot), record_id) in jobs {
            // A membership job writes as the directory's IdP would (its safeguard counts,
            // E4); a sync is an admin's decision, which no safeguard holds.
            let writer = match slot {
                JobSlot::Membership => {
                    Writer::new(&self.store, false).safeguarded_by(&directory_id)
                }
                JobSlot::Sync => Writer::new(&self.store, false),
            };
            // Boxed: the write service's futures are deep (see `Writer::run`).
            match Box::pin(writer.run_group_job(&directory_id, &group_id, slot, deadline)).await {
                Ok(run) => tracing::info!(
                    directory = %directory_id,
                    group = %group_id,
                    removed = run.removed,
                    added = run.added,
                    chunks = run.chunks,
                    finished = run.end == CleanupEnd::Finished,
                    "group clean-up ran"
                ),
                Err(e) => {
                    tracing::warn!(directory = %directory_id, group = %group_id, error = %e, "group clean-up failed; the batch is retried from its record");
                    failures.push(ItemFailure {
                        item_identifier: record_id,
                    });
                }
            }
        }
        BatchResponse {
            batch_item_failures: failures,
        }
    }
}
