//! Sentinel mode: a connection to the master a set of sentinels names, which follows
//! the master when it moves (see [`SentinelConn`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisError, RedisResult, Value};

use super::RedisTarget;

/// How often the sentinels are asked where the master is (Sentinel mode).
pub const SENTINEL_POLL: Duration = Duration::from_millis(250);

/// A connection to the master a set of sentinels names (Sentinel mode). Cheap to
/// clone. The master is looked up (and its role checked) by redis-rs's
/// `SentinelClient`; the connection is one multiplexed redis-rs connection, dropped
/// and looked up again when a command finds the server is no longer the master
/// (`READONLY`, `MASTERDOWN`) or the connection broke, and when a watcher that asks
/// the sentinels every [`SENTINEL_POLL`] sees the master move: after a failover the
/// old master keeps accepting writes until the sentinels demote it (seconds later),
/// and writes sent there in the meantime would be lost.
#[derive(Clone)]
pub struct SentinelConn(Arc<SentinelShared>);

struct SentinelShared {
    /// redis-rs's master lookup, over the sentinels in the order it was built with.
    lookup: tokio::sync::Mutex<(Vec<String>, redis::sentinel::SentinelClient)>,
    /// The sentinels' URLs as configured (without a database).
    sentinels: Vec<String>,
    /// The master's name (`LIVEROOM_REDIS_SENTINEL_MASTER`).
    name: String,
    /// How the master is reached (credentials, database, TLS).
    node: redis::sentinel::SentinelNodeConnectionInfo,
    /// The master's address and the connection to it.
    current: Mutex<Option<((String, u16), redis::aio::MultiplexedConnection)>>,
    config: redis::AsyncConnectionConfig,
    timeout: Duration,
}

impl SentinelConn {
    pub(super) fn new(target: &RedisTarget, timeout: Duration) -> RedisResult<Self> {
        // Sentinels have no databases: the URLs' database is the master's.
        let sentinels: Vec<String> = target.urls.iter().map(|u| without_db(u)).collect();
        let node = data_node_info(&target.urls[0])?;
        let lookup = sentinel_lookup(&sentinels, &target.sentinel_master, &node)?;
        let this = Self(Arc::new(SentinelShared {
            lookup: tokio::sync::Mutex::new((sentinels.clone(), lookup)),
            sentinels,
            name: target.sentinel_master.clone(),
            node,
            current: Mutex::new(None),
            config: redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout)),
            timeout,
        }));
        tokio::spawn(watch_master(Arc::downgrade(&this.0)));
        Ok(this)
    }

    /// The connection to the current master, looked up when there is none.
    ///
    /// redis-rs's lookup takes the first sentinel, in the order it was built with,
    /// whose named master answers `ROLE` as a master. A sentinel that has not yet
    /// heard of a failover names the old master, which answers as a master until it
    /// is demoted, so every lookup first asks all sentinels and puts those that
    /// agree with a majority first (URL order when there is no majority).
    async fn connection(&self) -> RedisResult<redis::aio::MultiplexedConnection> {
        if let Some((_, conn)) = self.current() {
            return Ok(conn);
        }
        let mut lookup = self.0.lookup.lock().await;
        // Another request may have connected while this one waited for the lock.
        if let Some((_, conn)) = self.current() {
            return Ok(conn);
        }
        let shared = &self.0;
        let answers = ask_sentinels(&shared.sentinels, &shared.name, shared.timeout).await;
        let order = majority_first(&shared.sentinels, &answers);
        if order != lookup.0 {
            *lookup = (
                order.clone(),
                sentinel_lookup(&order, &shared.name, &shared.node)?,
            );
        }
        let master = lookup.1.async_get_client().await?;
        let address = match master.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, port)
            | redis::ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port),
            other => (other.to_string(), 0),
        };
        let conn = master
            .get_multiplexed_async_connection_with_config(&shared.config)
            .await?;
        *shared.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((address, conn.clone()));
        Ok(conn)
    }

    fn current(&self) -> Option<((String, u16), redis::aio::MultiplexedConnection)> {
        self.0
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `work` within the command timeout; on a timeout the connection is dropped
    /// too (a half-open connection would otherwise time out every command).
    async fn within<T>(
        self,
        work: impl std::future::Future<Output = RedisResult<T>>,
    ) -> RedisResult<T> {
        let result = within(self.0.timeout, work).await;
        if matches!(&result, Err(e) if e.is_timeout()) {
            self.forget();
        }
        result
    }

    /// Drops the connection: the next command asks the sentinels for the master.
    fn forget(&self) {
        *self.0.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Asks every sentinel, every [`SENTINEL_POLL`], where the master is; when most of
/// them name another server than the one connected to (the master moved, or the
/// connection was made while a sentinel still named the old one), drops the
/// connection so the next command goes to the master they name. Ends when the last
/// clone of the connection is dropped.
async fn watch_master(shared: std::sync::Weak<SentinelShared>) {
    loop {
        tokio::time::sleep(SENTINEL_POLL).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let answers = ask_sentinels(&shared.sentinels, &shared.name, shared.timeout).await;
        let Some(master) = majority(&answers) else {
            continue; // no majority (yet): keep what we have
        };
        let conn = SentinelConn(shared);
        if conn.current().is_some_and(|(address, _)| address != master) {
            conn.forget();
            tracing::warn!(
                master = %format!("{}:{}", master.0, master.1),
                "sentinel: the master moved; reconnecting to it"
            );
        }
    }
}

/// redis-rs's master lookup over `sentinels`, in that order.
fn sentinel_lookup(
    sentinels: &[String],
    name: &str,
    node: &redis::sentinel::SentinelNodeConnectionInfo,
) -> RedisResult<redis::sentinel::SentinelClient> {
    redis::sentinel::SentinelClient::build(
        sentinels.to_vec(),
        name,
        Some(node.clone()),
        redis::sentinel::SentinelServerType::Master,
    )
}

/// Each sentinel's answer to `SENTINEL get-master-addr-by-name`, in URL order
/// (`None`: no answer (yet), or no such master). Asks them all at once and stops
/// waiting as soon as more than half name the same master, so one unreachable
/// sentinel does not hold up a reconnection for `timeout`.
async fn ask_sentinels(
    sentinels: &[String],
    name: &str,
    timeout: Duration,
) -> Vec<Option<(String, u16)>> {
    use futures::StreamExt;
    let mut answers = vec![None; sentinels.len()];
    let mut pending: futures::stream::FuturesUnordered<_> = sentinels
        .iter()
        .enumerate()
        .map(|(i, url)| async move { (i, master_address(url, name, timeout).await) })
        .collect();
    while let Some((i, answer)) = pending.next().await {
        answers[i] = answer;
        if majority(&answers).is_some() {
            break;
        }
    }
    answers
}

/// The address more than half of the sentinels name, if any.
fn majority(answers: &[Option<(String, u16)>]) -> Option<(String, u16)> {
    let mut votes: std::collections::HashMap<&(String, u16), usize> = Default::default();
    for address in answers.iter().flatten() {
        *votes.entry(address).or_default() += 1;
    }
    let (master, count) = votes.into_iter().max_by_key(|(_, n)| *n)?;
    (count * 2 > answers.len()).then(|| master.clone())
}

/// The sentinels reordered so that those naming the majority's master come first
/// (each group in URL order); URL order when there is no majority.
fn majority_first(sentinels: &[String], answers: &[Option<(String, u16)>]) -> Vec<String> {
    let master = majority(answers);
    let agrees = |i: usize| master.is_some() && answers[i] == master;
    let (first, rest): (Vec<usize>, Vec<usize>) = (0..sentinels.len()).partition(|&i| agrees(i));
    first
        .into_iter()
        .chain(rest)
        .map(|i| sentinels[i].clone())
        .collect()
}

/// `SENTINEL get-master-addr-by-name` on one sentinel.
async fn master_address(url: &str, name: &str, timeout: Duration) -> Option<(String, u16)> {
    let ask = async {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(name)
            .query_async::<Option<(String, u16)>>(&mut conn)
            .await
    };
    tokio::time::timeout(timeout, ask).await.ok()?.ok()?
}

/// `redis://h:1/2#insecure` → `redis://h:1#insecure`: a URL without its database path.
fn without_db(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let Some(slash) = rest.find('/') else {
        return url.to_owned();
    };
    let tail_start = rest[slash..]
        .find(['#', '?'])
        .map_or(rest.len(), |i| slash + i);
    format!(
        "{}{}{}",
        &url[..scheme_end + 3],
        &rest[..slash],
        &rest[tail_start..]
    )
}

/// Sentinel: the master is reached with the first sentinel URL's user, password,
/// database and TLS (`rediss://`, `#insecure`); the sentinels with the same, less the
/// database (they have none).
fn data_node_info(url: &str) -> RedisResult<redis::sentinel::SentinelNodeConnectionInfo> {
    use redis::{IntoConnectionInfo, TlsMode};
    let info = url.into_connection_info()?;
    let settings = info.redis_settings();
    let mut redis = redis::RedisConnectionInfo::default().set_db(settings.db());
    if let Some(user) = settings.username() {
        redis = redis.set_username(user);
    }
    if let Some(password) = settings.password() {
        redis = redis.set_password(password);
    }
    let mut node =
        redis::sentinel::SentinelNodeConnectionInfo::default().set_redis_connection_info(redis);
    if url.starts_with("rediss://") {
        node = node.set_tls_mode(if url.ends_with("#insecure") {
            TlsMode::Insecure
        } else {
            TlsMode::Secure
        });
    }
    Ok(node)
}

/// Start-up: "no master" from the sentinels means either an unknown name or a master
/// that is down; say both, naming the setting.
pub(super) fn explain_sentinel_error(err: RedisError, name: &str) -> RedisError {
    if err.kind() == redis::ErrorKind::MasterNameNotFoundBySentinel {
        return io_error(format!(
            "the sentinels know no reachable master named {name:?} \
             (check LIVEROOM_REDIS_SENTINEL_MASTER, or the master is down): {err}"
        ));
    }
    err
}

fn io_error(message: String) -> RedisError {
    RedisError::from(std::io::Error::other(message))
}

/// The connection still talks to a server that is no longer the master (demoted by
/// a failover): `READONLY` or `MASTERDOWN`. Nothing ran, so the command may be sent
/// again on a fresh connection to the master the sentinels name now.
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

impl SentinelConn {
    /// Sends one command to the current master. A reply saying the server is no
    /// longer the master (`READONLY`, `MASTERDOWN`) means nothing ran: the master is
    /// looked up again and the command resent (three attempts); a broken connection
    /// is dropped so the next command looks the master up again.
    pub(super) async fn send_command(self, cmd: &Cmd) -> RedisResult<Value> {
        let sentinel = self.clone();
        self.within(async move {
            let mut attempts = 0;
            loop {
                let mut conn = sentinel.connection().await?;
                let reply = conn.req_packed_command(cmd).await;
                if replied_stale_master(&reply) {
                    sentinel.forget();
                    attempts += 1;
                    if attempts < 3 {
                        continue;
                    }
                } else if let Err(e) = &reply
                    && (e.is_unrecoverable_error() || e.is_connection_dropped())
                {
                    sentinel.forget();
                }
                return reply;
            }
        })
        .await
    }

    /// Sends a pipeline to the current master (not resent: part of it may have run);
    /// a stale master or a broken connection is forgotten for the next command.
    pub(super) async fn send_pipeline(
        self,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let sentinel = self.clone();
        self.within(async move {
            let mut conn = sentinel.connection().await?;
            let result = conn.req_packed_commands(pipeline, offset, count).await;
            let stale = match &result {
                Ok(values) => values.iter().any(stale_master_value),
                Err(e) => {
                    stale_master(e) || e.is_unrecoverable_error() || e.is_connection_dropped()
                }
            };
            if stale {
                sentinel.forget();
            }
            result
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_data_nodes_get_the_first_urls_credentials() {
        // redis-rs keeps the fields private; its Debug output shows them.
        let info = format!(
            "{:?}",
            data_node_info("rediss://app:pw@s1:26379/2#insecure").unwrap()
        );
        for part in ["Insecure", "db: 2", "\"app\""] {
            assert!(info.contains(part), "{part} missing in {info}");
        }
        let plain = format!("{:?}", data_node_info("redis://s1:26379").unwrap());
        assert!(plain.contains("tls_mode: None"), "{plain}");
        assert!(plain.contains("db: 0"), "{plain}");
    }

    #[test]
    fn sentinel_urls_lose_their_database() {
        assert_eq!(without_db("redis://s:26379/2"), "redis://s:26379");
        assert_eq!(
            without_db("rediss://u:p@s:1/3#insecure"),
            "rediss://u:p@s:1#insecure"
        );
        assert_eq!(without_db("redis://s:26379"), "redis://s:26379");
        assert_eq!(
            without_db("redis://s:1/?protocol=resp3"),
            "redis://s:1?protocol=resp3"
        );
    }

    #[test]
    fn sentinels_that_agree_with_the_majority_are_asked_first() {
        let urls: Vec<String> = ["s1", "s2", "s3"].iter().map(|s| s.to_string()).collect();
        let a = Some(("10.0.0.1".to_string(), 6379));
        let b = Some(("10.0.0.2".to_string(), 6379));
        // s1 lags behind a failover: s2 and s3 go first.
        let answers = [a.clone(), b.clone(), b.clone()];
        assert_eq!(majority(&answers), b);
        assert_eq!(majority_first(&urls, &answers), ["s2", "s3", "s1"]);
        // No majority (one down, two disagree; or nobody answers): URL order.
        for answers in [[a.clone(), b.clone(), None], [None, None, None]] {
            assert_eq!(majority(&answers), None);
            assert_eq!(majority_first(&urls, &answers), ["s1", "s2", "s3"]);
        }
        // One of three down, the others agree: a majority of the configured three.
        let answers = [None, a.clone(), a.clone()];
        assert_eq!(majority(&answers), a);
        assert_eq!(majority_first(&urls, &answers), ["s2", "s3", "s1"]);
    }
}
