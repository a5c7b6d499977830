//! The served OpenAPI document (generated from the handlers and wire types, see
//! src/openapi/) is OpenAPI 3.1, names the service's operations, describes each one
//! fully, and real responses of a whole room life cycle and of the error cases validate
//! against the schemas it declares, against the real app and a real `redis-server`
//! (tests/it/harness).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::harness::{Reply, SECRET, TestApp};
use serde_json::{Value, json};

/// HTTP methods as they appear in axum's routing functions and OpenAPI path items.
const METHODS: [&str; 8] = [
    "get", "post", "put", "delete", "patch", "head", "options", "trace",
];

type Route = (String, String);

/// A change to a response body.
type Mutation = dyn Fn(&mut Value);

fn route(method: &str, path: &str) -> Route {
    (method.to_ascii_uppercase(), path.to_owned())
}

// ---------------------------------------------------------------------------
// the document
// ---------------------------------------------------------------------------

/// The OpenAPI document, with the look-ups and the validation the tests need.
struct Spec {
    doc: Value,
}

impl Spec {
    /// The document the service generates (what `/openapi.json` serves).
    fn generated() -> Self {
        Self {
            doc: liveroom::openapi::document(),
        }
    }

    /// Follows a local `$ref` (`#/components/...`), once or repeatedly.
    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        for _ in 0..8 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return v;
            };
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("non-local $ref {r}"));
            v = self
                .doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {r}"));
        }
        panic!("$ref chain too long at {v}");
    }

    /// Every (METHOD, path) of the document, and whether it is marked `x-planned`.
    fn operations(&self) -> Vec<(Route, bool)> {
        let paths = self.doc["paths"].as_object().expect("paths is an object");
        let mut out = Vec::new();
        for (path, item) in paths {
            let item = item.as_object().expect("path item is an object");
            for (key, op) in item {
                if METHODS.contains(&key.as_str()) {
                    let planned = op.get("x-planned").and_then(Value::as_bool) == Some(true);
                    out.push((route(key, path), planned));
                }
            }
        }
        out
    }

    fn operation(&self, method: &str, path: &str) -> &Value {
        self.doc["paths"]
            .get(path)
            .and_then(|item| item.get(method.to_ascii_lowercase()))
            .unwrap_or_else(|| panic!("{method} {path} is not in the document"))
    }

    /// The response object an operation declares for `status` (`$ref` resolved).
    fn response(&self, method: &str, path: &str, status: u16) -> &Value {
        let declared = self.operation(method, path)["responses"]
            .get(status.to_string())
            .unwrap_or_else(|| {
                panic!("the document declares no {status} response for {method} {path}")
            });
        self.resolve(declared)
    }

    /// Validates `instance` against `schema`, whose `$ref`s point into this document's
    /// components. Returns every mismatch as `JSON pointer: message`.
    fn validate(&self, schema: &Value, instance: &Value) -> Result<(), Vec<String>> {
        let wrapper = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::draft202012::new(&wrapper)
            .unwrap_or_else(|e| panic!("schema does not compile: {e}\n{schema}"));
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| {
                format!(
                    "at {:?}: {e} (schema {})",
                    e.instance_path().as_str(),
                    e.schema_path().as_str()
                )
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The schema of `method path`'s `status` response for the media type `content_type`
    /// (a declared media type exactly, or `application/json` with parameters).
    fn body_schema(&self, method: &str, path: &str, status: u16, content_type: &str) -> &Value {
        let response = self.response(method, path, status);
        let content = response["content"]
            .as_object()
            .unwrap_or_else(|| panic!("{status} of {method} {path} declares no content"));
        let media = content_type.split(';').next().unwrap_or("").trim();
        let declared = content.get(content_type).or_else(|| {
            (media == "application/json")
                .then(|| content.get(media))
                .flatten()
        });
        let declared = declared.unwrap_or_else(|| {
            panic!(
                "{status} of {method} {path}: content-type {content_type:?} not declared (declared: {:?})",
                content.keys().collect::<Vec<_>>()
            )
        });
        &declared["schema"]
    }

    /// Validates a JSON body against the schema of `method path`'s `status` response.
    fn validate_body(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), Vec<String>> {
        self.validate(
            self.body_schema(method, path, status, "application/json"),
            body,
        )
    }

    /// Checks a real reply against what the document declares for `method path` and
    /// the reply's status: its content type, the body's schema, and every required
    /// header (its value against the header's schema). Panics naming each mismatch.
    #[track_caller]
    fn check(&self, method: &str, path: &str, reply: &Reply) {
        self.check_parts(method, path, reply.status, &reply.headers, &reply.body);
    }

    /// [`Spec::check`] of a status, headers and body (JSON, or a JSON string for text).
    #[track_caller]
    fn check_parts(
        &self,
        method: &str,
        path: &str,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &Value,
    ) {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let schema = self.body_schema(method, path, status, content_type);
        if let Err(errors) = self.validate(schema, body) {
            panic!(
                "{method} {path} -> {status}: body does not match the document:\n  {}\nbody: {}",
                errors.join("\n  "),
                body
            );
        }
        let response = self.response(method, path, status);
        if let Some(declared) = response.get("headers").and_then(Value::as_object) {
            for (name, header) in declared {
                let header = self.resolve(header);
                let value = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
                let Some(value) = value else {
                    assert!(
                        header.get("required") != Some(&Value::Bool(true)),
                        "{method} {path} -> {status}: required header {name} missing"
                    );
                    continue;
                };
                let schema = &header["schema"];
                let typed = match self.resolve(schema).get("type").and_then(Value::as_str) {
                    Some("integer") => value
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::from(value)),
                    _ => Value::from(value),
                };
                if let Err(errors) = self.validate(schema, &typed) {
                    panic!(
                        "{method} {path} -> {status}: header {name}: {value:?}: {}",
                        errors.join("; ")
                    );
                }
            }
        }
        if let (Some(header), Some(id)) = (headers.get("x-request-id"), body.get("request_id")) {
            assert_eq!(
                header.to_str().ok(),
                id.as_str(),
                "{method} {path}: X-Request-Id header and envelope request_id differ"
            );
        }
    }
}

/// Records which operations' 200 responses a test validated.
struct Checker<'a> {
    spec: &'a Spec,
    seen: BTreeSet<(Route, u16)>,
}

impl Checker<'_> {
    /// Validates `reply` and asserts it has the expected status and code.
    #[track_caller]
    fn expect(&mut self, method: &str, path: &str, reply: Reply, status: u16, code: i64) -> Reply {
        if status == 200 {
            reply.expect(200, 0);
        } else {
            reply.expect(status, code);
        }
        self.spec.check(method, path, &reply);
        self.seen.insert((route(method, path), reply.status));
        reply
    }

    #[track_caller]
    fn ok(&mut self, method: &str, path: &str, reply: Reply) -> Reply {
        self.expect(method, path, reply, 200, 0)
    }

    /// Validates a 200 that is not an envelope (the document itself).
    #[track_caller]
    fn ok_raw(&mut self, method: &str, path: &str, reply: Reply) -> Reply {
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.body);
        self.spec.check(method, path, &reply);
        self.seen.insert((route(method, path), 200));
        reply
    }
}

async fn served_spec(app: &TestApp) -> (Spec, Reply) {
    let reply = app.call("GET", "/openapi.json", None, None).await;
    assert_eq!(reply.status, 200, "GET /openapi.json: {}", reply.body);
    (
        Spec {
            doc: reply.body.clone(),
        },
        reply,
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_document_is_served_and_is_openapi_3_1() {
    let app = TestApp::start().await;
    let (served, reply) = served_spec(&app).await;
    assert_eq!(
        served.doc,
        Spec::generated().doc,
        "/openapi.json does not serve the generated document"
    );
    let version = served.doc["openapi"].as_str().unwrap_or("");
    assert!(version.starts_with("3.1"), "openapi is {version:?}");
    assert!(served.doc["info"]["title"].is_string());
    // Served as the document itself, with its own declared (non-envelope) schema.
    served.check("GET", "/openapi.json", &reply);
}

/// The operations of SPEC §5, §3 and the ops endpoints, each served: a request with the
/// documented method and path reaches a handler (not the 404 / 405 fallbacks).
#[tokio::test]
async fn the_document_names_exactly_the_served_operations() {
    let expected: BTreeSet<Route> = [
        ("post", "/client/live/room/instance"),
        ("get", "/client/live/room/info/{live_id}"),
        ("put", "/client/live/room/{live_id}"),
        ("post", "/client/live/room/{live_id}"),
        ("delete", "/client/live/room/{live_id}"),
        ("delete", "/client/live/room/instance/{live_id}"),
        ("get", "/client/live/room"),
        ("get", "/client/live/room/list"),
        ("post", "/client/live/room/user/{live_id}"),
        ("delete", "/client/live/room/user/{live_id}"),
        ("get", "/client/live/room/heartbeat/{live_id}"),
        ("put", "/client/live/room/extends"),
        ("get", "/client/live/room/user_list"),
        ("get", "/client/user/profile"),
        ("put", "/client/user/user"),
        ("get", "/server/live/room/list"),
        ("get", "/server/live/room/info/{live_id}"),
        ("post", "/server/live/room/instance"),
        ("post", "/server/live/room/stop/{live_id}"),
        ("delete", "/server/live/room/instance/{live_id}"),
        ("put", "/server/live/room/instance/{live_id}"),
        ("put", "/server/live/room/extends"),
        ("get", "/server/live/room/user_list"),
        ("post", "/server/live/room/kick/{live_id}"),
        ("delete", "/server/live/room/ban/{live_id}/{user_id}"),
        ("get", "/server/live/room/bans"),
        ("post", "/server/auth/token"),
        ("get", "/client/live/room/events/{live_id}"),
        ("post", "/media/nginx-rtmp"),
        ("post", "/media/srs"),
        ("get", "/livez"),
        ("get", "/readyz"),
        ("get", "/openapi.json"),
        ("get", "/metrics"),
    ]
    .into_iter()
    .map(|(m, p)| route(m, p))
    .collect();
    let spec = Spec::generated();
    let documented: BTreeSet<Route> = spec.operations().into_iter().map(|(r, _)| r).collect();
    assert_eq!(documented, expected);
    let app = TestApp::start().await;
    for (method, path) in &documented {
        if path == "/metrics" {
            continue; // Prometheus text, not an envelope: reached by the life-cycle test.
        }
        let concrete = path.replace("{live_id}", "live_00000000000000000000");
        let reply = app
            .call(method, &concrete, Some(&app.token("alice")), None)
            .await;
        let code = reply.body["code"].as_i64();
        assert!(
            reply.status != 405
                && !(reply.status == 404
                    && code == Some(40400)
                    && reply.body["message"] == "no such endpoint"),
            "{method} {path} is documented but not served: {} {}",
            reply.status,
            reply.body
        );
    }
}

#[test]
fn every_operation_is_fully_described() {
    let spec = Spec::generated();
    for ((method, path), _) in spec.operations() {
        let op = spec.operation(&method, &path);
        assert!(
            op["operationId"].is_string(),
            "{method} {path}: operationId"
        );
        // Each `{param}` of the path is a declared path parameter.
        let params: Vec<&Value> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().map(|p| spec.resolve(p)).collect())
            .unwrap_or_default();
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                    "{method} {path}: path parameter {name} not declared"
                );
            }
        }
        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.contains_key("200"), "{method} {path}: no 200");
        for (status, response) in responses {
            let response = spec.resolve(response);
            assert!(
                response["description"].is_string(),
                "{method} {path} {status}: description"
            );
            // Every JSON schema compiles (no dangling $ref); errors are the envelope.
            if let Some(schema) = response.pointer("/content/application~1json/schema") {
                // Compiles (panics on a dangling `$ref`); -1 is no code at all.
                let nonsense = json!({"request_id": "r", "code": -1, "message": "m"});
                assert!(
                    spec.validate(schema, &nonsense).is_err(),
                    "{method} {path} {status}: accepts code -1"
                );
                if status != "200" {
                    let codes = response["x-error-codes"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{method} {path} {status}: x-error-codes"));
                    for code in codes {
                        let body = json!({"request_id": "r", "code": code, "message": "m"});
                        assert!(
                            spec.validate(schema, &body).is_ok(),
                            "{method} {path} {status}: {code} rejected by its own schema"
                        );
                        let http = spec.doc["x-error-codes"]
                            .as_array()
                            .and_then(|t| t.iter().find(|e| &e["code"] == code))
                            .unwrap_or_else(|| panic!("{code} not in the x-error-codes table"));
                        let table_status = http["status"].as_u64().unwrap().to_string();
                        // 413 and 405 reuse 40000 (SPEC §1, src/error.rs); otherwise
                        // each code has its one status.
                        assert!(
                            table_status == *status
                                || (code == 40000 && ["405", "413"].contains(&status.as_str())),
                            "{method} {path} {status}: code {code} belongs to HTTP {table_status}"
                        );
                    }
                    assert!(
                        spec.validate(
                            schema,
                            &json!({"request_id": "r", "code": 0, "message": "success"})
                        )
                        .is_err(),
                        "{method} {path} {status}: the error schema accepts code 0"
                    );
                }
            } else {
                // Prometheus text; the event stream (text/event-stream) and its 204.
                assert!(
                    matches!(
                        (path.as_str(), status.as_str()),
                        ("/metrics", "200") | ("/client/live/room/events/{live_id}", "200" | "204")
                    ),
                    "{method} {path} {status}: no application/json schema"
                );
            }
        }
    }
    // The SPEC §1 table, complete.
    let table: BTreeSet<u64> = spec.doc["x-error-codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_u64().unwrap())
        .collect();
    let spec_codes: BTreeSet<u64> = [
        0, 40000, 40100, 40101, 40300, 40301, 40400, 40401, 40900, 42900, 50000, 50300,
    ]
    .into_iter()
    .collect();
    assert_eq!(table, spec_codes);
}

/// The validator is wired up: real responses with a drifted shape fail, naming the
/// JSON pointer of the mismatch.
#[tokio::test]
async fn drifted_responses_fail_with_the_pointer_of_the_mismatch() {
    let app = TestApp::start().await;
    let (spec, _) = served_spec(&app).await;
    let created = app
        .post(
            "alice",
            "/client/live/room/instance",
            Some(json!({"title": "drift"})),
        )
        .await
        .ok();
    let path = "/client/live/room/instance";
    assert!(spec.validate_body("POST", path, 200, &created.body).is_ok());
    let drifted = |mutate: &dyn Fn(&mut Value)| {
        let mut body = created.body.clone();
        mutate(&mut body);
        spec.validate_body("POST", path, 200, &body)
            .expect_err("drifted body accepted")
            .join("\n")
    };
    let cases: [(&Mutation, &str); 7] = [
        (&|b| b["data"]["surprise"] = json!(1), "\"/data\""),
        (&|b| b["data"]["pv"] = json!("1"), "\"/data/pv\""),
        (
            &|b| b["data"]["live_status"] = json!(7),
            "\"/data/live_status\"",
        ),
        (
            &|b| {
                b["data"].as_object_mut().unwrap().remove("chat_id");
            },
            "\"/data\"",
        ),
        (
            &|b| b["data"]["extends"] = json!({"k": 1}),
            "\"/data/extends/k\"",
        ),
        (
            &|b| b["data"]["anchor_info"]["im_userid"] = json!(-1),
            "\"/data/anchor_info/im_userid\"",
        ),
        (&|b| b["code"] = json!(40000), "\"/code\""),
    ];
    for (mutate, pointer) in cases {
        let errors = drifted(mutate);
        assert!(
            errors.contains(&format!("at {pointer}")),
            "expected a mismatch at {pointer}, got:\n{errors}"
        );
    }
    // An error body under a success status, and a success body under an error status.
    assert!(
        spec.validate_body(
            "POST",
            path,
            200,
            &json!({"request_id": "r", "code": 40000, "message": "m"})
        )
        .is_err()
    );
    assert!(
        spec.validate_body("POST", path, 400, &created.body)
            .is_err()
    );
}

#[tokio::test]
async fn a_whole_life_cycle_matches_the_document() {
    let app = TestApp::start_with(|c| {
        c.server_keys = Some(crate::server::both_keys());
        c.media_hook_secret = Some(crate::media::HOOK_SECRET.into());
    })
    .await;
    let (spec, served) = served_spec(&app).await;
    let mut c = Checker {
        spec: &spec,
        seen: BTreeSet::new(),
    };
    c.ok_raw("GET", "/openapi.json", served);

    let livez = app.call("GET", "/livez", None, None).await;
    c.ok("GET", "/livez", livez);
    let readyz = app.call("GET", "/readyz", None, None).await;
    c.ok("GET", "/readyz", readyz);

    // Prometheus text, not JSON: checked by content type and schema (a string).
    let metrics = crate::harness::http()
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(metrics.status(), 200);
    let headers = metrics.headers().clone();
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("liveroom_http_requests_total"),
        "/metrics: {text}"
    );
    spec.check_parts("GET", "/metrics", 200, &headers, &Value::from(text));
    c.seen.insert((route("get", "/metrics"), 200));

    // Media-server hooks (SPEC §12): calls that change nothing.
    let secret = crate::media::HOOK_SECRET;
    let play = app
        .call_raw(
            "POST",
            &format!("/media/nginx-rtmp?secret={secret}"),
            &[("content-type", "application/x-www-form-urlencoded")],
            b"call=play&app=live&name=live_x&clientid=1".to_vec(),
        )
        .await;
    c.ok("POST", "/media/nginx-rtmp", play);
    let connect = app
        .call_raw(
            "POST",
            &format!("/media/srs?secret={secret}"),
            &[("content-type", "application/json")],
            br#"{"action":"on_connect","client_id":"c1","app":"live"}"#.to_vec(),
        )
        .await;
    c.ok("POST", "/media/srs", connect);

    // Profiles.
    let profile = app.get("alice", "/client/user/profile").await;
    c.ok("GET", "/client/user/profile", profile);
    let updated = app
        .put(
            "alice",
            "/client/user/user",
            Some(json!({"nick": "Alice", "avatar": "https://img.example/a.png", "extends": {"level": "3"}})),
        )
        .await;
    let updated = c.ok("PUT", "/client/user/user", updated);
    assert_eq!(updated.data()["nick"], "Alice");

    // Create with every field, look at it as a viewer, start it.
    let created = app
        .post(
            "alice",
            "/client/live/room/instance",
            Some(json!({
                "title": "OpenAPI 直播间",
                "notice": "welcome",
                "cover_url": "https://img.example/cover.png",
                "extends": {"topic": "docs"},
                "start_at": "2030-01-01 10:00:00",
                "end_at": "2030-01-01T12:00:00+08:00",
                "publish_expire_at": "2030-01-02 00:00:00",
                "unknown_field": true,
            })),
        )
        .await;
    let created = c.ok("POST", "/client/live/room/instance", created);
    let id = created.data()["live_id"].as_str().unwrap().to_owned();
    assert!(!created.data()["push_url"].as_str().unwrap().is_empty());

    let info = app
        .get("bob", &format!("/client/live/room/info/{id}"))
        .await;
    let info = c.ok("GET", "/client/live/room/info/{live_id}", info);
    assert_eq!(info.data()["push_url"], "");

    let started = app
        .put("alice", &format!("/client/live/room/{id}"), None)
        .await;
    let started = c.ok("PUT", "/client/live/room/{live_id}", started);
    assert_eq!(started.data()["live_status"], 1);

    // A second live room, so lists have more than one page.
    let other = app.live_room("carol", "second room").await;

    // Presence.
    let joined = app
        .post("bob", &format!("/client/live/room/user/{id}"), None)
        .await;
    let joined = c.ok("POST", "/client/live/room/user/{live_id}", joined);
    assert_eq!(joined.data()["online_count"], 2);
    let beat = app
        .get("bob", &format!("/client/live/room/heartbeat/{id}"))
        .await;
    let beat = c.ok("GET", "/client/live/room/heartbeat/{live_id}", beat);
    assert_eq!(beat.data()["live_status"], 1);

    // Live list, by page number and by cursor.
    let list = app
        .get("bob", "/client/live/room/list?page_num=1&page_size=1")
        .await;
    let list = c.ok("GET", "/client/live/room/list", list);
    assert_eq!(list.data()["total_count"], 2);
    let cursor = list.data()["next_cursor"].as_str().unwrap().to_owned();
    assert!(!cursor.is_empty());
    let next = app
        .get(
            "bob",
            &format!("/client/live/room/list?page_size=1&cursor={cursor}"),
        )
        .await;
    let next = c.ok("GET", "/client/live/room/list", next);
    assert_eq!(next.data()["end_page"], true);
    assert_eq!(next.data()["next_cursor"], "");

    // Search: by keyword (Chinese substring), by live_id, and everything.
    for query in [
        "keyword=%E7%9B%B4%E6%92%AD".to_owned(),
        format!("keyword={other}"),
        "page_size=1".to_owned(),
        "keyword=nothing-matches-this".to_owned(),
    ] {
        let found = app.get("bob", &format!("/client/live/room?{query}")).await;
        let found = c.ok("GET", "/client/live/room", found);
        assert!(found.data()["total_count"].as_u64().unwrap() <= 2);
    }

    // Members (alice as the anchor, bob), by page number and by cursor.
    let members = app
        .get(
            "carol",
            &format!("/client/live/room/user_list?live_id={id}&page_size=1"),
        )
        .await;
    let members = c.ok("GET", "/client/live/room/user_list", members);
    assert_eq!(members.data()["total_count"], 2);
    let cursor = members.data()["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(
            "carol",
            &format!("/client/live/room/user_list?live_id={id}&page_size=1&cursor={cursor}"),
        )
        .await;
    let rest = c.ok("GET", "/client/live/room/user_list", rest);
    assert_eq!(rest.data()["list"][0]["user_id"], "bob");

    // Extends: merge one key, remove another.
    let patched = app
        .put(
            "alice",
            "/client/live/room/extends",
            Some(json!({"live_id": id, "extends": {"topic": "", "mood": "good"}})),
        )
        .await;
    c.ok("PUT", "/client/live/room/extends", patched);
    assert_eq!(
        app.info("bob", &id).await["extends"],
        json!({"mood": "good"})
    );

    // Leave, stop (both forms), delete.
    let left = app
        .delete("bob", &format!("/client/live/room/user/{id}"))
        .await;
    c.ok("DELETE", "/client/live/room/user/{live_id}", left);
    let stopped = app
        .post("alice", &format!("/client/live/room/{id}"), None)
        .await;
    c.ok("POST", "/client/live/room/{live_id}", stopped);
    let stopped = app
        .delete("carol", &format!("/client/live/room/{other}"))
        .await;
    c.ok("DELETE", "/client/live/room/{live_id}", stopped);
    let ended = c.ok(
        "GET",
        "/client/live/room/info/{live_id}",
        app.get("alice", &format!("/client/live/room/info/{id}"))
            .await,
    );
    assert_eq!(ended.data()["live_status"], 2);
    // The event stream of an ended room: its snapshot, then the end. Each event is
    // checked against the response schema, which (OpenAPI 3.1, as schemathesis reads
    // it) describes one event: `{event, id?, retry?, data}`.
    let events = crate::harness::http()
        .get(format!("{}/client/live/room/events/{id}", app.base))
        .header("Authorization", format!("Bearer {}", app.token("alice")))
        .send()
        .await
        .expect("GET the event stream");
    assert_eq!(events.status(), 200);
    let headers = events.headers().clone();
    let text = events.text().await.unwrap();
    assert!(text.starts_with("event: room\n"), "{text}");
    let events_path = "/client/live/room/events/{live_id}";
    let mut sent = 0;
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut event = serde_json::Map::new();
        for line in block.lines().filter(|l| !l.starts_with(':')) {
            let (field, value) = line.split_once(": ").unwrap_or((line, ""));
            let value = match field {
                "retry" => Value::from(value.parse::<u64>().expect("retry is ms")),
                _ => Value::from(value),
            };
            event.insert(field.to_owned(), value);
        }
        spec.check_parts("GET", events_path, 200, &headers, &Value::Object(event));
        sent += 1;
    }
    assert!(sent >= 1, "{text}");
    c.seen.insert((route("get", events_path), 200));
    let deleted = app
        .delete("alice", &format!("/client/live/room/instance/{id}"))
        .await;
    c.ok("DELETE", "/client/live/room/instance/{live_id}", deleted);

    // The server API: a room made for dora, read, listed, changed, stopped with a
    // reason and deleted; its members; a user token.
    let server = crate::server::server_token(crate::server::KEY1);
    let as_server = |method: &'static str, path: String, body: Option<Value>| {
        let (app, server) = (&app, &server);
        async move { app.call(method, &path, Some(server), body).await }
    };
    let made = as_server(
        "POST",
        "/server/live/room/instance".into(),
        Some(json!({"anchor_id": "dora", "anchor_nick": "Dora", "title": "backend room"})),
    )
    .await;
    let made = c.ok("POST", "/server/live/room/instance", made);
    let sid = made.data()["live_id"].as_str().unwrap().to_owned();
    app.put("dora", &format!("/client/live/room/{sid}"), None)
        .await
        .ok();
    let read = as_server("GET", format!("/server/live/room/info/{sid}"), None).await;
    let read = c.ok("GET", "/server/live/room/info/{live_id}", read);
    assert!(!read.data()["push_url"].as_str().unwrap().is_empty());
    for query in [
        "",
        "?live_status=1&page_size=1",
        "?live_status=2",
        "?anchor_id=dora",
    ] {
        let listed = as_server("GET", format!("/server/live/room/list{query}"), None).await;
        c.ok("GET", "/server/live/room/list", listed);
    }
    let members = as_server(
        "GET",
        format!("/server/live/room/user_list?live_id={sid}"),
        None,
    )
    .await;
    let members = c.ok("GET", "/server/live/room/user_list", members);
    assert_eq!(members.data()["list"][0]["user_id"], "dora");
    // Kick and ban a viewer, list the bans, lift the ban.
    app.join("fred", &sid).await;
    let kicked = as_server(
        "POST",
        format!("/server/live/room/kick/{sid}"),
        Some(json!({"user_id": "fred", "ban_seconds": 60, "reason": "spam"})),
    )
    .await;
    let kicked = c.ok("POST", "/server/live/room/kick/{live_id}", kicked);
    assert_eq!(kicked.data()["kicked"], true);
    let bans = as_server("GET", format!("/server/live/room/bans?live_id={sid}"), None).await;
    let bans = c.ok("GET", "/server/live/room/bans", bans);
    assert_eq!(bans.data()["list"][0]["user_id"], "fred");
    let unbanned = as_server("DELETE", format!("/server/live/room/ban/{sid}/fred"), None).await;
    c.ok(
        "DELETE",
        "/server/live/room/ban/{live_id}/{user_id}",
        unbanned,
    );
    let patched = as_server(
        "PUT",
        "/server/live/room/extends".into(),
        Some(json!({"live_id": sid, "extends": {"flag": "review"}})),
    )
    .await;
    c.ok("PUT", "/server/live/room/extends", patched);
    let updated = as_server(
        "PUT",
        format!("/server/live/room/instance/{sid}"),
        Some(json!({"title": "backend room, renamed", "notice": "hi", "cover_url": ""})),
    )
    .await;
    let updated = c.ok("PUT", "/server/live/room/instance/{live_id}", updated);
    assert_eq!(updated.data()["title"], "backend room, renamed");
    let stopped = as_server(
        "POST",
        format!("/server/live/room/stop/{sid}"),
        Some(json!({"reason": "terms of service"})),
    )
    .await;
    c.ok("POST", "/server/live/room/stop/{live_id}", stopped);
    let deleted = as_server("DELETE", format!("/server/live/room/instance/{sid}"), None).await;
    c.ok("DELETE", "/server/live/room/instance/{live_id}", deleted);
    let minted = as_server(
        "POST",
        "/server/auth/token".into(),
        Some(json!({"user_id": "erin", "nick": "Erin"})),
    )
    .await;
    c.ok("POST", "/server/auth/token", minted);

    // Every served operation's success was checked above.
    let missing: Vec<_> = spec
        .operations()
        .into_iter()
        .filter(|(r, planned)| !planned && !c.seen.contains(&(r.clone(), 200)))
        .map(|(r, _)| r)
        .collect();
    assert!(
        missing.is_empty(),
        "the life cycle does not exercise the 200 of {missing:?}"
    );
}

#[tokio::test]
async fn error_responses_match_the_document() {
    let app = TestApp::start().await;
    let (spec, _) = served_spec(&app).await;
    let mut c = Checker {
        spec: &spec,
        seen: BTreeSet::new(),
    };
    const CREATE: &str = "/client/live/room/instance";
    const INFO: &str = "/client/live/room/info/{live_id}";
    const STATE: &str = "/client/live/room/{live_id}";
    const MEMBER: &str = "/client/live/room/user/{live_id}";
    const BEAT: &str = "/client/live/room/heartbeat/{live_id}";
    let id = app.create_room("alice", "errors").await;

    // 400 / 40000.
    let r = app.post("alice", CREATE, Some(json!({"title": ""}))).await;
    c.expect("POST", CREATE, r, 400, 40000);
    let r = app.post("alice", CREATE, Some(json!({"title": 5}))).await;
    c.expect("POST", CREATE, r, 400, 40000);
    let r = app
        .call_raw(
            "POST",
            CREATE,
            &[
                ("authorization", &app.token("alice")),
                ("content-type", "application/json"),
            ],
            b"{not json".to_vec(),
        )
        .await;
    c.expect("POST", CREATE, r, 400, 40000);
    let r = app.get("alice", "/client/live/room/info/bad.id").await;
    c.expect("GET", INFO, r, 400, 40000);
    let r = app.get("alice", "/client/live/room/list?page_size=0").await;
    c.expect("GET", "/client/live/room/list", r, 400, 40000);
    let r = app.get("alice", "/client/live/room?cursor=%21%21").await;
    c.expect("GET", "/client/live/room", r, 400, 40000);
    let r = app.get("alice", "/client/live/room/user_list").await;
    c.expect("GET", "/client/live/room/user_list", r, 400, 40000);
    let r = app
        .put(
            "alice",
            "/client/live/room/extends",
            Some(json!({"live_id": id})),
        )
        .await;
    c.expect("PUT", "/client/live/room/extends", r, 400, 40000);
    let r = app
        .put(
            "alice",
            "/client/user/user",
            Some(json!({"avatar": "ftp://x"})),
        )
        .await;
    c.expect("PUT", "/client/user/user", r, 400, 40000);

    // 401 / 40100 and 40101; the raw token form is accepted.
    let r = app
        .call("GET", &format!("/client/live/room/info/{id}"), None, None)
        .await;
    c.expect("GET", INFO, r, 401, 40100);
    let r = app
        .call_raw(
            "GET",
            "/client/user/profile",
            &[("authorization", "Bearer garbage")],
            vec![],
        )
        .await;
    c.expect("GET", "/client/user/profile", r, 401, 40100);
    let expired = hs256(&json!({"sub": "alice", "exp": unix_now() - 3600}));
    let r = app
        .call_raw(
            "GET",
            "/client/live/room/list",
            &[("authorization", &expired)],
            vec![],
        )
        .await;
    c.expect("GET", "/client/live/room/list", r, 401, 40101);
    let r = app
        .call_raw(
            "GET",
            "/client/user/profile",
            &[("authorization", &app.token("alice"))],
            vec![],
        )
        .await;
    c.ok("GET", "/client/user/profile", r);

    // 403 / 40300: not the anchor.
    let r = app
        .put("bob", &format!("/client/live/room/{id}"), None)
        .await;
    c.expect("PUT", STATE, r, 403, 40300);
    let r = app
        .put(
            "bob",
            "/client/live/room/extends",
            Some(json!({"live_id": id, "extends": {"a": "b"}})),
        )
        .await;
    c.expect("PUT", "/client/live/room/extends", r, 403, 40300);
    let r = app
        .delete("bob", &format!("/client/live/room/instance/{id}"))
        .await;
    c.expect(
        "DELETE",
        "/client/live/room/instance/{live_id}",
        r,
        403,
        40300,
    );

    // 404 / 40400: no such room; 40401: not in the room.
    let ghost = "live_00000000000000000000";
    let r = app
        .get("alice", &format!("/client/live/room/info/{ghost}"))
        .await;
    c.expect("GET", INFO, r, 404, 40400);
    let r = app
        .post("bob", &format!("/client/live/room/user/{ghost}"), None)
        .await;
    c.expect("POST", MEMBER, r, 404, 40400);
    let r = app
        .get(
            "bob",
            &format!("/client/live/room/user_list?live_id={ghost}"),
        )
        .await;
    c.expect("GET", "/client/live/room/user_list", r, 404, 40400);
    let r = app
        .get("bob", &format!("/client/live/room/heartbeat/{id}"))
        .await;
    c.expect("GET", BEAT, r, 404, 40401);
    let r = app
        .delete("bob", &format!("/client/live/room/user/{id}"))
        .await;
    c.expect("DELETE", MEMBER, r, 404, 40401);

    // 409 / 40900: stop a room never started; start, join an ended room.
    let r = app
        .post("alice", &format!("/client/live/room/{id}"), None)
        .await;
    c.expect("POST", STATE, r, 409, 40900);
    app.put("alice", &format!("/client/live/room/{id}"), None)
        .await
        .ok();
    app.post("alice", &format!("/client/live/room/{id}"), None)
        .await
        .ok();
    let r = app
        .delete("alice", &format!("/client/live/room/{id}"))
        .await;
    c.expect("DELETE", STATE, r, 409, 40900);
    let r = app
        .put("alice", &format!("/client/live/room/{id}"), None)
        .await;
    c.expect("PUT", STATE, r, 409, 40900);
    let r = app
        .post("bob", &format!("/client/live/room/user/{id}"), None)
        .await;
    c.expect("POST", MEMBER, r, 409, 40900);

    // 413 / 40000: body over 64 KiB.
    let r = app
        .post(
            "alice",
            CREATE,
            Some(json!({"title": "big", "notice": "n".repeat(70 * 1024)})),
        )
        .await;
    c.expect("POST", CREATE, r, 413, 40000);
    let r = app
        .put(
            "alice",
            "/client/user/user",
            Some(json!({"nick": "n".repeat(70 * 1024)})),
        )
        .await;
    c.expect("PUT", "/client/user/user", r, 413, 40000);

    // 405 / 40000: a documented path with a method it does not serve.
    let r = app
        .call(
            "PATCH",
            &format!("/client/live/room/info/{id}"),
            Some(&app.token("alice")),
            None,
        )
        .await;
    c.expect("GET", INFO, r, 405, 40000);
    let r = app.call("POST", "/livez", None, None).await;
    c.expect("GET", "/livez", r, 405, 40000);

    // 404 / 40400 on an unknown path: the plain error envelope.
    let r = app.get("alice", "/client/nope").await;
    r.expect(404, 40400);
    let schema = json!({"$ref": "#/components/schemas/ErrorEnvelope"});
    if let Err(errors) = spec.validate(&schema, &r.body) {
        panic!("unknown path: {}", errors.join("; "));
    }
}

#[tokio::test]
async fn storage_outage_responses_match_the_document() {
    let app = TestApp::start_private_with(|c| c.redis_timeout = Duration::from_millis(500)).await;
    let (spec, _) = served_spec(&app).await;
    let mut c = Checker {
        spec: &spec,
        seen: BTreeSet::new(),
    };
    let id = app.create_room("alice", "outage").await;
    // SIGKILL the test's own redis-server (started by the harness for this test only).
    let pid = app.redis.child().pid() as libc::pid_t;
    assert!(pid > 0);
    // SAFETY: kill(2) on the pid of a child process this test owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let r = app.call("GET", "/readyz", None, None).await;
    let r = c.expect("GET", "/readyz", r, 503, 50300);
    assert!(r.headers.contains_key("retry-after"));
    let r = app
        .get("alice", &format!("/client/live/room/info/{id}"))
        .await;
    c.expect("GET", "/client/live/room/info/{live_id}", r, 503, 50300);
    let r = app
        .post(
            "alice",
            "/client/live/room/instance",
            Some(json!({"title": "t"})),
        )
        .await;
    c.expect("POST", "/client/live/room/instance", r, 503, 50300);
    // Liveness does not depend on Redis.
    let r = app.call("GET", "/livez", None, None).await;
    c.ok("GET", "/livez", r);
}

/// Every `$ref` of the document points into it, and operation ids are unique (links
/// and client generators name operations by id).
#[test]
fn references_resolve_and_operation_ids_are_unique() {
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let spec = Spec::generated();
    let mut all = Vec::new();
    refs(&spec.doc, &mut all);
    assert!(all.len() > 50, "only {} $refs", all.len());
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref {r}"));
        assert!(spec.doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    let mut ids = BTreeSet::new();
    for ((method, path), _) in spec.operations() {
        let id = spec.operation(&method, &path)["operationId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(ids.insert(id.clone()), "operationId {id} used twice");
    }
    // Every link names an operation of the document.
    let links =
        &spec.doc["paths"]["/client/live/room/instance"]["post"]["responses"]["200"]["links"];
    let links = links.as_object().expect("createRoom links");
    assert!(links.len() >= 8, "{links:?}");
    for link in links.values() {
        assert!(
            ids.contains(link["operationId"].as_str().unwrap()),
            "{link}"
        );
    }
}
