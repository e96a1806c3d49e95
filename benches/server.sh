#!/usr/bin/env bash
# Requests per second of authsign-server: N small PE files (default 1,000) signed with
# `sign --remote` in one batch (one request per file, many at once, kept-alive TLS), against
# the server on 127.0.0.1 with
#   1. the test RSA-2048 key from a PEM file,
#   2. the same key in a SoftHSM2 token (PKCS#11, one session per worker),
# and, for scale, the same batch signed locally with the PEM key. Every request is a real
# signature with an audit line synced to disk. Needs openssl and softhsm2-util.
#
#   benches/server.sh [N] [WORKERS]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-1000}
workers=${2:-$(nproc)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build --quiet --release -p authsign-server
cargo build --quiet --release --features remote --example sign
server_bin=$CARGO_TARGET_DIR/release/authsign-server
sign_bin=$CARGO_TARGET_DIR/release/examples/sign
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# TLS for 127.0.0.1 (P-256).
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req "${ec[@]}" -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
  -days 2 -extfile server.ext 2>/dev/null

export BENCH_TOKEN=bench-token-$RANDOM$RANDOM
hash=$(printf %s "$BENCH_TOKEN" | sha256sum | cut -d' ' -f1)
pki=$root/tests/fixtures/pki

files() {
  rm -rf files && mkdir files
  for i in $(seq 1 "$n"); do cp "$root/tests/fixtures/pe/hello64.exe" "files/f$i.exe"; done
}

start() { # CLIENTS.json, then server arguments
  printf '%s' "$1" > clients.json
  shift
  rm -f audit.jsonl
  "$server_bin" --listen 127.0.0.1:0 --tls-cert server.pem --tls-key server.key \
    --clients clients.json --audit audit.jsonl --workers "$workers" --queue 4096 "$@" \
    > server.out 2> server.err &
  server_pid=$!
  for _ in $(seq 1 100); do
    grep -q '^listening on ' server.out 2>/dev/null && break
    sleep 0.1
  done
  url=$(sed -n 's/^listening on //p' server.out)
  [ -n "$url" ] || { cat server.err; exit 1; }
}

stop() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=
}

timed() { # label, command...
  local label=$1
  shift
  files
  local t0 t1
  t0=$(date +%s.%N)
  "$@" files/*.exe > /dev/null
  t1=$(date +%s.%N)
  awk -v l="$label" -v n="$n" -v a="$t0" -v b="$t1" \
    'BEGIN { printf "%-44s %6d signatures in %6.2f s: %7.1f per second\n", l, n, b - a, n / (b - a) }'
}

remote() {
  "$sign_bin" --remote "$url" --remote-ca ca.pem --token-env BENCH_TOKEN \
    --signing-time 1700000000 "$@"
}

echo "authsign-server, $n small PE files (hello64.exe, $(stat -c %s "$root/tests/fixtures/pe/hello64.exe") bytes), $workers key workers, $(nproc) cores"
timed "local sign, RSA-2048 PEM key (no server)" \
  "$sign_bin" --cert "$pki/leaf-rsa-chain.pem" --key "$pki/leaf-rsa.key" --signing-time 1700000000

start "{\"clients\":[{\"name\":\"bench\",\"token_sha256\":\"$hash\"}]}" \
  --cert "$pki/leaf-rsa-chain.pem" --key "$pki/leaf-rsa.key"
timed "sign --remote, RSA-2048 PEM key" remote
lines=$(wc -l < audit.jsonl)
stop
echo "  audit lines: $lines"

module=
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
  /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -f "$m" ] && module=$m && break
done
if [ -z "$module" ] || ! command -v softhsm2-util > /dev/null; then
  echo "SoftHSM2 not installed: no PKCS#11 figure"
  exit 0
fi
mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" > softhsm2.conf
export SOFTHSM2_CONF=$work/softhsm2.conf
# A throwaway token with bench PINs.
softhsm2-util --init-token --free --label bench --so-pin 5678 --pin 1234 > /dev/null
softhsm2-util --import "$pki/leaf-rsa.key" --token bench --label release --id 01 --pin 1234 > /dev/null
export BENCH_PIN=1234
start "{\"clients\":[{\"name\":\"bench\",\"token_sha256\":\"$hash\"}],
  \"profiles\":[{\"name\":\"hsm\",\"key\":[\"--pkcs11-module\",\"$module\",\"--pkcs11-token\",\"bench\",
  \"--pkcs11-key\",\"release\",\"--pin-env\",\"BENCH_PIN\",\"--cert\",\"$pki/leaf-rsa-chain.pem\"]}]}"
timed "sign --remote, RSA-2048 in SoftHSM2 (PKCS#11)" remote
lines=$(wc -l < audit.jsonl)
stop
echo "  audit lines: $lines"
