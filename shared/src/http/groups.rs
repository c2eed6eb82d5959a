//! `/scim/v2/directories/{directoryId}/Groups[/{id}]`: the `scim-groups` function.
//! Members are items of their own: a membership PATCH reads and writes only the members it
//! names, and `excludedAttributes=members` reads none.

use std::collections::{BTreeSet, HashMap};

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::listing::{list_page, Listing, Paging};
use super::request::json_body;
use super::response::{empty, scim_json};
use super::scim::{
    contended, dry_run_response, handle, projection, Projection, ScimRequest, Stored,
    MAX_WRITE_ATTEMPTS,
};
use super::users::search_params;
use super::{store_error, AppState, MAX_PAGE_SIZE};
use crate::directory::groups::{
    display_name, plan_group_change, plan_group_create, plan_group_delete, GroupNameState,
    MemberChange,
};
use crate::directory::model::GroupRecord;
use crate::scim::error::ScimError;
use crate::scim::filter::parse_filter;
use crate::scim::list::project;
use crate::scim::lookup::{index_lookups, IndexLookup};
use crate::scim::members::{
    added_ids, named_ids, needs_all_members, resolve_members, split_group_patch, MemberOp,
};
use crate::scim::patch::{apply_patch, parse_patch_with_quirks};
use crate::scim::resource::canonicalize;
use crate::scim::schema::GROUP_RESOURCE;
use crate::store::cursor::CursorScope;
use crate::store::{group_from_item, keys, Store};

/// Entry point of the `scim-groups` function.
pub async fn handle_scim_groups(
    state: &AppState,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(handle(state, &req, "Groups", serve).await)
}

async fn serve(ctx: ScimRequest<'_>) -> Result<Response<Body>, ScimError> {
    let method = ctx.req.method().as_str();
    match (method, ctx.route.id.as_deref()) {
        ("GET", None) => list(&ctx, &ctx.params).await,
        ("POST", Some(".search")) => {
            let params = search_params(&json_body(ctx.req)?)?;
            list(&ctx, &params).await
        }
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

/// The group as a client sees it; `members` only when they were read. Each member is
/// `{"value", "type"}`: `$ref` is left out so that a large group stays within a response.
fn render_group(ctx: &ScimRequest<'_>, group: &GroupRecord, members: Option<&[String]>) -> Value {
    let members = members.map(|ms| {
        (
            "members",
            ms.iter()
                .map(|m| json!({"value": m, "type": "User"}))
                .collect(),
        )
    });
    ctx.render(
        &GROUP_RESOURCE,
        Stored {
            id: &group.id,
            doc: &group.doc,
            version: group.version,
            created: &group.created,
            last_modified: &group.last_modified,
        },
        members,
    )
}

fn resource_response(
    ctx: &ScimRequest<'_>,
    status: u16,
    group: &GroupRecord,
    members: Option<&[String]>,
    p: &Projection,
) -> Response<Body> {
    ctx.resource_response(
        &GROUP_RESOURCE,
        status,
        &render_group(ctx, group, members),
        p,
    )
}

async fn load_group(ctx: &ScimRequest<'_>, id: &str) -> Result<GroupRecord, ScimError> {
    ctx.store
        .get_group(ctx.directory_id(), id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ScimError::not_found(format!("group {id} not found")))
}

async fn members_for(
    ctx: &ScimRequest<'_>,
    group: &GroupRecord,
    p: &Projection,
) -> Result<Option<Vec<String>>, ScimError> {
    if !p.includes("members") {
        return Ok(None);
    }
    Ok(Some(
        ctx.store
            .group_members(ctx.directory_id(), &group.id)
            .await
            .map_err(store_error)?,
    ))
}

async fn get(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let p = ctx.projection(&GROUP_RESOURCE)?;
    let group = load_group(ctx, id).await?;
    let members = members_for(ctx, &group, &p).await?;
    Ok(resource_response(ctx, 200, &group, members.as_deref(), &p))
}

/// Splits `members` off a canonical group document.
fn take_members(mut doc: Value) -> (Value, Vec<String>) {
    let members = doc
        .as_object_mut()
        .and_then(|o| o.remove("members"))
        .and_then(|m| m.as_array().cloned())
        .unwrap_or_default();
    let mut ids: Vec<String> = Vec::new();
    for m in members {
        if let Some(v) = m.get("value").and_then(Value::as_str) {
            if !ids.iter().any(|i| i == v) {
                ids.push(v.to_string());
            }
        }
    }
    (doc, ids)
}

/// G6: every id added must be a user of this directory; otherwise the whole request fails.
fn unknown_members(
    wanted: &BTreeSet<String>,
    existing: &BTreeSet<String>,
) -> Result<(), ScimError> {
    let unknown: Vec<&str> = wanted.difference(existing).map(String::as_str).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(ScimError::invalid_value(format!(
        "members must be users of this directory; unknown ids: {}",
        unknown.join(", ")
    )))
}

async fn create(ctx: &ScimRequest<'_>) -> Result<Response<Body>, ScimError> {
    let p = ctx.projection(&GROUP_RESOURCE)?;
    let normalized = canonicalize(&GROUP_RESOURCE, &json_body(ctx.req)?)?;
    let (doc, members) = take_members(normalized.doc);
    let wanted: BTreeSet<String> = members.iter().cloned().collect();
    let (existing, _) = ctx
        .store
        .users_and_memberships(ctx.directory_id(), None, &BTreeSet::new(), &wanted)
        .await
        .map_err(store_error)?;
    unknown_members(&wanted, &existing)?;
    let group_id = uuid::Uuid::new_v4().to_string();
    let lower = display_name(&doc).to_lowercase();
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let names = ctx
            .store
            .load_group_names(&ctx.auth.org_id, ctx.directory_id(), &lower)
            .await
            .map_err(store_error)?;
        let wctx = ctx.group_write_context("POST /Groups".into(), normalized.quirks.clone());
        let decision = plan_group_create(&wctx, &names, &group_id, doc.clone(), &members);
        let plan = decision.as_ref().map(|d| &d.plan).map_err(Clone::clone);
        if ctx.apply(plan).await? {
            let d = decision.map_err(|r| r.error)?;
            if ctx.dry_run() {
                return Ok(dry_run_response(
                    render_group(ctx, &d.group, Some(&members)),
                    json!({"outcome": d.outcome, "held": d.group.held}),
                    &d.plan,
                ));
            }
            return Ok(resource_response(ctx, 201, &d.group, Some(&members), &p));
        }
    }
    Err(contended())
}

/// What a change of an existing group asks for: a new document (or not) and membership ops.
struct GroupChange {
    doc: Option<Value>,
    members: Vec<MemberOp>,
    quirks: Vec<String>,
}

/// PUT and PATCH share this: compute the change against the stored group, reading only the
/// members the change names (all of them only for a replace), write nothing on a no-op (L4).
async fn change_group(
    ctx: &ScimRequest<'_>,
    id: &str,
    operation: &str,
    change_for: &(dyn Fn(&GroupRecord) -> Result<GroupChange, ScimError> + Sync),
    answer_with_resource: bool,
) -> Result<Response<Body>, ScimError> {
    let p = ctx.projection(&GROUP_RESOURCE)?;
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let group = load_group(ctx, id).await?;
        ctx.check_if_match(group.version)?;
        let change = change_for(&group)?;
        let adds = added_ids(&change.members);
        let (existing_users, current) = if needs_all_members(&change.members) {
            let (users, _) = ctx
                .store
                .users_and_memberships(ctx.directory_id(), None, &BTreeSet::new(), &adds)
                .await
                .map_err(store_error)?;
            let all = ctx
                .store
                .group_members(ctx.directory_id(), id)
                .await
                .map_err(store_error)?;
            (users, all.into_iter().collect())
        } else {
            ctx.store
                .users_and_memberships(
                    ctx.directory_id(),
                    Some(id),
                    &named_ids(&change.members),
                    &adds,
                )
                .await
                .map_err(store_error)?
        };
        unknown_members(&adds, &existing_users)?;
        let (added, removed) = resolve_members(&change.members, &current);
        let member_change = MemberChange { added, removed };
        let doc_changed = change
            .doc
            .as_ref()
            .map(|d| *d != group.doc)
            .unwrap_or(false);
        if !doc_changed && member_change.is_empty() {
            tracing::info!(request_id = %ctx.rid, directory = %ctx.directory_id(), scim_id = %id, outcome = "no-op", "unchanged group; nothing written (L4)");
            return Ok(if answer_with_resource {
                let members = members_for(ctx, &group, &p).await?;
                resource_response(ctx, 200, &group, members.as_deref(), &p)
            } else {
                empty(204)
            });
        }
        let renamed = change
            .doc
            .as_ref()
            .filter(|d| display_name(d).to_lowercase() != display_name(&group.doc).to_lowercase());
        let names = match renamed {
            Some(d) => ctx
                .store
                .load_group_names(
                    &ctx.auth.org_id,
                    ctx.directory_id(),
                    &display_name(d).to_lowercase(),
                )
                .await
                .map_err(store_error)?,
            None => GroupNameState::default(),
        };
        // The linked org group follows any change of name, of case too.
        let name_changed = change
            .doc
            .as_ref()
            .is_some_and(|d| display_name(d) != display_name(&group.doc));
        let linked = match (&group.org_group_id, name_changed) {
            (Some(og), true) => ctx
                .store
                .get_org_group(&ctx.auth.org_id, og)
                .await
                .map_err(store_error)?,
            _ => None,
        };
        let wctx =
            ctx.group_write_context(format!("{operation} /Groups/{id}"), change.quirks.clone());
        let decision = plan_group_change(
            &wctx,
            &group,
            change.doc.clone(),
            &names,
            linked.as_ref(),
            &member_change,
        );
        let plan = decision.as_ref().map(|d| &d.plan).map_err(Clone::clone);
        if ctx.apply(plan).await? {
            let d = decision.map_err(|r| r.error)?;
            if ctx.dry_run() {
                return Ok(dry_run_response(
                    render_group(ctx, &d.group, None),
                    json!({"outcome": d.outcome, "membersAdded": member_change.added, "membersRemoved": member_change.removed}),
                    &d.plan,
                ));
            }
            if !answer_with_resource {
                return Ok(empty(204));
            }
            let members = members_for(ctx, &d.group, &p).await?;
            return Ok(resource_response(
                ctx,
                200,
                &d.group,
                members.as_deref(),
                &p,
            ));
        }
    }
    Err(contended())
}

async fn replace(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let normalized = canonicalize(&GROUP_RESOURCE, &json_body(ctx.req)?)?;
    let (doc, members) = take_members(normalized.doc);
    change_group(
        ctx,
        id,
        "PUT",
        &|_| {
            Ok(GroupChange {
                doc: Some(doc.clone()),
                members: vec![MemberOp::RemoveAll, MemberOp::Add(members.clone())],
                quirks: normalized.quirks.clone(),
            })
        },
        true,
    )
    .await
}

/// S5: group PATCH answers 204 unless `attributes` is asked for.
async fn patch(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let mut quirks = Vec::new();
    let ops = parse_patch_with_quirks(&GROUP_RESOURCE, &json_body(ctx.req)?, &mut quirks)?;
    let split = split_group_patch(ops)?;
    let wants_resource =
        ctx.params.contains_key("attributes") || ctx.params.contains_key("excludedattributes");
    change_group(
        ctx,
        id,
        "PATCH",
        &|group| {
            let doc = if split.document.is_empty() {
                None
            } else {
                let n = apply_patch(&GROUP_RESOURCE, &group.doc, &split.document)?;
                let (doc, _) = take_members(n.doc);
                Some(doc)
            };
            Ok(GroupChange {
                doc,
                members: split.members.clone(),
                quirks: quirks.clone(),
            })
        },
        wants_resource,
    )
    .await
}

async fn delete(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let group = load_group(ctx, id).await?;
        ctx.check_if_match(group.version)?;
        let members = ctx
            .store
            .group_members(ctx.directory_id(), id)
            .await
            .map_err(store_error)?;
        let linked = match &group.org_group_id {
            Some(og) => ctx
                .store
                .get_org_group(&ctx.auth.org_id, og)
                .await
                .map_err(store_error)?,
            None => None,
        };
        let wctx = ctx.group_write_context(format!("DELETE /Groups/{id}"), Vec::new());
        let d = plan_group_delete(&wctx, &group, linked.as_ref(), &members);
        let hands_back = d.plan.writes.iter().any(|w| {
            matches!(w, crate::directory::plan::Write::Put(crate::directory::plan::Record::OrgGroup(g), _) if g.managed_by == crate::directory::model::ManagedBy::Admin)
        });
        if let (true, false, Some(og)) = (hands_back, ctx.dry_run(), &linked) {
            // Admin membership items (default-group joins) did not count while the directory
            // managed the group; they must not start counting when it goes back to admin.
            let stale = ctx
                .store
                .org_group_members(&ctx.auth.org_id, &og.id)
                .await
                .map_err(store_error)?;
            let records = stale
                .into_iter()
                .map(|a| crate::directory::plan::Record::OrgMember {
                    org_id: ctx.auth.org_id.clone(),
                    org_group_id: og.id.clone(),
                    account_id: a,
                })
                .collect();
            ctx.store.delete_all(records).await.map_err(|e| match e {
                crate::store::ApplyError::Store(e) => store_error(e),
                crate::store::ApplyError::Stale => ScimError::internal(),
            })?;
        }
        if ctx.apply(Ok(&d.plan)).await? {
            if ctx.dry_run() {
                return Ok(dry_run_response(
                    render_group(ctx, &group, None),
                    json!({"outcome": d.outcome, "membersRemoved": members}),
                    &d.plan,
                ));
            }
            return Ok(empty(204));
        }
    }
    Err(contended())
}

/// GET /Groups: `displayName eq` and `id eq` from a guard or the key; others over the listing.
async fn list(
    ctx: &ScimRequest<'_>,
    params: &HashMap<String, String>,
) -> Result<Response<Body>, ScimError> {
    let p = projection(&GROUP_RESOURCE, params)?;
    let dir = ctx.directory_id();
    let partition = keys::groups_of(dir);
    let paging = Paging::from_params(
        params,
        &CursorScope::new(ctx.cursor_key, dir, &partition),
        MAX_PAGE_SIZE,
    )?;
    let filter = params
        .get("filter")
        .filter(|f| !f.trim().is_empty())
        .map(|f| parse_filter(&GROUP_RESOURCE, f))
        .transpose()?;
    let decode = |i: &crate::store::Item| group_from_item(dir, i);
    let listing = Listing {
        store: ctx.store,
        partition,
        decode: &decode,
    };
    let keep = |g: &GroupRecord| {
        filter
            .as_ref()
            .is_none_or(|f| f.matches(&render_group(ctx, g, None)))
    };
    // Indexed filters, and filters on `members` (which need each candidate's members), are
    // computed whole; the others page through the listing.
    let whole = match &filter {
        Some(f) => {
            let indexed = index_lookups(f).filter(|l| {
                l.iter()
                    .all(|l| matches!(l, IndexLookup::Id(_) | IndexLookup::DisplayName(_)))
            });
            let by_members = f.mentions("members");
            match (indexed, by_members) {
                (None, false) => None,
                (indexed, _) => {
                    let found = match indexed {
                        Some(lookups) => candidates(ctx.store, dir, &lookups).await?,
                        None => listing.scan(&|_| true).await?,
                    };
                    let mut matched = Vec::new();
                    for g in found {
                        let members = match by_members {
                            true => Some(
                                ctx.store
                                    .group_members(dir, &g.id)
                                    .await
                                    .map_err(store_error)?,
                            ),
                            false => None,
                        };
                        if f.matches(&render_group(ctx, &g, members.as_deref())) {
                            matched.push(g);
                        }
                    }
                    Some(matched)
                }
            }
        }
        None => None,
    };
    let order = |g: &GroupRecord| (display_name(&g.doc).to_lowercase(), g.id.clone());
    let page = list_page(
        &listing,
        whole,
        &keep,
        filter.is_some(),
        paging,
        order,
        |a, b| a.id == b.id,
    )
    .await?;
    let mut resources = Vec::with_capacity(page.items.len());
    for g in &page.items {
        let members = members_for(ctx, g, &p).await?;
        resources.push(project(
            &GROUP_RESOURCE,
            &render_group(ctx, g, members.as_deref()),
            &p.attributes,
            &p.excluded,
        ));
    }
    Ok(scim_json(200, &page.response(resources), &[]))
}

async fn candidates(
    store: &Store,
    dir: &str,
    lookups: &[IndexLookup],
) -> Result<Vec<GroupRecord>, ScimError> {
    let mut out: Vec<GroupRecord> = Vec::new();
    for l in lookups {
        let id = match l {
            IndexLookup::Id(id) => Some(id.clone()),
            IndexLookup::DisplayName(n) => store
                .guard_owner(keys::group_name_guard(dir, n))
                .await
                .map_err(store_error)?,
            _ => None,
        };
        if let Some(id) = id.filter(|id| !out.iter().any(|g| g.id == *id)) {
            out.extend(store.get_group(dir, &id).await.map_err(store_error)?);
        }
    }
    Ok(out)
}
