//! Invitations through the replica (`protocol-spec/peer.md`,
//! "Invitations"): an invite's secret shared, sealed, with the members who
//! may answer it, and the invitations this member can answer now.

use rand_core::CryptoRng;

use super::{Replica, ReplicaError};
use crate::group::{Power, capability, content_binding};
use crate::invite::InvitationContent;
use crate::wire::{Body, Invitation, MessageId, Sealed};

impl Replica {
    /// The body sharing `content` with the members who may answer it:
    /// sealed to every role with the invite power whose key this member
    /// can seal to in the current epoch (refused if there is none).
    pub fn invitation_body(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        content: &InvitationContent,
        now: u64,
    ) -> Result<Body, ReplicaError> {
        let sealed = self.seal_to_inviters(rng, &content.encode(), now)?;
        Ok(Body::Invitation(Invitation { id: content.id(), content: sealed }))
    }

    /// `plain` sealed, as this member's next message, to every role with
    /// the invite power whose key it can seal to in the current epoch.
    pub(super) fn seal_to_inviters(
        &self,
        rng: &mut (impl CryptoRng + ?Sized),
        plain: &[u8],
        now: u64,
    ) -> Result<Sealed, ReplicaError> {
        let state = self.state().ok_or(ReplicaError::Refused("no group state".into()))?;
        let next = self.draft(Body::Leave, now);
        let roles: Vec<String> = (state.rules.roles.iter())
            .filter(|(_, r)| r.powers.contains(&Power::Invite))
            .map(|(name, _)| name.clone())
            .filter(|name| self.keys.can_seal(name, &next.epoch))
            .collect();
        if roles.is_empty() {
            let why = "no key of a role that may invite: the invite works at your service only";
            return Err(ReplicaError::Refused(why.into()));
        }
        let binding = content_binding(&next.group, &next.author, next.seq);
        (self.keys.seal_bytes(rng, &binding, next.epoch, plain, &roles))
            .map_err(|e| ReplicaError::Refused(e.to_string()))
    }

    /// The invitations this member may answer at `now`: applied, opened
    /// with its keys, naming the id they carry, not redeemed yet, not
    /// expired; none if it may not invite. Reads the whole timeline: a
    /// join request is rare.
    pub fn open_invitations(&self, now: u64) -> Vec<(MessageId, InvitationContent)> {
        self.invitations(now, false)
    }

    /// Like [`Replica::open_invitations`], with the redeemed ones too if
    /// `with_used` (to tell a second redeemer the invitation is used up).
    pub fn invitations(&self, now: u64, with_used: bool) -> Vec<(MessageId, InvitationContent)> {
        let Some(state) = self.state() else { return Vec::new() };
        let may = capability(state, &self.me).is_ok_and(|c| c.powers.contains(&Power::Invite));
        if !may {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (id, m) in self.fold.timeline() {
            let Body::Invitation(inv) = &m.body else { continue };
            if !with_used && state.used_invites.contains(&inv.id) {
                continue;
            }
            let binding = content_binding(&m.group, &m.author, m.seq);
            let Ok(plain) = self.keys.open_bytes(&binding, &inv.content) else { continue };
            let Ok(content) = InvitationContent::decode(&plain) else { continue };
            if content.id() == inv.id && now <= content.expires_at {
                out.push((id, content));
            }
        }
        out
    }
}
