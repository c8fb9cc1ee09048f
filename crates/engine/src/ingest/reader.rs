//! The reader stage of ingestion: reads every listed file and archive member in order, hashes
//! it, and holds back what was erased on request or is already in the collection.

use std::path::{Path, PathBuf};

use crossbeam_channel::Sender;
use gabarit_catalog::{Catalog, ErasedContent};
use gabarit_media::DecodeLimits;
use gabarit_video::has_video_extension;

use super::{ERASED_ON_REQUEST, Payload, ToWriter, Work, dispatch, sha256_file};
use crate::walk::{Item, Location, io_err, read_limited, tar_reader};
use crate::{Error, Result};

/// Reads a listed file if it is still the file that was listed (a file swapped for a link
/// since is not followed), within the size limit.
fn read_listed(
    path: &Path,
    listed: Option<(u64, u64)>,
    limits: &DecodeLimits,
    uri: &str,
) -> std::result::Result<Vec<u8>, (String, String)> {
    let io = |e: std::io::Error| ("io".to_string(), format!("{uri}: {e}"));
    let f = fs_err::File::open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if crate::walk::ident(&meta) != listed {
        return Err(("changed".into(), format!("{uri}: replaced since it was listed: not read")));
    }
    if meta.len() > limits.max_file_bytes {
        return Err((
            "file_too_large".into(),
            format!("{uri}: larger than the limit of {} bytes", limits.max_file_bytes),
        ));
    }
    read_limited(f, limits.max_file_bytes, uri)
}

/// What the reader checks each file's content against before it is analysed: the photos
/// erased on request (refused in every collection) and the collection's own photos.
pub(super) struct Known<'a> {
    pub(super) catalog: Catalog,
    pub(super) collection_id: u32,
    pub(super) erased: &'a ErasedContent,
}

impl Known<'_> {
    /// What becomes of an item with this content instead of its analysis, if anything: refused
    /// (erased on request) or a duplicate.
    pub(super) fn held_back(&self, item: Item, sha256: &str) -> Result<std::result::Result<ToWriter, Item>> {
        if let Some(request) = self.erased.request_of(sha256) {
            let message =
                format!("{}: a photo with this content was erased on request {request}; not ingested again", item.uri);
            return Ok(Ok(ToWriter::Failed { item, code: ERASED_ON_REQUEST.into(), message }));
        }
        if self.catalog.has_image(self.collection_id, sha256)? {
            return Ok(Ok(ToWriter::Duplicate { item }));
        }
        Ok(Err(item))
    }
}

/// The reader stage: reads every item in order, hashes it, skips known content.
pub(super) fn read_all(
    items: Vec<Item>,
    known: &Known<'_>,
    limits: &DecodeLimits,
    work: &Sender<Work>,
    done: &Sender<ToWriter>,
) -> Result<()> {
    let mut zip_cache: Option<(PathBuf, zip::ZipArchive<fs_err::File>)> = None;
    let mut i = 0;
    while i < items.len() {
        // A tar archive is read once, front to back, for all its items.
        if let Location::Tar { archive, .. } = &items[i].location {
            let archive = archive.clone();
            let mut group = Vec::new();
            while i < items.len() && matches!(&items[i].location, Location::Tar { archive: a, .. } if *a == archive) {
                group.push(items[i].clone());
                i += 1;
            }
            read_tar(&archive, group, known, limits, work, done)?;
            continue;
        }
        let item = items[i].clone();
        i += 1;
        if has_video_extension(Path::new(&item.uri)) {
            let sent = match &item.location {
                Location::File { path: p, .. } => match sha256_file(p) {
                    Ok((sha256, bytes)) => {
                        let path = p.clone();
                        match known.held_back(item, &sha256)? {
                            Ok(held) => done.send(held).is_ok(),
                            Err(item) => {
                                work.send(Work { item, payload: Payload::Video { path, bytes }, sha256 }).is_ok()
                            }
                        }
                    }
                    Err(e) => done.send(ToWriter::Failed { item, code: "io".into(), message: e.to_string() }).is_ok(),
                },
                Location::Zip { .. } | Location::Tar { .. } => video_in_archive(item, done),
            };
            if !sent {
                return Ok(());
            }
            continue;
        }
        let bytes = match &item.location {
            Location::File { path, ident } => read_listed(path, *ident, limits, &item.uri),
            Location::Zip { archive, index } => {
                if zip_cache.as_ref().is_none_or(|(p, _)| p != archive) {
                    let f = fs_err::File::open(archive).map_err(Error::Io)?;
                    let z = zip::ZipArchive::new(f).map_err(|e| io_err(archive, e))?;
                    zip_cache = Some((archive.clone(), z));
                }
                match zip_cache.as_mut().map(|(_, z)| z.by_index(*index)) {
                    Some(Ok(entry)) if entry.size() > limits.max_file_bytes => Err((
                        "file_too_large".to_string(),
                        format!(
                            "{}: declares {} bytes, over the limit of {}",
                            item.uri,
                            entry.size(),
                            limits.max_file_bytes
                        ),
                    )),
                    Some(Ok(entry)) => read_limited(entry, limits.max_file_bytes, &item.uri),
                    Some(Err(e)) => Err(("corrupt_archive".to_string(), format!("{}: {e}", item.uri))),
                    None => Err(("io".to_string(), format!("{}: archive not open", item.uri))),
                }
            }
            Location::Tar { .. } => continue,
        };
        if !dispatch(item, bytes, known, work, done)? {
            return Ok(());
        }
    }
    Ok(())
}

fn read_tar(
    archive: &Path,
    group: Vec<Item>,
    known: &Known<'_>,
    limits: &DecodeLimits,
    work: &Sender<Work>,
    done: &Sender<ToWriter>,
) -> Result<()> {
    let mut by_position: std::collections::HashMap<usize, Item> = group
        .into_iter()
        .filter_map(|it| match &it.location {
            Location::Tar { position, .. } => Some((*position, it.clone())),
            Location::File { .. } | Location::Zip { .. } => None,
        })
        .collect();
    let mut tar = tar_reader(archive)?;
    for (position, entry) in tar.entries().map_err(|e| io_err(archive, e))?.enumerate() {
        let Ok(entry) = entry else { break };
        let name = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
        let Some(item) = by_position.remove(&position) else { continue };
        if has_video_extension(Path::new(&name)) {
            if !video_in_archive(item, done) {
                return Ok(());
            }
            continue;
        }
        let bytes = if entry.header().size().unwrap_or(u64::MAX) > limits.max_file_bytes {
            Err((
                "file_too_large".to_string(),
                format!("{}: over the limit of {} bytes", item.uri, limits.max_file_bytes),
            ))
        } else {
            read_limited(entry, limits.max_file_bytes, &item.uri)
        };
        if !dispatch(item, bytes, known, work, done)? {
            return Ok(());
        }
    }
    // Entries listed before but unreadable now (a truncated archive).
    for (_, item) in by_position {
        let message = format!("{}: could not be read from the archive", item.uri);
        if done.send(ToWriter::Failed { item, code: "corrupt_archive".into(), message }).is_err() {
            break;
        }
    }
    Ok(())
}

/// Videos are read by FFmpeg from files, which archive members are not.
fn video_in_archive(item: Item, done: &Sender<ToWriter>) -> bool {
    let message =
        format!("{}: videos inside archives are not read; extract the archive and ingest the folder", item.uri);
    done.send(ToWriter::Failed { item, code: "video_in_archive".into(), message }).is_ok()
}
