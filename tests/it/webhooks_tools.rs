//! The webhook tools as users run them, on real processes: `liveroom webhooks
//! listen` (the built binary) receiving signed and badly signed deliveries;
//! `liveroom webhooks redeliver` re-sending dead letters from a real Redis (or the
//! test cluster) to a real receiver; and the verification snippets of
//! docs/webhooks-verify.md run with `python3` and `node` against deliveries signed
//! by the service's own code.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use liveroom::events::RoomEvent;
use liveroom::events::signature::{DEFAULT_TOLERANCE, SIGNATURE_HEADER, sign, verify};
use liveroom::webhooks::{CONTENT_TYPE, EVENT_ID_HEADER, Outcome, Sender};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use crate::harness::TestRedis;
use crate::harness::replicas::{cmd, store_for};

pub(crate) const SECRET: &str = "whsec_tools_test";

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The JSON body of an event of room `live_id`, as the service sends it.
fn event_body(live_id: &str, stream_id: &str, event: &str, user: Option<&str>) -> String {
    let mut fields = vec![
        ("event", event),
        ("created_at", "1764633600123"),
        ("live_id", live_id),
        ("title", "Friday show"),
        ("anchor", "alice"),
        ("live_status", "1"),
        ("online_count", "3"),
    ];
    if let Some(u) = user {
        fields.push(("user", u));
        fields.push(("reason", "leave"));
    }
    let fields: Vec<(String, String)> = fields
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    serde_json::to_string(&RoomEvent::from_entry(stream_id, &fields)).unwrap()
}

// ---------------------------------------------------------------- listen

/// A running `liveroom webhooks listen`, killed on drop.
pub(crate) struct Listener {
    child: tokio::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    stderr: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    /// Stdout, once [`Listener::next_line`] has read from it.
    stdout: Option<tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>>,
    startup: Vec<String>,
}

impl Listener {
    /// Starts `liveroom webhooks listen --port 0` with the tests' webhook secret
    /// ([`SECRET`]) and `extra` arguments; returns once it says where it listens.
    pub(crate) async fn start(extra: &[&str]) -> Self {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_liveroom"))
            .args(["webhooks", "listen", "--port", "0"])
            .args(extra)
            .env("LIVEROOM_WEBHOOK_SECRET", SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn liveroom webhooks listen");
        let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut startup = Vec::new();
        let base = loop {
            let line = tokio::time::timeout(Duration::from_secs(20), stderr.next_line())
                .await
                .expect("start-up line in time")
                .unwrap()
                .unwrap_or_else(|| panic!("listen exited; it said: {startup:?}"));
            startup.push(line.clone());
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // The second and third lines: what to give the service.
        for _ in 0..2 {
            startup.push(stderr.next_line().await.unwrap().unwrap());
        }
        Self {
            child,
            base,
            stderr,
            stdout: None,
            startup,
        }
    }

    /// The next line it prints on stdout (one per event), or `None` when none comes
    /// within `wait`.
    pub(crate) async fn next_line(&mut self, wait: Duration) -> Option<String> {
        if self.stdout.is_none() {
            let out = self.child.stdout.take()?;
            self.stdout = Some(tokio::io::BufReader::new(out).lines());
        }
        let lines = self.stdout.as_mut()?;
        tokio::time::timeout(wait, lines.next_line())
            .await
            .ok()?
            .ok()?
    }

    /// SIGINT (Ctrl-C), then the exit code, stdout and the rest of stderr.
    pub(crate) async fn stop(mut self) -> (Option<i32>, String, String) {
        let pid = self.child.id().unwrap() as i32;
        // SAFETY: signals a child process this test started and still owns.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
        let mut stdout = String::new();
        if let Some(mut lines) = self.stdout.take() {
            while let Some(line) = lines.next_line().await.unwrap() {
                stdout.push_str(&line);
                stdout.push('\n');
            }
        } else {
            self.child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut stdout)
                .await
                .unwrap();
        }
        let mut rest = String::new();
        while let Some(line) = self.stderr.next_line().await.unwrap() {
            rest.push_str(&line);
            rest.push('\n');
        }
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("listen stops on Ctrl-C")
            .unwrap();
        (status.code(), stdout, rest)
    }
}

async fn post(url: &str, content_type: &str, signature: &str, body: &str) -> (u16, String) {
    let resp = crate::harness::http()
        .post(url)
        .header("Content-Type", content_type)
        .header(SIGNATURE_HEADER, signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn listen_accepts_signed_deliveries_refuses_bad_ones_and_prints_each_event() {
    let listener = Listener::start(&[]).await;
    let startup = listener.startup.join("\n");
    assert!(
        startup.contains(&format!("LIVEROOM_WEBHOOK_URLS={}/webhooks", listener.base))
            && startup.contains(&format!("LIVEROOM_WEBHOOK_SECRET={SECRET}")),
        "{startup}"
    );
    let url: reqwest::Url = format!("{}/any/path", listener.base).parse().unwrap();
    let started = event_body("live_x", "1764633600123-0", "room_started", None);
    let left = event_body("live_x", "1764633600124-0", "member_left", Some("bob"));

    // The service's own sender, twice for the same event (a retry).
    let sender = Sender::new(SECRET, Duration::from_secs(5));
    for body in [&started, &left, &started] {
        let id = serde_json::from_str::<serde_json::Value>(body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            matches!(sender.send(&url, &id, body).await, Outcome::Delivered),
            "{body}"
        );
    }

    let url = url.as_str();
    let now = now_s();
    let (status, why) = post(
        url,
        CONTENT_TYPE,
        &sign(b"another secret", now, started.as_bytes()),
        &started,
    )
    .await;
    assert_eq!(status, 400);
    assert!(why.contains("no signature matches the body"), "{why}");
    let (status, why) = post(
        url,
        CONTENT_TYPE,
        &sign(SECRET.as_bytes(), now, started.as_bytes()),
        &started.replace("live_x", "live_y"),
    )
    .await;
    assert_eq!(status, 400, "a changed body: {why}");
    let (status, why) = post(
        url,
        CONTENT_TYPE,
        &sign(SECRET.as_bytes(), now - 400, started.as_bytes()),
        &started,
    )
    .await;
    assert_eq!(status, 400);
    assert!(why.contains("outside the tolerance"), "{why}");
    let (status, why) = post(url, CONTENT_TYPE, "v1=garbage", &started).await;
    assert_eq!(status, 400);
    assert!(why.contains("malformed"), "{why}");
    let (status, _) = post(
        url,
        "application/json",
        &sign(SECRET.as_bytes(), now, started.as_bytes()),
        &started,
    )
    .await;
    assert_eq!(status, 415);

    let (code, stdout, stderr) = listener.stop().await;
    assert_eq!(code, Some(0), "clean stop; stderr: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "one line per accepted delivery: {stdout}");
    for line in &lines {
        assert!(
            line.as_bytes()[2] == b':' && line.as_bytes()[5] == b':',
            "starts with HH:MM:SS: {line}"
        );
    }
    assert!(
        lines[0].contains("room_started")
            && lines[0].contains("live_x")
            && lines[0].contains("anchor=alice")
            && lines[0].ends_with("id=live_x:1764633600123-0"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("member_left")
            && lines[1].contains("user=bob")
            && lines[1].contains("reason=leave"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with("id=live_x:1764633600123-0  (duplicate)"),
        "{}",
        lines[2]
    );
    assert_eq!(
        stderr.matches("refused 400").count(),
        4,
        "one stderr line per refusal: {stderr}"
    );
    assert!(stderr.contains("refused 415"), "{stderr}");
    assert!(
        stderr.contains("events received: 3, of which duplicates: 1; deliveries refused: 5"),
        "{stderr}"
    );
}

#[tokio::test]
async fn listen_json_prints_each_body_exactly() {
    let listener = Listener::start(&["--json"]).await;
    let url: reqwest::Url = format!("{}/", listener.base).parse().unwrap();
    let body = event_body("live_j", "5-0", "room_created", None);
    let sender = Sender::new(SECRET, Duration::from_secs(5));
    assert!(matches!(
        sender.send(&url, "live_j:5-0", &body).await,
        Outcome::Delivered
    ));
    // A header id that differs from the body's is refused.
    assert!(matches!(
        sender.send(&url, "live_j:6-0", &body).await,
        Outcome::Failed(_)
    ));
    let (code, stdout, _) = listener.stop().await;
    assert_eq!(code, Some(0));
    assert_eq!(stdout, format!("{body}\n"));
}

// ---------------------------------------------------------------- redeliver

/// One request a [`Receiver`] got.
#[derive(Clone, Debug)]
struct Got {
    headers: HeaderMap,
    body: Bytes,
}

/// A real HTTP receiver on a free port answering `status` to every request.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(status: StatusCode) -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(Got { headers, body });
                status
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, got, server }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// XADDs a dead letter in the documented format; its stream id.
async fn add_dead_letter(
    redis: &TestRedis,
    url: &str,
    live_id: &str,
    seq: u32,
) -> (String, String) {
    let store = store_for(redis).await;
    let stream_id = format!("1764633600{seq:03}-0");
    let body = event_body(live_id, &stream_id, "room_stopped", None);
    let event_id = format!("{live_id}:{stream_id}");
    let key = store.keys().webhook_dead_letters();
    let id: String = cmd(
        &store,
        &[
            "XADD",
            &key,
            "*",
            "url",
            url,
            "event_id",
            &event_id,
            "event",
            "room_stopped",
            "live_id",
            live_id,
            "body",
            &body,
            "attempts",
            "12",
            "error",
            "receiver answered 503 Service Unavailable",
            "created_at",
            "1764633600123",
        ],
    )
    .await;
    assert!(!id.is_empty());
    (event_id, body)
}

async fn dead_letter_count(redis: &TestRedis) -> i64 {
    let store = store_for(redis).await;
    cmd(&store, &["XLEN", &store.keys().webhook_dead_letters()]).await
}

/// Runs `liveroom webhooks redeliver ARGS` against `redis`: exit code, stdout, stderr.
async fn redeliver(redis: &TestRedis, args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_liveroom"))
            .args(["webhooks", "redeliver"])
            .args(args)
            .envs(redis.env())
            .env("LIVEROOM_WEBHOOK_SECRET", SECRET)
            .env("LIVEROOM_WEBHOOK_TIMEOUT", "3s")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("redeliver finishes")
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each request is the exact body with a valid fresh signature, the webhook content
/// type and the event id header.
fn assert_signed(got: &Got, body: &str, event_id: &str) {
    assert_eq!(got.body, body.as_bytes());
    let signature = got.headers[SIGNATURE_HEADER].to_str().unwrap();
    assert_eq!(
        verify(
            SECRET.as_bytes(),
            signature,
            &got.body,
            now_s(),
            DEFAULT_TOLERANCE
        ),
        Ok(())
    );
    assert_eq!(got.headers["content-type"], CONTENT_TYPE);
    assert_eq!(got.headers[EVENT_ID_HEADER], event_id);
}

#[tokio::test]
async fn redeliver_resends_exact_bodies_signed_and_removes_them() {
    let redis = TestRedis::new();
    let receiver = Receiver::start(StatusCode::NO_CONTENT).await;
    let other = Receiver::start(StatusCode::NO_CONTENT).await;
    let a = add_dead_letter(&redis, &receiver.url, "live_a", 1).await;
    let b = add_dead_letter(&redis, &receiver.url, "live_b", 2).await;
    let c = add_dead_letter(&redis, &other.url, "live_c", 3).await;

    // --list sends nothing and removes nothing.
    let (code, stdout, stderr) = redeliver(&redis, &["--list"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!("id={}", a.0))
            && stdout.contains("attempts=12")
            && stdout.contains("3 dead letters"),
        "{stdout}"
    );
    assert!(receiver.got().is_empty() && other.got().is_empty());
    assert_eq!(dead_letter_count(&redis).await, 3);

    // --event-id: only that entry.
    let (code, stdout, stderr) = redeliver(&redis, &["--event-id", &b.0]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("re-sent 1/1"), "{stdout}");
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert_signed(&got[0], &b.1, &b.0);
    assert_eq!(dead_letter_count(&redis).await, 2);

    // The rest, each to its own receiver, oldest first.
    let (code, stdout, stderr) = redeliver(&redis, &[]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("re-sent 1/2") && stdout.contains("re-sent 2/2"),
        "{stdout}"
    );
    assert!(stdout.contains("2 of 2 re-sent"), "{stdout}");
    let got = receiver.got();
    assert_eq!(got.len(), 2);
    assert_signed(&got[1], &a.1, &a.0);
    let got = other.got();
    assert_eq!(got.len(), 1);
    assert_signed(&got[0], &c.1, &c.0);
    assert_eq!(dead_letter_count(&redis).await, 0);

    let (code, stdout, _) = redeliver(&redis, &[]).await;
    assert_eq!(code, Some(0));
    assert!(stdout.contains("no dead letters"), "{stdout}");
}

#[tokio::test]
async fn redeliver_keeps_what_a_receiver_refuses_and_exits_non_zero() {
    let redis = TestRedis::new();
    let failing = Receiver::start(StatusCode::INTERNAL_SERVER_ERROR).await;
    let a = add_dead_letter(&redis, &failing.url, "live_a", 1).await;
    let b = add_dead_letter(&redis, &failing.url, "live_b", 2).await;

    let (code, stdout, stderr) = redeliver(&redis, &[]).await;
    assert_ne!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("failed  1/2") && stdout.contains("500") && stdout.contains("(kept)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("0 of 2 re-sent and removed; 2 failed and kept"),
        "{stdout}"
    );
    assert!(stderr.contains("2 of 2 deliveries failed"), "{stderr}");
    assert_eq!(failing.got().len(), 2, "both were tried");
    assert_eq!(dead_letter_count(&redis).await, 2);

    // --url filters by receiver; --to sends elsewhere; --limit caps the count.
    let (code, stdout, _) = redeliver(&redis, &["--url", "http://nobody/", "--list"]).await;
    assert_eq!(code, Some(0));
    assert!(stdout.contains("0 dead letters"), "{stdout}");
    let good = Receiver::start(StatusCode::OK).await;
    let (code, stdout, stderr) = redeliver(
        &redis,
        &["--url", &failing.url, "--to", &good.url, "--limit", "1"],
    )
    .await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let got = good.got();
    assert_eq!(got.len(), 1, "{stdout}");
    assert_signed(&got[0], &a.1, &a.0);
    assert_eq!(dead_letter_count(&redis).await, 1);

    // Without a secret, nothing is sent.
    let (code, _, stderr) = redeliver(&redis, &["--secret", ""]).await;
    assert_ne!(code, Some(0));
    assert!(stderr.contains("LIVEROOM_WEBHOOK_SECRET"), "{stderr}");
    assert_eq!(dead_letter_count(&redis).await, 1);
    let _ = b;
}

/// The whole path: a real replica's deliveries to a receiver that is down are
/// dead-lettered past `LIVEROOM_WEBHOOK_MAX_AGE`; `redeliver --to` sends them to a
/// running `liveroom webhooks listen`, which verifies and prints them, and removes
/// them.
#[tokio::test]
async fn dead_letters_of_a_real_replica_are_redelivered_to_listen() {
    let redis = TestRedis::new();
    let down = format!(
        "http://127.0.0.1:{}/hook",
        liveroom::redis_child::free_port().unwrap()
    );
    let replica = crate::harness::Replica::start(
        "tools-dead-letters",
        &redis,
        &[
            ("LIVEROOM_WEBHOOK_URLS", down.as_str()),
            ("LIVEROOM_WEBHOOK_SECRET", SECRET),
            ("LIVEROOM_WEBHOOK_EVENTS", "room"),
            ("LIVEROOM_WEBHOOK_MAX_AGE", "1s"),
            ("LIVEROOM_WEBHOOK_POLL_INTERVAL", "50ms"),
            ("LIVEROOM_LEASE_TTL", "1s"),
            ("LIVEROOM_REAPER_INTERVAL", "200ms"),
        ],
    )
    .await;
    let live_id = crate::harness::live_room_at(&replica.base, "alice", "nobody listens").await;
    let lettered = crate::harness::replicas::wait_until(Duration::from_secs(20), || async {
        dead_letter_count(&redis).await >= 2
    })
    .await;
    assert!(
        lettered,
        "room_created and room_started were not dead-lettered"
    );

    let listener = Listener::start(&[]).await;
    let to = format!("{}/webhooks", listener.base);
    let (code, stdout, stderr) = redeliver(&redis, &["--to", &to]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("re-sent 2/2"), "{stdout}");
    assert_eq!(dead_letter_count(&redis).await, 0);
    let (code, printed, _) = listener.stop().await;
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(
        lines[0].contains("room_created") && lines[0].contains(&live_id),
        "{printed}"
    );
    assert!(
        lines[1].contains("room_started") && !lines[1].contains("(duplicate)"),
        "{printed}"
    );
}

#[tokio::test]
async fn redeliver_requires_the_redis_url() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .args(["webhooks", "redeliver", "--list"])
        .env_remove("LIVEROOM_REDIS_URL")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--redis-url"), "{stderr}");
}

// ---------------------------------------------------------------- docs/webhooks-verify.md

/// The code blocks of docs/webhooks-verify.md in `language`, joined.
fn doc_blocks(language: &str) -> String {
    let doc = include_str!("../../docs/webhooks-verify.md");
    let fence = format!("```{language}\n");
    let blocks: Vec<&str> = doc
        .split(&fence)
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect();
    assert!(!blocks.is_empty(), "no {language} block in the doc");
    blocks.concat()
}

/// Runs the doc's snippet in `interpreter` on `header` and `body`: whether it
/// accepted the delivery.
fn snippet_accepts(interpreter: &str, script: &std::path::Path, header: &str, body: &[u8]) -> bool {
    use std::io::Write;
    let mut child = std::process::Command::new(interpreter)
        .arg(script)
        .env("SECRET", SECRET)
        .env("HEADER", header)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {interpreter} ({e}): install it (Debian: apt-get install python3 nodejs)")
        });
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{interpreter} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match stdout.trim() {
        "accepted" => true,
        "refused" => false,
        other => panic!("{interpreter} printed {other:?}"),
    }
}

#[test]
fn the_documented_python_and_node_snippets_verify_real_signatures() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let tag = std::process::id();
    let python = dir.join(format!("verify-{tag}.py"));
    std::fs::write(
        &python,
        doc_blocks("python")
            + "\nimport os, sys\n\
               ok = verify_liveroom(os.environ['SECRET'].encode(), os.environ['HEADER'], sys.stdin.buffer.read())\n\
               print('accepted' if ok else 'refused')\n",
    )
    .unwrap();
    let node = dir.join(format!("verify-{tag}.js"));
    std::fs::write(
        &node,
        doc_blocks("js")
            + "\nconst ok = verifyLiveroom(process.env.SECRET, process.env.HEADER, require('node:fs').readFileSync(0));\n\
               console.log(ok ? 'accepted' : 'refused');\n",
    )
    .unwrap();

    // A body with non-ASCII text: the MAC is over the exact UTF-8 bytes.
    let body =
        event_body("live_v", "1-0", "room_created", None).replace("Friday show", "周末 show");
    let body = body.as_bytes();
    let now = now_s();
    let valid = sign(SECRET.as_bytes(), now, body);
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    let rotated = format!(
        "{},{}",
        sign(b"old secret", now, body),
        valid.split_once(',').unwrap().1
    );
    let cases: Vec<(&str, String, Vec<u8>, bool)> = vec![
        ("valid", valid.clone(), body.to_vec(), true),
        (
            "4 minutes old",
            sign(SECRET.as_bytes(), now - 240, body),
            body.to_vec(),
            true,
        ),
        ("two v1, one matching", rotated, body.to_vec(), true),
        ("tampered body", valid.clone(), tampered, false),
        (
            "another secret",
            sign(b"another", now, body),
            body.to_vec(),
            false,
        ),
        (
            "6 minutes old",
            sign(SECRET.as_bytes(), now - 360, body),
            body.to_vec(),
            false,
        ),
        (
            "6 minutes ahead",
            sign(SECRET.as_bytes(), now + 360, body),
            body.to_vec(),
            false,
        ),
        ("malformed", "v1=00,t=x".into(), body.to_vec(), false),
        ("empty", String::new(), body.to_vec(), false),
    ];
    for (interpreter, script) in [("python3", &python), ("node", &node)] {
        for (name, header, body, accepted) in &cases {
            assert_eq!(
                snippet_accepts(interpreter, script, header, body),
                *accepted,
                "{interpreter}: {name}"
            );
        }
    }
    let _ = std::fs::remove_file(&python);
    let _ = std::fs::remove_file(&node);
}
