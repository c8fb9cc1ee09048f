//! Integration tests of the engine's governed use cases, on a real data directory with the
//! real face models (installed by `scripts/test.sh`, or named by `GABARIT_MODELS`) and the
//! sample photos (`GABARIT_SAMPLES`).

// Helpers outside #[test] functions may unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod audit;
mod authorization;
mod eval;
mod jobs;
mod packs;
mod records;
mod retention;
mod review;
mod rights;

use std::path::{Path, PathBuf};

use gabarit_engine::Caller;
use gabarit_engine::auth::{authenticate_key, bootstrap_admin};
use gabarit_engine::store::Store;
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

/// A new data directory (`dir/data`) and its first administrator, `admin`.
pub fn data_dir(dir: &Path) -> (Store, Caller) {
    let kek = gabarit_crypto::Kek::generate().unwrap();
    let mut store = Store::create(&dir.join("data"), &kek).unwrap();
    let admin_key = bootstrap_admin(&mut store, "admin").unwrap();
    let admin = authenticate_key(&store, &admin_key).unwrap();
    (store, admin)
}

/// A user with one role and these grants, authenticated.
pub fn user(store: &mut Store, admin: &Caller, name: &str, role: Role, grants: &[&str]) -> Caller {
    gabarit_engine::accounts::add_user(store, admin, name, &[role]).unwrap();
    for g in grants {
        gabarit_engine::accounts::grant(store, admin, name, g).unwrap();
    }
    let key = gabarit_engine::accounts::issue_key(store, admin, name).unwrap();
    authenticate_key(store, &key).unwrap()
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
    }
}

/// The buffalo_s pack (the one most tests' collections record).
pub fn buffalo_s() -> gabarit_inference::Pack {
    gabarit_inference::Pack::builtin("buffalo_s").unwrap()
}

/// Creates a collection of `pack` with complete governance as `who`, on ONNX Runtime f32 (the
/// services' default engine here).
pub fn new_collection(
    store: &mut gabarit_engine::store::Store,
    who: &gabarit_engine::auth::Caller,
    name: &str,
    pack: &gabarit_inference::Pack,
) {
    gabarit_engine::governed::create_collection(
        store,
        who,
        name,
        "",
        &governance(),
        pack,
        gabarit_inference::EngineFamily::ORT_F32,
    )
    .unwrap();
}

/// The face services on the installed models, buffalo_s by default: one worker, one thread.
pub fn service() -> gabarit_engine::FaceServices {
    service_of(buffalo_s())
}

/// Face services with one worker, `pack` by default.
pub fn service_of(pack: gabarit_inference::Pack) -> gabarit_engine::FaceServices {
    gabarit_engine::FaceServices::new(gabarit_engine::FaceServiceConfig {
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
