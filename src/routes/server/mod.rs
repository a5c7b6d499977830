//! The server API (SPEC §11): `/server/…` routes for the application's backend,
//! authenticated with a server token ([`crate::auth::ServerCaller`]) instead of a user
//! token, with the same envelope and error codes as the client routes. One file per
//! area: rooms (`rooms.rs`), members (`members.rs`), kick and ban (`moderation.rs`),
//! client tokens (`tokens.rs`).
//!
//! The server acts on any room: where a store operation checks the anchor, the
//! handler reads the room's anchor first and acts as it (a room's anchor never changes).

pub mod members;
pub mod moderation;
pub mod rooms;
pub mod tokens;

use crate::error::ApiError;

/// Checks a user id given in a body or query (`anchor_id`, `user_id`): 1-64 chars of
/// `[A-Za-z0-9_.:@-]` (SPEC §2). The message names `field`.
pub(crate) fn check_user_id(field: &str, value: &str) -> Result<(), ApiError> {
    if crate::store::is_valid_user_id(value) {
        Ok(())
    } else {
        Err(ApiError::InvalidArgument(format!(
            "{field} must be 1-64 chars of [A-Za-z0-9_.:@-]"
        )))
    }
}
