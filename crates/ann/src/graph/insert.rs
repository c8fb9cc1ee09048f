//! Linking new slots: the neighbour-selection heuristic, [`Graph::insert`] and
//! [`Graph::insert_parallel`].

use std::sync::PoisonError;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::{Entry, Graph, NONE, STRIPES, Scored, Vectors, Visited, lock, run_on, sort_desc};
use crate::kernel::{Int8Query, Scorer};

impl Graph {
    /// The heuristic of the HNSW paper: keeps a candidate (taken best first) only if it is
    /// more similar to the base than to every candidate kept so far, up to `max`.
    pub(super) fn select(&self, vecs: &Vectors<'_>, candidates: &[Scored], max: usize) -> Vec<u32> {
        let mut kept: Vec<(u32, Int8Query)> = Vec::with_capacity(max);
        for c in candidates {
            if kept.len() >= max {
                break;
            }
            let row = vecs.row(c.slot);
            let scale = vecs.scales[c.slot as usize];
            if kept.iter().all(|(_, k)| k.score(row, scale) < c.score) {
                kept.push((c.slot, vecs.prepare(c.slot)));
            }
        }
        let mut out: Vec<u32> = kept.into_iter().map(|(s, _)| s).collect();
        if self.fill {
            for c in candidates {
                if out.len() >= max {
                    break;
                }
                if !out.contains(&c.slot) {
                    out.push(c.slot);
                }
            }
        }
        out
    }

    /// Links `slot` (already grown, not linked yet) into the graph with construction
    /// breadth `ef`. Safe to call from several threads for different slots.
    pub fn insert(&self, vecs: &Vectors<'_>, slot: u32, ef: usize) {
        let level = self.levels[slot as usize];
        let q = vecs.prepare(slot);
        let mut visited = self.take_visited();
        let entry = self.entry();
        if entry.slot == NONE || level > entry.level {
            // A new top: hold the entry point for the whole insert (rare: about log_m(n) times).
            let mut guard = self.entry.write().unwrap_or_else(PoisonError::into_inner);
            let entry = *guard;
            if entry.slot == NONE {
                *guard = Entry { slot, level };
            } else if level > entry.level {
                self.link(vecs, &q, slot, level, entry, ef, &mut visited);
                *guard = Entry { slot, level };
            } else {
                drop(guard);
                self.link(vecs, &q, slot, level, entry, ef, &mut visited);
            }
        } else {
            self.link(vecs, &q, slot, level, entry, ef, &mut visited);
        }
        self.give_visited(visited);
    }

    #[allow(clippy::too_many_arguments)]
    fn link(
        &self,
        vecs: &Vectors<'_>,
        q: &Int8Query,
        slot: u32,
        level: u8,
        entry: Entry,
        ef: usize,
        visited: &mut Visited,
    ) {
        let mut cur = Scored { score: vecs.score(q, entry.slot), slot: entry.slot };
        for lc in (usize::from(level) + 1..=usize::from(entry.level)).rev() {
            cur = self.greedy(vecs, q, cur, lc);
        }
        let mut entries = vec![cur];
        for lc in (0..=usize::from(level.min(entry.level))).rev() {
            visited.start(self.slots());
            let found = self.search_layer(vecs, q, &entries, ef, lc, visited, &|s| s != slot);
            let max = self.max_degree(lc);
            let chosen = self.select(vecs, &found, max);
            {
                let _g = lock(&self.stripes[slot as usize % STRIPES]);
                self.write_list(slot, lc, &chosen);
            }
            for &e in &chosen {
                self.add_link(vecs, e, slot, lc, max);
            }
            if !found.is_empty() {
                entries = found;
            }
        }
    }

    /// Adds `new` to the list of `e` at `level`, pruning with the heuristic when full.
    fn add_link(&self, vecs: &Vectors<'_>, e: u32, new: u32, level: usize, max: usize) {
        let _g = lock(&self.stripes[e as usize % STRIPES]);
        let mut current: Vec<u32> = Vec::with_capacity(max + 1);
        current.extend(self.neighbours(e, level));
        if current.contains(&new) {
            return;
        }
        if current.len() < max {
            current.push(new);
            self.write_list(e, level, &current);
            return;
        }
        current.push(new);
        let base = vecs.prepare(e);
        vecs.touch(&current);
        let mut scored: Vec<Scored> =
            current.iter().map(|&s| Scored { score: vecs.score(&base, s), slot: s }).collect();
        sort_desc(&mut scored);
        let chosen = self.select(vecs, &scored, max);
        self.write_list(e, level, &chosen);
    }

    /// Links slots `range` (grown, not linked) on `threads` threads, in slot order as far as
    /// threads allow (the result depends on thread timing unless `threads == 1`).
    pub fn insert_parallel(&self, vecs: &Vectors<'_>, range: std::ops::Range<usize>, ef: usize, threads: usize) {
        let next = AtomicUsize::new(range.start);
        let end = range.end;
        let work = || {
            loop {
                let slot = next.fetch_add(1, Relaxed);
                if slot >= end {
                    break;
                }
                self.insert(vecs, slot as u32, ef);
            }
        };
        run_on(threads, work);
    }
}
