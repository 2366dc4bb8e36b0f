//! Start-up: binds the listeners, starts the accept loops on every worker runtime, the admin
//! listener and the reloader, and hands back a [`Running`] that drains in order.

use crate::app::shutdown::{DrainReport, Phase, Readiness};
use crate::app::{admin, reload, shutdown};
use crate::config::Config;
use crate::net::connections::ConnectionTracker;
use crate::net::metrics::ConnectionMetrics;
use crate::net::{server, tls};
use crate::proxy::service::Proxy;
use crate::telemetry::metrics::Metrics;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// Why hookwall could not start. Each message names the key to change.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The certificate pair could not be loaded or used.
    #[error(transparent)]
    Tls(#[from] crate::net::tls::TlsError),
    #[error(
        "cannot listen on {addr} (`{key}` in {origin}): {source}; choose a free address or stop what uses it"
    )]
    /// A listener could not bind its address.
    Bind {
        /// The config key that named the address.
        key: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The config it came from (file path or embedded default).
        origin: String,
        /// Why the operating system refused.
        source: std::io::Error,
    },
}

/// A started hookwall.
pub struct Running {
    /// Where the proxy listener is bound (the real port when 0 was asked for).
    pub proxy_addr: SocketAddr,
    /// Where the admin listener (probes, `/metrics`, deliveries page) is bound.
    pub admin_addr: SocketAddr,
    /// The registry `/metrics` serves, for tests that read a counter directly.
    pub metrics: Arc<Metrics>,
    /// The running proxy (its deliveries ring, drain state).
    pub proxy: Arc<Proxy>,
    phase: watch::Sender<Phase>,
    readiness: Arc<Readiness>,
    connections: Arc<ConnectionTracker>,
    reload_requests: mpsc::Sender<()>,
    config: Config,
}

/// Binds the listeners and starts serving on the current runtime. `certificate` overrides
/// `[server.tls]` (the embedded default's self-signed certificate).
pub async fn start(
    config: Config,
    certificate: Option<tls::LoadedCert>,
) -> Result<Running, StartError> {
    start_with_workers(config, certificate, &[]).await
}

/// Like [`start`], and also accepts proxy connections on each of `workers`: runtimes on
/// other threads (the binary runs one single-threaded runtime per CPU). Every worker accepts
/// from the same listening socket and serves its connections start to finish on its own
/// thread, so a request never wakes another thread.
pub(crate) async fn start_with_workers(
    config: Config,
    certificate: Option<tls::LoadedCert>,
    workers: &[tokio::runtime::Handle],
) -> Result<Running, StartError> {
    let loaded = match (certificate, &config.server.tls) {
        (Some(generated), _) => Some(generated),
        (None, Some(files)) => Some(tls::load_pem_files(files).map_err(StartError::Tls)?),
        (None, None) => None,
    };
    let tls_enabled = loaded.is_some();
    let metrics = Arc::new(Metrics::new());
    let reload_metrics = reload::ReloadMetrics::new(&metrics, tls_enabled);
    let connection_metrics = ConnectionMetrics::new(&metrics);
    let (acceptor, cert_store) = match loaded {
        Some(loaded) => {
            reload_metrics.set_tls_cert_expiry(loaded.not_after);
            let store = tls::CertStore::new(loaded.certified);
            let server_config = tls::server_config(Arc::clone(&store)).map_err(StartError::Tls)?;
            (
                Some(tokio_rustls::TlsAcceptor::from(server_config)),
                Some(store),
            )
        }
        None => (None, None),
    };

    let bind_error = |key: &'static str, addr: SocketAddr| {
        let origin = config.origin.clone();
        move |source| StartError::Bind {
            key,
            addr,
            origin,
            source,
        }
    };
    let (proxy_wanted, admin_wanted) = (config.server.listen, config.admin.listen);
    let proxy_listener = listen(proxy_wanted).map_err(bind_error("server.listen", proxy_wanted))?;
    let admin_listener = listen(admin_wanted)
        .and_then(TcpListener::from_std)
        .map_err(bind_error("admin.listen", admin_wanted))?;
    let proxy_addr = proxy_listener
        .local_addr()
        .expect("bound socket has an address");
    let admin_addr = admin_listener
        .local_addr()
        .expect("bound socket has an address");

    let proxy = Arc::new(Proxy::new(&config, &metrics).with_tls(tls_enabled));
    let readiness = Arc::new(Readiness::default());
    let (phase, phase_watch) = watch::channel(Phase::Serving);
    let connections = ConnectionTracker::new(connection_metrics.open.clone());

    tokio::spawn(admin::serve(
        admin_listener,
        Arc::new(admin::AdminState {
            metrics: Arc::clone(&metrics),
            readiness: Arc::clone(&readiness),
            deliveries: Arc::clone(proxy.deliveries()),
        }),
    ));
    let context = Arc::new(server::ConnectionContext {
        handler: Arc::clone(&proxy),
        metrics: connection_metrics,
        tls: acceptor,
        server: config.server.clone(),
        phase: phase_watch,
        connections: Arc::clone(&connections),
        workers: server::Workers::new(
            std::iter::once(tokio::runtime::Handle::current())
                .chain(workers.iter().cloned())
                .collect(),
        ),
    });
    for (index, worker) in workers.iter().enumerate() {
        let listener = proxy_listener
            .try_clone()
            .map_err(bind_error("server.listen", proxy_wanted))?;
        let context = Arc::clone(&context);
        // Registered with the worker's own reactor, from inside it.
        worker.spawn(async move {
            match TcpListener::from_std(listener) {
                Ok(listener) => server::accept_loop(listener, context, index + 1).await,
                Err(err) => tracing::error!(error = %err, "a worker could not listen"),
            }
        });
    }
    let listener =
        TcpListener::from_std(proxy_listener).map_err(bind_error("server.listen", proxy_wanted))?;
    tokio::spawn(server::accept_loop(listener, context, 0));

    let (reload_requests, reload_receiver) = mpsc::channel(4);
    let reloader = reload::Reloader::new(
        config.clone(),
        Arc::clone(&proxy),
        reload_metrics,
        cert_store,
    );
    tokio::spawn(reloader.run(config.server.reload_interval, reload_receiver));

    readiness.set(true);
    tracing::info!(
        proxy = %proxy_addr,
        admin = %admin_addr,
        tls = tls_enabled,
        routes = config.routes.len(),
        "hookwall ready"
    );
    Ok(Running {
        proxy_addr,
        admin_addr,
        metrics,
        proxy,
        phase,
        readiness,
        connections,
        reload_requests,
        config,
    })
}

/// Binds a listening socket (non-blocking, address reuse for quick restarts) that any
/// runtime can register: each worker takes a clone of it.
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Pending connections the kernel queues for the accept loops.
const LISTEN_BACKLOG: i32 = 1024;

impl Running {
    /// Re-reads the config, secrets and certificate now (what SIGHUP does).
    pub async fn reload(&self) {
        let _ = self.reload_requests.send(()).await;
    }

    /// Drains in order: not ready, `shutdown_delay` of serving with `Connection: close` and
    /// GOAWAY, stop accepting, up to `shutdown_grace` for in-flight requests.
    pub async fn shutdown(self) -> DrainReport {
        shutdown::drain(
            &self.phase,
            &self.readiness,
            &self.proxy,
            &self.connections,
            self.config.server.shutdown_delay,
            self.config.server.shutdown_grace,
        )
        .await
    }
}
