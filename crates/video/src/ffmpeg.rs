//! The FFmpeg adapter: `ffprobe` for what a file holds, `ffmpeg` as a child process for
//! decoded frames (raw RGB on a pipe, timestamps from the `showinfo` filter on stderr).
//!
//! Why a child process and not bindings: a hostile or corrupt file that crashes or hangs a
//! decoder takes down the child, not the ingestion (the child is killed when its reader is
//! dropped); there is no C build step or ABI coupling to one FFmpeg version; and the pipe
//! costs little next to decoding and the face models (measured: see the README).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use image::RgbImage;
use serde::Serialize;

use crate::{Error, Result};

/// Bounds on what a video may claim before any frame is decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoLimits {
    /// Largest frame (width × height, as displayed).
    pub max_pixels: u64,
    /// Longest duration, seconds.
    pub max_duration_s: f64,
    /// Highest frame rate.
    pub max_frame_rate: f64,
    /// Most frames in the stream.
    pub max_frames: u64,
}

impl Default for VideoLimits {
    fn default() -> Self {
        VideoLimits {
            max_pixels: 8192 * 8192,
            max_duration_s: 24.0 * 3600.0,
            max_frame_rate: 1000.0,
            max_frames: 24 * 3600 * 240,
        }
    }
}

/// How frames are picked from a video.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// One frame per interval (seconds): the first frame of each interval of the timeline.
    pub interval_s: f64,
    /// Scene-change score (0–1, FFmpeg's `scene`) above which a frame is always sampled: the
    /// first frame after a cut.
    pub scene_threshold: f64,
    /// Decode keyframes only (a quick pass: no interval or scene sampling).
    pub keyframes_only: bool,
    /// Frames are scaled down so that their longer side is at most this many pixels.
    pub max_side: u32,
    /// FFmpeg is killed, and the video failed, when it sends nothing for this long (seconds):
    /// a decoder stuck on a hostile file does not hold a worker forever.
    pub stall_timeout_s: f64,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling { interval_s: 0.5, scene_threshold: 0.3, keyframes_only: false, max_side: 1920, stall_timeout_s: 60.0 }
    }
}

/// What `ffprobe` says about a file's first video stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoInfo {
    /// Duration in seconds.
    pub duration_s: f64,
    /// Average frame rate.
    pub frame_rate: f64,
    /// Codec name (`h264`, `vp9`…).
    pub codec: String,
    /// Container format name(s) as FFmpeg reports them.
    pub container: String,
    /// Width as displayed (after rotation).
    pub width: u32,
    /// Height as displayed (after rotation).
    pub height: u32,
    /// Rotation from the display matrix, degrees.
    pub rotation: i32,
    /// Frames in the stream, when the container says.
    pub frames: Option<u64>,
    /// Creation time from the container's tags, when present.
    pub created: Option<String>,
}

impl VideoInfo {
    /// The size of sampled frames: displayed size, scaled down to `max_side`.
    pub fn frame_size(&self, max_side: u32) -> (u32, u32) {
        let (w, h) = (self.width.max(1), self.height.max(1));
        let longer = w.max(h);
        if longer <= max_side.max(1) {
            return (w, h);
        }
        let s = f64::from(max_side.max(1)) / f64::from(longer);
        let scale = |v: u32| ((f64::from(v) * s).round() as u32).max(1);
        (scale(w), scale(h))
    }
}

fn ffprobe() -> PathBuf {
    std::env::var_os("GABARIT_FFPROBE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("ffprobe"))
}

fn ffmpeg() -> PathBuf {
    std::env::var_os("GABARIT_FFMPEG").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("ffmpeg"))
}

fn spawn_error(tool: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::FfmpegMissing { tool: tool.display().to_string() }
    } else {
        Error::Io { path: tool.display().to_string(), source: e }
    }
}

/// Whether `ffmpeg` and `ffprobe` can be run.
pub fn available() -> bool {
    [ffmpeg(), ffprobe()].iter().all(|t| {
        Command::new(t).arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    })
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("unreadable");
    line.chars().take(300).collect()
}

fn parse_rate(s: &str) -> Option<f64> {
    match s.split_once('/') {
        Some((n, d)) => {
            let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
            (d > 0.0 && n > 0.0).then_some(n / d)
        }
        None => s.parse().ok().filter(|v: &f64| *v > 0.0),
    }
}

/// Reads what the file holds and checks it against the limits, before decoding anything.
pub fn probe(path: &Path, limits: &VideoLimits) -> Result<VideoInfo> {
    let name = path.display().to_string();
    fs_err::metadata(path).map_err(|e| Error::Io { path: name.clone(), source: e })?;
    let tool = ffprobe();
    let out = Command::new(&tool)
        .args(["-v", "warning", "-print_format", "json", "-show_format", "-show_streams", "-select_streams", "v:0"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(&tool, e))?;
    if !out.status.success() {
        return Err(Error::Corrupt { path: name, reason: first_line(&out.stderr) });
    }
    parse_probe(&name, &out.stdout, &out.stderr, limits)
}

/// Reads what a successful `ffprobe -print_format json -show_format -show_streams
/// -select_streams v:0` printed about the file `name` (its `stdout` and `stderr`) and checks it
/// against the limits: what [`probe`] does once ffprobe has run. Pure (no process, no file),
/// so that the parsing can be tested and fuzzed on its own.
pub fn parse_probe(name: &str, stdout: &[u8], stderr: &[u8], limits: &VideoLimits) -> Result<VideoInfo> {
    let name = name.to_string();
    let json: serde_json::Value = serde_json::from_slice(stdout)
        .map_err(|e| Error::Corrupt { path: name.clone(), reason: format!("unreadable probe output: {e}") })?;
    let Some(stream) = json["streams"].as_array().and_then(|s| s.first()) else {
        // Warnings with no video stream: a damaged header (a truncated file), not a sound file.
        if !stderr.trim_ascii().is_empty() {
            return Err(Error::Corrupt { path: name, reason: first_line(stderr) });
        }
        return Err(Error::NoVideoStream { path: name });
    };
    let format = &json["format"];
    let num = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<f64>().ok()).or_else(|| v.as_f64());
    let coded_w = stream["width"].as_u64().unwrap_or(0);
    let coded_h = stream["height"].as_u64().unwrap_or(0);
    if coded_w == 0 || coded_h == 0 {
        return Err(Error::Corrupt { path: name, reason: "the video stream has no frame size".into() });
    }
    let pixels = coded_w.saturating_mul(coded_h);
    if pixels > limits.max_pixels {
        return Err(Error::TooManyPixels { path: name, width: coded_w, height: coded_h, max: limits.max_pixels });
    }
    let rotation = stream["side_data_list"]
        .as_array()
        .and_then(|l| l.iter().find_map(|d| d["rotation"].as_i64()))
        .or_else(|| stream["tags"]["rotate"].as_str().and_then(|r| r.parse::<i64>().ok()))
        .unwrap_or(0);
    let rotation = i32::try_from(rotation.rem_euclid(360)).unwrap_or(0);
    let (width, height) = if rotation == 90 || rotation == 270 { (coded_h, coded_w) } else { (coded_w, coded_h) };
    let frame_rate = stream["avg_frame_rate"]
        .as_str()
        .and_then(parse_rate)
        .or_else(|| stream["r_frame_rate"].as_str().and_then(parse_rate))
        .unwrap_or(0.0);
    if !frame_rate.is_finite() || frame_rate > limits.max_frame_rate {
        return Err(Error::Absurd {
            path: name,
            what: format!("a frame rate of {frame_rate:.1}/s, over the limit of {}", limits.max_frame_rate),
        });
    }
    let frames = stream["nb_frames"].as_str().and_then(|s| s.parse::<u64>().ok());
    let duration_s = num(&stream["duration"])
        .or_else(|| num(&format["duration"]))
        .or_else(|| frames.filter(|_| frame_rate > 0.0).map(|f| f as f64 / frame_rate))
        .unwrap_or(0.0);
    if !duration_s.is_finite() || duration_s < 0.0 || duration_s > limits.max_duration_s {
        return Err(Error::Absurd {
            path: name,
            what: format!("a duration of {duration_s:.0} s, over the limit of {} s", limits.max_duration_s),
        });
    }
    if let Some(f) = frames.filter(|f| *f > limits.max_frames) {
        return Err(Error::Absurd { path: name, what: format!("{f} frames, over the limit of {}", limits.max_frames) });
    }
    Ok(VideoInfo {
        duration_s,
        frame_rate,
        codec: stream["codec_name"].as_str().unwrap_or("unknown").to_string(),
        container: format["format_name"].as_str().unwrap_or("unknown").to_string(),
        width: u32::try_from(width).unwrap_or(u32::MAX),
        height: u32::try_from(height).unwrap_or(u32::MAX),
        rotation,
        frames,
        created: format["tags"]["creation_time"]
            .as_str()
            .or_else(|| stream["tags"]["creation_time"].as_str())
            .map(str::to_string),
    })
}

/// One decoded frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Presentation time, seconds from the start of the stream.
    pub time_s: f64,
    /// Pixels (rotation applied, scaled down to the sampling's `max_side`).
    pub rgb: RgbImage,
}

/// What stderr carried: a sampled frame's time, or an error line.
enum Note {
    Time(f64),
    Error(String),
}

/// Parses one line of `-loglevel level+info` output.
fn parse_line(line: &str) -> Option<Note> {
    if line.contains("Parsed_showinfo") {
        let rest = line.split("pts_time:").nth(1)?;
        let value = rest.split_whitespace().next()?;
        return value.parse::<f64>().ok().map(Note::Time);
    }
    if line.contains("[error]") || line.contains("[fatal]") || line.contains("[panic]") {
        return Some(Note::Error(line.trim().chars().take(300).collect()));
    }
    None
}

/// Sampled frames of one video, decoded by an `ffmpeg` child. Ends with an error (and no
/// more frames) if the decoder reported any error, so a corrupt or truncated file is never
/// taken for a shorter good one. Dropping it kills the child.
pub struct Frames {
    path: String,
    child: Arc<Mutex<Child>>,
    watchdog: Watchdog,
    stdout: ChildStdout,
    notes: Receiver<Note>,
    errors: Vec<String>,
    width: u32,
    height: u32,
    finished: bool,
}

/// Kills the child when it has sent nothing for too long.
struct Watchdog {
    started: Instant,
    last_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    fired: Arc<AtomicBool>,
    timeout: Duration,
}

impl Watchdog {
    fn start(child: Arc<Mutex<Child>>, timeout: Duration) -> Watchdog {
        let started = Instant::now();
        let (last_ms, stop, fired) =
            (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (last, quit, shot) = (last_ms.clone(), stop.clone(), fired.clone());
        std::thread::spawn(move || {
            while !quit.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let idle = started.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
                if idle > timeout.as_millis() as u64 {
                    shot.store(true, Ordering::Relaxed);
                    if let Ok(mut c) = child.lock() {
                        let _ = c.kill();
                    }
                    break;
                }
            }
        });
        Watchdog { started, last_ms, stop, fired, timeout }
    }

    fn alive(&self) {
        self.last_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The filter graph: scale, then sampling, then timestamps.
fn filter(sampling: &Sampling, width: u32, height: u32, scaled: bool) -> String {
    let mut chain = Vec::new();
    if !sampling.keyframes_only {
        // The first frame, the first frame of each interval, and the first frame after a cut.
        let per_s = 1.0 / sampling.interval_s.max(1e-3);
        chain.push(format!(
            "select='isnan(prev_selected_t)+gt(floor(t*{per_s})\\,floor(prev_selected_t*{per_s}))+gt(scene\\,{})'",
            sampling.scene_threshold
        ));
    }
    if scaled {
        chain.push(format!("scale={width}:{height}:flags=area"));
    }
    chain.push("format=rgb24".into());
    chain.push("showinfo".into());
    chain.join(",")
}

/// Starts decoding `path` with the given sampling; `info` comes from [`probe`].
pub fn frames(path: &Path, info: &VideoInfo, sampling: &Sampling) -> Result<Frames> {
    frames_using(&ffmpeg(), path, info, sampling)
}

/// [`frames`] with this `ffmpeg` program (`GABARIT_FFMPEG`, or `ffmpeg` on the PATH, for
/// [`frames`]).
pub fn frames_using(tool: &Path, path: &Path, info: &VideoInfo, sampling: &Sampling) -> Result<Frames> {
    let (width, height) = info.frame_size(sampling.max_side);
    let scaled = (width, height) != (info.width, info.height);
    let mut cmd = Command::new(tool);
    cmd.args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info", "-threads", "2"]);
    if sampling.keyframes_only {
        cmd.args(["-skip_frame", "nokey"]);
    }
    cmd.arg("-i").arg(path);
    cmd.args(["-map", "0:v:0", "-an", "-sn", "-dn", "-vf", &filter(sampling, width, height, scaled)]);
    cmd.args(["-fps_mode", "vfr", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(tool, e))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        let _ = child.kill();
        return Err(Error::Io { path: tool.display().to_string(), source: std::io::Error::other("no pipes") });
    };
    let (tx, notes) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(note) = parse_line(&line)
                && tx.send(note).is_err()
            {
                break;
            }
        }
    });
    let child = Arc::new(Mutex::new(child));
    let watchdog = Watchdog::start(child.clone(), Duration::from_secs_f64(sampling.stall_timeout_s.max(0.1)));
    Ok(Frames {
        path: path.display().to_string(),
        child,
        watchdog,
        stdout,
        notes,
        errors: Vec::new(),
        width,
        height,
        finished: false,
    })
}

impl Frames {
    /// Size of the frames.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn kill_and_wait(&self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn fail(&mut self, reason: String) -> Option<Result<Frame>> {
        self.finished = true;
        self.kill_and_wait();
        Some(Err(Error::Corrupt { path: self.path.clone(), reason }))
    }

    /// The next time stamp from stderr; error lines are kept aside.
    fn next_time(&mut self) -> Option<f64> {
        for note in self.notes.iter() {
            match note {
                Note::Time(t) => return Some(t),
                Note::Error(e) => self.errors.push(e),
            }
        }
        None
    }
}

impl Iterator for Frames {
    type Item = Result<Frame>;

    fn next(&mut self) -> Option<Result<Frame>> {
        if self.finished {
            return None;
        }
        let len = self.width as usize * self.height as usize * 3;
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            match self.stdout.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    self.watchdog.alive();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(format!("reading decoded frames: {e}")),
            }
        }
        if filled == 0 {
            // End of stream: the decoder's verdict decides whether what came was the whole video.
            self.finished = true;
            if self.watchdog.fired.load(Ordering::Relaxed) {
                self.kill_and_wait();
                let secs = self.watchdog.timeout.as_secs_f64();
                return Some(Err(Error::Corrupt {
                    path: self.path.clone(),
                    reason: format!("FFmpeg sent nothing for {secs:.0} s and was stopped"),
                }));
            }
            let status = match self.child.lock() {
                Ok(mut c) => c.wait(),
                Err(_) => Err(std::io::Error::other("the decoder's lock is poisoned")),
            };
            for note in self.notes.iter() {
                if let Note::Error(e) = note {
                    self.errors.push(e);
                }
            }
            if let Some(first) = self.errors.first() {
                return Some(Err(Error::Corrupt { path: self.path.clone(), reason: first.clone() }));
            }
            return match status {
                Ok(s) if s.success() => None,
                Ok(s) => {
                    Some(Err(Error::Corrupt { path: self.path.clone(), reason: format!("ffmpeg exited with {s}") }))
                }
                Err(e) => Some(Err(Error::Io { path: self.path.clone(), source: e })),
            };
        }
        if filled < len {
            if self.watchdog.fired.load(Ordering::Relaxed) {
                let secs = self.watchdog.timeout.as_secs_f64();
                return self.fail(format!("FFmpeg sent nothing for {secs:.0} s and was stopped"));
            }
            return self.fail(format!("a frame of {filled} bytes instead of {len}"));
        }
        let Some(time_s) = self.next_time() else {
            return self.fail("a frame without a time stamp".into());
        };
        if let Some(first) = self.errors.first().cloned() {
            return self.fail(first);
        }
        match RgbImage::from_raw(self.width, self.height, buf) {
            Some(rgb) => Some(Ok(Frame { time_s, rgb })),
            None => self.fail("a frame of the wrong size".into()),
        }
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            if !self.finished {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

/// The frame shown at `time_s` (the first frame at or after it), at the size sampled frames
/// have with `max_side`: boxes stored from sampled frames apply to it as they are.
pub fn frame_at(path: &Path, info: &VideoInfo, time_s: f64, max_side: u32) -> Result<RgbImage> {
    let sampling = Sampling { keyframes_only: false, max_side, ..Sampling::default() };
    let (width, height) = info.frame_size(sampling.max_side);
    let scaled = (width, height) != (info.width, info.height);
    let tool = ffmpeg();
    let mut chain = vec![format!("select='gte(t\\,{:.6})'", (time_s - 1e-4).max(0.0))];
    if scaled {
        chain.push(format!("scale={width}:{height}:flags=area"));
    }
    chain.push("format=rgb24".into());
    // Seek near the time first (fast), then select exactly.
    let seek = (time_s - 2.0).max(0.0);
    let out = Command::new(&tool)
        .args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-ss", &format!("{seek:.6}")])
        .arg("-i")
        .arg(path)
        .args(["-copyts", "-map", "0:v:0", "-an", "-vf", &chain.join(","), "-frames:v", "1"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(&tool, e))?;
    let name = path.display().to_string();
    if !out.status.success() {
        return Err(Error::Corrupt { path: name, reason: first_line(&out.stderr) });
    }
    let len = width as usize * height as usize * 3;
    if out.stdout.len() < len {
        return Err(Error::Corrupt { path: name, reason: format!("no frame at {time_s:.3} s") });
    }
    let mut bytes = out.stdout;
    bytes.truncate(len);
    RgbImage::from_raw(width, height, bytes)
        .ok_or_else(|| Error::Corrupt { path: path.display().to_string(), reason: "a frame of the wrong size".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn showinfo_and_error_lines_are_told_apart() {
        let l = "[Parsed_showinfo_2 @ 0x55d] [info] n:   3 pts:  19456 pts_time:1.52    duration:512";
        assert!(matches!(parse_line(l), Some(Note::Time(t)) if (t - 1.52).abs() < 1e-9));
        let e = "[h264 @ 0x5589] [error] Invalid NAL unit size (260192 > 127874).";
        assert!(matches!(parse_line(e), Some(Note::Error(m)) if m.contains("Invalid NAL")));
        assert!(parse_line("[mp4 @ 0x1] [warning] something benign").is_none());
        assert!(parse_line("[Parsed_showinfo_2 @ 0x55d] [info] config in time_base: 1/12800").is_none());
    }

    #[test]
    fn frame_rates_parse_and_refuse_zero() {
        assert_eq!(parse_rate("25/1"), Some(25.0));
        assert!((parse_rate("30000/1001").unwrap() - 29.97).abs() < 0.01);
        assert_eq!(parse_rate("0/0"), None);
        assert_eq!(parse_rate("24"), Some(24.0));
    }

    #[test]
    fn frames_are_scaled_to_the_longer_side() {
        let info = VideoInfo {
            duration_s: 1.0,
            frame_rate: 25.0,
            codec: "h264".into(),
            container: "mp4".into(),
            width: 3840,
            height: 2160,
            rotation: 0,
            frames: None,
            created: None,
        };
        assert_eq!(info.frame_size(1920), (1920, 1080));
        assert_eq!(info.frame_size(4000), (3840, 2160));
        let portrait = VideoInfo { width: 1080, height: 1920, ..info };
        assert_eq!(portrait.frame_size(960), (540, 960));
    }

    #[test]
    fn the_sampling_filter_picks_interval_starts_and_cuts() {
        let f = filter(&Sampling::default(), 1280, 720, false);
        assert!(f.contains("floor(t*2)"), "{f}");
        assert!(f.contains("gt(scene\\,0.3)"), "{f}");
        assert!(f.ends_with("format=rgb24,showinfo"), "{f}");
        let k = filter(&Sampling { keyframes_only: true, ..Sampling::default() }, 640, 360, true);
        assert_eq!(k, "scale=640:360:flags=area,format=rgb24,showinfo");
    }
}
