//! What each request costs a customer: DynamoDB requests sent, capacity consumed, and the
//! sequential round trips a request waits for (its latency floor on AWS).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::ConsumedCapacity;

#[derive(Debug, Default)]
pub struct Metrics {
    requests: AtomicU64,
    /// Requests on the wire now; a round trip starts when this goes from 0 to 1, so
    /// requests sent side by side (`join`) count as one round trip.
    in_flight: AtomicU64,
    round_trips: AtomicU64,
    /// Thousandths of a capacity unit, so that atomics can add them.
    read_milli_units: AtomicU64,
    write_milli_units: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MetricsSnapshot {
    pub requests: u64,
    /// Sequential DynamoDB round trips: requests that waited for no other.
    pub round_trips: u64,
    pub read_units: f64,
    pub write_units: f64,
}

impl std::ops::Sub for MetricsSnapshot {
    type Output = MetricsSnapshot;
    fn sub(self, o: Self) -> Self {
        MetricsSnapshot {
            requests: self.requests - o.requests,
            round_trips: self.round_trips - o.round_trips,
            read_units: self.read_units - o.read_units,
            write_units: self.write_units - o.write_units,
        }
    }
}

impl Metrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            round_trips: self.round_trips.load(Ordering::Relaxed),
            read_units: self.read_milli_units.load(Ordering::Relaxed) as f64 / 1000.0,
            write_units: self.write_milli_units.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }

    pub(crate) fn add_capacity<'a>(
        &self,
        consumed: impl IntoIterator<Item = &'a ConsumedCapacity>,
    ) {
        for c in consumed {
            let (read, write) = match (c.read_capacity_units(), c.write_capacity_units()) {
                (None, None) => (0.0, 0.0),
                (r, w) => (r.unwrap_or(0.0), w.unwrap_or(0.0)),
            };
            // Some responses carry only the total; attribute it by operation kind upstream.
            let (read, write) = if read == 0.0 && write == 0.0 {
                (0.0, c.capacity_units().unwrap_or(0.0))
            } else {
                (read, write)
            };
            self.read_milli_units
                .fetch_add((read * 1000.0).round() as u64, Ordering::Relaxed);
            self.write_milli_units
                .fetch_add((write * 1000.0).round() as u64, Ordering::Relaxed);
        }
    }

    pub(crate) fn add_read_capacity<'a>(
        &self,
        consumed: impl IntoIterator<Item = &'a ConsumedCapacity>,
    ) {
        for c in consumed {
            let units = c
                .read_capacity_units()
                .or(c.capacity_units())
                .unwrap_or(0.0);
            self.read_milli_units
                .fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
        }
    }
}

/// Counts every HTTP attempt the SDK transmits, retries included, and the round trips they
/// make: an attempt that starts while none is on the wire starts a round trip.
#[derive(Debug)]
pub(crate) struct CountRequests(pub Arc<Metrics>);

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "scimlink::CountRequests"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if self.0.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            self.0.round_trips.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    // Every attempt that started ends here, whether it succeeded or not.
    fn read_after_attempt(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        Ok(())
    }
}
