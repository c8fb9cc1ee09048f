//! Records sealed at rest: without the key the files reveal no template.

use std::sync::Arc;

use gabarit_crypto::{DataKey, Kek, Keyring};
use gabarit_index::{CompressedIndex, Error, FlatIndex, RecordCipher, VectorIndex, quant};

#[derive(Debug)]
struct Sealer(DataKey);

impl RecordCipher for Sealer {
    fn overhead(&self) -> usize {
        gabarit_crypto::SEAL_OVERHEAD
    }
    fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, String> {
        self.0.seal(plain, aad).map_err(|e| e.to_string())
    }
    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, String> {
        self.0.open(sealed, aad).map_err(|e| e.to_string())
    }
}

fn unit(seed: u32, dim: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dim).map(|i| ((i as f32 + 1.0) * (seed as f32 + 0.7)).sin()).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

#[test]
fn sealed_records_round_trip_and_reveal_nothing_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let key =
        || -> Arc<dyn RecordCipher> { Arc::new(Sealer(Keyring::open(dir.path().join("keyring.json"), &kek).unwrap())) };
    Keyring::create(dir.path().join("keyring.json"), &kek).unwrap();
    let path = dir.path().join("index");
    let dim = 64;
    let vectors: Vec<Vec<f32>> = (0..50).map(|i| unit(i, dim)).collect();
    let before = {
        let mut idx = FlatIndex::open_with(&path, dim, Some(key())).unwrap();
        for (i, v) in vectors.iter().enumerate() {
            idx.insert(i as u64, 1, v).unwrap();
        }
        idx.flush().unwrap();
        assert_eq!(idx.stats().record_bytes, 16 + dim + gabarit_crypto::SEAL_OVERHEAD);
        idx.search(&vectors[7], 5, None).unwrap()
    };
    assert_eq!(before[0].id, 7);
    // Reopened with the key: identical results.
    {
        let idx = FlatIndex::open_with(&path, dim, Some(key())).unwrap();
        assert_eq!(idx.search(&vectors[7], 5, None).unwrap(), before);
    }
    // Without the key: refused, and no stored code sequence is in the files.
    let err = FlatIndex::open(&path, dim).unwrap_err();
    assert!(matches!(err, Error::Encryption { .. }), "{err}");
    let data = fs_err::read(path.join("vectors.dat")).unwrap();
    for v in &vectors {
        let (codes, _) = quant::quantize(v);
        let plain: Vec<u8> = codes.iter().map(|c| *c as u8).collect();
        assert!(!data.windows(16).any(|w| plain.windows(16).any(|p| p == w)), "a plaintext run of codes leaked");
    }
    // With another key: refused (authentication fails).
    let other = tempfile::tempdir().unwrap();
    let other_key: Arc<dyn RecordCipher> =
        Arc::new(Sealer(Keyring::create(other.path().join("k.json"), &Kek::generate().unwrap()).unwrap()));
    assert!(matches!(FlatIndex::open_with(&path, dim, Some(other_key)), Err(Error::Encryption { .. })));
    // Compaction keeps records sealed.
    {
        let mut idx = FlatIndex::open_with(&path, dim, Some(key())).unwrap();
        idx.remove(3).unwrap();
        idx.compact().unwrap();
    }
    let idx = FlatIndex::open_with(&path, dim, Some(key())).unwrap();
    assert_eq!(idx.len(), 49);
}

/// The sealed part of each record in the data file of a sealed index of `dim`, by id.
fn sealed_records(path: &std::path::Path, dim: usize) -> Vec<(u64, Vec<u8>)> {
    let data = fs_err::read(path.join("vectors.dat")).unwrap();
    let len = 12 + gabarit_crypto::sealed_len(4 + dim);
    data[24..].chunks_exact(len).map(|r| (u64::from_le_bytes(r[..8].try_into().unwrap()), r[12..].to_vec())).collect()
}

#[test]
fn a_sealed_index_keeps_no_sealed_record_of_a_removed_template_after_compact() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let key: Arc<dyn RecordCipher> = Arc::new(Sealer(Keyring::create(dir.path().join("keyring.json"), &kek).unwrap()));
    let path = dir.path().join("index");
    let dim = 64;
    let mut idx = FlatIndex::open_with(&path, dim, Some(key.clone())).unwrap();
    for i in 0..40u32 {
        idx.insert(u64::from(i), 1, &unit(i, dim)).unwrap();
    }
    idx.flush().unwrap();
    let records = sealed_records(&path, dim);
    assert_eq!(records.len(), 40);
    let removed: Vec<u64> = (0..40).filter(|i| i % 5 == 2).collect();
    for id in &removed {
        assert!(idx.remove(*id).unwrap());
    }
    idx.flush().unwrap();
    let data = || fs_err::read(path.join("vectors.dat")).unwrap();
    let found = |sealed: &[u8]| data().windows(sealed.len()).any(|w| w == sealed);
    // Before the compaction, the removed records' sealed bytes are still in the file (the
    // check below can see them); after it, they are not (the live ones are sealed again).
    assert!(records.iter().all(|(_, sealed)| found(sealed)));
    idx.compact().unwrap();
    for (id, sealed) in records.iter().filter(|(id, _)| removed.contains(id)) {
        assert!(!found(sealed), "record {id} was removed");
    }
    let ids: Vec<u64> = sealed_records(&path, dim).into_iter().map(|(id, _)| id).collect();
    assert!(ids.iter().all(|id| !removed.contains(id)) && ids.len() == 32, "{ids:?}");
    drop(idx);
    let idx = FlatIndex::open_with(&path, dim, Some(key)).unwrap();
    assert_eq!((idx.len(), idx.stats().dead), (32, 0));
    assert!(removed.iter().all(|id| !idx.contains(*id)));
    let hits = idx.search(&unit(8, dim), 40, None).unwrap();
    assert_eq!(hits.len(), 32, "every live record opens with the key");
    assert!(hits.iter().any(|h| h.id == 8 && h.score > 0.99), "{hits:?}");
}

/// A sealed compressed index reads each template it re-scores from the file (or the write
/// buffer) and opens it there: the same answers as a sealed flat index at every point, a
/// damaged record is an error naming the file, and compaction keeps no removed record.
#[test]
fn a_sealed_compressed_index_opens_the_records_it_rescores() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let key: Arc<dyn RecordCipher> = Arc::new(Sealer(Keyring::create(dir.path().join("keyring.json"), &kek).unwrap()));
    let (flat_path, path) = (dir.path().join("flat"), dir.path().join("compressed"));
    let dim = 64;
    let mut flat = FlatIndex::open_with(&flat_path, dim, Some(key.clone())).unwrap();
    let mut idx = CompressedIndex::open_with(&path, dim, Some(key.clone())).unwrap();
    let same = |idx: &CompressedIndex, flat: &FlatIndex, n: u32| {
        for q in (0..n).step_by(13) {
            let q = unit(q, dim);
            assert_eq!(idx.search(&q, 10, None).unwrap(), flat.search(&q, 10, None).unwrap());
            assert_eq!(idx.search_threshold(&q, 0.3, None).unwrap(), flat.search_threshold(&q, 0.3, None).unwrap());
        }
    };
    for i in 0..200u32 {
        idx.insert(u64::from(i), i % 2, &unit(i, dim)).unwrap();
        flat.insert(u64::from(i), i % 2, &unit(i, dim)).unwrap();
    }
    // Nothing written out yet: every record re-scored comes from the write buffer.
    same(&idx, &flat, 200);
    idx.flush().unwrap();
    for i in 200..300u32 {
        idx.insert(u64::from(i), i % 2, &unit(i, dim)).unwrap();
        flat.insert(u64::from(i), i % 2, &unit(i, dim)).unwrap();
    }
    // Some in the file, some in the buffer.
    same(&idx, &flat, 300);
    let removed: Vec<u64> = (0..300).filter(|i| i % 5 == 2).collect();
    for id in &removed {
        assert!(idx.remove(*id).unwrap() && flat.remove(*id).unwrap());
    }
    idx.flush().unwrap();
    let records = sealed_records(&path, dim);
    assert_eq!(records.len(), 300);
    idx.compact().unwrap();
    flat.compact().unwrap();
    let data = fs_err::read(path.join("vectors.dat")).unwrap();
    for (id, sealed) in records.iter().filter(|(id, _)| removed.contains(id)) {
        assert!(!data.windows(sealed.len()).any(|w| w == sealed), "record {id} was removed");
    }
    same(&idx, &flat, 300);
    drop(idx);
    let idx = CompressedIndex::open_with(&path, dim, Some(key.clone())).unwrap();
    assert_eq!(idx.len(), 240);
    same(&idx, &flat, 300);
    // A record damaged on disk while the index is open: the search that must open it fails
    // with the file named, and does not answer without it.
    drop(idx);
    let idx = CompressedIndex::open_with(&path, dim, Some(key.clone())).unwrap();
    let mut bytes = fs_err::read(path.join("vectors.dat")).unwrap();
    let len = 12 + gabarit_crypto::sealed_len(4 + dim);
    bytes[24 + 5 * len + 40] ^= 1;
    fs_err::write(path.join("vectors.dat"), &bytes).unwrap();
    let err = idx.search_exact(&unit(1, dim), 240, None).unwrap_err();
    assert!(matches!(&err, Error::Encryption { path: p, .. } if p.ends_with("vectors.dat")), "{err:?}");
    // The stage codes an exhaustive search prunes with are sealed too (one full block of 256
    // here, the rest in memory): one bit changed in the file, and the search fails rather
    // than prune with a wrong bound.
    drop(idx);
    bytes[24 + 5 * len + 40] ^= 1;
    fs_err::write(path.join("vectors.dat"), &bytes).unwrap();
    let mut idx = CompressedIndex::open_with(&path, dim, Some(key)).unwrap();
    for i in 300..400u32 {
        idx.insert(u64::from(i), i % 2, &unit(i, dim)).unwrap();
    }
    let mut stages = fs_err::read(path.join("stages.cache")).unwrap();
    // Dimension 64 rotates into 256 components: stages of 64 bytes, levels of 28.
    assert_eq!(stages.len(), 256 * 28 + 3 * (256 * 64 + gabarit_crypto::SEAL_OVERHEAD));
    stages[100] ^= 1;
    fs_err::write(path.join("stages.cache"), &stages).unwrap();
    let err = idx.search_threshold(&unit(1, dim), 0.3, None).unwrap_err();
    assert!(matches!(&err, Error::Encryption { path: p, .. } if p.ends_with("stages.cache")), "{err:?}");
}

/// A sealed compressed index leaves its codes at close (`codes.cache`, beside `stages.cache`)
/// and the next open takes them instead of coding every record — only when they describe
/// the records read: a cache or stage file altered, one older than the records, one from
/// another directory, or one that still holds a template removed some other way is not
/// taken, and every answer is the flat index's throughout.
#[test]
fn a_sealed_compressed_index_reopens_from_its_codes_only_when_they_match() {
    let dir = tempfile::tempdir().unwrap();
    let kek = Kek::generate().unwrap();
    let key: Arc<dyn RecordCipher> = Arc::new(Sealer(Keyring::create(dir.path().join("keyring.json"), &kek).unwrap()));
    let dim = 64;
    // 600 templates: two full stage blocks of 256 and a partial one.
    let fill = |path: &std::path::Path, offset: u32| {
        let mut idx = CompressedIndex::open_with(path, dim, Some(key.clone())).unwrap();
        let mut flat = FlatIndex::open_with(path.with_extension("flat"), dim, Some(key.clone())).unwrap();
        for i in 0..600u32 {
            idx.insert(u64::from(i), i % 3, &unit(i + offset, dim)).unwrap();
            flat.insert(u64::from(i), i % 3, &unit(i + offset, dim)).unwrap();
        }
        for id in (0..600u64).filter(|i| i % 7 == 3) {
            assert!(idx.remove(id).unwrap() && flat.remove(id).unwrap());
        }
        assert!(!idx.codes_from_cache());
        flat
    };
    let same = |idx: &CompressedIndex, flat: &FlatIndex| {
        for q in (0..620u32).step_by(31) {
            let q = unit(q, dim);
            assert_eq!(idx.search(&q, 10, None).unwrap(), flat.search(&q, 10, None).unwrap());
            assert_eq!(idx.search_exact(&q, 25, None).unwrap(), flat.search_exact(&q, 25, None).unwrap());
            assert_eq!(idx.search_threshold(&q, 0.2, None).unwrap(), flat.search_threshold(&q, 0.2, None).unwrap());
        }
    };
    let path = dir.path().join("a");
    let mut flat = fill(&path, 0);
    let (cache, stages) = (path.join("codes.cache"), path.join("stages.cache"));
    let exists = |p: &std::path::Path| p.exists();
    assert!(exists(&cache) && exists(&stages), "left at close");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs_err::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let open = || CompressedIndex::open_with(&path, dim, Some(key.clone())).unwrap();
    let idx = open();
    assert!(idx.codes_from_cache());
    assert_eq!(idx.len(), flat.len());
    same(&idx, &flat);
    drop(idx);
    // Reopened without a change, it is taken again.
    let idx = open();
    assert!(idx.codes_from_cache() && exists(&cache));
    drop(idx);

    // One bit of the cache's body changed: not taken, coded again, the same answers; the
    // cache is gone while the index is open and written anew at close.
    let mut bytes = fs_err::read(&cache).unwrap();
    bytes[300] ^= 1;
    fs_err::write(&cache, &bytes).unwrap();
    let idx = open();
    assert!(!idx.codes_from_cache() && !exists(&cache));
    same(&idx, &flat);
    drop(idx);
    assert!(open().codes_from_cache());

    // One bit of the stage file changed after the close: not taken (its sealed sections would
    // fail every exhaustive search), coded again.
    let mut bytes = fs_err::read(&stages).unwrap();
    bytes[1000] ^= 1;
    fs_err::write(&stages, &bytes).unwrap();
    let idx = open();
    assert!(!idx.codes_from_cache());
    same(&idx, &flat);
    drop(idx);

    // A stage file damaged while the index is open is not described as sound at close.
    let idx = open();
    assert!(idx.codes_from_cache());
    let mut bytes = fs_err::read(&stages).unwrap();
    bytes[1000] ^= 1;
    fs_err::write(&stages, &bytes).unwrap();
    let mut idx = idx;
    idx.insert(600, 0, &unit(600, dim)).unwrap();
    flat.insert(600, 0, &unit(600, dim)).unwrap();
    assert!(exists(&cache), "an insert leaves it: it still describes the records before");
    drop(idx);
    assert!(!exists(&cache) && !exists(&stages), "nothing to take: a damaged stage file");
    let idx = open();
    assert!(!idx.codes_from_cache());
    same(&idx, &flat);
    drop(idx);

    // A cache older than the records (one more template since, as a process that ended
    // without closing would leave it): taken for the records it describes, the last one coded.
    let (old_cache, old_stages) = (fs_err::read(&cache).unwrap(), fs_err::read(&stages).unwrap());
    let mut idx = open();
    assert_eq!(idx.codes_taken_at_open(), 601);
    idx.insert(601, 1, &unit(601, dim)).unwrap();
    flat.insert(601, 1, &unit(601, dim)).unwrap();
    drop(idx);
    fs_err::write(&cache, &old_cache).unwrap();
    fs_err::write(&stages, &old_stages).unwrap();
    let idx = open();
    assert_eq!((idx.codes_taken_at_open(), idx.len()), (601, flat.len()));
    same(&idx, &flat);
    drop(idx);
    // A cache that describes more records than there are (the records cut short): not taken.
    let (old_cache, old_stages) = (fs_err::read(&cache).unwrap(), fs_err::read(&stages).unwrap());
    let mut idx = open();
    idx.insert(602, 1, &unit(602, dim)).unwrap();
    drop(idx);
    let longer = (fs_err::read(&cache).unwrap(), fs_err::read(&stages).unwrap());
    let mut idx = open();
    assert!(idx.remove(602).unwrap());
    idx.compact().unwrap();
    drop(idx);
    fs_err::write(&cache, &longer.0).unwrap();
    fs_err::write(&stages, &longer.1).unwrap();
    let idx = open();
    assert!(!idx.codes_from_cache());
    same(&idx, &flat);
    drop(idx);
    let _ = (old_cache, old_stages);

    // A template removed by another kind of index on the same records (the cache still holds
    // its codes): the cache goes at open, the template's codes are zeroed, none is found.
    {
        let mut other = FlatIndex::open_with(&path, dim, Some(key.clone())).unwrap();
        assert!(other.remove(11).unwrap() && flat.remove(11).unwrap());
    }
    assert!(exists(&cache));
    let idx = open();
    assert!(!exists(&cache), "a cache holding a removed template's codes is removed at open");
    same(&idx, &flat);
    drop(idx);
    assert!(open().codes_from_cache());

    // The cache of another directory with as many records, sealed with the same key: its
    // digest is not of these records.
    let other = dir.path().join("b");
    let other_flat = fill(&other, 1000);
    fs_err::copy(&cache, other.join("codes.cache")).unwrap();
    fs_err::copy(&stages, other.join("stages.cache")).unwrap();
    let idx = CompressedIndex::open_with(&other, dim, Some(key.clone())).unwrap();
    assert!(!idx.codes_from_cache());
    same(&idx, &other_flat);
}
