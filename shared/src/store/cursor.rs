//! Paging cursors (X4): opaque, tamper-evident and bound to their tenant and listing.
//!
//! A cursor is `v1.<payload>.<mac>`, both parts URL-safe base64 without padding (safe in a
//! query string as is):
//! - `payload` is JSON `{"t": <tenant>, "l": <listing>, "p": <position>}`: the org or
//!   directory the cursor belongs to, the listing it continues (a GSI partition, `events`,
//!   `accounts`, ...), and where the next page starts (a DynamoDB `LastEvaluatedKey` of
//!   string attributes, an offset, ...);
//! - `mac` is HMAC-SHA256, under the deployment's cursor key (`SCIMLINK_CURSOR_KEY`), of
//!   `scimlink-cursor-v1.` followed by the payload text exactly as sent.
//!
//! [`CursorScope::open`] checks the length, the MAC (in constant time) and then that the
//! tenant and listing are the ones of the request. Anything else (garbage, a truncated or
//! modified cursor, a cursor of another tenant, another listing or another deployment) is
//! refused, so a cursor never reaches DynamoDB unless this deployment issued it for exactly
//! this listing.

use std::collections::HashMap;
use std::sync::OnceLock;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::{json, Map, Value};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The longest cursor accepted, in bytes; cursors this server hands out are far shorter
/// (a listing key of the longest userName is under 1.5 KB once encoded).
pub use crate::scim::limits::MAX_CURSOR_BYTES;
/// The environment variable holding the cursor key (at least `MIN_CURSOR_SECRET_BYTES`).
pub const CURSOR_KEY_ENV: &str = "SCIMLINK_CURSOR_KEY";
/// A shorter `SCIMLINK_CURSOR_KEY` is not used (see [`CursorKey::from_env`]).
pub const MIN_CURSOR_SECRET_BYTES: usize = 32;

const VERSION: &str = "v1";
const MAC_CONTEXT: &[u8] = b"scimlink-cursor-v1.";

/// The key cursors are signed with: 32 bytes derived from the configured secret.
#[derive(Clone, PartialEq, Eq)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    /// The key of a secret (any length; the deployment's is at least 32 bytes).
    pub fn from_secret(secret: &str) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"scimlink cursor key\0");
        h.update(secret.as_bytes());
        CursorKey(h.finalize().into())
    }

    /// A random key for this process, the same for every caller in it: cursors work within
    /// one instance and are refused by any other (fail closed).
    pub fn process_random() -> Self {
        static KEY: OnceLock<CursorKey> = OnceLock::new();
        KEY.get_or_init(|| {
            let mut bytes = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
            CursorKey(bytes)
        })
        .clone()
    }

    /// `SCIMLINK_CURSOR_KEY`, read once per cold start. Missing or shorter than
    /// `MIN_CURSOR_SECRET_BYTES`: a random per-process key and a warning in the log, so
    /// paging still works within one instance and no cursor can be forged; a cursor handed
    /// out by another instance is then refused (`invalidCursor`), and the client starts over.
    pub fn from_env() -> Self {
        match std::env::var(CURSOR_KEY_ENV) {
            Ok(s) if s.trim().len() >= MIN_CURSOR_SECRET_BYTES => Self::from_secret(s.trim()),
            Ok(s) if !s.trim().is_empty() => {
                tracing::warn!(
                    "{CURSOR_KEY_ENV} is shorter than {MIN_CURSOR_SECRET_BYTES} bytes and is not used; cursors are signed with a random key of this instance and work only within it"
                );
                Self::process_random()
            }
            _ => {
                tracing::warn!(
                    "{CURSOR_KEY_ENV} is not set; cursors are signed with a random key of this instance and work only within it"
                );
                Self::process_random()
            }
        }
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        // HMAC takes a key of any length: this never fails.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
        mac.update(MAC_CONTEXT);
        mac.update(payload.as_bytes());
        mac
    }
}

/// Why a cursor was refused (for logs; every kind answers the same to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorError {
    TooLong,
    Malformed,
    BadMac,
    OtherTenant,
    OtherListing,
}

/// Where cursors of one listing of one tenant are valid.
#[derive(Clone, PartialEq, Eq)]
pub struct CursorScope {
    key: CursorKey,
    tenant: String,
    listing: String,
}

impl std::fmt::Debug for CursorScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CursorScope")
            .field("tenant", &self.tenant)
            .field("listing", &self.listing)
            .finish_non_exhaustive()
    }
}

impl CursorScope {
    /// `tenant`: the org or directory id; `listing`: what the cursor pages through.
    pub fn new(key: &CursorKey, tenant: &str, listing: &str) -> Self {
        CursorScope {
            key: key.clone(),
            tenant: tenant.to_string(),
            listing: listing.to_string(),
        }
    }

    pub fn listing(&self) -> &str {
        &self.listing
    }

    /// A cursor continuing at `position`.
    pub fn seal(&self, position: &Value) -> String {
        let payload = json!({"t": self.tenant, "l": self.listing, "p": position});
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap_or_default());
        let tag = self.key.mac(&payload).finalize().into_bytes();
        format!("{VERSION}.{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The position of a cursor this scope sealed.
    pub fn open(&self, cursor: &str) -> Result<Value, CursorError> {
        let cursor = cursor.trim();
        if cursor.len() > MAX_CURSOR_BYTES {
            return Err(CursorError::TooLong);
        }
        let mut parts = cursor.split('.');
        let (Some(VERSION), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CursorError::Malformed);
        };
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| CursorError::Malformed)?;
        self.key
            .mac(payload)
            .verify_slice(&tag)
            .map_err(|_| CursorError::BadMac)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| CursorError::Malformed)?;
        let mut v: Map<String, Value> =
            serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
        if v.get("t").and_then(Value::as_str) != Some(self.tenant.as_str()) {
            return Err(CursorError::OtherTenant);
        }
        if v.get("l").and_then(Value::as_str) != Some(self.listing.as_str()) {
            return Err(CursorError::OtherListing);
        }
        Ok(v.remove("p").unwrap_or(Value::Null))
    }

    /// A cursor continuing after a page key.
    pub fn seal_key(&self, key: &PageKey) -> String {
        self.seal(&key.to_json())
    }

    /// The page key of a cursor sealed with [`CursorScope::seal_key`].
    pub fn open_key(&self, cursor: &str) -> Result<PageKey, CursorError> {
        PageKey::from_json(&self.open(cursor)?).ok_or(CursorError::Malformed)
    }

    /// A cursor continuing a listing at `position` (an empty cursor is the first page).
    pub fn seal_position(&self, position: &ListPosition) -> String {
        match position {
            ListPosition::First => String::new(),
            ListPosition::After(key) => self.seal(&json!({ "k": key.to_json() })),
            ListPosition::Offset(n) => self.seal(&json!({ "o": n })),
        }
    }

    /// Where a cursor of this listing continues: an empty one is the first page; a key must
    /// be of this listing's index partition.
    pub fn open_position(&self, cursor: &str) -> Result<ListPosition, CursorError> {
        let cursor = cursor.trim();
        if cursor.is_empty() {
            return Ok(ListPosition::First);
        }
        let position = self.open(cursor)?;
        if let Some(n) = position.get("o").and_then(Value::as_u64) {
            return usize::try_from(n)
                .map(ListPosition::Offset)
                .map_err(|_| CursorError::Malformed);
        }
        let key = position
            .get("k")
            .and_then(PageKey::from_json)
            .ok_or(CursorError::Malformed)?;
        match key.0.get("gsi1pk").and_then(|v| v.as_s().ok()) {
            Some(p) if p == self.listing() => Ok(ListPosition::After(key)),
            _ => Err(CursorError::OtherListing),
        }
    }
}

/// Where the next page of a query starts: a DynamoDB `LastEvaluatedKey`, opaque outside
/// the store.
#[derive(Debug, Clone, PartialEq)]
pub struct PageKey(pub(crate) HashMap<String, AttributeValue>);

impl PageKey {
    pub(crate) fn into_key(self) -> HashMap<String, AttributeValue> {
        self.0
    }

    /// The key of a listed item in the listing index: where a page after it starts.
    pub(crate) fn index_key_of(item: &HashMap<String, AttributeValue>) -> PageKey {
        PageKey(
            ["pk", "sk", "gsi1pk", "gsi1sk"]
                .iter()
                .filter_map(|k| item.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect(),
        )
    }

    /// The key as a JSON object (string attributes only, as every key of the table is).
    pub fn to_json(&self) -> Value {
        key_json(&self.0)
    }

    pub fn from_json(v: &Value) -> Option<PageKey> {
        key_from_json(v).map(PageKey)
    }
}

/// Where a cursor page of a listing starts (RFC 9865): the first page, after a key of the
/// listing index, or at an offset of a result computed whole (indexed filters).
#[derive(Debug, Clone, PartialEq)]
pub enum ListPosition {
    First,
    After(PageKey),
    Offset(usize),
}

/// A DynamoDB key (string attributes only) as a JSON object.
fn key_json(key: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        key.iter()
            .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.clone(), Value::String(s.clone()))))
            .collect(),
    )
}

/// A JSON object of strings as a DynamoDB key.
fn key_from_json(v: &Value) -> Option<HashMap<String, AttributeValue>> {
    v.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), AttributeValue::S(v.as_str()?.to_string()))))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scope(tenant: &str, listing: &str) -> CursorScope {
        CursorScope::new(
            &CursorKey::from_secret("k".repeat(32).as_str()),
            tenant,
            listing,
        )
    }

    #[test]
    fn x4_round_trip_of_a_key_and_a_value() {
        let s = scope("d1", "DIR#d1#USERS");
        let key = PageKey(HashMap::from([(
            "pk".to_string(),
            AttributeValue::S("ORG#1".into()),
        )]));
        let c = s.seal_key(&key);
        assert!(c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)));
        assert_eq!(s.open_key(&c).unwrap(), key);
        let c = s.seal(&json!({"o": 40}));
        assert_eq!(s.open(&c).unwrap(), json!({"o": 40}));
    }

    #[test]
    fn x4_cursors_are_bound_to_tenant_listing_and_key() {
        let c = scope("d1", "users").seal(&json!(1));
        assert_eq!(scope("d2", "users").open(&c), Err(CursorError::OtherTenant));
        assert_eq!(
            scope("d1", "groups").open(&c),
            Err(CursorError::OtherListing)
        );
        let other_key = CursorScope::new(&CursorKey::from_secret("other"), "d1", "users");
        assert_eq!(other_key.open(&c), Err(CursorError::BadMac));
    }

    #[test]
    fn x4_forged_truncated_and_modified_cursors_are_refused() {
        let s = scope("d1", "users");
        let c = s.seal(&json!({"o": 2}));
        for i in 0..c.len() {
            assert!(s.open(&c[..i]).is_err(), "truncated at {i}");
        }
        for i in 0..c.len() {
            let mut b = c.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            if let Ok(m) = String::from_utf8(b) {
                if m != c {
                    assert!(s.open(&m).is_err(), "modified at {i}: {m}");
                }
            }
        }
        // The old unsigned format, with the right tenant inside, is refused.
        let unsigned = URL_SAFE_NO_PAD.encode(br#"{"t":"d1","l":"users","p":{"o":2}}"#);
        assert!(s.open(&unsigned).is_err());
        assert!(s.open(&format!("v1.{unsigned}.")).is_err());
        assert!(s
            .open(&format!("v1.{unsigned}.{}", "A".repeat(43)))
            .is_err());
        assert_eq!(
            s.open(&"a".repeat(MAX_CURSOR_BYTES + 1)),
            Err(CursorError::TooLong)
        );
        for garbage in [
            "",
            ".",
            "..",
            "v1..",
            "v1.%%%.%%%",
            "zzz",
            "v2.a.b",
            "v1.a.b.c",
        ] {
            assert!(s.open(garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn x4_process_random_key_is_stable_within_the_process() {
        assert_eq!(CursorKey::process_random(), CursorKey::process_random());
        assert_ne!(CursorKey::process_random(), CursorKey::from_secret(""));
        assert_eq!(
            format!("{:?}", CursorKey::from_secret("s")),
            "CursorKey(..)"
        );
    }
}
