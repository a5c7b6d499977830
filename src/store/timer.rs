//! The store's instrumentation: every Redis call timed by [`super::Op::send`]. The
//! metrics are described with the others in `src/metrics.rs`; this file only records
//! them, so the store depends on the `metrics` crate, not on the HTTP layer.

use std::time::Instant;

/// Records one Redis call (a script or a plain command): duration, error, and
/// in flight until finished or dropped.
/// `command` is the script's name (e.g. `heartbeat`, `room_add_member`) or the
/// command's (e.g. `HGET`); `operation` the store operation and its strategy that
/// sent it (e.g. `heartbeat`, `join.single`, `join.cluster`, `sweep`), so the extra
/// round trips of a Cluster join show apart from the single-Redis one.
pub(crate) struct RedisTimer {
    command: &'static str,
    operation: &'static str,
    started: Instant,
}

impl RedisTimer {
    /// Starts timing `command` sent by `operation`.
    pub(crate) fn start(command: &'static str, operation: &'static str) -> Self {
        metrics::gauge!("liveroom_redis_commands_in_flight").increment(1.0);
        Self {
            command,
            operation,
            started: Instant::now(),
        }
    }

    /// Stops timing; `failed` counts an error.
    pub(crate) fn finish(self, failed: bool) {
        let labels = [("command", self.command), ("operation", self.operation)];
        metrics::histogram!("liveroom_redis_command_duration_seconds", &labels)
            .record(self.started.elapsed().as_secs_f64());
        if failed {
            metrics::counter!("liveroom_redis_command_errors_total", &labels).increment(1);
        }
    }
}

impl Drop for RedisTimer {
    /// Out of flight when finished or dropped (a request dropped mid-call).
    fn drop(&mut self) {
        metrics::gauge!("liveroom_redis_commands_in_flight").decrement(1.0);
    }
}
