//! What the commands print of their results, apart from the work: each function renders one
//! result as text for people, or as JSON for programs where the command has `--json`. The
//! command modules call the engine, then one function here; one-line confirmations ("user x
//! created") and progress bars stay with their command.

use std::io::Write;

use anyhow::Result;
use gabarit_engine::eval::EvalReport;
use gabarit_engine::governance::GovernanceDraft;
use gabarit_engine::governed::{CollectionSummary, GovernedSearch};
use gabarit_engine::ingest::IngestReport;
use gabarit_engine::reembed::ReembedReport;
use gabarit_engine::review::ReviewState;
use gabarit_engine::rights::{RetentionReport, RightsReport, RightsRequest};
use serde_json::json;

/// `collection list`: one line per collection with its counts, pack and engine.
pub(crate) fn collections(out: &mut impl Write, all: &[CollectionSummary], json: bool) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
    } else {
        writeln!(
            out,
            "{:<24} {:>8} {:>8} {:>10}  {:<10} {:<14} description",
            "name", "images", "faces", "templates", "pack", "engine"
        )?;
        for c in all {
            writeln!(
                out,
                "{:<24} {:>8} {:>8} {:>10}  {:<10} {:<14} {}",
                c.collection.name,
                c.images,
                c.faces,
                c.templates,
                c.collection.pack,
                c.collection.engine,
                c.collection.description
            )?;
        }
    }
    Ok(())
}

/// `collection show`: the record, its governance and what the governance lacks.
pub(crate) fn collection(out: &mut impl Write, c: &CollectionSummary, g: &GovernanceDraft) -> Result<()> {
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&json!({"collection": c, "governance": g, "missing": g.missing()}))?
    )?;
    Ok(())
}

/// `collection reembed`: what changed over, and the faces left without a template.
pub(crate) fn reembedded(out: &mut impl Write, report: &ReembedReport) -> Result<()> {
    let c = &report.changed_over;
    writeln!(
        out,
        "collection {} changed over from pack {} to {}: {} template(s) made ({} by this run, {} before)",
        report.collection, c.from, c.to, c.templates, report.done_now, report.done_before
    )?;
    if !c.unreadable.is_empty() {
        writeln!(out, "{} face(s) left without a template, their image could not be read:", c.unreadable.len())?;
        for (face, why) in &report.unreadable_now {
            writeln!(out, "  face {face}: {why}")?;
        }
    }
    Ok(())
}

/// `ingest`: the run's counts and rates (failures go to stderr, one line each, from the command).
pub(crate) fn ingested(out: &mut impl Write, report: &IngestReport) -> Result<()> {
    writeln!(
        out,
        "{}: {} files, {} images ingested, {} already present, {} refused (erased on request), {} failed; {} faces ({} usable), {} templates, {} suppressed by objection; {:.1} files/s, {:.1} faces/s",
        report.collection,
        report.files,
        report.ingested,
        report.duplicates,
        report.erased_on_request,
        report.failed.len() - report.erased_on_request,
        report.faces,
        report.usable_faces,
        report.templates,
        report.suppressed_by_objection,
        report.files_per_s,
        report.faces_per_s
    )?;
    if report.videos > 0 {
        writeln!(
            out,
            "videos: {} ({:.1} s), {} frames sampled with {} faces, {} tracks, {} templates kept",
            report.videos,
            report.video_seconds,
            report.sampled_frames,
            report.sampled_faces,
            report.tracks,
            report.templates
        )?;
    }
    Ok(())
}

/// `search`: each query face with its candidates, ranked, with their provenance and what their
/// score means; a reminder that candidates are for review.
pub(crate) fn search(out: &mut impl Write, governed: &GovernedSearch, json: bool) -> Result<()> {
    let result = &governed.result;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&governed)?)?;
        return Ok(());
    }
    writeln!(out, "search {} for case {:?} ({})", governed.search_id, governed.case_ref, governed.purpose)?;
    writeln!(
        out,
        "{} face(s) in {}; searched {} templates in {} ({}); threshold {:.2}{}",
        result.faces.len(),
        result.query,
        result.gallery_size,
        result.collections.join(", "),
        if result.exhaustive { "exhaustive" } else { "approximate top-k: --exact scans every template" },
        result.threshold,
        result
            .fpir_threshold
            .map(|t| format!(" (for FPIR {:.0e} at this gallery size: {t:.2})", result.target_fpir))
            .unwrap_or_default()
    )?;
    if let Some(lag) = result.replica_lag_s {
        writeln!(
            out,
            "warning: read from a replica {lag:.1} s behind the primary: faces stored in that time may be missing"
        )?;
    }
    for face in &result.faces {
        let bbox = <[f32; 4]>::from(face.bbox).map(|v| v.round());
        writeln!(out, "\nquery face {} at {bbox:?}: {} candidate(s)", face.index, face.candidates)?;
        for (c, id) in result.candidates.iter().zip(&governed.candidate_ids).filter(|(c, _)| c.query_face == face.index)
        {
            let meaning = c
                .expected_false_candidates
                .map(|e| format!("~{e:.2e} false candidates expected at this score"))
                .unwrap_or_default();
            let at = c.video.as_ref().map(|v| format!(" at {}", v.timestamp)).unwrap_or_default();
            writeln!(
                out,
                "  {:>2}. candidate {id}  {:.3}  {:<14} {}{at}  face {} {:?}  {}  {}",
                c.rank,
                c.score,
                c.collection,
                c.path,
                c.face_id,
                <[f32; 4]>::from(c.bbox).map(|v| v.round()),
                c.captured_at.as_deref().unwrap_or("-"),
                meaning
            )?;
        }
    }
    writeln!(
        out,
        "\nCandidates are for human review, not identifications: `gabarit review confirm|reject CANDIDATE` (two different reviewers confirm)."
    )?;
    Ok(())
}

/// `review confirm|reject`: who confirmed and rejected the candidate, and whether it stands.
pub(crate) fn review(out: &mut impl Write, candidate: u64, state: &ReviewState) -> Result<()> {
    writeln!(
        out,
        "candidate {candidate}: confirmed by [{}], rejected by [{}]: {}",
        state.candidate.confirmed_by.join(", "),
        state.candidate.rejected_by.join(", "),
        if state.confirmed {
            "CONFIRMED (two different reviewers)"
        } else {
            "not confirmed (needs two different reviewers and no rejection)"
        }
    )?;
    Ok(())
}

/// `eval`: the evaluation's figures (verification, pairs, identification).
pub(crate) fn eval_summary(out: &mut impl Write, report: &EvalReport) -> Result<()> {
    let v = &report.verification;
    writeln!(
        out,
        "{}: {} photos of {} people; failures to acquire: {} ({:.3}%)",
        report.dataset,
        report.photos,
        report.identities,
        report.fta_photos.len(),
        report.fta.value * 100.0
    )?;
    writeln!(out, "verification: {} genuine, {} impostor comparisons", v.genuine_comparisons, v.impostor_comparisons)?;
    if let Some(e) = &v.eer {
        writeln!(out, "  EER {:.3}% at {:.4}", e.eer * 100.0, e.threshold)?;
    }
    for f in &v.fnmr_at_fmr {
        writeln!(
            out,
            "  FNMR@FMR={:.0e}: {:.3}% [{:.3}, {:.3}] at threshold {:.4}",
            f.target_fmr,
            f.fnmr.value * 100.0,
            f.fnmr.ci95.0 * 100.0,
            f.fnmr.ci95.1 * 100.0,
            f.threshold
        )?;
    }
    if let Some((p, k)) = report.pairs.as_ref().and_then(|p| p.kfold.as_ref().map(|k| (p, k))) {
        writeln!(
            out,
            "pairs: {} pairs, {}-fold accuracy {:.3}% ± {:.3}",
            p.pairs,
            p.folds,
            k.mean * 100.0,
            k.std * 100.0
        )?;
    }
    let id = &report.identification;
    writeln!(
        out,
        "identification: N = {}, {} mated searches, rank-1 {:.3}%, rank-5 {:.3}%",
        id.gallery_size,
        id.mated_searches,
        id.rank1.unwrap_or(f64::NAN) * 100.0,
        id.rank5.unwrap_or(f64::NAN) * 100.0
    )?;
    for p in &id.fnir_at_fpir {
        writeln!(
            out,
            "  FNIR {:.3}% at FPIR {:.1e} (threshold {:.4}; {} non-mated searches)",
            p.fnir * 100.0,
            p.fpir,
            p.threshold,
            p.nonmated_count
        )?;
    }
    if let Some(g) = &report.grouping {
        let s = &g.scores;
        writeln!(
            out,
            "grouping: {} faces into {} groups (join {:.4}, {} candidate pairs): BCubed precision {:.4}, recall {:.4}, F {:.4}; pairwise precision {:.4}, recall {:.4}",
            g.faces,
            g.groups,
            g.thresholds.join,
            g.pairs,
            s.bcubed_precision,
            s.bcubed_recall,
            s.bcubed_f,
            s.pairwise_precision,
            s.pairwise_recall
        )?;
    }
    Ok(())
}

/// `retention run`: what each collection's retention deleted.
pub(crate) fn retention(out: &mut impl Write, r: &RetentionReport) -> Result<()> {
    if r.collections.is_empty() && r.query_faces_expired == 0 {
        writeln!(out, "nothing has expired")?;
    }
    for (c, d) in &r.collections {
        writeln!(out, "{c}: {} image(s), {} face(s), {} template(s) deleted", d.images, d.faces, d.templates)?;
    }
    if r.query_faces_expired > 0 {
        writeln!(out, "{} query face(s) kept for review deleted (their period ended)", r.query_faces_expired)?;
    }
    Ok(())
}

/// `rights access|erase|object`: the faces matching the request's photo, with their provenance.
pub(crate) fn rights_report(out: &mut impl Write, r: &RightsReport) -> Result<()> {
    writeln!(
        out,
        "request {} ({}): {} face(s) match among {} templates (threshold {:.2}, exhaustive)",
        r.request.id,
        r.request.kind,
        r.matches.len(),
        r.templates_searched,
        r.threshold
    )?;
    for m in &r.matches {
        let score = if m.via_person { "person".to_string() } else { format!("{:.3}", m.score) };
        writeln!(
            out,
            "  face {:>6}  {score:>6}  {:<14} {}  {}",
            m.face_id,
            m.collection,
            m.path,
            m.captured_at.as_deref().unwrap_or("-")
        )?;
    }
    for p in &r.persons {
        writeln!(
            out,
            "  person {} in {}: {} face(s), {} matched{}",
            p.person,
            p.collection,
            p.faces,
            p.matched,
            if p.extended {
                ", request extended to the others".to_string()
            } else if p.not_matched.is_empty() {
                String::new()
            } else {
                format!("; {} more after review: --person {}", p.not_matched.len(), p.person)
            }
        )?;
    }
    Ok(())
}

/// `rights list`: every request with its deadline and status.
pub(crate) fn rights_requests(out: &mut impl Write, requests: &[RightsRequest]) -> Result<()> {
    for r in requests {
        writeln!(
            out,
            "{:>4} {:<9} {:<6} received {} due {}  {}  {}",
            r.id,
            r.kind,
            r.status,
            r.received_on,
            r.deadline,
            r.requester,
            r.outcome.as_deref().unwrap_or_default()
        )?;
    }
    Ok(())
}
