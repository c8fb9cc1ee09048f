#!/usr/bin/env bash
# Builds the web UI into web/dist (index.html and hashed files under assets/), which the
# server embeds. Node and npm come from the system; packages are pinned by
# web/package-lock.json. Idempotent; any failure stops the script.
set -euo pipefail
cd "$(dirname "$0")/../web"
if ! command -v npm >/dev/null 2>&1; then
  echo "error: building the web UI needs Node.js 20.19+ and npm (apt-get install nodejs npm)" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
# The API's types, generated from the OpenAPI document (a server test keeps web/openapi.json
# the document the server serves).
npm ci --prefix tools/openapi-types --no-audit --no-fund --loglevel=error
npm run --silent --prefix tools/openapi-types generate
npm run build
test -f dist/index.html || { echo "error: web/dist/index.html was not built" >&2; exit 1; }
