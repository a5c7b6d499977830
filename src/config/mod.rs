//! Command line and configuration: one documented struct per subcommand, every
//! setting a `--flag` and a `LIVEROOM_*` environment variable (SPEC §9).

use std::net::SocketAddr;
use std::time::Duration;

use chrono::FixedOffset;
use clap::{Args, Parser, Subcommand};

/// `liveroom`: live-streaming room service.
#[derive(Debug, Parser)]
#[command(
    name = "liveroom",
    version,
    about = "Live-streaming room service on Redis"
)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of the `liveroom` binary.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve(Box<ServeConfig>),
    /// Print a JWT the service accepts: signed with the configured secret, carrying the
    /// configured issuer and audience (development and tests).
    Token(TokenArgs),
    /// Print a server token for the `/server/…` API: HS256, signed with one key of
    /// `LIVEROOM_SERVER_KEYS` (or `--secret`), valid at most 10 minutes.
    ServerToken(ServerTokenArgs),
    /// Webhook tools: a development receiver that verifies and prints events
    /// (`listen`), and re-sending dead-lettered deliveries (`redeliver`).
    #[command(subcommand)]
    Webhooks(crate::webhooks::cli::WebhooksCommand),
}

/// Arguments of `liveroom token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// User id, the token's `sub` (1-64 chars of `[A-Za-z0-9_.:@-]`, SPEC §2).
    #[arg(long)]
    pub user: String,
    /// Optional `nick` claim, used when the profile is first created.
    #[arg(long)]
    pub nick: Option<String>,
    /// Optional `avatar` claim.
    #[arg(long)]
    pub avatar: Option<String>,
    /// Lifetime of the token, e.g. `24h`, `30m` (the same as the development tokens
    /// printed at start-up).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub ttl: Duration,
    /// HS256 secret; without it the development secret is used.
    #[arg(long, env = "LIVEROOM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// `iss` claim of the token: the service's `LIVEROOM_JWT_ISSUER`, which it requires
    /// when set.
    #[arg(long, env = "LIVEROOM_JWT_ISSUER")]
    pub issuer: Option<String>,
    /// `aud` claim of the token: the service's `LIVEROOM_JWT_AUDIENCE`, which it
    /// requires when set.
    #[arg(long, env = "LIVEROOM_JWT_AUDIENCE")]
    pub audience: Option<String>,
}

/// Arguments of `liveroom server-token`.
#[derive(Debug, Args)]
pub struct ServerTokenArgs {
    /// Server key id, the token's `iss` (1-64 chars of `[A-Za-z0-9_.-]`).
    #[arg(long)]
    pub key: String,
    /// The key's secret; without it, the secret of `--key` in `LIVEROOM_SERVER_KEYS`.
    #[arg(long, hide_env_values = true)]
    pub secret: Option<String>,
    /// The service's server keys (`key_id:secret` pairs separated by commas), where
    /// the secret of `--key` is looked up.
    #[arg(long, env = "LIVEROOM_SERVER_KEYS", hide_env_values = true)]
    pub server_keys: Option<String>,
    /// Lifetime of the token, at most 10m.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub ttl: Duration,
}

impl ServerTokenArgs {
    /// The token these arguments ask for. Errors: no secret for the key, a bad
    /// `LIVEROOM_SERVER_KEYS`, a lifetime over 10 minutes.
    pub fn mint(&self) -> Result<String, String> {
        let secret = match self.secret.as_deref() {
            Some(secret) if !secret.is_empty() => secret.to_owned(),
            _ => {
                let keys =
                    crate::auth::ServerKeys::parse(self.server_keys.as_deref().unwrap_or(""))?;
                keys.secret(&self.key)
                    .ok_or_else(|| {
                        format!(
                            "no secret for key {}: it is not in LIVEROOM_SERVER_KEYS (or pass --secret)",
                            self.key
                        )
                    })?
                    .to_owned()
            }
        };
        crate::auth::server::mint_server_token(&self.key, &secret, self.ttl)
    }
}

/// Configuration of `liveroom serve` (SPEC §9). Durations are written `15s`, `500ms`, `10m`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// HTTP listen address. Unset: `0.0.0.0:8080`, or `127.0.0.1:8080` while the
    /// development JWT secret is in use (anyone can mint tokens with it, so such a
    /// service answers this machine only unless this is set explicitly).
    #[arg(long, env = "LIVEROOM_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Redis URL (`redis://…`, `rediss://…`); in cluster mode one or more seed nodes
    /// and in sentinel mode the sentinels, comma-separated. Unset (standalone only): a
    /// private `redis-server` child is started on a free loopback port, without
    /// persistence.
    #[arg(long, env = "LIVEROOM_REDIS_URL")]
    pub redis_url: Option<String>,

    /// What `LIVEROOM_REDIS_URL` names: one Redis server (`standalone`), a Redis
    /// Cluster (`cluster`), or the sentinels of a Sentinel set-up (`sentinel`).
    #[arg(
        long,
        env = "LIVEROOM_REDIS_MODE",
        value_enum,
        ignore_case = true,
        default_value = "standalone"
    )]
    pub redis_mode: crate::redis_conn::RedisMode,

    /// Sentinel mode: the name the sentinels monitor the master under.
    #[arg(
        long,
        env = "LIVEROOM_REDIS_SENTINEL_MASTER",
        default_value = "mymaster"
    )]
    pub redis_sentinel_master: String,

    /// HS256 secret that verifies client tokens. Unset: a development secret, with a warning.
    #[arg(long, env = "LIVEROOM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Expected `iss` claim: when set, tokens must carry it (`liveroom token --issuer`).
    #[arg(long, env = "LIVEROOM_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Expected `aud` claim: when set, tokens must carry it (`liveroom token --audience`).
    #[arg(long, env = "LIVEROOM_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Prefix of every Redis key, so several deployments can share one Redis.
    #[arg(long, env = "LIVEROOM_KEY_PREFIX", default_value = "lr", value_parser = parse_key_prefix)]
    pub key_prefix: String,

    /// Time zone of `YYYY-MM-DD HH:MM:SS` inputs, as an offset like `+08:00`.
    #[arg(long, env = "LIVEROOM_TIMEZONE", default_value = "+08:00", value_parser = parse_offset)]
    pub timezone: FixedOffset,

    /// No heartbeat for this long and a member is gone (SPEC §6: 3 missed 5 s beats).
    #[arg(long, env = "LIVEROOM_MEMBER_TIMEOUT", default_value = "15s", value_parser = parse_duration)]
    pub member_timeout: Duration,

    /// A live room whose anchor is absent this long is ended (SPEC §6).
    #[arg(long, env = "LIVEROOM_ANCHOR_CLOSE_AFTER", default_value = "10m", value_parser = parse_duration)]
    pub anchor_close_after: Duration,

    /// Base of push URLs (SPEC §8).
    #[arg(
        long,
        env = "LIVEROOM_PUBLISH_URL",
        default_value = "rtmp://localhost/live"
    )]
    pub publish_url: String,

    /// Key that signs push URLs (Qiniu Pili "expiry" scheme).
    #[arg(
        long,
        env = "LIVEROOM_PUBLISH_KEY",
        default_value = "liveroom-dev-publish-key",
        hide_env_values = true
    )]
    pub publish_key: String,

    /// Default lifetime of a push URL when `publish_expire_at` is not in the future.
    #[arg(long, env = "LIVEROOM_PUBLISH_TTL", default_value = "24h", value_parser = parse_duration)]
    pub publish_ttl: Duration,

    /// Base of RTMP pull URLs; empty disables them.
    #[arg(
        long,
        env = "LIVEROOM_RTMP_PLAY_URL",
        default_value = "rtmp://localhost/live"
    )]
    pub rtmp_play_url: String,

    /// Base of FLV pull URLs; empty disables them.
    #[arg(
        long,
        env = "LIVEROOM_FLV_PLAY_URL",
        default_value = "http://localhost/live"
    )]
    pub flv_play_url: String,

    /// Base of HLS pull URLs; empty disables them.
    #[arg(
        long,
        env = "LIVEROOM_HLS_PLAY_URL",
        default_value = "http://localhost/live"
    )]
    pub hls_play_url: String,

    /// Reaper lease time to live: after the holder dies, another replica takes over
    /// within this long (graceful stops hand over at once).
    #[arg(long, env = "LIVEROOM_LEASE_TTL", default_value = "10s", value_parser = parse_duration)]
    pub lease_ttl: Duration,

    /// Pause between reaper sweeps (and lease attempts).
    #[arg(long, env = "LIVEROOM_REAPER_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub reaper_interval: Duration,

    /// This replica's id (the value of the reaper partition leases it holds).
    /// Default: hostname-pid-random.
    #[arg(long, env = "LIVEROOM_REPLICA_ID")]
    pub replica_id: Option<String>,

    /// On SIGTERM, how long in-flight requests may take to finish before exit.
    #[arg(long, env = "LIVEROOM_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// How long a client may take to send a request's headers, from the moment the
    /// server starts reading them: on a new connection, and between requests on a
    /// kept-alive one (hyper uses one timer for both, so this is also the idle
    /// limit of a keep-alive connection). Past it the connection is closed: a client
    /// that trickles its headers (slowloris) or connects and sends nothing cannot
    /// hold a connection longer. Keep it above the idle timeout of the load
    /// balancer's upstream connections (nginx `keepalive_timeout`, 60 s by default;
    /// ours is 30 s), or it closes connections the balancer is about to reuse.
    /// At least 1 s.
    #[arg(long, env = "LIVEROOM_HEADER_READ_TIMEOUT", default_value = "65s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// How long a client may take to send a request's body once its headers are
    /// in. Bodies (at most 64 KiB, SPEC §7) are read in full before a request takes
    /// one of the `LIVEROOM_MAX_IN_FLIGHT` slots, so a slow body holds a connection
    /// for at most this long and never a slot. Past it: 400 / 40000 naming the body.
    /// At least 1 s.
    #[arg(long, env = "LIVEROOM_BODY_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_read_timeout: Duration,

    /// Most API requests served at once by this replica; past it requests are shed
    /// at once with 429 / 42900 and `Retry-After` instead of queueing (probes and
    /// metrics are never shed).
    #[arg(long, env = "LIVEROOM_MAX_IN_FLIGHT", default_value = "1024", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// Heartbeat interval clients are told to keep; each heartbeat answer carries
    /// `next_heartbeat_ms`, this ±10% at random, so a mass reconnect spreads out. Unset:
    /// a third of `LIVEROOM_MEMBER_TIMEOUT` (5 s for the default 15 s, SPEC §6: a member
    /// is gone after three missed beats), so setting only the timeout is enough. Must
    /// be shorter than the member timeout.
    #[arg(long, env = "LIVEROOM_HEARTBEAT_INTERVAL", value_parser = parse_duration)]
    pub heartbeat_interval: Option<Duration>,

    /// Timeout of one Redis command; past it the request answers 503 / 50300.
    #[arg(long, env = "LIVEROOM_REDIS_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub redis_timeout: Duration,

    /// Log format: `json`, `pretty`, or `auto` (pretty on a terminal, JSON otherwise,
    /// so containers log JSON by default).
    #[arg(long, env = "LIVEROOM_LOG_FORMAT", default_value = "auto", value_parser = ["auto", "pretty", "json"])]
    pub log_format: String,

    /// Webhook delivery of room events (SPEC §10): receivers, secret, events, retries.
    #[command(flatten)]
    pub webhooks: WebhookConfig,

    /// Server keys of the `/server/…` API (SPEC §11): `key_id:secret` pairs separated
    /// by commas; several at once while a key is rotated. Key ids are 1-64 chars of
    /// `[A-Za-z0-9_.-]`, secrets at least 16 visible ASCII characters. Unset: the server
    /// API answers 401 to everything.
    #[arg(long, env = "LIVEROOM_SERVER_KEYS", hide_env_values = true)]
    pub server_keys: Option<String>,

    /// Public key of RS256 / ES256 user tokens (SPEC §2): the PEM text or the path of
    /// a PEM file; an RSA key verifies RS256 tokens, an EC P-256 key ES256 tokens.
    /// HS256 tokens are still accepted when `LIVEROOM_JWT_SECRET` is set too; without
    /// it, only tokens signed with the private key (no development secret).
    #[arg(long, env = "LIVEROOM_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<String>,

    /// Secret of the media-server hooks (docs/SPEC.md §12): nginx-rtmp and SRS are
    /// configured to call `/media/…?secret=<this>` before accepting a publish. At
    /// least 16 characters of `[A-Za-z0-9._~-]` (it goes into a URL as is). Unset: the hooks are off and answer 403
    /// (every publish refused). (`--help` does not show the value.)
    #[arg(long, env = "LIVEROOM_MEDIA_HOOK_SECRET", hide_env_values = true)]
    pub media_hook_secret: Option<String>,

    /// Whether a publish accepted by the media-server hooks starts a created room
    /// (`live_status` 0 → 1, `room_started`), as the anchor's own start would.
    /// Default off: the anchor starts the room from the app, then publishes.
    #[arg(
        long,
        env = "LIVEROOM_MEDIA_PUBLISH_STARTS_ROOM",
        default_value = "false",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::Set
    )]
    pub media_publish_starts_room: bool,
}

/// Webhook settings of `liveroom serve` (SPEC §10 "Webhooks"). Unset URLs: no
/// webhooks, and no delivery cost at all.
#[derive(Debug, Clone, Args)]
pub struct WebhookConfig {
    /// Receivers of room events, comma-separated `http://` or `https://` URLs. Each
    /// gets every selected event, in order per room, at least once. (`--help` does not
    /// show the value: a URL may carry credentials.)
    #[arg(
        long = "webhook-urls",
        env = "LIVEROOM_WEBHOOK_URLS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub urls: Vec<String>,

    /// Secret that signs each delivery (`Liveroom-Signature: t=…,v1=HMAC-SHA256`);
    /// required with `LIVEROOM_WEBHOOK_URLS`.
    #[arg(
        long = "webhook-secret",
        env = "LIVEROOM_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub secret: Option<String>,

    /// Which events to deliver: comma-separated names of SPEC §10, `room`, `anchor`
    /// (with the anchor's stream, `stream_*`) or `member` for a whole group, or `all`. Default `room,anchor`: member events are
    /// opt-in, as they come at the rate of joins and leaves.
    #[arg(
        long = "webhook-events",
        env = "LIVEROOM_WEBHOOK_EVENTS",
        default_value = "room,anchor"
    )]
    pub events: String,

    /// Timeout of one delivery request; past it the delivery is retried.
    #[arg(long = "webhook-timeout", env = "LIVEROOM_WEBHOOK_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// An event still undelivered this long after it happened goes to the dead-letter
    /// stream (`liveroom webhooks redeliver` re-sends it) and delivery moves on.
    #[arg(long = "webhook-max-age", env = "LIVEROOM_WEBHOOK_MAX_AGE", default_value = "1h", value_parser = parse_duration)]
    pub max_age: Duration,

    /// Most rooms whose events this replica delivers at once; each has at most one
    /// request in flight per receiver.
    #[arg(long = "webhook-concurrency", env = "LIVEROOM_WEBHOOK_CONCURRENCY", default_value = "16", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,

    /// How often a replica looks for rooms with undelivered events.
    #[arg(long = "webhook-poll-interval", env = "LIVEROOM_WEBHOOK_POLL_INTERVAL", default_value = "200ms", value_parser = parse_duration)]
    pub poll_interval: Duration,
}

impl ServeConfig {
    /// The configuration with every default, as parsed from no flags at all
    /// (environment variables still apply). Used by tests as a starting point.
    pub fn defaults() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            config: ServeConfig,
        }
        Only::parse_from(["liveroom"]).config
    }
}

impl ServeConfig {
    /// Checks relations between settings that single flags cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.reaper_interval >= self.lease_ttl {
            return Err(format!(
                "LIVEROOM_REAPER_INTERVAL ({:?}) must be shorter than LIVEROOM_LEASE_TTL ({:?})",
                self.reaper_interval, self.lease_ttl
            ));
        }
        if self.heartbeat_interval() >= self.member_timeout {
            return Err(format!(
                "LIVEROOM_HEARTBEAT_INTERVAL ({:?}) must be shorter than LIVEROOM_MEMBER_TIMEOUT ({:?}); unset, it is a third of the timeout",
                self.heartbeat_interval(),
                self.member_timeout
            ));
        }
        if self.member_timeout < Duration::from_millis(100) {
            return Err("LIVEROOM_MEMBER_TIMEOUT must be at least 100ms".into());
        }
        if self.body_read_timeout < Duration::from_secs(1) {
            return Err(format!(
                "LIVEROOM_BODY_READ_TIMEOUT ({:?}) must be at least 1s",
                self.body_read_timeout
            ));
        }
        if self.header_read_timeout < Duration::from_secs(1) {
            return Err(format!(
                "LIVEROOM_HEADER_READ_TIMEOUT ({:?}) must be at least 1s",
                self.header_read_timeout
            ));
        }
        self.server_keys()?;
        self.jwt_public_key()?;
        if let Some(secret) = &self.media_hook_secret
            && (secret.len() < 16
                || !secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b)))
        {
            return Err(
                "LIVEROOM_MEDIA_HOOK_SECRET must be at least 16 characters of [A-Za-z0-9._~-] \
                 (it is written into the hook URL as is)"
                    .into(),
            );
        }
        Ok(())
    }

    /// The server keys of `LIVEROOM_SERVER_KEYS` (none when unset). Errors name the
    /// setting and the entry.
    pub fn server_keys(&self) -> Result<crate::auth::ServerKeys, String> {
        crate::auth::ServerKeys::parse(self.server_keys.as_deref().unwrap_or(""))
    }

    /// The public key of `LIVEROOM_JWT_PUBLIC_KEY`, read (from its file) and parsed;
    /// `None` when unset or empty. Errors name the setting.
    pub fn jwt_public_key(&self) -> Result<Option<crate::auth::PublicKey>, String> {
        match self.jwt_public_key.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(value) => crate::auth::PublicKey::load(value).map(Some),
        }
    }

    /// Where Redis is: `LIVEROOM_REDIS_URL` (or `private_url`, the private server
    /// started when it is unset) read in `LIVEROOM_REDIS_MODE`. Errors name the setting.
    pub fn redis_target(
        &self,
        private_url: Option<&str>,
    ) -> Result<crate::redis_conn::RedisTarget, String> {
        let urls = match (&self.redis_url, private_url) {
            (Some(url), _) => url.as_str(),
            (None, Some(url)) => url,
            (None, None) => {
                return Err(format!(
                    "LIVEROOM_REDIS_URL is required in {} mode",
                    self.redis_mode.name()
                ));
            }
        };
        crate::redis_conn::RedisTarget::parse(self.redis_mode, urls, &self.redis_sentinel_master)
    }

    /// The replica id: the configured one, else `hostname-pid-random`.
    pub fn replica_id(&self) -> String {
        self.replica_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_default();
            let host = if host.is_empty() {
                "liveroom".to_owned()
            } else {
                host
            };
            format!(
                "{host}-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            )
        })
    }
}

/// The development secret used when `LIVEROOM_JWT_SECRET` is unset. Never for production.
pub const DEV_JWT_SECRET: &str = "liveroom-dev-secret-change-me";

/// Heartbeats a member may miss before it is gone: the derived heartbeat interval is
/// the member timeout divided by this (SPEC §6: 15 s = 3 × 5 s).
const MISSED_BEATS: u128 = 3;

/// Port of the default listen address (`LIVEROOM_LISTEN` unset).
pub const DEFAULT_PORT: u16 = 8080;

impl ServeConfig {
    /// The JWT secret in use: `LIVEROOM_JWT_SECRET`, or [`DEV_JWT_SECRET`] when it is
    /// unset or empty.
    pub fn jwt_secret(&self) -> &str {
        match self.jwt_secret.as_deref() {
            Some(secret) if !secret.is_empty() => secret,
            _ => DEV_JWT_SECRET,
        }
    }

    /// Whether the development secret is in use (see [`Self::jwt_secret`]): it is
    /// unset and HS256 user tokens are accepted ([`Self::accepts_hs256`]).
    pub fn uses_dev_secret(&self) -> bool {
        self.jwt_secret() == DEV_JWT_SECRET && self.accepts_hs256()
    }

    /// Whether HS256 user tokens are accepted (SPEC §2): when `LIVEROOM_JWT_SECRET` is
    /// set, or when no `LIVEROOM_JWT_PUBLIC_KEY` is (then with the development secret).
    /// A service given only a public key takes only tokens signed with its private
    /// key: the public development secret must not open it.
    pub fn accepts_hs256(&self) -> bool {
        self.jwt_secret.as_deref().is_some_and(|s| !s.is_empty())
            || self
                .jwt_public_key
                .as_deref()
                .is_none_or(|k| k.trim().is_empty())
    }

    /// The heartbeat interval told to clients: `LIVEROOM_HEARTBEAT_INTERVAL` when set,
    /// else a third of `LIVEROOM_MEMBER_TIMEOUT` (whole ms; three missed beats and a
    /// member is gone, SPEC §6).
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval.unwrap_or_else(|| {
            Duration::from_millis((self.member_timeout.as_millis() / MISSED_BEATS) as u64)
        })
    }

    /// Whether start-up prints ready-made development tokens: only with the development
    /// secret on a loopback address (a service reachable from the network gets none).
    pub fn prints_dev_tokens(&self) -> bool {
        self.uses_dev_secret() && self.listen_addr().ip().is_loopback()
    }

    /// The address to listen on: `LIVEROOM_LISTEN` when set; else `127.0.0.1:8080`
    /// with the development secret (a public secret must not open a service to the
    /// network by default), `0.0.0.0:8080` with a real one.
    pub fn listen_addr(&self) -> SocketAddr {
        use std::net::{IpAddr, Ipv4Addr};
        self.listen.unwrap_or_else(|| {
            let ip = if self.uses_dev_secret() {
                Ipv4Addr::LOCALHOST
            } else {
                Ipv4Addr::UNSPECIFIED
            };
            SocketAddr::new(IpAddr::V4(ip), DEFAULT_PORT)
        })
    }
}

/// Parses durations like `15s`, `500ms`, `10m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like 15s, 500ms or 10m: {e}"))?;
    if duration.is_zero() {
        return Err("duration must be greater than zero".into());
    }
    Ok(duration)
}

fn parse_offset(text: &str) -> Result<FixedOffset, String> {
    let bad = || format!("`{text}` is not a UTC offset like +08:00 or -05:30");
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ if text.eq_ignore_ascii_case("utc") || text == "Z" => {
            return Ok(FixedOffset::east_opt(0).unwrap());
        }
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

/// Parses `LIVEROOM_KEY_PREFIX`: 1-32 chars of `[A-Za-z0-9_.:-]`.
pub fn parse_key_prefix(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 32
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
    if ok {
        Ok(text.to_string())
    } else {
        Err("key prefix must be 1-32 chars of [A-Za-z0-9_.:-]".into())
    }
}

#[cfg(test)]
mod tests;
