//! Log output: the global subscriber (JSON or pretty lines on stderr, level from
//! `RUST_LOG`) and which answered requests get a line of their own.
//!
//! Sized for production: a JSON line carries the request's fields once (the current
//! span, not the span list as well) and the event's fields at the top level, about
//! 300 B a line. Heartbeats, most of all traffic (200,000 a second for a million
//! viewers at a 5 s interval), are counted in the metrics; at the default level only
//! one successful heartbeat in [`HEARTBEAT_LOG_EVERY`] gets a line (marked `sampled`),
//! every refused or failed one does, and `RUST_LOG=liveroom=debug` shows them all.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, FormattedFields, MakeWriter};

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
                .fmt_fields(SpanFields)
                .finish(),
        )
    } else {
        Box::new(builder.finish())
    }
}

/// How JSON lines keep a span's fields: as one JSON object written straight into the
/// span's buffer when the span is created. tracing-subscriber's `JsonFields` (whose
/// output this is, read back the same way by its JSON line formatter) first builds a
/// map of `serde_json::Value`s and serializes that; a span's fields are formatted when
/// the span is made, whether or not a line is ever written inside it, so the request
/// span paid that on every request (about 9% of a heartbeat's instructions, measured
/// with callgrind). The same values: strings and `%` / `?` fields as JSON strings,
/// numbers and booleans as such, non-finite floats as `null`, bytes as an array;
/// `r#` stripped from debug-recorded names and `log.` ones skipped, as `JsonFields` does.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanFields;

impl<'w> FormatFields<'w> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        writer.write_char('{')?;
        let mut object = JsonObject {
            out: &mut writer,
            empty: true,
            result: Ok(()),
        };
        fields.record(&mut object);
        object.result?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // Reopen the object, add the fields, close it (a later value of a field
        // already there wins when the object is read, as in `JsonFields`).
        let fields_so_far = &mut current.fields;
        if fields_so_far.ends_with('}') {
            fields_so_far.pop();
        } else {
            fields_so_far.clear();
            fields_so_far.push('{');
        }
        let empty = fields_so_far.len() <= 1;
        let mut object = JsonObject {
            out: fields_so_far,
            empty,
            result: Ok(()),
        };
        fields.record(&mut object);
        object.result?;
        fields_so_far.push('}');
        Ok(())
    }
}

/// Writes `"name":value` pairs of one JSON object (without its braces).
struct JsonObject<'a> {
    out: &'a mut dyn fmt::Write,
    empty: bool,
    result: fmt::Result,
}

impl JsonObject<'_> {
    fn key(&mut self, name: &str) -> fmt::Result {
        if !std::mem::take(&mut self.empty) {
            self.out.write_char(',')?;
        }
        json_string(self.out, name)?;
        self.out.write_char(':')
    }

    fn pair(&mut self, name: &str, value: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self.key(name).and_then(|()| value(self.out));
        }
    }
}

/// `text` as a JSON string literal.
fn json_string(out: &mut dyn fmt::Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    JsonEscape(out).write_str(text)?;
    out.write_char('"')
}

/// Escapes what is written through it for the inside of a JSON string.
struct JsonEscape<'a>(&'a mut dyn fmt::Write);

impl fmt::Write for JsonEscape<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        // Runs of plain bytes are written whole; only `"`, `\\` and controls are escaped.
        while let Some(at) = rest
            .bytes()
            .position(|b| b < 0x20 || b == b'"' || b == b'\\')
        {
            self.0.write_str(&rest[..at])?;
            match rest.as_bytes()[at] {
                b'"' => self.0.write_str("\\\"")?,
                b'\\' => self.0.write_str("\\\\")?,
                b'\n' => self.0.write_str("\\n")?,
                b'\r' => self.0.write_str("\\r")?,
                b'\t' => self.0.write_str("\\t")?,
                control => write!(self.0, "\\u{control:04x}")?,
            }
            rest = &rest[at + 1..];
        }
        self.0.write_str(rest)
    }
}

impl Visit for JsonObject<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.pair(field.name(), |out| {
            if value.is_finite() {
                // `{:?}` keeps the decimal point (`1.0`), so it reads back as a float.
                write!(out, "{value:?}")
            } else {
                out.write_str("null")
            }
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.pair(field.name(), |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.pair(field.name(), |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.pair(field.name(), |out| write!(out, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.pair(field.name(), |out| json_string(out, value));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.pair(field.name(), |out| {
            out.write_char('[')?;
            for (i, b) in value.iter().enumerate() {
                if i > 0 {
                    out.write_char(',')?;
                }
                write!(out, "{b}")?;
            }
            out.write_char(']')
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.pair(name, |out| {
            out.write_char('"')?;
            write!(JsonEscape(out), "{value:?}")?;
            out.write_char('"')
        });
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

    /// [`SpanFields`] gives the JSON lines `JsonFields` gives, whatever the fields.
    #[test]
    fn span_fields_read_back_as_json_fields_wrote_them() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Odd {
            text: &'static str,
        }
        let line = |ours: bool| {
            let buffer = Buffer::default();
            let builder = tracing_subscriber::fmt()
                .with_env_filter(EnvFilter::new("info"))
                .with_writer(buffer.clone())
                .with_ansi(false)
                .without_time()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false);
            let emit = || {
                let id = "a\"b\\c\nd\u{1}é";
                let span = tracing::info_span!(
                    "request",
                    request_id = %id,
                    method = %"GET",
                    route = "/x/{id}",
                    n = 7u64,
                    neg = -3i64,
                    ratio = 1.0f64,
                    half = 0.5f64,
                    inf = f64::INFINITY,
                    ok = true,
                    odd = ?Odd { text: "q\"\t" },
                    later = tracing::field::Empty,
                );
                span.record("later", 12u64);
                span.record("n", 8u64);
                span.in_scope(|| tracing::info!(status = 200u64, "request"));
            };
            if ours {
                tracing::subscriber::with_default(builder.fmt_fields(SpanFields).finish(), emit);
            } else {
                tracing::subscriber::with_default(builder.finish(), emit);
            }
            buffer.lines().concat()
        };
        let (ours, theirs) = (line(true), line(false));
        assert_eq!(ours, theirs);
        let parsed: serde_json::Value = serde_json::from_str(&ours).unwrap();
        assert_eq!(parsed["span"]["request_id"], "a\"b\\c\nd\u{1}é", "{ours}");
        assert_eq!(parsed["span"]["n"], 8, "{ours}");
        assert_eq!(parsed["span"]["later"], 12, "{ours}");
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
