//! SRS's HTTP hooks, called with requests in SRS's documented JSON shape
//! (`action`, `client_id`, `ip`, `vhost`, `app`, `stream`, `param`, `server_id`):
//! `code` 0 accepts, any other code refuses; `on_hls` renews; `on_unpublish` starts
//! the anchor's absence. Also: the hooks off or a wrong secret refuse everything, and
//! `LIVEROOM_MEDIA_PUBLISH_STARTS_ROOM` lets a publish start a created room.

use std::time::Duration;

use serde_json::{Value, json};

use super::{HOOK_SECRET, PUBLISH_KEY, signed_url};
use crate::events::events;
use crate::harness::{Reply, TestApp};

const PUBLISH_URL: &str = "rtmp://127.0.0.1:1935/live";

async fn app_with(starts_room: bool, secret: Option<&str>) -> TestApp {
    let secret = secret.map(str::to_owned);
    TestApp::init()
        .with_member_timeout(Duration::from_secs(2))
        .with_config(move |c| {
            c.media_hook_secret = secret;
            c.media_publish_starts_room = starts_room;
            c.publish_url = PUBLISH_URL.into();
            c.publish_key = PUBLISH_KEY.into();
        })
        .spawn()
        .await
}

/// An SRS hook call in its documented shape (v5).
async fn hook(app: &TestApp, secret: &str, action: &str, client: &str, url: &str) -> Reply {
    let (path, param) = url.split_once('?').unwrap_or((url, ""));
    let stream = path.rsplit('/').next().unwrap();
    let body = json!({
        "server_id": "vid-0xk989d",
        "action": action,
        "client_id": client,
        "ip": "127.0.0.1",
        "vhost": "__defaultVhost__",
        "app": "live",
        "tcUrl": "rtmp://127.0.0.1:1935/live",
        "stream": stream,
        "param": format!("?{param}"),
        "stream_url": format!("/live/{stream}"),
        "stream_id": "vid-124q9y3",
    });
    app.call_raw(
        "POST",
        &format!("/media/srs?secret={secret}"),
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await
}

#[track_caller]
fn code(reply: &Reply) -> i64 {
    assert_eq!(
        reply.status, 200,
        "SRS reads HTTP 200 and code: {}",
        reply.body
    );
    reply.code()
}

#[tokio::test]
async fn srs_hooks_accept_the_anchors_url_renew_and_stop() {
    let app = app_with(false, Some(HOOK_SECRET)).await;
    let live_id = app.live_room("alice", "srs show").await;
    let url = app.info("alice", &live_id).await["push_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.info("bob", &live_id).await["stream_status"], 0);

    assert_eq!(
        code(&hook(&app, HOOK_SECRET, "on_publish", "c1", &url).await),
        0
    );
    assert_eq!(app.info("bob", &live_id).await["stream_status"], 1);
    // A second client is refused, and writes nothing.
    let events_before = events(&app, &live_id).await.len();
    let busy = hook(&app, HOOK_SECRET, "on_publish", "c2", &url).await;
    assert_eq!(code(&busy), 40300);
    assert!(
        busy.body["message"]
            .as_str()
            .unwrap()
            .contains("another stream")
    );
    assert_eq!(events(&app, &live_id).await.len(), events_before);
    // A wrong secret, a tampered token: refused.
    assert_ne!(
        code(&hook(&app, "wrong-secret-0123456789", "on_publish", "c1", &url).await),
        0
    );
    let tampered = url.replace("token=", "token=A");
    assert_eq!(
        code(&hook(&app, HOOK_SECRET, "on_publish", "c3", &tampered).await),
        40300
    );

    // on_hls renews past the member timeout (2 s) with no heartbeat.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert_eq!(
            code(&hook(&app, HOOK_SECRET, "on_hls", "c1", &url).await),
            0
        );
    }
    let room = app.info("bob", &live_id).await;
    assert_eq!(
        (&room["stream_status"], &room["anchor_status"]),
        (&1.into(), &1.into())
    );

    // Another client's unpublish changes nothing; the publisher's stops the stream.
    assert_eq!(
        code(&hook(&app, HOOK_SECRET, "on_unpublish", "c2", &url).await),
        0
    );
    assert_eq!(app.info("bob", &live_id).await["stream_status"], 1);
    assert_eq!(
        code(&hook(&app, HOOK_SECRET, "on_unpublish", "c1", &url).await),
        0
    );
    let room = app.info("bob", &live_id).await;
    assert_eq!(
        (&room["stream_status"], &room["anchor_status"]),
        (&0.into(), &0.into())
    );
    let names: Vec<String> = events(&app, &live_id)
        .await
        .into_iter()
        .map(|e| format!("{}:{}", e.event, e.reason.unwrap_or_default()))
        .collect();
    assert_eq!(
        names,
        [
            "room_created:",
            "room_started:",
            "member_joined:",
            "stream_started:",
            "stream_stopped:",
            "member_left:stream_stopped",
            "anchor_offline:",
        ]
    );
    // A new stream after the stop is accepted (the anchor back online).
    assert_eq!(
        code(&hook(&app, HOOK_SECRET, "on_publish", "c4", &url).await),
        0
    );
    assert_eq!(app.info("bob", &live_id).await["anchor_status"], 1);
}

#[tokio::test]
async fn a_stream_whose_media_server_went_silent_reads_as_not_publishing() {
    let app = app_with(false, Some(HOOK_SECRET)).await;
    let live_id = app.live_room("alice", "silent").await;
    let url = app.info("alice", &live_id).await["push_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        code(&hook(&app, HOOK_SECRET, "on_publish", "c1", &url).await),
        0
    );
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let room = app.info("bob", &live_id).await;
    assert_eq!(
        (&room["stream_status"], &room["anchor_status"]),
        (&0.into(), &0.into())
    );
    // Its mark is stale: another client may publish now.
    assert_eq!(
        code(&hook(&app, HOOK_SECRET, "on_publish", "c2", &url).await),
        0
    );
}

#[tokio::test]
async fn rooms_not_live_are_refused_unless_publishing_starts_them() {
    let app = app_with(false, Some(HOOK_SECRET)).await;
    let created = app.create_room("alice", "later").await;
    let url = signed_url(PUBLISH_URL, &created, 0);
    let before = app.key_count().await;
    let refused = hook(&app, HOOK_SECRET, "on_publish", "c1", &url).await;
    assert_eq!(code(&refused), 40300);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("not live")
    );
    assert_eq!(app.key_count().await, before, "a refusal writes nothing");
    assert_eq!(app.info("bob", &created).await["live_status"], 0);

    let starting = app_with(true, Some(HOOK_SECRET)).await;
    let created = starting.create_room("alice", "go").await;
    let url = signed_url(PUBLISH_URL, &created, 0);
    assert_eq!(
        code(&hook(&starting, HOOK_SECRET, "on_publish", "c1", &url).await),
        0
    );
    let room = starting.info("bob", &created).await;
    assert_eq!(
        (
            &room["live_status"],
            &room["stream_status"],
            &room["anchor_status"]
        ),
        (&1.into(), &1.into(), &1.into())
    );
    let names: Vec<String> = events(&starting, &created)
        .await
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        names,
        [
            "room_created",
            "room_started",
            "member_joined",
            "stream_started"
        ]
    );
}

#[tokio::test]
async fn hooks_refuse_everything_when_off_or_without_the_secret() {
    let off = app_with(false, None).await;
    let live_id = off.live_room("alice", "off").await;
    let url = off.info("alice", &live_id).await["push_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = hook(&off, HOOK_SECRET, "on_publish", "c1", &url).await;
    assert_eq!(code(&reply), 40300);
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .contains("LIVEROOM_MEDIA_HOOK_SECRET")
    );
    let form = format!("call=publish&name={live_id}&app=live&clientid=1&addr=127.0.0.1");
    let nginx = off
        .call_raw(
            "POST",
            &format!("/media/nginx-rtmp?secret={HOOK_SECRET}"),
            &[("content-type", "application/x-www-form-urlencoded")],
            form.clone().into_bytes(),
        )
        .await;
    nginx.expect(403, 40300);

    let on = app_with(false, Some(HOOK_SECRET)).await;
    for query in ["", "?secret=", "?secret=media-hook-secret-0123456788"] {
        let reply = on
            .call_raw(
                "POST",
                &format!("/media/nginx-rtmp{query}"),
                &[("content-type", "application/x-www-form-urlencoded")],
                form.clone().into_bytes(),
            )
            .await;
        reply.expect(403, 40300);
        assert_eq!(
            reply.body["message"],
            "media hook secret is missing or wrong"
        );
    }
    // A form without its call is 400; a play is not gated.
    on.call_raw(
        "POST",
        &format!("/media/nginx-rtmp?secret={HOOK_SECRET}"),
        &[("content-type", "application/x-www-form-urlencoded")],
        b"name=x".to_vec(),
    )
    .await
    .expect(400, 40000);
    let play: Value = on
        .call_raw(
            "POST",
            &format!("/media/nginx-rtmp?secret={HOOK_SECRET}"),
            &[("content-type", "application/x-www-form-urlencoded")],
            b"call=play&name=x&clientid=3".to_vec(),
        )
        .await
        .ok()
        .body;
    assert_eq!(play["code"], 0);
}

/// With webhooks on (default selection `room,anchor`), a stream's events reach the
/// receiver in order with the room's others, on one Redis and on the Cluster (where
/// the store marks the room due before each stream script).
#[tokio::test]
async fn stream_events_are_delivered_as_webhooks() {
    use crate::webhooks::{accepted_for, assert_in_order, hooks, stream, wait_accepted};
    let receiver = liveroom_testkit::WebhookReceiver::start().unwrap();
    let app = TestApp::init()
        .with_config(|c| {
            let events = c.webhooks.events.clone(); // the default, `room,anchor`
            hooks(c, &[receiver.url()], &events);
            c.media_hook_secret = Some(HOOK_SECRET.into());
            c.publish_url = PUBLISH_URL.into();
            c.publish_key = PUBLISH_KEY.into();
        })
        .spawn()
        .await;
    let live_id = app.live_room("alice", "hooked").await;
    let url = signed_url(PUBLISH_URL, &live_id, 0);
    assert_eq!(
        code(&hook(&app, HOOK_SECRET, "on_publish", "c1", &url).await),
        0
    );
    assert_eq!(
        code(&hook(&app, HOOK_SECRET, "on_unpublish", "c1", &url).await),
        0
    );
    let want: Vec<_> = stream(&app.store, &live_id)
        .await
        .into_iter()
        .filter(|e| !e.event.starts_with("member_"))
        .collect();
    let names: Vec<&str> = want.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "room_created",
            "room_started",
            "stream_started",
            "stream_stopped",
            "anchor_offline"
        ]
    );
    assert!(
        wait_accepted(&receiver, &live_id, want.len(), Duration::from_secs(20)).await,
        "delivered {:?}",
        accepted_for(&receiver, &live_id)
    );
    assert_in_order(&accepted_for(&receiver, &live_id), &want);
}
