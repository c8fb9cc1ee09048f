//! `video-bench`: video ingestion on this machine.
//!
//! Builds a test video from the sample photos with FFmpeg (or takes `--video`), then measures:
//! - decoding alone: `ffmpeg … -f null` against the same decoding read through Gabarit's pipe
//!   of raw frames (what the child-process design costs);
//! - full ingestion (sampling, detection, embedding, tracking, storage) in video seconds per
//!   wall second, at the default sampling and with `--keyframes-only`;
//! - templates stored per minute of video against one template per face per sampled frame.
//!
//! Prints one JSON object.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use gabarit_engine::ingest::{IngestOptions, VideoOptions};
use gabarit_engine::store::Store;
use gabarit_engine::{FaceServiceConfig, FaceServices, Gabarit};
use gabarit_inference::{Pack, SessionOptions};
use gabarit_media::DecodeLimits;
use gabarit_video::testing::{Part, slideshow};
use gabarit_video::{Sampling, TrackerOptions, VideoLimits};

#[derive(Parser)]
struct Args {
    /// Directory with the runtime and models.
    #[arg(long, env = "GABARIT_MODELS")]
    models: PathBuf,
    /// Directory with the sample photos (obama2.jpg, players.jpg).
    #[arg(long, env = "GABARIT_SAMPLES")]
    samples: PathBuf,
    /// A video to measure instead of the one built from the samples.
    #[arg(long)]
    video: Option<PathBuf>,
    /// Seconds of each part of the built video (obama2, no face, players, obama2 again).
    #[arg(long, default_value_t = 15)]
    part_seconds: u32,
    /// Face-engine workers (a video is one worker's; FFmpeg decodes beside it).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// ONNX Runtime threads per session.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// obama2, grey, players, obama2 (panning 4 px/s), `part` seconds each, 1280x720 at 25/s.
fn build_video(samples: &Path, part: u32, out: &Path) -> Result<()> {
    let seconds = f64::from(part);
    let (obama, players) = (samples.join("obama2.jpg"), samples.join("players.jpg"));
    slideshow(
        &[
            Part::Still { photo: &obama, seconds, pan_px_per_s: 4.0 },
            Part::Blank { seconds },
            Part::Still { photo: &players, seconds, pan_px_per_s: 4.0 },
            Part::Still { photo: &obama, seconds, pan_px_per_s: -4.0 },
        ],
        out,
    )
    .context("building the benchmark video")
}

fn decode_only(video: &Path, sampling: &Sampling) -> Result<serde_json::Value> {
    let info = gabarit_video::probe(video, &VideoLimits::default())?;
    // FFmpeg alone, same filter graph, frames thrown away inside FFmpeg.
    let per_s = 1.0 / sampling.interval_s;
    let select = format!(
        "select='isnan(prev_selected_t)+gt(floor(t*{per_s})\\,floor(prev_selected_t*{per_s}))+gt(scene\\,{})',format=rgb24",
        sampling.scene_threshold
    );
    let t = Instant::now();
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-threads", "2", "-i"])
        .arg(video)
        .args(["-map", "0:v:0", "-an", "-vf", &select, "-fps_mode", "vfr", "-f", "null", "-"])
        .status()?;
    if !status.success() {
        bail!("ffmpeg -f null failed");
    }
    let null_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut frames = 0usize;
    for f in gabarit_video::frames(video, &info, sampling)? {
        f?;
        frames += 1;
    }
    let pipe_s = t.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "video_seconds": info.duration_s,
        "frames": frames,
        "ffmpeg_null_s": null_s,
        "through_pipe_s": pipe_s,
        "pipe_overhead": pipe_s / null_s - 1.0,
    }))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let video = match &args.video {
        Some(v) => v.clone(),
        None => {
            let v = dir.path().join("bench.mp4");
            build_video(&args.samples, args.part_seconds, &v)?;
            v
        }
    };
    let mut results = serde_json::Map::new();
    results.insert("decode_only".into(), decode_only(&video, &Sampling::default())?);
    for (name, keyframes_only) in [("sampled_2_per_s", false), ("keyframes_only", true)] {
        let services = FaceServices::new(FaceServiceConfig {
            models_dir: args.models.clone(),
            pack: Pack::builtin(gabarit_inference::pack::DEFAULT_PACK)?,
            workers: args.workers,
            session: SessionOptions { threads: args.threads, ..SessionOptions::default() },
            limits: DecodeLimits::default(),
            detector_input: None,
        });
        let pack = services.default_pack().clone();
        let kek = gabarit_crypto::Kek::generate()?;
        let root = dir.path().join(name);
        let engine = Gabarit::open(Store::create(&root, &kek)?, Some(services));
        // As an operator would: an admin, a curator, a collection with its governance.
        let admin_key = engine.bootstrap_admin("bench-admin")?;
        let admin = engine.authenticate_key(&admin_key)?;
        let key = engine.add_user(&admin, "bench-curator", &[gabarit_governance::Role::Curator])?;
        let curator = engine.authenticate_key(&key)?;
        let governance = gabarit_governance::GovernanceDraft {
            controller: Some("Gabarit benchmarks".into()),
            controller_contact: Some("bench@example.invalid".into()),
            purpose: Some("measure video ingestion".into()),
            purpose_category: Some(gabarit_governance::PurposeCategory::Research),
            legal_basis: Some(gabarit_governance::LegalBasis::LegitimateInterests),
            condition: Some(gabarit_governance::Condition::Archiving),
            jurisdictions: vec!["FR".into()],
            retention: Some(gabarit_governance::Retention::Days(1)),
            dpia: Some("BENCH".into()),
            grouping: false,
        };
        engine.create_collection(
            &curator,
            "bench",
            "",
            &governance,
            &pack,
            gabarit_inference::EngineFamily::ORT_F32,
        )?;
        // The models loaded before the clock starts.
        engine.faces()?.get(&gabarit_engine::store::pack_key(&pack))?;
        let sampling = Sampling { keyframes_only, ..Sampling::default() };
        let opts = IngestOptions {
            collection: "bench".into(),
            inputs: vec![video.clone()],
            batch_size: 8,
            limits: DecodeLimits::default(),
            suppressions: Vec::new(),
            suppression_threshold: 1.0,
            video: VideoOptions {
                sampling,
                limits: VideoLimits::default(),
                tracker: TrackerOptions { max_gap_s: 2.5 * sampling.interval_s, ..TrackerOptions::default() },
            },
            budget: gabarit_engine::walk::Budget::default(),
            part: None,
        };
        let t = Instant::now();
        let r = engine.ingest(&curator, &opts, &mut |_| {})?;
        let wall = t.elapsed().as_secs_f64();
        let minutes = r.video_seconds / 60.0;
        results.insert(
            name.into(),
            serde_json::json!({
                "video_seconds": r.video_seconds,
                "wall_s": wall,
                "video_seconds_per_wall_second": r.video_seconds / wall,
                "sampled_frames": r.sampled_frames,
                "tracks": r.tracks,
                "templates": r.templates,
                "templates_per_minute": r.templates as f64 / minutes,
                "one_per_face_per_sampled_frame_per_minute": r.sampled_faces as f64 / minutes,
                "saving": 1.0 - r.templates as f64 / r.sampled_faces.max(1) as f64,
            }),
        );
    }
    results.insert("workers".into(), args.workers.into());
    results.insert("threads".into(), args.threads.into());
    println!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(results))?);
    Ok(())
}
