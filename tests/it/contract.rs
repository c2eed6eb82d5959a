//! The admin API's contract (docs/openapi.json) checked against what the server answers:
//! `common::dispatch` hands every admin response of every integration test to [`check`],
//! which fails the test when the status is not one the document lists for the operation,
//! or the body is not what the document's schema for that status accepts. Calls to paths
//! or methods the document does not have (tests of unknown routes) are not checked here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Value};

use crate::common::{admin, call_as, TestDirectory};

struct Contract {
    doc: Value,
    /// (method, path template split into segments, path template)
    operations: Vec<(String, Vec<String>, String)>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let doc: Value = serde_json::from_str(scimlink::http::admin::OPENAPI_JSON)
            .expect("the document is JSON");
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                let segments = path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                operations.push((method.to_uppercase(), segments, path.clone()));
            }
        }
        Contract {
            doc,
            operations,
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// The document's operation for a request: the path template of `method` with the most
/// literal segments matching `path` (below `/admin/v1`).
pub fn operation(method: &str, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let rest = path.strip_prefix("/admin/v1")?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    contract()
        .operations
        .iter()
        .filter(|(m, t, _)| m == method && t.len() == segments.len())
        .filter_map(|(_, t, p)| {
            let mut literal = 0;
            for (want, got) in t.iter().zip(&segments) {
                if want.starts_with('{') {
                    continue;
                }
                if want != got {
                    return None;
                }
                literal += 1;
            }
            Some((literal, p))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, p)| p.clone())
}

fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The errors of `body` against the schema at `pointer` (resolved in the whole document).
fn schema_errors(pointer: &str, body: &Value) -> Vec<String> {
    let c = contract();
    let cached = c
        .validators
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(pointer)
        .cloned();
    let validator = match cached {
        Some(v) => v,
        None => {
            let mut root = c.doc.clone();
            // A URI fragment: `{` and `}` of path templates are percent-encoded.
            let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
            root["$ref"] = json!(format!("#{fragment}"));
            let v = Arc::new(
                jsonschema::draft202012::new(&root)
                    .unwrap_or_else(|e| panic!("schema at {pointer}: {e}")),
            );
            c.validators
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(pointer.to_string(), v.clone());
            v
        }
    };
    validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Fails when an admin response is not what the document says `method path` answers.
pub fn check(method: &str, path: &str, status: u16, headers: &http::HeaderMap, body: &Value) {
    let Some(template) = operation(method, path) else {
        return;
    };
    let c = contract();
    let op_pointer = format!("/paths/{}/{}", escape(&template), method.to_lowercase());
    let responses = &c.doc.pointer(&op_pointer).expect("the operation")["responses"];
    let Some(mut response) = responses.get(status.to_string()) else {
        panic!(
            "contract: {method} {path} answered {status}, which docs/openapi.json does not list for {method} {template} ({}); body: {body}",
            responses.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default()
        );
    };
    let mut response_pointer = format!("{op_pointer}/responses/{status}");
    if let Some(r) = response["$ref"].as_str() {
        response_pointer = r.trim_start_matches('#').to_string();
        response = c
            .doc
            .pointer(&response_pointer)
            .expect("a response $ref resolves");
    }
    for (name, h) in response["headers"].as_object().into_iter().flatten() {
        if h["required"] == true {
            assert!(
                headers.contains_key(name.as_str()),
                "contract: {method} {path} answered {status} without the {name} header"
            );
        }
    }
    if response.get("content").is_none() {
        assert!(
            body.is_null(),
            "contract: {method} {path} answered {status} with a body, which the document does not have: {body}"
        );
        return;
    }
    let schema = format!("{response_pointer}/content/application~1json/schema");
    let errors = schema_errors(&schema, body);
    assert!(
        errors.is_empty(),
        "contract: {method} {path} answered {status} with a body docs/openapi.json ({schema}) does not accept:\n  {}\nbody: {body}",
        errors.join("\n  ")
    );
}

/// The document is served at its stable path without a credential, and is the one the
/// tests check against.
#[tokio::test]
async fn the_document_is_served_without_a_credential() {
    let t = TestDirectory::new("okta").await;
    let r = call_as(&t.state, None, "GET", "/admin/v1/openapi.json", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, contract().doc);
    let r = call_as(&t.state, None, "POST", "/admin/v1/openapi.json", None).await;
    r.assert_error(405, None);
    assert_eq!(r.header("allow"), Some("GET"));
}

/// The main routes, in the order an administrator meets them, each answer checked by
/// `dispatch` against the document: success bodies, dry runs (E3) and errors (X1, X2, X4).
#[tokio::test]
async fn x4_main_routes_answer_what_the_document_says() {
    let t = TestDirectory::new("okta").await;
    t.jira_and_confluence().await;
    let org = format!("/admin/v1/orgs/{}", t.org_id);
    let dir = format!("{org}/directories/{}", t.directory_id);
    for (method, path, body, status) in [
        ("GET", org.clone(), None, 200),
        ("GET", format!("{org}/directories"), None, 200),
        (
            "POST",
            format!("{org}/directories?dryRun=true"),
            Some(json!({"name": "d2"})),
            200,
        ),
        ("POST", format!("{dir}/tokens?dryRun=true"), None, 200),
        ("GET", format!("{dir}/tokens"), None, 200),
        ("POST", format!("{org}/admin-keys"), None, 201),
        ("GET", format!("{org}/admin-keys"), None, 200),
        (
            "POST",
            format!("{org}/invites"),
            Some(json!({"email": "ann@example.com", "displayName": "Ann"})),
            201,
        ),
        (
            "POST",
            format!("{org}/jit-sign-ins"),
            Some(json!({"email": "bob@example.com", "groups": ["nope"]})),
            200,
        ),
        ("GET", format!("{org}/accounts?limit=1"), None, 200),
        (
            "GET",
            format!("{org}/links?email=ann@example.com"),
            None,
            200,
        ),
        (
            "GET",
            format!("{org}/diagnose?email=ann@example.com"),
            None,
            200,
        ),
        (
            "GET",
            format!("{org}/diagnose?email=nobody@example.com"),
            None,
            200,
        ),
        ("GET", format!("{org}/events?limit=2"), None, 200),
        ("GET", format!("{dir}/events?outcome=held"), None, 200),
        ("GET", format!("{org}/products"), None, 200),
        ("GET", format!("{org}/org-groups"), None, 200),
        ("GET", format!("{org}/conflicts"), None, 200),
        (
            "POST",
            format!("{org}/conflicts/sync-all?dryRun=true"),
            None,
            200,
        ),
        ("GET", format!("{dir}/safeguard"), None, 200),
        (
            "PUT",
            format!("{dir}/safeguard?dryRun=true"),
            Some(json!({"enabled": true})),
            200,
        ),
        ("GET", format!("{dir}/safeguard/holds"), None, 200),
        (
            "POST",
            format!("{dir}/safeguard/holds/approve?dryRun=true"),
            None,
            200,
        ),
        ("GET", format!("{dir}/unlinked-users"), None, 200),
        ("GET", format!("{org}/subscriptions"), None, 200),
        // Errors: each a status the document lists, with the SCIM error body.
        ("GET", format!("{org}/accounts?cursor=forged"), None, 400),
        ("GET", format!("{org}/events?dryRun=maybe"), None, 400),
        (
            "POST",
            format!("{org}/sites"),
            Some(json!({"name": "n".repeat(257)})),
            400,
        ),
        (
            "PUT",
            format!("{dir}/safeguard"),
            Some(json!({"unknown": 1})),
            400,
        ),
        (
            "GET",
            format!("{org}/accounts/{}", "a".repeat(65)),
            None,
            404,
        ),
        ("GET", format!("{org}/accounts/nope"), None, 404),
        (
            "GET",
            format!("{org}/conflicts/{}/nope", t.directory_id),
            None,
            404,
        ),
        (
            "POST",
            format!("{org}/sites"),
            Some(json!({"id": "acme", "name": "again"})),
            409,
        ),
    ] {
        let r = admin(&t.state, method, &path, body).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
    }
    // X1: a SCIM token is no admin credential; X2: another org answers 404.
    let r = call_as(&t.state, Some(&t.token), "GET", &org, None).await;
    assert_eq!(r.status, 401);
    let r = admin(&t.state, "GET", "/admin/v1/orgs/no-such-org/accounts", None).await;
    assert_eq!(r.status, 404);
    // The check itself refuses what the document does not say.
    let undocumented =
        std::panic::catch_unwind(|| check("GET", &org, 418, &http::HeaderMap::new(), &json!({})));
    assert!(undocumented.is_err(), "an undocumented status must fail");
    let wrong_body = std::panic::catch_unwind(|| {
        check("GET", &org, 200, &http::HeaderMap::new(), &json!({"id": 1}))
    });
    assert!(wrong_body.is_err(), "a body the schema refuses must fail");
}
