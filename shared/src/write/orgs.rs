//! The set-up writes: organizations, directories and credentials. Each is one record put
//! only if absent (or one delete) with its log event: a lost race is only possible on an id
//! collision, and a retried create makes a new record, as a retried POST does.

use super::{Caller, Decision, Writer, Written};
use crate::directory::model::TokenRecord;
use crate::directory::orgs::{plan_create, plan_revoke_credential};
use crate::directory::plan::Record;
use crate::scim::error::ScimError;

impl Writer<'_> {
    /// A new organization, directory or credential (`Record::Org`, `Directory`, `Token`).
    pub async fn create(
        &self,
        caller: &Caller,
        operation: &str,
        record: Record,
    ) -> Result<Written<()>, ScimError> {
        self.run(|| async {
            let ctx = caller.context(operation.to_string(), Vec::new(), None);
            Ok(Decision::Apply(plan_create(&ctx, record.clone()), ()))
        })
        .await
    }

    pub async fn revoke_credential(
        &self,
        caller: &Caller,
        operation: &str,
        token: &TokenRecord,
    ) -> Result<Written<()>, ScimError> {
        self.run(|| async {
            let ctx = caller.context(operation.to_string(), Vec::new(), None);
            Ok(Decision::Apply(plan_revoke_credential(&ctx, token), ()))
        })
        .await
    }
}
