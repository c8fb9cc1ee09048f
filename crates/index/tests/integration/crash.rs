//! Recovery from what a crash leaves behind: torn records and tombstones, a stale tombstone
//! log, leftover compaction files; and refusal of foreign or damaged files.

use std::io::Write;
use std::path::Path;

use gabarit_index::testing::TestRng;
use gabarit_index::{Error, FlatIndex, VectorIndex};

use crate::DIM;

const HEADER: u64 = 24;
const RECORD: u64 = 16 + DIM as u64;

fn append(path: &Path, bytes: &[u8]) {
    let mut f = fs_err::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

fn len(path: &Path) -> u64 {
    fs_err::metadata(path).unwrap().len()
}

fn build(dir: &Path, n: u64, rng: &mut TestRng) -> Vec<Vec<f32>> {
    let mut index = FlatIndex::open(dir, DIM).unwrap();
    let vs: Vec<Vec<f32>> = (0..n).map(|_| rng.unit(DIM)).collect();
    for (i, v) in vs.iter().enumerate() {
        index.insert(i as u64, 0, v).unwrap();
    }
    index.flush().unwrap();
    vs
}

#[test]
fn torn_record_is_cut_off() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = TestRng::new(21);
    let vs = build(dir, 10, &mut rng);
    let data = dir.join("vectors.dat");
    assert_eq!(len(&data), HEADER + 10 * RECORD);
    // Garbage shorter than a record.
    append(&data, &[0xAB; 300]);
    let mut index = FlatIndex::open(dir, DIM).unwrap();
    assert_eq!(index.len(), 10);
    assert_eq!(len(&data), HEADER + 10 * RECORD, "torn tail truncated");
    let before = index.search(&vs[3], 3, None).unwrap();
    assert_eq!(before[0].id, 3);
    // Appends after the repair are aligned.
    index.insert(10, 1, &rng.unit(DIM)).unwrap();
    index.flush().unwrap();
    drop(index);

    // A real record's prefix (a crash in the middle of an append).
    let full = fs_err::read(&data).unwrap();
    let last = &full[(HEADER + 10 * RECORD) as usize..];
    fs_err::write(dir.join("vectors.dat"), &full[..(HEADER + 10 * RECORD) as usize]).unwrap();
    append(&data, &last[..RECORD as usize - 1]);
    let index = FlatIndex::open(dir, DIM).unwrap();
    assert_eq!(index.len(), 10);
    assert!(!index.contains(10));
    assert_eq!(index.search(&vs[3], 3, None).unwrap(), before);
}

#[test]
fn torn_tombstone_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = TestRng::new(22);
    build(dir, 10, &mut rng);
    let mut index = FlatIndex::open(dir, DIM).unwrap();
    index.remove(2).unwrap();
    index.remove(5).unwrap();
    index.flush().unwrap();
    drop(index);
    let tomb = dir.join("tombstones.log");
    assert_eq!(len(&tomb), HEADER + 2 * 16);
    append(&tomb, &[9, 0, 0, 0, 0, 0, 0]);
    let mut index = FlatIndex::open(dir, DIM).unwrap();
    assert_eq!(index.len(), 8);
    assert!(!index.contains(2) && !index.contains(5) && index.contains(9));
    assert_eq!(len(&tomb), HEADER + 2 * 16, "torn entry truncated");
    index.remove(9).unwrap();
    index.flush().unwrap();
    drop(index);
    let index = FlatIndex::open(dir, DIM).unwrap();
    assert_eq!(index.ids().collect::<Vec<_>>(), [0, 1, 3, 4, 6, 7, 8]);
}

#[test]
fn stale_tombstone_log_from_an_interrupted_compaction_is_discarded() {
    // The one case where an old tombstone would match a live record: id 0 removed at slot 0,
    // inserted again, compacted back to slot 0. A crash between the two renames of the
    // compaction leaves the old log next to the new data file.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = TestRng::new(23);
    let v = rng.unit(DIM);
    let mut index = FlatIndex::open(dir, DIM).unwrap();
    index.insert(0, 0, &rng.unit(DIM)).unwrap();
    index.remove(0).unwrap();
    index.insert(0, 0, &v).unwrap();
    index.flush().unwrap();
    let old_log = fs_err::read(dir.join("tombstones.log")).unwrap();
    index.compact().unwrap();
    drop(index);
    fs_err::write(dir.join("tombstones.log"), &old_log).unwrap();
    let index = FlatIndex::open(dir, DIM).unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(index.search(&v, 1, None).unwrap()[0].id, 0);
    assert_eq!(len(&dir.join("tombstones.log")), HEADER, "stale log reset");
}

#[test]
fn leftover_compaction_files_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = TestRng::new(24);
    build(dir, 5, &mut rng);
    fs_err::write(dir.join("vectors.dat.tmp"), b"half-written compaction").unwrap();
    fs_err::write(dir.join("tombstones.log.tmp"), b"").unwrap();
    let index = FlatIndex::open(dir, DIM).unwrap();
    assert_eq!(index.len(), 5);
    assert!(!dir.join("vectors.dat.tmp").exists() && !dir.join("tombstones.log.tmp").exists());
}

#[test]
fn dropping_without_flush_keeps_appends_for_the_next_open() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = TestRng::new(25);
    let mut index = FlatIndex::open(tmp.path(), DIM).unwrap();
    for id in 0..20 {
        index.insert(id, 0, &rng.unit(DIM)).unwrap();
    }
    index.remove(3).unwrap();
    drop(index);
    let index = FlatIndex::open(tmp.path(), DIM).unwrap();
    assert_eq!(index.len(), 19);
    assert!(!index.contains(3));
}

#[test]
fn foreign_or_damaged_files_are_refused_with_their_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = TestRng::new(26);
    build(dir, 3, &mut rng);
    let data = dir.join("vectors.dat");

    match FlatIndex::open(dir, 256) {
        Err(Error::IndexDimension { path, expected: 256, found: 512 }) => assert_eq!(path, data),
        other => panic!("expected IndexDimension, got {other:?}"),
    }
    assert!(matches!(FlatIndex::open(dir, 0), Err(Error::UnsupportedDimension { .. })));
    assert!(matches!(FlatIndex::open(dir, 1 << 20), Err(Error::UnsupportedDimension { .. })));

    let good = fs_err::read(&data).unwrap();
    let mut bad = good.clone();
    bad[0] = b'X';
    fs_err::write(&data, &bad).unwrap();
    let err = FlatIndex::open(dir, DIM).unwrap_err();
    assert!(matches!(&err, Error::Corrupt { path, .. } if *path == data), "{err:?}");
    assert!(err.to_string().contains("vectors.dat"), "{err}");

    let mut bad = good.clone();
    bad[8] = 9; // format version 9
    fs_err::write(&data, &bad).unwrap();
    assert!(matches!(FlatIndex::open(dir, DIM), Err(Error::Corrupt { .. })));

    let mut bad = good.clone();
    let scale_at = (HEADER + RECORD + 12) as usize;
    bad[scale_at..scale_at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    fs_err::write(&data, &bad).unwrap();
    let err = FlatIndex::open(dir, DIM).unwrap_err();
    assert!(err.to_string().contains("record 1"), "{err}");

    fs_err::write(&data, &good[..10]).unwrap();
    assert!(matches!(FlatIndex::open(dir, DIM), Err(Error::Corrupt { .. })));

    fs_err::write(&data, &good).unwrap();
    let tomb = dir.join("tombstones.log");
    fs_err::write(&tomb, b"not a tombstone log at all").unwrap();
    assert!(matches!(FlatIndex::open(dir, DIM), Err(Error::Corrupt { path, .. }) if path == tomb));
}

#[test]
fn a_directory_is_open_once() {
    let tmp = tempfile::tempdir().unwrap();
    let first = FlatIndex::open(tmp.path(), DIM).unwrap();
    match FlatIndex::open(tmp.path(), DIM) {
        Err(Error::Io { path, .. }) => assert_eq!(path, tmp.path().join("index.lock")),
        other => panic!("expected a lock error, got {other:?}"),
    }
    drop(first);
    FlatIndex::open(tmp.path(), DIM).unwrap();
}

#[test]
fn tombstone_log_torn_at_creation_is_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = TestRng::new(27);
    build(dir, 4, &mut rng);
    let tomb = dir.join("tombstones.log");
    let header = fs_err::read(&tomb).unwrap();
    fs_err::write(&tomb, &header[..5]).unwrap();
    let mut index = FlatIndex::open(dir, DIM).unwrap();
    assert_eq!(index.len(), 4);
    assert_eq!(len(&tomb), HEADER);
    index.remove(1).unwrap();
    index.flush().unwrap();
    drop(index);
    assert_eq!(FlatIndex::open(dir, DIM).unwrap().ids().collect::<Vec<_>>(), [0, 2, 3]);
}
