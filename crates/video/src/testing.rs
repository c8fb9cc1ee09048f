//! Test and benchmark videos made with FFmpeg from still photos (feature `testing`): a
//! slideshow of panning stills and blank stretches, 1280×720 at 25 frames/s, H.264.

use std::path::Path;
use std::process::Command;

/// One stretch of a slideshow.
#[derive(Debug, Clone)]
pub enum Part<'a> {
    /// A photo, scaled to cover the frame and panned horizontally at `pan_px_per_s`.
    Still {
        /// The photo.
        photo: &'a Path,
        /// Duration.
        seconds: f64,
        /// Horizontal pan, pixels per second (negative: leftwards).
        pan_px_per_s: f64,
    },
    /// A flat grey frame (no face).
    Blank {
        /// Duration.
        seconds: f64,
    },
}

/// Writes the slideshow to `out` (its extension picks the container).
pub fn slideshow(parts: &[Part<'_>], out: &Path) -> std::io::Result<()> {
    let mut args: Vec<String> = ["-hide_banner", "-loglevel", "error", "-y"].map(String::from).to_vec();
    let mut graph = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        match part {
            Part::Still { photo, seconds, pan_px_per_s } => {
                args.extend(["-loop", "1", "-framerate", "25", "-t"].map(String::from));
                args.push(format!("{seconds}"));
                args.push("-i".into());
                args.push(photo.display().to_string());
                // Fit the photo in a 1400×800 canvas, then a 1280×720 window moves across it.
                let (start, speed) = if *pan_px_per_s >= 0.0 { (20.0, *pan_px_per_s) } else { (100.0, *pan_px_per_s) };
                graph.push(format!(
                    "[{i}:v]scale=1400:800:force_original_aspect_ratio=decrease,pad=1400:800:(ow-iw)/2:(oh-ih)/2,\
                     crop=1280:720:{start}+{speed}*t:40,setsar=1,format=yuv420p[p{i}]"
                ));
            }
            Part::Blank { seconds } => {
                args.extend(["-f", "lavfi", "-i"].map(String::from));
                args.push(format!("color=c=gray:s=1280x720:r=25:d={seconds}"));
                graph.push(format!("[{i}:v]setsar=1,format=yuv420p[p{i}]"));
            }
        }
    }
    let inputs: String = (0..parts.len()).map(|i| format!("[p{i}]")).collect();
    graph.push(format!("{inputs}concat=n={}:v=1:a=0[v]", parts.len()));
    args.extend(["-filter_complex".to_string(), graph.join(";")]);
    args.extend(["-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-r", "25"].map(String::from));
    args.push(out.display().to_string());
    let result = Command::new("ffmpeg").args(&args).output()?;
    if result.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("ffmpeg: {}", String::from_utf8_lossy(&result.stderr).trim())))
    }
}
