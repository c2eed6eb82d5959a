//! Reads for product access and group conflicts: each proportional to the members and
//! accounts involved, never to the directory.

use std::collections::{BTreeMap, BTreeSet};

use super::items::{from_data, group_from_item};
use super::keys;
use super::{Store, StoreError};
use crate::directory::changes::{AccessNeeds, AccessWorld};
use crate::directory::model::{AccountRecord, ConflictRecord, GroupRecord, OrgGroupRecord};
use crate::directory::plan::{Condition, Record, Write};

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

impl Store {
    /// What a plan's access events are computed over (E5): the records `needs` names and
    /// the memberships, groups and org groups they lead to, read as they are before the
    /// plan. The reads grow with the accounts the plan touches, never with the directory;
    /// a plan whose groups grant no roles reads only those groups.
    pub async fn access_world(
        &self,
        org_id: &str,
        needs: &AccessNeeds,
        writes: &[Write],
        before: &[Record],
    ) -> Result<AccessWorld, StoreError> {
        let mut world = AccessWorld::default();
        if needs.is_empty() {
            return Ok(world);
        }
        let planned_users: BTreeSet<(String, String)> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Put(Record::User(u), _) => Some((u.directory_id.clone(), u.id.clone())),
                _ => None,
            })
            .collect();
        // 1. The groups of the membership changes (those the plan did not load) and their
        // org groups.
        for g in self
            .groups_by_keys(needs.groups.iter().cloned().collect())
            .await?
        {
            world
                .groups
                .insert((g.directory_id.clone(), g.id.clone()), g);
        }
        // What the plan loaded is what is stored: no need to read it again.
        for r in before {
            match r {
                Record::Group(g) => {
                    world
                        .groups
                        .insert((g.directory_id.clone(), g.id.clone()), g.clone());
                }
                Record::Account(a) if needs.accounts.contains(&a.id) => {
                    world.accounts.insert(a.id.clone(), a.clone());
                }
                _ => {}
            }
        }
        let mut og_ids: BTreeSet<String> = needs.org_group_members.clone();
        og_ids.extend(world.groups.values().filter_map(|g| g.org_group_id.clone()));
        for w in writes {
            match w {
                Write::Put(Record::OrgMember { org_group_id, .. }, _)
                | Write::Delete(Record::OrgMember { org_group_id, .. }, _) => {
                    og_ids.insert(org_group_id.clone());
                }
                Write::Put(Record::Group(g), _) => {
                    og_ids.extend(g.org_group_id.clone());
                }
                Write::Put(Record::OrgGroup(og), _) => {
                    og_ids.insert(og.id.clone());
                }
                _ => {}
            }
        }
        self.add_org_groups(&mut world, org_id, &og_ids).await?;
        // Roles change only through an org group that grants some (before or after the
        // plan) or an account's status or link: otherwise nobody's access changes, and
        // nothing more is read (a sync or membership change of role-less groups).
        if !needs.account_status_or_link && !grants_roles(&world, writes, before) {
            return Ok(AccessWorld::default());
        }
        // A membership change in a group that grants nothing (held, unattached, or whose org
        // group has no roles) changes nobody's access: its users need no reads.
        let grants = |world: &AccessWorld, key: &(String, String)| {
            let group = writes
                .iter()
                .find_map(|w| match w {
                    Write::Put(Record::Group(g), _) if g.directory_id == key.0 && g.id == key.1 => {
                        Some(g)
                    }
                    _ => None,
                })
                .or_else(|| world.groups.get(key));
            group.is_some_and(|g| {
                !g.held
                    && g.org_group_id
                        .as_ref()
                        .and_then(|og| world.org_groups.get(og))
                        .is_some_and(|og| !og.roles.is_empty())
            })
        };
        let mut users: BTreeSet<(String, String)> = BTreeSet::new();
        for w in writes {
            if let Write::Put(
                Record::Member {
                    directory_id,
                    group_id,
                    user_id,
                },
                _,
            )
            | Write::Delete(
                Record::Member {
                    directory_id,
                    group_id,
                    user_id,
                },
                _,
            ) = w
            {
                let user = (directory_id.clone(), user_id.clone());
                if needs.users.contains(&user)
                    && grants(&world, &(directory_id.clone(), group_id.clone()))
                {
                    users.insert(user);
                }
            }
        }
        // 2. Every member of groups and org groups whose grant changes wholesale.
        for (d, g) in &needs.group_members {
            for u in self.group_members(d, g).await? {
                users.insert((d.clone(), u));
            }
        }
        let mut accounts: BTreeSet<String> = needs.accounts.clone();
        for og in &needs.org_group_members {
            accounts.extend(self.org_group_members(org_id, og).await?);
            let scim_group = world
                .org_groups
                .get(og)
                .and_then(|o| o.scim_group.clone())
                .filter(|r| {
                    !needs
                        .cleaned_up_later
                        .contains(&(r.directory_id.clone(), r.group_id.clone()))
                });
            if let Some(r) = scim_group {
                for u in self.group_members(&r.directory_id, &r.group_id).await? {
                    users.insert((r.directory_id.clone(), u));
                }
            }
        }
        let mut by_directory: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (d, u) in users.into_iter().filter(|u| !planned_users.contains(u)) {
            by_directory.entry(d).or_default().push(u);
        }
        for (d, ids) in by_directory {
            for u in self.get_users(&d, &ids).await? {
                accounts.extend(u.account_id);
            }
        }
        for w in writes {
            if let Write::Put(Record::User(u), _) = w {
                if needs
                    .users
                    .contains(&(u.directory_id.clone(), u.id.clone()))
                {
                    accounts.extend(u.account_id.clone());
                }
            }
        }
        accounts.retain(|a| !needs.created_accounts.contains(a));
        // 3. The accounts, their admin memberships, and their users' groups (as linked
        // now and as the plan links them).
        let ids: Vec<String> = accounts
            .into_iter()
            .filter(|a| !world.accounts.contains_key(a))
            .collect();
        for a in self.get_accounts(org_id, &ids).await? {
            world.accounts.insert(a.id.clone(), a);
        }
        let mut linked: BTreeSet<(String, String)> = world
            .accounts
            .values()
            .filter_map(|a| a.link.as_ref())
            .map(|l| (l.directory_id.clone(), l.user_id.clone()))
            .collect();
        for w in writes {
            if let Write::Put(Record::Account(a), _) = w {
                if let Some(l) = &a.link {
                    linked.insert((l.directory_id.clone(), l.user_id.clone()));
                }
            }
        }
        // A user the plan creates is in no group yet; one it updates (a deactivation) is
        // in the groups it was in, and they are what its account loses.
        let created_users: BTreeSet<(String, String)> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Put(Record::User(u), Condition::Absent) => {
                    Some((u.directory_id.clone(), u.id.clone()))
                }
                _ => None,
            })
            .collect();
        linked.retain(|u| !created_users.contains(u) || needs.users.contains(u));
        let memberships = futures::future::try_join_all(
            world
                .accounts
                .keys()
                .map(|a| self.org_groups_of_account(org_id, a)),
        );
        let user_groups =
            futures::future::try_join_all(linked.iter().map(|(d, u)| self.groups_of_user(d, u)));
        let (memberships, user_groups) = futures::try_join!(memberships, user_groups)?;
        let account_ids: Vec<String> = world.accounts.keys().cloned().collect();
        for (a, ogs) in account_ids.into_iter().zip(memberships) {
            og_ids.extend(ogs.iter().cloned());
            world.admin_memberships.insert(a, ogs.into_iter().collect());
        }
        let mut group_keys: Vec<(String, String)> = Vec::new();
        for (user, gids) in linked.into_iter().zip(user_groups) {
            for g in &gids {
                let key = (user.0.clone(), g.clone());
                if !world.groups.contains_key(&key) {
                    group_keys.push(key);
                }
            }
            world.user_groups.insert(user, gids.into_iter().collect());
        }
        for g in self.groups_by_keys(group_keys).await? {
            og_ids.extend(g.org_group_id.clone());
            world
                .groups
                .insert((g.directory_id.clone(), g.id.clone()), g);
        }
        let missing: BTreeSet<String> = og_ids
            .into_iter()
            .filter(|o| !world.org_groups.contains_key(o))
            .collect();
        self.add_org_groups(&mut world, org_id, &missing).await?;
        // The org names products and sites in access events: read only when some role is
        // at stake.
        let accounts = !world.accounts.is_empty() || !needs.created_accounts.is_empty();
        if accounts && grants_roles(&world, writes, before) {
            world.org = self.get_org(org_id).await?;
        }
        Ok(world)
    }

    async fn add_org_groups(
        &self,
        world: &mut AccessWorld,
        org_id: &str,
        ids: &BTreeSet<String>,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = ids.iter().cloned().collect();
        for og in self.org_groups_by_ids(org_id, &ids).await? {
            world.org_groups.insert(og.id.clone(), og);
        }
        Ok(())
    }

    /// Groups by (directory, id), in batch reads.
    async fn groups_by_keys(
        &self,
        keys_wanted: Vec<(String, String)>,
    ) -> Result<Vec<GroupRecord>, StoreError> {
        if keys_wanted.is_empty() {
            return Ok(Vec::new());
        }
        let found = self
            .get_items(keys_wanted.iter().map(|(d, g)| keys::group(d, g)).collect())
            .await?;
        keys_wanted
            .iter()
            .filter_map(|(d, g)| found.get(&keys::group(d, g)).map(|i| (d, i)))
            .map(|(d, i)| group_from_item(d, i))
            .collect()
    }
}

/// Whether any org group of the world, or one the plan writes or replaces, grants a role.
fn grants_roles(world: &AccessWorld, writes: &[Write], before: &[Record]) -> bool {
    world.org_groups.values().any(|og| !og.roles.is_empty())
        || before
            .iter()
            .any(|r| matches!(r, Record::OrgGroup(og) if !og.roles.is_empty()))
        || writes
            .iter()
            .any(|w| matches!(w, Write::Put(Record::OrgGroup(og), _) if !og.roles.is_empty()))
}
