//! Image decoding of hostile bytes: sniffing, header checks, pixel limits, EXIF. Must never
//! panic; errors are expected.
#![no_main]

use std::path::Path;

use gabarit_media::DecodeLimits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_pixels: 4_000_000, max_file_bytes: 4 << 20 };
    if let Ok(image) = gabarit_media::decode_bytes(data, Path::new("x.jpg"), &limits) {
        assert!(u64::from(image.width()) * u64::from(image.height()) <= limits.max_pixels);
        assert_eq!(image.file_bytes, data.len() as u64);
    }
    let _ = gabarit_media::exif_info(data);
});
