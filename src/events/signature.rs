//! Webhook signatures for the delivery of room events (docs/SPEC.md §10): Stripe's
//! scheme, a header `Liveroom-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>` over the exact body bytes sent (every webhook delivery, src/webhooks/).
//!
//! Chosen over LiveKit's (a JWT in `Authorization` whose `sha256` claim is the
//! base64 SHA-256 of the body, signed with the API secret) because a receiver checks
//! it in a few lines of any language with only an HMAC, no JWT library; the
//! timestamp is inside the MAC, so a receiver rejects replays older than its
//! tolerance (5 minutes here); and several `v1=` values may be sent while a secret
//! is rotated. Verification compares in constant time (`Mac::verify_slice`).

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Liveroom-Signature";

/// How far a signature's timestamp may be from the receiver's clock (5 minutes).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<unix s>,v1=<hex>[,v1=<hex>…]`.
    #[error("malformed signature header")]
    Malformed,
    /// The timestamp is further than the tolerance from now (a replay, or a clock
    /// off by that much); the age in seconds, negative when in the future.
    #[error("signature timestamp outside the tolerance ({0} s old)")]
    OutOfTolerance(i64),
    /// No `v1` value matches the body with this secret.
    #[error("no signature matches the body")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp_s: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key");
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp_s` (Unix seconds).
pub fn sign(secret: &[u8], timestamp_s: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp_s, body).finalize().into_bytes();
    format!("t={timestamp_s},v1={}", hex::encode(tag))
}

/// Checks `header` against the exact `body` bytes received: the timestamp within
/// `tolerance` of `now_s` (Unix seconds), and one `v1` equal to the HMAC, compared
/// in constant time. Unknown schemes (`v0=`, …) are ignored, as Stripe's are.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_s: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                timestamp = Some(t.parse::<i64>().map_err(|_| SignatureError::Malformed)?)
            }
            Some(("v1", v)) => {
                candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?)
            }
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // Saturating: a hostile `t` far from now is out of tolerance, never an overflow.
    let age = now_s.saturating_sub(timestamp);
    if age.unsigned_abs() > tolerance.as_secs() {
        return Err(SignatureError::OutOfTolerance(age));
    }
    let expected = mac(secret, timestamp, body);
    if candidates
        .iter()
        .any(|c| expected.clone().verify_slice(c).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"id":"live_a:1-0","event":"room_created"}"#;

    #[test]
    fn matches_openssl_and_python_on_a_fixed_vector() {
        // printf '1764633600.<BODY>' | openssl dgst -sha256 -hmac whsec_test, and
        // hmac.new(b'whsec_test', b'1764633600.<BODY>', hashlib.sha256).hexdigest()
        assert_eq!(
            sign(SECRET, 1_764_633_600, BODY),
            "t=1764633600,v1=1c8f521477e80bca10f1b07eba15755180daba3cb1244320c4111de362cb3359"
        );
    }

    #[test]
    fn a_signed_body_verifies_and_any_change_is_refused() {
        let now = 1_764_633_600;
        let header = sign(SECRET, now, BODY);
        assert_eq!(
            verify(SECRET, &header, BODY, now + 10, DEFAULT_TOLERANCE),
            Ok(())
        );
        let mut changed = BODY.to_vec();
        changed[3] ^= 1;
        assert_eq!(
            verify(SECRET, &header, &changed, now, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &header, BODY, now, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is inside the MAC: moving it breaks the signature.
        let moved = header.replace(&format!("t={now}"), &format!("t={}", now + 1));
        assert_eq!(
            verify(SECRET, &moved, BODY, now, DEFAULT_TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn replays_older_than_five_minutes_are_refused() {
        let t = 1_764_633_600;
        let header = sign(SECRET, t, BODY);
        assert_eq!(
            verify(SECRET, &header, BODY, t + 300, DEFAULT_TOLERANCE),
            Ok(())
        );
        assert_eq!(
            verify(SECRET, &header, BODY, t + 301, DEFAULT_TOLERANCE),
            Err(SignatureError::OutOfTolerance(301))
        );
        assert_eq!(
            verify(SECRET, &header, BODY, t - 301, DEFAULT_TOLERANCE),
            Err(SignatureError::OutOfTolerance(-301))
        );
    }

    #[test]
    fn any_of_several_v1_values_may_match_during_a_secret_rotation() {
        let t = 1_764_633_600;
        let old = sign(b"old", t, BODY);
        let new = sign(SECRET, t, BODY);
        let both = format!("{old},{}", new.split_once(',').unwrap().1);
        assert_eq!(verify(SECRET, &both, BODY, t, DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(verify(b"old", &both, BODY, t, DEFAULT_TOLERANCE), Ok(()));
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify(SECRET, bad, BODY, t, DEFAULT_TOLERANCE),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }
}
