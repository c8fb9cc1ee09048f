//! Video for Gabarit: files the operator names (never camera streams), read through FFmpeg.
//!
//! - [`ffmpeg`]: probe a file (duration, frame rate, codec, displayed size, rotation) and check
//!   it against [`VideoLimits`] before decoding; sampled frames ([`Sampling`]: one per interval,
//!   plus the first frame after each cut, or keyframes only) with their times; one frame at a
//!   time stamp, for crops.
//! - [`track`]: pure linking of faces across sampled frames into tracks, keeping each track's
//!   best faces.
//!
//! What it is not: a face engine (callers run the models on the frames) or a store.

pub mod ffmpeg;
#[cfg(feature = "testing")]
pub mod testing;
pub mod track;

pub use ffmpeg::{Frame, Frames, Sampling, VideoInfo, VideoLimits, available, frame_at, frames, probe};
pub use track::{Sighting, Track, Tracker, TrackerOptions};

use std::path::Path;

/// Errors of this crate; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `ffmpeg` or `ffprobe` is not installed.
    #[error("{tool} not found: install FFmpeg (Debian: apt-get install ffmpeg) to ingest videos")]
    FfmpegMissing {
        /// The program.
        tool: String,
    },
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// FFmpeg could not read it, or reported a decoding error (corrupt or truncated).
    #[error("{path}: corrupt or truncated video: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// FFmpeg's first error.
        reason: String,
    },
    /// The file holds no video stream.
    #[error("{path}: no video stream")]
    NoVideoStream {
        /// The file.
        path: String,
    },
    /// Frames larger than the limit.
    #[error("{path}: {width}x{height} frames, over the limit of {max} pixels")]
    TooManyPixels {
        /// The file.
        path: String,
        /// Width.
        width: u64,
        /// Height.
        height: u64,
        /// Limit.
        max: u64,
    },
    /// A duration, frame rate or frame count beyond the limits.
    #[error("{path}: {what}")]
    Absurd {
        /// The file.
        path: String,
        /// What is beyond the limit.
        what: String,
    },
}

impl Error {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::FfmpegMissing { .. } => "ffmpeg_missing",
            Error::Io { .. } => "io",
            Error::Corrupt { .. } => "corrupt_video",
            Error::NoVideoStream { .. } => "no_video_stream",
            Error::TooManyPixels { .. } => "too_many_pixels",
            Error::Absurd { .. } => "video_limits",
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// File extensions read as video.
pub const VIDEO_EXTENSIONS: &[&str] =
    &["mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "wmv", "flv", "3gp", "ogv"];

/// Whether the file name says video.
pub fn has_video_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// `hh:mm:ss.mmm`.
pub fn format_timestamp(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_clock_times() {
        assert_eq!(format_timestamp(0.0), "00:00:00.000");
        assert_eq!(format_timestamp(2.52), "00:00:02.520");
        assert_eq!(format_timestamp(3723.0456), "01:02:03.046");
    }

    #[test]
    fn video_extensions() {
        assert!(has_video_extension(Path::new("a/b.MP4")));
        assert!(has_video_extension(Path::new("x.webm")));
        assert!(!has_video_extension(Path::new("x.jpg")));
        assert!(!has_video_extension(Path::new("mp4")));
    }
}
