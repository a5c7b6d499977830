//! Redis storage (docs/DESIGN.md "Store"): the key layout ([`keys`]), the Lua
//! scripts of `lua/` with one typed wrapper each (`scripts.rs`, replies in
//! `replies.rs`), and the operations, one concern a file: rooms (`rooms/`),
//! presence (`presence/`), lists and search (`index.rs`), profiles
//! (`profiles.rs`), the reaper's lease and sweep steps (`lease.rs`), reading a
//! room's event stream (`events.rs`), kick and ban (`moderation.rs`), the
//! media-server hooks' streams (`media.rs`).
//!
//! **One way to Redis.** Every script call and every plain command goes through
//! [`Op::send`], which times it by name (`liveroom_redis_command_duration_seconds`,
//! labels `command` = script or command name and `operation` = the store operation
//! and its strategy, e.g. `join.cluster`), counts its errors and turns Redis errors
//! into [`StoreError`]s.
//!
//! **One Redis or Cluster.** On one Redis (standalone or Sentinel) a join, a start
//! and a leave are one atomic script each (`join_room.lua`, `start_room.lua`,
//! `leave_room.lua`): the user is never present in two rooms, not even for an
//! instant (docs/DESIGN.md invariant 2). On Redis Cluster a user's key, two rooms
//! and the indexes sit in different slots, so these are ordered single-slot steps
//! (`presence/cluster.rs`, `rooms/cluster.rs`). Each operation chooses once, in its
//! public function, between its `single` and `cluster` strategy ([`Topology`]).
//!
//! **Steps that span slots** (create, stop, delete and the reaper on every
//! deployment; join, start and leave on Cluster) are each idempotent and ordered so
//! a retried request finishes what a failed one started, and run on a task of their
//! own ([`Store::to_completion`]): a request dropped halfway (client gone) still
//! runs every step.

pub mod dead_letters;
pub mod error;
mod events;
mod index;
pub mod keys;
mod lease;
mod media;
mod moderation;
mod presence;
mod profiles;
mod replies;
mod rooms;
mod scripts;
mod server;
mod timer;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use redis::{FromRedisValue, ServerErrorKind, ToRedisArgs};

use crate::redis_conn::{RedisConn, RedisMode, RedisTarget};

pub use error::{Action, StoreError};
pub use index::{Candidate, LIVE_BIT, PageFrom, PageRequest, RoomIndex};
pub use keys::{Keys, RoomKeys, is_valid_live_id, is_valid_user_id};
pub use lease::{DuePage, Listed, RoomSweep};
pub use media::{StopOutcome, StreamOutcome};
pub use moderation::{Kicked, ServerNote};
pub use profiles::{MAX_EXTENDS_KEYS, Profile, ProfileUpdate, UserRef, parse_extends};
pub use replies::{MemberView, RawRoom, ScoredPage};
pub use rooms::{NewRoom, RoomPatch};
pub use server::ListedRoom;
pub use webhooks::{DEAD_LETTERS_MAXLEN, DueRoom, RetryState, StreamGap};

use replies::ScriptReply;
use scripts::{ScriptCall, Scripts};
use timer::RedisTimer;

/// Which strategy the multi-slot operations take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One Redis (standalone or Sentinel): one atomic script per join, start, leave.
    Single,
    /// Redis Cluster: ordered single-slot steps.
    Cluster,
}

/// The Redis side of liveroom: one multiplexed, auto-reconnecting connection and the
/// scripts. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: RedisConn,
    keys: Keys,
    scripts: Arc<Scripts>,
    member_timeout_ms: u64,
    topology: Topology,
    /// Whether writes mark rooms due for webhook delivery ([`Store::with_webhook_marks`]).
    webhook_marks: bool,
}

/// A plain Redis command and its name (the `command` metric label).
pub(crate) struct Command {
    name: &'static str,
    cmd: redis::Cmd,
}

/// Starts the command `name` (`"SCRIPT LOAD"`: its words are its first arguments).
pub(crate) fn command(name: &'static str) -> Command {
    let mut words = name.split(' ');
    let mut cmd = redis::cmd(words.next().unwrap_or(name));
    for word in words {
        cmd.arg(word);
    }
    Command { name, cmd }
}

impl Command {
    /// Adds an argument.
    pub(crate) fn arg(mut self, arg: impl ToRedisArgs) -> Self {
        self.cmd.arg(arg);
        self
    }
}

/// What [`Op::send`] sends: a script invocation or a plain command.
enum Request<'a> {
    Script(&'a scripts::Invocation<'a>),
    Command(&'a redis::Cmd),
}

/// A store operation under way: the Redis calls it makes are labelled with its name
/// and strategy (`operation`, e.g. `join.single`, `join.cluster`, `sweep`).
#[derive(Clone, Copy)]
pub(crate) struct Op<'a> {
    store: &'a Store,
    name: &'static str,
}

impl Op<'_> {
    /// Runs a script and reads its typed reply; a refusal becomes its [`StoreError`].
    pub(crate) async fn script<R: ScriptReply>(
        &self,
        call: ScriptCall<'_, R>,
    ) -> Result<R::Ok, StoreError> {
        let reply: R = self
            .send(call.name, Request::Script(&call.invocation))
            .await?;
        reply.into_result(call.name, call.action)
    }

    /// Runs a plain command.
    pub(crate) async fn command<T: FromRedisValue>(
        &self,
        command: Command,
    ) -> Result<T, StoreError> {
        self.send(command.name, Request::Command(&command.cmd))
            .await
    }

    /// The one way to Redis: sends `request`, timing it as `name` within this
    /// operation (`liveroom_redis_command_*`). A script call is `EVALSHA`; one that
    /// finds its script missing from the node's cache (`NOSCRIPT`: nothing ran) is sent
    /// once more as `EVAL` with the script's body, which cannot find it missing. Redis errors become
    /// [`StoreError::Unavailable`] (retry later) or [`StoreError::Internal`].
    async fn send<T: FromRedisValue>(
        &self,
        name: &'static str,
        request: Request<'_>,
    ) -> Result<T, StoreError> {
        let timer = RedisTimer::start(name, self.name);
        let mut conn = self.store.conn.clone();
        let result = match request {
            Request::Command(cmd) => cmd.query_async(&mut conn).await,
            Request::Script(invocation) => {
                let result = invocation.evalsha().query_async(&mut conn).await;
                match result {
                    Err(e) if e.kind() == redis::ErrorKind::Server(ServerErrorKind::NoScript) => {
                        invocation.eval().query_async(&mut conn).await
                    }
                    other => other,
                }
            }
        };
        timer.finish(result.is_err());
        result.map_err(StoreError::from)
    }
}

impl Store {
    /// Connects to one Redis server at `url` (see [`Store::connect_to`]).
    pub async fn connect(
        url: &str,
        prefix: &str,
        member_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        Self::connect_to(
            &RedisTarget::standalone(url),
            prefix,
            member_timeout,
            timeout,
        )
        .await
    }

    /// Connects to `target` (standalone, cluster or sentinel) with `timeout` on every
    /// command and connection attempt, checks that a standalone server is one, and
    /// preloads every script (on every master). Errors: Redis unreachable
    /// ([`StoreError::Unavailable`]) or the wrong kind of server (`Internal`, naming
    /// the setting to change).
    pub async fn connect_to(
        target: &RedisTarget,
        prefix: &str,
        member_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let conn = RedisConn::connect(target, timeout).await?;
        let store = Self {
            topology: match conn.mode() {
                RedisMode::Cluster => Topology::Cluster,
                RedisMode::Standalone | RedisMode::Sentinel => Topology::Single,
            },
            conn,
            keys: Keys::new(prefix),
            scripts: Arc::new(Scripts::new()),
            member_timeout_ms: member_timeout.as_millis() as u64,
            webhook_marks: false,
        };
        if target.mode == RedisMode::Standalone {
            store.check_standalone().await?;
        }
        store.load_scripts().await?;
        Ok(store)
    }

    /// This store with webhook due marks on or off (off by default). On, every write
    /// that may record a room event also marks the room due in its webhook shard
    /// (`{p}:{webhooks:n}:due`), no later than the event: on one Redis inside the
    /// same script (the scripts' last ARGV, `WEBHOOK_MARKS` in `lua/lib.lua`), on
    /// Redis Cluster with `lua/webhook_mark.lua` just before the step (see
    /// `src/webhooks/deliver.rs`). `liveroom serve` turns it on when
    /// `LIVEROOM_WEBHOOK_URLS` is set.
    pub fn with_webhook_marks(mut self, on: bool) -> Self {
        self.webhook_marks = on;
        self
    }

    /// This store taking the Redis Cluster's ordered single-slot steps on any Redis
    /// (each step is a valid script on one Redis too). For tests that drive the
    /// Cluster's races step by step on one server.
    #[doc(hidden)]
    pub fn with_cluster_steps(mut self) -> Self {
        self.topology = Topology::Cluster;
        self
    }

    /// Whether writes mark rooms due for webhook delivery.
    pub fn webhook_marks(&self) -> bool {
        self.webhook_marks
    }

    /// The recording scripts' last ARGV: the key prefix when they mark rooms due
    /// themselves (webhooks on, one Redis), else `""`.
    pub(crate) fn marks_arg(&self) -> &str {
        if self.webhook_marks && self.topology == Topology::Single {
            self.keys.prefix()
        } else {
            ""
        }
    }

    /// Starts operation `name` (the `operation` label of its Redis calls).
    pub(crate) fn op(&self, name: &'static str) -> Op<'_> {
        Op { store: self, name }
    }

    /// Runs a write of several steps on a task of its own, so it always runs to the
    /// end even when the request is dropped halfway (the client went away): the steps
    /// are ordered to be consistent once they have all run. A panic in it is
    /// [`StoreError::Internal`].
    pub(crate) async fn to_completion<T, F>(work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        tokio::spawn(work)
            .await
            .map_err(|e| StoreError::Internal(format!("store task failed: {e}")))?
    }

    /// Standalone mode: refuses, with the setting to change, a server that is a
    /// cluster node, a sentinel or a replica (each would start, then fail every write).
    async fn check_standalone(&self) -> Result<(), StoreError> {
        // Managed services may refuse INFO: then there is nothing to check.
        let Ok(info) = self.op("connect").command::<String>(command("INFO")).await else {
            return Ok(());
        };
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let problem = if field("cluster_enabled") == Some("1") {
            "it is a Redis Cluster node: set LIVEROOM_REDIS_MODE=cluster"
        } else if field("redis_mode") == Some("sentinel") {
            "it is a Sentinel: set LIVEROOM_REDIS_MODE=sentinel and LIVEROOM_REDIS_SENTINEL_MASTER"
        } else if field("role") == Some("slave") {
            "it is a read-only replica: point LIVEROOM_REDIS_URL at the master (or use sentinel mode)"
        } else {
            return Ok(());
        };
        Err(StoreError::Internal(format!(
            "LIVEROOM_REDIS_MODE is standalone but {problem}"
        )))
    }

    /// Loads every script into Redis's script cache (start-up and readiness).
    pub async fn load_scripts(&self) -> Result<(), StoreError> {
        let op = self.op("ready");
        for (_, body, _) in self.scripts.all() {
            op.command::<String>(command("SCRIPT LOAD").arg(body))
                .await?;
        }
        Ok(())
    }

    /// Readiness: Redis answers and every script is in its cache; scripts found
    /// missing (e.g. after a Redis restart or failover) are loaded again.
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        let all = self.scripts.all();
        let shas: Vec<&str> = all.iter().map(|(_, _, s)| s.get_hash()).collect();
        let loaded: Vec<bool> = self
            .op("ready")
            .command(command("SCRIPT EXISTS").arg(&shas))
            .await?;
        if loaded.iter().any(|l| !l) {
            tracing::info!("scripts missing from Redis's cache: loading them again");
            self.load_scripts().await?;
        }
        Ok(())
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.op("ready").command(command("PING")).await
    }

    /// The key layout.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The strategy of the multi-slot operations (Cluster or one Redis).
    pub fn topology(&self) -> Topology {
        self.topology
    }

    /// A clone of the connection, for tests and tools (its commands are not timed).
    pub fn connection(&self) -> RedisConn {
        self.conn.clone()
    }
}

/// A private `redis-server` and a plain connection to it, for the store's unit tests
/// of the scripts themselves.
#[cfg(test)]
pub(crate) fn test_redis() -> (crate::redis_child::RedisChild, redis::Connection) {
    let redis = crate::redis_child::RedisChild::start(&[]).expect("redis-server");
    let conn = redis::Client::open(redis.url())
        .and_then(|c| c.get_connection())
        .expect("connection");
    (redis, conn)
}
