//! Walks of the graph: the greedy descent through the upper levels and the best-first
//! search of one level, and [`Graph::search`], the top-k search built on them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{Graph, NONE, Scored, Vectors, Visited, sort_desc};
use crate::kernel::Scorer;

impl Graph {
    /// Greedy walk at one level: moves to the best neighbour until none is better.
    pub(super) fn greedy<S: Scorer>(&self, vecs: &Vectors<'_>, q: &S, mut cur: Scored, level: usize) -> Scored {
        loop {
            let mut moved = false;
            for nb in self.neighbours(cur.slot, level) {
                let s = Scored { score: vecs.score(q, nb), slot: nb };
                if s > cur {
                    cur = s;
                    moved = true;
                }
            }
            if !moved {
                return cur;
            }
        }
    }

    /// Best-first search at one level from `entries`, keeping the `ef` best accepted slots;
    /// returns them best first. Rejected slots are walked through but never returned.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn search_layer<S: Scorer, A: Fn(u32) -> bool>(
        &self,
        vecs: &Vectors<'_>,
        q: &S,
        entries: &[Scored],
        ef: usize,
        level: usize,
        visited: &mut Visited,
        accept: &A,
    ) -> Vec<Scored> {
        let mut candidates: BinaryHeap<Scored> = BinaryHeap::with_capacity(ef * 2);
        let mut top: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(ef + 1);
        for &e in entries {
            if visited.insert(e.slot) {
                candidates.push(e);
                if accept(e.slot) {
                    top.push(Reverse(e));
                    if top.len() > ef {
                        top.pop();
                    }
                }
            }
        }
        let mut fresh: Vec<u32> = Vec::with_capacity(self.m0);
        while let Some(c) = candidates.pop() {
            if top.len() >= ef && top.peek().is_some_and(|w| c < w.0) {
                break;
            }
            fresh.clear();
            fresh.extend(self.neighbours(c.slot, level).filter(|&nb| visited.insert(nb)));
            // The next candidate's list is probably read next: start loading it now.
            if let Some(next) = candidates.peek() {
                self.touch_list(next.slot, level);
            }
            vecs.touch(&fresh);
            for &nb in &fresh {
                let s = Scored { score: vecs.score(q, nb), slot: nb };
                if top.len() < ef || top.peek().is_some_and(|w| s > w.0) {
                    candidates.push(s);
                    if accept(nb) {
                        top.push(Reverse(s));
                        if top.len() > ef {
                            top.pop();
                        }
                    }
                }
            }
        }
        let mut out: Vec<Scored> = top.into_iter().map(|r| r.0).collect();
        sort_desc(&mut out);
        out
    }

    /// The `ef` best accepted slots for `q` (fewer if the walk finds fewer), best first.
    pub fn search<S: Scorer, A: Fn(u32) -> bool>(
        &self,
        vecs: &Vectors<'_>,
        q: &S,
        ef: usize,
        accept: &A,
    ) -> Vec<Scored> {
        let entry = self.entry();
        if entry.slot == NONE {
            return Vec::new();
        }
        let mut cur = Scored { score: vecs.score(q, entry.slot), slot: entry.slot };
        for level in (1..=usize::from(entry.level)).rev() {
            cur = self.greedy(vecs, q, cur, level);
        }
        let mut visited = self.take_visited();
        visited.start(self.slots());
        let out = self.search_layer(vecs, q, &[cur], ef.max(1), 0, &mut visited, accept);
        self.give_visited(visited);
        out
    }
}
