//! `twinflow verify`: the audit of a running engine against its MySQL/MariaDB source.
//!
//! The contract's `views.sql` is evaluated on the server inside one consistent snapshot, whose
//! binlog GTID position is known exactly. Once the engine's source has applied that position
//! (as `/v1/status` says), every served view is read over HTTP and compared row for row, by
//! the view's key, on the columns the SQL returns (integers exactly; ratios the engine adds are
//! not part of the contract). If the engine has meanwhile moved past the snapshot because the
//! server is still being written, the comparison is taken again from a newer snapshot, until
//! it is equal or the time is up.
//!
//! The views are evaluated as common table expressions, so nothing is created on the server.

mod compare;
mod queries;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use twinflow_connectors::mysql::{start_consistent_snapshot, GtidPosition, MySqlConfig};
use twinflow_views::ViewId;

pub use compare::ViewDiff;
use compare::{compare_view, SqlRows};

/// The contract's `views.sql` (`spec/views.sql`), as this binary was built against.
pub const VIEWS_SQL: &str = include_str!("../../spec/views.sql");

/// What to verify.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// The source server, `mysql://USER:PASS@HOST:PORT`.
    pub mysql_url: String,
    /// The engine, `http://HOST:PORT`.
    pub engine_url: String,
    /// The engine's name for the source; by default the one `twinflow run` gives the URL.
    pub source: Option<String>,
    /// How long to wait for the engine to catch up (and for the views to agree).
    pub timeout: Duration,
    /// The views' SQL.
    pub views_sql: String,
    /// The engine's operator token: the status's source positions and every company's rows
    /// need it.
    pub token: Option<String>,
}

/// The engine being verified: its URL and the token to read it with.
struct Engine<'a> {
    url: &'a str,
    token: Option<&'a str>,
}

/// The result: the position compared at and every view's differences.
#[derive(Debug)]
pub struct Outcome {
    /// The server's GTID position the comparison was made at.
    pub position: String,
    /// One entry per view.
    pub views: Vec<ViewDiff>,
}

impl Outcome {
    /// Whether every view is equal.
    pub fn is_equal(&self) -> bool {
        self.views.iter().all(ViewDiff::is_equal)
    }
}

/// Compares the engine's served views with `views.sql` on the server.
pub async fn verify(options: &VerifyOptions) -> anyhow::Result<Outcome> {
    let source = match &options.source {
        Some(name) => name.clone(),
        None => MySqlConfig::new(&options.mysql_url).source_name()?,
    };
    let queries = queries::view_queries(&options.views_sql)?;
    let opts = Opts::from_url(&options.mysql_url).context("reading the MySQL URL")?;
    let mut conn = Conn::new(opts)
        .await
        .context("connecting to the source server")?;
    let deadline = Instant::now() + options.timeout;
    let engine = Engine {
        url: &options.engine_url,
        token: options.token.as_deref(),
    };
    loop {
        let (target, expected) = evaluate(&mut conn, &queries).await?;
        let applied = wait_until_applied(&engine, &source, &target, deadline).await?;
        let mut views = Vec::new();
        for (view, rows) in &expected {
            let served = fetch_view(&engine, *view).await?;
            views.push(compare_view(*view, rows, &served));
        }
        let outcome = Outcome {
            position: target.to_string(),
            views,
        };
        let still = engine_position(&engine, &source).await?;
        let exact = applied == target && still.as_ref() == Some(&target);
        if outcome.is_equal() || exact || Instant::now() >= deadline {
            return Ok(outcome);
        }
        // The server was written meanwhile: compare again at a newer snapshot.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Evaluates every view inside one consistent snapshot; returns its GTID position.
async fn evaluate(
    conn: &mut Conn,
    queries: &[(ViewId, String)],
) -> anyhow::Result<(GtidPosition, Vec<(ViewId, SqlRows)>)> {
    let position = start_consistent_snapshot(conn)
        .await
        .context("starting a consistent snapshot on the server")?;
    let mut results = Vec::new();
    for (view, sql) in queries {
        let rows = compare::query(conn, sql)
            .await
            .with_context(|| format!("evaluating {} on the server", view.name()))?;
        results.push((*view, rows));
    }
    conn.query_drop("COMMIT")
        .await
        .context("ending the snapshot")?;
    Ok((position.gtid, results))
}

/// Waits until the engine's source `source` has applied `target`; returns its position then.
async fn wait_until_applied(
    engine: &Engine<'_>,
    source: &str,
    target: &GtidPosition,
    deadline: Instant,
) -> anyhow::Result<GtidPosition> {
    loop {
        let position = engine_position(engine, source).await?;
        match position {
            Some(applied) if applied.covers(target) => return Ok(applied),
            _ if Instant::now() >= deadline => bail!(
                "timed out: the engine's source {source:?} is at {} and has not reached the \
                 server's {target}",
                position.map_or_else(|| "nothing yet".to_string(), |p| p.to_string())
            ),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The GTID position the engine has applied for `source`, if the source has applied anything.
async fn engine_position(
    engine: &Engine<'_>,
    source: &str,
) -> anyhow::Result<Option<GtidPosition>> {
    let status = get_json(engine, "/v1/status").await?;
    let Some(sources) = status["sources"].as_array() else {
        bail!("the engine's status shows no sources: pass its operator token (--token)");
    };
    let Some(entry) = sources.iter().find(|s| s["source"] == source) else {
        return Ok(None);
    };
    let gtid = entry["position"]["gtid"].as_str().unwrap_or_default();
    let position = gtid
        .parse()
        .with_context(|| format!("the engine reports source {source:?} at {gtid:?}"))?;
    Ok(Some(position))
}

/// Every row of `view`, paging at one `as_of`.
async fn fetch_view(engine: &Engine<'_>, view: ViewId) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("/v1/views/{}?limit=100000", view.name());
        if let Some(cursor) = &cursor {
            url.push_str("&cursor=");
            url.push_str(cursor);
        }
        let mut page = get_json(engine, &url).await?;
        if let Some(page_rows) = page["rows"].as_array_mut() {
            rows.append(page_rows);
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return Ok(rows),
        }
    }
}

/// `GET path` of the engine as JSON, with its token.
async fn get_json(engine: &Engine<'_>, path: &str) -> anyhow::Result<serde_json::Value> {
    let url = format!("{}{path}", engine.url);
    let authorization = engine.token.map(|token| format!("Bearer {token}"));
    tokio::task::spawn_blocking(move || {
        let mut request = ureq::get(&url);
        if let Some(authorization) = &authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request.call().with_context(|| format!("GET {url}"))?;
        response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_json()
            .with_context(|| format!("reading the JSON of {url}"))
    })
    .await
    .context("HTTP task")?
}
