//! One Redis connection type for the three deployments liveroom runs on (issue #7),
//! chosen by configuration only (`LIVEROOM_REDIS_MODE`):
//!
//! | mode | `LIVEROOM_REDIS_URL` | connection |
//! |------|----------------------|------------|
//! | `standalone` | one `redis://` or `rediss://` URL | redis-rs [`ConnectionManager`] (multiplexed, reconnects) |
//! | `cluster` | one or more seed node URLs, comma-separated | redis-rs [`ClusterConnection`] (slot routing, `MOVED`/`ASK`, topology refresh on failover) |
//! | `sentinel` | the sentinels' URLs, comma-separated, + `LIVEROOM_REDIS_SENTINEL_MASTER` | a deadpool-redis sentinel pool (every new connection asks the sentinels for the current master) |
//!
//! All routing is the libraries'; this module only picks one and forwards commands.
//! Every room script touches a single hash slot, so the same scripts run on all three.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

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
    /// Redis Sentinel: a pool of connections to the current master, and the
    /// per-command timeout (the pool has none of its own).
    Sentinel(deadpool_redis::sentinel::Pool, Duration),
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
                use deadpool_redis::sentinel::{Config, Runtime, SentinelServerType};
                let mut config = Config::from_urls(
                    target.urls.clone(),
                    target.sentinel_master.clone(),
                    SentinelServerType::Master,
                )
                .with_node_connection_info(Some(data_node_info(&target.urls[0])?));
                let mut pool = deadpool_redis::PoolConfig::new(16);
                pool.timeouts.wait = Some(timeout);
                pool.timeouts.create = Some(timeout);
                pool.timeouts.recycle = Some(timeout);
                config.pool = Some(pool);
                let pool = config
                    .create_pool(Some(Runtime::Tokio1))
                    .map_err(|e| io_error(format!("sentinel pool: {e}")))?;
                let this = Self::Sentinel(pool, timeout);
                // Fail at start-up, not at the first request, when no master is known.
                redis::cmd("PING")
                    .query_async::<()>(&mut this.clone())
                    .await?;
                Ok(this)
            }
        }
    }

    /// The deployment kind.
    pub fn mode(&self) -> RedisMode {
        match self {
            Self::Standalone(_) => RedisMode::Standalone,
            Self::Cluster(_) => RedisMode::Cluster,
            Self::Sentinel(..) => RedisMode::Sentinel,
        }
    }
}

/// Sentinel: the master is reached with the first sentinel URL's user, password,
/// database and TLS (`rediss://`, `#insecure`), the way the sentinels are.
fn data_node_info(url: &str) -> RedisResult<deadpool_redis::sentinel::SentinelNodeConnectionInfo> {
    use deadpool_redis::sentinel::{SentinelNodeConnectionInfo, TlsMode};
    use redis::IntoConnectionInfo;
    let info = url.into_connection_info()?;
    let settings = info.redis_settings();
    let tls_mode = url.starts_with("rediss://").then(|| {
        if url.ends_with("#insecure") {
            TlsMode::Insecure
        } else {
            TlsMode::Secure
        }
    });
    Ok(SentinelNodeConnectionInfo {
        tls_mode,
        redis_connection_info: Some(deadpool_redis::RedisConnectionInfo {
            db: settings.db(),
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            protocol: Default::default(),
        }),
    })
}

fn io_error(message: String) -> RedisError {
    RedisError::from(std::io::Error::other(message))
}

async fn sentinel_connection(
    pool: &deadpool_redis::sentinel::Pool,
) -> RedisResult<deadpool_redis::sentinel::Connection> {
    pool.get().await.map_err(|e| match e {
        deadpool_redis::sentinel::PoolError::Backend(e) => e,
        other => io_error(format!("sentinel pool: {other}")),
    })
}

/// The pooled connection still talks to a server that is no longer the master
/// (demoted by a failover): `READONLY` or `MASTERDOWN`. Nothing ran, so the command
/// may be sent again on a fresh connection, which asks the sentinels for the master.
fn stale_master(err: &RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    matches!(
        err.kind(),
        ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
    )
}

/// The same, for a reply: redis-rs hands server errors back as
/// `Value::ServerError` and turns them into `Err` only when the reply is parsed.
fn stale_master_value(value: &Value) -> bool {
    use redis::ServerErrorKind;
    matches!(value, Value::ServerError(e)
        if matches!(e.kind(), Some(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)))
}

fn replied_stale_master(reply: &RedisResult<Value>) -> bool {
    match reply {
        Ok(value) => stale_master_value(value),
        Err(e) => stale_master(e),
    }
}

/// Drops a pooled connection instead of returning it to the pool.
fn discard(conn: deadpool_redis::sentinel::Connection) {
    drop(deadpool_redis::sentinel::Connection::take(conn));
}

async fn within<T>(
    timeout: Duration,
    work: impl std::future::Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(RedisError::from(std::io::Error::from(
                std::io::ErrorKind::TimedOut,
            )))
        })
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Sentinel(pool, timeout) => {
                let (pool, timeout) = (pool.clone(), *timeout);
                Box::pin(within(timeout, async move {
                    let mut attempts = 0;
                    loop {
                        let mut conn = sentinel_connection(&pool).await?;
                        let reply = conn.req_packed_command(cmd).await;
                        if replied_stale_master(&reply) {
                            // Every idle connection went to the same old master.
                            discard(conn);
                            pool.retain(|_, _| false);
                            attempts += 1;
                            if attempts < 3 {
                                continue;
                            }
                        } else if let Err(e) = &reply
                            && (e.is_unrecoverable_error() || e.is_connection_dropped())
                        {
                            discard(conn);
                        }
                        return reply;
                    }
                }))
            }
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
            Self::Sentinel(pool, timeout) => {
                let (pool, timeout) = (pool.clone(), *timeout);
                Box::pin(within(timeout, async move {
                    let mut conn = sentinel_connection(&pool).await?;
                    let result = conn.req_packed_commands(pipeline, offset, count).await;
                    let stale = match &result {
                        Ok(values) => values.iter().any(stale_master_value),
                        Err(e) => stale_master(e),
                    };
                    if stale {
                        discard(conn);
                        pool.retain(|_, _| false);
                    } else if let Err(e) = &result
                        && (e.is_unrecoverable_error() || e.is_connection_dropped())
                    {
                        discard(conn);
                    }
                    result
                }))
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Sentinel(..) => 0,
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
    fn sentinel_data_nodes_get_the_first_urls_credentials() {
        let info = data_node_info("rediss://app:pw@s1:26379/2#insecure").unwrap();
        let redis = info.redis_connection_info.unwrap();
        assert_eq!(
            (
                redis.db,
                redis.username.as_deref(),
                redis.password.as_deref()
            ),
            (2, Some("app"), Some("pw"))
        );
        assert!(matches!(
            info.tls_mode,
            Some(deadpool_redis::sentinel::TlsMode::Insecure)
        ));
        let plain = data_node_info("redis://s1:26379").unwrap();
        assert!(plain.tls_mode.is_none());
        assert_eq!(plain.redis_connection_info.unwrap().password, None);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://u:pw@h:1"), "redis://***@h:1");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        let t = RedisTarget::parse(RedisMode::Cluster, "redis://:pw@a,redis://b", "").unwrap();
        assert_eq!(t.redacted(), "cluster redis://***@a,redis://b");
    }
}
