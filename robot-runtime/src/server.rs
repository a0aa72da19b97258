//! The HTTP connections: our own accept loop around hyper's HTTP/1
//! connection, in place of `axum::serve`, so that a slow or silent client
//! cannot hold a connection (or all of them) for long.
//!
//! * **Request head.** A connection has `header_read_timeout_secs` to send a
//!   complete request head, counted from when it opens and, on a kept-alive
//!   connection, from when the previous response was sent (hyper arms the
//!   timer whenever it waits for a head). Past it, the connection is closed.
//! * **Keep-alive.** A connection with no request in flight is closed after
//!   `keep_alive_idle_secs` (0 = one request per connection). The head
//!   timeout above bounds this too, so the idle time is the shorter of them.
//! * **Whole request.** A request whose body and handler take longer than
//!   `request_timeout_secs` is answered 408 and its connection closed (a
//!   body sent a byte at a time is cut off here).
//! * **Connections.** At most `max_connections` at once. When a new
//!   connection arrives at the limit, one is closed to make room: the oldest
//!   with no request in flight (still waiting for its head, or an idle
//!   keep-alive), else the oldest whose request body is still arriving.
//!   Only when every connection has a whole request being handled does the
//!   new one wait (at most `request_timeout_secs`). So connections that send
//!   nothing, trickle their head or trickle a body cannot keep `/healthz`
//!   from being accepted at once.
//! * **Shutdown.** When `shutdown` resolves, no more connections are taken;
//!   idle ones close at once, those with a request in flight finish it (up
//!   to `request_timeout_secs`), then the loop returns.

use crate::config::HttpSettings;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tracing::{debug, error, info, warn};

/// The limits, read once from `[http]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    /// None: one request per connection.
    pub keep_alive_idle: Option<Duration>,
    pub request_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_settings(s: &HttpSettings) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(s.header_read_timeout_secs.max(1)),
            keep_alive_idle: (s.keep_alive_idle_secs > 0).then(|| Duration::from_secs(s.keep_alive_idle_secs)),
            request_timeout: Duration::from_secs(s.request_timeout_secs.max(1)),
            max_connections: s.max_connections.max(1),
        }
    }
}

/// One open connection, as the accept loop sees it.
struct Conn {
    /// Requests being handled on it now (0 or 1 for HTTP/1).
    in_flight: AtomicUsize,
    /// The request in flight has a body that has not all arrived yet.
    body_pending: AtomicBool,
    /// When the last request finished (or the connection opened).
    idle_since: Mutex<Instant>,
    /// Whether a request has been answered on it (only then is it a
    /// kept-alive connection; before, the head timeout governs).
    served: AtomicBool,
    /// Wakes the connection's task to close it at once.
    close: Notify,
}

impl Conn {
    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    fn idle_since(&self) -> Instant {
        self.idle_since.lock().map_or_else(|p| *p.into_inner(), |t| *t)
    }

    fn set_idle_since(&self, t: Instant) {
        match self.idle_since.lock() {
            Ok(mut g) => *g = t,
            Err(p) => *p.into_inner() = t,
        }
    }
}

/// The open connections, oldest first (ids grow).
#[derive(Default)]
struct Registry {
    conns: Mutex<BTreeMap<u64, Arc<Conn>>>,
    /// Signalled whenever a connection ends.
    ended: Notify,
}

impl Registry {
    fn len(&self) -> usize {
        self.conns.lock().map_or(0, |m| m.len())
    }

    fn insert(&self, id: u64, c: Arc<Conn>) {
        if let Ok(mut m) = self.conns.lock() {
            m.insert(id, c);
        }
    }

    fn remove(&self, id: u64) {
        if let Ok(mut m) = self.conns.lock() {
            m.remove(&id);
        }
        self.ended.notify_waiters();
    }

    /// Closes the oldest connection that has no request in flight or whose
    /// request body is still arriving. False if every connection has a
    /// whole request being handled. The oldest, so that a new connection
    /// (a load balancer's probe) outlives those that came before it.
    fn evict_one(&self) -> bool {
        let Ok(m) = self.conns.lock() else { return false };
        let victim = m
            .values()
            .find(|c| c.is_idle() || c.body_pending.load(Ordering::SeqCst));
        match victim {
            Some(c) => {
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, within `limits`.
/// Each request carries `ConnectInfo<SocketAddr>` like
/// `into_make_service_with_connect_info` would give it.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, shutdown: impl Future<Output = ()> + Send) {
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut next_id: u64 = 0;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => return drain(stop_tx, &registry, limits).await,
        };
        // At the limit: make room for this one by closing an older idle
        // connection; if all are busy, wait until one ends (or for shutdown).
        while registry.len() >= limits.max_connections {
            let ended = registry.ended.notified();
            if registry.evict_one() {
                debug!("connection limit reached: closed an idle connection");
            } else {
                warn!(
                    limit = limits.max_connections,
                    "connection limit reached: every connection is busy"
                );
            }
            tokio::select! {
                () = ended => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
                () = &mut shutdown => return drain(stop_tx, &registry, limits).await,
            }
        }
        let _ = stream.set_nodelay(true);
        next_id = next_id.wrapping_add(1);
        let id = next_id;
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            body_pending: AtomicBool::new(false),
            idle_since: Mutex::new(Instant::now()),
            served: AtomicBool::new(false),
            close: Notify::new(),
        });
        registry.insert(id, conn.clone());
        let registry = registry.clone();
        let app = app.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, app, conn, limits, stop).await;
            registry.remove(id);
        });
    }
}

async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    // Most likely out of file descriptors: wait for some to close.
    error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Stops taking connections and waits for the open ones to finish.
async fn drain(stop_tx: watch::Sender<bool>, registry: &Registry, limits: Limits) {
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + limits.request_timeout + Duration::from_secs(1);
    loop {
        let ended = registry.ended.notified();
        let open = registry.len();
        if open == 0 {
            return;
        }
        tokio::select! {
            () = ended => {}
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
            () = tokio::time::sleep_until(deadline) => {
                info!(open, "HTTP connections still open at shutdown are closed");
                return;
            }
        }
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    conn: Arc<Conn>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let tower = TowerToHyperService::new(app);
    let state = conn.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let state = state.clone();
        state.in_flight.fetch_add(1, Ordering::SeqCst);
        state
            .body_pending
            .store(!hyper::body::Body::is_end_stream(req.body()), Ordering::SeqCst);
        let req = req.map(|inner| {
            Body::new(Tracked {
                inner,
                conn: state.clone(),
            })
        });
        let fut = hyper::service::Service::call(&tower, req);
        async move {
            let res = match tokio::time::timeout(limits.request_timeout, fut).await {
                Ok(r) => r,
                Err(_) => {
                    info!("request timed out");
                    Ok(request_timeout())
                }
            };
            state.body_pending.store(false, Ordering::SeqCst);
            state.set_idle_since(Instant::now());
            state.served.store(true, Ordering::SeqCst);
            state.in_flight.fetch_sub(1, Ordering::SeqCst);
            res
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(limits.keep_alive_idle.is_some());
    let mut http = std::pin::pin!(builder.serve_connection(TokioIo::new(stream), service));
    let mut stopping = *stop.borrow();
    if stopping {
        http.as_mut().graceful_shutdown();
    }
    loop {
        // Armed on an idle kept-alive connection; otherwise looked at again
        // soon (a request may be in flight, or none answered yet).
        let idle_deadline = match limits.keep_alive_idle {
            Some(idle) if !stopping => Some(if conn.served.load(Ordering::SeqCst) && conn.is_idle() {
                conn.idle_since() + idle
            } else {
                Instant::now() + idle.min(Duration::from_secs(1))
            }),
            _ => None,
        };
        let idle_check = async move {
            match idle_deadline {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            served = http.as_mut() => {
                if let Err(e) = served {
                    debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = conn.close.notified() => {
                debug!("connection closed to make room");
                return;
            }
            changed = stop.changed(), if !stopping => {
                if changed.is_err() || *stop.borrow() {
                    stopping = true;
                    http.as_mut().graceful_shutdown();
                }
            }
            () = idle_check => {
                if let Some(idle) = limits.keep_alive_idle
                    && conn.served.load(Ordering::SeqCst)
                    && conn.is_idle()
                    && conn.idle_since().elapsed() >= idle
                {
                    debug!("idle keep-alive connection closed");
                    return;
                }
            }
        }
    }
}

/// A request body that tells its connection when it has all arrived.
struct Tracked {
    inner: Incoming,
    conn: Arc<Conn>,
}

impl hyper::body::Body for Tracked {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None | Some(Err(_)))) || self.inner.is_end_stream() {
            self.conn.body_pending.store(false, Ordering::SeqCst);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

fn request_timeout() -> Response<Body> {
    let mut r = Response::new(Body::from("Begäran tog för lång tid.\n"));
    *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
