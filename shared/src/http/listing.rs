//! Listing a directory's users or groups (S2, S3): indexed equality filters read only their
//! candidates; other filters page through the listing index and are evaluated here, up to
//! `MAX_FILTER_SCAN`; unfiltered lists read just the window asked for.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

use super::{store_error, MAX_FILTER_SCAN};
use crate::scim::error::{ScimError, ScimType};
use crate::scim::schema::LIST_RESPONSE;
use crate::store::cursor::{self, CursorScope};
use crate::store::{Item, Store, StoreError};

/// Resources one cursor page may examine (RFC 9865 lets a page hold fewer than `count`):
/// a non-indexed filter over a large directory pages on instead of failing with `tooMany`.
pub const MAX_CURSOR_SCAN: usize = 2_000;

/// Where a cursor page starts (RFC 9865): the first page, after a key of the listing index,
/// or at an offset of a result computed whole (indexed filters).
#[derive(Debug, Clone, PartialEq)]
pub enum CursorAt {
    First,
    After(HashMap<String, AttributeValue>),
    Offset(usize),
}

pub fn invalid_cursor() -> ScimError {
    ScimError::bad_request(
        ScimType::InvalidCursor,
        "invalid cursor: send an empty cursor for the first page, then the nextCursor of the previous page",
    )
}

/// Decodes a cursor of this listing (X4): only a cursor this deployment signed for this
/// directory and listing is accepted; garbage, a modified cursor or another's is refused.
pub fn decode_cursor(raw: &str, scope: &CursorScope) -> Result<CursorAt, ScimError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(CursorAt::First);
    }
    let position = scope.open(raw).map_err(|_| invalid_cursor())?;
    if let Some(n) = position.get("o").and_then(Value::as_u64) {
        return usize::try_from(n)
            .map(CursorAt::Offset)
            .map_err(|_| invalid_cursor());
    }
    let key = position
        .get("k")
        .and_then(cursor::key_from_json)
        .ok_or_else(invalid_cursor)?;
    match key.get("gsi1pk").and_then(|v| v.as_s().ok()) {
        Some(p) if p == scope.listing() => Ok(CursorAt::After(key)),
        _ => Err(invalid_cursor()),
    }
}

pub fn key_cursor(scope: &CursorScope, key: &HashMap<String, AttributeValue>) -> String {
    scope.seal(&json!({ "k": cursor::key_json(key) }))
}

pub fn offset_cursor(scope: &CursorScope, n: usize) -> String {
    scope.seal(&json!({ "o": n }))
}

/// The index key of a listed item: where the next cursor page starts after it.
fn index_key(item: &Item) -> HashMap<String, AttributeValue> {
    ["pk", "sk", "gsi1pk", "gsi1sk"]
        .iter()
        .filter_map(|k| item.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
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

/// Reads a partition of the listing index (GSI1) as records of one type.
pub struct Listing<'a, R> {
    pub store: &'a Store,
    /// `DIR#<id>#USERS` or `DIR#<id>#GROUPS`.
    pub partition: String,
    pub decode: &'a (dyn Fn(&Item) -> Result<R, StoreError> + Sync),
}

impl<R> Listing<'_, R> {
    /// Every record matching `keep`, refusing with `tooMany` past the scan bound.
    pub async fn scan(&self, keep: &(dyn Fn(&R) -> bool + Sync)) -> Result<Vec<R>, ScimError> {
        let mut matched = Vec::new();
        let mut examined = 0usize;
        let mut next = None;
        loop {
            let page = self
                .store
                .gsi1_page(&self.partition, next, 500)
                .await
                .map_err(store_error)?;
            examined += page.items.len();
            if examined > MAX_FILTER_SCAN {
                return Err(ScimError::too_many(format!(
                    "this filter is not answered from an index and the directory has more than {MAX_FILTER_SCAN} resources; filter with eq on an indexed attribute (id, externalId, userName, emails.value, displayName)"
                )));
            }
            for item in &page.items {
                let r = (self.decode)(item).map_err(store_error)?;
                if keep(&r) {
                    matched.push(r);
                }
            }
            match page.next {
                Some(k) => next = Some(k),
                None => return Ok(matched),
            }
        }
    }

    /// `count` records from position `skip` (0-based) of the listing order.
    pub async fn window(&self, skip: usize, count: usize) -> Result<Vec<R>, ScimError> {
        let mut out = Vec::new();
        let mut seen = 0usize;
        let mut next = None;
        while out.len() < count {
            let want = (skip + count - seen).clamp(1, 500) as i32;
            let page = self
                .store
                .gsi1_page(&self.partition, next, want)
                .await
                .map_err(store_error)?;
            for item in &page.items {
                if seen >= skip && out.len() < count {
                    out.push((self.decode)(item).map_err(store_error)?);
                }
                seen += 1;
            }
            match page.next {
                Some(k) => next = Some(k),
                None => break,
            }
        }
        Ok(out)
    }

    /// Up to `count` records matching `keep` after `start`, examining at most
    /// `MAX_CURSOR_SCAN`; and the key to continue from, unless the listing is done.
    pub async fn cursor_page(
        &self,
        keep: &(dyn Fn(&R) -> bool + Sync),
        start: Option<HashMap<String, AttributeValue>>,
        count: usize,
    ) -> Result<(Vec<R>, Option<HashMap<String, AttributeValue>>), ScimError> {
        let mut out = Vec::new();
        let mut examined = 0usize;
        let mut next = start;
        loop {
            let want = (MAX_CURSOR_SCAN - examined).clamp(1, 500) as i32;
            let page = self
                .store
                .gsi1_page(&self.partition, next.take(), want)
                .await
                .map_err(store_error)?;
            for item in &page.items {
                examined += 1;
                let r = (self.decode)(item).map_err(store_error)?;
                if keep(&r) {
                    out.push(r);
                }
                if out.len() >= count || examined >= MAX_CURSOR_SCAN {
                    return Ok((out, Some(index_key(item))));
                }
            }
            match page.next {
                Some(k) => next = Some(k),
                None => return Ok((out, None)),
            }
        }
    }

    pub async fn total(&self) -> Result<usize, ScimError> {
        Ok(self
            .store
            .count_gsi1(&self.partition)
            .await
            .map_err(store_error)? as usize)
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
        at: CursorAt,
        count: usize,
        /// Where this listing's cursors are valid: the next one is sealed with it.
        scope: CursorScope,
    },
}

impl Paging {
    /// `scope`: the cursors of this directory's listing (its GSI partition).
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
                at: decode_cursor(c, scope)?,
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
    let page = |total, items, next_cursor| ListPage {
        total,
        items,
        paging: paging.clone(),
        next_cursor,
    };
    match (&paging, whole) {
        (Paging::Index { start, count }, Some(matched)) => {
            let (total, items) = page_of(matched, order, same, *start, *count);
            Ok(page(Some(total), items, None))
        }
        (Paging::Index { start, count }, None) if filtered => {
            let (total, items) = page_of(listing.scan(keep).await?, order, same, *start, *count);
            Ok(page(Some(total), items, None))
        }
        (Paging::Index { start, count }, None) => {
            let total = listing.total().await?;
            let items = if *count == 0 || *start > total {
                Vec::new()
            } else {
                listing.window(start - 1, *count).await?
            };
            Ok(page(Some(total), items, None))
        }
        (Paging::Cursor { at, count, scope }, Some(matched)) => {
            let offset = match at {
                CursorAt::First => 0,
                CursorAt::Offset(n) => *n,
                CursorAt::After(_) => return Err(invalid_cursor()),
            };
            let (total, items) = page_of(matched, order, same, offset.saturating_add(1), *count);
            let next = (offset.saturating_add(*count) < total)
                .then(|| offset_cursor(scope, offset + count));
            Ok(page(Some(total), items, next))
        }
        (Paging::Cursor { at, count, scope }, None) => {
            let start = match at {
                CursorAt::First => None,
                CursorAt::After(k) => Some(k.clone()),
                CursorAt::Offset(_) => return Err(invalid_cursor()),
            };
            let (items, next) = listing.cursor_page(keep, start, (*count).max(1)).await?;
            Ok(page(None, items, next.map(|k| key_cursor(scope, &k))))
        }
    }
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
