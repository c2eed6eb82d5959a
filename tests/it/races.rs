//! Races: at least 16 concurrent writers (tokio tasks on a multi-threaded runtime, sharing
//! one `AppState`) race each kind of write. A writer that gets 429 or 503 (contention) sends
//! the same request again, as an IdP would (after a short pause rather than the advertised
//! `Retry-After` seconds, to keep the tests short). Afterwards nothing acknowledged is lost,
//! and the whole-table invariants hold. Each test has a private table, so the checker's Scan
//! reads only its own items.

use std::sync::Arc;

use scimlink::http::AppState;
use serde_json::{json, Value};

use crate::common::{okta_user, patch_op, Response, TestDirectory, OPERATOR_KEY};
use crate::invariants::assert_invariants;
use crate::tables::{plain_store, PrivateTable};

const WRITERS: usize = 16;
/// How often one writer sends a request that keeps answering 429/503.
const TRIES: usize = 40;

async fn setup(tag: &str) -> (PrivateTable, Arc<TestDirectory>) {
    let table = PrivateTable::create(tag).await;
    let state = AppState::new(plain_store(&table.name).await, Some(OPERATOR_KEY));
    (table, Arc::new(TestDirectory::on(state, "okta").await))
}

/// What one writer saw: its final answer, and every answer that was not final.
struct Outcome {
    final_: Response,
    retried: Vec<(u16, Option<String>)>,
}

enum Call {
    Scim(&'static str, String, Option<Value>),
    Admin(&'static str, String),
}

async fn send(t: Arc<TestDirectory>, call: Call) -> Outcome {
    let mut retried = Vec::new();
    for _ in 0..TRIES {
        let r = match &call {
            Call::Scim(m, p, b) => Box::pin(t.scim(m, p.clone(), b.clone())).await,
            Call::Admin(m, p) => Box::pin(t.org_admin(m, p, None)).await,
        };
        // 429/503 under contention; an admin's 409 "a concurrent change won; retry" is
        // retried too (an admin would), but it is not the policy, so it is reported.
        let contended = matches!(r.status, 429 | 503)
            || (matches!(call, Call::Admin(..))
                && r.status == 409
                && r.body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("concurrent")));
        if !contended {
            return Outcome { final_: r, retried };
        }
        retried.push((r.status, r.header("retry-after").map(str::to_string)));
        let pause = 5 + rand::random::<u64>() % 25;
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
    }
    panic!("{} tries kept answering 429/503", TRIES);
}

/// Runs the calls at once, each in its own task.
async fn race(t: &Arc<TestDirectory>, calls: Vec<Call>) -> Vec<Outcome> {
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|c| tokio::spawn(send(t.clone(), c)))
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("writer task"));
    }
    out
}

/// Contention answers only 429 or 503, always with `Retry-After` (S7); never 500.
fn policy(outcomes: &[Outcome]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        for (status, retry_after) in &o.retried {
            if !matches!(status, 429 | 503) || retry_after.is_none() {
                problems.push(format!(
                    "writer {i}: answered {status} (Retry-After {retry_after:?}) under contention, want 429/503 with Retry-After"
                ));
            }
        }
        if o.final_.status >= 500 {
            problems.push(format!(
                "writer {i}: answered {}: {}",
                o.final_.status, o.final_.body
            ));
        }
    }
    problems
}

fn statuses(outcomes: &[Outcome]) -> Vec<u16> {
    outcomes.iter().map(|o| o.final_.status).collect()
}

async fn finish(table: PrivateTable, t: Arc<TestDirectory>, problems: Vec<String>) {
    assert_invariants(&t.state.store, &t.org_id, "after the race").await;
    table.delete().await;
    assert!(
        problems.is_empty(),
        "{} problems:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// S5/S6 lost updates: 16 PATCHes of different attributes of one user all land.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s5_racing_patches_of_different_attributes_of_one_user_all_land() {
    let (table, t) = setup("race-user").await;
    let uid = id(&t
        .create_user(okta_user("race@example.com", "race@example.com"))
        .await);
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let attrs: Vec<(String, String)> = [
        "title",
        "nickName",
        "locale",
        "timezone",
        "preferredLanguage",
        "userType",
        "profileUrl",
        "name.givenName",
        "name.familyName",
        "name.middleName",
        "name.honorificPrefix",
        "name.honorificSuffix",
    ]
    .iter()
    .map(|a| (a.to_string(), format!("v-{a}")))
    .chain(
        ["department", "costCenter", "organization", "division"]
            .iter()
            .map(|a| (format!("{ent}:{a}"), format!("v-{a}"))),
    )
    .collect();
    assert_eq!(attrs.len(), WRITERS);
    let calls = attrs
        .iter()
        .map(|(path, value)| {
            Call::Scim(
                "PATCH",
                format!("/Users/{uid}"),
                Some(patch_op(
                    json!([{"op": "replace", "path": path, "value": value}]),
                )),
            )
        })
        .collect();
    let outcomes = race(&t, calls).await;
    let mut problems = policy(&outcomes);
    let got = t.scim("GET", format!("/Users/{uid}"), None).await;
    for ((path, value), o) in attrs.iter().zip(&outcomes) {
        if o.final_.status != 200 {
            problems.push(format!(
                "PATCH {path}: {} {}",
                o.final_.status, o.final_.body
            ));
            continue;
        }
        let stored = match path.strip_prefix(&format!("{ent}:")) {
            Some(a) => &got.body[ent][a],
            None => match path.split_once('.') {
                Some((a, b)) => &got.body[a][b],
                None => &got.body[path.as_str()],
            },
        };
        if stored != &json!(value) {
            problems.push(format!(
                "acknowledged PATCH of {path} to {value} was lost: stored {stored}"
            ));
        }
    }
    finish(table, t, problems).await;
}

/// G6: 16 PATCHes adding different members to one group, then 8 removing and 8 adding at
/// once: every acknowledged change is visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn g6_racing_membership_patches_of_one_group_lose_no_member() {
    let (table, t) = setup("race-members").await;
    let users = t.users("racer", WRITERS + 8).await;
    let gid = t.create_group("Racers", &[]).await;
    let add = |u: &String| {
        Call::Scim(
            "PATCH",
            format!("/Groups/{gid}"),
            Some(patch_op(
                json!([{"op": "add", "path": "members", "value": [{"value": u}]}]),
            )),
        )
    };
    let outcomes = race(&t, users[..WRITERS].iter().map(add).collect()).await;
    let mut problems = policy(&outcomes);
    if statuses(&outcomes).iter().any(|s| *s != 204) {
        problems.push(format!("adds answered {:?}", statuses(&outcomes)));
    }
    let mut want: Vec<String> = users[..WRITERS].to_vec();
    want.sort();
    let got = t.members(&gid).await;
    if got != want {
        problems.push(format!(
            "after 16 racing adds: {} members, want {}",
            got.len(),
            want.len()
        ));
    }
    // Entra-style removals by value list racing Okta-style adds.
    let mut calls: Vec<Call> = users[..8]
        .iter()
        .map(|u| {
            Call::Scim(
                "PATCH",
                format!("/Groups/{gid}"),
                Some(patch_op(
                    json!([{"op": "Remove", "path": "members", "value": [{"value": u}]}]),
                )),
            )
        })
        .collect();
    calls.extend(users[WRITERS..].iter().map(add));
    let outcomes = race(&t, calls).await;
    problems.extend(policy(&outcomes));
    if statuses(&outcomes).iter().any(|s| *s != 204) {
        problems.push(format!(
            "removes and adds answered {:?}",
            statuses(&outcomes)
        ));
    }
    let mut want: Vec<String> = users[8..].to_vec();
    want.sort();
    let got = t.members(&gid).await;
    if got != want {
        problems.push(format!(
            "after racing removes and adds: {} members, want {}",
            got.len(),
            want.len()
        ));
    }
    finish(table, t, problems).await;
}

/// L3/L5: 16 users race to take one new email (one wins, the others are refused with 409
/// uniqueness), then 16 writers race to change one user's email: it ends with one of them,
/// and its account with it (managed, L5); no guard or account is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn l3_l5_racing_email_changes_keep_one_account_per_email() {
    let (table, t) = setup("race-email").await;
    let users = t.users("claimant", WRITERS).await;
    let change = |u: &String, email: &str| {
        Call::Scim(
            "PATCH",
            format!("/Users/{u}"),
            Some(patch_op(
                json!([{"op": "replace", "path": "emails", "value": [{"primary": true, "value": email, "type": "work"}]}]),
            )),
        )
    };
    let outcomes = race(
        &t,
        users
            .iter()
            .map(|u| change(u, "shared@example.com"))
            .collect(),
    )
    .await;
    let mut problems = policy(&outcomes);
    let won = statuses(&outcomes).iter().filter(|s| **s == 200).count();
    let refused = outcomes
        .iter()
        .filter(|o| o.final_.status == 409 && o.final_.body["scimType"] == "uniqueness")
        .count();
    if (won, refused) != (1, WRITERS - 1) {
        problems.push(format!(
            "L3: one email, 16 claimants: {won} won, {refused} refused: {:?}",
            statuses(&outcomes)
        ));
    }
    let emails: Vec<String> = (0..WRITERS)
        .map(|i| format!("moved{i}@example.com"))
        .collect();
    let target = &users[0];
    let outcomes = race(&t, emails.iter().map(|e| change(target, e)).collect()).await;
    problems.extend(policy(&outcomes));
    if statuses(&outcomes).iter().any(|s| *s != 200) {
        problems.push(format!("email changes answered {:?}", statuses(&outcomes)));
    }
    let got = t.scim("GET", format!("/Users/{target}"), None).await;
    let email = got.body["emails"][0]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !emails.contains(&email) {
        problems.push(format!("the user ended with email {email:?}"));
    }
    let account = t.account_of(&email).await;
    if account["link"]["userId"] != target.as_str() {
        problems.push(format!(
            "L5: the account of {email} does not follow its user: {account}"
        ));
    }
    finish(table, t, problems).await;
}

/// L7: a DELETE of a user in a group races 15 PATCHes of the same user: the user is gone,
/// with its memberships and link, its account suspended and handed back to admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn l7_delete_racing_patches_of_the_same_user_leaves_nothing_behind() {
    let (table, t) = setup("race-delete").await;
    let uid = id(&t
        .create_user(okta_user("doomed@example.com", "doomed@example.com"))
        .await);
    let others = t.users("stays", 1).await;
    let gid = t
        .create_group("Doomed", &[uid.clone(), others[0].clone()])
        .await;
    let mut calls: Vec<Call> = (0..WRITERS - 1)
        .map(|i| {
            Call::Scim(
                "PATCH",
                format!("/Users/{uid}"),
                Some(patch_op(
                    json!([{"op": "replace", "path": "title", "value": format!("t{i}")}]),
                )),
            )
        })
        .collect();
    calls.insert(
        WRITERS / 2,
        Call::Scim("DELETE", format!("/Users/{uid}"), None),
    );
    let outcomes = race(&t, calls).await;
    let mut problems = policy(&outcomes);
    for (i, o) in outcomes.iter().enumerate() {
        let fine = if i == WRITERS / 2 {
            o.final_.status == 204
        } else {
            matches!(o.final_.status, 200 | 404)
        };
        if !fine {
            problems.push(format!(
                "writer {i} answered {}: {}",
                o.final_.status, o.final_.body
            ));
        }
    }
    let gone = t.scim("GET", format!("/Users/{uid}"), None).await;
    if gone.status != 404 {
        problems.push(format!("the deleted user is still there: {}", gone.body));
    }
    if t.members(&gid).await != others {
        problems.push(format!(
            "L7: the group's members are {:?}",
            t.members(&gid).await
        ));
    }
    let account = t.account_of("doomed@example.com").await;
    if account["status"] != "suspended"
        || account["managedBy"] != "admin"
        || !account["link"].is_null()
    {
        problems.push(format!(
            "L7: the account is not suspended and handed back: {account}"
        ));
    }
    finish(table, t, problems).await;
}

/// G3: an admin syncs a held group while 16 IdP PATCHes add members to it: every member
/// acknowledged is in the SCIM group, and the org group (now the directory's) has them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn g3_admin_sync_racing_idp_patches_of_the_held_group_loses_no_member() {
    let (table, t) = setup("race-sync").await;
    let r = t
        .org_admin(
            "POST",
            "/org-groups",
            Some(json!({"name": "held-race", "roles": []})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let users = t.users("held", WRITERS + 1).await;
    let gid = t.create_group("HELD-RACE", &users[..1]).await;
    let mut calls: Vec<Call> = users[1..]
        .iter()
        .map(|u| {
            Call::Scim(
                "PATCH",
                format!("/Groups/{gid}"),
                Some(patch_op(
                    json!([{"op": "add", "path": "members", "value": [{"value": u}]}]),
                )),
            )
        })
        .collect();
    calls.insert(
        WRITERS / 2,
        Call::Admin("POST", format!("/conflicts/{}/{gid}/sync", t.directory_id)),
    );
    let outcomes = race(&t, calls).await;
    let mut problems = policy(&outcomes);
    for (i, o) in outcomes.iter().enumerate() {
        let want = if i == WRITERS / 2 { 200 } else { 204 };
        if o.final_.status != want {
            problems.push(format!(
                "writer {i} answered {}: {}",
                o.final_.status, o.final_.body
            ));
        }
    }
    let mut want = users.clone();
    want.sort();
    let got = t.members(&gid).await;
    if got != want {
        problems.push(format!(
            "the held group has {} members, want {}",
            got.len(),
            want.len()
        ));
    }
    let conflicts = t.org_admin("GET", "/conflicts", None).await;
    if conflicts.body["total"] != 0 {
        problems.push(format!("still held: {}", conflicts.body));
    }
    // Every member's account has the org group now (G3/G7).
    for i in 0..users.len() {
        let a = t.account_of(&format!("held{i}@example.com")).await;
        let access = t
            .org_admin(
                "GET",
                &format!("/accounts/{}/access", a["id"].as_str().unwrap_or("?")),
                None,
            )
            .await;
        let in_group = access.body["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g["name"] == "held-race"));
        if !in_group {
            problems.push(format!(
                "held{i}@example.com is not in the synced org group"
            ));
        }
    }
    finish(table, t, problems).await;
}
