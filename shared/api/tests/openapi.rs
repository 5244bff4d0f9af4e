//! docs/openapi.yaml is the contract: the routes it documents are exactly those served, every
//! status it lists for a route is one the API can answer, and every error code the API
//! emits is in its enum.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use reco_api::Api;
use reco_core::ports::AppendRequest;
use reco_core::{
    AppendOutcome, ArtifactError, ArtifactStore, Clock, Config, SessionDoc, SessionService,
    SessionStore, StoreError, Timestamp, TokenClaims, TokenKeys,
};
use reco_serving::{ModelSource, Recommender};

/// The store is not what this test is about; it answers "not found" and accepts nothing.
struct EmptyStore;

#[async_trait]
impl SessionStore for EmptyStore {
    async fn append(&self, _: AppendRequest<'_>) -> Result<AppendOutcome, StoreError> {
        Ok(AppendOutcome::Archived)
    }
    async fn get(&self, _: &str) -> Result<Option<SessionDoc>, StoreError> {
        Ok(None)
    }
    async fn archive(&self, _: &str, _: Timestamp, _: i64) -> Result<bool, StoreError> {
        Ok(false)
    }
    async fn quarantine(&self, _: &str, _: Timestamp, _: &str) -> Result<bool, StoreError> {
        Ok(false)
    }
    async fn inactive(
        &self,
        _: u32,
        _: Timestamp,
        _: usize,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        Ok(Vec::new())
    }
}

/// An artifact store with nothing published: the recommendation routes answer
/// `no_model` once their parameters pass.
struct NoArtifacts;

#[async_trait]
impl ArtifactStore for NoArtifacts {
    async fn put(&self, _: &str, _: Vec<u8>, _: &str) -> Result<(), ArtifactError> {
        Ok(())
    }
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
        Ok(None)
    }
}

struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        Timestamp(1_800_000_000_000)
    }
}

fn spec() -> serde_yaml::Value {
    serde_yaml::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.yaml"
        ))
        .expect("openapi.yaml readable"),
    )
    .expect("openapi.yaml parses")
}

/// The API on a store that archives every append and an artifact store with nothing
/// published, and its token key.
fn api() -> (Api, TokenKeys) {
    let key = TokenKeys::new("0123456789abcdef0123456789abcdef").expect("key");
    let api = Api {
        sessions: SessionService::new(Arc::new(EmptyStore), Arc::new(Fixed), &Config::default()),
        tokens: key.clone(),
        max_body_bytes: 1024,
        recommender: Some(Arc::new(Recommender::new(Arc::new(ModelSource::new(
            Arc::new(NoArtifacts),
            None,
            std::time::Duration::from_secs(60),
        ))))),
        admin: None,
    };
    (api, key)
}

/// The error codes the document's enum lists.
fn documented_codes(spec: &serde_yaml::Value) -> Vec<String> {
    spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
        .as_sequence()
        .expect("code enum")
        .iter()
        .map(|c| c.as_str().expect("string").to_string())
        .collect()
}

#[tokio::test]
async fn every_documented_route_is_served_with_documented_errors() {
    let (api, key) = api();
    let token = key.sign(&TokenClaims {
        sid: "s1".into(),
        cid: None,
        iat: 1_800_000_000,
        exp: 1_800_003_600,
        adm: false,
    });
    let spec = spec();
    let codes = documented_codes(&spec);
    let paths = spec["paths"].as_mapping().expect("paths");
    assert!(!paths.is_empty());
    // Both directions: what the document lists is what the router serves.
    let mut documented_routes: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| {
            let path = path.as_str().expect("path").to_string();
            ops.as_mapping()
                .expect("operations")
                .keys()
                .map(move |m| (m.as_str().expect("method").to_uppercase(), path.clone()))
        })
        .collect();
    let mut served: Vec<(String, String)> = reco_api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    documented_routes.sort();
    served.sort();
    assert_eq!(documented_routes, served);
    for (path, ops) in paths {
        let path = path
            .as_str()
            .expect("path")
            .replace("{session_id}", "s1")
            .replace("{item_id}", "i1")
            .replace("{version}", "v1");
        for (method, op) in ops.as_mapping().expect("operations") {
            let method = method.as_str().expect("method").to_uppercase();
            let documented: Vec<u16> = op["responses"]
                .as_mapping()
                .expect("responses")
                .keys()
                .map(|k| k.as_str().expect("status").parse().expect("number"))
                .collect();
            let request = http::Request::builder()
                .method(method.as_str())
                .uri(&path)
                .header("authorization", format!("Bearer {token}"))
                .body(Bytes::from_static(br#"{"item_id":"i1"}"#))
                .expect("request");
            let response = api.handle(request).await;
            let status = response.status().as_u16();
            assert!(
                documented.contains(&status),
                "{method} {path} answered {status}, not in {documented:?}"
            );
            assert_ne!(status, 405, "{method} {path} is not routed");
            let body: serde_json::Value =
                serde_json::from_slice(response.body()).expect("JSON body");
            if let Some(code) = body["error"]["code"].as_str() {
                assert!(
                    codes.contains(&code.to_string()),
                    "undocumented code {code}"
                );
            }
            // Without a token every documented route answers 401, which it documents.
            let bare = http::Request::builder()
                .method(method.as_str())
                .uri(&path)
                .body(Bytes::new())
                .expect("request");
            assert_eq!(api.handle(bare).await.status().as_u16(), 401);
            assert!(documented.contains(&401));
        }
    }
}

/// (method, uri, token, body, status, code) of one bad request.
type Case<'a> = (&'a str, &'a str, Option<&'a str>, String, u16, &'a str);

/// Requests that go wrong in every way the API can tell without a stored session or
/// a published model (the store here answers every append with `session_archived`):
/// each answers its status and code, and each code is one the document's enum lists.
/// A body naming another customer than the token's is `forbidden`.
#[tokio::test]
async fn each_client_error_answers_its_documented_code() {
    let (api, key) = api();
    let sign = |sid: &str, cid: Option<&str>, adm: bool| {
        key.sign(&TokenClaims {
            sid: sid.into(),
            cid: cid.map(str::to_string),
            iat: 1_800_000_000,
            exp: 1_800_003_600,
            adm,
        })
    };
    let visitor = sign("s1", None, false);
    let customer = sign("s1", Some("c1"), false);
    let other = sign("s2", None, false);
    let admin = sign("admin", None, true);
    let big = format!(r#"{{"item_id":"{}"}}"#, "x".repeat(2000));
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/v1/sessions/s1/views",
            Some(&visitor),
            "{".into(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/v1/sessions/s1/views",
            Some(&visitor),
            r#"{"item_id":""}"#.into(),
            400,
            "invalid_field",
        ),
        (
            "POST",
            "/v1/sessions/s1/views",
            Some(&visitor),
            r#"{"item_id":"i1","colour":"red"}"#.into(),
            400,
            "unknown_field",
        ),
        (
            "POST",
            "/v1/sessions/s1/views",
            None,
            r#"{"item_id":"i1"}"#.into(),
            401,
            "unauthorized",
        ),
        (
            "POST",
            "/v1/sessions/s1/views",
            Some(&other),
            r#"{"item_id":"i1"}"#.into(),
            403,
            "forbidden",
        ),
        (
            "POST",
            "/v1/sessions/s1/views",
            Some(&customer),
            r#"{"item_id":"i1","customer_id":"c2"}"#.into(),
            403,
            "forbidden",
        ),
        (
            "POST",
            "/v1/sessions/s1/views",
            Some(&visitor),
            r#"{"item_id":"i1"}"#.into(),
            409,
            "session_archived",
        ),
        (
            "POST",
            "/v1/sessions/s1/views",
            Some(&visitor),
            big,
            413,
            "payload_too_large",
        ),
        (
            "GET",
            "/v1/sessions/s1",
            Some(&visitor),
            String::new(),
            404,
            "not_found",
        ),
        (
            "DELETE",
            "/v1/sessions/s1",
            Some(&visitor),
            String::new(),
            405,
            "method_not_allowed",
        ),
        (
            "GET",
            "/v1/recommendations?session_id=s1&k=0",
            Some(&visitor),
            String::new(),
            400,
            "invalid_parameter",
        ),
        (
            "GET",
            "/v1/popular?colour=red",
            Some(&visitor),
            String::new(),
            400,
            "unknown_parameter",
        ),
        (
            "GET",
            "/v1/popular",
            Some(&visitor),
            String::new(),
            503,
            "no_model",
        ),
        (
            "GET",
            "/v1/popular",
            Some(&admin),
            String::new(),
            403,
            "admin_token",
        ),
        (
            "GET",
            "/v1/admin/models",
            Some(&visitor),
            String::new(),
            403,
            "admin_required",
        ),
    ];
    let documented = documented_codes(&spec());
    for (method, uri, token, body, status, code) in cases {
        let mut request = http::Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = api
            .handle(request.body(Bytes::from(body)).expect("request"))
            .await;
        let got: serde_json::Value = serde_json::from_slice(response.body()).expect("JSON body");
        assert_eq!(
            (response.status().as_u16(), got["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {uri}: {got}"
        );
        assert!(
            documented.iter().any(|c| c == code),
            "{code} is not in the document"
        );
    }
}
