//! One Redis connection type for the three deployments liveroom runs on
//! chosen by configuration only (`LIVEROOM_REDIS_MODE`):
//!
//! | mode | `LIVEROOM_REDIS_URL` | connection |
//! |------|----------------------|------------|
//! | `standalone` | one `redis://` or `rediss://` URL | redis-rs [`ConnectionManager`] (multiplexed, reconnects) |
//! | `cluster` | one or more seed node URLs, comma-separated | redis-rs [`ClusterConnection`] (slot routing, `MOVED`/`ASK`, topology refresh on failover) |
//! | `sentinel` | the sentinels' URLs, comma-separated, + `LIVEROOM_REDIS_SENTINEL_MASTER` | redis-rs's `SentinelClient` (asks the sentinels for the master and checks its role) behind [`SentinelConn`], which follows the master when it moves |
//!
//! All routing is the libraries'; this module only picks one and forwards commands.
//! Every room script touches a single hash slot, so the same scripts run on all three.

mod sentinel;

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

pub use sentinel::{SENTINEL_POLL, SentinelConn};

/// Which kind of Redis deployment `LIVEROOM_REDIS_URL` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RedisMode {
    /// One Redis server (or a managed endpoint that looks like one).
    #[default]
    Standalone,
    /// Redis Cluster: the URLs are seed nodes; the client discovers the rest.
    Cluster,
    /// Redis Sentinel: the URLs are sentinels; the master is looked up by name.
    Sentinel,
}

impl RedisMode {
    /// The mode's name as written in `LIVEROOM_REDIS_MODE`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Standalone => "standalone",
            Self::Cluster => "cluster",
            Self::Sentinel => "sentinel",
        }
    }
}

/// Where Redis is: the mode, its URLs and (sentinel) the master's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTarget {
    /// Deployment kind.
    pub mode: RedisMode,
    /// Standalone: exactly one URL. Cluster: seed nodes. Sentinel: sentinels.
    pub urls: Vec<String>,
    /// Sentinel only: the monitored master's name (`sentinel monitor <name> …`).
    pub sentinel_master: String,
}

impl RedisTarget {
    /// A single server at `url`.
    pub fn standalone(url: impl Into<String>) -> Self {
        Self {
            mode: RedisMode::Standalone,
            urls: vec![url.into()],
            sentinel_master: String::new(),
        }
    }

    /// Parses a comma-separated URL list for `mode`.
    ///
    /// Errors (naming the setting): no URL; more than one URL in standalone mode; a
    /// URL that is not `redis://` / `rediss://`; sentinel mode without a master name.
    pub fn parse(mode: RedisMode, urls: &str, sentinel_master: &str) -> Result<Self, String> {
        let list: Vec<String> = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        if list.is_empty() {
            return Err("LIVEROOM_REDIS_URL: no URL given".into());
        }
        for url in &list {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(format!(
                    "LIVEROOM_REDIS_URL: {:?} is not a redis:// or rediss:// URL",
                    redact(url)
                ));
            }
        }
        if mode == RedisMode::Standalone && list.len() > 1 {
            return Err(format!(
                "LIVEROOM_REDIS_URL: {} URLs given in standalone mode; set LIVEROOM_REDIS_MODE=cluster or sentinel",
                list.len()
            ));
        }
        if mode == RedisMode::Sentinel && sentinel_master.trim().is_empty() {
            return Err("LIVEROOM_REDIS_SENTINEL_MASTER: empty in sentinel mode".into());
        }
        Ok(Self {
            mode,
            urls: list,
            sentinel_master: sentinel_master.trim().to_owned(),
        })
    }

    /// The URLs with any password replaced by `***`, for logs and errors.
    pub fn redacted(&self) -> String {
        let urls: Vec<String> = self.urls.iter().map(|u| redact(u)).collect();
        match self.mode {
            RedisMode::Sentinel => format!(
                "sentinel {} (master {:?})",
                urls.join(","),
                self.sentinel_master
            ),
            mode => format!("{} {}", mode.name(), urls.join(",")),
        }
    }
}

/// `redis://user:secret@host` → `redis://***@host`, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// A connection to whichever deployment was configured. Cheap to clone; every clone
/// shares the underlying multiplexed connection(s) or pool. Implements
/// [`ConnectionLike`], so `redis::Script` and `redis::cmd` work on it unchanged.
#[derive(Clone)]
pub enum RedisConn {
    /// One server.
    Standalone(ConnectionManager),
    /// Redis Cluster.
    Cluster(ClusterConnection),
    /// Redis Sentinel: one multiplexed connection to the master the sentinels name,
    /// replaced when they move it.
    Sentinel(SentinelConn),
}

impl RedisConn {
    /// Connects to `target` with `timeout` on every connection attempt and command.
    /// Errors: the library's (bad URL, unreachable, no master known by the sentinels).
    pub async fn connect(target: &RedisTarget, timeout: Duration) -> RedisResult<Self> {
        // TLS (`rediss://`) uses rustls with the ring provider; installing it twice is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        match target.mode {
            RedisMode::Standalone => {
                let client = redis::Client::open(target.urls[0].as_str())?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_response_timeout(Some(timeout))
                    .set_connection_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                Ok(Self::Standalone(
                    ConnectionManager::new_with_config(client, config).await?,
                ))
            }
            RedisMode::Cluster => {
                let client = redis::cluster::ClusterClientBuilder::new(target.urls.clone())
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(3)
                    .min_retry_wait(50)
                    .max_retry_wait(500)
                    .build()?;
                Ok(Self::Cluster(client.get_async_connection().await?))
            }
            RedisMode::Sentinel => {
                let this = Self::Sentinel(SentinelConn::new(target, timeout)?);
                // Fail at start-up, not at the first request, when no master is known.
                redis::cmd("PING")
                    .query_async::<()>(&mut this.clone())
                    .await
                    .map_err(|e| sentinel::explain_sentinel_error(e, &target.sentinel_master))?;
                Ok(this)
            }
        }
    }

    /// The deployment kind.
    pub fn mode(&self) -> RedisMode {
        match self {
            Self::Standalone(_) => RedisMode::Standalone,
            Self::Cluster(_) => RedisMode::Cluster,
            Self::Sentinel(_) => RedisMode::Sentinel,
        }
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Sentinel(sentinel) => Box::pin(sentinel.clone().send_command(cmd)),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(sentinel) => {
                Box::pin(sentinel.clone().send_pipeline(pipeline, offset, count))
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Sentinel(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_mode() {
        let t = RedisTarget::parse(RedisMode::Standalone, "redis://a:6379", "").unwrap();
        assert_eq!(t.urls, ["redis://a:6379"]);
        let t = RedisTarget::parse(RedisMode::Cluster, "redis://a:1, redis://b:2,", "").unwrap();
        assert_eq!(t.urls, ["redis://a:1", "redis://b:2"]);
        let t = RedisTarget::parse(RedisMode::Sentinel, "redis://s:26379", "mymaster").unwrap();
        assert_eq!(t.sentinel_master, "mymaster");
    }

    #[test]
    fn refuses_bad_settings_naming_them() {
        let e = RedisTarget::parse(RedisMode::Standalone, "redis://a,redis://b", "").unwrap_err();
        assert!(e.contains("LIVEROOM_REDIS_MODE"), "{e}");
        let e = RedisTarget::parse(RedisMode::Cluster, " , ", "").unwrap_err();
        assert!(e.contains("LIVEROOM_REDIS_URL"), "{e}");
        let e = RedisTarget::parse(RedisMode::Cluster, "http://a", "").unwrap_err();
        assert!(e.contains("redis://"), "{e}");
        let e = RedisTarget::parse(RedisMode::Sentinel, "redis://s", " ").unwrap_err();
        assert!(e.contains("LIVEROOM_REDIS_SENTINEL_MASTER"), "{e}");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://u:pw@h:1"), "redis://***@h:1");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        let t = RedisTarget::parse(RedisMode::Cluster, "redis://:pw@a,redis://b", "").unwrap();
        assert_eq!(t.redacted(), "cluster redis://***@a,redis://b");
    }
}
