//! Admin API for accounts and links (L9, L10): invites, JIT sign-ins, accounts, links,
//! unlinked SCIM users, unlink and relink.

use std::collections::BTreeSet;

use lambda_http::{Body, Response};
use serde_json::{json, Value};

use super::admin::{load_directory, ok_json, string_field, AdminCall};
use super::request::json_body;
use super::store_error;
use crate::directory::accounts::{
    plan_invite, plan_jit_sign_in, plan_relink, plan_unlink, profile_from_admin, JitState,
};
use crate::directory::model::{AccountRecord, ManagedBy, UserRecord};
use crate::directory::users::{normalize_email, UserWriteNeeds};
use crate::scim::error::ScimError;
use crate::scim::limits::invalid_admin_cursor;
use crate::scim::resource::primary_email;
use crate::store::cursor::CursorScope;
use crate::store::{keys, user_from_item};

pub fn account_json(call: &AdminCall<'_>, a: &AccountRecord) -> Value {
    json!({
        "id": a.id,
        "email": a.email,
        "origin": a.origin,
        "kind": call.org.kind_of(&a.email),
        "managedBy": match &a.managed_by {
            ManagedBy::Admin => json!("admin"),
            ManagedBy::Directory { directory_id } => json!({"directory": directory_id}),
        },
        "status": a.status,
        "profile": a.profile,
        "link": a.link.as_ref().map(|l| json!({"directoryId": l.directory_id, "userId": l.user_id})),
        "created": a.created,
        "lastModified": a.last_modified,
        "version": a.version,
    })
}

pub fn user_summary(u: &UserRecord) -> Value {
    json!({
        "directoryId": u.directory_id,
        "id": u.id,
        "userName": u.doc.get("userName"),
        "externalId": u.doc.get("externalId"),
        "email": primary_email(&u.doc),
        "active": u.doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        "accountId": u.account_id,
    })
}

fn email_param(call: &AdminCall<'_>, body: Option<&Value>) -> Result<String, ScimError> {
    let raw = match body {
        Some(b) => string_field(b, "email")?,
        None => call
            .params
            .get("email")
            .cloned()
            .ok_or_else(|| ScimError::invalid_value("the 'email' parameter is required"))?,
    };
    let email = normalize_email(&raw);
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') => Ok(email),
        _ => Err(ScimError::invalid_value(format!(
            "'{raw}' is not an email address"
        ))),
    }
}

/// POST /invites (L10).
pub async fn invite(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let body = json_body(call.req)?;
    let email = email_param(call, Some(&body))?;
    let existing = call
        .store
        .account_by_email(&call.org.id, &email)
        .await
        .map_err(store_error)?;
    let wctx = call.write_context("POST /invites".into(), None);
    let (plan, account) = plan_invite(&wctx, existing.as_ref(), &email, profile_from_admin(&body))?;
    call.apply(&plan).await?;
    Ok(ok_json(
        if call.dry_run() { 200 } else { 201 },
        account_json(call, &account),
    ))
}

/// POST /jit-sign-ins (L10): what a SAML sign-in asserted: email, names, group names.
pub async fn jit_sign_in(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let body = json_body(call.req)?;
    let email = email_param(call, Some(&body))?;
    let names: Vec<String> = match body.get("groups") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::trim)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        ScimError::invalid_value("'groups' must be a list of group names")
                    })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ScimError::invalid_value(
                "'groups' must be a list of group names",
            ))
        }
    };
    for _ in 0..super::scim::MAX_WRITE_ATTEMPTS {
        let account = call
            .store
            .account_by_email(&call.org.id, &email)
            .await
            .map_err(store_error)?;
        let groups = call
            .store
            .org_groups_by_names(&call.org.id, &names)
            .await
            .map_err(store_error)?;
        let memberships: BTreeSet<String> = match &account {
            Some(a) => call
                .store
                .org_groups_of_account(&call.org.id, &a.id)
                .await
                .map_err(store_error)?
                .into_iter()
                .collect(),
            None => BTreeSet::new(),
        };
        let state = JitState {
            account,
            groups,
            memberships,
        };
        let wctx = call.write_context("POST /jit-sign-ins".into(), None);
        let (plan, account, report) =
            plan_jit_sign_in(&wctx, &state, &email, profile_from_admin(&body));
        let applied = if call.dry_run() {
            true
        } else {
            match call.store.apply(&plan).await {
                Ok(()) => true,
                // A SCIM create or another sign-in made the account first: decide again.
                Err(crate::store::ApplyError::Stale) => false,
                Err(crate::store::ApplyError::Store(e)) => return Err(store_error(e)),
            }
        };
        if applied {
            return Ok(ok_json(
                200,
                json!({
                    "account": account_json(call, &account),
                    "joined": report.joined,
                    "alreadyMember": report.already,
                    "ignored": report.ignored.iter().map(|(n, why)| json!({"group": n, "reason": why})).collect::<Vec<_>>(),
                }),
            ));
        }
    }
    Err(super::scim::contended())
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
    let page = call
        .store
        .accounts_page(&call.org.id, start, limit)
        .await
        .map_err(store_error)?;
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
        .await
        .map_err(store_error)?
        .ok_or_else(|| ScimError::not_found(format!("account {id} not found")))
}

/// The account, its link, the SCIM user holding it and the groups it gets, synced or not.
pub async fn account_detail(call: &AdminCall<'_>, a: &AccountRecord) -> Result<Value, ScimError> {
    let mut v = account_json(call, a);
    let admin_groups = call
        .store
        .org_groups_of_account(&call.org.id, &a.id)
        .await
        .map_err(store_error)?;
    let (holder, synced) = match &a.link {
        Some(l) => {
            let u = call
                .store
                .get_user(&l.directory_id, &l.user_id)
                .await
                .map_err(store_error)?;
            let groups = call
                .store
                .groups_of_user(&l.directory_id, &l.user_id)
                .await
                .map_err(store_error)?;
            (u.as_ref().map(user_summary), groups)
        }
        None => (None, Vec::new()),
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("linkedUser".into(), holder.unwrap_or(Value::Null));
        o.insert("syncedGroups".into(), json!(synced));
        o.insert("adminGroups".into(), json!(admin_groups));
    }
    Ok(v)
}

pub async fn get_account(call: &AdminCall<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let a = load_account(call, id).await?;
    Ok(ok_json(200, account_detail(call, &a).await?))
}

/// GET /links?email=: the account of an email and the SCIM user linked to it.
pub async fn links(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let email = email_param(call, None)?;
    let a = call
        .store
        .account_by_email(&call.org.id, &email)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ScimError::not_found(format!("no account has email {email}")))?;
    Ok(ok_json(200, account_detail(call, &a).await?))
}

/// GET /directories/{d}/unlinked-users: SCIM users without an account (L9). Pages through
/// the directory's listing, bounded like a non-indexed filter.
pub async fn unlinked_users(
    call: &AdminCall<'_>,
    directory_id: &str,
) -> Result<Response<Body>, ScimError> {
    load_directory(call.store, &call.org.id, directory_id).await?;
    let decode = |i: &crate::store::Item| user_from_item(directory_id, i);
    let listing = super::listing::Listing {
        store: call.store,
        partition: keys::users_of(directory_id),
        decode: &decode,
    };
    let users = listing
        .scan(&|u: &UserRecord| u.account_id.is_none())
        .await?;
    Ok(ok_json(
        200,
        json!({"users": users.iter().map(user_summary).collect::<Vec<_>>()}),
    ))
}

async fn load_user(
    call: &AdminCall<'_>,
    directory_id: &str,
    user_id: &str,
) -> Result<UserRecord, ScimError> {
    load_directory(call.store, &call.org.id, directory_id).await?;
    call.store
        .get_user(directory_id, user_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ScimError::not_found(format!("SCIM user {user_id} not found")))
}

/// POST /directories/{d}/users/{u}/unlink (L9).
pub async fn unlink(
    call: &AdminCall<'_>,
    directory_id: &str,
    user_id: &str,
) -> Result<Response<Body>, ScimError> {
    for _ in 0..super::scim::MAX_WRITE_ATTEMPTS {
        let user = load_user(call, directory_id, user_id).await?;
        let account = match &user.account_id {
            Some(a) => call
                .store
                .get_account(&call.org.id, a)
                .await
                .map_err(store_error)?,
            None => None,
        };
        let wctx = call.write_context(
            format!("POST /directories/{directory_id}/users/{user_id}/unlink"),
            Some(directory_id),
        );
        let (plan, next) = plan_unlink(&wctx, &user, account.as_ref())?;
        if call.dry_run() {
            return Ok(ok_json(
                200,
                json!({"user": user_summary(&next), "writes": plan.writes.len()}),
            ));
        }
        match call.store.apply(&plan).await {
            Ok(()) => return Ok(ok_json(200, json!({"user": user_summary(&next)}))),
            Err(crate::store::ApplyError::Stale) => continue,
            Err(crate::store::ApplyError::Store(e)) => return Err(store_error(e)),
        }
    }
    Err(super::scim::contended())
}

/// POST /directories/{d}/users/{u}/relink (L9): L1 again on the user's current email.
pub async fn relink(
    call: &AdminCall<'_>,
    directory_id: &str,
    user_id: &str,
) -> Result<Response<Body>, ScimError> {
    for _ in 0..super::scim::MAX_WRITE_ATTEMPTS {
        let user = load_user(call, directory_id, user_id).await?;
        let needs = UserWriteNeeds {
            email: primary_email(&user.doc),
            ..UserWriteNeeds::default()
        };
        let (_, state) = call
            .store
            .load_user_write(&call.org.id, directory_id, Some(user.clone()), &needs)
            .await
            .map_err(store_error)?;
        let wctx = call.write_context(
            format!("POST /directories/{directory_id}/users/{user_id}/relink"),
            Some(directory_id),
        );
        match plan_relink(
            &wctx,
            &user,
            state.email_account.as_ref(),
            state.email_holder.as_ref(),
        ) {
            Ok((plan, next, decision)) => {
                let body =
                    json!({"user": user_summary(&next), "decision": format!("{decision:?}")});
                if call.dry_run() {
                    return Ok(ok_json(200, body));
                }
                match call.store.apply(&plan).await {
                    Ok(()) => return Ok(ok_json(200, body)),
                    Err(crate::store::ApplyError::Stale) => continue,
                    Err(crate::store::ApplyError::Store(e)) => return Err(store_error(e)),
                }
            }
            Err(refusal) => {
                if !call.dry_run() && !refusal.plan.is_empty() {
                    if let Err(e) = call.store.apply(&refusal.plan).await {
                        tracing::warn!(error = %e, "could not log a refusal");
                    }
                }
                return Err(refusal.error);
            }
        }
    }
    Err(super::scim::contended())
}
