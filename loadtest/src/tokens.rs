//! Tokens, minted once before the run: HS256 JWTs with `sub`, `iat`, `exp`, exactly
//! as `liveroom token` / `liveroom::auth::mint_token` make them, kept as ready
//! `Authorization: Bearer …` header values.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::header::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    exp: u64,
    iat: u64,
}

/// Signs the tool's users' tokens.
pub struct Minter {
    key: EncodingKey,
    prefix: String,
    iat: u64,
    exp: u64,
}

impl Minter {
    /// Tokens valid for `ttl` from now; user ids `{prefix}-{kind}{i}`.
    pub fn new(secret: &str, prefix: &str, ttl: Duration) -> Result<Self, String> {
        let key = EncodingKey::from_secret(secret.as_bytes())
            .map_err(|e| format!("unusable --secret: {e}"))?;
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        Ok(Self {
            key,
            prefix: prefix.to_owned(),
            iat,
            exp: iat + ttl.as_secs().max(60),
        })
    }

    /// The user id of the `i`-th user of a kind (`u` users, `a` anchors).
    pub fn user_id(&self, kind: char, i: usize) -> String {
        format!("{}-{kind}{i}", self.prefix)
    }

    /// `Bearer <jwt>` for `sub`.
    pub fn bearer(&self, sub: &str) -> Result<HeaderValue, String> {
        let claims = Claims {
            sub,
            exp: self.exp,
            iat: self.iat,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|e| format!("cannot sign a token: {e}"))?;
        HeaderValue::from_maybe_shared(Bytes::from(format!("Bearer {token}")))
            .map_err(|e| format!("token is not a header value: {e}"))
    }

    /// Bearer values of users `0..n` of a kind, signed on every core.
    pub fn bearers(&self, kind: char, n: usize) -> Result<Vec<HeaderValue>, String> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |p| p.get())
            .min(n.div_ceil(1000))
            .max(1);
        let chunk = n.div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .step_by(chunk)
                .map(|from| {
                    let to = (from + chunk).min(n);
                    scope.spawn(move || {
                        (from..to)
                            .map(|i| self.bearer(&self.user_id(kind, i)))
                            .collect::<Result<Vec<_>, String>>()
                    })
                })
                .collect();
            let mut all = Vec::with_capacity(n);
            for h in handles {
                all.extend(
                    h.join()
                        .map_err(|_| "token thread panicked".to_string())??,
                );
            }
            Ok(all)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mints_verifiable_tokens() {
        let m = Minter::new("s3cret", "lt", Duration::from_secs(3600)).unwrap();
        let all = m.bearers('u', 2500).unwrap();
        assert_eq!(all.len(), 2500);
        let last = all[2499].to_str().unwrap().strip_prefix("Bearer ").unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::HS256);
        v.set_required_spec_claims(&["exp", "sub"]);
        let key = jsonwebtoken::DecodingKey::from_secret(b"s3cret").unwrap();
        let data = jsonwebtoken::decode::<serde_json::Value>(last, &key, &v).unwrap();
        assert_eq!(data.claims["sub"], "lt-u2499");
    }
}
