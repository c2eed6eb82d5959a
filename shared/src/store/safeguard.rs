//! Reads of the mass-deprovisioning safeguard (E4): a directory's record, its user count
//! when a window opens, and its held accounts.

use super::items::HeldAccountRef;
use super::keys;
use super::{Store, StoreError};
use crate::directory::model::{AccountRecord, SafeguardRecord};

impl Store {
    /// A directory's safeguard (`None`: never set, so off).
    pub async fn get_safeguard(
        &self,
        directory_id: &str,
    ) -> Result<Option<SafeguardRecord>, StoreError> {
        self.get_data(keys::safeguard(directory_id)).await
    }

    /// How many users a directory has now: what a new window's share is of. One `COUNT`
    /// query over the directory's listing, paged (1 MB a page), once per window.
    pub async fn directory_user_count(&self, directory_id: &str) -> Result<u64, StoreError> {
        self.count_gsi1(&keys::users_of(directory_id)).await
    }

    /// How many accounts a directory's safeguard holds: its listing entries, counted (each
    /// is written and deleted in the transaction that starts or ends its hold).
    pub async fn held_count(&self, directory_id: &str) -> Result<u64, StoreError> {
        self.count_gsi1(&keys::holds_of(directory_id)).await
    }

    /// The accounts a directory's safeguard holds, oldest hold first: the listing entries,
    /// then the accounts in batches of 100 (an account whose hold ended since is left out).
    pub async fn held_accounts(
        &self,
        directory_id: &str,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let entries: Vec<HeldAccountRef> =
            self.query_gsi1_data(keys::holds_of(directory_id)).await?;
        let Some(org_id) = entries.first().map(|e| e.org_id.clone()) else {
            return Ok(Vec::new());
        };
        let ids: Vec<String> = entries.into_iter().map(|e| e.account_id).collect();
        let mut held: Vec<AccountRecord> = self
            .get_accounts(&org_id, &ids)
            .await?
            .into_iter()
            .filter(|a| {
                a.hold
                    .as_ref()
                    .is_some_and(|h| h.directory_id == directory_id)
            })
            .collect();
        held.sort_by(|a, b| {
            let since = |x: &AccountRecord| x.hold.as_ref().map(|h| h.since.clone());
            since(a).cmp(&since(b)).then(a.email.cmp(&b.email))
        });
        Ok(held)
    }
}
