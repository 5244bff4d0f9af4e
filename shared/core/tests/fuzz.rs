//! Property tests over the token parser: whatever arrives in an Authorization header,
//! `verify` answers with claims that obey every rule, or a typed refusal; it never
//! panics. Bounded case counts keep them in the test command.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use reco_core::{ids, TokenError, TokenKeys};
use sha2::Sha256;

const SECRET: &str = "fuzzing-secret-of-at-least-32-bytes!";
const NOW: i64 = 1_800_000_000;

fn keys() -> TokenKeys {
    TokenKeys::new(SECRET).expect("usable")
}

/// Signs any header and payload text as a site's backend (or an attacker holding the
/// secret) could.
fn signed(header: &str, payload: &str) -> String {
    let h = URL_SAFE_NO_PAD.encode(header);
    let p = URL_SAFE_NO_PAD.encode(payload);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(format!("{h}.{p}").as_bytes());
    format!(
        "{h}.{p}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        (NOW - 100_000..NOW + 100_000).prop_map(|n| n.to_string()),
        any::<String>().prop_map(|s| serde_json::Value::from(s).to_string()),
        "[a-z0-9._:-]{0,140}".prop_map(|s| serde_json::Value::from(s).to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(token in any::<String>()) {
        let _ = keys().verify(&token, NOW);
    }

    #[test]
    fn arbitrary_base64_parts_never_panic(a in any::<Vec<u8>>(), b in any::<Vec<u8>>(), c in any::<Vec<u8>>()) {
        let token = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(a), URL_SAFE_NO_PAD.encode(b), URL_SAFE_NO_PAD.encode(c));
        prop_assert!(keys().verify(&token, NOW).is_err());
    }

    /// Correctly signed tokens with arbitrary claims: accepted only when every claim
    /// obeys the rules.
    #[test]
    fn signed_claims_are_accepted_only_when_valid(
        sid in json_value(), cid in json_value(), iat in json_value(), exp in json_value(),
        kid in proptest::option::of("[a-z0-9]{0,3}"),
    ) {
        let header = match &kid {
            None => r#"{"alg":"HS256","typ":"JWT"}"#.to_string(),
            Some(k) => format!(r#"{{"alg":"HS256","kid":"{k}"}}"#),
        };
        let payload = format!(r#"{{"sid":{sid},"cid":{cid},"iat":{iat},"exp":{exp}}}"#);
        match keys().verify(&signed(&header, &payload), NOW) {
            Ok(c) => {
                prop_assert!(kid.is_none());
                prop_assert!(ids::session_id(&c.sid).is_ok());
                if let Some(cid) = &c.cid {
                    prop_assert!(ids::customer_id(cid).is_ok());
                }
                prop_assert!(c.iat <= NOW + 300 && c.exp > NOW && c.exp > c.iat);
                prop_assert!(c.exp - c.iat <= keys().max_ttl_secs());
            }
            Err(TokenError::Malformed) => prop_assert!(false, "a well-formed token called malformed"),
            Err(_) => {}
        }
    }
}
