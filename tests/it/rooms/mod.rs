//! The room routes (`src/routes/rooms.rs`), one file per route.

mod create;
mod delete;
mod extends;
mod info;
mod list;
mod search;
mod start;
mod stop;
