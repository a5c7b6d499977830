//! Prometheus metrics (metrics + metrics-exporter-prometheus), served at
//! `GET /metrics`. Names follow docs/STYLE.md: prefix `liveroom_`, counters end in
//! `_total`, durations are `_seconds` histograms; labels are route template, method,
//! status, Redis command or script name and store operation, never a raw path, a room
//! id or a user id.
//!
//! | metric | type | labels |
//! |--------|------|--------|
//! | `liveroom_http_requests_total` | counter | route, method, status |
//! | `liveroom_http_request_duration_seconds` | histogram | route, method |
//! | `liveroom_http_requests_in_flight` | gauge | |
//! | `liveroom_redis_command_duration_seconds` | histogram | command, operation |
//! | `liveroom_redis_command_errors_total` | counter | command, operation |
//! | `liveroom_redis_commands_in_flight` | gauge | |
//! | `liveroom_reaper_leader` | gauge (0/1) | |
//! | `liveroom_reaper_sweep_duration_seconds` | histogram | |
//! | `liveroom_reaper_members_expired_total` | counter | |
//! | `liveroom_reaper_anchors_offline_total` | counter | |
//! | `liveroom_reaper_rooms_ended_total` | counter | |
//! | `liveroom_live_rooms` | gauge (leader samples) | |
//! | `liveroom_present_members` | gauge (leader samples) | |

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets of every `_seconds` metric, in seconds (0.1 ms … 10 s).
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once (later calls reuse it) and
/// starts its upkeep thread. `None` when another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            let upkeep = handle.clone();
            // Drains histogram buffers even when nobody scrapes, so memory stays flat.
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "liveroom_http_requests_total",
        "HTTP requests by route template, method and status"
    );
    describe_histogram!(
        "liveroom_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency"
    );
    describe_gauge!(
        "liveroom_http_requests_in_flight",
        "HTTP requests being served"
    );
    describe_histogram!(
        "liveroom_redis_command_duration_seconds",
        Unit::Seconds,
        "Redis round trip by command (script or command name) and store operation"
    );
    describe_counter!(
        "liveroom_redis_command_errors_total",
        "Redis calls that failed (timeout, connection, error) by command and store operation"
    );
    describe_gauge!(
        "liveroom_redis_commands_in_flight",
        "Redis calls waiting for a reply on the shared connection"
    );
    describe_gauge!(
        "liveroom_reaper_leader",
        "1 when this replica holds the reaper lease"
    );
    describe_histogram!(
        "liveroom_reaper_sweep_duration_seconds",
        Unit::Seconds,
        "Duration of one full sweep"
    );
    describe_counter!(
        "liveroom_reaper_members_expired_total",
        "Members removed for a timed-out heartbeat"
    );
    describe_counter!(
        "liveroom_reaper_anchors_offline_total",
        "Anchors newly marked offline"
    );
    describe_counter!(
        "liveroom_reaper_rooms_ended_total",
        "Live rooms ended because the anchor stayed absent"
    );
    describe_gauge!(
        "liveroom_live_rooms",
        "Live rooms (sampled by the reaper leader)"
    );
    describe_gauge!(
        "liveroom_present_members",
        "Members present in active rooms (sampled by the reaper leader)"
    );
}

/// `GET /metrics`: the Prometheus text exposition.
pub async fn render() -> Response {
    match install() {
        Some(handle) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            handle.render(),
        )
            .into_response(),
        None => {
            crate::error::ApiError::Internal("metrics recorder unavailable".into()).into_response()
        }
    }
}

/// Middleware: counts requests by route template, method and status, times them, and
/// tracks the number in flight.
pub async fn track_http(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let in_flight = metrics::gauge!("liveroom_http_requests_in_flight");
    in_flight.increment(1.0);
    let started = Instant::now();
    let response = next.run(request).await;
    in_flight.decrement(1.0);
    let status = response.status().as_u16().to_string();
    metrics::histogram!("liveroom_http_request_duration_seconds", "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("liveroom_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}

/// Records one Redis call (a script or a plain command): duration, error, and
/// in flight until finished or dropped.
/// `command` is the script's name (e.g. `heartbeat`, `room_add_member`) or the
/// command's (e.g. `HGET`); `operation` the store operation and its strategy that
/// sent it (e.g. `heartbeat`, `join.single`, `join.cluster`, `sweep`), so the extra
/// round trips of a Cluster join show apart from the single-Redis one.
pub struct RedisTimer {
    command: &'static str,
    operation: &'static str,
    started: Instant,
}

impl RedisTimer {
    /// Starts timing `command` sent by `operation`.
    pub fn start(command: &'static str, operation: &'static str) -> Self {
        metrics::gauge!("liveroom_redis_commands_in_flight").increment(1.0);
        Self {
            command,
            operation,
            started: Instant::now(),
        }
    }

    /// Stops timing; `failed` counts an error.
    pub fn finish(self, failed: bool) {
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
