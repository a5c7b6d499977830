//! The shortest life cycle: a room started, a member joined.

use crate::harness::TestApp;

#[tokio::test]
async fn life_cycle_smoke() {
    let app = TestApp::start().await;
    let id = app.live_room("alice", "hello").await;
    let room = app.join("bob", &id).await;
    assert_eq!(room["online_count"], 2);
}
