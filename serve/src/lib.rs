//! twinflow's HTTP and WebSocket API over the served state.
//!
//! [`router`] builds the whole API over a [`ServedState`]:
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/views` | the catalog: every view with its key, typed columns and row count |
//! | `GET /v1/views/{view}` | one page of a view as JSON (or `?format=arrow`: an Arrow IPC stream), with equality filters, `limit` and `cursor` |
//! | `GET /v1/views/{view}/subscribe` | WebSocket: a snapshot (or resumed changes), then live changes and progress |
//! | `GET /v1/status` | `as_of`, source lags, per-view rows and subscribers, engine counters |
//! | `GET /healthz` | `ok` |
//! | `GET /metrics` | Prometheus text exposition |
//! | `GET /v1/deadletters` | the dead-letter record |
//! | `GET /v1/openapi.json` | the OpenAPI 3 document of every route |
//! | `GET /` | the console (HTML, script and style embedded) |
//! | `/v1/connectors...` | the operator's connector control (operator token) |
//!
//! [`serve`] runs it on a listener until a shutdown future completes.

#![warn(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::serve::ListenerExt;
use axum::{Extension, Router};
use tokio::sync::watch;
use twinflow_views::ServedState;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod arrow;
pub mod auth;
mod body;
mod cache;
mod catalog;
mod console;
mod error;
mod json;
mod limits;
mod metrics;
mod openapi;
mod operator;
mod query;
mod read;
mod status;
mod subscribe;

use error::ApiError;

pub use auth::{AuthConfig, Reader};
pub use limits::Limits;

/// How the API is served: who may read, and the limits under abuse.
#[derive(Clone, Default)]
pub struct ServeConfig {
    /// Authentication and tenancy.
    pub auth: AuthConfig,
    /// Rate, subscription and render limits.
    pub limits: Limits,
}

impl ServeConfig {
    /// Every company's rows to requests without a token, with no request-rate limit (the
    /// other limits as by default), and `operator_token` for the operator routes: an engine
    /// for development, tests and benchmarks on one machine.
    pub fn anonymous(operator_token: Option<String>) -> ServeConfig {
        ServeConfig {
            auth: AuthConfig {
                operator_token,
                anonymous_reads: true,
                ..AuthConfig::default()
            },
            limits: Limits {
                requests_per_second: u32::MAX,
                request_burst: u32::MAX,
                ..Limits::default()
            },
        }
    }
}

/// Why an operator request on the connectors was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A field of the request is missing or wrong (400); `field` is its path, e.g.
    /// `config.url`.
    #[error("{field}: {message}")]
    Invalid {
        /// The path of the field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request conflicts with a connector there is: a name in use, a table fed (409).
    #[error("{0}")]
    Conflict(String),
    /// No connector has that name (404).
    #[error("unknown connector `{0}`: see GET /v1/connectors")]
    Unknown(String),
    /// The engine could not carry the request out (500).
    #[error("{0}")]
    Failed(String),
}

/// The answer to an operator request: the JSON to send, or why not.
pub type ControlFuture<'a> =
    Pin<Box<dyn Future<Output = Result<serde_json::Value, ControlError>> + Send + 'a>>;

/// What the engine reports about itself beyond the served state, and what operators may
/// change in it (its connectors).
///
/// Implemented by the binary that runs the engine; read on every `/v1/status` and `/metrics`
/// request, so the reporting methods should be cheap (atomics).
pub trait EngineInfo: Send + Sync + 'static {
    /// Total dead-lettered change events.
    fn dead_letter_count(&self) -> u64;
    /// Extra engine counters for `/v1/status` and `/metrics`: `(name, help, value)`, e.g.
    /// `("changes_applied_total", "Row changes applied.", 123.0)`. Names should be valid
    /// Prometheus metric names without the `twinflow_` prefix (invalid characters are replaced
    /// by `_` in `/metrics`).
    fn counters(&self) -> Vec<(&'static str, &'static str, f64)>;
    /// The connectors' live status (state, read position, rate, errors), one JSON object each.
    fn connectors(&self) -> Vec<serde_json::Value>;
    /// The most recent dead letters, newest last, one JSON object each.
    fn dead_letters(&self) -> Vec<serde_json::Value>;
    /// Checkpoints written and restored, when the engine has a data directory.
    fn checkpoints(&self) -> Option<serde_json::Value> {
        None
    }
    /// One connector's status with its configuration (secrets redacted), `None` when no
    /// connector has that name.
    fn connector(&self, name: &str) -> Option<serde_json::Value> {
        self.connectors()
            .into_iter()
            .find(|c| c["name"].as_str() == Some(name))
    }
    /// Holds (`paused`) or releases the connector `name`; its status afterwards.
    fn set_connector_paused(&self, name: String, paused: bool) -> ControlFuture<'_> {
        let _ = paused;
        Box::pin(async move { Err(ControlError::Unknown(name)) })
    }
    /// Adds a connector, `{"name", "kind", "config"}`, checked before anything starts; its
    /// status once started.
    fn add_connector(&self, request: serde_json::Value) -> ControlFuture<'_> {
        let _ = request;
        Box::pin(async {
            Err(ControlError::Failed(
                "this engine does not take connectors at runtime".into(),
            ))
        })
    }
    /// Stops the connector `name` and retracts every row it contributed, in one timestamp;
    /// `{"removed", "as_of"}` once the served state shows it.
    fn remove_connector(&self, name: String) -> ControlFuture<'_> {
        Box::pin(async move { Err(ControlError::Unknown(name)) })
    }
}

/// The route paths, as given to the router (and used as the `route` label of request counts).
pub(crate) mod routes {
    /// The catalog.
    pub const CATALOG: &str = "/v1/views";
    /// One view's rows.
    pub const VIEW: &str = "/v1/views/{view}";
    /// One view's live changes.
    pub const SUBSCRIBE: &str = "/v1/views/{view}/subscribe";
    /// Engine status.
    pub const STATUS: &str = "/v1/status";
    /// Liveness.
    pub const HEALTH: &str = "/healthz";
    /// Prometheus metrics.
    pub const METRICS: &str = "/metrics";
    /// Recent dead letters.
    pub const DEAD_LETTERS: &str = "/v1/deadletters";
    /// The connectors (operator).
    pub const CONNECTORS: &str = "/v1/connectors";
    /// One connector (operator).
    pub const CONNECTOR: &str = "/v1/connectors/{name}";
    /// Holding a connector at its position (operator).
    pub const PAUSE: &str = "/v1/connectors/{name}/pause";
    /// Letting a held connector go on (operator).
    pub const RESUME: &str = "/v1/connectors/{name}/resume";
    /// The OpenAPI document.
    pub const OPENAPI: &str = "/v1/openapi.json";
    /// The console's page.
    pub const CONSOLE: &str = "/";
    /// The console's script.
    pub const CONSOLE_SCRIPT: &str = "/console.js";
    /// The console's style sheet.
    pub const CONSOLE_STYLE: &str = "/console.css";
    /// Every route, in the order request counters are kept.
    pub const ALL: [&str; 15] = [
        CATALOG,
        VIEW,
        SUBSCRIBE,
        STATUS,
        HEALTH,
        METRICS,
        DEAD_LETTERS,
        CONNECTORS,
        CONNECTOR,
        PAUSE,
        RESUME,
        OPENAPI,
        CONSOLE,
        CONSOLE_SCRIPT,
        CONSOLE_STYLE,
    ];
}

/// Everything the handlers share. Cheap to clone (one reference count).
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    state: ServedState,
    info: Arc<dyn EngineInfo>,
    started: Instant,
    pages: cache::PageCache,
    http: metrics::HttpCounters,
    auth: AuthConfig,
    guards: limits::Guards,
}

impl AppState {
    /// Shared state for the handlers over `state`, reporting `info`.
    fn new(state: ServedState, info: Arc<dyn EngineInfo>, config: ServeConfig) -> Self {
        AppState {
            inner: Arc::new(Inner {
                state,
                info,
                started: Instant::now(),
                pages: cache::PageCache::new(),
                http: metrics::HttpCounters::new(),
                auth: config.auth,
                guards: limits::Guards::new(config.limits),
            }),
        }
    }

    pub(crate) fn auth(&self) -> &AuthConfig {
        &self.inner.auth
    }

    pub(crate) fn limits(&self) -> &limits::Guards {
        &self.inner.guards
    }

    pub(crate) fn state(&self) -> &ServedState {
        &self.inner.state
    }

    pub(crate) fn info(&self) -> &dyn EngineInfo {
        self.inner.info.as_ref()
    }

    pub(crate) fn started(&self) -> Instant {
        self.inner.started
    }

    pub(crate) fn pages(&self) -> &cache::PageCache {
        &self.inner.pages
    }

    pub(crate) fn http(&self) -> &metrics::HttpCounters {
        &self.inner.http
    }
}

/// The whole API over `state`, reporting `info` in status and metrics, with `config`'s
/// authentication and limits. The operator endpoints take the operator token as a bearer
/// token; without one they refuse every request.
pub fn router(state: ServedState, info: Arc<dyn EngineInfo>, config: ServeConfig) -> Router {
    let app = AppState::new(state, info, config);
    let (router, document) = api(app.clone()).split_for_parts();
    // Rendering a document built from constants cannot fail; an empty one would say so.
    let document = openapi::Document(serde_json::to_vec(&document).unwrap_or_default().into());
    router
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(Extension(document))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            metrics::count,
        ))
        .with_state(app)
}

/// Every route with its handler, each also entered in the OpenAPI document.
fn api(app: AppState) -> OpenApiRouter<AppState> {
    let operator = OpenApiRouter::new()
        .routes(routes!(operator::list, operator::add))
        .routes(routes!(operator::one, operator::remove))
        .routes(routes!(operator::pause))
        .routes(routes!(operator::resume))
        .route_layer(axum::middleware::from_fn_with_state(
            app,
            operator::require_token,
        ));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(catalog::list))
        .routes(routes!(read::view))
        .routes(routes!(subscribe::subscribe))
        .routes(routes!(status::status))
        .routes(routes!(status::healthz))
        .routes(routes!(metrics::render))
        .routes(routes!(status::dead_letters))
        .routes(routes!(openapi::document))
        .routes(routes!(console::page))
        .routes(routes!(console::script))
        .routes(routes!(console::style))
        .merge(operator)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document names every route the router serves, with the methods it serves them
    /// with, and nothing else.
    #[test]
    fn the_openapi_document_has_every_route() {
        let (state, _writer) = ServedState::new(Default::default(), twinflow_dataflows::catalog());
        struct NoInfo;
        impl EngineInfo for NoInfo {
            fn dead_letter_count(&self) -> u64 {
                0
            }
            fn counters(&self) -> Vec<(&'static str, &'static str, f64)> {
                Vec::new()
            }
            fn connectors(&self) -> Vec<serde_json::Value> {
                Vec::new()
            }
            fn dead_letters(&self) -> Vec<serde_json::Value> {
                Vec::new()
            }
        }
        let app = AppState::new(state, Arc::new(NoInfo), ServeConfig::default());
        let document = api(app).into_openapi();
        let documented: std::collections::BTreeSet<&str> =
            document.paths.paths.keys().map(String::as_str).collect();
        let served: std::collections::BTreeSet<&str> = routes::ALL.into_iter().collect();
        assert_eq!(documented, served);
        let methods = |path: &str| {
            let item = &document.paths.paths[path];
            [
                ("get", item.get.is_some()),
                ("post", item.post.is_some()),
                ("delete", item.delete.is_some()),
            ]
            .into_iter()
            .filter_map(|(method, present)| present.then_some(method))
            .collect::<Vec<_>>()
        };
        assert_eq!(methods(routes::CONNECTORS), ["get", "post"]);
        assert_eq!(methods(routes::CONNECTOR), ["get", "delete"]);
        assert_eq!(methods(routes::PAUSE), ["post"]);
        assert_eq!(methods(routes::VIEW), ["get"]);
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish. Open WebSocket subscriptions are closed with a close frame saying the server is
/// shutting down (they are not waited for).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        // Small WebSocket frames must not wait for delayed ACKs.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {err}");
        }
    });
    let (stop, stopping) = watch::channel(false);
    let router = router.layer(Extension(ShuttingDown(stopping)));
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.send_replace(true);
        })
        .await
}

/// Turns true when [`serve`] starts shutting down (a request extension added by it).
#[derive(Clone)]
pub(crate) struct ShuttingDown(watch::Receiver<bool>);

impl ShuttingDown {
    /// Completes once the server is shutting down (or its signal is gone).
    pub(crate) async fn wait(&mut self) {
        // An error means the sender is gone: the server stopped.
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

/// Runs CPU-heavy encoding off the async workers.
pub(crate) async fn offload<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| ApiError::Internal(format!("encoding task failed: {err}")))?
}
