//! How the admin API shows records: JSON views shared by its areas. What an IdP sent
//! (names, emails) goes out as JSON strings, never as markup.

use serde_json::{json, Value};

use super::call::AdminCall;
use crate::directory::access::{effective_access, effective_groups, RoleSource};
use crate::directory::model::{
    AccountRecord, AccountStatus, DirectoryRecord, EventRecord, ManagedBy, OrgGroupRecord,
    OrgRecord, UserRecord,
};
use crate::scim::error::ScimError;
use crate::scim::resource::primary_email;

pub fn org_json(o: &OrgRecord) -> Value {
    json!({"id": o.id, "name": o.name, "verifiedDomains": o.verified_domains, "created": o.created})
}

pub fn directory_json(d: &DirectoryRecord) -> Value {
    json!({
        "id": d.id,
        "orgId": d.org_id,
        "name": d.name,
        "idp": d.idp,
        "created": d.created,
        "scimBaseUrl": format!("/scim/v2/directories/{}", d.id),
    })
}

pub fn account_json(call: &AdminCall<'_>, a: &AccountRecord) -> Value {
    json!({
        "id": a.id,
        "email": a.email,
        "origin": a.origin,
        "kind": call.org.kind_of(&a.email),
        "managedBy": match &a.managed_by {
            ManagedBy::Admin => json!("admin"),
            ManagedBy::Directory { directory_id } => json!({"directory": directory_id}),
        },
        "status": a.status,
        "profile": a.profile,
        "link": a.link.as_ref().map(|l| json!({"directoryId": l.directory_id, "userId": l.user_id})),
        "created": a.created,
        "lastModified": a.last_modified,
        "version": a.version,
    })
}

pub fn user_summary(u: &UserRecord) -> Value {
    json!({
        "directoryId": u.directory_id,
        "id": u.id,
        "userName": u.doc.get("userName"),
        "externalId": u.doc.get("externalId"),
        "email": primary_email(&u.doc),
        "active": u.doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        "accountId": u.account_id,
    })
}

/// The account, its link, the SCIM user holding it and the groups it gets, synced or not.
pub async fn account_detail(call: &AdminCall<'_>, a: &AccountRecord) -> Result<Value, ScimError> {
    let mut v = account_json(call, a);
    let admin_groups = call
        .store
        .org_groups_of_account(&call.org.id, &a.id)
        .await?;
    let (holder, synced) = match &a.link {
        Some(l) => {
            let u = call.store.get_user(&l.directory_id, &l.user_id).await?;
            let groups = call
                .store
                .live_groups_of_user(&l.directory_id, &l.user_id)
                .await?;
            (u.as_ref().map(user_summary), groups)
        }
        None => (None, Vec::new()),
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("linkedUser".into(), holder.unwrap_or(Value::Null));
        o.insert("syncedGroups".into(), json!(synced));
        o.insert("adminGroups".into(), json!(admin_groups));
    }
    Ok(v)
}

pub fn org_group_json(org: &OrgRecord, g: &OrgGroupRecord) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "managedBy": match &g.managed_by {
            ManagedBy::Admin => json!("admin"),
            ManagedBy::Directory { directory_id } => json!({"directory": directory_id}),
        },
        "scimGroup": g.scim_group.as_ref().map(|s| json!({"directoryId": s.directory_id, "groupId": s.group_id})),
        "roles": g.roles,
        "sites": org.sites_of(&g.roles),
        "defaultFor": org.default_access_products(&g.id).iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        "version": g.version,
    })
}

pub fn products_json(org: &OrgRecord) -> Value {
    json!({"sites": org.sites, "products": org.products})
}

/// An account's effective access (G7, G8): its groups, and every role it has while active
/// with where it comes from (its groups, a direct assignment by its IdP).
pub async fn access_json(call: &AdminCall<'_>, a: &AccountRecord) -> Result<Value, ScimError> {
    let (admin, synced) = call.store.account_groups(a).await?;
    let groups = effective_groups(admin, synced);
    let access = effective_access(a, &groups);
    Ok(json!({
        "account": account_json(call, a),
        "roles": access.keys().collect::<Vec<_>>(),
        "sources": access.iter().map(|(role, sources)| role_json(role, sources)).collect::<Vec<_>>(),
        "groups": groups.iter().map(|g| json!({"id": g.id, "name": g.name, "roles": g.roles})).collect::<Vec<_>>(),
        "assignedRoles": a.assigned_roles,
        "note": if a.status == AccountStatus::Suspended { "suspended: no product access (L6)" } else { "" },
    }))
}

/// One role of an account with its sources, as data and in words (G8).
pub fn role_json(role: &str, sources: &[RoleSource]) -> Value {
    json!({
        "role": role,
        "sources": sources,
        "from": sources.iter().map(RoleSource::describe).collect::<Vec<_>>(),
    })
}

pub fn event_json(e: &EventRecord) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}
