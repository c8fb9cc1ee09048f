//! Safe image decoding for the face engine.
//!
//! Every input is hostile until decoded: the format is sniffed from the bytes (not the file
//! name), the declared dimensions are checked against a pixel limit *before* any pixel buffer
//! is allocated (decompression bombs), the file size is bounded, and every failure is a typed
//! [`MediaError`] naming the file. EXIF orientation is applied so that faces are upright.
//!
//! JPEG pixels are decoded with libjpeg-turbo (through the `mozjpeg` crate, built from source
//! by cargo): its output is bit-identical to OpenCV's and Pillow's, which the face models were
//! trained and validated with. `zune-jpeg` (the `image` crate's backend) upsamples chroma
//! differently (19% of values off by up to 4 levels on a group photo), enough to move small
//! faces' templates below 0.99 cosine from the reference. `image` still parses the headers
//! (dimensions, EXIF orientation) and decodes the other formats, and CMYK JPEGs that
//! libjpeg-turbo cannot convert to RGB.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use sha2::{Digest, Sha256};

/// Limits applied before and while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted `width × height` as declared by the file header (default 64 Mpx).
    pub max_pixels: u64,
    /// Largest accepted file size in bytes (default 256 MiB).
    pub max_file_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_pixels: 64_000_000, max_file_bytes: 256 * 1024 * 1024 }
    }
}

/// Why an image could not be decoded. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file has no bytes.
    #[error("{path}: empty file")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The bytes are not an image format Gabarit reads.
    #[error("{path}: not a supported image (JPEG, PNG, WebP, BMP or TIFF expected)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The file is larger than the configured byte limit.
    #[error("{path}: file is {size} bytes, over the limit of {max} bytes")]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The header declares more pixels than allowed; nothing was allocated.
    #[error(
        "{path}: image declares {width}x{height} = {pixels} pixels, over the limit of {max} (raise it with --max-pixels if this is intended)"
    )]
    TooManyPixels {
        /// The file.
        path: PathBuf,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// width × height.
        pixels: u64,
        /// The limit.
        max: u64,
    },
    /// The header or pixel data is corrupt or truncated.
    #[error("{path}: corrupt or truncated {format} image: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The sniffed format.
        format: &'static str,
        /// What the decoder said.
        detail: String,
    },
}

impl MediaError {
    /// A stable machine-readable code for this error (used in JSON output).
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::Io { .. } => "io",
            MediaError::Empty { .. } => "empty_file",
            MediaError::UnknownFormat { .. } => "unknown_format",
            MediaError::FileTooLarge { .. } => "file_too_large",
            MediaError::TooManyPixels { .. } => "too_many_pixels",
            MediaError::Corrupt { .. } => "corrupt_image",
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = MediaError> = std::result::Result<T, E>;

/// A decoded, upright, 8-bit RGB image.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    /// Pixels, upright (EXIF orientation applied).
    pub rgb: RgbImage,
    /// Sniffed format name ("jpeg", "png", …).
    pub format: &'static str,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
    /// Size of the file in bytes.
    pub file_bytes: u64,
}

impl DecodedImage {
    /// Width after orientation.
    pub fn width(&self) -> u32 {
        self.rgb.width()
    }
    /// Height after orientation.
    pub fn height(&self) -> u32 {
        self.rgb.height()
    }
}

/// Reads and decodes the image at `path`.
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<DecodedImage> {
    let io = |source| MediaError::Io { path: path.to_path_buf(), source };
    let size = fs_err::metadata(path).map_err(io)?.len();
    if size > limits.max_file_bytes {
        return Err(MediaError::FileTooLarge { path: path.to_path_buf(), size, max: limits.max_file_bytes });
    }
    let bytes = fs_err::read(path).map_err(io)?;
    decode_bytes(&bytes, path, limits)
}

/// Decodes an image held in memory; `name` is used in errors.
pub fn decode_bytes(bytes: &[u8], name: &Path, limits: &DecodeLimits) -> Result<DecodedImage> {
    let path = || name.to_path_buf();
    if bytes.is_empty() {
        return Err(MediaError::Empty { path: path() });
    }
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(MediaError::FileTooLarge { path: path(), size: bytes.len() as u64, max: limits.max_file_bytes });
    }
    let format = image::guess_format(bytes).map_err(|_| MediaError::UnknownFormat { path: path() })?;
    let format_name = supported_format_name(format).ok_or_else(|| MediaError::UnknownFormat { path: path() })?;
    let corrupt =
        |e: image::ImageError| MediaError::Corrupt { path: path(), format: format_name, detail: e.to_string() };

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut alloc_limits = image::Limits::default();
    // Decoders may need a few buffers of the output size; bound them all.
    alloc_limits.max_alloc = Some(limits.max_pixels.saturating_mul(16).max(1 << 20));
    reader.limits(alloc_limits);
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(MediaError::TooManyPixels { path: path(), width, height, pixels, max: limits.max_pixels });
    }
    if pixels == 0 {
        return Err(MediaError::Corrupt { path: path(), format: format_name, detail: "zero width or height".into() });
    }
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let libjpeg = if format == ImageFormat::Jpeg { decode_jpeg_libjpeg(bytes, width, height) } else { None };
    let mut img = match libjpeg {
        Some(rgb) => DynamicImage::ImageRgb8(rgb),
        None => DynamicImage::from_decoder(decoder).map_err(corrupt)?,
    };
    img.apply_orientation(orientation);
    let rgb = img.into_rgb8(); // no copy when already 8-bit RGB
    Ok(DecodedImage { rgb, format: format_name, sha256: sha256_hex(bytes), file_bytes: bytes.len() as u64 })
}

/// Decodes a JPEG to RGB with libjpeg-turbo. `None` when libjpeg-turbo refuses the file (its
/// errors unwind and are caught here) or disagrees with the header's dimensions; the caller
/// then falls back to the `image` crate, which reports the error if the file is really bad.
fn decode_jpeg_libjpeg(bytes: &[u8], width: u32, height: u32) -> Option<RgbImage> {
    std::panic::catch_unwind(|| -> Option<RgbImage> {
        let d = mozjpeg::Decompress::new_mem(bytes).ok()?;
        let mut started = d.rgb().ok()?;
        if (started.width() as u32, started.height() as u32) != (width, height) {
            return None;
        }
        let pixels: Vec<u8> = started.read_scanlines().ok()?;
        started.finish().ok()?;
        RgbImage::from_raw(width, height, pixels)
    })
    .ok()
    .flatten()
}

/// What EXIF says about when and with what a photo was taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExifInfo {
    /// `DateTimeOriginal` (else `DateTime`), as `YYYY-MM-DDTHH:MM:SS` local camera time.
    pub captured_at: Option<String>,
    /// Camera make and model.
    pub camera: Option<String>,
}

/// Reads capture time and camera from a photo's EXIF, if any (never fails: absent or
/// malformed EXIF gives empty fields).
pub fn exif_info(bytes: &[u8]) -> ExifInfo {
    let Ok(exif) = exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) else {
        return ExifInfo::default();
    };
    let text = |tag: exif::Tag| {
        exif.get_field(tag, exif::In::PRIMARY)
            .map(|f| f.display_value().to_string().trim_matches('"').trim().to_string())
    };
    let captured_at = text(exif::Tag::DateTimeOriginal)
        .or_else(|| text(exif::Tag::DateTime))
        .map(|t| t.replacen(' ', "T", 1))
        .filter(|t| t.len() >= 10);
    let camera = match (text(exif::Tag::Make), text(exif::Tag::Model)) {
        (Some(make), Some(model)) if model.starts_with(&make) => Some(model),
        (Some(make), Some(model)) => Some(format!("{make} {model}")),
        (a, b) => a.or(b),
    }
    .filter(|c| !c.is_empty());
    ExifInfo { captured_at, camera }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// True when the file name has an extension of an image format Gabarit reads.
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png" | "webp" | "bmp" | "tif" | "tiff"))
        .unwrap_or(false)
}

// `ImageFormat` is a foreign, non-exhaustive enum: every other format is refused.
#[allow(clippy::wildcard_enum_match_arm)]
fn supported_format_name(format: ImageFormat) -> Option<&'static str> {
    match format {
        ImageFormat::Jpeg => Some("jpeg"),
        ImageFormat::Png => Some("png"),
        ImageFormat::WebP => Some("webp"),
        ImageFormat::Bmp => Some("bmp"),
        ImageFormat::Tiff => Some("tiff"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb};

    fn encode(format: ImageFormat, img: &RgbImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8]))
    }

    #[test]
    fn decodes_every_supported_format_to_the_same_pixels_when_lossless() {
        let img = gradient(40, 30);
        for format in [ImageFormat::Png, ImageFormat::Bmp, ImageFormat::Tiff, ImageFormat::WebP] {
            let bytes = encode(format, &img);
            let d = decode_bytes(&bytes, Path::new("x"), &DecodeLimits::default()).expect("decode");
            assert_eq!((d.width(), d.height()), (40, 30), "{format:?}");
            assert_eq!(d.rgb, img, "{format:?} must be lossless here");
        }
        let jpeg = encode(ImageFormat::Jpeg, &img);
        let d = decode_bytes(&jpeg, Path::new("x.jpg"), &DecodeLimits::default()).expect("jpeg");
        assert_eq!(d.format, "jpeg");
        assert_eq!((d.width(), d.height()), (40, 30));
    }

    #[test]
    fn over_limit_is_refused_before_allocation() {
        // A PNG header declaring 100000 x 100000 pixels with almost no data: a bomb.
        let mut bytes = Vec::new();
        let enc = image::codecs::png::PngEncoder::new(&mut bytes);
        let small = gradient(8, 8);
        enc.write_image(small.as_raw(), 8, 8, image::ExtendedColorType::Rgb8).expect("png");
        // Patch the IHDR width/height (bytes 16..24) and its CRC: a valid header declaring
        // 10^10 pixels, with almost no data behind it.
        bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32fast::hash(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = decode_bytes(&bytes, Path::new("bomb.png"), &DecodeLimits::default()).unwrap_err();
        assert!(matches!(err, MediaError::TooManyPixels { pixels: 10_000_000_000, .. }), "{err}");
        let limits = DecodeLimits { max_pixels: 63, ..DecodeLimits::default() };
        let ok_png = encode(ImageFormat::Png, &gradient(8, 8));
        let err = decode_bytes(&ok_png, Path::new("small.png"), &limits).unwrap_err();
        assert!(matches!(err, MediaError::TooManyPixels { width: 8, height: 8, .. }), "{err}");
    }

    #[test]
    fn bad_inputs_give_typed_errors_naming_the_file() {
        let limits = DecodeLimits::default();
        let empty = decode_bytes(&[], Path::new("empty.jpg"), &limits).unwrap_err();
        assert_eq!(empty.code(), "empty_file");
        assert!(empty.to_string().contains("empty.jpg"));
        let text = decode_bytes(b"hello, I am not an image", Path::new("notes.jpg"), &limits).unwrap_err();
        assert_eq!(text.code(), "unknown_format");
        let jpeg = encode(ImageFormat::Jpeg, &gradient(64, 64));
        let truncated = decode_bytes(&jpeg[..jpeg.len() / 3], Path::new("cut.jpg"), &limits);
        // zune-jpeg may fill a truncated scan with grey rather than fail; either is safe, a panic is not.
        if let Err(e) = truncated {
            assert!(e.to_string().contains("cut.jpg"));
        }
        let mut corrupt = jpeg.clone();
        for b in corrupt.iter_mut().skip(2).take(200) {
            *b = 0x5A;
        }
        let err = decode_bytes(&corrupt, Path::new("corrupt.jpg"), &limits);
        assert!(matches!(err, Err(MediaError::Corrupt { .. }) | Err(MediaError::UnknownFormat { .. })), "{err:?}");
        let missing = decode_file(Path::new("/nonexistent/x.jpg"), &limits).unwrap_err();
        assert_eq!(missing.code(), "io");
    }

    #[test]
    fn file_size_limit_is_checked_before_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("big.png");
        fs_err::write(&p, encode(ImageFormat::Png, &gradient(32, 32))).expect("write");
        let limits = DecodeLimits { max_file_bytes: 10, ..DecodeLimits::default() };
        assert!(matches!(decode_file(&p, &limits), Err(MediaError::FileTooLarge { max: 10, .. })));
    }

    #[test]
    fn photos_without_exif_have_no_capture_time() {
        let jpeg = encode(ImageFormat::Jpeg, &gradient(8, 8));
        assert_eq!(exif_info(&jpeg), ExifInfo::default());
        assert_eq!(exif_info(b"garbage"), ExifInfo::default());
    }

    #[test]
    fn exif_orientation_is_applied() {
        // A 4x2 JPEG with an EXIF APP1 segment saying "rotate 90° clockwise" (orientation 6)
        // must come out as 2x4.
        let jpeg = encode(ImageFormat::Jpeg, &gradient(4, 2));
        let with_exif = insert_exif_orientation(&jpeg, 6);
        let d = decode_bytes(&with_exif, Path::new("rot.jpg"), &DecodeLimits::default()).expect("decode");
        assert_eq!((d.width(), d.height()), (2, 4));
    }

    /// Inserts a minimal big-endian EXIF APP1 segment with one Orientation tag after SOI.
    fn insert_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // header, IFD at offset 8
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes()); // count
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }
}
