//! Racing joins and leaves of the same users across rooms (on the Cluster, ordered
//! steps on three masters): every presence change is recorded once, so each member's
//! events in each room alternate joined / left and the last one matches whether the
//! member is present at the end.

use std::collections::HashMap;

use super::events;
use crate::harness::TestApp;

#[tokio::test]
async fn racing_joins_and_leaves_keep_each_members_events_alternating() {
    let app = TestApp::start().await;
    let mut rooms = Vec::new();
    for i in 0..3 {
        rooms.push(app.create_room("anchor", &format!("race {i}")).await);
    }
    let users: Vec<String> = (0..6).map(|i| format!("racer{i}")).collect();
    for round in 0..4 {
        let mut calls = Vec::new();
        for (u, user) in users.iter().enumerate() {
            for (r, room) in rooms.iter().enumerate() {
                // Mostly joins; one in four of a user's calls a leave.
                let method = if (u + r + round) % 4 == 0 {
                    "DELETE"
                } else {
                    "POST"
                };
                let path = format!("/client/live/room/user/{room}");
                calls.push((method, path, app.token(user)));
            }
        }
        let calls = calls
            .iter()
            .map(|(method, path, token)| app.call(method, path, Some(token), None));
        for reply in futures::future::join_all(calls).await {
            assert!(
                reply.status == 200 || reply.code() == 40401,
                "{:?}",
                reply.body
            );
        }
    }
    for room in &rooms {
        let mut last: HashMap<String, String> = HashMap::new();
        for e in events(&app, room).await {
            let Some(user) = e.user.as_ref().map(|u| u.user_id.clone()) else {
                continue;
            };
            let before = last.get(&user).cloned();
            match e.event.as_str() {
                "member_joined" => assert_ne!(
                    before.as_deref(),
                    Some("member_joined"),
                    "{user} joined {room} twice in a row"
                ),
                "member_left" => {
                    assert_eq!(
                        before.as_deref(),
                        Some("member_joined"),
                        "{user} left {room} without having joined"
                    );
                    let reason = e.reason.as_deref().unwrap_or_default();
                    assert!(["leave", "switched"].contains(&reason), "{e:?}");
                }
                other => panic!("unexpected {other} in {room}"),
            }
            last.insert(user, e.event.clone());
        }
        let presence = app.store.keys().room(room).presence;
        for user in &users {
            let present: Option<f64> = app.redis_cmd(&["ZSCORE", &presence, user]).await;
            assert_eq!(
                present.is_some(),
                last.get(user).map(String::as_str) == Some("member_joined"),
                "{user} in {room}: present {present:?}, last event {:?}",
                last.get(user)
            );
        }
    }
}
