//! The integration tests of the service: one binary, laid out like the router.
//!
//! Each route has a file under the module of its route file in `src/routes/`
//! (`rooms/start.rs` covers `PUT /client/live/room/{live_id}`, `members/join.rs`
//! covers `POST /client/live/room/user/{live_id}`, …). Tests that span every route
//! live by theme:
//!
//! - `events/`: the room events each state change records (SPEC §10);
//! - `errors/`: bad input, authentication, the error codes, unknown routes;
//! - `envelope`: the envelope and error tables in-process, without a socket;
//! - `hostile`, `properties`: hostile input, by hand and by property;
//! - `openapi`: the served document against real responses;
//! - `ops/`: metrics, probes, request ids, shutdown, a TLS Redis;
//! - `faults/`: Redis stalled, restarted or flushed; overload; races;
//! - `reaper/`: sweeps and the lease across `liveroom serve` processes;
//! - `replicas`: presence across those processes;
//! - `cluster`: Cluster and Sentinel failovers;
//! - `deploy`: the local multi-replica topology behind nginx;
//! - `media/`: the media-server hooks with a real nginx-rtmp and ffmpeg, and SRS's
//!   hook requests;
//! - `webhooks/`: delivery of room events to real receivers, across replicas;
//! - `smoke`: the shortest life cycle;
//! - `sse/`: the client event stream (Server-Sent Events) and its fan-out;
//! - `webhooks_tools`: `liveroom webhooks listen` and `redeliver` as processes, and
//!   the verification snippets of docs/webhooks-verify.md run for real;
//! - `first_use`: `scripts/setup` on a fresh Debian, `scripts/run`'s build, the
//!   README's walk-through.
//!
//! Every test gets the app on a real socket and a real `redis-server` (see
//! [`harness`]); `LIVEROOM_TEST_REDIS=cluster` runs the same tests on a local
//! three-master Redis Cluster instead.

mod harness;

mod envelope;
mod members;
mod rooms;
mod server;
mod users;

mod cluster;
mod deploy;
mod errors;
mod events;
mod faults;
mod first_use;
mod hostile;
mod media;
mod openapi;
mod ops;
mod properties;
mod reaper;
mod replicas;
mod smoke;
mod sse;
mod webhooks;
mod webhooks_tools;
