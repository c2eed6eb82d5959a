//! `make bench`: what group operations cost on a 100,000-member group next to a 10-member
//! group, against DynamoDB Local: wall time, DynamoDB requests, capacity units. Writes
//! BENCHMARKS.md. The requests and capacity are what a customer pays; the times are local.

mod big_group;
mod bulk_cost;
mod events_cost;
pub mod runtime;

pub use big_group::{section as big_group_section, HEADING as BIG_GROUP_HEADING};
pub use bulk_cost::HEADING as BULK_HEADING;
pub use events_cost::HEADING as EVENTS_HEADING;

use std::time::{Duration, Instant};

use lambda_http::Body;
use scimlink::directory::model::{
    AccountRecord, AccountStatus, ManagedBy, Origin, Profile, UserRecord,
};
use scimlink::directory::plan::Record;
use scimlink::http::local::{dispatch, request};
use scimlink::http::AppState;
use scimlink::store::MetricsSnapshot;
use serde_json::{json, Value};

const OPERATOR_KEY: &str = "bench-operator-key";
const RUNS: usize = 7;
/// Held groups reviewed: (name, IdP members, differences with the org group).
const REVIEW_SIZES: [(&str, usize, usize); 2] = [
    ("review-small", 1_000, 300),
    ("review-large", 10_000, 3_000),
];

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Bench {
    state: AppState,
    token: String,
    base: String,
}

impl Bench {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> BenchResult<(u16, Value)> {
        let req = request(method, path, Some(token), body.map(|b| b.to_string()), &[])?;
        let resp = dispatch(&self.state, req).await?;
        let status = resp.status().as_u16();
        let body = match resp.into_body() {
            Body::Text(t) => serde_json::from_str(&t).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        Ok((status, body))
    }

    async fn scim(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> BenchResult<(u16, Value)> {
        self.call(
            method,
            &format!("{}{path}", self.base),
            &self.token.clone(),
            body,
        )
        .await
    }

    /// Runs `op` RUNS times; returns the median wall time and the cost of one run.
    async fn measure(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        expect: u16,
    ) -> BenchResult<(Duration, MetricsSnapshot)> {
        let mut times = Vec::new();
        let mut cost = MetricsSnapshot::default();
        for _ in 0..RUNS {
            let before = self.state.store.metrics().snapshot();
            let started = Instant::now();
            let (status, body) = self.scim(method, path, body.clone()).await?;
            times.push(started.elapsed());
            cost = self.state.store.metrics().snapshot() - before;
            if status != expect {
                return Err(format!("{method} {path}: {status} {body}").into());
            }
        }
        times.sort();
        Ok((times[RUNS / 2], cost))
    }
}

fn patch(op: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]})
}

/// Seeds `n` users and their memberships of `group_id` with bulk writes (8 writers at once).
async fn seed_members(
    state: &AppState,
    directory_id: &str,
    group_id: &str,
    n: usize,
) -> BenchResult<()> {
    let now = scimlink::clock::now();
    let mut records = Vec::with_capacity(n * 2);
    for i in 0..n {
        let id = format!("seed-{group_id}-{i:06}");
        let name = format!("{id}@bench.example.com");
        records.push(Record::User(UserRecord {
            directory_id: directory_id.into(),
            id: id.clone(),
            doc: json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "active": true}),
            version: 1,
            created: now.clone(),
            last_modified: now.clone(),
            account_id: None,
        }));
        records.push(Record::Member {
            directory_id: directory_id.into(),
            group_id: group_id.into(),
            user_id: id,
        });
    }
    put_parallel(state, records).await
}

/// A SCIM group of `members` seeded members: its id.
async fn seeded_group(
    state: &AppState,
    bench: &Bench,
    dir_id: &str,
    name: &str,
    members: usize,
) -> BenchResult<String> {
    let (status, body) = bench
        .scim("POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name})))
        .await?;
    if status != 201 {
        return Err(format!("create group: {status} {body}").into());
    }
    let gid = body["id"].as_str().ok_or("no group id")?.to_string();
    let seeded = Instant::now();
    seed_members(state, dir_id, &gid, members).await?;
    eprintln!(
        "seeded {members} members of {name} in {:.1}s",
        seeded.elapsed().as_secs_f64()
    );
    Ok(gid)
}

/// An admin API call with the operator key, answered as JSON.
async fn admin_call(
    state: &AppState,
    method: &'static str,
    path: String,
    body: Option<Value>,
) -> BenchResult<Value> {
    let req = request(
        method,
        &path,
        Some(OPERATOR_KEY),
        body.map(|b| b.to_string()),
        &[],
    )?;
    let resp = dispatch(state, req).await?;
    let text = match resp.into_body() {
        Body::Text(t) => t,
        _ => String::new(),
    };
    Ok(serde_json::from_str::<Value>(&text)?)
}

/// A bench org with one Okta directory and its SCIM token: (bench, org id, directory id).
async fn setup(state: &AppState) -> BenchResult<(Bench, String, String)> {
    let org = admin_call(
        state,
        "POST",
        "/admin/v1/orgs".into(),
        Some(json!({"name": "Bench", "verifiedDomains": ["bench.example.com"]})),
    )
    .await?;
    let org_id = org["id"].as_str().ok_or("no org id")?.to_string();
    let dir = admin_call(
        state,
        "POST",
        format!("/admin/v1/orgs/{org_id}/directories"),
        Some(json!({"name": "Bench IdP", "idp": "okta"})),
    )
    .await?;
    let dir_id = dir["id"].as_str().ok_or("no directory id")?.to_string();
    let tok = admin_call(
        state,
        "POST",
        format!("/admin/v1/orgs/{org_id}/directories/{dir_id}/tokens"),
        None,
    )
    .await?;
    let bench = Bench {
        state: state.clone(),
        token: tok["token"].as_str().ok_or("no token")?.to_string(),
        base: format!("/scim/v2/directories/{dir_id}"),
    };
    Ok((bench, org_id, dir_id))
}

/// Only the events section (`scimlink-local bench-events`): what events add to a write.
pub async fn events_only(state: AppState) -> BenchResult<String> {
    let (bench, org_id, _) = setup(&state).await?;
    let admin = |m: &'static str, p: String, b: Option<Value>| admin_call(&state, m, p, b);
    let rows = events_cost::rows(&bench, &org_id, admin).await?;
    Ok(events_cost::report(&rows))
}

/// Only the Bulk section (`scimlink-local bench-bulk`): N operations in one request vs N requests.
pub async fn bulk_only(state: AppState) -> BenchResult<String> {
    let (bench, _, _) = setup(&state).await?;
    Ok(bulk_cost::report(&bulk_cost::rows(&bench).await?))
}

pub async fn run(state: AppState, large: usize) -> BenchResult<String> {
    let admin = |m: &'static str, p: String, b: Option<Value>| admin_call(&state, m, p, b);
    let (bench, org_id, dir_id) = setup(&state).await?;

    let mut groups = Vec::new();
    for (name, size) in [("Small", 10usize), ("Large", large)] {
        let gid = seeded_group(&state, &bench, &dir_id, name, size).await?;
        groups.push((name, size, gid));
    }
    let (status, newcomer) = bench
        .scim("POST", "/Users", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "newcomer@bench.example.com"})))
        .await?;
    if status != 201 {
        return Err(format!("create user: {status} {newcomer}").into());
    }
    let uid = newcomer["id"].as_str().ok_or("no user id")?.to_string();

    let mut rows = Vec::new();
    for (name, size, gid) in &groups {
        let path = format!("/Groups/{gid}");
        // Add then remove, alternating, so that every run really changes the membership.
        let mut add_times = Vec::new();
        let mut remove_times = Vec::new();
        let (mut add_cost, mut remove_cost) =
            (MetricsSnapshot::default(), MetricsSnapshot::default());
        for _ in 0..RUNS {
            let (t, c) = bench_once(
                &bench,
                &path,
                patch(json!({"op": "add", "path": "members", "value": [{"value": uid}]})),
            )
            .await?;
            add_times.push(t);
            add_cost = c;
            let (t, c) = bench_once(
                &bench,
                &path,
                patch(json!({"op": "remove", "path": format!("members[value eq \"{uid}\"]")})),
            )
            .await?;
            remove_times.push(t);
            remove_cost = c;
        }
        add_times.sort();
        remove_times.sort();
        let (get_time, get_cost) = bench
            .measure(
                "GET",
                &format!("{path}?excludedAttributes=members"),
                None,
                200,
            )
            .await?;
        let (filter_time, filter_cost) = bench
            .measure(
                "GET",
                &format!(
                    "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22{name}%22"
                ),
                None,
                200,
            )
            .await?;
        rows.push((
            format!("add one member ({name}, {size})"),
            add_times[RUNS / 2],
            add_cost,
        ));
        rows.push((
            format!("remove one member ({name}, {size})"),
            remove_times[RUNS / 2],
            remove_cost,
        ));
        rows.push((
            format!("GET excludedAttributes=members ({name}, {size})"),
            get_time,
            get_cost,
        ));
        rows.push((
            format!("filter displayName eq, excludedAttributes=members ({name}, {size})"),
            filter_time,
            filter_cost,
        ));
    }
    let review_rows = review_section(&bench, &org_id, &dir_id, OPERATOR_KEY).await?;
    let event_rows = events_cost::rows(&bench, &org_id, admin).await?;
    let bulk_rows = bulk_cost::rows(&bench).await?;
    Ok(report(&rows, large)
        + &review_report(&review_rows)
        + &events_cost::report(&event_rows)
        + &bulk_cost::report(&bulk_rows))
}

/// A held group of `members` IdP members whose review differs from the org group in
/// `diff` accounts (half to add, half to remove): seeded, then reviewed.
async fn seed_conflict(
    bench: &Bench,
    org_id: &str,
    dir_id: &str,
    key: &str,
    name: &str,
    members: usize,
    diff: usize,
) -> BenchResult<String> {
    let base = format!("/admin/v1/orgs/{org_id}");
    let (status, og) = bench
        .call(
            "POST",
            &format!("{base}/org-groups"),
            key,
            Some(json!({"name": name, "roles": []})),
        )
        .await?;
    if status != 201 {
        return Err(format!("org group: {status} {og}").into());
    }
    let og_id = og["id"].as_str().ok_or("no org group id")?.to_string();
    let (status, g) = bench
        .scim("POST", "/Groups", Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name})))
        .await?;
    if status != 201 {
        return Err(format!("held group: {status} {g}").into());
    }
    let gid = g["id"].as_str().ok_or("no group id")?.to_string();
    let now = scimlink::clock::now();
    let half = diff / 2;
    let mut records = Vec::new();
    // IdP members 0..members, linked to accounts; the org group has half..members plus `half` others.
    for i in 0..members + half {
        let account_id = format!("acct-{name}-{i:06}");
        records.push(Record::Account(AccountRecord {
            org_id: org_id.into(),
            id: account_id.clone(),
            email: format!("{account_id}@bench.example.com"),
            origin: Origin::Scim,
            managed_by: ManagedBy::Directory {
                directory_id: dir_id.into(),
            },
            status: AccountStatus::Active,
            profile: Profile::default(),
            link: None,
            hold: None,
            assigned_roles: Vec::new(),
            version: 1,
            created: now.clone(),
            last_modified: now.clone(),
        }));
        if i < members {
            let user_id = format!("user-{name}-{i:06}");
            records.push(Record::User(UserRecord {
                directory_id: dir_id.into(),
                id: user_id.clone(),
                doc: json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("{user_id}@bench.example.com")}),
                version: 1,
                created: now.clone(),
                last_modified: now.clone(),
                account_id: Some(account_id.clone()),
            }));
            records.push(Record::Member {
                directory_id: dir_id.into(),
                group_id: gid.clone(),
                user_id,
            });
        }
        if i >= half {
            records.push(Record::OrgMember {
                org_id: org_id.into(),
                org_group_id: og_id.clone(),
                account_id,
            });
        }
    }
    put_parallel(&bench.state, records).await?;
    Ok(gid)
}

async fn put_parallel(state: &AppState, records: Vec<Record>) -> BenchResult<()> {
    let chunk = records.len().div_ceil(8).max(1);
    let mut tasks = Vec::new();
    for part in records.chunks(chunk) {
        let store = state.store.clone();
        let part = part.to_vec();
        tasks.push(tokio::spawn(async move { store.put_all(part).await }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn review_section(
    bench: &Bench,
    org_id: &str,
    dir_id: &str,
    key: &str,
) -> BenchResult<Vec<(String, Duration, MetricsSnapshot)>> {
    let mut rows = Vec::new();
    for (name, members, diff) in [
        ("review-small", 1_000usize, 300usize),
        ("review-large", 10_000, 3_000),
    ] {
        let started = Instant::now();
        let gid = seed_conflict(bench, org_id, dir_id, key, name, members, diff).await?;
        eprintln!(
            "seeded held group {name} ({members} members) in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let path = format!("/admin/v1/orgs/{org_id}/conflicts/{dir_id}/{gid}?limit=100");
        let before = bench.state.store.metrics().snapshot();
        let t0 = Instant::now();
        let (status, body) = bench.call("GET", &path, key, None).await?;
        let elapsed = t0.elapsed();
        let cost = bench.state.store.metrics().snapshot() - before;
        if status != 200
            || body["added"].as_u64() != Some((diff / 2) as u64)
            || body["removed"].as_u64() != Some((diff / 2) as u64)
        {
            return Err(format!(
                "review {name}: {status} added {} removed {}",
                body["added"], body["removed"]
            )
            .into());
        }
        rows.push((format!("review of a held group: {members} members, {diff} differences, first page of 100+100 accounts with access"), elapsed, cost));
    }
    Ok(rows)
}

fn review_report(rows: &[(String, Duration, MetricsSnapshot)]) -> String {
    let mut out = String::from(
        "\n## Group conflicts: the review's cost grows with the members, not the directory\n\n",
    );
    out.push_str("The numbers (accounts added, removed, unchanged) are computed over every member; the per-account\n");
    out.push_str(
        "access changes are computed for the accounts on the page shown (a few requests per account).\n\n",
    );
    out.push_str("| operation | ms | DynamoDB requests | RCU | WCU |\n|---|---:|---:|---:|---:|\n");
    for (name, t, c) in rows {
        out.push_str(&format!(
            "| {name} | {:.1} | {} | {:.1} | {:.1} |\n",
            t.as_secs_f64() * 1000.0,
            c.requests,
            c.read_units,
            c.write_units
        ));
    }
    if let [small, large] = rows {
        out.push_str(&format!(
            "\nRatio large / small: members {:.1}, requests {:.2}, RCU {:.2}.\n",
            REVIEW_SIZES[1].1 as f64 / REVIEW_SIZES[0].1 as f64,
            large.2.requests as f64 / small.2.requests.max(1) as f64,
            large.2.read_units / small.2.read_units.max(0.001)
        ));
    }
    out
}

async fn bench_once(
    bench: &Bench,
    path: &str,
    body: Value,
) -> BenchResult<(Duration, MetricsSnapshot)> {
    let before = bench.state.store.metrics().snapshot();
    let started = Instant::now();
    let (status, resp) = bench.scim("PATCH", path, Some(body)).await?;
    let elapsed = started.elapsed();
    if status != 204 {
        return Err(format!("PATCH {path}: {status} {resp}").into());
    }
    Ok((elapsed, bench.state.store.metrics().snapshot() - before))
}

fn report(rows: &[(String, Duration, MetricsSnapshot)], large: usize) -> String {
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str("Regenerated by `make bench` (tools/src/bench.rs) against DynamoDB Local on this machine;\n");
    out.push_str(
        "handlers run in-process. Requests and capacity units are what DynamoDB bills per call\n",
    );
    out.push_str("(DynamoDB Local reports capacity as AWS computes it); times are local and indicative only.\n");
    out.push_str(&format!(
        "Median of {RUNS} runs. The large group has {large} members.\n\n"
    ));
    out.push_str("## Group membership: cost of one change, whatever the group's size\n\n");
    out.push_str(
        "| operation | median ms | DynamoDB requests | RCU | WCU |\n|---|---:|---:|---:|---:|\n",
    );
    for (name, t, c) in rows {
        out.push_str(&format!(
            "| {name} | {:.1} | {} | {:.1} | {:.1} |\n",
            t.as_secs_f64() * 1000.0,
            c.requests,
            c.read_units,
            c.write_units
        ));
    }
    out.push_str("\n### Ratio large / small\n\n| operation | requests | RCU | WCU | time |\n|---|---:|---:|---:|---:|\n");
    for pair in rows.chunks(4).collect::<Vec<_>>().windows(2) {
        for (small, big) in pair[0].iter().zip(pair[1].iter()) {
            let ratio = |a: f64, b: f64| {
                if a == 0.0 {
                    if b == 0.0 {
                        1.0
                    } else {
                        f64::INFINITY
                    }
                } else {
                    b / a
                }
            };
            let op = small.0.split(" (").next().unwrap_or_default();
            out.push_str(&format!(
                "| {op} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
                ratio(small.2.requests as f64, big.2.requests as f64),
                ratio(small.2.read_units, big.2.read_units),
                ratio(small.2.write_units, big.2.write_units),
                ratio(small.1.as_secs_f64(), big.1.as_secs_f64()),
            ));
        }
    }
    out
}

/// Events the push benchmark writes and measures.
pub const PUSH_EVENTS: usize = 1_000;
pub const PUSH_HEADING: &str = "## Push latency: commit to receiver";

/// One push latency run: `events` change items written one transaction at a time
/// through `store.apply`, read from DynamoDB Local's stream by the in-process pump (at once
/// while records come, else every 250 ms, as Lambda's mapping polls a shard), pushed by
/// the `events` handler to a loopback receiver that verifies every SET. Measured per event:
/// from `apply` returning to the receiver having it.
async fn push_run(
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
    store: &scimlink::store::Store,
    events: usize,
    pace: Duration,
) -> BenchResult<String> {
    use scimlink::directory::model::{ChangeRecord, ChangeSubject};
    use scimlink::directory::plan::{Condition, Plan};
    use scimlink::events::dead_letter::DeadLetters;
    use scimlink::events::outbound::PushClient;
    use scimlink::events::pump::{batches, StartingPosition, StreamPump};
    use scimlink::events::push::{EventsService, PushConfig};
    use scimlink::events::set::EventsKey;
    use scimlink::events::subscription::{DeliveryMethod, SubscriptionRecord, SubscriptionStatus};
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let started = Instant::now();
    let org = format!("bench-push-{}", uuid::Uuid::new_v4().simple());
    let receiver = scimlink_tools::receiver::Receiver::start(0, None, false).await?;
    let now = scimlink::clock::now();
    let sub = SubscriptionRecord {
        org_id: org.clone(),
        id: "bench-sub".into(),
        name: "bench receiver".into(),
        delivery: DeliveryMethod::Push {
            url: receiver.url(),
        },
        events: vec![],
        status: SubscriptionStatus::Active,
        key_generation: 0,
        version: 1,
        created: now.clone(),
        last_modified: now,
    };
    let mut plan = Plan::default();
    plan.put(Record::Subscription(sub.clone()), Condition::Absent);
    store.apply(&plan).await?;
    while store.subscriptions_of_org(&org).await?.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let key = EventsKey::from_secret("bench-events-key-0123456789abcdef0123456789");
    receiver.set_secret(Some(key.signing_secret(&sub)));
    let config = PushConfig::default();
    let service = EventsService::new(
        store.clone(),
        key,
        PushClient::with_loopback(config.timeouts(), true)?,
        DeadLetters::Log,
        config,
    );
    let mut pump = StreamPump::new(sdk, endpoint, store.table(), StartingPosition::Latest);
    pump.poll_all().await?;
    let stop = Arc::new(AtomicBool::new(false));
    let pumping = {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match pump.poll().await {
                    // A busy stream is read again at once, as Lambda reads a shard.
                    Ok(records) if !records.is_empty() => {
                        for batch in batches(records, 100) {
                            service.handle_stream(&batch).await;
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => eprintln!("pump: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let commits: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    for i in 0..events {
        let change = ChangeRecord {
            org_id: org.clone(),
            directory_id: Some("bench-dir".into()),
            time: scimlink::clock::now(),
            txn: uuid::Uuid::new_v4().simple().to_string(),
            seq: 0,
            id: uuid::Uuid::new_v4().simple().to_string(),
            request_id: None,
            event: "prov:patch".into(),
            subject: ChangeSubject {
                resource_type: "User".into(),
                id: format!("u{}", i % 50),
                directory_id: Some("bench-dir".into()),
                external_id: None,
                email: None,
                version: Some(i as u64 + 2),
            },
            data: json!({"data": {"displayName": format!("User {i}")}, "previous": {"displayName": "x"}}),
        };
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        let mut plan = Plan::default();
        plan.put(
            Record::Changes(scimlink::directory::model::ChangeBatch {
                events: vec![change.clone()],
            }),
            Condition::Always,
        );
        store.apply(&plan).await?;
        if let Ok(mut c) = commits.lock() {
            c.insert(change.id, Instant::now());
        }
    }
    let written = started.elapsed();
    let all = receiver.wait_for(events, Duration::from_secs(300)).await;
    stop.store(true, Ordering::SeqCst);
    let _ = pumping.await;
    if !all || receiver.invalid() > 0 {
        return Err(format!(
            "push bench: {} of {events} events arrived, {} with a bad signature",
            receiver.unique_jtis().len(),
            receiver.invalid()
        )
        .into());
    }
    let commits = commits.lock().map(|c| c.clone()).unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let mut latencies: Vec<Duration> = receiver
        .received()
        .into_iter()
        .filter(|r| seen.insert(r.jti.clone()))
        .filter_map(|r| {
            commits
                .get(&r.jti)
                .map(|c| r.at.saturating_duration_since(*c))
        })
        .collect();
    latencies.sort();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "push bench: {events} events in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(format!(
        "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | 0 |\n",
        if pace.is_zero() {
            "back to back".to_string()
        } else {
            format!("one every {} ms", pace.as_millis())
        },
        latencies.len(),
        events as f64 / written.as_secs_f64().max(0.001),
        ms(pick(0.5)),
        ms(pick(0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
        receiver.jtis().len() - receiver.unique_jtis().len(),
    ))
}

/// The push latency section: [`push_run`] back to back, then paced at 50 a second.
pub async fn push_section(
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
    store: &scimlink::store::Store,
    events: usize,
) -> BenchResult<String> {
    let started = Instant::now();
    let flat_out = push_run(sdk, endpoint, store, events, Duration::ZERO).await?;
    let paced = push_run(sdk, endpoint, store, events, Duration::from_millis(20)).await?;
    Ok(format!(
        "{PUSH_HEADING}\n\n\
         Change events, one transaction each, written one after the other through `store.apply`, all\n\
         to one org with one push subscription; DynamoDB Local's stream read by the in-process pump\n\
         (`scimlink::events::pump`: at once while records come, else every 250 ms, as Lambda's event\n\
         source mapping polls a shard about four times a second); the `events` handler enqueues and\n\
         pushes each SET to a loopback receiver that verifies every signature. Latency is from `apply`\n\
         returning to the receiver having the SET. Back to back, the writer outpaces what one shard and\n\
         one subscription drain on DynamoDB Local, so the latency there is mostly queueing; paced, it is\n\
         the pipeline's own. On AWS the mapping's `MaximumBatchingWindowInSeconds: 1` may add up to a\n\
         second.\n\n\
         | writes | events | writes/s | median ms | p99 ms | max ms | duplicates | bad signatures |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n\
         {flat_out}{paced}\n\
         The section took {:.1} s.\n",
        started.elapsed().as_secs_f64(),
    ))
}

/// `current` (BENCHMARKS.md) with the section under `heading` replaced by `section` (or
/// added at the end).
pub fn replace_section(current: &str, heading: &str, section: &str) -> String {
    let Some(start) = current.find(heading) else {
        let sep = if current.is_empty() || current.ends_with("\n\n") {
            ""
        } else if current.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        };
        return format!("{current}{sep}{section}");
    };
    let after = &current[start + heading.len()..];
    let end = after
        .find("\n## ")
        .map(|i| start + heading.len() + i + 1)
        .unwrap_or(current.len());
    format!(
        "{}{section}{}",
        &current[..start],
        if end < current.len() {
            format!("\n{}", &current[end..])
        } else {
            String::new()
        }
    )
}
