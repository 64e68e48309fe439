//! The node's synchronous heart: the open profile and one [`Replica`] per
//! group. Every operation takes `&mut self` under the node's lock, does its
//! protocol work through `cairn-proto`, and commits what it changed (entries,
//! keys, outbox items, cursors) before it returns: what the user typed is on
//! disk before anything is sent.

use std::collections::{BTreeMap, BTreeSet};

use cairn_proto::crypto::PublicKey;
use cairn_proto::group::{KeyEvent, Rules};
use cairn_proto::identity::Identity;
use cairn_proto::peer_proto::Head;
use cairn_proto::replica::{NotEntitled, Received, Replica, ResyncReply, Written};
use cairn_proto::store::{Batch, Profile, Store};
use cairn_proto::wire::{Body, Envelope, GroupId, MailboxId, MessageId, RelayListChange};
use serde::{Deserialize, Serialize};

use super::registry::{self, GroupRef};
use super::{NodeError, OsRng, os_rng};

/// How many rounds of key actions (grants, fresh key packages) one input
/// may cause; each round answers the events of the one before.
const MAX_KEY_ROUNDS: usize = 8;
/// Distinct sources that must agree before a restored identity signs.
pub const RESTORE_SOURCES: usize = 2;

/// An outbox item: a message's envelopes waiting to reach the relays.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The outbox item id (store-assigned).
    pub outbox_id: u64,
    /// The group.
    pub group: GroupId,
    /// The message.
    pub message: MessageId,
    /// Its envelopes.
    pub envelopes: Vec<Envelope>,
}

#[derive(Serialize, Deserialize)]
struct OutboxPayload {
    group: GroupId,
    message: MessageId,
    envelopes: Vec<serde_bytes::ByteBuf>,
}

/// The open profile and its groups.
pub struct Core {
    profile: Profile,
    rng: OsRng,
    replicas: BTreeMap<GroupId, Replica>,
    restored: bool,
    /// For a restored identity: per group, the sources that caught us up.
    caught_up: BTreeMap<GroupId, BTreeSet<String>>,
    /// Groups whose replica holds changes a failed commit did not store,
    /// and that could not be read back from the store yet (see
    /// [`Core::forget_unsaved`]).
    stale: BTreeSet<GroupId>,
    /// When this node first saw each group's epoch, for the key duty.
    epoch_times: duty::EpochTimes,
    /// Per group, when a stranded member last pulled from its peers
    /// (`stranded.rs`).
    stranded_pulls: BTreeMap<GroupId, u64>,
    /// Outbox item → relays that stored it (in memory: after a restart
    /// every relay is asked again, and storing twice is harmless).
    acks: BTreeMap<u64, BTreeSet<String>>,
    /// The outbox as committed: item → its message (`None` if the item
    /// does not decode). Kept beside the store so that counting the
    /// outbox, or naming an acknowledged item's message, decodes nothing.
    pending: BTreeMap<u64, Option<MessageId>>,
    /// The groups this member left (`leave.rs`).
    left: BTreeMap<GroupId, registry::Left>,
}

/// Envelopes one relay delivered together, with the cursor to store per
/// mailbox: taken in, and committed, as one.
#[derive(Debug, Default)]
pub struct RelayBatch {
    /// The last cursor of each mailbox in the batch.
    pub cursors: BTreeMap<MailboxId, u64>,
    /// The envelopes no other relay brought first.
    pub envelopes: Vec<Envelope>,
}

impl core::fmt::Debug for Core {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Core").field("groups", &self.replicas.len()).finish_non_exhaustive()
    }
}

/// Unix seconds on the local clock.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Core {
    /// Opens every group of `profile`.
    pub fn open(profile: Profile) -> Result<Self, NodeError> {
        let rng = os_rng();
        let mut replicas = BTreeMap::new();
        for g in registry::groups(profile.store())? {
            let replica = Replica::open(profile.store(), g.group, g.genesis)?;
            replicas.insert(g.group, replica);
        }
        let restored = registry::restored_unconfirmed(profile.store())?;
        let caught_up = BTreeMap::new();
        let (stale, epoch_times) = (BTreeSet::new(), duty::EpochTimes::default());
        let acks = BTreeMap::new();
        let pending = profile
            .store()
            .outbox()?
            .iter()
            .map(|item| (item.id, decode_outbox(&item.payload).ok().map(|p| p.message)))
            .collect();
        let left = registry::left(profile.store())?.into_iter().map(|l| (l.group, l)).collect();
        Ok(Self {
            profile,
            rng,
            replicas,
            restored,
            caught_up,
            stale,
            epoch_times,
            stranded_pulls: BTreeMap::new(),
            acks,
            pending,
            left,
        })
    }

    /// Closes the core, handing back its profile.
    pub fn into_profile(self) -> Profile {
        self.profile
    }

    /// Marks a freshly restored profile: no signing until confirmed.
    pub fn mark_restored(&mut self) -> Result<(), NodeError> {
        self.profile.store_mut().commit(registry::set_restored(true, Batch::new()))?;
        self.restored = true;
        Ok(())
    }

    /// The user confirms a restored identity may sign (or enough sources
    /// agreed).
    pub fn confirm_restored(&mut self) -> Result<(), NodeError> {
        self.profile.store_mut().commit(registry::set_restored(false, Batch::new()))?;
        self.restored = false;
        Ok(())
    }

    /// Whether signing waits for a restored identity's confirmation.
    pub fn is_restored_unconfirmed(&self) -> bool {
        self.restored
    }

    /// A source (relay or peer) has given this node everything it holds of
    /// `group`. Returns true when this lifts the restore guard.
    pub fn source_caught_up(&mut self, group: GroupId, source: &str) -> Result<bool, NodeError> {
        if !self.restored {
            return Ok(false);
        }
        self.caught_up.entry(group).or_default().insert(source.to_owned());
        let all = self
            .replicas
            .keys()
            .all(|g| self.caught_up.get(g).is_some_and(|s| s.len() >= RESTORE_SOURCES));
        if all && !self.replicas.is_empty() {
            self.confirm_restored()?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The profile's identity.
    pub fn identity(&self) -> &Identity {
        self.profile.identity()
    }

    /// The groups, in id order.
    pub fn groups(&self) -> impl Iterator<Item = (&GroupId, &Replica)> {
        self.replicas.iter()
    }

    /// One group's replica.
    pub fn replica(&self, group: &GroupId) -> Result<&Replica, NodeError> {
        self.replicas.get(group).ok_or(NodeError::UnknownGroup)
    }

    pub(crate) fn replica_mut(&mut self, group: &GroupId) -> Result<&mut Replica, NodeError> {
        if self.stale.contains(group) {
            self.forget_unsaved(*group)?;
        }
        self.replicas.get_mut(group).ok_or(NodeError::UnknownGroup)
    }

    /// After a failed commit the replica of `group` holds what was not
    /// stored: a message signed here that was never queued (the user was
    /// told it failed and may write it again), or messages received whose
    /// relay cursor did not move (they are fetched again). Kept, they
    /// would take seqs the store refuses to follow. So the replica is read
    /// back from the store, which holds the truth; if the store cannot be
    /// read yet (the disk is still full), the group stays marked and is
    /// read back before its next change. A group that was being founded or
    /// joined, and so is not in the store's list, is dropped.
    fn forget_unsaved(&mut self, group: GroupId) -> Result<(), NodeError> {
        self.stale.insert(group);
        let store = self.profile.store_mut();
        store.reopen_if_closed()?;
        let Some(stored) = registry::groups(store)?.into_iter().find(|g| g.group == group) else {
            self.replicas.remove(&group);
            self.stale.remove(&group);
            return Err(NodeError::UnknownGroup);
        };
        let replica = Replica::open(self.profile.store(), group, stored.genesis)?;
        self.replicas.insert(group, replica);
        self.stale.remove(&group);
        Ok(())
    }

    /// Founds a group; `relays` become its relay list.
    pub fn create_group(
        &mut self,
        name: &str,
        rules: &Rules,
        relays: Vec<String>,
        now: u64,
    ) -> Result<(GroupId, Vec<Queued>), NodeError> {
        self.check_may_sign()?;
        let identity = self.profile.identity().clone();
        let (replica, mut written) = Replica::found(&mut self.rng, &identity, name, rules, now)?;
        let group = replica.group();
        let genesis = replica.state().map(|s| s.genesis).ok_or(NodeError::Bug("no genesis"))?;
        self.replicas.insert(group, replica);
        if !relays.is_empty() {
            let body = Body::RelayListChange(RelayListChange { relays });
            let replica = self.replica_mut(&group)?;
            written.push(replica.write(&mut os_rng(), identity.signing_key(), body, now)?);
        }
        let list = registry::groups(self.profile.store())?;
        let batch = registry::add_group(list, GroupRef { group, genesis }, Batch::new());
        let queued = self.persist(group, written, batch)?;
        Ok((group, queued))
    }

    /// Adds a group this member joined (its replica made by
    /// [`Replica::joining`]); the history comes by resync.
    pub fn add_joined(&mut self, replica: Replica, genesis: MessageId) -> Result<(), NodeError> {
        let group = replica.group();
        // Checked here, under the lock that adds: a replica that exists
        // (a join or recovery that raced this one) is never replaced.
        if self.replicas.contains_key(&group) {
            return Err(NodeError::AlreadyMember);
        }
        let list = registry::groups(self.profile.store())?;
        let mut batch = registry::add_group(list, GroupRef { group, genesis }, Batch::new());
        // Joining again a group this member left and deleted.
        let rejoined = self.left.contains_key(&group);
        if rejoined {
            let mut left = registry::left(self.profile.store())?;
            left.retain(|l| l.group != group);
            batch = registry::put_left(&left, batch);
        }
        self.replicas.insert(group, replica);
        self.persist(group, Vec::new(), batch)?;
        if rejoined {
            self.left.remove(&group);
        }
        Ok(())
    }

    fn check_may_sign(&self) -> Result<(), NodeError> {
        if self.restored { Err(NodeError::RestoredUnconfirmed) } else { Ok(()) }
    }

    /// Writes `body` to `group`, then whatever the keys ask for.
    pub fn write(
        &mut self,
        group: GroupId,
        body: Body,
        now: u64,
    ) -> Result<(MessageId, Vec<Queued>), NodeError> {
        self.check_may_sign()?;
        if self.left.contains_key(&group) {
            return Err(NodeError::Left);
        }
        let me = self.profile.identity().public_key();
        let mut written = Vec::new();
        // Nothing goes out under an epoch a former member still knows: heal
        // it first, in the same commit (`node.md`, "Key duty").
        let state = self.replica(&group)?.state();
        if state.is_some_and(|s| duty::heals_first(s, &me, &body)) {
            let (rekey, _) = self.replica_mut(&group)?.build_rekey(&mut os_rng(), None, &[])?;
            written.extend(self.sign_and_follow(group, Body::Rekey(rekey), now)?);
        }
        let this = self.sign_and_follow(group, body, now)?;
        let id = this.first().map(|w| w.id).ok_or(NodeError::Bug("nothing written"))?;
        written.extend(this);
        Ok((id, self.persist(group, written, Batch::new())?))
    }

    /// Signs `body` into the replica, then whatever the keys ask for after
    /// it; `body`'s message comes first.
    fn sign_and_follow(
        &mut self,
        group: GroupId,
        body: Body,
        now: u64,
    ) -> Result<Vec<Written>, NodeError> {
        let key = self.profile.identity().signing_key().clone();
        let first = self.replica_mut(&group)?.write(&mut os_rng(), &key, body, now)?;
        let events = first.received.key_events.clone();
        let mut written = vec![first];
        written.extend(self.key_actions(group, events, now)?);
        Ok(written)
    }

    /// Posts what the keys ask for after `events`, round after round.
    fn key_actions(
        &mut self,
        group: GroupId,
        mut events: Vec<KeyEvent>,
        now: u64,
    ) -> Result<Vec<Written>, NodeError> {
        let mut written = Vec::new();
        // A member who left has no keys and no duties: no fresh key
        // package, no grant, no heal.
        if self.restored || self.left.contains_key(&group) {
            return Ok(written);
        }
        let key = self.profile.identity().signing_key().clone();
        for _ in 0..MAX_KEY_ROUNDS {
            let replica = self.replica_mut(&group)?;
            let bodies = replica.key_actions(&mut os_rng(), &events, now);
            if bodies.is_empty() {
                break;
            }
            events.clear();
            for body in bodies {
                let w = replica.write(&mut os_rng(), &key, body, now)?;
                events.extend(w.received.key_events.iter().cloned());
                written.push(w);
            }
        }
        Ok(written)
    }

    /// Takes in what one relay delivered together, and stores it with its
    /// cursors in one commit.
    pub fn receive_relay_batch(
        &mut self,
        group: GroupId,
        relay: &str,
        delivered: &RelayBatch,
        now: u64,
    ) -> Result<(Received, Vec<Queued>), NodeError> {
        let replica = self.replica_mut(&group)?;
        let received = take_in(replica, &delivered.envelopes, now);
        let batch = delivered.cursors.iter().fold(Batch::new(), |batch, (mailbox, cursor)| {
            registry::put_cursor(group, relay, mailbox, *cursor, batch)
        });
        self.settle(group, received, batch, now)
    }

    /// The stored cursor of `relay` for `mailbox`.
    pub fn cursor(&self, group: &GroupId, relay: &str, mailbox: &MailboxId) -> u64 {
        registry::cursor(self.profile.store(), group, relay, mailbox).unwrap_or(0)
    }

    /// Takes in signed messages a peer sent (resync or delivery).
    pub fn receive_messages(
        &mut self,
        group: GroupId,
        messages: Vec<Vec<u8>>,
        now: u64,
    ) -> Result<(Received, Vec<Queued>), NodeError> {
        let replica = self.replica_mut(&group)?;
        // A resync page: one batch signature check.
        let delivery = replica.receive_messages(&mut os_rng(), messages, now);
        for (_, e) in &delivery.refused {
            tracing::debug!("peer message refused: {e}");
        }
        self.settle(group, delivery.received, Batch::new(), now)
    }

    fn settle(
        &mut self,
        group: GroupId,
        received: Received,
        batch: Batch,
        now: u64,
    ) -> Result<(Received, Vec<Queued>), NodeError> {
        let written = self.key_actions(group, received.key_events.clone(), now)?;
        let queued = self.persist(group, written, batch)?;
        Ok((received, queued))
    }

    /// Commits the replica's changes, with an outbox item per written
    /// message and `batch`, in one durable commit.
    fn persist(
        &mut self,
        group: GroupId,
        written: Vec<Written>,
        mut batch: Batch,
    ) -> Result<Vec<Queued>, NodeError> {
        // A key request written in no epoch this member holds has no
        // envelope: it goes to peers only (`keys.md`, "Stranded members").
        for w in written.iter().filter(|w| !w.envelopes.is_empty()) {
            let payload = OutboxPayload {
                group,
                message: w.id,
                envelopes: w.envelopes.iter().map(|e| e.as_bytes().to_vec().into()).collect(),
            };
            batch = batch.push_outbox(group.0, cairn_proto::wire::encode(&payload));
        }
        let replica = self.replicas.get_mut(&group).ok_or(NodeError::UnknownGroup)?;
        let receipt = match replica.persist(self.profile.store_mut(), batch) {
            Ok(receipt) => receipt,
            Err(e) => {
                if let Err(again) = self.forget_unsaved(group)
                    && self.stale.contains(&group)
                {
                    tracing::warn!("the group is read back once the store can be read: {again}");
                }
                return Err(e.into());
            }
        };
        let sealed = written.into_iter().filter(|w| !w.envelopes.is_empty());
        let sealed: Vec<Written> = sealed.collect();
        for (w, id) in sealed.iter().zip(&receipt.outbox_ids) {
            self.pending.insert(*id, Some(w.id));
        }
        Ok(sealed
            .into_iter()
            .zip(receipt.outbox_ids)
            .map(|(w, outbox_id)| Queued {
                outbox_id,
                group,
                message: w.id,
                envelopes: w.envelopes,
            })
            .collect())
    }

    /// Every outbox item still waiting (after a restart).
    pub fn outbox(&self) -> Result<Vec<Queued>, NodeError> {
        let mut out = Vec::new();
        for item in self.profile.store().outbox()? {
            let p = decode_outbox(&item.payload)?;
            let envelopes = p
                .envelopes
                .iter()
                .map(|b| Envelope::parse(b))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| NodeError::Bug("an outbox envelope does not parse"))?;
            out.push(Queued { outbox_id: item.id, group: p.group, message: p.message, envelopes });
        }
        Ok(out)
    }

    /// How many outbox items wait (counted, not read from the store).
    pub fn outbox_len(&self) -> usize {
        self.pending.len()
    }

    /// Whether `group` has relays to post to.
    pub fn has_relays(&self, group: &GroupId) -> bool {
        self.relays_of(group).is_ok_and(|r| !r.is_empty())
    }

    /// The relays of `group`: its state's, or for a group this member left
    /// (whose history may be gone) the ones it had when it left.
    pub fn relays_of(&self, group: &GroupId) -> Result<Vec<String>, NodeError> {
        if let Some(left) = self.left.get(group) {
            return Ok(left.relays.clone());
        }
        let replica = self.replicas.get(group).ok_or(NodeError::UnknownGroup)?;
        Ok(replica.state().map(|s| s.relays.clone()).unwrap_or_default())
    }

    /// Outbox items that reached every relay (or need none): forget them,
    /// in one commit.
    pub fn delivered(&mut self, items: &[u64]) -> Result<(), NodeError> {
        if items.is_empty() {
            return Ok(());
        }
        let batch = items.iter().fold(Batch::new(), |b, id| b.remove_outbox(*id));
        self.profile.store_mut().commit(batch)?;
        for id in items {
            self.pending.remove(id);
        }
        Ok(())
    }

    /// `relay` stored every envelope of each outbox item in `items` of
    /// `group`. An item every relay of the group has stored leaves the
    /// outbox (all of them in one commit, in this one call, so no other
    /// action sees an item half delivered); returns their messages.
    pub fn relay_acked(
        &mut self,
        group: &GroupId,
        items: &[u64],
        relay: &str,
    ) -> Result<Vec<MessageId>, NodeError> {
        let relays = self.relays_of(group)?;
        let mut done = Vec::new();
        for item in items {
            let set = self.acks.entry(*item).or_default();
            set.insert(relay.to_owned());
            if relays.iter().all(|r| set.contains(r)) {
                self.acks.remove(item);
                done.push(*item);
            }
        }
        let messages = done.iter().filter_map(|id| self.pending.get(id).copied().flatten());
        let messages = messages.collect();
        self.delivered(&done)?;
        Ok(messages)
    }

    /// What `requester` may have of `group` beyond `have`.
    pub fn resync_for(
        &self,
        group: &GroupId,
        requester: &PublicKey,
        have: &BTreeMap<PublicKey, u64>,
        limit: usize,
    ) -> Result<Result<ResyncReply, NotEntitled>, NodeError> {
        let replica = self.replica(group)?;
        Ok(replica.resync_for(self.profile.store(), requester, have, limit)?)
    }

    /// The latest message per author of `group` held here.
    pub fn heads(&self, group: &GroupId) -> Result<Vec<Head>, NodeError> {
        Ok(self.replica(group)?.heads(self.profile.store())?)
    }

    /// Erases key material of every group superseded at least
    /// `grace_secs` before `now`, in memory and in the secrets file (slots
    /// overwritten in place). Returns how many secrets went.
    pub fn erase_expired(&mut self, now: u64, grace_secs: u64) -> Result<usize, NodeError> {
        let groups: Vec<GroupId> = self.replicas.keys().copied().collect();
        let mut total = 0;
        for g in groups {
            let erased = self.replica_mut(&g)?.erase_expired(now, grace_secs);
            let count = erased.epochs + erased.role_keys + erased.key_packages;
            if count > 0 {
                self.persist(g, Vec::new(), Batch::new())?;
                total += count;
            }
        }
        Ok(total)
    }
}

/// Hands the envelopes one relay delivered together to the replica. The one
/// place a relay batch meets the replica: it becomes one call of a batch
/// entry point (batch signature verification) when the replica has one.
fn take_in(replica: &mut Replica, envelopes: &[Envelope], now: u64) -> Received {
    // One batch signature check for the whole delivery.
    let delivery = replica.receive_envelopes(&mut os_rng(), envelopes, now);
    for (_, e) in &delivery.refused {
        // A bad envelope is the relay's or its author's problem: note it,
        // keep the cursor moving.
        tracing::debug!("envelope refused: {e}");
    }
    delivery.received
}

fn decode_outbox(payload: &[u8]) -> Result<OutboxPayload, NodeError> {
    cairn_proto::wire::decode_canonical(payload, 1 << 20)
        .map_err(|_| NodeError::Bug("an outbox item does not decode"))
}

mod duty;
mod leave;
mod stranded;

pub use leave::Leaving;
pub use stranded::{KeyDutyWrites, STRANDED_PULL_SECS};
#[cfg(test)]
mod test;
