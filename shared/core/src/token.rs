//! Visitor tokens: compact JWS (JWT) signed with HMAC-SHA256, so that a site's backend
//! can issue them with any JWT library. Claims: `sid` (session id, required),
//! `cid` (customer id, optional), `exp` (expiry, epoch seconds, required).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The only header this service issues and accepts.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
/// Tokens longer than this are refused before any decoding.
const MAX_TOKEN_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    pub exp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not three base64url parts separated by dots")]
    Malformed,
    #[error("token header must be {{\"alg\":\"HS256\"}}")]
    UnsupportedAlgorithm,
    #[error("token signature does not match")]
    BadSignature,
    #[error("token claims are invalid: {0}")]
    BadClaims(String),
    #[error("token expired")]
    Expired,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// The shared secret tokens are signed with.
#[derive(Clone)]
pub struct TokenKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// Secrets shorter than 16 bytes are refused: they can be guessed.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, String> {
        let secret = secret.into();
        if secret.len() < 16 {
            return Err("token secret must be at least 16 bytes".into());
        }
        Ok(TokenKey { secret })
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length")
    }

    /// Signs claims into a token.
    pub fn sign(&self, claims: &TokenClaims) -> String {
        let header = URL_SAFE_NO_PAD.encode(HEADER);
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise to JSON"));
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    /// Verifies the signature (in constant time), the algorithm and the expiry.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<TokenClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header = URL_SAFE_NO_PAD
            .decode(h)
            .map_err(|_| TokenError::Malformed)?;
        let header: Header =
            serde_json::from_slice(&header).map_err(|_| TokenError::UnsupportedAlgorithm)?;
        if header.alg != "HS256" {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| TokenError::Malformed)?;
        let claims: TokenClaims =
            serde_json::from_slice(&payload).map_err(|e| TokenError::BadClaims(e.to_string()))?;
        if claims.sid.is_empty() {
            return Err(TokenError::BadClaims("sid is empty".into()));
        }
        if claims.exp <= now_secs {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TokenKey {
        TokenKey::new("0123456789abcdef0123456789abcdef").expect("long enough")
    }

    fn claims() -> TokenClaims {
        TokenClaims {
            sid: "s-1".into(),
            cid: Some("c-9".into()),
            exp: 2_000_000_000,
        }
    }

    #[test]
    fn round_trip() {
        let t = key().sign(&claims());
        assert_eq!(key().verify(&t, 1_800_000_000), Ok(claims()));
    }

    /// The worked example in the README: any HS256 JWT library must produce this token.
    #[test]
    fn matches_the_documented_example() {
        let key = TokenKey::new("change-me-to-32-random-bytes....").expect("long enough");
        let claims = TokenClaims {
            sid: "s-42".into(),
            cid: Some("c-7".into()),
            exp: 4_102_444_800,
        };
        let t = key.sign(&claims);
        assert_eq!(
            t,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaWQiOiJzLTQyIiwiY2lkIjoiYy03IiwiZXhwIjo0MTAyNDQ0ODAwfQ.tuCKIyBvVAcE-Bkrt73o-rRVci-x2RG6Eh3KKM_1-4M",
            "README example drifted"
        );
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let t = key().sign(&claims());
        assert_eq!(key().verify(&t, 2_000_000_000), Err(TokenError::Expired));
        let other = TokenKey::new("another-secret-of-some-length").expect("long enough");
        assert_eq!(other.verify(&t, 0), Err(TokenError::BadSignature));
        // Swap in a payload naming another session, keeping the signature.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(r#"{"sid":"s-2","exp":2000000000}"#);
        parts[1] = &forged;
        assert_eq!(
            key().verify(&parts.join("."), 0),
            Err(TokenError::BadSignature)
        );
        assert_eq!(key().verify("abc", 0), Err(TokenError::Malformed));
        assert_eq!(key().verify("a.b.c.d", 0), Err(TokenError::Malformed));
    }

    #[test]
    fn alg_none_is_refused() {
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let p = URL_SAFE_NO_PAD.encode(r#"{"sid":"s","exp":2000000000}"#);
        assert_eq!(
            key().verify(&format!("{h}.{p}."), 0),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(TokenKey::new("short").is_err());
    }
}
