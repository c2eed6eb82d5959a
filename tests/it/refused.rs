//! S7 "A refused request changes nothing", under faults the write service cannot retry away.
//!
//! The scripted session (session.rs) runs step by step in one fresh org. Before each step,
//! for every write attempt of that step in the clean reference run (TransactWriteItems,
//! BatchWriteItem: a fault on an earlier read fails the request before anything is written),
//! the tenant's items are snapshotted, every DynamoDB call from that attempt on fails, the
//! request is sent once, and the tenant's items are snapshotted again: they must be
//! identical, and the answer must be 429 (throttling) or 503 (anything else) with
//! `Retry-After`, never 500. Then the snapshot is restored exactly and the next attempt (or,
//! finally, the step itself without faults) runs. Writes that fail in the middle, such as a
//! plan split into batches around its transaction, are reported with what differs.
//!
//! A timeout is different: the request was sent, so the write may have happened, and the
//! service cannot tell; an unchanged table cannot be asserted. For timeouts the test asserts
//! the answer (503 with `Retry-After`) and that the table, changed or not, breaks no
//! invariant (no half-applied write), and reports what changed.

use crate::faults::{is_write, Fault, Injection, Mode};
use crate::invariants::{check, diff};
use crate::session::{reference, Session, World, IDP_TRIES, STEPS};

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
            if ok {
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
            if !changed.is_empty() {
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

fn report(name: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{name}: {} problems:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
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
