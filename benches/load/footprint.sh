#!/usr/bin/env bash
# hookwall's footprint, in one run: stripped release binary size; start-to-ready time (spawn
# to the first 200 from /readyz on the admin port, polled in a tight loop); RSS when idle;
# RSS while holding 1,000 idle TLS keep-alive connections (benches/hold_connections.rs), with
# nginx as a TLS proxy holding the same for comparison; what 1 MiB deliveries cost in RSS.
#
# Each memory measurement uses a fresh hookwall. The bench config raises
# `server.header_read_timeout` and `server.idle_timeout` (both close idle keep-alive
# connections, after 15 s and 60 s by default) and `limits.max_connections` (1024 by default:
# at capacity hookwall evicts the longest-idle connection), so the held connections stay open.
#
# Installs nothing; names missing tools. Every wait is bounded; everything started is stopped.
#   benches/load/footprint.sh [--connections 1000] [--hold 20s] [--starts 10] [--no-build] [--keep]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF'
usage: benches/load/footprint.sh [options]
  --connections 1000   idle keep-alive TLS connections to hold
  --hold 20s           how long the client holds them (RSS is read 2 s after all are open)
  --starts 10          start-to-ready measurements (min, median, max reported)
  --no-nginx           skip nginx's memory with the same connections
  --no-build           use the existing release build (or HOOKWALL_BIN=path)
  --keep               keep the work dir
  --out FILE           also write the report to FILE
EOF
}

CONNECTIONS=1000
HOLD=20s
STARTS=10
WITH_NGINX=1
OUT=""
while (($#)); do
    case $1 in
    --connections) CONNECTIONS=$2; shift ;;
    --hold) HOLD=$2; shift ;;
    --starts) STARTS=$2; shift ;;
    --no-nginx) WITH_NGINX=0 ;;
    --no-build) NO_BUILD=1 ;;
    --keep) KEEP=1 ;;
    --out) OUT=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
    esac
    shift
done
HOLD_S=$(seconds_of "$HOLD")
((HOLD_S >= 5)) || die "--hold must be at least 5s"
[[ $STARTS =~ ^[1-9][0-9]*$ ]] || die "--starts takes a positive number"

require_tools nginx:nginx openssl:openssl curl:curl setsid:util-linux pgrep:procps \
    strip:binutils cargo:cargo
build_tools
make_workdir
raise_open_files
REPORT=$WORK/report.txt

SECRET=$(openssl rand -hex 24)
make_cert
make_body 1024 "$WORK/body-1KiB.json"
make_body $((1024 * 1024)) "$WORK/body-1MiB.json"
SIG_1K=$(visma_signature "$SECRET" "$WORK/body-1KiB.json")
SIG_1M=$(visma_signature "$SECRET" "$WORK/body-1MiB.json")
check_signature_with_hookwall "$HOOKWALL_BIN" "$SECRET" "$WORK/body-1KiB.json" "$SIG_1K"

mapfile -t PORTS < <(free_ports 4 "${PORT_BASE:-18180}")
UPSTREAM_PORT=${PORTS[0]} HOOKWALL_PORT=${PORTS[1]} ADMIN_PORT=${PORTS[2]} NGINX_TLS_PORT=${PORTS[3]}
USER_LINE=""
[[ $(id -u) == 0 ]] && USER_LINE="user root;"
mkdir -p "$WORK"/{upstream,nginx-tls}-tmp

render "$LOAD_DIR/nginx-upstream.conf" "$WORK/upstream.conf" DIR="$WORK" \
    USER_LINE="$USER_LINE" UPSTREAM_PORT="$UPSTREAM_PORT"
start_server upstream "$WORK/upstream.out" nginx -e "$WORK/upstream-error.log" -p "$WORK" \
    -c "$WORK/upstream.conf" -g "daemon off;"
wait_until 10 "$SERVER_PID" "upstream nginx" is_status 200 "http://127.0.0.1:$UPSTREAM_PORT/"

render "$LOAD_DIR/hookwall.toml" "$WORK/hookwall.toml" DIR="$WORK" PORT="$HOOKWALL_PORT" \
    ADMIN_PORT="$ADMIN_PORT" UPSTREAM_PORT="$UPSTREAM_PORT" LOG_LEVEL=info \
    SERVER_EXTRA="header_read_timeout = \"600s\"
idle_timeout = \"600s\"" LIMITS_EXTRA="max_connections = 4096"
URL=https://127.0.0.1:$HOOKWALL_PORT/webhooks/visma
READY_URL=http://127.0.0.1:$ADMIN_PORT/readyz
export HOOKWALL_BENCH_SECRET=$SECRET

start_hookwall() { # NAME — a fresh hookwall, ready; sets HW
    start_server "hookwall ($1)" "$WORK/hookwall-$1.log" "$HOOKWALL_BIN" run --config "$WORK/hookwall.toml"
    HW=$SERVER_PID
    wait_until 10 "$HW" hookwall is_status 200 "$READY_URL"
}

deliver() { # BODY SIGNATURE — one delivery over TLS; must be answered 200
    local got
    got=$(http_status "$URL" --cacert "$WORK/tls.crt" -X POST -H 'Content-Type: application/json' \
        -H 'Expect:' -H "x-vwd-signature-v1: $2" --data-binary "@$1")
    [[ $got == 200 ]] || die "a delivery of $1 was answered $got, not 200"
}

# /readyz without forking: bash's /dev/tcp, so the poll loop is tight.
probe_ready() {
    local line=""
    { exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT"; } 2>/dev/null || return 1
    printf 'GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
    IFS= read -r -t 2 line <&3 || true
    exec 3<&- 3>&-
    [[ $line == HTTP/1.?" 200"* ]]
}

# --- binary size -----------------------------------------------------------------------
strip -o "$WORK/hookwall.stripped" "$HOOKWALL_BIN"
SIZE_RAW=$(stat -c %s "$HOOKWALL_BIN")
SIZE_STRIPPED=$(stat -c %s "$WORK/hookwall.stripped")

# --- start to ready --------------------------------------------------------------------
log "start-to-ready: $STARTS starts"
STARTUP_MS=()
for i in $(seq "$STARTS"); do
    t0=$EPOCHREALTIME
    setsid "$HOOKWALL_BIN" run --config "$WORK/hookwall.toml" >"$WORK/hookwall-start-$i.log" 2>&1 </dev/null &
    pid=$!
    SERVER_PIDS+=("$pid")
    until probe_ready; do
        kill -0 "$pid" 2>/dev/null || die "hookwall exited while starting: $(tail -3 "$WORK/hookwall-start-$i.log")"
        awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a > 10) }' &&
            die "hookwall not ready within 10 s"
    done
    t1=$EPOCHREALTIME
    STARTUP_MS+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')")
    stop_server "$pid"
done
read -r START_MIN START_MEDIAN START_MAX < <(printf '%s\n' "${STARTUP_MS[@]}" | sort -g |
    awk '{ v[NR] = $1 } END { print v[1], v[int((NR + 1) / 2)], v[NR] }')

# --- idle, and 1 MiB deliveries ---------------------------------------------------------
log "RSS idle and with 1 MiB deliveries"
start_hookwall idle
sleep 2
RSS_IDLE=$(mem_kb "$HW" VmRSS)
deliver "$WORK/body-1KiB.json" "$SIG_1K"
sleep 1
RSS_AFTER_1K=$(mem_kb "$HW" VmRSS)
HWM_BEFORE=$(mem_kb "$HW" VmHWM)
deliver "$WORK/body-1MiB.json" "$SIG_1M"
sleep 1
RSS_AFTER_1M=$(mem_kb "$HW" VmRSS)
HWM_AFTER_1M=$(mem_kb "$HW" VmHWM)
pids=()
for _ in $(seq 8); do
    deliver "$WORK/body-1MiB.json" "$SIG_1M" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || die "a concurrent 1 MiB delivery failed"; done
sleep 1
RSS_AFTER_8M=$(mem_kb "$HW" VmRSS)
HWM_AFTER_8M=$(mem_kb "$HW" VmHWM)
stop_server "$HW"

# --- idle keep-alive connections ------------------------------------------------------------
# hold TARGET_URL PID NAME — prints "rss_before rss_held pss_held still_open opened"
hold() {
    local url=$1 pid=$2 name=$3 out=$WORK/hold-$3.txt holder before held pss deadline
    before=$(mem_kb "$pid" VmRSS)
    : >"$out"
    "$HOLD_BIN" --url "$url" --cacert "$WORK/tls.crt" --connections "$CONNECTIONS" \
        --hold "$HOLD" --body-file "$WORK/body-1KiB.json" \
        --header "content-type: application/json" --header "x-vwd-signature-v1: $SIG_1K" \
        >"$out" 2>&1 &
    holder=$!
    deadline=$((SECONDS + 120))
    until grep -q '^HOLDING ' "$out"; do
        kill -0 "$holder" 2>/dev/null || die "hold_connections ($name) exited: $(tail -3 "$out")"
        ((SECONDS < deadline)) || die "hold_connections ($name) did not open its connections in 120 s"
        sleep 0.2
    done
    sleep 2
    held=$(mem_kb "$pid" VmRSS)
    pss=$(pss_kb "$pid")
    if [[ $name == hookwall ]]; then
        curl -s --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" |
            grep -E '^hookwall_connections_(open|parked|evicted_total|idle_closed_total) ' >"$WORK/hold-metrics.txt" || true
    fi
    timeout $((HOLD_S + 30)) tail --pid="$holder" -f /dev/null || kill "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
    echo "$before $held $pss $(awk '/^STILL_OPEN/ { print $2 }' "$out") $(awk '/^HOLDING/ { print $2 }' "$out")"
}

log "hookwall holding $CONNECTIONS idle TLS keep-alive connections for $HOLD"
start_hookwall hold
sleep 1
read -r HW_BEFORE HW_HELD HW_PSS HW_STILL HW_OPENED < <(hold "$URL" "$HW" hookwall)
sleep 2
HW_AFTER_CLOSE=$(mem_kb "$HW" VmRSS)
stop_server "$HW"

if ((WITH_NGINX)); then
    log "nginx (TLS proxy) holding the same connections"
    render "$LOAD_DIR/nginx-tls-proxy.conf" "$WORK/nginx-tls.conf" DIR="$WORK" \
        USER_LINE="$USER_LINE" PORT="$NGINX_TLS_PORT" UPSTREAM_PORT="$UPSTREAM_PORT" \
        ACCESS_LOG="access_log $WORK/nginx-tls-access.log;"
    start_server nginx-tls "$WORK/nginx-tls.out" nginx -e "$WORK/nginx-tls-error.log" \
        -p "$WORK" -c "$WORK/nginx-tls.conf" -g "daemon off;"
    NG=$SERVER_PID
    NGINX_URL=https://127.0.0.1:$NGINX_TLS_PORT/webhooks/visma
    wait_until 10 "$NG" nginx-tls is_status 200 "$NGINX_URL" --cacert "$WORK/tls.crt"
    sleep 1
    NG_IDLE_PSS=$(pss_kb "$NG")
    read -r NG_BEFORE NG_HELD NG_PSS NG_STILL NG_OPENED < <(hold "$NGINX_URL" "$NG" nginx)
    stop_server "$NG"
fi

# --- report ------------------------------------------------------------------------------
mib() { kb_to_mib "$1"; }
{
    echo "hookwall footprint — benches/load/footprint.sh"
    describe_machine
    echo
    printf '%-58s %s\n' "release binary (as built / stripped)" \
        "$(awk -v a="$SIZE_RAW" -v b="$SIZE_STRIPPED" 'BEGIN { printf "%.2f MiB / %.2f MiB", a / 1048576, b / 1048576 }')   (target ≤ 15 MiB stripped)"
    printf '%-58s %s\n' "start to ready (spawn → /readyz 200), $STARTS starts" \
        "min $START_MIN ms, median $START_MEDIAN ms, max $START_MAX ms   (target ≤ 100 ms)"
    printf '%-58s %s\n' "RSS idle (2 s after ready, no request yet)" "$(mib "$RSS_IDLE") MiB   (target ≤ 10 MiB)"
    printf '%-58s %s\n' "RSS after one 1 KiB delivery" "$(mib "$RSS_AFTER_1K") MiB"
    printf '%-58s %s\n' "one 1 MiB delivery: RSS after / peak (VmHWM) increase" \
        "+$(mib $((RSS_AFTER_1M - RSS_AFTER_1K))) MiB / +$(mib $((HWM_AFTER_1M - HWM_BEFORE))) MiB   (expect about 1 MiB)"
    printf '%-58s %s\n' "then 8 concurrent 1 MiB deliveries: RSS after / peak increase" \
        "+$(mib $((RSS_AFTER_8M - RSS_AFTER_1M))) MiB / +$(mib $((HWM_AFTER_8M - HWM_AFTER_1M))) MiB"
    printf '%-58s %s\n' "hookwall holding $HW_OPENED idle TLS keep-alive connections" \
        "RSS $(mib "$HW_HELD") MiB (+$(mib $((HW_HELD - HW_BEFORE))) MiB over $(mib "$HW_BEFORE") MiB; PSS $(mib "$HW_PSS") MiB), still open at the end: $HW_STILL   (target ≤ 64 MiB)"
    printf '%-58s %s\n' "  hookwall 2 s after they closed" "RSS $(mib "$HW_AFTER_CLOSE") MiB"
    if [[ -s $WORK/hold-metrics.txt ]]; then
        printf '%-58s %s\n' "  hookwall metrics while holding" "$(tr '\n' ' ' <"$WORK/hold-metrics.txt")"
    fi
    if ((WITH_NGINX)); then
        printf '%-58s %s\n' "nginx TLS proxy (master+workers) holding $NG_OPENED" \
            "RSS sum $(mib "$NG_HELD") MiB (+$(mib $((NG_HELD - NG_BEFORE))) MiB), PSS $(mib "$NG_PSS") MiB (idle PSS $(mib "$NG_IDLE_PSS") MiB), still open: $NG_STILL"
    fi
    echo
    echo "config: benches/load/hookwall.toml with header_read_timeout = idle_timeout = \"600s\", max_connections = 4096 (defaults 15s, 60s, 1024 would close or evict idle connections)"
    echo "start times (ms): ${STARTUP_MS[*]}"
} >"$REPORT"
cat "$REPORT"
[[ -z $OUT ]] || cp "$REPORT" "$OUT"
