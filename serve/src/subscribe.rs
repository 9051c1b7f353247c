//! `GET /v1/views/{view}/subscribe`: a WebSocket of one view's changes, filtered per
//! subscriber.
//!
//! The server sends JSON text messages:
//! 1. `{"type":"snapshot","view","as_of","reset":false,"rows"}` with every matching row; or,
//!    with `after=A` that can be resumed, the retained changes after `A` instead; or, when it
//!    cannot be resumed, a snapshot with `"reset":true` and the `"reason"`.
//! 2. `{"type":"changes","view","as_of","upserts":[rows],"deletes":[keys]}`, one per `as_of`
//!    with matching changes.
//! 3. `{"type":"progress","as_of"}` after a second without other messages.
//! 4. A subscriber that falls more than the broadcast queue behind gets a fresh snapshot with
//!    `"reset":true,"reason":"too_slow"`; one whose socket does not take a message within
//!    [`WRITE_TIMEOUT`] is closed with a reason.
//!
//! With `encoding=compact` rows are arrays and keys arrays of their values; the snapshot names
//! the columns the rows carry (`columns`), the key's (`key`), and gives once the values of the
//! columns the request's own filters fix (`fixed`), which rows leave out.
//!
//! The engine never waits for a subscriber: it broadcasts into a bounded queue per
//! subscriber, and this task alone writes to the socket.
//!
//! A tenant's subscription carries its company in its filter (see [`ViewQuery`]), so its
//! snapshots, changes, resumes and resets hold only its rows. The upgrade is refused past the
//! subscription caps (429), from a browser origin the engine does not allow (403), and a whole
//! view's snapshot waits for no more than the allowed large renders (503).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::Extension;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{sleep_until, timeout, Instant};
use twinflow_views::{Filter, ResetReason, Snapshot, Subscription, UserCheck, ViewDelta, ViewId};

use crate::auth::Reader;
use crate::error::ApiError;
use crate::json::RowEncoder;
use crate::limits::SubscriptionSlot;
use crate::query::{SubscribeQuery, ViewQuery};
use crate::{json, offload, routes, AppState, ShuttingDown};

/// A progress message goes out after this long without other messages.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// A subscriber whose socket does not take a message within this long is closed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the close frame to such a subscriber may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest close reason the protocol allows, in bytes.
const MAX_CLOSE_REASON: usize = 123;

/// Checks the view and filters (answering errors like a read would), then upgrades.
#[utoipa::path(
    get,
    path = routes::SUBSCRIBE,
    tag = "views",
    params(
        ("view" = String, Path, description = "The view's name, as `GET /v1/views` lists it"),
        ("after" = Option<u64>, Query, description = "Resume after this as_of: the changes since, instead of a snapshot (a reset snapshot when they are no longer kept)"),
        ("encoding" = Option<String>, Query, description = "`objects` (default): rows as objects; `compact`: rows and keys as arrays of values, the snapshot naming the columns once and giving the values of the columns the request's filters fix (`fixed`), which rows leave out"),
        ("filters" = Option<std::collections::BTreeMap<String, String>>, Query, style = Form, explode, description = "`column=value` equality filters, as for a read"),
    ),
    responses(
        (status = 101, description = "WebSocket: a `snapshot` (or the resumed `changes`), then `changes` and `progress` messages, each with its as_of; a `reset` snapshot when the subscriber fell behind"),
        (status = 400, description = "A bad filter or `after`", content_type = "application/json"),
        (status = 401, description = "No token, or one that is not valid", content_type = "application/json"),
        (status = 403, description = "A tenant naming another company, or a browser origin the engine does not allow", content_type = "application/json"),
        (status = 404, description = "No such view", content_type = "application/json"),
        (status = 429, description = "Over the tenant's or the engine's subscription cap, or the request rate", content_type = "application/json"),
        (status = 503, description = "As many large renders under way as the engine allows; `Retry-After`", content_type = "application/json"),
    ),
    security((), ("reader" = []))
)]
pub async fn subscribe(
    State(app): State<AppState>,
    query: ViewQuery,
    headers: HeaderMap,
    shutting_down: Option<Extension<ShuttingDown>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let query = query.into_subscribe()?;
    check_origin(&app, &headers)?;
    let upgrade = upgrade?;
    let slot = app.limits().subscription(&query.reader)?;
    // A snapshot of a whole view is a large render; a tenant's is one company's rows.
    let permit = match query.filter.company() {
        Some(_) => None,
        None => Some(app.limits().render()?),
    };
    let shutting_down = shutting_down.map(|Extension(signal)| signal);
    let max_message = app.limits().limits().client_message_bytes;
    Ok(upgrade
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| async move {
            Session::run(app, query, slot, permit, shutting_down, socket).await
        }))
}

/// Refuses a browser's WebSocket from an origin the engine does not allow, when it names
/// which it allows (a client that sends no `Origin` is not a browser page).
fn check_origin(app: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let allowed = &app.auth().allowed_origins;
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    if allowed.is_empty() || allowed.iter().any(|allowed| allowed == origin) {
        Ok(())
    } else {
        Err(ApiError::OriginRefused(origin.chars().take(100).collect()))
    }
}

/// Why a session ends.
enum End {
    /// The client closed the connection or it broke.
    Gone,
    /// A write did not complete within [`WRITE_TIMEOUT`].
    TooSlow,
    /// The engine stopped publishing.
    Stopped,
    /// The server is shutting down.
    ShuttingDown,
    /// The subscriber's user was deactivated, moved to another company or deleted.
    Revoked,
    /// The subscriber's token expired.
    Expired,
    /// A message could not be encoded.
    Internal(String),
}

/// What woke the session up.
enum Event {
    Incoming(Option<Result<Message, axum::Error>>),
    Delta(Result<Arc<ViewDelta>, RecvError>),
    Idle,
    ShuttingDown,
    /// The token expired.
    Expired,
    /// Users lost their standing (`None`: some revocations were missed).
    Revoked(Option<Arc<[i64]>>),
}

/// One subscriber's connection.
struct Session {
    app: AppState,
    view: ViewId,
    filter: Arc<Filter>,
    sink: SplitSink<WebSocket, Message>,
    receiver: Receiver<Arc<ViewDelta>>,
    /// The server's shutdown signal, when it has one.
    shutting_down: Option<ShuttingDown>,
    /// The subscription's place under the caps, held while it is open.
    _slot: SubscriptionSlot,
    /// Who subscribed: its user's revocation ends the subscription.
    reader: Reader,
    /// When its token expires, which ends the subscription.
    expires: Option<Instant>,
    /// Writes the subscription's rows and keys, in its encoding and without the columns its
    /// own filters fix when compact.
    encoder: Arc<RowEncoder>,
    revocations: Receiver<Arc<[i64]>>,
    /// The client has every change up to this `as_of` (through a snapshot or resumed changes).
    floor: u64,
    last_sent: Instant,
}

impl Session {
    async fn run(
        app: AppState,
        query: SubscribeQuery,
        slot: SubscriptionSlot,
        render: Option<OwnedSemaphorePermit>,
        shutting_down: Option<ShuttingDown>,
        socket: WebSocket,
    ) {
        let (sink, mut incoming) = socket.split();
        // Before the check below: a revocation after it is received.
        let revocations = app.state().user_revocations();
        let Subscription {
            snapshot,
            resume,
            receiver,
        } = app.state().subscribe(query.view, query.after);
        let schema = app.state().catalog().schema(query.view);
        let encoder = RowEncoder::with_encoding(schema, query.encoding, &query.fixed);
        let mut session = Session {
            app,
            view: query.view,
            filter: Arc::new(query.filter),
            sink,
            receiver,
            shutting_down,
            _slot: slot,
            expires: query.reader.expires().map(deadline),
            reader: query.reader,
            encoder: Arc::new(encoder),
            revocations,
            floor: snapshot.as_of,
            last_sent: Instant::now(),
        };
        if session.revoked() {
            return session.close(End::Revoked).await;
        }
        let started = match resume {
            None => session.send_snapshot(snapshot, None).await,
            Some(Err(reason)) => session.send_snapshot(snapshot, Some(reason)).await,
            Some(Ok(deltas)) => session.send_resumed(&deltas).await,
        };
        drop(render);
        let end = match started {
            Ok(()) => session.follow(&mut incoming).await,
            Err(end) => end,
        };
        session.close(end).await;
    }

    /// Whether the subscriber's user has lost its standing as of the latest commit.
    fn revoked(&self) -> bool {
        self.reader.user().is_some_and(|user| {
            self.app.state().check_user(user, self.reader.tenant()) == UserCheck::Revoked
        })
    }

    /// Sends live changes and progress until the session ends.
    async fn follow(&mut self, incoming: &mut SplitStream<WebSocket>) -> End {
        loop {
            let idle = sleep_until(self.last_sent + PROGRESS_EVERY);
            let event = tokio::select! {
                message = incoming.next() => Event::Incoming(message),
                delta = self.receiver.recv() => Event::Delta(delta),
                () = idle => Event::Idle,
                () = shutdown(&mut self.shutting_down) => Event::ShuttingDown,
                () = expiry(self.expires) => Event::Expired,
                revoked = self.revocations.recv(), if self.reader.user().is_some() => {
                    match revoked {
                        Ok(users) => Event::Revoked(Some(users)),
                        Err(RecvError::Lagged(_)) => Event::Revoked(None),
                        // The engine stopped: the deltas' channel says so too.
                        Err(RecvError::Closed) => Event::Idle,
                    }
                }
            };
            let step = match event {
                // Client messages other than a close mean nothing here (pings are answered
                // by the socket itself).
                Event::Incoming(Some(Ok(Message::Close(_))) | Some(Err(_)) | None) => {
                    Err(End::Gone)
                }
                Event::Incoming(Some(Ok(_))) => Ok(()),
                Event::Delta(delta) => self.on_delta(delta).await,
                Event::Idle => self.send_progress().await,
                Event::ShuttingDown => Err(End::ShuttingDown),
                Event::Expired => Err(End::Expired),
                Event::Revoked(users) => {
                    let mine = match (users, self.reader.user()) {
                        (Some(users), Some(user)) => users.contains(&user),
                        (None, _) => self.revoked(),
                        (Some(_), None) => false,
                    };
                    if mine {
                        Err(End::Revoked)
                    } else {
                        Ok(())
                    }
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn on_delta(&mut self, delta: Result<Arc<ViewDelta>, RecvError>) -> Result<(), End> {
        match delta {
            // The snapshot (or the resumed changes) already has what is not above the floor.
            Ok(delta) if delta.as_of <= self.floor => Ok(()),
            Ok(delta) => self.send_changes(&delta).await,
            Err(RecvError::Lagged(_)) => self.reset(ResetReason::TooSlow).await,
            Err(RecvError::Closed) => Err(End::Stopped),
        }
    }

    /// Starts over from a fresh subscription and snapshot.
    async fn reset(&mut self, reason: ResetReason) -> Result<(), End> {
        let Subscription {
            snapshot, receiver, ..
        } = self.app.state().subscribe(self.view, None);
        self.receiver = receiver;
        self.floor = snapshot.as_of;
        self.send_snapshot(snapshot, Some(reason)).await
    }

    async fn send_snapshot(
        &mut self,
        snapshot: Arc<Snapshot>,
        reset: Option<ResetReason>,
    ) -> Result<(), End> {
        let (view, filter, encoder) = (self.view, self.filter.clone(), self.encoder.clone());
        let text = offload(move || {
            Ok(json::snapshot_message(
                view, &snapshot, &filter, reset, &encoder,
            ))
        })
        .await
        .map_err(|err| End::Internal(err.to_string()))?;
        self.send(text).await
    }

    async fn send_resumed(&mut self, deltas: &[Arc<ViewDelta>]) -> Result<(), End> {
        for delta in deltas {
            self.send_changes(delta).await?;
        }
        Ok(())
    }

    async fn send_changes(&mut self, delta: &ViewDelta) -> Result<(), End> {
        match json::changes_message(self.view, delta, &self.filter, &self.encoder) {
            Some(text) => self.send(text).await,
            None => Ok(()),
        }
    }

    /// Sends the changes already broadcast up to the broadcast `as_of`, then progress to it.
    async fn send_progress(&mut self) -> Result<(), End> {
        let as_of = self.app.state().broadcast_as_of();
        loop {
            let delta = match self.receiver.try_recv() {
                Ok(delta) => Ok(delta),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(missed)) => Err(RecvError::Lagged(missed)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
            let past_progress = delta.as_ref().is_ok_and(|delta| delta.as_of > as_of);
            self.on_delta(delta).await?;
            if past_progress {
                break;
            }
        }
        self.send(json::progress_message(as_of.max(self.floor)))
            .await
    }

    async fn send(&mut self, text: String) -> Result<(), End> {
        match timeout(WRITE_TIMEOUT, self.sink.send(Message::Text(text.into()))).await {
            Ok(Ok(())) => {
                self.last_sent = Instant::now();
                Ok(())
            }
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::TooSlow),
        }
    }

    async fn close(mut self, end: End) {
        let (code, reason) = match end {
            End::Gone => return,
            End::TooSlow => (
                close_code::POLICY,
                format!(
                    "client too slow: a message was not taken within {}s",
                    WRITE_TIMEOUT.as_secs()
                ),
            ),
            End::Stopped => (
                close_code::AWAY,
                "the engine stopped publishing changes".to_owned(),
            ),
            End::ShuttingDown => (close_code::AWAY, "the server is shutting down".to_owned()),
            End::Revoked => (
                close_code::POLICY,
                "the token's user is no longer active in its company: sign in again".to_owned(),
            ),
            End::Expired => (
                close_code::POLICY,
                "the token expired: subscribe again with a fresh one (?after= resumes)".to_owned(),
            ),
            End::Internal(message) => {
                tracing::error!(view = %self.view, "subscription failed: {message}");
                (close_code::ERROR, message)
            }
        };
        tracing::debug!(view = %self.view, "closing subscription: {reason}");
        let frame = CloseFrame {
            code,
            reason: truncate(reason, MAX_CLOSE_REASON).into(),
        };
        // The client may be unable to take even this: give up after a while.
        let _ = timeout(CLOSE_TIMEOUT, self.sink.send(Message::Close(Some(frame)))).await;
    }
}

/// When a token expiring at `exp` (seconds since the epoch) expires, on this clock.
fn deadline(exp: u64) -> Instant {
    let left = exp.saturating_sub(twinflow_views::now_ms() / 1000);
    Instant::now() + Duration::from_secs(left)
}

/// Completes at `deadline`; never without one.
async fn expiry(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Completes when the server shuts down; never without a signal.
async fn shutdown(signal: &mut Option<ShuttingDown>) {
    match signal {
        Some(signal) => signal.wait().await,
        None => std::future::pending().await,
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit() {
        assert_eq!(truncate("é".repeat(100), 123).len(), 122);
        assert_eq!(truncate("short".to_owned(), 123), "short");
    }
}
