//! Persistence: reopening gives identical answers whether the graph was saved or is rebuilt
//! by replaying the inserts after the last checkpoint; a damaged graph file is rebuilt; a flat
//! index's directory opens as an ANN index and back; sealed records; the directory lock.

use std::path::Path;
use std::sync::Arc;

use gabarit_ann::synth::FaceLike;
use gabarit_ann::{AnnIndex, AnnOptions};
use gabarit_index::{Error, FlatIndex, Hit, RecordCipher, VectorIndex};

use crate::{DIM, graph_only};

/// Answers of top-10 graph searches (small breadth, so that they depend on the graph) and of
/// a threshold search, for `count` probes.
fn answers(index: &AnnIndex, probes: &[f32]) -> Vec<(Vec<Hit>, Vec<Hit>)> {
    probes
        .chunks_exact(DIM)
        .map(|p| (index.search_ef(p, 10, None, 12).unwrap(), index.search_threshold(p, 0.3, None).unwrap()))
        .collect()
}

fn face_like(n: usize) -> (FaceLike, Vec<f32>, Vec<f32>) {
    let g = FaceLike::new(DIM, 21);
    let db = g.database(0, n, 2);
    let (_, probes) = g.probes(n as u64, 30, 4);
    (g, db, probes)
}

#[test]
fn batch_insert_then_flush_reopens_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let (_, db, probes) = face_like(3000);
    let items: Vec<(u64, u32)> = (0..3000).map(|i| (i as u64 * 3, (i % 4) as u32)).collect();
    let mut index = AnnIndex::open_with(&dir, DIM, graph_only(), None).unwrap();
    index.insert_batch(&items, &db).unwrap();
    assert_eq!(index.len(), 3000);
    for id in (0..3000).step_by(9) {
        index.remove(id).unwrap();
    }
    let before = answers(&index, &probes);
    index.flush().unwrap();
    drop(index);
    let index = AnnIndex::open_with(&dir, DIM, graph_only(), None).unwrap();
    assert_eq!(answers(&index, &probes), before);
}

#[test]
fn inserts_after_the_checkpoint_are_replayed_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let (_, db, probes) = face_like(2000);
    let opts = AnnOptions { checkpoint_every: 1_000_000, ..graph_only() };
    let mut index = AnnIndex::open_with(&dir, DIM, opts, None).unwrap();
    let rows: Vec<&[f32]> = db.chunks_exact(DIM).collect();
    for (i, v) in rows.iter().enumerate().take(1200) {
        index.insert(i as u64, 0, v).unwrap();
    }
    index.checkpoint().unwrap();
    let saved = fs_err::metadata(dir.join("graph.dat")).unwrap().len();
    for (i, v) in rows.iter().enumerate().skip(1200) {
        index.insert(i as u64, 1, v).unwrap();
    }
    index.remove(5).unwrap();
    let before = answers(&index, &probes);
    index.flush().unwrap();
    assert_eq!(fs_err::metadata(dir.join("graph.dat")).unwrap().len(), saved, "no checkpoint was due");
    drop(index);
    let index = AnnIndex::open_with(&dir, DIM, opts, None).unwrap();
    assert_eq!(index.len(), 1999);
    assert_eq!(answers(&index, &probes), before, "replayed graph differs");
}

#[test]
fn dropping_without_flush_keeps_the_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let (_, db, probes) = face_like(500);
    let mut index = AnnIndex::open_with(&dir, DIM, graph_only(), None).unwrap();
    for (i, v) in db.chunks_exact(DIM).enumerate() {
        index.insert(i as u64, 0, v).unwrap();
    }
    index.remove(3).unwrap();
    let before = answers(&index, &probes);
    drop(index);
    let index = AnnIndex::open_with(&dir, DIM, graph_only(), None).unwrap();
    assert_eq!(index.len(), 499);
    assert_eq!(answers(&index, &probes), before);
}

#[test]
fn a_damaged_graph_file_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let (_, db, probes) = face_like(2000);
    let mut index = AnnIndex::open_with(&dir, DIM, graph_only(), None).unwrap();
    let items: Vec<(u64, u32)> = (0..2000).map(|i| (i as u64, 0)).collect();
    index.insert_batch(&items, &db).unwrap();
    index.flush().unwrap();
    let exact: Vec<Vec<Hit>> = probes.chunks_exact(DIM).map(|p| index.search_exact(p, 10, None).unwrap()).collect();
    drop(index);
    let path = dir.join("graph.dat");
    let mut bytes = fs_err::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    fs_err::write(&path, &bytes).unwrap();
    let mut index = AnnIndex::open_with(&dir, DIM, graph_only(), None).unwrap();
    assert_eq!(index.len(), 2000);
    let mut found = 0;
    for (p, truth) in probes.chunks_exact(DIM).zip(&exact) {
        let hits = index.search(p, 10, None).unwrap();
        found += hits.iter().filter(|h| truth.iter().any(|t| t.id == h.id)).count();
    }
    assert!(found as f64 / (10.0 * exact.len() as f64) > 0.95, "recall after rebuild: {found}");
    index.flush().unwrap();
    drop(index);
    assert_ne!(fs_err::read(&path).unwrap(), bytes, "the rebuilt graph was written at flush");
    AnnIndex::open_with(&dir, DIM, graph_only(), None).unwrap();
}

#[test]
fn a_flat_index_directory_opens_as_ann_and_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let (_, db, probes) = face_like(600);
    let mut flat = FlatIndex::open(&dir, DIM).unwrap();
    for (i, v) in db.chunks_exact(DIM).enumerate() {
        flat.insert(i as u64 + 100, (i % 2) as u32, v).unwrap();
    }
    for id in (100..700).step_by(5) {
        flat.remove(id).unwrap();
    }
    flat.flush().unwrap();
    let flat_answers: Vec<Vec<u64>> =
        probes.chunks_exact(DIM).map(|p| flat.search(p, 3, None).unwrap().iter().map(|h| h.id).collect()).collect();
    drop(flat);
    let mut ann = AnnIndex::open(&dir, DIM).unwrap();
    assert_eq!(ann.len(), 480);
    for (p, want) in probes.chunks_exact(DIM).zip(&flat_answers) {
        let got: Vec<u64> = ann.search(p, 3, None).unwrap().iter().map(|h| h.id).collect();
        assert_eq!(got[0], want[0]);
    }
    ann.insert(5, 1, &db[..DIM]).unwrap();
    ann.compact().unwrap();
    drop(ann);
    let flat = FlatIndex::open(&dir, DIM).unwrap();
    assert_eq!(flat.len(), 481);
    assert!(flat.contains(5) && !flat.contains(100) && flat.contains(101));
}

#[test]
fn the_directory_is_locked_and_options_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let index = AnnIndex::open(&dir, DIM).unwrap();
    let second = AnnIndex::open(&dir, DIM);
    assert!(matches!(second, Err(gabarit_ann::Error::Index(Error::Io { .. }))), "{second:?}");
    drop(index);
    let bad = AnnIndex::open_with(&dir, DIM, AnnOptions { m: 1, ..AnnOptions::default() }, None);
    assert!(matches!(bad, Err(gabarit_ann::Error::Option { name: "m", .. })));
    let wrong_dim = AnnIndex::open(&dir, 128);
    assert!(matches!(wrong_dim, Err(gabarit_ann::Error::Index(Error::IndexDimension { .. }))));
}

/// A toy cipher for the test: XOR with a key stream and a 4-byte check sum bound to the aad.
#[derive(Debug)]
struct ToyCipher(u8);

impl ToyCipher {
    fn tag(&self, plain: &[u8], aad: &[u8]) -> [u8; 4] {
        let sum = plain.iter().chain(aad).fold(0x811C_9DC5u32, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
        sum.to_le_bytes()
    }
}

impl RecordCipher for ToyCipher {
    fn overhead(&self) -> usize {
        4
    }
    fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, String> {
        let mut out: Vec<u8> = plain.iter().enumerate().map(|(i, &b)| b ^ self.0.wrapping_add(i as u8)).collect();
        out.extend_from_slice(&self.tag(plain, aad));
        Ok(out)
    }
    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, String> {
        let (body, tag) = sealed.split_at(sealed.len() - 4);
        let plain: Vec<u8> = body.iter().enumerate().map(|(i, &b)| b ^ self.0.wrapping_add(i as u8)).collect();
        if self.tag(&plain, aad) != tag { Err("authentication failed".into()) } else { Ok(plain) }
    }
}

#[test]
fn sealed_records_round_trip_and_need_their_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("index");
    let (_, db, probes) = face_like(300);
    let cipher: Arc<dyn RecordCipher> = Arc::new(ToyCipher(0x5A));
    let open = |dir: &Path, c: Option<Arc<dyn RecordCipher>>| AnnIndex::open_with(dir, DIM, graph_only(), c);
    let mut index = open(&dir, Some(cipher.clone())).unwrap();
    for (i, v) in db.chunks_exact(DIM).enumerate() {
        index.insert(i as u64, 0, v).unwrap();
    }
    index.remove(7).unwrap();
    index.compact().unwrap();
    let before = answers(&index, &probes);
    drop(index);
    // The plain codes of a live template are not in the data file.
    let codes: Vec<u8> = gabarit_index::quant::quantize(&db[DIM..2 * DIM]).0.iter().map(|&c| c as u8).collect();
    let data = fs_err::read(dir.join("vectors.dat")).unwrap();
    assert!(!data.windows(codes.len()).any(|w| w == codes.as_slice()));
    assert!(matches!(open(&dir, None), Err(gabarit_ann::Error::Index(Error::Encryption { .. }))));
    let index = open(&dir, Some(cipher)).unwrap();
    assert_eq!(index.len(), 299);
    assert_eq!(answers(&index, &probes), before);
    drop(index);
    assert!(matches!(
        open(&dir, Some(Arc::new(ToyCipher(1)))),
        Err(gabarit_ann::Error::Index(Error::Encryption { .. }))
    ));
}
