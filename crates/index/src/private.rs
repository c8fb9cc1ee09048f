//! Index files only their owner may read (0600, in 0700 folders): the records are sealed, but
//! their count and sizes, and the folder itself, are nobody else's business.

use std::path::Path;

/// Creates a folder (and its parents) readable by its owner only.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    fs_err::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Options that create files readable by their owner only.
pub fn options() -> fs_err::OpenOptions {
    #[allow(unused_mut)]
    let mut o = fs_err::OpenOptions::new();
    #[cfg(unix)]
    {
        use fs_err::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// Creates (or truncates) a file for writing, readable by its owner only.
pub fn create(path: &Path) -> std::io::Result<fs_err::File> {
    options().write(true).create(true).truncate(true).open(path)
}
