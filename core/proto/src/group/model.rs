//! An exhaustive model check of small scopes, driving the real [`Fold`].
//!
//! Five keys: `A` and `B` peer admins (each may remove the other), `C` a
//! moderator (change-rules, invite, remove; manages `member`, less than an
//! admin), `M` a member and `P` an outsider nobody has admitted. A fixed
//! prefix (genesis; A admits B as the newcomer role `admin`; B announces a
//! key package, then stays silent: its `old`; A makes `member` the
//! newcomer role; A admits C and M; A, C and M announce key packages),
//! then every sequence of up to `depth` actions. Each action is an author,
//! a body (removal, revocation, assignment, admission of P with or without
//! a carried rekey, fresh or naming the previous epoch, rule change
//! setting the newcomer role to the top role or deleting a role, plain
//! rekey, chat; P only chats) and a parent choice: every current head, or
//! the author's own previous message alone, or it plus any single older
//! message (backdating). Bodies illegal in the author's own view (the fold
//! of the parents it cites) are skipped, except P's chat (a sybil).
//!
//! Each distinct message set is a state (deduplicated by its ids). For
//! each, every causal delivery order of the actions (all linear
//! extensions, after the prefix) is fed to a fresh fold, with containment
//! and finality checked after every message; then the state-level
//! invariants and convergence across the orders. The report gives the
//! number of states and transitions and, per invariant, the shortest trace
//! breaking it.
//!
//! The CI scope has depth 2 and backdating cites the author's own previous
//! message alone or with one later message (the last prefix message or an
//! action). `CAIRN_MODEL_SCOPE=full` lets backdating cite any prefix
//! message and chats backdate too (about 3 minutes in a debug build);
//! `CAIRN_MODEL_DEPTH=n` sets the depth (each step multiplies the states
//! by about 200: depth 3 takes hours).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;

use super::invariants::{
    ENFORCED, Finality, History, Invariant, Violation, Written, containment, convergence, kind,
    settled_by_rule, settled_set, short, state_level, verdicts, who,
};
use super::sim::{GROUP, id_of};
use super::{Fold, GroupState, Rules, authorize};
use crate::crypto::{PublicKey, SigningKey, XofRng};
use crate::epoch::{EpochSecret, KeyPackage, KeyPackageId, Rekey};
use crate::wire::{
    Body, Chat, EpochId, Genesis, MESSAGE_VERSION, MemberAdd, MemberRemove, MessageId, RoleAssign,
    RoleRevoke, RuleChange, UnsignedMessage,
};

/// The model's rules: two admin peers, a moderator below them, members.
pub(super) const RULES: &str = r#"founder = "admin"
newcomer = "member"
recovery = "nobody"
[roles.admin]
powers = ["chat", "invite", "remove", "change-rules", "rotate-keys"]
reads = ["admin", "mod", "member"]
manages = ["mod", "member"]
[roles.mod]
powers = ["chat", "invite", "remove", "change-rules"]
reads = ["mod", "member"]
manages = ["member"]
[roles.member]
powers = ["chat"]
reads = ["member"]
"#;

/// The actors, by index.
pub(super) const NAMES: [&str; 5] = ["A", "B", "C", "M", "P"];
pub(super) const A: usize = 0;
pub(super) const B: usize = 1;
pub(super) const C: usize = 2;
pub(super) const M: usize = 3;
pub(super) const P: usize = 4;

/// How far to look.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scope {
    /// Actions after the prefix.
    pub(super) depth: usize,
    /// Chats may backdate too (else they cite the heads).
    pub(super) chat_backdates: bool,
    /// At most this many delivery orders per state.
    pub(super) max_orders: usize,
    /// Backdating may cite any prefix message (else only the last one and
    /// the author's own previous message).
    pub(super) backdate_into_prefix: bool,
}

impl Scope {
    /// The CI scope, or the full one with `CAIRN_MODEL_SCOPE=full`.
    pub(super) fn from_env() -> Self {
        let full = std::env::var("CAIRN_MODEL_SCOPE").is_ok_and(|s| s == "full");
        let mut scope = if full {
            Scope { depth: 2, chat_backdates: true, max_orders: 720, backdate_into_prefix: true }
        } else {
            Scope { depth: 2, chat_backdates: false, max_orders: 720, backdate_into_prefix: false }
        };
        let depth = std::env::var("CAIRN_MODEL_DEPTH").ok().and_then(|d| d.parse().ok());
        scope.depth = depth.unwrap_or(scope.depth);
        scope
    }
}

/// The keys and their key packages.
pub(super) struct World {
    pub(super) keys: Vec<SigningKey>,
    kps: Vec<(KeyPackageId, KeyPackage)>,
    pub(super) rules: Rules,
}

impl World {
    pub(super) fn new() -> Self {
        let mut rng = XofRng::from_seed(b"cairn model");
        let keys: Vec<SigningKey> = NAMES.iter().map(|_| SigningKey::random(&mut rng)).collect();
        let kps = keys
            .iter()
            .map(|k| {
                let (kp, _secret) = KeyPackage::generate(GROUP, &mut rng);
                (KeyPackageId::owned_by(&k.public(), &kp), kp)
            })
            .collect();
        let rules = Rules::from_toml(RULES).unwrap_or_else(|e| panic!("model rules: {e}"));
        Self { keys, kps, rules }
    }

    pub(super) fn key(&self, who: usize) -> PublicKey {
        self.keys[who].public()
    }

    /// Replaces key prefixes in `text` by actor names.
    pub(super) fn names(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (i, k) in self.keys.iter().enumerate() {
            out = out.replace(&who(&k.public()), NAMES[i]);
        }
        out
    }

    /// Signs `author`'s next message citing `chosen` (an antichain) and its
    /// own previous message.
    pub(super) fn write(
        &self,
        h: &History,
        author: usize,
        chosen: &[MessageId],
        body: Body,
    ) -> Written {
        let me = self.key(author);
        let own: Vec<&Written> = h.iter().filter(|w| w.msg.author == me).collect();
        let prev = own.last().map(|w| w.id);
        let mut parents: Vec<MessageId> = chosen.iter().copied().chain(prev).collect();
        parents.sort();
        parents.dedup();
        let lamport =
            parents.iter().filter_map(|p| h.get(p)).map(|w| w.msg.lamport + 1).max().unwrap_or(0);
        let msg = UnsignedMessage {
            version: MESSAGE_VERSION,
            group: GROUP,
            epoch: EpochId::GENESIS,
            author: me,
            seq: own.len() as u64,
            prev,
            parents,
            lamport,
            minute: 0,
            body,
        };
        let bytes = msg.clone().sign(&self.keys[author]).encode();
        Written { id: id_of(&bytes), msg }
    }

    /// The fixed prefix, with a name for each message.
    pub(super) fn prefix(&self) -> (History, BTreeMap<MessageId, &'static str>) {
        let mut h = History::default();
        let mut names = BTreeMap::new();
        // No role manages `admin`: A admits its peer as the newcomer role,
        // then sets the newcomer role to `member`.
        let mut first = self.rules.clone();
        first.newcomer = Some("admin".into());
        let genesis = Body::Genesis(Genesis { name: "model".into(), rules: first.encode() });
        let rules = Body::RuleChange(RuleChange { rules: self.rules.encode() });
        let steps: Vec<(&'static str, usize, Body)> = vec![
            ("genesis", A, genesis),
            ("addB", A, self.add(B, "admin", None)),
            ("old", B, self.key_package(B)),
            ("rules", A, rules),
            ("addC", A, self.add(C, "mod", None)),
            ("addM", A, self.add(M, "member", None)),
            ("kpA", A, self.key_package(A)),
            ("kpC", C, self.key_package(C)),
            ("kpM", M, self.key_package(M)),
        ];
        for (name, author, body) in steps {
            let w = self.write(&h, author, &heads(&h), body);
            names.insert(w.id, name);
            h.push(w);
        }
        (h, names)
    }

    pub(super) fn key_package(&self, who: usize) -> Body {
        Body::KeyPackage(self.kps[who].1.clone())
    }

    pub(super) fn add(&self, who: usize, role: &str, rekey: Option<Rekey>) -> Body {
        Body::MemberAdd(MemberAdd {
            member: self.key(who),
            roles: vec![role.into()],
            rekey,
            invite: None,
        })
    }

    /// A rekey of `replaces` wrapped to the key packages of `to`.
    pub(super) fn rekey(&self, replaces: EpochId, to: &[usize]) -> Rekey {
        let mut rng = XofRng::from_seed(&[&replaces.0[..], &[to.len() as u8]].concat());
        let refs: Vec<(KeyPackageId, &KeyPackage)> =
            to.iter().map(|i| (self.kps[*i].0, &self.kps[*i].1)).collect();
        let secret = EpochSecret::random(&mut rng);
        Rekey::build(&mut rng, &GROUP, replaces, &secret, &refs)
            .unwrap_or_else(|e| panic!("rekey: {e:?}"))
    }

    /// A re-wrap of `s`'s current epoch to the packages of `to`: the
    /// `replaces` and confirmation of the rekey that made it (the model
    /// keeps no secrets; the fold cannot tell one secret from another).
    fn rewrap(&self, h: &History, s: &GroupState, to: &[usize]) -> Option<Body> {
        let made = h.get(&MessageId(s.epoch.id.0))?;
        let original = super::invariants::rekey_of(&made.msg.body)?;
        let mut rekey = self.rekey(original.replaces, to);
        rekey.confirmation = original.confirmation;
        Some(Body::EpochRewrap(crate::wire::EpochRewrap { epoch: s.epoch.id, rekey }))
    }

    /// Actors who are members of `s` with a key package.
    fn with_packages(&self, s: &GroupState) -> Vec<usize> {
        (0..NAMES.len())
            .filter(|i| s.members.get(&self.key(*i)).is_some_and(|m| m.key_package.is_some()))
            .collect()
    }

    /// Every body `author` might write in its view `s`, with a label.
    fn bodies(&self, h: &History, s: &GroupState, author: usize) -> Vec<(String, Body)> {
        let chat = Body::Chat(Chat { text: "hi".into(), reply_to: None });
        let mut out = vec![("Chat".to_string(), chat)];
        if author == P {
            return out;
        }
        let members: Vec<usize> =
            (0..NAMES.len()).filter(|i| s.members.contains_key(&self.key(*i))).collect();
        for &x in members.iter().filter(|x| **x != author) {
            let member = self.key(x);
            out.push((
                format!("MemberRemove({})", NAMES[x]),
                Body::MemberRemove(MemberRemove { member, rekey: None }),
            ));
            let held = s.members.get(&member).map(|m| m.roles.clone()).unwrap_or_default();
            for role in s.rules.roles.keys() {
                let b = if held.contains(role) {
                    Body::RoleRevoke(RoleRevoke { member, role: role.clone(), rekey: None })
                } else {
                    Body::RoleAssign(RoleAssign { member, role: role.clone() })
                };
                out.push((kind(&b).replace(&who(&member), NAMES[x]), b));
            }
        }
        if !s.members.contains_key(&self.key(P)) {
            let all = self.with_packages(s);
            out.push(("MemberAdd(P, member)".into(), self.add(P, "member", None)));
            out.push(("MemberAdd(P, admin)".into(), self.add(P, "admin", None)));
            let fresh = self.rekey(s.epoch.id, &all);
            out.push(("MemberAdd(P, member) + rekey".into(), self.add(P, "member", Some(fresh))));
            if let Some(previous) = s.epoch.replaces {
                let stale = self.rekey(previous, &[author]);
                let label = "MemberAdd(P, member) + rekey of the previous epoch to its author only";
                out.push((label.into(), self.add(P, "member", Some(stale))));
            }
        }
        let mut top = s.rules.clone();
        top.newcomer = Some("admin".into());
        out.push((
            "RuleChange(newcomer = admin)".into(),
            Body::RuleChange(RuleChange { rules: top.encode() }),
        ));
        let mut fewer = s.rules.clone();
        fewer.roles.remove("member");
        fewer.roles.values_mut().for_each(|r| {
            r.manages.remove("member");
            r.reads.remove("member");
            r.assign_to.remove("member");
        });
        fewer.newcomer = None;
        out.push((
            "RuleChange(delete member)".into(),
            Body::RuleChange(RuleChange { rules: fewer.encode() }),
        ));
        let all = self.with_packages(s);
        out.push(("Rekey".into(), Body::Rekey(self.rekey(s.epoch.id, &all))));
        if let Some(rewrap) = self.rewrap(h, s, &all) {
            out.push(("EpochRewrap(to every member in view)".into(), rewrap));
        }
        let me = self.key(author);
        out.retain(|(_, b)| {
            let m = probe(me, b.clone());
            authorize(s, &m).is_ok()
        });
        out
    }
}

/// A message for `authorize` (which reads only author and body).
fn probe(author: PublicKey, body: Body) -> UnsignedMessage {
    UnsignedMessage {
        version: MESSAGE_VERSION,
        group: GROUP,
        epoch: EpochId::GENESIS,
        author,
        seq: 0,
        prev: None,
        parents: Vec::new(),
        lamport: 0,
        minute: 0,
        body,
    }
}

/// Messages no other message has in its past.
pub(super) fn heads(h: &History) -> Vec<MessageId> {
    h.iter().filter(|w| !h.iter().any(|x| h.in_past(&w.id, &x.id))).map(|w| w.id).collect()
}

/// Every parent choice of `author`: the heads; its previous message alone;
/// it plus any single message not already in its past (from the `skip`th
/// on). As antichains
/// (without the previous message), deduplicated.
fn choices(h: &History, author: &PublicKey, skip: usize) -> Vec<Vec<MessageId>> {
    let prev = h.iter().rev().find(|w| w.msg.author == *author).map(|w| w.id);
    let mut out: Vec<Vec<MessageId>> = vec![heads(h)];
    if prev.is_some() {
        out.push(Vec::new());
    }
    for w in h.iter().skip(skip) {
        let seen = prev.is_some_and(|p| p == w.id || h.in_past(&w.id, &p));
        if !seen && w.msg.author != *author {
            out.push(vec![w.id]);
        }
    }
    let mut seen = BTreeSet::new();
    out.retain(|c| {
        let mut full: Vec<MessageId> = c.iter().copied().chain(prev).collect();
        full.sort();
        full.dedup();
        seen.insert(full)
    });
    out
}

/// The closure of `parents` (they and their pasts).
fn closure(h: &History, parents: &[MessageId], prev: Option<MessageId>) -> BTreeSet<MessageId> {
    let tips: Vec<MessageId> = parents.iter().copied().chain(prev).collect();
    h.iter()
        .filter(|w| tips.iter().any(|t| *t == w.id || h.in_past(&w.id, t)))
        .map(|w| w.id)
        .collect()
}

/// Every linear extension of `msgs` (indices into `h` order), at most `cap`.
fn orders(h: &History, msgs: &[&Written], cap: usize) -> Vec<Vec<usize>> {
    fn go(
        h: &History,
        msgs: &[&Written],
        done: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
        cap: usize,
    ) {
        if out.len() >= cap {
            return;
        }
        if done.len() == msgs.len() {
            out.push(done.clone());
            return;
        }
        for i in 0..msgs.len() {
            if done.contains(&i) {
                continue;
            }
            let ready = (0..msgs.len())
                .all(|j| j == i || done.contains(&j) || !h.in_past(&msgs[j].id, &msgs[i].id));
            if ready {
                done.push(i);
                go(h, msgs, done, out, cap);
                done.pop();
            }
        }
    }
    let mut out = Vec::new();
    go(h, msgs, &mut Vec::new(), &mut out, cap);
    out
}

/// Feeds the prefix, then `actions` in `order`, checking finality and
/// containment after every message.
fn deliver(
    h: &History,
    prefix: usize,
    actions: &[&Written],
    order: &[usize],
    found: &mut Vec<Violation>,
) -> Fold {
    let mut it = h.iter();
    let genesis = h.iter().next().map(|g| g.id).unwrap_or(MessageId([0; 32]));
    let mut fold = Fold::new(GROUP, genesis);
    for w in it.by_ref().take(prefix) {
        fold.insert(w.id, &w.msg);
    }
    let mut fin = Finality::default();
    found.extend(fin.check(&fold, h, &settled_by_rule).err());
    for &i in order {
        let w = actions[i];
        let before = verdicts(&fold, h);
        let settled = settled_set(&fold, h, &settled_by_rule);
        fold.insert(w.id, &w.msg);
        found.extend(containment(&before, &settled, &fold, h, &[w.id]).err());
        found.extend(fin.check(&fold, h, &settled_by_rule).err());
    }
    fold
}

/// Every invariant on message set `h` (prefix plus actions).
fn check(h: &History, prefix: usize, scope: &Scope) -> (Vec<Violation>, usize) {
    let actions: Vec<&Written> = h.iter().skip(prefix).collect();
    let orders = orders(h, &actions, scope.max_orders);
    let mut found = Vec::new();
    let folds: Vec<Fold> =
        orders.iter().map(|o| deliver(h, prefix, &actions, o, &mut found)).collect();
    if let Some(first) = folds.first() {
        found.extend(state_level(first, h));
    }
    let refs: Vec<&Fold> = folds.iter().collect();
    found.extend(convergence(&refs, h).err());
    (found, orders.len())
}

/// What the exploration saw.
#[derive(Default)]
pub(super) struct Report {
    pub(super) states: usize,
    pub(super) transitions: usize,
    pub(super) orders: usize,
    /// The shortest violation of each invariant, with its trace.
    pub(super) found: BTreeMap<Invariant, (Violation, Vec<String>)>,
    pub(super) per_depth: Vec<usize>,
}

impl Report {
    pub(super) fn render(&self, world: &World, scope: &Scope, secs: f64) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "model check: {scope:?}");
        let keys: Vec<String> =
            (0..NAMES.len()).map(|i| format!("{}={}", NAMES[i], who(&world.key(i)))).collect();
        let _ = writeln!(out, "actors: {}", keys.join(" "));
        let _ = writeln!(
            out,
            "{} states (distinct message sets; per depth {:?}), {} transitions, {} delivery orders, {secs:.1} s",
            self.states, self.per_depth, self.transitions, self.orders
        );
        if self.found.is_empty() {
            let _ = writeln!(out, "no violation");
        }
        for (v, trace) in self.found.values() {
            let _ = writeln!(out, "\nVIOLATION {}", world.names(&v.to_string()));
            let _ = writeln!(
                out,
                "  shortest trace (after the prefix genesis, addB, old, rules, addC, addM, kpA, kpC, kpM):"
            );
            for line in trace {
                let _ = writeln!(out, "    {line}");
            }
        }
        out
    }
}

/// One explored state.
struct State {
    h: History,
    ids: Vec<MessageId>,
    trace: Vec<String>,
}

/// Explores every state of `scope`, depth by depth.
pub(super) fn explore(world: &World, scope: &Scope) -> Report {
    let (h, names) = world.prefix();
    let prefix = h.len();
    let mut report = Report::default();
    let (found, n) = check(&h, prefix, scope);
    report.orders += n;
    record(&mut report, found, &[]);
    let mut frontier = vec![State { h, ids: Vec::new(), trace: Vec::new() }];
    let mut seen: HashSet<[u8; 16]> = HashSet::new();
    for depth in 1..=scope.depth {
        let mut next = Vec::new();
        for st in &frontier {
            for author in 0..NAMES.len() {
                let me = world.key(author);
                let prev = st.h.iter().rev().find(|w| w.msg.author == me).map(|w| w.id);
                let skip = if scope.backdate_into_prefix { 0 } else { prefix - 1 };
                for chosen in choices(&st.h, &me, skip) {
                    let view = closure(&st.h, &chosen, prev);
                    let past = super::invariants::refold(&st.h, &view, &BTreeMap::new());
                    let Some(s) = past.state() else { continue };
                    let backdated = chosen != heads(&st.h);
                    for (label, body) in world.bodies(&st.h, s, author) {
                        if backdated
                            && matches!(body, Body::Chat(_))
                            && author != P
                            && !scope.chat_backdates
                        {
                            continue;
                        }
                        report.transitions += 1;
                        let w = world.write(&st.h, author, &chosen, body);
                        let mut ids = st.ids.clone();
                        ids.push(w.id);
                        ids.sort();
                        if !seen.insert(set_key(&ids)) {
                            continue;
                        }
                        let line = describe_step(
                            world, &st.h, &names, depth, author, &label, &w, backdated,
                        );
                        let mut h2 = st.h.clone();
                        h2.push(w);
                        let mut trace = st.trace.clone();
                        trace.push(line);
                        let (found, n) = check(&h2, prefix, scope);
                        report.orders += n;
                        report.states += 1;
                        record(&mut report, found, &trace);
                        if depth < scope.depth {
                            next.push(State { h: h2, ids, trace });
                        }
                    }
                }
            }
        }
        report.per_depth.push(report.states - report.per_depth.iter().sum::<usize>());
        frontier = next;
    }
    report
}

fn set_key(ids: &[MessageId]) -> [u8; 16] {
    let mut hasher = blake3::Hasher::new();
    ids.iter().for_each(|i| {
        hasher.update(&i.0);
    });
    let mut out = [0u8; 16];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    out
}

fn record(report: &mut Report, found: Vec<Violation>, trace: &[String]) {
    for v in found {
        let shorter = report.found.get(&v.invariant).is_none_or(|(_, t)| trace.len() < t.len());
        if shorter {
            report.found.insert(v.invariant, (v, trace.to_vec()));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn describe_step(
    world: &World,
    h: &History,
    names: &BTreeMap<MessageId, &'static str>,
    depth: usize,
    author: usize,
    label: &str,
    w: &Written,
    backdated: bool,
) -> String {
    let name = |id: &MessageId| names.get(id).map_or_else(|| short(id), |n| (*n).to_string());
    let parents: Vec<String> = w.msg.parents.iter().map(name).collect();
    let how = if backdated { "backdated, citing" } else { "citing the heads" };
    let _ = h;
    world.names(&format!(
        "{depth}. {} writes {label} [id {}, lamport {}] {how} {}",
        NAMES[author],
        short(&w.id),
        w.msg.lamport,
        parents.join(", ")
    ))
}

/// The model check: every state of the scope, every invariant after every
/// step. Fails on a violation of an [`ENFORCED`] invariant; prints every
/// violation found (run with `--nocapture` to see the report).
#[test]
#[allow(clippy::disallowed_methods)] // the wall clock, for the report only
fn model_check_small_scopes() {
    let scope = Scope::from_env();
    let world = World::new();
    let start = std::time::Instant::now();
    let report = explore(&world, &scope);
    let secs = start.elapsed().as_secs_f64();
    eprintln!("{}", report.render(&world, &scope, secs));
    let enforced: Vec<String> = report
        .found
        .iter()
        .filter(|(inv, _)| ENFORCED.contains(inv))
        .map(|(_, (v, t))| format!("{}\n{}", world.names(&v.to_string()), t.join("\n")))
        .collect();
    assert!(enforced.is_empty(), "enforced invariants broken:\n{}", enforced.join("\n\n"));
    assert!(report.states > 0);
}
