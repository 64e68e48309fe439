//! The fold's snapshots of the group state, thinned with age.
//!
//! A late message re-folds from the nearest snapshot at or before its
//! position, and must re-fold everything after that position anyway. So
//! the snapshots near the tip are kept dense and the old ones sparse: of
//! the snapshots taken, the one numbered `k` is kept while `k` is a
//! multiple of `2^⌊log₂(n − k)⌋`, `n` being the newest. A position `δ`
//! snapshots behind the newest then has a kept snapshot fewer than `2δ`
//! snapshots before it, so a re-fold walks at most three times the
//! distance it must walk anyway, while at most `2·log₂ n + 2` states are
//! held: the memory no longer grows as history × state (issue 14).

use std::collections::BTreeMap;

use crate::group::state::{GroupState, Position};

/// The snapshots, by the position they stand before.
#[derive(Default)]
pub(super) struct Snapshots {
    /// Each snapshot with its number in the order taken (0: the base).
    by_position: BTreeMap<Position, (u64, GroupState)>,
}

/// Whether snapshot `k` is kept once `newest` has been taken.
fn kept(k: u64, newest: u64) -> bool {
    let age = newest - k;
    age == 0 || k.is_multiple_of(1 << age.ilog2())
}

impl Snapshots {
    /// Starts over from the base snapshot (the state after the genesis).
    pub(super) fn reset(&mut self, base: Position, state: GroupState) {
        self.by_position.clear();
        self.by_position.insert(base, (0, state));
    }

    /// The base snapshot.
    pub(super) fn base(&self) -> Option<&GroupState> {
        self.by_position.first_key_value().map(|(_, (_, s))| s)
    }

    /// The nearest snapshot at or before `position`, with the position it
    /// stands before; every snapshot after it is dropped (a re-fold from
    /// there takes them again).
    pub(super) fn rewind_to(&mut self, position: Position) -> Option<(Position, GroupState)> {
        let (&from, _) = self.by_position.range(..=position).next_back()?;
        let mut later = self.by_position.split_off(&from);
        let (k, state) = later.remove(&from)?;
        self.by_position.insert(from, (k, state.clone()));
        Some((from, state))
    }

    /// Takes a snapshot of `state` before `position` (after every snapshot
    /// held), then thins the older ones.
    pub(super) fn take(&mut self, position: Position, state: GroupState) {
        let newest = self.by_position.last_key_value().map_or(0, |(_, (k, _))| k + 1);
        self.by_position.insert(position, (newest, state));
        self.by_position.retain(|_, (k, _)| kept(*k, newest));
    }

    /// How many are held.
    pub(super) fn len(&self) -> usize {
        self.by_position.len()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// The two promises: few kept, and one near any position.
    #[test]
    fn few_are_kept_and_one_is_near_every_position() {
        for newest in 1..3000u64 {
            let held: Vec<u64> = (0..=newest).filter(|k| kept(*k, newest)).collect();
            let bound = 2 * u64::from(newest.ilog2()) + 2;
            assert!(held.len() as u64 <= bound, "{newest}: {} held", held.len());
            for t in 0..=newest {
                let nearest = held.iter().rev().find(|k| **k <= t).expect("the base is kept");
                let behind = newest - t;
                assert!(t - nearest < 2 * behind.max(1), "{newest}: {t} from {nearest}");
            }
        }
    }

    /// Once dropped, a snapshot never comes back: thinning only ever needs
    /// the snapshots held.
    #[test]
    fn thinning_is_monotone() {
        for k in 0..500u64 {
            let mut was = true;
            for newest in k..2000 {
                let now = kept(k, newest);
                assert!(was || !now, "{k} dropped then kept at {newest}");
                was = now;
            }
        }
    }
}
