//! The HTTP side: targets, keep-alive connections (hyper 1, HTTP/1.1), lanes (one
//! connection per target, requests round-robin over the targets), a pool of lanes for
//! scenarios with more tasks than connections, and the envelope scan.
//!
//! Nothing here parses JSON: a response is classified by its status and the number
//! after the first `"code":` in its body, which is the envelope's (`request_id` comes
//! first and is a plain string; `data` comes after).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::run::Run;
use crate::stats::{Op, Stats};

/// One service address.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given (without a trailing slash).
    pub url: String,
    addr: SocketAddr,
    host: HeaderValue,
}

impl Target {
    /// The resolved address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `Host` header value.
    pub fn host(&self) -> &HeaderValue {
        &self.host
    }

    /// Parses `http://HOST:PORT`, resolves it and checks that it accepts connections
    /// (trying each resolved address, e.g. `localhost` → ::1 then 127.0.0.1).
    pub async fn resolve(url: &str) -> Result<Self, String> {
        let url = url.trim().trim_end_matches('/');
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("--target {url}: not a URL ({e})"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "--target {url}: only http:// is supported, not {other}://"
                ));
            }
            None => return Err(format!("--target {url}: write it as http://HOST:PORT")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("--target {url}: no host"))?;
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!(
                "--target {url}: give the service's base URL, without a path"
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("--target {url}: cannot resolve {host}: {e}"))?
            .collect();
        let mut last_err = format!("{host} has no address");
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(_) => {
                    return Ok(Self {
                        url: url.to_owned(),
                        addr,
                        host: HeaderValue::from_str(authority.as_str())
                            .map_err(|e| format!("--target {url}: {e}"))?,
                    });
                }
                Err(e) => last_err = format!("{addr}: {e}"),
            }
        }
        Err(format!(
            "cannot connect to {url} ({last_err}); is the service running?"
        ))
    }
}

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP connect or HTTP handshake failed.
    Connect = 0,
    /// No complete answer within `--timeout`.
    Timeout = 1,
    /// The connection broke while sending or receiving.
    Io = 2,
}

impl Transport {
    /// Every kind, in report order.
    pub const ALL: [Transport; 3] = [Transport::Connect, Transport::Timeout, Transport::Io];

    /// Report name.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Connect => "connect",
            Transport::Timeout => "timeout",
            Transport::Io => "io",
        }
    }
}

/// What became of one request.
#[derive(Debug)]
pub enum Outcome {
    /// An HTTP answer: status, the envelope's `code` when the body has one, the body.
    Answered {
        status: u16,
        code: Option<i64>,
        body: Bytes,
    },
    /// No HTTP answer.
    Failed(Transport),
}

impl Outcome {
    /// Success: HTTP 200 with envelope code 0.
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            Outcome::Answered {
                status: 200,
                code: Some(0),
                ..
            }
        )
    }

    /// The envelope code, if answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Outcome::Answered { code, .. } => *code,
            Outcome::Failed(_) => None,
        }
    }

    /// The body, if answered.
    pub fn body(&self) -> &[u8] {
        match self {
            Outcome::Answered { body, .. } => body,
            Outcome::Failed(_) => b"",
        }
    }

    /// One line for setup failures: `HTTP 401 code 40100: token signature is invalid`.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Answered { status, code, body } => {
                let message = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| {
                        String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
                    });
                let code = code.map_or("none".to_string(), |c| c.to_string());
                format!("HTTP {status} code {code}: {message}")
            }
            Outcome::Failed(t) => format!("transport error ({})", t.name()),
        }
    }
}

/// A request to send, borrowed from pre-built parts (URIs and `Authorization` values
/// are built once; cloning them into the request only bumps reference counts).
pub struct Req<'a> {
    pub op: Op,
    pub method: Method,
    pub uri: &'a Uri,
    pub auth: Option<&'a HeaderValue>,
    pub body: Option<&'a Bytes>,
}

type Sender = SendRequest<Full<Bytes>>;

/// One keep-alive connection per target, opened lazily and reopened after a failure;
/// successive requests round-robin over the targets.
pub struct Lane {
    targets: Arc<[Target]>,
    conns: Vec<Option<Sender>>,
    next: usize,
    timeout: Duration,
}

impl Lane {
    /// A lane with no connection open yet.
    pub fn new(targets: Arc<[Target]>, timeout: Duration) -> Self {
        let conns = targets.iter().map(|_| None).collect();
        Self {
            targets,
            conns,
            next: 0,
            timeout,
        }
    }

    /// Sends `req` to the next target and waits for the whole answer.
    pub async fn send(&mut self, req: &Req<'_>) -> Outcome {
        let i = self.next;
        self.next += 1;
        if self.next == self.targets.len() {
            self.next = 0;
        }
        let request = self.build(i, req);
        match tokio::time::timeout(self.timeout, self.exchange(i, request)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                self.conns[i] = None; // the answer may still come: never reuse this one
                Outcome::Failed(Transport::Timeout)
            }
        }
    }

    fn build(&self, i: usize, req: &Req<'_>) -> Request<Full<Bytes>> {
        let body = req.body.cloned().unwrap_or_default();
        let has_body = !body.is_empty();
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = req.method.clone();
        *request.uri_mut() = req.uri.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.targets[i].host.clone());
        if let Some(auth) = req.auth {
            headers.insert(AUTHORIZATION, auth.clone());
        }
        if has_body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        request
    }

    async fn exchange(&mut self, i: usize, request: Request<Full<Bytes>>) -> Outcome {
        let sender = match self.ready(i).await {
            Ok(s) => s,
            Err(t) => return Outcome::Failed(t),
        };
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(_) => {
                self.conns[i] = None;
                return Outcome::Failed(Transport::Io);
            }
        };
        let status = response.status().as_u16();
        match response.into_body().collect().await {
            Ok(collected) => {
                let body = collected.to_bytes();
                Outcome::Answered {
                    status,
                    code: envelope_code(&body),
                    body,
                }
            }
            Err(_) => {
                self.conns[i] = None;
                Outcome::Failed(Transport::Io)
            }
        }
    }

    /// The connection to target `i`, ready for a request: the kept one, or a new one
    /// when there is none or the server closed it while idle.
    async fn ready(&mut self, i: usize) -> Result<&mut Sender, Transport> {
        let reusable = match self.conns[i].as_mut() {
            Some(s) => !s.is_closed() && s.ready().await.is_ok(),
            None => false,
        };
        if !reusable {
            self.conns[i] = None;
            let mut sender = connect(&self.targets[i]).await?;
            sender.ready().await.map_err(|_| Transport::Connect)?;
            self.conns[i] = Some(sender);
        }
        Ok(self.conns[i].as_mut().expect("connection was just set"))
    }
}

async fn connect(target: &Target) -> Result<Sender, Transport> {
    let stream = TcpStream::connect(target.addr)
        .await
        .map_err(|_| Transport::Connect)?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| Transport::Connect)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// A lane and the statistics of the requests sent through it.
struct Slot {
    lane: Lane,
    stats: Stats,
}

/// At most `size` requests in flight over at most `size` lanes, shared by many tasks
/// (viewers, setup). Waiting for a free lane counts in the latency: it is the tool's
/// queue, and a real client would wait too.
pub struct Pool {
    targets: Arc<[Target]>,
    timeout: Duration,
    permits: Semaphore,
    idle: Mutex<Vec<Slot>>,
}

impl Pool {
    /// A pool of `size` lanes, opened on demand.
    pub fn new(targets: Arc<[Target]>, timeout: Duration, size: usize) -> Self {
        Self {
            targets,
            timeout,
            permits: Semaphore::new(size),
            idle: Mutex::new(Vec::with_capacity(size)),
        }
    }

    /// Sends `req` on a free lane. With `record`, the outcome is recorded as started
    /// at `started` (see [`Run::record`]); without, it only is returned (setup).
    pub async fn send(&self, req: &Req<'_>, record: Option<(&Run, Instant)>) -> Outcome {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the pool is never closed");
        let popped = self.idle.lock().expect("pool lock").pop();
        let mut slot = popped.unwrap_or_else(|| Slot {
            lane: Lane::new(self.targets.clone(), self.timeout),
            stats: Stats::default(),
        });
        let outcome = slot.lane.send(req).await;
        if let Some((run, started)) = record {
            run.record(&mut slot.stats, req.op, &outcome, started);
        }
        self.idle.lock().expect("pool lock").push(slot);
        outcome
    }

    /// The statistics of every lane, merged (call once every sender is done).
    pub fn take_stats(&self) -> Stats {
        let mut total = Stats::default();
        for slot in self.idle.lock().expect("pool lock").iter_mut() {
            total.merge(std::mem::take(&mut slot.stats));
        }
        total
    }
}

/// The integer after the first `"code":` in `body`: the envelope's code.
pub fn envelope_code(body: &[u8]) -> Option<i64> {
    json_int(body, b"\"code\"")
}

/// The integer value of the first `"key"` (given with its quotes) in `body`, e.g.
/// `next_heartbeat_ms` in a heartbeat's data. A byte scan, not a JSON parse.
pub fn json_int(body: &[u8], quoted_key: &[u8]) -> Option<i64> {
    let at = find(body, quoted_key)?;
    let mut rest = &body[at + quoted_key.len()..];
    rest = skip_ws(rest);
    rest = rest.strip_prefix(b":")?;
    rest = skip_ws(rest);
    let (negative, rest) = match rest.strip_prefix(b"-") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 18 {
        return None;
    }
    let value = rest[..digits]
        .iter()
        .fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));
    Some(if negative { -value } else { value })
}

fn skip_ws(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r' | b'\n', rest @ ..] = s {
        s = rest;
    }
    s
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while from + needle.len() <= haystack.len() {
        let at = from + haystack[from..].iter().position(|&b| b == first)?;
        if haystack.len() - at < needle.len() {
            return None;
        }
        if &haystack[at..at + needle.len()] == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_codes_are_found() {
        let ok = br#"{"request_id":"abc","code":0,"message":"success","data":{"live_id":"x"}}"#;
        assert_eq!(envelope_code(ok), Some(0));
        let err = br#"{"request_id":"r","code":40401,"message":"user is not in this room"}"#;
        assert_eq!(envelope_code(err), Some(40401));
        assert_eq!(envelope_code(br#"{"code" : -3}"#), Some(-3));
        assert_eq!(envelope_code(b"<html>502 Bad Gateway</html>"), None);
        assert_eq!(envelope_code(br#"{"code":"0"}"#), None);
        assert_eq!(envelope_code(b""), None);
        let hb = br#"{"request_id":"r","code":0,"message":"success","data":{"live_id":"l","live_status":1,"next_heartbeat_ms":4711}}"#;
        assert_eq!(json_int(hb, b"\"next_heartbeat_ms\""), Some(4711));
        assert_eq!(json_int(hb, b"\"live_status\""), Some(1));
        assert_eq!(json_int(hb, b"\"missing\""), None);
    }

    #[test]
    fn outcomes_classify() {
        let ok = Outcome::Answered {
            status: 200,
            code: Some(0),
            body: Bytes::new(),
        };
        assert!(ok.is_ok());
        let not = Outcome::Answered {
            status: 200,
            code: Some(40000),
            body: Bytes::new(),
        };
        assert!(!not.is_ok());
        assert!(!Outcome::Failed(Transport::Io).is_ok());
    }
}
