//! The big-groups section (`scimlink-local bench-big-groups [members]`, and part of
//! `make bench`): a DELETE of a group of 100,000 members, the time it takes to answer and
//! the time until its asynchronous clean-up has removed every member item, the worker
//! driven as on AWS: the table's stream read by the pump code (`scimlink::events::pump`),
//! the queued job's records handed to the `group-cleanup` handler in batches of 10.

use std::time::{Duration, Instant};

use scimlink::events::cleanup::{CleanupService, DEFAULT_CLEANUP_BUDGET};
use scimlink::events::pump::{batches, StartingPosition, StreamPump};
use scimlink::http::AppState;
use scimlink::store::MetricsSnapshot;
use serde_json::json;

use super::{seed_members, setup, BenchResult};

pub const HEADING: &str = "## Big groups";

/// What the clean-up of one deleted group took.
struct CleanupTimes {
    answered: Duration,
    request_cost: MetricsSnapshot,
    finished: Duration,
    invocations: usize,
    worker_cost: MetricsSnapshot,
}

async fn delete_and_clean_up(
    state: &AppState,
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
    members: usize,
) -> BenchResult<CleanupTimes> {
    let (bench, _, dir_id) = setup(state).await?;
    let (status, body) = bench
        .scim("POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Everyone"})))
        .await?;
    if status != 201 {
        return Err(format!("create group: {status} {body}").into());
    }
    let gid = body["id"].as_str().ok_or("no group id")?.to_string();
    let seeded = Instant::now();
    seed_members(state, &dir_id, &gid, members).await?;
    eprintln!(
        "big groups: seeded {members} members in {:.1}s",
        seeded.elapsed().as_secs_f64()
    );
    let mut pump = StreamPump::new(
        sdk,
        endpoint,
        state.store.table().to_string(),
        StartingPosition::Latest,
    );
    pump.poll_all().await?;
    let worker = CleanupService::new(state.store.clone(), DEFAULT_CLEANUP_BUDGET);

    let before = state.store.metrics().snapshot();
    let started = Instant::now();
    let (status, body) = bench
        .scim("DELETE", &format!("/Groups/{gid}"), None)
        .await?;
    let answered = started.elapsed();
    let request_cost = state.store.metrics().snapshot() - before;
    if status != 204 {
        return Err(format!("delete group: {status} {body}").into());
    }
    let prefix = format!("DIR#{dir_id}#GROUP#{gid}");
    let before = state.store.metrics().snapshot();
    let mut invocations = 0;
    loop {
        let mut wakes = pump.poll_all().await?;
        wakes.retain(|r| r.is_cleanup_wake() && r.partition_key() == Some(prefix.as_str()));
        for batch in batches(wakes, 10) {
            invocations += 1;
            let response = worker.handle_stream(&batch).await;
            if !response.batch_item_failures.is_empty() {
                return Err(format!("clean-up failed: {response:?}").into());
            }
        }
        if state.store.get_cleanup_job(&dir_id, &gid).await?.is_none() {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err("the clean-up did not finish within 30 minutes".into());
        }
        // As Lambda's mapping polls a shard: about four times a second when idle.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let finished = started.elapsed();
    let worker_cost = state.store.metrics().snapshot() - before;
    let left = state.store.group_members_up_to(&dir_id, &gid, 1).await?.0;
    if !left.is_empty() {
        return Err("the job finished with member items left".into());
    }
    Ok(CleanupTimes {
        answered,
        request_cost,
        finished,
        invocations,
        worker_cost,
    })
}

/// The section: one DELETE of a `members`-member group and its clean-up.
pub async fn section(
    state: AppState,
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
    members: usize,
) -> BenchResult<String> {
    let t = delete_and_clean_up(&state, sdk, endpoint, members).await?;
    let chunks = members.div_ceil(scimlink::directory::cleanup::CLEANUP_CHUNK);
    Ok(format!(
        "{HEADING}\n\n\
         A DELETE of a group past {threshold} members answers once the group, its name and its\n\
         attachment are gone (one transaction with the clean-up job); its member items are removed\n\
         afterwards by the `group-cleanup` worker, woken by the job's stream record, in chunks of\n\
         {chunk} (one transaction each, with the job's progress). Here the worker is driven through\n\
         the pump path: DynamoDB Local's stream read by `scimlink::events::pump`, the job's records\n\
         handed to the handler in-process with Lambda's budget ({budget} s per invocation). The\n\
         seeded members have no accounts, so no access events are derived; each chunk still reads\n\
         the group's org group and the directory's safeguard, as any removal does.\n\n\
         | DELETE of a {members}-member group | ms | DynamoDB requests | RCU | WCU |\n\
         |---|---:|---:|---:|---:|\n\
         | time to answer | {answer} | {rq} | {rr:.1} | {rw:.1} |\n\
         | time until the clean-up finishes ({chunks} chunks, {inv} worker invocation(s)) | {done} | {wq} | {wr:.1} | {ww:.1} |\n",
        threshold = scimlink::directory::cleanup::ASYNC_CLEANUP_THRESHOLD,
        chunk = scimlink::directory::cleanup::CLEANUP_CHUNK,
        budget = DEFAULT_CLEANUP_BUDGET.as_secs(),
        answer = t.answered.as_millis(),
        rq = t.request_cost.requests,
        rr = t.request_cost.read_units,
        rw = t.request_cost.write_units,
        done = t.finished.as_millis(),
        inv = t.invocations,
        wq = t.worker_cost.requests,
        wr = t.worker_cost.read_units,
        ww = t.worker_cost.write_units,
    ))
}
