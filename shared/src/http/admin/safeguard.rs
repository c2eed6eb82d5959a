//! The mass-deprovisioning safeguard of a directory (E4): its settings and window, the
//! deprovisionings it holds, and an admin's approval or release of them.

use std::time::{Duration, Instant};

use futures::StreamExt;
use lambda_http::{Body, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::{ok_json, AdminCall};
use crate::directory::model::{AccountRecord, SafeguardRecord};
use crate::directory::safeguard::{
    threshold, window_closed, HoldDecision, SafeguardSettings, RECOMMENDED_MIN_COUNT,
    RECOMMENDED_SHARE_PERCENT, RECOMMENDED_WINDOW_MINUTES,
};
use crate::scim::error::ScimError;

/// How long one approve/release call decides holds before answering 202 with progress.
const DECIDE_BUDGET: Duration = Duration::from_secs(20);
/// How many holds one call decides at once (each is a write of its own).
const DECIDE_PARALLEL: usize = 8;
/// At most this many account ids in one call's selection (omit it to decide every hold).
pub const MAX_SELECTED_HOLDS: usize = 1000;

fn safeguard_json(sg: &SafeguardRecord, held: u64, now: &str) -> Value {
    let open = sg.enabled && !window_closed(sg, now);
    json!({
        "directoryId": sg.directory_id,
        "enabled": sg.enabled,
        "sharePercent": sg.share_percent,
        "minCount": sg.min_count,
        "windowMinutes": sg.window_minutes,
        "recommended": {
            "sharePercent": RECOMMENDED_SHARE_PERCENT,
            "minCount": RECOMMENDED_MIN_COUNT,
            "windowMinutes": RECOMMENDED_WINDOW_MINUTES,
        },
        "window": if open {
            json!({
                "start": sg.window_start,
                "baselineUsers": sg.baseline_users,
                "counted": sg.counted,
                "threshold": threshold(sg, sg.baseline_users),
            })
        } else {
            Value::Null
        },
        "tripped": sg.tripped,
        "held": held,
        "version": sg.version,
    })
}

/// GET /directories/{dir}/safeguard.
pub async fn get(call: &AdminCall<'_>, dir: &str) -> Result<Response<Body>, ScimError> {
    let caller = call.directory_caller(dir).await?;
    let sg = call.writer().safeguard_of(&caller, dir).await?;
    let held = call.store.held_count(dir).await?;
    Ok(ok_json(
        200,
        safeguard_json(&sg, held, &crate::clock::now()),
    ))
}

/// PUT /directories/{dir}/safeguard: `enabled`, `sharePercent`, `minCount`,
/// `windowMinutes` (absent ones keep their value).
pub async fn put(call: &AdminCall<'_>, dir: &str) -> Result<Response<Body>, ScimError> {
    let caller = call.directory_caller(dir).await?;
    let settings: SafeguardSettings = call.body()?;
    let written = call.writer().set_safeguard(&caller, dir, &settings).await?;
    let held = call.store.held_count(dir).await?;
    let mut body = safeguard_json(&written.outcome, held, &crate::clock::now());
    body["dryRun"] = json!(written.dry_run);
    Ok(ok_json(200, body))
}

fn hold_json(a: &AccountRecord) -> Value {
    let hold = a.hold.clone().unwrap_or_default();
    json!({
        "accountId": a.id,
        "email": a.email,
        "since": hold.since,
        "suspensionHeld": hold.suspend,
        "keptRoles": hold.kept_roles,
        "wouldLose": hold.would_lose,
        "reasons": hold.reasons,
    })
}

/// GET /directories/{dir}/safeguard/holds: every held account, oldest first, with counts.
pub async fn holds(call: &AdminCall<'_>, dir: &str) -> Result<Response<Body>, ScimError> {
    call.directory(dir).await?;
    let held = call.store.held_accounts(dir).await?;
    let suspensions = held
        .iter()
        .filter(|a| a.hold.as_ref().is_some_and(|h| h.suspend))
        .count();
    let losing = held
        .iter()
        .filter(|a| a.hold.as_ref().is_some_and(|h| !h.would_lose.is_empty()))
        .count();
    Ok(ok_json(
        200,
        json!({
            "directoryId": dir,
            "total": held.len(),
            "suspensionsHeld": suspensions,
            "accountsLosingAccess": losing,
            "holds": held.iter().map(hold_json).collect::<Vec<_>>(),
        }),
    ))
}

/// Which holds a call decides: the accounts named, or (no body, or no `accountIds`) all.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Selection {
    account_ids: Option<Vec<String>>,
}

enum Decided {
    Done(Value),
    NotHeld(String),
    Remaining,
    Failed(ScimError),
}

/// POST /directories/{dir}/safeguard/holds/approve|release (`?dryRun=true` answers what
/// each decision would take and writes nothing). No batch limit: past its time budget a
/// call answers 202 with progress, and calling again resumes with what is left. When no
/// hold is left, the trip ends and the window starts afresh.
pub async fn decide(
    call: &AdminCall<'_>,
    dir: &str,
    decision: HoldDecision,
) -> Result<Response<Body>, ScimError> {
    let started = Instant::now();
    let caller = call.directory_caller(dir).await?;
    let selection: Selection = if super::super::request::body_bytes(call.req).is_empty() {
        Selection::default()
    } else {
        call.body()?
    };
    let ids: Vec<String> = match selection.account_ids {
        Some(ids) if ids.len() > MAX_SELECTED_HOLDS => {
            return Err(ScimError::invalid_value(format!(
                "accountIds names {} accounts; at most {MAX_SELECTED_HOLDS} (omit it to decide every hold)",
                ids.len()
            )))
        }
        Some(ids) => ids,
        None => call
            .store
            .held_accounts(dir)
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect(),
    };
    let writer = call.writer();
    let caller = &caller;
    let mut outcomes = futures::stream::iter(ids.into_iter().map(|id| async move {
        if started.elapsed() > DECIDE_BUDGET {
            return Decided::Remaining;
        }
        match writer.decide_hold(caller, dir, &id, decision).await {
            Ok(w) => match w.outcome {
                Some(d) => {
                    let mut v = hold_json(&d.account);
                    v["revoked"] = json!(d.revoked);
                    Decided::Done(v)
                }
                None => Decided::NotHeld(id),
            },
            Err(e) => Decided::Failed(e),
        }
    }))
    .buffer_unordered(DECIDE_PARALLEL);
    let (mut done, mut not_held, mut remaining) = (Vec::new(), Vec::new(), 0usize);
    while let Some(o) = outcomes.next().await {
        match o {
            Decided::Done(v) => done.push(v),
            Decided::NotHeld(id) => not_held.push(id),
            Decided::Remaining => remaining += 1,
            // What was decided stays decided; calling again resumes with what is left.
            Decided::Failed(e) => return Err(e),
        }
    }
    done.sort_by(|a, b| a["email"].as_str().cmp(&b["email"].as_str()));
    let mut reset = false;
    if !writer.dry_run && remaining == 0 && call.store.held_count(dir).await? == 0 {
        reset = writer.reset_safeguard(caller, dir).await?.outcome;
    }
    let revoked = done
        .iter()
        .filter(|v| v["revoked"].as_array().is_some_and(|r| !r.is_empty()))
        .count();
    Ok(ok_json(
        if remaining > 0 { 202 } else { 200 },
        json!({
            "directoryId": dir,
            "decision": decision.as_str(),
            "decided": done.len(),
            "accountsLosingAccess": revoked,
            "holds": done,
            "notHeld": not_held,
            "remaining": remaining,
            "done": remaining == 0,
            "safeguardReset": reset,
            "dryRun": writer.dry_run,
        }),
    ))
}
