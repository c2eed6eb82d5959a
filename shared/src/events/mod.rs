//! Events (E5): what took effect, told to the org's products as signed Security Event
//! Tokens (RFC 8417) in RFC 9967's SCIM profile, by push (RFC 8935) or poll (RFC 8936).
//!
//! How an event travels:
//!
//! 1. A write's plan puts a `ChangeRecord` item (`type = change`) in the same transaction
//!    as the change (`directory::changes` derives them); a no-op writes none.
//! 2. The table's DynamoDB Stream feeds the `events` function through an event source
//!    mapping that keeps only those inserts. For every subscription of the org that wants
//!    the event, the function puts a delivery item in the subscription's queue
//!    (`store::subscriptions`), keyed by the event's order, so a stream batch delivered
//!    twice enqueues nothing twice.
//! 3. A push subscription's queue is drained in order by whoever holds its lease: each SET
//!    is POSTed, and removed from the queue when the receiver accepts it. A poll
//!    subscription's queue is read by its receiver and emptied by its acknowledgements.
//!
//! Nothing leaves a queue until its receiver has it, so delivery is at least once; the
//! `jti` lets a receiver drop duplicates.

pub mod cleanup;
pub mod dead_letter;
pub mod key;
pub mod outbound;
pub mod pump;
pub mod push;
pub mod set;
pub mod stream;
pub mod subscription;
pub mod target;
pub mod types;
