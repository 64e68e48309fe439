//! The node's relay connections (`node.md`, "Relays"): for each group, one
//! task per relay, and the group's record of which relay delivered what.
//! Posting goes to every relay; reading takes from all, deduplicated by
//! envelope.
//!
//! What a connection does with what a relay says (acknowledgements,
//! refusals, proofs of work, epoch changes) is decided by
//! [`cairn_proto::relay_proto::ClientSession`], and withholding is judged by
//! [`Deliveries`]; this module and `connection` only carry bytes, time and
//! the node's store to them, so that the simulator runs the same decisions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cairn_proto::crypto::PublicKey;
use cairn_proto::relay_proto::Deliveries;
use cairn_proto::replica::Carried;
use cairn_proto::wire::{Envelope, GroupId, MailboxId};
use tokio::sync::{mpsc, watch};

use super::profile::{Core, Queued, RelayBatch};
use super::{Node, NodeEvent, SecurityWarning};
use crate::IsolationKey;

mod connection;

pub use cairn_proto::relay_proto::client::memory::BACKOFF;

/// Outbox items waiting for one relay connection (more stay in the store
/// and are posted again on the next connection).
const QUEUE: usize = 256;
/// A relay that has not delivered, within this time, an envelope another
/// relay of the group delivered is reported as withholding it.
pub const WITHHOLD_GRACE: Duration = Duration::from_secs(20);
/// Messages a peer gives are expected from the relays too if they were
/// written within this many minutes (older ones may be past retention).
const PEER_RECENT_MINUTES: u64 = 60;
/// Monotonic time since the node's first use of a relay: the `now` the
/// relay state machines take.
fn clock() -> Duration {
    origin().elapsed()
}

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// An envelope a relay pushed, with its mailbox and cursor.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) mailbox: MailboxId,
    pub(crate) cursor: u64,
    pub(crate) envelope: Envelope,
}

/// The isolation key of a group's streams: one per group, so that a relay
/// serving two of a person's groups cannot link them by circuit.
pub fn isolation(group: &GroupId) -> IsolationKey {
    IsolationKey::from_bytes(blake3::derive_key("cairn isolation v1", &group.0))
}

/// What a group's relay tasks start from, read from its replica under one
/// hold of the core lock: its relay list and the mailboxes to follow.
pub(crate) struct RelayPlan {
    relays: Vec<String>,
    mailboxes: Vec<MailboxId>,
}

impl RelayPlan {
    /// The plan of `group`; `None` if there is no such group (or no state).
    pub(crate) fn of(core: &Core, group: &GroupId) -> Option<Self> {
        // A group this member left: post what waits, follow nothing.
        if core.has_left(group) {
            return Some(Self { relays: core.relays_of(group).ok()?, mailboxes: Vec::new() });
        }
        let replica = core.replica(group).ok()?;
        let relays = replica.state()?.relays.clone();
        Some(Self { relays, mailboxes: replica.mailboxes() })
    }
}

/// The sending side of a relay connection's post queue.
struct Poster {
    tx: mpsc::Sender<Queued>,
    /// Set when an item did not fit: the connection posts the outbox again
    /// once it has drained the queue (`connection::PostQueue`).
    overflowed: Arc<AtomicBool>,
}

/// One group's relay tasks.
pub(crate) struct GroupRelays {
    relays: Vec<String>,
    posts: Vec<Poster>,
    mailboxes: watch::Sender<Vec<MailboxId>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    seen: Deliveries,
}

impl Drop for GroupRelays {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Node {
    /// (Re)starts the relay tasks of `group` for the relays in its state.
    pub(crate) fn start_relays(&self, group: GroupId) {
        let plan = RelayPlan::of(&self.core(), &group);
        if let Some(plan) = plan {
            self.start_relays_with(group, plan);
        }
    }

    /// (Re)starts the relay tasks of `group` as `plan` says, unless the
    /// node was shut down. Takes the `online` lock, so a caller may hold
    /// `core` (it comes first).
    pub(crate) fn start_relays_with(&self, group: GroupId, plan: RelayPlan) {
        if self.relays().stopped {
            return;
        }
        let (mbox_tx, _) = watch::channel(plan.mailboxes);
        let mut gr = GroupRelays {
            relays: plan.relays.clone(),
            posts: Vec::new(),
            mailboxes: mbox_tx,
            tasks: Vec::new(),
            seen: Deliveries::default(),
        };
        for relay in &plan.relays {
            let (tx, rx) = mpsc::channel(QUEUE);
            let overflowed = Arc::new(AtomicBool::new(false));
            let queue = connection::PostQueue { rx, overflowed: Arc::clone(&overflowed) };
            let task = tokio::spawn(connection::relay_task(
                self.clone(),
                group,
                relay.clone(),
                queue,
                gr.mailboxes.subscribe(),
            ));
            gr.posts.push(Poster { tx, overflowed });
            gr.tasks.push(task);
        }
        self.relays().insert(group, gr);
    }

    /// Hands new outbox items to every relay of their group.
    pub(crate) fn post_to_relays(&self, queued: &[Queued]) {
        let relays = self.relays();
        for q in queued {
            if let Some(gr) = relays.get(&q.group) {
                for p in &gr.posts {
                    // A full queue (a writer faster than the connection):
                    // the item stays in the store, and the connection posts
                    // the outbox again once it has drained the queue.
                    if p.tx.try_send(q.clone()).is_err() {
                        p.overflowed.store(true, Ordering::Release);
                    }
                }
            }
        }
    }

    /// The group's epoch or relay list may have changed: follow it.
    pub(crate) fn follow_group(&self, group: GroupId) {
        let Some(plan) = RelayPlan::of(&self.core(), &group) else { return };
        let restart = {
            let relays = self.relays();
            match relays.get(&group) {
                Some(gr) => {
                    gr.mailboxes.send_if_modified(|m| {
                        let changed = *m != plan.mailboxes;
                        m.clone_from(&plan.mailboxes);
                        changed
                    });
                    gr.relays != plan.relays
                }
                None => true,
            }
        };
        if restart {
            self.start_relays_with(group, plan);
        }
    }

    /// Takes in what a relay pushed together; false if it could not be
    /// stored (it is then forgotten, to be taken in when it comes again).
    /// Blocks on the store: call it off the async workers.
    pub(super) fn relay_delivered(
        &self,
        group: GroupId,
        relay: &str,
        delivered: Vec<Delivery>,
    ) -> bool {
        let mut batch = RelayBatch::default();
        {
            let mut relays = self.relays();
            let mut seen = relays.get_mut(&group).map(|gr| &mut gr.seen);
            for d in delivered {
                let cursor = batch.cursors.entry(d.mailbox).or_default();
                *cursor = (*cursor).max(d.cursor);
                // With no record (the node went offline while this batch
                // was on its way to the store) every envelope is taken in:
                // the cursor stored with the batch moves past all of them,
                // so one left out here would never be fetched again.
                if seen.as_mut().is_none_or(|s| s.record(relay, &d.envelope, clock())) {
                    batch.envelopes.push(d.envelope);
                }
            }
        }
        let stored = self.receive_relay_batch(group, relay, &batch);
        if !stored && let Some(gr) = self.relays().get_mut(&group) {
            for env in &batch.envelopes {
                gr.seen.forget(env);
            }
        }
        stored
    }

    pub(super) fn relay_up(&self, group: GroupId, relay: &str, up: bool) {
        if let Some(gr) = self.relays().get_mut(&group) {
            gr.seen.connected(relay, up, clock());
        }
    }

    /// A connection to `relay` subscribed to `mailboxes` (or ended).
    pub(super) fn relay_subscribed(
        &self,
        group: GroupId,
        relay: &str,
        mailboxes: &[MailboxId],
        up: bool,
    ) {
        if let Some(gr) = self.relays().get_mut(&group) {
            gr.seen.subscribed(relay, mailboxes, up, clock());
        }
    }

    /// Messages that came out of a relay's envelopes (new or not).
    pub(crate) fn relay_carried(&self, group: GroupId, carried: &[Carried]) {
        if let Some(gr) = self.relays().get_mut(&group) {
            gr.seen.relay_carried(carried.iter().map(|c| (c.author, c.seq)));
        }
    }

    /// Messages a peer gave: the recent ones that no relay delivered are
    /// expected from the relays within the grace (`node.md`,
    /// "Withholding"); older ones may have gone with a relay's retention.
    pub(crate) fn peer_carried(&self, group: GroupId, carried: &[Carried]) {
        let minute = super::profile::now() / 60;
        let held: Vec<(PublicKey, u64, MailboxId)> = self
            .with_replica(&group, |r| {
                let recent = carried.iter().filter(|c| c.minute + PEER_RECENT_MINUTES >= minute);
                recent
                    .filter_map(|c| r.mailbox_of(&c.epoch).map(|m| (c.author, c.seq, m)))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(gr) = self.relays().get_mut(&group) {
            gr.seen.peer_carried(held, clock());
        }
    }

    /// Whether any relay of any group is connected.
    pub(crate) fn any_relay_up(&self) -> bool {
        self.relays().values().any(|gr| gr.seen.any_up())
    }

    /// Whether every relay of every group has been tried at least once.
    pub(crate) fn all_relays_tried(&self) -> bool {
        self.relays().values().all(|gr| gr.relays.iter().all(|r| gr.seen.tried(r)))
    }

    /// Reports relays that withheld envelopes others delivered.
    pub(crate) fn check_withholding(&self, grace: Duration) {
        let mut found = Vec::new();
        for (group, gr) in self.relays().iter_mut() {
            for (relay, count) in gr.seen.withheld(clock(), grace) {
                found.push(SecurityWarning::Withheld { group: *group, relay, count });
            }
        }
        for w in found {
            self.emit(NodeEvent::Warning(w));
        }
    }
}

#[cfg(test)]
mod test {
    use std::path::Path;

    use cairn_proto::group::templates;
    use cairn_proto::identity::KdfParams;
    use zeroize::Zeroizing;

    use super::super::invites::Approval;
    use super::super::{Action, Network, NodeConfig, create_profile};
    use super::*;

    async fn node(root: &Path, name: &str) -> Node {
        let dir = root.join(name);
        create_profile(&dir, b"pass", KdfParams::MIN).expect("profile");
        let network = Network::LoopbackInsecure { directory: root.join("loopback") };
        Node::open(NodeConfig::new(dir, network), Zeroizing::new(b"pass".to_vec()))
            .await
            .expect("node")
    }

    /// A relay batch can reach the store after the node went offline (its
    /// commit runs on the blocking pool, which an abort does not stop).
    /// Its cursor is stored with it, so its envelopes must be taken in too:
    /// left out, they would never be fetched from that relay again. And it
    /// must not bring the relay connections back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delivery_after_going_offline_is_taken_in_with_its_cursor() {
        let root = tempfile::tempdir().expect("temp dir");
        let (a, b) = (node(root.path(), "a").await, node(root.path(), "b").await);
        a.start().await;
        // A relay nobody listens on: the connections fail and stop.
        let relay = "127.0.0.1:9".to_owned();
        let rules = templates::organizer_member_observer();
        let action = Action::CreateGroup { name: "g".into(), rules, relays: vec![relay.clone()] };
        let group = a.act(action).expect("found").group_id().expect("a group");
        let ticket = a
            .invite(group, vec!["member".into()], Duration::from_secs(600), Approval::Automatic)
            .await
            .expect("invite");
        assert_eq!(b.join(&ticket.text, "b").await.expect("join"), group);
        // B takes in everything A wrote since (the grant of the member key
        // A reads: `keys.md`, "Who holds which key"), so that the one
        // delivery below is all B lacks.
        let held_by = |n: &Node| n.with_replica(&group, |r| r.chain().version_vector()).ok();
        for _ in 0..100 {
            b.resync_group(group).await.expect("resync");
            if held_by(&a) == held_by(&b) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(held_by(&a), held_by(&b), "b caught up with a");
        b.shutdown();

        let chat = Action::Chat { group, text: "late".into(), reply_to: None };
        let id = a.act(chat).expect("chat").message_id().expect("a message");
        let outbox = a.core().outbox().expect("outbox");
        let item = outbox.iter().find(|q| q.message == id).expect("the chat is queued");
        let mailbox = item.envelopes[0].mailbox();
        let delivered = item
            .envelopes
            .iter()
            .zip(1..)
            .map(|(e, cursor)| Delivery { mailbox, cursor, envelope: e.clone() })
            .collect();
        assert!(b.relay_delivered(group, &relay, delivered));

        assert!(b.with_replica(&group, |r| r.fold().holds(&id)).expect("group"));
        let stored = b.core().cursor(&group, &relay, &mailbox);
        assert_eq!(stored, item.envelopes.len() as u64);
        assert!(b.relays().get(&group).is_none(), "no relay connection came back");
        a.shutdown();
    }
}
