// TEMPORARY stub
use super::error::ScimError;
use super::schema::{Attribute, Container, ResourceType};
use serde_json::Value;
#[derive(Debug, Clone)]
pub struct AttrPath {
    pub container: Container,
    pub attr: &'static Attribute,
    pub sub: Option<&'static Attribute>,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}
#[derive(Debug, Clone)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}
pub fn parse_filter(_rt: &'static ResourceType, _input: &str) -> Result<Filter, ScimError> {
    Err(ScimError::invalid_filter("stub"))
}
impl Filter {
    pub fn matches(&self, _doc: &Value) -> bool {
        false
    }
}
