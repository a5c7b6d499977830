//! HTTP routes: the twelve room endpoints of SPEC §5, the stop alias, the profile
//! endpoints of SPEC §3, the server API of SPEC §11 (`server/`), the media-server
//! hooks of SPEC §12 (`media.rs`), and the probes. One
//! handler per endpoint, each with its OpenAPI operation (`#[utoipa::path]`, collected
//! by [`crate::router`]).

pub mod events;
pub mod media;
pub mod members;
pub mod probes;
pub mod rooms;
pub mod server;
pub mod users;
pub mod views;
