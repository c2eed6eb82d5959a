//! Big groups never outlive a request (issue 12): a DELETE of a group past
//! `ASYNC_CLEANUP_THRESHOLD` members answers at once, the group is gone from every read at
//! once, and its member items are removed by the clean-up job, woken by the table's real
//! stream (read by the same pump code as `make run`) and run by the `group-cleanup`
//! handler in-process.

use std::time::Duration;

use scimlink::directory::cleanup::{
    CleanupJobRecord, CleanupState, JobKind, JobSlot, ASYNC_CLEANUP_THRESHOLD, CLEANUP_CHUNK,
};
use scimlink::directory::model::UserRecord;
use scimlink::directory::plan::Record;
use scimlink::events::cleanup::CleanupService;
use scimlink::events::pump::{batches, StreamPump};
use scimlink::events::stream::{StreamEvent, StreamRecord};
use scimlink::http::AppState;
use serde_json::json;

use crate::changes::changes;
use crate::common::{self, member_ids, okta_user, patch_op, TestDirectory};

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
    seed_users(t, gid, n, Some(gid)).await;
}

/// `n` users named after `prefix` (`seed-<prefix>-00000`, ...), members of `group` if
/// given, written directly; their ids in order.
async fn seed_users(t: &TestDirectory, prefix: &str, n: usize, group: Option<&str>) -> Vec<String> {
    let now = scimlink::clock::now();
    let mut records = Vec::with_capacity(n * 2);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("seed-{prefix}-{i:05}");
        records.push(Record::User(UserRecord {
            directory_id: t.directory_id.clone(),
            id: id.clone(),
            doc: json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("{id}@example.org"), "active": true}),
            version: 1,
            created: now.clone(),
            last_modified: now.clone(),
            account_id: None,
        }));
        if let Some(gid) = group {
            records.push(Record::Member {
                directory_id: t.directory_id.clone(),
                group_id: gid.into(),
                user_id: id.clone(),
            });
        }
        ids.push(id);
    }
    t.state.store.put_all(records).await.expect("seed");
    ids
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

    // The DELETE: a handful of requests, whatever the group's size (its time to answer is
    // measured in the bench, BENCHMARKS.md "Big groups", never in a test).
    let (r, cost) = t
        .measure(t.scim("DELETE", &format!("/Groups/{gid}"), None))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(cost.requests <= 10, "{cost:?}");

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
    assert_eq!(
        finished_lines(&t, &gid).await,
        vec![format!("Clean-up of group 'Everyone' ({gid}) finished: {total} memberships removed, 3 accounts lost access.")]
    );

    // A replay of every record changes nothing.
    let mut replay = first_wakes;
    replay.extend(requeued);
    assert_replay_changes_nothing(&t, &gid, replay).await;
}

/// The log lines of the end of the group's jobs (E1).
async fn finished_lines(t: &TestDirectory, gid: &str) -> Vec<String> {
    t.log_messages(&format!("/events?scimId={gid}&limit=100"))
        .await
        .into_iter()
        .filter(|m| m.contains("finished"))
        .collect()
}

/// Runs the worker on `records` again: no event, no log line, no member item changes.
async fn assert_replay_changes_nothing(t: &TestDirectory, gid: &str, records: Vec<StreamRecord>) {
    let events_before = changes(t).await.len();
    let log_before = t
        .log_messages(&format!("/events?scimId={gid}&limit=100"))
        .await
        .len();
    let members_before = member_items(t, gid).await;
    let worker = CleanupService::new(t.state.store.clone(), Duration::from_secs(120));
    assert!(worker
        .handle_stream(&StreamEvent { records })
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(changes(t).await.len(), events_before);
    assert_eq!(member_items(t, gid).await, members_before);
    let log_after = t
        .log_messages(&format!("/events?scimId={gid}&limit=100"))
        .await
        .len();
    assert_eq!(log_after, log_before);
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

/// A group's PUT body.
fn group_body(name: &str, members: &[String]) -> serde_json::Value {
    let members: Vec<serde_json::Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members})
}

async fn member_items(t: &TestDirectory, gid: &str) -> Vec<String> {
    t.state
        .store
        .group_members(&t.directory_id, gid)
        .await
        .expect("members")
}

async fn pending_job(t: &TestDirectory, gid: &str) -> CleanupJobRecord {
    t.state
        .store
        .get_cleanup_job(&t.directory_id, gid)
        .await
        .expect("job")
        .expect("a pending job")
}

async fn target_pages_left(t: &TestDirectory, gid: &str) -> usize {
    t.state
        .store
        .job_target(&t.directory_id, gid)
        .await
        .expect("pages")
        .len()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids.dedup();
    ids
}

#[tokio::test]
async fn g_big_put_answers_at_once_and_its_membership_change_runs_from_the_stream() {
    let (t, mut pump) = stack().await;
    t.jira_and_confluence().await;
    let idp = t.users("put", 3).await;
    let gid = t.create_group("Everyone", &idp).await;
    t.grant_group_roles("Everyone", &["jira/user"]).await;
    let mut accounts = Vec::new();
    for i in 0..3 {
        accounts.push(t.account_id(&format!("put{i}@example.com")).await);
    }
    let seeded = seed_users(&t, &gid, SEEDED, Some(&gid)).await;
    let newcomers = seed_users(&t, "new", 600, None).await;
    let before: Vec<String> = sorted(idp.iter().chain(&seeded).cloned().collect());
    // Keeps two IdP members and 100 seeded ones, adds 600: 1,401 removals, 600 additions.
    let target = sorted(
        idp[..2]
            .iter()
            .chain(&seeded[..100])
            .chain(&newcomers)
            .cloned()
            .collect(),
    );
    pump.poll_all().await.expect("stream");

    // The PUT answers at once with the group as it now is: its new membership.
    let (r, cost) = t
        .measure(t.scim(
            "PUT",
            format!("/Groups/{gid}"),
            Some(group_body("Everyone", &target)),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(cost.requests <= 30, "{cost:?}");
    assert_eq!(member_ids(&r.body), target);
    let job = pending_job(&t, &gid).await;
    assert_eq!(job.kind, JobKind::Replace);
    assert_eq!(job.target_members, target.len() as u64);
    assert_eq!(member_items(&t, &gid).await, before, "nothing applied yet");

    // GET shows the target at once; `excludedAttributes=members` none.
    assert_eq!(t.members(&gid).await, target);
    let bare = t
        .scim(
            "GET",
            format!("/Groups/{gid}?excludedAttributes=members"),
            None,
        )
        .await;
    assert_eq!(bare.status, 200, "{}", bare.body);
    assert!(bare.body.get("members").is_none(), "{}", bare.body);
    // A user's groups and access follow the member items: they converge as chunks apply.
    assert_eq!(t.roles(&accounts[2]).await, vec!["jira/user"]);
    let log = t.log_messages(&format!("/events?scimId={gid}")).await;
    assert!(
        log[0].contains("is applied by an asynchronous job"),
        "{log:?}"
    );

    // A worker with no budget applies one chunk and queues the job again.
    let first_wakes = clean_up(&t, &mut pump, Duration::ZERO).await;
    assert_eq!(first_wakes.len(), 1, "the PUT's job insert");
    let after_one = member_items(&t, &gid).await;
    let changed = before.iter().filter(|m| !after_one.contains(m)).count()
        + after_one.iter().filter(|m| !before.contains(m)).count();
    assert_eq!(changed, CLEANUP_CHUNK, "one chunk");
    let job = pending_job(&t, &gid).await;
    assert_eq!((job.chunks, job.state), (1, CleanupState::Queued));
    assert!(job.cursor.is_some());

    // Its successor resumes from the requeue's record and finishes.
    let requeued = clean_up(&t, &mut pump, Duration::from_secs(120)).await;
    assert_eq!(requeued.len(), 1, "the requeue: {requeued:?}");
    assert_eq!(member_items(&t, &gid).await, target);
    assert!(job_gone(&t, &gid).await);
    assert_eq!(target_pages_left(&t, &gid).await, 0);
    let group = t
        .state
        .store
        .get_group(&t.directory_id, &gid)
        .await
        .expect("group")
        .expect("the group");
    assert!(!group.members_pending);
    assert_eq!(t.members(&gid).await, target);
    assert!(wakes(&t, &mut pump).await.is_empty());

    // The removed IdP member lost the group and its role (E5); the kept ones did not.
    assert_eq!(t.roles(&accounts[2]).await, Vec::<String>::new());
    assert_eq!(t.roles(&accounts[0]).await, vec!["jira/user"]);
    let gone = t.scim("GET", format!("/Users/{}", idp[2]), None).await;
    assert_eq!(gone.body["groups"].as_array().map_or(0, Vec::len), 0);
    let kept = t.scim("GET", format!("/Users/{}", idp[0]), None).await;
    assert_eq!(kept.body["groups"][0]["value"], gid.as_str());
    let revoked: Vec<String> = changes(&t)
        .await
        .into_iter()
        .filter(|c| c.event == "access:revoked")
        .map(|c| c.subject.id)
        .collect();
    assert_eq!(revoked, vec![accounts[2].clone()]);
    assert_eq!(
        finished_lines(&t, &gid).await,
        vec![format!("Membership change of group 'Everyone' ({gid}) finished: 600 members added, 1401 removed, 1 accounts lost access.")]
    );

    // A replay of every record changes nothing.
    let mut replay = first_wakes;
    replay.extend(requeued);
    assert_replay_changes_nothing(&t, &gid, replay).await;
}

#[tokio::test]
async fn g_a_change_while_a_membership_job_is_pending_supersedes_it_and_a_delete_still_works() {
    let (t, mut pump) = stack().await;
    let gid = t.create_group("Big", &[]).await;
    let seeded = seed_users(&t, &gid, 600, Some(&gid)).await;
    let others = seed_users(&t, "other", 700, None).await;
    pump.poll_all().await.expect("stream");

    let r = t
        .scim(
            "PUT",
            format!("/Groups/{gid}"),
            Some(group_body("Big", &others)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(pending_job(&t, &gid).await.version, 1);

    // A second PUT while the job is pending replaces its target (no 409: the IdP's last
    // word wins, as it would without a job).
    let real = t.users("real", 1).await;
    let second = sorted(
        others[..350]
            .iter()
            .chain(&seeded[..10])
            .chain(&real)
            .cloned()
            .collect(),
    );
    let r = t
        .scim(
            "PUT",
            format!("/Groups/{gid}"),
            Some(group_body("Big Renamed", &second)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(member_ids(&r.body), second);
    assert_eq!(r.body["displayName"], "Big Renamed");
    let job = pending_job(&t, &gid).await;
    assert_eq!(
        (job.version, job.generation, job.target_members),
        (2, 1, 361)
    );

    // A PATCH while it is pending applies to the target (what the group shows).
    let r = t
        .scim(
            "PATCH",
            format!("/Groups/{gid}"),
            Some(patch_op(json!([
                {"op": "add", "path": "members", "value": [{"value": others[400]}]},
                {"op": "remove", "path": format!("members[value eq \"{}\"]", second[second.len() - 1])}
            ]))),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let mut expected: Vec<String> = second[..second.len() - 1].to_vec();
    expected.push(others[400].clone());
    let expected = sorted(expected);
    assert_eq!(t.members(&gid).await, expected);
    // A PATCH that changes nothing of the target writes nothing (L4).
    let (r, cost) = t
        .measure(t.scim(
            "PATCH",
            format!("/Groups/{gid}"),
            Some(patch_op(json!([
                {"op": "add", "path": "members", "value": [{"value": others[400]}]}
            ]))),
        ))
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(cost.write_units, 0.0, "{cost:?}");

    // A target user deleted before the job runs is not added back.
    let deleted = real[0].clone();
    assert!(expected.contains(&deleted));
    let r = t.scim("DELETE", format!("/Users/{deleted}"), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let expected: Vec<String> = expected.into_iter().filter(|u| *u != deleted).collect();

    // The records of the three writes wake one run of the job, on its last target.
    let woken = clean_up(&t, &mut pump, Duration::from_secs(120)).await;
    assert_eq!(woken.len(), 3, "{woken:?}");
    assert_eq!(member_items(&t, &gid).await, expected);
    assert!(job_gone(&t, &gid).await);
    assert_eq!(target_pages_left(&t, &gid).await, 0);

    // A DELETE while a job is pending turns it into the delete's clean-up.
    let r = t
        .scim(
            "PUT",
            format!("/Groups/{gid}"),
            Some(group_body("Big", &others)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = t.scim("DELETE", format!("/Groups/{gid}"), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    t.scim("GET", format!("/Groups/{gid}"), None)
        .await
        .assert_error(404, None);
    assert_eq!(pending_job(&t, &gid).await.kind, JobKind::Delete);
    assert_eq!(target_pages_left(&t, &gid).await, 0);
    clean_up(&t, &mut pump, Duration::from_secs(120)).await;
    assert_eq!(member_items_left(&t, &gid).await, 0);
    assert!(job_gone(&t, &gid).await);
}

#[tokio::test]
async fn g_a_put_within_the_threshold_is_still_applied_in_the_request() {
    let (t, _pump) = stack().await;
    let gid = t.create_group("Small", &[]).await;
    seed_members(&t, &gid, 100).await;
    let target = seed_users(&t, "small", ASYNC_CLEANUP_THRESHOLD - 100, None).await;
    let r = t
        .scim(
            "PUT",
            format!("/Groups/{gid}"),
            Some(group_body("Small", &target)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(job_gone(&t, &gid).await);
    assert_eq!(member_items(&t, &gid).await, target);
}

/// An admin group `Everyone` granting `jira/user` with admin members a and b, and the IdP's
/// `Everyone` (held, G2) with b, c and `seeded` more members: (org group id, IdP group id,
/// [a, b, c] accounts).
async fn held_big_group(t: &TestDirectory, seeded: usize) -> (String, String, Vec<String>) {
    t.jira_and_confluence().await;
    let r = t
        .org_admin(
            "POST",
            "/org-groups",
            Some(json!({"name": "Everyone", "roles": ["jira/user"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let og = r.body["id"].as_str().expect("id").to_string();
    let mut accounts = Vec::new();
    for e in ["a@example.com", "b@example.com"] {
        let r = t
            .org_admin("POST", "/invites", Some(json!({"email": e})))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        accounts.push(r.body["id"].as_str().expect("id").to_string());
    }
    let r = t
        .org_admin(
            "POST",
            &format!("/org-groups/{og}/members"),
            Some(json!({ "accountIds": accounts })),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let mut users = Vec::new();
    for e in ["b@example.com", "c@example.com"] {
        users.push(
            t.create_user(okta_user(e, e)).await["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    accounts.push(t.account_id("c@example.com").await);
    let gid = t.create_group("Everyone", &users).await;
    seed_members(t, &gid, seeded).await;
    (og, gid, accounts)
}

async fn sync_job(t: &TestDirectory, gid: &str) -> Option<CleanupJobRecord> {
    t.state
        .store
        .get_job(&t.directory_id, gid, JobSlot::Sync)
        .await
        .expect("job")
}

/// The accounts of the events `event` so far, sorted.
async fn accounts_with(t: &TestDirectory, event: &str) -> Vec<String> {
    sorted(
        changes(t)
            .await
            .into_iter()
            .filter(|c| c.event == event)
            .map(|c| c.subject.id)
            .collect(),
    )
}

#[tokio::test]
async fn g3_big_held_group_sync_answers_at_once_and_its_job_applies_each_members_access() {
    let (t, mut pump) = stack().await;
    let (og, gid, accounts) = held_big_group(&t, SEEDED).await;
    let (a, b, c) = (&accounts[0], &accounts[1], &accounts[2]);
    assert_eq!(t.roles(c).await, Vec::<String>::new(), "held: not applied");
    // The admin members' own grants, before the sync.
    let granted_before = accounts_with(&t, "access:granted").await;
    assert_eq!(granted_before, sorted(vec![a.clone(), b.clone()]));
    pump.poll_all().await.expect("stream");
    let path = format!("/conflicts/{}/{gid}/sync", t.directory_id);

    // The dry run still says exactly what will change, and that a job will apply it.
    let (dry, cost) = t
        .measure(t.org_admin("POST", &format!("{path}?dryRun=true"), None))
        .await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_eq!(dry.body["asynchronous"], true);
    assert_eq!(dry.body["accountsAdded"][0]["accountId"], c.as_str());
    assert_eq!(dry.body["accountsRemoved"][0]["accountId"], a.as_str());
    assert_eq!(dry.body["unchanged"], 1);
    assert_eq!(cost.write_units, 0.0);

    // The sync: one transaction, whatever the group's size.
    let (r, cost) = t.measure(t.org_admin("POST", &path, None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["synced"], &r.body["asynchronous"]),
        (&json!(true), &json!(true))
    );
    assert!(cost.requests <= 15, "{cost:?}");
    // Access flips for everyone at once (G3): the org group takes the IdP's membership.
    assert_eq!(t.roles(a).await, Vec::<String>::new());
    assert_eq!(t.roles(b).await, vec!["jira/user"]);
    assert_eq!(t.roles(c).await, vec!["jira/user"]);
    assert_eq!(
        t.org_admin("GET", "/conflicts", None).await.body["total"],
        0
    );
    assert_eq!(
        sync_job(&t, &gid).await.expect("a sync job").kind,
        JobKind::Sync
    );
    assert_eq!(
        accounts_with(&t, "access:granted").await,
        granted_before,
        "events follow with the job"
    );

    // A worker with no budget applies one chunk; its successor resumes and finishes.
    let first_wakes = clean_up(&t, &mut pump, Duration::ZERO).await;
    assert_eq!(first_wakes.len(), 1, "the sync's job insert");
    let job = sync_job(&t, &gid).await.expect("still running");
    assert_eq!((job.chunks, job.added), (1, CLEANUP_CHUNK as u64));
    let requeued = clean_up(&t, &mut pump, Duration::from_secs(120)).await;
    assert_eq!(requeued.len(), 1, "the requeue: {requeued:?}");
    assert!(sync_job(&t, &gid).await.is_none());

    // Each account's access event once (E5); the admin membership items are gone.
    assert_eq!(
        accounts_with(&t, "access:granted").await,
        sorted(vec![a.clone(), b.clone(), c.clone()])
    );
    assert_eq!(accounts_with(&t, "access:revoked").await, vec![a.clone()]);
    let left = t
        .state
        .store
        .org_group_members(&t.org_id, &og)
        .await
        .expect("members");
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(t.roles(b).await, vec!["jira/user"]);
    assert_eq!(
        finished_lines(&t, &gid).await,
        vec![format!("Sync of group 'Everyone' ({gid}) finished: access applied for {} members, 2 admin memberships removed, 1 accounts gained access, 1 lost access.", SEEDED + 2)]
    );

    // A replay of every record changes nothing.
    let mut replay = first_wakes;
    replay.extend(requeued);
    assert_replay_changes_nothing(&t, &gid, replay).await;
}

#[tokio::test]
async fn g3_a_big_synced_group_deleted_while_its_sync_job_is_pending_ends_the_job() {
    let (t, mut pump) = stack().await;
    let (og, gid, accounts) = held_big_group(&t, ASYNC_CLEANUP_THRESHOLD).await;
    pump.poll_all().await.expect("stream");
    let r = t
        .org_admin(
            "POST",
            &format!("/conflicts/{}/{gid}/sync", t.directory_id),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(sync_job(&t, &gid).await.is_some());
    // The IdP deletes the group: the org group goes back to admin (its stale admin items
    // with it), and an admin adds a member again.
    let r = t.scim("DELETE", format!("/Groups/{gid}"), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = t
        .org_admin(
            "POST",
            &format!("/org-groups/{og}/members"),
            Some(json!({ "accountIds": [accounts[0]] })),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    // Both jobs run: the sync's ends without touching what is no longer its own.
    let woken = clean_up(&t, &mut pump, Duration::from_secs(120)).await;
    assert_eq!(woken.len(), 2, "{woken:?}");
    assert!(sync_job(&t, &gid).await.is_none());
    assert!(job_gone(&t, &gid).await);
    assert_eq!(t.roles(&accounts[0]).await, vec!["jira/user"]);
    assert_eq!(
        t.state
            .store
            .org_group_members(&t.org_id, &og)
            .await
            .expect("members"),
        vec![accounts[0].clone()]
    );
}
