//! The test webhook receiver: records requests in order, answers as told, and
//! stops and restarts on its port. Spoken to with raw HTTP/1.1 over TCP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use liveroom_testkit::WebhookReceiver;

/// POSTs `body` to the receiver; the status it answered, or None when refused.
fn post(port: u16, body: &str) -> Option<u16> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        conn,
        "POST /hooks?x=1 HTTP/1.1\r\nHost: t\r\nX-Test: yes\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).ok()?;
    answer.split(' ').nth(1)?.parse().ok()
}

#[test]
fn records_in_order_answers_as_told_and_restarts_on_its_port() {
    let mut receiver = WebhookReceiver::start().unwrap();
    let port = receiver.port();
    assert_eq!(receiver.url(), format!("http://127.0.0.1:{port}/hooks"));
    assert_eq!(post(port, "one"), Some(200));
    receiver.answer_for(503, Duration::from_millis(300));
    assert_eq!(post(port, "two"), Some(503));
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(post(port, "three"), Some(200));
    receiver.answer(500);
    assert_eq!(post(port, "four"), Some(500));
    receiver.answer_ok();
    receiver.delay_each(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(post(port, "five"), Some(200));
    assert!(started.elapsed() >= Duration::from_millis(200));
    receiver.delay_each(Duration::ZERO);

    let got = receiver.deliveries();
    let bodies: Vec<String> = got.iter().map(|d| d.text()).collect();
    assert_eq!(bodies, ["one", "two", "three", "four", "five"]);
    let statuses: Vec<u16> = got.iter().map(|d| d.status).collect();
    assert_eq!(statuses, [200, 503, 200, 500, 200]);
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/hooks?x=1");
    assert_eq!(got[0].header("x-test"), Some("yes"));
    assert_eq!(receiver.accepted_bodies(), ["one", "three", "five"]);

    receiver.stop();
    assert_eq!(post(port, "refused"), None);
    receiver.restart().unwrap();
    assert_eq!(receiver.port(), port);
    assert_eq!(post(port, "six"), Some(200));
    assert_eq!(receiver.deliveries().len(), 6);
}
