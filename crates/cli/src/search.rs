//! `search`, `faces` of an image and `image show`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use gabarit_engine::faces::DecodeLimits;
use gabarit_engine::models::Pack;
use gabarit_engine::store::Place;

use crate::faces::services;
use crate::flags::SearchArgs;
use crate::keys::open_as;
use crate::render;

pub(crate) fn search(models: &Path, data: &Place, pack: Pack, args: SearchArgs) -> Result<ExitCode> {
    use gabarit_engine::search::SearchOptions;
    let (gabarit, who) = open_as(data)?;
    let gabarit = gabarit.with_faces(services(models, pack, &args.engine, 1)?);
    let opts = SearchOptions {
        collections: args.collection.clone(),
        top_k: args.top_k.max(1),
        threshold: args.threshold,
        face: args.face,
        target_fpir: args.target_fpir,
        exact: args.exact,
        probe_days: args.probe_days,
    };
    let governed = gabarit.search(&who, &args.case_ref, &args.purpose, &args.photo, &opts)?;
    let result = &governed.result;
    if let Some(dir) = &args.crops {
        // Each crop is a view of a face: authorised and audited like the server's.
        let limits = DecodeLimits { max_pixels: args.engine.max_pixels, ..DecodeLimits::default() };
        fs_err::create_dir_all(dir)?;
        for c in &result.candidates {
            let jpeg = gabarit.face_crop(&who, c.face_id, &limits)?;
            let at = c.video.as_ref().map(|p| format!("-t{:.3}", p.time_s)).unwrap_or_default();
            fs_err::write(dir.join(format!("q{}-r{}-face{}{at}.jpg", c.query_face, c.rank, c.face_id)), jpeg)?;
        }
        eprintln!("{} crops written to {}", result.candidates.len(), dir.display());
    }
    render::search(&mut std::io::stdout().lock(), &governed, args.json)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn faces_of(data: &Place, image: &Path, json: bool) -> Result<ExitCode> {
    let (gabarit, who) = open_as(data)?;
    let (sha, _) = gabarit_engine::ingest::sha256_file(image)?;
    let out = gabarit.records_of_content(&who, &sha)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if out.is_empty() {
        println!("{}: not in the catalog (sha256 {sha})", image.display());
    } else {
        for entry in &out {
            println!("{}", serde_json::to_string_pretty(entry)?);
        }
    }
    Ok(if out.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub(crate) fn image_show(data: &Place, id: u64) -> Result<ExitCode> {
    let (gabarit, who) = open_as(data)?;
    println!("{}", serde_json::to_string_pretty(&gabarit.image_record(&who, id)?)?);
    Ok(ExitCode::SUCCESS)
}

/// `review confirm|reject`: a reviewer's decision on a candidate.
pub(crate) fn review(data: &Place, decision: &str, candidate: u64) -> Result<ExitCode> {
    let (gabarit, who) = open_as(data)?;
    let state = gabarit.review(&who, candidate, decision == "confirm")?;
    render::review(&mut std::io::stdout().lock(), candidate, &state)?;
    Ok(ExitCode::SUCCESS)
}
