//! nginx-rtmp wired to a `liveroom serve` replica, ffmpeg publishing: the anchor's
//! own push URL is accepted and its stream keeps it present with no heartbeat;
//! every bad publish is refused (ffmpeg fails) and counted by reason; stopping the
//! encoder sets the anchor offline and, after the close-after, ends the room.

use std::time::Duration;

use liveroom::events::RoomEvent;

use super::{HOOK_SECRET, NginxRtmp, PUBLISH_KEY, Push, refused, signed_url};
use crate::harness::replicas::{cmd, store_for, wait_until};
use crate::harness::{Replica, TestRedis, call_at, live_room_at, token_for};
use crate::sse::metrics_of;

/// The room's info as `user` sees it on the replica at `base`.
async fn info(base: &str, user: &str, live_id: &str) -> serde_json::Value {
    call_at(
        base,
        "GET",
        &format!("/client/live/room/info/{live_id}"),
        &token_for(user),
    )
    .await
    .ok()
    .data()
    .clone()
}

/// A publish that must be refused: ffmpeg exits non-zero within a few seconds.
#[track_caller]
fn assert_refused(url: &str, what: &str) -> String {
    let mut push = Push::start(url);
    match push.wait_exit(Duration::from_secs(10)) {
        Some((false, err)) => err,
        Some((true, err)) => panic!("{what}: ffmpeg succeeded: {err}"),
        None => panic!("{what}: the publish was accepted (ffmpeg still runs)"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_rtmp_enforces_the_push_url_and_the_stream_is_the_anchors_presence() {
    let redis = TestRedis::new();
    let rtmp_port = NginxRtmp::reserve_port();
    let publish_url = format!("rtmp://127.0.0.1:{rtmp_port}/live");
    let replica = Replica::start(
        "media-1",
        &redis,
        &[
            ("LIVEROOM_MEMBER_TIMEOUT", "3s"),
            ("LIVEROOM_HEARTBEAT_INTERVAL", "1s"),
            ("LIVEROOM_ANCHOR_CLOSE_AFTER", "2s"),
            ("LIVEROOM_LEASE_TTL", "1s"),
            ("LIVEROOM_REAPER_INTERVAL", "200ms"),
            ("LIVEROOM_MEDIA_HOOK_SECRET", HOOK_SECRET),
            ("LIVEROOM_PUBLISH_URL", &publish_url),
            ("LIVEROOM_PUBLISH_KEY", PUBLISH_KEY),
            ("RUST_LOG", "info"),
        ],
    )
    .await;
    let base = replica.base.clone();
    let hooks = format!("{base}/media/nginx-rtmp?secret={HOOK_SECRET}");
    let _nginx = NginxRtmp::start(rtmp_port, &hooks, "1s");

    let live_id = live_room_at(&base, "alice", "on air").await;
    let push_url = info(&base, "alice", &live_id).await["push_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(push_url.starts_with(&format!("{publish_url}/{live_id}?expire=")));

    // The anchor's own push URL is accepted at once: publishing, the anchor present.
    let mut push = Push::start(&push_url);
    let publishing = wait_until(Duration::from_secs(10), || async {
        info(&base, "bob", &live_id).await["stream_status"] == 1
    })
    .await;
    assert!(publishing, "{}", info(&base, "bob", &live_id).await);
    assert_eq!(info(&base, "bob", &live_id).await["anchor_status"], 1);
    assert!(push.running(), "ffmpeg publishes");

    // Refused, each for its reason: a second publisher to the room, a tampered
    // token, an expired URL, an unknown room, an ended room.
    assert_refused(&push_url, "second publisher");
    let token_at = push_url.find("token=").unwrap() + "token=".len();
    let mut tampered = push_url.clone();
    let flipped = if &push_url[token_at..=token_at] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(token_at..=token_at, flipped);
    let err = assert_refused(&tampered, "tampered token");
    assert!(!err.is_empty(), "ffmpeg says why it failed");
    let past = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 60) as i64;
    assert_refused(&signed_url(&publish_url, &live_id, past), "expired URL");
    assert_refused(
        &signed_url(&publish_url, "live_nosuchroom", 0),
        "unknown room",
    );
    let ended = live_room_at(&base, "bob", "over").await;
    call_at(
        &base,
        "POST",
        &format!("/client/live/room/{ended}"),
        &token_for("bob"),
    )
    .await
    .ok();
    assert_refused(&signed_url(&publish_url, &ended, 0), "ended room");
    assert!(push.running(), "the accepted stream still publishes");

    // No heartbeat for longer than the member timeout: still present (on_update).
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let room = info(&base, "bob", &live_id).await;
    assert_eq!(
        (
            &room["stream_status"],
            &room["anchor_status"],
            &room["online_count"],
            &room["live_status"]
        ),
        (&1.into(), &1.into(), &1.into(), &1.into()),
        "{room}"
    );
    let live_list = call_at(
        &base,
        "GET",
        "/client/live/room/list?page_size=100",
        &token_for("carol"),
    )
    .await
    .ok();
    let listed = live_list.data()["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["live_id"] == live_id.as_str())
        .cloned()
        .expect("the live room is listed");
    assert_eq!(listed["stream_status"], 1);

    let metrics = metrics_of(&base).await;
    for reason in ["signature", "expired", "unknown_room", "room_ended", "busy"] {
        assert_eq!(refused(&metrics, reason), 1.0, "refusals for {reason}");
    }
    assert_eq!(
        super::metric(
            &metrics,
            "liveroom_media_publish_accepted_total{call=\"publish\"}"
        ),
        1.0
    );
    assert!(
        super::metric(
            &metrics,
            "liveroom_media_publish_accepted_total{call=\"renew\"}"
        ) >= 2.0,
        "on_update renewed the stream"
    );

    // The encoder stops: offline at once, the room ends after the close-after.
    push.stop();
    let offline = wait_until(Duration::from_secs(5), || async {
        let room = info(&base, "bob", &live_id).await;
        room["stream_status"] == 0 && room["anchor_status"] == 0
    })
    .await;
    assert!(offline, "{}", info(&base, "bob", &live_id).await);
    let ended_now = wait_until(Duration::from_secs(10), || async {
        info(&base, "bob", &live_id).await["live_status"] == 2
    })
    .await;
    assert!(ended_now, "the room ends after the close-after");

    let store = store_for(&redis).await;
    let key = store.keys().room(&live_id).events;
    let entries: Vec<(String, Vec<(String, String)>)> =
        cmd(&store, &["XRANGE", &key, "-", "+"]).await;
    let names: Vec<String> = entries
        .iter()
        .map(|(id, fields)| RoomEvent::from_entry(id, fields).event)
        .collect();
    let tail: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .skip_while(|e| *e != "stream_started")
        .collect();
    assert_eq!(
        tail,
        [
            "stream_started",
            "stream_stopped",
            "member_left",
            "anchor_offline",
            "room_stopped",
        ],
        "{names:?}"
    );
    let stopped = RoomEvent::from_entry(&entries.last().unwrap().0, &entries.last().unwrap().1);
    assert_eq!(stopped.reason.as_deref(), Some("anchor_timeout"));

    // Neither the hook secret nor a push token is ever logged.
    let port = base.rsplit(':').next().unwrap();
    let log = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("replica-media-1-{}-{port}.log", std::process::id()));
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("media: publish refused") && log.contains("\"reason\":\"busy\""));
    let token = &push_url[push_url.find("token=").unwrap() + "token=".len()..];
    assert!(
        !log.contains(HOOK_SECRET) && !log.contains(token),
        "a secret in the log"
    );
}

/// A media server killed without calling back: its stream stops renewing, so the
/// anchor's presence runs out one member timeout later like a lost heartbeat, and the
/// room's stream no longer blocks a publish through another media server. Once the
/// room is stopped, that stream's next renewal is refused and nginx drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_server_that_dies_stops_counting_after_the_member_timeout() {
    let redis = TestRedis::new();
    let first_port = NginxRtmp::reserve_port();
    let publish_url = format!("rtmp://127.0.0.1:{first_port}/live");
    let replica = Replica::start(
        "media-2",
        &redis,
        &[
            ("LIVEROOM_MEMBER_TIMEOUT", "2s"),
            ("LIVEROOM_LEASE_TTL", "1s"),
            ("LIVEROOM_REAPER_INTERVAL", "200ms"),
            ("LIVEROOM_MEDIA_HOOK_SECRET", HOOK_SECRET),
            ("LIVEROOM_PUBLISH_URL", &publish_url),
            ("LIVEROOM_PUBLISH_KEY", PUBLISH_KEY),
        ],
    )
    .await;
    let base = replica.base.clone();
    let hooks = format!("{base}/media/nginx-rtmp?secret={HOOK_SECRET}");
    let nginx = NginxRtmp::start(first_port, &hooks, "500ms");
    let live_id = live_room_at(&base, "alice", "fragile").await;
    let push_url = info(&base, "alice", &live_id).await["push_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut push = Push::start(&push_url);
    assert!(
        wait_until(Duration::from_secs(10), || async {
            info(&base, "bob", &live_id).await["stream_status"] == 1
        })
        .await
    );

    drop(nginx); // SIGKILL: no on_publish_done
    let lapsed = wait_until(Duration::from_secs(6), || async {
        let room = info(&base, "bob", &live_id).await;
        room["stream_status"] == 0 && room["anchor_status"] == 0
    })
    .await;
    assert!(lapsed, "{}", info(&base, "bob", &live_id).await);
    push.stop();

    // The same signed URL through another media server (the signature covers the
    // path, not the host): accepted, the stream counts again.
    let second_port = NginxRtmp::reserve_port();
    let _second = NginxRtmp::start(second_port, &hooks, "500ms");
    let moved = push_url.replace(&format!(":{first_port}/"), &format!(":{second_port}/"));
    let mut again = Push::start(&moved);
    assert!(
        wait_until(Duration::from_secs(10), || async {
            let room = info(&base, "bob", &live_id).await;
            room["stream_status"] == 1 && room["anchor_status"] == 1
        })
        .await,
        "{}",
        info(&base, "bob", &live_id).await
    );
    assert!(again.running());

    // The anchor stops the room from the app: the next renewal is refused and
    // nginx-rtmp drops the stream.
    call_at(
        &base,
        "POST",
        &format!("/client/live/room/{live_id}"),
        &token_for("alice"),
    )
    .await
    .ok();
    assert!(
        again.wait_exit(Duration::from_secs(5)).is_some(),
        "the stream of an ended room is dropped"
    );
    let metrics = metrics_of(&base).await;
    assert_eq!(refused(&metrics, "room_ended"), 1.0);
}
