//! The view a request names and its query parameters.
//!
//! Reserved parameter names are `limit`, `cursor`, `format`, `after`, `encoding` and
//! `access_token`; every other parameter is an equality filter on a column of the view (`Filter::parse` types the
//! value). A tenant's query is confined to its company here, before anything reads a row.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use twinflow_views::{Filter, PageCursor, ViewId, ViewSchema};

use crate::auth::Reader;
use crate::error::ApiError;
use crate::json::Encoding;
use crate::AppState;

/// Rows per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 1000;
/// The largest accepted `limit`.
pub const MAX_LIMIT: usize = 1_000_000;
/// The tenant column, first in every view.
const COMPANY: &str = "company_id";

/// How a page of rows is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `{"view", "as_of", "rows", "next"}`.
    Json,
    /// An Arrow IPC stream.
    Arrow,
}

/// A request's view and query parameters, parsed and checked against the view's columns.
pub struct ViewQuery {
    reader: Reader,
    view: ViewId,
    filter: Filter,
    filter_pairs: Vec<(String, String)>,
    /// The columns the request's own filters name (not the tenant's confinement).
    fixed: Vec<usize>,
    limit: Option<usize>,
    cursor: Option<PageCursor>,
    format: Option<Format>,
    after: Option<u64>,
    encoding: Option<Encoding>,
}

/// What a read of a view asks for.
#[derive(Clone)]
pub struct ReadQuery {
    /// The view.
    pub view: ViewId,
    /// The rows wanted.
    pub filter: Filter,
    /// The filter's `(column, value)` pairs as given, sorted: identifies the filter in cache keys.
    pub filter_pairs: Vec<(String, String)>,
    /// At most this many rows.
    pub limit: usize,
    /// Where to continue.
    pub cursor: Option<PageCursor>,
    /// The encoding.
    pub format: Format,
}

/// What a subscription asks for.
pub struct SubscribeQuery {
    /// Who asks.
    pub reader: Reader,
    /// How its rows are written.
    pub encoding: Encoding,
    /// The view.
    pub view: ViewId,
    /// The rows wanted.
    pub filter: Filter,
    /// The columns (indexes) the subscriber's own filters fix, left out of compact rows: they
    /// follow from the request alone, so a resume with the same URL gets rows of the same
    /// shape whatever the token.
    pub fixed: Vec<usize>,
    /// Resume after this `as_of` instead of starting from a snapshot.
    pub after: Option<u64>,
}

impl ViewQuery {
    /// Parses the raw query string of a request on `view`, whose rows `schema` describes, by
    /// `reader`: a tenant's query is confined to its company before its own filters apply.
    pub fn parse(
        view: ViewId,
        schema: &ViewSchema,
        query: &str,
        reader: &Reader,
    ) -> Result<Self, ApiError> {
        let mut parsed = ViewQuery {
            reader: reader.clone(),
            view,
            filter: Filter::default(),
            filter_pairs: Vec::new(),
            fixed: Vec::new(),
            limit: None,
            cursor: None,
            format: None,
            after: None,
            encoding: None,
        };
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "limit" => set_once(&mut parsed.limit, "limit", parse_limit(&value)?)?,
                "cursor" => {
                    let cursor = value.parse::<PageCursor>().map_err(ApiError::BadCursor)?;
                    set_once(&mut parsed.cursor, "cursor", cursor)?;
                }
                "format" => set_once(&mut parsed.format, "format", parse_format(&value)?)?,
                "encoding" => set_once(&mut parsed.encoding, "encoding", parse_encoding(&value)?)?,
                "after" => {
                    let after = value
                        .parse()
                        .map_err(|_| ApiError::BadAfter(value.clone().into_owned()))?;
                    set_once(&mut parsed.after, "after", after)?;
                }
                // The token, read by the authentication.
                "access_token" => {}
                _ => parsed
                    .filter_pairs
                    .push((name.into_owned(), value.into_owned())),
            }
        }
        parsed.fixed = parsed
            .filter_pairs
            .iter()
            .filter_map(|(name, _)| schema.column_index(name))
            .collect();
        parsed.fixed.sort_unstable();
        if let Some(tenant) = reader.tenant() {
            parsed.confine(tenant)?;
        }
        parsed.filter_pairs.sort();
        if let Some(pair) = parsed
            .filter_pairs
            .windows(2)
            .find(|pair| pair[0].0 == pair[1].0)
        {
            return Err(ApiError::Repeated(pair[0].0.clone()));
        }
        parsed.filter = Filter::parse(
            schema,
            parsed
                .filter_pairs
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        )?;
        Ok(parsed)
    }

    /// Confines the query to `tenant`'s rows: its `company_id` filter must name the tenant
    /// (another company is refused, not answered with nothing) and is added when absent; a
    /// cursor must be from the tenant's own pages. The filter pairs carry the company, so
    /// that cached pages are the tenant's.
    fn confine(&mut self, tenant: i64) -> Result<(), ApiError> {
        let named: Vec<&String> = self
            .filter_pairs
            .iter()
            .filter(|(name, _)| name == COMPANY)
            .map(|(_, value)| value)
            .collect();
        match named.as_slice() {
            [] => self
                .filter_pairs
                .push((COMPANY.to_owned(), tenant.to_string())),
            [value] if value.parse() == Ok(tenant) => {}
            // Repeated names are refused after this, as for anyone.
            [_, _, ..] => {}
            [value] => {
                return Err(ApiError::OtherTenant {
                    tenant,
                    asked: (*value).clone(),
                })
            }
        }
        if self
            .cursor
            .as_ref()
            .is_some_and(|cursor| cursor.company() != tenant)
        {
            return Err(ApiError::ForeignCursor);
        }
        Ok(())
    }

    /// The parameters of a read (`after` does not apply).
    pub fn into_read(self) -> Result<ReadQuery, ApiError> {
        if self.after.is_some() {
            return Err(ApiError::NotApplicable {
                param: "after",
                endpoint: "reads (it resumes subscriptions)",
            });
        }
        if self.encoding.is_some() {
            return Err(ApiError::NotApplicable {
                param: "encoding",
                endpoint: "reads (it encodes subscriptions; reads take `format`)",
            });
        }
        Ok(ReadQuery {
            view: self.view,
            filter: self.filter,
            filter_pairs: self.filter_pairs,
            limit: self.limit.unwrap_or(DEFAULT_LIMIT),
            cursor: self.cursor,
            format: self.format.unwrap_or(Format::Json),
        })
    }

    /// The parameters of a subscription (`limit`, `cursor` and `format` do not apply).
    pub fn into_subscribe(self) -> Result<SubscribeQuery, ApiError> {
        let endpoint = "subscriptions";
        if self.limit.is_some() {
            return Err(ApiError::NotApplicable {
                param: "limit",
                endpoint,
            });
        }
        if self.cursor.is_some() {
            return Err(ApiError::NotApplicable {
                param: "cursor",
                endpoint,
            });
        }
        if self.format.is_some() {
            return Err(ApiError::NotApplicable {
                param: "format",
                endpoint,
            });
        }
        Ok(SubscribeQuery {
            reader: self.reader,
            encoding: self.encoding.unwrap_or_default(),
            view: self.view,
            filter: self.filter,
            fixed: self.fixed,
            after: self.after,
        })
    }
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), ApiError> {
    if slot.replace(value).is_some() {
        return Err(ApiError::Repeated(name.to_owned()));
    }
    Ok(())
}

fn parse_limit(value: &str) -> Result<usize, ApiError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
        .ok_or_else(|| ApiError::BadLimit {
            max: MAX_LIMIT,
            given: value.to_owned(),
        })
}

fn parse_encoding(value: &str) -> Result<Encoding, ApiError> {
    match value {
        "objects" => Ok(Encoding::Objects),
        "compact" => Ok(Encoding::Compact),
        other => Err(ApiError::UnknownEncoding(other.to_owned())),
    }
}

fn parse_format(value: &str) -> Result<Format, ApiError> {
    match value {
        "json" => Ok(Format::Json),
        "arrow" => Ok(Format::Arrow),
        other => Err(ApiError::UnknownFormat(other.to_owned())),
    }
}

impl FromRequestParts<AppState> for ViewQuery {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let reader = Reader::from_request_parts(parts, app).await?;
        let Path(name) = Path::<String>::from_request_parts(parts, app)
            .await
            .map_err(|err| ApiError::BadPath(err.body_text()))?;
        let view = name
            .parse::<ViewId>()
            .map_err(|_| ApiError::UnknownView(name))?;
        let schema = app.state().catalog().schema(view);
        ViewQuery::parse(view, schema, parts.uri.query().unwrap_or(""), &reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<ViewQuery, ApiError> {
        let view = ViewId::Occupancy;
        ViewQuery::parse(
            view,
            twinflow_dataflows::schema(view),
            query,
            &Reader::Anonymous,
        )
    }

    #[test]
    fn reserved_names_and_filters() {
        let read =
            parse("company_id=2&limit=5&format=arrow&kind=lab%20a").and_then(ViewQuery::into_read);
        let read = read.expect("valid");
        assert_eq!(read.limit, 5);
        assert_eq!(read.format, Format::Arrow);
        assert_eq!(read.filter.company(), Some(2));
        assert_eq!(
            read.filter_pairs,
            vec![
                ("company_id".into(), "2".into()),
                ("kind".into(), "lab a".into())
            ]
        );
    }

    #[test]
    fn rejects_what_does_not_apply() {
        for query in [
            "limit=0",
            "limit=1000001",
            "limit=x",
            "format=csv",
            "cursor=zz",
            "nope=1",
            "room_id=x",
            "limit=1&limit=2",
            "company_id=1&company_id=1",
        ] {
            assert!(parse(query).is_err(), "{query}");
        }
        assert!(parse("after=3").and_then(ViewQuery::into_read).is_err());
        assert!(parse("limit=3")
            .and_then(ViewQuery::into_subscribe)
            .is_err());
        assert!(parse("after=3&company_id=1")
            .and_then(ViewQuery::into_subscribe)
            .is_ok());
    }

    #[test]
    fn a_subscription_fixes_the_columns_its_own_filters_name() {
        let view = ViewId::Occupancy;
        let schema = twinflow_dataflows::schema(view);
        let tenant = Reader::Tenant {
            company: 4,
            user: None,
            exp: u64::MAX,
        };
        let subscribe = ViewQuery::parse(view, schema, "room_id=9&building_id=2", &tenant)
            .and_then(ViewQuery::into_subscribe)
            .expect("valid");
        assert_eq!(subscribe.filter.company(), Some(4), "confined");
        assert_eq!(
            subscribe.fixed,
            vec![1, 3],
            "building_id and room_id, not company_id"
        );
        let named = ViewQuery::parse(view, schema, "company_id=4&encoding=compact", &tenant)
            .and_then(ViewQuery::into_subscribe)
            .expect("valid");
        assert_eq!(named.fixed, vec![0]);
    }
}
