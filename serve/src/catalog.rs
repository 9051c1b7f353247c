//! `GET /v1/views`: the catalog of served views.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use twinflow_views::{ViewId, ViewSchema};

use crate::{routes, AppState};

/// The catalog response.
#[derive(Serialize)]
pub struct Catalog<'a> {
    /// The snapshot the row counts are from.
    as_of: u64,
    /// Every view, in catalog order.
    views: Vec<CatalogEntry<'a>>,
}

/// One view: name, description, key, typed columns, current row count.
#[derive(Serialize)]
struct CatalogEntry<'a> {
    #[serde(flatten)]
    schema: &'a ViewSchema,
    rows: usize,
    changed_at: u64,
}

/// Lists every view with its key, typed columns and current row count.
#[utoipa::path(
    get,
    path = routes::CATALOG,
    tag = "views",
    responses((status = 200, description = "Every view: name, description, key, typed columns, rows, changed_at, at one as_of", content_type = "application/json"))
)]
pub async fn list(State(app): State<AppState>) -> Response {
    let snapshot = app.state().snapshot();
    let views = ViewId::ALL
        .into_iter()
        .map(|view| CatalogEntry {
            schema: snapshot.schema(view),
            rows: snapshot.len(view),
            changed_at: snapshot.changed_at(view),
        })
        .collect();
    Json(Catalog {
        as_of: snapshot.as_of,
        views,
    })
    .into_response()
}
