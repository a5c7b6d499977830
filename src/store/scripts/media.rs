//! Wrappers of the media-server hook scripts (docs/SPEC.md §12), in a room's slot:
//! `stream_publish.lua`, `stream_stop.lua`. Both answer `{ outcome, anchor }` as
//! plain strings (read by `store::media`).

use super::{ScriptCall, Scripts, call};
use crate::store::keys::RoomKeys;

/// What `stream_publish.lua` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamMode {
    /// A media server's `on_publish`.
    Publish,
    /// A renewal (nginx-rtmp `on_update`, SRS `on_hls`).
    Renew,
}

impl Scripts {
    /// `stream_publish.lua`: accept (or renew) the stream of `client` in the room.
    pub(crate) fn stream_publish(
        &self,
        rk: &RoomKeys,
        mode: StreamMode,
        client: &str,
        timeout_ms: u64,
        marks: &str,
    ) -> ScriptCall<'_, Vec<String>> {
        let mut c = call("stream_publish", None, &self.stream_publish);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.events)
            .arg(match mode {
                StreamMode::Publish => "publish",
                StreamMode::Renew => "renew",
            })
            .arg(client)
            .arg(timeout_ms)
            .arg(marks);
        c
    }

    /// `stream_stop.lua`: the stream of `client` stopped.
    pub(crate) fn stream_stop(
        &self,
        rk: &RoomKeys,
        client: &str,
        timeout_ms: u64,
        marks: &str,
    ) -> ScriptCall<'_, Vec<String>> {
        let mut c = call("stream_stop", None, &self.stream_stop);
        c.invocation
            .key(&rk.room)
            .key(&rk.presence)
            .key(&rk.joined)
            .key(&rk.events)
            .arg(client)
            .arg(timeout_ms)
            .arg(marks);
        c
    }
}
