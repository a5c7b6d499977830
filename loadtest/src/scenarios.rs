//! The scenarios: setup (rooms, joined users), the measured traffic, clean-up.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Uri};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cli::{ChurnArgs, Common, CompareArgs, HeartbeatArgs, LivezArgs, Scenario, ViewersArgs};
use crate::http::{Lane, Outcome, Pool, Req, Target, json_int};
use crate::report::{CompareReport, Finished, Report, Side};
use crate::run::Run;
use crate::stats::{Op, Stats};
use crate::tokens::{Audience, Minter};

/// The service's default member timeout (SPEC §6): a member silent this long is gone.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the tool's anchors heartbeat in the `*-max` scenarios (unmeasured).
const ANCHOR_INTERVAL: Duration = Duration::from_secs(5);
/// Pause after a transport error, so a dead target does not spin the tool.
const ERROR_PAUSE: Duration = Duration::from_millis(50);

/// What every scenario needs.
struct Ctx {
    common: Common,
    targets: Arc<[Target]>,
    minter: Minter,
}

impl Ctx {
    fn say(&self, text: impl AsRef<str>) {
        if !self.common.quiet {
            eprintln!("{}", text.as_ref());
        }
    }

    fn pool(&self) -> Arc<Pool> {
        Arc::new(Pool::new(
            self.targets.clone(),
            self.common.timeout,
            self.common.connections,
        ))
    }
}

impl Ctx {
    /// Resolves the targets and makes the minter of tokens valid for `run_for` + 1 h.
    async fn new(common: Common, run_for: Duration) -> Result<Self, String> {
        let mut targets = Vec::new();
        for url in common.targets.iter().filter(|t| !t.trim().is_empty()) {
            targets.push(Target::resolve(url).await?);
        }
        let ttl = run_for + Duration::from_secs(3600);
        let claims = Audience {
            issuer: common.issuer.clone(),
            audience: common.audience.clone(),
        };
        let minter = Minter::new(&common.secret, &common.user_prefix, ttl, claims)?;
        Ok(Ctx {
            targets: targets.into(),
            minter,
            common,
        })
    }
}

/// Resolves the targets, mints tokens, runs `scenario`, builds the report.
pub async fn run(common: Common, scenario: Scenario) -> Result<Report, String> {
    let run_for = common.warmup + common.duration;
    let ctx = Ctx::new(common, run_for).await?;
    let finished = match &scenario {
        Scenario::Viewers(a) => viewers(&ctx, a).await?,
        Scenario::HeartbeatMax(a) => heartbeat_max(&ctx, a).await?,
        Scenario::JoinChurn(a) => join_churn(&ctx, a).await?,
        Scenario::LivezMax(a) => livez_max(&ctx, a).await?,
        Scenario::HeartbeatCompare(_) => {
            return Err("the heartbeat-compare scenario runs through compare".into());
        }
        Scenario::Sse(_) => return Err("the sse scenario runs through crate::sse".into()),
        Scenario::Webhooks(a) => {
            crate::webhooks::run(&ctx.common, &ctx.targets, &ctx.minter, a).await?
        }
    };
    Ok(Report::build(
        scenario.name(),
        ctx.targets.iter().map(|t| t.url.clone()).collect(),
        ctx.common.connections,
        ctx.common.threads,
        ctx.common.warmup.as_secs_f64(),
        finished,
    ))
}

// ---------------------------------------------------------------------------------
// Rooms and setup

/// A room the tool created, with its pre-built request parts.
struct Room {
    anchor: HeaderValue,
    join: Uri,
    heartbeat: Uri,
    start: Uri,
    delete: Uri,
}

impl Room {
    fn new(live_id: &str, anchor: HeaderValue) -> Result<Self, String> {
        Ok(Self {
            anchor,
            join: path(format!("/client/live/room/user/{live_id}"))?,
            heartbeat: path(format!("/client/live/room/heartbeat/{live_id}"))?,
            start: path(format!("/client/live/room/{live_id}"))?,
            delete: path(format!("/client/live/room/instance/{live_id}"))?,
        })
    }
}

fn path(p: String) -> Result<Uri, String> {
    Uri::from_maybe_shared(Bytes::from(p)).map_err(|e| format!("bad path: {e}"))
}

fn setup_req<'a>(
    method: Method,
    uri: &'a Uri,
    auth: &'a HeaderValue,
    body: Option<&'a Bytes>,
) -> Req<'a> {
    Req {
        op: Op::Setup,
        method,
        uri,
        auth: Some(auth),
        body,
    }
}

/// The body of a successful setup answer, or why setup cannot go on.
fn expect_ok<'a>(outcome: &'a Outcome, what: &str) -> Result<&'a [u8], String> {
    if outcome.is_ok() {
        return Ok(outcome.body());
    }
    let hint = match outcome {
        Outcome::Answered { status: 401, .. } => {
            " (does --secret / LIVEROOM_JWT_SECRET match the service's LIVEROOM_JWT_SECRET?)"
        }
        _ => "",
    };
    Err(format!(
        "setup failed: {what}: {}{hint}",
        outcome.describe()
    ))
}

/// Runs `f(0..n)` on `width` concurrent tasks; results in index order; stops at the
/// first error.
async fn parallel<T, F, Fut>(n: usize, width: usize, f: F) -> Result<Vec<T>, String>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let f = Arc::new(f);
    let width = width.clamp(1, n.max(1));
    let mut set = JoinSet::new();
    for w in 0..width {
        let f = f.clone();
        set.spawn(async move {
            let mut out = Vec::new();
            for i in (w..n).step_by(width) {
                out.push((i, f(i).await?));
            }
            Ok::<_, String>(out)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(done) = set.join_next().await {
        all.extend(done.map_err(|e| format!("setup task failed: {e}"))??);
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
}

/// `m` anchors (`{prefix}-a{i}`) each create a room and start it.
async fn create_rooms(ctx: &Ctx, pool: &Arc<Pool>, m: usize) -> Result<Arc<[Room]>, String> {
    let started = Instant::now();
    let anchors = Arc::new(ctx.minter.bearers('a', m)?);
    let pool = pool.clone();
    let create = path("/client/live/room/instance".into())?;
    let rooms = parallel(m, ctx.common.connections, move |i| {
        let (pool, anchors, create) = (pool.clone(), anchors.clone(), create.clone());
        async move {
            let anchor = &anchors[i];
            let body = Bytes::from(json!({ "title": format!("loadtest room {i}") }).to_string());
            let out = pool
                .send(&setup_req(Method::POST, &create, anchor, Some(&body)), None)
                .await;
            let answer = expect_ok(&out, "create room")?;
            let live_id = serde_json::from_slice::<serde_json::Value>(answer)
                .ok()
                .and_then(|v| v["data"]["live_id"].as_str().map(str::to_owned))
                .ok_or("setup failed: create room: no data.live_id in the answer")?;
            let room = Room::new(&live_id, anchor.clone())?;
            let out = pool
                .send(&setup_req(Method::PUT, &room.start, anchor, None), None)
                .await;
            expect_ok(&out, "start room")?;
            Ok(room)
        }
    })
    .await?;
    ctx.say(format!(
        "setup: {m} rooms created and live in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(rooms.into())
}

/// Every user joins its room (`room_of[i]`).
async fn join_users(
    ctx: &Ctx,
    pool: &Arc<Pool>,
    users: &Arc<[HeaderValue]>,
    rooms: &Arc<[Room]>,
    room_of: fn(usize, usize) -> usize,
) -> Result<(), String> {
    let started = Instant::now();
    let (pool, users2, rooms2) = (pool.clone(), users.clone(), rooms.clone());
    parallel(users.len(), ctx.common.connections, move |i| {
        let (pool, users, rooms) = (pool.clone(), users2.clone(), rooms2.clone());
        async move {
            let room = &rooms[room_of(i, rooms.len())];
            let out = pool
                .send(&setup_req(Method::POST, &room.join, &users[i], None), None)
                .await;
            expect_ok(&out, "join").map(|_| ())
        }
    })
    .await?;
    ctx.say(format!(
        "setup: {} users joined in {:.1}s",
        users.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Deletes the rooms (members are released), unless `--keep-rooms`.
async fn delete_rooms(ctx: &Ctx, pool: &Arc<Pool>, rooms: &Arc<[Room]>, notes: &mut Vec<String>) {
    if ctx.common.keep_rooms {
        return;
    }
    let failed = Arc::new(AtomicUsize::new(0));
    let (pool, rooms2, failed2) = (pool.clone(), rooms.clone(), failed.clone());
    let _ = parallel(rooms.len(), ctx.common.connections, move |i| {
        let (pool, rooms, failed) = (pool.clone(), rooms2.clone(), failed2.clone());
        async move {
            let room = &rooms[i];
            let out = pool
                .send(
                    &setup_req(Method::DELETE, &room.delete, &room.anchor, None),
                    None,
                )
                .await;
            if !out.is_ok() {
                failed.fetch_add(1, Relaxed);
            }
            Ok(())
        }
    })
    .await;
    let failed = failed.load(Relaxed);
    if failed > 0 {
        notes.push(format!("clean-up: {failed} rooms could not be deleted"));
    }
    ctx.say(format!("clean-up: {} rooms deleted", rooms.len() - failed));
}

/// Keeps the anchors present (unmeasured heartbeats every 5 s; a start again if the
/// anchor was dropped), so rooms stay live however long the run.
fn keep_anchors(ctx: &Ctx, run: &Arc<Run>, rooms: &Arc<[Room]>) -> tokio::task::JoinHandle<()> {
    let (run, rooms) = (run.clone(), rooms.clone());
    let mut lane = Lane::new(ctx.targets.clone(), ctx.common.timeout);
    tokio::spawn(async move {
        loop {
            let next = Instant::now() + ANCHOR_INTERVAL;
            if !run.sleep_until(next).await {
                return;
            }
            for room in rooms.iter() {
                if run.over() {
                    return;
                }
                let out = lane
                    .send(&setup_req(Method::GET, &room.heartbeat, &room.anchor, None))
                    .await;
                if out.code() == Some(40401) {
                    let _ = lane
                        .send(&setup_req(Method::PUT, &room.start, &room.anchor, None))
                        .await;
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------------
// Closed and open loops

/// Chooses each worker's next request.
trait Job: Send + 'static {
    fn next(&mut self) -> Req<'_>;
}

/// When a worker sends: back-to-back (closed loop), or on a fixed schedule (open
/// loop, wrk2 style: each of K workers sends every K/R s, staggered).
enum Pacer {
    Closed,
    Open {
        t0: Instant,
        interval: f64,
        offset: f64,
        sent: u64,
    },
}

impl Pacer {
    fn new(rate: Option<f64>, workers: usize, worker: usize, t0: Instant) -> Self {
        match rate {
            None => Pacer::Closed,
            Some(rate) => {
                let interval = workers as f64 / rate;
                Pacer::Open {
                    t0,
                    interval,
                    offset: interval * worker as f64 / workers as f64,
                    sent: 0,
                }
            }
        }
    }

    /// Waits for the next send; returns the time latency counts from, or None at the
    /// end. Open loop: a request sent late because the previous answer came late
    /// counts from its scheduled time (no coordinated omission); one sent on time
    /// counts from when it really left, so the tool's timer slack is not billed to
    /// the service.
    async fn next(&mut self, run: &Run) -> Option<Instant> {
        match self {
            Pacer::Closed => (!run.over()).then(Instant::now),
            Pacer::Open {
                t0,
                interval,
                offset,
                sent,
            } => {
                let at = *t0 + Duration::from_secs_f64(*offset + *sent as f64 * *interval);
                *sent += 1;
                if at >= run.end || run.over() {
                    return None;
                }
                if Instant::now() < at {
                    if !run.sleep_until(at).await {
                        return None;
                    }
                    Some(Instant::now())
                } else {
                    Some(at)
                }
            }
        }
    }
}

/// One worker per job, each with its own lane; returns the merged statistics.
async fn run_workers<J: Job>(ctx: &Ctx, run: &Arc<Run>, rate: Option<f64>, jobs: Vec<J>) -> Stats {
    run_workers_on(&ctx.targets, ctx.common.timeout, run, rate, jobs).await
}

/// [`run_workers`] with lanes on `targets`.
async fn run_workers_on<J: Job>(
    targets: &Arc<[Target]>,
    timeout: Duration,
    run: &Arc<Run>,
    rate: Option<f64>,
    jobs: Vec<J>,
) -> Stats {
    let workers = jobs.len();
    let mut set = JoinSet::new();
    for (w, mut job) in jobs.into_iter().enumerate() {
        let run = run.clone();
        let mut lane = Lane::new(targets.clone(), timeout);
        let mut pacer = Pacer::new(rate, workers, w, run.start);
        set.spawn(async move {
            let mut stats = Stats::default();
            while let Some(started) = pacer.next(&run).await {
                let req = job.next();
                let outcome = lane.send(&req).await;
                run.record(&mut stats, req.op, &outcome, started);
                if matches!(outcome, Outcome::Failed(_))
                    && !run.sleep_until(Instant::now() + ERROR_PAUSE).await
                {
                    break;
                }
            }
            stats
        });
    }
    let mut total = Stats::default();
    while let Some(done) = set.join_next().await {
        if let Ok(stats) = done {
            total.merge(stats);
        }
    }
    total
}

fn begin(ctx: &Ctx) -> (Arc<Run>, Option<tokio::task::JoinHandle<()>>) {
    let run = Run::begin(ctx.common.warmup, ctx.common.duration);
    run.stop_on_ctrl_c();
    let progress = (!ctx.common.quiet).then(|| run.spawn_progress());
    (run, progress)
}

async fn finish(run: &Run, progress: Option<tokio::task::JoinHandle<()>>) {
    run.stop();
    if let Some(p) = progress {
        let _ = p.await;
    }
}

// ---------------------------------------------------------------------------------
// livez-max

struct Livez {
    uri: Uri,
}

impl Job for Livez {
    fn next(&mut self) -> Req<'_> {
        Req {
            op: Op::Livez,
            method: Method::GET,
            uri: &self.uri,
            auth: None,
            body: None,
        }
    }
}

async fn livez_max(ctx: &Ctx, a: &LivezArgs) -> Result<Finished, String> {
    let uri = Uri::from_static("/livez");
    let jobs = (0..ctx.common.connections)
        .map(|_| Livez { uri: uri.clone() })
        .collect();
    let (run, progress) = begin(ctx);
    let stats = run_workers(ctx, &run, a.pace.rate, jobs).await;
    let measured_s = run.measured().as_secs_f64();
    finish(&run, progress).await;
    Ok(Finished {
        stats,
        measured_s,
        params: json!({}),
        rate_target: a.pace.rate,
        notes: Vec::new(),
    })
}

// ---------------------------------------------------------------------------------
// heartbeat-max

struct Beats {
    calls: Arc<[(Uri, HeaderValue)]>,
    cursor: Arc<AtomicUsize>,
}

impl Job for Beats {
    fn next(&mut self) -> Req<'_> {
        let i = self.cursor.fetch_add(1, Relaxed) % self.calls.len();
        let (uri, auth) = &self.calls[i];
        Req {
            op: Op::Heartbeat,
            method: Method::GET,
            uri,
            auth: Some(auth),
            body: None,
        }
    }
}

fn spread(i: usize, m: usize) -> usize {
    i % m
}

/// The heartbeat scenarios' setup: `rooms` live rooms, `users` users joined to them
/// (user i in room i mod rooms), and each user's heartbeat call (URI, bearer).
async fn seed_heartbeats(
    ctx: &Ctx,
    pool: &Arc<Pool>,
    rooms: usize,
    users: usize,
) -> Result<(Arc<[Room]>, Arc<[(Uri, HeaderValue)]>), String> {
    let rooms = create_rooms(ctx, pool, rooms).await?;
    let users: Arc<[HeaderValue]> = ctx.minter.bearers('u', users)?.into();
    join_users(ctx, pool, &users, &rooms, spread).await?;
    let calls = users
        .iter()
        .enumerate()
        .map(|(i, auth)| {
            (
                rooms[spread(i, rooms.len())].heartbeat.clone(),
                auth.clone(),
            )
        })
        .collect();
    Ok((rooms, calls))
}

async fn heartbeat_max(ctx: &Ctx, a: &HeartbeatArgs) -> Result<Finished, String> {
    let mut notes = Vec::new();
    if let Some(rate) = a.pace.rate {
        let period = a.users as f64 / rate;
        if period > MEMBER_TIMEOUT.as_secs_f64() * 0.8 {
            let warn = format!(
                "each user beats every {period:.1}s (users / rate), near or past the member timeout (15 s by default): expect 40401 answers; lower --users"
            );
            ctx.say(format!("warning: {warn}"));
            notes.push(warn);
        }
    }
    let pool = ctx.pool();
    let (rooms, calls) = seed_heartbeats(ctx, &pool, a.rooms, a.users).await?;
    let cursor = Arc::new(AtomicUsize::new(0));
    let jobs = (0..ctx.common.connections)
        .map(|_| Beats {
            calls: calls.clone(),
            cursor: cursor.clone(),
        })
        .collect();

    let (run, progress) = begin(ctx);
    let keeper = keep_anchors(ctx, &run, &rooms);
    let stats = run_workers(ctx, &run, a.pace.rate, jobs).await;
    let measured_s = run.measured().as_secs_f64();
    finish(&run, progress).await;
    let _ = keeper.await;
    delete_rooms(ctx, &pool, &rooms, &mut notes).await;
    Ok(Finished {
        stats,
        measured_s,
        params: json!({ "users": a.users, "rooms": a.rooms }),
        rate_target: a.pace.rate,
        notes,
    })
}

// ---------------------------------------------------------------------------------
// heartbeat-compare

/// `NAME=URL`, `NAME:PID=URL` or a bare URL (named `s{place}`): (name, url, pid).
fn side_spec(spec: &str, place: usize) -> Result<(String, String, Option<u32>), String> {
    let (name, url) = match spec.split_once('=') {
        Some((name, url)) if !url.is_empty() => (name.trim(), url.trim()),
        _ => return Ok((format!("s{place}"), spec.trim().to_owned(), None)),
    };
    let (name, pid) = match name.split_once(':') {
        Some((name, pid)) => {
            let pid = pid
                .parse()
                .map_err(|_| format!("--against {spec}: `{pid}` is not a process id"))?;
            (name, Some(pid))
        }
        None => (name, None),
    };
    Ok((name.to_owned(), url.to_owned(), pid))
}

/// CPU time (user + system, every thread) process `pid` has used, in µs, from
/// `/proc/PID/stat` (clock ticks of 10 ms on Linux); None when unreadable.
fn cpu_micros(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 1e6 / 100.0)
}

/// `heartbeat-compare`: one setup through the first `--target`, then `--rounds`
/// rounds each measuring every `--against` server in turn (warm-up + duration each,
/// on fresh connections); the anchors are kept present through the setup target
/// all along.
pub async fn compare(common: Common, a: CompareArgs) -> Result<CompareReport, String> {
    let window = common.warmup + common.duration;
    let sides_n = a.against.len();
    let run_for = window * (a.rounds * sides_n) as u32;
    let ctx = Ctx::new(common, run_for).await?;
    let mut sides = Vec::new();
    for (i, spec) in a.against.iter().enumerate() {
        let (name, url, pid) = side_spec(spec, i + 1)?;
        let target: Arc<[Target]> = vec![Target::resolve(&url).await?].into();
        sides.push((name, target, pid));
    }
    let pool = ctx.pool();
    let (rooms, calls) = seed_heartbeats(&ctx, &pool, a.rooms, a.users).await?;
    let cursor = Arc::new(AtomicUsize::new(0));
    let keeper_run = Run::begin(Duration::ZERO, run_for + Duration::from_secs(60));
    let keeper = keep_anchors(&ctx, &keeper_run, &rooms);
    let mut totals: Vec<(Stats, f64)> = (0..sides_n).map(|_| (Stats::default(), 0.0)).collect();
    let mut per_round: Vec<Vec<f64>> = vec![Vec::new(); sides_n];
    // CPU µs the side's process used in its measured windows, and their requests.
    let mut cpu: Vec<Option<(f64, u64)>> = vec![Some((0.0, 0)); sides_n];
    for round in 1..=a.rounds {
        for (i, (name, target, pid)) in sides.iter().enumerate() {
            let jobs = (0..ctx.common.connections)
                .map(|_| Beats {
                    calls: calls.clone(),
                    cursor: cursor.clone(),
                })
                .collect();
            let run = Run::begin(ctx.common.warmup, ctx.common.duration);
            // The process's CPU over the measured window, sampled at its edges.
            let sampler = pid.map(|pid| {
                let run = run.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(run.measure_from).await;
                    let from = cpu_micros(pid);
                    tokio::time::sleep_until(run.end).await;
                    Some(cpu_micros(pid)? - from?)
                })
            });
            let stats = run_workers_on(target, ctx.common.timeout, &run, None, jobs).await;
            run.stop();
            let used = match sampler {
                Some(task) => task.await.ok().flatten(),
                None => None,
            };
            let measured = run.measured().as_secs_f64();
            let total = stats.total();
            cpu[i] = match (cpu[i], used) {
                (Some((sum, n)), Some(used)) => Some((sum + used, n + total.requests)),
                _ => None,
            };
            let rps = if measured > 0.0 {
                total.requests as f64 / measured
            } else {
                0.0
            };
            ctx.say(format!(
                "round {round}/{}: {name:<10} {rps:>9.1} req/s  errors {}",
                a.rounds,
                total.requests - total.ok
            ));
            per_round[i].push(rps);
            totals[i].0.merge(stats);
            totals[i].1 += measured;
        }
    }
    keeper_run.stop();
    let _ = keeper.await;
    let mut notes = Vec::new();
    delete_rooms(&ctx, &pool, &rooms, &mut notes).await;
    let sides = sides
        .into_iter()
        .zip(totals)
        .zip(per_round)
        .zip(cpu)
        .map(|((((name, target, _), (stats, measured)), rounds), cpu)| {
            let cpu_us = cpu
                .filter(|(_, n)| *n > 0)
                .map(|(used, n)| (used / n as f64 * 100.0).round() / 100.0);
            Side::build(
                name,
                target[0].url.clone(),
                &stats,
                measured,
                rounds,
                cpu_us,
            )
        })
        .collect();
    Ok(CompareReport::build(
        ctx.targets
            .first()
            .map(|t| t.url.clone())
            .unwrap_or_default(),
        ctx.common.connections,
        ctx.common.threads,
        ctx.common.warmup.as_secs_f64(),
        ctx.common.duration.as_secs_f64(),
        json!({ "users": a.users, "rooms": a.rooms, "rounds": a.rounds }),
        sides,
        notes,
    ))
}

// ---------------------------------------------------------------------------------
// join-churn

/// A worker's own users, each hopping to the next room on its turn.
struct Hops {
    rooms: Arc<[Room]>,
    users: Vec<(HeaderValue, usize)>,
    turn: usize,
}

impl Job for Hops {
    fn next(&mut self) -> Req<'_> {
        let u = self.turn;
        self.turn = (self.turn + 1) % self.users.len();
        let room = {
            let entry = &mut self.users[u];
            entry.1 = (entry.1 + 1) % self.rooms.len();
            entry.1
        };
        Req {
            op: Op::Join,
            method: Method::POST,
            uri: &self.rooms[room].join,
            auth: Some(&self.users[u].0),
            body: None,
        }
    }
}

async fn join_churn(ctx: &Ctx, a: &ChurnArgs) -> Result<Finished, String> {
    let mut notes = Vec::new();
    let workers = ctx.common.connections.min(a.users);
    if workers < ctx.common.connections {
        let warn = format!(
            "only {workers} connections used: each needs users of its own (--users {})",
            a.users
        );
        ctx.say(format!("warning: {warn}"));
        notes.push(warn);
    }
    let pool = ctx.pool();
    let rooms = create_rooms(ctx, &pool, a.rooms).await?;
    let users: Arc<[HeaderValue]> = ctx.minter.bearers('u', a.users)?.into();
    join_users(ctx, &pool, &users, &rooms, spread).await?;
    // Worker w owns users w, w + workers, ...: a user never has two joins in flight.
    let jobs = (0..workers)
        .map(|w| Hops {
            rooms: rooms.clone(),
            users: (w..a.users)
                .step_by(workers)
                .map(|i| (users[i].clone(), spread(i, rooms.len())))
                .collect(),
            turn: 0,
        })
        .collect();

    let (run, progress) = begin(ctx);
    let keeper = keep_anchors(ctx, &run, &rooms);
    let stats = run_workers(ctx, &run, a.pace.rate, jobs).await;
    let measured_s = run.measured().as_secs_f64();
    finish(&run, progress).await;
    let _ = keeper.await;
    delete_rooms(ctx, &pool, &rooms, &mut notes).await;
    Ok(Finished {
        stats,
        measured_s,
        params: json!({ "users": a.users, "rooms": a.rooms }),
        rate_target: a.pace.rate,
        notes,
    })
}

// ---------------------------------------------------------------------------------
// viewers

/// Timing of the simulated clients.
#[derive(Clone, Copy)]
struct Habits {
    interval: Duration,
    jitter: f64,
    stay: Duration,
    ramp: Duration,
}

impl Habits {
    /// `interval` ± jitter.
    fn jittered(&self, rng: &mut SmallRng, interval: Duration) -> Duration {
        interval.mul_f64(1.0 + self.jitter * (2.0 * rng.random::<f64>() - 1.0))
    }

    /// The first beat after a join: the interval the service last asked for, else
    /// `--interval`; ± jitter.
    fn first_beat(&self, rng: &mut SmallRng, learned: Option<Duration>) -> Duration {
        self.jittered(rng, learned.unwrap_or(self.interval))
    }

    /// After a heartbeat: what the service asked for (`next_heartbeat_ms`, already
    /// jittered by the service; remembered in `learned`), else as [`Self::first_beat`].
    fn next_beat(
        &self,
        rng: &mut SmallRng,
        learned: &mut Option<Duration>,
        answer: &Outcome,
    ) -> Duration {
        match json_int(answer.body(), b"\"next_heartbeat_ms\"") {
            Some(ms) if answer.is_ok() && ms > 0 => {
                let asked = Duration::from_millis(ms.clamp(100, 60_000) as u64);
                *learned = Some(asked);
                asked
            }
            _ => self.first_beat(rng, *learned),
        }
    }

    /// A stay: exponential with mean `stay` (capped at 20 means).
    fn stay(&self, rng: &mut SmallRng) -> Duration {
        let u: f64 = rng.random();
        self.stay.mul_f64((-(1.0 - u).ln()).min(20.0))
    }
}

fn other_room(rng: &mut SmallRng, current: usize, m: usize) -> usize {
    if m < 2 {
        0
    } else {
        (current + 1 + rng.random_range(0..m - 1)) % m
    }
}

/// Steady-state request rate of `viewers` viewers and `rooms` anchors: each viewer
/// stays S ~ Exp(mean `stay`) and beats every `interval` I meanwhile, so a stay holds
/// E[beats] = sum over k >= 1 of P(S > kI) = 1 / (e^(I/stay) - 1) beats, one join and
/// one leave; anchors beat every I.
fn expected_rate(viewers: usize, rooms: usize, interval: Duration, stay: Duration) -> f64 {
    let (i, mean) = (interval.as_secs_f64(), stay.as_secs_f64());
    let stays_per_sec = viewers as f64 / mean;
    stays_per_sec * (2.0 + 1.0 / (i / mean).exp_m1()) + rooms as f64 / i
}

async fn viewers(ctx: &Ctx, a: &ViewersArgs) -> Result<Finished, String> {
    let mut notes = Vec::new();
    let habits = Habits {
        interval: a.interval,
        jitter: a.jitter,
        stay: a.stay,
        ramp: a.ramp,
    };
    let expected = expected_rate(a.viewers, a.rooms, a.interval, a.stay);
    let pool = ctx.pool();
    let rooms = create_rooms(ctx, &pool, a.rooms).await?;
    let viewers = ctx.minter.bearers('u', a.viewers)?;
    ctx.say(format!(
        "viewers: {} viewers over {} rooms; expect ~{expected:.0} req/s in steady state \
         (with a {:?} heartbeat interval: the service's next_heartbeat_ms wins)",
        a.viewers, a.rooms, a.interval
    ));

    let (run, progress) = begin(ctx);
    let mut set = JoinSet::new();
    let mut seeds = SmallRng::from_rng(&mut rand::rng());
    for r in 0..rooms.len() {
        let (run, pool, rooms) = (run.clone(), pool.clone(), rooms.clone());
        let rng = SmallRng::seed_from_u64(seeds.random());
        set.spawn(anchor(run, pool, rooms, r, habits, rng));
    }
    for auth in viewers {
        let (run, pool, rooms) = (run.clone(), pool.clone(), rooms.clone());
        let rng = SmallRng::seed_from_u64(seeds.random());
        set.spawn(viewer(run, pool, rooms, auth, habits, rng));
    }
    while set.join_next().await.is_some() {}
    let measured_s = run.measured().as_secs_f64();
    finish(&run, progress).await;
    let stats = pool.take_stats();
    delete_rooms(ctx, &pool, &rooms, &mut notes).await;
    Ok(Finished {
        stats,
        measured_s,
        params: json!({
            "viewers": a.viewers,
            "rooms": a.rooms,
            "stay_s": a.stay.as_secs_f64(),
            "interval_s": a.interval.as_secs_f64(),
            "jitter": a.jitter,
            "expected_rps": expected.round(),
        }),
        rate_target: None,
        notes,
    })
}

/// An anchor: heartbeats its room (measured), starts it again if it was dropped.
async fn anchor(
    run: Arc<Run>,
    pool: Arc<Pool>,
    rooms: Arc<[Room]>,
    r: usize,
    habits: Habits,
    mut rng: SmallRng,
) {
    let room = &rooms[r];
    let mut next = run.start + habits.interval.mul_f64(rng.random());
    let mut learned = None;
    loop {
        if !run.sleep_until(next).await {
            return;
        }
        let started = Instant::now();
        let req = Req {
            op: Op::Heartbeat,
            method: Method::GET,
            uri: &room.heartbeat,
            auth: Some(&room.anchor),
            body: None,
        };
        let out = Box::pin(pool.send(&req, Some((&run, started)))).await;
        if out.code() == Some(40401) {
            let start = setup_req(Method::PUT, &room.start, &room.anchor, None);
            let _ = Box::pin(pool.send(&start, None)).await;
        }
        next = Instant::now() + habits.next_beat(&mut rng, &mut learned, &out);
    }
}

/// A measured request of a viewer; the request itself is boxed, so that an idle
/// viewer's future stays small.
async fn send_as(
    pool: &Pool,
    run: &Run,
    auth: &HeaderValue,
    op: Op,
    method: Method,
    uri: &Uri,
) -> Outcome {
    let req = Req {
        op,
        method,
        uri,
        auth: Some(auth),
        body: None,
    };
    Box::pin(pool.send(&req, Some((run, Instant::now())))).await
}

/// A viewer: join, heartbeat until the stay is over, leave, join another room.
async fn viewer(
    run: Arc<Run>,
    pool: Arc<Pool>,
    rooms: Arc<[Room]>,
    auth: HeaderValue,
    habits: Habits,
    mut rng: SmallRng,
) {
    let m = rooms.len();
    if !run
        .sleep_until(run.start + habits.ramp.mul_f64(rng.random()))
        .await
    {
        return;
    }
    let mut room = rng.random_range(0..m);
    let mut learned = None;
    loop {
        let joined = send_as(
            &pool,
            &run,
            &auth,
            Op::Join,
            Method::POST,
            &rooms[room].join,
        )
        .await;
        if !joined.is_ok() {
            // Try another room a beat later.
            let retry = Instant::now() + habits.first_beat(&mut rng, learned);
            if !run.sleep_until(retry).await {
                return;
            }
            room = other_room(&mut rng, room, m);
            continue;
        }
        let leave_at = Instant::now() + habits.stay(&mut rng);
        let mut next = Instant::now() + habits.first_beat(&mut rng, learned);
        let mut rejoin = false;
        loop {
            if next >= leave_at {
                if !run.sleep_until(leave_at).await {
                    return;
                }
                break;
            }
            if !run.sleep_until(next).await {
                return;
            }
            let beat = send_as(
                &pool,
                &run,
                &auth,
                Op::Heartbeat,
                Method::GET,
                &rooms[room].heartbeat,
            )
            .await;
            if beat.code() == Some(40401) {
                rejoin = true; // dropped: join again, as a client should
                break;
            }
            if beat.is_ok() && json_int(beat.body(), b"\"live_status\"") == Some(2) {
                break; // the room ended: move on
            }
            next = Instant::now() + habits.next_beat(&mut rng, &mut learned, &beat);
        }
        if !rejoin {
            send_as(
                &pool,
                &run,
                &auth,
                Op::Leave,
                Method::DELETE,
                &rooms[room].join,
            )
            .await;
            room = other_room(&mut rng, room, m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_rate_matches_the_limits() {
        // Long stays: every viewer beats every interval.
        let long = expected_rate(
            10_000,
            0,
            Duration::from_secs(5),
            Duration::from_secs(1 << 20),
        );
        assert!((long - 2000.0).abs() < 1.0, "{long}");
        // Mean stay 20 s at 5 s: 1/(e^0.25 - 1) = 3.52 beats per stay, 500 stays/s.
        let r = expected_rate(10_000, 10, Duration::from_secs(5), Duration::from_secs(20));
        assert!((r - (500.0 * (2.0 + 3.5208) + 2.0)).abs() < 1.0, "{r}");
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_pacer_keeps_the_schedule() {
        let run = Run::begin(Duration::ZERO, Duration::from_secs(1));
        // 4 workers at 100 req/s in all: worker 1 sends at 10 ms, 50 ms, 90 ms, ...
        let mut pacer = Pacer::new(Some(100.0), 4, 1, run.start);
        let mut sent = 0;
        while let Some(at) = pacer.next(&run).await {
            let offset = at.duration_since(run.start).as_millis();
            assert_eq!(offset, 10 + 40 * sent, "send #{sent}");
            sent += 1;
        }
        assert_eq!(sent, 25);
    }
}
