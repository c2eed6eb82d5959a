//! A `Plan` is everything one write will do: item writes with their conditions, and the
//! events that report them. Plans are pure data; `store::apply` runs one as a single
//! DynamoDB transaction, so the log is written with the change it reports (E1).

use crate::scim::error::ScimError;

use super::model::{
    AccountRecord, ChangeBatch, ConflictRecord, DirectoryRecord, EventRecord, GroupRecord, Guard,
    OrgGroupRecord, OrgRecord, SafeguardRecord, TokenRecord, UserRecord,
};

/// A record the store knows how to key and serialize.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Org(OrgRecord),
    Directory(DirectoryRecord),
    Token(TokenRecord),
    User(UserRecord),
    Account(AccountRecord),
    /// A uniqueness guard and the id of what holds the value.
    Guard(Guard, String),
    /// Index entry: directory `directory_id` has user `user_id` with email `email`.
    UserEmail {
        directory_id: String,
        email: String,
        user_id: String,
    },
    Event(EventRecord),
    /// The machine-readable events (E5) of one transaction, beside its log event.
    Changes(ChangeBatch),
    /// A receiver of the org's events.
    Subscription(crate::events::subscription::SubscriptionRecord),
    Group(GroupRecord),
    Conflict(ConflictRecord),
    OrgGroup(OrgGroupRecord),
    /// Account `account_id` is a member of the admin-managed org group `org_group_id`.
    OrgMember {
        org_id: String,
        org_group_id: String,
        account_id: String,
    },
    /// User `user_id` is a member of SCIM group `group_id`: one item per member.
    Member {
        directory_id: String,
        group_id: String,
        user_id: String,
    },
    /// E4: a directory's safeguard settings and window.
    Safeguard(SafeguardRecord),
    /// A deleted group's asynchronous membership clean-up (`directory::cleanup`).
    CleanupJob(super::cleanup::CleanupJobRecord),
    /// A page of a replace job's target membership, beside the job.
    JobPage(super::cleanup::JobPageRecord),
    /// E4: account `account_id` has a hold of directory `directory_id` (the listing entry;
    /// the hold itself is on the account).
    HeldAccount {
        org_id: String,
        directory_id: String,
        account_id: String,
    },
}

/// What must hold for a write to go through; the store turns it into a condition expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Unconditional (events, index entries owned by a record written in the same plan).
    Always,
    /// The item must not exist yet (creates, guards).
    Absent,
    /// The item must still be at this version (optimistic concurrency).
    Version(u64),
    /// A guard must still name this owner.
    OwnedBy(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put(Record, Condition),
    /// Delete the item that `Record` keys (its body is only used for the key).
    Delete(Record, Condition),
    /// Bump a group's version and `lastModified` without a condition: membership changes
    /// do not depend on the group's document, so concurrent ones must not conflict.
    TouchGroup {
        directory_id: String,
        group_id: String,
        last_modified: String,
    },
    /// A replace job finished: the group's member items are its membership again (its
    /// pending mark goes), its version and `lastModified` move as for a membership change.
    SettleGroup {
        directory_id: String,
        group_id: String,
        last_modified: String,
    },
}

/// DynamoDB's limit on the actions of one transaction: past it a plan is applied in parts.
pub const MAX_TRANSACTION_ACTIONS: usize = 100;
/// What a plan's part may hold: one action of every transaction is kept for its change
/// item (E5), which the write service adds once the part's events are known.
pub const MAX_PART_ACTIONS: usize = MAX_TRANSACTION_ACTIONS - 1;

/// Everything one write does. When it fits one transaction (100 actions), all of it commits
/// at once. When it does not (a big membership change), [`Plan::transactions`] cuts it into
/// parts, each one transaction, applied in this order:
///
/// 1. membership removals (`Member`, `OrgMember` deletes of `writes`): a removed member of
///    a group or user that still exists is what the request asked for anyway;
/// 2. the rest of `writes`, with its conditions: the change itself and its log event;
/// 3. membership additions (`Member`, `OrgMember` puts of `writes`): after the group and
///    user they name exist, so no membership ever names a missing record;
/// 4. `after`: clean-ups of items that stopped counting when part 2 committed (the admin
///    membership of a group a sync handed to a directory).
///
/// Every part carries a log event of its own, derived from the plan's event (same time,
/// request, resource; "part i of n"), so whatever has committed is logged (E1). Each part is
/// idempotent (unconditional puts and deletes of membership items; the core has its
/// conditions), so a crash between parts leaves a state the next attempt completes: the
/// retried request is planned against what is stored and writes only what is missing.
/// Part 4 is completed by whatever next hands the group back to admin, which removes the
/// admin membership items it still has (`plan_group_delete`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub writes: Vec<Write>,
    /// Idempotent clean-ups applied after everything else (part 4 above).
    pub after: Vec<Write>,
    /// The stored records this plan replaces or deletes at their loaded version, as they
    /// were: what the change events (E5) compare against for previous values.
    pub before: Vec<Record>,
    /// Accounts whose access the plan changes without writing anything of theirs (a sync
    /// job's chunk of IdP members, whose access changed with their org group): the access
    /// world reads them so that their events (E5) are derived.
    pub observed: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.after.is_empty()
    }
    /// How many DynamoDB write actions the plan takes.
    pub fn len(&self) -> usize {
        self.writes.len() + self.after.len()
    }
    pub fn put(&mut self, record: Record, condition: Condition) {
        self.writes.push(Write::Put(record, condition));
    }
    pub fn delete(&mut self, record: Record, condition: Condition) {
        self.writes.push(Write::Delete(record, condition));
    }
    /// Remembers a record as it was before this plan replaces or deletes it (E5).
    pub fn prior(&mut self, record: Record) {
        self.before.push(record);
    }
    pub fn event(&mut self, event: EventRecord) {
        self.put(Record::Event(event), Condition::Always);
    }
    /// Membership item writes, which may be split off a plan into batches of their own:
    /// each one is valid alone (adding or removing one member is idempotent).
    pub fn is_membership(write: &Write) -> bool {
        matches!(
            write,
            Write::Put(
                Record::Member { .. } | Record::OrgMember { .. },
                Condition::Always
            ) | Write::Delete(
                Record::Member { .. } | Record::OrgMember { .. },
                Condition::Always
            )
        )
    }

    /// The transactions that apply this plan, in order: one when it fits, else the parts
    /// the type's documentation lists. Empty for an empty plan.
    pub fn transactions(&self) -> Vec<Vec<Write>> {
        if self.is_empty() {
            return Vec::new();
        }
        if self.len() <= MAX_PART_ACTIONS {
            return vec![self.writes.iter().chain(&self.after).cloned().collect()];
        }
        let (members, core): (Vec<Write>, Vec<Write>) =
            self.writes.iter().cloned().partition(Plan::is_membership);
        let (additions, removals): (Vec<Write>, Vec<Write>) = members
            .into_iter()
            .partition(|w| matches!(w, Write::Put(..)));
        // A membership part also bumps the version of the group it changes (as the core
        // does), so that a group's ETag changes with every part that changes its members.
        let touches: Vec<Write> = core
            .iter()
            .filter(|w| matches!(w, Write::TouchGroup { .. }))
            .cloned()
            .collect();
        let room = |touch: bool| MAX_PART_ACTIONS - 1 - if touch { touches.len() } else { 0 };
        let chunks = |w: &[Write], touch: bool| w.len().div_ceil(room(touch));
        let total =
            chunks(&removals, true) + 1 + chunks(&additions, true) + chunks(&self.after, false);
        let base = self.events().next();
        let mut parts = Vec::with_capacity(total);
        let cut = |writes: &[Write], what: &str, touch: bool, parts: &mut Vec<Vec<Write>>| {
            for chunk in writes.chunks(room(touch)) {
                let mut part = chunk.to_vec();
                if touch {
                    part.extend(touches.iter().cloned());
                }
                if let Some(e) = base {
                    part.push(Write::Put(
                        Record::Event(part_event(e, parts.len() + 1, total, chunk.len(), what)),
                        Condition::Always,
                    ));
                }
                parts.push(part);
            }
        };
        cut(&removals, "removed", true, &mut parts);
        parts.push(core);
        cut(&additions, "added", true, &mut parts);
        cut(&self.after, "cleaned up", false, &mut parts);
        parts
    }

    pub fn events(&self) -> impl Iterator<Item = &EventRecord> {
        self.writes.iter().filter_map(|w| match w {
            Write::Put(Record::Event(e), _) => Some(e),
            _ => None,
        })
    }
}

/// A refusal still leaves an event (L3, E1): the caller writes `plan` and answers `error`.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub error: ScimError,
    /// Boxed: a refusal travels in `Err`, which is better small.
    pub plan: Box<Plan>,
}

impl From<ScimError> for Refusal {
    fn from(error: ScimError) -> Self {
        Refusal {
            error,
            plan: Box::default(),
        }
    }
}

/// The log event of one part of a split plan: the plan's event, renamed for the part.
fn part_event(
    base: &EventRecord,
    part: usize,
    total: usize,
    count: usize,
    what: &str,
) -> EventRecord {
    EventRecord {
        id: format!("{}-p{part}", base.id),
        message: format!(
            "Part {part} of {total} of this request: {what} {count} membership items. The request: {}",
            base.message
        ),
        ..base.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::Outcome;
    use crate::directory::testkit::ctx;

    fn member(group: &str, user: usize) -> Record {
        Record::Member {
            directory_id: "d".into(),
            group_id: group.into(),
            user_id: format!("u{user}"),
        }
    }

    fn events_of(part: &[Write]) -> Vec<&EventRecord> {
        part.iter()
            .filter_map(|w| match w {
                Write::Put(Record::Event(e), _) => Some(e),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_plan_that_fits_is_one_transaction_and_an_empty_one_none() {
        assert!(Plan::default().transactions().is_empty());
        let mut plan = Plan::default();
        plan.event(ctx().event(Outcome::Updated, "x".into()));
        // 98 writes and the event: 99 actions, and one left for the change item (E5).
        for i in 0..98 {
            plan.put(member("g", i), Condition::Always);
        }
        let parts = plan.transactions();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].len(), MAX_PART_ACTIONS);
        plan.put(member("g", 98), Condition::Always);
        assert!(plan.transactions().len() > 1);
    }

    /// E1 and the split order: removals, the core, additions, clean-ups; each part at most
    /// 100 actions and logged; every write of the plan in exactly one part.
    #[test]
    fn e1_a_split_plan_is_ordered_parts_each_with_its_own_event() {
        let mut plan = Plan::default();
        for i in 0..150 {
            plan.delete(member("g", i), Condition::Always);
        }
        plan.writes.push(Write::TouchGroup {
            directory_id: "d".into(),
            group_id: "g".into(),
            last_modified: "t".into(),
        });
        plan.event(ctx().event(
            Outcome::Updated,
            "Group 'g': 150 removed, 120 added.".into(),
        ));
        for i in 0..120 {
            plan.put(member("g", 1000 + i), Condition::Always);
        }
        plan.after = (0..5)
            .map(|i| {
                Write::Delete(
                    Record::OrgMember {
                        org_id: "o".into(),
                        org_group_id: "og".into(),
                        account_id: format!("a{i}"),
                    },
                    Condition::Always,
                )
            })
            .collect();
        let parts = plan.transactions();
        // 150 removals: 2 parts (97 a part beside the event, the version bump and the change item); core: 1;
        // 120 additions: 2 parts; 5 clean-ups: 1 part.
        assert_eq!(parts.len(), 6);
        assert!(parts.iter().all(|p| p.len() <= MAX_PART_ACTIONS));
        for (i, part) in parts.iter().enumerate() {
            let events = events_of(part);
            assert_eq!(events.len(), 1, "part {i} is logged once");
        }
        let kinds: Vec<&str> = parts
            .iter()
            .map(|p| match &p[0] {
                Write::Delete(Record::Member { .. }, _) => "removals",
                Write::Put(Record::Member { .. }, _) => "additions",
                Write::Delete(Record::OrgMember { .. }, _) => "clean-ups",
                _ => "core",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "removals",
                "removals",
                "core",
                "additions",
                "additions",
                "clean-ups"
            ]
        );
        let part_ids: std::collections::BTreeSet<&str> = parts
            .iter()
            .flat_map(|p| events_of(p))
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(part_ids.len(), 6, "every part's event has an id of its own");
        let first = events_of(&parts[0])[0];
        assert!(
            first.message.starts_with("Part 1 of 6"),
            "{}",
            first.message
        );
        assert!(first.message.contains("removed 97 membership items"));
        let touches = |p: &Vec<Write>| {
            p.iter()
                .filter(|w| matches!(w, Write::TouchGroup { .. }))
                .count()
        };
        assert_eq!(
            parts.iter().map(touches).collect::<Vec<_>>(),
            [1, 1, 1, 1, 1, 0],
            "every part that changes the group's members bumps its version"
        );
        let others = |p: &Vec<Write>| {
            p.iter()
                .filter(|w| {
                    !matches!(
                        w,
                        Write::Put(Record::Event(_), _) | Write::TouchGroup { .. }
                    )
                })
                .count()
        };
        let written: usize = parts.iter().map(others).sum();
        assert_eq!(
            written,
            150 + 120 + 5,
            "every membership write in exactly one part"
        );
    }
}
