//! `make bench`, events (E5): what the change events add to a write. Each write's events
//! are one change item in its transaction; the table shows the whole write's requests and
//! capacity, the change item's size, and the write units that item costs (two per KB in a
//! transaction) — the share of the WCU that events add.

use scimlink::directory::model::ChangeBatch;
use scimlink::directory::plan::Record;
use scimlink::store::{item_size, record_item, MetricsSnapshot};
use serde_json::{json, Value};

use super::{patch, Bench, BenchResult};

pub struct Row {
    operation: String,
    cost: MetricsSnapshot,
    change_bytes: usize,
    events: usize,
}

/// The change item of the org's newest transaction: its events and size.
async fn newest_change(bench: &Bench, org_id: &str) -> BenchResult<(usize, usize)> {
    let day = &scimlink::clock::now()[..10];
    let all = bench.state.store.changes_of_day(org_id, day, "").await?;
    let Some(newest) = all
        .iter()
        .max_by_key(|c| c.order_key())
        .map(|c| c.txn.clone())
    else {
        return Ok((0, 0));
    };
    let mut events: Vec<_> = all.into_iter().filter(|c| c.txn == newest).collect();
    events.sort_by_key(|c| c.seq);
    let n = events.len();
    let item = record_item(&Record::Changes(ChangeBatch { events }))?;
    Ok((item_size(&item), n))
}

async fn measured(
    bench: &Bench,
    org_id: &str,
    operation: &str,
    method: &str,
    path: &str,
    body: Value,
) -> BenchResult<(Row, Value)> {
    let before = bench.state.store.metrics().snapshot();
    let (status, resp) = bench.scim(method, path, Some(body)).await?;
    let cost = bench.state.store.metrics().snapshot() - before;
    if !(200..300).contains(&status) {
        return Err(format!("{method} {path}: {status} {resp}").into());
    }
    let (change_bytes, events) = newest_change(bench, org_id).await?;
    Ok((
        Row {
            operation: operation.into(),
            cost,
            change_bytes,
            events,
        },
        resp,
    ))
}

/// Creates, updates and group pushes with and without product access at stake.
pub async fn rows(
    bench: &Bench,
    org_id: &str,
    admin: impl AsyncFn(&'static str, String, Option<Value>) -> BenchResult<Value>,
) -> BenchResult<Vec<Row>> {
    let org = format!("/admin/v1/orgs/{org_id}");
    admin(
        "POST",
        format!("{org}/sites"),
        Some(json!({"id": "site", "name": "bench.example.net"})),
    )
    .await?;
    admin(
        "POST",
        format!("{org}/products"),
        Some(json!({"id": "jira", "name": "Jira", "siteId": "site", "roles": ["user"]})),
    )
    .await?;
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "events-1@bench.example.com", "emails": [{"value": "events-1@bench.example.com", "primary": true}], "name": {"givenName": "Eve", "familyName": "Bench"}, "active": true});
    let mut rows = Vec::new();
    let (row, created) = measured(
        bench,
        org_id,
        "create a user (new account)",
        "POST",
        "/Users",
        user,
    )
    .await?;
    rows.push(row);
    let uid = created["id"].as_str().ok_or("no user id")?.to_string();
    let (row, _) = measured(
        bench,
        org_id,
        "PATCH a user's title",
        "PATCH",
        &format!("/Users/{uid}"),
        patch(json!({"op": "replace", "path": "title", "value": "Engineer"})),
    )
    .await?;
    rows.push(row);
    let group = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name});
    let (_, plain) = measured(
        bench,
        org_id,
        "create a group",
        "POST",
        "/Groups",
        group("events-plain"),
    )
    .await?;
    let plain = plain["id"].as_str().ok_or("no group id")?.to_string();
    let (_, roled) = measured(
        bench,
        org_id,
        "create a group",
        "POST",
        "/Groups",
        group("events-jira"),
    )
    .await?;
    let roled = roled["id"].as_str().ok_or("no group id")?.to_string();
    let groups = admin("GET", format!("{org}/org-groups"), None).await?;
    let og = groups["groups"]
        .as_array()
        .and_then(|a| a.iter().find(|g| g["name"] == "events-jira"))
        .and_then(|g| g["id"].as_str())
        .ok_or("no org group")?
        .to_string();
    admin(
        "PUT",
        format!("{org}/org-groups/{og}/roles"),
        Some(json!({"roles": ["jira/user"]})),
    )
    .await?;
    let add = patch(json!({"op": "add", "path": "members", "value": [{"value": uid}]}));
    let remove = patch(json!({"op": "remove", "path": format!("members[value eq \"{uid}\"]")}));
    for (label, gid) in [("grants no role", &plain), ("grants jira/user", &roled)] {
        let path = format!("/Groups/{gid}");
        let (row, _) = measured(
            bench,
            org_id,
            &format!("PATCH group: add one member (group {label})"),
            "PATCH",
            &path,
            add.clone(),
        )
        .await?;
        rows.push(row);
        let (row, _) = measured(
            bench,
            org_id,
            &format!("PATCH group: remove one member (group {label})"),
            "PATCH",
            &path,
            remove.clone(),
        )
        .await?;
        rows.push(row);
    }
    Ok(rows)
}

/// The heading of this section in BENCHMARKS.md.
pub const HEADING: &str = "## Events (E5): what they add to a write";

pub fn report(rows: &[Row]) -> String {
    let mut out = format!("\n{HEADING}\n\n");
    out.push_str("Every write's events are one change item in its transaction. \"Events WCU\" is what that item costs (2 WCU per KB, in a transaction): the write units events add. Reads for access events happen only when the write can change someone's product roles.\n\n");
    out.push_str("| operation | DynamoDB requests | RCU | WCU | events | change item bytes | events WCU |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {} | {} | {} |\n",
            r.operation,
            r.cost.requests,
            r.cost.read_units,
            r.cost.write_units,
            r.events,
            r.change_bytes,
            2 * r.change_bytes.div_ceil(1024),
        ));
    }
    out
}
