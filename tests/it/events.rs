//! E5 end to end: a scripted IdP session (Okta and Entra shapes) against the real handlers
//! on DynamoDB Local; the table's real stream read by the same pump code as `make run`,
//! into the `events` handler, which pushes to loopback receivers that verify every SET.
//! What a receiver gets is compared with the change items the writes committed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use scimlink::directory::model::ChangeRecord;
use scimlink::events::dead_letter::DeadLetters;
use scimlink::events::outbound::PushClient;
use scimlink::events::pump::{batches, StartingPosition, StreamPump};
use scimlink::events::push::{EventsService, PushConfig};
use scimlink::events::set::{verify, EventsKey};
use scimlink::http::AppState;
use scimlink_tools::receiver::{Mode, Receiver};
use serde_json::{json, Value};

use crate::changes::changes;
use crate::common::{self, okta_user, patch_op, TestDirectory};

const EVENTS_SECRET: &str = "session-events-key-0123456789abcdef0123456789";

fn config(disable_after: Duration) -> PushConfig {
    PushConfig {
        connect_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(500),
        retry_delays: vec![Duration::from_millis(20), Duration::from_millis(60)],
        disable_after,
        drain_budget: Duration::from_secs(20),
    }
}

/// The local stack of one test: an org (Okta and Entra directories) whose state signs
/// with the test's events key and allows loopback receivers, and a pump that feeds the
/// `events` handler from the table's stream in the background, keeping this test's orgs.
struct Stack {
    okta: TestDirectory,
    entra: TestDirectory,
    stop: Arc<AtomicBool>,
    pump: Option<tokio::task::JoinHandle<()>>,
}

impl Stack {
    async fn new(disable_after: Duration, extra_orgs: usize) -> (Self, Vec<TestDirectory>) {
        let key = EventsKey::from_secret(EVENTS_SECRET);
        let state = AppState::new(common::stream_store().await, Some(common::OPERATOR_KEY))
            .with_cursor_key(common::CURSOR_KEY)
            .with_events(Some(key.clone()), true);
        let okta = TestDirectory::on(state.clone(), "okta").await;
        let entra = okta.sibling("entra").await;
        let mut others = Vec::new();
        for _ in 0..extra_orgs {
            others.push(TestDirectory::on(state.clone(), "okta").await);
        }
        let cfg = config(disable_after);
        let client = PushClient::with_loopback(cfg.timeouts(), true).expect("client");
        let service = EventsService::new(
            okta.state.store.clone(),
            key,
            client,
            DeadLetters::memory().0,
            cfg,
        );
        let sdk = scimlink::aws::sdk_loader()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "test",
            ))
            .load()
            .await;
        let mut pump = StreamPump::new(
            &sdk,
            Some(&common::endpoint()),
            common::STREAM_TABLE,
            StartingPosition::Latest,
        );
        pump.poll_all().await.expect("the test table has a stream");
        let mut orgs: BTreeSet<String> = BTreeSet::from([okta.org_id.clone()]);
        orgs.extend(others.iter().map(|o| o.org_id.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = stop.clone();
            let service = service.clone();
            tokio::spawn(async move {
                let mut ticks = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(records) = pump.poll().await {
                        // Only this test's orgs: the stream is the shared test table's.
                        let mine: Vec<_> = records
                            .into_iter()
                            .filter(|r| {
                                r.partition_key().is_some_and(|pk| {
                                    orgs.iter().any(|o| pk.starts_with(&format!("ORG#{o}#")))
                                })
                            })
                            .collect();
                        for batch in batches(mine, 100) {
                            service.handle_stream(&batch).await;
                        }
                    }
                    ticks += 1;
                    // The schedule's retries, every few polls.
                    if ticks.is_multiple_of(5) {
                        let _ = service
                            .handle_tick_where(|sub| orgs.contains(&sub.org_id))
                            .await;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        (
            Stack {
                okta,
                entra,
                stop,
                pump: Some(handle),
            },
            others,
        )
    }

    async fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.pump.take() {
            let _ = h.await;
        }
    }
}

/// A push subscription to every event type; returns its id and signing secret.
async fn subscribe(t: &TestDirectory, url: &str) -> (String, String) {
    let r = t
        .org_admin(
            "POST",
            "/subscriptions",
            Some(json!({"name": "session receiver", "delivery": {"method": "push", "url": url}, "events": []})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    (
        r.body["id"].as_str().expect("id").to_string(),
        r.body["signingSecret"]
            .as_str()
            .expect("secret")
            .to_string(),
    )
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

async fn org_group(t: &TestDirectory, name: &str) -> String {
    let groups = t.org_admin("GET", "/org-groups", None).await;
    groups.body["groups"]
        .as_array()
        .and_then(|a| a.iter().find(|g| g["name"] == name))
        .map(id_of)
        .expect("org group")
}

/// The scripted session: Okta and Entra shapes, a take-over, an external email change, a
/// group push granting then revoking a role, a held conflict synced, a deactivation.
async fn script(s: &Stack) {
    let (okta, entra) = (&s.okta, &s.entra);
    for (path, body) in [
        ("/sites", json!({"id": "acme", "name": "acme.example.net"})),
        (
            "/products",
            json!({"id": "jira", "name": "Jira", "siteId": "acme", "roles": ["user", "admin"]}),
        ),
        (
            "/org-groups",
            json!({"name": "jira-users", "roles": ["jira/user"]}),
        ),
    ] {
        let r = okta.org_admin("POST", path, Some(body)).await;
        assert_eq!(r.status, 201, "{path}: {}", r.body);
    }
    let admins_group = org_group(okta, "jira-users").await;
    let mut invited = BTreeMap::new();
    for email in ["ann@example.com", "cy@example.com"] {
        let r = okta
            .org_admin("POST", "/invites", Some(json!({"email": email})))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        invited.insert(email, id_of(&r.body));
    }
    // cy is an admin member of jira-users: the held group's sync will remove them.
    let r = okta
        .org_admin(
            "POST",
            &format!("/org-groups/{admins_group}/members"),
            Some(json!({"accountIds": [invited["cy@example.com"]]})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);

    // Okta takes the invited ann over (L2).
    let ann = id_of(
        &okta
            .create_user(okta_user("ann@example.com", "ann@example.com"))
            .await,
    );
    // Entra: an external user, then an external email change (L5), Entra's PATCH shape.
    let ext = id_of(
        &entra
            .create_user(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "ext@partner.org", "externalId": "e-1", "active": true,
                "emails": [{"value": "ext@partner.org", "type": "work", "primary": true}],
                "name": {"givenName": "Ext", "familyName": "Ernal"}
            }))
            .await,
    );
    let r = entra
        .scim(
            "PATCH",
            format!("/Users/{ext}"),
            Some(patch_op(json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ext.new@partner.org"}
            ]))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A group push that grants, then revokes a product role: the IdP's group is empty,
    // an admin gives its org group jira/admin, then Okta adds and removes ann.
    let eng = okta.create_group("Engineering", &[]).await;
    let eng_og = org_group(okta, "Engineering").await;
    let r = okta
        .org_admin(
            "PUT",
            &format!("/org-groups/{eng_og}/roles"),
            Some(json!({"roles": ["jira/admin"]})),
        )
        .await;
    assert!(r.status < 300, "{}", r.body);
    for op in [
        json!({"op": "add", "path": "members", "value": [{"value": ann}]}),
        json!({"op": "remove", "path": format!("members[value eq \"{ann}\"]")}),
    ] {
        let r = okta
            .scim(
                "PATCH",
                format!("/Groups/{eng}"),
                Some(patch_op(json!([op]))),
            )
            .await;
        assert!(r.status < 300, "{}", r.body);
    }
    // A held conflict (G2), synced by an admin (G3): ann gains jira/user, cy loses it.
    let held = okta
        .create_group("JIRA-Users", std::slice::from_ref(&ann))
        .await;
    let r = okta
        .org_admin(
            "POST",
            &format!("/conflicts/{}/{held}/sync", okta.directory_id),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Entra deactivates the external user.
    let r = entra
        .scim(
            "PATCH",
            format!("/Users/{ext}"),
            Some(patch_op(
                json!([{"op": "Replace", "path": "active", "value": "False"}]),
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Okta's force sync: PUT of what is stored, and a PATCH that sets what is set. L4: no
/// change, no event.
async fn no_op_resync(s: &Stack) {
    let list = s.okta.scim("GET", "/Users", None).await;
    for u in list.body["Resources"].as_array().expect("users") {
        let id = id_of(u);
        let r = s
            .okta
            .scim("PUT", format!("/Users/{id}"), Some(u.clone()))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

fn by_event<'a>(all: &'a [ChangeRecord], event: &str) -> Vec<&'a ChangeRecord> {
    all.iter().filter(|c| c.event == event).collect()
}

/// What the session must have committed, checked on the change items themselves.
fn check_expected(all: &[ChangeRecord], s: &Stack) {
    let names: BTreeSet<&str> = all.iter().map(|c| c.event.as_str()).collect();
    for e in [
        "prov:create",
        "prov:patch",
        "prov:deactivate",
        "account:created",
        "account:taken-over",
        "account:suspended",
        "org-group:members-changed",
        "conflict:held",
        "conflict:synced",
        "access:granted",
        "access:revoked",
    ] {
        assert!(names.contains(e), "{e} missing from {names:?}");
    }
    // The external email change: the previous email is in the update.
    let email_change = all
        .iter()
        .find(|c| {
            c.event == "prov:patch"
                && c.directory_id.as_deref() == Some(s.entra.directory_id.as_str())
                && c.data["attributes"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == "emails"))
        })
        .expect("the email change");
    assert_eq!(
        email_change.data["previous"]["emails"][0]["value"],
        "ext@partner.org"
    );
    // Each grant and revoke names its cause.
    for c in by_event(all, "access:granted")
        .into_iter()
        .chain(by_event(all, "access:revoked"))
    {
        let access = &c.data["access"][0];
        assert!(access["role"].is_string(), "{c:?}");
        assert_eq!(access["site"]["id"], "acme", "{c:?}");
        assert!(c.data["cause"]["requestId"].is_string(), "{c:?}");
        if !c.data["cause"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("suspended"))
        {
            assert!(access["groups"][0]["orgGroupId"].is_string(), "{c:?}");
        }
    }
    let admin_grants: Vec<_> = by_event(all, "access:granted")
        .into_iter()
        .filter(|c| c.data["access"][0]["role"] == "jira/admin")
        .collect();
    let admin_revokes: Vec<_> = by_event(all, "access:revoked")
        .into_iter()
        .filter(|c| c.data["access"][0]["role"] == "jira/admin")
        .collect();
    assert_eq!((admin_grants.len(), admin_revokes.len()), (1, 1));
    assert_eq!(
        admin_grants[0].data["access"][0]["groups"][0]["orgGroupName"],
        "Engineering"
    );
    // The sync: ann gains jira/user, cy (an admin member only) loses it.
    let user_grants: Vec<_> = by_event(all, "access:granted")
        .into_iter()
        .filter(|c| c.data["access"][0]["role"] == "jira/user")
        .map(|c| c.data["email"].as_str().unwrap_or_default())
        .collect();
    let user_revokes: Vec<_> = by_event(all, "access:revoked")
        .into_iter()
        .filter(|c| c.data["access"][0]["role"] == "jira/user")
        .map(|c| c.data["email"].as_str().unwrap_or_default())
        .collect();
    assert!(user_grants.contains(&"ann@example.com"), "{user_grants:?}");
    assert!(user_revokes.contains(&"cy@example.com"), "{user_revokes:?}");
}

/// After dropping duplicates by jti, `receiver` has exactly `expected`, every SET verifies
/// with `secret`, and events about one resource arrived in their order.
fn check_received(receiver: &Receiver, secret: &str, expected: &[ChangeRecord]) {
    let received = receiver.received();
    assert_eq!(receiver.invalid(), 0, "every SET verifies");
    let mut first: BTreeMap<String, usize> = BTreeMap::new();
    for (i, r) in received.iter().enumerate() {
        first.entry(r.jti.clone()).or_insert(i);
    }
    let want: BTreeSet<String> = expected.iter().map(|c| c.id.clone()).collect();
    let got: BTreeSet<String> = first.keys().cloned().collect();
    assert_eq!(
        got.difference(&want).count() + want.difference(&got).count(),
        0,
        "missing {:?}, unexpected {:?}",
        want.difference(&got).collect::<Vec<_>>(),
        got.difference(&want).collect::<Vec<_>>()
    );
    // Per resource, first arrivals follow the order keys.
    let mut per_subject: BTreeMap<(String, String), Vec<&ChangeRecord>> = BTreeMap::new();
    for c in expected {
        per_subject
            .entry((c.subject.resource_type.clone(), c.subject.id.clone()))
            .or_default()
            .push(c);
    }
    for (subject, mut events) in per_subject {
        events.sort_by_key(|c| c.order_key());
        let arrivals: Vec<usize> = events.iter().map(|c| first[&c.id]).collect();
        let mut sorted = arrivals.clone();
        sorted.sort();
        assert_eq!(arrivals, sorted, "order of {subject:?}");
    }
    // Every SET as a receiver checks it: the receiver verified its signature with
    // `secret` (HS256) before recording it; here its claims and headers.
    for r in &received {
        assert_eq!(r.claims["iss"], "urn:scimlink");
        assert!(r.claims["txn"].is_string(), "the request id");
        assert!(r.claims["scimlink"]["org"].is_string());
        assert!(r.headers_ok, "POSTed as application/secevent+jwt");
    }
    assert!(!secret.is_empty());
}

async fn settle(receiver: &Receiver, n: usize) {
    assert!(
        receiver.wait_for(n, Duration::from_secs(60)).await,
        "only {} of {n} events arrived",
        receiver.unique_jtis().len()
    );
}

#[tokio::test]
async fn e5_session_pushes_exactly_the_committed_events_signed_and_in_order() {
    let (mut s, others) = Stack::new(Duration::from_secs(3600), 1).await;
    let receiver = Receiver::start(0, None, false).await.expect("receiver");
    let (_, secret) = subscribe(&s.okta, &receiver.url()).await;
    receiver.set_secret(Some(secret.clone()));
    // Another org's receiver: it must get none of this org's events.
    let other_receiver = Receiver::start(0, None, false).await.expect("receiver");
    let (_, other_secret) = subscribe(&others[0], &other_receiver.url()).await;
    other_receiver.set_secret(Some(other_secret));

    script(&s).await;
    let committed = changes(&s.okta).await;
    check_expected(&committed, &s);
    no_op_resync(&s).await;
    assert_eq!(
        changes(&s.okta).await.len(),
        committed.len(),
        "L4: no-op, no event"
    );

    settle(&receiver, committed.len()).await;
    // A moment for anything unexpected (the no-op's) to arrive too.
    tokio::time::sleep(Duration::from_millis(800)).await;
    check_received(&receiver, &secret, &committed);
    assert!(
        other_receiver.received().is_empty(),
        "X2: no other org's events"
    );
    s.stop().await;
}

#[tokio::test]
async fn e5_session_with_a_failing_receiver_loses_nothing_once_it_recovers() {
    let (mut s, _) = Stack::new(Duration::from_secs(3600), 0).await;
    let receiver = Receiver::start(0, None, false).await.expect("receiver");
    let (_, secret) = subscribe(&s.okta, &receiver.url()).await;
    receiver.set_secret(Some(secret.clone()));
    receiver.set_mode(Mode::Fail(500));
    script(&s).await;
    // A while of 500s, then of timeouts, then it recovers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    receiver.set_mode(Mode::Hang(Duration::from_secs(2)));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(receiver.attempts() > 0);
    receiver.set_mode(Mode::Accept);
    let committed = changes(&s.okta).await;
    settle(&receiver, committed.len()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    check_received(&receiver, &secret, &committed);
    s.stop().await;
}

#[tokio::test]
async fn e5_a_receiver_that_never_recovers_is_disabled_and_its_backlog_read_by_poll() {
    let (mut s, _) = Stack::new(Duration::from_secs(2), 0).await;
    let receiver = Receiver::start(0, None, false).await.expect("receiver");
    let (id, secret) = subscribe(&s.okta, &receiver.url()).await;
    receiver.set_mode(Mode::Fail(503));
    script(&s).await;
    let committed = changes(&s.okta).await;
    // Failing past the window (2 s): disabled, with its backlog kept.
    let mut status = Value::Null;
    for _ in 0..100 {
        let r = s
            .okta
            .org_admin("GET", &format!("/subscriptions/{id}"), None)
            .await;
        status = r.body["status"].clone();
        if status == "disabled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, "disabled");
    // The whole backlog, read by poll with the org's admin key, acknowledged as it goes.
    let mut got: Vec<String> = Vec::new();
    let mut ack: Vec<String> = Vec::new();
    for _ in 0..200 {
        let r = s
            .okta
            .org_admin(
                "POST",
                &format!("/subscriptions/{id}/poll"),
                Some(json!({"maxEvents": 25, "returnImmediately": true, "ack": ack})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let sets = r.body["sets"].as_object().expect("sets").clone();
        ack = sets.keys().cloned().collect();
        for (jti, token) in &sets {
            let claims = verify(token.as_str().expect("jwt"), &secret).expect("signed");
            assert_eq!(claims["jti"], json!(jti));
            got.push(jti.clone());
        }
        if sets.is_empty() && r.body["moreAvailable"] != true {
            break;
        }
    }
    let want: BTreeSet<String> = committed.iter().map(|c| c.id.clone()).collect();
    let unique: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(unique, want, "the backlog, fully");
    assert_eq!(unique.len(), got.len(), "each event once");
    s.stop().await;
}

#[tokio::test]
async fn e5_sixteen_concurrent_writers_while_a_poller_consumes_every_change_once() {
    let (mut s, _) = Stack::new(Duration::from_secs(3600), 0).await;
    let r = s
        .okta
        .org_admin(
            "POST",
            "/subscriptions",
            Some(json!({"name": "poller", "delivery": {"method": "poll"}, "events": []})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = id_of(&r.body);
    let token = r.body["receiverToken"].as_str().expect("token").to_string();
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let state = s.okta.state.clone();
        let path = format!("/admin/v1/orgs/{}/subscriptions/{id}/poll", s.okta.org_id);
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen: Vec<String> = Vec::new();
            let mut ack: Vec<String> = Vec::new();
            let mut idle = 0;
            loop {
                let r = common::call_as(
                    &state,
                    Some(&token),
                    "POST",
                    &path,
                    Some(json!({"maxEvents": 50, "returnImmediately": false, "ack": ack})),
                )
                .await;
                assert_eq!(r.status, 200, "{}", r.body);
                let sets = r.body["sets"].as_object().cloned().unwrap_or_default();
                ack = sets.keys().cloned().collect();
                seen.extend(ack.iter().cloned());
                if sets.is_empty() {
                    idle += 1;
                    if done.load(Ordering::Relaxed) && idle >= 3 {
                        return seen;
                    }
                } else {
                    idle = 0;
                }
            }
        })
    };
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let t = TestDirectory {
                state: s.okta.state.clone(),
                org_id: s.okta.org_id.clone(),
                directory_id: s.okta.directory_id.clone(),
                token: s.okta.token.clone(),
            };
            tokio::spawn(async move {
                for i in 0..3 {
                    let email = format!("w{w}-{i}@example.com");
                    let u = t.create_user(okta_user(&email, &email)).await;
                    let r = t
                        .scim(
                            "PATCH",
                            format!("/Users/{}", id_of(&u)),
                            Some(patch_op(
                                json!([{"op": "replace", "path": "title", "value": "T"}]),
                            )),
                        )
                        .await;
                    assert_eq!(r.status, 200, "{}", r.body);
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    done.store(true, Ordering::Relaxed);
    let seen = poller.await.expect("poller");
    let committed = changes(&s.okta).await;
    let want: BTreeSet<String> = committed.iter().map(|c| c.id.clone()).collect();
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique, want, "every change appears");
    assert_eq!(seen.len(), unique.len(), "each acknowledged once");
    assert!(want.len() >= 16 * 3 * 2, "{}", want.len());
    s.stop().await;
}
