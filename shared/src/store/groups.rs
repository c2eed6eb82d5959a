//! Reads for groups and memberships: each proportional to what the request names, except
//! where the request itself needs the whole membership.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{from_data, get_s, group_from_item, key_map};
use super::keys::{self, JOB_PAGE_PREFIX, MEMBER_PREFIX};
use super::{Store, StoreError};
use crate::directory::cleanup::{CleanupJobRecord, JobPageRecord, JobSlot};
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

    /// At most `limit` of a group's members, in user-id order, and whether it has more: what
    /// tells a delete it must go asynchronous (one query, whatever the group's size), and
    /// each clean-up chunk (a page of what is left).
    pub async fn group_members_up_to(
        &self,
        directory_id: &str,
        group_id: &str,
        limit: usize,
    ) -> Result<(Vec<String>, bool), StoreError> {
        self.group_members_after(directory_id, group_id, None, limit)
            .await
    }

    /// `group_members_up_to` from the member after `after` on: each step of a replace job
    /// (`directory::cleanup::next_replace_step`) reads the page past its cursor.
    pub async fn group_members_after(
        &self,
        directory_id: &str,
        group_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, bool), StoreError> {
        let start = after.map(|id| key_map(keys::member(directory_id, group_id, id)));
        self.ids_up_to(
            self.members_query(directory_id, group_id),
            start,
            limit,
            "userId",
        )
        .await
    }

    /// At most `limit` values of `attribute` of `query`'s items from `start` on (a key that
    /// need not exist: the query goes on from the next key in order), and whether more
    /// follow: one request, whatever the partition's size.
    pub(crate) async fn ids_up_to(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        start: Option<HashMap<String, AttributeValue>>,
        limit: usize,
        attribute: &str,
    ) -> Result<(Vec<String>, bool), StoreError> {
        let wanted = i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX);
        let page = self.query_page(query.limit(wanted), start).await?;
        let mut ids: Vec<String> = page
            .items
            .iter()
            .filter_map(|i| get_s(i, attribute).map(str::to_string))
            .collect();
        let more = ids.len() > limit;
        ids.truncate(limit);
        Ok((ids, more))
    }

    /// A replace job's target membership (`directory::cleanup::JobPageRecord`), sorted:
    /// one query of its pages (at most a few, each up to 300 KB).
    pub async fn job_target(
        &self,
        directory_id: &str,
        group_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let items = self
            .query_all(
                self.query_partition(keys::group_partition(directory_id, group_id))
                    .key_condition_expression("pk = :p AND begins_with(sk, :j)")
                    .expression_attribute_values(":j", AttributeValue::S(JOB_PAGE_PREFIX.into())),
            )
            .await?;
        let mut ids = Vec::new();
        for item in &items {
            let page: JobPageRecord = from_data(item)?;
            ids.extend(page.user_ids);
        }
        Ok(ids)
    }

    /// The membership a group shows: its member items, or while a replace job brings them
    /// to its target, the target (what the IdP last set, at once).
    pub async fn shown_members(&self, group: &GroupRecord) -> Result<Vec<String>, StoreError> {
        if group.members_pending {
            self.job_target(&group.directory_id, &group.id).await
        } else {
            self.group_members(&group.directory_id, &group.id).await
        }
    }

    /// A group's membership job (a deleted group's clean-up, a replace), if it is still
    /// running.
    pub async fn get_cleanup_job(
        &self,
        directory_id: &str,
        group_id: &str,
    ) -> Result<Option<CleanupJobRecord>, StoreError> {
        self.get_job(directory_id, group_id, JobSlot::Membership)
            .await
    }

    /// The group's job of `slot`, if it is still running.
    pub async fn get_job(
        &self,
        directory_id: &str,
        group_id: &str,
        slot: JobSlot,
    ) -> Result<Option<CleanupJobRecord>, StoreError> {
        self.get_data(keys::job(directory_id, group_id, slot)).await
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

    /// The groups a user is a member of (its `groups` attribute): its member items, of
    /// groups that exist. A deleted big group's member items outlive it until its clean-up
    /// has removed them (`directory::cleanup`); the group items are read (one batch, only
    /// for a user in some group) so that such a group is gone from every read at once.
    pub async fn live_groups_of_user(
        &self,
        directory_id: &str,
        user_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let ids = self.groups_of_user(directory_id, user_id).await?;
        if ids.is_empty() {
            return Ok(ids);
        }
        // Strongly consistent: a group created a moment ago is one of the user's groups.
        let found = self
            .get_items(ids.iter().map(|g| keys::group(directory_id, g)).collect())
            .await?;
        Ok(ids
            .into_iter()
            .filter(|g| found.contains_key(&keys::group(directory_id, g)))
            .collect())
    }

    /// The groups a user is a member of, from the membership index: every member item,
    /// those of a deleted group not yet cleaned up included (what a user's delete removes).
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
