//! The operator endpoints (`/v1/connectors...`): never open without credentials. Every request
//! needs `Authorization: Bearer <token>` matching the engine's operator token; with no token
//! configured the endpoints refuse everyone.

use axum::extract::{Path, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::AppState;

/// Lets a request through only with the operator's bearer token: none → 401, another → 403.
pub(crate) async fn require_token(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(expected) = app.operator_token() else {
        return Err(ApiError::Unauthorized(
            "operator endpoints are disabled: start the engine with an operator token \
             (TWINFLOW_OPERATOR_TOKEN or operator_token in the config)",
        ));
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized(
            "send the operator token as `Authorization: Bearer <token>`",
        ))?;
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// `GET /v1/connectors`: every connector's live status.
pub(crate) async fn list(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "connectors": app.info().connectors() }))
}

/// `GET /v1/connectors/{name}`: one connector's live status.
pub(crate) async fn one(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.info()
        .connectors()
        .into_iter()
        .find(|c| c["name"].as_str() == Some(name.as_str()))
        .map(Json)
        .ok_or(ApiError::UnknownConnector(name))
}

/// `POST /v1/connectors/{name}/pause`: holds the connector at its position (it stops between
/// two transactions); its status afterwards.
pub(crate) async fn pause(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    set_paused(&app, name, true)
}

/// `POST /v1/connectors/{name}/resume`: lets a held connector go on from where it stopped.
pub(crate) async fn resume(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    set_paused(&app, name, false)
}

fn set_paused(
    app: &AppState,
    name: String,
    paused: bool,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.info()
        .set_connector_paused(&name, paused)
        .map(Json)
        .ok_or(ApiError::UnknownConnector(name))
}
