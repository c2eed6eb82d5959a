//! SCIM responses: `application/scim+json`, RFC 7644 error bodies, auth and retry headers.

use lambda_http::{Body, Response};
use serde_json::Value;

use crate::scim::error::ScimError;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

pub fn json_response(
    status: u16,
    content_type: &str,
    body: &Value,
    headers: &[(&str, String)],
) -> Response<Body> {
    let mut builder = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type);
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    let text = serde_json::to_string(body).unwrap_or_default();
    builder
        .body(Body::Text(text))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

pub fn scim_json(status: u16, body: &Value, headers: &[(&str, String)]) -> Response<Body> {
    json_response(status, SCIM_CONTENT_TYPE, body, headers)
}

pub fn empty(status: u16) -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::NO_CONTENT);
    r
}

pub fn scim_error(e: &ScimError) -> Response<Body> {
    let mut headers = Vec::new();
    if e.status == 401 {
        headers.push(("WWW-Authenticate", "Bearer realm=\"scimlink\"".to_string()));
    }
    if let Some(allow) = e.allow {
        headers.push(("Allow", allow.to_string()));
    }
    if let Some(secs) = e.retry_after {
        headers.push(("Retry-After", secs.to_string()));
    }
    scim_json(e.status, &e.to_json(), &headers)
}
