//! The OpenAPI 3.1 document of every endpoint, generated from the code and served at
//! `GET /openapi.json`.
//!
//! Where each part comes from:
//!
//! - operations: the `#[utoipa::path(...)]` attribute on each handler in
//!   [`crate::routes`](mod@crate::routes), collected by the router itself
//!   ([`crate::router`]), so a route cannot be served without being documented;
//! - schemas: `#[derive(ToSchema)]` on the wire types of [`crate::model`], plus the
//!   envelopes and the shared string and map shapes of `schemas` (`LiveId`, `Extends`, …);
//! - what every operation shares, added by `finish`: the `X-Request-Id` parameter and
//!   response header, `Retry-After` on 429 / 503, the 401 / 405 / 429 / 500 / 503
//!   responses, the links from a created room to every operation taking its `live_id`,
//!   and the SPEC §1 table of error codes ([`ERROR_CODES`]).
//!
//! `tests/openapi.rs` checks that real responses validate against this document.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

mod responses;
mod schemas;

pub use responses::*;
pub use schemas::*;

/// The envelope codes of SPEC §1: (code, HTTP status, meaning). The source of the
/// `Code` / `ErrorCode` schemas, the `x-error-codes` table and the table in the
/// document's description; `src/error.rs` pairs each `ApiError` with one of them.
pub const ERROR_CODES: &[(u32, u16, &str)] = &[
    (0, 200, "success"),
    (
        40000,
        400,
        "invalid argument: bad JSON, wrong type, out-of-range value, bad time format; also 413 (body too large) and 405 (method not allowed) carry this code",
    ),
    (40100, 401, "missing or invalid token"),
    (40101, 401, "token expired"),
    (
        40300,
        403,
        "not allowed (e.g. the caller is not the room's anchor)",
    ),
    (
        40301,
        403,
        "banned from this room until the time the message gives (server API kick with a ban)",
    ),
    (
        40400,
        404,
        "room not found (or deleted); also an unknown path",
    ),
    (
        40401,
        404,
        "user is not in this room (heartbeat / leave without join, or presence expired)",
    ),
    (
        40900,
        409,
        "room state forbids it (start an ended room, stop a room that is not live, join an ended room)",
    ),
    (
        42900,
        429,
        "rate limited / overloaded; `Retry-After` says when to retry",
    ),
    (50000, 500, "internal error (nothing internal is sent)"),
    (
        50300,
        503,
        "storage (Redis) unavailable or timed out, or the replica is draining; `Retry-After` says when to retry",
    ),
];

/// The document's introduction (before the generated table of error codes).
const INTRO: &str = "Live-streaming room service. Contract: SPEC.md.

## Envelope

Every response body is JSON in the envelope (except `GET /openapi.json`, which is this document,
and `GET /metrics`, which is Prometheus text):

```json
{\"request_id\": \"…\", \"code\": 0, \"message\": \"success\", \"data\": {…}}
```

- `request_id`: the incoming `X-Request-Id` header when it is 1-64 visible ASCII characters,
  otherwise a fresh id; also sent back as the `X-Request-Id` response header.
- `code` 0 means success; `message` is then `success`. `data` is omitted when the endpoint has
  none (stop, delete, leave, extends) and on every error.
- Errors pair a stable numeric `code` with the HTTP status; `message` is a short English sentence
  naming the field or rule that failed.
";

/// The document's conclusion (after the table of error codes).
const OUTRO: &str = "
A path that matches no route answers 404 with code 40400 (`no such endpoint`); a known path with a
method it does not serve answers 405 with code 40000 (`method not allowed`).

## Authentication

`Authorization: Bearer <jwt>` or `Authorization: <jwt>` (the raw token, as the original SDKs
send it). A JWT with `sub` (user id, 1-64 chars of `[A-Za-z0-9_.:@-]`) and `exp`, HS256 with the
shared secret or RS256 / ES256 with the configured public key; optional `nick` / `avatar` seed the
profile on first sight. A missing or invalid token is 401 / 40100, an expired one 401 / 40101.

The `/server/…` routes (tag `server`) take a server token instead (`serverAuth`): HS256 signed
with a `LIVEROOM_SERVER_KEYS` secret, `iss` = its key id, `token_use` = `server`, `exp` at most 10
minutes after `iat`. A user token is refused there and a server token on `/client/…` (401).

## Pagination

`page_num` ≥ 1 (default 1), `page_size` 1-100 (default 20), or an opaque `cursor` taken from a
previous page's `next_cursor` (then `page_num` is ignored). `page_total = ceil(total_count /
page_size)`, `end_page = page_num >= page_total` (by cursor: no entry follows), and `next_cursor`
is `\"\"` on the last page.
";

/// The document's frame: info, tags, security, the shared schemas and responses. The
/// operations are added by the router ([`crate::router`]).
#[derive(OpenApi)]
#[openapi(
    info(title = "liveroom", description = "Live-streaming room service. Contract: SPEC.md."),
    servers((url = "/")),
    tags(
        (name = "rooms", description = "Rooms: create, info, start, stop, delete, search, live list, extends (SPEC §5 #1-7, #11)."),
        (name = "members", description = "Presence: join, leave, heartbeat, user list (SPEC §5 #8-10, #12)."),
        (name = "users", description = "The caller's profile (SPEC §3)."),
        (name = "server", description = "The server API for the application's backend, with server tokens (SPEC §11): rooms of any anchor, members, user tokens."),
        (name = "media", description = "Media-server hooks (SPEC §12): nginx-rtmp and SRS ask before accepting a publish; authenticated by the hook secret in their URL."),
        (name = "probes", description = "Liveness and readiness for orchestrators."),
        (name = "meta", description = "This document and metrics."),
    ),
    security(("bearerAuth" = []), ("rawToken" = [])),
    components(
        schemas(Envelope, ErrorEnvelope, Code, ErrorCode),
        responses(
            BadRequest, Unauthorized, Forbidden, Banned, RoomNotFound, MemberNotFound,
            MethodNotAllowed, Conflict, PayloadTooLarge, TooManyRequests, InternalError,
            ServiceUnavailable
        ),
    ),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// Adds the two accepted forms of the `Authorization` header.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("`Authorization: Bearer <jwt>`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "serverAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("`Authorization: Bearer <server token>`: HS256 signed with a `LIVEROOM_SERVER_KEYS` secret, `iss` = its key id, `token_use` = `server`, `exp` at most 10 minutes after `iat` (`liveroom server-token`). The `/server/…` routes only."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "rawToken",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Authorization: <jwt>`: the raw token without a scheme, as the original SDKs send it.",
            ))),
        );
    }
}

/// The served document, generated once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| document().to_string());

/// The whole document as JSON: the router's operations in [`ApiDoc`]'s frame, finished
/// by `finish`.
pub fn document() -> Value {
    // The shed limit does not change the document; 1 is the smallest valid one.
    let generated = crate::router(1).into_openapi();
    let mut doc = serde_json::to_value(generated).expect("the OpenAPI document serialises");
    finish(&mut doc);
    doc
}

/// `GET /openapi.json`: this document (not wrapped in the envelope).
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "getOpenApi",
    tag = "meta",
    summary = "This document",
    description = "The OpenAPI 3.1 document of every endpoint, generated from the code. Not wrapped in the envelope.",
    security(()),
    responses((status = 200, description = "The OpenAPI document.", body = OpenApiDocument)),
)]
pub async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

const METHODS: [&str; 8] = [
    "get", "post", "put", "delete", "patch", "head", "options", "trace",
];

/// Completes the generated document with what every operation shares (see the module
/// documentation). Rules, by operation:
///
/// - every one: the `X-Request-Id` parameter, 405, and 500 unless it is this document;
/// - authenticated (no `security(())`): 401, and 429 (the shed layer);
/// - everything but this document and `/metrics`: 503.
fn finish(doc: &mut Value) {
    let components = doc["components"].as_object_mut().expect("components");
    components.insert(
        "parameters".into(),
        json!({"X-Request-Id": {
            "name": "X-Request-Id",
            "in": "header",
            "required": false,
            "description": "Client-chosen request id, echoed in the envelope and the response header when it is 1-64 visible ASCII characters (else replaced by a fresh id).",
            "schema": {"type": "string"},
        }}),
    );
    components.insert(
        "headers".into(),
        json!({
            "X-Request-Id": {
                "description": "The request's id (same as the envelope's `request_id`).",
                "required": true,
                "schema": {"$ref": "#/components/schemas/RequestId"},
            },
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "required": true,
                "schema": {"type": "integer", "minimum": 0},
            },
            "WWW-Authenticate": {
                "description": "The scheme a request must authenticate with: `Bearer` (RFC 6750).",
                "required": true,
                "schema": {"type": "string", "const": "Bearer"},
            },
        }),
    );
    for (name, response) in components["responses"].as_object_mut().expect("responses") {
        let retry = matches!(name.as_str(), "TooManyRequests" | "ServiceUnavailable");
        add_headers(response, retry);
        if name == "Unauthorized" {
            response["headers"]["WWW-Authenticate"] =
                json!({"$ref": "#/components/headers/WWW-Authenticate"});
        }
    }

    let mut taking_live_id = Vec::new();
    for (path, item) in doc["paths"].as_object_mut().expect("paths") {
        for (method, op) in item.as_object_mut().expect("path item") {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let op = op.as_object_mut().expect("operation");
            let params = op
                .entry("parameters")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .expect("parameters");
            if params.iter().any(|p| p["name"] == "live_id")
                && let Some(id) = op.get("operationId").and_then(Value::as_str)
            {
                taking_live_id.push(id.to_owned());
            }
            let params = op["parameters"].as_array_mut().expect("parameters");
            params.push(json!({"$ref": "#/components/parameters/X-Request-Id"}));
            // Authenticated unless `security(())` (an empty requirement): user or
            // server tokens.
            let authenticated = op.get("security") != Some(&json!([{}]));
            let responses = op["responses"].as_object_mut().expect("responses");
            let mut shared = vec![("405", "MethodNotAllowed")];
            if path != "/openapi.json" {
                shared.push(("500", "InternalError"));
            }
            if authenticated {
                shared.push(("401", "Unauthorized"));
                shared.push(("429", "TooManyRequests"));
            }
            if path != "/openapi.json" && path != "/metrics" {
                shared.push(("503", "ServiceUnavailable"));
            }
            for (status, name) in shared {
                responses
                    .entry(status)
                    .or_insert_with(|| json!({"$ref": format!("#/components/responses/{name}")}));
            }
            for response in responses.values_mut() {
                if response.get("$ref").is_none() {
                    add_headers(response, false);
                }
            }
            // `security(())` means "no authentication": an empty requirement list.
            if op.get("security") == Some(&json!([{}])) {
                op.insert("security".into(), json!([]));
            }
        }
    }

    // Every operation taking a `live_id` can follow a created room.
    let links: Map<String, Value> = taking_live_id
        .into_iter()
        .map(|id| {
            let link = json!({
                "operationId": id,
                "parameters": {"live_id": "$response.body#/data/live_id"},
                "description": "The new room's `live_id`.",
            });
            (id, link)
        })
        .collect();
    doc["paths"]["/client/live/room/instance"]["post"]["responses"]["200"]["links"] =
        Value::Object(links);

    let table: Vec<Value> = ERROR_CODES
        .iter()
        .map(|(code, status, meaning)| json!({"code": code, "status": status, "meaning": meaning}))
        .collect();
    doc["x-error-codes"] = Value::Array(table);
    let mut description = INTRO.to_owned();
    description
        .push_str("\n## Error codes\n\n| code | HTTP | meaning |\n|------|------|---------|\n");
    for (code, status, meaning) in &ERROR_CODES[1..] {
        description.push_str(&format!("| {code} | {status} | {meaning} |\n"));
    }
    description.push_str(OUTRO);
    doc["info"]["description"] = Value::from(description);
}

/// Adds the `X-Request-Id` header (and `Retry-After` when `retry`) to a response.
fn add_headers(response: &mut Value, retry: bool) {
    let headers = response
        .as_object_mut()
        .expect("response")
        .entry("headers")
        .or_insert_with(|| json!({}));
    headers["X-Request-Id"] = json!({"$ref": "#/components/headers/X-Request-Id"});
    if retry {
        headers["Retry-After"] = json!({"$ref": "#/components/headers/Retry-After"});
    }
}

#[cfg(test)]
mod tests {
    use super::ERROR_CODES;
    use crate::error::ApiError;

    /// The table of the document and `ApiError` agree: every error's (code, status) is
    /// a row (405 and 413 reuse 40000, SPEC §1), and every row is some error's.
    #[test]
    fn the_error_table_matches_api_error() {
        let errors = [
            ApiError::InvalidArgument("x".into()),
            ApiError::BodyTooLarge(1),
            ApiError::Unauthorized("x"),
            ApiError::TokenExpired,
            ApiError::Forbidden("x"),
            ApiError::Banned("x".into()),
            ApiError::RoomNotFound,
            ApiError::RouteNotFound,
            ApiError::NotInRoom,
            ApiError::Removed,
            ApiError::MethodNotAllowed {
                route: "x".into(),
                allowed: "GET".into(),
            },
            ApiError::Conflict("x"),
            ApiError::Overloaded,
            ApiError::Internal("x".into()),
            ApiError::StorageUnavailable("x".into()),
        ];
        for err in &errors {
            let (code, status) = (err.code(), err.status().as_u16());
            let row = ERROR_CODES.iter().find(|(c, _, _)| *c == code);
            let row = row.unwrap_or_else(|| panic!("{err:?}: code {code} not in the table"));
            assert!(
                row.1 == status || (code == 40000 && [405, 413].contains(&status)),
                "{err:?}: {code} is HTTP {status}, the table says {}",
                row.1
            );
        }
        for (code, _, _) in &ERROR_CODES[1..] {
            assert!(
                errors.iter().any(|e| e.code() == *code),
                "{code} is no error's"
            );
        }
    }
}
