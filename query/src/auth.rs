//! Read-token checks for the API (and the dashboard, which reuses them).

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The accepted read tokens; empty means open.
#[derive(Debug, Clone, Default)]
pub struct ReadAuth {
    tokens: Arc<Vec<String>>,
}

/// The cookie the dashboard's login form sets.
pub const TOKEN_COOKIE: &str = "weir_token";

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
    pub fn allows(&self, headers: &axum::http::HeaderMap) -> bool {
        if !self.enabled() {
            return true;
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| h.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_string());
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == TOKEN_COOKIE)
            .map(|(_, v)| v.to_string());
        [bearer, cookie].into_iter().flatten().any(|t| {
            self.tokens.iter().any(|known| {
                known.len() == t.len()
                    && known
                        .bytes()
                        .zip(t.bytes())
                        .fold(0, |a, (x, y)| a | (x ^ y))
                        == 0
            })
        })
    }
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
        let had_cookie = request
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains(TOKEN_COOKIE));
        let next_path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let encoded: String = next_path
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let location = format!(
            "/login?next={encoded}{}",
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
