#!/usr/bin/env bash
# The main job of the README: install the models and sample photos by package name, ingest
# a sample collection into a fresh data directory, and search it with another photo.
set -euo pipefail
cd "$(dirname "$0")/.."
export GABARIT_MODELS="${GABARIT_MODELS:-$PWD/.gabarit/models}"
export GABARIT_SAMPLES="${GABARIT_SAMPLES:-$PWD/.gabarit/samples}"
export GABARIT_DATA="${GABARIT_DATA:-$PWD/.gabarit/demo-data}"
# Templates are encrypted at rest; the key-encryption key lives outside the data directory.
export GABARIT_KEK_FILE="${GABARIT_KEK_FILE:-$PWD/.gabarit/demo.kek}"
bash scripts/system-packages.sh
bash scripts/web-build.sh   # the web UI, embedded in the binary
cargo build --release --locked -p gabarit
g=./target/release/gabarit
$g models install
$g samples install --dir "$GABARIT_SAMPLES"
# Which runtime and precision run the networks here: each one's speed and parity, measured.
$g models check
s=$GABARIT_SAMPLES

echo; echo "== a sample collection: press photos (group photos, biden, one photo of obama)"
rm -rf "$GABARIT_DATA"
mkdir -p "$GABARIT_DATA/../demo-gallery"
for f in players.jpg gdp.jpg yaoming.jpg biden.jpg obama2.jpg; do cp "$s/$f" "$GABARIT_DATA/../demo-gallery/"; done
# Every command acts with an API key, kept in a file only its owner reads.
keys="$GABARIT_DATA/../demo-keys"
rm -rf "$keys"; mkdir -p -m 700 "$keys"
$g init --admin admin --key-out "$keys/admin.key"
as() { local user=$1; shift; GABARIT_KEY_FILE="$keys/$user.key" $g "$@"; }
as admin user add curator --role curator >/dev/null
as admin user key issue curator --out "$keys/curator.key" >/dev/null
as admin user add ines --role investigator >/dev/null
as admin user key issue ines --out "$keys/ines.key" >/dev/null
as curator collection create press --description "sample press photos" \
  --controller "Agence Exemple" --controller-contact dpo@agence.example \
  --purpose "press archive: find the photos of a person for editorial and rights work" \
  --purpose-category archive --legal-basis legitimate_interests --condition archiving \
  --jurisdiction FR --retention-days 3650 --dpia DPIA-2026-001
as admin user grant ines press
as curator ingest "$GABARIT_DATA/../demo-gallery" --collection press
as curator collection list

echo; echo "== search the collection with another photo of obama (purpose-bound, audited)"
as ines search "$s/obama.jpg" --case DEMO-1 --purpose "demonstration search"

echo; echo "== compare two photos directly"
$g compare "$s/obama.jpg" "$s/obama3.jpg"

echo; echo "== the web UI and the API: set a password, then serve (Ctrl-C stops it)"
echo "  GABARIT_PASSWORD=... GABARIT_KEY_FILE=$keys/admin.key $g user password ines"
echo "  $g serve --listen 127.0.0.1:8080 --ingest-root \"$GABARIT_DATA/../demo-gallery\"   # then open http://127.0.0.1:8080/"
