//! The big-groups section (`scimlink-local bench-big-groups [members]`, and part of
//! `make bench`): a DELETE of a group of 100,000 members, a PUT replacing such a group's
//! members, and the sync of such a held group; for each, the time it takes to answer and
//! the time until its asynchronous job has finished, the worker driven as on AWS: the
//! table's stream read by the pump code (`scimlink::events::pump`), the queued job's
//! records handed to the `group-cleanup` handler in batches of 10.

use std::time::{Duration, Instant};

use scimlink::directory::cleanup::JobSlot;
use scimlink::events::cleanup::{CleanupService, DEFAULT_CLEANUP_BUDGET};
use scimlink::events::pump::{batches, StartingPosition, StreamPump};
use scimlink::http::AppState;
use scimlink::store::MetricsSnapshot;
use serde_json::json;

use super::{seed_conflict, seeded_group, setup, BenchResult, OPERATOR_KEY};

pub const HEADING: &str = "## Big groups";

/// What one big-group request and its job took.
struct JobTimes {
    answered: Duration,
    request_cost: MetricsSnapshot,
    finished: Duration,
    invocations: usize,
    worker_cost: MetricsSnapshot,
}

/// The group's job that a request leaves behind: the membership slot (a DELETE's clean-up,
/// a PUT's replace) or the sync slot.
#[derive(Clone, Copy)]
enum Job {
    Membership,
    Sync,
}

/// Sends one request (as `send` makes it) about group `gid` of `dir_id`, expects `status`,
/// then drives the `group-cleanup` worker from the table's stream, as the mapping would,
/// until the group's `job` is gone.
async fn answer_and_settle<F, Fut>(
    state: &AppState,
    pump: &mut StreamPump,
    (dir_id, gid): (&str, &str),
    job: Job,
    status: u16,
    send: F,
) -> BenchResult<JobTimes>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = BenchResult<(u16, serde_json::Value)>>,
{
    pump.poll_all().await?;
    let worker = CleanupService::new(state.store.clone(), DEFAULT_CLEANUP_BUDGET);
    let before = state.store.metrics().snapshot();
    let started = Instant::now();
    let (answered_status, body) = send().await?;
    let answered = started.elapsed();
    let request_cost = state.store.metrics().snapshot() - before;
    if answered_status != status {
        return Err(format!("the request answered {answered_status} {body}").into());
    }
    let slot = match job {
        Job::Membership => JobSlot::Membership,
        Job::Sync => JobSlot::Sync,
    };
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
                return Err(format!("the job failed: {response:?}").into());
            }
        }
        if state.store.get_job(dir_id, gid, slot).await?.is_none() {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err("the job did not finish within 30 minutes".into());
        }
        // As Lambda's mapping polls a shard: about four times a second when idle.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(JobTimes {
        answered,
        request_cost,
        finished: started.elapsed(),
        invocations,
        worker_cost: state.store.metrics().snapshot() - before,
    })
}

/// The three requests that leave a big group's members to a job, each on its own group
/// of `members`: (row name, what it took).
async fn rows(
    state: &AppState,
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
    members: usize,
) -> BenchResult<Vec<(String, JobTimes)>> {
    let (bench, org_id, dir_id) = setup(state).await?;
    let mut pump = StreamPump::new(
        sdk,
        endpoint,
        state.store.table().to_string(),
        StartingPosition::Latest,
    );
    let mut rows = Vec::new();

    let gid = seeded_group(state, &bench, &dir_id, "Everyone", members).await?;
    let path = format!("/Groups/{gid}");
    let t = answer_and_settle(
        state,
        &mut pump,
        (&dir_id, &gid),
        Job::Membership,
        204,
        || bench.scim("DELETE", &path, None),
    )
    .await?;
    if !state
        .store
        .group_members_up_to(&dir_id, &gid, 1)
        .await?
        .0
        .is_empty()
    {
        return Err("the clean-up finished with member items left".into());
    }
    rows.push((format!("DELETE of a {members}-member group"), t));

    // A PUT that keeps the first 1,000 seeded members (as `seed_members` names them).
    let kept = 1_000.min(members);
    let gid = seeded_group(state, &bench, &dir_id, "Replaced", members).await?;
    let target: Vec<serde_json::Value> = (0..kept)
        .map(|i| json!({"value": format!("seed-{gid}-{i:06}")}))
        .collect();
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                      "displayName": "Replaced", "members": target});
    let path = format!("/Groups/{gid}");
    let t = answer_and_settle(
        state,
        &mut pump,
        (&dir_id, &gid),
        Job::Membership,
        200,
        || bench.scim("PUT", &path, Some(body)),
    )
    .await?;
    let left = state.store.group_members(&dir_id, &gid).await?.len();
    if left != kept {
        return Err(format!("the replace finished with {left} members, not {kept}").into());
    }
    rows.push((
        format!("PUT replacing a {members}-member group's members with {kept} of them"),
        t,
    ));

    // A held group whose org group has the same accounts as admin members: the sync hands
    // it to the directory, the job walks every member, then removes every admin membership.
    let started = Instant::now();
    let gid = seed_conflict(
        &bench,
        &org_id,
        &dir_id,
        OPERATOR_KEY,
        "sync-large",
        members,
        0,
    )
    .await?;
    eprintln!(
        "big groups: seeded held group sync-large ({members} members, as many admin members) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let path = format!("/admin/v1/orgs/{org_id}/conflicts/{dir_id}/{gid}/sync");
    let t = answer_and_settle(state, &mut pump, (&dir_id, &gid), Job::Sync, 200, || {
        bench.call("POST", &path, OPERATOR_KEY, None)
    })
    .await?;
    rows.push((
        format!("sync of a held {members}-member group ({members} admin memberships replaced)"),
        t,
    ));
    Ok(rows)
}

/// The section: a DELETE, a PUT and a held group's sync of `members`-member groups, each
/// answered at once and its job run to its end.
pub async fn section(
    state: AppState,
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
    members: usize,
) -> BenchResult<String> {
    let rows = rows(&state, sdk, endpoint, members).await?;
    let mut out = format!(
        "{HEADING}\n\n\
         A DELETE of a group past {threshold} members, a PUT that replaces such a group's members\n\
         and the sync of such a held group answer once what every read must see is written (one\n\
         transaction with a job item); the member items (and for the sync, the members' access\n\
         events and the old admin memberships) are handled afterwards by the `group-cleanup`\n\
         worker, woken by the job's stream record, in chunks of {chunk} (one transaction each,\n\
         with the job's progress). Here the worker is driven through the pump path: DynamoDB\n\
         Local's stream read by `scimlink::events::pump`, the job's records handed to the handler\n\
         in-process with Lambda's budget ({budget} s per invocation). The DELETE's and the PUT's\n\
         seeded members have no accounts, so no access events are derived; each chunk still\n\
         reads the group's org group and the directory's safeguard, as any removal does. The\n\
         held group's members are linked to accounts that are already the org group's admin\n\
         members (`bench::seed_conflict`), so the sync grants nobody new access and removes\n\
         every admin membership item.\n\n\
         | request | time to answer ms | its DynamoDB requests | RCU | WCU | until the job ends ms | worker invocations | the job's DynamoDB requests | RCU | WCU |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        threshold = scimlink::directory::cleanup::ASYNC_CLEANUP_THRESHOLD,
        chunk = scimlink::directory::cleanup::CLEANUP_CHUNK,
        budget = DEFAULT_CLEANUP_BUDGET.as_secs(),
    );
    for (name, t) in rows {
        out += &format!(
            "| {name} | {} | {} | {:.1} | {:.1} | {} | {} | {} | {:.1} | {:.1} |\n",
            t.answered.as_millis(),
            t.request_cost.requests,
            t.request_cost.read_units,
            t.request_cost.write_units,
            t.finished.as_millis(),
            t.invocations,
            t.worker_cost.requests,
            t.worker_cost.read_units,
            t.worker_cost.write_units,
        );
    }
    Ok(out)
}
