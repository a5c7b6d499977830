//! The server API (`src/routes/server/`, SPEC §11): server tokens and their keys
//! (`auth`), user tokens signed with a public key (`public_key`), and the routes
//! (`rooms`, `members`, `moderation`, `tokens`, `update`).

mod auth;
mod members;
mod moderation;
mod public_key;
mod rooms;
mod tokens;
mod update;

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Reply, TestApp};

/// Two server keys, as `LIVEROOM_SERVER_KEYS` holds them while one is rotated.
pub const KEY1: (&str, &str) = ("backend-2026a", "first-secret-0123456789");
pub const KEY2: (&str, &str) = ("backend-2026b", "second-secret-0123456789");

/// `LIVEROOM_SERVER_KEYS` with both keys.
pub fn both_keys() -> String {
    format!("{}:{},{}:{}", KEY1.0, KEY1.1, KEY2.0, KEY2.1)
}

/// A server token for `key` (10 minutes).
pub fn server_token(key: (&str, &str)) -> String {
    liveroom::auth::server::mint_server_token(key.0, key.1, Duration::from_secs(600)).unwrap()
}

/// The app with both server keys configured.
pub async fn server_app() -> TestApp {
    TestApp::start_with(|c| c.server_keys = Some(both_keys())).await
}

/// A request with the first key's server token.
pub async fn as_server(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Reply {
    app.call(method, path, Some(&server_token(KEY1)), body)
        .await
}
