//! Explicit hostile input, against the real app and a real Redis:
//! bodies at and over the 64 KiB limit, deep nesting, invalid UTF-8, control
//! characters, path traversal and Redis key injection in ids, glob characters in
//! search, header injection through `X-Request-Id` and ambiguous message framing
//! (sent as raw bytes over TCP, since an HTTP client refuses to send them), and
//! afterwards a Redis key space holding only keys the service names itself.
//!
//! `errors/` has the ordinary bad-input table (wrong types, limits, the
//! 64 KiB + 1 whitespace body, 30,000 unbalanced `[`, NUL in a title, `{` / `}` in
//! ids, insane request ids sent through reqwest); nothing here repeats it.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Reply, TestApp};

const CREATE: &str = "/client/live/room/instance";
const LIMIT: usize = 64 * 1024;
/// The only token subjects used here (the only user-chosen text allowed in keys).
const USERS: [&str; 2] = ["alice", "bob"];

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Asserts `reply` is an envelope refusal `status` / `code` whose message contains
/// `word`.
#[track_caller]
fn refused(reply: &Reply, status: u16, code: i64, word: &str) {
    reply.expect(status, code);
    let message = reply.body["message"].as_str().unwrap_or("");
    assert!(
        message.contains(word),
        "message {message:?} should name {word:?}"
    );
    let header = reply
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok());
    assert_eq!(
        header,
        reply.body["request_id"].as_str(),
        "request id header"
    );
}

/// Sends `POST CREATE` with raw `body` bytes as alice.
async fn create_raw(app: &TestApp, body: Vec<u8>) -> Reply {
    let auth = format!("Bearer {}", app.token("alice"));
    app.call_raw(
        "POST",
        CREATE,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await
}

/// Redis's key count and write counter, to show a request wrote nothing.
async fn redis_state(app: &TestApp) -> (i64, u64) {
    (
        app.key_count().await,
        crate::harness::keyspace::writes(app).await,
    )
}

/// Runs `request` and asserts it wrote nothing to Redis.
macro_rules! no_write {
    ($app:expr, $request:expr) => {{
        let before = redis_state($app).await;
        let reply = $request.await;
        assert_eq!(
            redis_state($app).await,
            before,
            "a refused request wrote to Redis: {:?}",
            reply
        );
        reply
    }};
}

/// A response read off a raw socket.
#[derive(Debug)]
struct RawReply {
    status: u16,
    /// Header names lower-cased, values as sent.
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// The whole response, for messages.
    text: String,
}

impl RawReply {
    fn header(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// The envelope, when the body is one (hyper's own refusals have no body).
    fn envelope(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Writes `request` as is to the app's socket and reads the response until the
/// server closes (requests here say `Connection: close`) or 10 s pass.
async fn raw(app: &TestApp, request: &[u8]) -> RawReply {
    try_raw(app, request).await.unwrap_or_else(|| {
        panic!(
            "no response to {:?}",
            String::from_utf8_lossy(&request[..request.len().min(200)])
        )
    })
}

/// [`raw`], or `None` when the server closed (or reset) the connection without a
/// response.
async fn try_raw(app: &TestApp, request: &[u8]) -> Option<RawReply> {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer (413) and close before it has read everything.
    let _ = stream.write_all(request).await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the server neither answered nor closed within 10 s"
    );
    if out.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in response: {text:?}"));
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = out[..split]
        .split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
            let value = line[colon + 1..].trim_ascii().to_vec();
            Some((name, value))
        })
        .collect();
    let mut body = out[split + 4..].to_vec();
    if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Some(RawReply {
        status,
        headers,
        body,
        text,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap_or("0"), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// A raw `GET` request with extra header lines (each ending in CRLF).
fn raw_get(app: &TestApp, target: &[u8], extra_headers: &[u8]) -> Vec<u8> {
    let mut r = b"GET ".to_vec();
    r.extend_from_slice(target);
    r.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    r.extend_from_slice(app.base.trim_start_matches("http://").as_bytes());
    r.extend_from_slice(b"\r\nAuthorization: Bearer ");
    r.extend_from_slice(app.token("alice").as_bytes());
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(extra_headers);
    r.extend_from_slice(b"Connection: close\r\n\r\n");
    r
}

/// A raw `POST CREATE` with the given framing header lines and body bytes, asking
/// the server to close the connection after its response.
fn raw_post(app: &TestApp, framing: &[u8], body: &[u8]) -> Vec<u8> {
    let mut framing = framing.to_vec();
    framing.extend_from_slice(b"Connection: close\r\n");
    raw_post_keep_alive(app, &framing, body)
}

/// A raw `POST CREATE` that leaves the connection open (HTTP/1.1's default).
fn raw_post_keep_alive(app: &TestApp, framing: &[u8], body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n",
        app.token("alice")
    )
    .into_bytes();
    r.extend_from_slice(framing);
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

/// What every raw response must satisfy: no 5xx, no header the client smuggled
/// in, at most one `X-Request-Id` and only a sane one, and the envelope whenever
/// the app (not hyper's parser) answered.
#[track_caller]
fn assert_sound(r: &RawReply) {
    assert!(r.status < 500, "5xx: {}", r.text);
    assert!(
        r.header("set-cookie").is_empty() && r.header("x-injected").is_empty(),
        "injected header in response: {}",
        r.text
    );
    let ids = r.header("x-request-id");
    assert!(ids.len() <= 1, "several X-Request-Id: {}", r.text);
    if let Some(id) = ids.first() {
        let id = std::str::from_utf8(id).unwrap_or("\u{0}");
        assert!(
            liveroom::request_id::is_sane(id),
            "insane id echoed: {id:?}"
        );
        let env = r
            .envelope()
            .expect("a response with a request id has the envelope");
        assert_eq!(env["request_id"], id, "{}", r.text);
        assert!(
            env["code"].is_i64() && env["message"].is_string(),
            "{}",
            r.text
        );
    }
}

// ---------------------------------------------------------------------------
// 1. Body size: the 64 KiB limit, exactly
// ---------------------------------------------------------------------------

/// `{"title":"huge","pad":"xxx…"}` of exactly `len` bytes.
fn padded_body(len: usize) -> Vec<u8> {
    let shell = r#"{"title":"huge","pad":""}"#.len();
    format!(r#"{{"title":"huge","pad":"{}"}}"#, "x".repeat(len - shell)).into_bytes()
}

#[tokio::test]
async fn bodies_at_and_over_the_size_limit() {
    let app = TestApp::start().await;

    // Exactly 64 KiB: accepted, and the unknown field is not stored anywhere.
    let at = padded_body(LIMIT);
    assert_eq!(at.len(), LIMIT);
    let ok = create_raw(&app, at).await.ok();
    let id = ok.data()["live_id"].as_str().unwrap().to_owned();
    let room: std::collections::BTreeMap<String, String> = app
        .redis_cmd(&["HGETALL", &app.store.keys().room(&id).room])
        .await;
    assert!(
        room.values().all(|v| !v.contains("xxxx")) && !room.contains_key("pad"),
        "unknown field stored: {room:?}"
    );

    // One byte more: 413 / 40000, nothing written.
    let over = no_write!(&app, create_raw(&app, padded_body(LIMIT + 1)));
    refused(&over, 413, 40000, "body");

    // Just under the limit, but 5,000 extends keys: refused for the keys, after
    // parsing them all (the parser is linear, not quadratic).
    let many: serde_json::Map<String, Value> =
        (0..5000).map(|i| (format!("k{i}"), json!("v"))).collect();
    let body = serde_json::to_vec(&json!({"title": "t", "extends": many})).unwrap();
    assert!(body.len() < LIMIT, "{}", body.len());
    let started = std::time::Instant::now();
    let r = no_write!(&app, create_raw(&app, body));
    refused(&r, 400, 40000, "extends");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Just under the limit: 30,000 numbers in an unknown array, and 60 KB of
    // 4-byte characters in an unknown string: ignored, accepted.
    let numbers = format!(r#"{{"title":"t","x":[{}0]}}"#, "0,".repeat(30_000));
    assert!(numbers.len() < LIMIT);
    create_raw(&app, numbers.into_bytes()).await.ok();
    let emoji = format!(r#"{{"title":"t","x":"{}"}}"#, "😀".repeat(15_000));
    assert!(emoji.len() < LIMIT);
    create_raw(&app, emoji.into_bytes()).await.ok();

    // A notice of 1025 four-byte characters is over the character limit though
    // well under the byte limit.
    let notice = json!({"title": "t", "notice": "😀".repeat(1025)});
    let r = no_write!(&app, create_raw(&app, serde_json::to_vec(&notice).unwrap()));
    refused(&r, 400, 40000, "notice");

    // A chunked body (no Content-Length) over the limit: 413 all the same.
    let mut chunked = Vec::new();
    for _ in 0..9 {
        chunked.extend_from_slice(format!("2000\r\n{}\r\n", "x".repeat(0x2000)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let before = redis_state(&app).await;
    let r = raw(
        &app,
        &raw_post(&app, b"Transfer-Encoding: chunked\r\n", &chunked),
    )
    .await;
    assert_sound(&r);
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.envelope().unwrap()["code"], 40000);
    // A Content-Length over the limit is refused before any body is sent.
    let r = raw(&app, &raw_post(&app, b"Content-Length: 10000000\r\n", b"")).await;
    assert_sound(&r);
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(redis_state(&app).await, before, "an oversized body wrote");

    crate::harness::keyspace::assert_keyspace(&app, &USERS).await;
}

// ---------------------------------------------------------------------------
// 2. Deep nesting
// ---------------------------------------------------------------------------

#[tokio::test]
async fn deep_nesting_is_refused_not_a_stack_overflow() {
    let app = TestApp::start().await;
    let n = 10_000;
    let cases = [
        (
            "10,000 balanced [ in an unknown field",
            format!(r#"{{"title":"t","x":{}{}}}"#, "[".repeat(n), "]".repeat(n)),
            "nested",
        ),
        (
            "10,000 nested objects in an unknown field",
            format!(
                r#"{{"title":"t","x":{}1{}}}"#,
                r#"{"a":"#.repeat(n),
                "}".repeat(n)
            ),
            "nested",
        ),
        (
            "10,000 balanced [ in extends",
            format!(
                r#"{{"title":"t","extends":{}{}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            ),
            "extends",
        ),
        (
            "10,000 nested objects under an extends key",
            format!(
                r#"{{"title":"t","extends":{{"k":{}1{}}}}}"#,
                r#"{"a":"#.repeat(n),
                "}".repeat(n)
            ),
            "extends",
        ),
        (
            "10,000 [ as the body",
            format!("{}{}", "[".repeat(n), "]".repeat(n)),
            "JSON object",
        ),
        (
            "128 levels in an unknown field, one past serde_json's limit",
            format!(
                r#"{{"title":"t","x":{}{}}}"#,
                "[".repeat(127),
                "]".repeat(127)
            ),
            "nested",
        ),
    ];
    for (name, body, word) in cases {
        let r = no_write!(&app, create_raw(&app, body.into_bytes()));
        assert!(r.status != 500, "{name}: 500");
        refused(&r, 400, 40000, word);
    }
    // At the limit (127 levels, the body's own object counted), and brackets
    // inside strings, are fine.
    let at = format!(
        r#"{{"title":"t","x":{}{}}}"#,
        "[".repeat(126),
        "]".repeat(126)
    );
    create_raw(&app, at.into_bytes()).await.ok();
    let in_string = format!(r#"{{"title":"t","x":"{}"}}"#, "[{".repeat(20_000));
    create_raw(&app, in_string.into_bytes()).await.ok();
    // The service is still up.
    app.user("bob").list(&[]).await.ok();
}

// ---------------------------------------------------------------------------
// 3. Invalid UTF-8, in bodies, queries and paths
// ---------------------------------------------------------------------------

#[tokio::test]
async fn invalid_utf8_in_body_query_and_path() {
    let app = TestApp::start().await;
    let body = |parts: &[&[u8]]| parts.concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "in an unknown field's value",
            body(&[br#"{"title":"t","x":""#, b"\xff\xfe", br#""}"#]),
            "UTF-8",
        ),
        (
            "in an unknown field's name",
            body(&[br#"{"title":"t",""#, b"\xc3\x28", br#"":1}"#]),
            "JSON",
        ),
        (
            "in notice",
            body(&[br#"{"title":"t","notice":""#, b"\x80", br#""}"#]),
            "notice",
        ),
        (
            "overlong '/' in title",
            body(&[br#"{"title":""#, b"\xc0\xaf", br#""}"#]),
            "title",
        ),
        (
            "UTF-16 surrogate encoded in UTF-8 in title",
            body(&[br#"{"title":""#, b"\xed\xa0\x80", br#""}"#]),
            "title",
        ),
        (
            "an extends key",
            body(&[
                br#"{"title":"t","extends":{""#,
                b"\xf8\x88\x80\x80\x80",
                br#"":"v"}}"#,
            ]),
            "extends",
        ),
        (
            "a UTF-8 byte order mark before the object",
            body(&[b"\xef\xbb\xbf", br#"{"title":"t"}"#]),
            "JSON object",
        ),
        (
            "a UTF-16 body",
            "{\"title\":\"t\"}"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
            "JSON",
        ),
    ];
    for (name, bytes, word) in cases {
        let r = no_write!(&app, create_raw(&app, bytes));
        assert_eq!(r.status, 400, "{name}: {:?}", r.body);
        refused(&r, 400, 40000, word);
    }

    // Percent-encoded invalid UTF-8 in the query decodes lossily (U+FFFD): a
    // keyword that matches nothing, a page size that is not a number, an id that
    // is not an id.
    app.create_room("alice", "ordinary title").await;
    let r = app
        .get("bob", "/client/live/room?keyword=%FF%FE")
        .await
        .ok();
    assert_eq!(r.data()["total_count"], 0, "{:?}", r.body);
    let r = no_write!(&app, app.get("bob", "/client/live/room/list?page_size=%FF"));
    refused(&r, 400, 40000, "page_size");
    let r = no_write!(
        &app,
        app.get("bob", "/client/live/room/user_list?live_id=live%C3")
    );
    refused(&r, 400, 40000, "live_id");
    // In the path: the id does not decode to text, so it is not an id.
    for path in [
        "/client/live/room/info/live%FF",
        "/client/live/room/heartbeat/%C0%AF",
    ] {
        let r = no_write!(&app, app.get("bob", path));
        refused(&r, 400, 40000, "live_id");
    }
    // Raw bytes ≥ 0x80 in the request target (no client sends them): refused by
    // the HTTP parser or the app, never a 5xx, never a write.
    for target in [
        &b"/client/live/room?keyword=\xff\xfe"[..],
        b"/client/live/room/info/live_\xe4\xb8\xad",
    ] {
        let before = redis_state(&app).await;
        let r = raw(&app, &raw_get(&app, target, b"")).await;
        assert_sound(&r);
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(redis_state(&app).await, before);
    }
    crate::harness::keyspace::assert_keyspace(&app, &USERS).await;
}

// ---------------------------------------------------------------------------
// 4. Control characters and NUL
// ---------------------------------------------------------------------------

#[tokio::test]
async fn control_characters_in_text_and_keywords() {
    let app = TestApp::start().await;
    for (field, value) in [
        ("title", "a\rb"),
        ("title", "\u{1b}[31mred"),
        ("title", "del\u{7f}"),
        ("title", "next\u{85}line"),
        ("title", "\u{9b}csi"),
        ("notice", "n\u{0}ul"),
        ("notice", "bell\u{7}"),
        ("cover_url", "http://x/\u{0}"),
    ] {
        let mut body = json!({"title": "t"});
        body[field] = json!(value);
        let r = no_write!(&app, app.user("alice").create_room(body));
        refused(&r, 400, 40000, field);
    }
    // The profile's nick follows the same rule.
    let r = no_write!(
        &app,
        app.user("alice").update_profile(json!({"nick": "a\u{0}b"}))
    );
    refused(&r, 400, 40000, "nick");

    // Tab and newline are text; extends values are free-form (SPEC §7 limits only
    // their length) and come back exactly as sent, NUL included, JSON-escaped.
    let sent = json!({"k": "nul\u{0}esc\u{1b}crlf\r\n", "{x}": "*"});
    let r = app
        .user("alice")
        .create_room(json!({"title": "tab\tand\nnewline", "extends": sent}))
        .await
        .ok();
    let id = r.data()["live_id"].as_str().unwrap().to_owned();
    let info = app.info("bob", &id).await;
    assert_eq!(info["title"], "tab\tand\nnewline");
    assert_eq!(info["extends"], sent);

    // Keywords with NUL, controls and key syntax search, and create no key.
    for keyword in [
        "%00",
        "a%00b",
        "%1B%5B",
        "%0D%0A",
        "lr%3A%7Blive_",
        "%7Bx%7D",
    ] {
        let r = no_write!(
            &app,
            app.get("bob", &format!("/client/live/room?keyword={keyword}"))
        );
        r.ok();
    }
    crate::harness::keyspace::assert_keyspace(&app, &USERS).await;
}

// ---------------------------------------------------------------------------
// 5. Path traversal and Redis key injection through ids
// ---------------------------------------------------------------------------

#[tokio::test]
async fn ids_cannot_traverse_or_inject_keys() {
    let app = TestApp::start().await;
    let room = app.live_room("alice", "target room").await;
    app.join("bob", &room).await;
    let info_before = app.info("alice", &room).await;

    // Percent-encoded so the whole text arrives as the id.
    let hostile = [
        "..%2F..".to_owned(),
        "..%2F..%2Flr%3Auser%3A%7Balice%7D".to_owned(),
        "%2e%2e%2f".to_owned(),
        "live_1%7D%3Aroom".to_owned(),
        format!("{room}%7D%3Aroom"),
        format!("%7B{room}%7D"),
        format!("lr%3A%7B{room}%7D%3Aroom"),
        "*".to_owned(),
        format!("{room}*"),
        "live_%2A".to_owned(),
        "%00".to_owned(),
        format!("{room}%00"),
        format!("{room}%0D%0ADEL%20x"),
        "%7Bx%7D".to_owned(),
        "%5B%5D".to_owned(),
        "%3F".to_owned(),
        format!("{room}%20"),
        "a".repeat(65),
        "a".repeat(10_000),
    ];
    let routes: [(&str, &str); 8] = [
        ("GET", "/client/live/room/info/"),
        ("PUT", "/client/live/room/"),
        ("POST", "/client/live/room/"),
        ("DELETE", "/client/live/room/"),
        ("DELETE", "/client/live/room/instance/"),
        ("POST", "/client/live/room/user/"),
        ("DELETE", "/client/live/room/user/"),
        ("GET", "/client/live/room/heartbeat/"),
    ];
    let token = app.token("alice");
    for id in &hostile {
        for (method, prefix) in routes {
            let path = format!("{prefix}{id}");
            let r = no_write!(&app, app.call(method, &path, Some(&token), None));
            refused(&r, 400, 40000, "live_id");
        }
        // The same ids in the query and in a body.
        let r = no_write!(
            &app,
            app.get(
                "alice",
                &format!("/client/live/room/user_list?live_id={id}")
            )
        );
        refused(&r, 400, 40000, "live_id");
        let decoded = form_urlencoded::parse(format!("x={id}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let r = no_write!(
            &app,
            app.user("alice")
                .update_extends(json!({"live_id": decoded, "extends": {"k": "v"}}))
        );
        refused(&r, 400, 40000, "live_id");
    }

    // Unencoded traversal, as raw bytes (clients resolve `..` before sending):
    // the router does not resolve it, so it is no route, never another room.
    for target in [
        format!("/client/live/room/info/../info/{room}"),
        format!("/client/live/room/info/./{room}"),
        format!("/client/live/room/info/{room}/.."),
        "/client/live/room/info/..".to_owned(),
        format!("/client/live/room/info/%2e%2e/{room}"),
        format!("//client/live/room/info/{room}"),
        format!("/client/live/room/info/{room}%2F..%2F"),
    ] {
        let before = redis_state(&app).await;
        let r = raw(&app, &raw_get(&app, target.as_bytes(), b"")).await;
        assert_sound(&r);
        let env = r.envelope().expect("envelope");
        assert!(
            [(404, 40400), (400, 40000)].contains(&(r.status, env["code"].as_i64().unwrap())),
            "{target}: {}",
            r.text
        );
        assert!(
            env.get("data").is_none(),
            "{target} reached a room: {}",
            r.text
        );
        assert_eq!(redis_state(&app).await, before, "{target} wrote");
    }

    // Key syntax in a title is text too: the room's keys are named by its
    // generated id, and the title's search terms are hex-encoded into theirs.
    let title = "{live_x}:room * ? [a-z] lr:user:{alice} \\ %";
    let odd = app.create_room("alice", title).await;
    assert_eq!(app.info("bob", &odd).await["title"], title);

    // Glob characters in a keyword are text, not patterns: they match the one
    // title that holds them literally, not every room.
    for (keyword, matches) in [
        ("*", 1),
        ("%3F", 1),
        ("%5Ba-z%5D", 1),
        ("%5Ba-z%5D*", 0),
        ("%5C*", 0),
        ("lr%3A*", 0),
        ("%25", 1),
        ("t*m", 0),
    ] {
        let r = app
            .get("bob", &format!("/client/live/room?keyword={keyword}"))
            .await
            .ok();
        assert_eq!(
            r.data()["total_count"],
            matches,
            "keyword {keyword}: {:?}",
            r.body
        );
    }

    // The room is exactly as it was.
    let info_after = app.info("alice", &room).await;
    for field in [
        "live_status",
        "online_count",
        "title",
        "pv",
        "extends",
        "anchor_status",
    ] {
        assert_eq!(info_after[field], info_before[field], "{field}");
    }
    crate::harness::keyspace::assert_keyspace(&app, &USERS).await;
}

// ---------------------------------------------------------------------------
// 6. Header injection and framing, as raw bytes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn request_id_header_injection_over_raw_tcp() {
    let app = TestApp::start().await;
    let target = b"/client/live/room/list";
    // (extra header lines, the id the response must carry: Some(id) echoed, None
    // a fresh one or no envelope at all when the parser refused the request)
    let cases: Vec<(&[u8], Option<&str>)> = vec![
        // CRLF ends the header: what follows is a request header, never a
        // response header.
        (b"X-Request-Id: a\r\nSet-Cookie: x=1\r\n", Some("a")),
        (b"X-Request-Id: a\r\nX-Injected: 1\r\n", Some("a")),
        // A bare LF ends a line too.
        (b"X-Request-Id: b\nSet-Cookie: x=1\r\n", Some("b")),
        // A bare CR, obs-fold and NUL are refused by the parser or not echoed.
        (b"X-Request-Id: c\rSet-Cookie: x=1\r\n", None),
        (b"X-Request-Id: d\r\n Set-Cookie: x=1\r\n", None),
        (b"X-Request-Id: e\x00Set-Cookie: x=1\r\n", None),
        (b"X-Request-Id: \x0bvt\r\n", None),
        // Encoded CR LF is just visible text: echoed literally, harmlessly.
        (
            b"X-Request-Id: a%0d%0aSet-Cookie:%20x=1\r\n",
            Some("a%0d%0aSet-Cookie:%20x=1"),
        ),
        // Non-ASCII, invisible and oversized ids are replaced.
        (b"X-Request-Id: id\xc2\x85next\r\n", None),
        (b"X-Request-Id: id\xe2\x80\xa8sep\r\n", None),
        (b"X-Request-Id: \xff\xfe\r\n", None),
        (b"X-Request-Id: \r\n", None),
        (b"X-Request-Id: a b\r\n", None),
    ];
    for (headers, expect) in &cases {
        let before = redis_state(&app).await;
        let r = raw(&app, &raw_get(&app, target, headers)).await;
        assert_sound(&r);
        let echoed = r
            .header("x-request-id")
            .first()
            .map(|v| String::from_utf8_lossy(v).into_owned());
        match expect {
            Some(id) => {
                assert_eq!(r.status, 200, "{}", r.text);
                assert_eq!(echoed.as_deref(), Some(*id), "{}", r.text);
            }
            None => {
                if let Some(got) = &echoed {
                    assert!(
                        got.len() == 32 && got.bytes().all(|b| b.is_ascii_hexdigit()),
                        "{:?}: echoed {got:?}",
                        String::from_utf8_lossy(headers)
                    );
                }
            }
        }
        assert_eq!(redis_state(&app).await, before);
    }
    // Two X-Request-Id headers: one id (the first), not both joined.
    let r = raw(
        &app,
        &raw_get(&app, target, b"X-Request-Id: one\r\nX-Request-Id: two\r\n"),
    )
    .await;
    assert_sound(&r);
    assert_eq!(r.header("x-request-id"), vec![&b"one"[..]], "{}", r.text);
}

#[tokio::test]
async fn ambiguous_framing_is_refused() {
    let app = TestApp::start().await;
    let body = br#"{"title":"framed"}"#;
    // A request smuggled in the body of the first.
    let smuggled = format!(
        "0\r\n\r\nPOST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n{}",
        app.token("bob"),
        body.len(),
        String::from_utf8_lossy(body)
    );
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "two different Content-Lengths",
            format!("Content-Length: {}\r\nContent-Length: 3\r\n", body.len()).into_bytes(),
            body.to_vec(),
        ),
        (
            "Content-Length with a sign",
            format!("Content-Length: +{}\r\n", body.len()).into_bytes(),
            body.to_vec(),
        ),
        (
            "Content-Length and chunked, with a request after the last chunk",
            format!(
                "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
                smuggled.len()
            )
            .into_bytes(),
            smuggled.clone().into_bytes(),
        ),
        (
            "an unknown transfer coding",
            b"Transfer-Encoding: gzip, chunked, identity\r\n".to_vec(),
            b"0\r\n\r\n".to_vec(),
        ),
    ];
    for (name, framing, body) in cases {
        let before = redis_state(&app).await;
        let r = raw(&app, &raw_post(&app, &framing, &body)).await;
        assert_sound(&r);
        assert!(
            (400..500).contains(&r.status),
            "{name}: not refused: {}",
            r.text
        );
        assert_eq!(redis_state(&app).await, before, "{name}: wrote to Redis");
    }
    // Content-Length and chunked on a connection left open: RFC 9112 §6.3 lets the
    // server go by the chunks, but it must then close the connection, so the
    // request after the last chunk is never served (a front proxy going by the
    // Content-Length would have forwarded it as part of the body).
    let framing = format!(
        "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
        smuggled.len()
    );
    let before = redis_state(&app).await;
    let r = raw(
        &app,
        &raw_post_keep_alive(&app, framing.as_bytes(), smuggled.as_bytes()),
    )
    .await;
    assert_sound(&r);
    assert!((400..500).contains(&r.status), "{}", r.text);
    assert_eq!(
        r.text.matches("HTTP/1.1 ").count(),
        1,
        "a second response: {}",
        r.text
    );
    assert_eq!(redis_state(&app).await, before, "the smuggled request ran");

    // Neither alice nor bob got a room out of any of it.
    let r = app.get("alice", "/client/live/room").await.ok();
    assert_eq!(r.data()["total_count"], 0, "{:?}", r.body);
    crate::harness::keyspace::assert_keyspace(&app, &USERS).await;
}

// ---------------------------------------------------------------------------
// 7. Oversized request lines and headers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn oversized_queries_and_headers() {
    let app = TestApp::start().await;
    // 5,000 repeated parameters (~60 KB of query): parsed, and the last counts.
    let query = "page_size=7&".repeat(5_000);
    app.get(
        "alice",
        &format!("/client/live/room/list?{query}page_size=3"),
    )
    .await
    .ok();
    let r = no_write!(
        &app,
        app.get(
            "alice",
            &format!("/client/live/room/list?{query}page_size=0")
        )
    );
    refused(&r, 400, 40000, "page_size");
    // A request line too long for the HTTP layer: refused there (4xx), not a 5xx.
    let long = format!("/client/live/room/list?k={}", "a".repeat(70_000));
    let r = raw(&app, &raw_get(&app, long.as_bytes(), b"")).await;
    assert_sound(&r);
    assert!((400..500).contains(&r.status), "{}", r.text);
    // A 1 MiB header: refused by the HTTP layer (or the connection dropped while
    // the client still writes), not a 5xx.
    let huge = format!("X-Big: {}\r\n", "a".repeat(1 << 20));
    if let Some(r) = try_raw(
        &app,
        &raw_get(&app, b"/client/live/room/list", huge.as_bytes()),
    )
    .await
    {
        assert_sound(&r);
        assert!((400..500).contains(&r.status), "{}", r.text);
    }
    // A 60 KB token: 401, with the envelope.
    let auth = format!("Bearer {}", "a".repeat(60_000));
    let r = app
        .call_raw(
            "GET",
            "/client/live/room/list",
            &[("authorization", &auth)],
            Vec::new(),
        )
        .await;
    refused(&r, 401, 40100, "token");
    // The service is still up.
    app.user("bob").list(&[]).await.ok();
}

// ---------------------------------------------------------------------------
// Slow clients (slowloris)
// ---------------------------------------------------------------------------

/// Reads from `stream` until the server closes it (EOF or reset) and returns what
/// was read and when the close came, or `None` if it stayed open for `limit`.
async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    limit: Duration,
) -> Option<(Vec<u8>, std::time::Instant)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((out, std::time::Instant::now())),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// `LIVEROOM_HEADER_READ_TIMEOUT`: a client that connects and sends nothing, one
/// that trickles its headers a line at a time, and one that keeps a connection idle
/// after a response each lose the connection once the timeout passes — never
/// before it — while ordinary requests are served throughout.
#[tokio::test]
async fn slow_and_silent_connections_are_closed_after_the_header_read_timeout() {
    let timeout = Duration::from_secs(1);
    let app = TestApp::start_with(|c| c.header_read_timeout = timeout).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let closed_within = |opened: std::time::Instant, closed: std::time::Instant| {
        let open_for = closed - opened;
        assert!(
            open_for >= timeout - Duration::from_millis(100),
            "closed after {open_for:?}, before the timeout"
        );
        open_for
    };

    // Connects and sends nothing.
    let opened = std::time::Instant::now();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(10))
        .await
        .expect("a silent connection stayed open 10 s");
    let silent_for = closed_within(opened, closed);

    // Sends a request line and then one header line every 200 ms, forever.
    let opened = std::time::Instant::now();
    let trickle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = trickle.into_split();
    let writing = tokio::spawn(async move {
        let _ = writer
            .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
            .await;
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer
                .write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
                .await
                .is_err()
            {
                return i;
            }
        }
        unreachable!()
    });
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "a trickling client held its connection 10 s");
    let trickle_for = closed_within(opened, std::time::Instant::now());
    let text = String::from_utf8_lossy(&out);
    assert!(
        out.is_empty() || text.starts_with("HTTP/1.1 408"),
        "unexpected answer to unfinished headers: {text:?}"
    );
    writing.abort();

    // A complete request is answered; the kept-alive connection then closes once
    // it has been idle for the timeout.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
        .await
        .expect("no answer")
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let answered = std::time::Instant::now();
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(10))
        .await
        .expect("an idle keep-alive connection stayed open 10 s");
    let idle_for = closed_within(answered, closed);
    eprintln!("closed after: silent {silent_for:?}, trickling {trickle_for:?}, idle {idle_for:?}");

    // Through all of it, the service answers.
    app.user("bob").list(&[]).await.ok();
}

/// `LIVEROOM_BODY_READ_TIMEOUT`: bodies are read before a request takes an
/// in-flight slot, so clients trickling their bodies hold neither a slot (others are
/// served, not shed with 429) nor their connection past the timeout (then 400 /
/// 40000 naming the body), and the half-sent create writes nothing.
#[tokio::test]
async fn slow_bodies_hold_no_in_flight_slot_and_end_after_the_body_read_timeout() {
    let timeout = Duration::from_secs(1);
    let app = TestApp::start_with(|c| {
        c.max_in_flight = 2;
        c.body_read_timeout = timeout;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    app.user("bob").list(&[]).await.ok();
    let before = redis_state(&app).await;
    let opened = std::time::Instant::now();
    let mut slow = Vec::new();
    for _ in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST {CREATE} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"title\":",
            app.token("alice")
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // More slow bodies than slots, yet requests are served.
    for _ in 0..3 {
        app.user("bob").list(&[]).await.ok();
    }
    for mut stream in slow {
        let mut out = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "a slow body held its connection 10 s");
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 400"), "{text}");
        assert!(text.contains("40000") && text.contains("body"), "{text}");
    }
    let waited = opened.elapsed();
    assert!(
        waited >= timeout,
        "answered after {waited:?}, before the timeout"
    );
    assert_eq!(
        redis_state(&app).await.0,
        before.0,
        "a half-sent create wrote keys"
    );
}

/// Bodies are read before routing, but the refusals keep their order: a request
/// without a valid token is 401 whatever its body (over the limit, declared over
/// it, or too slow), as when the handler read the body itself.
#[tokio::test]
async fn authentication_is_judged_before_a_refused_body() {
    let app = TestApp::start_with(|c| c.body_read_timeout = Duration::from_secs(1)).await;
    let big = padded_body(LIMIT + 1);
    let r = app
        .call_raw(
            "POST",
            CREATE,
            &[("content-type", "application/json")],
            big.clone(),
        )
        .await;
    refused(&r, 401, 40100, "Authorization");
    let r = app
        .call_raw(
            "POST",
            CREATE,
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {}", app.token("alice"))),
            ],
            big,
        )
        .await;
    refused(&r, 413, 40000, "body");
    // Declared over the limit, and too slow: still 401 without a token.
    for framing in [
        format!("Content-Length: {}\r\n\r\n{{", LIMIT + 1),
        "Content-Length: 100\r\n\r\n{".to_owned(),
    ] {
        let request =
            format!("POST {CREATE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{framing}");
        let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "no answer to {framing:?}");
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("HTTP/1.1 401") && text.contains("40100"),
            "{framing:?}: {text}"
        );
    }
}
