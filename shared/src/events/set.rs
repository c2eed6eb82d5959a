//! Security Event Tokens (RFC 8417) in RFC 9967's SCIM profile: one signed JWT per event,
//! `typ: secevent+jwt`, HS256 with the subscription's signing secret.
//!
//! The signing secret is never stored: it is derived from the service's events key (a
//! deployment secret, `SCIMLINK_EVENTS_KEY`; in AWS kept in Secrets Manager), the org, the
//! subscription and its key generation. Rotating it bumps the generation.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::{json, Map, Value};

use super::subscription::SubscriptionRecord;
use super::types::event_uri;
use crate::directory::model::ChangeRecord;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The environment variable holding the events key (at least 32 bytes).
pub const EVENTS_KEY_ENV: &str = "SCIMLINK_EVENTS_KEY";
/// The `iss` of every SET unless `SCIMLINK_EVENTS_ISSUER` says otherwise.
pub const DEFAULT_ISSUER: &str = "urn:scimlink";

/// The service's events key: what every subscription's signing secret is derived from.
#[derive(Clone, PartialEq, Eq)]
pub struct EventsKey([u8; 32]);

impl std::fmt::Debug for EventsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventsKey(..)")
    }
}

impl EventsKey {
    pub fn from_secret(secret: &str) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"scimlink events key\0");
        h.update(secret.as_bytes());
        EventsKey(h.finalize().into())
    }

    /// `SCIMLINK_EVENTS_KEY`, or `None` when it is missing or shorter than 32 bytes (then
    /// no subscription can be created or signed for: a random key would break every
    /// receiver at the next cold start).
    pub fn from_env() -> Option<Self> {
        std::env::var(EVENTS_KEY_ENV)
            .ok()
            .filter(|s| s.trim().len() >= 32)
            .map(|s| Self::from_secret(s.trim()))
    }

    fn mac(key: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length: this never fails.
        <HmacSha256 as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()))
    }

    /// The signing secret of a subscription at its key generation, base64url: what the
    /// admin sees once at creation (and at rotation) and the receiver verifies with.
    pub fn signing_secret(&self, sub: &SubscriptionRecord) -> String {
        let mut mac = Self::mac(&self.0);
        mac.update(b"scimlink-set-v1\0");
        mac.update(sub.org_id.as_bytes());
        mac.update(b"\0");
        mac.update(sub.id.as_bytes());
        mac.update(b"\0");
        mac.update(sub.key_generation.to_string().as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// The issuer: `SCIMLINK_EVENTS_ISSUER` or [`DEFAULT_ISSUER`].
pub fn issuer() -> String {
    std::env::var("SCIMLINK_EVENTS_ISSUER")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ISSUER.to_string())
}

/// The audience of a subscription's SETs.
pub fn audience(sub: &SubscriptionRecord) -> String {
    format!("urn:scimlink:subscription:{}", sub.id)
}

/// The claims of one event's SET (RFC 8417 §2.2, RFC 9967 §2):
/// `iss`, `iat`, `jti`, `aud`, `txn` (the request that caused it), `sub_id` (the resource),
/// `events` (one, by URI, with its data), and `scimlink` (org, directory, delivery order).
pub fn claims(change: &ChangeRecord, issuer: &str, audience: &str) -> Value {
    let iat =
        time::OffsetDateTime::parse(&change.time, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp())
            .unwrap_or_default();
    let s = &change.subject;
    let sub_id = match s.resource_type.as_str() {
        "User" | "Group" => {
            let mut m = Map::new();
            m.insert("format".into(), json!("scim"));
            m.insert(
                "uri".into(),
                json!(format!("/{}s/{}", s.resource_type, s.id)),
            );
            if let Some(e) = &s.external_id {
                m.insert("externalId".into(), json!(e));
            }
            Value::Object(m)
        }
        _ => json!({ "format": "opaque", "id": format!("{}/{}", s.resource_type, s.id) }),
    };
    let mut scimlink = Map::new();
    scimlink.insert("org".into(), json!(change.org_id));
    if let Some(d) = &change.directory_id {
        scimlink.insert("directory".into(), json!(d));
    }
    scimlink.insert("order".into(), json!(change.order_key()));
    scimlink.insert(
        "subject".into(),
        serde_json::to_value(s).unwrap_or(Value::Null),
    );
    let mut set = Map::new();
    set.insert("iss".into(), json!(issuer));
    set.insert("iat".into(), json!(iat));
    set.insert("jti".into(), json!(change.id));
    set.insert("aud".into(), json!(audience));
    if let Some(r) = &change.request_id {
        set.insert("txn".into(), json!(r));
    }
    set.insert("sub_id".into(), sub_id);
    set.insert(
        "events".into(),
        json!({ event_uri(&change.event): change.data.clone() }),
    );
    set.insert("scimlink".into(), Value::Object(scimlink));
    Value::Object(set)
}

/// A compact JWS (HS256, `typ: secevent+jwt`) of `claims` under `secret`.
pub fn sign(claims: &Value, secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"secevent+jwt"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let mut mac = EventsKey::mac(secret.as_bytes());
    mac.update(input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{input}.{sig}")
}

/// The SET of `change` for `sub`, signed.
pub fn signed_set(key: &EventsKey, sub: &SubscriptionRecord, change: &ChangeRecord) -> String {
    sign(
        &claims(change, &issuer(), &audience(sub)),
        &key.signing_secret(sub),
    )
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("not an HS256 secevent+jwt")]
    WrongHeader,
    #[error("bad signature")]
    BadSignature,
}

/// Verifies a SET as a receiver would (constant-time) and returns its claims.
pub fn verify(token: &str, secret: &str) -> Result<Value, VerifyError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed);
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(VerifyError::Malformed)?;
    if header["alg"] != "HS256" || header["typ"] != "secevent+jwt" {
        return Err(VerifyError::WrongHeader);
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| VerifyError::Malformed)?;
    let mut mac = EventsKey::mac(secret.as_bytes());
    mac.update(format!("{h}.{p}").as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| VerifyError::BadSignature)?;
    URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(VerifyError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::ChangeSubject;
    use crate::events::subscription::{DeliveryMethod, SubscriptionStatus};

    fn sub(generation: u32) -> SubscriptionRecord {
        SubscriptionRecord {
            org_id: "o1".into(),
            id: "s1".into(),
            name: String::new(),
            delivery: DeliveryMethod::Poll,
            events: vec![],
            status: SubscriptionStatus::Active,
            key_generation: generation,
            version: 1,
            created: "2026-11-29T10:00:00.000Z".into(),
            last_modified: "2026-11-29T10:00:00.000Z".into(),
        }
    }

    fn change() -> ChangeRecord {
        ChangeRecord {
            org_id: "o1".into(),
            directory_id: Some("d1".into()),
            time: "2026-11-29T10:00:00.123Z".into(),
            txn: "t1".into(),
            seq: 0,
            id: "j1".into(),
            request_id: Some("r1".into()),
            event: "prov:create".into(),
            subject: ChangeSubject {
                resource_type: "User".into(),
                id: "u1".into(),
                directory_id: Some("d1".into()),
                external_id: Some("x1".into()),
                email: None,
                version: Some(1),
            },
            data: json!({"data": {"userName": "a@b.c"}}),
        }
    }

    #[test]
    fn a_set_verifies_with_its_secret_and_not_with_another() {
        let key = EventsKey::from_secret("k".repeat(32).as_str());
        let token = signed_set(&key, &sub(0), &change());
        let claims = verify(&token, &key.signing_secret(&sub(0))).unwrap();
        assert_eq!(claims["jti"], "j1");
        assert_eq!(claims["txn"], "r1");
        assert_eq!(claims["iat"], 1_795_946_400);
        assert_eq!(claims["sub_id"]["uri"], "/Users/u1");
        assert_eq!(
            claims["events"]["urn:ietf:params:SCIM:event:prov:create:full"]["data"]["userName"],
            "a@b.c"
        );
        assert_eq!(claims["scimlink"]["org"], "o1");
        // A rotated secret no longer verifies the old token.
        assert_eq!(
            verify(&token, &key.signing_secret(&sub(1))),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(verify("a.b", "x"), Err(VerifyError::Malformed));
    }
}
