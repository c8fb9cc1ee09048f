//! `search`, `faces` of an image and `image show`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use gabarit_engine::faces::DecodeLimits;
use gabarit_engine::governed;
use gabarit_engine::models::Pack;

use crate::faces::services;
use crate::flags::SearchArgs;
use crate::keys::open_as;

pub(crate) fn search(models: &Path, data: &Path, pack: Pack, args: SearchArgs) -> Result<ExitCode> {
    use gabarit_engine::search::SearchOptions;
    let (mut store, who) = open_as(data)?;
    let services = services(models, pack, &args.engine, 1)?;
    let opts = SearchOptions {
        collections: args.collection.clone(),
        top_k: args.top_k.max(1),
        threshold: args.threshold,
        face: args.face,
        target_fpir: args.target_fpir,
        exact: args.exact,
        probe_days: args.probe_days,
    };
    let governed =
        governed::governed_search(&services, &mut store, &who, &args.case_ref, &args.purpose, &args.photo, &opts)?;
    let result = &governed.result;
    if let Some(dir) = &args.crops {
        // Each crop is a view of a face: authorised and audited like the server's.
        let limits = DecodeLimits { max_pixels: args.engine.max_pixels, ..DecodeLimits::default() };
        fs_err::create_dir_all(dir)?;
        for c in &result.candidates {
            let jpeg = governed::face_crop(&mut store, &who, c.face_id, &limits)?;
            let at = c.video.as_ref().map(|p| format!("-t{:.3}", p.time_s)).unwrap_or_default();
            fs_err::write(dir.join(format!("q{}-r{}-face{}{at}.jpg", c.query_face, c.rank, c.face_id)), jpeg)?;
        }
        eprintln!("{} crops written to {}", result.candidates.len(), dir.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&governed)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("search {} for case {:?} ({})", governed.search_id, governed.case_ref, governed.purpose);
    println!(
        "{} face(s) in {}; searched {} templates in {} (exhaustive); threshold {:.2}{}",
        result.faces.len(),
        result.query,
        result.gallery_size,
        result.collections.join(", "),
        result.threshold,
        result
            .fpir_threshold
            .map(|t| format!(" (for FPIR {:.0e} at this gallery size: {t:.2})", result.target_fpir))
            .unwrap_or_default()
    );
    for face in &result.faces {
        let bbox = <[f32; 4]>::from(face.bbox).map(|v| v.round());
        println!("\nquery face {} at {bbox:?}: {} candidate(s)", face.index, face.candidates);
        for (c, id) in result.candidates.iter().zip(&governed.candidate_ids).filter(|(c, _)| c.query_face == face.index)
        {
            let meaning = c
                .expected_false_candidates
                .map(|e| format!("~{e:.2e} false candidates expected at this score"))
                .unwrap_or_default();
            let at = c.video.as_ref().map(|v| format!(" at {}", v.timestamp)).unwrap_or_default();
            println!(
                "  {:>2}. candidate {id}  {:.3}  {:<14} {}{at}  face {} {:?}  {}  {}",
                c.rank,
                c.score,
                c.collection,
                c.path,
                c.face_id,
                <[f32; 4]>::from(c.bbox).map(|v| v.round()),
                c.captured_at.as_deref().unwrap_or("-"),
                meaning
            );
        }
    }
    println!(
        "\nCandidates are for human review, not identifications: `gabarit review confirm|reject CANDIDATE` (two different reviewers confirm)."
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn faces_of(data: &Path, image: &Path, json: bool) -> Result<ExitCode> {
    let (mut store, who) = open_as(data)?;
    let (sha, _) = gabarit_engine::ingest::sha256_file(image)?;
    let out = governed::records_of_content(&mut store, &who, &sha)?;
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

pub(crate) fn image_show(data: &Path, id: u64) -> Result<ExitCode> {
    let (mut store, who) = open_as(data)?;
    println!("{}", serde_json::to_string_pretty(&governed::image_record(&mut store, &who, id)?)?);
    Ok(ExitCode::SUCCESS)
}

/// `review confirm|reject`: a reviewer's decision on a candidate.
pub(crate) fn review(data: &Path, decision: &str, candidate: u64) -> Result<ExitCode> {
    let (mut store, who) = open_as(data)?;
    let state = gabarit_engine::review::review(&mut store, &who, candidate, decision == "confirm")?;
    println!(
        "candidate {candidate}: confirmed by [{}], rejected by [{}]: {}",
        state.candidate.confirmed_by.join(", "),
        state.candidate.rejected_by.join(", "),
        if state.confirmed {
            "CONFIRMED (two different reviewers)"
        } else {
            "not confirmed (needs two different reviewers and no rejection)"
        }
    );
    Ok(ExitCode::SUCCESS)
}
