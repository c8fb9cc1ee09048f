//! The detector's input: where the photo goes in the tensor, and filling it.
//!
//! The photo is resized keeping its aspect ratio and placed at the top-left of the input, the
//! rest padded with black, as InsightFace does. The resize is OpenCV's `INTER_LINEAR`
//! (half-pixel centres, edge clamping, rounding to 8 bits) so detections match the reference
//! to a fraction of a pixel; it is fused with normalisation and the HWC → CHW transpose so the
//! image is read once.

use image::RgbImage;

use crate::{ChannelOrder, DetectorInput};

/// Where and how large the photo sits in the detector input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LetterboxPlan {
    /// Input tensor width.
    pub input_width: u32,
    /// Input tensor height.
    pub input_height: u32,
    /// Width of the resized photo inside the input.
    pub resized_width: u32,
    /// Height of the resized photo inside the input.
    pub resized_height: u32,
    /// Input pixels per original pixel, horizontally.
    pub scale_x: f32,
    /// Input pixels per original pixel, vertically.
    pub scale_y: f32,
}

/// Plans the detector input for a `width × height` photo.
pub fn plan(width: u32, height: u32, input: DetectorInput) -> LetterboxPlan {
    let (w, h) = (width.max(1), height.max(1));
    match input {
        DetectorInput::Fixed(size) => {
            // InsightFace: the longer side fills the square, the other truncated.
            let ratio = h as f64 / w as f64;
            let (nw, nh) =
                if ratio > 1.0 { ((size as f64 / ratio) as u32, size) } else { (size, (size as f64 * ratio) as u32) };
            let (nw, nh) = (nw.max(1), nh.max(1));
            // One scale for both axes, from the height, exactly as the reference maps back.
            let scale = nh as f32 / h as f32;
            LetterboxPlan {
                input_width: size,
                input_height: size,
                resized_width: nw,
                resized_height: nh,
                scale_x: scale,
                scale_y: scale,
            }
        }
        DetectorInput::Adaptive(max_side) => {
            let longer = w.max(h) as f64;
            let scale = (max_side as f64 / longer).min(1.0);
            let nw = ((w as f64 * scale).round() as u32).clamp(1, max_side);
            let nh = ((h as f64 * scale).round() as u32).clamp(1, max_side);
            LetterboxPlan {
                input_width: nw.div_ceil(32) * 32,
                input_height: nh.div_ceil(32) * 32,
                resized_width: nw,
                resized_height: nh,
                scale_x: nw as f32 / w as f32,
                scale_y: nh as f32 / h as f32,
            }
        }
    }
}

/// Fixed-point scale of OpenCV's resize coefficients (`INTER_RESIZE_COEF_SCALE`).
const COEF_SCALE: f32 = 2048.0;

/// For each destination coordinate: the two source indices and their fixed-point weights,
/// as OpenCV's bilinear resize computes them (half-pixel centres, clamped at the edges).
fn linear_taps(src: u32, dst: u32) -> Vec<(usize, usize, i32, i32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor();
            let mut frac = f - s;
            if s < 0.0 {
                s = 0.0;
                frac = 0.0;
            }
            let s = s as usize;
            if s + 1 >= src as usize {
                (src as usize - 1, src as usize - 1, COEF_SCALE as i32, 0)
            } else {
                // Each weight rounded on its own (half to even), as OpenCV's saturate_cast does.
                let w0 = ((1.0 - frac) * COEF_SCALE).round_ties_even() as i32;
                let w1 = (frac * COEF_SCALE).round_ties_even() as i32;
                (s, s + 1, w0, w1)
            }
        })
        .collect()
}

/// Fills `out` (resized to `3 × input_height × input_width`) with the normalised letterboxed
/// photo: `(value − mean) / std` per channel, planes in `channels` order, padding as black
/// (value 0).
///
/// The resize reproduces OpenCV's 8-bit `INTER_LINEAR` arithmetic (11-bit weights, horizontal
/// then vertical pass, its rounding), which reproduces `cv2.resize` exactly (checked on the sample photos).
pub fn fill_tensor(
    img: &RgbImage,
    plan: &LetterboxPlan,
    channels: ChannelOrder,
    mean: f32,
    std: f32,
    out: &mut Vec<f32>,
) {
    let (iw, ih) = (plan.input_width as usize, plan.input_height as usize);
    let plane = iw * ih;
    let pad = (0.0 - mean) / std;
    out.clear();
    out.resize(3 * plane, pad);
    // One lookup table from an 8-bit level to its normalised value.
    let lut: Vec<f32> = (0..256).map(|v| (v as f32 - mean) / std).collect();
    let (rw, rh) = (plan.resized_width as usize, plan.resized_height as usize);
    let xs = linear_taps(img.width(), plan.resized_width);
    let ys = linear_taps(img.height(), plan.resized_height);
    let src = img.as_raw();
    let stride = img.width() as usize * 3;
    let mut h0 = vec![0i32; rw * 3];
    let mut h1 = vec![0i32; rw * 3];
    let horizontal = |row: &[u8], dst: &mut [i32]| {
        for (x, &(x0, x1, a0, a1)) in xs.iter().enumerate().take(rw) {
            for c in 0..3 {
                dst[x * 3 + c] = row[x0 * 3 + c] as i32 * a0 + row[x1 * 3 + c] as i32 * a1;
            }
        }
    };
    let (first, rest) = out.split_at_mut(plane);
    let (g_plane, last) = rest.split_at_mut(plane);
    let (r_plane, b_plane) = match channels {
        ChannelOrder::Rgb => (first, last),
        ChannelOrder::Bgr => (last, first),
    };
    let mut cached = (usize::MAX, usize::MAX);
    for (y, &(y0, y1, b0, b1)) in ys.iter().enumerate().take(rh) {
        if cached != (y0, y1) {
            horizontal(&src[y0 * stride..y0 * stride + stride], &mut h0);
            horizontal(&src[y1 * stride..y1 * stride + stride], &mut h1);
            cached = (y0, y1);
        }
        let o = y * iw;
        for x in 0..rw {
            for (c, plane_out) in [&mut *r_plane, &mut *g_plane, &mut *b_plane].into_iter().enumerate() {
                let v = (((b0 * (h0[x * 3 + c] >> 4)) >> 16) + ((b1 * (h1[x * 3 + c] >> 4)) >> 16) + 2) >> 2;
                plane_out[o + x] = lut[v.clamp(0, 255) as usize];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn fixed_plan_matches_insightface_for_portrait_and_landscape() {
        // players.jpg (landscape) and yaoming.jpg (portrait) as InsightFace sizes them.
        let p = plan(1237, 800, DetectorInput::Fixed(640));
        assert_eq!((p.resized_width, p.resized_height), (640, 413));
        assert!((p.scale_y - 413.0 / 800.0).abs() < 1e-7);
        let p = plan(233, 287, DetectorInput::Fixed(640));
        // int(640 / (287/233)) = 519
        assert_eq!((p.resized_width, p.resized_height), (519, 640));
        assert_eq!((p.input_width, p.input_height), (640, 640));
    }

    #[test]
    fn adaptive_plan_never_upscales_and_rounds_to_32() {
        let p = plan(250, 250, DetectorInput::Adaptive(640));
        assert_eq!((p.resized_width, p.resized_height), (250, 250));
        assert_eq!((p.input_width, p.input_height), (256, 256));
        assert_eq!(p.scale_x, 1.0);
        let p = plan(4000, 3000, DetectorInput::Adaptive(640));
        assert_eq!((p.resized_width, p.resized_height), (640, 480));
        assert_eq!((p.input_width, p.input_height), (640, 480));
        let p = plan(10, 5, DetectorInput::Adaptive(640));
        assert_eq!((p.input_width, p.input_height), (32, 32));
    }

    #[test]
    fn identity_resize_copies_pixels_and_pads_black() {
        let img = RgbImage::from_fn(4, 2, |x, y| Rgb([(x * 10 + y) as u8, 100, 200]));
        let p = plan(4, 2, DetectorInput::Adaptive(640));
        let mut t = Vec::new();
        fill_tensor(&img, &p, ChannelOrder::Rgb, 0.0, 1.0, &mut t);
        assert_eq!(t.len(), 3 * 32 * 32);
        assert_eq!(t[0], 0.0);
        assert_eq!(t[3], 30.0);
        assert_eq!(t[32 + 1], 11.0); // row 1, col 1, red
        assert_eq!(t[32 * 32], 100.0); // green plane
        assert_eq!(t[2 * 32 * 32 + 3], 200.0); // blue plane
        assert_eq!(t[5], 0.0); // padding
        let mut bgr = Vec::new();
        fill_tensor(&img, &p, ChannelOrder::Bgr, 0.0, 1.0, &mut bgr);
        assert_eq!(bgr[3], 200.0, "blue plane first");
        assert_eq!(bgr[32 * 32], 100.0);
        assert_eq!(bgr[2 * 32 * 32 + 32 + 1], 11.0, "red plane last");
    }

    #[test]
    fn downscale_by_two_averages_neighbours_like_opencv() {
        // OpenCV INTER_LINEAR at exactly 1/2 samples at (2d + 0.5), i.e. the mean of a 2x2 block.
        let img = RgbImage::from_fn(4, 4, |x, y| Rgb([(x * 40 + y * 4) as u8, 0, 0]));
        let p = LetterboxPlan {
            input_width: 2,
            input_height: 2,
            resized_width: 2,
            resized_height: 2,
            scale_x: 0.5,
            scale_y: 0.5,
        };
        let mut t = Vec::new();
        fill_tensor(&img, &p, ChannelOrder::Rgb, 0.0, 1.0, &mut t);
        // block (0..2, 0..2): values 0, 40, 4, 44 -> mean 22
        assert_eq!(t[0], 22.0);
        // block (2..4, 2..4): 88, 128, 92, 132 -> 110
        assert_eq!(t[3], 110.0);
    }
}
