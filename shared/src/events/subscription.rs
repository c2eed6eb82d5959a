//! A subscription: where an org's events go (a push URL, or a poll queue), which types it
//! wants, and how delivery is going.

use serde::{Deserialize, Serialize};

/// One receiver of an org's events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRecord {
    pub org_id: String,
    pub id: String,
    /// A label for admins.
    #[serde(default)]
    pub name: String,
    pub delivery: DeliveryMethod,
    /// The short names (`events::types`) it wants; empty means every type.
    #[serde(default)]
    pub events: Vec<String>,
    pub status: SubscriptionStatus,
    /// Bumped when the signing secret is rotated; the secret is derived from the service's
    /// events key, the org, the id and this generation (`events::set::signing_secret`), so
    /// no secret is ever stored.
    #[serde(default)]
    pub key_generation: u32,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
}

/// How events reach the receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "camelCase")]
pub enum DeliveryMethod {
    /// RFC 8935: the `events` function POSTs each SET to `url`.
    Push { url: String },
    /// RFC 8936: the receiver polls the subscription's queue.
    Poll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionStatus {
    /// Events are queued and delivered.
    Active,
    /// Events are queued, not pushed, until an admin resumes it.
    Paused,
    /// Push failed for longer than the disable window: events are still queued (readable
    /// by poll and by redelivery), not pushed, until an admin resumes it.
    Disabled,
}

impl SubscriptionRecord {
    /// Whether this subscription wants events of type `short`.
    pub fn wants(&self, short: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == short)
    }
}

/// How delivery to a subscription is going: its own item (`keys::subscription_state`),
/// written only by the `events` function, so that admin changes to the subscription and
/// delivery never race on one item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// What the receiver answered last time it failed (status or error kind; never a body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Since when every attempt has failed; `None` once one succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    #[serde(default)]
    pub consecutive_failures: u32,
    /// SETs the receiver accepted, in total.
    #[serde(default)]
    pub delivered: u64,
    /// Failures reported to the dead-letter queue, in total.
    #[serde(default)]
    pub dead_lettered: u64,
}
