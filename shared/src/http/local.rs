//! In-process calls of the handlers, routed by path as API Gateway routes to functions, with
//! the path parameters its routes give:
//! what the integration tests and the benchmark drive.

use std::collections::HashMap;

use lambda_http::{Body, Request, RequestExt, Response};

use super::{
    admin::handle_admin, bulk::handle_scim_bulk, discovery::handle_scim_discovery,
    groups::handle_scim_groups, request::Route, users::handle_scim_users, AppState,
};

/// Serves `req` with the function API Gateway would route it to.
pub async fn dispatch(
    state: &AppState,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let path = req.uri().path().to_string();
    if let Some(i) = path.find("/admin/v1/") {
        let proxy = path[i + "/admin/v1/".len()..].to_string();
        let req = req.with_path_parameters(HashMap::from([("proxy".to_string(), proxy)]));
        return handle_admin(state, req).await;
    }
    let route = Route::parse(&path);
    let params = |r: &Route| {
        let mut p = HashMap::from([("directoryId".to_string(), r.directory_id.clone())]);
        if let Some(id) = &r.id {
            p.insert("id".to_string(), id.clone());
        }
        p
    };
    match route {
        Some(r) if r.resource == "Users" => {
            handle_scim_users(state, req.with_path_parameters(params(&r))).await
        }
        Some(r) if r.resource == "Groups" => {
            handle_scim_groups(state, req.with_path_parameters(params(&r))).await
        }
        Some(r) if r.resource == "Bulk" && r.id.is_none() => {
            handle_scim_bulk(state, req.with_path_parameters(params(&r))).await
        }
        _ => handle_scim_discovery(state, req).await,
    }
}

/// A request as API Gateway would pass it: method, path with query, bearer token, JSON body.
pub fn request(
    method: &str,
    path_and_query: &str,
    token: Option<&str>,
    body: Option<String>,
    headers: &[(&str, String)],
) -> Result<Request, http::Error> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("https://scimlink.local{path_and_query}"));
    if let Some(t) = token {
        b = b.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    if body.is_some() {
        b = b.header(http::header::CONTENT_TYPE, "application/scim+json");
    }
    b.body(body.map(Body::Text).unwrap_or(Body::Empty))
}
