//! `/scim/v2/directories/{directoryId}/Groups[/{id}]`: the `scim-groups` function.
//! Members are items of their own: a membership PATCH reads and writes only the members it
//! names, and `excludedAttributes=members` reads none.

use std::collections::HashMap;

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::listing::{list_page, ListQuery};
use super::request::json_body;
use super::response::{empty, scim_json};
use super::scim::{dry_run_response, handle, Projection, ResourceEndpoint, ScimRequest, Stored};
use super::AppState;
use crate::directory::groups::display_name;
use crate::directory::model::GroupRecord;
use crate::scim::error::ScimError;
use crate::scim::list::project;
use crate::scim::lookup::{index_lookups, IndexLookup};
use crate::scim::members::{split_group_patch, take_members};
use crate::scim::patch::parse_patch_with_quirks;
use crate::scim::resource::canonicalize;
use crate::scim::schema::GROUP_RESOURCE;
use crate::write::groups::{load_group, GroupChange};

/// Entry point of the `scim-groups` function.
pub async fn handle_scim_groups(
    state: &AppState,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(handle::<GroupsEndpoint>(state, &req).await)
}

/// The `/Groups` endpoint.
pub(crate) struct GroupsEndpoint;

impl ResourceEndpoint for GroupsEndpoint {
    const NAME: &'static str = "Groups";

    /// GET /Groups: `displayName eq` and `id eq` from a guard or the key; others over the listing.
    async fn list(
        ctx: &ScimRequest<'_>,
        params: &HashMap<String, String>,
    ) -> Result<Response<Body>, ScimError> {
        let dir = ctx.directory_id();
        let listing = ctx.store.group_listing(dir);
        let q = ListQuery::parse(
            &GROUP_RESOURCE,
            params,
            &listing.cursor_scope(ctx.cursor_key),
        )?;
        let keep = |g: &GroupRecord| q.admits(&render_group(ctx, g, None));
        // Indexed filters, and filters on `members` (which need each candidate's members), are
        // computed whole; the others page through the listing.
        let whole = match &q.filter {
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
                            Some(lookups) => ctx.store.group_candidates(dir, &lookups).await?,
                            None => listing.scan(&|_| true).await?,
                        };
                        let mut matched = Vec::new();
                        for g in found {
                            let members = match by_members {
                                true => Some(ctx.store.shown_members(&g).await?),
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
            q.filter.is_some(),
            q.paging.clone(),
            order,
            |a, b| a.id == b.id,
        )
        .await?;
        let mut resources = Vec::with_capacity(page.items.len());
        for g in &page.items {
            let members = members_for(ctx, g, &q.projection).await?;
            resources.push(project(
                &GROUP_RESOURCE,
                &render_group(ctx, g, members.as_deref()),
                &q.projection.attributes,
                &q.projection.excluded,
            ));
        }
        Ok(scim_json(200, &page.response(resources), &[]))
    }

    async fn create(ctx: &ScimRequest<'_>) -> Result<Response<Body>, ScimError> {
        let p = ctx.projection(&GROUP_RESOURCE)?;
        let normalized = canonicalize(&GROUP_RESOURCE, &json_body(ctx.req)?)?;
        let (doc, members) = take_members(normalized.doc);
        let group_id = uuid::Uuid::new_v4().to_string();
        let written = ctx
            .writer()
            .create_group(&ctx.caller(), &group_id, doc, members, normalized.quirks)
            .await?;
        let g = &written.outcome;
        if written.dry_run {
            return Ok(dry_run_response(
                render_group(ctx, &g.group, Some(&g.members.added)),
                json!({"outcome": g.outcome, "held": g.group.held}),
                &written.plan,
            ));
        }
        Ok(resource_response(
            ctx,
            201,
            &g.group,
            Some(&g.members.added),
            &p,
        ))
    }

    async fn get(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
        let p = ctx.projection(&GROUP_RESOURCE)?;
        let group = load_group(ctx.store, ctx.directory_id(), id).await?;
        let members = members_for(ctx, &group, &p).await?;
        Ok(resource_response(ctx, 200, &group, members.as_deref(), &p))
    }

    async fn replace(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
        let normalized = canonicalize(&GROUP_RESOURCE, &json_body(ctx.req)?)?;
        let (doc, members) = take_members(normalized.doc);
        let replace = GroupChange::Replace {
            doc,
            members,
            quirks: normalized.quirks,
        };
        change(ctx, id, &replace, true).await
    }

    /// S5: group PATCH answers 204 unless `attributes` is asked for.
    async fn patch(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
        let mut quirks = Vec::new();
        let ops = parse_patch_with_quirks(&GROUP_RESOURCE, &json_body(ctx.req)?, &mut quirks)?;
        let split = split_group_patch(ops)?;
        let wants_resource =
            ctx.params.contains_key("attributes") || ctx.params.contains_key("excludedattributes");
        change(
            ctx,
            id,
            &GroupChange::Patch { split, quirks },
            wants_resource,
        )
        .await
    }

    async fn delete(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
        let written = ctx
            .writer()
            .delete_group(&ctx.caller(), id, ctx.if_match())
            .await?;
        let g = &written.outcome;
        if written.dry_run {
            return Ok(dry_run_response(
                render_group(ctx, &g.group, None),
                json!({"outcome": g.outcome, "membersRemoved": g.members.removed}),
                &written.plan,
            ));
        }
        Ok(empty(204))
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

async fn members_for(
    ctx: &ScimRequest<'_>,
    group: &GroupRecord,
    p: &Projection,
) -> Result<Option<Vec<String>>, ScimError> {
    if !p.includes("members") {
        return Ok(None);
    }
    Ok(Some(ctx.store.shown_members(group).await?))
}

/// PUT and PATCH share the answer: the dry run, 204, or the group as stored now.
async fn change(
    ctx: &ScimRequest<'_>,
    id: &str,
    change: &GroupChange,
    answer_with_resource: bool,
) -> Result<Response<Body>, ScimError> {
    let p = ctx.projection(&GROUP_RESOURCE)?;
    let written = ctx
        .writer()
        .change_group(&ctx.caller(), id, ctx.if_match(), change)
        .await?;
    let g = &written.outcome;
    if written.dry_run {
        return Ok(dry_run_response(
            render_group(ctx, &g.group, None),
            json!({"outcome": g.outcome, "membersAdded": g.members.added, "membersRemoved": g.members.removed}),
            &written.plan,
        ));
    }
    if !answer_with_resource {
        return Ok(empty(204));
    }
    let members = members_for(ctx, &g.group, &p).await?;
    Ok(resource_response(
        ctx,
        200,
        &g.group,
        members.as_deref(),
        &p,
    ))
}
