//! Real Redis servers for the shared-dedupe tests: Debian's `redis-server` and
//! `redis-sentinel`, started on free loopback ports in a temporary directory, waited on
//! until they answer, and stopped by PID (killed when dropped).

use crate::hardening::eventually;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// Long enough for a Redis to start on a loaded 2-core CI machine.
const START_LIMIT: Duration = Duration::from_secs(20);

/// A loopback port free now (and its cluster bus port, +10000, too).
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port pair found");
}

/// One `redis-server` (or `redis-sentinel`) process.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    /// `rediss://` clients need this CA (TLS servers only).
    pub tls: Option<TlsFiles>,
    password: Option<String>,
}

#[derive(Clone)]
pub struct TlsFiles {
    pub ca_file: PathBuf,
}

impl RedisServer {
    /// A plain Redis with nothing persisted; `extra` are more `redis-server` arguments.
    pub async fn start(dir: &Path, extra: &[&str]) -> RedisServer {
        let port = free_port();
        let dir = dir.join(format!("redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let port_text = port.to_string();
        let args: Vec<&str> = ["--port", port_text.as_str()]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        let mut server = RedisServer::start_stopped(&dir, port, &args);
        server.password = extra
            .iter()
            .position(|arg| *arg == "--requirepass")
            .map(|at| extra[at + 1].to_string());
        server.spawn("redis-server").await;
        server
    }

    /// A Redis that speaks only TLS, with a CA and server certificate made here (rcgen).
    pub async fn start_tls(dir: &Path) -> RedisServer {
        let tls_port = free_port();
        let tls_dir = dir.join(format!("redis-tls-{tls_port}"));
        std::fs::create_dir_all(&tls_dir).unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "hookwall test Redis CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        let ca_file = tls_dir.join("ca.crt");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        std::fs::write(tls_dir.join("redis.crt"), server_cert.pem()).unwrap();
        std::fs::write(tls_dir.join("redis.key"), server_key.serialize_pem()).unwrap();
        let dir_text = tls_dir.display().to_string();
        let mut server = RedisServer::start_stopped(
            &tls_dir,
            tls_port,
            &[
                "--port",
                "0",
                "--tls-port",
                &tls_port.to_string(),
                "--tls-cert-file",
                &format!("{dir_text}/redis.crt"),
                "--tls-key-file",
                &format!("{dir_text}/redis.key"),
                "--tls-ca-cert-file",
                &format!("{dir_text}/ca.crt"),
                "--tls-auth-clients",
                "no",
            ],
        );
        server.tls = Some(TlsFiles { ca_file });
        server.spawn("redis-server").await;
        server
    }

    /// A Redis on `port` with nothing persisted, its files in `dir`, not yet spawned.
    fn start_stopped(dir: &Path, port: u16, extra: &[&str]) -> RedisServer {
        let mut args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
            "--dir",
            &dir.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        RedisServer {
            child: None,
            port,
            args,
            tls: None,
            password: None,
        }
    }

    /// `redis-sentinel` watching `master` (as `mymaster`), with a quick failover timeout.
    pub async fn start_sentinel(dir: &Path, master: &RedisServer) -> RedisServer {
        let port = free_port();
        let dir = dir.join(format!("sentinel-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "port {port}\nbind 127.0.0.1\ndaemonize no\nlogfile sentinel.log\ndir {}\n\
                 sentinel monitor mymaster 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds mymaster 2000\n\
                 sentinel failover-timeout mymaster 10000\n",
                dir.display(),
                master.port
            ),
        )
        .unwrap();
        let mut server = RedisServer {
            child: None,
            port,
            args: vec![config.display().to_string()],
            tls: None,
            password: None,
        };
        server.spawn("redis-sentinel").await;
        server
    }

    async fn spawn(&mut self, program: &str) {
        let child = Command::new(program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("{program} starts (installed by .ci/install): {err}"));
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&self) {
        eventually(
            &format!("Redis on port {} to answer PING", self.port),
            START_LIMIT,
            || async { self.query::<String>(&mut ::redis::cmd("PING")).await.ok() },
        )
        .await;
    }

    /// Kills the process (SIGKILL, by PID) and waits for it to be gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Starts it again on the same port with the same arguments.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn("redis-server").await;
    }

    /// The URL hookwall and the tests use (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> ::redis::Client {
        let info = ::redis::IntoConnectionInfo::into_connection_info(self.url()).unwrap();
        let info = match &self.password {
            Some(password) => {
                let settings = info.redis_settings().clone().set_password(password);
                info.set_redis_settings(settings)
            }
            None => info,
        };
        match &self.tls {
            Some(tls) => ::redis::Client::build_with_tls(
                info,
                ::redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(std::fs::read(&tls.ca_file).unwrap()),
                },
            )
            .unwrap(),
            None => ::redis::Client::open(info).unwrap(),
        }
    }

    /// Runs one command on a fresh connection (bounded: 2 s).
    pub async fn query<T: ::redis::FromRedisValue>(
        &self,
        command: &mut ::redis::Cmd,
    ) -> Result<T, String> {
        let client = self.client();
        let config = ::redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| e.to_string())?;
        command
            .query_async::<T>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }

    /// Every key, with its value and remaining TTL in milliseconds.
    pub async fn keys(&self) -> Vec<(String, String, i64)> {
        let names: Vec<String> = self.query(::redis::cmd("KEYS").arg("*")).await.unwrap();
        let mut keys = Vec::new();
        for name in names {
            let value: String = self.query(::redis::cmd("GET").arg(&name)).await.unwrap();
            let ttl: i64 = self.query(::redis::cmd("PTTL").arg(&name)).await.unwrap();
            keys.push((name, value, ttl));
        }
        keys
    }
}

/// Three cluster-enabled masters with every slot assigned (`redis-cli --cluster create`).
pub async fn start_cluster(dir: &Path) -> Vec<RedisServer> {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(
            RedisServer::start(
                dir,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ],
            )
            .await,
        );
    }
    let addresses: Vec<String> = nodes
        .iter()
        .map(|node| format!("127.0.0.1:{}", node.port))
        .collect();
    let created = tokio::time::timeout(
        START_LIMIT,
        Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("redis-cli --cluster create finishes")
    .unwrap();
    assert!(
        created.status.success(),
        "redis-cli --cluster create: {}",
        String::from_utf8_lossy(&created.stdout)
    );
    for node in &nodes {
        eventually(
            "every cluster node to say cluster_state:ok",
            START_LIMIT,
            || async {
                let info: String = node.query(::redis::cmd("CLUSTER").arg("INFO")).await.ok()?;
                info.contains("cluster_state:ok").then_some(())
            },
        )
        .await;
    }
    nodes
}
