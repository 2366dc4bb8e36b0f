#!/usr/bin/env bash
# TLS scan: what does testssl.sh find on hookwall's TLS listener, configured as in
# production (a certificate from a CA, here a throwaway local one passed with --add-ca)?
# Runs a release hookwall on 127.0.0.1, scans it with testssl.sh, prints every finding of
# severity LOW or worse, and exits 1 if any is MEDIUM, HIGH or CRITICAL.
#
#   benches/load/tls_scan.sh            ECDSA P-256 certificate
#   TLS_SCAN_KEY=rsa benches/load/tls_scan.sh   RSA 2048
#
# Needs: cargo, testssl.sh (Debian package `testssl.sh`), openssl, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."

key_type=${TLS_SCAN_KEY:-ec}
for tool in testssl openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "tls_scan: $tool is missing (apt-get install testssl.sh openssl curl python3)" >&2; exit 2; }
done

cargo build --release --quiet --bin hookwall
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
hookwall="$target_dir/release/hookwall"

work=$(mktemp -d)
hookwall_pid=""
cleanup() {
  [ -n "$hookwall_pid" ] && kill "$hookwall_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

case "$key_type" in
  ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
  rsa) newkey=(-newkey rsa:2048) ;;
  *) echo "TLS_SCAN_KEY is ec or rsa" >&2; exit 2 ;;
esac
# A local CA and a 90-day server certificate for localhost and 127.0.0.1, chain included.
openssl req -x509 "${newkey[@]}" -nodes -days 30 -subj "/CN=hookwall scan CA" \
  -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req "${newkey[@]}" -nodes -subj /CN=localhost \
  -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
# Like a public CA's, the certificate names a CRL (testssl.sh rates a certificate without
# one HIGH; that is the certificate's property, not hookwall's).
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature%s\nbasicConstraints=critical,CA:FALSE\ncrlDistributionPoints=URI:http://ca.invalid/hookwall-scan.crl\n' \
  "$([ "$key_type" = rsa ] && echo ,keyEncipherment)" > "$work/ext.cnf"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
  -days 90 -sha256 -extfile "$work/ext.cnf" -out "$work/leaf.crt" 2>/dev/null
cat "$work/leaf.crt" "$work/ca.crt" > "$work/tls.crt"
printf 'scan-secret' > "$work/secret"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
admin=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/hookwall.toml" <<CONF
[server]
listen = "127.0.0.1:$port"
shutdown_delay = "0s"
[server.tls]
cert_file = "$work/tls.crt"
key_file = "$work/tls.key"
[admin]
listen = "127.0.0.1:$admin"
[upstream]
url = "http://127.0.0.1:9"
[log]
level = "warn"
[[route]]
path = "/webhooks/visma"
scheme = "visma"
secrets = [{ file = "$work/secret" }]
CONF
"$hookwall" run --config "$work/hookwall.toml" > "$work/hookwall.log" 2>&1 &
hookwall_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "tls_scan: testssl.sh $(testssl --version 2>/dev/null | grep -o 'testssl *[0-9.]*' | head -1 | awk '{print $2}') against hookwall on 127.0.0.1:$port ($key_type certificate)"
testssl --quiet --warnings off --nodns none --add-ca "$work/ca.crt" --color 0 \
  --jsonfile "$work/scan.json" "https://127.0.0.1:$port/webhooks/visma" > "$work/scan.txt" 2>&1 || true
cp "$work/scan.txt" "${TLS_SCAN_REPORT:-/dev/null}" 2>/dev/null || true

python3 - "$work/scan.json" <<'PY'
import json, sys
order = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
findings = json.load(open(sys.argv[1]))
worse = [f for f in findings if f.get("severity") in order]
counts = {}
for f in findings:
    counts[f.get("severity")] = counts.get(f.get("severity"), 0) + 1
print("tls_scan: findings by severity:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
for f in sorted(worse, key=lambda f: order.index(f["severity"])):
    print(f"  {f['severity']:8} {f['id']}: {f['finding']}")
bad = [f for f in worse if f["severity"] != "LOW"]
if bad:
    print(f"tls_scan: FAILED: {len(bad)} finding(s) worse than LOW")
    sys.exit(1)
print("tls_scan: nothing worse than LOW")
PY
