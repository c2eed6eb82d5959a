//! lambda_http glue: configuration, auth, request parsing, SCIM responses.
//! One `handle_*` per deployed function.

pub mod admin;
pub mod bulk;
pub mod console;
pub mod discovery;
pub mod groups;
mod listing;
pub mod local;
mod request;
mod response;
pub mod roles;
pub mod tokens;
pub mod users;

use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use request::{query_params, request_id, Route};
pub use response::{scim_error, scim_json};

use crate::directory::model::{TokenRecord, TokenScope};
use crate::events::set::EventsKey;
use crate::events::target::loopback_allowed;
use crate::scim::error::ScimError;
use crate::store::cursor::CursorKey;
use crate::store::Store;

/// The largest request body accepted: past it, 413 with a detail naming the limit.
/// ServiceProviderConfig states it as `bulk.maxPayloadSize` (`MAX_BULK_PAYLOAD_BYTES`).
pub const MAX_PAYLOAD_BYTES: usize = 1_048_576;
/// The largest page a list answers (`count` above it is lowered to it).
pub const MAX_PAGE_SIZE: usize = 200;

/// What every handler shares: the store and the configuration, built once per cold start.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    /// SHA-256 of the operator key (from `SCIMLINK_OPERATOR_KEY`); `None` disables operator calls.
    pub operator_key_hash: Option<[u8; 32]>,
    /// Signs paging cursors (X4): `SCIMLINK_CURSOR_KEY`, else a random key of this process.
    pub cursor_key: CursorKey,
    /// What subscriptions' signing secrets derive from (`SCIMLINK_EVENTS_KEY`); `None`
    /// when it is not configured, and then no subscription can be created or polled.
    pub events_key: Option<EventsKey>,
    /// The local stack allows push receivers on loopback `http` (X5,
    /// `SCIMLINK_ALLOW_LOOPBACK_PUSH=1`). Read once at start-up, so a request never sees it
    /// change.
    pub allow_loopback_push: bool,
    /// SCIM tokens this instance verified in the last few seconds (`tokens.rs`).
    pub tokens: tokens::TokenCache,
}

impl AppState {
    pub fn new(store: Store, operator_key: Option<&str>) -> Self {
        AppState {
            store,
            operator_key_hash: operator_key.filter(|k| !k.is_empty()).map(sha256),
            cursor_key: CursorKey::process_random(),
            events_key: EventsKey::from_env(),
            allow_loopback_push: loopback_allowed(),
            tokens: tokens::TokenCache::from_env(),
        }
    }

    /// Another verified-token cache (tests: a short TTL, or none).
    pub fn with_token_cache(self, tokens: tokens::TokenCache) -> Self {
        AppState { tokens, ..self }
    }

    /// Another events configuration (tests: a key of their own, local mode or not).
    pub fn with_events(self, key: Option<EventsKey>, allow_loopback_push: bool) -> Self {
        AppState {
            events_key: key,
            allow_loopback_push,
            ..self
        }
    }

    /// Cursors signed with a key derived from `secret` (tests, tools).
    pub fn with_cursor_key(self, secret: &str) -> Self {
        AppState {
            cursor_key: CursorKey::from_secret(secret),
            ..self
        }
    }

    /// From the Lambda environment: `SCIMLINK_TABLE`, `SCIMLINK_OPERATOR_KEY`,
    /// `SCIMLINK_CURSOR_KEY` (see `CursorKey::from_env`), `SCIMLINK_EVENTS_KEY`,
    /// `SCIMLINK_ALLOW_LOOPBACK_PUSH`, and the AWS
    /// SDK's own variables (`AWS_ENDPOINT_URL_DYNAMODB` points it at DynamoDB Local).
    pub async fn from_env() -> Self {
        let sdk = crate::aws::sdk_loader().load().await;
        let table = std::env::var("SCIMLINK_TABLE").unwrap_or_else(|_| "scimlink".into());
        let store = Store::new(&sdk, table);
        let key = std::env::var("SCIMLINK_OPERATOR_KEY").ok();
        AppState {
            cursor_key: CursorKey::from_env(),
            // `SCIMLINK_EVENTS_KEY` (local stack, tests), else the Secrets Manager secret
            // the template grants the admin function (`SCIMLINK_EVENTS_KEY_SECRET_ARN`).
            // Functions given neither have no events key: they never sign.
            events_key: match EventsKey::load(&sdk).await {
                Ok(k) => Some(k),
                Err(e) => {
                    if std::env::var_os("SCIMLINK_EVENTS_KEY_SECRET_ARN").is_some() {
                        tracing::error!(error = %e, "the events key could not be loaded: subscriptions answer 503");
                    }
                    None
                }
            },
            ..AppState::new(store, key.as_deref())
        }
    }
}

pub fn sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The secret of `Authorization: Bearer <secret>`, if any.
pub fn bearer(req: &Request) -> Option<&str> {
    let value = req
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, secret) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| secret.trim())
        .filter(|s| !s.is_empty())
}

/// The directory a SCIM request may act on.
#[derive(Debug, Clone)]
pub struct DirectoryAuth {
    pub org_id: String,
    pub directory_id: String,
    pub idp: String,
}

/// X1/X2: a missing or unknown token, or a credential that is not a SCIM token, answers
/// 401; a valid token of another directory answers 404, exactly as an unknown directory does.
/// A SCIM token this instance verified moments ago is not read again (`tokens.rs`).
pub async fn authenticate_directory(
    state: &AppState,
    req: &Request,
    directory_id: &str,
) -> Result<DirectoryAuth, ScimError> {
    let hash = bearer_hash(req)?;
    let token = match state.tokens.get(&hash) {
        Some(cached) => matching(cached, &hash)?,
        None => {
            let token = stored_token(&state.store, &hash).await?;
            state.tokens.keep(&token);
            token
        }
    };
    match token.scope {
        TokenScope::Directory {
            directory_id: d,
            idp,
        } if d == directory_id => Ok(DirectoryAuth {
            org_id: token.org_id,
            directory_id: d,
            idp,
        }),
        TokenScope::Directory { .. } => Err(unknown_directory()),
        // A valid secret of another kind (an org admin key, a receiver's poll token)
        // answers like a wrong one: a 404 here would tell a caller which secrets are real (X1).
        TokenScope::OrgAdmin | TokenScope::Receiver { .. } => Err(ScimError::unauthorized()),
    }
}

pub use crate::write::unknown_directory;

/// The stored credential of the request's bearer secret (X1), read from the table on every
/// call (admin keys and poll tokens are never cached). No secret, or an unknown one, is 401.
/// Which kind of credential it is, the caller checks.
pub async fn verified_token(store: &Store, req: &Request) -> Result<TokenRecord, ScimError> {
    stored_token(store, &bearer_hash(req)?).await
}

/// The SHA-256 (hex) of the request's bearer secret; the secret itself goes no further.
fn bearer_hash(req: &Request) -> Result<String, ScimError> {
    let secret = bearer(req).ok_or_else(ScimError::unauthorized)?;
    Ok(hex(&sha256(secret)))
}

/// The credential stored under `hash`: looked up by the SHA-256 of the secret, then the
/// stored hash compared in constant time, so the check itself leaks no timing.
async fn stored_token(store: &Store, hash: &str) -> Result<TokenRecord, ScimError> {
    let token = store
        .get_token(hash)
        .await?
        .ok_or_else(ScimError::unauthorized)?;
    matching(token, hash)
}

fn matching(token: TokenRecord, hash: &str) -> Result<TokenRecord, ScimError> {
    if !bool::from(token.hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(ScimError::unauthorized());
    }
    Ok(token)
}

/// Turns a handler's result into the response, logging one line an admin can read.
pub fn finish(result: Result<Response<Body>, ScimError>) -> Response<Body> {
    match result {
        Ok(r) => r,
        Err(e) => scim_error(&e),
    }
}
pub mod scim;
