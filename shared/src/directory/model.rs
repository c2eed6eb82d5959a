//! The records of the cascade: organizations, directories, tokens, SCIM users, accounts,
//! guards and events. Plain data; the store (de)serializes them, plans decide over them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The tenant: owns verified email domains, accounts, groups and directories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgRecord {
    pub id: String,
    pub name: String,
    /// Lowercase domains; accounts with an email here are `managed`.
    pub verified_domains: Vec<String>,
    pub created: String,
    #[serde(default = "first_version")]
    pub version: u64,
    /// Where products run (e.g. `acme.example.net`).
    #[serde(default)]
    pub sites: Vec<Site>,
    #[serde(default)]
    pub products: Vec<Product>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    pub id: String,
    pub name: String,
}

/// A product of a site; org groups grant its roles as `<product>/<role>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub id: String,
    pub name: String,
    pub site_id: String,
    pub roles: Vec<String>,
    /// Org groups every new account joins (default access), by id.
    #[serde(default)]
    pub default_groups: Vec<String>,
}

impl OrgRecord {
    /// Every role of every product, as `product/role`: what an org group may grant and
    /// what an IdP may assign directly (G8), in the order the products list them.
    pub fn product_roles(&self) -> Vec<String> {
        self.products
            .iter()
            .flat_map(|p| p.roles.iter().map(move |r| format!("{}/{r}", p.id)))
            .collect()
    }

    /// The products for which `org_group_id` is a default-access group (G4).
    pub fn default_access_products(&self, org_group_id: &str) -> Vec<&Product> {
        self.products
            .iter()
            .filter(|p| p.default_groups.iter().any(|g| g == org_group_id))
            .collect()
    }

    /// Every default-access group of every product, deduplicated.
    pub fn default_groups(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for g in self.products.iter().flat_map(|p| p.default_groups.iter()) {
            if !out.contains(g) {
                out.push(g.clone());
            }
        }
        out
    }

    /// The sites a set of roles (`product/role`) reaches.
    pub fn sites_of(&self, roles: &[String]) -> Vec<Site> {
        let mut out: Vec<Site> = Vec::new();
        for r in roles {
            let product = r.split_once('/').map(|(p, _)| p).unwrap_or(r);
            if let Some(p) = self.products.iter().find(|p| p.id == product) {
                if let Some(site) = self.sites.iter().find(|s| s.id == p.site_id) {
                    if !out.contains(site) {
                        out.push(site.clone());
                    }
                }
            }
        }
        out
    }
}

fn first_version() -> u64 {
    1
}

impl OrgRecord {
    /// `managed` when the email's domain is verified by the org, `external` otherwise.
    pub fn kind_of(&self, email: &str) -> AccountKind {
        account_kind(&self.verified_domains, email)
    }
}

/// `managed` when the email's domain is one of `verified_domains`, `external` otherwise.
pub fn account_kind(verified_domains: &[String], email: &str) -> AccountKind {
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    if verified_domains.iter().any(|d| d == domain) {
        AccountKind::Managed
    } else {
        AccountKind::External
    }
}

/// One IdP connection of an org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryRecord {
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// The IdP's quirk profile (`okta`, `entra`, `google`, `onelogin`, `generic`).
    pub idp: String,
    pub created: String,
}

/// What a bearer credential grants. Stored under the SHA-256 of the secret only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// Public identifier, for listing and revoking; never the secret.
    pub id: String,
    pub hash: String,
    pub scope: TokenScope,
    pub org_id: String,
    pub created: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TokenScope {
    /// A SCIM bearer token for one directory.
    #[serde(rename_all = "camelCase")]
    Directory { directory_id: String, idp: String },
    /// An org admin key for the admin API.
    OrgAdmin,
    /// A receiver's token: it polls one subscription's events (RFC 8936) and nothing else.
    #[serde(rename_all = "camelCase")]
    Receiver { subscription_id: String },
}

/// What one directory says about one person: the canonical SCIM document (without
/// `id`, `meta`, `groups`) plus what the server keeps beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub directory_id: String,
    pub id: String,
    pub doc: Value,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
    /// The account this SCIM user is linked to (L1); `None` when unlinked (L9).
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    Managed,
    External,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Invited,
    Jit,
    Admin,
    Scim,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Active,
    Suspended,
}

/// Who manages an account: the org's admins, or one directory (the "lock icon").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "camelCase")]
pub enum ManagedBy {
    Admin,
    #[serde(rename_all = "camelCase")]
    Directory {
        directory_id: String,
    },
}

/// The SCIM user an account is linked to: at most one across the org (L3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRef {
    pub directory_id: String,
    pub user_id: String,
}

/// The profile an account shows every product; overwritten by SCIM only on take-over (L2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
}

/// One person in the organization: the identity every product sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRecord {
    pub org_id: String,
    pub id: String,
    /// Normalized (trimmed, lowercase).
    pub email: String,
    pub origin: Origin,
    pub managed_by: ManagedBy,
    pub status: AccountStatus,
    pub profile: Profile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkRef>,
    /// E4: deprovisioning the safeguard holds for an admin's decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<AccountHold>,
    /// G8: the product roles (`product/role`) the linked SCIM user's `roles` assign
    /// directly, sorted and deduplicated; kept in step by the user planners like `status`,
    /// emptied on unlink. Accounts stored before G8 have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assigned_roles: Vec<String>,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
}

/// E4: what a directory asked to take from an account while its safeguard was tripped,
/// held until an admin approves or releases it (or the IdP takes it back). Meanwhile the
/// account keeps its status, and its effective access includes `kept_roles`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountHold {
    /// The directory whose deprovisioning is held.
    pub directory_id: String,
    /// When the first held deprovisioning arrived.
    pub since: String,
    /// The IdP deactivated or deleted the account's SCIM user: the suspension waits.
    #[serde(default)]
    pub suspend: bool,
    /// Roles the IdP's changes took away (removed memberships, a deleted user's groups),
    /// kept until the hold ends.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub kept_roles: BTreeSet<String>,
    /// Every role the account would lose if the hold were approved, as of the last held
    /// deprovisioning (all its roles when a suspension waits).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub would_lose: BTreeSet<String>,
    /// What was held, one sentence per held write, oldest first.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// E4: a directory's mass-deprovisioning safeguard: the admin's settings and the current
/// window's count, in one item, so that every counted deprovisioning of the directory
/// updates it under a version condition (two racing ones cannot both slip under the bar).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafeguardRecord {
    pub org_id: String,
    pub directory_id: String,
    pub enabled: bool,
    /// Trips past this share (percent) of the directory's users within the window...
    pub share_percent: u32,
    /// ...and never before this many deprovisionings.
    pub min_count: u32,
    pub window_minutes: u32,
    /// The window opens at its first counted deprovisioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<String>,
    /// The directory's users when the window opened: what the share is of.
    #[serde(default)]
    pub baseline_users: u64,
    /// Deprovisionings let through in the window.
    #[serde(default)]
    pub counted: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tripped: Option<SafeguardTrip>,
    pub version: u64,
    pub updated: String,
}

/// When and why a safeguard tripped; it stays tripped until an admin has decided every hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafeguardTrip {
    pub at: String,
    pub threshold: u32,
    pub baseline_users: u64,
    pub window_start: String,
}

/// What one directory says about one group: its canonical document without `members`
/// (members are items of their own, one per member, so a change costs the same whatever
/// the group's size).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub directory_id: String,
    pub id: String,
    pub doc: Value,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
    /// The org group this SCIM group is linked to (G1), or holds a conflict with (G2).
    pub org_group_id: Option<String>,
    /// G2: the org group of the same name is managed by `admin`; membership is recorded, not applied.
    pub held: bool,
    /// A replace job is bringing the member items to a target membership
    /// (`directory::cleanup`, `JobKind::Replace`): the group shows the target, and every
    /// membership change goes through the job until it finishes.
    pub members_pending: bool,
}

/// A group of the organization; grants product roles; managed by `admin` or one directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgGroupRecord {
    pub org_id: String,
    pub id: String,
    pub name: String,
    pub managed_by: ManagedBy,
    /// The SCIM group whose membership this org group takes (when managed by a directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_group: Option<GroupRef>,
    /// Product roles it grants, e.g. `jira/user`.
    #[serde(default)]
    pub roles: Vec<String>,
    pub version: u64,
    pub created: String,
    pub last_modified: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRef {
    pub directory_id: String,
    pub group_id: String,
}

/// A SCIM group held in conflict with an admin-managed org group (G2), listed for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictRecord {
    pub org_id: String,
    pub directory_id: String,
    pub group_id: String,
    pub org_group_id: String,
    /// The IdP group's name (it matches the org group's, case-insensitively).
    pub name: String,
    /// An admin rejected the sync: the group stays held until the IdP renames it.
    #[serde(default)]
    pub rejected: bool,
    pub since: String,
}

/// A uniqueness guard: an item whose key is the unique value and whose body names the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// `userName`, case-insensitive, per directory.
    UserName { directory_id: String, lower: String },
    /// `externalId`, case-exact, per directory.
    ExternalId {
        directory_id: String,
        external_id: String,
    },
    /// An account's normalized email, per org.
    AccountEmail { org_id: String, email: String },
    /// A SCIM group's `displayName`, case-insensitive, per directory.
    GroupName { directory_id: String, lower: String },
    /// An org group's name, case-insensitive, per org.
    OrgGroupName { org_id: String, lower: String },
}

/// How a decision ended, as the troubleshooting log names it (E1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Created,
    Linked,
    TookOver,
    Updated,
    NoOp,
    Unlinked,
    Relinked,
    Conflict,
    Refused,
    Deleted,
    /// E4: the safeguard held a deprovisioning (or tripped).
    Held,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Linked => "linked",
            Outcome::TookOver => "took-over",
            Outcome::Updated => "updated",
            Outcome::NoOp => "no-op",
            Outcome::Unlinked => "unlinked",
            Outcome::Relinked => "relinked",
            Outcome::Conflict => "conflict",
            Outcome::Refused => "refused",
            Outcome::Deleted => "deleted",
            Outcome::Held => "held",
        }
    }
}

/// One line of the troubleshooting log (E1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    pub org_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_id: Option<String>,
    /// RFC 3339 with milliseconds; events sort by it.
    pub time: String,
    /// Unique within the same millisecond.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub outcome: Outcome,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quirks: Vec<String>,
}

/// One machine-readable event (E5): a change that took effect, written by the plan that
/// made it, in the same transaction. The `events` function turns it into a signed SET
/// (RFC 8417, RFC 9967) for every subscription of the org that wants it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeRecord {
    pub org_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_id: Option<String>,
    /// Commit time of the transaction, RFC 3339 with milliseconds (the SET's `iat`).
    pub time: String,
    /// The transaction that wrote it: events of one transaction share it and `time`.
    pub txn: String,
    /// Position within its transaction, from 0: the order in which to deliver them.
    pub seq: u32,
    /// Unique: the SET's `jti`.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The event's short name: `prov:create`, `account:linked`, `access:granted`, ...
    /// (`events::types` maps it to its URI).
    pub event: String,
    pub subject: ChangeSubject,
    /// What the event says, by type (changed attributes and their previous values, the
    /// access granted and its cause, ...). Documented per type in docs/EVENTS.md.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

/// What a change event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSubject {
    /// `User`, `Group` (SCIM resources), `Account`, `OrgGroup`, `Conflict`.
    pub resource_type: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The resource's version after the change, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// The change events of one transaction: one item, whatever their number, so events cost
/// one write action per transaction (DynamoDB allows 100) and a few write units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeBatch {
    pub events: Vec<ChangeRecord>,
}

impl ChangeRecord {
    /// The order of delivery: commit time, then transaction, then position in it.
    pub fn order_key(&self) -> String {
        format!("{}#{}#{:04}", self.time, self.txn, self.seq)
    }
}
