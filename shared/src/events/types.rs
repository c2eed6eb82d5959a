//! The event types: RFC 9967's provisioning events for SCIM resources, and scimlink's own
//! account-side events under `urn:scimlink:event:`. A `ChangeRecord` carries the short
//! name; a SET carries the URI.

/// RFC 9967 event URIs start with this, then the short name (`prov:create:full`, ...).
pub const SCIM_EVENT_PREFIX: &str = "urn:ietf:params:SCIM:event:";
/// scimlink's own event URIs start with this, then the short name (`account:linked`, ...).
pub const SCIMLINK_EVENT_PREFIX: &str = "urn:scimlink:event:";

/// Every short name a change can have, with what it means. Subscriptions choose among them.
pub const EVENT_TYPES: &[(&str, &str)] = &[
    (
        "prov:create",
        "a SCIM user or group was created (the full resource)",
    ),
    (
        "prov:put",
        "a SCIM resource was replaced (changed attributes and previous values)",
    ),
    (
        "prov:patch",
        "a SCIM resource was modified (changed attributes and previous values)",
    ),
    ("prov:delete", "a SCIM resource was deleted"),
    ("prov:activate", "a SCIM user became active"),
    ("prov:deactivate", "a SCIM user became inactive"),
    (
        "account:created",
        "an account was created (by SCIM, an invite, JIT or an admin)",
    ),
    (
        "account:linked",
        "an account was linked to a SCIM user (L1)",
    ),
    (
        "account:taken-over",
        "an invited or JIT account was taken over by a directory (L2)",
    ),
    (
        "account:moved",
        "an account's link moved to another SCIM user (L5)",
    ),
    (
        "account:unlinked",
        "an account was unlinked from its SCIM user",
    ),
    ("account:suspended", "an account was suspended"),
    (
        "account:restored",
        "a suspended account became active again",
    ),
    (
        "account:handed-back",
        "a directory handed an account back to the org's admins",
    ),
    (
        "account:held",
        "the safeguard held an account's deprovisioning for an admin (E4)",
    ),
    (
        "account:hold-ended",
        "an account's hold ended: approved, released, or taken back by the IdP (E4)",
    ),
    (
        "safeguard:tripped",
        "a directory's mass-deprovisioning safeguard tripped (E4)",
    ),
    (
        "account:updated",
        "an account's profile changed (previous values)",
    ),
    (
        "org-group:members-changed",
        "accounts joined or left an org group",
    ),
    (
        "access:granted",
        "an account gained a product role (with its cause)",
    ),
    (
        "access:revoked",
        "an account lost a product role (with its cause)",
    ),
    (
        "conflict:held",
        "an IdP group was held in conflict with an admin-managed org group (G2)",
    ),
    (
        "conflict:synced",
        "a held group was synced: the org group takes the IdP's members (G3)",
    ),
    (
        "conflict:rejected",
        "an admin rejected the sync of a held group",
    ),
    (
        "conflict:resolved",
        "a held group stopped being held (renamed or deleted by the IdP)",
    ),
];

/// The URI of a short name: RFC 9967's `:full` variants for `prov:create|put|patch`, the
/// plain RFC 9967 URI for the other `prov:` events, and scimlink's namespace otherwise.
pub fn event_uri(short: &str) -> String {
    match short {
        "prov:create" | "prov:put" | "prov:patch" => format!("{SCIM_EVENT_PREFIX}{short}:full"),
        s if s.starts_with("prov:") => format!("{SCIM_EVENT_PREFIX}{s}"),
        s => format!("{SCIMLINK_EVENT_PREFIX}{s}"),
    }
}

/// Whether `short` is a known event type.
pub fn is_event_type(short: &str) -> bool {
    EVENT_TYPES.iter().any(|(t, _)| *t == short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_follow_rfc_9967_and_our_namespace() {
        assert_eq!(
            event_uri("prov:create"),
            "urn:ietf:params:SCIM:event:prov:create:full"
        );
        assert_eq!(
            event_uri("prov:delete"),
            "urn:ietf:params:SCIM:event:prov:delete"
        );
        assert_eq!(
            event_uri("access:granted"),
            "urn:scimlink:event:access:granted"
        );
        assert!(is_event_type("account:linked"));
        assert!(!is_event_type("account:nope"));
    }
}
