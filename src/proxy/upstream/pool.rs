//! A keep-alive pool of HTTP/1.1 connections to the app, one pool per worker thread.
//!
//! Deliberately small: one upstream, one thread, so no keys to hash and no lock anyone else
//! wants. A connection goes back into the pool when the app's response body has been read to
//! its end; connections idle past `upstream.pool_idle_timeout`, or closed by the app, are
//! dropped instead of used.

use crate::config::{self, UpstreamTarget};
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::{TcpStream, UnixStream};

type Sender = SendRequest<Full<Bytes>>;

pub struct Pool {
    target: UpstreamTarget,
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_idle: usize,
    /// Most recently returned last: reusing it first keeps the fewest connections warm.
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

impl Pool {
    /// A pool for this thread; must be made inside its runtime (it spawns the idle reaper).
    pub fn new(config: &config::Upstream) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            target: config.target.clone(),
            connect_timeout: config.connect_timeout,
            idle_timeout: config.pool_idle_timeout,
            max_idle: config.pool_max_idle,
            idle: Mutex::new(Vec::new()),
        });
        tokio::spawn(reap_idle(Arc::downgrade(&pool), config.pool_idle_timeout));
        pool
    }

    /// Sends `request` once. A pooled connection found closed before the request was written
    /// is not a send: the request then goes on another connection. Once written, a request is
    /// never sent again, whatever happens (webhook senders retry themselves).
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<PooledBody>, String> {
        while let Some(mut sender) = self.checkout() {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.attach(response, sender)),
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(error_chain(failed.error())),
                },
            }
        }
        let mut sender = self.connect().await?;
        match sender.try_send_request(request).await {
            Ok(response) => Ok(self.attach(response, sender)),
            Err(failed) => Err(error_chain(failed.error())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn checkout(&self) -> Option<Sender> {
        let mut idle = self.lock();
        while let Some(candidate) = idle.pop() {
            if candidate.since.elapsed() < self.idle_timeout && !candidate.sender.is_closed() {
                return Some(candidate.sender);
            }
        }
        None
    }

    fn give_back(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.max_idle {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    async fn connect(&self) -> Result<Sender, String> {
        let connecting = async {
            let mut builder = http1::Builder::new();
            // Carries the sender's header-name case through to the app.
            builder.preserve_header_case(true);
            match &self.target {
                UpstreamTarget::Http { authority } => {
                    let stream = TcpStream::connect(authority.as_str())
                        .await
                        .map_err(|err| format!("connecting to {authority}: {err}"))?;
                    let _ = stream.set_nodelay(true);
                    handshake(builder, stream).await
                }
                UpstreamTarget::Unix { path } => {
                    let stream = UnixStream::connect(path)
                        .await
                        .map_err(|err| format!("connecting to {}: {err}", path.display()))?;
                    handshake(builder, stream).await
                }
            }
        };
        tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| {
                format!(
                    "connecting to the upstream took longer than upstream.connect_timeout ({:?})",
                    self.connect_timeout
                )
            })?
    }

    fn attach(
        self: &Arc<Self>,
        response: Response<Incoming>,
        sender: Sender,
    ) -> Response<PooledBody> {
        response.map(|body| PooledBody::new(body, sender, Arc::clone(self)))
    }
}

async fn handshake<S>(builder: http1::Builder, stream: S) -> Result<Sender, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = builder
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|err| error_chain(&err))?;
    // Drives the connection; ends when the app closes it or its sender is dropped.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Drops connections idle past the timeout even when no request comes to notice them (so an
/// idle connection lives at most one and a half timeouts).
async fn reap_idle(pool: Weak<Pool>, idle_timeout: Duration) {
    loop {
        tokio::time::sleep(idle_timeout / 2).await;
        let Some(pool) = pool.upgrade() else { return };
        pool.lock()
            .retain(|idle| idle.since.elapsed() < idle_timeout && !idle.sender.is_closed());
    }
}

pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The app's response body, streamed; its connection returns to the pool at the end.
pub struct PooledBody {
    body: Incoming,
    release: Option<(Sender, Arc<Pool>)>,
}

impl PooledBody {
    fn new(body: Incoming, sender: Sender, pool: Arc<Pool>) -> PooledBody {
        let mut pooled = PooledBody {
            body,
            release: Some((sender, pool)),
        };
        if pooled.body.is_end_stream() {
            pooled.release();
        }
        pooled
    }

    fn release(&mut self) {
        if let Some((sender, pool)) = self.release.take() {
            pool.give_back(sender);
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.release(),
            // A broken body leaves the connection unusable: never pool it.
            Poll::Ready(Some(Err(_))) => self.release = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
