//! RFC 7644 §3.5.2 PATCH: parsing a PatchOp request and applying it to a stored document.
//!
//! Values are canonicalized with exactly the rules of [`crate::scim::resource`], and the
//! result is re-canonicalized, so a PATCH that sets what is already there yields a document
//! equal (`==`) to the stored one.
//!
//! Decisions where the RFC is open:
//! - `add`/`replace` on a single-valued complex attribute merge sub-attributes (RFC 7644
//!   §3.5.2.3); a sub-attribute given as `null` or `""` in the value is removed.
//! - `add`/`replace` whose value is `null`/`""`/`[]`: `replace` unassigns the target, `add` is a
//!   no-op.
//! - `add`/`replace` with a value filter that matches no element creates one when the filter
//!   is a conjunction of `sub eq "literal"` (Entra relies on this); otherwise noTarget.
//! - `add`/`replace` of a whole element selected by a filter (`members[value eq "x"]`) replaces
//!   the element, keeping the sub-attributes the filter pins with `eq` so it stays selectable.
//! - `x.sub` on a multi-valued attribute without a filter targets every element.
//! - `remove` whose filter matches nothing is a no-op (see [`apply_patch`]).
//! - `remove` with a `value` on a multi-valued attribute and no filter removes the listed
//!   elements (matched on `value` when given, else on equality) — Entra's member removal.
//! - A `path` that is just an extension URN: `add`/`replace` treat the value as that
//!   extension's object; `remove` removes every attribute of the extension.
//! - Setting a value that a `primary: true` element already has moves `primary` to it: the
//!   element the operation touched wins and the others get `primary: false` (RFC 7644 §3.5.2).
//! - Immutable attributes may be added when absent and "replaced" by an equal value; any other
//!   change or removal is `mutability`.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{parse_path, AttrPath, CompareOp, Filter, PatchPath};
use super::resource::{
    canonicalize, canonicalize_element, canonicalize_value, container_map, display_path, is_empty,
    kind, object_entry, resolve_in, resolve_key, write_only_quirk, Key, Normalized,
};
use super::schema::{AttrType, Attribute, Container, Mutability, ResourceType, PATCH_OP};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOpKind {
    Add,
    Replace,
    Remove,
}

impl PatchOpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Replace => "replace",
            PatchOpKind::Remove => "remove",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOpKind,
    pub path: Option<PatchPath>,
    /// The value as sent; canonicalized when the operation is applied.
    pub value: Option<Value>,
}

/// Parses a PatchOp request body. See [`parse_patch_with_quirks`].
pub fn parse_patch(
    rt: &'static ResourceType,
    body: &Value,
) -> Result<Vec<PatchOperation>, ScimError> {
    parse_patch_with_quirks(rt, body, &mut Vec::new())
}

/// Parses a PatchOp request body, noting accepted deviations (missing `schemas`, ...) in
/// `quirks`. Structural mistakes are invalidSyntax, bad paths invalidPath, a `remove` without
/// a path noTarget.
pub fn parse_patch_with_quirks(
    rt: &'static ResourceType,
    body: &Value,
    quirks: &mut Vec<String>,
) -> Result<Vec<PatchOperation>, ScimError> {
    let Value::Object(map) = body else {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH body must be a JSON object with 'schemas' and 'Operations', not {}",
            kind(body)
        )));
    };
    let mut schemas = None;
    let mut operations = None;
    for (key, value) in map {
        if key.eq_ignore_ascii_case("schemas") {
            schemas = Some(value);
        } else if key.eq_ignore_ascii_case("Operations") {
            operations = Some(value);
        } else {
            quirks.push(format!("ignored unknown PATCH request member '{key}'"));
        }
    }
    match schemas {
        None => quirks.push(format!(
            "the PATCH request has no 'schemas'; assumed '{PATCH_OP}'"
        )),
        Some(Value::Array(items))
            if items
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP))) => {}
        Some(_) => {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' of a PATCH request must be [\"{PATCH_OP}\"]"
            )))
        }
    }
    let operations = match operations {
        Some(Value::Array(ops)) if !ops.is_empty() => ops,
        Some(Value::Array(_)) => {
            return Err(ScimError::invalid_syntax(
                "'Operations' is empty; a PATCH request needs at least one operation",
            ))
        }
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "'Operations' must be an array of operations, not {}",
                kind(other)
            )))
        }
        None => {
            return Err(ScimError::invalid_syntax(
                "the PATCH request has no 'Operations' array",
            ))
        }
    };
    let mut out = Vec::with_capacity(operations.len());
    for (i, op) in operations.iter().enumerate() {
        parse_operation(rt, i, op, &mut out, quirks)?;
    }
    Ok(out)
}

fn parse_operation(
    rt: &'static ResourceType,
    i: usize,
    op: &Value,
    out: &mut Vec<PatchOperation>,
    quirks: &mut Vec<String>,
) -> Result<(), ScimError> {
    let Value::Object(map) = op else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{i}] must be a JSON object, not {}",
            kind(op)
        )));
    };
    let (mut name, mut path, mut value) = (None, None, None);
    for (key, v) in map {
        match key.to_ascii_lowercase().as_str() {
            "op" => name = Some(v),
            "path" => path = Some(v),
            "value" => value = Some(v),
            _ => quirks.push(format!("ignored unknown member '{key}' of Operations[{i}]")),
        }
    }
    let kind_ = match name {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("add") => PatchOpKind::Add,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("replace") => PatchOpKind::Replace,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("remove") => PatchOpKind::Remove,
        Some(Value::String(s)) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}]: unknown op \"{s}\"; expected add, replace or remove"
            )))
        }
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}]: 'op' must be a string, not {}",
                kind(other)
            )))
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}] has no 'op'"
            )))
        }
    };
    let path_text = match path {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => {
            quirks.push(format!(
                "treated the empty 'path' of Operations[{i}] as absent"
            ));
            None
        }
        Some(Value::String(s)) => Some(s.trim()),
        Some(other) => {
            return Err(ScimError::invalid_path(format!(
                "Operations[{i}]: 'path' must be a string, not {}",
                kind(other)
            )))
        }
    };
    let value = value.cloned();
    if kind_ != PatchOpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{i}]: '{}' requires a 'value'",
            kind_.as_str()
        )));
    }

    // A path that is only a schema URN targets that schema's attributes as a whole.
    if let Some((container, "")) = path_text.and_then(|p| rt.split_urn(p)) {
        return match (kind_, container) {
            (PatchOpKind::Remove, Container::Extension(schema)) => {
                for attr in schema.attributes {
                    out.push(PatchOperation {
                        op: PatchOpKind::Remove,
                        path: Some(PatchPath {
                            path: AttrPath {
                                container,
                                attr,
                                sub: None,
                            },
                            filter: None,
                            sub_after_filter: None,
                        }),
                        value: None,
                    });
                }
                Ok(())
            }
            (PatchOpKind::Remove, Container::Core) => Err(ScimError::invalid_path(format!(
                "Operations[{i}]: cannot remove the core schema '{}'",
                rt.schema.id
            ))),
            (_, _) => {
                let value = match container {
                    Container::Extension(schema) => {
                        let mut m = Map::new();
                        m.insert(schema.id.to_string(), value.unwrap_or(Value::Null));
                        Value::Object(m)
                    }
                    Container::Core => value.unwrap_or(Value::Null),
                };
                check_no_path_value(i, &value)?;
                out.push(PatchOperation {
                    op: kind_,
                    path: None,
                    value: Some(value),
                });
                Ok(())
            }
        };
    }

    let path = match path_text {
        Some(p) => Some(parse_path(rt, p).map_err(|e| ScimError {
            detail: format!("Operations[{i}]: {}", e.detail),
            ..e
        })?),
        None => None,
    };
    match (&path, &value) {
        (None, _) if kind_ == PatchOpKind::Remove => {
            return Err(ScimError::no_target(format!(
                "Operations[{i}]: 'remove' requires a 'path' naming what to remove"
            )))
        }
        (None, Some(v)) => check_no_path_value(i, v)?,
        _ => {}
    }
    out.push(PatchOperation {
        op: kind_,
        path,
        value,
    });
    Ok(())
}

fn check_no_path_value(i: usize, value: &Value) -> Result<(), ScimError> {
    if value.is_object() {
        Ok(())
    } else {
        Err(ScimError::invalid_value(format!(
            "Operations[{i}]: without a 'path', 'value' must be a JSON object of attributes, not {}",
            kind(value)
        )))
    }
}

/// Applies `ops` in order to the stored canonical document `doc` and returns the new canonical
/// document. Atomic: on the first failing operation the error is returned (its detail names
/// the operation) and nothing is applied.
pub fn apply_patch(
    rt: &'static ResourceType,
    doc: &Value,
    ops: &[PatchOperation],
) -> Result<Normalized, ScimError> {
    let Value::Object(stored) = doc else {
        return Err(ScimError::internal());
    };
    let mut work = stored.clone();
    let mut quirks = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        apply_operation(rt, &mut work, op, &mut quirks).map_err(|e| {
            let what = match &op.path {
                Some(p) => format!("{} '{p}'", op.op.as_str()),
                None => op.op.as_str().to_string(),
            };
            ScimError {
                detail: format!("Operations[{i}] ({what}): {}", e.detail),
                ..e
            }
        })?;
    }
    // Re-canonicalize: removes what the operations emptied, repairs `primary`, drops
    // duplicates, recomputes `schemas` and checks required attributes.
    work.insert(
        "schemas".into(),
        Value::Array(
            rt.schema_ids()
                .map(|id| Value::String(id.to_string()))
                .collect(),
        ),
    );
    let normalized = canonicalize(rt, &Value::Object(work)).map_err(|e| ScimError {
        detail: format!("after applying the operations: {}", e.detail),
        ..e
    })?;
    quirks.extend(normalized.quirks);
    Ok(Normalized {
        doc: normalized.doc,
        quirks,
    })
}

/// What one operation (or one attribute of a no-path value) targets.
struct Target<'a> {
    container: Container,
    attr: &'static Attribute,
    /// With a filter: the sub-attribute after it; without: the sub-attribute of the path.
    sub: Option<&'static Attribute>,
    filter: Option<&'a Filter>,
}

impl Target<'_> {
    fn describe(&self) -> String {
        match self.filter {
            None => display_path(self.container, self.attr, self.sub),
            Some(filter) => PatchPath {
                path: AttrPath {
                    container: self.container,
                    attr: self.attr,
                    sub: None,
                },
                filter: Some(filter.clone()),
                sub_after_filter: self.sub,
            }
            .to_string(),
        }
    }
}

fn apply_operation(
    rt: &'static ResourceType,
    work: &mut Map<String, Value>,
    op: &PatchOperation,
    quirks: &mut Vec<String>,
) -> Result<(), ScimError> {
    match &op.path {
        Some(path) => {
            let target = Target {
                container: path.path.container,
                attr: path.path.attr,
                sub: if path.filter.is_some() {
                    path.sub_after_filter
                } else {
                    path.path.sub
                },
                filter: path.filter.as_ref(),
            };
            apply_target(work, op.op, &target, op.value.as_ref(), quirks)
        }
        None if op.op == PatchOpKind::Remove => Err(ScimError::no_target(
            "'remove' requires a 'path' naming what to remove",
        )),
        None => match &op.value {
            Some(Value::Object(fields)) => apply_fields(rt, work, op.op, fields, quirks),
            other => Err(ScimError::invalid_value(format!(
                "without a 'path', 'value' must be a JSON object of attributes, not {}",
                other.as_ref().map_or("nothing", kind)
            ))),
        },
    }
}

/// A no-path `add`/`replace`: each member of the value object is applied as if it were the
/// operation's path. Keys may be in any case, dotted (`name.givenName`), URN-prefixed, or an
/// extension object under its URN.
fn apply_fields(
    rt: &'static ResourceType,
    work: &mut Map<String, Value>,
    op: PatchOpKind,
    fields: &Map<String, Value>,
    quirks: &mut Vec<String>,
) -> Result<(), ScimError> {
    for (key, value) in fields {
        match resolve_key(rt, key)? {
            Key::Schemas => quirks.push("ignored 'schemas' inside a PATCH value".to_string()),
            Key::SchemaObject(container) => match value {
                Value::Null => {}
                Value::Object(inner) => {
                    for (inner_key, inner_value) in inner {
                        match resolve_in(rt, container, inner_key) {
                            Some((attr, sub)) => {
                                let target = Target {
                                    container,
                                    attr,
                                    sub,
                                    filter: None,
                                };
                                apply_target(work, op, &target, Some(inner_value), quirks)?;
                            }
                            None => quirks
                                .push(format!("ignored unknown attribute '{key}:{inner_key}'")),
                        }
                    }
                }
                other => {
                    return Err(ScimError::invalid_value(format!(
                        "'{key}' must be a JSON object holding that schema's attributes, not {}",
                        kind(other)
                    )))
                }
            },
            Key::Attr {
                container,
                attr,
                sub,
            } => {
                // Okta echoes the group's `id` in a no-path replace; the server owns it.
                if container == Container::Core && (attr.name == "id" || attr.name == "meta") {
                    quirks.push(format!(
                        "ignored '{key}' inside a PATCH value: it is assigned by the server"
                    ));
                    continue;
                }
                let target = Target {
                    container,
                    attr,
                    sub,
                    filter: None,
                };
                apply_target(work, op, &target, Some(value), quirks)?;
            }
            Key::Unknown => quirks.push(format!("ignored unknown attribute '{key}'")),
        }
    }
    Ok(())
}

fn apply_target(
    work: &mut Map<String, Value>,
    op: PatchOpKind,
    target: &Target<'_>,
    value: Option<&Value>,
    quirks: &mut Vec<String>,
) -> Result<(), ScimError> {
    let path = target.describe();
    let attrs = std::iter::once(target.attr).chain(target.sub);
    if attrs.clone().any(|a| a.mutability == Mutability::ReadOnly) {
        return Err(ScimError::mutability(format!(
            "'{path}' is read-only and cannot be changed"
        )));
    }
    let value = value.unwrap_or(&Value::Null);
    if attrs
        .into_iter()
        .any(|a| a.mutability == Mutability::WriteOnly)
    {
        if op != PatchOpKind::Remove && !value.is_null() {
            quirks.push(write_only_quirk(&path));
        }
        return Ok(());
    }
    let container = container_map(work, target.container)?;
    match (target.filter, target.sub) {
        (None, None) => whole_attribute(container, op, target.attr, value, &path, quirks),
        (None, Some(sub)) if !target.attr.multi_valued => {
            single_sub_attribute(container, op, target.attr, sub, value, &path, quirks)
        }
        _ => elements(container, op, target, value, &path, quirks),
    }
}

/// `path` names a whole attribute (`active`, `emails`, `name`, `urn:...:manager`).
fn whole_attribute(
    container: &mut Map<String, Value>,
    op: PatchOpKind,
    attr: &'static Attribute,
    value: &Value,
    path: &str,
    quirks: &mut Vec<String>,
) -> Result<(), ScimError> {
    let existing = container.get(attr.name).cloned();
    if op == PatchOpKind::Remove {
        if attr.multi_valued && !value.is_null() {
            return remove_listed(container, attr, value, path, quirks);
        }
        check_immutable(attr, existing.is_some(), path)?;
        container.remove(attr.name);
        return Ok(());
    }
    // Single-valued complex: merge sub-attributes (RFC 7644 §3.5.2.1 and §3.5.2.3).
    if attr.ty == AttrType::Complex && !attr.multi_valued && !is_empty(value) {
        let new = canonicalize_value(attr, value, path, quirks)?;
        let mut object = match existing {
            Some(Value::Object(o)) => o,
            _ => Map::new(),
        };
        if let Value::Object(raw) = value {
            for (key, v) in raw {
                if let (true, Some(sub)) = (is_empty(v), attr.sub(key)) {
                    check_immutable(sub, object.contains_key(sub.name), path)?;
                    object.remove(sub.name);
                }
            }
        }
        if let Some(Value::Object(new)) = new {
            for (key, v) in new {
                if let Some(sub) = attr.sub(&key) {
                    check_immutable(sub, object.get(&key).is_some_and(|old| *old != v), path)?;
                }
                object.insert(key, v);
            }
        }
        container.insert(attr.name.to_string(), Value::Object(object));
        return Ok(());
    }
    let Some(new) = canonicalize_value(attr, value, path, quirks)? else {
        // Replacing with nothing unassigns; adding nothing changes nothing.
        if op == PatchOpKind::Replace {
            check_immutable(attr, existing.is_some(), path)?;
            container.remove(attr.name);
        }
        return Ok(());
    };
    match (op, new) {
        (PatchOpKind::Add, Value::Array(new_items)) => {
            // Add to a multi-valued attribute appends, skipping values already there.
            let mut items = match existing {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            let before = items.len();
            let mut touched = Vec::new();
            for item in new_items {
                match items.iter().position(|x| *x == item) {
                    Some(i) => touched.push(i),
                    None => {
                        items.push(item);
                        touched.push(items.len() - 1);
                    }
                }
            }
            check_immutable(attr, before > 0 && items.len() != before, path)?;
            primary_moves_to(&mut items, &touched);
            container.insert(attr.name.to_string(), Value::Array(items));
        }
        (_, new) => {
            check_immutable(attr, existing.as_ref().is_some_and(|old| *old != new), path)?;
            container.insert(attr.name.to_string(), new);
        }
    }
    Ok(())
}

/// `remove` with a value on a multi-valued attribute: remove the listed elements, matched on
/// their `value` sub-attribute when they have one, else on equality. Entra removes group
/// members this way: `{"op":"Remove","path":"members","value":[{"value":"id"}]}`.
fn remove_listed(
    container: &mut Map<String, Value>,
    attr: &'static Attribute,
    value: &Value,
    path: &str,
    quirks: &mut Vec<String>,
) -> Result<(), ScimError> {
    let listed: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![value],
        other => {
            return Err(ScimError::invalid_value(format!(
                "to remove values of '{path}', 'value' must be an array of objects, not {}",
                kind(other)
            )))
        }
    };
    let Some(Value::Array(mut items)) = container.get(attr.name).cloned() else {
        return Ok(());
    };
    let value_sub = attr.sub("value");
    for (j, raw) in listed.into_iter().enumerate() {
        let Some(wanted) = canonicalize_element(attr, raw, &format!("{path}[{j}]"), quirks)? else {
            continue;
        };
        match (value_sub, wanted.get("value")) {
            (Some(sub), Some(v)) => {
                items.retain(|e| !e.get("value").is_some_and(|ev| same(sub, ev, v)))
            }
            _ => items.retain(|e| *e != wanted),
        }
    }
    container.insert(attr.name.to_string(), Value::Array(items));
    Ok(())
}

/// Equality honoring `caseExact` for strings.
fn same(attr: &Attribute, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) if !attr.case_exact => {
            a.to_lowercase() == b.to_lowercase()
        }
        _ => a == b,
    }
}

/// `path` is `attr.sub` on a single-valued complex attribute (`name.givenName`).
fn single_sub_attribute(
    container: &mut Map<String, Value>,
    op: PatchOpKind,
    attr: &'static Attribute,
    sub: &'static Attribute,
    value: &Value,
    path: &str,
    quirks: &mut Vec<String>,
) -> Result<(), ScimError> {
    let object = object_entry(container, attr.name)?;
    let existing = object.get(sub.name).cloned();
    let new = match op {
        PatchOpKind::Remove => None,
        PatchOpKind::Add | PatchOpKind::Replace => canonicalize_value(sub, value, path, quirks)?,
    };
    match new {
        Some(v) => {
            check_immutable(sub, existing.is_some_and(|old| old != v), path)?;
            object.insert(sub.name.to_string(), v);
        }
        None if op == PatchOpKind::Add => {}
        None => {
            check_immutable(sub, existing.is_some(), path)?;
            object.remove(sub.name);
        }
    }
    Ok(())
}

/// Element-wise targets: `attr[filter]`, `attr[filter].sub`, or `attr.sub` on a multi-valued
/// attribute (every element). A single-valued complex attribute with a filter is treated as a
/// list of at most one element.
fn elements(
    container: &mut Map<String, Value>,
    op: PatchOpKind,
    target: &Target<'_>,
    value: &Value,
    path: &str,
    quirks: &mut Vec<String>,
) -> Result<(), ScimError> {
    let attr = target.attr;
    let mut items: Vec<Value> = match container.get(attr.name) {
        Some(Value::Array(items)) => items.clone(),
        Some(v @ Value::Object(_)) => vec![v.clone()],
        _ => Vec::new(),
    };
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, e)| target.filter.is_none_or(|f| f.matches_element(e)))
        .map(|(i, _)| i)
        .collect();

    let new = match (op, target.sub) {
        (PatchOpKind::Remove, _) => None,
        (_, Some(sub)) => canonicalize_value(sub, value, path, quirks)?,
        (_, None) => canonicalize_element(attr, value, path, quirks)?,
    };
    let mut touched = Vec::new();

    if op == PatchOpKind::Remove || (op == PatchOpKind::Replace && new.is_none()) {
        // A remove whose filter matches nothing is a no-op rather than noTarget: IdPs retry
        // requests that timed out, and the retry must not fail because the first one worked.
        match target.sub {
            None => {
                let mut i = 0;
                items.retain(|_| {
                    i += 1;
                    !matched.contains(&(i - 1))
                });
            }
            Some(sub) => {
                for &i in &matched {
                    if let Some(element) = items[i].as_object_mut() {
                        check_immutable(sub, element.contains_key(sub.name), path)?;
                        element.remove(sub.name);
                    }
                }
            }
        }
    } else if let Some(new) = new {
        if matched.is_empty() {
            // RFC 7644 §3.5.2.3: a filter matching nothing is noTarget, except that a filter
            // made only of `sub eq "literal"` tells us what the missing element looks like
            // (Entra: `emails[type eq "work"].value` on a user without a work email).
            let seed = match target.filter {
                None => Some(Map::new()),
                Some(_) if !attr.multi_valued && !items.is_empty() => None,
                Some(filter) => equalities(filter),
            };
            let Some(mut element) = seed else {
                return Err(ScimError::no_target(format!(
                    "no value of '{}' matches the filter in '{path}'",
                    attr.name
                )));
            };
            match (target.sub, new) {
                (Some(sub), v) => {
                    element.insert(sub.name.to_string(), v);
                }
                (None, Value::Object(fields)) => element.extend(fields),
                (None, _) => return Err(ScimError::internal()),
            }
            items.push(Value::Object(element));
            touched.push(items.len() - 1);
        } else {
            for &i in &matched {
                match (target.sub, &new) {
                    (Some(sub), v) => {
                        let Some(element) = items[i].as_object_mut() else {
                            continue;
                        };
                        check_immutable(
                            sub,
                            element.get(sub.name).is_some_and(|old| old != v),
                            path,
                        )?;
                        element.insert(sub.name.to_string(), v.clone());
                    }
                    (None, Value::Object(fields)) => {
                        // Replace the element, keeping what the filter pins so it still matches.
                        let mut element = target.filter.and_then(equalities).unwrap_or_default();
                        element.extend(fields.clone());
                        items[i] = Value::Object(element);
                    }
                    (None, _) => return Err(ScimError::internal()),
                }
                touched.push(i);
            }
        }
    }

    primary_moves_to(&mut items, &touched);
    if attr.multi_valued {
        container.insert(attr.name.to_string(), Value::Array(items));
    } else {
        match items.into_iter().next() {
            Some(v) => container.insert(attr.name.to_string(), v),
            None => container.remove(attr.name),
        };
    }
    Ok(())
}

/// The sub-attribute values a filter made only of `sub eq literal` joined by `and` pins down;
/// `None` for any other filter (or contradictory pins).
fn equalities(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub.is_none() && !is_empty(value) => {
            let mut m = Map::new();
            m.insert(path.attr.name.to_string(), value.clone());
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = equalities(a)?;
            for (k, v) in equalities(b)? {
                if m.get(&k).is_some_and(|old| *old != v) {
                    return None;
                }
                m.insert(k, v);
            }
            Some(m)
        }
        _ => None,
    }
}

/// RFC 7644 §3.5.2: setting `primary: true` on a value makes the others non-primary. If an
/// element the operation touched is primary, the first such one keeps it and every other
/// primary element gets `primary: false`.
fn primary_moves_to(items: &mut [Value], touched: &[usize]) {
    let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
    let Some(&winner) = touched
        .iter()
        .find(|&&i| items.get(i).is_some_and(is_primary))
    else {
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        if i != winner && is_primary(item) {
            if let Some(obj) = item.as_object_mut() {
                obj.insert("primary".into(), Value::Bool(false));
            }
        }
    }
}

fn check_immutable(attr: &Attribute, changing: bool, path: &str) -> Result<(), ScimError> {
    if attr.mutability == Mutability::Immutable && changing {
        Err(ScimError::mutability(format!(
            "'{path}' is immutable: it can be set when absent but not changed or removed"
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{ENTERPRISE_USER_SCHEMA, GROUP_RESOURCE, USER_RESOURCE};
    use serde_json::json;

    const ENTERPRISE_USER: &str = include_str!("fixtures/rfc7643_enterprise_user.json");

    /// The RFC 7643 §8.3 user as stored (canonical).
    fn stored_user() -> Value {
        let input: Value = serde_json::from_str(ENTERPRISE_USER).unwrap();
        canonicalize(&USER_RESOURCE, &input).unwrap().doc
    }

    fn stored_group() -> Value {
        json!({
            "schemas": [GROUP_RESOURCE.schema.id],
            "displayName": "Tour Guides",
            "members": [{"value": "a"}, {"value": "b", "type": "User"}, {"value": "c"}]
        })
    }

    fn body(ops: Value) -> Value {
        json!({"schemas": [PATCH_OP], "Operations": ops})
    }

    fn patch_rt(
        rt: &'static ResourceType,
        doc: &Value,
        ops: Value,
    ) -> Result<Normalized, ScimError> {
        let ops = parse_patch(rt, &body(ops))?;
        apply_patch(rt, doc, &ops)
    }

    fn patch(doc: &Value, ops: Value) -> Result<Normalized, ScimError> {
        patch_rt(&USER_RESOURCE, doc, ops)
    }

    fn err(doc: &Value, ops: Value) -> ScimError {
        patch(doc, ops).unwrap_err()
    }

    fn ext(doc: &Value) -> &Value {
        &doc[ENTERPRISE_USER_SCHEMA]
    }

    #[test]
    fn okta_deactivate_without_path() {
        let doc = stored_user();
        let n = patch(&doc, json!([{"op": "replace", "value": {"active": false}}])).unwrap();
        assert_eq!(n.doc["active"], false);
        assert!(n.quirks.is_empty());
        let mut expected = doc.clone();
        expected["active"] = json!(false);
        assert_eq!(n.doc, expected);
    }

    #[test]
    fn entra_replace_active_with_string_boolean() {
        let doc = stored_user();
        let n = patch(
            &doc,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .unwrap();
        assert_eq!(n.doc["active"], false);
        assert_eq!(n.quirks.len(), 1, "{:?}", n.quirks);
        // And back again: already true -> no change.
        let n = patch(
            &doc,
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        )
        .unwrap();
        assert_eq!(n.doc, doc);
    }

    #[test]
    fn entra_add_work_email_creates_the_element() {
        let doc = json!({"schemas": [USER_RESOURCE.schema.id], "userName": "u",
                         "emails": [{"value": "h@x.com", "type": "home"}]});
        let n = patch(
            &doc,
            json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "x@y.com"}]),
        )
        .unwrap();
        assert_eq!(
            n.doc["emails"],
            json!([{"value": "h@x.com", "type": "home"}, {"type": "work", "value": "x@y.com"}])
        );
        // Same again: the element now exists, is updated in place, and nothing changes.
        let again = patch(
            &n.doc,
            json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "x@y.com"}]),
        )
        .unwrap();
        assert_eq!(again.doc, n.doc);
        // Replace updates only the matched element.
        let n = patch(
            &n.doc,
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@y.com"}]),
        )
        .unwrap();
        assert_eq!(
            n.doc["emails"],
            json!([{"value": "h@x.com", "type": "home"}, {"type": "work", "value": "new@y.com"}])
        );
        // Creation with several pinned sub-attributes.
        let n = patch(
            &doc,
            json!([{"op": "replace", "path": "phoneNumbers[type eq \"work\" and primary eq true].value", "value": "555"}]),
        )
        .unwrap();
        assert_eq!(
            n.doc["phoneNumbers"],
            json!([{"type": "work", "primary": true, "value": "555"}])
        );
    }

    #[test]
    fn entra_manager_as_bare_string() {
        let doc = stored_user();
        let n = patch(
            &doc,
            json!([{"op": "Replace",
                    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                    "value": "boss-id"}]),
        )
        .unwrap();
        assert_eq!(ext(&n.doc)["manager"]["value"], "boss-id");
        // Merge semantics: other sub-attributes are kept.
        assert!(ext(&n.doc)["manager"]["$ref"].is_string());
        let fresh = json!({"schemas": [USER_RESOURCE.schema.id], "userName": "u"});
        let n = patch(
            &fresh,
            json!([{"op": "Add",
                    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                    "value": "boss-id"}]),
        )
        .unwrap();
        assert_eq!(
            n.doc,
            json!({"schemas": [USER_RESOURCE.schema.id, ENTERPRISE_USER_SCHEMA], "userName": "u",
                   ENTERPRISE_USER_SCHEMA: {"manager": {"value": "boss-id"}}})
        );
        // The same request again changes nothing.
        let again = patch(
            &n.doc,
            json!([{"op": "Replace",
                    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                    "value": "boss-id"}]),
        )
        .unwrap();
        assert_eq!(again.doc, n.doc);
    }

    #[test]
    fn entra_sub_attribute_paths() {
        let doc = stored_user();
        let n = patch(
            &doc,
            json!([{"op": "Replace", "path": "name.givenName", "value": "X"}]),
        )
        .unwrap();
        assert_eq!(n.doc["name"]["givenName"], "X");
        assert_eq!(n.doc["name"]["familyName"], "Jensen");
        let n = patch(
            &doc,
            json!([{"op": "Replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1 Main St"}]),
        )
        .unwrap();
        assert_eq!(n.doc["addresses"][0]["streetAddress"], "1 Main St");
        assert_eq!(n.doc["addresses"][1]["streetAddress"], "456 Hollywood Blvd");
        let n = patch(
            &doc,
            json!([{"op": "Replace",
                    "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                    "value": "Sales"}]),
        )
        .unwrap();
        assert_eq!(ext(&n.doc)["department"], "Sales");
        let n = patch(
            &doc,
            json!([{"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"}]),
        )
        .unwrap();
        assert_eq!(
            ext(&n.doc)["manager"],
            json!({"$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d"})
        );
    }

    #[test]
    fn entra_remove_listed_members() {
        let g = stored_group();
        let n = patch_rt(
            &GROUP_RESOURCE,
            &g,
            json!([{"op": "Remove", "path": "members", "value": [{"value": "a"}, {"value": "c"}]}]),
        )
        .unwrap();
        assert_eq!(n.doc["members"], json!([{"value": "b", "type": "User"}]));
        // Members that are not there: nothing changes (and the whole attribute survives).
        let n = patch_rt(
            &GROUP_RESOURCE,
            &g,
            json!([{"op": "Remove", "path": "members", "value": [{"value": "zzz"}]}]),
        )
        .unwrap();
        assert_eq!(n.doc, g);
        // members.value is caseExact.
        let n = patch_rt(
            &GROUP_RESOURCE,
            &g,
            json!([{"op": "Remove", "path": "members", "value": [{"value": "A"}]}]),
        )
        .unwrap();
        assert_eq!(n.doc, g);
        // Removing every member leaves no `members` at all.
        let n = patch_rt(
            &GROUP_RESOURCE,
            &g,
            json!([{"op": "Remove", "path": "members", "value": [{"value": "a"}, {"value": "b"}, {"value": "c"}]}]),
        )
        .unwrap();
        assert_eq!(
            n.doc,
            json!({"schemas": [GROUP_RESOURCE.schema.id], "displayName": "Tour Guides"})
        );
        // Without a value the whole attribute goes.
        let n = patch_rt(
            &GROUP_RESOURCE,
            &g,
            json!([{"op": "remove", "path": "members"}]),
        )
        .unwrap();
        assert!(n.doc.get("members").is_none());
    }

    #[test]
    fn okta_group_operations() {
        let g = stored_group();
        // Okta's no-path replace echoes the id.
        let n = patch_rt(
            &GROUP_RESOURCE,
            &g,
            json!([{"op": "replace", "value": {"id": "e9e30dba", "displayName": "Guides"}}]),
        )
        .unwrap();
        assert_eq!(n.doc["displayName"], "Guides");
        assert!(n.doc.get("id").is_none());
        assert_eq!(n.quirks.len(), 1, "{:?}", n.quirks);
        // Add members: appended, duplicates skipped, readOnly `display` dropped.
        let n = patch_rt(
            &GROUP_RESOURCE,
            &g,
            json!([{"op": "add", "path": "members",
                    "value": [{"value": "a"}, {"value": "d", "display": "Dee"}]}]),
        )
        .unwrap();
        assert_eq!(
            n.doc["members"],
            json!([{"value": "a"}, {"value": "b", "type": "User"}, {"value": "c"}, {"value": "d"}])
        );
        // Remove one member by filter.
        let n = patch_rt(
            &GROUP_RESOURCE,
            &g,
            json!([{"op": "remove", "path": "members[value eq \"b\"]"}]),
        )
        .unwrap();
        assert_eq!(n.doc["members"], json!([{"value": "a"}, {"value": "c"}]));
        // Replace the whole set.
        let n = patch_rt(
            &GROUP_RESOURCE,
            &g,
            json!([{"op": "replace", "path": "members", "value": [{"value": "z"}]}]),
        )
        .unwrap();
        assert_eq!(n.doc["members"], json!([{"value": "z"}]));
    }

    #[test]
    fn no_path_value_keys_in_any_form() {
        let doc = json!({"schemas": [USER_RESOURCE.schema.id], "userName": "u", "name": {"familyName": "F"}});
        let n = patch(
            &doc,
            json!([{"op": "Add", "value": {
                "NAME.GIVENNAME": "G",
                "displayname": "D",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Ops",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"costCenter": "42", "Manager": "m1"},
                "urn:ietf:params:scim:schemas:core:2.0:User:title": "Dr",
                "emails": [{"value": "a@b.c", "type": "work", "primary": "True"}],
                "schemas": ["whatever"],
                "meta": {"version": "x"},
                "bogus": 1
            }}]),
        )
        .unwrap();
        assert_eq!(
            n.doc,
            json!({
                "schemas": [USER_RESOURCE.schema.id, ENTERPRISE_USER_SCHEMA],
                "userName": "u",
                "name": {"familyName": "F", "givenName": "G"},
                "displayName": "D",
                "title": "Dr",
                "emails": [{"value": "a@b.c", "type": "work", "primary": true}],
                ENTERPRISE_USER_SCHEMA: {"department": "Ops", "costCenter": "42", "manager": {"value": "m1"}}
            })
        );
        for q in [
            "ignored 'schemas' inside a PATCH value",
            "ignored unknown attribute 'bogus'",
        ] {
            assert!(n.quirks.contains(&q.to_string()), "{:?}", n.quirks);
        }
        // Okta-style replace of a complex attribute merges sub-attributes; "" clears one.
        let n = patch(
            &n.doc,
            json!([{"op": "replace", "value": {"name": {"givenName": "G2", "familyName": ""}}}]),
        )
        .unwrap();
        assert_eq!(n.doc["name"], json!({"givenName": "G2"}));
        // An unknown extension URN is an error, not a quirk.
        let e = err(
            &doc,
            json!([{"op": "add", "value": {"urn:acme:ext:1.0:User:x": 1}}]),
        );
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn add_appends_and_moves_primary() {
        let doc = stored_user();
        let n = patch(
            &doc,
            json!([{"op": "add", "path": "emails",
                    "value": [{"value": "new@x.com", "type": "other", "primary": true}]}]),
        )
        .unwrap();
        assert_eq!(
            n.doc["emails"],
            json!([
                {"value": "bjensen@example.com", "type": "work", "primary": false},
                {"value": "babs@jensen.org", "type": "home"},
                {"value": "new@x.com", "type": "other", "primary": true}
            ])
        );
        // A single object for a multi-valued attribute is wrapped.
        let n = patch(
            &doc,
            json!([{"op": "add", "path": "ims", "value": {"value": "h2", "type": "aim"}}]),
        )
        .unwrap();
        assert_eq!(
            n.doc["ims"],
            json!([{"value": "someaimhandle", "type": "aim"}, {"value": "h2", "type": "aim"}])
        );
        // Setting primary through a filter path moves it too.
        let n = patch(
            &doc,
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
        )
        .unwrap();
        assert_eq!(n.doc["emails"][0]["primary"], false);
        assert_eq!(n.doc["emails"][1]["primary"], true);
    }

    #[test]
    fn replace_and_remove_with_filters() {
        let doc = stored_user();
        // Whole element replaced, keeping what the filter pins.
        let n = patch(
            &doc,
            json!([{"op": "replace", "path": "phoneNumbers[type eq \"work\"]", "value": {"value": "111"}}]),
        )
        .unwrap();
        assert_eq!(
            n.doc["phoneNumbers"][0],
            json!({"type": "work", "value": "111"})
        );
        // Non-simple filter that matches nothing: noTarget.
        let e = err(
            &doc,
            json!([{"op": "replace", "path": "emails[value co \"nobody\"].type", "value": "work"}]),
        );
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
        assert!(e.detail.contains("Operations[0]"), "{}", e.detail);
        // Remove a sub-attribute of the matched elements only.
        let n = patch(
            &doc,
            json!([{"op": "remove", "path": "addresses[type eq \"work\"].formatted"}]),
        )
        .unwrap();
        assert!(n.doc["addresses"][0].get("formatted").is_none());
        assert!(n.doc["addresses"][1].get("formatted").is_some());
        // Remove matched elements; remove with a filter matching nothing is a no-op.
        let n = patch(
            &doc,
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
        )
        .unwrap();
        assert_eq!(
            n.doc["emails"],
            json!([{"value": "bjensen@example.com", "type": "work", "primary": true}])
        );
        let n = patch(
            &doc,
            json!([{"op": "remove", "path": "emails[type eq \"other\"]"}]),
        )
        .unwrap();
        assert_eq!(n.doc, doc);
        // Remove a whole attribute (present or not).
        let n = patch(&doc, json!([{"op": "remove", "path": "phoneNumbers"}, {"op": "remove", "path": "nickName"}, {"op": "remove", "path": "nickName"}])).unwrap();
        assert!(n.doc.get("phoneNumbers").is_none());
        assert!(n.doc.get("nickName").is_none());
        // Sub-attribute of every element when no filter.
        let n = patch(&doc, json!([{"op": "remove", "path": "emails.type"}])).unwrap();
        assert_eq!(
            n.doc["emails"],
            json!([{"value": "bjensen@example.com", "primary": true}, {"value": "babs@jensen.org"}])
        );
        // Filter on a single-valued complex attribute.
        let n = patch(
            &doc,
            json!([{"op": "replace", "path": "name[givenName eq \"Barbara\"].nickName", "value": "x"}]),
        );
        assert_eq!(n.unwrap_err().scim_type, Some(ScimType::InvalidPath));
        let n = patch(&doc, json!([{"op": "replace", "path": "name[givenName eq \"Barbara\"].familyName", "value": "J"}])).unwrap();
        assert_eq!(n.doc["name"]["familyName"], "J");
        let e = err(
            &doc,
            json!([{"op": "replace", "path": "name[givenName eq \"Nope\"].familyName", "value": "J"}]),
        );
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
        // The extension as a whole.
        let n = patch(
            &doc,
            json!([{"op": "remove", "path": ENTERPRISE_USER_SCHEMA}]),
        )
        .unwrap();
        assert!(n.doc.get(ENTERPRISE_USER_SCHEMA).is_none());
        assert_eq!(n.doc["schemas"], json!([USER_RESOURCE.schema.id]));
        let n = patch(
            &doc,
            json!([{"op": "add", "path": ENTERPRISE_USER_SCHEMA, "value": {"division": "D2"}}]),
        )
        .unwrap();
        assert_eq!(ext(&n.doc)["division"], "D2");
        assert_eq!(ext(&n.doc)["department"], "Tour Operations");
    }

    #[test]
    fn replace_with_null_unassigns() {
        let doc = stored_user();
        let n = patch(&doc, json!([{"op": "replace", "path": "title", "value": null}, {"op": "replace", "path": "nickName", "value": ""}])).unwrap();
        assert!(n.doc.get("title").is_none() && n.doc.get("nickName").is_none());
        let n = patch(&doc, json!([{"op": "add", "path": "title", "value": ""}])).unwrap();
        assert_eq!(n.doc, doc);
    }

    #[test]
    fn mutability_errors() {
        let doc = stored_user();
        for (op, path) in [
            ("replace", "id"),
            ("add", "meta.lastModified"),
            ("remove", "meta"),
            ("add", "groups"),
            ("replace", "groups[value eq \"x\"].display"),
            (
                "replace",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
            ),
        ] {
            let e = err(&doc, json!([{"op": op, "path": path, "value": "x"}]));
            assert_eq!(e.scim_type, Some(ScimType::Mutability), "{op} {path}: {e}");
            assert!(e.detail.contains("read-only"), "{}", e.detail);
        }
        let e = err(
            &doc,
            json!([{"op": "add", "value": {"groups": [{"value": "g"}]}}]),
        );
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        // Immutable: members[].type can be set when absent, not changed once set.
        let g = stored_group();
        let n = patch_rt(
            &GROUP_RESOURCE,
            &g,
            json!([{"op": "add", "path": "members[value eq \"a\"].type", "value": "User"}]),
        )
        .unwrap();
        assert_eq!(n.doc["members"][0], json!({"value": "a", "type": "User"}));
        let same = patch_rt(
            &GROUP_RESOURCE,
            &n.doc,
            json!([{"op": "replace", "path": "members[value eq \"a\"].type", "value": "User"}]),
        )
        .unwrap();
        assert_eq!(same.doc, n.doc);
        for ops in [
            json!([{"op": "replace", "path": "members[value eq \"b\"].type", "value": "Group"}]),
            json!([{"op": "remove", "path": "members[value eq \"b\"].type"}]),
            json!([{"op": "replace", "path": "members[value eq \"a\"].value", "value": "a2"}]),
        ] {
            let e = patch_rt(&GROUP_RESOURCE, &g, ops).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::Mutability));
            assert!(e.detail.contains("immutable"), "{}", e.detail);
        }
        // Password: accepted, not stored.
        let n = patch(
            &doc,
            json!([{"op": "replace", "path": "password", "value": "s3cret"}]),
        )
        .unwrap();
        assert_eq!(n.doc, doc);
        assert_eq!(
            n.quirks,
            vec!["ignored 'password': passwords are not stored"]
        );
    }

    #[test]
    fn request_errors() {
        let doc = stored_user();
        let rt = &USER_RESOURCE;
        let cases: Vec<(Value, ScimType)> = vec![
            (json!([]), ScimType::InvalidSyntax),
            (json!({"schemas": [PATCH_OP]}), ScimType::InvalidSyntax),
            (
                json!({"schemas": [PATCH_OP], "Operations": []}),
                ScimType::InvalidSyntax,
            ),
            (
                json!({"schemas": [PATCH_OP], "Operations": {}}),
                ScimType::InvalidSyntax,
            ),
            (
                json!({"schemas": ["urn:x"], "Operations": [{"op": "add", "value": {}}]}),
                ScimType::InvalidSyntax,
            ),
            (
                body(json!([{"op": "move", "path": "title"}])),
                ScimType::InvalidSyntax,
            ),
            (body(json!([{"path": "title"}])), ScimType::InvalidSyntax),
            (body(json!([{"op": 1}])), ScimType::InvalidSyntax),
            (body(json!(["add"])), ScimType::InvalidSyntax),
            (
                body(json!([{"op": "add", "path": "title"}])),
                ScimType::InvalidSyntax,
            ),
            (body(json!([{"op": "remove"}])), ScimType::NoTarget),
            (
                body(json!([{"op": "remove", "value": {"title": "x"}}])),
                ScimType::NoTarget,
            ),
            (
                body(json!([{"op": "add", "path": "foo", "value": 1}])),
                ScimType::InvalidPath,
            ),
            (
                body(json!([{"op": "add", "path": "emails[type eq", "value": 1}])),
                ScimType::InvalidPath,
            ),
            (
                body(json!([{"op": "add", "path": 5, "value": 1}])),
                ScimType::InvalidPath,
            ),
            (
                body(json!([{"op": "add", "value": "x"}])),
                ScimType::InvalidValue,
            ),
        ];
        for (b, expected) in cases {
            let e = parse_patch(rt, &b).unwrap_err();
            assert_eq!(e.scim_type, Some(expected), "{b}: {e}");
        }
        for (ops, expected) in [
            (
                json!([{"op": "replace", "path": "active", "value": "maybe"}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "replace", "path": "name", "value": 5}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "add", "path": "emails", "value": "a@b.c"}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "replace", "path": "displayName", "value": ["x"]}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "remove", "path": "userName"}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "replace", "path": "userName", "value": ""}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "replace", "path": ENTERPRISE_USER_SCHEMA, "value": "x"}]),
                ScimType::InvalidValue,
            ),
        ] {
            let e = err(&doc, ops.clone());
            assert_eq!(e.scim_type, Some(expected), "{ops}: {e}");
        }
    }

    #[test]
    fn lenient_request_shapes() {
        let doc = stored_user();
        let mut quirks = Vec::new();
        let ops = parse_patch_with_quirks(
            &USER_RESOURCE,
            &json!({"operations": [{"OP": "REPLACE", "Path": "title", "Value": "Boss"}]}),
            &mut quirks,
        )
        .unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].op, PatchOpKind::Replace);
        assert_eq!(quirks.len(), 1, "{quirks:?}");
        assert_eq!(
            apply_patch(&USER_RESOURCE, &doc, &ops).unwrap().doc["title"],
            "Boss"
        );
    }

    #[test]
    fn operations_are_atomic_and_ordered() {
        let doc = stored_user();
        let e = err(
            &doc,
            json!([{"op": "replace", "path": "title", "value": "Boss"},
                   {"op": "replace", "path": "active", "value": "nope"}]),
        );
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(
            e.detail.starts_with("Operations[1] (replace 'active')"),
            "{}",
            e.detail
        );
        // Later operations see earlier ones.
        let n = patch(
            &doc,
            json!([{"op": "remove", "path": "emails"},
                   {"op": "add", "path": "emails", "value": [{"value": "only@x.com"}]},
                   {"op": "replace", "path": "emails[value eq \"only@x.com\"].type", "value": "work"}]),
        )
        .unwrap();
        assert_eq!(
            n.doc["emails"],
            json!([{"value": "only@x.com", "type": "work"}])
        );
    }

    #[test]
    fn patches_that_change_nothing_give_an_equal_doc() {
        let doc = stored_user();
        let no_ops = [
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
            json!([{"op": "replace", "value": {"active": true, "userName": "bjensen@example.com"}}]),
            json!([{"op": "add", "path": "emails", "value": [{"value": "babs@jensen.org", "type": "home"}]}]),
            json!([{"op": "add", "path": "emails", "value": {"type": "home", "value": "babs@jensen.org"}}]),
            json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "bjensen@example.com"}]),
            json!([{"op": "Replace", "path": "name.givenName", "value": "Barbara"}]),
            json!([{"op": "replace", "value": {"name": {"givenName": "Barbara", "familyName": "Jensen"}}}]),
            json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                    "value": "26118915-6090-4610-87e4-49d8ca9f808d"}]),
            json!([{"op": "replace", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Tour Operations"}}]),
            json!([{"op": "replace", "path": "emails", "value": doc["emails"].clone()}]),
            json!([{"op": "remove", "path": "emails[type eq \"other\"]"}]),
            json!([{"op": "remove", "path": "nickName"}, {"op": "add", "path": "nickName", "value": "Babs"}]),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].primary", "value": true}]),
            json!([{"op": "add", "path": "title", "value": null}]),
        ];
        for ops in no_ops {
            let n = patch(&doc, ops.clone()).unwrap();
            assert_eq!(n.doc, doc, "{ops}");
        }
        let g = stored_group();
        for ops in [
            json!([{"op": "Remove", "path": "members", "value": [{"value": "nobody"}]}]),
            json!([{"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "c", "display": "C"}]}]),
            json!([{"op": "replace", "value": {"id": "x", "displayName": "Tour Guides"}}]),
        ] {
            let n = patch_rt(&GROUP_RESOURCE, &g, ops.clone()).unwrap();
            assert_eq!(n.doc, g, "{ops}");
        }
    }

    /// Random operations from Okta/Entra-shaped pieces: never a panic, every error a 400 with a
    /// scimType, and every result canonical (canonicalizing it again changes nothing).
    #[test]
    fn fuzz_random_operations() {
        let paths: &[Option<&str>] = &[
            None,
            Some("emails"),
            Some("emails[type eq \"work\"].value"),
            Some("emails[type eq \"work\"]"),
            Some("emails.value"),
            Some("emails[value co \"a\"].primary"),
            Some("name"),
            Some("name.givenName"),
            Some("name[givenName eq \"G\"].familyName"),
            Some("active"),
            Some("title"),
            Some("userName"),
            Some("id"),
            Some("members"),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
            Some("phoneNumbers[primary eq true and type eq \"work\"].value"),
            Some("addresses[type eq \"home\"].locality"),
            Some("x509Certificates"),
        ];
        let values = [
            json!("x"),
            json!("True"),
            json!(true),
            json!(null),
            json!(""),
            json!(5),
            json!([]),
            json!({}),
            json!({"value": "a@b", "primary": true, "type": "work"}),
            json!([{"value": "a"}, {"value": "a", "primary": true}, {"value": "b", "primary": "true"}]),
            json!({"givenName": "G", "familyName": ""}),
            json!({"emails": [{"value": "e"}], "name.givenName": "n", "Active": "False",
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "d",
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": "m"}}),
        ];
        let ops = ["add", "replace", "remove", "Add", "Replace", "Remove"];
        let start = stored_user();
        let mut rng = crate::scim::filter::tests_support::Lcg(7);
        let mut ok = 0;
        for _ in 0..3000 {
            let n = 1 + (rng.next() % 3) as usize;
            let mut list = Vec::new();
            for _ in 0..n {
                let mut op = Map::new();
                op.insert("op".into(), json!(ops[rng.next() as usize % ops.len()]));
                if let Some(p) = paths[rng.next() as usize % paths.len()] {
                    op.insert("path".into(), json!(p));
                }
                if rng.below(5) != 0 {
                    op.insert(
                        "value".into(),
                        values[rng.next() as usize % values.len()].clone(),
                    );
                }
                list.push(Value::Object(op));
            }
            match patch(&start, Value::Array(list.clone())) {
                Ok(n) => {
                    ok += 1;
                    let again = canonicalize(&USER_RESOURCE, &n.doc).unwrap();
                    assert_eq!(again.doc, n.doc, "{list:?}");
                    assert!(again.quirks.is_empty(), "{list:?}: {:?}", again.quirks);
                    let primaries = n.doc["emails"].as_array().map_or(0, |a| {
                        a.iter().filter(|e| e["primary"] == json!(true)).count()
                    });
                    assert!(primaries <= 1, "{list:?}");
                }
                Err(e) => {
                    assert_eq!(e.status, 400, "{list:?}");
                    assert!(e.scim_type.is_some(), "{list:?}");
                }
            }
        }
        assert!(ok > 300, "only {ok} random patches applied");
    }
}
