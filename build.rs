//! Stamps the git commit into the binary for `hookwall --version` (as `HOOKWALL_REVISION`),
//! so a running image can be traced back to its source without guessing.
//!
//! Where it comes from, first match wins: the `HOOKWALL_REVISION` environment variable (the
//! Dockerfile's build stage has no `.git/` and passes its `REVISION` build argument this way);
//! `git rev-parse --short HEAD` when this package is the root of a git checkout; otherwise
//! "unknown" (a source tarball, or git not installed). Never fails the build.

use std::path::Path;
use std::process::Command;

const OVERRIDE: &str = "HOOKWALL_REVISION";
const UNKNOWN: &str = "unknown";

fn main() {
    println!("cargo:rerun-if-env-changed={OVERRIDE}");
    println!("cargo:rerun-if-changed=build.rs");
    let revision = match std::env::var(OVERRIDE) {
        Ok(given) if is_revision(&given) => given,
        _ => git_revision().unwrap_or_else(|| UNKNOWN.to_owned()),
    };
    println!("cargo:rustc-env={OVERRIDE}={revision}");
}

/// A short or full commit id, or "unknown": anything else (a typo, a stray quote) would
/// end up in `--version`, so it is ignored.
fn is_revision(text: &str) -> bool {
    text == UNKNOWN
        || ((4..=40).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The checkout's short commit, and tells cargo to run this again when HEAD moves.
fn git_revision() -> Option<String> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    // Only this package's own checkout: a crate unpacked inside some other repository must
    // not report that repository's commit.
    let top_level = git(&manifest_dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top_level).canonicalize().ok()? != Path::new(&manifest_dir).canonicalize().ok()? {
        return None;
    }
    // HEAD, the branch it points to, and packed-refs: a commit or checkout changes one of them.
    // (--git-path resolves them in worktrees too, where .git is a file.)
    for name in ["HEAD", "packed-refs"] {
        rerun_if_git_path_changes(&manifest_dir, name);
    }
    if let Some(branch) = git(&manifest_dir, &["symbolic-ref", "-q", "HEAD"]) {
        rerun_if_git_path_changes(&manifest_dir, &branch);
    }
    let revision = git(&manifest_dir, &["rev-parse", "--short", "HEAD"])?;
    is_revision(&revision).then_some(revision)
}

/// Only for files that exist: cargo would rerun this script on every build for a missing one.
fn rerun_if_git_path_changes(manifest_dir: &str, name: &str) {
    if let Some(relative) = git(manifest_dir, &["rev-parse", "--git-path", name]) {
        let path = Path::new(manifest_dir).join(relative);
        if path.is_file() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// Runs git in `dir`; its trimmed output, or None if git is missing or fails.
fn git(dir: &str, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.trim().to_owned())
}
