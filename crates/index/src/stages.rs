//! The compressed index's 6-bit stage codes ([`crate::bound`]) kept in a file beside the
//! records instead of in memory: what an exhaustive search reads to prove most templates
//! below its floor.
//!
//! `stages.cache` is derived data, written at open from the records; it is kept when the index
//! closes or checkpoints with a [`crate::code_cache`] describing it (and its first blocks are
//! taken as they are by the next open that finds those records unchanged), removed otherwise.
//! It holds blocks of [`BLOCK`] templates, each in three sections read separately: (0) every
//! template's [`Levels`] and first stage, (1) the second stages, (2) the third; a scan
//! reads the first section of every block and the others only where some template's bound
//! still reached its floor. With a [`RecordCipher`] every section is sealed, bound to this
//! file's random id, its block and its section: a section changed on disk, moved, or taken
//! from another file fails to open ([`Error::Encryption`]) — it can never loosen a bound.
//! The templates appended since the last full block are held in memory.
//!
//! Erasure: forgetting templates rewrites their blocks with their bytes zeroed, at once;
//! compaction writes the live templates to a new file and renames it over the old one.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::bound::{Level, Levels, STAGES};
use crate::records::{corrupt, io_err};
use crate::{Error, RecordCipher, Result};

/// Templates per block.
pub const BLOCK: usize = 256;
/// The file's name in the index directory.
pub const STAGE_FILE: &str = "stages.cache";
const STAGE_TMP: &str = "stages.cache.new";
/// `[Level; STAGES]` and the norm, as `f32` LE.
const LEVELS_BYTES: usize = 4 * (2 * STAGES + 1);

/// The stage file of an open compressed index.
#[derive(Debug)]
pub(crate) struct StageFile {
    path: PathBuf,
    file: fs_err::File,
    cipher: Option<Arc<dyn RecordCipher>>,
    /// Bytes of one stage of one template.
    bytes: usize,
    /// What sets this file's sealed sections apart from any other file's.
    file_id: [u8; 16],
    /// Full blocks written.
    blocks: usize,
    /// The templates after the last full block.
    tail: Block,
    /// Whether dropping this removes the file (not once another took its place).
    remove_on_drop: std::sync::atomic::AtomicBool,
    /// Set when a compaction renumbered the records but this file could not follow: every
    /// later read fails (a bound from another template's stages could prune a match).
    out_of_step: bool,
}

/// Templates of one block in the clear, as the sections are laid out (room for [`BLOCK`]
/// templates, the first `len` used): all of them, or those of the sections read so far.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    len: usize,
    /// Bytes of one stage of one template.
    bytes: usize,
    /// Section 0: the levels of every template (`LEVELS_BYTES` each), then their first
    /// stages; section `j > 0`: their stage `j`.
    sections: [Vec<u8>; STAGES],
}

impl Block {
    fn new(bytes: usize) -> Block {
        Block { len: 0, bytes, sections: std::array::from_fn(|j| vec![0; section_len(j, bytes)]) }
    }

    /// The levels of the `i`-th template.
    #[inline]
    fn levels(&self, i: usize) -> Levels {
        let b = &self.sections[0][i * LEVELS_BYTES..(i + 1) * LEVELS_BYTES];
        let f = |at: usize| f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        Levels { stages: std::array::from_fn(|j| Level { scale: f(8 * j), radius: f(8 * j + 4) }), norm: f(8 * STAGES) }
    }

    /// Where stage `stage` of the `i`-th template starts in its section.
    #[inline]
    fn stage_at(&self, stage: usize, i: usize) -> usize {
        (if stage == 0 { BLOCK * LEVELS_BYTES } else { 0 }) + i * self.bytes
    }

    /// Stage `stage` of the `i`-th template.
    #[inline]
    fn stage(&self, stage: usize, i: usize) -> &[u8] {
        let at = self.stage_at(stage, i);
        &self.sections[stage][at..at + self.bytes]
    }

    /// Writes the `i`-th template's levels (in the order [`levels`](Self::levels) reads them)
    /// and code (`STAGES` stages side by side).
    fn set(&mut self, i: usize, levels: &Levels, code: &[u8]) {
        let values = levels.stages.iter().flat_map(|l| [l.scale, l.radius]).chain([levels.norm]);
        let to = self.sections[0][i * LEVELS_BYTES..(i + 1) * LEVELS_BYTES].chunks_exact_mut(4);
        for (to, v) in to.zip(values) {
            to.copy_from_slice(&v.to_le_bytes());
        }
        for (j, part) in code.chunks_exact(self.bytes).enumerate() {
            let at = self.stage_at(j, i);
            self.sections[j][at..at + self.bytes].copy_from_slice(part);
        }
    }

    /// Appends a template's levels and code (`STAGES` stages side by side).
    fn push(&mut self, levels: &Levels, code: &[u8]) {
        self.set(self.len, levels, code);
        self.len += 1;
    }

    /// Zeroes the `i`-th template.
    fn zero(&mut self, i: usize) {
        self.set(i, &Levels::default(), &vec![0; STAGES * self.bytes]);
    }

    fn clear(&mut self) {
        self.len = 0;
        self.sections.iter_mut().for_each(|s| s.fill(0));
    }

    /// The `i`-th template's code, its stages side by side.
    fn code(&self, i: usize) -> Vec<u8> {
        (0..STAGES).flat_map(|j| self.stage(j, i)).copied().collect()
    }
}

/// Bytes of section `section` in the clear.
fn section_len(section: usize, bytes: usize) -> usize {
    BLOCK * (bytes + if section == 0 { LEVELS_BYTES } else { 0 })
}

impl StageFile {
    /// Creates (or empties) the stage file in `dir`, readable by its owner only.
    pub(crate) fn create(dir: &Path, bytes: usize, cipher: Option<Arc<dyn RecordCipher>>) -> Result<StageFile> {
        Self::create_at(dir.join(STAGE_FILE), bytes, cipher)
    }

    fn create_at(path: PathBuf, bytes: usize, cipher: Option<Arc<dyn RecordCipher>>) -> Result<StageFile> {
        let file = crate::private::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok(StageFile {
            path,
            file,
            cipher,
            bytes,
            file_id: file_id(),
            blocks: 0,
            tail: Block::new(bytes),
            remove_on_drop: std::sync::atomic::AtomicBool::new(true),
            out_of_step: false,
        })
    }

    /// Takes the stage file left in `dir` by an index whose [`crate::code_cache`] recorded
    /// `blocks` full blocks, this `file_id` and the SHA-256 `digest` of those blocks as stored,
    /// and the templates after them (`tail`: the sections of its partial block in the clear,
    /// `tail_len` templates). Blocks written after the cache (the file may be longer) are cut
    /// off: their templates are coded again. `None` if the file is not there, shorter, or its
    /// first blocks are not those the cache describes.
    pub(crate) fn adopt(
        dir: &Path,
        bytes: usize,
        cipher: Option<Arc<dyn RecordCipher>>,
        (file_id, blocks, digest): ([u8; 16], usize, [u8; 32]),
        tail: Vec<Vec<u8>>,
        tail_len: usize,
    ) -> Option<StageFile> {
        let path = dir.join(STAGE_FILE);
        let file = crate::private::options().read(true).write(true).open(&path).ok()?;
        let sections: [Vec<u8>; STAGES] = tail.try_into().ok()?;
        let fits = sections.iter().enumerate().all(|(j, s)| s.len() == section_len(j, bytes));
        if !fits || tail_len >= BLOCK {
            return None;
        }
        let adopted = StageFile {
            path,
            file,
            cipher,
            bytes,
            file_id,
            blocks,
            tail: Block { len: tail_len, bytes, sections },
            remove_on_drop: std::sync::atomic::AtomicBool::new(true),
            out_of_step: false,
        };
        let len = adopted.disk_bytes();
        if crate::code_cache::prefix_digest(adopted.file.file(), len)? != digest {
            return None;
        }
        adopted.file.set_len(len).ok()?;
        Some(adopted)
    }

    /// What a [`crate::code_cache`] records of this file: its id and full blocks.
    pub(crate) fn identity(&self) -> ([u8; 16], usize) {
        (self.file_id, self.blocks)
    }

    /// The SHA-256 of the file's full blocks as stored, each section checked on the way
    /// (opened, when sealed): a file damaged while the index was open is never described as
    /// sound.
    pub(crate) fn verified_digest(&self) -> Result<[u8; 32]> {
        let mut digest = Sha256::new();
        let (mut block, mut raw) = (Block::new(self.bytes), Vec::new());
        for b in 0..self.blocks {
            for section in 0..STAGES {
                self.read_section(b, section, &mut block, &mut raw)?;
                digest.update(if self.cipher.is_some() { &raw } else { &block.sections[section] });
            }
        }
        Ok(digest.finalize().into())
    }

    /// Removes the file when it is dropped (undoes [`keep`](Self::keep)).
    pub(crate) fn discard(&self) {
        self.remove_on_drop.store(true, std::sync::atomic::Ordering::Release);
    }

    /// The sections of the partial last block, in the clear.
    pub(crate) fn tail_sections(&self) -> [&[u8]; STAGES] {
        std::array::from_fn(|j| self.tail.sections[j].as_slice())
    }

    /// Lengths of a block's sections in the clear, for templates of `bytes` bytes per stage.
    pub(crate) fn section_lens(bytes: usize) -> [usize; STAGES] {
        std::array::from_fn(|j| section_len(j, bytes))
    }

    /// Whether a failed compaction left this file out of step with the records.
    pub(crate) fn is_out_of_step(&self) -> bool {
        self.out_of_step
    }

    /// Writes the file's blocks to the disk and keeps the file when it is dropped: for the
    /// next open, with the [`crate::code_cache`] that describes it.
    pub(crate) fn keep(&self) -> Result<()> {
        self.file.sync_all().map_err(io_err(&self.path))?;
        self.remove_on_drop.store(false, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Templates held.
    pub(crate) fn len(&self) -> usize {
        self.blocks * BLOCK + self.tail.len
    }

    /// Heap bytes (the templates after the last full block).
    pub(crate) fn memory(&self) -> usize {
        self.tail.sections.iter().map(Vec::capacity).sum()
    }

    /// Bytes of the file.
    pub(crate) fn disk_bytes(&self) -> u64 {
        self.offset(self.blocks, 0)
    }

    /// Writes the last block out if it is full, so that the next [`push`](Self::push) cannot
    /// fail.
    pub(crate) fn make_room(&mut self) -> Result<()> {
        if self.tail.len == BLOCK {
            self.write_block(self.blocks, &self.tail)?;
            self.blocks += 1;
            self.tail.clear();
        }
        Ok(())
    }

    /// Appends a template's levels and code (`STAGES` stages side by side).
    pub(crate) fn push(&mut self, levels: Levels, code: &[u8]) -> Result<()> {
        self.make_room()?;
        self.tail.push(&levels, code);
        Ok(())
    }

    /// Zeroes the templates at `slots` (ascending), in the file and in memory: each block
    /// they fall in is read and written again once.
    pub(crate) fn forget(&mut self, slots: &[usize]) -> Result<()> {
        let mut block = Block::new(self.bytes);
        let mut i = 0;
        while i < slots.len() {
            let b = slots[i] / BLOCK;
            if b >= self.blocks {
                for &slot in &slots[i..] {
                    if slot - self.blocks * BLOCK < self.tail.len {
                        self.tail.zero(slot - self.blocks * BLOCK);
                    }
                }
                return Ok(());
            }
            self.read_block(b, &mut block)?;
            while i < slots.len() && slots[i] / BLOCK == b {
                block.zero(slots[i] % BLOCK);
                i += 1;
            }
            self.write_block(b, &block)?;
        }
        Ok(())
    }

    /// The templates of the `live` slots only, in order, written to a new file beside this one
    /// (removed if dropped), to take its place with [`replace`](Self::replace) once the
    /// records are renumbered the same way.
    pub(crate) fn retained(&self, live: &[bool]) -> Result<StageFile> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut next = Self::create_at(dir.join(STAGE_TMP), self.bytes, self.cipher.clone())?;
        let mut block = Block::new(self.bytes);
        for b in 0..=self.blocks {
            let from = if b < self.blocks {
                self.read_block(b, &mut block)?;
                &block
            } else {
                &self.tail
            };
            for i in 0..from.len {
                if live.get(b * BLOCK + i).copied().unwrap_or(false) {
                    next.push(from.levels(i), &from.code(i))?;
                }
            }
        }
        Ok(next)
    }

    /// Takes `next` (from [`retained`](Self::retained)) in place of this file. If that fails,
    /// this file is out of step with the records: every later read fails, until the index is
    /// opened again.
    pub(crate) fn replace(&mut self, mut next: StageFile) -> Result<()> {
        if let Err(e) = fs_err::rename(&next.path, &self.path) {
            self.out_of_step = true;
            return Err(io_err(&self.path)(e));
        }
        next.path = self.path.clone();
        *self.remove_on_drop.get_mut() = false;
        *self = next;
        Ok(())
    }

    /// A reader of blocks, for one scan.
    pub(crate) fn view(&self) -> BlockView<'_> {
        BlockView {
            file: self,
            block: usize::MAX,
            read: [false; STAGES],
            data: Block::new(self.bytes),
            raw: Vec::new(),
        }
    }

    fn stored_len(&self, section: usize) -> usize {
        section_len(section, self.bytes) + self.cipher.as_ref().map_or(0, |c| c.overhead())
    }

    fn offset(&self, block: usize, section: usize) -> u64 {
        let block_len: usize = (0..STAGES).map(|s| self.stored_len(s)).sum();
        (block * block_len + (0..section).map(|s| self.stored_len(s)).sum::<usize>()) as u64
    }

    fn aad(&self, block: usize, section: usize) -> Vec<u8> {
        let mut aad = b"gabarit stages v1".to_vec();
        aad.extend_from_slice(&self.file_id);
        aad.extend_from_slice(&(block as u64).to_le_bytes());
        aad.push(section as u8);
        aad
    }

    fn write_block(&self, b: usize, block: &Block) -> Result<()> {
        for (section, plain) in block.sections.iter().enumerate() {
            let at = self.offset(b, section);
            match &self.cipher {
                Some(c) => {
                    let sealed = c.seal(plain, &self.aad(b, section)).map_err(|reason| self.sealing(reason))?;
                    self.file.file().write_all_at(&sealed, at)
                }
                None => self.file.file().write_all_at(plain, at),
            }
            .map_err(io_err(&self.path))?;
        }
        Ok(())
    }

    /// Reads section `section` of the full block `b` into `into` (`raw`: scratch space).
    fn read_section(&self, b: usize, section: usize, into: &mut Block, raw: &mut Vec<u8>) -> Result<()> {
        self.check_in_step()?;
        let at = self.offset(b, section);
        let read = |buf: &mut Vec<u8>| {
            buf.resize(self.stored_len(section), 0);
            self.file.file().read_exact_at(buf, at).map_err(io_err(&self.path))
        };
        into.len = BLOCK;
        let Some(cipher) = &self.cipher else {
            return read(&mut into.sections[section]);
        };
        read(raw)?;
        let plain = &mut into.sections[section];
        plain.resize(section_len(section, self.bytes), 0);
        // Decrypted into the block's own buffer: no allocation per section read.
        cipher.open_into(raw, &self.aad(b, section), plain).map_err(|reason| self.sealing(reason))
    }

    fn read_block(&self, b: usize, into: &mut Block) -> Result<()> {
        let mut raw = Vec::new();
        (0..STAGES).try_for_each(|section| self.read_section(b, section, into, &mut raw))
    }

    fn check_in_step(&self) -> Result<()> {
        if self.out_of_step {
            return Err(corrupt(
                &self.path,
                "out of step with the records after a failed compaction: open the index again",
            ));
        }
        Ok(())
    }

    fn sealing(&self, reason: String) -> Error {
        Error::Encryption { path: self.path.clone(), reason }
    }
}

impl Drop for StageFile {
    fn drop(&mut self) {
        if *self.remove_on_drop.get_mut() {
            // Derived data: nothing is lost if it stays (the next open overwrites it).
            let _ = fs_err::remove_file(&self.path);
        }
    }
}

/// Sixteen bytes no other stage file has: a hash of the time, the process and a counter.
fn file_id() -> [u8; 16] {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = Sha256::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    h.update(now.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_le_bytes());
    let digest = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

/// Reads the blocks a scan goes through, one at a time, each section when first asked for.
pub(crate) struct BlockView<'a> {
    file: &'a StageFile,
    block: usize,
    read: [bool; STAGES],
    data: Block,
    /// Scratch space for sealed sections.
    raw: Vec<u8>,
}

impl BlockView<'_> {
    /// The levels of the template at `slot`.
    #[inline]
    pub(crate) fn levels(&mut self, slot: usize) -> Result<Levels> {
        self.load(slot, 0)?;
        Ok(self.data.levels(slot % BLOCK))
    }

    /// Stage `stage` of the template at `slot`.
    #[inline]
    pub(crate) fn stage(&mut self, slot: usize, stage: usize) -> Result<&[u8]> {
        self.load(slot, stage)?;
        Ok(self.data.stage(stage, slot % BLOCK))
    }

    #[inline]
    fn load(&mut self, slot: usize, section: usize) -> Result<()> {
        let b = slot / BLOCK;
        if b != self.block {
            self.block = b;
            self.read = [false; STAGES];
        }
        if self.read[section] {
            return Ok(());
        }
        if b < self.file.blocks {
            self.file.read_section(b, section, &mut self.data, &mut self.raw)?;
            self.read[section] = true;
        } else if slot - b * BLOCK < self.file.tail.len {
            self.file.check_in_step()?;
            self.data.clone_from(&self.file.tail);
            self.read = [true; STAGES];
        } else {
            return Err(corrupt(&self.file.path, format!("no stages for slot {slot}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(x: f32) -> Levels {
        Levels { stages: std::array::from_fn(|j| Level { scale: x + j as f32, radius: x / 2.0 }), norm: x * 3.0 }
    }

    fn code(slot: usize, bytes: usize) -> Vec<u8> {
        (0..STAGES * bytes).map(|i| (slot * 7 + i) as u8 | 1).collect()
    }

    #[test]
    fn templates_read_back_from_blocks_and_tail_and_forgotten_ones_are_zero_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = 16;
        let mut file = StageFile::create(dir.path(), bytes, None).unwrap();
        let n = 2 * BLOCK + 10;
        for slot in 0..n {
            file.push(levels(slot as f32), &code(slot, bytes)).unwrap();
        }
        assert_eq!(file.len(), n);
        let check = |file: &StageFile, slot: usize, expect: &[u8], l: Levels| {
            let mut view = file.view();
            for j in (0..STAGES).rev() {
                assert_eq!(view.stage(slot, j).unwrap(), &expect[j * bytes..(j + 1) * bytes], "slot {slot}");
            }
            assert_eq!(view.levels(slot).unwrap(), l);
        };
        for slot in [0, 5, BLOCK - 1, BLOCK, 2 * BLOCK + 9] {
            check(&file, slot, &code(slot, bytes), levels(slot as f32));
        }
        file.forget(&[3, BLOCK + 1, 2 * BLOCK + 2]).unwrap();
        let on_disk = fs_err::read(dir.path().join(STAGE_FILE)).unwrap();
        assert_eq!(on_disk.len(), 2 * BLOCK * (LEVELS_BYTES + STAGES * bytes));
        for slot in [3, BLOCK + 1, 2 * BLOCK + 2] {
            check(&file, slot, &vec![0; STAGES * bytes], Levels::default());
        }
        // Slot 3's levels and stages, in the three sections of block 0: zeros.
        let first = BLOCK * LEVELS_BYTES + 3 * bytes;
        for at in [3 * LEVELS_BYTES, first, first + BLOCK * bytes, first + 2 * BLOCK * bytes] {
            assert!(on_disk[at..at + bytes].iter().all(|&b| b == 0), "{at}");
        }
        assert!(on_disk[first + bytes..first + 2 * bytes].iter().all(|&b| b != 0));
        check(&file, 4, &code(4, bytes), levels(4.0));
        let live: Vec<bool> = (0..n).map(|s| s % 3 != 0).collect();
        let next = file.retained(&live).unwrap();
        assert!(dir.path().join(STAGE_TMP).exists());
        file.replace(next).unwrap();
        let kept: Vec<usize> = (0..n).filter(|s| s % 3 != 0).collect();
        assert_eq!(file.len(), kept.len());
        for (slot, &was) in kept.iter().enumerate() {
            let expect =
                if was == BLOCK + 1 || was == 2 * BLOCK + 2 { vec![0; STAGES * bytes] } else { code(was, bytes) };
            let l = if was == BLOCK + 1 || was == 2 * BLOCK + 2 { Levels::default() } else { levels(was as f32) };
            check(&file, slot, &expect, l);
        }
        assert!(!dir.path().join(STAGE_TMP).exists());
        drop(file);
        assert!(!dir.path().join(STAGE_FILE).exists());
    }

    #[test]
    fn a_file_that_could_not_follow_a_compaction_answers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = StageFile::create(dir.path(), 8, None).unwrap();
        for slot in 0..BLOCK + 3 {
            file.push(levels(1.0), &code(slot, 8)).unwrap();
        }
        let next = file.retained(&vec![true; BLOCK + 3]).unwrap();
        // The new file gone before it could be renamed in: the old one must not serve.
        fs_err::remove_file(dir.path().join(STAGE_TMP)).unwrap();
        assert!(file.replace(next).is_err());
        assert!(matches!(file.view().levels(0), Err(Error::Corrupt { .. })));
        assert!(matches!(file.view().stage(BLOCK + 1, 2), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn a_slot_beyond_the_templates_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = StageFile::create(dir.path(), 8, None).unwrap();
        file.push(levels(1.0), &code(0, 8)).unwrap();
        assert!(file.view().stage(1, 0).is_err());
        assert!(file.view().levels(BLOCK + 1).is_err());
    }
}
