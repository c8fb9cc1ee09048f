//! Zip and tar members read as ingestion reads them. The first byte picks the archive kind
//! (zip, tar, tar.gz), the rest is the archive. Must never panic, nor read a member past the
//! size limit.
#![no_main]

use gabarit_media::DecodeLimits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, archive)) = data.split_first() else { return };
    let name = match kind % 3 {
        0 => "x.zip",
        1 => "x.tar",
        _ => "x.tar.gz",
    };
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join(name);
    if std::fs::write(&path, archive).is_err() {
        return;
    }
    let limits = DecodeLimits { max_pixels: 4_000_000, max_file_bytes: 64 << 10 };
    if let Ok(members) = gabarit_engine::walk::read_archive(&path, &limits) {
        for (_, read) in members {
            if let Ok(size) = read {
                assert!(size as u64 <= limits.max_file_bytes, "a member read past the limit");
            }
        }
    }
});
