//! Requests as one user: the typed calls of the API, one per route of `liveroom::app`
//! (SPEC §4-§6). Each returns the [`Reply`] as it came, success or not; the tests
//! assert on it. Tests about raw paths or malformed requests use
//! [`TestApp::call`] / [`TestApp::call_raw`] instead.

use serde_json::Value;

use super::{Reply, TestApp};

/// One user's side of a [`TestApp`], made by [`TestApp::user`]: every request carries
/// a valid token for that user (HS256, the test secret, 1 h).
pub struct AsUser<'a> {
    app: &'a TestApp,
    token: String,
}

/// `path?query`, the pairs percent-encoded; `path` alone for no pairs.
fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{query}")
}

impl<'a> AsUser<'a> {
    pub(super) fn new(app: &'a TestApp, user: &str) -> Self {
        Self {
            app,
            token: app.token(user),
        }
    }

    /// Any request as this user, with an optional JSON body.
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.app.call(method, path, Some(&self.token), body).await
    }

    /// `POST /client/live/room/instance`: creates a room from `body`.
    pub async fn create_room(&self, body: Value) -> Reply {
        self.send("POST", "/client/live/room/instance", Some(body))
            .await
    }

    /// `GET /client/live/room/info/{live_id}`.
    pub async fn room_info(&self, live_id: &str) -> Reply {
        let path = format!("/client/live/room/info/{live_id}");
        self.send("GET", &path, None).await
    }

    /// `PUT /client/live/room/{live_id}`: starts the room.
    pub async fn start(&self, live_id: &str) -> Reply {
        self.send("PUT", &format!("/client/live/room/{live_id}"), None)
            .await
    }

    /// `POST /client/live/room/{live_id}`: stops the room.
    pub async fn stop(&self, live_id: &str) -> Reply {
        self.send("POST", &format!("/client/live/room/{live_id}"), None)
            .await
    }

    /// `DELETE /client/live/room/{live_id}`: the alias of stop.
    pub async fn stop_by_delete(&self, live_id: &str) -> Reply {
        self.send("DELETE", &format!("/client/live/room/{live_id}"), None)
            .await
    }

    /// `DELETE /client/live/room/instance/{live_id}`: deletes the room.
    pub async fn delete_room(&self, live_id: &str) -> Reply {
        let path = format!("/client/live/room/instance/{live_id}");
        self.send("DELETE", &path, None).await
    }

    /// `GET /client/live/room?…`: search (`keyword`, `page_num`, `page_size`, `cursor`).
    pub async fn search(&self, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/client/live/room", query);
        self.send("GET", &path, None).await
    }

    /// `GET /client/live/room/list?…`: the live rooms (`page_num`, `page_size`, `cursor`).
    pub async fn list(&self, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/client/live/room/list", query);
        self.send("GET", &path, None).await
    }

    /// `POST /client/live/room/user/{live_id}`: joins the room.
    pub async fn join(&self, live_id: &str) -> Reply {
        let path = format!("/client/live/room/user/{live_id}");
        self.send("POST", &path, None).await
    }

    /// `DELETE /client/live/room/user/{live_id}`: leaves the room.
    pub async fn leave(&self, live_id: &str) -> Reply {
        let path = format!("/client/live/room/user/{live_id}");
        self.send("DELETE", &path, None).await
    }

    /// `GET /client/live/room/heartbeat/{live_id}`.
    pub async fn heartbeat(&self, live_id: &str) -> Reply {
        let path = format!("/client/live/room/heartbeat/{live_id}");
        self.send("GET", &path, None).await
    }

    /// `GET /client/live/room/user_list?…` (`live_id`, `page_num`, `page_size`, `cursor`).
    pub async fn user_list(&self, query: &[(&str, &str)]) -> Reply {
        let path = with_query("/client/live/room/user_list", query);
        self.send("GET", &path, None).await
    }

    /// `PUT /client/live/room/extends` with `body` (`live_id`, `extends`).
    pub async fn update_extends(&self, body: Value) -> Reply {
        self.send("PUT", "/client/live/room/extends", Some(body))
            .await
    }

    /// `GET /client/user/profile`.
    pub async fn profile(&self) -> Reply {
        self.send("GET", "/client/user/profile", None).await
    }

    /// `PUT /client/user/user` with `body` (profile fields).
    pub async fn update_profile(&self, body: Value) -> Reply {
        self.send("PUT", "/client/user/user", Some(body)).await
    }
}
