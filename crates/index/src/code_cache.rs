//! The compressed index's codes kept from one open to the next: `codes.cache`, written when
//! the index closes or checkpoints, lets the next open take the 1-bit codes and the stage file
//! ([`crate::stages`]) of the records it describes instead of coding them again (the costly
//! part of opening: about 8 s of the two cores at 1,000,000 templates).
//!
//! What binds a cache to the records: the SHA-256 of the first `slots` records' int8 codes,
//! slot by slot (removed ones included), which the open computes as it reads them anyway. A
//! cache describes a prefix of the records: records inserted after it was written are coded at
//! the next open (what a process that ended without closing leaves), and a removal or a
//! compaction removes it first. A cache whose digest differs from the records read, that
//! describes more records than there are, or that cannot be read (torn, altered, sealed with
//! another key, of another version), is ignored and the codes are computed again: it is
//! derived data, never a reason to refuse an open.
//!
//! The stage file's first blocks (those the cache describes) are bound by their own SHA-256,
//! checked at open (blocks written after the cache are cut off and coded again): a stage file
//! altered or damaged since is coded again rather than taken (its sealed sections would fail
//! every exhaustive search; unsealed, they could loosen a bound).
//!
//! Layout: a header in the clear ([`HEADER_LEN`] bytes: magic, version, dimension, slots,
//! words per 1-bit code, bytes per stage, full blocks of the stage file, its id and digest,
//! the records' digest, whether sealed), then the body — the 1-bit codes (`u64` LE), their
//! factors (8 bytes each), and the stage file's last, partial block (its three sections in the
//! clear) — in chunks of [`CHUNK`] bytes, each sealed with the records' cipher when there is
//! one, bound to the whole header and the chunk's number (a chunk altered, moved, or taken
//! from another cache fails to open), and the SHA-256 of the body in the clear.
//!
//! Erasure: the cache holds the codes of the templates it was written with, so the index
//! removes it before a removal ([`remove`]: emptied, then unlinked) and writes a new one at
//! close, where removed templates' codes are zero.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::onebit::Factors;
use crate::records::{io_err, sync_dir};
use crate::{RecordCipher, Result};

/// The file's name in the index directory.
pub(crate) const CODE_CACHE: &str = "codes.cache";
const CODE_CACHE_TMP: &str = "codes.cache.new";
const MAGIC: &[u8; 8] = b"GBRTCOD\0";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 128;
/// Bytes of a chunk of the body in the clear.
const CHUNK: usize = 1 << 20;
const FACTOR_BYTES: usize = 8;
/// The SHA-256 of the body in the clear, after it.
const TRAILER_LEN: usize = 32;

/// What a cache describes, beside the codes themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub dim: usize,
    /// Records coded (every slot, removed ones included).
    pub slots: usize,
    /// 64-bit words of a 1-bit code.
    pub words: usize,
    /// Bytes of one stage of one template.
    pub stage_bytes: usize,
    /// Full blocks of the stage file.
    pub stage_blocks: usize,
    pub stage_file_id: [u8; 16],
    /// SHA-256 of the records' int8 codes (offset form), slot by slot.
    pub digest: [u8; 32],
    /// SHA-256 of the stage file's `stage_blocks` full blocks as stored.
    pub stage_digest: [u8; 32],
}

/// The codes a cache holds.
pub(crate) struct Cached {
    pub header: Header,
    /// The 1-bit codes, `words` per slot.
    pub bits: Vec<u64>,
    pub factors: Vec<Factors>,
    /// The stage file's partial last block, its sections in the clear.
    pub tail: Vec<Vec<u8>>,
}

impl Header {
    fn bytes(&self, sealed: bool) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(self.dim as u32).to_le_bytes());
        h[16..24].copy_from_slice(&(self.slots as u64).to_le_bytes());
        h[24..28].copy_from_slice(&(self.words as u32).to_le_bytes());
        h[28..32].copy_from_slice(&(self.stage_bytes as u32).to_le_bytes());
        h[32..40].copy_from_slice(&(self.stage_blocks as u64).to_le_bytes());
        h[40..56].copy_from_slice(&self.stage_file_id);
        h[56..88].copy_from_slice(&self.digest);
        h[88..120].copy_from_slice(&self.stage_digest);
        h[120] = u8::from(sealed);
        h
    }

    fn parse(h: &[u8; HEADER_LEN]) -> Option<(Header, bool)> {
        let u32_at = |at: usize| usize::try_from(crate::records::u32_at(h, at)).ok();
        let u64_at = |at: usize| usize::try_from(crate::records::u64_at(h, at)).ok();
        if &h[..8] != MAGIC || crate::records::u32_at(h, 8) != VERSION || h[120] > 1 {
            return None;
        }
        let header = Header {
            dim: u32_at(12)?,
            slots: u64_at(16)?,
            words: u32_at(24)?,
            stage_bytes: u32_at(28)?,
            stage_blocks: u64_at(32)?,
            stage_file_id: h[40..56].try_into().ok()?,
            digest: h[56..88].try_into().ok()?,
            stage_digest: h[88..120].try_into().ok()?,
        };
        Some((header, h[120] == 1))
    }

    /// Bytes of the body in the clear, given the tail's section lengths.
    fn body_len(&self, tail_sections: &[usize]) -> Option<usize> {
        let codes = self.slots.checked_mul(self.words * 8 + FACTOR_BYTES)?;
        codes.checked_add(tail_sections.iter().sum())
    }
}

fn aad(header: &[u8; HEADER_LEN], chunk: usize) -> Vec<u8> {
    let mut aad = b"gabarit codes v1".to_vec();
    aad.extend_from_slice(header);
    aad.extend_from_slice(&(chunk as u64).to_le_bytes());
    aad
}

/// Reads the cache in `dir`, if there is one that this index can use: of this `dim`, `words`
/// and `stage_bytes`, sealed exactly when `cipher` is given, and whole. `tail_sections`: the
/// lengths of a stage block's sections in the clear. Anything else is `None`.
pub(crate) fn load(
    dir: &Path,
    expect: (usize, usize, usize),
    tail_sections: &[usize],
    cipher: Option<&Arc<dyn RecordCipher>>,
) -> Option<Cached> {
    let (dim, words, stage_bytes) = expect;
    let file = fs_err::File::open(dir.join(CODE_CACHE)).ok()?;
    let len = file.metadata().ok()?.len();
    let mut r = BufReader::with_capacity(CHUNK, file);
    let mut raw = [0u8; HEADER_LEN];
    r.read_exact(&mut raw).ok()?;
    let (header, sealed) = Header::parse(&raw)?;
    if header.dim != dim || header.words != words || header.stage_bytes != stage_bytes || sealed != cipher.is_some() {
        return None;
    }
    let body_len = header.body_len(tail_sections)?;
    let overhead = cipher.map_or(0, |c| c.overhead());
    let stored = body_len as u64 + body_len.div_ceil(CHUNK) as u64 * overhead as u64;
    if len != (HEADER_LEN + TRAILER_LEN) as u64 + stored {
        return None;
    }
    let mut body = Body {
        reader: r,
        raw: Vec::new(),
        plain: Vec::new(),
        at: 0,
        chunk: 0,
        left: body_len,
        header: raw,
        digest: Sha256::new(),
    };
    let mut bits = Vec::new();
    bits.try_reserve_exact(header.slots.checked_mul(words)?).ok()?;
    let mut buf = vec![0u8; 8 * 8192];
    let mut left = header.slots * words;
    while left > 0 {
        let n = left.min(8192);
        body.fill(&mut buf[..8 * n], cipher)?;
        bits.extend(
            buf[..8 * n].chunks_exact(8).map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
        );
        left -= n;
    }
    let mut factors = Vec::new();
    factors.try_reserve_exact(header.slots).ok()?;
    for _ in 0..header.slots {
        let mut b = [0u8; FACTOR_BYTES];
        body.fill(&mut b, cipher)?;
        let m = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if !m.is_finite() {
            return None;
        }
        factors.push(Factors { m, spread: u16::from_le_bytes([b[4], b[5]]), ones: u16::from_le_bytes([b[6], b[7]]) });
    }
    let mut tail = Vec::new();
    for &n in tail_sections {
        let mut section = vec![0u8; n];
        body.fill(&mut section, cipher)?;
        tail.push(section);
    }
    let mut trailer = [0u8; TRAILER_LEN];
    body.reader.read_exact(&mut trailer).ok()?;
    (<[u8; 32]>::from(body.digest.finalize()) == trailer).then_some(Cached { header, bits, factors, tail })
}

/// The body of a cache being read, chunk by chunk.
struct Body {
    reader: BufReader<fs_err::File>,
    raw: Vec<u8>,
    plain: Vec<u8>,
    at: usize,
    chunk: usize,
    /// Body bytes not yet read from the file.
    left: usize,
    header: [u8; HEADER_LEN],
    /// Of the body in the clear, checked against the trailer.
    digest: Sha256,
}

impl Body {
    /// Fills `out` with the next bytes of the body in the clear (`None` if a chunk cannot be
    /// read or opened).
    fn fill(&mut self, out: &mut [u8], cipher: Option<&Arc<dyn RecordCipher>>) -> Option<()> {
        let mut filled = 0;
        while filled < out.len() {
            if self.at == self.plain.len() {
                self.next_chunk(cipher)?;
            }
            let n = (out.len() - filled).min(self.plain.len() - self.at);
            out[filled..filled + n].copy_from_slice(&self.plain[self.at..self.at + n]);
            self.at += n;
            filled += n;
        }
        Some(())
    }

    fn next_chunk(&mut self, cipher: Option<&Arc<dyn RecordCipher>>) -> Option<()> {
        let n = self.left.min(CHUNK);
        if n == 0 {
            return None;
        }
        self.left -= n;
        self.at = 0;
        self.plain.resize(n, 0);
        match cipher {
            None => self.reader.read_exact(&mut self.plain).ok()?,
            Some(c) => {
                self.raw.resize(n + c.overhead(), 0);
                self.reader.read_exact(&mut self.raw).ok()?;
                c.open_into(&self.raw, &aad(&self.header, self.chunk), &mut self.plain).ok()?;
            }
        }
        self.digest.update(&self.plain);
        self.chunk += 1;
        Some(())
    }
}

/// Writes the cache of `header`'s index into `dir`: to a temporary file, synced, then renamed
/// over the old one (a crash leaves the old cache or the new one, never a torn one).
pub(crate) fn save(
    dir: &Path,
    header: &Header,
    bits: &[u64],
    factors: &[Factors],
    tail: &[&[u8]],
    cipher: Option<&Arc<dyn RecordCipher>>,
) -> Result<()> {
    let (path, tmp) = (dir.join(CODE_CACHE), dir.join(CODE_CACHE_TMP));
    let written = (|| -> Result<()> {
        let file = crate::private::create(&tmp).map_err(io_err(&tmp))?;
        let head = header.bytes(cipher.is_some());
        let mut out = Chunks {
            writer: BufWriter::with_capacity(CHUNK, file),
            plain: Vec::new(),
            chunk: 0,
            header: head,
            digest: Sha256::new(),
        };
        out.writer.write_all(&head).map_err(io_err(&tmp))?;
        let failed = |e: String| crate::Error::Encryption { path: tmp.clone(), reason: e };
        for word in bits {
            out.put(&word.to_le_bytes(), cipher).map_err(failed)?;
        }
        for f in factors {
            let mut b = [0u8; FACTOR_BYTES];
            b[..4].copy_from_slice(&f.m.to_le_bytes());
            b[4..6].copy_from_slice(&f.spread.to_le_bytes());
            b[6..].copy_from_slice(&f.ones.to_le_bytes());
            out.put(&b, cipher).map_err(failed)?;
        }
        for section in tail {
            out.put(section, cipher).map_err(failed)?;
        }
        out.finish(cipher).map_err(failed)?;
        let trailer: [u8; 32] = out.digest.clone().finalize().into();
        out.writer.write_all(&trailer).map_err(io_err(&tmp))?;
        let file = out.writer.into_inner().map_err(|e| io_err(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io_err(&tmp))?;
        fs_err::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(dir)
    })();
    if written.is_err() {
        let _ = fs_err::remove_file(&tmp);
    }
    written
}

/// The body of a cache being written, sealed chunk by chunk.
struct Chunks {
    writer: BufWriter<fs_err::File>,
    plain: Vec<u8>,
    chunk: usize,
    header: [u8; HEADER_LEN],
    digest: Sha256,
}

impl Chunks {
    fn put(&mut self, mut bytes: &[u8], cipher: Option<&Arc<dyn RecordCipher>>) -> std::result::Result<(), String> {
        while !bytes.is_empty() {
            let n = bytes.len().min(CHUNK - self.plain.len());
            self.plain.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.plain.len() == CHUNK {
                self.flush_chunk(cipher)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self, cipher: Option<&Arc<dyn RecordCipher>>) -> std::result::Result<(), String> {
        if self.plain.is_empty() { Ok(()) } else { self.flush_chunk(cipher) }
    }

    fn flush_chunk(&mut self, cipher: Option<&Arc<dyn RecordCipher>>) -> std::result::Result<(), String> {
        self.digest.update(&self.plain);
        let written = match cipher {
            None => self.writer.write_all(&self.plain),
            Some(c) => {
                let sealed = c.seal(&self.plain, &aad(&self.header, self.chunk))?;
                self.writer.write_all(&sealed)
            }
        };
        written.map_err(|e| e.to_string())?;
        self.plain.clear();
        self.chunk += 1;
        Ok(())
    }
}

/// Removes the cache from `dir`, if any: emptied first (its blocks freed), then unlinked.
pub(crate) fn remove(dir: &Path) -> Result<()> {
    let path = dir.join(CODE_CACHE);
    match fs_err::OpenOptions::new().write(true).open(&path) {
        Ok(file) => {
            file.set_len(0).map_err(io_err(&path))?;
            drop(file);
            fs_err::remove_file(&path).map_err(io_err(&path))?;
            sync_dir(dir)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// The SHA-256 of the first `len` bytes of `file` as stored (`None` if it has fewer or
/// cannot be read).
pub(crate) fn prefix_digest(file: &std::fs::File, len: u64) -> Option<[u8; 32]> {
    use std::os::unix::fs::FileExt;
    let mut digest = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut at = 0u64;
    while at < len {
        let n = usize::try_from((len - at).min(CHUNK as u64)).ok()?;
        file.read_exact_at(&mut buf[..n], at).ok()?;
        digest.update(&buf[..n]);
        at += n as u64;
    }
    Some(digest.finalize().into())
}
