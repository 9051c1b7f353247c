//! `GET /v1/views/{view}`: one page of a view, as JSON or an Arrow IPC stream.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use twinflow_views::{PageCursor, Snapshot};

use crate::body::Chunks;
use crate::cache::{PageKey, RenderedPage};
use crate::error::ApiError;
use crate::query::{Format, ReadQuery, ViewQuery};
use crate::{arrow, json, offload, routes, AppState};

/// The `as_of` of the rows in a response.
const AS_OF_HEADER: HeaderName = HeaderName::from_static("x-twinflow-as-of");
/// The cursor of the next page, when there is one.
const NEXT_CURSOR_HEADER: HeaderName = HeaderName::from_static("x-twinflow-next-cursor");
/// Pages of more rows than this are encoded on a blocking thread.
const INLINE_LIMIT: usize = 10_000;

/// Reads one page of a view at the current snapshot, or, with `cursor`, at the cursor's.
#[utoipa::path(
    get,
    path = routes::VIEW,
    tag = "views",
    params(
        ("view" = String, Path, description = "The view's name, as `GET /v1/views` lists it"),
        ("limit" = Option<usize>, Query, description = "Rows per page (default 1,000; at most 1,000,000)"),
        ("cursor" = Option<String>, Query, description = "The `next` cursor of the previous page: the page after it, at the same as_of"),
        ("format" = Option<String>, Query, description = "`json` (default) or `arrow` (an Arrow IPC stream)"),
        ("filters" = Option<std::collections::BTreeMap<String, String>>, Query, style = Form, explode, description = "`column=value` equality filters on any column, e.g. `company_id=1`; `null` matches NULL"),
    ),
    responses(
        (status = 200, description = "`{view, as_of, rows, next}`, or the page's rows as an Arrow IPC stream", content(("application/json"), ("application/vnd.apache.arrow.stream"))),
        (status = 400, description = "A bad filter, limit, cursor or format", content_type = "application/json"),
        (status = 404, description = "No such view", content_type = "application/json"),
        (status = 401, description = "No token, or one that is not valid", content_type = "application/json"),
        (status = 403, description = "A tenant naming another company, or another tenant's cursor", content_type = "application/json"),
        (status = 410, description = "The cursor's snapshot is no longer held", content_type = "application/json"),
        (status = 429, description = "Over the tenant's request rate; `Retry-After` says when to come back", content_type = "application/json"),
        (status = 503, description = "As many large reads under way as the engine allows; `Retry-After`", content_type = "application/json"),
    ),
    security((), ("reader" = []))
)]
pub async fn view(State(app): State<AppState>, query: ViewQuery) -> Result<Response, ApiError> {
    let read = query.into_read()?;
    let snapshot = match &read.cursor {
        Some(cursor) => app
            .state()
            .snapshot_at(cursor.as_of)
            .ok_or(ApiError::CursorExpired(cursor.as_of))?,
        None => app.state().snapshot(),
    };
    let as_of = snapshot.as_of;
    let (view, format) = (read.view, read.format);
    let page = page(&app, snapshot.clone(), read).await?;
    if page.next.is_some() {
        // The next page is read from this same snapshot.
        app.state().pin(&snapshot);
    }
    let next = page.next.as_ref().map(|start| format!("{as_of}{start}"));
    let mut response = match format {
        Format::Json => {
            let head = Bytes::from(json::page_head(view, as_of));
            let tail = Bytes::from(json::page_tail(next.as_deref()));
            let body = Chunks::new([head, page.body.clone(), tail]);
            ([(CONTENT_TYPE, "application/json")], Body::new(body)).into_response()
        }
        Format::Arrow => (
            [(CONTENT_TYPE, arrow::CONTENT_TYPE)],
            Body::from(page.body.clone()),
        )
            .into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(AS_OF_HEADER, HeaderValue::from(as_of));
    if let Some(next) = next {
        let next = HeaderValue::try_from(next)
            .map_err(|err| ApiError::Internal(format!("cursor header: {err}")))?;
        headers.insert(NEXT_CURSOR_HEADER, next);
    }
    Ok(response)
}

/// The encoded page `read` asks for in `snapshot`, from the cache when the view is unchanged.
async fn page(
    app: &AppState,
    snapshot: Arc<Snapshot>,
    read: ReadQuery,
) -> Result<Arc<RenderedPage>, ApiError> {
    let view = read.view;
    let changed_at = snapshot.changed_at(view);
    let key = PageKey::new(&read, read.cursor.as_ref().map(start_of));
    if let Some(page) = app.pages().get(view, changed_at, &key) {
        return Ok(page);
    }
    let page = if read.limit > INLINE_LIMIT {
        let _permit = app.limits().render()?;
        offload(move || render(&snapshot, &read)).await?
    } else {
        render(&snapshot, &read)?
    };
    let page = Arc::new(page);
    app.pages().put(view, changed_at, key, page.clone());
    Ok(page)
}

/// Reads and encodes a page.
fn render(snapshot: &Snapshot, read: &ReadQuery) -> Result<RenderedPage, ApiError> {
    let page = snapshot.page(read.view, &read.filter, read.cursor.as_ref(), read.limit);
    let schema = snapshot.schema(read.view);
    let body = match read.format {
        Format::Json => Bytes::from(json::rows_array(schema, &page.rows)),
        Format::Arrow => Bytes::from(
            arrow::encode(schema, &page.rows)
                .map_err(|err| ApiError::Internal(format!("cannot encode rows as Arrow: {err}")))?,
        ),
    };
    Ok(RenderedPage {
        body,
        next: page.next.as_ref().map(start_of),
    })
}

/// A cursor's position without its `as_of`: everything from the first `.` of its text form
/// (`{as_of}.{company}.{key...}`).
fn start_of(cursor: &PageCursor) -> String {
    let text = cursor.to_string();
    text.find('.')
        .map_or_else(String::new, |dot| text[dot..].to_owned())
}
