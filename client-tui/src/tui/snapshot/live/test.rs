//! The incremental view must equal the view computed from the whole
//! timeline after any sequence of events: three members write concurrently
//! (chat, replies, renames, tasks sealed to a role bob lacks, comments,
//! assignments, a role grant, a removal that cuts off concurrent messages),
//! and bob, whose screen this is, takes the messages in shuffled batches,
//! some held back and delivered late (positions inserted mid-timeline,
//! earlier verdicts changed).

use cairn_net::proto::crypto::XofRng;
use cairn_net::proto::group::{KeyEvent, TaskContent, templates};
use cairn_net::proto::identity::{Identity, MasterSeed};
use cairn_net::proto::replica::Replica;
use cairn_net::proto::wire::{
    Body, Chat, MemberAdd, MemberRemove, MessageId, Name, RoleAssign, TaskAssign, TaskRef,
};

use super::super::{Names, group_view_full};
use super::Live;

const NOW: u64 = 1_800_000_000;

/// A tiny deterministic generator for the script's choices.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

struct Member {
    id: Identity,
    replica: Replica,
    /// How much of the wire it has taken in.
    read: usize,
}

/// Alice (0, organizer), bob (1) and carol (2), members; every signed
/// message on `wire` (members exchange them as in a peer resync).
struct World {
    rng: XofRng,
    people: Vec<Member>,
    wire: Vec<(usize, Vec<u8>)>,
}

impl World {
    fn new(seed: &[u8]) -> Self {
        Self::with(seed, &templates::organizer_member_observer(), "member")
    }

    /// A group under `rules` with two people admitted as `role`.
    fn with(seed: &[u8], rules: &cairn_net::proto::group::Rules, role: &str) -> Self {
        let mut rng = XofRng::from_seed(seed);
        let id = Identity::from_seed(MasterSeed::random(&mut rng));
        let (replica, written) = Replica::found(&mut rng, &id, "bastion", rules, NOW).expect("g");
        let wire = written.into_iter().map(|w| (0, w.bytes)).collect::<Vec<_>>();
        let read = wire.len();
        let mut world = World { rng, people: vec![Member { id, replica, read }], wire };
        for _ in 0..2 {
            world.admit(role);
        }
        world
    }

    fn admit(&mut self, role: &str) {
        let id = Identity::from_seed(MasterSeed::random(&mut self.rng));
        let me = id.public_key();
        let founder = &self.people[0].replica;
        let (group, genesis) = (founder.group(), founder.state().expect("state").genesis);
        let (replica, kp) = Replica::joining(&mut self.rng, me, group, genesis);
        self.read(0, usize::MAX);
        let r = &mut self.people[0].replica;
        let (rekey, _) = r.build_rekey(&mut self.rng, Some((&me, &kp)), &[]).expect("rekey");
        let add =
            MemberAdd { member: me, roles: vec![role.into()], rekey: Some(rekey), invite: None };
        self.write(0, Body::MemberAdd(add));
        self.people.push(Member { id, replica, read: 0 });
        let who = self.people.len() - 1;
        self.read(who, usize::MAX);
        let kp = self.people[who].replica.publish_key_package().expect("key package");
        self.write(who, kp);
        self.read(0, usize::MAX);
    }

    /// `who` writes `body` if the rules let it, then what its keys ask for.
    fn write(&mut self, who: usize, body: Body) -> Option<MessageId> {
        let p = &mut self.people[who];
        let w = p.replica.write(&mut self.rng, p.id.signing_key(), body, NOW).ok()?;
        self.wire.push((who, w.bytes));
        self.key_duty(who, w.received.key_events);
        Some(w.id)
    }

    fn key_duty(&mut self, who: usize, mut events: Vec<KeyEvent>) {
        for _ in 0..4 {
            let p = &mut self.people[who];
            let bodies = p.replica.key_actions(&mut self.rng, &events, NOW);
            if bodies.is_empty() {
                return;
            }
            events.clear();
            for body in bodies {
                let p = &mut self.people[who];
                let Ok(w) = p.replica.write(&mut self.rng, p.id.signing_key(), body, NOW) else {
                    continue;
                };
                events.extend(w.received.key_events.clone());
                self.wire.push((who, w.bytes));
            }
        }
    }

    /// `who` takes in up to `n` of the messages it has not read, in order.
    fn read(&mut self, who: usize, n: usize) {
        let from = self.people[who].read;
        let to = self.wire.len().min(from.saturating_add(n));
        let mut events = Vec::new();
        for (author, bytes) in self.wire[from..to].iter().cloned() {
            if author != who {
                let r = self.people[who].replica.receive_message(&mut self.rng, bytes, NOW);
                events.extend(r.map(|r| r.key_events).unwrap_or_default());
            }
        }
        self.people[who].read = to;
        self.key_duty(who, events);
    }

    fn key(&self, who: usize) -> cairn_net::proto::crypto::PublicKey {
        self.people[who].id.public_key()
    }

    /// Something `who` might write now.
    fn something(&mut self, who: usize, dice: &mut Dice, tasks: &[MessageId]) -> Body {
        let r = &self.people[who].replica;
        let known = |t: &&MessageId| r.state().is_some_and(|s| s.tasks.contains_key(*t));
        let tasks: Vec<MessageId> = tasks.iter().filter(known).copied().collect();
        let task = (!tasks.is_empty()).then(|| tasks[dice.roll(tasks.len())]);
        let chat = r.fold().chat();
        let line = (!chat.is_empty()).then(|| chat[dice.roll(chat.len())].0);
        match (dice.roll(10), task) {
            (0, _) => Body::Name(Name { name: format!("name {}", dice.roll(4)) }),
            (1 | 2, _) => {
                let content =
                    TaskContent { title: format!("t{}", dice.roll(99)), ..TaskContent::default() };
                let readers = if dice.roll(2) == 0 { "member" } else { "organizer" };
                let assignees = vec![self.key(dice.roll(3))];
                let body = r.task_create_body(
                    &mut self.rng,
                    &content,
                    vec![readers.into()],
                    assignees,
                    NOW,
                );
                body.unwrap_or_else(|_| plain(dice))
            }
            (3, Some(task)) => {
                let text = format!("comment {}", dice.roll(99));
                let body = r.task_comment_body(&mut self.rng, task, &text, None, NOW);
                body.unwrap_or_else(|_| plain(dice))
            }
            (4, Some(task)) => {
                let k = self.key(dice.roll(3));
                Body::TaskAssign(TaskAssign { task, assign: vec![k], unassign: vec![] })
            }
            (5, Some(task)) if dice.roll(2) == 0 => Body::TaskClose(TaskRef { task }),
            (5, Some(task)) => Body::TaskReopen(TaskRef { task }),
            (6, _) => Body::Chat(Chat { text: format!("re {}", dice.roll(99)), reply_to: line }),
            _ => plain(dice),
        }
    }
}

fn plain(dice: &mut Dice) -> Body {
    Body::Chat(Chat { text: format!("line {}", dice.roll(999)), reply_to: None })
}

/// Bob's view, kept and patched, equals the view from the whole timeline
/// (and a kept view started afresh) after every delivery.
fn check(live: &mut Live, r: &Replica, names: &Names, window: usize, step: usize) {
    let patched = live.view(r, names, window);
    let full = group_view_full(r, names, window);
    assert_eq!(patched, full, "step {step}: the patched view differs from a full rebuild");
    let fresh = Live::default().view(r, names, window);
    assert_eq!(fresh, full, "step {step}: a fresh view differs from a full rebuild");
}

fn run(seed: u64, window: usize) {
    let mut world = World::new(&seed.to_le_bytes());
    let mut dice = Dice(seed | 1);
    let names = Names::from([(world.key(2), "carol".to_owned())]);
    let mut live = Live::default();
    let mut tasks: Vec<MessageId> = Vec::new();
    let (bob, carol) = (1, 2);
    let mut held = Vec::new();
    let mut late = Vec::new();
    check(&mut live, &world.people[bob].replica, &names, window, 0);
    for step in 1..=160 {
        // Writers read only now and then: their messages are concurrent.
        let who = [0, 2, 2, 0, 1][dice.roll(5)];
        if dice.roll(3) == 0 {
            world.read(who, usize::MAX);
        }
        let body = match step {
            60 => Body::RoleAssign(RoleAssign { member: world.key(bob), role: "observer".into() }),
            100 => {
                world.read(0, usize::MAX);
                let k = world.key(carol);
                let r = &mut world.people[0].replica;
                let (rekey, _) = r.build_rekey(&mut world.rng, None, &[k]).expect("rekey");
                Body::MemberRemove(MemberRemove { member: k, rekey: Some(rekey) })
            }
            _ => world.something(who, &mut dice, &tasks),
        };
        let who = if matches!(step, 60 | 100) { 0 } else { who };
        let created = matches!(body, Body::TaskCreate(_));
        let before = world.wire.len();
        if let Some(id) = world.write(who, body)
            && created
        {
            tasks.push(id);
        }
        // The removal reaches bob long after carol's messages concurrent
        // with it: he shows them, then the removal cuts them off.
        if step == 100 {
            late.extend(before..world.wire.len());
        }
        // Bob takes in a shuffled batch of what is new, holding some back.
        if dice.roll(2) == 0 {
            let from = world.people[bob].read;
            let mut batch: Vec<(usize, Vec<u8>)> = (from..world.wire.len())
                .filter(|i| !late.contains(i))
                .map(|i| world.wire[i].clone())
                .collect();
            if step >= 140 {
                batch.extend(late.drain(..).map(|i| world.wire[i].clone()));
            }
            world.people[bob].read = world.wire.len();
            for i in (1..batch.len()).rev() {
                batch.swap(i, dice.roll(i + 1));
            }
            held.extend(batch.drain(..batch.len() / 3));
            if step % 5 == 0 {
                batch.append(&mut held);
            }
            // Some batches are looked at after every message, some once.
            if step % 3 == 0 {
                for one in batch {
                    deliver(&mut world, bob, vec![one]);
                    check(&mut live, &world.people[bob].replica, &names, window, step);
                }
            } else {
                deliver(&mut world, bob, batch);
                check(&mut live, &world.people[bob].replica, &names, window, step);
            }
        }
    }
    deliver(&mut world, bob, held);
    let late = late.into_iter().map(|i| world.wire[i].clone()).collect();
    deliver(&mut world, bob, late);
    world.read(bob, usize::MAX);
    check(&mut live, &world.people[bob].replica, &names, window, 999);
    let view = live.view(&world.people[bob].replica, &names, window).expect("view");
    assert!(view.tasks.len() > 5 && view.chat_earlier + view.chat.len() > 40, "{view:?}");
}

fn deliver(world: &mut World, who: usize, batch: Vec<(usize, Vec<u8>)>) {
    let mut events = Vec::new();
    for (author, bytes) in batch {
        if author != who {
            let r = world.people[who].replica.receive_message(&mut world.rng, bytes, NOW);
            events.extend(r.map(|r| r.key_events).unwrap_or_default());
        }
    }
    world.key_duty(who, events);
}

#[test]
fn the_patched_view_equals_a_full_rebuild_after_any_sequence_of_deliveries() {
    for seed in [1, 2, 3] {
        run(seed, 12);
    }
    run(4, 10_000);
}

#[test]
fn content_sealed_to_a_role_shows_once_a_grant_of_it_arrives() {
    let mut world = World::with(b"grant", &templates::pursuance(), "observer");
    let names = Names::new();
    let mut live = Live::default();
    // Carol becomes a contributor and seals a task to contributors.
    let carol = world.key(2);
    world.write(0, Body::RoleAssign(RoleAssign { member: carol, role: "contributor".into() }));
    settle(&mut world);
    let content = TaskContent { title: "dig".into(), ..TaskContent::default() };
    let readers = vec!["contributor".to_owned()];
    let r = &world.people[2].replica;
    let task = r.task_create_body(&mut world.rng, &content, readers, vec![], NOW).expect("task");
    world.write(2, task);
    world.read(1, usize::MAX);
    check(&mut live, &world.people[1].replica, &names, 50, 1);
    let title = |live: &mut Live, w: &World| {
        let view = live.view(&w.people[1].replica, &names, 50).expect("view");
        view.tasks.first().map(|t| t.title.clone())
    };
    assert_eq!(title(&mut live, &world), Some(None), "an observer cannot read it");
    let bob = world.key(1);
    world.write(0, Body::RoleAssign(RoleAssign { member: bob, role: "contributor".into() }));
    settle(&mut world);
    check(&mut live, &world.people[1].replica, &names, 50, 2);
    assert_eq!(title(&mut live, &world), Some(Some("dig".into())), "a contributor reads it");
}

/// Everyone reads everything, a few rounds (grants answer role changes).
fn settle(world: &mut World) {
    for _ in 0..3 {
        for who in 0..3 {
            world.read(who, usize::MAX);
        }
    }
}
