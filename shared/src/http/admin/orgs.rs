//! Organizations, directories, credentials (directory tokens, org admin keys) and verified
//! domains. Secrets are random, shown once, and stored as their SHA-256 alone (X1).

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::{dry_run, mint_credential, ok_json, required, typed_body, AdminCall};
use super::render::{directory_json, org_json};
use crate::clock::now;
use crate::directory::model::{DirectoryRecord, OrgRecord, TokenRecord, TokenScope};
use crate::directory::plan::Record;
use crate::http::response::empty;
use crate::http::{query_params, request_id};
use crate::scim::error::ScimError;
use crate::store::Store;
use crate::write::{Caller, Writer};

const IDPS: [&str; 6] = [
    "okta",
    "entra",
    "google",
    "onelogin",
    "jumpcloud",
    "generic",
];

/// A domain name as an org verifies it (X4: bounded, DNS labels).
fn domain(raw: &str) -> Result<String, ScimError> {
    crate::scim::limits::domain(raw)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewOrg {
    name: String,
    #[serde(default)]
    verified_domains: Vec<String>,
}

/// POST /orgs (the operator). A dry run answers the organization it would create.
pub async fn create_org(store: &Store, req: &Request) -> Result<Response<Body>, ScimError> {
    let body: NewOrg = typed_body(req)?;
    let mut domains: Vec<String> = Vec::new();
    for d in &body.verified_domains {
        let d = domain(d)?;
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    let org = OrgRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name: required("name", &body.name)?,
        verified_domains: domains,
        created: now(),
        version: 1,
        sites: Vec::new(),
        products: Vec::new(),
    };
    let dry = dry_run(&query_params(req));
    let operator = Caller {
        org_id: org.id.clone(),
        directory_id: String::new(),
        idp: "admin:operator".into(),
        request_id: request_id(req),
    };
    Writer::new(store, dry)
        .create(&operator, "POST /orgs", Record::Org(org.clone()))
        .await?;
    Ok(created(dry, org_json(&org)))
}

/// 201 with what was created, or 200 with what would be on a dry run (E3), marked as not
/// made.
fn created(dry_run: bool, mut body: Value) -> Response<Body> {
    if dry_run {
        if let Some(o) = body.as_object_mut() {
            o.insert("dryRun".into(), Value::Bool(true));
            o.insert(
                "note".into(),
                Value::String("Dry run: nothing was created, and no secret was issued.".into()),
            );
        }
        return ok_json(200, body);
    }
    ok_json(201, body)
}

#[derive(Deserialize)]
struct NewDirectory {
    name: String,
    #[serde(default)]
    idp: Option<String>,
}

/// POST /directories: one IdP connection.
pub async fn create_directory(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let body: NewDirectory = call.body()?;
    let idp = body.idp.as_deref().unwrap_or("generic").to_lowercase();
    if !IDPS.contains(&idp.as_str()) {
        return Err(ScimError::invalid_value(format!(
            "'idp' must be one of {}",
            IDPS.join(", ")
        )));
    }
    let dir = DirectoryRecord {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: call.org.id.clone(),
        name: required("name", &body.name)?,
        idp,
        created: now(),
    };
    call.writer()
        .create(
            &call.caller(),
            "POST /directories",
            Record::Directory(dir.clone()),
        )
        .await?;
    Ok(created(call.dry_run(), directory_json(&dir)))
}

pub async fn list_directories(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let dirs = call.store.directories_of_org(&call.org.id).await?;
    Ok(ok_json(
        200,
        json!({"directories": dirs.iter().map(directory_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct Domain {
    domain: String,
}

/// POST /domains (`remove` None) and DELETE /domains/{d}: accounts' `managed` status
/// follows the org's verified domains.
pub async fn set_domain(
    call: &AdminCall<'_>,
    remove: Option<&str>,
) -> Result<Response<Body>, ScimError> {
    let (domain, operation) = match remove {
        Some(d) => (d.to_lowercase(), "DELETE /domains"),
        None => (domain(&call.body::<Domain>()?.domain)?, "POST /domains"),
    };
    let adding = remove.is_none();
    let written = call
        .writer()
        .update_org(&call.caller(), &call.org, operation, |org| {
            let has = org.verified_domains.contains(&domain);
            if has == adding {
                return Ok(None);
            }
            if !adding && !has {
                return Err(ScimError::not_found(format!(
                    "domain {domain} is not verified by this organization"
                )));
            }
            let mut next = org.clone();
            if adding {
                next.verified_domains.push(domain.clone());
            } else {
                next.verified_domains.retain(|x| *x != domain);
            }
            let message = format!(
                "Verified domains are now: {}.",
                next.verified_domains.join(", ")
            );
            Ok(Some((next, message)))
        })
        .await?;
    Ok(ok_json(200, org_json(&written.outcome)))
}

async fn credentials(
    call: &AdminCall<'_>,
    directory: Option<&str>,
) -> Result<Vec<TokenRecord>, ScimError> {
    if let Some(d) = directory {
        call.directory(d).await?;
    }
    Ok(call.store.credentials(&call.org.id, directory).await?)
}

pub async fn list_credentials(
    call: &AdminCall<'_>,
    directory: Option<&str>,
) -> Result<Response<Body>, ScimError> {
    let list = credentials(call, directory).await?;
    let key = if directory.is_some() {
        "tokens"
    } else {
        "adminKeys"
    };
    Ok(ok_json(
        200,
        json!({key: list.iter().map(|t| json!({"id": t.id, "created": t.created})).collect::<Vec<_>>()}),
    ))
}

/// Revoking one credential leaves the others working: rotation is create, switch, revoke.
pub async fn revoke_credential(
    call: &AdminCall<'_>,
    directory: Option<&str>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    let token = credentials(call, directory)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ScimError::not_found(format!("credential {id} not found")))?;
    let operation = format!("DELETE {}", call.req.uri().path());
    let written = call
        .writer()
        .revoke_credential(&call.caller(), &operation, &token)
        .await?;
    if written.dry_run {
        return Ok(ok_json(
            200,
            json!({"id": token.id, "revoked": false, "dryRun": true}),
        ));
    }
    call.tokens.forget(&token.hash);
    Ok(empty(204))
}

/// A new directory token or org admin key. On a dry run no secret is made at all: the
/// answer says what would be created, and nothing it holds can authenticate.
pub async fn create_credential(
    call: &AdminCall<'_>,
    directory: Option<&str>,
) -> Result<Response<Body>, ScimError> {
    let (prefix, scope, mut body) = match directory {
        Some(d) => {
            let dir = call.directory(d).await?;
            (
                "scim_",
                TokenScope::Directory {
                    directory_id: dir.id.clone(),
                    idp: dir.idp.clone(),
                },
                json!({"directoryId": dir.id}),
            )
        }
        None => (
            "sladm_",
            TokenScope::OrgAdmin,
            json!({"orgId": call.org.id}),
        ),
    };
    let (secret, token) = mint_credential(prefix, scope, &call.org.id);
    let operation = format!("POST {}", call.req.uri().path());
    let written = call
        .writer()
        .create(&call.caller(), &operation, Record::Token(token.clone()))
        .await?;
    if let Some(o) = body.as_object_mut() {
        o.insert("id".into(), json!(token.id));
        o.insert("created".into(), json!(token.created));
        if !written.dry_run {
            let name = if directory.is_some() { "token" } else { "key" };
            o.insert(name.into(), Value::String(secret));
            o.insert("note".into(), json!("Shown once: only its hash is stored."));
        }
    }
    Ok(created(written.dry_run, body))
}
