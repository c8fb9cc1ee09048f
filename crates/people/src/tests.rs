//! Tests of [`group`] on face-like synthetic templates (identities with mates in a cloud of
//! impostors, as measured on LFW) and on hand-made cases for the constraints.

use super::*;
use gabarit_ann::synth::FaceLike;
use gabarit_metrics::clustering_scores;
use proptest::prelude::*;

/// Every pair of units whose templates score at least `floor`: the neighbour graph a search
/// would give, found exactly.
fn edges_above(templates: &[f32], dim: usize, floor: f32) -> Vec<Edge> {
    let n = templates.len() / dim;
    let row = |i: usize| &templates[i * dim..(i + 1) * dim];
    let mut out = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            let s: f32 = row(a).iter().zip(row(b)).map(|(x, y)| x * y).sum();
            if s >= floor {
                out.push(Edge { a: a as u32, b: b as u32 });
            }
        }
    }
    out
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

#[test]
fn face_like_identities_are_grouped_with_high_precision() {
    let dim = 128;
    let n = 1500;
    let g = FaceLike::new(dim, 11).per_identity(6);
    let templates = g.database(0, n, 1);
    let labels: Vec<u64> = (0..n as u64).map(|i| g.identity_of(i)).collect();
    let edges = edges_above(&templates, dim, 0.2);
    let faces = Faces { templates: &templates, dim, photos: None };
    let out = group(faces, &edges, Rules { join: 0.35 }, &Constraints::default()).unwrap();
    let s = clustering_scores(&out.group_of, &labels);
    assert!(s.bcubed_precision >= 0.99, "{s:?}");
    assert!(s.bcubed_recall >= 0.95, "{s:?}");
    // Without the edges, nothing is merged: the neighbour graph decides what is compared.
    let alone = group(faces, &[], Rules { join: 0.35 }, &Constraints::default()).unwrap();
    assert_eq!(alone.groups, n);
}

#[test]
fn two_faces_of_one_photo_are_never_one_person() {
    // Three photos of one person, two of them group photos where a near-twin stands beside.
    let dim = 4;
    let person = unit(&[1.0, 0.1, 0.0, 0.0]);
    let twin = unit(&[1.0, 0.0, 0.12, 0.0]);
    let templates: Vec<f32> = [person.clone(), twin.clone(), person.clone(), twin, person].concat();
    let photos = [1, 1, 2, 2, 3];
    let edges: Vec<Edge> = (0..5u32).flat_map(|a| (a + 1..5).map(move |b| Edge { a, b })).collect();
    let faces = Faces { templates: &templates, dim, photos: Some(&photos) };
    let out = group(faces, &edges, Rules { join: 0.5 }, &Constraints::default()).unwrap();
    for (a, b) in [(0, 1), (2, 3)] {
        assert_ne!(out.group_of[a], out.group_of[b], "{out:?}");
    }
    assert!(out.refused > 0);
    // Without photos the twins would have been merged: the constraint did the work.
    let loose = group(Faces { photos: None, ..faces }, &edges, Rules { join: 0.5 }, &Constraints::default()).unwrap();
    assert_eq!(loose.groups, 1);
}

#[test]
fn corrections_are_respected_and_a_contradiction_is_refused() {
    let dim = 4;
    let a = unit(&[1.0, 0.0, 0.0, 0.0]);
    let a2 = unit(&[0.95, 0.3, 0.0, 0.0]);
    let b = unit(&[0.0, 0.0, 1.0, 0.0]);
    let templates: Vec<f32> = [a.clone(), a2, b, a].concat();
    let edges = vec![Edge { a: 0, b: 1 }, Edge { a: 0, b: 3 }, Edge { a: 1, b: 3 }];
    let faces = Faces { templates: &templates, dim, photos: None };
    let rules = Rules { join: 0.5 };
    let plain = group(faces, &edges, rules, &Constraints::default()).unwrap();
    assert_eq!(plain.group_of, vec![0, 0, 1, 0]);
    // "Not this person": unit 1 is not the person of unit 0; a merge: unit 2 is unit 3.
    let c = Constraints { together: vec![(2, 3)], apart: vec![(1, 0)], distinct: vec![] };
    let out = group(faces, &edges, rules, &c).unwrap();
    assert_eq!(out.group_of[2], out.group_of[3]);
    assert_eq!(out.group_of[0], out.group_of[3]);
    assert_ne!(out.group_of[1], out.group_of[0]);
    let bad = Constraints { together: vec![(0, 1)], apart: vec![(1, 0)], distinct: vec![] };
    assert_eq!(group(faces, &edges, rules, &bad), Err(Error::Conflict { a: 0, b: 1 }));
    // Two corrected people (units 0 and 3 stand for them) never merge, though alike; a unit
    // joining them both is a conflict.
    let two = Constraints { distinct: vec![0, 3], ..Constraints::default() };
    let out = group(faces, &edges, rules, &two).unwrap();
    assert_ne!(out.group_of[0], out.group_of[3]);
    assert!(out.refused >= 1, "{out:?}");
    let joined = Constraints { together: vec![(0, 1), (1, 3)], distinct: vec![0, 3], ..Constraints::default() };
    assert_eq!(group(faces, &edges, rules, &joined), Err(Error::Conflict { a: 1, b: 3 }));
}

#[test]
fn inconsistent_inputs_are_typed_errors() {
    let t = [1.0f32, 0.0, 0.0, 1.0];
    let faces = Faces { templates: &t, dim: 2, photos: None };
    let rules = Rules { join: 0.5 };
    assert!(matches!(group(Faces { dim: 3, ..faces }, &[], rules, &Constraints::default()), Err(Error::Shape(_))));
    assert!(matches!(group(Faces { dim: 0, ..faces }, &[], rules, &Constraints::default()), Err(Error::Shape(_))));
    assert!(matches!(
        group(Faces { photos: Some(&[1]), ..faces }, &[], rules, &Constraints::default()),
        Err(Error::Shape(_))
    ));
    assert_eq!(
        group(faces, &[Edge { a: 0, b: 2 }], rules, &Constraints::default()),
        Err(Error::Unit { field: "edges", unit: 2, units: 2 })
    );
    let c = Constraints { together: vec![], apart: vec![(5, 0)], distinct: vec![] };
    assert_eq!(group(faces, &[], rules, &c), Err(Error::Unit { field: "constraints", unit: 5, units: 2 }));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the templates, edges, photos and corrections: no group holds two faces of one
    /// photo or a pair kept apart, every `together` pair shares a group, and the result does
    /// not depend on the order of the edges.
    #[test]
    fn constraints_always_hold(
        seed in 0u64..1000,
        n in 2usize..40,
        edge_pairs in proptest::collection::vec((0u32..40, 0u32..40), 0..200),
        apart in proptest::collection::vec((0u32..40, 0u32..40), 0..10),
        together in proptest::collection::vec((0u32..40, 0u32..40), 0..4),
        distinct in proptest::collection::vec(0u32..40, 0..4),
        join in 0.0f32..0.9,
    ) {
        let dim = 8;
        let g = FaceLike::new(dim, seed).per_identity(4);
        let templates = g.database(0, n, 1);
        let photos: Vec<u64> = (0..n as u64).map(|i| (i * 7 + seed) % (n as u64 / 2 + 1)).collect();
        let keep = |(a, b): &(u32, u32)| (*a as usize) < n && (*b as usize) < n;
        let edges: Vec<Edge> = edge_pairs.iter().filter(|p| keep(p)).map(|&(a, b)| Edge { a, b }).collect();
        let c = Constraints {
            together: together.into_iter().filter(keep).collect(),
            apart: apart.into_iter().filter(keep).collect(),
            distinct: distinct.into_iter().filter(|&u| (u as usize) < n).collect(),
        };
        let faces = Faces { templates: &templates, dim, photos: Some(&photos) };
        match group(faces, &edges, Rules { join }, &c) {
            Err(Error::Conflict { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error {e}"),
            Ok(out) => {
                prop_assert_eq!(out.group_of.len(), n);
                for a in 0..n {
                    for b in a + 1..n {
                        if photos[a] == photos[b] {
                            prop_assert_ne!(out.group_of[a], out.group_of[b]);
                        }
                    }
                }
                for &(a, b) in &c.apart {
                    if a != b {
                        prop_assert_ne!(out.group_of[a as usize], out.group_of[b as usize]);
                    }
                }
                for &(a, b) in &c.together {
                    prop_assert_eq!(out.group_of[a as usize], out.group_of[b as usize]);
                }
                for (i, &a) in c.distinct.iter().enumerate() {
                    for &b in &c.distinct[i + 1..] {
                        if a != b {
                            prop_assert_ne!(out.group_of[a as usize], out.group_of[b as usize]);
                        }
                    }
                }
                let mut reversed = edges.clone();
                reversed.reverse();
                let again = group(faces, &reversed, Rules { join }, &c).unwrap();
                prop_assert_eq!(again.group_of, out.group_of);
            }
        }
    }
}
