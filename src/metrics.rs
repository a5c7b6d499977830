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
//! | `liveroom_reaper_partitions_held` | gauge (0-16) | |
//! | `liveroom_reaper_sweep_duration_seconds` | histogram (one partition's sweep) | |
//! | `liveroom_reaper_rooms_visited_total` | counter | |
//! | `liveroom_reaper_members_expired_total` | counter | |
//! | `liveroom_reaper_anchors_offline_total` | counter | |
//! | `liveroom_reaper_rooms_ended_total` | counter | |
//! | `liveroom_live_rooms` | gauge (every replica samples) | |
//! | `liveroom_present_members` | gauge (this replica's partitions: sum over replicas) | |
//! | `liveroom_sse_subscribers` | gauge | |
//! | `liveroom_sse_rooms` | gauge | |
//! | `liveroom_sse_polls_total` | counter | |
//! | `liveroom_webhook_deliveries_total` | counter | outcome (`delivered`, `failed`) |
//! | `liveroom_webhook_delivery_duration_seconds` | histogram | |
//! | `liveroom_webhook_dead_letters_total` | counter | |
//! | `liveroom_webhook_events_trimmed_total` | counter (one per gap found) | |
//! | `liveroom_webhook_rooms_due` | gauge (sampled, this replica's shards) | |
//! | `liveroom_webhook_shards_held` | gauge | |
//! | `liveroom_media_publish_accepted_total` | counter | call (`publish`, `renew`) |
//! | `liveroom_media_publish_refused_total` | counter | reason (SPEC §12) |
//! | `liveroom_media_streams_stopped_total` | counter | |

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
            crate::media::describe_metrics();
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
        "liveroom_reaper_partitions_held",
        "Reaper partitions (of 16) whose lease this replica holds"
    );
    describe_histogram!(
        "liveroom_reaper_sweep_duration_seconds",
        Unit::Seconds,
        "Duration of one sweep of one partition's due rooms"
    );
    describe_counter!(
        "liveroom_reaper_rooms_visited_total",
        "Rooms the reaper visited (due in the deadline index)"
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
        "Live rooms (sampled by every replica each reaper interval)"
    );
    describe_gauge!(
        "liveroom_present_members",
        "Members in the rooms of this replica's reaper partitions at their last visit (sum over replicas)"
    );
    describe_gauge!(
        "liveroom_sse_subscribers",
        "Open client event streams (SSE) on this replica"
    );
    describe_gauge!(
        "liveroom_sse_rooms",
        "Rooms this replica polls for its event streams (one poll task each)"
    );
    describe_counter!(
        "liveroom_sse_polls_total",
        "Reads of room event streams by this replica's event hub (one per room per poll, however many subscribers)"
    );
    describe_counter!(
        "liveroom_webhook_deliveries_total",
        "Webhook delivery attempts by outcome: delivered (2xx) or failed (other status, timeout, connection error)"
    );
    describe_histogram!(
        "liveroom_webhook_delivery_duration_seconds",
        Unit::Seconds,
        "Duration of one webhook delivery attempt"
    );
    describe_counter!(
        "liveroom_webhook_dead_letters_total",
        "Webhook events moved to the dead-letter stream after LIVEROOM_WEBHOOK_MAX_AGE"
    );
    describe_counter!(
        "liveroom_webhook_events_trimmed_total",
        "Times a receiver's undelivered webhook events were found trimmed from a room's stream (each is one or more events lost to the backlog bound)"
    );
    describe_gauge!(
        "liveroom_webhook_rooms_due",
        "Rooms with possibly undelivered webhook events in the shards this replica delivers (sampled)"
    );
    describe_gauge!(
        "liveroom_webhook_shards_held",
        "Webhook shards (of 16) this replica delivers"
    );
}

/// `GET /metrics`: the Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "meta",
    summary = "Prometheus metrics",
    description = "The replica's metrics in the Prometheus text exposition format (not wrapped in the envelope): HTTP requests by route template, method and status, latencies, Redis command durations and errors (each script and command), reaper activity, live rooms and present members. Labels never carry a room or user id.\n\nErrors: 500: 50000: the metrics recorder is unavailable.",
    security(()),
    responses((
        status = 200,
        description = "Metrics in the Prometheus text exposition format.",
        body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8",
    )),
)]
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
/// tracks the number in flight. The in-flight count is held by a [`GaugeGuard`], so a
/// request whose future is dropped before it answers (the client went away, or the
/// shutdown deadline passed) leaves the gauge too; such a request is not counted in
/// `liveroom_http_requests_total` (it has no status).
///
/// The metric handles are looked up once per worker thread and (route, method, status)
/// and reused ([`HttpHandles`]), so a request allocates no label strings and makes no
/// registry lookup; the names and labels are those of the table above.
pub async fn track_http(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    tracked(route, &method, next.run(request)).await
}

/// What [`track_http`] does around `inner`, the answer to a request to `route`
/// (template, or `unmatched`) with `method`: the same metrics, for a middleware that
/// does more than this one ([`crate::request_id::middleware_with_metrics`]).
pub async fn tracked(
    route: &str,
    method: &axum::http::Method,
    inner: impl std::future::Future<Output = Response>,
) -> Response {
    let in_flight = GaugeGuard::increment(HttpHandles::in_flight());
    let started = Instant::now();
    let response = inner.await;
    drop(in_flight);
    HttpHandles::record(
        route,
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The `route` label of a request that matched no route.
const UNMATCHED: &str = "unmatched";

/// The handles of the HTTP metrics, cached per worker thread: a request finds its
/// histogram and counter by (route template, method, status) with one hash of the
/// template and no allocation, where `metrics::counter!` with owned labels allocated
/// three label strings and hashed a whole key in the registry for each metric.
///
/// A handle belongs to the recorder current when it was made (the global one in
/// production; a test's local one under `metrics::with_local_recorder`): each entry
/// remembers that recorder's address and is only reused under the same recorder.
struct HttpHandles {
    /// In-flight gauge per recorder address.
    in_flight: Vec<(usize, metrics::Gauge)>,
    /// Route template → (recorder address, method, status, duration, count).
    routes: std::collections::HashMap<Box<str>, Vec<RouteHandles>>,
}

/// The handles of one (recorder, route, method, status).
struct RouteHandles {
    recorder: usize,
    method: axum::http::Method,
    status: u16,
    duration: metrics::Histogram,
    count: metrics::Counter,
}

/// Most routes × methods × statuses a worker thread keeps handles for; past it (a
/// flood of odd methods), handles are made per request as the macros do.
const MAX_CACHED: usize = 4096;

thread_local! {
    static HTTP_HANDLES: std::cell::RefCell<HttpHandles> = std::cell::RefCell::new(HttpHandles {
        in_flight: Vec::new(),
        routes: std::collections::HashMap::new(),
    });
}

/// Address of the recorder `metrics::*!` would use here and now.
fn recorder_address() -> usize {
    metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>() as usize)
}

impl HttpHandles {
    /// `liveroom_http_requests_in_flight`.
    fn in_flight() -> metrics::Gauge {
        let recorder = recorder_address();
        HTTP_HANDLES.with_borrow_mut(|h| {
            if let Some((_, gauge)) = h.in_flight.iter().find(|(r, _)| *r == recorder) {
                return gauge.clone();
            }
            let gauge = metrics::gauge!("liveroom_http_requests_in_flight");
            h.in_flight.push((recorder, gauge.clone()));
            gauge
        })
    }

    /// Records one answered request: `seconds` in
    /// `liveroom_http_request_duration_seconds{route, method}` and one more in
    /// `liveroom_http_requests_total{route, method, status}`.
    fn record(route: &str, method: &axum::http::Method, status: u16, seconds: f64) {
        let recorder = recorder_address();
        HTTP_HANDLES.with_borrow_mut(|h| {
            let found = h.routes.get(route).and_then(|entries| {
                entries.iter().find(|e| {
                    e.recorder == recorder && e.status == status && e.method == *method
                })
            });
            if let Some(e) = found {
                e.duration.record(seconds);
                e.count.increment(1);
                return;
            }
            let (route_label, method_label) = (route.to_owned(), method.as_str().to_owned());
            let duration = metrics::histogram!("liveroom_http_request_duration_seconds", "route" => route_label.clone(), "method" => method_label.clone());
            let count = metrics::counter!("liveroom_http_requests_total", "route" => route_label, "method" => method_label, "status" => status.to_string());
            duration.record(seconds);
            count.increment(1);
            let cached: usize = h.routes.values().map(Vec::len).sum();
            if cached < MAX_CACHED {
                h.routes.entry(route.into()).or_default().push(RouteHandles {
                    recorder,
                    method: method.clone(),
                    status,
                    duration,
                    count,
                });
            }
        })
    }
}

/// One unit of an in-flight gauge: incremented when made, decremented when dropped,
/// however the work it counts ends (finished, failed, or its future dropped).
pub struct GaugeGuard(metrics::Gauge);

impl GaugeGuard {
    /// Increments `gauge` by one until the guard is dropped.
    pub fn increment(gauge: metrics::Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Poll};

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use tower::ServiceExt;

    /// The value of `liveroom_http_requests_in_flight` in a Prometheus exposition.
    fn in_flight(text: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix("liveroom_http_requests_in_flight "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no in-flight gauge in:\n{text}"))
    }

    /// A request dropped before it answers (client gone, shutdown deadline) does not
    /// leave the in-flight gauge high; a finished one does not either.
    #[test]
    fn a_dropped_request_leaves_the_in_flight_gauge() {
        // A recorder of this test only, so parallel tests cannot move the gauge.
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let app = Router::new()
            .route("/stuck", get(std::future::pending::<()>))
            .route("/quick", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(super::track_http));
        let request = |path: &str| axum::http::Request::get(path).body(Body::empty()).unwrap();
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());

        let mut stuck = Box::pin(app.clone().oneshot(request("/stuck")));
        let polled = metrics::with_local_recorder(&recorder, || stuck.as_mut().poll(&mut cx));
        assert!(polled.is_pending(), "the stuck handler answered");
        assert_eq!(in_flight(&handle.render()), 1.0);
        drop(stuck);
        assert_eq!(
            in_flight(&handle.render()),
            0.0,
            "a dropped request stayed in flight"
        );

        let mut quick = Box::pin(app.oneshot(request("/quick")));
        let polled = metrics::with_local_recorder(&recorder, || quick.as_mut().poll(&mut cx));
        assert!(matches!(polled, Poll::Ready(Ok(ref r)) if r.status() == 200));
        assert_eq!(in_flight(&handle.render()), 0.0);
        assert!(
            handle
                .render()
                .contains(r#"route="/quick",method="GET",status="200""#)
        );
    }
}
