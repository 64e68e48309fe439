//! Replica tests: members built on real identities and stores, talking only
//! through envelopes (as a relay carries them) and resync pages (as a peer
//! sends them).

use std::collections::BTreeMap;

use super::*;
use crate::crypto::XofRng;
use crate::epoch::KeyRef;
use crate::group::templates;
use crate::identity::MasterSeed;
use crate::store::MemoryStore;
use crate::wire::{Chat, MemberAdd, MemberRemove};

const NOW: u64 = 1_800_000_000;

struct Person {
    id: Identity,
    replica: Replica,
    store: MemoryStore,
}

fn identity(rng: &mut XofRng) -> Identity {
    Identity::from_seed(MasterSeed::random(rng))
}

fn chat(text: &str) -> Body {
    Body::Chat(Chat { text: text.into(), reply_to: None })
}

fn texts(r: &Replica) -> Vec<String> {
    r.fold().chat().iter().map(|(_, _, c)| c.text.clone()).collect()
}

/// Founder plus the envelopes of everything written so far.
struct World {
    rng: XofRng,
    people: Vec<Person>,
    wire: Vec<Envelope>,
}

impl World {
    fn new() -> Self {
        let mut rng = XofRng::from_seed(b"replica tests");
        let id = identity(&mut rng);
        let rules = templates::organizer_member_observer();
        let (replica, written) =
            Replica::found(&mut rng, &id, "bastion", &rules, NOW).expect("step works");
        let mut founder = Person { id, replica, store: MemoryStore::new() };
        founder.replica.persist(&mut founder.store, Batch::new()).expect("step works");
        let wire = written.into_iter().flat_map(|w| w.envelopes).collect();
        World { rng, people: vec![founder], wire }
    }

    fn write(&mut self, who: usize, body: Body) -> Written {
        let p = &mut self.people[who];
        let w = p.replica.write(&mut self.rng, p.id.signing_key(), body, NOW).expect("step works");
        p.replica.persist(&mut p.store, Batch::new()).expect("step works");
        self.wire.extend(w.envelopes.iter().cloned());
        w
    }

    /// `who` reads every envelope on the wire; returns how many opened.
    fn read_wire(&mut self, who: usize) -> usize {
        let p = &mut self.people[who];
        let mut opened = 0;
        for env in &self.wire {
            if p.replica.receive_envelope(&mut self.rng, env, NOW).is_ok() {
                opened += 1;
            }
        }
        p.replica.persist(&mut p.store, Batch::new()).expect("step works");
        opened
    }

    /// `who` resyncs from `from` until nothing is left.
    fn resync(&mut self, who: usize, from: usize) -> usize {
        let mut got = 0;
        loop {
            let have: BTreeMap<_, _> =
                self.people[who].replica.chain().version_vector().as_map().clone();
            let requester = self.people[who].id.public_key();
            let page = {
                let f = &self.people[from];
                f.replica
                    .resync_for(&f.store, &requester, &have, 7)
                    .expect("store reads")
                    .expect("entitled")
            };
            let p = &mut self.people[who];
            for m in page.messages {
                got += 1;
                p.replica.receive_message(&mut self.rng, m, NOW).expect("step works");
            }
            p.replica.persist(&mut p.store, Batch::new()).expect("step works");
            if !page.more {
                return got;
            }
        }
    }

    /// The founder admits a new person as `member`, who resyncs from them.
    fn admit(&mut self) -> usize {
        self.admit_as("member")
    }

    /// `by` admits a new person as `member`, who resyncs from it and
    /// publishes its key package; nobody is asked for the grants owed.
    fn admit_by_without_grants(&mut self, by: usize) -> usize {
        let id = identity(&mut self.rng);
        let genesis = self.people[0].replica.state().expect("state").genesis;
        let group = self.people[0].replica.group();
        let (replica, kp) = Replica::joining(&mut self.rng, id.public_key(), group, genesis);
        let key = id.public_key();
        let (rekey, _) = self.people[by]
            .replica
            .build_rekey(&mut self.rng, Some((&key, &kp)), &[])
            .expect("rekey");
        let add = MemberAdd {
            member: key,
            roles: vec!["member".into()],
            rekey: Some(rekey),
            invite: None,
        };
        self.write(by, Body::MemberAdd(add));
        self.people.push(Person { id, replica, store: MemoryStore::new() });
        let who = self.people.len() - 1;
        self.resync(who, by);
        let kp = self.people[who].replica.publish_key_package().expect("key package");
        self.write(who, kp);
        self.read_wire(by);
        who
    }

    /// The founder admits a new person with `role`, who resyncs from them.
    fn admit_as(&mut self, role: &str) -> usize {
        let id = identity(&mut self.rng);
        let genesis = self.people[0].replica.state().expect("step works").genesis;
        let group = self.people[0].replica.group();
        let (replica, kp) = Replica::joining(&mut self.rng, id.public_key(), group, genesis);
        let me = id.public_key();
        let (rekey, _) = self.people[0]
            .replica
            .build_rekey(&mut self.rng, Some((&me, &kp)), &[])
            .expect("step works");
        let add =
            MemberAdd { member: me, roles: vec![role.into()], rekey: Some(rekey), invite: None };
        self.write(0, Body::MemberAdd(add));
        self.people.push(Person { id, replica, store: MemoryStore::new() });
        let who = self.people.len() - 1;
        self.resync(who, 0);
        // The joiner publishes the key package it gave, so that later
        // rekeys and grants reach it.
        let kp = self.people[who].replica.publish_key_package().expect("step works");
        self.write(who, kp);
        self.read_wire(0);
        // The founder grants the role keys it owes the joiner (it holds or
        // reads every role of the template).
        let grants = self.people[0].replica.key_actions(&mut self.rng, &[], NOW);
        for body in grants {
            self.write(0, body);
        }
        self.read_wire(who);
        who
    }
}

#[test]
fn a_founded_group_has_its_founder_contact_and_key_package() {
    let w = World::new();
    let r = &w.people[0].replica;
    let s = r.state().expect("step works");
    let me = s.members.get(r.me()).expect("step works");
    assert_eq!(me.onion, Some(w.people[0].id.onion_key().public()));
    assert!(me.key_package.is_some());
    assert_eq!(w.wire.len(), 3, "genesis, key package, contact: one envelope each");
    assert_eq!(r.mailboxes(), vec![r.current_mailbox().expect("step works")]);
}

#[test]
fn a_joiner_resyncs_from_a_member_then_reads_the_relay() {
    let mut w = World::new();
    let bob = w.admit();
    assert!(w.people[bob].replica.is_member());
    assert_eq!(w.people[bob].replica.epoch(), w.people[0].replica.epoch());
    w.write(0, chat("hello bob"));
    w.read_wire(bob);
    assert_eq!(texts(&w.people[bob].replica), ["hello bob"]);
    let h = |i: usize| w.people[i].replica.fold().state_hash();
    assert_eq!(h(0), h(bob));
}

#[test]
fn a_removed_member_opens_nothing_new_and_a_peer_sends_it_nothing_new() {
    let mut w = World::new();
    let bob = w.admit();
    let carol = w.admit();
    w.read_wire(bob);
    w.write(bob, chat("before"));
    w.read_wire(0);
    w.read_wire(carol);
    let before_removal = w.wire.len();
    let bob_key = w.people[bob].id.public_key();
    let (rekey, _) =
        w.people[0].replica.build_rekey(&mut w.rng, None, &[bob_key]).expect("step works");
    w.write(0, Body::MemberRemove(MemberRemove { member: bob_key, rekey: Some(rekey) }));
    w.read_wire(carol);
    w.write(carol, chat("after"));
    w.read_wire(0);
    assert_eq!(texts(&w.people[0].replica), ["before", "after"]);

    // Through the relay: no envelope written after the removal opens.
    let later: Vec<Envelope> = w.wire[before_removal + 1..].to_vec();
    assert!(!later.is_empty());
    for env in &later {
        let r = w.people[bob].replica.receive_envelope(&mut w.rng, env, NOW);
        assert!(matches!(r, Err(ReplicaError::UnknownMailbox)), "{r:?}");
    }
    // Through a peer: nothing positioned after the removal.
    let have = BTreeMap::new();
    let founder = &w.people[0];
    let page = founder
        .replica
        .resync_for(&founder.store, &bob_key, &have, 1000)
        .expect("store reads")
        .expect("entitled");
    let ids: Vec<MessageId> =
        page.messages.iter().map(|m| SignedMessage::id_from_encoding(m)).collect();
    let removal = founder.replica.state().expect("step works").former[&bob_key].gone_by;
    assert!(!ids.contains(&removal));
    let holds =
        |text: &[u8]| page.messages.iter().any(|m| m.windows(text.len()).any(|x| x == text));
    assert!(!holds(b"after"), "a message written after the removal was sent");
    assert!(holds(b"before"), "messages before the removal are the member's to have");
}

#[test]
fn a_stranger_is_entitled_to_nothing() {
    let mut w = World::new();
    let stranger = identity(&mut w.rng).public_key();
    let f = &w.people[0];
    let r = f.replica.resync_for(&f.store, &stranger, &BTreeMap::new(), 10).expect("step works");
    assert_eq!(r.expect_err("not entitled"), NotEntitled);
}

#[test]
fn a_reopened_replica_equals_the_one_saved_and_writes_on() {
    let mut w = World::new();
    let bob = w.admit();
    w.write(0, chat("one"));
    w.read_wire(bob);
    let group = w.people[0].replica.group();
    let genesis = w.people[0].replica.state().expect("step works").genesis;
    let p = &w.people[0];
    let reopened = Replica::open(&p.store, group, genesis).expect("step works");
    assert_eq!(reopened.fold().state_hash(), p.replica.fold().state_hash());
    assert_eq!(reopened.mailboxes(), p.replica.mailboxes());
    w.people[0].replica = reopened;
    w.write(0, chat("two"));
    w.read_wire(bob);
    assert_eq!(texts(&w.people[bob].replica), ["one", "two"]);
}

#[test]
fn a_tampered_envelope_is_refused_and_changes_nothing() {
    let mut w = World::new();
    let bob = w.admit();
    let written = w.write(0, chat("intact"));
    let mut bytes = written.envelopes[0].as_bytes().to_vec();
    bytes[1500] ^= 1;
    let bad = Envelope::parse(&bytes).expect("step works");
    let before = w.people[bob].replica.fold().state_hash();
    let r = w.people[bob].replica.receive_envelope(&mut w.rng, &bad, NOW);
    assert!(matches!(r, Err(ReplicaError::Envelope(_))), "{r:?}");
    assert_eq!(w.people[bob].replica.fold().state_hash(), before);
    w.read_wire(bob);
    assert_eq!(texts(&w.people[bob].replica), ["intact"]);
}

/// Reopening trusts the store's signatures (every row is sealed and bound
/// to its slot, `store.md` "Reopening"), but not a row whose bytes are
/// another entry than the one it names.
#[test]
fn a_stored_row_holding_another_entry_is_corrupt_on_reopening() {
    let mut w = World::new();
    w.write(0, chat("one"));
    let p = &mut w.people[0];
    let me = p.id.public_key();
    let group = p.replica.group();
    let genesis = p.replica.state().expect("state").genesis;
    let top = p.store.version_vector(&group.0).expect("reads")[&me];
    let copied = p.store.range(&group.0, &me, top..=top).expect("reads").remove(0);
    let forged = StoredEntry { seq: top + 1, id: [7; 32], ..copied };
    p.store.commit(Batch::new().append(forged)).expect("the store does not check bytes");
    let r = Replica::open(&p.store, group, genesis);
    assert!(matches!(r, Err(ReplicaError::Corrupt(_))), "{r:?}");
}

/// A joiner's first message is the first of its author to see every
/// earlier admission's rekey; having seen everything held, its
/// acknowledgements settle nothing, so the members folding it re-fold
/// nothing. Before, every join re-folded every member's whole history.
#[test]
fn a_joiners_first_message_refolds_nothing_old() {
    let mut w = World::new();
    for _ in 0..4 {
        w.admit();
    }
    for i in 0..40 {
        w.write(0, chat(&format!("history {i}")));
    }
    w.admit();
    let refolded = w.people[0].replica.fold().last_refold_len();
    assert!(refolded <= 2, "the joiner's key package re-folded {refolded} messages");
}

/// Bob's replica as his store holds it (a copy that can be fed again).
fn reopen(w: &mut World, who: usize) -> Replica {
    let p = &w.people[who];
    let genesis = p.replica.state().expect("step works").genesis;
    Replica::open(&p.store, p.replica.group(), genesis).expect("reopens")
}

#[test]
fn a_batch_of_envelopes_does_what_taking_them_one_by_one_does() {
    let mut w = World::new();
    let bob = w.admit();
    let carol = w.admit();
    w.read_wire(bob);
    let bob_saw = w.wire.len();
    w.write(0, chat("one"));
    w.write(carol, chat("two"));
    w.read_wire(0);
    // A removal with a rekey: the envelopes after it are in a mailbox Bob
    // learns only from the removal itself, within the same batch.
    let carol_key = w.people[carol].id.public_key();
    let (rekey, _) =
        w.people[0].replica.build_rekey(&mut w.rng, None, &[carol_key]).expect("step works");
    w.write(0, Body::MemberRemove(MemberRemove { member: carol_key, rekey: Some(rekey) }));
    w.write(0, chat("three"));
    let mut wire = w.wire[bob_saw..].to_vec();
    let mut tampered = wire[1].as_bytes().to_vec();
    tampered[1500] ^= 1;
    wire.insert(2, Envelope::parse(&tampered).expect("parses"));

    let mut one_by_one = reopen(&mut w, bob);
    let mut each = Received::default();
    let mut each_refused = Vec::new();
    for (i, env) in wire.iter().enumerate() {
        match one_by_one.receive_envelope(&mut w.rng, env, NOW) {
            Ok(r) => each.merge(r),
            Err(e) => each_refused.push((i, e.to_string())),
        }
    }
    let mut batched = reopen(&mut w, bob);
    let delivery = batched.receive_envelopes(&mut w.rng, &wire, NOW);
    let refused: Vec<_> = delivery.refused.iter().map(|(i, e)| (*i, e.to_string())).collect();

    assert_eq!(refused, each_refused);
    assert_eq!(refused.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [2]);
    assert_eq!(delivery.received.accepted, each.accepted);
    assert_eq!(delivery.received.key_events.len(), each.key_events.len());
    assert!(each.key_events.iter().any(|e| matches!(e, KeyEvent::EpochEntered { .. })));
    assert_eq!(batched.fold().state_hash(), one_by_one.fold().state_hash());
    assert_eq!(batched.epoch(), w.people[0].replica.epoch());
    assert_eq!(texts(&batched), texts(&one_by_one));
    let mut seen = texts(&batched);
    seen.sort();
    assert_eq!(seen, ["one", "three", "two"]);
}

#[test]
fn a_bad_signature_in_a_resync_page_refuses_that_message_only() {
    let mut w = World::new();
    let bob = w.admit();
    w.write(0, chat("kept"));
    w.write(0, chat("forged"));
    w.write(0, chat("waits for the forged one"));
    let have: BTreeMap<_, _> = w.people[bob].replica.chain().version_vector().as_map().clone();
    let requester = w.people[bob].id.public_key();
    let f = &w.people[0];
    let reply = f.replica.resync_for(&f.store, &requester, &have, 100).expect("reads");
    let mut page = reply.expect("entitled").messages;
    assert_eq!(page.len(), 3);
    let last = page[1].len() - 1;
    page[1][last] ^= 1; // the signature's last byte
    let p = &mut w.people[bob];
    let delivery = p.replica.receive_messages(&mut w.rng, page, NOW);
    let refused: Vec<_> = delivery.refused.iter().map(|(i, e)| (*i, e.to_string())).collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, 1);
    assert_eq!(texts(&p.replica), ["kept"]);
}

#[test]
fn writing_with_another_key_is_refused_and_nothing_is_kept() {
    let mut w = World::new();
    let len = w.people[0].replica.chain().len();
    let other = identity(&mut w.rng);
    let p = &mut w.people[0];
    let r = p.replica.write(&mut w.rng, other.signing_key(), chat("not mine"), NOW);
    assert!(matches!(r, Err(ReplicaError::NotMyKey)), "{r:?}");
    assert_eq!(w.people[0].replica.chain().len(), len);
}

#[test]
fn a_body_the_rules_refuse_is_an_error_and_nothing_is_kept() {
    let mut w = World::new();
    let bob = w.admit();
    let carol_key = identity(&mut w.rng).public_key();
    let len = w.people[bob].replica.chain().len();
    let p = &mut w.people[bob];
    let body = Body::MemberRemove(MemberRemove { member: carol_key, rekey: None });
    let r = p.replica.write(&mut w.rng, p.id.signing_key(), body, NOW);
    assert!(matches!(r, Err(ReplicaError::Refused(_))), "{r:?}");
    assert_eq!(w.people[bob].replica.chain().len(), len);
}

#[test]
fn heads_expose_what_a_replica_lacks() {
    let mut w = World::new();
    let bob = w.admit();
    w.write(0, chat("withheld from bob"));
    let f = &w.people[0];
    let heads = f.replica.heads(&f.store).expect("step works");
    let behind = w.people[bob].replica.behind(&heads);
    let founder = w.people[0].id.public_key();
    assert_eq!(behind.len(), 1);
    assert_eq!(behind[0].0, founder);
    w.read_wire(bob);
    assert!(w.people[bob].replica.behind(&heads).is_empty());
}

#[test]
fn tasks_are_sealed_to_their_roles_and_opened_by_their_readers() {
    let mut w = World::new();
    let bob = w.admit();
    w.read_wire(0);
    w.read_wire(bob);
    let content = crate::group::TaskContent { title: "fix the lock".into(), ..Default::default() };
    let bob_key = w.people[bob].id.public_key();
    let body = {
        let p = &w.people[bob];
        p.replica.task_create_body(&mut w.rng, &content, vec!["member".into()], vec![bob_key], NOW)
    }
    .expect("seal to member");
    let task = w.write(bob, body).id;
    w.read_wire(0);
    let founder = &w.people[0].replica;
    assert_eq!(founder.state().expect("state").tasks[&task].assignees.len(), 1);
    let read = |r: &Replica| r.task_content(&task).map(|c| c.title);
    assert_eq!(read(&w.people[bob].replica).expect("bob reads"), "fix the lock");
    // Sealed to `member` only: the organizer, whose role reads `member`,
    // holds its key without holding the role (read-down).
    assert_eq!(read(&w.people[0].replica).expect("the organizer reads"), "fix the lock");
    let body = {
        let p = &w.people[bob];
        p.replica.task_comment_body(&mut w.rng, task, "on it", None, NOW).expect("comment")
    };
    let comment = w.write(bob, body).id;
    w.read_wire(0);
    assert_eq!(w.people[bob].replica.comment_text(&comment).expect("text"), "on it");
    w.write(bob, Body::TaskClose(crate::wire::TaskRef { task }));
    w.read_wire(0);
    assert!(!w.people[0].replica.state().expect("state").tasks[&task].open);
}

#[test]
fn scenario_6_the_revoked_member_gets_the_new_epoch() {
    let mut w = World::new();
    let bob = w.admit();
    let carol = w.admit();
    w.read_wire(bob);
    w.read_wire(carol);
    let carol_key = w.people[carol].id.public_key();
    let carol_kp = w.people[0].replica.state().expect("state").members[&carol_key].key_package;
    // The revocation's rekey wraps to the member who loses the role: it stays.
    let body = w.people[0].replica.role_revoke_body(&mut w.rng, carol_key, "member").expect("body");
    let Body::RoleRevoke(revoke) = &body else { panic!("a revocation") };
    let rekey = revoke.rekey.as_ref().expect("carries a rekey");
    let to: Vec<_> = rekey.recipients().copied().collect();
    assert!(to.contains(&carol_kp.expect("carol published one")), "carol is a recipient");
    let v = w.write(0, body).id;
    // The role's key holder (the organizer: it reads `member`) grants its
    // fresh key to the members who keep the role.
    let grants = w.people[0].replica.key_actions(&mut w.rng, &[], NOW);
    for body in grants {
        w.write(0, body);
    }
    w.read_wire(bob);
    w.read_wire(carol);
    let new = EpochId(v.0);
    let c = &w.people[carol].replica;
    assert!(c.is_member());
    assert!(!c.state().expect("state").members[&carol_key].roles.contains("member"));
    assert_eq!(c.epoch(), new);
    assert!(c.keys().ring().epoch_secret(&new).is_some(), "carol holds the current epoch");
    // She reads what the group writes in it, not what the role reads.
    w.write(0, chat("after the revocation"));
    let content = crate::group::TaskContent { title: "members only".into(), ..Default::default() };
    let body = {
        let p = &w.people[bob];
        p.replica.task_create_body(&mut w.rng, &content, vec!["member".into()], vec![], NOW)
    }
    .expect("bob holds the fresh key");
    let task = w.write(bob, body).id;
    w.read_wire(carol);
    let c = &w.people[carol].replica;
    assert_eq!(texts(c), ["after the revocation"]);
    assert!(c.task_content(&task).is_err(), "carol does not read the role's task");
    assert_eq!(w.people[bob].replica.task_content(&task).expect("bob reads").title, "members only");
}

mod invitations;
mod joins;
mod soak;
mod stranded;

/// Pages merge the authors' chains in causal order: each page is the
/// next stretch of one causal order, holds at most `limit` messages and at
/// most [`PAGE_BYTES`] (at least one message), and `more` is false only
/// when nothing is left. Taking pages until then gives every message once.
#[test]
fn resync_pages_are_one_causal_order_cut_by_count_and_bytes() {
    let mut w = World::new();
    let bob = w.admit();
    let carol = w.admit();
    for i in 0..30 {
        let who = [0, bob, carol][i % 3];
        w.read_wire(who);
        w.write(who, chat(&format!("short {i}")));
    }
    // More than a page of bytes: 80 chats of 16 KiB.
    let long = "x".repeat(crate::wire::MAX_CHAT_LEN);
    for i in 0..80 {
        let who = [0, bob][i % 2];
        w.read_wire(who);
        w.write(who, chat(&long));
    }
    w.read_wire(0);
    pages_give_everything_once_in_order(&w, carol);
}

/// Many authors of large messages, each writing without reading the
/// others: the merge reads from every chain at once, past
/// [`READ_AHEAD_BYTES`], and goes on one message at a time
/// per author; the pages are the same causal order, whole.
#[test]
fn resync_pages_stay_whole_when_the_read_ahead_is_cut_short() {
    let mut w = World::new();
    let people: Vec<usize> = (0..6).map(|_| w.admit()).collect();
    let long = "y".repeat(crate::wire::MAX_CHAT_LEN);
    for &who in &people {
        w.read_wire(who);
    }
    for &who in &people {
        for _ in 0..70 {
            w.write(who, chat(&long));
        }
    }
    w.read_wire(0);
    let read_ahead = 6 * 64 * crate::wire::MAX_CHAT_LEN;
    assert!(read_ahead > READ_AHEAD_BYTES, "the case reaches the cut");
    pages_give_everything_once_in_order(&w, people[0]);
}

/// `requester` pages through the founder's history with several limits:
/// every message once, one causal order, no gap in any chain, each page
/// within its count and [`PAGE_BYTES`].
fn pages_give_everything_once_in_order(w: &World, requester: usize) {
    let total = w.people[0].replica.chain().len();
    let position = |bytes: &[u8]| {
        let e = Entry::decode(bytes.to_vec()).expect("an entry");
        ((e.message().lamport, e.id()), e.author(), e.seq())
    };
    for limit in [1, 7, usize::MAX] {
        let mut have = BTreeMap::new();
        let (mut got, mut pages) = (Vec::new(), 0);
        loop {
            let f = &w.people[0];
            let asking = w.people[requester].id.public_key();
            let page = f.replica.resync_for(&f.store, &asking, &have, limit).expect("reads");
            let page = page.expect("entitled");
            pages += 1;
            assert!(!page.messages.is_empty(), "an empty page after {} messages", got.len());
            assert!(page.messages.len() <= limit);
            let bytes: usize = page.messages.iter().map(Vec::len).sum();
            assert!(page.messages.len() == 1 || bytes <= PAGE_BYTES, "{bytes} bytes in a page");
            for m in &page.messages {
                let (pos, author, seq) = position(m);
                assert_eq!(have.get(&author).map_or(0, |s| s + 1), seq, "a gap in a chain");
                have.insert(author, seq);
                got.push(pos);
            }
            if !page.more {
                break;
            }
        }
        assert_eq!(got.len(), total, "limit {limit}: every message once");
        assert!(got.windows(2).all(|p| p[0] < p[1]), "limit {limit}: one causal order");
        if limit == usize::MAX {
            assert!(pages >= 2, "the bytes cut the history into pages");
        }
    }
}

/// A member who leaves erases the epoch and key-package secrets at once,
/// current ones included, from memory and from the stored slots: a line
/// written after the leave is read (before any heal, under the epoch the
/// member knew) opens nothing for it, and it follows no mailbox. Kept
/// role keys still open the tasks it already held; without them, nothing.
#[test]
fn a_member_who_leaves_erases_its_keys_and_opens_nothing_new() {
    for keep_role_keys in [true, false] {
        let mut w = World::new();
        let bob = w.admit();
        w.read_wire(bob);
        let content = crate::group::TaskContent { title: "old task".into(), ..Default::default() };
        let body = w.people[bob]
            .replica
            .task_create_body(&mut w.rng, &content, vec!["member".into()], vec![], NOW)
            .expect("seal");
        let task = w.write(bob, body).id;
        let held: Vec<KeyRef> =
            w.people[bob].replica.keys().ring().held().into_iter().map(|(r, _)| r).collect();
        assert!(held.iter().any(|r| matches!(r, KeyRef::Epoch(_))));

        w.write(bob, Body::Leave);
        let p = &mut w.people[bob];
        p.replica.erase_keys_on_leave(keep_role_keys);
        p.replica.persist(&mut p.store, Batch::new()).expect("persist");
        let group = p.replica.group();
        for r in &held {
            let kept = keep_role_keys && matches!(r, KeyRef::Role(..));
            let stored = p.store.secret(&crate::group::key_secret_label(&group, r)).expect("read");
            assert_eq!(
                stored.is_some(),
                kept,
                "{r:?} after leaving (keep role keys: {keep_role_keys})"
            );
        }
        assert!(p.replica.mailboxes().is_empty(), "a member who left still follows a mailbox");
        let reopened = reopen(&mut w, bob);
        assert!(
            reopened
                .keys()
                .ring()
                .held()
                .iter()
                .map(|(r, _)| r)
                .all(|r| matches!(r, KeyRef::Role(..)))
        );
        assert_eq!(reopened.task_content(&task).is_ok(), keep_role_keys);

        // The founder writes before it has seen the leave: the epoch is
        // the one bob knew, and still nothing opens.
        let after = w.write(0, chat("after bob left"));
        for env in &after.envelopes {
            let r = w.people[bob].replica.receive_envelope(&mut w.rng, env, NOW);
            assert!(matches!(r, Err(ReplicaError::UnknownMailbox)), "{r:?}");
        }
        assert!(!texts(&w.people[bob].replica).contains(&"after bob left".to_string()));
    }
}

/// A role's key is owed by its designated holder (the holder admitted
/// earliest: here the founder). When a member the founder did not admit
/// joins while the founder is offline, the next holder grants the key at
/// its turn (10 s after it was owed), not before; the founder, back, sees
/// the grant and owes nothing (`keys.md`, "Who holds which key").
#[test]
fn a_role_key_is_granted_by_the_next_holder_when_the_designated_one_is_offline() {
    let mut w = World::new();
    let bob = w.admit();
    let carol = w.admit_by_without_grants(bob);
    let epoch = w.people[bob].replica.state().expect("state").epoch.id;
    let holds =
        |w: &World| w.people[carol].replica.keys().ring().role_key("member", &epoch).is_some();
    assert!(!holds(&w), "carol holds no member key yet");
    let grants = |bodies: &[Body]| {
        bodies.iter().filter(|b| matches!(b, Body::RoleKeyGrant(g) if g.role == "member")).count()
    };
    let early = w.people[bob].replica.key_actions(&mut w.rng, &[], NOW + 9);
    assert_eq!(grants(&early), 0, "bob waits for the founder's turn");
    let later = w.people[bob].replica.key_actions(&mut w.rng, &[], NOW + 10);
    assert_eq!(grants(&later), 1, "bob's turn: {later:?}");
    for body in later {
        w.write(bob, body);
    }
    w.read_wire(carol);
    assert!(holds(&w), "carol opens bob's grant");
    w.read_wire(0);
    let founder = w.people[0].replica.key_actions(&mut w.rng, &[], NOW + 100);
    assert_eq!(grants(&founder), 0, "the founder saw the grant: {founder:?}");
}
