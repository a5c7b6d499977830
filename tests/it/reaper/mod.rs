//! The reaper across replicas (issue #3): real `liveroom serve` processes against one
//! real `redis-server`, with short timeouts.

mod lease;
mod sweep;
