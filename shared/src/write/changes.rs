//! E5: a plan's change events, added to each transaction it is applied in.
//!
//! The write service reads what the access events need (`Store::access_world`, nothing
//! when the plan touches no access), then `directory::changes` derives each transaction's
//! events, and they go in one change item of that transaction.

use crate::directory::changes::{access_needs, transaction_changes, AccessWorld, EventSource};
use crate::directory::model::ChangeBatch;
use crate::directory::plan::{Condition, Plan, Record, Write};
use crate::store::{Store, StoreError};

/// What a plan's access events (and the safeguard, E4) are computed over: read before the
/// apply, only what the plan's access needs (nothing when it touches no access), and
/// seeded with the records the plan loaded.
pub async fn access_world_of(store: &Store, plan: &Plan) -> Result<AccessWorld, StoreError> {
    let Some(org_id) = plan.events().next().map(|e| e.org_id.clone()) else {
        return Ok(AccessWorld::default());
    };
    let mut needs = access_needs(&plan.writes, &plan.after, &plan.before);
    needs.accounts.extend(plan.observed.iter().cloned());
    let all: Vec<Write> = plan.writes.iter().chain(&plan.after).cloned().collect();
    let mut world = store
        .access_world(&org_id, &needs, &all, &plan.before)
        .await?;
    seed_with_before(&mut world, &plan.before);
    Ok(world)
}

/// The transactions that apply `plan`, each with its change item when it has events,
/// derived over `world` ([`access_world_of`] the plan).
pub fn transactions_with_changes(plan: &Plan, mut world: AccessWorld) -> Vec<Vec<Write>> {
    let mut parts = plan.transactions();
    for part in &mut parts {
        let Some(log) = part.iter().find_map(|w| match w {
            Write::Put(Record::Event(e), _) => Some(e.clone()),
            _ => None,
        }) else {
            continue;
        };
        let mut next_id = || uuid::Uuid::new_v4().simple().to_string();
        let events = transaction_changes(
            part,
            &plan.before,
            &mut world,
            EventSource {
                log: &log,
                next_id: &mut next_id,
            },
        );
        if !events.is_empty() {
            part.push(Write::Put(
                Record::Changes(ChangeBatch { events }),
                Condition::Always,
            ));
        }
    }
    parts
}

/// The records a plan replaces are what is stored now: they take precedence over the
/// (possibly eventually consistent) reads of the world.
fn seed_with_before(world: &mut AccessWorld, before: &[Record]) {
    for r in before {
        match r {
            Record::Account(a) => {
                world.accounts.insert(a.id.clone(), a.clone());
            }
            Record::Group(g) => {
                world
                    .groups
                    .insert((g.directory_id.clone(), g.id.clone()), g.clone());
            }
            Record::OrgGroup(og) => {
                world.org_groups.insert(og.id.clone(), og.clone());
            }
            _ => {}
        }
    }
}
