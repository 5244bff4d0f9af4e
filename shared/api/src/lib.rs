//! The HTTP API (docs/openapi.yaml) as one function from request to response, so the
//! Lambda and the local server answer every route identically. Handlers are thin:
//! authenticate, validate, call a use case, map its error to a status.

pub mod admin;
pub mod error;
pub mod query;
pub mod validate;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use std::sync::Arc;

use reco_core::{SessionDoc, SessionService, TokenClaims, TokenError, TokenKeys};
use reco_serving::Recommender;
use serde_json::{json, Value};

pub use error::ApiError;

/// Everything the routes need, built once per process (per cold start in Lambda).
pub struct Api {
    pub sessions: SessionService,
    pub tokens: TokenKeys,
    pub max_body_bytes: usize,
    /// The recommendation routes' use case; without it they answer 404.
    pub recommender: Option<Arc<Recommender>>,
    /// The operator's routes (`/v1/admin/...`); without them they answer 404.
    pub admin: Option<Arc<admin::Admin>>,
}

enum Route<'a> {
    PostViews(&'a str),
    PostImpressions(&'a str),
    GetSession(&'a str),
    Recommendations,
    Similar(&'a str),
    Popular,
    AdminModels,
    AdminActivity,
    AdminReport(&'a str),
    AdminRollback,
}

impl Api {
    /// Answers one request. Never panics on input; every failure is a JSON error.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        let method = request.method().clone();
        let result = if method == Method::OPTIONS {
            Ok(preflight())
        } else {
            self.route(request).await
        };
        let mut response = result.unwrap_or_else(|e| {
            // `no_model` tells the operator what to do; it reveals nothing else.
            if e.status.is_server_error() && e.code != "no_model" {
                // The detail stays in the log; the client sees the request id only.
                let request_id = request_id();
                tracing::error!(request_id, code = e.code, message = %e.message, "request failed");
                let mut response =
                    ApiError::internal(e.status, e.code, &request_id).into_response();
                if let Ok(v) = header::HeaderValue::from_str(&request_id) {
                    response.headers_mut().insert("x-request-id", v);
                }
                return response;
            }
            e.into_response()
        });
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            header::HeaderValue::from_static("*"),
        );
        response.headers_mut().insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::HeaderValue::from_static("retry-after, x-request-id"),
        );
        response
    }

    async fn route(&self, request: Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
        let path = request.uri().path().to_string();
        let route = match_route(request.method(), &path)?;
        let admin_route = matches!(
            route,
            Route::AdminModels
                | Route::AdminActivity
                | Route::AdminReport(_)
                | Route::AdminRollback
        );
        let claims = self.authenticate(&request, admin_route)?;
        if admin_route && !claims.adm {
            return Err(ApiError::forbidden(
                "admin_required",
                "this route needs an admin token (reco token --admin)",
            ));
        }
        if !admin_route && claims.adm {
            return Err(ApiError::forbidden(
                "admin_token",
                "an admin token is for the /v1/admin routes only",
            ));
        }
        let query = request.uri().query();
        match route {
            Route::AdminModels => {
                no_parameters(query)?;
                Ok(json_response(
                    StatusCode::OK,
                    &self.admin()?.models().await?,
                ))
            }
            Route::AdminActivity => {
                no_parameters(query)?;
                let now = self.sessions.clock().now();
                Ok(json_response(
                    StatusCode::OK,
                    &self.admin()?.activity(now).await?,
                ))
            }
            Route::AdminReport(version) => self.admin()?.report(version).await,
            Route::AdminRollback => {
                let now = self.sessions.clock().now();
                let out = self.admin()?.rollback(request.body(), now).await?;
                Ok(json_response(StatusCode::OK, &out))
            }
            Route::Recommendations => {
                let input = query::recommendations(query)?;
                let out = self
                    .recommender()?
                    .recommend(&self.sessions, &claims, &input)
                    .await?;
                Ok(recommendation_response(&out))
            }
            Route::Similar(item_id) => {
                let input = query::similar(item_id, query)?;
                let out = self
                    .recommender()?
                    .similar(&self.sessions, &claims, &input)
                    .await?;
                Ok(recommendation_response(&out))
            }
            Route::Popular => {
                let input = query::popular(query)?;
                let out = self.recommender()?.popular(&input).await?;
                Ok(recommendation_response(&out))
            }
            Route::PostViews(session_id) => {
                let body = self.session_body(session_id, &request)?;
                let now = self.sessions.clock().now();
                let input = validate::track_views(body, now)?;
                let tracked = self.sessions.track(session_id, &claims, input).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &json!({
                        "session_id": session_id,
                        "accepted": tracked.accepted,
                        "customer_id": tracked.customer_id,
                        "is_active": true,
                        "last_update": tracked.last_update.to_rfc3339(),
                    }),
                ))
            }
            Route::PostImpressions(session_id) => {
                let body = self.session_body(session_id, &request)?;
                let now = self.sessions.clock().now();
                let input = validate::impressions(body, now)?;
                let tracked = self
                    .sessions
                    .record_impressions(session_id, &claims, input)
                    .await?;
                Ok(json_response(
                    StatusCode::OK,
                    &json!({
                        "session_id": session_id,
                        "accepted": tracked.accepted,
                        "last_update": tracked.last_update.to_rfc3339(),
                    }),
                ))
            }
            Route::GetSession(session_id) => {
                validate::session_id(session_id)?;
                let doc = self.sessions.get(session_id, &claims).await?;
                Ok(json_response(StatusCode::OK, &session_json(&doc)))
            }
        }
    }

    /// A session route's body, once its session id is valid and the body within
    /// `max_body_bytes`.
    fn session_body<'r>(
        &self,
        session_id: &str,
        request: &'r Request<Bytes>,
    ) -> Result<&'r [u8], ApiError> {
        validate::session_id(session_id)?;
        let body = request.body();
        if body.len() > self.max_body_bytes {
            return Err(ApiError::too_large(self.max_body_bytes));
        }
        Ok(body)
    }

    fn admin(&self) -> Result<&admin::Admin, ApiError> {
        self.admin
            .as_deref()
            .ok_or_else(|| ApiError::not_found("the admin routes are not served here"))
    }

    fn recommender(&self) -> Result<&Recommender, ApiError> {
        self.recommender
            .as_deref()
            .ok_or_else(|| ApiError::not_found("recommendations are not served here"))
    }

    /// The token's claims, verified with the admin key on the admin routes and with
    /// the visitor key elsewhere: neither key verifies the other's tokens. A token the
    /// other key signed is told apart (403, `admin_required` / `admin_token`) from one
    /// no key signed (401).
    fn authenticate(
        &self,
        request: &Request<Bytes>,
        admin_route: bool,
    ) -> Result<TokenClaims, ApiError> {
        let value = request
            .headers()
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("Authorization header is not ASCII"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))?;
        let token = token.trim();
        let now = self.sessions.clock().now().seconds();
        let admin_keys = self.admin.as_ref().map(|a| &a.tokens);
        let (keys, other) = if admin_route {
            match admin_keys {
                Some(keys) => (keys, Some(&self.tokens)),
                None => return Err(ApiError::not_found("the admin routes are not served here")),
            }
        } else {
            (&self.tokens, admin_keys)
        };
        match keys.verify(token, now) {
            Ok(claims) => Ok(claims),
            Err(e @ TokenError::BadSignature) | Err(e @ TokenError::UnknownKey) => {
                match other.map(|o| o.verify(token, now)) {
                    Some(Ok(_)) if admin_route => Err(ApiError::forbidden(
                        "admin_required",
                        "this route needs an admin token (reco token --admin), signed with \
                         the admin key",
                    )),
                    Some(Ok(_)) => Err(ApiError::forbidden(
                        "admin_token",
                        "an admin token is for the /v1/admin routes only",
                    )),
                    _ => Err(ApiError::unauthorized(&e.to_string())),
                }
            }
            Err(e) => Err(ApiError::unauthorized(&e.to_string())),
        }
    }
}

/// Every route the API serves, as (method, path pattern), `{name}` matching one path
/// segment. Routing goes through this table, so it is the list of what is served; a
/// test holds docs/openapi.yaml to it in both directions.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/sessions/{session_id}/views"),
    ("POST", "/v1/sessions/{session_id}/impressions"),
    ("GET", "/v1/sessions/{session_id}"),
    ("GET", "/v1/recommendations"),
    ("GET", "/v1/items/{item_id}/similar"),
    ("GET", "/v1/popular"),
    ("GET", "/v1/admin/models"),
    ("GET", "/v1/admin/activity"),
    ("GET", "/v1/admin/models/{version}/report.svg"),
    ("POST", "/v1/admin/rollback"),
];

/// The route of `ROUTES` that `pattern` names, with its one path parameter if any.
fn route_for<'a>(pattern: &str, param: Option<&'a str>) -> Option<Route<'a>> {
    Some(match pattern {
        "/v1/sessions/{session_id}/views" => Route::PostViews(param?),
        "/v1/sessions/{session_id}/impressions" => Route::PostImpressions(param?),
        "/v1/sessions/{session_id}" => Route::GetSession(param?),
        "/v1/recommendations" => Route::Recommendations,
        "/v1/items/{item_id}/similar" => Route::Similar(param?),
        "/v1/popular" => Route::Popular,
        "/v1/admin/models" => Route::AdminModels,
        "/v1/admin/activity" => Route::AdminActivity,
        "/v1/admin/models/{version}/report.svg" => Route::AdminReport(param?),
        "/v1/admin/rollback" => Route::AdminRollback,
        _ => return None,
    })
}

/// `segments` against `pattern`: the segments `{...}` matched, or `None`.
fn match_pattern<'a>(pattern: &str, segments: &[&'a str]) -> Option<Vec<&'a str>> {
    let parts: Vec<&str> = pattern.split('/').skip(1).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            params.push(*segment);
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

fn match_route<'a>(method: &Method, path: &'a str) -> Result<Route<'a>, ApiError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let mut allowed = None;
    for (route_method, pattern) in ROUTES {
        let Some(params) = match_pattern(pattern, &segments) else {
            continue;
        };
        if method.as_str() != *route_method {
            allowed = Some(*route_method);
            continue;
        }
        if let Some(route) = route_for(pattern, params.first().copied()) {
            return Ok(route);
        }
    }
    match allowed {
        Some(method) => Err(ApiError::method_not_allowed(method)),
        None => Err(ApiError::not_found(&format!("no route for {path}"))),
    }
}

/// Refuses any query parameter (routes that take none).
fn no_parameters(query: Option<&str>) -> Result<(), ApiError> {
    match query.filter(|q| !q.is_empty()) {
        Some(q) => Err(ApiError::unknown_parameter(
            q.split(['=', '&']).next().unwrap_or(q),
        )),
        None => Ok(()),
    }
}

fn recommendation_response(r: &reco_serving::Recommendation) -> Response<Bytes> {
    match serde_json::to_value(r) {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => ApiError::internal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        )
        .into_response(),
    }
}

/// A fresh id for a failed request: 16 hex digits, quoted to the client and logged.
fn request_id() -> String {
    let mut raw = [0u8; 8];
    if getrandom::fill(&mut raw).is_err() {
        // No randomness: fall back to the time, still unique enough to find a log line.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        raw = nanos.to_be_bytes();
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session document as the API renders it.
pub fn session_json(doc: &SessionDoc) -> Value {
    json!({
        "session_id": doc.session_id,
        "customer_id": doc.customer_id,
        "is_active": doc.is_active,
        "session_start": doc.session_start.to_rfc3339(),
        "last_update": doc.last_update.to_rfc3339(),
        "view_count": doc.view_count,
        "items_viewed": doc.items_viewed.iter().map(|v| {
            let mut view = json!({
                "item_id": v.item_id,
                "viewed_at": v.viewed_at.to_rfc3339(),
            });
            if let Some(r) = &v.recommendation_id {
                view["recommendation_id"] = json!(r);
            }
            view
        }).collect::<Vec<_>>(),
        "impressions": doc.impressions.iter().map(|i| json!({
            "recommendation_id": i.recommendation_id,
            "model_version": i.model_version,
            "strategy": i.strategy,
            "item_ids": i.item_ids,
            "shown_at": i.shown_at.to_rfc3339(),
        })).collect::<Vec<_>>(),
    })
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn preflight() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        header::HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::HeaderValue::from_static("authorization, content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        header::HeaderValue::from_static("600"),
    );
    response
}

#[cfg(test)]
mod routing_tests {
    use super::*;

    /// Every entry of `ROUTES` routes, with its method only; other paths are 404.
    #[test]
    fn every_route_of_the_table_is_served_with_its_method_only() {
        for (method, pattern) in ROUTES {
            let path = pattern
                .replace("{session_id}", "s1")
                .replace("{item_id}", "i1")
                .replace("{version}", "v1");
            let method: Method = method.parse().expect("method");
            assert!(match_route(&method, &path).is_ok(), "{method} {path}");
            let other = if method == Method::GET {
                Method::POST
            } else {
                Method::GET
            };
            let e = match_route(&other, &path).err().expect("refused");
            assert_eq!(e.code, "method_not_allowed", "{other} {path}");
        }
        for path in ["/", "/v1", "/v1/sessions", "/v1/items/i1", "/v2/popular"] {
            let e = match_route(&Method::GET, path).err().expect("refused");
            assert_eq!(e.code, "not_found", "{path}");
        }
    }
}
