//! API errors and their JSON responses.

use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use thiserror::Error;
use twinflow_views::FilterError;

use crate::ControlError;

/// Why a request failed. Every variant becomes `{"error": "<message>"}` with its status.
#[derive(Debug, Error)]
pub enum ApiError {
    /// No view has that name (404).
    #[error("unknown view `{0}`")]
    UnknownView(String),
    /// A filter names an unknown column or has a value of the wrong type (400).
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// `limit` is not an integer in range (400).
    #[error("`limit` must be an integer from 1 to {max}, not `{given}`")]
    BadLimit {
        /// The largest accepted limit.
        max: usize,
        /// What was given.
        given: String,
    },
    /// `cursor` does not parse (400).
    #[error("{0}: pass the `next` value of a previous page unchanged")]
    BadCursor(String),
    /// The snapshot a cursor pages through is no longer retained (410).
    #[error("the snapshot at as_of {0} this cursor pages through is no longer retained: start again without a cursor")]
    CursorExpired(u64),
    /// `format` is neither `json` nor `arrow` (400).
    #[error("unknown format `{0}`: use `json` or `arrow`")]
    UnknownFormat(String),
    /// `encoding` is neither `objects` nor `compact` (400).
    #[error("unknown encoding `{0}`: use `objects` or `compact`")]
    UnknownEncoding(String),
    /// `after` is not an unsigned integer (400).
    #[error("`after` must be an as_of (an unsigned integer), not `{0}`")]
    BadAfter(String),
    /// A query parameter appears twice (400).
    #[error("query parameter `{0}` is given more than once")]
    Repeated(String),
    /// A reserved query parameter that the endpoint does not take (400).
    #[error("query parameter `{param}` does not apply to {endpoint}")]
    NotApplicable {
        /// The parameter.
        param: &'static str,
        /// What the endpoint is.
        endpoint: &'static str,
    },
    /// The path does not decode (400).
    #[error("bad path: {0}")]
    BadPath(String),
    /// A subscribe URL requested without a valid WebSocket upgrade.
    #[error("this endpoint needs a WebSocket upgrade: {message}")]
    NotUpgradable {
        /// The status the upgrade check asked for.
        status: StatusCode,
        /// Why the upgrade was refused.
        message: String,
    },
    /// No route matches (404).
    #[error("no route for `{0}`: see GET /v1/views")]
    NoRoute(String),
    /// The route exists but not with this method (405).
    #[error("method {0} is not allowed here: see the Allow header")]
    MethodNotAllowed(Method),
    /// No token where one is needed (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// An operator endpoint with a token that is not the operator's (403).
    #[error("the bearer token is not the operator token")]
    Forbidden,
    /// A token that is not valid: malformed, badly signed, expired, for another audience (401).
    #[error("{0}")]
    BadToken(#[from] crate::auth::TokenError),
    /// A valid token that names no company and no platform role (403).
    #[error("the token names no company_id and no platform role: it reads nothing")]
    NoTenant,
    /// A tenant naming another company (403).
    #[error("this token reads company {tenant} only, not company {asked}")]
    OtherTenant {
        /// The reader's company.
        tenant: i64,
        /// The company the request named.
        asked: String,
    },
    /// A token whose user row is inactive, of another company, or deleted (403).
    #[error("the token's user is no longer active in its company: sign in again")]
    UserRevoked,
    /// A tenant's cursor from another tenant's pages (403).
    #[error("this cursor was handed to another tenant: start again without a cursor")]
    ForeignCursor,
    /// A route only the operator (or, for metrics, the metrics token) may read (403).
    #[error("{0} needs the operator token")]
    OperatorOnly(&'static str),
    /// A WebSocket from an origin the engine does not allow (403).
    #[error("WebSocket connections from origin `{0}` are not allowed")]
    OriginRefused(String),
    /// Over the request rate (429, `Retry-After`).
    #[error("too many requests: over this tenant's rate limit")]
    RateLimited(std::time::Duration),
    /// Over a subscription cap (429).
    #[error("too many subscriptions: {0}")]
    TooManySubscriptions(String),
    /// As many large renders under way as the engine allows (503, `Retry-After`).
    #[error("the engine is busy with other large reads: try again shortly")]
    Busy(std::time::Duration),
    /// An operator request on the connectors was refused.
    #[error(transparent)]
    Control(#[from] crate::ControlError),
    /// A request body that is not what the endpoint takes (400).
    #[error("the body must be a JSON object: {0}")]
    BadBody(String),
    /// Something that should not happen (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownView(_) | ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::Control(err) => match err {
                ControlError::Invalid { .. } => StatusCode::BAD_REQUEST,
                ControlError::Conflict(_) => StatusCode::CONFLICT,
                ControlError::Unknown(_) => StatusCode::NOT_FOUND,
                ControlError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Unauthorized(_) | ApiError::BadToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden
            | ApiError::NoTenant
            | ApiError::UserRevoked
            | ApiError::OtherTenant { .. }
            | ApiError::ForeignCursor
            | ApiError::OperatorOnly(_)
            | ApiError::OriginRefused(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited(_) | ApiError::TooManySubscriptions(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::CursorExpired(_) => StatusCode::GONE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotUpgradable { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Filter(_)
            | ApiError::BadLimit { .. }
            | ApiError::BadCursor(_)
            | ApiError::UnknownFormat(_)
            | ApiError::UnknownEncoding(_)
            | ApiError::BadAfter(_)
            | ApiError::Repeated(_)
            | ApiError::NotApplicable { .. }
            | ApiError::BadBody(_)
            | ApiError::BadPath(_) => StatusCode::BAD_REQUEST,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!("{self}");
        }
        let mut response = (
            status,
            Json(ErrorBody {
                error: self.to_string(),
                field: match &self {
                    ApiError::Control(ControlError::Invalid { field, .. }) => Some(field.clone()),
                    ApiError::BadBody(_) => Some("body".into()),
                    _ => None,
                },
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        let retry_after = match &self {
            ApiError::RateLimited(wait) | ApiError::Busy(wait) => Some(*wait),
            ApiError::TooManySubscriptions(_) => Some(std::time::Duration::from_secs(1)),
            _ => None,
        };
        if let Some(wait) = retry_after {
            // Whole seconds, rounded up: a client waiting 0 s would come straight back.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(seconds.max(1)),
            );
        }
        response
    }
}

impl From<axum::extract::ws::rejection::WebSocketUpgradeRejection> for ApiError {
    fn from(rejection: axum::extract::ws::rejection::WebSocketUpgradeRejection) -> Self {
        ApiError::NotUpgradable {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

/// The fallback for paths no route matches.
pub(crate) async fn no_route(uri: Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_owned())
}

/// The fallback for known paths requested with another method than GET.
/// axum adds the `Allow` header with the route's methods.
pub(crate) async fn method_not_allowed(method: Method) -> impl IntoResponse {
    ApiError::MethodNotAllowed(method)
}
