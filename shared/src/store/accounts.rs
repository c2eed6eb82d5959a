//! Reads for the admin API: accounts, org groups by name, directories.

use aws_sdk_dynamodb::types::AttributeValue;

use super::cursor::PageKey;
use super::items::{from_data, get_s, key_map};
use super::keys;
use super::{Store, StoreError};
use crate::directory::model::{AccountRecord, DirectoryRecord, OrgGroupRecord, TokenRecord};

/// A page of a query: the records and where the next page starts.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageKey>,
}

impl Store {
    /// The account holding `email` (normalized): its guard, then the account.
    pub async fn account_by_email(
        &self,
        org_id: &str,
        email: &str,
    ) -> Result<Option<AccountRecord>, StoreError> {
        match self
            .guard_owner(keys::account_email_guard(org_id, email))
            .await?
        {
            Some(id) => self.get_account(org_id, &id).await,
            None => Ok(None),
        }
    }

    /// A page of the org's accounts, ordered by email.
    pub async fn accounts_page(
        &self,
        org_id: &str,
        start: Option<PageKey>,
        limit: i32,
    ) -> Result<Page<AccountRecord>, StoreError> {
        let page = self
            .gsi1_page(
                &keys::accounts_of(org_id),
                start.map(PageKey::into_key),
                limit,
            )
            .await?;
        Ok(Page {
            items: page.items.iter().map(from_data).collect::<Result<_, _>>()?,
            next: page.next.map(PageKey),
        })
    }

    /// The credentials of a directory (its SCIM tokens), or of an org (its admin keys).
    pub async fn credentials(
        &self,
        org_id: &str,
        directory_id: Option<&str>,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        self.query_gsi1_data(keys::tokens_of(org_id, directory_id))
            .await
    }

    pub async fn directories_of_org(
        &self,
        org_id: &str,
    ) -> Result<Vec<DirectoryRecord>, StoreError> {
        self.query_gsi1_data(keys::directories_of(org_id)).await
    }

    pub async fn org_groups(&self, org_id: &str) -> Result<Vec<OrgGroupRecord>, StoreError> {
        self.query_gsi1_data(keys::org_groups_of(org_id)).await
    }

    /// Each name's org group (case-insensitive), in two batch reads whatever the count.
    pub async fn org_groups_by_names(
        &self,
        org_id: &str,
        names: &[String],
    ) -> Result<Vec<(String, Option<OrgGroupRecord>)>, StoreError> {
        let guards = self
            .get_items(
                names
                    .iter()
                    .map(|n| keys::org_group_name_guard(org_id, &n.to_lowercase()))
                    .collect(),
            )
            .await?;
        let owner = |n: &str| {
            guards
                .get(&keys::org_group_name_guard(org_id, &n.to_lowercase()))
                .and_then(|i| get_s(i, "owner"))
                .map(str::to_string)
        };
        let ids: Vec<String> = names.iter().filter_map(|n| owner(n)).collect();
        let groups = self
            .get_items(ids.iter().map(|id| keys::org_group(org_id, id)).collect())
            .await?;
        names
            .iter()
            .map(|n| {
                let g = owner(n)
                    .and_then(|id| groups.get(&keys::org_group(org_id, &id)))
                    .map(from_data)
                    .transpose()?;
                Ok((n.clone(), g))
            })
            .collect()
    }

    /// The admin-managed org groups an account is a member of (ids).
    pub async fn org_groups_of_account(
        &self,
        org_id: &str,
        account_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let items = self
            .query_all(self.query_gsi1(keys::groups_of_account(org_id, account_id)))
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, "orgGroupId").map(str::to_string))
            .collect())
    }

    /// The accounts of an admin-managed org group (ids), paging internally.
    pub async fn org_group_members(
        &self,
        org_id: &str,
        org_group_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let items = self
            .query_all(self.org_members_query(org_id, org_group_id))
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, "accountId").map(str::to_string))
            .collect())
    }

    /// At most `limit` of an org group's admin members after `after`, in id order, and
    /// whether it has more: a sync job's chunk (and whether a sync is big).
    pub async fn org_group_members_after(
        &self,
        org_id: &str,
        org_group_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, bool), StoreError> {
        let start = after.map(|a| key_map(keys::org_member(org_id, org_group_id, a)));
        self.ids_up_to(
            self.org_members_query(org_id, org_group_id),
            start,
            limit,
            "accountId",
        )
        .await
    }

    fn org_members_query(
        &self,
        org_id: &str,
        org_group_id: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.query_partition(keys::org_group_partition(org_id, org_group_id))
            .key_condition_expression("pk = :p AND begins_with(sk, :m)")
            .expression_attribute_values(":m", AttributeValue::S(keys::MEMBER_PREFIX.into()))
            .projection_expression("accountId")
    }
}
