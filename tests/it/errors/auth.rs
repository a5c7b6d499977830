//! Authentication: the token table, and issuer / audience when configured (SPEC §1).

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::errors::{b64url, envelope_problems, snapshot};
use crate::harness::{Reply, SECRET, TestApp};

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

/// A missing header, another scheme and an empty token each say what to send, and
/// every 401 names the scheme it takes (`WWW-Authenticate: Bearer`).
#[tokio::test]
async fn header_problems_have_their_own_messages_and_401s_say_bearer() {
    use liveroom::auth::{EMPTY_TOKEN, MISSING_HEADER, WRONG_SCHEME};
    let app = TestApp::start().await;
    let expired = sign(
        Algorithm::HS256,
        SECRET,
        &json!({"sub": "alice", "exp": unix_now() - 120}),
    );
    let cases = [
        ("missing", None, 40100, MISSING_HEADER),
        (
            "Basic",
            Some("Basic YWxpY2U6cHc=".to_owned()),
            40100,
            WRONG_SCHEME,
        ),
        (
            "Token scheme",
            Some("Token a.b.c".to_owned()),
            40100,
            WRONG_SCHEME,
        ),
        (
            "Bearer alone",
            Some("Bearer".to_owned()),
            40100,
            EMPTY_TOKEN,
        ),
        ("empty", Some(String::new()), 40100, EMPTY_TOKEN),
        (
            "garbage",
            Some("Bearer a.b.c".to_owned()),
            40100,
            "token is invalid",
        ),
        (
            "expired",
            Some(format!("Bearer {expired}")),
            40101,
            "token expired",
        ),
    ];
    for (name, authorization, code, message) in cases {
        let r = profile_with(&app, authorization.as_deref()).await;
        r.expect(401, code);
        assert_eq!(r.body["message"], message, "{name}");
        assert_eq!(
            r.headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "{name}"
        );
    }
    // Other refusals carry no challenge.
    let r = app.get("alice", "/client/live/room/info/live_0").await;
    assert!(!r.headers.contains_key("www-authenticate"), "{}", r.body);
}

/// `liveroom token` mints what a service with `LIVEROOM_JWT_ISSUER` / `_AUDIENCE`
/// accepts, from the same variables (before, such a service refused it: `token
/// issuer not accepted`).
#[tokio::test]
async fn liveroom_token_carries_the_configured_issuer_and_audience() {
    let app = TestApp::start_with(|c| {
        c.jwt_issuer = Some("me".into());
        c.jwt_audience = Some("app".into());
    })
    .await;
    let mint = |env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_liveroom"))
            .args(["token", "--user", "dora", "--nick", "Dora"])
            .env_remove("LIVEROOM_JWT_ISSUER")
            .env_remove("LIVEROOM_JWT_AUDIENCE")
            .env("LIVEROOM_JWT_SECRET", SECRET)
            .envs(env.iter().copied())
            .output()
            .expect("liveroom token");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let from_env = mint(&[
        ("LIVEROOM_JWT_ISSUER", "me"),
        ("LIVEROOM_JWT_AUDIENCE", "app"),
    ]);
    assert_accepted(
        &app,
        "from the environment",
        &format!("Bearer {from_env}"),
        "dora",
    )
    .await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .args([
            "token",
            "--user",
            "erin",
            "--issuer",
            "me",
            "--audience",
            "app",
        ])
        .env_remove("LIVEROOM_JWT_ISSUER")
        .env_remove("LIVEROOM_JWT_AUDIENCE")
        .env("LIVEROOM_JWT_SECRET", SECRET)
        .output()
        .expect("liveroom token");
    let from_flags = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_accepted(&app, "from the flags", &from_flags, "erin").await;
    // Without them, as `liveroom token` minted before: refused.
    let bare = mint(&[]);
    assert_refused(&app, "no iss / aud", Some(&bare), 40100).await;
}
