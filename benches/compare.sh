#!/usr/bin/env bash
# Side by side: authsign against `openssl dgst -sha256` and osslsigncode on a synthetic PE32+
# (a small real PE with SIZE of pseudo-random overlay appended; the overlay is hashed like
# any section). Prints the median wall time and peak RSS of RUNS runs of each command, and the
# median of the ratios of each run to an `openssl dgst -sha256` run over the same file right
# after it (pairs, so a noisy shared machine skews both sides alike).
#
#   benches/compare.sh [SIZE_MIB (1024)] [RUNS (5)] [all|pe|appx|batch (all)]
#
# The APPX rows sign and verify an MSIX of SIZE_MIB with one stored payload file and a matching
# block map (benches/appx_package.py); `appx` runs only those, `pe` all but those, `batch` only
# the many-small-files rows (signing 200 PE files in one call against a loop of osslsigncode,
# with the default pure-Rust RSA and with the `ring` feature, with the other core idle and
# busy; verifying 1,000 files).
#
# Needs: cargo, openssl, osslsigncode, python3, GNU time (/usr/bin/time), iconv, taskset. Uses $TMPDIR
# (SIZE_MIB * 7 of disk, and SCRIPT_MIB (200) * 8 for the script rows). Every command reads a
# file already in the page cache (one warm-up run each).
set -euo pipefail
SIZE_MIB=${1:-1024}
RUNS=${2:-5}
ONLY=${3:-all}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PKI=$ROOT/tests/fixtures/pki
CERT=$PKI/leaf-rsa-chain.pem
KEY=$PKI/leaf-rsa.key
BIN=$ROOT/target/release/examples
command -v osslsigncode >/dev/null || { echo "osslsigncode not found" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "GNU time (/usr/bin/time) not found" >&2; exit 2; }

W=$(mktemp -d "${TMPDIR:-/tmp}/authsign-compare.XXXXXX")
trap 'rm -rf "$W"' EXIT
# The sign example with RSA through ring (feature `ring`) for the batch rows, then the default
# build that every other row uses.
(cd "$ROOT" && cargo build --release --example sign --features ring --quiet)
cp "$BIN/sign" "$W/sign-ring"
(cd "$ROOT" && cargo build --release --examples --quiet)

payload() { # payload FILE: SIZE_MIB of pseudo-random bytes
    set +o pipefail # openssl stops on SIGPIPE when head has enough
    openssl enc -aes-128-ctr -pass pass:authsign -nosalt -pbkdf2 </dev/zero 2>/dev/null \
        | head -c $((SIZE_MIB * 1024 * 1024)) >>"$1"
    set -o pipefail
}
if [ "$ONLY" != appx ]; then
echo "building a ${SIZE_MIB} MiB PE32+ in $W" >&2
cp "$ROOT/tests/fixtures/pe/hello64.exe" "$W/big.exe"
payload "$W/big.exe"
"$BIN/sign" --cert "$CERT" --key "$KEY" "$W/big.exe" -o "$W/signed.exe" >/dev/null
mkdir -p "$W/small" "$W/verify"
for i in $(seq 1 200); do cp "$ROOT/tests/fixtures/pe/hello64.exe" "$W/small/f$i.exe"; done
# 1,000 small signed files for the verification batch (signed once, by one batch call).
for i in $(seq 1 1000); do cp "$ROOT/tests/fixtures/pe/hello64.exe" "$W/verify/f$i.exe"; done
"$BIN/sign" --cert "$CERT" --key "$KEY" "$W"/verify/*.exe >/dev/null
fi

# measure NAME SETUP COMMAND: RUNS times after one warm-up, run SETUP (untimed), then COMMAND
# under GNU time, then the reference `openssl dgst -sha256` on the same file: the ratio is taken
# pair by pair, so the machine's drift (a shared machine is noisy) hits both sides alike.
# Prints the medians of the wall time, the peak RSS and the ratio.
declare -A MEDIAN
REF="openssl dgst -sha256 '$W/big.exe'"
timed() { # COMMAND -> "wall_s rss_kib" on stdout
    /usr/bin/time -f '%e %M' -o "$W/time" bash -c "$1" >/dev/null 2>"$W/err" \
        || { echo "failed: $1" >&2; cat "$W/err" >&2; exit 1; }
    cat "$W/time"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {
    local name=$1 setup=$2 cmd=$3 i t m rt rm times=() rss=() ratios=()
    for i in $(seq 0 "$RUNS"); do
        eval "$setup"
        read -r t m < <(timed "$cmd")
        read -r rt rm < <(timed "$REF")
        [ "$i" -eq 0 ] && continue
        times+=("$t"); rss+=("$m")
        ratios+=("$(awk -v a="$t" -v b="$rt" 'BEGIN {print (b > 0 ? a / b : 0)}')")
    done
    local mt mr mq
    mt=$(printf '%s\n' "${times[@]}" | median)
    mr=$(printf '%s\n' "${rss[@]}" | median)
    mq=$(printf '%s\n' "${ratios[@]}" | median)
    MEDIAN[$name]=$mt
    printf '%-48s %7.2f s %8.1f MiB %7.2fx\n' "$name" "$mt" "$(awk -v k="$mr" 'BEGIN {print k / 1024}')" "$mq"
}

fresh='cp --reflink=auto "$W/big.exe" "$W/work.exe"; rm -f "$W/out.exe"'
smalls='for f in "$W"/small/*.exe; do cp "$ROOT/tests/fixtures/pe/hello64.exe" "$f"; done'
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); file: ${SIZE_MIB} MiB; medians of $RUNS runs"
printf '%-48s %9s %12s %8s\n' command wall "peak RSS" "/openssl"
if [ "$ONLY" != appx ]; then
measure "openssl dgst -sha256" : "$REF"
if [ "$ONLY" != batch ]; then
measure "authsign digest (verify --print-digest)" : "'$BIN/verify' --print-digest sha256 '$W/big.exe'"
measure "authsign verify" : "'$BIN/verify' --trusted '$PKI/root.pem' '$W/signed.exe'"
measure "authsign sign in place" "$fresh" "'$BIN/sign' --cert '$CERT' --key '$KEY' '$W/work.exe'"
measure "authsign sign -o" "$fresh" "'$BIN/sign' --cert '$CERT' --key '$KEY' '$W/work.exe' -o '$W/out.exe'"
measure "authsign dual sign (sha1 + sha256, in place)" "$fresh" "'$BIN/sign' --cert '$CERT' --key '$KEY' --digest sha1 --digest sha256 '$W/work.exe'"
measure "osslsigncode extract-data -h sha256" "$fresh" "osslsigncode extract-data -h sha256 -in '$W/big.exe' -out '$W/out.exe'"
measure "osslsigncode sign" "$fresh" "osslsigncode sign -certs '$CERT' -key '$KEY' -h sha256 -in '$W/work.exe' -out '$W/out.exe'"
measure "osslsigncode verify" : "osslsigncode verify -CAfile '$PKI/root.pem' -in '$W/signed.exe'"
measure "osslsigncode dual sign (sign, then -nest)" "$fresh; rm -f '$W/out1.exe'" "osslsigncode sign -certs '$CERT' -key '$KEY' -h sha1 -in '$W/work.exe' -out '$W/out1.exe' && osslsigncode sign -nest -certs '$CERT' -key '$KEY' -h sha256 -in '$W/out1.exe' -out '$W/out.exe'"
fi
measure "authsign batch: 200 small PE, one call (RSA-2048)" "$smalls" "'$BIN/sign' --cert '$CERT' --key '$KEY' '$W'/small/*.exe"
measure "osslsigncode: 200 small PE, a loop (RSA-2048)" "$smalls; rm -f '$W'/small/*.out" "for f in '$W'/small/*.exe; do osslsigncode sign -certs '$CERT' -key '$KEY' -h sha256 -in \"\$f\" -out \"\$f.out\" >/dev/null || exit 1; done"
measure "authsign batch, RSA-2048, feature ring" "$smalls" "'$W/sign-ring' --cert '$CERT' --key '$KEY' '$W'/small/*.exe"
measure "authsign batch, P-256 key" "$smalls" "'$BIN/sign' --cert '$PKI/leaf-p256-chain.pem' --key '$PKI/leaf-p256.key' '$W'/small/*.exe"
measure "osslsigncode loop, P-256 key" "$smalls; rm -f '$W'/small/*.out" "for f in '$W'/small/*.exe; do osslsigncode sign -certs '$PKI/leaf-p256-chain.pem' -key '$PKI/leaf-p256.key' -h sha256 -in \"\$f\" -out \"\$f.out\" >/dev/null || exit 1; done"
# The same batch rows with the machine's other core busy (a busy loop pinned to core 1).
busy_start() { taskset -c 1 sh -c 'while :; do :; done' & BUSY=$!; }
busy_stop() { kill "$BUSY"; wait "$BUSY" 2>/dev/null || true; }
busy_start
measure "authsign batch, RSA-2048, other core busy" "$smalls" "'$BIN/sign' --cert '$CERT' --key '$KEY' '$W'/small/*.exe"
measure "authsign batch, RSA-2048, ring, other core busy" "$smalls" "'$W/sign-ring' --cert '$CERT' --key '$KEY' '$W'/small/*.exe"
measure "osslsigncode loop, RSA-2048, other core busy" "$smalls; rm -f '$W'/small/*.out" "for f in '$W'/small/*.exe; do osslsigncode sign -certs '$CERT' -key '$KEY' -h sha256 -in \"\$f\" -out \"\$f.out\" >/dev/null || exit 1; done"
busy_stop
measure "authsign verify: 1000 small signed PE, one call" : "'$BIN/verify' --trusted '$PKI/root.pem' '$W'/verify/*.exe"
measure "osslsigncode verify: 1000 small signed PE, a loop" : "for f in '$W'/verify/*.exe; do osslsigncode verify -CAfile '$PKI/root.pem' -in \"\$f\" >/dev/null || exit 1; done"

if [ "$ONLY" != batch ]; then
# Scripts: a ${SCRIPT_MIB} MiB generated PowerShell script (ASCII, CRLF), and the same text in
# UTF-16LE. The PowerShell SIP hashes the text as UTF-16LE, so an 8-bit script is hashed as
# twice its size (one SHA-256 stream cannot be split): its floor is `openssl dgst` over the
# UTF-16LE copy, about 2x `openssl dgst` over the file. The UTF-16LE script is hashed as it is.
SCRIPT_MIB=${SCRIPT_MIB:-200}
echo "building ${SCRIPT_MIB} MiB scripts in $W" >&2
set +o pipefail
yes $'Write-Host "The quick brown fox jumps over the lazy dog 0123456789"\r' \
    | head -c $((SCRIPT_MIB * 1024 * 1024)) >"$W/big.ps1"
set -o pipefail
{ printf '\377\376'; iconv -f UTF-8 -t UTF-16LE "$W/big.ps1"; } >"$W/big16.ps1"
"$BIN/sign" --cert "$CERT" --key "$KEY" "$W/big.ps1" -o "$W/signed.ps1" >/dev/null
"$BIN/sign" --cert "$CERT" --key "$KEY" "$W/big16.ps1" -o "$W/signed16.ps1" >/dev/null
fresh_ps1='cp --reflink=auto "$W/big.ps1" "$W/work.ps1"; rm -f "$W/out.ps1"'
fresh_ps16='cp --reflink=auto "$W/big16.ps1" "$W/work16.ps1"'
REF="openssl dgst -sha256 '$W/big.ps1'"
measure "script ${SCRIPT_MIB} MiB: openssl dgst -sha256" : "$REF"
measure "script: openssl over its UTF-16LE (the floor)" : "openssl dgst -sha256 '$W/big16.ps1'"
measure "script: authsign digest (--print-digest)" : "'$BIN/verify' --print-digest sha256 '$W/big.ps1'"
measure "script: authsign sign in place" "$fresh_ps1" "'$BIN/sign' --cert '$CERT' --key '$KEY' '$W/work.ps1'"
measure "script: authsign verify" : "'$BIN/verify' --trusted '$PKI/root.pem' '$W/signed.ps1'"
measure "script: osslsigncode sign" "$fresh_ps1" "osslsigncode sign -certs '$CERT' -key '$KEY' -h sha256 -in '$W/work.ps1' -out '$W/out.ps1'"
measure "script: osslsigncode verify" : "osslsigncode verify -CAfile '$PKI/root.pem' -in '$W/signed.ps1'"
REF="openssl dgst -sha256 '$W/big16.ps1'"
measure "script UTF-16LE ($((SCRIPT_MIB * 2)) MiB): openssl dgst" : "$REF"
measure "script UTF-16LE: authsign sign in place" "$fresh_ps16" "'$BIN/sign' --cert '$CERT' --key '$KEY' '$W/work16.ps1'"
measure "script UTF-16LE: authsign verify" : "'$BIN/verify' --trusted '$PKI/root.pem' '$W/signed16.ps1'"

fi

echo "verify batch speed-up: $(awk -v a="${MEDIAN['osslsigncode verify: 1000 small signed PE, a loop']}" -v b="${MEDIAN['authsign verify: 1000 small signed PE, one call']}" 'BEGIN {printf "%.1fx", a / b}')"
echo "batch speed-up, RSA-2048: $(awk -v a="${MEDIAN['osslsigncode: 200 small PE, a loop (RSA-2048)']}" -v b="${MEDIAN['authsign batch: 200 small PE, one call (RSA-2048)']}" 'BEGIN {printf "%.1fx", a / b}')"
echo "batch speed-up, RSA-2048, other core busy: $(awk -v a="${MEDIAN['osslsigncode loop, RSA-2048, other core busy']}" -v b="${MEDIAN['authsign batch, RSA-2048, other core busy']}" 'BEGIN {printf "%.1fx", a / b}')"
echo "batch speed-up, RSA-2048, feature ring: $(awk -v a="${MEDIAN['osslsigncode: 200 small PE, a loop (RSA-2048)']}" -v b="${MEDIAN['authsign batch, RSA-2048, feature ring']}" 'BEGIN {printf "%.1fx", a / b}')"
echo "batch speed-up, RSA-2048, feature ring, other core busy: $(awk -v a="${MEDIAN['osslsigncode loop, RSA-2048, other core busy']}" -v b="${MEDIAN['authsign batch, RSA-2048, ring, other core busy']}" 'BEGIN {printf "%.1fx", a / b}')"
echo "batch speed-up, P-256: $(awk -v a="${MEDIAN['osslsigncode loop, P-256 key']}" -v b="${MEDIAN['authsign batch, P-256 key']}" 'BEGIN {printf "%.1fx", a / b}')"
fi

if [ "$ONLY" != pe ] && [ "$ONLY" != batch ]; then
    echo "building a ${SIZE_MIB} MiB MSIX (stored payload, SHA-256 block map) in $W" >&2
    payload "$W/payload.bin"
    # The test leaf's subject as Windows renders it: the package's Publisher, so no
    # --allow-publisher-mismatch is needed.
    python3 "$ROOT/benches/appx_package.py" "$W/payload.bin" "$W/big.msix" \
        "O=authsign tests, CN=authsign Test Signer leaf-rsa"
    rm -f "$W/payload.bin"
    "$BIN/sign" --cert "$CERT" --key "$KEY" "$W/big.msix" -o "$W/signed.msix" >/dev/null
    REF="openssl dgst -sha256 '$W/big.msix'"
    freshx='cp --reflink=auto "$W/big.msix" "$W/work.msix"; rm -f "$W/out.msix"'
    measure "openssl dgst -sha256 (MSIX)" : "$REF"
    measure "authsign sign MSIX, in place" "$freshx" "'$BIN/sign' --cert '$CERT' --key '$KEY' '$W/work.msix'"
    measure "authsign sign MSIX -o (copy synced to disk)" "$freshx" "'$BIN/sign' --cert '$CERT' --key '$KEY' '$W/work.msix' -o '$W/out.msix'"
    measure "authsign verify MSIX (digest + block map)" : "'$BIN/verify' --trusted '$PKI/root.pem' '$W/signed.msix'"
    measure "osslsigncode sign MSIX" "$freshx" "osslsigncode sign -certs '$CERT' -key '$KEY' -in '$W/work.msix' -out '$W/out.msix'"
    measure "osslsigncode verify MSIX" : "osslsigncode verify -CAfile '$PKI/root.pem' -in '$W/signed.msix'"
fi
