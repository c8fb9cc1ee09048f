//! Erasure is physical: after `compact`, no file in the index directory holds the quantised
//! bytes of a removed template (nor its id), while live templates are still there.

use std::path::Path;

use gabarit_ann::AnnIndex;
use gabarit_index::VectorIndex;
use gabarit_index::quant::quantize;
use gabarit_index::testing::TestRng;

use crate::{DIM, graph_only};

/// Every file's bytes in `dir`.
fn dir_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        assert!(entry.file_type().unwrap().is_file(), "unexpected directory {:?}", entry.path());
        out.push((entry.file_name().to_string_lossy().into_owned(), fs_err::read(entry.path()).unwrap()));
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The int8 codes of a template as stored (`gabarit_index::quant`).
fn codes(v: &[f32]) -> Vec<u8> {
    quantize(v).0.iter().map(|&c| c as u8).collect()
}

fn found_anywhere(files: &[(String, Vec<u8>)], needle: &[u8]) -> Option<String> {
    files.iter().find(|(_, bytes)| contains(bytes, needle)).map(|(name, _)| name.clone())
}

/// Ids with a distinctive 8-byte pattern, so that finding one is not a coincidence.
fn id(i: u64) -> u64 {
    0x5EC2_E7AB_0000_0000 | (i * 0x1_0001)
}

#[test]
fn removed_templates_are_physically_gone_after_compact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let mut rng = TestRng::new(11);
    let vectors: Vec<Vec<f32>> = (0..400).map(|_| rng.unit(DIM)).collect();
    let mut index = AnnIndex::open_with(&dir, DIM, graph_only(), None).unwrap();
    for (i, v) in vectors.iter().enumerate() {
        index.insert(id(i as u64), (i % 3) as u32, v).unwrap();
    }
    index.checkpoint().unwrap();
    let removed: Vec<usize> = (0..400).filter(|i| i % 4 == 1).collect();
    for &i in &removed {
        assert!(index.remove(id(i as u64)).unwrap());
    }
    index.flush().unwrap();
    // The test can see them: before compaction the records are still on disk.
    let files = dir_bytes(&dir);
    for &i in &removed {
        assert!(found_anywhere(&files, &codes(&vectors[i])).is_some(), "removed {i} visible before compaction");
    }

    index.compact().unwrap();
    let check = |dir: &Path| {
        let files = dir_bytes(dir);
        for (i, v) in vectors.iter().enumerate() {
            let where_ = found_anywhere(&files, &codes(v));
            let id_where = found_anywhere(&files, &id(i as u64).to_le_bytes());
            if removed.contains(&i) {
                assert_eq!(where_, None, "template {i} was removed but its bytes are still in {where_:?}");
                assert_eq!(id_where, None, "id of removed template {i} still in {id_where:?}");
            } else {
                assert_eq!(where_.as_deref(), Some("vectors.dat"), "live template {i}");
            }
        }
    };
    check(&dir);
    // Searches still find every live template and no removed one.
    for (i, v) in vectors.iter().enumerate() {
        let hits = index.search(v, 1, None).unwrap();
        if removed.contains(&i) {
            assert!(hits.iter().all(|h| h.id != id(i as u64)));
        } else {
            assert_eq!(hits[0].id, id(i as u64), "live template {i}");
        }
    }
    assert_eq!(index.len(), 400 - removed.len());
    drop(index);
    check(&dir);
    let index = AnnIndex::open_with(&dir, DIM, graph_only(), None).unwrap();
    assert_eq!(index.len(), 400 - removed.len());
    assert_eq!(index.stats().dead, 0);
    check(&dir);
}
