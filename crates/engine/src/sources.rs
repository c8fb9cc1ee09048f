//! Reading a stored face's pixels back from its source: the photo file or archive member a
//! catalog URI names, or the sampled video frame a face was seen in; crops and JPEG bytes of
//! them (for reviewers and for re-embedding).

use std::io::Read;
use std::path::Path;

use gabarit_media::DecodeLimits;
use gabarit_types::BBox;
use serde::Serialize;

use crate::store::Store;
use crate::{Error, Result};

/// Where in a video a candidate face was seen.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoPlace {
    /// Time of the frame, seconds.
    pub time_s: f64,
    /// The same as `hh:mm:ss.mmm`.
    pub timestamp: String,
    /// Track number within the video.
    pub track: u32,
    /// Size of the sampled frames the box refers to.
    pub frame_width: u32,
    /// Height of those frames.
    pub frame_height: u32,
}

/// Where in its video a stored face was seen (`None` for a photo's face).
pub(crate) fn video_place(
    store: &Store,
    scope: &gabarit_governance::Scope,
    face: &gabarit_catalog::FaceRecord,
) -> Result<Option<VideoPlace>> {
    let Some(m) = face.moment else { return Ok(None) };
    let image = store.catalog.image(scope, face.image_id)?;
    Ok(Some(VideoPlace {
        time_s: m.time_s,
        timestamp: gabarit_video::format_timestamp(m.time_s),
        track: m.track,
        frame_width: image.width,
        frame_height: image.height,
    }))
}

/// Reads the bytes behind a catalog URI: a file, or a member of a zip or tar archive (see
/// [`crate::walk`] for the URI form).
pub(crate) fn read_uri(uri: &str, limits: &DecodeLimits) -> Result<Vec<u8>> {
    let too_big = || Error::Invalid(format!("{uri}: larger than {} bytes", limits.max_file_bytes));
    match crate::walk::Stored::parse(uri) {
        crate::walk::Stored::File(path) => {
            let f = fs_err::File::open(&path).map_err(Error::Io)?;
            let mut bytes = Vec::new();
            f.take(limits.max_file_bytes + 1).read_to_end(&mut bytes).map_err(Error::Io)?;
            if bytes.len() as u64 > limits.max_file_bytes { Err(too_big()) } else { Ok(bytes) }
        }
        crate::walk::Stored::Member { kind, archive, member } => {
            let archive = archive.display().to_string();
            let member = member.as_str();
            // Members sharing a name are told apart by their position (`name#position`).
            let (name, position) = match member.rsplit_once('#') {
                Some((n, p)) if kind == "tar" && p.parse::<usize>().is_ok() => (n, p.parse::<usize>().ok()),
                _ => (member, None),
            };
            let mut buf = Vec::new();
            if kind == "zip" {
                let f = fs_err::File::open(&archive).map_err(Error::Io)?;
                let mut z = zip::ZipArchive::new(f).map_err(|e| Error::Invalid(format!("{archive}: {e}")))?;
                let entry = z.by_name(member).map_err(|e| Error::Invalid(format!("{uri}: {e}")))?;
                entry.take(limits.max_file_bytes + 1).read_to_end(&mut buf).map_err(Error::Io)?;
            } else {
                let mut tar = crate::walk::tar_reader(Path::new(&archive))?;
                let mut found = false;
                for (i, entry) in tar.entries().map_err(Error::Io)?.enumerate() {
                    let entry = entry.map_err(Error::Io)?;
                    let named = entry.path().map(|p| p.display().to_string()).ok().as_deref() == Some(name);
                    if named && position.is_none_or(|p| p == i) {
                        entry.take(limits.max_file_bytes + 1).read_to_end(&mut buf).map_err(Error::Io)?;
                        found = true;
                        break;
                    }
                }
                if !found {
                    return Err(Error::Invalid(format!("{uri}: not in the archive")));
                }
            }
            if buf.len() as u64 > limits.max_file_bytes { Err(too_big()) } else { Ok(buf) }
        }
    }
}

/// The pixels a stored face's box refers to: the photo (upright), or the video's frame. A
/// source that cannot be read back as it was ingested (moved, changed, unreadable) is
/// [`Error::SourceUnavailable`].
pub(crate) fn source_pixels(uri: &str, video: Option<&VideoPlace>, limits: &DecodeLimits) -> Result<image::RgbImage> {
    let read = || match video {
        None => {
            let bytes = read_uri(uri, limits)?;
            Ok(gabarit_media::decode_bytes(&bytes, Path::new(uri), limits)
                .map_err(|e| Error::Invalid(e.to_string()))?
                .rgb)
        }
        Some(place) => video_frame(uri, place),
    };
    read().map_err(|e| {
        if matches!(e, Error::Io(_) | Error::Invalid(_)) {
            Error::SourceUnavailable { uri: uri.to_string(), reason: e.to_string() }
        } else {
            e
        }
    })
}

/// The face's box with a quarter of its size as margin, clipped to the image.
pub(crate) fn face_crop(img: &image::RgbImage, bbox: &BBox) -> image::RgbImage {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let m = 0.25 * bbox.width().max(bbox.height());
    let x1 = (bbox.x1 - m).clamp(0.0, w - 1.0) as u32;
    let y1 = (bbox.y1 - m).clamp(0.0, h - 1.0) as u32;
    let x2 = (bbox.x2 + m).clamp(x1 as f32 + 1.0, w) as u32;
    let y2 = (bbox.y2 + m).clamp(y1 as f32 + 1.0, h) as u32;
    image::imageops::crop_imm(img, x1, y1, x2 - x1, y2 - y1).to_image()
}

/// JPEG bytes of an image.
pub(crate) fn jpeg(img: &image::RgbImage) -> Result<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).map_err(|e| Error::Internal(format!("JPEG encoding: {e}")))?;
    Ok(out.into_inner())
}

/// The sampled frame a video candidate was found in, at the size its box refers to.
pub(crate) fn video_frame(path: &str, place: &VideoPlace) -> Result<image::RgbImage> {
    let invalid = |e: gabarit_video::Error| Error::Invalid(e.to_string());
    let info = gabarit_video::probe(Path::new(path), &gabarit_video::VideoLimits::default()).map_err(invalid)?;
    let max_side = place.frame_width.max(place.frame_height);
    let frame = gabarit_video::frame_at(Path::new(path), &info, place.time_s, max_side).map_err(invalid)?;
    if frame.dimensions() != (place.frame_width, place.frame_height) {
        return Err(Error::Invalid(format!(
            "{path}: frames are {}x{} now, {}x{} when ingested: the file changed",
            frame.width(),
            frame.height(),
            place.frame_width,
            place.frame_height
        )));
    }
    Ok(frame)
}
