//! Encoded pages, reused while their view does not change.
//!
//! A page's encoding depends only on the view's rows, the filter, the limit, where the page
//! starts and the format, never on the snapshot's `as_of` (which the JSON head, the `next`
//! cursor and the headers add per response). A view's rows are the same in every snapshot
//! with the same `changed_at(view)`, so pages are cached per view under its latest
//! `changed_at`; when a newer one shows up the view's pages are dropped. Requests on older
//! snapshots (cursors) bypass the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use twinflow_views::ViewId;

use crate::query::{Format, ReadQuery};

/// Pages larger than this are not cached.
const MAX_PAGE_BYTES: usize = 8 << 20;
/// Cached bytes per view at most.
const MAX_VIEW_BYTES: usize = 64 << 20;
/// Cached pages per view at most.
const MAX_VIEW_PAGES: usize = 4096;

/// One encoded page.
pub struct RenderedPage {
    /// The rows: a JSON array, or a whole Arrow IPC stream.
    pub body: Bytes,
    /// Where the next page starts, without the `as_of` (the cursor is `{as_of}{next}`).
    pub next: Option<String>,
}

/// What identifies a page of a view at one `changed_at`.
#[derive(PartialEq, Eq, Hash)]
pub struct PageKey {
    format: Format,
    limit: usize,
    start: Option<String>,
    filter: Vec<(String, String)>,
}

impl PageKey {
    /// The key of the page `read` asks for; `start` is the cursor's position without its `as_of`.
    pub fn new(read: &ReadQuery, start: Option<String>) -> Self {
        PageKey {
            format: read.format,
            limit: read.limit,
            start,
            filter: read.filter_pairs.clone(),
        }
    }
}

#[derive(Default)]
struct ViewPages {
    changed_at: u64,
    bytes: usize,
    pages: HashMap<PageKey, Arc<RenderedPage>>,
}

/// The cache of every view's pages.
pub struct PageCache {
    views: Vec<Mutex<ViewPages>>,
}

impl PageCache {
    /// An empty cache.
    pub fn new() -> Self {
        PageCache {
            views: ViewId::ALL.iter().map(|_| Mutex::default()).collect(),
        }
    }

    fn view(&self, view: ViewId) -> MutexGuard<'_, ViewPages> {
        // A panic while holding the lock cannot leave the map inconsistent: keep using it.
        self.views[view.index()]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The page cached for `key` when `view` last changed at `changed_at`.
    pub fn get(&self, view: ViewId, changed_at: u64, key: &PageKey) -> Option<Arc<RenderedPage>> {
        let pages = self.view(view);
        if pages.changed_at != changed_at {
            return None;
        }
        pages.pages.get(key).cloned()
    }

    /// Remembers `page` for `key` when `view` last changed at `changed_at`, unless that is
    /// older than what the cache holds or the page is too large. When the view's pages are
    /// at their limit they are all dropped first.
    pub fn put(&self, view: ViewId, changed_at: u64, key: PageKey, page: Arc<RenderedPage>) {
        let mut pages = self.view(view);
        if changed_at > pages.changed_at {
            *pages = ViewPages {
                changed_at,
                ..ViewPages::default()
            };
        }
        let size = page.body.len();
        if changed_at < pages.changed_at || size > MAX_PAGE_BYTES {
            return;
        }
        if pages.bytes + size > MAX_VIEW_BYTES || pages.pages.len() >= MAX_VIEW_PAGES {
            // Full: start over rather than keep out pages that are asked for now.
            *pages = ViewPages {
                changed_at,
                ..ViewPages::default()
            };
        }
        if let Some(replaced) = pages.pages.insert(key, page) {
            pages.bytes -= replaced.body.len();
        }
        pages.bytes += size;
    }
}

#[cfg(test)]
mod tests {
    use twinflow_views::Filter;

    use super::*;

    fn key(limit: usize) -> PageKey {
        let read = ReadQuery {
            view: ViewId::Occupancy,
            filter: Filter::default(),
            filter_pairs: Vec::new(),
            limit,
            cursor: None,
            format: Format::Json,
        };
        PageKey::new(&read, None)
    }

    fn page(body: &'static str) -> Arc<RenderedPage> {
        Arc::new(RenderedPage {
            body: Bytes::from_static(body.as_bytes()),
            next: None,
        })
    }

    #[test]
    fn pages_live_as_long_as_their_view_is_unchanged() {
        let cache = PageCache::new();
        let view = ViewId::Occupancy;
        cache.put(view, 3, key(10), page("[1]"));
        assert!(cache.get(view, 3, &key(10)).is_some());
        assert!(cache.get(view, 3, &key(11)).is_none());
        assert!(cache.get(view, 2, &key(10)).is_none(), "older snapshot");
        cache.put(view, 2, key(10), page("[0]"));
        assert_eq!(
            cache.get(view, 3, &key(10)).map(|p| p.body.clone()),
            Some(Bytes::from_static(b"[1]"))
        );
        cache.put(view, 5, key(12), page("[2]"));
        assert!(cache.get(view, 3, &key(10)).is_none());
        assert!(
            cache.get(view, 5, &key(10)).is_none(),
            "dropped with the change"
        );
        assert!(cache.get(view, 5, &key(12)).is_some());
    }
}
