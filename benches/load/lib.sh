# Shared by compare.sh and footprint.sh (sourced, not run): tool checks, a temp work dir that
# is removed on exit, servers started in their own process groups and stopped by a trap,
# per-process CPU and memory from /proc, certificates, signed bodies.
# shellcheck shell=bash

LOAD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LOAD_DIR/../.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
CLK_TCK=$(getconf CLK_TCK)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
SERVER_PIDS=()
WORK=""
KEEP=${KEEP:-0}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# require_tools "command:debian-package" ... — names every missing tool and its package.
require_tools() {
    local pair cmd missing=()
    for pair in "$@"; do
        cmd=${pair%%:*}
        if [[ $cmd == /* ]]; then
            [[ -e $cmd ]] || missing+=("${pair#*:}")
        else
            command -v "$cmd" >/dev/null 2>&1 || missing+=("${pair#*:}")
        fi
    done
    if ((${#missing[@]})); then
        die "missing tools; install them with: apt-get install ${missing[*]}"
    fi
}

# A private work dir for configs, certificates, bodies and logs; removed on exit unless KEEP=1.
make_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/hookwall-load.XXXXXX")
    # nginx workers may run as another user and must read the Lua file and certificates.
    chmod 755 "$WORK"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
    local status=$? pid alive _
    trap - EXIT
    for pid in "${SERVER_PIDS[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    for _ in $(seq 50); do
        alive=0
        for pid in "${SERVER_PIDS[@]}"; do
            if pgrep -g "$pid" >/dev/null 2>&1; then alive=1; fi
        done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${SERVER_PIDS[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ $KEEP == 1 || $status != 0 ]]; then
            log "work dir kept: $WORK (configs, logs, raw outputs)"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$status"
}

# start_server NAME LOGFILE COMMAND... — runs COMMAND in its own process group (so a master
# and its workers stop together) and sets SERVER_PID.
start_server() {
    local name=$1 logfile=$2
    shift 2
    setsid "$@" >"$logfile" 2>&1 </dev/null &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    log "started $name (pid $SERVER_PID)"
}

# stop_server PID — TERM to its group, KILL after 5 s.
stop_server() {
    local pid=$1 _
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        pgrep -g "$pid" >/dev/null 2>&1 || break
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local kept=()
    for p in "${SERVER_PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
    SERVER_PIDS=("${kept[@]}")
}

# render TEMPLATE OUT KEY=VALUE... — replaces @KEY@ with VALUE. CERT (the certificate's file
# stem in the work dir) defaults to tls; NAME (an nginx instance's pid and temp file stem) to
# the output file's stem.
render() {
    local template=$1 out=$2 pair text
    shift 2
    text=$(<"$template")
    local name=${out##*/}
    for pair in "$@" "CERT=tls" "NAME=${name%.*}"; do
        text=${text//@${pair%%=*}@/${pair#*=}}
    done
    if grep -qE '@[A-Z_]+@' <<<"$text"; then
        die "$template: unreplaced placeholder $(grep -oE '@[A-Z_]+@' <<<"$text" | head -1)"
    fi
    printf '%s\n' "$text" >"$out"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_ports N BASE — prints N free loopback ports at or above BASE.
free_ports() {
    local want=$1 port=$2 found=0
    while ((found < want)); do
        if ((port > 65000)); then die "no free ports above $2"; fi
        if ! port_in_use "$port"; then
            echo "$port"
            found=$((found + 1))
        fi
        port=$((port + 1))
    done
}

# wait_until SECONDS PID DESCRIPTION COMMAND... — polls COMMAND every 50 ms until it succeeds;
# fails if PID dies or the time runs out.
wait_until() {
    local seconds=$1 pid=$2 what=$3 deadline
    shift 3
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || die "$what exited while starting"
        ((SECONDS < deadline)) || die "$what not ready within ${seconds}s"
        sleep 0.05
    done
}

http_status() { # URL [curl options] — prints the status code (000 if none)
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" || true
}

is_status() { # CODE URL [curl options]
    local want=$1
    shift
    [[ $(http_status "$@") == "$want" ]]
}

answers() { [[ $(http_status "$@") != 000 ]]; } # URL [curl options] — any HTTP answer

# The PIDs of a server's process group (nginx: master and workers; hookwall: one process).
group_pids() { pgrep -g "$1" || true; }

# cpu_ticks PID — utime+stime of every process in the group (all threads, in clock ticks).
cpu_ticks() {
    local total=0 p stat fields
    for p in $(group_pids "$1"); do
        stat=$(<"/proc/$p/stat") 2>/dev/null || continue
        read -ra fields <<<"${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# ctx_switches PID — voluntary + involuntary context switches of every thread in the group
# (threads that already exited are not counted).
ctx_switches() {
    local p
    for p in $(group_pids "$1"); do
        cat /proc/"$p"/task/*/status 2>/dev/null || true
    done | awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ { total += $2 } END { print total + 0 }'
}

# mem_kb PID FIELD — sum of a /proc/<pid>/status field (VmRSS, VmHWM) over the group.
mem_kb() {
    local total=0 p value
    for p in $(group_pids "$1"); do
        value=$(awk -v f="$2:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${value:-0}))
    done
    echo "$total"
}

# pss_kb PID — proportional set size over the group: shared pages counted once in total.
pss_kb() {
    local total=0 p value
    for p in $(group_pids "$1"); do
        value=$(awk '$1 == "Pss:" { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || true)
        total=$((total + ${value:-0}))
    done
    echo "$total"
}

kb_to_mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

# make_cert [ec|rsa] [STEM] — a self-signed end-entity certificate (CA:FALSE, as rustls
# requires of a server certificate) for localhost and 127.0.0.1, ECDSA P-256 (default) or
# RSA-2048: STEM.crt and STEM.key (default stem: tls), and for the default also haproxy.pem.
make_cert() {
    local kind=${1:-ec} stem=${2:-tls} key_options
    case $kind in
    ec) key_options=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
    rsa) key_options=(-newkey rsa:2048) ;;
    *) die "make_cert: unknown key kind $kind" ;;
    esac
    cat >"$WORK/openssl-leaf.cnf" <<'EOF_CNF'
[req]
distinguished_name = dn
x509_extensions = leaf
prompt = no
[dn]
CN = localhost
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
EOF_CNF
    openssl req -x509 -config "$WORK/openssl-leaf.cnf" "${key_options[@]}" -nodes -days 2 \
        -keyout "$WORK/$stem.key" -out "$WORK/$stem.crt" >/dev/null 2>&1 ||
        die "openssl could not make a certificate"
    chmod 644 "$WORK/$stem.key"
    if [[ $stem == tls ]]; then
        cat "$WORK/tls.crt" "$WORK/tls.key" >"$WORK/haproxy.pem"
        chmod 644 "$WORK/haproxy.pem"
    fi
}

# make_body BYTES FILE — a JSON document of exactly BYTES bytes.
make_body() {
    local size=$1 out=$2 head='{"event":"bench","data":"' tail='"}'
    {
        printf '%s' "$head"
        head -c $((size - ${#head} - ${#tail})) /dev/zero | tr '\0' x
        printf '%s' "$tail"
    } >"$out"
    [[ $(stat -c %s "$out") == "$size" ]] || die "body $out is not $size bytes"
}

# visma_signature SECRET FILE — base64(HMAC-SHA256(secret, body)) with openssl.
visma_signature() { openssl dgst -sha256 -hmac "$1" -binary "$2" | base64 -w0; }

# check_signature_with_hookwall BIN SECRET FILE SIGNATURE — the bench's openssl signature must
# equal `hookwall sign`'s, or every number would measure the 401 path.
check_signature_with_hookwall() {
    local bin=$1 secret=$2 file=$3 expected=$4 line
    line=$(HOOKWALL_BENCH_SECRET=$secret "$bin" sign --scheme visma \
        --secret-env HOOKWALL_BENCH_SECRET --body-file "$file")
    [[ $line == "x-vwd-signature-v1: $expected" ]] ||
        die "openssl and 'hookwall sign' disagree on the signature of $file: $line"
}

# size_bytes 1KiB|16KiB|256KiB|1MiB
size_bytes() {
    case $1 in
    *KiB) echo $((${1%KiB} * 1024)) ;;
    *MiB) echo $((${1%MiB} * 1024 * 1024)) ;;
    *) die "size $1: write it like 1KiB, 16KiB, 256KiB or 1MiB" ;;
    esac
}

# seconds_of 10s|10 — whole seconds, for bounding runs with `timeout`.
seconds_of() {
    [[ $1 =~ ^([0-9]+)s?$ ]] || die "duration $1: write whole seconds, like 10s"
    echo "${BASH_REMATCH[1]}"
}

raise_open_files() {
    local hard
    hard=$(ulimit -Hn)
    if [[ $hard == unlimited ]] || ((hard >= 16384)); then
        ulimit -n 16384
    else
        ulimit -n "$hard"
    fi
}

# build_tools — the release binary (HOOKWALL_BIN overrides) and the load clients (with
# --no-build: as last built, in $CARGO_TARGET_DIR/release), resolved
# once to executables (CONSTANT_RATE_BIN, HOLD_BIN) so that a later source change cannot
# trigger a rebuild inside a timed run.
build_tools() {
    if [[ ${NO_BUILD:-0} != 1 ]]; then
        log "building hookwall (release) and the load clients in $TARGET_DIR"
        (cd "$REPO" && timeout 3600 cargo build --release --quiet) ||
            die "cargo build --release failed"
    fi
    HOOKWALL_BIN=${HOOKWALL_BIN:-$TARGET_DIR/release/hookwall}
    [[ -x $HOOKWALL_BIN ]] || die "no hookwall binary at $HOOKWALL_BIN"
    if [[ ${NO_BUILD:-0} != 1 ]]; then
        (cd "$REPO" && timeout 3600 cargo build --release --quiet \
            --example constant_rate --example hold_connections --example new_connections) ||
            die "building the load clients failed (cargo build --release --example constant_rate --example hold_connections --example new_connections)"
    fi
    CONSTANT_RATE_BIN=$TARGET_DIR/release/examples/constant_rate
    HOLD_BIN=$TARGET_DIR/release/examples/hold_connections
    NEW_CONNECTIONS_BIN=$TARGET_DIR/release/examples/new_connections
    [[ -x $CONSTANT_RATE_BIN && -x $HOLD_BIN && -x $NEW_CONNECTIONS_BIN ]] ||
        die "cannot find the built load clients"
}

describe_machine() {
    echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine:   $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
    echo "load avg:  $(cut -d' ' -f1-3 /proc/loadavg) (before the run; other work on the machine adds noise)"
    echo "hookwall:  $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' + uncommitted changes')"
}
