//! Rendering resources for responses: `meta`, `attributes`/`excludedAttributes` projection
//! (RFC 7644 §3.9), list paging parameters (§3.4.2.4) and the ListResponse.

use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::schema::{Container, ResourceType, Returned, LIST_RESPONSE};

/// `W/"<version>"`: the ETag of a resource version (S6).
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match` header value admits `version` (`*` admits any).
pub fn if_match_admits(header: &str, version: u64) -> bool {
    let current = etag(version);
    header.split(',').map(str::trim).any(|tag| {
        tag == "*"
            || tag == current
            || tag.trim_start_matches("W/") == current.trim_start_matches("W/")
    })
}

/// The stored document plus `id` and `meta`, as a client sees it.
pub struct RenderMeta<'a> {
    pub id: &'a str,
    pub resource_type: &'a str,
    pub created: &'a str,
    pub last_modified: &'a str,
    pub location: String,
    pub version: u64,
}

pub fn render(doc: &Value, meta: RenderMeta<'_>) -> Value {
    let mut out = Map::new();
    if let Some(schemas) = doc.get("schemas") {
        out.insert("schemas".into(), schemas.clone());
    }
    out.insert("id".into(), Value::String(meta.id.into()));
    if let Some(obj) = doc.as_object() {
        for (k, v) in obj {
            if k != "schemas" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": meta.resource_type,
            "created": meta.created,
            "lastModified": meta.last_modified,
            "location": meta.location,
            "version": etag(meta.version),
        }),
    );
    Value::Object(out)
}

/// An attribute reference of `attributes`/`excludedAttributes`: container, attribute, sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrRef {
    pub container: Option<&'static str>,
    pub attr: &'static str,
    pub sub: Option<&'static str>,
}

/// Parses a comma-separated attribute list; unknown names answer `invalidValue`... RFC 7644
/// leaves this open; naming the unknown attribute helps a client more than silence.
pub fn parse_attr_list(rt: &'static ResourceType, list: &str) -> Result<Vec<AttrRef>, ScimError> {
    let mut out = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (container, rest) = rt
            .split_urn(raw)
            .ok_or_else(|| ScimError::invalid_value(format!("unknown attribute '{raw}'")))?;
        let ext_id = match container {
            Container::Core => None,
            Container::Extension(s) => Some(s.id),
        };
        if rest.is_empty() {
            // A whole extension.
            if let Some(id) = ext_id {
                out.push(AttrRef {
                    container: Some(id),
                    attr: "",
                    sub: None,
                });
                continue;
            }
            return Err(ScimError::invalid_value(format!(
                "unknown attribute '{raw}'"
            )));
        }
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        let attr = rt
            .attribute_in(container, name)
            .ok_or_else(|| ScimError::invalid_value(format!("unknown attribute '{raw}'")))?;
        let sub = match sub {
            Some(s) => Some(
                attr.sub(s)
                    .ok_or_else(|| ScimError::invalid_value(format!("unknown attribute '{raw}'")))?
                    .name,
            ),
            None => None,
        };
        out.push(AttrRef {
            container: ext_id,
            attr: attr.name,
            sub,
        });
    }
    Ok(out)
}

/// Applies `attributes` (keep only these, plus what is always returned) or
/// `excludedAttributes` (drop these, unless always returned) to a rendered resource.
pub fn project(
    rt: &'static ResourceType,
    resource: &Value,
    attributes: &[AttrRef],
    excluded: &[AttrRef],
) -> Value {
    let Some(obj) = resource.as_object() else {
        return resource.clone();
    };
    let always = |name: &str| {
        name == "schemas"
            || rt
                .core_attribute(name)
                .map(|a| a.returned == Returned::Always)
                .unwrap_or(false)
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let ext = rt.extension(k).map(|s| s.id);
        if !attributes.is_empty() {
            if always(k) {
                out.insert(k.clone(), v.clone());
                continue;
            }
            match ext {
                Some(id) => {
                    let wanted: Vec<&AttrRef> = attributes
                        .iter()
                        .filter(|a| a.container == Some(id))
                        .collect();
                    if wanted.iter().any(|a| a.attr.is_empty()) {
                        out.insert(k.clone(), v.clone());
                    } else if !wanted.is_empty() {
                        let inner = keep_only(v, &wanted);
                        if inner.as_object().map(|o| !o.is_empty()).unwrap_or(false) {
                            out.insert(k.clone(), inner);
                        }
                    }
                }
                None => {
                    let wanted: Vec<&AttrRef> = attributes
                        .iter()
                        .filter(|a| a.container.is_none() && a.attr == k)
                        .collect();
                    if wanted.iter().any(|a| a.sub.is_none()) {
                        out.insert(k.clone(), v.clone());
                    } else if !wanted.is_empty() {
                        let subs: Vec<&str> = wanted.iter().filter_map(|a| a.sub).collect();
                        out.insert(k.clone(), keep_subs(v, &subs));
                    }
                }
            }
        } else {
            match ext {
                Some(id) => {
                    let dropped: Vec<&AttrRef> = excluded
                        .iter()
                        .filter(|a| a.container == Some(id))
                        .collect();
                    if dropped.iter().any(|a| a.attr.is_empty()) {
                        continue;
                    }
                    let mut inner = v.clone();
                    if let Some(o) = inner.as_object_mut() {
                        for d in &dropped {
                            o.remove(d.attr);
                        }
                    }
                    out.insert(k.clone(), inner);
                }
                None => {
                    if always(k) {
                        out.insert(k.clone(), v.clone());
                        continue;
                    }
                    let dropped: Vec<&AttrRef> = excluded
                        .iter()
                        .filter(|a| a.container.is_none() && a.attr == k)
                        .collect();
                    if dropped.iter().any(|a| a.sub.is_none()) {
                        continue;
                    }
                    let subs: Vec<&str> = dropped.iter().filter_map(|a| a.sub).collect();
                    out.insert(k.clone(), drop_subs(v, &subs));
                }
            }
        }
    }
    Value::Object(out)
}

fn keep_only(ext: &Value, wanted: &[&AttrRef]) -> Value {
    let mut out = Map::new();
    if let Some(o) = ext.as_object() {
        for (k, v) in o {
            if wanted.iter().any(|a| a.attr == k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

type ElementMap<'a> = dyn Fn(&Map<String, Value>) -> Map<String, Value> + 'a;

fn map_elements(v: &Value, f: &ElementMap<'_>) -> Value {
    match v {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| {
                    i.as_object()
                        .map(|o| Value::Object(f(o)))
                        .unwrap_or_else(|| i.clone())
                })
                .collect(),
        ),
        Value::Object(o) => Value::Object(f(o)),
        other => other.clone(),
    }
}

fn keep_subs(v: &Value, subs: &[&str]) -> Value {
    map_elements(v, &|o| {
        o.iter()
            .filter(|(k, _)| subs.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

fn drop_subs(v: &Value, subs: &[&str]) -> Value {
    map_elements(v, &|o| {
        o.iter()
            .filter(|(k, _)| !subs.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// `startIndex` (1-based, values below 1 read as 1) and `count` (negative reads as 0,
/// above `max` is lowered to `max`), RFC 7644 §3.4.2.4.
pub fn paging(
    start_index: Option<&str>,
    count: Option<&str>,
    max: usize,
) -> Result<(usize, usize), ScimError> {
    let parse = |name: &str, v: Option<&str>| -> Result<Option<i64>, ScimError> {
        v.map(|s| {
            s.trim().parse::<i64>().map_err(|_| {
                ScimError::invalid_value(format!("{name} must be an integer, got '{s}'"))
            })
        })
        .transpose()
    };
    let start = parse("startIndex", start_index)?.unwrap_or(1).max(1) as usize;
    let count = parse("count", count)?
        .map(|c| c.max(0) as usize)
        .unwrap_or(max)
        .min(max);
    Ok((start, count))
}

pub fn list_response(total: usize, start_index: usize, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::USER_RESOURCE;

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "id": "1", "userName": "a", "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@x", "type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D", "costCenter": "C"},
            "meta": {"resourceType": "User"}
        })
    }

    #[test]
    fn s4_attributes_keep_always_returned() {
        let a = parse_attr_list(&USER_RESOURCE, "userName,name.givenName").unwrap();
        let p = project(&USER_RESOURCE, &user(), &a, &[]);
        assert_eq!(p["id"], "1");
        assert_eq!(p["userName"], "a");
        assert_eq!(p["name"], json!({"givenName": "A"}));
        assert!(p.get("emails").is_none());
        assert!(p.get("meta").is_none());
    }

    #[test]
    fn s4_excluded_attributes_drop_and_extensions() {
        let e = parse_attr_list(
            &USER_RESOURCE,
            "emails,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department,id",
        )
        .unwrap();
        let p = project(&USER_RESOURCE, &user(), &[], &e);
        assert!(p.get("emails").is_none());
        assert_eq!(p["id"], "1", "id is always returned");
        assert_eq!(
            p["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            json!({"costCenter": "C"})
        );
        assert!(parse_attr_list(&USER_RESOURCE, "nope").is_err());
    }

    #[test]
    fn s3_paging_bounds() {
        assert_eq!(paging(None, None, 200).unwrap(), (1, 200));
        assert_eq!(paging(Some("0"), Some("-5"), 200).unwrap(), (1, 0));
        assert_eq!(paging(Some("3"), Some("1000"), 200).unwrap(), (3, 200));
        assert!(paging(Some("x"), None, 200).is_err());
    }

    #[test]
    fn s6_if_match() {
        assert!(if_match_admits("W/\"3\"", 3));
        assert!(if_match_admits("\"3\"", 3));
        assert!(if_match_admits("*", 9));
        assert!(!if_match_admits("W/\"2\"", 3));
    }
}
