//! Read-token checks for the API (and the dashboard, which reuses them), and
//! the cookie the dashboard's login form sets.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, IntoResponseParts, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The accepted read tokens; empty means open.
#[derive(Debug, Clone, Default)]
pub struct ReadAuth {
    tokens: Arc<Vec<String>>,
}

/// The cookie the dashboard's login form sets.
pub const TOKEN_COOKIE: &str = "weir_token";

/// How long a browser keeps the token cookie.
const COOKIE_MAX_AGE: time::Duration = time::Duration::days(30);

/// What stays as it is in the `next` path of a login redirect: unreserved
/// characters and the path's slashes.
const NEXT_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

impl ReadAuth {
    /// Accepts any of `tokens`; none means no authentication.
    pub fn new(tokens: Vec<String>) -> Self {
        ReadAuth {
            tokens: Arc::new(tokens.into_iter().filter(|t| !t.is_empty()).collect()),
        }
    }

    /// Whether authentication is required at all.
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Whether a request's bearer header or token cookie carries a valid token.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        if !self.enabled() {
            return true;
        }
        let cookie = CookieJar::from_headers(headers)
            .get(TOKEN_COOKIE)
            .map(|c| c.value().to_string());
        [bearer(headers), cookie].into_iter().flatten().any(|t| {
            // Constant time, so response timing does not reveal how much of
            // a guess was right.
            self.tokens
                .iter()
                .any(|known| bool::from(known.as_bytes().ct_eq(t.as_bytes())))
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header. Split by hand: a
/// typed `Authorization` header would bring in axum-extra's `typed-header`
/// feature and the `headers` crate for these few lines.
fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string())
}

/// The login form's answer: a cookie carrying `token` on every request to
/// this weir for 30 days, out of reach of scripts and of other sites. Its
/// value is percent-encoded, as [`ReadAuth::allows`] decodes it.
pub fn token_cookie(token: &str) -> impl IntoResponseParts + use<> {
    CookieJar::new().add(
        Cookie::build((TOKEN_COOKIE, token.to_string()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .max_age(COOKIE_MAX_AGE),
    )
}

/// Middleware: unless the request carries a read token, 401 with a JSON
/// error for the API, and a redirect to the login form for dashboard pages.
pub async fn require_read_token(
    State(auth): State<ReadAuth>,
    request: Request,
    next: Next,
) -> Response {
    if auth.allows(request.headers()) {
        next.run(request).await
    } else if !request.uri().path().starts_with("/api/") {
        let had_cookie = CookieJar::from_headers(request.headers())
            .get(TOKEN_COOKIE)
            .is_some();
        let next_path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let location = format!(
            "/login?next={}{}",
            utf8_percent_encode(next_path, NEXT_PATH),
            if had_cookie { "&failed=true" } else { "" }
        );
        (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(crate::error::ErrorBody::new(
                "a read token is required: send Authorization: Bearer <token> (one of auth.read_tokens)",
            )),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_bearer_header_or_the_cookie_carries_the_token() {
        let auth = ReadAuth::new(vec!["r3ad".into(), String::new()]);
        assert!(auth.enabled());
        assert!(!auth.allows(&headers(&[])));
        assert!(auth.allows(&headers(&[(header::AUTHORIZATION, "bearer  r3ad ")])));
        assert!(!auth.allows(&headers(&[(header::AUTHORIZATION, "Basic r3ad")])));
        assert!(!auth.allows(&headers(&[(header::AUTHORIZATION, "Bearer r3a")])));
        assert!(auth.allows(&headers(&[(header::COOKIE, "a=b; weir_token=r3ad")])));
        assert!(!auth.allows(&headers(&[(header::COOKIE, "weir_token=r3adx")])));
        assert!(!auth.allows(&headers(&[(header::COOKIE, "other=r3ad")])));
        assert!(ReadAuth::new(vec![]).allows(&headers(&[])));
    }

    #[test]
    fn the_login_cookie_round_trips_tokens_with_reserved_characters() {
        let token = "a b;c=d%";
        let parts = (token_cookie(token), ()).into_response();
        let set = parts.headers()[header::SET_COOKIE].to_str().unwrap();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=2592000"] {
            assert!(set.contains(attribute), "{set}");
        }
        let sent = set.split(';').next().unwrap();
        assert!(!sent.contains(' '), "{sent}");
        let auth = ReadAuth::new(vec![token.into()]);
        assert!(auth.allows(&headers(&[(header::COOKIE, sent)])));
    }
}
