//! The OpenAPI 3.1 document of every endpoint, generated from the code and served at
//! `GET /openapi.json`.
//!
//! Where each part comes from:
//!
//! - operations: the `#[utoipa::path(...)]` attribute on each handler in
//!   [`crate::routes`](mod@crate::routes), collected by the router itself ([`crate::router`]), so a route
//!   cannot be served without being documented;
//! - schemas: `#[derive(ToSchema)]` on the wire types of [`crate::model`], plus the
//!   envelopes and the shared string shapes below (`LiveId`, `Extends`, …);
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
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, Response, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, PartialSchema, ToSchema};

use crate::extract::{LiveIdPath, MAX_PAGE_SIZE};
use crate::model::{HeartbeatData, MemberInfo, PageOf, RoomView, UserProfile, limits};
use crate::routes::probes::ProbeStatus;

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
send it). HS256 JWT with `sub` (user id, 1-64 chars of `[A-Za-z0-9_.:@-]`) and `exp`; optional
`nick` / `avatar` seed the profile on first sight. A missing or invalid token is 401 / 40100, an
expired one 401 / 40101.

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
        (name = "probes", description = "Liveness and readiness for orchestrators."),
        (name = "meta", description = "This document and metrics."),
    ),
    security(("bearerAuth" = []), ("rawToken" = [])),
    components(
        schemas(Envelope, ErrorEnvelope, Code, ErrorCode),
        responses(
            BadRequest, Unauthorized, Forbidden, RoomNotFound, MemberNotFound,
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

// ---------------------------------------------------------------------------
// shared schemas
// ---------------------------------------------------------------------------

/// Declares a documentation-only schema type whose schema `$build` returns.
macro_rules! schema_type {
    ($(#[$doc:meta])* $name:ident => $build:expr) => {
        $(#[$doc])*
        #[derive(serde::Serialize)] // so envelopes can use `#[serde(deny_unknown_fields)]`
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::T($build)
            }
        }

        impl ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

/// A `oneOf` of the codes of [`ERROR_CODES`] (with 0 when `with_success`).
fn codes(description: &str, with_success: bool) -> Schema {
    let mut one_of = OneOfBuilder::new().description(Some(description));
    for (code, status, meaning) in ERROR_CODES {
        if *code == 0 && !with_success {
            continue;
        }
        let title = if *code == 0 {
            "success".to_owned()
        } else {
            code.to_string()
        };
        one_of = one_of.item(
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .enum_values(Some([*code]))
                .title(Some(title))
                .description(Some(format!("HTTP {status}: {meaning}"))),
        );
    }
    one_of.build().into()
}

fn extends(description: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .max_properties(Some(limits::EXTENDS_KEYS_MAX))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(limits::EXTENDS_KEY_MAX)),
        ))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(limits::EXTENDS_VALUE_MAX))
                .into(),
        ))))
        .into()
}

schema_type! {
    /// `request_id`: 1-64 visible ASCII characters.
    RequestId => string("The request's id: the incoming `X-Request-Id` when it is 1-64 visible ASCII characters, else a fresh id. Also the `X-Request-Id` response header.")
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some("^[!-~]{1,64}$"))
        .into()
}

schema_type! {
    /// The envelope's `code`: 0 or an error code.
    Code => codes("The envelope's `code`: 0 on success, else one of the error codes (SPEC §1).", true)
}

schema_type! {
    /// An error's `code`.
    ErrorCode => codes("An error's `code`; each is paired with one HTTP status (see `x-error-codes`).", false)
}

schema_type! {
    /// The envelope's `message`.
    Message => string("`success`, or a short English sentence naming the field or rule that failed (e.g. `title must be 1-128 characters`).")
        .min_length(Some(1))
        .into()
}

schema_type! {
    /// `code` of a success: 0.
    OkCode => ObjectBuilder::new().schema_type(Type::Integer).enum_values(Some([0])).into()
}

schema_type! {
    /// `message` of a success: `success`.
    OkMessage => ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["success"])).into()
}

schema_type! {
    /// A room id (`live_id`).
    LiveId => string("A room id: opaque, `live_` + 20 random hex digits when created by this service; 1-64 characters of `[A-Za-z0-9_-]` are accepted wherever an id is an input.")
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some("^[A-Za-z0-9_-]{1,64}$"))
        .examples(["live_0f3a9c1b2d4e5f607182"])
        .into()
}

schema_type! {
    /// A user id (a token's `sub`).
    UserId => string("A user id: the token's `sub`, 1-64 characters of `[A-Za-z0-9_.:@-]`.")
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some("^[A-Za-z0-9_.:@-]{1,64}$"))
        .into()
}

schema_type! {
    /// `live_status`: 0 created, 1 live, 2 ended.
    LiveStatus => ObjectBuilder::new()
        .schema_type(Type::Integer)
        .description(Some("0 created, 1 live, 2 ended."))
        .enum_values(Some([0, 1, 2]))
        .into()
}

schema_type! {
    /// Extends as stored and returned (SPEC §7).
    Extends => extends("Free-form key/value pairs: at most 32 keys, each 1-64 characters, each value a string of at most 1024 characters.")
}

schema_type! {
    /// Extends to merge: an empty value removes its key.
    ExtendsPatch => extends("Keys to merge into existing extends: a key with an empty value is removed. At most 32 keys, each 1-64 characters, values at most 1024 characters; the merged result may hold at most 32 keys (else 400 / 40000).")
}

schema_type! {
    /// A time input (SPEC §4).
    TimeString => string("`YYYY-MM-DD HH:MM:SS` in the configured time zone (default UTC+08:00), or RFC 3339 with an explicit offset; empty means not given. Surrounding whitespace is ignored; a date that does not exist (`2021-02-30`) or a time not after 1970-01-01 is 400 / 40000.")
        .pattern(Some(r"^$|^(197[1-9]|19[89][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])( ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]|T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))$"))
        .examples(["2021-12-02 11:11:11", "2021-12-02T03:11:11Z"])
        .into()
}

schema_type! {
    /// The body of `GET /openapi.json`.
    OpenApiDocument => ObjectBuilder::new()
        .schema_type(Type::Object)
        .required("openapi")
        .required("info")
        .required("paths")
        .required("components")
        .property("openapi", ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^3\.1\.")))
        .into()
}

// ---------------------------------------------------------------------------
// envelopes (SPEC §1): the shape `crate::error::Envelope` serialises
// ---------------------------------------------------------------------------

/// The envelope of every JSON response (SPEC §1). The operation-specific envelopes
/// narrow `code`, `message` and `data`.
#[derive(serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documentation only
pub struct Envelope {
    request_id: RequestId,
    code: Code,
    message: Message,
    /// The payload; omitted when the endpoint has none and on every error.
    #[schema(value_type = Option<Object>, nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<()>,
}

/// An error: the envelope without `data`.
#[derive(serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documentation only
pub struct ErrorEnvelope {
    request_id: RequestId,
    code: ErrorCode,
    message: Message,
}

/// Success without `data` (stop, delete, leave, extends).
#[derive(serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documentation only
pub struct OkEnvelope {
    request_id: RequestId,
    #[schema(inline)]
    code: OkCode,
    #[schema(inline)]
    message: OkMessage,
}

/// Declares the success envelope of one `data` shape.
macro_rules! ok_envelope {
    ($(#[$doc:meta])* $name:ident($data:ty)) => {
        $(#[$doc])*
        #[derive(serde::Serialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)] // documentation only
        pub struct $name {
            request_id: RequestId,
            #[schema(inline)]
            code: OkCode,
            #[schema(inline)]
            message: OkMessage,
            data: $data,
        }
    };
}

ok_envelope! {
    /// Success with a room.
    RoomEnvelope(RoomView)
}
ok_envelope! {
    /// Success with a page of rooms.
    RoomPageEnvelope(PageOf<RoomView>)
}
ok_envelope! {
    /// Success with a page of present members, oldest join first.
    MemberPageEnvelope(PageOf<MemberInfo>)
}
ok_envelope! {
    /// Success of a heartbeat.
    HeartbeatEnvelope(HeartbeatData)
}
ok_envelope! {
    /// Success with a user profile.
    UserProfileEnvelope(UserProfile)
}
ok_envelope! {
    /// A passing probe.
    ProbeEnvelope(ProbeStatus)
}

// ---------------------------------------------------------------------------
// parameters
// ---------------------------------------------------------------------------

impl IntoParams for LiveIdPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("live_id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(
                    "The room: 1-64 characters of `[A-Za-z0-9_-]` (else 400 / 40000).",
                ))
                .schema(Some(Ref::from_schema_name("LiveId")))
                .build(),
        ]
    }
}

/// Query parameters of a paged list (SPEC §5): a page number or a cursor.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: `crate::extract::Page` parses them
pub struct PageParams {
    /// 1-based page number; ignored when `cursor` is given. Empty means the default.
    #[param(minimum = 1, maximum = 1000000, default = 1)]
    page_num: Option<u64>,
    /// Items per page. Empty means the default.
    #[param(minimum = 1, maximum = 100, default = 20)]
    page_size: Option<u64>,
    /// Opaque `next_cursor` of a previous page of the same list: walks a list that
    /// changes under it without skipping or repeating entries. URL-safe base64 without
    /// padding; anything else is 400 / 40000.
    #[param(pattern = "^[A-Za-z0-9_-]*$")]
    cursor: Option<String>,
}

/// Query parameter of the room search.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: `crate::routes::rooms::search` reads it
pub struct SearchParams {
    /// Search keyword (trimmed), at most 128 characters; empty lists every room.
    #[param(max_length = 128)]
    keyword: Option<String>,
}

/// Query parameter of the member list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: `crate::routes::members::user_list` reads it
pub struct RoomParam {
    /// The room: 1-64 characters of `[A-Za-z0-9_-]` (missing or malformed: 400 / 40000).
    #[param(value_type = LiveId)]
    live_id: String,
}

const _: () = assert!(MAX_PAGE_SIZE == 100, "PageParams' page_size maximum");

// ---------------------------------------------------------------------------
// error responses
// ---------------------------------------------------------------------------

/// An error response: the error envelope narrowed to `codes`.
fn error_response(description: &str, codes: &[u32]) -> Response {
    let narrowed = ObjectBuilder::new().property(
        "code",
        ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .enum_values(Some(codes.iter().copied())),
    );
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(
                    AllOfBuilder::new()
                        .item(Ref::from_schema_name("ErrorEnvelope"))
                        .item(narrowed),
                ))
                .build(),
        )
        .extensions(Some(
            ExtensionsBuilder::new()
                .add("x-error-codes", json!(codes))
                .build(),
        ))
        .build()
}

/// Declares a shared error response (`#/components/responses/$name`).
macro_rules! error_response {
    ($(#[$doc:meta])* $name:ident, $description:literal, $codes:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl<'r> utoipa::ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), RefOr::T(error_response($description, &$codes)))
            }
        }
    };
}

error_response!(
    /// 400 / 40000.
    BadRequest,
    "40000: invalid argument (malformed JSON, wrong type, a field or parameter out of range); the message names the field.",
    [40000]
);
error_response!(
    /// 401 / 40100, 40101.
    Unauthorized,
    "40100: the `Authorization` header is missing or the token is invalid; 40101: the token has expired.",
    [40100, 40101]
);
error_response!(
    /// 403 / 40300.
    Forbidden,
    "40300: the caller is not the room's anchor.",
    [40300]
);
error_response!(
    /// 404 / 40400.
    RoomNotFound,
    "40400: the room does not exist (or was deleted).",
    [40400]
);
error_response!(
    /// 404 / 40400, 40401.
    MemberNotFound,
    "40400: the room does not exist (or was deleted); 40401: the caller is not present in the room (never joined, left, or missed heartbeats) and should join again.",
    [40400, 40401]
);
error_response!(
    /// 405 / 40000.
    MethodNotAllowed,
    "40000: the path exists but does not serve this method.",
    [40000]
);
error_response!(
    /// 409 / 40900.
    Conflict,
    "40900: the room's state forbids the operation; the message says which.",
    [40900]
);
error_response!(
    /// 413 / 40000.
    PayloadTooLarge,
    "40000: the request body is larger than 64 KiB.",
    [40000]
);
error_response!(
    /// 429 / 42900.
    TooManyRequests,
    "42900: rate limited or overloaded; retry after `Retry-After` seconds.",
    [42900]
);
error_response!(
    /// 500 / 50000.
    InternalError,
    "50000: internal error; the cause is logged, not sent.",
    [50000]
);
error_response!(
    /// 503 / 50300.
    ServiceUnavailable,
    "50300: storage (Redis) unavailable or timed out, or the replica is draining; retry after `Retry-After` seconds.",
    [50300]
);

// ---------------------------------------------------------------------------
// what every operation shares
// ---------------------------------------------------------------------------

const METHODS: [&str; 8] = [
    "get", "post", "put", "delete", "patch", "head", "options", "trace",
];

/// Completes the generated document with what every operation shares (see the module
/// documentation). Rules, by operation:
///
/// - every one: the `X-Request-Id` parameter, 405, and 500 unless it is this document;
/// - authenticated (no `security` of its own): 401, and 429 (the shed layer);
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
        }),
    );
    for (name, response) in components["responses"].as_object_mut().expect("responses") {
        let retry = matches!(name.as_str(), "TooManyRequests" | "ServiceUnavailable");
        add_headers(response, retry);
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
            let authenticated = !op.contains_key("security");
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
