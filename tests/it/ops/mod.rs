//! Operations surface: metrics, probes, request logs' ids.

mod request_id;

use crate::harness::{TestApp, on_cluster};

async fn metrics_text(app: &TestApp) -> String {
    crate::harness::http()
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_never_by_id() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "metrics").await;
    app.join("bob", &id).await;
    for _ in 0..3 {
        app.user("bob").heartbeat(&id).await.ok();
    }
    app.user("carol").heartbeat(&id).await.expect(404, 40401);
    let text = metrics_text(&app).await;
    // The counter is process-wide (tests share it), so check presence, not exact totals.
    assert!(
        text.contains(r#"liveroom_http_requests_total{route="/client/live/room/heartbeat/{live_id}",method="GET",status="200"}"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"route="/client/live/room/heartbeat/{live_id}",method="GET",status="404"}"#
        )
    );
    assert!(text.contains("liveroom_http_request_duration_seconds_bucket{"));
    assert!(text.contains(r#"liveroom_redis_command_duration_seconds_bucket{command="heartbeat",operation="heartbeat""#));
    assert!(text.contains("liveroom_http_requests_in_flight"));
    assert!(!text.contains(&id), "a room id leaked into a metric label");
    assert!(
        !text.contains("bob"),
        "a user id leaked into a metric label"
    );
}

/// Every Redis call is timed under the store operation and strategy that sent it: a
/// join on one Redis is one `join_room` script (`join.single`); on Cluster its steps
/// (`room_add_member`, `ensure_profile`, the pointer reads) show under `join.cluster`.
#[tokio::test]
async fn redis_calls_are_labelled_by_operation_and_strategy() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "labels").await;
    app.join("bob", &id).await;
    let text = metrics_text(&app).await;
    let series = |command: &str, operation: &str| {
        format!(
            r#"liveroom_redis_command_duration_seconds_count{{command="{command}",operation="{operation}"}}"#
        )
    };
    if on_cluster() {
        for command in ["room_add_member", "ensure_profile", "HGET"] {
            assert!(
                text.contains(&series(command, "join.cluster")),
                "{command}: {text}"
            );
        }
        assert!(
            text.contains(&series("room_start", "start.cluster")),
            "{text}"
        );
    } else {
        assert!(text.contains(&series("join_room", "join.single")), "{text}");
        assert!(
            text.contains(&series("start_room", "start.single")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn unmatched_paths_share_one_label() {
    let app = TestApp::start().await;
    app.get("bob", "/no/such/path/12345")
        .await
        .expect(404, 40400);
    let text = metrics_text(&app).await;
    assert!(text.contains(r#"route="unmatched""#));
    assert!(!text.contains("12345"));
}

#[tokio::test]
async fn probes_answer_and_readyz_reloads_flushed_scripts() {
    let app = TestApp::start().await;
    let live = crate::harness::http()
        .get(format!("{}/livez", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    app.flush_scripts().await;
    let ready = crate::harness::http()
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let shas: Vec<i64> = app
        .redis_cmd(&["SCRIPT", "EXISTS", liveroom_heartbeat_sha()])
        .await;
    assert_eq!(shas, vec![1], "readyz did not reload the scripts");
}

#[tokio::test]
async fn readyz_fails_when_redis_is_gone_and_livez_does_not() {
    let mut app = TestApp::init()
        .private_redis()
        .with_redis_timeout(std::time::Duration::from_millis(300))
        .spawn()
        .await;
    // Replace the app's Redis by an unrelated one: the old one is dropped (killed),
    // so the app's Redis address has nothing listening any more.
    app.redis = crate::harness::TestRedis::private();
    let ready = crate::harness::http()
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["code"], 50300);
    let live = crate::harness::http()
        .get(format!("{}/livez", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
}

/// SHA1 of the heartbeat script as loaded (heartbeat.lua runs without lib.lua).
fn liveroom_heartbeat_sha() -> &'static str {
    static SHA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SHA.get_or_init(|| {
        let body = include_str!("../../../lua/heartbeat.lua");
        redis::Script::new(body).get_hash().to_owned()
    })
}

/// `rediss://` (SPEC §9): a replica talks to a TLS-only Redis port. The server's
/// certificate is self-signed, so the URL carries redis-rs's `#insecure` marker.
#[tokio::test]
async fn serves_over_a_tls_redis() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(made.success());
    let tls_port = liveroom::redis_child::free_port().unwrap().to_string();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let redis = liveroom::redis_child::RedisChild::start(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-auth-clients",
        "no",
    ])
    .unwrap();
    let url = format!("rediss://127.0.0.1:{tls_port}/#insecure");
    let target = crate::harness::TestRedis {
        child: None,
        target: liveroom::redis_conn::RedisTarget::standalone(url),
        prefix: "lr".into(),
        masters: Vec::new(),
    };
    let replica = crate::harness::Replica::start("tls", &target, &[]).await;
    let ready = crate::harness::http()
        .get(format!("{}/readyz", replica.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let id = crate::harness::live_room_at(&replica.base, "anchor", "tls").await;
    // The room really is in that Redis (read over its plain port).
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("lr:{{{id}}}:room"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `http_server::serve` drains on shutdown: a request in flight when the signal
/// comes is answered, an idle kept-alive connection is closed, new connections are
/// refused, and the serve future returns once the last connection is gone.
#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_closes_idle_connections() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let entered = std::sync::Arc::new(tokio::sync::Notify::new());
    let in_handler = entered.clone();
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::get(move || async move {
            in_handler.notify_one();
            tokio::time::sleep(Duration::from_millis(500)).await;
            "done"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(liveroom::http_server::serve(
        listener,
        app,
        Duration::from_secs(30),
        async move {
            let _ = stop_rx.await;
        },
    ));

    // An idle kept-alive connection (one request answered) and a slow request.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 404"));
    let slow = tokio::spawn(
        crate::harness::http()
            .get(format!("http://{addr}/slow"))
            .send(),
    );
    entered.notified().await;

    let signalled = Instant::now();
    stop_tx.send(()).unwrap();
    let reply = slow.await.unwrap().expect("the request in flight failed");
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.text().await.unwrap(), "done");
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
        .await
        .expect("the idle connection stayed open after shutdown")
        .unwrap_or(0);
    assert_eq!(n, 0, "the idle connection got data instead of a close");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve did not return after the last connection closed")
        .unwrap();
    assert!(signalled.elapsed() < Duration::from_secs(5));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "a new connection was accepted after shutdown"
    );
}
