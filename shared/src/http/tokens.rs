//! SCIM tokens verified by this instance, kept for a short time (issue 12).
//!
//! An IdP pushes in bursts (Okta's real-time pushes, Entra's cycle of every user and group),
//! and every request of a burst carries the same bearer token. Reading the token item on
//! each one is a DynamoDB request and a sequential round trip before the request's own
//! reads can start. This cache keeps a **verified** SCIM directory token for
//! [`DEFAULT_TTL`] on the instance that verified it, so a warm instance serves the rest of
//! a burst without that read.
//!
//! What it bounds, and why it is safe enough (docs/DECISIONS.md, "Verified tokens are
//! cached for 30 s"):
//! - A revoked token keeps working for **at most the TTL** on an instance that verified it
//!   shortly before (each instance is one Lambda execution environment). The instance that
//!   serves the revocation forgets it at once ([`TokenCache::forget`]).
//! - Only positive answers are kept: an unknown secret is looked up every time, so a
//!   token created a moment ago works at once and guessing is never cheaper.
//! - Only SCIM directory tokens are kept. Org admin keys and receivers' poll tokens are
//!   read on every request: those calls are rare and an admin revoking a leaked admin key
//!   expects it to stop now.
//! - The key is the SHA-256 of the secret, never the secret; the stored hash is still
//!   compared in constant time by the caller.
//! - At most [`MAX_ENTRIES`] tokens are kept (an instance serves one function of one
//!   deployment; more than a few directories pushing to the same instance at once is rare).
//!   When it is full it starts over, which costs one read per token, never a wrong answer.
//!
//! `SCIMLINK_TOKEN_CACHE_SECONDS` sets the TTL (0 turns the cache off); the bench measures
//! both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::directory::model::{TokenRecord, TokenScope};

/// How long a verified SCIM token is trusted without reading it again: the longest a
/// revocation can take to reach a warm instance.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// The most tokens one instance keeps.
pub const MAX_ENTRIES: usize = 256;
const TTL_VARIABLE: &str = "SCIMLINK_TOKEN_CACHE_SECONDS";

#[derive(Clone, Debug)]
pub struct TokenCache {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<String, (TokenRecord, Instant)>>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::with_ttl(DEFAULT_TTL)
    }
}

impl TokenCache {
    pub fn with_ttl(ttl: Duration) -> Self {
        TokenCache {
            ttl,
            entries: Arc::default(),
        }
    }

    /// `SCIMLINK_TOKEN_CACHE_SECONDS` if it is a whole number of seconds, else the default.
    pub fn from_env() -> Self {
        let ttl = std::env::var(TTL_VARIABLE)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map_or(DEFAULT_TTL, Duration::from_secs);
        TokenCache::with_ttl(ttl)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The token verified under `hash` less than the TTL ago, if any.
    pub fn get(&self, hash: &str) -> Option<TokenRecord> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.lock();
        let (token, verified) = entries.get(hash)?;
        (verified.elapsed() < self.ttl).then(|| token.clone())
    }

    /// Keeps a token that was just read and verified, if it is a SCIM directory token.
    pub fn keep(&self, token: &TokenRecord) {
        if self.ttl.is_zero() || !matches!(token.scope, TokenScope::Directory { .. }) {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(token.hash.clone(), (token.clone(), Instant::now()));
    }

    /// Forgets a token this instance revoked, so it stops working here at once.
    pub fn forget(&self, hash: &str) {
        self.lock().remove(hash);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (TokenRecord, Instant)>> {
        // A panic while holding the lock cannot leave the map half-written (every
        // operation is one insert, remove or clear), so a poisoned lock is still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(hash: &str, scope: TokenScope) -> TokenRecord {
        TokenRecord {
            id: format!("id-{hash}"),
            hash: hash.into(),
            scope,
            org_id: "org".into(),
            created: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    fn directory_token(hash: &str) -> TokenRecord {
        token(
            hash,
            TokenScope::Directory {
                directory_id: "d".into(),
                idp: "okta".into(),
            },
        )
    }

    #[test]
    fn keeps_a_verified_directory_token_until_the_ttl_and_forgets_on_revoke() {
        let cache = TokenCache::with_ttl(Duration::from_secs(30));
        assert!(cache.get("h").is_none());
        cache.keep(&directory_token("h"));
        assert_eq!(cache.get("h").map(|t| t.id), Some("id-h".to_string()));
        cache.forget("h");
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn an_expired_entry_is_not_trusted() {
        let cache = TokenCache::with_ttl(Duration::from_millis(1));
        cache.keep(&directory_token("h"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn admin_keys_and_receiver_tokens_are_never_kept_and_zero_turns_it_off() {
        let cache = TokenCache::with_ttl(Duration::from_secs(30));
        cache.keep(&token("a", TokenScope::OrgAdmin));
        cache.keep(&token(
            "r",
            TokenScope::Receiver {
                subscription_id: "s".into(),
            },
        ));
        assert!(cache.get("a").is_none() && cache.get("r").is_none());
        let off = TokenCache::with_ttl(Duration::ZERO);
        off.keep(&directory_token("h"));
        assert!(off.get("h").is_none());
    }

    #[test]
    fn a_full_cache_starts_over_instead_of_growing() {
        let cache = TokenCache::with_ttl(Duration::from_secs(30));
        for i in 0..MAX_ENTRIES {
            cache.keep(&directory_token(&format!("h{i}")));
        }
        cache.keep(&directory_token("last"));
        assert!(cache.get("h0").is_none());
        assert!(cache.get("last").is_some());
        assert!(cache.lock().len() <= MAX_ENTRIES);
    }
}
