//! Bad webhook settings stop `liveroom serve` at start-up with an error naming the
//! setting (the real binary, its exit code and stderr).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `liveroom serve` with `env`; its exit code and stderr. Panics if it is
/// still running after 10 s (it started instead of refusing).
fn serve_with(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let port = liveroom::redis_child::free_port().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .arg("serve")
        .env("LIVEROOM_LISTEN", format!("127.0.0.1:{port}"))
        // Nothing listens there: a refused setting must stop it before Redis anyway.
        .env("LIVEROOM_REDIS_URL", format!("redis://127.0.0.1:{port}"))
        .env("LIVEROOM_LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn liveroom");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            return (
                status.code(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            );
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("liveroom serve started with {env:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_webhook_settings_are_refused_at_start_up_naming_the_setting() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("LIVEROOM_WEBHOOK_URLS", "ftp://example.com/hooks"),
                ("LIVEROOM_WEBHOOK_SECRET", "s"),
            ],
            "LIVEROOM_WEBHOOK_URLS",
        ),
        (
            &[
                ("LIVEROOM_WEBHOOK_URLS", "not a url"),
                ("LIVEROOM_WEBHOOK_SECRET", "s"),
            ],
            "LIVEROOM_WEBHOOK_URLS",
        ),
        (
            &[("LIVEROOM_WEBHOOK_URLS", "http://127.0.0.1:9/hooks")],
            "LIVEROOM_WEBHOOK_SECRET",
        ),
        (
            &[
                ("LIVEROOM_WEBHOOK_URLS", "http://127.0.0.1:9/hooks"),
                ("LIVEROOM_WEBHOOK_SECRET", "s"),
                ("LIVEROOM_WEBHOOK_EVENTS", "room,nope"),
            ],
            "LIVEROOM_WEBHOOK_EVENTS",
        ),
    ];
    for (env, setting) in cases {
        let (code, stderr) = serve_with(env);
        assert_eq!(code, Some(1), "{env:?}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("liveroom: ") && last.contains(setting),
            "{env:?}: the error does not name {setting}: {stderr}"
        );
    }
}
