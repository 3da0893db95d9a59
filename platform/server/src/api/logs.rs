//! `GET /functions/{name}/logs`: a function's log lines (its `flint.log` calls and stderr),
//! each with its id, version and the request id of the call that wrote it.
//!
//! - `?limit=N` (1-1000, default 100): the newest lines, newest first;
//! - `?since=ID`: the oldest lines after that id (page forward), newest first;
//! - `?follow=true`: server-sent events, one `log` event per line (its `id:` is the line's id),
//!   starting with the lines `limit`/`since` select, then every new line as it is stored
//!   (lines are stored within ~100 ms of the call; followers look every
//!   [`FOLLOW_POLL`]). A reconnecting client's `Last-Event-ID` resumes after the last line it
//!   saw. Lines come from the store, so a follower on one node sees calls served by any node.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::SharedState;
use super::error::ApiError;
use super::functions::Existing;
use crate::store::{LogRecord, Store};

/// How often a follower asks the store for new lines.
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// Followers one node serves at once; more get a 429.
pub const MAX_FOLLOWERS: usize = 256;

/// Followers being served now.
#[derive(Debug, Default)]
pub struct Followers(Arc<AtomicUsize>);

/// One follower's place, given back when its stream ends.
struct Following(Arc<AtomicUsize>);

impl Drop for Following {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Followers {
    fn join(&self) -> Option<Following> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        let place = Following(self.0.clone());
        (n < MAX_FOLLOWERS).then_some(place)
    }
}

/// Query of the logs endpoint.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    limit: Option<i64>,
    since: Option<i64>,
    #[serde(default)]
    follow: bool,
}

/// `GET /functions/{name}/logs`.
pub async fn logs(
    State(state): State<SharedState>,
    Existing(name): Existing,
    headers: HeaderMap,
    Query(q): Query<LogQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    if !q.follow {
        let logs = state.store.recent_logs(&name, limit, q.since).await?;
        return Ok(Json(json!({ "logs": logs })).into_response());
    }
    let place = state.followers.join().ok_or_else(|| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_followers",
            format!("this node already serves {MAX_FOLLOWERS} log followers"),
        )
    })?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok()?.parse::<i64>().ok());
    let after = resume.or(q.since);
    let mut first = state.store.recent_logs(&name, limit, after).await?;
    first.reverse();
    let cursor = first.last().map(|l| l.id).or(after).unwrap_or(-1);
    let follow = Follow {
        store: state.store.clone(),
        name,
        cursor,
        pending: first.into(),
        _place: place,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        let line = f.next().await;
        Some((Ok::<_, std::convert::Infallible>(event(&line)), f))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// A follower's state: what is left to send, and the id after which to look.
struct Follow {
    store: Store,
    name: String,
    cursor: i64,
    pending: VecDeque<LogRecord>,
    _place: Following,
}

impl Follow {
    /// The next line, waiting for one to be stored.
    async fn next(&mut self) -> LogRecord {
        loop {
            if let Some(line) = self.pending.pop_front() {
                return line;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
            // A store that is down is asked again at the next poll.
            if let Ok(mut new) = self
                .store
                .recent_logs(&self.name, 100, Some(self.cursor))
                .await
            {
                new.reverse();
                if let Some(last) = new.last() {
                    self.cursor = last.id;
                }
                self.pending.extend(new);
            }
        }
    }
}

fn event(line: &LogRecord) -> Event {
    let data = serde_json::to_string(line).unwrap_or_default();
    Event::default()
        .event("log")
        .id(line.id.to_string())
        .data(data)
}
