//! `GET /`: the console, a page of the engine's own (HTML, script and style embedded in the
//! binary, no build step) that draws what the signed-in token may see: the engine's health,
//! one floor's desks live, staffing by Function and skill coverage. It reads the same API any
//! client does, so tenant isolation holds for it as for them.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::routes;

const PAGE: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

/// One embedded file with its type; revalidated on every load, since a new binary brings new
/// files under the same paths.
fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}

/// The console's page.
#[utoipa::path(
    get,
    path = routes::CONSOLE,
    tag = "console",
    responses((status = 200, description = "The console: sign in with a token, then its overview, floors, staffing and skills", content_type = "text/html"))
)]
pub(crate) async fn page() -> Response {
    file("text/html; charset=utf-8", PAGE)
}

/// The console's script.
#[utoipa::path(
    get,
    path = routes::CONSOLE_SCRIPT,
    tag = "console",
    responses((status = 200, description = "The console's script", content_type = "text/javascript"))
)]
pub(crate) async fn script() -> Response {
    file("text/javascript; charset=utf-8", SCRIPT)
}

/// The console's style sheet.
#[utoipa::path(
    get,
    path = routes::CONSOLE_STYLE,
    tag = "console",
    responses((status = 200, description = "The console's style sheet", content_type = "text/css"))
)]
pub(crate) async fn style() -> Response {
    file("text/css; charset=utf-8", STYLE)
}
