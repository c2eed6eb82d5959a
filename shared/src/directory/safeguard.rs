//! E4: the mass-deprovisioning safeguard, pure.
//!
//! A directory's safeguard counts the deprovisionings its IdP makes within a window: an
//! account suspended (its SCIM user deactivated or deleted), or losing product roles (a
//! membership removed, a group or user deleted). Past `max(min_count, share% of the
//! directory's users)` it trips, and from then on every further deprovisioning of that
//! directory is *held*: the SCIM side still records what the IdP said and answers as
//! usual, but the account keeps its status and the roles it would lose (an
//! [`AccountHold`]), until an admin approves (the held effects apply) or releases (the hold
//! ends without the suspension) it, or the IdP takes it back (reactivates the user).
//!
//! The write service calls [`deprovisionings`] and [`hold`] on a directory's plan before
//! applying it; everything here is a function of the plan, the access world and the
//! safeguard's record.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::changes::AccessWorld;
use super::context::WriteContext;
use super::model::{
    AccountHold, AccountRecord, AccountStatus, EventRecord, Outcome, SafeguardRecord, SafeguardTrip,
};
use super::plan::{Condition, Plan, Record, Write};
use crate::scim::error::ScimError;

/// The settings an admin sends (`PUT .../safeguard`); absent fields keep their value (or
/// the recommended default for a directory that has none yet).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SafeguardSettings {
    pub enabled: Option<bool>,
    pub share_percent: Option<u32>,
    pub min_count: Option<u32>,
    pub window_minutes: Option<u32>,
}

/// The recommended settings (docs/SAFEGUARD.md): trip past 10% of the directory's users,
/// and never before 20 deprovisionings, within an hour. Off until an admin turns it on.
pub const RECOMMENDED_SHARE_PERCENT: u32 = 10;
pub const RECOMMENDED_MIN_COUNT: u32 = 20;
pub const RECOMMENDED_WINDOW_MINUTES: u32 = 60;
/// Limits of the settings: a share of 1-100%, a minimum of 1-1,000,000, a window of one
/// minute to one week.
pub const MAX_MIN_COUNT: u32 = 1_000_000;
pub const MAX_WINDOW_MINUTES: u32 = 7 * 24 * 60;
/// The reasons an account's hold keeps (the oldest go first): its item stays small.
pub const MAX_HOLD_REASONS: usize = 20;

/// A directory's safeguard as it is before any setting: off, with the recommended values.
pub fn default_record(org_id: &str, directory_id: &str, now: &str) -> SafeguardRecord {
    SafeguardRecord {
        org_id: org_id.to_string(),
        directory_id: directory_id.to_string(),
        enabled: false,
        share_percent: RECOMMENDED_SHARE_PERCENT,
        min_count: RECOMMENDED_MIN_COUNT,
        window_minutes: RECOMMENDED_WINDOW_MINUTES,
        window_start: None,
        baseline_users: 0,
        counted: 0,
        tripped: None,
        version: 0,
        updated: now.to_string(),
    }
}

/// The record with `settings` applied, or a 400 naming the bad value. Turning the
/// safeguard off clears its window (holds stay, for an admin to decide).
pub fn with_settings(
    current: &SafeguardRecord,
    settings: &SafeguardSettings,
) -> Result<SafeguardRecord, ScimError> {
    let mut next = current.clone();
    if let Some(v) = settings.share_percent {
        if !(1..=100).contains(&v) {
            return Err(ScimError::invalid_value(format!(
                "sharePercent must be 1 to 100, got {v}"
            )));
        }
        next.share_percent = v;
    }
    if let Some(v) = settings.min_count {
        if !(1..=MAX_MIN_COUNT).contains(&v) {
            return Err(ScimError::invalid_value(format!(
                "minCount must be 1 to {MAX_MIN_COUNT}, got {v}"
            )));
        }
        next.min_count = v;
    }
    if let Some(v) = settings.window_minutes {
        if !(1..=MAX_WINDOW_MINUTES).contains(&v) {
            return Err(ScimError::invalid_value(format!(
                "windowMinutes must be 1 to {MAX_WINDOW_MINUTES} (one week), got {v}"
            )));
        }
        next.window_minutes = v;
    }
    if let Some(v) = settings.enabled {
        next.enabled = v;
    }
    if !next.enabled {
        next.window_start = None;
        next.counted = 0;
    }
    Ok(next)
}

/// How many deprovisionings a window lets through: the share of `users`, rounded up, and
/// at least the minimum.
pub fn threshold(sg: &SafeguardRecord, users: u64) -> u32 {
    let share = (users * u64::from(sg.share_percent)).div_ceil(100);
    u32::try_from(share).unwrap_or(u32::MAX).max(sg.min_count)
}

/// Whether the window has closed at `now` (or never opened): the next deprovisioning
/// opens a new one, counted against the directory's users then.
pub fn window_closed(sg: &SafeguardRecord, now: &str) -> bool {
    let Some(start) = &sg.window_start else {
        return true;
    };
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    };
    match (parse(start), parse(now)) {
        (Some(s), Some(n)) => n - s >= time::Duration::minutes(i64::from(sg.window_minutes)),
        _ => true,
    }
}

/// Whether a plan could take anything from anyone (cheap, before any read): it suspends or
/// unlinks an account or takes a directly assigned role (G8) from it, or removes a
/// membership, a user or a group, or changes a group's standing. Everything else (creates, profile changes, additions) is never counted.
pub fn may_deprovision(plan: &Plan) -> bool {
    let old_account = |id: &str| {
        plan.before.iter().find_map(|r| match r {
            Record::Account(a) if a.id == id => Some(a),
            _ => None,
        })
    };
    plan.writes.iter().chain(&plan.after).any(|w| match w {
        Write::Put(Record::Account(a), Condition::Version(_)) => {
            old_account(&a.id).is_some_and(|o| {
                (o.status == AccountStatus::Active && a.status == AccountStatus::Suspended)
                    || (o.link.is_some() && a.link.is_none())
                    || o.assigned_roles
                        .iter()
                        .any(|r| !a.assigned_roles.contains(r))
            })
        }
        Write::Delete(Record::Member { .. } | Record::User(_) | Record::Group(_), _) => true,
        Write::Put(Record::Group(_), Condition::Version(_)) => true,
        _ => false,
    })
}

/// One account a plan deprovisions: as stored, as the plan would write it, and what it
/// would lose.
#[derive(Debug, Clone)]
pub struct Deprovisioning {
    pub before: AccountRecord,
    /// The plan's write of the account, when it writes one.
    pub planned: Option<AccountRecord>,
    /// The plan suspends it.
    pub suspend: bool,
    /// Roles it would lose (all of them when suspended).
    pub would_lose: BTreeSet<String>,
    /// Roles its groups would no longer grant, whatever its status: what a hold keeps.
    pub lost_through_groups: BTreeSet<String>,
}

fn planned_account<'a>(plan: &'a Plan, id: &str) -> Option<&'a AccountRecord> {
    plan.writes.iter().chain(&plan.after).find_map(|w| match w {
        Write::Put(Record::Account(a), Condition::Version(_)) if a.id == id => Some(a),
        _ => None,
    })
}

/// The account as its groups alone would see it: active and without a hold.
fn as_active(a: &AccountRecord) -> AccountRecord {
    AccountRecord {
        status: AccountStatus::Active,
        hold: None,
        ..a.clone()
    }
}

/// The accounts `plan` deprovisions, in the world as it stands before it (`world` holds
/// every account whose access the plan may change: `changes::access_needs`).
pub fn deprovisionings(plan: &Plan, world: &AccessWorld) -> Vec<Deprovisioning> {
    let mut after = world.clone();
    let all: Vec<Write> = plan.writes.iter().chain(&plan.after).cloned().collect();
    after.apply(&all);
    let mut out = Vec::new();
    for (id, before) in &world.accounts {
        if before.status == AccountStatus::Suspended {
            continue;
        }
        let planned = planned_account(plan, id).cloned();
        let next = planned.clone().unwrap_or_else(|| before.clone());
        let suspend = next.status == AccountStatus::Suspended;
        let roles_before = world.roles(id);
        // What a hold already keeps is not lost again.
        let through_groups_before = world.roles_for(&as_active(before));
        let through_groups_after = after.roles_for(&as_active(&next));
        let lost_through_groups: BTreeSet<String> = through_groups_before
            .difference(&through_groups_after)
            .cloned()
            .collect();
        if !suspend && lost_through_groups.is_empty() {
            continue;
        }
        out.push(Deprovisioning {
            before: before.clone(),
            planned,
            suspend,
            would_lose: if suspend {
                roles_before
            } else {
                lost_through_groups.clone()
            },
            lost_through_groups,
        });
    }
    out
}

/// What the safeguard did to a plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Guarded {
    /// Deprovisionings let through (counted).
    pub counted: usize,
    /// Accounts held, by email.
    pub held: Vec<String>,
    /// This plan tripped the safeguard.
    pub tripped: bool,
}

/// Counts `found` against the safeguard `sg` (enabled) and holds what is past its
/// threshold, rewriting `plan`: a held account keeps its status and gets (or extends) its
/// hold instead of what the plan wrote, and its listing entry. `users` is the directory's
/// user count, read by the caller when [`window_closed`] (a new window opens), else unused.
/// The safeguard's record is written under its version whenever it changes, so racing
/// deprovisionings of one directory are counted one after the other.
pub fn hold(
    ctx: &WriteContext,
    plan: &mut Plan,
    sg: &SafeguardRecord,
    users: Option<u64>,
    found: Vec<Deprovisioning>,
) -> Guarded {
    let mut next_sg = sg.clone();
    let mut out = Guarded::default();
    if found.is_empty() || !sg.enabled {
        return out;
    }
    if window_closed(sg, &ctx.now) && sg.tripped.is_none() {
        next_sg.window_start = Some(ctx.now.clone());
        next_sg.baseline_users = users.unwrap_or(sg.baseline_users);
        next_sg.counted = 0;
    }
    let limit = threshold(&next_sg, next_sg.baseline_users);
    let mut held_lines = Vec::new();
    for d in found {
        let already_held = d.before.hold.is_some();
        if !already_held && next_sg.tripped.is_none() {
            if next_sg.counted < limit {
                next_sg.counted += 1;
                out.counted += 1;
                continue;
            }
            next_sg.tripped = Some(SafeguardTrip {
                at: ctx.now.clone(),
                threshold: limit,
                baseline_users: next_sg.baseline_users,
                window_start: next_sg.window_start.clone().unwrap_or(ctx.now.clone()),
            });
            out.tripped = true;
        }
        let line = hold_account(ctx, plan, &d);
        out.held.push(d.before.email.clone());
        held_lines.push(line);
    }
    if next_sg != *sg {
        next_sg.version = sg.version + 1;
        next_sg.updated = ctx.now.clone();
        let condition = if sg.version == 0 {
            Condition::Absent
        } else {
            Condition::Version(sg.version)
        };
        plan.put(Record::Safeguard(next_sg.clone()), condition);
        if sg.version > 0 {
            plan.prior(Record::Safeguard(sg.clone()));
        }
    }
    if out.tripped {
        let trip = next_sg.tripped.as_ref();
        let line = format!(
            "SAFEGUARD TRIPPED for directory {}: {} deprovisionings within {} minutes reached its threshold of {} ({}% of {} users, at least {}). Every further deprovisioning of this directory is held for an admin's approval: GET /admin/v1/orgs/{}/directories/{}/safeguard/holds.",
            ctx.directory_id,
            next_sg.counted,
            next_sg.window_minutes,
            trip.map(|t| t.threshold).unwrap_or(limit),
            next_sg.share_percent,
            next_sg.baseline_users,
            next_sg.min_count,
            ctx.org_id,
            ctx.directory_id,
        );
        plan.event(held_event(ctx, line));
    }
    if !held_lines.is_empty() {
        plan.event(held_event(ctx, held_lines.join(" ")));
    }
    out
}

fn held_event(ctx: &WriteContext, message: String) -> EventRecord {
    EventRecord {
        id: ctx.ids.next_simple(),
        ..ctx.event(Outcome::Held, message)
    }
}

/// Rewrites the plan's write of one deprovisioned account into a hold; returns the log
/// sentence.
fn hold_account(ctx: &WriteContext, plan: &mut Plan, d: &Deprovisioning) -> String {
    let before = &d.before;
    let mut next = d.planned.clone().unwrap_or_else(|| {
        let mut a = before.clone();
        a.version = before.version + 1;
        a.last_modified = ctx.now.clone();
        a
    });
    next.status = before.status;
    let mut hold = before.hold.clone().unwrap_or_else(|| AccountHold {
        directory_id: ctx.directory_id.clone(),
        since: ctx.now.clone(),
        ..Default::default()
    });
    hold.suspend |= d.suspend;
    hold.kept_roles
        .extend(d.lost_through_groups.iter().cloned());
    hold.would_lose.extend(d.would_lose.iter().cloned());
    let mut effects = Vec::new();
    if d.suspend {
        effects.push("its suspension".to_string());
    }
    if !d.would_lose.is_empty() {
        effects.push(format!(
            "the loss of {}",
            d.would_lose.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let line = format!(
        "Held {} for account {} ({}): it keeps its access until an admin approves or releases the hold.",
        effects.join(" and "),
        before.id,
        before.email
    );
    hold.reasons
        .push(format!("{} ({}): {line}", ctx.now, ctx.operation));
    if hold.reasons.len() > MAX_HOLD_REASONS {
        hold.reasons.remove(0);
    }
    next.hold = Some(hold);
    if d.planned.is_some() {
        for w in plan.writes.iter_mut().chain(plan.after.iter_mut()) {
            if let Write::Put(Record::Account(a), Condition::Version(_)) = w {
                if a.id == before.id {
                    *a = next.clone();
                }
            }
        }
    } else {
        plan.put(
            Record::Account(next.clone()),
            Condition::Version(before.version),
        );
        plan.prior(Record::Account(before.clone()));
    }
    if before.hold.is_none() {
        plan.put(held_entry(ctx, &before.id), Condition::Always);
    }
    line
}

fn held_entry(ctx: &WriteContext, account_id: &str) -> Record {
    Record::HeldAccount {
        org_id: ctx.org_id.clone(),
        directory_id: ctx.directory_id.clone(),
        account_id: account_id.to_string(),
    }
}

/// The IdP took back what a hold waits for: a user it had deactivated or deleted is active
/// again. `next` is the account as the IdP's write leaves it (active, per its user); its
/// pending suspension goes, and the hold with it when nothing else is held. Returns the
/// log sentence when the hold changed.
pub fn idp_reactivated(
    ctx: &WriteContext,
    plan: &mut Plan,
    before: &AccountRecord,
    next: &mut AccountRecord,
) -> Option<String> {
    let hold = next.hold.as_mut()?;
    if !hold.suspend || next.status != AccountStatus::Active {
        return None;
    }
    hold.suspend = false;
    if !hold.kept_roles.is_empty() {
        return Some(format!(
            "The IdP reactivated the user: the held suspension of account {} is dropped; the roles it keeps stay held for an admin.",
            before.id
        ));
    }
    next.hold = None;
    let dir = before
        .hold
        .as_ref()
        .map(|h| h.directory_id.clone())
        .unwrap_or_else(|| ctx.directory_id.clone());
    plan.delete(
        Record::HeldAccount {
            org_id: ctx.org_id.clone(),
            directory_id: dir,
            account_id: before.id.clone(),
        },
        Condition::Always,
    );
    Some(format!(
        "The IdP reactivated the user: the safeguard's hold of account {} is resolved, nothing of it applied.",
        before.id
    ))
}

/// An admin's decision on a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldDecision {
    /// The held effects apply: the suspension, the loss of the kept roles.
    Approve,
    /// The hold ends without the suspension; the kept roles go too (the IdP removed the
    /// memberships that granted them, and scimlink cannot keep what the IdP took back).
    Release,
}

impl HoldDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldDecision::Approve => "approved",
            HoldDecision::Release => "released",
        }
    }
}

/// An admin approves or releases the hold of `account` (none: nothing to write).
pub fn plan_hold_decision(
    ctx: &WriteContext,
    account: &AccountRecord,
    decision: HoldDecision,
) -> Option<Plan> {
    let hold = account.hold.as_ref()?;
    let mut plan = Plan::default();
    let mut next = account.clone();
    next.hold = None;
    let mut effects = Vec::new();
    if decision == HoldDecision::Approve && hold.suspend {
        next.status = AccountStatus::Suspended;
        effects.push("suspended it".to_string());
    }
    if !hold.kept_roles.is_empty() {
        effects.push(format!(
            "ended the roles it kept ({})",
            hold.kept_roles
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if decision == HoldDecision::Release && hold.suspend {
        effects.push("left it active".to_string());
    }
    next.version = account.version + 1;
    next.last_modified = ctx.now.clone();
    plan.put(Record::Account(next), Condition::Version(account.version));
    plan.prior(Record::Account(account.clone()));
    plan.delete(
        Record::HeldAccount {
            org_id: account.org_id.clone(),
            directory_id: hold.directory_id.clone(),
            account_id: account.id.clone(),
        },
        Condition::Always,
    );
    let done = if effects.is_empty() {
        "nothing else to apply".to_string()
    } else {
        effects.join(", ")
    };
    plan.event(EventRecord {
        email: Some(account.email.clone()),
        ..ctx.event(
            Outcome::Held,
            format!(
                "An admin {} the safeguard's hold of account {} ({}) from directory {}: {done}.",
                decision.as_str(),
                account.id,
                account.email,
                hold.directory_id
            ),
        )
    });
    Some(plan)
}

/// Ends a trip once every hold of the directory is decided: the window starts afresh.
pub fn plan_reset(ctx: &WriteContext, sg: &SafeguardRecord) -> Option<Plan> {
    sg.tripped.as_ref()?;
    let mut next = sg.clone();
    next.tripped = None;
    next.window_start = None;
    next.counted = 0;
    next.version = sg.version + 1;
    next.updated = ctx.now.clone();
    let mut plan = Plan::default();
    plan.put(Record::Safeguard(next), Condition::Version(sg.version));
    plan.prior(Record::Safeguard(sg.clone()));
    plan.event(ctx.event(
        Outcome::Held,
        format!(
            "Every hold of directory {} is decided: its safeguard is reset and counts afresh.",
            sg.directory_id
        ),
    ));
    Some(plan)
}

/// An admin changes the settings.
pub fn plan_settings(
    ctx: &WriteContext,
    current: &SafeguardRecord,
    next: SafeguardRecord,
) -> Option<Plan> {
    if next == *current {
        return None;
    }
    let mut next = next;
    next.version = current.version + 1;
    next.updated = ctx.now.clone();
    let mut plan = Plan::default();
    let condition = if current.version == 0 {
        Condition::Absent
    } else {
        plan.prior(Record::Safeguard(current.clone()));
        Condition::Version(current.version)
    };
    let state = if next.enabled { "on" } else { "off" };
    plan.event(ctx.event(
        Outcome::Updated,
        format!(
            "The safeguard of directory {} is {state}: it trips past {}% of the directory's users (at least {}) deprovisioned within {} minutes.",
            next.directory_id, next.share_percent, next.min_count, next.window_minutes
        ),
    ));
    plan.put(Record::Safeguard(next), condition);
    Some(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::{GroupRecord, ManagedBy, OrgGroupRecord};
    use crate::directory::testkit::{account, ctx, linked};

    fn on(share: u32, min: u32) -> SafeguardRecord {
        SafeguardRecord {
            enabled: true,
            share_percent: share,
            min_count: min,
            version: 1,
            ..default_record("o", "d", "2026-11-29T10:00:00.000Z")
        }
    }

    /// A world where each account is linked to user `u-<id>` in group `g`, which grants
    /// `jira/user` through a directory-managed org group.
    fn world(ids: &[&str]) -> AccessWorld {
        let mut w = AccessWorld::default();
        let og = OrgGroupRecord {
            org_id: "o".into(),
            id: "og".into(),
            name: "Jira".into(),
            managed_by: ManagedBy::Directory {
                directory_id: "d".into(),
            },
            scim_group: None,
            roles: vec!["jira/user".into()],
            version: 1,
            created: "t".into(),
            last_modified: "t".into(),
        };
        w.org_groups.insert("og".into(), og);
        w.groups.insert(
            ("d".into(), "g".into()),
            GroupRecord {
                directory_id: "d".into(),
                id: "g".into(),
                doc: serde_json::json!({}),
                version: 1,
                created: "t".into(),
                last_modified: "t".into(),
                org_group_id: Some("og".into()),
                held: false,
                members_pending: false,
            },
        );
        for id in ids {
            let a = linked(
                account(
                    id,
                    &format!("{id}@example.com"),
                    crate::directory::model::Origin::Scim,
                ),
                "d",
                &format!("u-{id}"),
            );
            w.accounts.insert(id.to_string(), a);
            w.user_groups
                .insert(("d".into(), format!("u-{id}")), ["g".to_string()].into());
        }
        w
    }

    fn suspend_plan(w: &AccessWorld, ids: &[&str]) -> Plan {
        let mut plan = Plan::default();
        for id in ids {
            let before = w.accounts[*id].clone();
            let mut next = before.clone();
            next.status = AccountStatus::Suspended;
            next.version += 1;
            plan.put(Record::Account(next), Condition::Version(before.version));
            plan.prior(Record::Account(before));
        }
        plan.event(ctx().event(Outcome::Updated, "deactivated".into()));
        plan
    }

    fn remove_plan(ids: &[&str]) -> Plan {
        let mut plan = Plan::default();
        for id in ids {
            plan.delete(
                Record::Member {
                    directory_id: "d".into(),
                    group_id: "g".into(),
                    user_id: format!("u-{id}"),
                },
                Condition::Always,
            );
        }
        plan.event(ctx().event(Outcome::Updated, "removed".into()));
        plan
    }

    fn held_account<'a>(plan: &'a Plan, id: &str) -> &'a AccountRecord {
        plan.writes
            .iter()
            .find_map(|w| match w {
                Write::Put(Record::Account(a), _) if a.id == id => Some(a),
                _ => None,
            })
            .expect("account written")
    }

    #[test]
    fn e4_the_threshold_is_the_share_rounded_up_and_at_least_the_minimum() {
        assert_eq!(threshold(&on(50, 1), 200), 100);
        assert_eq!(threshold(&on(10, 1), 15), 2);
        assert_eq!(threshold(&on(10, 20), 15), 20);
        assert_eq!(threshold(&on(100, 1), 0), 1);
    }

    #[test]
    fn e4_settings_are_checked_and_turning_off_clears_the_window() {
        let sg = on(50, 1);
        let bad = SafeguardSettings {
            share_percent: Some(0),
            ..Default::default()
        };
        assert_eq!(with_settings(&sg, &bad).unwrap_err().status, 400);
        let bad = SafeguardSettings {
            window_minutes: Some(MAX_WINDOW_MINUTES + 1),
            ..Default::default()
        };
        assert!(with_settings(&sg, &bad)
            .unwrap_err()
            .detail
            .contains("windowMinutes"));
        let mut counting = sg.clone();
        counting.window_start = Some("2026-11-29T10:00:00.000Z".into());
        counting.counted = 3;
        let off = with_settings(
            &counting,
            &SafeguardSettings {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!off.enabled);
        assert_eq!((off.counted, off.window_start), (0, None));
    }

    #[test]
    fn e4_a_window_closes_after_its_minutes() {
        let mut sg = on(50, 1);
        assert!(window_closed(&sg, "2026-11-29T10:00:00.000Z"));
        sg.window_start = Some("2026-11-29T10:00:00.000Z".into());
        assert!(!window_closed(&sg, "2026-11-29T10:59:59.999Z"));
        assert!(window_closed(&sg, "2026-11-29T11:00:00.000Z"));
    }

    #[test]
    fn e4_only_plans_that_can_take_access_are_looked_at() {
        let w = world(&["a"]);
        assert!(may_deprovision(&suspend_plan(&w, &["a"])));
        assert!(may_deprovision(&remove_plan(&["a"])));
        let mut create = Plan::default();
        create.put(
            Record::Member {
                directory_id: "d".into(),
                group_id: "g".into(),
                user_id: "u".into(),
            },
            Condition::Always,
        );
        assert!(!may_deprovision(&create));
    }

    /// E4: past the threshold a suspension is held: the account stays active with a hold,
    /// its listing entry is written, the window is counted, and the trip is logged.
    #[test]
    fn e4_past_the_threshold_deprovisioning_is_held_and_the_trip_logged() {
        let w = world(&["a", "b", "c"]);
        let mut sg = on(50, 1);
        sg.window_start = Some(ctx().now.clone());
        sg.baseline_users = 4;
        sg.counted = 1; // threshold 2: one more goes through
        let mut plan = suspend_plan(&w, &["a", "b", "c"]);
        let found = deprovisionings(&plan, &w);
        assert_eq!(found.len(), 3);
        let g = hold(&ctx(), &mut plan, &sg, None, found);
        assert_eq!(g.counted, 1);
        assert_eq!(g.held.len(), 2);
        assert!(g.tripped);
        let a = held_account(&plan, "a");
        assert_eq!(a.status, AccountStatus::Suspended, "counted: applied");
        assert!(a.hold.is_none());
        for id in ["b", "c"] {
            let acc = held_account(&plan, id);
            assert_eq!(acc.status, AccountStatus::Active);
            let h = acc.hold.as_ref().expect("held");
            assert!(h.suspend);
            assert!(h.kept_roles.is_empty(), "its groups still grant");
            assert_eq!(h.would_lose, ["jira/user".to_string()].into());
        }
        let entries = plan
            .writes
            .iter()
            .filter(|w| matches!(w, Write::Put(Record::HeldAccount { .. }, _)))
            .count();
        assert_eq!(entries, 2);
        let written = plan
            .writes
            .iter()
            .find_map(|w| match w {
                Write::Put(Record::Safeguard(s), Condition::Version(1)) => Some(s),
                _ => None,
            })
            .expect("safeguard written under its version");
        assert_eq!(written.counted, 2);
        assert!(written.tripped.is_some());
        let held: Vec<&EventRecord> = plan
            .events()
            .filter(|e| e.outcome == Outcome::Held)
            .collect();
        assert_eq!(held.len(), 2);
        assert!(held[0].message.contains("SAFEGUARD TRIPPED"));
    }

    /// E4: a held membership removal keeps the roles the group granted.
    #[test]
    fn e4_a_held_removal_keeps_the_roles_the_group_granted() {
        let w = world(&["a"]);
        let mut sg = on(50, 1);
        sg.tripped = Some(SafeguardTrip {
            at: "t".into(),
            threshold: 1,
            baseline_users: 1,
            window_start: "t".into(),
        });
        let mut plan = remove_plan(&["a"]);
        let found = deprovisionings(&plan, &w);
        let g = hold(&ctx(), &mut plan, &sg, None, found);
        assert_eq!(g.held, vec!["a@example.com".to_string()]);
        let acc = held_account(&plan, "a").clone();
        let h = acc.hold.as_ref().expect("held");
        assert!(!h.suspend);
        assert_eq!(h.kept_roles, ["jira/user".to_string()].into());
        // The world after the rewritten plan still grants the role.
        let mut after = w.clone();
        after.apply(&plan.writes);
        assert!(after.roles("a").contains("jira/user"));
    }

    #[test]
    fn e4_an_off_safeguard_or_nothing_found_changes_nothing() {
        let w = world(&["a"]);
        let mut plan = suspend_plan(&w, &["a"]);
        let original = plan.clone();
        let found = deprovisionings(&plan, &w);
        let off = SafeguardRecord {
            enabled: false,
            ..on(50, 1)
        };
        assert_eq!(
            hold(&ctx(), &mut plan, &off, None, found),
            Guarded::default()
        );
        assert_eq!(plan, original);
    }

    #[test]
    fn e4_approval_suspends_and_release_leaves_active() {
        let mut acc = linked(
            account("a", "a@example.com", crate::directory::model::Origin::Scim),
            "d",
            "u-a",
        );
        assert!(plan_hold_decision(&ctx(), &acc, HoldDecision::Approve).is_none());
        acc.hold = Some(AccountHold {
            directory_id: "d".into(),
            suspend: true,
            ..Default::default()
        });
        let approve = plan_hold_decision(&ctx(), &acc, HoldDecision::Approve).expect("plan");
        let a = held_account(&approve, "a");
        assert_eq!(
            (a.status, a.hold.is_none()),
            (AccountStatus::Suspended, true)
        );
        assert!(approve
            .writes
            .iter()
            .any(|w| matches!(w, Write::Delete(Record::HeldAccount { .. }, _))));
        let release = plan_hold_decision(&ctx(), &acc, HoldDecision::Release).expect("plan");
        let a = held_account(&release, "a");
        assert_eq!((a.status, a.hold.is_none()), (AccountStatus::Active, true));
    }

    #[test]
    fn e4_a_reactivation_resolves_a_held_suspension() {
        let mut before = account("a", "a@example.com", crate::directory::model::Origin::Scim);
        before.hold = Some(AccountHold {
            directory_id: "d".into(),
            suspend: true,
            ..Default::default()
        });
        let mut next = before.clone();
        let mut plan = Plan::default();
        let line = idp_reactivated(&ctx(), &mut plan, &before, &mut next).expect("resolved");
        assert!(line.contains("resolved"));
        assert!(next.hold.is_none());
        assert!(matches!(
            plan.writes[0],
            Write::Delete(Record::HeldAccount { .. }, _)
        ));
    }
}
