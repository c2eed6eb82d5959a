//! Admin API for products and access (G7) and group conflicts (G2-G4): sites, products,
//! org groups and their roles, default-access groups, an account's access, the review of
//! held groups, and syncing or rejecting them, one or all, with dry runs.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lambda_http::{Body, Response};
use serde_json::{json, Value};

use super::admin::{ok_json, string_field, AdminCall};
use super::admin_accounts::account_json;
use super::request::json_body;
use super::response::empty;
use super::store_error;
use crate::directory::access::{
    access_change, breakdown, default_access_refusal, effective_groups, effective_roles,
    plan_reject, plan_sync, Breakdown,
};
use crate::directory::model::{
    AccountRecord, ConflictRecord, Guard, ManagedBy, OrgGroupRecord, OrgRecord, Outcome, Product,
    Site,
};
use crate::directory::plan::{Condition, Plan, Record};
use crate::scim::error::ScimError;

/// How long one "sync all" call works before it answers with progress and a cursor.
const SYNC_ALL_BUDGET: Duration = Duration::from_secs(20);

fn strings(body: &Value, key: &str) -> Result<Vec<String>, ScimError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        ScimError::invalid_value(format!(
                            "'{key}' must be a list of non-empty strings"
                        ))
                    })
            })
            .collect(),
        Some(_) => Err(ScimError::invalid_value(format!(
            "'{key}' must be a list of strings"
        ))),
    }
}

fn slug(raw: &str) -> Result<String, ScimError> {
    let s = raw.trim().to_lowercase();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        Ok(s)
    } else {
        Err(ScimError::invalid_value(format!(
            "'{raw}' must be letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Writes a new version of the org record (sites, products, defaults) with its event.
async fn save_org(call: &AdminCall<'_>, next: OrgRecord, message: String) -> Result<(), ScimError> {
    crate::scim::limits::check_org(&next)?;
    let mut next = next;
    next.version = call.org.version + 1;
    let mut plan = Plan::default();
    plan.put(Record::Org(next), Condition::Version(call.org.version));
    plan.event(
        call.write_context("products".into(), None)
            .event(Outcome::Updated, message),
    );
    call.apply(&plan).await
}

pub fn products_json(org: &OrgRecord) -> Value {
    json!({"sites": org.sites, "products": org.products})
}

/// POST /sites {id?, name}
pub async fn add_site(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let body = json_body(call.req)?;
    let name = string_field(&body, "name")?;
    let id = slug(body.get("id").and_then(Value::as_str).unwrap_or(&name))?;
    let mut org = call.org.clone();
    if org.sites.iter().any(|s| s.id == id) {
        return Err(ScimError::uniqueness(format!("site {id} already exists")));
    }
    org.sites.push(Site {
        id: id.clone(),
        name: name.clone(),
    });
    save_org(call, org.clone(), format!("Added site {id} ({name}).")).await?;
    Ok(ok_json(201, products_json(&org)))
}

/// POST /products {id, name, siteId, roles}
pub async fn add_product(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let body = json_body(call.req)?;
    let id = slug(&string_field(&body, "id")?)?;
    let name = string_field(&body, "name")?;
    let site_id = string_field(&body, "siteId")?;
    let roles = strings(&body, "roles")?;
    if roles.is_empty() {
        return Err(ScimError::invalid_value(
            "a product needs at least one role",
        ));
    }
    let mut org = call.org.clone();
    if !org.sites.iter().any(|s| s.id == site_id) {
        return Err(ScimError::invalid_value(format!(
            "no site {site_id}; add it with POST /sites"
        )));
    }
    if org.products.iter().any(|p| p.id == id) {
        return Err(ScimError::uniqueness(format!(
            "product {id} already exists"
        )));
    }
    org.products.push(Product {
        id: id.clone(),
        name,
        site_id,
        roles,
        default_groups: Vec::new(),
    });
    save_org(call, org.clone(), format!("Added product {id}.")).await?;
    Ok(ok_json(201, products_json(&org)))
}

pub async fn list_products(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    Ok(ok_json(200, products_json(&call.org)))
}

async fn load_org_group(call: &AdminCall<'_>, id: &str) -> Result<OrgGroupRecord, ScimError> {
    call.store
        .get_org_group(&call.org.id, id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ScimError::not_found(format!("org group {id} not found")))
}

/// Roles must name a product and one of its roles: `jira/user`.
fn check_roles(org: &OrgRecord, roles: &[String]) -> Result<(), ScimError> {
    for r in roles {
        let ok = r
            .split_once('/')
            .and_then(|(p, role)| {
                org.products
                    .iter()
                    .find(|x| x.id == p)
                    .map(|x| x.roles.iter().any(|y| y == role))
            })
            .unwrap_or(false);
        if !ok {
            return Err(ScimError::invalid_value(format!(
                "'{r}' is not <product>/<role> of a product of this organization"
            )));
        }
    }
    Ok(())
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

/// POST /org-groups {name, roles}: a group the admins manage.
pub async fn create_org_group(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let body = json_body(call.req)?;
    let name = string_field(&body, "name")?;
    let roles = strings(&body, "roles")?;
    check_roles(&call.org, &roles)?;
    let ctx = call.write_context("POST /org-groups".into(), None);
    let g = OrgGroupRecord {
        org_id: call.org.id.clone(),
        id: uuid::Uuid::new_v4().to_string(),
        name: name.clone(),
        managed_by: ManagedBy::Admin,
        scim_group: None,
        roles,
        version: 1,
        created: ctx.now.clone(),
        last_modified: ctx.now.clone(),
    };
    let mut plan = Plan::default();
    plan.put(
        Record::Guard(
            Guard::OrgGroupName {
                org_id: call.org.id.clone(),
                lower: name.to_lowercase(),
            },
            g.id.clone(),
        ),
        Condition::Absent,
    );
    plan.put(Record::OrgGroup(g.clone()), Condition::Absent);
    plan.event(ctx.event(
        Outcome::Created,
        format!(
            "An admin created org group '{name}' granting {}.",
            g.roles.join(", ")
        ),
    ));
    call.apply(&plan).await.map_err(|e| {
        if e.status == 409 {
            ScimError::uniqueness(format!(
                "the organization already has a group named '{name}'"
            ))
        } else {
            e
        }
    })?;
    Ok(ok_json(201, org_group_json(&call.org, &g)))
}

pub async fn list_org_groups(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let groups = call
        .store
        .org_groups(&call.org.id)
        .await
        .map_err(store_error)?;
    Ok(ok_json(
        200,
        json!({"groups": groups.iter().map(|g| org_group_json(&call.org, g)).collect::<Vec<_>>()}),
    ))
}

/// PUT /org-groups/{id}/roles {roles}
pub async fn set_roles(call: &AdminCall<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let body = json_body(call.req)?;
    let roles = strings(&body, "roles")?;
    check_roles(&call.org, &roles)?;
    let g = load_org_group(call, id).await?;
    let mut next = g.clone();
    next.roles = roles;
    next.version = g.version + 1;
    let ctx = call.write_context(format!("PUT /org-groups/{id}/roles"), None);
    next.last_modified = ctx.now.clone();
    let mut plan = Plan::default();
    plan.put(
        Record::OrgGroup(next.clone()),
        Condition::Version(g.version),
    );
    plan.event(ctx.event(
        Outcome::Updated,
        format!(
            "Group '{}' now grants {} (was {}): its members' access changes with it.",
            g.name,
            fmt_roles(&next.roles),
            fmt_roles(&g.roles)
        ),
    ));
    call.apply(&plan).await?;
    Ok(ok_json(200, org_group_json(&call.org, &next)))
}

fn fmt_roles(r: &[String]) -> String {
    if r.is_empty() {
        "no roles".into()
    } else {
        r.join(", ")
    }
}

/// POST /org-groups/{id}/members {accountIds}: admin membership of an admin-managed group.
pub async fn add_members(call: &AdminCall<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let body = json_body(call.req)?;
    let ids = strings(&body, "accountIds")?;
    let g = load_org_group(call, id).await?;
    if g.managed_by != ManagedBy::Admin {
        return Err(ScimError::new(
            409,
            None,
            format!(
                "group '{}' is managed by a directory: its members come from the IdP",
                g.name
            ),
        ));
    }
    let found = call
        .store
        .get_accounts(&call.org.id, &ids)
        .await
        .map_err(store_error)?;
    let missing: Vec<&String> = ids
        .iter()
        .filter(|i| !found.iter().any(|a| &a.id == *i))
        .collect();
    if !missing.is_empty() {
        return Err(ScimError::invalid_value(format!(
            "unknown accounts: {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut plan = Plan::default();
    for a in &ids {
        plan.put(
            Record::OrgMember {
                org_id: call.org.id.clone(),
                org_group_id: g.id.clone(),
                account_id: a.clone(),
            },
            Condition::Always,
        );
    }
    plan.event(
        call.write_context(format!("POST /org-groups/{id}/members"), None)
            .event(
                Outcome::Updated,
                format!(
                    "An admin added {} accounts to group '{}', granting {}.",
                    ids.len(),
                    g.name,
                    fmt_roles(&g.roles)
                ),
            ),
    );
    call.apply(&plan).await?;
    Ok(empty(204))
}

/// POST /products/{p}/default-groups {orgGroupId} and DELETE .../{og} (G4).
pub async fn set_default(
    call: &AdminCall<'_>,
    product: &str,
    remove: Option<&str>,
) -> Result<Response<Body>, ScimError> {
    let og_id = match remove {
        Some(id) => id.to_string(),
        None => string_field(&json_body(call.req)?, "orgGroupId")?,
    };
    let g = load_org_group(call, &og_id).await?;
    let mut org = call.org.clone();
    let p = org
        .products
        .iter_mut()
        .find(|p| p.id == product)
        .ok_or_else(|| ScimError::not_found(format!("product {product} not found")))?;
    let message = match remove {
        Some(_) => {
            if !p.default_groups.contains(&og_id) {
                return Err(ScimError::not_found(format!(
                    "group '{}' is not a default-access group of {product}",
                    g.name
                )));
            }
            p.default_groups.retain(|x| *x != og_id);
            format!(
                "Group '{}' is no longer a default-access group of {product}.",
                g.name
            )
        }
        None => {
            if !p.default_groups.contains(&og_id) {
                p.default_groups.push(og_id.clone());
            }
            format!("Group '{}' is now a default-access group of {product}: every new account joins it.", g.name)
        }
    };
    save_org(call, org.clone(), message).await?;
    Ok(ok_json(200, products_json(&org)))
}

/// An account's effective access (G7): its groups and the roles they grant while active.
pub async fn access_json(call: &AdminCall<'_>, a: &AccountRecord) -> Result<Value, ScimError> {
    let (admin, synced) = call.store.account_groups(a).await.map_err(store_error)?;
    let groups = effective_groups(admin, synced);
    let roles = effective_roles(a.status, &groups);
    Ok(json!({
        "account": account_json(call, a),
        "roles": roles,
        "groups": groups.iter().map(|g| json!({"id": g.id, "name": g.name, "roles": g.roles})).collect::<Vec<_>>(),
        "note": if a.status == crate::directory::model::AccountStatus::Suspended { "suspended: no product access (L6)" } else { "" },
    }))
}

pub async fn account_access(call: &AdminCall<'_>, id: &str) -> Result<Response<Body>, ScimError> {
    let a = call
        .store
        .get_account(&call.org.id, id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ScimError::not_found(format!("account {id} not found")))?;
    Ok(ok_json(200, access_json(call, &a).await?))
}

/// Everything a held group's review and sync need.
struct Review {
    breakdown: Breakdown,
    group: crate::directory::model::GroupRecord,
    current: BTreeSet<String>,
}

async fn review(call: &AdminCall<'_>, conflict: ConflictRecord) -> Result<Review, ScimError> {
    let store = call.store;
    let og = load_org_group(call, &conflict.org_group_id).await?;
    let group = store
        .get_group(&conflict.directory_id, &conflict.group_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ScimError::not_found(format!("group {} not found", conflict.group_id)))?;
    let idp = store
        .member_accounts(&conflict.directory_id, &conflict.group_id)
        .await
        .map_err(store_error)?;
    let current: BTreeSet<String> = store
        .org_group_members(&call.org.id, &og.id)
        .await
        .map_err(store_error)?
        .into_iter()
        .collect();
    let b = breakdown(
        &call.org,
        conflict,
        og,
        &idp.accounts,
        &current,
        idp.unlinked_users,
    );
    Ok(Review {
        breakdown: b,
        group,
        current,
    })
}

fn summary_json(call: &AdminCall<'_>, b: &Breakdown) -> Value {
    let base = format!(
        "/admin/v1/orgs/{}/conflicts/{}/{}",
        call.org.id, b.conflict.directory_id, b.conflict.group_id
    );
    json!({
        "directoryId": b.conflict.directory_id,
        "groupId": b.conflict.group_id,
        "name": b.conflict.name,
        "orgGroup": org_group_json(&call.org, &b.org_group),
        "roles": b.org_group.roles,
        "sites": b.sites,
        "added": b.to_add.len(),
        "removed": b.to_remove.len(),
        "unchanged": b.unchanged,
        "unlinkedMembers": b.unlinked_members.len(),
        "rejected": b.conflict.rejected,
        "since": b.conflict.since,
        "canSync": b.default_for.is_empty(),
        "defaultAccessFor": b.default_for,
        "blockedBecause": default_access_refusal(&call.org, b).map(|e| e.detail),
        "review": base,
    })
}

/// Per-account access change for a list of accounts joining or leaving the group.
async fn access_changes(
    call: &AdminCall<'_>,
    b: &Breakdown,
    ids: &[String],
    joining: bool,
) -> Result<Vec<Value>, ScimError> {
    let accounts = call
        .store
        .get_accounts(&call.org.id, ids)
        .await
        .map_err(store_error)?;
    let mut out = Vec::with_capacity(accounts.len());
    for a in &accounts {
        let (admin, synced) = call.store.account_groups(a).await.map_err(store_error)?;
        let others: Vec<OrgGroupRecord> = effective_groups(admin, synced)
            .into_iter()
            .filter(|g| g.id != b.org_group.id)
            .collect();
        let other_roles = effective_roles(a.status, &others);
        let change = access_change(a.status, &other_roles, &b.org_group);
        out.push(json!({
            "accountId": a.id,
            "email": a.email,
            "status": a.status,
            if joining { "gains" } else { "loses" }: change,
        }));
    }
    Ok(out)
}

fn page(params: &std::collections::HashMap<String, String>) -> (usize, usize) {
    let offset = params
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let limit = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100usize)
        .clamp(1, 1000);
    (offset, limit)
}

/// GET /conflicts: every held group with its numbers.
pub async fn list_conflicts(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let conflicts = call
        .store
        .conflicts(&call.org.id)
        .await
        .map_err(store_error)?;
    let mut out = Vec::with_capacity(conflicts.len());
    for c in conflicts {
        out.push(summary_json(call, &review(call, c).await?.breakdown));
    }
    Ok(ok_json(200, json!({"conflicts": out, "total": out.len()})))
}

async fn load_conflict(
    call: &AdminCall<'_>,
    dir: &str,
    gid: &str,
) -> Result<ConflictRecord, ScimError> {
    call.store
        .get_conflict(&call.org.id, dir, gid)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ScimError::not_found(format!(
                "group {gid} of directory {dir} is not held in conflict"
            ))
        })
}

/// GET /conflicts/{dir}/{gid}?offset=&limit=: the breakdown, with the accounts added and
/// removed paged, each with the access it would gain or lose.
pub async fn get_conflict(
    call: &AdminCall<'_>,
    dir: &str,
    gid: &str,
) -> Result<Response<Body>, ScimError> {
    let r = review(call, load_conflict(call, dir, gid).await?).await?;
    let (offset, limit) = page(&call.params);
    let b = &r.breakdown;
    let add_page: Vec<String> = b.to_add.iter().skip(offset).take(limit).cloned().collect();
    let remove_page: Vec<String> = b
        .to_remove
        .iter()
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    let mut body = summary_json(call, b);
    if let Some(o) = body.as_object_mut() {
        o.insert(
            "accountsAdded".into(),
            json!(access_changes(call, b, &add_page, true).await?),
        );
        o.insert(
            "accountsRemoved".into(),
            json!(access_changes(call, b, &remove_page, false).await?),
        );
        let more = offset + limit < b.to_add.len().max(b.to_remove.len());
        o.insert(
            "nextOffset".into(),
            if more {
                json!(offset + limit)
            } else {
                Value::Null
            },
        );
    }
    Ok(ok_json(200, body))
}

/// Syncs one held group; on a dry run answers the exact changes, access included.
async fn sync_one(call: &AdminCall<'_>, conflict: ConflictRecord) -> Result<Value, ScimError> {
    let r = review(call, conflict).await?;
    let ctx = call.write_context(
        format!(
            "POST /conflicts/{}/{}/sync",
            r.group.directory_id, r.group.id
        ),
        Some(&r.group.directory_id),
    );
    let (plan, cleanup) = plan_sync(&ctx, &call.org, &r.breakdown, &r.group, &r.current)?;
    let mut out = summary_json(call, &r.breakdown);
    if call.dry_run() {
        if let Some(o) = out.as_object_mut() {
            o.insert(
                "accountsAdded".into(),
                json!(access_changes(call, &r.breakdown, &r.breakdown.to_add, true).await?),
            );
            o.insert(
                "accountsRemoved".into(),
                json!(access_changes(call, &r.breakdown, &r.breakdown.to_remove, false).await?),
            );
            o.insert("writes".into(), json!(plan.writes.len() + cleanup.len()));
        }
        return Ok(out);
    }
    call.apply(&plan).await?;
    // The group is the directory's now; the admin membership items stopped counting with it.
    call.store.delete_all(cleanup).await.map_err(|e| match e {
        crate::store::ApplyError::Store(e) => store_error(e),
        crate::store::ApplyError::Stale => ScimError::internal(),
    })?;
    if let Some(o) = out.as_object_mut() {
        o.insert("synced".into(), json!(true));
    }
    Ok(out)
}

/// POST /conflicts/{dir}/{gid}/sync (G3, G4).
pub async fn sync(call: &AdminCall<'_>, dir: &str, gid: &str) -> Result<Response<Body>, ScimError> {
    let conflict = load_conflict(call, dir, gid).await?;
    Ok(ok_json(200, sync_one(call, conflict).await?))
}

/// POST /conflicts/{dir}/{gid}/reject (G3): stays held.
pub async fn reject(
    call: &AdminCall<'_>,
    dir: &str,
    gid: &str,
) -> Result<Response<Body>, ScimError> {
    let conflict = load_conflict(call, dir, gid).await?;
    let ctx = call.write_context(format!("POST /conflicts/{dir}/{gid}/reject"), Some(dir));
    call.apply(&plan_reject(&ctx, &conflict)).await?;
    Ok(ok_json(
        200,
        json!({"groupId": gid, "held": true, "rejected": true}),
    ))
}

/// POST /conflicts/sync-all (G3): every held group that can be synced, in one call with no
/// batch limit. Each group syncs atomically; a call that runs past its time budget answers
/// 202 with progress, and calling again resumes with what is left (synced groups are no
/// longer held). Rejected groups are skipped unless `includeRejected=true`.
pub async fn sync_all(call: &AdminCall<'_>) -> Result<Response<Body>, ScimError> {
    let started = Instant::now();
    let include_rejected = call
        .params
        .get("includerejected")
        .map(|v| v == "true")
        .unwrap_or(false);
    let conflicts = call
        .store
        .conflicts(&call.org.id)
        .await
        .map_err(store_error)?;
    let total = conflicts.len();
    let mut synced = Vec::new();
    let mut refused = Vec::new();
    let mut skipped = Vec::new();
    let mut remaining = 0;
    for c in conflicts {
        if started.elapsed() > SYNC_ALL_BUDGET {
            remaining += 1;
            continue;
        }
        if c.rejected && !include_rejected {
            skipped.push(
                json!({"groupId": c.group_id, "name": c.name, "reason": "rejected by an admin"}),
            );
            continue;
        }
        let name = c.name.clone();
        let gid = c.group_id.clone();
        match sync_one(call, c).await {
            Ok(v) => synced.push(if call.dry_run() {
                v
            } else {
                json!({"groupId": gid, "name": name})
            }),
            Err(e) if e.status == 409 => {
                refused.push(json!({"groupId": gid, "name": name, "reason": e.detail}))
            }
            Err(e) => return Err(e),
        }
    }
    let status = if remaining > 0 { 202 } else { 200 };
    Ok(ok_json(
        status,
        json!({
            "total": total,
            "synced": synced.len(),
            "syncedGroups": synced,
            "refused": refused,
            "skipped": skipped,
            "remaining": remaining,
            "done": remaining == 0,
            "dryRun": call.dry_run(),
        }),
    ))
}
