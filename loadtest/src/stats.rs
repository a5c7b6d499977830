//! Per-worker statistics: one HdrHistogram (microseconds) and counters per endpoint,
//! merged once at the end, so the hot path shares nothing but two progress counters.

use std::collections::HashMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::http::{Outcome, Transport};

/// The endpoint a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /client/live/room/heartbeat/{id}`.
    Heartbeat = 0,
    /// `POST /client/live/room/user/{id}`.
    Join = 1,
    /// `DELETE /client/live/room/user/{id}`.
    Leave = 2,
    /// `GET /livez`.
    Livez = 3,
    /// Setup and clean-up requests (never recorded).
    Setup = 4,
}

const OPS: usize = 5;

impl Op {
    /// Every recorded endpoint, in report order.
    pub const ALL: [Op; 4] = [Op::Heartbeat, Op::Join, Op::Leave, Op::Livez];

    /// Report name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Heartbeat => "heartbeat",
            Op::Join => "join",
            Op::Leave => "leave",
            Op::Livez => "livez",
            Op::Setup => "setup",
        }
    }
}

/// Latency is tracked from 1 µs to 60 s with 3 significant digits; longer is clamped.
const MAX_MICROS: u64 = 60_000_000;

/// One endpoint's figures.
pub struct OpStats {
    /// Latency of every answered request (success or error), µs.
    pub latency: Histogram<u64>,
    /// Requests finished: answered or failed.
    pub requests: u64,
    /// Answered 200 with code 0.
    pub ok: u64,
    /// Other answers by (HTTP status, envelope code).
    pub errors: HashMap<(u16, Option<i64>), u64>,
    /// Requests with no answer, by [`Transport`] kind.
    pub transport: [u64; 3],
}

impl OpStats {
    fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid bounds"),
            requests: 0,
            ok: 0,
            errors: HashMap::new(),
            transport: [0; 3],
        }
    }

    fn record(&mut self, outcome: &Outcome, latency: Duration) {
        self.requests += 1;
        match outcome {
            Outcome::Answered { status, code, .. } => {
                let micros = u64::try_from(latency.as_micros()).unwrap_or(MAX_MICROS);
                self.latency.saturating_record(micros.clamp(1, MAX_MICROS));
                if outcome.is_ok() {
                    self.ok += 1;
                } else {
                    *self.errors.entry((*status, *code)).or_default() += 1;
                }
            }
            Outcome::Failed(kind) => self.transport[*kind as usize] += 1,
        }
    }

    fn merge(&mut self, other: &OpStats) {
        self.latency
            .add(&other.latency)
            .expect("histograms have equal bounds");
        self.requests += other.requests;
        self.ok += other.ok;
        for (key, n) in &other.errors {
            *self.errors.entry(*key).or_default() += n;
        }
        for kind in Transport::ALL {
            self.transport[kind as usize] += other.transport[kind as usize];
        }
    }
}

/// Figures per endpoint; an endpoint's histogram is allocated on its first request.
#[derive(Default)]
pub struct Stats {
    ops: [Option<Box<OpStats>>; OPS],
}

impl Stats {
    /// Records one finished request.
    pub fn record(&mut self, op: Op, outcome: &Outcome, latency: Duration) {
        self.ops[op as usize]
            .get_or_insert_with(|| Box::new(OpStats::new()))
            .record(outcome, latency);
    }

    /// Adds `other`'s figures to these.
    pub fn merge(&mut self, other: Stats) {
        for (mine, theirs) in self.ops.iter_mut().zip(other.ops) {
            match (mine.as_mut(), theirs) {
                (Some(m), Some(t)) => m.merge(&t),
                (None, Some(t)) => *mine = Some(t),
                (_, None) => {}
            }
        }
    }

    /// One endpoint's figures, if it had requests.
    pub fn op(&self, op: Op) -> Option<&OpStats> {
        self.ops[op as usize].as_deref()
    }

    /// All endpoints together.
    pub fn total(&self) -> OpStats {
        let mut total = OpStats::new();
        for op in self.ops.iter().flatten() {
            total.merge(op);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn records_and_merges() {
        let ok = Outcome::Answered {
            status: 200,
            code: Some(0),
            body: Bytes::new(),
        };
        let gone = Outcome::Answered {
            status: 404,
            code: Some(40401),
            body: Bytes::new(),
        };
        let mut a = Stats::default();
        a.record(Op::Heartbeat, &ok, Duration::from_millis(2));
        a.record(Op::Heartbeat, &gone, Duration::from_millis(1));
        let mut b = Stats::default();
        b.record(Op::Join, &ok, Duration::from_millis(4));
        b.record(
            Op::Join,
            &Outcome::Failed(Transport::Timeout),
            Duration::ZERO,
        );
        a.merge(b);
        let t = a.total();
        assert_eq!((t.requests, t.ok), (4, 2));
        assert_eq!(t.errors[&(404, Some(40401))], 1);
        assert_eq!(t.transport[Transport::Timeout as usize], 1);
        assert_eq!(t.latency.len(), 3);
        assert_eq!(a.op(Op::Join).unwrap().requests, 2);
        assert!(a.op(Op::Leave).is_none());
    }
}
