//! axum extractors: `AuthContext` and `Option<AuthContext>`.

use crate::context::{AuthContext, ScopeError};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use std::convert::Infallible;

/// The layer did not run for this route: a wiring bug, answered 500 like axum's `Extension`.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct MissingAuthContext;

impl MissingAuthContext {
    /// The status: 500.
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// The body text.
    pub fn body_text(&self) -> &'static str {
        "Missing AuthContext: is McpAuthLayer applied to this route?"
    }
}

impl std::fmt::Display for MissingAuthContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.body_text())
    }
}

impl std::error::Error for MissingAuthContext {}

impl IntoResponse for MissingAuthContext {
    fn into_response(self) -> Response {
        tracing::error!(target: "mcp_auth::rejection", "{}", self.body_text());
        (self.status(), self.body_text()).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthContext {
    type Rejection = MissingAuthContext;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(MissingAuthContext)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthContext {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned())
    }
}

impl IntoResponse for ScopeError {
    fn into_response(self) -> Response {
        self.into_http_response()
    }
}
