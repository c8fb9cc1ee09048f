//! Finds the slot of an id without a hash map: the flat index's ids, in slot order, are the
//! sorted list to search while they increase (the engine's ids do: the catalog numbers its
//! templates in order), and a permutation of the slots sorted by id (4 bytes a slot) is kept
//! only once an id came out of order. A hash map cost 20–40 bytes a template, as much as the
//! rest of a compressed index's memory.

/// The id-to-slot lookup over a slot-ordered list of ids and their liveness.
#[derive(Debug, Default)]
pub(crate) struct SlotOf {
    /// The slots sorted by `(id, slot)`, or `None` while the ids strictly increase by slot.
    order: Option<Vec<u32>>,
}

impl SlotOf {
    /// The lookup over `ids`, and the slots whose id has a later slot (all but the last of
    /// each id), ascending.
    pub(crate) fn build(ids: &[u64]) -> (SlotOf, Vec<usize>) {
        if ids.windows(2).all(|w| w[0] < w[1]) {
            return (SlotOf { order: None }, Vec::new());
        }
        let mut order: Vec<u32> = (0..ids.len()).map(slot_u32).collect();
        // Stable: slots of one id stay in slot order.
        order.sort_by_key(|&s| ids[s as usize]);
        let mut replaced: Vec<usize> =
            order.windows(2).filter(|w| ids[w[0] as usize] == ids[w[1] as usize]).map(|w| w[0] as usize).collect();
        replaced.sort_unstable();
        (SlotOf { order: Some(order) }, replaced)
    }

    /// The live slot holding `id`, if any.
    pub(crate) fn find(&self, ids: &[u64], live: &[bool], id: u64) -> Option<usize> {
        match &self.order {
            None => ids.binary_search(&id).ok().filter(|&s| live[s]),
            Some(order) => {
                let first = order.partition_point(|&s| ids[s as usize] < id);
                order[first..].iter().map(|&s| s as usize).take_while(|&s| ids[s] == id).find(|&s| live[s])
            }
        }
    }

    /// Takes in the last slot of `ids`, just pushed.
    pub(crate) fn pushed(&mut self, ids: &[u64]) {
        let Some((&id, before)) = ids.split_last() else {
            return;
        };
        let slot = before.len();
        match &mut self.order {
            None if before.last().is_none_or(|&last| last < id) => {}
            None => *self = Self::build(ids).0,
            Some(order) => {
                // After every slot of a smaller or equal id: `(id, slot)` order, since `slot`
                // is the largest.
                let at = order.partition_point(|&s| ids[s as usize] <= id);
                order.insert(at, slot_u32(slot));
            }
        }
    }

    /// Reserves room for `additional` more slots.
    pub(crate) fn reserve(&mut self, additional: usize) {
        if let Some(order) = &mut self.order {
            order.reserve(additional);
        }
    }

    /// Heap bytes.
    pub(crate) fn memory(&self) -> usize {
        self.order.as_ref().map_or(0, |o| o.capacity() * size_of::<u32>())
    }
}

/// A slot as stored in the order (the record files hold fewer than 2³² slots: 2 TiB of records
/// at dimension 512).
fn slot_u32(slot: usize) -> u32 {
    u32::try_from(slot).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The lookup against a scan of the slots, after every push.
    fn check(ids: &[u64], live: &[bool], slot_of: &SlotOf) {
        for probe in ids.iter().copied().chain([0, 7, 1000]) {
            let expect = (0..ids.len()).rev().find(|&s| ids[s] == probe && live[s]);
            assert_eq!(slot_of.find(ids, live, probe), expect, "id {probe} in {ids:?}");
        }
    }

    proptest! {
        #[test]
        fn finds_the_live_slot_of_every_id_in_order_or_not(pushes in proptest::collection::vec((0u64..40, any::<bool>()), 0..60)) {
            let (mut ids, mut live, mut slot_of) = (Vec::new(), Vec::new(), SlotOf::default());
            for (id, kill_old) in pushes {
                // An id is pushed again only once its old slot is dead (the index's rule), or
                // after a crash lost its tombstone (replaced at build).
                if let Some(old) = slot_of.find(&ids, &live, id) {
                    if !kill_old {
                        continue;
                    }
                    live[old] = false;
                }
                ids.push(id);
                live.push(true);
                slot_of.pushed(&ids);
                check(&ids, &live, &slot_of);
            }
            let (built, replaced) = SlotOf::build(&ids);
            prop_assert!(replaced.iter().all(|&s| !live[s]));
            check(&ids, &live, &built);
        }
    }

    #[test]
    fn increasing_ids_need_no_order_and_a_repeated_id_replaces_its_earlier_slots() {
        let (slot_of, replaced) = SlotOf::build(&[3, 5, 9]);
        assert_eq!((slot_of.memory(), replaced), (0, vec![]));
        let ids = [5, 3, 5, 9, 5];
        let (slot_of, replaced) = SlotOf::build(&ids);
        assert_eq!(replaced, vec![0, 2]);
        assert!(slot_of.memory() >= 5 * 4);
        let live = [false, true, false, true, true];
        assert_eq!([5, 3, 9, 4].map(|id| slot_of.find(&ids, &live, id)), [Some(4), Some(1), Some(3), None]);
    }
}
