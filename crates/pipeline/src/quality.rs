//! Quality signals: sharpness of the aligned crop and a coarse head pose from the landmarks.

use gabarit_types::{Detection, Quality};

use crate::QualityPolicy;

/// Nose-tip depth in front of the eyes as a share of the inter-ocular distance (anthropometric
/// average); turns the nose's sideways shift into a yaw angle.
const NOSE_DEPTH_RATIO: f32 = 0.35;
/// Where the nose tip sits between the eye line (0) and the mouth line (1) in a frontal face
/// (ArcFace template).
const FRONTAL_NOSE_HEIGHT: f32 = 0.495;

/// Head pose `(yaw, pitch, roll)` in degrees, estimated from five landmarks: roll from the eye
/// line; in the roll-corrected frame, yaw from the nose's shift off the eyes' midpoint and
/// pitch from the nose's height between the eye and mouth lines. Coarse (±15°), enough to
/// tell frontal from profile.
pub fn pose_from_landmarks(lm: &[[f32; 2]; 5]) -> (f32, f32, f32) {
    let [le, re, nose, lm_, rm] = *lm;
    let roll = (re[1] - le[1]).atan2(re[0] - le[0]);
    let (s, c) = (-roll).sin_cos();
    let mid = [(le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0];
    let rot = |p: [f32; 2]| {
        let (x, y) = (p[0] - mid[0], p[1] - mid[1]);
        [x * c - y * s, x * s + y * c]
    };
    let (le, re, nose) = (rot(le), rot(re), rot(nose));
    let mouth_y = (rot(lm_)[1] + rot(rm)[1]) / 2.0;
    let eye_dist = (re[0] - le[0]).abs().max(1e-3);
    let yaw = (nose[0] / eye_dist / NOSE_DEPTH_RATIO).atan();
    let nose_height = if mouth_y.abs() > 1e-3 { nose[1] / mouth_y } else { FRONTAL_NOSE_HEIGHT };
    let pitch = ((nose_height - FRONTAL_NOSE_HEIGHT) / 0.5).atan();
    (yaw.to_degrees(), pitch.to_degrees(), roll.to_degrees())
}

/// Variance of the 4-neighbour Laplacian over the interior of a grey `size × size` image.
pub fn laplacian_variance(grey: &[f32], size: usize) -> f32 {
    if size < 3 || grey.len() < size * size {
        return 0.0;
    }
    let mut sum = 0.0f64;
    let mut sum_sq = 0.0f64;
    let mut n = 0.0f64;
    for y in 1..size - 1 {
        for x in 1..size - 1 {
            let i = y * size + x;
            let l = grey[i - size] + grey[i + size] + grey[i - 1] + grey[i + 1] - 4.0 * grey[i];
            sum += l as f64;
            sum_sq += (l as f64) * (l as f64);
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean) as f32
}

/// Grey levels (0–255) of an aligned crop given as normalised RGB planes.
pub fn grey_from_tensor(crop: &[f32], size: usize, mean: f32, std: f32) -> Vec<f32> {
    let plane = size * size;
    (0..plane)
        .map(|i| {
            let r = crop[i] * std + mean;
            let g = crop[plane + i] * std + mean;
            let b = crop[2 * plane + i] * std + mean;
            0.299 * r + 0.587 * g + 0.114 * b
        })
        .collect()
}

/// Assembles the quality record of a detection and applies the policy.
pub fn assess(det: &Detection, sharpness: f32, policy: &QualityPolicy) -> Quality {
    let (yaw, pitch, roll) = pose_from_landmarks(&det.landmarks.0);
    let size_px = det.bbox.width().min(det.bbox.height());
    let usable = det.score >= policy.min_score
        && size_px >= policy.min_size_px
        && sharpness >= policy.min_sharpness
        && yaw.abs() <= policy.max_abs_yaw_deg;
    Quality { detector_score: det.score, size_px, sharpness, yaw_deg: yaw, pitch_deg: pitch, roll_deg: roll, usable }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRONTAL: [[f32; 2]; 5] =
        [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

    #[test]
    fn frontal_template_has_near_zero_pose() {
        let (yaw, pitch, roll) = pose_from_landmarks(&FRONTAL);
        assert!(yaw.abs() < 1.0 && pitch.abs() < 1.0 && roll.abs() < 1.0, "{yaw} {pitch} {roll}");
    }

    #[test]
    fn nose_shift_reads_as_yaw_and_eye_tilt_as_roll() {
        let mut turned = FRONTAL;
        turned[2][0] += 12.0; // nose a third of the eye distance to the right
        let (yaw, _, _) = pose_from_landmarks(&turned);
        assert!(yaw > 35.0 && yaw < 50.0, "{yaw}");
        // Rotate the whole frontal face by 20°: roll 20, yaw and pitch unchanged.
        let (s, c) = 20f32.to_radians().sin_cos();
        let rolled = FRONTAL.map(|p| [p[0] * c - p[1] * s, p[0] * s + p[1] * c]);
        let (yaw, pitch, roll) = pose_from_landmarks(&rolled);
        assert!((roll - 20.0).abs() < 0.5 && yaw.abs() < 1.0 && pitch.abs() < 1.0);
    }

    #[test]
    fn flat_image_has_zero_sharpness_and_a_checkerboard_a_high_one() {
        assert_eq!(laplacian_variance(&vec![128.0; 16 * 16], 16), 0.0);
        let checker: Vec<f32> = (0..16 * 16).map(|i| if (i % 16 + i / 16) % 2 == 0 { 0.0 } else { 255.0 }).collect();
        assert!(laplacian_variance(&checker, 16) > 100_000.0);
    }
}
