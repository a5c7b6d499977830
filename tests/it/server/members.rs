//! `GET /server/live/room/user_list` (`src/routes/server/members.rs`).

use super::{as_server, server_app};
use crate::harness::api::{assert_ok_with_data, assert_page_shape, ids, tick};

#[tokio::test]
async fn members_of_any_room_oldest_first() {
    let app = server_app().await;
    let id = app.live_room("alice", "crowd").await;
    for viewer in ["v1", "v2", "v3"] {
        tick().await;
        app.join(viewer, &id).await;
    }
    let r = as_server(
        &app,
        "GET",
        &format!("/server/live/room/user_list?live_id={id}&page_size=100"),
        None,
    )
    .await;
    assert_ok_with_data(&r);
    assert_eq!(
        ids(assert_page_shape(r.data())),
        ["alice", "v1", "v2", "v3"]
    );
    let r = as_server(
        &app,
        "GET",
        &format!("/server/live/room/user_list?live_id={id}&page_size=2"),
        None,
    )
    .await
    .ok();
    assert_eq!(ids(assert_page_shape(r.data())), ["alice", "v1"]);
    let cursor = r.data()["next_cursor"].as_str().unwrap().to_owned();
    let r = as_server(
        &app,
        "GET",
        &format!("/server/live/room/user_list?live_id={id}&page_size=2&cursor={cursor}"),
        None,
    )
    .await
    .ok();
    assert_eq!(ids(assert_page_shape(r.data())), ["v2", "v3"]);
    as_server(&app, "GET", "/server/live/room/user_list", None)
        .await
        .expect(400, 40000);
    as_server(
        &app,
        "GET",
        "/server/live/room/user_list?live_id=a%7Db",
        None,
    )
    .await
    .expect(400, 40000);
    as_server(
        &app,
        "GET",
        "/server/live/room/user_list?live_id=live_00000000000000000000",
        None,
    )
    .await
    .expect(404, 40400);
}
