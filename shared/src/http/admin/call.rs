//! The context of one admin call: who is calling (operator or an org's admin key), the org,
//! the query parameters, typed request bodies, and the write service it writes with.

use std::collections::HashMap;

use base64::Engine;
use lambda_http::{Body, Request, Response};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::directory::model::{DirectoryRecord, OrgRecord, TokenRecord, TokenScope};
use crate::events::set::EventsKey;
use crate::http::request::body_bytes;
use crate::http::response::json_response;
use crate::http::tokens::TokenCache;
use crate::http::{bearer, hex, sha256, verified_token, AppState};
use crate::scim::error::ScimError;
use crate::store::cursor::CursorKey;
use crate::store::Store;
use crate::write::{Caller, Writer};

const JSON: &str = "application/json";

/// A JSON answer of the admin API.
pub fn ok_json(status: u16, body: Value) -> Response<Body> {
    json_response(status, JSON, &body, &[])
}

/// Who is calling: the operator (configuration), or an admin key of one org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Operator,
    OrgAdmin { key_id: String },
}

/// The operator key check: hashes compared in constant time; no key configured, no access.
pub fn require_operator(state: &AppState, req: &Request) -> Result<(), ScimError> {
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

/// X1/X2 for the admin API: the operator key or an admin key of `org_id`. A valid key of
/// another org answers 404, as an unknown org does; a SCIM token answers 401.
pub async fn authorize_org(
    state: &AppState,
    req: &Request,
    org_id: &str,
) -> Result<Actor, ScimError> {
    if require_operator(state, req).is_ok() {
        return Ok(Actor::Operator);
    }
    let token = verified_token(&state.store, req).await?;
    match token.scope {
        TokenScope::OrgAdmin if token.org_id == org_id => Ok(Actor::OrgAdmin { key_id: token.id }),
        TokenScope::OrgAdmin => Err(ScimError::not_found(format!(
            "organization {org_id} not found"
        ))),
        // A SCIM token or a receiver's poll token is not an admin credential: 401 like a
        // wrong one, no oracle (X1). (The poll route authenticates receivers itself.)
        TokenScope::Directory { .. } | TokenScope::Receiver { .. } => {
            Err(ScimError::unauthorized())
        }
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

/// A new credential of `scope`: its secret (shown once, never stored) and the record kept
/// for it, which holds only the secret's SHA-256 (X1). Every kind of token is minted here:
/// SCIM tokens, admin keys, receivers' poll tokens.
pub fn mint_credential(prefix: &str, scope: TokenScope, org_id: &str) -> (String, TokenRecord) {
    let secret = new_secret(prefix);
    let token = TokenRecord {
        id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
        hash: hex(&sha256(&secret)),
        scope,
        org_id: org_id.to_string(),
        created: crate::clock::now(),
    };
    (secret, token)
}

/// `?dryRun=true` (E3).
pub fn dry_run(params: &HashMap<String, String>) -> bool {
    params
        .get("dryrun")
        .map(|v| v.eq_ignore_ascii_case("true"))
        .unwrap_or(false)
}

/// A request body of type `T`. A body that is not JSON is `invalidSyntax`; a field of the
/// wrong type or a missing one is `invalidValue` naming the field.
pub fn typed_body<T: DeserializeOwned>(req: &Request) -> Result<T, ScimError> {
    let bytes = body_bytes(req);
    let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { bytes };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ScimError::invalid_syntax(format!("the body is not valid JSON: {inner}"))
        } else if path == "." {
            ScimError::invalid_value(format!("the body is not what this call takes: {inner}"))
        } else {
            ScimError::invalid_value(format!("'{path}': {inner}"))
        }
    })
}

/// A required text field: trimmed, not empty.
pub fn required(name: &str, value: &str) -> Result<String, ScimError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ScimError::invalid_value(format!(
            "'{name}' is required and must be a non-empty string"
        )));
    }
    Ok(v.to_string())
}

/// One authorized admin request of an org.
pub struct AdminCall<'a> {
    pub store: &'a Store,
    pub req: &'a Request,
    pub org: OrgRecord,
    pub actor: Actor,
    pub rid: String,
    pub params: HashMap<String, String>,
    /// Signs this deployment's paging cursors (X4).
    pub cursor_key: &'a CursorKey,
    /// What subscriptions' signing secrets derive from; `None` when not configured.
    pub events_key: Option<&'a EventsKey>,
    /// Whether push receivers on loopback `http` are allowed (the local stack, X5).
    pub allow_loopback_push: bool,
    /// The SCIM tokens this instance trusts for a few seconds: a revocation here forgets
    /// them at once.
    pub tokens: &'a TokenCache,
}

impl AdminCall<'_> {
    pub fn dry_run(&self) -> bool {
        dry_run(&self.params)
    }

    /// Who writes, for the write service: the org, no directory, `admin:...`.
    pub fn caller(&self) -> Caller {
        Caller {
            org_id: self.org.id.clone(),
            directory_id: String::new(),
            idp: match &self.actor {
                Actor::Operator => "admin:operator".into(),
                Actor::OrgAdmin { key_id } => format!("admin:key:{key_id}"),
            },
            request_id: self.rid.clone(),
        }
    }

    /// The write service of this call (a dry run when `?dryRun=true`).
    pub fn writer(&self) -> Writer<'_> {
        Writer::new(self.store, self.dry_run())
    }

    pub fn body<T: DeserializeOwned>(&self) -> Result<T, ScimError> {
        typed_body(self.req)
    }

    /// The caller acting on a SCIM user of one of the org's directories.
    pub async fn directory_caller(&self, directory_id: &str) -> Result<Caller, ScimError> {
        self.directory(directory_id).await?;
        Ok(self.caller().in_directory(directory_id))
    }

    /// A directory of this org (404 for another org's, as for an unknown one).
    pub async fn directory(&self, directory_id: &str) -> Result<DirectoryRecord, ScimError> {
        self.store
            .get_directory(directory_id)
            .await?
            .filter(|d| d.org_id == self.org.id)
            .ok_or_else(|| ScimError::not_found(format!("directory {directory_id} not found")))
    }
}
