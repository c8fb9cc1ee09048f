//! Files into faces: [`FaceService`] runs a pool of workers, each with its own detector and
//! embedder sessions; it decodes and analyses photos in parallel (decoding, detection and
//! embedding of different photos overlap) and hands results back in input order. A bad file
//! yields a [`FileError`] for that file and the batch goes on. [`FaceServices`] holds one
//! service per model pack and engine family a data directory's collections use.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use gabarit_inference::{LoadedFaceEngine, Pack, SessionOptions};
pub use gabarit_media::DecodeLimits;
use gabarit_media::decode_file;
use gabarit_pipeline::{DetectorInput, FaceBatch, MAX_PHOTOS_GATHERED, StageTimes};
use gabarit_types::Face;
use serde::Serialize;

use crate::store;
use crate::{Error, Result};

/// Why one file produced no result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    /// Stable code (`corrupt_image`, `too_many_pixels`, `model`…).
    pub code: String,
    /// Human-readable message naming the file.
    pub message: String,
}

impl FileError {
    /// The code of a failure of the face models on a file that decoded: not the file's fault.
    pub const MODEL: &'static str = "model";
}

/// The faces of one photo.
#[derive(Debug, Clone)]
pub struct ImageFaces {
    /// Width after EXIF orientation.
    pub width: u32,
    /// Height after EXIF orientation.
    pub height: u32,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Faces, highest detector score first.
    pub faces: Vec<Face>,
    /// Per-stage wall time.
    pub times: StageTimes,
}

impl ImageFaces {
    /// The face to use when one face stands for the photo: the largest usable face, else the
    /// largest face.
    pub fn best_face(&self) -> Option<&Face> {
        let by_area = |a: &&Face, b: &&Face| a.bbox.area().total_cmp(&b.bbox.area());
        self.faces.iter().filter(|f| f.quality.usable).max_by(by_area).or_else(|| self.faces.iter().max_by(by_area))
    }
}

/// Configuration of a [`FaceService`].
#[derive(Debug, Clone)]
pub struct FaceServiceConfig {
    /// Directory holding the runtime library and the pack's models.
    pub models_dir: PathBuf,
    /// The model pack.
    pub pack: Pack,
    /// Parallel workers, each with its own sessions.
    pub workers: usize,
    /// ONNX Runtime options per session.
    pub session: SessionOptions,
    /// Decoding limits.
    pub limits: DecodeLimits,
    /// Overrides the pack's detector input sizing.
    pub detector_input: Option<DetectorInput>,
}

/// The face services of the model packs a data directory's collections use, each loaded the
/// first time a use case needs it (model loading is paid once per pack), all with the same
/// workers, threads and limits. The pack of its configuration is the default: the one a new
/// collection gets, and the one a query photo is shown with.
pub struct FaceServices {
    config: FaceServiceConfig,
    loaded: Mutex<Vec<std::sync::Arc<FaceService>>>,
}

impl FaceServices {
    /// The services, none loaded yet.
    pub fn new(config: FaceServiceConfig) -> Self {
        FaceServices { config, loaded: Mutex::new(Vec::new()) }
    }

    /// The default pack.
    pub fn default_pack(&self) -> &Pack {
        &self.config.pack
    }

    /// The configuration every service is made with (its pack: the default).
    pub fn config(&self) -> &FaceServiceConfig {
        &self.config
    }

    /// The service making the templates of `pack`: the default pack's or a built-in one's, as
    /// this build makes them; refused when this build makes that pack's templates otherwise
    /// than the ones recorded (they would not compare).
    pub fn get(&self, pack: &gabarit_catalog::PackKey) -> Result<std::sync::Arc<FaceService>> {
        self.get_on(pack, self.config.session.family())
    }

    /// The service adding templates to `collection`: its pack, on the backend and precision
    /// its templates come from (whatever this configuration's are), so that all of its
    /// templates come from one.
    pub fn for_collection(&self, collection: &gabarit_catalog::Collection) -> Result<std::sync::Arc<FaceService>> {
        self.get_on(&collection.pack_key(), store::collection_engine(collection)?)
    }

    /// The service of `pack` on the engine family `family`, loaded once.
    fn get_on(
        &self,
        pack: &gabarit_catalog::PackKey,
        family: gabarit_inference::EngineFamily,
    ) -> Result<std::sync::Arc<FaceService>> {
        let mut loaded = self.loaded.lock().map_err(|_| Error::Worker("face services poisoned".into()))?;
        if let Some(s) =
            loaded.iter().find(|s| store::pack_key(&s.config.pack) == *pack && s.config.session.family() == family)
        {
            return Ok(s.clone());
        }
        let made =
            if store::pack_key(&self.config.pack) == *pack { self.config.pack.clone() } else { store::pack_of(pack)? };
        let session = gabarit_inference::SessionOptions {
            backend: family.backend,
            precision: family.precision,
            ..self.config.session
        };
        let service =
            std::sync::Arc::new(FaceService::new(FaceServiceConfig { pack: made, session, ..self.config.clone() })?);
        loaded.push(service.clone());
        Ok(service)
    }
}

/// Analyses photo files with a pool of face engines (one per worker, created once and reused
/// across calls, so model loading is paid once). A caller finding every engine busy waits for
/// one: however many requests arrive, at most `workers` engines exist (memory stays bounded).
pub struct FaceService {
    config: FaceServiceConfig,
    engines: Mutex<Vec<LoadedFaceEngine>>,
    returned: std::sync::Condvar,
}

impl FaceService {
    /// Loads one engine per worker (checking the models' hashes), then returns the service.
    pub fn new(config: FaceServiceConfig) -> Result<Self> {
        let engines = (0..config.workers.max(1)).map(|_| open(&config)).collect::<Result<Vec<_>>>()?;
        Ok(FaceService { config, engines: Mutex::new(engines), returned: std::sync::Condvar::new() })
    }

    pub(crate) fn take_engine(&self) -> Result<LoadedFaceEngine> {
        let poisoned = |_| Error::Worker("engine pool poisoned".into());
        let mut pool = self.engines.lock().map_err(poisoned)?;
        loop {
            if let Some(engine) = pool.pop() {
                return Ok(engine);
            }
            pool = self.returned.wait(pool).map_err(poisoned)?;
        }
    }

    pub(crate) fn return_engine(&self, engine: LoadedFaceEngine) {
        if let Ok(mut pool) = self.engines.lock() {
            pool.push(engine);
            self.returned.notify_one();
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FaceServiceConfig {
        &self.config
    }

    /// Analyses one photo (with templates); a file error becomes [`Error::File`].
    pub fn analyze_photo(&self, photo: &Path) -> Result<ImageFaces> {
        let mut analysed = None;
        self.analyze_files(&[photo.to_path_buf()], true, |_, _, r| analysed = Some(r))?;
        match analysed {
            Some(Ok(img)) => Ok(img),
            Some(Err(e)) => Err(Error::File(e)),
            None => Err(Error::Internal(format!("{}: not analysed", photo.display()))),
        }
    }

    /// The templates of faces already found in `pixels` (their stored boxes and landmarks):
    /// aligned and embedded by this service's pack, without detecting again, so that a face
    /// keeps its identity and provenance when its collection changes pack.
    pub fn embed_found(&self, pixels: &image::RgbImage, found: &[gabarit_types::Detection]) -> Result<Vec<Vec<f32>>> {
        let mut engine = self.take_engine()?;
        let described = engine.describe(pixels, found, true, &mut StageTimes::default());
        self.return_engine(engine);
        described
            .map_err(|e| Error::Model(e.to_string()))?
            .into_iter()
            .map(|f| f.template.map(|t| t.0).ok_or_else(|| Error::Model("a face was not embedded".into())))
            .collect()
    }

    /// Analyses `paths` in parallel and calls `sink(index, path, result)` for each in input
    /// order. `embed` computes templates as well as detections.
    pub fn analyze_files(
        &self,
        paths: &[PathBuf],
        embed: bool,
        mut sink: impl FnMut(usize, &Path, std::result::Result<ImageFaces, FileError>),
    ) -> Result<()> {
        let workers = self.config.workers.clamp(1, paths.len().max(1));
        let next = AtomicUsize::new(0);
        let (tx, rx) = crossbeam_channel::bounded(workers * 4 * MAX_PHOTOS_GATHERED);
        std::thread::scope(|scope| -> Result<()> {
            let mut handles = Vec::new();
            for _ in 0..workers {
                let tx = tx.clone();
                let next = &next;
                let config = &self.config;
                handles.push(scope.spawn(move || -> Result<()> {
                    let mut engine = self.take_engine()?;
                    let mut gathered = Gathered::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let path = paths.get(i);
                        if let Some(path) = path {
                            gathered.add(&mut engine, i, path, &config.limits);
                        }
                        // Photos are taken one at a time, so the workers finish together.
                        if path.is_none() || !embed || !engine.wants_more(&gathered.batch) {
                            let results = gathered.finish(&mut engine, paths, embed);
                            if results.into_iter().any(|sent| tx.send(sent).is_err()) {
                                break;
                            }
                        }
                        if path.is_none() {
                            break;
                        }
                    }
                    self.return_engine(engine);
                    Ok(())
                }));
            }
            drop(tx);
            // Re-order: results arrive as workers finish them.
            let mut pending = std::collections::BTreeMap::new();
            let mut emitted = 0;
            for (i, result) in rx {
                pending.insert(i, result);
                while let Some(result) = pending.remove(&emitted) {
                    sink(emitted, &paths[emitted], result);
                    emitted += 1;
                }
            }
            for h in handles {
                h.join().map_err(|_| Error::Worker("a worker panicked".into()))??;
            }
            Ok(())
        })
    }
}

fn open(config: &FaceServiceConfig) -> Result<LoadedFaceEngine> {
    let mut engine = gabarit_inference::open_engine(&config.models_dir, &config.pack, config.session)?;
    if let Some(input) = config.detector_input {
        engine.set_detector_input(input);
    }
    Ok(engine)
}

/// Photos one worker has detected and aligned, whose faces wait to be embedded together
/// (see [`FaceBatch`]), with what is known of each (or why it failed).
#[derive(Default)]
struct Gathered {
    batch: FaceBatch,
    /// Each photo's place in the caller's list, and what was known of it before embedding.
    photos: Vec<(usize, std::result::Result<Decoded, FileError>)>,
}

/// A gathered photo's size, hash and decoding time (its pixels are gone).
struct Decoded {
    width: u32,
    height: u32,
    sha256: String,
    decode: std::time::Duration,
}

impl Gathered {
    /// Decodes, detects and aligns photo `index` (its pixels are dropped after).
    fn add(&mut self, engine: &mut LoadedFaceEngine, index: usize, path: &Path, limits: &DecodeLimits) {
        let t0 = Instant::now();
        let known = decode_file(path, limits)
            .map_err(|e| FileError { code: e.code().into(), message: e.to_string() })
            .and_then(|img| {
                let decode = t0.elapsed();
                engine.queue(&mut self.batch, &img.rgb).map_err(|e| model_error(path, &e))?;
                Ok(Decoded { width: img.width(), height: img.height(), sha256: img.sha256, decode })
            });
        self.photos.push((index, known));
    }

    /// Embeds the gathered faces (if `embed`) and returns each photo's result by its place;
    /// an embedding error fails every photo gathered.
    fn finish(
        &mut self,
        engine: &mut LoadedFaceEngine,
        paths: &[PathBuf],
        embed: bool,
    ) -> Vec<(usize, std::result::Result<ImageFaces, FileError>)> {
        let analysed = if embed { engine.embed_queued(&mut self.batch) } else { Ok(self.batch.take_unembedded()) };
        let mut analyses = analysed.map(Vec::into_iter).map_err(|e| e.to_string());
        self.photos
            .drain(..)
            .map(|(i, known)| {
                let result = known.and_then(|Decoded { width, height, sha256, decode }| {
                    let analysis = match &mut analyses {
                        Ok(each) => each.next().ok_or_else(|| "not analysed".to_string()),
                        Err(e) => Err(e.clone()),
                    };
                    let mut analysis = analysis.map_err(|e| model_error(&paths[i], &e))?;
                    analysis.times.decode = decode;
                    Ok(ImageFaces { width, height, sha256, faces: analysis.faces, times: analysis.times })
                });
                (i, result)
            })
            .collect()
    }
}

fn model_error(path: &Path, e: &dyn std::fmt::Display) -> FileError {
    FileError { code: FileError::MODEL.into(), message: format!("{}: {e}", path.display()) }
}

/// The faces of the photo at `path`, and its decoded pixels (upright).
pub(crate) fn analyze_decoded(
    engine: &mut LoadedFaceEngine,
    path: &Path,
    limits: &DecodeLimits,
    embed: bool,
) -> std::result::Result<(ImageFaces, image::RgbImage), FileError> {
    let t0 = Instant::now();
    let img = decode_file(path, limits).map_err(|e| FileError { code: e.code().into(), message: e.to_string() })?;
    let decode = t0.elapsed();
    let mut analysis = engine.analyze(&img.rgb, embed).map_err(|e| model_error(path, &e))?;
    analysis.times.decode = decode;
    let faces = ImageFaces {
        width: img.width(),
        height: img.height(),
        sha256: img.sha256,
        faces: analysis.faces,
        times: analysis.times,
    };
    Ok((faces, img.rgb))
}
