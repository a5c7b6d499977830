//! The shared error responses (`#/components/responses/...`): the error envelope
//! narrowed to the codes each one carries, listed in its `x-error-codes`.

use serde_json::json;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, SchemaType};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

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
    "40100: the `Authorization` header is missing, has another scheme than `Bearer` or no token, or the token is invalid (the message says which); 40101: the token has expired. Both carry `WWW-Authenticate: Bearer`.",
    [40100, 40101]
);
error_response!(
    /// 403 / 40300.
    Forbidden,
    "40300: the caller is not the room's anchor.",
    [40300]
);
error_response!(
    /// 403 / 40301.
    Banned,
    "40301: the user is banned from this room (a server API kick with a ban); the message gives the ban's end as RFC 3339 UTC time. Retry after it, or once the ban is lifted.",
    [40301]
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
    "40000: the path matches a route that does not serve this method; the message names the route and the methods it takes (so does the `Allow` header).",
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
