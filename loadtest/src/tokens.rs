//! Tokens, minted once before the run by the service's own
//! `liveroom::auth::TokenMinter` (HS256 with `sub`, `iat`, `exp` and, when given,
//! `iss` / `aud`, as `liveroom token` makes them), kept as ready
//! `Authorization: Bearer …` header values.

use std::time::Duration;

use bytes::Bytes;
use hyper::header::HeaderValue;
use liveroom::auth::TokenMinter;

/// The `iss` / `aud` claims of every token: the service's `LIVEROOM_JWT_ISSUER` /
/// `LIVEROOM_JWT_AUDIENCE`, which it requires when set.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    /// `iss` claim, when the service checks one.
    pub issuer: Option<String>,
    /// `aud` claim, when the service checks one.
    pub audience: Option<String>,
}

/// Signs the tool's users' tokens.
pub struct Minter {
    minter: TokenMinter,
    prefix: String,
    ttl: Duration,
}

impl Minter {
    /// Tokens valid for `ttl` from now, carrying `claims`; user ids `{prefix}-{kind}{i}`.
    pub fn new(
        secret: &str,
        prefix: &str,
        ttl: Duration,
        claims: Audience,
    ) -> Result<Self, String> {
        let minter =
            TokenMinter::hs256(secret, claims.issuer.as_deref(), claims.audience.as_deref())
                .map_err(|e| format!("unusable --secret: {e}"))?;
        Ok(Self {
            minter,
            prefix: prefix.to_owned(),
            ttl: ttl.max(Duration::from_secs(60)),
        })
    }

    /// The user id of the `i`-th user of a kind (`u` users, `a` anchors).
    pub fn user_id(&self, kind: char, i: usize) -> String {
        format!("{}-{kind}{i}", self.prefix)
    }

    /// `Bearer <jwt>` for `sub`.
    pub fn bearer(&self, sub: &str) -> Result<HeaderValue, String> {
        let token = self
            .minter
            .mint(sub, None, None, self.ttl)
            .map_err(|e| format!("cannot sign a token for {sub}: {e}"))?;
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
        let m = Minter::new(
            "s3cret",
            "lt",
            Duration::from_secs(3600),
            Audience::default(),
        )
        .unwrap();
        let all = m.bearers('u', 2500).unwrap();
        assert_eq!(all.len(), 2500);
        let last = all[2499].to_str().unwrap().strip_prefix("Bearer ").unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.set_required_spec_claims(&["exp", "sub"]);
        let key = jsonwebtoken::DecodingKey::from_secret(b"s3cret").unwrap();
        let data = jsonwebtoken::decode::<serde_json::Value>(last, &key, &v).unwrap();
        assert_eq!(data.claims["sub"], "lt-u2499");
    }

    /// A service with `LIVEROOM_JWT_ISSUER` / `_AUDIENCE` accepts the tool's tokens.
    #[test]
    fn tokens_carry_the_issuer_and_audience() {
        let claims = Audience {
            issuer: Some("iss-x".into()),
            audience: Some("aud-y".into()),
        };
        let m = Minter::new("s3cret", "lt", Duration::from_secs(3600), claims).unwrap();
        let bearer = m.bearer("lt-u1").unwrap();
        let token = bearer.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        let verifier =
            liveroom::auth::TokenVerifier::hs256("s3cret", Some("iss-x"), Some("aud-y")).unwrap();
        assert_eq!(verifier.verify(token).unwrap().sub, "lt-u1");
    }
}
