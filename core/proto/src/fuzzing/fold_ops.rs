//! Operation sequences against the group fold: members (and a key never
//! admitted) write governance messages citing the heads or backdating to
//! any earlier message; two folds take them in different causal orders.
//! Checked: no panic, byte-equal states and equal verdicts (convergence),
//! nothing of the never-admitted key held (bounded cost).

use crate::chain::{ChainEvent, ChainState, Entry};
use crate::crypto::{PublicKey, SigningKey};
use crate::group::{Fold, templates};
use crate::wire::{
    Body, Chat, EpochId, Genesis, GroupId, MemberAdd, MemberRemove, MessageId, RoleAssign,
    RoleRevoke, RuleChange, UnsignedMessage,
};

const GROUP: GroupId = GroupId([0x61; 32]);
const MAX_OPS: usize = 24;
/// Four members (0 founds, admits 1 and 2 as coordinators, 3 as
/// contributor) and key 4, never admitted.
const KEYS: usize = 5;
const ROLES: [&str; 3] = ["steward", "coordinator", "contributor"];

struct World {
    keys: Vec<SigningKey>,
    /// Holds everything written: the writers' shared view.
    view: ChainState,
    written: Vec<(MessageId, Vec<u8>)>,
    genesis: MessageId,
}

impl World {
    fn new() -> Self {
        let keys: Vec<SigningKey> =
            (0..KEYS as u8).map(|i| SigningKey::from_bytes([i + 0x31; 32])).collect();
        let rules = templates::pursuance();
        let body = Body::Genesis(Genesis { name: "fuzz".into(), rules: rules.encode() });
        let view = ChainState::new(GROUP);
        let m = view.draft(&keys[0].public(), EpochId::GENESIS, 0, body);
        let genesis = m.clone().sign(&keys[0]).id();
        let mut w = World { keys, view, written: Vec::new(), genesis };
        w.sign(0, m);
        for (who, role) in [(1, "coordinator"), (2, "coordinator"), (3, "contributor")] {
            let member = w.keys[who].public();
            let add = MemberAdd { member, roles: vec![role.into()], rekey: None, invite: None };
            w.write(0, Body::MemberAdd(add), None);
        }
        w
    }

    fn epoch(&self) -> EpochId {
        EpochId(self.genesis.0)
    }

    /// `who` writes `body` citing the heads, or (`back`) only its own
    /// previous message and that earlier message.
    fn write(&mut self, who: usize, body: Body, back: Option<MessageId>) {
        let mut m = self.view.draft(&self.keys[who].public(), self.epoch(), 0, body);
        if let Some(old) = back {
            let mut parents: Vec<MessageId> = m.prev.into_iter().chain([old]).collect();
            parents.sort();
            parents.dedup();
            let lamport = |p: &MessageId| self.view.entry(p).map(|e| e.message().lamport + 1);
            m.lamport = parents.iter().filter_map(lamport).max().unwrap_or(0);
            m.parents = parents;
        }
        self.sign(who, m);
    }

    fn sign(&mut self, who: usize, m: UnsignedMessage) {
        let signed = m.sign(&self.keys[who]);
        let (id, bytes) = (signed.id(), signed.encode());
        if deliver(&mut self.view, None, &bytes) {
            self.written.push((id, bytes));
        }
    }

    /// A member's key (never key 4: it stays outside).
    fn member(&self, i: usize) -> PublicKey {
        self.keys[i % (KEYS - 1)].public()
    }

    fn body(&self, kind: u8, x: usize) -> Body {
        let member = self.member(x);
        let role = ROLES[x % ROLES.len()].to_string();
        match kind % 7 {
            0 => Body::Chat(Chat { text: format!("{x}"), reply_to: None }),
            1 => Body::MemberRemove(MemberRemove { member, rekey: None }),
            2 => Body::RoleRevoke(RoleRevoke { member, role, rekey: None }),
            3 => Body::RoleAssign(RoleAssign { member, role }),
            4 => {
                Body::MemberAdd(MemberAdd { member, roles: vec![role], rekey: None, invite: None })
            }
            5 => {
                let mut rules = templates::pursuance();
                rules.newcomer = Some(role);
                Body::RuleChange(RuleChange { rules: rules.encode() })
            }
            _ => Body::Leave,
        }
    }
}

/// Ingests `bytes` into `chain` and, if given, `fold`; whether the chain
/// took it (accepted now or pending).
fn deliver(chain: &mut ChainState, mut fold: Option<&mut Fold>, bytes: &[u8]) -> bool {
    let Ok(entry) = Entry::decode(bytes.to_vec()).and_then(Entry::verify) else { return false };
    let genesis = matches!(entry.message().body, Body::Genesis(_));
    let epoch = if genesis { EpochId(entry.id().0) } else { entry.message().epoch };
    let mut took = false;
    for event in chain.ingest(entry, epoch) {
        match event {
            ChainEvent::Accepted(e) => {
                took = true;
                if let Some(f) = fold.as_deref_mut() {
                    drop(f.insert_entry(&e));
                }
            }
            ChainEvent::Equivocation(p) => {
                if let Some(f) = fold.as_deref_mut() {
                    drop(f.equivocation(p.author(), p.first.message.seq));
                }
            }
            _ => {}
        }
    }
    took
}

/// Folds `order` (indexes into `written`) into a fresh fold.
fn fold_in(w: &World, order: impl Iterator<Item = usize>) -> Fold {
    let (mut chain, mut fold) = (ChainState::new(GROUP), Fold::new(GROUP, w.genesis));
    for i in order {
        deliver(&mut chain, Some(&mut fold), &w.written[i].1);
    }
    fold
}

/// Three bytes an operation: author, body kind and target, parent choice
/// (0: the heads; else backdate to an earlier message).
pub fn fold_ops(data: &[u8]) {
    let mut w = World::new();
    for op in data.chunks_exact(3).take(MAX_OPS) {
        let who = op[0] as usize % KEYS;
        let body = w.body(op[1] >> 4, op[1] as usize & 0x0f);
        let back = (op[2] != 0).then(|| w.written[op[2] as usize % w.written.len()].0);
        w.write(who, body, back);
    }
    let n = w.written.len();
    let forward = fold_in(&w, 0..n);
    // Reversed delivery: the chain holds each message until its parents come.
    let backward = fold_in(&w, (0..n).rev());
    assert_eq!(forward.state_hash(), backward.state_hash(), "delivery order changed the state");
    assert_eq!(forward.state(), backward.state());
    let stranger = w.keys[KEYS - 1].public();
    for (id, bytes) in &w.written {
        assert_eq!(forward.verdict(id), backward.verdict(id), "verdicts differ");
        let never = Entry::decode(bytes.clone()).is_ok_and(|e| e.message().author == stranger);
        assert!(!(never && forward.holds(id)), "a key never admitted was kept");
    }
}
