//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading keys, reading or writing a
/// keyring, or sealing and opening records.
///
/// No variant ever carries key material: messages name files, environment
/// variables and key *identifiers* (a truncated SHA-256), never key bytes or
/// fragments of them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed (the message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// The KEK file can be read by its group or by others.
    #[error(
        "key-encryption key file {path} has mode {mode:04o}: it must not be readable or \
         writable by group or others; run `chmod 600 {path}`"
    )]
    KekFilePermissions {
        /// The KEK file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// `Kek::generate_to_file` refuses to overwrite an existing file.
    #[error("key-encryption key file {path} already exists; refusing to overwrite it")]
    KekFileExists {
        /// The existing file.
        path: PathBuf,
    },

    /// The KEK read from a file or an environment variable is malformed.
    #[error("key-encryption key from {origin} is invalid: {reason}")]
    KekInvalid {
        /// Where it came from: `file /path` or `environment variable NAME`.
        origin: String,
        /// What is wrong (never includes any of the key's characters).
        reason: &'static str,
    },

    /// The environment variable that should hold the KEK is not set.
    #[error("environment variable {var} (key-encryption key, 64 hex digits) is not set")]
    KekEnvMissing {
        /// The variable's name.
        var: String,
    },

    /// The operating system's random number generator failed.
    #[error("operating-system random number generator failed: {0}")]
    Rng(getrandom::Error),

    /// `Keyring::create` refuses to overwrite an existing keyring.
    #[error(
        "keyring {path} already exists; refusing to overwrite it (that would make every \
         record sealed under it unreadable)"
    )]
    KeyringExists {
        /// The existing keyring.
        path: PathBuf,
    },

    /// The keyring file is not valid keyring JSON.
    #[error("keyring {path} is not a valid keyring file: {source}")]
    KeyringParse {
        /// The keyring file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },

    /// The keyring was written by a newer (or unknown) format version.
    #[error("keyring {path} has format version {found}; this build reads version {supported}")]
    KeyringVersion {
        /// The keyring file.
        path: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Version this build understands.
        supported: u32,
    },

    /// The keyring names the right KEK but its wrapped data key does not
    /// authenticate: the file was damaged or tampered with.
    #[error("keyring {path} is corrupt: {reason}")]
    KeyringCorrupt {
        /// The keyring file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },

    /// The KEK given is not the one the keyring's data key is wrapped with.
    #[error(
        "wrong key-encryption key for keyring {path}: it expects the KEK with id {expected}, \
         but the KEK given has id {given}"
    )]
    WrongKey {
        /// The keyring file.
        path: PathBuf,
        /// `kek_id` recorded in the keyring.
        expected: String,
        /// `kek_id` of the KEK that was supplied.
        given: String,
    },

    /// A sealed record is shorter than nonce + tag.
    #[error("sealed record is {len} bytes, shorter than the {min}-byte minimum (nonce + tag)")]
    SealedTooShort {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },

    /// A sealed record failed authentication: it was modified, it is
    /// presented with the wrong associated data (e.g. another record's id),
    /// or it was sealed under another data key.
    #[error(
        "sealed record failed authentication (tampered, wrong record id / associated data, \
         or wrong data key)"
    )]
    Authentication,

    /// An output buffer passed to a `*_into` function has the wrong length.
    #[error("output buffer is {actual} bytes but must be exactly {expected}")]
    BufferLength {
        /// Required length.
        expected: usize,
        /// Length given.
        actual: usize,
    },

    /// Plaintext or associated data exceeds AES-GCM's limits (about 64 GiB).
    #[error("plaintext or associated data too long for AES-GCM")]
    TooLong,
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
