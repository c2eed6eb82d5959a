//! Reading requests: routes from the path (API Gateway and `cargo lambda watch` both pass
//! the raw path), query parameters, bodies with a size limit, request ids.

use std::collections::HashMap;

use lambda_http::{Body, Request, RequestExt};
use serde_json::Value;

use super::MAX_PAYLOAD_BYTES;
use crate::scim::error::ScimError;

/// `/scim/v2/directories/{directoryId}/{resource}[/{id}]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub directory_id: String,
    pub resource: String,
    pub id: Option<String>,
}

impl Route {
    /// A Users or Groups request as the router passes it: `directoryId` and `id` are path
    /// parameters of the routes `.../{directoryId}/{resource}[/{id}]` (infra/template.yaml,
    /// and the workspace router of `cargo lambda watch`). Without them (a caller that routes
    /// without parameters), the raw path is parsed.
    pub fn for_resource(req: &Request, resource: &str) -> Option<Route> {
        let params = req.path_parameters();
        match params.first("directoryId") {
            Some(directory_id) => Some(Route {
                directory_id: directory_id.to_string(),
                resource: resource.to_string(),
                id: params.first("id").map(str::to_string),
            }),
            None => Route::parse(req.uri().path()).filter(|r| r.resource == resource),
        }
    }

    /// Parses the SCIM part of a path; any prefix before `/scim/v2/` (an API stage) is ignored.
    pub fn parse(path: &str) -> Option<Route> {
        let start = path.find("/scim/v2/directories/")?;
        let rest = &path[start + "/scim/v2/directories/".len()..];
        let mut parts = rest.split('/').filter(|p| !p.is_empty());
        let directory_id = decode(parts.next()?);
        let resource = decode(parts.next()?);
        let id = parts.next().map(decode);
        if parts.next().is_some() {
            return None;
        }
        Some(Route {
            directory_id,
            resource,
            id,
        })
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A directory's SCIM base URL as the client called it (for `meta.location` and `Location`,
/// which RFC 7643 §3.1 wants absolute): host from the request (`Host`), any stage prefix
/// before `/scim/v2/`, and the scheme the client really used: `X-Forwarded-Proto` (API
/// Gateway sets it to `https`; only `http` or `https` are taken), else `http` for a loopback
/// host (the local stack serves plain http), else `https`. The request URI's own scheme is
/// not used: lambda_http fills in `https` when no header says otherwise.
pub fn scim_base_url(req: &Request, directory_id: &str) -> String {
    let path = req.uri().path();
    let prefix = path
        .find("/scim/v2/directories/")
        .map(|i| &path[..i])
        .unwrap_or("");
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let host = header("host").or_else(|| req.uri().authority().map(|a| a.as_str().to_string()));
    match host.filter(|h| !h.is_empty()) {
        Some(h) => {
            let forwarded = header("x-forwarded-proto")
                .map(|p| p.trim().to_ascii_lowercase())
                .filter(|p| p == "http" || p == "https");
            let scheme = forwarded.unwrap_or_else(|| {
                if is_loopback(&h) {
                    "http".into()
                } else {
                    "https".into()
                }
            });
            format!("{scheme}://{h}{prefix}/scim/v2/directories/{directory_id}")
        }
        None => format!("{prefix}/scim/v2/directories/{directory_id}"),
    }
}

/// `127.0.0.1`, `localhost` or `[::1]`, with or without a port.
fn is_loopback(host: &str) -> bool {
    let name = if host.starts_with('[') {
        host.split_once(']')
            .map(|(h, _)| &host[..h.len() + 1])
            .unwrap_or(host)
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

/// Query parameters with lowercase names (SCIM clients vary the case: `startIndex`, `StartIndex`).
pub fn query_params(req: &Request) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(q) = req.uri().query() {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            out.insert(k.to_lowercase(), v.into_owned());
        }
    }
    if out.is_empty() {
        for (k, v) in req
            .query_string_parameters_ref()
            .into_iter()
            .flat_map(|m| m.iter())
        {
            out.insert(k.to_lowercase(), v.to_string());
        }
    }
    out
}

/// The request id of the Lambda invocation, else of the HTTP request, else a new one.
pub fn request_id(req: &Request) -> String {
    if let Some(ctx) = req.lambda_context_ref() {
        if !ctx.request_id.is_empty() {
            return ctx.request_id.clone();
        }
    }
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// The JSON body, refused with 413 past the advertised limit and `invalidSyntax` when not JSON.
pub fn json_body(req: &Request) -> Result<Value, ScimError> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(ScimError::payload_too_large(MAX_PAYLOAD_BYTES));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    /// The sample events under `functions/*/events/` (for `cargo lambda invoke`) are API
    /// Gateway v2 requests that lambda_http reads with the method, path and path parameters
    /// the router gives each function, placeholders (`__DIRECTORY_ID__`, ...) included:
    /// `infra/local/sample_events.py` replaces them with a running stack's ids.
    #[test]
    fn sample_events_are_api_gateway_v2_requests() {
        for (file, method, path, param) in [
            (
                include_str!("../../../functions/scim-users/events/create-user.json"),
                "POST",
                "/scim/v2/directories/__DIRECTORY_ID__/Users",
                ("directoryId", "__DIRECTORY_ID__"),
            ),
            (
                include_str!("../../../functions/scim-bulk/events/bulk.json"),
                "POST",
                "/scim/v2/directories/__DIRECTORY_ID__/Bulk",
                ("directoryId", "__DIRECTORY_ID__"),
            ),
            (
                include_str!("../../../functions/scim-groups/events/okta-group-patch.json"),
                "PATCH",
                "/scim/v2/directories/__DIRECTORY_ID__/Groups/__GROUP_ID__",
                ("id", "__GROUP_ID__"),
            ),
            (
                include_str!(
                    "../../../functions/scim-discovery/events/service-provider-config.json"
                ),
                "GET",
                "/scim/v2/directories/__DIRECTORY_ID__/ServiceProviderConfig",
                ("directoryId", "__DIRECTORY_ID__"),
            ),
            (
                include_str!("../../../functions/admin/events/diagnose.json"),
                "GET",
                "/admin/v1/orgs/__ORG_ID__/diagnose",
                ("proxy", "orgs/__ORG_ID__/diagnose"),
            ),
            (
                include_str!("../../../functions/console/events/index.json"),
                "GET",
                "/console/index.html",
                ("proxy", "index.html"),
            ),
        ] {
            let req = lambda_http::request::from_str(file).expect(path);
            assert_eq!(req.method().as_str(), method);
            assert_eq!(req.uri().path(), path);
            assert_eq!(
                req.path_parameters().first(param.0),
                Some(param.1),
                "{path}"
            );
        }
    }

    use super::*;

    #[test]
    fn s1_base_url_is_absolute_with_the_stage() {
        let req = http::Request::builder()
            .uri("/prod/scim/v2/directories/d1/Users")
            .header("host", "abc.execute-api.eu-west-1.amazonaws.com")
            .header("x-forwarded-proto", "https")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(
            scim_base_url(&req, "d1"),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/scim/v2/directories/d1"
        );
        let req = http::Request::builder()
            .uri("/scim/v2/directories/d1/Users")
            .header("host", "127.0.0.1:9000")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(
            scim_base_url(&req, "d1"),
            "http://127.0.0.1:9000/scim/v2/directories/d1"
        );
    }

    /// Behind `cargo lambda watch`, lambda_http gives the URI an `https` scheme of its own;
    /// the local server speaks plain http, and the location must say so.
    #[test]
    fn s1_base_url_scheme_is_the_real_one() {
        let url = |uri: &str, host: &str, proto: Option<&str>| {
            let mut b = http::Request::builder().uri(uri).header("host", host);
            if let Some(p) = proto {
                b = b.header("x-forwarded-proto", p);
            }
            scim_base_url(&b.body(Body::Empty).unwrap(), "d1")
        };
        let path = "/scim/v2/directories/d1/Users";
        for host in [
            "127.0.0.1:9000",
            "localhost:9000",
            "[::1]:9000",
            "localhost",
        ] {
            let u = url(&format!("https://{host}{path}"), host, None);
            assert!(u.starts_with(&format!("http://{host}/")), "{u}");
        }
        assert!(url(
            &format!("https://localhost.evil.example{path}"),
            "localhost.evil.example",
            None
        )
        .starts_with("https://"));
        assert!(
            url(&format!("https://api.example{path}"), "api.example", None).starts_with("https://")
        );
        assert!(url(path, "127.0.0.1:9000", Some("https")).starts_with("https://"));
        assert!(url(path, "api.example", Some("http")).starts_with("http://"));
        assert!(url(path, "127.0.0.1:9000", Some("javascript")).starts_with("http://"));
    }

    #[test]
    fn routes_parse_with_and_without_stage() {
        let r = Route::parse("/scim/v2/directories/d1/Users/u1").unwrap();
        assert_eq!(r.directory_id, "d1");
        assert_eq!(r.resource, "Users");
        assert_eq!(r.id.as_deref(), Some("u1"));
        let r = Route::parse("/prod/scim/v2/directories/d1/Users").unwrap();
        assert_eq!(r.id, None);
        assert!(Route::parse("/scim/v2/directories/d1/Users/u1/extra").is_none());
        assert!(Route::parse("/other").is_none());
    }
}
