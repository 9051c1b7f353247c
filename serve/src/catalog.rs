//! `GET /v1/views`: the catalog of served views.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use twinflow_views::{ViewId, ViewSchema};

use crate::AppState;

/// The catalog response.
#[derive(Serialize)]
pub struct Catalog {
    /// The snapshot the row counts are from.
    as_of: u64,
    /// Every view, in catalog order.
    views: Vec<CatalogEntry>,
}

/// One view: name, description, key, typed columns, current row count.
#[derive(Serialize)]
struct CatalogEntry {
    #[serde(flatten)]
    schema: &'static ViewSchema,
    rows: usize,
    changed_at: u64,
}

/// Lists every view with its key, typed columns and current row count.
pub async fn list(State(app): State<AppState>) -> Json<Catalog> {
    let snapshot = app.state().snapshot();
    let views = ViewId::ALL
        .into_iter()
        .map(|view| CatalogEntry {
            schema: view.schema(),
            rows: snapshot.len(view),
            changed_at: snapshot.changed_at(view),
        })
        .collect();
    Json(Catalog {
        as_of: snapshot.as_of,
        views,
    })
}
