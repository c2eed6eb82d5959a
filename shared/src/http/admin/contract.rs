//! The admin API's contract: its OpenAPI 3.1 document (`docs/openapi.json`, embedded in
//! the binary and served at `GET /admin/v1/openapi.json`) and the route table the document
//! is checked against.
//!
//! What keeps the document true (docs/ADMIN_API.md, "API contract"):
//! - the tests below: [`ADMIN_ROUTES`] is exactly the router's match arms (`mod.rs`), and
//!   exactly the document's operations;
//! - the integration tests (`tests/it/contract.rs`): every admin response of every test is
//!   a status the document lists for its operation, with a body its schema accepts;
//! - Schemathesis against the local stack in `make test` (`infra/local/api_fuzz.sh`).

use lambda_http::{Body, Response};

/// The OpenAPI 3.1 document of the admin API, as served.
pub const OPENAPI_JSON: &str = include_str!("../../../../docs/openapi.json");

/// Every route of the admin API: method and path below `/admin/v1`, as the OpenAPI
/// document names them. The router's match arms (`mod.rs`) and the document must list
/// exactly these (tested below).
pub const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/openapi.json"),
    ("POST", "/orgs"),
    ("POST", "/orgs/{orgId}/subscriptions/{subscriptionId}/poll"),
    ("GET", "/orgs/{orgId}"),
    ("POST", "/orgs/{orgId}/domains"),
    ("DELETE", "/orgs/{orgId}/domains/{domain}"),
    ("POST", "/orgs/{orgId}/admin-keys"),
    ("GET", "/orgs/{orgId}/admin-keys"),
    ("DELETE", "/orgs/{orgId}/admin-keys/{keyId}"),
    ("POST", "/orgs/{orgId}/directories"),
    ("GET", "/orgs/{orgId}/directories"),
    ("POST", "/orgs/{orgId}/directories/{directoryId}/tokens"),
    ("GET", "/orgs/{orgId}/directories/{directoryId}/tokens"),
    (
        "DELETE",
        "/orgs/{orgId}/directories/{directoryId}/tokens/{tokenId}",
    ),
    ("GET", "/orgs/{orgId}/directories/{directoryId}/events"),
    (
        "GET",
        "/orgs/{orgId}/directories/{directoryId}/unlinked-users",
    ),
    (
        "POST",
        "/orgs/{orgId}/directories/{directoryId}/users/{userId}/unlink",
    ),
    (
        "POST",
        "/orgs/{orgId}/directories/{directoryId}/users/{userId}/relink",
    ),
    ("GET", "/orgs/{orgId}/directories/{directoryId}/safeguard"),
    ("PUT", "/orgs/{orgId}/directories/{directoryId}/safeguard"),
    (
        "GET",
        "/orgs/{orgId}/directories/{directoryId}/safeguard/holds",
    ),
    (
        "POST",
        "/orgs/{orgId}/directories/{directoryId}/safeguard/holds/approve",
    ),
    (
        "POST",
        "/orgs/{orgId}/directories/{directoryId}/safeguard/holds/release",
    ),
    ("GET", "/orgs/{orgId}/events"),
    ("GET", "/orgs/{orgId}/diagnose"),
    ("POST", "/orgs/{orgId}/invites"),
    ("POST", "/orgs/{orgId}/jit-sign-ins"),
    ("GET", "/orgs/{orgId}/accounts"),
    ("GET", "/orgs/{orgId}/accounts/{accountId}"),
    ("GET", "/orgs/{orgId}/links"),
    ("GET", "/orgs/{orgId}/accounts/{accountId}/access"),
    ("POST", "/orgs/{orgId}/sites"),
    ("POST", "/orgs/{orgId}/products"),
    ("GET", "/orgs/{orgId}/products"),
    ("POST", "/orgs/{orgId}/products/{productId}/default-groups"),
    (
        "DELETE",
        "/orgs/{orgId}/products/{productId}/default-groups/{orgGroupId}",
    ),
    ("POST", "/orgs/{orgId}/org-groups"),
    ("GET", "/orgs/{orgId}/org-groups"),
    ("PUT", "/orgs/{orgId}/org-groups/{orgGroupId}/roles"),
    ("POST", "/orgs/{orgId}/org-groups/{orgGroupId}/members"),
    ("GET", "/orgs/{orgId}/conflicts"),
    ("POST", "/orgs/{orgId}/conflicts/sync-all"),
    ("GET", "/orgs/{orgId}/conflicts/{directoryId}/{groupId}"),
    (
        "POST",
        "/orgs/{orgId}/conflicts/{directoryId}/{groupId}/sync",
    ),
    (
        "POST",
        "/orgs/{orgId}/conflicts/{directoryId}/{groupId}/reject",
    ),
    ("POST", "/orgs/{orgId}/subscriptions"),
    ("GET", "/orgs/{orgId}/subscriptions"),
    ("GET", "/orgs/{orgId}/subscriptions/{subscriptionId}"),
    ("DELETE", "/orgs/{orgId}/subscriptions/{subscriptionId}"),
    ("POST", "/orgs/{orgId}/subscriptions/{subscriptionId}/pause"),
    (
        "POST",
        "/orgs/{orgId}/subscriptions/{subscriptionId}/resume",
    ),
    (
        "POST",
        "/orgs/{orgId}/subscriptions/{subscriptionId}/rotate-secret",
    ),
    (
        "POST",
        "/orgs/{orgId}/subscriptions/{subscriptionId}/redeliver",
    ),
];

/// `GET /admin/v1/openapi.json`: the document as embedded, no credential needed (it holds
/// no tenant data, and tools fetch it before they have a key).
pub fn openapi_response() -> Response<Body> {
    Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "public, max-age=300")
        .body(Body::Text(OPENAPI_JSON.to_string()))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

    fn doc() -> Value {
        serde_json::from_str(OPENAPI_JSON).expect("docs/openapi.json is JSON")
    }

    /// A path with its parameters' names erased: `/orgs/{}/directories/{}`.
    fn shape(path: &str) -> String {
        path.split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    }

    fn table() -> BTreeSet<(String, String)> {
        ADMIN_ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect()
    }

    #[test]
    fn the_route_table_has_no_duplicates() {
        assert_eq!(table().len(), ADMIN_ROUTES.len());
        let shapes: BTreeSet<(String, String)> = ADMIN_ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), shape(p)))
            .collect();
        assert_eq!(shapes.len(), ADMIN_ROUTES.len(), "two routes of one shape");
    }

    #[test]
    fn every_route_is_in_the_document_and_every_operation_is_a_route() {
        let doc = doc();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, _) in item.as_object().unwrap() {
                assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        assert_same(
            &table(),
            &documented,
            "routes missing from docs/openapi.json",
            "operations the router does not serve",
        );
    }

    /// Fails naming what `want` has and `got` lacks, and the other way round.
    fn assert_same(
        want: &BTreeSet<(String, String)>,
        got: &BTreeSet<(String, String)>,
        missing: &str,
        extra: &str,
    ) {
        let lacking: Vec<_> = want.difference(got).collect();
        let surplus: Vec<_> = got.difference(want).collect();
        assert!(lacking.is_empty(), "{missing}: {lacking:?}");
        assert!(surplus.is_empty(), "{extra}: {surplus:?}");
    }

    /// The router's match arms (`("GET", ["directories", dir, "tokens"]) =>`, below
    /// `/orgs/{orgId}`) are the table's routes, and the routes it serves before them
    /// (POST /orgs, the poll, this document) are in the table too.
    #[test]
    fn the_router_serves_exactly_the_route_table() {
        let router = include_str!("mod.rs");
        let mut arms = BTreeSet::new();
        for line in router.lines() {
            let line = line.trim();
            let Some(rest) = line.strip_prefix("(\"") else {
                continue;
            };
            let Some((method, rest)) = rest.split_once("\", [") else {
                continue;
            };
            let Some((segments, _)) = rest.split_once("])") else {
                continue;
            };
            let mut path = String::from("/orgs/{}");
            for s in segments.split(", ").filter(|s| !s.is_empty()) {
                path.push('/');
                path.push_str(if s.starts_with('"') {
                    s.trim_matches('"')
                } else {
                    "{}"
                });
            }
            arms.insert((method.to_string(), path));
        }
        assert!(arms.len() > 40, "parsed only {} arms of mod.rs", arms.len());
        // Served before the match, each by a test of its own in `serve`.
        for (method, path, marker) in [
            ("GET", "/openapi.json", "[\"openapi.json\"]"),
            ("POST", "/orgs", "orgs::create_org"),
            (
                "POST",
                "/orgs/{}/subscriptions/{}/poll",
                "\"subscriptions\", subscription_id, \"poll\"",
            ),
        ] {
            assert!(
                router.contains(marker),
                "mod.rs no longer serves {method} {path}"
            );
            arms.insert((method.to_string(), path.to_string()));
        }
        let table: BTreeSet<(String, String)> = ADMIN_ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), shape(p)))
            .collect();
        assert_same(
            &arms,
            &table,
            "routes of mod.rs missing from ADMIN_ROUTES",
            "ADMIN_ROUTES the router does not serve",
        );
    }

    /// Every operation answers JSON errors with the SCIM error body for each failure it can
    /// meet: 401 (X1), 404 (unknown org or id, X2, X4), 400 (limits, X4; `dryRun`, E3),
    /// 429 and 503 (the store); each write also 409; every `$ref` resolves.
    #[test]
    fn x4_every_operation_documents_its_errors_and_refs_resolve() {
        let doc = doc();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let codes: BTreeSet<&str> = op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                if path == "/openapi.json" {
                    continue;
                }
                let mut want = vec!["400", "401", "429", "503"];
                if path != "/orgs" {
                    want.push("404");
                }
                if method != "get" && path != "/orgs" && !path.ends_with("/poll") {
                    want.push("409");
                }
                for w in want {
                    assert!(codes.contains(w), "{method} {path} does not document {w}");
                }
                assert!(op["operationId"].is_string(), "{method} {path}");
            }
        }
        let text = OPENAPI_JSON;
        for r in text.split("\"$ref\": \"").skip(1) {
            let target = r.split('"').next().unwrap();
            let pointer = target.strip_prefix('#').expect("a local $ref");
            let pointer = pointer.replace("~1", "/");
            assert!(
                doc.pointer(&pointer).is_some(),
                "$ref {target} resolves to nothing"
            );
        }
    }

    #[test]
    fn the_served_document_is_the_embedded_one() {
        let r = openapi_response();
        assert_eq!(r.status(), 200);
        let Body::Text(t) = r.body() else {
            panic!("a text body")
        };
        assert_eq!(t, OPENAPI_JSON);
        assert_eq!(doc()["openapi"], "3.1.0");
    }
}
