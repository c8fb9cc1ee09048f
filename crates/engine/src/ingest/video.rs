//! A video's analysis by one worker: frames sampled through FFmpeg, faces linked into tracks,
//! each track's best faces kept as templates.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use gabarit_catalog::{Moment, NewFace, NewImage, TrackSpan, VideoMeta};
use gabarit_types::{Face, Quality};
use gabarit_video::{Sighting, Tracker};

use super::{IngestOptions, ToWriter, VideoTally};
use crate::FileError;
use crate::walk::Item;

/// Video seconds done and known, in milliseconds, shared by the workers.
#[derive(Debug, Default)]
pub(super) struct VideoClock {
    done_ms: AtomicU64,
    total_ms: AtomicU64,
}

impl VideoClock {
    pub(super) fn add_done(&self, seconds: f64) {
        self.done_ms.fetch_add((seconds.max(0.0) * 1000.0) as u64, Ordering::Relaxed);
    }
    pub(super) fn add_total(&self, seconds: f64) {
        self.total_ms.fetch_add((seconds.max(0.0) * 1000.0) as u64, Ordering::Relaxed);
    }
    pub(super) fn read(&self) -> (f64, f64) {
        (self.done_ms.load(Ordering::Relaxed) as f64 / 1000.0, self.total_ms.load(Ordering::Relaxed) as f64 / 1000.0)
    }
}

/// How well a face stands for its track: usable first, then a large, frontal, confident face.
fn track_quality(q: &Quality) -> f32 {
    let size = (q.size_px / 112.0).clamp(0.0, 1.0);
    let frontal = (1.0 - q.yaw_deg.abs() / 90.0).clamp(0.0, 1.0);
    f32::from(u8::from(q.usable)) + q.detector_score * size * frontal
}

/// Samples, analyses and tracks one video; the result is the whole video or an error.
pub(super) fn analyze_video(
    engine: &mut gabarit_inference::LoadedFaceEngine,
    path: &Path,
    item: &Item,
    sha256: String,
    bytes: u64,
    opts: &IngestOptions,
    clock: &VideoClock,
) -> std::result::Result<ToWriter, (String, String)> {
    let video_err = |e: gabarit_video::Error| (e.code().to_string(), e.to_string());
    let v = &opts.video;
    let info = gabarit_video::probe(path, &v.limits).map_err(video_err)?;
    clock.add_total(info.duration_s);
    let mut tracker: Tracker<Face> = Tracker::new(v.tracker);
    let (mut frames, mut seen, mut suppressed) = (0usize, 0usize, 0usize);
    let mut reached = 0.0f64;
    let decoded = gabarit_video::frames(path, &info, &v.sampling).map_err(video_err)?;
    let (width, height) = decoded.size();
    for frame in decoded {
        let frame = frame.map_err(video_err)?;
        let analysis = engine
            .analyze(&frame.rgb, true)
            .map_err(|e| (FileError::MODEL.to_string(), format!("{} at {:.3} s: {e}", item.uri, frame.time_s)))?;
        frames += 1;
        seen += analysis.faces.len();
        let mut sightings = Vec::new();
        for face in analysis.faces {
            let Some(template) = face.template.as_ref().map(|t| t.0.clone()) else { continue };
            if opts.objects_to(&template) {
                suppressed += 1;
                continue;
            }
            let quality = track_quality(&face.quality);
            let reliable = face.quality.usable;
            sightings.push(Sighting {
                time_s: frame.time_s,
                bbox: face.bbox,
                template,
                quality,
                reliable,
                payload: face,
            });
        }
        tracker.push(frame.time_s, sightings);
        let t = frame.time_s.min(info.duration_s);
        clock.add_done(t - reached);
        reached = reached.max(t);
    }
    clock.add_done(info.duration_s - reached);
    let mut faces = Vec::new();
    let mut templates = Vec::new();
    let mut spans = Vec::new();
    for track in tracker.finish() {
        // A track is one person: if any kept face matches an objection, none of it is stored.
        if track.kept.iter().any(|s| opts.objects_to(&s.template)) {
            suppressed += track.sightings;
            continue;
        }
        let number = spans.len() as u32;
        spans.push(TrackSpan {
            track: number,
            start_s: track.start_s,
            end_s: track.end_s,
            sightings: u32::try_from(track.sightings).unwrap_or(u32::MAX),
        });
        let mut kept = track.kept;
        kept.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        for s in kept {
            let f = s.payload;
            let template = f.template.map(|t| {
                let q = gabarit_index::quant::quantize(&t.0);
                templates.push(t.0);
                q
            });
            faces.push(NewFace {
                bbox: f.bbox,
                landmarks: f.landmarks,
                score: f.score,
                quality: f.quality,
                template,
                moment: Some(Moment { track: number, time_s: s.time_s }),
            });
        }
    }
    let tally = VideoTally { seconds: info.duration_s, frames, faces: seen, tracks: spans.len() };
    let image = NewImage {
        sha256,
        uri: item.uri.clone(),
        source_uri: item.source_uri.clone(),
        source_kind: item.source_kind.to_string(),
        bytes,
        width,
        height,
        format: container_name(&info.container, path),
        captured_at: info.created.clone(),
        camera: None,
        faces,
        video: Some((VideoMeta { duration_s: info.duration_s, frame_rate: info.frame_rate, codec: info.codec }, spans)),
    };
    Ok(ToWriter::Analyzed { image: Box::new(image), templates, suppressed, video: Some(tally) })
}

/// The container as the file is named when FFmpeg's name lists it (`mov,mp4,m4a,…` for an
/// `.mp4` file is `mp4`), else FFmpeg's first name.
fn container_name(names: &str, path: &Path) -> String {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let mut all = names.split(',').map(str::trim);
    if all.clone().any(|n| n == ext) { ext } else { all.next().unwrap_or("video").to_string() }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::container_name;

    #[test]
    fn containers_are_named_as_their_files_when_ffmpeg_agrees() {
        let mp4 = "mov,mp4,m4a,3gp,3g2,mj2";
        assert_eq!(container_name(mp4, Path::new("a/clip.MP4")), "mp4");
        assert_eq!(container_name(mp4, Path::new("a/clip.mov")), "mov");
        assert_eq!(container_name(mp4, Path::new("a/clip.video")), "mov");
        assert_eq!(container_name("matroska,webm", Path::new("x.webm")), "webm");
        assert_eq!(container_name("avi", Path::new("x.avi")), "avi");
    }
}
