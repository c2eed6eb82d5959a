//! The SCIM schemas this server implements (RFC 7643 §4, §8.7), as static data.
//!
//! One definition serves the discovery documents, attribute-name canonicalization,
//! `caseExact` in filters, `returned` in projections and `mutability` in PATCH/PUT.

use serde_json::{json, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// G8: the Role resource of Okta Identity Governance's "SCIM 2.0 with entitlements"
/// (developer.okta.com/docs/guides/scim-with-entitlements): Okta lists the resources of
/// every resource type with this schema and assigns them through a user's `roles`.
pub const ROLE_SCHEMA: &str = "urn:okta:scim:schemas:core:1.0:Role";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// Equality is structural (name, type, characteristics, sub-attributes), which is what
/// comparing parsed filters and paths needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Attribute {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub sub_attributes: &'static [Attribute],
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub description: &'static str,
}

impl Attribute {
    /// The sub-attribute of a complex attribute, by case-insensitive name.
    pub fn sub(&self, name: &str) -> Option<&'static Attribute> {
        find(self.sub_attributes, name)
    }
}

#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attribute],
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        find(self.attributes, name)
    }
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Schema {}

fn find(attrs: &'static [Attribute], name: &str) -> Option<&'static Attribute> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// A resource type: its core schema and its schema extensions.
#[derive(Debug)]
pub struct ResourceType {
    pub id: &'static str,
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static Schema,
    /// (extension schema, required)
    pub extensions: &'static [(&'static Schema, bool)],
}

/// Where an attribute lives in a resource document: at the top level (core schema
/// and common attributes) or under an extension's URN key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Core,
    Extension(&'static Schema),
}

impl ResourceType {
    /// A top-level attribute by case-insensitive name: common attributes, then the core schema.
    pub fn core_attribute(&self, name: &str) -> Option<&'static Attribute> {
        find(&COMMON_ATTRIBUTES, name).or_else(|| self.schema.attribute(name))
    }

    /// The extension schema whose URN is `urn` (case-insensitive).
    pub fn extension(&self, urn: &str) -> Option<&'static Schema> {
        self.extensions
            .iter()
            .map(|(s, _)| *s)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Every schema URN a document of this type may carry in `schemas`.
    pub fn schema_ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.schema.id).chain(self.extensions.iter().map(|(s, _)| s.id))
    }

    /// Splits a leading schema URN off an attribute path (`urn:...:User:manager.value`),
    /// returning the container and the rest (`manager.value`). Paths without a URN
    /// (or with the core schema's URN) are in the core container.
    pub fn split_urn<'p>(&self, path: &'p str) -> Option<(Container, &'p str)> {
        if !path.to_ascii_lowercase().starts_with("urn:") {
            return Some((Container::Core, path));
        }
        for id in self.schema_ids() {
            if path.len() > id.len()
                && path[..id.len()].eq_ignore_ascii_case(id)
                && path.as_bytes()[id.len()] == b':'
            {
                let rest = &path[id.len() + 1..];
                let container = match self.extension(id) {
                    Some(ext) => Container::Extension(ext),
                    None => Container::Core,
                };
                return Some((container, rest));
            }
            if path.eq_ignore_ascii_case(id) {
                let container = match self.extension(id) {
                    Some(ext) => Container::Extension(ext),
                    None => Container::Core,
                };
                return Some((container, ""));
            }
        }
        None
    }

    /// The attribute named `name` inside `container`.
    pub fn attribute_in(&self, container: Container, name: &str) -> Option<&'static Attribute> {
        match container {
            Container::Core => self.core_attribute(name),
            Container::Extension(s) => s.attribute(name),
        }
    }
}

const fn attr(name: &'static str, ty: AttrType) -> Attribute {
    Attribute {
        name,
        ty,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        sub_attributes: &[],
        canonical_values: &[],
        reference_types: &[],
        description: "",
    }
}

const fn string(name: &'static str) -> Attribute {
    attr(name, AttrType::String)
}

const fn read_only(mut a: Attribute) -> Attribute {
    a.mutability = Mutability::ReadOnly;
    a
}

const fn multi(mut a: Attribute) -> Attribute {
    a.multi_valued = true;
    a
}

const fn complex(name: &'static str, subs: &'static [Attribute]) -> Attribute {
    let mut a = attr(name, AttrType::Complex);
    a.sub_attributes = subs;
    a
}

const fn reference(name: &'static str, types: &'static [&'static str]) -> Attribute {
    let mut a = attr(name, AttrType::Reference);
    a.reference_types = types;
    a
}

/// `value`, `display`, `type`, `primary`: the sub-attributes of most multi-valued attributes.
const fn multi_valued_subs(value_type: AttrType) -> [Attribute; 4] {
    [
        attr("value", value_type),
        string("display"),
        string("type"),
        attr("primary", AttrType::Boolean),
    ]
}

const STRING_MV_SUBS: [Attribute; 4] = multi_valued_subs(AttrType::String);
const EMAIL_SUBS: [Attribute; 4] = {
    let mut s = multi_valued_subs(AttrType::String);
    s[2].canonical_values = &["work", "home", "other"];
    s
};
const PHONE_SUBS: [Attribute; 4] = {
    let mut s = multi_valued_subs(AttrType::String);
    s[2].canonical_values = &["work", "home", "mobile", "fax", "pager", "other"];
    s
};
const PHOTO_SUBS: [Attribute; 4] = {
    let mut s = multi_valued_subs(AttrType::Reference);
    s[0].reference_types = &["external"];
    s
};
const CERT_SUBS: [Attribute; 4] = multi_valued_subs(AttrType::Binary);

/// `id`, `externalId`, `meta`: on every resource (RFC 7643 §3.1).
pub static COMMON_ATTRIBUTES: [Attribute; 3] = [
    {
        let mut a = read_only(string("id"));
        a.case_exact = true;
        a.returned = Returned::Always;
        a.uniqueness = Uniqueness::Server;
        a.description = "Unique identifier for the resource, assigned by the service provider.";
        a
    },
    {
        let mut a = string("externalId");
        a.case_exact = true;
        a.description = "Identifier of the resource as defined by the provisioning client.";
        a
    },
    {
        let mut a = read_only(complex("meta", &META_SUBS));
        a.description = "Resource metadata.";
        a
    },
];

static META_SUBS: [Attribute; 5] = [
    {
        let mut a = read_only(string("resourceType"));
        a.case_exact = true;
        a
    },
    read_only(attr("created", AttrType::DateTime)),
    read_only(attr("lastModified", AttrType::DateTime)),
    {
        let mut a = read_only(reference("location", &["uri"]));
        a.case_exact = true;
        a
    },
    {
        let mut a = read_only(string("version"));
        a.case_exact = true;
        a
    },
];

static NAME_SUBS: [Attribute; 6] = [
    string("formatted"),
    string("familyName"),
    string("givenName"),
    string("middleName"),
    string("honorificPrefix"),
    string("honorificSuffix"),
];

static ADDRESS_SUBS: [Attribute; 8] = [
    string("formatted"),
    string("streetAddress"),
    string("locality"),
    string("region"),
    string("postalCode"),
    string("country"),
    {
        let mut a = string("type");
        a.canonical_values = &["work", "home", "other"];
        a
    },
    attr("primary", AttrType::Boolean),
];

static USER_GROUP_SUBS: [Attribute; 4] = [
    read_only(string("value")),
    read_only(reference("$ref", &["User", "Group"])),
    read_only(string("display")),
    {
        let mut a = read_only(string("type"));
        a.canonical_values = &["direct", "indirect"];
        a
    },
];

static USER_ATTRIBUTES: [Attribute; 21] = [
    {
        let mut a = string("userName");
        a.required = true;
        a.uniqueness = Uniqueness::Server;
        a.description = "Unique identifier for the user, typically used to sign in.";
        a
    },
    complex("name", &NAME_SUBS),
    string("displayName"),
    string("nickName"),
    reference("profileUrl", &["external"]),
    string("title"),
    string("userType"),
    string("preferredLanguage"),
    string("locale"),
    string("timezone"),
    attr("active", AttrType::Boolean),
    {
        let mut a = string("password");
        a.mutability = Mutability::WriteOnly;
        a.returned = Returned::Never;
        a
    },
    multi(complex("emails", &EMAIL_SUBS)),
    multi(complex("phoneNumbers", &PHONE_SUBS)),
    multi(complex("ims", &STRING_MV_SUBS)),
    multi(complex("photos", &PHOTO_SUBS)),
    multi(complex("addresses", &ADDRESS_SUBS)),
    multi(read_only(complex("groups", &USER_GROUP_SUBS))),
    multi(complex("entitlements", &STRING_MV_SUBS)),
    multi(complex("roles", &STRING_MV_SUBS)),
    multi(complex("x509Certificates", &CERT_SUBS)),
];

static MANAGER_SUBS: [Attribute; 3] = [
    string("value"),
    reference("$ref", &["User"]),
    read_only(string("displayName")),
];

static ENTERPRISE_ATTRIBUTES: [Attribute; 6] = [
    string("employeeNumber"),
    string("costCenter"),
    string("organization"),
    string("division"),
    string("department"),
    complex("manager", &MANAGER_SUBS),
];

static MEMBER_SUBS: [Attribute; 4] = [
    {
        let mut a = string("value");
        a.mutability = Mutability::Immutable;
        a.case_exact = true;
        a
    },
    {
        // Members are rendered without `$ref` (docs/DECISIONS.md: response size), so the
        // schema says `returned: never` rather than RFC 7643 §8.7.1's `default`: a client
        // may send it (immutable, as in RFC 7643 §4.2) but must not expect it back.
        let mut a = reference("$ref", &["User", "Group"]);
        a.mutability = Mutability::Immutable;
        a.returned = Returned::Never;
        a
    },
    {
        let mut a = string("display");
        a.mutability = Mutability::ReadOnly;
        a
    },
    {
        let mut a = string("type");
        a.mutability = Mutability::Immutable;
        a.canonical_values = &["User", "Group"];
        a
    },
];

static GROUP_ATTRIBUTES: [Attribute; 2] = [
    {
        let mut a = string("displayName");
        a.required = true;
        a.uniqueness = Uniqueness::Server;
        a
    },
    multi(complex("members", &MEMBER_SUBS)),
];

/// A Role is read-only: it is one of the org's product roles, managed in the admin API.
static ROLE_ATTRIBUTES: [Attribute; 2] = [
    {
        let mut a = read_only(string("displayName"));
        a.required = true;
        a.description = "The product's name and the role, e.g. 'Jira admin'.";
        a
    },
    {
        let mut a = read_only(string("description"));
        a.description = "The role, its product and the product's site, in words.";
        a
    },
];

pub static USER: Schema = Schema {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attributes: &USER_ATTRIBUTES,
};

pub static ENTERPRISE_USER: Schema = Schema {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &ENTERPRISE_ATTRIBUTES,
};

pub static GROUP: Schema = Schema {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attributes: &GROUP_ATTRIBUTES,
};

pub static ROLE: Schema = Schema {
    id: ROLE_SCHEMA,
    name: "Role",
    description: "A product role of the organization, assigned to a user through its roles",
    attributes: &ROLE_ATTRIBUTES,
};

pub static ROLE_RESOURCE: ResourceType = ResourceType {
    id: "Role",
    name: "Role",
    endpoint: "/Roles",
    description:
        "The organization's product roles (read-only); a user's roles[].value names one by id",
    schema: &ROLE,
    extensions: &[],
};

pub static USER_RESOURCE: ResourceType = ResourceType {
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER,
    extensions: &[(&ENTERPRISE_USER, false)],
};

pub static GROUP_RESOURCE: ResourceType = ResourceType {
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP,
    extensions: &[],
};

/// The schema representation of an attribute for the `/Schemas` endpoint (RFC 7643 §7).
pub fn attribute_json(a: &Attribute) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": a.ty.as_str(),
        "multiValued": a.multi_valued,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": match a.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        },
        "returned": match a.returned {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        },
        "uniqueness": match a.uniqueness {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        },
    });
    if let Some(obj) = v.as_object_mut() {
        if !a.sub_attributes.is_empty() {
            obj.insert(
                "subAttributes".into(),
                Value::Array(a.sub_attributes.iter().map(attribute_json).collect()),
            );
        }
        if !a.canonical_values.is_empty() {
            obj.insert("canonicalValues".into(), json!(a.canonical_values));
        }
        if !a.reference_types.is_empty() {
            obj.insert("referenceTypes".into(), json!(a.reference_types));
        }
    }
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn split_urn_finds_extension_and_core() {
        let (c, rest) = USER_RESOURCE
            .split_urn("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
            .unwrap();
        assert_eq!(c, Container::Extension(&ENTERPRISE_USER));
        assert_eq!(rest, "manager.value");
        let (c, rest) = USER_RESOURCE
            .split_urn("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName")
            .unwrap();
        assert_eq!(c, Container::Core);
        assert_eq!(rest, "name.givenName");
        assert_eq!(
            USER_RESOURCE.split_urn("userName").unwrap(),
            (Container::Core, "userName")
        );
        assert!(USER_RESOURCE.split_urn("urn:unknown:thing").is_none());
    }

    #[test]
    fn lookups_are_case_insensitive() {
        assert_eq!(
            USER_RESOURCE.core_attribute("USERNAME").unwrap().name,
            "userName"
        );
        assert_eq!(
            USER_RESOURCE.core_attribute("ExternalID").unwrap().name,
            "externalId"
        );
        assert!(USER_RESOURCE.core_attribute("id").unwrap().case_exact);
        let emails = USER_RESOURCE.core_attribute("emails").unwrap();
        assert!(!emails.sub("VALUE").unwrap().case_exact);
    }

    /// S1: the Group schema says what a member looks like when read back: `$ref` may be
    /// sent but is never returned (groups.rs renders `{"value", "type"}` only).
    #[test]
    fn member_ref_is_published_as_never_returned() {
        let members = GROUP.attribute("members").unwrap();
        let r = members.sub("$ref").unwrap();
        assert_eq!(r.mutability, Mutability::Immutable);
        assert_eq!(r.returned, Returned::Never);
        let published = attribute_json(members);
        let sub = published["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "$ref")
            .unwrap();
        assert_eq!(sub["returned"], "never");
        assert_eq!(sub["mutability"], "immutable");
    }
}
