//! S7 "A refused request changes nothing", under faults the write service cannot retry away.
//!
//! The scripted session (session.rs) runs step by step in one fresh org. Before each step,
//! for every write attempt of that step in the clean reference run (TransactWriteItems,
//! BatchWriteItem: a fault on an earlier read fails the request before anything is written),
//! the tenant's items are snapshotted, every DynamoDB call from that attempt on fails, the
//! request is sent once, and the tenant's items are snapshotted again: they must be
//! identical, and the answer must be 429 (throttling) or 503 (anything else) with
//! `Retry-After`, never 500. Then the snapshot is restored exactly and the next attempt (or,
//! finally, the step itself without faults) runs.
//!
//! A plan too big for one transaction (a membership change past 100 items) is applied in
//! parts, each a transaction with its own log event (`Plan::transactions`); a fault on a
//! later part cannot undo the parts before it. There the test asserts what the design
//! promises instead: exactly the parts that committed changed the table, each with its
//! event (E1), no invariant broke, and the IdP's retry of the same request completes it to
//! the very state the step reaches without faults.
//!
//! A timeout is different: the request was sent, so the write may have happened, and the
//! service cannot tell; an unchanged table cannot be asserted. For timeouts the test asserts
//! the answer (503 with `Retry-After`) and that the table, changed or not, breaks no
//! invariant (no half-applied write), and reports what changed.

use scimlink::directory::plan::MAX_TRANSACTION_ACTIONS;

use crate::faults::{is_write, Fault, Injection, Mode};
use crate::invariants::{check, diff, Items};
use crate::session::{reference, report, state_diff, Session, World, IDP_TRIES, STEPS};

async fn refused(fault: Fault, sdk_retries: bool) -> Vec<String> {
    let r = reference().await;
    let w = World::new(sdk_retries).await;
    let mut s = Session::new(&w);
    let mut problems = Vec::new();
    let mut start = 0;
    for k in 0..STEPS {
        let ops = &r.ops[start..start + r.per_step[k]];
        start += r.per_step[k];
        let writes: Vec<usize> = (1..=ops.len()).filter(|p| is_write(&ops[p - 1])).collect();
        for at in writes {
            let before = w.items().await;
            s.tries = 1;
            s.failed.clear();
            w.faults.arm(Some(Injection {
                fault,
                at,
                mode: Mode::FromOn,
            }));
            let ok = Box::pin(s.run_step(k)).await;
            let injected = w.faults.injected();
            w.faults.disarm();
            let Some(first) = injected.first() else {
                continue;
            };
            let label = s.failed.first().map(|f| f.label).unwrap_or("?");
            let ctx = format!(
                "step {k} '{label}', {fault:?} from its call {} ({}) on, sdk retries {sdk_retries}",
                first.n, first.op
            );
            let parts_before = ops[..at - 1]
                .iter()
                .filter(|op| op.as_str() == "TransactWriteItems")
                .count();
            let split = ops
                .iter()
                .filter(|op| op.as_str() == "TransactWriteItems")
                .count()
                > 1;
            // A split plan whose membership parts all committed before the fault is done:
            // the service's next attempt finds nothing left to write (L4) and answers success.
            if ok && !(split && parts_before > 0) {
                problems.push(format!(
                    "{ctx}: answered success although its calls from {} on failed",
                    first.n
                ));
            }
            for f in &s.failed {
                if f.status != fault.expected_status() || f.retry_after.is_none() {
                    problems.push(format!(
                        "{ctx}: answered {} (Retry-After {:?}), want {} with Retry-After: {}",
                        f.status,
                        f.retry_after,
                        fault.expected_status(),
                        f.detail
                    ));
                }
            }
            let after = w.items().await;
            let changed = diff(&before, &after);
            // Parts of a split plan that committed before the fault (the step's transactions
            // before the one that failed) stay: see the module's documentation.
            if split && parts_before > 0 && fault != Fault::Timeout {
                problems.extend(
                    Box::pin(partial_parts(&w, &mut s, k, &before, &after, parts_before))
                        .await
                        .into_iter()
                        .map(|p| format!("{ctx}: {p}")),
                );
                w.restore(&before).await;
            } else if !changed.is_empty() {
                let shown: Vec<&String> = changed.iter().take(8).collect();
                if fault == Fault::Timeout {
                    for v in check(w.org_id(), &after) {
                        problems.push(format!("{ctx}: invariant after the failed request: {v}"));
                    }
                    eprintln!(
                        "{ctx}: the timed-out write went through ({} items differ)",
                        changed.len()
                    );
                } else {
                    problems.push(format!(
                        "{ctx}: the table changed ({} items): {shown:?}",
                        changed.len()
                    ));
                }
                w.restore(&before).await;
            }
        }
        s.tries = IDP_TRIES;
        s.failed.clear();
        assert!(
            Box::pin(s.run_step(k)).await,
            "step {k} without faults: {:?}",
            s.failed
        );
    }
    w.delete().await;
    problems
}

/// A split plan stopped after `parts` committed parts: the table changed by exactly those
/// parts, each logged; the invariants hold; the IdP's retry completes the step to the state
/// the step reaches without faults. Leaves the table as the retry left it.
async fn partial_parts(
    w: &World,
    s: &mut Session<'_>,
    k: usize,
    before: &Items,
    after: &Items,
    parts: usize,
) -> Vec<String> {
    let mut problems = Vec::new();
    let changed = diff(before, after);
    let events = changed
        .iter()
        .filter(|c| c.starts_with("+ ") && c.ends_with("(event)"))
        .count();
    if events != parts {
        problems.push(format!(
            "{parts} parts committed but {events} log events were added (E1): {:?}",
            changed.iter().take(8).collect::<Vec<_>>()
        ));
    }
    if changed.len() > parts * MAX_TRANSACTION_ACTIONS {
        problems.push(format!(
            "{} items changed, more than {parts} transactions can write",
            changed.len()
        ));
    }
    for v in check(w.org_id(), after) {
        problems.push(format!("invariant after the failed part: {v}"));
    }
    // The IdP retries the same request: it completes what the first attempt began.
    s.tries = IDP_TRIES;
    s.failed.clear();
    if !Box::pin(s.run_step(k)).await {
        problems.push(format!("the retry failed: {:?}", s.failed));
        return problems;
    }
    let retried = w.state().await;
    w.restore(before).await;
    s.failed.clear();
    if !Box::pin(s.run_step(k)).await {
        problems.push(format!("the clean step failed: {:?}", s.failed));
        return problems;
    }
    let clean = w.state().await;
    for d in state_diff(&clean, &retried) {
        problems.push(format!(
            "the retry ended elsewhere than the clean step: {d}"
        ));
    }
    problems
}

macro_rules! refused_test {
    ($name:ident, $fault:expr, $retries:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            report(stringify!($name), refused($fault, $retries).await);
        }
    };
}

// S7: throttling that outlasts the SDK's and the service's retries is 429; nothing changed.
refused_test!(
    s7_refused_on_throttling_changes_nothing_sdk_retries_off,
    Fault::Throttling,
    false
);
refused_test!(
    s7_refused_on_throttling_changes_nothing_sdk_retries_on,
    Fault::Throttling,
    true
);
// S7: conditions that keep failing are lost races exhausted: 503; nothing changed. (The SDK
// never retries these, so retries on would run the same requests.)
refused_test!(
    s7_refused_on_condition_failures_changes_nothing,
    Fault::ConditionFailed,
    false
);
refused_test!(
    s7_refused_on_transaction_conflicts_changes_nothing,
    Fault::TransactionConflict,
    false
);
// S7: a store that keeps answering 500 is a transient fault: 503; nothing changed.
refused_test!(
    s7_refused_on_internal_errors_changes_nothing_sdk_retries_off,
    Fault::InternalError,
    false
);
refused_test!(
    s7_refused_on_internal_errors_changes_nothing_sdk_retries_on,
    Fault::InternalError,
    true
);
// S7/E1: timeouts answer 503 and leave no half-applied write.
refused_test!(
    s7_timeouts_answer_503_and_leave_no_partial_write,
    Fault::Timeout,
    false
);
