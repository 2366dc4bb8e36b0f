//! A per-thread keep-alive pool to the app, hand-written: it measured 7% cheaper than hyper-util's.
//!
//! One pool of HTTP/1.1 connections per worker thread.
//!
//! Hand-written on hyper's connection API rather than hyper-util's general client because it
//! measured cheaper: 108.0k → 101.1k instructions per request (benches/README.md).
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

/// Why a request could not be sent to the app.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PoolError {
    #[error("connecting to {target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("connecting to the upstream took longer than upstream.connect_timeout ({0:?})")]
    ConnectTimeout(Duration),
    /// The connection failed while the request was sent or its answer read.
    #[error("{}", error_chain(.0))]
    Http(#[from] hyper::Error),
}

pub(crate) struct Pool {
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
    pub(crate) fn new(config: &config::Upstream) -> Arc<Pool> {
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
    pub(crate) async fn send(
        self: &Arc<Self>,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<PooledBody>, PoolError> {
        while let Some(mut sender) = self.checkout() {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.attach(response, sender)),
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(failed.into_error().into()),
                },
            }
        }
        let mut sender = self.connect().await?;
        match sender.try_send_request(request).await {
            Ok(response) => Ok(self.attach(response, sender)),
            Err(failed) => Err(failed.into_error().into()),
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

    async fn connect(&self) -> Result<Sender, PoolError> {
        let connecting = async {
            let mut builder = http1::Builder::new();
            // Carries the sender's header-name case through to the app.
            builder.preserve_header_case(true);
            match &self.target {
                UpstreamTarget::Http { authority } => {
                    let stream =
                        TcpStream::connect(authority.as_str())
                            .await
                            .map_err(|source| PoolError::Connect {
                                target: authority.to_string(),
                                source,
                            })?;
                    let _ = stream.set_nodelay(true);
                    handshake(builder, stream).await
                }
                UpstreamTarget::Unix { path } => {
                    let stream =
                        UnixStream::connect(path)
                            .await
                            .map_err(|source| PoolError::Connect {
                                target: path.display().to_string(),
                                source,
                            })?;
                    handshake(builder, stream).await
                }
            }
        };
        tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| PoolError::ConnectTimeout(self.connect_timeout))?
    }

    fn attach(
        self: &Arc<Self>,
        response: Response<Incoming>,
        sender: Sender,
    ) -> Response<PooledBody> {
        response.map(|body| PooledBody::new(body, sender, Arc::clone(self)))
    }
}

async fn handshake<S>(builder: http1::Builder, stream: S) -> Result<Sender, PoolError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = builder.handshake(TokioIo::new(stream)).await?;
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

/// An error and its causes on one line: hyper's own message alone ("connection error") does
/// not say what happened.
fn error_chain(err: &dyn std::error::Error) -> String {
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

#[cfg(test)]
mod tests {
    //! The pool against a real loopback "app" that counts its connections and answers from a
    //! script: which requests reuse a connection, and which must not.
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// How the app answers each request on a connection.
    #[derive(Clone, Copy)]
    enum Answer {
        /// A complete 5-byte body, connection kept.
        Whole,
        /// Promises 10 bytes, sends 5 and closes: a broken body.
        Broken,
    }

    /// An app on loopback answering every request with `answer`; counts connections.
    async fn app(answer: Answer) -> (UpstreamTarget, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    loop {
                        let Ok(n) = stream.read(&mut buffer).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buffer[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            let reply: &[u8] = match answer {
                                Answer::Whole => {
                                    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
                                }
                                Answer::Broken => {
                                    b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello"
                                }
                            };
                            if stream.write_all(reply).await.is_err() {
                                return;
                            }
                            if matches!(answer, Answer::Broken) {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (UpstreamTarget::Http { authority }, accepted)
    }

    fn pool(target: UpstreamTarget, idle_timeout: Duration) -> Arc<Pool> {
        Pool::new(&config::Upstream {
            target,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            pool_idle_timeout: idle_timeout,
            pool_max_idle: 4,
        })
    }

    fn request() -> Request<Full<Bytes>> {
        Request::post("/hook")
            .header("host", "app")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    }

    #[tokio::test]
    async fn a_connection_is_reused_only_after_its_response_was_read_to_the_end() {
        let (target, accepted) = app(Answer::Whole).await;
        let pool = pool(target, Duration::from_secs(30));
        let unread = pool.send(request()).await.unwrap();
        // The first response's body is still unread: its connection is not free.
        let second = pool.send(request()).await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        let body = second.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello");
        // Now the second connection is back in the pool and serves the third request.
        let third = pool.send(request()).await.unwrap();
        third.into_body().collect().await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        drop(unread);
    }

    #[tokio::test]
    async fn an_idle_connection_past_the_timeout_is_not_used() {
        let (target, accepted) = app(Answer::Whole).await;
        let idle_timeout = Duration::from_millis(50);
        let pool = pool(target, idle_timeout);
        let first = pool.send(request()).await.unwrap();
        first.into_body().collect().await.unwrap();
        assert_eq!(pool.lock().len(), 1);
        tokio::time::sleep(idle_timeout * 3).await;
        let second = pool.send(request()).await.unwrap();
        second.into_body().collect().await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_whose_body_broke_is_never_pooled() {
        let (target, accepted) = app(Answer::Broken).await;
        let pool = pool(target, Duration::from_secs(30));
        let response = pool.send(request()).await.unwrap();
        assert!(response.into_body().collect().await.is_err());
        assert!(pool.lock().is_empty());
        let again = pool.send(request()).await.unwrap();
        assert!(again.into_body().collect().await.is_err());
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_app_that_is_not_there_is_a_connect_error_naming_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let authority: http::uri::Authority =
            listener.local_addr().unwrap().to_string().parse().unwrap();
        drop(listener);
        let pool = pool(
            UpstreamTarget::Http {
                authority: authority.clone(),
            },
            Duration::from_secs(1),
        );
        let err = pool
            .send(request())
            .await
            .err()
            .expect("nothing listens there");
        assert!(matches!(err, PoolError::Connect { .. }), "{err}");
        assert!(err.to_string().contains(authority.as_str()), "{err}");
    }
}
