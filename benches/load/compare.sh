#!/usr/bin/env bash
# hookwall against nginx (and HAProxy) on this machine, in one run: same clients, same
# settings, same upstream (nginx `return 200`), same signed JSON POSTs, all on loopback.
# Modes (all by default), each printed with its ratios against the targets of benches/README.md:
#   keepalive  wrk over keep-alive connections, 1 KiB / 16 KiB / 256 KiB bodies, genuine and
#              forged; then a constant-rate latency comparison (benches/constant_rate.rs)
#   newconn    one delivery per TLS connection (benches/new_connections.rs): ECDSA P-256 and
#              RSA-2048 certificates, TLS 1.2 and 1.3, full handshakes and resumed sessions
#   h2         h2load: HTTP/2 senders, several streams per connection
#   schemes    hookwall alone, one route per scheme (Visma, Stripe, Standard Webhooks and its
#              Ed25519 variant), so the cost of each scheme is known
#   idle       memory while holding 1,000 idle TLS keep-alive connections (hookwall, nginx-tls)
# For every run: requests/s, latency percentiles, the proxy's CPU time per request, memory.
#
# Installs nothing: it names any missing tool and its Debian package. Every run is bounded in
# time; every process it starts is stopped on exit. See benches/README.md.
#
#   benches/load/compare.sh                      # the defaults: -t2 -c64 -d10s, all sizes
#   benches/load/compare.sh --duration 3s --sizes 1KiB --no-constant-rate   # a smoke run
#   benches/load/compare.sh --modes newconn,h2 --repeat 3
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF'
usage: benches/load/compare.sh [options]
  --modes LIST          default keepalive,newconn,h2,schemes,idle
  --duration 10s        wrk -d for each measured run
  --warmup 2s           a discarded wrk run before each measured one (0s: none)
  --threads 2           wrk -t
  --connections 64      wrk -c
  --sizes LIST          body sizes, default 1KiB,16KiB,256KiB
  --targets LIST        default direct,nginx-tls,nginx-lua,haproxy,hookwall
  --repeat N            rounds (interleaved); tables show the median of the rounds
  --logs on|off         on (default): hookwall logs each request (JSON, info), nginx writes
                        its access log, HAProxy its httplog, all to files; off: none of them do
  --rate 2000           constant-rate client: requests/s
  --rate-duration 10s   constant-rate client: measured time (after a 2 s warm-up)
  --no-constant-rate    skip the constant-rate latency comparison
  --no-forged           skip the forged-signature (401) runs
  --newconn-concurrency 32   newconn: connections in flight at once
  --h2 16x8             h2: connections x streams per connection
  --idle-connections 1000    idle: connections held
  --no-build            use the existing release build and load clients (or HOOKWALL_BIN=path)
  --keep                keep the work dir (configs, logs, raw wrk outputs)
  --out FILE            also write the report to FILE
Environment: CARGO_TARGET_DIR (build dir), HOOKWALL_BIN, PORT_BASE (default 18080).
EOF
}

MODES=keepalive,newconn,h2,schemes,idle
DURATION=10s
WARMUP=2s
THREADS=2
CONNECTIONS=64
SIZES=1KiB,16KiB,256KiB
TARGETS=direct,nginx-tls,nginx-lua,haproxy,hookwall
REPEAT=1
LOGS=on
RATE=2000
RATE_DURATION=10s
CONSTANT_RATE=1
FORGED=1
OUT=""
NEWCONN_CONCURRENCY=32
H2_SHAPE=16x8
IDLE_CONNECTIONS=1000
while (($#)); do
    case $1 in
    --modes) MODES=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --connections) CONNECTIONS=$2; shift ;;
    --sizes) SIZES=$2; shift ;;
    --targets) TARGETS=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    --logs) LOGS=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --rate-duration) RATE_DURATION=$2; shift ;;
    --no-constant-rate) CONSTANT_RATE=0 ;;
    --no-forged) FORGED=0 ;;
    --newconn-concurrency) NEWCONN_CONCURRENCY=$2; shift ;;
    --h2) H2_SHAPE=$2; shift ;;
    --idle-connections) IDLE_CONNECTIONS=$2; shift ;;
    --no-build) NO_BUILD=1 ;;
    --keep) KEEP=1 ;;
    --out) OUT=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
    esac
    shift
done
[[ $LOGS == on || $LOGS == off ]] || die "--logs takes on or off"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "--repeat takes a positive number"
DURATION_S=$(seconds_of "$DURATION")
WARMUP_S=$(seconds_of "$WARMUP")
RATE_DURATION_S=$(seconds_of "$RATE_DURATION")
IFS=, read -ra SIZE_LIST <<<"$SIZES"
IFS=, read -ra TARGET_LIST <<<"$TARGETS"
IFS=, read -ra MODE_LIST <<<"$MODES"
for mode in "${MODE_LIST[@]}"; do
    [[ $mode =~ ^(keepalive|newconn|h2|schemes|idle)$ ]] || die "--modes: unknown mode $mode"
done
[[ $H2_SHAPE =~ ^([1-9][0-9]*)x([1-9][0-9]*)$ ]] || die "--h2 takes CONNECTIONSxSTREAMS, e.g. 16x8"
H2_CONNECTIONS=${BASH_REMATCH[1]} H2_STREAMS=${BASH_REMATCH[2]}
mode_on() {
    local m
    for m in "${MODE_LIST[@]}"; do [[ $m == "$1" ]] && return 0; done
    return 1
}

require_tools nginx:nginx /usr/lib/nginx/modules/ngx_http_lua_module.so:libnginx-mod-http-lua \
    wrk:wrk openssl:openssl curl:curl setsid:util-linux pgrep:procps cargo:cargo
if mode_on h2; then require_tools h2load:nghttp2-client; fi
HAVE_HAPROXY=1
if ! command -v haproxy >/dev/null 2>&1; then
    HAVE_HAPROXY=0
    log "haproxy is not installed (apt-get install haproxy): its rows are skipped"
fi
wanted() {
    local t
    for t in "${TARGET_LIST[@]}"; do [[ $t == "$1" ]] && return 0; done
    return 1
}
if wanted haproxy && ((!HAVE_HAPROXY)); then
    kept=()
    for t in "${TARGET_LIST[@]}"; do [[ $t == haproxy ]] || kept+=("$t"); done
    TARGET_LIST=("${kept[@]}")
fi

build_tools
make_workdir
raise_open_files
REPORT=$WORK/report.txt
RESULTS=$WORK/results.tsv
: >"$RESULTS"

# --- inputs: secret, certificate, bodies and their signatures --------------------------
SECRET=$(openssl rand -hex 24)
make_cert ec tls
mode_on newconn && make_cert rsa tls-rsa
declare -A BODY SIG FORGED_SIG
for size in "${SIZE_LIST[@]}"; do
    BODY[$size]=$WORK/body-$size.json
    make_body "$(size_bytes "$size")" "${BODY[$size]}"
    SIG[$size]=$(visma_signature "$SECRET" "${BODY[$size]}")
    FORGED_SIG[$size]=$(visma_signature "not-$SECRET" "${BODY[$size]}")
    check_signature_with_hookwall "$HOOKWALL_BIN" "$SECRET" "${BODY[$size]}" "${SIG[$size]}"
done

# --- servers ---------------------------------------------------------------------------
mapfile -t PORTS < <(free_ports 9 "${PORT_BASE:-18080}")
UPSTREAM_PORT=${PORTS[0]} NGINX_TLS_PORT=${PORTS[1]} NGINX_LUA_PORT=${PORTS[2]}
HAPROXY_PORT=${PORTS[3]} HOOKWALL_PORT=${PORTS[4]} ADMIN_PORT=${PORTS[5]}
NGINX_TLS_RSA_PORT=${PORTS[6]} HOOKWALL_RSA_PORT=${PORTS[7]} ADMIN_RSA_PORT=${PORTS[8]}
USER_LINE=""
[[ $(id -u) == 0 ]] && USER_LINE="user root;"
if [[ $LOGS == on ]]; then
    access_log() { echo "access_log $WORK/$1-access.log;"; }
    HOOKWALL_LOG_LEVEL=info
    HAPROXY_LOG_GLOBAL="log stdout format raw local0"
    HAPROXY_LOG_DEFAULTS="log global
    option httplog"
else
    access_log() { echo "access_log off;"; }
    HOOKWALL_LOG_LEVEL=warn
    HAPROXY_LOG_GLOBAL=""
    HAPROXY_LOG_DEFAULTS=""
fi
mkdir -p "$WORK"/{upstream,nginx-tls,nginx-tls-rsa,nginx-lua}-tmp

declare -A PID URL
render "$LOAD_DIR/nginx-upstream.conf" "$WORK/upstream.conf" DIR="$WORK" \
    USER_LINE="$USER_LINE" UPSTREAM_PORT="$UPSTREAM_PORT"
start_server upstream "$WORK/upstream.out" nginx -e "$WORK/upstream-error.log" -p "$WORK" \
    -c "$WORK/upstream.conf" -g "daemon off;"
PID[direct]=$SERVER_PID
URL[direct]=http://127.0.0.1:$UPSTREAM_PORT/webhooks/visma
wait_until 10 "${PID[direct]}" "upstream nginx" is_status 200 "${URL[direct]}"

CURL_TLS=(--cacert "$WORK/tls.crt")
# start_nginx_tls NAME PORT CERT — nginx as a TLS proxy with certificate CERT.{crt,key}.
start_nginx_tls() {
    local name=$1 port=$2 cert=$3
    render "$LOAD_DIR/nginx-tls-proxy.conf" "$WORK/$name.conf" DIR="$WORK" CERT="$cert" \
        USER_LINE="$USER_LINE" PORT="$port" UPSTREAM_PORT="$UPSTREAM_PORT" \
        ACCESS_LOG="$(access_log "$name")"
    start_server "$name" "$WORK/$name.out" nginx -e "$WORK/$name-error.log" \
        -p "$WORK" -c "$WORK/$name.conf" -g "daemon off;"
    PID[$name]=$SERVER_PID
    URL[$name]=https://127.0.0.1:$port/webhooks/visma
    wait_until 10 "$SERVER_PID" "$name" is_status 200 "${URL[$name]}" --cacert "$WORK/$cert.crt"
}
if wanted nginx-tls; then
    start_nginx_tls nginx-tls "$NGINX_TLS_PORT" tls
    mode_on newconn && start_nginx_tls nginx-tls-rsa "$NGINX_TLS_RSA_PORT" tls-rsa
fi
if wanted nginx-lua; then
    render "$LOAD_DIR/visma_verify.lua" "$WORK/visma_verify.lua" SECRET="$SECRET"
    render "$LOAD_DIR/nginx-lua-verify.conf" "$WORK/nginx-lua.conf" DIR="$WORK" \
        USER_LINE="$USER_LINE" PORT="$NGINX_LUA_PORT" UPSTREAM_PORT="$UPSTREAM_PORT" \
        ACCESS_LOG="$(access_log nginx-lua)"
    start_server nginx-lua "$WORK/nginx-lua.out" nginx -e "$WORK/nginx-lua-error.log" \
        -p "$WORK" -c "$WORK/nginx-lua.conf" -g "daemon off;"
    PID[nginx-lua]=$SERVER_PID
    URL[nginx-lua]=https://127.0.0.1:$NGINX_LUA_PORT/webhooks/visma
    wait_until 10 "$SERVER_PID" nginx-lua is_status 401 "${URL[nginx-lua]}" "${CURL_TLS[@]}"
fi
if wanted haproxy; then
    render "$LOAD_DIR/haproxy.cfg" "$WORK/haproxy.cfg" DIR="$WORK" PORT="$HAPROXY_PORT" \
        UPSTREAM_PORT="$UPSTREAM_PORT" THREADS="$(nproc)" \
        SECRET_B64="$(printf '%s' "$SECRET" | base64 -w0)" \
        LOG_GLOBAL="$HAPROXY_LOG_GLOBAL" LOG_DEFAULTS="$HAPROXY_LOG_DEFAULTS"
    haproxy -c -q -f "$WORK/haproxy.cfg" || die "haproxy rejects $WORK/haproxy.cfg"
    start_server haproxy "$WORK/haproxy.out" haproxy -db -f "$WORK/haproxy.cfg"
    PID[haproxy]=$SERVER_PID
    URL[haproxy]=https://127.0.0.1:$HAPROXY_PORT/webhooks/visma
    wait_until 10 "$SERVER_PID" haproxy is_status 401 "${URL[haproxy]}" "${CURL_TLS[@]}"
fi
# The schemes mode's routes: one per scheme, each with its own key.
WHSEC=whsec_$(openssl rand -base64 32)
openssl genpkey -algorithm ed25519 -out "$WORK/ed25519.key" 2>/dev/null ||
    die "openssl could not make an Ed25519 key"
openssl pkey -in "$WORK/ed25519.key" -pubout -out "$WORK/ed25519.pub" 2>/dev/null
chmod 644 "$WORK/ed25519.pub"
SCHEME_LIST=(visma stripe standard-webhooks standard-webhooks-ed25519)
declare -A SCHEME_KEY=(
    [visma]=$SECRET [stripe]=$SECRET [standard-webhooks]=$WHSEC
    [standard-webhooks-ed25519]="$(<"$WORK/ed25519.key")"
)
scheme_routes() {
    cat <<EOF_ROUTES

[[route]]
path = "/webhooks/stripe"
scheme = "stripe"
secrets = [{ env = "HOOKWALL_BENCH_SECRET" }]

[[route]]
path = "/webhooks/standard-webhooks"
scheme = "standard-webhooks"
secrets = [{ env = "HOOKWALL_BENCH_WHSEC" }]

[[route]]
path = "/webhooks/standard-webhooks-ed25519"
scheme = "standard-webhooks-ed25519"
secrets = [{ file = "$WORK/ed25519.pub" }]
EOF_ROUTES
}
# start_hookwall NAME PORT ADMIN_PORT CERT — with every scheme route, and idle limits that let
# the idle mode hold its connections (no other run comes near them).
start_hookwall() {
    local name=$1 port=$2 admin=$3 cert=$4
    render "$LOAD_DIR/hookwall.toml" "$WORK/$name.toml" DIR="$WORK" PORT="$port" CERT="$cert" \
        ADMIN_PORT="$admin" UPSTREAM_PORT="$UPSTREAM_PORT" LOG_LEVEL="$HOOKWALL_LOG_LEVEL" \
        SERVER_EXTRA="header_read_timeout = \"600s\"
idle_timeout = \"600s\"
${HOOKWALL_SERVER_EXTRA:-}" LIMITS_EXTRA="max_connections = 4096"
    scheme_routes >>"$WORK/$name.toml"
    HOOKWALL_BENCH_SECRET=$SECRET HOOKWALL_BENCH_WHSEC=$WHSEC start_server "$name" \
        "$WORK/$name.log" "$HOOKWALL_BIN" run --config "$WORK/$name.toml"
    PID[$name]=$SERVER_PID
    URL[$name]=https://127.0.0.1:$port/webhooks/visma
    wait_until 10 "$SERVER_PID" "$name" is_status 200 "http://127.0.0.1:$admin/readyz"
}
if wanted hookwall; then
    start_hookwall hookwall "$HOOKWALL_PORT" "$ADMIN_PORT" tls
    mode_on newconn && start_hookwall hookwall-rsa "$HOOKWALL_RSA_PORT" "$ADMIN_RSA_PORT" tls-rsa
fi

# --- correctness first: genuine deliveries pass, forged ones are refused -----------------
verifies() { [[ $1 == nginx-lua || $1 == haproxy || $1 == hookwall ]]; }
for target in "${TARGET_LIST[@]}"; do
    opts=()
    [[ ${URL[$target]} == https* ]] && opts=("${CURL_TLS[@]}")
    for size in "${SIZE_LIST[@]}"; do
        post=(-X POST -H 'Content-Type: application/json' -H 'Expect:'
            --data-binary "@${BODY[$size]}" "${opts[@]}")
        got=$(http_status "${URL[$target]}" "${post[@]}" -H "x-vwd-signature-v1: ${SIG[$size]}")
        [[ $got == 200 ]] || die "$target answered a genuine $size delivery with $got, not 200"
        got=$(http_status "${URL[$target]}" "${post[@]}" \
            -H "x-vwd-signature-v1: ${FORGED_SIG[$size]}")
        if verifies "$target"; then
            [[ $got == 401 ]] || die "$target answered a forged $size delivery with $got, not 401"
        fi
    done
done
log "all targets answer genuine deliveries 200; the verifying ones refuse forged ones with 401"
# What an OpenSSL client with default settings (as wrk is) negotiates with each TLS target.
declare -A TLS_INFO
for target in "${TARGET_LIST[@]}"; do
    [[ ${URL[$target]} == https* ]] || continue
    port=${URL[$target]#https://127.0.0.1:}
    port=${port%%/*}
    TLS_INFO[$target]=$(timeout 10 openssl s_client -connect "127.0.0.1:$port" \
        -servername localhost </dev/null 2>/dev/null |
        awk '/^New, / { sub(/^New, /, ""); print; exit }')
done

# --- load ------------------------------------------------------------------------------
# Columns of $RESULTS: round target size kind rps p50 p90 p99 p999 cpu_us_per_req rss_kib
# pss_kib ok ctxsw_per_req. `kind` names the mode's variant (genuine, forged, h2,
# newconn-ec-1.3-full, scheme-stripe, …).

# record ROUND TARGET SIZE KIND PID TICKS CTX REQUESTS DURATION_US P50 P90 P99 P999 OK — one row.
record() {
    awk -v round="$1" -v target="$2" -v size="$3" -v kind="$4" -v ticks="$6" -v ctx="$7" \
        -v req="$8" -v dur="$9" -v p50="${10}" -v p90="${11}" -v p99="${12}" -v p999="${13}" \
        -v ok="${14}" -v hz="$CLK_TCK" -v rss="$(mem_kb "$5" VmRSS)" -v pss="$(pss_kb "$5")" 'BEGIN {
            rps = dur > 0 ? req / (dur / 1e6) : 0
            cpu = req > 0 ? ticks * 1e6 / hz / req : 0
            cs = req > 0 ? ctx / req : 0
            printf "%s\t%s\t%s\t%s\t%.0f\t%d\t%d\t%d\t%d\t%.1f\t%d\t%d\t%s\t%.2f\n",
                round, target, size, kind, rps, p50, p90, p99, p999, cpu, rss, pss, ok, cs
        }' >>"$RESULTS"
    log "$(tail -1 "$RESULTS" | awk -F'\t' '{ printf "%-13s %-7s %-22s %8s req/s  p99 %6.2f ms  %6s µs CPU/req  %s ctxsw/req  %s", $2, $3, $4, $5, $8 / 1000, $10, $14, $13 }')"
}

# run_wrk URL SIZE SIGNATURE SECONDS OUTFILE [HEADERS] — SIGNATURE is Visma's; HEADERS
# ("Name: value" lines) carry any other scheme's.
run_wrk() {
    WRK_BODY_FILE=${BODY[$2]} WRK_SIGNATURE=$3 WRK_HEADERS=${6:-} timeout $(($4 + 30)) \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$4s" --timeout 5s --latency \
        -s "$LOAD_DIR/wrk-post.lua" "$1" >"$5" 2>&1
}

# measure_wrk ROUND TARGET SIZE KIND URL SIGNATURE [HEADERS] — a warm-up, then a measured
# run; forged kinds must be refused, every other one accepted.
measure_wrk() {
    local round=$1 target=$2 size=$3 kind=$4 url=$5 sig=$6 headers=${7:-} out pid
    local ticks_before ticks_after ctx_before ctx_after
    out=$WORK/wrk-$target-$size-$kind-r$round.txt
    if ((WARMUP_S > 0)); then
        run_wrk "$url" "$size" "$sig" "$WARMUP_S" "$out.warmup" "$headers" ||
            die "wrk failed: $out.warmup"
    fi
    pid=${PID[$target]}
    ticks_before=$(cpu_ticks "$pid")
    ctx_before=$(ctx_switches "$pid")
    run_wrk "$url" "$size" "$sig" "$DURATION_S" "$out" "$headers" ||
        die "wrk failed: $(tail -3 "$out")"
    ticks_after=$(cpu_ticks "$pid")
    ctx_after=$(ctx_switches "$pid")
    local result field
    result=$(grep '^WRK_RESULT ' "$out") || die "no WRK_RESULT in $out"
    local -A r
    for field in ${result#WRK_RESULT }; do r[${field%%=*}]=${field#*=}; done
    local errors=$((r[connect] + r[read] + r[write] + r[timeout])) ok=yes
    if [[ $kind != forged ]] && ((r[non2xx] != 0)); then ok="NO: ${r[non2xx]} non-2xx"; fi
    if [[ $kind == forged ]] && ((r[non2xx] != r[requests])); then
        ok="NO: $((r[requests] - r[non2xx])) forged requests were not refused"
    fi
    ((errors == 0)) || ok="$ok; $errors socket errors"
    record "$round" "$target" "$size" "$kind" "$pid" $((ticks_after - ticks_before)) \
        $((ctx_after - ctx_before)) "${r[requests]}" "${r[duration_us]}" "${r[p50_us]}" \
        "${r[p90_us]}" "${r[p99_us]}" "${r[p999_us]}" "$ok"
}

# measure ROUND TARGET SIZE KIND(genuine|forged) — the keep-alive mode's run.
measure() {
    local sig=${SIG[$3]}
    [[ $4 == forged ]] && sig=${FORGED_SIG[$3]}
    measure_wrk "$1" "$2" "$3" "$4" "${URL[$2]}" "$sig"
}

# measure_newconn ROUND TARGET CERT VERSION RESUME(full|resumed) — one delivery per connection.
measure_newconn() {
    local round=$1 target=$2 cert=$3 version=$4 resume=$5 name out pid line
    local ticks_before ticks_after ctx_before ctx_after
    name=$target
    [[ $cert == rsa ]] && name=$target-rsa
    local kind=newconn-$cert-$version-$resume size=${SIZE_LIST[0]}
    local args=(--url "${URL[$name]}" --tls "$version" --concurrency "$NEWCONN_CONCURRENCY"
        --threads "$THREADS" --body-file "${BODY[$size]}" -H "content-type: application/json"
        -H "x-vwd-signature-v1: ${SIG[$size]}" --label "$name")
    [[ $resume == resumed ]] && args+=(--resume)
    out=$WORK/newconn-$name-$kind-r$round.txt
    if ((WARMUP_S > 0)); then
        timeout $((WARMUP_S + 30)) "$NEW_CONNECTIONS_BIN" "${args[@]}" --warmup 0s \
            --duration "${WARMUP_S}s" >"$out.warmup" 2>&1 || die "new_connections failed: $(tail -3 "$out.warmup")"
    fi
    pid=${PID[$name]}
    ticks_before=$(cpu_ticks "$pid")
    ctx_before=$(ctx_switches "$pid")
    timeout $((DURATION_S + 30)) "$NEW_CONNECTIONS_BIN" "${args[@]}" --warmup 0s \
        --duration "$DURATION" >"$out" 2>&1 || log "new_connections against $name reported failures: $(tail -2 "$out")"
    ticks_after=$(cpu_ticks "$pid")
    ctx_after=$(ctx_switches "$pid")
    line=$(grep '^NEW_CONNECTIONS ' "$out") || die "no NEW_CONNECTIONS line in $out"
    local completed errors bad resumed duration ok=yes
    completed=$(json_field "$line" completed)
    errors=$(json_field "$line" errors)
    bad=$(json_field "$line" unexpected_status)
    resumed=$(json_field "$line" resumed)
    duration=$(json_field "$line" duration_s)
    ((bad == 0)) || ok="NO: $bad non-200"
    ((errors == 0)) || ok="$ok; $errors errors"
    if [[ $resume == resumed ]] && ((resumed * 10 < completed * 9)); then
        ok="$ok; only $resumed of $completed resumed"
    fi
    if [[ $resume == full ]] && ((resumed != 0)); then ok="$ok; $resumed resumed"; fi
    record "$round" "$name" "$size" "$kind" "$pid" $((ticks_after - ticks_before)) \
        $((ctx_after - ctx_before)) "$completed" \
        "$(awk -v d="$duration" 'BEGIN { printf "%d", d * 1e6 }')" 0 0 0 0 "$ok"
}

# measure_h2 ROUND TARGET — h2load, H2_CONNECTIONS connections × H2_STREAMS streams.
measure_h2() {
    local round=$1 target=$2 size=${SIZE_LIST[0]} out pid
    local ticks_before ticks_after ctx_before ctx_after
    local args=(-t "$THREADS" -c "$H2_CONNECTIONS" -m "$H2_STREAMS" -d "${BODY[$size]}"
        -H "content-type: application/json" -H "x-vwd-signature-v1: ${SIG[$size]}")
    out=$WORK/h2-$target-r$round.txt
    if ((WARMUP_S > 0)); then
        timeout $((WARMUP_S + 30)) h2load "${args[@]}" -D "$WARMUP_S" "${URL[$target]}" \
            >"$out.warmup" 2>&1 || die "h2load failed: $(tail -3 "$out.warmup")"
    fi
    pid=${PID[$target]}
    ticks_before=$(cpu_ticks "$pid")
    ctx_before=$(ctx_switches "$pid")
    timeout $((DURATION_S + 30)) h2load "${args[@]}" -D "$DURATION_S" "${URL[$target]}" \
        >"$out" 2>&1 || die "h2load failed: $(tail -3 "$out")"
    ticks_after=$(cpu_ticks "$pid")
    ctx_after=$(ctx_switches "$pid")
    # "finished in 10.00s, 31234.50 req/s, …", "requests: N total, N started, N done,
    # N succeeded, F failed, E errored, T timeout", "status codes: N 2xx, …"
    local seconds done_ succeeded twoxx ok=yes
    seconds=$(awk '/^finished in/ { sub(/s,$/, "", $3); print $3 }' "$out")
    done_=$(awk '/^requests:/ { print $6 }' "$out")
    succeeded=$(awk '/^requests:/ { print $8 }' "$out")
    twoxx=$(awk '/^status codes:/ { print $3 }' "$out")
    [[ -n $seconds && -n $done_ ]] || die "cannot read h2load's result in $out"
    grep -q 'h2$\|Application protocol: h2' "$out" || ok="NO: not HTTP/2"
    ((succeeded == done_ && twoxx == done_)) || ok="NO: $((done_ - twoxx)) of $done_ not 2xx"
    local p50 p99
    # h2load's "time for request" row: min max mean sd +/- sd (no percentiles); keep mean.
    p50=$(awk '/^time for request:/ { print $6 }' "$out")
    p99=0
    record "$round" "$target" "$size" h2 "$pid" $((ticks_after - ticks_before)) \
        $((ctx_after - ctx_before)) "$done_" \
        "$(awk -v d="$seconds" 'BEGIN { printf "%d", d * 1e6 }')" "$(to_us "$p50")" 0 "$p99" 0 "$ok"
}

# to_us 12.34ms|56us|1.2s — h2load's durations in µs.
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) print int(n); else if (v ~ /ms$/) print int(n * 1000); else if (v ~ /s$/) print int(n * 1e6); else print 0 }'
}

json_field() { grep -o "\"$2\":[^,}]*" <<<"$1" | head -1 | cut -d: -f2 | tr -d '"'; }

if mode_on keepalive; then
    runs=$((REPEAT * ${#SIZE_LIST[@]} * ${#TARGET_LIST[@]}))
    log "keepalive: $runs runs of wrk -t$THREADS -c$CONNECTIONS -d$DURATION (+$WARMUP warm-up each), logs $LOGS"
fi
NEWCONN_TARGETS=()
for target in nginx-tls hookwall; do wanted "$target" && NEWCONN_TARGETS+=("$target"); done
H2_TARGETS=()
for target in nginx-tls nginx-lua hookwall; do wanted "$target" && H2_TARGETS+=("$target"); done
# sign_schemes — fresh signatures for the schemes mode. A timestamped signature stays valid
# for the scheme's 5-minute tolerance, longer than one round; nothing dedupes (dedupe is
# off), so one signature per round serves every request of it.
declare -A SCHEME_HEADERS
sign_schemes() {
    local scheme
    for scheme in "${SCHEME_LIST[@]:1}"; do
        SCHEME_HEADERS[$scheme]=$(HOOKWALL_BENCH_KEY=${SCHEME_KEY[$scheme]} "$HOOKWALL_BIN" sign \
            --scheme "$scheme" --secret-env HOOKWALL_BENCH_KEY --body-file "${BODY[${SIZE_LIST[0]}]}") ||
            die "hookwall sign --scheme $scheme failed"
    done
}
for round in $(seq "$REPEAT"); do
    if mode_on keepalive; then
        for size in "${SIZE_LIST[@]}"; do
            for target in "${TARGET_LIST[@]}"; do
                measure "$round" "$target" "$size" genuine
            done
            if ((FORGED)) && [[ $size == "${SIZE_LIST[0]}" ]]; then
                for target in "${TARGET_LIST[@]}"; do
                    verifies "$target" && measure "$round" "$target" "$size" forged
                done
            fi
        done
    fi
    if mode_on newconn; then
        for cert in ec rsa; do
            for version in 1.3 1.2; do
                for resume in full resumed; do
                    for target in "${NEWCONN_TARGETS[@]}"; do
                        measure_newconn "$round" "$target" "$cert" "$version" "$resume"
                    done
                done
            done
        done
    fi
    if mode_on h2; then
        for target in "${H2_TARGETS[@]}"; do measure_h2 "$round" "$target"; done
    fi
    if mode_on schemes && wanted hookwall; then
        sign_schemes
        size=${SIZE_LIST[0]}
        for scheme in "${SCHEME_LIST[@]}"; do
            url=https://127.0.0.1:$HOOKWALL_PORT/webhooks/$scheme
            if [[ $scheme == visma ]]; then
                measure_wrk "$round" hookwall "$size" "scheme-$scheme" "$url" "${SIG[$size]}"
            else
                measure_wrk "$round" hookwall "$size" "scheme-$scheme" "$url" "" "${SCHEME_HEADERS[$scheme]}"
            fi
        done
    fi
done

# --- idle connections: memory ------------------------------------------------------------
IDLE_RESULTS=$WORK/idle.tsv
: >"$IDLE_RESULTS"
if mode_on idle; then
    for target in nginx-tls hookwall; do
        wanted "$target" || continue
        pid=${PID[$target]}
        out=$WORK/idle-$target.txt
        before_rss=$(mem_kb "$pid" VmRSS)
        before_pss=$(pss_kb "$pid")
        log "idle: $target holds $IDLE_CONNECTIONS idle TLS keep-alive connections"
        "$HOLD_BIN" --url "${URL[$target]}" --cacert "$WORK/tls.crt" \
            --connections "$IDLE_CONNECTIONS" --hold 8s --body-file "${BODY[${SIZE_LIST[0]}]}" \
            -H "content-type: application/json" -H "x-vwd-signature-v1: ${SIG[${SIZE_LIST[0]}]}" \
            >"$out" 2>&1 &
        holder=$!
        deadline=$((SECONDS + 60))
        until grep -q '^HOLDING ' "$out"; do
            kill -0 "$holder" 2>/dev/null || die "hold_connections against $target failed: $(tail -2 "$out")"
            ((SECONDS < deadline)) || die "hold_connections against $target did not open its connections within 60 s"
            sleep 0.2
        done
        sleep 2 # let the last responses' buffers settle
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$before_rss" "$before_pss" \
            "$(mem_kb "$pid" VmRSS)" "$(pss_kb "$pid")" "$(awk '/^HOLDING/ { print $2 }' "$out")" \
            >>"$IDLE_RESULTS"
        wait "$holder" || log "hold_connections against $target reported: $(tail -1 "$out")"
    done
fi

# --- constant-rate latency -------------------------------------------------------------
RATE_RESULTS=$WORK/constant-rate.txt
: >"$RATE_RESULTS"
if ((CONSTANT_RATE)) && mode_on keepalive; then
    size=${SIZE_LIST[0]}
    for target in direct nginx-tls nginx-lua hookwall; do
        wanted "$target" || continue
        opts=()
        [[ ${URL[$target]} == https* ]] && opts=(--cacert "$WORK/tls.crt")
        log "constant rate: $target, $RATE req/s for $RATE_DURATION, $size bodies"
        timeout $((RATE_DURATION_S + 60)) "$CONSTANT_RATE_BIN" --url "${URL[$target]}" "${opts[@]}" \
            --rate "$RATE" --duration "$RATE_DURATION" --warmup 2s --connections 16 \
            --body-file "${BODY[$size]}" --header "content-type: application/json" \
            --header "x-vwd-signature-v1: ${SIG[$size]}" --label "$target" \
            >"$WORK/constant-rate-$target.txt" 2>&1 ||
            log "constant rate against $target reported failures: $(grep -m1 'first error' "$WORK/constant-rate-$target.txt" || tail -1 "$WORK/constant-rate-$target.txt")"
        grep '^CONSTANT_RATE ' "$WORK/constant-rate-$target.txt" >>"$RATE_RESULTS" ||
            die "constant_rate printed no result for $target: $(tail -3 "$WORK/constant-rate-$target.txt")"
    done
fi

# --- report ----------------------------------------------------------------------------
# The median over rounds of column COL for TARGET SIZE KIND.
median() {
    awk -F'\t' -v t="$1" -v s="$2" -v k="$3" -v c="$4" '$2 == t && $3 == s && $4 == k { print $c }' \
        "$RESULTS" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
ok_of() {
    awk -F'\t' -v t="$1" -v s="$2" -v k="$3" '$2 == t && $3 == s && $4 == k && $13 != "yes" { bad = $13 }
        END { print (bad == "" ? "yes" : bad) }' "$RESULTS"
}
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { if (r == "-") print ""; else print ((r + 0 >= t) ? "(≥" t "× met)" : "(<" t "× target)") }'; }
at_most() { awk -v r="$1" -v t="$2" 'BEGIN { if (r == "-") print ""; else print ((r + 0 <= t) ? "(≤" t "× met)" : "(>" t "× target)") }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f×", a / b }'; }

{
    echo "hookwall load comparison — benches/load/compare.sh"
    describe_machine
    echo "tools:     $(nginx -v 2>&1 | sed 's/.*: //'), $( ((HAVE_HAPROXY)) && haproxy -v | head -1 | cut -d' ' -f1-3), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $(openssl version | cut -d' ' -f1-2)"
    echo "settings:  wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up), keep-alive, POST of a signed JSON body; rounds: $REPEAT (median shown); logs: $LOGS"
    echo "           upstream: nginx 'return 200' on loopback; every proxy terminates TLS (ECDSA P-256, TLS 1.3) and keeps a keep-alive pool to it"
    for target in "${TARGET_LIST[@]}"; do
        [[ -n ${TLS_INFO[$target]:-} ]] && echo "           TLS with $target: ${TLS_INFO[$target]}"
    done
    echo "           CPU/req: utime+stime of the proxy's processes (nginx: master+workers) over the run ÷ requests; ctxsw/req: context switches of all its threads ÷ requests;"
    echo "           RSS/PSS: after the run, summed over its processes"
    echo
    printf '%-10s %-7s %-8s %9s %8s %8s %8s %8s %10s %10s %8s %8s  %s\n' target size kind req/s p50_ms \
        p90_ms p99_ms p999_ms cpu_us/req ctxsw/req RSS_MiB PSS_MiB all-ok
    for size in "${SIZE_LIST[@]}"; do
        for kind in genuine forged h2 "${SCHEME_LIST[@]/#/scheme-}"; do
            for target in "${TARGET_LIST[@]}"; do
                rps=$(median "$target" "$size" "$kind" 5)
                [[ -n $rps ]] || continue
                printf '%-10s %-7s %-8s %9s %8.2f %8.2f %8.2f %8.2f %10s %10s %8s %8s  %s\n' \
                    "$target" "$size" "$kind" "$rps" \
                    "$(awk -v v="$(median "$target" "$size" "$kind" 6)" 'BEGIN { print v / 1000 }')" \
                    "$(awk -v v="$(median "$target" "$size" "$kind" 7)" 'BEGIN { print v / 1000 }')" \
                    "$(awk -v v="$(median "$target" "$size" "$kind" 8)" 'BEGIN { print v / 1000 }')" \
                    "$(awk -v v="$(median "$target" "$size" "$kind" 9)" 'BEGIN { print v / 1000 }')" \
                    "$(median "$target" "$size" "$kind" 10)" \
                    "$(median "$target" "$size" "$kind" 14)" \
                    "$(kb_to_mib "$(median "$target" "$size" "$kind" 11)")" \
                    "$(kb_to_mib "$(median "$target" "$size" "$kind" 12)")" \
                    "$(ok_of "$target" "$size" "$kind")"
            done
        done
    done
    if wanted hookwall && mode_on keepalive; then
        echo
        echo "keepalive: hookwall relative to the others (req/s: higher is better; CPU µs/req: lower is better)"
        printf '%-7s %-24s %-24s %-12s %-34s\n' size "req/s vs nginx-lua" "CPU/req vs nginx-tls" \
            "vs nginx-tls" "CPU µs/req hookwall, nginx-tls, lua"
        for size in "${SIZE_LIST[@]}"; do
            hw=$(median hookwall "$size" genuine 5)
            hw_cpu=$(median hookwall "$size" genuine 10)
            tls_cpu=$(median nginx-tls "$size" genuine 10)
            r_lua=$(ratio "$hw" "$(median nginx-lua "$size" genuine 5)")
            r_cpu=$(ratio "$hw_cpu" "$tls_cpu")
            printf '%-7s %-24s %-24s %-12s %-34s\n' "$size" "$r_lua $(verdict "${r_lua%×}" 1.25)" \
                "$r_cpu $(at_most "${r_cpu%×}" 1)" "$(ratio "$hw" "$(median nginx-tls "$size" genuine 5)")" \
                "$hw_cpu, ${tls_cpu:--}, $(median nginx-lua "$size" genuine 10 | grep . || echo -)"
        done
        echo "targets: at 1 KiB and 16 KiB, req/s ≥ 1.25× nginx-lua and CPU per request ≤ nginx-tls's"
    fi
    if [[ ${#NEWCONN_TARGETS[@]} == 2 ]] && mode_on newconn; then
        echo
        echo "newconn: one ${SIZE_LIST[0]} delivery per TLS connection, $NEWCONN_CONCURRENCY in flight (benches/new_connections.rs)"
        printf '%-6s %-4s %-8s %14s %14s %-22s %18s %18s  %s\n' cert TLS session "nginx-tls d/s" \
            "hookwall d/s" "hookwall ÷ nginx-tls" "nginx-tls µs CPU" "hookwall µs CPU" all-ok
        for cert in ec rsa; do
            suffix=""
            [[ $cert == rsa ]] && suffix=-rsa
            for version in 1.3 1.2; do
                for resume in full resumed; do
                    kind=newconn-$cert-$version-$resume
                    ng=$(median "nginx-tls$suffix" "${SIZE_LIST[0]}" "$kind" 5)
                    hw=$(median "hookwall$suffix" "${SIZE_LIST[0]}" "$kind" 5)
                    r=$(ratio "$hw" "$ng")
                    printf '%-6s %-4s %-8s %14s %14s %-22s %18s %18s  %s\n' \
                        "$([[ $cert == ec ]] && echo P-256 || echo RSA2048)" "$version" "$resume" \
                        "${ng:--}" "${hw:--}" "$r $(verdict "${r%×}" 1.5)" \
                        "$(median "nginx-tls$suffix" "${SIZE_LIST[0]}" "$kind" 10)" \
                        "$(median "hookwall$suffix" "${SIZE_LIST[0]}" "$kind" 10)" \
                        "$(ok_of "hookwall$suffix" "${SIZE_LIST[0]}" "$kind"), $(ok_of "nginx-tls$suffix" "${SIZE_LIST[0]}" "$kind")"
                done
            done
        done
        echo "target: hookwall's deliveries/s ≥ 1.5× nginx-tls's with the same certificate"
    fi
    if wanted hookwall && mode_on h2; then
        echo
        echo "h2: h2load -c$H2_CONNECTIONS -m$H2_STREAMS, ${SIZE_LIST[0]} bodies"
        hw=$(median hookwall "${SIZE_LIST[0]}" h2 5)
        r_tls=$(ratio "$hw" "$(median nginx-tls "${SIZE_LIST[0]}" h2 5)")
        echo "hookwall ÷ nginx-tls: $r_tls $(verdict "${r_tls%×}" 1); hookwall ÷ nginx-lua: $(ratio "$hw" "$(median nginx-lua "${SIZE_LIST[0]}" h2 5)")"
        echo "target: hookwall at least level with nginx-tls (≥ 1.00×)"
    fi
    if wanted hookwall && mode_on schemes; then
        echo
        echo "schemes: hookwall alone, ${SIZE_LIST[0]} bodies, keep-alive (wrk as above)"
        printf '%-28s %9s %12s %14s\n' scheme req/s "CPU µs/req" "÷ visma req/s"
        visma=$(median hookwall "${SIZE_LIST[0]}" scheme-visma 5)
        for scheme in "${SCHEME_LIST[@]}"; do
            printf '%-28s %9s %12s %14s\n' "$scheme" \
                "$(median hookwall "${SIZE_LIST[0]}" "scheme-$scheme" 5)" \
                "$(median hookwall "${SIZE_LIST[0]}" "scheme-$scheme" 10)" \
                "$(ratio "$(median hookwall "${SIZE_LIST[0]}" "scheme-$scheme" 5)" "$visma")"
        done
    fi
    if [[ -s $IDLE_RESULTS ]]; then
        echo
        echo "idle: memory while holding $IDLE_CONNECTIONS idle TLS keep-alive connections (each served one delivery first)"
        printf '%-10s %14s %14s %14s %14s %8s\n' target "RSS before" "RSS holding" "PSS holding" \
            "PSS per conn" held
        while IFS=$'\t' read -r target rss0 pss0 rss1 pss1 held; do
            printf '%-10s %11s MiB %11s MiB %11s MiB %11s KiB %8s\n' "$target" "$(kb_to_mib "$rss0")" \
                "$(kb_to_mib "$rss1")" "$(kb_to_mib "$pss1")" \
                "$(awk -v a="$pss1" -v b="$pss0" -v n="$held" 'BEGIN { printf "%.1f", n ? (a - b) / n : 0 }')" "$held"
        done <"$IDLE_RESULTS"
        hw_pss=$(awk -F'\t' '$1 == "hookwall" { print $5 }' "$IDLE_RESULTS")
        [[ -n $hw_pss ]] && echo "target: hookwall ≤ 20 MiB holding 1,000: $(kb_to_mib "$hw_pss") MiB PSS, $(kb_to_mib "$(awk -F'\t' '$1 == "hookwall" { print $4 }' "$IDLE_RESULTS")") MiB RSS"
    fi
    if [[ -s $RATE_RESULTS ]]; then
        echo
        echo "constant rate: $RATE req/s for $RATE_DURATION (2 s warm-up), 16 keep-alive connections, ${SIZE_LIST[0]} bodies; latency from the scheduled send time (benches/constant_rate.rs)"
        printf '%-10s %10s %8s %8s %8s %8s %8s %8s\n' target completed errors p50_us p90_us p99_us p999_us max_us
        while read -r _ line; do
            printf '%-10s %10s %8s %8.0f %8.0f %8.0f %8.0f %8.0f\n' "$(json_field "$line" label)" \
                "$(json_field "$line" completed)/$(json_field "$line" scheduled)" \
                "$(($(json_field "$line" errors) + $(json_field "$line" unexpected_status)))" \
                "$(json_field "$line" p50_us)" "$(json_field "$line" p90_us)" \
                "$(json_field "$line" p99_us)" "$(json_field "$line" p999_us)" "$(json_field "$line" max_us)"
        done <"$RATE_RESULTS"
        p99_of() { json_field "$(grep "\"label\":\"$1\"" "$RATE_RESULTS")" p99_us; }
        if grep -q '"label":"hookwall"' "$RATE_RESULTS" && grep -q '"label":"direct"' "$RATE_RESULTS"; then
            awk -v h="$(p99_of hookwall)" -v d="$(p99_of direct)" 'BEGIN {
                diff = (h - d) / 1000
                printf "p99 through hookwall − p99 direct = %.3f ms (target ≤ 0.5 ms: %s)\n", diff, diff <= 0.5 ? "met" : "not met" }'
        fi
        if grep -q '"label":"hookwall"' "$RATE_RESULTS" && grep -q '"label":"nginx-tls"' "$RATE_RESULTS"; then
            awk -v h="$(p99_of hookwall)" -v d="$(p99_of nginx-tls)" 'BEGIN {
                printf "p99 through hookwall − p99 through nginx-tls = %.3f ms\n", (h - d) / 1000 }'
        fi
    fi
    echo
    echo "raw rows (round target size kind rps p50_us p90_us p99_us p999_us cpu_us/req rss_kib pss_kib ok ctxsw/req):"
    cat "$RESULTS"
} >"$REPORT"

cat "$REPORT"
[[ -z $OUT ]] || cp "$REPORT" "$OUT"
if grep -qP '\tNO' "$RESULTS"; then
    log "some runs had failures (see all-ok); keeping the work dir"
    KEEP=1
fi
