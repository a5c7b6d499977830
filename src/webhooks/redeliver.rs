//! `liveroom webhooks redeliver`: re-sends dead-lettered deliveries (SPEC §10
//! "Webhooks"; the stream [`crate::store::Keys::webhook_dead_letters`]).
//!
//! Connects to Redis with the settings of `liveroom serve` (`LIVEROOM_REDIS_URL`,
//! required here, `LIVEROOM_REDIS_MODE`, `LIVEROOM_REDIS_SENTINEL_MASTER`,
//! `LIVEROOM_KEY_PREFIX`, `LIVEROOM_REDIS_TIMEOUT`), reads the dead letters oldest
//! first, keeps those matching `--event-id` / `--url` (at most `--limit`), and
//! `POST`s each entry's exact `body` to its `url` (or `--to`), signed now with
//! `LIVEROOM_WEBHOOK_SECRET` by [`Sender`]. A 2xx answer removes the entry
//! (`XDEL`); anything else keeps it and says why. One line per entry on stdout
//! (`re-sent 12/40 …` or `failed 13/40 …`), then a summary; the exit code is
//! non-zero when any failed. `--list` prints the entries and sends nothing.

use std::time::Duration;

use clap::Args;

use crate::config::{parse_duration, parse_key_prefix};
use crate::redis_conn::{RedisMode, RedisTarget};
use crate::store::Store;
use crate::store::dead_letters::DeadLetter;
use crate::webhooks::{Outcome, Sender};

/// Entries read per `XRANGE`.
const PAGE: usize = 500;

/// Where Redis is, as `liveroom serve` reads it (the same variables, defaults and
/// parsers, SPEC §9), except that `LIVEROOM_REDIS_URL` is required: the tool has no
/// private Redis of its own.
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis URL (`redis://…`, `rediss://…`); in cluster mode one or more seed nodes
    /// and in sentinel mode the sentinels, comma-separated: the service's. (Its value
    /// is not shown in `--help`: it may hold a password.)
    #[arg(long, env = "LIVEROOM_REDIS_URL", hide_env_values = true)]
    pub redis_url: String,

    /// What `LIVEROOM_REDIS_URL` names: `standalone`, `cluster` or `sentinel`.
    #[arg(
        long,
        env = "LIVEROOM_REDIS_MODE",
        value_enum,
        ignore_case = true,
        default_value = "standalone"
    )]
    pub redis_mode: RedisMode,

    /// Sentinel mode: the name the sentinels monitor the master under.
    #[arg(
        long,
        env = "LIVEROOM_REDIS_SENTINEL_MASTER",
        default_value = "mymaster"
    )]
    pub redis_sentinel_master: String,

    /// Prefix of every Redis key: the service's.
    #[arg(long, env = "LIVEROOM_KEY_PREFIX", default_value = "lr", value_parser = parse_key_prefix)]
    pub key_prefix: String,

    /// Timeout of one Redis command.
    #[arg(long, env = "LIVEROOM_REDIS_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub redis_timeout: Duration,
}

impl RedisArgs {
    /// Connects a [`Store`]. Errors name the setting or say why Redis is unreachable.
    pub async fn store(&self) -> Result<Store, String> {
        let target = RedisTarget::parse(
            self.redis_mode,
            &self.redis_url,
            &self.redis_sentinel_master,
        )?;
        // The member timeout plays no part in reading the dead letters.
        Store::connect_to(
            &target,
            &self.key_prefix,
            Duration::from_secs(15),
            self.redis_timeout,
        )
        .await
        .map_err(|e| format!("cannot use Redis at {}: {e}", target.redacted()))
    }
}

/// Arguments of `liveroom webhooks redeliver`.
#[derive(Debug, Clone, Args)]
pub struct RedeliverArgs {
    /// Redis, as the service is configured.
    #[command(flatten)]
    pub redis: RedisArgs,

    /// The secret the deliveries are signed with: the service's
    /// `LIVEROOM_WEBHOOK_SECRET` (required unless `--list`).
    #[arg(long, env = "LIVEROOM_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// Timeout of one delivery request.
    #[arg(long, env = "LIVEROOM_WEBHOOK_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Print the dead letters (oldest first) and send nothing.
    #[arg(long)]
    pub list: bool,

    /// Only the entry (or entries) of this event id (`<live_id>:<stream id>`).
    #[arg(long, value_name = "ID")]
    pub event_id: Option<String>,

    /// Only entries meant for this receiver URL (exactly as in
    /// `LIVEROOM_WEBHOOK_URLS`).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Send to this URL instead of each entry's own (e.g. a receiver's new address);
    /// the entry is still removed once it answers 2xx.
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub to: Option<reqwest::Url>,

    /// At most this many entries (the oldest matching ones).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

/// Parses an `http://` or `https://` URL.
fn parse_http_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` is not an http:// or https:// URL"));
    }
    Ok(url)
}

/// Runs the command. Errors: bad settings, Redis unreachable, or (after every entry
/// was tried) how many deliveries failed.
pub async fn run(args: RedeliverArgs) -> Result<(), String> {
    let secret = match args.secret.as_deref() {
        Some(s) if !s.is_empty() => Some(s.to_owned()),
        _ if args.list => None,
        _ => {
            return Err(
                "LIVEROOM_WEBHOOK_SECRET (--secret) is required to sign the deliveries".into(),
            );
        }
    };
    let store = args.redis.store().await?;
    let entries = matching(&store, &args).await?;
    if args.list {
        for e in &entries {
            println!("{}", list_line(e));
        }
        println!("{} dead letters", entries.len());
        return Ok(());
    }
    if entries.is_empty() {
        println!("no dead letters to re-send");
        return Ok(());
    }
    let secret = secret.expect("checked above unless --list");
    let sender = Sender::new(&secret, args.timeout);
    let total = entries.len();
    let mut failed = 0usize;
    for (i, entry) in entries.iter().enumerate() {
        let n = i + 1;
        let head = format!("{}  {}  id={}", entry.event, entry.live_id, entry.event_id);
        let dest = args
            .to
            .as_ref()
            .map_or_else(|| entry.url.clone(), |u| u.to_string());
        match send_one(&sender, args.to.as_ref(), entry).await {
            Ok(()) => {
                // Delivered: a failed XDEL only means it may be sent once more.
                let removal = match store.delete_dead_letter(&entry.stream_id).await {
                    Ok(_) => "removed".to_owned(),
                    Err(e) => {
                        failed += 1;
                        format!("delivered but NOT removed: {e}")
                    }
                };
                println!("re-sent {n}/{total}  {head}  -> {dest}  ({removal})");
            }
            Err(why) => {
                failed += 1;
                println!("failed  {n}/{total}  {head}  -> {dest}: {why} (kept)");
            }
        }
    }
    let sent = total - failed;
    if failed == 0 {
        println!("{sent} of {total} re-sent and removed");
    } else {
        println!("{sent} of {total} re-sent and removed; {failed} failed and kept");
    }
    if failed > 0 {
        return Err(format!(
            "{failed} of {total} deliveries failed; their dead letters are kept"
        ));
    }
    Ok(())
}

/// Sends one entry's exact body to `to` or its own URL; the failure as text.
async fn send_one(
    sender: &Sender,
    to: Option<&reqwest::Url>,
    entry: &DeadLetter,
) -> Result<(), String> {
    let url = match to {
        Some(url) => url.clone(),
        None => parse_http_url(&entry.url)
            .map_err(|e| format!("the entry's url cannot be used ({e}); try --to"))?,
    };
    if entry.body.is_empty() {
        return Err("the entry has no body".into());
    }
    match sender.send(&url, &entry.event_id, &entry.body).await {
        Outcome::Delivered => Ok(()),
        Outcome::Failed(why) => Err(why),
    }
}

/// The dead letters matching the filters, oldest first, at most `--limit`.
async fn matching(store: &Store, args: &RedeliverArgs) -> Result<Vec<DeadLetter>, String> {
    let limit = args.limit.map_or(usize::MAX, |l| l as usize);
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .dead_letters(after.as_deref(), PAGE)
            .await
            .map_err(|e| format!("cannot read the dead letters: {e}"))?;
        let Some(last) = page.last() else { break };
        after = Some(last.stream_id.clone());
        let full = page.len() == PAGE;
        for entry in page {
            let wanted = args
                .event_id
                .as_ref()
                .is_none_or(|id| *id == entry.event_id)
                && args.url.as_ref().is_none_or(|url| *url == entry.url);
            if wanted {
                found.push(entry);
                if found.len() >= limit {
                    return Ok(found);
                }
            }
        }
        if !full {
            break;
        }
    }
    Ok(found)
}

/// One `--list` line: stream id, the event's time (UTC), name, room, event id,
/// receiver, attempts and last error.
fn list_line(e: &DeadLetter) -> String {
    let when = chrono::DateTime::from_timestamp_millis(e.created_at).map_or_else(
        || "?".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    );
    format!(
        "{}  {when}Z  {:<20}  {}  id={}  url={}  attempts={}  error={}",
        e.stream_id, e.event, e.live_id, e.event_id, e.url, e.attempts, e.error
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        redis: RedisArgs,
    }

    /// The tool reads Redis exactly as `liveroom serve` does: same defaults.
    #[test]
    fn redis_defaults_are_the_services() {
        let serve = crate::config::ServeConfig::defaults();
        let ours = Only::try_parse_from(["x", "--redis-url", "redis://h:1"])
            .unwrap()
            .redis;
        assert_eq!(ours.redis_mode, serve.redis_mode);
        assert_eq!(ours.redis_sentinel_master, serve.redis_sentinel_master);
        assert_eq!(ours.key_prefix, serve.key_prefix);
        assert_eq!(ours.redis_timeout, serve.redis_timeout);
        assert!(
            Only::try_parse_from(["x", "--redis-url", "redis://h", "--key-prefix", "a b"]).is_err()
        );
    }

    #[test]
    fn to_must_be_http() {
        assert!(parse_http_url("https://h/x").is_ok());
        assert!(parse_http_url("ftp://h/x").is_err());
        assert!(parse_http_url("nope").is_err());
    }
}
