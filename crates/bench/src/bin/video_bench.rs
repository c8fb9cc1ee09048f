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
use gabarit_engine::ingest::{IngestOptions, VideoOptions, ingest};
use gabarit_engine::store::Store;
use gabarit_engine::{FaceService, FaceServiceConfig};
use gabarit_inference::{Pack, SessionOptions};
use gabarit_media::DecodeLimits;
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

fn ffmpeg(args: &[&str]) -> Result<()> {
    let out = Command::new("ffmpeg").args(["-hide_banner", "-loglevel", "error", "-y"]).args(args).output()?;
    if !out.status.success() {
        bail!("ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// obama2, grey, players, obama2 (panning 10 px/s), `part` seconds each, 1280x720 at 25/s.
fn build_video(samples: &Path, part: u32, out: &Path) -> Result<()> {
    let p = part.to_string();
    let (obama, players) = (samples.join("obama2.jpg"), samples.join("players.jpg"));
    let (obama, players) = (obama.to_str().context("path")?, players.to_str().context("path")?);
    let grey = format!("color=c=gray:s=1280x720:r=25:d={part}");
    ffmpeg(&[
        "-loop",
        "1",
        "-framerate",
        "25",
        "-t",
        &p,
        "-i",
        obama,
        "-f",
        "lavfi",
        "-i",
        &grey,
        "-loop",
        "1",
        "-framerate",
        "25",
        "-t",
        &p,
        "-i",
        players,
        "-loop",
        "1",
        "-framerate",
        "25",
        "-t",
        &p,
        "-i",
        obama,
        "-filter_complex",
        "[0:v]scale=-2:800,pad=1400:800:(ow-iw)/2:0,crop=1280:720:40+4*t:40,setsar=1,format=yuv420p[a];\
         [1:v]setsar=1,format=yuv420p[b];\
         [2:v]scale=1400:-2,crop=1280:720:20+4*t:20,setsar=1,format=yuv420p[c];\
         [3:v]scale=-2:760,pad=1400:800:(ow-iw)/2:20,crop=1280:720:100-4*t:30,setsar=1,format=yuv420p[d];\
         [a][b][c][d]concat=n=4:v=1:a=0[v]",
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "20",
        "-r",
        "25",
        out.to_str().context("path")?,
    ])
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
    let service = FaceService::new(FaceServiceConfig {
        models_dir: args.models.clone(),
        pack: Pack::builtin(gabarit_inference::pack::DEFAULT_PACK)?,
        workers: args.workers,
        session: SessionOptions { threads: args.threads, spin: false },
        limits: DecodeLimits::default(),
        detector_input: None,
    })?;
    for (name, keyframes_only) in [("sampled_2_per_s", false), ("keyframes_only", true)] {
        let kek = gabarit_crypto::Kek::generate()?;
        let root = dir.path().join(name);
        let mut store = Store::create(&root, &kek)?;
        store.catalog.create_collection("bench", "")?;
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
        };
        let t = Instant::now();
        let r = ingest(&service, &mut store, &opts, &mut |_| {})?;
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
