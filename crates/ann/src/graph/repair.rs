//! Maintenance around removed and unreachable slots: [`Graph::consolidate`],
//! [`Graph::renumber`] and [`Graph::connect_unreachable`].

use std::cmp::Reverse;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

use super::{Entry, Graph, NONE, Scored, UNKNOWN_CHOICE, Vectors, Visited, run_on, sort_desc};

impl Graph {
    /// Reconnects every live slot that has removed (`dead`) neighbours: its new list is chosen
    /// with the heuristic among its live neighbours and the live neighbours of its removed
    /// ones (topped up by a search when that leaves few candidates); then moves the entry
    /// point to a live slot of highest level. After this, no live slot links to a dead one.
    pub fn consolidate<D: Fn(u32) -> bool + Sync>(&mut self, vecs: &Vectors<'_>, dead: &D, ef: usize, threads: usize) {
        let slots = self.slots();
        // Entry point first, so that top-up searches start from a live slot.
        let best = (0..slots as u32).filter(|&s| !dead(s)).max_by_key(|&s| (self.levels[s as usize], Reverse(s)));
        let entry = match best {
            Some(s) => Entry { slot: s, level: self.levels[s as usize] },
            None => Entry { slot: NONE, level: 0 },
        };
        let old_entry = self.entry();
        if dead(old_entry.slot) || old_entry.slot == NONE {
            self.set_entry(entry);
        }
        let this = &*self;
        let next = AtomicUsize::new(0);
        let work = || {
            let mut visited = Visited::default();
            loop {
                let start = next.fetch_add(256, Relaxed);
                if start >= slots {
                    break;
                }
                for slot in start..(start + 256).min(slots) {
                    let slot = slot as u32;
                    if dead(slot) {
                        continue;
                    }
                    for level in 0..=usize::from(this.levels[slot as usize]) {
                        this.repair(vecs, slot, level, dead, ef, &mut visited);
                    }
                }
            }
        };
        run_on(threads, work);
        if dead(self.entry().slot) || self.entry().slot == NONE {
            self.set_entry(entry);
        }
    }

    fn repair<D: Fn(u32) -> bool>(
        &self,
        vecs: &Vectors<'_>,
        slot: u32,
        level: usize,
        dead: &D,
        ef: usize,
        visited: &mut Visited,
    ) {
        let current: Vec<u32> = self.neighbours(slot, level).collect();
        if !current.iter().any(|&s| dead(s)) {
            return;
        }
        let mut pool: Vec<u32> = current.iter().copied().filter(|&s| !dead(s)).collect();
        for &d in current.iter().filter(|&&s| dead(s)) {
            if usize::from(self.levels[d as usize]) >= level {
                pool.extend(self.neighbours(d, level).filter(|&s| s != slot && !dead(s)));
            }
        }
        pool.sort_unstable();
        pool.dedup();
        let max = self.max_degree(level);
        let base = vecs.prepare(slot);
        let mut scored: Vec<Scored> = pool.iter().map(|&s| Scored { score: vecs.score(&base, s), slot: s }).collect();
        if scored.len() < max / 2 {
            // Too few survivors around: find candidates by a walk of this level.
            let entry = self.entry();
            if entry.slot != NONE && usize::from(entry.level) >= level {
                let mut cur = Scored { score: vecs.score(&base, entry.slot), slot: entry.slot };
                for lc in (level + 1..=usize::from(entry.level)).rev() {
                    cur = self.greedy(vecs, &base, cur, lc);
                }
                visited.start(self.slots());
                let found = self.search_layer(vecs, &base, &[cur], ef, level, visited, &|s| s != slot && !dead(s));
                scored.extend(found.into_iter().filter(|f| !pool.contains(&f.slot)));
            }
        }
        sort_desc(&mut scored);
        let chosen = self.select(vecs, &scored, max);
        self.set_neighbours(slot, level, &chosen.slots);
    }

    /// A new graph of the slots where `map[old] != NONE`, renumbered to `map[old]`; lists keep
    /// only mapped slots (call [`consolidate`](Self::consolidate) first so that none is lost).
    pub fn renumber(&self, map: &[u32], kept: usize) -> Graph {
        let mut g = Graph::new(self.m, self.m0, self.seed);
        g.fill = self.fill;
        g.incremental = self.incremental;
        g.levels = vec![0; kept];
        g.level0 = (0..kept * self.words).map(|_| AtomicU64::new(u64::MAX)).collect();
        g.chosen0 = (0..kept).map(|_| AtomicU8::new(UNKNOWN_CHOICE)).collect();
        let remap = |list: Vec<u32>| -> Vec<u32> {
            list.into_iter().filter_map(|s| map.get(s as usize).copied().filter(|&n| n != NONE)).collect()
        };
        for (old, &new) in map.iter().enumerate() {
            if new == NONE {
                continue;
            }
            let level = self.levels[old];
            g.levels[new as usize] = level;
            if level > 0 {
                g.upper.insert(new, (0..usize::from(level) * self.m).map(|_| AtomicU32::new(NONE)).collect());
            }
            for l in 0..=usize::from(level) {
                let items = remap(self.neighbours(old as u32, l).collect());
                g.set_neighbours(new, l, &items);
            }
        }
        let entry = self.entry();
        let slot = map.get(entry.slot as usize).copied().unwrap_or(NONE);
        g.set_entry(if slot == NONE { Entry { slot: NONE, level: 0 } } else { Entry { slot, level: entry.level } });
        g
    }

    /// Slots that a walk from the entry point cannot reach at level 0 (breadth-first).
    pub fn unreachable(&self) -> Vec<u32> {
        let n = self.slots();
        let entry = self.entry();
        if entry.slot == NONE {
            return Vec::new();
        }
        let mut seen = vec![false; n];
        let mut queue = std::collections::VecDeque::from([entry.slot]);
        seen[entry.slot as usize] = true;
        while let Some(s) = queue.pop_front() {
            for nb in self.neighbours(s, 0) {
                if !std::mem::replace(&mut seen[nb as usize], true) {
                    queue.push_back(nb);
                }
            }
        }
        (0..n as u32).filter(|&s| !seen[s as usize]).collect()
    }

    /// Links every slot that a level-0 walk from the entry point cannot reach, and returns how
    /// many there were.
    ///
    /// Pruning a full list when a new neighbour arrives can drop a slot from every list that
    /// held it; on face-like data (tight clusters of 5 templates) 0.5% of the slots ended up
    /// unreachable, so some people could never be found by a top-k search. Each such slot is
    /// added to the lists of the 3 most similar reachable slots found by a walk (in a free
    /// place, or instead of the least similar neighbour that other slots also link to).
    pub fn connect_unreachable(&mut self, vecs: &Vectors<'_>, ef: usize) -> usize {
        let n = self.slots();
        let mut linked = 0;
        for _round in 0..4 {
            let lost = self.unreachable();
            if lost.is_empty() {
                break;
            }
            let mut is_lost = vec![false; n];
            for &u in &lost {
                is_lost[u as usize] = true;
            }
            let mut indegree = vec![0u32; n];
            for s in 0..n as u32 {
                for nb in self.neighbours(s, 0) {
                    indegree[nb as usize] += 1;
                }
            }
            for &u in &lost {
                let q = vecs.prepare(u);
                let found = self.search(vecs, &q, ef, &|s| s != u && !is_lost[s as usize]);
                for v in found.iter().take(3) {
                    let mut current: Vec<u32> = self.neighbours(v.slot, 0).collect();
                    if current.contains(&u) {
                        continue;
                    }
                    if current.len() < self.m0 {
                        current.push(u);
                        self.set_neighbours(v.slot, 0, &current);
                        indegree[u as usize] += 1;
                        continue;
                    }
                    let base = vecs.prepare(v.slot);
                    let victim = current
                        .iter()
                        .enumerate()
                        .filter(|&(_, &w)| indegree[w as usize] > 1)
                        .map(|(i, &w)| (Scored { score: vecs.score(&base, w), slot: w }, i))
                        .min_by(|a, b| a.0.cmp(&b.0));
                    if let Some((w, i)) = victim {
                        current[i] = u;
                        self.set_neighbours(v.slot, 0, &current);
                        indegree[w.slot as usize] -= 1;
                        indegree[u as usize] += 1;
                    }
                }
                linked += 1;
            }
        }
        linked
    }
}
