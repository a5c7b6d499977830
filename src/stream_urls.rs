//! Push and pull URLs (SPEC §8). The push URL uses Qiniu Pili's "expiry" scheme so
//! the original product's media servers accept it:
//! `{publish_url}/{live_id}?expire={unix_s}&token={urlsafe_base64(HMAC-SHA1(key, "{path}?expire={unix_s}"))}`.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Configured URL bases and the publish signing key.
#[derive(Debug, Clone)]
pub struct StreamUrls {
    /// Push URL base, e.g. `rtmp://localhost/live`.
    pub publish_url: String,
    /// HMAC-SHA1 key for push URL tokens.
    pub publish_key: String,
    /// Default push URL lifetime, seconds.
    pub publish_ttl_secs: i64,
    /// RTMP pull base; empty disables `rtmp_url`.
    pub rtmp_play_url: String,
    /// FLV pull base; empty disables `flv_url`.
    pub flv_play_url: String,
    /// HLS pull base; empty disables `hls_url`.
    pub hls_play_url: String,
}

fn join(base: &str, tail: &str) -> String {
    if base.is_empty() {
        String::new()
    } else {
        format!("{}/{}", base.trim_end_matches('/'), tail)
    }
}

impl StreamUrls {
    /// The signed push URL of `live_id`. `expire_at` (Unix s) is used when it is after
    /// `now`, else `now + publish_ttl` (so a URL handed out never carries a past expiry).
    pub fn push_url(&self, live_id: &str, expire_at: i64, now: i64) -> String {
        let expire = if expire_at > now {
            expire_at
        } else {
            now + self.publish_ttl_secs
        };
        let base = join(&self.publish_url, live_id);
        if base.is_empty() {
            return String::new();
        }
        let token = base64::engine::general_purpose::URL_SAFE.encode(
            self.publish_mac(live_id, &expire.to_string())
                .finalize()
                .into_bytes(),
        );
        format!("{base}?expire={expire}&token={token}")
    }

    /// The HMAC-SHA1 of a push URL's signed text, `"{path}?expire={expire}"`, where
    /// `path` is the path of `{publish_url}/{live_id}` and `expire` the URL's text.
    fn publish_mac(&self, live_id: &str, expire: &str) -> Hmac<Sha1> {
        let base = join(&self.publish_url, live_id);
        let signed = format!("{}?expire={expire}", url_path(&base));
        let mut mac = Hmac::<Sha1>::new_from_slice(self.publish_key.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(signed.as_bytes());
        mac
    }

    /// Whether `token` (URL-safe base64, padding optional) is the signature of
    /// stream `live_id`'s push URL with expiry text `expire`, exactly as
    /// [`Self::push_url`] signs it (SPEC §8); compared in constant time. The expiry
    /// itself is the caller's to check.
    pub fn verify_push_token(&self, live_id: &str, expire: &str, token: &str) -> bool {
        use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
        let engine = GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let Ok(sent) = engine.decode(token) else {
            return false;
        };
        self.publish_mac(live_id, expire)
            .verify_slice(&sent)
            .is_ok()
    }

    /// `{rtmp_play_url}/{live_id}`.
    pub fn rtmp_url(&self, live_id: &str) -> String {
        join(&self.rtmp_play_url, live_id)
    }

    /// `{flv_play_url}/{live_id}.flv`.
    pub fn flv_url(&self, live_id: &str) -> String {
        join(&self.flv_play_url, &format!("{live_id}.flv"))
    }

    /// `{hls_play_url}/{live_id}.m3u8`.
    pub fn hls_url(&self, live_id: &str) -> String {
        join(&self.hls_play_url, &format!("{live_id}.m3u8"))
    }
}

/// The path part of `scheme://host[:port]/path` (`/` when there is none).
fn url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    after_scheme
        .find('/')
        .map(|i| &after_scheme[i..])
        .unwrap_or("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> StreamUrls {
        StreamUrls {
            publish_url: "rtmp://push.example.com/hub".into(),
            publish_key: "secret".into(),
            publish_ttl_secs: 3600,
            rtmp_play_url: "rtmp://play.example.com/hub".into(),
            flv_play_url: "".into(),
            hls_play_url: "https://hls.example.com/hub/".into(),
        }
    }

    #[test]
    fn push_url_is_signed_over_path_and_expiry() {
        let url = urls().push_url("live_1", 0, 1000);
        let mut mac = Hmac::<Sha1>::new_from_slice(b"secret").unwrap();
        mac.update(b"/hub/live_1?expire=4600");
        let token = base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes());
        assert_eq!(
            url,
            format!("rtmp://push.example.com/hub/live_1?expire=4600&token={token}")
        );
        assert!(
            urls()
                .push_url("live_1", 5000, 1000)
                .contains("expire=5000&")
        );
    }

    #[test]
    fn a_push_url_verifies_and_a_changed_one_does_not() {
        let url = urls().push_url("live_1", 0, 1000);
        let token = url.split("token=").nth(1).unwrap();
        assert!(urls().verify_push_token("live_1", "4600", token));
        assert!(urls().verify_push_token("live_1", "4600", token.trim_end_matches('=')));
        assert!(!urls().verify_push_token("live_1", "4601", token));
        assert!(!urls().verify_push_token("live_2", "4600", token));
        assert!(!urls().verify_push_token("live_1", "4600", "AAAA"));
        assert!(!urls().verify_push_token("live_1", "4600", "not base64!"));
    }

    #[test]
    fn pull_urls_follow_templates() {
        assert_eq!(
            urls().rtmp_url("live_1"),
            "rtmp://play.example.com/hub/live_1"
        );
        assert_eq!(urls().flv_url("live_1"), "");
        assert_eq!(
            urls().hls_url("live_1"),
            "https://hls.example.com/hub/live_1.m3u8"
        );
    }
}
