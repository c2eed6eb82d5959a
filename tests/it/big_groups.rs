//! Big groups never outlive a request (issue 12): a DELETE of a group past
//! `ASYNC_CLEANUP_THRESHOLD` members answers at once, the group is gone from every read at
//! once, and its member items are removed by the clean-up job, woken by the table's real
//! stream (read by the same pump code as `make run`) and run by the `group-cleanup`
//! handler in-process.

use std::time::{Duration, Instant};

use scimlink::directory::cleanup::{ASYNC_CLEANUP_THRESHOLD, CLEANUP_CHUNK};
use scimlink::directory::model::UserRecord;
use scimlink::directory::plan::Record;
use scimlink::events::cleanup::CleanupService;
use scimlink::events::pump::{batches, StreamPump};
use scimlink::events::stream::{StreamEvent, StreamRecord};
use scimlink::http::AppState;
use serde_json::json;

use crate::changes::changes;
use crate::common::{self, okta_user, TestDirectory};

/// Members seeded past the IdP's own: the group is over the threshold.
const SEEDED: usize = 1_500;

/// A stack on the stream table: the directory and a pump positioned at the stream's end.
async fn stack() -> (TestDirectory, StreamPump) {
    let state = AppState::new(common::stream_store().await, Some(common::OPERATOR_KEY))
        .with_cursor_key(common::CURSOR_KEY);
    let t = TestDirectory::on(state, "okta").await;
    (t, common::stream_pump().await)
}

/// This directory's clean-up wakes (the mapping's filter) among what the stream has now.
async fn wakes(t: &TestDirectory, pump: &mut StreamPump) -> Vec<StreamRecord> {
    let prefix = format!("DIR#{}#", t.directory_id);
    let mut records = pump.poll_all().await.expect("stream");
    records.retain(|r| {
        r.is_cleanup_wake() && r.partition_key().is_some_and(|pk| pk.starts_with(&prefix))
    });
    records
}

/// Users and their memberships of `gid`, written directly (as the bench seeds them).
async fn seed_members(t: &TestDirectory, gid: &str, n: usize) {
    let now = scimlink::clock::now();
    let mut records = Vec::with_capacity(n * 2);
    for i in 0..n {
        let id = format!("seed-{gid}-{i:05}");
        records.push(Record::User(UserRecord {
            directory_id: t.directory_id.clone(),
            id: id.clone(),
            doc: json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("{id}@example.org"), "active": true}),
            version: 1,
            created: now.clone(),
            last_modified: now.clone(),
            account_id: None,
        }));
        records.push(Record::Member {
            directory_id: t.directory_id.clone(),
            group_id: gid.into(),
            user_id: id,
        });
    }
    t.state.store.put_all(records).await.expect("seed");
}

/// The group-cleanup handler, with `budget`, on what the stream holds for this directory
/// now; every job it runs succeeds.
async fn clean_up(t: &TestDirectory, pump: &mut StreamPump, budget: Duration) -> Vec<StreamRecord> {
    let records = wakes(t, pump).await;
    let worker = CleanupService::new(t.state.store.clone(), budget);
    for b in batches(records.clone(), 10) {
        assert!(worker
            .handle_stream(&b)
            .await
            .batch_item_failures
            .is_empty());
    }
    records
}

async fn job_gone(t: &TestDirectory, gid: &str) -> bool {
    t.state
        .store
        .get_cleanup_job(&t.directory_id, gid)
        .await
        .expect("job")
        .is_none()
}

async fn member_items_left(t: &TestDirectory, gid: &str) -> usize {
    t.state
        .store
        .group_members(&t.directory_id, gid)
        .await
        .expect("members")
        .len()
}

#[tokio::test]
async fn g_big_group_delete_answers_at_once_and_its_clean_up_runs_from_the_stream() {
    let (t, mut pump) = stack().await;
    t.jira_and_confluence().await;
    let emails: Vec<String> = (0..3).map(|i| format!("big{i}@example.com")).collect();
    let mut idp_members = Vec::new();
    for e in &emails {
        idp_members.push(
            t.create_user(okta_user(e, e)).await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let gid = t.create_group("Everyone", &idp_members).await;
    // Another group that gives the first member the same role: it keeps it.
    let other = t.create_group("Admins", &idp_members[..1]).await;
    t.grant_group_roles("Everyone", &["jira/user", "confluence/user"])
        .await;
    t.grant_group_roles("Admins", &["jira/user"]).await;
    seed_members(&t, &gid, SEEDED).await;
    let total = SEEDED + idp_members.len();
    assert!(total > ASYNC_CLEANUP_THRESHOLD);
    let accounts: Vec<String> = {
        let mut v = Vec::new();
        for e in &emails {
            v.push(t.account_id(e).await);
        }
        v
    };
    assert_eq!(
        t.roles(&accounts[1]).await,
        vec!["confluence/user", "jira/user"]
    );
    pump.poll_all().await.expect("stream");

    // The DELETE: a handful of requests, whatever the group's size.
    let started = Instant::now();
    let (r, cost) = t
        .measure(t.scim("DELETE", &format!("/Groups/{gid}"), None))
        .await;
    let answered = started.elapsed();
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(cost.requests <= 10, "{cost:?}");
    assert!(answered < Duration::from_secs(2), "{answered:?}");

    // Gone from every read at once, while its member items are still there.
    assert_eq!(member_items_left(&t, &gid).await, total);
    t.scim("GET", &format!("/Groups/{gid}"), None)
        .await
        .assert_error(404, None);
    let user = t
        .scim("GET", &format!("/Users/{}", idp_members[1]), None)
        .await;
    assert_eq!(
        user.body["groups"].as_array().map_or(0, Vec::len),
        0,
        "{}",
        user.body
    );
    let first = t
        .scim("GET", &format!("/Users/{}", idp_members[0]), None)
        .await;
    assert_eq!(
        first.body["groups"].as_array().map(Vec::len),
        Some(1),
        "{}",
        first.body
    );
    assert_eq!(first.body["groups"][0]["value"], other);
    let filtered = t
        .scim(
            "GET",
            &format!(
                "/Groups?filter=members.value%20eq%20%22{}%22",
                idp_members[1]
            ),
            None,
        )
        .await;
    assert_eq!(filtered.body["totalResults"], 0, "{}", filtered.body);
    assert_eq!(t.roles(&accounts[1]).await, Vec::<String>::new());
    assert_eq!(t.roles(&accounts[0]).await, vec!["jira/user"]);
    let deleted_log = t.log_messages(&format!("/events?scimId={gid}")).await;
    assert!(
        deleted_log[0].contains("asynchronous clean-up"),
        "{deleted_log:?}"
    );

    // The job's stream record wakes the worker; a budget of nothing removes one chunk and
    // queues the job again (a worker stopped halfway).
    let first_wakes = clean_up(&t, &mut pump, Duration::ZERO).await;
    assert_eq!(first_wakes.len(), 1, "the delete's job insert");
    assert_eq!(member_items_left(&t, &gid).await, total - CLEANUP_CHUNK);

    // Its successor, woken by the requeue's own stream record, resumes and finishes.
    let requeued = clean_up(&t, &mut pump, Duration::from_secs(120)).await;
    assert_eq!(requeued.len(), 1, "the requeue: {requeued:?}");
    assert_eq!(member_items_left(&t, &gid).await, 0);
    assert!(job_gone(&t, &gid).await);
    assert!(
        wakes(&t, &mut pump).await.is_empty(),
        "a running job's progress wakes no one"
    );

    // Exactly the roles the group gave are gone, with their events (E5).
    let all = changes(&t).await;
    let revoked: Vec<_> = all.iter().filter(|c| c.event == "access:revoked").collect();
    let mut revoked_accounts: Vec<&str> = revoked.iter().map(|c| c.subject.id.as_str()).collect();
    revoked_accounts.sort();
    let mut expected: Vec<&str> = accounts.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(revoked_accounts, expected, "{revoked:?}");
    let lost_by_first = revoked
        .iter()
        .find(|c| c.subject.id == accounts[0])
        .expect("first");
    assert_eq!(
        lost_by_first.data["access"].as_array().map(Vec::len),
        Some(1),
        "{lost_by_first:?}"
    );
    assert_eq!(lost_by_first.data["access"][0]["role"], "confluence/user");

    // The log says what the clean-up did (E1).
    let log = t
        .log_messages(&format!("/events?scimId={gid}&limit=100"))
        .await;
    let finished: Vec<&String> = log.iter().filter(|m| m.contains("finished")).collect();
    assert_eq!(
        finished,
        vec![&format!("Clean-up of group 'Everyone' ({gid}) finished: {total} memberships removed, 3 accounts lost access.")]
    );

    // A replay of every record changes nothing.
    let events_before = changes(&t).await.len();
    let mut replay = first_wakes;
    replay.extend(requeued);
    let worker = CleanupService::new(t.state.store.clone(), Duration::from_secs(120));
    assert!(worker
        .handle_stream(&StreamEvent { records: replay })
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(changes(&t).await.len(), events_before);
    let log_again = t
        .log_messages(&format!("/events?scimId={gid}&limit=100"))
        .await;
    assert_eq!(log_again.len(), log.len());
}

#[tokio::test]
async fn g_a_group_at_the_threshold_is_still_deleted_in_the_request() {
    let (t, _pump) = stack().await;
    let gid = t.create_group("Threshold", &[]).await;
    seed_members(&t, &gid, ASYNC_CLEANUP_THRESHOLD).await;
    let r = t.scim("DELETE", &format!("/Groups/{gid}"), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(member_items_left(&t, &gid).await, 0);
    assert!(job_gone(&t, &gid).await);
}

#[tokio::test]
async fn g_a_user_deleted_during_the_clean_up_is_not_in_the_deleted_group() {
    let (t, mut pump) = stack().await;
    let e = "during@example.com";
    let uid = t.create_user(okta_user(e, e)).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let gid = t.create_group("Big", std::slice::from_ref(&uid)).await;
    seed_members(&t, &gid, ASYNC_CLEANUP_THRESHOLD).await;
    pump.poll_all().await.expect("stream");
    assert_eq!(
        t.scim("DELETE", &format!("/Groups/{gid}"), None)
            .await
            .status,
        204
    );
    // The user's own delete removes its leftover member item and says nothing of the group.
    let r = t.scim("DELETE", &format!("/Users/{uid}"), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    clean_up(&t, &mut pump, Duration::from_secs(120)).await;
    assert_eq!(member_items_left(&t, &gid).await, 0);
    let log = t
        .log_messages(&format!("/events?scimId={gid}&limit=100"))
        .await;
    assert!(
        log.iter().any(|m| m.contains(&format!(
            "finished: {ASYNC_CLEANUP_THRESHOLD} memberships removed, 0 accounts lost access"
        ))),
        "{log:?}"
    );
}

#[tokio::test]
async fn e4_the_safeguard_counts_and_holds_a_big_group_clean_up_chunk_by_chunk() {
    let (t, mut pump) = stack().await;
    t.jira_and_confluence().await;
    let idp_members = t.users("held", 10).await;
    let gid = t.create_group("Everyone", &idp_members).await;
    t.grant_group_roles("Everyone", &["jira/user"]).await;
    seed_members(&t, &gid, ASYNC_CLEANUP_THRESHOLD + 1 - idp_members.len()).await;
    // 1% of the directory's 501 users: 6 deprovisionings go through, the 7th trips it.
    let r = t
        .org_admin(
            "PUT",
            &format!("/directories/{}/safeguard", t.directory_id),
            Some(json!({"enabled": true, "sharePercent": 1, "minCount": 1, "windowMinutes": 60})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    pump.poll_all().await.expect("stream");
    assert_eq!(
        t.scim("DELETE", &format!("/Groups/{gid}"), None)
            .await
            .status,
        204
    );
    clean_up(&t, &mut pump, Duration::from_secs(120)).await;
    assert_eq!(member_items_left(&t, &gid).await, 0);

    let holds = t
        .org_admin(
            "GET",
            &format!("/directories/{}/safeguard/holds", t.directory_id),
            None,
        )
        .await;
    assert_eq!(holds.body["total"], 4, "{}", holds.body);
    let mut kept = 0;
    for i in 0..idp_members.len() {
        let account = t.account_id(&format!("held{i}@example.com")).await;
        if t.roles(&account).await == vec!["jira/user"] {
            kept += 1;
        }
    }
    assert_eq!(kept, 4, "the held accounts keep the group's role");
    let revoked = changes(&t)
        .await
        .into_iter()
        .filter(|c| c.event == "access:revoked")
        .count();
    assert_eq!(revoked, 6);
    let log = t
        .log_messages(&format!("/events?scimId={gid}&limit=100"))
        .await;
    assert!(
        log.iter()
            .any(|m| m.ends_with("finished: 501 memberships removed, 6 accounts lost access.")),
        "{log:?}"
    );
}
