//! Video: faces from video files, tracked, with timestamps (FFmpeg from Debian's packages).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use gabarit_video::testing::{Part, slideshow};

use crate::catalog::{as_user, new_collection, search_json};
use crate::{gabarit, json_lines, kill_when, run, sample};

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is installed by the README's setup (scripts/system-packages.sh)");
    assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// obama2 for 3 s, a grey frame without faces for 2 s, players.jpg for 3 s; both photos pan
/// slowly (10 px/s) so that no two frames are the same. 1280x720, 25 frames/s, H.264.
fn test_video(dir: &Path) -> PathBuf {
    let out = dir.join("clip.mp4");
    let (obama, players) = (sample("obama2.jpg"), sample("players.jpg"));
    slideshow(
        &[
            Part::Still { photo: &obama, seconds: 3.0, pan_px_per_s: 10.0 },
            Part::Blank { seconds: 2.0 },
            Part::Still { photo: &players, seconds: 3.0, pan_px_per_s: 10.0 },
        ],
        &out,
    )
    .expect("ffmpeg is installed by the README's setup (scripts/system-packages.sh)");
    out
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn faces_of(data: &Path, file: &Path) -> serde_json::Value {
    let out = ok(as_user(data, "cur").args(["faces-of", "--json"]).arg(file));
    let mut all: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(all.len(), 1, "{out}");
    all.remove(0)
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_video_is_tracked_timestamped_and_found_by_a_photo() {
    let dir = tempfile::tempdir().unwrap();
    let (data, gallery) = (dir.path().join("data"), dir.path().join("gallery"));
    fs_err::create_dir_all(&gallery).unwrap();
    let video = test_video(&gallery);
    fs_err::copy(sample("biden.jpg"), gallery.join("biden.jpg")).unwrap();
    new_collection(&data, "footage");
    let report_path = dir.path().join("report.json");
    ok(as_user(&data, "cur")
        .args(["ingest", "--quiet", "--collection", "footage", "--report"])
        .arg(&report_path)
        .arg(&gallery));
    let report: serde_json::Value = serde_json::from_str(&fs_err::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!((report["ingested"].as_u64(), report["videos"].as_u64()), (Some(2), Some(1)), "{report}");
    assert_eq!(report["sampled_frames"], 16, "8 s at 2 frames/s");

    let held = faces_of(&data, &video);
    let image = &held["image"];
    assert_eq!((image["width"].as_u64(), image["height"].as_u64()), (Some(1280), Some(720)));
    assert_eq!(image["video"]["codec"], "h264");
    assert!((f(&image["video"]["duration_s"]) - 8.0).abs() < 0.05);
    assert!((f(&image["video"]["frame_rate"]) - 25.0).abs() < 1e-6);
    let tracks = held["tracks"].as_array().unwrap();
    let faces = held["faces"].as_array().unwrap();
    let interval = 0.5;
    // obama: one track, from the first sample to the last one before the cut at 3 s.
    let first: Vec<_> = tracks.iter().filter(|t| f(&t["start_s"]) < 3.0).collect();
    assert_eq!(first.len(), 1, "{tracks:?}");
    assert!(f(&first[0]["start_s"]) <= interval, "{:?}", first[0]);
    assert!(f(&first[0]["end_s"]) >= 3.0 - interval && f(&first[0]["end_s"]) < 3.0, "{:?}", first[0]);
    assert_eq!(first[0]["sightings"], 6);
    // The grey part: no track starts there.
    assert!(tracks.iter().all(|t| !(3.0..5.0).contains(&f(&t["start_s"]))), "{tracks:?}");
    // players: every clearly visible face (≥ 32 px) is one track, starting with the segment.
    let frame = dir.path().join("at5.png");
    ffmpeg(&["-ss", "5", "-i", video.to_str().unwrap(), "-frames:v", "1", frame.to_str().unwrap()]);
    let still = json_lines(&run(gabarit().arg("faces").arg(&frame)));
    let visible = still[0]["faces"].as_array().unwrap().iter().filter(|x| f(&x["quality"]["size_px"]) >= 32.0).count();
    assert!(visible >= 12, "players.jpg shows a dozen large faces, found {visible}");
    let large_tracks: Vec<u64> = tracks
        .iter()
        .filter(|t| f(&t["start_s"]) >= 5.0)
        .map(|t| t["track"].as_u64().unwrap())
        .filter(|id| {
            faces.iter().any(|x| x["moment"]["track"].as_u64() == Some(*id) && f(&x["quality"]["size_px"]) >= 32.0)
        })
        .collect();
    assert_eq!(large_tracks.len(), visible, "one track per visible face: {tracks:?}");
    for id in &large_tracks {
        let t = tracks.iter().find(|t| t["track"].as_u64() == Some(*id)).unwrap();
        assert!((5.0..5.0 + interval).contains(&f(&t["start_s"])), "{t:?}");
    }
    // Each track keeps at most 3 faces, all within its span.
    for t in tracks {
        let id = t["track"].as_u64();
        let times: Vec<f64> =
            faces.iter().filter(|x| x["moment"]["track"].as_u64() == id).map(|x| f(&x["moment"]["time_s"])).collect();
        assert!(!times.is_empty() && times.len() <= 3, "{t:?}: {times:?}");
        assert!(times.iter().all(|x| *x >= f(&t["start_s"]) && *x <= f(&t["end_s"])), "{t:?}: {times:?}");
    }
    let templates = report["templates"].as_u64().unwrap();
    assert!(templates < report["sampled_faces"].as_u64().unwrap(), "{report}");
    assert_eq!(templates, faces.len() as u64 + 1, "the video's kept faces and biden's");

    // Search with another photo of obama: the video, inside the first 3 s.
    let crops = dir.path().join("crops");
    let result = search_json(&data, &sample("obama.jpg"), &["--crops", crops.to_str().unwrap()]);
    let candidates = result["candidates"].as_array().unwrap();
    assert!(!candidates.is_empty(), "{result}");
    let top = &candidates[0];
    assert!(top["path"].as_str().unwrap().ends_with("clip.mp4"), "{top}");
    let t = f(&top["video"]["time_s"]);
    assert!((0.0..3.0).contains(&t), "{top}");
    assert!(top["video"]["timestamp"].as_str().unwrap().starts_with("00:00:0"), "{top}");
    assert_eq!(top["video"]["track"], 0);
    assert!(candidates.iter().all(|c| !c["path"].as_str().unwrap().ends_with("biden.jpg")), "{result}");
    // The crop of the candidate is cut from that frame: a face-sized JPEG.
    let crop = crops.join(format!("q0-r1-face{}-t{t:.3}.jpg", top["face_id"]));
    let img = image::open(&crop).unwrap_or_else(|e| panic!("{}: {e}", crop.display()));
    let bbox: Vec<f64> = top["bbox"].as_array().unwrap().iter().map(f).collect();
    let side = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]);
    assert!(
        f64::from(img.width()) > side && f64::from(img.width()) < 2.0 * side,
        "{} for a {side}-px face",
        img.width()
    );
    // The table shows the time.
    let table =
        ok(as_user(&data, "inv").arg("search").arg(sample("obama.jpg")).args(["--case", "C-2", "--purpose", "test"]));
    assert!(table.contains("clip.mp4 at 00:00:0"), "{table}");
}

fn snapshot(data: &Path) -> Vec<String> {
    gabarit_catalog::Catalog::open(&data.join("catalog.db")).unwrap().content_snapshot().unwrap()
}

#[test]
fn a_video_killed_half_way_is_redone_whole() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("gallery");
    fs_err::create_dir_all(&gallery).unwrap();
    test_video(&gallery);
    // A photo beside it: stored within a second, long before the video's 200 frames are.
    fs_err::copy(sample("biden.jpg"), gallery.join("a-photo.jpg")).unwrap();
    let reference = dir.path().join("reference");
    new_collection(&reference, "c");
    ok(as_user(&reference, "cur").args(["ingest", "--quiet", "--collection", "c"]).arg(&gallery));
    let want = snapshot(&reference);
    assert_eq!(want.len(), 2);
    let data = dir.path().join("killed");
    new_collection(&data, "c");
    let mut child = as_user(&data, "cur")
        .args(["ingest", "--quiet", "--collection", "c"])
        .arg(&gallery)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // SIGKILL the ingestion once the photo is stored, while the video is being decoded: the
    // catalog then holds the photo and nothing of the video.
    let killed = kill_when(&mut child, || !snapshot(&data).is_empty(), Duration::from_secs(120));
    let partial = snapshot(&data);
    assert!(killed, "the ingestion ended before it could be interrupted: {partial:?}");
    assert_eq!(partial.len(), 1, "{partial:?}");
    assert!(partial[0].contains("a-photo.jpg"), "the photo, and nothing of the half-processed video: {partial:?}");
    ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "c"]).arg(&gallery));
    assert_eq!(snapshot(&data), want, "the same video, tracks and faces as an uninterrupted run");
    let again = ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "c"]).arg(&gallery));
    assert!(again.contains("0 images ingested, 2 already present"), "{again}");
}

#[test]
fn bad_videos_fail_alone_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("gallery");
    fs_err::create_dir_all(&gallery).unwrap();
    let good = gallery.join("good.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-movflags",
        "+faststart",
        good.to_str().unwrap(),
    ]);
    let bytes = fs_err::read(&good).unwrap();
    fs_err::write(gallery.join("truncated.mp4"), &bytes[..bytes.len() * 6 / 10]).unwrap();
    fs_err::remove_file(&good).unwrap();
    fs_err::write(gallery.join("notes.mov"), b"not a video at all").unwrap();
    let sound = gallery.join("sound.mkv");
    ffmpeg(&["-f", "lavfi", "-i", "sine=duration=1", sound.to_str().unwrap()]);
    fs_err::copy(sample("obama2.jpg"), gallery.join("obama2.jpg")).unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "c");
    let report_path = dir.path().join("r.json");
    let out = run(as_user(&data, "cur")
        .args(["ingest", "--quiet", "--collection", "c", "--report"])
        .arg(&report_path)
        .arg(&gallery));
    assert_eq!(out.status.code(), Some(1), "a failed file makes the run exit 1");
    let report: serde_json::Value = serde_json::from_str(&fs_err::read_to_string(&report_path).unwrap()).unwrap();
    let mut failed: Vec<(String, String)> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let uri = x["uri"].as_str().unwrap();
            let name = Path::new(uri).file_name().unwrap().to_string_lossy().into_owned();
            assert!(x["message"].as_str().unwrap().contains(&name), "the message names the file: {x}");
            (name, x["code"].as_str().unwrap().to_string())
        })
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        vec![
            ("notes.mov".into(), "corrupt_video".into()),
            ("sound.mkv".into(), "no_video_stream".into()),
            ("truncated.mp4".into(), "corrupt_video".into())
        ]
    );
    assert_eq!(report["ingested"], 1, "the photo went in");
    let snap = snapshot(&data);
    assert_eq!(snap.len(), 1, "{snap:?}");
    assert!(snap[0].contains("obama2.jpg"), "{snap:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("truncated.mp4: corrupt or truncated video"), "{stderr}");
}
