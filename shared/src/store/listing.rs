//! Listing a directory's users or groups (S2, S3): the listing index (GSI1) read page by
//! page in its stable order, and the candidates of an indexed equality filter read from
//! their guards. Bounded: a filter evaluated over the listing examines at most
//! [`MAX_FILTER_SCAN`] records, a cursor page at most [`MAX_CURSOR_SCAN`].

use super::cursor::{CursorKey, CursorScope, PageKey};
use super::items::{group_from_item, user_from_item, Item};
use super::{keys, Store, StoreError};
use crate::directory::model::{GroupRecord, UserRecord};
use crate::scim::lookup::IndexLookup;

/// How many users or groups a non-indexed filter may examine before it is refused.
pub const MAX_FILTER_SCAN: usize = 10_000;

/// Resources one cursor page may examine (RFC 9865 lets a page hold fewer than `count`):
/// a non-indexed filter over a large directory pages on instead of failing with `tooMany`.
pub const MAX_CURSOR_SCAN: usize = 2_000;

/// A directory's users or groups in listing order, decoded as `R`.
pub struct Listing<'a, R> {
    store: &'a Store,
    directory_id: String,
    /// `DIR#<id>#USERS` or `DIR#<id>#GROUPS`.
    partition: String,
    decode: fn(&str, &Item) -> Result<R, StoreError>,
}

impl Store {
    /// The users of a directory, in the order of their lowercase userName.
    pub fn user_listing(&self, directory_id: &str) -> Listing<'_, UserRecord> {
        Listing {
            store: self,
            directory_id: directory_id.to_string(),
            partition: keys::users_of(directory_id),
            decode: user_from_item,
        }
    }

    /// The groups of a directory, in the order of their lowercase displayName.
    pub fn group_listing(&self, directory_id: &str) -> Listing<'_, GroupRecord> {
        Listing {
            store: self,
            directory_id: directory_id.to_string(),
            partition: keys::groups_of(directory_id),
            decode: group_from_item,
        }
    }

    /// The users an indexed equality filter names (S2): each lookup is one guard read or
    /// one query of the email index, then the users themselves in one read.
    pub async fn user_candidates(
        &self,
        directory_id: &str,
        lookups: &[IndexLookup],
    ) -> Result<Vec<UserRecord>, StoreError> {
        let dir = directory_id;
        let mut ids: Vec<String> = Vec::new();
        for l in lookups {
            let found: Vec<String> = match l {
                IndexLookup::Id(id) => vec![id.clone()],
                IndexLookup::UserName(n) => self
                    .guard_owner(keys::user_name_guard(dir, n))
                    .await?
                    .into_iter()
                    .collect(),
                IndexLookup::ExternalId(e) => self
                    .guard_owner(keys::external_id_guard(dir, e))
                    .await?
                    .into_iter()
                    .collect(),
                IndexLookup::Email(e) => self.user_ids_by_email(dir, e).await?,
                // Not indexed for users: a filter on it is evaluated over the listing.
                IndexLookup::DisplayName(_) => Vec::new(),
            };
            for id in found {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        match ids.as_slice() {
            [] => Ok(Vec::new()),
            [one] => Ok(self.get_user(dir, one).await?.into_iter().collect()),
            many => self.get_users(dir, many).await,
        }
    }

    /// The groups an indexed equality filter (`id`, `displayName`) names.
    pub async fn group_candidates(
        &self,
        directory_id: &str,
        lookups: &[IndexLookup],
    ) -> Result<Vec<GroupRecord>, StoreError> {
        let mut out: Vec<GroupRecord> = Vec::new();
        for l in lookups {
            let id = match l {
                IndexLookup::Id(id) => Some(id.clone()),
                IndexLookup::DisplayName(n) => {
                    self.guard_owner(keys::group_name_guard(directory_id, n))
                        .await?
                }
                _ => None,
            };
            if let Some(id) = id.filter(|id| !out.iter().any(|g| g.id == *id)) {
                out.extend(self.get_group(directory_id, &id).await?);
            }
        }
        Ok(out)
    }
}

impl<R> Listing<'_, R> {
    /// Where this listing's cursors are valid: its directory, and the listing itself.
    pub fn cursor_scope(&self, key: &CursorKey) -> CursorScope {
        CursorScope::new(key, &self.directory_id, &self.partition)
    }

    fn decode(&self, item: &Item) -> Result<R, StoreError> {
        (self.decode)(&self.directory_id, item)
    }

    /// Every record matching `keep`; past [`MAX_FILTER_SCAN`] examined, `ScanLimit`.
    pub async fn scan(&self, keep: &(dyn Fn(&R) -> bool + Sync)) -> Result<Vec<R>, StoreError> {
        let mut matched = Vec::new();
        let mut examined = 0usize;
        let mut next = None;
        loop {
            let page = self.store.gsi1_page(&self.partition, next, 500).await?;
            examined += page.items.len();
            if examined > MAX_FILTER_SCAN {
                return Err(StoreError::ScanLimit(MAX_FILTER_SCAN));
            }
            for item in &page.items {
                let r = self.decode(item)?;
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
    pub async fn window(&self, skip: usize, count: usize) -> Result<Vec<R>, StoreError> {
        let mut out = Vec::new();
        let mut seen = 0usize;
        let mut next = None;
        while out.len() < count {
            let want = (skip + count - seen).clamp(1, 500) as i32;
            let page = self.store.gsi1_page(&self.partition, next, want).await?;
            for item in &page.items {
                if seen >= skip && out.len() < count {
                    out.push(self.decode(item)?);
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
    /// [`MAX_CURSOR_SCAN`]; and where to continue, unless the listing is done.
    pub async fn cursor_page(
        &self,
        keep: &(dyn Fn(&R) -> bool + Sync),
        start: Option<PageKey>,
        count: usize,
    ) -> Result<(Vec<R>, Option<PageKey>), StoreError> {
        let mut out = Vec::new();
        let mut examined = 0usize;
        let mut next = start.map(PageKey::into_key);
        loop {
            let want = (MAX_CURSOR_SCAN - examined).clamp(1, 500) as i32;
            let page = self
                .store
                .gsi1_page(&self.partition, next.take(), want)
                .await?;
            for item in &page.items {
                examined += 1;
                let r = self.decode(item)?;
                if keep(&r) {
                    out.push(r);
                }
                if out.len() >= count || examined >= MAX_CURSOR_SCAN {
                    return Ok((out, Some(PageKey::index_key_of(item))));
                }
            }
            match page.next {
                Some(k) => next = Some(k),
                None => return Ok((out, None)),
            }
        }
    }

    /// How many records the listing has (a `Select=COUNT` query: its cost grows with it).
    pub async fn total(&self) -> Result<usize, StoreError> {
        Ok(self.store.count_gsi1(&self.partition).await? as usize)
    }
}
