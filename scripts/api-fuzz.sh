#!/usr/bin/env bash
# The HTTP API under schemathesis (PyPI, pinned): a real server on loopback, a data directory
# with a user of each role and a governed collection, and schemathesis generating requests
# from the server's own OpenAPI document with each role's key. Checks: no 5xx
# (not_a_server_error), no status the document does not declare (status_code_conformance), no
# response that violates its schema (response_schema_conformance). Bounded in examples per
# operation and in time per role. Exits non-zero on any failure, printing schemathesis'
# summary for each role.
set -euo pipefail
cd "$(dirname "$0")/.."
export GABARIT_MODELS="${GABARIT_MODELS:-$PWD/.gabarit/models}"
export GABARIT_SAMPLES="${GABARIT_SAMPLES:-$PWD/.gabarit/samples}"
SCHEMATHESIS_VERSION=4.32.5
examples="${API_FUZZ_EXAMPLES:-10}"
seconds="${API_FUZZ_SECONDS:-150}"
bin="${GABARIT_BIN:-$PWD/target/release/gabarit}"
venv="$PWD/.gabarit/venv-schemathesis"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

work="$(mktemp -d)"
logs="$PWD/test-artifacts/api-fuzz"
rm -rf "$logs"; mkdir -p "$logs"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export GABARIT_DATA="$work/data" GABARIT_KEK_FILE="$work/data.kek"
unset GABARIT_KEY_FILE GABARIT_API_KEY GABARIT_KEK
as() { local user=$1; shift; GABARIT_KEY_FILE="$work/$user.key" "$bin" "$@"; }
"$bin" init --admin admin --key-out "$work/admin.key" >/dev/null
for pair in cur:curator inv:investigator rita:reviewer dora:dpo; do
  user=${pair%%:*}
  as admin user add "$user" --role "${pair##*:}" >/dev/null
  as admin user key issue "$user" --out "$work/$user.key" >/dev/null
done
as cur collection create press --controller "Agence Exemple" --controller-contact dpo@agence.example \
  --purpose "press archive" --purpose-category archive --legal-basis f --condition j \
  --jurisdiction FR --retention-days 3650 --dpia DPIA-1 >/dev/null
for user in inv rita; do as admin user grant "$user" press >/dev/null; done
mkdir -p "$work/gallery"
cp "$GABARIT_SAMPLES/obama2.jpg" "$GABARIT_SAMPLES/biden.jpg" "$work/gallery/"
as cur ingest --quiet --collection press "$work/gallery" >/dev/null

"$bin" serve --listen 127.0.0.1:0 --workers 1 --ingest-root "$work/gallery" >"$work/serve.out" 2>"$work/serve.err" &
server=$!
for _ in $(seq 1 600); do
  grep -q "listening on" "$work/serve.out" 2>/dev/null && break
  sleep 0.2
done
base="$(sed -n 's/^listening on //p' "$work/serve.out" | head -1)"
[ -n "$base" ] || { echo "the server did not start:"; cat "$work/serve.err"; exit 2; }

status=0
for user in admin cur inv rita dora; do
  key="$(cat "$work/$user.key")"
  echo "-- schemathesis as $user ($examples examples per operation, at most ${seconds} s)"
  # The logout is left out: it would end nothing, but its key-less variant ends a session.
  set +e
  timeout -s INT "$seconds" "$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
    -H "X-Api-Key: $key" \
    --checks not_a_server_error,status_code_conformance,response_schema_conformance \
    --exclude-name "DELETE /api/v1/session" \
    --max-examples "$examples" --seed 20261201 --no-color >"$logs/$user.log" 2>&1
  code=$?
  set -e
  sed -n '/^=* SUMMARY/,$p' "$logs/$user.log" | grep -vE "^\s*$|^=+ SUMMARY" | sed 's/^/   /'
  if [ "$code" -ne 0 ]; then
    status=1
    echo "   schemathesis as $user exited $code; its report: $logs/$user.log"
    tail -80 "$logs/$user.log" | sed 's/^/   | /'
  fi
done
cp "$work/serve.err" "$logs/server.log"
if grep -q "panicked" "$work/serve.err"; then
  echo "the server panicked:"; grep -A5 "panicked" "$work/serve.err" | head -40
  status=1
fi
exit "$status"
