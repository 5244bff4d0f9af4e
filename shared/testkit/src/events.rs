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
        adm: false,
    };
    json["headers"]["authorization"] = format!("Bearer {}", signer.sign(&claims)).into();
    json.to_string()
}

/// Asserts that `dir` holds exactly one `<case>.json` per case, and no other event:
/// every event file has an expectation in the test, and back.
pub fn assert_events_are_the_cases(dir: &str, cases: &[&str]) {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("events dir")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_string()
        })
        .collect();
    files.sort();
    let mut expected: Vec<String> = cases.iter().map(|c| c.to_string()).collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "every event file has an expectation, and back"
    );
}
