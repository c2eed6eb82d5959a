//! `POST /admin/v1/orgs/{o}/subscriptions/{s}/poll`: SET delivery by poll (RFC 8936).
//!
//! The receiver authenticates with its subscription's receiver token (or the org's admin
//! key, or the operator key). A request first removes what it acknowledges (`ack`) or
//! reports as failed (`setErrs`, logged, not delivered again) from the subscription's
//! queue, then answers up to `maxEvents` of the queue's oldest events, signed, in delivery
//! order. Nothing leaves the queue until it is acknowledged, so an event whose answer was
//! lost comes back in the next poll: delivery is at least once, and the `jti` lets the
//! receiver drop a duplicate.
//!
//! A paused subscription delivers nothing, by poll as by push: its events keep queuing, a
//! poll still takes acknowledgements and answers no SETs until an admin resumes it. A push
//! subscription can be polled too: that is how the backlog of one disabled for failing
//! pushes is read.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::require_operator;
use crate::directory::model::TokenScope;
use crate::events::set::signed_set;
use crate::events::subscription::SubscriptionStatus;
use crate::http::request::body_bytes;
use crate::http::response::json_response;
use crate::http::{verified_token, AppState};
use crate::scim::error::ScimError;

/// SETs answered when `maxEvents` is not given.
pub const DEFAULT_MAX_EVENTS: usize = 10;
/// The most SETs one poll answers: a larger `maxEvents` is lowered to it.
pub const MAX_EVENTS: usize = 100;
/// The most jtis one poll may acknowledge or report (`ack` and `setErrs` together, X4).
pub const MAX_ACKS: usize = 1_000;
/// The longest jti accepted in `ack` or `setErrs` (X4); scimlink's own are 32 bytes.
pub const MAX_JTI_BYTES: usize = 128;
/// How far into the queue acknowledged jtis are looked for (`Store::queue_order_keys`).
pub const ACK_SCAN_LIMIT: usize = 1_000;
/// How long a long poll (`returnImmediately: false`, the default) waits for an event:
/// well inside the admin function's timeout and API Gateway's 30 s.
pub const LONG_POLL_WAIT: Duration = Duration::from_secs(5);
/// How often a long poll reads the queue again while it waits.
const LONG_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// A poll request (RFC 8936 §2.4). Other members are ignored, as the RFC allows.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PollRequest {
    #[serde(default)]
    max_events: Option<i64>,
    #[serde(default)]
    return_immediately: bool,
    #[serde(default)]
    ack: Vec<String>,
    #[serde(default)]
    set_errs: BTreeMap<String, SetError>,
}

/// What a receiver reports about a SET it could not accept (RFC 8936 §2.4.3).
#[derive(Debug, Deserialize)]
struct SetError {
    err: String,
    #[serde(default)]
    description: String,
}

/// Serves one poll.
pub async fn poll(
    state: &AppState,
    req: &Request,
    org_id: &str,
    subscription_id: &str,
) -> Result<Response<Body>, ScimError> {
    authorize_receiver(state, req, org_id, subscription_id).await?;
    let store = &state.store;
    let sub = store
        .get_subscription(org_id, subscription_id)
        .await?
        .ok_or_else(not_found)?;
    let key = state
        .events_key
        .as_ref()
        .ok_or_else(super::subscriptions::events_not_configured)?;
    let request = match parse(body_bytes(req)) {
        Ok(r) => r,
        Err(description) => return Ok(invalid_request(&description)),
    };

    let reported: Vec<String> = request.set_errs.keys().cloned().collect();
    for (jti, e) in &request.set_errs {
        // The receiver's words go to the operational log, bounded; they are not personal
        // data, but they are not ours either.
        tracing::warn!(
            subscription = %sub.id,
            jti = %jti,
            err = %clip(&e.err, 64),
            description = %clip(&e.description, 256),
            "a receiver reported a SET it could not accept; it is not delivered again"
        );
    }
    let done: Vec<String> = request.ack.iter().chain(&reported).cloned().collect();
    if !done.is_empty() {
        let found = store.queue_order_keys(&sub, &done, ACK_SCAN_LIMIT).await?;
        let order_keys: Vec<String> = found.into_values().collect();
        store.dequeue(&sub, &order_keys).await?;
    }

    let max = request
        .max_events
        .map(|n| (n.max(0) as usize).min(MAX_EVENTS))
        .unwrap_or(DEFAULT_MAX_EVENTS);
    if sub.status == SubscriptionStatus::Paused {
        return Ok(answer(&[], false));
    }
    if max == 0 {
        let more = !store.queue_head(&sub, 1).await?.is_empty();
        return Ok(answer(&[], more));
    }
    let deadline = Instant::now() + LONG_POLL_WAIT;
    let mut head = store.queue_head(&sub, max as i32 + 1).await?;
    while head.is_empty() && !request.return_immediately && Instant::now() < deadline {
        tokio::time::sleep(LONG_POLL_INTERVAL).await;
        head = store.queue_head(&sub, max as i32 + 1).await?;
    }
    let more = head.len() > max;
    let sets: Vec<(String, String)> = head
        .iter()
        .take(max)
        .map(|c| (c.id.clone(), signed_set(key, &sub, c)))
        .collect();
    Ok(answer(&sets, more))
}

/// The receiver's token of this subscription, an admin key of its org, or the operator.
/// A receiver token of another subscription, or a key of another org, answers 404 as an
/// unknown subscription does (X2); a SCIM token answers 401, like a wrong one (X1).
async fn authorize_receiver(
    state: &AppState,
    req: &Request,
    org_id: &str,
    subscription_id: &str,
) -> Result<(), ScimError> {
    if require_operator(state, req).is_ok() {
        return Ok(());
    }
    let token = verified_token(&state.store, req).await?;
    match &token.scope {
        TokenScope::OrgAdmin if token.org_id == org_id => Ok(()),
        TokenScope::Receiver { subscription_id: s }
            if token.org_id == org_id && s == subscription_id =>
        {
            Ok(())
        }
        TokenScope::OrgAdmin | TokenScope::Receiver { .. } => Err(not_found()),
        TokenScope::Directory { .. } => Err(ScimError::unauthorized()),
    }
}

fn not_found() -> ScimError {
    ScimError::not_found("subscription not found")
}

/// The request, or what is wrong with it (in words for the receiver's developer).
fn parse(bytes: &[u8]) -> Result<PollRequest, String> {
    let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let request: PollRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            format!("the body is not valid JSON: {inner}")
        } else if path == "." {
            format!("the body is not a poll request: {inner}")
        } else {
            format!("'{path}': {inner}")
        }
    })?;
    if let Some(n) = request.max_events {
        if n < 0 {
            return Err("'maxEvents' must not be negative".into());
        }
    }
    if request.ack.len() + request.set_errs.len() > MAX_ACKS {
        return Err(format!(
            "'ack' and 'setErrs' name at most {MAX_ACKS} jtis a poll"
        ));
    }
    if let Some(j) = request
        .ack
        .iter()
        .chain(request.set_errs.keys())
        .find(|j| j.is_empty() || j.len() > MAX_JTI_BYTES)
    {
        return Err(format!(
            "a jti is 1 to {MAX_JTI_BYTES} bytes, not {}",
            j.len()
        ));
    }
    Ok(request)
}

/// RFC 8936 §2.4.4 (with RFC 8935 §2.4's error body): 400 `invalid_request`.
fn invalid_request(description: &str) -> Response<Body> {
    json_response(
        400,
        "application/json",
        &json!({"err": "invalid_request", "description": description}),
        &[],
    )
}

/// `{"sets": {jti: SET, ...}, "moreAvailable": bool}`, written by hand so that the SETs
/// appear in delivery order (a JSON object has no order a parser must keep; receivers that
/// need it sort by each SET's `scimlink.order` claim).
fn answer(sets: &[(String, String)], more_available: bool) -> Response<Body> {
    let mut text = String::from("{\"sets\":{");
    for (i, (jti, set)) in sets.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&Value::String(jti.clone()).to_string());
        text.push(':');
        text.push_str(&Value::String(set.clone()).to_string());
    }
    text.push_str("},\"moreAvailable\":");
    text.push_str(if more_available { "true" } else { "false" });
    text.push('}');
    Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(Body::Text(text))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e5_poll_requests_follow_rfc_8936() {
        let r = parse(br#"{"maxEvents": 5, "returnImmediately": true, "ack": ["a"], "setErrs": {"b": {"err": "jwtAud", "description": "wrong audience"}}}"#).unwrap();
        assert_eq!(r.max_events, Some(5));
        assert!(r.return_immediately);
        assert_eq!(r.ack, ["a"]);
        assert_eq!(r.set_errs["b"].err, "jwtAud");
        let r = parse(b"").unwrap();
        assert_eq!((r.max_events, r.return_immediately), (None, false));
        assert!(parse(b"{").unwrap_err().contains("not valid JSON"));
        assert!(parse(br#"{"maxEvents": -1}"#)
            .unwrap_err()
            .contains("negative"));
        assert!(parse(br#"{"ack": "x"}"#).unwrap_err().contains("'ack'"));
        let many: Vec<String> = (0..=MAX_ACKS).map(|i| i.to_string()).collect();
        let body = json!({ "ack": many }).to_string();
        assert!(parse(body.as_bytes()).unwrap_err().contains("at most"));
    }

    #[test]
    fn e5_the_answer_keeps_delivery_order() {
        let r = answer(
            &[("z".into(), "t1".into()), ("a".into(), "t2".into())],
            true,
        );
        let Body::Text(t) = r.body() else { panic!() };
        assert_eq!(t, r#"{"sets":{"z":"t1","a":"t2"},"moreAvailable":true}"#);
    }
}
