#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of the input-parsing surfaces, each target
# for a bounded time: image decoding, archive members, multipart forms, ffprobe's JSON, the
# audit chain's verification (fuzz/fuzz_targets/). On the stable toolchain, so without a
# sanitizer; with debug assertions, so that an arithmetic overflow is a crash too. Each
# target's corpus (fuzz/corpus/<target>, kept between runs) starts from fuzz/seeds/<target>.
# Prints one line per target with libFuzzer's execution count; exits non-zero if any target
# crashed (a panic, an abort, a timeout or running out of memory), naming the input that did.
#
#   FUZZ_SECONDS   time per target (default 20)
#   FUZZ_TARGETS   targets to run (default: all, as `cargo fuzz list` names them)
#   FUZZ_TIMEOUT   longest a single input may take, seconds (default 10)
#   FUZZ_RSS_MB    memory limit, MiB (default 2048)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-20}"
CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
flags=(--sanitizer none --debug-assertions)

start=$(date +%s)
cargo fuzz build "${flags[@]}"
echo "fuzz build: $(($(date +%s) - start)) s"

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
logs=fuzz/target/logs
mkdir -p "$logs"
summary=()
failed=0
for t in $targets; do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus"
  if [ -d "fuzz/seeds/$t" ]; then
    cp -n "fuzz/seeds/$t"/* "$corpus"/ 2>/dev/null || true
  fi
  log="$logs/$t.log"
  echo "== fuzz $t for $seconds s (log: $log)"
  status=0
  cargo fuzz run "${flags[@]}" "$t" "$corpus" -- \
    -max_total_time="$seconds" -print_final_stats=1 \
    -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" >"$log" 2>&1 || status=$?
  done_line=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)
  if [ "$status" -eq 0 ] && [ -n "$done_line" ]; then
    runs=$(awk '{print $2}' <<<"$done_line")
    secs=$(awk '{print $5}' <<<"$done_line")
    summary+=("fuzz $t: $runs runs in $secs s, no crash")
  else
    failed=1
    runs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | awk '{print $2}' | tail -n 1 || true)
    artifact=$(grep -Eo 'Test unit written to [^ ]+' "$log" | awk '{print $5}' | tail -n 1 || true)
    tail -n 40 "$log"
    summary+=("fuzz $t: CRASH (exit $status) after ${runs:-?} runs; input: ${artifact:-none written, see $log}")
    if [ -n "$artifact" ]; then
      summary+=("  reproduce: cargo fuzz run ${flags[*]} $t $artifact")
    fi
  fi
done
echo
printf '%s\n' "${summary[@]}"
exit "$failed"
