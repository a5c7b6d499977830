//! Media-server hooks (docs/SPEC.md §12): liveroom is the publish callback of
//! nginx-rtmp (`on_publish`, `on_update`, `on_publish_done`) and SRS (`on_publish`,
//! `on_hls`, `on_unpublish`), so the signed push URL of SPEC §8 is enforced and the
//! stream itself is the anchor's presence.
//!
//! - [`MediaHooks`]: the settings (`LIVEROOM_MEDIA_HOOK_SECRET`,
//!   `LIVEROOM_MEDIA_PUBLISH_STARTS_ROOM`) and the hook secret check.
//! - [`HookCall`]: one hook call, whichever media server made it, and [`run`], which
//!   decides it: signature, expiry, app, then the room (`Store::stream_presence`,
//!   `Store::stream_stop`).
//! - [`Refusal`]: why a call was refused: its `reason` label of
//!   `liveroom_media_publish_refused_total`, its log line and its message.
//!
//! The routes (`src/routes/media.rs`) turn a media server's request into a
//! [`HookCall`] and the outcome into the answer that server understands. Neither the
//! hook secret nor the push URL's token is ever logged: the request log names the
//! route template only, and the lines here name the room, the client and the reason.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::AppState;
use crate::store::{StopOutcome, StoreError, StreamOutcome, UserRef, is_valid_live_id};

/// Publishes (and renewals) accepted, by media server (`nginx-rtmp`, `srs`).
pub const ACCEPTED_TOTAL: &str = "liveroom_media_publish_accepted_total";
/// Publishes (and renewals) refused, by `reason` ([`Refusal::reason`]).
pub const REFUSED_TOTAL: &str = "liveroom_media_publish_refused_total";
/// Streams stopped (`on_publish_done` / `on_unpublish` of the recorded stream).
pub const STOPPED_TOTAL: &str = "liveroom_media_streams_stopped_total";

/// Describes the media metrics (called once by [`crate::metrics::install`]).
pub fn describe_metrics() {
    use metrics::describe_counter;
    describe_counter!(
        ACCEPTED_TOTAL,
        "Media-server publishes and renewals accepted, by call (publish, renew)"
    );
    describe_counter!(
        REFUSED_TOTAL,
        "Media-server publishes and renewals refused, by reason"
    );
    describe_counter!(
        STOPPED_TOTAL,
        "Streams stopped by the media server (the room's recorded stream)"
    );
}

/// The hooks' settings.
#[derive(Debug, Clone, Default)]
pub struct MediaHooks {
    /// `LIVEROOM_MEDIA_HOOK_SECRET`; `None`: the hooks are off.
    secret: Option<String>,
    /// `LIVEROOM_MEDIA_PUBLISH_STARTS_ROOM`: a publish starts a created room.
    pub starts_room: bool,
}

impl MediaHooks {
    /// Hooks with `secret` (`None` or empty: off) and whether a publish starts a
    /// created room.
    pub fn new(secret: Option<&str>, starts_room: bool) -> Self {
        Self {
            secret: secret.filter(|s| !s.is_empty()).map(str::to_owned),
            starts_room,
        }
    }

    /// Checks the `secret` a hook call carries (its URL's `?secret=`), in constant
    /// time. Errors: [`Refusal::HooksOff`] (no secret configured),
    /// [`Refusal::Secret`] (missing or wrong).
    pub fn authorize(&self, sent: Option<&str>) -> Result<(), Refusal> {
        let Some(secret) = &self.secret else {
            return Err(Refusal::HooksOff);
        };
        let sent = sent.unwrap_or("");
        let same = sent.len() == secret.len()
            && sent
                .bytes()
                .zip(secret.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same { Ok(()) } else { Err(Refusal::Secret) }
    }
}

/// What a hook call asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// May this stream publish? (nginx-rtmp `publish`, SRS `on_publish`)
    Publish,
    /// The stream is still publishing (nginx-rtmp `update_publish`, SRS `on_hls`).
    Renew,
    /// The stream stopped (nginx-rtmp `publish_done`, SRS `on_unpublish`).
    Stop,
}

impl HookKind {
    fn label(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Renew => "renew",
            Self::Stop => "stop",
        }
    }
}

/// One hook call, whichever media server made it.
#[derive(Debug, Clone)]
pub struct HookCall {
    /// What it asks.
    pub kind: HookKind,
    /// The media server (`nginx-rtmp`, `srs`): a metric label and part of the
    /// stream's client id.
    pub server: &'static str,
    /// The application of the publish URL (`live` in `rtmp://host/live/<live_id>`);
    /// empty when the media server did not say.
    pub app: String,
    /// The stream name: the room's `live_id`.
    pub stream: String,
    /// The media server's id of the publishing client (unique among its live
    /// clients), prefixed with the server so two kinds never collide.
    pub client: String,
    /// The publisher's address (logged).
    pub addr: String,
    /// The push URL's `expire` (Unix seconds, as text: the signed text).
    pub expire: Option<String>,
    /// The push URL's `token` (never logged).
    pub token: Option<String>,
}

impl HookCall {
    /// Reads `expire` and `token` from a query string (`a=1&b=2`, a leading `?` is
    /// skipped): the publisher's arguments as nginx-rtmp passes them, or SRS's
    /// `param`.
    pub fn with_query_args(mut self, query: &str) -> Self {
        for (name, value) in form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            match name.as_ref() {
                "expire" => self.expire = Some(value.into_owned()),
                "token" => self.token = Some(value.into_owned()),
                _ => {}
            }
        }
        self
    }
}

/// Why a hook call was refused: the `reason` label of
/// `liveroom_media_publish_refused_total` and the log line's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `LIVEROOM_MEDIA_HOOK_SECRET` is not set: the hooks are off.
    HooksOff,
    /// The hook URL's `secret` is missing or wrong.
    Secret,
    /// The call lacks a field it needs (stream name, client id).
    BadRequest,
    /// The publish URL has no `expire` or no `token`.
    Unsigned,
    /// The token is not the signature of this stream's push URL.
    Signature,
    /// The push URL's `expire` is not in the future.
    Expired,
    /// The publish is to another application than `LIVEROOM_PUBLISH_URL`'s path.
    WrongApp,
    /// No such room (or deleted).
    UnknownRoom,
    /// The room has ended.
    RoomEnded,
    /// The room is created but not live (and publishing does not start it).
    RoomNotLive,
    /// Another stream is publishing into the room.
    Busy,
    /// Redis is unavailable: refused, try again (the media server's publisher
    /// reconnects).
    Unavailable,
}

impl Refusal {
    /// The metric label and log reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::HooksOff => "hooks_off",
            Self::Secret => "secret",
            Self::BadRequest => "bad_request",
            Self::Unsigned => "unsigned",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::WrongApp => "wrong_app",
            Self::UnknownRoom => "unknown_room",
            Self::RoomEnded => "room_ended",
            Self::RoomNotLive => "room_not_live",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
        }
    }

    /// The message of the refusal's envelope.
    pub fn message(self) -> &'static str {
        match self {
            Self::HooksOff => {
                "media hooks are off: set LIVEROOM_MEDIA_HOOK_SECRET and put it in the hook URL"
            }
            Self::Secret => "media hook secret is missing or wrong",
            Self::BadRequest => "publish refused: the hook call has no stream name or client id",
            Self::Unsigned => "publish refused: the push URL has no expire or token",
            Self::Signature => "publish refused: the push URL's token does not match",
            Self::Expired => "publish refused: the push URL has expired",
            Self::WrongApp => "publish refused: not the push URL's application",
            Self::UnknownRoom => "publish refused: no such room",
            Self::RoomEnded => "publish refused: the room has ended",
            Self::RoomNotLive => "publish refused: the room is not live (start it first)",
            Self::Busy => "publish refused: another stream is publishing into this room",
            Self::Unavailable => "storage unavailable, retry later",
        }
    }
}

/// What an accepted call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// A new stream: the anchor is present (the room was started first when it was
    /// created and publishing starts rooms).
    Started,
    /// The stream's presence was renewed.
    Renewed,
    /// The recorded stream stopped: the anchor's absence started.
    Stopped,
    /// A stop of a stream that is not the room's recorded one (refused earlier, or
    /// replaced): nothing to do.
    NotPublishing,
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn unavailable(err: StoreError) -> Refusal {
    tracing::warn!(error = %err, "media hook: storage error");
    Refusal::Unavailable
}

/// Decides one hook call (the secret was checked by the route), logs it and counts
/// it. A refusal writes nothing.
pub async fn run(state: &AppState, call: &HookCall) -> Result<Accepted, Refusal> {
    let result = decide(state, call).await;
    let (room, client, addr, server) = (&call.stream, &call.client, &call.addr, call.server);
    let kind = call.kind.label();
    match result {
        Ok(Accepted::Started) => {
            metrics::counter!(ACCEPTED_TOTAL, "call" => kind).increment(1);
            tracing::info!(room, client, addr, server, "media: publish accepted");
        }
        Ok(Accepted::Renewed) => {
            metrics::counter!(ACCEPTED_TOTAL, "call" => kind).increment(1);
            tracing::debug!(room, client, server, "media: stream renewed");
        }
        Ok(Accepted::Stopped) => {
            metrics::counter!(STOPPED_TOTAL).increment(1);
            tracing::info!(room, client, server, "media: stream stopped");
        }
        Ok(Accepted::NotPublishing) => {
            tracing::debug!(room, client, server, "media: stop of a stream not recorded");
        }
        Err(refusal) => count_refusal(call, refusal),
    }
    result
}

/// Counts and logs a refusal of `call` (also used by the routes for refusals
/// before a call is read: hooks off, wrong secret).
pub fn count_refusal(call: &HookCall, refusal: Refusal) {
    metrics::counter!(REFUSED_TOTAL, "reason" => refusal.reason()).increment(1);
    tracing::warn!(
        reason = refusal.reason(),
        call = call.kind.label(),
        room = call.stream,
        client = call.client,
        addr = call.addr,
        server = call.server,
        "media: publish refused"
    );
}

async fn decide(state: &AppState, call: &HookCall) -> Result<Accepted, Refusal> {
    if call.stream.is_empty() || call.client.is_empty() {
        return Err(Refusal::BadRequest);
    }
    if call.kind == HookKind::Stop {
        if !is_valid_live_id(&call.stream) {
            return Ok(Accepted::NotPublishing);
        }
        let (outcome, _) = state
            .store
            .stream_stop(&call.stream, &call.client)
            .await
            .map_err(unavailable)?;
        return Ok(match outcome {
            StopOutcome::Stopped => Accepted::Stopped,
            StopOutcome::NotFound | StopOutcome::NotPublishing => Accepted::NotPublishing,
        });
    }
    check_url(state, call)?;
    if !is_valid_live_id(&call.stream) {
        return Err(Refusal::UnknownRoom);
    }
    let renew = call.kind == HookKind::Renew;
    let store = &state.store;
    let (mut outcome, anchor) = store
        .stream_presence(&call.stream, &call.client, renew)
        .await
        .map_err(unavailable)?;
    if outcome == StreamOutcome::NotLive && state.media.starts_room && !renew {
        // The anchor's own start (SPEC §5 #3: live, listed, the anchor present),
        // then the stream. The profile exists since the room's creation.
        let anchor = UserRef {
            user_id: anchor,
            nick: String::new(),
            avatar: String::new(),
        };
        match store.start_room(&call.stream, &anchor).await {
            Ok(_) => {}
            Err(StoreError::RoomNotFound) => return Err(Refusal::UnknownRoom),
            Err(StoreError::Ended(_)) => return Err(Refusal::RoomEnded),
            Err(err) => return Err(unavailable(err)),
        }
        tracing::info!(room = call.stream, "media: publish started the room");
        outcome = store
            .stream_presence(&call.stream, &call.client, false)
            .await
            .map_err(unavailable)?
            .0;
    }
    match outcome {
        StreamOutcome::Started => Ok(Accepted::Started),
        StreamOutcome::Renewed => Ok(Accepted::Renewed),
        StreamOutcome::NotFound => Err(Refusal::UnknownRoom),
        StreamOutcome::Ended => Err(Refusal::RoomEnded),
        StreamOutcome::NotLive => Err(Refusal::RoomNotLive),
        StreamOutcome::Busy => Err(Refusal::Busy),
    }
}

/// The push URL's checks (SPEC §8): `expire` and `token` present, the token the
/// signature of this stream's URL, the application `LIVEROOM_PUBLISH_URL`'s path,
/// and (for a publish) `expire` in the future by this replica's clock. A renewal
/// keeps a stream accepted before its URL expired.
fn check_url(state: &AppState, call: &HookCall) -> Result<(), Refusal> {
    let (Some(expire), Some(token)) = (call.expire.as_deref(), call.token.as_deref()) else {
        return Err(Refusal::Unsigned);
    };
    if expire.is_empty() || !expire.bytes().all(|b| b.is_ascii_digit()) || expire.len() > 18 {
        return Err(Refusal::Signature);
    }
    if !state.urls.verify_push_token(&call.stream, expire, token) {
        return Err(Refusal::Signature);
    }
    let app = publish_app(&state.urls.publish_url);
    if !call.app.is_empty() && !app.is_empty() && call.app != app {
        return Err(Refusal::WrongApp);
    }
    let expire: i64 = expire.parse().map_err(|_| Refusal::Signature)?;
    if call.kind == HookKind::Publish && expire <= now_s() {
        return Err(Refusal::Expired);
    }
    Ok(())
}

/// The application a push URL publishes to: the path of `publish_url` without its
/// slashes (`rtmp://host:1935/live` → `live`; empty when it has no path).
pub fn publish_app(publish_url: &str) -> &str {
    let rest = publish_url
        .split_once("://")
        .map_or(publish_url, |(_, rest)| rest);
    rest.find('/').map_or("", |i| &rest[i..]).trim_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_must_match_exactly() {
        let hooks = MediaHooks::new(Some("0123456789abcdef"), false);
        assert_eq!(hooks.authorize(Some("0123456789abcdef")), Ok(()));
        assert_eq!(
            hooks.authorize(Some("0123456789abcdeF")),
            Err(Refusal::Secret)
        );
        assert_eq!(
            hooks.authorize(Some("0123456789abcde")),
            Err(Refusal::Secret)
        );
        assert_eq!(hooks.authorize(None), Err(Refusal::Secret));
        let off = MediaHooks::new(None, false);
        assert_eq!(off.authorize(Some("x")), Err(Refusal::HooksOff));
        assert_eq!(
            MediaHooks::new(Some(""), false).authorize(Some("")),
            Err(Refusal::HooksOff)
        );
    }

    #[test]
    fn publish_args_are_read_from_a_query() {
        let call = HookCall {
            kind: HookKind::Publish,
            server: "srs",
            app: String::new(),
            stream: "live_a".into(),
            client: "srs:1".into(),
            addr: String::new(),
            expire: None,
            token: None,
        }
        .with_query_args("?expire=1700000000&token=ab-_c%3D&other=1");
        assert_eq!(call.expire.as_deref(), Some("1700000000"));
        assert_eq!(call.token.as_deref(), Some("ab-_c="));
    }

    #[test]
    fn the_app_is_the_publish_urls_path() {
        assert_eq!(publish_app("rtmp://127.0.0.1:1935/live"), "live");
        assert_eq!(publish_app("rtmp://host/live/"), "live");
        assert_eq!(publish_app("rtmp://host/hub/sub"), "hub/sub");
        assert_eq!(publish_app("rtmp://host"), "");
    }
}
