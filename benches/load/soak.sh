#!/usr/bin/env bash
# Soak: does a release hookwall stay flat in memory and file descriptors over a million
# signed deliveries? Pushes SOAK_REQUESTS (default 1,000,000) signed Visma requests over TLS
# keep-alive connections (wrk + soak.lua) through hookwall to nginx (a fast upstream), and
# reports RSS and open fds of hookwall from /proc before, after and after an idle pause,
# plus the outcome counts from /metrics. Everything runs on 127.0.0.1 and stops by itself.
#
#   benches/load/soak.sh
#   SOAK_REQUESTS=200000 SOAK_CONNECTIONS=16 benches/load/soak.sh
#
# Settings (environment): SOAK_REQUESTS, SOAK_CONNECTIONS (64), SOAK_THREADS (1),
# SOAK_WORKERS (hookwall's server.workers, 1), SOAK_MAX_SECONDS (hard bound, 1200),
# SOAK_LOG_LEVEL (hookwall's log.level, "warn": a million info lines measure the disk).
# Needs: cargo, wrk, nginx, openssl, curl (apt-get install wrk nginx-light openssl curl).
set -euo pipefail
cd "$(dirname "$0")/../.."

requests=${SOAK_REQUESTS:-1000000}
connections=${SOAK_CONNECTIONS:-64}
threads=${SOAK_THREADS:-1}
workers=${SOAK_WORKERS:-1}
max_seconds=${SOAK_MAX_SECONDS:-1200}
log_level=${SOAK_LOG_LEVEL:-warn}

for tool in wrk nginx openssl curl; do
  command -v "$tool" >/dev/null || { echo "soak: $tool is missing (apt-get install $tool)" >&2; exit 2; }
done

cargo build --release --quiet --bin hookwall
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
hookwall="$target_dir/release/hookwall"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The fast upstream: nginx answering 200 with a small JSON body, keep-alive without limit.
upstream_port=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$upstream_port;
    location / { return 200 '{"received":true}'; }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)

# hookwall: TLS with a throwaway certificate, one Visma route, the secret in a file.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
printf 'soak-secret-%s' "$RANDOM$RANDOM" > "$work/secret"
printf '{"event":"CustomerChanged","tenantId":"1234567","entityId":"8e1f7c4a-5d0b-4b8e-9a51-2f0e6c3d9b77","changedAt":"2024-05-01T12:00:00Z"}' > "$work/body.json"
signature=$(openssl dgst -sha256 -hmac "$(cat "$work/secret")" -binary "$work/body.json" | openssl base64 -A)
proxy_port=$(free_port)
admin_port=$(free_port)
cat > "$work/hookwall.toml" <<CONF
[server]
listen = "127.0.0.1:$proxy_port"
workers = $workers
shutdown_delay = "0s"
[server.tls]
cert_file = "$work/tls.crt"
key_file = "$work/tls.key"
[admin]
listen = "127.0.0.1:$admin_port"
[upstream]
url = "http://127.0.0.1:$upstream_port"
[limits]
max_connections = 4096
[log]
level = "$log_level"
[[route]]
path = "/webhooks/visma"
scheme = "visma"
secrets = [{ file = "$work/secret" }]
CONF
"$hookwall" run --config "$work/hookwall.toml" > "$work/hookwall.log" 2>&1 &
hookwall_pid=$!
pids+=($hookwall_pid)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null

url="https://127.0.0.1:$proxy_port/webhooks/visma"
check=$(curl -sk -o /dev/null -w '%{http_code}' --data-binary @"$work/body.json" \
  -H "x-vwd-signature-v1: $signature" "$url")
[ "$check" = 200 ] || { echo "soak: a signed request got $check, not 200" >&2; cat "$work/hookwall.log" >&2; exit 1; }

snapshot() {
  local rss fds threads_now
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$hookwall_pid/status")
  fds=$(ls "/proc/$hookwall_pid/fd" | wc -l)
  threads_now=$(awk '/^Threads/ {print $2}' "/proc/$hookwall_pid/status")
  printf '%-28s rss %6d KiB  fds %5d  threads %3d\n' "$1" "$rss" "$fds" "$threads_now"
}

# Runs wrk until every thread has sent its share (or max_seconds pass). wrk sleeps out its
# -d duration even when the threads are done, so it is interrupted once they are.
run_wrk() {
  local per_thread=$(( ($1 + threads - 1) / threads )) markers
  markers=$(mktemp -d -p "$work")
  wrk -t"$threads" -c"$connections" -d"${max_seconds}s" \
    -s benches/load/soak.lua "$url" -- "$per_thread" "$signature" "$work/body.json" "$markers" &
  local wrk_pid=$!
  while kill -0 "$wrk_pid" 2>/dev/null; do
    if [ "$(find "$markers" -type f | wc -l)" -ge "$threads" ]; then
      kill -INT "$wrk_pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  wait "$wrk_pid"
}

echo "soak: $requests signed requests, $connections TLS keep-alive connections, wrk threads $threads, hookwall workers $workers, log level $log_level"
snapshot "started (idle)"
run_wrk 20000 > "$work/warmup.txt"
sleep 1
snapshot "after 20k warm-up"
started=$(date +%s.%N)
run_wrk "$requests" | tee "$work/wrk.txt"
elapsed=$(echo "$(date +%s.%N) - $started" | bc)
snapshot "after the soak"
sleep 6
snapshot "6 s later (idle)"

metrics=$(curl -s "http://127.0.0.1:$admin_port/metrics")
echo "outcomes (hookwall_requests_total, non-zero):"
echo "$metrics" | grep '^hookwall_requests_total' | awk '$2 != 0 {print "  " $0}'
echo "$metrics" | grep -E '^hookwall_(connections_(total|open|evicted_total|idle_closed_total)|tls_handshake_failures_total|protocol_errors_total|in_flight_requests) ' | sed 's/^/  /'
echo "$metrics" | grep -E '^hookwall_connections_rejected_total' | sed 's/^/  /'
forwarded=$(echo "$metrics" | awk -F' ' '/^hookwall_requests_total\{outcome="forwarded",route="\/webhooks\/visma"\}/ {print $2}')
sent=$(awk '/^soak-status/ {sum += $3} END {print sum + 0}' "$work/wrk.txt")
ok=$(awk '/^soak-status 200 / {print $3}' "$work/wrk.txt")
printf 'soak: %s requests answered in %.1f s (%.0f/s); %s answered 200; hookwall forwarded %s in all (incl. warm-up and check)\n' \
  "$sent" "$elapsed" "$(echo "$sent / $elapsed" | bc -l)" "${ok:-0}" "$forwarded"
if [ "${ok:-0}" -lt "$requests" ]; then
  echo "soak: FAILED: fewer than $requests requests answered 200" >&2
  exit 1
fi
kill -TERM "$hookwall_pid"
wait "$hookwall_pid" && echo "soak: hookwall exited 0 after SIGTERM"
