//! Linking new slots: the neighbour-selection heuristic, [`Graph::insert`] and
//! [`Graph::insert_parallel`].

use std::sync::PoisonError;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use gabarit_index::quant::score;

use super::{
    Entry, Graph, NONE, STRIPES, Scored, Selection, UNKNOWN_CHOICE, Vectors, Visited, lock, run_on, sort_desc,
};
use crate::kernel::{Int8Query, Scorer};

/// Whether a candidate kept in `kept` is at least as similar to `c` as the base is, i.e. the
/// heuristic rejects `c`. Scores as [`Graph::select`] does (the kept candidate's scale first),
/// preparing `c` instead of every kept one: the integer dot product is symmetric.
fn dominated(vecs: &Vectors<'_>, c: Scored, kept: &[u32]) -> bool {
    if kept.is_empty() {
        return false;
    }
    let q = vecs.prepare(c.slot);
    let scale = vecs.scales[c.slot as usize];
    !kept.iter().all(|&k| score(q.0.dot_offset(vecs.row(k)), vecs.scales[k as usize], scale) < c.score)
}

impl Graph {
    /// The heuristic of the HNSW paper: keeps a candidate (taken best first) only if it is
    /// more similar to the base than to every candidate kept so far, up to `max`; then, when
    /// the graph fills lists, tops the list up with the best candidates it rejected.
    pub(super) fn select(&self, vecs: &Vectors<'_>, candidates: &[Scored], max: usize) -> Selection {
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
        let chosen = kept.len();
        let slots: Vec<u32> = kept.into_iter().map(|(s, _)| s).collect();
        self.top_up(Selection { slots, chosen }, candidates.iter().copied(), max)
    }

    /// Tops `selection` up to `max` with the first of `candidates` (best first) it lacks,
    /// when the graph fills lists.
    fn top_up(&self, mut selection: Selection, candidates: impl Iterator<Item = Scored>, max: usize) -> Selection {
        if self.fill {
            for c in candidates {
                if selection.slots.len() >= max {
                    break;
                }
                if !selection.slots.contains(&c.slot) {
                    selection.slots.push(c.slot);
                }
            }
        }
        selection
    }

    /// What [`select`](Self::select) chooses from `candidates` (a full level-0 list and `new`,
    /// scored against the list's owner, best first), computed from the heuristic's previous
    /// choice instead of from scratch. The list is one the heuristic wrote: `before` are the
    /// entries it chose (a selection is stable: run again over its own output, the heuristic
    /// keeps the same ones), the rest it rejected. So, in score order, every decision before `new` stands; `new` is checked
    /// against the choice so far; after it, a kept candidate only needs checking against the
    /// candidates newly kept, and a rejected one stays rejected (the candidate that rejected
    /// it is still kept) unless a kept one was dropped, when it is checked again in full.
    /// Same lists as `select` (a test builds a graph both ways), with about a tenth of the scores on
    /// face-like data: `select` scores each kept candidate against every one kept before it.
    fn reselect(&self, vecs: &Vectors<'_>, candidates: &[Scored], before: &[u32], new: u32, max: usize) -> Selection {
        // `prepared` holds the candidates kept now that were not before (`new` first).
        let mut kept: Vec<u32> = Vec::with_capacity(max);
        let mut prepared: Vec<Int8Query> = Vec::new();
        let (mut after_new, mut dropped) = (false, false);
        for &c in candidates {
            let was_kept = before.contains(&c.slot);
            if kept.len() >= max {
                break;
            }
            let keep = if c.slot == new {
                after_new = true;
                !dominated(vecs, c, &kept)
            } else if !after_new {
                was_kept
            } else if was_kept {
                let row = vecs.row(c.slot);
                let scale = vecs.scales[c.slot as usize];
                let still = prepared.iter().all(|k| k.score(row, scale) < c.score);
                dropped |= !still;
                still
            } else {
                dropped && !dominated(vecs, c, &kept)
            };
            if keep {
                kept.push(c.slot);
                if !was_kept {
                    prepared.push(vecs.prepare(c.slot));
                }
            }
        }
        let chosen = kept.len();
        self.top_up(Selection { slots: kept, chosen }, candidates.iter().copied(), max)
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
                self.write_selection(slot, lc, &chosen);
            }
            for &e in &chosen.slots {
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
        let chosen = if level == 0 { self.chosen0[e as usize].load(Relaxed) } else { UNKNOWN_CHOICE };
        current.push(new);
        let base = vecs.prepare(e);
        vecs.touch(&current);
        let mut scored: Vec<Scored> =
            current.iter().map(|&s| Scored { score: vecs.score(&base, s), slot: s }).collect();
        sort_desc(&mut scored);
        let selection = if self.incremental && chosen != UNKNOWN_CHOICE {
            self.reselect(vecs, &scored, &current[..usize::from(chosen)], new, max)
        } else {
            self.select(vecs, &scored, max)
        };
        self.write_selection(e, level, &selection);
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
