//! Log output: the global subscriber (JSON or pretty lines on stderr, level from
//! `RUST_LOG`) and which answered requests get a line of their own.
//!
//! Sized for production: a JSON line carries the request's fields once (the current
//! span, not the span list as well) and the event's fields at the top level, about
//! 300 B a line. Heartbeats, most of all traffic (200,000 a second for a million
//! viewers at a 5 s interval), are counted in the metrics; at the default level only
//! one successful heartbeat in [`HEARTBEAT_LOG_EVERY`] gets a line (marked `sampled`),
//! every refused or failed one does, and `RUST_LOG=liveroom=debug` shows them all.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Route template of the heartbeat (SPEC §6), the one route whose successes are sampled.
pub const HEARTBEAT_ROUTE: &str = "/client/live/room/heartbeat/{live_id}";

/// One successful heartbeat in this many is logged at `info`; the rest at `debug`.
pub const HEARTBEAT_LOG_EVERY: u64 = 1000;

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStyle {
    /// One JSON object a line (else tracing's human-readable format).
    pub json: bool,
    /// Colour codes (only ever on a terminal).
    pub ansi: bool,
}

impl LogStyle {
    /// The style of `LIVEROOM_LOG_FORMAT` (`json`, `pretty`, `auto`) when stderr is, or
    /// is not, a terminal: `auto` is pretty on a terminal and JSON otherwise; colour
    /// only for pretty lines on a terminal, so a pretty log redirected to a file or a
    /// log collector has no escape codes.
    pub fn choose(format: &str, terminal: bool) -> Self {
        let json = format == "json" || (format == "auto" && !terminal);
        Self {
            json,
            ansi: !json && terminal,
        }
    }
}

/// A subscriber writing `style` lines to `writer`, filtered by `filter`.
pub fn subscriber<W>(
    style: LogStyle,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(style.ansi);
    if style.json {
        Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        )
    } else {
        Box::new(builder.finish())
    }
}

/// Installs the global subscriber on stderr: `format` as in [`LogStyle::choose`],
/// level from `RUST_LOG` (default `info`). A second call does nothing.
pub fn init(format: &str) {
    let style = LogStyle::choose(format, std::io::stderr().is_terminal());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing::subscriber::set_global_default(subscriber(style, filter, std::io::stderr));
}

/// How an answered request is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestLine {
    /// At `info`.
    Info,
    /// At `info`, standing for [`HEARTBEAT_LOG_EVERY`] successful heartbeats.
    Sampled,
    /// At `debug` only.
    Debug,
}

static HEARTBEATS: AtomicU64 = AtomicU64::new(0);

/// The line of a request to `route` answered `status`: every request gets an `info`
/// line except successful heartbeats, one in [`HEARTBEAT_LOG_EVERY`] of which does.
pub fn request_line(route: &str, status: u16) -> RequestLine {
    if route != HEARTBEAT_ROUTE || status >= 400 {
        return RequestLine::Info;
    }
    if HEARTBEATS
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(HEARTBEAT_LOG_EVERY)
    {
        RequestLine::Sampled
    } else {
        RequestLine::Debug
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<String> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines().map(str::to_owned).collect()
        }
    }

    #[test]
    fn colour_only_on_a_terminal_and_auto_is_json_elsewhere() {
        let pretty_piped = LogStyle::choose("pretty", false);
        assert!(!pretty_piped.json && !pretty_piped.ansi);
        assert!(LogStyle::choose("pretty", true).ansi);
        assert!(LogStyle::choose("auto", false).json);
        assert!(!LogStyle::choose("auto", true).json);
        assert!(!LogStyle::choose("json", true).ansi);

        let buffer = Buffer::default();
        let sub = subscriber(pretty_piped, EnvFilter::new("info"), buffer.clone());
        tracing::subscriber::with_default(sub, || {
            tracing::warn!(status = 503, "storage unavailable");
        });
        let lines = buffer.lines();
        assert!(lines[0].contains("storage unavailable"), "{lines:?}");
        assert!(!lines.concat().contains('\x1b'), "{lines:?}");
    }

    async fn call(app: &Router, uri: &str) -> StatusCode {
        let request = Request::get(uri).body(Body::empty()).unwrap();
        app.clone().oneshot(request).await.unwrap().status()
    }

    /// Through the real request middleware: one JSON line per request with the
    /// request id once, heartbeats sampled, refused heartbeats all logged.
    #[tokio::test]
    async fn json_lines_carry_the_request_once_and_heartbeats_are_sampled() {
        let buffer = Buffer::default();
        let style = LogStyle::choose("json", false);
        let _guard = tracing::subscriber::set_default(subscriber(
            style,
            EnvFilter::new("info"),
            buffer.clone(),
        ));
        let app = Router::new()
            .route("/livez", get(|| async { "ok" }))
            .route(
                HEARTBEAT_ROUTE,
                get(
                    |axum::extract::Path(id): axum::extract::Path<String>| async move {
                        if id == "gone" {
                            StatusCode::NOT_FOUND
                        } else {
                            StatusCode::OK
                        }
                    },
                ),
            )
            .layer(axum::middleware::from_fn(crate::request_id::middleware));

        assert_eq!(call(&app, "/livez").await, StatusCode::OK);
        let lines = buffer.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        let id = line["span"]["request_id"].as_str().unwrap().to_owned();
        assert_eq!(lines[0].matches(&id).count(), 1, "{}", lines[0]);
        assert!(line.get("spans").is_none(), "{line}");
        assert_eq!(line["message"], "request");
        assert_eq!(line["status"], 200);
        assert_eq!(line["span"]["route"], "/livez");
        assert!(lines[0].len() < 320, "{} B: {}", lines[0].len(), lines[0]);

        let n = 2 * HEARTBEAT_LOG_EVERY;
        for _ in 0..n {
            call(&app, "/client/live/room/heartbeat/live_1").await;
        }
        let beats = buffer.lines().len() - 1;
        assert_eq!(beats, 2, "{n} successful heartbeats");
        let sampled: serde_json::Value =
            serde_json::from_str(buffer.lines().last().unwrap()).unwrap();
        assert_eq!(sampled["sampled"], HEARTBEAT_LOG_EVERY);

        for _ in 0..3 {
            call(&app, "/client/live/room/heartbeat/gone").await;
        }
        let lines = buffer.lines();
        assert_eq!(lines.len(), 1 + 2 + 3, "every refused heartbeat is logged");
        assert!(lines[3..].iter().all(|l| l.contains("\"status\":404")));
    }
}
