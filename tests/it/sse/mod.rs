//! The client event stream, `GET /client/live/room/events/{live_id}` (Server-Sent
//! Events of the room events of docs/SPEC.md §10), read as a client reads it: a
//! streaming reqwest response parsed into SSE events, against the real service on a
//! real Redis (and Cluster with `LIVEROOM_TEST_REDIS=cluster`).

mod fanout;
mod limits;
mod resume;
mod stream;

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

/// One Server-Sent Event as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    /// `event:` (`message` when absent).
    pub event: String,
    /// `id:`, when the event has one.
    pub id: Option<String>,
    /// `data:`, parsed as JSON.
    pub data: Value,
}

/// An open event stream.
pub struct SseClient {
    /// HTTP status of the response.
    pub status: u16,
    /// Its headers.
    pub headers: reqwest::header::HeaderMap,
    body: Option<futures::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>>,
    buffer: String,
    /// Whether the server ended the stream.
    pub ended: bool,
}

/// How long [`SseClient::next`] waits for one event before failing.
pub const WAIT: Duration = Duration::from_secs(10);

impl SseClient {
    /// `GET {base}{path}` with `headers`; the body is read as it arrives.
    pub async fn open(base: &str, path: &str, headers: &[(&str, &str)]) -> Self {
        Self::open_with(&crate::harness::http(), base, path, headers).await
    }

    /// [`open`](Self::open) on a given client (many streams share its pool).
    pub async fn open_with(
        client: &reqwest::Client,
        base: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Self {
        install_crypto();
        let mut req = client.get(format!("{base}{path}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("open the event stream");
        Self {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: Some(resp.bytes_stream().boxed()),
            buffer: String::new(),
            ended: false,
        }
    }

    /// The content type.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The whole body as JSON (an error envelope).
    pub async fn json(mut self) -> Value {
        let mut text = Vec::new();
        let mut body = self.body.take().unwrap();
        while let Some(chunk) = body.next().await {
            text.extend_from_slice(&chunk.unwrap());
        }
        serde_json::from_slice(&text)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&text)))
    }

    /// The next event within `limit`; `None` when the stream ended (or nothing came in
    /// time: then `ended` is false).
    pub async fn next_within(&mut self, limit: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(event) = self.parse_one() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            let body = self.body.as_mut()?;
            match tokio::time::timeout_at(deadline, body.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Some(Err(_)) | None) => self.ended = true,
            }
        }
    }

    /// The next event; panics unless one comes within [`WAIT`].
    pub async fn next(&mut self) -> Sse {
        match self.next_within(WAIT).await {
            Some(e) => e,
            None if self.ended => panic!("the stream ended"),
            None => panic!("no event within {WAIT:?}"),
        }
    }

    /// The next event that is not `online`.
    pub async fn next_not_online(&mut self) -> Sse {
        loop {
            let e = self.next().await;
            if e.event != "online" {
                return e;
            }
        }
    }

    /// Whether the stream ends (after any events left, which are returned) within
    /// `limit`.
    pub async fn rest_until_end(&mut self, limit: Duration) -> (Vec<Sse>, bool) {
        let mut rest = Vec::new();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(e) => rest.push(e),
                None => return (rest, self.ended),
            }
        }
    }

    /// Parses one complete event (blank-line terminated) from the buffer; comments
    /// (keep-alives) are skipped.
    fn parse_one(&mut self) -> Option<Sse> {
        loop {
            let end = self.buffer.find("\n\n")?;
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut event = "message".to_owned();
            let mut id = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if line.starts_with(':') || line.is_empty() {
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => event = value.to_owned(),
                    "id" => id = Some(value.to_owned()),
                    "data" => data.push(value.to_owned()),
                    _ => {}
                }
            }
            if data.is_empty() {
                continue;
            }
            let data = data.join("\n");
            let data =
                serde_json::from_str(&data).unwrap_or_else(|_| panic!("data is not JSON: {data}"));
            return Some(Sse { event, id, data });
        }
    }
}

/// Installs the TLS crypto provider reqwest needs before a client is built (the
/// service does it when it connects to Redis; tests with replica processes never do).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The stream path of `live_id` with a query (`""` for none).
pub fn events_path(live_id: &str, query: &str) -> String {
    if query.is_empty() {
        format!("/client/live/room/events/{live_id}")
    } else {
        format!("/client/live/room/events/{live_id}?{query}")
    }
}

/// `Authorization: Bearer` for `user`.
pub fn bearer(user: &str) -> String {
    format!("Bearer {}", crate::harness::token_for(user))
}

/// The value of an unlabelled metric (`name value`) in a Prometheus exposition; 0
/// when absent.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The replica's `/metrics`.
pub async fn metrics_of(base: &str) -> String {
    crate::harness::http()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The stream ids of `live_id`'s stream, oldest first.
pub async fn stream_ids(app: &crate::harness::TestApp, live_id: &str) -> Vec<String> {
    crate::events::events(app, live_id)
        .await
        .iter()
        .map(|e| e.stream_id().to_owned())
        .collect()
}
