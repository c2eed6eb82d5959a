//! `/Roles` (G8): the organization's product roles as read-only SCIM resources, in the
//! shape Okta Identity Governance's "SCIM 2.0 with entitlements" reads them
//! (docs/DECISIONS.md, "Roles an IdP can assign"). A role's `id` is `product/role`, the
//! value a user's `roles[].value` names to assign it. Served by the discovery function:
//! like discovery it is read-only, and it reads one item (the org).

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::listing::{page_whole, ListQuery};
use super::response::scim_json;
use super::scim::projection;
use super::{query_params, AppState, DirectoryAuth, Route};
use crate::directory::model::OrgRecord;
use crate::scim::error::ScimError;
use crate::scim::list::project;
use crate::scim::schema::{ROLE_RESOURCE, ROLE_SCHEMA};
use crate::store::cursor::CursorScope;

/// The org's roles as SCIM Role resources, in the order its products list them.
pub fn role_resources(org: &OrgRecord, base: &str) -> Vec<Value> {
    org.products
        .iter()
        .flat_map(|product| {
            product.roles.iter().map(move |role| {
                let id = format!("{}/{role}", product.id);
                let site = org
                    .sites
                    .iter()
                    .find(|s| s.id == product.site_id)
                    .map(|s| format!(" (site {})", s.name))
                    .unwrap_or_default();
                json!({
                    "schemas": [ROLE_SCHEMA],
                    "id": id,
                    "displayName": format!("{} {role}", product.name),
                    "description": format!("Role '{role}' of product {}{site}", product.name),
                    "meta": {
                        "resourceType": ROLE_RESOURCE.name,
                        // The id's '/' is escaped so that the location is one path segment.
                        "location": format!("{base}/Roles/{}", id.replace('/', "%2F")),
                    },
                })
            })
        })
        .collect()
}

/// GET `/Roles` (S2 filter, S3 paging, S4 attributes) and GET `/Roles/{id}`; any other
/// method answers 405: roles are managed in the admin API, not by an IdP.
pub(crate) async fn serve_roles(
    state: &AppState,
    req: &Request,
    auth: &DirectoryAuth,
    route: &Route,
    base: &str,
) -> Result<Response<Body>, ScimError> {
    if req.method() != http::Method::GET {
        return Err(ScimError::method_not_allowed(
            "roles are read-only: they are the organization's product roles, managed in its admin API",
            "GET",
        ));
    }
    let params = query_params(req);
    crate::scim::limits::check_scim_request(None, &params)?;
    // X2: the roles of the org that owns the authenticated directory, and no other.
    let org = state
        .store
        .get_org(&auth.org_id)
        .await?
        .ok_or_else(crate::write::unknown_directory)?;
    let roles = role_resources(&org, base);
    match route.id.as_deref() {
        Some(id) => {
            let p = projection(&ROLE_RESOURCE, &params)?;
            let role = roles
                .iter()
                .find(|r| r["id"] == id)
                .ok_or_else(|| ScimError::not_found(format!("role {id} not found")))?;
            Ok(scim_json(
                200,
                &project(&ROLE_RESOURCE, role, &p.attributes, &p.excluded),
                &[],
            ))
        }
        None => {
            let scope = CursorScope::new(&state.cursor_key, &auth.directory_id, "roles");
            let q = ListQuery::parse(&ROLE_RESOURCE, &params, &scope)?;
            let matched: Vec<(usize, Value)> = roles
                .into_iter()
                .enumerate()
                .filter(|(_, r)| q.admits(r))
                .collect();
            let page = page_whole(matched, q.paging.clone(), |(i, _)| *i, |a, b| a.0 == b.0)?;
            let resources = page
                .items
                .iter()
                .map(|(_, r)| {
                    project(
                        &ROLE_RESOURCE,
                        r,
                        &q.projection.attributes,
                        &q.projection.excluded,
                    )
                })
                .collect();
            Ok(scim_json(200, &page.response(resources), &[]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// G8: every `product/role` of the org is one Role resource, in Okta's shape.
    #[test]
    fn g8_every_product_role_is_a_role_resource() {
        let org = crate::directory::testkit::org_with_jira(&["user", "admin"]);
        let roles = role_resources(&org, "/scim/v2/directories/d1");
        assert_eq!(roles.len(), 2);
        assert_eq!(
            roles[1],
            json!({
                "schemas": ["urn:okta:scim:schemas:core:1.0:Role"],
                "id": "jira/admin",
                "displayName": "Jira admin",
                "description": "Role 'admin' of product Jira (site acme)",
                "meta": {
                    "resourceType": "Role",
                    "location": "/scim/v2/directories/d1/Roles/jira%2Fadmin",
                },
            })
        );
        assert_eq!(org.product_roles(), vec!["jira/user", "jira/admin"]);
    }
}
