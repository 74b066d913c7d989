//! `/login`: a form that sets the read-token cookie, for browsers when
//! `auth.read_tokens` is set. The token is checked on every request by the
//! read-token middleware, not here.

use super::render;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct Params {
    next: Option<String>,
    failed: Option<bool>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct Login {
    required: bool,
    failed: bool,
    next: String,
}

/// Only paths on this weir are followed after signing in.
fn local(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//"))
        .unwrap_or_else(|| "/".into())
}

pub async fn form(State(required): State<bool>, Query(p): Query<Params>) -> Response {
    render(&Login {
        required,
        failed: p.failed.unwrap_or(false),
        next: local(p.next),
    })
}

#[derive(Deserialize)]
pub struct Credentials {
    token: String,
    next: Option<String>,
}

pub async fn submit(Form(c): Form<Credentials>) -> Response {
    (
        weir_query::token_cookie(c.token.trim()),
        Redirect::to(&local(c.next)),
    )
        .into_response()
}
