//! The set-up writes: organizations, directories and credentials. Each is one record put
//! only if absent (or one delete), so a lost race is the only stale case and a retry of a
//! create makes a new record: the request is not idempotent, as a POST is not.

use super::{Decision, Writer, Written};
use crate::directory::model::{DirectoryRecord, OrgRecord, TokenRecord};
use crate::directory::orgs::{
    plan_create_credential, plan_create_directory, plan_create_org, plan_revoke_credential,
};
use crate::directory::plan::Plan;
use crate::scim::error::ScimError;

impl Writer<'_> {
    async fn put_once<T: Clone>(&self, plan: Plan, made: T) -> Result<Written<T>, ScimError> {
        self.run(|| async { Ok(Decision::Apply(plan.clone(), made.clone())) })
            .await
    }

    pub async fn create_org(&self, org: OrgRecord) -> Result<Written<OrgRecord>, ScimError> {
        self.put_once(plan_create_org(&org), org).await
    }

    pub async fn create_directory(
        &self,
        dir: DirectoryRecord,
    ) -> Result<Written<DirectoryRecord>, ScimError> {
        self.put_once(plan_create_directory(&dir), dir).await
    }

    pub async fn create_credential(
        &self,
        token: TokenRecord,
    ) -> Result<Written<TokenRecord>, ScimError> {
        self.put_once(plan_create_credential(&token), token).await
    }

    pub async fn revoke_credential(
        &self,
        token: TokenRecord,
    ) -> Result<Written<TokenRecord>, ScimError> {
        self.put_once(plan_revoke_credential(&token), token).await
    }
}
