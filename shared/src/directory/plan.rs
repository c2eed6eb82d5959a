//! A `Plan` is everything one write will do: item writes with their conditions, and the
//! events that report them. Plans are pure data; `store::apply` runs one as a single
//! DynamoDB transaction, so the log is written with the change it reports (E1).

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

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub writes: Vec<Write>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
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
            Write::Put(Record::Member { .. }, _) | Write::Delete(Record::Member { .. }, _)
        )
    }

    pub fn events(&self) -> impl Iterator<Item = &EventRecord> {
        self.writes.iter().filter_map(|w| match w {
            Write::Put(Record::Event(e), _) => Some(e),
            _ => None,
        })
    }
}
