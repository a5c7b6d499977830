//! The OpenAPI 3.1 document of every endpoint (`docs/openapi.json`), served at
//! `GET /openapi.json`. `tests/openapi.rs` keeps it in sync with the router and
//! checks real responses against its schemas.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, compiled in.
pub const DOCUMENT: &str = include_str!("../docs/openapi.json");

/// `GET /openapi.json`.
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
