//! The embedded default: what `hookwall run` starts without a config file. TLS on
//! 127.0.0.1:8443 with a self-signed certificate made at start, the admin port on
//! 127.0.0.1:9090, one Visma route whose secret is `HOOKWALL_SECRET` (or a random development
//! secret), and the built-in inspector as the upstream. Logs follow the same rule as a config
//! file's default `[log] format = "auto"`: JSON when stdout is not a terminal, else text.
//!
//! The banner's commands name the binary by a path that runs from where it was started
//! (`target/debug/hookwall` after `cargo run`), since `hookwall` is on PATH only once installed.

use crate::config::{Config, ConfigError, Secret, SecretSource};
use crate::net::tls::{self, LoadedCert};
use crate::signature::{Delivery, Scheme};
use base64::Engine;
use std::net::SocketAddr;

pub(crate) const ROUTE_PATH: &str = "/webhooks/visma";
pub(crate) const SECRET_ENV: &str = "HOOKWALL_SECRET";
pub(crate) const LISTEN: &str = "127.0.0.1:8443";
pub(crate) const ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// How much of each body the embedded default's deliveries page shows.
pub(crate) const DELIVERY_BODY_PREVIEW_BYTES: usize = 200;
/// A sample body for the printed test command.
pub(crate) const SAMPLE_BODY: &str =
    r#"{"event":"CustomerChanged","tenantId":"1234567","entityId":"10001"}"#;

pub(crate) struct EmbeddedSetup {
    pub(crate) config: Config,
    pub(crate) certificate: LoadedCert,
    /// The secret in use (printed once when generated, so a first test can be signed).
    pub(crate) secret: String,
    pub(crate) secret_generated: bool,
}

/// Why the embedded default could not be built (a bug in its TOML, or no certificate).
#[derive(Debug, thiserror::Error)]
pub(crate) enum EmbeddedError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Builds the embedded default around an already running inspector at `upstream`.
pub(crate) fn setup(
    listen: SocketAddr,
    admin_listen: SocketAddr,
    upstream: SocketAddr,
) -> Result<EmbeddedSetup, EmbeddedError> {
    let from_env = std::env::var(SECRET_ENV).ok().filter(|s| !s.is_empty());
    let secret_generated = from_env.is_none();
    let secret = from_env.unwrap_or_else(random_secret);
    let toml = format!(
        r#"
[server]
listen = "{listen}"
# A development setup: stop at once on Ctrl-C.
shutdown_delay = "0s"
shutdown_grace = "2s"
[admin]
listen = "{admin_listen}"
[upstream]
url = "http://{upstream}"
[[route]]
path = "{ROUTE_PATH}"
scheme = "visma"
secrets = [{{ env = "{SECRET_ENV}" }}]
"#
    );
    let secret_bytes = secret.clone().into_bytes();
    let resolve =
        move |source: &SecretSource| Ok(Secret::literal(source.clone(), secret_bytes.clone()));
    let mut config = Config::from_toml_with_secrets(&toml, "embedded default", &resolve)?;
    // Development only: the deliveries page previews bodies, as the inspector logs them.
    config.admin.delivery_body_preview = DELIVERY_BODY_PREVIEW_BYTES;
    let certificate = tls::self_signed_localhost()?;
    Ok(EmbeddedSetup {
        config,
        certificate,
        secret,
        secret_generated,
    })
}

fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the OS provides randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What to print once the embedded default runs: where things are and how to send a test.
pub(crate) fn banner(setup: &EmbeddedSetup, proxy: SocketAddr, admin: SocketAddr) -> String {
    let delivery = Delivery {
        body: SAMPLE_BODY.as_bytes(),
        now: 0,
        id: "",
        method: "POST",
        url: None,
    };
    let headers = Scheme::builtin("visma")
        .expect("visma is a preset")
        .sign(setup.secret.as_bytes(), &delivery)
        .expect("a Visma signature is base64");
    let (name, value) = &headers[0];
    let url = format!("https://{proxy}{ROUTE_PATH}");
    let secret_line = if setup.secret_generated {
        format!(
            "  secret    {}  (development secret, generated now; set {SECRET_ENV} to choose one)",
            setup.secret
        )
    } else {
        format!("  secret    from {SECRET_ENV}")
    };
    format!(
        "\nhookwall is running its embedded development setup\n\
         \x20 proxy     {url}  (self-signed certificate: use curl -k)\n\
         \x20 admin     http://{admin}/metrics  /livez  /readyz\n\
         \x20 deliveries http://{admin}/deliveries  (recent deliveries, accepted and refused)\n\
         \x20 upstream  built-in inspector: logs each verified delivery\n\
         {secret_line}\n\n\
         Send a signed test delivery (expect 200, and the inspector's log line):\n\
         \x20 curl -k {url} -H 'content-type: application/json' -H '{name}: {sig}' --data-binary '{SAMPLE_BODY}'\n\n\
         Send a forged one (expect 401; it never reaches the inspector):\n\
         \x20 curl -k {url} -H 'content-type: application/json' -H '{name}: {sig}' --data-binary '{{\"forged\":true}}'\n\n\
         Sign your own body{env_note}:\n\
         \x20 printf '%s' '{{\"hello\":1}}' | {env_prefix}{program} sign --scheme visma --secret-env {SECRET_ENV}\n",
        sig = value.to_str().unwrap_or_default(),
        env_prefix = if setup.secret_generated {
            format!("{SECRET_ENV}='{}' ", setup.secret)
        } else {
            String::new()
        },
        env_note = if setup.secret_generated {
            String::new()
        } else {
            format!(" (with {SECRET_ENV} set as when hookwall started)")
        },
        program = program_path(),
    )
}

/// How to call this very binary from the shell that started it: `hookwall` when it is the
/// one on PATH, else its path — relative when under the current directory
/// (`target/debug/hookwall` after `cargo run`), absolute otherwise.
pub(crate) fn program_path() -> String {
    let Ok(exe) = std::env::current_exe() else {
        return "hookwall".to_string();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .any(|dir| std::fs::canonicalize(dir.join("hookwall")).is_ok_and(|found| found == exe))
    });
    if on_path {
        return "hookwall".to_string();
    }
    let relative = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .ok()
        .and_then(|cwd| exe.strip_prefix(cwd).ok().map(std::path::Path::to_path_buf))
        .filter(|relative| relative.components().count() > 1);
    let path = relative.unwrap_or(exe).display().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+".contains(c);
    if path.chars().all(plain) {
        path
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    }
}
