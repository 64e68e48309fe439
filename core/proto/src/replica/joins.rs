//! Pending joins through the replica (`protocol-spec/peer.md`, "Pending
//! joins"): a join request that waits for a person at the member holding
//! its session is shared, sealed like the invitation, with every member who
//! may answer it; any of them admits or declines it, and every member sees
//! what became of it.

use std::collections::BTreeMap;

use rand_core::CryptoRng;

use super::{Replica, ReplicaError};
use crate::crypto::PublicKey;
use crate::group::{Power, Verdict, capability, content_binding};
use crate::invite::PendingJoinContent;
use crate::wire::{Body, InviteId, JoinPending, MessageId, UnsignedMessage};

/// Pending joins a replica remembers at most: a member who may invite could
/// otherwise grow every answerer's memory by writing them.
pub const MAX_JOIN_NOTES: usize = 128;

/// A pending join as a member who may answer it sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinNote {
    /// The invitation the request redeems.
    pub invite: InviteId,
    /// The message that shared it.
    pub shared_in: MessageId,
    /// The member holding the redeemer's session.
    pub answerer: PublicKey,
    /// Who asks, the code, the key package, until when.
    pub content: PendingJoinContent,
    /// What became of it, once something did.
    pub outcome: Option<JoinOutcome>,
}

/// What became of a pending join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinOutcome {
    /// A member admitted the redeemer (with the invitation's id).
    Admitted {
        /// The admitting member.
        by: PublicKey,
        /// The admission.
        admission: MessageId,
    },
    /// A member declined it.
    Declined {
        /// The declining member.
        by: PublicKey,
    },
}

/// The pending joins a replica knows of, by invitation and redeemer.
#[derive(Debug, Default)]
pub(super) struct JoinBoard {
    notes: BTreeMap<(InviteId, PublicKey), JoinNote>,
    /// Pending joins this member could not open yet (the role key they are
    /// sealed to had not reached it), tried again when a key arrives; at
    /// most [`MAX_JOIN_NOTES`], the oldest dropped.
    unopened: Vec<MessageId>,
}

impl JoinBoard {
    /// Whether no pending join waits to be opened.
    pub(super) fn is_settled(&self) -> bool {
        self.unopened.is_empty()
    }

    /// Keeps `note`, dropping the one that ends first when full.
    fn insert(&mut self, note: JoinNote) {
        self.notes.insert((note.invite, note.content.identity), note);
        while self.notes.len() > MAX_JOIN_NOTES {
            let first = self.notes.iter().min_by_key(|(_, n)| n.content.until).map(|(k, _)| *k);
            first.map(|k| self.notes.remove(&k));
        }
    }

    /// Records the first outcome of the join of `member` with `invite`.
    fn settle(
        &mut self,
        invite: InviteId,
        member: PublicKey,
        outcome: JoinOutcome,
    ) -> Option<JoinNote> {
        let note = self.notes.get_mut(&(invite, member))?;
        if note.outcome.is_some() {
            return None;
        }
        note.outcome = Some(outcome);
        Some(note.clone())
    }
}

impl Replica {
    /// The body sharing a pending join with the members who may answer it,
    /// sealed to the roles an invitation is (refused if there is none).
    pub fn join_pending_body(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        invite: InviteId,
        content: &PendingJoinContent,
        now: u64,
    ) -> Result<Body, ReplicaError> {
        let sealed = self.seal_to_inviters(rng, &content.encode(), now)?;
        Ok(Body::JoinPending(JoinPending { invite, content: sealed }))
    }

    /// The pending joins this member may answer at `now`: shared with it,
    /// neither admitted nor declined, still held open; none if it may not
    /// invite.
    pub fn pending_joins(&self, now: u64) -> Vec<&JoinNote> {
        let may = self.state().is_some_and(|s| {
            capability(s, &self.me).is_ok_and(|c| c.powers.contains(&Power::Invite))
        });
        if !may {
            return Vec::new();
        }
        let open = |n: &&JoinNote| n.outcome.is_none() && now <= n.content.until;
        self.joins.notes.values().filter(open).collect()
    }

    /// The pending join of `member` with `invite`, whatever became of it.
    pub fn join_note(&self, invite: &InviteId, member: &PublicKey) -> Option<&JoinNote> {
        self.joins.notes.get(&(*invite, *member))
    }

    /// Updates the pending joins after `id` was applied; the note that
    /// changed, if one did (a join shared, admitted or declined).
    pub(super) fn note_join(&mut self, id: MessageId, verdict: &Verdict) -> Option<JoinNote> {
        if !verdict.applied() {
            return None;
        }
        let entry = self.chain.entry(&id)?;
        let m = entry.message();
        match &m.body {
            Body::JoinPending(j) => {
                let Some(note) = self.open_join(id, m, j) else {
                    self.joins.unopened.push(id);
                    let excess = self.joins.unopened.len().saturating_sub(MAX_JOIN_NOTES);
                    self.joins.unopened.drain(..excess);
                    return None;
                };
                self.joins.insert(note.clone());
                Some(note)
            }
            Body::JoinDeclined(d) => {
                self.joins.settle(d.invite, d.member, JoinOutcome::Declined { by: m.author })
            }
            Body::MemberAdd(a) => {
                let admitted = JoinOutcome::Admitted { by: m.author, admission: id };
                self.joins.settle(a.invite?, a.member, admitted)
            }
            _ => None,
        }
    }

    /// Tries again the pending joins this member could not open (a role
    /// key arrived); the notes it opens now.
    pub(super) fn reopen_joins(&mut self) -> Vec<JoinNote> {
        let waiting = std::mem::take(&mut self.joins.unopened);
        let mut opened = Vec::new();
        for id in waiting {
            let note = self.chain.entry(&id).and_then(|e| match &e.message().body {
                Body::JoinPending(j) => self.open_join(id, e.message(), j),
                _ => None,
            });
            match note {
                Some(n) if n.outcome.is_none() => {
                    self.joins.insert(n.clone());
                    opened.push(n);
                }
                Some(_) => {}
                None => self.joins.unopened.push(id),
            }
        }
        opened
    }

    fn open_join(&self, id: MessageId, m: &UnsignedMessage, j: &JoinPending) -> Option<JoinNote> {
        let binding = content_binding(&m.group, &m.author, m.seq);
        let plain = self.keys.open_bytes(&binding, &j.content).ok()?;
        let content = PendingJoinContent::decode(&plain).ok()?;
        Some(JoinNote {
            invite: j.invite,
            shared_in: id,
            answerer: m.author,
            content,
            outcome: None,
        })
    }

    /// Rebuilds the pending joins from the applied messages (on opening a
    /// stored replica).
    pub(super) fn rebuild_joins(&mut self) {
        let ids: Vec<MessageId> = (self.fold.timeline())
            .filter(|(_, m)| {
                matches!(m.body, Body::JoinPending(_) | Body::JoinDeclined(_))
                    || matches!(&m.body, Body::MemberAdd(a) if a.invite.is_some())
            })
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            self.note_join(id, &Verdict::Applied);
        }
    }
}
