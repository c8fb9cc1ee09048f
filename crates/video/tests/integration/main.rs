//! The FFmpeg adapter against real FFmpeg on videos the tests make themselves.

use std::path::{Path, PathBuf};
use std::process::Command;

use gabarit_video::ffmpeg::frames_using;
use gabarit_video::{Error, Sampling, VideoLimits, frame_at, frames, probe};

fn make(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .expect("ffmpeg is installed by the README's setup");
    assert!(status.success(), "ffmpeg could not make {name}");
    out
}

/// 4 s of a test pattern, then 3 s of flat red: a cut at 4.0 s... shifted to 4.3 s by a
/// 0.3 s black gap, so that the cut falls off the 0.5 s sampling grid.
fn pattern_then_cut(dir: &Path, name: &str, codec: &[&str]) -> PathBuf {
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=4.3",
        "-f",
        "lavfi",
        "-i",
        "color=c=red:size=320x240:rate=25:duration=3",
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1:a=0,format=yuv420p[v]",
        "-map",
        "[v]",
    ];
    args.extend_from_slice(codec);
    make(dir, name, &args)
}

#[test]
fn sampling_takes_each_half_second_and_the_frame_after_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let video = pattern_then_cut(dir.path(), "cut.mp4", &["-c:v", "libx264", "-preset", "ultrafast"]);
    let info = probe(&video, &VideoLimits::default()).unwrap();
    assert_eq!((info.width, info.height, info.codec.as_str()), (320, 240, "h264"));
    assert!((info.duration_s - 7.3).abs() < 0.05, "{info:?}");
    assert!((info.frame_rate - 25.0).abs() < 1e-6);
    let times: Vec<f64> = frames(&video, &info, &Sampling::default()).unwrap().map(|f| f.unwrap().time_s).collect();
    // 0, 0.52, 1.0, … 7.0 on the grid (15 frames), plus 4.32: the first frame after the cut.
    assert_eq!(times.len(), 16, "{times:?}");
    assert!(times.iter().any(|t| (t - 4.32).abs() < 1e-6), "the cut is sampled: {times:?}");
    for k in 0..15 {
        let grid = k as f64 * 0.5;
        assert!(times.iter().any(|t| *t >= grid - 1e-9 && *t < grid + 0.04 + 1e-9), "nothing at {grid}: {times:?}");
    }
    let keyframes: Vec<f64> = frames(&video, &info, &Sampling { keyframes_only: true, ..Sampling::default() })
        .unwrap()
        .map(|f| f.unwrap().time_s)
        .collect();
    assert!(!keyframes.is_empty() && keyframes.len() < times.len(), "{keyframes:?}");
    assert_eq!(keyframes[0], 0.0);
}

#[test]
fn frames_have_the_pixels_of_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let video = pattern_then_cut(dir.path(), "cut.mkv", &["-c:v", "libx264", "-preset", "ultrafast", "-crf", "10"]);
    let info = probe(&video, &VideoLimits::default()).unwrap();
    let red = frame_at(&video, &info, 6.0, 1920).unwrap();
    let px = red.get_pixel(160, 120).0;
    assert!(px[0] > 200 && px[1] < 40 && px[2] < 40, "{px:?}");
    let pattern = frame_at(&video, &info, 1.0, 1920).unwrap();
    let sampled =
        frames(&video, &info, &Sampling::default()).unwrap().map(|f| f.unwrap()).find(|f| f.time_s == 1.0).unwrap();
    assert_eq!(pattern.as_raw(), sampled.rgb.as_raw(), "the frame for a crop is the sampled frame");
}

#[test]
fn containers_and_codecs_ffmpeg_reads() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str], &str)] = &[
        ("a.webm", &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"], "vp9"),
        ("a.mov", &["-c:v", "libx264", "-preset", "ultrafast"], "h264"),
        ("a.avi", &["-c:v", "mpeg4"], "mpeg4"),
        ("a.mkv", &["-c:v", "libx264", "-preset", "ultrafast"], "h264"),
    ];
    for (name, codec, expect) in cases {
        let mut args = vec!["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2"];
        args.extend_from_slice(codec);
        let video = make(dir.path(), name, &args);
        let info = probe(&video, &VideoLimits::default()).unwrap();
        assert_eq!(info.codec, *expect, "{name}");
        let n = frames(&video, &info, &Sampling::default()).unwrap().collect::<Result<Vec<_>, _>>().unwrap().len();
        assert_eq!(n, 4, "{name}: 0, 0.5, 1.0, 1.5");
    }
}

#[test]
fn rotation_metadata_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let plain = make(
        dir.path(),
        "plain.mp4",
        &["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-c:v", "libx264", "-preset", "ultrafast"],
    );
    let rotated =
        make(dir.path(), "rot.mp4", &["-i", plain.to_str().unwrap(), "-c", "copy", "-metadata:s:v:0", "rotate=90"]);
    let info = probe(&rotated, &VideoLimits::default()).unwrap();
    assert_eq!((info.rotation, info.width, info.height), (90, 240, 320));
    let f = frames(&rotated, &info, &Sampling::default()).unwrap().next().unwrap().unwrap();
    assert_eq!(f.rgb.dimensions(), (240, 320));
}

#[test]
fn bad_videos_are_refused_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let limits = VideoLimits::default();
    let good = make(
        dir.path(),
        "good.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x480:rate=25:duration=4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-movflags",
            "+faststart",
        ],
    );
    let bytes = fs_err::read(&good).unwrap();
    // Truncated with the index at the front: probing works, decoding must fail, not end early.
    let truncated = dir.path().join("truncated.mp4");
    fs_err::write(&truncated, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let info = probe(&truncated, &limits).unwrap();
    let results: Vec<_> = frames(&truncated, &info, &Sampling::default()).unwrap().collect();
    let last = results.last().unwrap();
    assert!(matches!(last, Err(Error::Corrupt { .. })), "{last:?}");
    assert!(results.iter().filter(|r| r.is_err()).count() == 1, "one error, then the end");
    // Truncated before the index: not even probed.
    let head = dir.path().join("head.mp4");
    fs_err::write(&head, &bytes[..200]).unwrap();
    let e = probe(&head, &limits).unwrap_err();
    assert_eq!(e.code(), "corrupt_video");
    assert!(e.to_string().contains("head.mp4"), "{e}");
    // Not a video at all.
    let text = dir.path().join("notes.mp4");
    fs_err::write(&text, b"hello, not a video").unwrap();
    assert_eq!(probe(&text, &limits).unwrap_err().code(), "corrupt_video");
    let empty = dir.path().join("empty.mkv");
    fs_err::write(&empty, b"").unwrap();
    assert_eq!(probe(&empty, &limits).unwrap_err().code(), "corrupt_video");
    // Sound only.
    let audio = make(dir.path(), "sound.mka", &["-f", "lavfi", "-i", "sine=duration=1"]);
    assert!(matches!(probe(&audio, &limits), Err(Error::NoVideoStream { .. })));
    // Beyond the limits: frame size, duration.
    let small = VideoLimits { max_pixels: 320 * 240, max_duration_s: 3.0, ..limits };
    assert_eq!(probe(&good, &small).unwrap_err().code(), "too_many_pixels");
    let short = VideoLimits { max_duration_s: 3.0, ..limits };
    let e = probe(&good, &short).unwrap_err();
    assert_eq!(e.code(), "video_limits");
    assert!(e.to_string().contains("duration"), "{e}");
    let few = VideoLimits { max_frames: 50, ..limits };
    assert_eq!(probe(&good, &few).unwrap_err().code(), "video_limits");
    // A missing file.
    assert_eq!(probe(&dir.path().join("missing.mp4"), &limits).unwrap_err().code(), "io");
}

#[test]
fn a_decoder_that_sends_nothing_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let video = make(
        dir.path(),
        "v.mp4",
        &["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-c:v", "libx264", "-preset", "ultrafast"],
    );
    let info = probe(&video, &VideoLimits::default()).unwrap();
    // An "ffmpeg" that hangs without a word, as a decoder stuck on a hostile file would.
    let fake = dir.path().join("ffmpeg");
    fs_err::write(&fake, "#!/bin/sh\nexec sleep 3600\n").unwrap();
    let mut perms = fs_err::metadata(&fake).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    fs_err::set_permissions(&fake, perms).unwrap();
    // Only the watchdog ends this (the fake sleeps an hour; a test left hanging is ended by
    // nextest's timeout, .config/nextest.toml): no timing is asserted.
    let sampling = Sampling { stall_timeout_s: 1.0, ..Sampling::default() };
    let first = frames_using(&fake, &video, &info, &sampling).unwrap().next().unwrap();
    let e = first.unwrap_err();
    assert_eq!(e.code(), "corrupt_video");
    assert!(e.to_string().contains("FFmpeg sent nothing for 1 s and was stopped"), "{e}");
}
