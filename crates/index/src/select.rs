//! What every backend's search shares: which collections a search accepts, and keeping the
//! best k candidates while scanning.

use std::collections::BinaryHeap;

/// The collections a search accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectionFilter {
    /// Every collection.
    All,
    /// These collections (sorted, without duplicates; empty accepts nothing).
    Only(Vec<u32>),
}

impl CollectionFilter {
    /// `None` accepts every collection; a list accepts those listed.
    pub fn new(collections: Option<&[u32]>) -> CollectionFilter {
        match collections {
            None => CollectionFilter::All,
            Some(list) => {
                let mut v = list.to_vec();
                v.sort_unstable();
                v.dedup();
                CollectionFilter::Only(v)
            }
        }
    }

    /// Whether no collection is accepted (an empty list).
    pub fn accepts_nothing(&self) -> bool {
        matches!(self, CollectionFilter::Only(v) if v.is_empty())
    }

    /// The collections listed, or `None` for all.
    pub fn listed(&self) -> Option<&[u32]> {
        match self {
            CollectionFilter::All => None,
            CollectionFilter::Only(v) => Some(v),
        }
    }

    /// Whether a template of `collection` is accepted.
    #[inline]
    pub fn accepts(&self, collection: u32) -> bool {
        match self {
            CollectionFilter::All => true,
            CollectionFilter::Only(v) if v.len() <= 8 => v.contains(&collection),
            CollectionFilter::Only(v) => v.binary_search(&collection).is_ok(),
        }
    }
}

/// A scored candidate. Ordered so that the greatest is the *worst* (lowest score, then largest
/// id): the top of a max-heap is the one to drop, and an ascending sort is best first.
#[derive(Debug, Clone, Copy)]
pub struct Ranked {
    /// Similarity.
    pub score: f32,
    /// Template id.
    pub id: u64,
    /// The backend's position of the template.
    pub slot: usize,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.score.total_cmp(&self.score).then(self.id.cmp(&other.id))
    }
}

/// The best `k` candidates offered so far.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Ranked>,
}

impl TopK {
    /// Keeps the best `k`.
    pub fn new(k: usize) -> TopK {
        TopK { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    /// Considers a candidate.
    #[inline]
    pub fn offer(&mut self, score: f32, id: u64, slot: usize) {
        let c = Ranked { score, id, slot };
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && c < *worst
        {
            *worst = c;
        }
    }

    /// The score of the worst candidate kept once `k` are kept (a candidate must beat it).
    #[inline]
    pub fn worst(&self) -> Option<f32> {
        if self.heap.len() < self.k { None } else { self.heap.peek().map(|c| c.score) }
    }

    /// The candidates kept, in no order.
    pub fn into_vec(self) -> Vec<Ranked> {
        self.heap.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_accept_what_they_list() {
        assert!(CollectionFilter::new(None).accepts(7));
        assert!(CollectionFilter::new(Some(&[])).accepts_nothing());
        let few = CollectionFilter::new(Some(&[3, 1, 3]));
        assert_eq!(few.listed(), Some(&[1, 3][..]));
        assert!(few.accepts(3) && !few.accepts(2));
        let many: Vec<u32> = (0..40).map(|c| c * 2).collect();
        let many = CollectionFilter::new(Some(&many));
        assert!(many.accepts(78) && !many.accepts(77));
    }

    #[test]
    fn top_k_keeps_the_best_and_breaks_ties_by_id() {
        let mut top = TopK::new(2);
        for (score, id) in [(0.1, 1), (0.9, 2), (0.5, 3), (0.9, 0), (0.2, 4)] {
            top.offer(score, id, id as usize);
        }
        let mut kept = top.into_vec();
        kept.sort();
        assert_eq!(kept.iter().map(|c| c.id).collect::<Vec<_>>(), vec![0, 2]);
    }
}
