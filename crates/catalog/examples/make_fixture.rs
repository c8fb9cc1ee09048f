//! Writes the fixture catalog of the current schema into `tests/fixtures/schema-N/` of this
//! crate (refusing to overwrite one): `catalog.db`, `keyring.json` and `expected.json`. See
//! `tests/fixture/mod.rs`.

#[path = "../tests/fixture/mod.rs"]
mod fixture;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("schema-{}", gabarit_catalog::SCHEMA_VERSION));
    if dir.exists() {
        return Err(format!("{} exists: a fixture is written once per schema", dir.display()).into());
    }
    let work = tempfile::tempdir()?;
    let expected = fixture::write(&work.path().join("catalog.db"), &work.path().join("keyring.json"))?;
    fs_err::create_dir_all(&dir)?;
    // The database file alone (checkpointed: no WAL beside it), the keyring, what it holds.
    fs_err::copy(work.path().join("catalog.db"), dir.join("catalog.db"))?;
    fs_err::copy(work.path().join("keyring.json"), dir.join("keyring.json"))?;
    fs_err::write(dir.join("expected.json"), serde_json::to_string_pretty(&expected)? + "\n")?;
    println!("wrote {}", dir.display());
    Ok(())
}
