//! What the node does with what arrives (envelopes from relays, messages
//! from peers) and with what the relays acknowledge: commit, tell the UI,
//! post what the keys ask for, follow epoch and relay-list changes.

use std::time::Duration;

use cairn_proto::group::KeyEvent;
use cairn_proto::replica::Received;
use cairn_proto::wire::GroupId;

use super::profile::{Queued, RelayBatch, now};
use super::{Node, NodeEvent, SecurityWarning};

impl Node {
    /// Takes in what one relay delivered together (envelopes another relay
    /// brought first count only for their cursors); false if the store
    /// refused the result.
    pub(crate) fn receive_relay_batch(
        &self,
        group: GroupId,
        relay: &str,
        delivered: &RelayBatch,
    ) -> bool {
        // Bind first: a guard in the scrutinee would live through the arms.
        let result = self.core().receive_relay_batch(group, relay, delivered, now());
        match result {
            Ok((received, queued)) => {
                self.relay_carried(group, &received.carried);
                self.after_receive(group, received, queued);
                true
            }
            Err(e) => {
                tracing::error!("cannot take in what a relay delivered: {e}");
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
        self.join_news(group, &received);
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

    /// A relay stored every envelope of the outbox items `items`.
    pub(crate) fn relay_acked(&self, group: GroupId, items: &[u64], relay: &str) {
        let (result, left_and_done) = {
            let mut core = self.core();
            let result = core.relay_acked(&group, items, relay);
            let done = core.has_left(&group) && !core.outbox_holds(&group).unwrap_or(true);
            (result, done)
        };
        match result {
            Ok(messages) => {
                for message in messages {
                    self.emit(NodeEvent::Delivered { group, message });
                }
            }
            Err(e) => tracing::error!("cannot clear outbox items: {e}"),
        }
        // A group this member left keeps its relay connections only until
        // its leave message is delivered (`node.md`, "Leaving").
        if left_and_done {
            self.relays().remove(&group);
        }
    }

    /// Hands outbox items to the relays (they are already in the store).
    pub(crate) fn dispatch(&self, queued: Vec<Queued>) {
        if queued.is_empty() {
            return;
        }
        // A group without relays has nothing to post to: members fetch
        // from each other's onion services. One look at the core for all.
        let (relayed, waiting) = {
            let mut core = self.core();
            let (relayed, local): (Vec<Queued>, Vec<Queued>) =
                queued.into_iter().partition(|q| core.has_relays(&q.group));
            let local: Vec<u64> = local.iter().map(|q| q.outbox_id).collect();
            if let Err(e) = core.delivered(&local) {
                tracing::error!("cannot clear outbox items: {e}");
            }
            (relayed, core.outbox_len())
        };
        if relayed.is_empty() {
            return;
        }
        self.post_to_relays(&relayed);
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
            let waiting = self.core().outbox_len();
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
