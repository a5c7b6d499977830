//! Test harness: a real `redis-server` per test (free loopback port, killed on drop)
//! and the app served in-process on a real socket, spoken to over HTTP
//! ([`TestApp::init`] … [`spawn`](TestAppBuilder::spawn), typed calls per route
//! through [`TestApp::user`]), or without a socket
//! ([`in_process`](TestAppBuilder::in_process)).
//!
//! `LIVEROOM_TEST_REDIS=cluster` runs the same tests on Redis Cluster instead: one
//! local cluster of three masters per run of the test binary (`redis-server --cluster-enabled
//! yes` + `redis-cli --cluster create`, stopped when the binary exits), each test
//! under its own key prefix. Tests that stop, stall or restart "the" Redis process
//! ask for a private server with [`TestRedis::private`] in both modes.

pub mod api;
pub mod keyspace;
pub mod replicas;
mod user;

pub use user::AsUser;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use liveroom::config::ServeConfig;
use liveroom::redis_conn::{RedisMode, RedisTarget};
use liveroom::store::Store;
use liveroom::{AppState, app};
use liveroom_testkit::{RedisChild, RedisCluster};
use serde_json::Value;

/// Whether this run uses the shared cluster (`LIVEROOM_TEST_REDIS=cluster`).
pub fn on_cluster() -> bool {
    std::env::var("LIVEROOM_TEST_REDIS").is_ok_and(|v| v == "cluster")
}

/// The cluster shared by every test of this binary: started once, on a thread that
/// lives as long as the process, so the children's parent-death signal stops them
/// when the test binary exits (and not when the first test's thread ends).
fn shared_cluster() -> &'static (String, Vec<u16>) {
    static CLUSTER: OnceLock<(String, Vec<u16>)> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || match RedisCluster::start(3, 0) {
            Ok(cluster) => {
                let _ = SHARED_DIR.set(cluster.dir().to_owned());
                let _ = tx.send(Ok((cluster.url_list(), cluster.master_ports())));
                loop {
                    std::thread::park();
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        });
        let started = rx
            .recv()
            .expect("cluster thread")
            .unwrap_or_else(|e| panic!("cannot start the test cluster: {e}"));
        // The cluster is never dropped (its thread parks until the process exits), so
        // its directory (node files, logs) is removed at exit instead.
        // SAFETY: registers a plain `extern "C" fn` without arguments.
        unsafe {
            libc::atexit(remove_shared_dir);
        }
        started
    })
}

static SHARED_DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

extern "C" fn remove_shared_dir() {
    if let Some(dir) = SHARED_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Installs rustls's ring provider for the process (a no-op when installed): the
/// tests' own reqwest clients need it, and only connecting a store installs it
/// otherwise, so a test that talks to replica processes alone would panic.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The tests' one HTTP client. Building a reqwest client loads the TLS trust store,
/// which costs tens of ms in a debug build, so a client per request made bursts of
/// requests (the overload test's 60 at once) wait on that rather than on the service.
/// No idle connections are pooled: each test runs its own runtime, and a pooled
/// connection must not outlive the runtime that opened it.
pub fn http() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            install_crypto_provider();
            reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("the tests' HTTP client")
        })
        .clone()
}

/// The Redis a test runs on: a private server, or the shared cluster under a key
/// prefix of its own.
pub struct TestRedis {
    /// The private server (None on the shared cluster).
    pub child: Option<RedisChild>,
    /// Where it is, as the service is configured.
    pub target: RedisTarget,
    /// Key prefix of this test (`lr` on a private server).
    pub prefix: String,
    /// Ports of the cluster's masters (empty on a private server).
    pub masters: Vec<u16>,
}

impl TestRedis {
    /// The suite's Redis: private standalone, or the shared cluster when
    /// `LIVEROOM_TEST_REDIS=cluster`.
    pub fn new() -> Self {
        install_crypto_provider();
        if !on_cluster() {
            return Self::private();
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let (urls, masters) = shared_cluster();
        Self {
            child: None,
            target: RedisTarget::parse(RedisMode::Cluster, urls, "").unwrap(),
            prefix: format!(
                "t{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::SeqCst)
            ),
            masters: masters.clone(),
        }
    }

    /// A private `redis-server` for this test alone (in both modes).
    pub fn private() -> Self {
        install_crypto_provider();
        let child = RedisChild::start(&[]).expect("start redis-server");
        Self {
            target: RedisTarget::standalone(child.url()),
            child: Some(child),
            prefix: "lr".into(),
            masters: Vec::new(),
        }
    }

    /// The private server; panics on the shared cluster.
    #[track_caller]
    pub fn child(&self) -> &RedisChild {
        self.child.as_ref().expect("a private redis-server")
    }

    /// `LIVEROOM_*` settings that point a replica process here.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LIVEROOM_REDIS_URL", self.target.urls.join(",")),
            ("LIVEROOM_REDIS_MODE", self.target.mode.name().to_owned()),
            ("LIVEROOM_KEY_PREFIX", self.prefix.clone()),
        ]
    }

    /// A store on this Redis with `config`'s member timeout.
    pub async fn store(&self, config: &ServeConfig) -> Store {
        Store::connect_to(
            &self.target,
            &self.prefix,
            config.member_timeout,
            config.redis_timeout,
        )
        .await
        .expect("connect to redis")
    }

    /// Standalone connections to every server holding data (the private one, or each
    /// cluster master), for per-server commands like `INFO`.
    pub async fn each_server(&self) -> Vec<redis::aio::MultiplexedConnection> {
        let urls: Vec<String> = match &self.child {
            Some(c) => vec![c.url()],
            None => self
                .masters
                .iter()
                .map(|p| format!("redis://127.0.0.1:{p}"))
                .collect(),
        };
        let mut conns = Vec::new();
        for url in urls {
            let client = redis::Client::open(url).unwrap();
            conns.push(client.get_multiplexed_async_connection().await.unwrap());
        }
        conns
    }
}

/// The HS256 secret every test app uses.
pub const SECRET: &str = "test-secret-0123456789";

/// A running app plus its private Redis.
pub struct TestApp {
    /// Base URL, e.g. `http://127.0.0.1:PORT`.
    pub base: String,
    /// The Redis behind the app (a private server is killed when the test ends).
    pub redis: TestRedis,
    /// The store the app uses (for direct Redis inspection).
    pub store: Store,
    /// The configuration the app runs with.
    pub config: ServeConfig,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    /// The webhook delivery loop, when receivers are configured (its stop signal).
    deliverer: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
}

/// A response: HTTP status and the parsed JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// A reply from its parts; panics unless `body` is JSON.
    fn parse(status: u16, headers: reqwest::header::HeaderMap, body: &[u8]) -> Self {
        let body = serde_json::from_slice(body).unwrap_or_else(|_| {
            panic!(
                "body is not JSON (status {status}): {}",
                String::from_utf8_lossy(body)
            )
        });
        Self {
            status,
            body,
            headers,
        }
    }

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

/// One change to the configuration of a [`TestApp`].
type Tweak<'a> = Box<dyn FnOnce(&mut ServeConfig) + 'a>;

/// How a [`TestApp`] is set up: which Redis, which settings. Made by
/// [`TestApp::init`], consumed by [`spawn`](Self::spawn).
#[must_use = "spawn() starts the app"]
pub struct TestAppBuilder<'a> {
    redis: Option<TestRedis>,
    tweaks: Vec<Tweak<'a>>,
}

impl<'a> TestAppBuilder<'a> {
    /// A private `redis-server` for this app alone, in both modes (for tests that
    /// stop, stall or restart it).
    pub fn private_redis(mut self) -> Self {
        self.redis = Some(TestRedis::private());
        self
    }

    /// Runs on `redis` instead of the suite's Redis.
    pub fn on_redis(mut self, redis: TestRedis) -> Self {
        self.redis = Some(redis);
        self
    }

    /// `LIVEROOM_MEMBER_TIMEOUT`: presence lapses after this long without a heartbeat.
    pub fn with_member_timeout(self, timeout: Duration) -> Self {
        self.with_config(move |c| c.member_timeout = timeout)
    }

    /// `LIVEROOM_REDIS_TIMEOUT`: how long one Redis call may take.
    pub fn with_redis_timeout(self, timeout: Duration) -> Self {
        self.with_config(move |c| c.redis_timeout = timeout)
    }

    /// Any other change to the configuration, applied in order after the defaults.
    pub fn with_config(mut self, tweak: impl FnOnce(&mut ServeConfig) + 'a) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    /// The chosen Redis, the configuration with every tweak applied, the store and
    /// the service's state on them.
    async fn parts(self) -> (TestRedis, ServeConfig, Store, AppState) {
        let redis = self.redis.unwrap_or_else(TestRedis::new);
        let mut config = ServeConfig::defaults();
        config.redis_url = Some(redis.target.urls.join(","));
        config.redis_mode = redis.target.mode;
        config.key_prefix = redis.prefix.clone();
        config.jwt_secret = Some(SECRET.into());
        for tweak in self.tweaks {
            tweak(&mut config);
        }
        // With webhook receivers configured, writes mark rooms due as `serve` does.
        let store = redis
            .store(&config)
            .await
            .with_webhook_marks(!config.webhooks.urls.is_empty());
        let state = AppState::new(store.clone(), &config, SECRET).expect("state");
        (redis, config, store, state)
    }

    /// The service's router without a socket, for `tower::ServiceExt::oneshot`.
    pub async fn in_process(self) -> InProcess {
        let (redis, _, _, state) = self.parts().await;
        InProcess {
            router: app(state),
            _redis: redis,
        }
    }

    /// Starts the app: the service's router served in-process on a free loopback
    /// port, with the test secret, on the chosen Redis (the suite's by default).
    pub async fn spawn(self) -> TestApp {
        let (redis, config, store, state) = self.parts().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let header_read_timeout = config.header_read_timeout;
        let server = tokio::spawn(liveroom::http_server::serve(
            listener,
            app(state),
            header_read_timeout,
            std::future::pending(),
        ));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        // Webhook delivery as `serve` runs it, when receivers are configured.
        let deliverer = liveroom::webhooks::WebhookSettings::from_config(&config.webhooks)
            .expect("webhook settings")
            .map(|settings| {
                let options =
                    liveroom::webhooks::deliver::DeliverOptions::from_config(&config, "test");
                let (stop, stopped) = tokio::sync::watch::channel(false);
                let task = tokio::spawn(liveroom::webhooks::deliver::run(
                    store.clone(),
                    settings,
                    options,
                    stopped,
                ));
                (stop, task)
            });
        TestApp {
            base,
            redis,
            store,
            config,
            client,
            server,
            deliverer,
        }
    }
}

impl TestApp {
    /// A builder: `TestApp::init().with_member_timeout(..).spawn().await`.
    pub fn init<'a>() -> TestAppBuilder<'a> {
        TestAppBuilder {
            redis: None,
            tweaks: Vec::new(),
        }
    }

    /// Starts the app with default settings on the suite's Redis.
    pub async fn start() -> Self {
        Self::init().spawn().await
    }

    /// Starts the app on the suite's Redis (see [`TestRedis::new`]), letting `tweak`
    /// change the configuration first.
    pub async fn start_with(tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        Self::init().with_config(tweak).spawn().await
    }

    /// Starts the app on a private `redis-server` (tests that stop or restart it).
    pub async fn start_private_with(tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        Self::init()
            .private_redis()
            .with_config(tweak)
            .spawn()
            .await
    }

    /// Requests as `user`: the typed calls, one per route.
    pub fn user(&self, user: &str) -> AsUser<'_> {
        AsUser::new(self, user)
    }

    /// A token for `user` (nick `nick-{user}`), see [`token_for`].
    pub fn token(&self, user: &str) -> String {
        token_for(user)
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

    pub(crate) async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        Reply::parse(status, headers, &bytes)
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

    /// `anchor` creates a room titled `title`; returns its live_id. Panics unless
    /// the room is created.
    pub async fn create_room(&self, anchor: &str, title: &str) -> String {
        let r = self
            .user(anchor)
            .create_room(serde_json::json!({ "title": title }))
            .await
            .ok();
        r.data()["live_id"].as_str().unwrap().to_owned()
    }

    /// `anchor` creates and starts a room; returns its live_id.
    pub async fn live_room(&self, anchor: &str, title: &str) -> String {
        let id = self.create_room(anchor, title).await;
        self.user(anchor).start(&id).await.ok();
        id
    }

    /// `user` joins `live_id`; returns the room data. Panics unless it succeeds.
    pub async fn join(&self, user: &str, live_id: &str) -> Value {
        self.user(user).join(live_id).await.ok().data().clone()
    }

    /// The room's info as seen by `user`. Panics unless it succeeds.
    pub async fn info(&self, user: &str, live_id: &str) -> Value {
        self.user(user).room_info(live_id).await.ok().data().clone()
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

    /// The keys under this app's prefix matching `pattern` (after the prefix), on
    /// every server (`KEYS` fans out to every master on a cluster).
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let full = format!("{}:{pattern}", self.config.key_prefix);
        self.redis_cmd(&["KEYS", &full]).await
    }

    /// Number of keys of this app (to check that a refused request wrote nothing).
    pub async fn key_count(&self) -> i64 {
        self.keys("*").await.len() as i64
    }

    /// `SCRIPT FLUSH` on every server holding data.
    pub async fn flush_scripts(&self) {
        for mut conn in self.redis.each_server().await {
            redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// The service's router without a socket (`liveroom::app`), on a Redis of its own
/// kind like a [`TestApp`]: requests go through `tower::ServiceExt::oneshot`.
pub struct InProcess {
    router: axum::Router,
    _redis: TestRedis,
}

impl InProcess {
    /// Sends `request` through a clone of the router; the answer as a [`Reply`]
    /// (panics unless the body is JSON).
    pub async fn send(&self, request: axum::http::Request<axum::body::Body>) -> Reply {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply::parse(status, headers, &bytes)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        if let Some((_, task)) = &self.deliverer {
            task.abort();
        }
    }
}

/// A real `liveroom serve` process (the built binary) against a given Redis.
pub struct Replica {
    /// Base URL.
    pub base: String,
    /// The replica id it runs with (the value of the reaper partition leases it holds).
    pub id: String,
    child: Option<std::process::Child>,
}

impl Replica {
    /// Starts `liveroom serve` with `LIVEROOM_REPLICA_ID=id`, the test secret, the
    /// given Redis and extra `LIVEROOM_*` settings; waits for `/livez`.
    pub async fn start(id: &str, redis: &TestRedis, env: &[(&str, &str)]) -> Self {
        let port = liveroom::redis_child::free_port().unwrap();
        // The replica's log, quoted when it fails to start.
        let log = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("replica-{id}-{}-{port}.log", std::process::id()));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_liveroom"));
        cmd.arg("serve")
            .env("LIVEROOM_LISTEN", format!("127.0.0.1:{port}"))
            .envs(redis.env())
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
        let client = crate::harness::http();
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
    let client = crate::harness::http();
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
    let resp = crate::harness::http()
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

/// A token for `user` signed with the test secret: HS256, nick `nick-{user}`, valid 1 h.
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
