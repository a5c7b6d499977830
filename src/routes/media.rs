//! Media-server hooks (docs/SPEC.md §12): `POST /media/nginx-rtmp` (nginx-rtmp's
//! `on_publish`, `on_update`, `on_publish_done`: one URL for all three, the form's
//! `call` says which) and `POST /media/srs` (SRS's `on_publish`, `on_hls`,
//! `on_unpublish`: JSON, the body's `action` says which). Both carry the hook
//! secret in their URL (`?secret=`); the decision is `crate::media::run`'s.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ApiOk};
use crate::extract::{JsonBody, QueryParams};
use crate::media::{self, Accepted, HookCall, HookKind, Refusal};
use crate::openapi::{
    BadRequest, Envelope, Forbidden, OkEnvelope, PayloadTooLarge, TooManyRequests,
};

/// The error of a refusal, for media servers that read the HTTP status
/// (nginx-rtmp: any status but 2xx refuses the publish).
fn refusal_error(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Unavailable => ApiError::StorageUnavailable("media hook".into()),
        Refusal::BadRequest => ApiError::InvalidArgument(refusal.message().into()),
        other => ApiError::Forbidden(other.message()),
    }
}

/// An empty call, to count and log a refusal found before the call is read.
fn unread(server: &'static str, kind: HookKind) -> HookCall {
    HookCall {
        kind,
        server,
        app: String::new(),
        stream: String::new(),
        client: String::new(),
        addr: String::new(),
        expire: None,
        token: None,
    }
}

/// The form nginx-rtmp posts (`application/x-www-form-urlencoded`), documented for
/// the OpenAPI document; the route reads the raw form.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documentation only
#[schema(as = NginxRtmpHook)]
pub struct NginxRtmpForm {
    /// `publish` (on_publish), `update_publish` (on_update), `publish_done`
    /// (on_publish_done); other calls (`play`, `play_done`, `done`, `update_play`,
    /// `connect`) are answered 200 and change nothing.
    call: String,
    /// The stream name: the room's `live_id`.
    name: Option<String>,
    /// The RTMP application (`live`).
    app: Option<String>,
    /// nginx's connection number of the publisher.
    clientid: Option<String>,
    /// The publisher's address.
    addr: Option<String>,
    /// The push URL's expiry (Unix seconds), from its query string.
    expire: Option<String>,
    /// The push URL's signature, from its query string.
    token: Option<String>,
}

/// `POST /media/nginx-rtmp?secret=…`: nginx-rtmp's publish callbacks.
#[utoipa::path(
    post,
    path = "/media/nginx-rtmp",
    operation_id = "mediaNginxRtmp",
    tag = "media",
    summary = "nginx-rtmp publish hooks",
    description = "Configure nginx-rtmp with `on_publish`, `on_update` and `on_publish_done` all set to `http://<liveroom>/media/nginx-rtmp?secret=<LIVEROOM_MEDIA_HOOK_SECRET>` (`notify_method post`, the default; `notify_update_timeout` shorter than `LIVEROOM_MEMBER_TIMEOUT`, e.g. 5s). The form's `call` says which hook: `publish` is accepted (200) only for the room's signed push URL (SPEC §8) whose `expire` is in the future, into a live room with no other stream; `update_publish` renews the stream's presence (a refusal makes nginx-rtmp drop the publisher); `publish_done` stops it (the anchor goes offline at once). Any answer but 2xx refuses, as nginx-rtmp reads it.\n\nErrors: 400: 40000: no `call`, stream name or client id. 403: 40300: the hooks are off (no `LIVEROOM_MEDIA_HOOK_SECRET`), the `secret` is missing or wrong, or the publish is refused (the message says why: token, expiry, room unknown / ended / not live, another stream publishing).",
    params(("secret" = Option<String>, Query, description = "`LIVEROOM_MEDIA_HOOK_SECRET`.")),
    request_body(content = NginxRtmpForm, content_type = "application/x-www-form-urlencoded"),
    security(()),
    responses(
        (status = 200, description = "Accepted (or nothing to do).", body = OkEnvelope),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 429, response = TooManyRequests),
    ),
)]
pub async fn nginx_rtmp(
    State(state): State<AppState>,
    query: QueryParams,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let kind = match field("call").as_str() {
        "publish" => HookKind::Publish,
        "update_publish" => HookKind::Renew,
        "publish_done" => HookKind::Stop,
        "" => {
            return ApiError::InvalidArgument("call is required (nginx-rtmp's hook form)".into())
                .into_response();
        }
        // Plays and the rest are not gated (after the secret check).
        _ => {
            return match state.media.authorize(query.get("secret")) {
                Ok(()) => ApiOk::empty().into_response(),
                Err(refusal) => refusal_error(refusal).into_response(),
            };
        }
    };
    if let Err(refusal) = state.media.authorize(query.get("secret")) {
        media::count_refusal(&unread("nginx-rtmp", kind), refusal);
        return refusal_error(refusal).into_response();
    }
    let clientid = field("clientid");
    let call = HookCall {
        kind,
        server: "nginx-rtmp",
        app: field("app"),
        stream: field("name"),
        client: if clientid.is_empty() {
            String::new()
        } else {
            format!("nginx-rtmp:{clientid}")
        },
        addr: field("addr"),
        expire: form
            .iter()
            .rev()
            .find(|(k, _)| k == "expire")
            .map(|(_, v)| v.clone()),
        token: form
            .iter()
            .rev()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.clone()),
    };
    match media::run(&state, &call).await {
        Ok(_) => ApiOk::empty().into_response(),
        Err(refusal) => refusal_error(refusal).into_response(),
    }
}

/// The JSON SRS posts to its HTTP hooks (v4 / v5 shape; unknown fields ignored).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = SrsHook)]
pub struct SrsHookBody {
    /// `on_publish`, `on_hls` (renews the stream), `on_unpublish`; other actions are
    /// answered `code` 0 and change nothing.
    pub action: Option<String>,
    /// SRS's id of the client: a string (v4 / v5) or a number (v3).
    #[schema(value_type = Option<Object>)]
    pub client_id: Option<Value>,
    /// The publisher's address.
    pub ip: Option<String>,
    /// The application (`live`).
    pub app: Option<String>,
    /// The stream name: the room's `live_id`.
    pub stream: Option<String>,
    /// The push URL's query string: `?expire=…&token=…`.
    pub param: Option<String>,
    /// The SRS server's id (v5), to tell several servers' clients apart.
    pub server_id: Option<String>,
}

/// The SRS answer: HTTP 200 and the envelope, `code` 0 accepting and any other code
/// refusing (SRS reads `code`).
fn srs_answer(result: Result<(), ApiError>) -> Response {
    let (code, message) = match &result {
        Ok(()) => (0, "success".to_owned()),
        Err(e) => (e.code(), e.to_string()),
    };
    Json(json!({
        "request_id": crate::request_id::current().as_ref(),
        "code": code,
        "message": message,
    }))
    .into_response()
}

/// `POST /media/srs?secret=…`: SRS's HTTP hooks.
#[utoipa::path(
    post,
    path = "/media/srs",
    operation_id = "mediaSrs",
    tag = "media",
    summary = "SRS publish hooks",
    description = "Configure SRS's `http_hooks` with `on_publish`, `on_unpublish` (and `on_hls`, which renews the stream's presence while HLS segments are made) set to `http://<liveroom>/media/srs?secret=<LIVEROOM_MEDIA_HOOK_SECRET>`. The body's `action` says which hook; the publish rules are nginx-rtmp's (`/media/nginx-rtmp`). Always HTTP 200 with the envelope: `code` 0 accepts; any other code refuses (SRS reads `code`): 40300 refused (the message says why), 40000 a body without `action`, `stream` or `client_id`, 50300 storage unavailable.",
    params(("secret" = Option<String>, Query, description = "`LIVEROOM_MEDIA_HOOK_SECRET`.")),
    request_body = SrsHookBody,
    security(()),
    responses(
        (status = 200, description = "`code` 0: accepted; another code: refused.", body = Envelope),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = TooManyRequests),
    ),
)]
pub async fn srs(
    State(state): State<AppState>,
    query: QueryParams,
    JsonBody(body): JsonBody<SrsHookBody>,
) -> Response {
    let kind = match body.action.as_deref().unwrap_or("") {
        "on_publish" => HookKind::Publish,
        "on_hls" => HookKind::Renew,
        "on_unpublish" => HookKind::Stop,
        "" => {
            return srs_answer(Err(ApiError::InvalidArgument(
                "action is required (SRS's hook body)".into(),
            )));
        }
        _ => {
            return srs_answer(
                state
                    .media
                    .authorize(query.get("secret"))
                    .map_err(refusal_error),
            );
        }
    };
    if let Err(refusal) = state.media.authorize(query.get("secret")) {
        media::count_refusal(&unread("srs", kind), refusal);
        return srs_answer(Err(refusal_error(refusal)));
    }
    let client_id = match &body.client_id {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let call = HookCall {
        kind,
        server: "srs",
        app: body.app.unwrap_or_default(),
        stream: body.stream.unwrap_or_default(),
        client: if client_id.is_empty() {
            String::new()
        } else {
            format!("srs:{}:{client_id}", body.server_id.unwrap_or_default())
        },
        addr: body.ip.unwrap_or_default(),
        expire: None,
        token: None,
    }
    .with_query_args(body.param.as_deref().unwrap_or(""));
    srs_answer(
        media::run(&state, &call)
            .await
            .map(|_: Accepted| ())
            .map_err(refusal_error),
    )
}
