//! Bad input on every endpoint, and values exactly at the limits (SPEC §2, §7).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::errors::{CREATE, EXTENDS, b64url, changed_keys, envelope_problems, snapshot};
use crate::harness::TestApp;

/// The room hash as a map.
async fn room_hash(app: &TestApp, live_id: &str) -> BTreeMap<String, String> {
    let key = app.store.keys().room(live_id).room;
    app.redis_cmd(&["HGETALL", &key]).await
}

fn ext_map(prefix: &str, n: usize) -> Value {
    Value::Object(
        (0..n)
            .map(|i| (format!("{prefix}{i}"), json!("v")))
            .collect(),
    )
}

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
        .user("alice")
        .create_room(json!({"title": "ext", "extends": ext_map("k", 30)}))
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
        create("missing title", json!({"notice": "n"}), "title is required"),
        create("null title", json!({"title": null}), "title is required"),
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
        .user("alice")
        .create_room(json!({"title": title}))
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
    let r = app.user("alice").create_room(body).await.ok();
    assert_eq!(r.data()["extends"].as_object().unwrap().len(), 32);
    assert_eq!(r.data()["notice"].as_str().unwrap().chars().count(), 1024);
    // Key and value limits count characters, not bytes.
    let key = "键".repeat(64);
    let value = "值".repeat(1024);
    let r = app
        .user("alice")
        .create_room(json!({"title": "t", "extends": {key.clone(): value.clone()}}))
        .await
        .ok();
    assert_eq!(r.data()["extends"][&key], json!(value));

    // Unknown fields are ignored, nested up to the depth limit (the body object is
    // level 1, so 126 more levels fit); deeper bodies are refused (the hostile tests).
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
        .user("alice")
        .create_room(json!({"title": "ext", "extends": ext_map("k", 30)}))
        .await
        .ok()
        .data()["live_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.user("alice")
        .update_extends(
            json!({"live_id": id, "extends": {"n1": "v", "n2": "v", "n3": "v", "k0": ""}}),
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
        app.user("alice")
            .update_extends(json!({"live_id": id, "extends": {"n4": "v"}}))
    );
    // Replacing an existing key at the limit is fine.
    app.user("alice")
        .update_extends(json!({"live_id": id, "extends": {"n1": "w"}}))
        .await
        .ok();
    assert_eq!(app.info("alice", &id).await["extends"]["n1"], "w");
}
