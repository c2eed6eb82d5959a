//! X4: every value that can reach a storage key or an index has a documented maximum, and
//! a longer one is a `400` naming the attribute and the limit, before anything is read or
//! written. The table is in infra/README.md ("Limits (X4)"); this module is its source.
//!
//! Limits count **bytes of UTF-8**, as DynamoDB does (2048 bytes for a partition key, 1024
//! for a sort key, 400 KB for an item): an ASCII character is one byte, `é` two, `中`
//! three, an emoji four. They are chosen so that the longest value, lowercased (which can
//! grow a string by half), still fits every key it is part of with room to spare: the
//! listing sort key `<lower userName>#<id>` is at most 384 + 1 + 64 bytes.
//!
//! Ids in a path (`/Users/{id}`, `/admin/v1/orgs/{orgId}/...`) that are longer than any id
//! can be name nothing: they answer `404` like any unknown id (the detail says why), and
//! never reach DynamoDB. A filter value longer than any stored value can be matches
//! nothing and is not looked up.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::error::ScimError;
use super::lookup::IndexLookup;
use super::schema::ResourceType;

// --- SCIM resources -------------------------------------------------------------------

/// `id` of a user or group (server-made UUIDs are 36), a member `value`, and any id in a
/// path: org, directory, account, org group, credential, product, site.
pub const MAX_ID_BYTES: usize = 64;
/// A user's `userName`: its uniqueness guard key and the listing's sort key.
pub const MAX_USER_NAME_BYTES: usize = 256;
/// `externalId` of a user (its uniqueness guard key) or a group.
pub const MAX_EXTERNAL_ID_BYTES: usize = 256;
/// Each `emails[].value` (RFC 5321 §4.5.3.1: 254 octets in a path): the email index key,
/// the account's email guard and the accounts listing's sort key.
pub const MAX_EMAIL_BYTES: usize = 254;
/// Values of `emails` per user: each is an index item written in the user's transaction.
pub const MAX_EMAILS: usize = 20;
/// A group's `displayName` (its name guard, the listing's sort key, the org group's name),
/// and names of org groups, JIT groups, orgs, directories, sites and products.
pub const MAX_NAME_BYTES: usize = 256;
/// Any other string in a SCIM resource (user `displayName`, `title`, addresses, ...).
pub const MAX_STRING_BYTES: usize = 16_384;
/// A stored resource document as JSON (a group's `members` are items of their own and do
/// not count): far below DynamoDB's 400 KB item limit, whatever else the item holds.
pub const MAX_RESOURCE_BYTES: usize = 65_536;

// --- Query parameters -----------------------------------------------------------------

/// `filter` (S2), in bytes; nesting is limited to `MAX_FILTER_DEPTH` levels.
pub use super::filter::{MAX_FILTER_DEPTH, MAX_FILTER_LEN as MAX_FILTER_BYTES};
/// `cursor` (RFC 9865 and the admin API); the cursors handed out are far shorter.
pub const MAX_CURSOR_BYTES: usize = 4_096;
/// `attributes` and `excludedAttributes`.
pub const MAX_ATTRIBUTE_LIST_BYTES: usize = 4_096;
/// `limit` and `offset` of the admin API.
pub const MAX_ADMIN_NUMBER: u64 = 1_000_000_000;

// --- Admin API ------------------------------------------------------------------------

/// A verified domain (RFC 1035 §2.3.4), and each of its labels.
pub const MAX_DOMAIN_BYTES: usize = 253;
pub const MAX_DOMAIN_LABEL_BYTES: usize = 63;
/// A role `<product>/<role>`: two ids.
pub const MAX_ROLE_BYTES: usize = 2 * MAX_ID_BYTES + 1;
/// Profile fields of invites and JIT sign-ins (`displayName`, `givenName`, ...).
pub const MAX_PROFILE_BYTES: usize = 256;
/// Verified domains, sites and products of an org; roles of a product or an org group.
pub const MAX_VERIFIED_DOMAINS: usize = 100;
pub const MAX_SITES: usize = 100;
pub const MAX_PRODUCTS: usize = 100;
pub const MAX_ROLES: usize = 100;
/// G8: roles an IdP assigns one user directly (`roles`), each a `<product>/<role>`
/// (`MAX_ROLE_BYTES`): the account keeps them, so they count toward its item's size.
pub const MAX_ASSIGNED_ROLES: usize = MAX_ROLES;
/// Default-access groups of an org: every new account joins them in its create transaction.
pub const MAX_DEFAULT_GROUPS: usize = 20;
/// `accountIds` of one call: one transaction holds them and its log event.
pub const MAX_ACCOUNT_IDS: usize = 99;
/// Group names of one JIT sign-in.
pub const MAX_JIT_GROUPS: usize = 50;
/// The org record (name, domains, sites, products, roles, default groups) as JSON.
pub const MAX_ORG_RECORD_BYTES: usize = 100_000;

// --- Log events ------------------------------------------------------------------------

/// Quirks kept on one event, and the length of each (they may quote what a client sent).
pub const MAX_QUIRKS: usize = 20;
pub const MAX_QUIRK_BYTES: usize = 300;

/// `'what' is N bytes long; at most MAX bytes are allowed (X4)`.
pub fn too_long(what: &str, len: usize, max: usize) -> ScimError {
    ScimError::invalid_value(format!(
        "'{what}' is {len} bytes long; at most {max} bytes are allowed (X4)"
    ))
}

/// `Err` when `value` is longer than `max` bytes.
pub fn check_len(what: &str, value: &str, max: usize) -> Result<(), ScimError> {
    if value.len() > max {
        Err(too_long(what, value.len(), max))
    } else {
        Ok(())
    }
}

fn too_many(what: &str, n: usize, max: usize) -> ScimError {
    ScimError::invalid_value(format!(
        "'{what}' has {n} values; at most {max} are allowed (X4)"
    ))
}

fn is_users(rt: &ResourceType) -> bool {
    rt.name == "User"
}

fn is_groups(rt: &ResourceType) -> bool {
    rt.name == "Group"
}

/// Top-level strings that reach keys, and the multi-valued attribute whose elements'
/// `value` does, each with its limit.
type KeyAttributes = (
    &'static [(&'static str, usize)],
    Option<(&'static str, usize)>,
);

/// The strings of a document that reach a key or an index, with their limit: top-level
/// attributes, and the `value` of each element of a multi-valued one.
fn key_attributes(rt: &ResourceType) -> KeyAttributes {
    if is_users(rt) {
        (
            &[
                ("userName", MAX_USER_NAME_BYTES),
                ("externalId", MAX_EXTERNAL_ID_BYTES),
            ],
            Some(("emails", MAX_EMAIL_BYTES)),
        )
    } else if is_groups(rt) {
        (
            &[
                ("displayName", MAX_NAME_BYTES),
                ("externalId", MAX_EXTERNAL_ID_BYTES),
            ],
            Some(("members", MAX_ID_BYTES)),
        )
    } else {
        (&[], None)
    }
}

fn trim_in_place(v: &mut Value, what: &str, quirks: &mut Vec<String>) {
    if let Value::String(s) = v {
        let t = s.trim();
        if t.len() != s.len() {
            quirks.push(format!("trimmed surrounding whitespace from '{what}'"));
            *s = t.to_string();
        }
    }
}

/// Canonicalization of the values that reach keys (called by `canonicalize` before empty
/// values are pruned): surrounding whitespace is trimmed, so `" alice"` and `"alice"` are
/// the same userName (and collide, L3), and a userName of spaces only is absent (required:
/// refused). Each trimming is recorded as a quirk.
pub(crate) fn trim_key_strings(
    rt: &ResourceType,
    doc: &mut Map<String, Value>,
    quirks: &mut Vec<String>,
) {
    let (top, multi) = key_attributes(rt);
    for (name, _) in top {
        if let Some(v) = doc.get_mut(*name) {
            trim_in_place(v, name, quirks);
        }
    }
    if let Some((name, _)) = multi {
        if let Some(Value::Array(items)) = doc.get_mut(name) {
            for (i, item) in items.iter_mut().enumerate() {
                if let Some(v) = item.get_mut("value") {
                    trim_in_place(v, &format!("{name}[{i}].value"), quirks);
                }
            }
        }
    }
}

/// X4 for a canonical document: key-reaching values within their limits, no other string
/// over `MAX_STRING_BYTES`, at most `MAX_EMAILS` emails, and the whole document (without a
/// group's members) within `MAX_RESOURCE_BYTES`.
pub(crate) fn check_document(rt: &ResourceType, doc: &Map<String, Value>) -> Result<(), ScimError> {
    let (top, multi) = key_attributes(rt);
    for (name, max) in top {
        if let Some(Value::String(s)) = doc.get(*name) {
            check_len(name, s, *max)?;
        }
    }
    if let Some((name, max)) = multi {
        if let Some(Value::Array(items)) = doc.get(name) {
            if is_users(rt) && items.len() > MAX_EMAILS {
                return Err(too_many(name, items.len(), MAX_EMAILS));
            }
            for (i, item) in items.iter().enumerate() {
                if let Some(Value::String(s)) = item.get("value") {
                    check_len(&format!("{name}[{i}].value"), s, max)?;
                }
            }
        }
    }
    if is_users(rt) {
        check_assigned_roles(doc)?;
    }
    for (k, v) in doc {
        match v {
            _ if is_groups(rt) && k == "members" => {}
            // Extension attributes are named `<urn>:<attribute>`.
            Value::Object(ext) if k.starts_with("urn:") => {
                for (a, x) in ext {
                    check_strings(&format!("{k}:{a}"), x)?;
                }
            }
            _ => check_strings(k, v)?,
        }
    }
    let size: usize = doc
        .iter()
        .filter(|(k, _)| !(is_groups(rt) && k.as_str() == "members"))
        .map(|(k, v)| k.len() + serde_json::to_string(v).map(|s| s.len()).unwrap_or(0) + 4)
        .sum();
    if size > MAX_RESOURCE_BYTES {
        return Err(ScimError::invalid_value(format!(
            "the {} is {size} bytes long as JSON; at most {MAX_RESOURCE_BYTES} bytes are allowed (X4)",
            rt.name
        )));
    }
    Ok(())
}

/// X4, G8: at most `MAX_ASSIGNED_ROLES` roles, each value within `MAX_ROLE_BYTES`.
fn check_assigned_roles(doc: &Map<String, Value>) -> Result<(), ScimError> {
    let Some(Value::Array(roles)) = doc.get("roles") else {
        return Ok(());
    };
    if roles.len() > MAX_ASSIGNED_ROLES {
        return Err(too_many("roles", roles.len(), MAX_ASSIGNED_ROLES));
    }
    for (i, role) in roles.iter().enumerate() {
        if let Some(Value::String(s)) = role.get("value") {
            check_len(&format!("roles[{i}].value"), s, MAX_ROLE_BYTES)?;
        }
    }
    Ok(())
}

fn check_strings(path: &str, v: &Value) -> Result<(), ScimError> {
    match v {
        Value::String(s) => check_len(path, s, MAX_STRING_BYTES),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check_strings(&format!("{path}[{i}]"), x)),
        Value::Object(m) => m
            .iter()
            .try_for_each(|(k, x)| check_strings(&format!("{path}.{k}"), x)),
        _ => Ok(()),
    }
}

/// A member id (`members[].value`, or an id named in a membership PATCH): a non-empty user
/// id of at most `MAX_ID_BYTES`.
pub fn check_member_id(what: &str, id: &str) -> Result<(), ScimError> {
    if id.trim().is_empty() {
        return Err(ScimError::invalid_value(format!(
            "'{what}' is empty: a member is the id of a user of this directory"
        )));
    }
    check_len(what, id, MAX_ID_BYTES)
}

/// Whether an index lookup can find anything: a value longer than any stored value can
/// be (twice the limit: lowercasing grows a string by half at most) matches nothing, and is
/// not looked up (it would not fit a key).
pub fn lookup_can_match(l: &IndexLookup) -> bool {
    match l {
        IndexLookup::Id(v) => v.len() <= MAX_ID_BYTES,
        IndexLookup::ExternalId(v) => v.len() <= MAX_EXTERNAL_ID_BYTES,
        IndexLookup::UserName(v) => v.len() <= 2 * MAX_USER_NAME_BYTES,
        IndexLookup::Email(v) => v.len() <= 2 * MAX_EMAIL_BYTES,
        IndexLookup::DisplayName(v) => v.len() <= 2 * MAX_NAME_BYTES,
    }
}

// --- Requests -------------------------------------------------------------------------

fn id_not_found(what: &str, id: &str) -> ScimError {
    ScimError::not_found(format!(
        "{what} '{}...' not found: ids are at most {MAX_ID_BYTES} bytes (X4)",
        id.chars().take(16).collect::<String>()
    ))
}

/// `?dryRun=`: `true` or `false` (any case); anything else is refused rather than taken as
/// `false`, which would commit what the caller meant to preview.
fn check_dry_run(params: &HashMap<String, String>) -> Result<(), ScimError> {
    match params.get("dryrun") {
        Some(v) if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") => {
            Err(ScimError::invalid_value(format!(
                "dryRun must be true or false, not '{}'",
                v.chars().take(16).collect::<String>()
            )))
        }
        _ => Ok(()),
    }
}

/// A SCIM request of a directory (after authentication): the resource id of the path, and
/// the flags. A path id longer than any id answers 404, as an unknown id does.
pub fn check_scim_request(
    id: Option<&str>,
    params: &HashMap<String, String>,
) -> Result<(), ScimError> {
    if let Some(id) = id.filter(|id| id.len() > MAX_ID_BYTES) {
        return Err(id_not_found("resource", id));
    }
    check_dry_run(params)
}

/// The parameters of a list or search (S2-S4): `cursor`, `attributes`,
/// `excludedAttributes` (the filter's own parser bounds `filter`).
pub fn check_list_params(params: &HashMap<String, String>) -> Result<(), ScimError> {
    if let Some(c) = params.get("cursor") {
        if c.len() > MAX_CURSOR_BYTES {
            return Err(ScimError::bad_request(
                super::error::ScimType::InvalidCursor,
                format!("the cursor is {} bytes long; cursors are at most {MAX_CURSOR_BYTES} bytes (X4)", c.len()),
            ));
        }
    }
    for (key, name) in [
        ("attributes", "attributes"),
        ("excludedattributes", "excludedAttributes"),
    ] {
        if let Some(v) = params.get(key) {
            check_len(name, v, MAX_ATTRIBUTE_LIST_BYTES)?;
        }
    }
    if let Some(f) = params.get("filter") {
        if f.len() > MAX_FILTER_BYTES {
            return Err(ScimError::invalid_filter(format!(
                "the filter is {} bytes long; at most {MAX_FILTER_BYTES} bytes are allowed (X4)",
                f.len()
            )));
        }
    }
    Ok(())
}

/// The body of `POST /.search` (S8): a SearchRequest is a JSON object; anything else
/// (`[]`, `"x"`, `null`, `42`) is `invalidSyntax`, never an unfiltered list.
pub fn search_request(body: &Value) -> Result<&Map<String, Value>, ScimError> {
    body.as_object().ok_or_else(|| {
        ScimError::invalid_syntax(format!(
            "a search request is a JSON object with the schema {}, not {}",
            super::schema::SEARCH_REQUEST,
            super::resource::kind(body)
        ))
    })
}

/// A cursor of the admin API that this deployment did not hand out for this org and
/// listing (X4): 400, never a query.
pub fn invalid_admin_cursor() -> ScimError {
    ScimError::invalid_value(
        "invalid cursor: pass the nextCursor of the previous page of the same listing, unchanged",
    )
}

/// An admin request: path segments (`parts`, decoded, starting with `orgs`), query
/// parameters and the JSON body. Ids in the path longer than any id answer 404 (a domain
/// after `domains/` may be `MAX_DOMAIN_BYTES`); parameters and body fields that reach keys
/// or the org's records have their limits.
pub fn check_admin_request(
    parts: &[&str],
    params: &HashMap<String, String>,
    body: &[u8],
) -> Result<(), ScimError> {
    for (i, p) in parts.iter().enumerate() {
        let domain = i > 0 && parts[i - 1] == "domains";
        let max = if domain {
            MAX_DOMAIN_BYTES
        } else {
            MAX_ID_BYTES
        };
        if p.len() > max {
            return Err(if domain {
                ScimError::not_found(format!(
                    "domain not found: a domain is at most {MAX_DOMAIN_BYTES} bytes (X4)"
                ))
            } else {
                id_not_found("path segment", p)
            });
        }
    }
    check_dry_run(params)?;
    for (key, name, max) in [
        ("email", "email", MAX_EMAIL_BYTES),
        ("scimid", "scimId", MAX_ID_BYTES),
        ("outcome", "outcome", 32),
        ("since", "since", 64),
        ("until", "until", 64),
    ] {
        if let Some(v) = params.get(key) {
            check_len(name, v, max)?;
        }
    }
    if let Some(c) = params.get("cursor") {
        check_len("cursor", c, MAX_CURSOR_BYTES)?;
    }
    for (key, name) in [("limit", "limit"), ("offset", "offset")] {
        if let Some(v) = params.get(key) {
            match v.trim().parse::<u64>() {
                Ok(n) if n <= MAX_ADMIN_NUMBER => {}
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "{name} must be an integer from 0 to {MAX_ADMIN_NUMBER}"
                    )))
                }
            }
        }
    }
    check_admin_body(body)
}

/// The known fields of an admin body; a body that is not JSON is left to the handler.
fn check_admin_body(body: &[u8]) -> Result<(), ScimError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    for (field, max) in [
        ("name", MAX_NAME_BYTES),
        ("email", MAX_EMAIL_BYTES),
        ("displayName", MAX_PROFILE_BYTES),
        ("givenName", MAX_PROFILE_BYTES),
        ("familyName", MAX_PROFILE_BYTES),
        ("title", MAX_PROFILE_BYTES),
        ("department", MAX_PROFILE_BYTES),
        ("id", MAX_ID_BYTES),
        ("siteId", MAX_ID_BYTES),
        ("orgGroupId", MAX_ID_BYTES),
        ("idp", 32),
        ("domain", MAX_DOMAIN_BYTES),
    ] {
        if let Some(Value::String(s)) = body.get(field) {
            check_len(field, s.trim(), max)?;
        }
    }
    for (field, count, max, unique) in [
        (
            "verifiedDomains",
            MAX_VERIFIED_DOMAINS,
            MAX_DOMAIN_BYTES,
            false,
        ),
        ("roles", MAX_ROLES, MAX_ROLE_BYTES, false),
        ("accountIds", MAX_ACCOUNT_IDS, MAX_ID_BYTES, true),
        ("groups", MAX_JIT_GROUPS, MAX_NAME_BYTES, false),
    ] {
        let Some(Value::Array(items)) = body.get(field) else {
            continue;
        };
        if items.len() > count {
            return Err(too_many(field, items.len(), count));
        }
        let mut seen = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            if let Value::String(s) = item {
                check_len(&format!("{field}[{i}]"), s.trim(), max)?;
                if unique && !seen.insert(s.trim()) {
                    return Err(ScimError::invalid_value(format!(
                        "'{field}' lists '{}' more than once",
                        s.trim()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// A domain name an org verifies: lowercase, at most 253 bytes, at least two labels of
/// 1 to 63 letters, digits or hyphens (not at either end), the last not all digits.
/// Internationalized names are given in their ASCII (`xn--`) form.
pub fn domain(raw: &str) -> Result<String, ScimError> {
    let d = raw.trim().to_lowercase();
    let shown = || raw.chars().take(64).collect::<String>();
    if d.len() > MAX_DOMAIN_BYTES {
        return Err(ScimError::invalid_value(format!(
            "'{}...' is not a domain name: a domain is at most {MAX_DOMAIN_BYTES} bytes (X4)",
            shown()
        )));
    }
    let labels: Vec<&str> = d.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= MAX_DOMAIN_LABEL_BYTES
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|t| !t.bytes().all(|b| b.is_ascii_digit()));
    if labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok {
        Ok(d)
    } else {
        Err(ScimError::invalid_value(format!(
            "'{}' is not a domain name: labels of letters, digits and hyphens (at most {MAX_DOMAIN_LABEL_BYTES} bytes each) separated by dots, such as example.com; internationalized names in their xn-- form",
            shown()
        )))
    }
}

/// The org record within its limits: counts of domains, sites, products, roles and
/// default-access groups, and its size.
pub fn check_org(org: &crate::directory::model::OrgRecord) -> Result<(), ScimError> {
    if org.verified_domains.len() > MAX_VERIFIED_DOMAINS {
        return Err(too_many(
            "verifiedDomains",
            org.verified_domains.len(),
            MAX_VERIFIED_DOMAINS,
        ));
    }
    if org.sites.len() > MAX_SITES {
        return Err(too_many("sites", org.sites.len(), MAX_SITES));
    }
    if org.products.len() > MAX_PRODUCTS {
        return Err(too_many("products", org.products.len(), MAX_PRODUCTS));
    }
    for p in &org.products {
        if p.roles.len() > MAX_ROLES {
            return Err(too_many("roles", p.roles.len(), MAX_ROLES));
        }
    }
    let defaults = org.default_groups().len();
    if defaults > MAX_DEFAULT_GROUPS {
        return Err(too_many(
            "default-access groups",
            defaults,
            MAX_DEFAULT_GROUPS,
        ));
    }
    let size = serde_json::to_string(org).map(|s| s.len()).unwrap_or(0);
    if size > MAX_ORG_RECORD_BYTES {
        return Err(ScimError::invalid_value(format!(
            "the organization's record would be {size} bytes long; at most {MAX_ORG_RECORD_BYTES} bytes are allowed (X4)"
        )));
    }
    Ok(())
}

/// The quirks an event keeps: at most `MAX_QUIRKS`, each cut to `MAX_QUIRK_BYTES`.
pub fn cap_quirks(quirks: &[String]) -> Vec<String> {
    let mut out: Vec<String> = quirks
        .iter()
        .take(MAX_QUIRKS)
        .map(|q| {
            if q.len() <= MAX_QUIRK_BYTES {
                q.clone()
            } else {
                let mut end = MAX_QUIRK_BYTES;
                while !q.is_char_boundary(end) {
                    end -= 1;
                }
                format!("{}...", &q[..end])
            }
        })
        .collect();
    if quirks.len() > MAX_QUIRKS {
        out.push(format!("and {} more", quirks.len() - MAX_QUIRKS));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::resource::canonicalize;
    use crate::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
    use serde_json::json;

    fn user(v: Value) -> Result<Value, ScimError> {
        canonicalize(&USER_RESOURCE, &v).map(|n| n.doc)
    }

    #[test]
    fn x4_every_key_reaching_user_value_at_and_over_its_limit() {
        for (attr, max) in [
            ("userName", MAX_USER_NAME_BYTES),
            ("externalId", MAX_EXTERNAL_ID_BYTES),
        ] {
            for (s, ok) in [
                ("a".repeat(max), true),
                ("a".repeat(max + 1), false),
                ("é".repeat(max / 2), true),
                ("é".repeat(max / 2 + 1), false),
                ("😀".repeat(max / 4 + 1), false),
            ] {
                let mut body = json!({"userName": "u"});
                body[attr] = json!(s);
                let r = user(body);
                assert_eq!(r.is_ok(), ok, "{attr} of {} bytes", s.len());
                if let Err(e) = r {
                    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
                    assert!(e.detail.contains(attr) && e.detail.contains(&max.to_string()));
                }
            }
        }
        let email = |n: usize| format!("{}@example.com", "a".repeat(n - 12));
        assert!(user(json!({"userName": "u", "emails": [{"value": email(254)}]})).is_ok());
        let e =
            user(json!({"userName": "u", "emails": [{"value": "x@y.z"}, {"value": email(255)}]}))
                .unwrap_err();
        assert!(
            e.detail.contains("emails[1].value") && e.detail.contains("254"),
            "{}",
            e.detail
        );
        let many: Vec<Value> = (0..=MAX_EMAILS)
            .map(|i| json!({"value": format!("a{i}@x.com")}))
            .collect();
        assert!(user(json!({"userName": "u", "emails": many}))
            .unwrap_err()
            .detail
            .contains("emails"));
    }

    #[test]
    fn x4_other_strings_and_the_whole_document_are_bounded() {
        let e = user(json!({"userName": "u", "displayName": "x".repeat(500_000)})).unwrap_err();
        assert!(
            e.detail.contains("'displayName'") && e.detail.contains("16384"),
            "{}",
            e.detail
        );
        let e = user(json!({"userName": "u", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x".repeat(MAX_STRING_BYTES + 1)}})).unwrap_err();
        assert!(
            e.detail.contains("enterprise:2.0:User:department"),
            "{}",
            e.detail
        );
        let addresses: Vec<Value> = (0..10)
            .map(|i| json!({"streetAddress": format!("{i}{}", "x".repeat(10_000))}))
            .collect();
        let e = user(json!({"userName": "u", "addresses": addresses})).unwrap_err();
        assert!(e.detail.contains("65536"), "{}", e.detail);
    }

    #[test]
    fn x4_group_display_name_and_member_values() {
        let g = |v: Value| canonicalize(&GROUP_RESOURCE, &v);
        assert!(g(json!({"displayName": "a".repeat(MAX_NAME_BYTES)})).is_ok());
        assert!(g(json!({"displayName": "a".repeat(MAX_NAME_BYTES + 1)})).is_err());
        assert!(g(json!({"displayName": "g", "members": [{"value": "a".repeat(64)}]})).is_ok());
        let e = g(json!({"displayName": "g", "members": [{"value": "a".repeat(65)}]})).unwrap_err();
        assert!(e.detail.contains("members[0].value"), "{}", e.detail);
    }

    #[test]
    fn e1_trimming_is_a_quirk_and_spaces_only_is_absent() {
        let n = canonicalize(&USER_RESOURCE, &json!({"userName": "  alice  ", "externalId": "\tx ", "emails": [{"value": " a@x.com "}]})).unwrap();
        assert_eq!(n.doc["userName"], "alice");
        assert_eq!(n.doc["externalId"], "x");
        assert_eq!(n.doc["emails"][0]["value"], "a@x.com");
        assert!(n
            .quirks
            .iter()
            .any(|q| q.contains("trimmed") && q.contains("userName")));
        let again = canonicalize(&USER_RESOURCE, &n.doc).unwrap();
        assert!(again.quirks.is_empty(), "{:?}", again.quirks);
        for blank in [" ", "   ", "\t\n", "\u{3000}"] {
            let e = user(json!({"userName": blank})).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{blank:?}");
        }
        let g = canonicalize(&GROUP_RESOURCE, &json!({"displayName": " Eng "})).unwrap();
        assert_eq!(g.doc["displayName"], "Eng");
    }

    #[test]
    fn x4_domains() {
        for ok in [
            "example.com",
            "EXAMPLE.com",
            "a-b.example.co.uk",
            "xn--bcher-kva.de",
            &format!("{}.com", "a".repeat(63)),
        ] {
            assert!(domain(ok).is_ok(), "{ok}");
        }
        let long = format!("{}.com", vec!["a".repeat(60); 5].join("."));
        assert!(long.len() > 253);
        for bad in [
            "",
            "com",
            ".com",
            "example.",
            "a..b",
            "-a.com",
            "a-.com",
            "a b.com",
            "a@b.com",
            "bücher.de",
            "1.2.3.4",
            &format!("{}.com", "a".repeat(64)),
            &long,
            &"a.".repeat(1500),
        ] {
            assert!(domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn x4_lookups_longer_than_any_stored_value_are_not_made() {
        assert!(lookup_can_match(&IndexLookup::Id("a".repeat(64))));
        assert!(!lookup_can_match(&IndexLookup::Id("a".repeat(65))));
        assert!(!lookup_can_match(&IndexLookup::UserName("a".repeat(3000))));
        assert!(!lookup_can_match(&IndexLookup::Email("a".repeat(3000))));
    }

    #[test]
    fn x4_admin_requests() {
        let p = HashMap::new();
        assert!(check_admin_request(&["orgs", &"o".repeat(64)], &p, b"").is_ok());
        assert_eq!(
            check_admin_request(&["orgs", &"o".repeat(65)], &p, b"")
                .unwrap_err()
                .status,
            404
        );
        assert!(check_admin_request(&["orgs", "o", "domains", &"d".repeat(200)], &p, b"").is_ok());
        let body = |v: Value| v.to_string().into_bytes();
        let e = check_admin_request(&["orgs"], &p, &body(json!({"name": "n".repeat(257)})))
            .unwrap_err();
        assert!(e.detail.contains("'name'") && e.detail.contains("256"));
        assert!(
            check_admin_request(&["orgs"], &p, &body(json!({"accountIds": ["a", "a"]}))).is_err()
        );
        assert!(check_admin_request(&["orgs"], &p, b"not json").is_ok());
        let q = HashMap::from([("offset".to_string(), "18446744073709551615".to_string())]);
        assert!(check_admin_request(&["orgs", "o"], &q, b"").is_err());
        let q = HashMap::from([("dryrun".to_string(), "1".to_string())]);
        assert!(check_admin_request(&["orgs", "o"], &q, b"").is_err());
    }

    #[test]
    fn e1_quirks_are_capped() {
        let q: Vec<String> = (0..100)
            .map(|i| format!("{i}{}", "é".repeat(1000)))
            .collect();
        let c = cap_quirks(&q);
        assert_eq!(c.len(), MAX_QUIRKS + 1);
        assert!(c.iter().all(|q| q.len() <= MAX_QUIRK_BYTES + 3));
    }
}
