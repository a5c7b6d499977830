//! A webhook receiver for tests: a real HTTP server (axum, on a thread and runtime
//! of its own) on a free loopback port that records every request it gets (method,
//! path, headers, body, in arrival order) and verifies nothing itself: tests check
//! signatures with `liveroom::events::signature::verify`. It can be told to answer
//! a given status for a while, to wait before answering, or be stopped and started
//! again on the same port (connections refused meanwhile).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `POST`, normally.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The exact body bytes.
    pub body: Vec<u8>,
    /// The status the receiver answered (or was about to, when the sender gave up).
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Delivery {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the receiver answered 2xx (the delivery counts).
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How the receiver answers.
#[derive(Debug)]
struct Behaviour {
    /// Answer this status until the instant (or for ever with `None`), then 200.
    status: Option<(u16, Option<Instant>)>,
    /// Wait this long before answering each request.
    delay: Duration,
}

#[derive(Debug)]
struct Shared {
    deliveries: Mutex<Vec<Delivery>>,
    behaviour: Mutex<Behaviour>,
}

/// The server while it runs: its thread and the way to stop it.
struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A recording webhook receiver (module docs). Stopped when dropped.
pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Option<Running>,
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (status, delay) = {
        let mut b = shared.behaviour.lock().unwrap();
        let status = match b.status {
            Some((status, None)) => status,
            Some((status, Some(until))) if Instant::now() < until => status,
            Some(_) => {
                b.status = None;
                200
            }
            None => 200,
        };
        (status, b.delay)
    };
    shared.deliveries.lock().unwrap().push(Delivery {
        method: method.to_string(),
        path: uri.to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        status,
        at: Instant::now(),
    });
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl WebhookReceiver {
    /// Starts a receiver on a free loopback port, answering 200 at once.
    pub fn start() -> Result<Self, String> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("cannot bind a receiver: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("receiver address: {e}"))?;
        let shared = Arc::new(Shared {
            deliveries: Mutex::new(Vec::new()),
            behaviour: Mutex::new(Behaviour {
                status: None,
                delay: Duration::ZERO,
            }),
        });
        let mut receiver = Self {
            addr,
            shared,
            running: None,
        };
        receiver.serve(listener)?;
        Ok(receiver)
    }

    fn serve(&mut self, listener: std::net::TcpListener) -> Result<(), String> {
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("receiver socket: {e}"))?;
        let app = Router::new()
            .fallback(record)
            .with_state(self.shared.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("webhook-receiver".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("receiver runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("receiver listener");
                    // Stopping drops every connection at once (a receiver going down),
                    // rather than waiting for requests under way.
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime aborts the connection tasks.
            })
            .map_err(|e| format!("receiver thread: {e}"))?;
        self.running = Some(Running {
            stop: Some(stop_tx),
            thread: Some(thread),
        });
        Ok(())
    }

    /// The URL deliveries go to: `http://127.0.0.1:<port>/hooks`.
    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// The port (kept across [`stop`](Self::stop) / [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.deliveries.lock().unwrap().clone()
    }

    /// The bodies of the requests answered 2xx, in arrival order.
    pub fn accepted_bodies(&self) -> Vec<String> {
        self.deliveries()
            .iter()
            .filter(|d| d.accepted())
            .map(Delivery::text)
            .collect()
    }

    /// Answers `status` to every request for `period` (from now), then 200 again.
    pub fn answer_for(&self, status: u16, period: Duration) {
        self.shared.behaviour.lock().unwrap().status =
            Some((status, Some(Instant::now() + period)));
    }

    /// Answers `status` to every request until told otherwise.
    pub fn answer(&self, status: u16) {
        self.shared.behaviour.lock().unwrap().status = Some((status, None));
    }

    /// Answers 200 again.
    pub fn answer_ok(&self) {
        self.shared.behaviour.lock().unwrap().status = None;
    }

    /// Waits `delay` before answering each request (zero: at once).
    pub fn delay_each(&self, delay: Duration) {
        self.shared.behaviour.lock().unwrap().delay = delay;
    }

    /// Stops listening: connections are refused until [`restart`](Self::restart).
    /// Requests under way are cut off.
    pub fn stop(&mut self) {
        self.running = None;
    }

    /// Listens again on the same port.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        let mut last = String::new();
        for _ in 0..50 {
            match std::net::TcpListener::bind(self.addr) {
                Ok(listener) => return self.serve(listener),
                Err(e) => {
                    last = e.to_string();
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Err(format!("cannot listen on {} again: {last}", self.addr))
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}
