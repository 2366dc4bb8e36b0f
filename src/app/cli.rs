//! The command line: `run`, `check`, `sign`, `verify`. `main.rs` only calls [`main`].

use crate::app::{process, summary};
use crate::config::{Config, Secret, SecretSource, parse_listen_address};
use crate::net::tls;
use crate::proxy::service;
use crate::signature::{
    Algorithm, Delivery, Encoding, Key, PublicUrl, Rejection, RequestHead, Scheme, UnixSeconds,
};
use clap::{ArgGroup, Args, Parser, Subcommand};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `hookwall --version`: the package version and the git commit it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("HOOKWALL_REVISION"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "hookwall",
    version = VERSION,
    about = "A sidecar that verifies webhook signatures before they reach your app.",
    long_about = "A sidecar that terminates TLS, verifies the HMAC signature of every webhook, \
                  answers forgeries with 401 and forwards genuine deliveries to your app unchanged.\n\n\
                  Without a subcommand, `hookwall` is `hookwall run`: with no --config it starts the \
                  embedded development setup."
)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: the options of `hookwall run`.
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy: with --config FILE, or the embedded development setup without it.
    Run(RunArgs),
    /// Validate a config file: parse it, read every secret and the TLS pair, print a summary
    /// (without secret values). Exits 1 with a message naming the key on error.
    #[command(group(ArgGroup::new("config_file").required(true).args(["config", "file"])))]
    Check {
        /// The TOML config file.
        #[arg(long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// The TOML config file, given without --config.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Sign a body as the scheme's sender would and print the header line(s) to send. For
    /// schemes whose proof is inside the body (adyen), print the signed body instead.
    ///
    /// The output works with curl's header file option, e.g.
    /// curl --data-binary @body.json -H @<(hookwall sign --scheme visma --secret-env S --body-file body.json) URL
    Sign(SignArgs),
    /// Verify a delivery's signature: exit 0 if valid, 1 with the reason if not.
    Verify(VerifyArgs),
    /// List every built-in scheme: name, headers, what is signed, the key, the docs. With a
    /// name: that scheme, and the same scheme written as a route's own `scheme = "hmac"` keys.
    Schemes {
        /// One scheme only.
        name: Option<String>,
        /// Print README's Markdown table instead.
        #[arg(long)]
        markdown: bool,
    },
}

#[derive(Args)]
struct RunArgs {
    /// The TOML config file. Without it, the embedded development setup starts.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override `server.listen` (e.g. 127.0.0.1:0 for a free port).
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_address)]
    listen: Option<SocketAddr>,
    /// Override `admin.listen`.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_address)]
    admin_listen: Option<SocketAddr>,
}

#[derive(Args)]
struct SchemeArgs {
    /// A preset (`hookwall schemes` lists them) or hmac.
    #[arg(long)]
    scheme: String,
    /// Read the secret from this environment variable. For public-key schemes: `sign`
    /// takes the private key, `verify` the public key.
    #[arg(long, value_name = "VAR", conflicts_with = "secret_file")]
    secret_env: Option<String>,
    /// Read the secret from this file (a trailing newline is trimmed).
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// scheme hmac: the signature header's name.
    #[arg(long, value_name = "NAME")]
    hmac_header: Option<String>,
    /// scheme hmac: text before the encoded MAC, e.g. "sha256=".
    #[arg(long, value_name = "TEXT", default_value = "")]
    hmac_prefix: String,
    /// scheme hmac: hex or base64.
    #[arg(long, value_name = "ENCODING", default_value = "hex")]
    hmac_encoding: String,
    /// scheme hmac: sha256 or sha512.
    #[arg(long, value_name = "ALGORITHM", default_value = "sha256")]
    hmac_algorithm: String,
    /// The full URL the provider posts to, for schemes that sign it (twilio, square, …).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The request method, for schemes that sign it (hubspot).
    #[arg(long, value_name = "METHOD", default_value = "POST")]
    method: String,
    /// The body file; standard input when absent.
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// Fix the clock (Unix seconds) for schemes that sign a timestamp.
    #[arg(long, value_name = "UNIX_SECONDS")]
    at: Option<UnixSeconds>,
}

#[derive(Args)]
struct SignArgs {
    #[command(flatten)]
    scheme: SchemeArgs,
    /// standard-webhooks: the delivery id to sign (default: a random msg_… id).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    scheme: SchemeArgs,
    /// A received header, "Name: value"; repeat for each.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// How far a signed timestamp may be from the clock, e.g. "5m". Default: what the
    /// provider documents (`hookwall schemes NAME`), else 5m.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    tolerance: Option<Duration>,
}

/// Parses the command line and runs the command; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run(cli.run)) {
        Command::Run(args) => process::run(
            args.config.as_deref(),
            process::Overrides {
                listen: args.listen,
                admin_listen: args.admin_listen,
            },
        ),
        Command::Check { config, file } => match config.or(file) {
            Some(path) => check(&path),
            None => fail("give the config file: hookwall check --config FILE"),
        },
        Command::Sign(args) => sign(args),
        Command::Verify(args) => verify(args),
        Command::Schemes { name, markdown } => {
            match super::schemes::render(name.as_deref(), markdown) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(err) => fail(err),
            }
        }
    }
}

use crate::app::fail;

fn check(path: &std::path::Path) -> ExitCode {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(err) => return fail(err),
    };
    let tls_line = match &config.server.tls {
        Some(files) => match tls::load_pem_files(files) {
            Ok(loaded) => format!(
                "TLS with {} (expires {})",
                files.cert_file.display(),
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + Duration::from_secs(loaded.not_after.max(0) as u64)
                )
            ),
            Err(err) => return fail(format!("config file {}: {err}", path.display())),
        },
        None => "plain HTTP (no [server.tls]; TLS must end before hookwall)".to_string(),
    };
    println!("config {} is valid", path.display());
    print!("{}", summary::describe(&config, &tls_line));
    ExitCode::SUCCESS
}

impl SchemeArgs {
    fn scheme(&self) -> Result<Scheme, String> {
        if let Some(scheme) = Scheme::builtin(&self.scheme) {
            return Ok(scheme);
        }
        if self.scheme != crate::signature::CUSTOM_SCHEME {
            return Err(format!(
                "unknown scheme {:?}; `hookwall schemes` lists them",
                self.scheme
            ));
        }
        let header = self
            .hmac_header
            .as_deref()
            .ok_or("--scheme hmac needs --hmac-header NAME")?;
        let header = HeaderName::try_from(header)
            .map_err(|_| format!("--hmac-header {header:?} is not a header name"))?;
        if !self.hmac_prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "--hmac-prefix {:?} must be visible ASCII without spaces",
                self.hmac_prefix
            ));
        }
        let encoding = match self.hmac_encoding.as_str() {
            "hex" => Encoding::Hex,
            "base64" => Encoding::Base64,
            other => return Err(format!("--hmac-encoding {other:?}: use hex or base64")),
        };
        let algorithm = match self.hmac_algorithm.as_str() {
            "sha256" => Algorithm::HmacSha256,
            "sha512" => Algorithm::HmacSha512,
            other => return Err(format!("--hmac-algorithm {other:?}: use sha256 or sha512")),
        };
        Ok(Scheme::custom(crate::signature::Spec::body_hmac(
            header,
            &self.hmac_prefix,
            algorithm,
            encoding,
        )))
    }

    fn secret(&self) -> Result<Secret, String> {
        let source = match (&self.secret_env, &self.secret_file) {
            (Some(var), None) => SecretSource::Env(var.clone()),
            (None, Some(file)) => SecretSource::File(file.clone()),
            _ => return Err("give the secret with --secret-env VAR or --secret-file FILE".into()),
        };
        source.read()
    }

    fn key(&self, scheme: &Scheme) -> Result<Key, String> {
        let secret = self.secret()?;
        scheme
            .key_from_secret(secret.bytes())
            .map_err(|err| format!("the {}: {err}", secret.source))
    }

    fn body(&self) -> Result<Vec<u8>, String> {
        match &self.body_file {
            Some(path) => std::fs::read(path)
                .map_err(|err| format!("cannot read --body-file {}: {err}", path.display())),
            None => {
                let mut body = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut body)
                    .map_err(|err| format!("cannot read the body from standard input: {err}"))?;
                Ok(body)
            }
        }
    }

    fn now(&self) -> UnixSeconds {
        self.at.unwrap_or_else(service::system_clock)
    }
}

fn sign(args: SignArgs) -> ExitCode {
    let result = (|| -> Result<String, String> {
        let scheme = args.scheme.scheme()?;
        let body = args.scheme.body()?;
        let id = args.id.clone().unwrap_or_else(random_message_id);
        let secret = args.scheme.secret()?;
        if scheme.signs_inside_body() {
            // Adyen: the proof goes inside each notification; print the signed body.
            let signed = scheme
                .sign_body(secret.bytes(), &body)
                .map_err(|err| format!("the {}: {err}", secret.source))?;
            return String::from_utf8(signed)
                .map(|text| text + "\n")
                .map_err(|_| "the signed body is not UTF-8".to_string());
        }
        let delivery = Delivery {
            body: &body,
            now: args.scheme.now(),
            id: &id,
            method: &args.scheme.method,
            url: args.scheme.url.as_deref(),
        };
        let headers = scheme
            .sign(secret.bytes(), &delivery)
            .map_err(|err| format!("the {}: {err}", secret.source))?;
        Ok(headers
            .iter()
            .map(|(name, value)| format!("{name}: {}\n", value.to_str().unwrap_or_default()))
            .collect())
    })();
    match result {
        Ok(lines) => {
            print!("{lines}");
            ExitCode::SUCCESS
        }
        Err(err) => fail(err),
    }
}

fn random_message_id() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the OS provides randomness");
    format!("msg_{}", hex::encode(bytes))
}

fn verify(args: VerifyArgs) -> ExitCode {
    let prepared = (|| -> Result<(Scheme, Key, HeaderMap, Vec<u8>), String> {
        let scheme = args.scheme.scheme()?;
        let key = args.scheme.key(&scheme)?;
        let headers = parse_headers(&args.headers)?;
        let body = args.scheme.body()?;
        Ok((scheme, key, headers, body))
    })();
    let (scheme, key, headers, body) = match prepared {
        Ok(prepared) => prepared,
        Err(err) => {
            eprintln!("hookwall: {err}");
            return ExitCode::from(2);
        }
    };
    // With --url, the URL's path stands for the route's path and its query for the request's.
    let url = args.scheme.url.as_deref().unwrap_or("/");
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let path = base
        .find("://")
        .and_then(|at| {
            base[at + 3..]
                .find('/')
                .map(|slash| &base[at + 3 + slash..])
        })
        .unwrap_or("/");
    let tolerance = args.tolerance.unwrap_or_else(|| scheme.default_tolerance());
    let verifier = crate::signature::Verifier::new(scheme, vec![key], tolerance).with_public_url(
        Some(PublicUrl {
            base: base.to_string(),
            route_path: path.to_string(),
        }),
    );
    let head = RequestHead {
        method: &args.scheme.method,
        path,
        query,
        headers: &headers,
    };
    match verifier.verify_request(head, &body, args.scheme.now()) {
        Ok(_) => {
            println!("valid: the signature matches the body");
            ExitCode::SUCCESS
        }
        Err(rejection) => {
            println!("invalid: {}", explain(&rejection, verifier.scheme()));
            ExitCode::FAILURE
        }
    }
}

/// The reason with the step that failed, for a person at a terminal.
fn explain(rejection: &Rejection, scheme: &crate::signature::Scheme) -> String {
    let comparing = match scheme.spec() {
        Some(spec) if spec.algorithm.is_public_key() => {
            "checking the signature of the signed content with the public key"
        }
        Some(spec) if spec.algorithm == crate::signature::Algorithm::Token => {
            "comparing with the expected token"
        }
        Some(spec) if spec.signed == [crate::signature::Part::Body] => {
            "comparing with the HMAC of the body"
        }
        _ => "comparing with the HMAC of the signed content",
    };
    let step = match rejection {
        Rejection::Missing { .. } | Rejection::Empty { .. } | Rejection::Duplicate { .. } => {
            "reading the header"
        }
        Rejection::NotAscii { .. }
        | Rejection::BadEncoding { .. }
        | Rejection::WrongLength { .. }
        | Rejection::BadFormat { .. } => "decoding the signature",
        Rejection::BadTimestamp { .. } | Rejection::StaleTimestamp { .. } => {
            "checking the timestamp (use --at to fix the clock)"
        }
        Rejection::MissingField { .. } => "reading the body",
        Rejection::Mismatch => comparing,
    };
    format!("{rejection} (step: {step})")
}

fn parse_headers(lines: &[String]) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("--header {line:?}: write it as \"Name: value\""))?;
        let name = HeaderName::try_from(name.trim())
            .map_err(|_| format!("--header {line:?}: {:?} is not a header name", name.trim()))?;
        let value = HeaderValue::try_from(value.trim())
            .map_err(|_| format!("--header {line:?}: the value is not a valid header value"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::explain;
    use crate::signature::{Rejection, Scheme};

    #[test]
    fn a_mismatch_names_the_check_the_scheme_makes() {
        let step = |name: &str| explain(&Rejection::Mismatch, &Scheme::builtin(name).unwrap());
        assert!(
            step("visma").contains("HMAC of the body"),
            "{}",
            step("visma")
        );
        assert!(
            step("stripe").contains("HMAC of the signed content"),
            "{}",
            step("stripe")
        );
        for public_key in ["discord", "sendgrid", "telnyx"] {
            assert!(
                step(public_key).contains("public key"),
                "{}",
                step(public_key)
            );
        }
        assert!(step("gitlab").contains("token"), "{}", step("gitlab"));
    }
}
