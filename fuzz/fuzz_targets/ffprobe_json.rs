//! What ffprobe printed, parsed and checked against the limits. The first byte picks the
//! stderr (none, or a warning), the rest is stdout. Must never panic.
#![no_main]

use gabarit_video::VideoLimits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, stdout)) = data.split_first() else { return };
    let stderr: &[u8] = if pick & 1 == 0 { b"" } else { b"[mov,mp4] moov atom not found\n" };
    let limits = VideoLimits::default();
    if let Ok(info) = gabarit_video::ffmpeg::parse_probe("x.mp4", stdout, stderr, &limits) {
        assert!(info.width > 0 && info.height > 0);
        assert!(u64::from(info.width) * u64::from(info.height) <= limits.max_pixels);
        assert!(info.duration_s.is_finite() && info.duration_s >= 0.0 && info.duration_s <= limits.max_duration_s);
        assert!(info.frame_rate.is_finite() && info.frame_rate <= limits.max_frame_rate);
        let _ = info.frame_size(640);
    }
});
