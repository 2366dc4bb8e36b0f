//! What a new user meets first, driven through the real binary: `check`'s summary in the
//! config's own words, listen-address and TLS errors that say the fix, a minimum config (and
//! the example) passing `check` with nothing but the secret's variable, the embedded
//! default's banner naming a binary that runs and its logs following the JSON-unless-terminal
//! rule, the reload log line naming what it reloaded, README's Kubernetes steps in order, and
//! its Visma steps and troubleshooting list naming what hookwall really logs and counts.

use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

const BIN: &str = env!("CARGO_BIN_EXE_hookwall");

/// `hookwall ARGS` with an empty environment but PATH and the given variables: a fresh machine.
fn fresh(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(BIN);
    command.args(args).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.envs(vars.iter().copied());
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_prints_each_route_in_the_words_of_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        r#"
[upstream]
url = "http://127.0.0.1:8080"
timeout = "90s"
[[route]]
path = "/webhooks/stripe"
name = "stripe"
scheme = "stripe"
secrets = [{ env = "STRIPE_SECRET" }]
tolerance = "10m"
dedupe = "24h"
mode = "shadow"
methods = ["POST", "PUT"]
[[route]]
path = "/webhooks/visma"
scheme = "visma"
secrets = [{ env = "VISMA_SECRET" }]
allow_sources = ["18.202.121.26"]
"#,
    )
    .unwrap();
    let output = fresh(
        &["check", "--config", config.to_str().unwrap()],
        &[("STRIPE_SECRET", "whsec_x"), ("VISMA_SECRET", "v")],
    );
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    for written in [
        "upstream.url     http://127.0.0.1:8080  timeout 90s",
        "  route /webhooks/stripe\n    name           stripe\n    scheme         stripe\n    mode           shadow",
        "    tolerance      10m\n    dedupe         24h  dedupe_max_entries 100000",
        "    mode           shadow\n    methods        POST, PUT\n",
        "    mode           enforce\n    methods        every method but CONNECT and TRACE\n",
        "    tolerance      not used (the visma scheme signs no timestamp)",
        "    dedupe         off",
        "    allow_sources  18.202.121.26/32",
        "    secrets        environment variable VISMA_SECRET",
    ] {
        assert!(stdout.contains(written), "{written:?} not in:\n{stdout}");
    }
    // Rust's debug forms are not what a person wrote.
    for debug_form in [
        "Http {",
        "authority",
        "Enforce",
        "Shadow",
        "Some(",
        "\"stripe\"",
    ] {
        assert!(!stdout.contains(debug_form), "{debug_form:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("whsec_x"), "a secret value was printed");
}

#[test]
fn check_says_a_mismatched_key_does_not_belong_to_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (one, other) = (test_cert(), test_cert());
    std::fs::write(dir.path().join("tls.crt"), one.cert_pem).unwrap();
    std::fs::write(dir.path().join("tls.key"), other.key_pem).unwrap();
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server.tls]\ncert_file = \"{0}/tls.crt\"\nkey_file = \"{0}/tls.key\"\n\
             [upstream]\nurl = \"http://127.0.0.1:8080\"\n[[route]]\npath = \"/w\"\n\
             scheme = \"visma\"\nsecrets = [{{ env = \"S\" }}]\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let output = fresh(
        &["check", "--config", config.to_str().unwrap()],
        &[("S", "s")],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stderr.contains("the private key does not belong to the certificate"),
        "{stderr}"
    );
    assert!(stderr.contains("server.tls.cert_file"), "{stderr}");
    assert!(!stderr.contains("KeyMismatch"), "{stderr}");
}

#[test]
fn a_bad_listen_address_says_which_form_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookwall.toml");
    let route = "[upstream]\nurl = \"http://127.0.0.1:8080\"\n[[route]]\npath = \"/w\"\nscheme = \"visma\"\nsecrets = [{ env = \"S\" }]\n";
    for (table, address, names) in [
        ("server", "localhost:8443", "\"localhost\" is a host name"),
        ("server", ":8443", "has a port but no address"),
        ("admin", "0.0.0.0:70000", "port 70000 is over 65535"),
    ] {
        std::fs::write(
            &config,
            format!("[{table}]\nlisten = \"{address}\"\n{route}"),
        )
        .unwrap();
        let output = fresh(
            &["check", "--config", config.to_str().unwrap()],
            &[("S", "s")],
        );
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{address}: {output:?}");
        for expected in [
            config.to_str().unwrap(),
            &format!("`{table}.listen`"),
            names,
            "\"0.0.0.0:8443\"",
            "\"127.0.0.1:8443\"",
        ] {
            assert!(stderr.contains(expected), "{expected:?} not in: {stderr}");
        }
        assert!(
            !stderr.contains("invalid socket address syntax"),
            "{stderr}"
        );
    }
    // The same on the command line.
    let output = fresh(&["--listen", "localhost:8443"], &[]);
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("is a host name"), "{stderr}");
    assert!(stderr.contains("\"127.0.0.1:8443\""), "{stderr}");
}

/// The `toml walkthrough file=hookwall.toml` block of README.md: its minimum config.
fn readme_minimum_config() -> String {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let start = readme
        .find("```toml walkthrough file=hookwall.toml\n")
        .expect("README marks its minimum config with ```toml walkthrough file=hookwall.toml");
    let body = &readme[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

#[test]
fn the_minimum_config_and_the_example_pass_check_with_only_the_secret_variable() {
    let dir = tempfile::tempdir().unwrap();
    let minimum = dir.path().join("hookwall.toml");
    std::fs::write(&minimum, readme_minimum_config()).unwrap();
    let example = repo_path("deploy/hookwall.example.toml");
    for config in [minimum.as_path(), example.as_path()] {
        for args in [
            vec!["check", "--config", config.to_str().unwrap()],
            vec!["check", config.to_str().unwrap()],
        ] {
            let output = fresh(&args, &[("VISMA_WEBHOOK_SECRET", "s3cret")]);
            assert!(output.status.success(), "{args:?}: {output:?}");
            assert!(text(&output.stdout).contains("is valid"), "{output:?}");
        }
        // And the variable is all it needs: without it, check names it.
        let output = fresh(&["check", config.to_str().unwrap()], &[]);
        assert_eq!(output.status.code(), Some(1));
        assert!(
            text(&output.stderr).contains("VISMA_WEBHOOK_SECRET"),
            "{output:?}"
        );
    }
}

#[test]
fn readme_kubernetes_steps_run_in_order_against_the_manifests() {
    let output = Command::new("python3")
        .arg(repo_path("tests/support/walkthrough.py"))
        .arg("kubernetes")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// The embedded default on free loopback ports, stdout a pipe; returns its banner and the
/// rest of its output.
async fn start_embedded() -> (Child, Vec<String>, Lines<BufReader<ChildStdout>>) {
    let mut child = tokio::process::Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .env("HOOKWALL_SECRET", SECRET_A)
        .env_remove("RUST_LOG")
        .current_dir(repo_path(""))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.contains(" sign --scheme visma");
            banner.push(line);
            if done {
                return;
            }
        }
        panic!("exited before the banner's last line: {banner:#?}");
    })
    .await
    .expect("banner printed");
    (child, banner, lines)
}

/// The first later line containing `needle`, within 10 s.
async fn line_with(lines: &mut Lines<BufReader<ChildStdout>>, needle: &str) -> String {
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("exited before a line with {needle:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("no line with {needle:?} within 10 s"))
}

#[tokio::test]
async fn the_embedded_default_logs_json_when_stdout_is_not_a_terminal() {
    let (_child, banner, mut lines) = start_embedded().await;
    let signed = banner
        .iter()
        .find(|line| line.trim_start().starts_with("curl ") && !line.contains("forged"))
        .expect("the banner's signed curl command");
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} -sS -o /dev/null -w '%{{http_code}}'",
            signed.trim()
        ))
        .output()
        .await
        .unwrap();
    assert_eq!(text(&status.stdout), "200", "{status:?}");
    let line = line_with(&mut lines, "forwarded").await;
    let parsed: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|err| panic!("the request's log line is not JSON ({err}): {line}"));
    assert_eq!(parsed["outcome"], "forwarded", "{line}");
    assert_eq!(parsed["route"], "/webhooks/visma", "{line}");
}

#[tokio::test]
async fn the_banner_signs_with_a_binary_that_runs_where_it_was_started() {
    let (_child, banner, _lines) = start_embedded().await;
    let sign = banner.last().unwrap().trim().to_string();
    // Run exactly as printed, from where hookwall was started, with HOOKWALL_SECRET set as
    // it was then, and PATH without any hookwall on it.
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&sign)
        .current_dir(repo_path(""))
        .env("HOOKWALL_SECRET", SECRET_A)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{sign}: {output:?}");
    assert_eq!(
        text(&output.stdout).trim_end(),
        format!(
            "x-vwd-signature-v1: {}",
            visma_signature(SECRET_A, b"{\"hello\":1}")
        ),
        "{sign}"
    );
    let program = Path::new(BIN)
        .strip_prefix(std::fs::canonicalize(repo_path("")).unwrap())
        .map(|relative| relative.display().to_string())
        .unwrap_or_else(|_| BIN.to_string());
    assert!(sign.contains(&format!("| {program} sign ")), "{sign}");
}

#[tokio::test]
async fn a_secret_file_change_logs_secrets_reloaded_and_counts_kind_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("signature-key");
    std::fs::write(&secret, "first-secret-value\n").unwrap();
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nreload_interval = \"100ms\"\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n[upstream]\nurl = \"http://127.0.0.1:9\"\n\
             [log]\nformat = \"json\"\n[[route]]\npath = \"/w\"\nscheme = \"visma\"\n\
             secrets = [{{ file = \"{}\" }}]\n",
            secret.display()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready: serde_json::Value =
        serde_json::from_str(&line_with(&mut lines, "hookwall ready").await).unwrap();
    let admin: std::net::SocketAddr = ready["admin"].as_str().unwrap().parse().unwrap();

    std::fs::write(&secret, "second-secret-value\n").unwrap();
    let line = line_with(&mut lines, "reloaded").await;
    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["message"], "secrets reloaded", "{line}");
    assert_eq!(parsed["kind"], "secrets", "{line}");
    assert_eq!(parsed["files"], secret.display().to_string(), "{line}");
    assert!(
        !line.contains("secret-value"),
        "a secret was logged: {line}"
    );

    let (_, _, body) = plain_get(admin, "/metrics").await;
    let metrics = text(&body);
    assert_eq!(
        metric_value(
            &metrics,
            "hookwall_reloads_total{kind=\"secrets\",result=\"success\"}"
        ),
        1.0,
        "{metrics}"
    );
}

/// The rows of README's "When deliveries do not arrive" table: (symptom, how to tell).
fn readme_troubleshooting_rows() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let start = readme
        .find("### When deliveries do not arrive")
        .expect("README has a troubleshooting list for Visma deliveries");
    let section = &readme[start..];
    let end = section[4..].find("\n#").map_or(section.len(), |i| i + 4);
    section[..end]
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| symptom"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
            (cells[0].trim().to_string(), cells[1].trim().to_string())
        })
        .collect()
}

/// Every `"key":"value"` and `metric{labels}` a README cell names, e.g. `"outcome":"x"`.
fn quoted_pairs(cell: &str, key: &str) -> Vec<String> {
    let marker = format!("\"{key}\":\"");
    cell.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &cell[at + marker.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

fn metric_selectors(cell: &str) -> Vec<Vec<(String, String)>> {
    cell.match_indices("hookwall_requests_total{")
        .map(|(at, found)| {
            let rest = &cell[at + found.len()..];
            rest[..rest.find('}').unwrap()]
                .split(',')
                .map(|pair| {
                    let (name, value) = pair.split_once('=').unwrap();
                    (name.to_string(), value.trim_matches('"').to_string())
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn readme_troubleshooting_names_the_log_lines_and_metrics_hookwall_really_emits() {
    let rows = readme_troubleshooting_rows();
    let symptoms: Vec<&str> = rows.iter().map(|(symptom, _)| symptom.as_str()).collect();
    for expected in [
        "nothing arrives",
        "`401 bad_signature`",
        "`404`",
        "`403 source_denied`",
    ] {
        assert!(symptoms.contains(&expected), "{expected} in {symptoms:?}");
    }

    // A hookwall with a Visma route, and one whose allowlist excludes loopback.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [upstream]\nurl = \"http://127.0.0.1:9\"\n[log]\nformat = \"json\"\n\
         [[route]]\npath = \"/webhooks/visma\"\nname = \"visma\"\nscheme = \"visma\"\n\
         secrets = [{ env = \"VISMA_WEBHOOK_SECRET\" }]\n\
         [[route]]\npath = \"/webhooks/partner\"\nscheme = \"visma\"\n\
         secrets = [{ env = \"VISMA_WEBHOOK_SECRET\" }]\nallow_sources = [\"192.0.2.1\"]\n",
    )
    .unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .args(["run", "--config", config.to_str().unwrap()])
        .env("VISMA_WEBHOOK_SECRET", SECRET_A)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready: serde_json::Value =
        serde_json::from_str(&line_with(&mut lines, "hookwall ready").await).unwrap();
    let (proxy, admin) = (
        ready["proxy"].as_str().unwrap().to_string(),
        ready["admin"].as_str().unwrap().parse().unwrap(),
    );

    // Each symptom with a status, caused as README says it is.
    let body = br#"{"event":"CustomerChanged"}"#;
    let forged = visma_signature("another-key", body);
    for (path, status) in [
        ("/webhooks/visma", "401"),
        ("/webhooks/visma-old", "404"),
        ("/webhooks/partner", "403"),
    ] {
        let output = tokio::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--data-binary",
            ])
            .arg(std::str::from_utf8(body).unwrap())
            .arg("-H")
            .arg(format!("x-vwd-signature-v1: {forged}"))
            .arg(format!("http://{proxy}{path}"))
            .output()
            .await
            .unwrap();
        assert_eq!(text(&output.stdout), status, "{path}");
    }

    // What the "how to tell" column names is what hookwall logged and counted.
    let mut logged = Vec::new();
    for _ in 0..3 {
        let line = line_with(&mut lines, "\"outcome\"").await;
        logged.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
    }
    let (_, _, metrics) = plain_get(admin, "/metrics").await;
    let metrics = text(&metrics);
    for (symptom, how_to_tell) in rows.iter().filter(|(s, _)| s.starts_with("`4")) {
        let status: u64 = symptom[1..4].parse().unwrap();
        let outcomes = quoted_pairs(how_to_tell, "outcome");
        assert!(!outcomes.is_empty(), "{symptom}: names no log outcome");
        for outcome in outcomes {
            let line = logged
                .iter()
                .find(|line| line["outcome"] == outcome.as_str())
                .unwrap_or_else(|| panic!("{symptom}: no log line with outcome {outcome}"));
            assert_eq!(line["status"], status, "{symptom}: {line}");
            if how_to_tell.contains("`peer`") {
                assert!(line["peer"].is_string(), "{symptom}: no peer in {line}");
            }
        }
        let selectors = metric_selectors(how_to_tell);
        assert!(!selectors.is_empty(), "{symptom}: names no metric");
        for labels in selectors {
            let counted: f64 = metrics
                .lines()
                .filter(|line| line.starts_with("hookwall_requests_total{"))
                .filter(|line| {
                    labels
                        .iter()
                        .all(|(name, value)| line.contains(&format!("{name}=\"{value}\"")))
                })
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            assert!(
                counted >= 1.0,
                "{symptom}: {labels:?} counted nothing:\n{metrics}"
            );
        }
    }
}

#[test]
fn readme_visma_steps_include_tenant_approval_and_the_erp_checkbox_before_the_first_change() {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let flow = &readme[readme
        .find("Following Visma's set-up flow")
        .expect("README walks through Visma's set-up")..];
    let step = |needle: &str| {
        flow.find(needle)
            .unwrap_or_else(|| panic!("Visma's set-up flow in README lacks {needle:?}"))
    };
    let subscription = step("**Create the webhook subscription**");
    let approval = step("approve the webhook scopes");
    let app_store = step("Visma App Store, on your application's page,\n   at the bottom");
    let checkbox = step("*Webhook notification* check box");
    let first_change = step("**Make a change in Visma Net ERP**");
    assert!(subscription < approval && approval < app_store, "{flow}");
    assert!(app_store < checkbox && checkbox < first_change, "{flow}");
}
