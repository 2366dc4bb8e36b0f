//! The `hookwall` binary: `check`, `sign`, `verify`, `--help`, and the embedded default
//! started with no config, driven with the very commands it prints.

use crate::common::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_hookwall");

fn hookwall(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    command
}

fn run_with_stdin(mut command: Command, stdin: &[u8]) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["check", "--help"],
        vec!["sign", "--help"],
        vec!["verify", "--help"],
    ] {
        let output = hookwall(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn check_summarises_a_valid_config_without_secret_values() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "do-not-print-me\n").unwrap();
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[upstream]\nurl = \"http://127.0.0.1:8080\"\n[[route]]\npath = \"/webhooks/visma\"\nscheme = \"visma\"\nsecrets = [{{ file = \"{}\" }}]\n",
            secret.display()
        ),
    )
    .unwrap();
    let output = hookwall(&["check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("is valid"), "{stdout}");
    assert!(stdout.contains("/webhooks/visma"), "{stdout}");
    assert!(!stdout.contains("do-not-print-me"), "{stdout}");
}

#[test]
fn check_errors_name_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    let cases = [
        (
            "[upstream]\nurl = \"http://127.0.0.1:8080\"\ncolour = \"blue\"\n",
            "colour",
        ),
        (
            "[upstream]\nurl = \"http://127.0.0.1:8080\"\n[[route]]\npath = \"/w\"\nscheme = \"visma\"\nsecrets = [{ env = \"HOOKWALL_TEST_UNSET_VARIABLE_42\" }]\n",
            "route[0].secrets[0].env",
        ),
        (
            "[upstream]\nurl = \"http://127.0.0.1:8080\"\n[[route]]\npath = \"/w\"\nscheme = \"visma\"\nsecrets = [{ file = \"/nonexistent/secret\" }]\n",
            "/nonexistent/secret",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&config, text).unwrap();
        let output = hookwall(&["check", "--config", config.to_str().unwrap()])
            .env_remove("HOOKWALL_TEST_UNSET_VARIABLE_42")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(config.to_str().unwrap()), "{stderr}");
        assert!(stderr.contains(expected), "expected {expected} in {stderr}");
    }
}

#[test]
fn sign_then_verify_round_trips_and_tampering_is_caught() {
    let body = br#"{"event":"CustomerChanged"}"#;
    let mut sign = hookwall(&["sign", "--scheme", "visma", "--secret-env", "CLI_SECRET"]);
    sign.env("CLI_SECRET", SECRET_A);
    let output = run_with_stdin(sign, body);
    assert!(output.status.success(), "{output:?}");
    let line = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        line.trim_end(),
        format!("x-vwd-signature-v1: {}", visma_signature(SECRET_A, body))
    );

    let verify = |body: &[u8]| {
        let mut command = hookwall(&[
            "verify",
            "--scheme",
            "visma",
            "--secret-env",
            "CLI_SECRET",
            "--header",
            line.trim_end(),
        ]);
        command.env("CLI_SECRET", SECRET_A);
        run_with_stdin(command, body)
    };
    let valid = verify(body);
    assert_eq!(valid.status.code(), Some(0), "{valid:?}");
    let invalid = verify(b"{\"event\":\"Forged\"}");
    assert_eq!(invalid.status.code(), Some(1));
    let reason = String::from_utf8_lossy(&invalid.stdout);
    assert!(reason.contains("does not match"), "{reason}");
    assert!(reason.contains("step"), "{reason}");
}

#[test]
fn verify_with_at_fixes_the_clock_for_timestamped_schemes() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("stripe");
    std::fs::write(&secret, "whsec_cli_test").unwrap();
    let secret = secret.to_str().unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, "{\"id\":\"evt_1\"}").unwrap();
    let body = body.to_str().unwrap();
    let signed = hookwall(&[
        "sign",
        "--scheme",
        "stripe",
        "--secret-file",
        secret,
        "--body-file",
        body,
        "--at",
        "1700000000",
    ])
    .output()
    .unwrap();
    let header = String::from_utf8(signed.stdout).unwrap();
    let verify_at = |at: &str| {
        hookwall(&[
            "verify",
            "--scheme",
            "stripe",
            "--secret-file",
            secret,
            "--body-file",
            body,
            "--header",
            header.trim_end(),
            "--at",
            at,
        ])
        .output()
        .unwrap()
    };
    assert_eq!(verify_at("1700000100").status.code(), Some(0));
    let stale = verify_at("1700009999");
    assert_eq!(stale.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stale.stdout).contains("timestamp"));
}

#[test]
fn verify_reports_a_missing_header_by_name() {
    let mut command = hookwall(&["verify", "--scheme", "github", "--secret-env", "CLI_SECRET"]);
    command.env("CLI_SECRET", "s");
    let output = run_with_stdin(command, b"{}");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("x-hub-signature-256"));
}

/// Starts the binary with no config and returns it with its printed banner.
async fn start_embedded() -> (tokio::process::Child, Vec<String>) {
    let mut child = tokio::process::Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .env_remove("HOOKWALL_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.contains("hookwall sign");
            banner.push(line);
            if done {
                break;
            }
        }
    })
    .await
    .expect("banner printed");
    // Keep draining the log so the process never blocks on a full pipe; remember it.
    let (log_tx, _) = tokio::sync::broadcast::channel::<String>(1);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = log_tx.send(line);
        }
    });
    (child, banner)
}

fn banner_value(banner: &[String], label: &str) -> String {
    banner
        .iter()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .map(|rest| rest.split_whitespace().next().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {label} in banner {banner:#?}"))
}

#[tokio::test]
async fn embedded_default_serves_the_printed_test_commands() {
    let (mut child, banner) = start_embedded().await;
    let curl_lines: Vec<&String> = banner
        .iter()
        .filter(|line| line.trim_start().starts_with("curl "))
        .collect();
    assert_eq!(curl_lines.len(), 2, "{banner:#?}");
    let admin = banner_value(&banner, "admin");
    let secret = banner_value(&banner, "secret");
    assert!(banner.iter().any(|l| l.contains("development secret")));

    for (line, expected) in [(curl_lines[0], "200"), (curl_lines[1], "401")] {
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} -sS -o /dev/null -w '%{{http_code}}'",
                line.trim()
            ))
            .output()
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            expected,
            "{line}: {output:?}"
        );
    }

    // The printed secret is the one in use.
    let body = br#"{"from":"test"}"#;
    let url = banner_value(&banner, "proxy");
    let output = tokio::process::Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--data-binary",
        ])
        .arg(std::str::from_utf8(body).unwrap())
        .arg("-H")
        .arg(format!(
            "x-vwd-signature-v1: {}",
            visma_signature(&secret, body)
        ))
        .arg(&url)
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "200");

    let metrics = tokio::process::Command::new("curl")
        .args(["-s", &admin])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&metrics.stdout);
    assert_eq!(
        metric_value(
            &text,
            "hookwall_requests_total{outcome=\"forwarded\",route=\"/webhooks/visma\"}"
        ),
        2.0
    );
    assert_eq!(
        metric_value(
            &text,
            "hookwall_requests_total{outcome=\"bad_signature\",route=\"/webhooks/visma\"}"
        ),
        1.0
    );

    let pid = child.id().unwrap().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}
