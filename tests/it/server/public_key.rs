//! User tokens signed with RS256 / ES256 (SPEC §2, `LIVEROOM_JWT_PUBLIC_KEY`), with
//! real keys made by `openssl` for each test: accepted besides HS256, the wrong key
//! refused, and an HS256 token signed with the public key's bytes (algorithm
//! confusion) refused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::harness::TestApp;

/// A key pair made by openssl in a directory of its own (removed on drop).
struct KeyPair {
    dir: PathBuf,
    /// PEM of the private key (PKCS#8).
    private: String,
    /// PEM of the public key (SubjectPublicKeyInfo).
    public: String,
}

impl KeyPair {
    /// `kind`: `rsa` (2048 bits), `p256` or `p384`.
    fn generate(kind: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("keys-{}-{kind}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let private = dir.join("private.pem");
        let public = dir.join("public.pem");
        let mut gen_cmd = Command::new("openssl");
        gen_cmd.arg("genpkey");
        match kind {
            "rsa" => gen_cmd.args(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
            "p256" => gen_cmd.args(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
            "p384" => gen_cmd.args(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]),
            _ => unreachable!(),
        };
        run(gen_cmd.arg("-out").arg(&private));
        run(Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private)
            .arg("-out")
            .arg(&public));
        Self {
            private: std::fs::read_to_string(&private).unwrap(),
            public: std::fs::read_to_string(&public).unwrap(),
            dir,
        }
    }

    fn public_path(&self) -> PathBuf {
        self.dir.join("public.pem")
    }

    /// A user token for `sub` signed with the private key.
    fn sign(&self, alg: Algorithm, sub: &str) -> String {
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(self.private.as_bytes()).unwrap(),
            _ => EncodingKey::from_ec_pem(self.private.as_bytes()).unwrap(),
        };
        jsonwebtoken::encode(&Header::new(alg), &claims(sub), &key).unwrap()
    }
}

impl Drop for KeyPair {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("openssl");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn claims(sub: &str) -> serde_json::Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({"sub": sub, "exp": now + 300, "iat": now, "nick": format!("nick-{sub}")})
}

async fn profile(app: &TestApp, token: &str) -> crate::harness::Reply {
    app.call("GET", "/client/user/profile", Some(token), None)
        .await
}

/// `LIVEROOM_JWT_PUBLIC_KEY` = the PEM text, or the path of its file.
async fn app_with_key(value: &str) -> TestApp {
    let value = value.to_owned();
    TestApp::start_with(move |c| c.jwt_public_key = Some(value)).await
}

async fn accepts_and_refuses(alg: Algorithm, kind: &str, by_path: bool) {
    let pair = KeyPair::generate(kind);
    let other = KeyPair::generate(kind);
    let setting = if by_path {
        pair.public_path().display().to_string()
    } else {
        pair.public.clone()
    };
    let app = app_with_key(&setting).await;
    // Accepted, and the profile is seeded from its claims.
    let r = profile(&app, &pair.sign(alg, "carol")).await.ok();
    assert_eq!(r.data()["user_id"], "carol");
    assert_eq!(r.data()["nick"], "nick-carol");
    // HS256 tokens still work beside it.
    app.user("alice").profile().await.ok();
    // Signed by another key of the same kind: refused.
    let r = profile(&app, &other.sign(alg, "mallory")).await;
    r.expect(401, 40100);
    assert_eq!(r.body["message"], "token signature is invalid");
    // Algorithm confusion: HS256 signed with the public key's PEM bytes as the secret.
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("mallory"),
        &EncodingKey::from_secret(pair.public.as_bytes()).unwrap(),
    )
    .unwrap();
    let r = profile(&app, &confused).await;
    r.expect(401, 40100);
    assert_eq!(r.body["message"], "token signature is invalid");
    // The token's header naming the other asymmetric algorithm: not accepted.
    let other_alg = if alg == Algorithm::RS256 {
        Algorithm::ES256
    } else {
        Algorithm::RS256
    };
    let token = pair.sign(alg, "mallory");
    let (_, rest) = token.split_once('.').unwrap();
    let header =
        crate::errors::b64url(format!(r#"{{"alg":"{other_alg:?}","typ":"JWT"}}"#).as_bytes());
    let r = profile(&app, &format!("{header}.{rest}")).await;
    r.expect(401, 40100);
    assert_eq!(r.body["message"], "token algorithm not accepted");
    // Without the setting, the same token is refused.
    let plain = TestApp::start().await;
    profile(&plain, &pair.sign(alg, "carol"))
        .await
        .expect(401, 40100);
    assert!(Path::new(&pair.public_path()).exists());
}

#[tokio::test]
async fn rs256_tokens_with_the_configured_rsa_key() {
    accepts_and_refuses(Algorithm::RS256, "rsa", false).await;
}

#[tokio::test]
async fn es256_tokens_with_the_configured_p256_key_file() {
    accepts_and_refuses(Algorithm::ES256, "p256", true).await;
}

/// A private key, another curve, a missing file or junk stop the start, naming the setting.
#[test]
fn unusable_public_keys_stop_the_start_naming_the_setting() {
    let rsa = KeyPair::generate("rsa");
    let p384 = KeyPair::generate("p384");
    for (value, expected) in [
        (rsa.private.clone(), "private key"),
        (p384.public.clone(), "P-256"),
        ("/nonexistent/key.pem".to_owned(), "cannot read"),
        (
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_owned(),
            "neither an RSA nor an EC P-256",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_liveroom"))
            .arg("serve")
            .env("LIVEROOM_JWT_PUBLIC_KEY", &value)
            .env("LIVEROOM_LISTEN", "127.0.0.1:1")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{expected}: started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("LIVEROOM_JWT_PUBLIC_KEY"), "{expected}: {err}");
        assert!(err.contains(expected), "{expected}: {err}");
    }
}

/// With a public key and no `LIVEROOM_JWT_SECRET`, only tokens signed with its private
/// key are accepted: no HS256, so the public development secret opens nothing, and the
/// server API cannot mint HS256 user tokens (403).
#[tokio::test]
async fn a_public_key_alone_accepts_no_hs256_token() {
    let pair = KeyPair::generate("p256");
    let pem = pair.public.clone();
    let app = TestApp::start_with(move |c| {
        c.jwt_secret = None;
        c.jwt_public_key = Some(pem);
        c.server_keys = Some(super::both_keys());
    })
    .await;
    profile(&app, &pair.sign(Algorithm::ES256, "carol"))
        .await
        .ok();
    let dev = liveroom::auth::mint_token(
        liveroom::config::DEV_JWT_SECRET,
        "mallory",
        None,
        None,
        std::time::Duration::from_secs(300),
    )
    .unwrap();
    for token in [dev, app.token("mallory")] {
        let r = profile(&app, &token).await;
        r.expect(401, 40100);
        assert_eq!(r.body["message"], "token algorithm not accepted");
    }
    let r = super::as_server(
        &app,
        "POST",
        "/server/auth/token",
        Some(json!({"user_id": "erin"})),
    )
    .await;
    r.expect(403, 40300);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("LIVEROOM_JWT_SECRET")
    );
}
