//! Encryption at rest of biometric templates, by envelope encryption.
//!
//! What it is:
//! - a **key-encryption key** ([`Kek`], 256 bits) kept *outside* the data
//!   directory: a file readable only by its owner (raw 32 bytes or 64 hex
//!   digits; group/other access is refused) or an environment variable (hex);
//! - a **data key** ([`DataKey`], 256 bits from the OS random generator) that
//!   seals records with AES-256-GCM: fresh random 96-bit nonce per record,
//!   sealed form `nonce (12) || ciphertext || tag (16)`, with associated data
//!   (the record id) binding each ciphertext to its slot. A vector-index
//!   record of [`TEMPLATE_RECORD_LEN`] = 516 bytes seals to
//!   [`SEALED_TEMPLATE_RECORD_LEN`] = 544;
//! - a **keyring** file ([`Keyring`], small JSON in the data directory) that
//!   stores the data key only wrapped under the KEK, names the expected KEK
//!   by id (so a wrong KEK is reported as [`Error::WrongKey`]), and supports
//!   KEK rotation by atomic re-wrapping, without re-encrypting records.
//!
//! Key bytes are zeroized on drop, never `Debug`-formatted, and never
//! included in error messages; the AES key schedules ring derives from them
//! (for the data key, and briefly for the KEK while it wraps or unwraps) are
//! not zeroized by ring when dropped.
//!
//! What it is not:
//! - not protection of data *in use*: a running process that opened the
//!   keyring holds the data key and decrypted templates in memory, and
//!   anyone who can read its memory or who holds both the KEK and the data
//!   directory can decrypt;
//! - not a key-management service or HSM client: storing, backing up and
//!   revoking the KEK is the operator's job (lose it and the records are
//!   gone);
//! - not anonymisation or template protection in the biometric sense
//!   (cancelable templates): decrypted templates are ordinary templates;
//! - not a hiding of sizes, counts or access patterns: record lengths and
//!   the number of records stay visible.

mod datakey;
mod error;
mod fsutil;
mod kek;
mod keyring;

#[cfg(test)]
mod tests;

pub use datakey::{DataKey, MacKey};
pub use error::{Error, Result};
pub use kek::Kek;
pub use keyring::{KEYRING_VERSION, Keyring, KeyringInfo};

use zeroize::Zeroizing;

/// Length of every key (KEK and data key): 256 bits.
pub const KEY_LEN: usize = 32;
/// Length of the random AES-GCM nonce prefixed to each sealed record.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM authentication tag appended to each sealed record.
pub const TAG_LEN: usize = 16;
/// Bytes added by sealing: nonce + tag.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// One vector-index record in clear: 512 int8 components + a 4-byte scale.
pub const TEMPLATE_RECORD_LEN: usize = 512 + 4;
/// One vector-index record sealed: 12 + 516 + 16 = 544 bytes.
pub const SEALED_TEMPLATE_RECORD_LEN: usize = sealed_len(TEMPLATE_RECORD_LEN);

/// Length of the sealed form of a `plaintext_len`-byte record.
#[must_use]
pub const fn sealed_len(plaintext_len: usize) -> usize {
    plaintext_len + SEAL_OVERHEAD
}

/// A 256-bit secret on the heap (moves do not copy it), zeroized on drop.
pub(crate) type SecretKey = Box<Zeroizing<[u8; KEY_LEN]>>;

pub(crate) fn new_secret() -> SecretKey {
    Box::new(Zeroizing::new([0u8; KEY_LEN]))
}

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(Error::Rng)
}
