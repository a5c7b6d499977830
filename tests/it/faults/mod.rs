//! Reliability: Redis stalled, restarted, flushed of scripts, connections
//! killed; overload; races between operations. Real redis-server processes only.

mod overload;
mod races;
mod redis;
