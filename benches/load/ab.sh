#!/usr/bin/env bash
# Two hookwall builds side by side, to see what one change is worth: both run on the same
# config, certificate and nginx upstream; wrk (keep-alive), new_connections (one delivery
# per TLS connection) or h2load (HTTP/2, 16 connections × 8 streams) drives them in turn,
# round after round, and each run prints requests/s and the build's CPU per request.
# Alternating cancels most of a noisy machine's drift.
#
#   benches/load/ab.sh --a /tmp/hookwall-before --b target/release/hookwall
#   benches/load/ab.sh --a OLD --b NEW --mode newconn --rounds 5 --duration 5s
#   benches/load/ab.sh --a OLD --b NEW --mode newconn --cert rsa --tls 1.2   (certificate: ec
#       (P-256, default) or rsa (2048); newconn's TLS version: 1.3 (default) or 1.2)
#   benches/load/ab.sh --a OLD --b NEW --mode h2 --rounds 5 --duration 5s
#
# Installs nothing; every run is bounded; every process it starts is stopped on exit.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

A="" B="" MODE=keepalive SIZE=1KiB ROUNDS=3 DURATION=5s CERT=ec TLS=1.3
while (($#)); do
    case $1 in
    --a) A=$2; shift ;;
    --b) B=$2; shift ;;
    --mode) MODE=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --cert) CERT=$2; shift ;;
    --tls) TLS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[[ -x $A && -x $B ]] || die "give two hookwall binaries: --a PATH --b PATH"
[[ $MODE == keepalive || $MODE == newconn || $MODE == h2 ]] ||
    die "--mode takes keepalive, newconn or h2"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds takes a positive number"
DURATION_S=$(seconds_of "$DURATION")
require_tools nginx:nginx wrk:wrk openssl:openssl curl:curl setsid:util-linux pgrep:procps
if [[ $MODE == h2 ]]; then require_tools h2load:nghttp2-client; fi
NO_BUILD=1 HOOKWALL_BIN=$A build_tools
make_workdir
make_cert "$CERT"
SECRET=$(openssl rand -hex 24)
BODY_FILE=$WORK/body.json
make_body "$(size_bytes "$SIZE")" "$BODY_FILE"
SIG=$(visma_signature "$SECRET" "$BODY_FILE")

mapfile -t PORTS < <(free_ports 5 "${PORT_BASE:-18180}")
USER_LINE=""
[[ $(id -u) == 0 ]] && USER_LINE="user root;"
mkdir -p "$WORK/upstream-tmp"
render "$LOAD_DIR/nginx-upstream.conf" "$WORK/upstream.conf" DIR="$WORK" \
    USER_LINE="$USER_LINE" UPSTREAM_PORT="${PORTS[0]}"
start_server upstream "$WORK/upstream.out" nginx -e "$WORK/upstream-error.log" -p "$WORK" \
    -c "$WORK/upstream.conf" -g "daemon off;"
declare -A PID URL
for side in a b; do
    if [[ $side == a ]]; then bin=$A port=${PORTS[1]} admin=${PORTS[2]}; else bin=$B port=${PORTS[3]} admin=${PORTS[4]}; fi
    render "$LOAD_DIR/hookwall.toml" "$WORK/$side.toml" DIR="$WORK" PORT="$port" ADMIN_PORT="$admin" \
        UPSTREAM_PORT="${PORTS[0]}" LOG_LEVEL=info SERVER_EXTRA="" LIMITS_EXTRA=""
    HOOKWALL_BENCH_SECRET=$SECRET start_server "$side" "$WORK/$side.log" "$bin" run --config "$WORK/$side.toml"
    PID[$side]=$SERVER_PID
    URL[$side]=https://127.0.0.1:$port/webhooks/visma
    wait_until 10 "$SERVER_PID" "$side" is_status 200 "http://127.0.0.1:$admin/readyz"
done

# one SIDE SECONDS — prints "requests seconds" of one run against SIDE.
one() {
    local side=$1 seconds=$2 out
    if [[ $MODE == keepalive ]]; then
        out=$(WRK_BODY_FILE=$BODY_FILE WRK_SIGNATURE=$SIG timeout $((seconds + 30)) wrk -t2 -c64 \
            -d"${seconds}s" -s "$LOAD_DIR/wrk-post.lua" "${URL[$side]}" 2>&1)
        awk '/^WRK_RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
            print r["requests"], r["duration_us"] / 1e6 }' <<<"$out"
    elif [[ $MODE == h2 ]]; then
        # h2load's "finished in 5.00s, …" and "requests: N total, N started, N done, …".
        out=$(timeout $((seconds + 30)) h2load -t2 -c16 -m8 -D "$seconds" -d "$BODY_FILE" \
            -H "content-type: application/json" -H "x-vwd-signature-v1: $SIG" "${URL[$side]}" 2>&1)
        grep -q '^status codes: [0-9]* 2xx' <<<"$out" || die "h2load failed: $(tail -3 <<<"$out")"
        awk '/^finished in/ { sub(/s,$/, "", $3); s = $3 } /^requests:/ { n = $6 }
            END { print n, s }' <<<"$out"
    else
        out=$(timeout $((seconds + 30)) "$NEW_CONNECTIONS_BIN" --url "${URL[$side]}" --tls "$TLS" --warmup 0s \
            --duration "${seconds}s" --body-file "$BODY_FILE" -H "content-type: application/json" \
            -H "x-vwd-signature-v1: $SIG" 2>&1)
        grep '^NEW_CONNECTIONS ' <<<"$out" | grep -o '"completed":[0-9]*\|"duration_s":[0-9.]*' |
            cut -d: -f2 | paste -sd' '
    fi
}

log "$MODE, $SIZE, $CERT certificate, TLS $TLS (newconn), $ROUNDS rounds of $DURATION each: a = $A, b = $B"
for round in $(seq "$ROUNDS"); do
    for side in a b; do
        one "$side" 1 >/dev/null # warm-up
        before=$(cpu_ticks "${PID[$side]}")
        read -r requests seconds <<<"$(one "$side" "$DURATION_S")"
        after=$(cpu_ticks "${PID[$side]}")
        awk -v s="$side" -v r="$round" -v n="$requests" -v t="$seconds" -v ticks=$((after - before)) \
            -v hz="$CLK_TCK" 'BEGIN { printf "%s round %d: %8.0f req/s  %7.1f µs CPU/req\n", s, r, n / t, ticks * 1e6 / hz / n }'
    done
done
