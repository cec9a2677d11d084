//! [`TrackedVec`]: a `Vec` that knows whether it was touched since it was last saved.
//!
//! The pipeline saves the model before every transform (see `snapshot.rs`), and most
//! transforms leave most of a graph's lists alone: shape inference never touches the
//! nodes, naming the nodes touches nothing else. A tracked list carries a stamp that only
//! a snapshot sets, and that every mutable access clears, so a save can skip a list whose
//! stamp is still the one it wrote.
//!
//! Architecture invariant: the stamp is sound without trusting anyone. Every way to change
//! the items goes through `DerefMut` (or an owning or `&mut` iterator), which clears it;
//! a new, cloned or collected list starts cleared; stamps are unique across snapshots, so a
//! list moved in from elsewhere never matches. A cleared stamp costs one extra save, never
//! a missed one.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};

/// A `Vec<T>` of a [`Graph`](super::Graph) that a transactional save can skip when it was
/// not touched. Use it as the `Vec` it dereferences to; build one with `.into()` or
/// `collect()`, and take the `Vec` out with [`TrackedVec::into_vec`]. As with any type
/// behind `DerefMut`, an argument that reads the list is computed before the call that
/// changes it: `let n = graph.nodes.len(); graph.nodes.truncate(n / 2);`.
///
/// ```
/// use brainsmith_core::ir::{Graph, Node};
///
/// let mut graph = Graph::default();
/// graph.nodes.push(Node::new("Relu", ["x"], ["y"]));
/// graph.nodes = vec![Node::new("Neg", ["x"], ["y"])].into();
/// for node in &graph.nodes {
///     assert_eq!(node.op_type, "Neg");
/// }
/// let nodes: Vec<Node> = std::mem::take(&mut graph.nodes).into_vec();
/// assert_eq!(nodes.len(), 1);
/// ```
pub struct TrackedVec<T> {
    items: Vec<T>,
    /// The stamp of the snapshot that last saved these items; 0 when unknown.
    stamp: u64,
}

/// Where stamps come from: each save takes a block of [`STAMP_BLOCK`] (one atomic
/// operation per save, not per list).
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

/// How many stamps a block holds: one for each list a save writes.
pub(super) const STAMP_BLOCK: u64 = 8;

/// The first of a block of [`STAMP_BLOCK`] stamps no list has carried yet (never 0).
pub(super) fn fresh_stamps() -> u64 {
    NEXT_BLOCK.fetch_add(1, Ordering::Relaxed) * STAMP_BLOCK
}

impl<T> TrackedVec<T> {
    /// An empty list.
    pub const fn new() -> Self {
        TrackedVec {
            items: Vec::new(),
            stamp: 0,
        }
    }

    /// The items, as a `Vec`.
    pub fn into_vec(self) -> Vec<T> {
        self.items
    }

    /// Whether the list is untouched since a save stamped it `stamp`.
    pub(super) fn saved_as(&self, stamp: u64) -> bool {
        self.stamp != 0 && self.stamp == stamp
    }

    /// Marks the list as saved now with `stamp`, one from [`fresh_stamps`] that no other
    /// list gets.
    pub(super) fn stamp_saved(&mut self, stamp: u64) {
        self.stamp = stamp;
    }
}

impl<T> Deref for TrackedVec<T> {
    type Target = Vec<T>;

    fn deref(&self) -> &Vec<T> {
        &self.items
    }
}

impl<T> DerefMut for TrackedVec<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        self.stamp = 0;
        &mut self.items
    }
}

impl<T> Default for TrackedVec<T> {
    fn default() -> Self {
        TrackedVec::new()
    }
}

impl<T: Clone> Clone for TrackedVec<T> {
    fn clone(&self) -> Self {
        self.items.clone().into()
    }

    fn clone_from(&mut self, source: &Self) {
        (**self).clone_from(&source.items);
    }
}

impl<T: fmt::Debug> fmt::Debug for TrackedVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.items.fmt(f)
    }
}

impl<T: PartialEq> PartialEq for TrackedVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}

impl<T: Eq> Eq for TrackedVec<T> {}

impl<T: PartialEq> PartialEq<Vec<T>> for TrackedVec<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        self.items == *other
    }
}

impl<T: PartialEq> PartialEq<[T]> for TrackedVec<T> {
    fn eq(&self, other: &[T]) -> bool {
        self.items == other
    }
}

impl<T> From<Vec<T>> for TrackedVec<T> {
    fn from(items: Vec<T>) -> Self {
        TrackedVec { items, stamp: 0 }
    }
}

impl<T> From<TrackedVec<T>> for Vec<T> {
    fn from(list: TrackedVec<T>) -> Self {
        list.items
    }
}

impl<T> FromIterator<T> for TrackedVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Vec::from_iter(iter).into()
    }
}

impl<T> Extend<T> for TrackedVec<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        (**self).extend(iter);
    }
}

impl<T> IntoIterator for TrackedVec<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a TrackedVec<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut TrackedVec<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        (**self).iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::{STAMP_BLOCK, TrackedVec, fresh_stamps};

    #[test]
    fn every_way_to_change_the_items_clears_the_stamp() {
        let changes: [fn(&mut TrackedVec<u8>); 7] = [
            |l| l.push(1),
            |l| l[0] = 9,
            |l| l.iter_mut().for_each(|x| *x += 1),
            |l| (&mut *l).into_iter().for_each(|x| *x += 1),
            |l| l.extend([4]),
            |l| l.retain(|_| true),
            |l| *l = vec![1, 2].into(),
        ];
        for change in changes {
            let mut list: TrackedVec<u8> = vec![1, 2].into();
            let stamp = fresh_stamps();
            list.stamp_saved(stamp);
            assert!(list.saved_as(stamp));
            change(&mut list);
            assert!(!list.saved_as(stamp));
        }
    }

    #[test]
    fn reading_keeps_the_stamp_and_copies_start_unknown() {
        let mut list: TrackedVec<u8> = vec![1, 2].into();
        let stamp = fresh_stamps();
        list.stamp_saved(stamp);
        let sum: u8 = list.iter().sum::<u8>() + (&list).into_iter().sum::<u8>() + list[0];
        assert_eq!((sum, list.len()), (7, 2));
        assert!(list.saved_as(stamp));
        let copy = list.clone();
        assert!(!copy.saved_as(stamp) && copy == list);
        assert!(!TrackedVec::<u8>::default().saved_as(0));
        // Blocks never overlap, and no stamp is 0.
        let next = fresh_stamps();
        assert!(next >= stamp + STAMP_BLOCK && stamp > 0);
    }
}
