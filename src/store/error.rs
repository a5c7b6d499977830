//! What a store operation can fail with, in the store's own terms: a refusal decided
//! by a script or a check (the room is missing, ended, not live; the caller is not
//! the anchor or not present; too many extends keys), Redis being unavailable, or a
//! bug. The HTTP status, envelope code and message of each are chosen once, in
//! `impl From<StoreError> for ApiError` (src/error.rs).

/// The operation a refusal was about, so the API can say which rule refused it
/// (e.g. "only the room's anchor may start it").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Join a room (SPEC §5 #8).
    Join,
    /// Start a room (SPEC §5 #3).
    Start,
    /// Stop a room (SPEC §5 #4).
    Stop,
    /// Delete a room (SPEC §5 #5).
    Delete,
    /// Merge keys into a room's extends (SPEC §5 #11).
    UpdateExtends,
}

/// Every way a store operation fails.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The room does not exist (or was deleted).
    #[error("room not found")]
    RoomNotFound,
    /// The room has ended (`live_status` 2), which forbids the action.
    #[error("room has ended ({0:?})")]
    Ended(Action),
    /// The caller is not the room's anchor, which the action requires.
    #[error("not the room's anchor ({0:?})")]
    NotAnchor(Action),
    /// The caller is not present in the room (never joined, left or expired).
    #[error("user is not in this room")]
    NotPresent,
    /// The user is banned from the room until `until_ms` (ms since the epoch, Redis's
    /// clock), SPEC §11: its join is refused.
    #[error("banned from this room")]
    Banned {
        /// When the ban ends, ms since the Unix epoch.
        until_ms: i64,
    },
    /// The member was removed from the room by the server API (SPEC §11): its
    /// heartbeat says so instead of [`StoreError::NotPresent`].
    #[error("removed from this room")]
    Kicked,
    /// Stop of a room that is not live.
    #[error("room is not live")]
    NotLive,
    /// Create with a `live_id` that already exists (ids are random: a bug or a
    /// collision, never the caller's doing).
    #[error("room id already taken")]
    IdTaken,
    /// Extends would have more than [`crate::store::MAX_EXTENDS_KEYS`] keys (SPEC §7).
    #[error("too many extends keys")]
    TooManyExtendsKeys,
    /// Redis is unavailable, failing over or timed out: retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A bug: a Redis error that retrying cannot fix, a malformed script reply, a
    /// refusal a script should never return, a failed store task.
    #[error("{0}")]
    Internal(String),
}

impl From<redis::RedisError> for StoreError {
    fn from(err: redis::RedisError) -> Self {
        use redis::{ErrorKind, ServerErrorKind};
        // A failover in progress: the node is a replica now, its master is down, the
        // cluster is re-electing or moving slots, the sentinels know no live master
        // yet, or the node is loading its data. Retry later.
        let failing_over = matches!(
            err.kind(),
            ErrorKind::Server(
                ServerErrorKind::ReadOnly
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::BusyLoading
                    | ServerErrorKind::Moved
                    | ServerErrorKind::Ask
            ) | ErrorKind::ClusterConnectionNotFound
                | ErrorKind::MasterNameNotFoundBySentinel
                | ErrorKind::NoValidReplicasFoundBySentinel
        );
        // `min-replicas-to-write` not met: the master refuses writes until a replica
        // is back, a failover-time condition too.
        // Also a capacity condition: out of memory, or a script still running.
        let no_replicas = matches!(err.code(), Some("NOREPLICAS" | "OOM" | "BUSY"));
        if failing_over
            || no_replicas
            || err.is_timeout()
            || err.is_connection_dropped()
            || err.is_connection_refusal()
            || err.is_io_error()
            || err.is_unrecoverable_error()
        {
            Self::Unavailable(err.to_string())
        } else {
            Self::Internal(format!("redis: {err}"))
        }
    }
}
