//! `POST /server/auth/token` (`src/routes/server/tokens.rs`).

use serde_json::json;

use super::{as_server, server_app};
use crate::errors::snapshot;
use crate::harness::api::{assert_ok_with_data, key_set, now_secs, set_of};

#[tokio::test]
async fn minted_user_tokens_work_on_client_routes() {
    let app = server_app().await;
    let r = as_server(
        &app,
        "POST",
        "/server/auth/token",
        Some(json!({"user_id": "erin", "nick": "Erin", "ttl_seconds": 120})),
    )
    .await;
    assert_ok_with_data(&r);
    assert_eq!(
        key_set(r.data()),
        set_of(&["token", "user_id", "expires_at"])
    );
    assert_eq!(r.data()["user_id"], "erin");
    let expires = r.data()["expires_at"].as_i64().unwrap();
    assert!((expires - now_secs() - 120).abs() <= 2, "{expires}");
    let token = r.data()["token"].as_str().unwrap().to_owned();
    let profile = app
        .call("GET", "/client/user/profile", Some(&token), None)
        .await
        .ok();
    assert_eq!(profile.data()["user_id"], "erin");
    assert_eq!(profile.data()["nick"], "Erin");
    // …and not on the server routes.
    app.call("GET", "/server/live/room/list", Some(&token), None)
        .await
        .expect(401, 40100);
    // Default lifetime: 24 h.
    let r = as_server(
        &app,
        "POST",
        "/server/auth/token",
        Some(json!({"user_id": "fred"})),
    )
    .await
    .ok();
    assert!((r.data()["expires_at"].as_i64().unwrap() - now_secs() - 86400).abs() <= 2);
}

#[tokio::test]
async fn bad_mint_requests_name_the_field() {
    let app = server_app().await;
    let before = snapshot(&app).await;
    for (body, field) in [
        (json!({}), "user_id is required"),
        (json!({"user_id": "a b"}), "user_id"),
        (json!({"user_id": "x".repeat(65)}), "user_id"),
        (json!({"user_id": "u", "nick": "x".repeat(65)}), "nick"),
        (json!({"user_id": "u", "avatar": "nope"}), "avatar"),
        (json!({"user_id": "u", "ttl_seconds": 59}), "ttl_seconds"),
        (
            json!({"user_id": "u", "ttl_seconds": 604801}),
            "ttl_seconds",
        ),
        (json!({"user_id": "u", "ttl_seconds": -1}), "ttl_seconds"),
    ] {
        let r = as_server(&app, "POST", "/server/auth/token", Some(body.clone())).await;
        r.expect(400, 40000);
        assert!(
            r.body["message"].as_str().unwrap().contains(field),
            "{body}: {}",
            r.body
        );
    }
    assert!(before == snapshot(&app).await);
}
