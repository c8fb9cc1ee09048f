//! The key-encryption key (KEK): loading, generating, identifying.

use std::fmt;
use std::io::{Read as _, Write as _};
use std::path::Path;

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::{KEY_LEN, SecretKey, new_secret, random_bytes};

/// Largest KEK file we read: 64 hex digits plus generous whitespace.
const MAX_KEK_FILE_LEN: u64 = 256;

/// A 256-bit key-encryption key.
///
/// The KEK never encrypts records: it only wraps the data key stored in the
/// keyring (see [`crate::Keyring`]). It lives outside the data directory (a
/// file readable only by its owner, or an environment variable) so that a
/// copy of the data directory alone cannot be decrypted.
///
/// The key bytes are zeroized on drop and never formatted: `Debug` shows
/// only the [`Kek::id`].
pub struct Kek {
    key: SecretKey,
    id: String,
}

impl Kek {
    /// Wraps 32 raw key bytes (e.g. from an HSM or a secrets manager).
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let mut bytes = bytes;
        let mut key = new_secret();
        key.copy_from_slice(&bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        Self::from_boxed(key)
    }

    fn from_boxed(key: SecretKey) -> Self {
        let id = kek_id(&key);
        Self { key, id }
    }

    /// Draws a fresh KEK from the operating system's random number generator.
    ///
    /// # Errors
    /// [`Error::Rng`] if the OS generator fails.
    pub fn generate() -> Result<Self> {
        let mut key = new_secret();
        random_bytes(&mut key[..])?;
        Ok(Self::from_boxed(key))
    }

    /// Parses 64 hex digits (upper or lower case; surrounding whitespace is
    /// ignored). `origin` only serves error messages.
    fn from_hex_text(text: &[u8], origin: impl FnOnce() -> String) -> Result<Self> {
        let text = text.trim_ascii();
        if text.len() != 2 * KEY_LEN {
            return Err(Error::KekInvalid {
                origin: origin(),
                reason: "expected 64 hex digits (or, in a file, exactly 32 raw bytes)",
            });
        }
        let mut key = new_secret();
        // The hex crate's error would quote the offending character, i.e. a
        // piece of the key: replace it by a fixed message.
        hex::decode_to_slice(text, &mut key[..])
            .map_err(|_| Error::KekInvalid { origin: origin(), reason: "not a hexadecimal string" })?;
        Ok(Self::from_boxed(key))
    }

    /// Loads a KEK from a file holding either exactly 32 raw bytes or 64 hex
    /// digits (optionally followed by a newline).
    ///
    /// On Unix the file must not be accessible to group or others
    /// (`mode & 0o077 == 0`, e.g. `chmod 600`); otherwise it is refused with
    /// [`Error::KekFilePermissions`], before its content is read.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::KekFilePermissions`], [`Error::KekInvalid`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = fs_err::File::open(path)?;
        let meta = file.metadata()?;
        fsutil::check_private_mode(path, &meta)?;
        let origin = || format!("file {}", path.display());
        if !meta.is_file() {
            return Err(Error::KekInvalid { origin: origin(), reason: "not a regular file" });
        }
        if meta.len() > MAX_KEK_FILE_LEN {
            return Err(Error::KekInvalid { origin: origin(), reason: "file too large to be a 32-byte key" });
        }
        // Pre-sized so the buffer never reallocates (which would leave
        // un-zeroized copies of the key in freed memory).
        let cap = usize::try_from(MAX_KEK_FILE_LEN).unwrap_or(256) + 1;
        let mut content = Zeroizing::new(Vec::with_capacity(cap));
        file.take(MAX_KEK_FILE_LEN + 1).read_to_end(&mut content)?;
        if content.len() == KEY_LEN {
            let mut key = new_secret();
            key.copy_from_slice(&content);
            return Ok(Self::from_boxed(key));
        }
        Self::from_hex_text(&content, origin)
    }

    /// Loads a KEK from the environment variable `var`, which must hold 64
    /// hex digits.
    ///
    /// # Errors
    /// [`Error::KekEnvMissing`] if unset, [`Error::KekInvalid`] if malformed.
    pub fn from_env(var: &str) -> Result<Self> {
        Self::from_env_value(var, std::env::var_os(var))
    }

    /// [`Kek::from_env`] on an already-read value (testable without
    /// mutating the process environment, which is `unsafe`).
    pub(crate) fn from_env_value(var: &str, value: Option<std::ffi::OsString>) -> Result<Self> {
        let Some(value) = value else {
            return Err(Error::KekEnvMissing { var: var.to_owned() });
        };
        let value = Zeroizing::new(value.into_encoded_bytes());
        Self::from_hex_text(&value, || format!("environment variable {var}"))
    }

    /// Generates a fresh KEK and writes it, as 64 lower-case hex digits and a
    /// newline, to a new file created with mode `0600`. Refuses to overwrite
    /// an existing file ([`Error::KekFileExists`]). The file and its
    /// directory are fsynced before returning.
    ///
    /// # Errors
    /// [`Error::KekFileExists`], [`Error::Io`], [`Error::Rng`].
    pub fn generate_to_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let kek = Self::generate()?;
        let mut file = match fsutil::create_new_private(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::KekFileExists { path: path.to_owned() });
            }
            Err(e) => return Err(e.into()),
        };
        let mut text = Zeroizing::new([0u8; 2 * KEY_LEN + 1]);
        // Cannot fail: the output is exactly twice the input length.
        hex::encode_to_slice(&kek.key[..], &mut text[..2 * KEY_LEN]).map_err(|_| Error::KekInvalid {
            origin: format!("file {}", path.display()),
            reason: "internal hex encoding error",
        })?;
        text[2 * KEY_LEN] = b'\n';
        file.write_all(&text[..])?;
        file.sync_all()?;
        drop(file);
        fsutil::sync_parent_dir(path)?;
        Ok(kek)
    }

    /// The KEK's identifier: the first 16 hex digits of SHA-256 of its 32
    /// raw bytes. Recorded in the keyring so that a wrong KEK is reported as
    /// such. An operator can recompute it from a hex KEK file with
    /// `xxd -r -p kek.hex | sha256sum | cut -c1-16`.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.key
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek").field("id", &self.id).field("key", &"<redacted>").finish()
    }
}

/// First 16 hex digits of SHA-256 of the key.
fn kek_id(key: &[u8; KEY_LEN]) -> String {
    let digest = Sha256::digest(key);
    hex::encode(&digest[..8])
}
