//! Evidence of illegal messages, bounded: at most one message per author
//! and rule, plus a count, so a flood of junk cannot fill a member's disk.
//!
//! Messages from keys that never were members are not kept at all: the
//! caller may drop them.

use std::collections::BTreeMap;

use super::authorize::Refusal;
use super::fold::Verdict;
use crate::crypto::PublicKey;
use crate::wire::MessageId;

/// One kept piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exhibit {
    /// The first illegal message of this author under this rule.
    pub id: MessageId,
    /// Why it was refused.
    pub refusal: Refusal,
    /// How many of the author's messages broke this rule so far.
    pub count: u64,
}

/// The kept evidence, by (author, rule name).
#[derive(Debug, Default)]
pub struct Evidence {
    kept: BTreeMap<(PublicKey, &'static str), Exhibit>,
}

impl Evidence {
    /// Takes note of a verdict. A message that is now applied (a late
    /// message made it legal) stops being evidence.
    pub(crate) fn record(&mut self, id: MessageId, author: PublicKey, verdict: &Verdict) {
        let refusal = match verdict {
            Verdict::Refused(Refusal::NeverMember) => return,
            Verdict::Refused(r) => r,
            Verdict::Applied | Verdict::RekeyDropped(_) => {
                self.kept.retain(|_, e| e.id != id);
                return;
            }
        };
        let exhibit = self.kept.entry((author, refusal.rule())).or_insert_with(|| Exhibit {
            id,
            refusal: refusal.clone(),
            count: 0,
        });
        exhibit.count += 1;
    }

    /// Whether the bytes of message `id` should be kept as evidence.
    pub fn keeps(&self, id: &MessageId) -> bool {
        self.kept.values().any(|e| e.id == *id)
    }

    /// Every exhibit, by author and rule.
    pub fn exhibits(&self) -> impl Iterator<Item = (&PublicKey, &'static str, &Exhibit)> {
        self.kept.iter().map(|((a, r), e)| (a, *r, e))
    }

    /// Number of exhibits.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}
