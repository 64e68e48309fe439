//! Per-author version vectors: for each author, the highest sequence number
//! held with every earlier one also held.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use crate::crypto::PublicKey;

/// Author → highest contiguous sequence number held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionVector(BTreeMap<PublicKey, u64>);

impl VersionVector {
    /// An empty vector.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest contiguous seq held from `author`.
    pub fn get(&self, author: &PublicKey) -> Option<u64> {
        self.0.get(author).copied()
    }

    /// Records that everything from `author` up to `seq` is held.
    pub fn advance(&mut self, author: PublicKey, seq: u64) {
        let slot = self.0.entry(author).or_insert(seq);
        *slot = (*slot).max(seq);
    }

    /// The vector as a plain map (what a resync request carries).
    pub fn as_map(&self) -> &BTreeMap<PublicKey, u64> {
        &self.0
    }

    /// Iterates over (author, highest seq).
    pub fn iter(&self) -> impl Iterator<Item = (&PublicKey, &u64)> {
        self.0.iter()
    }

    /// What `other` holds that `self` lacks, as seq ranges per author: the
    /// plan for a resync from `other`.
    pub fn missing_from(&self, other: &VersionVector) -> Vec<(PublicKey, RangeInclusive<u64>)> {
        other
            .0
            .iter()
            .filter_map(|(author, &theirs)| match self.get(author) {
                None => Some((*author, 0..=theirs)),
                Some(mine) if mine < theirs => Some((*author, mine + 1..=theirs)),
                Some(_) => None,
            })
            .collect()
    }
}

impl FromIterator<(PublicKey, u64)> for VersionVector {
    fn from_iter<I: IntoIterator<Item = (PublicKey, u64)>>(iter: I) -> Self {
        let mut vv = Self::new();
        for (a, s) in iter {
            vv.advance(a, s);
        }
        vv
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn missing_ranges() {
        let (a, b, c) = (PublicKey([1; 32]), PublicKey([2; 32]), PublicKey([3; 32]));
        let mine: VersionVector = [(a, 5), (b, 2)].into_iter().collect();
        let theirs: VersionVector = [(a, 3), (b, 7), (c, 0)].into_iter().collect();
        assert_eq!(mine.missing_from(&theirs), vec![(b, 3..=7), (c, 0..=0)]);
        assert_eq!(theirs.missing_from(&mine), vec![(a, 4..=5)]);
    }
}
