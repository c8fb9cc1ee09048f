//! Growth of the per-template arrays: by a sixteenth of their length at a time, not by
//! doubling. An index of millions of templates counts its memory by capacity, and a doubled
//! array holds as much spare room as data: a compressed index at 91 bytes a template would
//! hold 180 after the first insert past a power of two. A sixteenth bounds the spare room to
//! about 6% (still amortised constant time: each template is moved about sixteen times over
//! the life of the array, where large reallocations are remaps rather than copies).

/// Makes room in `v` for `additional` more items.
pub(crate) fn reserve<T>(v: &mut Vec<T>, additional: usize) {
    if v.capacity() - v.len() < additional {
        v.reserve_exact(additional.max(v.len() / 16).max(MIN_STEP));
    }
}

/// Items added at least per growth (small arrays are not reallocated at every insert).
const MIN_STEP: usize = 64;

#[cfg(test)]
mod tests {
    #[test]
    fn spare_room_stays_within_a_sixteenth_past_the_first_steps() {
        let mut v: Vec<u64> = Vec::new();
        let mut growths = 0;
        for i in 0..200_000u64 {
            let before = v.capacity();
            super::reserve(&mut v, 1);
            v.push(i);
            growths += usize::from(v.capacity() != before);
            if v.len() > 10_000 {
                assert!(v.capacity() - v.len() <= v.len() / 16 + 1, "{} for {}", v.capacity(), v.len());
            }
        }
        // Geometric growth, not one reallocation per insert.
        assert!(growths < 200, "{growths} reallocations");
        let mut w: Vec<u8> = Vec::with_capacity(10);
        super::reserve(&mut w, 512);
        assert!(w.capacity() >= 512);
    }
}
