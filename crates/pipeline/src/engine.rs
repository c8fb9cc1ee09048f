//! The face engine: one photo in, faces with quality and templates out, timed per stage.

use std::time::{Duration, Instant};

use gabarit_types::{Detection, Face, Template};
use image::RgbImage;
use serde::Serialize;

use crate::{
    DetectorKind, DetectorModel, EmbedderModel, EngineConfig, Result, align, l2_normalize, letterbox, quality, scrfd,
    yunet,
};

/// Wall time spent in each stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageTimes {
    /// Decoding (filled in by the caller, who reads the file).
    pub decode: Duration,
    /// Resizing and normalising into the detector input.
    pub det_pre: Duration,
    /// Detector network.
    pub det_infer: Duration,
    /// Anchor decoding and NMS.
    pub det_post: Duration,
    /// Similarity transform, warp and normalisation into the embedder input, quality.
    pub align: Duration,
    /// Embedder network.
    pub emb_infer: Duration,
    /// Normalising the embeddings.
    pub emb_post: Duration,
}

impl StageTimes {
    /// Time inside the two networks.
    pub fn model(&self) -> Duration {
        self.det_infer + self.emb_infer
    }
    /// Time in every stage.
    pub fn total(&self) -> Duration {
        self.decode + self.det_pre + self.det_infer + self.det_post + self.align + self.emb_infer + self.emb_post
    }
    /// Adds another image's times.
    pub fn add(&mut self, o: &StageTimes) {
        self.decode += o.decode;
        self.det_pre += o.det_pre;
        self.det_infer += o.det_infer;
        self.det_post += o.det_post;
        self.align += o.align;
        self.emb_infer += o.emb_infer;
        self.emb_post += o.emb_post;
    }
}

/// The faces of one photo and the time each stage took.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Faces in decreasing detector score.
    pub faces: Vec<Face>,
    /// Stage timings.
    pub times: StageTimes,
}

/// At most this many photos wait in a [`FaceBatch`] (their results wait with them).
pub const MAX_PHOTOS_GATHERED: usize = 8;

/// Photos whose faces are found and aligned, waiting to be embedded together: the embedder
/// then runs on the faces of several photos per call (fewer, fuller calls, which pays on
/// backends whose cost per call is high). Filled by [`FaceEngine::queue`], emptied by
/// [`FaceEngine::embed_queued`]; reuse one to keep its buffer.
#[derive(Debug, Default)]
pub struct FaceBatch {
    /// The aligned crops of every queued face, in queue order (both views when flip averaging).
    crops: Vec<f32>,
    /// Each queued photo's faces (templates not yet computed) and times.
    photos: Vec<Analysis>,
}

impl FaceBatch {
    /// Photos queued.
    pub fn len(&self) -> usize {
        self.photos.len()
    }
    /// Whether no photo is queued.
    pub fn is_empty(&self) -> bool {
        self.photos.is_empty()
    }
    /// Faces queued, all photos together.
    pub fn faces(&self) -> usize {
        self.photos.iter().map(|a| a.faces.len()).sum()
    }
    /// Each queued photo's analysis without templates (detection only), in queue order;
    /// the batch is left empty.
    pub fn take_unembedded(&mut self) -> Vec<Analysis> {
        self.crops.clear();
        std::mem::take(&mut self.photos)
    }
}

/// Runs detection, alignment and embedding with one detector and one embedder instance.
/// Not shared between threads: build one per worker.
pub struct FaceEngine<D, E> {
    detector: D,
    embedder: E,
    config: EngineConfig,
    det_input: Vec<f32>,
}

impl<D: DetectorModel, E: EmbedderModel> FaceEngine<D, E> {
    /// An engine over the given models.
    pub fn new(detector: D, embedder: E, config: EngineConfig) -> Self {
        FaceEngine { detector, embedder, config, det_input: Vec::new() }
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Changes the detector input sizing (for evaluation and benchmarks).
    pub fn set_detector_input(&mut self, input: crate::DetectorInput) {
        self.config.detector.input = input;
    }

    /// How many faces one embedder call takes at most (whole faces: both views of a face
    /// when flip averaging count as one).
    fn faces_per_call(&self) -> usize {
        (self.config.embedder.max_batch / self.config.embedder.views()).max(1)
    }

    /// Whether `batch` should take another photo before its faces are embedded: it holds
    /// fewer faces than the embedder's [`EmbedderModel::faces_worth_gathering`] and fewer than
    /// [`MAX_PHOTOS_GATHERED`] photos.
    pub fn wants_more(&self, batch: &FaceBatch) -> bool {
        batch.len() < MAX_PHOTOS_GATHERED && batch.faces() < self.embedder.faces_worth_gathering()
    }

    /// Finds the faces in `img`.
    pub fn detect(&mut self, img: &RgbImage, times: &mut StageTimes) -> Result<Vec<Detection>> {
        let spec = &self.config.detector;
        let t0 = Instant::now();
        let plan = letterbox::plan(img.width(), img.height(), spec.input);
        letterbox::fill_tensor(img, &plan, spec.channels, spec.mean, spec.std, &mut self.det_input);
        let t1 = Instant::now();
        let outputs = self.detector.run(&self.det_input, plan.input_height as usize, plan.input_width as usize)?;
        let t2 = Instant::now();
        let dets = match spec.kind {
            DetectorKind::Scrfd => scrfd::decode(&outputs, &plan, spec)?,
            DetectorKind::Yunet => yunet::decode(&outputs, &plan, spec)?,
        };
        let t3 = Instant::now();
        times.det_pre += t1 - t0;
        times.det_infer += t2 - t1;
        times.det_post += t3 - t2;
        Ok(dets)
    }

    /// Aligns the detections `dets` of `img` into `batch` as one more photo, with their
    /// quality assessed and no template yet.
    fn align_into(&self, batch: &mut FaceBatch, img: &RgbImage, dets: &[Detection], mut times: StageTimes) {
        let spec = &self.config.embedder;
        let size = spec.size as usize;
        let per_face = 3 * size * size;
        let views = spec.views();
        let t0 = Instant::now();
        let first = batch.crops.len();
        batch.crops.resize(first + per_face * views * dets.len(), 0.0);
        let mut faces = Vec::with_capacity(dets.len());
        for (det, crops) in dets.iter().zip(batch.crops[first..].chunks_exact_mut(per_face * views)) {
            let (crop, mirror) = crops.split_at_mut(per_face);
            let m = align::umeyama(&det.landmarks.0, &spec.template);
            align::warp_into(img, &m, spec.size, spec.mean, spec.std, crop);
            if views == 2 {
                align::mirror_into(crop, size, mirror);
            }
            let grey = quality::grey_from_tensor(crop, size, spec.mean, spec.std);
            let sharpness = quality::laplacian_variance(&grey, size);
            faces.push(Face {
                bbox: det.bbox,
                landmarks: det.landmarks,
                score: det.score,
                quality: quality::assess(det, sharpness, &self.config.quality),
                template: None,
            });
        }
        times.align += t0.elapsed();
        batch.photos.push(Analysis { faces, times });
    }

    /// Detects and aligns the faces of `img` into `batch`, to be embedded with the faces of
    /// the other photos queued there by [`FaceEngine::embed_queued`]. The pixels are not
    /// needed after this call.
    pub fn queue(&mut self, batch: &mut FaceBatch, img: &RgbImage) -> Result<()> {
        let mut times = StageTimes::default();
        let dets = self.detect(img, &mut times)?;
        self.align_into(batch, img, &dets, times);
        Ok(())
    }

    /// Embeds every face queued in `batch`, up to the embedder's `max_batch` crops per call, and returns each queued photo's analysis in queue order; `batch` is left
    /// empty (an error empties it too: its photos are lost together). A photo's embedding
    /// time is its share of its calls', by faces.
    pub fn embed_queued(&mut self, batch: &mut FaceBatch) -> Result<Vec<Analysis>> {
        let crops = std::mem::take(&mut batch.crops);
        let mut photos = std::mem::take(&mut batch.photos);
        let embedded = self.embed_crops(&crops, &mut photos);
        batch.crops = crops;
        batch.crops.clear();
        embedded.map(|()| photos)
    }

    fn embed_crops(&mut self, crops: &[f32], photos: &mut [Analysis]) -> Result<()> {
        let spec = &self.config.embedder;
        let (size, dim) = (spec.size as usize, spec.dim);
        let views = spec.views();
        let per_face = 3 * size * size * views;
        let faces_per_call = self.faces_per_call();
        let total_faces = crops.len() / per_face;
        // Each face's slot: (photo, face within it), in queue order.
        let slots: Vec<(usize, usize)> =
            photos.iter().enumerate().flat_map(|(p, a)| (0..a.faces.len()).map(move |f| (p, f))).collect();
        debug_assert_eq!(slots.len(), total_faces);
        for (call, chunk) in crops.chunks(per_face * faces_per_call).enumerate() {
            let n = chunk.len() / per_face;
            let t1 = Instant::now();
            let raw = self.embedder.run(chunk, n * views)?;
            let t2 = Instant::now();
            if raw.len() != n * views * dim {
                return Err(crate::Error::Model {
                    model: "embedder",
                    detail: format!("expected {} x {dim} values, got {}", n * views, raw.len()),
                });
            }
            let call_slots = &slots[call * faces_per_call..call * faces_per_call + n];
            for (&(p, f), views_of_face) in call_slots.iter().zip(raw.chunks_exact(dim * views)) {
                let mut v = views_of_face[..dim].to_vec();
                for other in views_of_face[dim..].chunks_exact(dim) {
                    v.iter_mut().zip(other).for_each(|(a, b)| *a += b);
                }
                l2_normalize(&mut v);
                photos[p].faces[f].template = Some(Template(v));
            }
            // Each photo pays for its faces' share of the call.
            let (infer, post) = (t2 - t1, t2.elapsed());
            for &(p, _) in call_slots {
                photos[p].times.emb_infer += infer / n as u32;
                photos[p].times.emb_post += post / n as u32;
            }
        }
        Ok(())
    }

    /// Aligns, assesses and (if `embed`) embeds the given detections of `img`.
    pub fn describe(
        &mut self,
        img: &RgbImage,
        dets: &[Detection],
        embed: bool,
        times: &mut StageTimes,
    ) -> Result<Vec<Face>> {
        let mut batch = FaceBatch::default();
        self.align_into(&mut batch, img, dets, StageTimes::default());
        let mut photos = if embed { self.embed_queued(&mut batch)? } else { batch.take_unembedded() };
        let analysis = photos.pop().unwrap_or_default();
        times.add(&analysis.times);
        Ok(analysis.faces)
    }

    /// Turns flip averaging on or off (for evaluation).
    pub fn set_flip_average(&mut self, on: bool) {
        self.config.embedder.flip_average = on;
    }

    /// Detects and describes every face of `img`.
    pub fn analyze(&mut self, img: &RgbImage, embed: bool) -> Result<Analysis> {
        let mut times = StageTimes::default();
        let dets = self.detect(img, &mut times)?;
        let faces = self.describe(img, &dets, embed, &mut times)?;
        Ok(Analysis { faces, times })
    }
}
