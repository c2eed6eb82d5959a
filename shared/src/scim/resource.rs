//! Canonicalization of client input (RFC 7643): POST/PUT bodies and PATCH values.
//!
//! The canonical form of a resource document, which is what gets stored:
//! - a JSON object whose attribute names are spelled exactly as in the schema;
//! - core attributes at the top level, extension attributes under the extension's URN;
//! - a `schemas` array: the core URN, then the URNs of the extensions actually present;
//! - no `null`s, empty strings, empty arrays or empty objects (all mean "unassigned");
//! - no readOnly attributes (`id`, `meta`, `groups`, `manager.displayName`, ...): the server
//!   renders those; no writeOnly ones (`password`): this server does not store passwords;
//! - in each multi-valued attribute: no two identical elements, at most one `primary: true`,
//!   element order as sent.
//!
//! [`canonicalize`] is idempotent: canonicalizing a canonical document returns it unchanged
//! and adds no quirks.
//!
//! "Quirks" are human-readable notes about input that was accepted but was not quite
//! RFC-conformant (or was silently repaired). The server logs them; they never fail a request.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{AttrType, Attribute, Container, Mutability, ResourceType};

/// A canonical document plus notes about what had to be repaired or ignored to get there.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub doc: Value,
    pub quirks: Vec<String>,
}

/// What a top-level key of a resource document (or of a PATCH value without `path`) names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key {
    /// The `schemas` attribute.
    Schemas,
    /// A schema URN on its own (`"urn:...:enterprise:2.0:User": {...}`): an object holding
    /// that schema's attributes.
    SchemaObject(Container),
    /// An attribute, possibly written with a sub-attribute (`name.givenName`) and/or a URN
    /// prefix (`urn:...:enterprise:2.0:User:department`).
    Attr {
        container: Container,
        attr: &'static Attribute,
        sub: Option<&'static Attribute>,
    },
    /// Not an attribute of this resource type.
    Unknown,
}

/// Resolves a top-level key, case-insensitively. A key that starts with `urn:` but names no
/// schema of this resource type is a client error (invalidValue): dropping a whole extension
/// silently would lose data the client clearly meant to store.
pub(crate) fn resolve_key(rt: &'static ResourceType, key: &str) -> Result<Key, ScimError> {
    if key.eq_ignore_ascii_case("schemas") {
        return Ok(Key::Schemas);
    }
    let Some((container, rest)) = rt.split_urn(key) else {
        return Err(ScimError::invalid_value(format!(
            "unknown schema extension '{key}': {} resources support {}",
            rt.name,
            schema_list(rt)
        )));
    };
    if rest.is_empty() {
        return Ok(Key::SchemaObject(container));
    }
    Ok(match resolve_in(rt, container, rest) {
        Some((attr, sub)) => Key::Attr {
            container,
            attr,
            sub,
        },
        None => Key::Unknown,
    })
}

/// Resolves `attr` or `attr.sub` inside one container, case-insensitively.
pub(crate) fn resolve_in(
    rt: &'static ResourceType,
    container: Container,
    name: &str,
) -> Option<(&'static Attribute, Option<&'static Attribute>)> {
    match name.split_once('.') {
        None => Some((rt.attribute_in(container, name)?, None)),
        Some((a, s)) => {
            let attr = rt.attribute_in(container, a)?;
            Some((attr, Some(attr.sub(s)?)))
        }
    }
}

fn schema_list(rt: &ResourceType) -> String {
    rt.schema_ids()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How an attribute is named in error details and quirks: `emails`, `name.givenName`,
/// `urn:...:enterprise:2.0:User:manager.value`.
pub(crate) fn display_path(
    container: Container,
    attr: &Attribute,
    sub: Option<&Attribute>,
) -> String {
    let mut s = match container {
        Container::Core => attr.name.to_string(),
        Container::Extension(schema) => format!("{}:{}", schema.id, attr.name),
    };
    if let Some(sub) = sub {
        s.push('.');
        s.push_str(sub.name);
    }
    s
}

/// Canonicalizes a POST/PUT body for resource type `rt`. See the module documentation for
/// the canonical form. Client mistakes are `Err` with scimType invalidSyntax (not an object)
/// or invalidValue (unknown schema URN, wrong type, missing required attribute).
pub fn canonicalize(rt: &'static ResourceType, input: &Value) -> Result<Normalized, ScimError> {
    let Value::Object(map) = input else {
        return Err(ScimError::invalid_syntax(format!(
            "the request body must be a JSON object (a {} resource), not {}",
            rt.name,
            kind(input)
        )));
    };
    let mut quirks = Vec::new();
    let mut doc = Map::new();
    let mut seen: Vec<String> = Vec::new();
    // The schema URNs the client listed, when it sent `schemas`.
    let mut listed: Option<Vec<&'static str>> = None;

    for (key, value) in map {
        match resolve_key(rt, key)? {
            Key::Schemas => listed = Some(check_schemas(rt, value, &mut quirks)?),
            Key::SchemaObject(container) => {
                let inner = match value {
                    Value::Null => continue,
                    Value::Object(inner) => inner,
                    other => {
                        return Err(ScimError::invalid_value(format!(
                        "'{key}' must be a JSON object holding that schema's attributes, not {}",
                        kind(other)
                    )))
                    }
                };
                for (inner_key, inner_value) in inner {
                    match resolve_in(rt, container, inner_key) {
                        Some((attr, sub)) => place(
                            &mut doc,
                            container,
                            attr,
                            sub,
                            inner_value,
                            &mut seen,
                            &mut quirks,
                        )?,
                        None => quirks.push(format!(
                            "ignored unknown attribute '{}'",
                            match container {
                                Container::Core => inner_key.clone(),
                                Container::Extension(s) => format!("{}:{inner_key}", s.id),
                            }
                        )),
                    }
                }
            }
            Key::Attr {
                container,
                attr,
                sub,
            } => place(
                &mut doc,
                container,
                attr,
                sub,
                value,
                &mut seen,
                &mut quirks,
            )?,
            Key::Unknown => quirks.push(format!("ignored unknown attribute '{key}'")),
        }
    }
    if listed.is_none() {
        quirks.push(format!(
            "the request has no 'schemas'; assumed '{}'",
            rt.schema.id
        ));
    }

    // X4: values that reach keys are trimmed (and may become empty, hence before pruning).
    super::limits::trim_key_strings(rt, &mut doc, &mut quirks);
    let mut doc = Value::Object(doc);
    prune(&mut doc);
    let Value::Object(mut doc) = doc else {
        return Err(ScimError::internal());
    };
    check_required(rt, &doc)?;
    super::limits::check_document(rt, &doc)?;

    let mut schemas = vec![Value::String(rt.schema.id.to_string())];
    for (ext, _) in rt.extensions {
        if doc.contains_key(ext.id) {
            if listed.as_ref().is_some_and(|l| !l.contains(&ext.id)) {
                quirks.push(format!("'schemas' does not list '{}'; added it", ext.id));
            }
            schemas.push(Value::String(ext.id.to_string()));
        }
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    Ok(Normalized {
        doc: Value::Object(doc),
        quirks,
    })
}

fn check_schemas(
    rt: &'static ResourceType,
    value: &Value,
    quirks: &mut Vec<String>,
) -> Result<Vec<&'static str>, ScimError> {
    let Value::Array(items) = value else {
        return Err(ScimError::invalid_value(format!(
            "'schemas' must be an array of schema URNs, not {}",
            kind(value)
        )));
    };
    let mut listed = Vec::new();
    for item in items {
        let Value::String(urn) = item else {
            return Err(ScimError::invalid_value(format!(
                "'schemas' must contain only schema URN strings, found {}",
                kind(item)
            )));
        };
        let Some(id) = rt.schema_ids().find(|id| id.eq_ignore_ascii_case(urn)) else {
            return Err(ScimError::invalid_value(format!(
                "unknown schema '{urn}' in 'schemas': {} resources support {}",
                rt.name,
                schema_list(rt)
            )));
        };
        listed.push(id);
    }
    if !listed.contains(&rt.schema.id) {
        quirks.push(format!(
            "'schemas' does not list '{}'; assumed it",
            rt.schema.id
        ));
    }
    Ok(listed)
}

fn check_required(rt: &'static ResourceType, doc: &Map<String, Value>) -> Result<(), ScimError> {
    for attr in rt.schema.attributes.iter().filter(|a| a.required) {
        if !doc.contains_key(attr.name) {
            return Err(ScimError::invalid_value(format!(
                "'{}' is required for a {} and must not be empty",
                attr.name, rt.name
            )));
        }
    }
    for (ext, _) in rt.extensions {
        let Some(Value::Object(ext_doc)) = doc.get(ext.id) else {
            continue;
        };
        for attr in ext.attributes.iter().filter(|a| a.required) {
            if !ext_doc.contains_key(attr.name) {
                return Err(ScimError::invalid_value(format!(
                    "'{}:{}' is required and must not be empty",
                    ext.id, attr.name
                )));
            }
        }
    }
    Ok(())
}

/// Puts one attribute (or sub-attribute) given by the client into the document being built.
/// When the same attribute appears more than once (keys differing in case, or `name` and
/// `name.givenName`), complex values are merged and otherwise the last one wins.
fn place(
    doc: &mut Map<String, Value>,
    container: Container,
    attr: &'static Attribute,
    sub: Option<&'static Attribute>,
    value: &Value,
    seen: &mut Vec<String>,
    quirks: &mut Vec<String>,
) -> Result<(), ScimError> {
    let path = display_path(container, attr, sub);
    // RFC 7643 §2.2: readOnly values sent by a client SHALL be ignored.
    if attr.mutability == Mutability::ReadOnly
        || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Ok(());
    }
    if attr.mutability == Mutability::WriteOnly
        || sub.is_some_and(|s| s.mutability == Mutability::WriteOnly)
    {
        if !value.is_null() {
            quirks.push(write_only_quirk(&path));
        }
        return Ok(());
    }
    if seen.contains(&path) {
        quirks.push(format!(
            "'{path}' was given more than once; the values were merged, later ones winning"
        ));
    } else {
        seen.push(path.clone());
    }

    let target = container_map(doc, container)?;
    match sub {
        None => {
            let canonical = canonicalize_value(attr, value, &path, quirks)?;
            match (canonical, target.get_mut(attr.name)) {
                (None, _) => {
                    target.remove(attr.name);
                }
                (Some(Value::Object(new)), Some(Value::Object(existing))) if !attr.multi_valued => {
                    existing.extend(new);
                }
                (Some(v), _) => {
                    target.insert(attr.name.to_string(), v);
                }
            }
        }
        Some(sub) => {
            if attr.multi_valued {
                return Err(ScimError::invalid_value(format!(
                    "'{path}' names a sub-attribute of the multi-valued attribute '{}'; send '{}' as an array of objects",
                    attr.name, attr.name
                )));
            }
            let canonical = canonicalize_value(sub, value, &path, quirks)?;
            let object = object_entry(target, attr.name)?;
            match canonical {
                Some(v) => {
                    object.insert(sub.name.to_string(), v);
                }
                None => {
                    object.remove(sub.name);
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn write_only_quirk(path: &str) -> String {
    if path == "password" {
        "ignored 'password': passwords are not stored".to_string()
    } else {
        format!("ignored write-only attribute '{path}': it is not stored")
    }
}

/// The map holding `container`'s attributes: the document itself, or the object under the
/// extension's URN (created when missing).
pub(crate) fn container_map(
    doc: &mut Map<String, Value>,
    container: Container,
) -> Result<&mut Map<String, Value>, ScimError> {
    match container {
        Container::Core => Ok(doc),
        Container::Extension(schema) => object_entry(doc, schema.id),
    }
}

/// The object under `key`, created (or replacing a non-object) when needed.
pub(crate) fn object_entry<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Result<&'a mut Map<String, Value>, ScimError> {
    let slot = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().ok_or_else(ScimError::internal)
}

/// Removes nulls, empty strings, empty arrays and empty objects, recursively.
pub(crate) fn prune(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                prune(v);
            }
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => {
            for v in items.iter_mut() {
                prune(v);
            }
            items.retain(|v| !is_empty(v));
        }
        _ => {}
    }
}

/// Unassigned in the RFC 7643 §2.5 sense.
pub(crate) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Canonicalizes the value of one attribute with exactly the rules [`canonicalize`] applies
/// (type checks, coercions, readOnly sub-attributes dropped, primary/duplicate repair), so
/// PATCH can reuse them. `Ok(None)` means the value is unassigned (null, `""`, `[]`, `{}`).
///
/// The attribute's own mutability is not checked here (the caller decides what readOnly
/// means in its context); readOnly sub-attributes inside a complex value are dropped.
pub fn canonicalize_attribute_value(
    container: Container,
    attr: &'static Attribute,
    value: &Value,
    quirks: &mut Vec<String>,
) -> Result<Option<Value>, ScimError> {
    let path = display_path(container, attr, None);
    canonicalize_value(attr, value, &path, quirks)
}

/// As [`canonicalize_attribute_value`], with the attribute's name for messages given as `path`.
pub(crate) fn canonicalize_value(
    attr: &'static Attribute,
    value: &Value,
    path: &str,
    quirks: &mut Vec<String>,
) -> Result<Option<Value>, ScimError> {
    if !attr.multi_valued {
        if let Value::Array(_) = value {
            return Err(ScimError::invalid_value(format!(
                "'{path}' is single-valued; expected {}, not an array",
                expected(attr)
            )));
        }
        return canonicalize_element(attr, value, path, quirks);
    }
    let items: Vec<&Value> = match value {
        Value::Null => return Ok(None),
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => {
            quirks.push(format!(
                "wrapped the single value given for multi-valued '{path}' in an array"
            ));
            vec![value]
        }
        other if attr.ty != AttrType::Complex => {
            quirks.push(format!(
                "wrapped the single value given for multi-valued '{path}' in an array"
            ));
            vec![other]
        }
        other => {
            return Err(ScimError::invalid_value(format!(
                "'{path}' is multi-valued; expected an array of objects, not {}",
                kind(other)
            )))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        if super::members::is_members_attribute(attr) {
            // A member without a value is refused, never silently dropped.
            super::members::check_member_element(item, &format!("{path}[{i}]"))?;
        }
        if let Some(v) = canonicalize_element(attr, item, &format!("{path}[{i}]"), quirks)? {
            out.push(v);
        }
    }
    if enforce_single_primary(&mut out) {
        quirks.push(format!(
            "more than one value of '{path}' was marked primary; kept the first"
        ));
    }
    let before = out.len();
    dedup(&mut out);
    if out.len() != before {
        quirks.push(format!("dropped duplicate values of '{path}'"));
    }
    Ok(if out.is_empty() {
        None
    } else {
        Some(Value::Array(out))
    })
}

/// Canonicalizes one value of `attr` (for a multi-valued attribute: one element).
pub(crate) fn canonicalize_element(
    attr: &'static Attribute,
    value: &Value,
    path: &str,
    quirks: &mut Vec<String>,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.ty != AttrType::Complex {
        return canonicalize_scalar(attr, value, path, quirks);
    }
    let object = match value {
        Value::Object(map) => map,
        // Entra sends the enterprise `manager` as a bare id string.
        Value::String(s) if !attr.multi_valued && attr.sub("value").is_some() => {
            if s.is_empty() {
                quirks.push(format!(
                    "treated the empty string given for '{path}' as absent"
                ));
                return Ok(None);
            }
            quirks.push(format!(
                "treated the string given for complex '{path}' as its 'value'"
            ));
            let mut out = Map::new();
            out.insert("value".into(), value.clone());
            return Ok(Some(Value::Object(out)));
        }
        other => {
            return Err(ScimError::invalid_value(format!(
                "'{path}' must be a complex value (a JSON object), not {}",
                kind(other)
            )))
        }
    };
    let mut out = Map::new();
    let mut seen: Vec<&str> = Vec::new();
    for (key, v) in object {
        let Some(sub) = attr.sub(key) else {
            quirks.push(format!("ignored unknown attribute '{path}.{key}'"));
            continue;
        };
        let sub_path = format!("{path}.{}", sub.name);
        match sub.mutability {
            Mutability::ReadOnly => continue,
            Mutability::WriteOnly => {
                quirks.push(write_only_quirk(&sub_path));
                continue;
            }
            Mutability::ReadWrite | Mutability::Immutable => {}
        }
        if seen.contains(&sub.name) {
            quirks.push(format!(
                "'{sub_path}' was given more than once; the last value wins"
            ));
        } else {
            seen.push(sub.name);
        }
        match canonicalize_value(sub, v, &sub_path, quirks)? {
            Some(v) => {
                out.insert(sub.name.to_string(), v);
            }
            None => {
                out.remove(sub.name);
            }
        }
    }
    Ok(if out.is_empty() {
        None
    } else {
        Some(Value::Object(out))
    })
}

fn canonicalize_scalar(
    attr: &'static Attribute,
    value: &Value,
    path: &str,
    quirks: &mut Vec<String>,
) -> Result<Option<Value>, ScimError> {
    // Okta sends "" for attributes it has no value for.
    if let Value::String(s) = value {
        if s.is_empty() {
            quirks.push(format!(
                "treated the empty string given for '{path}' as absent"
            ));
            return Ok(None);
        }
    }
    let ok = match (attr.ty, value) {
        (_, Value::Null) => return Ok(None),
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(_)) => true,
        (AttrType::Boolean, Value::Bool(_)) => true,
        (AttrType::Boolean, Value::String(s)) => {
            // Entra sends booleans as "True"/"False".
            let b = if s.eq_ignore_ascii_case("true") {
                true
            } else if s.eq_ignore_ascii_case("false") {
                false
            } else {
                return Err(type_error(attr, value, path));
            };
            quirks.push(format!(
                "converted the string \"{s}\" given for boolean '{path}' to {b}"
            ));
            return Ok(Some(Value::Bool(b)));
        }
        (AttrType::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (AttrType::Decimal, Value::Number(_)) => true,
        (AttrType::DateTime, Value::String(s)) => parse_datetime(s).is_some(),
        _ => false,
    };
    if ok {
        Ok(Some(value.clone()))
    } else {
        Err(type_error(attr, value, path))
    }
}

fn type_error(attr: &Attribute, value: &Value, path: &str) -> ScimError {
    let got = match value {
        Value::String(s) => format!("the string \"{}\"", truncate(s, 64)),
        other => kind(other).to_string(),
    };
    ScimError::invalid_value(format!("'{path}' must be {}, not {got}", expected(attr)))
}

fn expected(attr: &Attribute) -> &'static str {
    match attr.ty {
        AttrType::String => "a string",
        AttrType::Boolean => "a boolean (true or false)",
        AttrType::Decimal => "a number",
        AttrType::Integer => "an integer",
        AttrType::DateTime => "an RFC 3339 dateTime string such as \"2011-05-13T04:42:34Z\"",
        AttrType::Binary => "a base64 string",
        AttrType::Reference => "a URI reference string",
        AttrType::Complex => "a complex value (a JSON object)",
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(max).collect::<String>())
    }
}

/// The JSON kind of a value, for error details.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses an RFC 3339 dateTime (RFC 7643 §2.3.5 uses xsd:dateTime, which IdPs send as RFC 3339).
pub(crate) fn parse_datetime(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Keeps the first element marked `primary: true`; sets `primary: false` on any later ones.
/// Returns whether anything changed.
pub(crate) fn enforce_single_primary(items: &mut [Value]) -> bool {
    let mut seen = false;
    let mut changed = false;
    for item in items.iter_mut() {
        if let Value::Object(obj) = item {
            if obj.get("primary") == Some(&Value::Bool(true)) {
                if seen {
                    obj.insert("primary".into(), Value::Bool(false));
                    changed = true;
                }
                seen = true;
            }
        }
    }
    changed
}

/// Removes later copies of identical elements, keeping order.
pub(crate) fn dedup(items: &mut Vec<Value>) {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    *items = out;
}

/// The document's `externalId`, as the IdP sent it.
pub fn external_id(doc: &Value) -> Option<&str> {
    doc.get("externalId").and_then(Value::as_str)
}

/// The address to use for a user: the `emails` entry marked primary, else the first of type
/// `work`, else the first, else `userName` if it looks like an address (one `@` with text on
/// both sides). Trimmed and lowercased.
pub fn primary_email(doc: &Value) -> Option<String> {
    let emails: Vec<&Value> = match doc.get("emails") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(obj @ Value::Object(_)) => vec![obj],
        _ => Vec::new(),
    };
    let value_of = |e: &Value| -> Option<String> {
        let v = e.get("value")?.as_str()?.trim();
        (!v.is_empty()).then(|| v.to_lowercase())
    };
    let is_type = |e: &Value, t: &str| {
        e.get("type")
            .and_then(Value::as_str)
            .is_some_and(|x| x.trim().eq_ignore_ascii_case(t))
    };
    emails
        .iter()
        .filter(|e| e.get("primary") == Some(&Value::Bool(true)))
        .find_map(|e| value_of(e))
        .or_else(|| {
            emails
                .iter()
                .filter(|e| is_type(e, "work"))
                .find_map(|e| value_of(e))
        })
        .or_else(|| emails.iter().find_map(|e| value_of(e)))
        .or_else(|| {
            let user_name = doc.get("userName")?.as_str()?.trim();
            let (local, domain) = user_name.split_once('@')?;
            (!local.is_empty() && !domain.is_empty() && !domain.contains('@'))
                .then(|| user_name.to_lowercase())
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE};
    use serde_json::json;

    const ENTERPRISE_USER: &str = include_str!("fixtures/rfc7643_enterprise_user.json");
    const GROUP: &str = include_str!("fixtures/rfc7643_group.json");

    fn user(v: Value) -> Result<Normalized, ScimError> {
        canonicalize(&USER_RESOURCE, &v)
    }

    fn err_type(r: Result<Normalized, ScimError>) -> ScimType {
        r.unwrap_err().scim_type.unwrap()
    }

    #[test]
    fn rfc_enterprise_user_round_trips() {
        let input: Value = serde_json::from_str(ENTERPRISE_USER).unwrap();
        let n = user(input.clone()).unwrap();
        let mut expected = input;
        let obj = expected.as_object_mut().unwrap();
        for k in ["id", "meta", "groups", "password"] {
            obj.remove(k);
        }
        obj[ENTERPRISE_USER_SCHEMA]["manager"]
            .as_object_mut()
            .unwrap()
            .remove("displayName");
        assert_eq!(n.doc, expected);
        assert_eq!(
            n.quirks,
            vec!["ignored 'password': passwords are not stored"]
        );
        // Idempotent.
        let again = canonicalize(&USER_RESOURCE, &n.doc).unwrap();
        assert_eq!(again.doc, n.doc);
        assert!(again.quirks.is_empty(), "{:?}", again.quirks);
        assert_eq!(
            primary_email(&n.doc).as_deref(),
            Some("bjensen@example.com")
        );
    }

    #[test]
    fn rfc_group_round_trips() {
        let input: Value = serde_json::from_str(GROUP).unwrap();
        let n = canonicalize(&GROUP_RESOURCE, &input).unwrap();
        assert!(n.quirks.is_empty(), "{:?}", n.quirks);
        assert_eq!(
            n.doc,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Tour Guides",
                "members": [
                    {"value": "2819c223-7f76-453a-919d-413861904646",
                     "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"},
                    {"value": "902c246b-6245-4190-8e05-00816be7344a",
                     "$ref": "https://example.com/v2/Users/902c246b-6245-4190-8e05-00816be7344a"}
                ]
            })
        );
        assert_eq!(canonicalize(&GROUP_RESOURCE, &n.doc).unwrap().doc, n.doc);
    }

    #[test]
    fn keys_fold_to_canonical_names() {
        let n = user(json!({
            "SCHEMAS": ["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"],
            "USERNAME": "bjensen",
            "Name": {"GIVENNAME": "Barbara", "familyname": "Jensen"},
            "EMAILS": [{"VALUE": "b@x.com", "Type": "work", "PRIMARY": true}],
            "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:user": {"DEPARTMENT": "Ops"}
        }))
        .unwrap();
        assert_eq!(
            n.doc,
            json!({
                "schemas": [USER_RESOURCE.schema.id, ENTERPRISE_USER_SCHEMA],
                "userName": "bjensen",
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                "emails": [{"value": "b@x.com", "type": "work", "primary": true}],
                ENTERPRISE_USER_SCHEMA: {"department": "Ops"}
            })
        );
        assert!(n.quirks.is_empty(), "{:?}", n.quirks);
    }

    #[test]
    fn flat_urn_and_dotted_keys_fold_in() {
        let n = user(json!({
            "schemas": [USER_RESOURCE.schema.id, ENTERPRISE_USER_SCHEMA],
            "userName": "u",
            "name.givenName": "G",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Ops",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "boss-id",
            "urn:ietf:params:scim:schemas:core:2.0:User:title": "Dr"
        }))
        .unwrap();
        assert_eq!(n.doc["name"], json!({"givenName": "G"}));
        assert_eq!(n.doc["title"], "Dr");
        assert_eq!(
            n.doc[ENTERPRISE_USER_SCHEMA],
            json!({"department": "Ops", "manager": {"value": "boss-id"}})
        );
        assert_eq!(n.quirks.len(), 1, "{:?}", n.quirks);
    }

    #[test]
    fn unknown_attributes_are_dropped_with_a_quirk() {
        let n = user(json!({
            "schemas": [USER_RESOURCE.schema.id],
            "userName": "u", "foo": 1, "name": {"bar": "x", "givenName": "G"}
        }))
        .unwrap();
        assert_eq!(
            n.doc,
            json!({"schemas": [USER_RESOURCE.schema.id], "userName": "u", "name": {"givenName": "G"}})
        );
        assert!(n
            .quirks
            .contains(&"ignored unknown attribute 'foo'".to_string()));
        assert!(n
            .quirks
            .contains(&"ignored unknown attribute 'name.bar'".to_string()));
    }

    #[test]
    fn read_only_attributes_are_dropped_silently() {
        let n = user(json!({
            "schemas": [USER_RESOURCE.schema.id, ENTERPRISE_USER_SCHEMA],
            "id": "x", "meta": {"created": "2010-01-23T04:56:22Z"}, "userName": "u",
            "groups": [{"value": "g"}],
            ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m", "displayName": "Boss"}}
        }))
        .unwrap();
        assert!(n.quirks.is_empty());
        assert_eq!(
            n.doc,
            json!({"schemas": [USER_RESOURCE.schema.id, ENTERPRISE_USER_SCHEMA], "userName": "u",
                   ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m"}}})
        );
    }

    #[test]
    fn coercions_add_quirks() {
        let n = user(json!({
            "userName": "u",
            "active": "True",
            "title": "",
            "name": {"givenName": "", "familyName": "F"},
            "emails": {"value": "a@b.c", "type": "work"},
            "password": "secret",
            "nickName": null,
            "phoneNumbers": []
        }))
        .unwrap();
        assert_eq!(
            n.doc,
            json!({"schemas": [USER_RESOURCE.schema.id], "userName": "u", "active": true,
                   "name": {"familyName": "F"},
                   "emails": [{"value": "a@b.c", "type": "work"}]})
        );
        for q in [
            "the request has no 'schemas'; assumed 'urn:ietf:params:scim:schemas:core:2.0:User'",
            "converted the string \"True\" given for boolean 'active' to true",
            "treated the empty string given for 'title' as absent",
            "treated the empty string given for 'name.givenName' as absent",
            "wrapped the single value given for multi-valued 'emails' in an array",
            "ignored 'password': passwords are not stored",
        ] {
            assert!(
                n.quirks.contains(&q.to_string()),
                "missing {q}: {:?}",
                n.quirks
            );
        }
        let n = user(json!({"userName": "u", "active": "false"})).unwrap();
        assert_eq!(n.doc["active"], false);
    }

    #[test]
    fn one_primary_and_no_duplicates() {
        let n = user(json!({
            "userName": "u",
            "emails": [
                {"value": "a@x", "primary": true},
                {"value": "b@x", "primary": true},
                {"value": "a@x", "primary": true},
                {"value": "c@x"}
            ]
        }))
        .unwrap();
        assert_eq!(
            n.doc["emails"],
            json!([{"value": "a@x", "primary": true}, {"value": "b@x", "primary": false},
                   {"value": "a@x", "primary": false}, {"value": "c@x"}])
        );
        // Idempotent even after the primary repair.
        let again = user(n.doc.clone()).unwrap();
        assert_eq!(again.doc, n.doc);
        assert!(again.quirks.is_empty());
        let n =
            user(json!({"userName": "u", "emails": [{"value": "a@x"}, {"value": "a@x"}]})).unwrap();
        assert_eq!(n.doc["emails"], json!([{"value": "a@x"}]));
    }

    #[test]
    fn type_errors_name_the_attribute() {
        let e = user(json!({"userName": "u", "active": "yes"})).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(
            e.detail.contains("'active' must be a boolean"),
            "{}",
            e.detail
        );
        let e = user(json!({"userName": "u", "emails": [{"value": 5}]})).unwrap_err();
        assert!(
            e.detail.contains("'emails[0].value' must be a string"),
            "{}",
            e.detail
        );
        let e = user(json!({"userName": "u", "name": "Bob"})).unwrap_err();
        assert!(
            e.detail.contains("'name' must be a complex value"),
            "{}",
            e.detail
        );
        let e = user(json!({"userName": "u", "displayName": ["a"]})).unwrap_err();
        assert!(e.detail.contains("single-valued"), "{}", e.detail);
        let e = user(json!({"userName": "u", "emails": "a@b.c"})).unwrap_err();
        assert!(e.detail.contains("multi-valued"), "{}", e.detail);
        assert_eq!(
            err_type(user(json!({"userName": 5}))),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn schema_errors() {
        assert_eq!(err_type(user(json!([1]))), ScimType::InvalidSyntax);
        let e = user(json!({"schemas": ["urn:foo"], "userName": "u"})).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("urn:foo"));
        assert_eq!(
            err_type(user(json!({"schemas": "x", "userName": "u"}))),
            ScimType::InvalidValue
        );
        let e = user(json!({"userName": "u", "urn:okta:custom:1.0:User": {"a": 1}})).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("urn:okta:custom:1.0:User"));
        assert_eq!(
            err_type(user(json!({"userName": "u", ENTERPRISE_USER_SCHEMA: "x"}))),
            ScimType::InvalidValue
        );
        // A group body on the User endpoint.
        assert_eq!(
            err_type(user(
                json!({"schemas": [GROUP_RESOURCE.schema.id], "userName": "u"})
            )),
            ScimType::InvalidValue
        );
    }

    #[test]
    fn required_attributes() {
        let e = user(json!({"schemas": [USER_RESOURCE.schema.id]})).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("userName"));
        assert_eq!(
            err_type(user(json!({"userName": ""}))),
            ScimType::InvalidValue
        );
        assert_eq!(
            err_type(user(json!({"userName": null}))),
            ScimType::InvalidValue
        );
        let e = canonicalize(&GROUP_RESOURCE, &json!({"members": []})).unwrap_err();
        assert!(e.detail.contains("displayName"));
    }

    #[test]
    fn datetime_and_numbers() {
        // No dateTime/integer attributes are client-writable in these schemas, so check the
        // scalar rules directly.
        let meta = USER_RESOURCE.core_attribute("meta").unwrap();
        let created = meta.sub("created").unwrap();
        let mut q = Vec::new();
        assert!(
            canonicalize_value(created, &json!("2011-05-13T04:42:34Z"), "c", &mut q)
                .unwrap()
                .is_some()
        );
        assert!(canonicalize_value(created, &json!("2011-05-13"), "c", &mut q).is_err());
        assert!(canonicalize_value(created, &json!(5), "c", &mut q).is_err());
    }

    #[test]
    fn schemas_are_recomputed() {
        let n = user(json!({
            "schemas": [ENTERPRISE_USER_SCHEMA],
            "userName": "u",
            ENTERPRISE_USER_SCHEMA: {"department": "D"}
        }))
        .unwrap();
        assert_eq!(
            n.doc["schemas"],
            json!([USER_RESOURCE.schema.id, ENTERPRISE_USER_SCHEMA])
        );
        assert_eq!(n.quirks.len(), 1, "{:?}", n.quirks);
        let n = user(json!({
            "schemas": [USER_RESOURCE.schema.id],
            "userName": "u",
            ENTERPRISE_USER_SCHEMA: {"department": "D"}
        }))
        .unwrap();
        assert_eq!(
            n.quirks,
            vec![format!(
                "'schemas' does not list '{ENTERPRISE_USER_SCHEMA}'; added it"
            )]
        );
    }

    #[test]
    fn empty_extension_is_dropped_from_schemas() {
        let n = user(json!({
            "schemas": [USER_RESOURCE.schema.id, ENTERPRISE_USER_SCHEMA],
            "userName": "u",
            ENTERPRISE_USER_SCHEMA: {"department": ""}
        }))
        .unwrap();
        assert_eq!(
            n.doc,
            json!({"schemas": [USER_RESOURCE.schema.id], "userName": "u"})
        );
    }

    #[test]
    fn primary_email_rules() {
        assert_eq!(
            primary_email(&json!({"userName": "u", "emails": [
                {"value": "Home@X.com", "type": "home"},
                {"value": " Work@X.com ", "type": "work"},
                {"value": "p@x.com", "primary": true}]})),
            Some("p@x.com".into())
        );
        assert_eq!(
            primary_email(&json!({"emails": [
                {"value": "home@x.com", "type": "home"},
                {"value": " Work@X.com ", "type": "work"}]})),
            Some("work@x.com".into())
        );
        assert_eq!(
            primary_email(&json!({"emails": [{"value": "a@x.com"}, {"value": "b@x.com"}]})),
            Some("a@x.com".into())
        );
        assert_eq!(
            primary_email(&json!({"userName": " BJensen@Example.com"})),
            Some("bjensen@example.com".into())
        );
        assert_eq!(primary_email(&json!({"userName": "bjensen"})), None);
        assert_eq!(primary_email(&json!({"userName": "a@b@c"})), None);
        assert_eq!(primary_email(&json!({"userName": "@b"})), None);
        assert_eq!(primary_email(&json!({"userName": "a@"})), None);
    }

    /// Random documents built from real and bogus keys and values: never a panic, every error
    /// a 400 with a scimType, every result canonical and a fixed point.
    #[test]
    fn fuzz_canonicalize_is_idempotent() {
        use crate::scim::filter::tests_support::Lcg;
        fn random_value(rng: &mut Lcg, depth: u32) -> Value {
            let keys = [
                "userName",
                "USERNAME",
                "name",
                "givenName",
                "name.familyName",
                "emails",
                "value",
                "type",
                "primary",
                "active",
                "id",
                "meta",
                "password",
                "display",
                "manager",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "schemas",
                "bogus",
                "members",
                "$ref",
                "x509Certificates",
                "title",
            ];
            match rng.next() % if depth > 2 { 6 } else { 8 } {
                0 => Value::Null,
                1 => json!(rng.below(2) == 0),
                2 => json!(
                    ["", "x", "True", "false", "2011-05-13T04:42:34Z"][rng.next() as usize % 5]
                ),
                3 => json!(rng.next() % 100),
                4 => json!(""),
                5 => json!(USER_RESOURCE.schema.id),
                6 => Value::Array(
                    (0..rng.next() % 4)
                        .map(|_| random_value(rng, depth + 1))
                        .collect(),
                ),
                _ => {
                    let mut m = Map::new();
                    for _ in 0..rng.next() % 6 {
                        let k = keys[rng.next() as usize % keys.len()];
                        m.insert(k.to_string(), random_value(rng, depth + 1));
                    }
                    Value::Object(m)
                }
            }
        }
        let mut rng = Lcg(99);
        let mut ok = 0;
        for _ in 0..5000 {
            let mut doc = random_value(&mut rng, 0);
            if let Value::Object(m) = &mut doc {
                if rng.below(2) == 0 {
                    m.insert("userName".into(), json!("u"));
                }
            }
            match canonicalize(&USER_RESOURCE, &doc) {
                Ok(n) => {
                    ok += 1;
                    let again = canonicalize(&USER_RESOURCE, &n.doc).unwrap();
                    assert_eq!(again.doc, n.doc, "{doc}");
                    assert!(again.quirks.is_empty(), "{doc}: {:?}", again.quirks);
                }
                Err(e) => {
                    assert_eq!(e.status, 400, "{doc}");
                    assert!(e.scim_type.is_some(), "{doc}");
                }
            }
        }
        assert!(ok > 100, "only {ok} random documents were accepted");
    }
}
