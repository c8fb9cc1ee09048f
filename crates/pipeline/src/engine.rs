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
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Faces in decreasing detector score.
    pub faces: Vec<Face>,
    /// Stage timings.
    pub times: StageTimes,
}

/// Runs detection, alignment and embedding with one detector and one embedder instance.
/// Not shared between threads: build one per worker.
pub struct FaceEngine<D, E> {
    detector: D,
    embedder: E,
    config: EngineConfig,
    det_input: Vec<f32>,
    emb_input: Vec<f32>,
}

impl<D: DetectorModel, E: EmbedderModel> FaceEngine<D, E> {
    /// An engine over the given models.
    pub fn new(detector: D, embedder: E, config: EngineConfig) -> Self {
        FaceEngine { detector, embedder, config, det_input: Vec::new(), emb_input: Vec::new() }
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Changes the detector input sizing (for evaluation and benchmarks).
    pub fn set_detector_input(&mut self, input: crate::DetectorInput) {
        self.config.detector.input = input;
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

    /// Aligns, assesses and (if `embed`) embeds the given detections of `img`.
    pub fn describe(
        &mut self,
        img: &RgbImage,
        dets: &[Detection],
        embed: bool,
        times: &mut StageTimes,
    ) -> Result<Vec<Face>> {
        let spec = self.config.embedder.clone();
        let size = spec.size as usize;
        let per_face = 3 * size * size;
        // With flip averaging each face has two crops: itself and its mirror image.
        let views = if spec.flip_average { 2 } else { 1 };
        let t0 = Instant::now();
        self.emb_input.clear();
        self.emb_input.resize(per_face * views * dets.len(), 0.0);
        let mut faces = Vec::with_capacity(dets.len());
        for (det, crops) in dets.iter().zip(self.emb_input.chunks_exact_mut(per_face * views)) {
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
        if !embed || faces.is_empty() {
            return Ok(faces);
        }
        let dim = spec.dim;
        // A batch holds whole faces (both views when flip averaging).
        let faces_per_batch = (spec.max_batch / views).max(1);
        for (chunk_idx, chunk) in self.emb_input.chunks(per_face * views * faces_per_batch).enumerate() {
            let n = chunk.len() / per_face;
            let t1 = Instant::now();
            let raw = self.embedder.run(chunk, n)?;
            let t2 = Instant::now();
            if raw.len() != n * dim {
                return Err(crate::Error::Model {
                    model: "embedder",
                    detail: format!("expected {n} x {dim} values, got {}", raw.len()),
                });
            }
            for (j, views_of_face) in raw.chunks_exact(dim * views).enumerate() {
                let mut v = views_of_face[..dim].to_vec();
                for other in views_of_face[dim..].chunks_exact(dim) {
                    v.iter_mut().zip(other).for_each(|(a, b)| *a += b);
                }
                l2_normalize(&mut v);
                faces[chunk_idx * faces_per_batch + j].template = Some(Template(v));
            }
            times.emb_infer += t2 - t1;
            times.emb_post += t2.elapsed();
        }
        Ok(faces)
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
