//! What the soak's adversarial members write: any body at random, past the
//! rules check, and how they post it (backdated, ground, equivocated,
//! withheld, replayed); and the sybil's messages, which they seal into the
//! group's mailboxes.

use rand_core::Rng;

use super::{N, NOW, ROLES, SYBIL, Soak};
use crate::epoch::{EpochSecret, KeyPackage, KeyPackageId, Rekey};
use crate::group::GroupState;
use crate::wire::{
    Body, Envelope, EpochId, MemberAdd, MemberRemove, MessageId, RoleAssign, RoleRevoke,
    RuleChange, UnsignedMessage, seal_message,
};

impl Soak {
    /// An adversary's turn: now and then it keeps its keys in order or has
    /// the sybil write; otherwise a wild body, posted in a wild way.
    pub(super) fn adversary_turn(&mut self, who: usize) {
        if self.roll(2) == 0 {
            self.key_duties(who);
        }
        if self.roll(5) == 0 {
            self.sybil_writes(who);
            return;
        }
        let Some((body, newcomer)) = self.wild_body(who) else { return };
        let posted = match self.roll(6) {
            0 => self.forge(who, body, None),
            1 => self.backdate(who, body),
            2 => self.grind(who, body),
            3 => self.equivocate(who, body),
            4 => {
                let w = self.forge_quiet(who, body, None);
                if let Some((_, envs)) = &w {
                    self.held_back.push(envs.clone());
                }
                w.map(|(id, _)| id)
            }
            _ => {
                for _ in 0..3 {
                    let to = self.roll(N);
                    if let Some(env) = self.relay.some_old() {
                        self.relay.replay(to, env);
                    }
                }
                None
            }
        };
        if let (Some(_), Some(o)) = (posted, newcomer) {
            self.welcome(who, o);
        }
    }

    /// A body at random, whatever the rules say; with the member it admits
    /// (to welcome) for an admission.
    fn wild_body(&mut self, who: usize) -> Option<(Body, Option<usize>)> {
        let s = self.members[who].replica.state()?.clone();
        let o = (who + 1 + self.roll(N - 1)) % N;
        let ok = self.key(o);
        let role = ROLES[self.roll(ROLES.len())];
        let with_rekey = self.roll(2) == 0;
        let body = match self.roll(14) {
            0 | 1 => super::chat("wild"),
            2 => {
                let rp = &mut self.members[who].replica;
                let rekey = rp.build_rekey(&mut self.rng, None, &[ok]).ok().map(|r| r.0);
                Body::MemberRemove(MemberRemove { member: ok, rekey: rekey.filter(|_| with_rekey) })
            }
            3 if with_rekey => {
                self.members[who].replica.role_revoke_body(&mut self.rng, ok, role).ok()?
            }
            3 => Body::RoleRevoke(RoleRevoke { member: ok, role: role.into(), rekey: None }),
            4 => Body::RoleAssign(RoleAssign { member: ok, role: role.into() }),
            5 => return self.wild_admission(who, o, role, with_rekey),
            6 | 7 => rule_change(&s, role, self.roll(2) == 0),
            8 => self.members[who].replica.keys.new_key_package(&mut self.rng),
            9 => {
                let held: Vec<String> =
                    s.members.get(&self.key(who))?.roles.iter().cloned().collect();
                let r = held.get(self.roll(held.len()))?;
                let keys = &self.members[who].replica.keys;
                keys.grant_role(&mut self.rng, &s, r, s.epoch.id, &[ok]).ok()?
            }
            10 => {
                let rp = &mut self.members[who].replica;
                Body::Rekey(rp.build_rekey(&mut self.rng, None, &[]).ok()?.0)
            }
            // Asks for the epoch whether or not it lacks it (a removed
            // adversary too).
            12 => self.members[who].replica.keys.key_request(&mut self.rng, s.epoch.id, NOW),
            13 => self.hand_rewrap(who, &s)?,
            _ => self.hand_rekey(who, &s)?,
        };
        Some((body, None))
    }

    /// An admission of `o` (never the sybil), with a rekey wrapped to the
    /// key package `o` hands over, or none.
    fn wild_admission(
        &mut self,
        who: usize,
        o: usize,
        role: &str,
        with_rekey: bool,
    ) -> Option<(Body, Option<usize>)> {
        let Body::KeyPackage(kp) = self.members[o].replica.keys.new_key_package(&mut self.rng)
        else {
            return None;
        };
        let ok = self.key(o);
        self.packages.insert(KeyPackageId::owned_by(&ok, &kp), kp.clone());
        let rp = &mut self.members[who].replica;
        let rekey = rp.build_rekey(&mut self.rng, Some((&ok, &kp)), &[]).ok().map(|r| r.0);
        let rekey = rekey.filter(|_| with_rekey);
        Some((
            Body::MemberAdd(MemberAdd {
                member: ok,
                roles: vec![role.into()],
                rekey,
                invite: None,
            }),
            Some(o),
        ))
    }

    /// A rekey built by hand: a sibling of the current epoch (stale), or
    /// one of the current epoch that also wraps to a former member's key
    /// package. Its secret is known to its author only.
    fn hand_rekey(&mut self, who: usize, s: &GroupState) -> Option<Body> {
        let stale = self.roll(2) == 0;
        let replaces = if stale { s.epoch.replaces.unwrap_or(s.epoch.id) } else { s.epoch.id };
        let mut to: Vec<(KeyPackageId, KeyPackage)> = (s.members.values())
            .filter_map(|m| m.key_package)
            .filter_map(|k| self.packages.get(&k).map(|p| (k, p.clone())))
            .collect();
        let former = s.key_packages.iter().find(|(_, owner)| s.former.contains_key(owner));
        if let Some((k, _)) = former.filter(|_| !stale)
            && let Some(p) = self.packages.get(k)
        {
            to.push((*k, p.clone()));
        }
        let refs: Vec<(KeyPackageId, &KeyPackage)> = to.iter().map(|(k, p)| (*k, p)).collect();
        let secret = EpochSecret::random(&mut self.rng);
        let rekey = Rekey::build(&mut self.rng, &s.group, replaces, &secret, &refs).ok()?;
        self.members[who].built.push(secret);
        Some(Body::Rekey(rekey))
    }

    /// An epoch re-wrap built by hand: of the current epoch (whose secret
    /// the adversary holds) to every package the group knows, a former
    /// member's included; or of another secret under the epoch's own
    /// confirmation; or naming the epoch the current one replaced.
    fn hand_rewrap(&mut self, who: usize, s: &GroupState) -> Option<Body> {
        let ring = self.members[who].replica.keys().ring();
        let held = ring.epoch_secret(&s.epoch.id)?.clone();
        let replaces = s.epoch.replaces?;
        let to: Vec<(KeyPackageId, KeyPackage)> = (s.key_packages.keys())
            .filter_map(|k| self.packages.get(k).map(|p| (*k, p.clone())))
            .take(8)
            .collect();
        let refs: Vec<(KeyPackageId, &KeyPackage)> = to.iter().map(|(k, p)| (*k, p)).collect();
        let (epoch, secret) = match self.roll(3) {
            0 => (s.epoch.id, held.clone()),
            1 => (s.epoch.id, EpochSecret::random(&mut self.rng)),
            _ => (replaces, held.clone()),
        };
        let mut rekey = Rekey::build(&mut self.rng, &s.group, replaces, &secret, &refs).ok()?;
        // The epoch's own confirmation over whatever secret was wrapped.
        rekey.confirmation = Rekey::build(&mut self.rng, &s.group, replaces, &held, &[])
            .ok()
            .map_or(rekey.confirmation, |r| r.confirmation);
        Some(Body::EpochRewrap(crate::wire::EpochRewrap { epoch, rekey }))
    }

    /// A draft of `who`'s next message, in its current epoch or (now and
    /// then) another epoch it holds a key of.
    fn wild_draft(&mut self, who: usize, body: Body) -> Option<(UnsignedMessage, EpochId)> {
        let rp = &self.members[who].replica;
        let ring = rp.keys().ring();
        let held: Vec<EpochId> =
            ring.epochs().filter(|e| ring.epoch_secret(e).is_some()).copied().collect();
        let current = rp.epoch();
        let epoch = if held.contains(&current) && !self.rng.next_u32().is_multiple_of(4) {
            current
        } else {
            *held.get(self.rng.next_u32() as usize % held.len().max(1))?
        };
        Some((self.members[who].replica.draft_in(epoch, body, NOW), epoch))
    }

    /// Signs `m` (or a draft of `body`) and takes it in at its author, past
    /// the rules check; records it. Not posted.
    fn forge_quiet(
        &mut self,
        who: usize,
        body: Body,
        m: Option<(UnsignedMessage, EpochId)>,
    ) -> Option<(MessageId, Vec<Envelope>)> {
        let (m, epoch) = match m {
            Some(m) => m,
            None => self.wild_draft(who, body)?,
        };
        let mb = &mut self.members[who];
        let signed = m.sign(mb.id.signing_key());
        let w = mb.replica.take_in_own(&mut self.rng, signed, epoch, NOW).ok()?;
        let id = self.record(who, &w.bytes, w.envelopes.clone());
        self.received(who, w.received);
        Some((id, w.envelopes))
    }

    /// Like [`Soak::forge_quiet`], and posted to everyone else.
    fn forge(
        &mut self,
        who: usize,
        body: Body,
        m: Option<(UnsignedMessage, EpochId)>,
    ) -> Option<MessageId> {
        let (id, envs) = self.forge_quiet(who, body, m)?;
        self.relay.post(&envs, |m| m != who);
        Some(id)
    }

    /// Cites one to three messages the author holds, picked at random
    /// (and its own previous one): a backdated message.
    fn backdate(&mut self, who: usize, body: Body) -> Option<MessageId> {
        let (mut m, epoch) = self.wild_draft(who, body.clone())?;
        let chain = self.members[who].replica.chain();
        let held: Vec<MessageId> =
            self.log.iter().map(|p| p.id).filter(|id| chain.entry(id).is_some()).collect();
        let mut parents: Vec<MessageId> = (0..1 + self.rng.next_u32() % 3)
            .map(|_| held[self.rng.next_u32() as usize % held.len()])
            .collect();
        parents.extend(m.prev);
        parents.sort();
        parents.dedup();
        let chain = self.members[who].replica.chain();
        let lamport = parents.iter().filter_map(|p| chain.entry(p)).map(|e| e.message().lamport);
        m.lamport = lamport.max().map_or(0, |l| l + 1);
        m.parents = parents;
        self.forge(who, body, Some((m, epoch)))
    }

    /// Varies `minute` until the id sorts low (first byte below 0x10), or
    /// keeps the lowest of 64 tries: a ground id.
    fn grind(&mut self, who: usize, body: Body) -> Option<MessageId> {
        let (mut m, epoch) = self.wild_draft(who, body.clone())?;
        let id = |m: &UnsignedMessage| crate::wire::message_id(&m.encode());
        let mut best = m.clone();
        for minute in 0..64 {
            m.minute = minute;
            if id(&m) < id(&best) {
                best = m.clone();
            }
            if id(&best).0[0] < 0x10 {
                break;
            }
        }
        self.forge(who, body, Some((best, epoch)))
    }

    /// Two messages at one seq, each posted to some members (a few get
    /// both): the author keeps the first.
    fn equivocate(&mut self, who: usize, body: Body) -> Option<MessageId> {
        let (a, epoch) = self.wild_draft(who, body.clone())?;
        let mut b = a.clone();
        b.body = super::chat("the other branch");
        let (first, envs_a) = self.forge_quiet(who, body, Some((a, epoch)))?;
        let mb = &self.members[who];
        let secret = mb.replica.keys().ring().epoch_secret(&epoch)?.clone();
        let signed = b.sign(mb.id.signing_key());
        let bytes = signed.encode();
        let envs_b = seal_message(&mut self.rng, &secret.keys(), &signed).ok()?;
        self.record(who, &bytes, envs_b.clone());
        let mask = self.rng.next_u32();
        let both = self.rng.next_u32();
        let gets_a = |m: usize| m != who && (mask >> m & 1 == 1 || both >> m & 3 == 0);
        let gets_b = |m: usize| m != who && (mask >> m & 1 == 0 || both >> m & 3 == 0);
        self.relay.post(&envs_a, gets_a);
        self.relay.post(&envs_b, gets_b);
        Some(first)
    }

    /// The sybil, a key nobody admitted, writes (citing messages `helper`
    /// holds, after its own previous one); `helper` seals it under its
    /// current epoch and posts it to everyone.
    fn sybil_writes(&mut self, helper: usize) {
        let sybil = self.key(SYBIL);
        let rp = &self.members[helper].replica;
        let epoch = rp.epoch();
        let Some(secret) = rp.keys().ring().epoch_secret(&epoch).cloned() else { return };
        let body = match self.rng.next_u32() % 5 {
            0 => super::chat("sybil"),
            1 => Body::MemberAdd(MemberAdd {
                member: sybil,
                roles: vec![ROLES[0].into()],
                rekey: None,
                invite: None,
            }),
            2 => Body::MemberRemove(MemberRemove { member: self.key(0), rekey: None }),
            3 => match rp.state() {
                Some(s) => rule_change(s, ROLES[1], false),
                None => return,
            },
            _ => Body::KeyPackage(KeyPackage::generate(rp.group(), &mut self.rng).0),
        };
        let kept = |id: &MessageId| rp.fold().holds(id);
        let mut m = rp.chain().draft_among(&sybil, epoch, NOW / 60, body, kept);
        let k = 1 + self.rng.next_u32() as usize % 3;
        let mut parents: Vec<MessageId> = m.parents.iter().take(k).copied().collect();
        let lamports: Vec<u64> = (parents.iter())
            .filter_map(|p| rp.chain().entry(p))
            .map(|e| e.message().lamport)
            .chain(self.sybil_tail.map(|(_, l)| l))
            .collect();
        parents.extend(self.sybil_tail.map(|(id, _)| id));
        parents.sort();
        parents.dedup();
        m.parents = parents;
        m.prev = self.sybil_tail.map(|(id, _)| id);
        m.seq = self.sybil_tail.map_or(0, |_| self.sybil_seq + 1);
        m.lamport = lamports.into_iter().max().map_or(0, |l| l + 1);
        let (seq, lamport) = (m.seq, m.lamport);
        let signed = m.sign(self.sybil.signing_key());
        let Ok(envs) = seal_message(&mut self.rng, &secret.keys(), &signed) else { return };
        let id = self.record(SYBIL, &signed.encode(), envs.clone());
        self.sybil_seq = seq;
        self.sybil_tail = Some((id, lamport));
        self.figures.sybil += 1;
        self.relay.post(&envs, |_| true);
    }
}

/// A rule change: `newcomer` set to `role`, or `role` deleted (unless it
/// is the founder's).
fn rule_change(s: &GroupState, role: &str, newcomer: bool) -> Body {
    let rules = s.rules.clone().soak_change(role, newcomer);
    Body::RuleChange(RuleChange { rules: rules.encode() })
}
