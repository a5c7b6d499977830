//! Authentication (SPEC §2): `Authorization: <jwt>` or `Authorization: Bearer <jwt>`,
//! HS256 with a shared secret, `sub` and `exp` required, `iss` / `aud` checked when
//! configured, leeway 30 s. Any token failure is 401: 40101 when expired, else 40100.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;

/// Clock leeway for `exp` / `nbf`, in seconds (SPEC §2).
pub const LEEWAY_SECS: u64 = 30;

/// Claims of a liveroom token. `sub` is the user id; `nick` / `avatar` seed the
/// profile on first sight (SPEC §3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id: 1-64 chars of `[A-Za-z0-9_.:@-]`.
    pub sub: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Display name used when the profile is first created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
    /// Avatar URL used when the profile is first created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

/// Whether `id` is a valid user id (SPEC §2); defined with the key layout, since user
/// ids become parts of Redis keys.
pub use crate::store::is_valid_user_id;

impl From<&Claims> for crate::store::UserRef {
    /// The user the store acts for: `sub`, and the claims that seed a new profile.
    fn from(claims: &Claims) -> Self {
        Self {
            user_id: claims.sub.clone(),
            nick: claims.nick.clone().unwrap_or_default(),
            avatar: claims.avatar.clone().unwrap_or_default(),
        }
    }
}

/// Verifies tokens with the configured key and rules.
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl TokenVerifier {
    /// HS256 verifier; `issuer` / `audience` are checked when given. Fails on an unusable secret.
    pub fn hs256(
        secret: &str,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Self, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        // jsonwebtoken checks iss / aud only when the token has them: a configured
        // one must also be required, or a token without it would pass.
        let mut required = vec!["exp", "sub"];
        if let Some(iss) = issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        match audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let key = DecodingKey::from_secret(secret.as_bytes())
            .map_err(|e| format!("unusable JWT secret: {e}"))?;
        Ok(Self { key, validation })
    }

    /// Checks a token; returns its claims or the 401 error to send.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|err| {
                match err.kind() {
                    ErrorKind::ExpiredSignature => ApiError::TokenExpired,
                    ErrorKind::ImmatureSignature => ApiError::Unauthorized("token not valid yet"),
                    ErrorKind::InvalidIssuer => ApiError::Unauthorized("token issuer not accepted"),
                    ErrorKind::InvalidAudience => {
                        ApiError::Unauthorized("token audience not accepted")
                    }
                    ErrorKind::InvalidSignature => {
                        ApiError::Unauthorized("token signature is invalid")
                    }
                    ErrorKind::InvalidAlgorithm => {
                        ApiError::Unauthorized("token algorithm not accepted")
                    }
                    ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                        "iss" => ApiError::Unauthorized("token issuer not accepted"),
                        "aud" => ApiError::Unauthorized("token audience not accepted"),
                        "exp" => ApiError::Unauthorized("token has no exp"),
                        "sub" => ApiError::Unauthorized("token has no sub"),
                        _ => ApiError::Unauthorized("token is invalid"),
                    },
                    _ => ApiError::Unauthorized("token is invalid"),
                }
            })?;
        if !is_valid_user_id(&data.claims.sub) {
            return Err(ApiError::Unauthorized(
                "token sub must be 1-64 chars of [A-Za-z0-9_.:@-]",
            ));
        }
        Ok(data.claims)
    }
}

/// Mints an HS256 token for `user` valid for `ttl` (the `liveroom token` command).
pub fn mint_token(
    secret: &str,
    user: &str,
    nick: Option<&str>,
    avatar: Option<&str>,
    ttl: Duration,
) -> Result<String, String> {
    if !is_valid_user_id(user) {
        return Err("user must be 1-64 chars of [A-Za-z0-9_.:@-]".into());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        sub: user.to_owned(),
        exp: now + ttl.as_secs(),
        iat: Some(now),
        nick: nick.map(str::to_owned),
        avatar: avatar.map(str::to_owned),
    };
    let key = EncodingKey::from_secret(secret.as_bytes())
        .map_err(|e| format!("unusable JWT secret: {e}"))?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).map_err(|e| e.to_string())
}

/// The authenticated caller, extracted from `Authorization` (SPEC §2).
#[derive(Debug, Clone)]
pub struct AuthUser(pub Arc<Claims>);

impl AuthUser {
    /// The caller's user id (`sub`).
    pub fn id(&self) -> &str {
        &self.0.sub
    }

    /// The caller as the store knows it.
    pub fn store_user(&self) -> crate::store::UserRef {
        crate::store::UserRef::from(&*self.0)
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized("Authorization header is required"))?
            .to_str()
            .map_err(|_| ApiError::Unauthorized("Authorization header is not valid text"))?
            .trim();
        let token = match header.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => header,
        };
        if token.is_empty() {
            return Err(ApiError::Unauthorized("Authorization header is required"));
        }
        state.verifier.verify(token).map(|c| AuthUser(Arc::new(c)))
    }
}
