//! A `Plan` is everything one write will do: item writes with their conditions, and the
//! events that report them. Plans are pure data; `store::apply` runs one as a single
//! DynamoDB transaction, so the log is written with the change it reports (E1).

use crate::scim::error::ScimError;

use super::model::{
    AccountRecord, ConflictRecord, DirectoryRecord, EventRecord, GroupRecord, Guard,
    OrgGroupRecord, OrgRecord, TokenRecord, UserRecord,
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
}

/// Everything one write does. When it fits one transaction (100 actions), all of it commits
/// at once. When it does not, `store::apply` splits it into parts, each idempotent, in an
/// order that leaves a state the next attempt completes if a crash falls between two:
///
/// 1. membership removals (`Member`, `OrgMember` deletes of `writes`), in batches: a removed
///    member of a group or user that still exists is what the request asked for anyway;
/// 2. the rest of `writes`, in one transaction with its conditions: the change and its log;
/// 3. membership additions (`Member`, `OrgMember` puts of `writes`), in batches: after the
///    group and user they name exist, so no membership ever names a missing record;
/// 4. `after`: clean-ups of items that stopped counting when part 2 committed (the admin
///    membership of a group a sync handed to a directory). A crash before them leaves items
///    nothing reads; the next write that hands the group back removes them first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub writes: Vec<Write>,
    /// Idempotent clean-ups applied after everything else (part 4 above).
    pub after: Vec<Write>,
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
    pub plan: Plan,
}

impl From<ScimError> for Refusal {
    fn from(error: ScimError) -> Self {
        Refusal {
            error,
            plan: Plan::default(),
        }
    }
}
