//! One bit per rotated component (RaBitQ: Gao and Long, SIGMOD 2024): an estimate of a
//! template's int8 score from 64 bytes at dimension 512, with an error bound that holds with
//! high probability — what ranks a gallery for an interactive top-k before the few best are
//! re-scored exactly.
//!
//! A template's int8 codes `cx` are rotated by the [`Rotation`] of [`crate::bound`] into `g`;
//! its code is the signs of `g`, `x̄ = sign(g)/√n`, with two factors. Since `⟨x̄, ĝ⟩ = ‖g‖₁ /
//! (√n‖g‖)` (`ĝ = g/‖g‖`), RaBitQ's unbiased estimator `⟨ĝ, y⟩ ≈ ⟨x̄, y⟩ / ⟨x̄, ĝ⟩` for the
//! rotated query `y` gives `⟨cx, cq⟩ ≈ (‖g‖² / ‖g‖₁) · Σᵢ sign(gᵢ) yᵢ` (factor `m`), with an error
//! below `‖y‖ · ‖g‖ · √(1 − f²)/f · ε₀/√(n − 1)` (`f = ⟨x̄, ĝ⟩`, factor `e`) with high
//! probability over the rotation (ε₀ = 1.9: RaBitQ's default). The rotation here is fixed,
//! not secret and not random per index, so the bound is a guide for how far to re-score, not a
//! proof: the exhaustive searches use [`crate::bound`]'s worst-case bounds instead.
//!
//! The query is quantised to 4 bits per component, `ŷᵢ = lo + Δ·uᵢ`, kept as four bit planes,
//! so that `Σ_{sign(gᵢ)>0} ŷᵢ = lo·popcount(b) + Δ·Σⱼ 2ʲ·popcount(b ∧ planeⱼ)`: four `AND`s and
//! popcounts per 64-bit word of the code, no multiplication per component.

use crate::bound::Rotation;

/// The confidence parameter ε₀: the chance that an estimate's error exceeds the bound falls as
/// `exp(−c·ε₀²)`. The error is close to normal with a standard deviation of about `1/ε₀` of
/// the bound's unit, so RaBitQ's default 1.9 leaves some 4% of pairs outside (measured here);
/// 3 leaves about 0.3%.
pub const EPSILON0: f32 = 3.0;

/// Bits of a query component.
const QUERY_BITS: usize = 4;

/// The factors of one template's 1-bit code: 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Factors {
    /// `m = ‖g‖² / ‖g‖₁`: multiplies `Σ sign(gᵢ) yᵢ` into an estimate of `⟨cx, cq⟩`.
    pub m: f32,
    /// `√(1 − f²)` in units of 1/65535, rounded up: the error factor `e = ‖g‖ · √(1 − f²)/f`
    /// is `m · √n · √(1 − f²)`, and `e` times `‖y‖ · ε₀/√(n − 1)` is the estimate's error bound.
    pub spread: u16,
    /// Set bits of the code.
    pub ones: u16,
}

/// Writes the signs of the rotated template `g` into `out` (`g.len() / 64` words, bit `i % 64`
/// of word `i / 64` set when `gᵢ > 0`) and returns its factors.
pub fn encode(g: &[f64], out: &mut [u64]) -> Factors {
    debug_assert_eq!(out.len() * 64, g.len());
    out.fill(0);
    let (mut l1, mut l2) = (0.0f64, 0.0f64);
    for (i, &v) in g.iter().enumerate() {
        if v > 0.0 {
            out[i / 64] |= 1 << (i % 64);
        }
        l1 += v.abs();
        l2 += v * v;
    }
    if l1 == 0.0 {
        return Factors::default();
    }
    let n = g.len() as f64;
    let f = (l1 / (n.sqrt() * l2.sqrt())).min(1.0);
    let ones = out.iter().map(|w| w.count_ones()).sum::<u32>();
    let spread = ((1.0 - f * f).max(0.0).sqrt() * f64::from(u16::MAX)).ceil().min(f64::from(u16::MAX));
    Factors { m: (l2 / l1) as f32, spread: spread as u16, ones: u16::try_from(ones).unwrap_or(u16::MAX) }
}

/// A query prepared for 1-bit estimates.
#[derive(Debug, Clone)]
pub struct OneBitQuery {
    /// `planes[j][w]`: bit `j` of the 4-bit codes of components `64w..64w + 64`.
    planes: [Vec<u64>; QUERY_BITS],
    lo: f32,
    step: f32,
    /// `Σ ŷᵢ`.
    sum: f32,
    /// `‖y‖ · ε₀ / √(n − 1)` plus the quantisation's share, per unit of a template's `e`, times
    /// `√n / 65535`: per unit of `m · spread`.
    margin: f32,
}

impl OneBitQuery {
    /// Prepares the int8 query `codes` with `rotation` (the templates' own).
    pub fn new(rotation: &Rotation, codes: &[i8]) -> OneBitQuery {
        let n = rotation.padded();
        let mut y = vec![0.0f64; n];
        rotation.apply(codes, &mut y);
        let lo = y.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let levels = ((1 << QUERY_BITS) - 1) as f64;
        let step = if hi > lo { (hi - lo) / levels } else { 1.0 };
        let mut planes: [Vec<u64>; QUERY_BITS] = std::array::from_fn(|_| vec![0u64; n / 64]);
        let (mut sum, mut err2, mut norm2) = (0.0f64, 0.0f64, 0.0f64);
        for (i, &v) in y.iter().enumerate() {
            let u = ((v - lo) / step).round().clamp(0.0, levels);
            let q = lo + step * u;
            sum += q;
            err2 += (v - q) * (v - q);
            norm2 += v * v;
            let u = u as u64;
            for (j, plane) in planes.iter_mut().enumerate() {
                plane[i / 64] |= ((u >> j) & 1) << (i % 64);
            }
        }
        // The query's rounding error ε = y − ŷ shifts an estimate by m·Σ sign(gᵢ)εᵢ: about m·‖ε‖
        // for errors of either sign, and m ≈ 1.7·e/√n when f ≈ 0.8; counted as 2‖ε‖/√n per
        // unit of e (measured in the tests, not proved).
        let n_f = n as f64;
        let margin = norm2.sqrt() * f64::from(EPSILON0) / (n_f - 1.0).sqrt() + 2.0 * err2.sqrt() / n_f.sqrt();
        let margin = margin * n_f.sqrt() / f64::from(u16::MAX);
        OneBitQuery { planes, lo: lo as f32, step: step as f32, sum: sum as f32, margin: margin as f32 }
    }

    /// `Σⱼ 2ʲ · popcount(code ∧ planeⱼ)`.
    #[inline(always)]
    fn weighted(&self, code: &[u64]) -> u32 {
        match code.len() {
            4 => self.weighted_n::<4>(code),
            8 => self.weighted_n::<8>(code),
            16 => self.weighted_n::<16>(code),
            _ => self.weighted_any(code),
        }
    }

    /// [`weighted`](Self::weighted) for codes of `W` words: fixed-length loops the compiler
    /// turns into one vector `AND` and popcount per plane.
    #[inline(always)]
    fn weighted_n<const W: usize>(&self, code: &[u64]) -> u32 {
        let code: &[u64; W] = code.try_into().unwrap_or(&[0; W]);
        let mut lanes = [0u64; W];
        for (j, plane) in self.planes.iter().enumerate() {
            let plane: &[u64; W] = plane[..].try_into().unwrap_or(&[0; W]);
            for w in 0..W {
                lanes[w] += u64::from((code[w] & plane[w]).count_ones()) << j;
            }
        }
        lanes.iter().sum::<u64>() as u32
    }

    fn weighted_any(&self, code: &[u64]) -> u32 {
        let mut total = 0u32;
        for (j, plane) in self.planes.iter().enumerate() {
            let count: u32 = code.iter().zip(plane).map(|(c, p)| (c & p).count_ones()).sum();
            total += count << j;
        }
        total
    }

    /// An estimate of `⟨cx, cq⟩` for the template coded as `code` with `factors`, and the
    /// bound on its error (both in units of the int8 dot product: times the scales for a score).
    #[inline(always)]
    pub fn estimate(&self, code: &[u64], factors: &Factors) -> (f32, f32) {
        let set = self.lo * f32::from(factors.ones) + self.step * self.weighted(code) as f32;
        let signed = 2.0 * set - self.sum;
        (factors.m * signed, factors.m * f32::from(factors.spread) * self.margin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{dot_i8, quantize};
    use crate::testing::TestRng;

    #[test]
    fn estimates_are_close_and_their_bounds_hold_for_nearly_every_pair() {
        let dim = 512;
        let rotation = Rotation::new(dim);
        let mut rng = TestRng::new(5);
        let templates: Vec<Vec<i8>> = (0..400).map(|_| quantize(&rng.unit(dim)).0).collect();
        let mut g = vec![0.0; rotation.padded()];
        let coded: Vec<(Vec<u64>, Factors)> = templates
            .iter()
            .map(|t| {
                rotation.apply(t, &mut g);
                let mut code = vec![0u64; rotation.padded() / 64];
                let f = encode(&g, &mut code);
                (code, f)
            })
            .collect();
        let (mut outside, mut pairs, mut sq_error) = (0usize, 0usize, 0.0f64);
        for (qi, q) in templates.iter().take(40).enumerate() {
            let query = OneBitQuery::new(&rotation, q);
            for (ti, (t, (code, f))) in templates.iter().zip(&coded).enumerate() {
                let exact = dot_i8(q, t) as f32;
                let (estimate, bound) = query.estimate(code, f);
                let norm = (dot_i8(q, q) as f32).sqrt() * (dot_i8(t, t) as f32).sqrt();
                sq_error += f64::from((estimate - exact) / norm).powi(2);
                pairs += 1;
                if (estimate - exact).abs() > bound {
                    outside += 1;
                }
                if qi == ti {
                    // A template against itself: a cosine of 1 estimated within 0.15.
                    assert!((estimate / norm - 1.0).abs() < 0.15, "{}", estimate / norm);
                }
            }
        }
        // RaBitQ: a standard error about 1/√n of the cosine scale (0.044 at 512)...
        let rms = (sq_error / pairs as f64).sqrt();
        assert!(rms < 0.05, "{rms}");
        // ... and the bound missed by under 1% of the pairs.
        assert!(outside * 100 < pairs, "{outside} of {pairs}");
    }

    #[test]
    fn codes_count_their_bits_and_a_zero_template_estimates_zero() {
        let g: Vec<f64> = (0..256).map(|i| if i % 3 == 0 { 1.0 } else { -0.5 }).collect();
        let mut code = vec![0u64; 4];
        let f = encode(&g, &mut code);
        assert_eq!(f.ones, 86);
        assert_eq!(size_of::<Factors>(), 8);
        assert_eq!(code[0] & 0b1001001, 0b1001001);
        let zero = encode(&[0.0; 256], &mut code);
        assert_eq!((zero, &code), (Factors::default(), &vec![0; 4]));
        let query = OneBitQuery::new(&Rotation::new(200), &[3i8; 200]);
        assert_eq!(query.estimate(&code, &zero), (0.0, 0.0));
    }
}

/// The best of this CPU's vector extensions for the 1-bit kernel, detected once: AVX-512 with
/// VPOPCNTDQ (a popcount per 64-bit lane), else AVX-512 with scalar popcounts, else none.
/// A scan runs its loop in a closure of its own per level (`simd.vectorize(|| …)`), so that
/// the compiler inlines it there and vectorises for that level.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Level {
    Popcnt(V4Popcnt),
    V4(pulp::x86::V4),
    Plain,
}

/// This CPU's [`Level`].
pub(crate) fn level() -> Level {
    static LEVEL: std::sync::OnceLock<Level> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| match (V4Popcnt::try_new(), pulp::x86::V4::try_new()) {
        (Some(simd), _) => Level::Popcnt(simd),
        (None, Some(simd)) => Level::V4(simd),
        (None, None) => Level::Plain,
    })
}

pulp::simd_type! {
    /// AVX-512 with the 64-bit vector popcount (VPOPCNTDQ).
    pub(crate) struct V4Popcnt {
        sse: "sse",
        sse2: "sse2",
        fxsr: "fxsr",
        sse3: "sse3",
        ssse3: "ssse3",
        sse4_1: "sse4.1",
        sse4_2: "sse4.2",
        popcnt: "popcnt",
        avx: "avx",
        avx2: "avx2",
        bmi1: "bmi1",
        bmi2: "bmi2",
        fma: "fma",
        lzcnt: "lzcnt",
        avx512f: "avx512f",
        avx512bw: "avx512bw",
        avx512cd: "avx512cd",
        avx512dq: "avx512dq",
        avx512vl: "avx512vl",
        avx512vpopcntdq: "avx512vpopcntdq",
    }
}
