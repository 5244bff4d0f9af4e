//! The local HTTP server: the shared API behind an HTTP/1.1 connection loop that is
//! safe to leave running, within its [`Limits`]: the time a client has to send a
//! request head (which also bounds an idle keep-alive connection) and a body, the time
//! a response may wait for the client to read it, the connections served at once (more
//! wait in the kernel's backlog), and the time requests in flight get at shutdown.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use reco_api::Api;

use crate::body::{read_body, BodyTimedOut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

/// What the server allows a client. `Limits::default()` is what `reco serve` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time to send the request line and headers, counted from the connection's start
    /// or from the end of the previous response: an idle keep-alive connection is
    /// closed once it passes.
    pub header: Duration,
    /// Time to send the body, counted from the end of the head; a route reading a body
    /// that has not come whole by then answers 408 `body_timeout`.
    pub body: Duration,
    /// Time a response may wait for the client to read what was sent (a full send
    /// buffer); past it the connection is closed. Counted again after every write
    /// that goes through, so a slow reader that keeps reading is served.
    pub write: Duration,
    /// Connections served at once.
    pub connections: usize,
    /// Time requests in flight get to finish at shutdown.
    pub shutdown: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header: Duration::from_secs(10),
            body: Duration::from_secs(10),
            write: Duration::from_secs(10),
            connections: 512,
            shutdown: Duration::from_secs(10),
        }
    }
}

/// `/reco.js` and, for a demo shop, the storefront's routes (`crate::site`); every
/// other request goes to the shared API, its body read up to the API's limit.
pub fn router(api: Arc<Api>, demo: Option<Arc<crate::site::DemoSite>>) -> Router {
    crate::site::routes(demo).fallback_service(Router::new().fallback(dispatch).with_state(api))
}

async fn dispatch(State(api): State<Arc<Api>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body, api.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response().map(Body::from),
    };
    let response = api.handle(http::Request::from_parts(parts, bytes)).await;
    response.map(Body::from)
}

/// A request body that fails with [`BodyTimedOut`] when it has not come whole by its
/// deadline. The timer is only set once a read has to wait.
struct BodyDeadline {
    inner: Incoming,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl hyper::body::Body for BodyDeadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection whose writes fail with `TimedOut` once one has waited `limit` for the
/// client to make room by reading: a client that stops reading a response cannot keep
/// its connection. Reads pass through (the head and body deadlines bound them).
struct WriteDeadline<S> {
    inner: S,
    limit: Duration,
    /// The timer of the write waiting now, if one is.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    fn new(inner: S, limit: Duration) -> Self {
        WriteDeadline {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Passes on what a write (or flush) of the inner stream gave; one that has to
    /// wait starts the timer, and fails once it has waited `limit`.
    fn within_limit<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let limit = self.limit;
                let sleep = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client did not read the response in time",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.within_limit(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.within_limit(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.within_limit(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.within_limit(cx, polled)
    }
}

/// Serves `router` within `limits` until `shutdown` resolves, then waits (up to
/// [`Limits::shutdown`]) for the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let service = TowerToHyperService::new(router);
    let slots = Arc::new(Semaphore::new(limits.connections));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header)
        .keep_alive(true);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Every request's body gets its deadline as its head arrives.
        let inner = service.clone();
        let body_limit = limits.body;
        let with_deadline = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let deadline = Instant::now() + body_limit;
            let request = request.map(|inner| {
                Body::new(BodyDeadline {
                    inner,
                    deadline,
                    sleep: None,
                })
            });
            hyper::service::Service::call(&inner, request)
        });
        let io = TokioIo::new(WriteDeadline::new(stream, limits.write));
        let conn = builder.serve_connection(io, with_deadline);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    // Requests in flight get a bounded time to finish.
    tokio::select! {
        _ = graceful.shutdown() => {},
        _ = tokio::time::sleep(limits.shutdown) => {},
    }
    Ok(())
}
