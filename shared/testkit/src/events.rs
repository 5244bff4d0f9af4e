//! Sample API Gateway events (events/) in the handler tests.

use reco_core::{TokenClaims, TokenKeys};

/// The event with its bearer token re-signed: same `sid` and `cid`, issued now.
pub fn fresh_token(event: &str, signer: &TokenKeys, now: i64) -> String {
    use base64::Engine;
    let mut json: serde_json::Value = serde_json::from_str(event).expect("event JSON");
    let Some(auth) = json["headers"]["authorization"].as_str() else {
        return event.to_string();
    };
    let token = auth.trim_start_matches("Bearer ");
    let payload = token.split('.').nth(1).expect("three parts");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("claims JSON");
    let claims = TokenClaims {
        sid: claims["sid"].as_str().expect("sid").to_string(),
        cid: claims["cid"].as_str().map(str::to_string),
        iat: now,
        exp: now + 3600,
    };
    json["headers"]["authorization"] = format!("Bearer {}", signer.sign(&claims)).into();
    json.to_string()
}
