//! Paging a list of users or groups (S3): by `startIndex`, or by cursor (RFC 9865). Indexed
//! equality filters are answered whole from their candidates and cut here; other filters
//! page through the store's listing; unfiltered lists read just the window asked for.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::scim::{projection, Projection};
use super::MAX_PAGE_SIZE;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::filter::{parse_filter, Filter};
use crate::scim::schema::ResourceType;
use crate::scim::schema::LIST_RESPONSE;
use crate::store::cursor::{CursorScope, ListPosition};
use crate::store::Listing;

pub fn invalid_cursor() -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidCursor,
        "invalid cursor: send an empty cursor for the first page, then the nextCursor of the previous page",
    )
}

/// A ListResponse of a cursor page: `totalResults` only when it is known without reading
/// the whole directory (RFC 9865 lets a cursor page omit it).
pub fn cursor_list_response(
    total: Option<usize>,
    resources: Vec<Value>,
    next: Option<String>,
) -> Value {
    let mut body = json!({
        "schemas": [LIST_RESPONSE],
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    if let Some(o) = body.as_object_mut() {
        if let Some(t) = total {
            o.insert("totalResults".into(), json!(t));
        }
        if let Some(n) = next {
            o.insert("nextCursor".into(), Value::String(n));
        }
    }
    body
}

/// What a list request (GET or `/.search`) asks for: the projection (S4), the paging (S3)
/// and the filter (S2), each checked.
pub struct ListQuery {
    pub projection: Projection,
    pub paging: Paging,
    pub filter: Option<Filter>,
}

impl ListQuery {
    /// `scope`: the cursors of the listing the request pages through.
    pub fn parse(
        rt: &'static ResourceType,
        params: &HashMap<String, String>,
        scope: &CursorScope,
    ) -> Result<ListQuery, ScimError> {
        Ok(ListQuery {
            projection: projection(rt, params)?,
            paging: Paging::from_params(params, scope, MAX_PAGE_SIZE)?,
            filter: params
                .get("filter")
                .filter(|f| !f.trim().is_empty())
                .map(|f| parse_filter(rt, f))
                .transpose()?,
        })
    }

    /// Whether a resource, as rendered, is one the filter asks for (every one without).
    pub fn admits(&self, rendered: &Value) -> bool {
        self.filter.as_ref().is_none_or(|f| f.matches(rendered))
    }
}

/// How a list request pages (S3): by `startIndex`, or by cursor (RFC 9865) when the
/// request carries a `cursor` parameter, even an empty one.
#[derive(Debug, Clone, PartialEq)]
pub enum Paging {
    Index {
        start: usize,
        count: usize,
    },
    Cursor {
        at: ListPosition,
        count: usize,
        /// Where this listing's cursors are valid: the next one is sealed with it.
        scope: CursorScope,
    },
}

impl Paging {
    /// `scope`: the cursors of this directory's listing.
    pub fn from_params(
        params: &HashMap<String, String>,
        scope: &CursorScope,
        max: usize,
    ) -> Result<Paging, ScimError> {
        crate::scim::limits::check_list_params(params)?;
        let (start, count) = crate::scim::list::paging(
            params.get("startindex").map(String::as_str),
            params.get("count").map(String::as_str),
            max,
        )?;
        match params.get("cursor") {
            None => Ok(Paging::Index { start, count }),
            Some(_) if params.contains_key("startindex") => Err(ScimError::invalid_value(
                "a request pages by startIndex or by cursor, not both",
            )),
            Some(c) => Ok(Paging::Cursor {
                // X4: only a cursor this deployment signed for this directory and listing.
                at: scope.open_position(c).map_err(|_| invalid_cursor())?,
                count,
                scope: scope.clone(),
            }),
        }
    }
}

/// One page of a list and how to get the next.
pub struct ListPage<R> {
    pub total: Option<usize>,
    pub items: Vec<R>,
    pub paging: Paging,
    pub next_cursor: Option<String>,
}

impl<R> ListPage<R> {
    /// The ListResponse of this page, its resources rendered by the caller.
    pub fn response(&self, resources: Vec<Value>) -> Value {
        match &self.paging {
            Paging::Index { start, .. } => {
                crate::scim::list::list_response(self.total.unwrap_or(0), *start, resources)
            }
            Paging::Cursor { .. } => {
                cursor_list_response(self.total, resources, self.next_cursor.clone())
            }
        }
    }
}

/// Pages a list. `whole`: the complete matches when an index answered the filter (they are
/// sorted and cut here); otherwise the listing is read, keeping what `keep` admits
/// (`filtered` tells whether it admits everything).
pub async fn list_page<R, K: Ord>(
    listing: &Listing<'_, R>,
    whole: Option<Vec<R>>,
    keep: &(dyn Fn(&R) -> bool + Sync),
    filtered: bool,
    paging: Paging,
    order: impl Fn(&R) -> K,
    same: impl Fn(&R, &R) -> bool,
) -> Result<ListPage<R>, ScimError> {
    if let Some(matched) = whole {
        return page_whole(matched, paging, order, same);
    }
    let page = |total, items, next_cursor| ListPage {
        total,
        items,
        paging: paging.clone(),
        next_cursor,
    };
    match &paging {
        Paging::Index { start, count } if filtered => {
            let (total, items) = page_of(listing.scan(keep).await?, order, same, *start, *count);
            Ok(page(Some(total), items, None))
        }
        Paging::Index { start, count } => {
            let total = listing.total().await?;
            let items = if *count == 0 || *start > total {
                Vec::new()
            } else {
                listing.window(start - 1, *count).await?
            };
            Ok(page(Some(total), items, None))
        }
        Paging::Cursor { at, count, scope } => {
            let start = match at {
                ListPosition::First => None,
                ListPosition::After(k) => Some(k.clone()),
                ListPosition::Offset(_) => return Err(invalid_cursor()),
            };
            let (items, next) = listing.cursor_page(keep, start, (*count).max(1)).await?;
            Ok(page(
                None,
                items,
                next.map(|k| scope.seal_position(&ListPosition::After(k))),
            ))
        }
    }
}

/// Pages a list known whole (an index answered the filter, or the list lives in memory):
/// by `startIndex`, or by a cursor that carries the offset of the next page.
pub fn page_whole<R, K: Ord>(
    matched: Vec<R>,
    paging: Paging,
    order: impl Fn(&R) -> K,
    same: impl Fn(&R, &R) -> bool,
) -> Result<ListPage<R>, ScimError> {
    let (total, items, next_cursor) = match &paging {
        Paging::Index { start, count } => {
            let (total, items) = page_of(matched, order, same, *start, *count);
            (total, items, None)
        }
        Paging::Cursor { at, count, scope } => {
            let offset = match at {
                ListPosition::First => 0,
                ListPosition::Offset(n) => *n,
                ListPosition::After(_) => return Err(invalid_cursor()),
            };
            let (total, items) = page_of(matched, order, same, offset.saturating_add(1), *count);
            let next = (offset.saturating_add(*count) < total)
                .then(|| scope.seal_position(&ListPosition::Offset(offset + count)));
            (total, items, next)
        }
    };
    Ok(ListPage {
        total: Some(total),
        items,
        paging,
        next_cursor,
    })
}

/// Sorts matches into listing order, removes duplicates, and cuts the page.
pub fn page_of<R, K: Ord>(
    mut matched: Vec<R>,
    order: impl Fn(&R) -> K,
    same: impl Fn(&R, &R) -> bool,
    start: usize,
    count: usize,
) -> (usize, Vec<R>) {
    matched.sort_by_key(|r| order(r));
    matched.dedup_by(|a, b| same(a, b));
    let total = matched.len();
    (
        total,
        matched.into_iter().skip(start - 1).take(count).collect(),
    )
}
