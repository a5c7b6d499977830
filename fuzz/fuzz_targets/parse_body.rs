//! Fuzz target: request bodies. Any bytes go through `parse_json` into each body
//! type of the API, then through its validation. Beyond "no panic", whatever is
//! accepted must satisfy SPEC §7, so an accepted hostile body is a crash too.
#![no_main]

use chrono::FixedOffset;
use libfuzzer_sys::fuzz_target;
use liveroom::extract::{check_live_id, parse_json};
use liveroom::model::{CreateRoomBody, UpdateExtendsBody, UpdateProfileBody, check_extends};

/// No control characters other than tab and newline.
fn clean(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

fn http_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    s.is_empty() || lower.starts_with("http://") || lower.starts_with("https://")
}

fuzz_target!(|data: &[u8]| {
    let zone = FixedOffset::east_opt(8 * 3600).unwrap();

    match parse_json::<CreateRoomBody>(data) {
        Ok(body) => {
            // Only a UTF-8 JSON object is a body.
            assert!(std::str::from_utf8(data).is_ok(), "accepted invalid UTF-8");
            assert_eq!(data.iter().find(|b| !b.is_ascii_whitespace()), Some(&b'{'));
            match body.validate(&zone) {
                Ok(room) => {
                    let n = room.title.chars().count();
                    assert!((1..=128).contains(&n) && clean(&room.title));
                    assert!(room.title.chars().any(|c| !c.is_whitespace()));
                    assert!(room.notice.chars().count() <= 1024 && clean(&room.notice));
                    assert!(room.cover_url.chars().count() <= 1024 && http_url(&room.cover_url));
                    assert!(room.extends.len() <= 32);
                    for (k, v) in &room.extends {
                        assert!((1..=64).contains(&k.chars().count()));
                        assert!(!v.is_empty() && v.chars().count() <= 1024);
                    }
                    assert!(room.start_at >= 0 && room.end_at >= 0 && room.publish_expire_at >= 0);
                    if room.start_at > 0 && room.end_at > 0 {
                        assert!(room.end_at >= room.start_at);
                    }
                }
                Err(e) => assert!(e.code() == 40000 && !e.to_string().is_empty()),
            }
        }
        Err(e) => assert!(e.code() == 40000 && !e.to_string().is_empty()),
    }

    if let Ok(body) = parse_json::<UpdateExtendsBody>(data) {
        if let Some(id) = &body.live_id
            && check_live_id(id).is_ok()
        {
            assert!(!id.is_empty() && id.len() <= 64);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            );
        }
        if let Some(patch) = &body.extends
            && check_extends("extends", patch).is_ok()
        {
            assert!(patch.len() <= 32);
        }
    }

    if let Ok(body) = parse_json::<UpdateProfileBody>(data)
        && body.validate().is_ok()
    {
        if let Some(nick) = &body.nick {
            assert!(nick.chars().count() <= 64 && clean(nick));
        }
        if let Some(avatar) = &body.avatar {
            assert!(http_url(avatar));
        }
    }
});
