//! Property tests of hostile input (SPEC §1, §2, §7).
//!
//! Arbitrary bytes, JSON values and strings go to every parser and validator of
//! requests: none may panic, and each accept / refuse decision must agree with a
//! small model of the SPEC written here from the SPEC's words, not copied from src/.
//! Every refusal must name the field that failed. Then the same idea over HTTP,
//! against the real app and a real Redis: arbitrary methods, paths, query strings,
//! bodies, tokens and `X-Request-Id`s never get a 5xx, always get the envelope, and a
//! refused request writes nothing to Redis; afterwards every Redis key is one the
//! service names itself.
//!
//! Case counts are chosen so the whole file runs in well under a minute in debug;
//! `PROPTEST_CASES=N` sets every count at once (e.g. for a long local run).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use chrono::FixedOffset;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use liveroom::auth::{TokenVerifier, is_valid_user_id};
use liveroom::error::ApiError;
use liveroom::extract::{Page, PageStart, QueryParams, check_live_id, encode_cursor, parse_json};
use liveroom::model::{
    CreateRoomBody, UpdateExtendsBody, UpdateProfileBody, check_extends, parse_time,
};
use liveroom::request_id::is_sane;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use crate::harness::{SECRET, TestApp};

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// `cases` cases, unless `PROPTEST_CASES` says otherwise.
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        max_shrink_iters: 2_000,
        ..Config::default()
    }
}

/// The app's default zone (SPEC §9 `LIVEROOM_TIMEZONE`).
fn zone8() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

// ---------------------------------------------------------------------------
// The model of SPEC §2 / §7, from the SPEC's words
// ---------------------------------------------------------------------------

/// Unicode general category Cc (the "control characters" of SPEC §7's rules).
fn is_cc(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Free text: `min..=max` characters (Unicode scalar values, not bytes) and no
/// control character other than tab and newline.
fn text_ok(s: &str, min: usize, max: usize) -> bool {
    let n = s.chars().count();
    (min..=max).contains(&n) && !s.chars().any(|c| is_cc(c) && c != '\t' && c != '\n')
}

/// Title: 1-128 characters, not all whitespace, no control characters but \n \t.
fn title_ok(s: &str) -> bool {
    text_ok(s, 1, 128) && s.chars().any(|c| !c.is_whitespace())
}

/// cover_url / avatar: empty, or ≤ 1024 characters of an http(s) URL with a host
/// part and no whitespace or control characters.
fn url_ok(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let b = s.as_bytes();
    let rest = if b.len() >= 8 && b[..8].eq_ignore_ascii_case(b"https://") {
        &s[8..]
    } else if b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"http://") {
        &s[7..]
    } else {
        return false;
    };
    text_ok(s, 0, 1024)
        && !rest.is_empty()
        && !rest.starts_with('/')
        && !s.chars().any(char::is_whitespace)
}

/// extends: at most 32 keys, each 1-64 characters, each value at most 1024.
fn extends_ok(map: &BTreeMap<String, String>) -> bool {
    map.len() <= 32
        && map
            .iter()
            .all(|(k, v)| (1..=64).contains(&k.chars().count()) && v.chars().count() <= 1024)
}

/// A path / body `live_id`: 1-64 characters of `[A-Za-z0-9_-]`.
fn live_id_ok(s: &str) -> bool {
    (1..=64).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A token `sub`: 1-64 characters of `[A-Za-z0-9_.:@-]`.
fn user_id_ok(s: &str) -> bool {
    (1..=64).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:@-".contains(c))
}

/// A client's `X-Request-Id` is echoed when it is 1-64 visible ASCII characters.
fn request_id_ok(s: &str) -> bool {
    (1..=64).contains(&s.chars().count()) && s.chars().all(|c| ('!'..='~').contains(&c))
}

/// An integer written in decimal (an optional `+`, as Rust and most languages read
/// it) within `lo..=hi`. Leading zeros are fine; anything else is not an integer.
fn int_in(v: &str, lo: u64, hi: u64) -> bool {
    let digits = v.strip_prefix('+').unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 7 {
        return false; // both limits have at most 7 digits
    }
    let n: u64 = significant.parse().unwrap_or(0);
    (lo..=hi).contains(&n)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// What a time string should give: `Some(Some(t))` accepted as Unix second `t`,
/// `Some(None)` refused, `None` unknown (free text: only a necessary condition is
/// checked for it).
type TimeExpect = Option<Option<i64>>;

/// Which body fields a refusal may name, when the body is refused at all.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Accept,
    /// Refused, naming one of these fields.
    Refuse(BTreeSet<&'static str>),
}

/// The type each known field must have (SPEC §7: wrong types are 40000; `null`
/// counts as absent).
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Map,
}

/// The known fields whose JSON type is wrong (a refusal may name any of them).
fn mistyped(obj: &Map<String, Value>, fields: &[(&'static str, Kind)]) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    for (name, kind) in fields {
        let Some(v) = obj.get(*name) else { continue };
        let ok = match (kind, v) {
            (_, Value::Null) => true,
            (Kind::Text, Value::String(_)) => true,
            (Kind::Map, Value::Object(m)) => m.values().all(Value::is_string),
            _ => false,
        };
        if !ok {
            out.insert(*name);
        }
    }
    out
}

fn text_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    obj.get(name).and_then(Value::as_str)
}

fn map_field(obj: &Map<String, Value>, name: &str) -> Option<BTreeMap<String, String>> {
    obj.get(name).and_then(Value::as_object).map(|m| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
            .collect()
    })
}

const CREATE_FIELDS: [(&str, Kind); 7] = [
    ("title", Kind::Text),
    ("notice", Kind::Text),
    ("cover_url", Kind::Text),
    ("extends", Kind::Map),
    ("start_at", Kind::Text),
    ("end_at", Kind::Text),
    ("publish_expire_at", Kind::Text),
];

/// SPEC §4 / §7 for a room creation body, given the expectation of each time string
/// (from [`time_model`]). Returns `None` when the model cannot tell (a free-text time).
fn create_model(obj: &Map<String, Value>, zone: &FixedOffset) -> Option<Verdict> {
    let wrong = mistyped(obj, &CREATE_FIELDS);
    if !wrong.is_empty() {
        return Some(Verdict::Refuse(wrong));
    }
    let mut bad = BTreeSet::new();
    if !title_ok(text_field(obj, "title").unwrap_or("")) {
        bad.insert("title");
    }
    if !text_ok(text_field(obj, "notice").unwrap_or(""), 0, 1024) {
        bad.insert("notice");
    }
    if !url_ok(text_field(obj, "cover_url").unwrap_or("")) {
        bad.insert("cover_url");
    }
    if !extends_ok(&map_field(obj, "extends").unwrap_or_default()) {
        bad.insert("extends");
    }
    let mut times = BTreeMap::new();
    for name in ["start_at", "end_at", "publish_expire_at"] {
        let text = text_field(obj, name).unwrap_or("");
        if text.trim().is_empty() {
            times.insert(name, 0);
            continue;
        }
        match time_model(text, zone) {
            None => return None,
            Some(Some(t)) if t > 0 => {
                times.insert(name, t);
            }
            // Not a time, or not after 1970-01-01.
            Some(_) => {
                bad.insert(name);
            }
        }
    }
    if let (Some(&s), Some(&e)) = (times.get("start_at"), times.get("end_at"))
        && s > 0
        && e > 0
        && e < s
    {
        bad.insert("end_at");
    }
    Some(if bad.is_empty() {
        Verdict::Accept
    } else {
        Verdict::Refuse(bad)
    })
}

/// The time a string denotes, by SPEC §4: `YYYY-MM-DD HH:MM:SS` in `zone`, or
/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, surrounding whitespace ignored. Strings of
/// exactly those shapes are judged (a date that does not exist is refused); any
/// string with a character no time has is refused; anything else is unknown.
fn time_model(text: &str, zone: &FixedOffset) -> TimeExpect {
    let t = text.trim();
    if t.chars()
        .any(|c| !(c.is_ascii_digit() || " -:+.TtZz".contains(c)))
    {
        return Some(None);
    }
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return None;
    };
    if s > 59 {
        return None; // leap seconds: not part of the model
    }
    let valid =
        (1..=12).contains(&mo) && d >= 1 && d <= days_in_month(y, mo) && h <= 23 && mi <= 59;
    let local = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    match (b[10], &t[19..]) {
        (b' ', "") => Some(valid.then(|| local - i64::from(zone.local_minus_utc()))),
        (b'T', rest) => {
            // Optional fraction, then Z or ±HH:MM.
            let rest = match rest.strip_prefix('.') {
                Some(r) => {
                    let digits = r.bytes().take_while(u8::is_ascii_digit).count();
                    if digits == 0 || digits > 9 {
                        return None;
                    }
                    &r[digits..]
                }
                None => rest,
            };
            let offset = if rest == "Z" {
                0
            } else {
                let rb = rest.as_bytes();
                if rb.len() != 6 || !(rb[0] == b'+' || rb[0] == b'-') || rb[3] != b':' {
                    return None;
                }
                let (oh, om): (i64, i64) = (rest[1..3].parse().ok()?, rest[4..6].parse().ok()?);
                if oh > 23 || om > 59 {
                    return None;
                }
                let sign = if rb[0] == b'-' { -1 } else { 1 };
                sign * (oh * 3600 + om * 60)
            };
            Some(valid.then(|| local - offset))
        }
        _ => None,
    }
}

/// SPEC §3 / §7 for a profile update.
fn profile_model(obj: &Map<String, Value>) -> Verdict {
    let fields = [
        ("nick", Kind::Text),
        ("avatar", Kind::Text),
        ("extends", Kind::Map),
    ];
    let wrong = mistyped(obj, &fields);
    if !wrong.is_empty() {
        return Verdict::Refuse(wrong);
    }
    let mut bad = BTreeSet::new();
    if !text_ok(text_field(obj, "nick").unwrap_or(""), 0, 64) {
        bad.insert("nick");
    }
    if !url_ok(text_field(obj, "avatar").unwrap_or("")) {
        bad.insert("avatar");
    }
    if !extends_ok(&map_field(obj, "extends").unwrap_or_default()) {
        bad.insert("extends");
    }
    if bad.is_empty() {
        Verdict::Accept
    } else {
        Verdict::Refuse(bad)
    }
}

/// What SPEC §5 says of a page query. `start: None` when the page depends on a
/// free-text cursor the model cannot decode: it may then be accepted, or refused
/// naming `cursor`.
#[derive(Debug, Clone, PartialEq)]
enum PageExpect {
    Ok { size: u64, start: Option<PageStart> },
    Refuse(&'static str),
}

/// A cursor the test made with [`encode_cursor`] (so the model knows what is in it),
/// or free text (the model knows only what every cursor looks like).
#[derive(Debug, Clone)]
enum CursorIn {
    Made { score: f64, id: String },
    Text(String),
}

/// SPEC §5 pagination: `page_size` 1-100 (default 20), `page_num` ≥ 1 (default 1;
/// this service caps it at 1,000,000), or a `cursor` returned by a list; the last of
/// repeated names counts and an empty value means the default.
fn page_model(pairs: &[(String, String)], cursors: &BTreeMap<String, CursorIn>) -> PageExpect {
    let last = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let size = match last("page_size") {
        None => 20,
        Some(v) if int_in(v, 1, 100) => v.trim_start_matches('+').parse().unwrap(),
        Some(_) => return PageExpect::Refuse("page_size"),
    };
    let start = if let Some(c) = last("cursor") {
        match cursors.get(c) {
            Some(CursorIn::Made { score, id }) => {
                let ok = score.is_finite()
                    && (1..=64).contains(&id.len())
                    && id.bytes().all(|b| b.is_ascii_graphic());
                if !ok {
                    return PageExpect::Refuse("cursor");
                }
                Some(PageStart::After {
                    score: *score,
                    id: id.clone(),
                })
            }
            _ => {
                // Free text: a cursor is URL-safe base64 without padding, so any
                // other character means it cannot be one.
                if !c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return PageExpect::Refuse("cursor");
                }
                None
            }
        }
    } else {
        match last("page_num") {
            None => Some(PageStart::Number(1)),
            Some(v) if int_in(v, 1, 1_000_000) => Some(PageStart::Number(
                v.trim_start_matches('+').parse().unwrap(),
            )),
            Some(_) => return PageExpect::Refuse("page_num"),
        }
    };
    PageExpect::Ok { size, start }
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// One character, biased towards the ones that break things: controls (C0, DEL,
/// C1), whitespace of several kinds, key syntax (`{ } * : /`), quotes, escapes,
/// multi-byte and astral characters, and any `char` at all.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => prop::char::range('a', 'z'),
        2 => prop::char::range('0', '9'),
        1 => prop::char::range('A', 'Z'),
        8 => prop::sample::select(vec![
            ' ', '\t', '\n', '\r', '\0', '\u{b}', '\u{c}', '\u{1b}', '\u{7f}', '\u{85}',
            '\u{9f}', '\u{a0}', '\u{2028}', '\u{3000}', '\u{feff}', '\u{200b}', '长', '😀',
            '{', '}', '*', ':', '/', '.', '%', '"', '\\', '_', '-', '|', '+', '=', '&', '?',
            '#', '<', '>', '\u{fffd}', '\u{10ffff}',
        ]),
        3 => any::<char>(),
    ]
}

/// Short hostile text, or text whose length is at one of SPEC §7's limits (mostly
/// of harmless characters, so the length is what decides).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => prop::collection::vec(hostile_char(), 0..10).prop_map(|v| v.into_iter().collect()),
        3 => (
            prop::sample::select(vec![63usize, 64, 65, 127, 128, 129, 1023, 1024, 1025]),
            prop_oneof![3 => prop::sample::select(vec!['a', 'Z', '长', '😀', 'é']), 1 => hostile_char()],
            prop::collection::vec(hostile_char(), 0..2),
        )
            .prop_map(|(n, c, tail)| {
                let mut s: String = std::iter::repeat_n(c, n).collect();
                s.extend(tail);
                s
            }),
    ]
}

/// URL-ish text: schemes right and wrong, in any case, then hostile text.
fn url_text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => text(),
        3 => (
            prop::sample::select(vec![
                "http://", "https://", "HTTP://", "hTtPs://", "ftp://", "javascript:", "http:/",
                "//", "",
            ]),
            text(),
        )
            .prop_map(|(scheme, rest)| format!("{scheme}{rest}")),
    ]
}

/// A time string: well-formed ones of both SPEC §4 shapes (with impossible dates,
/// hours and pre-1970 years among them, and surrounding whitespace), fixed oddities
/// and free text. [`time_model`] judges them.
fn time_text() -> impl Strategy<Value = String> {
    let parts = (
        prop_oneof![4 => 1965i64..=2300, 1 => 1000i64..=9999],
        prop_oneof![8 => 1i64..=12, 1 => Just(0i64), 1 => Just(13i64)],
        prop_oneof![8 => 1i64..=28, 3 => 29i64..=31, 1 => Just(0i64), 1 => Just(32i64)],
        prop_oneof![8 => 0i64..=23, 1 => Just(24i64)],
        0i64..=59,
        0i64..=59,
    );
    let ws = prop::sample::select(vec!["", "", "", " ", "\t", "\n "]);
    prop_oneof![
        3 => (parts.clone(), ws.clone(), ws.clone()).prop_map(|((y, mo, d, h, mi, s), a, b)| {
            format!("{a}{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{b}")
        }),
        3 => (
            parts,
            prop::option::of(1u32..=999_999_999),
            prop_oneof![Just("Z".to_owned()), (any::<bool>(), 0i64..=23, 0i64..=59)
                .prop_map(|(neg, h, m)| format!("{}{h:02}:{m:02}", if neg { '-' } else { '+' }))],
        )
            .prop_map(|((y, mo, d, h, mi, s), frac, off)| {
                let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{off}")
            }),
        1 => Just(String::new()),
        1 => Just("   ".to_owned()),
        2 => text(),
        1 => prop::sample::select(vec![
            "2021/12/02", "2021-12-02", "11:11:11", "2021-12-02 11:11", "2021-12-02 11:11:11 ",
            "+2021-12-02 11:11:11", "2021-12-02T11:11:11", "1970-01-01 08:00:00",
            "1970-01-01T00:00:00Z", "0000-01-01 00:00:00", "9999-12-31 23:59:59",
            "2021-02-29 00:00:00", "2024-02-29 00:00:00", "2021-12-02 11:11:11.5",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A map of extends: small, or with 31-33 keys, keys and values around the limits.
fn extends_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop_oneof![
        3 => prop::collection::btree_map(text(), text(), 0..4),
        1 => (31usize..=33, text()).prop_map(|(n, v)| {
            (0..n).map(|i| (format!("k{i}"), v.clone())).collect()
        }),
    ]
}

/// Any JSON value, up to 4 levels deep: what an unknown field may hold.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON value of the wrong type for any known field (neither string, null nor map).
fn wrong_type() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(json!(1.5)),
        Just(json!([])),
        Just(json!(["a"])),
    ]
}

/// The value of a text field: usually a string from `strings`, sometimes null, a
/// wrong type or an object.
fn text_value(strings: BoxedStrategy<String>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        2 => Just(None),
        8 => strings.prop_map(|s| Some(Value::String(s))),
        1 => Just(Some(Value::Null)),
        1 => wrong_type().prop_map(Some),
        1 => Just(Some(json!({"a": "b"}))),
    ]
}

/// The value of an extends field: a map of strings, null, a map holding a
/// non-string, or a wrong type.
fn map_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        2 => Just(None),
        6 => extends_map().prop_map(|m| Some(json!(m))),
        1 => Just(Some(Value::Null)),
        1 => (text(), wrong_type()).prop_map(|(k, v)| Some(json!({ k: v }))),
        1 => Just(Some(json!({"k": null}))),
        1 => Just(Some(json!("k=v"))),
    ]
}

/// Unknown fields: near-misses of the real names and hostile names, any values.
fn unknown_fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "Title",
            "title ",
            "TITLE",
            "titl\u{435}",
            "extend",
            "start-at",
            "live_id",
            "",
            "__proto__",
            "constructor",
            "{x}",
            "lr:room",
        ])
        .prop_map(str::to_owned),
        text(),
    ];
    prop::collection::vec((name, any_json()), 0..3)
}

fn object_from(
    known: Vec<(&'static str, Option<Value>)>,
    unknown: Vec<(String, Value)>,
    known_names: &[&str],
) -> Map<String, Value> {
    let mut obj = Map::new();
    for (k, v) in unknown {
        if !known_names.contains(&k.as_str()) {
            obj.insert(k, v);
        }
    }
    for (k, v) in known {
        if let Some(v) = v {
            obj.insert(k.to_owned(), v);
        }
    }
    obj
}

/// A room-creation body as a JSON object: every field right, wrong or absent.
fn create_body() -> impl Strategy<Value = Map<String, Value>> {
    (
        text_value(text().boxed()),
        text_value(text().boxed()),
        text_value(url_text().boxed()),
        map_value(),
        text_value(time_text().boxed()),
        text_value(time_text().boxed()),
        text_value(time_text().boxed()),
        unknown_fields(),
    )
        .prop_map(
            |(title, notice, cover, ext, start, end, publish, unknown)| {
                let names: Vec<&str> = CREATE_FIELDS.iter().map(|(n, _)| *n).collect();
                object_from(
                    vec![
                        ("title", title),
                        ("notice", notice),
                        ("cover_url", cover),
                        ("extends", ext),
                        ("start_at", start),
                        ("end_at", end),
                        ("publish_expire_at", publish),
                    ],
                    unknown,
                    &names,
                )
            },
        )
}

/// A valid body with one field set to anything (or the title replaced): each limit
/// is hit often, and nothing else can be the reason for a refusal.
fn one_field_body() -> impl Strategy<Value = Map<String, Value>> {
    prop_oneof![
        text_value(text().boxed()).prop_map(|v| ("title", v)),
        text_value(text().boxed()).prop_map(|v| ("notice", v)),
        text_value(url_text().boxed()).prop_map(|v| ("cover_url", v)),
        map_value().prop_map(|v| ("extends", v)),
        text_value(time_text().boxed()).prop_map(|v| ("start_at", v)),
        text_value(time_text().boxed()).prop_map(|v| ("end_at", v)),
        text_value(time_text().boxed()).prop_map(|v| ("publish_expire_at", v)),
    ]
    .prop_map(|(name, value)| {
        let mut obj = Map::new();
        obj.insert("title".into(), json!("ok"));
        match value {
            Some(v) => {
                obj.insert(name.into(), v);
            }
            None => {
                obj.remove(name);
            }
        }
        obj
    })
}

/// A valid body whose `end_at` is within a few seconds of its `start_at`, either way.
fn start_end_body() -> impl Strategy<Value = Map<String, Value>> {
    (
        2000i64..=2100,
        1i64..=12,
        1i64..=28,
        0i64..=23,
        2i64..=57,
        -2i64..=2,
        any::<bool>(),
    )
        .prop_map(|(y, mo, d, h, s, delta, rfc)| {
            let at = |sec: i64| {
                if rfc {
                    format!("{y:04}-{mo:02}-{d:02}T{h:02}:30:{sec:02}+08:00")
                } else {
                    format!("{y:04}-{mo:02}-{d:02} {h:02}:30:{sec:02}")
                }
            };
            let mut obj = Map::new();
            obj.insert("title".into(), json!("ok"));
            obj.insert("start_at".into(), json!(at(s)));
            obj.insert("end_at".into(), json!(at(s + delta)));
            obj
        })
}

/// A mostly-valid creation body: every field of the right type and, usually, value.
fn plausible_create_body() -> impl Strategy<Value = Map<String, Value>> {
    (
        prop_oneof![3 => "[a-z 长]{1,20}", 1 => text()],
        prop::option::of(text()),
        prop::option::of(prop_oneof![
            "https://[a-z]{1,8}\\.example/[a-z]{0,5}",
            url_text()
        ]),
        prop::option::of(extends_map()),
        prop::option::of(time_text()),
    )
        .prop_map(|(title, notice, cover, ext, start)| {
            let mut obj = Map::new();
            obj.insert("title".into(), json!(title));
            if let Some(n) = notice {
                obj.insert("notice".into(), json!(n));
            }
            if let Some(c) = cover {
                obj.insert("cover_url".into(), json!(c));
            }
            if let Some(e) = ext {
                obj.insert("extends".into(), json!(e));
            }
            if let Some(s) = start {
                obj.insert("start_at".into(), json!(s));
            }
            obj
        })
}

/// A profile-update body.
fn profile_body() -> impl Strategy<Value = Map<String, Value>> {
    let one = prop_oneof![
        text_value(text().boxed()).prop_map(|v| vec![("nick", v)]),
        text_value(url_text().boxed()).prop_map(|v| vec![("avatar", v)]),
        map_value().prop_map(|v| vec![("extends", v)]),
    ]
    .prop_map(|known| object_from(known, Vec::new(), &[]));
    let all = (
        text_value(text().boxed()),
        text_value(url_text().boxed()),
        map_value(),
        unknown_fields(),
    )
        .prop_map(|(nick, avatar, ext, unknown)| {
            object_from(
                vec![("nick", nick), ("avatar", avatar), ("extends", ext)],
                unknown,
                &["nick", "avatar", "extends"],
            )
        });
    prop_oneof![all, one]
}

/// Bytes near a valid body: a serialised body with a few bytes flipped, inserted or
/// removed, or plain arbitrary bytes.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 0..4);
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => prop::collection::vec(any::<u8>(), 0..16).prop_map(|mut v| {
            v.insert(0, b'{');
            v
        }),
        4 => (plausible_create_body(), edits).prop_map(|(obj, edits)| {
            let mut bytes = serde_json::to_vec(&obj).unwrap();
            for (at, op, byte) in edits {
                let i = at.index(bytes.len() + 1);
                match op {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => {}
                }
            }
            bytes
        }),
    ]
}

/// A `live_id` candidate: valid ids, ids at the length limit, key syntax, traversal.
fn live_id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z0-9_-]{1,70}",
        2 => text(),
        2 => prop::sample::select(vec![
            "live_1}:room", "{x}", "*", "../..", "..", ".", "%00", "a\0b", "live_x:room",
            "lr:{live_x}:room", "live_0123456789abcdef0123", "live_0123456789abcdef0123 ",
            "\u{0661}", "ｌｉｖｅ", "a\nb",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A query-string value for the pagination parameters.
fn page_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "", "0", "1", "2", "20", "99", "100", "101", "1000", "999999", "1000000", "1000001",
            "+5", "-1", "-0", "007", "0000000000000000000000042", "18446744073709551616",
            "18446744073709551615", " 5", "5 ", "1e2", "0x10", "1.0", "１", "٣", "5\0", "++5",
            "+", "NaN",
        ])
        .prop_map(str::to_owned),
        1 => "[0-9]{1,9}",
        1 => text(),
    ]
}

/// A cursor: one made by [`encode_cursor`] from any score and id, base64 of any
/// bytes, standard-alphabet or padded base64, or free text.
fn cursor_value() -> impl Strategy<Value = CursorIn> {
    let score = prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(-0.0),
        Just(1.7e15)
    ];
    let id = prop_oneof![3 => "[!-~]{1,70}", 1 => text()];
    prop_oneof![
        3 => (score, id).prop_map(|(score, id)| CursorIn::Made { score, id }),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(|b| {
            CursorIn::Text(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
        }),
        1 => prop::collection::vec(any::<u8>(), 1..24).prop_map(|b| {
            CursorIn::Text(base64::engine::general_purpose::STANDARD.encode(b))
        }),
        1 => text().prop_map(CursorIn::Text),
    ]
}

impl CursorIn {
    fn text(&self) -> String {
        match self {
            Self::Made { score, id } => encode_cursor(*score, id),
            Self::Text(t) => t.clone(),
        }
    }
}

/// Query pairs for a paged list, and the cursors the test made among them.
fn page_query() -> impl Strategy<Value = (Vec<(String, String)>, BTreeMap<String, CursorIn>)> {
    let pair = prop_oneof![
        3 => (Just("page_size".to_owned()), page_value()).prop_map(|(k, v)| (k, v, None)),
        3 => (Just("page_num".to_owned()), page_value()).prop_map(|(k, v)| (k, v, None)),
        2 => cursor_value().prop_map(|c| ("cursor".to_owned(), c.text(), Some(c))),
        1 => (
            prop::sample::select(vec![
                "keyword", "live_id", "PAGE_SIZE", "page_size ", "page-size", "", "cursor[]",
            ])
            .prop_map(str::to_owned),
            text(),
        )
            .prop_map(|(k, v)| (k, v, None)),
    ];
    prop::collection::vec(pair, 0..5).prop_map(|pairs| {
        let mut cursors = BTreeMap::new();
        let mut out = Vec::new();
        for (k, v, c) in pairs {
            if let Some(c) = c {
                // A text that happens to equal a made cursor is that cursor.
                cursors.entry(v.clone()).or_insert(c);
            }
            out.push((k, v));
        }
        (out, cursors)
    })
}

// ---------------------------------------------------------------------------
// Checks shared by the properties
// ---------------------------------------------------------------------------

/// The refusal is 400 / 40000 and its message names one of `fields`.
fn check_refusal(err: &ApiError, fields: &BTreeSet<&'static str>) -> Result<(), TestCaseError> {
    let message = err.to_string();
    prop_assert_eq!(err.code(), 40000, "{}", message);
    prop_assert_eq!(err.status().as_u16(), 400, "{}", message);
    prop_assert!(
        fields.iter().any(|f| message.contains(f)),
        "message {:?} names none of {:?}",
        message,
        fields
    );
    Ok(())
}

fn check_verdict<T>(
    got: &Result<T, ApiError>,
    expect: &Verdict,
    input: &dyn std::fmt::Debug,
) -> Result<(), TestCaseError> {
    match (got, expect) {
        (Ok(_), Verdict::Accept) => Ok(()),
        (Err(e), Verdict::Refuse(fields)) => check_refusal(e, fields),
        (Ok(_), Verdict::Refuse(fields)) => Err(TestCaseError::fail(format!(
            "accepted, but the model refuses it for {fields:?}: {input:?}"
        ))),
        (Err(e), Verdict::Accept) => Err(TestCaseError::fail(format!(
            "refused ({e}), but the model accepts it: {input:?}"
        ))),
    }
}

fn create_result(bytes: &[u8], zone: &FixedOffset) -> Result<liveroom::model::NewRoom, ApiError> {
    parse_json::<CreateRoomBody>(bytes)?.validate(zone)
}

fn profile_result(bytes: &[u8]) -> Result<(), ApiError> {
    parse_json::<UpdateProfileBody>(bytes)?.validate()
}

// ---------------------------------------------------------------------------
// Parser and validator properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(2048))]

    /// A creation body of any shape: parse + validate agree with the model, and an
    /// accepted room carries the values sent.
    #[test]
    fn create_body_agrees_with_the_model(
        obj in prop_oneof![4 => create_body(), 4 => one_field_body(), 1 => start_end_body()]
    ) {
        let zone = zone8();
        let bytes = serde_json::to_vec(&obj).unwrap();
        let expect = create_model(&obj, &zone);
        prop_assume!(expect.is_some(), "a free-text time the model cannot judge");
        let expect = expect.unwrap();
        let got = create_result(&bytes, &zone);
        check_verdict(&got, &expect, &obj)?;
        if let Ok(room) = &got {
            prop_assert_eq!(Some(room.title.as_str()), text_field(&obj, "title"));
            prop_assert_eq!(room.notice.as_str(), text_field(&obj, "notice").unwrap_or(""));
            // Empty extends values are removals, never stored.
            let sent = map_field(&obj, "extends").unwrap_or_default();
            let kept: BTreeMap<_, _> = sent.into_iter().filter(|(_, v)| !v.is_empty()).collect();
            prop_assert_eq!(&room.extends, &kept);
            for (name, t) in [("start_at", room.start_at), ("end_at", room.end_at),
                              ("publish_expire_at", room.publish_expire_at)] {
                let text = text_field(&obj, name).unwrap_or("");
                let want = if text.trim().is_empty() { 0 } else {
                    time_model(text, &zone).flatten().unwrap()
                };
                prop_assert_eq!(t, want, "{} = {:?}", name, text);
            }
        }
    }

    /// Bytes close to a body (and not): never a panic; whatever parse_json accepts
    /// is a UTF-8 JSON object that the model judges the same way.
    #[test]
    fn body_bytes_never_panic_and_agree(bytes in body_bytes()) {
        let zone = zone8();
        match parse_json::<CreateRoomBody>(&bytes) {
            Err(e) => {
                prop_assert_eq!(e.code(), 40000);
                prop_assert!(!e.to_string().is_empty());
            }
            Ok(body) => {
                prop_assert!(std::str::from_utf8(&bytes).is_ok(), "accepted invalid UTF-8");
                let value: Value = match serde_json::from_slice(&bytes) {
                    Ok(v) => v,
                    // Values serde_json skips without building them (in unknown
                    // fields): numbers beyond f64 and lone surrogate escapes. Both are
                    // JSON syntax; neither reaches the service.
                    Err(e) if e.to_string().contains("number out of range")
                        || e.to_string().contains("surrogate") => return Ok(()),
                    Err(e) => {
                        return Err(TestCaseError::fail(format!("accepted, but not JSON: {e}")))
                    }
                };
                let obj = value.as_object().cloned();
                prop_assert!(obj.is_some(), "accepted a body that is not an object");
                let obj = obj.unwrap();
                // A duplicate known field is refused by the parser, so the object
                // holds exactly the fields that were parsed.
                if let Some(expect) = create_model(&obj, &zone) {
                    check_verdict(&body.validate(&zone), &expect, &obj)?;
                }
            }
        }
        // The other bodies never panic on the same bytes either.
        let _ = profile_result(&bytes);
        let _ = parse_json::<UpdateExtendsBody>(&bytes);
    }

    /// Any JSON value at all as a body: only an object is a body.
    #[test]
    fn any_json_value_as_a_body(value in any_json()) {
        let zone = zone8();
        let bytes = serde_json::to_vec(&value).unwrap();
        let got = create_result(&bytes, &zone);
        match value.as_object() {
            None => {
                let e = got.err();
                prop_assert!(e.is_some(), "a non-object body was accepted: {}", value);
                prop_assert!(e.unwrap().to_string().contains("JSON object"));
            }
            Some(obj) => {
                if let Some(expect) = create_model(obj, &zone) {
                    check_verdict(&got, &expect, obj)?;
                }
            }
        }
    }

    /// Profile updates (SPEC §3, §7).
    #[test]
    fn profile_body_agrees_with_the_model(obj in profile_body()) {
        let bytes = serde_json::to_vec(&obj).unwrap();
        check_verdict(&profile_result(&bytes), &profile_model(&obj), &obj)?;
    }

    /// The extends body parses exactly when its two fields have the right types.
    #[test]
    fn extends_body_types(live_id in text_value(live_id_text().boxed()), ext in map_value(),
                          unknown in unknown_fields()) {
        let obj = object_from(vec![("live_id", live_id), ("extends", ext)], unknown,
                              &["live_id", "extends"]);
        let bytes = serde_json::to_vec(&obj).unwrap();
        let wrong = mistyped(&obj, &[("live_id", Kind::Text), ("extends", Kind::Map)]);
        let expect = if wrong.is_empty() { Verdict::Accept } else { Verdict::Refuse(wrong) };
        let got = parse_json::<UpdateExtendsBody>(&bytes);
        if let Ok(body) = &got {
            prop_assert_eq!(body.live_id.as_deref(), text_field(&obj, "live_id"));
        }
        check_verdict(&got, &expect, &obj)?;
    }

    /// check_extends on any map: SPEC §7's limits, message names the field.
    #[test]
    fn extends_limits(map in extends_map()) {
        let expect = if extends_ok(&map) { Verdict::Accept } else {
            Verdict::Refuse(["extends"].into())
        };
        check_verdict(&check_extends("extends", &map), &expect, &map)?;
    }

    /// Path and body ids: accepted iff 1-64 chars of [A-Za-z0-9_-].
    #[test]
    fn live_ids(id in live_id_text()) {
        let expect = if live_id_ok(&id) { Verdict::Accept } else {
            Verdict::Refuse(["live_id"].into())
        };
        check_verdict(&check_live_id(&id), &expect, &id)?;
    }

    /// Pagination on any query: SPEC §5's rules, message names the parameter, and a
    /// cursor made by a list round-trips exactly.
    #[test]
    fn pages((pairs, cursors) in page_query()) {
        let expect = page_model(&pairs, &cursors);
        let got = Page::parse(&QueryParams(pairs.clone()));
        match (&got, &expect) {
            (Ok(page), PageExpect::Ok { size, start }) => {
                prop_assert_eq!(page.size, *size);
                if let Some(start) = start {
                    prop_assert_eq!(&page.start, start);
                }
                prop_assert!(page.number() >= 1);
                prop_assert_eq!(page.offset(), (page.number() - 1) * page.size);
            }
            (Err(e), PageExpect::Refuse(field)) => check_refusal(e, &[*field].into())?,
            (Err(e), PageExpect::Ok { start: None, .. }) => check_refusal(e, &["cursor"].into())?,
            _ => prop_assert!(false, "got {:?}, model says {:?} for {:?}", got, expect, pairs),
        }
    }

    /// Time strings in any zone: structured ones give exactly the SPEC's instant;
    /// free text is accepted only if it looks like a time; refusals name the field.
    #[test]
    fn times(text in time_text(), zone_quarters in -48i32..=56) {
        let zone = FixedOffset::east_opt(zone_quarters * 900).unwrap();
        let got = parse_time("start_at", &text, &zone);
        match (&got, time_model(&text, &zone)) {
            (Ok(t), Some(Some(want))) => prop_assert_eq!(*t, want, "{:?}", text),
            (Err(e), Some(None)) => check_refusal(e, &["start_at"].into())?,
            (Err(e), None) => check_refusal(e, &["start_at"].into())?,
            (Ok(_), None) => {
                // Unknown shape: only time-like text may be accepted.
                let t = text.trim();
                let digits = t.bytes().filter(u8::is_ascii_digit).count();
                prop_assert!(digits >= 8 && t.contains('-') && t.contains(':'), "accepted {:?}", text);
            }
            (got, want) => prop_assert!(false, "{:?}: got {:?}, model {:?}", text, got, want),
        }
    }

    /// Request ids: echoed iff 1-64 visible ASCII.
    #[test]
    fn request_ids(id in prop_oneof![3 => "[!-~]{0,70}", 2 => text(),
                                     1 => "[ -~]{1,66}"]) {
        prop_assert_eq!(is_sane(&id), request_id_ok(&id), "{:?}", id);
    }

    /// User ids of tokens: 1-64 of [A-Za-z0-9_.:@-].
    #[test]
    fn user_ids(id in prop_oneof![2 => "[A-Za-z0-9_.:@-]{0,70}", 1 => text()]) {
        prop_assert_eq!(is_valid_user_id(&id), user_id_ok(&id), "{:?}", id);
    }
}

// ---------------------------------------------------------------------------
// Tokens (SPEC §2)
// ---------------------------------------------------------------------------

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token's parts: algorithm, whether it is signed with the right secret, and its
/// claims (`sub`, `exp`, `nbf` each absent, of the wrong type, or a value).
#[derive(Debug, Clone)]
struct TokenIn {
    alg: Algorithm,
    right_secret: bool,
    sub: Option<Value>,
    /// Seconds from now, or a wrong type.
    exp: Option<Value>,
    nbf: Option<Value>,
    tamper: Option<(prop::sample::Index, u8)>,
}

fn token_in() -> impl Strategy<Value = TokenIn> {
    // Offsets stay well away from the 30 s leeway, so the test cannot race the clock.
    let exp = prop_oneof![
        3 => prop_oneof![120i64..=86_400, -86_400i64..=-120].prop_map(|o| json!(now() + o)),
        1 => Just(json!("soon")),
        1 => Just(json!(null)),
    ];
    let sub = prop_oneof![
        3 => "[A-Za-z0-9_.:@-]{1,64}".prop_map(Value::String),
        2 => text().prop_map(Value::String),
        1 => Just(json!(42)),
    ];
    (
        prop_oneof![
            6 => Just(Algorithm::HS256),
            1 => Just(Algorithm::HS384),
            1 => Just(Algorithm::HS512)
        ],
        prop::bool::weighted(0.85),
        prop::option::weighted(0.9, sub),
        prop::option::weighted(0.9, exp),
        prop::option::weighted(
            0.2,
            prop_oneof![120i64..=86_400, -86_400i64..=-120].prop_map(|o| json!(now() + o)),
        ),
        prop::option::weighted(0.15, (any::<prop::sample::Index>(), any::<u8>())),
    )
        .prop_map(|(alg, right_secret, sub, exp, nbf, tamper)| TokenIn {
            alg,
            right_secret,
            sub,
            exp,
            nbf,
            tamper,
        })
}

proptest! {
    #![proptest_config(config(512))]

    /// Any string as a token: never a panic, always a 401.
    #[test]
    fn arbitrary_tokens_are_refused(token in prop_oneof![
        text(),
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}",
        (any::<Vec<u8>>(), any::<Vec<u8>>()).prop_map(|(h, c)| {
            let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            format!("{}.{}.{}", e(&h), e(&c), e(b"sig"))
        }),
        Just("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.".to_owned()),
    ]) {
        let verifier = TokenVerifier::hs256(SECRET, None, None).unwrap();
        let err = verifier.verify(&token).err();
        prop_assert!(err.is_some(), "accepted {:?}", token);
        prop_assert_eq!(err.unwrap().status().as_u16(), 401);
    }

    /// Signed tokens with any claims: accepted iff HS256 with the right secret, a
    /// valid `sub`, a numeric `exp` not past, a `nbf` (if any) not in the future, and
    /// not tampered with. An expired but otherwise good token is 40101.
    #[test]
    fn signed_tokens_agree_with_the_model(t in token_in()) {
        let verifier = TokenVerifier::hs256(SECRET, None, None).unwrap();
        let mut claims = Map::new();
        for (name, v) in [("sub", &t.sub), ("exp", &t.exp), ("nbf", &t.nbf)] {
            if let Some(v) = v {
                claims.insert(name.into(), v.clone());
            }
        }
        let secret = if t.right_secret { SECRET } else { "another-secret-0123456789" };
        let mut token = jsonwebtoken::encode(
            &Header::new(t.alg), &Value::Object(claims),
            &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        ).unwrap();
        let mut tampered = false;
        if let Some((at, byte)) = t.tamper {
            let mut bytes = token.clone().into_bytes();
            let i = at.index(bytes.len());
            let b = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[byte as usize % 64];
            // Changing the last character of a segment may flip only padding bits,
            // which base64 decoders may ignore: tamper elsewhere.
            let last_of_segment = i + 1 == bytes.len() || bytes[i + 1] == b'.';
            if bytes[i] != b'.' && bytes[i] != b && !last_of_segment {
                bytes[i] = b;
                tampered = true;
                token = String::from_utf8(bytes).unwrap();
            }
        }
        let n = now();
        let num = |v: &Option<Value>| v.as_ref().and_then(Value::as_i64);
        let sub_ok = t.sub.as_ref().and_then(Value::as_str).is_some_and(user_id_ok);
        let exp_ok = num(&t.exp).is_some_and(|e| e > n);
        let nbf_ok = match &t.nbf {
            None => true,
            Some(v) => v.as_i64().is_some_and(|b| b < n),
        };
        let sound = t.alg == Algorithm::HS256 && t.right_secret && !tampered;
        let got = verifier.verify(&token);
        match &got {
            Ok(claims) => {
                prop_assert!(sound && sub_ok && exp_ok && nbf_ok, "accepted {:?}", t);
                prop_assert_eq!(Some(claims.sub.as_str()), t.sub.as_ref().and_then(Value::as_str));
            }
            Err(e) => {
                prop_assert_eq!(e.status().as_u16(), 401, "{}", e);
                prop_assert!(!(sound && sub_ok && exp_ok && nbf_ok), "refused ({}) {:?}", e, t);
                let only_expired = sound && sub_ok && nbf_ok && num(&t.exp).is_some() && !exp_ok;
                if only_expired {
                    prop_assert_eq!(e.code(), 40101, "{}", e);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Over HTTP: one real app and Redis, arbitrary requests
// ---------------------------------------------------------------------------

/// Users the HTTP test has tokens for (the only user-chosen text allowed in keys).
const USERS: [&str; 3] = ["alice", "bob", "u.s:e@r-1"];

/// What the model predicts for one request, beyond the invariants every response
/// must satisfy.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// Nothing more than the invariants.
    Any,
    /// This exact status.
    Status(u16),
    /// 400 / 40000 naming one of these.
    Refused(BTreeSet<&'static str>),
}

#[derive(Debug, Clone)]
enum AuthIn {
    User(usize),
    Missing,
    Garbage(String),
}

#[derive(Debug, Clone)]
struct Request {
    method: &'static str,
    /// Already percent-encoded path.
    path: String,
    /// Already encoded query, with its `?`, or empty.
    query: String,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    auth: AuthIn,
    request_id: Option<Vec<u8>>,
    expect: Expect,
}

/// Percent-encodes every byte outside the unreserved set, so `text` arrives as one
/// path segment whatever it holds.
fn segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn auth_in() -> impl Strategy<Value = AuthIn> {
    prop_oneof![
        6 => (0..USERS.len()).prop_map(AuthIn::User),
        1 => Just(AuthIn::Missing),
        1 => prop_oneof![
            "[ -~]{0,40}",
            "Bearer [!-~]{0,40}",
            Just("Bearer".to_owned()),
            Just("Basic YWxpY2U6cHc=".to_owned()),
        ]
        .prop_map(AuthIn::Garbage),
    ]
}

/// Header-safe bytes for `X-Request-Id` (reqwest refuses controls other than tab):
/// visible ASCII, spaces, tabs and bytes ≥ 0x80.
fn request_id_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    let byte = prop_oneof![
        8 => 0x21u8..=0x7e,
        1 => Just(b' '),
        1 => Just(b'\t'),
        1 => 0x80u8..=0xff,
    ];
    prop::option::weighted(
        0.7,
        prop_oneof![
            3 => "[!-~]{1,64}".prop_map(String::into_bytes),
            2 => prop::collection::vec(byte, 0..80),
        ],
    )
}

/// A body for any route: JSON of a creation or profile body, any JSON, or any bytes.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        2 => create_body().prop_map(|o| serde_json::to_vec(&o).unwrap()),
        1 => profile_body().prop_map(|o| serde_json::to_vec(&o).unwrap()),
        1 => any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        2 => body_bytes(),
    ]
}

/// A query string of hostile pairs (encoded so they arrive as sent) or of raw
/// percent-escapes, including ones that decode to invalid UTF-8.
fn any_query() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(String::new()),
        3 => page_query().prop_map(|(pairs, _)| encode_query(&pairs)),
        1 => prop::collection::vec(
            prop_oneof![
                "[a-z_=&+]{1,6}".boxed(),
                prop::sample::select(vec!["%FF", "%00", "%E4%B8", "%", "%ZZ", "%2", "&&", "==",
                                          "page_size=", "cursor=", "keyword=", "live_id="])
                    .prop_map(str::to_owned)
                    .boxed(),
            ],
            1..8,
        )
        .prop_map(|parts| format!("?{}", parts.concat())),
    ]
}

fn encode_query(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    format!("?{}", s.finish())
}

/// The paths of the router with hostile ids in them, or any path at all.
fn any_path() -> impl Strategy<Value = String> {
    let templates = prop::sample::select(vec![
        "/client/live/room/instance",
        "/client/live/room/info/{}",
        "/client/live/room/{}",
        "/client/live/room/instance/{}",
        "/client/live/room",
        "/client/live/room/list",
        "/client/live/room/user/{}",
        "/client/live/room/heartbeat/{}",
        "/client/live/room/extends",
        "/client/live/room/user_list",
        "/client/user/profile",
        "/client/user/user",
        "/livez",
        "/readyz",
        "/{}",
        "/client/{}/room/list",
    ]);
    let id = prop_oneof![
        3 => live_id_text().prop_map(|t| segment(&t)),
        // Unencoded but URL-safe: what a careless client would send.
        1 => "[A-Za-z0-9._~!$&'()*+,;=:@-]{0,20}",
    ];
    prop_oneof![
        4 => (templates, id).prop_map(|(t, id)| t.replace("{}", &id)),
        1 => prop::collection::vec(text().prop_map(|t| segment(&t)), 0..4)
            .prop_map(|segs| format!("/{}", segs.join("/"))),
    ]
}

fn any_request() -> impl Strategy<Value = Request> {
    let general = (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
        any_path(),
        any_query(),
        any_body(),
        prop::sample::select(vec![
            Some("application/json"),
            None,
            Some("text/plain"),
            Some("application/json; charset=latin1"),
        ]),
        auth_in(),
        request_id_bytes(),
    )
        .prop_map(
            |(method, path, query, body, content_type, auth, request_id)| Request {
                method,
                path,
                query,
                body,
                content_type,
                auth,
                request_id,
                expect: Expect::Any,
            },
        );
    // Requests whose answer the model knows: room creation, the live list, room info.
    let body = prop_oneof![create_body(), plausible_create_body()];
    let create = (body, auth_in(), request_id_bytes()).prop_filter_map(
        "a time the model cannot judge",
        |(obj, auth, request_id)| {
            let verdict = create_model(&obj, &zone8())?;
            let body = serde_json::to_vec(&obj).unwrap();
            let expect = match (&auth, verdict) {
                // SPEC §7: body ≤ 64 KiB, else 413 before any field is looked at.
                (AuthIn::User(_), _) if body.len() > 64 * 1024 => Expect::Status(413),
                (AuthIn::User(_), Verdict::Accept) => Expect::Status(200),
                (AuthIn::User(_), Verdict::Refuse(f)) => Expect::Refused(f),
                _ => Expect::Status(401),
            };
            Some(Request {
                method: "POST",
                path: "/client/live/room/instance".into(),
                query: String::new(),
                body,
                content_type: Some("application/json"),
                auth,
                request_id,
                expect,
            })
        },
    );
    let list = (page_query(), auth_in()).prop_map(|((pairs, cursors), auth)| {
        let expect = match (&auth, page_model(&pairs, &cursors)) {
            (AuthIn::User(_), PageExpect::Ok { start: Some(_), .. }) => Expect::Status(200),
            (AuthIn::User(_), PageExpect::Ok { start: None, .. }) => Expect::Any,
            (AuthIn::User(_), PageExpect::Refuse(f)) => Expect::Refused([f].into()),
            _ => Expect::Status(401),
        };
        Request {
            method: "GET",
            path: "/client/live/room/list".into(),
            query: encode_query(&pairs),
            body: Vec::new(),
            content_type: None,
            auth,
            request_id: None,
            expect,
        }
    });
    let info = (live_id_text(), auth_in()).prop_map(|(id, auth)| {
        let expect = match &auth {
            _ if id.is_empty() => Expect::Status(404), // no such route
            // URL parsers (WHATWG, so reqwest) resolve `.` / `..` segments, even
            // percent-encoded, before sending: the hostile tests send them raw.
            _ if id == "." || id == ".." => Expect::Any,
            AuthIn::User(_) if live_id_ok(&id) => Expect::Status(404), // no such room
            AuthIn::User(_) => Expect::Refused(["live_id"].into()),
            _ => Expect::Status(401),
        };
        Request {
            method: "GET",
            path: format!("/client/live/room/info/{}", segment(&id)),
            query: String::new(),
            body: Vec::new(),
            content_type: None,
            auth,
            request_id: None,
            expect,
        }
    });
    prop_oneof![4 => general, 2 => create, 1 => list, 1 => info]
}

/// Counts of what the HTTP test sent and got, printed at the end.
#[derive(Debug, Default)]
struct Tally {
    requests: usize,
    by_status: BTreeMap<u16, usize>,
    predicted: usize,
    /// Responses cut short by a connection reset (see `run_request`).
    reset: usize,
}

async fn run_request(
    app: &TestApp,
    client: &reqwest::Client,
    tokens: &[String],
    req: &Request,
    tally: &RefCell<Tally>,
) -> Result<(), TestCaseError> {
    let keys_before = app.key_count().await;
    let writes_before = crate::harness::keyspace::writes(app).await;
    let url = format!("{}{}{}", app.base, req.path, req.query);
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
    let mut builder = client.request(method, &url).body(req.body.clone());
    if let Some(ct) = req.content_type {
        builder = builder.header("content-type", ct);
    }
    match &req.auth {
        AuthIn::User(i) => {
            builder = builder.header("authorization", format!("Bearer {}", tokens[*i]))
        }
        AuthIn::Missing => {}
        AuthIn::Garbage(g) => builder = builder.header("authorization", g.as_str()),
    }
    if let Some(id) = &req.request_id {
        let value = reqwest::header::HeaderValue::from_bytes(id).unwrap();
        builder = builder.header("x-request-id", value);
    }
    let resp = builder
        .send()
        .await
        .map_err(|e| TestCaseError::fail(format!("request failed: {e} ({url})")))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    prop_assert!(status < 500, "5xx: {} {url}", req.method);
    let bytes = match resp.bytes().await {
        Ok(bytes) => bytes,
        // A route that never reads the request body (a GET sent a body, say)
        // answers and closes; the unread bytes make the kernel reset the
        // connection, which can cut the response short. The status line arrived
        // and was checked above; nothing else can be.
        Err(e) if !req.body.is_empty() && format!("{e:?}").contains("ConnectionReset") => {
            let mut t = tally.borrow_mut();
            t.requests += 1;
            t.reset += 1;
            return Ok(());
        }
        Err(e) => return Err(TestCaseError::fail(format!("reading {url}: {e:?}"))),
    };
    {
        let mut t = tally.borrow_mut();
        t.requests += 1;
        *t.by_status.entry(status).or_default() += 1;
        if req.expect != Expect::Any {
            t.predicted += 1;
        }
    }
    let ctx = || {
        format!(
            "{} {url} -> {status} {}",
            req.method,
            String::from_utf8_lossy(&bytes)
        )
    };

    prop_assert!(status < 500, "5xx: {}", ctx());
    if req.method == "GET"
        && status == 200
        && ["/metrics", "/openapi.json"].contains(&req.path.as_str())
    {
        return Ok(()); // documents of their own, not envelopes
    }
    // The envelope (SPEC §1), on every response of every route.
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    prop_assert!(
        ct.starts_with("application/json"),
        "content-type {:?}: {}",
        ct,
        ctx()
    );
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|_| TestCaseError::fail(format!("not JSON: {}", ctx())))?;
    let id = body["request_id"].as_str().unwrap_or("");
    let code = body["code"].as_i64();
    let message = body["message"].as_str().unwrap_or("");
    prop_assert!(
        !id.is_empty() && code.is_some() && !message.is_empty(),
        "envelope: {}",
        ctx()
    );
    let code = code.unwrap();
    let header_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    prop_assert_eq!(header_id, id, "X-Request-Id header vs body: {}", ctx());
    // Status and code agree (SPEC §1's table).
    if status == 200 {
        prop_assert_eq!(code, 0, "{}", ctx());
    } else {
        prop_assert!(
            code / 100 == i64::from(status) || (code == 40000 && [405, 413].contains(&status)),
            "code {} with status {}: {}",
            code,
            status,
            ctx()
        );
    }
    // The request id is the client's when sane (as the server read it: HTTP drops
    // surrounding spaces and tabs), else a fresh one.
    let sent = req.request_id.as_ref().map(|b| {
        String::from_utf8_lossy(b)
            .trim_matches(|c| c == ' ' || c == '\t')
            .to_owned()
    });
    match sent {
        Some(s) if request_id_ok(&s) => prop_assert_eq!(id, s.as_str(), "{}", ctx()),
        _ => prop_assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "request id {:?} is neither the client's nor fresh (sent {:?})",
            id,
            req.request_id
        ),
    }
    // What the model predicts.
    match &req.expect {
        Expect::Any => {}
        Expect::Status(s) => prop_assert_eq!(status, *s, "{}", ctx()),
        Expect::Refused(fields) => {
            prop_assert_eq!((status, code), (400, 40000), "{}", ctx());
            prop_assert!(
                fields.iter().any(|f| message.contains(f)),
                "message names none of {:?}: {}",
                fields,
                ctx()
            );
        }
    }
    // A refused request writes nothing.
    if status != 200 {
        prop_assert_eq!(
            app.key_count().await,
            keys_before,
            "key count changed: {}",
            ctx()
        );
        prop_assert_eq!(
            crate::harness::keyspace::writes(app).await,
            writes_before,
            "Redis written: {}",
            ctx()
        );
    }
    Ok(())
}

/// Arbitrary requests against one real app and Redis (created once): never a 5xx,
/// always the envelope with a sound request id, the model's answer where it has one,
/// no write when refused, and only the service's own keys in Redis afterwards.
#[test]
fn http_requests_never_fail_the_envelope() {
    // The request strategy nests deeply (bodies hold any JSON); in a debug build its
    // generation and shrinking need more than a test thread's 2 MiB of stack.
    std::thread::Builder::new()
        .name("http-proptest".into())
        .stack_size(64 << 20)
        .spawn(http_requests)
        .unwrap()
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

fn http_requests() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(TestApp::start());
    let tokens: Vec<String> = USERS.iter().map(|u| app.token(u)).collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let tally = RefCell::new(Tally::default());
    let mut runner = TestRunner::new(config(256));
    let result = runner.run(&any_request(), |req| {
        rt.block_on(run_request(&app, &client, &tokens, &req, &tally))
    });
    let keys = rt.block_on(crate::harness::keyspace::assert_keyspace(&app, &USERS));
    let t = tally.borrow();
    eprintln!(
        "http proptest: {} requests ({} with a predicted answer), statuses {:?}, {} cut short \
         by a reset, {} Redis keys after",
        t.requests, t.predicted, t.by_status, t.reset, keys
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // The run must have reached the service's logic, not only its front door.
    assert!(
        t.by_status.get(&200).copied().unwrap_or(0) > 0,
        "no request succeeded"
    );
    assert!(
        t.by_status.get(&400).copied().unwrap_or(0) > 0,
        "no request was refused"
    );
}
