//! Receivers that fail: answering 500 for a while (retried, then delivered in order
//! with no gap), down past `LIVEROOM_WEBHOOK_MAX_AGE` (dead-lettered, counted in
//! `/metrics`, delivery moves on), slow (the API does not wait for them).

use std::time::{Duration, Instant};

use liveroom_testkit::WebhookReceiver;

use super::{
    accepted_for, assert_in_order, assert_signed, body, env_refs, hook_env, hooks, stream,
    wait_accepted,
};
use crate::harness::replicas::{cmd, store_for, wait_until};
use crate::harness::{Replica, TestApp, TestRedis, call_at, live_room_at, token_for};

#[tokio::test]
async fn a_receiver_answering_500_for_a_while_gets_every_event_in_order() {
    let receiver = WebhookReceiver::start().unwrap();
    receiver.answer_for(500, Duration::from_millis(1500));
    let app = TestApp::start_with(|c| hooks(c, &[receiver.url()], "all")).await;
    let id = app.create_room("alice", "flaky receiver").await;
    app.user("alice").start(&id).await.ok();
    app.join("bob", &id).await;
    app.user("bob").leave(&id).await.ok();
    app.user("alice").stop(&id).await.ok();
    let want = stream(&app.store, &id).await;
    assert!(
        wait_accepted(&receiver, &id, want.len(), Duration::from_secs(30)).await,
        "delivered {:?}",
        accepted_for(&receiver, &id)
    );
    let failed = receiver
        .deliveries()
        .iter()
        .filter(|d| d.status == 500)
        .count();
    assert!(failed >= 2, "the receiver failed only {failed} times");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_in_order(&accepted_for(&receiver, &id), &want);
    // Every attempt, failed or not, is signed the same way.
    assert_signed(&receiver.deliveries());
}

#[tokio::test]
async fn a_receiver_down_past_max_age_gets_dead_letters_counted_in_metrics() {
    let mut receiver = WebhookReceiver::start().unwrap();
    receiver.stop();
    let redis = TestRedis::new();
    let store = store_for(&redis).await;
    let mut env = hook_env(&[receiver.url()], "room");
    env.push(("LIVEROOM_WEBHOOK_MAX_AGE", "1s".into()));
    let replica = Replica::start("dead-letters", &redis, &env_refs(&env)).await;
    let id = live_room_at(&replica.base, "alice", "nobody listens").await;
    let created = stream(&store, &id).await;
    let dead_key = store.keys().webhook_dead_letters();
    type Entries = Vec<(String, Vec<(String, String)>)>;
    let lettered = wait_until(Duration::from_secs(20), || async {
        let entries: Entries = cmd(&store, &["XRANGE", &dead_key, "-", "+"]).await;
        entries.len() >= 2
    })
    .await;
    assert!(
        lettered,
        "room_created and room_started were not dead-lettered"
    );
    let entries: Entries = cmd(&store, &["XRANGE", &dead_key, "-", "+"]).await;
    for ((_, fields), event) in entries.iter().zip(&created) {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("dead letter without {name}: {fields:?}"))
        };
        assert_eq!(get("url"), receiver.url());
        assert_eq!(get("event_id"), event.id);
        assert_eq!(get("event"), event.event);
        assert_eq!(get("live_id"), id);
        assert_eq!(get("body"), body(event));
        assert!(get("attempts").parse::<u32>().unwrap() >= 1);
        assert!(get("error").contains("connect"), "{fields:?}");
        assert_eq!(get("created_at"), event.created_at.to_string());
    }
    let metrics = crate::harness::http()
        .get(format!("{}/metrics", replica.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(
        value("liveroom_webhook_dead_letters_total") >= 2.0,
        "{metrics}"
    );
    assert!(
        value("liveroom_webhook_deliveries_total{outcome=\"failed\"}") >= 2.0,
        "{metrics}"
    );
    // Delivery moved on: the receiver back, a new event arrives, the dead ones do not.
    receiver.restart().unwrap();
    let t = token_for("alice");
    call_at(
        &replica.base,
        "POST",
        &format!("/client/live/room/{id}"),
        &t,
    )
    .await
    .ok();
    assert!(wait_accepted(&receiver, &id, 1, Duration::from_secs(20)).await);
    let got = accepted_for(&receiver, &id);
    let stopped = stream(&store, &id).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, stopped.last().unwrap().id);
    assert!(got[0].1.contains("room_stopped"));
}

#[tokio::test]
async fn a_slow_receiver_never_slows_the_api() {
    let receiver = WebhookReceiver::start().unwrap();
    let delay = Duration::from_secs(5);
    receiver.delay_each(delay);
    let app = TestApp::start_with(|c| {
        hooks(c, &[receiver.url()], "all");
        c.webhooks.concurrency = 1;
        c.webhooks.timeout = Duration::from_secs(10);
    })
    .await;
    let id = app.create_room("alice", "slow receiver").await;
    // A delivery is now held by the receiver, and the only delivery slot with it.
    assert!(
        wait_until(Duration::from_secs(5), || async {
            !receiver.deliveries().is_empty()
        })
        .await
    );
    let held_since = receiver.deliveries()[0].at;
    let started = Instant::now();
    app.user("alice").start(&id).await.ok();
    app.join("bob", &id).await;
    let other = app.create_room("carol", "meanwhile").await;
    app.join("dave", &other).await;
    app.user("bob").leave(&id).await.ok();
    // All answered while that one delivery was still waiting for its answer.
    assert!(
        started.elapsed() < delay / 2 && held_since.elapsed() < delay,
        "API calls waited for the receiver"
    );
    assert_eq!(receiver.deliveries().len(), 1, "one delivery at a time");
}

/// The backlog bound: a receiver down while more than the ~1,000 events a room's
/// stream keeps are recorded loses the trimmed ones; that is counted once, and
/// delivery goes on from the oldest event kept, in order.
#[tokio::test]
async fn events_trimmed_before_delivery_are_counted_and_delivery_resumes_at_the_oldest_kept() {
    let mut receiver = WebhookReceiver::start().unwrap();
    let redis = TestRedis::new();
    let store = store_for(&redis).await;
    let env = hook_env(&[receiver.url()], "room");
    let replica = Replica::start("trimmed", &redis, &env_refs(&env)).await;
    let id = live_room_at(&replica.base, "alice", "backlog").await;
    assert!(wait_accepted(&receiver, &id, 2, Duration::from_secs(20)).await);
    receiver.stop();
    // More events than the stream keeps, recorded while the receiver is down
    // (written as the scripts write them, `MAXLEN ~ 1000`), at once, so the
    // deliverer finds one gap.
    let key = store.keys().room(&id).events;
    let script = "for i = 1, 1300 do redis.call('XADD', KEYS[1], 'MAXLEN', '~', 1000, '*', \
        'event', 'room_extends_updated', 'created_at', ARGV[1], 'live_id', ARGV[2], \
        'title', 'backlog', 'anchor', 'alice', 'live_status', 1, 'online_count', 1, \
        'extends', '{\"n\":\"' .. i .. '\"}') end";
    let _: () = cmd(
        &store,
        &["EVAL", script, "1", &key, &now_ms().to_string(), &id],
    )
    .await;
    let due = store
        .keys()
        .webhook_shard(liveroom::store::keys::webhook_shard(&id))
        .due;
    let _: i64 = cmd(&store, &["ZADD", &due, &now_ms().to_string(), &id]).await;
    let kept = stream(&store, &id).await;
    assert!(kept.len() < 1300 && kept[0].event == "room_extends_updated");
    receiver.restart().unwrap();
    assert!(
        wait_accepted(&receiver, &id, 2 + kept.len(), Duration::from_secs(30)).await,
        "delivered {} of {}",
        accepted_for(&receiver, &id).len(),
        2 + kept.len()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = accepted_for(&receiver, &id);
    assert_in_order(&got[2..], &kept);
    let metrics = crate::harness::http()
        .get(format!("{}/metrics", replica.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let trimmed = metrics
        .lines()
        .find_map(|l| l.strip_prefix("liveroom_webhook_events_trimmed_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert_eq!(trimmed, Some(1.0), "{metrics}");
    // One replica delivers every shard.
    assert!(
        metrics
            .lines()
            .any(|l| l == "liveroom_webhook_shards_held 16"),
        "{metrics}"
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Receivers are independent: one that is slow does not hold back another's
/// deliveries of the same room, and each still gets every event in order.
#[tokio::test]
async fn a_slow_receiver_does_not_hold_back_another() {
    let slow = WebhookReceiver::start().unwrap();
    slow.delay_each(Duration::from_secs(2));
    let fast = WebhookReceiver::start().unwrap();
    let app = TestApp::start_with(|c| hooks(c, &[slow.url(), fast.url()], "all")).await;
    let id = app.live_room("alice", "two receivers").await;
    for user in ["u1", "u2", "u3", "u4"] {
        app.join(user, &id).await;
    }
    let want = stream(&app.store, &id).await;
    assert!(
        wait_accepted(&fast, &id, want.len(), Duration::from_secs(20)).await,
        "the fast receiver got {:?}",
        accepted_for(&fast, &id)
    );
    let slow_got = slow.deliveries().len();
    assert!(
        slow_got < want.len() / 2,
        "the slow receiver kept pace ({slow_got} of {})",
        want.len()
    );
    assert_in_order(&accepted_for(&fast, &id), &want);
    // The slow one gets them too, in order.
    assert!(wait_accepted(&slow, &id, 3, Duration::from_secs(20)).await);
    let got = accepted_for(&slow, &id);
    assert_in_order(&got, &want[..got.len()]);
}
