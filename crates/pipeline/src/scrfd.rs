//! Decoding SCRFD's outputs: anchor centres per stride, distances to boxes, offsets to
//! landmarks, score threshold, and greedy non-maximum suppression.

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
        let gw = (plan.input_width / s) as usize;
        let gh = (plan.input_height / s) as usize;
        let n = gw * gh * spec.anchors;
        if out.scores.len() != n || out.boxes.len() != 4 * n || out.landmarks.len() != 10 * n {
            return Err(Error::Model {
                model: "detector",
                detail: format!(
                    "stride {s}: expected {n} anchors, got {} scores, {} box values, {} landmark values",
                    out.scores.len(),
                    out.boxes.len(),
                    out.landmarks.len()
                ),
            });
        }
        let sf = s as f32;
        for (i, &score) in out.scores.iter().enumerate() {
            if score < spec.score_threshold {
                continue;
            }
            let cell = i / spec.anchors;
            let cx = (cell % gw) as f32 * sf;
            let cy = (cell / gw) as f32 * sf;
            let d = &out.boxes[4 * i..4 * i + 4];
            let bbox = BBox {
                x1: (cx - d[0] * sf) / plan.scale_x,
                y1: (cy - d[1] * sf) / plan.scale_y,
                x2: (cx + d[2] * sf) / plan.scale_x,
                y2: (cy + d[3] * sf) / plan.scale_y,
            };
            let k = &out.landmarks[10 * i..10 * i + 10];
            let mut pts = [[0.0f32; 2]; 5];
            for (j, p) in pts.iter_mut().enumerate() {
                *p = [(cx + k[2 * j] * sf) / plan.scale_x, (cy + k[2 * j + 1] * sf) / plan.scale_y];
            }
            candidates.push(Detection { bbox, landmarks: Landmarks(pts), score });
        }
    }
    // Stable sort by decreasing score keeps the reference's tie order (stride, then anchor).
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(nms(candidates, spec.nms_threshold))
}

/// Greedy non-maximum suppression over detections sorted by decreasing score: keeps a box
/// unless it overlaps an already kept one by more than `iou_threshold`.
pub fn nms(sorted: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    let mut kept: Vec<Detection> = Vec::new();
    for d in sorted {
        if kept.iter().all(|k| k.bbox.iou_plus_one(&d.bbox) <= iou_threshold) {
            kept.push(d);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DetectorInput, letterbox};

    fn spec() -> DetectorSpec {
        DetectorSpec {
            kind: crate::DetectorKind::Scrfd,
            channels: crate::ChannelOrder::Rgb,
            input: DetectorInput::Fixed(64),
            mean: 127.5,
            std: 128.0,
            strides: vec![8, 16, 32],
            anchors: 2,
            score_threshold: 0.5,
            nms_threshold: 0.4,
        }
    }

    fn empty_outputs(plan: &LetterboxPlan) -> Vec<StrideOutput> {
        let anchors = |s: u32| (plan.input_width / s * plan.input_height / s) as usize * 2;
        [8u32, 16, 32].iter().map(|&s| StrideOutput::zeros(s, anchors(s), false)).collect()
    }

    #[test]
    fn decodes_one_anchor_to_original_pixels() {
        // A 128x128 photo in a 64x64 input: scale 0.5.
        let plan = letterbox::plan(128, 128, DetectorInput::Fixed(64));
        let mut outs = empty_outputs(&plan);
        // stride 16, grid 4x4, cell (x=2, y=1) -> centre (32, 16); second anchor of that cell.
        let i = (4 + 2) * 2 + 1;
        outs[1].scores[i] = 0.9;
        outs[1].boxes[4 * i..4 * i + 4].copy_from_slice(&[1.0, 0.5, 1.0, 1.5]);
        outs[1].landmarks[10 * i..10 * i + 2].copy_from_slice(&[-0.5, 0.25]);
        let dets = decode(&outs, &plan, &spec()).expect("decode");
        assert_eq!(dets.len(), 1);
        let d = dets[0];
        assert_eq!(<[f32; 4]>::from(d.bbox), [32.0, 16.0, 96.0, 80.0]);
        assert_eq!(d.landmarks.0[0], [48.0, 40.0]);
        assert_eq!(d.landmarks.0[1], [64.0, 32.0]);
        assert_eq!(d.score, 0.9);
    }

    #[test]
    fn wrong_output_sizes_are_an_error_not_a_panic() {
        let plan = letterbox::plan(64, 64, DetectorInput::Fixed(64));
        let mut outs = empty_outputs(&plan);
        outs[0].scores.pop();
        assert!(decode(&outs, &plan, &spec()).is_err());
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_and_distinct_ones() {
        let det = |x: f32, s: f32| Detection {
            bbox: BBox { x1: x, y1: 0.0, x2: x + 9.0, y2: 9.0 },
            landmarks: Landmarks([[0.0; 2]; 5]),
            score: s,
        };
        // 0.9 at x=0; 0.8 at x=1 overlaps it (IoU 90/110); 0.7 at x=50 is apart.
        let kept = nms(vec![det(0.0, 0.9), det(1.0, 0.8), det(50.0, 0.7)], 0.4);
        let scores: Vec<f32> = kept.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![0.9, 0.7]);
        // At IoU exactly the threshold the box is kept (the reference drops only IoU > t).
        let kept = nms(vec![det(0.0, 0.9), det(5.0, 0.8)], 50.0 / 150.0);
        assert_eq!(kept.len(), 2);
    }
}
