//! Subscriptions to an org's events (E5): the admin's decisions, pure. A subscription is
//! created with its receiver token (poll) in one transaction; paused, resumed and rotated
//! by a version-conditioned put; deleted with its tokens. Every plan carries its log event
//! (E1), which names the subscription by id and its receiver by scheme and host only: a
//! push URL's path or query may hold a receiver's own secret, and the signing secret is
//! never in a record or an event at all (it is derived, `events::set`).

use time::format_description::well_known::Rfc3339;

use super::context::WriteContext;
use super::model::{Outcome, TokenRecord};
use super::plan::{Condition, Plan, Record};
use crate::events::subscription::{DeliveryMethod, SubscriptionRecord, SubscriptionStatus};
use crate::events::types::{is_event_type, EVENT_TYPES};
use crate::scim::error::ScimError;
use crate::scim::limits::{check_len, MAX_NAME_BYTES};

/// The most subscriptions an org may have (X4): every change of the org is fanned out to
/// each of them by the `events` function, so this bounds the work one change makes.
pub const MAX_SUBSCRIPTIONS_PER_ORG: usize = 20;

/// What an admin asks for when subscribing (the push URL already checked, X5).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSubscription {
    pub name: String,
    pub delivery: DeliveryMethod,
    /// Short names; empty means every type.
    pub events: Vec<String>,
}

/// The record of a new subscription with id `id`, or a 400 naming what is wrong: an empty
/// or too long name, an unknown event type, or one subscription too many.
pub fn new_subscription(
    ctx: &WriteContext,
    id: &str,
    existing: usize,
    new: NewSubscription,
) -> Result<SubscriptionRecord, ScimError> {
    if existing >= MAX_SUBSCRIPTIONS_PER_ORG {
        return Err(ScimError::invalid_value(format!(
            "an organization has at most {MAX_SUBSCRIPTIONS_PER_ORG} subscriptions (X4); delete one first"
        )));
    }
    let name = new.name.trim().to_string();
    if name.is_empty() {
        return Err(ScimError::invalid_value(
            "'name' is required and must be a non-empty string",
        ));
    }
    check_len("name", &name, MAX_NAME_BYTES)?;
    let mut events: Vec<String> = Vec::with_capacity(new.events.len());
    for e in new.events {
        let e = e.trim().to_string();
        if !is_event_type(&e) {
            let known: Vec<&str> = EVENT_TYPES.iter().map(|(t, _)| *t).collect();
            return Err(ScimError::invalid_value(format!(
                "'events': unknown event type '{}'; the types are: {}",
                e.chars().take(100).collect::<String>(),
                known.join(", ")
            )));
        }
        if !events.contains(&e) {
            events.push(e);
        }
    }
    Ok(SubscriptionRecord {
        org_id: ctx.org_id.clone(),
        id: id.to_string(),
        name,
        delivery: new.delivery,
        events,
        status: SubscriptionStatus::Active,
        key_generation: 0,
        version: 1,
        created: ctx.now.clone(),
        last_modified: ctx.now.clone(),
    })
}

/// A new subscription, put only if absent, with its receiver token when it has one (poll),
/// and its log event.
pub fn plan_create_subscription(
    ctx: &WriteContext,
    sub: &SubscriptionRecord,
    receiver_token: Option<&TokenRecord>,
) -> Plan {
    let mut plan = Plan::default();
    plan.put(Record::Subscription(sub.clone()), Condition::Absent);
    let mut message = format!(
        "An admin subscribed {} to {} events, delivered {}.",
        describe(sub),
        types_of(sub),
        receiver_of(sub)
    );
    if let Some(t) = receiver_token {
        plan.put(Record::Token(t.clone()), Condition::Absent);
        message.push_str(&format!(" Its receiver token is {}.", t.id));
    }
    plan.event(ctx.event(Outcome::Created, message));
    plan
}

/// An admin's change to a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// Stop delivering (push and poll); events keep queuing.
    Pause,
    /// Deliver again, the backlog first; also re-enables a subscription disabled for
    /// failing pushes.
    Resume,
    /// A new signing secret: the key generation goes up, and SETs signed from now on no
    /// longer verify with the old secret.
    RotateSecret,
}

/// The next record and its plan (a put conditioned on the loaded version), or `None` when
/// the subscription is already as asked (a no-op writes nothing, L4).
pub fn plan_subscription_change(
    ctx: &WriteContext,
    sub: &SubscriptionRecord,
    change: SubscriptionChange,
) -> Option<(SubscriptionRecord, Plan)> {
    let mut next = sub.clone();
    let message = match change {
        SubscriptionChange::Pause if sub.status == SubscriptionStatus::Paused => return None,
        SubscriptionChange::Pause => {
            next.status = SubscriptionStatus::Paused;
            format!(
                "An admin paused {}: events are queued, not delivered.",
                describe(sub)
            )
        }
        SubscriptionChange::Resume if sub.status == SubscriptionStatus::Active => return None,
        SubscriptionChange::Resume => {
            next.status = SubscriptionStatus::Active;
            let was = match sub.status {
                SubscriptionStatus::Disabled => "disabled after failing pushes",
                _ => "paused",
            };
            format!(
                "An admin resumed {} (it was {was}): its queued events are delivered.",
                describe(sub)
            )
        }
        SubscriptionChange::RotateSecret => {
            next.key_generation = sub.key_generation.saturating_add(1);
            format!(
                "An admin rotated the signing secret of {} (key generation {} to {}).",
                describe(sub),
                sub.key_generation,
                next.key_generation
            )
        }
    };
    next.version = sub.version + 1;
    next.last_modified = ctx.now.clone();
    let mut plan = Plan::default();
    plan.put(
        Record::Subscription(next.clone()),
        Condition::Version(sub.version),
    );
    plan.event(ctx.event(Outcome::Updated, message));
    Some((next, plan))
}

/// Deleting a subscription (if still at the loaded version) and its receiver tokens. Its
/// queue and delivery state are not records of a plan: the write service removes them
/// once this commits (`Store::purge_subscription`).
pub fn plan_delete_subscription(
    ctx: &WriteContext,
    sub: &SubscriptionRecord,
    receiver_tokens: &[TokenRecord],
) -> Plan {
    let mut plan = Plan::default();
    plan.delete(
        Record::Subscription(sub.clone()),
        Condition::Version(sub.version),
    );
    for t in receiver_tokens {
        plan.delete(Record::Token(t.clone()), Condition::Always);
    }
    let tokens = match receiver_tokens.len() {
        0 => String::new(),
        n => format!(" and its {n} receiver token(s)"),
    };
    plan.event(ctx.event(
        Outcome::Deleted,
        format!(
            "An admin deleted {}{tokens}; its undelivered events are dropped.",
            describe(sub)
        ),
    ));
    plan
}

/// The log event of a redelivery: the events were put in the queue already (queue items
/// are idempotent puts, not a transaction's), so this records what was done.
pub fn plan_redelivery(
    ctx: &WriteContext,
    sub: &SubscriptionRecord,
    from: &str,
    count: u64,
) -> Plan {
    let mut plan = Plan::default();
    plan.event(ctx.event(
        Outcome::Updated,
        format!(
            "An admin redelivered {count} event(s) since {from} to {}: they are queued again.",
            describe(sub)
        ),
    ));
    plan
}

/// A redelivery's start, as stored times are written (UTC, milliseconds), and the UTC days
/// from it to `now` whose change partitions it reads. `from` must be RFC 3339 and no older
/// than the retention of change events (`retention_days`): older ones have expired, and a
/// redelivery that silently started later would claim more than it did.
pub fn redelivery_window(
    from: &str,
    now: &str,
    retention_days: i64,
) -> Result<(String, Vec<String>), ScimError> {
    let parse = |t: &str| time::OffsetDateTime::parse(t.trim(), &Rfc3339);
    let from_time = parse(from).map_err(|_| {
        ScimError::invalid_value(format!(
            "'from' must be an RFC 3339 time such as 2026-11-29T10:00:00Z, not '{}'",
            from.chars().take(64).collect::<String>()
        ))
    })?;
    let now_time = parse(now).map_err(|_| ScimError::internal())?;
    let oldest = now_time - time::Duration::days(retention_days);
    if from_time < oldest {
        return Err(ScimError::invalid_value(format!(
            "'from' is older than the retention of change events ({retention_days} days): the oldest redeliverable time is {}",
            crate::clock::format_utc(oldest)
        )));
    }
    let from_utc = from_time.to_offset(time::UtcOffset::UTC);
    let mut days = Vec::new();
    let mut day = from_utc.date();
    let last = now_time.to_offset(time::UtcOffset::UTC).date();
    while day <= last {
        days.push(day.to_string());
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    Ok((crate::clock::format_utc(from_utc), days))
}

/// `subscription <id> ('<name>')`.
fn describe(sub: &SubscriptionRecord) -> String {
    format!("subscription {} ('{}')", sub.id, sub.name)
}

fn types_of(sub: &SubscriptionRecord) -> String {
    if sub.events.is_empty() {
        "all".into()
    } else {
        sub.events.join(", ")
    }
}

/// How events reach the receiver, naming a push URL by scheme, host and port only.
fn receiver_of(sub: &SubscriptionRecord) -> String {
    match &sub.delivery {
        DeliveryMethod::Poll => "by poll".into(),
        DeliveryMethod::Push { url } => match url::Url::parse(url) {
            Ok(u) => format!(
                "by push to {}://{}{}",
                u.scheme(),
                u.host_str().unwrap_or_default(),
                u.port().map(|p| format!(":{p}")).unwrap_or_default()
            ),
            Err(_) => "by push".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::TokenScope;
    use crate::directory::plan::Write;
    use crate::directory::testkit::{ctx, NOW};

    fn new(events: &[&str]) -> NewSubscription {
        NewSubscription {
            name: " Jira sync ".into(),
            delivery: DeliveryMethod::Push {
                url: "https://hooks.example.com/scim?token=receiver-own-secret".into(),
            },
            events: events.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn sub() -> SubscriptionRecord {
        new_subscription(&ctx(), "s1", 0, new(&[])).unwrap()
    }

    fn receiver_token() -> TokenRecord {
        TokenRecord {
            id: "tok1".into(),
            hash: "ab".repeat(32),
            scope: TokenScope::Receiver {
                subscription_id: "s1".into(),
            },
            org_id: "org1".into(),
            created: NOW.into(),
        }
    }

    #[test]
    fn e5_a_new_subscription_is_active_with_known_types_deduplicated() {
        let s = new_subscription(
            &ctx(),
            "s1",
            3,
            new(&["access:granted", "prov:create", "access:granted"]),
        )
        .unwrap();
        assert_eq!(s.name, "Jira sync");
        assert_eq!(s.events, ["access:granted", "prov:create"]);
        assert_eq!(s.status, SubscriptionStatus::Active);
        assert_eq!((s.version, s.key_generation), (1, 0));
        assert_eq!(s.org_id, "org1");
        assert!(sub().events.is_empty(), "no types means all types");
    }

    #[test]
    fn e5_unknown_types_empty_names_and_too_many_subscriptions_are_400() {
        let e =
            new_subscription(&ctx(), "s1", 0, new(&["prov:create", "account:nope"])).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("'account:nope'"), "{}", e.detail);
        let mut blank = new(&[]);
        blank.name = "  ".into();
        assert_eq!(
            new_subscription(&ctx(), "s1", 0, blank).unwrap_err().status,
            400
        );
        let e = new_subscription(&ctx(), "s1", MAX_SUBSCRIPTIONS_PER_ORG, new(&[])).unwrap_err();
        assert!(e.detail.contains("at most 20"), "{}", e.detail);
    }

    /// E1: the creation is logged by id, naming the push receiver by host only (its query
    /// may hold the receiver's own secret), and the token by id, never by hash.
    #[test]
    fn e1_a_creation_is_logged_without_secrets() {
        let plan = plan_create_subscription(&ctx(), &sub(), Some(&receiver_token()));
        assert!(matches!(
            &plan.writes[0],
            Write::Put(Record::Subscription(_), Condition::Absent)
        ));
        assert!(matches!(
            &plan.writes[1],
            Write::Put(Record::Token(_), Condition::Absent)
        ));
        let e = plan.events().next().unwrap();
        assert_eq!(e.outcome, Outcome::Created);
        assert!(e.message.contains("subscription s1"), "{}", e.message);
        assert!(
            e.message.contains("by push to https://hooks.example.com."),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("receiver token is tok1"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("receiver-own-secret"));
        assert!(!e.message.contains(&"ab".repeat(32)));
    }

    #[test]
    fn e5_pause_resume_and_rotate_are_version_conditioned_and_no_ops_write_nothing() {
        let s = sub();
        let (paused, plan) =
            plan_subscription_change(&ctx(), &s, SubscriptionChange::Pause).unwrap();
        assert_eq!(paused.status, SubscriptionStatus::Paused);
        assert_eq!(paused.version, 2);
        assert!(matches!(
            &plan.writes[0],
            Write::Put(Record::Subscription(_), Condition::Version(1))
        ));
        assert!(plan_subscription_change(&ctx(), &paused, SubscriptionChange::Pause).is_none());
        assert!(plan_subscription_change(&ctx(), &s, SubscriptionChange::Resume).is_none());
        let disabled = SubscriptionRecord {
            status: SubscriptionStatus::Disabled,
            ..s.clone()
        };
        let (resumed, plan) =
            plan_subscription_change(&ctx(), &disabled, SubscriptionChange::Resume).unwrap();
        assert_eq!(resumed.status, SubscriptionStatus::Active);
        assert!(plan.events().next().unwrap().message.contains("disabled"));
        let (rotated, plan) =
            plan_subscription_change(&ctx(), &s, SubscriptionChange::RotateSecret).unwrap();
        assert_eq!(rotated.key_generation, 1);
        assert_eq!(rotated.status, SubscriptionStatus::Active);
        assert!(plan
            .events()
            .next()
            .unwrap()
            .message
            .contains("generation 0 to 1"));
    }

    #[test]
    fn e5_a_deletion_takes_the_receiver_tokens_with_it() {
        let plan = plan_delete_subscription(&ctx(), &sub(), &[receiver_token()]);
        assert!(matches!(
            &plan.writes[0],
            Write::Delete(Record::Subscription(_), Condition::Version(1))
        ));
        assert!(matches!(
            &plan.writes[1],
            Write::Delete(Record::Token(_), Condition::Always)
        ));
        assert_eq!(plan.events().next().unwrap().outcome, Outcome::Deleted);
    }

    #[test]
    fn e5_a_redelivery_window_is_bounded_by_the_retention() {
        let (from, days) = redelivery_window("2026-03-02T23:30:00+01:00", NOW, 90).unwrap();
        assert_eq!(from, "2026-03-02T22:30:00.000Z");
        assert_eq!(days, ["2026-03-02", "2026-03-03", "2026-03-04"]);
        let (_, days) = redelivery_window(NOW, NOW, 90).unwrap();
        assert_eq!(days, ["2026-03-04"]);
        let e = redelivery_window("2025-01-01T00:00:00Z", NOW, 90).unwrap_err();
        assert!(e.detail.contains("90 days"), "{}", e.detail);
        assert_eq!(
            redelivery_window("yesterday", NOW, 90).unwrap_err().status,
            400
        );
        // A start after now reads no day at all.
        let (_, days) = redelivery_window("2026-03-05T00:00:00Z", NOW, 90).unwrap();
        assert!(days.is_empty());
    }

    #[test]
    fn e1_a_redelivery_is_logged_with_its_count() {
        let plan = plan_redelivery(&ctx(), &sub(), "2026-03-01T00:00:00.000Z", 7);
        assert_eq!(plan.writes.len(), 1);
        assert!(plan
            .events()
            .next()
            .unwrap()
            .message
            .contains("redelivered 7"));
    }
}
