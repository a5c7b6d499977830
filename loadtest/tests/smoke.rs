//! Smoke test of the load generator: a real `redis-server`, the real liveroom app
//! served in-process on a loopback socket, and the real `liveroom-loadtest` binary
//! run against it for ~2 s per scenario with `--json`. Each report must parse, have
//! requests, and no error of any kind.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use liveroom::config::ServeConfig;
use liveroom::store::Store;
use liveroom::{AppState, app};
use liveroom_testkit::RedisChild;
use serde_json::Value;

const SECRET: &str = "loadtest-smoke-secret-0123456789";

/// A liveroom replica served in-process (its Redis lives as long as the first one).
struct Service {
    base: String,
    /// Requests this replica received.
    hits: Arc<AtomicU64>,
    _redis: Option<RedisChild>,
    _server: tokio::task::JoinHandle<()>,
}

impl Service {
    /// A replica on a fresh Redis, verifying tokens with `secret`.
    async fn start(secret: &str) -> Self {
        let redis = RedisChild::start(&[]).expect("start redis-server");
        let mut service = Self::on(&redis.url(), secret).await;
        service._redis = Some(redis);
        service
    }

    /// A replica on an existing Redis.
    async fn on(redis_url: &str, secret: &str) -> Self {
        let mut config = ServeConfig::defaults();
        config.redis_url = Some(redis_url.to_owned());
        config.jwt_secret = Some(secret.to_owned());
        let store = Store::connect(
            redis_url,
            &config.key_prefix,
            config.member_timeout,
            config.redis_timeout,
        )
        .await
        .expect("connect to redis");
        let state = AppState::new(store, &config, secret).expect("app state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicU64::new(0));
        let counter = hits.clone();
        let router = app(state).layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                counter.fetch_add(1, Ordering::Relaxed);
                next.run(req)
            },
        ));
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base,
            hits,
            _redis: None,
            _server: server,
        }
    }
}

/// What one run of the tool gave.
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs the tool with `args` (the secret comes only from `args`: the environment's
/// LIVEROOM_JWT_SECRET is removed), killing it after 90 s.
async fn tool(args: Vec<String>) -> Ran {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_liveroom-loadtest"))
            .args(&args)
            .env_remove("LIVEROOM_JWT_SECRET")
            .env_remove("LIVEROOM_LOADTEST_TARGET")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start liveroom-loadtest");
        let started = Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if started.elapsed() > Duration::from_secs(90) {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().expect("collect output");
        Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("tool thread")
}

fn args(targets: &[&Service], secret: Option<&str>, scenario: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = scenario.iter().map(|s| s.to_string()).collect();
    for t in targets {
        a.extend(["--target".into(), t.base.clone()]);
    }
    if let Some(s) = secret {
        a.extend(["--secret".into(), s.into()]);
    }
    a.extend(
        [
            "--duration",
            "2s",
            "--warmup",
            "500ms",
            "--connections",
            "4",
            "--json",
        ]
        .map(String::from),
    );
    a
}

/// Parses the report and checks: requests > 0, every one a success, no transport
/// error, sane latencies; returns it for scenario-specific checks.
#[track_caller]
fn clean_report(ran: &Ran, scenario: &str) -> Value {
    assert!(ran.ok, "tool failed:\n{}\n{}", ran.stderr, ran.stdout);
    let report: Value = serde_json::from_str(ran.stdout.trim())
        .unwrap_or_else(|e| panic!("report is not one JSON object ({e}):\n{}", ran.stdout));
    let requests = report["requests"].as_u64().expect("requests");
    assert_eq!(report["scenario"], scenario);
    assert!(requests > 0, "no requests: {report}");
    assert_eq!(report["errors"], 0, "errors: {report}\n{}", ran.stderr);
    assert_eq!(report["ok"].as_u64(), Some(requests), "{report}");
    assert_eq!(
        report["errors_by_status"],
        serde_json::json!([]),
        "{report}"
    );
    for kind in ["connect", "timeout", "io"] {
        assert_eq!(report["transport_errors"][kind], 0, "{report}");
    }
    assert!(report["requests_per_sec"].as_f64().unwrap() > 0.0);
    let l = &report["latency_ms"];
    let (p50, p99, max) = (
        l["p50"].as_f64().unwrap(),
        l["p99"].as_f64().unwrap(),
        l["max"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "latencies: {l}");
    assert!((report["duration_s"].as_f64().unwrap() - 2.0).abs() < 0.2);
    assert!(
        ran.stderr.contains("req/s"),
        "no progress line on stderr:\n{}",
        ran.stderr
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livez_max() {
    let service = Service::start(SECRET).await;
    let ran = tool(args(&[&service], Some(SECRET), &["livez-max"])).await;
    let report = clean_report(&ran, "livez-max");
    assert!(report["endpoints"]["livez"]["requests"].as_u64() > Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_max_back_to_back_and_open_loop() {
    let service = Service::start(SECRET).await;
    let scenario = ["heartbeat-max", "--users", "200", "--rooms", "3"];
    let ran = tool(args(&[&service], Some(SECRET), &scenario)).await;
    let report = clean_report(&ran, "heartbeat-max");
    assert_eq!(report["rate_target"], Value::Null);
    assert_eq!(report["params"]["users"], 200);

    // Open loop at 300 req/s: about 600 requests in the 2 s window.
    let mut open = scenario.to_vec();
    open.extend(["--rate", "300"]);
    let ran = tool(args(&[&service], Some(SECRET), &open)).await;
    let report = clean_report(&ran, "heartbeat-max");
    assert_eq!(report["rate_target"], 300.0);
    let n = report["requests"].as_u64().unwrap();
    assert!(
        (500..=700).contains(&n),
        "open loop sent {n}, expected ~600"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_churn_with_the_default_development_secret() {
    // No --secret and no LIVEROOM_JWT_SECRET: the tool's default must be the
    // service's development secret.
    let service = Service::start(liveroom::config::DEV_JWT_SECRET).await;
    let scenario = ["join-churn", "--users", "100", "--rooms", "4"];
    let ran = tool(args(&[&service], None, &scenario)).await;
    let report = clean_report(&ran, "join-churn");
    assert!(report["endpoints"]["join"]["requests"].as_u64() > Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_join_heartbeat_and_leave() {
    let service = Service::start(SECRET).await;
    let scenario = [
        "viewers",
        "--viewers",
        "200",
        "--rooms",
        "4",
        "--stay",
        "600ms",
        "--interval",
        "150ms",
        "--ramp",
        "300ms",
    ];
    let ran = tool(args(&[&service], Some(SECRET), &scenario)).await;
    let report = clean_report(&ran, "viewers");
    for endpoint in ["heartbeat", "join", "leave"] {
        assert!(
            report["endpoints"][endpoint]["requests"].as_u64() > Some(0),
            "no {endpoint} requests: {report}"
        );
    }
}

/// `sse`: streams on two replicas of one Redis get every change, measured, and end
/// when the rooms stop; the replicas' polls are read from their `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_on_two_replicas_get_every_change() {
    let first = Service::start(SECRET).await;
    let redis_url = first._redis.as_ref().unwrap().url();
    let second = Service::on(&redis_url, SECRET).await;
    let scenario = [
        "sse",
        "--subscribers",
        "40",
        "--rooms",
        "4",
        "--rate",
        "10",
        "--users",
        "10",
        "--pid",
        &std::process::id().to_string(),
    ]
    .map(String::from);
    let scenario: Vec<&str> = scenario.iter().map(String::as_str).collect();
    let ran = tool(args(&[&first, &second], Some(SECRET), &scenario)).await;
    assert!(ran.ok, "tool failed:\n{}\n{}", ran.stderr, ran.stdout);
    let report: Value = serde_json::from_str(ran.stdout.trim())
        .unwrap_or_else(|e| panic!("report is not one JSON object ({e}):\n{}", ran.stdout));
    assert_eq!(report["scenario"], "sse");
    assert_eq!(report["open_failures"], 0, "{report}");
    assert!(report["changes"].as_u64().unwrap() > 0, "{report}");
    // Each join reaches the 10 streams of its room (and a switch the old room's).
    assert!(
        report["events_delivered"].as_u64().unwrap() >= 10 * report["changes"].as_u64().unwrap(),
        "{report}"
    );
    assert!(
        report["latency_ms"]["count"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert_eq!(report["ended_on_stop"], 40, "{report}");
    assert_eq!(report["reconnects"], serde_json::json!({}), "{report}");
    // In-process replicas share one /metrics recorder: both show the process's polls.
    let replicas = report["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 2);
    assert!(
        replicas[0]["polls_per_second"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert_eq!(report["memory"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_round_robin_over_two_replicas() {
    let first = Service::start(SECRET).await;
    let redis_url = first._redis.as_ref().unwrap().url();
    let second = Service::on(&redis_url, SECRET).await;
    let scenario = ["heartbeat-max", "--users", "100", "--rooms", "2"];
    let ran = tool(args(&[&first, &second], Some(SECRET), &scenario)).await;
    let report = clean_report(&ran, "heartbeat-max");
    assert_eq!(
        report["targets"],
        serde_json::json!([first.base, second.base])
    );
    // Setup, measured traffic and clean-up all alternate between the replicas.
    let (a, b) = (
        first.hits.load(Ordering::Relaxed),
        second.hits.load(Ordering::Relaxed),
    );
    assert!(
        a.min(b) * 10 >= (a + b) * 4,
        "uneven split: {a} and {b} requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_stops_at_setup_with_a_hint() {
    let service = Service::start(SECRET).await;
    let scenario = ["heartbeat-max", "--users", "10", "--rooms", "1"];
    let ran = tool(args(&[&service], Some("not-the-secret"), &scenario)).await;
    assert!(!ran.ok, "expected a failure: {}", ran.stdout);
    assert!(
        ran.stderr.contains("HTTP 401") && ran.stderr.contains("--secret"),
        "{}",
        ran.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_is_refused_up_front() {
    let port = liveroom_testkit::free_port().unwrap();
    let target = format!("http://127.0.0.1:{port}");
    let ran = tool(vec![
        "livez-max".into(),
        "--target".into(),
        target.clone(),
        "--duration".into(),
        "1s".into(),
    ])
    .await;
    assert!(!ran.ok);
    assert!(
        ran.stderr.contains("cannot connect to") && ran.stderr.contains(&target),
        "{}",
        ran.stderr
    );
}

/// A `liveroom-floor` process on `redis_url`, killed when dropped.
struct Floor {
    base: String,
    child: std::process::Child,
}

impl Floor {
    async fn start(redis_url: &str, secret: &str) -> Self {
        let port = liveroom_testkit::free_port().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_liveroom-floor"))
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--redis",
                redis_url,
            ])
            .args(["--secret", secret])
            .env_remove("LIVEROOM_KEY_PREFIX")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start liveroom-floor");
        let base = format!("http://127.0.0.1:{port}");
        let floor = Self { base, child };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("{}/livez", floor.base))
                .send()
                .await
                .is_ok()
            {
                return floor;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("liveroom-floor did not answer on {}", floor.base);
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The floor answers a heartbeat as the service does (envelope, data, 404s, 401) on
/// the service's key layout, and `heartbeat-compare` measures it and a replica in
/// turns on the same rooms: both sides clean, ratios to the first, CPU per request
/// of the side given a pid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_compare_drives_the_floor_and_the_service() {
    let service = Service::start(SECRET).await;
    let redis_url = service._redis.as_ref().unwrap().url();
    let floor = Floor::start(&redis_url, SECRET).await;

    // A room and a present member written straight to Redis, in the service's layout.
    let (room, presence, _) = liveroom::store::Keys::new("lr").room_and_presence("floor_1");
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let _: () = redis::pipe()
        .hset(&room, "live_status", 1)
        .ignore()
        .zadd(&presence, "u1", now_ms - 1000)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let beat = |live_id: &str, user: &str, secret: &str| {
        let token =
            liveroom::auth::mint_token(secret, user, None, None, Duration::from_secs(60)).unwrap();
        http.get(format!(
            "{}/client/live/room/heartbeat/{live_id}",
            floor.base
        ))
        .header("Authorization", format!("Bearer {token}"))
        .send()
    };
    let answer = beat("floor_1", "u1", SECRET).await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    assert_eq!(body["code"], 0, "{body}");
    assert_eq!(body["message"], "success");
    assert_eq!(body["request_id"].as_str().unwrap().len(), 32);
    assert_eq!(body["data"]["live_id"], "floor_1");
    assert_eq!(body["data"]["live_status"], 1);
    let next = body["data"]["next_heartbeat_ms"].as_u64().unwrap();
    assert!((4500..=5500).contains(&next), "{body}");
    let score: f64 = redis::cmd("ZSCORE")
        .arg(&presence)
        .arg("u1")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(score as u64 >= now_ms, "the beat did not move the score");
    for (live_id, user, secret, status, code) in [
        ("floor_1", "u2", SECRET, 404, 40401),
        ("floor_2", "u1", SECRET, 404, 40400),
        ("floor_1", "u1", "not-the-secret", 401, 40100),
    ] {
        let answer = beat(live_id, user, secret).await.unwrap();
        assert_eq!(answer.status(), status, "{live_id} {user}");
        let body: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
        assert_eq!(body["code"], code, "{body}");
    }

    let pid = floor.child.id();
    let against = [
        format!("floor:{pid}={}", floor.base),
        format!("liveroom={}", service.base),
    ];
    let mut a: Vec<String> = [
        "heartbeat-compare",
        "--users",
        "100",
        "--rooms",
        "2",
        "--rounds",
        "2",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--connections",
        "4",
        "--json",
        "--secret",
        SECRET,
        "--target",
        &service.base,
    ]
    .map(String::from)
    .to_vec();
    for side in &against {
        a.extend(["--against".into(), side.clone()]);
    }
    let ran = tool(a).await;
    assert!(ran.ok, "tool failed:\n{}\n{}", ran.stderr, ran.stdout);
    let report: Value = serde_json::from_str(ran.stdout.trim())
        .unwrap_or_else(|e| panic!("report is not one JSON object ({e}):\n{}", ran.stdout));
    assert_eq!(report["scenario"], "heartbeat-compare");
    assert_eq!(report["notes"], serde_json::json!([]), "{report}");
    let sides = report["sides"].as_array().unwrap();
    assert_eq!(sides.len(), 2);
    assert_eq!(sides[0]["name"], "floor");
    assert_eq!(sides[1]["name"], "liveroom");
    for side in sides {
        assert!(side["requests"].as_u64().unwrap() > 0, "{side}");
        assert_eq!(side["errors"], 0, "{side}");
        assert_eq!(side["rounds_per_sec"].as_array().unwrap().len(), 2);
        assert_eq!(side["ratio_rounds"].as_array().unwrap().len(), 2);
    }
    assert_eq!(sides[0]["ratio"], 1.0);
    assert!(sides[1]["ratio"].as_f64().unwrap() > 0.0, "{report}");
    assert!(
        sides[0]["cpu_us_per_request"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert_eq!(sides[1]["cpu_us_per_request"], Value::Null);
    assert!(ran.stderr.contains("round 2/2: liveroom"), "{}", ran.stderr);
}
