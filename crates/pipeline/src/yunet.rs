//! Decoding YuNet's outputs as OpenCV's `FaceDetectorYN` does: per stride and cell, the
//! score `sqrt(cls × obj)` (each clamped to [0, 1]), the box centre `(cell + offset) × stride`
//! and size `exp(log size) × stride`, landmarks `(cell + offset) × stride`, then greedy
//! non-maximum suppression on the boxes truncated to whole pixels (OpenCV's `NMSBoxes` on
//! `Rect2i`, plain IoU). Landmarks come in the order of the alignment template: the eye on
//! the image's left first, then the other eye, nose tip, left and right mouth corners.

use gabarit_types::{BBox, Detection, Landmarks};

use crate::letterbox::LetterboxPlan;
use crate::{DetectorSpec, Error, Result, StrideOutput};

/// Turns the detector's raw outputs into detections in original image pixels, sorted by
/// decreasing score, after non-maximum suppression.
pub fn decode(outputs: &[StrideOutput], plan: &LetterboxPlan, spec: &DetectorSpec) -> Result<Vec<Detection>> {
    let mut candidates = Vec::new();
    for out in outputs {
        let s = out.stride;
        if s == 0 {
            return Err(Error::Model { model: "detector", detail: "stride 0".into() });
        }
        let cols = (plan.input_width / s) as usize;
        let n = cols * (plan.input_height / s) as usize;
        if out.scores.len() != n
            || out.objectness.len() != n
            || out.boxes.len() != 4 * n
            || out.landmarks.len() != 10 * n
        {
            return Err(Error::Model {
                model: "detector",
                detail: format!(
                    "stride {s}: expected {n} cells, got {} class scores, {} objectness scores, {} box values, {} landmark values",
                    out.scores.len(),
                    out.objectness.len(),
                    out.boxes.len(),
                    out.landmarks.len()
                ),
            });
        }
        let sf = s as f32;
        for (i, (&cls, &obj)) in out.scores.iter().zip(&out.objectness).enumerate() {
            let score = (cls.clamp(0.0, 1.0) * obj.clamp(0.0, 1.0)).sqrt();
            if score < spec.score_threshold {
                continue;
            }
            let (c, r) = ((i % cols) as f32, (i / cols) as f32);
            let b = &out.boxes[4 * i..4 * i + 4];
            let (cx, cy) = ((c + b[0]) * sf, (r + b[1]) * sf);
            let (w, h) = (b[2].exp() * sf, b[3].exp() * sf);
            let (x1, y1) = (cx - w / 2.0, cy - h / 2.0);
            let k = &out.landmarks[10 * i..10 * i + 10];
            let mut pts = [[0.0f32; 2]; 5];
            for (j, p) in pts.iter_mut().enumerate() {
                *p = [(k[2 * j] + c) * sf / plan.scale_x, (k[2 * j + 1] + r) * sf / plan.scale_y];
            }
            let bbox = BBox {
                x1: x1 / plan.scale_x,
                y1: y1 / plan.scale_y,
                x2: (x1 + w) / plan.scale_x,
                y2: (y1 + h) / plan.scale_y,
            };
            candidates.push((whole_pixels(x1, y1, w, h), Detection { bbox, landmarks: Landmarks(pts), score }));
        }
    }
    // Stable sort by decreasing score keeps OpenCV's tie order (stride, then cell).
    candidates.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    let mut kept: Vec<([i64; 4], Detection)> = Vec::new();
    for (rect, d) in candidates {
        if kept.iter().all(|(k, _)| iou(k, &rect) <= spec.nms_threshold) {
            kept.push((rect, d));
        }
    }
    Ok(kept.into_iter().map(|(_, d)| d).collect())
}

/// The box as OpenCV's `Rect2i(int(x), int(y), int(w), int(h))` (truncation toward zero), in
/// input pixels: `[x, y, w, h]`.
fn whole_pixels(x: f32, y: f32, w: f32, h: f32) -> [i64; 4] {
    [x as i64, y as i64, w as i64, h as i64]
}

/// Intersection over union of two `[x, y, w, h]` rectangles (OpenCV's `rectOverlap`).
fn iou(a: &[i64; 4], b: &[i64; 4]) -> f32 {
    let (aa, ab) = (a[2].max(0) * a[3].max(0), b[2].max(0) * b[3].max(0));
    if aa + ab == 0 {
        return 0.0;
    }
    let iw = ((a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0])).max(0);
    let ih = ((a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1])).max(0);
    let inter = iw * ih;
    (inter as f64 / (aa + ab - inter) as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChannelOrder, DetectorInput, DetectorKind, letterbox};

    fn spec() -> DetectorSpec {
        DetectorSpec {
            kind: DetectorKind::Yunet,
            channels: ChannelOrder::Bgr,
            input: DetectorInput::Adaptive(640),
            mean: 0.0,
            std: 1.0,
            strides: vec![8, 16, 32],
            anchors: 1,
            score_threshold: 0.6,
            nms_threshold: 0.3,
        }
    }

    fn empty_outputs(plan: &LetterboxPlan) -> Vec<StrideOutput> {
        let anchors = |s: u32| (plan.input_width / s * plan.input_height / s) as usize;
        [8u32, 16, 32].iter().map(|&s| StrideOutput::zeros(s, anchors(s), true)).collect()
    }

    #[test]
    fn decodes_one_cell_to_original_pixels() {
        // A 128x64 photo at its own size: input 128x64, scale 1; then the same photo at twice
        // the size is scaled back.
        for (w, h, scale) in [(128u32, 64u32, 1.0f32), (1280, 640, 0.5)] {
            let plan = letterbox::plan(w, h, DetectorInput::Adaptive(640));
            assert_eq!(plan.scale_x, scale);
            let mut outs = empty_outputs(&plan);
            let cols = (plan.input_width / 16) as usize;
            // stride 16, cell (c=2, r=1).
            let i = cols + 2;
            outs[1].scores[i] = 0.81;
            outs[1].objectness[i] = 1.5; // clamped to 1
            outs[1].boxes[4 * i..4 * i + 4].copy_from_slice(&[0.5, 0.25, 1.0f32.ln(), 2.0f32.ln()]);
            outs[1].landmarks[10 * i..10 * i + 2].copy_from_slice(&[-0.5, 0.5]);
            let dets = decode(&outs, &plan, &spec()).expect("decode");
            assert_eq!(dets.len(), 1);
            let d = dets[0];
            assert!((d.score - 0.9).abs() < 1e-6, "sqrt(0.81 x 1)");
            // centre (2.5 x 16, 1.25 x 16) = (40, 20), size 16 x 32.
            let b = <[f32; 4]>::from(d.bbox);
            let want = [32.0, 4.0, 48.0, 36.0].map(|v| v / scale);
            assert!(b.iter().zip(want).all(|(x, y)| (x - y).abs() < 1e-4), "{b:?} vs {want:?}");
            assert_eq!(d.landmarks.0[0], [24.0 / scale, 24.0 / scale]);
            assert_eq!(d.landmarks.0[1], [32.0 / scale, 16.0 / scale]);
        }
    }

    #[test]
    fn low_scores_are_dropped_and_overlaps_suppressed_by_whole_pixel_iou() {
        let plan = letterbox::plan(64, 64, DetectorInput::Adaptive(640));
        let mut outs = empty_outputs(&plan);
        let set = |outs: &mut Vec<StrideOutput>, i: usize, cls: f32, dx: f32| {
            outs[0].scores[i] = cls;
            outs[0].objectness[i] = 1.0;
            outs[0].boxes[4 * i..4 * i + 4].copy_from_slice(&[dx, 0.0, 2.0f32.ln(), 2.0f32.ln()]);
        };
        // Cells 0 and 1 of stride 8 (8 cells a row): boxes 16x16 centred at x=8 and x=12
        // (cell 1, offset -0.5): overlap 12/20 -> IoU 0.6 > 0.3, the lower score goes.
        set(&mut outs, 0, 0.9, 1.0);
        set(&mut outs, 1, 0.8, 0.5);
        // A box far away is kept; one under the threshold is not.
        set(&mut outs, 7 * 8 + 7, 0.7, 0.0);
        set(&mut outs, 3 * 8, 0.3, 0.0);
        let scores: Vec<f32> = decode(&outs, &plan, &spec()).expect("decode").iter().map(|d| d.score).collect();
        assert_eq!(scores.len(), 2, "{scores:?}");
        assert!((scores[0] - 0.9f32.sqrt()).abs() < 1e-6 && (scores[1] - 0.7f32.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn whole_pixel_iou_is_opencvs() {
        assert_eq!(whole_pixels(-0.7, 3.9, 10.99, 4.0), [0, 3, 10, 4]);
        assert_eq!(iou(&[0, 0, 10, 10], &[5, 0, 10, 10]), 50.0 / 150.0);
        assert_eq!(iou(&[0, 0, 10, 10], &[20, 0, 10, 10]), 0.0);
        assert_eq!(iou(&[0, 0, 0, 0], &[0, 0, 0, 0]), 0.0);
    }

    #[test]
    fn wrong_output_sizes_are_an_error_not_a_panic() {
        let plan = letterbox::plan(64, 64, DetectorInput::Adaptive(640));
        let mut outs = empty_outputs(&plan);
        outs[2].objectness.clear();
        let err = decode(&outs, &plan, &spec()).expect_err("missing objectness");
        assert!(err.to_string().contains("stride 32"), "{err}");
    }
}
