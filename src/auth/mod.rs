//! Authentication (SPEC §2): `Authorization: <jwt>` or `Authorization: Bearer <jwt>`.
//!
//! - User tokens (`/client/…`): HS256 with a shared secret, or RS256 / ES256 verified
//!   with a configured public key ([`PublicKey`], `LIVEROOM_JWT_PUBLIC_KEY`); the
//!   algorithm follows the key, never the token's header alone. `sub` and `exp`
//!   required, `iss` / `aud` checked when configured, leeway 30 s. A token carrying
//!   `token_use: server` is refused.
//! - Server tokens (`/server/…`, [`server`]): HS256 signed with one of the
//!   `LIVEROOM_SERVER_KEYS` secrets, `iss` = its key id, `token_use: server`, at most
//!   10 minutes long.
//!
//! Any token failure is 401: 40101 when expired, else 40100 with a message naming the
//! reason; a missing header, a scheme other than `Bearer` and an empty token each have
//! their own message.

mod public_key;
pub mod server;

pub use public_key::PublicKey;
pub use server::{ServerCaller, ServerKeys};

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

/// Lifetime of a minted token unless told otherwise: the development tokens printed at
/// start-up and `liveroom token` (24 h).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// 401 message: no `Authorization` header at all.
pub const MISSING_HEADER: &str =
    "Authorization header is missing: send Authorization: Bearer <token>";
/// 401 message: a scheme other than `Bearer` (`Basic …`).
pub const WRONG_SCHEME: &str =
    "Authorization scheme must be Bearer: send Authorization: Bearer <token>";
/// 401 message: `Bearer` (or an empty header) with no token after it.
pub const EMPTY_TOKEN: &str =
    "Authorization header has no token: send Authorization: Bearer <token>";

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
    /// `server` marks a server token ([`server`]): refused where a user token is expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_use: Option<String>,
}

/// The `token_use` claim of a server token; a user token must not carry it.
pub const SERVER_TOKEN_USE: &str = "server";

/// 401 message: a server token sent where a user token is expected.
pub const SERVER_TOKEN_ON_CLIENT: &str =
    "a server token is not accepted here: /client routes take a user token";

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

/// One key a [`TokenVerifier`] checks tokens with, and the rules for them.
struct VerifyKey {
    algorithm: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

/// Verifies user tokens (SPEC §2): HS256 with the shared secret (unless only a public
/// key is configured), and RS256 or ES256 with the configured public key when there
/// is one. The token's `alg` header only
/// picks among these keys; each key verifies its own algorithm alone, so an HS256
/// token signed with the public key's bytes (algorithm confusion) is checked against
/// the secret and refused.
pub struct TokenVerifier {
    keys: Vec<VerifyKey>,
}

/// The validation rules of user tokens for `algorithm`: leeway, `exp` and `sub`
/// required, `iss` / `aud` required and checked when given.
fn user_validation(
    algorithm: Algorithm,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Validation {
    let mut validation = Validation::new(algorithm);
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
    validation
}

impl TokenVerifier {
    /// HS256 verifier; `issuer` / `audience` are checked when given. Fails on an unusable secret.
    pub fn hs256(
        secret: &str,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Self, String> {
        Self::new(Some(secret), None, issuer, audience)
    }

    /// A verifier of HS256 tokens signed with `secret` when given and, when
    /// `public_key` is given, of tokens signed with its private key (RS256 for RSA,
    /// ES256 for EC P-256); `issuer` / `audience` are checked when given. Fails on an
    /// unusable secret, or when there is neither a secret nor a public key.
    pub fn new(
        secret: Option<&str>,
        public_key: Option<&PublicKey>,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Self, String> {
        let mut keys = Vec::new();
        if let Some(secret) = secret {
            let key = DecodingKey::from_secret(secret.as_bytes())
                .map_err(|e| format!("unusable JWT secret: {e}"))?;
            keys.push(VerifyKey {
                algorithm: Algorithm::HS256,
                key,
                validation: user_validation(Algorithm::HS256, issuer, audience),
            });
        }
        if let Some(public) = public_key {
            keys.push(VerifyKey {
                algorithm: public.algorithm(),
                key: public.decoding_key().clone(),
                validation: user_validation(public.algorithm(), issuer, audience),
            });
        }
        if keys.is_empty() {
            return Err(
                "no key verifies user tokens: set LIVEROOM_JWT_SECRET or LIVEROOM_JWT_PUBLIC_KEY"
                    .into(),
            );
        }
        Ok(Self { keys })
    }

    /// The algorithms accepted, in order: HS256 (when a secret is used), then the
    /// public key's.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        self.keys.iter().map(|k| k.algorithm).collect()
    }

    /// Checks a token; returns its claims or the 401 error to send.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        // With HS256 alone, jsonwebtoken refuses another `alg` itself: the header is
        // read only to choose among several keys (the heartbeat path stays one parse).
        let key = match self.keys.as_slice() {
            [only] => only,
            keys => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|_| ApiError::Unauthorized("token is invalid"))?;
                keys.iter()
                    .find(|k| k.algorithm == header.alg)
                    .ok_or(ApiError::Unauthorized("token algorithm not accepted"))?
            }
        };
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation).map_err(|err| {
                // A server token (no `sub`, another secret) fails here: say so rather
                // than what failed. Only on this error path, so a valid token costs no
                // second parse.
                if is_server_token(token) {
                    ApiError::Unauthorized(SERVER_TOKEN_ON_CLIENT)
                } else {
                    token_error(&err)
                }
            })?;
        if data.claims.token_use.as_deref() == Some(SERVER_TOKEN_USE) {
            return Err(ApiError::Unauthorized(SERVER_TOKEN_ON_CLIENT));
        }
        if !is_valid_user_id(&data.claims.sub) {
            return Err(ApiError::Unauthorized(
                "token sub must be 1-64 chars of [A-Za-z0-9_.:@-]",
            ));
        }
        Ok(data.claims)
    }
}

/// Whether a token's (unverified) claims say it is a server token.
fn is_server_token(token: &str) -> bool {
    jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(token)
        .is_ok_and(|claims| claims["token_use"] == SERVER_TOKEN_USE)
}

/// The 401 of a token jsonwebtoken refused, naming the reason.
pub(crate) fn token_error(err: &jsonwebtoken::errors::Error) -> ApiError {
    match err.kind() {
        ErrorKind::ExpiredSignature => ApiError::TokenExpired,
        ErrorKind::ImmatureSignature => ApiError::Unauthorized("token not valid yet"),
        ErrorKind::InvalidIssuer => ApiError::Unauthorized("token issuer not accepted"),
        ErrorKind::InvalidAudience => ApiError::Unauthorized("token audience not accepted"),
        ErrorKind::InvalidSignature => ApiError::Unauthorized("token signature is invalid"),
        ErrorKind::InvalidAlgorithm => ApiError::Unauthorized("token algorithm not accepted"),
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "iss" => ApiError::Unauthorized("token issuer not accepted"),
            "aud" => ApiError::Unauthorized("token audience not accepted"),
            "exp" => ApiError::Unauthorized("token has no exp"),
            "sub" => ApiError::Unauthorized("token has no sub"),
            _ => ApiError::Unauthorized("token is invalid"),
        },
        _ => ApiError::Unauthorized("token is invalid"),
    }
}

/// The claims a minted token carries: [`Claims`] plus the `iss` / `aud` the service
/// is configured to check.
#[derive(Serialize)]
struct MintedClaims<'a> {
    sub: &'a str,
    exp: u64,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nick: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avatar: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// Mints HS256 tokens that a [`TokenVerifier`] built from the same secret, issuer and
/// audience accepts: the start-up development tokens and `liveroom token`.
pub struct TokenMinter {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
}

impl TokenMinter {
    /// A minter signing with `secret` whose tokens carry `iss` = `issuer` and `aud` =
    /// `audience` when given (`LIVEROOM_JWT_ISSUER` / `LIVEROOM_JWT_AUDIENCE`). Fails on
    /// an unusable secret.
    pub fn hs256(
        secret: &str,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Self, String> {
        let key = EncodingKey::from_secret(secret.as_bytes())
            .map_err(|e| format!("unusable JWT secret: {e}"))?;
        Ok(Self {
            key,
            issuer: issuer.map(str::to_owned),
            audience: audience.map(str::to_owned),
        })
    }

    /// A token for `user` valid for `ttl` from now (whole seconds), with the optional
    /// `nick` / `avatar` claims. Fails on an invalid user id (SPEC §2).
    pub fn mint(
        &self,
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
        let claims = MintedClaims {
            sub: user,
            exp: now + ttl.as_secs(),
            iat: now,
            nick,
            avatar,
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|e| e.to_string())
    }
}

/// Mints an HS256 token for `user` valid for `ttl`, without `iss` / `aud` (a service
/// that checks neither accepts it). [`TokenMinter`] adds them.
pub fn mint_token(
    secret: &str,
    user: &str,
    nick: Option<&str>,
    avatar: Option<&str>,
    ttl: Duration,
) -> Result<String, String> {
    TokenMinter::hs256(secret, None, None)?.mint(user, nick, avatar, ttl)
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
        let token = header_token(parts)?;
        state.verifier.verify(token).map(|c| AuthUser(Arc::new(c)))
    }
}

/// The token of a request's `Authorization` header ([`bearer_token`]); 401 when the
/// header is missing or not text.
pub(crate) fn header_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(MISSING_HEADER))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("Authorization header is not valid text"))?;
    bearer_token(header)
}

/// The token of an `Authorization` header value: `Bearer <jwt>` (scheme in any case)
/// or a bare `<jwt>` (SPEC §2). A JWT has no spaces, so a value whose first word is
/// followed by more is a scheme: anything but `Bearer` is [`WRONG_SCHEME`]. An empty
/// value or `Bearer` alone is [`EMPTY_TOKEN`].
pub fn bearer_token(header: &str) -> Result<&str, ApiError> {
    let header = header.trim();
    let token = match header.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return Err(ApiError::Unauthorized(WRONG_SCHEME)),
        None if header.eq_ignore_ascii_case("bearer") => "",
        None => header,
    };
    if token.is_empty() {
        return Err(ApiError::Unauthorized(EMPTY_TOKEN));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(header: &str) -> String {
        bearer_token(header).unwrap_err().to_string()
    }

    #[test]
    fn each_header_problem_has_its_own_message() {
        assert_eq!(bearer_token("Bearer a.b.c").unwrap(), "a.b.c");
        assert_eq!(bearer_token("bearer   a.b.c ").unwrap(), "a.b.c");
        assert_eq!(bearer_token("a.b.c").unwrap(), "a.b.c");
        assert_eq!(message("Basic YWxpY2U6cHc="), WRONG_SCHEME);
        assert_eq!(message("Token a.b.c"), WRONG_SCHEME);
        assert_eq!(message("Bearer"), EMPTY_TOKEN);
        assert_eq!(message("Bearer   "), EMPTY_TOKEN);
        assert_eq!(message(""), EMPTY_TOKEN);
        let distinct: std::collections::HashSet<_> = [MISSING_HEADER, WRONG_SCHEME, EMPTY_TOKEN]
            .into_iter()
            .collect();
        assert_eq!(distinct.len(), 3);
    }

    #[test]
    fn minted_tokens_carry_the_configured_issuer_and_audience() {
        let ttl = DEFAULT_TOKEN_TTL;
        let checking =
            TokenVerifier::hs256("s3cret", Some("liveroom-iss"), Some("liveroom-aud")).unwrap();
        let minter =
            TokenMinter::hs256("s3cret", Some("liveroom-iss"), Some("liveroom-aud")).unwrap();
        let token = minter.mint("alice", Some("Alice"), None, ttl).unwrap();
        let claims = checking.verify(&token).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.nick.as_deref(), Some("Alice"));
        // Without them, a service checking them refuses it (what happened before).
        let bare = mint_token("s3cret", "alice", None, None, ttl).unwrap();
        assert_eq!(checking.verify(&bare).unwrap_err().code(), 40100);
        let issuer_only = TokenVerifier::hs256("s3cret", Some("liveroom-iss"), None).unwrap();
        assert_eq!(
            issuer_only.verify(&bare).unwrap_err().to_string(),
            "token issuer not accepted"
        );
        assert!(issuer_only.verify(&token).is_ok());
        let only_iss = TokenMinter::hs256("s3cret", Some("liveroom-iss"), None)
            .unwrap()
            .mint("alice", None, None, ttl)
            .unwrap();
        assert_eq!(
            checking.verify(&only_iss).unwrap_err().to_string(),
            "token audience not accepted"
        );
        // A service that checks neither accepts tokens that carry them.
        let lax = TokenVerifier::hs256("s3cret", None, None).unwrap();
        assert!(lax.verify(&token).is_ok());
    }

    #[test]
    fn default_lifetime_is_a_day() {
        let minter = TokenMinter::hs256("s3cret", None, None).unwrap();
        let token = minter.mint("bob", None, None, DEFAULT_TOKEN_TTL).unwrap();
        let claims = TokenVerifier::hs256("s3cret", None, None)
            .unwrap()
            .verify(&token)
            .unwrap();
        assert_eq!(claims.exp - claims.iat.unwrap(), 24 * 3600);
    }
}
