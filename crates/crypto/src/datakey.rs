//! The data key (DEK) and record sealing with AES-256-GCM.

use std::fmt;

use hmac::{Hmac, Mac};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::{
    KEY_LEN, NONCE_LEN, SEAL_OVERHEAD, SEALED_TEMPLATE_RECORD_LEN, TAG_LEN, TEMPLATE_RECORD_LEN, random_bytes,
    sealed_len,
};

/// The 256-bit data-encryption key (DEK) that seals records.
///
/// Obtained from [`crate::Keyring::create`] or [`crate::Keyring::open`]; it
/// exists in clear only in memory and is never formatted (`Debug` is redacted).
/// AES-256-GCM is ring's (VAES and carry-less multiplication where the CPU has them): its key
/// schedule, unlike the key bytes this crate handles, is not zeroized when the key is dropped
/// (ring does not offer it) — the price of opening sealed records three times as fast as the
/// zeroizing RustCrypto implementation, on a key a running process holds for its whole life.
///
/// Each [`seal`](Self::seal) draws a fresh random 96-bit nonce from the OS;
/// the sealed form is `nonce (12) || ciphertext (len) || tag (16)`. With
/// random nonces NIST SP 800-38D bounds one key to 2^32 seals (counting
/// re-seals of updated records): ample for a face index, but a deployment
/// approaching it must re-key (new keyring, re-encrypt).
///
/// `DataKey` is `Send + Sync`: share one `&DataKey` between threads.
pub struct DataKey {
    cipher: LessSafeKey,
    /// Seed of the keys derived for other uses than sealing ([`DataKey::derive`]).
    derivation: Zeroizing<[u8; KEY_LEN]>,
}

/// `HMAC-SHA256(key, parts…)`, each part prefixed by its length (no two part lists give the
/// same input).
fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(&(p.len() as u64).to_le_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

impl DataKey {
    pub(crate) fn from_bytes(key: &[u8; KEY_LEN]) -> Self {
        let derivation = Zeroizing::new(hmac(key, &[b"gabarit/derivation/v1"]));
        // A 32-byte key is what AES-256 takes: `new` cannot fail.
        let cipher = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap_or_else(|_| unreachable!()));
        Self { cipher, derivation }
    }

    /// A 256-bit key for another use (authenticating the audit chain, catalog rows),
    /// derived from the data key under `label` (HMAC-SHA256): independent of the sealing key
    /// and of other labels' keys, and, like the data key, only obtainable with the KEK.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(hmac(&self.derivation[..], &[label.as_bytes()]))
    }

    /// A key authenticating records (HMAC-SHA256), derived under `label`.
    pub fn mac_key(&self, label: &str) -> MacKey {
        MacKey(self.derive(label))
    }

    /// Encrypts and authenticates `plaintext`, binding it to `aad`
    /// (associated data, authenticated but not encrypted nor stored: pass
    /// the record id so that a ciphertext cannot be moved to another
    /// record). Returns `nonce || ciphertext || tag`,
    /// [`sealed_len`]`(plaintext.len())` bytes.
    ///
    /// # Errors
    /// [`Error::Rng`] if the OS random generator fails; [`Error::TooLong`]
    /// beyond AES-GCM's ~64 GiB limit.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut out = vec![0u8; sealed_len(plaintext.len())];
        self.seal_into(plaintext, aad, &mut out)?;
        Ok(out)
    }

    /// Like [`seal`](Self::seal), writing into `out`, which must be exactly
    /// [`sealed_len`]`(plaintext.len())` bytes (no allocation).
    ///
    /// # Errors
    /// [`Error::BufferLength`], [`Error::Rng`], [`Error::TooLong`].
    pub fn seal_into(&self, plaintext: &[u8], aad: &[u8], out: &mut [u8]) -> Result<()> {
        let expected = sealed_len(plaintext.len());
        if out.len() != expected {
            return Err(Error::BufferLength { expected, actual: out.len() });
        }
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let (nonce_out, rest) = out.split_at_mut(NONCE_LEN);
        let (body, tag_out) = rest.split_at_mut(plaintext.len());
        nonce_out.copy_from_slice(&nonce);
        body.copy_from_slice(plaintext);
        match self.cipher.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), body) {
            Ok(tag) => {
                tag_out.copy_from_slice(tag.as_ref());
                Ok(())
            }
            Err(_) => {
                out.fill(0);
                Err(Error::TooLong)
            }
        }
    }

    /// Verifies and decrypts a sealed record produced with the same `aad`.
    ///
    /// # Errors
    /// [`Error::SealedTooShort`] for input shorter than 28 bytes,
    /// [`Error::Authentication`] if it was altered, sealed with other
    /// associated data, or sealed under another data key. Never panics.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let len = opened_len(sealed.len())?;
        let mut out = vec![0u8; len];
        self.open_into(sealed, aad, &mut out)?;
        Ok(out)
    }

    /// Like [`open`](Self::open), writing the plaintext into `out`, which
    /// must be exactly `sealed.len() - 28` bytes. On failure `out` is zeroed.
    ///
    /// # Errors
    /// [`Error::SealedTooShort`], [`Error::BufferLength`],
    /// [`Error::Authentication`].
    pub fn open_into(&self, sealed: &[u8], aad: &[u8], out: &mut [u8]) -> Result<()> {
        let expected = opened_len(sealed.len())?;
        if out.len() != expected {
            return Err(Error::BufferLength { expected, actual: out.len() });
        }
        let too_short = || Error::SealedTooShort { len: sealed.len(), min: SEAL_OVERHEAD };
        let (nonce, rest) = sealed.split_first_chunk::<NONCE_LEN>().ok_or_else(too_short)?;
        let (body, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or_else(too_short)?;
        out.copy_from_slice(body);
        let opened = self.cipher.open_in_place_separate_tag(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            Tag::from(*tag),
            out,
            0..,
        );
        if opened.is_err() {
            out.fill(0);
            return Err(Error::Authentication);
        }
        Ok(())
    }

    /// Seals one vector-index record (512 int8 components + 4-byte scale,
    /// [`TEMPLATE_RECORD_LEN`] bytes) into a fixed
    /// [`SEALED_TEMPLATE_RECORD_LEN`]-byte (544) slot.
    ///
    /// # Errors
    /// [`Error::Rng`].
    pub fn seal_template(
        &self,
        record: &[u8; TEMPLATE_RECORD_LEN],
        aad: &[u8],
    ) -> Result<[u8; SEALED_TEMPLATE_RECORD_LEN]> {
        let mut out = [0u8; SEALED_TEMPLATE_RECORD_LEN];
        self.seal_into(record, aad, &mut out)?;
        Ok(out)
    }

    /// Opens a fixed-size slot written by [`seal_template`](Self::seal_template).
    ///
    /// # Errors
    /// [`Error::Authentication`].
    pub fn open_template(
        &self,
        sealed: &[u8; SEALED_TEMPLATE_RECORD_LEN],
        aad: &[u8],
    ) -> Result<[u8; TEMPLATE_RECORD_LEN]> {
        let mut out = [0u8; TEMPLATE_RECORD_LEN];
        self.open_into(sealed, aad, &mut out)?;
        Ok(out)
    }
}

/// A key authenticating records with HMAC-SHA256 (see [`DataKey::mac_key`]).
pub struct MacKey(Zeroizing<[u8; KEY_LEN]>);

impl MacKey {
    /// The code of `parts` (each length-prefixed), in hex.
    pub fn tag(&self, parts: &[&[u8]]) -> String {
        hex::encode(hmac(&self.0[..], parts))
    }

    /// Whether `tag` is the code of `parts` (compared in constant time).
    pub fn check(&self, parts: &[&[u8]], tag: &str) -> bool {
        let expected = self.tag(parts);
        expected.len() == tag.len() && expected.bytes().zip(tag.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

/// Plaintext length of a sealed record of `sealed_len` bytes.
fn opened_len(sealed_len: usize) -> Result<usize> {
    sealed_len.checked_sub(SEAL_OVERHEAD).ok_or(Error::SealedTooShort { len: sealed_len, min: SEAL_OVERHEAD })
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey").field("algorithm", &"AES-256-GCM").field("key", &"<redacted>").finish()
    }
}

const _: () = assert!(SEALED_TEMPLATE_RECORD_LEN == NONCE_LEN + TEMPLATE_RECORD_LEN + TAG_LEN);
