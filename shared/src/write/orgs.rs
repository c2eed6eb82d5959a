//! The set-up writes: organizations, directories and credentials. Each is one record put
//! only if absent (or one delete): a lost race is only possible on an id collision, and a
//! retried create makes a new record, as a retried POST does.

use super::{Decision, Writer, Written};
use crate::directory::model::TokenRecord;
use crate::directory::orgs::{plan_create, plan_revoke_credential};
use crate::directory::plan::{Plan, Record};
use crate::scim::error::ScimError;

impl Writer<'_> {
    async fn apply_fixed(&self, plan: Plan) -> Result<Written<()>, ScimError> {
        self.run(|| async { Ok(Decision::Apply(plan.clone(), ())) })
            .await
    }

    /// A new organization, directory or credential (`Record::Org`, `Directory`, `Token`).
    pub async fn create(&self, record: Record) -> Result<Written<()>, ScimError> {
        self.apply_fixed(plan_create(record)).await
    }

    pub async fn revoke_credential(&self, token: &TokenRecord) -> Result<Written<()>, ScimError> {
        self.apply_fixed(plan_revoke_credential(token)).await
    }
}
