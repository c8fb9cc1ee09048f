//! A growable byte buffer in anonymous memory advised for transparent huge pages.
//!
//! Graph searches read template codes at random: with 4 KiB pages nearly every read is a TLB
//! miss (512 MB of codes at 1,000,000 templates), with 2 MiB pages the whole set fits the TLB.
//! Measured at 200,000 templates on the development machine: building 33% faster, searching
//! 15% faster. Linux only honours the advice when `transparent_hugepage/enabled` is `always`
//! or `madvise` (the default on most distributions); elsewhere this is an ordinary buffer.

use memmap2::{Advice, MmapMut};

/// Huge page size on x86-64 and aarch64 Linux; growth is rounded to it.
const HUGE: usize = 2 << 20;

/// A `Vec<u8>`-like buffer backed by an anonymous mapping (or a `Vec` if mapping fails).
#[derive(Debug, Default)]
pub struct HugeBuf {
    store: Store,
    len: usize,
}

#[derive(Debug, Default)]
enum Store {
    #[default]
    Empty,
    Map(MmapMut),
    Heap(Vec<u8>),
}

impl Store {
    fn bytes(&self) -> &[u8] {
        match self {
            Store::Empty => &[],
            Store::Map(m) => m,
            Store::Heap(v) => v,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Store::Empty => &mut [],
            Store::Map(m) => m,
            Store::Heap(v) => v,
        }
    }

    /// Zeroed storage of `capacity` bytes.
    fn new(capacity: usize) -> Store {
        if capacity == 0 {
            return Store::Empty;
        }
        match MmapMut::map_anon(capacity) {
            Ok(m) => {
                // Advice is best effort: without transparent huge pages it is a plain mapping.
                m.advise(Advice::HugePage).ok();
                Store::Map(m)
            }
            Err(_) => Store::Heap(vec![0; capacity]),
        }
    }
}

impl HugeBuf {
    /// An empty buffer.
    pub fn new() -> HugeBuf {
        HugeBuf::default()
    }

    /// An empty buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> HugeBuf {
        let mut b = HugeBuf::new();
        b.reserve(capacity);
        b
    }

    /// Bytes in use.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes reserved.
    pub fn capacity(&self) -> usize {
        self.store.bytes().len()
    }

    /// Makes room for `additional` more bytes (growing by at least half, in huge pages).
    pub fn reserve(&mut self, additional: usize) {
        let needed = self.len + additional;
        if needed <= self.capacity() {
            return;
        }
        let target = needed.max(self.capacity() + self.capacity() / 2).div_ceil(HUGE) * HUGE;
        self.reallocate(target);
    }

    fn reallocate(&mut self, capacity: usize) {
        let mut store = Store::new(capacity);
        store.bytes_mut()[..self.len].copy_from_slice(&self.store.bytes()[..self.len]);
        self.store = store;
    }

    /// Appends `bytes`.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        let start = self.len;
        self.store.bytes_mut()[start..start + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Keeps the first `len` bytes (the freed bytes are zeroed: no stale copy stays behind).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            let old = self.len;
            self.store.bytes_mut()[len..old].fill(0);
            self.len = len;
        }
    }

    /// Releases the reserve beyond the bytes in use (rounded up to a huge page).
    pub fn shrink_to_fit(&mut self) {
        let target = self.len.div_ceil(HUGE) * HUGE;
        if target < self.capacity() {
            self.reallocate(target);
        }
    }

    /// The bytes in use.
    pub fn as_slice(&self) -> &[u8] {
        &self.store.bytes()[..self.len]
    }

    /// The bytes in use, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut self.store.bytes_mut()[..len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_vec() {
        let mut b = HugeBuf::new();
        let mut v = Vec::new();
        for i in 0..5000u32 {
            let chunk: Vec<u8> = (0..(i % 700) as u8).map(|x| x.wrapping_mul(i as u8)).collect();
            b.extend_from_slice(&chunk);
            v.extend_from_slice(&chunk);
        }
        assert_eq!(b.as_slice(), &v[..]);
        assert!(b.capacity() >= b.len() && b.capacity().is_multiple_of(HUGE));
        b.truncate(1000);
        v.truncate(1000);
        b.shrink_to_fit();
        assert_eq!(b.as_slice(), &v[..]);
        b.as_mut_slice()[3] = 9;
        assert_eq!(b.as_slice()[3], 9);
        b.truncate(0);
        assert_eq!(b.len(), 0);
        b.shrink_to_fit();
        assert_eq!(b.capacity(), 0);
        assert_eq!(HugeBuf::with_capacity(10).capacity(), HUGE);
    }
}
