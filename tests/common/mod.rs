//! Test harness: a real `redis-server` per test (free loopback port, killed on drop)
//! and the app served in-process on a real socket, spoken to over HTTP.
#![allow(dead_code)]

use std::time::Duration;

use liveroom::config::ServeConfig;
use liveroom::redis_child::RedisChild;
use liveroom::store::Store;
use liveroom::{AppState, app};
use serde_json::Value;

/// The HS256 secret every test app uses.
pub const SECRET: &str = "test-secret-0123456789";

/// A running app plus its private Redis.
pub struct TestApp {
    /// Base URL, e.g. `http://127.0.0.1:PORT`.
    pub base: String,
    /// The Redis behind the app (killed when the test ends).
    pub redis: RedisChild,
    /// The store the app uses (for direct Redis inspection).
    pub store: Store,
    /// The configuration the app runs with.
    pub config: ServeConfig,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

/// A response: HTTP status and the parsed JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The envelope's `code`.
    pub fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(-1)
    }
    /// The envelope's `data`.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    /// Panics unless the reply is a success.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            (self.status, self.code()),
            (200, 0),
            "expected success, got {:?}",
            self.body
        );
        self
    }
    /// Asserts status and code.
    #[track_caller]
    pub fn expect(&self, status: u16, code: i64) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "body: {}",
            self.body
        );
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message missing: {}",
            self.body
        );
        assert!(
            self.body["request_id"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "request_id missing"
        );
    }
}

impl TestApp {
    /// Starts Redis and the app with default settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts Redis and the app, letting `tweak` change the configuration first.
    pub async fn start_with(tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        let redis = RedisChild::start(&[]).expect("start redis-server");
        let mut config = ServeConfig::defaults();
        config.redis_url = Some(redis.url());
        config.jwt_secret = Some(SECRET.into());
        tweak(&mut config);
        let store = Store::connect(
            &redis.url(),
            &config.key_prefix,
            config.member_timeout,
            config.redis_timeout,
        )
        .await
        .expect("connect to redis");
        let state = AppState::new(store.clone(), &config, SECRET).expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app(state)).await.unwrap();
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            base,
            redis,
            store,
            config,
            client,
            server,
        }
    }

    /// A token for `user` (nick = user id capitalised is not assumed: nick given explicitly).
    pub fn token(&self, user: &str) -> String {
        liveroom::auth::mint_token(
            SECRET,
            user,
            Some(&format!("nick-{user}")),
            None,
            Duration::from_secs(3600),
        )
        .unwrap()
    }

    /// Sends a request with an optional token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        Self::reply(req.send().await.expect("request")).await
    }

    /// Sends a request with a raw body and raw headers.
    pub async fn call_raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::reply(req.send().await.expect("request")).await
    }

    async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "body is not JSON (status {status}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        Reply {
            status,
            body,
            headers,
        }
    }

    /// As `user`: GET.
    pub async fn get(&self, user: &str, path: &str) -> Reply {
        self.call("GET", path, Some(&self.token(user)), None).await
    }
    /// As `user`: GET, with owned arguments (for futures collected in a loop).
    pub async fn get_owned(&self, user: String, path: String) -> Reply {
        self.get(&user, &path).await
    }
    /// As `user`: POST with an optional body.
    pub async fn post(&self, user: &str, path: &str, body: Option<Value>) -> Reply {
        self.call("POST", path, Some(&self.token(user)), body).await
    }
    /// As `user`: PUT with an optional body.
    pub async fn put(&self, user: &str, path: &str, body: Option<Value>) -> Reply {
        self.call("PUT", path, Some(&self.token(user)), body).await
    }
    /// As `user`: DELETE.
    pub async fn delete(&self, user: &str, path: &str) -> Reply {
        self.call("DELETE", path, Some(&self.token(user)), None)
            .await
    }

    /// `anchor` creates a room titled `title`; returns its live_id.
    pub async fn create_room(&self, anchor: &str, title: &str) -> String {
        let r = self
            .post(
                anchor,
                "/client/live/room/instance",
                Some(serde_json::json!({ "title": title })),
            )
            .await
            .ok();
        r.data()["live_id"].as_str().unwrap().to_owned()
    }

    /// `anchor` creates and starts a room; returns its live_id.
    pub async fn live_room(&self, anchor: &str, title: &str) -> String {
        let id = self.create_room(anchor, title).await;
        self.put(anchor, &format!("/client/live/room/{id}"), None)
            .await
            .ok();
        id
    }

    /// `user` joins `live_id`; returns the room data.
    pub async fn join(&self, user: &str, live_id: &str) -> Value {
        self.post(user, &format!("/client/live/room/user/{live_id}"), None)
            .await
            .ok()
            .data()
            .clone()
    }

    /// The room's info as seen by `user`.
    pub async fn info(&self, user: &str, live_id: &str) -> Value {
        self.get(user, &format!("/client/live/room/info/{live_id}"))
            .await
            .ok()
            .data()
            .clone()
    }

    /// A raw Redis command against the app's Redis.
    pub async fn redis_cmd<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let mut conn = self.store.connection();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async(&mut conn).await.expect("redis command")
    }

    /// Number of keys in Redis (to check that a refused request wrote nothing).
    pub async fn key_count(&self) -> i64 {
        self.redis_cmd::<i64>(&["DBSIZE"]).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A real `liveroom serve` process (the built binary) against a given Redis.
pub struct Replica {
    /// Base URL.
    pub base: String,
    /// The replica id it runs with (the reaper lease's value).
    pub id: String,
    child: Option<std::process::Child>,
}

impl Replica {
    /// Starts `liveroom serve` with `LIVEROOM_REPLICA_ID=id`, the test secret, the
    /// given Redis URL and extra `LIVEROOM_*` settings; waits for `/livez`.
    pub async fn start(id: &str, redis_url: &str, env: &[(&str, &str)]) -> Self {
        let port = liveroom::redis_child::free_port().unwrap();
        // The replica's log, quoted when it fails to start.
        let log = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("replica-{id}-{}-{port}.log", std::process::id()));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_liveroom"));
        cmd.arg("serve")
            .env("LIVEROOM_LISTEN", format!("127.0.0.1:{port}"))
            .env("LIVEROOM_REDIS_URL", redis_url)
            .env("LIVEROOM_JWT_SECRET", SECRET)
            .env("LIVEROOM_REPLICA_ID", id)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("replica log file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let base = format!("http://127.0.0.1:{port}");
        // Owned by `Self` from the start, so Drop kills it even if start-up fails.
        let replica = Self {
            base,
            id: id.to_owned(),
            child: Some(cmd.spawn().expect("spawn liveroom")),
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("{}/livez", replica.base))
                .send()
                .await
                .is_ok()
            {
                return replica;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("replica {id} did not come up; its log:\n{output}");
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the exit; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let status = c.wait().ok()?;
        status.code()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A plain HTTP client bound to one replica, for tests with several processes.
pub async fn call_at(base: &str, method: &str, path: &str, token: &str) -> Reply {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let resp = client
        .request(method, format!("{base}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("request");
    TestApp::reply(resp).await
}

/// On the replica at `base`, `anchor` creates a room titled `title` and starts it;
/// returns its live_id. Panics unless both succeed.
pub async fn live_room_at(base: &str, anchor: &str, title: &str) -> String {
    let token = token_for(anchor);
    let resp = reqwest::Client::new()
        .post(format!("{base}/client/live/room/instance"))
        .header("Authorization", &token)
        .body(serde_json::json!({ "title": title }).to_string())
        .send()
        .await
        .expect("create room");
    let created = TestApp::reply(resp).await.ok();
    let id = created.data()["live_id"].as_str().unwrap().to_owned();
    call_at(base, "PUT", &format!("/client/live/room/{id}"), &token)
        .await
        .ok();
    id
}

/// A token for `user` signed with the test secret.
pub fn token_for(user: &str) -> String {
    liveroom::auth::mint_token(
        SECRET,
        user,
        Some(&format!("nick-{user}")),
        None,
        Duration::from_secs(3600),
    )
    .unwrap()
}
