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

use crate::auth;
use crate::error::ApiError;
use crate::{routes, AppState, ControlError};

/// Lets a request through only with the operator's bearer token: none → 401, another → 403.
pub(crate) async fn require_token(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(expected) = app.auth().operator_token.as_deref() else {
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
    if auth::token_is(given, Some(expected)) {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// `GET /v1/connectors`: every connector's live status.
#[utoipa::path(
    get,
    path = routes::CONNECTORS,
    tag = "connectors",
    security(("operator" = [])),
    responses(
        (status = 200, description = "Every connector's state, position, rate, errors and dead letters", content_type = "application/json"),
        (status = 401, description = "No operator token", content_type = "application/json"),
        (status = 403, description = "Not the operator token", content_type = "application/json"),
    )
)]
pub(crate) async fn list(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "connectors": app.info().connectors() }))
}

/// `GET /v1/connectors/{name}`: one connector's live status and configuration (secrets
/// redacted).
#[utoipa::path(
    get,
    path = routes::CONNECTOR,
    tag = "connectors",
    security(("operator" = [])),
    params(("name" = String, Path, description = "The connector's name")),
    responses(
        (status = 200, description = "The connector's status and configuration, secrets redacted", content_type = "application/json"),
        (status = 401, description = "No operator token", content_type = "application/json"),
        (status = 403, description = "Not the operator token", content_type = "application/json"),
        (status = 404, description = "No such connector", content_type = "application/json"),
    )
)]
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
#[utoipa::path(
    post,
    path = routes::CONNECTORS,
    tag = "connectors",
    security(("operator" = [])),
    request_body(description = "`{\"name\", \"kind\": \"mysql\" | \"kafka\" | \"generator\", \"config\": {...}}`", content_type = "application/json"),
    responses(
        (status = 201, description = "The new connector's status; `Location` names it", content_type = "application/json"),
        (status = 400, description = "A field is missing or wrong: the error names it", content_type = "application/json"),
        (status = 401, description = "No operator token", content_type = "application/json"),
        (status = 403, description = "Not the operator token", content_type = "application/json"),
        (status = 409, description = "The name is in use, or a table it reads is fed by another connector", content_type = "application/json"),
    )
)]
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
#[utoipa::path(
    delete,
    path = routes::CONNECTOR,
    tag = "connectors",
    security(("operator" = [])),
    params(("name" = String, Path, description = "The connector's name")),
    responses(
        (status = 200, description = "`{removed, as_of}`: the as_of at which its rows are gone", content_type = "application/json"),
        (status = 401, description = "No operator token", content_type = "application/json"),
        (status = 403, description = "Not the operator token", content_type = "application/json"),
        (status = 404, description = "No such connector", content_type = "application/json"),
    )
)]
pub(crate) async fn remove(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(app.info().remove_connector(name).await?))
}

/// `POST /v1/connectors/{name}/pause`: holds the connector at its position (it stops between
/// two transactions); its status afterwards.
#[utoipa::path(
    post,
    path = routes::PAUSE,
    tag = "connectors",
    security(("operator" = [])),
    params(("name" = String, Path, description = "The connector's name")),
    responses(
        (status = 200, description = "The connector's status, paused", content_type = "application/json"),
        (status = 401, description = "No operator token", content_type = "application/json"),
        (status = 403, description = "Not the operator token", content_type = "application/json"),
        (status = 404, description = "No such connector", content_type = "application/json"),
    )
)]
pub(crate) async fn pause(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(app.info().set_connector_paused(name, true).await?))
}

/// `POST /v1/connectors/{name}/resume`: lets a held connector go on from where it stopped.
#[utoipa::path(
    post,
    path = routes::RESUME,
    tag = "connectors",
    security(("operator" = [])),
    params(("name" = String, Path, description = "The connector's name")),
    responses(
        (status = 200, description = "The connector's status, running", content_type = "application/json"),
        (status = 401, description = "No operator token", content_type = "application/json"),
        (status = 403, description = "Not the operator token", content_type = "application/json"),
        (status = 404, description = "No such connector", content_type = "application/json"),
    )
)]
pub(crate) async fn resume(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(app.info().set_connector_paused(name, false).await?))
}
