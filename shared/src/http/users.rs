//! `/scim/v2/directories/{directoryId}/Users[/{id}]`: the `scim-users` function.

use std::collections::HashMap;

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::listing::{list_page, ListQuery};
use super::request::json_body;
use super::response::{empty, scim_json};
use super::scim::{dry_run_response, handle, Projection, ResourceEndpoint, ScimRequest, Stored};
use super::AppState;
use crate::directory::model::UserRecord;
use crate::directory::users::{user_name_lower, LinkDecision};
use crate::scim::error::ScimError;
use crate::scim::list::project;
use crate::scim::lookup::{index_lookups, IndexLookup};
use crate::scim::patch::parse_patch_with_quirks;
use crate::scim::resource::canonicalize;
use crate::scim::schema::USER_RESOURCE;
use crate::write::users::{load_user, UserChange, UserOutcome};
use crate::write::Written;

/// Entry point of the `scim-users` function.
pub async fn handle_scim_users(
    state: &AppState,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(handle::<UsersEndpoint>(state, &req).await)
}

/// The `/Users` endpoint.
pub(crate) struct UsersEndpoint;

impl ResourceEndpoint for UsersEndpoint {
    const NAME: &'static str = "Users";

    /// GET /Users (S2, S3, S4).
    async fn list(
        ctx: &ScimRequest<'_>,
        params: &HashMap<String, String>,
    ) -> Result<Response<Body>, ScimError> {
        let dir = ctx.directory_id();
        let listing = ctx.store.user_listing(dir);
        let q = ListQuery::parse(
            &USER_RESOURCE,
            params,
            &listing.cursor_scope(ctx.cursor_key),
        )?;
        let keep = |u: &UserRecord| q.admits(&render_user(ctx, u, None));
        let indexed = q
            .filter
            .as_ref()
            .and_then(index_lookups)
            .filter(|l| !l.iter().any(|l| matches!(l, IndexLookup::DisplayName(_))));
        let whole = match indexed {
            Some(lookups) => Some(
                ctx.store
                    .user_candidates(dir, &lookups)
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
            q.filter.is_some(),
            q.paging.clone(),
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
                    &q.projection.attributes,
                    &q.projection.excluded,
                )
            })
            .collect();
        Ok(scim_json(200, &page.response(resources), &[]))
    }

    async fn create(ctx: &ScimRequest<'_>) -> Result<Response<Body>, ScimError> {
        let p = ctx.projection(&USER_RESOURCE)?;
        let normalized = canonicalize(&USER_RESOURCE, &json_body(ctx.req)?)?;
        let user_id = uuid::Uuid::new_v4().to_string();
        let written = ctx
            .writer()
            .create_user(&ctx.caller(), &user_id, normalized.doc, normalized.quirks)
            .await?;
        Ok(answer_write(ctx, written, 201, &p))
    }

    async fn get(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
        let p = ctx.projection(&USER_RESOURCE)?;
        // The user and its groups side by side: one round trip, not two.
        let (user, groups) = futures::try_join!(
            load_user(ctx.store, ctx.directory_id(), id),
            groups_for(ctx, id, &p)
        )?;
        Ok(resource_response(ctx, 200, &user, groups.as_deref(), &p))
    }

    async fn replace(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
        let p = ctx.projection(&USER_RESOURCE)?;
        let normalized = canonicalize(&USER_RESOURCE, &json_body(ctx.req)?)?;
        let change = UserChange::Replace {
            doc: normalized.doc,
            quirks: normalized.quirks,
        };
        let written = ctx
            .writer()
            .change_user(&ctx.caller(), id, ctx.if_match(), &change)
            .await?;
        Ok(answer_write(ctx, written, 200, &p))
    }

    async fn patch(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
        let p = ctx.projection(&USER_RESOURCE)?;
        let mut quirks = Vec::new();
        let ops = parse_patch_with_quirks(&USER_RESOURCE, &json_body(ctx.req)?, &mut quirks)?;
        let change = UserChange::Patch { ops, quirks };
        let written = ctx
            .writer()
            .change_user(&ctx.caller(), id, ctx.if_match(), &change)
            .await?;
        Ok(answer_write(ctx, written, 200, &p))
    }

    /// DELETE (L7): the user, its link and its memberships go; the account stays.
    async fn delete(ctx: &ScimRequest<'_>, id: &str) -> Result<Response<Body>, ScimError> {
        let written = ctx
            .writer()
            .delete_user(&ctx.caller(), id, ctx.if_match())
            .await?;
        Ok(answer_write(ctx, written, 204, &Projection::default()))
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

/// The user's groups, read only when the response shows them (one query).
async fn groups_for(
    ctx: &ScimRequest<'_>,
    user_id: &str,
    p: &Projection,
) -> Result<Option<Vec<String>>, ScimError> {
    if !p.includes("groups") {
        return Ok(None);
    }
    Ok(Some(
        ctx.store
            .live_groups_of_user(ctx.directory_id(), user_id)
            .await?,
    ))
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

/// A user write's answer: the dry-run document, 204, or the resource with `status`.
fn answer_write(
    ctx: &ScimRequest<'_>,
    written: Written<UserOutcome>,
    status: u16,
    p: &Projection,
) -> Response<Body> {
    let UserOutcome { user, link } = &written.outcome;
    if written.dry_run {
        let decision = link
            .as_ref()
            .map(link_json)
            .unwrap_or_else(|| json!({"link": "unchanged", "reason": "nothing changed (L4)"}));
        dry_run_response(render_user(ctx, user, None), decision, &written.plan)
    } else if status == 204 {
        empty(204)
    } else {
        resource_response(ctx, status, user, None, p)
    }
}

fn order_key(u: &UserRecord) -> (String, String) {
    (user_name_lower(&u.doc), u.id.clone())
}
