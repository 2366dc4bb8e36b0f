#!/usr/bin/env bash
# Where does hookwall spend its CPU on the TLS + verify + forward path under load? Starts the
# upstream nginx and the target proxy as compare.sh does, drives it with wrk, counts its
# syscalls and context switches per request (`perf stat` on tracepoints), then samples its
# threads with `perf record -e cpu-clock` (a software clock: virtual machines often have no
# hardware counters); prints syscalls per request, the hottest symbols and a summary by area.
# `--target nginx-tls` or `nginx-lua` profiles nginx the same way, for comparison.
# `--callgrind` instead runs hookwall under valgrind's callgrind while wrk sends a gentle load
# (-t1 -c4): user-space instruction counts per function, exact and immune to other load.
#
#   benches/load/profile.sh [--target hookwall] [--size 1KiB] [--duration 10s] [--logs on|off]
#                           [--callgraph | --callgrind] [--keep]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

SIZE=1KiB
DURATION=10s
THREADS=2
CONNECTIONS=64
LOGS=on
CALLGRAPH=0
CALLGRIND=0
TOP=40
TARGET=hookwall
while (($#)); do
    case $1 in
    --target) TARGET=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --connections) CONNECTIONS=$2; shift ;;
    --logs) LOGS=$2; shift ;;
    --callgraph) CALLGRAPH=1 ;;
    --callgrind) CALLGRIND=1 ;;
    --top) TOP=$2; shift ;;
    --no-build) NO_BUILD=1 ;;
    --keep) KEEP=1 ;;
    -h | --help)
        sed -n '2,12p' "$0"
        exit 0
        ;;
    *) die "unknown option $1" ;;
    esac
    shift
done
DURATION_S=$(seconds_of "$DURATION")
[[ $LOGS == on || $LOGS == off ]] || die "--logs takes on or off"
[[ $TARGET == hookwall || $TARGET == nginx-tls || $TARGET == nginx-lua ]] ||
    die "--target takes hookwall, nginx-tls or nginx-lua"

require_tools nginx:nginx wrk:wrk openssl:openssl curl:curl setsid:util-linux pgrep:procps \
    cargo:cargo
if ((CALLGRIND)); then
    require_tools valgrind:valgrind callgrind_annotate:valgrind
    [[ $TARGET == hookwall ]] || die "--callgrind profiles hookwall only"
else
    require_tools perf:linux-perf
fi
build_tools
make_workdir
raise_open_files

SECRET=$(openssl rand -hex 24)
make_cert
BODY=$WORK/body-$SIZE.json
make_body "$(size_bytes "$SIZE")" "$BODY"
SIG=$(visma_signature "$SECRET" "$BODY")
check_signature_with_hookwall "$HOOKWALL_BIN" "$SECRET" "$BODY" "$SIG"

mapfile -t PORTS < <(free_ports 3 "${PORT_BASE:-18280}")
UPSTREAM_PORT=${PORTS[0]} PROXY_PORT=${PORTS[1]} ADMIN_PORT=${PORTS[2]}
USER_LINE=""
[[ $(id -u) == 0 ]] && USER_LINE="user root;"
mkdir -p "$WORK/upstream-tmp"
render "$LOAD_DIR/nginx-upstream.conf" "$WORK/upstream.conf" DIR="$WORK" \
    USER_LINE="$USER_LINE" UPSTREAM_PORT="$UPSTREAM_PORT"
start_server upstream "$WORK/upstream.out" nginx -e "$WORK/upstream-error.log" -p "$WORK" \
    -c "$WORK/upstream.conf" -g "daemon off;"
wait_until 10 "$SERVER_PID" "upstream nginx" is_status 200 "http://127.0.0.1:$UPSTREAM_PORT/"

case $TARGET in
hookwall)
    LOG_LEVEL=info
    [[ $LOGS == off ]] && LOG_LEVEL=warn
    render "$LOAD_DIR/hookwall.toml" "$WORK/hookwall.toml" DIR="$WORK" PORT="$PROXY_PORT" \
        ADMIN_PORT="$ADMIN_PORT" UPSTREAM_PORT="$UPSTREAM_PORT" SERVER_EXTRA="" LIMITS_EXTRA="" \
        LOG_LEVEL="$LOG_LEVEL"
    wrap=()
    ((CALLGRIND)) && wrap=(valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out")
    HOOKWALL_BENCH_SECRET=$SECRET start_server hookwall "$WORK/hookwall.log" \
        "${wrap[@]}" "$HOOKWALL_BIN" run --config "$WORK/hookwall.toml"
    wait_until 60 "$SERVER_PID" hookwall is_status 200 "http://127.0.0.1:$ADMIN_PORT/readyz"
    ;;
nginx-tls | nginx-lua)
    ACCESS_LOG="access_log off;"
    [[ $LOGS == on ]] && ACCESS_LOG="access_log $WORK/$TARGET-access.log;"
    template=$LOAD_DIR/nginx-tls-proxy.conf
    if [[ $TARGET == nginx-lua ]]; then
        template=$LOAD_DIR/nginx-lua-verify.conf
        render "$LOAD_DIR/visma_verify.lua" "$WORK/visma_verify.lua" SECRET="$SECRET"
    fi
    mkdir -p "$WORK/$TARGET-tmp"
    render "$template" "$WORK/$TARGET.conf" DIR="$WORK" USER_LINE="$USER_LINE" \
        PORT="$PROXY_PORT" UPSTREAM_PORT="$UPSTREAM_PORT" ACCESS_LOG="$ACCESS_LOG"
    start_server "$TARGET" "$WORK/$TARGET.out" nginx -e "$WORK/$TARGET-error.log" -p "$WORK" \
        -c "$WORK/$TARGET.conf" -g "daemon off;"
    wait_until 10 "$SERVER_PID" "$TARGET" answers "https://127.0.0.1:$PROXY_PORT/" \
        --cacert "$WORK/tls.crt"
    ;;
esac
PROXY=$SERVER_PID
URL=https://127.0.0.1:$PROXY_PORT/webhooks/visma
[[ $(http_status "$URL" --cacert "$WORK/tls.crt" -X POST -H "x-vwd-signature-v1: $SIG" \
    -H 'Content-Type: application/json' -H 'Expect:' --data-binary "@$BODY") == 200 ]] ||
    die "$TARGET does not answer a genuine delivery with 200"
PIDS=$(group_pids "$PROXY" | paste -sd,)

run_wrk() { # SECONDS OUT
    WRK_BODY_FILE=$BODY WRK_SIGNATURE=$SIG timeout $(($1 + 30)) wrk -t"$THREADS" \
        -c"$CONNECTIONS" -d"$1s" --timeout 5s -s "$LOAD_DIR/wrk-post.lua" "$URL" >"$2" 2>&1
}
run_wrk 2 "$WORK/wrk-warmup.txt" || die "wrk failed: $(tail -3 "$WORK/wrk-warmup.txt")"

if ((CALLGRIND)); then
    log "callgrind: wrk -t1 -c4 for ${DURATION_S}s against hookwall under valgrind"
    WRK_BODY_FILE=$BODY WRK_SIGNATURE=$SIG timeout $((DURATION_S + 60)) wrk -t1 -c4 \
        -d"${DURATION_S}s" --timeout 10s -s "$LOAD_DIR/wrk-post.lua" "$URL" >"$WORK/wrk.txt" 2>&1 ||
        die "wrk failed: $(tail -3 "$WORK/wrk.txt")"
    grep -q ' non2xx=0 ' "$WORK/wrk.txt" || die "wrk saw non-2xx answers"
    # valgrind writes the profile when hookwall exits: give it time after SIGTERM.
    kill -TERM "$PROXY"
    for _ in $(seq 600); do
        kill -0 "$PROXY" 2>/dev/null || break
        sleep 0.1
    done
    wait "$PROXY" 2>/dev/null || true
    [[ -s $WORK/callgrind.out ]] || die "callgrind wrote no profile"
    REQUESTS=$(grep -o 'requests=[0-9]*' "$WORK/wrk.txt" | cut -d= -f2)
    TOTAL=$(awk '/^summary:/ { print $2 }' "$WORK/callgrind.out")
    # Requests of the 2 s warm-up and the one correctness check are in the profile too.
    WARM=$(grep -o 'requests=[0-9]*' "$WORK/wrk-warmup.txt" | cut -d= -f2)
    {
        echo "hookwall user-space instruction profile (callgrind) — benches/load/profile.sh --callgrind"
        describe_machine
        echo "load:      $((REQUESTS + WARM + 1)) $SIZE signed POSTs over TLS (wrk -t1 -c4), logs $LOGS"
        awk -v t="$TOTAL" -v r=$((REQUESTS + WARM + 1)) 'BEGIN {
            printf "total:     %.0f instructions, %.0f per request (including start-up and shutdown)\n", t, t / r }'
        echo
        echo "note: under valgrind sha2 cannot use the CPU's SHA extensions and runs its portable"
        echo "code, so HMAC-SHA256's share here is far larger than on the real CPU; TLS handshakes"
        echo "(x25519, SHA-384 key schedule) of the few connections are included too."
        echo
        annotate() {
            callgrind_annotate "$@" --threshold=99 "$WORK/callgrind.out" 2>/dev/null |
                grep -E '^ *[0-9,]+ \(' | grep -v 'PROGRAM TOTALS' |
                sed -E 's/ \[\/[^]]*\]$//; s/\?\?\?://' | head -"$TOP" || true
        }
        echo "exclusive (self) instructions, top $TOP functions:"
        annotate
        echo
        echo "inclusive instructions, top $TOP functions:"
        annotate --inclusive=yes
    } | tee "$WORK/report.txt"
    exit 0
fi

log "profiling $TARGET (pids $PIDS) under wrk -t$THREADS -c$CONNECTIONS, $SIZE bodies, logs $LOGS: ${DURATION_S}s of syscall counting, then ${DURATION_S}s of sampling"
WRK_SECONDS=$((2 * DURATION_S + 3))
run_wrk "$WRK_SECONDS" "$WORK/wrk.txt" &
WRK=$!
sleep 1
SYSCALLS=raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom
SYSCALLS+=,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendto
SYSCALLS+=,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,syscalls:sys_enter_sched_yield
SYSCALLS+=,context-switches,cpu-migrations
timeout $((DURATION_S + 30)) perf stat -x, -e "$SYSCALLS" -p "$PIDS" -o "$WORK/perf-stat.txt" \
    -- sleep "$DURATION_S" 2>"$WORK/perf-stat.err" ||
    die "perf stat failed: $(tail -3 "$WORK/perf-stat.err")"
CTX_BEFORE=$(ctx_switches "$PROXY")
TICKS_BEFORE=$(cpu_ticks "$PROXY")
graph=()
((CALLGRAPH)) && graph=(--call-graph "dwarf,16384")
timeout $((DURATION_S + 30)) perf record -q -e cpu-clock -F 999 "${graph[@]}" -p "$PIDS" \
    -o "$WORK/perf.data" -- sleep "$DURATION_S" 2>"$WORK/perf-record.err" ||
    die "perf record failed: $(tail -3 "$WORK/perf-record.err")"
CTX_AFTER=$(ctx_switches "$PROXY")
TICKS_AFTER=$(cpu_ticks "$PROXY")
wait "$WRK" || die "wrk failed: $(tail -3 "$WORK/wrk.txt")"
grep -q ' non2xx=0 ' "$WORK/wrk.txt" || die "wrk saw non-2xx answers: $(grep WRK_RESULT "$WORK/wrk.txt")"
REQUESTS=$(grep -o 'requests=[0-9]*' "$WORK/wrk.txt" | cut -d= -f2)
RATE=$(awk -v r="$REQUESTS" -v d="$WRK_SECONDS" 'BEGIN { printf "%.0f", r / d }')
# perf stat -x, lines: count,unit,event,...
awk -F, -v rate="$RATE" -v s="$DURATION_S" '$3 != "" && $1 ~ /^[0-9]/ {
        printf "  %-36s %8.2f per request\n", $3, $1 / (rate * s) }' "$WORK/perf-stat.txt" \
    >"$WORK/syscalls-per-request.txt"

perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol --percent-limit 0.3 \
    2>/dev/null | grep -v '^#' | grep -v '^$' |
    sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//' >"$WORK/perf-top.txt" || true
perf report -i "$WORK/perf.data" --stdio --no-children --sort dso 2>/dev/null |
    grep -v '^#' | grep -v '^$' >"$WORK/perf-dso.txt" || true
# Rough areas, by shared object and symbol name: the symbol lines below are the evidence.
perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol 2>/dev/null |
    awk '!/^#/ && NF >= 4 { sub(/%/, "", $1); print }' |
    awk '
        { p = $1; $1 = ""; s = $0 }
        s ~ /libcrypto/ { a["OpenSSL crypto (libcrypto)"] += p; next }
        s ~ /libssl/ { a["OpenSSL TLS (libssl)"] += p; next }
        s ~ /^ *nginx / { a["nginx itself (incl. Lua/LuaJIT)"] += p; next }
        s ~ /luajit|libluajit/ { a["nginx itself (incl. Lua/LuaJIT)"] += p; next }
        s ~ /aes|gcm|ghash|chacha|poly1305|ring_core/ { a["TLS record crypto (ring AES-GCM)"] += p; next }
        s ~ /sha256|sha2::|Sha256|block_data_order/ { a["HMAC-SHA256 (sha2)"] += p; next }
        s ~ /rustls/ { a["rustls (non-crypto)"] += p; next }
        s ~ /\[k\]/ { a["kernel (syscalls, TCP, scheduling)"] += p; next }
        s ~ /malloc|free|realloc|_int_|memcpy|memmove|memset|unlink_chunk/ { a["allocator and memcpy (libc)"] += p; next }
        s ~ /tracing|serde_json|crossbeam|fmt::|Formatter|json|write_str|Display/ { a["logging and formatting"] += p; next }
        s ~ /hyper|httparse|http::|h2::/ { a["hyper/http parsing and encoding"] += p; next }
        s ~ /tokio|mio|parking|futex|epoll/ { a["tokio runtime"] += p; next }
        s ~ /prometheus|metrics/ { a["metrics"] += p; next }
        { a["other"] += p }
        END { for (k in a) printf "%6.1f%%  %s\n", a[k], k }' | sort -rn >"$WORK/perf-areas.txt"

{
    echo "$TARGET CPU profile — benches/load/profile.sh"
    describe_machine
    echo "load:      wrk -t$THREADS -c$CONNECTIONS, $SIZE signed POSTs over TLS, logs $LOGS; $REQUESTS requests in $WRK_SECONDS s ($RATE req/s)"
    awk -v rate="$RATE" -v s="$DURATION_S" -v c=$((CTX_AFTER - CTX_BEFORE)) \
        -v t=$((TICKS_AFTER - TICKS_BEFORE)) -v hz="$CLK_TCK" 'BEGIN {
            printf "per req:   %.1f µs CPU, %.2f context switches (from /proc, while sampling)\n", t * 1e6 / hz / (rate * s), c / (rate * s) }'
    echo "sampling:  perf record -e cpu-clock -F 999 -p <$TARGET's processes> for ${DURATION_S}s ($(perf report -i "$WORK/perf.data" --stdio 2>/dev/null | awk '/^# Samples/ { print $3; exit }') samples)"
    echo
    echo "syscalls and scheduling per request (perf stat, ${DURATION_S}s before sampling):"
    cat "$WORK/syscalls-per-request.txt"
    echo
    echo "by area (grouped by symbol name; approximate):"
    cat "$WORK/perf-areas.txt"
    echo
    echo "by shared object:"
    head -15 "$WORK/perf-dso.txt"
    echo
    echo "top symbols (self time):"
    head -"$TOP" "$WORK/perf-top.txt"
} | tee "$WORK/report.txt"
