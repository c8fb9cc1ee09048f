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
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded};
use gabarit_catalog::{JobPart, NewFace, NewImage};
use gabarit_governance::{Authorized, actions};
use gabarit_media::{DecodeLimits, decode_bytes, exif_info, sha256_hex};
pub use gabarit_video::{Sampling, TrackerOptions, VideoLimits};
use serde::Serialize;
use sha2::Digest;

mod reader;
mod video;
mod writer;

use reader::{Known, read_all};
use video::{VideoClock, analyze_video};
use writer::{dot, write_all};

use crate::store::Store;
use crate::walk::{Budget, Item, Location, list_inputs};
use crate::{Error, FaceService, FileError, Result};
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
    /// The part of the inputs' files this run ingests (an ingestion queued in parts, each run
    /// by any worker); `None`: all of them.
    pub part: Option<JobPart>,
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The people grouping that followed, where the collection's governance groups faces
    /// (its report, or why it did not run); null elsewhere.
    pub grouping: Option<crate::people::GroupingAfterIngest>,
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
                    Err(e) => {
                        ToWriter::Failed { message: format!("{}: {e}", item.uri), item, code: FileError::MODEL.into() }
                    }
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
                code: FileError::MODEL.into(),
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
    let mut listing = list_inputs(&opts.inputs, &opts.budget)?;
    if let Some(part) = opts.part {
        listing.items.retain(|item| part.takes(&item.uri));
        listing.skipped.retain(|skipped| part.takes(&skipped.uri));
    }
    let items = listing.items;
    let total = items.len() + listing.skipped.len();
    let inputs: Vec<String> = opts.inputs.iter().map(|p| p.display().to_string()).collect();
    let job = store.catalog.begin_job(collection.id, &inputs)?;
    let started = Instant::now();
    let workers = service.config().workers.max(1);
    let (work_tx, work_rx) = bounded::<Work>(workers * 2);
    let (done_tx, done_rx) = bounded::<ToWriter>(opts.batch_size.max(1) * 2);
    // The reader's own connection (it looks up the files already stored while the writer writes).
    let reader_catalog = store.handle()?.catalog;
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
        grouping: None,
    };
    let deadline = opts.budget.max_duration.map(|d| (started + d, d));
    let result = std::thread::scope(|scope| -> Result<()> {
        let reader = {
            let (done_tx, limits) = (done_tx.clone(), opts.limits);
            let erased = &erased;
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
                let known = Known { catalog: reader_catalog, collection_id: collection.id, erased };
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
