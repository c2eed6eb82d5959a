//! SCIM user writes: create, replace (PUT and PATCH), delete (L1-L7).

use serde_json::Value;

use super::{check_if_match, found, Caller, Decision, Writer, Written};
use crate::directory::model::UserRecord;
use crate::directory::plan::{Plan, Refusal};
use crate::directory::users::{
    plan_user_create, plan_user_delete, plan_user_replace, user_write_needs, LinkDecision,
    UserDecision, UserWriteNeeds,
};
use crate::scim::error::ScimError;
use crate::scim::patch::{apply_patch, PatchOperation};
use crate::scim::schema::USER_RESOURCE;
use crate::store::Store;

/// What a user write ended with: the user as stored (or as it would be, on a dry run) and
/// the link decision; `None` for a no-op (L4), which wrote nothing.
#[derive(Debug, Clone)]
pub struct UserOutcome {
    pub user: UserRecord,
    pub link: Option<LinkDecision>,
}

/// How an existing user changes: a whole new document (PUT) or PATCH operations applied to
/// the stored one, with the IdP quirks normalized on the way.
#[derive(Debug, Clone)]
pub enum UserChange {
    Replace {
        doc: Value,
        quirks: Vec<String>,
    },
    Patch {
        ops: Vec<PatchOperation>,
        quirks: Vec<String>,
    },
}

impl UserChange {
    fn method(&self) -> &'static str {
        match self {
            UserChange::Replace { .. } => "PUT",
            UserChange::Patch { .. } => "PATCH",
        }
    }

    /// The user's next document and every quirk normalized to get it.
    fn next_doc(&self, stored: &Value) -> Result<(Value, Vec<String>), ScimError> {
        match self {
            UserChange::Replace { doc, quirks } => Ok((doc.clone(), quirks.clone())),
            UserChange::Patch { ops, quirks } => {
                let n = apply_patch(&USER_RESOURCE, stored, ops)?;
                Ok((n.doc, quirks.iter().cloned().chain(n.quirks).collect()))
            }
        }
    }
}

fn decided(d: Result<UserDecision, Refusal>) -> Decision<UserOutcome> {
    match d {
        Ok(d) => Decision::Apply(
            d.plan,
            UserOutcome {
                user: d.user,
                link: Some(d.link),
            },
        ),
        Err(r) => Decision::Refuse(r),
    }
}

pub(crate) async fn load_user(
    store: &Store,
    directory_id: &str,
    id: &str,
) -> Result<UserRecord, ScimError> {
    found(store.get_user(directory_id, id).await?, "user", id)
}

impl Writer<'_> {
    /// POST /Users: L1 links to the account with the user's email, or creates one.
    /// `user_id` is drawn once by the caller, so a retried attempt creates the same user.
    pub async fn create_user(
        &self,
        caller: &Caller,
        user_id: &str,
        doc: Value,
        quirks: Vec<String>,
    ) -> Result<Written<UserOutcome>, ScimError> {
        let needs = user_write_needs(None, &doc);
        self.run(|| async {
            let (org, state) = self
                .store
                .load_user_write(&caller.org_id, &caller.directory_id, None, &needs)
                .await?;
            let org = org.ok_or_else(crate::write::unknown_directory)?;
            let ctx = caller.context("POST /Users".into(), quirks.clone(), Some(&org));
            Ok(decided(plan_user_create(
                &ctx,
                &state,
                user_id,
                doc.clone(),
            )))
        })
        .await
    }

    /// PUT and PATCH: the next document from the stored one; an unchanged one writes
    /// nothing (L4); else load what the decision needs, plan, apply.
    pub async fn change_user(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
        change: &UserChange,
    ) -> Result<Written<UserOutcome>, ScimError> {
        self.run(|| async {
            let existing = load_user(self.store, &caller.directory_id, id).await?;
            check_if_match(if_match, existing.version)?;
            let (doc, quirks) = change.next_doc(&existing.doc)?;
            if doc == existing.doc {
                tracing::info!(request_id = %caller.request_id, directory = %caller.directory_id, scim_id = %id, outcome = "no-op", "unchanged user; nothing written (L4)");
                return Ok(Decision::Apply(
                    Plan::default(),
                    UserOutcome {
                        user: existing,
                        link: None,
                    },
                ));
            }
            let needs = user_write_needs(Some(&existing), &doc);
            let (org, state) = self
                .store
                .load_user_write(&caller.org_id, &caller.directory_id, Some(existing), &needs)
                .await?;
            let org = org.ok_or_else(crate::write::unknown_directory)?;
            let operation = format!("{} /Users/{id}", change.method());
            let ctx = caller.context(operation, quirks, Some(&org));
            Ok(decided(plan_user_replace(&ctx, &state, doc)))
        })
        .await
    }

    /// DELETE /Users/{id} (L7): the user, its link and its memberships go; the account stays.
    pub async fn delete_user(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<Written<UserOutcome>, ScimError> {
        self.run(|| async {
            let user = load_user(self.store, &caller.directory_id, id).await?;
            check_if_match(if_match, user.version)?;
            // The org and the linked account in one batch read.
            let needs = UserWriteNeeds {
                linked_account: user.account_id.clone(),
                ..UserWriteNeeds::default()
            };
            let (org, state) = self
                .store
                .load_user_write(&caller.org_id, &caller.directory_id, None, &needs)
                .await?;
            let org = org.ok_or_else(crate::write::unknown_directory)?;
            let groups = self.store.groups_of_user(&caller.directory_id, id).await?;
            let ctx = caller.context(format!("DELETE /Users/{id}"), Vec::new(), Some(&org));
            let d = plan_user_delete(&ctx, &user, state.linked_account.as_ref(), &groups);
            Ok(decided(Ok(d)))
        })
        .await
    }
}
