//! `X-Request-Id`: echoed when sane, replaced otherwise (SPEC §1, §7).

use crate::errors::assert_envelope;
use crate::harness::TestApp;
use crate::harness::api::assert_ok_with_data;

#[tokio::test]
async fn sane_request_id_is_echoed() {
    let app = TestApp::start().await;
    let token = format!("Bearer {}", app.token("alice"));
    let sent = "req-0123_ABC.xyz:42";
    let r = app
        .call_raw(
            "GET",
            "/client/user/profile",
            &[("Authorization", &token), ("X-Request-Id", sent)],
            Vec::new(),
        )
        .await;
    assert_ok_with_data(&r);
    assert_eq!(r.headers.get("x-request-id").unwrap(), sent);
    assert_eq!(r.body["request_id"], sent);
    // Exactly 64 characters is still sane.
    let long = "x".repeat(64);
    let r = app
        .call_raw(
            "GET",
            "/client/user/profile",
            &[("Authorization", &token), ("X-Request-Id", &long)],
            Vec::new(),
        )
        .await;
    assert_eq!(r.body["request_id"], long.as_str());
    // Without the header an id is generated and sent back both ways.
    let r = app.user("alice").profile().await.ok();
    let id = r.body["request_id"].as_str().unwrap();
    assert!(!id.is_empty());
    assert_eq!(r.headers.get("x-request-id").unwrap(), id);
}

#[tokio::test]
async fn insane_request_id_is_replaced() {
    let app = TestApp::start().await;
    let token = format!("Bearer {}", app.token("alice"));
    for sent in ["a".repeat(100), "has space".to_string(), "x".repeat(65)] {
        let r = app
            .call_raw(
                "GET",
                "/client/user/profile",
                &[("Authorization", &token), ("X-Request-Id", &sent)],
                Vec::new(),
            )
            .await;
        assert_ok_with_data(&r);
        let body_id = r.body["request_id"].as_str().unwrap().to_owned();
        assert_ne!(body_id, sent);
        assert!(!body_id.is_empty() && body_id.len() <= 64, "{body_id}");
        assert!(body_id.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(r.headers.get("x-request-id").unwrap(), body_id.as_str());
    }
    // Two generated ids differ.
    let a = app.user("alice").profile().await.ok();
    let b = app.user("alice").profile().await.ok();
    assert_ne!(a.body["request_id"], b.body["request_id"]);
}

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
