//! The network side of the proxy listener: accepting, connection tracking and limits, TLS,
//! and driving each connection with hyper. It uses `config` and `telemetry`; requests go to
//! a [`client::Handler`], so it does not know the proxy.

/// Implements `AsyncWrite` for an IO wrapper `$wrapper<T>` by passing every call to its
/// `inner` field: the wrappers that use it change only how reads happen. With
/// `shutdown = method`, closing is the wrapper's own `method(&mut self, cx)` instead (the
/// lingering close, which reads while it closes).
macro_rules! write_through {
    ($wrapper:ident) => {
        impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $wrapper<T> {
            crate::net::write_through!(@writes);

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
            }
        }
    };
    ($wrapper:ident, shutdown = $shutdown:ident) => {
        impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite
            for $wrapper<T>
        {
            crate::net::write_through!(@writes);

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.get_mut().$shutdown(cx)
            }
        }
    };
    (@writes) => {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
        }

        fn poll_write_vectored(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            self.inner.is_write_vectored()
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
        }
    };
}
use write_through;

/// Implements `AsyncRead` for an IO wrapper `$wrapper<T>` by passing reads to its `inner`
/// field, for the wrappers that change only how writes or the close happen.
macro_rules! read_through {
    ($wrapper:ident) => {
        impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for $wrapper<T> {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
            }
        }
    };
}
use read_through;

pub(crate) mod client;
pub(crate) mod connections;
pub(crate) mod linger;
pub(crate) mod metrics;
pub(crate) mod park;
pub(crate) mod read_ahead;
pub(crate) mod server;
pub(crate) mod tls;
pub(crate) mod wire;
