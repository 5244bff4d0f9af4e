//! Visitor tokens: compact JWS (JWT) signed with HMAC-SHA256, so that a site's backend
//! can issue them with any JWT library. Claims: `sid` (session id, required), `cid`
//! (customer id, optional), `iat` (issued at) and `exp` (expiry), epoch seconds,
//! both required; a lifetime `exp - iat` above the configured maximum is refused.
//! The header's optional `kid` picks one of up to two secrets, so that a site can
//! rotate its secret without breaking the tokens its visitors hold.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::ids;

type HmacSha256 = Hmac<Sha256>;

/// Tokens longer than this are refused before any decoding.
const MAX_TOKEN_LEN: usize = 4096;
/// Secrets shorter than this are refused: 32 bytes is HMAC-SHA256's own key strength.
pub const MIN_SECRET_BYTES: usize = 32;
/// The example secret of the README: refused, so that a copied example never guards a
/// real deployment.
pub const EXAMPLE_SECRET: &str = "change-me-to-32-random-bytes....";
/// Default and largest accepted token lifetime: 24 hours.
pub const DEFAULT_MAX_TTL_SECS: i64 = 86_400;
/// How far in the future `iat` may be (clocks of the site and this service differ).
pub const CLOCK_SKEW_SECS: i64 = 300;
/// At most this many secrets are accepted at once (the current one and the previous).
pub const MAX_KEYS: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    pub iat: i64,
    pub exp: i64,
    /// An operator's token (`reco token --admin`): valid for the /v1/admin routes only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adm: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is not three base64url parts separated by dots")]
    Malformed,
    #[error("token header must be {{\"alg\":\"HS256\"}}")]
    UnsupportedAlgorithm,
    #[error("token names an unknown key (kid)")]
    UnknownKey,
    #[error("token signature does not match")]
    BadSignature,
    #[error("token claims are invalid: {0}")]
    BadClaims(String),
    #[error("token expired")]
    Expired,
    #[error("token is issued in the future")]
    NotYetValid,
    #[error("token lifetime of {lifetime} s is above the maximum of {max} s")]
    LifetimeTooLong { lifetime: i64, max: i64 },
}

/// Why a secret (or a set of secrets) is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("token secret must be at least {MIN_SECRET_BYTES} bytes")]
    TooShort,
    #[error("token secret is the README's example; generate a random one")]
    Example,
    #[error("token secrets: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Clone)]
struct Key {
    kid: Option<String>,
    secret: Vec<u8>,
}

/// The secrets tokens are signed with: one, or two during a rotation. The first signs
/// (for `reco token`); any verifies the tokens that name it.
#[derive(Clone)]
pub struct TokenKeys {
    keys: Vec<Key>,
    max_ttl_secs: i64,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| k.kid.as_deref()).collect();
        write!(
            f,
            "TokenKeys(kids {kids:?}, max ttl {} s)",
            self.max_ttl_secs
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    /// Absent for the key of tokens issued before a rotation started (no `kid`).
    #[serde(default)]
    kid: Option<String>,
    secret: String,
}

fn check_secret(secret: &[u8]) -> Result<(), KeyError> {
    if secret == EXAMPLE_SECRET.as_bytes() {
        return Err(KeyError::Example);
    }
    if secret.len() < MIN_SECRET_BYTES {
        return Err(KeyError::TooShort);
    }
    Ok(())
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    if kid.is_empty() || kid.len() > 64 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(KeyError::Invalid(format!(
            "kid `{kid}` must be 1..=64 printable ASCII characters"
        )));
    }
    Ok(())
}

impl TokenKeys {
    /// One secret, no `kid`.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let secret = secret.into();
        check_secret(&secret)?;
        Ok(TokenKeys {
            keys: vec![Key { kid: None, secret }],
            max_ttl_secs: DEFAULT_MAX_TTL_SECS,
        })
    }

    /// A secret as stored: either the secret itself, or for a rotation
    /// `{"keys": [{"kid": "2026-12", "secret": "..."}, {"kid": "2026-06", "secret": "..."}]}`
    /// (one or two keys; the first signs). One key may go without `kid`: the plain
    /// secret being rotated away from, which verifies tokens that name no key.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if !text.starts_with('{') {
            return Self::new(text);
        }
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| KeyError::Invalid(e.to_string()))?;
        if file.keys.is_empty() || file.keys.len() > MAX_KEYS {
            return Err(KeyError::Invalid(format!(
                "`keys` must hold 1..={MAX_KEYS} keys"
            )));
        }
        let mut keys = Vec::with_capacity(file.keys.len());
        for entry in file.keys {
            if let Some(kid) = &entry.kid {
                check_kid(kid)?;
            }
            check_secret(entry.secret.as_bytes())?;
            if keys.iter().any(|k: &Key| k.kid == entry.kid) {
                return Err(KeyError::Invalid(format!(
                    "kid {:?} appears twice",
                    entry.kid
                )));
            }
            keys.push(Key {
                kid: entry.kid,
                secret: entry.secret.into_bytes(),
            });
        }
        Ok(TokenKeys {
            keys,
            max_ttl_secs: DEFAULT_MAX_TTL_SECS,
        })
    }

    /// Sets the largest accepted lifetime (`exp - iat`).
    pub fn with_max_ttl(mut self, secs: i64) -> Self {
        self.max_ttl_secs = secs;
        self
    }

    pub fn max_ttl_secs(&self) -> i64 {
        self.max_ttl_secs
    }

    fn mac(secret: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail.
        HmacSha256::new_from_slice(secret).expect("HMAC takes any key length")
    }

    /// Signs claims into a token with the first secret.
    pub fn sign(&self, claims: &TokenClaims) -> String {
        let key = &self.keys[0];
        let header = match &key.kid {
            None => r#"{"alg":"HS256","typ":"JWT"}"#.to_string(),
            Some(kid) => format!(
                r#"{{"alg":"HS256","typ":"JWT","kid":{}}}"#,
                serde_json::Value::from(kid.as_str())
            ),
        };
        let header = URL_SAFE_NO_PAD.encode(header);
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise to JSON"));
        let signing_input = format!("{header}.{payload}");
        let mut mac = Self::mac(&key.secret);
        mac.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    /// Verifies the signature (in constant time) with the key the header names, the
    /// algorithm, the claims' shape, the lifetime and the expiry.
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
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == header.kid)
            .ok_or(TokenError::UnknownKey)?;
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = Self::mac(&key.secret);
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
        ids::session_id(&claims.sid).map_err(|e| TokenError::BadClaims(format!("sid {e}")))?;
        if let Some(cid) = &claims.cid {
            ids::customer_id(cid).map_err(|e| TokenError::BadClaims(format!("cid {e}")))?;
        }
        if claims.exp <= claims.iat {
            return Err(TokenError::BadClaims("exp must be after iat".into()));
        }
        if claims.iat > now_secs.saturating_add(CLOCK_SKEW_SECS) {
            return Err(TokenError::NotYetValid);
        }
        let lifetime = claims.exp.saturating_sub(claims.iat);
        if lifetime > self.max_ttl_secs {
            return Err(TokenError::LifetimeTooLong {
                lifetime,
                max: self.max_ttl_secs,
            });
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

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_800_000_000;

    fn key() -> TokenKeys {
        TokenKeys::new(SECRET).expect("long enough")
    }

    fn claims() -> TokenClaims {
        TokenClaims {
            sid: "s-1".into(),
            cid: Some("c-9".into()),
            iat: NOW - 60,
            exp: NOW + 3600,
            adm: false,
        }
    }

    fn forge(payload: &str) -> String {
        // Signs any payload with the test secret, as a site's backend could.
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let p = URL_SAFE_NO_PAD.encode(payload);
        let mut mac = TokenKeys::mac(SECRET.as_bytes());
        mac.update(format!("{h}.{p}").as_bytes());
        let s = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{h}.{p}.{s}")
    }

    #[test]
    fn round_trip() {
        let t = key().sign(&claims());
        assert_eq!(key().verify(&t, NOW), Ok(claims()));
    }

    /// The worked example in the README: any HS256 JWT library must produce this token.
    #[test]
    fn matches_the_documented_example() {
        let key = TokenKeys::parse(
            r#"{"keys":[{"kid":"k1","secret":"example-secret-of-32-bytes-or-more"}]}"#,
        )
        .expect("long enough");
        let claims = TokenClaims {
            sid: "s-42".into(),
            cid: Some("c-7".into()),
            iat: 4_102_441_200,
            exp: 4_102_444_800,
            adm: false,
        };
        let t = key.sign(&claims);
        assert_eq!(
            t,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.eyJzaWQiOiJzLTQyIiwiY2lkIjoiYy03IiwiaWF0Ijo0MTAyNDQxMjAwLCJleHAiOjQxMDI0NDQ4MDB9.YKO5C_jJZxGZDpag04eZnc4Mtb_sSriSNLux4e1rtWw",
            "README example drifted"
        );
        assert_eq!(key.verify(&t, 4_102_442_000), Ok(claims));
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let t = key().sign(&claims());
        assert_eq!(key().verify(&t, NOW + 3600), Err(TokenError::Expired));
        let other = TokenKeys::new("another-secret-of-some-length-at-least-32").expect("long");
        assert_eq!(other.verify(&t, NOW), Err(TokenError::BadSignature));
        // Swap in a payload naming another session, keeping the signature.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(r#"{"sid":"s-2","iat":1,"exp":2000000000}"#);
        parts[1] = &forged;
        assert_eq!(
            key().verify(&parts.join("."), NOW),
            Err(TokenError::BadSignature)
        );
        assert_eq!(key().verify("abc", NOW), Err(TokenError::Malformed));
        assert_eq!(key().verify("a.b.c.d", NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn alg_none_is_refused() {
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let p = URL_SAFE_NO_PAD.encode(r#"{"sid":"s","iat":1,"exp":2000000000}"#);
        assert_eq!(
            key().verify(&format!("{h}.{p}."), NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn customer_ids_in_tokens_obey_the_body_rules() {
        for cid in [
            "\"\"",
            "\"c\\u0000\"",
            "\" c-1\"",
            "\"c\\u202e1\"",
            &format!("\"{}\"", "x".repeat(129)),
        ] {
            let t = forge(&format!(
                r#"{{"sid":"s-1","cid":{cid},"iat":{},"exp":{}}}"#,
                NOW,
                NOW + 60
            ));
            assert!(
                matches!(key().verify(&t, NOW), Err(TokenError::BadClaims(m)) if m.starts_with("cid")),
                "{cid}"
            );
        }
        let t = forge(&format!(
            r#"{{"sid":"s 1","iat":{},"exp":{}}}"#,
            NOW,
            NOW + 60
        ));
        assert!(matches!(
            key().verify(&t, NOW),
            Err(TokenError::BadClaims(_))
        ));
    }

    #[test]
    fn lifetimes_above_the_maximum_and_missing_iat_are_refused() {
        let long = forge(&format!(
            r#"{{"sid":"s-1","iat":{NOW},"exp":{}}}"#,
            NOW + 30 * 86_400
        ));
        assert_eq!(
            key().verify(&long, NOW),
            Err(TokenError::LifetimeTooLong {
                lifetime: 30 * 86_400,
                max: DEFAULT_MAX_TTL_SECS
            })
        );
        assert!(key().with_max_ttl(31 * 86_400).verify(&long, NOW).is_ok());
        let no_iat = forge(&format!(r#"{{"sid":"s-1","exp":{}}}"#, NOW + 60));
        assert!(matches!(
            key().verify(&no_iat, NOW),
            Err(TokenError::BadClaims(_))
        ));
        let future = forge(&format!(
            r#"{{"sid":"s-1","iat":{},"exp":{}}}"#,
            NOW + 3600,
            NOW + 3700
        ));
        assert_eq!(key().verify(&future, NOW), Err(TokenError::NotYetValid));
    }

    #[test]
    fn kid_selects_one_of_two_secrets() {
        let old = TokenKeys::new(SECRET).expect("usable");
        let rotated = TokenKeys::parse(&format!(
            r#"{{"keys":[{{"kid":"new","secret":"{}"}},{{"kid":"old","secret":"{SECRET}"}}]}}"#,
            "n".repeat(40)
        ))
        .expect("two keys");
        let old_only = TokenKeys::parse(&format!(
            r#"{{"keys":[{{"kid":"old","secret":"{SECRET}"}}]}}"#
        ))
        .expect("one key");
        // A token signed with the new key verifies on the rotated set only.
        let t = rotated.sign(&claims());
        assert_eq!(rotated.verify(&t, NOW), Ok(claims()));
        assert_eq!(old_only.verify(&t, NOW), Err(TokenError::UnknownKey));
        // A token the site signed with the old key (kid "old") still verifies.
        let t = old_only.sign(&claims());
        assert_eq!(rotated.verify(&t, NOW), Ok(claims()));
        // A token without kid needs a key without kid: the plain secret being rotated
        // away from stays in the set without one.
        let t = old.sign(&claims());
        assert_eq!(rotated.verify(&t, NOW), Err(TokenError::UnknownKey));
        let from_plain = TokenKeys::parse(&format!(
            r#"{{"keys":[{{"kid":"new","secret":"{}"}},{{"secret":"{SECRET}"}}]}}"#,
            "n".repeat(40)
        ))
        .expect("new key plus the plain one");
        assert_eq!(from_plain.verify(&t, NOW), Ok(claims()));
        assert_eq!(
            from_plain.verify(&rotated.sign(&claims()), NOW),
            Ok(claims())
        );
    }

    #[test]
    fn weak_example_and_malformed_secrets_are_refused() {
        assert_eq!(TokenKeys::new("short").err(), Some(KeyError::TooShort));
        assert_eq!(
            TokenKeys::new("x".repeat(31)).err(),
            Some(KeyError::TooShort)
        );
        assert_eq!(
            TokenKeys::new(EXAMPLE_SECRET).err(),
            Some(KeyError::Example)
        );
        assert!(matches!(
            TokenKeys::parse(r#"{"keys":[]}"#),
            Err(KeyError::Invalid(_))
        ));
        let three = format!(
            r#"{{"keys":[{{"kid":"a","secret":"{s}"}},{{"kid":"b","secret":"{s}"}},{{"kid":"c","secret":"{s}"}}]}}"#,
            s = SECRET
        );
        assert!(TokenKeys::parse(&three).is_err());
        let twice = format!(
            r#"{{"keys":[{{"kid":"a","secret":"{s}"}},{{"kid":"a","secret":"{s}"}}]}}"#,
            s = SECRET
        );
        assert!(TokenKeys::parse(&twice).is_err());
        assert!(TokenKeys::parse(r#"{"keys":[{"kid":"a","secret":"short"}]}"#).is_err());
        assert!(TokenKeys::parse(SECRET).is_ok());
    }
}
