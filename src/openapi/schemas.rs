//! Schemas of the document beyond the wire types' derives: the shared string and map
//! shapes (`LiveId`, `Extends`, …), the envelope codes, the envelopes of each `data`
//! shape (SPEC §1), and the query and path parameters.

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr, Required};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::ERROR_CODES;
use crate::extract::{LiveIdPath, MAX_PAGE_SIZE};
use crate::model::{HeartbeatData, MemberInfo, PageOf, RoomView, UserProfile, limits};
use crate::routes::probes::ProbeStatus;

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

// Envelopes (SPEC §1): the shape `crate::error::Envelope` serialises.

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
    /// Success with a minted user token (server API).
    TokenEnvelope(crate::routes::server::tokens::MintedToken)
}
ok_envelope! {
    /// Success of a kick (server API).
    KickEnvelope(crate::routes::server::moderation::KickResult)
}
ok_envelope! {
    /// Success of lifting a ban (server API).
    UnbanEnvelope(crate::routes::server::moderation::UnbanResult)
}
ok_envelope! {
    /// Success with a page of active bans (server API).
    BanPageEnvelope(PageOf<crate::routes::server::moderation::BanInfo>)
}
ok_envelope! {
    /// A passing probe.
    ProbeEnvelope(ProbeStatus)
}

// Parameters.

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
