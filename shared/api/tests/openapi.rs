//! docs/openapi.yaml is the contract: the routes it documents are exactly those served, every
//! status it lists for a route is one the API can answer, and every error code the API
//! emits is in its enum.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use common::{
    body, call, documented_codes, point_to, sign, spec, write_version, Fixed, MemoryArtifacts,
    Scripted,
};
use reco_api::Api;
use reco_core::{AppendOutcome, Config, SessionService, StoreError, TokenClaims, TokenKeys};
use reco_serving::{ModelSource, Recommender};

/// The API on `store`, serving what `artifacts` publishes, with the admin routes.
fn api_on(store: Scripted, artifacts: Arc<MemoryArtifacts>) -> Api {
    let store = Arc::new(store);
    let models = Arc::new(ModelSource::new(
        artifacts.clone(),
        None,
        std::time::Duration::from_secs(60),
    ));
    Api {
        sessions: SessionService::new(store.clone(), Arc::new(Fixed), &Config::default()),
        tokens: common::key(),
        max_body_bytes: 1024,
        recommender: Some(Arc::new(Recommender::new(Arc::clone(&models)))),
        admin: Some(Arc::new(reco_api::admin::Admin {
            tokens: common::admin_key(),
            artifacts,
            models: Some(models),
            sessions: store,
            warehouse: Arc::new(reco_embedded::SqliteWarehouse::in_memory().expect("warehouse")),
            session_timeout_secs: 1800,
        })),
    }
}

/// The API on a store that archives every append and an artifact store with nothing
/// published, and its token key.
fn api() -> (Api, TokenKeys) {
    (
        api_on(Scripted::archived(), Arc::new(MemoryArtifacts::default())),
        common::key(),
    )
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

/// A scripted store's answer to every append.
type Append = fn() -> Result<AppendOutcome, StoreError>;

/// (method, uri, token, body, status, code) of one bad request.
type Case<'a> = (&'a str, &'a str, Option<&'a str>, String, u16, &'a str);

/// Requests that go wrong in every way the API can tell without a stored session or
/// a published model (the store here answers every append with `session_archived`):
/// each answers its status and code, and each code is one the document's enum lists.
/// A body naming another customer than the token's is `forbidden`.
#[tokio::test]
async fn each_client_error_answers_its_documented_code() {
    let (api, key) = api();
    let admin_key = common::admin_key();
    let sign = |sid: &str, cid: Option<&str>, adm: bool| {
        let key = if adm { &admin_key } else { &key };
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
    let claims = |adm: bool| TokenClaims {
        sid: "s1".into(),
        cid: None,
        iat: 1_800_000_000,
        exp: 1_800_003_600,
        adm,
    };
    let visitor_signed_admin = key.sign(&claims(true));
    let admin_signed_visitor = admin_key.sign(&claims(false));
    let unsigned_admin = TokenKeys::new("a-key-nobody-here-holds-32-bytes!")
        .expect("key")
        .sign(&claims(true));
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
        // The visitor key never verifies an admin token, even one that claims to be.
        (
            "GET",
            "/v1/admin/models",
            Some(&visitor_signed_admin),
            String::new(),
            403,
            "admin_required",
        ),
        (
            "POST",
            "/v1/admin/rollback",
            Some(&visitor_signed_admin),
            r#"{"version":"v1"}"#.to_string(),
            403,
            "admin_required",
        ),
        // Nor the admin key a visitor token.
        (
            "GET",
            "/v1/popular",
            Some(&admin_signed_visitor),
            String::new(),
            403,
            "admin_token",
        ),
        (
            "GET",
            "/v1/admin/models",
            Some(&unsigned_admin),
            String::new(),
            401,
            "unauthorized",
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

/// Every code the document lists is one some request gets: each failure a client can
/// meet, produced through the API against a store scripted to fail that way and an
/// artifact store holding a good version, a damaged one, or nothing. `body_timeout` is
/// the local server's own (`a_stalled_client_is_disconnected` in local/tests/serve.rs).
#[tokio::test]
async fn every_documented_code_is_answered() {
    let visitor = sign("s1", None, false);
    let admin = sign("admin", None, true);
    let view = || Bytes::from_static(br#"{"item_id":"a"}"#);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut expect = |r: http::Response<Bytes>, status: u16, code: &str| {
        let got = body(&r);
        assert_eq!(
            (r.status().as_u16(), got["error"]["code"].as_str()),
            (status, Some(code)),
            "{got}"
        );
        seen.insert(code.to_string());
    };

    // The client errors of the table above.
    let (api, _) = api();
    for (method, uri, token, payload, status, code) in [
        (
            "POST",
            "/v1/sessions/s1/views",
            Some(&visitor),
            "{",
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/v1/sessions/s1/views",
            Some(&visitor),
            r#"{"item_id":""}"#,
            400,
            "invalid_field",
        ),
        (
            "POST",
            "/v1/sessions/s1/views",
            Some(&visitor),
            r#"{"item_id":"a","x":1}"#,
            400,
            "unknown_field",
        ),
        (
            "POST",
            "/v1/sessions/s1/views",
            None,
            r#"{"item_id":"a"}"#,
            401,
            "unauthorized",
        ),
        (
            "POST",
            "/v1/sessions/s2/views",
            Some(&visitor),
            r#"{"item_id":"a"}"#,
            403,
            "forbidden",
        ),
        (
            "POST",
            "/v1/sessions/s1/views",
            Some(&visitor),
            r#"{"item_id":"a"}"#,
            409,
            "session_archived",
        ),
        (
            "GET",
            "/v1/sessions/s1",
            Some(&visitor),
            "",
            404,
            "not_found",
        ),
        (
            "DELETE",
            "/v1/sessions/s1",
            Some(&visitor),
            "",
            405,
            "method_not_allowed",
        ),
        (
            "GET",
            "/v1/popular?k=0",
            Some(&visitor),
            "",
            400,
            "invalid_parameter",
        ),
        (
            "GET",
            "/v1/popular?x=1",
            Some(&visitor),
            "",
            400,
            "unknown_parameter",
        ),
        ("GET", "/v1/popular", Some(&visitor), "", 503, "no_model"),
        ("GET", "/v1/popular", Some(&admin), "", 403, "admin_token"),
        (
            "GET",
            "/v1/admin/models",
            Some(&visitor),
            "",
            403,
            "admin_required",
        ),
        (
            "POST",
            "/v1/admin/rollback",
            Some(&admin),
            "",
            409,
            "nothing_published",
        ),
    ] {
        let r = call(
            &api,
            method,
            uri,
            token.map(String::as_str),
            payload.to_string(),
        )
        .await;
        expect(r, status, code);
    }
    let big = format!(r#"{{"item_id":"{}"}}"#, "x".repeat(2000));
    expect(
        call(&api, "POST", "/v1/sessions/s1/views", Some(&visitor), big).await,
        413,
        "payload_too_large",
    );

    // What the session store refuses, and its failures.
    let refusals: [(Append, u16, &str); 6] = [
        (
            || {
                Ok(AppendOutcome::CustomerConflict {
                    existing: Some("c9".into()),
                })
            },
            403,
            "customer_mismatch",
        ),
        (
            || {
                Ok(AppendOutcome::TooLarge {
                    byte_count: 349_990,
                })
            },
            413,
            "session_too_large",
        ),
        (
            || Ok(AppendOutcome::CapReached { view_count: 500 }),
            429,
            "view_cap_reached",
        ),
        (
            || {
                Ok(AppendOutcome::ImpressionsFull {
                    impression_bytes: 39_990,
                })
            },
            413,
            "impressions_full",
        ),
        (
            || Err(StoreError::Unavailable("throttled".into())),
            503,
            "unavailable",
        ),
        (|| Err(StoreError::Other("broken".into())), 500, "internal"),
    ];
    for (append, status, code) in refusals {
        let api = api_on(
            Scripted::answering(append),
            Arc::new(MemoryArtifacts::default()),
        );
        let (uri, payload) = if code == "impressions_full" {
            (
                "/v1/sessions/s1/impressions",
                format!(
                    r#"{{"impressions":[{{"recommendation_id":"{}","model_version":"v1","strategy":"popular","item_ids":["a"]}}]}}"#,
                    "0".repeat(32)
                ),
            )
        } else {
            ("/v1/sessions/s1/views", r#"{"item_id":"a"}"#.to_string())
        };
        expect(
            call(&api, "POST", uri, Some(&visitor), payload).await,
            status,
            code,
        );
    }

    // A published version: an item it does not know; the rollbacks it refuses.
    let artifacts = Arc::new(MemoryArtifacts::default());
    write_version(&artifacts, "v1", false);
    write_version(&artifacts, "v0", true);
    point_to(&artifacts, "v1", &[]);
    let api = api_on(Scripted::archived(), artifacts.clone());
    let r = call(&api, "GET", "/v1/items/zzz/similar", Some(&visitor), view()).await;
    expect(r, 404, "unknown_item");
    let rollback = |body: String| call(&api, "POST", "/v1/admin/rollback", Some(&admin), body);
    expect(rollback(String::new()).await, 409, "no_earlier_version");
    point_to(&artifacts, "v1", &["v0"]);
    let to = |version: &str| format!(r#"{{"to":"{version}"}}"#);
    expect(rollback(to("v1")).await, 409, "already_current");
    expect(rollback(to("v0")).await, 409, "version_unusable");
    artifacts.down.store(true, Ordering::SeqCst);
    expect(
        call(&api, "GET", "/v1/admin/models", Some(&admin), "").await,
        503,
        "artifacts_unavailable",
    );

    // Only a damaged version is published: nothing can be served.
    let artifacts = Arc::new(MemoryArtifacts::default());
    write_version(&artifacts, "v0", true);
    point_to(&artifacts, "v0", &[]);
    let api = api_on(Scripted::archived(), artifacts);
    expect(
        call(&api, "GET", "/v1/popular", Some(&visitor), "").await,
        503,
        "model_unavailable",
    );

    let documented: BTreeSet<String> = documented_codes(&spec())
        .into_iter()
        .filter(|c| c != "body_timeout")
        .collect();
    assert_eq!(seen, documented);
}
