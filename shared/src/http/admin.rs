//! `/admin/v1/...`: the `admin` function. The operator (by configuration) creates
//! organizations, directories and directory tokens; secrets are shown once, stored hashed.

use base64::Engine;
use lambda_http::{Body, Request, Response};
use rand::RngCore;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::request::{body_bytes, json_body};
use super::response::{empty, json_response};
use super::{bearer, finish, hex, request_id, sha256, store_error, AppState};
use crate::clock::now;
use crate::directory::model::{DirectoryRecord, OrgRecord, TokenRecord, TokenScope};
use crate::directory::plan::{Condition, Plan, Record};
use crate::scim::error::ScimError;
use crate::scim::limits::check_admin_request;
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

/// Who is calling: the operator (configuration), or an admin key of one org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Operator,
    OrgAdmin { key_id: String },
}

/// X1/X2 for the admin API: the operator key or an admin key of `org_id`. A valid key of
/// another org answers 404, as an unknown org does; a SCIM token answers 401.
async fn authorize_org(
    state: &AppState,
    store: &Store,
    req: &Request,
    org_id: &str,
) -> Result<Actor, ScimError> {
    if require_operator(state, req).is_ok() {
        return Ok(Actor::Operator);
    }
    let secret = bearer(req).ok_or_else(ScimError::unauthorized)?;
    let hash = hex(&sha256(secret));
    let token = store
        .get_token(&hash)
        .await
        .map_err(store_error)?
        .ok_or_else(ScimError::unauthorized)?;
    if !bool::from(token.hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(ScimError::unauthorized());
    }
    match token.scope {
        TokenScope::OrgAdmin if token.org_id == org_id => Ok(Actor::OrgAdmin { key_id: token.id }),
        TokenScope::OrgAdmin => Err(ScimError::not_found(format!(
            "organization {org_id} not found"
        ))),
        // A SCIM token is not an admin credential: 401 like a wrong one, no oracle (X1).
        TokenScope::Directory { .. } => Err(ScimError::unauthorized()),
    }
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
    let parts: Vec<String> = rest
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let method = req.method().as_str();
    if parts.first() != Some(&"orgs") {
        return Err(ScimError::not_found("no such endpoint"));
    }
    if parts.len() == 1 {
        require_operator(state, req)?;
        check_admin_request(&parts, &super::query_params(req), body_bytes(req))?;
        return match method {
            "POST" => create_org(store, req).await,
            _ => Err(ScimError::method_not_allowed(
                "only POST creates an organization",
                "POST",
            )),
        };
    }
    let org_id = parts[1];
    let actor = authorize_org(state, store, req, org_id).await?;
    check_admin_request(&parts, &super::query_params(req), body_bytes(req))?;
    let org = load_org(store, org_id).await?;
    let call = AdminCall {
        store,
        req,
        org,
        actor,
        rid: request_id(req),
        params: super::query_params(req),
        cursor_key: &state.cursor_key,
    };
    match (method, &parts[2..]) {
        ("GET", []) => Ok(ok(200, org_json(&call.org))),
        ("POST", ["domains"]) => set_domain(&call, None).await,
        ("DELETE", ["domains", domain]) => set_domain(&call, Some(domain)).await,
        ("POST", ["admin-keys"]) => {
            if call.actor != Actor::Operator {
                return Err(ScimError::new(
                    403,
                    None,
                    "only the operator creates admin keys",
                ));
            }
            create_credential(&call, None).await
        }
        ("GET", ["admin-keys"]) => list_credentials(&call, None).await,
        ("DELETE", ["admin-keys", id]) => revoke_credential(&call, None, id).await,
        ("POST", ["directories"]) => create_directory(store, req, org_id).await,
        ("GET", ["directories"]) => {
            let dirs = store
                .directories_of_org(org_id)
                .await
                .map_err(store_error)?;
            Ok(ok(
                200,
                json!({"directories": dirs.iter().map(directory_json).collect::<Vec<_>>()}),
            ))
        }
        ("POST", ["directories", dir, "tokens"]) => create_credential(&call, Some(dir)).await,
        ("GET", ["directories", dir, "tokens"]) => list_credentials(&call, Some(dir)).await,
        ("DELETE", ["directories", dir, "tokens", id]) => {
            revoke_credential(&call, Some(dir), id).await
        }
        ("GET", ["directories", dir, "events"]) => {
            load_directory(store, org_id, dir).await?;
            super::admin_log::events(&call, Some(dir)).await
        }
        ("GET", ["directories", dir, "unlinked-users"]) => {
            super::admin_accounts::unlinked_users(&call, dir).await
        }
        ("POST", ["directories", dir, "users", user, "unlink"]) => {
            super::admin_accounts::unlink(&call, dir, user).await
        }
        ("POST", ["directories", dir, "users", user, "relink"]) => {
            super::admin_accounts::relink(&call, dir, user).await
        }
        ("GET", ["events"]) => super::admin_log::events(&call, None).await,
        ("GET", ["diagnose"]) => super::admin_log::diagnose(&call).await,
        ("POST", ["invites"]) => super::admin_accounts::invite(&call).await,
        ("POST", ["jit-sign-ins"]) => super::admin_accounts::jit_sign_in(&call).await,
        ("GET", ["accounts"]) => super::admin_accounts::list_accounts(&call).await,
        ("GET", ["accounts", id]) => super::admin_accounts::get_account(&call, id).await,
        ("GET", ["links"]) => super::admin_accounts::links(&call).await,
        ("GET", ["accounts", id, "access"]) => super::admin_access::account_access(&call, id).await,
        ("POST", ["sites"]) => super::admin_access::add_site(&call).await,
        ("POST", ["products"]) => super::admin_access::add_product(&call).await,
        ("GET", ["products"]) => super::admin_access::list_products(&call).await,
        ("POST", ["products", p, "default-groups"]) => {
            super::admin_access::set_default(&call, p, None).await
        }
        ("DELETE", ["products", p, "default-groups", g]) => {
            super::admin_access::set_default(&call, p, Some(g)).await
        }
        ("POST", ["org-groups"]) => super::admin_access::create_org_group(&call).await,
        ("GET", ["org-groups"]) => super::admin_access::list_org_groups(&call).await,
        ("PUT", ["org-groups", id, "roles"]) => super::admin_access::set_roles(&call, id).await,
        ("POST", ["org-groups", id, "members"]) => {
            super::admin_access::add_members(&call, id).await
        }
        ("GET", ["conflicts"]) => super::admin_access::list_conflicts(&call).await,
        ("POST", ["conflicts", "sync-all"]) => super::admin_access::sync_all(&call).await,
        ("GET", ["conflicts", dir, gid]) => {
            super::admin_access::get_conflict(&call, dir, gid).await
        }
        ("POST", ["conflicts", dir, gid, "sync"]) => {
            super::admin_access::sync(&call, dir, gid).await
        }
        ("POST", ["conflicts", dir, gid, "reject"]) => {
            super::admin_access::reject(&call, dir, gid).await
        }
        _ => Err(ScimError::not_found("no such endpoint")),
    }
}

/// One authorized admin request of an org.
pub struct AdminCall<'a> {
    pub store: &'a Store,
    pub req: &'a Request,
    pub org: OrgRecord,
    pub actor: Actor,
    pub rid: String,
    pub params: std::collections::HashMap<String, String>,
    /// Signs this deployment's paging cursors (X4).
    pub cursor_key: &'a crate::store::cursor::CursorKey,
}

impl AdminCall<'_> {
    /// A write context for an admin decision; `directory_id` when it acts on a directory's user.
    pub fn write_context(
        &self,
        operation: String,
        directory_id: Option<&str>,
    ) -> crate::directory::users::WriteContext {
        crate::directory::users::WriteContext {
            org_id: self.org.id.clone(),
            verified_domains: self.org.verified_domains.clone(),
            default_groups: self.org.default_groups(),
            directory_id: directory_id.unwrap_or_default().to_string(),
            idp: match &self.actor {
                Actor::Operator => "admin:operator".into(),
                Actor::OrgAdmin { key_id } => format!("admin:key:{key_id}"),
            },
            request_id: Some(self.rid.clone()),
            now: now(),
            operation,
            quirks: Vec::new(),
        }
    }

    pub fn dry_run(&self) -> bool {
        self.params
            .get("dryrun")
            .map(|v| v.eq_ignore_ascii_case("true"))
            .unwrap_or(false)
    }

    /// Applies a plan unless this is a dry run.
    pub async fn apply(&self, plan: &Plan) -> Result<(), ScimError> {
        if self.dry_run() {
            return Ok(());
        }
        apply(self.store, plan).await
    }
}

pub(crate) fn ok_json(status: u16, body: Value) -> Response<Body> {
    ok(status, body)
}

/// Adds (`remove` None) or removes a verified domain; accounts' `managed` status follows.
async fn set_domain(
    call: &AdminCall<'_>,
    remove: Option<&str>,
) -> Result<Response<Body>, ScimError> {
    let mut org = call.org.clone();
    match remove {
        Some(d) => {
            let d = d.to_lowercase();
            if !org.verified_domains.contains(&d) {
                return Err(ScimError::not_found(format!(
                    "domain {d} is not verified by this organization"
                )));
            }
            org.verified_domains.retain(|x| *x != d);
        }
        None => {
            let body = json_body(call.req)?;
            let d = domain(&string_field(&body, "domain")?)?;
            if org.verified_domains.contains(&d) {
                return Ok(ok(200, org_json(&org)));
            }
            org.verified_domains.push(d);
        }
    }
    crate::scim::limits::check_org(&org)?;
    org.version = call.org.version + 1;
    let mut plan = Plan::default();
    plan.put(
        Record::Org(org.clone()),
        Condition::Version(call.org.version),
    );
    let wctx = call.write_context("domains".into(), None);
    plan.event(wctx.event(
        crate::directory::model::Outcome::Updated,
        format!(
            "Verified domains are now: {}.",
            org.verified_domains.join(", ")
        ),
    ));
    call.apply(&plan).await?;
    Ok(ok(200, org_json(&org)))
}

fn domain(raw: &str) -> Result<String, ScimError> {
    crate::scim::limits::domain(raw)
}

/// The owner key of a credential listing: a directory's tokens or the org's admin keys.
fn credential_owner(call: &AdminCall<'_>, directory: Option<&str>) -> String {
    match directory {
        Some(d) => format!("DIR#{d}"),
        None => format!("ORG#{}", call.org.id),
    }
}

async fn credentials(
    call: &AdminCall<'_>,
    directory: Option<&str>,
) -> Result<Vec<TokenRecord>, ScimError> {
    if let Some(d) = directory {
        load_directory(call.store, &call.org.id, d).await?;
    }
    call.store
        .query_gsi1_data(crate::store::keys::tokens_of(&credential_owner(
            call, directory,
        )))
        .await
        .map_err(store_error)
}

async fn list_credentials(
    call: &AdminCall<'_>,
    directory: Option<&str>,
) -> Result<Response<Body>, ScimError> {
    let list = credentials(call, directory).await?;
    let key = if directory.is_some() {
        "tokens"
    } else {
        "adminKeys"
    };
    Ok(ok(
        200,
        json!({key: list.iter().map(|t| json!({"id": t.id, "created": t.created})).collect::<Vec<_>>()}),
    ))
}

/// Revoking one credential leaves the others working: rotation is create, switch, revoke.
async fn revoke_credential(
    call: &AdminCall<'_>,
    directory: Option<&str>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    let token = credentials(call, directory)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ScimError::not_found(format!("credential {id} not found")))?;
    let mut plan = Plan::default();
    plan.delete(Record::Token(token), Condition::Always);
    call.apply(&plan).await?;
    Ok(empty(204))
}

/// A new directory token or org admin key: random, shown once, stored as its SHA-256.
async fn create_credential(
    call: &AdminCall<'_>,
    directory: Option<&str>,
) -> Result<Response<Body>, ScimError> {
    let (secret, scope, extra) = match directory {
        Some(d) => {
            let dir = load_directory(call.store, &call.org.id, d).await?;
            (
                new_secret("scim_"),
                TokenScope::Directory {
                    directory_id: dir.id.clone(),
                    idp: dir.idp.clone(),
                },
                json!({"directoryId": dir.id}),
            )
        }
        None => (
            new_secret("sladm_"),
            TokenScope::OrgAdmin,
            json!({"orgId": call.org.id}),
        ),
    };
    let token = TokenRecord {
        id: short_id(),
        hash: hex(&sha256(&secret)),
        scope,
        org_id: call.org.id.clone(),
        created: now(),
    };
    let mut plan = Plan::default();
    plan.put(Record::Token(token.clone()), Condition::Absent);
    call.apply(&plan).await?;
    if call.dry_run() {
        // E3: nothing is stored and no secret is shown, so nothing usable exists.
        return Ok(ok(
            200,
            dry_run_body(json!({"id": token.id, "created": token.created}), extra),
        ));
    }
    let mut body = json!({
        "id": token.id,
        "created": token.created,
        "note": "Shown once: only its hash is stored."
    });
    if let (Some(o), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
        o.insert(
            if directory.is_some() { "token" } else { "key" }.into(),
            Value::String(secret),
        );
    }
    Ok(ok(201, body))
}

/// `?dryRun=true` of a request without an `AdminCall` (creating an org or a directory).
fn dry_run(req: &Request) -> bool {
    super::query_params(req)
        .get("dryrun")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// What a create would make (E3), marked as not made: `record` and `extra` merged.
fn dry_run_body(record: Value, extra: Value) -> Value {
    let mut body = record;
    if let (Some(o), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
        o.insert("dryRun".into(), Value::Bool(true));
        o.insert(
            "note".into(),
            Value::String("Dry run: nothing was created, and no secret was issued.".into()),
        );
    }
    body
}

async fn apply(store: &Store, plan: &Plan) -> Result<(), ScimError> {
    match store.apply(plan).await {
        Ok(()) => Ok(()),
        Err(ApplyError::Stale) => Err(ScimError::new(409, None, "a concurrent change won; retry")),
        Err(ApplyError::Store(e)) => Err(store_error(e)),
    }
}

pub(crate) async fn load_org(store: &Store, org_id: &str) -> Result<OrgRecord, ScimError> {
    store
        .get_org(org_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ScimError::not_found(format!("organization {org_id} not found")))
}

pub(crate) async fn load_directory(
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

pub(crate) fn string_field(body: &Value, name: &str) -> Result<String, ScimError> {
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
            let d =
                domain(d.as_str().ok_or_else(|| {
                    ScimError::invalid_value(format!("'{d}' is not a domain name"))
                })?)?;
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
        version: 1,
        sites: Vec::new(),
        products: Vec::new(),
    };
    let mut plan = Plan::default();
    plan.put(Record::Org(org.clone()), Condition::Absent);
    if dry_run(req) {
        return Ok(ok(200, dry_run_body(org_json(&org), json!({}))));
    }
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
    if dry_run(req) {
        return Ok(ok(200, dry_run_body(directory_json(&dir), json!({}))));
    }
    apply(store, &plan).await?;
    Ok(ok(201, directory_json(&dir)))
}
