//! The keyring of a catalog on PostgreSQL: the data key, wrapped by the key-encryption key,
//! in the one-row table `gabarit_keyring` (the JSON a data directory keeps in `keyring.json`).
//! Every process and machine that opens the database with the KEK finds the same data key;
//! the database alone does not give it.

use crate::{Error, Result};

/// Where errors say the keyring is: the table in the database, never with its password.
pub fn keyring_place(url: &str) -> Result<std::path::PathBuf> {
    Ok(format!("gabarit_keyring in {}", super::display_name_of(url)?).into())
}

fn connect(url: &str) -> Result<(super::Connection, String)> {
    let target = super::Target::of(url)?;
    Ok((target.open()?, target.name().to_owned()))
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS gabarit_keyring (
    id integer PRIMARY KEY CHECK (id = 1), json bytea NOT NULL)";

/// The keyring's JSON, if the database has one.
pub fn read_keyring(url: &str) -> Result<Option<Vec<u8>>> {
    super::blocking(|| read_keyring_here(url))
}

fn read_keyring_here(url: &str) -> Result<Option<Vec<u8>>> {
    let (mut client, name) = connect(url)?;
    let err = |source| Error::Postgres { name: name.clone(), source };
    let exists: bool = client.query_one("SELECT to_regclass('gabarit_keyring') IS NOT NULL", &[]).map_err(err)?.get(0);
    if !exists {
        return Ok(None);
    }
    let row = client.query_opt("SELECT json FROM gabarit_keyring WHERE id = 1", &[]).map_err(err)?;
    Ok(row.map(|r| r.get(0)))
}

/// Keeps `json` as the database's keyring unless it has one already, and returns the one it
/// keeps: of two processes creating a keyring at once, both end with the first's.
pub fn keep_keyring(url: &str, json: &[u8]) -> Result<Vec<u8>> {
    super::blocking(|| keep_keyring_here(url, json))
}

fn keep_keyring_here(url: &str, json: &[u8]) -> Result<Vec<u8>> {
    let (mut client, name) = connect(url)?;
    let err = |source| Error::Postgres { name: name.clone(), source };
    let mut tx = client.transaction().map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock(7305183252)", &[]).map_err(err)?;
    tx.batch_execute(CREATE).map_err(err)?;
    tx.execute("INSERT INTO gabarit_keyring (id, json) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", &[&json])
        .map_err(err)?;
    let kept: Vec<u8> = tx.query_one("SELECT json FROM gabarit_keyring WHERE id = 1", &[]).map_err(err)?.get(0);
    tx.commit().map_err(err)?;
    Ok(kept)
}

/// Replaces the keyring `old` by `new` (a key rotation); refused if the keyring is no longer
/// `old` (rotated meanwhile by another process).
pub fn replace_keyring(url: &str, old: &[u8], new: &[u8]) -> Result<()> {
    super::blocking(|| replace_keyring_here(url, old, new))
}

fn replace_keyring_here(url: &str, old: &[u8], new: &[u8]) -> Result<()> {
    let (mut client, name) = connect(url)?;
    let n = client
        .execute("UPDATE gabarit_keyring SET json = $2 WHERE id = 1 AND json = $1", &[&old, &new])
        .map_err(|source| Error::Postgres { name: name.clone(), source })?;
    if n == 1 {
        Ok(())
    } else {
        Err(Error::Invalid(format!("{name}: the keyring changed while it was being rotated; rotate again")))
    }
}
