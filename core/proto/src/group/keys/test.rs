//! Member-side key tests: real signed messages through the chain and the
//! fold of every member ([`super::super::sim`]), each member's
//! [`MemberKeys`] fed the fold's verdicts, every message also sealed into
//! envelopes under its author's epoch keys. Confidentiality is checked on
//! the bytes: every key a member holds is tried against every envelope and
//! every sealed content it must not read.

use std::path::Path;

use rand_core::Rng;

use super::super::sim::{GROUP, Sim, id_of};
use super::super::{Refusal, Verdict, templates};
use super::*;
use crate::crypto::{AeadKey, XofRng};
use crate::epoch::ContentKey;
use crate::epoch::{DEFAULT_GRACE_SECS, KeyPackageSecret};
use crate::identity::{KdfParams, KeyFile};
use crate::store::{MemoryStore, Profile};
use crate::wire::{
    Chat, Envelope, MemberAdd, MemberRemove, RoleAssign, RoleRevoke, TaskCreate, TaskEdit,
    seal_message,
};

const DAY: u64 = 24 * 60 * 60;

/// A message as a relay carries it: the envelopes sealed under the epoch
/// its author wrote it in.
struct OnWire {
    id: MessageId,
    envelopes: Vec<Envelope>,
}

/// Members with chains, folds and keys; the relay's traffic; a clock.
struct World {
    sim: Sim,
    keys: Vec<MemberKeys>,
    rng: XofRng,
    now: u64,
    wire: Vec<OnWire>,
    offline: Vec<bool>,
    backlog: Vec<Vec<Vec<u8>>>,
    events: Vec<Vec<KeyEvent>>,
    /// Every event each member saw.
    seen: Vec<Vec<KeyEvent>>,
}

impl World {
    /// `n` people; node 0 founds a pursuance group (steward) and publishes
    /// a key package; the others have made the key package they will hand
    /// to an inviter.
    fn new(seed: &[u8], n: usize) -> Self {
        Self::with_rules(seed, n, &templates::pursuance())
    }

    /// The same under other rules.
    fn with_rules(seed: &[u8], n: usize, rules: &crate::group::Rules) -> Self {
        let sim = Sim::new(seed, n, rules);
        let mut rng = XofRng::from_seed(seed);
        let mut keys = Vec::new();
        for i in 0..n {
            let me = sim.key(i);
            keys.push(if i == 0 {
                MemberKeys::founding(&mut rng, me, GROUP, sim.genesis, rules)
            } else {
                MemberKeys::joining(&mut rng, me, GROUP).0
            });
        }
        let mut w = World {
            sim,
            keys,
            rng,
            now: 1_000_000,
            wire: Vec::new(),
            offline: vec![false; n],
            backlog: vec![Vec::new(); n],
            events: vec![Vec::new(); n],
            seen: vec![Vec::new(); n],
        };
        let kp = w.keys[0].new_key_package(&mut w.rng);
        w.act(0, kp);
        w
    }

    fn state(&self, who: usize) -> GroupState {
        self.sim.nodes[who].fold.state().cloned().expect("state")
    }

    fn epoch(&self, who: usize) -> EpochId {
        self.state(who).epoch.id
    }

    /// Node `who` gets `bytes`; its keys observe every verdict change.
    fn deliver(&mut self, who: usize, bytes: &[u8]) {
        let changes = self.sim.nodes[who].receive(bytes, None);
        for c in changes {
            let node = &self.sim.nodes[who];
            let Some(m) = node.chain.entry(&c.id).map(|e| e.message().clone()) else { continue };
            let state = node.fold.state().cloned().expect("state");
            let ev = self.keys[who].observe(&mut self.rng, &state, c.id, &m, &c.verdict, self.now);
            self.seen[who].extend(ev.iter().cloned());
            self.events[who].extend(ev);
        }
    }

    /// Node `who` writes `body` (sealed on the wire under its epoch keys);
    /// everyone online receives it; then the members act on their key
    /// events (fresh key packages, due grants).
    fn act(&mut self, who: usize, body: Body) -> MessageId {
        let id = self.post(who, body);
        self.settle();
        id
    }

    fn post(&mut self, who: usize, body: Body) -> MessageId {
        let node = &self.sim.nodes[who];
        let epoch = node.fold.state().map_or(EpochId::GENESIS, |s| s.epoch.id);
        let signed = node.chain.draft(&node.public(), epoch, 0, body).sign(&node.key);
        let bytes = signed.encode();
        let id = id_of(&bytes);
        if let Some(secret) = self.keys[who].ring().epoch_secret(&epoch) {
            let envelopes =
                seal_message(&mut self.rng, &secret.keys(), &signed).expect("fits in envelopes");
            self.wire.push(OnWire { id, envelopes });
        }
        self.deliver(who, &bytes);
        for i in (0..self.keys.len()).filter(|i| *i != who) {
            if self.offline[i] {
                self.backlog[i].push(bytes.clone());
            } else {
                self.deliver(i, &bytes);
            }
        }
        self.sim.log.push(bytes);
        id
    }

    /// Members post what their key events ask for until nothing is due.
    fn settle(&mut self) {
        for _ in 0..16 {
            let mut acted = false;
            for i in 0..self.keys.len() {
                if self.offline[i] {
                    continue;
                }
                let events = std::mem::take(&mut self.events[i]);
                let member = self.state(i).members.contains_key(&self.sim.key(i));
                if member && events.iter().any(|e| matches!(e, KeyEvent::KeyPackageUsed { .. })) {
                    let kp = self.keys[i].new_key_package(&mut self.rng);
                    self.post(i, kp);
                    acted = true;
                }
                let state = self.state(i);
                for grant in self.keys[i].take_due_grants(&mut self.rng, &state) {
                    self.post(i, grant);
                    acted = true;
                }
                // As `Replica::key_actions`: the rotator replaces an exposed key.
                let exposed = events.iter().any(|e| matches!(e, KeyEvent::RoleKeyExposed { .. }))
                    || self.sim.nodes[i].fold.revocation_outruns_epoch();
                if member && exposed && rotator(&state) == Some(self.sim.key(i)) {
                    let (rekey, _) =
                        self.keys[i].build_rekey(&mut self.rng, &state, None, &[]).expect("rekey");
                    self.post(i, Body::Rekey(rekey));
                    acted = true;
                }
            }
            if !acted {
                return;
            }
        }
        panic!("key actions did not settle");
    }

    /// `by` admits node `who` with `roles`, with the rekey that lets it in.
    fn admit(&mut self, by: usize, who: usize, roles: &[&str]) -> MessageId {
        let joiner = self.sim.key(who);
        let Some(Body::KeyPackage(kp)) = self.keys[who].publish() else { panic!("no package") };
        let state = self.state(by);
        let (rekey, _) = self.keys[by]
            .build_rekey(&mut self.rng, &state, Some((&joiner, &kp)), &[])
            .expect("rekey");
        let roles = roles.iter().map(|r| (*r).to_string()).collect();
        self.act(
            by,
            Body::MemberAdd(MemberAdd { member: joiner, roles, rekey: Some(rekey), invite: None }),
        )
    }

    /// `by` removes node `who`, with the rekey that shuts it out.
    fn remove(&mut self, by: usize, who: usize) -> MessageId {
        let member = self.sim.key(who);
        let state = self.state(by);
        let (rekey, _) =
            self.keys[by].build_rekey(&mut self.rng, &state, None, &[member]).expect("rekey");
        self.act(by, Body::MemberRemove(MemberRemove { member, rekey: Some(rekey) }))
    }

    /// A plain rekey by `by`.
    fn rotate(&mut self, by: usize) -> MessageId {
        let state = self.state(by);
        let (rekey, unreachable) =
            self.keys[by].build_rekey(&mut self.rng, &state, None, &[]).expect("rekey");
        assert!(unreachable.is_empty(), "every member has a key package: {unreachable:?}");
        self.act(by, Body::Rekey(rekey))
    }

    /// `by` creates a task readable by `roles`, its content sealed.
    fn task(&mut self, by: usize, title: &str, roles: &[&str]) -> (MessageId, [u8; 32], Sealed) {
        let node = &self.sim.nodes[by];
        let seq = node.chain.draft(&node.public(), EpochId::GENESIS, 0, Body::Leave).seq;
        let binding = content_binding(&GROUP, &node.public(), seq);
        let content = TaskContent { title: title.into(), ..TaskContent::default() };
        let readable_by: Vec<String> = roles.iter().map(|r| (*r).to_string()).collect();
        let epoch = self.epoch(by);
        let sealed = self.keys[by]
            .seal_task_content(&mut self.rng, &binding, epoch, &content, &readable_by)
            .expect("seal");
        let body = TaskCreate { readable_by, assignees: vec![], content: sealed.clone() };
        let id = self.act(by, Body::TaskCreate(body));
        assert_eq!(self.sim.nodes[0].fold.verdict(&id), Some(&Verdict::Applied));
        (id, binding, sealed)
    }

    fn chat(&mut self, by: usize, text: &str) -> MessageId {
        self.act(by, Body::Chat(Chat { text: text.into(), reply_to: None }))
    }

    /// Node `who` stops receiving; its messages queue up.
    fn go_offline(&mut self, who: usize) {
        self.offline[who] = true;
    }

    /// Node `who` comes back and receives its backlog as a hostile relay
    /// hands it over: reversed, every message twice, with a tampered copy.
    fn come_back(&mut self, who: usize) {
        self.offline[who] = false;
        let mut backlog = std::mem::take(&mut self.backlog[who]);
        backlog.reverse();
        for bytes in &backlog {
            let mut bad = bytes.clone();
            let bit = self.rng.next_u32() as usize % (bad.len() * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
            self.deliver(who, &bad);
            self.deliver(who, bytes);
            self.deliver(who, bytes);
        }
        self.settle();
    }

    /// The envelopes of messages written after `after` (in writing order).
    fn wire_after(&self, after: &MessageId) -> Vec<&OnWire> {
        let at = self.wire.iter().position(|w| w.id == *after).expect("on the wire");
        self.wire[at + 1..].iter().collect()
    }
}

/// Every epoch secret and role key in `keys`' ring.
fn every_key(keys: &MemberKeys) -> (Vec<EpochSecret>, Vec<RoleKey>) {
    let ring = keys.ring();
    let mut epochs = Vec::new();
    let mut roles = Vec::new();
    for (r, _) in ring.held() {
        match &r {
            KeyRef::Epoch(e) => epochs.extend(ring.epoch_secret(e).cloned()),
            KeyRef::Role(role, e) => roles.extend(ring.role_key(role, e).cloned()),
            KeyRef::KeyPackage(_) => {}
        }
    }
    (epochs, roles)
}

/// Whether any epoch secret of `keys` opens any envelope of `w`.
fn opens_any_envelope(keys: &MemberKeys, w: &OnWire) -> bool {
    let (epochs, _) = every_key(keys);
    epochs.iter().any(|e| {
        let k = e.keys();
        w.envelopes.iter().any(|env| env.open(&k).is_ok())
    })
}

/// Whether any role key of `keys` opens any wrap of `sealed`, or any
/// epoch secret or role key, taken as a content key, opens the ciphertext.
fn opens_sealed(keys: &MemberKeys, binding: &[u8; 32], sealed: &Sealed) -> bool {
    let content = SealedContent::decode(&sealed.0).expect("decodes");
    let (epochs, roles) = every_key(keys);
    let by_role = roles
        .iter()
        .any(|k| content.wraps.iter().any(|w| content.open_wrap(&GROUP, binding, w, k).is_ok()));
    let raw = epochs
        .iter()
        .map(|e| *e.as_bytes())
        .chain(roles.iter().map(|k| *k.as_bytes()))
        .any(|b| ContentKey::from_bytes(b).open(&content, &GROUP, binding).is_ok());
    by_role || raw || keys.open_task_content(binding, sealed).is_ok()
}

/// Five members: 0 steward, 1 and 4 coordinators, 2 contributor, 3
/// observer; every admission carries its rekey; 4 got the coordinator key
/// by a grant from 1.
fn five(seed: &[u8]) -> World {
    let mut w = World::new(seed, 6);
    w.admit(0, 1, &["coordinator"]);
    w.admit(0, 2, &["contributor"]);
    w.admit(0, 3, &["observer"]);
    w.admit(0, 4, &["coordinator"]);
    assert!(w.sim.converged());
    for i in 0..5 {
        assert!(w.keys[i].ring().epoch_secret(&w.epoch(i)).is_some(), "node {i}");
    }
    let coord =
        |w: &World, i: usize| w.keys[i].ring().role_key("coordinator", &w.epoch(0)).cloned();
    assert!(coord(&w, 1).is_some() && coord(&w, 1) == coord(&w, 4), "4 got 1's key by a grant");
    w
}

#[test]
fn a_removed_member_cannot_decrypt_anything_after_the_removal() {
    let mut w = five(b"removed");
    let (_, before_binding, before) = w.task(2, "before", &["contributor"]);
    assert!(w.keys[2].open_task_content(&before_binding, &before).is_ok(), "2 read it before");
    let removal = w.remove(0, 2);
    assert_eq!(w.sim.nodes[2].fold.verdict(&removal), Some(&Verdict::Applied));
    // 2 keeps receiving everything the relay carries.
    w.chat(0, "after the removal");
    let (_, b1, s1) = w.task(4, "for coordinators too", &["coordinator"]);
    let (_, b2, s2) = w.task(1, "for coordinators", &["coordinator"]);
    w.rotate(0);
    w.chat(3, "and after a rotation");
    let after = w.wire_after(&removal);
    assert!(after.len() >= 5, "messages after the removal are on the wire");
    for m in &after {
        assert!(!opens_any_envelope(&w.keys[2], m), "removed member opened {:?}", m.id);
        assert!(opens_any_envelope(&w.keys[1], m), "a member opens {:?}", m.id);
    }
    for (b, s) in [(&b1, &s1), (&b2, &s2)] {
        assert!(!opens_sealed(&w.keys[2], b, s), "removed member opened sealed content");
    }
    assert!(w.keys[1].open_task_content(&b1, &s1).is_ok());
    assert!(w.keys[4].open_task_content(&b2, &s2).is_ok());
    // The removal itself was posted under the epoch 2 still held.
    let removal_wire = w.wire.iter().find(|m| m.id == removal).expect("on the wire");
    assert!(opens_any_envelope(&w.keys[2], removal_wire));
    // Its own key-package secrets open no wrap of any rekey after it,
    // whichever recipient id it claims.
    let kps: Vec<KeyPackageSecret> = w.keys[2]
        .ring()
        .held()
        .iter()
        .filter_map(|(r, _)| match r {
            KeyRef::KeyPackage(k) => w.keys[2].ring().key_package(k).cloned(),
            _ => None,
        })
        .collect();
    assert!(!kps.is_empty());
    let rekeys = rekeys_after(&w, &removal, true);
    assert_eq!(rekeys.len(), 2, "the removal's rekey and the rotation");
    for r in &rekeys {
        for wrap in &r.wraps {
            for s in &kps {
                assert!(r.open(&GROUP, &wrap.to, s).is_err(), "a removed member opened a wrap");
            }
        }
    }
}

/// The rekeys carried by `from` (if `inclusive`) and the messages after it.
fn rekeys_after(w: &World, from: &MessageId, inclusive: bool) -> Vec<Rekey> {
    let at = w.sim.log.iter().position(|b| id_of(b) == *from).expect("logged");
    let start = if inclusive { at } else { at + 1 };
    w.sim.log[start..]
        .iter()
        .filter_map(|b| w.sim.nodes[0].chain.entry(&id_of(b)))
        .filter_map(|e| carried(e.message()).cloned())
        .collect()
}

#[test]
fn a_rekey_wrapping_for_a_removed_member_is_not_adopted_and_opens_nothing_for_it() {
    let mut w = five(b"dropped");
    let c = w.sim.key(2);
    // A rotator wraps the removal's rekey to the removed member too.
    let state = w.state(0);
    let (rekey, _) = w.keys[0].build_rekey(&mut w.rng, &state, None, &[]).expect("rekey");
    let removal = w.act(0, Body::MemberRemove(MemberRemove { member: c, rekey: Some(rekey) }));
    let verdict = w.sim.nodes[1].fold.verdict(&removal).cloned();
    assert_eq!(verdict, Some(Verdict::RekeyDropped(Refusal::WrapsForNonMember(c))));
    // Nobody moved into it, so 2 gets nothing from having been wrapped to.
    assert_ne!(w.epoch(1), EpochId(removal.0));
    assert!(w.keys[2].ring().epoch_secret(&EpochId(removal.0)).is_none());
    assert!(w.keys[1].ring().epoch_secret(&EpochId(removal.0)).is_none());
    // Any member heals with a plain rekey to exactly the members: the
    // removed member's key-package secrets open none of its wraps.
    let heal = w.rotate(0);
    assert_eq!(w.epoch(0), EpochId(heal.0));
    let rekey = rekeys_after(&w, &heal, true).remove(0);
    for (r, _) in w.keys[2].ring().held() {
        let KeyRef::KeyPackage(k) = r else { continue };
        let s = w.keys[2].ring().key_package(&k).expect("held");
        assert!(rekey.wraps.iter().all(|wrap| rekey.open(&GROUP, &wrap.to, s).is_err()));
    }
    let after = w.chat(0, "healed");
    let m = w.wire.iter().find(|m| m.id == after).expect("on the wire");
    assert!(!opens_any_envelope(&w.keys[2], m));
}

/// Read-down (`keys.md`, "Who holds which key"): the steward, whose role
/// reads `coordinator`, opens a task sealed to `coordinator` without
/// holding it; the contributor and the observer, whose roles do not read
/// it, do not.
#[test]
fn a_member_without_role_r_cannot_decrypt_r_scoped_tasks() {
    let mut w = five(b"roles");
    let (_, binding, sealed) = w.task(1, "coordinators only", &["coordinator"]);
    for reader in [1, 4, 0] {
        let c = w.keys[reader].open_task_content(&binding, &sealed).expect("a reader reads");
        assert_eq!(c.title, "coordinators only");
    }
    for outsider in [2, 3] {
        assert!(!opens_sealed(&w.keys[outsider], &binding, &sealed), "node {outsider}");
    }
    // Revoked from 4, who stays: the steward, the role's key holder (its
    // reader admitted earliest), draws a fresh key and grants it to the
    // other readers; 4 reads nothing sealed after.
    let state = w.state(0);
    let (rekey, _) = w.keys[0].build_rekey(&mut w.rng, &state, None, &[]).expect("rekey");
    let member = w.sim.key(4);
    let revoke = RoleRevoke { member, role: "coordinator".into(), rekey: Some(rekey) };
    let id = w.act(0, Body::RoleRevoke(revoke));
    assert_eq!(w.sim.nodes[4].fold.verdict(&id), Some(&Verdict::Applied));
    assert!(
        w.seen[0].contains(&KeyEvent::RoleKeyReplaced {
            role: "coordinator".into(),
            epoch: EpochId(id.0)
        })
    );
    let e = w.epoch(4);
    assert!(w.keys[4].ring().epoch_secret(&e).is_some(), "4 stays in the epoch");
    let (_, b2, s2) = w.task(1, "after the revocation", &["coordinator"]);
    assert!(w.keys[1].open_task_content(&b2, &s2).is_ok());
    assert!(!opens_sealed(&w.keys[4], &b2, &s2), "the revoked holder reads nothing new");
    // The ratchet would have given it the key: the replacement is random.
    let old = w.keys[4].ring().role_key("coordinator", &state.epoch.id).cloned();
    let ratcheted =
        old.map(|k| k.ratchet(w.keys[4].ring().epoch_secret(&e).expect("e"), "coordinator"));
    assert_ne!(ratcheted.as_ref(), w.keys[1].ring().role_key("coordinator", &e));
}

#[test]
fn a_member_offline_through_a_rekey_still_gets_in() {
    let mut w = five(b"offline");
    w.go_offline(2);
    w.now += DAY;
    let r1 = w.rotate(0);
    w.chat(1, "in the first new epoch");
    w.now += 3 * DAY;
    let r2 = w.rotate(0);
    let last = w.chat(0, "in the second");
    // Much later (well past the grace period) it gets the backlog.
    w.now += 30 * DAY;
    w.keys[2].erase_expired(w.now, DEFAULT_GRACE_SECS);
    w.come_back(2);
    assert!(w.sim.converged());
    assert_eq!(w.epoch(2), EpochId(r2.0));
    for r in [r1, r2] {
        let entered = KeyEvent::EpochEntered { epoch: EpochId(r.0), missing_roles: vec![] };
        assert!(w.seen[2].contains(&entered), "{:?}", w.seen[2]);
    }
    let m = w.wire.iter().find(|m| m.id == last).expect("on the wire");
    assert!(opens_any_envelope(&w.keys[2], m));
    let (_, b, s) = w.task(2, "for contributors", &["contributor"]);
    assert_eq!(w.keys[2].open_task_content(&b, &s).expect("reads").title, "for contributors");
}

#[test]
fn a_wrap_that_does_not_open_is_reported() {
    let mut w = five(b"split");
    // A rotator gives member 2 another secret than it confirms for all.
    let state = w.state(0);
    let (mut rekey, _) = w.keys[0].build_rekey(&mut w.rng, &state, None, &[]).expect("rekey");
    let kid = state.members[&w.sim.key(2)].key_package.expect("kp");
    let wrap = rekey.wraps.iter_mut().find(|x| x.to == kid).expect("wrapped to 2");
    wrap.sealed[40] ^= 1;
    let id = w.act(0, Body::Rekey(rekey));
    let failed =
        KeyEvent::RekeyDoesNotOpen { epoch: EpochId(id.0), error: RekeyError::WrapDoesNotOpen };
    assert!(w.seen[2].contains(&failed), "{:?}", w.seen[2]);
    assert!(w.seen[1].iter().any(|e| matches!(e, KeyEvent::EpochEntered { .. })));
    assert_eq!(
        w.sim.nodes[2].fold.verdict(&id),
        Some(&Verdict::Applied),
        "the state is unaffected"
    );
}

#[test]
fn a_joiner_reads_from_the_join_on() {
    let mut w = five(b"joiner");
    let early = w.chat(0, "before the join");
    let (task, binding, sealed) = w.task(1, "open task", &["coordinator"]);
    let join = w.admit(0, 5, &["coordinator"]);
    let e = EpochId(join.0);
    assert_eq!(w.epoch(5), e);
    // 1 (the earliest coordinator) granted the key of the join's epoch.
    assert!(
        w.seen[5].contains(&KeyEvent::RoleKeyReceived { role: "coordinator".into(), epoch: e })
    );
    assert!(w.keys[5].open_task_content(&binding, &sealed).is_err(), "sealed before the join");
    // A holder re-wraps the open task's content for the current epoch.
    let rewrapped =
        w.keys[1].rewrap_task_content(&mut w.rng, &binding, &sealed, e).expect("rewrap");
    let edit =
        TaskEdit { task, readable_by: vec!["coordinator".into()], content: rewrapped.clone() };
    let id = w.act(1, Body::TaskEdit(edit));
    assert_eq!(w.sim.nodes[5].fold.verdict(&id), Some(&Verdict::Applied));
    let c = w.keys[5].open_task_content(&binding, &rewrapped).expect("the joiner reads it");
    assert_eq!(c.title, "open task");
    // Earlier chat: no key it holds opens its envelopes.
    let m = w.wire.iter().find(|m| m.id == early).expect("on the wire");
    assert!(!opens_any_envelope(&w.keys[5], m));
    assert!(opens_any_envelope(&w.keys[1], m));
    let later = w.chat(2, "after the join");
    let m = w.wire.iter().find(|m| m.id == later).expect("on the wire");
    assert!(opens_any_envelope(&w.keys[5], m));
}

#[test]
fn a_grant_by_a_non_holder_is_refused() {
    let mut w = five(b"grant");
    // Observer 3 tries to hand out a coordinator key it made up.
    let state = w.state(3);
    let kid = state.members[&w.sim.key(2)].key_package.expect("kp");
    let kp = w.keys[3].packages.get(&kid).cloned().expect("known");
    let fake = RoleKey::random(&mut w.rng);
    let grant = RoleKeyGrant::build(
        &mut w.rng,
        &GROUP,
        "coordinator",
        state.epoch.id,
        &fake,
        &[(kid, &kp)],
    )
    .expect("grant");
    let before = w.sim.hashes();
    let id = w.act(3, Body::RoleKeyGrant(grant));
    let refused = Verdict::Refused(Refusal::GrantByNonHolder("coordinator".into()));
    for i in 0..5 {
        assert_eq!(w.sim.nodes[i].fold.verdict(&id), Some(&refused), "node {i}");
    }
    assert_eq!(w.sim.hashes(), before);
    assert!(w.keys[2].ring().role_key("coordinator", &state.epoch.id).is_none());
    // A holder's grant is applied.
    let assign = RoleAssign { member: w.sim.key(2), role: "coordinator".into() };
    w.act(0, Body::RoleAssign(assign));
    let e = w.epoch(2);
    assert_eq!(
        w.keys[2].ring().role_key("coordinator", &e),
        w.keys[1].ring().role_key("coordinator", &e),
        "1 granted the real key after the assignment"
    );
}

/// Every file under `dir`, and the plaintext of every slot of a secrets
/// file among them opened with the profile's storage key: what someone who
/// seizes the device *and* learns the passphrase reads.
fn haystack(dir: &Path, passphrase: &[u8]) -> Vec<u8> {
    let key_file = std::fs::read(dir.join("profile.key")).expect("key file");
    let storage = KeyFile::open(&key_file, passphrase).expect("passphrase").storage_key;
    let secrets_key =
        AeadKey::from_bytes(*derive_key(context::STORAGE_SECRETS, storage.as_bytes()));
    let mut out = Vec::new();
    for bytes in raw_files(dir) {
        out.extend_from_slice(&bytes);
        // Slot i at (i + 1) * 512: nonce ‖ record (298) ‖ tag (store.md).
        for (i, slot) in bytes.chunks(512).skip(1).enumerate() {
            if let Ok(plain) =
                secrets_key.open(&slot[..slot.len().min(338)], &(i as u64).to_le_bytes())
            {
                out.extend_from_slice(&plain);
            }
        }
    }
    out
}

/// The bytes of every file under `dir`, recursively.
fn raw_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let path = e.expect("entry").path();
        if path.is_dir() {
            out.extend(raw_files(&path));
        } else {
            out.push(std::fs::read(&path).expect("read"));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8; 32]) -> bool {
    hay.windows(32).any(|w| w == needle)
}

#[test]
fn forward_secrecy_after_the_grace_period() {
    let mut w = five(b"forward");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("profile");
    const PW: &[u8] = b"forward secrecy";
    let mut profile =
        Profile::create(&dir, PW, KdfParams::MIN, XofRng::from_seed(b"fs")).expect("profile");
    w.keys[1].save(profile.store_mut()).expect("save");
    // Three rekeys later, the old material of member 1 is superseded.
    let first = w.epoch(1);
    let old_epoch = *w.keys[1].ring().epoch_secret(&first).expect("epoch").as_bytes();
    let old_role = *w.keys[1].ring().role_key("coordinator", &first).expect("role").as_bytes();
    let used_kp: Vec<[u8; 32]> = (w.keys[1].ring().held().iter())
        .filter_map(|(r, _)| match r {
            KeyRef::KeyPackage(k) => w.keys[1].ring().key_package(k).map(|s| *s.as_bytes()),
            _ => None,
        })
        .collect();
    for by in [0, 0, 0] {
        w.now += DAY;
        w.rotate(by);
    }
    w.keys[1].save(profile.store_mut()).expect("save");
    let current = *w.keys[1].ring().epoch_secret(&w.epoch(1)).expect("current").as_bytes();
    let mut needles = vec![("old epoch secret", old_epoch), ("old role key", old_role)];
    needles.extend(used_kp.iter().map(|k| ("used key-package secret", *k)));
    // Before the grace period: everything is still there (the scan works).
    let hay = haystack(&dir, PW);
    for (what, n) in &needles {
        assert!(contains(&hay, n), "{what} should still be stored");
    }
    assert!(contains(&hay, &current));
    // No secret ever reaches a file unsealed.
    let raw: Vec<u8> = raw_files(&dir).into_iter().flatten().collect();
    for (what, n) in &needles {
        assert!(!contains(&raw, n), "{what} in the clear on disk");
    }
    assert!(!contains(&raw, &current), "the current secret in the clear on disk");
    // After it, and a save: gone from every byte of every file.
    let erased = w.keys[1].erase_expired(w.now + DEFAULT_GRACE_SECS, DEFAULT_GRACE_SECS);
    assert!(erased.epochs >= 3 && erased.role_keys >= 3 && erased.key_packages >= 1, "{erased:?}");
    w.keys[1].save(profile.store_mut()).expect("save");
    drop(profile);
    let hay = haystack(&dir, PW);
    for (what, n) in &needles {
        assert!(!contains(&hay, n), "{what} survived erasure");
    }
    assert!(contains(&hay, &current), "current material is kept");
    // What is left loads back and still works.
    let profile = Profile::open(&dir, PW, XofRng::from_seed(b"reopen")).expect("reopen");
    let loaded = MemberKeys::load(profile.store(), GROUP).expect("load").expect("saved");
    let e = w.epoch(1);
    assert_eq!(loaded.ring().epoch_secret(&e), w.keys[1].ring().epoch_secret(&e));
    assert!(loaded.ring().epoch_secret(&first).is_none());
    let (_, b, s) = w.task(4, "after reload", &["coordinator"]);
    assert_eq!(loaded.open_task_content(&b, &s).expect("reads").title, "after reload");
}

#[test]
fn member_keys_round_trip_through_a_store() {
    let w = five(b"store");
    let mut store = MemoryStore::new();
    assert!(MemberKeys::load(&store, GROUP).expect("load").is_none());
    w.keys[4].save(&mut store).expect("save");
    let back = MemberKeys::load(&store, GROUP).expect("load").expect("saved");
    assert_eq!(back.ring().encode(), w.keys[4].ring().encode());
    assert_eq!(back.me(), w.keys[4].me());
}

mod confinement;
mod read_down;
