//! A group of real members (identities, replicas, in-memory stores) that
//! talk only through envelopes and resync pages, as the replica tests do
//! (`core/proto/src/replica/test.rs`).

use std::collections::BTreeMap;

use cairn_proto::crypto::XofRng;
use cairn_proto::group::{TaskContent, templates};
use cairn_proto::identity::{Identity, MasterSeed};
use cairn_proto::replica::{Replica, Written};
use cairn_proto::store::{Batch, MemoryStore};
use cairn_proto::wire::{Body, Chat, Envelope, MemberAdd, MessageId};

/// The minute every message states (a fixed clock: the bench measures
/// work, not time-dependent behaviour).
pub(crate) const NOW: u64 = 1_800_000_000;

/// One member: identity, replica, and how far it has read the wire.
pub(crate) struct Person {
    pub(crate) id: Identity,
    pub(crate) replica: Replica,
    read: usize,
}

/// One message on the wire: who wrote it, its envelopes, its size.
pub(crate) struct Post {
    author: usize,
    pub(crate) envelopes: Vec<Envelope>,
    pub(crate) bytes: usize,
}

/// The founder (index 0) and everyone admitted, with every post so far.
pub(crate) struct World {
    pub(crate) rng: XofRng,
    /// The founder's store: every accepted message and its keys.
    pub(crate) store: MemoryStore,
    pub(crate) people: Vec<Person>,
    pub(crate) wire: Vec<Post>,
}

pub(crate) fn chat(text: String) -> Body {
    Body::Chat(Chat { text, reply_to: None })
}

impl World {
    /// A group founded with the organizer/member/observer template.
    pub(crate) fn new(seed: &[u8]) -> Self {
        let mut rng = XofRng::from_seed(seed);
        let id = Identity::from_seed(MasterSeed::random(&mut rng));
        let rules = templates::organizer_member_observer();
        let (replica, written) =
            Replica::found(&mut rng, &id, "bench", &rules, NOW).expect("found");
        let founder = Person { id, replica, read: 0 };
        let store = MemoryStore::new();
        let mut world = World { rng, store, people: vec![founder], wire: Vec::new() };
        world.persist(0);
        for w in written {
            world.post(0, &w);
        }
        world.people[0].read = world.wire.len();
        world
    }

    fn post(&mut self, author: usize, w: &Written) {
        let post = Post { author, envelopes: w.envelopes.clone(), bytes: w.bytes.len() };
        self.wire.push(post);
    }

    /// `who` writes `body` (it must have read the wire first), persists and
    /// posts it.
    pub(crate) fn write(&mut self, who: usize, body: Body) -> Written {
        let p = &mut self.people[who];
        let w = p.replica.write(&mut self.rng, p.id.signing_key(), body, NOW).expect("write");
        self.persist(who);
        self.post(who, &w);
        self.people[who].read = self.wire.len();
        w
    }

    /// `who` reads what others posted since it last read.
    pub(crate) fn read_wire(&mut self, who: usize) {
        let p = &mut self.people[who];
        for post in &self.wire[p.read..] {
            if post.author == who {
                continue;
            }
            for env in &post.envelopes {
                p.replica.receive_envelope(&mut self.rng, env, NOW).expect("envelope opens");
            }
        }
        p.read = self.wire.len();
        self.persist(who);
    }

    /// Only the founder's store is read (resync, reopening): the others
    /// would spend the history's time saving keys nobody loads.
    fn persist(&mut self, who: usize) {
        if who == 0 {
            self.people[0].replica.persist(&mut self.store, Batch::new()).expect("persist");
        }
    }

    /// `who` resyncs from the founder until nothing is left.
    fn resync_from_founder(&mut self, who: usize) {
        loop {
            let have: BTreeMap<_, _> =
                self.people[who].replica.chain().version_vector().as_map().clone();
            let requester = self.people[who].id.public_key();
            let page = {
                self.people[0]
                    .replica
                    .resync_for(&self.store, &requester, &have, 1000)
                    .expect("store reads")
                    .expect("entitled")
            };
            let p = &mut self.people[who];
            for m in page.messages {
                p.replica.receive_message(&mut self.rng, m, NOW).expect("resync message");
            }
            if !page.more {
                return;
            }
        }
    }

    /// The founder admits a new person as `member`: rekey to everyone, the
    /// joiner resyncs from the founder and publishes its key package, the
    /// founder reads it. Returns the joiner's index.
    pub(crate) fn admit(&mut self) -> usize {
        let id = Identity::from_seed(MasterSeed::random(&mut self.rng));
        let genesis = self.people[0].replica.state().expect("state").genesis;
        let group = self.people[0].replica.group();
        let me = id.public_key();
        let (replica, kp) = Replica::joining(&mut self.rng, me, group, genesis);
        self.read_wire(0);
        let (rekey, _) = self.people[0]
            .replica
            .build_rekey(&mut self.rng, Some((&me, &kp)), &[])
            .expect("rekey");
        let add = MemberAdd {
            member: me,
            roles: vec!["member".into()],
            rekey: Some(rekey),
            invite: None,
        };
        self.write(0, Body::MemberAdd(add));
        self.people.push(Person { id, replica, read: 0 });
        let who = self.people.len() - 1;
        self.resync_from_founder(who);
        self.people[who].read = self.wire.len();
        let kp = self.people[who].replica.publish_key_package().expect("key package");
        self.write(who, kp);
        self.read_wire(0);
        who
    }

    /// Drops a member's replica and store (their posts stay on the wire):
    /// large groups keep only the identity of most members.
    pub(crate) fn forget(&mut self, who: usize) {
        let p = &mut self.people[who];
        let me = p.id.public_key();
        let group = p.replica.group();
        let genesis = self.people[0].replica.state().expect("state").genesis;
        let (replica, _) = Replica::joining(&mut self.rng, me, group, genesis);
        self.people[who].replica = replica;
    }
}

/// The text of the `i`th chat: realistic lengths, 40 to 300 bytes.
pub(crate) fn chat_text(i: usize) -> String {
    let len = 40 + (i * 7919) % 260;
    let mut s = format!("message {i}: ");
    while s.len() < len {
        s.push_str("lorem ipsum ");
    }
    s.truncate(len);
    s
}

/// A history of `n` messages by `writers` members (indices 1..=writers),
/// in bursts of 16 per writer, each writer reading the others first:
/// mostly chats, 1 in 25 a task sealed to `member`, 1 in 25 a comment on
/// the writer's latest task.
pub(crate) fn write_history(world: &mut World, writers: usize, n: usize) {
    let mut last_task: Vec<Option<MessageId>> = vec![None; writers + 1];
    let mut i = 0;
    while i < n {
        let who = 1 + (i / 16) % writers;
        world.read_wire(who);
        for _ in 0..16.min(n - i) {
            let body = match (i % 25, last_task[who]) {
                (0, _) => {
                    let content = TaskContent { title: format!("task {i}"), ..Default::default() };
                    let r = &world.people[who].replica;
                    r.task_create_body(&mut world.rng, &content, vec!["member".into()], vec![], NOW)
                        .expect("task")
                }
                (12, Some(task)) => {
                    let r = &world.people[who].replica;
                    r.task_comment_body(&mut world.rng, task, &chat_text(i), None, NOW)
                        .expect("comment")
                }
                _ => chat(chat_text(i)),
            };
            let task = matches!(body, Body::TaskCreate(_));
            let w = world.write(who, body);
            if task {
                last_task[who] = Some(w.id);
            }
            i += 1;
        }
    }
}

impl World {
    /// Everyone reads and posts what their keys ask (role-key grants, fresh
    /// key packages) until nobody has anything left to post.
    pub(crate) fn settle(&mut self) {
        for _ in 0..8 {
            let mut posted = false;
            for who in 0..self.people.len() {
                self.read_wire(who);
                let bodies = self.people[who].replica.key_actions(&mut self.rng, &[], NOW);
                for body in bodies {
                    self.write(who, body);
                    posted = true;
                }
            }
            if !posted {
                break;
            }
        }
        for who in 0..self.people.len() {
            self.read_wire(who);
        }
    }
}
