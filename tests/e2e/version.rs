//! `hookwall --version`: the package version and the git commit the binary was built from
//! (build.rs), so an image or a binary on a server can be traced back to its source.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_hookwall");

/// What build.rs should have stamped: this checkout's short commit, or "unknown" when the
/// tests run outside a git checkout (or without git).
fn expected_revision() -> String {
    if let Ok(given) = std::env::var("HOOKWALL_REVISION") {
        return given;
    }
    let manifest_dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(manifest_dir)
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let in_own_checkout = git(&["rev-parse", "--show-toplevel"]).is_some_and(|top| {
        std::fs::canonicalize(top).ok() == std::fs::canonicalize(manifest_dir).ok()
    });
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(revision) if in_own_checkout => revision,
        _ => "unknown".to_owned(),
    }
}

#[test]
fn version_prints_the_package_version_and_the_git_commit() {
    for flag in ["--version", "-V"] {
        let output = Command::new(BIN).arg(flag).output().unwrap();
        assert!(output.status.success(), "{flag}: {output:?}");
        let printed = String::from_utf8(output.stdout).unwrap();
        let expected = format!(
            "hookwall {} (commit {})\n",
            env!("CARGO_PKG_VERSION"),
            expected_revision()
        );
        assert_eq!(printed, expected, "{flag}");
    }
}
