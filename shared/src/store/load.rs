//! Reads: everything a plan or a response needs, each as few requests as it can be.

use std::collections::HashMap;

use futures::StreamExt;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnConsumedCapacity};

use super::items::{from_data, get_s, key_map, user_from_item, Item};
use super::keys::{self, GSI1};
use super::{service_error, Store, StoreError};
use crate::directory::model::{AccountRecord, DirectoryRecord, OrgRecord, TokenRecord, UserRecord};
use crate::directory::users::{Holder, UserWriteNeeds, UserWriteState};

/// One page of items in index order, and where the next page starts.
#[derive(Debug, Default)]
pub struct ItemPage {
    pub items: Vec<Item>,
    pub next: Option<HashMap<String, AttributeValue>>,
}

impl Store {
    /// A query of one main-table partition.
    pub(crate) fn query_partition(&self, pk: String) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(pk))
            .consistent_read(true)
    }

    /// A query of one `gsi1` partition (eventually consistent, as every GSI read is).
    pub(crate) fn query_gsi1(&self, gsi1pk: String) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(gsi1pk))
    }

    /// Runs one page of `query`, counting its capacity.
    pub(crate) async fn query_page(
        &self,
        query: QueryFluentBuilder,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> Result<ItemPage, StoreError> {
        let out = query
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(service_error)?;
        self.metrics.add_read_capacity(out.consumed_capacity());
        Ok(ItemPage {
            items: out.items.unwrap_or_default(),
            next: out.last_evaluated_key,
        })
    }

    /// Every item `query` returns, following its pages (1 MB each).
    pub(crate) async fn query_all(
        &self,
        query: QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self.query_page(query.clone(), start).await?;
            out.extend(page.items);
            match page.next {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }

    /// One strongly consistent `GetItem`.
    pub async fn get_item(&self, key: (String, String)) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(service_error)?;
        self.metrics.add_read_capacity(out.consumed_capacity());
        Ok(out.item)
    }

    /// Strongly consistent `BatchGetItem`s of 100 keys, four at a time (retrying
    /// unprocessed keys), keyed by (pk, sk).
    pub async fn get_items(
        &self,
        wanted: Vec<(String, String)>,
    ) -> Result<HashMap<(String, String), Item>, StoreError> {
        self.get_items_read(wanted, true).await
    }

    /// `get_items`, strongly consistent or not: an eventually consistent read costs half,
    /// for reads no decision depends on (a review's numbers).
    pub async fn get_items_read(
        &self,
        wanted: Vec<(String, String)>,
        consistent: bool,
    ) -> Result<HashMap<(String, String), Item>, StoreError> {
        let mut unique: Vec<Item> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for k in wanted {
            if seen.insert(k.clone()) {
                unique.push(key_map(k));
            }
        }
        let chunks: Vec<Vec<Item>> = unique.chunks(100).map(<[Item]>::to_vec).collect();
        let results: Vec<Result<Vec<Item>, StoreError>> =
            futures::stream::iter(chunks.into_iter().map(|c| self.batch_get(c, consistent)))
                .buffer_unordered(4)
                .collect()
                .await;
        let mut found = HashMap::new();
        for items in results {
            for item in items? {
                let k = (
                    get_s(&item, "pk").unwrap_or_default().to_string(),
                    get_s(&item, "sk").unwrap_or_default().to_string(),
                );
                found.insert(k, item);
            }
        }
        Ok(found)
    }

    /// One batch of at most 100 keys, retrying what DynamoDB leaves unprocessed.
    async fn batch_get(
        &self,
        mut pending: Vec<Item>,
        consistent: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut attempts = 0u32;
        while !pending.is_empty() {
            attempts += 1;
            let ka = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(consistent)
                .build()
                .map_err(|e| StoreError::Service(e.to_string()))?;
            let resp = self
                .client
                .batch_get_item()
                .request_items(&self.table, ka)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(service_error)?;
            self.metrics.add_read_capacity(resp.consumed_capacity());
            out.extend(
                resp.responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default(),
            );
            if let Some(ka) = resp
                .unprocessed_keys
                .and_then(|mut m| m.remove(&self.table))
            {
                pending = ka.keys;
            }
            if attempts > 10 {
                return Err(StoreError::Throttled);
            }
            if !pending.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(10 << attempts.min(6))).await;
            }
        }
        Ok(out)
    }

    /// One strongly consistent `GetItem` of a record stored as JSON data (orgs, directories,
    /// tokens, accounts, org groups, conflicts), decoded as `T`.
    pub(crate) async fn get_data<T: serde::de::DeserializeOwned>(
        &self,
        key: (String, String),
    ) -> Result<Option<T>, StoreError> {
        self.get_item(key)
            .await?
            .as_ref()
            .map(from_data)
            .transpose()
    }

    pub async fn get_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.get_data(keys::token(hash)).await
    }

    pub async fn get_org(&self, org_id: &str) -> Result<Option<OrgRecord>, StoreError> {
        self.get_data(keys::org(org_id)).await
    }

    pub async fn get_directory(
        &self,
        directory_id: &str,
    ) -> Result<Option<DirectoryRecord>, StoreError> {
        self.get_data(keys::directory(directory_id)).await
    }

    pub async fn get_user(
        &self,
        directory_id: &str,
        user_id: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.get_item(keys::user(directory_id, user_id))
            .await?
            .map(|i| user_from_item(directory_id, &i))
            .transpose()
    }

    pub async fn get_account(
        &self,
        org_id: &str,
        account_id: &str,
    ) -> Result<Option<AccountRecord>, StoreError> {
        self.get_data(keys::account(org_id, account_id)).await
    }

    /// The owner named by a guard item, if the guard exists.
    pub async fn guard_owner(&self, key: (String, String)) -> Result<Option<String>, StoreError> {
        Ok(self
            .get_item(key)
            .await?
            .and_then(|i| get_s(&i, "owner").map(str::to_string)))
    }

    /// The org and everything `needs` names, in one `BatchGetItem`, then the account of the
    /// email and its holder only when they are not already known (each one `GetItem`).
    pub async fn load_user_write(
        &self,
        org_id: &str,
        directory_id: &str,
        existing: Option<UserRecord>,
        needs: &UserWriteNeeds,
    ) -> Result<(Option<OrgRecord>, UserWriteState), StoreError> {
        let org_key = keys::org(org_id);
        let name_key = needs
            .user_name
            .as_ref()
            .map(|n| keys::user_name_guard(directory_id, n));
        let ext_key = needs
            .external_id
            .as_ref()
            .map(|e| keys::external_id_guard(directory_id, e));
        let email_key = needs
            .email
            .as_ref()
            .map(|e| keys::account_email_guard(org_id, e));
        let linked_key = needs
            .linked_account
            .as_ref()
            .map(|a| keys::account(org_id, a));
        let wanted: Vec<(String, String)> = std::iter::once(org_key.clone())
            .chain(name_key.clone())
            .chain(ext_key.clone())
            .chain(email_key.clone())
            .chain(linked_key.clone())
            .collect();
        let found = self.get_items(wanted).await?;
        let owner = |k: &Option<(String, String)>| {
            k.as_ref()
                .and_then(|k| found.get(k))
                .and_then(|i| get_s(i, "owner"))
                .map(str::to_string)
        };
        let org = found.get(&org_key).map(from_data).transpose()?;
        let linked_account: Option<AccountRecord> = linked_key
            .as_ref()
            .and_then(|k| found.get(k))
            .map(from_data)
            .transpose()?;
        let email_account_id = owner(&email_key);
        let email_account = match email_account_id {
            Some(id) if linked_account.as_ref().map(|a| &a.id) == Some(&id) => {
                linked_account.clone()
            }
            Some(id) => self.get_account(org_id, &id).await?,
            None => None,
        };
        let mut state = UserWriteState {
            user_name_owner: owner(&name_key),
            external_id_owner: owner(&ext_key),
            linked_account,
            email_account,
            email_holder: None,
            existing,
        };
        // Only a refusal (L3) needs the holder's externalId: one more read, on that path only.
        let own_id = state.existing.as_ref().map(|u| u.id.clone());
        if let Some(link) = state.email_account.as_ref().and_then(|a| a.link.clone()) {
            if Some(&link.user_id) != own_id.as_ref() || link.directory_id != directory_id {
                let holder = self.get_user(&link.directory_id, &link.user_id).await?;
                state.email_holder = Some(Holder {
                    external_id: holder.as_ref().and_then(|h| {
                        crate::scim::resource::external_id(&h.doc).map(str::to_string)
                    }),
                    directory_id: link.directory_id,
                    user_id: link.user_id,
                });
            }
        }
        Ok((org, state))
    }

    /// One page of a GSI1 partition in its order (a directory's users or groups), and where
    /// the next page starts.
    pub async fn gsi1_page(
        &self,
        gsi1pk: &str,
        start: Option<HashMap<String, AttributeValue>>,
        limit: i32,
    ) -> Result<ItemPage, StoreError> {
        self.query_page(self.query_gsi1(gsi1pk.to_string()).limit(limit), start)
            .await
    }

    /// The number of items of a GSI1 partition: a `Select=COUNT` that reads the whole
    /// partition (its cost grows with the directory; used only for unfiltered lists).
    pub async fn count_gsi1(&self, gsi1pk: &str) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .query_gsi1(gsi1pk.to_string())
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(service_error)?;
            self.metrics.add_read_capacity(out.consumed_capacity());
            total += out.count.max(0) as u64;
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(total),
            }
        }
    }

    /// Ids of the directory's users that have `email` (any of their emails), from the email index.
    pub async fn user_ids_by_email(
        &self,
        directory_id: &str,
        email: &str,
    ) -> Result<Vec<String>, StoreError> {
        let items = self
            .query_all(self.query_partition(keys::user_email_partition(directory_id, email)))
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, "userId").map(str::to_string))
            .collect())
    }

    /// Users by id, in one `BatchGetItem` per 100.
    pub async fn get_users(
        &self,
        directory_id: &str,
        ids: &[String],
    ) -> Result<Vec<UserRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = self
            .get_items(ids.iter().map(|id| keys::user(directory_id, id)).collect())
            .await?;
        ids.iter()
            .filter_map(|id| found.get(&keys::user(directory_id, id)))
            .map(|i| user_from_item(directory_id, i))
            .collect()
    }

    /// Every item of a GSI1 partition, decoded from `data` (small admin listings).
    pub async fn query_gsi1_data<T: serde::de::DeserializeOwned>(
        &self,
        gsi1pk: String,
    ) -> Result<Vec<T>, StoreError> {
        self.query_all(self.query_gsi1(gsi1pk))
            .await?
            .iter()
            .map(from_data)
            .collect()
    }
}
