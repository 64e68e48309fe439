//! Live subscriptions: which connections want the new envelopes of which
//! mailbox.
//!
//! The writer publishes each newly stored envelope once; the hub hands an
//! [`Arc`] of it to every subscribed connection's bounded queue without
//! waiting. A full queue is not waited for and not grown: the connection is
//! marked *lagged* and catches up from the store once it has drained its
//! queue, so a slow subscriber costs neither memory nor other clients'
//! time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use cairn_proto::wire::{Envelope, MailboxId};
use tokio::sync::mpsc;

/// A newly stored envelope for subscribers.
#[derive(Debug, Clone)]
pub(crate) struct Push {
    /// Its mailbox.
    pub(crate) mailbox: MailboxId,
    /// Its cursor.
    pub(crate) cursor: u64,
    /// The envelope, shared by every subscriber's queue.
    pub(crate) envelope: Arc<Envelope>,
}

/// One connection's end of the hub.
#[derive(Debug, Clone)]
pub(crate) struct Subscriber {
    /// The connection's number (to unsubscribe it).
    pub(crate) conn: u64,
    /// Its bounded push queue.
    pub(crate) queue: mpsc::Sender<Push>,
    /// Set when a push did not fit in the queue.
    pub(crate) lagged: Arc<AtomicBool>,
}

/// Subscribers by mailbox.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    inner: Mutex<HashMap<MailboxId, Vec<Subscriber>>>,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MailboxId, Vec<Subscriber>>> {
        // The map stays consistent even if a holder panicked mid-way: every
        // change is a single push or retain.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `sub` as a subscriber of `mailbox` (once per connection).
    pub(crate) fn subscribe(&self, mailbox: MailboxId, sub: &Subscriber) {
        let mut map = self.lock();
        let subs = map.entry(mailbox).or_default();
        if !subs.iter().any(|s| s.conn == sub.conn) {
            subs.push(sub.clone());
        }
    }

    /// Removes connection `conn` from the subscribers of `mailboxes`.
    pub(crate) fn unsubscribe(&self, conn: u64, mailboxes: impl IntoIterator<Item = MailboxId>) {
        let mut map = self.lock();
        for m in mailboxes {
            if let Some(subs) = map.get_mut(&m) {
                subs.retain(|s| s.conn != conn);
                if subs.is_empty() {
                    map.remove(&m);
                }
            }
        }
    }

    /// Offers `push` to every subscriber of its mailbox; returns how many
    /// queued it and how many were full (now lagged).
    pub(crate) fn publish(&self, push: &Push) -> (u64, u64) {
        let map = self.lock();
        let Some(subs) = map.get(&push.mailbox) else { return (0, 0) };
        let (mut queued, mut lagged) = (0, 0);
        for s in subs {
            match s.queue.try_send(push.clone()) {
                Ok(()) => queued += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.lagged.store(true, Ordering::Release);
                    lagged += 1;
                }
                // The connection is going away and unsubscribes itself.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        (queued, lagged)
    }

    /// Mailboxes with at least one subscriber.
    pub(crate) fn mailboxes(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn push(m: MailboxId, cursor: u64) -> Push {
        let env = Envelope::parse(&[1u8; cairn_proto::wire::ENVELOPE_LEN]).expect("shape");
        Push { mailbox: m, cursor, envelope: Arc::new(env) }
    }

    #[test]
    fn full_queues_mark_the_subscriber_lagged_instead_of_growing() {
        let hub = Hub::default();
        let m = MailboxId([1; 32]);
        let (tx, mut rx) = mpsc::channel(2);
        let sub = Subscriber { conn: 7, queue: tx, lagged: Arc::default() };
        hub.subscribe(m, &sub);
        hub.subscribe(m, &sub);
        assert_eq!(hub.publish(&push(m, 1)), (1, 0), "subscribed once");
        assert_eq!(hub.publish(&push(m, 2)), (1, 0));
        assert_eq!(hub.publish(&push(m, 3)), (0, 1));
        assert!(sub.lagged.load(Ordering::Acquire));
        assert_eq!(rx.try_recv().map(|p| p.cursor).ok(), Some(1));
        assert_eq!(hub.publish(&push(MailboxId([2; 32]), 1)), (0, 0), "not subscribed");
        hub.unsubscribe(7, [m]);
        assert_eq!((hub.publish(&push(m, 4)), hub.mailboxes()), ((0, 0), 0));
    }
}
