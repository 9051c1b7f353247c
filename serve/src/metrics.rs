//! Request counting and `GET /metrics` in the Prometheus text exposition format (written by
//! hand: `# HELP`, `# TYPE` and one line per sample).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use twinflow_views::{now_ms, ViewId};

use crate::error::ApiError;
use crate::{auth, routes, AppState};

/// Status codes counted: 100..=599.
const STATUS_CODES: usize = 500;
/// The counter slot of requests no route matched.
const UNMATCHED: usize = routes::ALL.len();
/// The `route` label of requests no route matched.
const UNMATCHED_LABEL: &str = "unmatched";
/// The content type of the text exposition format.
const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Requests answered, per route and status code: one atomic per pair.
pub struct HttpCounters {
    counts: Box<[AtomicU64]>,
}

impl HttpCounters {
    /// All zero.
    pub fn new() -> Self {
        HttpCounters {
            counts: (0..(UNMATCHED + 1) * STATUS_CODES)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn record(&self, route: usize, status: StatusCode) {
        let Some(code) = usize::from(status.as_u16())
            .checked_sub(100)
            .filter(|code| *code < STATUS_CODES)
        else {
            return;
        };
        if let Some(counter) = self.counts.get(route * STATUS_CODES + code) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `(route, status, count)` of every pair counted at least once.
    fn nonzero(&self) -> impl Iterator<Item = (&'static str, usize, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter_map(|(slot, counter)| {
                let count = counter.load(Ordering::Relaxed);
                let route = routes::ALL
                    .get(slot / STATUS_CODES)
                    .copied()
                    .unwrap_or(UNMATCHED_LABEL);
                (count > 0).then_some((route, slot % STATUS_CODES + 100, count))
            })
    }
}

/// Middleware counting every response by matched route and status.
pub async fn count(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|path| routes::ALL.iter().position(|route| *route == path.as_str()))
        .unwrap_or(UNMATCHED);
    let response = next.run(request).await;
    app.http().record(route, response.status());
    response
}

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
    name: String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Self {
        let name = sanitize(name);
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        Family { out, name }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(&self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let value = value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{label}=\"{value}\"");
            }
            self.out.push('}');
        }
        let _ = match value {
            v if v == f64::INFINITY => writeln!(self.out, " +Inf"),
            v if v == f64::NEG_INFINITY => writeln!(self.out, " -Inf"),
            v => writeln!(self.out, " {v}"),
        };
        self
    }
}

/// A valid metric name: characters other than `[a-zA-Z0-9_:]` become `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A request that may read the metrics: it carries the operator token or the metrics token.
pub struct MetricsReader;

impl FromRequestParts<AppState> for MetricsReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let token = auth::bearer_token(parts).ok_or(ApiError::Unauthorized(
            "send the operator or metrics token as `Authorization: Bearer <token>`",
        ))?;
        let auth = app.auth();
        if auth::token_is(&token, auth.operator_token.as_deref())
            || auth::token_is(&token, auth.metrics_token.as_deref())
        {
            Ok(MetricsReader)
        } else {
            Err(ApiError::OperatorOnly("/metrics (or the metrics token)"))
        }
    }
}

/// The metrics page.
#[utoipa::path(
    get,
    path = routes::METRICS,
    tag = "engine",
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "No token", content_type = "application/json"),
        (status = 403, description = "Neither the operator token nor the metrics token", content_type = "application/json"),
    ),
    security(("operator" = []), ("metrics" = []))
)]
pub async fn render(
    State(app): State<AppState>,
    MetricsReader: MetricsReader,
) -> impl IntoResponse {
    let snapshot = app.state().snapshot();
    let mut out = String::with_capacity(4096);
    Family::new(
        &mut out,
        "twinflow_as_of",
        "gauge",
        "The timestamp the served state reflects.",
    )
    .sample(&[], snapshot.as_of as f64);
    Family::new(
        &mut out,
        "twinflow_uptime_seconds",
        "gauge",
        "Seconds since the API started.",
    )
    .sample(&[], app.started().elapsed().as_secs_f64());
    let now = now_ms();
    let mut lag = Family::new(
        &mut out,
        "twinflow_source_lag_seconds",
        "gauge",
        "Now minus the source commit time of the last applied transaction.",
    );
    for source in snapshot.sources() {
        lag.sample(
            &[("source", &source.source)],
            source.lag_ms(now) as f64 / 1000.0,
        );
    }
    let mut rows = Family::new(
        &mut out,
        "twinflow_view_rows",
        "gauge",
        "Rows in each view.",
    );
    for view in ViewId::ALL {
        rows.sample(&[("view", view.name())], snapshot.len(view) as f64);
    }
    let mut subscribers = Family::new(
        &mut out,
        "twinflow_view_subscribers",
        "gauge",
        "Live subscriptions to each view.",
    );
    for view in ViewId::ALL {
        subscribers.sample(
            &[("view", view.name())],
            app.state().subscribers(view) as f64,
        );
    }
    Family::new(
        &mut out,
        "twinflow_dead_letters_total",
        "counter",
        "Change events dead-lettered.",
    )
    .sample(&[], app.info().dead_letter_count() as f64);
    let mut requests = Family::new(
        &mut out,
        "twinflow_http_requests_total",
        "counter",
        "HTTP requests answered, by route and status.",
    );
    for (route, status, count) in app.http().nonzero() {
        requests.sample(
            &[("route", route), ("status", &status.to_string())],
            count as f64,
        );
    }
    for (name, help, value) in app.info().counters() {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        Family::new(&mut out, &format!("twinflow_{name}"), kind, help).sample(&[], value);
    }
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_text_format() {
        let mut out = String::new();
        Family::new(&mut out, "twinflow_x-y", "gauge", "Help\nmore.")
            .sample(&[], 1.0)
            .sample(&[("view", "a\"b")], 2.5)
            .sample(&[("a", "1"), ("b", "2")], f64::INFINITY);
        assert_eq!(
            out,
            "# HELP twinflow_x_y Help\\nmore.\n# TYPE twinflow_x_y gauge\ntwinflow_x_y 1\ntwinflow_x_y{view=\"a\\\"b\"} 2.5\ntwinflow_x_y{a=\"1\",b=\"2\"} +Inf\n"
        );
    }

    #[test]
    fn counts_by_route_and_status() {
        let counters = HttpCounters::new();
        counters.record(1, StatusCode::OK);
        counters.record(1, StatusCode::OK);
        counters.record(UNMATCHED, StatusCode::NOT_FOUND);
        let seen: Vec<_> = counters.nonzero().collect();
        assert_eq!(
            seen,
            vec![(routes::VIEW, 200, 2), (UNMATCHED_LABEL, 404, 1)]
        );
    }
}
