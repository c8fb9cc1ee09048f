//! `collection`, `reembed` and `ingest`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use gabarit_engine::faces::DecodeLimits;
use gabarit_engine::models::Pack;
use gabarit_engine::people::GroupingAfterIngest;
use gabarit_engine::store::Place;

use crate::faces::services;
use crate::flags::{CollectionCommand, EngineArgs, EngineChoice, IngestArgs, VideoArgs};
use crate::keys::open_as;
use crate::render;

pub(crate) fn collection(
    models: &Path,
    data: &Place,
    (pack, explicit_pack): (Pack, bool),
    cmd: CollectionCommand,
) -> Result<ExitCode> {
    if let CollectionCommand::Reembed { name, batch, quiet, engine } = cmd {
        anyhow::ensure!(explicit_pack, "name the pack to re-embed {name:?} with: --pack open or --pack buffalo_s");
        return reembed(models, data, pack, (&name, batch, quiet), &engine);
    }
    let pack = &pack;
    let (gabarit, who) = open_as(data)?;
    match cmd {
        CollectionCommand::Create { name, description, governance, engine } => {
            let draft = governance.apply(Default::default())?;
            let family = engine.family(models)?;
            gabarit.create_collection(&who, &name, &description, &draft, pack, family)?;
            println!("collection {name} created (model pack {}, engine {family})", pack.name);
            let missing = draft.missing();
            if !missing.is_empty() {
                println!("note: ingestion is refused until these are set: --{}", missing.join(", --"));
            }
        }
        CollectionCommand::Update { name, governance } => {
            let draft = governance.apply(gabarit.collection(&who, &name)?.1)?;
            gabarit.update_collection(&who, &name, &draft)?;
            println!("collection {name} updated");
        }
        CollectionCommand::List { json } => {
            let all = gabarit.list_collections(&who)?;
            render::collections(&mut std::io::stdout().lock(), &all, json)?;
        }
        CollectionCommand::Reembed { .. } => {}
        CollectionCommand::Show { name } => {
            let (c, g) = gabarit.collection(&who, &name)?;
            render::collection(&mut std::io::stdout().lock(), &c, &g)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn reembed(
    models: &Path,
    data: &Place,
    pack: Pack,
    (name, batch, quiet): (&str, usize, bool),
    engine: &EngineArgs,
) -> Result<ExitCode> {
    let (gabarit, who) = open_as(data)?;
    let opts = gabarit_engine::reembed::ReembedOptions {
        collection: name.to_string(),
        batch_size: batch.max(1),
        limits: DecodeLimits { max_pixels: engine.max_pixels, ..DecodeLimits::default() },
    };
    let gabarit = gabarit.with_faces(services(models, pack.clone(), engine, 1)?);
    let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} faces {per_sec} ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = gabarit.reembed(&who, &pack, &opts, &mut |p| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    });
    bar.finish_and_clear();
    let report = report?;
    render::reembedded(&mut std::io::stdout().lock(), &report)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn ingest(
    models: &Path,
    data: &Place,
    (pack, explicit_pack): (Pack, bool),
    args: IngestArgs,
) -> Result<ExitCode> {
    use gabarit_engine::ingest::IngestOptions;
    let rights_threshold = pack.thresholds.rights;
    let (gabarit, who) = open_as(data)?;
    // Refused before the models load: who may not ingest, or where governance is incomplete,
    // or a pack named that is not the collection's.
    gabarit.may_ingest(&who)?;
    let (summary, governance) = gabarit.collection(&who, &args.collection)?;
    governance.complete(&args.collection)?;
    if explicit_pack {
        gabarit_engine::store::check_collection_pack(&summary.collection, &pack)?;
    }
    if args.queue {
        // The caller names files they can read here: those are the job's only roots.
        let jobs = gabarit.submit_ingest(&who, &args.collection, &args.inputs, &args.inputs, args.parts)?;
        match jobs.as_slice() {
            [job] => {
                println!("job {} queued: ingestion of {} input(s) into {}", job.id, job.inputs.len(), job.collection)
            }
            [first, .., last] => println!(
                "jobs {}-{} queued: ingestion of {} input(s) into {} in {} parts",
                first.id,
                last.id,
                first.inputs.len(),
                first.collection,
                jobs.len()
            ),
            [] => anyhow::bail!("no job was queued"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    // The collection's backend and precision unless others are named (then refused, before the
    // models load, when they are not the collection's).
    let mut engine = args.engine.clone();
    if engine.choice.is_empty() {
        let held = gabarit_engine::store::collection_engine(&summary.collection)?;
        engine.choice = EngineChoice { backend: Some(held.backend), precision: Some(held.precision) };
    } else {
        gabarit_engine::store::check_collection_engine(&summary.collection, engine.choice.family(models)?)?;
    }
    let gabarit = gabarit.with_faces(services(models, pack, &engine, usize::MAX)?);
    let opts = IngestOptions {
        collection: args.collection.clone(),
        inputs: args.inputs.clone(),
        batch_size: args.batch,
        limits: DecodeLimits { max_pixels: args.engine.max_pixels, ..DecodeLimits::default() },
        suppressions: Vec::new(),
        suppression_threshold: rights_threshold,
        video: video_options(&args.video)?,
        budget: args.budget.budget(),
        part: None,
    };
    let bar = if args.quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {per_sec} {msg} ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let report = gabarit.ingest(&who, &opts, &mut |p| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        let mut msg = format!("{:.1} faces/s", p.faces as f64 / secs);
        if p.video_seconds_total > 0.0 {
            msg += &format!(
                ", video {:.0}/{:.0} s ({:.2} video-s/s)",
                p.video_seconds_done,
                p.video_seconds_total,
                p.video_seconds_done / secs
            );
        }
        bar.set_message(msg);
    })?;
    bar.finish_and_clear();
    render::ingested(&mut std::io::stdout().lock(), &report)?;
    for f in &report.failed {
        eprintln!("skipped {}: {}", f.uri, f.message);
    }
    if let Some(path) = &args.report {
        fs_err::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    match &report.grouping {
        Some(GroupingAfterIngest::Ran(r)) => println!(
            "people: {} faces in {} persons ({} new; {} faces searched now)",
            r.faces, r.persons, r.new_persons, r.searched
        ),
        Some(GroupingAfterIngest::NotRun { not_run }) => {
            eprintln!("people: grouping not run ({not_run}); `gabarit people group {}` runs it", args.collection)
        }
        None => {}
    }
    Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub(crate) fn video_options(args: &VideoArgs) -> Result<gabarit_engine::ingest::VideoOptions> {
    if !(args.video_rate.is_finite() && args.video_rate > 0.0 && args.video_rate <= 120.0) {
        anyhow::bail!("--video-rate: {} is not a rate between 0 and 120 frames per second", args.video_rate);
    }
    if !(0.0..=1.0).contains(&args.scene_threshold) {
        anyhow::bail!("--scene-threshold: {} is not between 0 and 1", args.scene_threshold);
    }
    if args.track_templates == 0 || args.video_max_side < 64 {
        anyhow::bail!("--track-templates must be at least 1 and --video-max-side at least 64");
    }
    let sampling = gabarit_engine::ingest::Sampling {
        interval_s: 1.0 / args.video_rate,
        scene_threshold: args.scene_threshold,
        keyframes_only: args.keyframes_only,
        max_side: args.video_max_side,
        ..gabarit_engine::ingest::Sampling::default()
    };
    // A track may skip one sample (a missed detection) and still continue.
    let tracker = gabarit_engine::ingest::TrackerOptions {
        keep: args.track_templates,
        max_gap_s: 2.5 * sampling.interval_s,
        ..gabarit_engine::ingest::TrackerOptions::default()
    };
    Ok(gabarit_engine::ingest::VideoOptions {
        sampling,
        limits: gabarit_engine::ingest::VideoLimits::default(),
        tracker,
    })
}
