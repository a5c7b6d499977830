//! End-to-end through the local multi-replica topology: redis-server,
//! three `liveroom serve` replicas and nginx, started by `deploy/local/topology` as
//! plain processes. Checks that requests spread over every replica and that
//! `kill -9` of one replica mid-test loses nothing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use liveroom::redis_child::free_port;

use crate::harness::{Reply, token_for};

struct Topology {
    dir: PathBuf,
    env: Vec<(String, String)>,
    lb: String,
}

impl Topology {
    fn start() -> Self {
        // reqwest needs a TLS provider before its first client, and no Redis
        // connection of this test installs one.
        crate::sse::install_crypto();
        // One directory per topology: tests run in parallel in this process.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("topology-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let lb_port = free_port().unwrap();
        let ports: Vec<String> = (0..3).map(|_| free_port().unwrap().to_string()).collect();
        let env = vec![
            ("LR_DIR".to_owned(), dir.display().to_string()),
            ("LR_LB_PORT".to_owned(), lb_port.to_string()),
            ("LR_REDIS_PORT".to_owned(), free_port().unwrap().to_string()),
            ("LR_REPLICA_PORTS".to_owned(), ports.join(" ")),
            ("LR_RTMP_PORT".to_owned(), free_port().unwrap().to_string()),
            (
                "LIVEROOM_BIN".to_owned(),
                env!("CARGO_BIN_EXE_liveroom").to_owned(),
            ),
            (
                "LIVEROOM_JWT_SECRET".to_owned(),
                crate::harness::SECRET.to_owned(),
            ),
        ];
        let topology = Self {
            dir,
            env,
            lb: format!("http://127.0.0.1:{lb_port}"),
        };
        let status = topology.script("start");
        assert!(
            status,
            "deploy/local/topology start failed (is nginx installed? scripts/setup --with-nginx)"
        );
        topology
    }

    fn script(&self, verb: &str) -> bool {
        Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/local/topology"
        ))
        .arg(verb)
        .envs(self.env.iter().map(|(k, v)| (k, v)))
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
    }

    /// name → (pid, port) from the script's state file.
    fn processes(&self) -> HashMap<String, (i32, u16)> {
        std::fs::read_to_string(self.dir.join("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((
                    f.first()?.to_string(),
                    (f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?),
                ))
            })
            .collect()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.script("stop");
    }
}

async fn call(base: &str, method: &str, path: &str, user: &str, body: Option<&str>) -> Reply {
    let client = crate::harness::http();
    let mut req = client
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{base}{path}"),
        )
        .header("Authorization", token_for(user));
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    let resp = req.send().await.expect("request through nginx");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.expect("JSON body");
    Reply {
        status,
        body,
        headers,
    }
}

/// Sum of `liveroom_http_requests_total` over the client API routes of one replica.
async fn api_requests_served(port: u16) -> f64 {
    let text = crate::harness::http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("liveroom_http_requests_total{") && l.contains("route=\"/client/")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn life_cycle_through_nginx_spreads_over_replicas_and_survives_kill9() {
    let topo = Topology::start();
    let lb = topo.lb.clone();
    let created = call(
        &lb,
        "POST",
        "/client/live/room/instance",
        "anchor",
        Some(r#"{"title":"topology e2e"}"#),
    )
    .await
    .ok();
    let id = created.data()["live_id"].as_str().unwrap().to_owned();
    call(
        &lb,
        "PUT",
        &format!("/client/live/room/{id}"),
        "anchor",
        None,
    )
    .await
    .ok();
    let viewers: Vec<String> = (0..40).map(|i| format!("viewer{i}")).collect();
    for v in &viewers[..20] {
        call(
            &lb,
            "POST",
            &format!("/client/live/room/user/{id}"),
            v,
            None,
        )
        .await
        .ok();
    }
    for v in &viewers[..20] {
        call(
            &lb,
            "GET",
            &format!("/client/live/room/heartbeat/{id}"),
            v,
            None,
        )
        .await
        .ok();
    }
    // Every replica served part of the traffic.
    let procs = topo.processes();
    for name in ["replica-1", "replica-2", "replica-3"] {
        let served = api_requests_served(procs[name].1).await;
        assert!(served > 0.0, "{name} served no API request");
    }
    // kill -9 one replica mid-test; every later request must still succeed.
    let (victim, _) = procs["replica-2"];
    unsafe {
        libc::kill(victim, libc::SIGKILL);
    }
    for v in &viewers[20..] {
        call(
            &lb,
            "POST",
            &format!("/client/live/room/user/{id}"),
            v,
            None,
        )
        .await
        .ok();
    }
    for v in &viewers {
        call(
            &lb,
            "GET",
            &format!("/client/live/room/heartbeat/{id}"),
            v,
            None,
        )
        .await
        .ok();
    }
    let info = call(
        &lb,
        "GET",
        &format!("/client/live/room/info/{id}"),
        "someone",
        None,
    )
    .await
    .ok();
    assert_eq!(info.data()["online_count"], 41, "anchor + 40 viewers");
    assert_eq!(info.data()["pv"], 40);
    let list = call(
        &lb,
        "GET",
        &format!("/client/live/room/user_list?live_id={id}&page_size=100"),
        "x",
        None,
    )
    .await
    .ok();
    assert_eq!(list.data()["total_count"], 41);
    call(
        &lb,
        "DELETE",
        &format!("/client/live/room/user/{id}"),
        "viewer0",
        None,
    )
    .await
    .ok();
    call(
        &lb,
        "POST",
        &format!("/client/live/room/{id}"),
        "anchor",
        None,
    )
    .await
    .ok();
    call(
        &lb,
        "DELETE",
        &format!("/client/live/room/instance/{id}"),
        "anchor",
        None,
    )
    .await
    .ok();
    call(
        &lb,
        "GET",
        &format!("/client/live/room/info/{id}"),
        "anchor",
        None,
    )
    .await
    .expect(404, 40400);

    // stop leaves no process behind.
    let pids: Vec<i32> = topo.processes().values().map(|(pid, _)| *pid).collect();
    drop(topo);
    for pid in pids {
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!alive, "process {pid} still running after stop");
    }
}

/// Whether nginx is installed where `deploy/local/topology` looks for it.
fn nginx_installed() -> bool {
    Command::new("sh")
        .args(["-c", "command -v nginx || test -x /usr/sbin/nginx"])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A client event stream through the topology's nginx: unbuffered (the snapshot and a
/// later event arrive while the stream stays open), the token in the query works,
/// and nginx's access log carries the path without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_passes_through_nginx_unbuffered() {
    if !nginx_installed() {
        println!("skipped: nginx is not installed (scripts/setup --with-nginx installs it)");
        return;
    }
    let topo = Topology::start();
    // The rendered configuration holds streams open past the API's 10 s read
    // timeout (keep-alives come every 15 s) and does not buffer them.
    let conf = std::fs::read_to_string(topo.dir.join("nginx/nginx.conf")).unwrap();
    let location = conf
        .split("location /client/live/room/events/ {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_else(|| panic!("no event-stream location in:\n{conf}"));
    for needed in [
        "proxy_buffering off;",
        "proxy_read_timeout 1h;",
        "proxy_http_version 1.1;",
        "proxy_set_header Connection \"\";",
    ] {
        assert!(location.contains(needed), "{needed} missing:\n{location}");
    }
    let lb = topo.lb.clone();
    let created = call(
        &lb,
        "POST",
        "/client/live/room/instance",
        "anchor",
        Some(r#"{"title":"sse through nginx"}"#),
    )
    .await
    .ok();
    let id = created.data()["live_id"].as_str().unwrap().to_owned();
    let token = token_for("viewer");
    let path = crate::sse::events_path(&id, &format!("token={token}"));
    let mut stream = crate::sse::SseClient::open(&lb, &path, &[]).await;
    assert_eq!(stream.status, 200);
    assert!(stream.content_type().starts_with("text/event-stream"));
    let snapshot = stream.next().await;
    assert_eq!(snapshot.event, "room");
    // A later event comes through while the stream is open (nginx does not hold it
    // back waiting for more bytes or for the end).
    call(
        &lb,
        "PUT",
        &format!("/client/live/room/{id}"),
        "anchor",
        None,
    )
    .await
    .ok();
    let started = stream.next_not_online().await;
    assert_eq!(started.event, "room_started");
    assert_eq!(started.data["room"]["live_status"], 1);
    drop(stream);
    // The access line of the stream (written when it ends) has no token.
    let log_path = topo.dir.join("nginx/access.log");
    let logged = crate::harness::replicas::wait_until(std::time::Duration::from_secs(5), || {
        let log_path = log_path.clone();
        let id = id.clone();
        async move {
            std::fs::read_to_string(&log_path)
                .is_ok_and(|l| l.contains(&format!("/client/live/room/events/{id}")))
        }
    })
    .await;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(logged, "no access line for the stream:\n{log}");
    assert!(!log.contains(&token), "nginx logged the token:\n{log}");
}
