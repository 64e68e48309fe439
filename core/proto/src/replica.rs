//! One member's replica of one group: the chain, the fold and the member's
//! keys behind one interface for the node (`protocol-spec/node.md`).
//!
//! Every delivery goes the whole way: envelope → open under the epoch whose
//! mailbox it names → reassemble → decode → verify → [`ChainState::ingest`]
//! → [`Fold::insert_entry`] → [`MemberKeys::observe`]. Inputs that arrive
//! together (a relay fetch, a resync page) are verified in one batch. A
//! message written here takes the same path after it is signed (its own
//! signature trusted), so the writer's view never differs from a reader's. The replica does no I/O: the node hands it bytes,
//! `now` and an rng, persists what [`Replica::persist`] gives the store, and
//! posts what [`Written`] carries.

use std::collections::BTreeMap;

use rand_core::CryptoRng;

use crate::chain::{ChainError, ChainEvent, ChainState, Entry, Verified};
use crate::crypto::{PublicKey, SigningKey};
use crate::epoch::{Erased, KeyPackage, KeyRef};
use crate::group::{Change, Fold, GroupState, KeyEvent, KeyStoreError, MemberKeys, Rules};
use crate::identity::Identity;
use crate::store::{Batch, CommitReceipt, Store, StoreError, StoredEntry};
use crate::wire::{
    Body, Contact, Envelope, EnvelopeError, EpochId, EpochKeys, FragmentError, Genesis, GroupId,
    MailboxId, MessageId, Reassembler, SignedMessage, UnsignedMessage, seal_message,
};

mod changes;
mod invites;
mod joins;
mod resync;
mod tasks;

pub use changes::{ChangeMark, Since};
pub use joins::{JoinNote, JoinOutcome, MAX_JOIN_NOTES};

pub use resync::{NotEntitled, PAGE_BYTES, READ_AHEAD, READ_AHEAD_BYTES, ResyncReply};

/// Why the replica refused an input or could not act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicaError {
    /// The envelope's mailbox is not one of an epoch this member holds.
    #[error("envelope for a mailbox of no epoch held")]
    UnknownMailbox,
    /// The envelope does not parse, open or pass its write check.
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// A fragment does not fit the message it claims to belong to.
    #[error("fragment: {0}")]
    Fragment(#[from] FragmentError),
    /// The message does not decode or its signature is wrong.
    #[error("message: {0}")]
    Message(#[from] ChainError),
    /// This member holds no key of the current epoch: it cannot write.
    #[error("no key of the current epoch: wait for a rekey to reach this member")]
    NoEpochKey,
    /// The message this member wrote was not applied (the body is not
    /// allowed now); nothing was kept.
    #[error("refused by the group rules: {0}")]
    Refused(String),
    /// The signing key handed to [`Replica::write`] is not this member's.
    #[error("the signing key is not this member's")]
    NotMyKey,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Saving or loading keys failed.
    #[error("keys: {0}")]
    Keys(#[from] KeyStoreError),
    /// The stored replica is not what this cairn writes.
    #[error("stored group is damaged: {0}")]
    Corrupt(&'static str),
}

/// What one delivery did.
#[derive(Debug, Default)]
pub struct Received {
    /// Messages accepted into the chain, in causal order.
    pub accepted: Vec<MessageId>,
    /// Verdict changes of the fold.
    pub changes: Vec<Change>,
    /// What the member's keys made of them.
    pub key_events: Vec<KeyEvent>,
    /// Holes in authors' chains (fetch them: a relay may be withholding).
    pub gaps: Vec<(PublicKey, u64, u64)>,
    /// Refused messages with the broken rule.
    pub rejected: Vec<(MessageId, ChainError)>,
    /// Authors caught signing two messages at one position.
    pub equivocators: Vec<PublicKey>,
    /// Messages already held.
    pub duplicates: usize,
    /// Every message that arrived and verified, new or already held (a
    /// node compares what relays delivered with what peers hold, `node.md`
    /// "Withholding").
    pub carried: Vec<Carried>,
    /// Pending joins shared with this member, admitted or declined
    /// (`protocol-spec/peer.md`, "Pending joins").
    pub joins: Vec<JoinNote>,
}

/// A message that arrived, by position (see [`Received::carried`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carried {
    /// Its author.
    pub author: PublicKey,
    /// Its position in the author's chain.
    pub seq: u64,
    /// The epoch it belongs to.
    pub epoch: EpochId,
    /// The minute it says it was written (Unix time / 60).
    pub minute: u64,
}

/// What a delivery of several envelopes or messages did.
#[derive(Debug, Default)]
pub struct Delivery {
    /// What those taken in did, together.
    pub received: Received,
    /// The inputs refused, by index, with why.
    pub refused: Vec<(usize, ReplicaError)>,
}

impl Received {
    /// Adds `other`'s outcomes to these.
    pub fn merge(&mut self, other: Received) {
        self.accepted.extend(other.accepted);
        self.changes.extend(other.changes);
        self.key_events.extend(other.key_events);
        self.gaps.extend(other.gaps);
        self.rejected.extend(other.rejected);
        self.equivocators.extend(other.equivocators);
        self.duplicates += other.duplicates;
        self.carried.extend(other.carried);
        self.joins.extend(other.joins);
    }
}

/// A message this member wrote: its id, its encoding, the envelopes to post
/// (sealed under the epoch it names) and what taking it in did here.
#[derive(Debug)]
pub struct Written {
    /// The message id.
    pub id: MessageId,
    /// The encoded signed message (for direct delivery to peers).
    pub bytes: Vec<u8>,
    /// The envelopes to post to every relay of the group.
    pub envelopes: Vec<Envelope>,
    /// What taking it in did.
    pub received: Received,
}

/// One member's replica of one group.
pub struct Replica {
    me: PublicKey,
    chain: ChainState,
    fold: Fold,
    keys: MemberKeys,
    reassembler: Reassembler,
    mailboxes: BTreeMap<MailboxId, EpochId>,
    /// The keys of every epoch held, derived once: deriving them costs a
    /// scalar multiplication, as much as a signature (issue 14).
    epoch_keys: BTreeMap<EpochId, EpochKeys>,
    /// Accepted entries not yet handed to the store.
    unsaved: Vec<StoredEntry>,
    /// Where the fold changed, for readers that keep a view of it.
    changes: changes::ChangeLog,
    /// Pending joins shared with this member, and their outcomes.
    joins: joins::JoinBoard,
}

impl core::fmt::Debug for Replica {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Replica")
            .field("group", &self.chain.group())
            .field("entries", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// The wall-clock minute a message states (`wire.md`).
fn minute(now: u64) -> u64 {
    now / 60
}

impl Replica {
    /// Founds a group named `name` with `rules`: a fresh group id, the
    /// genesis message, then this member's key package and contact. Returns
    /// the replica and the three messages to post, in order.
    pub fn found(
        rng: &mut (impl CryptoRng + ?Sized),
        identity: &Identity,
        name: &str,
        rules: &Rules,
        now: u64,
    ) -> Result<(Self, Vec<Written>), ReplicaError> {
        let mut group = [0u8; 32];
        rng.fill_bytes(&mut group);
        let group = GroupId(group);
        let me = identity.public_key();
        let body = Body::Genesis(Genesis { name: name.into(), rules: rules.encode() });
        let genesis = ChainState::new(group)
            .draft(&me, EpochId::GENESIS, minute(now), body)
            .sign(identity.signing_key());
        let gid = genesis.id();
        let keys = MemberKeys::founding(rng, me, group, gid, rules);
        let mut replica = Self::with(me, group, gid, keys);
        let first = replica.take_in_own(rng, genesis, EpochId(gid.0), now)?;
        let kp = replica.keys.new_key_package(rng);
        let kp = replica.write(rng, identity.signing_key(), kp, now)?;
        let contact = Body::Contact(Contact { onion: identity.onion_key().public() });
        let contact = replica.write(rng, identity.signing_key(), contact, now)?;
        Ok((replica, vec![first, kp, contact]))
    }

    /// A joiner's replica of `group` (whose genesis is `genesis`), and the
    /// key package to hand to the inviter.
    pub fn joining(
        rng: &mut (impl CryptoRng + ?Sized),
        me: PublicKey,
        group: GroupId,
        genesis: MessageId,
    ) -> (Self, KeyPackage) {
        let (keys, kp) = MemberKeys::joining(rng, me, group);
        (Self::with(me, group, genesis, keys), kp)
    }

    fn with(me: PublicKey, group: GroupId, genesis: MessageId, keys: MemberKeys) -> Self {
        let mut replica = Self {
            me,
            chain: ChainState::new(group),
            fold: Fold::new(group, genesis),
            keys,
            reassembler: Reassembler::new(),
            mailboxes: BTreeMap::new(),
            epoch_keys: BTreeMap::new(),
            unsaved: Vec::new(),
            changes: changes::ChangeLog::new(),
            joins: joins::JoinBoard::default(),
        };
        replica.refresh_mailboxes();
        replica
    }

    /// The group id.
    pub fn group(&self) -> GroupId {
        self.chain.group()
    }

    /// This member.
    pub fn me(&self) -> &PublicKey {
        &self.me
    }

    /// The group state, once the genesis is in.
    pub fn state(&self) -> Option<&GroupState> {
        self.fold.state()
    }

    /// The fold (chat, threads, verdicts, evidence).
    pub fn fold(&self) -> &Fold {
        &self.fold
    }

    /// The chain (entries, version vector, equivocation proofs).
    pub fn chain(&self) -> &ChainState {
        &self.chain
    }

    /// The member's keys (sealing and opening task content).
    pub fn keys(&self) -> &MemberKeys {
        &self.keys
    }

    /// Whether this member is a member now.
    pub fn is_member(&self) -> bool {
        self.state().is_some_and(|s| s.members.contains_key(&self.me))
    }

    /// The current epoch (genesis epoch before the genesis is in).
    pub fn epoch(&self) -> EpochId {
        self.state().map_or(EpochId::GENESIS, |s| s.epoch.id)
    }

    /// The mailboxes to read: every epoch whose secret this member holds
    /// (the current one and those within their grace period), newest
    /// first: a relay connection uses only the first few (`relay.md` §4).
    pub fn mailboxes(&self) -> Vec<MailboxId> {
        // An epoch's id is the id of the message that made it; the later
        // that message in causal order, the newer the epoch. The current
        // epoch comes first even if a concurrent losing rekey is later.
        let current = self.epoch();
        let rank = |e: &EpochId| {
            let made_by = self.chain().entry(&MessageId(e.0));
            (*e == current, made_by.map_or(0, |m| m.message().lamport))
        };
        let mut all: Vec<(MailboxId, EpochId)> =
            self.mailboxes.iter().map(|(m, e)| (*m, *e)).collect();
        all.sort_by_key(|(_, e)| std::cmp::Reverse(rank(e)));
        all.into_iter().map(|(m, _)| m).collect()
    }

    /// The mailbox of the current epoch, if this member holds its key.
    pub fn current_mailbox(&self) -> Option<MailboxId> {
        self.mailbox_of(&self.epoch())
    }

    /// The mailbox of `epoch`, if this member holds its key.
    pub fn mailbox_of(&self, epoch: &EpochId) -> Option<MailboxId> {
        self.mailboxes.iter().find(|(_, e)| *e == epoch).map(|(m, _)| *m)
    }

    fn refresh_mailboxes(&mut self) {
        let ring = self.keys.ring();
        let mut keys = std::mem::take(&mut self.epoch_keys);
        keys.retain(|e, _| ring.epoch_secret(e).is_some());
        for e in ring.epochs() {
            if let (false, Some(secret)) = (keys.contains_key(e), ring.epoch_secret(e)) {
                keys.insert(*e, secret.keys());
            }
        }
        self.mailboxes = keys.iter().map(|(e, k)| (k.mailbox, *e)).collect();
        self.epoch_keys = keys;
    }

    /// Takes in one envelope from a relay (see [`Replica::receive_envelopes`]).
    pub fn receive_envelope(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        envelope: &Envelope,
        now: u64,
    ) -> Result<Received, ReplicaError> {
        let mut delivery = self.receive_envelopes(rng, std::slice::from_ref(envelope), now);
        match delivery.refused.pop() {
            Some((_, e)) => Err(e),
            None => Ok(delivery.received),
        }
    }

    /// Takes in envelopes delivered together (one relay fetch): opens each
    /// under the epoch whose mailbox it names (the write signature is the
    /// relay's check, `wire.md` "Opening (member)"), reassembles, and
    /// verifies the signatures of every message they complete in one batch
    /// before taking them in, in order. The outcome equals taking them in
    /// one by one: an envelope of a mailbox not yet known is opened after
    /// what came before it is taken in (it may carry that epoch's key).
    pub fn receive_envelopes(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        envelopes: &[Envelope],
        now: u64,
    ) -> Delivery {
        let mut delivery = Delivery::default();
        let mut complete = Vec::new();
        for (i, envelope) in envelopes.iter().enumerate() {
            if !self.mailboxes.contains_key(&envelope.mailbox()) && !complete.is_empty() {
                self.receive_verified(rng, std::mem::take(&mut complete), now, &mut delivery);
            }
            match self.open_envelope(envelope) {
                Ok(Some((bytes, epoch))) => complete.push((i, bytes, Some(epoch))),
                Ok(None) => {}
                Err(e) => delivery.refused.push((i, e)),
            }
        }
        self.receive_verified(rng, complete, now, &mut delivery);
        delivery
    }

    /// Opens one envelope; the message bytes once its last fragment is in.
    fn open_envelope(
        &mut self,
        envelope: &Envelope,
    ) -> Result<Option<(Vec<u8>, EpochId)>, ReplicaError> {
        let epoch = *self.mailboxes.get(&envelope.mailbox()).ok_or(ReplicaError::UnknownMailbox)?;
        let keys = self.epoch_keys.get(&epoch).ok_or(ReplicaError::UnknownMailbox)?;
        let fragment = envelope.open(keys)?;
        Ok(self.reassembler.add(fragment)?.map(|bytes| (bytes, epoch)))
    }

    /// Takes in one signed message handed over directly by a peer (resync,
    /// delivery, welcome). It is checked like any other; the epoch it names
    /// stands for the one that opened it.
    pub fn receive_message(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        bytes: Vec<u8>,
        now: u64,
    ) -> Result<Received, ReplicaError> {
        let mut delivery = self.receive_messages(rng, vec![bytes], now);
        match delivery.refused.pop() {
            Some((_, e)) => Err(e),
            None => Ok(delivery.received),
        }
    }

    /// Takes in signed messages a peer handed over together (a resync
    /// page): one batch signature check, then each in order.
    pub fn receive_messages(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        messages: Vec<Vec<u8>>,
        now: u64,
    ) -> Delivery {
        let mut delivery = Delivery::default();
        let items = messages.into_iter().enumerate().map(|(i, m)| (i, m, None)).collect();
        self.receive_verified(rng, items, now, &mut delivery);
        delivery
    }

    /// Decodes `items` (input index, message bytes, the epoch that opened
    /// them if any), verifies them in one batch and takes in those that
    /// pass, in order.
    fn receive_verified(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        items: Vec<(usize, Vec<u8>, Option<EpochId>)>,
        now: u64,
        delivery: &mut Delivery,
    ) {
        let mut decoded = Vec::with_capacity(items.len());
        let mut entries = Vec::with_capacity(items.len());
        for (i, bytes, opened) in items {
            match Entry::decode(bytes) {
                Ok(entry) => {
                    decoded.push((i, opened));
                    entries.push(entry);
                }
                Err(e) => delivery.refused.push((i, e.into())),
            }
        }
        let verified = crate::chain::verify_batch(rng, entries);
        for ((i, opened), entry) in decoded.into_iter().zip(verified) {
            match entry {
                Ok(entry) => {
                    let received = self.receive_entry(rng, entry, opened, now);
                    delivery.received.merge(received);
                }
                Err(e) => delivery.refused.push((i, e.into())),
            }
        }
        delivery.refused.sort_by_key(|(i, _)| *i);
    }

    fn receive_entry(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        entry: Entry<Verified>,
        opened: Option<EpochId>,
        now: u64,
    ) -> Received {
        let genesis = matches!(entry.message().body, Body::Genesis(_));
        let stated = if genesis { EpochId(entry.id().0) } else { entry.message().epoch };
        let epoch = opened.unwrap_or(stated);
        let m = entry.message();
        let carried = Carried { author: entry.author(), seq: m.seq, epoch, minute: m.minute };
        let mut received = self.ingest(rng, entry, epoch, now);
        received.carried.push(carried);
        received
    }

    fn ingest(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        entry: Entry<Verified>,
        opened: EpochId,
        now: u64,
    ) -> Received {
        let mut out = Received::default();
        for event in self.chain.ingest(entry, opened) {
            match event {
                ChainEvent::Accepted(e) => out.merge(self.accept(rng, &e, now)),
                ChainEvent::Duplicate(_) => out.duplicates += 1,
                ChainEvent::Gap { author, missing } => {
                    out.gaps.push((author, *missing.start(), *missing.end()));
                }
                ChainEvent::Equivocation(p) => {
                    out.equivocators.push(p.author());
                    out.changes.extend(self.fold.equivocation(p.author(), p.first.message.seq));
                }
                ChainEvent::Rejected { id, error, .. } => out.rejected.push((id, error)),
                ChainEvent::WaitingForParents { .. } | ChainEvent::PendingFull(_) => {}
            }
        }
        if out.key_events.iter().any(|e| matches!(e, KeyEvent::EpochEntered { .. })) {
            self.refresh_mailboxes();
        }
        self.note_changes(&out.changes);
        out
    }

    /// Notes the earliest position `changes` touched (see [`Self::changed_since`]).
    fn note_changes(&mut self, changes: &[Change]) {
        let at = |c: &Change| self.chain.entry(&c.id).map(|e| (e.message().lamport, c.id));
        if let Some(earliest) = changes.iter().filter_map(at).min() {
            self.changes.note(earliest);
        }
    }

    /// Where the fold changed after `mark`: a reader keeping a view of the
    /// timeline re-reads from there (every verdict before it is as it was
    /// at `mark`). Returns the mark that covers everything up to now.
    pub fn changed_since(&self, mark: ChangeMark) -> (Since, ChangeMark) {
        (self.changes.since(mark), self.changes.mark())
    }

    /// Folds one accepted entry and lets the keys observe every verdict it
    /// changed (a late message can change earlier verdicts).
    fn accept(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        entry: &std::sync::Arc<Entry<Verified>>,
        now: u64,
    ) -> Received {
        let mut out = Received::default();
        let changes = self.fold.insert_entry(entry);
        if !self.fold.holds(&entry.id()) {
            // A key never let in: not folded, not stored, so never served.
            // The chain keeps it in memory only, so that an equivocation
            // against it is found whatever the order of arrival.
            out.changes = changes;
            return out;
        }
        out.accepted.push(entry.id());
        self.unsaved.push(StoredEntry {
            group: self.chain.group().0,
            author: entry.author(),
            seq: entry.seq(),
            id: entry.id().0,
            lamport: entry.message().lamport,
            bytes: entry.bytes().to_vec(),
        });
        // Borrowed, not cloned: chain, fold and keys are separate fields,
        // and a copy of the whole state per message made the cost of each
        // message grow with the group's history (issue 14).
        for change in &changes {
            let (Some(e), Some(state)) = (self.chain.entry(&change.id), self.fold.state()) else {
                continue;
            };
            let events =
                self.keys.observe(rng, state, change.id, e.message(), &change.verdict, now);
            out.key_events.extend(events);
        }
        for change in &changes {
            out.joins.extend(self.note_join(change.id, &change.verdict));
        }
        let keys_came = out
            .key_events
            .iter()
            .any(|e| matches!(e, KeyEvent::RoleKeyReceived { .. } | KeyEvent::EpochEntered { .. }));
        if keys_came && !self.joins.is_settled() {
            out.joins.extend(self.reopen_joins());
        }
        out.changes = changes;
        out
    }

    /// Writes `body` as this member's next message in the current epoch:
    /// drafts, signs, takes it in here, and seals it for the relays. A body
    /// the rules refuse is an error and nothing is kept.
    pub fn write(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        key: &SigningKey,
        body: Body,
        now: u64,
    ) -> Result<Written, ReplicaError> {
        if key.public() != self.me {
            // The message is taken in here unverified (`Entry::own`).
            return Err(ReplicaError::NotMyKey);
        }
        let epoch = self.write_epoch(&body)?;
        let message = self.draft_in(epoch, body, now);
        if let Some(state) = self.fold.state() {
            crate::group::authorize(state, &message)
                .map_err(|r| ReplicaError::Refused(r.to_string()))?;
        }
        self.take_in_own(rng, message.sign(key), epoch, now)
    }

    /// The epoch a body is written in: the current one, except for a
    /// re-wrap, written in the epoch its request came in (the requester
    /// holds that one, and reads it from the relays). A member who holds
    /// no secret of the current epoch may still ask for it (`KeyRequest`): in the newest
    /// epoch it holds that no former member knows, whose mailbox the others
    /// still follow for the grace period, or, holding none, bound to the
    /// current epoch and sealed for no relay (it reaches the others through
    /// peers only).
    fn write_epoch(&self, body: &Body) -> Result<EpochId, ReplicaError> {
        let current = self.epoch();
        let ring = self.keys.ring();
        if let Body::EpochRewrap(rw) = body
            && let Some(epoch) = self.keys.reply_epoch(rw)
            && self.unknown_to_former_members(&epoch)
        {
            return Ok(epoch);
        }
        if ring.epoch_secret(&current).is_some() {
            return Ok(current);
        }
        if !matches!(body, Body::KeyRequest(_)) {
            return Err(ReplicaError::NoEpochKey);
        }
        let newest = (ring.held().into_iter())
            .filter_map(|(r, superseded)| match r {
                KeyRef::Epoch(e) => Some((superseded.unwrap_or(u64::MAX), e)),
                _ => None,
            })
            .filter(|(_, e)| self.unknown_to_former_members(e))
            .max();
        Ok(newest.map_or(current, |(_, e)| e))
    }

    /// Whether no one who left or was removed (in this member's view) can
    /// hold epoch `e`'s secret: every departure is in the causal past of
    /// the message that made `e`, whose rekey therefore wrapped to none of
    /// them. Only such an older epoch may carry a message written now: a
    /// former member must not read it.
    fn unknown_to_former_members(&self, e: &EpochId) -> bool {
        let Some(state) = self.fold.state() else { return false };
        let made = MessageId(e.0);
        self.fold.holds(&made)
            && state.former.values().all(|f| self.fold.in_causal_past(&f.gone_by, &made))
    }

    /// A draft of this member's next message (for content bound to its
    /// seq before signing, see [`crate::group::content_binding`]).
    pub fn draft(&self, body: Body, now: u64) -> UnsignedMessage {
        self.draft_in(self.epoch(), body, now)
    }

    /// A draft citing only messages the group keeps (never one of a key
    /// that was not let in: it would hide this message's own past).
    fn draft_in(&self, epoch: EpochId, body: Body, now: u64) -> UnsignedMessage {
        let kept = |id: &MessageId| self.fold.holds(id);
        self.chain.draft_among(&self.me, epoch, minute(now), body, kept)
    }

    fn take_in_own(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        signed: SignedMessage,
        epoch: EpochId,
        now: u64,
    ) -> Result<Written, ReplicaError> {
        if !self.epoch_keys.contains_key(&epoch) {
            // A secret the ring took in without an epoch change.
            self.refresh_mailboxes();
        }
        // Only a key request is written in an epoch this member holds no
        // secret of (`write_epoch`): it goes to peers, sealed for no relay.
        let envelopes = match self.epoch_keys.get(&epoch) {
            Some(keys) => seal_message(rng, keys, &signed)?,
            None if matches!(signed.message.body, Body::KeyRequest(_)) => Vec::new(),
            None => return Err(ReplicaError::NoEpochKey),
        };
        let bytes = signed.encode();
        let id = signed.id();
        let entry = Entry::from_signed(signed).own()?;
        let received = self.ingest(rng, entry, epoch, now);
        Ok(Written { id, bytes, envelopes, received })
    }

    /// What the member's keys ask to post now: a fresh key package after
    /// one was used, role-key grants that are due.
    pub fn key_actions(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        events: &[KeyEvent],
        now: u64,
    ) -> Vec<Body> {
        let Some(state) = self.fold.state().cloned() else { return Vec::new() };
        if !state.members.contains_key(&self.me) {
            return Vec::new();
        }
        let mut bodies = Vec::new();
        let used = events.iter().any(|e| {
            matches!(e, KeyEvent::KeyPackageUsed { .. } | KeyEvent::RekeyDoesNotOpen { .. })
        });
        // Holding no secret of the current epoch, a member can write only a
        // request for it, which carries a fresh key package of its own.
        if let Some(epoch) = self.keys.request_due(&state, now) {
            bodies.push(self.keys.key_request(rng, epoch, now));
            return bodies;
        }
        if self.keys.stranded(&state).is_some() {
            return bodies;
        }
        if used {
            bodies.push(self.keys.new_key_package(rng));
        }
        // A stranded member admitted before the current epoch began gets
        // it re-wrapped; one admitted after (its admission's rekey was not
        // adopted) gets a new epoch instead, or it would read what was
        // said before it came (`keys.md`, "Stranded members").
        let entitled = |who: &PublicKey| {
            let made = MessageId(state.epoch.id.0);
            state.members.get(who).is_some_and(|m| self.fold.in_causal_past(&m.since.1, &made))
        };
        let rewrap_to: Vec<PublicKey> =
            self.keys.rewraps_due(&state, now).into_iter().filter(|w| entitled(w)).collect();
        let rekey_for: Vec<PublicKey> =
            self.keys.rekeys_due(&state, now).into_iter().filter(|w| !entitled(w)).collect();
        if !rewrap_to.is_empty()
            && let Ok(body) = self.keys.rewrap(rng, &state, &rewrap_to)
        {
            bodies.push(body);
        }
        if !rekey_for.is_empty()
            && let Ok((rekey, _)) = self.keys.build_rekey(rng, &state, None, &[])
        {
            self.keys.drop_requests(&rekey_for);
            bodies.push(Body::Rekey(rekey));
            return bodies;
        }
        // A role key the designated holder owes and has not granted by
        // this member's turn (it is offline) is granted by this member.
        self.keys.promote_backup_grants(&state, now);
        bodies.extend(self.keys.take_due_grants(rng, &state));
        // A role key a revoked member knows is replaced in the next epoch:
        // one member (the rotator) posts the rekey that brings it.
        // The rotator may hold no key of the role: it learns of the exposure
        // from the fold (a revocation the current epoch did not follow).
        let exposed = events.iter().any(|e| matches!(e, KeyEvent::RoleKeyExposed { .. }))
            || self.fold.revocation_outruns_epoch();
        if exposed && crate::group::rotator(&state) == Some(self.me) {
            // A rekey that cannot be built is left to the scheduled rotation;
            // nothing is sealed to the role meanwhile.
            if let Ok((rekey, _)) = self.keys.build_rekey(rng, &state, None, &[]) {
                bodies.push(Body::Rekey(rekey));
            }
        }
        bodies
    }

    /// The body of a revocation of `role` from `member`, with its rekey.
    /// The member stays in the group, so the rekey wraps the new epoch to
    /// it too ([`MemberKeys::revocation_rekey`]); only the role's fresh key
    /// is kept from it.
    pub fn role_revoke_body(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        member: PublicKey,
        role: &str,
    ) -> Result<Body, ReplicaError> {
        let state = self.fold.state().cloned().ok_or(ReplicaError::NoEpochKey)?;
        let (rekey, _) = self
            .keys
            .revocation_rekey(rng, &state)
            .map_err(|e| ReplicaError::Refused(e.to_string()))?;
        let revoke = crate::wire::RoleRevoke { member, role: role.into(), rekey: Some(rekey) };
        Ok(Body::RoleRevoke(revoke))
    }

    /// Builds a rekey (plain rotation when `joiner` is `None` and `leaving`
    /// is empty). See [`MemberKeys::build_rekey`].
    pub fn build_rekey(
        &mut self,
        rng: &mut (impl CryptoRng + ?Sized),
        joiner: Option<(&PublicKey, &KeyPackage)>,
        leaving: &[PublicKey],
    ) -> Result<(crate::epoch::Rekey, Vec<PublicKey>), ReplicaError> {
        let state = self.fold.state().cloned().ok_or(ReplicaError::NoEpochKey)?;
        self.keys
            .build_rekey(rng, &state, joiner, leaving)
            .map_err(|e| ReplicaError::Refused(e.to_string()))
    }

    /// Makes the member's own key package of a join public (after the
    /// welcome): grants reach it from then on.
    pub fn publish_key_package(&self) -> Option<Body> {
        self.keys.publish()
    }

    /// Erases key material past its grace period.
    pub fn erase_expired(&mut self, now: u64, grace_secs: u64) -> Erased {
        let erased = self.keys.erase_expired(now, grace_secs);
        self.refresh_mailboxes();
        erased
    }

    /// The member left: erases the group's keys
    /// ([`MemberKeys::erase_on_leave`]), so that nothing new opens and no
    /// mailbox is followed any more. Persist afterwards to overwrite the
    /// stored secrets.
    pub fn erase_keys_on_leave(&mut self, keep_role_keys: bool) -> Erased {
        let erased = self.keys.erase_on_leave(keep_role_keys);
        self.refresh_mailboxes();
        erased
    }

    /// Loses every key-package secret (tests: a member whose secret is
    /// gone, so that the next rekey does not open for it).
    #[cfg(test)]
    pub(crate) fn forget_key_packages_for_test(&mut self) {
        self.keys.lose_key_packages();
    }

    /// Persists what changed: the keys first (so a crash between the two
    /// commits at worst re-delivers messages, which is harmless), then the
    /// accepted entries together with `extra` (outbox items, cursors) in
    /// one durable commit.
    pub fn persist(
        &mut self,
        store: &mut dyn Store,
        extra: Batch,
    ) -> Result<CommitReceipt, ReplicaError> {
        self.keys.save(store)?;
        let mut batch = extra;
        for e in self.unsaved.drain(..) {
            batch = batch.append(e);
        }
        Ok(store.commit(batch)?)
    }

    /// Opens the replica of `group` this member stored: loads the keys and
    /// replays every stored entry through the chain and the fold. Entries
    /// are decoded and their shape checked, but their signatures are not
    /// verified again: only verified entries are ever written, and every
    /// row is sealed under the storage key and bound to its slot, so a
    /// row that was not written by this profile does not open
    /// (`store.md`, "Reopening"). Re-verifying cost most of the time to
    /// open a large group (issue 14).
    pub fn open(
        store: &dyn Store,
        group: GroupId,
        genesis: MessageId,
    ) -> Result<Self, ReplicaError> {
        let keys =
            MemberKeys::load(store, group)?.ok_or(ReplicaError::Corrupt("no keys stored"))?;
        let me = *keys.me();
        let mut replica = Self::with(me, group, genesis, keys);
        let mut stored = Vec::new();
        for (author, top) in store.version_vector(&group.0)? {
            stored.extend(store.range(&group.0, &author, 0..=top)?);
        }
        stored.sort_by_key(|e| (e.lamport, e.id));
        for e in stored {
            let entry = Entry::dangerously_trust_stored(e.bytes)?;
            if entry.id().0 != e.id || entry.author() != e.author || entry.seq() != e.seq {
                return Err(ReplicaError::Corrupt("a stored entry is not the one its row names"));
            }
            let genesis = matches!(entry.message().body, Body::Genesis(_));
            let epoch = if genesis { EpochId(entry.id().0) } else { entry.message().epoch };
            for event in replica.chain.ingest(entry, epoch) {
                if let ChainEvent::Accepted(e) = event {
                    replica.fold.insert_entry(&e);
                } else if let ChainEvent::Equivocation(p) = event {
                    replica.fold.equivocation(p.author(), p.first.message.seq);
                }
            }
        }
        replica.refresh_mailboxes();
        if let Some(state) = replica.fold.state() {
            replica.keys.baseline(state);
        }
        replica.rebuild_joins();
        Ok(replica)
    }
}

#[cfg(test)]
mod test;
