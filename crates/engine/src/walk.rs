//! What an ingestion reads: the photos and videos of the folders, files and archives the
//! operator named, listed inside a sandbox, and the URIs that name them in the catalog.
//!
//! The sandbox: a folder is walked without following a symbolic link out of it (a link to a
//! file or folder outside is skipped and reported as `link_outside_root`; a dangling or
//! looping link as `link_unresolved`), each folder is visited once whatever links lead to it
//! (loops end), and the walk is bounded ([`Budget`]: entries, depth, files). A file is read
//! only if it is still the file that was listed (same device and inode), so a file swapped for
//! a link between listing and reading is not followed either.
//!
//! URIs: a plain file is its canonical absolute path (it starts with `/`); an archive member
//! is `zip:` or `tar:`, the archive's canonical path with `%` and `!` escaped, `!/`, and the
//! member's name. No plain path starts with `zip:` or `tar:`, and the archive's part holds no
//! `!`, so no folder named like an archive (`conf!/x.jpg`) is ever taken for one.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gabarit_media::has_image_extension;
use gabarit_video::has_video_extension;

use crate::{Error, Result};

/// Bounds of an ingestion run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Most photos and videos a run takes from its inputs; more is refused before any work.
    pub max_files: usize,
    /// Most folder entries a walk visits (files, folders and links alike).
    pub max_entries: usize,
    /// Deepest folder nesting below a named folder.
    pub max_depth: usize,
    /// Longest a run lasts: past it, the run stops between two batches (what is stored stays,
    /// and a new run resumes without duplicates). `None`: no limit.
    pub max_duration: Option<Duration>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { max_files: 1_000_000, max_entries: 5_000_000, max_depth: 64, max_duration: None }
    }
}

/// Where an input file's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// A file, with the device and inode it had when listed.
    File { path: PathBuf, ident: Option<(u64, u64)> },
    /// A zip member.
    Zip { archive: PathBuf, index: usize },
    /// A tar member (its position among the archive's entries).
    Tar { archive: PathBuf, position: usize },
}

/// One file to ingest, or one skipped with its reason.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub uri: String,
    pub source_uri: String,
    pub source_kind: &'static str,
    pub location: Location,
}

/// An entry the walk did not take, and why.
#[derive(Debug, Clone)]
pub(crate) struct Skipped {
    pub uri: String,
    pub code: &'static str,
    pub message: String,
}

/// What the inputs hold.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub items: Vec<Item>,
    pub skipped: Vec<Skipped>,
}

fn escape(path: &str) -> String {
    path.replace('%', "%25").replace('!', "%21")
}

fn unescape(path: &str) -> String {
    path.replace("%21", "!").replace("%25", "%")
}

/// The URI of a member of a zip or tar archive.
pub fn member_uri(kind: &str, archive: &Path, member: &str) -> String {
    format!("{kind}:{}!/{member}", escape(&archive.display().to_string()))
}

/// What a catalog URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A file.
    File(PathBuf),
    /// A member of an archive.
    Member {
        /// `zip` or `tar`.
        kind: String,
        /// The archive.
        archive: PathBuf,
        /// The member's name.
        member: String,
    },
}

impl Stored {
    /// Reads a URI.
    pub fn parse(uri: &str) -> Stored {
        for kind in ["zip", "tar"] {
            if let Some(rest) = uri.strip_prefix(kind).and_then(|r| r.strip_prefix(':'))
                && let Some((archive, member)) = rest.split_once("!/")
            {
                return Stored::Member { kind: kind.into(), archive: unescape(archive).into(), member: member.into() };
            }
        }
        Stored::File(PathBuf::from(uri))
    }
}

pub(crate) fn is_zip(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

pub(crate) fn is_tar(p: &Path) -> bool {
    let n = p.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    n.ends_with(".tar") || n.ends_with(".tar.gz") || n.ends_with(".tgz")
}

/// Whether ingestion reads a file of a folder: a photo or a video, by its name.
pub(crate) fn wanted(p: &Path) -> bool {
    has_image_extension(p) || has_video_extension(p)
}

/// A file or archive that cannot be read as what it claims to be, named.
pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{}: {e}", path.display()))
}

/// The device and inode of a file (`None` where the platform has none).
pub(crate) fn ident(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// Lists every photo and video of the inputs, in a stable order, within `budget`.
pub(crate) fn list_inputs(inputs: &[PathBuf], budget: &Budget) -> Result<Listing> {
    let mut listing = Listing::default();
    for input in inputs {
        let root = fs_err::canonicalize(input).map_err(Error::Io)?;
        let source_uri = root.display().to_string();
        if root.is_dir() {
            walk(&root, budget, &mut listing)?;
        } else if is_zip(&root) {
            list_zip(&root, &mut listing)?;
        } else if is_tar(&root) {
            list_tar(&root, &mut listing)?;
        } else if root.is_file() {
            let meta = fs_err::metadata(&root).map_err(Error::Io)?;
            listing.items.push(Item {
                uri: source_uri.clone(),
                source_uri,
                source_kind: "file",
                location: Location::File { path: root.clone(), ident: ident(&meta) },
            });
        } else {
            return Err(Error::Invalid(format!("{}: not a file, folder, zip or tar archive", input.display())));
        }
        if listing.items.len() > budget.max_files {
            return Err(Error::Invalid(format!(
                "the inputs hold more than {} photos and videos, the most one run takes: name fewer folders",
                budget.max_files
            )));
        }
    }
    Ok(listing)
}

/// Walks a folder without leaving it.
fn walk(root: &Path, budget: &Budget, listing: &mut Listing) -> Result<()> {
    let source_uri = root.display().to_string();
    let mut visited: HashSet<PathBuf> = HashSet::from([root.to_path_buf()]);
    let mut files: Vec<(PathBuf, Option<(u64, u64)>)> = Vec::new();
    let mut seen_files: HashSet<PathBuf> = HashSet::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let mut entries = 0usize;
    let skip = |listing: &mut Listing, path: &Path, code: &'static str, why: &str| {
        listing.skipped.push(Skipped {
            uri: path.display().to_string(),
            code,
            message: format!("{}: {why}", path.display()),
        });
    };
    while let Some((dir, depth)) = stack.pop() {
        for entry in fs_err::read_dir(&dir).map_err(Error::Io)? {
            entries += 1;
            if entries > budget.max_entries {
                return Err(Error::Invalid(format!(
                    "{}: more than {} entries in its folders, the most one walk visits",
                    root.display(),
                    budget.max_entries
                )));
            }
            let entry = entry.map_err(Error::Io)?;
            let path = entry.path();
            let kind = entry.file_type().map_err(Error::Io)?;
            // A link is resolved, and followed only if it stays inside the root.
            let (real, is_dir) = if kind.is_symlink() {
                let Ok(real) = fs_err::canonicalize(&path) else {
                    skip(listing, &path, "link_unresolved", "a link that leads nowhere (dangling, or a loop): skipped");
                    continue;
                };
                if !real.starts_with(root) {
                    skip(
                        listing,
                        &path,
                        "link_outside_root",
                        &format!("a link out of {}: not followed", root.display()),
                    );
                    continue;
                }
                let is_dir = real.is_dir();
                (real, is_dir)
            } else if kind.is_dir() || kind.is_file() {
                (path.clone(), kind.is_dir())
            } else {
                continue; // sockets, pipes, devices: not photos
            };
            if is_dir {
                if depth + 1 > budget.max_depth {
                    skip(
                        listing,
                        &path,
                        "too_deep",
                        &format!("folders nested deeper than {}: not read", budget.max_depth),
                    );
                } else if visited.insert(real.clone()) {
                    stack.push((real, depth + 1));
                }
            } else if wanted(&real) && seen_files.insert(real.clone()) {
                let meta = fs_err::metadata(&real).map_err(Error::Io)?;
                files.push((real, ident(&meta)));
            }
        }
    }
    files.sort();
    for (path, id) in files {
        listing.items.push(Item {
            uri: path.display().to_string(),
            source_uri: source_uri.clone(),
            source_kind: "folder",
            location: Location::File { path, ident: id },
        });
    }
    Ok(())
}

fn list_zip(archive: &Path, listing: &mut Listing) -> Result<()> {
    let f = fs_err::File::open(archive).map_err(Error::Io)?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| io_err(archive, format!("not a readable zip archive: {e}")))?;
    let mut names = HashSet::new();
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index).map_err(|e| io_err(archive, e))?;
        let name = entry.name().to_string();
        if !(entry.is_file() && wanted(Path::new(&name))) {
            continue;
        }
        let uri = member_uri("zip", archive, &name);
        if !names.insert(name.clone()) {
            listing.skipped.push(Skipped {
                message: format!("{uri}: a second member with this name (only the first is read)"),
                uri,
                code: "duplicate_member",
            });
            continue;
        }
        listing.items.push(Item {
            uri,
            source_uri: archive.display().to_string(),
            source_kind: "zip",
            location: Location::Zip { archive: archive.to_path_buf(), index },
        });
    }
    Ok(())
}

fn list_tar(archive: &Path, listing: &mut Listing) -> Result<()> {
    let mut tar = tar_reader(archive)?;
    let mut names = HashSet::new();
    for (position, entry) in tar.entries().map_err(|e| io_err(archive, e))?.enumerate() {
        let entry = entry.map_err(|e| io_err(archive, format!("corrupt tar archive: {e}")))?;
        let name = entry.path().map_err(|e| io_err(archive, e))?.display().to_string();
        if !(entry.header().entry_type().is_file() && wanted(Path::new(&name))) {
            continue;
        }
        // Members with the same name are each read (by position); their URIs tell them apart.
        let member = if names.insert(name.clone()) { name.clone() } else { format!("{name}#{position}") };
        listing.items.push(Item {
            uri: member_uri("tar", archive, &member),
            source_uri: archive.display().to_string(),
            source_kind: "tar",
            location: Location::Tar { archive: archive.to_path_buf(), position },
        });
    }
    Ok(())
}

/// Lists a zip or tar archive as ingestion does and reads each listed member as ingestion
/// reads it, within `limits.max_file_bytes` (for checks and fuzzing; nothing is decoded).
/// Returns each member's URI with its size in bytes, or why it was not read (`code: message`,
/// the codes ingestion reports), in listing order; members skipped by the listing come last.
pub fn read_archive(
    path: &Path,
    limits: &gabarit_media::DecodeLimits,
) -> Result<Vec<(String, std::result::Result<usize, String>)>> {
    let mut listing = Listing::default();
    if is_zip(path) {
        list_zip(path, &mut listing)?;
    } else if is_tar(path) {
        list_tar(path, &mut listing)?;
    } else {
        return Err(Error::Invalid(format!("{}: not a zip or tar archive", path.display())));
    }
    let failed = |code: &str, message: String| Err(format!("{code}: {message}"));
    let read =
        |r: std::result::Result<Vec<u8>, (String, String)>| r.map(|b| b.len()).map_err(|(c, m)| format!("{c}: {m}"));
    let in_archive = |uri: &str| {
        failed("video_in_archive", format!("{uri}: videos inside archives are not read; extract the archive"))
    };
    let max = limits.max_file_bytes;
    let mut out = Vec::new();
    if is_zip(path) {
        let f = fs_err::File::open(path).map_err(Error::Io)?;
        let mut zip = zip::ZipArchive::new(f).map_err(|e| io_err(path, e))?;
        for item in listing.items {
            let Location::Zip { index, .. } = item.location else { continue };
            let outcome = if has_video_extension(Path::new(&item.uri)) {
                in_archive(&item.uri)
            } else {
                match zip.by_index(index) {
                    Ok(entry) if entry.size() > max => failed(
                        "file_too_large",
                        format!("{}: declares {} bytes, over the limit of {max}", item.uri, entry.size()),
                    ),
                    Ok(entry) => read(read_limited(entry, max, &item.uri)),
                    Err(e) => failed("corrupt_archive", format!("{}: {e}", item.uri)),
                }
            };
            out.push((item.uri, outcome));
        }
    } else {
        // As ingestion: the archive is read once, front to back, for all its members.
        let mut by_position: std::collections::HashMap<usize, String> = listing
            .items
            .into_iter()
            .filter_map(|it| match it.location {
                Location::Tar { position, .. } => Some((position, it.uri)),
                Location::File { .. } | Location::Zip { .. } => None,
            })
            .collect();
        let mut read_members = Vec::new();
        let mut tar = tar_reader(path)?;
        for (position, entry) in tar.entries().map_err(|e| io_err(path, e))?.enumerate() {
            let Ok(entry) = entry else { break };
            let name = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
            let Some(uri) = by_position.remove(&position) else { continue };
            let outcome = if has_video_extension(Path::new(&name)) {
                in_archive(&uri)
            } else if entry.header().size().unwrap_or(u64::MAX) > max {
                failed("file_too_large", format!("{uri}: over the limit of {max} bytes"))
            } else {
                read(read_limited(entry, max, &uri))
            };
            read_members.push((position, uri, outcome));
        }
        // Entries listed before but unreadable now (a truncated archive).
        for (position, uri) in by_position {
            let message = format!("{uri}: could not be read from the archive");
            read_members.push((position, uri, failed("corrupt_archive", message)));
        }
        read_members.sort_by_key(|(position, ..)| *position);
        out.extend(read_members.into_iter().map(|(_, uri, outcome)| (uri, outcome)));
    }
    out.extend(listing.skipped.into_iter().map(|s| (s.uri, Err(format!("{}: {}", s.code, s.message)))));
    Ok(out)
}

/// Opens a tar archive, gunzipped when its name says so.
pub(crate) fn tar_reader(path: &Path) -> Result<tar::Archive<Box<dyn Read>>> {
    let f = fs_err::File::open(path).map_err(Error::Io)?;
    let name = path.to_string_lossy().to_ascii_lowercase();
    let r: Box<dyn Read> = if name.ends_with(".gz") || name.ends_with(".tgz") {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    };
    Ok(tar::Archive::new(r))
}

/// Reads at most `max` bytes; more is an error (a bomb or an unexpected giant).
pub(crate) fn read_limited(r: impl Read, max: u64, uri: &str) -> std::result::Result<Vec<u8>, (String, String)> {
    let mut buf = Vec::new();
    r.take(max + 1).read_to_end(&mut buf).map_err(|e| ("io".to_string(), format!("{uri}: {e}")))?;
    if buf.len() as u64 > max {
        return Err(("file_too_large".into(), format!("{uri}: larger than the limit of {max} bytes")));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_member_uris_never_collide_with_plain_paths() {
        let uri = member_uri("zip", Path::new("/a/b!/c%d.zip"), "x/y.jpg");
        assert_eq!(uri, "zip:/a/b%21/c%25d.zip!/x/y.jpg");
        assert_eq!(
            Stored::parse(&uri),
            Stored::Member { kind: "zip".into(), archive: "/a/b!/c%d.zip".into(), member: "x/y.jpg".into() }
        );
        assert_eq!(Stored::parse("/photos/conf!/x.jpg"), Stored::File("/photos/conf!/x.jpg".into()));
    }

    #[cfg(unix)]
    #[test]
    fn a_walk_stays_inside_its_root_and_ends_on_link_loops() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
        fs_err::create_dir_all(root.join("a/b")).unwrap();
        fs_err::create_dir_all(&outside).unwrap();
        for p in [root.join("a/one.jpg"), root.join("a/b/two.jpg"), outside.join("secret.jpg")] {
            fs_err::write(&p, b"x").unwrap();
        }
        let link = |to: &Path, at: &Path| std::os::unix::fs::symlink(to, at).unwrap();
        link(&outside.join("secret.jpg"), &root.join("escape.jpg"));
        link(&outside, &root.join("escape-dir"));
        link(Path::new("."), &root.join("loop1"));
        link(Path::new("."), &root.join("a/loop2"));
        link(&root.join("a/b"), &root.join("b-again"));
        link(&root.join("nothing"), &root.join("dangling.jpg"));
        let listing = list_inputs(std::slice::from_ref(&root), &Budget::default()).unwrap();
        let names: Vec<String> =
            listing.items.iter().map(|i| i.uri.rsplit('/').next().unwrap_or_default().to_string()).collect();
        assert_eq!(names, ["two.jpg", "one.jpg"], "each file once (a/b/two.jpg sorts first), nothing from outside");
        let mut skipped: Vec<(&str, String)> = listing
            .skipped
            .iter()
            .map(|s| (s.code, s.uri.rsplit('/').next().unwrap_or_default().to_string()))
            .collect();
        skipped.sort();
        assert_eq!(
            skipped,
            [
                ("link_outside_root", "escape-dir".to_string()),
                ("link_outside_root", "escape.jpg".to_string()),
                ("link_unresolved", "dangling.jpg".to_string())
            ]
        );
        let tight = Budget { max_entries: 3, ..Budget::default() };
        assert!(list_inputs(std::slice::from_ref(&root), &tight).is_err(), "the walk is bounded");
        let shallow = Budget { max_depth: 1, ..Budget::default() };
        let listing = list_inputs(&[root], &shallow).unwrap();
        assert!(listing.skipped.iter().any(|s| s.code == "too_deep"));
    }
}
