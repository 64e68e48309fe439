//! A version vector that shares its storage with the vectors it came from.
//!
//! A dense vector per message costs one slot per author per message: with
//! 500 members and 100,000 messages that is 400 MB. Most messages change
//! few entries of their main parent's vector (their own, and those of the
//! concurrent heads they merge), so [`Clock`] is a persistent trie over
//! author indices: a message's clock is its main parent's root with the
//! changed paths copied. Joining two clocks skips every subtree they share
//! (pointer equality), so a merge costs what differs, not the group's size.
//!
//! Nodes are `Arc`, not `Rc`: the fold lives inside a replica that moves
//! between threads.

use std::sync::Arc;

/// Bits of an author index consumed per level.
const BITS: usize = 3;
/// Children of a branch, entries of a leaf.
const WIDTH: usize = 1 << BITS;
const MASK: usize = WIDTH - 1;

#[derive(Clone, PartialEq, Eq)]
enum Node {
    /// Entries: one more than the highest seq seen of each author (0: none).
    Leaf([u64; WIDTH]),
    Branch([Option<Arc<Node>>; WIDTH]),
}

/// A persistent version vector: `get(a)` is one more than the highest
/// sequence number of author `a` seen (0: none).
#[derive(Clone, Default)]
pub(crate) struct Clock {
    /// Branch levels above the leaves: the trie holds `WIDTH^(height+1)`
    /// authors.
    height: usize,
    root: Option<Arc<Node>>,
}

impl Clock {
    /// The entry for author index `ix`.
    pub(crate) fn get(&self, ix: usize) -> u64 {
        if ix >= capacity(self.height) {
            return 0;
        }
        let mut node = self.root.as_deref();
        for level in (1..=self.height).rev() {
            node = match node {
                Some(Node::Branch(children)) => children[slot(ix, level)].as_deref(),
                _ => None,
            };
        }
        match node {
            Some(Node::Leaf(entries)) => entries[ix & MASK],
            _ => 0,
        }
    }

    /// This clock with entry `ix` raised to at least `value`; shares every
    /// node off the path to `ix`, and everything when nothing changes.
    pub(crate) fn raised(&self, ix: usize, value: u64) -> Clock {
        if self.get(ix) >= value {
            return self.clone();
        }
        let mut grown = self.clone();
        while ix >= capacity(grown.height) {
            grown = grown.lifted();
        }
        let root = raise(grown.root.as_ref(), grown.height, ix, value);
        Clock { height: grown.height, root: Some(root) }
    }

    /// The entrywise maximum of two clocks.
    pub(crate) fn join(&self, other: &Clock) -> Clock {
        let (mut a, mut b) = (self.clone(), other.clone());
        while a.height < b.height {
            a = a.lifted();
        }
        while b.height < a.height {
            b = b.lifted();
        }
        let root = join(a.root.as_ref(), b.root.as_ref());
        Clock { height: a.height, root }
    }

    /// The same entries under one more level (the old root as child 0).
    fn lifted(&self) -> Clock {
        let mut children: [Option<Arc<Node>>; WIDTH] = Default::default();
        children[0] = self.root.clone();
        let root = self.root.as_ref().map(|_| Arc::new(Node::Branch(children)));
        Clock { height: self.height + 1, root }
    }

    /// Every node of this clock, for measuring what clocks share.
    pub(crate) fn nodes(&self, visit: &mut impl FnMut(*const ()) -> bool) {
        fn walk(node: &Arc<Node>, visit: &mut impl FnMut(*const ()) -> bool) {
            if !visit(Arc::as_ptr(node).cast()) {
                return; // seen before: so was everything under it
            }
            if let Node::Branch(children) = &**node {
                children.iter().flatten().for_each(|c| walk(c, visit));
            }
        }
        if let Some(root) = &self.root {
            walk(root, visit);
        }
    }

    /// The size of one trie node in memory (with its reference counts).
    pub(crate) const NODE_BYTES: usize = size_of::<Node>() + 2 * size_of::<usize>();
}

fn capacity(height: usize) -> usize {
    1usize.checked_shl(((height + 1) * BITS) as u32).unwrap_or(usize::MAX)
}

fn slot(ix: usize, level: usize) -> usize {
    (ix >> (level * BITS)) & MASK
}

/// A copy of the path to `ix` under `node` (at `level`) with the entry set
/// to `value` (the caller checked it only rises).
fn raise(node: Option<&Arc<Node>>, level: usize, ix: usize, value: u64) -> Arc<Node> {
    if level == 0 {
        let mut entries = match node.map(|n| &**n) {
            Some(Node::Leaf(e)) => *e,
            _ => [0; WIDTH],
        };
        entries[ix & MASK] = value;
        return Arc::new(Node::Leaf(entries));
    }
    let mut children = match node.map(|n| &**n) {
        Some(Node::Branch(c)) => c.clone(),
        _ => Default::default(),
    };
    let s = slot(ix, level);
    children[s] = Some(raise(children[s].as_ref(), level - 1, ix, value));
    Arc::new(Node::Branch(children))
}

/// The entrywise maximum of two subtrees at the same level. Reuses either
/// side whole when it already is the maximum, so shared history stays
/// shared.
fn join(a: Option<&Arc<Node>>, b: Option<&Arc<Node>>) -> Option<Arc<Node>> {
    let (a, b) = match (a, b) {
        (None, x) | (x, None) => return x.cloned(),
        (Some(a), Some(b)) if Arc::ptr_eq(a, b) => return Some(a.clone()),
        (Some(a), Some(b)) => (a, b),
    };
    let merged = match (&**a, &**b) {
        (Node::Leaf(x), Node::Leaf(y)) => Node::Leaf(std::array::from_fn(|i| x[i].max(y[i]))),
        (Node::Branch(x), Node::Branch(y)) => {
            Node::Branch(std::array::from_fn(|i| join(x[i].as_ref(), y[i].as_ref())))
        }
        // Equal heights make mixed levels impossible; keep `a` if not.
        _ => return Some(a.clone()),
    };
    if same_as(&merged, a) {
        Some(a.clone())
    } else if same_as(&merged, b) {
        Some(b.clone())
    } else {
        Some(Arc::new(merged))
    }
}

/// Whether `merged` holds exactly `node`'s entries (children compared by
/// pointer: a join returns an input's child whenever it is unchanged).
fn same_as(merged: &Node, node: &Node) -> bool {
    match (merged, node) {
        (Node::Leaf(x), Node::Leaf(y)) => x == y,
        (Node::Branch(x), Node::Branch(y)) => x.iter().zip(y).all(|(c, d)| match (c, d) {
            (None, None) => true,
            (Some(c), Some(d)) => Arc::ptr_eq(c, d),
            _ => false,
        }),
        _ => false,
    }
}

#[cfg(test)]
mod test {
    use proptest::prelude::*;

    use super::*;

    fn dense(c: &Clock, n: usize) -> Vec<u64> {
        (0..n).map(|i| c.get(i)).collect()
    }

    proptest! {
        /// A clock reads back as the dense vector it stands for, through
        /// raises and joins in any order and at any size.
        #[test]
        fn matches_a_dense_vector(ops in proptest::collection::vec((0usize..700, 1u64..50, any::<bool>()), 1..60)) {
            let n = 700;
            let (mut a, mut b) = (Clock::default(), Clock::default());
            let (mut da, mut db) = (vec![0u64; n], vec![0u64; n]);
            for (ix, v, join_now) in ops {
                b = b.raised(ix, v);
                db[ix] = db[ix].max(v);
                if join_now {
                    a = a.join(&b);
                    for i in 0..n { da[i] = da[i].max(db[i]); }
                } else {
                    a = a.raised(ix / 2, v + 1);
                    da[ix / 2] = da[ix / 2].max(v + 1);
                }
                prop_assert_eq!(dense(&a, n), da.clone());
                prop_assert_eq!(dense(&b, n), db.clone());
            }
        }
    }

    #[test]
    fn a_join_with_nothing_new_allocates_nothing() {
        let base = (0..100).fold(Clock::default(), |c, i| c.raised(i, 3));
        let later = base.raised(42, 9);
        let joined = later.join(&base);
        assert!(same_root(&joined, &later));
        let same = base.raised(7, 2); // lower than held: unchanged
        assert!(same_root(&same, &base));
    }

    fn same_root(a: &Clock, b: &Clock) -> bool {
        matches!((&a.root, &b.root), (Some(x), Some(y)) if Arc::ptr_eq(x, y))
    }

    #[test]
    fn a_raise_copies_one_path() {
        let base = (0..512).fold(Clock::default(), |c, i| c.raised(i, 1));
        let later = base.raised(300, 5);
        let mut seen = std::collections::HashSet::new();
        base.nodes(&mut |p| seen.insert(p));
        let mut fresh = 0;
        later.nodes(&mut |p| {
            let new = seen.insert(p);
            fresh += usize::from(new);
            new
        });
        assert_eq!(fresh, 3, "512 authors: root, one branch and one leaf are new");
    }
}
