//! How failures reach the client: a store failure is a 5xx with a request id and a
//! generic message (the detail only in the log), a full session is a 429 with
//! `Retry-After`, a session over its byte budget a 413, and a customer's session
//! refuses tokens of anyone else with 403.

mod common;

use bytes::Bytes;
use common::{body, sign, Scripted, NOW_MS};
use reco_api::Api;
use reco_core::{AppendOutcome, Config, SessionDoc, StoreError, Timestamp};

fn api(store: Scripted) -> Api {
    common::api(store, 4096)
}

async fn call(api: &Api, method: &str, cid: Option<&str>) -> http::Response<Bytes> {
    let path = if method == "POST" {
        "/v1/sessions/s1/views"
    } else {
        "/v1/sessions/s1"
    };
    let token = sign("s1", cid, false);
    common::call(api, method, path, Some(&token), &br#"{"item_id":"i1"}"#[..]).await
}

#[tokio::test]
async fn store_failures_are_generic_5xx_with_a_request_id() {
    let api = api(Scripted::answering(|| {
        Err(StoreError::Other(
            "table reco-secret-name: ValidationException at 10.0.3.7".into(),
        ))
    }));
    let r = call(&api, "POST", None).await;
    assert_eq!(r.status().as_u16(), 500);
    let message = body(&r)["error"]["message"]
        .as_str()
        .expect("message")
        .to_string();
    let id = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(id.len(), 16);
    assert!(message.contains(&id), "{message}");
    assert!(
        !message.contains("ValidationException") && !message.contains("10.0.3.7"),
        "{message}"
    );

    let api = self::api(Scripted::answering(|| {
        Err(StoreError::Unavailable(
            "throttled by dynamodb.eu-west-1".into(),
        ))
    }));
    let r = call(&api, "POST", None).await;
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(body(&r)["error"]["code"], "unavailable");
    assert!(!body(&r).to_string().contains("eu-west-1"));
}

#[tokio::test]
async fn full_and_oversized_sessions_say_so() {
    let api = api(Scripted::answering(|| {
        Ok(AppendOutcome::CapReached { view_count: 500 })
    }));
    let r = call(&api, "POST", None).await;
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(
        r.headers()["retry-after"],
        Config::default().session_timeout_secs.to_string().as_str()
    );
    // A site's script on another origin may read it.
    assert!(r.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .contains("retry-after"));
    let api = self::api(Scripted::answering(|| {
        Ok(AppendOutcome::TooLarge {
            byte_count: 349_990,
        })
    }));
    let r = call(&api, "POST", None).await;
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(body(&r)["error"]["code"], "session_too_large");
}

#[tokio::test]
async fn a_customers_session_refuses_other_tokens() {
    let doc = SessionDoc {
        session_id: "s1".into(),
        customer_id: Some("c-a".into()),
        is_active: true,
        session_start: Timestamp(NOW_MS),
        last_update: Timestamp(NOW_MS),
        items_viewed: Vec::new(),
        view_count: 0,
        impressions: Vec::new(),
        expires_at: None,
    };
    let api = api(Scripted {
        append: || {
            Ok(AppendOutcome::CustomerConflict {
                existing: Some("c-a".into()),
            })
        },
        doc: Some(doc),
    });
    assert_eq!(call(&api, "GET", Some("c-a")).await.status().as_u16(), 200);
    for cid in [None, Some("c-b")] {
        for method in ["GET", "POST"] {
            let r = call(&api, method, cid).await;
            assert_eq!(r.status().as_u16(), 403, "{method} {cid:?}");
            assert_eq!(body(&r)["error"]["code"], "customer_mismatch");
        }
    }
}
