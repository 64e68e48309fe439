//! Where the fold last changed, for readers that keep a view of it (the
//! terminal client's incremental snapshot, issue 14): a reader holds a
//! [`ChangeMark`] and asks [`super::Replica::changed_since`] for the earliest
//! position whose verdict changed after it. Everything before that position
//! is as the reader last saw it, so it re-reads only the rest.
//!
//! Bounded: the log keeps at most [`SPANS`] spans; older spans merge, which
//! only makes an old mark's answer earlier (more to re-read), never wrong.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::group::Position;

/// How many spans of generations the log keeps before it merges the oldest.
const SPANS: usize = 256;

/// Distinguishes replicas: a mark taken on one replica says nothing about
/// another (a group read back from the store is a new replica).
static INCARNATIONS: AtomicU64 = AtomicU64::new(1);

/// A reader's place in a replica's history of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeMark {
    incarnation: u64,
    generation: u64,
}

/// What changed after a [`ChangeMark`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// No verdict changed.
    Nothing,
    /// Verdicts changed at this position or later, none before it.
    From(Position),
    /// The mark belongs to another replica: read everything.
    Everything,
}

/// The log itself: spans of generations, each with the earliest position
/// changed in it.
#[derive(Debug)]
pub(super) struct ChangeLog {
    incarnation: u64,
    generation: u64,
    /// `(last generation of the span, earliest position changed in it)`;
    /// a span starts after the previous one's last generation.
    spans: VecDeque<(u64, Position)>,
}

impl ChangeLog {
    pub(super) fn new() -> Self {
        let incarnation = INCARNATIONS.fetch_add(1, Ordering::Relaxed);
        Self { incarnation, generation: 0, spans: VecDeque::new() }
    }

    /// Notes that verdicts changed from `earliest` on.
    pub(super) fn note(&mut self, earliest: Position) {
        self.generation += 1;
        self.spans.push_back((self.generation, earliest));
        if self.spans.len() > SPANS
            && let (Some((_, a)), Some((last, b))) =
                (self.spans.pop_front(), self.spans.pop_front())
        {
            self.spans.push_front((last, a.min(b)));
        }
    }

    /// The mark a reader holds once it has read everything up to now.
    pub(super) fn mark(&self) -> ChangeMark {
        ChangeMark { incarnation: self.incarnation, generation: self.generation }
    }

    /// What changed after `mark`.
    pub(super) fn since(&self, mark: ChangeMark) -> Since {
        if mark.incarnation != self.incarnation || mark.generation > self.generation {
            return Since::Everything;
        }
        let earliest = self.spans.iter().rev().take_while(|(g, _)| *g > mark.generation);
        earliest.map(|(_, p)| *p).min().map_or(Since::Nothing, Since::From)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::MessageId;

    fn at(lamport: u64) -> Position {
        (lamport, MessageId([0; 32]))
    }

    #[test]
    fn a_mark_sees_the_earliest_change_after_it_even_once_spans_merged() {
        let mut log = ChangeLog::new();
        let start = log.mark();
        assert_eq!(log.since(start), Since::Nothing);
        log.note(at(10));
        let after_ten = log.mark();
        log.note(at(5));
        log.note(at(20));
        assert_eq!(log.since(start), Since::From(at(5)));
        assert_eq!(log.since(after_ten), Since::From(at(5)));
        assert_eq!(log.since(log.mark()), Since::Nothing);
        // Far more changes than spans: old marks get an earlier answer,
        // never a later one; a recent mark stays exact.
        for l in 100..(100 + 4 * SPANS as u64) {
            log.note(at(l));
        }
        assert!(log.spans.len() <= SPANS);
        assert_eq!(log.since(start), Since::From(at(5)));
        let recent = log.mark();
        log.note(at(7_000));
        assert_eq!(log.since(recent), Since::From(at(7_000)));
        assert_eq!(ChangeLog::new().since(recent), Since::Everything);
    }
}
