//! The error side of the API, against the real app and a real Redis (SPEC §1, §2, §7):
//! bad input, authentication, the error codes of each endpoint, unknown routes and
//! request ids. Every refused request must answer a well-formed envelope, never a
//! 5xx, and leave Redis exactly as it was.

mod common;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::{Reply, SECRET, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const CREATE: &str = "/client/live/room/instance";
const EXTENDS: &str = "/client/live/room/extends";
/// Well-formed but never created.
const UNKNOWN: &str = "live_00000000000000000000";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Every key of the app's Redis with its `DUMP`: equal snapshots mean nothing was
/// written (values, types and encodings; TTLs are not compared).
type Snapshot = BTreeMap<String, Vec<u8>>;

async fn snapshot(app: &TestApp) -> Snapshot {
    let keys: Vec<String> = app.keys("*").await;
    let mut out = BTreeMap::new();
    for key in keys {
        let dump: Vec<u8> = app.redis_cmd(&["DUMP", &key]).await;
        out.insert(key, dump);
    }
    out
}

/// Names of the keys that differ between two snapshots.
fn changed_keys(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    names.into_iter().cloned().collect()
}

/// The room hash as a map.
async fn room_hash(app: &TestApp, live_id: &str) -> BTreeMap<String, String> {
    let key = app.store.keys().room(live_id).room;
    app.redis_cmd(&["HGETALL", &key]).await
}

/// What is wrong with a reply's envelope, if anything: never a 5xx, a JSON content
/// type, a non-empty `request_id` equal to the `X-Request-Id` header, an integer
/// `code`, a non-empty `message`, and no Rust internals in the message.
fn envelope_problems(r: &Reply) -> Vec<String> {
    let mut problems = Vec::new();
    if r.status >= 500 {
        problems.push(format!("5xx status {}", r.status));
    }
    let content_type = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        problems.push(format!("content-type is {content_type:?}"));
    }
    let id = r.body["request_id"].as_str().unwrap_or("");
    if id.is_empty() {
        problems.push("request_id missing".into());
    }
    let header_id = r
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if header_id != id {
        problems.push(format!(
            "X-Request-Id header {header_id:?} != body request_id {id:?}"
        ));
    }
    if !r.body["code"].is_i64() {
        problems.push("code missing".into());
    }
    let message = r.body["message"].as_str().unwrap_or("");
    if message.is_empty() {
        problems.push("message missing".into());
    }
    for leak in ["struct ", "Body", "redis", "Redis", "panick", "ERR "] {
        if message.contains(leak) {
            problems.push(format!("message leaks internals ({leak:?}): {message}"));
        }
    }
    problems
}

#[track_caller]
fn assert_envelope(r: &Reply) {
    let problems = envelope_problems(r);
    assert!(problems.is_empty(), "{problems:?}: {}", r.body);
}

/// Runs `request` and asserts it was refused with `status` / `code`, with a sound
/// envelope, and that Redis is unchanged afterwards.
macro_rules! refused_unchanged {
    ($app:expr, $status:expr, $code:expr, $request:expr) => {{
        let before = snapshot($app).await;
        let count = $app.key_count().await;
        let reply: Reply = $request.await;
        reply.expect($status, $code);
        assert_envelope(&reply);
        assert_eq!($app.key_count().await, count, "key count changed");
        let after = snapshot($app).await;
        assert!(
            before == after,
            "refused request changed keys {:?}",
            changed_keys(&before, &after)
        );
        reply
    }};
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(alg: Algorithm, secret: &str, claims: &Value) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("encoding key");
    jsonwebtoken::encode(&Header::new(alg), claims, &key).expect("encode token")
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn ext_map(prefix: &str, n: usize) -> Value {
    Value::Object(
        (0..n)
            .map(|i| (format!("{prefix}{i}"), json!("v")))
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// 1. Bad input
// ---------------------------------------------------------------------------

/// One refused request of the bad-input table.
struct Case {
    name: String,
    method: &'static str,
    path: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    status: u16,
    code: i64,
    /// A word the message must contain (the field or rule that failed).
    word: &'static str,
}

/// A case sent as `alice` with a JSON content type, expecting 400 / 40000.
fn bad(
    name: &str,
    method: &'static str,
    path: &str,
    body: impl Into<Vec<u8>>,
    word: &'static str,
) -> Case {
    Case {
        name: name.to_owned(),
        method,
        path: path.to_owned(),
        body: body.into(),
        headers: Vec::new(),
        status: 400,
        code: 40000,
        word,
    }
}

/// A create-room case with a JSON body.
fn create(name: &str, body: Value, word: &'static str) -> Case {
    bad(name, "POST", CREATE, body.to_string(), word)
}

impl Case {
    fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

#[tokio::test]
async fn bad_input_table() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    // A room with 30 extends keys, for the merge-over-the-limit case.
    let ext_room = app
        .post(
            "alice",
            CREATE,
            Some(json!({"title": "ext", "extends": ext_map("k", 30)})),
        )
        .await
        .ok()
        .data()["live_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let room = app.live_room("alice", "listed").await;
    app.join("bob", &room).await;

    let long_id = "a".repeat(65);
    let mut extends_33 = ext_map("x", 33);
    let mut cases = vec![
        // Not JSON, or not a JSON object.
        bad("malformed JSON", "POST", CREATE, r#"{"title": "x""#, "JSON"),
        bad("unquoted keys", "POST", CREATE, "{title: x}", "JSON"),
        bad("empty body", "POST", CREATE, "", "JSON"),
        bad("whitespace body", "POST", CREATE, "  \n ", "JSON"),
        bad("empty array body", "POST", CREATE, "[]", "JSON"),
        bad(
            "array body",
            "POST",
            CREATE,
            r#"["t",null,null,null,null,null,null]"#,
            "JSON",
        ),
        bad("string body", "POST", CREATE, r#""title""#, "JSON"),
        bad("number body", "POST", CREATE, "42", "JSON"),
        bad("null body", "POST", CREATE, "null", "JSON"),
        bad(
            "trailing garbage",
            "POST",
            CREATE,
            r#"{"title":"t"} x"#,
            "JSON",
        ),
        bad(
            "invalid UTF-8",
            "POST",
            CREATE,
            b"{\"title\":\"\xff\xfe\"}".to_vec(),
            "title",
        ),
        bad(
            "unbalanced deep nesting in an unknown field",
            "POST",
            CREATE,
            format!(r#"{{"title":"t","x":{}}}"#, "[".repeat(30_000)),
            "JSON",
        ),
        // Wrong types.
        create("title as number", json!({"title": 5}), "title"),
        create("title as object", json!({"title": {"a": 1}}), "title"),
        create(
            "notice as bool",
            json!({"title": "t", "notice": false}),
            "notice",
        ),
        create(
            "extends as array",
            json!({"title": "t", "extends": ["a"]}),
            "extends",
        ),
        create(
            "extends as string",
            json!({"title": "t", "extends": "a=b"}),
            "extends",
        ),
        create(
            "extends value as number",
            json!({"title": "t", "extends": {"k": 5}}),
            "extends",
        ),
        create(
            "extends value as null",
            json!({"title": "t", "extends": {"k": null}}),
            "extends",
        ),
        create(
            "extends value as object",
            json!({"title": "t", "extends": {"k": {}}}),
            "extends",
        ),
        create(
            "start_at as number",
            json!({"title": "t", "start_at": 20211202}),
            "start_at",
        ),
        bad(
            "duplicate title",
            "POST",
            CREATE,
            r#"{"title":"a","title":"b"}"#,
            "title",
        ),
        // Title.
        create("missing title", json!({"notice": "n"}), "title"),
        create("null title", json!({"title": null}), "title"),
        create("empty title", json!({"title": ""}), "title"),
        create("blank title", json!({"title": "   "}), "title"),
        create(
            "title of 129 Chinese chars",
            json!({"title": "长".repeat(129)}),
            "title",
        ),
        create(
            "title of 129 ASCII chars",
            json!({"title": "a".repeat(129)}),
            "title",
        ),
        create(
            "title with a control char",
            json!({"title": "a\u{0}b"}),
            "title",
        ),
        // Notice, cover_url.
        create(
            "notice of 1025 chars",
            json!({"title": "t", "notice": "n".repeat(1025)}),
            "notice",
        ),
        create(
            "notice of 1025 Chinese chars",
            json!({"title": "t", "notice": "长".repeat(1025)}),
            "notice",
        ),
        create(
            "cover_url ftp",
            json!({"title": "t", "cover_url": "ftp://x"}),
            "cover_url",
        ),
        create(
            "cover_url no host",
            json!({"title": "t", "cover_url": "http://"}),
            "cover_url",
        ),
        create(
            "cover_url javascript",
            json!({"title": "t", "cover_url": "javascript:alert(1)"}),
            "cover_url",
        ),
        create(
            "cover_url of 1025 chars",
            json!({"title": "t", "cover_url": format!("http://{}", "a".repeat(1018))}),
            "cover_url",
        ),
        // Extends.
        create(
            "extends with 33 keys",
            json!({"title": "t", "extends": extends_33.clone()}),
            "extends",
        ),
        create(
            "extends key of 65 chars",
            json!({"title": "t", "extends": {"k".repeat(65): "v"}}),
            "extends",
        ),
        create(
            "extends empty key",
            json!({"title": "t", "extends": {"": "v"}}),
            "extends",
        ),
        create(
            "extends value of 1025 chars",
            json!({"title": "t", "extends": {"k": "v".repeat(1025)}}),
            "extends",
        ),
        // Times.
        create(
            "start_at with slashes",
            json!({"title": "t", "start_at": "2021/12/02"}),
            "start_at",
        ),
        create(
            "start_at impossible date",
            json!({"title": "t", "start_at": "2021-02-30 10:00:00"}),
            "start_at",
        ),
        create(
            "end_at before start_at",
            json!({"title": "t", "start_at": "2021-12-02 11:11:11", "end_at": "2021-12-02 11:11:10"}),
            "end_at",
        ),
        create(
            "end_at garbage",
            json!({"title": "t", "end_at": "soon"}),
            "end_at",
        ),
        create(
            "publish_expire_at garbage",
            json!({"title": "t", "publish_expire_at": "tomorrow"}),
            "publish_expire_at",
        ),
        // Body size: 64 KiB + 1 byte of otherwise valid JSON.
        bad(
            "body of 64 KiB + 1",
            "POST",
            CREATE,
            format!("{{\"title\":\"ok\"}}{}", " ".repeat(64 * 1024 + 1 - 14)),
            "body",
        )
        .status(413),
        bad(
            "body of 1 MiB",
            "POST",
            CREATE,
            json!({"title": "t", "notice": "n".repeat(1 << 20)}).to_string(),
            "body",
        )
        .status(413),
        // Path live_id.
        bad(
            "info: live_id of 65 chars",
            "GET",
            &format!("/client/live/room/info/{long_id}"),
            "",
            "live_id",
        ),
        bad(
            "info: live_id with }",
            "GET",
            "/client/live/room/info/a%7Db",
            "",
            "live_id",
        ),
        bad(
            "info: live_id with {",
            "GET",
            "/client/live/room/info/a%7Bb%7D",
            "",
            "live_id",
        ),
        bad(
            "info: live_id with a space",
            "GET",
            "/client/live/room/info/a%20b",
            "",
            "live_id",
        ),
        bad(
            "info: live_id with a colon",
            "GET",
            "/client/live/room/info/a:b",
            "",
            "live_id",
        ),
        bad(
            "info: Chinese live_id",
            "GET",
            "/client/live/room/info/%E4%B8%AD",
            "",
            "live_id",
        ),
        bad(
            "start: live_id of 65 chars",
            "PUT",
            &format!("/client/live/room/{long_id}"),
            "",
            "live_id",
        ),
        bad(
            "stop: live_id with }",
            "POST",
            "/client/live/room/a%7Db",
            "",
            "live_id",
        ),
        bad(
            "stop alias: live_id with }",
            "DELETE",
            "/client/live/room/a%7Db",
            "",
            "live_id",
        ),
        bad(
            "delete: live_id of 65 chars",
            "DELETE",
            &format!("/client/live/room/instance/{long_id}"),
            "",
            "live_id",
        ),
        bad(
            "join: live_id with }",
            "POST",
            "/client/live/room/user/a%7Db",
            "",
            "live_id",
        ),
        bad(
            "leave: live_id of 65 chars",
            "DELETE",
            &format!("/client/live/room/user/{long_id}"),
            "",
            "live_id",
        ),
        bad(
            "heartbeat: live_id with }",
            "GET",
            "/client/live/room/heartbeat/a%7Db",
            "",
            "live_id",
        ),
        // Pagination.
        bad(
            "list page_size 0",
            "GET",
            "/client/live/room/list?page_size=0",
            "",
            "page_size",
        ),
        bad(
            "list page_size 1000",
            "GET",
            "/client/live/room/list?page_size=1000",
            "",
            "page_size",
        ),
        bad(
            "list page_size 101",
            "GET",
            "/client/live/room/list?page_size=101",
            "",
            "page_size",
        ),
        bad(
            "list page_size abc",
            "GET",
            "/client/live/room/list?page_size=abc",
            "",
            "page_size",
        ),
        bad(
            "list page_size -1",
            "GET",
            "/client/live/room/list?page_size=-1",
            "",
            "page_size",
        ),
        bad(
            "list page_num 0",
            "GET",
            "/client/live/room/list?page_num=0",
            "",
            "page_num",
        ),
        bad(
            "list page_num abc",
            "GET",
            "/client/live/room/list?page_num=abc",
            "",
            "page_num",
        ),
        bad(
            "list page_num 1.5",
            "GET",
            "/client/live/room/list?page_num=1.5",
            "",
            "page_num",
        ),
        bad(
            "list bad cursor",
            "GET",
            "/client/live/room/list?cursor=!!!",
            "",
            "cursor",
        ),
        bad(
            "list cursor without separator",
            "GET",
            &format!("/client/live/room/list?cursor={}", b64url(b"not-a-cursor")),
            "",
            "cursor",
        ),
        bad(
            "list cursor with a NaN score",
            "GET",
            &format!("/client/live/room/list?cursor={}", b64url(b"NaN|live_x")),
            "",
            "cursor",
        ),
        bad(
            "search page_size 0",
            "GET",
            "/client/live/room?keyword=x&page_size=0",
            "",
            "page_size",
        ),
        bad(
            "search page_num 0",
            "GET",
            "/client/live/room?page_num=0",
            "",
            "page_num",
        ),
        bad(
            "search bad cursor",
            "GET",
            "/client/live/room?keyword=x&cursor=%25%25",
            "",
            "cursor",
        ),
        bad(
            "search keyword of 129 chars",
            "GET",
            &format!("/client/live/room?keyword={}", "k".repeat(129)),
            "",
            "keyword",
        ),
        bad(
            "user_list without live_id",
            "GET",
            "/client/live/room/user_list",
            "",
            "live_id",
        ),
        bad(
            "user_list empty live_id",
            "GET",
            "/client/live/room/user_list?live_id=",
            "",
            "live_id",
        ),
        bad(
            "user_list live_id with }",
            "GET",
            "/client/live/room/user_list?live_id=a%7Db",
            "",
            "live_id",
        ),
        bad(
            "user_list page_size 0",
            "GET",
            &format!("/client/live/room/user_list?live_id={room}&page_size=0"),
            "",
            "page_size",
        ),
        bad(
            "user_list page_num 0",
            "GET",
            &format!("/client/live/room/user_list?live_id={room}&page_num=0"),
            "",
            "page_num",
        ),
        bad(
            "user_list bad cursor",
            "GET",
            &format!("/client/live/room/user_list?live_id={room}&cursor=!!!"),
            "",
            "cursor",
        ),
        // Extends update.
        bad(
            "extends: no live_id",
            "PUT",
            EXTENDS,
            json!({"extends": {"a": "b"}}).to_string(),
            "live_id",
        ),
        bad(
            "extends: live_id as number",
            "PUT",
            EXTENDS,
            json!({"live_id": 5, "extends": {}}).to_string(),
            "live_id",
        ),
        bad(
            "extends: live_id with }",
            "PUT",
            EXTENDS,
            json!({"live_id": "a}b", "extends": {}}).to_string(),
            "live_id",
        ),
        bad(
            "extends: no extends",
            "PUT",
            EXTENDS,
            json!({"live_id": ext_room}).to_string(),
            "extends",
        ),
        bad(
            "extends: extends as array",
            "PUT",
            EXTENDS,
            json!({"live_id": ext_room, "extends": ["a"]}).to_string(),
            "extends",
        ),
        bad(
            "extends: value as number",
            "PUT",
            EXTENDS,
            json!({"live_id": ext_room, "extends": {"a": 1}}).to_string(),
            "extends",
        ),
        bad(
            "extends: patch of 33 keys",
            "PUT",
            EXTENDS,
            json!({"live_id": ext_room, "extends": extends_33.take()}).to_string(),
            "extends",
        ),
        bad(
            "extends: key of 65 chars",
            "PUT",
            EXTENDS,
            json!({"live_id": ext_room, "extends": {"k".repeat(65): "v"}}).to_string(),
            "extends",
        ),
        bad(
            "extends: value of 1025 chars",
            "PUT",
            EXTENDS,
            json!({"live_id": ext_room, "extends": {"k": "v".repeat(1025)}}).to_string(),
            "extends",
        ),
        bad(
            "extends: 30 keys + 3 new = 33 after merge",
            "PUT",
            EXTENDS,
            json!({"live_id": ext_room, "extends": {"n1": "v", "n2": "v", "n3": "v"}}).to_string(),
            "extends",
        ),
        bad("extends: malformed JSON", "PUT", EXTENDS, "{", "JSON"),
        // Profile update.
        bad(
            "profile: nick as number",
            "PUT",
            "/client/user/user",
            json!({"nick": 5}).to_string(),
            "nick",
        ),
        bad(
            "profile: nick of 65 chars",
            "PUT",
            "/client/user/user",
            json!({"nick": "n".repeat(65)}).to_string(),
            "nick",
        ),
        bad(
            "profile: avatar ftp",
            "PUT",
            "/client/user/user",
            json!({"avatar": "ftp://x"}).to_string(),
            "avatar",
        ),
        bad(
            "profile: extends of 33 keys",
            "PUT",
            "/client/user/user",
            json!({"extends": ext_map("p", 33)}).to_string(),
            "extends",
        ),
    ];
    for case in &mut cases {
        case.headers
            .push(("authorization".into(), format!("Bearer {token}")));
        if case.method != "GET" {
            case.headers
                .push(("content-type".into(), "application/json".into()));
        }
    }

    let mut failures = Vec::new();
    for case in &cases {
        let before = snapshot(&app).await;
        let count = app.key_count().await;
        let ext_before = room_hash(&app, &ext_room).await;
        let headers: Vec<(&str, &str)> = case
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = app
            .call_raw(case.method, &case.path, &headers, case.body.clone())
            .await;
        let mut problems = envelope_problems(&r);
        if (r.status, r.code()) != (case.status, case.code) {
            problems.push(format!(
                "expected {}/{}, got {}/{}",
                case.status,
                case.code,
                r.status,
                r.code()
            ));
        }
        let message = r.body["message"].as_str().unwrap_or("");
        if !message.contains(case.word) {
            problems.push(format!("message does not name {:?}", case.word));
        }
        if app.key_count().await != count {
            problems.push("key count changed".into());
        }
        if room_hash(&app, &ext_room).await != ext_before {
            problems.push("extends room hash changed".into());
        }
        let after = snapshot(&app).await;
        if before != after {
            problems.push(format!("keys changed: {:?}", changed_keys(&before, &after)));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {} — body {}",
                case.name,
                problems.join("; "),
                r.body
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The other side of each limit: values exactly at it are accepted, so the table
/// above refuses for the right reason.
#[tokio::test]
async fn values_at_the_limits_are_accepted() {
    let app = TestApp::start().await;
    let title = "长".repeat(128);
    let r = app
        .post("alice", CREATE, Some(json!({"title": title})))
        .await
        .ok();
    assert_eq!(r.data()["title"], json!(title));

    let extends: Value = Value::Object(
        (0..32)
            .map(|i| (format!("{i:0>64}"), json!("v".repeat(1024))))
            .collect(),
    );
    let body = json!({
        "title": "a".repeat(128),
        "notice": "长".repeat(1024),
        "cover_url": format!("https://{}", "a".repeat(1016)),
        "extends": extends,
        "start_at": "2021-12-02 11:11:11",
        "end_at": "2021-12-02 11:11:11",
    });
    let r = app.post("alice", CREATE, Some(body)).await.ok();
    assert_eq!(r.data()["extends"].as_object().unwrap().len(), 32);
    assert_eq!(r.data()["notice"].as_str().unwrap().chars().count(), 1024);
    // Key and value limits count characters, not bytes.
    let key = "键".repeat(64);
    let value = "值".repeat(1024);
    let r = app
        .post(
            "alice",
            CREATE,
            Some(json!({"title": "t", "extends": {key.clone(): value.clone()}})),
        )
        .await
        .ok();
    assert_eq!(r.data()["extends"][&key], json!(value));

    // Unknown fields are ignored, nested up to the depth limit (the body object is
    // level 1, so 126 more levels fit); deeper bodies are refused (tests/hostile.rs).
    let deep = format!(
        r#"{{"title":"deep","x":{}{}}}"#,
        "[".repeat(liveroom::extract::MAX_JSON_DEPTH - 1),
        "]".repeat(liveroom::extract::MAX_JSON_DEPTH - 1)
    );
    let auth = format!("Bearer {}", app.token("alice"));
    let r = app
        .call_raw(
            "POST",
            CREATE,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            deep.into_bytes(),
        )
        .await
        .ok();
    assert_eq!(r.data()["title"], "deep");

    // Exactly 64 KiB of valid JSON passes the size limit.
    let token = app.token("alice");
    let auth = format!("Bearer {token}");
    let body = format!("{{\"title\":\"ok\"}}{}", " ".repeat(64 * 1024 - 14));
    assert_eq!(body.len(), 64 * 1024);
    app.call_raw(
        "POST",
        CREATE,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.into_bytes(),
    )
    .await
    .ok();

    // Pagination bounds.
    app.get("alice", "/client/live/room/list?page_size=100&page_num=1")
        .await
        .ok();
    app.get(
        "alice",
        "/client/live/room/list?page_size=1&page_num=1000000",
    )
    .await
    .ok();

    // Extends merge: 30 keys + 3 new - 1 removed = 32 is accepted; then one more is not.
    let id = app
        .post(
            "alice",
            CREATE,
            Some(json!({"title": "ext", "extends": ext_map("k", 30)})),
        )
        .await
        .ok()
        .data()["live_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.put(
        "alice",
        EXTENDS,
        Some(json!({"live_id": id, "extends": {"n1": "v", "n2": "v", "n3": "v", "k0": ""}})),
    )
    .await
    .ok();
    let info = app.info("alice", &id).await;
    assert_eq!(info["extends"].as_object().unwrap().len(), 32);
    assert!(info["extends"].get("k0").is_none());
    refused_unchanged!(
        &app,
        400,
        40000,
        app.put(
            "alice",
            EXTENDS,
            Some(json!({"live_id": id, "extends": {"n4": "v"}}))
        )
    );
    // Replacing an existing key at the limit is fine.
    app.put(
        "alice",
        EXTENDS,
        Some(json!({"live_id": id, "extends": {"n1": "w"}})),
    )
    .await
    .ok();
    assert_eq!(app.info("alice", &id).await["extends"]["n1"], "w");
}

// ---------------------------------------------------------------------------
// 2. Authentication
// ---------------------------------------------------------------------------

const PROFILE: &str = "/client/user/profile";

/// Sends `GET /client/user/profile` with `authorization` (raw header value).
async fn profile_with(app: &TestApp, authorization: Option<&str>) -> Reply {
    match authorization {
        Some(value) => {
            app.call_raw("GET", PROFILE, &[("authorization", value)], Vec::new())
                .await
        }
        None => app.call_raw("GET", PROFILE, &[], Vec::new()).await,
    }
}

/// Asserts `authorization` is refused with `code` and writes nothing.
async fn assert_refused(app: &TestApp, name: &str, authorization: Option<&str>, code: i64) {
    let before = snapshot(app).await;
    let r = profile_with(app, authorization).await;
    assert_eq!((r.status, r.code()), (401, code), "{name}: {}", r.body);
    let problems = envelope_problems(&r);
    assert!(problems.is_empty(), "{name}: {problems:?}");
    assert!(
        before == snapshot(app).await,
        "{name}: a refused token wrote to Redis"
    );
}

/// Asserts `authorization` is accepted as user `sub`.
async fn assert_accepted(app: &TestApp, name: &str, authorization: &str, sub: &str) {
    let r = profile_with(app, Some(authorization)).await;
    assert_eq!((r.status, r.code()), (200, 0), "{name}: {}", r.body);
    assert_eq!(r.data()["user_id"], sub, "{name}");
}

#[tokio::test]
async fn auth_table() {
    let app = TestApp::start().await;
    let now = unix_now();
    let hs256 = |claims: Value| sign(Algorithm::HS256, SECRET, &claims);
    let good = hs256(json!({"sub": "alice", "exp": now + 3600}));
    let header_none = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    let header_hs256 = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = b64url(
        json!({"sub": "alice", "exp": now + 3600})
            .to_string()
            .as_bytes(),
    );
    let alg_none = format!("{header_none}.{claims}.");
    let no_signature = format!("{header_hs256}.{claims}.");
    // The good token's signature on other claims.
    let signature = good.rsplit('.').next().unwrap();
    let other_claims = b64url(
        json!({"sub": "mallory", "exp": now + 3600})
            .to_string()
            .as_bytes(),
    );
    let spliced = format!("{header_hs256}.{other_claims}.{signature}");

    let refused: Vec<(&str, Option<String>, i64)> = vec![
        ("missing Authorization", None, 40100),
        ("empty Authorization", Some(String::new()), 40100),
        ("garbage", Some("garbage".into()), 40100),
        ("Bearer garbage", Some("Bearer garbage".into()), 40100),
        ("Bearer and nothing", Some("Bearer ".into()), 40100),
        ("Bearer alone", Some("Bearer".into()), 40100),
        (
            "Basic credentials",
            Some("Basic YWxpY2U6cHc=".into()),
            40100,
        ),
        ("three empty parts", Some("Bearer ..".into()), 40100),
        (
            "expired 2 minutes ago",
            Some(format!(
                "Bearer {}",
                hs256(json!({"sub": "alice", "exp": now - 120}))
            )),
            40101,
        ),
        (
            "expired 2 minutes ago, raw",
            Some(hs256(json!({"sub": "alice", "exp": now - 120}))),
            40101,
        ),
        (
            "wrong key",
            Some(format!(
                "Bearer {}",
                sign(
                    Algorithm::HS256,
                    "another-secret",
                    &json!({"sub": "alice", "exp": now + 3600})
                )
            )),
            40100,
        ),
        ("alg none", Some(format!("Bearer {alg_none}")), 40100),
        (
            "HS256 header, empty signature",
            Some(format!("Bearer {no_signature}")),
            40100,
        ),
        (
            "signature spliced onto other claims",
            Some(format!("Bearer {spliced}")),
            40100,
        ),
        (
            "HS512 with the right secret",
            Some(format!(
                "Bearer {}",
                sign(
                    Algorithm::HS512,
                    SECRET,
                    &json!({"sub": "alice", "exp": now + 3600})
                )
            )),
            40100,
        ),
        (
            "HS384 with the right secret",
            Some(format!(
                "Bearer {}",
                sign(
                    Algorithm::HS384,
                    SECRET,
                    &json!({"sub": "alice", "exp": now + 3600})
                )
            )),
            40100,
        ),
        (
            "no sub",
            Some(format!("Bearer {}", hs256(json!({"exp": now + 3600})))),
            40100,
        ),
        (
            "empty sub",
            Some(format!(
                "Bearer {}",
                hs256(json!({"sub": "", "exp": now + 3600}))
            )),
            40100,
        ),
        (
            "sub as number",
            Some(format!(
                "Bearer {}",
                hs256(json!({"sub": 42, "exp": now + 3600}))
            )),
            40100,
        ),
        (
            "sub with a space",
            Some(format!(
                "Bearer {}",
                hs256(json!({"sub": "a b", "exp": now + 3600}))
            )),
            40100,
        ),
        (
            "sub with braces",
            Some(format!(
                "Bearer {}",
                hs256(json!({"sub": "a{x}", "exp": now + 3600}))
            )),
            40100,
        ),
        (
            "sub of 65 chars",
            Some(format!(
                "Bearer {}",
                hs256(json!({"sub": "a".repeat(65), "exp": now + 3600}))
            )),
            40100,
        ),
        (
            "no exp",
            Some(format!("Bearer {}", hs256(json!({"sub": "alice"})))),
            40100,
        ),
        (
            "exp as string",
            Some(format!(
                "Bearer {}",
                hs256(json!({"sub": "alice", "exp": "tomorrow"}))
            )),
            40100,
        ),
        (
            "nbf 2 minutes ahead",
            Some(format!(
                "Bearer {}",
                hs256(json!({"sub": "alice", "exp": now + 3600, "nbf": now + 120}))
            )),
            40100,
        ),
    ];
    for (name, value, code) in &refused {
        assert_refused(&app, name, value.as_deref(), *code).await;
    }

    let sub64 = "a".repeat(64);
    let accepted: Vec<(&str, String, &str)> = vec![
        ("Bearer token", format!("Bearer {good}"), "alice"),
        ("raw token without Bearer", good.clone(), "alice"),
        ("lower-case bearer", format!("bearer {good}"), "alice"),
        (
            "two spaces after Bearer",
            format!("Bearer  {good}"),
            "alice",
        ),
        (
            "expired 10 s ago (within the 30 s leeway)",
            format!("Bearer {}", hs256(json!({"sub": "bob", "exp": now - 10}))),
            "bob",
        ),
        (
            "sub with every allowed punctuation",
            hs256(json!({"sub": "a_b.c:d@e-f", "exp": now + 3600})),
            "a_b.c:d@e-f",
        ),
        (
            "sub of 64 chars",
            hs256(json!({"sub": "a".repeat(64), "exp": now + 3600})),
            &sub64,
        ),
        (
            "iss / aud not configured: ignored",
            hs256(json!({"sub": "carol", "exp": now + 3600, "iss": "x", "aud": "y"})),
            "carol",
        ),
    ];
    for (name, value, sub) in &accepted {
        assert_accepted(&app, name, value, sub).await;
    }
}

#[tokio::test]
async fn issuer_and_audience_are_enforced_when_configured() {
    let app = TestApp::start_with(|c| {
        c.jwt_issuer = Some("me".into());
        c.jwt_audience = Some("app".into());
    })
    .await;
    let exp = unix_now() + 3600;
    let token = |claims: Value| format!("Bearer {}", sign(Algorithm::HS256, SECRET, &claims));
    let refused = [
        ("no iss, no aud", json!({"sub": "alice", "exp": exp})),
        ("no iss", json!({"sub": "alice", "exp": exp, "aud": "app"})),
        ("no aud", json!({"sub": "alice", "exp": exp, "iss": "me"})),
        (
            "wrong iss",
            json!({"sub": "alice", "exp": exp, "iss": "other", "aud": "app"}),
        ),
        (
            "wrong aud",
            json!({"sub": "alice", "exp": exp, "iss": "me", "aud": "other"}),
        ),
        (
            "aud list without ours",
            json!({"sub": "alice", "exp": exp, "iss": "me", "aud": ["x", "y"]}),
        ),
        (
            "iss as number",
            json!({"sub": "alice", "exp": exp, "iss": 1, "aud": "app"}),
        ),
        (
            "empty iss",
            json!({"sub": "alice", "exp": exp, "iss": "", "aud": "app"}),
        ),
    ];
    for (name, claims) in refused {
        assert_refused(&app, name, Some(&token(claims)), 40100).await;
    }
    assert_accepted(
        &app,
        "right iss and aud",
        &token(json!({"sub": "alice", "exp": exp, "iss": "me", "aud": "app"})),
        "alice",
    )
    .await;
    assert_accepted(
        &app,
        "aud list with ours",
        &token(json!({"sub": "bob", "exp": exp, "iss": "me", "aud": ["x", "app"]})),
        "bob",
    )
    .await;
    // Expiry is still checked, and reported as such, when iss / aud are right.
    assert_refused(
        &app,
        "right iss and aud but expired",
        Some(&token(
            json!({"sub": "alice", "exp": exp - 7200, "iss": "me", "aud": "app"}),
        )),
        40101,
    )
    .await;
}

// ---------------------------------------------------------------------------
// 3. Error codes per endpoint
// ---------------------------------------------------------------------------

#[tokio::test]
async fn forbidden_for_non_anchor() {
    let app = TestApp::start().await;
    let created = app.create_room("alice", "created").await;
    let live = app.live_room("alice", "live").await;
    app.join("bob", &live).await;

    refused_unchanged!(
        &app,
        403,
        40300,
        app.put("bob", &format!("/client/live/room/{created}"), None)
    );
    refused_unchanged!(
        &app,
        403,
        40300,
        app.put("bob", &format!("/client/live/room/{live}"), None)
    );
    refused_unchanged!(
        &app,
        403,
        40300,
        app.post("bob", &format!("/client/live/room/{live}"), None)
    );
    refused_unchanged!(
        &app,
        403,
        40300,
        app.delete("bob", &format!("/client/live/room/{live}"))
    );
    refused_unchanged!(
        &app,
        403,
        40300,
        app.delete("bob", &format!("/client/live/room/instance/{live}"))
    );
    refused_unchanged!(
        &app,
        403,
        40300,
        app.delete("bob", &format!("/client/live/room/instance/{created}"))
    );
    refused_unchanged!(
        &app,
        403,
        40300,
        app.put(
            "bob",
            EXTENDS,
            Some(json!({"live_id": live, "extends": {"k": "v"}}))
        )
    );

    // Still as before: live, anchor present, bob a member, no extends.
    let room = app.info("alice", &live).await;
    assert_eq!(room["live_status"], 1);
    assert_eq!(room["online_count"], 2);
    assert_eq!(room["extends"], json!({}));
    assert_eq!(app.info("alice", &created).await["live_status"], 0);
    // And the anchor may do what bob could not.
    app.put(
        "alice",
        EXTENDS,
        Some(json!({"live_id": live, "extends": {"k": "v"}})),
    )
    .await
    .ok();
    app.post("alice", &format!("/client/live/room/{live}"), None)
        .await
        .ok();
    app.delete("alice", &format!("/client/live/room/instance/{created}"))
        .await
        .ok();
}

#[tokio::test]
async fn not_found_for_unknown_room() {
    let app = TestApp::start().await;
    // Some state, so "nothing written" means something.
    let live = app.live_room("alice", "live").await;
    app.join("bob", &live).await;
    let deleted = app.create_room("alice", "doomed").await;
    app.delete("alice", &format!("/client/live/room/instance/{deleted}"))
        .await
        .ok();

    // A 64-char id is well-formed: 404, where 65 chars is 400 (bad_input_table).
    let longest = "a".repeat(64);
    for id in [UNKNOWN, deleted.as_str(), longest.as_str()] {
        refused_unchanged!(
            &app,
            404,
            40400,
            app.get("bob", &format!("/client/live/room/info/{id}"))
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.put("alice", &format!("/client/live/room/{id}"), None)
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.post("alice", &format!("/client/live/room/{id}"), None)
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.delete("alice", &format!("/client/live/room/{id}"))
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.delete("alice", &format!("/client/live/room/instance/{id}"))
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.post("bob", &format!("/client/live/room/user/{id}"), None)
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.post("carol", &format!("/client/live/room/user/{id}"), None)
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.delete("bob", &format!("/client/live/room/user/{id}"))
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.get("bob", &format!("/client/live/room/heartbeat/{id}"))
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.put(
                "alice",
                EXTENDS,
                Some(json!({"live_id": id, "extends": {"k": "v"}}))
            )
        );
        refused_unchanged!(
            &app,
            404,
            40400,
            app.get("bob", &format!("/client/live/room/user_list?live_id={id}"))
        );
    }
    // bob is still in the live room.
    assert_eq!(app.info("bob", &live).await["online_count"], 2);
}

#[tokio::test]
async fn not_in_room() {
    let app = TestApp::start().await;
    let room = app.live_room("alice", "live").await;
    let other = app.live_room("dave", "other").await;
    let hb = format!("/client/live/room/heartbeat/{room}");
    let member = format!("/client/live/room/user/{room}");

    // Never joined.
    refused_unchanged!(&app, 404, 40401, app.get("bob", &hb));
    refused_unchanged!(&app, 404, 40401, app.delete("bob", &member));

    // Joined, left, then leave again / heartbeat.
    app.join("bob", &room).await;
    app.get("bob", &hb).await.ok();
    app.delete("bob", &member).await.ok();
    refused_unchanged!(&app, 404, 40401, app.delete("bob", &member));
    refused_unchanged!(&app, 404, 40401, app.get("bob", &hb));
    assert_eq!(app.info("alice", &room).await["online_count"], 1);

    // Joining another room leaves this one: heartbeat and leave here are 40401.
    app.join("bob", &room).await;
    app.join("bob", &other).await;
    let r = app.get("bob", &hb).await;
    r.expect(404, 40401);
    assert_envelope(&r);
    app.delete("bob", &member).await.expect(404, 40401);
    app.get("bob", &format!("/client/live/room/heartbeat/{other}"))
        .await
        .ok();
}

#[tokio::test]
async fn conflict_on_room_state() {
    let app = TestApp::start().await;
    let created = app.create_room("alice", "created").await;
    let ended = app.live_room("alice", "ended").await;
    app.join("bob", &ended).await;
    app.post("alice", &format!("/client/live/room/{ended}"), None)
        .await
        .ok();

    // Stop of a created, never started room (both the POST and the DELETE alias).
    refused_unchanged!(
        &app,
        409,
        40900,
        app.post("alice", &format!("/client/live/room/{created}"), None)
    );
    refused_unchanged!(
        &app,
        409,
        40900,
        app.delete("alice", &format!("/client/live/room/{created}"))
    );
    assert_eq!(app.info("alice", &created).await["live_status"], 0);
    // Stop / start / join of an ended room.
    refused_unchanged!(
        &app,
        409,
        40900,
        app.post("alice", &format!("/client/live/room/{ended}"), None)
    );
    refused_unchanged!(
        &app,
        409,
        40900,
        app.delete("alice", &format!("/client/live/room/{ended}"))
    );
    refused_unchanged!(
        &app,
        409,
        40900,
        app.put("alice", &format!("/client/live/room/{ended}"), None)
    );
    refused_unchanged!(
        &app,
        409,
        40900,
        app.post("carol", &format!("/client/live/room/user/{ended}"), None)
    );
    refused_unchanged!(
        &app,
        409,
        40900,
        app.post("bob", &format!("/client/live/room/user/{ended}"), None)
    );
    let room = app.info("alice", &ended).await;
    assert_eq!(room["live_status"], 2);
    assert_eq!(room["pv"], 1);
    // Ended is final but delete is always allowed.
    app.delete("alice", &format!("/client/live/room/instance/{ended}"))
        .await
        .ok();
    app.delete("alice", &format!("/client/live/room/instance/{created}"))
        .await
        .ok();
}

#[tokio::test]
async fn unknown_route_and_wrong_method() {
    let app = TestApp::start().await;
    let room = app.create_room("alice", "r").await;
    let token = app.token("alice");
    let not_found = [
        ("GET", "/nope".to_owned()),
        ("GET", "/".to_owned()),
        ("POST", "/client/live/room/instance/x/y".to_owned()),
        ("GET", "/client/live/room/info/".to_owned()),
        ("GET", format!("/client/live/rooms/info/{room}")),
    ];
    for (method, path) in &not_found {
        for auth in [Some(token.as_str()), None] {
            let r = refused_unchanged!(&app, 404, 40400, app.call(method, path, auth, None));
            assert_eq!(r.body["message"], "no such endpoint", "{method} {path}");
        }
    }
    // (method, path, a method the route does allow)
    let wrong_method = [
        ("GET", CREATE.to_owned(), "POST"),
        ("PUT", CREATE.to_owned(), "POST"),
        ("PATCH", format!("/client/live/room/{room}"), "PUT"),
        ("GET", format!("/client/live/room/{room}"), "DELETE"),
        ("POST", format!("/client/live/room/info/{room}"), "GET"),
        (
            "GET",
            format!("/client/live/room/instance/{room}"),
            "DELETE",
        ),
        ("POST", "/client/live/room/list".to_owned(), "GET"),
        ("DELETE", "/client/live/room".to_owned(), "GET"),
        ("GET", EXTENDS.to_owned(), "PUT"),
        ("POST", format!("/client/live/room/heartbeat/{room}"), "GET"),
        ("PUT", format!("/client/live/room/user/{room}"), "POST"),
        ("POST", "/client/user/profile".to_owned(), "GET"),
    ];
    for (method, path, allowed) in &wrong_method {
        for auth in [Some(token.as_str()), None] {
            let r = refused_unchanged!(&app, 405, 40000, app.call(method, path, auth, None));
            assert_eq!(r.body["message"], "method not allowed", "{method} {path}");
            let allow: Vec<String> = r
                .headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(',')
                .map(|m| m.trim().to_owned())
                .collect();
            assert!(
                allow.iter().any(|m| m == allowed) && !allow.iter().any(|m| m == method),
                "{method} {path}: Allow is {allow:?}"
            );
        }
    }
    // The room is untouched by all of that.
    assert_eq!(app.info("alice", &room).await["live_status"], 0);
}

// ---------------------------------------------------------------------------
// 4. Request ids
// ---------------------------------------------------------------------------

fn is_generated_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn request_ids_are_echoed_only_when_sane() {
    let app = TestApp::start().await;
    let token = app.token("alice");
    let auth = format!("Bearer {token}");
    let paths = [
        "/client/live/room/list",
        "/nope",
        "/client/live/room/info/a%7Db",
    ];

    let sane = [
        "req-1",
        "A.B_c:d/e+f=g",
        &"x".repeat(64),
        "~!@#$%^&*()[]{}<>?'\"\\|`",
    ];
    for id in sane {
        for path in paths {
            let r = app
                .call_raw(
                    "GET",
                    path,
                    &[("authorization", &auth), ("x-request-id", id)],
                    Vec::new(),
                )
                .await;
            assert_envelope(&r);
            assert_eq!(
                r.body["request_id"], id,
                "{path}: sane id {id:?} not echoed"
            );
        }
    }

    let insane = [
        "a b".to_owned(),
        "a\tb".to_owned(),
        "id\u{e9}".to_owned(),
        "中文".to_owned(),
        "x".repeat(65),
        "y".repeat(1000),
    ];
    for id in &insane {
        for path in paths {
            let r = app
                .call_raw(
                    "GET",
                    path,
                    &[("authorization", &auth), ("x-request-id", id)],
                    Vec::new(),
                )
                .await;
            assert_envelope(&r);
            let got = r.body["request_id"].as_str().unwrap();
            assert_ne!(got, id, "{path}: insane id echoed");
            assert!(
                is_generated_id(got),
                "{path}: {id:?} replaced by {got:?}, not a fresh id"
            );
        }
    }

    // Without the header: a fresh id per request, also on 401s.
    let a = app
        .call_raw("GET", "/client/live/room/list", &[], Vec::new())
        .await;
    let b = app
        .call_raw("GET", "/client/live/room/list", &[], Vec::new())
        .await;
    a.expect(401, 40100);
    assert_envelope(&a);
    assert_envelope(&b);
    let (a, b) = (
        a.body["request_id"].as_str().unwrap(),
        b.body["request_id"].as_str().unwrap(),
    );
    assert!(is_generated_id(a) && is_generated_id(b));
    assert_ne!(a, b);
}
