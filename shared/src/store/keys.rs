//! Every key starts with its tenant (`ORG#<orgId>` or `DIR#<directoryId>`), so no query
//! can cross tenants; every user, account, guard and membership has its own partition key
//! so that no single key takes every write of a directory. See infra/README.md.

use crate::directory::cleanup::JobSlot;

pub const GSI1: &str = "gsi1";

pub fn token(hash: &str) -> (String, String) {
    (format!("TOKEN#{hash}"), "TOKEN".into())
}
/// The listing of a directory's SCIM tokens, or (no directory) of an org's admin keys.
pub fn tokens_of(org_id: &str, directory_id: Option<&str>) -> String {
    match directory_id {
        Some(d) => format!("DIR#{d}#TOKENS"),
        None => format!("ORG#{org_id}#TOKENS"),
    }
}
pub fn org(org_id: &str) -> (String, String) {
    (format!("ORG#{org_id}"), "ORG".into())
}
pub fn directory(directory_id: &str) -> (String, String) {
    (format!("DIR#{directory_id}"), "DIRECTORY".into())
}
pub fn directories_of(org_id: &str) -> String {
    format!("ORG#{org_id}#DIRECTORIES")
}
pub fn user(directory_id: &str, user_id: &str) -> (String, String) {
    (format!("DIR#{directory_id}#USER#{user_id}"), "USER".into())
}
/// GSI1 partition listing a directory's users ordered by lowercase userName, then id.
pub fn users_of(directory_id: &str) -> String {
    format!("DIR#{directory_id}#USERS")
}
pub fn user_order(user_name_lower: &str, user_id: &str) -> String {
    format!("{user_name_lower}#{user_id}")
}
pub fn user_name_guard(directory_id: &str, lower: &str) -> (String, String) {
    (
        format!("DIR#{directory_id}#USERNAME#{lower}"),
        "GUARD".into(),
    )
}
pub fn external_id_guard(directory_id: &str, external_id: &str) -> (String, String) {
    (
        format!("DIR#{directory_id}#EXTID#{external_id}"),
        "GUARD".into(),
    )
}
/// Index of a directory's users by email: one partition per email, one item per user.
pub fn user_email(directory_id: &str, email: &str, user_id: &str) -> (String, String) {
    (
        user_email_partition(directory_id, email),
        format!("USER#{user_id}"),
    )
}
pub fn user_email_partition(directory_id: &str, email: &str) -> String {
    format!("DIR#{directory_id}#USEREMAIL#{email}")
}
pub fn account(org_id: &str, account_id: &str) -> (String, String) {
    (
        format!("ORG#{org_id}#ACCOUNT#{account_id}"),
        "ACCOUNT".into(),
    )
}
pub fn accounts_of(org_id: &str) -> String {
    format!("ORG#{org_id}#ACCOUNTS")
}
pub fn account_email_guard(org_id: &str, email: &str) -> (String, String) {
    (format!("ORG#{org_id}#EMAIL#{email}"), "GUARD".into())
}
/// The log is bucketed by UTC day so that no key takes every event of a directory forever,
/// and reading the newest events newest-first costs one query per day read.
pub fn directory_log(directory_id: &str, day: &str) -> String {
    format!("DIR#{directory_id}#LOG#{day}")
}
/// Events of the org's admin calls (no directory): the main-table partition.
pub fn admin_log(org_id: &str, day: &str) -> String {
    format!("ORG#{org_id}#ADMINLOG#{day}")
}
/// GSI1 partition of every event of an org (its directories' and its admins').
pub fn org_log(org_id: &str, day: &str) -> String {
    format!("ORG#{org_id}#LOG#{day}")
}
/// An org's change events (E5), bucketed by UTC day like the log; the sort key is the
/// event's delivery order (`ChangeRecord::order_key`).
pub fn changes(org_id: &str, day: &str) -> String {
    format!("ORG#{org_id}#CHANGES#{day}")
}
/// A subscription to an org's events (its `SUB` item, and its `STATE` item of delivery
/// figures, written by the `events` function only).
pub fn subscription(org_id: &str, subscription_id: &str) -> (String, String) {
    (format!("ORG#{org_id}#SUB#{subscription_id}"), "SUB".into())
}
pub fn subscription_state(org_id: &str, subscription_id: &str) -> (String, String) {
    (
        format!("ORG#{org_id}#SUB#{subscription_id}"),
        "STATE".into(),
    )
}
/// GSI1 partition of a subscription's receiver tokens (poll credentials).
pub fn receiver_tokens_of(org_id: &str, subscription_id: &str) -> String {
    format!("ORG#{org_id}#SUB#{subscription_id}#TOKENS")
}
/// GSI1 partition of an org's subscriptions.
pub fn subscriptions_of(org_id: &str) -> String {
    format!("ORG#{org_id}#SUBS")
}
/// GSI1 partition listing the `STATE` items of push subscriptions whose queue still holds
/// events after a drain (failing, paused, disabled, or a drain that ran out of time): what
/// the `events` function's periodic retry drains. The one key that is not tenant-prefixed:
/// the retry must find such subscriptions across every org, and only the `events`
/// function reads it. Each entry names its tenant (gsi1sk is the state item's partition
/// key, `ORG#<orgId>#SUB#<id>`); it holds no event, only that a queue is waiting.
pub const PUSH_BACKLOG: &str = "PUSH#BACKLOG";
/// A subscription's queue of events not yet delivered (push) or acknowledged (poll); the
/// sort key is the event's delivery order (`ChangeRecord::order_key`). One partition per
/// subscription: its ceiling (about 1,000 writes a second) bounds one receiver's rate.
pub fn subscription_queue(org_id: &str, subscription_id: &str) -> String {
    format!("ORG#{org_id}#SUB#{subscription_id}#QUEUE")
}
/// `2026-11-22` from an RFC 3339 time.
pub fn day_of(time: &str) -> &str {
    time.get(..10).unwrap_or(time)
}
/// An account's memberships of admin-managed org groups (invites, JIT, admin).
pub fn org_member(org_id: &str, org_group_id: &str, account_id: &str) -> (String, String) {
    (
        format!("ORG#{org_id}#OGROUP#{org_group_id}"),
        format!("{MEMBER_PREFIX}{account_id}"),
    )
}
pub fn org_group_partition(org_id: &str, org_group_id: &str) -> String {
    format!("ORG#{org_id}#OGROUP#{org_group_id}")
}
/// GSI1 partition of an account's org-group memberships.
pub fn groups_of_account(org_id: &str, account_id: &str) -> String {
    format!("ORG#{org_id}#ACCOUNTGROUPS#{account_id}")
}

pub fn group(directory_id: &str, group_id: &str) -> (String, String) {
    (group_partition(directory_id, group_id), "GROUP".into())
}
/// A group's item and its member items share this partition: members are read by one query.
pub fn group_partition(directory_id: &str, group_id: &str) -> String {
    format!("DIR#{directory_id}#GROUP#{group_id}")
}
pub fn groups_of(directory_id: &str) -> String {
    format!("DIR#{directory_id}#GROUPS")
}
pub fn group_order(display_name_lower: &str, group_id: &str) -> String {
    format!("{display_name_lower}#{group_id}")
}
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub fn member(directory_id: &str, group_id: &str, user_id: &str) -> (String, String) {
    (
        group_partition(directory_id, group_id),
        format!("{MEMBER_PREFIX}{user_id}"),
    )
}
/// A deleted group's membership clean-up job: in the group's partition, beside the member
/// items it removes (group ids are random UUIDs, never reused).
pub fn cleanup_job(directory_id: &str, group_id: &str) -> (String, String) {
    job(directory_id, group_id, JobSlot::Membership)
}
/// A group's job item of `slot`: its membership job (`CLEANUP`: a delete's clean-up or a
/// replace) or the sync of its held conflict (`SYNC`), each at most one at a time.
pub fn job(directory_id: &str, group_id: &str, slot: JobSlot) -> (String, String) {
    let sk = match slot {
        JobSlot::Membership => "CLEANUP",
        JobSlot::Sync => "SYNC",
    };
    (group_partition(directory_id, group_id), sk.into())
}
/// A page of a replace job's target membership: after the job's `CLEANUP` item, before the
/// group's `GROUP` item and its `MEMBER#` items, so no members query reads it.
pub const JOB_PAGE_PREFIX: &str = "CLEANUP#PAGE#";
pub fn job_page(directory_id: &str, group_id: &str, page: u32) -> (String, String) {
    (
        group_partition(directory_id, group_id),
        format!("{JOB_PAGE_PREFIX}{page:04}"),
    )
}
/// GSI1 partition of a user's memberships (its `groups` attribute, its deletion).
pub fn groups_of_user(directory_id: &str, user_id: &str) -> String {
    format!("DIR#{directory_id}#USERGROUPS#{user_id}")
}
pub fn group_name_guard(directory_id: &str, lower: &str) -> (String, String) {
    (
        format!("DIR#{directory_id}#GROUPNAME#{lower}"),
        "GUARD".into(),
    )
}
pub fn org_group(org_id: &str, org_group_id: &str) -> (String, String) {
    (
        format!("ORG#{org_id}#OGROUP#{org_group_id}"),
        "OGROUP".into(),
    )
}
pub fn org_groups_of(org_id: &str) -> String {
    format!("ORG#{org_id}#OGROUPS")
}
pub fn org_group_name_guard(org_id: &str, lower: &str) -> (String, String) {
    (format!("ORG#{org_id}#OGROUPNAME#{lower}"), "GUARD".into())
}

/// E4: a directory's safeguard (settings and window), beside the directory's item.
pub fn safeguard(directory_id: &str) -> (String, String) {
    (format!("DIR#{directory_id}"), "SAFEGUARD".into())
}
/// E4: the listing entry of an account held by a directory's safeguard.
pub fn held_account(directory_id: &str, account_id: &str) -> (String, String) {
    (
        format!("DIR#{directory_id}#HOLD#{account_id}"),
        "HOLD".into(),
    )
}
/// GSI1 partition of a directory's held accounts (one entry per account).
pub fn holds_of(directory_id: &str) -> String {
    format!("DIR#{directory_id}#HOLDS")
}

/// A held group awaiting review; listed per org through GSI1 by name.
pub fn conflict(org_id: &str, directory_id: &str, group_id: &str) -> (String, String) {
    (
        format!("ORG#{org_id}#CONFLICT#{directory_id}#{group_id}"),
        "CONFLICT".into(),
    )
}
pub fn conflicts_of(org_id: &str) -> String {
    format!("ORG#{org_id}#CONFLICTS")
}
