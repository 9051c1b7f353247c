//! The operator endpoints (`/v1/connectors...`): never open without credentials. Every request
//! needs `Authorization: Bearer <token>` matching the engine's operator token; with no token
//! configured the endpoints refuse everyone.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::{AppState, ControlError};

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

/// `GET /v1/connectors/{name}`: one connector's live status and configuration (secrets
/// redacted).
pub(crate) async fn one(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    app.info()
        .connector(&name)
        .map(Json)
        .ok_or(ApiError::Control(ControlError::Unknown(name)))
}

/// `POST /v1/connectors` with `{"name", "kind", "config"}`: checks the request, starts the
/// connector (its tables are snapshotted and streamed into the running views) and answers
/// 201 with its status, `Location` naming it.
pub(crate) async fn add(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: serde_json::Value =
        serde_json::from_slice(&body).map_err(|err| ApiError::BadBody(err.to_string()))?;
    if !request.is_object() {
        return Err(ApiError::BadBody(format!("got {request}")));
    }
    let status = app.info().add_connector(request).await?;
    let location = status["name"]
        .as_str()
        .map(|name| {
            format!(
                "/v1/connectors/{}",
                utf8_percent_encode(name, NON_ALPHANUMERIC)
            )
        })
        .and_then(|path| HeaderValue::from_str(&path).ok());
    let mut response = (StatusCode::CREATED, Json(status)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `DELETE /v1/connectors/{name}`: stops the connector and retracts every row it contributed
/// in one timestamp; answers once the served state shows it.
pub(crate) async fn remove(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(app.info().remove_connector(name).await?))
}

/// `POST /v1/connectors/{name}/pause`: holds the connector at its position (it stops between
/// two transactions); its status afterwards.
pub(crate) async fn pause(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(app.info().set_connector_paused(name, true).await?))
}

/// `POST /v1/connectors/{name}/resume`: lets a held connector go on from where it stopped.
pub(crate) async fn resume(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(app.info().set_connector_paused(name, false).await?))
}
