#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 60) with the limits CI uses:
#   fuzz/run.sh 600                 all targets, one after the other
#   JOBS=2 fuzz/run.sh 300          two targets at a time
#   fuzz/run.sh 60 pe cms           only some targets
# Needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz
# (`cargo install cargo-fuzz`). Corpora are seeded by fuzz/seed.sh on first use; logs go to
# fuzz/logs/<target>.log; crashes, hangs and OOMs land in fuzz/artifacts/<target>/ and make
# this script exit 1. Turn each into a file under tests/fixtures/regressions/ and a test.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pe cab msi appx cat cms verify sign_roundtrip script)
jobs=${JOBS:-1}
toolchain=${FUZZ_TOOLCHAIN:-nightly}

[ -d corpus/pe ] && [ -n "$(ls corpus/pe)" ] || ./seed.sh
mkdir -p logs
for t in "${targets[@]}"; do cargo +"$toolchain" fuzz build --debug-assertions "$t"; done

run_one() {
  local t=$1 secs=$2 toolchain=$3
  mkdir -p "corpus/$t" "artifacts/$t"
  if cargo +"$toolchain" fuzz run --debug-assertions "$t" "corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=512 -timeout=10 -max_len=262144 \
      -print_final_stats=1 >"logs/$t.log" 2>&1; then
    status=ok
  else
    status=FAILED
  fi
  local execs cov ft
  execs=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || true)
  cov=$(grep -o 'cov: [0-9]*' "logs/$t.log" | tail -1 | cut -d' ' -f2 || true)
  ft=$(grep -o 'ft: [0-9]*' "logs/$t.log" | tail -1 | cut -d' ' -f2 || true)
  printf '%-15s %-6s %5ss  exec/s %-7s cov %-6s ft %-6s corpus %s\n' "$t" "$status" "$secs" \
    "${execs:-?}" "${cov:-?}" "${ft:-?}" "$(ls "corpus/$t" | wc -l)"
  [ "$status" = ok ]
}
export -f run_one
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {} "$secs" "$toolchain"
