//! Server credentials (SPEC §11): the keys of `LIVEROOM_SERVER_KEYS` and the tokens
//! the application's backend signs with them for the `/server/…` routes.
//!
//! A server token is an HS256 JWT signed with one key's secret, carrying `iss` = the
//! key id, `token_use` = `server`, `iat` and `exp`, with `exp` at most
//! [`SERVER_TOKEN_MAX_TTL`] after `iat`. Several keys are valid at once, so a key is
//! rotated by adding the new one, moving the backend to it, then removing the old one.
//! A user token is refused here (no `token_use: server`), and a server token is
//! refused on `/client/…` (see [`super::TokenVerifier`]).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{LEEWAY_SECS, SERVER_TOKEN_USE, header_token, token_error};
use crate::AppState;
use crate::error::ApiError;

/// Longest lifetime of a server token: `exp - iat` at most this (10 minutes).
pub const SERVER_TOKEN_MAX_TTL: Duration = Duration::from_secs(600);

/// Shortest accepted secret of a server key, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// Name of the setting, for error messages.
const SETTING: &str = "LIVEROOM_SERVER_KEYS";

/// 401 message: server routes with no server keys configured.
pub const NO_SERVER_KEYS: &str =
    "the server API is disabled: no server keys are configured (LIVEROOM_SERVER_KEYS)";
/// 401 message: a token without `token_use: server` (e.g. a user token).
pub const NOT_A_SERVER_TOKEN: &str =
    "not a server token: /server routes take a token signed with a server key (token_use server)";
/// 401 message: `iss` names no configured key.
pub const UNKNOWN_KEY: &str = "server token iss is not a configured server key id";
/// 401 message: no `iss` at all.
pub const NO_ISS: &str = "server token has no iss: it must be the server key id";
/// 401 message: no `iat`.
pub const NO_IAT: &str = "server token has no iat";
/// 401 message: `iat` later than now (beyond the leeway).
pub const FUTURE_IAT: &str = "server token iat is in the future";
/// 401 message: `exp` further than [`SERVER_TOKEN_MAX_TTL`] after `iat`.
pub const TOO_LONG: &str = "server token exp must be at most 10 minutes after its iat";
/// 401 message: another algorithm than HS256.
pub const NOT_HS256: &str = "server token algorithm must be HS256";

/// Whether `id` may be a server key id: 1-64 chars of `[A-Za-z0-9_.-]`.
pub fn is_valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// The configured server keys: key id → secret. Empty when `LIVEROOM_SERVER_KEYS` is
/// unset (then every `/server/…` request is 401 [`NO_SERVER_KEYS`]).
#[derive(Clone, Default)]
pub struct ServerKeys {
    keys: HashMap<String, (String, DecodingKey)>,
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("ServerKeys").field("ids", &ids).finish()
    }
}

impl ServerKeys {
    /// Parses `LIVEROOM_SERVER_KEYS`: `key_id:secret` pairs separated by commas
    /// (spaces around them ignored). Key ids are 1-64 chars of `[A-Za-z0-9_.-]`,
    /// secrets at least [`MIN_SECRET_LEN`] visible ASCII characters; ids are unique.
    /// Blank text is no keys. Errors name the setting and the entry.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = HashMap::new();
        if text.trim().is_empty() {
            return Ok(Self { keys });
        }
        for (n, entry) in text.split(',').map(str::trim).enumerate() {
            let n = n + 1;
            let (id, secret) = entry.split_once(':').ok_or_else(|| {
                format!("{SETTING}: entry {n} is not key_id:secret (pairs separated by commas)")
            })?;
            if id.is_empty() {
                return Err(format!("{SETTING}: entry {n} has an empty key id"));
            }
            if !is_valid_key_id(id) {
                return Err(format!(
                    "{SETTING}: key id of entry {n} must be 1-64 chars of [A-Za-z0-9_.-]"
                ));
            }
            if secret.is_empty() {
                return Err(format!("{SETTING}: key {id} has an empty secret"));
            }
            if !secret.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "{SETTING}: the secret of key {id} must be visible ASCII characters (no spaces)"
                ));
            }
            if secret.len() < MIN_SECRET_LEN {
                return Err(format!(
                    "{SETTING}: the secret of key {id} must be at least {MIN_SECRET_LEN} characters"
                ));
            }
            let key = DecodingKey::from_secret(secret.as_bytes())
                .map_err(|e| format!("{SETTING}: unusable secret of key {id}: {e}"))?;
            if keys
                .insert(id.to_owned(), (secret.to_owned(), key))
                .is_some()
            {
                return Err(format!("{SETTING}: key id {id} appears twice"));
            }
        }
        Ok(Self { keys })
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The secret of key `id`, if configured (for `liveroom server-token`).
    pub fn secret(&self, id: &str) -> Option<&str> {
        self.keys.get(id).map(|(secret, _)| secret.as_str())
    }

    /// Checks a server token; returns the key id it was signed with, or the 401 to send
    /// (each reason its own message: unknown key, bad signature, expired (40101), no
    /// `exp` / `iat`, `iat` in the future, `exp` too far, not a server token).
    pub fn verify(&self, token: &str) -> Result<String, ApiError> {
        if self.keys.is_empty() {
            return Err(ApiError::Unauthorized(NO_SERVER_KEYS));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::Unauthorized("token is invalid"))?;
        if header.alg != Algorithm::HS256 {
            return Err(ApiError::Unauthorized(NOT_HS256));
        }
        // Unverified, only to pick the key: every claim is checked after the signature.
        let unverified: serde_json::Value = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| ApiError::Unauthorized("token is invalid"))?;
        let Some(key_id) = unverified.get("iss").and_then(serde_json::Value::as_str) else {
            return Err(ApiError::Unauthorized(
                if unverified.get("token_use").is_none() {
                    NOT_A_SERVER_TOKEN
                } else {
                    NO_ISS
                },
            ));
        };
        let (_, key) = self
            .keys
            .get(key_id)
            .ok_or(ApiError::Unauthorized(UNKNOWN_KEY))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[key_id]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims = jsonwebtoken::decode::<ServerClaims>(token, key, &validation)
            .map_err(|err| token_error(&err))?
            .claims;
        if claims.token_use.as_deref() != Some(SERVER_TOKEN_USE) {
            return Err(ApiError::Unauthorized(NOT_A_SERVER_TOKEN));
        }
        let exp = claims
            .exp
            .ok_or(ApiError::Unauthorized("token has no exp"))?;
        let iat = claims.iat.ok_or(ApiError::Unauthorized(NO_IAT))?;
        if iat > unix_now() + LEEWAY_SECS {
            return Err(ApiError::Unauthorized(FUTURE_IAT));
        }
        if exp.saturating_sub(iat) > SERVER_TOKEN_MAX_TTL.as_secs() {
            return Err(ApiError::Unauthorized(TOO_LONG));
        }
        Ok(key_id.to_owned())
    }
}

/// The claims of a server token.
#[derive(Debug, Serialize, Deserialize)]
struct ServerClaims {
    /// The server key id.
    iss: String,
    /// Expiry, Unix seconds (optional here so that its absence is named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    /// Issued at, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    /// `server`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_use: Option<String>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Mints a server token for key `key_id` signed with `secret`, valid `ttl` from now
/// (whole seconds; 1 s to [`SERVER_TOKEN_MAX_TTL`]). `liveroom server-token` and tests.
pub fn mint_server_token(key_id: &str, secret: &str, ttl: Duration) -> Result<String, String> {
    if !is_valid_key_id(key_id) {
        return Err("key id must be 1-64 chars of [A-Za-z0-9_.-]".into());
    }
    if ttl.as_secs() == 0 || ttl > SERVER_TOKEN_MAX_TTL {
        return Err("a server token lives 1s to 10m".into());
    }
    let now = unix_now();
    let claims = ServerClaims {
        iss: key_id.to_owned(),
        exp: Some(now + ttl.as_secs()),
        iat: Some(now),
        token_use: Some(SERVER_TOKEN_USE.to_owned()),
    };
    let key = EncodingKey::from_secret(secret.as_bytes()).map_err(|e| e.to_string())?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).map_err(|e| e.to_string())
}

/// The authenticated backend of a `/server/…` request: the id of the server key its
/// token was signed with (logged with what it does).
#[derive(Debug, Clone)]
pub struct ServerCaller {
    /// The `LIVEROOM_SERVER_KEYS` key id (`iss`).
    pub key_id: String,
}

impl FromRequestParts<AppState> for ServerCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = header_token(parts)?;
        let key_id = state.server_keys.verify(token)?;
        Ok(Self { key_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: &str = "0123456789abcdef-one";
    const S2: &str = "0123456789abcdef-two";

    fn message(keys: &ServerKeys, token: &str) -> String {
        keys.verify(token).unwrap_err().to_string()
    }

    fn signed(claims: serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn the_setting_is_checked_entry_by_entry() {
        let keys = ServerKeys::parse(&format!(" k1:{S1} , k2:{S2}")).unwrap();
        assert_eq!(keys.secret("k1"), Some(S1));
        assert_eq!(keys.secret("k2"), Some(S2));
        assert!(ServerKeys::parse("").unwrap().is_empty());
        let err = |text: &str| ServerKeys::parse(text).unwrap_err();
        assert!(err(&format!(":{S1}")).contains("entry 1 has an empty key id"));
        assert!(err("k1:").contains("key k1 has an empty secret"));
        assert!(err(&format!("k1:{S1},k1:{S2}")).contains("key id k1 appears twice"));
        assert!(err(&format!("k 1:{S1}")).contains("[A-Za-z0-9_.-]"));
        assert!(err("k1:short").contains("at least 16"));
        assert!(err(&format!("k1:{S1},nocolon")).contains("entry 2 is not key_id:secret"));
        assert!(err(&format!("k1:{S1} x")).contains("visible ASCII"));
        for e in [err("k1:"), err("x")] {
            assert!(e.starts_with("LIVEROOM_SERVER_KEYS"), "{e}");
        }
    }

    #[test]
    fn each_bad_token_names_its_reason() {
        let keys = ServerKeys::parse(&format!("k1:{S1},k2:{S2}")).unwrap();
        let now = unix_now();
        let good = mint_server_token("k2", S2, SERVER_TOKEN_MAX_TTL).unwrap();
        assert_eq!(keys.verify(&good).unwrap(), "k2");
        let claims = |iss: &str, iat: Option<u64>, exp: Option<u64>| {
            let mut c = serde_json::json!({"iss": iss, "token_use": "server"});
            if let Some(iat) = iat {
                c["iat"] = iat.into();
            }
            if let Some(exp) = exp {
                c["exp"] = exp.into();
            }
            c
        };
        let unknown = mint_server_token("k3", S1, SERVER_TOKEN_MAX_TTL).unwrap();
        assert_eq!(message(&keys, &unknown), UNKNOWN_KEY);
        let forged = mint_server_token("k1", S2, SERVER_TOKEN_MAX_TTL).unwrap();
        assert_eq!(message(&keys, &forged), "token signature is invalid");
        let expired = signed(claims("k1", Some(now - 700), Some(now - 100)), S1);
        assert_eq!(keys.verify(&expired).unwrap_err().code(), 40101);
        let future = signed(claims("k1", Some(now + 120), Some(now + 300)), S1);
        assert_eq!(message(&keys, &future), FUTURE_IAT);
        let no_exp = signed(claims("k1", Some(now), None), S1);
        assert_eq!(message(&keys, &no_exp), "token has no exp");
        let no_iat = signed(claims("k1", None, Some(now + 60)), S1);
        assert_eq!(message(&keys, &no_iat), NO_IAT);
        let long = signed(claims("k1", Some(now), Some(now + 601)), S1);
        assert_eq!(message(&keys, &long), TOO_LONG);
        let user = signed(
            serde_json::json!({"iss": "k1", "sub": "alice", "exp": now + 60, "iat": now}),
            S1,
        );
        assert_eq!(message(&keys, &user), NOT_A_SERVER_TOKEN);
        let none = ServerKeys::default();
        assert_eq!(message(&none, &good), NO_SERVER_KEYS);
        assert!(mint_server_token("k1", S1, Duration::from_secs(601)).is_err());
    }
}
