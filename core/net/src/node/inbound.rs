//! What the node does with what arrives (envelopes from relays, messages
//! from peers) and with what the relays acknowledge: commit, tell the UI,
//! post what the keys ask for, follow epoch and relay-list changes.

use std::time::Duration;

use cairn_proto::group::KeyEvent;
use cairn_proto::replica::Received;
use cairn_proto::wire::{Envelope, GroupId, MailboxId};

use super::profile::{Queued, now};
use super::{Node, NodeEvent, SecurityWarning};

impl Node {
    /// Takes in an envelope (or, if another relay brought it already, only
    /// its cursor); false if the store refused the result.
    pub(crate) fn receive_envelope(
        &self,
        group: GroupId,
        relay: &str,
        mailbox: MailboxId,
        cursor: u64,
        envelope: &Envelope,
        fresh: bool,
    ) -> bool {
        let result = if fresh {
            self.core().receive_envelope(group, relay, &mailbox, cursor, envelope, now())
        } else {
            self.core().put_cursor(group, relay, &mailbox, cursor).map(|()| Default::default())
        };
        match result {
            Ok((received, queued)) => {
                self.relay_carried(group, &received.carried);
                self.after_receive(group, received, queued);
                true
            }
            Err(e) => {
                tracing::error!("cannot take in an envelope: {e}");
                false
            }
        }
    }

    /// Takes in signed messages from a peer; returns how many were new.
    pub(crate) fn receive_messages(&self, group: GroupId, messages: Vec<Vec<u8>>) -> usize {
        // Bind first: a guard in the scrutinee would live through the arms.
        let result = self.core().receive_messages(group, messages, now());
        match result {
            Ok((received, queued)) => {
                let n = received.accepted.len();
                self.peer_carried(group, &received.carried);
                self.after_receive(group, received, queued);
                n
            }
            Err(e) => {
                tracing::error!("cannot take in messages from a peer: {e}");
                0
            }
        }
    }

    fn after_receive(&self, group: GroupId, received: Received, queued: Vec<Queued>) {
        for (id, error) in received.rejected {
            let reason = error.to_string();
            self.emit(NodeEvent::Warning(SecurityWarning::Rejected { group, id, reason }));
        }
        for author in received.equivocators {
            self.emit(NodeEvent::Warning(SecurityWarning::Equivocation { group, author }));
        }
        for (author, from, to) in received.gaps {
            self.emit(NodeEvent::Warning(SecurityWarning::Gap { group, author, from, to }));
        }
        let epoch_changed =
            received.key_events.iter().any(|e| matches!(e, KeyEvent::EpochEntered { .. }));
        let accepted = !received.accepted.is_empty();
        if accepted {
            self.emit(NodeEvent::Messages { group, ids: received.accepted });
        }
        self.dispatch(queued);
        if epoch_changed || accepted {
            self.follow_group(group);
        }
    }

    /// A relay stored every envelope of outbox item `item`.
    pub(crate) fn relay_acked(&self, group: GroupId, item: u64, relay: &str) {
        let result = self.core().relay_acked(&group, item, relay);
        match result {
            Ok(Some(message)) => self.emit(NodeEvent::Delivered { group, message }),
            Ok(None) => {}
            Err(e) => tracing::error!("cannot clear an outbox item: {e}"),
        }
    }

    /// Hands outbox items to the relays (they are already in the store).
    pub(crate) fn dispatch(&self, queued: Vec<Queued>) {
        if queued.is_empty() {
            return;
        }
        // A group without relays has nothing to post to: members fetch
        // from each other's onion services.
        let (relayed, local): (Vec<Queued>, Vec<Queued>) = queued
            .into_iter()
            .partition(|q| self.state(&q.group).is_ok_and(|s| !s.relays.is_empty()));
        for q in local {
            let result = self.core().delivered(q.outbox_id);
            if let Err(e) = result {
                tracing::error!("cannot clear an outbox item: {e}");
            }
        }
        let queued = relayed;
        if queued.is_empty() {
            return;
        }
        self.post_to_relays(&queued);
        let waiting = self.core().outbox_len().unwrap_or(0);
        if !self.any_relay_up() {
            let reason = if self.net().is_tor() {
                "no relay reachable (is Tor up?)"
            } else {
                "no relay reachable"
            };
            self.emit(NodeEvent::Queued { waiting, reason: reason.into() });
        }
    }

    /// Waits up to `wait` for the outbox to empty; returns how many items
    /// still wait (they stay stored and go out on a later run).
    pub async fn flush(&self, wait: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let waiting = self.core().outbox_len().unwrap_or(0);
            if waiting == 0 || tokio::time::Instant::now() >= deadline {
                return waiting;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fetches what is new, for up to `wait`: returns once every relay has
    /// been reached (or given up on for now) and nothing new arrived for a
    /// moment.
    pub async fn sync(&self, wait: Duration) {
        let quiet = Duration::from_millis(700);
        let deadline = tokio::time::Instant::now() + wait;
        let mut events = self.events();
        let mut last = tokio::time::Instant::now();
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline || (self.all_relays_tried() && now >= last + quiet) {
                return;
            }
            let until = deadline.min(now + quiet);
            if let Ok(Ok(NodeEvent::Messages { .. } | NodeEvent::RelayUp { .. })) =
                tokio::time::timeout_at(until, events.recv()).await
            {
                last = tokio::time::Instant::now();
            }
        }
    }
}
