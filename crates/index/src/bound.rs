//! Provable upper bounds on int8 scores from a 6-bit code per component: what lets the
//! compressed index skip most of a gallery in an exhaustive search and still miss nothing.
//!
//! The flat index scores a template by the integer dot product `D = ⟨cq, cx⟩` of the query's
//! and the template's int8 codes (then `score(D, sq, sx)`, which is non-decreasing in `D`). This
//! module computes from a short code of the template an integer `U ≥ D` that holds for
//! **every** query and template — a worst-case inequality, not an estimate that holds with high
//! probability — so a scan that skips a template when `score(U) < threshold` returns exactly
//! the flat scan's set.
//!
//! How:
//! 1. [`Rotation`]: the int8 code vector, zero-padded to a power of two `n ≥ 256`, is rotated
//!    by a fixed randomized Hadamard transform (three rounds of random signs and a
//!    Walsh–Hadamard transform, normalised), computed in `f64`. Orthogonal, so
//!    `⟨Pcq, Pcx⟩ = D`; it spreads every template's energy evenly over the coordinates, which
//!    is what makes a uniform quantiser efficient. Its `f64` rounding (below 1e-12 relative)
//!    is covered by a margin of 1e-9 · ‖cq‖ · ‖cx‖max.
//! 2. [`Encoder::encode`]: the rotated vector `y` gets a uniform 6-bit code `k` per coordinate,
//!    stored in three *stages* of two bits, most significant first: the first stage is a 2-bit
//!    code by itself, the first two a 4-bit code. Each prefix `j` (2, 4 or 6 bits) has its
//!    centred code `uʲ = kʲ + ½ − 2ʲ⁻¹`, the best scale
//!    `cⱼ = ⟨y, uʲ⟩ / ‖uʲ‖²` (stored as `f32`) and a radius `ρⱼ ≥ ‖y − cⱼ uʲ‖` computed with the
//!    stored scale and rounded up.
//! 3. [`QueryBound`]: the rotated query `z` is quantised to int8, `z = s·z̃ + e`, with `‖e‖`
//!    measured. Then, by Cauchy–Schwarz twice and `‖cⱼuʲ‖ ≤ ‖y‖ + ρⱼ`:
//!    `D = ⟨z, y⟩ = cⱼ⟨z, uʲ⟩ + ⟨z, y − cⱼuʲ⟩ ≤ cⱼ·s·⟨z̃, uʲ⟩ + ‖e‖·(‖cx‖ + ρⱼ) + ‖z‖·ρⱼ`,
//!    where `⟨z̃, uʲ⟩` is an exact integer from one dot product per stage
//!    ([`QueryBound::stage_dot`]: AVX-512 `vpmaddubsw` where the CPU has it, the same integers
//!    otherwise).
//!
//! On random directions the radius is about 0.37, 0.11 and 0.05 ‖y‖ after one, two and three
//! stages (against 0.60 for the 1-bit code an estimate would use): a worst-case bound needs
//! more bits than an estimate. A scan reads a template's next stage only while its bound
//! still reaches the floor, and scores exactly the few that pass all three.

use pulp::Simd;
use pulp::x86::V4;

/// Seed of the fixed rotation (it needs no secrecy: the bound holds for any orthogonal matrix).
const ROTATION_SEED: u64 = 0x6761_6261_7269_7421;

/// Relative margin for the rotation's `f64` rounding, times `‖cq‖ · ‖cx‖max`.
const ROTATION_MARGIN: f64 = 1e-9;

/// Clipping ranges tried by [`encode`], as fractions of the largest coordinate.
const CLIPS: [f64; 6] = [0.6, 0.7, 0.75, 0.8, 0.9, 1.0];

/// The fixed orthogonal transform applied to templates and queries before coding.
#[derive(Debug, Clone)]
pub struct Rotation {
    dim: usize,
    padded: usize,
    signs: [Vec<f64>; 3],
}

impl Rotation {
    /// The rotation for templates of `dim` components (zero-padded to a power of two, at
    /// least 256, so that a stage is a whole number of 64-byte runs).
    pub fn new(dim: usize) -> Rotation {
        let padded = dim.next_power_of_two().max(256);
        let mut state = ROTATION_SEED ^ padded as u64;
        let mut round = || {
            (0..padded)
                .map(|_| {
                    state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let mut z = state;
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    if (z ^ (z >> 31)) & 1 == 0 { 1.0 } else { -1.0 }
                })
                .collect::<Vec<f64>>()
        };
        let signs = [round(), round(), round()];
        Rotation { dim, padded, signs }
    }

    /// Components of the templates it rotates.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Components of a rotated vector (a power of two, at least 256).
    pub fn padded(&self) -> usize {
        self.padded
    }

    /// Bytes of one stage of a template's code (2 bits per rotated component).
    pub fn stage_bytes(&self) -> usize {
        self.padded / 4
    }

    /// Rotates the int8 codes `codes` (length `dim`) into `out` (length [`padded`](Self::padded)).
    ///
    /// # Panics
    /// If a length is wrong.
    pub fn apply(&self, codes: &[i8], out: &mut [f64]) {
        assert_eq!(codes.len(), self.dim, "rotation: input length");
        assert_eq!(out.len(), self.padded, "rotation: output length");
        out.fill(0.0);
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = f64::from(c);
        }
        for signs in &self.signs {
            for (o, s) in out.iter_mut().zip(signs) {
                *o *= s;
            }
            walsh_hadamard(out);
        }
        // Each unnormalised transform multiplies norms by √n.
        let norm = 1.0 / (self.padded as f64).powf(1.5);
        for o in out.iter_mut() {
            *o *= norm;
        }
    }
}

/// In-place, unnormalised fast Walsh–Hadamard transform (length a power of two).
fn walsh_hadamard(a: &mut [f64]) {
    let mut h = 1;
    while h < a.len() {
        for block in a.chunks_exact_mut(2 * h) {
            let (lo, hi) = block.split_at_mut(h);
            for (x, y) in lo.iter_mut().zip(hi.iter_mut()) {
                let (u, v) = (*x, *y);
                *x = u + v;
                *y = u - v;
            }
        }
        h *= 2;
    }
}

/// One stage of a template's code: the scale of its reconstruction and a radius that the
/// reconstruction error never exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Level {
    /// `cⱼ`: the reconstruction is `cⱼ · uʲ`.
    pub scale: f32,
    /// `ρⱼ ≥ ‖y − cⱼ uʲ‖` (rounded up).
    pub radius: f32,
}

/// What a template's bounds need beside its codes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Levels {
    /// The 2-, 4- and 6-bit reconstructions.
    pub stages: [Level; STAGES],
    /// `‖cx‖`, rounded up.
    pub norm: f32,
}

/// Stages of a template's code, 2 bits per component each, most significant first.
pub const STAGES: usize = 3;
/// Bits of the code after each stage.
const STAGE_BITS: [u32; STAGES] = [2, 4, 6];
const CODE_BITS: u32 = 6;

/// Codes templates: reusable scratch buffers around a [`Rotation`].
#[derive(Debug, Clone)]
pub struct Encoder {
    rotation: Rotation,
    /// The template's int8 codes, when given in offset form.
    codes: Vec<i8>,
    y: Vec<f64>,
    k: Vec<u8>,
    best: Vec<u8>,
}

impl Encoder {
    /// An encoder for templates of `dim` components.
    pub fn new(dim: usize) -> Encoder {
        let rotation = Rotation::new(dim);
        let n = rotation.padded();
        Encoder { rotation, codes: vec![0; dim], y: vec![0.0; n], k: vec![0; n], best: vec![0; n] }
    }

    /// The rotation used.
    pub fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// The rotated form of the template last encoded (what its 1-bit code is made from).
    pub fn rotated(&self) -> &[f64] {
        &self.y
    }

    /// [`encode`](Self::encode) for codes in offset form (`code + 128`, as the flat index
    /// keeps them: see [`crate::quant::to_offset`]).
    ///
    /// # Panics
    /// As [`encode`](Self::encode).
    pub fn encode_offset(&mut self, codes: &[u8], out: &mut [u8]) -> Levels {
        let mut signed = std::mem::take(&mut self.codes);
        signed.clear();
        signed.extend(codes.iter().map(|&c| crate::quant::from_offset(c)));
        let levels = self.encode(&signed, out);
        self.codes = signed;
        levels
    }

    /// Codes the int8 template `codes`: writes the [`STAGES`] stages of its 6-bit code (two
    /// bits each, most significant first, packed by [`pack`], [`Rotation::stage_bytes`] bytes
    /// each, one after the other) into `out` and returns their scales and radii.
    ///
    /// The clipping range is the one of a few that minimises the sum of the stages' radii: a
    /// range suited to the full code alone would leave the coarse stage, which every scan
    /// reads, far from its best.
    ///
    /// # Panics
    /// If `codes` does not have the encoder's dimension or an output the right length.
    pub fn encode(&mut self, codes: &[i8], out: &mut [u8]) -> Levels {
        let bytes = self.rotation.stage_bytes();
        assert_eq!(out.len(), STAGES * bytes, "encode: output length");
        self.rotation.apply(codes, &mut self.y);
        let y = &self.y;
        let top = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let norm = round_up(codes.iter().map(|&c| f64::from(c) * f64::from(c)).sum::<f64>().sqrt());
        if top == 0.0 {
            out.fill(0);
            return Levels { stages: [Level::default(); STAGES], norm };
        }
        let yy: f64 = y.iter().map(|v| v * v).sum();
        let steps = 1u32 << CODE_BITS;
        let mut best_cost = f64::INFINITY;
        for clip in CLIPS {
            let range = clip * top;
            let delta = 2.0 * range / f64::from(steps);
            for (k, &v) in self.k.iter_mut().zip(y) {
                // Truncation is the floor here: negative quotients clamp to 0 either way.
                *k = ((v + range) / delta).clamp(0.0, f64::from(steps - 1)) as u8;
            }
            let cost = approximate_radii(y, yy, &self.k);
            if cost < best_cost {
                best_cost = cost;
                self.best.copy_from_slice(&self.k);
            }
        }
        for (o, bits) in out.chunks_exact_mut(bytes).zip(STAGE_BITS) {
            let shift = CODE_BITS - bits;
            pack(self.best.iter().map(|k| (k >> shift) & 3), o);
        }
        let stages = STAGE_BITS.map(|bits| {
            let (scale, radius) = residual(y, &self.best, bits);
            Level { scale, radius }
        });
        Levels { stages, norm }
    }
}

/// `Σ` over the stages of `‖y − cⱼuʲ‖` with the least-squares scales, from one pass of sums
/// (`‖y‖² − ⟨y, u⟩² / ‖u‖²`): to choose a clipping range, not to bound anything.
fn approximate_radii(y: &[f64], yy: f64, k: &[u8]) -> f64 {
    let mut yu = [0.0f64; STAGES];
    let mut uu = [0.0f64; STAGES];
    for (&v, &k) in y.iter().zip(k) {
        for (stage, bits) in STAGE_BITS.into_iter().enumerate() {
            let u = f64::from(k >> (CODE_BITS - bits)) - centre(bits);
            yu[stage] += v * u;
            uu[stage] += u * u;
        }
    }
    (0..STAGES).map(|s| if uu[s] > 0.0 { (yy - yu[s] * yu[s] / uu[s]).max(0.0).sqrt() } else { yy.sqrt() }).sum()
}

/// What centres a `bits`-bit code: `uʲ = kʲ − centre(j)` (`2ʲ⁻¹ − ½`).
fn centre(bits: u32) -> f64 {
    f64::from(1u32 << bits) / 2.0 - 0.5
}

/// Packs 2-bit values, four per byte, in the order the kernels read them: byte `i` of the
/// `r`-th run of 64 bytes holds the values of coordinates `(4r + q) × 64 + i` in its bits
/// `2q, 2q + 1`, so that shifting a run by `2q` and masking gives 64 consecutive coordinates.
pub fn pack(values: impl Iterator<Item = u8>, out: &mut [u8]) {
    out.fill(0);
    for (i, v) in values.enumerate() {
        let (block, at) = (i / 64, i % 64);
        out[(block / 4) * 64 + at] |= (v & 3) << (2 * (block % 4));
    }
}

/// The least-squares scale of the `bits`-bit prefix of the codes `k` for `y`, rounded to
/// `f32`, and the error radius with that rounded scale (summed term by term), rounded up to
/// the next `f32` above.
fn residual(y: &[f64], k: &[u8], bits: u32) -> (f32, f32) {
    let (shift, centre) = (CODE_BITS - bits, centre(bits));
    let (mut yu, mut uu) = (0.0, 0.0);
    for (&v, &k) in y.iter().zip(k) {
        let u = f64::from(k >> shift) - centre;
        yu += v * u;
        uu += u * u;
    }
    let scale = if uu > 0.0 { (yu / uu) as f32 } else { 0.0 };
    let c = f64::from(scale);
    let mut err = 0.0;
    for (&v, &k) in y.iter().zip(k) {
        let r = v - c * (f64::from(k >> shift) - centre);
        err += r * r;
    }
    (scale, round_up(err.sqrt()))
}

/// The smallest `f32` not below `x` with a relative margin for the `f64` sum that gave it.
fn round_up(x: f64) -> f32 {
    let padded = x * (1.0 + 1e-9) + 1e-12;
    let f = padded as f32;
    if f64::from(f) >= padded { f } else { f.next_up() }
}

/// The SIMD level of this CPU for the stage dots, detected once.
fn v4() -> Option<V4> {
    static V4_LEVEL: std::sync::OnceLock<Option<V4>> = std::sync::OnceLock::new();
    *V4_LEVEL.get_or_init(V4::try_new)
}

/// A query prepared for bounding: its rotated, int8-quantised form and the norms the bound
/// needs.
#[derive(Debug, Clone)]
pub struct QueryBound {
    /// `z̃`, 64 coordinates per array.
    codes: Vec<[i8; 64]>,
    /// The quantisation step `s` (`z = s·z̃ + e`).
    step: f64,
    /// `Σ z̃`.
    sum: i64,
    /// `‖z‖` and `‖e‖`, rounded up.
    norm: f64,
    error: f64,
    /// `1e-9 · ‖cq‖ · ‖cx‖max`.
    rotation_slack: f64,
    simd: Option<V4>,
}

impl QueryBound {
    /// Prepares the int8 query `codes` with `rotation`.
    ///
    /// # Panics
    /// If `codes` does not have the rotation's dimension.
    pub fn new(rotation: &Rotation, codes: &[i8]) -> QueryBound {
        Self::with_simd(rotation, codes, v4())
    }

    /// Like [`new`](Self::new) but never using AVX-512 (tests compare the two).
    pub fn portable(rotation: &Rotation, codes: &[i8]) -> QueryBound {
        Self::with_simd(rotation, codes, None)
    }

    fn with_simd(rotation: &Rotation, codes: &[i8], simd: Option<V4>) -> QueryBound {
        let n = rotation.padded();
        let mut z = vec![0.0; n];
        rotation.apply(codes, &mut z);
        let top = z.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let step = if top > 0.0 { top / 127.0 } else { 1.0 };
        let mut quantised = vec![[0i8; 64]; n / 64];
        let (mut sum, mut err2, mut norm2) = (0i64, 0.0f64, 0.0f64);
        for (i, &v) in z.iter().enumerate() {
            let q = (v / step).round().clamp(-127.0, 127.0);
            sum += q as i64;
            let e = v - step * q;
            err2 += e * e;
            norm2 += v * v;
            quantised[i / 64][i % 64] = q as i8;
        }
        let cq = codes.iter().map(|&c| f64::from(c) * f64::from(c)).sum::<f64>().sqrt();
        let cx_max = 127.0 * (rotation.dim as f64).sqrt();
        QueryBound {
            codes: quantised,
            step,
            sum,
            norm: norm2.sqrt() * (1.0 + 1e-9),
            error: err2.sqrt() * (1.0 + 1e-9),
            rotation_slack: ROTATION_MARGIN * cq * cx_max,
            simd,
        }
    }

    /// `⟨z̃, v⟩` for the 2-bit values `v` packed by [`pack`] (one stage of one template,
    /// [`Rotation::stage_bytes`] bytes). Exact.
    #[inline(always)]
    pub fn stage_dot(&self, packed: &[u8]) -> i64 {
        match self.simd {
            Some(simd) => self.stage_dot_v4(simd, packed),
            None => self.stage_dot_portable(packed),
        }
    }

    /// [`stage_dot`](Self::stage_dot) with AVX-512: per run of 64 bytes, four shifts and masks
    /// give 4 × 64 values, each multiplied with its 64 query codes by `vpmaddubsw` (pairs
    /// summed into `i16`: at most 2 × 3 × 127 per lane and product), widened to `i32` by
    /// `vpmaddwd`.
    #[inline(always)]
    fn stage_dot_v4(&self, simd: V4, packed: &[u8]) -> i64 {
        let three = simd.splat_u8x64(3);
        let ones = simd.splat_i16x32(1);
        let mut total = simd.splat_i32s(0);
        // Eight runs of `i16` sums at most (8 × 4 × 762 < 32,767), then widened.
        for (runs, queries) in packed.chunks(64 * 8).zip(self.codes.chunks(4 * 8)) {
            let mut sum = simd.splat_i16x32(0);
            for (run, query) in runs.chunks_exact(64).zip(queries.chunks_exact(4)) {
                let mut bytes = [0u8; 64];
                bytes.copy_from_slice(run);
                let p: pulp::u16x32 = pulp::bytemuck::cast(bytes);
                let parts =
                    [p, simd.shr_const_u16x32::<2>(p), simd.shr_const_u16x32::<4>(p), simd.shr_const_u16x32::<6>(p)];
                for (part, q) in parts.into_iter().zip(query) {
                    let values: pulp::i8x64 = pulp::bytemuck::cast(simd.and_u8s(pulp::bytemuck::cast(part), three));
                    let q: pulp::i8x64 = pulp::bytemuck::cast(*q);
                    sum = simd.add_i16s(sum, simd.multiply_saturating_add_adjacent_i8x64(values, q));
                }
            }
            total = simd.add_i32s(total, simd.multiply_wrapping_add_adjacent_i16x32(sum, ones));
        }
        let lanes: [i32; 16] = pulp::bytemuck::cast(total);
        lanes.iter().map(|&l| i64::from(l)).sum()
    }

    /// [`stage_dot`](Self::stage_dot) one coordinate at a time.
    fn stage_dot_portable(&self, packed: &[u8]) -> i64 {
        let mut total = 0i64;
        for (r, run) in packed.chunks_exact(64).enumerate() {
            for (at, &byte) in run.iter().enumerate() {
                for q in 0..4 {
                    let v = i64::from((byte >> (2 * q)) & 3);
                    total += v * i64::from(self.codes[4 * r + q][at]);
                }
            }
        }
        total
    }

    /// Runs `f` with AVX-512 enabled when the query uses it, so that the stage dots inside
    /// inline into one vectorised loop.
    #[inline(always)]
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        match self.simd {
            Some(simd) => simd.vectorize(f),
            None => f(),
        }
    }

    /// An integer `U ≥ ⟨cq, cx⟩` after stage `stage` (`0..STAGES`) of a template: `prefix` is
    /// `⟨z̃, kʲ⟩` for the code's bits so far (`prefix = 4 × prefix + stage_dot(stage)`, from
    /// 0). Saturates at `i64::MAX` if the arithmetic is not finite (never prunes).
    #[inline(always)]
    pub fn bound(&self, stage: usize, prefix: i64, levels: &Levels) -> i64 {
        let bits = STAGE_BITS[stage];
        let level = levels.stages[stage];
        // 2⟨z̃, uʲ⟩ = 2⟨z̃, kʲ⟩ + (1 − 2ʲ)·Σz̃, exactly.
        let twice = 2 * prefix + (1 - (1i64 << bits)) * self.sum;
        let c = f64::from(level.scale);
        let main = c * self.step * (twice as f64 / 2.0);
        // ⟨e, cⱼuʲ⟩ ≤ ‖e‖·‖cⱼuʲ‖ ≤ ‖e‖·(‖y‖ + ρⱼ), and ‖y‖ = ‖cx‖.
        let quantisation = self.error * (f64::from(levels.norm) + f64::from(level.radius));
        let residual = self.norm * f64::from(level.radius);
        // The f64 evaluation is off by far less than 1e-9 of the terms' magnitudes; D is an
        // integer, so a margin of 1e-3 more costs nothing.
        let slack = 1e-9 * (main.abs() + quantisation + residual) + self.rotation_slack + 1e-3;
        let u = main + quantisation + residual + slack;
        // `as` truncates towards zero: an integer not below `floor(u)`, so still not below D.
        if u.is_finite() { u as i64 } else { i64::MAX }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{dot_i8, quantize};
    use crate::testing::TestRng;
    use proptest::prelude::*;

    fn codes(v: &[f32]) -> Vec<i8> {
        quantize(v).0
    }

    /// Both stages' bounds of every template against every query, checked against the exact
    /// dot; both kernels agree.
    fn check_bounds(dim: usize, templates: &[Vec<i8>], queries: &[Vec<i8>]) {
        let mut encoder = Encoder::new(dim);
        let bytes = encoder.rotation().stage_bytes();
        let mut code = vec![0u8; STAGES * bytes];
        for t in templates {
            let levels = encoder.encode(t, &mut code);
            for q in queries {
                let exact = i64::from(dot_i8(q, t));
                let fast = QueryBound::new(encoder.rotation(), q);
                let portable = QueryBound::portable(encoder.rotation(), q);
                let mut prefix = 0;
                for (stage, packed) in code.chunks_exact(bytes).enumerate() {
                    let dot = fast.run(|| fast.stage_dot(packed));
                    assert_eq!(dot, portable.stage_dot(packed), "the kernels agree");
                    prefix = 4 * prefix + dot;
                    let u = fast.bound(stage, prefix, &levels);
                    assert!(u >= exact, "stage {stage}: bound {u} below the exact dot {exact}");
                }
            }
        }
    }

    #[test]
    fn rotation_keeps_dot_products() {
        let mut rng = TestRng::new(3);
        for dim in [4, 64, 100, 512] {
            let r = Rotation::new(dim);
            let (a, b) = (codes(&rng.unit(dim)), codes(&rng.unit(dim)));
            let (mut ra, mut rb) = (vec![0.0; r.padded()], vec![0.0; r.padded()]);
            r.apply(&a, &mut ra);
            r.apply(&b, &mut rb);
            let rotated: f64 = ra.iter().zip(&rb).map(|(x, y)| x * y).sum();
            let exact = f64::from(dot_i8(&a, &b));
            assert!((rotated - exact).abs() < 1e-6 * exact.abs().max(1.0), "{dim}: {rotated} vs {exact}");
        }
    }

    #[test]
    fn radii_and_codes_on_a_random_template() {
        let mut rng = TestRng::new(4);
        let mut encoder = Encoder::new(512);
        let mut code = vec![0u8; STAGES * 128];
        let v = codes(&rng.unit(512));
        let levels = encoder.encode(&v, &mut code);
        let coarse = &code[..128];
        let norm = v.iter().map(|&c| f64::from(c).powi(2)).sum::<f64>().sqrt();
        assert!(f64::from(levels.norm) >= norm && f64::from(levels.norm) < norm * 1.000_001);
        let relative: Vec<f64> = levels.stages.iter().map(|l| f64::from(l.radius) / norm).collect();
        // A random direction: about 0.37, 0.11, 0.05.
        for (r, expected) in relative.iter().zip([0.37, 0.11, 0.05]) {
            assert!((r - expected).abs() < 0.2 * expected, "{relative:?}");
        }
        // The highest bit of the code is the sign of the rotated template.
        let mut y = vec![0.0; 512];
        encoder.rotation().apply(&v, &mut y);
        for (i, &c) in y.iter().enumerate() {
            let high = (coarse[(i / 256) * 64 + i % 64] >> (2 * ((i / 64) % 4))) & 3;
            assert_eq!(high >= 2, c >= 0.0, "coordinate {i}");
        }
    }

    #[test]
    fn bounds_hold_for_mates_opposites_and_extremes() {
        let mut rng = TestRng::new(5);
        let dim = 512;
        let base = rng.unit(dim);
        let mut templates: Vec<Vec<i8>> = vec![codes(&base), codes(&base).iter().map(|&c| -c).collect()];
        // Mates at decreasing similarity, a spike, constant and zero vectors.
        for noise in [0.05f32, 0.2, 0.5, 1.0] {
            let n = rng.unit(dim);
            templates.push(codes(&base.iter().zip(&n).map(|(a, b)| a + noise * b).collect::<Vec<_>>()));
        }
        let mut spike = vec![0i8; dim];
        spike[7] = 127;
        templates.extend([spike, vec![127; dim], vec![-127; dim], vec![0; dim]]);
        let queries = templates.clone();
        check_bounds(dim, &templates, &queries);
    }

    /// `Pᵀ y` (the inverse rotation), for the adversarial queries below.
    fn rotate_back(r: &Rotation, y: &[f64]) -> Vec<f64> {
        let mut v = y.to_vec();
        for signs in r.signs.iter().rev() {
            walsh_hadamard(&mut v);
            for (x, s) in v.iter_mut().zip(signs) {
                *x *= s;
            }
        }
        let norm = 1.0 / (r.padded() as f64).powf(1.5);
        v.iter().map(|x| x * norm).collect()
    }

    /// The worst query for a stage is the one along its reconstruction error: there
    /// Cauchy–Schwarz is an equality, so the bound must still hold, and be nearly attained
    /// (a bound that is valid only because it is loose would not show here).
    #[test]
    fn bounds_hold_and_are_nearly_attained_by_the_worst_queries() {
        let mut rng = TestRng::new(6);
        let dim = 512;
        let mut encoder = Encoder::new(dim);
        let mut code = vec![0u8; STAGES * 128];
        let mut y = vec![0.0; dim];
        let mut worst_gap = 0.0f64;
        for _ in 0..20 {
            let t = codes(&rng.unit(dim));
            let levels = encoder.encode(&t, &mut code);
            let stages: Vec<&[u8]> = code.chunks_exact(128).collect();
            encoder.rotation().apply(&t, &mut y);
            let k: Vec<u8> = (0..dim)
                .map(|i| {
                    let at = (i / 256) * 64 + i % 64;
                    let shift = 2 * ((i / 64) % 4);
                    stages.iter().fold(0u8, |acc, s| (acc << 2) | ((s[at] >> shift) & 3))
                })
                .collect();
            for (stage, bits) in STAGE_BITS.into_iter().enumerate() {
                // The error of this stage's reconstruction, rotated back: the adversary.
                let scale = f64::from(levels.stages[stage].scale);
                let error: Vec<f64> = y
                    .iter()
                    .zip(&k)
                    .map(|(v, &k)| v - scale * (f64::from(k >> (CODE_BITS - bits)) - centre(bits)))
                    .collect();
                let q: Vec<f32> = rotate_back(encoder.rotation(), &error).iter().map(|&v| v as f32).collect();
                let q = codes(&q);
                let exact = i64::from(dot_i8(&q, &t));
                let bound = QueryBound::new(encoder.rotation(), &q);
                let mut prefix = 0;
                for packed in &stages[..=stage] {
                    prefix = 4 * prefix + bound.run(|| bound.stage_dot(packed));
                }
                let u = bound.bound(stage, prefix, &levels);
                assert!(u >= exact, "stage {stage}: bound {u} below the exact dot {exact}");
                let scale_of = dot_i8(&q, &q) as f64 * dot_i8(&t, &t) as f64;
                let gap = (u - exact) as f64 / scale_of.sqrt();
                // The exact dot is the stage's whole error (0.37, 0.11, 0.05 of the norms); the
                // bound exceeds it by the term of the rotated query's int8 error, which is
                // largest for such spiky queries (measured: 0.011–0.017, 0.011–0.029 and
                // 0.023–0.045 of ‖cq‖‖cx‖ by stage).
                assert!(exact as f64 / scale_of.sqrt() > 0.03, "stage {stage}: the adversary is weak");
                worst_gap = worst_gap.max(gap);
            }
        }
        assert!(worst_gap < 0.05, "the bound is loose by {worst_gap} of ‖cq‖‖cx‖ on the worst queries");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any int8 codes, any dimension: the bound of both stages is never below the exact dot.
        #[test]
        fn bounds_never_fall_below_the_exact_dot(
            dim in 1usize..600,
            seed in any::<u64>(),
            spread in 0u32..4,
        ) {
            let mut rng = TestRng::new(seed);
            let mut draw = || -> Vec<i8> {
                (0..dim)
                    .map(|_| match spread {
                        0 => (rng.below(255) as i64 - 127) as i8,
                        1 => (rng.below(7) as i64 - 3) as i8,
                        2 => if rng.below(20) == 0 { 127 } else { 0 },
                        _ => (rng.below(2) as i8) * 127 - 63,
                    })
                    .collect()
            };
            let templates: Vec<Vec<i8>> = (0..6).map(|_| draw()).collect();
            let mut queries: Vec<Vec<i8>> = (0..3).map(|_| draw()).collect();
            // A query equal to a template: the largest dot there is.
            queries.push(templates[0].clone());
            check_bounds(dim, &templates, &queries);
        }
    }
}
