//! `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas` (S1) and the read-only `/Roles`
//! (G8): the `scim-discovery` function. They state exactly what this server implements. The function also answers
//! whatever else under a directory's SCIM base URL no other function is routed for: a SCIM
//! 404, or 501 for a root `/.search`.

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::response::scim_json;
use super::{authenticate_directory, finish, request_id, AppState, Route, MAX_PAGE_SIZE};
use crate::scim::bulk::{MAX_BULK_OPERATIONS, MAX_BULK_PAYLOAD_BYTES};
use crate::scim::error::ScimError;
use crate::scim::list::list_response;
use crate::scim::schema::{
    attribute_json, ResourceType, Schema, COMMON_ATTRIBUTES, ENTERPRISE_USER, GROUP,
    GROUP_RESOURCE, ROLE, ROLE_RESOURCE, USER, USER_RESOURCE,
};

/// Resource types this deployment serves. Groups are listed once their function ships.
pub fn resource_types() -> Vec<&'static ResourceType> {
    let mut out = vec![&USER_RESOURCE];
    if GROUPS_ENABLED {
        out.push(&GROUP_RESOURCE);
    }
    out.push(&ROLE_RESOURCE);
    out
}

/// Whether `/Groups` is served (discovery must not promise what is not there).
pub const GROUPS_ENABLED: bool = true;

fn schemas() -> Vec<&'static Schema> {
    let mut out = vec![&USER, &ENTERPRISE_USER];
    if GROUPS_ENABLED {
        out.push(&GROUP);
    }
    out.push(&ROLE);
    out
}

/// Only the attributes of the ServiceProviderConfig schema (RFC 7643 §5) and `pagination`
/// (RFC 9865, cursor paging): the schema has no room for others, and strict clients refuse the whole
/// document over one they do not know. The request size limit (`MAX_PAYLOAD_BYTES`) is
/// stated as `bulk.maxPayloadSize`, which is the same limit; a larger body gets a 413 that
/// names it.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/scimlink/scimlink#readme",
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": MAX_BULK_OPERATIONS,
            "maxPayloadSize": MAX_BULK_PAYLOAD_BYTES
        },
        "filter": {"supported": true, "maxResults": MAX_PAGE_SIZE},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": MAX_PAGE_SIZE,
            "maxPageSize": MAX_PAGE_SIZE
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A per-directory bearer token, created by an administrator and shown once.",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig")
        }
    })
}

pub fn resource_type_json(rt: &ResourceType, base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": rt.id,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
        "schemaExtensions": rt.extensions.iter().map(|(s, required)| json!({"schema": s.id, "required": required})).collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", rt.id)}
    })
}

pub fn schema_json(s: &Schema, base: &str) -> Value {
    let mut attributes: Vec<Value> = Vec::new();
    if s.id == USER.id || s.id == GROUP.id {
        // id, externalId and meta are common attributes (RFC 7643 §3.1), listed with the core schema.
        attributes.extend(
            COMMON_ATTRIBUTES
                .iter()
                .filter(|a| a.name != "meta")
                .map(attribute_json),
        );
    } else if s.id == ROLE.id {
        // A role has an id (`product/role`) but no externalId: no client creates one.
        attributes.extend(
            COMMON_ATTRIBUTES
                .iter()
                .filter(|a| a.name == "id")
                .map(attribute_json),
        );
    }
    attributes.extend(s.attributes.iter().map(attribute_json));
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", s.id)}
    })
}

/// `/Roles` (G8) is served here: like discovery it is read-only, and it reads one item.
const ROLE_ENDPOINT: &str = "Roles";

/// Entry point of the `scim-discovery` function.
pub async fn handle_scim_discovery(
    state: &AppState,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let rid = request_id(&req);
    let before = state.store.metrics().snapshot();
    let route = Route::parse(req.uri().path());
    let result = serve(state, &req, route.as_ref()).await;
    let response = finish(result);
    let cost = state.store.metrics().snapshot() - before;
    tracing::info!(
        request_id = %rid,
        status = response.status().as_u16(),
        path = %req.uri().path(),
        dynamodb_requests = cost.requests,
        round_trips = cost.round_trips,
        read_units = cost.read_units,
        write_units = cost.write_units,
        "discovery request"
    );
    Ok(response)
}

async fn serve(
    state: &AppState,
    req: &Request,
    route: Option<&Route>,
) -> Result<Response<Body>, ScimError> {
    let route = route.ok_or_else(|| ScimError::not_found("no such endpoint"))?;
    // RFC 7644 §4 lets discovery be unauthenticated; we authenticate so an unknown or foreign
    // directory answers the same 404 everywhere (X2).
    let auth = authenticate_directory(state, req, &route.directory_id).await?;
    let base = format!("/scim/v2/directories/{}", route.directory_id);
    if route.resource == ROLE_ENDPOINT {
        return super::roles::serve_roles(state, req, &auth, route, &base).await;
    }
    let body = discovery_document(req.method(), route, &base)?;
    Ok(scim_json(200, &body, &[]))
}

/// The answer to an authenticated request under a directory's SCIM base URL that no
/// resource function serves: a discovery document, or the error that says why not.
/// This function also takes the paths no other route matches (the router's fallback), so
/// that an unknown endpoint gets a SCIM error body like every other (RFC 7644 §3.12).
fn discovery_document(
    method: &http::Method,
    route: &Route,
    base: &str,
) -> Result<Value, ScimError> {
    let resource = route.resource.as_str();
    if resource == ".search" && route.id.is_none() {
        // RFC 7644 §3.4.3: POST /.search at the root searches every resource type at once.
        // Not offered: search within /Users/.search or /Groups/.search.
        return Err(if method == http::Method::POST {
            ScimError::not_implemented(
                "searching several resource types at once is not supported; \
                 POST to /Users/.search or /Groups/.search",
            )
        } else {
            ScimError::method_not_allowed("/.search takes POST only", "POST")
        });
    }
    if !matches!(
        resource,
        "ServiceProviderConfig" | "ResourceTypes" | "Schemas"
    ) {
        return Err(ScimError::not_found("no such endpoint"));
    }
    if method != http::Method::GET {
        return Err(ScimError::method_not_allowed(
            "discovery endpoints are read-only",
            "GET",
        ));
    }
    Ok(match (resource, route.id.as_deref()) {
        ("ServiceProviderConfig", None) => service_provider_config(base),
        ("ResourceTypes", None) => {
            let all: Vec<Value> = resource_types()
                .into_iter()
                .map(|rt| resource_type_json(rt, base))
                .collect();
            list_response(all.len(), 1, all)
        }
        ("ResourceTypes", Some(id)) => resource_types()
            .into_iter()
            .find(|rt| rt.id == id)
            .map(|rt| resource_type_json(rt, base))
            .ok_or_else(|| ScimError::not_found(format!("resource type {id} not found")))?,
        ("Schemas", None) => {
            let all: Vec<Value> = schemas()
                .into_iter()
                .map(|s| schema_json(s, base))
                .collect();
            list_response(all.len(), 1, all)
        }
        ("Schemas", Some(id)) => schemas()
            .into_iter()
            .find(|s| s.id == id)
            .map(|s| schema_json(s, base))
            .ok_or_else(|| ScimError::not_found(format!("schema {id} not found")))?,
        _ => return Err(ScimError::not_found("no such endpoint")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7643 §5 (and RFC 9865 for `pagination`): nothing outside the schema, which
    /// strict clients (scim2-models) refuse as an unknown attribute.
    #[test]
    fn service_provider_config_has_only_schema_attributes() {
        let spc = service_provider_config("/scim/v2/directories/d1");
        let keys: Vec<&str> = spc
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let allowed = [
            "schemas",
            "meta",
            "documentationUri",
            "patch",
            "bulk",
            "filter",
            "changePassword",
            "sort",
            "etag",
            "authenticationSchemes",
            "pagination",
        ];
        for key in &keys {
            assert!(
                allowed.contains(key),
                "{key} is not a ServiceProviderConfig attribute"
            );
        }
        assert_eq!(spc["bulk"]["supported"], true);
        assert_eq!(spc["bulk"]["maxOperations"], MAX_BULK_OPERATIONS);
        assert_eq!(spc["bulk"]["maxPayloadSize"], MAX_BULK_PAYLOAD_BYTES);
    }

    fn route(path: &str) -> Route {
        Route::parse(path).unwrap()
    }

    fn status(method: http::Method, path: &str) -> u16 {
        match discovery_document(&method, &route(path), "/scim/v2/directories/d1") {
            Ok(_) => 200,
            Err(e) => e.status,
        }
    }

    /// RFC 7644 §4: discovery endpoints are GET only, other methods answer 405; paths no
    /// function serves answer a SCIM 404 (§3.12); a root `/.search` answers 501 (§3.4.3).
    #[test]
    fn discovery_methods_unknown_endpoints_and_root_search() {
        use http::Method;
        let d = "/scim/v2/directories/d1";
        assert_eq!(
            status(Method::GET, &format!("{d}/ServiceProviderConfig")),
            200
        );
        assert_eq!(
            status(
                Method::GET,
                &format!("{d}/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")
            ),
            200
        );
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            for p in [
                "ServiceProviderConfig",
                "ResourceTypes",
                "ResourceTypes/User",
                "Schemas",
            ] {
                assert_eq!(status(m.clone(), &format!("{d}/{p}")), 405, "{m} {p}");
            }
            assert_eq!(
                status(m.clone(), &format!("{d}/f81c2a1e-unknown")),
                404,
                "{m}"
            );
        }
        assert_eq!(status(Method::GET, &format!("{d}/f81c2a1e-unknown")), 404);
        assert_eq!(status(Method::GET, &format!("{d}/Schemas/urn:nope")), 404);
        assert_eq!(status(Method::POST, &format!("{d}/.search")), 501);
        assert_eq!(status(Method::GET, &format!("{d}/.search")), 405);
    }
}
