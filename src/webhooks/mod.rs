//! Webhooks (docs/SPEC.md §10 "Webhooks"): room events delivered to the receivers of
//! `LIVEROOM_WEBHOOK_URLS`, one event per `POST`, signed with
//! `LIVEROOM_WEBHOOK_SECRET` (see [`crate::events::signature`]), at least once and in
//! order per room, surviving crashes (delivery state lives in Redis, docs/DESIGN.md
//! "Webhook delivery").
//!
//! - [`WebhookSettings`]: the validated settings (errors name the setting).
//! - [`Sender`]: one signed `POST` of one event body.
//! - [`deliver`]: the delivery loop every replica runs.
//! - [`cli`]: `liveroom webhooks listen` and `liveroom webhooks redeliver`.

pub mod cli;
pub mod deliver;
pub mod listen;
pub mod redeliver;

use std::collections::BTreeSet;
use std::time::Duration;

use crate::config::WebhookConfig;
use crate::events::EVENT_NAMES;
use crate::events::signature::{SIGNATURE_HEADER, sign};

/// `Content-Type` of every delivery (the Standard Webhooks media type).
pub const CONTENT_TYPE: &str = "application/webhook+json";

/// Header carrying the event's `id` (also in the body), for receivers that
/// de-duplicate before parsing.
pub const EVENT_ID_HEADER: &str = "Liveroom-Event-Id";

/// The room events of SPEC §10 (`room_*`).
const ROOM_EVENTS: [&str; 6] = [
    "room_created",
    "room_started",
    "room_stopped",
    "room_deleted",
    "room_extends_updated",
    "room_updated",
];
/// The anchor events (`anchor_*`), and the anchor's stream (`stream_*`, SPEC §12).
const ANCHOR_EVENTS: [&str; 4] = [
    "anchor_offline",
    "anchor_online",
    "stream_started",
    "stream_stopped",
];
/// The member events (`member_*`): one per join and leave, opt-in.
const MEMBER_EVENTS: [&str; 2] = ["member_joined", "member_left"];

/// The webhook settings, validated: present only when `LIVEROOM_WEBHOOK_URLS` is set.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Receivers, in configuration order. A receiver's id in Redis is the first 8
    /// hex digits of SHA-1 of its URL (`store::keys::webhook_receiver_id`), so
    /// reordering the list keeps every receiver's delivery state.
    pub urls: Vec<reqwest::Url>,
    /// HMAC secret of the signatures.
    pub secret: String,
    /// Event names to deliver (SPEC §10 names).
    pub events: BTreeSet<&'static str>,
    /// Timeout of one delivery request.
    pub timeout: Duration,
    /// Age (from the event's `created_at`) past which an undelivered event is
    /// dead-lettered.
    pub max_age: Duration,
    /// Most rooms delivered at once by this replica (each with at most one request
    /// in flight per receiver).
    pub concurrency: usize,
    /// Pause between looks for rooms with undelivered events.
    pub poll_interval: Duration,
}

impl WebhookSettings {
    /// Validates `config`: `Ok(None)` when no URL is set; errors name the setting
    /// (`LIVEROOM_WEBHOOK_URLS` not http(s), `LIVEROOM_WEBHOOK_SECRET` missing,
    /// `LIVEROOM_WEBHOOK_EVENTS` naming an unknown event).
    pub fn from_config(config: &WebhookConfig) -> Result<Option<Self>, String> {
        let urls: Vec<&str> = config
            .urls
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            return Ok(None);
        }
        let mut parsed = Vec::with_capacity(urls.len());
        for url in urls {
            let bad = |why: &str| {
                format!("LIVEROOM_WEBHOOK_URLS: `{url}` is not an http:// or https:// URL ({why})")
            };
            let u = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err(bad(&format!("scheme `{}`", u.scheme())));
            }
            if u.host_str().is_none_or(str::is_empty) {
                return Err(bad("no host"));
            }
            parsed.push(u);
        }
        let secret = match config.secret.as_deref() {
            Some(s) if !s.is_empty() => s.to_owned(),
            _ => {
                return Err(
                    "LIVEROOM_WEBHOOK_SECRET is required with LIVEROOM_WEBHOOK_URLS: \
                     receivers verify every delivery with it"
                        .into(),
                );
            }
        };
        Ok(Some(Self {
            urls: parsed,
            secret,
            events: parse_events(&config.events)?,
            timeout: config.timeout,
            max_age: config.max_age,
            concurrency: config.concurrency as usize,
            poll_interval: config.poll_interval,
        }))
    }

    /// Whether event `name` is delivered.
    pub fn wants(&self, name: &str) -> bool {
        self.events.contains(name)
    }
}

/// Reads `LIVEROOM_WEBHOOK_EVENTS`: names of SPEC §10, the groups `room`, `anchor`,
/// `member`, or `all`, comma-separated.
pub fn parse_events(text: &str) -> Result<BTreeSet<&'static str>, String> {
    let mut events = BTreeSet::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match word {
            "all" => events.extend(EVENT_NAMES),
            "room" => events.extend(ROOM_EVENTS),
            "anchor" => events.extend(ANCHOR_EVENTS),
            "member" => events.extend(MEMBER_EVENTS),
            name => match EVENT_NAMES.iter().find(|n| **n == name) {
                Some(n) => {
                    events.insert(*n);
                }
                None => {
                    return Err(format!(
                        "LIVEROOM_WEBHOOK_EVENTS: unknown event `{name}`; use `all`, `room`, `anchor`, `member` or any of {}",
                        EVENT_NAMES.join(", ")
                    ));
                }
            },
        }
    }
    if events.is_empty() {
        return Err("LIVEROOM_WEBHOOK_EVENTS selects no event".into());
    }
    Ok(events)
}

/// Sends signed deliveries: one HTTP client (connection pool, `timeout` per request,
/// no redirects followed: a receiver answering 3xx has not taken the event).
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    secret: String,
}

/// How one delivery attempt went.
#[derive(Debug)]
pub enum Outcome {
    /// The receiver answered 2xx: delivered.
    Delivered,
    /// Any other answer, a timeout or a connection error: retry later. The text says
    /// which, for logs and the dead letter.
    Failed(String),
}

impl Sender {
    /// A sender signing with `secret`, giving up on a request after `timeout`.
    pub fn new(secret: &str, timeout: Duration) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("liveroom-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the webhook HTTP client builds with static settings");
        Self {
            client,
            secret: secret.to_owned(),
        }
    }

    /// `POST`s `body` (one event's exact JSON) to `url` with `Content-Type:
    /// application/webhook+json`, `Liveroom-Signature` (signed now) and
    /// `Liveroom-Event-Id: event_id`.
    pub async fn send(&self, url: &reqwest::Url, event_id: &str, body: &str) -> Outcome {
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let signature = sign(self.secret.as_bytes(), now_s, body.as_bytes());
        let result = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_ID_HEADER, event_id)
            .body(body.to_owned())
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => Outcome::Delivered,
            Ok(response) => Outcome::Failed(format!("receiver answered {}", response.status())),
            Err(e) if e.is_timeout() => Outcome::Failed("timed out".into()),
            Err(e) if e.is_connect() => Outcome::Failed(format!("cannot connect: {e}")),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(urls: &[&str], secret: Option<&str>, events: &str) -> WebhookConfig {
        let mut c = crate::config::ServeConfig::defaults().webhooks;
        c.urls = urls.iter().map(|u| u.to_string()).collect();
        c.secret = secret.map(str::to_owned);
        c.events = events.into();
        c
    }

    #[test]
    fn no_urls_means_no_webhooks() {
        assert!(
            WebhookSettings::from_config(&config(&[], None, "room"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_settings_are_refused_naming_the_setting() {
        let err =
            WebhookSettings::from_config(&config(&["ftp://x/y"], Some("s"), "all")).unwrap_err();
        assert!(err.starts_with("LIVEROOM_WEBHOOK_URLS"), "{err}");
        let err =
            WebhookSettings::from_config(&config(&["not a url"], Some("s"), "all")).unwrap_err();
        assert!(err.starts_with("LIVEROOM_WEBHOOK_URLS"), "{err}");
        let err = WebhookSettings::from_config(&config(&["http://h/x"], None, "all")).unwrap_err();
        assert!(err.starts_with("LIVEROOM_WEBHOOK_SECRET"), "{err}");
        let err = WebhookSettings::from_config(&config(&["http://h/x"], Some("s"), "room,nope"))
            .unwrap_err();
        assert!(err.contains("`nope`"), "{err}");
    }

    #[test]
    fn event_groups_expand_and_the_default_leaves_members_out() {
        let s = WebhookSettings::from_config(&config(&["http://h/x"], Some("s"), "room,anchor"))
            .unwrap()
            .unwrap();
        assert!(s.wants("room_stopped") && s.wants("anchor_offline"));
        assert!(!s.wants("member_joined"));
        assert_eq!(parse_events("all").unwrap().len(), EVENT_NAMES.len());
        assert_eq!(
            parse_events("member,room_created")
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            ["member_joined", "member_left", "room_created"]
        );
    }
}
