//! A secret orthogonal rotation of templates, derived from a key: how a vector database that
//! must see vectors to index them (PostgreSQL with pgvector) stores templates that are not the
//! model's.
//!
//! The matrix is Haar-distributed (uniform over the orthogonal group): the Q factor of the QR
//! decomposition of a matrix of independent standard normals, with the signs of R's diagonal
//! moved into Q (Mezzadri, "How to generate random matrices from the classical compact groups",
//! 2007). The normals come from the 32-byte seed alone — SHA-256 in counter mode, then
//! Box–Muller in `f64` — so one seed gives the same matrix on every machine and in every
//! release (a library generator could change its algorithm and silently break stored indexes).
//!
//! Inner products are unchanged (`⟨Rq, Rx⟩ = ⟨q, x⟩`, within `f64` rounding then `f32`
//! storage: about 1e-7), so a search over rotated templates with rotated queries is exact. What
//! it protects against, and what it does not, is written in `crates/catalog/README.md`: stored
//! vectors are unlinkable to another deployment's and to the model's own output, and renewable
//! by re-rotation; but a rotation is linear, so anyone who holds both the stored vectors of
//! about `dim` templates and those templates (for example by running the public model on known
//! photos of the gallery) can solve for it. It is not encryption; the sealed template is.

use nalgebra::DMatrix;
use sha2::{Digest, Sha256};

/// A secret orthogonal `dim × dim` matrix.
#[derive(Clone)]
pub struct SecretRotation {
    dim: usize,
    /// Row-major.
    rows: Vec<f64>,
    /// SHA-256 of the seed under a label: identifies the rotation without revealing it.
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for SecretRotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRotation").field("dim", &self.dim).finish_non_exhaustive()
    }
}

/// Standard normals from the seed: SHA-256(label, seed, block counter) gives four 64-bit words
/// per block, each a uniform in (0, 1); pairs of uniforms give two normals (Box–Muller).
struct Normals<'a> {
    seed: &'a [u8; 32],
    block: u64,
    words: Vec<u64>,
    spare: Option<f64>,
}

impl Normals<'_> {
    fn uniform(&mut self) -> f64 {
        if self.words.is_empty() {
            let digest = Sha256::new()
                .chain_update(b"gabarit/secret-rotation/normals/v1")
                .chain_update(self.seed)
                .chain_update(self.block.to_le_bytes())
                .finalize();
            self.block += 1;
            self.words = digest.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect();
        }
        let word = self.words.pop().unwrap_or(0);
        // 53 random bits, shifted off zero: strictly inside (0, 1).
        ((word >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let angle = std::f64::consts::TAU * v;
        self.spare = Some(r * angle.sin());
        r * angle.cos()
    }
}

impl SecretRotation {
    /// The rotation of `dim`-component vectors that `seed` determines.
    pub fn new(seed: &[u8; 32], dim: usize) -> SecretRotation {
        let mut normals = Normals { seed, block: 0, words: Vec::new(), spare: None };
        let gaussian = DMatrix::from_fn(dim, dim, |_, _| normals.next());
        let qr = gaussian.qr();
        let (mut q, r) = (qr.q(), qr.r());
        for j in 0..dim {
            if r[(j, j)] < 0.0 {
                q.column_mut(j).neg_mut();
            }
        }
        let rows = (0..dim).flat_map(|i| (0..dim).map(move |j| (i, j))).map(|(i, j)| q[(i, j)]).collect();
        let fingerprint = Sha256::new()
            .chain_update(b"gabarit/secret-rotation/fingerprint/v1")
            .chain_update(seed)
            .chain_update((dim as u64).to_le_bytes())
            .finalize()
            .into();
        SecretRotation { dim, rows, fingerprint }
    }

    /// The dimension it rotates.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Identifies the rotation (seed and dimension) without revealing it: stored beside the
    /// rotated vectors, so that opening them with another key is refused instead of searching
    /// garbage.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// `R·v` in `f32` (`v` must have [`dim`](Self::dim) components; extra ones are ignored,
    /// missing ones count as zero).
    pub fn apply(&self, v: &[f32]) -> Vec<f32> {
        self.rows
            .chunks_exact(self.dim.max(1))
            .map(|row| row.iter().zip(v).map(|(r, &x)| r * f64::from(x)).sum::<f64>() as f32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestRng, cosine};

    #[test]
    fn orthogonal_deterministic_and_seed_dependent() {
        let dim = 64;
        let a = SecretRotation::new(&[7; 32], dim);
        let b = SecretRotation::new(&[7; 32], dim);
        let c = SecretRotation::new(&[8; 32], dim);
        assert_eq!(a.rows, b.rows, "same seed, same matrix");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_ne!(a.fingerprint(), SecretRotation::new(&[7; 32], 32).fingerprint(), "dimension is in the fingerprint");
        let differing = a.rows.iter().zip(&c.rows).filter(|(x, y)| (*x - *y).abs() > 1e-3).count();
        assert!(differing > dim * dim * 9 / 10, "another seed gives another matrix ({differing} entries differ)");
        // RᵀR = I.
        for i in 0..dim {
            for j in 0..dim {
                let dot: f64 = (0..dim).map(|k| a.rows[k * dim + i] * a.rows[k * dim + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "column {i}·{j} = {dot}");
            }
        }
        // Haar, not the identity in disguise: entries spread like N(0, 1/dim).
        let mean_square = a.rows.iter().map(|x| x * x).sum::<f64>() / (dim * dim) as f64;
        assert!((mean_square - 1.0 / dim as f64).abs() < 1e-12);
        let largest = a.rows.iter().fold(0f64, |m, x| m.max(x.abs()));
        assert!(largest < 0.6, "largest entry {largest}");
    }

    #[test]
    fn inner_products_are_kept_and_vectors_are_not() {
        let rotation = SecretRotation::new(&[42; 32], 512);
        let mut rng = TestRng::new(3);
        for _ in 0..20 {
            let (q, x) = (rng.unit(512), rng.unit(512));
            let (rq, rx) = (rotation.apply(&q), rotation.apply(&x));
            assert!((cosine(&rq, &rx) - cosine(&q, &x)).abs() < 1e-6);
            assert!(
                (cosine(&rx, &rx) - cosine(&x, &x)).abs() < 1e-6,
                "norm kept: {} vs {}",
                cosine(&rx, &rx),
                cosine(&x, &x)
            );
            assert!(cosine(&rx, &x).abs() < 0.3, "the stored vector is not the template: {}", cosine(&rx, &x));
        }
    }
}
