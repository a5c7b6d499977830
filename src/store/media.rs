//! The media-server hooks' writes (docs/SPEC.md §12 "Media-server hooks"): a stream
//! accepted, renewed or stopped in one room, each one script in the room's slot
//! (`lua/stream_publish.lua`, `lua/stream_stop.lua`), so they run unchanged on one
//! Redis and on Redis Cluster. The scripts decide from the room and write nothing
//! when they refuse. On Cluster with webhooks on, the room's due mark is written
//! first, as before every step that may record an event (`Op::mark_due_first`);
//! a publish into a room that does not exist, has ended or is not live is refused
//! from a read before that mark, so such a refusal writes nothing there either
//! (a `busy` one, decided by Redis's clock in the script, costs one idle mark).
//!
//! **The anchor's presence made by a stream** is written in one place,
//! [`Store::stream_presence`]: the reaper's view of when a room needs a visit (its
//! active index) must learn of every presence write, so it is kept here alone.

use super::scripts::StreamMode;
use super::{Store, StoreError, Topology};

/// How `stream_publish.lua` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOutcome {
    /// A new stream: recorded (`stream_started`), the anchor present.
    Started,
    /// The same client's stream, renewed: the anchor's presence refreshed.
    Renewed,
    /// No such room (or deleted). Nothing written.
    NotFound,
    /// The room has ended. Nothing written.
    Ended,
    /// The room is not live (created, not started). Nothing written.
    NotLive,
    /// Another client's stream is publishing into the room. Nothing written.
    Busy,
}

/// How `stream_stop.lua` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// The stream's fields cleared, `stream_stopped` recorded, the anchor absent.
    Stopped,
    /// No such room. Nothing written.
    NotFound,
    /// No stream of this client is recorded (another's, or none). Nothing written.
    NotPublishing,
}

/// The script's `{ outcome, anchor }` reply.
fn split(reply: Vec<String>) -> Result<(String, String), StoreError> {
    let mut it = reply.into_iter();
    match (it.next(), it.next()) {
        (Some(outcome), Some(anchor)) => Ok((outcome, anchor)),
        _ => Err(StoreError::Internal(
            "stream script: reply is not { outcome, anchor }".into(),
        )),
    }
}

impl Store {
    /// The stream of media-server client `client` in room `live_id` is published
    /// (`renew` false: `on_publish`) or still publishing (`renew` true: nginx-rtmp
    /// `on_update`, SRS `on_hls`): on acceptance the anchor is present, its score
    /// now (as a join or a heartbeat would make it), and the stream reads as
    /// publishing for one member timeout (`stream_until_ms`). The one place a
    /// stream writes presence. Returns the outcome and the room's anchor (empty
    /// when the room does not exist). Errors: Redis unavailable.
    pub async fn stream_presence(
        &self,
        live_id: &str,
        client: &str,
        renew: bool,
    ) -> Result<(StreamOutcome, String), StoreError> {
        let op = self.op(if renew {
            "stream_renew"
        } else {
            "stream_publish"
        });
        let rk = self.keys.room(live_id);
        let mode = if renew {
            StreamMode::Renew
        } else {
            StreamMode::Publish
        };
        if self.webhook_marks && self.topology == Topology::Cluster {
            let (anchor, status) = op.anchor_and_status(live_id).await?;
            match (anchor, status) {
                (None, _) => return Ok((StreamOutcome::NotFound, String::new())),
                (Some(anchor), Some(2)) => return Ok((StreamOutcome::Ended, anchor)),
                (Some(anchor), status) if status != Some(1) => {
                    return Ok((StreamOutcome::NotLive, anchor));
                }
                _ => {}
            }
        }
        op.mark_due_first(live_id).await?;
        let call = self.scripts.stream_publish(
            &rk,
            mode,
            client,
            self.member_timeout_ms,
            self.marks_arg(),
        );
        let (outcome, anchor) = split(op.script(call).await?)?;
        let outcome = match outcome.as_str() {
            "started" => StreamOutcome::Started,
            "renewed" => StreamOutcome::Renewed,
            "not_found" => StreamOutcome::NotFound,
            "ended" => StreamOutcome::Ended,
            "not_live" => StreamOutcome::NotLive,
            "busy" => StreamOutcome::Busy,
            other => {
                return Err(StoreError::Internal(format!(
                    "stream_publish.lua: unexpected {other:?}"
                )));
            }
        };
        if outcome == StreamOutcome::Started {
            // A live room is listed already (start lists it); listing it again at a
            // new stream keeps the reaper visiting it should an index step have been
            // lost. Renewals skip it: no `{global}` write every few seconds a stream.
            op.mark_active(live_id).await?;
        }
        Ok((outcome, anchor))
    }

    /// The stream of `client` in room `live_id` stopped (nginx-rtmp
    /// `on_publish_done`, SRS `on_unpublish`): when it is the recorded stream, its
    /// fields go, `stream_stopped` is recorded and the anchor's absence starts now
    /// (member_left `stream_stopped`, anchor_offline), as a leave. Returns the
    /// outcome and the room's anchor. Errors: Redis unavailable.
    pub async fn stream_stop(
        &self,
        live_id: &str,
        client: &str,
    ) -> Result<(StopOutcome, String), StoreError> {
        let op = self.op("stream_stop");
        let rk = self.keys.room(live_id);
        op.mark_due_first(live_id).await?;
        let call = self
            .scripts
            .stream_stop(&rk, client, self.member_timeout_ms, self.marks_arg());
        let (outcome, anchor) = split(op.script(call).await?)?;
        let outcome = match outcome.as_str() {
            "stopped" => StopOutcome::Stopped,
            "not_found" => StopOutcome::NotFound,
            "not_publishing" => StopOutcome::NotPublishing,
            other => {
                return Err(StoreError::Internal(format!(
                    "stream_stop.lua: unexpected {other:?}"
                )));
            }
        };
        Ok((outcome, anchor))
    }
}
