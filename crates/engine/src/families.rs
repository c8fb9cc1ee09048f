//! Which engine family (backend and precision) makes templates by default on this machine,
//! chosen by measurement (`gabarit models check`): every family the machine offers runs the
//! installed packs on the same photos, one worker on one thread; its faces are compared with
//! ONNX Runtime f32's (the reference: the same faces in each photo, boxes within
//! [`PARITY_BOX_PX`], templates at cosine [`PARITY_COSINE_F32`] or, in bf16,
//! [`PARITY_COSINE_BF16`]) and its passes are timed. The fastest family that passes is the
//! choice, recorded with `gabarit_inference::choice`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use gabarit_inference::choice::{FamilyTrial, MeasuredChoice, available_families, cpu_model};
use gabarit_inference::{EngineFamily, Pack, Precision, SessionOptions};
use gabarit_media::DecodeLimits;
use gabarit_types::Face;

use crate::{Error, FaceService, FaceServiceConfig, Result};

/// Largest difference of a box coordinate from ONNX Runtime f32's, in pixels.
pub const PARITY_BOX_PX: f32 = 0.5;
/// Lowest cosine of an f32 family's template with ONNX Runtime f32's.
pub const PARITY_COSINE_F32: f32 = 0.999;
/// Lowest cosine of a bf16 family's template with ONNX Runtime f32's.
pub const PARITY_COSINE_BF16: f32 = 0.99;
/// Timed passes over the photos after the first (untimed: it loads and compiles); the best
/// counts.
const TIMED_PASSES: usize = 2;

/// One pack's faces on one family: per photo, (box, template).
type PhotoFaces = Vec<Vec<([f32; 4], Vec<f32>)>>;

/// Measures every family available in `models_dir` on `photos` with each of `packs` and
/// returns the measurements and the choice (not recorded: see
/// `gabarit_inference::choice::record_choice`). `progress` hears each family as it starts.
pub fn measure_families(
    models_dir: &Path,
    packs: &[Pack],
    photos: &[PathBuf],
    limits: DecodeLimits,
    mut progress: impl FnMut(EngineFamily),
) -> Result<MeasuredChoice> {
    if photos.is_empty() || packs.is_empty() {
        return Err(Error::field("photos", "measuring the engine families needs at least one photo and one pack"));
    }
    let families = available_families(models_dir)?;
    let mut reference: Vec<PhotoFaces> = Vec::new();
    let mut trials = Vec::new();
    for family in families {
        progress(family);
        let mut trial = FamilyTrial {
            family: family.to_string(),
            faces: 0,
            worst_box_px: 0.0,
            worst_cosine: 1.0,
            ms_per_photo: 0.0,
            failure: None,
        };
        for (p, pack) in packs.iter().enumerate() {
            let service = FaceService::new(FaceServiceConfig {
                models_dir: models_dir.to_path_buf(),
                pack: pack.clone(),
                workers: 1,
                session: SessionOptions {
                    threads: 1,
                    spin: false,
                    backend: family.backend,
                    precision: family.precision,
                },
                limits,
                detector_input: None,
            })?;
            let faces = analyse(&service, photos)?;
            let mut best = f64::INFINITY;
            for _ in 0..TIMED_PASSES {
                let t = Instant::now();
                analyse(&service, photos)?;
                best = best.min(t.elapsed().as_secs_f64());
            }
            trial.ms_per_photo += best * 1000.0 / photos.len() as f64;
            match reference.get(p) {
                None => {
                    trial.faces += faces.iter().map(Vec::len).sum::<usize>();
                    reference.push(faces);
                }
                Some(want) => compare(&mut trial, &pack.name, photos, want, &faces, family.precision),
            }
        }
        trials.push(trial);
    }
    let family = trials
        .iter()
        .filter(|t| t.failure.is_none())
        .min_by(|a, b| a.ms_per_photo.total_cmp(&b.ms_per_photo))
        .map(|t| t.family.clone())
        .ok_or_else(|| Error::Model("no engine family was measured".into()))?;
    Ok(MeasuredChoice {
        cpu: cpu_model(),
        packs: packs.iter().map(|p| p.name.clone()).collect(),
        photos: photos.len(),
        family,
        trials,
    })
}

/// Each photo's faces with templates; a photo that cannot be analysed is an error naming it.
fn analyse(service: &FaceService, photos: &[PathBuf]) -> Result<PhotoFaces> {
    let mut out = vec![Vec::new(); photos.len()];
    let mut failed = None;
    service.analyze_files(photos, true, |i, path, result| match result {
        Ok(img) => out[i] = img.faces.iter().filter_map(face_entry).collect(),
        Err(e) => failed = failed.take().or(Some(format!("{}: {}", path.display(), e.message))),
    })?;
    match failed {
        Some(message) => Err(Error::Invalid(message)),
        None => Ok(out),
    }
}

fn face_entry(face: &Face) -> Option<([f32; 4], Vec<f32>)> {
    let b = face.bbox;
    face.template.as_ref().map(|t| ([b.x1, b.y1, b.x2, b.y2], t.0.clone()))
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b)).max(f32::MIN_POSITIVE)
}

/// Pairs each reference face with the other family's face of nearest box and records the
/// worst box difference and cosine, and the first reason the family fails.
fn compare(
    trial: &mut FamilyTrial,
    pack: &str,
    photos: &[PathBuf],
    want: &PhotoFaces,
    got: &PhotoFaces,
    precision: Precision,
) {
    let min_cosine = match precision {
        Precision::F32 => PARITY_COSINE_F32,
        Precision::Bf16 => PARITY_COSINE_BF16,
    };
    let fail = |trial: &mut FamilyTrial, why: String| {
        trial.failure.get_or_insert(why);
    };
    for ((photo, want), got) in photos.iter().zip(want).zip(got) {
        if want.len() != got.len() {
            let why = format!("{pack}: {} faces in {} instead of {}", got.len(), photo.display(), want.len());
            fail(trial, why);
            continue;
        }
        for (wb, wt) in want {
            let diff = |b: &[f32; 4]| b.iter().zip(wb).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
            let Some((gb, gt)) = got.iter().min_by(|x, y| diff(&x.0).total_cmp(&diff(&y.0))) else {
                continue;
            };
            let (d, c) = (diff(gb), cosine(wt, gt));
            trial.faces += 1;
            trial.worst_box_px = trial.worst_box_px.max(d);
            trial.worst_cosine = trial.worst_cosine.min(c);
            if d > PARITY_BOX_PX {
                fail(trial, format!("{pack}: a box in {} moves {d:.2} px (at most {PARITY_BOX_PX})", photo.display()));
            }
            if c.is_nan() || c < min_cosine {
                fail(
                    trial,
                    format!("{pack}: a template in {} at cosine {c:.4} (at least {min_cosine})", photo.display()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial() -> FamilyTrial {
        FamilyTrial {
            family: "openvino/bf16".into(),
            faces: 0,
            worst_box_px: 0.0,
            worst_cosine: 1.0,
            ms_per_photo: 0.0,
            failure: None,
        }
    }

    fn photos() -> Vec<PathBuf> {
        vec![PathBuf::from("a.jpg"), PathBuf::from("b.jpg")]
    }

    #[test]
    fn identical_faces_pass_and_are_counted() {
        let faces: PhotoFaces = vec![vec![([0.0, 0.0, 10.0, 10.0], vec![1.0, 0.0])], vec![]];
        let mut t = trial();
        compare(&mut t, "open", &photos(), &faces, &faces.clone(), Precision::Bf16);
        assert_eq!((t.faces, t.worst_box_px, t.worst_cosine, t.failure), (1, 0.0, 1.0, None));
    }

    #[test]
    fn a_moved_box_a_far_template_or_a_missing_face_fails_naming_the_photo() {
        let want: PhotoFaces = vec![vec![([0.0, 0.0, 10.0, 10.0], vec![1.0, 0.0])], vec![]];
        let moved: PhotoFaces = vec![vec![([0.6, 0.0, 10.0, 10.0], vec![1.0, 0.0])], vec![]];
        let mut t = trial();
        compare(&mut t, "open", &photos(), &want, &moved, Precision::F32);
        assert!(t.failure.as_deref().is_some_and(|f| f.contains("a.jpg") && f.contains("0.60 px")), "{t:?}");

        // cos = 0.995: passes in bf16 (≥ 0.99), fails in f32 (≥ 0.999).
        let turned: PhotoFaces =
            vec![vec![([0.0, 0.0, 10.0, 10.0], vec![0.995, (1.0f32 - 0.995 * 0.995).sqrt()])], vec![]];
        let mut t = trial();
        compare(&mut t, "open", &photos(), &want, &turned, Precision::Bf16);
        assert_eq!(t.failure, None);
        assert!((t.worst_cosine - 0.995).abs() < 1e-4);
        let mut t = trial();
        compare(&mut t, "open", &photos(), &want, &turned, Precision::F32);
        assert!(t.failure.as_deref().is_some_and(|f| f.contains("cosine 0.9950")), "{t:?}");

        let extra: PhotoFaces = vec![want[0].clone(), want[0].clone()];
        let mut t = trial();
        compare(&mut t, "open", &photos(), &want, &extra, Precision::F32);
        assert!(t.failure.as_deref().is_some_and(|f| f.contains("1 faces in b.jpg instead of 0")), "{t:?}");
    }
}
