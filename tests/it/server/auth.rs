//! Server tokens (SPEC §11): each bad token 401 naming why, key rotation across
//! replica processes, user / server token separation both ways, the start-up check
//! of `LIVEROOM_SERVER_KEYS` and `liveroom server-token`.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{KEY1, KEY2, both_keys, server_app, server_token};
use crate::errors::snapshot;
use crate::harness::{Replica, TestApp, TestRedis, call_at};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn signed(claims: Value, secret: &str) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

fn claims(iss: &str, iat: Option<u64>, exp: Option<u64>) -> Value {
    let mut c = json!({"iss": iss, "token_use": "server"});
    if let Some(iat) = iat {
        c["iat"] = iat.into();
    }
    if let Some(exp) = exp {
        c["exp"] = exp.into();
    }
    c
}

const LIST: &str = "/server/live/room/list";

#[tokio::test]
async fn each_bad_server_token_is_401_naming_why_and_writes_nothing() {
    let app = server_app().await;
    let live_id = app.live_room("alice", "guarded").await;
    let t = now();
    let cases: Vec<(&str, String, i64, &str)> = vec![
        (
            "unknown key id",
            signed(claims("backend-gone", Some(t), Some(t + 60)), KEY1.1),
            40100,
            "server token iss is not a configured server key id",
        ),
        (
            "bad signature",
            signed(claims(KEY1.0, Some(t), Some(t + 60)), KEY2.1),
            40100,
            "token signature is invalid",
        ),
        (
            "expired",
            signed(claims(KEY1.0, Some(t - 700), Some(t - 120)), KEY1.1),
            40101,
            "token expired",
        ),
        (
            "iat in the future",
            signed(claims(KEY1.0, Some(t + 300), Some(t + 600)), KEY1.1),
            40100,
            "server token iat is in the future",
        ),
        (
            "no exp",
            signed(claims(KEY1.0, Some(t), None), KEY1.1),
            40100,
            "token has no exp",
        ),
        (
            "no iat",
            signed(claims(KEY1.0, None, Some(t + 60)), KEY1.1),
            40100,
            "server token has no iat",
        ),
        (
            "exp too far",
            signed(claims(KEY1.0, Some(t), Some(t + 3600)), KEY1.1),
            40100,
            "server token exp must be at most 10 minutes after its iat",
        ),
        (
            "no token_use",
            signed(json!({"iss": KEY1.0, "iat": t, "exp": t + 60}), KEY1.1),
            40100,
            "not a server token",
        ),
        (
            "RS256 header",
            {
                let token = signed(claims(KEY1.0, Some(t), Some(t + 60)), KEY1.1);
                let (_, rest) = token.split_once('.').unwrap();
                format!(
                    "{}.{rest}",
                    crate::errors::b64url(br#"{"alg":"RS256","typ":"JWT"}"#)
                )
            },
            40100,
            "server token algorithm must be HS256",
        ),
    ];
    let before = snapshot(&app).await;
    for (name, token, code, message) in cases {
        for (method, path, body) in [
            ("GET", LIST.to_owned(), None),
            (
                "POST",
                format!("/server/live/room/stop/{live_id}"),
                Some(json!({"reason": "x"})),
            ),
            (
                "DELETE",
                format!("/server/live/room/instance/{live_id}"),
                None,
            ),
        ] {
            let r = app.call(method, &path, Some(&token), body).await;
            r.expect(401, code);
            let got = r.body["message"].as_str().unwrap();
            assert!(got.contains(message), "{name}: {method} {path}: {got}");
            assert_eq!(r.headers["www-authenticate"], "Bearer", "{name}");
        }
    }
    assert!(
        before == snapshot(&app).await,
        "a refused request wrote to Redis"
    );
    // The room is still live: nothing was stopped or deleted.
    assert_eq!(app.info("bob", &live_id).await["live_status"], 1);
    // No header at all, and a service without server keys.
    app.call("GET", LIST, None, None).await.expect(401, 40100);
    let bare = TestApp::start().await;
    let r = bare
        .call("GET", LIST, Some(&server_token(KEY1)), None)
        .await;
    r.expect(401, 40100);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("LIVEROOM_SERVER_KEYS")
    );
}

#[tokio::test]
async fn user_and_server_tokens_are_not_interchangeable() {
    // Even with the server key's secret equal to the user tokens' secret and the key
    // id equal to the configured issuer, each side refuses the other's tokens.
    let app = TestApp::start_with(|c| {
        c.server_keys = Some(format!("{}:{}", "liveroom-iss", crate::harness::SECRET));
        c.jwt_issuer = Some("liveroom-iss".into());
    })
    .await;
    let minter =
        liveroom::auth::TokenMinter::hs256(crate::harness::SECRET, Some("liveroom-iss"), None)
            .unwrap();
    let user = minter
        .mint("alice", None, None, std::time::Duration::from_secs(300))
        .unwrap();
    let server = server_token(("liveroom-iss", crate::harness::SECRET));
    // Each on its own side works.
    app.call("GET", "/client/user/profile", Some(&user), None)
        .await
        .ok();
    app.call("GET", LIST, Some(&server), None).await.ok();
    // A user token on /server.
    let r = app.call("GET", LIST, Some(&user), None).await;
    r.expect(401, 40100);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("not a server token"),
        "{}",
        r.body
    );
    // A server token on /client (with a sub added, so only token_use tells them apart).
    let t = now();
    let server_with_sub = signed(
        json!({"iss": "liveroom-iss", "sub": "alice", "iat": t, "exp": t + 300, "token_use": "server"}),
        crate::harness::SECRET,
    );
    app.call("GET", LIST, Some(&server_with_sub), None)
        .await
        .ok();
    for token in [&server, &server_with_sub] {
        let r = app
            .call("GET", "/client/user/profile", Some(token), None)
            .await;
        r.expect(401, 40100);
        assert!(
            r.body["message"]
                .as_str()
                .unwrap()
                .contains("server token is not accepted"),
            "{}",
            r.body
        );
    }
    // The plain test user token on a server route of the usual app.
    let app = server_app().await;
    let r = app.call("GET", LIST, Some(&app.token("alice")), None).await;
    r.expect(401, 40100);
}

/// Two replica processes on one Redis: the old one with both keys, the new one with
/// only the second (the first removed after rotation).
#[tokio::test]
async fn keys_rotate_across_replicas() {
    let redis = TestRedis::new();
    let keys = both_keys();
    let rotated = format!("{}:{}", KEY2.0, KEY2.1);
    let old = Replica::start("rot-old", &redis, &[("LIVEROOM_SERVER_KEYS", &keys)]).await;
    let new = Replica::start("rot-new", &redis, &[("LIVEROOM_SERVER_KEYS", &rotated)]).await;
    let (t1, t2) = (server_token(KEY1), server_token(KEY2));
    call_at(&old.base, "GET", LIST, &t1).await.ok();
    call_at(&old.base, "GET", LIST, &t2).await.ok();
    call_at(&new.base, "GET", LIST, &t2).await.ok();
    let r = call_at(&new.base, "GET", LIST, &t1).await;
    r.expect(401, 40100);
    assert_eq!(
        r.body["message"],
        "server token iss is not a configured server key id"
    );
}

/// `LIVEROOM_SERVER_KEYS` is checked at start-up; errors name the setting.
#[test]
fn bad_server_keys_stop_the_start_naming_the_setting() {
    for (keys, expected) in [
        (":abcdefghijklmnopq", "empty key id"),
        ("k1:", "empty secret"),
        ("k1:abcdefghijklmnopq,k1:abcdefghijklmnopr", "appears twice"),
        ("k/1:abcdefghijklmnopq", "[A-Za-z0-9_.-]"),
        ("k1:short", "at least 16"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_liveroom"))
            .arg("serve")
            .env("LIVEROOM_SERVER_KEYS", keys)
            .env("LIVEROOM_LISTEN", "127.0.0.1:1")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{keys}: started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("LIVEROOM_SERVER_KEYS"), "{keys}: {err}");
        assert!(err.contains(expected), "{keys}: {err}");
    }
}

/// `liveroom server-token --key K` mints a token the service takes, from
/// `LIVEROOM_SERVER_KEYS` or `--secret`; an unknown key or a long ttl is refused.
#[tokio::test]
async fn the_server_token_command_mints_accepted_tokens() {
    let app = server_app().await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_liveroom"))
            .arg("server-token")
            .args(args)
            .env("LIVEROOM_SERVER_KEYS", both_keys())
            .output()
            .unwrap()
    };
    for args in [
        vec!["--key", KEY2.0],
        vec!["--key", KEY1.0, "--secret", KEY1.1, "--ttl", "5m"],
    ] {
        let out = run(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap();
        app.call("GET", LIST, Some(token.trim()), None).await.ok();
    }
    for (args, expected) in [
        (vec!["--key", "nope"], "not in LIVEROOM_SERVER_KEYS"),
        (vec!["--key", KEY1.0, "--ttl", "11m"], "10m"),
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

/// Every server route: no token and a user token are 401 with `WWW-Authenticate`.
#[tokio::test]
async fn every_server_route_wants_a_server_token() {
    let app = server_app().await;
    let id = "live_00000000000000000000";
    let routes = [
        ("GET", "/server/live/room/list".to_owned()),
        ("GET", format!("/server/live/room/info/{id}")),
        ("POST", "/server/live/room/instance".to_owned()),
        ("POST", format!("/server/live/room/stop/{id}")),
        ("DELETE", format!("/server/live/room/instance/{id}")),
        ("PUT", "/server/live/room/extends".to_owned()),
        ("GET", format!("/server/live/room/user_list?live_id={id}")),
        ("POST", "/server/auth/token".to_owned()),
    ];
    let user = app.token("alice");
    for (method, path) in &routes {
        for token in [None, Some(user.as_str())] {
            let r = app.call(method, path, token, Some(json!({}))).await;
            r.expect(401, 40100);
            assert_eq!(r.headers["www-authenticate"], "Bearer", "{method} {path}");
        }
    }
}
