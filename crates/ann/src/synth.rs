//! Synthetic "face-like" templates for benchmarks and tests, and `.npy` files to share them
//! with the Python peers.
//!
//! Random unit vectors are the adversarial case for an ANN index (every point is about as far
//! from every other) and are not what face templates look like. Templates of a face model have
//! identity structure and a lower effective dimension: on LFW with the w600k MobileFaceNet,
//! two photos of one person score 0.61 on average and two people 0.006 ± 0.066, a spread wider
//! than the ± 0.044 of random 512-d directions. [`FaceLike`] reproduces both:
//!
//! - identity `i` has a centre `c_i`, a random unit vector;
//! - a template is `normalise(R (c + n))` with noise `n` of expected squared norm `σ²`, so two
//!   templates of one identity score about `1 / (1 + σ²)` (0.6 by default: `σ² = 2/3`);
//! - centre and noise components are drawn with a power-law variance profile (component `j`
//!   has variance ∝ `(j + 1)^-a`), with `a` solved so that two identities score 0 with the
//!   asked standard deviation (0.066 by default): the profile sets the effective dimension
//!   `1 / sd²` (230 for 0.066);
//! - `R` is a fixed random rotation (two rounds of random signs and a Walsh–Hadamard transform),
//!   so that the variance is not aligned with the coordinate axes (which would flatter or hurt
//!   per-vector int8 quantisation).
//!
//! Everything is a pure function of the seed, the identity and the draw number; 1,000,000 ×
//! 512 templates take a few seconds on two cores.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Default number of templates per identity in a database (`N / 5` identities).
pub const PER_IDENTITY: u64 = 5;

/// Generator of face-like templates (see the module documentation).
#[derive(Debug, Clone)]
pub struct FaceLike {
    dim: usize,
    seed: u64,
    per_identity: u64,
    /// Standard deviation of each raw component of a uniform draw (`sqrt(3 × variance)`), with
    /// variances summing to 1.
    amplitude: Vec<f32>,
    noise: f32,
    signs: [Vec<f32>; 2],
    exponent: f64,
}

/// Splitmix64 finaliser: derives independent stream seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// wyrand: a fast 64-bit generator, good enough for synthetic data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(mix(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xA076_1D64_78BD_642F);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xE703_7ED1_A0B4_28DB);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is negligible for the sizes used here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[0, 1)`.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Fills `out[j]` with a uniform in `[-amp[j], amp[j])`, two draws per 64 bits.
    fn fill_scaled(&mut self, out: &mut [f32], amp: &[f32]) {
        const K: f32 = 1.0 / (1u64 << 31) as f32;
        let mut pairs = out.chunks_exact_mut(2).zip(amp.chunks_exact(2));
        for (o, a) in &mut pairs {
            let x = self.next_u64();
            o[0] = (x as u32 as i32) as f32 * K * a[0];
            o[1] = ((x >> 32) as u32 as i32) as f32 * K * a[1];
        }
        if out.len() % 2 == 1 {
            let last = out.len() - 1;
            out[last] = (self.next_u64() as u32 as i32) as f32 * K * amp[last];
        }
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// In-place unnormalised fast Walsh–Hadamard transform (`v.len()` a power of two).
fn fwht(v: &mut [f32]) {
    let n = v.len();
    let mut h = 1;
    while h < n {
        for block in v.chunks_exact_mut(2 * h) {
            let (a, b) = block.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (s, d) = (*x + *y, *x - *y);
                *x = s;
                *y = d;
            }
        }
        h *= 2;
    }
}

/// Standard deviation of the dot product of two independent draws with variance profile
/// `(j + 1)^-a` normalised to sum 1: `sqrt(Σ w²)`.
fn impostor_sd(dim: usize, a: f64) -> f64 {
    let w: Vec<f64> = (0..dim).map(|j| ((j + 1) as f64).powf(-a)).collect();
    let sum: f64 = w.iter().sum();
    (w.iter().map(|x| (x / sum) * (x / sum)).sum::<f64>()).sqrt()
}

impl FaceLike {
    /// A generator of `dim`-dimensional templates (`dim` a power of two, at least 2) with the
    /// LFW-like defaults: genuine cosine 0.6, impostor cosine 0 ± 0.066, 5 templates per
    /// identity.
    ///
    /// # Panics
    /// If `dim` is not a power of two of at least 2.
    pub fn new(dim: usize, seed: u64) -> FaceLike {
        FaceLike::with_params(dim, seed, 0.6, 0.066)
    }

    /// A generator with the given mean genuine cosine (in `(0, 1)`) and impostor standard
    /// deviation (raised to `1 / sqrt(dim)`, the isotropic minimum, if below it).
    ///
    /// # Panics
    /// If `dim` is not a power of two of at least 2, or `genuine` is not in `(0, 1)`.
    pub fn with_params(dim: usize, seed: u64, genuine: f32, impostor: f32) -> FaceLike {
        assert!(dim >= 2 && dim.is_power_of_two(), "FaceLike: dimension {dim} is not a power of two");
        assert!(genuine > 0.0 && genuine < 1.0, "FaceLike: genuine cosine {genuine} not in (0, 1)");
        // Solve the profile exponent by bisection (the spread grows with it).
        let target = f64::from(impostor);
        let (mut lo, mut hi) = (0.0f64, 4.0f64);
        if impostor_sd(dim, lo) >= target {
            hi = 0.0;
        } else {
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                if impostor_sd(dim, mid) < target {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
        }
        let exponent = hi;
        let w: Vec<f64> = (0..dim).map(|j| ((j + 1) as f64).powf(-exponent)).collect();
        let sum: f64 = w.iter().sum();
        // A uniform in [-a, a) has variance a²/3.
        let amplitude = w.iter().map(|x| (3.0 * x / sum).sqrt() as f32).collect();
        let noise = (1.0 / genuine - 1.0).sqrt();
        let mut rng = Rng::new(seed ^ 0x5157_4E53);
        let mut signs = [vec![0f32; dim], vec![0f32; dim]];
        for s in signs.iter_mut().flat_map(|s| s.iter_mut()) {
            *s = if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
        }
        FaceLike { dim, seed, per_identity: PER_IDENTITY, amplitude, noise, signs, exponent }
    }

    /// Sets the number of templates per identity in [`database`](Self::database) (at least 1).
    pub fn per_identity(mut self, per_identity: u64) -> FaceLike {
        self.per_identity = per_identity.max(1);
        self
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The solved power-law exponent of the variance profile.
    pub fn exponent(&self) -> f64 {
        self.exponent
    }

    /// Identity of database template `id`.
    pub fn identity_of(&self, id: u64) -> u64 {
        id / self.per_identity
    }

    /// Number of identities in a database of `n` templates.
    pub fn identities(&self, n: u64) -> u64 {
        n.div_ceil(self.per_identity)
    }

    /// The raw (unrotated) unit centre of `identity`.
    fn centre_raw(&self, identity: u64, out: &mut [f32]) {
        Rng::new(self.seed ^ mix(identity ^ 0xC3A7_0000_0000_0000)).fill_scaled(out, &self.amplitude);
        normalise(out);
    }

    /// Template from a raw centre and a draw number, rotated and normalised.
    fn template_near(&self, centre: &[f32], draw: u64, out: &mut [f32]) {
        Rng::new(self.seed.rotate_left(29) ^ mix(draw)).fill_scaled(out, &self.amplitude);
        for (o, c) in out.iter_mut().zip(centre) {
            *o = c + self.noise * *o;
        }
        self.rotate(out);
        normalise(out);
    }

    /// The fixed random rotation `H D2 H D1 / dim`.
    fn rotate(&self, v: &mut [f32]) {
        for (x, s) in v.iter_mut().zip(&self.signs[0]) {
            *x *= s;
        }
        fwht(v);
        for (x, s) in v.iter_mut().zip(&self.signs[1]) {
            *x *= s;
        }
        fwht(v);
        let k = 1.0 / self.dim as f32;
        v.iter_mut().for_each(|x| *x *= k);
    }

    /// The template of `identity` with noise drawn from `draw` (each pair gives a different
    /// photo of the same person).
    ///
    /// # Panics
    /// If `out.len() != dim`.
    pub fn template(&self, identity: u64, draw: u64, out: &mut [f32]) {
        assert_eq!(out.len(), self.dim, "FaceLike::template: wrong output length");
        let mut c = vec![0f32; self.dim];
        self.centre_raw(identity, &mut c);
        self.template_near(&c, draw, out);
    }

    /// Database templates `first..first + count` in id order (template `id` belongs to
    /// [`identity_of(id)`](Self::identity_of), draw `id`), row-major, on `threads` threads.
    pub fn database(&self, first: u64, count: usize, threads: usize) -> Vec<f32> {
        let dim = self.dim;
        let mut out = vec![0f32; count * dim];
        let per = count.div_ceil(threads.max(1)).max(1);
        std::thread::scope(|s| {
            for (t, part) in out.chunks_mut(per * dim).enumerate() {
                s.spawn(move || {
                    let mut centre = vec![0f32; dim];
                    let mut current = None;
                    for (j, v) in part.chunks_exact_mut(dim).enumerate() {
                        let id = first + (t * per + j) as u64;
                        let identity = self.identity_of(id);
                        if current != Some(identity) {
                            self.centre_raw(identity, &mut centre);
                            current = Some(identity);
                        }
                        self.template_near(&centre, id, v);
                    }
                });
            }
        });
        out
    }

    /// `count` probes for a database of `n` templates: fresh templates (draws that no database
    /// template uses) of identities picked at random. Returns the identities and the vectors,
    /// row-major.
    pub fn probes(&self, n: u64, count: usize, seed: u64) -> (Vec<u64>, Vec<f32>) {
        let mut rng = Rng::new(seed ^ 0x0051_0E55);
        let identities = self.identities(n).max(1);
        let mut who = Vec::with_capacity(count);
        let mut out = vec![0f32; count * self.dim];
        for (i, v) in out.chunks_exact_mut(self.dim).enumerate() {
            let identity = rng.below(identities);
            self.template(identity, (1u64 << 63) | mix(seed) << 20 | i as u64, v);
            who.push(identity);
        }
        (who, out)
    }
}

/// Writes a row-major `rows × cols` float32 matrix as a `.npy` file (format 1.0, little-endian
/// `<f4`, C order), readable by `numpy.load`.
///
/// # Panics
/// If `data.len() != rows * cols`.
pub fn write_npy(path: &Path, rows: usize, cols: usize, data: &[f32]) -> std::io::Result<()> {
    let file = write_npy_to(fs_err::File::create(path)?, rows, cols, data)?;
    file.sync_all()
}

/// Writes the `.npy` file of [`write_npy`] to `out` (a file the caller opened, e.g. private) and
/// gives it back.
///
/// # Panics
/// If `data.len() != rows * cols`.
pub fn write_npy_to<W: Write>(out: W, rows: usize, cols: usize, data: &[f32]) -> std::io::Result<W> {
    assert_eq!(data.len(), rows * cols, "write_npy: data length");
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64,
    // ending with a newline.
    let total = (10 + header.len() + 1).div_ceil(64) * 64;
    while 10 + header.len() + 1 < total {
        header.push(' ');
    }
    header.push('\n');
    let len = u16::try_from(header.len()).map_err(|_| std::io::Error::other("npy header too long"))?;
    let mut w = BufWriter::with_capacity(1 << 20, out);
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    let mut buf = Vec::with_capacity(1 << 16);
    for chunk in data.chunks(1 << 14) {
        buf.clear();
        buf.extend(chunk.iter().flat_map(|x| x.to_le_bytes()));
        w.write_all(&buf)?;
    }
    w.flush()?;
    w.into_inner().map_err(|e| e.into_error())
}

/// Reads a 2-D float32 `.npy` file (little-endian `<f4`, C order, format 1.x or 2.x): returns
/// `(rows, cols, data)`.
pub fn read_npy(path: &Path) -> std::io::Result<(usize, usize, Vec<f32>)> {
    let mut r = BufReader::with_capacity(1 << 20, fs_err::File::open(path)?);
    let (rows, cols, _) = read_npy_header(&mut r, path)?;
    let mut bytes = vec![0u8; rows * cols * 4];
    r.read_exact(&mut bytes)?;
    let data = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok((rows, cols, data))
}

/// Reads the header of a 2-D float32 `.npy` file from its start (`path` names it in errors):
/// returns `(rows, cols, offset of the data)`, the reader left at the data.
pub fn read_npy_header(r: &mut impl Read, path: &Path) -> std::io::Result<(usize, usize, u64)> {
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {why}", path.display()));
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file"));
    }
    let (header_len, prefix) = if magic[6] == 1 {
        let mut l = [0u8; 2];
        r.read_exact(&mut l)?;
        (usize::from(u16::from_le_bytes(l)), 10)
    } else {
        let mut l = [0u8; 4];
        r.read_exact(&mut l)?;
        (u32::from_le_bytes(l) as usize, 12)
    };
    let mut header = vec![0u8; header_len];
    r.read_exact(&mut header)?;
    let header = String::from_utf8_lossy(&header).replace(' ', "");
    if !header.contains("'descr':'<f4'") {
        return Err(bad("only little-endian float32 ('<f4') is supported"));
    }
    if !header.contains("'fortran_order':False") {
        return Err(bad("only C order is supported"));
    }
    let shape = header
        .split("'shape':(")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape in the header"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad("bad shape")))
        .collect::<Result<_, _>>()?;
    let [rows, cols] = dims[..] else {
        return Err(bad("not a 2-D array"));
    };
    Ok((rows, cols, (prefix + header_len) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn mean_sd(v: &[f32]) -> (f32, f32) {
        let m = v.iter().sum::<f32>() / v.len() as f32;
        (m, (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len() as f32).sqrt())
    }

    #[test]
    fn rotation_preserves_norms() {
        let g = FaceLike::new(64, 1);
        let mut v: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
        let before = dot(&v, &v);
        g.rotate(&mut v);
        assert!((dot(&v, &v) - before).abs() < 1e-4 * before);
    }

    #[test]
    fn genuine_and_impostor_statistics_match_lfw() {
        let g = FaceLike::new(512, 7);
        let db = g.database(0, 2000, 2);
        let rows: Vec<&[f32]> = db.chunks_exact(512).collect();
        assert!(rows.iter().all(|r| (dot(r, r) - 1.0).abs() < 1e-4), "unit length");
        let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
        for i in 0..rows.len() {
            for j in i + 1..rows.len().min(i + 40) {
                let c = dot(rows[i], rows[j]);
                if g.identity_of(i as u64) == g.identity_of(j as u64) { genuine.push(c) } else { impostor.push(c) }
            }
        }
        let (gm, _) = mean_sd(&genuine);
        let (im, isd) = mean_sd(&impostor);
        assert!((gm - 0.6).abs() < 0.02, "genuine mean {gm}");
        assert!(im.abs() < 0.01, "impostor mean {im}");
        assert!((isd - 0.066).abs() < 0.006, "impostor sd {isd}");
        // Probes are new photos of existing identities.
        let (who, probes) = g.probes(2000, 50, 3);
        for (identity, p) in who.iter().zip(probes.chunks_exact(512)) {
            let own = rows[(*identity * PER_IDENTITY) as usize];
            assert!(dot(p, own) > 0.4, "probe of identity {identity}");
            assert!(rows.iter().all(|r| dot(p, r) < 0.99), "probe is not a database vector");
        }
    }

    #[test]
    fn deterministic_and_chunking_independent() {
        let g = FaceLike::new(128, 9);
        let all = g.database(0, 100, 1);
        let split = g.database(0, 100, 3);
        assert_eq!(all, split);
        assert_eq!(&g.database(40, 10, 2)[..], &all[40 * 128..50 * 128]);
        let mut one = vec![0f32; 128];
        g.template(g.identity_of(42), 42, &mut one);
        assert_eq!(&one[..], &all[42 * 128..43 * 128]);
    }

    #[test]
    fn npy_round_trip_and_header_alignment() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("m.npy");
        let data: Vec<f32> = (0..21).map(|i| i as f32 * 0.5 - 3.0).collect();
        write_npy(&path, 7, 3, &data).unwrap();
        let bytes = fs_err::read(&path).unwrap();
        let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        assert_eq!((10 + header_len) % 64, 0);
        assert_eq!(bytes[10 + header_len - 1], b'\n');
        assert_eq!(bytes.len(), 10 + header_len + 21 * 4);
        assert_eq!(read_npy(&path).unwrap(), (7, 3, data));
    }
}
