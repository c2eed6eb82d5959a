//! `/scim/v2/directories/{directoryId}/Users[/{id}]`: the `scim-users` function.

use std::collections::HashMap;

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::listing::{list_page, Listing, Paging};
use super::request::json_body;
use super::response::{empty, scim_json};
use super::scim::{
    contended, dry_run_response, handle, projection, Projection, ScimRequest, Stored,
    MAX_WRITE_ATTEMPTS,
};
use super::{store_error, AppState, MAX_PAGE_SIZE};
use crate::directory::model::UserRecord;
use crate::directory::users::{
    plan_user_create, plan_user_delete, plan_user_replace, user_name_lower, user_write_needs,
    LinkDecision,
};
use crate::directory::users::{Refusal, UserDecision, UserWriteNeeds};
use crate::scim::error::ScimError;
use crate::scim::filter::parse_filter;
use crate::scim::list::project;
use crate::scim::lookup::{index_lookups, IndexLookup};
use crate::scim::patch::{apply_patch, parse_patch_with_quirks};
use crate::scim::resource::canonicalize;
use crate::scim::schema::{SEARCH_REQUEST, USER_RESOURCE};
use crate::store::cursor::CursorScope;
use crate::store::{keys, user_from_item, Store};

/// Entry point of the `scim-users` function.
pub async fn handle_scim_users(
    state: &AppState,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(handle(state, &req, "Users", serve).await)
}

async fn serve(ctx: ScimRequest<'_>) -> Result<Response<Body>, ScimError> {
    let method = ctx.req.method().as_str();
    match (method, ctx.route.id.as_deref()) {
        ("GET", None) => list(&ctx, &ctx.params).await,
        ("POST", Some(".search")) => search(&ctx).await,
        ("POST", None) => create(&ctx).await,
        ("GET", Some(id)) => get(&ctx, id).await,
        ("PUT", Some(id)) => replace(&ctx, id).await,
        ("PATCH", Some(id)) => patch(&ctx, id).await,
        ("DELETE", Some(id)) => delete(&ctx, id).await,
        (_, id) => Err(ScimError::method_not_allowed(
            format!("{method} is not supported here"),
            if id.is_some() {
                "GET, PUT, PATCH, DELETE"
            } else {
                "GET, POST"
            },
        )),
    }
}

/// The user as a client sees it; `groups` when they were read.
fn render_user(ctx: &ScimRequest<'_>, user: &UserRecord, groups: Option<&[String]>) -> Value {
    let groups = groups.map(|gs| {
        let base = format!("{}/Groups", ctx.base);
        let list = gs
            .iter()
            .map(|g| json!({"value": g, "$ref": format!("{base}/{g}"), "type": "direct"}))
            .collect();
        ("groups", list)
    });
    ctx.render(&USER_RESOURCE, stored(user), groups)
}

fn stored(u: &UserRecord) -> Stored<'_> {
    Stored {
        id: &u.id,
        doc: &u.doc,
        version: u.version,
        created: &u.created,
        last_modified: &u.last_modified,
    }
}

fn resource_response(
    ctx: &ScimRequest<'_>,
    status: u16,
    user: &UserRecord,
    groups: Option<&[String]>,
    p: &Projection,
) -> Response<Body> {
    ctx.resource_response(&USER_RESOURCE, status, &render_user(ctx, user, groups), p)
}

async fn load_user(ctx: &ScimRequest<'_>, id: &str) -> Result<UserRecord, ScimError> {
    ctx.store
        .get_user(ctx.directory_id(), id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ScimError::not_found(format!("user {id} not found")))
}

/// The user's groups, read only when the response shows them (one query).
async fn groups_for(
    ctx: &ScimRequest<'_>,
    user: &UserRecord,
    p: &Projection,
) -> Result<Option<Vec<String>>, ScimError> {
    if !p.includes("groups") {
        return Ok(None);
    }
    Ok(Some(
        ctx.store
            .groups_of_user(ctx.directory_id(), &user.id)
            .await
            .map_err(store_error)?,
    ))
}

async fn get(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let p = ctx.projection(&USER_RESOURCE)?;
    let user = load_user(ctx, id).await?;
    let groups = groups_for(ctx, &user, &p).await?;
    Ok(resource_response(ctx, 200, &user, groups.as_deref(), &p))
}

fn link_json(l: &LinkDecision) -> Value {
    match l {
        LinkDecision::Created { account_id } => json!({"link": "created", "accountId": account_id}),
        LinkDecision::Linked { account_id } => json!({"link": "linked", "accountId": account_id}),
        LinkDecision::TookOver { account_id } => {
            json!({"link": "took-over", "accountId": account_id})
        }
        LinkDecision::Moved { from, to } => json!({"link": "moved", "from": from, "to": to}),
        LinkDecision::Kept { account_id } => json!({"link": "kept", "accountId": account_id}),
        LinkDecision::NoEmail => json!({"link": "none", "reason": "the user has no email"}),
        LinkDecision::Unlinked { account_id } => {
            json!({"link": "unlinked", "accountId": account_id})
        }
    }
}

async fn create(ctx: &ScimRequest<'_>) -> Result<Response<Body>, ScimError> {
    let p = ctx.projection(&USER_RESOURCE)?;
    let normalized = canonicalize(&USER_RESOURCE, &json_body(ctx.req)?)?;
    let user_id = uuid::Uuid::new_v4().to_string();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let needs = user_write_needs(None, &normalized.doc);
        let (org, state) = ctx
            .store
            .load_user_write(&ctx.auth.org_id, ctx.directory_id(), None, &needs)
            .await
            .map_err(store_error)?;
        let wctx = ctx.write_context(
            "POST /Users".into(),
            normalized.quirks.clone(),
            org.as_ref(),
        )?;
        let decision = plan_user_create(&wctx, &state, &user_id, normalized.doc.clone());
        if let Some(response) = answer_write(ctx, decision, 201, &p).await? {
            return Ok(response);
        }
    }
    Err(contended())
}

/// Applies a user write's decision and answers it: the dry-run document, 204, or the
/// resource with `status`. `None`: someone wrote first; load and plan again.
async fn answer_write(
    ctx: &ScimRequest<'_>,
    decision: Result<UserDecision, Refusal>,
    status: u16,
    p: &Projection,
) -> Result<Option<Response<Body>>, ScimError> {
    let plan = decision.as_ref().map(|d| &d.plan).map_err(Clone::clone);
    if !ctx.apply(plan).await? {
        return Ok(None);
    }
    let d = decision.map_err(|r| r.error)?;
    Ok(Some(if ctx.dry_run() {
        dry_run_response(render_user(ctx, &d.user, None), link_json(&d.link), &d.plan)
    } else if status == 204 {
        empty(204)
    } else {
        resource_response(ctx, status, &d.user, None, p)
    }))
}

/// Computes a user's next document and the quirks normalized on the way.
type NextDoc<'a> = dyn Fn(&UserRecord) -> Result<(Value, Vec<String>), ScimError> + Sync + 'a;

/// PUT and PATCH: compute the new document from the stored one, answer a no-op without
/// writing (L4), else load, plan and apply, starting over when someone wrote first.
async fn write_existing(
    ctx: &ScimRequest<'_>,
    id: &str,
    operation: &str,
    next_doc: &NextDoc<'_>,
) -> Result<Response<Body>, ScimError> {
    let p = ctx.projection(&USER_RESOURCE)?;
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let existing = load_user(ctx, id).await?;
        ctx.check_if_match(existing.version)?;
        let (doc, quirks) = next_doc(&existing)?;
        if doc == existing.doc {
            tracing::info!(request_id = %ctx.rid, directory = %ctx.directory_id(), scim_id = %id, outcome = "no-op", "unchanged user; nothing written (L4)");
            return Ok(resource_response(ctx, 200, &existing, None, &p));
        }
        let needs = user_write_needs(Some(&existing), &doc);
        let (org, state) = ctx
            .store
            .load_user_write(&ctx.auth.org_id, ctx.directory_id(), Some(existing), &needs)
            .await
            .map_err(store_error)?;
        let wctx = ctx.write_context(format!("{operation} /Users/{id}"), quirks, org.as_ref())?;
        let decision = plan_user_replace(&wctx, &state, doc);
        if let Some(response) = answer_write(ctx, decision, 200, &p).await? {
            return Ok(response);
        }
    }
    Err(contended())
}

async fn replace(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let normalized = canonicalize(&USER_RESOURCE, &json_body(ctx.req)?)?;
    write_existing(ctx, id, "PUT", &|_| {
        Ok((normalized.doc.clone(), normalized.quirks.clone()))
    })
    .await
}

async fn patch(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let mut quirks = Vec::new();
    let ops = parse_patch_with_quirks(&USER_RESOURCE, &json_body(ctx.req)?, &mut quirks)?;
    write_existing(ctx, id, "PATCH", &|existing| {
        let n = apply_patch(&USER_RESOURCE, &existing.doc, &ops)?;
        Ok((n.doc, quirks.iter().cloned().chain(n.quirks).collect()))
    })
    .await
}

/// DELETE (L7): the user, its link and its memberships go; the account stays.
async fn delete(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let user = load_user(ctx, id).await?;
        ctx.check_if_match(user.version)?;
        // The org and the linked account in one batch read.
        let needs = UserWriteNeeds {
            linked_account: user.account_id.clone(),
            ..UserWriteNeeds::default()
        };
        let (org, state) = ctx
            .store
            .load_user_write(&ctx.auth.org_id, ctx.directory_id(), None, &needs)
            .await
            .map_err(store_error)?;
        let linked = state.linked_account;
        let groups = ctx
            .store
            .groups_of_user(ctx.directory_id(), id)
            .await
            .map_err(store_error)?;
        let wctx = ctx.write_context(format!("DELETE /Users/{id}"), Vec::new(), org.as_ref())?;
        let decision = Ok(plan_user_delete(&wctx, &user, linked.as_ref(), &groups));
        if let Some(response) = answer_write(ctx, decision, 204, &Projection::default()).await? {
            return Ok(response);
        }
    }
    Err(contended())
}

/// POST /Users/.search (S8): the same query as GET, from a SearchRequest body.
async fn search(ctx: &ScimRequest<'_>) -> Result<Response<Body>, ScimError> {
    let params = search_params(&json_body(ctx.req)?)?;
    list(ctx, &params).await
}

/// The parameters of a SearchRequest body, as a GET would carry them.
pub fn search_params(body: &Value) -> Result<HashMap<String, String>, ScimError> {
    let body = crate::scim::limits::search_request(body)?;
    let schemas_ok = body
        .get("schemas")
        .and_then(Value::as_array)
        .map(|s| s.iter().any(|v| v.as_str() == Some(SEARCH_REQUEST)))
        .unwrap_or(true);
    if !schemas_ok {
        return Err(ScimError::invalid_value(format!(
            "a search request must have the schema {SEARCH_REQUEST}"
        )));
    }
    let mut params = HashMap::new();
    for (k, v) in body {
        let text = match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Array(a) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        };
        if let Some(t) = text {
            params.insert(k.to_lowercase(), t);
        }
    }
    Ok(params)
}

/// GET /Users (S2, S3, S4).
async fn list(
    ctx: &ScimRequest<'_>,
    params: &HashMap<String, String>,
) -> Result<Response<Body>, ScimError> {
    let p = projection(&USER_RESOURCE, params)?;
    let dir = ctx.directory_id();
    let partition = keys::users_of(dir);
    let paging = Paging::from_params(
        params,
        &CursorScope::new(ctx.cursor_key, dir, &partition),
        MAX_PAGE_SIZE,
    )?;
    let filter = params
        .get("filter")
        .filter(|f| !f.trim().is_empty())
        .map(|f| parse_filter(&USER_RESOURCE, f))
        .transpose()?;
    let decode = |i: &crate::store::Item| user_from_item(dir, i);
    let listing = Listing {
        store: ctx.store,
        partition,
        decode: &decode,
    };
    let keep = |u: &UserRecord| {
        filter
            .as_ref()
            .is_none_or(|f| f.matches(&render_user(ctx, u, None)))
    };
    let indexed = filter
        .as_ref()
        .and_then(index_lookups)
        .filter(|l| !l.iter().any(|l| matches!(l, IndexLookup::DisplayName(_))));
    let whole = match indexed {
        Some(lookups) => Some(
            candidates(ctx.store, dir, &lookups)
                .await?
                .into_iter()
                .filter(|u| keep(u))
                .collect(),
        ),
        None => None,
    };
    let page = list_page(
        &listing,
        whole,
        &keep,
        filter.is_some(),
        paging,
        order_key,
        |a, b| a.id == b.id,
    )
    .await?;
    let resources = page
        .items
        .iter()
        .map(|u| {
            project(
                &USER_RESOURCE,
                &render_user(ctx, u, None),
                &p.attributes,
                &p.excluded,
            )
        })
        .collect();
    Ok(scim_json(200, &page.response(resources), &[]))
}

fn order_key(u: &UserRecord) -> (String, String) {
    (user_name_lower(&u.doc), u.id.clone())
}

async fn candidates(
    store: &Store,
    dir: &str,
    lookups: &[IndexLookup],
) -> Result<Vec<UserRecord>, ScimError> {
    let mut ids: Vec<String> = Vec::new();
    for l in lookups {
        let found: Vec<String> = match l {
            IndexLookup::Id(id) => vec![id.clone()],
            IndexLookup::UserName(n) => store
                .guard_owner(keys::user_name_guard(dir, n))
                .await
                .map_err(store_error)?
                .into_iter()
                .collect(),
            IndexLookup::ExternalId(e) => store
                .guard_owner(keys::external_id_guard(dir, e))
                .await
                .map_err(store_error)?
                .into_iter()
                .collect(),
            IndexLookup::Email(e) => store.user_ids_by_email(dir, e).await.map_err(store_error)?,
            // Not indexed for users: `index_lookups` results with it are never passed here.
            IndexLookup::DisplayName(_) => Vec::new(),
        };
        for id in found {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    match ids.as_slice() {
        [] => Ok(Vec::new()),
        [one] => Ok(store
            .get_user(dir, one)
            .await
            .map_err(store_error)?
            .into_iter()
            .collect()),
        many => store.get_users(dir, many).await.map_err(store_error),
    }
}
