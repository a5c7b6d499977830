//! nginx-rtmp's hook form posted as nginx-rtmp posts it (its fields, then the
//! publisher's query arguments), to an in-process service: publishers through two
//! media servers never pass for one another, and of two publishes racing into one
//! room exactly one wins.

use std::time::Duration;

use super::{HOOK_SECRET, PUBLISH_KEY};
use crate::harness::{Reply, TestApp};

const PUBLISH_URL: &str = "rtmp://127.0.0.1:1935/live";

async fn app() -> TestApp {
    TestApp::init()
        .with_member_timeout(Duration::from_secs(5))
        .with_config(|c| {
            c.media_hook_secret = Some(HOOK_SECRET.into());
            c.publish_url = PUBLISH_URL.into();
            c.publish_key = PUBLISH_KEY.into();
        })
        .spawn()
        .await
}

/// One nginx-rtmp hook call: `call` for stream `url` (a push URL) from connection
/// `clientid` at `addr`, through the hook URL with `extra` appended to its query.
async fn hook(
    app: &TestApp,
    extra: &str,
    call: &str,
    clientid: u32,
    addr: &str,
    url: &str,
) -> Reply {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let name = path.rsplit('/').next().unwrap();
    let form = format!(
        "app=live&flashver=FMLE/3.0&swfurl=&tcurl=rtmp://127.0.0.1:1935/live&pageurl=\
         &addr={addr}&clientid={clientid}&call={call}&name={name}&type=live&{query}"
    );
    app.call_raw(
        "POST",
        &format!("/media/nginx-rtmp?secret={HOOK_SECRET}{extra}"),
        &[("content-type", "application/x-www-form-urlencoded")],
        form.into_bytes(),
    )
    .await
}

/// nginx numbers its connections from 1 on every server: the first publisher on
/// each of two nginx-rtmp has the same `clientid`. The second must still be busy,
/// told apart by its address or by the hook URL's `server` name; its stop changes
/// nothing.
#[tokio::test]
async fn publishers_through_two_nginx_rtmp_with_the_same_clientid_are_two_streams() {
    let app = app().await;
    let live_id = app.live_room("alice", "two servers").await;
    let url = app.info("alice", &live_id).await["push_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = hook(&app, "&server=a", "publish", 7, "10.0.0.1", &url).await;
    assert_eq!(first.status, 200, "{}", first.body);
    // Another address, and the same address through another named server.
    for (extra, addr) in [("&server=b", "10.0.0.2"), ("&server=b", "10.0.0.1")] {
        let second = hook(&app, extra, "publish", 7, addr, &url).await;
        assert_eq!(second.status, 403, "{extra} {addr}: {}", second.body);
        assert!(
            second.body["message"]
                .as_str()
                .unwrap()
                .contains("another stream"),
            "{}",
            second.body
        );
        // Its stop is not the recorded stream's.
        let done = hook(&app, extra, "publish_done", 7, addr, &url).await;
        assert_eq!(done.status, 200);
        assert_eq!(app.info("bob", &live_id).await["stream_status"], 1);
    }
    // The first one renews and stops as before.
    assert_eq!(
        hook(&app, "&server=a", "update_publish", 7, "10.0.0.1", &url)
            .await
            .status,
        200
    );
    assert_eq!(
        hook(&app, "&server=a", "publish_done", 7, "10.0.0.1", &url)
            .await
            .status,
        200
    );
    let room = app.info("bob", &live_id).await;
    assert_eq!(
        (&room["stream_status"], &room["anchor_status"]),
        (&0.into(), &0.into())
    );
}

/// Two encoders publish into one room at the same moment, many times over: exactly
/// one is accepted each time, the other is `busy`.
#[tokio::test]
async fn of_two_racing_publishes_exactly_one_wins() {
    let app = app().await;
    for round in 0..20u32 {
        let live_id = app.live_room("alice", "race").await;
        let url = app.info("alice", &live_id).await["push_url"]
            .as_str()
            .unwrap()
            .to_owned();
        let (a, b) = tokio::join!(
            hook(&app, "", "publish", 2 * round + 1, "10.0.0.1", &url),
            hook(&app, "", "publish", 2 * round + 2, "10.0.0.2", &url),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 403], "round {round}: {} {}", a.body, b.body);
        assert_eq!(app.info("bob", &live_id).await["stream_status"], 1);
    }
}

/// A hook form over the 64 KiB body limit is 413 naming the limit, not a form read
/// as empty ("call is required"); nothing is written.
#[tokio::test]
async fn an_oversized_hook_form_is_413() {
    let app = app().await;
    let mut form = b"call=publish&name=live_x&clientid=1&pad=".to_vec();
    form.resize(100 * 1024, b'a');
    let reply = app
        .call_raw(
            "POST",
            &format!("/media/nginx-rtmp?secret={HOOK_SECRET}"),
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(
        reply.body["message"].as_str().unwrap().contains("65536"),
        "{}",
        reply.body
    );
}
