//! E5 push (RFC 8935) and X5 outbound rules, end to end on DynamoDB Local: change items
//! written by plans go through the table's real stream, read by the same pump code as
//! `make run` (in-process, keeping this test's orgs only, as if the stream were private),
//! into the `events` handler, which pushes to loopback receivers that verify every SET.
//!
//! Subscriptions are created with `store.apply` of a plan holding `Record::Subscription`,
//! and changes with synthetic `Record::Changes` batches, each in its own transaction.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scimlink::directory::model::{ChangeRecord, ChangeSubject};
use scimlink::directory::plan::{Condition, Plan, Record};
use scimlink::events::dead_letter::{DeadLetter, DeadLetterReason, DeadLetters};
use scimlink::events::outbound::{PushClient, Timeouts};
use scimlink::events::pump::{batches, StartingPosition, StreamPump};
use scimlink::events::push::{EventsService, PushConfig};
use scimlink::events::set::EventsKey;
use scimlink::events::stream::{BatchResponse, StreamEvent};
use scimlink::events::subscription::{DeliveryMethod, SubscriptionRecord, SubscriptionStatus};
use scimlink::store::Store;
use scimlink_tools::receiver::{Mode, Receiver};
use serde_json::json;

use crate::common;

const EVENTS_KEY: &str = "test-events-key-0123456789abcdef0123456789";

fn quick_config() -> PushConfig {
    PushConfig {
        connect_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(400),
        retry_delays: vec![Duration::from_millis(20), Duration::from_millis(50)],
        disable_after: Duration::from_secs(3600),
        drain_budget: Duration::from_secs(20),
    }
}

/// One test's pump, handler and orgs.
struct Push {
    store: Store,
    service: EventsService,
    pump: StreamPump,
    orgs: Vec<String>,
    dead: Arc<Mutex<Vec<DeadLetter>>>,
    key: EventsKey,
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

impl Push {
    async fn new(config: PushConfig) -> Self {
        let store = common::stream_store().await;
        let sdk = scimlink::aws::sdk_loader()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "test",
            ))
            .load()
            .await;
        let key = EventsKey::from_secret(EVENTS_KEY);
        let client = PushClient::with_loopback(config.timeouts(), true).expect("client");
        let (dead_letters, dead) = DeadLetters::memory();
        let service = EventsService::new(store.clone(), key.clone(), client, dead_letters, config);
        let mut pump = StreamPump::new(
            &sdk,
            Some(&common::endpoint()),
            common::STREAM_TABLE,
            StartingPosition::Latest,
        );
        // Takes the shards' current ends: what this test writes from now on is read.
        pump.poll_all().await.expect("the test table has a stream");
        Push {
            store,
            service,
            pump,
            orgs: vec![new_id("push-org")],
            dead,
            key,
        }
    }

    fn org(&self) -> &str {
        &self.orgs[0]
    }

    fn add_org(&mut self) -> String {
        let org = new_id("push-org");
        self.orgs.push(org.clone());
        org
    }

    async fn subscribe(&self, org: &str, url: &str, events: &[&str]) -> SubscriptionRecord {
        let now = scimlink::clock::now();
        let sub = SubscriptionRecord {
            org_id: org.to_string(),
            id: new_id("sub"),
            name: "test receiver".into(),
            delivery: DeliveryMethod::Push { url: url.into() },
            events: events.iter().map(|e| e.to_string()).collect(),
            status: SubscriptionStatus::Active,
            key_generation: 0,
            version: 1,
            created: now.clone(),
            last_modified: now,
        };
        let mut plan = Plan::default();
        plan.put(Record::Subscription(sub.clone()), Condition::Absent);
        self.store.apply(&plan).await.expect("subscription");
        // The handler finds subscriptions through GSI1 (eventually consistent).
        for _ in 0..100 {
            let subs = self.store.subscriptions_of_org(org).await.expect("subs");
            if subs.iter().any(|s| s.id == sub.id) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sub
    }

    fn secret(&self, sub: &SubscriptionRecord) -> String {
        self.key.signing_secret(sub)
    }

    /// `n` transactions, each with `per_txn` changes about one of `resources` users (in
    /// turn), committed one after the other. Returns the changes in delivery order.
    async fn write(
        &self,
        org: &str,
        n: usize,
        per_txn: u32,
        resources: usize,
    ) -> Vec<ChangeRecord> {
        let mut out = Vec::new();
        for i in 0..n {
            // Distinct milliseconds: the order key's time then follows commit order.
            tokio::time::sleep(Duration::from_millis(2)).await;
            let time = scimlink::clock::now();
            let txn = new_id("txn");
            let user = format!("u{}", i % resources.max(1));
            let mut plan = Plan::default();
            let mut events = Vec::new();
            for seq in 0..per_txn {
                let c = change(org, &time, &txn, seq, &user, i);
                events.push(c.clone());
                out.push(c);
            }
            plan.put(
                Record::Changes(scimlink::directory::model::ChangeBatch { events }),
                Condition::Always,
            );
            self.store.apply(&plan).await.expect("change");
        }
        out.sort_by_key(ChangeRecord::order_key);
        out
    }

    /// One pass of the pump: this test's records, in batches of 100, to the handler.
    async fn pump_once(&mut self) -> Vec<BatchResponse> {
        let prefixes: Vec<String> = self.orgs.iter().map(|o| format!("ORG#{o}#")).collect();
        let mut records = self.pump.poll().await.expect("stream");
        records.retain(|r| {
            r.partition_key()
                .is_some_and(|pk| prefixes.iter().any(|p| pk.starts_with(p)))
        });
        let mut responses = Vec::new();
        for batch in batches(records, 100) {
            responses.push(self.service.handle_stream(&batch).await);
        }
        responses
    }

    /// Reads the stream until it has `n` records of this test's orgs: one batch.
    async fn collect(&mut self, n: usize) -> StreamEvent {
        let prefixes: Vec<String> = self.orgs.iter().map(|o| format!("ORG#{o}#")).collect();
        let mut records = Vec::new();
        let until = Instant::now() + Duration::from_secs(20);
        while records.len() < n && Instant::now() < until {
            let mut more = self.pump.poll().await.expect("stream");
            more.retain(|r| {
                r.partition_key()
                    .is_some_and(|pk| prefixes.iter().any(|p| pk.starts_with(p)))
            });
            records.extend(more);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(records.len(), n, "records on the stream");
        StreamEvent { records }
    }

    /// Pumps until `done` or `timeout`.
    async fn pump_until(&mut self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            for r in self.pump_once().await {
                assert!(r.batch_item_failures.is_empty(), "{r:?}");
            }
            if done() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        done()
    }

    /// The schedule's tick, as far as this test's subscriptions go (the handler drains
    /// every listed subscription; other tests' are theirs to watch).
    async fn tick(&self) {
        let orgs = self.orgs.clone();
        self.service
            .handle_tick_where(|e| orgs.contains(&e.org_id))
            .await
            .expect("tick");
    }

    fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

fn change(org: &str, time: &str, txn: &str, seq: u32, user: &str, n: usize) -> ChangeRecord {
    ChangeRecord {
        org_id: org.to_string(),
        directory_id: Some("dir-push".into()),
        time: time.to_string(),
        txn: txn.to_string(),
        seq,
        id: new_id("jti"),
        request_id: Some(new_id("req")),
        event: if seq == 0 {
            "prov:patch"
        } else {
            "access:granted"
        }
        .into(),
        subject: ChangeSubject {
            resource_type: "User".into(),
            id: user.to_string(),
            directory_id: Some("dir-push".into()),
            external_id: None,
            email: Some(format!("{user}@example.com")),
            version: Some(n as u64 + 1),
        },
        data: json!({"n": n, "seq": seq}),
    }
}

fn jtis(changes: &[ChangeRecord]) -> Vec<String> {
    changes.iter().map(|c| c.id.clone()).collect()
}

#[tokio::test]
async fn e5_push_delivers_every_change_signed_and_in_order() {
    let mut push = Push::new(quick_config()).await;
    let receiver = Receiver::start(0, None, false).await.expect("receiver");
    let org = push.org().to_string();
    let sub = push.subscribe(&org, &receiver.url(), &[]).await;
    receiver.set_secret(Some(push.secret(&sub)));
    // A subscription to one type gets only that type.
    let grants = Receiver::start(0, None, false).await.expect("receiver");
    let grants_sub = push
        .subscribe(&org, &grants.url(), &["access:granted"])
        .await;
    grants.set_secret(Some(push.secret(&grants_sub)));

    let changes = push.write(&org, 20, 2, 3).await;
    assert!(
        push.pump_until(Duration::from_secs(30), || receiver.unique_jtis().len()
            >= 40
            && grants.unique_jtis().len() >= 20)
            .await,
        "got {} of 40",
        receiver.unique_jtis().len()
    );
    assert_eq!(receiver.invalid(), 0, "every SET verifies");
    assert_eq!(receiver.jtis(), jtis(&changes), "in order, each once");
    let received = receiver.received();
    assert!(received.iter().all(|r| r.headers_ok), "RFC 8935 headers");
    let first = &received[0].claims;
    assert_eq!(first["iss"], "urn:scimlink");
    assert_eq!(first["scimlink"]["org"], org.as_str());
    assert_eq!(
        first["aud"],
        format!("urn:scimlink:subscription:{}", sub.id)
    );
    assert_eq!(
        first["events"]["urn:ietf:params:SCIM:event:prov:patch:full"]["n"],
        0
    );
    let wanted: Vec<String> = changes
        .iter()
        .filter(|c| c.event == "access:granted")
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(grants.jtis(), wanted);
    assert_eq!(grants.invalid(), 0);

    let state = push
        .store
        .delivery_state(&org, &sub.id)
        .await
        .expect("state");
    assert_eq!(state.delivered, 40);
    assert!(state.last_success.is_some() && state.failing_since.is_none());
    assert_eq!(push.store.backlog(&sub).await.expect("backlog"), 0);
    assert!(push.dead_letters().is_empty());

    // A batch delivered twice (Lambda retries) enqueues nothing twice.
    let again = push.write(&org, 1, 1, 1).await;
    let mut all = Vec::new();
    while all.is_empty() {
        all = push.pump.poll().await.expect("poll");
        all.retain(|r| {
            r.partition_key()
                .is_some_and(|p| p.starts_with(&format!("ORG#{org}#")))
        });
    }
    let batch = StreamEvent { records: all };
    push.service.handle_stream(&batch).await;
    push.service.handle_stream(&batch).await;
    assert!(receiver.wait_for(41, Duration::from_secs(5)).await);
    assert_eq!(receiver.unique_jtis().last(), Some(&again[0].id));
    assert_eq!(push.store.backlog(&sub).await.expect("backlog"), 0);

    // A record that cannot be decoded is reported for retry (then the DLQ), and only it.
    let mut broken = batch.records[0].clone();
    broken.dynamodb.sequence_number = "999".into();
    if let Some(image) = broken.dynamodb.new_image.as_mut() {
        image.insert("data".into(), json!({"S": "{not json"}));
    }
    let response = push
        .service
        .handle_stream(&StreamEvent {
            records: vec![broken],
        })
        .await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier, "999");
}

#[tokio::test]
async fn e5_push_survives_500s_and_timeouts_then_recovers_with_nothing_missing() {
    let mut push = Push::new(quick_config()).await;
    let receiver = Receiver::start(0, None, false).await.expect("receiver");
    let org = push.org().to_string();
    let sub = push.subscribe(&org, &receiver.url(), &[]).await;
    receiver.set_secret(Some(push.secret(&sub)));

    // Healthy for a start.
    let mut expected = push.write(&org, 5, 1, 2).await;
    assert!(
        push.pump_until(Duration::from_secs(20), || receiver.unique_jtis().len()
            >= 5)
            .await
    );

    // 500s: three attempts per drain, then the failure is recorded and the events wait.
    receiver.set_mode(Mode::Fail(500));
    expected.extend(push.write(&org, 5, 1, 2).await);
    let attempts = receiver.attempts();
    push.pump_until(Duration::from_secs(20), || {
        receiver.attempts() >= attempts + 3
    })
    .await;
    let state = push
        .store
        .delivery_state(&org, &sub.id)
        .await
        .expect("state");
    assert_eq!(state.last_error.as_deref(), Some("status 500"));
    assert!(state.failing_since.is_some());
    assert_eq!(push.store.backlog(&sub).await.expect("backlog"), 5);
    let notices = push.dead_letters();
    assert_eq!(notices.len(), 1, "one notice when the failures start");
    assert_eq!(notices[0].reason, DeadLetterReason::Failing);
    assert_eq!(notices[0].error, "status 500");
    assert_eq!(notices[0].jti, expected[5].id, "the queue's head");

    // Timeouts: a failing subscription is left to the schedule by new stream batches.
    receiver.set_mode(Mode::Hang(Duration::from_secs(2)));
    expected.extend(push.write(&org, 5, 1, 2).await);
    let started = Instant::now();
    for _ in 0..3 {
        push.pump_once().await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the stream is not held up"
    );
    push.tick().await;
    let state = push
        .store
        .delivery_state(&org, &sub.id)
        .await
        .expect("state");
    assert_eq!(state.last_error.as_deref(), Some("timeout"));
    assert!(state.consecutive_failures >= 2);
    assert_eq!(push.store.backlog(&sub).await.expect("backlog"), 10);

    // Recovery: the next tick delivers everything, in order.
    receiver.set_mode(Mode::Accept);
    push.tick().await;
    assert!(receiver.wait_for(15, Duration::from_secs(10)).await);
    assert_eq!(receiver.invalid(), 0);
    assert_eq!(
        receiver.unique_jtis(),
        jtis(&expected),
        "nothing missing, order kept"
    );
    let state = push
        .store
        .delivery_state(&org, &sub.id)
        .await
        .expect("state");
    assert!(state.failing_since.is_none());
    assert_eq!(state.consecutive_failures, 0);
    assert_eq!(state.delivered, 15);
    assert_eq!(push.store.backlog(&sub).await.expect("backlog"), 0);
    // Out of the backlog listing once drained.
    let listed = push.store.push_backlog_entries().await.expect("entries");
    assert!(!listed.iter().any(|e| e.subscription_id == sub.id));
}

#[tokio::test]
async fn e5_a_receiver_that_never_recovers_is_disabled_and_keeps_its_backlog() {
    let mut config = quick_config();
    config.disable_after = Duration::from_secs(1);
    let mut push = Push::new(config).await;
    let receiver = Receiver::start(0, None, false).await.expect("receiver");
    receiver.set_mode(Mode::Fail(503));
    let org = push.org().to_string();
    let sub = push.subscribe(&org, &receiver.url(), &[]).await;

    let expected = push.write(&org, 6, 1, 2).await;
    push.pump_until(Duration::from_secs(20), || receiver.attempts() >= 3)
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    push.tick().await;

    let now = push
        .store
        .get_subscription(&org, &sub.id)
        .await
        .expect("read")
        .expect("subscription");
    assert_eq!(now.status, SubscriptionStatus::Disabled);
    assert_eq!(now.version, sub.version + 1);
    // The backlog is intact, in order: what poll and redelivery read.
    assert_eq!(push.store.backlog(&sub).await.expect("backlog"), 6);
    let head = push.store.queue_head(&sub, 10).await.expect("head");
    assert_eq!(jtis(&head), jtis(&expected));
    let notices = push.dead_letters();
    assert!(notices
        .iter()
        .any(|n| n.reason == DeadLetterReason::Disabled));
    let state = push
        .store
        .delivery_state(&org, &sub.id)
        .await
        .expect("state");
    assert_eq!(state.dead_lettered, notices.len() as u64);

    // The admin can read why (E1): an org log event of the disable.
    let day = scimlink::store::keys::day_of(&now.last_modified).to_string();
    let log = push
        .store
        .client()
        .query()
        .table_name(push.store.table())
        .key_condition_expression("pk = :p")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S(scimlink::store::keys::admin_log(
                &org, &day,
            )),
        )
        .send()
        .await
        .expect("log");
    let messages: Vec<String> = log
        .items()
        .iter()
        .filter_map(|i| i.get("data").and_then(|d| d.as_s().ok()).cloned())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("disabled") && m.contains("status 503")),
        "{messages:?}"
    );

    // Disabled: new events are queued, not pushed, and nothing is lost.
    let attempts = receiver.attempts();
    let more = push.write(&org, 2, 1, 1).await;
    push.pump_once().await;
    push.tick().await;
    assert_eq!(receiver.attempts(), attempts);
    let head = push.store.queue_head(&sub, 10).await.expect("head");
    assert_eq!(jtis(&head), [jtis(&expected), jtis(&more)].concat());
}

#[tokio::test]
async fn e5_a_failing_receiver_does_not_delay_a_healthy_one() {
    let mut push = Push::new(quick_config()).await;
    let org = push.org().to_string();
    let hanging = Receiver::start(0, None, false).await.expect("receiver");
    hanging.set_mode(Mode::Hang(Duration::from_secs(3)));
    let healthy = Receiver::start(0, None, false).await.expect("receiver");
    push.subscribe(&org, &hanging.url(), &[]).await;
    let sub = push.subscribe(&org, &healthy.url(), &[]).await;
    healthy.set_secret(Some(push.secret(&sub)));

    let expected = push.write(&org, 5, 1, 1).await;
    let batch = push.collect(5).await;
    let started = Instant::now();
    let response = push.service.handle_stream(&batch).await;
    let invocation = started.elapsed();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(healthy.unique_jtis(), jtis(&expected));
    // The hanging receiver's three attempts (400 ms each, with backoff) held the
    // invocation; the healthy receiver had everything long before.
    let last = healthy
        .received()
        .iter()
        .map(|r| r.at)
        .max()
        .expect("received");
    let healthy_done = last.duration_since(started);
    assert!(invocation >= Duration::from_millis(1200), "{invocation:?}");
    assert!(
        healthy_done < Duration::from_millis(600),
        "healthy receiver waited {healthy_done:?} (invocation {invocation:?})"
    );

    // Now known to be failing, the hanging receiver is left to the schedule: the next
    // batch reaches the healthy one at once.
    let more = push.write(&org, 3, 1, 1).await;
    let started = Instant::now();
    assert!(
        push.pump_until(Duration::from_secs(5), || healthy.unique_jtis().len() >= 8)
            .await
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        healthy.unique_jtis(),
        [jtis(&expected), jtis(&more)].concat()
    );
    assert_eq!(healthy.invalid(), 0);
}

#[tokio::test]
async fn e5_another_orgs_subscription_receives_none_of_this_orgs_events() {
    let mut push = Push::new(quick_config()).await;
    let org = push.org().to_string();
    let other_org = push.add_org();
    let mine = Receiver::start(0, None, false).await.expect("receiver");
    let theirs = Receiver::start(0, None, false).await.expect("receiver");
    let sub = push.subscribe(&org, &mine.url(), &[]).await;
    let other = push.subscribe(&other_org, &theirs.url(), &[]).await;

    let expected = push.write(&org, 5, 1, 1).await;
    assert!(
        push.pump_until(Duration::from_secs(20), || mine.unique_jtis().len() >= 5)
            .await
    );
    let theirs_expected = push.write(&other_org, 2, 1, 1).await;
    assert!(
        push.pump_until(Duration::from_secs(20), || theirs.unique_jtis().len() >= 2)
            .await
    );
    assert_eq!(mine.unique_jtis(), jtis(&expected));
    assert_eq!(theirs.unique_jtis(), jtis(&theirs_expected));
    assert!(theirs
        .received()
        .iter()
        .all(|r| r.claims["scimlink"]["org"] == other_org.as_str()));
    assert_eq!(push.store.backlog(&other).await.expect("backlog"), 0);
    assert_eq!(push.store.backlog(&sub).await.expect("backlog"), 0);
}

#[tokio::test]
async fn x5_push_does_not_follow_redirects() {
    let mut push = Push::new(quick_config()).await;
    let org = push.org().to_string();
    let target = Receiver::start(0, None, false).await.expect("receiver");
    let redirecting = Receiver::start(0, None, false).await.expect("receiver");
    redirecting.set_mode(Mode::Redirect(target.url()));
    let sub = push.subscribe(&org, &redirecting.url(), &[]).await;

    push.write(&org, 1, 1, 1).await;
    assert!(
        push.pump_until(Duration::from_secs(20), || redirecting.attempts() >= 1)
            .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(target.attempts(), 0, "the redirect was not followed");
    assert_eq!(
        redirecting.attempts(),
        1,
        "a redirect is not retried at once"
    );
    let state = push
        .store
        .delivery_state(&org, &sub.id)
        .await
        .expect("state");
    assert_eq!(state.last_error.as_deref(), Some("redirect 302"));
    assert_eq!(state.consecutive_failures, 1);
    assert_eq!(push.store.backlog(&sub).await.expect("backlog"), 1);
}

#[tokio::test]
async fn e5_a_set_the_receiver_rejects_is_dead_lettered_and_the_queue_goes_on() {
    let mut push = Push::new(quick_config()).await;
    let org = push.org().to_string();
    let receiver = Receiver::start(0, None, false).await.expect("receiver");
    receiver.set_mode(Mode::Reject);
    let sub = push.subscribe(&org, &receiver.url(), &[]).await;
    let rejected = push.write(&org, 2, 1, 1).await;
    assert!(
        push.pump_until(Duration::from_secs(20), || receiver.attempts() >= 2)
            .await
    );
    receiver.set_mode(Mode::Accept);
    let accepted = push.write(&org, 2, 1, 1).await;
    assert!(
        push.pump_until(Duration::from_secs(20), || receiver.unique_jtis().len()
            >= 2)
            .await
    );
    assert_eq!(receiver.unique_jtis(), jtis(&accepted));
    let notices = push.dead_letters();
    assert_eq!(
        notices.iter().map(|n| n.jti.clone()).collect::<Vec<_>>(),
        jtis(&rejected)
    );
    assert!(
        notices
            .iter()
            .all(|n| n.reason == DeadLetterReason::Rejected
                && n.error == "status 400 invalid_request")
    );
    let state = push
        .store
        .delivery_state(&org, &sub.id)
        .await
        .expect("state");
    assert_eq!((state.delivered, state.dead_lettered), (2, 2));
    assert!(state.failing_since.is_none());
}

#[tokio::test]
async fn x5_push_refuses_private_targets_without_sending() {
    // Outside the local stack (no loopback): a loopback receiver is never reached.
    let receiver = Receiver::start(0, None, false).await.expect("receiver");
    let client = PushClient::with_loopback(
        Timeouts {
            connect: Duration::from_millis(300),
            total: Duration::from_millis(500),
        },
        false,
    )
    .expect("client");
    for url in [
        receiver.url(),
        receiver.url().replace("127.0.0.1", "localhost"),
        "https://10.0.0.1/events".to_string(),
        "https://169.254.169.254/latest".to_string(),
    ] {
        assert_eq!(
            client.post(&url, "a.b.c").await,
            scimlink::events::outbound::PostOutcome::Failed(
                scimlink::events::outbound::FailureKind::Refused
            ),
            "{url}"
        );
    }
    assert_eq!(receiver.attempts(), 0);
}
