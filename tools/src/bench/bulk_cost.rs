//! `make bench`, Bulk (S8): N creates in one Bulk request next to the same N creates as
//! single requests. Each Bulk operation is served by the single request's code, so the
//! difference is what one request saves: the token lookup, and the HTTP round trips.

use std::time::{Duration, Instant};

use scimlink::scim::bulk::{BULK_REQUEST, MAX_BULK_OPERATIONS};
use scimlink::store::MetricsSnapshot;
use serde_json::{json, Value};

use super::{Bench, BenchResult};

/// The heading of this section in BENCHMARKS.md.
pub const HEADING: &str = "## Bulk (S8): one request of N operations vs N single requests";

pub struct Row {
    operation: String,
    requests: usize,
    single: (Duration, MetricsSnapshot),
    bulk: (Duration, MetricsSnapshot),
}

fn user(email: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email,
           "emails": [{"value": email, "primary": true}], "active": true})
}

fn group(name: &str, members: &[String]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members})
}

/// Runs `f` and returns its wall time and what it cost.
async fn timed<T>(
    bench: &Bench,
    f: impl std::future::Future<Output = BenchResult<T>>,
) -> BenchResult<(Duration, MetricsSnapshot)> {
    let before = bench.state.store.metrics().snapshot();
    let started = Instant::now();
    f.await?;
    Ok((
        started.elapsed(),
        bench.state.store.metrics().snapshot() - before,
    ))
}

/// `users` single creates, then a group of them when `with_group`: each must succeed.
async fn singles(bench: &Bench, prefix: &str, users: usize, with_group: bool) -> BenchResult<()> {
    let mut ids = Vec::with_capacity(users);
    for i in 0..users {
        let email = format!("{prefix}-{i}@bench.example.com");
        let (status, body) = bench.scim("POST", "/Users", Some(user(&email))).await?;
        if status != 201 {
            return Err(format!("create user: {status} {body}").into());
        }
        ids.push(body["id"].as_str().ok_or("no user id")?.to_string());
    }
    if with_group {
        let (status, body) = bench
            .scim("POST", "/Groups", Some(group(prefix, &ids)))
            .await?;
        if status != 201 {
            return Err(format!("create group: {status} {body}").into());
        }
    }
    Ok(())
}

/// The same as one Bulk request, the group naming the users by bulkId.
async fn bulk(bench: &Bench, prefix: &str, users: usize, with_group: bool) -> BenchResult<()> {
    let mut ops: Vec<Value> = (0..users)
        .map(|i| {
            let email = format!("{prefix}-{i}@bench.example.com");
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": user(&email)})
        })
        .collect();
    if with_group {
        let refs: Vec<String> = (0..users).map(|i| format!("bulkId:u{i}")).collect();
        ops.push(json!({"method": "POST", "path": "/Groups", "bulkId": "g", "data": group(prefix, &refs)}));
    }
    let (status, body) = bench
        .scim(
            "POST",
            "/Bulk",
            Some(json!({"schemas": [BULK_REQUEST], "Operations": ops})),
        )
        .await?;
    let all_created = body["Operations"]
        .as_array()
        .is_some_and(|a| a.len() == ops.len() && a.iter().all(|o| o["status"] == "201"));
    if status != 200 || !all_created {
        return Err(format!("bulk: {status} {body}").into());
    }
    Ok(())
}

/// A full Bulk request of user creates, and of user creates and a group of them.
pub async fn rows(bench: &Bench) -> BenchResult<Vec<Row>> {
    let mut rows = Vec::new();
    for (label, users, with_group) in [
        ("create users", MAX_BULK_OPERATIONS, false),
        (
            "create users, then a group of them",
            MAX_BULK_OPERATIONS - 1,
            true,
        ),
    ] {
        let tag = if with_group { "grouped" } else { "plain" };
        let single = timed(
            bench,
            singles(bench, &format!("single-{tag}"), users, with_group),
        )
        .await?;
        let bulk = timed(
            bench,
            bulk(bench, &format!("bulk-{tag}"), users, with_group),
        )
        .await?;
        rows.push(Row {
            operation: label.into(),
            requests: users + usize::from(with_group),
            single,
            bulk,
        });
    }
    Ok(rows)
}

pub fn report(rows: &[Row]) -> String {
    let mut out = format!("\n{HEADING}\n\n");
    out.push_str(
        "Each Bulk operation runs through the single request's code (the same reads, \
         transaction, log and events), one after the other, so the DynamoDB requests are \
         sequential round trips in both columns. A Bulk request saves the token lookup of \
         every request but the first, and the client's HTTP round trips (not measured: \
         handlers run in-process). Times are local.\n\n",
    );
    out.push_str("| operations | as | ms | DynamoDB requests | per operation | RCU | WCU |\n|---|---|---:|---:|---:|---:|---:|\n");
    for r in rows {
        for (how, (time, cost)) in [
            ("single requests", &r.single),
            ("one Bulk request", &r.bulk),
        ] {
            out.push_str(&format!(
                "| {} ({}) | {how} | {:.0} | {} | {:.2} | {:.1} | {:.1} |\n",
                r.operation,
                r.requests,
                time.as_secs_f64() * 1000.0,
                cost.requests,
                cost.requests as f64 / r.requests as f64,
                cost.read_units,
                cost.write_units,
            ));
        }
    }
    out
}
