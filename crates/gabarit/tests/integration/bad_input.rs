//! Hostile and broken files: typed errors per file, the batch goes on, no panic.

use crate::{gabarit, json_lines, run, sample};

#[test]
fn bad_files_get_typed_errors_and_the_batch_continues() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let obama = fs_err::read(sample("obama.jpg")).expect("read");
    fs_err::write(d.join("empty.jpg"), b"").expect("w");
    fs_err::write(d.join("notes.jpg"), b"these are meeting notes, not a photo").expect("w");
    fs_err::write(d.join("truncated.jpg"), &obama[..obama.len() / 3]).expect("w");
    let mut corrupt = obama[..64].to_vec();
    corrupt.extend(std::iter::repeat_n(0x5Au8, 4096));
    fs_err::write(d.join("corrupt.jpg"), &corrupt).expect("w");
    // A PNG whose header declares 100000 x 100000 pixels: a decompression bomb.
    let mut png = Vec::new();
    image::RgbImage::from_pixel(8, 8, image::Rgb([0, 0, 0]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]); // chunk type + IHDR data
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    fs_err::write(d.join("bomb.png"), &png).expect("w");
    fs_err::create_dir(d.join("folder.jpg")).expect("mkdir");
    let names = ["empty.jpg", "notes.jpg", "truncated.jpg", "corrupt.jpg", "bomb.png", "folder.jpg", "missing.jpg"];
    let mut cmd = gabarit();
    cmd.arg("faces");
    for n in names {
        cmd.arg(d.join(n));
    }
    cmd.arg(sample("obama.jpg"));
    let out = run(&mut cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "some files failed: exit 1; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), names.len() + 1, "one line per input, in order");
    let code = |i: usize| lines[i]["error"]["code"].as_str().map(str::to_string);
    assert_eq!(code(0).as_deref(), Some("empty_file"));
    assert_eq!(code(1).as_deref(), Some("unknown_format"));
    // A truncated JPEG may decode with its missing part grey (libjpeg's behaviour) or fail;
    // either way it is reported on its own line, never a crash.
    assert!(lines[2].get("faces").is_some() || code(2).as_deref() == Some("corrupt_image"), "{}", lines[2]);
    assert_eq!(code(3).as_deref(), Some("corrupt_image"), "{}", lines[3]);
    assert_eq!(code(4).as_deref(), Some("too_many_pixels"), "{}", lines[4]);
    assert_eq!(code(5).as_deref(), Some("io"));
    assert_eq!(code(6).as_deref(), Some("io"));
    for (i, n) in names.iter().enumerate() {
        if let Some(msg) = lines[i]["error"]["message"].as_str() {
            assert!(msg.contains(n), "the message names the file: {msg}");
        }
    }
    assert_eq!(lines[7]["faces"].as_array().expect("faces").len(), 1, "the good photo after them is processed");
}

#[test]
fn pixel_limit_is_configurable() {
    let out = run(gabarit().args(["faces", "--max-pixels", "100000"]).arg(sample("obama.jpg")));
    assert_eq!(out.status.code(), Some(1));
    let line = &json_lines(&out)[0];
    assert_eq!(line["error"]["code"], "too_many_pixels");
    assert!(line["error"]["message"].as_str().expect("msg").contains("1137"), "{line}");
}

#[test]
fn bad_flags_are_refused() {
    let out = run(gabarit().args(["faces", "--det-size", "100"]).arg(sample("obama.jpg")));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("multiple of 32"));
    // An interval names its unit and stays within a year; the error says what is expected.
    for bad in ["5x", "-1h", "400d", "1.5s", "0s"] {
        let out = run(gabarit().args(["serve", &format!("--retention-every={bad}")]));
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {said}");
        assert!(said.contains("--retention-every") && said.contains("24h"), "{bad}: {said}");
    }
}
