//! Listing a directory's users or groups (S2, S3): indexed equality filters read only their
//! candidates; other filters page through the listing index and are evaluated here, up to
//! `MAX_FILTER_SCAN`; unfiltered lists read just the window asked for.

use super::{store_error, MAX_FILTER_SCAN};
use crate::scim::error::ScimError;
use crate::store::{Item, Store, StoreError};

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

    pub async fn total(&self) -> Result<usize, ScimError> {
        Ok(self
            .store
            .count_gsi1(&self.partition)
            .await
            .map_err(store_error)? as usize)
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
