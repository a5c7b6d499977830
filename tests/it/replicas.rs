//! Presence across replicas: real `liveroom serve` processes against one
//! real `redis-server`.

use crate::harness::replicas::{cmd, store_for};
use crate::harness::{Replica, TestRedis, call_at, live_room_at, token_for};

#[tokio::test]
async fn join_a_and_b_at_the_same_instant_through_two_replicas_leaves_one_presence() {
    let redis = TestRedis::new();
    let store = store_for(&redis).await;
    // Nobody beats here: the members must outlast the 300 joins on a busy machine.
    let slow = [("LIVEROOM_MEMBER_TIMEOUT", "300s")];
    let r1 = Replica::start("r1", &redis, &slow).await;
    let r2 = Replica::start("r2", &redis, &slow).await;
    let a = live_room_at(&r1.base, "anchor_a", "replica test").await;
    let b = live_room_at(&r2.base, "anchor_b", "replica test").await;
    let (pa, pb) = (
        store.keys().room(&a).presence,
        store.keys().room(&b).presence,
    );
    let (join_a, join_b) = (
        format!("/client/live/room/user/{a}"),
        format!("/client/live/room/user/{b}"),
    );
    for i in 0..300 {
        let user = format!("u{i}");
        let t = token_for(&user);
        let (ja, jb) = tokio::join!(
            call_at(&r1.base, "POST", &join_a, &t),
            call_at(&r2.base, "POST", &join_b, &t),
        );
        ja.ok();
        jb.ok();
        let in_a = cmd::<Option<f64>>(&store, &["ZSCORE", &pa, &user])
            .await
            .is_some();
        let in_b = cmd::<Option<f64>>(&store, &["ZSCORE", &pb, &user])
            .await
            .is_some();
        assert!(
            in_a ^ in_b,
            "iteration {i}: user present in A={in_a} B={in_b}"
        );
        let pointer: String = cmd(&store, &["HGET", &store.keys().user(&user), "room"]).await;
        assert_eq!(pointer, if in_a { a.clone() } else { b.clone() });
    }
    let ia = call_at(
        &r1.base,
        "GET",
        &format!("/client/live/room/info/{a}"),
        &token_for("x"),
    )
    .await
    .ok();
    let ib = call_at(
        &r1.base,
        "GET",
        &format!("/client/live/room/info/{b}"),
        &token_for("x"),
    )
    .await
    .ok();
    // 300 users plus the two anchors, each in exactly one room.
    let total =
        ia.data()["online_count"].as_i64().unwrap() + ib.data()["online_count"].as_i64().unwrap();
    assert_eq!(total, 302);
}
