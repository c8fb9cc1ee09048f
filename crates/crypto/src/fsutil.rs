//! Small file-system helpers: private file creation, permission checks,
//! atomic replacement, directory fsync.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Creates `path`, failing if it exists; mode `0600` on Unix.
pub(crate) fn create_new_private(path: &Path) -> std::io::Result<fs_err::File> {
    let mut opts = fs_err::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use fs_err::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Refuses a file that group or others may access (Unix only).
#[cfg(unix)]
pub(crate) fn check_private_mode(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::KekFilePermissions { path: path.to_owned(), mode });
    }
    Ok(())
}

/// No permission model to check outside Unix.
#[cfg(not(unix))]
pub(crate) fn check_private_mode(_path: &Path, _meta: &std::fs::Metadata) -> Result<()> {
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Fsyncs the directory holding `path`, so that a create or rename in it is
/// durable (Unix; a no-op elsewhere).
pub(crate) fn sync_parent_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    fs_err::File::open(parent_dir(path))?.sync_all()?;
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes `bytes` to a new file at `path` (mode `0600`), refusing to replace
/// an existing one; file and directory are fsynced.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = match create_new_private(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::KeyringExists { path: path.to_owned() });
        }
        Err(e) => return Err(e.into()),
    };
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        // Do not leave a half-written keyring that would block a retry.
        let _ = fs_err::remove_file(path);
        return Err(e.into());
    }
    drop(file);
    sync_parent_dir(path)
}

/// Atomically replaces `path` by `bytes`: writes a temporary file in the same
/// directory (mode `0600`), fsyncs it, renames it over `path`, fsyncs the
/// directory. A crash leaves either the old or the new content, never a mix.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8], nonce: u64) -> Result<()> {
    let name = path.file_name().map_or_else(|| "keyring".into(), |n| n.to_string_lossy());
    let tmp: PathBuf = parent_dir(path).join(format!(".{name}.{nonce:016x}.tmp"));
    let mut file = create_new_private(&tmp)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    let renamed = written.and_then(|()| fs_err::rename(&tmp, path));
    if let Err(e) = renamed {
        let _ = fs_err::remove_file(&tmp);
        return Err(e.into());
    }
    sync_parent_dir(path)
}
