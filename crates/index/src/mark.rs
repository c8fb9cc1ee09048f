//! Where an index stood, so that what was computed from it then can be brought up to date
//! from the templates inserted since, instead of computed again from every template (the faces
//! hidden by objections: one exhaustive search per objection, on every search that follows a
//! change).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::Hit;

/// One numbering of an index's slots: drawn anew when an index is opened and whenever it
/// renumbers its slots (compaction), unique within the process, so that a [`Mark`] of another
/// numbering — or of another index — is never taken for one of this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout(u64);

impl Layout {
    /// A numbering no other index of this process has had.
    #[must_use]
    pub fn fresh() -> Layout {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Layout(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Where an index stood: its numbering and how many slots it had (slots are appended in
/// insertion order, so the templates inserted since are the later slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    layout: Layout,
    slots: usize,
}

impl Mark {
    /// An index with `slots` slots under `layout`.
    #[must_use]
    pub fn new(layout: Layout, slots: usize) -> Mark {
        Mark { layout, slots }
    }

    /// The first slot inserted after this mark, for an index now under `layout` with `slots`
    /// slots; `None` if its slots were renumbered since (or the mark is another index's).
    #[must_use]
    pub fn first_new_slot(self, layout: Layout, slots: usize) -> Option<usize> {
        (self.layout == layout && self.slots <= slots).then_some(self.slots)
    }
}

/// The templates inserted since a [`Mark`]: see
/// [`VectorIndex::search_threshold_since`](crate::VectorIndex::search_threshold_since).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Since {
    /// Every id stored since, live or removed since: an id on this list may have been
    /// removed and inserted again, so what was known of it before the mark no longer holds.
    pub inserted: Vec<u64>,
    /// Those of them live and scoring at least the threshold, scored and ordered as
    /// `search_threshold` scores and orders them.
    pub hits: Vec<Hit>,
}
