//! Stranded members (`protocol-spec/keys.md`, "Stranded members"): a member
//! who holds no secret of the current epoch (a rekey that left it out or
//! did not open, a lost key-package secret, a profile restored from the
//! recovery string) asks for it with a fresh key package ([`KeyRequest`]);
//! a member who holds it re-wraps it to that package ([`EpochRewrap`]) when
//! its turn comes ([`rewrap_wait`]).

use rand_core::CryptoRng;

use super::{KeyError, MemberKeys, REQUEST_AGAIN_SECS};
use crate::crypto::PublicKey;
use crate::epoch::{KeyPackageId, Rekey};
use crate::group::GroupState;
use crate::group::schedule::{rekey_for_request_wait, rewrap_wait};
use crate::wire::{Body, EpochId, EpochRewrap, KeyRequest};

impl MemberKeys {
    /// The current epoch, if this member is a member and holds no secret
    /// of it.
    pub fn stranded(&self, state: &GroupState) -> Option<EpochId> {
        let current = state.epoch.id;
        let lacks = self.ring.epoch_secret(&current).is_none();
        (lacks && state.members.contains_key(&self.me)).then_some(current)
    }

    /// Whether this member should ask for the current epoch now: it is
    /// stranded and has not asked for this epoch in the last
    /// [`REQUEST_AGAIN_SECS`].
    pub fn request_due(&self, state: &GroupState, now: u64) -> Option<EpochId> {
        let epoch = self.stranded(state)?;
        match self.asked {
            Some((e, at)) if e == epoch && now < at.saturating_add(REQUEST_AGAIN_SECS) => None,
            _ => Some(epoch),
        }
    }

    /// A request for `epoch` with a fresh key package (its secret kept).
    pub fn key_request(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        epoch: EpochId,
        now: u64,
    ) -> Body {
        let key_package = self.generate_package(rng);
        self.asked = Some((epoch, now));
        Body::KeyRequest(KeyRequest { epoch, key_package })
    }

    /// The members whose request for the current epoch this member should
    /// answer with a re-wrap by `now` (its turn has come), if they are
    /// entitled to the epoch (the caller asks the fold:
    /// [`crate::replica::Replica::key_actions`]).
    pub fn rewraps_due(&self, state: &GroupState, now: u64) -> Vec<PublicKey> {
        if self.ring.epoch_secret(&state.epoch.id).is_none() {
            return Vec::new();
        }
        self.requests_due(state, now, |who| rewrap_wait(state, &self.me, who))
    }

    /// The members whose request this member should answer with a plain
    /// rekey by `now`, if they are not entitled to the current epoch
    /// (admitted after it began): its turn among those who may rotate.
    pub fn rekeys_due(&self, state: &GroupState, now: u64) -> Vec<PublicKey> {
        let wait = rekey_for_request_wait(state, &self.me);
        self.requests_due(state, now, |_| wait)
    }

    fn requests_due(
        &self,
        state: &GroupState,
        now: u64,
        wait: impl Fn(&PublicKey) -> Option<u64>,
    ) -> Vec<PublicKey> {
        (self.requests.iter())
            .filter(|(_, q)| q.epoch == state.epoch.id)
            .filter(|(who, q)| wait(who).is_some_and(|w| now >= q.seen_at.saturating_add(w)))
            .map(|(who, _)| *who)
            .collect()
    }

    /// Requests this member no longer owes (a rekey it posted lets them in).
    pub fn drop_requests(&mut self, who: &[PublicKey]) {
        for w in who {
            self.requests.remove(w);
        }
    }

    /// The re-wrap of the current epoch to the packages `to` asked with, as
    /// a body to post; those requests are no longer owed by this member.
    /// Its `replaces` and confirmation are those of the epoch's rekey: the
    /// same secret gives the same confirmation.
    pub fn rewrap(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        state: &GroupState,
        to: &[PublicKey],
    ) -> Result<Body, KeyError> {
        let epoch = state.epoch.id;
        let replaces = state.epoch.replaces.ok_or(KeyError::NoEpochSecret(epoch))?;
        let secret = self.ring.epoch_secret(&epoch).ok_or(KeyError::NoEpochSecret(epoch))?;
        let mut refs: Vec<(KeyPackageId, &crate::epoch::KeyPackage)> = Vec::new();
        for who in to {
            let Some(q) = self.requests.get(who).filter(|q| q.epoch == epoch) else { continue };
            let q = *q;
            if let Some(kp) = self.packages.get(&q.package) {
                refs.push((q.package, kp));
                self.replies.insert(q.package, q.reply_in);
            }
        }
        let rekey = Rekey::build(rng, &state.group, replaces, secret, &refs)?;
        for who in to {
            self.requests.remove(who);
        }
        Ok(Body::EpochRewrap(EpochRewrap { epoch, rekey }))
    }

    /// The epoch to write re-wrap `rw` in: the one its first recipient's
    /// request came in, if this member still holds it (so that the
    /// requester, who holds it too, gets the re-wrap from the relays);
    /// `None`: the current epoch.
    pub fn reply_epoch(&self, rw: &EpochRewrap) -> Option<EpochId> {
        let first = rw.rekey.recipients().find_map(|k| self.replies.get(k))?;
        self.ring.epoch_secret(first).is_some().then_some(*first)
    }
}
