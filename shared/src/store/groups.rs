//! Reads for groups and memberships: each proportional to what the request names, except
//! where the request itself needs the whole membership.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{get_s, group_from_item};
use super::keys::{self, MEMBER_PREFIX};
use super::{Store, StoreError};
use crate::directory::groups::GroupNameState;
use crate::directory::model::{GroupRecord, OrgGroupRecord};

/// A page of a group's member ids, and where the next page starts.
#[derive(Debug, Default)]
pub struct MemberPage {
    pub user_ids: Vec<String>,
    pub next: Option<HashMap<String, AttributeValue>>,
}

impl Store {
    pub async fn get_group(
        &self,
        directory_id: &str,
        group_id: &str,
    ) -> Result<Option<GroupRecord>, StoreError> {
        self.get_item(keys::group(directory_id, group_id))
            .await?
            .map(|i| group_from_item(directory_id, &i))
            .transpose()
    }

    pub async fn get_org_group(
        &self,
        org_id: &str,
        org_group_id: &str,
    ) -> Result<Option<OrgGroupRecord>, StoreError> {
        self.get_data(keys::org_group(org_id, org_group_id)).await
    }

    /// The SCIM group holding `lower` in this directory and the org group of that name:
    /// one `BatchGetItem` of both guards, then the org group itself when there is one.
    pub async fn load_group_names(
        &self,
        org_id: &str,
        directory_id: &str,
        lower: &str,
    ) -> Result<GroupNameState, StoreError> {
        let scim_key = keys::group_name_guard(directory_id, lower);
        let org_key = keys::org_group_name_guard(org_id, lower);
        let found = self
            .get_items(vec![scim_key.clone(), org_key.clone()])
            .await?;
        let owner = |k: &(String, String)| {
            found
                .get(k)
                .and_then(|i| get_s(i, "owner"))
                .map(str::to_string)
        };
        let org_group = match owner(&org_key) {
            Some(id) => self.get_org_group(org_id, &id).await?,
            None => None,
        };
        Ok(GroupNameState {
            name_owner: owner(&scim_key),
            org_group,
        })
    }

    /// Of `user_ids`, those that are users of the directory and those that are members of
    /// the group: one `BatchGetItem` per 50 ids, whatever the group's size.
    pub async fn users_and_memberships(
        &self,
        directory_id: &str,
        group_id: Option<&str>,
        user_ids: &BTreeSet<String>,
        check_users: &BTreeSet<String>,
    ) -> Result<(BTreeSet<String>, BTreeSet<String>), StoreError> {
        let mut wanted = Vec::new();
        for id in check_users {
            wanted.push(keys::user(directory_id, id));
        }
        if let Some(g) = group_id {
            for id in user_ids {
                wanted.push(keys::member(directory_id, g, id));
            }
        }
        let found = self.get_items(wanted).await?;
        let users = check_users
            .iter()
            .filter(|id| found.contains_key(&keys::user(directory_id, id)))
            .cloned()
            .collect();
        let members = match group_id {
            Some(g) => user_ids
                .iter()
                .filter(|id| found.contains_key(&keys::member(directory_id, g, id)))
                .cloned()
                .collect(),
            None => BTreeSet::new(),
        };
        Ok((users, members))
    }

    /// A page of a group's members, in user-id order.
    pub async fn group_members_page(
        &self,
        directory_id: &str,
        group_id: &str,
        start: Option<HashMap<String, AttributeValue>>,
    ) -> Result<MemberPage, StoreError> {
        let page = self
            .query_page(self.members_query(directory_id, group_id), start)
            .await?;
        Ok(MemberPage {
            user_ids: page
                .items
                .iter()
                .filter_map(|i| get_s(i, "userId").map(str::to_string))
                .collect(),
            next: page.next,
        })
    }

    /// The member items of a group: they share its partition, after its `GROUP` item.
    fn members_query(
        &self,
        directory_id: &str,
        group_id: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.query_partition(keys::group_partition(directory_id, group_id))
            .key_condition_expression("pk = :p AND begins_with(sk, :m)")
            .expression_attribute_values(":m", AttributeValue::S(MEMBER_PREFIX.into()))
            .projection_expression("userId")
    }

    /// Every member of a group, paging internally (1 MB per page).
    pub async fn group_members(
        &self,
        directory_id: &str,
        group_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let items = self
            .query_all(self.members_query(directory_id, group_id))
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, "userId").map(str::to_string))
            .collect())
    }

    /// The groups a user is a member of (its `groups` attribute), from the membership index.
    pub async fn groups_of_user(
        &self,
        directory_id: &str,
        user_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let items = self
            .query_all(self.query_gsi1(keys::groups_of_user(directory_id, user_id)))
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, "groupId").map(str::to_string))
            .collect())
    }
}
