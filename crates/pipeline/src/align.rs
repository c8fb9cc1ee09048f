//! Alignment: the similarity transform (rotation, uniform scale, translation) that best maps
//! the five landmarks onto the embedder's template, by Umeyama's closed form, and the
//! bilinear warp of the face into the embedder's input, fused with normalisation.

use image::RgbImage;
use nalgebra::{Matrix2, Vector2};

/// A 2×3 affine matrix `[a, b, tx, c, d, ty]` mapping source (x, y) to
/// `(a·x + b·y + tx, c·x + d·y + ty)`.
pub type Affine = [f64; 6];

/// Least-squares similarity transform from `src` to `dst` (Umeyama 1991), as scikit-image's
/// `SimilarityTransform` and InsightFace's `estimate_norm` compute it. Degenerate input (all
/// points equal) yields a pure translation.
pub fn umeyama(src: &[[f32; 2]; 5], dst: &[[f32; 2]; 5]) -> Affine {
    let n = src.len() as f64;
    let to_v = |p: &[f32; 2]| Vector2::new(p[0] as f64, p[1] as f64);
    let mu_s = src.iter().map(to_v).sum::<Vector2<f64>>() / n;
    let mu_d = dst.iter().map(to_v).sum::<Vector2<f64>>() / n;
    let mut cov = Matrix2::zeros();
    let mut var_s = 0.0;
    for (s, d) in src.iter().zip(dst) {
        let sc = to_v(s) - mu_s;
        let dc = to_v(d) - mu_d;
        cov += dc * sc.transpose();
        var_s += sc.norm_squared();
    }
    cov /= n;
    var_s /= n;
    let mut sign = Vector2::new(1.0, 1.0);
    if cov.determinant() < 0.0 {
        sign[1] = -1.0;
    }
    let svd = cov.svd(true, true);
    let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
        return [1.0, 0.0, mu_d[0] - mu_s[0], 0.0, 1.0, mu_d[1] - mu_s[1]];
    };
    let rot = u * Matrix2::from_diagonal(&sign) * v_t;
    let scale = if var_s > 0.0 { svd.singular_values.dot(&sign) / var_s } else { 1.0 };
    let a = rot * scale;
    let t = mu_d - a * mu_s;
    [a[(0, 0)], a[(0, 1)], t[0], a[(1, 0)], a[(1, 1)], t[1]]
}

/// Applies `m` to a point.
pub fn apply(m: &Affine, p: [f32; 2]) -> [f32; 2] {
    let (x, y) = (p[0] as f64, p[1] as f64);
    [(m[0] * x + m[1] * y + m[2]) as f32, (m[3] * x + m[4] * y + m[5]) as f32]
}

/// Inverse of an affine map (`None` if singular).
pub fn invert(m: &Affine) -> Option<Affine> {
    let det = m[0] * m[4] - m[1] * m[3];
    if det.abs() < 1e-12 {
        return None;
    }
    let (a, b, c, d) = (m[4] / det, -m[1] / det, -m[3] / det, m[0] / det);
    Some([a, b, -(a * m[2] + b * m[5]), c, d, -(c * m[2] + d * m[5])])
}

/// Sub-pixel resolution of the sampling position (OpenCV's `INTER_TAB_SIZE`).
const SUBPIXEL_STEPS: f64 = 32.0;

/// Warps the face into `out` (`3 × size × size`, RGB planes), each value `(v − mean) / std`.
///
/// Follows OpenCV's `warpAffine` for 8-bit images, which the reference pipeline and the
/// models' training used: the destination pixel (x, y) samples the photo at the inverse-mapped
/// position rounded to 1/32 pixel, bilinearly, black outside the photo, and the result is
/// rounded to an 8-bit level before normalisation. Small faces, upscaled several times, are
/// sensitive to these details.
pub fn warp_into(img: &RgbImage, m: &Affine, size: u32, mean: f32, std: f32, out: &mut [f32]) {
    let size = size as usize;
    let plane = size * size;
    debug_assert_eq!(out.len(), 3 * plane);
    let inv = invert(m).unwrap_or([0.0; 6]);
    let (w, h) = (img.width() as i64, img.height() as i64);
    let src = img.as_raw();
    let row = w as usize * 3;
    // One lookup from an 8-bit level to its normalised value.
    let lut: [f32; 256] = std::array::from_fn(|v| (v as f32 - mean) / std);
    let (r_out, rest) = out.split_at_mut(plane);
    let (g_out, b_out) = rest.split_at_mut(plane);
    for y in 0..size {
        // Positions in 1/32 pixel: OpenCV's fixed-point sampling grid.
        let base_x = inv[1] * y as f64 + inv[2];
        let base_y = inv[4] * y as f64 + inv[5];
        for x in 0..size {
            let qx = ((inv[0] * x as f64 + base_x) * SUBPIXEL_STEPS).round() as i64;
            let qy = ((inv[3] * x as f64 + base_y) * SUBPIXEL_STEPS).round() as i64;
            let (x0, y0) = (qx.div_euclid(32), qy.div_euclid(32));
            let fx = qx.rem_euclid(32) as f32 / 32.0;
            let fy = qy.rem_euclid(32) as f32 / 32.0;
            let weights = [(1.0 - fx) * (1.0 - fy), fx * (1.0 - fy), (1.0 - fx) * fy, fx * fy];
            let mut acc = [0.0f32; 3];
            if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
                let o = y0 as usize * row + x0 as usize * 3;
                let (p0, p1) = (&src[o..o + 6], &src[o + row..o + row + 6]);
                for c in 0..3 {
                    acc[c] = p0[c] as f32 * weights[0]
                        + p0[3 + c] as f32 * weights[1]
                        + p1[c] as f32 * weights[2]
                        + p1[3 + c] as f32 * weights[3];
                }
            } else {
                for (k, (dx, dy)) in [(0, 0), (1, 0), (0, 1), (1, 1)].into_iter().enumerate() {
                    let (px, py) = (x0 + dx, y0 + dy);
                    if px < 0 || py < 0 || px >= w || py >= h {
                        continue;
                    }
                    let o = py as usize * row + px as usize * 3;
                    for c in 0..3 {
                        acc[c] += src[o + c] as f32 * weights[k];
                    }
                }
            }
            let i = y * size + x;
            let level = |v: f32| lut[((v + 0.5) as i32).clamp(0, 255) as usize];
            r_out[i] = level(acc[0]);
            g_out[i] = level(acc[1]);
            b_out[i] = level(acc[2]);
        }
    }
}

/// Writes the horizontal mirror image of a `3 × size × size` crop into `out`.
pub fn mirror_into(crop: &[f32], size: usize, out: &mut [f32]) {
    for (src_row, dst_row) in crop.chunks_exact(size).zip(out.chunks_exact_mut(size)) {
        for (d, s) in dst_row.iter_mut().zip(src_row.iter().rev()) {
            *d = *s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    const TEMPLATE: [[f32; 2]; 5] =
        [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

    #[test]
    fn recovers_a_known_similarity() {
        // dst = 2 * R(30°) * src + (5, -3)
        let (s, c) = (30f64.to_radians().sin(), 30f64.to_radians().cos());
        let truth: Affine = [2.0 * c, -2.0 * s, 5.0, 2.0 * s, 2.0 * c, -3.0];
        let src = TEMPLATE;
        let dst = src.map(|p| apply(&truth, p));
        let m = umeyama(&src, &dst);
        for (a, b) in m.iter().zip(truth.iter()) {
            assert!((a - b).abs() < 1e-4, "{m:?} vs {truth:?}");
        }
        let inv = invert(&m).expect("invertible");
        let back = apply(&inv, dst[2]);
        assert!((back[0] - src[2][0]).abs() < 1e-3 && (back[1] - src[2][1]).abs() < 1e-3);
    }

    #[test]
    fn mirror_reverses_each_row_of_each_plane() {
        let crop: Vec<f32> = (0..2 * 3 * 3).map(|v| v as f32).collect(); // 2 planes of 3x3
        let mut out = vec![0.0; crop.len()];
        mirror_into(&crop, 3, &mut out);
        assert_eq!(&out[..6], &[2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
        assert_eq!(&out[9..12], &[11.0, 10.0, 9.0]);
    }

    #[test]
    fn identity_warp_reproduces_the_image_and_blacks_outside() {
        let img = RgbImage::from_fn(8, 8, |x, y| Rgb([(x * 30) as u8, (y * 30) as u8, 7]));
        let id: Affine = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        let mut out = vec![0.0; 3 * 10 * 10];
        warp_into(&img, &id, 10, 0.0, 1.0, &mut out);
        assert_eq!(out[3 * 10 + 5], 150.0); // red at (5, 3)
        assert_eq!(out[100 + 3 * 10 + 5], 90.0); // green at (5, 3)
        assert_eq!(out[9 * 10 + 9], 0.0); // outside the 8x8 photo
        // A half-pixel shift averages neighbours.
        let shift: Affine = [1.0, 0.0, -0.5, 0.0, 1.0, 0.0];
        warp_into(&img, &shift, 10, 0.0, 1.0, &mut out);
        assert_eq!(out[2 * 10 + 2], 75.0); // mean of x=2 (60) and x=3 (90)
        // Positions are rounded to 1/32 pixel and values to 8-bit levels, as OpenCV does.
        let tiny: Affine = [1.0, 0.0, -0.01, 0.0, 1.0, 0.0];
        warp_into(&img, &tiny, 10, 0.0, 1.0, &mut out);
        assert_eq!(out[2 * 10 + 2], 60.0);
    }
}
