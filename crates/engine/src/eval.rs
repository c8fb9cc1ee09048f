//! `gabarit eval`: how often the engine is wrong, measured the way ISO/IEC 19795-1 and NIST
//! FRTE report it.
//!
//! A dataset is a folder of identity folders (`<identity>/<photo>`). Every photo goes through
//! the face engine once (templates are cached by content hash, so a run can be interrupted
//! and resumed); photos where no face is found are failures to acquire (FTA), reported apart.
//! Verification compares all genuine pairs and all impostor pairs (or a seeded sample when
//! there are too many), and an LFW-style pairs file when given; identification enrols one
//! photo per identity (plus distractors) and searches with the others.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use gabarit_media::has_image_extension;
use gabarit_metrics as m;
use serde::{Deserialize, Serialize};

use crate::{FaceService, ImageFaces};

mod figures;

pub use figures::verification_figures;
use figures::{identify, identify_probes, score_pairs, verify};

/// Which face stands for a photo that shows several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceChoice {
    /// The face whose box centre is nearest the photo's centre (portrait datasets such as LFW
    /// are centred on the person they are labelled with).
    Central,
    /// The largest usable face.
    Largest,
}

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Folder of identity folders.
    pub dataset: PathBuf,
    /// LFW-style pairs file (`folds<TAB>n`, then per fold n matched and n mismatched lines).
    pub pairs: Option<PathBuf>,
    /// Extra gallery photos of people not among the identities.
    pub distractors: Option<PathBuf>,
    /// CSV `image,group` for per-group figures.
    pub groups: Option<PathBuf>,
    /// Largest number of impostor pairs; above it, a seeded sample of that size.
    pub max_impostor_pairs: usize,
    /// Seed of the impostor sample.
    pub seed: u64,
    /// Face choice for photos with several faces.
    pub face_choice: FaceChoice,
    /// Template cache file (JSON lines, appended as photos are processed).
    pub cache: PathBuf,
    /// The pack's verification threshold.
    pub threshold: f32,
    /// Folder names in the dataset that are not identities.
    pub skip_folders: Vec<String>,
    /// Compare int8-quantised templates, as the vector index stores them (to measure the
    /// effect of quantisation on accuracy).
    pub quantize: bool,
    /// Groups the photos by person and scores the grouping against the identities
    /// ([`GroupingReport`]); `Some(join)` overrides the join threshold the pack's calibration
    /// gives ([`crate::people::thresholds`]).
    pub grouping: Option<Option<f32>>,
    /// Writes the templates, identities, photos and groups of the grouping to this folder
    /// (`templates.npy`, `labels.txt`, `images.txt`, `groups.txt`, each private), for the peer
    /// script `crates/bench/peers/people_peers.py`.
    pub export: Option<PathBuf>,
}

/// Errors of an evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The dataset or a side file is malformed.
    #[error("{path}: {detail}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] crate::Error),
}

/// One photo of the dataset.
#[derive(Debug, Clone)]
struct Sample {
    identity: String,
    path: PathBuf,
    rel: String,
    template: Option<Vec<f32>>,
    distractor: bool,
}

/// A rate with how many trials it rests on and its 95% Wilson interval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rate {
    /// The rate.
    pub value: f64,
    /// Number of trials behind it.
    pub trials: u64,
    /// 95% confidence interval.
    pub ci95: (f64, f64),
}

impl Rate {
    fn new(errors: u64, trials: u64) -> Option<Rate> {
        let ci95 = m::wilson_interval(errors, trials, m::Z_95)?;
        Some(Rate { value: errors as f64 / trials as f64, trials, ci95 })
    }
}

/// FNMR at a target FMR.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FnmrAtFmr {
    /// Target FMR.
    pub target_fmr: f64,
    /// Threshold reaching it.
    pub threshold: f32,
    /// Achieved FMR.
    pub fmr: f64,
    /// FNMR there, with its interval.
    pub fnmr: Rate,
    /// Impostor comparisons behind the FMR.
    pub impostor_comparisons: u64,
}

/// Verification figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verification {
    /// Genuine comparisons.
    pub genuine_comparisons: u64,
    /// Impostor comparisons.
    pub impostor_comparisons: u64,
    /// Whether the impostor pairs are a sample (seeded) rather than all of them.
    pub impostors_sampled: bool,
    /// Equal error rate and its threshold.
    pub eer: Option<m::Eer>,
    /// FNMR at FMR 1e-2 … 1e-6, where the data supports it.
    pub fnmr_at_fmr: Vec<FnmrAtFmr>,
    /// The pack's threshold.
    pub threshold: f32,
    /// FMR at the pack's threshold.
    pub fmr_at_threshold: Option<Rate>,
    /// FNMR at the pack's threshold.
    pub fnmr_at_threshold: Option<Rate>,
    /// DET curve, thinned to at most 400 points.
    pub det: Vec<m::DetPoint>,
    /// Genuine score histogram.
    pub genuine_histogram: Option<m::ScoreHistogram>,
    /// Impostor score histogram.
    pub impostor_histogram: Option<m::ScoreHistogram>,
}

/// Figures on an LFW-style pairs file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairsResult {
    /// Number of pairs.
    pub pairs: usize,
    /// Folds in the file.
    pub folds: usize,
    /// Pairs where a photo had no face (scored as a rejection).
    pub pairs_with_fta: usize,
    /// k-fold accuracy, threshold chosen on the other folds.
    pub kfold: Option<m::KFoldAccuracy>,
    /// Accuracy at the pack's threshold.
    pub accuracy_at_threshold: Option<Rate>,
}

/// Open-set identification figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Identification {
    /// Gallery size N (one photo per identity, plus distractors).
    pub gallery_size: usize,
    /// Of which distractors.
    pub distractors: usize,
    /// Mated searches (a photo of an enrolled identity, its gallery photo excluded).
    pub mated_searches: usize,
    /// Non-mated searches (the same probes with their mate removed from the gallery).
    pub nonmated_searches: usize,
    /// Share of mated searches whose mate ranks first.
    pub rank1: Option<f64>,
    /// Share of mated searches whose mate ranks in the top 5.
    pub rank5: Option<f64>,
    /// FNIR at FPIR 1e-1, 1e-2, 1e-3 (mate at rank 1 at or above the threshold), where the
    /// data supports it.
    pub fnir_at_fpir: Vec<m::IdentificationPoint>,
}

/// Figures for one group of the groups CSV.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupReport {
    /// Group label.
    pub group: String,
    /// Photos in the group.
    pub photos: usize,
    /// Verification within the group.
    pub verification: Verification,
    /// Identification with probes of the group.
    pub identification: Identification,
}

/// The report of `gabarit eval`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvalReport {
    /// Dataset folder.
    pub dataset: String,
    /// Model pack.
    pub pack: String,
    /// Detector input setting.
    pub detector_input: String,
    /// Whether templates are mirror-averaged.
    pub flip_average: bool,
    /// Face choice.
    pub face_choice: FaceChoice,
    /// Identities.
    pub identities: usize,
    /// Photos.
    pub photos: usize,
    /// Failures to acquire (no face found, or an unreadable photo).
    pub fta: Rate,
    /// Photos that failed, with the reason.
    pub fta_photos: Vec<(String, String)>,
    /// Verification.
    pub verification: Verification,
    /// Pairs-file figures.
    pub pairs: Option<PairsResult>,
    /// Identification.
    pub identification: Identification,
    /// Per group, when a groups CSV was given.
    pub groups: Vec<GroupReport>,
    /// Grouping by person, when asked for.
    #[serde(default)]
    pub grouping: Option<GroupingReport>,
}

/// How well the photos were grouped by person (each photo's chosen face; photos without one
/// are left out).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupingReport {
    /// Thresholds used.
    pub thresholds: crate::people::GroupingThresholds,
    /// Faces grouped.
    pub faces: usize,
    /// Candidate pairs compared.
    pub pairs: usize,
    /// Groups found (single faces included).
    pub groups: usize,
    /// BCubed and pairwise scores against the identities.
    pub scores: m::ClusteringScores,
    /// Seconds to find the candidate pairs (exact scan) and to group.
    pub seconds: (f64, f64),
}

/// Runs an evaluation. `progress(done, total)` is called as photos are processed.
pub fn evaluate(
    service: &FaceService,
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(EvalReport, Vec<f32>), EvalError> {
    let mut samples = scan_identities(&opts.dataset, &opts.skip_folders)?;
    if let Some(d) = &opts.distractors {
        samples.extend(scan_distractors(d)?);
    }
    // The side files are read and checked against the dataset before any template is
    // computed (minutes on a large dataset), so that a mistake in them costs nothing.
    let pairs_spec = opts.pairs.as_deref().map(|p| read_pairs(p, &samples)).transpose()?;
    let group_members = opts.groups.as_deref().map(|csv| read_groups(csv, &samples)).transpose()?;
    let failures = compute_templates(service, &mut samples, opts, progress)?;
    if opts.quantize {
        for s in &mut samples {
            if let Some(t) = &mut s.template {
                let (codes, scale) = gabarit_index::quant::quantize(t);
                *t = gabarit_index::quant::dequantize(&codes, scale);
            }
        }
    }
    let people: Vec<usize> = (0..samples.len()).filter(|&i| !samples[i].distractor).collect();
    let identities =
        people.iter().map(|&i| samples[i].identity.as_str()).collect::<std::collections::BTreeSet<_>>().len();
    let fta_count = people.iter().filter(|&&i| samples[i].template.is_none()).count();
    let (verification, impostor_scores) = verify(&samples, &people, opts);
    let pairs = pairs_spec.map(|spec| score_pairs(&spec, &samples, opts));
    let identification = identify(&samples, &people);
    let mut groups = Vec::new();
    for (group, members) in group_members.unwrap_or_default() {
        let (v, _) = verify(&samples, &members, opts);
        groups.push(GroupReport {
            group,
            photos: members.len(),
            verification: v,
            identification: identify_probes(&samples, &people, Some(&members)),
        });
    }
    let engine = service.config();
    let grouping = match opts.grouping {
        Some(join) => Some(group_people(&samples, &people, &engine.pack, join, opts)?),
        None => None,
    };
    let report = EvalReport {
        dataset: opts.dataset.display().to_string(),
        pack: engine.pack.name.clone(),
        detector_input: format!("{:?}", engine.detector_input.unwrap_or(engine.pack.engine.detector.input)),
        flip_average: engine.pack.engine.embedder.flip_average,
        face_choice: opts.face_choice,
        identities,
        photos: people.len(),
        fta: Rate::new(fta_count as u64, people.len() as u64).unwrap_or(Rate {
            value: 0.0,
            trials: 0,
            ci95: (0.0, 1.0),
        }),
        fta_photos: failures,
        verification,
        pairs,
        identification,
        groups,
        grouping,
    };
    Ok((report, impostor_scores))
}

/// Groups the faces of `people` by person and scores the grouping (see [`GroupingReport`]).
fn group_people(
    samples: &[Sample],
    people: &[usize],
    pack: &gabarit_inference::Pack,
    join: Option<f32>,
    opts: &EvalOptions,
) -> Result<GroupingReport, EvalError> {
    if let Some(j) = join
        && !(j.is_finite() && (-1.0..=1.0).contains(&j))
    {
        return Err(crate::Error::field("group_join", format!("{j} is not a cosine between -1 and 1")).into());
    }
    let faces: Vec<usize> = people.iter().copied().filter(|&i| samples[i].template.is_some()).collect();
    let dim = faces.first().and_then(|&i| samples[i].template.as_ref()).map_or(0, Vec::len);
    let templates: Vec<f32> = faces.iter().filter_map(|&i| samples[i].template.as_deref()).flatten().copied().collect();
    let calibration = pack.calibration().map_err(crate::Error::from)?;
    let calibrated = crate::people::thresholds(pack, calibration.as_ref(), faces.len() as u64);
    let thresholds = join.map_or(calibrated, |join| calibrated.with_join(join));
    let started = std::time::Instant::now();
    let edges = exact_neighbours(&templates, dim, thresholds.edge, crate::people::NEIGHBOURS);
    let scanned = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let input = gabarit_people::Faces { templates: &templates, dim, photos: None };
    let rules = gabarit_people::Rules { join: thresholds.join };
    let grouping = gabarit_people::group(input, &edges, rules, &gabarit_people::Constraints::default())
        .map_err(|e| EvalError::Input { path: opts.dataset.clone(), detail: format!("grouping its faces: {e}") })?;
    let grouped = started.elapsed().as_secs_f64();
    let labels: Vec<&str> = faces.iter().map(|&i| samples[i].identity.as_str()).collect();
    let scores = m::clustering_scores(&grouping.group_of, &labels);
    if let Some(dir) = &opts.export {
        export_grouping(
            dir,
            &templates,
            faces.len(),
            dim,
            &labels,
            &faces.iter().map(|&i| samples[i].rel.as_str()).collect::<Vec<_>>(),
            &grouping.group_of,
        )?;
    }
    Ok(GroupingReport {
        thresholds,
        faces: faces.len(),
        pairs: edges.len(),
        groups: grouping.groups,
        scores,
        seconds: (scanned, grouped),
    })
}

/// Candidate pairs among `templates` (`n × dim`, L2-normalised): for each face its at most
/// `k` most similar others scoring at least `floor`, found by an exact scan (an evaluation
/// set's; a collection's would come from its vector index).
fn exact_neighbours(templates: &[f32], dim: usize, floor: f32, k: usize) -> Vec<gabarit_people::Edge> {
    let n = templates.len() / dim.max(1);
    let row = |i: usize| &templates[i * dim..(i + 1) * dim];
    let mut edges = Vec::new();
    let mut near: Vec<(f32, u32)> = Vec::new();
    for a in 0..n {
        near.clear();
        for b in (0..n).filter(|&b| b != a) {
            let s = figures::dot(row(a), row(b));
            if s >= floor {
                near.push((s, b as u32));
            }
        }
        near.sort_unstable_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        edges.extend(near.iter().take(k).map(|&(_, b)| gabarit_people::Edge { a: a as u32, b }));
    }
    edges
}

/// Writes what [`EvalOptions::export`] describes, each file created private.
fn export_grouping(
    dir: &Path,
    templates: &[f32],
    rows: usize,
    dim: usize,
    labels: &[&str],
    photos: &[&str],
    groups: &[u32],
) -> Result<(), EvalError> {
    fs_err::create_dir_all(dir)?;
    // A file of an earlier export is replaced, never written through: it may have been made
    // readable by others, or be a link to somewhere else.
    let private = |name: &str| -> std::io::Result<fs_err::File> {
        let path = dir.join(name);
        match fs_err::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut opts = fs_err::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use fs_err::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        opts.open(path)
    };
    gabarit_ann::synth::write_npy_to(private("templates.npy")?, rows, dim, templates)?.sync_all()?;
    let lines = |name: &str, items: &mut dyn Iterator<Item = String>| -> std::io::Result<()> {
        let mut w = std::io::BufWriter::new(private(name)?);
        for item in items {
            writeln!(w, "{item}")?;
        }
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    };
    lines("labels.txt", &mut labels.iter().map(|s| s.to_string()))?;
    lines("images.txt", &mut photos.iter().map(|s| s.to_string()))?;
    lines("groups.txt", &mut groups.iter().map(|g| g.to_string()))?;
    Ok(())
}

fn scan_identities(dir: &Path, skip: &[String]) -> Result<Vec<Sample>, EvalError> {
    let mut out = Vec::new();
    let mut identities: Vec<PathBuf> = fs_err::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !skip.iter().any(|s| p.file_name().is_some_and(|n| n == s.as_str())))
        .collect();
    identities.sort();
    for id_dir in identities {
        let identity = id_dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let mut photos: Vec<PathBuf> = fs_err::read_dir(&id_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| has_image_extension(p))
            .collect();
        photos.sort();
        for path in photos {
            let rel = format!("{identity}/{}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
            out.push(Sample { identity: identity.clone(), path, rel, template: None, distractor: false });
        }
    }
    if out.is_empty() {
        return Err(EvalError::Input { path: dir.to_path_buf(), detail: "no <identity>/<photo> images found".into() });
    }
    Ok(out)
}

fn scan_distractors(dir: &Path) -> Result<Vec<Sample>, EvalError> {
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if has_image_extension(&p) {
                paths.push(p);
            }
        }
    }
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|path| {
            let rel = path.display().to_string();
            Sample { identity: format!("distractor:{rel}"), path, rel, template: None, distractor: true }
        })
        .collect())
}

#[derive(Serialize, Deserialize)]
struct CacheLine {
    sha256: String,
    template: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

fn encode_template(t: &[f32]) -> String {
    let bytes: Vec<u8> = t.iter().flat_map(|v| v.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode_template(s: &str) -> Option<Vec<f32>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    Some(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// The face standing for a photo.
pub fn choose_face(img: &ImageFaces, choice: FaceChoice) -> Option<&gabarit_types::Face> {
    match choice {
        FaceChoice::Largest => img.best_face(),
        FaceChoice::Central => {
            let (cx, cy) = (img.width as f32 / 2.0, img.height as f32 / 2.0);
            let dist = |f: &&gabarit_types::Face| {
                let (fx, fy) = ((f.bbox.x1 + f.bbox.x2) / 2.0, (f.bbox.y1 + f.bbox.y2) / 2.0);
                (fx - cx).powi(2) + (fy - cy).powi(2)
            };
            img.faces.iter().min_by(|a, b| dist(a).total_cmp(&dist(b)))
        }
    }
}

/// Fills in templates from the cache, processes the rest and appends them to the cache as
/// they come (one flushed line per photo), so an interrupted run resumes where it stopped.
fn compute_templates(
    service: &FaceService,
    samples: &mut [Sample],
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<(String, String)>, EvalError> {
    let mut cached: HashMap<String, CacheLine> = HashMap::new();
    if opts.cache.is_file() {
        for line in std::io::BufReader::new(fs_err::File::open(&opts.cache)?).lines() {
            // A line cut by an interruption is simply recomputed.
            if let Ok(c) = serde_json::from_str::<CacheLine>(&line?) {
                cached.insert(c.sha256.clone(), c);
            }
        }
    }
    if let Some(parent) = opts.cache.parent() {
        fs_err::create_dir_all(parent)?;
    }
    // The cache holds templates: private, like every file of biometric data.
    let mut cache_options = fs_err::OpenOptions::new();
    cache_options.create(true).append(true);
    #[cfg(unix)]
    {
        use fs_err::os::unix::fs::OpenOptionsExt as _;
        cache_options.mode(0o600);
    }
    let mut cache = cache_options.open(&opts.cache)?;
    #[cfg(unix)]
    {
        // A cache written by an earlier version may be readable by others.
        use std::os::unix::fs::PermissionsExt as _;
        cache.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    let mut failures = Vec::new();
    let mut todo = Vec::new();
    let mut hashes = Vec::with_capacity(samples.len());
    for (i, s) in samples.iter_mut().enumerate() {
        let sha = match fs_err::read(&s.path) {
            Ok(bytes) => gabarit_media::sha256_hex(&bytes),
            Err(e) => {
                failures.push((s.rel.clone(), e.to_string()));
                hashes.push(String::new());
                continue;
            }
        };
        match cached.get(&sha) {
            Some(c) => {
                s.template = c.template.as_deref().and_then(decode_template);
                if s.template.is_none() {
                    failures.push((s.rel.clone(), c.error.clone().unwrap_or_else(|| "no face".into())));
                }
            }
            None => todo.push(i),
        }
        hashes.push(sha);
    }
    let total = samples.len();
    let mut done = total - todo.len();
    progress(done, total);
    let paths: Vec<PathBuf> = todo.iter().map(|&i| samples[i].path.clone()).collect();
    let mut write_error = None;
    service.analyze_files(&paths, true, |k, _, result| {
        let s = &mut samples[todo[k]];
        let (template, error) = match result {
            Ok(img) => match choose_face(&img, opts.face_choice).and_then(|f| f.template.clone()) {
                Some(t) => (Some(t.0), None),
                None => (None, Some("no face".to_string())),
            },
            Err(e) => (None, Some(format!("{}: {}", e.code, e.message))),
        };
        if let Some(err) = &error {
            failures.push((s.rel.clone(), err.clone()));
        }
        let line =
            CacheLine { sha256: hashes[todo[k]].clone(), template: template.as_deref().map(encode_template), error };
        s.template = template;
        if let Err(e) = serde_json::to_string(&line).map_err(std::io::Error::other).and_then(|l| {
            writeln!(cache, "{l}")?;
            cache.flush()
        }) {
            write_error.get_or_insert(e);
        }
        done += 1;
        progress(done, total);
    })?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    failures.sort();
    Ok(failures)
}

/// An LFW-style pairs file resolved to samples: per pair, the two samples' indices, whether
/// it is a matched pair, and its fold.
#[derive(Debug)]
struct PairsSpec {
    folds: usize,
    pairs: Vec<(usize, usize, bool, usize)>,
}

/// Reads an LFW-style pairs file and resolves its photos in `samples`; an error names the
/// line.
fn read_pairs(path: &Path, samples: &[Sample]) -> Result<PairsSpec, EvalError> {
    let text = fs_err::read_to_string(path)?;
    let bad = |line: usize, detail: &str| EvalError::Input {
        path: path.to_path_buf(),
        detail: format!("line {line}: {detail}"),
    };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| bad(1, "empty file"))?;
    let head: Vec<usize> = header.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    let (folds, per_fold) = match head.as_slice() {
        [f, n] if *f > 0 && *n > 0 => (*f, *n),
        _ => return Err(bad(1, "expected `<folds> <pairs per fold>`")),
    };
    let by_rel: HashMap<&str, usize> = samples.iter().enumerate().map(|(i, s)| (s.rel.as_str(), i)).collect();
    let file = |name: &str, n: &str, line: usize| -> Result<String, EvalError> {
        let n: u32 = n.parse().map_err(|_| bad(line, "image number expected"))?;
        Ok(format!("{name}/{name}_{n:04}.jpg"))
    };
    let mut pairs = Vec::with_capacity(folds * 2 * per_fold);
    for fold in 0..folds {
        for k in 0..2 * per_fold {
            let (no, line) = lines.next().ok_or_else(|| bad(0, "fewer pairs than the header says"))?;
            let f: Vec<&str> = line.split_whitespace().collect();
            let (a, b, same) = match f.as_slice() {
                [name, n1, n2] => (file(name, n1, no + 1)?, file(name, n2, no + 1)?, true),
                [n1a, n1, n2a, n2] => (file(n1a, n1, no + 1)?, file(n2a, n2, no + 1)?, false),
                _ => return Err(bad(no + 1, "expected 3 or 4 fields")),
            };
            if same != (k < per_fold) {
                return Err(bad(no + 1, "matched pairs must come before mismatched ones in each fold"));
            }
            let get = |rel: &str| {
                by_rel.get(rel).copied().ok_or_else(|| bad(no + 1, &format!("{rel} is not in the dataset")))
            };
            pairs.push((get(&a)?, get(&b)?, same, fold));
        }
    }
    Ok(PairsSpec { folds, pairs })
}

fn read_groups(csv: &Path, samples: &[Sample]) -> Result<BTreeMap<String, Vec<usize>>, EvalError> {
    let text = fs_err::read_to_string(csv)?;
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    for (i, s) in samples.iter().enumerate() {
        by_key.insert(s.rel.as_str(), i);
        if let Some(name) = s.path.file_name().and_then(|n| n.to_str()) {
            by_key.entry(name).or_insert(i);
        }
    }
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (no == 0 && line.eq_ignore_ascii_case("image,group")) {
            continue;
        }
        let (image, group) = line.split_once(',').ok_or_else(|| EvalError::Input {
            path: csv.to_path_buf(),
            detail: format!("line {}: expected `image,group`", no + 1),
        })?;
        let i = *by_key.get(image.trim()).ok_or_else(|| EvalError::Input {
            path: csv.to_path_buf(),
            detail: format!("line {}: {} is not in the dataset", no + 1, image.trim()),
        })?;
        groups.entry(group.trim().to_string()).or_default().push(i);
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::figures::dot;
    use super::*;

    #[test]
    fn neighbours_are_the_k_best_above_the_floor() {
        // Four unit vectors on a circle: 0 is nearest 1, then 3, then 2.
        let at = |deg: f32| [deg.to_radians().cos(), deg.to_radians().sin()];
        let t: Vec<f32> = [at(0.0), at(20.0), at(170.0), at(-50.0)].concat();
        let e = exact_neighbours(&t, 2, 0.0, 1);
        assert_eq!(e.iter().filter(|e| e.a == 0).map(|e| e.b).collect::<Vec<_>>(), vec![1]);
        let e = exact_neighbours(&t, 2, 0.0, 8);
        assert_eq!(e.iter().filter(|e| e.a == 0).map(|e| e.b).collect::<Vec<_>>(), vec![1, 3]);
        assert!(e.iter().all(|e| e.a != e.b));
    }

    #[test]
    fn dot_matches_the_naive_sum() {
        let a: Vec<f32> = (0..517).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..517).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn templates_round_trip_through_the_cache_encoding() {
        let t = vec![0.5f32, -0.25, 1e-7, 3.0];
        assert_eq!(decode_template(&encode_template(&t)), Some(t));
    }

    #[test]
    fn verification_figures_on_separated_scores() {
        let genuine = vec![0.6, 0.7, 0.8, 0.2];
        let impostor: Vec<f32> = (0..1000).map(|i| -0.1 + 0.0003 * i as f32).collect();
        let v = verification_figures(&genuine, &impostor, false, 0.3);
        assert_eq!(v.genuine_comparisons, 4);
        assert_eq!(v.fmr_at_threshold.as_ref().map(|r| r.value), Some(0.0));
        assert_eq!(v.fnmr_at_threshold.as_ref().map(|r| r.value), Some(0.25));
        // FMR 1e-2 is supported by 1000 impostors, 1e-3 too, 1e-4 not.
        let targets: Vec<f64> = v.fnmr_at_fmr.iter().map(|f| f.target_fmr).collect();
        assert_eq!(targets, vec![1e-2, 1e-3]);
    }
}
