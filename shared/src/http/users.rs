//! `/scim/v2/directories/{directoryId}/Users[/{id}]`: the `scim-users` function.

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::request::{body_bytes, json_body};
use super::response::{empty, scim_json};
use super::{
    authenticate_directory, finish, query_params, request_id, store_error, unknown_directory,
    AppState, DirectoryAuth, Route, MAX_FILTER_SCAN, MAX_PAGE_SIZE,
};
use crate::directory::model::UserRecord;
use crate::directory::users::{
    plan_user_create, plan_user_delete, plan_user_replace, user_name_lower, user_write_needs,
    LinkDecision, Refusal, UserDecision, WriteContext,
};
use crate::scim::error::ScimError;
use crate::scim::filter::{parse_filter, Filter};
use crate::scim::list::{
    if_match_admits, list_response, paging, parse_attr_list, project, render, AttrRef, RenderMeta,
};
use crate::scim::lookup::{index_lookups, IndexLookup};
use crate::scim::patch::{apply_patch, parse_patch};
use crate::scim::resource::canonicalize;
use crate::scim::schema::{SEARCH_REQUEST, USER_RESOURCE};
use crate::store::{ApplyError, Store};

/// How often a write loads and plans again after losing a race before answering 429.
const MAX_WRITE_ATTEMPTS: usize = 5;

/// Entry point of the `scim-users` function.
pub async fn handle_scim_users(
    state: &AppState,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let store = &state.store;
    let before = store.metrics().snapshot();
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let rid = request_id(&req);
    let route = Route::parse(req.uri().path());
    let result = serve(store, &req, route.as_ref(), &rid).await;
    let response = finish(result);
    let cost = store.metrics().snapshot() - before;
    tracing::info!(
        request_id = %rid,
        directory = route.as_ref().map(|r| r.directory_id.as_str()).unwrap_or("-"),
        method = %method,
        resource = "Users",
        status = response.status().as_u16(),
        dynamodb_requests = cost.requests,
        read_units = cost.read_units,
        write_units = cost.write_units,
        millis = started.elapsed().as_millis() as u64,
        "scim request"
    );
    Ok(response)
}

async fn serve(
    store: &Store,
    req: &Request,
    route: Option<&Route>,
    rid: &str,
) -> Result<Response<Body>, ScimError> {
    let route = route
        .filter(|r| r.resource == "Users")
        .ok_or_else(|| ScimError::not_found("no such endpoint"))?;
    // Oversized bodies are refused before anything else is read.
    if body_bytes(req).len() > super::MAX_PAYLOAD_BYTES {
        return Err(ScimError::payload_too_large(super::MAX_PAYLOAD_BYTES));
    }
    let auth = authenticate_directory(store, req, &route.directory_id).await?;
    let params = query_params(req);
    let ctx = Ctx {
        store,
        auth: &auth,
        rid,
    };
    let method = req.method().as_str();
    match (method, route.id.as_deref()) {
        ("GET", None) => list(&ctx, &params).await,
        ("POST", Some(".search")) => search(&ctx, req).await,
        ("POST", None) => create(&ctx, req, &params).await,
        ("GET", Some(id)) => get(&ctx, id, &params).await,
        ("PUT", Some(id)) => replace(&ctx, req, id, &params).await,
        ("PATCH", Some(id)) => patch(&ctx, req, id, &params).await,
        ("DELETE", Some(id)) => delete(&ctx, req, id).await,
        _ => Err(ScimError::method_not_allowed(format!(
            "{method} is not supported here"
        ))),
    }
}

struct Ctx<'a> {
    store: &'a Store,
    auth: &'a DirectoryAuth,
    rid: &'a str,
}

impl Ctx<'_> {
    fn location(&self, id: &str) -> String {
        format!("/scim/v2/directories/{}/Users/{id}", self.auth.directory_id)
    }

    fn render(&self, user: &UserRecord) -> Value {
        render(
            &user.doc,
            RenderMeta {
                id: &user.id,
                resource_type: "User",
                created: &user.created,
                last_modified: &user.last_modified,
                location: self.location(&user.id),
                version: user.version,
            },
        )
    }

    async fn write_context(
        &self,
        operation: String,
        quirks: Vec<String>,
        org: Option<crate::directory::model::OrgRecord>,
    ) -> Result<WriteContext, ScimError> {
        let org = org.ok_or_else(unknown_directory)?;
        Ok(WriteContext {
            org,
            directory_id: self.auth.directory_id.clone(),
            idp: self.auth.idp.clone(),
            request_id: Some(self.rid.to_string()),
            now: now(),
            operation,
            quirks,
        })
    }

    async fn load_user(&self, id: &str) -> Result<UserRecord, ScimError> {
        self.store
            .get_user(&self.auth.directory_id, id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ScimError::not_found(format!("user {id} not found")))
    }
}

/// RFC 3339 UTC with milliseconds: sortable as text, as event keys need.
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

struct Projection {
    attributes: Vec<AttrRef>,
    excluded: Vec<AttrRef>,
}

fn projection(params: &std::collections::HashMap<String, String>) -> Result<Projection, ScimError> {
    Ok(Projection {
        attributes: params
            .get("attributes")
            .map(|a| parse_attr_list(&USER_RESOURCE, a))
            .transpose()?
            .unwrap_or_default(),
        excluded: params
            .get("excludedattributes")
            .map(|a| parse_attr_list(&USER_RESOURCE, a))
            .transpose()?
            .unwrap_or_default(),
    })
}

fn resource_response(
    ctx: &Ctx<'_>,
    status: u16,
    user: &UserRecord,
    p: &Projection,
) -> Response<Body> {
    let body = project(
        &USER_RESOURCE,
        &ctx.render(user),
        &p.attributes,
        &p.excluded,
    );
    let mut headers = vec![("ETag", crate::scim::list::etag(user.version))];
    if status == 201 {
        headers.push(("Location", ctx.location(&user.id)));
    }
    scim_json(status, &body, &headers)
}

fn dry_run(params: &std::collections::HashMap<String, String>) -> bool {
    params
        .get("dryrun")
        .map(|v| v.eq_ignore_ascii_case("true"))
        .unwrap_or(false)
}

async fn get(
    ctx: &Ctx<'_>,
    id: &str,
    params: &std::collections::HashMap<String, String>,
) -> Result<Response<Body>, ScimError> {
    let p = projection(params)?;
    let user = ctx.load_user(id).await?;
    Ok(resource_response(ctx, 200, &user, &p))
}

/// Applies a decision's plan; a refusal's plan (its event) is written before answering.
async fn apply_decision(
    ctx: &Ctx<'_>,
    decision: Result<UserDecision, Refusal>,
    dry: bool,
) -> Result<Option<UserDecision>, ScimError> {
    match decision {
        Ok(d) => {
            if dry {
                return Ok(Some(d));
            }
            match ctx.store.apply(&d.plan).await {
                Ok(()) => Ok(Some(d)),
                Err(ApplyError::Stale) => Ok(None),
                Err(ApplyError::Store(e)) => Err(store_error(e)),
            }
        }
        Err(refusal) => {
            if !dry {
                // The refusal is logged (L3, E1); losing a race on the log never hides the error.
                if let Err(e) = ctx.store.apply(&refusal.plan).await {
                    tracing::warn!(error = %e, "could not log a refusal");
                }
            }
            Err(refusal.error)
        }
    }
}

fn dry_run_response(ctx: &Ctx<'_>, d: &UserDecision) -> Response<Body> {
    let events: Vec<Value> = d
        .plan
        .events()
        .map(|e| json!({"outcome": e.outcome, "message": e.message}))
        .collect();
    scim_json(
        200,
        &json!({
            "schemas": ["urn:scimlink:api:messages:2.0:DryRun"],
            "resource": ctx.render(&d.user),
            "link": link_json(&d.link),
            "writes": d.plan.writes.len(),
            "events": events,
        }),
        &[],
    )
}

fn link_json(l: &LinkDecision) -> Value {
    match l {
        LinkDecision::Created { account_id } => {
            json!({"decision": "created", "accountId": account_id})
        }
        LinkDecision::Linked { account_id } => {
            json!({"decision": "linked", "accountId": account_id})
        }
        LinkDecision::TookOver { account_id } => {
            json!({"decision": "took-over", "accountId": account_id})
        }
        LinkDecision::Moved { from, to } => json!({"decision": "moved", "from": from, "to": to}),
        LinkDecision::Kept { account_id } => json!({"decision": "kept", "accountId": account_id}),
        LinkDecision::NoEmail => json!({"decision": "none", "reason": "the user has no email"}),
        LinkDecision::Unlinked { account_id } => {
            json!({"decision": "unlinked", "accountId": account_id})
        }
    }
}

async fn create(
    ctx: &Ctx<'_>,
    req: &Request,
    params: &std::collections::HashMap<String, String>,
) -> Result<Response<Body>, ScimError> {
    let p = projection(params)?;
    let body = json_body(req)?;
    let normalized = canonicalize(&USER_RESOURCE, &body)?;
    let user_id = uuid::Uuid::new_v4().to_string();
    let dry = dry_run(params);
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let needs = user_write_needs(None, &normalized.doc);
        let (org, state) = ctx
            .store
            .load_user_write(&ctx.auth.org_id, &ctx.auth.directory_id, None, &needs)
            .await
            .map_err(store_error)?;
        let wctx = ctx
            .write_context("POST /Users".into(), normalized.quirks.clone(), org)
            .await?;
        let decision = plan_user_create(&wctx, &state, &user_id, normalized.doc.clone());
        if let Some(d) = apply_decision(ctx, decision, dry).await? {
            if dry {
                return Ok(dry_run_response(ctx, &d));
            }
            return Ok(resource_response(ctx, 201, &d.user, &p));
        }
    }
    Err(contended())
}

fn contended() -> ScimError {
    ScimError::throttled(1)
}

fn check_if_match(req: &Request, user: &UserRecord) -> Result<(), ScimError> {
    if let Some(v) = req
        .headers()
        .get(http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        if !if_match_admits(v, user.version) {
            return Err(ScimError::precondition_failed(format!(
                "If-Match {v} does not match the current version {}",
                crate::scim::list::etag(user.version)
            )));
        }
    }
    Ok(())
}

/// Computes a user's next document and the quirks normalized on the way.
type NextDoc<'a> = dyn Fn(&UserRecord) -> Result<(Value, Vec<String>), ScimError> + Sync + 'a;

/// PUT and PATCH: compute the new document from the stored one, answer a no-op without
/// writing (L4), else load, plan and apply, starting over when someone wrote first.
async fn write_existing(
    ctx: &Ctx<'_>,
    req: &Request,
    id: &str,
    params: &std::collections::HashMap<String, String>,
    operation: &str,
    next_doc: &NextDoc<'_>,
) -> Result<Response<Body>, ScimError> {
    let p = projection(params)?;
    let dry = dry_run(params);
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let existing = ctx.load_user(id).await?;
        check_if_match(req, &existing)?;
        let (doc, quirks) = next_doc(&existing)?;
        if doc == existing.doc {
            tracing::info!(request_id = %ctx.rid, directory = %ctx.auth.directory_id, scim_id = %id, outcome = "no-op", "unchanged resource; nothing written");
            return Ok(resource_response(ctx, 200, &existing, &p));
        }
        let needs = user_write_needs(Some(&existing), &doc);
        let (org, state) = ctx
            .store
            .load_user_write(
                &ctx.auth.org_id,
                &ctx.auth.directory_id,
                Some(existing),
                &needs,
            )
            .await
            .map_err(store_error)?;
        let wctx = ctx
            .write_context(format!("{operation} /Users/{id}"), quirks, org)
            .await?;
        let decision = plan_user_replace(&wctx, &state, doc);
        if let Some(d) = apply_decision(ctx, decision, dry).await? {
            if dry {
                return Ok(dry_run_response(ctx, &d));
            }
            return Ok(resource_response(ctx, 200, &d.user, &p));
        }
    }
    Err(contended())
}

async fn replace(
    ctx: &Ctx<'_>,
    req: &Request,
    id: &str,
    params: &std::collections::HashMap<String, String>,
) -> Result<Response<Body>, ScimError> {
    let body = json_body(req)?;
    let normalized = canonicalize(&USER_RESOURCE, &body)?;
    write_existing(ctx, req, id, params, "PUT", &|_| {
        Ok((normalized.doc.clone(), normalized.quirks.clone()))
    })
    .await
}

async fn patch(
    ctx: &Ctx<'_>,
    req: &Request,
    id: &str,
    params: &std::collections::HashMap<String, String>,
) -> Result<Response<Body>, ScimError> {
    let body = json_body(req)?;
    let ops = parse_patch(&USER_RESOURCE, &body)?;
    write_existing(ctx, req, id, params, "PATCH", &|existing| {
        let n = apply_patch(&USER_RESOURCE, &existing.doc, &ops)?;
        Ok((n.doc, n.quirks))
    })
    .await
}

async fn delete(ctx: &Ctx<'_>, req: &Request, id: &str) -> Result<Response<Body>, ScimError> {
    let dry = dry_run(&query_params(req));
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let user = ctx.load_user(id).await?;
        check_if_match(req, &user)?;
        let linked = match &user.account_id {
            Some(a) => ctx
                .store
                .get_account(&ctx.auth.org_id, a)
                .await
                .map_err(store_error)?,
            None => None,
        };
        let org = ctx
            .store
            .get_org(&ctx.auth.org_id)
            .await
            .map_err(store_error)?;
        let wctx = ctx
            .write_context(format!("DELETE /Users/{id}"), Vec::new(), org)
            .await?;
        let decision = plan_user_delete(&wctx, &user, linked.as_ref());
        if let Some(d) = apply_decision(ctx, Ok(decision), dry).await? {
            if dry {
                return Ok(dry_run_response(ctx, &d));
            }
            return Ok(empty(204));
        }
    }
    Err(contended())
}

/// POST /Users/.search (S8): the same query as GET, from a SearchRequest body.
async fn search(ctx: &Ctx<'_>, req: &Request) -> Result<Response<Body>, ScimError> {
    let body = json_body(req)?;
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
    let mut params = std::collections::HashMap::new();
    let text = |v: &Value| match v {
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
    if let Some(obj) = body.as_object() {
        for (k, v) in obj {
            if let Some(t) = text(v) {
                params.insert(k.to_lowercase(), t);
            }
        }
    }
    list(ctx, &params).await
}

/// GET /Users (S2, S3, S4): indexed equality filters read only their candidates; anything
/// else pages through the directory's listing, evaluating the filter, up to a bound.
async fn list(
    ctx: &Ctx<'_>,
    params: &std::collections::HashMap<String, String>,
) -> Result<Response<Body>, ScimError> {
    let p = projection(params)?;
    let (start, count) = paging(
        params.get("startindex").map(String::as_str),
        params.get("count").map(String::as_str),
        MAX_PAGE_SIZE,
    )?;
    let filter = params
        .get("filter")
        .filter(|f| !f.trim().is_empty())
        .map(|f| parse_filter(&USER_RESOURCE, f))
        .transpose()?;
    let dir = &ctx.auth.directory_id;

    let (total, page): (usize, Vec<UserRecord>) = match &filter {
        Some(f) => {
            let mut matched = match index_lookups(f) {
                Some(lookups) => {
                    let candidates = candidates(ctx.store, dir, &lookups).await?;
                    candidates
                        .into_iter()
                        .filter(|u| f.matches(&ctx.render(u)))
                        .collect::<Vec<_>>()
                }
                None => scan(ctx, f).await?,
            };
            matched.sort_by_key(order_key);
            matched.dedup_by(|a, b| a.id == b.id);
            let total = matched.len();
            let page = matched.into_iter().skip(start - 1).take(count).collect();
            (total, page)
        }
        None => {
            let total = ctx.store.count_users(dir).await.map_err(store_error)? as usize;
            let page = if count == 0 || start > total {
                Vec::new()
            } else {
                read_listing(ctx.store, dir, start - 1, count).await?
            };
            (total, page)
        }
    };
    let resources = page
        .iter()
        .map(|u| project(&USER_RESOURCE, &ctx.render(u), &p.attributes, &p.excluded))
        .collect();
    Ok(scim_json(200, &list_response(total, start, resources), &[]))
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
                .guard_owner(crate::store::keys_user_name_guard(dir, n))
                .await
                .map_err(store_error)?
                .into_iter()
                .collect(),
            IndexLookup::ExternalId(e) => store
                .guard_owner(crate::store::keys_external_id_guard(dir, e))
                .await
                .map_err(store_error)?
                .into_iter()
                .collect(),
            IndexLookup::Email(e) => store.user_ids_by_email(dir, e).await.map_err(store_error)?,
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

/// Pages through the listing evaluating `filter`, refusing with `tooMany` past the bound.
async fn scan(ctx: &Ctx<'_>, filter: &Filter) -> Result<Vec<UserRecord>, ScimError> {
    let mut matched = Vec::new();
    let mut examined = 0usize;
    let mut next = None;
    loop {
        let page = ctx
            .store
            .list_users_page(&ctx.auth.directory_id, next, 500)
            .await
            .map_err(store_error)?;
        examined += page.users.len();
        if examined > MAX_FILTER_SCAN {
            return Err(ScimError::too_many(format!(
                "this filter is not answered from an index and the directory has more than {MAX_FILTER_SCAN} users; filter by userName, externalId, id or emails.value eq"
            )));
        }
        matched.extend(
            page.users
                .into_iter()
                .filter(|u| filter.matches(&ctx.render(u))),
        );
        match page.next {
            Some(k) => next = Some(k),
            None => return Ok(matched),
        }
    }
}

/// `count` users from position `skip` of the listing order.
async fn read_listing(
    store: &Store,
    dir: &str,
    skip: usize,
    count: usize,
) -> Result<Vec<UserRecord>, ScimError> {
    let mut out = Vec::new();
    let mut seen = 0usize;
    let mut next = None;
    loop {
        let want = (skip + count - seen).clamp(1, 500) as i32;
        let page = store
            .list_users_page(dir, next, want)
            .await
            .map_err(store_error)?;
        for u in page.users {
            if seen >= skip && out.len() < count {
                out.push(u);
            }
            seen += 1;
        }
        if out.len() >= count {
            return Ok(out);
        }
        match page.next {
            Some(k) => next = Some(k),
            None => return Ok(out),
        }
    }
}
