//! The keyring file: the data key, wrapped by the KEK, in the data directory.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::datakey::DataKey;
use crate::error::{Error, Result};
use crate::kek::Kek;
use crate::{KEY_LEN, SecretKey, fsutil, new_secret, random_bytes, sealed_len};

/// Keyring format version written and read by this build.
pub const KEYRING_VERSION: u32 = 1;

/// The only algorithm of format version 1, for both wrapping and records.
const ALGORITHM: &str = "AES-256-GCM";

/// Associated data of the DEK wrapping: a wrapped DEK cannot be confused
/// with (or replaced by) a record sealed under the KEK for another purpose.
const WRAP_LABEL: &[u8] = b"gabarit-crypto/keyring/v1/wrapped-dek";

/// Length of the wrapped DEK: nonce + 32-byte key + tag.
const WRAPPED_LEN: usize = sealed_len(KEY_LEN);

/// The JSON keyring file, as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringFile {
    version: u32,
    algorithm: String,
    kek_id: String,
    wrapped_dek: String,
    created_at: jiff::Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotated_at: Option<jiff::Timestamp>,
}

/// Just the version, read first so that a future format is reported as such
/// rather than as a parse error.
#[derive(Deserialize)]
struct VersionProbe {
    version: u32,
}

/// What a keyring says about itself, readable without any key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringInfo {
    /// Format version ([`KEYRING_VERSION`]).
    pub version: u32,
    /// Id of the KEK the data key is wrapped with (see [`Kek::id`]).
    pub kek_id: String,
    /// When the data key was created.
    pub created_at: jiff::Timestamp,
    /// When the data key was last re-wrapped under a new KEK, if ever.
    pub rotated_at: Option<jiff::Timestamp>,
}

/// Operations on the keyring file (conventionally `keyring.json` in the data
/// directory).
///
/// The file holds the data key only wrapped (AES-256-GCM under the KEK,
/// fixed associated-data label), so copying the data directory without the
/// KEK reveals no template. Format (JSON, mode `0600`):
///
/// ```json
/// {
///   "version": 1,
///   "algorithm": "AES-256-GCM",
///   "kek_id": "<first 16 hex of SHA-256(KEK)>",
///   "wrapped_dek": "<hex of nonce(12) || AES-256-GCM(KEK, DEK)(32) || tag(16)>",
///   "created_at": "<RFC 3339 UTC>",
///   "rotated_at": "<RFC 3339 UTC, present after a rotation>"
/// }
/// ```
#[derive(Debug)]
pub struct Keyring;

impl Keyring {
    /// Creates a keyring at `path` with a fresh random data key wrapped by
    /// `kek`, and returns that data key. Refuses to overwrite an existing
    /// file ([`Error::KeyringExists`]). File and directory are fsynced.
    ///
    /// # Errors
    /// [`Error::KeyringExists`], [`Error::Io`], [`Error::Rng`].
    pub fn create(path: impl AsRef<Path>, kek: &Kek) -> Result<DataKey> {
        let path = path.as_ref();
        let (key, json) = Self::create_bytes(path, kek)?;
        fsutil::write_new(path, &json)?;
        Ok(key)
    }

    /// [`Keyring::create`] for a keyring kept elsewhere than in a file (a database row): the
    /// new data key and the keyring's JSON to store. `place` names where it will be kept, in
    /// errors.
    ///
    /// # Errors
    /// [`Error::Rng`], [`Error::KeyringParse`].
    pub fn create_bytes(place: &Path, kek: &Kek) -> Result<(DataKey, Vec<u8>)> {
        let mut dek = new_secret();
        random_bytes(&mut dek[..])?;
        let file = KeyringFile {
            version: KEYRING_VERSION,
            algorithm: ALGORITHM.to_owned(),
            kek_id: kek.id().to_owned(),
            wrapped_dek: hex::encode(wrap(kek, &dek)?),
            created_at: jiff::Timestamp::now(),
            rotated_at: None,
        };
        Ok((DataKey::from_bytes(&dek), to_json(place, &file)?))
    }

    /// Opens the keyring at `path` with `kek` and returns the data key.
    ///
    /// # Errors
    /// [`Error::WrongKey`] (naming the file and the expected `kek_id`) if
    /// `kek` is not the keyring's KEK; [`Error::KeyringCorrupt`] if the
    /// wrapped key does not authenticate; [`Error::KeyringParse`],
    /// [`Error::KeyringVersion`], [`Error::Io`].
    pub fn open(path: impl AsRef<Path>, kek: &Kek) -> Result<DataKey> {
        let path = path.as_ref();
        Self::open_bytes(path, &fs_err::read(path)?, kek)
    }

    /// [`Keyring::open`] for a keyring kept elsewhere than in a file: its JSON, as stored at
    /// `place`.
    ///
    /// # Errors
    /// Those of [`Keyring::open`] but [`Error::Io`].
    pub fn open_bytes(place: &Path, json: &[u8], kek: &Kek) -> Result<DataKey> {
        let file = parse(place, json)?;
        let dek = unwrap(place, &file, kek)?;
        Ok(DataKey::from_bytes(&dek))
    }

    /// Re-wraps the keyring's data key under `new_kek`, atomically (temporary
    /// file in the same directory, fsync, rename, directory fsync). The data
    /// key itself does not change, so every record sealed before stays
    /// readable without re-encryption; afterwards only `new_kek` opens the
    /// keyring. `created_at` is kept and `rotated_at` set to now.
    ///
    /// Rotation protects against a leaked KEK only together with the old
    /// keyring file: a copy of the old keyring plus the old KEK still yields
    /// the (unchanged) data key. Against a leaked data key, create a new
    /// keyring and re-encrypt the records.
    ///
    /// # Errors
    /// [`Error::WrongKey`] if `old_kek` is not the keyring's KEK, and those
    /// of [`Keyring::open`].
    pub fn rotate(path: impl AsRef<Path>, old_kek: &Kek, new_kek: &Kek) -> Result<()> {
        let path = path.as_ref();
        let json = Self::rotate_bytes(path, &fs_err::read(path)?, old_kek, new_kek)?;
        let tmp_tag = getrandom::u64().map_err(Error::Rng)?;
        fsutil::replace_atomically(path, &json, tmp_tag)
    }

    /// [`Keyring::rotate`] for a keyring kept elsewhere than in a file: the JSON to store in
    /// place of `json` (the caller replaces it only if it is still the one read).
    ///
    /// # Errors
    /// Those of [`Keyring::open_bytes`].
    pub fn rotate_bytes(place: &Path, json: &[u8], old_kek: &Kek, new_kek: &Kek) -> Result<Vec<u8>> {
        let mut file = parse(place, json)?;
        let dek = unwrap(place, &file, old_kek)?;
        file.kek_id = new_kek.id().to_owned();
        file.wrapped_dek = hex::encode(wrap(new_kek, &dek)?);
        file.rotated_at = Some(jiff::Timestamp::now());
        to_json(place, &file)
    }

    /// Reads the keyring's metadata without any key, e.g. to tell the user
    /// which KEK (`kek_id`) is expected.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::KeyringParse`], [`Error::KeyringVersion`].
    pub fn info(path: impl AsRef<Path>) -> Result<KeyringInfo> {
        let file = read(path.as_ref())?;
        Ok(KeyringInfo {
            version: file.version,
            kek_id: file.kek_id,
            created_at: file.created_at,
            rotated_at: file.rotated_at,
        })
    }
}

fn to_json(path: &Path, file: &KeyringFile) -> Result<Vec<u8>> {
    let mut json =
        serde_json::to_vec_pretty(file).map_err(|source| Error::KeyringParse { path: path.to_owned(), source })?;
    json.push(b'\n');
    Ok(json)
}

fn read(path: &Path) -> Result<KeyringFile> {
    parse(path, &fs_err::read(path)?)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<KeyringFile> {
    let parse_err = |source| Error::KeyringParse { path: path.to_owned(), source };
    let probe: VersionProbe = serde_json::from_slice(bytes).map_err(parse_err)?;
    if probe.version != KEYRING_VERSION {
        return Err(Error::KeyringVersion { path: path.to_owned(), found: probe.version, supported: KEYRING_VERSION });
    }
    let file: KeyringFile = serde_json::from_slice(bytes).map_err(parse_err)?;
    if file.algorithm != ALGORITHM {
        return Err(Error::KeyringCorrupt {
            path: path.to_owned(),
            reason: "unknown algorithm (version 1 only knows AES-256-GCM)",
        });
    }
    Ok(file)
}

pub(crate) fn wrap(kek: &Kek, dek: &[u8; KEY_LEN]) -> Result<[u8; WRAPPED_LEN]> {
    let mut out = [0u8; WRAPPED_LEN];
    DataKey::from_bytes(kek.bytes()).seal_into(dek, WRAP_LABEL, &mut out)?;
    Ok(out)
}

/// Checks the KEK id, then unwraps the data key.
fn unwrap(path: &Path, file: &KeyringFile, kek: &Kek) -> Result<SecretKey> {
    if file.kek_id != kek.id() {
        return Err(Error::WrongKey {
            path: path.to_owned(),
            expected: file.kek_id.clone(),
            given: kek.id().to_owned(),
        });
    }
    let corrupt = |reason| Error::KeyringCorrupt { path: path.to_owned(), reason };
    let mut wrapped = [0u8; WRAPPED_LEN];
    hex::decode_to_slice(file.wrapped_dek.trim(), &mut wrapped)
        .map_err(|_| corrupt("wrapped_dek is not 120 hex digits"))?;
    let mut dek = new_secret();
    DataKey::from_bytes(kek.bytes())
        .open_into(&wrapped, WRAP_LABEL, &mut dek[..])
        .map_err(|_| corrupt("wrapped_dek fails authentication under the expected KEK (damaged or tampered)"))?;
    Ok(dek)
}

#[cfg(test)]
pub(crate) fn unwrap_for_test(path: &Path, kek: &Kek) -> Result<SecretKey> {
    unwrap(path, &read(path)?, kek)
}
