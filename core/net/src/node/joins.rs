//! Pending joins on the node (`peer.md`, "Pending joins"): a join request
//! waiting for a person at this member is shared with every member who may
//! answer it; any of them admits or declines it with `cairn approve`, the
//! TUI or `cairn run`, and the member holding the session follows their
//! answer (it welcomes the redeemer into the admission another member
//! wrote).

use std::time::Duration;

use cairn_proto::crypto::PublicKey;
use cairn_proto::invite::{PendingJoin, PendingJoinContent};
use cairn_proto::peer_proto::PeerErrorCode;
use cairn_proto::replica::{JoinNote, JoinOutcome, Received};
use cairn_proto::wire::{Body, GroupId, InviteId, JoinDeclined, MessageId};
use tokio::sync::oneshot;

use super::invites::{APPROVAL_TIMEOUT, Approval, admission};
use super::profile::now;
use super::{Node, NodeError, NodeEvent, os_rng};

/// How often the member holding a session looks for another member's
/// answer.
const ANSWER_POLL: Duration = Duration::from_secs(1);
/// Members a pending join is pushed to directly, beyond the relays.
const PUSH_TO: usize = 8;

/// What became of a join request waiting at this member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// Admit it here (automatic, or this member's person said yes).
    Approved,
    /// Another member admitted the redeemer: welcome it into that
    /// admission.
    AdmittedElsewhere(MessageId),
    /// Refused, and why.
    Refused(PeerErrorCode),
}

impl Node {
    /// Waits for the answer to a checked join request: at once for an
    /// automatic invite; else from this member's person, or from any
    /// member who may answer it, with whom it is shared.
    pub(super) async fn join_answer(
        &self,
        group: GroupId,
        invite: InviteId,
        pending: &PendingJoin,
        approval: Approval,
    ) -> Answer {
        if approval == Approval::Automatic {
            return Answer::Approved;
        }
        let (tx, mut rx) = oneshot::channel();
        self.approvals().insert(pending.short_code.clone(), tx);
        self.emit(NodeEvent::JoinRequest {
            group,
            fingerprint: pending.fingerprint.clone(),
            short_code: pending.short_code.clone(),
            name: pending.name.clone(),
        });
        self.share_pending(group, invite, pending, now() + APPROVAL_TIMEOUT.as_secs());
        let deadline = tokio::time::Instant::now() + APPROVAL_TIMEOUT;
        let answer = loop {
            tokio::select! {
                here = &mut rx => {
                    break if matches!(here, Ok(true)) {
                        Answer::Approved
                    } else {
                        Answer::Refused(PeerErrorCode::NotApproved)
                    };
                }
                () = tokio::time::sleep(ANSWER_POLL) => {}
            }
            if let Some(elsewhere) = self.answered_elsewhere(group, &invite, &pending.identity) {
                break elsewhere;
            }
            if tokio::time::Instant::now() >= deadline {
                break Answer::Refused(PeerErrorCode::NotApproved);
            }
        };
        self.approvals().remove(&pending.short_code);
        answer
    }

    /// Shares a pending join with the members who may answer it, through
    /// the relays and pushed to those with a contact. Best effort: without
    /// it, only this member's person answers.
    fn share_pending(&self, group: GroupId, invite: InviteId, pending: &PendingJoin, until: u64) {
        let content = PendingJoinContent {
            identity: pending.identity,
            name: pending.name.clone(),
            short_code: pending.short_code.clone(),
            key_package: pending.key_package.clone(),
            until,
        };
        let written = self.build_and_write(group, |r| {
            Ok(r.join_pending_body(&mut os_rng(), invite, &content, now())?)
        });
        if let Err(e) = written {
            tracing::warn!("the join request is shown here only: {e}");
            return;
        }
        let answerers = self.answerers_of(group);
        self.in_background(async move |node: Node| node.push_to(group, &answerers).await);
    }

    /// Other members who may invite and can be reached (at most
    /// [`PUSH_TO`]).
    fn answerers_of(&self, group: GroupId) -> Vec<PublicKey> {
        let me = self.identity().public_key();
        let found = self.with_replica(&group, |r| {
            let Some(s) = r.state() else { return Vec::new() };
            (s.members.iter())
                .filter(|(k, m)| **k != me && m.onion.is_some())
                .filter(|(k, _)| {
                    cairn_proto::group::capability(s, k)
                        .is_ok_and(|c| c.powers.contains(&cairn_proto::group::Power::Invite))
                })
                .map(|(k, _)| *k)
                .take(PUSH_TO)
                .collect()
        });
        found.unwrap_or_default()
    }

    /// Another member's answer to the join of `member` with `invite`, or
    /// the invitation used up by someone else.
    pub(super) fn answered_elsewhere(
        &self,
        group: GroupId,
        invite: &InviteId,
        member: &PublicKey,
    ) -> Option<Answer> {
        let found = self.with_replica(&group, |r| {
            match r.join_note(invite, member).and_then(|n| n.outcome) {
                Some(JoinOutcome::Admitted { admission, .. }) => {
                    return Some(Answer::AdmittedElsewhere(admission));
                }
                Some(JoinOutcome::Declined { .. }) => {
                    return Some(Answer::Refused(PeerErrorCode::NotApproved));
                }
                None => {}
            }
            let used = r.state().is_some_and(|s| s.used_invites.contains(invite));
            used.then_some(Answer::Refused(PeerErrorCode::InviteUsed))
        });
        found.ok().flatten()
    }

    /// Answers a join request by its short code: one waiting here (a
    /// [`NodeEvent::JoinRequest`] of this node's own session), else one
    /// shared by another member, which this member admits or declines in
    /// the chain.
    pub(super) fn approve(&self, short_code: &str, admit: bool) -> Result<(), NodeError> {
        if let Some(tx) = self.approvals().remove(short_code) {
            let _ = tx.send(admit);
            return Ok(());
        }
        let (group, note) = self.shared_join(short_code).ok_or(NodeError::NoSuchJoin)?;
        let member = note.content.identity;
        self.build_and_write(group, |r| {
            if !admit {
                return Ok(Body::JoinDeclined(JoinDeclined { invite: note.invite, member }));
            }
            let (_, invitation) = (r.open_invitations(now()).into_iter())
                .find(|(_, c)| c.id() == note.invite)
                .ok_or(NodeError::NoSuchJoin)?;
            let kp = &note.content.key_package;
            admission(r, member, kp, &invitation.roles, Some(note.invite))
        })?;
        self.emit(NodeEvent::JoinAnswered {
            group,
            short_code: note.content.short_code.clone(),
            name: note.content.name.clone(),
            admitted: admit,
            by: self.identity().public_key(),
        });
        // The member holding the session welcomes the redeemer (or tells
        // it no) as soon as the answer reaches it.
        let to = [note.answerer];
        self.in_background(async move |node: Node| node.push_to(group, &to).await);
        Ok(())
    }

    /// The join requests shared with this member that it may answer now,
    /// in every group (`cairn approve` lists them, `cairn group show`
    /// too).
    pub fn pending_joins(&self) -> Vec<(GroupId, JoinNote)> {
        let core = self.core();
        let mut out = Vec::new();
        for group in core.member_groups() {
            let Ok(replica) = core.replica(&group) else { continue };
            out.extend(replica.pending_joins(now()).into_iter().map(|n| (group, n.clone())));
        }
        out
    }

    /// A join shared with this member, open, with that code.
    fn shared_join(&self, short_code: &str) -> Option<(GroupId, JoinNote)> {
        let core = self.core();
        core.member_groups().into_iter().find_map(|group| {
            let replica = core.replica(&group).ok()?;
            let pending = replica.pending_joins(now());
            let note = pending.into_iter().find(|n| n.content.short_code == short_code)?;
            Some((group, note.clone()))
        })
    }

    /// Tells the UI of pending joins shared with this member that it may
    /// answer, and of what became of them.
    pub(super) fn join_news(&self, group: GroupId, received: &Received) {
        let me = self.identity().public_key();
        for note in &received.joins {
            let content = &note.content;
            match note.outcome {
                None if note.answerer != me && self.may_answer(group, note) => {
                    self.emit(NodeEvent::JoinRequest {
                        group,
                        fingerprint: content.fingerprint(),
                        short_code: content.short_code.clone(),
                        name: content.name.clone(),
                    });
                }
                None => {}
                Some(outcome) => {
                    let (admitted, by) = match outcome {
                        JoinOutcome::Admitted { by, .. } => (true, by),
                        JoinOutcome::Declined { by } => (false, by),
                    };
                    self.emit(NodeEvent::JoinAnswered {
                        group,
                        short_code: content.short_code.clone(),
                        name: content.name.clone(),
                        admitted,
                        by,
                    });
                }
            }
        }
    }

    fn may_answer(&self, group: GroupId, note: &JoinNote) -> bool {
        let open = self.with_replica(&group, |r| {
            r.pending_joins(now()).iter().any(|n| n.shared_in == note.shared_in)
        });
        open.unwrap_or(false)
    }
}
