//! Erasure is physical: after `compact`, no file in the index directory holds the bytes of a
//! removed template (nor its id), while live templates are still there.

use std::path::Path;

use gabarit_index::quant::quantize;
use gabarit_index::testing::TestRng;
use gabarit_index::{CompressedIndex, FlatIndex, VectorIndex};

use crate::DIM;

/// Every file's bytes in `dir` (flat: the index writes no subdirectories).
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

fn codes(v: &[f32]) -> Vec<u8> {
    quantize(v).0.iter().map(|&c| c as u8).collect()
}

fn found_anywhere(dir: &Path, needle: &[u8]) -> Option<String> {
    dir_bytes(dir).into_iter().find(|(_, bytes)| contains(bytes, needle)).map(|(name, _)| name)
}

/// Ids with a distinctive 8-byte pattern, so that finding one is not a coincidence.
fn id(i: u64) -> u64 {
    0x5EC2_E7AB_0000_0000 | (i * 0x1_0001)
}

type Open = dyn Fn(&Path) -> Box<dyn VectorIndex>;

#[test]
fn removed_templates_are_physically_gone_after_compact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    removed_templates_are_gone(&dir, &|d| Box::new(FlatIndex::open(d, DIM).unwrap()));
    assert_eq!(FlatIndex::open(&dir, DIM).unwrap().stats().dead, 0);
}

/// The same with the compressed index, whose int8 codes are not in memory: compaction copies
/// the live records from the file and leaves none of the removed ones.
#[test]
fn removed_templates_are_physically_gone_from_a_compressed_index_after_compact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    removed_templates_are_gone(&dir, &|d| Box::new(CompressedIndex::open(d, DIM).unwrap()));
}

fn removed_templates_are_gone(dir: &Path, open: &Open) {
    let dir = dir.to_path_buf();
    let mut rng = TestRng::new(11);
    let vectors: Vec<Vec<f32>> = (0..300).map(|_| rng.unit(DIM)).collect();
    let mut index = open(&dir);
    for (i, v) in vectors.iter().enumerate() {
        index.insert(id(i as u64), (i % 3) as u32, v).unwrap();
    }
    index.flush().unwrap();
    let removed: Vec<usize> = (0..300).filter(|i| i % 4 == 1).collect();
    for &i in &removed {
        assert!(index.remove(id(i as u64)).unwrap());
    }
    index.flush().unwrap();
    // The test can see them: before compaction the records are still on disk.
    for &i in &removed {
        assert!(found_anywhere(&dir, &codes(&vectors[i])).is_some(), "removed {i} visible before compaction");
    }

    index.compact().unwrap();
    let check = |dir: &Path| {
        for (i, v) in vectors.iter().enumerate() {
            let where_ = found_anywhere(dir, &codes(v));
            let id_where = found_anywhere(dir, &id(i as u64).to_le_bytes());
            if removed.contains(&i) {
                assert_eq!(where_, None, "template {i} was removed but its bytes are still in {where_:?}");
                assert_eq!(id_where, None, "id of removed template {i} still in {id_where:?}");
            } else {
                assert_eq!(where_.as_deref(), Some("vectors.dat"), "live template {i}");
            }
        }
    };
    check(&dir);
    assert_eq!(index.len(), 300 - removed.len());
    drop(index);
    check(&dir);
    let index = open(&dir);
    assert_eq!(index.len(), 300 - removed.len());
    // Every live template is still found, as itself, and no removed one.
    for (i, v) in vectors.iter().enumerate().step_by(7) {
        let top = index.search(v, 1, None).unwrap();
        if removed.contains(&i) {
            assert!(top[0].id != id(i as u64) && top[0].score < 0.5, "{i}: {top:?}");
        } else {
            assert_eq!((top[0].id, top[0].collection), (id(i as u64), (i % 3) as u32));
        }
    }
}

#[test]
fn old_template_of_a_reinserted_id_is_gone_after_compact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let mut rng = TestRng::new(12);
    let (old, new) = (rng.unit(DIM), rng.unit(DIM));
    let mut index = FlatIndex::open(&dir, DIM).unwrap();
    index.insert(7, 0, &old).unwrap();
    index.insert(8, 0, &rng.unit(DIM)).unwrap();
    index.remove(7).unwrap();
    index.insert(7, 1, &new).unwrap();
    // Removed without an explicit flush; the index is dropped and reopened before compacting.
    drop(index);
    let mut index = FlatIndex::open(&dir, DIM).unwrap();
    assert_eq!(index.len(), 2);
    index.compact().unwrap();
    assert_eq!(found_anywhere(&dir, &codes(&old)), None);
    assert!(found_anywhere(&dir, &codes(&new)).is_some());
    assert_eq!(index.search(&new, 1, None).unwrap()[0].id, 7);
}

#[test]
fn removal_zeroes_the_template_in_memory_and_scrubs_in_place() {
    // After remove, a search with the removed template as query no longer finds it even at a
    // threshold of -1 (its codes are zeroed, and dead slots are skipped).
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = TestRng::new(13);
    let v = rng.unit(DIM);
    let mut index = FlatIndex::open(tmp.path(), DIM).unwrap();
    index.insert(1, 0, &v).unwrap();
    index.remove(1).unwrap();
    assert!(index.search_threshold(&v, -2.0, None).unwrap().is_empty());
    assert!(index.is_empty());
}
