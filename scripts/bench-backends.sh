#!/usr/bin/env bash
# The backends side by side with the InsightFace peer script in the same backend and precision
# (README, "Backends"): buffalo_s, 2 workers × 1 thread, on the 7 sample photos ×10 (70 photos,
# 320 faces) and on every 10th photo of ../shared/eval/lfw-dev (538 photos of 250×250) at the
# adaptive input against the peer at --det-size 256 (what the adaptive rule picks for them).
# Writes one JSON per run to test-artifacts/bench-backends/. Needs ../shared and a Python with
# onnxruntime, openvino==2026.4.1, numpy and opencv-python-headless (PEER_PYTHON).
# Timings depend on the machine and its load: reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${GABARIT_SHARED:-$(cd .. && pwd)/shared}"
peer="$shared/bench/peers/insightface_pipeline.py"
py="${PEER_PYTHON:-python3}"
models="${GABARIT_MODELS:-$PWD/.gabarit/models}"
samples="${GABARIT_SAMPLES:-$PWD/.gabarit/samples}"
out=test-artifacts/bench-backends
[[ -f "$peer" ]] || { echo "skipped: $peer is not here"; exit 0; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/group" "$work/lfw"
for f in players gdp yaoming biden obama obama2 obama3; do ln -s "$samples/$f.jpg" "$work/group/"; done
find "$shared/eval/lfw-dev" -name '*.jpg' | sort | awk 'NR % 10 == 1' | while read -r f; do
  ln -s "$f" "$work/lfw/$(basename "$f")"
done
cargo build --release --locked -p gabarit-bench --bin gabarit-bench
bench="${CARGO_TARGET_DIR:-target}/release/gabarit-bench"
for family in ort/f32 openvino/f32 openvino/bf16; do
  backend=${family%/*} precision=${family#*/}
  common=(--models "$models" --pack buffalo_s --workers 2 --threads 1 --backend "$backend" --precision "$precision"
    --peer "$peer" --peer-python "$py")
  echo "== $family: sample photos ×10"
  "$bench" "$work/group" --repeat 10 "${common[@]}" > "$out/group-${backend}-${precision}.json"
  echo "== $family: lfw-dev, every 10th photo"
  "$bench" "$work/lfw" "${common[@]}" --peer-det-size 256 > "$out/lfw-${backend}-${precision}.json"
done
python3 - "$out" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
print("| images | backend | Gabarit images/s | peer images/s | ratio | outside the networks |")
print("| --- | --- | --- | --- | --- | --- |")
for kind in ("group", "lfw"):
    for fam in ("ort-f32", "openvino-f32", "openvino-bf16"):
        p = out / f"{kind}-{fam}.json"
        if not p.exists():
            continue
        r = json.loads(p.read_text())
        g, q = r["gabarit"], r["peer"]
        print(f"| {kind} | {fam} | {g['images_per_s']:.1f} | {q['images_per_s']:.1f} | "
              f"{r['ratio_images_per_s']:.2f}× | {g['share_outside_model']:.1%} |")
EOF
