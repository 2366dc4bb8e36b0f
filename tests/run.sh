#!/usr/bin/env bash
# hookwall's test command (the one README gives): installs what the tests need, then runs
# every test — unit, integration and end to end on loopback — and the deploy checks.
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/install
cargo test
# README's walk-through, exactly as written and in order (its `cargo run` builds hookwall
# once more, without the tests' dev-dependency features), in a network namespace of its own.
python3 tests/support/walkthrough.py
if [ -x .ci/deploy-checks ]; then
  .ci/deploy-checks
fi
