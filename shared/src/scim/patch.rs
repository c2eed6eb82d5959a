// TEMPORARY stub
use super::error::ScimError;
use super::resource::Normalized;
use super::schema::ResourceType;
use serde_json::Value;
pub struct PatchOperation;
pub fn parse_patch(
    _rt: &'static ResourceType,
    _body: &Value,
) -> Result<Vec<PatchOperation>, ScimError> {
    Err(ScimError::invalid_syntax("stub"))
}
pub fn apply_patch(
    _rt: &'static ResourceType,
    _doc: &Value,
    _ops: &[PatchOperation],
) -> Result<Normalized, ScimError> {
    Err(ScimError::invalid_syntax("stub"))
}
