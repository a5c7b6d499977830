//! Profile endpoints (SPEC §3).

use axum::extract::State;

use crate::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiOk, ApiResult};
use crate::extract::JsonBody;
use crate::model::{UpdateProfileBody, UserProfile};
use crate::openapi::{BadRequest, PayloadTooLarge, UserProfileEnvelope};
use crate::store::ProfileUpdate;

/// `GET /client/user/profile`: the caller's profile, created on first sight.
#[utoipa::path(
    get,
    path = "/client/user/profile",
    operation_id = "getProfile",
    tag = "users",
    summary = "The caller's profile",
    description = "The caller's profile, created on first sight from the token's `nick` / `avatar` claims.",
    responses((status = 200, description = "The caller's profile.", body = UserProfileEnvelope)),
)]
pub async fn profile(State(state): State<AppState>, user: AuthUser) -> ApiResult<UserProfile> {
    Ok(ApiOk::data(UserProfile::from(
        state
            .store
            .ensure_profile(&user.store_user(), &ProfileUpdate::default())
            .await?,
    )))
}

/// `PUT /client/user/user` with `{nick?, avatar?, extends?}`: updates the caller's
/// profile (extends are merged; an empty value removes a key) and returns it.
#[utoipa::path(
    put,
    path = "/client/user/user",
    operation_id = "updateProfile",
    tag = "users",
    summary = "Update the caller's profile",
    description = "Changes the given fields; `extends` is merged (a key with an empty value is removed). Returns the updated profile.\n\nErrors: 400: 40000: the body is not a JSON object, a field has the wrong type, `nick` is over 64 characters, `avatar` is not an http(s) URL, or the extends limits are violated (also after the merge).",
    request_body = UpdateProfileBody,
    responses(
        (status = 200, description = "The updated profile.", body = UserProfileEnvelope),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(body): JsonBody<UpdateProfileBody>,
) -> ApiResult<UserProfile> {
    body.validate()?;
    let update = ProfileUpdate::new(body.nick, body.avatar, body.extends.as_ref());
    Ok(ApiOk::data(UserProfile::from(
        state
            .store
            .ensure_profile(&user.store_user(), &update)
            .await?,
    )))
}
