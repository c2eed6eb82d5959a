//! Group membership PATCH (S5, G6): the operations on `members` are not applied to a stored
//! document (members are items of their own) but turned into the exact membership change,
//! reading only the members they name, unless an operation needs the whole set.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{CompareOp, Filter};
use super::limits::check_member_id;
use super::patch::{PatchOpKind, PatchOperation};
use super::schema::{AttrType, Attribute};

/// Splits `members` off a canonical group document: the document without it, and the
/// member ids in request order, each once.
pub fn take_members(mut doc: Value) -> (Value, Vec<String>) {
    let members = doc
        .as_object_mut()
        .and_then(|o| o.remove("members"))
        .and_then(|m| m.as_array().cloned())
        .unwrap_or_default();
    let mut ids: Vec<String> = Vec::new();
    for m in members {
        if let Some(v) = m.get("value").and_then(Value::as_str) {
            if !ids.iter().any(|i| i == v) {
                ids.push(v.to_string());
            }
        }
    }
    (doc, ids)
}

/// One membership operation, in request order.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberOp {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
    /// A filter beyond `value eq` alternatives: evaluated over the current members.
    RemoveWhere(Filter),
}

/// A PATCH request split into membership operations and the rest (for the group document).
#[derive(Debug, Clone, Default)]
pub struct SplitPatch {
    pub members: Vec<MemberOp>,
    pub document: Vec<PatchOperation>,
}

/// Whether `attr` is a group's `members`.
pub(crate) fn is_members_attribute(attr: &Attribute) -> bool {
    attr.name == "members" && attr.multi_valued && attr.ty == AttrType::Complex
}

/// One element of `members` in a POST/PUT body (before canonicalization): an object with a
/// non-empty string `value` of at most `MAX_ID_BYTES` (X4). `{}`, `null`, `{"display": ..}`
/// or an empty `value` are refused: silently dropping a member would apply a membership the
/// IdP did not send.
pub(crate) fn check_member_element(item: &Value, path: &str) -> Result<(), ScimError> {
    let value = item.as_object().and_then(|o| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("value"))
            .map(|(_, v)| v)
    });
    match value {
        Some(Value::String(s)) => check_member_id(&format!("{path}.value"), s),
        Some(_) | None if item.is_object() || item.is_null() => Err(ScimError::invalid_value(
            format!("'{path}' has no 'value': every member needs the id of a user of this directory, got {}", shown(item)),
        )),
        // Not an object: canonicalization names the type error.
        _ => Ok(()),
    }
}

fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 80 {
        s
    } else {
        format!("{}...", s.chars().take(80).collect::<String>())
    }
}

fn member_ids(value: &Value) -> Result<Vec<String>, ScimError> {
    let items: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![value],
        Value::Null => Vec::new(),
        _ => {
            return Err(ScimError::invalid_value(
                "members must be a list of objects with a 'value'",
            ))
        }
    };
    items
        .into_iter()
        .map(|m| {
            m.as_object()
                .and_then(|o| {
                    o.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("value"))
                        .map(|(_, v)| v)
                })
                .and_then(Value::as_str)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ScimError::invalid_value(format!(
                        "a member needs a non-empty string 'value', got {}",
                        shown(m)
                    ))
                })
                .and_then(|id| check_member_id("members.value", &id).map(|()| id))
        })
        .collect()
}

/// `value eq "a" or value eq "b"`: the ids, when the filter is only that.
fn value_eq_ids(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(v),
        } if path.attr.name == "value" && path.sub.is_none() => Some(vec![v.clone()]),
        Filter::Or(a, b) => {
            let mut ids = value_eq_ids(a)?;
            ids.extend(value_eq_ids(b)?);
            Some(ids)
        }
        _ => None,
    }
}

fn is_members(op: &PatchOperation) -> bool {
    op.path
        .as_ref()
        .map(|p| p.path.attr.name == "members")
        .unwrap_or(false)
}

/// Splits a group PATCH. A no-path `add`/`replace` whose value has `members` contributes both
/// a membership operation and a document operation with the other keys.
pub fn split_group_patch(ops: Vec<PatchOperation>) -> Result<SplitPatch, ScimError> {
    let mut out = SplitPatch::default();
    for op in ops {
        if is_members(&op) {
            let path = op.path.as_ref();
            let filter = path.and_then(|p| p.filter.as_ref());
            if path.and_then(|p| p.sub_after_filter).is_some() {
                return Err(ScimError::invalid_path(
                    "member sub-attributes cannot be changed; add or remove the member",
                ));
            }
            let member_op = match (op.op, filter) {
                (PatchOpKind::Add, None) => {
                    MemberOp::Add(member_ids(op.value.as_ref().unwrap_or(&Value::Null))?)
                }
                (PatchOpKind::Replace, None) => {
                    out.members.push(MemberOp::RemoveAll);
                    MemberOp::Add(member_ids(op.value.as_ref().unwrap_or(&Value::Null))?)
                }
                (PatchOpKind::Remove, None) => match &op.value {
                    // Entra: `Remove` of `members` with a value list removes just those.
                    Some(v) if !v.is_null() => MemberOp::Remove(member_ids(v)?),
                    _ => MemberOp::RemoveAll,
                },
                (PatchOpKind::Remove, Some(f)) => match value_eq_ids(f) {
                    Some(ids) => {
                        for id in &ids {
                            check_member_id("members[value eq ...]", id)?;
                        }
                        MemberOp::Remove(ids)
                    }
                    None => MemberOp::RemoveWhere(f.clone()),
                },
                (_, Some(_)) => {
                    return Err(ScimError::invalid_path(
                        "a member can only be added by value; use add with path 'members'",
                    ))
                }
            };
            out.members.push(member_op);
            continue;
        }
        match (&op.path, op.op, &op.value) {
            (None, PatchOpKind::Add | PatchOpKind::Replace, Some(Value::Object(obj))) => {
                let (members, rest): (Map<String, Value>, Map<String, Value>) = obj
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .partition(|(k, _)| k.eq_ignore_ascii_case("members"));
                if let Some(m) = members.values().next() {
                    if op.op == PatchOpKind::Replace {
                        out.members.push(MemberOp::RemoveAll);
                    }
                    out.members.push(MemberOp::Add(member_ids(m)?));
                }
                if !rest.is_empty() {
                    out.document.push(PatchOperation {
                        op: op.op,
                        path: None,
                        value: Some(Value::Object(rest)),
                    });
                }
            }
            _ => out.document.push(op),
        }
    }
    Ok(out)
}

/// Every id a membership operation adds (G6: they must be users of the directory).
pub fn added_ids(ops: &[MemberOp]) -> BTreeSet<String> {
    ops.iter()
        .filter_map(|o| match o {
            MemberOp::Add(ids) => Some(ids.iter().cloned()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Whether resolving `ops` needs the group's whole current membership.
pub fn needs_all_members(ops: &[MemberOp]) -> bool {
    ops.iter()
        .any(|o| matches!(o, MemberOp::RemoveAll | MemberOp::RemoveWhere(_)))
}

/// Whether `ops` replace the whole membership (a `RemoveAll` among them): what the group had
/// before it does not change the result, so a big group's members need not be read.
pub fn replaces_all(ops: &[MemberOp]) -> bool {
    ops.iter().any(|o| matches!(o, MemberOp::RemoveAll))
}

/// Every id whose current membership decides the result (when the whole set is not needed).
pub fn named_ids(ops: &[MemberOp]) -> BTreeSet<String> {
    ops.iter()
        .flat_map(|o| match o {
            MemberOp::Add(ids) | MemberOp::Remove(ids) => ids.clone(),
            _ => Vec::new(),
        })
        .collect()
}

/// The net change of `ops` applied in order to the current membership, where `current`
/// holds (at least) every member among the named ids, or all members when
/// `needs_all_members`. Returns (added, removed), each sorted.
pub fn resolve_members(ops: &[MemberOp], current: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    let mut set = current.clone();
    for op in ops {
        match op {
            MemberOp::Add(ids) => set.extend(ids.iter().cloned()),
            MemberOp::Remove(ids) => {
                for id in ids {
                    set.remove(id);
                }
            }
            MemberOp::RemoveAll => set.clear(),
            MemberOp::RemoveWhere(f) => {
                set.retain(|id| {
                    !f.matches_element(&serde_json::json!({"value": id, "type": "User"}))
                });
            }
        }
    }
    let added = set.difference(current).cloned().collect();
    let removed = current.difference(&set).cloned().collect();
    (added, removed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::scim::patch::parse_patch;
    use crate::scim::schema::GROUP_RESOURCE;
    use serde_json::json;

    fn split(body: Value) -> SplitPatch {
        split_group_patch(parse_patch(&GROUP_RESOURCE, &body).unwrap()).unwrap()
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn s5_okta_add_and_remove_by_filter_path() {
        let s = split(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": "u1", "display": "a"}, {"value": "u2"}]},
                {"op": "remove", "path": "members[value eq \"u3\"]"}
            ]}),
        );
        assert_eq!(
            s.members,
            vec![
                MemberOp::Add(vec!["u1".into(), "u2".into()]),
                MemberOp::Remove(vec!["u3".into()])
            ]
        );
        assert!(s.document.is_empty());
        assert!(!needs_all_members(&s.members));
        let (added, removed) = resolve_members(&s.members, &set(&["u2", "u3"]));
        assert_eq!(added, vec!["u1"]);
        assert_eq!(removed, vec!["u3"]);
    }

    #[test]
    fn s5_entra_remove_with_value_list_removes_just_those() {
        let s = split(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                {"op": "Remove", "path": "members", "value": [{"value": "u1"}, {"value": "u9"}]}
            ]}),
        );
        assert_eq!(
            s.members,
            vec![MemberOp::Remove(vec!["u1".into(), "u9".into()])]
        );
        let (added, removed) = resolve_members(&s.members, &set(&["u1", "u2"]));
        assert!(added.is_empty());
        assert_eq!(removed, vec!["u1"], "never the whole group");
    }

    #[test]
    fn s5_okta_rename_replace_is_a_document_op_and_replace_members_needs_all() {
        let s = split(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                {"op": "replace", "value": {"id": "g1", "displayName": "Eng"}}
            ]}),
        );
        assert!(s.members.is_empty());
        assert_eq!(s.document.len(), 1);
        let s = split(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                {"op": "replace", "path": "members", "value": [{"value": "u1"}]}
            ]}),
        );
        assert!(needs_all_members(&s.members));
        let (added, removed) = resolve_members(&s.members, &set(&["u1", "u2", "u3"]));
        assert!(added.is_empty());
        assert_eq!(removed, vec!["u2", "u3"]);
        let s = split(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                {"op": "replace", "value": {"displayName": "X", "members": [{"value": "u4"}]}}
            ]}),
        );
        assert_eq!(
            s.members,
            vec![MemberOp::RemoveAll, MemberOp::Add(vec!["u4".into()])]
        );
        assert_eq!(s.document.len(), 1);
    }

    #[test]
    fn s5_operations_apply_in_order_and_twice_is_a_no_op() {
        let s = split(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": "u1"}]},
                {"op": "remove", "path": "members[value eq \"u1\"]"},
                {"op": "add", "path": "members", "value": [{"value": "u2"}, {"value": "u2"}]}
            ]}),
        );
        let (added, removed) = resolve_members(&s.members, &set(&["u2"]));
        assert!(added.is_empty() && removed.is_empty());
        assert_eq!(named_ids(&s.members), set(&["u1", "u2"]));
        assert_eq!(added_ids(&s.members), set(&["u1", "u2"]));
    }

    #[test]
    fn s5_complex_remove_filter_is_evaluated_over_members() {
        let s = split(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
                {"op": "remove", "path": "members[value sw \"a\"]"}
            ]}),
        );
        assert!(needs_all_members(&s.members));
        let (_, removed) = resolve_members(&s.members, &set(&["a1", "a2", "b1"]));
        assert_eq!(removed, vec!["a1", "a2"]);
    }

    #[test]
    fn x4_member_values_are_bounded_and_never_dropped() {
        let patch = |ops: Value| {
            parse_patch(
                &GROUP_RESOURCE,
                &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
            )
            .and_then(split_group_patch)
        };
        let long = "u".repeat(65);
        for ops in [
            json!([{"op": "add", "path": "members", "value": [{"value": long}]}]),
            json!([{"op": "remove", "path": "members", "value": [{"value": long}]}]),
            json!([{"op": "remove", "path": format!("members[value eq \"{long}\"]")}]),
            json!([{"op": "add", "value": {"members": [{}]}}]),
            json!([{"op": "add", "path": "members", "value": [{"value": "  "}]}]),
            json!([{"op": "replace", "path": "members", "value": [null]}]),
        ] {
            let e = patch(ops.clone()).unwrap_err();
            assert_eq!(
                e.scim_type,
                Some(crate::scim::error::ScimType::InvalidValue),
                "{ops}"
            );
        }
        assert!(patch(
            json!([{"op": "add", "path": "members", "value": [{"value": "u".repeat(64)}]}])
        )
        .is_ok());
        for bad in [
            json!({}),
            json!(null),
            json!({"display": "x"}),
            json!({"value": ""}),
            json!({"value": 5}),
        ] {
            assert!(check_member_element(&bad, "members[0]").is_err(), "{bad}");
        }
        assert!(check_member_element(&json!({"value": "u1"}), "members[0]").is_ok());
    }

    #[test]
    fn s7_bad_member_values_are_invalid_value() {
        let ops = parse_patch(
            &GROUP_RESOURCE,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "members", "value": [{"display": "x"}]}]}),
        );
        let e = ops.and_then(split_group_patch).unwrap_err();
        assert_eq!(
            e.scim_type,
            Some(crate::scim::error::ScimType::InvalidValue)
        );
    }
}
