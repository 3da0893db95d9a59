//! Early answers without cut-off clients.
//!
//! Flint answers many requests before reading their bodies: a missing or insufficient token,
//! a declared length over the route's limit. If the server then closed the connection with
//! the body still arriving, the client's TCP stack would see a reset and could lose the
//! answer. Like nginx's lingering close, [`drain_unread`] reads and discards what is left of
//! a small body (at most [`DRAIN_LIMIT`] bytes within [`DRAIN_TIME`]) once the handler has
//! answered, and otherwise marks the answer `Connection: close`. Nothing is buffered: an
//! anonymous 32 MiB upload costs the server at most 64 KiB of reading.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use flint_vmm::sync::lock;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

/// Most bytes of an unread body read and discarded after an early answer.
pub const DRAIN_LIMIT: usize = 64 << 10;
/// Longest wait for an unread body's rest after an early answer.
pub const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Where a body that was dropped before its end is left for the middleware.
type Slot = Arc<Mutex<Option<Body>>>;

/// A request body that hands itself back to `slot` if dropped before its end.
struct Tracked {
    inner: Option<Body>,
    finished: bool,
    slot: Slot,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.finished = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(body) = self.inner.take()
            && !self.finished
            && !http_body::Body::is_end_stream(&body)
        {
            *lock(&self.slot) = Some(body);
        }
    }
}

/// Drains what the handler left unread of a request body (see the module docs).
pub async fn drain_unread(request: Request, next: Next) -> Response {
    if http_body::Body::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let slot = Slot::default();
    let request = request.map(|inner| {
        Body::new(Tracked {
            inner: Some(inner),
            finished: false,
            slot: slot.clone(),
        })
    });
    let mut response = next.run(request).await;
    let rest = lock(&slot).take();
    if let Some(body) = rest
        && !drain(body).await
    {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads and discards `body` up to the limits; true if it ended within them.
async fn drain(mut body: Body) -> bool {
    let read = async {
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DRAIN_LIMIT {
                return false;
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, read)
        .await
        .unwrap_or(false)
}
