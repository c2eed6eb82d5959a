//! Reads for product access and group conflicts: each proportional to the members and
//! accounts involved, never to the directory.

use std::collections::BTreeSet;

use super::items::{from_data, group_from_item};
use super::keys;
use super::{Store, StoreError};
use crate::directory::model::{AccountRecord, ConflictRecord, OrgGroupRecord};

/// An IdP group's members as accounts: linked accounts, and SCIM users linked to none.
#[derive(Debug, Default)]
pub struct MemberAccounts {
    pub accounts: BTreeSet<String>,
    pub unlinked_users: Vec<String>,
}

impl Store {
    /// Org groups by id, in batch reads.
    pub async fn org_groups_by_ids(
        &self,
        org_id: &str,
        ids: &[String],
    ) -> Result<Vec<OrgGroupRecord>, StoreError> {
        let found = self
            .get_items(ids.iter().map(|id| keys::org_group(org_id, id)).collect())
            .await?;
        ids.iter()
            .filter_map(|id| found.get(&keys::org_group(org_id, id)))
            .map(from_data)
            .collect()
    }

    /// The org groups granting an account access: its admin memberships, and (when linked)
    /// the org groups of its SCIM user's groups that are not held. Unfiltered by management:
    /// `directory::access::effective_groups` decides which count.
    pub async fn account_groups(
        &self,
        account: &AccountRecord,
    ) -> Result<(Vec<OrgGroupRecord>, Vec<OrgGroupRecord>), StoreError> {
        let org_id = &account.org_id;
        let admin_ids = self.org_groups_of_account(org_id, &account.id).await?;
        let mut synced_ids: Vec<String> = Vec::new();
        if let Some(link) = &account.link {
            let group_ids = self
                .groups_of_user(&link.directory_id, &link.user_id)
                .await?;
            let found = self
                .get_items(
                    group_ids
                        .iter()
                        .map(|g| keys::group(&link.directory_id, g))
                        .collect(),
                )
                .await?;
            for item in found.values() {
                let g = group_from_item(&link.directory_id, item)?;
                if let (false, Some(og)) = (g.held, g.org_group_id) {
                    synced_ids.push(og);
                }
            }
        }
        let mut all = admin_ids.clone();
        all.extend(synced_ids.iter().cloned());
        let groups = self.org_groups_by_ids(org_id, &all).await?;
        let admin = groups
            .iter()
            .filter(|g| admin_ids.contains(&g.id))
            .cloned()
            .collect();
        let synced = groups
            .into_iter()
            .filter(|g| synced_ids.contains(&g.id))
            .collect();
        Ok((admin, synced))
    }

    pub async fn conflicts(&self, org_id: &str) -> Result<Vec<ConflictRecord>, StoreError> {
        self.query_gsi1_data(keys::conflicts_of(org_id)).await
    }

    pub async fn get_conflict(
        &self,
        org_id: &str,
        directory_id: &str,
        group_id: &str,
    ) -> Result<Option<ConflictRecord>, StoreError> {
        self.get_data(keys::conflict(org_id, directory_id, group_id))
            .await
    }

    /// The accounts of an IdP group's members: its member items, then their users in
    /// batches of 100 (a user carries its account id), read eventually consistent: the
    /// review's numbers decide nothing, and a sync conditions its writes on strong reads.
    pub async fn member_accounts(
        &self,
        directory_id: &str,
        group_id: &str,
    ) -> Result<MemberAccounts, StoreError> {
        let members = self.group_members(directory_id, group_id).await?;
        let found = self
            .get_items_read(
                members
                    .iter()
                    .map(|id| keys::user(directory_id, id))
                    .collect(),
                false,
            )
            .await?;
        let mut out = MemberAccounts::default();
        for item in members
            .iter()
            .filter_map(|id| found.get(&keys::user(directory_id, id)))
        {
            let u = super::items::user_from_item(directory_id, item)?;
            match u.account_id {
                Some(a) => {
                    out.accounts.insert(a);
                }
                None => out.unlinked_users.push(u.id),
            }
        }
        Ok(out)
    }

    /// Accounts by id, in batch reads.
    pub async fn get_accounts(
        &self,
        org_id: &str,
        ids: &[String],
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let found = self
            .get_items(ids.iter().map(|id| keys::account(org_id, id)).collect())
            .await?;
        ids.iter()
            .filter_map(|id| found.get(&keys::account(org_id, id)))
            .map(from_data)
            .collect()
    }
}
