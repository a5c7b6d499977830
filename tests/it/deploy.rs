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
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("topology-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let lb_port = free_port().unwrap();
        let ports: Vec<String> = (0..3).map(|_| free_port().unwrap().to_string()).collect();
        let env = vec![
            ("LR_DIR".to_owned(), dir.display().to_string()),
            ("LR_LB_PORT".to_owned(), lb_port.to_string()),
            ("LR_REDIS_PORT".to_owned(), free_port().unwrap().to_string()),
            ("LR_REPLICA_PORTS".to_owned(), ports.join(" ")),
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
    let client = reqwest::Client::new();
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
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
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
