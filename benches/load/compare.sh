#!/usr/bin/env bash
# hookwall against nginx (and HAProxy) on this machine, in one run: same client (wrk), same
# settings, same upstream (nginx `return 200`), same signed 1 KiB / 16 KiB / 256 KiB JSON
# POSTs, all on loopback. Prints requests/s, latency percentiles, the proxy's CPU time per
# request and its memory, with ratios against nginx-as-TLS-proxy and nginx+Lua; then a
# constant-rate latency comparison (benches/constant_rate.rs) against the upstream directly.
#
# Installs nothing: it names any missing tool and its Debian package. Every run is bounded in
# time; every process it starts is stopped on exit. See benches/README.md.
#
#   benches/load/compare.sh                      # the defaults: -t2 -c64 -d10s, all sizes
#   benches/load/compare.sh --duration 3s --sizes 1KiB --no-constant-rate   # a smoke run
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF'
usage: benches/load/compare.sh [options]
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
  --no-build            use the existing release build (or HOOKWALL_BIN=path)
  --keep                keep the work dir (configs, logs, raw wrk outputs)
  --out FILE            also write the report to FILE
Environment: CARGO_TARGET_DIR (build dir), HOOKWALL_BIN, PORT_BASE (default 18080).
EOF
}

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
while (($#)); do
    case $1 in
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

require_tools nginx:nginx /usr/lib/nginx/modules/ngx_http_lua_module.so:libnginx-mod-http-lua \
    wrk:wrk openssl:openssl curl:curl setsid:util-linux pgrep:procps cargo:cargo
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
make_cert
declare -A BODY SIG FORGED_SIG
for size in "${SIZE_LIST[@]}"; do
    BODY[$size]=$WORK/body-$size.json
    make_body "$(size_bytes "$size")" "${BODY[$size]}"
    SIG[$size]=$(visma_signature "$SECRET" "${BODY[$size]}")
    FORGED_SIG[$size]=$(visma_signature "not-$SECRET" "${BODY[$size]}")
    check_signature_with_hookwall "$HOOKWALL_BIN" "$SECRET" "${BODY[$size]}" "${SIG[$size]}"
done

# --- servers ---------------------------------------------------------------------------
mapfile -t PORTS < <(free_ports 6 "${PORT_BASE:-18080}")
UPSTREAM_PORT=${PORTS[0]} NGINX_TLS_PORT=${PORTS[1]} NGINX_LUA_PORT=${PORTS[2]}
HAPROXY_PORT=${PORTS[3]} HOOKWALL_PORT=${PORTS[4]} ADMIN_PORT=${PORTS[5]}
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
mkdir -p "$WORK"/{upstream,nginx-tls,nginx-lua}-tmp

declare -A PID URL
render "$LOAD_DIR/nginx-upstream.conf" "$WORK/upstream.conf" DIR="$WORK" \
    USER_LINE="$USER_LINE" UPSTREAM_PORT="$UPSTREAM_PORT"
start_server upstream "$WORK/upstream.out" nginx -e "$WORK/upstream-error.log" -p "$WORK" \
    -c "$WORK/upstream.conf" -g "daemon off;"
PID[direct]=$SERVER_PID
URL[direct]=http://127.0.0.1:$UPSTREAM_PORT/webhooks/visma
wait_until 10 "${PID[direct]}" "upstream nginx" is_status 200 "${URL[direct]}"

CURL_TLS=(--cacert "$WORK/tls.crt")
if wanted nginx-tls; then
    render "$LOAD_DIR/nginx-tls-proxy.conf" "$WORK/nginx-tls.conf" DIR="$WORK" \
        USER_LINE="$USER_LINE" PORT="$NGINX_TLS_PORT" UPSTREAM_PORT="$UPSTREAM_PORT" \
        ACCESS_LOG="$(access_log nginx-tls)"
    start_server nginx-tls "$WORK/nginx-tls.out" nginx -e "$WORK/nginx-tls-error.log" \
        -p "$WORK" -c "$WORK/nginx-tls.conf" -g "daemon off;"
    PID[nginx-tls]=$SERVER_PID
    URL[nginx-tls]=https://127.0.0.1:$NGINX_TLS_PORT/webhooks/visma
    wait_until 10 "$SERVER_PID" nginx-tls is_status 200 "${URL[nginx-tls]}" "${CURL_TLS[@]}"
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
if wanted hookwall; then
    render "$LOAD_DIR/hookwall.toml" "$WORK/hookwall.toml" DIR="$WORK" PORT="$HOOKWALL_PORT" \
        ADMIN_PORT="$ADMIN_PORT" UPSTREAM_PORT="$UPSTREAM_PORT" SERVER_EXTRA="${HOOKWALL_SERVER_EXTRA:-}" LIMITS_EXTRA="" \
        LOG_LEVEL="$HOOKWALL_LOG_LEVEL"
    HOOKWALL_BENCH_SECRET=$SECRET start_server hookwall "$WORK/hookwall.log" \
        "$HOOKWALL_BIN" run --config "$WORK/hookwall.toml"
    PID[hookwall]=$SERVER_PID
    URL[hookwall]=https://127.0.0.1:$HOOKWALL_PORT/webhooks/visma
    wait_until 10 "$SERVER_PID" hookwall is_status 200 "http://127.0.0.1:$ADMIN_PORT/readyz"
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
# run_wrk TARGET SIZE SIGNATURE SECONDS OUTFILE
run_wrk() {
    WRK_BODY_FILE=${BODY[$2]} WRK_SIGNATURE=$3 timeout $(($4 + 30)) \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$4s" --timeout 5s --latency \
        -s "$LOAD_DIR/wrk-post.lua" "${URL[$1]}" >"$5" 2>&1
}

# measure ROUND TARGET SIZE KIND(genuine|forged)
measure() {
    local round=$1 target=$2 size=$3 kind=$4 sig out pid ticks_before ticks_after ctx_before ctx_after
    sig=${SIG[$size]}
    [[ $kind == forged ]] && sig=${FORGED_SIG[$size]}
    out=$WORK/wrk-$target-$size-$kind-r$round.txt
    if ((WARMUP_S > 0)); then
        run_wrk "$target" "$size" "$sig" "$WARMUP_S" "$out.warmup" || die "wrk failed: $out.warmup"
    fi
    pid=${PID[$target]}
    ticks_before=$(cpu_ticks "$pid")
    ctx_before=$(ctx_switches "$pid")
    run_wrk "$target" "$size" "$sig" "$DURATION_S" "$out" || die "wrk failed: $(tail -3 "$out")"
    ticks_after=$(cpu_ticks "$pid")
    ctx_after=$(ctx_switches "$pid")
    local result
    result=$(grep '^WRK_RESULT ' "$out") || die "no WRK_RESULT in $out"
    local -A r
    local field
    for field in ${result#WRK_RESULT }; do r[${field%%=*}]=${field#*=}; done
    local errors=$((r[connect] + r[read] + r[write] + r[timeout]))
    local ok=yes
    if [[ $kind == genuine ]] && ((r[non2xx] != 0)); then ok="NO: ${r[non2xx]} non-2xx"; fi
    if [[ $kind == forged ]] && ((r[non2xx] != r[requests])); then
        ok="NO: $((r[requests] - r[non2xx])) forged requests were not refused"
    fi
    ((errors == 0)) || ok="$ok; $errors socket errors"
    # Columns: round target size kind rps p50 p90 p99 p999 cpu_us_per_req rss_kib pss_kib ok
    # ctx_switches_per_req
    awk -v round="$round" -v target="$target" -v size="$size" -v kind="$kind" \
        -v req="${r[requests]}" -v dur="${r[duration_us]}" -v p50="${r[p50_us]}" \
        -v p90="${r[p90_us]}" -v p99="${r[p99_us]}" -v p999="${r[p999_us]}" \
        -v ticks=$((ticks_after - ticks_before)) -v hz="$CLK_TCK" \
        -v rss="$(mem_kb "$pid" VmRSS)" -v pss="$(pss_kb "$pid")" -v ok="$ok" \
        -v ctx=$((ctx_after - ctx_before)) 'BEGIN {
            rps = req / (dur / 1e6)
            cpu = req > 0 ? ticks * 1e6 / hz / req : 0
            cs = req > 0 ? ctx / req : 0
            printf "%s\t%s\t%s\t%s\t%.0f\t%d\t%d\t%d\t%d\t%.1f\t%d\t%d\t%s\t%.2f\n",
                round, target, size, kind, rps, p50, p90, p99, p999, cpu, rss, pss, ok, cs
        }' >>"$RESULTS"
    log "$(tail -1 "$RESULTS" | awk -F'\t' '{ printf "%-10s %-7s %-7s %8s req/s  p99 %6.2f ms  %5s µs CPU/req  %s ctxsw/req  %s", $2, $3, $4, $5, $8 / 1000, $10, $14, $13 }')"
}

runs=$((REPEAT * ${#SIZE_LIST[@]} * ${#TARGET_LIST[@]}))
log "load: $runs runs of wrk -t$THREADS -c$CONNECTIONS -d$DURATION (+$WARMUP warm-up each), logs $LOGS"
for round in $(seq "$REPEAT"); do
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
done

# --- constant-rate latency -------------------------------------------------------------
RATE_RESULTS=$WORK/constant-rate.txt
: >"$RATE_RESULTS"
if ((CONSTANT_RATE)); then
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
json_field() { grep -o "\"$2\":[^,}]*" <<<"$1" | head -1 | cut -d: -f2 | tr -d '"'; }

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
        for kind in genuine forged; do
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
    if wanted hookwall; then
        echo
        echo "hookwall relative to the others (req/s ratio: higher is better; CPU ratio: lower is better)"
        printf '%-7s %-22s %-22s %-22s %-16s\n' size "vs nginx-tls req/s" "vs nginx-lua req/s" \
            "vs haproxy req/s" "CPU µs/req"
        for size in "${SIZE_LIST[@]}"; do
            hw=$(median hookwall "$size" genuine 5)
            hw_cpu=$(median hookwall "$size" genuine 10)
            tls=$(median nginx-tls "$size" genuine 5)
            lua=$(median nginx-lua "$size" genuine 5)
            hap=$(median haproxy "$size" genuine 5)
            r_tls=$(ratio "$hw" "$tls")
            r_lua=$(ratio "$hw" "$lua")
            printf '%-7s %-22s %-22s %-22s %-16s\n' "$size" "$r_tls $(verdict "${r_tls%×}" 1.5)" \
                "$r_lua $(verdict "${r_lua%×}" 2)" "$(ratio "$hw" "$hap")" \
                "$hw_cpu (nginx-tls $(median nginx-tls "$size" genuine 10 | grep . || echo -), nginx-lua $(median nginx-lua "$size" genuine 10 | grep . || echo -))"
        done
        echo "targets (issue): ≥1.5× nginx-tls and ≥2× nginx-lua at every size; ≤25 µs CPU per 1 KiB request"
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
