//! Subscriptions to an org's events in the admin API (E5), push URL rules (X5), poll by
//! RFC 8936 with receiver tokens (X1, X2), and the log of every subscription write (E1).
//! Events are put in queues directly (`Store::enqueue`) or as change items of a plan
//! (`Store::apply`): what derives them from writes and pushes them is tested elsewhere.

use std::time::{Duration, Instant};

use lambda_http::Body;
use scimlink::directory::model::{ChangeRecord, ChangeSubject};
use scimlink::directory::plan::{Condition, Plan, Record};
use scimlink::events::set::{verify, EventsKey, VerifyError};
use scimlink::events::subscription::SubscriptionRecord;
use serde_json::{json, Value};

use crate::common::{call_as, okta_user, request, Call, Response, TestDirectory};

/// The tests' events key (`SCIMLINK_EVENTS_KEY`), set on each test's state rather than in
/// the environment: tests run in parallel in one process.
const EVENTS_SECRET: &str = "test-events-key-0123456789abcdef0123456789";
/// A public address: accepted without a DNS look-up (the tests need no network).
const PUBLIC_HOOK: &str = "https://93.184.216.34/scim-events";

/// A new org whose deployment has an events key; `loopback` is the local stack's mode.
async fn org(loopback: bool) -> TestDirectory {
    let mut t = TestDirectory::new("okta").await;
    t.state = t
        .state
        .with_events(Some(EventsKey::from_secret(EVENTS_SECRET)), loopback);
    t
}

/// Created subscription: its answer (with the secrets shown once).
async fn subscribe(t: &TestDirectory, body: Value) -> Value {
    let r = t.org_admin("POST", "/subscriptions", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}

async fn poll_subscription(t: &TestDirectory, events: &[&str]) -> (String, String, String) {
    let r = subscribe(
        t,
        json!({"name": "Poller", "delivery": {"method": "poll"}, "events": events}),
    )
    .await;
    (
        r["id"].as_str().unwrap().to_string(),
        r["signingSecret"].as_str().unwrap().to_string(),
        r["receiverToken"].as_str().unwrap().to_string(),
    )
}

fn poll_path(t: &TestDirectory, id: &str) -> String {
    format!("/admin/v1/orgs/{}/subscriptions/{id}/poll", t.org_id)
}

async fn poll(t: &TestDirectory, token: &str, id: &str, body: Value) -> Response {
    call_as(&t.state, Some(token), "POST", &poll_path(t, id), Some(body)).await
}

/// A poll's answer as text: the order of `sets` is the delivery order.
async fn poll_text(t: &TestDirectory, token: &str, id: &str, body: Value) -> String {
    let req = request(Call {
        method: "POST",
        path: poll_path(t, id),
        body: Some(body.to_string()),
        token: Some(token.to_string()),
        headers: Vec::new(),
    });
    let resp = scimlink::http::local::dispatch(&t.state, req)
        .await
        .expect("a response");
    assert_eq!(resp.status().as_u16(), 200);
    match resp.into_body() {
        Body::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

/// The stored subscription (for putting events in its queue).
async fn stored(t: &TestDirectory, id: &str) -> SubscriptionRecord {
    t.state
        .store
        .get_subscription(&t.org_id, id)
        .await
        .unwrap()
        .expect("the subscription")
}

/// A synthetic change of the test's org at `time`, with a jti that sorts in the reverse
/// of its delivery order (so an answer sorted by jti would show it).
fn change(t: &TestDirectory, time: &str, seq: u32, event: &str) -> ChangeRecord {
    ChangeRecord {
        org_id: t.org_id.clone(),
        directory_id: Some(t.directory_id.clone()),
        time: time.to_string(),
        txn: format!("txn-{time}"),
        seq,
        id: format!("{}-{:032x}", 9 - seq.min(9), rand::random::<u128>()),
        request_id: Some("req-test".into()),
        event: event.to_string(),
        subject: ChangeSubject {
            resource_type: "User".into(),
            id: format!("user-{seq}"),
            directory_id: Some(t.directory_id.clone()),
            external_id: None,
            email: None,
            version: Some(1),
        },
        data: json!({"data": {"userName": format!("u{seq}@example.com")}}),
    }
}

fn changes(t: &TestDirectory, n: u32) -> Vec<ChangeRecord> {
    (0..n)
        .map(|i| change(t, "2026-11-29T10:00:00.000Z", i, "prov:create"))
        .collect()
}

fn sets_of(body: &Value) -> Vec<(String, String)> {
    body["sets"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// E1: every subscription write is logged, by id, and no log event holds a secret.
async fn assert_logged_without(t: &TestDirectory, id: &str, secrets: &[&str]) {
    let r = t.org_admin("GET", "/events?limit=100", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let text = r.body.to_string();
    assert!(text.contains(&format!("subscription {id}")), "{text}");
    for s in secrets {
        assert!(!text.contains(s), "a secret in the log");
    }
}

#[tokio::test]
async fn e5_e1_create_push_and_poll_subscriptions_secrets_shown_once() {
    let t = org(false).await;
    let push = subscribe(
        &t,
        json!({"name": "Jira", "delivery": {"method": "push", "url": PUBLIC_HOOK}, "events": ["access:granted", "access:revoked"]}),
    )
    .await;
    let push_id = push["id"].as_str().unwrap();
    let push_secret = push["signingSecret"].as_str().unwrap().to_string();
    assert!(push_secret.len() >= 43, "{push}");
    assert!(
        push.get("receiverToken").is_none(),
        "push has no receiver token"
    );
    assert_eq!(
        push["delivery"],
        json!({"method": "push", "url": PUBLIC_HOOK})
    );
    assert_eq!(push["events"], json!(["access:granted", "access:revoked"]));
    assert_eq!(push["status"], "active");

    let (poll_id, poll_secret, receiver) = poll_subscription(&t, &[]).await;
    assert!(receiver.starts_with("slrcv_"));
    assert_ne!(poll_secret, push_secret);

    let list = t.org_admin("GET", "/subscriptions", None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let subs = list.body["subscriptions"].as_array().unwrap();
    assert_eq!(subs.len(), 2, "{}", list.body);
    for s in subs {
        assert_eq!(s["backlog"], 0);
        assert_eq!(s["deliveryState"]["delivered"], 0);
        assert!(s["deliveryState"]["lastSuccess"].is_null());
    }
    let get = t
        .org_admin("GET", &format!("/subscriptions/{poll_id}"), None)
        .await;
    assert_eq!(get.status, 200, "{}", get.body);
    assert_eq!(get.body["allEvents"], true);
    assert_eq!(get.body["delivery"]["method"], "poll");
    for shown in [list.body.to_string(), get.body.to_string()] {
        for secret in [&push_secret, &poll_secret, &receiver] {
            assert!(!shown.contains(secret.as_str()), "a secret shown again");
        }
        assert!(!shown.contains("signingSecret") && !shown.contains("receiverToken\""));
    }
    assert_logged_without(&t, push_id, &[&push_secret, &poll_secret, &receiver]).await;
    assert_logged_without(&t, &poll_id, &[&push_secret, &poll_secret, &receiver]).await;

    // A dry run creates nothing and issues no secret (E3).
    let r = t
        .org_admin(
            "POST",
            "/subscriptions?dryRun=true",
            Some(json!({"name": "Dry", "delivery": {"method": "poll"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["dryRun"], true);
    assert!(r.body.get("signingSecret").is_none() && r.body.get("receiverToken").is_none());
    let list = t.org_admin("GET", "/subscriptions", None).await;
    assert_eq!(list.body["subscriptions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn e5_an_unknown_event_type_or_delivery_is_400_naming_it() {
    let t = org(false).await;
    let r = t
        .org_admin(
            "POST",
            "/subscriptions",
            Some(json!({"name": "X", "delivery": {"method": "poll"}, "events": ["prov:create", "user:teleported"]})),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("'user:teleported'"),
        "{}",
        r.body
    );
    let r = t
        .org_admin(
            "POST",
            "/subscriptions",
            Some(json!({"name": "X", "delivery": {"method": "carrier-pigeon"}})),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains("delivery"));
    let r = t
        .org_admin(
            "POST",
            "/subscriptions",
            Some(json!({"name": " ", "delivery": {"method": "poll"}})),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    let list = t.org_admin("GET", "/subscriptions", None).await;
    assert_eq!(list.body["subscriptions"], json!([]));
}

#[tokio::test]
async fn x5_push_urls_to_private_metadata_local_or_plain_http_are_refused_with_400() {
    let t = org(false).await;
    for (url, says) in [
        ("https://10.0.0.1/hook", "not a public address"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "not a public address",
        ),
        ("https://localhost/hook", "local name"),
        ("http://example.com/hook", "must use https"),
        ("http://127.0.0.1:9000/hook", "must use https"),
        ("https://[::1]/hook", "not a public address"),
        (
            "https://user:pw@93.184.216.34/hook",
            "user name or password",
        ),
    ] {
        let r = t
            .org_admin(
                "POST",
                "/subscriptions",
                Some(json!({"name": "Hook", "delivery": {"method": "push", "url": url}})),
            )
            .await;
        r.assert_error(400, Some("invalidValue"));
        let detail = r.body["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{url}: {detail}");
        assert!(detail.contains("X5"), "{detail}");
    }
    let list = t.org_admin("GET", "/subscriptions", None).await;
    assert_eq!(list.body["subscriptions"], json!([]), "nothing was created");
}

#[tokio::test]
async fn x5_loopback_http_is_allowed_only_in_the_local_mode() {
    let t = org(false).await;
    let body = json!({"name": "Local", "delivery": {"method": "push", "url": "http://127.0.0.1:9911/hook"}});
    let r = t
        .org_admin("POST", "/subscriptions", Some(body.clone()))
        .await;
    r.assert_error(400, Some("invalidValue"));
    // A deployment in local mode (SCIMLINK_ALLOW_LOOPBACK_PUSH=1, read once at start-up).
    let local = org(true).await;
    let r = local.org_admin("POST", "/subscriptions", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = local
        .org_admin(
            "POST",
            "/subscriptions",
            Some(json!({"name": "Local", "delivery": {"method": "push", "url": "http://localhost:9911/hook"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Local mode opens loopback only: private addresses stay refused.
    let r = local
        .org_admin(
            "POST",
            "/subscriptions",
            Some(json!({"name": "Lan", "delivery": {"method": "push", "url": "http://10.0.0.1/hook"}})),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn e5_without_an_events_key_subscriptions_are_refused_as_not_configured() {
    let mut t = org(false).await;
    t.state = t.state.clone().with_events(None, false);
    let r = t
        .org_admin(
            "POST",
            "/subscriptions",
            Some(json!({"name": "X", "delivery": {"method": "poll"}})),
        )
        .await;
    r.assert_error(503, None);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("SCIMLINK_EVENTS_KEY"),
        "{}",
        r.body
    );
    let list = t.org_admin("GET", "/subscriptions", None).await;
    assert_eq!(list.body["subscriptions"], json!([]));
}

#[tokio::test]
async fn e5_e1_pause_resume_rotate_and_delete() {
    let t = org(false).await;
    let (id, old_secret, receiver) = poll_subscription(&t, &[]).await;
    let path = format!("/subscriptions/{id}");

    let r = t.org_admin("POST", &format!("{path}/pause"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["status"].clone(), r.body["version"].clone()),
        (json!("paused"), json!(2))
    );
    // Pausing again changes nothing (L4): same version.
    let r = t.org_admin("POST", &format!("{path}/pause"), None).await;
    assert_eq!(r.body["version"], 2);
    // A paused subscription delivers nothing, by poll too; its events keep queuing.
    let sub = stored(&t, &id).await;
    t.state.store.enqueue(&sub, &changes(&t, 1)).await.unwrap();
    let r = poll(&t, &receiver, &id, json!({"returnImmediately": true})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"sets": {}, "moreAvailable": false}));
    let r = t.org_admin("POST", &format!("{path}/resume"), None).await;
    assert_eq!(
        (r.body["status"].clone(), r.body["backlog"].clone()),
        (json!("active"), json!(1))
    );

    // Rotation: the new secret is answered once; SETs now verify with it, not the old.
    let r = t
        .org_admin("POST", &format!("{path}/rotate-secret"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["keyGeneration"], 1);
    let new_secret = r.body["signingSecret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, old_secret);
    let get = t.org_admin("GET", &path, None).await;
    assert!(get.body.get("signingSecret").is_none());
    let r = poll(&t, &receiver, &id, json!({"returnImmediately": true})).await;
    let sets = sets_of(&r.body);
    assert_eq!(sets.len(), 1, "{}", r.body);
    assert!(verify(&sets[0].1, &new_secret).is_ok());
    assert_eq!(
        verify(&sets[0].1, &old_secret),
        Err(VerifyError::BadSignature)
    );
    assert_logged_without(&t, &id, &[&old_secret, &new_secret, &receiver]).await;

    // Deletion: the subscription, its queue and its receiver token go.
    let r = t.org_admin("DELETE", &path, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    t.org_admin("GET", &path, None)
        .await
        .assert_error(404, None);
    assert_eq!(t.state.store.backlog(&sub).await.unwrap(), 0);
    poll(&t, &receiver, &id, json!({}))
        .await
        .assert_error(401, None);
    for action in ["pause", "resume", "rotate-secret"] {
        t.org_admin("POST", &format!("{path}/{action}"), None)
            .await
            .assert_error(404, None);
    }
    t.org_admin("DELETE", &path, None)
        .await
        .assert_error(404, None);
}

#[tokio::test]
async fn e5_poll_answers_signed_sets_in_order_until_acknowledged() {
    let t = org(false).await;
    let (id, secret, receiver) = poll_subscription(&t, &[]).await;
    let sub = stored(&t, &id).await;
    let queued = changes(&t, 3);
    t.state.store.enqueue(&sub, &queued).await.unwrap();

    let body = json!({"maxEvents": 2, "returnImmediately": true});
    let r = poll(&t, &receiver, &id, body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["moreAvailable"], true);
    let sets = sets_of(&r.body);
    assert_eq!(sets.len(), 2);
    for (jti, set) in &sets {
        let claims = verify(set, &secret).expect("a valid signature");
        assert_eq!(claims["jti"], json!(jti));
        assert_eq!(claims["aud"], format!("urn:scimlink:subscription:{id}"));
        assert_eq!(claims["scimlink"]["org"], json!(t.org_id));
        assert_eq!(claims["txn"], "req-test");
        assert!(claims["events"]["urn:ietf:params:SCIM:event:prov:create:full"].is_object());
    }
    // The head of the queue, in delivery order (the jtis sort the other way).
    let text = poll_text(&t, &receiver, &id, body.clone()).await;
    let first = text.find(&queued[0].id).expect("first");
    let second = text.find(&queued[1].id).expect("second");
    assert!(first < second, "{text}");
    assert!(!text.contains(&queued[2].id));

    // Not acknowledged: answered again.
    let again = poll(&t, &receiver, &id, body).await;
    assert_eq!(sets_of(&again.body), sets);

    // Acknowledged: gone; the rest follows.
    let r = poll(
        &t,
        &receiver,
        &id,
        json!({"ack": [queued[0].id, queued[1].id], "maxEvents": 2, "returnImmediately": true}),
    )
    .await;
    let sets = sets_of(&r.body);
    assert_eq!(sets.len(), 1, "{}", r.body);
    assert_eq!(sets[0].0, queued[2].id);
    assert_eq!(r.body["moreAvailable"], false);

    // maxEvents 0 acknowledges only; a reported error removes the event too.
    let r = poll(
        &t,
        &receiver,
        &id,
        json!({"maxEvents": 0, "setErrs": {queued[2].id.clone(): {"err": "jwtAud", "description": "not for us"}}}),
    )
    .await;
    assert_eq!(r.body, json!({"sets": {}, "moreAvailable": false}));
    assert_eq!(t.state.store.backlog(&sub).await.unwrap(), 0);
    // Acknowledging an unknown or already acknowledged jti is harmless.
    let r = poll(
        &t,
        &receiver,
        &id,
        json!({"ack": [queued[0].id, "nope"], "returnImmediately": true}),
    )
    .await;
    assert_eq!(r.body, json!({"sets": {}, "moreAvailable": false}));
}

#[tokio::test]
async fn e5_a_long_poll_returns_when_an_event_arrives() {
    let t = org(false).await;
    let (id, secret, receiver) = poll_subscription(&t, &[]).await;
    let sub = stored(&t, &id).await;
    let start = Instant::now();
    let r = poll(&t, &receiver, &id, json!({"returnImmediately": true})).await;
    assert_eq!(r.body["sets"], json!({}));
    assert!(start.elapsed() < Duration::from_secs(2));

    let one = changes(&t, 1);
    let start = Instant::now();
    let (r, ()) = tokio::join!(poll(&t, &receiver, &id, json!({})), async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        t.state.store.enqueue(&sub, &one).await.unwrap();
    });
    let waited = start.elapsed();
    let sets = sets_of(&r.body);
    assert_eq!(sets.len(), 1, "{}", r.body);
    assert!(verify(&sets[0].1, &secret).is_ok());
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test]
async fn e5_a_push_subscription_can_be_polled_with_the_admin_key() {
    let t = org(false).await;
    let push = subscribe(
        &t,
        json!({"name": "Hook", "delivery": {"method": "push", "url": PUBLIC_HOOK}}),
    )
    .await;
    let id = push["id"].as_str().unwrap();
    let sub = stored(&t, id).await;
    t.state.store.enqueue(&sub, &changes(&t, 2)).await.unwrap();
    let key = t.org_admin("POST", "/admin-keys", None).await.body["key"]
        .as_str()
        .unwrap()
        .to_string();
    let r = poll(&t, &key, id, json!({"returnImmediately": true})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sets = sets_of(&r.body);
    assert_eq!(sets.len(), 2);
    let secret = push["signingSecret"].as_str().unwrap();
    assert!(sets.iter().all(|(_, s)| verify(s, secret).is_ok()));
}

#[tokio::test]
async fn x2_a_receiver_token_polls_its_own_subscription_and_nothing_else() {
    let t = org(false).await;
    let (a, _, token_a) = poll_subscription(&t, &[]).await;
    let (b, _, _) = poll_subscription(&t, &[]).await;
    let r = poll(&t, &token_a, &a, json!({"returnImmediately": true})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Another subscription of the same org, or an unknown one: 404 alike.
    poll(&t, &token_a, &b, json!({"returnImmediately": true}))
        .await
        .assert_error(404, None);
    poll(&t, &token_a, "no-such-subscription", json!({}))
        .await
        .assert_error(404, None);
    // Not an admin credential, nor a SCIM one: 401 like a wrong one (X1).
    for (method, path) in [
        ("GET", format!("/admin/v1/orgs/{}/subscriptions", t.org_id)),
        (
            "GET",
            format!("/admin/v1/orgs/{}/subscriptions/{a}", t.org_id),
        ),
        (
            "POST",
            format!("/admin/v1/orgs/{}/subscriptions/{a}/pause", t.org_id),
        ),
        ("GET", format!("/admin/v1/orgs/{}", t.org_id)),
    ] {
        call_as(&t.state, Some(&token_a), method, &path, None)
            .await
            .assert_error(401, None);
    }
    let r = call_as(
        &t.state,
        Some(&token_a),
        "POST",
        &format!("{}/Users", t.base()),
        Some(okta_user("r@example.com", "r@example.com")),
    )
    .await;
    r.assert_error(401, None);
    // A SCIM token cannot poll; no token cannot either.
    poll(&t, &t.token, &a, json!({}))
        .await
        .assert_error(401, None);
    call_as(&t.state, None, "POST", &poll_path(&t, &a), Some(json!({})))
        .await
        .assert_error(401, None);
}

#[tokio::test]
async fn x2_another_orgs_admin_key_gets_404() {
    let t = org(false).await;
    let (id, _, token) = poll_subscription(&t, &[]).await;
    let other = org(false).await;
    let other_key = other.org_admin("POST", "/admin-keys", None).await.body["key"]
        .as_str()
        .unwrap()
        .to_string();
    for (method, suffix) in [
        ("GET", "/subscriptions".to_string()),
        ("GET", format!("/subscriptions/{id}")),
        ("POST", format!("/subscriptions/{id}/pause")),
        ("DELETE", format!("/subscriptions/{id}")),
    ] {
        call_as(
            &t.state,
            Some(&other_key),
            method,
            &format!("/admin/v1/orgs/{}{suffix}", t.org_id),
            None,
        )
        .await
        .assert_error(404, None);
    }
    poll(&t, &other_key, &id, json!({}))
        .await
        .assert_error(404, None);
    // The other org's own routes do not see this org's subscription either.
    other
        .org_admin("GET", &format!("/subscriptions/{id}"), None)
        .await
        .assert_error(404, None);
    // A receiver token used on another org's path: 404.
    call_as(
        &t.state,
        Some(&token),
        "POST",
        &format!("/admin/v1/orgs/{}/subscriptions/{id}/poll", other.org_id),
        Some(json!({})),
    )
    .await
    .assert_error(404, None);
    let r = t
        .org_admin("GET", &format!("/subscriptions/{id}"), None)
        .await;
    assert_eq!(r.body["status"], "active", "nothing changed");
}

#[tokio::test]
async fn e5_a_malformed_poll_is_400_in_rfc_8936_style() {
    let t = org(false).await;
    let (id, _, receiver) = poll_subscription(&t, &[]).await;
    for body in [
        json!({"maxEvents": "ten"}),
        json!({"maxEvents": -1}),
        json!({"ack": "one"}),
        json!({"setErrs": {"j": {"description": "no err"}}}),
        json!([1, 2]),
    ] {
        let r = poll(&t, &receiver, &id, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["err"], "invalid_request", "{}", r.body);
        assert!(r.body["description"].is_string());
    }
    let r = call_as(&t.state, Some(&receiver), "GET", &poll_path(&t, &id), None).await;
    assert_eq!(r.status, 405, "{}", r.body);
}

#[tokio::test]
async fn e5_e1_redeliver_queues_wanted_changes_again_and_a_dry_run_queues_nothing() {
    let t = org(false).await;
    let (id, secret, receiver) = poll_subscription(&t, &["prov:create"]).await;
    let sub = stored(&t, &id).await;
    let before = scimlink::clock::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let from = scimlink::clock::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let after = scimlink::clock::now();
    let mut plan = Plan::default();
    for c in [
        change(&t, &before, 0, "prov:create"),
        change(&t, &after, 0, "prov:create"),
        change(&t, &after, 1, "access:granted"),
        change(&t, &after, 2, "prov:create"),
    ] {
        plan.put(
            Record::Changes(scimlink::directory::model::ChangeBatch { events: vec![c] }),
            Condition::Always,
        );
    }
    t.state.store.apply(&plan).await.unwrap();

    let path = format!("/subscriptions/{id}/redeliver");
    let r = t
        .org_admin(
            "POST",
            &format!("{path}?dryRun=true"),
            Some(json!({"from": from})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (r.body["events"].clone(), r.body["dryRun"].clone()),
        (json!(2), json!(true))
    );
    assert_eq!(
        t.state.store.backlog(&sub).await.unwrap(),
        0,
        "a dry run queues nothing"
    );

    let r = t
        .org_admin("POST", &path, Some(json!({"from": from})))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["events"], 2);
    assert_eq!(r.body["queued"], true);
    // Again: the same queue items, nothing twice.
    t.org_admin("POST", &path, Some(json!({"from": from})))
        .await;
    assert_eq!(t.state.store.backlog(&sub).await.unwrap(), 2);
    let polled = poll(&t, &receiver, &id, json!({"returnImmediately": true})).await;
    let sets = sets_of(&polled.body);
    assert_eq!(sets.len(), 2, "{}", polled.body);
    for (_, s) in &sets {
        let claims = verify(s, &secret).unwrap();
        assert!(claims["events"]["urn:ietf:params:SCIM:event:prov:create:full"].is_object());
    }
    let r = t.org_admin("GET", "/events?limit=20", None).await;
    assert!(
        r.body.to_string().contains("redelivered 2 event(s)"),
        "{}",
        r.body
    );

    // Bounded by the retention; a time must be RFC 3339.
    let r = t
        .org_admin("POST", &path, Some(json!({"from": "2001-01-01T00:00:00Z"})))
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.body["detail"].as_str().unwrap().contains("retention"));
    t.org_admin("POST", &path, Some(json!({"from": "last week"})))
        .await
        .assert_error(400, Some("invalidValue"));
    t.org_admin(
        "POST",
        "/subscriptions/nope/redeliver",
        Some(json!({"from": from})),
    )
    .await
    .assert_error(404, None);
}
