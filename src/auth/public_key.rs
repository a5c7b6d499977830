//! The public key of RS256 / ES256 user tokens (SPEC §2, `LIVEROOM_JWT_PUBLIC_KEY`):
//! a PEM public key, RSA or EC P-256, given as the PEM text or a path to a file
//! holding it. The key's type decides the one algorithm it verifies.

use jsonwebtoken::{Algorithm, DecodingKey};

/// A public key that verifies user tokens: RSA → RS256, EC P-256 → ES256.
#[derive(Clone)]
pub struct PublicKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Name of the setting, for error messages.
const SETTING: &str = "LIVEROOM_JWT_PUBLIC_KEY";

impl PublicKey {
    /// Reads `LIVEROOM_JWT_PUBLIC_KEY`: PEM text when it holds `-----BEGIN`, else the
    /// path of a PEM file. Errors name the setting: unreadable file, not a PEM public
    /// key, a private key, or a key type other than RSA / EC P-256.
    pub fn load(value: &str) -> Result<Self, String> {
        if value.contains("-----BEGIN") {
            return Self::from_pem(value);
        }
        let path = value.trim();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{SETTING}: cannot read the PEM file {path}: {e}"))?;
        Self::from_pem(&text)
    }

    /// Parses a PEM public key (`-----BEGIN PUBLIC KEY-----` SubjectPublicKeyInfo, or
    /// `-----BEGIN RSA PUBLIC KEY-----` PKCS#1). Errors name the setting.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        if pem.contains("PRIVATE KEY") {
            return Err(format!(
                "{SETTING} holds a private key: give the public key only (openssl pkey -pubout)"
            ));
        }
        if !pem.contains("PUBLIC KEY-----") {
            return Err(format!(
                "{SETTING} is not a PEM public key (-----BEGIN PUBLIC KEY-----) nor a readable file holding one"
            ));
        }
        let bytes = pem.as_bytes();
        if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
            // The uncompressed (65 bytes) or compressed (33 bytes) point of a 256-bit
            // curve; P-384 and P-521 points are longer.
            let point = key.try_get_as_bytes().map(<[u8]>::len).unwrap_or(0);
            if point != 65 && point != 33 {
                return Err(format!(
                    "{SETTING} is an EC key on another curve than P-256: ES256 needs P-256 (prime256v1)"
                ));
            }
            return Ok(Self {
                algorithm: Algorithm::ES256,
                key,
            });
        }
        if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
            return Ok(Self {
                algorithm: Algorithm::RS256,
                key,
            });
        }
        Err(format!(
            "{SETTING} is neither an RSA nor an EC P-256 public key"
        ))
    }

    /// The one algorithm this key verifies: RS256 (RSA) or ES256 (EC P-256).
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key, for jsonwebtoken.
    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}
