//! `GET /v1/status` and `GET /healthz`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Serialize, Serializer};
use twinflow_views::{now_ms, SourceProgress, ViewId};

use crate::auth::Reader;
use crate::error::ApiError;
use crate::{routes, AppState};

/// One source's progress and lag.
#[derive(Serialize)]
struct SourceStatus<'a> {
    #[serde(flatten)]
    progress: &'a SourceProgress,
    lag_ms: u64,
}

/// A JSON object of `(key, value)` pairs, in their order.
struct Pairs<K, V>(Vec<(K, V)>);

impl<K: Serialize, V: Serialize> Serialize for Pairs<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[derive(Serialize)]
struct ViewStatus {
    rows: usize,
    changed_at: u64,
    subscribers: usize,
}

/// The status response.
#[derive(Serialize)]
struct Status<'a> {
    as_of: u64,
    committed_ms: u64,
    now_ms: u64,
    /// The largest lag of any source.
    lag_ms: u64,
    uptime_s: u64,
    sources: Vec<SourceStatus<'a>>,
    views: Pairs<&'static str, ViewStatus>,
    connectors: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoints: Option<serde_json::Value>,
    dead_letters: u64,
    counters: Pairs<&'static str, f64>,
    anonymous_reads: bool,
}

/// What a reader other than the operator sees of the status: where the views are, how far
/// behind the sources.
#[derive(Serialize)]
struct ReaderStatus {
    as_of: u64,
    committed_ms: u64,
    now_ms: u64,
    /// The largest lag of any source.
    lag_ms: u64,
    /// Whether requests without a token read every company.
    anonymous_reads: bool,
}

/// The engine's position and lag; for the operator also the sources, views, connectors,
/// checkpoints and counters.
#[utoipa::path(
    get,
    path = routes::STATUS,
    tag = "engine",
    responses(
        (status = 200, description = "as_of and lag; for the operator token also source positions, per-view rows and subscribers, connectors, checkpoints, engine counters", content_type = "application/json"),
        (status = 401, description = "No token, or one that is not valid", content_type = "application/json"),
    ),
    security((), ("reader" = []), ("operator" = []))
)]
pub async fn status(State(app): State<AppState>, reader: Reader) -> Response {
    let snapshot = app.state().snapshot();
    let now = now_ms();
    let lag_ms = snapshot
        .sources()
        .iter()
        .map(|progress| progress.lag_ms(now))
        .max()
        .unwrap_or(0);
    if reader != Reader::Operator {
        return Json(ReaderStatus {
            as_of: snapshot.as_of,
            committed_ms: snapshot.committed_ms,
            now_ms: now,
            lag_ms,
            anonymous_reads: app.auth().anonymous_reads,
        })
        .into_response();
    }
    let status = Status {
        as_of: snapshot.as_of,
        committed_ms: snapshot.committed_ms,
        now_ms: now,
        lag_ms,
        uptime_s: app.started().elapsed().as_secs(),
        sources: snapshot
            .sources()
            .iter()
            .map(|progress| SourceStatus {
                progress,
                lag_ms: progress.lag_ms(now),
            })
            .collect(),
        views: Pairs(
            ViewId::ALL
                .into_iter()
                .map(|view| {
                    let status = ViewStatus {
                        rows: snapshot.len(view),
                        changed_at: snapshot.changed_at(view),
                        subscribers: app.state().subscribers(view),
                    };
                    (view.name(), status)
                })
                .collect(),
        ),
        connectors: app.info().connectors(),
        checkpoints: app.info().checkpoints(),
        dead_letters: app.info().dead_letter_count(),
        counters: Pairs(
            app.info()
                .counters()
                .into_iter()
                .map(|(name, _, value)| (name, value))
                .collect(),
        ),
        anonymous_reads: app.auth().anonymous_reads,
    };
    Json(&status).into_response()
}

/// The dead-letter record: the total, and the most recent letters (newest last).
#[utoipa::path(
    get,
    path = routes::DEAD_LETTERS,
    tag = "engine",
    responses(
        (status = 200, description = "`{total, recent}`: the most recent dead letters, newest last", content_type = "application/json"),
        (status = 401, description = "No token, or one that is not valid", content_type = "application/json"),
        (status = 403, description = "Not the operator token", content_type = "application/json"),
    ),
    security(("operator" = []))
)]
pub async fn dead_letters(
    State(app): State<AppState>,
    reader: Reader,
) -> Result<Response, ApiError> {
    if reader != Reader::Operator {
        return Err(ApiError::OperatorOnly("the dead-letter record"));
    }
    let body = serde_json::json!({
        "total": app.info().dead_letter_count(),
        "recent": app.info().dead_letters(),
    });
    Ok(Json(body).into_response())
}

/// Liveness: `ok` while the server answers.
#[utoipa::path(
    get,
    path = routes::HEALTH,
    tag = "engine",
    responses((status = 200, description = "`ok`", content_type = "text/plain"))
)]
pub async fn healthz() -> &'static str {
    "ok"
}
