//! HTTP routes: the twelve room endpoints of SPEC §5, the stop alias, the profile
//! endpoints of SPEC §3, and the probes. One handler per endpoint.

pub mod members;
pub mod probes;
pub mod rooms;
pub mod users;
