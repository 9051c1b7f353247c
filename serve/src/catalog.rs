//! `GET /v1/views`: the catalog of served views.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use twinflow_views::{ViewId, ViewSchema};

use crate::auth::Reader;
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

/// Lists every view with its key, typed columns and current row count (a tenant's own rows).
#[utoipa::path(
    get,
    path = routes::CATALOG,
    tag = "views",
    responses(
        (status = 200, description = "Every view: name, description, key, typed columns, rows (a tenant's own), changed_at, at one as_of", content_type = "application/json"),
        (status = 401, description = "No token, or one that is not valid", content_type = "application/json"),
    ),
    security((), ("reader" = []))
)]
pub async fn list(State(app): State<AppState>, reader: Reader) -> Response {
    let snapshot = app.state().snapshot();
    let views = ViewId::ALL
        .into_iter()
        .map(|view| CatalogEntry {
            schema: snapshot.schema(view),
            rows: match reader.tenant() {
                Some(company) => snapshot.company_len(view, company),
                None => snapshot.len(view),
            },
            changed_at: snapshot.changed_at(view),
        })
        .collect();
    Json(Catalog {
        as_of: snapshot.as_of,
        views,
    })
    .into_response()
}
