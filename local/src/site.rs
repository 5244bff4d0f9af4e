//! What `reco serve` serves besides the API: `/reco.js` (the snippet sites include) and
//! the admin page `/admin` (its data from the admin routes, with an admin token)
//! always, and for a data dir built by `reco demo` the storefront at `/demo/`, its
//! catalogue, and `POST /demo/token`, which plays the site's backend: it signs visitor
//! tokens for anyone who asks, so it exists only for demo shops.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::{header, StatusCode};
use reco_api::ApiError;
use reco_core::{Clock, SystemClock, TokenClaims, TokenKeys};

pub const RECO_JS: &str = include_str!("../assets/reco.js");
const INDEX_HTML: &str = include_str!("../assets/demo/index.html");
const APP_JS: &str = include_str!("../assets/demo/app.js");
const STYLE_CSS: &str = include_str!("../assets/demo/style.css");
const ADMIN_HTML: &str = include_str!("../assets/admin/index.html");
const ADMIN_JS: &str = include_str!("../assets/admin/admin.js");
const ADMIN_CSS: &str = include_str!("../assets/admin/admin.css");

/// Lifetime of the demo's visitor tokens.
pub const DEMO_TOKEN_TTL_SECS: i64 = 3600;

/// A strict policy: scripts and styles from this origin only, no inline code.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data: blob:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// The demo shop's storefront data and the key its token route signs with.
pub struct DemoSite {
    pub catalogue: Bytes,
    pub customers: std::collections::HashSet<String>,
    pub keys: TokenKeys,
    /// The largest `POST /demo/token` body read: the API's `RECO_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    if content_type.starts_with("text/html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static(CSP),
        );
    }
    r
}

/// The routes; `demo` adds the storefront's.
pub fn routes(demo: Option<Arc<DemoSite>>) -> Router {
    let router = Router::new()
        .route(
            "/reco.js",
            get(|| async { asset("text/javascript; charset=utf-8", RECO_JS) }),
        )
        // The admin page reads everything from /v1/admin/... with an admin token.
        .route(
            "/admin",
            get(|| async { asset("text/html; charset=utf-8", ADMIN_HTML) }),
        )
        .route(
            "/admin/admin.js",
            get(|| async { asset("text/javascript; charset=utf-8", ADMIN_JS) }),
        )
        .route(
            "/admin/admin.css",
            get(|| async { asset("text/css; charset=utf-8", ADMIN_CSS) }),
        )
        .route(
            "/demo/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        );
    let Some(demo) = demo else {
        return router;
    };
    let storefront = Router::new()
        .route(
            "/demo",
            get(|| async {
                let mut r = Response::new(Body::empty());
                *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
                r.headers_mut()
                    .insert(header::LOCATION, header::HeaderValue::from_static("/demo/"));
                r
            }),
        )
        .route(
            "/demo/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/demo/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/demo/catalogue.json",
            get(|State(site): State<Arc<DemoSite>>| async move {
                let mut r = Response::new(Body::from(site.catalogue.clone()));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                r
            }),
        )
        .route("/demo/token", post(token))
        .with_state(demo);
    router.merge(storefront)
}

/// `POST /demo/token {"session_id", "customer_id"?}` -> `{"token", "expires_in"}`. The
/// body is read as the API's are: up to the same size, within the server's body time.
async fn token(State(site): State<Arc<DemoSite>>, body: Body) -> Response {
    let body = match crate::body::read_body(body, site.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return e.into_response().map(Body::from),
    };
    match sign(&site, &body) {
        Ok(token) => {
            let json = serde_json::json!({"token": token, "expires_in": DEMO_TOKEN_TTL_SECS});
            let mut r = Response::new(Body::from(json.to_string()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => e.into_response().map(Body::from),
    }
}

fn sign(site: &DemoSite, body: &[u8]) -> Result<String, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::invalid("body", "must be a JSON object"))?;
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::invalid("body", "must be a JSON object"))?;
    if let Some(unknown) = object
        .keys()
        .find(|k| *k != "session_id" && *k != "customer_id")
    {
        return Err(ApiError::invalid(unknown, "is not a field of this request"));
    }
    let sid = object
        .get("session_id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| ApiError::invalid("session_id", "is required (a string)"))?;
    reco_api::validate::session_id(sid)?;
    let cid = match object.get("customer_id") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(c)) if site.customers.contains(c) => Some(c.clone()),
        Some(_) => {
            return Err(ApiError::invalid(
                "customer_id",
                "must be one of the demo shop's customers",
            ))
        }
    };
    let now = SystemClock.now().seconds();
    Ok(site.keys.sign(&TokenClaims {
        sid: sid.to_string(),
        cid,
        iat: now,
        exp: now + DEMO_TOKEN_TTL_SECS,
        adm: false,
    }))
}
