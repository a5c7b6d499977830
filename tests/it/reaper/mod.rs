//! The reaper across replicas: real `liveroom serve` processes against one
//! real `redis-server`, with short timeouts.

mod index;
mod lease;
mod partitions;
mod sweep;
