//! The keys a command acts with (the key-encryption key, the caller's API key), opening a data
//! directory with them, and the commands that make or change them: `init`, `keys rotate`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use gabarit_engine::Gabarit;
use gabarit_engine::store::Place;
use gabarit_engine::store::Store;

pub(crate) static KEK_FILE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// The key-encryption key, from `--kek-file`/`GABARIT_KEK_FILE` or `GABARIT_KEK` (hex).
pub(crate) fn load_kek() -> Result<gabarit_engine::store::Kek> {
    if let Some(path) = KEK_FILE.get().cloned().flatten() {
        return Ok(gabarit_engine::store::Kek::from_file(&path)?);
    }
    if std::env::var_os("GABARIT_KEK").is_some() {
        return Ok(gabarit_engine::store::Kek::from_env("GABARIT_KEK")?);
    }
    bail!(
        "templates are encrypted at rest: give the key-encryption key with --kek-file FILE (or GABARIT_KEK_FILE / GABARIT_KEK); `gabarit init --kek-file FILE` creates one"
    )
}

pub(crate) fn open_existing(data: &Place) -> Result<Store> {
    if let Place::Dir(root) = data
        && !root.join("catalog.db").is_file()
    {
        bail!("{} has no catalog: run `gabarit init` (or pass --data DIR / set GABARIT_DATA)", root.display());
    }
    Ok(Store::open(data, &load_kek()?)?)
}

pub(crate) static KEY_FILE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// The API key the command acts with: from `--key-file`/`GABARIT_KEY_FILE` (a file readable
/// by its owner only) or `GABARIT_API_KEY`. Never a flag: it would show in the process list.
pub(crate) fn api_key() -> Result<String> {
    if let Some(path) = KEY_FILE.get().cloned().flatten() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs_err::metadata(&path)?.permissions().mode();
            if mode & 0o077 != 0 {
                bail!(
                    "{}: readable by others (mode {:o}); make it 0600: chmod 600 {}",
                    path.display(),
                    mode & 0o777,
                    path.display()
                );
            }
        }
        let text = fs_err::read_to_string(&path)?;
        let key = text.trim();
        if key.is_empty() || key.len() > 200 {
            bail!("{}: not an API key (one line, gbk_…)", path.display());
        }
        return Ok(key.to_string());
    }
    if let Ok(key) = std::env::var("GABARIT_API_KEY") {
        return Ok(key.trim().to_string());
    }
    bail!(
        "say who is acting: --key-file FILE (or GABARIT_KEY_FILE), or GABARIT_API_KEY; `gabarit init --admin NAME --key-out FILE` makes the first"
    )
}

/// Writes a new file (an API key, a checkpoint) readable by its owner only; refuses to
/// overwrite one.
pub(crate) fn write_private_file(path: &Path, key: &str) -> Result<()> {
    use std::io::Write;
    let mut options = fs_err::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use fs_err::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    writeln!(f, "{key}")?;
    Ok(())
}

/// The engine over the data directory (no face service yet: a command that needs one adds
/// it, once its checks have passed) and the caller its API key authenticates.
pub(crate) fn open_as(data: &Place) -> Result<(Gabarit, gabarit_engine::Caller)> {
    let gabarit = Gabarit::open(open_existing(data)?, None);
    let who = gabarit.authenticate_key(&api_key()?)?;
    Ok((gabarit, who))
}

/// `init`: the data directory (and its key-encryption key when the file named does not exist
/// yet), with its first admin when named.
pub(crate) fn init(
    data: &Place,
    admin: Option<String>,
    key_out: Option<PathBuf>,
    index: Option<String>,
) -> Result<ExitCode> {
    let kek = match KEK_FILE.get().cloned().flatten() {
        Some(path) if !path.exists() => {
            let kek = gabarit_engine::store::Kek::generate_to_file(&path)?;
            println!(
                "new key-encryption key written to {} (mode 0600): back it up; without it the templates cannot be read",
                path.display()
            );
            kek
        }
        _ => load_kek()?,
    };
    let kind = match index {
        Some(name) => gabarit_engine::store::IndexKind::parse(&name)?,
        None => Store::kind_for(data)?,
    };
    if let Some(path) = &key_out
        && path.exists()
    {
        bail!("{}: exists already; name a new file for the admin's key", path.display());
    }
    let store = Store::create_with(data, &kek, kind)?;
    println!(
        "{} ready: {} (catalog schema v{}, {} index)",
        if store.root().is_some() { "data directory" } else { "database" },
        store.place().name(),
        gabarit_engine::store::SCHEMA_VERSION,
        store.index_kind().name()
    );
    if let Some(name) = admin {
        let key = Gabarit::open(store, None).bootstrap_admin(&name)?;
        println!("admin {name} created; API key (shown once, store it safely): {key}");
        if let Some(path) = key_out {
            write_private_file(&path, &key)?;
            println!("the key is also in {} (mode 0600): pass it with --key-file", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `keys rotate`: the data key re-wrapped under a new key-encryption key.
pub(crate) fn rotate(data: &Place, new_kek_file: &Path) -> Result<ExitCode> {
    let (gabarit, who) = open_as(data)?;
    let new = if new_kek_file.exists() {
        gabarit_engine::store::Kek::from_file(new_kek_file)?
    } else {
        gabarit_engine::store::Kek::generate_to_file(new_kek_file)?
    };
    gabarit.rotate_keys(&who, &load_kek()?, &new)?;
    println!(
        "data key re-wrapped under the key in {} (id {}); the old key no longer opens this data directory",
        new_kek_file.display(),
        new.id()
    );
    Ok(ExitCode::SUCCESS)
}
