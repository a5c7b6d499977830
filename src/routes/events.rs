//! `GET /client/live/room/events/{live_id}`: a room's events as Server-Sent Events
//! (docs/SPEC.md §10), for clients (browsers' `EventSource` included).
//!
//! Wire format (`text/event-stream`, UTF-8; each event is `event:`, optional `id:`,
//! one `data:` line of JSON):
//!
//! - `event: room`, `id: <stream id>`: the room as `GET /client/live/room/info/{live_id}`
//!   shows it to the caller, plus `"reset": false` (first event of a fresh stream) or
//!   `"reset": true` (the `Last-Event-ID` could not be resumed from: it was unknown,
//!   malformed, or events after it were trimmed; the client must drop what it had). The
//!   id is the newest event id of the room at the snapshot: resuming after it misses
//!   nothing (an event may be both in the snapshot and sent after it).
//! - `event: <name>`, `id: <stream id>`: one room event of SPEC §10, `data` its JSON
//!   (the webhook body). Stream ids are `<ms>-<seq>` (the part of the event's `id`
//!   after `<live_id>:`), increasing.
//! - `event: online`, no id: `{"online_count": N}`, at most one every
//!   [`ONLINE_EVERY`] while the room's count changes (taken from the events, last value
//!   always sent).
//! - `event: reconnect`, no id: `{"reason": "lagged" | "history_trimmed" |
//!   "shutdown"}`; the stream then ends and the client reconnects with `Last-Event-ID`
//!   (`EventSource` does so by itself).
//! - `: ` comment lines every [`KEEP_ALIVE`] of silence.
//!
//! Selection (`events` query): names of SPEC §10, the groups `room`, `anchor`,
//! `member`, `all`, and `online`, comma-separated; default `room,anchor,online` (member
//! events are one per join and leave: opt in). `room_stopped` and `room_deleted` are
//! always sent: the stream ends after either (and at once after the snapshot of an
//! ended room).
//!
//! Resuming: `Last-Event-ID` header, or `last_event_id` query for clients that cannot
//! set headers: the events after that id, no snapshot. A resume of an ended room with
//! nothing after the id is answered `204 No Content`, which makes `EventSource` stop
//! reconnecting.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::AppState;
use crate::auth::{Claims, bearer_token};
use crate::error::ApiError;
use crate::events::RoomEvent;
use crate::events::hub::{Message, StreamId, Subscription, read_after, stream_info};
use crate::extract::{LiveIdPath, QueryParams};
use crate::openapi::{BadRequest, RoomNotFound};
use crate::routes::views::room_views;
use crate::store::Store;

/// Shortest pause between two `online` events.
pub const ONLINE_EVERY: Duration = Duration::from_secs(2);

/// Silence after which a keep-alive comment is sent.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Reconnection delay suggested to `EventSource` (the `retry:` field of the snapshot).
pub const RETRY: Duration = Duration::from_secs(1);

/// The selection when `events` is absent.
pub const DEFAULT_EVENTS: &str = "room,anchor,online";

/// Entries read per `XRANGE` while catching up on connect.
const BACKLOG_PAGE: usize = 256;

/// The events that end a stream.
const FINAL_EVENTS: [&str; 2] = ["room_stopped", "room_deleted"];

/// Which events a stream sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Event names of SPEC §10.
    pub events: BTreeSet<&'static str>,
    /// Whether `online` events are sent.
    pub online: bool,
}

impl Selection {
    /// Reads the `events` query value (see the module documentation); errors name
    /// `events`.
    pub fn parse(text: Option<&str>) -> Result<Self, ApiError> {
        let text = text.unwrap_or(DEFAULT_EVENTS);
        let mut online = false;
        let mut rest = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "online" => online = true,
                "all" => {
                    online = true;
                    rest.push(word);
                }
                _ => rest.push(word),
            }
        }
        let events = if rest.is_empty() && online {
            BTreeSet::new()
        } else {
            crate::webhooks::parse_events(&rest.join(",")).map_err(|e| {
                let detail = e
                    .strip_prefix("LIVEROOM_WEBHOOK_EVENTS")
                    .unwrap_or(&e)
                    .trim_start_matches(':')
                    .trim();
                ApiError::InvalidArgument(format!(
                    "events: {detail} (or `online`); e.g. events=room,anchor,member,online"
                ))
            })?
        };
        Ok(Self { events, online })
    }

    fn wants(&self, name: &str) -> bool {
        self.events.contains(name) || FINAL_EVENTS.contains(&name)
    }
}

/// The caller: `Authorization` as everywhere (SPEC §2), else the `token` query
/// parameter (`EventSource` cannot set headers). The query is never logged: the
/// request log names the route template only.
fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    query: &QueryParams,
) -> Result<Claims, ApiError> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::Unauthorized("Authorization header is not valid text"))?;
        return state.verifier.verify(bearer_token(value)?);
    }
    match query.get("token") {
        Some(t) if !t.trim().is_empty() => state.verifier.verify(t.trim()),
        Some(_) => Err(ApiError::Unauthorized("token query parameter is empty")),
        None => Err(ApiError::Unauthorized(
            "Authorization header is missing: send Authorization: Bearer <token> or the token query parameter",
        )),
    }
}

/// The id a client resumes after: the `Last-Event-ID` header, else the
/// `last_event_id` query parameter; `<stream id>` or `<live_id>:<stream id>`.
/// `Some(None)`: given but not one of ours.
fn resume_point(
    headers: &HeaderMap,
    query: &QueryParams,
    live_id: &str,
) -> Option<Option<StreamId>> {
    let raw = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .or_else(|| query.get("last_event_id").map(str::to_owned))?;
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let id = match raw.rsplit_once(':') {
        Some((room, id)) if room == live_id => id,
        Some(_) => return Some(None),
        None => raw,
    };
    Some(id.parse().ok())
}

/// `GET /client/live/room/events/{live_id}`: the room's events as Server-Sent Events.
/// One event of the stream as it is sent (OpenAPI documentation only): its `event:`,
/// `id:`, `retry:` and `data:` lines. SPEC §10 "Client event stream".
#[derive(utoipa::ToSchema)]
#[schema(as = RoomStreamEvent)]
#[allow(dead_code)] // a documentation shape: the stream is written by axum's `Event`
pub struct StreamEvent {
    /// `room` (the snapshot), a SPEC §10 event name, `online` or `reconnect`.
    event: String,
    /// The event's JSON, on one line: the room (with `reset`), the SPEC §10 event,
    /// `{"online_count": N}` or `{"reason": …}`.
    data: String,
    /// The room stream id `<ms>-<seq>`; absent on `online` and `reconnect`.
    id: Option<String>,
    /// Reconnection delay for `EventSource`, ms (on the snapshot: 1000).
    retry: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/client/live/room/events/{live_id}",
    operation_id = "roomEvents",
    tag = "rooms",
    summary = "Room event stream (Server-Sent Events)",
    description = "A `text/event-stream` of the room's events (SPEC §10), for clients and browsers' `EventSource`.\n\n\
First `event: room` (`id:` the room's newest event id, `data:` the room as the info endpoint shows it plus `reset`: false, or true when `Last-Event-ID` could not be resumed from), then one SSE event per room event (`event:` its name, `id:` its stream id `<ms>-<seq>`, `data:` its JSON as webhooks send it), `event: online` (`{\"online_count\":N}`, at most every 2 s while the count changes), a keep-alive comment every 15 s. `event: reconnect` (`{\"reason\": \"lagged\" | \"history_trimmed\" | \"shutdown\"}`) ends the stream: reconnect with `Last-Event-ID`. The stream ends after `room_stopped` / `room_deleted` (at once after the snapshot of an ended room).\n\n\
`events` selects: names of SPEC §10, groups `room`, `anchor` (with the anchor's stream: `stream_started`, `stream_stopped`, SPEC §12), `member`, `all`, and `online`; default `room,anchor,online`. `room_stopped` and `room_deleted` are always sent. Authentication: the `Authorization` header, or the `token` query parameter for `EventSource` (never logged).\n\n\
Errors: 400: 40000: `live_id` is not 1-64 characters of `[A-Za-z0-9_-]`, or `events` names an unknown event.",
    params(
        LiveIdPath,
        ("events" = Option<String>, Query, description = "Comma-separated event names, groups (`room`, `anchor`, `member`, `all`) and `online`; default `room,anchor,online`."),
        ("token" = Option<String>, Query, description = "The token, for clients that cannot send `Authorization` (`EventSource`); ignored when the header is present. Never logged."),
        ("last_event_id" = Option<String>, Query, description = "As the `Last-Event-ID` header, for clients that cannot set it."),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (`<ms>-<seq>`): the events after it, no snapshot; an id that cannot be resumed from gets a snapshot with `reset: true`."),
    ),
    responses(
        (status = 200, description = "The event stream; the schema describes one event (OpenAPI 3.1 reads a `text/event-stream` schema per event).", body = StreamEvent, content_type = "text/event-stream"),
        (status = 204, description = "Resumed an ended room with nothing after `Last-Event-ID`: `EventSource` stops reconnecting."),
        (status = 400, response = BadRequest),
        (status = 404, response = RoomNotFound),
    ),
)]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: QueryParams,
    live_id: Result<LiveIdPath, ApiError>,
) -> Result<Response, ApiError> {
    let claims = authenticate(&state, &headers, &query)?;
    let LiveIdPath(live_id) = live_id?;
    let selection = Selection::parse(query.get("events"))?;
    let resume = resume_point(&headers, &query, &live_id);

    // The stream's position first, then the room: the snapshot is at least as new as
    // its id, so resuming after the id misses nothing.
    let info = stream_info(&state.store, &live_id).await?;
    let raw = state.store.get_room(&live_id).await?;
    let resume_from = resume.map(|id| id.filter(|id| info.can_resume_after(*id)));

    let mut out = Outgoing::new(selection);
    let mut ended_backlog = false;
    let start = match resume_from {
        Some(Some(after)) => {
            if raw.number("live_status") == 2 {
                // An ended room: what is left after `after`, then the end.
                if after >= info.last_id {
                    return Ok(StatusCode::NO_CONTENT.into_response());
                }
                ended_backlog = true;
            }
            after
        }
        snapshot => {
            let reset = snapshot.is_some();
            let view = room_views(&state, vec![raw], &claims.sub)
                .await?
                .pop()
                .ok_or(ApiError::RoomNotFound)?;
            let ended = view.live_status == 2;
            out.online_sent = Some(view.online_count);
            let mut data = serde_json::to_value(&view)
                .map_err(|e| ApiError::Internal(format!("room view: {e}")))?;
            data["reset"] = json!(reset);
            out.queue.push_back(
                Event::default()
                    .event("room")
                    .id(info.last_id.to_string())
                    .retry(RETRY)
                    .data(data.to_string()),
            );
            if ended {
                out.done = true;
            }
            info.last_id
        }
    };

    let subscription = if out.done || ended_backlog {
        None
    } else if state.hub.draining() {
        out.close("shutdown");
        None
    } else {
        Some(state.hub.subscribe(&live_id, info.last_id))
    };
    let feed = Feed {
        store: state.store.clone(),
        live_id,
        // Events up to the hub's position are not in the channel: read them first.
        backlog_until: match &subscription {
            Some(s) => Some(s.position).filter(|p| *p > start),
            None if ended_backlog => Some(info.last_id),
            None => None,
        },
        end_after_backlog: ended_backlog,
        subscription,
        delivered: start,
        out,
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<Event, Infallible>(event), feed))
    });
    Ok(sse_response(stream))
}

/// The response: the stream with keep-alives and the headers proxies need
/// (`Cache-Control: no-cache`, `X-Accel-Buffering: no` so nginx does not buffer it).
fn sse_response<S>(stream: S) -> Response
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// What is ready to send, and the `online` coalescing.
struct Outgoing {
    selection: Selection,
    queue: VecDeque<Event>,
    /// The stream ends once `queue` is empty.
    done: bool,
    /// The count last sent (in the snapshot or an `online` event).
    online_sent: Option<u64>,
    /// The newest count seen in the events.
    online_seen: Option<u64>,
    /// When the last `online` event went out.
    online_at: Option<Instant>,
    /// When the next `online` event is due (a change is waiting).
    online_due: Option<Instant>,
}

impl Outgoing {
    fn new(selection: Selection) -> Self {
        Self {
            selection,
            queue: VecDeque::new(),
            done: false,
            online_sent: None,
            online_seen: None,
            online_at: None,
            online_due: None,
        }
    }

    /// Ends the stream with `event: reconnect`.
    fn close(&mut self, reason: &str) {
        self.queue.push_back(
            Event::default()
                .event("reconnect")
                .data(json!({ "reason": reason }).to_string()),
        );
        self.done = true;
    }

    /// Takes one event of the room (in order, each once).
    fn event(&mut self, event: &RoomEvent, id: StreamId) {
        if self.selection.wants(&event.event) {
            let data = serde_json::to_string(event).unwrap_or_default();
            self.queue.push_back(
                Event::default()
                    .event(event.event.as_str())
                    .id(id.to_string())
                    .data(data),
            );
        }
        if FINAL_EVENTS.contains(&event.event.as_str()) {
            self.done = true;
            return;
        }
        self.online_seen = Some(event.room.online_count);
        self.online(Instant::now());
    }

    /// Sends the newest count when it differs from the last sent and
    /// [`ONLINE_EVERY`] has passed; else schedules it.
    fn online(&mut self, now: Instant) {
        let Some(count) = self.online_seen else {
            return;
        };
        if !self.selection.online || self.done || self.online_sent == Some(count) {
            self.online_due = None;
            return;
        }
        match self.online_at {
            Some(at) if now < at + ONLINE_EVERY => {
                self.online_due = Some(at + ONLINE_EVERY);
            }
            _ => {
                self.queue.push_back(
                    Event::default()
                        .event("online")
                        .data(json!({ "online_count": count }).to_string()),
                );
                self.online_sent = Some(count);
                self.online_at = Some(now);
                self.online_due = None;
            }
        }
    }
}

/// One client's stream: catch-up reads, then the room's hub channel.
struct Feed {
    store: Store,
    live_id: String,
    subscription: Option<Subscription>,
    /// Events after `delivered` up to this id must be read from Redis (they were
    /// broadcast before the subscription).
    backlog_until: Option<StreamId>,
    /// Whether the stream ends once the backlog is read (a resumed ended room).
    end_after_backlog: bool,
    /// The id of the last room event taken (sent or filtered out).
    delivered: StreamId,
    out: Outgoing,
}

impl Feed {
    /// The next SSE event, or `None` when the stream ends.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.out.queue.pop_front() {
                return Some(event);
            }
            if self.out.done {
                self.subscription = None;
                return None;
            }
            if let Some(until) = self.backlog_until {
                self.catch_up(until).await;
                continue;
            }
            let subscription = self.subscription.as_mut()?;
            let due = self.out.online_due;
            tokio::select! {
                message = subscription.rx.recv() => match message {
                    Ok(Message::Event(event)) => self.take(&event),
                    Ok(Message::Gap) => self.out.close("history_trimmed"),
                    Ok(Message::Draining) | Err(RecvError::Closed) => self.out.close("shutdown"),
                    Err(RecvError::Lagged(_)) => self.out.close("lagged"),
                },
                () = sleep_until(due) => self.out.online(Instant::now()),
            }
        }
    }

    /// Takes a room event unless it was taken already.
    fn take(&mut self, event: &RoomEvent) {
        let Ok(id) = event.stream_id().parse::<StreamId>() else {
            return;
        };
        if id <= self.delivered {
            return;
        }
        self.delivered = id;
        self.out.event(event, id);
    }

    /// Reads one page of the events after `delivered` (up to `until`) from Redis.
    async fn catch_up(&mut self, until: StreamId) {
        match read_after(
            &self.store,
            "sse.backlog",
            &self.live_id,
            self.delivered,
            BACKLOG_PAGE,
        )
        .await
        {
            Ok(events) => {
                let full = events.len() == BACKLOG_PAGE;
                for event in &events {
                    self.take(event);
                }
                if !full || self.delivered >= until {
                    self.backlog_until = None;
                    if self.end_after_backlog {
                        self.out.done = true;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(live_id = %self.live_id, error = %e, "event stream: catching up failed");
                self.backlog_until = None;
                self.out.close("shutdown");
            }
        }
    }
}

/// Sleeps until `due`, or forever when there is none.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_selection_leaves_member_events_out() {
        let s = Selection::parse(None).unwrap();
        assert!(s.online);
        assert!(s.wants("room_started") && s.wants("anchor_offline"));
        assert!(!s.wants("member_joined"));
        let all = Selection::parse(Some("all")).unwrap();
        assert!(all.online && all.wants("member_left"));
        let members = Selection::parse(Some("member_joined, member_left")).unwrap();
        assert!(!members.online && members.wants("member_joined"));
        assert!(!members.wants("room_started"));
        // The final events are always sent.
        assert!(members.wants("room_stopped") && members.wants("room_deleted"));
        let online = Selection::parse(Some("online")).unwrap();
        assert!(online.online && online.events.is_empty());
    }

    #[test]
    fn an_unknown_event_is_a_400_naming_events() {
        let err = Selection::parse(Some("room,nope")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("events: "), "{text}");
        assert!(text.contains("`nope`"), "{text}");
        assert!(!text.contains("LIVEROOM_"), "{text}");
        assert!(Selection::parse(Some(",")).is_err());
    }

    #[test]
    fn online_events_are_coalesced_to_one_per_interval_with_the_last_value() {
        let mut out = Outgoing::new(Selection::parse(None).unwrap());
        out.online_sent = Some(0);
        let t0 = Instant::now();
        let count = |out: &mut Outgoing, n: u64, at: Instant| {
            out.online_seen = Some(n);
            out.online(at);
        };
        count(&mut out, 1, t0);
        assert_eq!(out.queue.len(), 1, "the first change goes out at once");
        count(&mut out, 2, t0 + Duration::from_millis(100));
        count(&mut out, 3, t0 + Duration::from_millis(200));
        assert_eq!(out.queue.len(), 1);
        assert_eq!(out.online_due, Some(t0 + ONLINE_EVERY));
        out.online(t0 + ONLINE_EVERY);
        assert_eq!(out.queue.len(), 2);
        assert_eq!(out.online_sent, Some(3));
        // Back to a value already sent: nothing.
        count(&mut out, 3, t0 + Duration::from_secs(5));
        assert_eq!(out.queue.len(), 2);
        assert_eq!(out.online_due, None);
    }

    #[test]
    fn resume_points_accept_our_two_id_forms() {
        let q = QueryParams(vec![("last_event_id".into(), "live_a:5-1".into())]);
        let h = HeaderMap::new();
        assert_eq!(
            resume_point(&h, &q, "live_a"),
            Some(Some(StreamId { ms: 5, seq: 1 }))
        );
        assert_eq!(resume_point(&h, &q, "live_b"), Some(None));
        let mut h = HeaderMap::new();
        h.insert("last-event-id", HeaderValue::from_static("7-0"));
        assert_eq!(
            resume_point(&h, &QueryParams::default(), "x"),
            Some(Some(StreamId { ms: 7, seq: 0 }))
        );
        h.insert("last-event-id", HeaderValue::from_static("junk"));
        assert_eq!(resume_point(&h, &QueryParams::default(), "x"), Some(None));
        assert_eq!(
            resume_point(&HeaderMap::new(), &QueryParams::default(), "x"),
            None
        );
    }
}
