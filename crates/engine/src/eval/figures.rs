//! The figures of an evaluation computed from its templates: verification (FNMR at each FMR,
//! at the pack's threshold), the pairs protocol, and identification (FNIR at FPIR).

use std::collections::{BTreeMap, HashMap};

use gabarit_metrics as m;
use rand::{RngExt, SeedableRng};

use super::{EvalOptions, FnmrAtFmr, Identification, PairsResult, PairsSpec, Rate, Sample, Verification};

pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent accumulators let the compiler vectorise the loop.
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

pub(super) const FMR_TARGETS: [f64; 5] = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6];

pub(super) const HIST_BINS: usize = 1500;

pub(super) fn verify(samples: &[Sample], members: &[usize], opts: &EvalOptions) -> (Verification, Vec<f32>) {
    let with_t: Vec<usize> = members.iter().copied().filter(|&i| samples[i].template.is_some()).collect();
    let t = |i: usize| samples[i].template.as_deref().unwrap_or(&[]);
    let mut genuine = Vec::new();
    let mut by_id: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &i in &with_t {
        by_id.entry(samples[i].identity.as_str()).or_default().push(i);
    }
    for ids in by_id.values() {
        for (a, &i) in ids.iter().enumerate() {
            for &j in &ids[a + 1..] {
                genuine.push(dot(t(i), t(j)));
            }
        }
    }
    let n = with_t.len();
    let all_pairs = n * n.saturating_sub(1) / 2;
    let impostor_total = all_pairs - genuine.len();
    let sampled = impostor_total > opts.max_impostor_pairs;
    let impostor: Vec<f32> = if !sampled {
        // Every cross-identity pair, split over the cores.
        let rows: Vec<usize> = (0..n).collect();
        let threads = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
        let (with_t, t, rows) = (&with_t, &t, &rows);
        std::thread::scope(|scope| {
            let handles: Vec<_> = rows
                .chunks(1)
                .take(threads)
                .map(|first| {
                    // Interleaved rows balance the triangle of pairs between threads.
                    let part = rows[first[0]..].iter().step_by(threads);
                    scope.spawn(move || {
                        let mut out = Vec::new();
                        for &a in part {
                            let (i, id) = (with_t[a], samples[with_t[a]].identity.as_str());
                            for &j in &with_t[a + 1..] {
                                if samples[j].identity != id {
                                    out.push(dot(t(i), t(j)));
                                }
                            }
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        })
    } else {
        let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
        let mut out = Vec::with_capacity(opts.max_impostor_pairs);
        while out.len() < opts.max_impostor_pairs {
            let (a, b) = (rng.random_range(0..n), rng.random_range(0..n));
            let (i, j) = (with_t[a], with_t[b]);
            if samples[i].identity != samples[j].identity {
                out.push(dot(t(i), t(j)));
            }
        }
        out
    };
    let verification = verification_figures(&genuine, &impostor, sampled, opts.threshold);
    (verification, impostor)
}

/// All verification figures from score lists.
pub fn verification_figures(genuine: &[f32], impostor: &[f32], sampled: bool, threshold: f32) -> Verification {
    let det = m::det_curve(genuine, impostor);
    let step = det.len().div_ceil(400).max(1);
    let mut thin: Vec<m::DetPoint> = det.iter().step_by(step).copied().collect();
    if let (Some(last), Some(end)) = (det.last(), thin.last())
        && last != end
    {
        thin.push(*last);
    }
    let fnmr_at_fmr = FMR_TARGETS
        .iter()
        .filter_map(|&target| {
            let op = m::fnmr_at_fmr(genuine, impostor, target)?;
            let misses = (op.fnmr * op.genuine_count as f64).round() as u64;
            Some(FnmrAtFmr {
                target_fmr: target,
                threshold: op.threshold,
                fmr: op.fmr,
                fnmr: Rate::new(misses, op.genuine_count as u64)?,
                impostor_comparisons: op.impostor_count as u64,
            })
        })
        .collect();
    let false_matches = impostor.iter().filter(|&&s| s >= threshold).count() as u64;
    let false_non_matches = genuine.iter().filter(|&&s| s < threshold).count() as u64;
    Verification {
        genuine_comparisons: genuine.len() as u64,
        impostor_comparisons: impostor.len() as u64,
        impostors_sampled: sampled,
        eer: m::eer(genuine, impostor),
        fnmr_at_fmr,
        threshold,
        fmr_at_threshold: Rate::new(false_matches, impostor.len() as u64),
        fnmr_at_threshold: Rate::new(false_non_matches, genuine.len() as u64),
        det: thin,
        genuine_histogram: m::ScoreHistogram::from_scores(genuine, -0.5, 1.0, HIST_BINS).ok(),
        impostor_histogram: m::ScoreHistogram::from_scores(impostor, -0.5, 1.0, HIST_BINS).ok(),
    }
}

/// Scores the pairs with the computed templates (a pair with a photo without a face is
/// rejected: score −1).
pub(super) fn score_pairs(spec: &PairsSpec, samples: &[Sample], opts: &EvalOptions) -> PairsResult {
    let mut with_fta = 0;
    let scored: Vec<(f32, bool, usize)> = spec
        .pairs
        .iter()
        .map(|&(a, b, same, fold)| {
            let score = match (&samples[a].template, &samples[b].template) {
                (Some(x), Some(y)) => dot(x, y),
                _ => {
                    with_fta += 1;
                    -1.0
                }
            };
            (score, same, fold)
        })
        .collect();
    let folds = spec.folds;
    let correct = scored.iter().filter(|(s, same, _)| (*s >= opts.threshold) == *same).count() as u64;
    PairsResult {
        pairs: scored.len(),
        folds,
        pairs_with_fta: with_fta,
        kfold: m::kfold_accuracy(&scored, folds),
        accuracy_at_threshold: Rate::new(correct, scored.len() as u64),
    }
}

pub(super) fn identify(samples: &[Sample], people: &[usize]) -> Identification {
    identify_probes(samples, people, None)
}

/// Gallery: the first photo with a template of each identity, plus distractors. Probes: the
/// other photos with templates (restricted to `only` when given). Each probe gives a mated
/// search (its mate's score and rank) and a non-mated one (its best score among the others).
pub(super) fn identify_probes(samples: &[Sample], people: &[usize], only: Option<&[usize]>) -> Identification {
    let mut gallery: Vec<usize> = Vec::new();
    let mut enrolled: HashMap<&str, usize> = HashMap::new();
    let mut probes = Vec::new();
    for &i in people {
        if samples[i].template.is_none() {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(e) = enrolled.entry(samples[i].identity.as_str()) {
            e.insert(gallery.len());
            gallery.push(i);
        } else {
            probes.push(i);
        }
    }
    let distractors: Vec<usize> =
        (0..samples.len()).filter(|&i| samples[i].distractor && samples[i].template.is_some()).collect();
    gallery.extend(&distractors);
    if let Some(only) = only {
        let keep: std::collections::HashSet<usize> = only.iter().copied().collect();
        probes.retain(|p| keep.contains(p));
    }
    let mut mated = Vec::with_capacity(probes.len());
    let mut nonmated = Vec::with_capacity(probes.len());
    let mut ranks = Vec::with_capacity(probes.len());
    let mut others = Vec::with_capacity(gallery.len());
    for &p in &probes {
        let tp = samples[p].template.as_deref().unwrap_or(&[]);
        let mate = enrolled[samples[p].identity.as_str()];
        others.clear();
        let mut mate_score = f32::NAN;
        for (g, &gi) in gallery.iter().enumerate() {
            let s = dot(tp, samples[gi].template.as_deref().unwrap_or(&[]));
            if g == mate {
                mate_score = s;
            } else {
                others.push(s);
            }
        }
        let rank = m::mate_rank(mate_score, &others);
        ranks.push(rank);
        mated.push((mate_score, rank));
        nonmated.push(others.iter().copied().fold(f32::NEG_INFINITY, f32::max));
    }
    Identification {
        gallery_size: gallery.len(),
        distractors: distractors.len(),
        mated_searches: mated.len(),
        nonmated_searches: nonmated.len(),
        rank1: m::rank_k_rate(&ranks, 1),
        rank5: m::rank_k_rate(&ranks, 5),
        fnir_at_fpir: [1e-1, 1e-2, 1e-3].iter().filter_map(|&t| m::fnir_at_fpir(&mated, &nonmated, t, 1)).collect(),
    }
}
