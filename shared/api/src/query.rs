//! Query parameters of the recommendation routes. Every refusal is a 400 naming the
//! parameter: `unknown_parameter` for one the route does not take (or one given
//! twice), `invalid_parameter` for a bad value.

use reco_core::ids;
use reco_serving::{PopularRequest, RecommendRequest, SimilarRequest, MAX_EXCLUDE, MAX_K};

use crate::ApiError;

/// `k` when not given.
pub const DEFAULT_K: usize = 10;
/// Longest category name accepted, in bytes.
pub const MAX_CATEGORY: usize = 128;

fn invalid(name: &str, problem: &str) -> ApiError {
    ApiError::invalid_parameter(name, problem)
}

/// The parameters, decoded; refuses names outside `allowed` and repeats (except
/// `exclude`, which may be repeated).
fn pairs(query: Option<&str>, allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let (name, value) = (name.into_owned(), value.into_owned());
        if !allowed.contains(&name.as_str()) {
            return Err(ApiError::unknown_parameter(&name));
        }
        if name != "exclude" && seen.iter().any(|(n, _)| *n == name) {
            return Err(invalid(&name, "given more than once"));
        }
        seen.push((name, value));
    }
    Ok(seen)
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn k(pairs: &[(String, String)]) -> Result<usize, ApiError> {
    match get(pairs, "k") {
        None => Ok(DEFAULT_K),
        Some(v) => match v.parse::<usize>() {
            Ok(k) if (1..=MAX_K).contains(&k) => Ok(k),
            _ => Err(invalid(
                "k",
                &format!("must be an integer from 1 to {MAX_K}"),
            )),
        },
    }
}

fn category(pairs: &[(String, String)]) -> Result<Option<String>, ApiError> {
    match get(pairs, "category") {
        None => Ok(None),
        Some(v) => {
            ids::text_id(v, MAX_CATEGORY).map_err(|e| invalid("category", &e.to_string()))?;
            Ok(Some(v.to_string()))
        }
    }
}

fn session(pairs: &[(String, String)]) -> Result<Option<String>, ApiError> {
    match get(pairs, "session_id") {
        None => Ok(None),
        Some(v) => {
            ids::session_id(v).map_err(|e| invalid("session_id", &e.to_string()))?;
            Ok(Some(v.to_string()))
        }
    }
}

/// `GET /v1/recommendations`.
pub fn recommendations(query: Option<&str>) -> Result<RecommendRequest, ApiError> {
    let pairs = pairs(
        query,
        &[
            "session_id",
            "customer_id",
            "k",
            "category",
            "exclude_seen",
            "exclude",
        ],
    )?;
    let session_id = session(&pairs)?.ok_or_else(|| invalid("session_id", "is required"))?;
    let customer_id = match get(&pairs, "customer_id") {
        None => None,
        Some(v) => {
            ids::customer_id(v).map_err(|e| invalid("customer_id", &e.to_string()))?;
            Some(v.to_string())
        }
    };
    let exclude_seen = match get(&pairs, "exclude_seen") {
        None | Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(_) => return Err(invalid("exclude_seen", "must be true or false")),
    };
    let mut exclude = Vec::new();
    for (_, v) in pairs.iter().filter(|(n, _)| n == "exclude") {
        for id in v.split(',') {
            ids::item_id(id).map_err(|e| invalid("exclude", &format!("`{id}`: {e}")))?;
            exclude.push(id.to_string());
        }
    }
    if exclude.len() > MAX_EXCLUDE {
        return Err(invalid(
            "exclude",
            &format!("at most {MAX_EXCLUDE} item ids"),
        ));
    }
    Ok(RecommendRequest {
        session_id,
        customer_id,
        k: k(&pairs)?,
        category: category(&pairs)?,
        exclude_seen,
        exclude,
    })
}

/// `GET /v1/items/{item_id}/similar`.
pub fn similar(item_id: &str, query: Option<&str>) -> Result<SimilarRequest, ApiError> {
    let item_id = form_urlencoded::parse(format!("i={item_id}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    ids::item_id(&item_id).map_err(|e| invalid("item_id", &e.to_string()))?;
    let pairs = pairs(query, &["k", "category", "session_id"])?;
    Ok(SimilarRequest {
        item_id,
        k: k(&pairs)?,
        category: category(&pairs)?,
        session_id: session(&pairs)?,
    })
}

/// `GET /v1/popular`.
pub fn popular(query: Option<&str>) -> Result<PopularRequest, ApiError> {
    let pairs = pairs(query, &["k", "category"])?;
    Ok(PopularRequest {
        k: k(&pairs)?,
        category: category(&pairs)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<impl std::fmt::Debug, ApiError>) -> (&'static str, Option<String>) {
        let e = r.unwrap_err();
        (e.code, e.field)
    }

    #[test]
    fn defaults_and_values() {
        let r = recommendations(Some("session_id=s1")).unwrap();
        assert_eq!(
            (r.k, r.exclude_seen, r.category, r.customer_id),
            (10, true, None, None)
        );
        let r = recommendations(Some(
            "session_id=s1&customer_id=c%201&k=100&category=Shoes&exclude_seen=false&exclude=a,b&exclude=c",
        ))
        .unwrap();
        assert_eq!(r.customer_id.as_deref(), Some("c 1"));
        assert_eq!(r.k, 100);
        assert_eq!(r.category.as_deref(), Some("Shoes"));
        assert!(!r.exclude_seen);
        assert_eq!(r.exclude, ["a", "b", "c"]);
        assert_eq!(similar("sku%2F9", None).unwrap().item_id, "sku/9");
        assert_eq!(popular(Some("k=3")).unwrap().k, 3);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let invalid = "invalid_parameter";
        let cases: Vec<(Result<RecommendRequest, ApiError>, &str, &str)> = vec![
            (recommendations(None), invalid, "session_id"),
            (
                recommendations(Some("session_id=a/b")),
                invalid,
                "session_id",
            ),
            (recommendations(Some("session_id=s&k=0")), invalid, "k"),
            (recommendations(Some("session_id=s&k=101")), invalid, "k"),
            (recommendations(Some("session_id=s&k=x")), invalid, "k"),
            (recommendations(Some("session_id=s&k=1&k=2")), invalid, "k"),
            (
                recommendations(Some("session_id=s&category=")),
                invalid,
                "category",
            ),
            (
                recommendations(Some("session_id=s&customer_id=")),
                invalid,
                "customer_id",
            ),
            (
                recommendations(Some("session_id=s&exclude_seen=yes")),
                invalid,
                "exclude_seen",
            ),
            (
                recommendations(Some("session_id=s&exclude=a,,b")),
                invalid,
                "exclude",
            ),
            (
                recommendations(Some("session_id=s&color=red")),
                "unknown_parameter",
                "color",
            ),
        ];
        for (r, c, f) in cases {
            assert_eq!(code(r), (c, Some(f.to_string())));
        }
        let many: String = (0..101).map(|i| format!("&exclude=i{i}")).collect();
        assert_eq!(
            code(recommendations(Some(&format!("session_id=s{many}")))),
            (invalid, Some("exclude".into()))
        );
        assert_eq!(code(similar("", None)), (invalid, Some("item_id".into())));
        assert_eq!(
            code(similar("a", Some("session_id=%00"))),
            (invalid, Some("session_id".into()))
        );
        assert_eq!(
            code(popular(Some("session_id=s"))),
            ("unknown_parameter", Some("session_id".into()))
        );
    }
}
