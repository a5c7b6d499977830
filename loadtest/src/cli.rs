//! Command line: common flags (valid before or after the scenario name) and one
//! subcommand per scenario.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The service's development secret, used when neither `--secret` nor
/// `LIVEROOM_JWT_SECRET` is given.
pub use liveroom::config::DEV_JWT_SECRET;

/// `liveroom-loadtest`: load generator for the liveroom service.
#[derive(Debug, Parser)]
#[command(
    name = "liveroom-loadtest",
    version,
    about = "Load generator for the liveroom service",
    after_help = "Common flags may be given before or after the scenario name.\n\
                  Example: liveroom-loadtest heartbeat-max --target http://127.0.0.1:8080 --users 10000 --rooms 10 --connections 32"
)]
pub struct Cli {
    /// Flags shared by every scenario.
    #[command(flatten)]
    pub common: Common,
    /// What traffic to send.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// Flags shared by every scenario.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Base URL of a replica or load balancer (`http://HOST:PORT`). Repeat the flag or
    /// give a comma-separated list: requests round-robin over the targets.
    #[arg(
        long = "target",
        global = true,
        env = "LIVEROOM_LOADTEST_TARGET",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080"
    )]
    pub targets: Vec<String>,

    /// HS256 secret the tool signs its users' tokens with: the service's LIVEROOM_JWT_SECRET.
    #[arg(
        long,
        global = true,
        env = "LIVEROOM_JWT_SECRET",
        hide_env_values = true,
        default_value = DEV_JWT_SECRET
    )]
    pub secret: String,

    /// `iss` claim of the tool's tokens: the service's LIVEROOM_JWT_ISSUER, when it has one.
    #[arg(long, global = true, env = "LIVEROOM_JWT_ISSUER")]
    pub issuer: Option<String>,

    /// `aud` claim of the tool's tokens: the service's LIVEROOM_JWT_AUDIENCE, when it has one.
    #[arg(long, global = true, env = "LIVEROOM_JWT_AUDIENCE")]
    pub audience: Option<String>,

    /// Length of the measured run (after the warm-up), e.g. `30s`, `5m`.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Traffic sent before the measured run starts and left out of the figures (`0s`: none).
    #[arg(long, global = true, default_value = "2s", value_parser = parse_duration_or_zero)]
    pub warmup: Duration,

    /// Concurrent requests (workers), each with one keep-alive connection per target.
    #[arg(long, global = true, default_value_t = 32)]
    pub connections: usize,

    /// Print the final report as one JSON object on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// Give up on a request after this long (counted as a transport timeout).
    #[arg(long, global = true, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Threads of the tool's own runtime. 1 keeps most of the CPU for the service when
    /// both share a machine; raise it when the tool itself is the bottleneck.
    #[arg(long, global = true, default_value_t = 1)]
    pub threads: usize,

    /// Prefix of the user ids the tool invents (`PREFIX-u7`, anchors `PREFIX-a3`); give
    /// each concurrently running tool its own.
    #[arg(long, global = true, default_value = "lt")]
    pub user_prefix: String,

    /// Do not delete the rooms the tool created when it ends.
    #[arg(long, global = true)]
    pub keep_rooms: bool,

    /// No progress line on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// The scenarios.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// Realistic audience: viewers join rooms, heartbeat every ~5 s, leave after a
    /// random stay and join another room; the rooms' anchors heartbeat too.
    Viewers(ViewersArgs),
    /// Heartbeats as fast as the service answers (or at --rate), rotating over --users
    /// users that joined --rooms live rooms during setup.
    HeartbeatMax(HeartbeatArgs),
    /// Heartbeat throughput of several servers on the same Redis, compared in one run:
    /// setup (rooms, joined users) once through --target, then measured windows taking
    /// turns over the --against servers, --rounds times (A, B, A, B, ...), so machine
    /// noise falls on every side alike; throughput, p50 / p99 of each and each one's
    /// ratio to the first (loadtest/bench-floor: liveroom against its floor).
    HeartbeatCompare(CompareArgs),
    /// Users hopping between rooms (join A, join B, ...) as fast as possible (or at --rate).
    JoinChurn(ChurnArgs),
    /// GET /livez as fast as possible (or at --rate): the service's HTTP baseline.
    LivezMax(LivezArgs),
    /// Client event streams (Server-Sent Events): --subscribers streams over --rooms
    /// rooms while users join rooms at --rate; reports change-to-delivery latency, the
    /// replicas' Redis reads for the streams and (with --pid) memory per stream.
    Sse(SseArgs),
    /// Webhook delivery throughput: room life cycles (create, start, joins, leaves,
    /// stop, delete) on each connection, delivered by the service to the tool's own
    /// receiver; events/s and Redis CPU per event.
    Webhooks(crate::webhooks::WebhooksArgs),
}

impl Scenario {
    /// The scenario's name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Viewers(_) => "viewers",
            Scenario::HeartbeatMax(_) => "heartbeat-max",
            Scenario::HeartbeatCompare(_) => "heartbeat-compare",
            Scenario::JoinChurn(_) => "join-churn",
            Scenario::LivezMax(_) => "livez-max",
            Scenario::Sse(_) => "sse",
            Scenario::Webhooks(_) => "webhooks",
        }
    }
}

/// `viewers` flags.
#[derive(Debug, Clone, Args)]
pub struct ViewersArgs {
    /// Simulated viewers, spread over the rooms.
    #[arg(long, default_value_t = 1000)]
    pub viewers: usize,
    /// Live rooms, each created and started by its own anchor.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Mean stay in a room (exponentially distributed) before leaving for another.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub stay: Duration,
    /// Heartbeat interval when the service does not say (`next_heartbeat_ms`).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Random spread of the heartbeat interval, as a fraction (0.2 = ±20%).
    #[arg(long, default_value_t = 0.2)]
    pub jitter: f64,
    /// The viewers' first joins are spread evenly over this long from the start.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub ramp: Duration,
}

/// Open-loop pacing, shared by the `*-max` scenarios.
#[derive(Debug, Clone, Args)]
pub struct Pace {
    /// Open loop: send R requests/s on a fixed schedule (spread over the connections)
    /// instead of back-to-back; latency counts from each request's scheduled time, so
    /// a slow service cannot hide its stalls (no coordinated omission).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
}

/// `heartbeat-max` flags.
#[derive(Debug, Clone, Args)]
pub struct HeartbeatArgs {
    /// Users joined during setup; the heartbeats rotate over them.
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Live rooms the users are spread over.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    #[command(flatten)]
    pub pace: Pace,
}

/// `heartbeat-compare` flags.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Users joined during setup; the heartbeats rotate over them.
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Live rooms the users are spread over.
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// A server to measure, `NAME=http://HOST:PORT` (or a bare URL, named by its
    /// place: `s1`, `s2`, ...); repeat or comma-separate. Ratios are to the first. Each
    /// must answer `GET /client/live/room/heartbeat/{live_id}` on the same Redis as
    /// --target (a `liveroom serve`, or `liveroom-floor`).
    #[arg(long = "against", value_delimiter = ',', required = true)]
    pub against: Vec<String>,
    /// Rounds; each measures every --against server once, in the order given, for
    /// warm-up + duration.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
}

/// `join-churn` flags.
#[derive(Debug, Clone, Args)]
pub struct ChurnArgs {
    /// Users hopping; each connection owns its share of them (at least one each).
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// Live rooms hopped between (at least 2).
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    #[command(flatten)]
    pub pace: Pace,
}

/// `livez-max` flags.
#[derive(Debug, Clone, Args)]
pub struct LivezArgs {
    #[command(flatten)]
    pub pace: Pace,
}

/// `sse` flags.
#[derive(Debug, Clone, Args)]
pub struct SseArgs {
    /// Event streams opened (each on its own connection), spread over the rooms and
    /// the targets.
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Live rooms, each created and started by its own anchor.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// State changes (a user joins a random room) per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Users who join; each join of a user after its first also leaves its previous
    /// room (`member_left`, `switched`).
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// The streams' `events` selection (SPEC §10 names, `room`, `anchor`, `member`,
    /// `all`, `online`).
    #[arg(long, default_value = "all")]
    pub events: String,
    /// Process id of a replica whose resident memory (VmRSS) to report before and with
    /// the streams; repeat or comma-separate for several.
    #[arg(long = "pid", value_delimiter = ',')]
    pub pids: Vec<u32>,
}

/// Parses durations like `30s`, `500ms`, `5m`; zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = parse_duration_or_zero(text)?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

/// Parses durations like `2s`, `0s`.
pub fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like 30s, 500ms or 5m: {e}"))
}

impl Common {
    /// Checks what clap cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.connections == 0 || self.connections > 100_000 {
            return Err("--connections must be 1-100000".into());
        }
        if self.threads == 0 || self.threads > 1024 {
            return Err("--threads must be 1-1024".into());
        }
        if self.secret.is_empty() {
            return Err("--secret must not be empty".into());
        }
        let ok_prefix = !self.user_prefix.is_empty()
            && self.user_prefix.len() <= 40
            && self
                .user_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:@-".contains(&b));
        if !ok_prefix {
            return Err("--user-prefix must be 1-40 chars of [A-Za-z0-9_.:@-]".into());
        }
        if self.targets.iter().all(|t| t.trim().is_empty()) {
            return Err("--target is required".into());
        }
        Ok(())
    }
}

impl Scenario {
    /// Checks the scenario's flags.
    pub fn check(&self) -> Result<(), String> {
        let rate_ok = |p: &Pace| match p.rate {
            Some(r) if !(r.is_finite() && r > 0.0) => Err("--rate must be > 0".to_string()),
            _ => Ok(()),
        };
        match self {
            Scenario::Viewers(a) => {
                if a.viewers == 0 || a.rooms == 0 {
                    return Err("--viewers and --rooms must be at least 1".into());
                }
                if !(0.0..1.0).contains(&a.jitter) {
                    return Err("--jitter must be in [0, 1)".into());
                }
                Ok(())
            }
            Scenario::HeartbeatMax(a) => {
                if a.users == 0 || a.rooms == 0 {
                    return Err("--users and --rooms must be at least 1".into());
                }
                rate_ok(&a.pace)
            }
            Scenario::HeartbeatCompare(a) => {
                if a.users == 0 || a.rooms == 0 || a.rounds == 0 {
                    return Err("--users, --rooms and --rounds must be at least 1".into());
                }
                Ok(())
            }
            Scenario::JoinChurn(a) => {
                if a.users == 0 {
                    return Err("--users must be at least 1".into());
                }
                if a.rooms < 2 {
                    return Err("--rooms must be at least 2 (users hop between rooms)".into());
                }
                rate_ok(&a.pace)
            }
            Scenario::LivezMax(a) => rate_ok(&a.pace),
            Scenario::Sse(a) => {
                if a.subscribers == 0 || a.rooms == 0 || a.users == 0 {
                    return Err("--subscribers, --rooms and --users must be at least 1".into());
                }
                if !(a.rate.is_finite() && a.rate > 0.0 && a.rate <= 10_000.0) {
                    return Err("--rate must be > 0 and at most 10000".into());
                }
                let ok = !a.events.is_empty()
                    && a.events
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b',');
                if !ok {
                    return Err(
                        "--events must be a comma-separated list of event names or groups".into(),
                    );
                }
                Ok(())
            }
            Scenario::Webhooks(a) => a.check(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn issuer_and_audience_are_common_flags() {
        let cli = Cli::try_parse_from([
            "liveroom-loadtest",
            "heartbeat-max",
            "--issuer",
            "iss-x",
            "--audience",
            "aud-y",
        ])
        .unwrap();
        assert_eq!(cli.common.issuer.as_deref(), Some("iss-x"));
        assert_eq!(cli.common.audience.as_deref(), Some("aud-y"));
    }

    #[test]
    fn help_names_no_internal_issue() {
        let mut cli = Cli::command();
        let mut help = cli.render_long_help().to_string();
        for sub in cli.get_subcommands_mut() {
            help.push_str(&sub.render_long_help().to_string());
        }
        let lower = help.to_lowercase();
        assert!(
            !lower.contains(concat!("issue", " #")) && !lower.contains("the seed"),
            "{help}"
        );
    }
}
