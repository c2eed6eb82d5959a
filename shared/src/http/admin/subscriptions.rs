//! `/orgs/{o}/subscriptions`: receivers of the org's events (E5). A subscription's signing
//! secret is shown in the answer that creates it and in the one that rotates it, never
//! again (it is derived from the deployment's events key, never stored); a poll
//! subscription's receiver token is shown once, at creation, and stored as its hash (X1).

use lambda_http::{Body, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::{mint_credential, ok_json, AdminCall};
use crate::directory::model::TokenScope;
use crate::directory::subscriptions::{NewSubscription, SubscriptionChange};
use crate::events::set::{EventsKey, EVENTS_KEY_ENV};
use crate::events::subscription::{DeliveryMethod, DeliveryState, SubscriptionRecord};
use crate::events::target::{check_push_host_resolves, check_push_url, PushUrlError};
use crate::http::response::empty;
use crate::scim::error::ScimError;

/// The prefix of receiver tokens, for secret scanners.
const RECEIVER_TOKEN_PREFIX: &str = "slrcv_";

/// No events key: nothing can be signed, so no subscription is created or polled (a random
/// key would change at every cold start and break every receiver).
pub fn events_not_configured() -> ScimError {
    ScimError::new(
        503,
        None,
        format!(
            "events are not configured on this deployment: {EVENTS_KEY_ENV} is missing or shorter than 32 bytes"
        ),
    )
}

fn events_key<'a>(call: &AdminCall<'a>) -> Result<&'a EventsKey, ScimError> {
    call.events_key.ok_or_else(events_not_configured)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewSubscriptionBody {
    name: String,
    delivery: DeliveryBody,
    #[serde(default)]
    events: Vec<String>,
}

#[derive(Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
enum DeliveryBody {
    Push { url: String },
    Poll,
}

/// A push URL as X5 allows it, resolved now (the push path checks the address it connects
/// to again), or a 400 saying why not.
async fn push_url(call: &AdminCall<'_>, raw: &str) -> Result<String, ScimError> {
    let refuse = |e: PushUrlError| ScimError::invalid_value(format!("'delivery.url': {e} (X5)"));
    let url = check_push_url(raw, call.allow_loopback_push).map_err(refuse)?;
    check_push_host_resolves(&url, call.allow_loopback_push)
        .await
        .map_err(refuse)?;
    Ok(url.to_string())
}

/// POST /subscriptions.
pub async fn create(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let key = events_key(call)?;
    let body: NewSubscriptionBody = call.body()?;
    let delivery = match body.delivery {
        DeliveryBody::Push { url } => DeliveryMethod::Push {
            url: push_url(call, &url).await?,
        },
        DeliveryBody::Poll => DeliveryMethod::Poll,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let receiver = matches!(delivery, DeliveryMethod::Poll).then(|| {
        mint_credential(
            RECEIVER_TOKEN_PREFIX,
            TokenScope::Receiver {
                subscription_id: id.clone(),
            },
            &call.org.id,
        )
    });
    let new = NewSubscription {
        name: body.name,
        delivery,
        events: body.events,
    };
    let written = call
        .writer()
        .create_subscription(
            &call.caller(),
            &operation(call),
            &id,
            new,
            receiver.as_ref().map(|(_, t)| t.clone()),
        )
        .await?;
    let sub = written.outcome;
    let mut view = subscription_json(call, &sub, &DeliveryState::default(), 0);
    if written.dry_run {
        return Ok(dry_run_answer(
            view,
            "nothing was created, and no secret was issued",
        ));
    }
    if let Some(o) = view.as_object_mut() {
        o.insert("signingSecret".into(), json!(key.signing_secret(&sub)));
        if let Some((secret, token)) = &receiver {
            o.insert("receiverToken".into(), json!(secret));
            o.insert("receiverTokenId".into(), json!(token.id));
        }
        o.insert(
            "note".into(),
            json!("Shown once: the signing secret verifies every SET's HS256 signature, and the receiver token (poll) authenticates polling. Neither is shown again; rotate-secret issues a new signing secret."),
        );
    }
    Ok(ok_json(201, view))
}

/// GET /subscriptions: each with its delivery state and backlog.
pub async fn list(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let subs = call.store.subscriptions_of_org(&call.org.id).await?;
    let views = futures::future::try_join_all(subs.iter().map(|s| with_state(call, s))).await?;
    Ok(ok_json(200, json!({ "subscriptions": views })))
}

/// GET /subscriptions/{id}.
pub async fn get(call: &AdminCall<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let sub = call
        .store
        .get_subscription(&call.org.id, id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("subscription {id} not found")))?;
    Ok(ok_json(200, with_state(call, &sub).await?))
}

/// POST /subscriptions/{id}/pause, /resume, /rotate-secret.
pub async fn change(
    call: &AdminCall<'_>,
    id: &str,
    change: SubscriptionChange,
) -> Result<Response<Body>, ScimError> {
    // Rotating answers the new secret: without a key there is none to answer.
    let key = match change {
        SubscriptionChange::RotateSecret => Some(events_key(call)?),
        _ => None,
    };
    let written = call
        .writer()
        .change_subscription(&call.caller(), &operation(call), id, change)
        .await?;
    let sub = written.outcome;
    let mut view = with_state(call, &sub).await?;
    if written.dry_run {
        return Ok(dry_run_answer(view, "nothing was changed"));
    }
    if let (Some(key), Some(o)) = (key, view.as_object_mut()) {
        o.insert("signingSecret".into(), json!(key.signing_secret(&sub)));
        o.insert(
            "note".into(),
            json!("Shown once. SETs signed from now on verify with this secret only; events already delivered keep the signature they had."),
        );
    }
    Ok(ok_json(200, view))
}

/// DELETE /subscriptions/{id}: the subscription, its receiver token, its queue.
pub async fn delete(call: &AdminCall<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let written = call
        .writer()
        .delete_subscription(&call.caller(), &operation(call), id)
        .await?;
    if written.dry_run {
        return Ok(ok_json(
            200,
            json!({"id": written.outcome.id, "deleted": false, "dryRun": true}),
        ));
    }
    Ok(empty(204))
}

#[derive(Deserialize)]
struct RedeliverBody {
    from: String,
}

/// POST /subscriptions/{id}/redeliver `{from}`: queues again the org's changes since
/// `from` that the subscription wants; `?dryRun=true` counts them and queues nothing.
pub async fn redeliver(call: &AdminCall<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let body: RedeliverBody = call.body()?;
    let written = call
        .writer()
        .redeliver(&call.caller(), &operation(call), id, &body.from)
        .await?;
    let r = written.outcome;
    Ok(ok_json(
        200,
        json!({
            "subscriptionId": id,
            "from": r.from,
            "daysRead": r.days,
            "events": r.events,
            "queued": !written.dry_run,
            "dryRun": written.dry_run,
        }),
    ))
}

fn operation(call: &AdminCall<'_>) -> String {
    format!("{} {}", call.req.method(), call.req.uri().path())
}

fn dry_run_answer(mut view: Value, note: &str) -> Response<Body> {
    if let Some(o) = view.as_object_mut() {
        o.insert("dryRun".into(), json!(true));
        o.insert("note".into(), json!(format!("Dry run: {note}.")));
    }
    ok_json(200, view)
}

async fn with_state(call: &AdminCall<'_>, sub: &SubscriptionRecord) -> Result<Value, ScimError> {
    let (state, backlog) = futures::try_join!(
        call.store.delivery_state(&sub.org_id, &sub.id),
        call.store.backlog(sub)
    )?;
    Ok(subscription_json(call, sub, &state, backlog))
}

/// How the admin API shows a subscription: never a secret.
fn subscription_json(
    call: &AdminCall<'_>,
    sub: &SubscriptionRecord,
    state: &DeliveryState,
    backlog: u64,
) -> Value {
    let delivery = match &sub.delivery {
        DeliveryMethod::Push { url } => json!({"method": "push", "url": url}),
        DeliveryMethod::Poll => json!({"method": "poll"}),
    };
    json!({
        "id": sub.id,
        "orgId": sub.org_id,
        "name": sub.name,
        "delivery": delivery,
        "events": sub.events,
        "allEvents": sub.events.is_empty(),
        "status": sub.status,
        "keyGeneration": sub.key_generation,
        "pollUrl": format!("/admin/v1/orgs/{}/subscriptions/{}/poll", call.org.id, sub.id),
        "version": sub.version,
        "created": sub.created,
        "lastModified": sub.last_modified,
        "backlog": backlog,
        "deliveryState": {
            "lastSuccess": state.last_success,
            "lastFailure": state.last_failure,
            "lastError": state.last_error,
            "failingSince": state.failing_since,
            "consecutiveFailures": state.consecutive_failures,
            "delivered": state.delivered,
            "deadLettered": state.dead_lettered,
        },
    })
}
