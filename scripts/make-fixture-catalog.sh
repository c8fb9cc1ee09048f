#!/usr/bin/env bash
# Writes the fixture catalog of the current schema (crates/catalog/tests/fixtures/schema-N/),
# to be committed when a migration is added: tests/upgrade.rs then opens every fixture with
# every later build. Synthetic templates only: no face image, no real key.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --locked -p gabarit-catalog --example make_fixture
