//! Profile endpoints (SPEC §3).

use axum::extract::State;

use crate::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiOk, ApiResult};
use crate::extract::JsonBody;
use crate::model::{UpdateProfileBody, UserProfile};
use crate::store::ProfileUpdate;

/// `GET /client/user/profile`: the caller's profile, created on first sight.
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
