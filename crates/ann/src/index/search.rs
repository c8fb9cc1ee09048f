//! Top-k search of an [`AnnIndex`]: through the graph, or by an exact scan (split over
//! threads) when the candidates are few.

use gabarit_index::select::{CollectionFilter, Ranked, TopK};
use gabarit_index::{Hit, Result, VectorIndex, validate_vector};

use super::{AnnIndex, PARALLEL_SCAN_MIN, threads_of};
use crate::graph::Scored;
use crate::kernel::{Query, Scorer};

impl AnnIndex {
    /// Top-k search with an explicit breadth `ef` (see [`VectorIndex::search`]).
    pub fn search_ef(&self, query: &[f32], k: usize, collections: Option<&[u32]>, ef: usize) -> Result<Vec<Hit>> {
        validate_vector(query, self.dim)?;
        let filter = CollectionFilter::new(collections);
        if k == 0 || filter.accepts_nothing() {
            return Ok(Vec::new());
        }
        let live = self.len();
        let candidates = match filter.listed() {
            None => live,
            Some(v) => v.iter().map(|c| self.per_collection.get(c).copied().unwrap_or(0)).sum(),
        };
        if candidates == 0 {
            return Ok(Vec::new());
        }
        let q = Query::new(query, self.opts.query_bits);
        // Exact when few candidates, or when a filter keeps under a third of the templates
        // (a filtered walk visits about 1/fraction times more slots).
        if candidates <= self.opts.exact_below || candidates * 3 < live {
            return Ok(self.scan_top(&q, k, &filter));
        }
        let ef = ef.max(k) * live.div_ceil(candidates).min(3);
        let vecs = self.vectors();
        let found =
            self.graph.search(&vecs, &q, ef, &|s| !self.is_dead(s) && filter.accepts(self.collections[s as usize]));
        let mut hits: Vec<Hit> = found
            .into_iter()
            .map(|Scored { score, slot }| Hit {
                id: self.ids[slot as usize],
                collection: self.collections[slot as usize],
                score,
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(k);
        Ok(hits)
    }

    /// Splits the slots into one range per scan thread.
    fn scan_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let slots = self.ids.len();
        let threads = if slots < PARALLEL_SCAN_MIN { 1 } else { threads_of(self.opts.threads) };
        let per = slots.div_ceil(threads).max(1);
        (0..slots).step_by(per).map(|s| s..(s + per).min(slots)).collect()
    }

    pub(super) fn scan<T: Send, F: Fn(std::ops::Range<usize>) -> T + Sync>(&self, f: F) -> Vec<T> {
        let ranges = self.scan_ranges();
        if ranges.len() <= 1 {
            return ranges.into_iter().map(&f).collect();
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = ranges.into_iter().map(|r| s.spawn(|| f(r))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        })
    }

    pub(super) fn scan_top(&self, q: &Query, k: usize, filter: &CollectionFilter) -> Vec<Hit> {
        let vecs = self.vectors();
        let parts = self.scan(|range| {
            let mut top = TopK::new(k);
            for slot in range {
                if self.is_dead(slot as u32) || !filter.accepts(self.collections[slot]) {
                    continue;
                }
                let score = q.score(&vecs.codes[slot * self.dim..(slot + 1) * self.dim], self.scales[slot]);
                top.offer(score, self.ids[slot], slot);
            }
            top.into_vec()
        });
        let mut all: Vec<Ranked> = parts.into_iter().flatten().collect();
        all.sort();
        all.truncate(k);
        all.into_iter().map(|c| Hit { id: c.id, collection: self.collections[c.slot], score: c.score }).collect()
    }
}
