//! `/admin/v1/...`: the `admin` function. The operator (by configuration) creates
//! organizations, directories and directory tokens; secrets are shown once, stored hashed.

use base64::Engine;
use lambda_http::{Body, Request, Response};
use rand::RngCore;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::request::json_body;
use super::response::{empty, json_response};
use super::{bearer, finish, hex, request_id, sha256, store_error, AppState};
use crate::clock::now;
use crate::directory::model::{DirectoryRecord, OrgRecord, TokenRecord, TokenScope};
use crate::directory::plan::{Condition, Plan, Record};
use crate::scim::error::ScimError;
use crate::store::{ApplyError, Store};

const JSON: &str = "application/json";

/// Entry point of the `admin` function.
pub async fn handle_admin(
    state: &AppState,
    req: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let rid = request_id(&req);
    let store = &state.store;
    let before = store.metrics().snapshot();
    let result = serve(state, store, &req).await;
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            let mut r = finish(Err(e));
            if let Ok(v) = http::HeaderValue::from_str(JSON) {
                r.headers_mut().insert(http::header::CONTENT_TYPE, v);
            }
            r
        }
    };
    let cost = store.metrics().snapshot() - before;
    tracing::info!(
        request_id = %rid,
        method = %req.method(),
        path = %req.uri().path(),
        status = response.status().as_u16(),
        dynamodb_requests = cost.requests,
        "admin request"
    );
    Ok(response)
}

fn ok(status: u16, body: Value) -> Response<Body> {
    json_response(status, JSON, &body, &[])
}

/// The operator key check: hashes compared in constant time; no key configured, no access.
fn require_operator(state: &AppState, req: &Request) -> Result<(), ScimError> {
    let expected = state
        .operator_key_hash
        .ok_or_else(ScimError::unauthorized)?;
    let given = bearer(req)
        .map(sha256)
        .ok_or_else(ScimError::unauthorized)?;
    if bool::from(given.ct_eq(&expected)) {
        Ok(())
    } else {
        Err(ScimError::unauthorized())
    }
}

/// A new random secret: 32 bytes from the OS generator, URL-safe base64, with a prefix
/// that secret scanners can recognise.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

async fn serve(
    state: &AppState,
    store: &Store,
    req: &Request,
) -> Result<Response<Body>, ScimError> {
    let path = req.uri().path();
    let rest = path
        .find("/admin/v1/")
        .map(|i| &path[i + "/admin/v1/".len()..])
        .ok_or_else(|| ScimError::not_found("no such endpoint"))?;
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let method = req.method().as_str();
    require_operator(state, req)?;
    match (method, parts.as_slice()) {
        ("POST", ["orgs"]) => create_org(store, req).await,
        ("GET", ["orgs", org]) => {
            let org = load_org(store, org).await?;
            Ok(ok(200, org_json(&org)))
        }
        ("POST", ["orgs", org, "directories"]) => create_directory(store, req, org).await,
        ("GET", ["orgs", org, "directories"]) => {
            load_org(store, org).await?;
            let dirs: Vec<DirectoryRecord> = store
                .query_gsi1_data(format!("ORG#{org}#DIRECTORIES"))
                .await
                .map_err(store_error)?;
            Ok(ok(
                200,
                json!({"directories": dirs.iter().map(directory_json).collect::<Vec<_>>()}),
            ))
        }
        ("POST", ["orgs", org, "directories", dir, "tokens"]) => {
            create_token(store, org, dir).await
        }
        ("GET", ["orgs", org, "directories", dir, "tokens"]) => {
            load_directory(store, org, dir).await?;
            let tokens = directory_tokens(store, dir).await?;
            Ok(ok(
                200,
                json!({"tokens": tokens.iter().map(|t| json!({"id": t.id, "created": t.created})).collect::<Vec<_>>()}),
            ))
        }
        ("DELETE", ["orgs", org, "directories", dir, "tokens", token_id]) => {
            load_directory(store, org, dir).await?;
            let token = directory_tokens(store, dir)
                .await?
                .into_iter()
                .find(|t| t.id == *token_id)
                .ok_or_else(|| ScimError::not_found(format!("token {token_id} not found")))?;
            let mut plan = Plan::default();
            plan.delete(Record::Token(token), Condition::Always);
            apply(store, &plan).await?;
            Ok(empty(204))
        }
        _ => Err(ScimError::not_found("no such endpoint")),
    }
}

async fn apply(store: &Store, plan: &Plan) -> Result<(), ScimError> {
    match store.apply(plan).await {
        Ok(()) => Ok(()),
        Err(ApplyError::Stale) => Err(ScimError::new(409, None, "a concurrent change won; retry")),
        Err(ApplyError::Store(e)) => Err(store_error(e)),
    }
}

async fn load_org(store: &Store, org_id: &str) -> Result<OrgRecord, ScimError> {
    store
        .get_org(org_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ScimError::not_found(format!("organization {org_id} not found")))
}

async fn load_directory(
    store: &Store,
    org_id: &str,
    directory_id: &str,
) -> Result<DirectoryRecord, ScimError> {
    store
        .get_directory(directory_id)
        .await
        .map_err(store_error)?
        .filter(|d| d.org_id == org_id)
        .ok_or_else(|| ScimError::not_found(format!("directory {directory_id} not found")))
}

async fn directory_tokens(
    store: &Store,
    directory_id: &str,
) -> Result<Vec<TokenRecord>, ScimError> {
    store
        .query_gsi1_data(format!("DIR#{directory_id}#TOKENS"))
        .await
        .map_err(store_error)
}

fn org_json(o: &OrgRecord) -> Value {
    json!({"id": o.id, "name": o.name, "verifiedDomains": o.verified_domains, "created": o.created})
}

fn directory_json(d: &DirectoryRecord) -> Value {
    json!({
        "id": d.id,
        "orgId": d.org_id,
        "name": d.name,
        "idp": d.idp,
        "created": d.created,
        "scimBaseUrl": format!("/scim/v2/directories/{}", d.id),
    })
}

fn string_field(body: &Value, name: &str) -> Result<String, ScimError> {
    body.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ScimError::invalid_value(format!(
                "'{name}' is required and must be a non-empty string"
            ))
        })
}

async fn create_org(store: &Store, req: &Request) -> Result<Response<Body>, ScimError> {
    let body = json_body(req)?;
    let name = string_field(&body, "name")?;
    let mut domains = Vec::new();
    if let Some(list) = body.get("verifiedDomains") {
        let list = list.as_array().ok_or_else(|| {
            ScimError::invalid_value("'verifiedDomains' must be an array of domain names")
        })?;
        for d in list {
            let d = d
                .as_str()
                .map(|s| s.trim().to_lowercase())
                .filter(|s| s.contains('.') && !s.contains('@') && !s.contains(' '))
                .ok_or_else(|| ScimError::invalid_value(format!("'{d}' is not a domain name")))?;
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
    }
    let org = OrgRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        verified_domains: domains,
        created: now(),
    };
    let mut plan = Plan::default();
    plan.put(Record::Org(org.clone()), Condition::Absent);
    apply(store, &plan).await?;
    Ok(ok(201, org_json(&org)))
}

const IDPS: [&str; 6] = [
    "okta",
    "entra",
    "google",
    "onelogin",
    "jumpcloud",
    "generic",
];

async fn create_directory(
    store: &Store,
    req: &Request,
    org_id: &str,
) -> Result<Response<Body>, ScimError> {
    load_org(store, org_id).await?;
    let body = json_body(req)?;
    let name = string_field(&body, "name")?;
    let idp = body
        .get("idp")
        .and_then(Value::as_str)
        .unwrap_or("generic")
        .to_lowercase();
    if !IDPS.contains(&idp.as_str()) {
        return Err(ScimError::invalid_value(format!(
            "'idp' must be one of {}",
            IDPS.join(", ")
        )));
    }
    let dir = DirectoryRecord {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: org_id.to_string(),
        name,
        idp,
        created: now(),
    };
    let mut plan = Plan::default();
    plan.put(Record::Directory(dir.clone()), Condition::Absent);
    apply(store, &plan).await?;
    Ok(ok(201, directory_json(&dir)))
}

async fn create_token(
    store: &Store,
    org_id: &str,
    directory_id: &str,
) -> Result<Response<Body>, ScimError> {
    let dir = load_directory(store, org_id, directory_id).await?;
    let secret = new_secret("scim_");
    let token = TokenRecord {
        id: short_id(),
        hash: hex(&sha256(&secret)),
        scope: TokenScope::Directory {
            directory_id: dir.id.clone(),
            idp: dir.idp.clone(),
        },
        org_id: org_id.to_string(),
        created: now(),
    };
    let mut plan = Plan::default();
    plan.put(Record::Token(token.clone()), Condition::Absent);
    apply(store, &plan).await?;
    Ok(ok(
        201,
        json!({
            "id": token.id,
            "token": secret,
            "directoryId": dir.id,
            "created": token.created,
            "note": "Shown once: only its hash is stored."
        }),
    ))
}
