//! The member routes (`src/routes/members.rs`), one file per route.

mod heartbeat;
mod join;
mod leave;
mod user_list;
