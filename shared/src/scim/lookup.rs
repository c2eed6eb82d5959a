//! Which filters the store can answer from an index (S2): equality on `id`, `userName`,
//! `externalId` and `emails.value` (also inside `emails[...]`), alone, in an `and` with
//! anything, or `or`-ed with each other. Everything else is evaluated over a listing.

use serde_json::Value;

use super::filter::{CompareOp, Filter};
use super::schema::Container;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexLookup {
    Id(String),
    /// Lowercase (userName is case-insensitive).
    UserName(String),
    ExternalId(String),
    /// Normalized email.
    Email(String),
    /// Lowercase (displayName is case-insensitive).
    DisplayName(String),
}

/// The index lookups whose union contains every resource `filter` can match, if there are such.
/// A value longer than any stored value can be matches nothing: its lookup is left out (X4),
/// so it never reaches a key (an empty list is an indexed answer with no candidates).
/// `displayName` is indexed for groups only (a user's may be longer): an over-long one makes
/// the filter non-indexed instead, answered over the listing.
pub fn index_lookups(filter: &Filter) -> Option<Vec<IndexLookup>> {
    let all = lookups(filter)?;
    let long_name = |l: &IndexLookup| {
        matches!(l, IndexLookup::DisplayName(_)) && !super::limits::lookup_can_match(l)
    };
    if all.iter().any(long_name) {
        return None;
    }
    Some(
        all.into_iter()
            .filter(super::limits::lookup_can_match)
            .collect(),
    )
}

fn lookups(filter: &Filter) -> Option<Vec<IndexLookup>> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(v),
        } if path.container == Container::Core => {
            match (path.attr.name, path.sub.map(|s| s.name)) {
                ("id", None) => Some(vec![IndexLookup::Id(v.clone())]),
                ("userName", None) => Some(vec![IndexLookup::UserName(v.to_lowercase())]),
                ("externalId", None) => Some(vec![IndexLookup::ExternalId(v.clone())]),
                ("displayName", None) => Some(vec![IndexLookup::DisplayName(v.to_lowercase())]),
                ("emails", Some("value")) => {
                    Some(vec![IndexLookup::Email(v.trim().to_lowercase())])
                }
                _ => None,
            }
        }
        Filter::ValuePath { path, filter }
            if path.container == Container::Core && path.attr.name == "emails" =>
        {
            element_email(filter).map(|e| vec![IndexLookup::Email(e)])
        }
        Filter::And(a, b) => lookups(a).or_else(|| lookups(b)),
        Filter::Or(a, b) => {
            let mut l = lookups(a)?;
            l.extend(lookups(b)?);
            Some(l)
        }
        _ => None,
    }
}

/// `value eq "x"` inside an `emails[...]` filter (alone or in an `and`).
fn element_email(filter: &Filter) -> Option<String> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Value::String(v),
        } if path.attr.name == "value" && path.sub.is_none() => Some(v.trim().to_lowercase()),
        Filter::And(a, b) => element_email(a).or_else(|| element_email(b)),
        _ => None,
    }
}
