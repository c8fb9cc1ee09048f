#!/usr/bin/env bash
# Mutation testing of a submission (cargo-mutants --in-diff): the lines changed since the last
# landed commit (named in .ci/mutants-base) within the modules of .cargo/mutants.toml. A
# missed mutant fails the run: kill it with a test, or explain it in docs/mutants.md and
# exclude it there. Bounded by MUTANTS_MINUTES of wall time (default 5): past it, what was
# tested is reported and the rest is named as not tested. The unmutated baseline is not run
# again: the test command ran every test just before.
set -euo pipefail
cd "$(dirname "$0")/.."
base="$(tr -d '[:space:]' < .ci/mutants-base)"
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
  echo "skipped: the base commit $base is not in this clone"
  exit 0
fi
diff="$(mktemp)"
trap 'rm -f "$diff"' EXIT
git diff "$base" -- 'crates/*.rs' > "$diff"
if ! cargo mutants --version >/dev/null 2>&1; then
  cargo install --locked --quiet cargo-mutants@27.1.0
fi
listed="$(cargo mutants --in-diff "$diff" --list | wc -l)"
echo "$listed mutant(s) in the lines changed since ${base:0:12}"
if [ "$listed" -eq 0 ]; then
  exit 0
fi
# In place, with the release build the tests already made: only what a mutant touches is
# rebuilt. cargo-mutants puts each file back after its mutant.
set +e
timeout --signal=INT "$((${MUTANTS_MINUTES:-5} * 60))" \
  cargo mutants --in-diff "$diff" --in-place --profile release --baseline=skip --no-times -o test-artifacts
status=$?
set -e
# cargo-mutants puts the original files back with their old times: touch them, so that the
# next build sees them newer than what the last mutant left in target/.
git diff --name-only --diff-filter=d "$base" -- 'crates/*.rs' | xargs -r touch
missed="test-artifacts/mutants.out/missed.txt"
if [ -s "$missed" ]; then
  echo "missed mutants (kill each with a test, or explain it in docs/mutants.md):"
  cat "$missed"
  exit 1
fi
outcomes="test-artifacts/mutants.out/outcomes.json"
tested=0
if [ -f "$outcomes" ]; then
  tested="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(d.get(k, 0) for k in ("caught", "missed", "timeout")))' "$outcomes")"
fi
case $status in
  0) if [ "$tested" -eq 0 ]; then
       # Every mutant unviable: the builds failed (see test-artifacts/mutants.out/log), so
       # nothing was tested; say so rather than report success.
       echo "no mutant could be built (logs in test-artifacts/mutants.out/log): nothing was tested"
     else
       echo "every mutant of the changed lines caught ($tested tested) or unviable"
     fi ;;
  124|130) echo "time budget of ${MUTANTS_MINUTES:-5} min reached: the mutants not reported above were not tested" ;;
  *) echo "cargo mutants failed ($status)"; exit "$status" ;;
esac
