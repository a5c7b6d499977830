//! `liveroom-floor`: the reference floor of the heartbeat, a benchmark fixture.
//!
//! The thinnest server that does what a heartbeat must, and nothing else: HTTP/1.1
//! on axum (the same hyper connection builder as `liveroom serve`, without its
//! header-read timer), an HS256 JWT verify of the bearer token (jsonwebtoken, the
//! same checks: `exp` and `sub` required, 30 s leeway), one `EVALSHA` of a
//! three-command script (`HGET` the room's `live_status`, `ZSCORE` the member,
//! `ZADD XX` the new beat) on one multiplexed Redis connection, and the JSON envelope
//! (`{"request_id","code","message","data":{"live_id","live_status","next_heartbeat_ms"}}`).
//! No metrics, request-id header, tracing, load shedding, body guard or panic catch.
//!
//! It serves only `GET /client/live/room/heartbeat/{live_id}`, on liveroom's key
//! layout (`{prefix}:{live_id}:room` hash, `…:presence` sorted set), so rooms and
//! members set up through a real `liveroom serve` on the same Redis answer here as
//! they do there, and `liveroom-loadtest heartbeat-max` / `heartbeat-compare` drive
//! both. Answers: 200 / 0 with `data`; 404 / 40400 room not found; 404 / 40401 not
//! present (or expired: score older than the member timeout); 401 / 40100 for a
//! missing or refused token; 503 / 50300 when Redis fails. The beat's time is this
//! machine's clock in ms (heartbeat.lua reads Redis's `TIME`, a fourth command).
//!
//! `loadtest/bench-floor` starts it beside `liveroom serve` and compares the two.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Parser;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// The allocator of `liveroom serve`, so the comparison is of the request path alone.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The three-command heartbeat: `KEYS[1]` room hash, `KEYS[2]` presence zset;
/// `ARGV[1]` user id, `ARGV[2]` now (ms), `ARGV[3]` member timeout (ms). Returns the
/// room's `live_status`, `-1` when the room is missing, `-2` when the member is not
/// present (absent or timed out) — heartbeat.lua's outcomes minus the kicked check.
const SCRIPT: &str = r"
local status = redis.call('HGET', KEYS[1], 'live_status')
if not status then return -1 end
local last = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not last or tonumber(last) <= tonumber(ARGV[2]) - tonumber(ARGV[3]) then return -2 end
redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[1])
return tonumber(status)
";

/// `liveroom-floor` flags.
#[derive(Debug, Parser)]
#[command(
    name = "liveroom-floor",
    about = "Reference floor of the liveroom heartbeat (benchmark fixture): axum, HS256 JWT, one EVALSHA"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Redis URL (one server: the floor has no cluster mode).
    #[arg(
        long,
        env = "LIVEROOM_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis: String,
    /// HS256 secret of the tokens (the service's LIVEROOM_JWT_SECRET).
    #[arg(long, env = "LIVEROOM_JWT_SECRET", hide_env_values = true,
          default_value = liveroom::config::DEV_JWT_SECRET)]
    secret: String,
    /// Key prefix (the service's LIVEROOM_KEY_PREFIX).
    #[arg(long, env = "LIVEROOM_KEY_PREFIX", default_value = "lr")]
    key_prefix: String,
    /// Member timeout in ms (the service's LIVEROOM_MEMBER_TIMEOUT, default 15 s).
    #[arg(long, default_value_t = 15_000)]
    member_timeout_ms: u64,
    /// Heartbeat interval told to clients, ms (jittered ±10% as the service does).
    #[arg(long, default_value_t = 5_000)]
    heartbeat_interval_ms: u64,
}

struct Floor {
    conn: redis::aio::MultiplexedConnection,
    sha: String,
    prefix: String,
    key: DecodingKey,
    validation: Validation,
    member_timeout_ms: u64,
    heartbeat_interval_ms: u64,
    ids: AtomicU64,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    request_id: &'a str,
    code: u32,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

#[derive(Serialize)]
struct Beat {
    live_id: String,
    live_status: u8,
    next_heartbeat_ms: u64,
}

impl Floor {
    /// A request id of the service's length (32 hex digits) from a counter.
    fn request_id(&self) -> String {
        format!("{:032x}", self.ids.fetch_add(1, Relaxed))
    }

    fn reply<T: Serialize>(
        &self,
        status: StatusCode,
        code: u32,
        message: &str,
        data: Option<T>,
    ) -> Response {
        let id = self.request_id();
        let body = serde_json::to_vec(&Envelope {
            request_id: &id,
            code,
            message,
            data,
        })
        .unwrap_or_default();
        (
            status,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response()
    }
}

/// The verified caller (`sub`).
struct Caller(String);

impl FromRequestParts<Arc<Floor>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, floor: &Arc<Floor>) -> Result<Self, Response> {
        let refused =
            || floor.reply::<()>(StatusCode::UNAUTHORIZED, 40100, "token is invalid", None);
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(refused)?;
        let token = header.strip_prefix("Bearer ").unwrap_or(header).trim();
        jsonwebtoken::decode::<Claims>(token, &floor.key, &floor.validation)
            .map(|data| Caller(data.claims.sub))
            .map_err(|_| refused())
    }
}

async fn heartbeat(
    State(floor): State<Arc<Floor>>,
    Caller(user): Caller,
    Path(live_id): Path<String>,
) -> Response {
    let tag = format!("{}:{{{}}}:", floor.prefix, live_id);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let mut conn = floor.conn.clone();
    let reply: redis::RedisResult<i64> = redis::cmd("EVALSHA")
        .arg(&floor.sha)
        .arg(2)
        .arg(format!("{tag}room"))
        .arg(format!("{tag}presence"))
        .arg(&user)
        .arg(now_ms)
        .arg(floor.member_timeout_ms)
        .query_async(&mut conn)
        .await;
    match reply {
        Ok(status) if status >= 0 => {
            let interval = floor.heartbeat_interval_ms;
            let spread = interval / 10;
            let beat = Beat {
                live_id,
                live_status: status.clamp(0, 2) as u8,
                next_heartbeat_ms: interval - spread + rand::random_range(0..=2 * spread),
            };
            floor.reply(StatusCode::OK, 0, "success", Some(beat))
        }
        Ok(-1) => floor.reply::<()>(StatusCode::NOT_FOUND, 40400, "room not found", None),
        Ok(_) => floor.reply::<()>(
            StatusCode::NOT_FOUND,
            40401,
            "user is not in this room",
            None,
        ),
        Err(_) => floor.reply::<()>(
            StatusCode::SERVICE_UNAVAILABLE,
            50300,
            "storage unavailable, retry later",
            None,
        ),
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let client = redis::Client::open(args.redis.as_str()).map_err(|e| format!("--redis: {e}"))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", args.redis))?;
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(SCRIPT)
        .query_async(&mut conn)
        .await
        .map_err(|e| format!("SCRIPT LOAD: {e}"))?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = liveroom::auth::LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let floor = Arc::new(Floor {
        conn,
        sha,
        prefix: args.key_prefix,
        key: DecodingKey::from_secret(args.secret.as_bytes())
            .map_err(|e| format!("--secret: {e}"))?,
        validation,
        member_timeout_ms: args.member_timeout_ms,
        heartbeat_interval_ms: args.heartbeat_interval_ms,
        ids: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/client/live/room/heartbeat/{live_id}", get(heartbeat))
        .route("/livez", get(|| async { "ok" }))
        .with_state(floor);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("--listen {}: {e}", args.listen))?;
    eprintln!("liveroom-floor: listening on {}", args.listen);
    let builder = http1::Builder::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}
