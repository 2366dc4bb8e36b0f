//! The typed test-proxy builder: a test names the settings it is about with typed setters
//! (`Duration`s, counts, lists), and the builder writes them as a `toml::Table` serialised by
//! the `toml` crate, so every test still goes through hookwall's real config parser without
//! formatting TOML by hand. Secrets given by value are written to files, as a deployment would.
//!
//! Tests whose subject is the config text itself (config errors, `hookwall check`, the README
//! and first-use configs) write their TOML directly instead.

use crate::common::{SECRET_A, SECRET_B, TestCert, TestProxy, test_cert};
use crate::hardening::BinaryProxy;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::{Table, Value};

/// A value a setter can write: the TOML type follows from the Rust type.
pub trait ToToml {
    fn to_toml(self) -> Value;
}

impl ToToml for &str {
    fn to_toml(self) -> Value {
        Value::String(self.to_string())
    }
}

impl ToToml for String {
    fn to_toml(self) -> Value {
        Value::String(self)
    }
}

impl ToToml for usize {
    fn to_toml(self) -> Value {
        Value::Integer(i64::try_from(self).unwrap())
    }
}

impl ToToml for u64 {
    fn to_toml(self) -> Value {
        Value::Integer(i64::try_from(self).unwrap())
    }
}

impl ToToml for u32 {
    fn to_toml(self) -> Value {
        Value::Integer(i64::from(self))
    }
}

/// Durations are written with a unit, as README documents them ("200ms", "1h").
impl ToToml for Duration {
    fn to_toml(self) -> Value {
        Value::String(humantime::format_duration(self).to_string())
    }
}

impl ToToml for &Path {
    fn to_toml(self) -> Value {
        Value::String(self.display().to_string())
    }
}

/// A list of strings: `["POST", "PUT"]`, `["127.0.0.0/8"]`.
pub struct List(Vec<String>);

impl<I, S> From<I> for List
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    fn from(items: I) -> List {
        List(items.into_iter().map(Into::into).collect())
    }
}

impl ToToml for List {
    fn to_toml(self) -> Value {
        Value::Array(self.0.into_iter().map(Value::String).collect())
    }
}

/// Typed setters that each write one key of the section's table; `[list]` marks the keys
/// that take a list of strings.
macro_rules! setters {
    ($section:ident { $($key:ident: $type:ty),* $(,)? }) => {
        impl $section {
            $(
                pub fn $key(mut self, value: $type) -> Self {
                    self.table.insert(stringify!($key).to_string(), value.to_toml());
                    self
                }
            )*
        }
    };
    ($section:ident [list] { $($key:ident),* $(,)? }) => {
        impl $section {
            $(
                pub fn $key(mut self, items: impl Into<List>) -> Self {
                    self.table.insert(stringify!($key).to_string(), items.into().to_toml());
                    self
                }
            )*
        }
    };
}

/// `[server]`, less `listen` and `tls`, which the builder sets.
#[derive(Clone, Default)]
pub struct Server {
    table: Table,
}

setters!(Server {
    shutdown_delay: Duration,
    shutdown_grace: Duration,
    tls_handshake_timeout: Duration,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    reload_interval: Duration,
});

setters!(Server [list] { trusted_proxies, allow_sources });

/// `[admin]`, less `listen`.
#[derive(Clone, Default)]
pub struct Admin {
    table: Table,
}

setters!(Admin { deliveries: usize });

/// `[upstream]`, less `url`, which [`ProxyBuilder::upstream`] sets.
#[derive(Clone, Default)]
pub struct Upstream {
    table: Table,
}

setters!(Upstream { timeout: Duration });

/// `[limits]`.
#[derive(Clone, Default)]
pub struct Limits {
    table: Table,
}

setters!(Limits {
    max_body_bytes: u64,
    body_read_timeout: Duration,
    max_connections: usize,
    max_in_flight: usize,
    max_header_bytes: usize,
    max_headers: usize,
    max_h2_streams: u32,
    max_unverified_per_source: usize,
    max_unverified_per_connection: usize,
});

/// `[log]`.
#[derive(Clone, Default)]
pub struct Log {
    table: Table,
}

setters!(Log { level: &str });

/// `[dedupe]`: where duplicate suppression keeps its memory.
#[derive(Clone, Default)]
pub struct Dedupe {
    table: Table,
    /// Passwords, by key, written to files.
    secrets: Vec<(&'static str, Secret)>,
}

setters!(Dedupe {
    store: &str,
    redis_url: &str,
    redis_sentinel_master: &str,
    redis_ca_file: &Path,
    timeout: Duration,
    on_error: &str,
});

setters!(Dedupe [list] { redis_sentinels, redis_cluster });

impl Dedupe {
    /// The Redis password, read from a file the test writes (and rewrites).
    pub fn redis_password_file(mut self, file: &Path) -> Self {
        let file = Secret::File(file.display().to_string());
        self.secrets.push(("redis_password", file));
        self
    }
}

/// Where a secret comes from; a value is written to a file in the test's directory.
#[derive(Clone, Debug)]
pub enum Secret {
    Value(String),
    /// A file in the test's directory by name (`secret-a`, or one the test writes itself),
    /// or anywhere by absolute path.
    File(String),
}

impl Secret {
    /// The `{ file = ... }` entry, writing a value to `dir/name` first.
    fn entry(&self, dir: &Path, name: &str) -> Value {
        let mut entry = Table::new();
        match self {
            Secret::Value(value) => {
                let file = dir.join(name);
                std::fs::write(&file, value).unwrap();
                entry.insert("file".into(), file.as_path().to_toml());
            }
            Secret::File(name) => {
                entry.insert("file".into(), dir.join(name).as_path().to_toml());
            }
        }
        Value::Table(entry)
    }
}

/// One `[[route]]`: its path and scheme, the secrets, and the policy the test is about.
#[derive(Clone)]
pub struct RouteSpec {
    table: Table,
    secrets: Vec<Secret>,
}

impl RouteSpec {
    pub fn new(path: &str, scheme: &str) -> RouteSpec {
        let mut table = Table::new();
        table.insert("path".into(), path.to_toml());
        table.insert("scheme".into(), scheme.to_toml());
        RouteSpec {
            table,
            secrets: Vec::new(),
        }
    }

    /// The usual Visma route: verified with the files `secret-a` and `secret-b` that every
    /// test directory holds (tests rotate them by rewriting those files).
    pub fn visma(path: &str) -> RouteSpec {
        RouteSpec::new(path, "visma").secret_files(["secret-a", "secret-b"])
    }

    /// Secrets by value, each written to a file of its own.
    pub fn secrets<S: Into<String>>(mut self, values: impl IntoIterator<Item = S>) -> Self {
        self.secrets
            .extend(values.into_iter().map(|value| Secret::Value(value.into())));
        self
    }

    /// Secrets read from files of the test's directory, by name.
    pub fn secret_files<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.secrets
            .extend(names.into_iter().map(|name| Secret::File(name.into())));
        self
    }

    /// `public_url`: the URL the provider posts to, for schemes that sign it.
    pub fn public_url(mut self, url: &str) -> Self {
        self.table.insert("public_url".into(), url.to_toml());
        self
    }

    fn to_table(&self, dir: &Path, index: usize) -> Table {
        let mut table = self.table.clone();
        let secrets = self
            .secrets
            .iter()
            .enumerate()
            .map(|(position, secret)| secret.entry(dir, &format!("route{index}-{position}")))
            .collect();
        table.insert("secrets".into(), Value::Array(secrets));
        table
    }
}

setters!(RouteSpec [list] { methods, allow_sources });

setters!(RouteSpec {
    name: &str,
    mode: &str,
    tolerance: Duration,
    dedupe: Duration,
    dedupe_max_entries: usize,
    header: &str,
    prefix: &str,
    encoding: &str,
    algorithm: &str,
});

/// How the listener is secured.
#[derive(Clone)]
enum Tls {
    /// A fresh self-signed certificate for localhost, written as `tls.crt`/`tls.key`.
    Generated,
    /// Certificate and key files the test manages itself.
    Files(PathBuf, PathBuf),
    Plain,
}

/// hookwall's configuration for one test. Start it in-process ([`ProxyBuilder::start`]) or
/// as the real binary ([`ProxyBuilder::start_binary`]), or write it over a running proxy's
/// file ([`ProxyBuilder::write_over`]) to test a reload.
#[derive(Clone)]
pub struct ProxyBuilder {
    tls: Tls,
    server: Server,
    admin: Admin,
    upstream: Option<Upstream>,
    limits: Limits,
    log: Log,
    dedupe: Dedupe,
    routes: Vec<RouteSpec>,
}

impl Default for ProxyBuilder {
    fn default() -> ProxyBuilder {
        ProxyBuilder {
            tls: Tls::Generated,
            server: Server::default(),
            admin: Admin::default(),
            upstream: None,
            limits: Limits::default(),
            log: Log::default(),
            dedupe: Dedupe::default(),
            routes: Vec::new(),
        }
    }
}

impl TestProxy {
    pub fn builder() -> ProxyBuilder {
        ProxyBuilder::default()
    }

    /// The usual setup: TLS, one Visma route at `/webhooks/visma` in front of `upstream`.
    pub fn visma(upstream: &str) -> ProxyBuilder {
        ProxyBuilder::default()
            .upstream(upstream)
            .route(RouteSpec::visma("/webhooks/visma"))
    }
}

impl ProxyBuilder {
    /// A plain-text listener (no `[server.tls]`).
    pub fn plain(mut self) -> Self {
        self.tls = Tls::Plain;
        self
    }

    /// TLS from files the test manages (a certificate it will swap, say).
    pub fn tls_files(mut self, cert_file: &Path, key_file: &Path) -> Self {
        self.tls = Tls::Files(cert_file.to_path_buf(), key_file.to_path_buf());
        self
    }

    pub fn server(mut self, settings: impl FnOnce(Server) -> Server) -> Self {
        self.server = settings(self.server);
        self
    }

    pub fn admin(mut self, settings: impl FnOnce(Admin) -> Admin) -> Self {
        self.admin = settings(self.admin);
        self
    }

    /// `[upstream] url`: `http://...` or `unix:/path`.
    pub fn upstream(mut self, url: &str) -> Self {
        let mut upstream = self.upstream.take().unwrap_or_default();
        upstream.table.insert("url".into(), url.to_toml());
        self.upstream = Some(upstream);
        self
    }

    /// The other `[upstream]` settings.
    pub fn upstream_with(mut self, settings: impl FnOnce(Upstream) -> Upstream) -> Self {
        self.upstream = Some(settings(self.upstream.take().unwrap_or_default()));
        self
    }

    pub fn limits(mut self, settings: impl FnOnce(Limits) -> Limits) -> Self {
        self.limits = settings(self.limits);
        self
    }

    pub fn log(mut self, settings: impl FnOnce(Log) -> Log) -> Self {
        self.log = settings(self.log);
        self
    }

    pub fn dedupe(mut self, settings: impl FnOnce(Dedupe) -> Dedupe) -> Self {
        self.dedupe = settings(self.dedupe);
        self
    }

    pub fn route(mut self, route: RouteSpec) -> Self {
        self.routes.push(route);
        self
    }

    /// The config as a table, with paths in `dir`; secrets given by value are written there.
    pub fn to_table(&self, dir: &Path) -> Table {
        let mut server = self.server.table.clone();
        server.insert("listen".into(), "127.0.0.1:0".to_toml());
        let tls_files = match &self.tls {
            Tls::Generated => Some((dir.join("tls.crt"), dir.join("tls.key"))),
            Tls::Files(cert, key) => Some((cert.clone(), key.clone())),
            Tls::Plain => None,
        };
        if let Some((cert, key)) = tls_files {
            let mut tls = Table::new();
            tls.insert("cert_file".into(), cert.as_path().to_toml());
            tls.insert("key_file".into(), key.as_path().to_toml());
            server.insert("tls".into(), Value::Table(tls));
        }
        let mut admin = self.admin.table.clone();
        admin.insert("listen".into(), "127.0.0.1:0".to_toml());

        let mut config = Table::new();
        config.insert("server".into(), Value::Table(server));
        config.insert("admin".into(), Value::Table(admin));
        if let Some(upstream) = &self.upstream {
            config.insert("upstream".into(), Value::Table(upstream.table.clone()));
        }
        for (name, table) in [("limits", &self.limits.table), ("log", &self.log.table)] {
            if !table.is_empty() {
                config.insert(name.into(), Value::Table(table.clone()));
            }
        }
        let mut dedupe = self.dedupe.table.clone();
        for (key, secret) in &self.dedupe.secrets {
            dedupe.insert(key.to_string(), secret.entry(dir, key));
        }
        if !dedupe.is_empty() {
            config.insert("dedupe".into(), Value::Table(dedupe));
        }
        if !self.routes.is_empty() {
            let routes = self
                .routes
                .iter()
                .enumerate()
                .map(|(index, route)| Value::Table(route.to_table(dir, index)))
                .collect();
            config.insert("route".into(), Value::Array(routes));
        }
        config
    }

    /// Writes `hookwall.toml` (and the secret-a/secret-b files, and the certificate when one is
    /// generated) into `dir`; returns the config file and the certificate.
    fn write(&self, dir: &Path) -> (PathBuf, Option<TestCert>) {
        std::fs::write(dir.join("secret-a"), format!("{SECRET_A}\n")).unwrap();
        std::fs::write(dir.join("secret-b"), SECRET_B).unwrap();
        let cert = matches!(self.tls, Tls::Generated).then(test_cert);
        if let Some(cert) = &cert {
            std::fs::write(dir.join("tls.crt"), &cert.cert_pem).unwrap();
            std::fs::write(dir.join("tls.key"), &cert.key_pem).unwrap();
        }
        let config_path = dir.join("hookwall.toml");
        std::fs::write(&config_path, self.text(dir)).unwrap();
        (config_path, cert)
    }

    /// The config file's text, serialised by the `toml` crate.
    pub fn text(&self, dir: &Path) -> String {
        toml::to_string(&self.to_table(dir)).unwrap()
    }

    /// Replaces the config file of a running proxy with this config (write aside, then
    /// rename, as editors do), for a reload to pick up.
    pub fn write_over(&self, config_path: &Path) {
        let dir = config_path.parent().unwrap();
        let aside = config_path.with_extension("new");
        std::fs::write(&aside, self.text(dir)).unwrap();
        std::fs::rename(&aside, config_path).unwrap();
    }

    /// Starts hookwall in this process, on port 0.
    pub async fn start(self) -> TestProxy {
        let dir = tempfile::tempdir().unwrap();
        let (config_path, cert) = self.write(dir.path());
        let config = hookwall::config::Config::load(&config_path).expect("test config is valid");
        let running = hookwall::start(config, None)
            .await
            .expect("hookwall starts");
        TestProxy {
            proxy_addr: running.proxy_addr,
            admin_addr: running.admin_addr,
            running: Some(running),
            dir,
            config_path,
            cert,
        }
    }

    /// Starts the real binary (`hookwall run --config`) with this config.
    pub async fn start_binary(self) -> BinaryProxy {
        let dir = tempfile::tempdir().unwrap();
        let (config_path, cert) = self.write(dir.path());
        // A plain listener still gets a certificate, which its tests never use.
        BinaryProxy::launch(dir, config_path, cert.unwrap_or_else(test_cert)).await
    }
}
