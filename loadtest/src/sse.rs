//! `sse`: many clients on the room event streams
//! (`GET /client/live/room/events/{live_id}`, Server-Sent Events) while the tool
//! drives state changes, measuring what the fan-out costs and how fast it is.
//!
//! 1. Setup: `--rooms` anchors create and start a room each.
//! 2. `--subscribers` streams are opened (subscriber `i` listens to room `i mod R`
//!    on target `(i div R) mod T`, so each room has streams on every target;
//!    `?events=` `--events`), each on its own connection; the
//!    tool waits for every snapshot.
//! 3. For `--warmup` + `--duration` the tool makes `--rate` state changes a second:
//!    a user joins a random room (`member_joined` there and, from the second join
//!    on, `member_left` with reason `switched` in the room it left).
//! 4. The anchors stop their rooms; each stream must end after `room_stopped`.
//!
//! Figures: latency from the change to its delivery (the event's `created_at`, Redis's
//! clock in ms, against this machine's clock when the event is parsed: run the tool
//! on the Redis host, or with synchronized clocks), as p50 / p90 / p99 / max in ms over
//! the measured window; events delivered per second; the replicas' Redis reads for the
//! streams (`liveroom_sse_polls_total` from each target's `/metrics`, per second, in
//! the measured window) and their open streams and polled rooms; with `--pid`, each
//! replica's resident memory (`VmRSS`) before the streams, with them open, and per
//! stream.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::header::{AUTHORIZATION, HOST, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::cli::{Common, SseArgs};
use crate::http::{Outcome, Pool, Req, Target, json_int};
use crate::stats::Op;
use crate::tokens::{Audience, Minter};

/// Streams being opened at once (connect, request, snapshot).
const OPENING: usize = 256;

/// The report of an `sse` run.
#[derive(Debug, Serialize)]
pub struct SseReport {
    pub scenario: &'static str,
    pub targets: Vec<String>,
    pub subscribers: usize,
    pub rooms: usize,
    pub events_query: String,
    /// Seconds until every stream had its snapshot.
    pub open_seconds: f64,
    /// Streams that could not be opened (or got no snapshot).
    pub open_failures: usize,
    /// State changes (joins) made in the measured window, and per second.
    pub changes: u64,
    pub changes_per_second: f64,
    pub measured_seconds: f64,
    /// Room events delivered in the measured window (every stream counted), and per
    /// second.
    pub events_delivered: u64,
    pub events_per_second: f64,
    /// `online` events delivered in the measured window.
    pub online_events: u64,
    /// Change-to-delivery latency, ms (`created_at` to receipt).
    pub latency_ms: Latency,
    /// Streams ended with `event: reconnect`, by reason.
    pub reconnects: BTreeMap<String, u64>,
    /// Streams that ended after `room_stopped` when the rooms were stopped.
    pub ended_on_stop: usize,
    /// Per target: Redis reads for the streams, open streams, polled rooms.
    pub replicas: Vec<ReplicaFigures>,
    /// Redis reads for the streams per second, all targets.
    pub polls_per_second: f64,
    /// With `--pid`: resident memory of each process.
    pub memory: Vec<Memory>,
    /// Total resident memory growth with the streams open, KiB per stream.
    pub rss_kib_per_subscriber: Option<f64>,
}

/// Latency figures, ms.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// One target's stream figures, from its `/metrics`.
#[derive(Debug, Serialize)]
pub struct ReplicaFigures {
    pub target: String,
    pub polls_per_second: f64,
    pub subscribers: f64,
    pub rooms_polled: f64,
}

/// One process's resident memory, KiB.
#[derive(Debug, Serialize)]
pub struct Memory {
    pub pid: u32,
    pub rss_before_kib: u64,
    pub rss_with_streams_kib: u64,
}

impl SseReport {
    /// The report as text.
    pub fn text(&self) -> String {
        let mut t = String::new();
        let l = &self.latency_ms;
        t.push_str(&format!(
            "sse: {} subscribers over {} rooms on {} (events={})\n",
            self.subscribers,
            self.rooms,
            self.targets.join(", "),
            self.events_query
        ));
        t.push_str(&format!(
            "  opened in {:.1}s, {} failed\n",
            self.open_seconds, self.open_failures
        ));
        t.push_str(&format!(
            "  measured {:.1}s: {} changes ({:.1}/s), {} events delivered ({:.0}/s), {} online events\n",
            self.measured_seconds,
            self.changes,
            self.changes_per_second,
            self.events_delivered,
            self.events_per_second,
            self.online_events
        ));
        t.push_str(&format!(
            "  change → delivery (ms): p50 {}  p90 {}  p99 {}  max {}  (n={})\n",
            l.p50, l.p90, l.p99, l.max, l.count
        ));
        t.push_str(&format!(
            "  Redis reads for the streams: {:.1}/s in all\n",
            self.polls_per_second
        ));
        for r in &self.replicas {
            t.push_str(&format!(
                "    {}: {:.1} polls/s, {} streams, {} rooms polled\n",
                r.target, r.polls_per_second, r.subscribers, r.rooms_polled
            ));
        }
        for m in &self.memory {
            t.push_str(&format!(
                "  pid {}: VmRSS {} KiB before, {} KiB with the streams\n",
                m.pid, m.rss_before_kib, m.rss_with_streams_kib
            ));
        }
        if let Some(k) = self.rss_kib_per_subscriber {
            t.push_str(&format!("  memory per stream: {k:.1} KiB\n"));
        }
        t.push_str(&format!(
            "  ended after room_stopped: {} of {}; reconnects: {:?}\n",
            self.ended_on_stop, self.subscribers, self.reconnects
        ));
        t
    }
}

/// What every stream task shares.
struct Shared {
    /// Latencies of the measured window, ms.
    latency: Mutex<Histogram<u64>>,
    /// Whether events count (the measured window).
    measuring: std::sync::atomic::AtomicBool,
    events: AtomicU64,
    online: AtomicU64,
    snapshots: AtomicUsize,
    failures: AtomicUsize,
    ended_on_stop: AtomicUsize,
    reconnects: Mutex<BTreeMap<String, u64>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `VmRSS` of `pid`, KiB.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("--pid {pid}: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("--pid {pid}: no VmRSS in /proc/{pid}/status"))
}

/// An unlabelled metric of a target's `/metrics` (0 when absent).
async fn metric(pool: &Pool, name: &str) -> Result<f64, String> {
    let uri: Uri = "/metrics".parse().expect("static path");
    let out = pool
        .send(
            &Req {
                op: Op::Setup,
                method: Method::GET,
                uri: &uri,
                auth: None,
                body: None,
            },
            None,
        )
        .await;
    if !matches!(out, Outcome::Answered { status: 200, .. }) {
        return Err(format!("GET /metrics: {}", out.describe()));
    }
    let text = String::from_utf8_lossy(out.body());
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0))
}

/// Each target's (polls, subscribers, rooms) from its `/metrics`.
async fn replica_metrics(pools: &[Pool]) -> Result<Vec<(f64, f64, f64)>, String> {
    let mut out = Vec::new();
    for pool in pools {
        out.push((
            metric(pool, "liveroom_sse_polls_total").await?,
            metric(pool, "liveroom_sse_subscribers").await?,
            metric(pool, "liveroom_sse_rooms").await?,
        ));
    }
    Ok(out)
}

/// A setup request: `method path` as `auth`, answered 2xx / code 0, body returned.
async fn setup(
    pool: &Pool,
    method: Method,
    path: &str,
    auth: &HeaderValue,
    body: Option<Bytes>,
) -> Result<Vec<u8>, String> {
    let uri: Uri = path.parse().map_err(|e| format!("bad path {path}: {e}"))?;
    let out = pool
        .send(
            &Req {
                op: Op::Setup,
                method: method.clone(),
                uri: &uri,
                auth: Some(auth),
                body: body.as_ref(),
            },
            None,
        )
        .await;
    if out.is_ok() {
        Ok(out.body().to_vec())
    } else {
        Err(format!("setup failed: {method} {path}: {}", out.describe()))
    }
}

/// Runs the `sse` scenario.
pub async fn run(common: Common, args: SseArgs) -> Result<SseReport, String> {
    let mut targets = Vec::new();
    for url in common.targets.iter().filter(|t| !t.trim().is_empty()) {
        targets.push(Target::resolve(url).await?);
    }
    let targets: Arc<[Target]> = targets.into();
    let say = |text: String| {
        if !common.quiet {
            eprintln!("{text}");
        }
    };
    let ttl = common.warmup + common.duration + Duration::from_secs(3600);
    let minter = Minter::new(
        &common.secret,
        &common.user_prefix,
        ttl,
        Audience {
            issuer: common.issuer.clone(),
            audience: common.audience.clone(),
        },
    )?;
    let pool = Pool::new(targets.clone(), common.timeout, common.connections);
    // One pool per target for its /metrics.
    let metric_pools: Vec<Pool> = targets
        .iter()
        .map(|t| {
            let one: Arc<[Target]> = vec![t.clone()].into();
            Pool::new(one, common.timeout, 1)
        })
        .collect();

    // 1. Rooms.
    let anchors = minter.bearers('a', args.rooms)?;
    let mut rooms = Vec::with_capacity(args.rooms);
    for (i, anchor) in anchors.iter().enumerate() {
        let body = Bytes::from(json!({ "title": format!("sse loadtest room {i}") }).to_string());
        let created = setup(
            &pool,
            Method::POST,
            "/client/live/room/instance",
            anchor,
            Some(body),
        )
        .await?;
        let live_id = serde_json::from_slice::<serde_json::Value>(&created)
            .ok()
            .and_then(|v| v["data"]["live_id"].as_str().map(str::to_owned))
            .ok_or("setup failed: create room: no data.live_id")?;
        setup(
            &pool,
            Method::PUT,
            &format!("/client/live/room/{live_id}"),
            anchor,
            None,
        )
        .await?;
        rooms.push(live_id);
    }
    say(format!("setup: {} rooms live", rooms.len()));
    let rooms: Arc<[String]> = rooms.into();

    let rss_before: Vec<u64> = args
        .pids
        .iter()
        .map(|p| rss_kib(*p))
        .collect::<Result<_, _>>()?;

    // 2. Streams.
    let shared = Arc::new(Shared {
        latency: Mutex::new(Histogram::new_with_bounds(1, 3_600_000, 3).expect("bounds")),
        measuring: std::sync::atomic::AtomicBool::new(false),
        events: AtomicU64::new(0),
        online: AtomicU64::new(0),
        snapshots: AtomicUsize::new(0),
        failures: AtomicUsize::new(0),
        ended_on_stop: AtomicUsize::new(0),
        reconnects: Mutex::new(BTreeMap::new()),
    });
    let opening = Arc::new(Semaphore::new(OPENING));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.subscribers {
        let auth = minter.bearer(&minter.user_id('s', i))?;
        let path = format!(
            "/client/live/room/events/{}?events={}",
            rooms[i % rooms.len()],
            args.events
        );
        let (targets, shared, opening) = (targets.clone(), shared.clone(), opening.clone());
        // Every room's subscribers spread over every target.
        let target_index = (i / rooms.len()) % targets.len();
        tasks.spawn(async move {
            let target = &targets[target_index];
            let permit = opening.acquire_owned().await.expect("never closed");
            if let Err(e) = subscribe(target, &path, &auth, &shared, permit).await {
                shared.failures.fetch_add(1, Relaxed);
                if shared.failures.load(Relaxed) <= 3 {
                    eprintln!("sse: stream {i}: {e}");
                }
            }
        });
    }
    loop {
        let done = shared.snapshots.load(Relaxed) + shared.failures.load(Relaxed);
        if done >= args.subscribers {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err(format!(
                "only {done} of {} streams opened within 120 s",
                args.subscribers
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_seconds = started.elapsed().as_secs_f64();
    say(format!(
        "setup: {} streams open in {open_seconds:.1}s ({} failed)",
        shared.snapshots.load(Relaxed),
        shared.failures.load(Relaxed)
    ));

    // 3. Changes: warm-up, then the measured window.
    let users = args.users.max(1);
    let user_tokens = minter.bearers('u', users)?;
    let joins: Vec<String> = rooms
        .iter()
        .map(|id| format!("/client/live/room/user/{id}"))
        .collect();
    let mut rng = SmallRng::seed_from_u64(7);
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut next = Instant::now();
    let mut k = 0usize;
    let warm_end = Instant::now() + common.warmup;
    let end = warm_end + common.duration;
    let mut measured_from = None;
    let mut before = Vec::new();
    let mut changes = 0u64;
    let mut last_progress = Instant::now();
    while Instant::now() < end {
        if measured_from.is_none() && Instant::now() >= warm_end {
            before = replica_metrics(&metric_pools).await?;
            shared.measuring.store(true, Relaxed);
            measured_from = Some(Instant::now());
        }
        tokio::time::sleep_until(next).await;
        next += interval;
        let room = rng.random_range(0..rooms.len());
        let user = &user_tokens[k % users];
        k += 1;
        // One change at a time, in order (so joins of one user do not race).
        if setup(&pool, Method::POST, &joins[room], user, None)
            .await
            .is_ok()
            && measured_from.is_some()
        {
            changes += 1;
        }
        if !common.quiet && last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            eprintln!(
                "sse: {} changes, {} events delivered",
                k,
                shared.events.load(Relaxed)
            );
        }
    }
    // Let the last changes arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let measured_from = measured_from.unwrap_or(warm_end);
    let measured = measured_from.elapsed().as_secs_f64();
    shared.measuring.store(false, Relaxed);
    let after = replica_metrics(&metric_pools).await?;
    let rss_with: Vec<u64> = args
        .pids
        .iter()
        .map(|p| rss_kib(*p))
        .collect::<Result<_, _>>()?;

    // 4. The end: stop the rooms; streams end after room_stopped.
    for (anchor, id) in anchors.iter().zip(rooms.iter()) {
        let _ = setup(
            &pool,
            Method::POST,
            &format!("/client/live/room/{id}"),
            anchor,
            None,
        )
        .await;
    }
    let ending = Instant::now();
    while !tasks.is_empty() && ending.elapsed() < Duration::from_secs(15) {
        let _ = tokio::time::timeout(Duration::from_millis(200), tasks.join_next()).await;
    }
    tasks.abort_all();
    if !common.keep_rooms {
        for (anchor, id) in anchors.iter().zip(rooms.iter()) {
            let _ = setup(
                &pool,
                Method::DELETE,
                &format!("/client/live/room/instance/{id}"),
                anchor,
                None,
            )
            .await;
        }
    }

    let hist = shared.latency.lock().expect("latency lock");
    let replicas: Vec<ReplicaFigures> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| ReplicaFigures {
            target: t.url.clone(),
            polls_per_second: (after[i].0 - before.get(i).map_or(0.0, |b| b.0)) / measured,
            subscribers: after[i].1,
            rooms_polled: after[i].2,
        })
        .collect();
    let memory: Vec<Memory> = args
        .pids
        .iter()
        .enumerate()
        .map(|(i, pid)| Memory {
            pid: *pid,
            rss_before_kib: rss_before[i],
            rss_with_streams_kib: rss_with[i],
        })
        .collect();
    let opened = shared.snapshots.load(Relaxed);
    let rss_kib_per_subscriber = (!memory.is_empty() && opened > 0).then(|| {
        let grown: f64 = memory
            .iter()
            .map(|m| m.rss_with_streams_kib as f64 - m.rss_before_kib as f64)
            .sum();
        grown / opened as f64
    });
    let events = shared.events.load(Relaxed);
    Ok(SseReport {
        scenario: "sse",
        targets: targets.iter().map(|t| t.url.clone()).collect(),
        subscribers: args.subscribers,
        rooms: rooms.len(),
        events_query: args.events.clone(),
        open_seconds,
        open_failures: shared.failures.load(Relaxed),
        changes,
        changes_per_second: changes as f64 / measured,
        measured_seconds: measured,
        events_delivered: events,
        events_per_second: events as f64 / measured,
        online_events: shared.online.load(Relaxed),
        latency_ms: Latency {
            count: hist.len(),
            p50: hist.value_at_quantile(0.5),
            p90: hist.value_at_quantile(0.9),
            p99: hist.value_at_quantile(0.99),
            max: hist.max(),
        },
        reconnects: shared.reconnects.lock().expect("lock").clone(),
        ended_on_stop: shared.ended_on_stop.load(Relaxed),
        polls_per_second: replicas.iter().map(|r| r.polls_per_second).sum(),
        replicas,
        memory,
        rss_kib_per_subscriber,
    })
}

/// One stream: connect, request, read events until the stream ends.
async fn subscribe(
    target: &Target,
    path: &str,
    auth: &HeaderValue,
    shared: &Shared,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<(), String> {
    let stream = TcpStream::connect(target.addr())
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(HOST, target.host())
        .header(AUTHORIZATION, auth)
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status()));
    }
    let mut body = response.into_body();
    let mut buffer: Vec<u8> = Vec::new();
    let mut permit = Some(permit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("body: {e}"))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        buffer.extend_from_slice(data);
        let received = now_ms();
        while let Some(end) = find(&buffer, b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            let Some(name) = field(&block, b"event: ") else {
                continue;
            };
            match name {
                b"room" => {
                    if permit.take().is_some() {
                        shared.snapshots.fetch_add(1, Relaxed);
                    }
                }
                b"online" => {
                    if shared.measuring.load(Relaxed) {
                        shared.online.fetch_add(1, Relaxed);
                    }
                }
                b"reconnect" => {
                    let data = field(&block, b"data: ").unwrap_or_default();
                    let reason = String::from_utf8_lossy(data).into_owned();
                    *shared
                        .reconnects
                        .lock()
                        .expect("lock")
                        .entry(reason)
                        .or_default() += 1;
                }
                b"room_stopped" => {
                    shared.ended_on_stop.fetch_add(1, Relaxed);
                }
                _ => {
                    if shared.measuring.load(Relaxed) {
                        shared.events.fetch_add(1, Relaxed);
                        if let Some(at) =
                            field(&block, b"data: ").and_then(|d| json_int(d, b"\"created_at\""))
                        {
                            let ms = (received - at).max(1) as u64;
                            let _ = shared.latency.lock().expect("lock").record(ms);
                        }
                    }
                }
            }
        }
    }
    if permit.is_some() {
        return Err("the stream ended before its snapshot".into());
    }
    Ok(())
}

/// The value of the line starting with `prefix` in an SSE block.
fn field<'a>(block: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    block
        .split(|b| *b == b'\n')
        .find_map(|line| line.strip_prefix(prefix))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_an_sse_block() {
        let block = b"event: member_joined\nid: 1-0\ndata: {\"created_at\":1733,\"x\":1}\n\n";
        assert_eq!(field(block, b"event: "), Some(&b"member_joined"[..]));
        let data = field(block, b"data: ").unwrap();
        assert_eq!(json_int(data, b"\"created_at\""), Some(1733));
        assert_eq!(field(block, b"retry: "), None);
    }
}
