//! The `webhooks` scenario: webhook delivery throughput. The tool runs a receiver of
//! its own (fast: verifies each signature, counts unique events, duplicates and the
//! delay from the event's `created_at` to its receipt) and drives room life cycles
//! through the service — create, start, `--viewers` joins, their leaves, stop,
//! delete, one cycle after another on each connection — so every cycle records
//! about `5 + 2 × viewers` events (SPEC §10). The service must deliver to the
//! receiver: `LIVEROOM_WEBHOOK_URLS=http://<--receiver>/`, the same
//! `LIVEROOM_WEBHOOK_SECRET`, `LIVEROOM_WEBHOOK_EVENTS=all`.
//!
//! Figures: events delivered per second in the measured window; Redis CPU
//! (`INFO cpu`, `used_cpu_sys + used_cpu_user` summed over `--redis-info` servers)
//! per delivered event, in the window (requests and delivery together) and during
//! the drain after the traffic stops (delivery alone, when a backlog is left); the
//! delivery delay percentiles. The join and leave requests are in the usual
//! per-endpoint figures.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use clap::Args;
use hdrhistogram::Histogram;
use hyper::header::HeaderValue;
use hyper::{Method, Uri};
use liveroom::events::signature::{DEFAULT_TOLERANCE, SIGNATURE_HEADER, verify};
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cli::{Common, parse_duration};
use crate::http::{Lane, Req, Target};
use crate::report::Finished;
use crate::run::Run;
use crate::stats::{Op, Stats};
use crate::tokens::Minter;

/// `webhooks` flags.
#[derive(Debug, Clone, Args)]
pub struct WebhooksArgs {
    /// Address of the tool's receiver; give the service
    /// `LIVEROOM_WEBHOOK_URLS=http://<this>/`.
    #[arg(long, default_value = "127.0.0.1:9199")]
    pub receiver: SocketAddr,
    /// The service's `LIVEROOM_WEBHOOK_SECRET`: every delivery's signature is checked.
    #[arg(long, env = "LIVEROOM_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: String,
    /// Viewers joining and leaving each room of a cycle.
    #[arg(long, default_value_t = 3)]
    pub viewers: usize,
    /// Redis servers whose CPU is measured (`INFO cpu`), comma-separated `redis://`
    /// URLs: the service's server, or every master of a Cluster. None: no CPU figure.
    #[arg(long, value_delimiter = ',')]
    pub redis_info: Vec<String>,
    /// After the traffic stops, wait at most this long for the deliveries still
    /// queued (the drain ends earlier once no event came for `--drain-quiet`).
    #[arg(long, default_value = "180s", value_parser = parse_duration)]
    pub drain: Duration,
    /// The drain ends once no event came for this long (delivery may pause for
    /// tens of seconds with rooms still due, so keep it long).
    #[arg(long, default_value = "40s", value_parser = parse_duration)]
    pub drain_quiet: Duration,
}

impl WebhooksArgs {
    /// Checks what clap cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.webhook_secret.is_empty() {
            return Err("--webhook-secret (LIVEROOM_WEBHOOK_SECRET) is required".into());
        }
        if self.viewers > 1000 {
            return Err("--viewers must be 0-1000".into());
        }
        if let Some(bad) = self
            .redis_info
            .iter()
            .find(|u| !(u.starts_with("redis://") || u.starts_with("rediss://")))
        {
            return Err(format!("--redis-info: {bad} is not a redis:// URL"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// The receiver

/// What the receiver counted.
pub struct Received {
    /// Distinct event ids received.
    pub unique: AtomicU64,
    /// Deliveries of an id already received.
    pub duplicates: AtomicU64,
    /// Deliveries refused (bad signature, not an event).
    pub refused: AtomicU64,
    inner: Mutex<Inner>,
}

struct Inner {
    seen: HashSet<String>,
    /// Receipt time − the event's `created_at`, ms (first delivery of each id).
    delay_ms: Histogram<u64>,
}

impl Received {
    fn new() -> Self {
        Self {
            unique: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                seen: HashSet::new(),
                delay_ms: Histogram::new_with_bounds(1, 3_600_000, 3).expect("static bounds"),
            }),
        }
    }
}

struct Receiver {
    secret: Vec<u8>,
    received: Arc<Received>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let refuse = || {
        r.received.refused.fetch_add(1, Relaxed);
        StatusCode::BAD_REQUEST
    };
    let Some(signature) = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()) else {
        return refuse();
    };
    let now = now_ms();
    if verify(&r.secret, signature, &body, now / 1000, DEFAULT_TOLERANCE).is_err() {
        return refuse();
    }
    #[derive(serde::Deserialize)]
    struct Event {
        id: String,
        created_at: i64,
    }
    let Ok(event) = serde_json::from_slice::<Event>(&body) else {
        return refuse();
    };
    let mut inner = r.received.inner.lock().expect("receiver lock");
    if inner.seen.insert(event.id) {
        let delay = (now - event.created_at).max(1) as u64;
        inner.delay_ms.saturating_record(delay);
        r.received.unique.fetch_add(1, Relaxed);
    } else {
        r.received.duplicates.fetch_add(1, Relaxed);
    }
    StatusCode::NO_CONTENT
}

/// Starts the receiver on `addr` (any path, `POST`); its counters.
pub async fn start_receiver(
    addr: SocketAddr,
    secret: &str,
) -> Result<(SocketAddr, Arc<Received>, tokio::task::JoinHandle<()>), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--receiver {addr}: cannot listen: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("--receiver {addr}: {e}"))?;
    let received = Arc::new(Received::new());
    let state = Arc::new(Receiver {
        secret: secret.as_bytes().to_vec(),
        received: received.clone(),
    });
    let app = axum::Router::new()
        .fallback(axum::routing::post(receive))
        .with_state(state);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((bound, received, server))
}

// ---------------------------------------------------------------------------------
// Redis CPU

/// `used_cpu_sys + used_cpu_user` (s) summed over `urls`; None without URLs.
async fn redis_cpu_s(urls: &[String]) -> Result<Option<f64>, String> {
    if urls.is_empty() {
        return Ok(None);
    }
    let mut total = 0.0;
    for url in urls {
        let client =
            redis::Client::open(url.as_str()).map_err(|e| format!("--redis-info {url}: {e}"))?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("--redis-info {url}: {e}"))?;
        let info: String = redis::cmd("INFO")
            .arg("cpu")
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("--redis-info {url}: INFO cpu: {e}"))?;
        total += info_cpu_s(&info);
    }
    Ok(Some(total))
}

/// `used_cpu_sys + used_cpu_user` of one `INFO cpu` answer.
fn info_cpu_s(info: &str) -> f64 {
    info.lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(':')?;
            matches!(k, "used_cpu_sys" | "used_cpu_user")
                .then(|| v.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

// ---------------------------------------------------------------------------------
// The life cycles

fn uri(p: String) -> Result<Uri, String> {
    Uri::from_maybe_shared(Bytes::from(p)).map_err(|e| format!("bad path: {e}"))
}

fn req<'a>(
    op: Op,
    method: Method,
    uri: &'a Uri,
    auth: &'a HeaderValue,
    body: Option<&'a Bytes>,
) -> Req<'a> {
    Req {
        op,
        method,
        uri,
        auth: Some(auth),
        body,
    }
}

/// Cycles on one connection until the run is over (a cycle under way is finished,
/// so no room is left behind). Joins and leaves are recorded; the other requests
/// only counted when they fail.
async fn cycles(
    mut lane: Lane,
    run: Arc<Run>,
    worker: usize,
    anchor: HeaderValue,
    viewers: Vec<HeaderValue>,
    done: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
) -> Stats {
    let mut stats = Stats::default();
    let create = uri("/client/live/room/instance".into()).expect("static path");
    let mut n = 0u64;
    while !run.over() {
        n += 1;
        let body = Bytes::from(json!({ "title": format!("webhooks w{worker} c{n}") }).to_string());
        let out = lane
            .send(&req(Op::Setup, Method::POST, &create, &anchor, Some(&body)))
            .await;
        let live_id = out
            .is_ok()
            .then(|| serde_json::from_slice::<serde_json::Value>(out.body()).ok())
            .flatten()
            .and_then(|v| v["data"]["live_id"].as_str().map(str::to_owned));
        let Some(live_id) = live_id else {
            failed.fetch_add(1, Relaxed);
            // A dead target must not spin the tool.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (Ok(room), Ok(member)) = (
            uri(format!("/client/live/room/{live_id}")),
            uri(format!("/client/live/room/user/{live_id}")),
        ) else {
            failed.fetch_add(1, Relaxed);
            continue;
        };
        let instance = uri(format!("/client/live/room/instance/{live_id}")).expect("valid id");
        let mut ok = lane
            .send(&req(Op::Setup, Method::PUT, &room, &anchor, None))
            .await
            .is_ok();
        for (op, method) in [(Op::Join, Method::POST), (Op::Leave, Method::DELETE)] {
            for viewer in &viewers {
                let started = Instant::now();
                let out = lane
                    .send(&req(op, method.clone(), &member, viewer, None))
                    .await;
                ok &= out.is_ok();
                run.record(&mut stats, op, &out, started);
            }
        }
        ok &= lane
            .send(&req(Op::Setup, Method::POST, &room, &anchor, None))
            .await
            .is_ok();
        ok &= lane
            .send(&req(Op::Setup, Method::DELETE, &instance, &anchor, None))
            .await
            .is_ok();
        if ok {
            done.fetch_add(1, Relaxed);
        } else {
            failed.fetch_add(1, Relaxed);
        }
    }
    stats
}

/// A snapshot of the counters.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    events: u64,
    cpu_s: Option<f64>,
}

async fn sample(received: &Received, redis_info: &[String]) -> Result<Sample, String> {
    Ok(Sample {
        cpu_s: redis_cpu_s(redis_info).await?,
        events: received.unique.load(Relaxed),
        at: Instant::now(),
    })
}

/// Runs the scenario against `targets`.
pub async fn run(
    common: &Common,
    targets: &Arc<[Target]>,
    minter: &Minter,
    args: &WebhooksArgs,
) -> Result<Finished, String> {
    let say = |text: String| {
        if !common.quiet {
            eprintln!("{text}");
        }
    };
    let (addr, received, server) = start_receiver(args.receiver, &args.webhook_secret).await?;
    say(format!(
        "receiver on http://{addr}/; the service must run with LIVEROOM_WEBHOOK_URLS=http://{addr}/ \
         LIVEROOM_WEBHOOK_EVENTS=all and the same LIVEROOM_WEBHOOK_SECRET"
    ));
    // Fail early on a bad --redis-info.
    redis_cpu_s(&args.redis_info).await?;
    let workers = common.connections;
    let anchors = minter.bearers('a', workers)?;
    let viewers = minter.bearers('u', workers * args.viewers)?;

    let run = Run::begin(common.warmup, common.duration);
    run.stop_on_ctrl_c();
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let progress = (!common.quiet).then(|| {
        let (run, received, done) = (run.clone(), received.clone(), done.clone());
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if run.over() {
                    return;
                }
                let now = received.unique.load(Relaxed);
                eprintln!(
                    "{:>7.1}s  cycles {:>7}  events received {now:>9}  last 1s {:>7}/s",
                    run.start.elapsed().as_secs_f64(),
                    done.load(Relaxed),
                    now - last
                );
                last = now;
            }
        })
    });
    let mut set = JoinSet::new();
    for (w, anchor) in anchors.into_iter().enumerate() {
        set.spawn(cycles(
            Lane::new(targets.clone(), common.timeout),
            run.clone(),
            w,
            anchor,
            viewers[w * args.viewers..(w + 1) * args.viewers].to_vec(),
            done.clone(),
            failed.clone(),
        ));
    }
    // The measured window's start; a failed INFO ends the run.
    let sampler = {
        let (run, received, urls) = (run.clone(), received.clone(), args.redis_info.clone());
        tokio::spawn(async move {
            tokio::time::sleep_until(run.measure_from).await;
            sample(&received, &urls).await
        })
    };
    let mut stats = Stats::default();
    while let Some(s) = set.join_next().await {
        if let Ok(s) = s {
            stats.merge(s);
        }
    }
    run.stop();
    let window_end = sample(&received, &args.redis_info).await?;
    if let Some(p) = progress {
        p.abort();
    }
    let window_start = if sampler.is_finished() {
        sampler.await.map_err(|e| format!("sampler: {e}"))??
    } else {
        sampler.abort();
        window_end
    };

    // Drain: until no event for --drain-quiet, or --drain.
    say("traffic stopped; waiting for the last deliveries".into());
    let drain_until = Instant::now() + args.drain;
    let mut last = received.unique.load(Relaxed);
    let mut last_change = Instant::now();
    let drain_start = Instant::now();
    let mut next_say = drain_start + Duration::from_secs(1);
    let mut said = last;
    let mut longest_pause = Duration::ZERO;
    while Instant::now() < drain_until && last_change.elapsed() < args.drain_quiet {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = received.unique.load(Relaxed);
        if now != last {
            longest_pause = longest_pause.max(last_change.elapsed());
            last = now;
            last_change = Instant::now();
        }
        if Instant::now() >= next_say {
            next_say += Duration::from_secs(1);
            say(format!(
                "  drain {:>5.1}s  events received {now:>9}  last 1s {:>7}/s",
                drain_start.elapsed().as_secs_f64(),
                now - said
            ));
            said = now;
        }
    }
    let drained = sample(&received, &args.redis_info).await?;
    server.abort();

    let window_s = window_end.at.duration_since(window_start.at).as_secs_f64();
    let window_events = window_end.events - window_start.events;
    let per_s = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let cpu_us_per_event = |a: &Sample, b: &Sample, events: u64| match (a.cpu_s, b.cpu_s) {
        (Some(x), Some(y)) if events > 0 => {
            Some(((y - x) * 1e6 / events as f64 * 10.0).round() / 10.0)
        }
        _ => None,
    };
    let drain_events = drained.events - window_end.events;
    let drain_s = (drained.at.duration_since(window_end.at).as_secs_f64()
        - last_change.elapsed().as_secs_f64())
    .max(0.0);
    let (delay, total) = {
        let inner = received.inner.lock().expect("receiver lock");
        let h = &inner.delay_ms;
        let q = |q: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            }
        };
        (
            json!({ "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": if h.is_empty() { 0 } else { h.max() } }),
            inner.seen.len() as u64,
        )
    };
    let cycles_done = done.load(Relaxed);
    let figures = json!({
        "events_delivered": total,
        "events_per_sec": (per_s(window_events, window_s) * 10.0).round() / 10.0,
        "window_events": window_events,
        "window_s": (window_s * 1000.0).round() / 1000.0,
        "redis_cpu_us_per_event": cpu_us_per_event(&window_start, &window_end, window_events),
        "drain_events": drain_events,
        "drain_events_per_sec": (per_s(drain_events, drain_s) * 10.0).round() / 10.0,
        "drain_redis_cpu_us_per_event": cpu_us_per_event(&window_end, &drained, drain_events),
        "drain_longest_pause_s": (longest_pause.as_secs_f64() * 10.0).round() / 10.0,
        "delay_ms": delay,
        "duplicates": received.duplicates.load(Relaxed),
        "refused": received.refused.load(Relaxed),
        "cycles": cycles_done,
        "failed_cycles": failed.load(Relaxed),
        "events_per_cycle": if cycles_done > 0 { (total as f64 / cycles_done as f64 * 100.0).round() / 100.0 } else { 0.0 },
    });
    let mut notes = vec![format!(
        "webhooks: {} events/s delivered in the window ({window_events} in {window_s:.1} s); {total} events in all over {cycles_done} cycles ({} per cycle), {} duplicates, {} refused",
        figures["events_per_sec"],
        figures["events_per_cycle"],
        figures["duplicates"],
        figures["refused"],
    )];
    notes.push(format!(
        "webhooks: delay from the change to its receipt, ms: p50 {}  p90 {}  p99 {}  max {}",
        delay["p50"], delay["p90"], delay["p99"], delay["max"]
    ));
    match figures["redis_cpu_us_per_event"].as_f64() {
        Some(cpu) => notes.push(format!(
            "webhooks: Redis CPU {cpu} µs per delivered event in the window (the requests' scripts and the delivery together)"
        )),
        None if args.redis_info.is_empty() => {
            notes.push("webhooks: no Redis CPU figure (give --redis-info)".into())
        }
        None => {}
    }
    if drain_events > 0 {
        notes.push(format!(
            "webhooks: after the traffic, {drain_events} more events delivered at {} /s (longest pause between two {} s){}",
            figures["drain_events_per_sec"],
            figures["drain_longest_pause_s"],
            figures["drain_redis_cpu_us_per_event"]
                .as_f64()
                .map_or(String::new(), |c| format!(
                    ", Redis CPU {c} µs per event (delivery alone)"
                )),
        ));
    }
    if total == 0 {
        notes.push(format!(
            "webhooks: no event received: is the service running with LIVEROOM_WEBHOOK_URLS=http://{addr}/ and LIVEROOM_WEBHOOK_EVENTS=all?"
        ));
    }
    if figures["refused"].as_u64() > Some(0) {
        notes.push("webhooks: deliveries refused: does --webhook-secret match the service's LIVEROOM_WEBHOOK_SECRET?".into());
    }
    let failed_cycles = failed.load(Relaxed);
    if failed_cycles > 0 {
        notes.push(format!("{failed_cycles} cycles had a failed request"));
    }
    Ok(Finished {
        stats,
        measured_s: run.measured().as_secs_f64(),
        params: json!({
            "viewers": args.viewers,
            "receiver": format!("http://{addr}/"),
            "webhooks": figures,
        }),
        rate_target: None,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_from_info() {
        let info = "# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250000\r\nused_cpu_sys_children:9\r\n";
        assert!((info_cpu_s(info) - 3.75).abs() < 1e-9);
    }

    /// The receiver counts each event once, marks repeats, and refuses bad signatures.
    #[tokio::test]
    async fn the_receiver_verifies_and_counts() {
        let (addr, received, server) = start_receiver("127.0.0.1:0".parse().unwrap(), "s")
            .await
            .unwrap();
        let url: reqwest::Url = format!("http://{addr}/x").parse().unwrap();
        let body = format!(
            r#"{{"id":"live_a:1-0","event":"room_created","created_at":{}}}"#,
            now_ms()
        );
        let good = liveroom::webhooks::Sender::new("s", Duration::from_secs(5));
        let bad = liveroom::webhooks::Sender::new("other", Duration::from_secs(5));
        use liveroom::webhooks::Outcome as O;
        assert!(matches!(
            good.send(&url, "live_a:1-0", &body).await,
            O::Delivered
        ));
        assert!(matches!(
            good.send(&url, "live_a:1-0", &body).await,
            O::Delivered
        ));
        assert!(matches!(
            bad.send(&url, "live_a:1-0", &body).await,
            O::Failed(_)
        ));
        assert_eq!(received.unique.load(Relaxed), 1);
        assert_eq!(received.duplicates.load(Relaxed), 1);
        assert_eq!(received.refused.load(Relaxed), 1);
        server.abort();
    }
}
