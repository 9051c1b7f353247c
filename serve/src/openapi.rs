//! `GET /v1/openapi.json`: the OpenAPI 3 document of every route, generated from the handlers'
//! `#[utoipa::path]` annotations as [`router`](crate::router) registers them, so that the
//! document and the router cannot name different routes.

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::Modify;

use crate::routes;

/// The document's fixed parts: what the API is, its tags and its security schemes.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "twinflow",
        description = "Live, transactionally consistent views of an organisation's digital twin: \
                       reads (JSON or Arrow), WebSocket subscriptions, engine status, and the \
                       operator's connector control. Every read and message says its `as_of`."
    ),
    tags(
        (name = "views", description = "The served views: catalog, pages, subscriptions"),
        (name = "engine", description = "Health, status, metrics and dead letters"),
        (name = "connectors", description = "The operator's connector control (operator token)"),
        (name = "api", description = "This document"),
        (name = "console", description = "The console in the browser"),
    ),
    modifiers(&Tokens)
)]
pub(crate) struct ApiDoc;

/// Declares the bearer tokens: `reader` (a JWT naming a tenant or platform staff, also taken
/// as `?access_token=`), `operator` and `metrics`.
struct Tokens;

impl Modify for Tokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |format: Option<&str>| {
            let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer);
            SecurityScheme::Http(match format {
                Some(format) => scheme.bearer_format(format).build(),
                None => scheme.build(),
            })
        };
        components.add_security_scheme("reader", bearer(Some("JWT")));
        components.add_security_scheme("operator", bearer(None));
        components.add_security_scheme("metrics", bearer(None));
    }
}

/// The document as served: rendered once when the router is built.
#[derive(Clone)]
pub(crate) struct Document(pub(crate) Bytes);

/// Serves the OpenAPI document.
#[utoipa::path(
    get,
    path = routes::OPENAPI,
    tag = "api",
    responses((status = 200, description = "The OpenAPI 3 document of every route", content_type = "application/json"))
)]
pub(crate) async fn document(Extension(Document(json)): Extension<Document>) -> Response {
    ([(CONTENT_TYPE, "application/json")], json).into_response()
}
