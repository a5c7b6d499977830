//! `GET /client/user/profile` and `PUT /client/user/user`: a user's profile (SPEC §4).

use serde_json::json;

use crate::harness::TestApp;
use crate::harness::api::{assert_ok_with_data, assert_profile_shape};

#[tokio::test]
async fn profile_get_and_update() {
    let app = TestApp::start().await;
    let r = app.user("alice").profile().await;
    assert_ok_with_data(&r);
    let p = r.data().clone();
    assert_profile_shape(&p);
    assert_eq!(p["user_id"], "alice");
    assert_eq!(
        p["nick"], "nick-alice",
        "created from the token's nick claim"
    );
    assert_eq!(p["avatar"], "");
    assert_eq!(p["extends"], json!({}));
    let im = p["im_userid"].as_u64().unwrap();
    // Another user gets another im_userid; reading again keeps it.
    let bob = app.user("bob").profile().await.ok();
    assert_ne!(bob.data()["im_userid"].as_u64().unwrap(), im);
    assert_eq!(
        app.user("alice").profile().await.ok().data()["im_userid"],
        im
    );

    let r = app.user("alice").update_profile(json!({"nick": "Alice", "avatar": "https://img.example.com/a.png", "extends": {"x": "1", "y": "2"}}),
        )
        .await;
    assert_ok_with_data(&r);
    assert_profile_shape(r.data());
    assert_eq!(r.data()["nick"], "Alice");
    assert_eq!(r.data()["avatar"], "https://img.example.com/a.png");
    assert_eq!(r.data()["extends"], json!({"x": "1", "y": "2"}));
    assert_eq!(r.data()["im_userid"], im);
    // Partial update: only extends, merged; empty value removes; nick untouched.
    let r = app
        .user("alice")
        .update_profile(json!({"extends": {"x": "", "z": "3"}}))
        .await;
    assert_ok_with_data(&r);
    assert_eq!(r.data()["nick"], "Alice");
    assert_eq!(r.data()["extends"], json!({"y": "2", "z": "3"}));
    let p = app.user("alice").profile().await.ok();
    assert_eq!(p.data(), r.data());
    // The anchor_info of the anchor's rooms shows the updated profile.
    let id = app.create_room("alice", "profiled").await;
    let room = app.info("bob", &id).await;
    assert_eq!(room["anchor_info"], *p.data());
}
