//! Admin API for accounts and links (L9, L10): invites, JIT sign-ins, accounts, links,
//! unlinked SCIM users, unlink and relink.

use lambda_http::{Body, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::call::{ok_json, required, AdminCall};
use super::render::{account_detail, account_json, user_summary};
use crate::directory::accounts::profile_from_admin;
use crate::directory::model::{AccountRecord, UserRecord};
use crate::directory::users::normalize_email;
use crate::scim::error::ScimError;
use crate::scim::limits::invalid_admin_cursor;
use crate::store::cursor::CursorScope;

/// A normalized email address (trimmed, lowercase), or 400.
fn email_address(raw: &str) -> Result<String, ScimError> {
    let email = normalize_email(&required("email", raw)?);
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') => Ok(email),
        _ => Err(ScimError::invalid_value(format!(
            "'{raw}' is not an email address"
        ))),
    }
}

/// The `email` query parameter.
fn email_param(call: &AdminCall<'_>) -> Result<String, ScimError> {
    let raw = call
        .params
        .get("email")
        .ok_or_else(|| ScimError::invalid_value("the 'email' parameter is required"))?;
    email_address(raw)
}

/// POST /invites {email, displayName?, givenName?, familyName?, title?, department?}
#[derive(Deserialize)]
struct Invite {
    email: String,
    #[serde(flatten)]
    profile: Map<String, Value>,
}

/// POST /invites (L10).
pub async fn invite(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let body: Invite = call.body()?;
    let email = email_address(&body.email)?;
    let profile = profile_from_admin(&Value::Object(body.profile));
    let written = call
        .writer()
        .invite(&call.caller(), &call.org, &email, profile)
        .await?;
    Ok(ok_json(
        if written.dry_run { 200 } else { 201 },
        account_json(call, &written.outcome),
    ))
}

/// POST /jit-sign-ins {email, groups?, displayName?, ...}: what a SAML sign-in asserted.
#[derive(Deserialize)]
struct JitSignIn {
    email: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(flatten)]
    profile: Map<String, Value>,
}

/// POST /jit-sign-ins (L10).
pub async fn jit_sign_in(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let body: JitSignIn = call.body()?;
    let email = email_address(&body.email)?;
    let names: Vec<String> = body.groups.iter().map(|g| g.trim().to_string()).collect();
    let profile = profile_from_admin(&Value::Object(body.profile));
    let written = call
        .writer()
        .jit_sign_in(&call.caller(), &call.org, &email, profile, &names)
        .await?;
    let done = &written.outcome;
    Ok(ok_json(
        200,
        json!({
            "account": account_json(call, &done.account),
            "joined": done.report.joined,
            "alreadyMember": done.report.already,
            "ignored": done.report.ignored.iter().map(|(n, why)| json!({"group": n, "reason": why})).collect::<Vec<_>>(),
            "dryRun": written.dry_run,
        }),
    ))
}

/// POST /directories/{d}/users/{u}/unlink (L9).
pub async fn unlink(
    call: &AdminCall<'_>,
    directory_id: &str,
    user_id: &str,
) -> Result<Response<Body>, ScimError> {
    let caller = call.directory_caller(directory_id).await?;
    let written = call.writer().unlink(&caller, &call.org, user_id).await?;
    let mut body = json!({"user": user_summary(&written.outcome)});
    if written.dry_run {
        body["writes"] = json!(written.plan.len());
    }
    Ok(ok_json(200, body))
}

/// POST /directories/{d}/users/{u}/relink (L9): L1 again on the user's current email.
pub async fn relink(
    call: &AdminCall<'_>,
    directory_id: &str,
    user_id: &str,
) -> Result<Response<Body>, ScimError> {
    let caller = call.directory_caller(directory_id).await?;
    let written = call.writer().relink(&caller, user_id).await?;
    let (user, decision) = &written.outcome;
    Ok(ok_json(
        200,
        json!({"user": user_summary(user), "decision": format!("{decision:?}")}),
    ))
}

/// GET /accounts: the org's accounts by email, with cursors.
pub async fn list_accounts(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let limit = call
        .params
        .get("limit")
        .and_then(|l| l.parse::<i32>().ok())
        .unwrap_or(100)
        .clamp(1, 500);
    let cursors = CursorScope::new(call.cursor_key, &call.org.id, "accounts");
    let start = match call.params.get("cursor").filter(|c| !c.trim().is_empty()) {
        Some(c) => Some(cursors.open_key(c).map_err(|_| invalid_admin_cursor())?),
        None => None,
    };
    let page = call.store.accounts_page(&call.org.id, start, limit).await?;
    Ok(ok_json(
        200,
        json!({
            "accounts": page.items.iter().map(|a| account_json(call, a)).collect::<Vec<_>>(),
            "nextCursor": page.next.as_ref().map(|k| cursors.seal_key(k)),
        }),
    ))
}

async fn load_account(call: &AdminCall<'_>, id: &str) -> Result<AccountRecord, ScimError> {
    call.store
        .get_account(&call.org.id, id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("account {id} not found")))
}

pub async fn get_account(call: &AdminCall<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let a = load_account(call, id).await?;
    Ok(ok_json(200, account_detail(call, &a).await?))
}

/// GET /links?email=: the account of an email and the SCIM user linked to it.
pub async fn links(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let email = email_param(call)?;
    let a = call
        .store
        .account_by_email(&call.org.id, &email)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("no account has email {email}")))?;
    Ok(ok_json(200, account_detail(call, &a).await?))
}

/// GET /directories/{d}/unlinked-users: SCIM users without an account (L9). Pages through
/// the directory's listing, bounded like a non-indexed filter.
pub async fn unlinked_users(
    call: &AdminCall<'_>,
    directory_id: &str,
) -> Result<Response<Body>, ScimError> {
    call.directory(directory_id).await?;
    let users = call
        .store
        .user_listing(directory_id)
        .scan(&|u: &UserRecord| u.account_id.is_none())
        .await?;
    Ok(ok_json(
        200,
        json!({"users": users.iter().map(user_summary).collect::<Vec<_>>()}),
    ))
}
