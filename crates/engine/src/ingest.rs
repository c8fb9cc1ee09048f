//! Ingestion: folders, files and zip/tar archives named by the operator go into a
//! collection. Three stages overlap: one reader (reads and hashes files, skips content the
//! collection already holds), the face-engine workers (decode, detect, embed), and the writer
//! (stores batches in one transaction each, then feeds the vector index).
//!
//! Idempotent and resumable: content is identified by its SHA-256, unique within a
//! collection, and each batch is committed atomically; a run killed at any moment and started
//! again skips what was stored and does the rest, without duplicates or losses.
//!
//! Videos (files only, not archive members) are read through FFmpeg by one worker each:
//! sampled frames go through the face engine, faces are linked into tracks, and each track
//! keeps its best few faces as templates. A video is stored whole, in one transaction, or not
//! at all: a run killed half-way through a video redoes that video.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use gabarit_catalog::{
    BatchItem, Catalog, ErasedContent, Moment, NewFace, NewImage, StoreOutcome, TrackSpan, VideoMeta,
};
use gabarit_governance::{Authorized, actions};
use gabarit_media::{DecodeLimits, decode_bytes, exif_info, sha256_hex};
use gabarit_types::{Face, Quality};
pub use gabarit_video::{Sampling, TrackerOptions, VideoLimits};
use gabarit_video::{Sighting, Tracker, has_video_extension};
use serde::Serialize;
use sha2::Digest;

use crate::store::{SharedIndex, Store};
use crate::walk::{Budget, Item, Location, list_inputs, read_limited, tar_reader};
use crate::{Error, FaceService, Result};
use gabarit_inference::LoadedFaceEngine;
use gabarit_pipeline::FaceBatch;

/// What to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Target collection (must exist).
    pub collection: String,
    /// Folders (recursive), files and archives.
    pub inputs: Vec<PathBuf>,
    /// Images per catalog transaction.
    pub batch_size: usize,
    /// Decoding limits.
    pub limits: DecodeLimits,
    /// Suppression templates (objections): matching faces are dropped before storage.
    pub suppressions: Vec<Vec<f32>>,
    /// Similarity at or above which a face matches a suppression template.
    pub suppression_threshold: f32,
    /// How videos are read.
    pub video: VideoOptions,
    /// Bounds of the run: files, folder entries and depth, duration.
    pub budget: Budget,
}

impl IngestOptions {
    /// Whether a template matches an objection's suppression template.
    fn objects_to(&self, template: &[f32]) -> bool {
        self.suppressions.iter().any(|s| dot(s, template) >= self.suppression_threshold)
    }
}

/// How videos are sampled, bounded and tracked.
#[derive(Debug, Clone, Copy, Default)]
pub struct VideoOptions {
    /// Frames picked.
    pub sampling: Sampling,
    /// Limits checked before decoding.
    pub limits: VideoLimits,
    /// Track linking and faces kept per track.
    pub tracker: TrackerOptions,
}

/// A file that was not ingested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    /// Path or URI.
    pub uri: String,
    /// Stable code.
    pub code: String,
    /// Reason.
    pub message: String,
}

/// Summary of an ingestion run.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// Job id in the catalog.
    pub job: u64,
    /// Collection.
    pub collection: String,
    /// Image files found in the inputs.
    pub files: usize,
    /// Newly stored images.
    pub ingested: usize,
    /// Files whose content the collection already held.
    pub duplicates: usize,
    /// Files refused because a photo with their content was erased on request (each is also
    /// in `failed`, with code [`ERASED_ON_REQUEST`] and the request named).
    pub erased_on_request: usize,
    /// Files that failed, with reasons.
    pub failed: Vec<SkippedFile>,
    /// Faces stored.
    pub faces: usize,
    /// Of which usable by the pack's quality policy.
    pub usable_faces: usize,
    /// Faces dropped before storage because they match an objection.
    pub suppressed_by_objection: usize,
    /// Templates added to the index.
    pub templates: usize,
    /// Videos stored.
    pub videos: usize,
    /// Seconds of video stored.
    pub video_seconds: f64,
    /// Frames sampled from the stored videos.
    pub sampled_frames: usize,
    /// Faces seen in those frames (what one template per face per sampled frame would store).
    pub sampled_faces: usize,
    /// Tracks stored (each keeps up to the tracker's `keep` faces).
    pub tracks: usize,
    /// Wall time.
    pub seconds: f64,
    /// Files per second.
    pub files_per_s: f64,
    /// Faces per second.
    pub faces_per_s: f64,
}

/// Progress of a run.
#[derive(Debug, Clone, Copy)]
pub struct IngestProgress {
    /// Files handled.
    pub done: usize,
    /// Files in all.
    pub total: usize,
    /// Faces stored so far.
    pub faces: usize,
    /// Seconds of video decoded and analysed so far (stored or not).
    pub video_seconds_done: f64,
    /// Seconds of video known so far (each video's duration counts once it is probed).
    pub video_seconds_total: f64,
}

/// Video seconds done and known, in milliseconds, shared by the workers.
#[derive(Debug, Default)]
struct VideoClock {
    done_ms: AtomicU64,
    total_ms: AtomicU64,
}

impl VideoClock {
    fn add_done(&self, seconds: f64) {
        self.done_ms.fetch_add((seconds.max(0.0) * 1000.0) as u64, Ordering::Relaxed);
    }
    fn add_total(&self, seconds: f64) {
        self.total_ms.fetch_add((seconds.max(0.0) * 1000.0) as u64, Ordering::Relaxed);
    }
    fn read(&self) -> (f64, f64) {
        (self.done_ms.load(Ordering::Relaxed) as f64 / 1000.0, self.total_ms.load(Ordering::Relaxed) as f64 / 1000.0)
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{}: {e}", path.display()))
}

/// Reads a listed file if it is still the file that was listed (a file swapped for a link
/// since is not followed), within the size limit.
fn read_listed(
    path: &Path,
    listed: Option<(u64, u64)>,
    limits: &DecodeLimits,
    uri: &str,
) -> std::result::Result<Vec<u8>, (String, String)> {
    let io = |e: std::io::Error| ("io".to_string(), format!("{uri}: {e}"));
    let f = fs_err::File::open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if crate::walk::ident(&meta) != listed {
        return Err(("changed".into(), format!("{uri}: replaced since it was listed: not read")));
    }
    if meta.len() > limits.max_file_bytes {
        return Err((
            "file_too_large".into(),
            format!("{uri}: larger than the limit of {} bytes", limits.max_file_bytes),
        ));
    }
    read_limited(f, limits.max_file_bytes, uri)
}

/// What sampling a stored video took.
#[derive(Debug, Clone, Copy, Default)]
struct VideoTally {
    seconds: f64,
    frames: usize,
    faces: usize,
    tracks: usize,
}

enum ToWriter {
    Analyzed { image: Box<NewImage>, templates: Vec<Vec<f32>>, suppressed: usize, video: Option<VideoTally> },
    Duplicate { item: Item },
    Failed { item: Item, code: String, message: String },
}

/// What a worker gets: a photo's bytes, or a video's path (videos are streamed by FFmpeg).
enum Payload {
    Photo(Vec<u8>),
    Video { path: PathBuf, bytes: u64 },
}

struct Work {
    item: Item,
    payload: Payload,
    sha256: String,
}

/// SHA-256 of a file (hex) and its size, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = fs_err::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// The stable code of a file refused because a photo with its content was erased on request.
pub const ERASED_ON_REQUEST: &str = "erased_on_request";

/// What the reader checks each file's content against before it is analysed: the photos
/// erased on request (refused in every collection) and the collection's own photos.
struct Known<'a> {
    catalog: Catalog,
    collection_id: u32,
    erased: &'a ErasedContent,
}

impl Known<'_> {
    /// What becomes of an item with this content instead of its analysis, if anything: refused
    /// (erased on request) or a duplicate.
    fn held_back(&self, item: Item, sha256: &str) -> Result<std::result::Result<ToWriter, Item>> {
        if let Some(request) = self.erased.request_of(sha256) {
            let message =
                format!("{}: a photo with this content was erased on request {request}; not ingested again", item.uri);
            return Ok(Ok(ToWriter::Failed { item, code: ERASED_ON_REQUEST.into(), message }));
        }
        if self.catalog.has_image(self.collection_id, sha256)? {
            return Ok(Ok(ToWriter::Duplicate { item }));
        }
        Ok(Err(item))
    }
}

/// The reader stage: reads every item in order, hashes it, skips known content.
fn read_all(
    items: Vec<Item>,
    known: &Known<'_>,
    limits: &DecodeLimits,
    work: &Sender<Work>,
    done: &Sender<ToWriter>,
) -> Result<()> {
    let mut zip_cache: Option<(PathBuf, zip::ZipArchive<fs_err::File>)> = None;
    let mut i = 0;
    while i < items.len() {
        // A tar archive is read once, front to back, for all its items.
        if let Location::Tar { archive, .. } = &items[i].location {
            let archive = archive.clone();
            let mut group = Vec::new();
            while i < items.len() && matches!(&items[i].location, Location::Tar { archive: a, .. } if *a == archive) {
                group.push(items[i].clone());
                i += 1;
            }
            read_tar(&archive, group, known, limits, work, done)?;
            continue;
        }
        let item = items[i].clone();
        i += 1;
        if has_video_extension(Path::new(&item.uri)) {
            let sent = match &item.location {
                Location::File { path: p, .. } => match sha256_file(p) {
                    Ok((sha256, bytes)) => {
                        let path = p.clone();
                        match known.held_back(item, &sha256)? {
                            Ok(held) => done.send(held).is_ok(),
                            Err(item) => {
                                work.send(Work { item, payload: Payload::Video { path, bytes }, sha256 }).is_ok()
                            }
                        }
                    }
                    Err(e) => done.send(ToWriter::Failed { item, code: "io".into(), message: e.to_string() }).is_ok(),
                },
                Location::Zip { .. } | Location::Tar { .. } => video_in_archive(item, done),
            };
            if !sent {
                return Ok(());
            }
            continue;
        }
        let bytes = match &item.location {
            Location::File { path, ident } => read_listed(path, *ident, limits, &item.uri),
            Location::Zip { archive, index } => {
                if zip_cache.as_ref().is_none_or(|(p, _)| p != archive) {
                    let f = fs_err::File::open(archive).map_err(Error::Io)?;
                    let z = zip::ZipArchive::new(f).map_err(|e| io_err(archive, e))?;
                    zip_cache = Some((archive.clone(), z));
                }
                match zip_cache.as_mut().map(|(_, z)| z.by_index(*index)) {
                    Some(Ok(entry)) if entry.size() > limits.max_file_bytes => Err((
                        "file_too_large".to_string(),
                        format!(
                            "{}: declares {} bytes, over the limit of {}",
                            item.uri,
                            entry.size(),
                            limits.max_file_bytes
                        ),
                    )),
                    Some(Ok(entry)) => read_limited(entry, limits.max_file_bytes, &item.uri),
                    Some(Err(e)) => Err(("corrupt_archive".to_string(), format!("{}: {e}", item.uri))),
                    None => Err(("io".to_string(), format!("{}: archive not open", item.uri))),
                }
            }
            Location::Tar { .. } => continue,
        };
        if !dispatch(item, bytes, known, work, done)? {
            return Ok(());
        }
    }
    Ok(())
}

fn read_tar(
    archive: &Path,
    group: Vec<Item>,
    known: &Known<'_>,
    limits: &DecodeLimits,
    work: &Sender<Work>,
    done: &Sender<ToWriter>,
) -> Result<()> {
    let mut by_position: std::collections::HashMap<usize, Item> = group
        .into_iter()
        .filter_map(|it| match &it.location {
            Location::Tar { position, .. } => Some((*position, it.clone())),
            Location::File { .. } | Location::Zip { .. } => None,
        })
        .collect();
    let mut tar = tar_reader(archive)?;
    for (position, entry) in tar.entries().map_err(|e| io_err(archive, e))?.enumerate() {
        let Ok(entry) = entry else { break };
        let name = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
        let Some(item) = by_position.remove(&position) else { continue };
        if has_video_extension(Path::new(&name)) {
            if !video_in_archive(item, done) {
                return Ok(());
            }
            continue;
        }
        let bytes = if entry.header().size().unwrap_or(u64::MAX) > limits.max_file_bytes {
            Err((
                "file_too_large".to_string(),
                format!("{}: over the limit of {} bytes", item.uri, limits.max_file_bytes),
            ))
        } else {
            read_limited(entry, limits.max_file_bytes, &item.uri)
        };
        if !dispatch(item, bytes, known, work, done)? {
            return Ok(());
        }
    }
    // Entries listed before but unreadable now (a truncated archive).
    for (_, item) in by_position {
        let message = format!("{}: could not be read from the archive", item.uri);
        if done.send(ToWriter::Failed { item, code: "corrupt_archive".into(), message }).is_err() {
            break;
        }
    }
    Ok(())
}

/// Videos are read by FFmpeg from files, which archive members are not.
fn video_in_archive(item: Item, done: &Sender<ToWriter>) -> bool {
    let message =
        format!("{}: videos inside archives are not read; extract the archive and ingest the folder", item.uri);
    done.send(ToWriter::Failed { item, code: "video_in_archive".into(), message }).is_ok()
}

/// Sends an item on; returns false when the pipeline has shut down.
fn dispatch(
    item: Item,
    bytes: std::result::Result<Vec<u8>, (String, String)>,
    known: &Known<'_>,
    work: &Sender<Work>,
    done: &Sender<ToWriter>,
) -> Result<bool> {
    let sent = match bytes {
        Err((code, message)) => done.send(ToWriter::Failed { item, code, message }).is_ok(),
        Ok(bytes) => {
            let sha256 = sha256_hex(&bytes);
            match known.held_back(item, &sha256)? {
                Ok(held) => done.send(held).is_ok(),
                Err(item) => work.send(Work { item, payload: Payload::Photo(bytes), sha256 }).is_ok(),
            }
        }
    };
    Ok(sent)
}

/// A photo detected and aligned, waiting for its faces' templates: its image record, faces
/// left empty until then.
struct Queued {
    item: Item,
    image: NewImage,
}

/// The worker stage: decode, detect and align each photo, then embed the faces of the photos
/// queued meanwhile together (as many as are ready, up to what the embedder gains from, see
/// [`FaceBatch`]); a video is analysed on its own.
fn analyze_all(
    service: &FaceService,
    opts: &IngestOptions,
    clock: &VideoClock,
    work: Receiver<Work>,
    done: Sender<ToWriter>,
) -> Result<()> {
    let limits = &opts.limits;
    let mut engine = service.take_engine()?;
    let mut batch = FaceBatch::default();
    let mut queued: Vec<Queued> = Vec::new();
    loop {
        // Wait for work only when nothing is queued; otherwise embed once none is ready.
        let next = if queued.is_empty() { work.recv().ok() } else { work.try_recv().ok() };
        let Some(Work { item, payload, sha256 }) = next else {
            if queued.is_empty() || !embed_queued(&mut engine, &mut batch, &mut queued, opts, &done) {
                break;
            }
            continue;
        };
        let msg = match payload {
            Payload::Video { path, bytes } => {
                if !embed_queued(&mut engine, &mut batch, &mut queued, opts, &done) {
                    break;
                }
                match analyze_video(&mut engine, &path, &item, sha256, bytes, opts, clock) {
                    Ok(msg) => msg,
                    Err((code, message)) => ToWriter::Failed { item, code, message },
                }
            }
            Payload::Photo(bytes) => match decode_bytes(&bytes, Path::new(&item.uri), limits) {
                Err(e) => ToWriter::Failed { item, code: e.code().into(), message: e.to_string() },
                Ok(img) => match engine.queue(&mut batch, &img.rgb) {
                    Err(e) => ToWriter::Failed { message: format!("{}: {e}", item.uri), item, code: "model".into() },
                    Ok(()) => {
                        let exif = exif_info(&bytes);
                        let image = NewImage {
                            sha256,
                            uri: item.uri.clone(),
                            source_uri: item.source_uri.clone(),
                            source_kind: item.source_kind.to_string(),
                            bytes: bytes.len() as u64,
                            width: img.width(),
                            height: img.height(),
                            format: img.format.to_string(),
                            captured_at: exif.captured_at,
                            camera: exif.camera,
                            faces: Vec::new(),
                            video: None,
                        };
                        queued.push(Queued { item, image });
                        if !engine.wants_more(&batch)
                            && !embed_queued(&mut engine, &mut batch, &mut queued, opts, &done)
                        {
                            break;
                        }
                        continue;
                    }
                },
            },
        };
        if done.send(msg).is_err() {
            break;
        }
    }
    service.return_engine(engine);
    Ok(())
}

/// Embeds the faces of the queued photos and sends each photo to the writer, without the
/// faces that match an objection; false once the writer has gone.
fn embed_queued(
    engine: &mut LoadedFaceEngine,
    batch: &mut FaceBatch,
    queued: &mut Vec<Queued>,
    opts: &IngestOptions,
    done: &Sender<ToWriter>,
) -> bool {
    let photos = std::mem::take(queued);
    if photos.is_empty() {
        return true;
    }
    let msgs: Vec<ToWriter> = match engine.embed_queued(batch) {
        Err(e) => photos
            .into_iter()
            .map(|Queued { item, .. }| ToWriter::Failed {
                message: format!("{}: {e}", item.uri),
                item,
                code: "model".into(),
            })
            .collect(),
        Ok(analyses) => photos
            .into_iter()
            .zip(analyses)
            .map(|(Queued { mut image, .. }, analysis)| {
                let mut templates = Vec::new();
                let before = analysis.faces.len();
                image.faces = analysis
                    .faces
                    .into_iter()
                    .filter(|f| f.template.as_ref().is_none_or(|t| !opts.objects_to(&t.0)))
                    .map(|f| {
                        let template = f.template.map(|t| {
                            let q = gabarit_index::quant::quantize(&t.0);
                            templates.push(t.0);
                            q
                        });
                        NewFace {
                            bbox: f.bbox,
                            landmarks: f.landmarks,
                            score: f.score,
                            quality: f.quality,
                            template,
                            moment: None,
                        }
                    })
                    .collect();
                let suppressed = before - image.faces.len();
                ToWriter::Analyzed { image: Box::new(image), templates, suppressed, video: None }
            })
            .collect(),
    };
    msgs.into_iter().all(|msg| done.send(msg).is_ok())
}

/// How well a face stands for its track: usable first, then a large, frontal, confident face.
fn track_quality(q: &Quality) -> f32 {
    let size = (q.size_px / 112.0).clamp(0.0, 1.0);
    let frontal = (1.0 - q.yaw_deg.abs() / 90.0).clamp(0.0, 1.0);
    f32::from(u8::from(q.usable)) + q.detector_score * size * frontal
}

/// Samples, analyses and tracks one video; the result is the whole video or an error.
fn analyze_video(
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
            .map_err(|e| ("model".to_string(), format!("{} at {:.3} s: {e}", item.uri, frame.time_s)))?;
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

/// Ingests the inputs into the collection, as the holder of `proof`: each stored batch is
/// audited (`ingest_batch`: the job, the images' ids, faces and templates) in its own
/// transaction, so a run stopped at any moment leaves no stored image without its entry.
pub(crate) fn ingest(
    service: &FaceService,
    store: &mut Store,
    proof: &Authorized<actions::Ingest>,
    opts: &IngestOptions,
    progress: &mut dyn FnMut(IngestProgress),
) -> Result<IngestReport> {
    let collection = store.catalog.collection(&opts.collection)?;
    if !proof.covers(collection.id) {
        return Err(gabarit_catalog::Error::NotFound { kind: "collection", name: collection.name }.into());
    }
    crate::store::check_collection_pack(&collection, &service.config().pack)?;
    crate::store::check_collection_engine(&collection, service.config().session.family())?;
    // The index first: a directory whose index another process holds fails before any work.
    let index = store.index(&collection.pack_key())?;
    let listing = list_inputs(&opts.inputs, &opts.budget)?;
    let items = listing.items;
    let total = items.len() + listing.skipped.len();
    let inputs: Vec<String> = opts.inputs.iter().map(|p| p.display().to_string()).collect();
    let job = store.catalog.begin_job(collection.id, &inputs)?;
    let started = Instant::now();
    let workers = service.config().workers.max(1);
    let (work_tx, work_rx) = bounded::<Work>(workers * 2);
    let (done_tx, done_rx) = bounded::<ToWriter>(opts.batch_size.max(1) * 2);
    let catalog_path = store.catalog.path().to_path_buf();
    let erased = store.catalog.erased_content()?;
    let clock = VideoClock::default();
    let mut report = IngestReport {
        job,
        collection: collection.name.clone(),
        files: total,
        ingested: 0,
        duplicates: 0,
        erased_on_request: 0,
        failed: Vec::new(),
        faces: 0,
        usable_faces: 0,
        suppressed_by_objection: 0,
        templates: 0,
        videos: 0,
        video_seconds: 0.0,
        sampled_frames: 0,
        sampled_faces: 0,
        tracks: 0,
        seconds: 0.0,
        files_per_s: 0.0,
        faces_per_s: 0.0,
    };
    let deadline = opts.budget.max_duration.map(|d| (started + d, d));
    let result = std::thread::scope(|scope| -> Result<()> {
        let reader = {
            let (done_tx, limits) = (done_tx.clone(), opts.limits);
            let (catalog_path, erased) = (&catalog_path, &erased);
            let skipped = listing.skipped;
            scope.spawn(move || {
                // What the walk refused is reported like a file that failed.
                for s in skipped {
                    let item = Item {
                        uri: s.uri,
                        source_uri: String::new(),
                        source_kind: "folder",
                        location: Location::File { path: PathBuf::new(), ident: None },
                    };
                    if done_tx.send(ToWriter::Failed { item, code: s.code.into(), message: s.message }).is_err() {
                        return Ok(());
                    }
                }
                let known = Known { catalog: Catalog::open(catalog_path)?, collection_id: collection.id, erased };
                read_all(items, &known, &limits, &work_tx, &done_tx)
            })
        };
        let mut analyzers = Vec::new();
        for _ in 0..workers {
            let (rx, tx) = (work_rx.clone(), done_tx.clone());
            let clock = &clock;
            analyzers.push(scope.spawn(move || analyze_all(service, opts, clock, rx, tx)));
        }
        drop((work_rx, done_tx));
        let written = write_all(
            store,
            proof.user(),
            job,
            (collection.id, &index),
            opts.batch_size.max(1),
            &done_rx,
            &mut report,
            (total, &clock, deadline),
            progress,
        );
        // Whatever happened, let the other stages finish before reporting.
        drop(done_rx);
        let read = reader.join().map_err(|_| Error::Worker("the reader panicked".into()))?;
        for a in analyzers {
            a.join().map_err(|_| Error::Worker("a worker panicked".into()))??;
        }
        written?;
        read
    });
    let state = if result.is_ok() { "done" } else { "failed" };
    index.flush()?;
    store.catalog.finish_job(job, state)?;
    result?;
    let secs = started.elapsed().as_secs_f64();
    report.seconds = secs;
    report.files_per_s = total as f64 / secs.max(1e-9);
    report.faces_per_s = report.faces as f64 / secs.max(1e-9);
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn write_all(
    store: &mut Store,
    actor: &str,
    job: u64,
    (collection_id, index): (u32, &SharedIndex),
    batch_size: usize,
    rx: &Receiver<ToWriter>,
    report: &mut IngestReport,
    (total, clock, deadline): (usize, &VideoClock, Option<(Instant, Duration)>),
    progress: &mut dyn FnMut(IngestProgress),
) -> Result<()> {
    let mut batch: Vec<ToWriter> = Vec::new();
    let mut done = 0usize;
    let mut last_flush = Instant::now();
    let mut last_video = (0.0, 0.0);
    let mut tell = |done: usize, faces: usize| {
        let (video_seconds_done, video_seconds_total) = clock.read();
        progress(IngestProgress { done, total, faces, video_seconds_done, video_seconds_total });
    };
    loop {
        let next = rx.recv_timeout(Duration::from_millis(200));
        let closed = matches!(next, Err(RecvTimeoutError::Disconnected));
        if let Ok(msg) = next {
            batch.push(msg);
        }
        let due = batch.len() >= batch_size
            || (!batch.is_empty() && (closed || last_flush.elapsed() > Duration::from_millis(500)));
        if due {
            done += batch.len();
            store_batch(store, actor, job, (collection_id, index), std::mem::take(&mut batch), report)?;
            last_flush = Instant::now();
            tell(done, report.faces);
            if let Some((at, budget)) = deadline
                && Instant::now() >= at
                && !closed
            {
                return Err(Error::Invalid(format!(
                    "the run's time budget of {} s was spent after {done} of {total} files: what is stored stays; run it again to go on",
                    budget.as_secs()
                )));
            }
        } else if clock.read() != last_video {
            // A long video moves the bar while no file finishes.
            last_video = clock.read();
            tell(done, report.faces);
        }
        if closed {
            return Ok(());
        }
    }
}

fn store_batch(
    store: &mut Store,
    actor: &str,
    job: u64,
    (collection_id, index): (u32, &SharedIndex),
    batch: Vec<ToWriter>,
    report: &mut IngestReport,
) -> Result<()> {
    let mut items = Vec::new();
    let mut templates = Vec::new();
    let mut tallies = Vec::new();
    for msg in batch {
        match msg {
            ToWriter::Duplicate { item } => {
                store.catalog.record_outcome(job, &item.uri, "duplicate", "same content already in the collection")?;
                report.duplicates += 1;
            }
            ToWriter::Failed { item, code, message } => {
                report.erased_on_request += usize::from(code == ERASED_ON_REQUEST);
                report.failed.push(SkippedFile { uri: item.uri.clone(), code: code.clone(), message: message.clone() });
                items.push(BatchItem::Failed { uri: item.uri, code, message });
                templates.push(Vec::new());
                tallies.push(None);
            }
            ToWriter::Analyzed { image, templates: t, suppressed, video } => {
                report.suppressed_by_objection += suppressed;
                items.push(BatchItem::Image(*image));
                templates.push(t);
                tallies.push(video);
            }
        }
    }
    if items.is_empty() {
        return Ok(());
    }
    let (outcomes, _) = store.catalog.audited(actor, "ingest_batch", |tx| {
        let outcomes = tx.store_batch(job, collection_id, &items)?;
        let mut images = Vec::new();
        let (mut faces, mut templates, mut failed, mut duplicates) = (0usize, 0usize, 0usize, 0usize);
        for (o, item) in outcomes.iter().zip(&items) {
            match (o, item) {
                (StoreOutcome::Inserted { image_id, template_faces }, BatchItem::Image(img)) => {
                    images.push(*image_id);
                    faces += img.faces.len();
                    templates += template_faces.len();
                }
                (StoreOutcome::Duplicate, _) => duplicates += 1,
                (StoreOutcome::Failed, _) | (StoreOutcome::Inserted { .. }, BatchItem::Failed { .. }) => failed += 1,
            }
        }
        let detail = serde_json::json!({"job": job, "collection": collection_id, "images": images,
            "faces": faces, "templates": templates, "failed": failed, "duplicates": duplicates});
        Ok((outcomes, detail))
    })?;
    for (((outcome, item), vectors), tally) in outcomes.iter().zip(&items).zip(templates).zip(tallies) {
        match (outcome, item) {
            (StoreOutcome::Inserted { template_faces, .. }, BatchItem::Image(img)) => {
                report.ingested += 1;
                if let Some(t) = tally {
                    report.videos += 1;
                    report.video_seconds += t.seconds;
                    report.sampled_frames += t.frames;
                    report.sampled_faces += t.faces;
                    report.tracks += t.tracks;
                }
                report.faces += img.faces.len();
                report.usable_faces += img.faces.iter().filter(|f| f.quality.usable).count();
                let mut index = index.write();
                for (face_id, v) in template_faces.iter().zip(&vectors) {
                    index.insert(*face_id, collection_id, v)?;
                    report.templates += 1;
                }
            }
            (StoreOutcome::Duplicate, _) => report.duplicates += 1,
            (StoreOutcome::Failed, _) | (StoreOutcome::Inserted { .. }, BatchItem::Failed { .. }) => {}
        }
    }
    Ok(())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

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
