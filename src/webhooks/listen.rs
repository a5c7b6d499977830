//! `liveroom webhooks listen`: a development receiver, like `stripe listen`. It
//! accepts deliveries (`POST`, any path), checks each as a real receiver must — the
//! content type, and `Liveroom-Signature` over the exact body bytes with the shared
//! secret and a 5-minute tolerance ([`crate::events::signature::verify`], SPEC §10
//! "Webhooks") — and prints one line per event on stdout, flushed at once:
//!
//! ```text
//! 12:00:01  room_started          live_x  anchor=alice  id=live_x:1733100000000-0
//! 12:00:02  member_left           live_x  anchor=alice  user=bob  reason=leave  id=live_x:1733100001000-0
//! 12:00:03  room_started          live_x  anchor=alice  id=live_x:1733100000000-0  (duplicate)
//! ```
//!
//! The time is the receipt's (this machine's local clock, `HH:MM:SS`). An id seen
//! before (a retry after a crash, a redelivery) is marked `(duplicate)`. With
//! `--json` each line is the event's body instead (duplicates are then noted on
//! stderr). Answers: 204 to a valid delivery; 400 with the reason as text (and a
//! line on stderr) to a missing, malformed, mismatching or stale signature, a body
//! that is not an event, or a `Liveroom-Event-Id` header that differs from the
//! body's id; 415 to another content type; 405 to another method.
//! Start-up and shutdown lines go to stderr, so stdout carries events only.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use clap::Args;

use crate::config::parse_duration;
use crate::events::signature::{SIGNATURE_HEADER, verify};
use crate::webhooks::{CONTENT_TYPE, EVENT_ID_HEADER};

/// Default port of `liveroom webhooks listen`.
pub const DEFAULT_PORT: u16 = 9090;

/// Event ids remembered to mark duplicates (the oldest are forgotten past this).
const REMEMBERED_IDS: usize = 100_000;

/// Arguments of `liveroom webhooks listen`.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Port to listen on, on 127.0.0.1 (`0`: any free port, printed at start-up).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// Full listen address instead of `127.0.0.1:<port>`, e.g. `0.0.0.0:9090` for a
    /// service in a container or on another machine.
    #[arg(long, conflicts_with = "port")]
    pub listen: Option<SocketAddr>,

    /// The secret the service signs with: its `LIVEROOM_WEBHOOK_SECRET`.
    #[arg(long, env = "LIVEROOM_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: String,

    /// Largest accepted distance between a signature's timestamp and this machine's
    /// clock, e.g. `5m`, `30s`; older deliveries are refused as replays.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub tolerance: Duration,

    /// Print each event's body (one JSON object per line) instead of a summary line.
    #[arg(long)]
    pub json: bool,
}

impl ListenArgs {
    /// The address to bind: `--listen`, else `127.0.0.1:<--port>`.
    pub fn addr(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port))
    }
}

/// What the handler shares: the settings and the counters.
struct Receiver {
    secret: Vec<u8>,
    tolerance: Duration,
    json: bool,
    seen: Mutex<Seen>,
    received: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
}

/// Ids seen so far, the oldest forgotten past [`REMEMBERED_IDS`].
#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    /// Records `id`; whether it was seen before.
    fn check_and_insert(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return true;
        }
        if self.order.len() >= REMEMBERED_IDS
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        self.ids.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        false
    }
}

/// Runs the receiver until Ctrl-C or SIGTERM. Errors: an empty secret, the address
/// cannot be bound.
pub async fn run(args: ListenArgs) -> Result<(), String> {
    if args.secret.is_empty() {
        return Err("--secret (LIVEROOM_WEBHOOK_SECRET) must not be empty".into());
    }
    let addr = args.addr();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let receiver = Arc::new(Receiver {
        secret: args.secret.as_bytes().to_vec(),
        tolerance: args.tolerance,
        json: args.json,
        seen: Mutex::new(Seen::default()),
        received: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
    });
    // The URL to give the service: a wildcard address is reached on loopback.
    let host = if bound.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), bound.port())
    } else {
        bound
    };
    eprintln!(
        "liveroom webhooks listen: listening on http://{bound} (POST, any path); Ctrl-C stops\n\
         start the service with:\n  \
         LIVEROOM_WEBHOOK_URLS=http://{host}/webhooks LIVEROOM_WEBHOOK_SECRET={} LIVEROOM_WEBHOOK_EVENTS=all",
        args.secret
    );
    let app = Router::new().fallback(handle).with_state(receiver.clone());
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        crate::server::shutdown_signal().await;
        let _ = stopped_tx.send(());
    };
    let server = crate::http_server::serve(listener, app, Duration::from_secs(65), shutdown);
    tokio::pin!(server);
    tokio::select! {
        () = &mut server => {}
        _ = stopped_rx => {
            // Connections still open (a sender's keep-alive) get a moment to finish.
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut server).await;
        }
    }
    eprintln!(
        "liveroom webhooks listen: stopped; events received: {}, of which duplicates: {}; deliveries refused: {}",
        receiver.received.load(Ordering::Relaxed),
        receiver.duplicates.load(Ordering::Relaxed),
        receiver.rejected.load(Ordering::Relaxed),
    );
    Ok(())
}

/// `HH:MM:SS` of now, local time.
fn now_hms() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

/// Unix seconds now.
fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A refusal: the status and the reason, answered as text and printed on stderr.
fn refuse(
    receiver: &Receiver,
    status: StatusCode,
    method: &Method,
    uri: &Uri,
    why: String,
) -> Response {
    receiver.rejected.fetch_add(1, Ordering::Relaxed);
    eprintln!(
        "{}  refused {} {} {}: {why}",
        now_hms(),
        status.as_u16(),
        method,
        uri.path()
    );
    (status, format!("{why}\n")).into_response()
}

/// Whether `value` names [`CONTENT_TYPE`] (parameters such as `charset` allowed).
fn is_webhook_content_type(value: Option<&str>) -> bool {
    value
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

async fn handle(
    State(receiver): State<Arc<Receiver>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let refuse = |status, why: String| refuse(&receiver, status, &method, &uri, why);
    if method != Method::POST {
        let mut response = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "deliveries are POST requests".into(),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return response;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !is_webhook_content_type(content_type) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type is {:?}, not {CONTENT_TYPE}",
                content_type.unwrap_or("missing")
            ),
        );
    }
    let Some(signature) = headers.get(SIGNATURE_HEADER) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("no {SIGNATURE_HEADER} header"),
        );
    };
    let Ok(signature) = signature.to_str() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("{SIGNATURE_HEADER}: malformed signature header"),
        );
    };
    if let Err(e) = verify(
        &receiver.secret,
        signature,
        &body,
        now_s(),
        receiver.tolerance,
    ) {
        let hint = match e {
            crate::events::signature::SignatureError::Mismatch => {
                " (is --secret the service's LIVEROOM_WEBHOOK_SECRET?)"
            }
            crate::events::signature::SignatureError::OutOfTolerance(_) => {
                " (a replay, or a clock off by that much)"
            }
            crate::events::signature::SignatureError::Malformed => "",
        };
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("{SIGNATURE_HEADER}: {e}{hint}"),
        );
    }
    let event: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "the body is not a JSON object".into(),
            );
        }
    };
    let Some(id) = event["id"].as_str().filter(|id| !id.is_empty()) else {
        return refuse(StatusCode::BAD_REQUEST, "the event has no `id`".into());
    };
    if let Some(header_id) = headers.get(EVENT_ID_HEADER)
        && header_id.as_bytes() != id.as_bytes()
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "{EVENT_ID_HEADER} {:?} differs from the body's id {id:?}",
                String::from_utf8_lossy(header_id.as_bytes())
            ),
        );
    }
    let duplicate = receiver
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .check_and_insert(id);
    receiver.received.fetch_add(1, Ordering::Relaxed);
    if duplicate {
        receiver.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    let line = if receiver.json {
        if duplicate {
            eprintln!("{}  duplicate id={id}", now_hms());
        }
        // One event per line: the exact body unless it spans lines.
        match std::str::from_utf8(&body) {
            Ok(text) if !text.contains('\n') => text.to_owned(),
            _ => event.to_string(),
        }
    } else {
        summary_line(&now_hms(), &event, duplicate)
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    StatusCode::NO_CONTENT.into_response()
}

/// The readable line of one event (SPEC §10 shape): time, name, room, anchor, then
/// user, reason, by, note, changes and extends when the event has them, the online
/// count, the id, and `(duplicate)`.
pub fn summary_line(time: &str, event: &serde_json::Value, duplicate: bool) -> String {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_owned();
    let mut line = format!(
        "{time}  {:<20}  {}  anchor={}",
        text(&event["event"]),
        text(&event["room"]["live_id"]),
        text(&event["room"]["anchor_id"]),
    );
    if let Some(user) = event["user"]["user_id"].as_str() {
        line.push_str(&format!("  user={user}"));
    }
    if let Some(reason) = event["reason"].as_str() {
        line.push_str(&format!("  reason={reason}"));
    }
    if let Some(by) = event["by"].as_str() {
        line.push_str(&format!("  by={by}"));
    }
    if let Some(note) = event["note"].as_str() {
        line.push_str(&format!("  note={note:?}"));
    }
    if let Some(changes) = event.get("changes").filter(|c| c.is_object()) {
        line.push_str(&format!("  changes={changes}"));
    }
    if let Some(extends) = event.get("extends").filter(|e| e.is_object()) {
        line.push_str(&format!("  extends={extends}"));
    }
    if let Some(online) = event["room"]["online_count"].as_u64() {
        line.push_str(&format!("  online={online}"));
    }
    line.push_str(&format!("  id={}", text(&event["id"])));
    if duplicate {
        line.push_str("  (duplicate)");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_the_event_room_people_and_id() {
        let event = serde_json::json!({
            "id": "live_x:1733100001000-0", "event": "member_left", "created_at": 1733100001000i64,
            "room": {"live_id": "live_x", "title": "t", "anchor_id": "alice", "live_status": 1, "online_count": 2},
            "user": {"user_id": "bob"}, "reason": "leave"
        });
        assert_eq!(
            summary_line("12:00:02", &event, false),
            "12:00:02  member_left           live_x  anchor=alice  user=bob  reason=leave  online=2  id=live_x:1733100001000-0"
        );
        assert!(summary_line("12:00:02", &event, true).ends_with("  (duplicate)"));
        let stopped = serde_json::json!({
            "id": "live_x:1-0", "event": "room_stopped", "created_at": 1,
            "room": {"live_id": "live_x", "title": "t", "anchor_id": "alice", "live_status": 2, "online_count": 0},
            "reason": "server", "by": "backend-1", "note": "spam"
        });
        assert_eq!(
            summary_line("12:00:03", &stopped, false),
            "12:00:03  room_stopped          live_x  anchor=alice  reason=server  by=backend-1  note=\"spam\"  online=0  id=live_x:1-0"
        );
    }

    #[test]
    fn duplicates_are_remembered_and_the_oldest_forgotten() {
        let mut seen = Seen::default();
        assert!(!seen.check_and_insert("a"));
        assert!(seen.check_and_insert("a"));
        for i in 0..REMEMBERED_IDS {
            seen.check_and_insert(&i.to_string());
        }
        assert!(!seen.check_and_insert("a"), "forgotten past the limit");
        assert_eq!(seen.ids.len(), seen.order.len());
    }

    #[test]
    fn the_content_type_must_be_the_webhook_one() {
        assert!(is_webhook_content_type(Some("application/webhook+json")));
        assert!(is_webhook_content_type(Some(
            "Application/Webhook+JSON; charset=utf-8"
        )));
        assert!(!is_webhook_content_type(Some("text/plain")));
        assert!(!is_webhook_content_type(None));
    }
}
