//! Integration tests of the engine's governed use cases, on a real data directory with the
//! real face models (installed by `scripts/test.sh`, or named by `GABARIT_MODELS`) and the
//! sample photos (`GABARIT_SAMPLES`).

// Helpers outside #[test] functions may unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod audit;
mod authorization;
mod eval;
mod jobs;
mod migrate;
mod packs;
mod people;
mod records;
mod retention;
mod review;
mod rights;

use std::path::{Path, PathBuf};

use gabarit_engine::store::Store;
use gabarit_engine::{Caller, FaceServices, Gabarit};
use gabarit_governance::Role;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// The models directory, which must be installed.
pub fn models() -> PathBuf {
    let dir = std::env::var_os("GABARIT_MODELS").map(PathBuf::from).unwrap_or_else(|| root().join(".gabarit/models"));
    assert!(
        dir.join("w600k_mbf.onnx").is_file(),
        "models are not installed in {}: run `bash scripts/test.sh` (it installs them by package name)",
        dir.display()
    );
    dir
}

/// A sample photo, which must be installed.
pub fn sample(name: &str) -> PathBuf {
    let dir = std::env::var_os("GABARIT_SAMPLES").map(PathBuf::from).unwrap_or_else(|| root().join(".gabarit/samples"));
    let p = dir.join(name);
    assert!(p.is_file(), "sample {} missing: run `bash scripts/test.sh`", p.display());
    p
}

/// A new data directory (`dir/data`) and its first administrator, `admin`, with the face
/// services of [`service`] (loaded when first used).
pub fn data_dir(dir: &Path) -> (Gabarit, Caller) {
    let (engine, admin, _) = data_dir_with(dir, service());
    (engine, admin)
}

/// A new data directory (`dir/data`) with these face services, its first administrator,
/// `admin`, and its key-encryption key (to open it again, or rotate it).
pub fn data_dir_with(dir: &Path, services: FaceServices) -> (Gabarit, Caller, gabarit_crypto::Kek) {
    let kek = gabarit_crypto::Kek::generate().unwrap();
    let engine = Gabarit::open(Store::create(dir.join("data"), &kek).unwrap(), Some(services));
    let admin_key = engine.bootstrap_admin("admin").unwrap();
    let admin = engine.authenticate_key(&admin_key).unwrap();
    (engine, admin, kek)
}

/// A user with one role and these grants, authenticated.
pub fn user(engine: &Gabarit, admin: &Caller, name: &str, role: Role, grants: &[&str]) -> Caller {
    engine.add_user(admin, name, &[role]).unwrap();
    for g in grants {
        engine.grant(admin, name, g).unwrap();
    }
    let key = engine.issue_key(admin, name).unwrap();
    engine.authenticate_key(&key).unwrap()
}

/// The governance of the test collections: every field set (ingestion allowed).
pub fn governance() -> gabarit_governance::GovernanceDraft {
    use gabarit_governance::*;
    GovernanceDraft {
        controller: Some("Agence Exemple".into()),
        controller_contact: Some("dpo@agence.example".into()),
        purpose: Some("press archive".into()),
        purpose_category: Some(PurposeCategory::Archive),
        legal_basis: Some(LegalBasis::LegitimateInterests),
        condition: Some(Condition::Archiving),
        jurisdictions: vec!["FR".into()],
        retention: Some(Retention::Days(3650)),
        dpia: Some("DPIA-1".into()),
        grouping: false,
    }
}

/// The buffalo_s pack (the one most tests' collections record).
pub fn buffalo_s() -> gabarit_inference::Pack {
    gabarit_inference::Pack::builtin("buffalo_s").unwrap()
}

/// Creates a collection of `pack` with complete governance as `who`, on ONNX Runtime f32 (the
/// services' default engine here).
pub fn new_collection(engine: &Gabarit, who: &Caller, name: &str, pack: &gabarit_inference::Pack) {
    engine.create_collection(who, name, "", &governance(), pack, gabarit_inference::EngineFamily::ORT_F32).unwrap();
}

/// The packs of the collections there are, each once, in order (what `Store::packs_in_use`
/// gives while no collection is being re-embedded), as `who` lists them.
pub fn packs_of_collections(engine: &Gabarit, who: &Caller) -> Vec<gabarit_catalog::PackKey> {
    let mut packs: Vec<_> = engine.list_collections(who).unwrap().iter().map(|c| c.collection.pack_key()).collect();
    packs.sort();
    packs.dedup();
    packs
}

/// The face services on the installed models, buffalo_s by default: one worker, one thread.
pub fn service() -> FaceServices {
    service_of(buffalo_s())
}

/// Face services with one worker, `pack` by default.
pub fn service_of(pack: gabarit_inference::Pack) -> FaceServices {
    FaceServices::new(gabarit_engine::FaceServiceConfig {
        models_dir: models(),
        pack,
        workers: 1,
        session: gabarit_inference::SessionOptions::default(),
        limits: gabarit_media::DecodeLimits::default(),
        detector_input: None,
    })
}

/// How the tests ingest into `collection`: batches of 8, default limits, the rights threshold.
pub fn ingest_options(collection: &str, inputs: Vec<PathBuf>) -> gabarit_engine::ingest::IngestOptions {
    gabarit_engine::ingest::IngestOptions {
        collection: collection.into(),
        inputs,
        batch_size: 8,
        limits: gabarit_media::DecodeLimits::default(),
        suppressions: Vec::new(),
        suppression_threshold: 0.36,
        video: Default::default(),
        budget: Default::default(),
        part: None,
    }
}

/// How the tests search `press`: top 5, exhaustively, at `threshold` (default: the pack's),
/// keeping the query faces `probe_days` days.
pub fn search_options(threshold: Option<f32>, probe_days: u32) -> gabarit_engine::search::SearchOptions {
    gabarit_engine::search::SearchOptions {
        collections: vec!["press".into()],
        top_k: 5,
        threshold,
        face: None,
        target_fpir: 1e-3,
        exact: true,
        probe_days,
    }
}
