#!/usr/bin/env bash
# Builds and runs hookwall's fuzz targets, each for a bounded time.
#
#   fuzz/run.sh                    every target, 60 s each
#   fuzz/run.sh 300                every target, 300 s each
#   fuzz/run.sh 30 config_loader   one target, 30 s
#
# FUZZ_SECONDS overrides the default duration too. Needs the nightly toolchain and
# cargo-fuzz (`cargo install cargo-fuzz`). Findings land in fuzz/artifacts/<target>/; the
# corpus grows in fuzz/corpus/<target>/ (both gitignored). Exits non-zero on a finding.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-${FUZZ_SECONDS:-60}}"
shift || true
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2
  exit 2
fi

for target in "${targets[@]}"; do
  cargo +nightly fuzz build "$target"
done

status=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" artifacts
  extra=()
  case "$target" in
    config_loader)
      # The complete example config is the best seed there is.
      if [ -f ../deploy/hookwall.example.toml ]; then
        cp ../deploy/hookwall.example.toml "corpus/$target/hookwall.example.toml"
      fi
      extra=(-dict=config.dict -max_len=8192)
      ;;
    signature_headers)
      extra=(-max_len=4096)
      ;;
  esac
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  echo "== $target: ${seconds}s"
  started=$(date +%s)
  if cargo +nightly fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
      -max_total_time="$seconds" -print_final_stats=1 "${extra[@]}" 2>"artifacts/$target.log"; then
    result="no finding"
  else
    result="FINDING (see fuzz/artifacts/$target.log and fuzz/artifacts/$target/)"
    status=1
  fi
  runs=$(grep -E "^stat::number_of_executed_units" "artifacts/$target.log" | awk '{print $2}' || true)
  corpus=$(find "corpus/$target" -type f | wc -l)
  echo "== $target: $result; ${runs:-?} runs in $(( $(date +%s) - started ))s; corpus $corpus inputs"
done
exit $status
