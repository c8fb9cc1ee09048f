//! `gabarit eval`'s side files (pairs, groups) are checked against the dataset before any
//! template is computed, so that a mistake in them costs nothing.

use std::path::{Path, PathBuf};

use gabarit_engine::FaceService;
use gabarit_engine::eval::{EvalError, EvalOptions, FaceChoice, evaluate};

use crate::{sample, service};

/// A dataset of two identities: obama (2 photos) and biden (1).
fn dataset(root: &Path) -> PathBuf {
    let ds = root.join("ds");
    for (who, n, photo) in [("obama", 1, "obama.jpg"), ("obama", 2, "obama2.jpg"), ("biden", 1, "biden.jpg")] {
        fs_err::create_dir_all(ds.join(who)).unwrap();
        fs_err::copy(sample(photo), ds.join(who).join(format!("{who}_{n:04}.jpg"))).unwrap();
    }
    ds
}

fn options(root: &Path, pairs: Option<PathBuf>, groups: Option<PathBuf>) -> EvalOptions {
    EvalOptions {
        dataset: dataset(root),
        pairs,
        distractors: None,
        groups,
        max_impostor_pairs: 1000,
        seed: 1,
        face_choice: FaceChoice::Central,
        cache: root.join("cache.jsonl"),
        threshold: 0.3,
        skip_folders: Vec::new(),
        quantize: false,
        grouping: None,
        export: None,
    }
}

fn write(root: &Path, name: &str, text: &str) -> PathBuf {
    let path = root.join(name);
    fs_err::write(&path, text).unwrap();
    path
}

/// Runs `evaluate`, returning its result and how many times it reported progress.
fn run(opts: &EvalOptions) -> (Result<usize, EvalError>, usize) {
    let face = FaceService::new(service().config().clone()).unwrap();
    let mut calls = 0;
    let result = evaluate(&face, opts, &mut |_, _| calls += 1).map(|(report, _)| report.pairs.map_or(0, |p| p.pairs));
    (result, calls)
}

#[test]
fn a_bad_pairs_or_groups_file_is_refused_before_any_template_is_computed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let pairs = write(root, "pairs.txt", "1 1\nobama 1 2\nobama 1 biden 3\n");
    let (result, calls) = run(&options(root, Some(pairs.clone()), None));
    match result {
        Err(EvalError::Input { path, detail }) => {
            assert_eq!(path, pairs);
            assert_eq!(detail, "line 3: biden/biden_0003.jpg is not in the dataset");
        }
        other => panic!("expected the pairs file refused, got {other:?}"),
    }
    assert_eq!(calls, 0, "no photo analysed");
    assert!(!root.join("cache.jsonl").exists(), "no template computed");

    let groups = write(root, "groups.csv", "image,group\nobama_0001.jpg,a\nnobody.jpg,b\n");
    let (result, calls) = run(&options(root, None, Some(groups.clone())));
    match result {
        Err(EvalError::Input { path, detail }) => {
            assert_eq!(path, groups);
            assert_eq!(detail, "line 3: nobody.jpg is not in the dataset");
        }
        other => panic!("expected the groups file refused, got {other:?}"),
    }
    assert_eq!(calls, 0);
    assert!(!root.join("cache.jsonl").exists());

    // The same files, corrected: every photo analysed once, both pairs scored.
    let pairs = write(root, "pairs.txt", "1 1\nobama 1 2\nobama 1 biden 1\n");
    let groups = write(root, "groups.csv", "image,group\nobama_0001.jpg,a\nbiden_0001.jpg,b\n");
    let (result, calls) = run(&options(root, Some(pairs), Some(groups)));
    assert_eq!(result.unwrap(), 2);
    assert!(calls >= 1);
    let cached = fs_err::read_to_string(root.join("cache.jsonl")).unwrap();
    assert_eq!(cached.lines().count(), 3, "one template line per photo");
}

#[test]
fn photos_are_grouped_by_person_and_the_export_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut opts = options(root, None, None);
    opts.grouping = Some(None);
    opts.export = Some(root.join("export"));
    // An earlier export left readable by others, and a link planted where a file will go:
    // both are replaced, the link's target untouched.
    fs_err::create_dir_all(root.join("export")).unwrap();
    fs_err::write(root.join("export/labels.txt"), "old\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs_err::set_permissions(root.join("export/labels.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
        // A template cache an earlier version left readable by others.
        fs_err::write(root.join("cache.jsonl"), "").unwrap();
        fs_err::set_permissions(root.join("cache.jsonl"), std::fs::Permissions::from_mode(0o644)).unwrap();
        fs_err::write(root.join("elsewhere.txt"), "keep\n").unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere.txt"), root.join("export/groups.txt")).unwrap();
    }
    let face = FaceService::new(service().config().clone()).unwrap();
    let (report, _) = evaluate(&face, &opts, &mut |_, _| {}).unwrap();
    let g = report.grouping.expect("grouping asked for");
    // obama's two photos in one group, biden's alone: every score is 1.
    assert_eq!((g.faces, g.groups), (3, 2));
    assert_eq!(g.scores.bcubed_precision, 1.0);
    assert_eq!(g.scores.bcubed_recall, 1.0);
    assert!(g.thresholds.join >= 0.3 && g.thresholds.edge <= g.thresholds.join, "{:?}", g.thresholds);
    let export = root.join("export");
    let groups = fs_err::read_to_string(export.join("groups.txt")).unwrap();
    let labels = fs_err::read_to_string(export.join("labels.txt")).unwrap();
    assert_eq!(labels.lines().collect::<Vec<_>>(), ["biden", "obama", "obama"]);
    let g: Vec<&str> = groups.lines().collect();
    assert_eq!((g.len(), g[1] == g[2], g[0] == g[1]), (3, true, false));
    let npy = fs_err::metadata(export.join("templates.npy")).unwrap();
    assert_eq!(npy.len(), 128 + 3 * 512 * 4, "header and three 512-float templates");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs_err::metadata(root.join("cache.jsonl")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the template cache");
    }
    #[cfg(unix)]
    for name in ["templates.npy", "labels.txt", "images.txt", "groups.txt"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs_err::metadata(export.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
    #[cfg(unix)]
    {
        assert_eq!(fs_err::read_to_string(root.join("elsewhere.txt")).unwrap(), "keep\n");
        assert!(!fs_err::symlink_metadata(export.join("groups.txt")).unwrap().file_type().is_symlink());
    }
    // A join threshold that is not a cosine is refused, naming the option.
    opts.grouping = Some(Some(f32::NAN));
    match evaluate(&face, &opts, &mut |_, _| {}) {
        Err(EvalError::Engine(e)) => assert_eq!(e.invalid_field(), Some("group_join")),
        other => panic!("expected the join refused, got {other:?}"),
    }
}
