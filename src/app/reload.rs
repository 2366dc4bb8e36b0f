//! Reload by polling file contents: inotify misses Kubernetes' symlink swap of a mounted Secret.
//!
//! Reloading without a restart: the certificate pair, the secret files and the config file.
//!
//! Files are polled by content, not watched with inotify: Kubernetes updates a mounted Secret
//! or ConfigMap by swapping a symlink, which inotify on the file itself never reports. A
//! change to the certificate or key reloads TLS; a change to the config file or a secret file
//! (and SIGHUP) reloads the config. Each log line names the kind it counts under in
//! `hookwall_reloads_total{kind=…}` (`tls`, `config`, `secrets`). A reload that fails keeps
//! what runs, logs why and counts it in `hookwall_reloads_total{result="failure"}`.

use crate::config::{Config, SecretSource};
use crate::net::tls::{self, CertStore};
use crate::proxy::service::Proxy;
use crate::telemetry::metrics::Metrics;
use prometheus::{Gauge, IntCounterVec, IntGaugeVec};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const RELOADS_TOTAL: &str = "hookwall_reloads_total";
const RELOAD_LAST_SUCCESS: &str = "hookwall_reload_last_success";
const TLS_CERT_EXPIRY: &str = "hookwall_tls_cert_expiry_timestamp_seconds";

/// What can be reloaded: the certificate pair, the config file (or SIGHUP), a secret file.
const RELOAD_KINDS: [&str; 3] = ["tls", "config", "secrets"];

/// The reloads counted by kind and result, and the serving certificate's expiry.
pub(crate) struct ReloadMetrics {
    /// By kind (`tls`, `config`, `secrets`) and result (`success`, `failure`).
    reloads: IntCounterVec,
    /// 1 while the last reload of a kind succeeded (or none was needed), 0 after a failure.
    last_success: IntGaugeVec,
    /// Registered only when TLS is on, so plain-HTTP setups do not show an expiry of 0.
    tls_cert_expiry: Option<Gauge>,
}

impl ReloadMetrics {
    /// Creates and registers the reload metrics; the certificate's expiry only if `tls`.
    pub(crate) fn new(metrics: &Metrics, tls: bool) -> ReloadMetrics {
        let reloads = metrics.int_counter_vec(
            RELOADS_TOTAL,
            "Reloads of certificates, secrets and config.",
            &["kind", "result"],
        );
        let last_success = metrics.int_gauge_vec(
            RELOAD_LAST_SUCCESS,
            "1 if the last reload of this kind succeeded, 0 if it failed (the previous one still runs).",
            &["kind"],
        );
        // Series that alerts watch exist from the start, at zero (or 1 for "last reload
        // succeeded"): a counter that first appears at 1 shows no increase in Prometheus.
        for kind in RELOAD_KINDS {
            reloads.with_label_values(&[kind, "success"]);
            reloads.with_label_values(&[kind, "failure"]);
            last_success.with_label_values(&[kind]).set(1);
        }
        let tls_cert_expiry = tls.then(|| {
            metrics.gauge(
                TLS_CERT_EXPIRY,
                "When the serving certificate expires (Unix seconds).",
            )
        });
        ReloadMetrics {
            reloads,
            last_success,
            tls_cert_expiry,
        }
    }

    /// Records one reload attempt of a kind from [`RELOAD_KINDS`].
    fn record(&self, kind: &str, ok: bool) {
        self.reloads
            .with_label_values(&[kind, if ok { "success" } else { "failure" }])
            .inc();
        self.last_success
            .with_label_values(&[kind])
            .set(i64::from(ok));
    }

    /// Sets the serving certificate's expiry (Unix seconds).
    pub(crate) fn set_tls_cert_expiry(&self, not_after: i64) {
        if let Some(gauge) = &self.tls_cert_expiry {
            gauge.set(not_after as f64);
        }
    }
}

/// A file's content hash, or `None` while it cannot be read.
type Fingerprint = Option<[u8; 32]>;

fn fingerprint(path: &PathBuf) -> Fingerprint {
    std::fs::read(path)
        .ok()
        .map(|bytes| Sha256::digest(&bytes).into())
}

pub(crate) struct Reloader {
    config: Config,
    proxy: Arc<Proxy>,
    metrics: ReloadMetrics,
    cert_store: Option<Arc<CertStore>>,
    /// Last seen content of every watched file.
    seen: HashMap<PathBuf, Fingerprint>,
}

/// What a poll found changed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Changes {
    tls: bool,
    /// The config file itself changed.
    config: bool,
    /// The secret files that changed (their paths, never their content).
    secrets: Vec<PathBuf>,
}

/// What a config reload was for: it is named in the log line and counted under this `kind`,
/// so the line and `hookwall_reloads_total{kind=…}` always agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReloadKind {
    /// The config file changed, or SIGHUP.
    Config,
    /// Only secret files changed (the config file is re-read with them).
    Secrets,
}

impl ReloadKind {
    fn label(self) -> &'static str {
        match self {
            ReloadKind::Config => "config",
            ReloadKind::Secrets => "secrets",
        }
    }
}

impl Reloader {
    pub(crate) fn new(
        config: Config,
        proxy: Arc<Proxy>,
        metrics: ReloadMetrics,
        cert_store: Option<Arc<CertStore>>,
    ) -> Reloader {
        let mut reloader = Reloader {
            config,
            proxy,
            metrics,
            cert_store,
            seen: HashMap::new(),
        };
        for path in reloader.watched_files() {
            let print = fingerprint(&path);
            reloader.seen.insert(path, print);
        }
        reloader
    }

    /// Polls every `interval`, and reloads everything on a request from `requests` (SIGHUP).
    pub(crate) async fn run(mut self, interval: Duration, mut requests: mpsc::Receiver<()>) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    let changes = self.poll_files();
                    if changes.tls {
                        self.reload_tls();
                    }
                    if changes.config {
                        self.reload_config(ReloadKind::Config, &[]);
                    } else if !changes.secrets.is_empty() {
                        self.reload_config(ReloadKind::Secrets, &changes.secrets);
                    }
                }
                request = requests.recv() => {
                    if request.is_none() {
                        return;
                    }
                    tracing::info!("reload requested");
                    self.poll_files();
                    self.reload_tls();
                    self.reload_config(ReloadKind::Config, &[]);
                }
            }
        }
    }

    fn tls_files(&self) -> Vec<PathBuf> {
        match &self.config.server.tls {
            Some(files) if self.cert_store.is_some() => {
                vec![files.cert_file.clone(), files.key_file.clone()]
            }
            _ => Vec::new(),
        }
    }

    fn config_files(&self) -> Vec<PathBuf> {
        let secret_files = self
            .config
            .routes
            .iter()
            .flat_map(|route| &route.secrets)
            .filter_map(|secret| match &secret.source {
                SecretSource::File(path) => Some(path.clone()),
                SecretSource::Env(_) => None,
            });
        self.config
            .path
            .iter()
            .cloned()
            .chain(secret_files)
            .chain(self.config.dedupe.files())
            .collect()
    }

    fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = self.tls_files();
        files.extend(self.config_files());
        files
    }

    /// Updates the fingerprints and says which kind of reload is due.
    fn poll_files(&mut self) -> Changes {
        let tls_files = self.tls_files();
        let mut changes = Changes::default();
        for path in self.watched_files() {
            let print = fingerprint(&path);
            let previous = self.seen.insert(path.clone(), print);
            if previous != Some(print) {
                if tls_files.contains(&path) {
                    changes.tls = true;
                } else if self.config.path.as_ref() == Some(&path) {
                    changes.config = true;
                } else {
                    changes.secrets.push(path);
                }
            }
        }
        changes
    }

    fn reload_tls(&mut self) {
        let (Some(store), Some(files)) = (&self.cert_store, &self.config.server.tls) else {
            return;
        };
        match tls::load_pem_files(files) {
            Ok(loaded) => {
                store.replace(loaded.certified);
                self.metrics.set_tls_cert_expiry(loaded.not_after);
                self.metrics.record("tls", true);
                tracing::info!(
                    kind = "tls",
                    cert_file = %files.cert_file.display(),
                    not_after = loaded.not_after,
                    "TLS certificate reloaded; new handshakes use it"
                );
            }
            Err(err) => {
                self.metrics.record("tls", false);
                tracing::error!(kind = "tls", error = %err, "TLS reload failed; still serving the previous certificate");
            }
        }
    }

    /// Re-reads the config file and every secret; `changed_secrets` are the secret files
    /// whose change caused it (named in the log line).
    fn reload_config(&mut self, kind: ReloadKind, changed_secrets: &[PathBuf]) {
        let Some(path) = self.config.path.clone() else {
            return;
        };
        match Config::load(&path) {
            Ok(new_config) => {
                for key in restart_only_changes(&self.config, &new_config) {
                    tracing::warn!(
                        key,
                        "changed in the config file, but takes effect only after a restart"
                    );
                }
                self.proxy.reload(&new_config);
                self.config = Config {
                    // Listeners and TLS files keep running as started.
                    server: self.config.server.clone(),
                    admin: self.config.admin.clone(),
                    ..new_config
                };
                for path in self.config_files() {
                    let print = fingerprint(&path);
                    self.seen.entry(path).or_insert(print);
                }
                self.metrics.record(kind.label(), true);
                match kind {
                    ReloadKind::Config => tracing::info!(
                        kind = kind.label(),
                        config = %path.display(),
                        "config reloaded"
                    ),
                    ReloadKind::Secrets => tracing::info!(
                        kind = kind.label(),
                        files = %list_paths(changed_secrets),
                        "secrets reloaded"
                    ),
                }
            }
            Err(err) => {
                self.metrics.record(kind.label(), false);
                match kind {
                    ReloadKind::Config => tracing::error!(
                        kind = kind.label(),
                        error = %err,
                        "config reload failed; still running the previous config"
                    ),
                    ReloadKind::Secrets => tracing::error!(
                        kind = kind.label(),
                        files = %list_paths(changed_secrets),
                        error = %err,
                        "secrets reload failed; still verifying with the previous secrets"
                    ),
                }
            }
        }
    }
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Keys that only a restart applies (listeners, TLS file paths, runtime, logging).
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.server.listen != new.server.listen {
        keys.push("server.listen");
    }
    if old.server.tls != new.server.tls {
        keys.push("server.tls");
    }
    if old.server.workers != new.server.workers {
        keys.push("server.workers");
    }
    if old.admin.listen != new.admin.listen {
        keys.push("admin.listen");
    }
    if old.admin.deliveries != new.admin.deliveries {
        keys.push("admin.deliveries");
    }
    if old.log.format != new.log.format || old.log.level != new.log.level {
        keys.push("log");
    }
    keys
}
